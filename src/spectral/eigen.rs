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
            tol: 1e-8,
            max_restarts: 300,
            dense_below: 400,
            seed: 0,
        }
    }
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
        let a: f64 = w.iter().zip(&v).map(|(x, y)| x * y).sum();
        alpha.push(a);
        // Full reorthogonalisation (twice is enough).
        basis.push(v.clone());
        for _ in 0..2 {
            for b in &basis {
                let c: f64 = w.iter().zip(b).map(|(x, y)| x * y).sum();
                w.iter_mut().zip(b).for_each(|(x, y)| *x -= c * y);
            }
        }
        let nb = w.iter().map(|x| x * x).sum::<f64>().sqrt();
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
fn svqb(y: &[f64], n: usize, b: usize) -> (Vec<f64>, usize) {
    // Two passes (like CholeskyQR2): the second removes the loss of orthogonality that the
    // Gram matrix's squared condition number causes in the first.
    let (z, b1) = svqb_once(y, n, b);
    svqb_once(&z, n, b1)
}

fn svqb_once(y: &[f64], n: usize, b: usize) -> (Vec<f64>, usize) {
    // Scale columns to unit norm first (SVQB's D^{-1/2} G D^{-1/2}).
    let mut norms = vec![0.0f64; b];
    for row in y.chunks_exact(b) {
        norms.iter_mut().zip(row).for_each(|(s, v)| *s += v * v);
    }
    let inv: Vec<f64> = norms
        .iter()
        .map(|&s| if s > 0.0 { 1.0 / s.sqrt() } else { 0.0 })
        .collect();
    let y: Vec<f64> = y
        .par_chunks(b)
        .flat_map_iter(|row| row.iter().zip(&inv).map(|(v, s)| v * s).collect::<Vec<_>>())
        .collect();
    let y = &y[..];
    let g = gram(y, y, n, b);
    let g = Mat::from_fn(b, b, |i, j| 0.5 * (g[(i, j)] + g[(j, i)]));
    let Ok(evd) = g.self_adjoint_eigen(faer::Side::Lower) else {
        return (y.to_vec(), b);
    };
    let (u, l) = (evd.U(), evd.S());
    let lmax = (0..b).map(|j| l[j]).fold(0.0f64, f64::max);
    let keep: Vec<usize> = (0..b)
        .filter(|&j| l[j] > 1e-14 * lmax && l[j] > 0.0)
        .collect();
    let t = Mat::from_fn(b, keep.len(), |i, c| u[(i, keep[c])] / l[keep[c]].sqrt());
    let out = block_times(y, n, b, &t);
    (out, keep.len())
}

/// Rayleigh–Ritz on an orthonormal block `z` (`n x b`): Ritz values ascending, Ritz vectors
/// `X = Z Q` and `AX = (A Z) Q`.
fn rayleigh_ritz(
    op: &dyn LinearOperator,
    z: &[f64],
    n: usize,
    b: usize,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut az = vec![0.0; n * b];
    op.apply_block(z, &mut az, b);
    let h = gram(z, &az, n, b);
    let h = Mat::from_fn(b, b, |i, j| 0.5 * (h[(i, j)] + h[(j, i)]));
    let evd = h
        .self_adjoint_eigen(faer::Side::Lower)
        .expect("small symmetric eigenproblem");
    let q = evd.U().to_owned();
    let theta = (0..b).map(|j| evd.S()[j]).collect();
    (theta, block_times(z, n, b, &q), block_times(&az, n, b, &q))
}

/// Remove from the row-major block `y` (`n x b`) its components along the orthonormal locked
/// vectors `v` (`n x l`, row-major): `y <- y - V (V^T y)`, twice.
fn project_out(y: &mut [f64], v: &[f64], n: usize, b: usize, l: usize) {
    project_out_passes(y, v, n, b, l, 2)
}

fn project_out_passes(y: &mut [f64], v: &[f64], n: usize, b: usize, l: usize, passes: usize) {
    if l == 0 || b == 0 {
        return;
    }
    for _ in 0..passes {
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

/// Chebyshev-filtered subspace iteration with locking for the `k` smallest eigenpairs.
///
/// Each outer iteration filters the active (unconverged) block with a Chebyshev polynomial of
/// the degree that keeps the amplification of its lowest Ritz value below 1e10 (so that the
/// block stays numerically independent), projects out the locked vectors, orthonormalises
/// (SVQB, refilling lost columns with random ones) and applies Rayleigh–Ritz. Converged Ritz
/// pairs are locked in ascending order.
fn chebyshev_subspace(op: &dyn LinearOperator, k: usize, params: &EigenParams) -> EigenResult {
    let n = op.dim();
    let b = (k + (k / 2).max(8)).min(n);
    let (lo, hi) = extreme_ritz_values(op, 40, params.seed);
    let spread = (hi - lo).max(1e-300);
    // Lanczos Ritz values lie inside the spectrum: pad the top so that it is damped too.
    let upper = hi + 0.02 * spread;
    let scale = hi.abs().max(lo.abs()).max(1e-300);
    let tol = params.tol * scale;
    let mut matvecs = 40usize;
    let mut rng = rng_for(params.seed, 0xC4EB);
    let mut random_block = |cols: usize| -> Vec<f64> {
        (0..n * cols)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect()
    };
    // Locked pairs (row-major n x l) and the active block.
    let mut locked_vals: Vec<f64> = Vec::new();
    let mut locked: Vec<f64> = Vec::new();
    let start = random_block(b);
    let mut ba = b;
    let (z, nb) = svqb(&start, n, ba);
    ba = nb;
    let (mut theta, mut x, mut ax) = rayleigh_ritz(op, &z, n, ba);
    matvecs += ba;
    let mut cut = f64::INFINITY;
    for _iter in 0..params.max_restarts.max(1) {
        let nl = locked_vals.len();
        let res = column_residuals(&x, &ax, &theta, n, ba);
        // Lock the converged prefix (ascending Ritz values) of the still-wanted pairs.
        let want = k - nl;
        let newly = res.iter().take(want).take_while(|&&r| r <= tol).count();
        if newly > 0 {
            let nl2 = nl + newly;
            let mut nlocked = vec![0.0; n * nl2];
            for i in 0..n {
                nlocked[i * nl2..i * nl2 + nl].copy_from_slice(&locked[i * nl..(i + 1) * nl]);
                nlocked[i * nl2 + nl..(i + 1) * nl2].copy_from_slice(&x[i * ba..i * ba + newly]);
            }
            locked = nlocked;
            locked_vals.extend_from_slice(&theta[..newly]);
            // Drop the locked columns from the active block.
            let rest = ba - newly;
            let keep = |m: &[f64]| -> Vec<f64> {
                let mut o = Vec::with_capacity(n * rest);
                for i in 0..n {
                    o.extend_from_slice(&m[i * ba + newly..(i + 1) * ba]);
                }
                o
            };
            x = keep(&x);
            ax = keep(&ax);
            theta.drain(..newly);
            ba = rest;
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
        let low = theta[0].min(a - 1e-6 * spread);
        let t0 = ((c - low) / e).max(1.0 + 1e-12);
        let degree = ((23.0 / t0.acosh()).floor() as usize).clamp(2, 40);
        let mut sigma = e / (low - c);
        let tau = 2.0 / sigma;
        let mut y_prev = x;
        let mut y: Vec<f64> = ax
            .par_iter()
            .zip(y_prev.par_iter())
            .map(|(av, xv)| (av - c * xv) * sigma / e)
            .collect();
        project_out_passes(&mut y, &locked, n, ba, nl, 1);
        drop(ax);
        let mut ay = vec![0.0; n * ba];
        for _ in 1..degree {
            let s_new = 1.0 / (tau - sigma);
            op.apply_block(&y, &mut ay, ba);
            matvecs += ba;
            let f1 = 2.0 * s_new / e;
            let f2 = sigma * s_new;
            y_prev
                .par_iter_mut()
                .zip(ay.par_iter())
                .zip(y.par_iter())
                .for_each(|((p, av), yv)| {
                    *p = (av - c * yv) * f1 - f2 * *p;
                });
            std::mem::swap(&mut y, &mut y_prev);
            // Keep locked directions out of the recurrence: their (far lower) eigenvalues
            // would otherwise amplify rounding errors beyond recovery.
            project_out_passes(&mut y, &locked, n, ba, nl, 1);
            sigma = s_new;
        }
        drop(ay);
        drop(y_prev);
        // Keep the block size: top up with random directions if the filter made it deficient.
        project_out(&mut y, &locked, n, ba, nl);
        let (mut z, mut nb) = svqb(&y, n, ba);
        drop(y);
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
            let o = svqb(&merged, n, ba);
            z = o.0;
            nb = o.1;
        }
        ba = nb;
        let rr = rayleigh_ritz(op, &z, n, ba);
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
    let mut vectors = vec![0.0; n * nl];
    for (c, &j) in order.iter().enumerate() {
        for i in 0..n {
            vectors[c * n + i] = locked[i * lw + j];
        }
    }
    let max_residual = residual(op, &values, &vectors);
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
