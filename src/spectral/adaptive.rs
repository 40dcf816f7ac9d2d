//! The adaptive per-eigenvector Bethe-Hessian embedding of Dall'Amico, Couillet & Tremblay ("A
//! unified framework for spectral clustering in sparse graphs", JMLR 22(217), 2021), the
//! clustering step of the bottom-up algorithm as the authors of Dreveton, Kuroda, Grossglauser &
//! Thiran (JASA 2026) run it (their `bethe_hessian.py`, `find_zeta`; paper spec §2.1 step 4).
//!
//! For each `i = K, K - 1, ..., 2` the regulariser `r_i` is the value at which the `i`-th
//! smallest eigenvalue of the Bethe Hessian `H(r) = (r^2 - 1) I + D - r A` is zero, and column
//! `i` of the embedding is the `i`-th eigenvector of `H(r_i)`. `r_i` is found by a fixed-point
//! iteration: with the `i` smallest eigenpairs `(S, X)` of `H(r)` and `M = X^T D X`, the
//! first-order identity `r X^T H(r') X = r' S + (r - r') M - (r - r')(1 + r r') I` turns
//! "`lambda_i(H(r')) = 0`" into a scalar equation in `r'` on `(1, r)`, solved by bisection on the
//! largest eigenvalue of the `i x i` matrix; `r <- r'` until `r` moves less than a tolerance.
//! Eigenvalues equal to `lambda_i` (a degenerate eigenspace) take their columns from the same
//! solve. As in the authors' code, column 1 (the first eigenvector) is not used.

use super::nonbacktracking::RhoResult;
use super::operators::BetheHessian;
use super::{smallest_eigenpairs, EigenParams};
use crate::error::{Error, Result};
use crate::graph::Graph;
use rayon::prelude::*;

// Deliberate same-shape pair with `atlas::BrickMass` (`cd src && duplicates`): a plain list of
// documented fields, nothing to share.
/// Result of [`adaptive_embedding`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AdaptiveEmbedding {
    /// Embedding, row-major `n x dim` (not row-normalised).
    pub rows: Vec<f64>,
    /// Columns of the embedding (`K - 1`, or `K` when a degenerate eigenspace reached column 1).
    pub dim: usize,
    /// The regulariser `r_i` of each eigenvector `i = 1..K` (`zeta[0]` is NaN when column 1
    /// is unused, as in the authors' code).
    pub zeta: Vec<f64>,
    /// Partial eigensolves run (fixed-point iterations summed over the columns).
    pub eigensolves: usize,
    /// Operator applications spent by the eigensolves.
    pub matvecs: usize,
    /// Largest eigen-residual over the columns kept.
    pub max_residual: f64,
    /// Whether every fixed-point iteration met its tolerance (not stopped by the cap).
    pub converged: bool,
}

/// Fixed-point iterations per column at most.
const MAX_ITER: usize = 30;

/// Tolerance on `r` of the fixed-point iteration: ten times the eigensolver's relative
/// tolerance (relative to `r`; at least 1e-10). The eigenvalues the iteration reads are only
/// that accurate, so a tighter tolerance on `r` would never be met (the authors' code, with
/// dense solves, uses machine epsilon).
fn r_tol(params: &EigenParams, r: f64) -> f64 {
    (10.0 * params.tol).max(1e-10) * r
}

/// The largest eigenvalue of a symmetric `i x i` matrix (column-major).
fn lambda_max(m: &[f64], i: usize) -> f64 {
    let mat = nalgebra::DMatrix::from_column_slice(i, i, m);
    nalgebra::SymmetricEigen::new(mat)
        .eigenvalues
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max)
}

/// `r'` in `(1, r)` with `lambda_max(r' S + (r - r') M) = (r - r')(1 + r r')`, by bisection
/// (the authors' `find_zeta` step): returns the upper end of the final bracket.
fn next_r(r: f64, s: &[f64], m: &[f64], i: usize, tol: f64) -> f64 {
    let f = |rp: f64| {
        let mut a: Vec<f64> = m.iter().map(|&x| (r - rp) * x).collect();
        for (j, &v) in s.iter().enumerate() {
            a[j * i + j] += rp * v;
        }
        lambda_max(&a, i) - (r - rp) * (1.0 + r * rp)
    };
    let (mut lo, mut hi) = (1.0, r);
    // 60 halvings take the bracket below 1e-17 r; stop earlier once it is below the tolerance.
    for _ in 0..60 {
        if hi - lo < 1e-3 * tol {
            break;
        }
        let mid = 0.5 * (lo + hi);
        if f(mid) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// The fixed point `r` of column `i` (see the module docs) from the start `r0`, with the `i`
/// smallest eigenpairs of `H(r)` at it.
pub(crate) struct FixedPoint {
    /// The regulariser at which the `i`-th eigenvalue of `H(r)` vanishes (to the tolerance).
    pub r: f64,
    /// The `i` smallest eigenpairs of `H(r)` from the last solve.
    pub eig: super::EigenResult,
    /// Partial eigensolves run.
    pub solves: usize,
    /// Operator applications spent by them.
    pub matvecs: usize,
    /// Whether `r` met its tolerance before [`MAX_ITER`] iterations.
    pub converged: bool,
}

/// The fixed-point iteration of column `i` from `r0` (`deg`: the weighted degrees of `g`).
///
/// # Errors
/// An eigensolve that did not converge its `i` pairs.
pub(crate) fn fixed_point(
    g: &Graph,
    deg: &[f64],
    i: usize,
    r0: f64,
    params: &EigenParams,
) -> Result<FixedPoint> {
    let n = g.n();
    let (mut r, mut solves, mut matvecs) = (r0, 0usize, 0usize);
    let mut iter = 0;
    loop {
        let eig = smallest_eigenpairs(&BetheHessian::new(g, r), i, params)?;
        solves += 1;
        matvecs += eig.matvecs;
        if eig.converged() < i {
            return Err(Error::param(
                "BottomUp.regulariser",
                format!(
                    "the adaptive Bethe-Hessian embedding: the eigensolver converged {} of {i} eigenpairs at r = {r}; try the fixed regulariser",
                    eig.converged()
                ),
            ));
        }
        // M = X^T D X (i x i, column-major).
        let x = &eig.vectors;
        let m: Vec<f64> = (0..i * i)
            .into_par_iter()
            .map(|ab| {
                let (a, b) = (ab % i, ab / i);
                let (xa, xb) = (&x[a * n..(a + 1) * n], &x[b * n..(b + 1) * n]);
                (0..n).map(|t| deg[t] * xa[t] * xb[t]).sum()
            })
            .collect();
        let tol = r_tol(params, r);
        let rn = next_r(r, &eig.values, &m, i, tol);
        let done = (r - rn).abs() < tol;
        r = rn;
        iter += 1;
        if done || iter >= MAX_ITER {
            return Ok(FixedPoint {
                r,
                eig,
                solves,
                matvecs,
                converged: done,
            });
        }
    }
}

/// The adaptive embedding for `k >= 2` communities, starting from `r = sqrt(rho)` with `rho`
/// the non-backtracking spectral radius ([`nonbacktracking_radius`](super::nonbacktracking::nonbacktracking_radius)).
///
/// Deviation from the authors' code, same fixed point: column `i` starts its iteration from
/// `r_{i+1}` rather than from `sqrt(rho)` again (`r_i <= r_{i+1}` because `lambda_i <=
/// lambda_{i+1}`, so the bracket `(1, r_{i+1})` still holds the root); it saves eigensolves.
///
/// # Complexity
/// For each of the `K - 1` columns a few (typically 2-5) partial eigensolves of `H(r)` for `i`
/// eigenpairs (block Krylov–Schur, see [`smallest_eigenpairs`]), plus O(n i^2) for `X^T D X`
/// and O(60 i^3) for the bisection; i.e. about `sum_i iterations(i) * cost(i eigenpairs)`,
/// roughly `K / 2` to `2K` times the one solve for `K` pairs of the fixed-`r` embedding.
/// Memory O(n K).
///
/// # Errors
/// `k < 2` or `k >= n`, `rho <= 1` (to 1e-8: a forest, no informative regulariser), or an eigensolve
/// that did not converge its `i` pairs.
pub fn adaptive_embedding(
    g: &Graph,
    k: usize,
    rho: &RhoResult,
    params: &EigenParams,
) -> Result<AdaptiveEmbedding> {
    let n = g.n();
    if k < 2 || k >= n {
        return Err(Error::param(
            "BottomUp.k",
            format!("the adaptive embedding needs 2 <= k < {n}, got {k}"),
        ));
    }
    // A forest's non-backtracking matrix is nilpotent; the Ihara–Bass linearisation still has
    // the eigenvalue 1, which the power iteration finds to its tolerance.
    informative_radius(rho.rho)?;
    let deg = g.degrees();
    let mut cols = vec![0.0; n * k]; // column-major n x k
    let mut filled = vec![false; k];
    let mut zeta = vec![f64::NAN; k];
    let (mut solves, mut matvecs, mut max_res, mut converged) = (0usize, 0usize, 0f64, true);
    let mut r = rho.rho.sqrt();
    let mut i = k;
    while i >= 2 {
        let fp = fixed_point(g, &deg, i, r, params)?;
        r = fp.r;
        solves += fp.solves;
        matvecs += fp.matvecs;
        converged &= fp.converged;
        let eig = fp.eig;
        max_res = max_res.max(eig.max_residual);
        let top = eig.values[i - 1];
        let tol = 1e-9 * (1.0 + top.abs());
        let g_deg = eig.values[..i]
            .iter()
            .filter(|&&v| (v - top).abs() <= tol)
            .count()
            .max(1);
        for c in i - g_deg..i {
            cols[c * n..(c + 1) * n].copy_from_slice(&eig.vectors[c * n..(c + 1) * n]);
            filled[c] = true;
            zeta[c] = r;
        }
        i -= g_deg;
    }
    let used: Vec<usize> = (0..k).filter(|&c| filled[c]).collect();
    let dim = used.len();
    let mut rows = vec![0.0; n * dim];
    rows.par_chunks_mut(dim).enumerate().for_each(|(t, row)| {
        for (o, &c) in row.iter_mut().zip(&used) {
            *o = cols[c * n + t];
        }
    });
    Ok(AdaptiveEmbedding {
        rows,
        dim,
        zeta,
        eigensolves: solves,
        matvecs,
        max_residual: max_res,
        converged,
    })
}

/// An error naming `BottomUp.regulariser` unless the non-backtracking spectral radius `rho`
/// exceeds 1 (a forest's is 1 to the power iteration's tolerance): the regularisers that start
/// from `sqrt(rho)` need it.
pub(crate) fn informative_radius(rho: f64) -> Result<()> {
    if rho.is_nan() || rho <= 1.0 + 1e-8 {
        return Err(Error::param(
            "BottomUp.regulariser",
            format!(
                "the non-backtracking spectral radius is {rho} (<= 1): the graph has no informative Bethe-Hessian regulariser; use the fixed regulariser"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spectral::nonbacktracking::nonbacktracking_radius;
    use crate::spectral::{dense_smallest_eigenpairs, LinearOperator};

    /// Each `zeta_i` is where the `i`-th smallest eigenvalue of `H(r)` vanishes (checked with a
    /// dense solve), `1 < zeta_i <= sqrt(rho)`, non-decreasing in `i`, and the columns are
    /// the eigenvectors of `H(zeta_i)` (residual small).
    #[test]
    fn zeta_zeroes_the_ith_eigenvalue() {
        let h = crate::hsbm::test_btsbm(2, 60, &[1.5, 4.0, 14.0], 9);
        let g = &h.graph;
        let rho = nonbacktracking_radius(g, 1e-10, 100_000, 1).unwrap();
        let params = EigenParams::default().tol(1e-9);
        let emb = adaptive_embedding(g, 4, &rho, &params).unwrap();
        assert!(emb.converged, "{emb:?}");
        assert_eq!(emb.dim, 3);
        assert!(emb.zeta[0].is_nan());
        for i in 1..4 {
            let z = emb.zeta[i];
            assert!(z > 1.0 && z <= rho.rho.sqrt() + 1e-12, "{:?}", emb.zeta);
            let d = dense_smallest_eigenpairs(&BetheHessian::new(g, z), i + 1);
            assert!(d.values[i].abs() < 1e-5, "i = {i}: {:?}", d.values);
            // The stored column is an eigenvector of H(zeta_i) for an eigenvalue near 0.
            let col: Vec<f64> = (0..g.n()).map(|t| emb.rows[t * 3 + i - 1]).collect();
            let mut hv = vec![0.0; g.n()];
            BetheHessian::new(g, z).apply(&col, &mut hv);
            let res = hv.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!(res < 1e-3, "i = {i}: residual {res}");
        }
        assert!(emb.zeta[1] <= emb.zeta[2] + 1e-9 && emb.zeta[2] <= emb.zeta[3] + 1e-9);
    }

    #[test]
    fn bad_k_and_forests_are_errors() {
        let h = crate::hsbm::test_btsbm(1, 30, &[2.0, 10.0], 3);
        let rho = nonbacktracking_radius(&h.graph, 1e-10, 100_000, 1).unwrap();
        let p = EigenParams::default();
        assert!(adaptive_embedding(&h.graph, 1, &rho, &p).is_err());
        let tree = RhoResult { rho: 1.0, ..rho };
        assert!(adaptive_embedding(&h.graph, 2, &tree, &p)
            .unwrap_err()
            .to_string()
            .contains("fixed regulariser"));
    }
}
