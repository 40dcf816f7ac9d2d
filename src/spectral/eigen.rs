//! Partial symmetric eigensolver for the few smallest eigenpairs of a [`LinearOperator`].
//!
//! Large problems: faer's Krylov–Schur (thick-restart Lanczos) `partial_self_adjoint_eigen` on
//! the shifted operator `sigma I - Op`, with `sigma` an estimate of the top of the spectrum from
//! a short Lanczos run, so that the wanted low end becomes the largest in magnitude. Small
//! problems: dense symmetric eigendecomposition (nalgebra). Residuals `||Op v - lambda v||` are
//! computed and returned, and fewer converged pairs than requested is reported, not hidden.

use super::operators::{LinearOperator, Shifted};
use crate::util::rng_for;
use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::matrix_free::eigen::{
    partial_self_adjoint_eigen, partial_self_adjoint_eigen_scratch, PartialEigenParams,
};
use faer::matrix_free::LinOp;
use faer::reborrow::ReborrowMut;
use faer::{Mat, MatMut, MatRef, Par};
use rand_distr::{Distribution, StandardNormal};

/// Parameters of [`smallest_eigenpairs`].
#[derive(Debug, Clone)]
pub struct EigenParams {
    /// Residual tolerance relative to the spectral scale `max |lambda|`.
    pub tol: f64,
    /// Maximum Krylov–Schur restarts.
    pub max_restarts: usize,
    /// Problems with at most this many rows (or with `n <= 4k + 64`) are solved densely.
    pub dense_below: usize,
    /// Seed of the random start vector.
    pub seed: u64,
}

impl Default for EigenParams {
    fn default() -> Self {
        EigenParams {
            tol: 1e-9,
            max_restarts: 2000,
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

struct FaerOp<'a> {
    op: &'a dyn LinearOperator,
    count: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for FaerOp<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FaerOp(n = {})", self.op.dim())
    }
}

impl LinOp<f64> for FaerOp<'_> {
    fn apply_scratch(&self, _rhs_ncols: usize, _par: Par) -> StackReq {
        StackReq::EMPTY
    }
    fn nrows(&self) -> usize {
        self.op.dim()
    }
    fn ncols(&self) -> usize {
        self.op.dim()
    }
    fn apply(&self, out: MatMut<'_, f64>, rhs: MatRef<'_, f64>, _par: Par, _stack: &mut MemStack) {
        let n = self.op.dim();
        let mut out = out;
        let mut x = vec![0.0; n];
        let mut y = vec![0.0; n];
        for j in 0..rhs.ncols() {
            let col = rhs.col(j);
            for i in 0..n {
                x[i] = col[i];
            }
            self.op.apply(&x, &mut y);
            self.count
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut oc = out.rb_mut().col_mut(j);
            for i in 0..n {
                oc[i] = y[i];
            }
        }
    }
    fn conj_apply(
        &self,
        out: MatMut<'_, f64>,
        rhs: MatRef<'_, f64>,
        par: Par,
        stack: &mut MemStack,
    ) {
        self.apply(out, rhs, par, stack)
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
    let (lo, hi) = extreme_ritz_values(op, 40, params.seed);
    let spread = (hi - lo).max(1e-300);
    let sigma = hi + 0.01 * spread;
    let shifted = Shifted { op, sigma };
    let fop = FaerOp {
        op: &shifted,
        count: Default::default(),
    };
    let par = Par::rayon(0);
    let eparams = PartialEigenParams {
        max_restarts: params.max_restarts,
        ..Default::default()
    };
    let mut mem = MemBuffer::new(partial_self_adjoint_eigen_scratch(&fop, k, par, eparams));
    let stack = MemStack::new(&mut mem);
    let v0 = random_unit(n, params.seed, 0x5EED);
    let v0 = Mat::from_fn(n, 1, |i, _| v0[i]);
    let mut vecs = Mat::<f64>::zeros(n, k);
    let mut vals = vec![0.0f64; k];
    let scale = hi.abs().max(lo.abs()).max(sigma.abs()).max(1e-300);
    let info = partial_self_adjoint_eigen(
        vecs.as_mut(),
        &mut vals,
        &fop,
        v0.col(0),
        params.tol * scale,
        par,
        stack,
        eparams,
    );
    let got = info.n_converged_eigen.min(k);
    let mut pairs: Vec<(f64, usize)> = (0..got).map(|j| (sigma - vals[j], j)).collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut values = Vec::with_capacity(got);
    let mut vectors = Vec::with_capacity(n * got);
    for &(lam, j) in &pairs {
        values.push(lam);
        let c = vecs.col(j);
        let norm = (0..n).map(|i| c[i] * c[i]).sum::<f64>().sqrt().max(1e-300);
        vectors.extend((0..n).map(|i| c[i] / norm));
    }
    let matvecs = fop.count.load(std::sync::atomic::Ordering::Relaxed);
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
