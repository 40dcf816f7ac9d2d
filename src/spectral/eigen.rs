//! Partial symmetric eigensolver for the few smallest eigenpairs of a [`LinearOperator`].
//!
//! Large problems: Chebyshev-filtered subspace iteration (Zhou & Saad, "A Chebyshev–Davidson
//! algorithm for large symmetric eigenproblems", SIMAX 2007; Zhou, Saad, Tiago & Chelikowsky,
//! J. Comput. Phys. 2006). A block of `k + p` vectors is filtered by a Chebyshev polynomial that
//! damps the unwanted upper part of the spectrum (bounds from a short Lanczos run), then
//! orthonormalised (SVQB) and refined by Rayleigh–Ritz. The block form matters for graphs: the
//! informative eigenvalues of a Bethe Hessian come in near-degenerate clusters (one per tree
//! level), which single-vector Krylov methods resolve slowly, and one pass over the sparse
//! matrix serves all block columns. Small problems: dense decomposition (faer). Residuals
//! `||Op v - lambda v||` are computed and returned; fewer converged pairs than requested is
//! reported, not hidden.

use super::operators::{LinearOperator, Real};
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
    /// Precision of the filter's sparse block products on the iterative path (default
    /// [`FilterPrecision::Single`]; tolerances below 1e-6 always use `f64`).
    pub filter: FilterPrecision,
    /// Maximum outer iterations (filter + Rayleigh–Ritz) of the iterative path.
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
            filter: FilterPrecision::Single,
            max_restarts: 300,
            dense_below: 400,
            seed: 0,
        }
    }
}

/// Arithmetic of the Chebyshev filter (the dominant cost of the iterative eigensolver).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterPrecision {
    /// `f32` blocks in the filter, `f64` in orthonormalisation and Rayleigh–Ritz. Sparse block
    /// products are bound by the memory traffic of the gathered rows, so this about halves the
    /// solver's time; it reaches relative residuals near 1e-6 (enough for clustering), and the
    /// solver switches to `f64` by itself if single precision stalls before the tolerance.
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
/// Dense path O(n^3). Iterative path O((nnz + n p) * iterations) time with a Krylov basis of
/// `p = max(64, 2k)` vectors, O(n p) memory.
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
    chebyshev_subspace(op, k, params)
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

/// Rayleigh–Ritz on an orthonormal block `z` (`n x b`, consumed): Ritz values ascending, Ritz
/// vectors `X = Z Q` and `AX = (A Z) Q`, both computed in place.
fn rayleigh_ritz(
    op: &dyn LinearOperator,
    z: Vec<f64>,
    n: usize,
    b: usize,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut az = vec![0.0; n * b];
    op.apply_block(&z, &mut az, b);
    let h = gram(&z, &az, n, b);
    let h = Mat::from_fn(b, b, |i, j| 0.5 * (h[(i, j)] + h[(j, i)]));
    let evd = h
        .self_adjoint_eigen(faer::Side::Lower)
        .expect("small symmetric eigenproblem");
    let q = evd.U().to_owned();
    let theta = (0..b).map(|j| evd.S()[j]).collect();
    let mut x = z;
    rotate_in_place(&mut x, b, q.as_ref());
    rotate_in_place(&mut az, b, q.as_ref());
    (theta, x, az)
}

/// Remove from the row-major block `y` (`n x b`) its components along the orthonormal locked
/// vectors `v` (`n x l`, row-major): `y <- y - V (V^T y)`, twice.
fn project_out(y: &mut [f64], v: &[f64], n: usize, b: usize, l: usize) {
    if l == 0 || b == 0 {
        return;
    }
    for _ in 0..2 {
        let mut c = Mat::<f64>::zeros(l, b);
        matmul(
            c.as_mut(),
            Accum::Replace,
            MatRef::from_row_major_slice(v, n, l).transpose(),
            MatRef::from_row_major_slice(y, n, b),
            1.0,
            Par::rayon(0),
        );
        matmul(
            MatMut::from_row_major_slice_mut(y, n, b),
            Accum::Add,
            MatRef::from_row_major_slice(v, n, l),
            c.as_ref(),
            -1.0,
            Par::rayon(0),
        );
    }
}

/// One pass of `y <- y - V (V^T y)` in the filter's precision (inner products in `f64`).
fn project_rows<T: Real>(y: &mut [T], v: &[T], b: usize, l: usize) {
    if l == 0 || b == 0 {
        return;
    }
    let c = y
        .par_chunks(b)
        .zip(v.par_chunks(l))
        .fold(
            || vec![0.0f64; l * b],
            |mut acc, (yi, vi)| {
                for (p, &vp) in vi.iter().enumerate() {
                    let vp = vp.to64();
                    let row = &mut acc[p * b..(p + 1) * b];
                    row.iter_mut()
                        .zip(yi)
                        .for_each(|(a, &yq)| *a += vp * yq.to64());
                }
                acc
            },
        )
        .reduce(
            || vec![0.0f64; l * b],
            |mut a, o| {
                a.iter_mut().zip(&o).for_each(|(s, v)| *s += v);
                a
            },
        );
    y.par_chunks_mut(b)
        .zip(v.par_chunks(l))
        .for_each(|(yi, vi)| {
            for (q, yq) in yi.iter_mut().enumerate() {
                let mut s = yq.to64();
                for (p, &vp) in vi.iter().enumerate() {
                    s -= vp.to64() * c[p * b + q];
                }
                *yq = T::of(s);
            }
        });
}

/// Scalars the Chebyshev filter can run in.
trait FilterScalar: Real {
    /// `Z <- alpha Op X + beta X + gamma Z` in this precision.
    #[allow(clippy::too_many_arguments)]
    fn step(
        op: &dyn LinearOperator,
        x: &[Self],
        z: &mut [Self],
        b: usize,
        alpha: f64,
        beta: f64,
        gamma: f64,
    );
}
impl FilterScalar for f64 {
    fn step(op: &dyn LinearOperator, x: &[f64], z: &mut [f64], b: usize, a: f64, bt: f64, g: f64) {
        op.step_block(x, z, b, a, bt, g);
    }
}
impl FilterScalar for f32 {
    fn step(op: &dyn LinearOperator, x: &[f32], z: &mut [f32], b: usize, a: f64, bt: f64, g: f64) {
        op.step_block_f32(x, z, b, a, bt, g);
    }
}

/// A Chebyshev filter: damp `[a, upper]` (centre `c`, half-width `e`), scaled so that the
/// value at `low` stays of order one (Zhou & Saad 2007, Algorithm 3.2).
struct Filter {
    c: f64,
    e: f64,
    low: f64,
    degree: usize,
    /// Project the locked vectors out every `period` steps.
    period: usize,
}

/// Filter the Ritz block `x` (with `ax = Op x`, both consumed) and return the filtered block in
/// `f64`. The recurrence runs in `T`; each step is one fused pass over the sparse matrix.
fn chebyshev_filter<T: FilterScalar>(
    op: &dyn LinearOperator,
    x: Vec<f64>,
    ax: Vec<f64>,
    b: usize,
    f: &Filter,
    locked: &[f64],
    nl: usize,
) -> Vec<f64> {
    let (c, e) = (f.c, f.e);
    let lk: Vec<T> = locked.par_iter().map(|&v| T::of(v)).collect();
    let mut sigma = e / (f.low - c);
    let tau = 2.0 / sigma;
    let mut y: Vec<T> = ax
        .par_iter()
        .zip(x.par_iter())
        .map(|(&av, &xv)| T::of((av - c * xv) * sigma / e))
        .collect();
    drop(ax);
    let mut y_prev: Vec<T> = x.par_iter().map(|&v| T::of(v)).collect();
    drop(x);
    project_rows(&mut y, &lk, b, nl);
    for step in 1..f.degree {
        let s_new = 1.0 / (tau - sigma);
        let f1 = 2.0 * s_new / e;
        // y_{k+1} = (2 s_new / e) (Op - c) y_k - sigma s_new y_{k-1}, written over y_{k-1}.
        T::step(op, &y, &mut y_prev, b, f1, -f1 * c, -sigma * s_new);
        std::mem::swap(&mut y, &mut y_prev);
        sigma = s_new;
        // Keep locked directions out of the recurrence: their (far lower) eigenvalues would
        // otherwise amplify rounding errors beyond recovery. The recurrence is linear, so
        // projecting both terms every few steps removes them from all later iterates.
        if nl > 0 && step % f.period == 0 && step + 1 < f.degree {
            project_rows(&mut y, &lk, b, nl);
            project_rows(&mut y_prev, &lk, b, nl);
        }
    }
    drop(y_prev);
    y.into_par_iter().map(|v| v.to64()).collect()
}

/// Wanted pairs still missing once `nl` are locked.
fn want_now(k: usize, nl: usize) -> usize {
    k.saturating_sub(nl).max(1)
}

/// Relative tolerances below this run the filter in `f64` (single precision cannot reach them).
const SINGLE_TOL_FLOOR: f64 = 1e-6;

/// Chebyshev-filtered subspace iteration with locking for the `k` smallest eigenpairs.
///
/// Each outer iteration filters the active (unconverged) block with a Chebyshev polynomial of
/// the degree that keeps the amplification of its lowest Ritz value below 1e10 (so that the
/// block stays numerically independent), projects out the locked vectors, orthonormalises
/// (SVQB, refilling lost columns with random ones) and applies Rayleigh–Ritz in `f64`.
/// Converged Ritz pairs are locked in ascending order. The filter runs in `f32` when
/// [`EigenParams::filter`] allows it; if single precision stalls before the tolerance, the
/// remaining iterations run in `f64`.
fn chebyshev_subspace(op: &dyn LinearOperator, k: usize, params: &EigenParams) -> EigenResult {
    let n = op.dim();
    let b = (k + (k / 2).max(8)).min(n);
    let (lo, hi) = extreme_ritz_values(op, 40, params.seed);
    let spread = (hi - lo).max(1e-300);
    // Lanczos Ritz values lie inside the spectrum: pad the top so that it is damped too.
    let upper = hi + 0.02 * spread;
    let scale = hi.abs().max(lo.abs()).max(1e-300);
    let tol = params.tol * scale;
    let mut single = params.filter == FilterPrecision::Single && params.tol >= SINGLE_TOL_FLOOR;
    let mut matvecs = 40usize;
    let mut rng = rng_for(params.seed, 0xC4EB);
    let mut random_block = |cols: usize| -> Vec<f64> {
        (0..n * cols)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect()
    };
    // Locked pairs (row-major n x l, with their residuals) and the active block.
    let mut locked_vals: Vec<f64> = Vec::new();
    let mut locked_res: Vec<f64> = Vec::new();
    let mut locked: Vec<f64> = Vec::new();
    let (z, mut ba) = svqb(random_block(b), n, b);
    let (mut theta, mut x, mut ax) = rayleigh_ritz(op, z, n, ba);
    matvecs += ba;
    let mut cut = f64::INFINITY;
    let mut prev_first: Option<f64> = None;
    for _iter in 0..params.max_restarts.max(1) {
        let nl = locked_vals.len();
        let res = column_residuals(&x, &ax, &theta, n, ba);
        // Lock the converged prefix (ascending Ritz values) of the still-wanted pairs.
        let want = k - nl;
        let newly = res.iter().take(want).take_while(|&&r| r <= tol).count();
        if newly > 0 {
            let nl2 = nl + newly;
            let mut nlocked = vec![0.0; n * nl2];
            nlocked
                .par_chunks_mut(nl2)
                .enumerate()
                .for_each(|(i, row)| {
                    row[..nl].copy_from_slice(&locked[i * nl..(i + 1) * nl]);
                    row[nl..].copy_from_slice(&x[i * ba..i * ba + newly]);
                });
            locked = nlocked;
            locked_vals.extend_from_slice(&theta[..newly]);
            locked_res.extend_from_slice(&res[..newly]);
            // Drop the locked columns from the active block.
            let rest = ba - newly;
            let keep = |m: &[f64]| -> Vec<f64> {
                let mut o = vec![0.0; n * rest];
                o.par_chunks_mut(rest.max(1))
                    .enumerate()
                    .for_each(|(i, row)| row.copy_from_slice(&m[i * ba + newly..(i + 1) * ba]));
                o
            };
            x = keep(&x);
            ax = keep(&ax);
            theta.drain(..newly);
            ba = rest;
            prev_first = None;
        } else if single {
            // Single precision has stalled when the first wanted residual stops halving.
            let r0 = res[0];
            if prev_first.is_some_and(|p| r0 > 0.5 * p) {
                single = false;
            }
            prev_first = Some(r0);
        }
        let nl = locked_vals.len();
        if nl >= k || ba == 0 {
            break;
        }
        // Filter interval [a, upper]; degree from the amplification cap at the lowest value.
        // The cut never moves up: random refill columns have high Ritz values and must not
        // relax the filter.
        let a = theta[ba - 1].min(upper - 1e-3 * spread).min(cut);
        cut = a;
        let e = (upper - a) / 2.0;
        let c = (upper + a) / 2.0;
        // The lowest Ritz value of a random block sits mid-spectrum: bound the amplification with
        // the Lanczos estimate of the bottom of the spectrum until something is locked.
        let low = if nl == 0 { theta[0].min(lo) } else { theta[0] }.min(a - 1e-6 * spread);
        let t0 = ((c - low) / e).max(1.0 + 1e-12);
        let cap = ((23.0 / t0.acosh()).floor() as usize).clamp(2, 40);
        // No more than needed: the error of the slowest wanted Ritz vector shrinks by about
        // T_m(t_slow) per pass, so aim at 10x below the tolerance.
        let slow = theta[(want_now(k, nl) - 1).min(ba - 1)];
        let t_slow = ((c - slow) / e).max(1.0 + 1e-12);
        let worst = res[newly..]
            .iter()
            .take(k - nl)
            .fold(0.0f64, |m, &r| m.max(r));
        let need = (10.0 * worst / tol).max(2.0);
        let degree = ((need.acosh() / t_slow.acosh()).ceil() as usize).clamp(2, cap);
        // Locked directions (below `low`) grow faster than anything active: project them out
        // before their rounding-level components have grown by 1e3.
        let period = match locked_vals.iter().copied().reduce(f64::min) {
            Some(lmin) if lmin < low => {
                let growth = ((c - lmin) / e).acosh() - t0.acosh();
                ((6.9 / growth).floor() as usize).max(1)
            }
            _ => degree,
        };
        let filter = Filter {
            c,
            e,
            low,
            degree,
            period,
        };
        let mut y = if single {
            chebyshev_filter::<f32>(op, x, ax, ba, &filter, &locked, nl)
        } else {
            chebyshev_filter::<f64>(op, x, ax, ba, &filter, &locked, nl)
        };
        matvecs += (degree - 1) * ba;
        // Keep the block size: top up with random directions if the filter made it deficient.
        project_out(&mut y, &locked, n, ba, nl);
        let (mut z, mut nb) = svqb(y, n, ba);
        if nb < ba {
            let extra = ba - nb;
            let mut r = random_block(extra);
            project_out(&mut r, &locked, n, extra, nl);
            project_out(&mut r, &z, n, extra, nb);
            let mut merged = Vec::with_capacity(n * ba);
            for i in 0..n {
                merged.extend_from_slice(&z[i * nb..(i + 1) * nb]);
                merged.extend_from_slice(&r[i * extra..(i + 1) * extra]);
            }
            drop(z);
            let o = svqb(merged, n, ba);
            z = o.0;
            nb = o.1;
        }
        ba = nb;
        let rr = rayleigh_ritz(op, z, n, ba);
        matvecs += ba;
        theta = rr.0;
        x = rr.1;
        ax = rr.2;
    }
    // Converged pairs: the locked ones, ascending.
    let nl = locked_vals.len().min(k);
    let mut order: Vec<usize> = (0..locked_vals.len()).collect();
    order.sort_by(|&i, &j| locked_vals[i].total_cmp(&locked_vals[j]));
    order.truncate(nl);
    let lw = locked_vals.len();
    let values: Vec<f64> = order.iter().map(|&j| locked_vals[j]).collect();
    let max_residual = order.iter().map(|&j| locked_res[j]).fold(0.0, f64::max);
    let mut vectors = vec![0.0; n * nl];
    for (c, &j) in order.iter().enumerate() {
        for i in 0..n {
            vectors[c * n + i] = locked[i * lw + j];
        }
    }
    EigenResult {
        values,
        vectors,
        requested: k,
        max_residual,
        dense: false,
        matvecs,
    }
}

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
    fn single_precision_filter_reaches_its_tolerance() {
        let h = HsbmParams::btsbm_log(3, 120, vec![3.0, 8.0, 14.0, 60.0], 2)
            .generate()
            .unwrap();
        let op = BetheHessian::standard(&h.graph);
        let de = dense_smallest(&op, 8);
        let scale = dense_eigenvalues(&op)
            .iter()
            .map(|x| x.abs())
            .fold(1.0, f64::max);
        for filter in [FilterPrecision::Single, FilterPrecision::Double] {
            let it = smallest_eigenpairs(
                &op,
                8,
                &EigenParams {
                    dense_below: 0,
                    tol: 1e-6,
                    filter,
                    ..Default::default()
                },
            );
            assert_eq!(it.converged(), 8, "{filter:?}");
            // The reported residual is true (recomputed here in f64) and below tolerance.
            let r = residual(&op, &it.values, &it.vectors);
            assert!(r <= 1.01e-6 * scale, "{filter:?}: residual {r}");
            assert!(
                (r - it.max_residual).abs() < 1e-3 * scale,
                "{r} vs {}",
                it.max_residual
            );
            for j in 0..8 {
                assert!((it.values[j] - de.values[j]).abs() < 1e-5 * scale);
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
