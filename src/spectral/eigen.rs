//! Partial symmetric eigensolver for the few smallest eigenpairs of a [`LinearOperator`].
//!
//! Large problems: an in-house block Krylov–Schur method with thick restart (Stewart, SIAM J.
//! Matrix Anal. Appl. 23, 2001; block form as in Zhou & Saad, Numer. Algorithms 47, 2008). A
//! Krylov method needs far fewer operator applications than filtered subspace iteration (on a
//! 200,000-node Bethe Hessian with K = 32: about 300 column products against about 2,900), and
//! a small block (2–4 columns) makes each sparse pass serve several columns. By default the basis
//! and the block products are stored in `f32` ([`BlockPrecision`]), with every coefficient
//! accumulated in `f64`. Small problems: dense decomposition (faer). Residuals `||Op v - lambda v||` are recomputed in `f64` and returned;
//! fewer converged pairs than requested is reported, not hidden.

use super::mixed;
use super::operators::{LinearOperator, Real};
use crate::error::Result;
use crate::util::{rng_for, setters, with_avx};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// Parameters of [`smallest_eigenpairs`] ([`Default`], a setter per field, [`Self::validate`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EigenParams {
    /// Residual tolerance relative to the spectral scale `max |lambda|` (default 1e-6: ample for
    /// clustering the eigenvectors; tighten it for other uses).
    pub tol: f64,
    /// Storage precision of the Krylov basis and the sparse block products on the iterative
    /// path (default [`BlockPrecision::Single`]; tolerances below 1e-6 always use `f64`).
    pub precision: BlockPrecision,
    /// Maximum restart cycles of the iterative path.
    pub max_restarts: usize,
    /// Problems with at most this many rows (or with `n <= 4k + 64`) are solved densely.
    pub dense_below: usize,
    /// Seed of the random start vector.
    pub seed: u64,
    /// Optional second convergence test for [`smallest_eigenpairs`] (`None`, the default:
    /// residuals only): also accept the `k` pairs once the Davis–Kahan bound
    /// `||R||_F / gap` on the sine of the angle between their span and the invariant subspace
    /// of the `k` smallest eigenvalues is at most this, with `R` the residuals and
    /// `gap = (theta_{k+1} - rho_{k+1}) - theta_k` the distance from the `k`-th Ritz value to
    /// the lower end of the next Ritz value's residual interval. Clustering by k-means is
    /// invariant to rotations within the subspace, so the subspace angle is what it needs;
    /// top-down bisection uses `1e-3` ([`TopDown`](crate::hierarchy::TopDown)).
    /// [`has_negative_eigenvalues`] ignores it.
    pub subspace_tol: Option<f64>,
    /// Operators of at least this dimension that support it
    /// ([`LinearOperator::renumbered`], e.g. [`BetheHessian`](crate::spectral::BetheHessian))
    /// are renumbered once during the iterative path (when the basis holds as many vectors as
    /// a thick restart keeps, or at the first restart): nodes sorted by the signs of the lowest
    /// Ritz vectors (a coarse spectral partition), so that the rows a
    /// sparse product gathers for one node mostly lie close together and stay in cache; the
    /// returned vectors are in the original order. Default
    /// [`EigenParams::RENUMBER_FROM`]; `None` never renumbers.
    pub renumber_from: Option<usize>,
}

impl Default for EigenParams {
    fn default() -> Self {
        EigenParams {
            tol: 1e-6,
            precision: BlockPrecision::Single,
            max_restarts: 300,
            dense_below: 400,
            seed: 0,
            subspace_tol: None,
            renumber_from: Some(EigenParams::RENUMBER_FROM),
        }
    }
}

impl EigenParams {
    setters! {
        /// Relative residual tolerance (> 0).
        tol: f64,
        /// Storage precision of the iterative path.
        precision: BlockPrecision,
        /// Maximum restart cycles (>= 1).
        max_restarts: usize,
        /// Size below which problems are solved densely.
        dense_below: usize,
        /// Seed of the random start vector.
        seed: u64,
        /// Davis–Kahan subspace-angle tolerance (`None`: residuals only).
        subspace_tol: Option<f64>,
        /// Smallest dimension renumbered by a spectral order (`None`: never).
        renumber_from: Option<usize>,
    }

    /// Default of [`EigenParams::renumber_from`]: 100,000 rows, where the 4-column `f32`
    /// block the sparse product gathers from (16 bytes per row) outgrows a 1-2 MB L2 cache.
    /// On the 200,000-node benchmark BTSBM (10 M stored entries) it took `neurobricks cluster
    /// --k 32` from 3.50-3.64 s to 3.16-3.21 s (alternating runs on a 2-core VM).
    pub const RENUMBER_FROM: usize = 100_000;

    /// Check the parameters: `tol` and `subspace_tol` (when set) finite and in (0, 1),
    /// `max_restarts >= 1`. The algorithms
    /// that take eigensolver parameters ([`BottomUp`](crate::hierarchy::BottomUp),
    /// [`TopDown`](crate::hierarchy::TopDown)) call it before any work;
    /// [`smallest_eigenpairs`] itself never fails (a solve that misses the tolerance returns
    /// fewer pairs).
    ///
    /// # Errors
    /// [`Error::Param`](crate::Error::Param) naming the parameter, e.g. `EigenParams.tol`.
    pub fn validate(&self) -> crate::Result<()> {
        if !(self.tol > 0.0 && self.tol < 1.0) {
            return Err(crate::Error::param(
                "EigenParams.tol",
                format!("{} is not in (0, 1)", self.tol),
            ));
        }
        if let Some(eps) = self.subspace_tol {
            if !(eps > 0.0 && eps < 1.0) {
                return Err(crate::Error::param(
                    "EigenParams.subspace_tol",
                    format!("{eps} is not in (0, 1)"),
                ));
            }
        }
        if self.max_restarts == 0 {
            return Err(crate::Error::param(
                "EigenParams.max_restarts",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// Storage precision of the iterative solver's Krylov basis and sparse block products `Op X`
/// (the two dominant costs, both bound by memory traffic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockPrecision {
    /// `f32` basis and `f32` operands and results in the sparse products; Gram–Schmidt
    /// coefficients, Gram matrices and the projected problem are accumulated in `f64`. Halves
    /// the memory traffic of both hot loops and the basis's memory; the relation
    /// `Op V = V T + Q B` then holds to about 1e-7 relative, enough for tolerances down to 1e-6
    /// (clustering needs far less). Residuals are always recomputed in `f64`, and if they miss
    /// the tolerance the solver restarts in `f64` from the Ritz vectors it has.
    Single,
    /// `f64` throughout.
    Double,
}

/// Result of a partial eigendecomposition.
// Deliberate same-shape pair (`cd src && duplicates`): a plain list of documented fields,
// alike line by line with `KMeansResult` and `coactivation::Report` only in shape; no logic is shared.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EigenResult {
    /// Eigenvalues in ascending order (only the converged ones).
    pub values: Vec<f64>,
    /// Eigenvectors, column-major `n x values.len()`, unit norm (with
    /// [`BlockPrecision::Single`] they hold `f32` values, unit to about 1e-7).
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
/// # Errors
/// [`Error::Param`](crate::Error::Param) naming the bad field (e.g. `EigenParams.tol`) when
/// [`EigenParams::validate`] fails, before any work.
///
/// # Complexity
/// Dense path O(n^3). Iterative path (block Krylov–Schur, see the module docs): each step costs
/// one sparse pass for a block of `b = clamp(k/8, 2, 4)` columns plus O(n m b) for Gram–Schmidt
/// against the basis of `m <= max(2k, k + 4b)` vectors; O(n m) memory. The number of steps
/// depends on the spectrum (about 75 for K = 32 on a 200,000-node Bethe Hessian).
///
/// ```
/// use neurobricks::graph::{Duplicates, Graph};
/// use neurobricks::spectral::{smallest_eigenpairs, Adjacency, EigenParams};
///
/// // The triangle's adjacency matrix has eigenvalues -1, -1, 2.
/// let g = Graph::from_edges(3, &[(0, 1, 1.0), (1, 2, 1.0), (0, 2, 1.0)], Duplicates::One).unwrap();
/// let res = smallest_eigenpairs(&Adjacency(&g), 2, &EigenParams::default()).unwrap();
/// assert_eq!(res.converged(), 2);
/// assert!(res.values.iter().all(|v| (v + 1.0).abs() < 1e-9));
/// // Eigenvectors of -1 are orthogonal to the all-ones vector.
/// assert!(res.vector(0).iter().sum::<f64>().abs() < 1e-6);
/// ```
pub fn smallest_eigenpairs(
    op: &dyn LinearOperator,
    k: usize,
    params: &EigenParams,
) -> Result<EigenResult> {
    smallest_eigenpairs_with_progress(op, k, params, &mut |_, _| {})
}

/// [`smallest_eigenpairs`] reporting its progress: on the iterative path
/// `progress(column products so far, r)` after every Krylov step, with `r` the largest
/// residual estimate of the `k` wanted pairs divided by the tolerance (`r <= 1`: converged).
/// The dense path reports nothing. The callback only observes: the result is the same.
///
/// # Errors
/// As [`smallest_eigenpairs`].
pub fn smallest_eigenpairs_with_progress(
    op: &dyn LinearOperator,
    k: usize,
    params: &EigenParams,
    progress: &mut dyn FnMut(usize, f64),
) -> Result<EigenResult> {
    solve(op, k, params, None, progress)
}

/// [`smallest_eigenpairs`] with the Krylov space started from the span of `start` (row-major
/// `n x 2`, e.g. two Ritz vectors of a related operator) instead of a random block, for `k`
/// of at most 15 (block size 2). Same tests and results as a random start, reached sooner
/// when the start is near the wanted invariant subspace; the dense path ignores it.
///
/// # Panics
/// If `start.len() != 2 n` or `k > 15`.
pub(crate) fn smallest_eigenpairs_from(
    op: &dyn LinearOperator,
    k: usize,
    params: &EigenParams,
    start: Vec<f64>,
) -> Result<EigenResult> {
    assert!(
        start.len() == 2 * op.dim() && block_size(k) == 2,
        "an n x 2 start block"
    );
    solve(op, k, params, Some(start), &mut |_, _| {})
}

/// The body of [`smallest_eigenpairs_with_progress`] and [`smallest_eigenpairs_from`].
fn solve(
    op: &dyn LinearOperator,
    k: usize,
    params: &EigenParams,
    start: Option<Vec<f64>>,
    progress: &mut dyn FnMut(usize, f64),
) -> Result<EigenResult> {
    params.validate()?;
    let n = op.dim();
    let k = k.min(n);
    if n == 0 || k == 0 {
        return Ok(EigenResult {
            values: vec![],
            vectors: vec![],
            requested: k,
            max_residual: 0.0,
            dense: true,
            matvecs: 0,
        });
    }
    if solve_densely(n, k, params) {
        return Ok(dense_smallest(op, k));
    }
    Ok(krylov_schur(op, k, params, 0, start, progress).0)
}

/// Dense when small, or when many pairs are wanted from a moderately sized operator (clustered
/// spectra make Krylov methods slow there).
fn solve_densely(n: usize, k: usize, params: &EigenParams) -> bool {
    n <= params.dense_below.max(4 * k + 64) || (k >= 16 && n <= 3000)
}

/// Whether the symmetric operator `op` has at least `count` negative eigenvalues (`count >= 1`),
/// and whether the answer is settled (`false`: the solver stopped before converging and the
/// converged eigenvalues did not show `count` negative ones).
///
/// Computes the `count` smallest eigenpairs like [`smallest_eigenpairs`], except that the
/// iterative path stops as soon as the sign of the `count`-th smallest eigenvalue is settled
/// (`scale` = the largest Ritz value magnitude seen, `tol` = [`EigenParams::tol`]):
/// - yes, when the `count`-th smallest Ritz value is below `-tol * scale`: Ritz values of the
///   smallest eigenvalues are upper bounds for them (Cauchy interlacing, i.e. the
///   `count`-dimensional Ritz space has negative Rayleigh quotients; rounding in the basis
///   moves them by far less than the margin), so the `count` smallest eigenvalues are then
///   certainly negative;
/// - no, when the Kato–Temple lower bound `theta_c - rho_c^2 / (beta - theta_c)` on the
///   eigenvalue of the `c`-th Ritz pair (`c = count`, residual `rho_c`) is above
///   `tol * scale`, with `beta = theta_{c+1} - rho_{c+1}` the lower end of the next Ritz
///   value's residual interval and `theta_c` strictly between it and the upper end
///   `theta_{c-1} + rho_{c-1}` of the previous one. The bound holds when that interval holds
///   exactly one eigenvalue: the premise every Krylov stopping test makes (the Ritz values
///   approximate the smallest eigenvalues in order), and a sharper one than the residual
///   interval `theta_c +- rho_c`, which it requires the neighbouring Ritz values to resolve.
///
/// Otherwise the solve runs to convergence and the negative converged eigenvalues are
/// counted, so the answer is the one [`smallest_eigenpairs`] gives.
/// [`EigenParams::subspace_tol`] is ignored. The top-down stopping rule asks this of every
/// community's Bethe Hessian: communities that split stop after a few steps, leaves (whose
/// second eigenvalue sits at the edge of the bulk, where a converged solve is slow) once its
/// sign is settled.
///
/// # Complexity
/// As [`smallest_eigenpairs`] for `k = count` at most; usually far less.
///
/// # Errors
/// As [`smallest_eigenpairs`].
///
/// ```
/// use neurobricks::graph::{Duplicates, Graph};
/// use neurobricks::spectral::{has_negative_eigenvalues, Adjacency, EigenParams};
///
/// // The triangle's adjacency matrix has eigenvalues -1, -1, 2.
/// let g = Graph::from_edges(3, &[(0, 1, 1.0), (1, 2, 1.0), (0, 2, 1.0)], Duplicates::One).unwrap();
/// let p = EigenParams::default();
/// assert_eq!(has_negative_eigenvalues(&Adjacency(&g), 2, &p).unwrap(), (true, true));
/// assert_eq!(has_negative_eigenvalues(&Adjacency(&g), 3, &p).unwrap(), (false, true));
/// ```
pub fn has_negative_eigenvalues(
    op: &dyn LinearOperator,
    count: usize,
    params: &EigenParams,
) -> Result<(bool, bool)> {
    let t = sign_test(op, count, params)?;
    Ok((t.negative, t.settled))
}

/// The answer of [`has_negative_eigenvalues`], with the Ritz vectors behind a yes.
pub(crate) struct SignTest {
    /// At least `count` negative eigenvalues.
    pub negative: bool,
    /// The answer is settled (see [`has_negative_eigenvalues`]).
    pub settled: bool,
    /// For a yes on the iterative path: the `count` Ritz vectors with negative Rayleigh
    /// quotients, row-major `n x count` (a warm start for a related solve).
    pub ritz: Option<Vec<f64>>,
}

/// [`has_negative_eigenvalues`], keeping the Ritz vectors of a yes.
pub(crate) fn sign_test(
    op: &dyn LinearOperator,
    count: usize,
    params: &EigenParams,
) -> Result<SignTest> {
    params.validate()?;
    let n = op.dim();
    let k = count.max(1);
    let answer = |negative, settled, ritz| {
        Ok(SignTest {
            negative,
            settled,
            ritz,
        })
    };
    if k > n {
        return answer(false, true, None);
    }
    let (res, ritz) = if solve_densely(n, k, params) {
        (dense_smallest(op, k), None)
    } else {
        let params = EigenParams {
            subspace_tol: None,
            ..params.clone()
        };
        let (res, decided) = krylov_schur(op, k, &params, k, None, &mut |_, _| {});
        if let Some(negative) = decided {
            let ritz = (negative && res.vectors.len() == n * k).then_some(res.vectors);
            return answer(negative, true, ritz);
        }
        // Converged: column-major vectors, row-major for the caller.
        let ritz = (0..n)
            .flat_map(|i| (0..res.converged()).map(move |j| (i, j)))
            .map(|(i, j)| res.vectors[j * n + i])
            .collect::<Vec<f64>>();
        let full = res.converged() == k;
        (res, full.then_some(ritz))
    };
    let neg = res.values.iter().filter(|&&v| v < 0.0).count();
    let settled = neg >= k || res.converged() == res.requested;
    answer(neg >= k, settled, if neg >= k { ritz } else { None })
}

/// Number of eigenvalues of a small symmetric operator below `thr`, from the inertia of
/// `Op - thr I` (Sylvester's law of inertia: congruent matrices have as many negative
/// eigenvalues) computed by a dense Bunch–Kaufman `L B L^T` factorisation (faer): the count of
/// negative 1 x 1 pivots plus, per 2 x 2 pivot block, one for a negative determinant and two
/// for a positive determinant with a negative trace. The factorisation is backward stable, so
/// the count is exact for a matrix within rounding of `Op`; only eigenvalues within rounding of
/// `thr` can be counted differently from [`dense_eigenvalues`].
///
/// # Complexity
/// O(n^3 / 3) time (about a sixth of a dense eigenvalue decomposition's; 0.5 s against 3-4 s
/// for the 2,783-node power grid's Bethe Hessian on this 2-core machine), O(n^2) memory.
///
/// ```
/// use neurobricks::graph::{Duplicates, Graph};
/// use neurobricks::spectral::{dense_count_below, Adjacency};
///
/// // The triangle's adjacency matrix has eigenvalues -1, -1, 2.
/// let g = Graph::from_edges(3, &[(0, 1, 1.0), (1, 2, 1.0), (0, 2, 1.0)], Duplicates::One).unwrap();
/// assert_eq!(dense_count_below(&Adjacency(&g), 0.0), 2);
/// assert_eq!(dense_count_below(&Adjacency(&g), 3.0), 3);
/// ```
pub fn dense_count_below(op: &dyn LinearOperator, thr: f64) -> usize {
    let m = op.to_dense();
    let n = m.nrows();
    let a = Mat::from_fn(n, n, |i, j| {
        0.5 * (m[(i, j)] + m[(j, i)]) - if i == j { thr } else { 0.0 }
    });
    drop(m);
    let f = a.lblt(faer::Side::Lower);
    let (d, sub) = (f.B_diag(), f.B_subdiag());
    let mut neg = 0;
    let mut i = 0;
    while i < n {
        if i + 1 < n && sub[i] != 0.0 {
            let (p, q, r) = (d[i], sub[i], d[i + 1]);
            let det = p * r - q * q;
            if det < 0.0 {
                neg += 1;
            } else if p + r < 0.0 {
                neg += 2;
            }
            i += 2;
        } else {
            neg += usize::from(d[i] < 0.0);
            i += 1;
        }
    }
    neg
}

/// Number of eigenvalues of a symmetric operator below `thr`, clamped to `1..=cap` (the
/// counting step of the K estimates). At most 3,000 rows: exactly, by [`dense_count_below`].
/// Larger: the smallest eigenvalues in growing batches of 16, 32, ... ([`smallest_eigenpairs`])
/// until a batch holds a converged eigenvalue at or above `thr` or reaches `cap`.
///
/// # Returns
/// `(count, converged)`; `converged` is false when a batch stopped before converging (the
/// count is then that of the converged eigenvalues).
///
/// # Complexity
/// Dense: O(n^3 / 3). Iterative: the partial eigensolves of the batches, the last with about
/// twice as many pairs as the count.
///
/// # Errors
/// As [`smallest_eigenpairs`].
pub fn count_eigenvalues_below(
    op: &dyn LinearOperator,
    thr: f64,
    cap: usize,
    params: &EigenParams,
) -> Result<(usize, bool)> {
    params.validate()?;
    let cap = cap.max(1);
    if op.dim() <= 3000 {
        return Ok((dense_count_below(op, thr).clamp(1, cap), true));
    }
    let mut m = 16.min(cap);
    loop {
        let res = smallest_eigenpairs(op, m, params)?;
        let c = res.values.iter().filter(|&&v| v < thr).count();
        let ok = res.converged() == res.requested;
        if c < res.converged() || m >= cap || !ok {
            return Ok((c.clamp(1, cap), ok));
        }
        m = (2 * m).min(cap);
    }
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
    let norms = col_norms2(&y, b);
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

/// SVQB factors of a Gram matrix `G = Y^T Y` (Stathopoulos & Wu 2002): with
/// `D = diag(G)^{-1/2}` and `D G D = U L U^T`, `S = D U L^{-1/2}` makes `Y S` orthonormal and
/// `Y = (Y S) S^{-1}` with `S^{-1} = L^{1/2} U^T D^{-1}`. Returns `(S, S^{-1}, min L / max L)`,
/// or `None` when `Y` is numerically rank deficient (`min L <= 1e-10 max L`).
fn svqb_factors(g: &Mat<f64>) -> Option<(Mat<f64>, Mat<f64>, f64)> {
    let b = g.nrows();
    let d: Vec<f64> = (0..b).map(|i| g[(i, i)]).collect();
    if d.iter().any(|&x| x.is_nan() || x <= 0.0) {
        return None;
    }
    let s: Vec<f64> = d.iter().map(|x| 1.0 / x.sqrt()).collect();
    let gs = Mat::from_fn(b, b, |i, j| 0.5 * (g[(i, j)] + g[(j, i)]) * s[i] * s[j]);
    let evd = gs.self_adjoint_eigen(faer::Side::Lower).ok()?;
    let (u, l) = (evd.U(), evd.S());
    let lmax = (0..b).map(|j| l[j]).fold(0.0f64, f64::max);
    let lmin = (0..b).map(|j| l[j]).fold(f64::INFINITY, f64::min);
    if lmin.is_nan() || lmin <= 1e-10 * lmax {
        return None;
    }
    let fwd = Mat::from_fn(b, b, |i, j| s[i] * u[(i, j)] / l[j].sqrt());
    let inv = Mat::from_fn(b, b, |i, j| l[i].sqrt() * u[(j, i)] / s[j]);
    Some((fwd, inv, lmin / lmax))
}

/// `out <- Y S` for a row-major `n x b` block `Y` and a `b x b` matrix `S`, rounded to the
/// storage type of `out`; with `want_gram`, also returns `(Y S)^T (Y S)` (else an empty matrix).
fn rotate_into<T: Basis>(
    y: &[f64],
    s: &Mat<f64>,
    b: usize,
    out: &mut [T],
    want_gram: bool,
) -> Mat<f64> {
    match b {
        1 => rotate_fixed::<T, 1>(y, s, out, want_gram),
        2 => rotate_fixed::<T, 2>(y, s, out, want_gram),
        3 => rotate_fixed::<T, 3>(y, s, out, want_gram),
        4 => rotate_fixed::<T, 4>(y, s, out, want_gram),
        _ => {
            let n = y.len() / b.max(1);
            let z = block_times(y, n, b, s);
            out.par_iter_mut()
                .zip(z.par_iter())
                .for_each(|(d, &x)| *d = T::of(x));
            if want_gram {
                gram(&z, &z, n, b)
            } else {
                Mat::zeros(0, 0)
            }
        }
    }
}

/// [`rotate_into`] for a compile-time width (the row stays in registers).
fn rotate_fixed<T: Basis, const B: usize>(
    y: &[f64],
    s: &Mat<f64>,
    out: &mut [T],
    gram: bool,
) -> Mat<f64> {
    let sr: [[f64; B]; B] = std::array::from_fn(|a| std::array::from_fn(|c| s[(a, c)]));
    let parts: Vec<[[f64; B]; B]> = out
        .par_chunks_mut(GS_ROWS * B)
        .zip(y.par_chunks(GS_ROWS * B))
        .map(|(os, ys)| {
            let mut g = [[0.0f64; B]; B];
            for (o, yr) in os.chunks_exact_mut(B).zip(ys.chunks_exact(B)) {
                let mut row = [0.0f64; B];
                for (a, &ya) in yr.iter().enumerate() {
                    for c in 0..B {
                        row[c] += ya * sr[a][c];
                    }
                }
                if gram {
                    for a in 0..B {
                        for c in 0..B {
                            g[a][c] += row[a] * row[c];
                        }
                    }
                }
                for c in 0..B {
                    o[c] = T::of(row[c]);
                }
            }
            g
        })
        .collect();
    if !gram {
        return Mat::zeros(0, 0);
    }
    let mut g = Mat::<f64>::zeros(B, B);
    for part in &parts {
        for a in 0..B {
            for c in 0..B {
                g[(a, c)] += part[a][c];
            }
        }
    }
    g
}

/// `Op X` in `f64` for a row-major `n x b` block, in 8-column panels (the gathered rows of one
/// panel should stay cache resident).
fn apply_panels(op: &dyn LinearOperator, x: &[f64], b: usize) -> Vec<f64> {
    in_panels(op.dim(), x, b, 8, |p, out, w| {
        op.step_block(p, out, w, 1.0, 0.0, 0.0)
    })
}

/// Residual norms `||Op x_j - theta_j x_j||` of the columns of the row-major `n x b` block
/// `x` (`b = theta.len()`), first rounded to `f32` in place: the product of the `f32` values
/// is formed in `f64` ([`LinearOperator::apply_block_widened`]), so the residuals are exact up
/// to `f64` rounding at the gather cost of `f32` operands. In 8-column panels, each checked
/// as soon as its product is formed: the working memory is one panel in `f32` and one in
/// `f64`, not a second `n x b` block. Eight columns, not sixteen: on the 200,000-node
/// benchmark graph (10 M stored entries) the check of 32 vectors took 0.11 s in 8-column
/// panels and 0.14 s in 16-column ones (both with the AVX-512 row kernel).
fn widened_residuals(op: &dyn LinearOperator, x: &mut [f64], theta: &[f64]) -> Vec<f64> {
    let b = theta.len();
    let n = op.dim();
    let mut res = vec![0.0; b];
    let (mut panel, mut out) = (Vec::<f32>::new(), Vec::<f64>::new());
    for c0 in (0..b).step_by(8) {
        let w = 8.min(b - c0);
        panel.resize(n * w, 0.0);
        out.resize(n * w, 0.0);
        panel
            .par_chunks_mut(w)
            .zip(x.par_chunks_mut(b))
            .for_each(|(o, row)| {
                for (d, v) in o.iter_mut().zip(&mut row[c0..c0 + w]) {
                    *d = *v as f32;
                    *v = f64::from(*d);
                }
            });
        op.apply_block_widened(&panel, &mut out, w);
        let th = &theta[c0..c0 + w];
        let parts: Vec<[f64; 8]> = panel
            .par_chunks(4096 * w)
            .zip(out.par_chunks(4096 * w))
            .map(|(xs, ys)| {
                let mut r = [0.0f64; 8];
                for (xr, yr) in xs.chunks_exact(w).zip(ys.chunks_exact(w)) {
                    for j in 0..w {
                        let d = yr[j] - th[j] * f64::from(xr[j]);
                        r[j] += d * d;
                    }
                }
                r
            })
            .collect();
        for part in &parts {
            for j in 0..w {
                res[c0 + j] += part[j];
            }
        }
    }
    res.iter().map(|v| v.sqrt()).collect()
}

/// `apply(X_panel, Y_panel, width)` over column panels of at most `pw` columns of a row-major
/// `n x b` block, assembled into the row-major `n x b` result.
fn in_panels<X: Copy + Default + Send + Sync>(
    n: usize,
    x: &[X],
    b: usize,
    pw: usize,
    apply: impl Fn(&[X], &mut [f64], usize),
) -> Vec<f64> {
    let mut y = vec![0.0; n * b];
    if b <= pw {
        apply(x, &mut y, b);
        return y;
    }
    for c0 in (0..b).step_by(pw) {
        let w = pw.min(b - c0);
        let mut panel = vec![X::default(); n * w];
        panel
            .par_chunks_mut(w)
            .zip(x.par_chunks(b))
            .for_each(|(o, row)| o.copy_from_slice(&row[c0..c0 + w]));
        let mut out = vec![0.0; n * w];
        apply(&panel, &mut out, w);
        y.par_chunks_mut(b)
            .zip(out.par_chunks(w))
            .for_each(|(row, o)| row[c0..c0 + w].copy_from_slice(o));
    }
    y
}

/// Squared column norms of a row-major `n x b` block (partial sums added in chunk order).
fn col_norms2(y: &[f64], b: usize) -> Vec<f64> {
    let parts: Vec<Vec<f64>> = y
        .par_chunks(4096 * b)
        .map(|ys| {
            let mut acc = vec![0.0f64; b];
            for row in ys.chunks_exact(b) {
                acc.iter_mut().zip(row).for_each(|(s, v)| *s += v * v);
            }
            acc
        })
        .collect();
    let mut acc = vec![0.0f64; b];
    for part in &parts {
        acc.iter_mut().zip(part).for_each(|(s, v)| *s += v);
    }
    acc
}

/// Storage precision of the Krylov basis and of the sparse block products (`f32` or `f64`).
/// Coefficients, Gram matrices and the projected problem are always computed in `f64`.
trait Basis: Real {
    /// `Y <- Op X` for a compact row-major `n x b` block in this precision.
    fn product(op: &dyn LinearOperator, x: &[Self], y: &mut [Self], b: usize);
    /// The leading `rows x m` block of whole row-major rows with stride `stride`, as an `f64`
    /// view (converted into `buf` when the storage is narrower).
    fn view<'a>(
        v: &'a [Self],
        rows: usize,
        m: usize,
        stride: usize,
        buf: &'a mut Vec<f64>,
    ) -> MatRef<'a, f64>;
    /// `V^T Y` for the leading `rows x m` block of whole rows `v` (stride `stride`) and a
    /// compact row-major `rows x b` block `y`.
    fn project(
        v: &[Self],
        rows: usize,
        m: usize,
        stride: usize,
        y: &[f64],
        b: usize,
        buf: &mut Vec<f64>,
    ) -> Mat<f64> {
        project_via_view(v, rows, m, stride, y, b, buf)
    }
    /// `Y <- Y - V C` for the same shapes (`C` is `m x b`).
    #[allow(clippy::too_many_arguments)]
    fn subtract(
        v: &[Self],
        rows: usize,
        m: usize,
        stride: usize,
        c: &Mat<f64>,
        y: &mut [f64],
        b: usize,
        buf: &mut Vec<f64>,
    ) {
        subtract_via_view(v, rows, m, stride, c, y, b, buf)
    }
    /// A Gram–Schmidt pass is repeated when it leaves components along the basis larger than
    /// this, relative to the vector's norm: a little above what the storage can represent.
    const REORTH: f64;
}

/// [`Basis::project`] through an `f64` view of the basis and faer.
fn project_via_view<T: Basis>(
    v: &[T],
    rows: usize,
    m: usize,
    stride: usize,
    y: &[f64],
    b: usize,
    buf: &mut Vec<f64>,
) -> Mat<f64> {
    let mut c = Mat::<f64>::zeros(m, b);
    matmul(
        c.as_mut(),
        Accum::Replace,
        T::view(v, rows, m, stride, buf).transpose(),
        MatRef::from_row_major_slice(y, rows, b),
        1.0,
        Par::Seq,
    );
    c
}

/// [`Basis::subtract`] through an `f64` view of the basis and faer.
#[allow(clippy::too_many_arguments)]
fn subtract_via_view<T: Basis>(
    v: &[T],
    rows: usize,
    m: usize,
    stride: usize,
    c: &Mat<f64>,
    y: &mut [f64],
    b: usize,
    buf: &mut Vec<f64>,
) {
    matmul(
        MatMut::from_row_major_slice_mut(y, rows, b),
        Accum::Add,
        T::view(v, rows, m, stride, buf),
        c.as_ref(),
        -1.0,
        Par::Seq,
    );
}

// Deliberate same-shape pair with `impl Basis for f32` (`cd src && duplicates`): the two
// precisions of the Krylov basis; the methods read alike but each does its own arithmetic
// (direct view vs widened copy, `step_block` vs `step_block_f32`).
impl Basis for f64 {
    fn product(op: &dyn LinearOperator, x: &[f64], y: &mut [f64], b: usize) {
        op.step_block(x, y, b, 1.0, 0.0, 0.0);
    }
    fn view<'a>(
        v: &'a [f64],
        rows: usize,
        m: usize,
        stride: usize,
        _buf: &'a mut Vec<f64>,
    ) -> MatRef<'a, f64> {
        MatRef::from_row_major_slice_with_stride(&v[..(rows - 1) * stride + m], rows, m, stride)
    }
    const REORTH: f64 = 1e-12;
}

// Deliberate same-shape pair with `impl Basis for f64` (see there).
impl Basis for f32 {
    fn product(op: &dyn LinearOperator, x: &[f32], y: &mut [f32], b: usize) {
        op.step_block_f32(x, y, b, 1.0, 0.0, 0.0);
    }
    fn view<'a>(
        v: &'a [f32],
        rows: usize,
        m: usize,
        stride: usize,
        buf: &'a mut Vec<f64>,
    ) -> MatRef<'a, f64> {
        buf.resize(rows * m, 0.0);
        widen_rows(v, stride, m, &mut buf[..rows * m]);
        MatRef::from_row_major_slice(buf, rows, m)
    }
    fn project(
        v: &[f32],
        rows: usize,
        m: usize,
        stride: usize,
        y: &[f64],
        b: usize,
        buf: &mut Vec<f64>,
    ) -> Mat<f64> {
        let mut out = vec![0.0; m * b];
        if mixed::project(v, stride, rows, m, y, b, &mut out) {
            return Mat::from_fn(m, b, |j, c| out[j * b + c]);
        }
        project_via_view(v, rows, m, stride, y, b, buf)
    }
    fn subtract(
        v: &[f32],
        rows: usize,
        m: usize,
        stride: usize,
        c: &Mat<f64>,
        y: &mut [f64],
        b: usize,
        buf: &mut Vec<f64>,
    ) {
        let ct: Vec<f64> = (0..b * m).map(|e| c[(e % m, e / m)]).collect();
        if !mixed::subtract(v, stride, rows, m, &ct, y, b) {
            subtract_via_view(v, rows, m, stride, c, y, b, buf);
        }
    }
    const REORTH: f64 = 2e-7;
}

/// `out` (compact `rows x m`) <- the first `m` columns of the `f32` rows of `v` (row stride
/// `stride`), widened to `f64` (on the path of every pass over an `f32` basis that goes through
/// faer, so compiled with AVX when the CPU has it).
#[inline(always)]
fn widen_rows_impl(v: &[f32], stride: usize, m: usize, out: &mut [f64]) {
    for (o, row) in out.chunks_exact_mut(m).zip(v.chunks(stride)) {
        for (d, &x) in o.iter_mut().zip(&row[..m]) {
            *d = f64::from(x);
        }
    }
}

with_avx!(
    widen_rows,
    widen_rows_avx,
    widen_rows_impl,
    (v: &[f32], stride: usize, m: usize, out: &mut [f64])
);

/// Rows per task in the passes over the basis: a chunk of `V` stays in cache between the update
/// and the next projection.
const GS_ROWS: usize = 2048;

/// Sum of `m x b` partial matrices in order (so results do not depend on thread scheduling).
fn sum_parts(parts: &[Mat<f64>], m: usize, b: usize) -> Mat<f64> {
    let mut total = Mat::<f64>::zeros(m, b);
    for part in parts {
        total += part;
    }
    total
}

/// Orthogonalise `y` (`n x b`, row-major) against the first `m` columns of the row-major basis
/// `v` with row stride `stride`: `y <- y - V (V^T y)`. Returns the coefficients `V^T y` and the
/// Gram matrix `y^T y` of the result.
///
/// Classical Gram–Schmidt, bound by reading `V`, so it runs on row chunks (one sequential faer
/// kernel per chunk, partial sums added in chunk order): (1) `C1 = V^T y`; (2) `y -= V C1` and,
/// on the same cache-resident rows, `C2 = V^T y` and `y^T y`; (3) a second pass `y -= V C2`
/// ("twice is enough", Giraud et al. 2005) only when some column of `C2` exceeds `reorth`
/// times that column's norm (`None`: always). Measuring the leftover `C2` directly is sharper
/// than the norm-drop (DGKS) test, which asks for the second pass at almost every Lanczos step.
fn orthogonalise_against<T: Basis>(
    y: &mut [f64],
    v: &[T],
    n: usize,
    b: usize,
    m: usize,
    stride: usize,
    reorth: Option<f64>,
) -> (Mat<f64>, Mat<f64>) {
    if m == 0 || b == 0 {
        let g = gram(y, y, n, b);
        return (Mat::zeros(m, b), g);
    }
    let vs = &v[..n * stride];
    let rows_of = |ys: &[f64]| ys.len() / b;
    // Pass 1: C1 = V^T y.
    let parts: Vec<Mat<f64>> = y
        .par_chunks(GS_ROWS * b)
        .zip(vs.par_chunks(GS_ROWS * stride))
        .map_init(Vec::new, |buf, (ys, vc)| {
            T::project(vc, rows_of(ys), m, stride, ys, b, buf)
        })
        .collect();
    let c1 = sum_parts(&parts, m, b);
    // Pass 2 (and 3): y -= V C, then the leftover V^T y and y^T y on the same rows.
    let update = |y: &mut [f64], c: &Mat<f64>, project: bool| -> (Mat<f64>, Mat<f64>) {
        let parts: Vec<(Mat<f64>, Mat<f64>)> = y
            .par_chunks_mut(GS_ROWS * b)
            .zip(vs.par_chunks(GS_ROWS * stride))
            .map_init(Vec::new, |buf, (ys, vc)| {
                let rows = ys.len() / b;
                T::subtract(vc, rows, m, stride, c, ys, b, buf);
                let left = if project {
                    T::project(vc, rows, m, stride, ys, b, buf)
                } else {
                    Mat::<f64>::zeros(0, b)
                };
                let ym = MatRef::from_row_major_slice(ys, rows, b);
                let mut g = Mat::<f64>::zeros(b, b);
                matmul(
                    g.as_mut(),
                    Accum::Replace,
                    ym.transpose(),
                    ym,
                    1.0,
                    Par::Seq,
                );
                (left, g)
            })
            .collect();
        let (lefts, grams): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
        (
            sum_parts(&lefts, if project { m } else { 0 }, b),
            sum_parts(&grams, b, b),
        )
    };
    let (c2, g) = update(y, &c1, true);
    let again = match reorth {
        None => true,
        Some(limit) => (0..b).any(|j| {
            let left = (0..m).map(|i| c2[(i, j)] * c2[(i, j)]).sum::<f64>();
            left > limit * limit * g[(j, j)]
        }),
    };
    if !again {
        return (c1, g);
    }
    let (_, g) = update(y, &c2, false);
    (c1 + c2, g)
}

/// Orthonormal basis `Q` (`n x b`) of the row-major block `w`, orthogonal to the first `m`
/// columns of `v`, with `R = Q^T w`. Directions lost to rank deficiency (an invariant subspace
/// was found) are replaced by random ones, which keeps the block size.
#[allow(clippy::too_many_arguments)]
fn orthonormal_block<T: Basis>(
    w: &[f64],
    n: usize,
    b: usize,
    v: &[T],
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
        orthogonalise_against(&mut rand, v, n, extra, m, stride, None);
        orthogonalise_against(&mut rand, &q, n, extra, r, r, None);
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
/// the block form). The basis `V` grows by blocks `Q` of `p` columns with full (classical
/// Gram–Schmidt, repeated when needed) orthogonalisation, keeping `Op V = V T + Q B`; Ritz pairs
/// of `T` have residual norms `||B y||`. When the basis is full it is compressed to the `l`
/// lowest Ritz vectors (`T` becomes diagonal). With [`BlockPrecision::Single`] the basis and the
/// sparse products are stored in `f32` (the passes over `V` and the gathers are bound by memory
/// traffic, which halves), with all coefficients accumulated in `f64`; the returned residuals
/// are recomputed in `f64`, and if single precision missed the tolerance the solver restarts in
/// `f64` from the Ritz vectors it has.
///
/// # Complexity
/// Time `O(matvecs * nnz / p + steps * n * m_max * p)`, memory `O(n * m_max)` with
/// `m_max` about `2k`.
///
/// `early > 0`: stop as soon as the sign of the `early`-th smallest eigenvalue is settled
/// ([`has_negative_eigenvalues`]); the second value returned is then `Some(negative)` (the
/// result holds no vectors), `None` when the solve ran to convergence instead.
fn krylov_schur(
    op: &dyn LinearOperator,
    k: usize,
    params: &EigenParams,
    early: usize,
    start: Option<Vec<f64>>,
    progress: &mut dyn FnMut(usize, f64),
) -> (EigenResult, Option<bool>) {
    let n = op.dim();
    let mut single = params.precision == BlockPrecision::Single && params.tol >= SINGLE_TOL_FLOOR;
    let mut rng = rng_for(params.seed, 0xC4EB);
    let mut start = start;
    let mut tally = Tally {
        matvecs: 0,
        progress,
    };
    loop {
        let out = if single {
            krylov_schur_run::<f32>(op, k, params, early, start.take(), &mut rng, &mut tally)
        } else {
            krylov_schur_run::<f64>(op, k, params, early, start.take(), &mut rng, &mut tally)
        };
        let Run {
            values,
            vectors: mut rowmajor,
            converged,
            scale: run_scale,
            next_lower,
            decided,
            renumbered,
        } = out;
        let matvecs = tally.matvecs;
        if decided.is_some() {
            // Row-major Ritz vectors of the values (none for a "no").
            let result = EigenResult {
                requested: k,
                max_residual: f64::NAN,
                dense: false,
                matvecs,
                vectors: rowmajor,
                values,
            };
            return (result, decided);
        }
        // True residuals in f64. In single precision the Ritz vectors are first rounded to f32
        // (all the f32 basis resolves anyway) and these vectors are checked and returned: their
        // products are then exact in f64 at the gather cost of f32. A renumbered run is
        // checked with its renumbered operator, then put back in the original order.
        let kk = values.len();
        let op_check: &dyn LinearOperator = renumbered.as_ref().map_or(op, |(o, _)| o.as_ref());
        let res = if single {
            widened_residuals(op_check, &mut rowmajor, &values)
        } else {
            let av = apply_panels(op_check, &rowmajor, kk);
            column_residuals(&rowmajor, &av, &values, kk)
        };
        if let Some((renamed, order)) = renumbered {
            drop(renamed);
            rowmajor = unpermute_rows(&rowmajor, kk, &order);
        }
        let scale = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let tol = params.tol * run_scale.max(scale);
        let mut good = res.iter().take_while(|&&r| r <= tol).count();
        if kk == k && subspace_settled(params.subspace_tol, &res, values[kk - 1], next_lower) {
            good = kk;
        }
        if single && converged && good < kk {
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
        let keep = if converged { kk } else { good };
        let max_residual = res[..keep].iter().fold(0.0f64, |m, &r| m.max(r));
        let mut vectors = vec![0.0; n * keep];
        if keep > 0 {
            // Groups of 8 columns: each row's 8 entries are one cache line of `rowmajor`.
            vectors
                .par_chunks_mut(8 * n)
                .enumerate()
                .for_each(|(gi, cols)| {
                    let (j0, width) = (8 * gi, cols.len() / n);
                    for (i, row) in rowmajor.chunks_exact(kk).enumerate() {
                        for jj in 0..width {
                            cols[jj * n + i] = row[j0 + jj];
                        }
                    }
                });
        }
        let result = EigenResult {
            values: values[..keep].to_vec(),
            vectors,
            requested: k,
            max_residual,
            dense: false,
            matvecs,
        };
        return (result, None);
    }
}

/// `ceil(log2 k)`, at most 8: the sign bits [`spectral_order`] sorts by for `k` pairs.
fn sign_bits(k: usize) -> usize {
    ((usize::BITS - (k.max(2) - 1).leading_zeros()) as usize).min(8)
}

/// A node order from the signs of the lowest Ritz vectors `1..=bits` (columns `0..l` of the
/// rows `v`, stride `cap`, in ascending order of their Ritz values), `bits` =
/// [`sign_bits`]`(k)`: the key of a row is its sign pattern, most significant bit from the
/// lowest vector, and rows are counting-sorted by key (ties in index order). A coarse spectral
/// partition in about `2^bits` groups: a node's neighbours mostly share its group, so a sparse
/// product renumbered in this order gathers nearby rows. `None` when there is nothing to sort
/// by (no such vector, or one key only).
///
/// # Complexity
/// O(n bits) time, O(n) memory.
fn spectral_order<T: Basis>(v: &[T], cap: usize, l: usize, k: usize) -> Option<Vec<u32>> {
    let bits = sign_bits(k).min(l.saturating_sub(1));
    if bits == 0 {
        return None;
    }
    let keys: Vec<u16> = v
        .par_chunks(cap)
        .map(|row| (1..=bits).fold(0u16, |key, j| (key << 1) | u16::from(row[j].to64() > 0.0)))
        .collect();
    let mut start = vec![0usize; (1 << bits) + 1];
    for &key in &keys {
        start[key as usize + 1] += 1;
    }
    if start.iter().filter(|&&c| c > 0).count() < 2 {
        return None;
    }
    for b in 1..start.len() {
        start[b] += start[b - 1];
    }
    let mut order = vec![0u32; keys.len()];
    for (i, &key) in keys.iter().enumerate() {
        order[start[key as usize]] = i as u32;
        start[key as usize] += 1;
    }
    Some(order)
}

/// Rows of the row-major `x` (width `w`) in the order `order`: row `k` becomes old row
/// `order[k]`.
fn permute_rows<T: Copy + Default + Send + Sync>(x: &mut Vec<T>, w: usize, order: &[u32]) {
    let mut out = vec![T::default(); x.len()];
    out.par_chunks_mut(w)
        .zip(order.par_iter())
        .for_each(|(o, &i)| o.copy_from_slice(&x[i as usize * w..(i as usize + 1) * w]));
    *x = out;
}

/// The inverse of [`permute_rows`]: row `order[k]` of the result is row `k` of `x`.
fn unpermute_rows(x: &[f64], w: usize, order: &[u32]) -> Vec<f64> {
    let mut new_of = vec![0u32; order.len()];
    for (k, &i) in order.iter().enumerate() {
        new_of[i as usize] = k as u32;
    }
    let mut out = vec![0.0; x.len()];
    out.par_chunks_mut(w.max(1))
        .zip(new_of.par_iter())
        .for_each(|(o, &k)| o.copy_from_slice(&x[k as usize * w..(k as usize + 1) * w]));
    out
}

/// Column products spent so far and the progress callback of one solve.
struct Tally<'a> {
    matvecs: usize,
    progress: &'a mut dyn FnMut(usize, f64),
}

/// Block size of the Krylov–Schur iteration for `k` wanted pairs.
fn block_size(k: usize) -> usize {
    (k / 8).clamp(2, 4)
}

/// What one Krylov–Schur run ends with.
struct Run {
    /// The `k` lowest Ritz values.
    values: Vec<f64>,
    /// Their Ritz vectors, row-major `n x k` in `f64` (empty when `decided`).
    vectors: Vec<f64>,
    /// Converged by the residual estimates (or the subspace test).
    converged: bool,
    /// Spectral scale: the largest Ritz value magnitude seen.
    scale: f64,
    /// `theta_{k+1} - rho_{k+1}`, the lower end of the next Ritz value's residual interval
    /// (`NaN` if the basis holds no `k+1`-th pair).
    next_lower: f64,
    /// The sign question of `early` settled: `Some(at least early negative eigenvalues)`.
    decided: Option<bool>,
    /// The renumbered operator and its order when the run renumbered the rows
    /// ([`EigenParams::renumber_from`]); `vectors` are then in that order.
    renumbered: Option<(Box<dyn LinearOperator>, Vec<u32>)>,
}

/// Smallest Krylov basis of the iterative path (ARPACK's default `ncv = max(2k + 1, 20)`): for
/// a few wanted pairs at the edge of a dense bulk, as a leaf community's Bethe Hessian has,
/// a basis of 10 needed 2.7x the column products of one of 20 (27,594 against 10,264 over the
/// 32 leaves of the 200,000-node BTSBM).
const MIN_BASIS: usize = 20;

/// Kato–Temple lower bound on the eigenvalue approximated by the Ritz pair `j` of the
/// ascending Ritz values `theta` with residual norms `res` (both at least `j + 2` long):
/// `theta_j - rho_j^2 / (beta - theta_j)` with `beta = theta_{j+1} - rho_{j+1}`, provided
/// `alpha < theta_j < beta` with `alpha = theta_{j-1} + rho_{j-1}` (`-inf` for `j = 0`).
/// Valid when `(alpha, beta)` holds exactly one eigenvalue (Kato 1949; Parlett, *The
/// Symmetric Eigenvalue Problem*, §10.5); `None` when the intervals overlap.
fn temple_lower(theta: &[f64], res: &[f64], j: usize) -> Option<f64> {
    let alpha = if j == 0 {
        f64::NEG_INFINITY
    } else {
        theta[j - 1] + res[j - 1]
    };
    let beta = theta[j + 1] - res[j + 1];
    let t = theta[j];
    (alpha < t && t < beta).then(|| t - res[j] * res[j] / (beta - t))
}

/// The subspace test of [`EigenParams::subspace_tol`]: `||res||_2 <= eps (next_lower -
/// theta_k)` with a positive gap (Davis–Kahan `sin Theta` bound).
fn subspace_settled(eps: Option<f64>, res: &[f64], theta_k: f64, next_lower: f64) -> bool {
    let Some(eps) = eps else { return false };
    let gap = next_lower - theta_k;
    let frob = res.iter().map(|r| r * r).sum::<f64>().sqrt();
    gap > 0.0 && frob <= eps * gap
}

/// One Krylov–Schur run with the basis stored in `T` (see [`Run`]). `early > 0`: stop as
/// soon as the sign of the `early`-th smallest eigenvalue is settled (Ritz value below
/// `-tol * scale`, or its Kato–Temple lower bound above `tol * scale`; no vectors then).
fn krylov_schur_run<T: Basis>(
    op: &dyn LinearOperator,
    k: usize,
    params: &EigenParams,
    early: usize,
    start: Option<Vec<f64>>,
    rng: &mut crate::util::Rng,
    tally: &mut Tally<'_>,
) -> Run {
    let n = op.dim();
    let p = block_size(k);
    let round = |x: usize| x.div_ceil(p) * p;
    let m_max = round((2 * k).max(k + 4 * p).max(MIN_BASIS)).min(n - n % p);
    let l_keep = round(k + (m_max - k) * 3 / 8).min(m_max - p).max(k);
    let cap = m_max;
    let mut v = vec![T::default(); n * cap];
    let mut m = 0usize;
    let mut t = Mat::<f64>::zeros(0, 0);
    let start = start.unwrap_or_else(|| {
        (0..n * p)
            .map(|_| StandardNormal.sample(&mut *rng))
            .collect()
    });
    let (q0, _) = orthonormal_block(&start, n, p, &v, 0, cap, rng);
    let mut q: Vec<T> = q0.par_iter().map(|&x| T::of(x)).collect();
    drop(q0);
    let mut y = vec![T::default(); n * p];
    let mut w = vec![0.0f64; n * p];
    let mut scale = 0.0f64;
    let mut theta: Vec<f64> = Vec::new();
    let mut ritz = Mat::<f64>::zeros(0, 0);
    let mut converged = false;
    let mut next_lower = f64::NAN;
    let max_steps = params.max_restarts.max(1) * (m_max / p).max(1);
    // The renumbered operator and its order (new index k is old index order[k]), once the
    // renumbering has put the nodes in spectral order (see `EigenParams::renumber_from`).
    let mut renumbered: Option<(Box<dyn LinearOperator>, Vec<u32>)> = None;
    let mut may_renumber = early == 0 && params.renumber_from.is_some_and(|from| n >= from);
    for _step in 0..max_steps {
        let op_now: &dyn LinearOperator = renumbered.as_ref().map_or(op, |(o, _)| o.as_ref());
        // Append Q to the basis and expand: W = Op Q, orthogonalised against V. (Blocks of
        // rows per task and an element loop: a task and a `memcpy` call per row of 4 values
        // cost 2.5 ms per step on the 200,000-node benchmark graph.)
        v.par_chunks_mut(cap * GS_ROWS)
            .zip(q.par_chunks(p * GS_ROWS))
            .for_each(|(rows, qs)| {
                for (row, qr) in rows.chunks_exact_mut(cap).zip(qs.chunks_exact(p)) {
                    for (d, &x) in row[m..m + p].iter_mut().zip(qr) {
                        *d = x;
                    }
                }
            });
        m += p;
        T::product(op_now, &q, &mut y, p);
        tally.matvecs += p;
        w.par_iter_mut()
            .zip(y.par_iter())
            .for_each(|(a, &b)| *a = b.to64());
        let (c, g) = orthogonalise_against(&mut w, &v, n, p, m, cap, Some(T::REORTH));
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
        // New block Q = W S by SVQB from the Gram matrix the orthogonalisation returned (a
        // second SVQB pass only for an ill-conditioned W), so that W = Q S^{-1}: R = S^{-1}.
        // A rank-deficient W (invariant subspace) takes the general route with random refill.
        let fast = svqb_factors(&g).and_then(|(s, s_inv, ratio)| {
            if ratio > 1e-3 {
                rotate_into(&w, &s, p, &mut q, false);
                return Some(s_inv);
            }
            let mut w2 = vec![0.0f64; n * p];
            let g2 = rotate_into(&w, &s, p, &mut w2, true);
            let (s2, s2_inv, _) = svqb_factors(&g2)?;
            rotate_into(&w2, &s2, p, &mut q, false);
            Some(&s2_inv * &s_inv)
        });
        let r = match fast {
            Some(r) => r,
            None => {
                let (qn, r) = orthonormal_block(&w, n, p, &v, m, cap, rng);
                q.par_iter_mut()
                    .zip(qn.par_iter())
                    .for_each(|(a, &b)| *a = T::of(b));
                r
            }
        };
        // Ritz pairs of T; residual of y_i is ||R y_i[last block]||.
        let evd = t
            .self_adjoint_eigen(faer::Side::Lower)
            .expect("small symmetric eigenproblem");
        theta = (0..m).map(|j| evd.S()[j]).collect();
        ritz = evd.U().to_owned();
        scale = theta.iter().fold(scale, |s, v| s.max(v.abs()));
        let tol = params.tol * scale;
        let decided = |answer: bool, theta: &[f64]| Run {
            values: theta[..k.min(theta.len())].to_vec(),
            vectors: Vec::new(),
            converged: false,
            scale,
            next_lower: f64::NAN,
            decided: Some(answer),
            renumbered: None,
        };
        if early > 0 && theta.len() >= early && theta[early - 1] < -tol {
            let kk = k.min(theta.len());
            return Run {
                vectors: ritz_vectors(&v, cap, ritz.as_ref().subcols(0, kk)),
                ..decided(true, &theta)
            };
        }
        // B = [0 | R] in the current basis, so B y = R y[m-p..m].
        let res_of = |j: usize| -> f64 {
            let mut s2 = 0.0;
            for a in 0..p {
                let mut s = 0.0;
                for bb in 0..p {
                    s += r[(a, bb)] * ritz[(m - p + bb, j)];
                }
                s2 += s * s;
            }
            s2.sqrt()
        };
        let res: Vec<f64> = (0..(k + 1).max(early + 1).min(m)).map(&res_of).collect();
        if early > 0
            && m > early
            && temple_lower(&theta, &res, early - 1).is_some_and(|low| low > tol)
        {
            return decided(false, &theta);
        }
        next_lower = if m > k { theta[k] - res[k] } else { f64::NAN };
        let worst = res[..k.min(m)].iter().fold(0.0f64, |a, &b| a.max(b));
        (tally.progress)(
            tally.matvecs,
            if m >= k { worst / tol } else { f64::INFINITY },
        );
        if m >= k && res[..k].iter().all(|&r| r <= tol)
            || m > k && subspace_settled(params.subspace_tol, &res[..k], theta[k - 1], next_lower)
        {
            converged = true;
            break;
        }
        let restarted = m + p > m_max;
        if restarted {
            // Thick restart: keep the l lowest Ritz vectors, T = diag(theta), B = R Y[last, :l].
            let l = l_keep;
            let yl = ritz.as_ref().subcols(0, l);
            const ROWS: usize = 1024;
            v.par_chunks_mut(ROWS * cap).for_each_init(
                || (Vec::new(), Vec::new()),
                |(buf, out), chunk| {
                    let rows = chunk.len() / cap;
                    out.clear();
                    out.resize(rows * l, 0.0);
                    // Through a compact buffer: faer 0.24's matmul into a row-strided
                    // destination view gave wrong results here.
                    matmul(
                        MatMut::from_row_major_slice_mut(out, rows, l),
                        Accum::Replace,
                        T::view(chunk, rows, m, cap, buf),
                        yl,
                        1.0,
                        Par::Seq,
                    );
                    for (row, o) in chunk.chunks_exact_mut(cap).zip(out.chunks_exact(l)) {
                        row[..l].iter_mut().zip(o).for_each(|(d, &x)| *d = T::of(x));
                    }
                },
            );
            t = Mat::from_fn(l, l, |i, j| if i == j { theta[i] } else { 0.0 });
            theta.truncate(l);
            ritz = Mat::identity(l, l);
            m = l;
            // The coupling of the new basis with Q is recomputed exactly at the next expansion
            // (orthogonalisation coefficients), so nothing else to carry.
        }
        if may_renumber && (restarted || m >= l_keep) {
            // Once, as soon as the basis holds as many vectors as a thick restart keeps (or at
            // the first restart): the lowest Ritz vectors then already sort the nodes well (44
            // vectors for K = 32 on the benchmark graph: 2.38-2.47 s end to end against
            // 2.47-2.63 s when waiting for the restart at 64, and no better at 28-52).
            // Renumbering every row of V and Q and the operator alike keeps the Krylov
            // relation exactly (P Op P^T P V = P V T + P Q B), at any step.
            may_renumber = false;
            let cols = (sign_bits(k) + 1).min(m);
            let order = {
                let lowest = ritz_vectors(&v, cap, ritz.as_ref().subcols(0, cols));
                spectral_order(&lowest, cols, cols, k)
            };
            if let Some(order) = order {
                if let Some(renamed) = op.renumbered(&order) {
                    permute_rows(&mut v, cap, &order);
                    permute_rows(&mut q, p, &order);
                    renumbered = Some((renamed, order));
                }
            }
        }
    }
    let kk = k.min(m).min(theta.len());
    let x = ritz_vectors(&v, cap, ritz.as_ref().subcols(0, kk));
    drop(v);
    Run {
        renumbered,
        values: theta[..kk].to_vec(),
        vectors: x,
        converged,
        scale,
        next_lower,
        decided: None,
    }
}

/// Ritz vectors `X = V Y` (row-major `n x c`, `f64`) for the `m x c` coefficients `y`, of the
/// first `m` columns of the row-major basis `v` with row stride `cap`.
fn ritz_vectors<T: Basis>(v: &[T], cap: usize, y: MatRef<'_, f64>) -> Vec<f64> {
    let (m, c) = (y.nrows(), y.ncols());
    let mut x = vec![0.0; v.len() / cap * c];
    if c > 0 {
        const ROWS: usize = 1024;
        x.par_chunks_mut(ROWS * c)
            .zip(v.par_chunks(ROWS * cap))
            .for_each_init(Vec::new, |buf, (xs, vc)| {
                let rows = xs.len() / c;
                matmul(
                    MatMut::from_row_major_slice_mut(xs, rows, c),
                    Accum::Replace,
                    T::view(vc, rows, m, cap, buf),
                    y,
                    1.0,
                    Par::Seq,
                );
            });
    }
    x
}

/// Relative tolerances below this use `f64` block products (single precision cannot reach them).
const SINGLE_TOL_FLOOR: f64 = 1e-6;

/// `||A x_j - theta_j x_j||` for the columns of row-major `n x b` blocks.
fn column_residuals(x: &[f64], ax: &[f64], theta: &[f64], b: usize) -> Vec<f64> {
    if b == 0 {
        return Vec::new();
    }
    let parts: Vec<Vec<f64>> = x
        .par_chunks(4096 * b)
        .zip(ax.par_chunks(4096 * b))
        .map(|(xs, axs)| {
            let mut r = vec![0.0; b];
            for (xr, ar) in xs.chunks_exact(b).zip(axs.chunks_exact(b)) {
                for j in 0..b {
                    let d = ar[j] - theta[j] * xr[j];
                    r[j] += d * d;
                }
            }
            r
        })
        .collect();
    let mut r = vec![0.0; b];
    for part in &parts {
        r.iter_mut().zip(part).for_each(|(s, v)| *s += v);
    }
    r.iter().map(|v| v.sqrt()).collect()
}

/// Materialise a (small) operator as a dense faer matrix, symmetrised.
fn dense_faer(op: &dyn LinearOperator) -> Mat<f64> {
    let m = op.to_dense();
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| 0.5 * (m[(i, j)] + m[(j, i)]))
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

    /// Invalid parameters are an error naming the field, from every solver entry point, before
    /// any work (the dense path, which ignores `tol`, included).
    #[test]
    fn bad_params_are_named_errors() {
        let g = Graph::from_edges(3, &[(0, 1, 1.0), (1, 2, 1.0)], Duplicates::One).unwrap();
        let bh = BetheHessian::standard(&g);
        for bad in [2.0, 0.0, f64::NAN] {
            let p = EigenParams::default().tol(bad);
            let e = smallest_eigenpairs(&bh, 1, &p).unwrap_err().to_string();
            assert!(e.contains("EigenParams.tol"), "{e}");
            let e = has_negative_eigenvalues(&bh, 1, &p)
                .unwrap_err()
                .to_string();
            assert!(e.contains("EigenParams.tol"), "{e}");
        }
        assert!(smallest_eigenpairs(&bh, 1, &EigenParams::default()).is_ok());
    }

    /// The inertia count equals the count of a dense eigenvalue decomposition at thresholds
    /// between eigenvalues (Bethe Hessians at small r are indefinite), on several r,
    /// and the iterative counting path (forced by a graph above 3,000 nodes) equals the dense
    /// one.
    #[test]
    fn inertia_count_matches_eigenvalues() {
        let h = crate::hsbm::test_btsbm(2, 60, &[2.0, 5.0, 25.0], 5);
        for r in [1.0, 1.5, 2.0, 3.0, 5.0] {
            let bh = BetheHessian::new(&h.graph, r);
            let ev = dense_eigenvalues(&bh);
            for w in ev.windows(2).step_by(17) {
                if w[1] - w[0] < 1e-6 {
                    continue;
                }
                let thr = 0.5 * (w[0] + w[1]);
                let want = ev.iter().filter(|&&v| v < thr).count();
                assert_eq!(dense_count_below(&bh, thr), want, "r = {r}, thr = {thr}");
            }
            let neg = ev.iter().filter(|&&v| v < 0.0).count();
            let p = EigenParams::default();
            let cap = 50;
            let (c, ok) = count_eigenvalues_below(&bh, 0.0, cap, &p).unwrap();
            assert!(ok && c == neg.clamp(1, cap), "r = {r}: {c} vs {neg}");
        }
        let big = crate::hsbm::test_btsbm(2, 800, &[3.0, 10.0, 40.0], 2);
        assert!(big.graph.n() > 3000);
        let bh = BetheHessian::standard(&big.graph);
        let (c, ok) = count_eigenvalues_below(&bh, 0.0, 100, &EigenParams::default()).unwrap();
        assert_eq!((c, ok), (4, true));
        assert_eq!(dense_count_below(&bh, 0.0), 4);
    }

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
            )
            .unwrap();
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

    /// Renumbering during the solve (forced here on a small graph) returns the same
    /// eigenpairs, in the original node order: every residual is small against the original
    /// operator, the values agree with an unrenumbered solve, and the vectors differ from it in
    /// their rounding (the renumbered products sum in another order), so the renumbering did run.
    #[test]
    fn renumbered_solve_returns_the_same_pairs_in_the_original_order() {
        let h = HsbmParams::btsbm_log(3, 400, vec![3.0, 6.0, 12.0, 60.0], 5)
            .generate()
            .unwrap();
        let g = &h.graph;
        let bh = BetheHessian::standard(g);
        let base = EigenParams {
            dense_below: 0,
            ..Default::default()
        };
        assert_eq!(base.renumber_from, Some(EigenParams::RENUMBER_FROM));
        let off = smallest_eigenpairs(&bh, 8, &base.clone().renumber_from(None)).unwrap();
        let on = smallest_eigenpairs(&bh, 8, &base.clone().renumber_from(Some(0))).unwrap();
        assert_eq!((on.converged(), off.converged()), (8, 8));
        assert_ne!(on.vectors, off.vectors);
        let scale = off.values.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        let n = g.n();
        let mut hv = vec![0.0; n];
        for j in 0..8 {
            assert!((on.values[j] - off.values[j]).abs() < 1e-5 * scale);
            let v = on.vector(j);
            bh.apply(v, &mut hv);
            let r: f64 = hv
                .iter()
                .zip(v)
                .map(|(a, x)| (a - on.values[j] * x).powi(2))
                .sum::<f64>()
                .sqrt();
            assert!(r < 1e-5 * scale, "pair {j}: residual {r}");
        }
    }

    /// The early-stopping sign test agrees with the dense eigenvalues' count for every
    /// `count`, on the iterative path, and answers `true` before full convergence.
    #[test]
    fn negative_eigenvalue_test_matches_the_dense_count() {
        let h = HsbmParams::btsbm_log(2, 150, vec![3.0, 6.0, 40.0], 11)
            .generate()
            .unwrap();
        let bh = BetheHessian::standard(&h.graph);
        let neg = dense_eigenvalues(&bh).iter().filter(|&&v| v < 0.0).count();
        assert!(neg >= 4, "{neg} negative eigenvalues");
        let p = EigenParams {
            dense_below: 0,
            ..Default::default()
        };
        for count in 1..=neg + 2 {
            assert_eq!(
                has_negative_eigenvalues(&bh, count, &p).unwrap(),
                (count <= neg, true),
                "count {count} of {neg}"
            );
        }
        let (res, early) = krylov_schur(&bh, 2, &p, 2, None, &mut |_, _| {});
        let full = smallest_eigenpairs(&bh, 2, &p).unwrap();
        assert!(
            early == Some(true) && res.matvecs < full.matvecs,
            "{} vs {}",
            res.matvecs,
            full.matvecs
        );
    }

    /// The Kato–Temple bound: below the eigenvalue and above `theta - rho` for a Ritz vector
    /// near an eigenvector whose neighbours' intervals are resolved; `None` when they overlap.
    #[test]
    fn temple_bound_is_a_sharp_lower_bound() {
        // diag(-3, 0.4, 1, 1.05, 1.1, ...): Ritz pairs of a 3-D subspace near e0, e1, e2.
        let n = 40;
        let lam: Vec<f64> = (0..n)
            .map(|i| match i {
                0 => -3.0,
                1 => 0.4,
                _ => 1.0 + 0.05 * (i - 2) as f64,
            })
            .collect();
        let mut rng = rng_for(5, 0);
        for eps in [1e-2, 3e-3, 1e-3] {
            // Basis e_j + eps * noise, Rayleigh–Ritz by a dense solve of the 3 x 3 problem.
            let basis: Vec<Vec<f64>> = (0..3)
                .map(|j| {
                    (0..n)
                        .map(|i| {
                            let z: f64 = StandardNormal.sample(&mut rng);
                            f64::from(u8::from(i == j)) + eps * z
                        })
                        .collect()
                })
                .collect();
            let (q, r) = svqb(
                (0..n)
                    .flat_map(|i| basis.iter().map(move |b| b[i]))
                    .collect(),
                n,
                3,
            );
            assert_eq!(r, 3);
            let t = Mat::from_fn(3, 3, |a, b| {
                (0..n)
                    .map(|i| q[i * 3 + a] * lam[i] * q[i * 3 + b])
                    .sum::<f64>()
            });
            let evd = t.self_adjoint_eigen(faer::Side::Lower).unwrap();
            let theta: Vec<f64> = (0..3).map(|j| evd.S()[j]).collect();
            let res: Vec<f64> = (0..3)
                .map(|j| {
                    (0..n)
                        .map(|i| {
                            let x: f64 = (0..3).map(|a| q[i * 3 + a] * evd.U()[(a, j)]).sum();
                            (lam[i] * x - theta[j] * x).powi(2)
                        })
                        .sum::<f64>()
                        .sqrt()
                })
                .collect();
            let low = temple_lower(&theta, &res, 1).expect("resolved intervals");
            assert!(
                low <= lam[1] && lam[1] <= theta[1],
                "{low} {} {}",
                lam[1],
                theta[1]
            );
            assert!(
                low >= theta[1] - res[1],
                "sharper than the residual interval"
            );
        }
        // Overlapping intervals give no bound.
        assert_eq!(temple_lower(&[-1.0, 0.5, 0.6], &[0.01, 0.2, 0.3], 1), None);
        assert!(temple_lower(&[0.5, 2.0], &[0.1, 0.1], 0).is_some());
    }

    /// The sign test on Bethe Hessians of sparse graphs without structure (one negative
    /// eigenvalue, the second at the edge of the bulk) answers no before a converged solve
    /// would, and on two-block graphs around the detectability threshold it always agrees
    /// with the dense count.
    #[test]
    fn negative_eigenvalue_test_decides_no_early_and_agrees_near_the_threshold() {
        let p = EigenParams {
            dense_below: 0,
            ..Default::default()
        };
        for seed in 0..3 {
            let h = HsbmParams::btsbm_log(1, 600, vec![3.0, 3.0], seed)
                .generate()
                .unwrap();
            let bh = BetheHessian::standard(&h.graph);
            let neg = dense_eigenvalues(&bh).iter().filter(|&&v| v < 0.0).count();
            assert_eq!(neg, 1);
            let (res, decided) = krylov_schur(&bh, 2, &p, 2, None, &mut |_, _| {});
            let full = smallest_eigenpairs(&bh, 2, &p).unwrap();
            assert_eq!(decided, Some(false));
            assert!(
                2 * res.matvecs < full.matvecs,
                "{} vs {}",
                res.matvecs,
                full.matvecs
            );
        }
        let mut answers = [0usize; 2];
        for (i, a_in) in [3.0, 3.6, 4.0, 4.4, 4.8, 5.2, 5.6, 6.0, 7.0]
            .iter()
            .enumerate()
        {
            let h = HsbmParams::btsbm_log(1, 600, vec![3.0, *a_in], 10 + i as u64)
                .generate()
                .unwrap();
            let bh = BetheHessian::standard(&h.graph);
            let neg = dense_eigenvalues(&bh).iter().filter(|&&v| v < 0.0).count();
            let got = has_negative_eigenvalues(&bh, 2, &p).unwrap();
            assert_eq!(got, (neg >= 2, true), "a_in {a_in}: {neg} negative");
            answers[usize::from(got.0)] += 1;
        }
        assert!(
            answers[0] >= 2 && answers[1] >= 2,
            "both answers: {answers:?}"
        );
    }

    /// With `subspace_tol`, the pairs are returned once the Davis–Kahan bound is met: their
    /// span is within that angle of the dense eigenvectors', with fewer column products than
    /// the residual tolerance needs; true residuals are reported.
    #[test]
    fn subspace_tolerance_bounds_the_angle() {
        let h = HsbmParams::btsbm_log(2, 400, vec![2.0, 6.0, 30.0], 3)
            .generate()
            .unwrap();
        let op = NormalizedLaplacian::new(&h.graph, 0.1);
        let n = op.dim();
        let de = dense_smallest(&op, 2);
        let tight = EigenParams {
            dense_below: 0,
            ..Default::default()
        };
        let full = smallest_eigenpairs(&op, 2, &tight).unwrap();
        for eps in [1e-2, 1e-3, 1e-4] {
            let it = smallest_eigenpairs(&op, 2, &tight.clone().subspace_tol(Some(eps))).unwrap();
            assert_eq!(it.converged(), 2);
            assert!(it.matvecs <= full.matvecs);
            assert!((residual(&op, &it.values, &it.vectors) - it.max_residual).abs() < 1e-9);
            // sin of the largest principal angle: || (I - P_dense) X ||_2 <= Frobenius norm.
            let mut frob = 0.0;
            for j in 0..2 {
                let x = it.vector(j);
                let c: Vec<f64> = (0..2)
                    .map(|a| (0..n).map(|i| de.vectors[a * n + i] * x[i]).sum())
                    .collect();
                frob += (0..n)
                    .map(|i| (x[i] - c[0] * de.vectors[i] - c[1] * de.vectors[n + i]).powi(2))
                    .sum::<f64>();
            }
            assert!(
                frob.sqrt() <= eps,
                "eps {eps}: sin angle <= {}",
                frob.sqrt()
            );
        }
        let e = smallest_eigenpairs(&op, 2, &tight.clone().subspace_tol(Some(0.0)));
        assert!(e
            .unwrap_err()
            .to_string()
            .contains("EigenParams.subspace_tol"));
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
                )
                .unwrap();
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

    /// Random row-major `n x m` block with orthonormal columns (stored in `T`) and a random
    /// `n x b` block.
    fn basis_and_block<T: Basis>(n: usize, m: usize, b: usize, seed: u64) -> (Vec<T>, Vec<f64>) {
        let mut rng = rng_for(seed, 1);
        let raw: Vec<f64> = (0..n * m)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let (q, r) = svqb(raw, n, m);
        assert_eq!(r, m);
        let y: Vec<f64> = (0..n * b)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        (q.iter().map(|&x| T::of(x)).collect(), y)
    }

    fn check_orthogonalisation<T: Basis>(reorth: Option<f64>, limit: f64) {
        let (n, m, b) = (5000, 24, 3);
        let (v, y0) = basis_and_block::<T>(n, m, b, 7);
        // Make y nearly inside span(V) so the first pass cancels heavily.
        let mut y = y0.clone();
        for i in 0..n {
            for c in 0..b {
                let s: f64 = (0..m)
                    .map(|j| v[i * m + j].to64() * (j + c + 1) as f64)
                    .sum();
                y[i * b + c] = 1e-6 * y0[i * b + c] + s;
            }
        }
        let before = y.clone();
        let (coef, g) = orthogonalise_against(&mut y, &v, n, b, m, m, reorth);
        for c in 0..b {
            let norm = (0..n).map(|i| y[i * b + c].powi(2)).sum::<f64>().sqrt();
            // Orthogonal to V relative to the column's norm ...
            for j in 0..m {
                let d: f64 = (0..n).map(|i| v[i * m + j].to64() * y[i * b + c]).sum();
                assert!(d.abs() <= limit * norm, "{d} vs {norm}");
            }
            // ... the returned Gram matrix is that of the result ...
            assert!((g[(c, c)] - norm * norm).abs() <= 1e-10 * norm * norm);
            // ... and y_before = y_after + V coef.
            for i in (0..n).step_by(97) {
                let s: f64 = (0..m).map(|j| v[i * m + j].to64() * coef[(j, c)]).sum();
                assert!((before[i * b + c] - y[i * b + c] - s).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn gram_schmidt_leaves_no_component_along_the_basis() {
        // f64 basis: to working precision with the leftover test and with forced second passes.
        check_orthogonalisation::<f64>(Some(<f64 as Basis>::REORTH), 1e-11);
        check_orthogonalisation::<f64>(None, 1e-11);
        // f32 basis: to what the storage represents.
        check_orthogonalisation::<f32>(Some(<f32 as Basis>::REORTH), 1e-6);
    }

    #[test]
    fn f32_kernels_and_the_portable_fallback_agree() {
        // The AVX-512 kernels where the CPU has them, the faer fallback elsewhere: same values.
        let (n, m, b, stride) = (3000, 21, 4, 24);
        let mut rng = rng_for(9, 3);
        let v: Vec<f32> = (0..n * stride)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let y: Vec<f64> = (0..n * b)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let mut buf = Vec::new();
        let fast = <f32 as Basis>::project(&v, n, m, stride, &y, b, &mut buf);
        let slow = project_via_view(&v, n, m, stride, &y, b, &mut buf);
        let c = Mat::from_fn(m, b, |j, k| ((j * 7 + k) % 5) as f64 - 2.0);
        let (mut y1, mut y2) = (y.clone(), y.clone());
        <f32 as Basis>::subtract(&v, n, m, stride, &c, &mut y1, b, &mut buf);
        subtract_via_view(&v, n, m, stride, &c, &mut y2, b, &mut buf);
        for j in 0..m {
            for k in 0..b {
                assert!((fast[(j, k)] - slow[(j, k)]).abs() < 1e-9);
            }
        }
        for (a, b) in y1.iter().zip(&y2) {
            assert!((a - b).abs() < 1e-9);
        }
    }

    #[test]
    fn svqb_factors_orthonormalise_and_invert() {
        let (n, b) = (3000, 4);
        let mut rng = rng_for(3, 2);
        // Columns of very different scales and correlated.
        let mut y: Vec<f64> = (0..n * b)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        for row in y.chunks_exact_mut(b) {
            row[1] = 1e3 * (row[1] + 0.9 * row[0]);
            row[3] *= 1e-4;
        }
        let g = gram(&y, &y, n, b);
        let (s, s_inv, ratio) = svqb_factors(&g).expect("full rank");
        assert!(ratio > 0.0 && ratio <= 1.0);
        let mut q = vec![0.0f64; n * b];
        let gq = rotate_into(&y, &s, b, &mut q, true);
        let id = &s * &s_inv;
        for i in 0..b {
            for j in 0..b {
                let e = if i == j { 1.0 } else { 0.0 };
                assert!((gq[(i, j)] - e).abs() < 1e-10, "Q^T Q {i} {j}");
                assert!((id[(i, j)] - e).abs() < 1e-10, "S S^-1 {i} {j}");
            }
        }
        // A rank-deficient block is refused (the solver then takes the general route).
        for row in y.chunks_exact_mut(b) {
            row[2] = 2.0 * row[0];
        }
        assert!(svqb_factors(&gram(&y, &y, n, b)).is_none());
    }

    #[test]
    fn krylov_schur_is_reproducible_and_keeps_its_accuracy_in_both_precisions() {
        let h = HsbmParams::btsbm_log(3, 150, vec![3.0, 8.0, 14.0, 60.0], 5)
            .generate()
            .unwrap();
        let op = BetheHessian::standard(&h.graph);
        for precision in [BlockPrecision::Single, BlockPrecision::Double] {
            let params = EigenParams {
                dense_below: 0,
                precision,
                seed: 4,
                ..Default::default()
            };
            let a = smallest_eigenpairs(&op, 8, &params).unwrap();
            let b = smallest_eigenpairs(&op, 8, &params).unwrap();
            assert_eq!(a.values, b.values, "{precision:?}");
            assert_eq!(a.vectors, b.vectors, "{precision:?}");
            // The eigenvectors are orthonormal to what the storage holds.
            let n = op.dim();
            for i in 0..8 {
                for j in 0..=i {
                    let d: f64 = (0..n).map(|t| a.vector(i)[t] * a.vector(j)[t]).sum();
                    let e = if i == j { 1.0 } else { 0.0 };
                    assert!((d - e).abs() < 1e-5, "{precision:?} {i} {j} {d}");
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
