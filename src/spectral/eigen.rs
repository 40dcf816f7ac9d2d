//! Partial symmetric eigensolver for the few smallest eigenpairs of a [`LinearOperator`].
//!
//! Large problems: an in-house block Krylov–Schur method with thick restart (Stewart, SIAM J.
//! Matrix Anal. Appl. 23, 2001; block form as in Zhou & Saad, Numer. Algorithms 47, 2008). A
//! Krylov method needs far fewer operator applications than filtered subspace iteration (on a
//! 200,000-node Bethe Hessian with K = 32: about 300 column products against about 2,900), and
//! a small block (2–4 columns) makes each sparse pass serve several columns. Block products run
//! in `f32` by default ([`BlockPrecision`]); everything else is `f64`. Small problems: dense
//! decomposition (faer). Residuals `||Op v - lambda v||` are recomputed in `f64` and returned;
//! fewer converged pairs than requested is reported, not hidden.

use super::operators::LinearOperator;
use crate::util::rng_for;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// Parameters of [`smallest_eigenpairs`].
#[derive(Debug, Clone)]
pub struct EigenParams {
    /// Residual tolerance relative to the spectral scale `max |lambda|` (default 1e-6: ample for
    /// clustering the eigenvectors; tighten it for other uses).
    pub tol: f64,
    /// Precision of the sparse block products on the iterative path (default
    /// [`BlockPrecision::Single`]; tolerances below 1e-6 always use `f64`).
    pub precision: BlockPrecision,
    /// Maximum restart cycles of the iterative path.
    pub max_restarts: usize,
    /// Problems with at most this many rows (or with `n <= 4k + 64`) are solved densely.
    pub dense_below: usize,
    /// Seed of the random start vector.
    pub seed: u64,
}

impl Default for EigenParams {
    fn default() -> Self {
        EigenParams {
            tol: 1e-6,
            precision: BlockPrecision::Single,
            max_restarts: 300,
            dense_below: 400,
            seed: 0,
        }
    }
}

/// Arithmetic of the sparse block products `Op X` (a dominant cost of the iterative solver).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockPrecision {
    /// `f32` operands and results in the sparse products, `f64` everywhere else (basis,
    /// orthogonalisation, projected problem). The products are bound by the memory traffic of
    /// the gathered rows, so this is markedly cheaper; the relation `Op V = V T + Q B` then holds
    /// to about 1e-7 relative, enough for tolerances down to 1e-6 (clustering needs far less).
    /// Residuals are always recomputed in `f64`, and if they miss the tolerance the solver
    /// restarts in `f64` from the Ritz vectors it has.
    Single,
    /// `f64` throughout.
    Double,
}

/// Result of a partial eigendecomposition.
#[derive(Debug, Clone)]
pub struct EigenResult {
    /// Eigenvalues in ascending order (only the converged ones).
    pub values: Vec<f64>,
    /// Eigenvectors, column-major `n x values.len()`, unit norm.
    pub vectors: Vec<f64>,
    /// Number of pairs requested.
    pub requested: usize,
    /// Largest residual `||Op v - lambda v||` over the returned pairs.
    pub max_residual: f64,
    /// Whether the dense path was used.
    pub dense: bool,
    /// Operator applications spent (iterative path).
    pub matvecs: usize,
}

impl EigenResult {
    /// Keep only the first `k` pairs.
    pub fn truncate(&mut self, k: usize) {
        let n = self.vectors.len() / self.values.len().max(1);
        self.values.truncate(k);
        self.vectors.truncate(n * self.values.len());
        self.requested = self.requested.min(k);
    }
    /// Number of converged pairs returned.
    pub fn converged(&self) -> usize {
        self.values.len()
    }
    /// Eigenvector `j` as a slice.
    pub fn vector(&self, j: usize) -> &[f64] {
        let n = self.vectors.len() / self.values.len().max(1);
        &self.vectors[j * n..(j + 1) * n]
    }
}

fn random_unit(n: usize, seed: u64, stream: u64) -> Vec<f64> {
    let mut rng = rng_for(seed, stream);
    let mut v: Vec<f64> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

fn dot(x: &[f64], y: &[f64]) -> f64 {
    x.par_iter().zip(y.par_iter()).map(|(a, b)| a * b).sum()
}

/// Extreme Ritz values `(min, max)` of `op` after `steps` Lanczos steps with full
/// reorthogonalisation. Both approach the true extremes from inside the spectrum.
///
/// # Complexity
/// `steps` operator applications and O(n steps) memory.
pub fn extreme_ritz_values(op: &dyn LinearOperator, steps: usize, seed: u64) -> (f64, f64) {
    let n = op.dim();
    let m = steps.min(n).max(1);
    let mut basis: Vec<Vec<f64>> = Vec::with_capacity(m);
    let mut alpha = Vec::with_capacity(m);
    let mut beta: Vec<f64> = Vec::with_capacity(m);
    let mut v = random_unit(n, seed, 0xE16);
    let mut w = vec![0.0; n];
    for _ in 0..m {
        op.apply(&v, &mut w);
        let a = dot(&w, &v);
        alpha.push(a);
        // Full reorthogonalisation (twice is enough).
        basis.push(v.clone());
        for _ in 0..2 {
            for b in &basis {
                let c = dot(&w, b);
                w.par_iter_mut()
                    .zip(b.par_iter())
                    .for_each(|(x, y)| *x -= c * y);
            }
        }
        let nb = dot(&w, &w).sqrt();
        if nb < 1e-12 * a.abs().max(1.0) || basis.len() == m {
            break;
        }
        beta.push(nb);
        v.iter_mut().zip(&w).for_each(|(x, y)| *x = y / nb);
    }
    let k = alpha.len();
    let mut t = nalgebra::DMatrix::zeros(k, k);
    for i in 0..k {
        t[(i, i)] = alpha[i];
        if i + 1 < k {
            t[(i, i + 1)] = beta[i];
            t[(i + 1, i)] = beta[i];
        }
    }
    let ev = t.symmetric_eigenvalues();
    (ev.min(), ev.max())
}

/// Largest eigenvalue estimate of a symmetric operator (40 Lanczos steps).
pub fn largest_eigenvalue(op: &dyn LinearOperator, seed: u64) -> f64 {
    extreme_ritz_values(op, 40, seed).1
}

/// The `k` smallest eigenpairs of a symmetric operator.
///
/// # Returns
/// Eigenvalues ascending with unit eigenvectors; fewer than `k` pairs if the iterative solver did
/// not converge them all within `max_restarts` (see [`EigenResult::converged`]).
///
/// # Complexity
/// Dense path O(n^3). Iterative path (block Krylov–Schur, see the module docs): each step costs
/// one sparse pass for a block of `b = clamp(k/8, 2, 4)` columns plus O(n m b) for Gram–Schmidt
/// against the basis of `m <= max(2k, k + 4b)` vectors; O(n m) memory. The number of steps
/// depends on the spectrum (about 75 for K = 32 on a 200,000-node Bethe Hessian).
pub fn smallest_eigenpairs(op: &dyn LinearOperator, k: usize, params: &EigenParams) -> EigenResult {
    let n = op.dim();
    let k = k.min(n);
    if n == 0 || k == 0 {
        return EigenResult {
            values: vec![],
            vectors: vec![],
            requested: k,
            max_residual: 0.0,
            dense: true,
            matvecs: 0,
        };
    }
    // Dense when small, or when many pairs are wanted from a moderately sized operator (clustered
    // spectra make Krylov methods slow there).
    if n <= params.dense_below.max(4 * k + 64) || (k >= 16 && n <= 3000) {
        return dense_smallest(op, k);
    }
    krylov_schur(op, k, params)
}

/// Row-major `n x b` block times `b x c` small matrix.
fn block_times(x: &[f64], n: usize, b: usize, q: &Mat<f64>) -> Vec<f64> {
    let c = q.ncols();
    let mut out = vec![0.0; n * c];
    matmul(
        MatMut::from_row_major_slice_mut(&mut out, n, c),
        Accum::Replace,
        MatRef::from_row_major_slice(x, n, b),
        q.as_ref(),
        1.0,
        Par::rayon(0),
    );
    out
}

/// `M <- M Q` in place for a row-major `n x b` block and a `b x b` matrix `Q` (row by row:
/// each output row depends only on the same input row, so one small buffer per chunk suffices).
fn rotate_in_place(m: &mut [f64], b: usize, q: MatRef<'_, f64>) {
    const ROWS: usize = 1024;
    m.par_chunks_mut(ROWS * b).for_each(|chunk| {
        let rows = chunk.len() / b;
        let tmp = chunk.to_vec();
        matmul(
            MatMut::from_row_major_slice_mut(chunk, rows, b),
            Accum::Replace,
            MatRef::from_row_major_slice(&tmp, rows, b),
            q,
            1.0,
            Par::Seq,
        );
    });
}

/// `X^T Y` for row-major `n x b` blocks.
fn gram(x: &[f64], y: &[f64], n: usize, b: usize) -> Mat<f64> {
    let mut g = Mat::<f64>::zeros(b, b);
    matmul(
        g.as_mut(),
        Accum::Replace,
        MatRef::from_row_major_slice(x, n, b).transpose(),
        MatRef::from_row_major_slice(y, n, b),
        1.0,
        Par::rayon(0),
    );
    g
}

/// Orthonormalise the columns of a row-major block by SVQB (Stathopoulos & Wu 2002): with
/// `G = Y^T Y = V L V^T`, return `Y V L^{-1/2}` keeping only directions with
/// `L > 1e-14 max(L)` (so a rank-deficient block loses columns instead of breaking down).
/// Works in place unless columns are dropped.
fn svqb(y: Vec<f64>, n: usize, b: usize) -> (Vec<f64>, usize) {
    // Two passes (like CholeskyQR2): the second removes the loss of orthogonality that the
    // Gram matrix's squared condition number causes in the first.
    let (z, b1) = svqb_once(y, n, b);
    svqb_once(z, n, b1)
}

fn svqb_once(mut y: Vec<f64>, n: usize, b: usize) -> (Vec<f64>, usize) {
    // Scale columns to unit norm first (SVQB's D^{-1/2} G D^{-1/2}).
    let norms = y
        .par_chunks(b)
        .fold(
            || vec![0.0f64; b],
            |mut acc, row| {
                acc.iter_mut().zip(row).for_each(|(s, v)| *s += v * v);
                acc
            },
        )
        .reduce(
            || vec![0.0f64; b],
            |mut a, c| {
                a.iter_mut().zip(&c).for_each(|(s, v)| *s += v);
                a
            },
        );
    let inv: Vec<f64> = norms
        .iter()
        .map(|&s| if s > 0.0 { 1.0 / s.sqrt() } else { 0.0 })
        .collect();
    y.par_chunks_mut(b)
        .for_each(|row| row.iter_mut().zip(&inv).for_each(|(v, s)| *v *= s));
    let g = gram(&y, &y, n, b);
    let g = Mat::from_fn(b, b, |i, j| 0.5 * (g[(i, j)] + g[(j, i)]));
    let Ok(evd) = g.self_adjoint_eigen(faer::Side::Lower) else {
        return (y, b);
    };
    let (u, l) = (evd.U(), evd.S());
    let lmax = (0..b).map(|j| l[j]).fold(0.0f64, f64::max);
    let keep: Vec<usize> = (0..b)
        .filter(|&j| l[j] > 1e-14 * lmax && l[j] > 0.0)
        .collect();
    let t = Mat::from_fn(b, keep.len(), |i, c| u[(i, keep[c])] / l[keep[c]].sqrt());
    if keep.len() == b {
        rotate_in_place(&mut y, b, t.as_ref());
        (y, b)
    } else {
        let out = block_times(&y, n, b, &t);
        (out, keep.len())
    }
}

/// `Op X` for a row-major `n x b` block, in column panels sized for the cache (the gathered
/// rows of one panel should stay cache resident): 16 columns in `f32`, 8 in `f64`.
fn apply_panels(op: &dyn LinearOperator, x: &[f64], b: usize, single: bool) -> Vec<f64> {
    let pw = if single { 16 } else { 8 };
    if b <= pw {
        return product(op, x, b, single);
    }
    let n = op.dim();
    let mut y = vec![0.0; n * b];
    for c0 in (0..b).step_by(pw) {
        let w = pw.min(b - c0);
        let mut panel = vec![0.0; n * w];
        panel
            .par_chunks_mut(w)
            .zip(x.par_chunks(b))
            .for_each(|(o, row)| o.copy_from_slice(&row[c0..c0 + w]));
        let out = product(op, &panel, w, single);
        y.par_chunks_mut(b)
            .zip(out.par_chunks(w))
            .for_each(|(row, o)| row[c0..c0 + w].copy_from_slice(o));
    }
    y
}

/// `Op X` for a compact row-major `n x b` block, through `f32` when `single`.
fn product(op: &dyn LinearOperator, x: &[f64], b: usize, single: bool) -> Vec<f64> {
    if single {
        let x32: Vec<f32> = x.par_iter().map(|&v| v as f32).collect();
        let mut y32 = vec![0.0f32; x.len()];
        op.step_block_f32(&x32, &mut y32, b, 1.0, 0.0, 0.0);
        y32.into_par_iter().map(f64::from).collect()
    } else {
        let mut y = vec![0.0; x.len()];
        op.step_block(x, &mut y, b, 1.0, 0.0, 0.0);
        y
    }
}

/// Squared column norms of a row-major `n x b` block.
fn col_norms2(y: &[f64], b: usize) -> Vec<f64> {
    y.par_chunks(4096 * b)
        .map(|ys| {
            let mut acc = vec![0.0f64; b];
            for row in ys.chunks_exact(b) {
                acc.iter_mut().zip(row).for_each(|(s, v)| *s += v * v);
            }
            acc
        })
        .reduce(
            || vec![0.0f64; b],
            |mut a, c| {
                a.iter_mut().zip(&c).for_each(|(s, v)| *s += v);
                a
            },
        )
}

/// Orthogonalise `y` (`n x b`, row-major) against the first `m` columns of a row-major `V`
/// with row stride `stride`: `y <- y - V (V^T y)`, and return the coefficients `V^T y`.
///
/// Classical Gram–Schmidt with a second pass unless the first kept at least `min_ratio` of every
/// column's norm (the Daniel–Gragg–Kaufman–Stewart test; `1/sqrt(2)` is the classic choice, and
/// `1.0` forces the second pass). Tall and skinny and bound by reading `V`, so the products run
/// on row chunks (one sequential faer kernel per chunk, partial `V^T y` summed) instead of one
/// parallel gemm with its synchronisation, and the second pass's coefficients are computed in
/// the same sweep as the first pass's update, while the chunk of `V` is still in cache (three
/// reads of `V` instead of four).
fn orthogonalise_against(
    y: &mut [f64],
    v: &[f64],
    n: usize,
    b: usize,
    m: usize,
    stride: usize,
    min_ratio: f64,
) -> Mat<f64> {
    let mut total = Mat::<f64>::zeros(m, b);
    if m == 0 || b == 0 {
        return total;
    }
    const ROWS: usize = 2048;
    let before = col_norms2(y, b);
    let vs_all = &v[..(n - 1) * stride + m];
    let zero = || (Mat::<f64>::zeros(m, b), vec![0.0f64; b]);
    let add = |(a, an): (Mat<f64>, Vec<f64>), (c, cn): (Mat<f64>, Vec<f64>)| {
        (a + c, an.iter().zip(&cn).map(|(x, y)| x + y).collect())
    };
    // Pass 1: C1 = V^T y, by row chunks.
    let (c1, _) = y
        .par_chunks(ROWS * b)
        .zip(vs_all.par_chunks(ROWS * stride))
        .map(|(ys, vs)| {
            let rows = ys.len() / b;
            let mut c = Mat::<f64>::zeros(m, b);
            matmul(
                c.as_mut(),
                Accum::Replace,
                MatRef::from_row_major_slice_with_stride(vs, rows, m, stride).transpose(),
                MatRef::from_row_major_slice(ys, rows, b),
                1.0,
                Par::Seq,
            );
            (c, Vec::new())
        })
        .reduce(zero, |a, c| (a.0 + c.0, Vec::new()));
    // Pass 2: y -= V C1, and on the same (cache-resident) rows C2 = V^T y and the new norms.
    let (c2, after) = y
        .par_chunks_mut(ROWS * b)
        .zip(vs_all.par_chunks(ROWS * stride))
        .map(|(ys, vs)| {
            let rows = ys.len() / b;
            let vm = MatRef::from_row_major_slice_with_stride(vs, rows, m, stride);
            matmul(
                MatMut::from_row_major_slice_mut(ys, rows, b),
                Accum::Add,
                vm,
                c1.as_ref(),
                -1.0,
                Par::Seq,
            );
            let mut c = Mat::<f64>::zeros(m, b);
            matmul(
                c.as_mut(),
                Accum::Replace,
                vm.transpose(),
                MatRef::from_row_major_slice(ys, rows, b),
                1.0,
                Par::Seq,
            );
            let mut nr = vec![0.0f64; b];
            for row in ys.chunks_exact(b) {
                nr.iter_mut().zip(row).for_each(|(s, v)| *s += v * v);
            }
            (c, nr)
        })
        .reduce(zero, add);
    total += &c1;
    let r2 = min_ratio * min_ratio;
    if after.iter().zip(&before).all(|(a, b0)| *a >= r2 * b0) {
        return total;
    }
    // Pass 3 (second Gram–Schmidt pass): y -= V C2.
    y.par_chunks_mut(ROWS * b)
        .zip(vs_all.par_chunks(ROWS * stride))
        .for_each(|(ys, vs)| {
            let rows = ys.len() / b;
            matmul(
                MatMut::from_row_major_slice_mut(ys, rows, b),
                Accum::Add,
                MatRef::from_row_major_slice_with_stride(vs, rows, m, stride),
                c2.as_ref(),
                -1.0,
                Par::Seq,
            );
        });
    total += &c2;
    total
}

/// Orthonormal basis `Q` (`n x b`) of the row-major block `w`, orthogonal to the first `m`
/// columns of `v`, with `R = Q^T w`. Directions lost to rank deficiency (an invariant subspace
/// was found) are replaced by random ones, which keeps the block size.
#[allow(clippy::too_many_arguments)]
fn orthonormal_block(
    w: &[f64],
    n: usize,
    b: usize,
    v: &[f64],
    m: usize,
    stride: usize,
    rng: &mut crate::util::Rng,
) -> (Vec<f64>, Mat<f64>) {
    let (mut q, mut r) = svqb(w.to_vec(), n, b);
    while r < b {
        let extra = b - r;
        let mut rand: Vec<f64> = (0..n * extra)
            .map(|_| StandardNormal.sample(&mut *rng))
            .collect();
        orthogonalise_against(&mut rand, v, n, extra, m, stride, 1.0);
        orthogonalise_against(&mut rand, &q, n, extra, r, r, 1.0);
        let mut merged = vec![0.0; n * (r + extra)];
        merged
            .par_chunks_mut(r + extra)
            .enumerate()
            .for_each(|(i, row)| {
                row[..r].copy_from_slice(&q[i * r..(i + 1) * r]);
                row[r..].copy_from_slice(&rand[i * extra..(i + 1) * extra]);
            });
        let o = svqb(merged, n, r + extra);
        q = o.0;
        r = o.1;
    }
    let rq = gram(&q, w, n, b);
    (q, rq)
}

/// Block Krylov–Schur with thick restart for the `k` smallest eigenpairs of a symmetric
/// operator (Stewart, SIAM J. Matrix Anal. Appl. 2001; Zhou & Saad, Numer. Algorithms 2008, for
/// the block form). The basis `V` grows by blocks `Q` of `p` columns with full (twice classical
/// Gram–Schmidt) orthogonalisation, keeping `Op V = V T + Q B`; Ritz pairs of `T` have
/// residual norms `||B y||`. When the basis is full it is compressed to the `l` lowest Ritz
/// vectors (`T` becomes diagonal). The block products dominate the cost and run in column
/// panels, in `f32` when [`EigenParams::precision`] allows; the returned residuals are recomputed
/// in `f64`, and if single precision missed the tolerance the solver restarts in `f64` from the
/// Ritz vectors it has.
///
/// # Complexity
/// Time `O(matvecs * nnz / panel + steps * n * m_max * p)`, memory `O(n * m_max)` with
/// `m_max` about `3k`.
fn krylov_schur(op: &dyn LinearOperator, k: usize, params: &EigenParams) -> EigenResult {
    let n = op.dim();
    let mut single = params.precision == BlockPrecision::Single && params.tol >= SINGLE_TOL_FLOOR;
    let mut rng = rng_for(params.seed, 0xC4EB);
    let mut start: Option<Vec<f64>> = None;
    let mut matvecs = 0usize;
    loop {
        let out = krylov_schur_run(op, k, params, single, start.take(), &mut rng, &mut matvecs);
        let (values, vectors, est_ok) = out;
        // True residuals in f64 (one pass over the matrix per 8 vectors).
        let kk = values.len();
        let mut rowmajor = vec![0.0; n * kk];
        for (j, col) in vectors.chunks_exact(n).enumerate() {
            for i in 0..n {
                rowmajor[i * kk + j] = col[i];
            }
        }
        let av = apply_panels(op, &rowmajor, kk, false);
        let res = column_residuals(&rowmajor, &av, &values, n, kk);
        let scale = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let tol = params.tol * est_ok.1.max(scale);
        let good = res.iter().take_while(|&&r| r <= tol).count();
        if single && est_ok.0 && good < kk {
            // Single precision could not deliver the tolerance: restart in f64 from a random
            // mix of the Ritz vectors (their span is nearly right already).
            single = false;
            let p = block_size(k);
            let mix: Vec<f64> = (0..kk * p)
                .map(|_| StandardNormal.sample(&mut rng))
                .collect();
            let mut s = vec![0.0; n * p];
            matmul(
                MatMut::from_row_major_slice_mut(&mut s, n, p),
                Accum::Replace,
                MatRef::from_row_major_slice(&rowmajor, n, kk),
                MatRef::from_row_major_slice(&mix, kk, p),
                1.0,
                Par::rayon(0),
            );
            start = Some(s);
            continue;
        }
        let keep = if est_ok.0 { kk } else { good };
        let max_residual = res[..keep].iter().fold(0.0f64, |m, &r| m.max(r));
        return EigenResult {
            values: values[..keep].to_vec(),
            vectors: vectors[..n * keep].to_vec(),
            requested: k,
            max_residual,
            dense: false,
            matvecs,
        };
    }
}

/// Block size of the Krylov–Schur iteration for `k` wanted pairs.
fn block_size(k: usize) -> usize {
    (k / 8).clamp(2, 4)
}

/// One Krylov–Schur run. Returns the `k` lowest Ritz values and vectors (column-major) and
/// `(converged by the estimate, spectral scale)`.
#[allow(clippy::type_complexity)]
fn krylov_schur_run(
    op: &dyn LinearOperator,
    k: usize,
    params: &EigenParams,
    single: bool,
    start: Option<Vec<f64>>,
    rng: &mut crate::util::Rng,
    matvecs: &mut usize,
) -> (Vec<f64>, Vec<f64>, (bool, f64)) {
    let n = op.dim();
    let p = block_size(k);
    let round = |x: usize| x.div_ceil(p) * p;
    let m_max = round((2 * k).max(k + 4 * p)).min(n - n % p);
    let l_keep = round(k + (m_max - k) * 3 / 8).min(m_max - p).max(k);
    let cap = m_max;
    let mut v = vec![0.0; n * cap];
    let mut m = 0usize;
    let mut t = Mat::<f64>::zeros(0, 0);
    let start = start.unwrap_or_else(|| {
        (0..n * p)
            .map(|_| StandardNormal.sample(&mut *rng))
            .collect()
    });
    let (mut q, _) = orthonormal_block(&start, n, p, &v, 0, cap, rng);
    let mut scale = 0.0f64;
    let mut theta: Vec<f64> = Vec::new();
    let mut y = Mat::<f64>::zeros(0, 0);
    let mut converged = false;
    let max_steps = params.max_restarts.max(1) * (m_max / p).max(1);
    for _step in 0..max_steps {
        // Append Q to the basis and expand: W = Op Q, orthogonalised against V.
        v.par_chunks_mut(cap)
            .zip(q.par_chunks(p))
            .for_each(|(row, qr)| row[m..m + p].copy_from_slice(qr));
        m += p;
        let mut w = apply_panels(op, &q, p, single);
        *matvecs += p;
        // Twice is enough (Kahan, Parlett); the second pass is skipped only where the first kept
        // more than 1/sqrt(2) of every column (DGKS), which keeps V orthonormal to working
        // precision, as the thick restart needs.
        let min_ratio = std::f64::consts::FRAC_1_SQRT_2;
        let c = orthogonalise_against(&mut w, &v, n, p, m, cap, min_ratio);
        let mut tn = Mat::<f64>::zeros(m, m);
        for i in 0..m - p {
            for j in 0..m - p {
                tn[(i, j)] = t[(i, j)];
            }
        }
        for i in 0..m {
            for j in 0..p {
                tn[(i, m - p + j)] = c[(i, j)];
                tn[(m - p + j, i)] = c[(i, j)];
            }
        }
        // Symmetrise the new diagonal block.
        for i in 0..p {
            for j in 0..i {
                let a = 0.5 * (tn[(m - p + i, m - p + j)] + tn[(m - p + j, m - p + i)]);
                tn[(m - p + i, m - p + j)] = a;
                tn[(m - p + j, m - p + i)] = a;
            }
        }
        t = tn;
        let (qn, r) = orthonormal_block(&w, n, p, &v, m, cap, rng);
        drop(w);
        q = qn;
        // Ritz pairs of T; residual of y_i is ||R y_i[last block]||.
        let evd = t
            .self_adjoint_eigen(faer::Side::Lower)
            .expect("small symmetric eigenproblem");
        theta = (0..m).map(|j| evd.S()[j]).collect();
        y = evd.U().to_owned();
        scale = theta.iter().fold(scale, |s, v| s.max(v.abs()));
        let tol = params.tol * scale;
        // B = [0 | R] in the current basis, so B y = R y[m-p..m].
        let res_of = |j: usize| -> f64 {
            let mut s2 = 0.0;
            for a in 0..p {
                let mut s = 0.0;
                for bb in 0..p {
                    s += r[(a, bb)] * y[(m - p + bb, j)];
                }
                s2 += s * s;
            }
            s2.sqrt()
        };
        if m >= k && (0..k).all(|j| res_of(j) <= tol) {
            converged = true;
            break;
        }
        if m + p > m_max {
            // Thick restart: keep the l lowest Ritz vectors, T = diag(theta), B = R Y[last, :l].
            let l = l_keep;
            let yl = y.as_ref().subcols(0, l);
            const ROWS: usize = 1024;
            v.par_chunks_mut(ROWS * cap).for_each(|chunk| {
                let rows = chunk.len() / cap;
                let mut tmp = vec![0.0; rows * m];
                for (i, row) in chunk.chunks_exact(cap).enumerate() {
                    tmp[i * m..(i + 1) * m].copy_from_slice(&row[..m]);
                }
                // (Written through a compact buffer: faer 0.24's matmul into a row-strided
                // destination view gave wrong results here.)
                let mut out = vec![0.0; rows * l];
                matmul(
                    MatMut::from_row_major_slice_mut(&mut out, rows, l),
                    Accum::Replace,
                    MatRef::from_row_major_slice(&tmp, rows, m),
                    yl,
                    1.0,
                    Par::Seq,
                );
                for (i, row) in chunk.chunks_exact_mut(cap).enumerate() {
                    row[..l].copy_from_slice(&out[i * l..(i + 1) * l]);
                }
            });
            t = Mat::from_fn(l, l, |i, j| if i == j { theta[i] } else { 0.0 });
            theta.truncate(l);
            y = Mat::identity(l, l);
            m = l;
            // The coupling of the new basis with Q is recomputed exactly at the next expansion
            // (orthogonalisation coefficients), so nothing else to carry.
        }
    }
    // Ritz vectors X = V Y[:, :k], column-major.
    let kk = k.min(m).min(theta.len());
    let mut vectors = vec![0.0; n * kk];
    if kk > 0 {
        let vm = MatRef::from_row_major_slice_with_stride(&v[..(n - 1) * cap + m], n, m, cap);
        matmul(
            MatMut::from_column_major_slice_mut(&mut vectors, n, kk),
            Accum::Replace,
            vm,
            y.as_ref().subcols(0, kk),
            1.0,
            Par::rayon(0),
        );
    }
    (theta[..kk].to_vec(), vectors, (converged, scale))
}

/// Relative tolerances below this use `f64` block products (single precision cannot reach them).
const SINGLE_TOL_FLOOR: f64 = 1e-6;

/// `||A x_j - theta_j x_j||` for the columns of row-major blocks.
fn column_residuals(x: &[f64], ax: &[f64], theta: &[f64], n: usize, b: usize) -> Vec<f64> {
    let mut r = vec![0.0; b];
    for i in 0..n {
        for j in 0..b {
            let d = ax[i * b + j] - theta[j] * x[i * b + j];
            r[j] += d * d;
        }
    }
    r.iter().map(|v| v.sqrt()).collect()
}

/// Materialise a (small) operator as a dense faer matrix, symmetrised.
fn dense_faer(op: &dyn LinearOperator) -> Mat<f64> {
    let n = op.dim();
    let mut m = Mat::<f64>::zeros(n, n);
    let mut e = vec![0.0; n];
    let mut y = vec![0.0; n];
    for j in 0..n {
        e[j] = 1.0;
        op.apply(&e, &mut y);
        e[j] = 0.0;
        for i in 0..n {
            m[(i, j)] = y[i];
        }
    }
    Mat::from_fn(n, n, |i, j| 0.5 * (m[(i, j)] + m[(j, i)]))
}

/// All eigenvalues (ascending) of a small operator, by a dense faer decomposition.
///
/// # Complexity
/// O(n^3) time, O(n^2) memory.
pub fn dense_eigenvalues(op: &dyn LinearOperator) -> Vec<f64> {
    let m = dense_faer(op);
    match m.self_adjoint_eigenvalues(faer::Side::Lower) {
        Ok(v) => v,
        Err(_) => {
            let d = op.to_dense();
            let mut v: Vec<f64> = nalgebra::SymmetricEigen::new(d)
                .eigenvalues
                .iter()
                .copied()
                .collect();
            v.sort_by(|a, b| a.total_cmp(b));
            v
        }
    }
}

/// The `k` smallest eigenpairs by a dense decomposition (faer), whatever the size.
///
/// # Complexity
/// O(n^3) time, O(n^2) memory.
pub fn dense_smallest_eigenpairs(op: &dyn LinearOperator, k: usize) -> EigenResult {
    dense_smallest(op, k.min(op.dim()))
}

fn dense_smallest(op: &dyn LinearOperator, k: usize) -> EigenResult {
    let n = op.dim();
    let m = dense_faer(op);
    let (values, vectors) = match m.self_adjoint_eigen(faer::Side::Lower) {
        Ok(evd) => {
            let (u, s) = (evd.U(), evd.S());
            let values: Vec<f64> = (0..k).map(|j| s[j]).collect();
            let mut vectors = Vec::with_capacity(n * k);
            for j in 0..k {
                vectors.extend((0..n).map(|i| u[(i, j)]));
            }
            (values, vectors)
        }
        Err(_) => {
            // Fall back to nalgebra's implicit QL.
            let eig = nalgebra::SymmetricEigen::new(op.to_dense());
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&a, &b| eig.eigenvalues[a].total_cmp(&eig.eigenvalues[b]));
            let values = order.iter().take(k).map(|&j| eig.eigenvalues[j]).collect();
            let vectors = order
                .iter()
                .take(k)
                .flat_map(|&j| {
                    eig.eigenvectors
                        .column(j)
                        .iter()
                        .copied()
                        .collect::<Vec<_>>()
                })
                .collect();
            (values, vectors)
        }
    };
    let max_residual = residual(op, &values, &vectors);
    EigenResult {
        values,
        vectors,
        requested: k,
        max_residual,
        dense: true,
        matvecs: n,
    }
}

fn residual(op: &dyn LinearOperator, values: &[f64], vectors: &[f64]) -> f64 {
    let n = op.dim();
    let mut y = vec![0.0; n];
    let mut worst: f64 = 0.0;
    for (j, &lam) in values.iter().enumerate() {
        let v = &vectors[j * n..(j + 1) * n];
        op.apply(v, &mut y);
        let r = y
            .iter()
            .zip(v)
            .map(|(a, b)| (a - lam * b).powi(2))
            .sum::<f64>()
            .sqrt();
        worst = worst.max(r);
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Duplicates, Graph};
    use crate::hsbm::HsbmParams;
    use crate::spectral::{BetheHessian, NormalizedLaplacian};

    #[test]
    fn iterative_matches_dense_on_a_block_model() {
        let h = HsbmParams::btsbm_log(2, 150, vec![3.0, 6.0, 40.0], 11)
            .generate()
            .unwrap();
        let g = &h.graph;
        for op in [
            &BetheHessian::standard(g) as &dyn LinearOperator,
            &NormalizedLaplacian::new(g, 0.1),
        ] {
            let it = smallest_eigenpairs(
                op,
                4,
                &EigenParams {
                    dense_below: 0,
                    tol: 1e-11,
                    ..Default::default()
                },
            );
            let de = dense_smallest(op, 4);
            assert!(!it.dense && de.dense);
            assert_eq!(it.converged(), 4);
            let scale = de.values.iter().map(|x| x.abs()).fold(1.0, f64::max);
            for j in 0..4 {
                assert!(
                    (it.values[j] - de.values[j]).abs() < 1e-7 * scale,
                    "{:?} vs {:?}",
                    it.values,
                    de.values
                );
            }
            assert!(
                it.max_residual < 1e-6 * scale,
                "residual {}",
                it.max_residual
            );
            assert!(de.max_residual < 1e-8 * scale);
        }
    }

    #[test]
    fn single_precision_products_reach_the_tolerance() {
        let h = HsbmParams::btsbm_log(3, 120, vec![3.0, 8.0, 14.0, 60.0], 2)
            .generate()
            .unwrap();
        let g = &h.graph;
        for op in [
            &BetheHessian::standard(g) as &dyn LinearOperator,
            &NormalizedLaplacian::new(g, 0.1),
        ] {
            let de = dense_smallest(op, 8);
            let scale = dense_eigenvalues(op)
                .iter()
                .map(|x| x.abs())
                .fold(0.0, f64::max);
            for precision in [BlockPrecision::Single, BlockPrecision::Double] {
                let it = smallest_eigenpairs(
                    op,
                    8,
                    &EigenParams {
                        dense_below: 0,
                        tol: 1e-6,
                        precision,
                        ..Default::default()
                    },
                );
                assert_eq!(it.converged(), 8, "{precision:?}");
                // The reported residual is true (recomputed here in f64) and below tolerance.
                let r = residual(op, &it.values, &it.vectors);
                assert!(r <= 1.01e-6 * scale, "{precision:?}: residual {r}");
                assert!((r - it.max_residual).abs() < 1e-9 * scale.max(1.0));
                for j in 0..8 {
                    assert!((it.values[j] - de.values[j]).abs() < 1e-5 * scale);
                }
            }
        }
    }

    #[test]
    fn ritz_extremes_bracket_the_spectrum() {
        let e: Vec<(u32, u32, f64)> = (0..30u32).map(|i| (i, (i + 1) % 30, 1.0)).collect();
        let g = Graph::from_edges(30, &e, Duplicates::One).unwrap();
        let (lo, hi) = extreme_ritz_values(&crate::spectral::Adjacency(&g), 40, 1);
        assert!(
            (hi - 2.0).abs() < 1e-8 && (lo + 2.0).abs() < 1e-8,
            "{lo} {hi}"
        );
    }
}
