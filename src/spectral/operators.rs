//! Linear operators on graphs: adjacency, Bethe Hessian and (regularised) normalised Laplacian.

use crate::graph::Graph;
use rayon::prelude::*;

/// A symmetric linear operator `y = Op x` on vectors of length [`LinearOperator::dim`].
pub trait LinearOperator: Sync {
    /// Dimension `n` of the (square) operator.
    fn dim(&self) -> usize;
    /// `y <- Op x`.
    fn apply(&self, x: &[f64], y: &mut [f64]);
    /// `Y <- Op X` for a row-major block `X` of `b` columns (`n x b`). The default applies the
    /// operator column by column; graph operators override it with one pass over the matrix.
    fn apply_block(&self, x: &[f64], y: &mut [f64], b: usize) {
        let n = self.dim();
        let mut xc = vec![0.0; n];
        let mut yc = vec![0.0; n];
        for t in 0..b {
            for i in 0..n {
                xc[i] = x[i * b + t];
            }
            self.apply(&xc, &mut yc);
            for i in 0..n {
                y[i * b + t] = yc[i];
            }
        }
    }
    /// Fused filter step on row-major `n x b` blocks: `Z <- alpha Op X + beta X + gamma Z`
    /// (`gamma = 0` overwrites `Z`): one step of a polynomial filter or a plain product
    /// (`alpha = 1`, `beta = gamma = 0`) in one call. The default goes through
    /// [`LinearOperator::apply_block`]; graph operators override it with a single pass.
    fn step_block(&self, x: &[f64], z: &mut [f64], b: usize, alpha: f64, beta: f64, gamma: f64) {
        let mut y = vec![0.0; x.len()];
        self.apply_block(x, &mut y, b);
        combine(&y, x, z, alpha, beta, gamma);
    }
    /// [`LinearOperator::step_block`] in single precision. Sparse block products are bound by
    /// the memory traffic of the gathered rows, so `f32` blocks halve their cost; the
    /// eigensolver uses this for its filter and keeps Rayleigh–Ritz in `f64`.
    fn step_block_f32(
        &self,
        x: &[f32],
        z: &mut [f32],
        b: usize,
        alpha: f64,
        beta: f64,
        gamma: f64,
    ) {
        let x64: Vec<f64> = x.iter().map(|&v| v.to64()).collect();
        let mut y = vec![0.0; x.len()];
        self.apply_block(&x64, &mut y, b);
        let y: Vec<f32> = y.iter().map(|&v| v as f32).collect();
        combine(&y, x, z, alpha, beta, gamma);
    }
    /// `Y <- Op X` for an `f32` block with `f64` accumulation and results: the product of the
    /// `f32` values, exact up to `f64` rounding, at the gather cost of `f32` operands. The
    /// eigensolver checks its single-precision Ritz vectors with it. The default widens `X`.
    fn apply_block_widened(&self, x: &[f32], y: &mut [f64], b: usize) {
        let x64: Vec<f64> = x.par_iter().map(|&v| f64::from(v)).collect();
        self.apply_block(&x64, y, b);
    }
    /// The same operator with its rows and columns renumbered, `P Op P^T` where new index `k`
    /// is old index `order[k]` (`order` a permutation of `0..dim`), as an operator that owns
    /// its data; `None` when the operator does not support it (the default). The eigensolver
    /// uses it to put the nodes of a large graph in an order where the gathers of the sparse
    /// products stay in cache ([`EigenParams::renumber_from`](crate::spectral::EigenParams)).
    ///
    /// # Complexity
    /// For a graph operator: O(nnz) time and a copy of the index array (and of the weights,
    /// unless they are all 1).
    fn renumbered(&self, order: &[u32]) -> Option<Box<dyn LinearOperator>> {
        let _ = order;
        None
    }
    /// Dense matrix of the operator (column by column); for small problems and tests only.
    ///
    /// # Complexity
    /// O(n) applications, O(n^2) memory.
    fn to_dense(&self) -> nalgebra::DMatrix<f64> {
        let n = self.dim();
        let mut m = nalgebra::DMatrix::zeros(n, n);
        let mut e = vec![0.0; n];
        let mut y = vec![0.0; n];
        for j in 0..n {
            e[j] = 1.0;
            self.apply(&e, &mut y);
            e[j] = 0.0;
            m.column_mut(j).copy_from_slice(&y);
        }
        m
    }
}

/// A borrowed CSR matrix: row pointers, column indices and values (`val` is empty when the
/// products skip the weights, see [`sparse_rows`]).
#[derive(Clone, Copy)]
pub(crate) struct Rows<'a> {
    ptr: &'a [usize],
    idx: &'a [u32],
    val: &'a [f64],
}

impl<'a> Rows<'a> {
    /// The adjacency matrix of `g`.
    fn of(g: &'a Graph) -> Self {
        let adj = g.adjacency();
        Rows {
            ptr: adj.indptr().into_raw_storage(),
            idx: adj.indices(),
            val: adj.data(),
        }
    }
}

/// Rows per rayon task in the single-vector sparse loop.
const ROW_CHUNK: usize = 2048;
/// Rows per rayon task in the block loops.
const BLOCK_ROWS: usize = 256;

/// Scalars the block kernels run in (`f32` for filters, `f64` otherwise).
pub(crate) trait Real:
    Copy
    + Send
    + Sync
    + Default
    + std::ops::Add<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::AddAssign
{
    /// Conversion from `f64` (rounding for `f32`).
    fn of(v: f64) -> Self;
    /// Conversion to `f64` (exact).
    fn to64(self) -> f64;
}
impl Real for f64 {
    #[inline(always)]
    fn of(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn to64(self) -> f64 {
        self
    }
}
impl Real for f32 {
    #[inline(always)]
    fn of(v: f64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn to64(self) -> f64 {
        f64::from(self)
    }
}

/// Exact conversion of a block operand `X` into the accumulator type `T` (identity, or `f32`
/// widened to `f64`).
pub(crate) trait Widen<T>: Real {
    /// `self` as `T`.
    fn widen(self) -> T;
}
impl Widen<f32> for f32 {
    #[inline(always)]
    fn widen(self) -> f32 {
        self
    }
}
impl Widen<f64> for f64 {
    #[inline(always)]
    fn widen(self) -> f64 {
        self
    }
}
impl Widen<f64> for f32 {
    #[inline(always)]
    fn widen(self) -> f64 {
        f64::from(self)
    }
}

/// `z <- alpha y + beta x + gamma z` elementwise (`gamma = 0` overwrites).
fn combine<T: Real>(y: &[T], x: &[T], z: &mut [T], alpha: f64, beta: f64, gamma: f64) {
    let (a, bt, g) = (T::of(alpha), T::of(beta), T::of(gamma));
    z.par_iter_mut()
        .zip(y.par_iter().zip(x.par_iter()))
        .for_each(|(zi, (&yi, &xi))| {
            let base = a * yi + bt * xi;
            *zi = if gamma == 0.0 { base } else { base + g * *zi };
        });
}

/// `y_i = diag_i * x_i + scale * sum_j A_ij x_j`, parallel over rows.
#[inline]
fn diag_plus_scaled_adj(
    a: Rows<'_>,
    unit: bool,
    diag: impl Fn(usize) -> f64 + Sync,
    scale: f64,
    x: &[f64],
    y: &mut [f64],
) {
    let Rows { ptr, idx, val } = a;
    y.par_chunks_mut(ROW_CHUNK).enumerate().for_each(|(c, ys)| {
        let base = c * ROW_CHUNK;
        for (k, yi) in ys.iter_mut().enumerate() {
            let i = base + k;
            let mut s = 0.0;
            if unit {
                for &j in &idx[ptr[i]..ptr[i + 1]] {
                    s += x[j as usize];
                }
            } else {
                for p in ptr[i]..ptr[i + 1] {
                    s += val[p] * x[idx[p] as usize];
                }
            }
            *yi = diag(i) * x[i] + scale * s;
        }
    });
}

/// The block kernel: one pass over the sparse rows computing `acc = sum_j A_ij X_j` for the
/// `b` columns of row `i`, then `finish(i, acc, Z_i)`. Unit-weight graphs skip the weights
/// (the pass is bound by memory traffic, and the weights are 8 bytes per stored entry). Common
/// narrow widths get a fixed-size accumulator that stays in registers.
#[inline]
fn sparse_rows<X: Widen<T>, T: Real>(
    g: Rows<'_>,
    unit: bool,
    x: &[X],
    z: &mut [T],
    b: usize,
    finish: impl Fn(usize, &[T], &mut [T]) + Sync,
) {
    match b {
        1 => sparse_rows_fixed::<X, T, 1>(g, unit, x, z, finish),
        2 => sparse_rows_fixed::<X, T, 2>(g, unit, x, z, finish),
        4 => sparse_rows_fixed::<X, T, 4>(g, unit, x, z, finish),
        8 => sparse_rows_fixed::<X, T, 8>(g, unit, x, z, finish),
        16 => sparse_rows_fixed::<X, T, 16>(g, unit, x, z, finish),
        _ => sparse_rows_any(g, unit, x, z, b, finish),
    }
}

// Deliberate same-shape pair with `sparse_rows_any` (`cd src && duplicates`), see below.
/// [`sparse_rows`] for a compile-time width. Kept apart from [`sparse_rows_any`] on purpose: a
/// single body with a stack slice as accumulator measured 30-40% slower end to end (the array
/// value `[T; B]` is what keeps the accumulator in registers).
#[inline]
fn sparse_rows_fixed<X: Widen<T>, T: Real, const B: usize>(
    g: Rows<'_>,
    unit: bool,
    x: &[X],
    z: &mut [T],
    finish: impl Fn(usize, &[T], &mut [T]) + Sync,
) {
    z.par_chunks_mut(BLOCK_ROWS * B)
        .enumerate()
        .for_each(|(c, zs)| {
            #[cfg(target_arch = "x86_64")]
            if B >= 8 && std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU supports AVX-512F.
                unsafe { rows_fixed_avx512::<X, T, B>(g, unit, x, zs, c * BLOCK_ROWS, &finish) };
                return;
            }
            rows_fixed::<X, T, B>(g, unit, x, zs, c * BLOCK_ROWS, &finish);
        });
}

/// [`rows_fixed`] compiled with AVX-512F, for widths of 8 and more: an 8-wide `f64`
/// accumulator is then one register instead of four (the widened 8-column products of the
/// eigensolver's final residual check took about 35 ms each on the 200,000-node benchmark
/// graph, 2.5x a 4-column `f32` product; same operations in the same order, same results).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn rows_fixed_avx512<X: Widen<T>, T: Real, const B: usize>(
    g: Rows<'_>,
    unit: bool,
    x: &[X],
    zs: &mut [T],
    base: usize,
    finish: &(impl Fn(usize, &[T], &mut [T]) + Sync),
) {
    rows_fixed::<X, T, B>(g, unit, x, zs, base, finish);
}

/// The rows `base..` of [`sparse_rows_fixed`] whose results `zs` holds.
#[inline(always)]
fn rows_fixed<X: Widen<T>, T: Real, const B: usize>(
    g: Rows<'_>,
    unit: bool,
    x: &[X],
    zs: &mut [T],
    base: usize,
    finish: &(impl Fn(usize, &[T], &mut [T]) + Sync),
) {
    let Rows { ptr, idx, val } = g;
    for (k, zi) in zs.chunks_exact_mut(B).enumerate() {
        let i = base + k;
        let mut acc = [T::default(); B];
        let (s, e) = (ptr[i], ptr[i + 1]);
        if unit {
            for &j in &idx[s..e] {
                let j = j as usize;
                let xj: &[X; B] = x[j * B..(j + 1) * B].try_into().expect("row");
                for t in 0..B {
                    acc[t] += xj[t].widen();
                }
            }
        } else {
            for (&j, &w) in idx[s..e].iter().zip(&val[s..e]) {
                let (j, w) = (j as usize, T::of(w));
                let xj: &[X; B] = x[j * B..(j + 1) * B].try_into().expect("row");
                for t in 0..B {
                    acc[t] += w * xj[t].widen();
                }
            }
        }
        finish(i, &acc, zi);
    }
}

// Deliberate same-shape pair with `sparse_rows_fixed` (`cd src && duplicates`): the same
// row loop over a runtime width; see the measurement on `sparse_rows_fixed` for why the
// compile-time widths keep their own body.
#[inline]
fn sparse_rows_any<X: Widen<T>, T: Real>(
    g: Rows<'_>,
    unit: bool,
    x: &[X],
    z: &mut [T],
    b: usize,
    finish: impl Fn(usize, &[T], &mut [T]) + Sync,
) {
    let Rows { ptr, idx, val } = g;
    z.par_chunks_mut(BLOCK_ROWS * b)
        .enumerate()
        .for_each(|(c, zs)| {
            let base = c * BLOCK_ROWS;
            let mut acc = vec![T::default(); b];
            for (k, zi) in zs.chunks_exact_mut(b).enumerate() {
                let i = base + k;
                acc.fill(T::default());
                let (s, e) = (ptr[i], ptr[i + 1]);
                if unit {
                    for &j in &idx[s..e] {
                        let j = j as usize;
                        for (a, &v) in acc.iter_mut().zip(&x[j * b..(j + 1) * b]) {
                            *a += v.widen();
                        }
                    }
                } else {
                    for (&j, &w) in idx[s..e].iter().zip(&val[s..e]) {
                        let (j, w) = (j as usize, T::of(w));
                        for (a, &v) in acc.iter_mut().zip(&x[j * b..(j + 1) * b]) {
                            *a += w * v.widen();
                        }
                    }
                }
                finish(i, &acc, zi);
            }
        });
}

/// Fused `Z <- alpha (diag X + scale A X) + beta X + gamma Z` for row-major blocks.
#[allow(clippy::too_many_arguments)]
#[inline]
fn diag_adj_step<X: Widen<T>, T: Real>(
    g: Rows<'_>,
    unit: bool,
    diag: impl Fn(usize) -> f64 + Sync,
    scale: f64,
    x: &[X],
    z: &mut [T],
    b: usize,
    (alpha, beta, gamma): (f64, f64, f64),
) {
    let (sa, gm) = (T::of(alpha * scale), T::of(gamma));
    sparse_rows(g, unit, x, z, b, |i, acc, zi| {
        let dx = T::of(alpha * diag(i) + beta);
        let xi = &x[i * b..(i + 1) * b];
        if gamma == 0.0 {
            for ((o, &a), &v) in zi.iter_mut().zip(acc).zip(xi) {
                *o = sa * a + dx * v.widen();
            }
        } else {
            for ((o, &a), &v) in zi.iter_mut().zip(acc).zip(xi) {
                *o = sa * a + dx * v.widen() + gm * *o;
            }
        }
    });
}

/// Whether every stored weight of `g` is 1.
fn unit_weights(g: &Graph) -> bool {
    g.adjacency().data().par_iter().all(|&w| w == 1.0)
}

/// The block methods of a [`LinearOperator`] whose type has one generic fused kernel
/// `fn step<X, T>(&self, x: &[X], z: &mut [T], b, (alpha, beta, gamma))` for both precisions:
/// `apply_block`, `step_block` and `step_block_f32` all go through it.
macro_rules! block_steps_via_step {
    () => {
        fn apply_block(&self, x: &[f64], y: &mut [f64], b: usize) {
            self.step_block(x, y, b, 1.0, 0.0, 0.0);
        }
        fn step_block(
            &self,
            x: &[f64],
            z: &mut [f64],
            b: usize,
            alpha: f64,
            beta: f64,
            gamma: f64,
        ) {
            self.step(x, z, b, (alpha, beta, gamma));
        }
        fn step_block_f32(
            &self,
            x: &[f32],
            z: &mut [f32],
            b: usize,
            alpha: f64,
            beta: f64,
            gamma: f64,
        ) {
            self.step(x, z, b, (alpha, beta, gamma));
        }
    };
}

/// The adjacency matrix `A` of a graph.
pub struct Adjacency<'a>(pub &'a Graph);

impl LinearOperator for Adjacency<'_> {
    fn dim(&self) -> usize {
        self.0.n()
    }
    fn apply(&self, x: &[f64], y: &mut [f64]) {
        diag_plus_scaled_adj(Rows::of(self.0), false, |_| 0.0, 1.0, x, y);
    }
    block_steps_via_step!();
    fn apply_block_widened(&self, x: &[f32], y: &mut [f64], b: usize) {
        self.step(x, y, b, (1.0, 0.0, 0.0));
    }
}

impl Adjacency<'_> {
    /// `Z <- alpha A X + beta X + gamma Z` in one pass over the rows (the weights skipped
    /// when they are all 1).
    fn step<X: Widen<T>, T: Real>(&self, x: &[X], z: &mut [T], b: usize, coef: (f64, f64, f64)) {
        let unit = !self.0.is_weighted() && unit_weights(self.0);
        diag_adj_step(Rows::of(self.0), unit, |_| 0.0, 1.0, x, z, b, coef);
    }
}

/// The Bethe Hessian `H(r) = (r^2 - 1) I - r A + D` (Saade, Krzakala & Zdeborová, NIPS 2014).
///
/// Its negative eigenvalues count the communities detectable in a sparse graph, and the
/// eigenvectors of its smallest eigenvalues carry the community structure.
pub struct BetheHessian<'a> {
    adj: Adj<'a>,
    degrees: Vec<f64>,
    r: f64,
    unit: bool,
}

/// The adjacency matrix behind a [`BetheHessian`]: the graph's, or a renumbered copy
/// ([`LinearOperator::renumbered`]) that the operator owns (`val` empty for unit weights).
enum Adj<'a> {
    Graph(&'a Graph),
    Owned {
        ptr: Vec<usize>,
        idx: Vec<u32>,
        val: Vec<f64>,
    },
}

impl Adj<'_> {
    fn rows(&self) -> Rows<'_> {
        match self {
            Adj::Graph(g) => Rows::of(g),
            Adj::Owned { ptr, idx, val } => Rows { ptr, idx, val },
        }
    }
}

impl<'a> BetheHessian<'a> {
    /// `H(r)` of `graph` for a given `r` (weighted degrees when the graph is weighted).
    pub fn new(graph: &'a Graph, r: f64) -> Self {
        BetheHessian {
            degrees: graph.degrees(),
            unit: unit_weights(graph),
            adj: Adj::Graph(graph),
            r,
        }
    }
    /// `H(r)` with the standard choice `r = sqrt(sum d_i^2 / sum d_i - 1)` ([`bethe_hessian_r`]).
    pub fn standard(graph: &'a Graph) -> Self {
        let degrees = graph.degrees();
        let r = bethe_hessian_r(&degrees);
        BetheHessian {
            unit: unit_weights(graph),
            adj: Adj::Graph(graph),
            degrees,
            r,
        }
    }
    /// The `r` in use.
    pub fn r(&self) -> f64 {
        self.r
    }
    /// An upper bound on the largest eigenvalue (Gershgorin): `max_i (r^2 - 1 + d_i + r d_i)`.
    pub fn gershgorin_upper(&self) -> f64 {
        let r = self.r;
        self.degrees
            .iter()
            .fold(r * r - 1.0, |m, &d| m.max(r * r - 1.0 + d + r * d))
    }
}

/// `r = sqrt(sum d_i^2 / sum d_i - 1)`, the square root of the non-backtracking spectral radius
/// estimate (Saade et al. 2014); clamped to at least 1 (where `H(1) = D - A` is the Laplacian).
pub fn bethe_hessian_r(degrees: &[f64]) -> f64 {
    let s1: f64 = degrees.iter().sum();
    let s2: f64 = degrees.iter().map(|d| d * d).sum();
    if s1 <= 0.0 {
        return 1.0;
    }
    (s2 / s1 - 1.0).max(1.0).sqrt()
}

impl LinearOperator for BetheHessian<'_> {
    fn dim(&self) -> usize {
        self.degrees.len()
    }
    fn apply(&self, x: &[f64], y: &mut [f64]) {
        let c = self.r * self.r - 1.0;
        let d = &self.degrees;
        diag_plus_scaled_adj(self.adj.rows(), self.unit, |i| c + d[i], -self.r, x, y);
    }
    block_steps_via_step!();
    fn apply_block_widened(&self, x: &[f32], y: &mut [f64], b: usize) {
        self.step(x, y, b, (1.0, 0.0, 0.0));
    }
    fn renumbered(&self, order: &[u32]) -> Option<Box<dyn LinearOperator>> {
        let a = self.adj.rows();
        let n = self.dim();
        if order.len() != n {
            return None;
        }
        let mut new_of = vec![0u32; n];
        for (k, &i) in order.iter().enumerate() {
            new_of[i as usize] = k as u32;
        }
        let mut ptr = Vec::with_capacity(n + 1);
        ptr.push(0usize);
        for &i in order {
            let i = i as usize;
            ptr.push(ptr[ptr.len() - 1] + a.ptr[i + 1] - a.ptr[i]);
        }
        let nnz = ptr[n];
        let mut idx = vec![0u32; nnz];
        let mut val = vec![0.0f64; if self.unit { 0 } else { nnz }];
        // Row k of the copy is row order[k] with its columns renamed, in their old order
        // (sorting them measured no faster products and cost 25 ms on 10 M entries); parallel
        // over blocks of rows, each owning its contiguous range of the output.
        const ROWS: usize = 4096;
        let mut jobs = Vec::with_capacity(n.div_ceil(ROWS));
        let (mut rest_i, mut rest_v) = (&mut idx[..], &mut val[..]);
        for k0 in (0..n).step_by(ROWS) {
            let k1 = (k0 + ROWS).min(n);
            let len = ptr[k1] - ptr[k0];
            let (ci, ri) = rest_i.split_at_mut(len);
            let (cv, rv) = rest_v.split_at_mut(if self.unit { 0 } else { len });
            (rest_i, rest_v) = (ri, rv);
            jobs.push((k0, k1, ci, cv));
        }
        jobs.into_par_iter().for_each(|(k0, k1, ci, cv)| {
            let base = ptr[k0];
            for k in k0..k1 {
                let i = order[k] as usize;
                let (s, e) = (a.ptr[i], a.ptr[i + 1]);
                let (o0, o1) = (ptr[k] - base, ptr[k + 1] - base);
                for (o, &j) in ci[o0..o1].iter_mut().zip(&a.idx[s..e]) {
                    *o = new_of[j as usize];
                }
                if !self.unit {
                    cv[o0..o1].copy_from_slice(&a.val[s..e]);
                }
            }
        });
        Some(Box::new(BetheHessian {
            adj: Adj::Owned { ptr, idx, val },
            degrees: order.iter().map(|&i| self.degrees[i as usize]).collect(),
            r: self.r,
            unit: self.unit,
        }))
    }
}

impl BetheHessian<'_> {
    /// `Z <- alpha H X + beta X + gamma Z` in one pass over the rows.
    fn step<X: Widen<T>, T: Real>(&self, x: &[X], z: &mut [T], b: usize, coef: (f64, f64, f64)) {
        let c = self.r * self.r - 1.0;
        let d = &self.degrees;
        diag_adj_step(
            self.adj.rows(),
            self.unit,
            |i| c + d[i],
            -self.r,
            x,
            z,
            b,
            coef,
        );
    }
}

/// The (optionally regularised) normalised Laplacian
/// `L_tau = I - D_tau^{-1/2} A_tau D_tau^{-1/2}` with `A_tau = A + (tau dbar / n) 1 1^T` and
/// `D_tau` its degrees (Amini, Chen, Bickel & Levina, Ann. Statist. 2013; as used by the
/// top-down algorithm of Li et al., JASA 2022). `tau = 0` gives the plain normalised Laplacian
/// (isolated nodes then get a zero row).
pub struct NormalizedLaplacian<'a> {
    graph: &'a Graph,
    inv_sqrt_deg: Vec<f64>,
    /// The constant `tau dbar / n` added to every entry of `A`.
    reg: f64,
    /// Every stored weight is 1 (checked once here, not at every product: the check reads all
    /// the weights, as much memory traffic as the product itself).
    unit: bool,
}

impl<'a> NormalizedLaplacian<'a> {
    /// Build `L_tau` for `graph`.
    pub fn new(graph: &'a Graph, tau: f64) -> Self {
        let n = graph.n();
        let deg = graph.degrees();
        let dbar = if n > 0 {
            deg.iter().sum::<f64>() / n as f64
        } else {
            0.0
        };
        let reg = if n > 0 { tau * dbar / n as f64 } else { 0.0 };
        let inv_sqrt_deg = deg
            .iter()
            .map(|&d| {
                let dt = d + reg * n as f64;
                if dt > 0.0 {
                    1.0 / dt.sqrt()
                } else {
                    0.0
                }
            })
            .collect();
        NormalizedLaplacian {
            unit: !graph.is_weighted() && unit_weights(graph),
            graph,
            inv_sqrt_deg,
            reg,
        }
    }
}

impl LinearOperator for NormalizedLaplacian<'_> {
    fn dim(&self) -> usize {
        self.graph.n()
    }
    fn apply(&self, x: &[f64], y: &mut [f64]) {
        let s = &self.inv_sqrt_deg;
        let z: Vec<f64> = x.par_iter().zip(s.par_iter()).map(|(a, b)| a * b).collect();
        let tot: f64 = z.par_iter().sum::<f64>() * self.reg;
        // y = x - S (A z + reg * (1^T z) 1)
        diag_plus_scaled_adj(Rows::of(self.graph), self.unit, |_| 0.0, 1.0, &z, y);
        y.par_iter_mut()
            .zip(x.par_iter())
            .zip(s.par_iter())
            .for_each(|((yi, xi), si)| {
                *yi = xi - si * (*yi + tot);
            });
    }
    block_steps_via_step!();
}

impl NormalizedLaplacian<'_> {
    /// `Z <- alpha L X + beta X + gamma Z` with `L X = X - S (A S X + reg 1 1^T S X)`.
    fn step<T: Real + Widen<T>>(
        &self,
        x: &[T],
        z: &mut [T],
        b: usize,
        (alpha, beta, gamma): (f64, f64, f64),
    ) {
        let s = &self.inv_sqrt_deg;
        // U = S X, and the rank-one term reg * 1^T U per column.
        let mut u = vec![T::default(); x.len()];
        u.par_chunks_mut(b)
            .zip(x.par_chunks(b))
            .zip(s.par_iter())
            .for_each(|((ui, xi), &si)| {
                let si = T::of(si);
                ui.iter_mut().zip(xi).for_each(|(o, &v)| *o = si * v);
            });
        let mut tot = vec![0.0f64; b];
        for row in u.chunks_exact(b) {
            tot.iter_mut().zip(row).for_each(|(t, &v)| *t += v.to64());
        }
        tot.iter_mut().for_each(|t| *t *= self.reg);
        sparse_rows(Rows::of(self.graph), self.unit, &u, z, b, |i, acc, zi| {
            let si = s[i];
            let xi = &x[i * b..(i + 1) * b];
            for c in 0..b {
                let xv = xi[c].to64();
                let lx = xv - si * (acc[c].to64() + tot[c]);
                let base = alpha * lx + beta * xv;
                zi[c] = if gamma == 0.0 {
                    T::of(base)
                } else {
                    T::of(base + gamma * zi[c].to64())
                };
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Duplicates;

    fn path4() -> Graph {
        Graph::from_edges(4, &[(0, 1, 1.0), (1, 2, 2.0), (2, 3, 1.0)], Duplicates::Sum).unwrap()
    }

    /// A small BTSBM, and the same graph with weights 0.37-3.37.
    fn block_model_unit_and_weighted() -> (Graph, Graph) {
        let h = crate::hsbm::HsbmParams::btsbm_log(2, 60, vec![3.0, 8.0, 30.0], 3)
            .generate()
            .unwrap();
        let g = h.graph;
        let we: Vec<(u32, u32, f64)> = g
            .edges()
            .map(|(i, j, _)| (i as u32, j as u32, 0.37 + ((i * 31 + j) % 4) as f64))
            .collect();
        let wg = Graph::from_edges(g.n(), &we, Duplicates::Sum).unwrap();
        (g, wg)
    }

    /// A renumbered Bethe Hessian is `P H P^T`: its products of renumbered vectors are the
    /// renumbered products, in every kernel, with unit weights and with weights; operators
    /// without the support say so.
    #[test]
    fn renumbered_bethe_hessian_is_the_permuted_operator() {
        let (g, wg) = block_model_unit_and_weighted();
        let g = &g;
        let n = g.n();
        // A fixed scrambling permutation (new index k is old index order[k]).
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by_key(|&i| (i * 7919) % n as u32);
        assert!(Adjacency(g).renumbered(&order).is_none());
        assert!(BetheHessian::standard(g).renumbered(&order[1..]).is_none());
        for graph in [g, &wg] {
            let bh = BetheHessian::standard(graph);
            let pb = bh.renumbered(&order).expect("supported");
            assert_eq!(pb.dim(), n);
            for b in [1, 3, 4, 8] {
                let x: Vec<f64> = (0..n * b)
                    .map(|i| ((i * 37 % 23) as f64 - 11.0) / 7.0)
                    .collect();
                let px: Vec<f64> = order
                    .iter()
                    .flat_map(|&i| x[i as usize * b..(i as usize + 1) * b].to_vec())
                    .collect();
                let mut y = vec![0.0; n * b];
                bh.apply_block(&x, &mut y, b);
                let mut py = vec![0.0; n * b];
                pb.apply_block(&px, &mut py, b);
                let x32: Vec<f32> = px.iter().map(|&v| v as f32).collect();
                let mut y32 = vec![0.0f32; n * b];
                pb.step_block_f32(&x32, &mut y32, b, 1.0, 0.0, 0.0);
                let mut yw = vec![0.0; n * b];
                pb.apply_block_widened(&x32, &mut yw, b);
                let mut y1 = vec![0.0; n];
                if b == 1 {
                    pb.apply(&px, &mut y1);
                }
                for (k, &i) in order.iter().enumerate() {
                    for c in 0..b {
                        let want = y[i as usize * b + c];
                        let tol = 1e-12 * (1.0 + want.abs());
                        assert!((py[k * b + c] - want).abs() <= tol, "b {b}");
                        assert!((yw[k * b + c] - want).abs() <= 1e-5 * (1.0 + want.abs()));
                        assert!(
                            (f64::from(y32[k * b + c]) - want).abs() <= 1e-4 * (1.0 + want.abs())
                        );
                        if b == 1 {
                            assert!((y1[k] - want).abs() <= tol);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn widened_products_equal_f64_products_of_the_f32_values() {
        let (g, wg) = block_model_unit_and_weighted();
        let g = &g;
        for graph in [g, &wg] {
            let ops: [&dyn LinearOperator; 3] = [
                &Adjacency(graph),
                &BetheHessian::standard(graph),
                &NormalizedLaplacian::new(graph, 0.1),
            ];
            for op in ops {
                for b in [1, 3, 8, 16] {
                    let n = op.dim();
                    let x: Vec<f32> = (0..n * b)
                        .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
                        .collect();
                    let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
                    let mut want = vec![0.0; n * b];
                    op.apply_block(&x64, &mut want, b);
                    let mut got = vec![0.0; n * b];
                    op.apply_block_widened(&x, &mut got, b);
                    for (a, w) in got.iter().zip(&want) {
                        assert!((a - w).abs() <= 1e-12 * (1.0 + w.abs()), "{a} vs {w}");
                    }
                }
            }
        }
    }

    #[test]
    fn operators_match_their_dense_definitions() {
        let g = path4();
        let a = Adjacency(&g).to_dense();
        let d = nalgebra::DMatrix::from_diagonal(&nalgebra::DVector::from_vec(g.degrees()));
        let r = 1.7;
        let h = BetheHessian::new(&g, r).to_dense();
        let want = nalgebra::DMatrix::identity(4, 4) * (r * r - 1.0) - &a * r + &d;
        assert!((h - want).norm() < 1e-12);
        let tau = 0.1;
        let l = NormalizedLaplacian::new(&g, tau).to_dense();
        let dbar = g.degrees().iter().sum::<f64>() / 4.0;
        let at = a.map(|x| x + tau * dbar / 4.0);
        let dt: Vec<f64> = (0..4).map(|i| at.row(i).sum()).collect();
        let s = nalgebra::DMatrix::from_diagonal(&nalgebra::DVector::from_iterator(
            4,
            dt.iter().map(|x| 1.0 / x.sqrt()),
        ));
        let want = nalgebra::DMatrix::identity(4, 4) - &s * at * &s;
        assert!((l - want).norm() < 1e-12);
    }

    #[test]
    fn block_apply_equals_column_apply() {
        let h = crate::hsbm::HsbmParams::btsbm_log(2, 40, vec![2.0, 5.0, 20.0], 3)
            .generate()
            .unwrap();
        let g = &h.graph;
        let n = g.n();
        let b = 5;
        let x: Vec<f64> = (0..n * b).map(|i| ((i * 7919) % 13) as f64 - 6.0).collect();
        let ops: Vec<Box<dyn LinearOperator>> = vec![
            Box::new(Adjacency(g)),
            Box::new(BetheHessian::standard(g)),
            Box::new(NormalizedLaplacian::new(g, 0.1)),
        ];
        for op in &ops {
            let mut fast = vec![0.0; n * b];
            op.apply_block(&x, &mut fast, b);
            let mut xc = vec![0.0; n];
            let mut yc = vec![0.0; n];
            for t in 0..b {
                (0..n).for_each(|i| xc[i] = x[i * b + t]);
                op.apply(&xc, &mut yc);
                for i in 0..n {
                    assert!((fast[i * b + t] - yc[i]).abs() < 1e-12 * (1.0 + yc[i].abs()));
                }
            }
        }
    }

    #[test]
    fn fused_steps_match_their_definition_in_both_precisions() {
        let h = crate::hsbm::HsbmParams::btsbm_log(2, 40, vec![2.0, 5.0, 20.0], 5)
            .generate()
            .unwrap();
        let unit = h.graph.clone();
        // A weighted copy: weights 1..4 on the same edges.
        let we: Vec<(u32, u32, f64)> = unit
            .edges()
            .map(|(i, j, _)| (i as u32, j as u32, 1.0 + ((i * 31 + j) % 4) as f64))
            .collect();
        let weighted = Graph::from_edges(unit.n(), &we, Duplicates::Sum).unwrap();
        let (alpha, beta, gamma) = (0.7, -1.3, 0.4);
        for g in [&unit, &weighted] {
            let n = g.n();
            let b = 6;
            let x: Vec<f64> = (0..n * b).map(|i| ((i * 7919) % 13) as f64 - 6.0).collect();
            let z0: Vec<f64> = (0..n * b)
                .map(|i| ((i * 104729) % 11) as f64 - 5.0)
                .collect();
            let ops: Vec<Box<dyn LinearOperator>> = vec![
                Box::new(Adjacency(g)),
                Box::new(BetheHessian::standard(g)),
                Box::new(NormalizedLaplacian::new(g, 0.1)),
            ];
            for op in &ops {
                let mut ax = vec![0.0; n * b];
                op.apply_block(&x, &mut ax, b);
                let want: Vec<f64> = (0..n * b)
                    .map(|i| alpha * ax[i] + beta * x[i] + gamma * z0[i])
                    .collect();
                let mut z = z0.clone();
                op.step_block(&x, &mut z, b, alpha, beta, gamma);
                let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
                let mut z32: Vec<f32> = z0.iter().map(|&v| v as f32).collect();
                op.step_block_f32(&x32, &mut z32, b, alpha, beta, gamma);
                // gamma = 0 overwrites whatever is in z (even NaN).
                let mut zn = vec![f64::NAN; n * b];
                op.step_block(&x, &mut zn, b, 1.0, 0.0, 0.0);
                let size = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                for i in 0..n * b {
                    assert!((z[i] - want[i]).abs() < 1e-12 * size);
                    assert!((f64::from(z32[i]) - want[i]).abs() < 1e-5 * size);
                    assert!((zn[i] - ax[i]).abs() < 1e-12 * size);
                }
            }
        }
    }

    #[test]
    fn bethe_r_is_the_degree_ratio() {
        assert!((bethe_hessian_r(&[1.0, 2.0, 3.0]) - (14.0f64 / 6.0 - 1.0).sqrt()).abs() < 1e-15);
        assert_eq!(bethe_hessian_r(&[0.0, 0.0]), 1.0);
        assert_eq!(bethe_hessian_r(&[1.0, 1.0]), 1.0);
    }
}
