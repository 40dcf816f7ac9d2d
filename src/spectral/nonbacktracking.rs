//! The non-backtracking spectral radius and the authors' estimate of the number of communities
//! (Dall'Amico, Couillet & Tremblay, JMLR 2021, as used by Dreveton, Kuroda, Grossglauser &
//! Thiran, JASA 2026; paper spec §2.1 steps 2-3).
//!
//! The spectral radius `rho` of the non-backtracking matrix is the largest eigenvalue of its
//! Ihara–Bass linearisation, the `2N x 2N` matrix `M = [[A, I - D], [I, 0]]`: `M [x; y] =
//! [A x + (I - D) y; x]`. `M` is applied matrix-free (one sparse product per application) and
//! never stored. `rho` is found by shifted power iteration on `M + s I` (the shift separates
//! `rho` from `-rho`, which bipartite graphs also have), stopped on the residual of the
//! eigenpair.
//!
//! K is then the number of eigenvalues of
//! `L_rho = (D + (rho - 1) I)^(-1/2) A (D + (rho - 1) I)^(-1/2)` above `1 / sqrt(rho)`; the
//! number of negative eigenvalues of the Bethe Hessian `H(sqrt(rho))` is the same count
//! (`H(r) = (r^2 - 1) I + D - r A` is congruent to `(D + (r^2 - 1) I)^(1/2) (I - r L) (..)^(1/2)`,
//! so by Sylvester's law of inertia it has as many negative eigenvalues as `L_{r^2}` has above
//! `1 / r`), which [`estimate_k_nonbacktracking`] checks. [`k_at_radius`] counts the second
//! way, the count [`BottomUp`](crate::hierarchy::BottomUp) uses by default.
//!
//! # Cost (measured on the shared 2-core machine, issue 16)
//! - UCTE power grid (2,783 nodes, 3,762 edges): `rho = 3.3289` in 1,419 power iterations,
//!   0.04 s; the count ([`k_at_radius`], dense `L B L^T` inertia) 0.6 s; the default bottom-up
//!   fit with K estimated 4-5.5 s against 4-6.7 s for the Bethe-Hessian estimate (both
//!   dominated by the dense decomposition for the K eigenvectors).
//! - 200,000-node BTSBM (4,984,419 edges): `rho = 49.844` in 143 iterations, 1.4 s (3.0 s
//!   before unit-weight graphs skipped reading the weights); the fit with K estimated 57.5 s
//!   against 53.9 s for the Bethe-Hessian estimate (both dominated by the counting solve, the
//!   last batch converging 64 pairs); with K given no radius is computed.
//!
//! Not used, measured: `rho` is also the largest `r` at which `H(r)` is singular (Ihara–Bass;
//! `H(r)` is positive definite above it), so a root search on the smallest eigenvalue of the
//! symmetric `H(r)` finds it: with the Rayleigh update `r <- ` the larger root of
//! `v^T H(r) v = 0` for the lowest eigenvector `v` of `H(r)` it converges quadratically
//! (4 eigensolves on the power grid, 2 on the BTSBM) to the same `rho` (to 1e-12). It is not
//! faster everywhere: 0.10 s (846 products of `H`; 0.05 s warm-started) against 0.06 s on the
//! power grid, 0.18-0.38 s against 0.13 s on a 20,000-node random geometric graph of mean
//! degree 3, 1.4 s against 3.2 s (before the unit-weight pass) on the BTSBM.

use super::operators::{BetheHessian, LinearOperator};
use super::{count_eigenvalues_below, EigenParams};
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::util::rng_for;
use rand::Rng as _;
use rayon::prelude::*;

/// Result of [`nonbacktracking_radius`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RhoResult {
    /// The spectral radius `rho` of the non-backtracking matrix.
    pub rho: f64,
    /// Applications of the `2N x 2N` operator.
    pub iterations: usize,
    /// Relative residual `||M v - rho v|| / (rho ||v||)` at the end.
    pub residual: f64,
    /// Whether the residual fell below the tolerance.
    pub converged: bool,
}

/// `[x; y] -> [A x + (I - D) y; x]` on the stacked `2N` vector. `unit`: every weight is 1
/// (the weights are then not read: the pass is bound by memory traffic, and the weights are 8 of
/// the 12 bytes per stored entry).
fn apply_ihara_bass(g: &Graph, unit: bool, deg: &[f64], v: &[f64], out: &mut [f64]) {
    let n = g.n();
    let (x, y) = v.split_at(n);
    let (ox, oy) = out.split_at_mut(n);
    let row = |(i, o): (usize, &mut f64)| {
        let (nb, w) = g.neighbors(i);
        let ax: f64 = if unit {
            nb.iter().map(|&j| x[j as usize]).sum()
        } else {
            nb.iter().zip(w).map(|(&j, &wij)| wij * x[j as usize]).sum()
        };
        *o = ax + (1.0 - deg[i]) * y[i];
    };
    if n >= PAR_MIN {
        ox.par_iter_mut().enumerate().for_each(row);
    } else {
        ox.iter_mut().enumerate().for_each(row);
    }
    oy.copy_from_slice(x);
}

/// Below this many nodes the power iteration runs on one thread (a product then costs
/// microseconds, less than waking the thread pool).
const PAR_MIN: usize = 50_000;

/// Entries per partial sum of [`pair_sum`]: fixed chunks summed in order make the result the
/// same for any number of threads.
const DOT_CHUNK: usize = 16_384;

/// `sum_i f(a_i, b_i)`, parallel above [`PAR_MIN`] entries, in fixed chunks.
fn pair_sum(a: &[f64], b: &[f64], f: impl Fn(f64, f64) -> f64 + Sync) -> f64 {
    let part = |(x, y): (&[f64], &[f64])| x.iter().zip(y).map(|(&p, &q)| f(p, q)).sum::<f64>();
    if a.len() >= PAR_MIN {
        let parts: Vec<f64> = a
            .par_chunks(DOT_CHUNK)
            .zip(b.par_chunks(DOT_CHUNK))
            .map(part)
            .collect();
        parts.iter().sum()
    } else {
        a.chunks(DOT_CHUNK).zip(b.chunks(DOT_CHUNK)).map(part).sum()
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    pair_sum(a, b, |p, q| p * q)
}

/// Spectral radius of the non-backtracking matrix of `g` (weighted adjacency and degrees when
/// the graph is weighted, as the authors' code does) by shifted power iteration on the
/// Ihara–Bass linearisation, to relative residual `tol`.
///
/// # Complexity
/// O(N + M) per iteration (one sparse product; the weights are not read when all are 1),
/// O(N) memory (two vectors of `2N`); the iteration count grows like
/// `1 / ln((rho + s) / |lambda_2 + s|)` with `s = 1` and `lambda_2` the next eigenvalue: 1,419
/// iterations (0.04 s) on the UCTE power grid, 143 (1.4 s) on a 200,000-node BTSBM with
/// 5 million edges (module docs).
///
/// # Errors
/// A graph without edges.
pub fn nonbacktracking_radius(
    g: &Graph,
    tol: f64,
    max_iter: usize,
    seed: u64,
) -> Result<RhoResult> {
    let n = g.n();
    if n == 0 || g.num_edges() == 0 {
        return Err(Error::Input(
            "the non-backtracking radius needs a graph with edges".into(),
        ));
    }
    let deg = g.degrees();
    let unit = g.adjacency().data().iter().all(|&w| w == 1.0);
    let shift = 1.0;
    let mut rng = rng_for(seed, 0x4e42);
    let mut v: Vec<f64> = (0..2 * n).map(|_| 0.5 + rng.random::<f64>()).collect();
    let mut mv = vec![0.0; 2 * n];
    let norm = |v: &[f64]| dot(v, v).sqrt();
    let nv = norm(&v);
    v.iter_mut().for_each(|x| *x /= nv);
    let mut rho = 0.0;
    let mut residual = f64::INFINITY;
    for it in 1..=max_iter {
        apply_ihara_bass(g, unit, &deg, &v, &mut mv);
        // Rayleigh quotient of the unshifted operator (v has unit norm) and its residual.
        let q = dot(&v, &mv);
        let r2 = pair_sum(&v, &mv, |a, b| (b - q * a) * (b - q * a));
        rho = q;
        residual = r2.sqrt() / q.abs().max(f64::MIN_POSITIVE);
        if residual < tol {
            return Ok(RhoResult {
                rho,
                iterations: it,
                residual,
                converged: true,
            });
        }
        // v <- (M + s I) v, normalised.
        mv.iter_mut().zip(&v).for_each(|(m, x)| *m += shift * x);
        let nm = norm(&mv);
        if !(nm > 0.0 && nm.is_finite()) {
            break;
        }
        v.iter_mut().zip(&mv).for_each(|(x, m)| *x = m / nm);
    }
    Ok(RhoResult {
        rho,
        iterations: max_iter,
        residual,
        converged: false,
    })
}

/// `-L_rho = -(D + (rho - 1) I)^(-1/2) A (D + (rho - 1) I)^(-1/2)` as a symmetric operator
/// (negated so that the largest eigenvalues of `L_rho` are the smallest of the operator).
pub struct NegLRho<'a> {
    graph: &'a Graph,
    scale: Vec<f64>,
}

impl<'a> NegLRho<'a> {
    /// The operator for a given `rho > 1`.
    pub fn new(graph: &'a Graph, rho: f64) -> Self {
        let scale = graph
            .degrees()
            .iter()
            .map(|&d| 1.0 / (d + rho - 1.0).max(f64::MIN_POSITIVE).sqrt())
            .collect();
        NegLRho { graph, scale }
    }
}

impl LinearOperator for NegLRho<'_> {
    fn dim(&self) -> usize {
        self.graph.n()
    }
    fn apply(&self, x: &[f64], y: &mut [f64]) {
        let s = &self.scale;
        y.par_iter_mut().enumerate().for_each(|(i, o)| {
            let (nb, w) = self.graph.neighbors(i);
            let ax: f64 = nb
                .iter()
                .zip(w)
                .map(|(&j, &wij)| wij * s[j as usize] * x[j as usize])
                .sum();
            *o = -s[i] * ax;
        });
    }
}

/// Result of [`estimate_k_nonbacktracking`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct NbEstimate {
    /// Non-backtracking spectral radius.
    pub rho: RhoResult,
    /// Number of eigenvalues of `L_rho` above `1 / sqrt(rho)` (at least 1, at most `k_max`).
    pub k_lrho: usize,
    /// Number of negative eigenvalues of `H(sqrt(rho))` (at least 1, at most `k_max`).
    pub k_bethe: usize,
    /// Whether the eigensolvers converged.
    pub converged: bool,
}

/// The authors' estimate of K (paper spec §2.1 step 3): the number of informative eigenvalues
/// of `L_rho`, i.e. those above `1 / sqrt(rho)` (machine epsilon added, as in their code),
/// capped at `k_max`; and, as a check, the number of negative eigenvalues of `H(sqrt(rho))`.
/// The two counts are equal in exact arithmetic (module docs); they can differ only for an
/// eigenvalue within rounding of the threshold.
///
/// # Complexity
/// The power iteration of [`nonbacktracking_radius`], then two counts
/// ([`count_eigenvalues_below`]: dense `L B L^T` inertia up to 3,000 nodes, else partial
/// eigensolves in growing batches of 16, 32, ... eigenpairs); the `L_rho` one is the slower
/// (no fused block product). [`k_at_radius`] is the second count alone.
pub fn estimate_k_nonbacktracking(
    g: &Graph,
    k_max: usize,
    params: &EigenParams,
) -> Result<NbEstimate> {
    let rho = nonbacktracking_radius(g, 1e-10, 100_000, params.seed)?;
    estimate_k_with_radius(g, rho, k_max, params)
}

/// [`estimate_k_nonbacktracking`] for a radius already computed by [`nonbacktracking_radius`].
pub fn estimate_k_with_radius(
    g: &Graph,
    rho: RhoResult,
    k_max: usize,
    params: &EigenParams,
) -> Result<NbEstimate> {
    let cap = k_max.min(g.n().saturating_sub(1)).max(1);
    let r = rho.rho.max(1.0);
    let (k_lrho, ok1) = count_eigenvalues_below(
        &NegLRho::new(g, r),
        -(1.0 / r.sqrt() + f64::EPSILON),
        cap,
        params,
    )?;
    let (k_bethe, ok2) = k_at_radius(g, rho.rho, k_max, params)?;
    Ok(NbEstimate {
        rho,
        k_lrho,
        k_bethe,
        converged: rho.converged && ok1 && ok2,
    })
}

/// The authors' K for a radius `rho` counted the fast way: the number of negative eigenvalues of
/// the Bethe Hessian `H(sqrt(rho))`, clamped to `1..=min(k_max, n - 1)`. It equals the number of
/// eigenvalues of `L_rho` above `1 / sqrt(rho)` (Sylvester's law of inertia, module docs;
/// [`estimate_k_with_radius`] computes both), and it is the count
/// [`KEstimate::NonBacktracking`](crate::hierarchy::KEstimate::NonBacktracking) uses: the Bethe
/// Hessian has the solver's fused block products (`L_rho` falls back to one column at a time:
/// both counts took 182 s on the 200,000-node BTSBM, this one alone 50 s), and up to 3,000
/// nodes an `L B L^T` inertia replaces the eigenvalue decomposition (0.6 s against 2.9 s on the
/// power grid).
///
/// # Returns
/// `(K, converged)`; `converged` is false when an eigensolve stopped before converging.
///
/// # Complexity
/// [`count_eigenvalues_below`]: a dense `L B L^T` factorisation up to 3,000 nodes (O(n^3 / 3)),
/// else partial eigensolves of `H(sqrt(rho))` in growing batches (16, 32, ...).
///
/// # Errors
/// As [`smallest_eigenpairs`](super::smallest_eigenpairs).
pub fn k_at_radius(
    g: &Graph,
    rho: f64,
    k_max: usize,
    params: &EigenParams,
) -> Result<(usize, bool)> {
    let cap = k_max.min(g.n().saturating_sub(1)).max(1);
    let r = rho.max(1.0).sqrt();
    count_eigenvalues_below(&BetheHessian::new(g, r), 0.0, cap, params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Duplicates;

    fn graph(n: usize, edges: &[(u32, u32)]) -> Graph {
        let e: Vec<(u32, u32, f64)> = edges.iter().map(|&(a, b)| (a, b, 1.0)).collect();
        Graph::from_edges(n, &e, Duplicates::One).unwrap()
    }

    /// On a d-regular graph the non-backtracking radius is d - 1; on a cycle (bipartite when
    /// even) it is 1 with eigenvalue -1 as well; on a complete bipartite graph K_{a,b} it is
    /// sqrt((a - 1)(b - 1)).
    #[test]
    fn radius_of_known_graphs() {
        // Petersen graph: 3-regular.
        let pet = graph(
            10,
            &[
                (0, 1),
                (1, 2),
                (2, 3),
                (3, 4),
                (4, 0),
                (0, 5),
                (1, 6),
                (2, 7),
                (3, 8),
                (4, 9),
                (5, 7),
                (7, 9),
                (9, 6),
                (6, 8),
                (8, 5),
            ],
        );
        let r = nonbacktracking_radius(&pet, 1e-10, 100_000, 1).unwrap();
        assert!(r.converged && (r.rho - 2.0).abs() < 1e-8, "{r:?}");
        // K_{3,5}: bipartite, rho = sqrt(2 * 4).
        let mut e = Vec::new();
        for a in 0..3u32 {
            for b in 3..8u32 {
                e.push((a, b));
            }
        }
        let r = nonbacktracking_radius(&graph(8, &e), 1e-10, 100_000, 2).unwrap();
        assert!(r.converged && (r.rho - 8f64.sqrt()).abs() < 1e-8, "{r:?}");
    }

    /// Against the dense 2N x 2N matrix: rho equals its largest eigenvalue modulus, and the two
    /// K counts agree, on random sparse graphs.
    #[test]
    fn radius_matches_dense_linearisation_and_counts_agree() {
        let mut rng = rng_for(7, 7);
        for case in 0..6 {
            let n = 60 + 20 * case;
            let mut e = Vec::new();
            // Two planted blocks so that K = 2 is informative.
            for i in 0..n as u32 {
                for j in i + 1..n as u32 {
                    let same = (i as usize) < n / 2 && (j as usize) < n / 2
                        || (i as usize) >= n / 2 && (j as usize) >= n / 2;
                    let p = if same {
                        12.0 / n as f64
                    } else {
                        1.5 / n as f64
                    };
                    if rng.random::<f64>() < p {
                        e.push((i, j));
                    }
                }
            }
            let g = graph(n, &e);
            let deg = g.degrees();
            let mut m = nalgebra::DMatrix::<f64>::zeros(2 * n, 2 * n);
            for i in 0..n {
                let (nb, _) = g.neighbors(i);
                for &j in nb {
                    m[(i, j as usize)] = 1.0;
                }
                m[(i, n + i)] = 1.0 - deg[i];
                m[(n + i, i)] = 1.0;
            }
            let dense = m
                .complex_eigenvalues()
                .iter()
                .map(|z| z.norm())
                .fold(0.0, f64::max);
            let r = nonbacktracking_radius(&g, 1e-11, 200_000, case as u64).unwrap();
            assert!(r.converged, "{r:?}");
            assert!(
                (r.rho - dense).abs() < 1e-6 * dense,
                "n={n}: {} vs {dense}",
                r.rho
            );
            let est = estimate_k_nonbacktracking(&g, 100, &EigenParams::default()).unwrap();
            assert_eq!(est.k_lrho, est.k_bethe, "n={n}");
            assert!(est.k_lrho >= 2, "n={n}: {est:?}");
        }
    }
}
