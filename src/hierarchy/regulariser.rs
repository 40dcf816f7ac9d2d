//! The two choices of the bottom-up clustering step that the authors of Dreveton, Kuroda,
//! Grossglauser & Thiran (JASA 2026) make differently from the standard Bethe Hessian: how K is
//! estimated and which regulariser `r` the embedding uses (paper spec §2.1 steps 2-4, after
//! Dall'Amico, Couillet & Tremblay, JMLR 2021).

use super::bottom_up::{cluster_rows, embedding_rows, spectral_communities, SpectralInfo};
use super::Stage;
use crate::error::Result;
use crate::graph::Graph;
use crate::metrics::modularity;
use crate::spectral::adaptive::{adaptive_embedding, fixed_point};
use crate::spectral::nonbacktracking::{k_at_radius, nonbacktracking_radius, RhoResult};
use crate::spectral::EigenParams;
use rayon::prelude::*;
use serde::Serialize;

/// How [`BottomUp`](super::BottomUp) estimates K when it is not given. Nothing is estimated
/// (and no spectral radius computed) when K is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KEstimate {
    /// Negative eigenvalues of `H(r)`, `r = sqrt(sum d^2 / sum d - 1)` (Saade, Krzakala &
    /// Zdeborová 2014): [`estimate_k`](super::estimate_k). The default before issue 16; the
    /// eigenvectors of the same dense decomposition give the embedding up to 3,000 nodes.
    BetheHessian,
    /// The authors' estimate (paper spec §2.1 steps 2-3): the number of eigenvalues of
    /// `L_rho = (D + (rho - 1) I)^(-1/2) A (D + (rho - 1) I)^(-1/2)` above `1 / sqrt(rho)`,
    /// `rho` the non-backtracking spectral radius, counted as the negative eigenvalues of
    /// `H(sqrt(rho))` (the same number by Sylvester's law of inertia:
    /// [`k_at_radius`]). The default. Equals the first on graphs with Poisson-like degrees (all
    /// BTSBM tests); differs on heterogeneous ones (UCTE power grid: 38, the authors' value,
    /// against 48, outside the paper's band 30-45).
    ///
    /// Cost: the power iteration for `rho`
    /// ([`nonbacktracking_radius`]: O(N + M) per step, 1,419 steps and 0.06 s on the power grid,
    /// 143 steps on the 200,000-node benchmark graph), then one count of negative eigenvalues
    /// (an `L B L^T` inertia up to 3,000 nodes, else batches of partial eigensolves as for the
    /// first), then the K eigenvectors of `H(r)` for the embedding.
    #[default]
    NonBacktracking,
}

/// Which regulariser the embedding of [`BottomUp`](super::BottomUp) uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Regulariser {
    /// One `r = sqrt(sum d^2 / sum d - 1)` for all K eigenvectors of `H(r)` (one partial
    /// eigensolve). The default before [`Regulariser::Auto`], and what it is on graphs whose
    /// edge weights are all 1.
    Fixed,
    /// The authors' per-eigenvector `r_i` ("zeta"), at which the `i`-th eigenvalue of `H(r)`
    /// vanishes, starting from `sqrt(rho)`: [`adaptive_embedding`]. Costs the power iteration
    /// for `rho` and a few partial eigensolves per eigenvector (see its complexity).
    Adaptive,
    /// One `r = zeta_K` for all K eigenvectors: the first fixed point of the authors' iteration
    /// (the `r` at which the K-th smallest eigenvalue of `H(r)` vanishes, from `sqrt(rho)`), and
    /// the K eigenvectors of `H(zeta_K)` from its last solve (all K, as with the fixed `r`).
    /// `zeta_K` is read off the spectrum of `H(r)`, not computed from the degrees. Costs the
    /// power iteration for `rho` and a few (typically 2-5) partial eigensolves for K pairs
    /// instead of one.
    ZetaK,
    /// The default: [`Regulariser::Fixed`] on graphs whose edge weights are all 1 (then
    /// nothing else is computed beyond one scan of the weights: same partitions and bytes as
    /// `Fixed`); on other graphs
    /// both the `Fixed` and the [`Regulariser::ZetaK`] partitions, keeping the one of higher
    /// weighted Newman modularity ([`modularity`]; `Fixed` on a tie, or when `ZetaK` fails,
    /// e.g. on a forest). Why: the degree formula is the configuration-model radius of an
    /// unweighted graph; with weighted degrees it depends on the unit of the weights (on the
    /// high-school contacts it gives `r = 8.33` with ln(count) weights, where only `r` near
    /// `zeta_K = 1.34` recovers the classes), while on other weighted graphs (the co-activation
    /// graphs of the bricks) it is the better one. Modularity compares partitions of one graph
    /// without labels whatever embedding made them (Newman & Girvan 2004; for weighted graphs
    /// Newman 2004; maximising it is maximum likelihood of a degree-corrected planted-partition
    /// model, Newman, Phys. Rev. E 94, 052315, 2016). The choice and both modularities are in
    /// [`SpectralInfo`](super::SpectralInfo) (`regulariser_chosen`, `modularity_fixed`,
    /// `modularity_zeta_k`). Cost on weighted graphs: that of `ZetaK` on top of `Fixed`, a
    /// second k-means, and two O(m) modularities.
    #[default]
    Auto,
}

impl Regulariser {
    /// The regulariser that runs on `g`: [`Regulariser::Auto`] is [`Regulariser::Fixed`] when
    /// every edge weight is 1 (one parallel O(m) scan of the weights).
    pub(crate) fn on(self, g: &Graph) -> Regulariser {
        if self == Regulariser::Auto && g.adjacency().data().par_iter().all(|&w| w == 1.0) {
            Regulariser::Fixed
        } else {
            self
        }
    }
}

/// [`Regulariser::ZetaK`]: `zeta_K` by the fixed-point iteration from `sqrt(rho)`, the K
/// eigenvectors of `H(zeta_K)` from its last solve, row-normalised, k-means.
#[allow(clippy::too_many_arguments)]
fn zeta_k_communities(
    g: &Graph,
    k: usize,
    rho: &RhoResult,
    n_init: usize,
    eigen: &EigenParams,
    seed: u64,
    progress: &mut dyn FnMut(&Stage),
) -> Result<(Vec<u32>, SpectralInfo)> {
    crate::spectral::adaptive::informative_radius(rho.rho)?;
    let fp = fixed_point(g, &g.degrees(), k, rho.rho.sqrt(), eigen)?;
    let n = g.n();
    let dim = fp.eig.converged();
    let rows = embedding_rows(&fp.eig.vectors, n, dim);
    let mut info = SpectralInfo {
        r: fp.r,
        k,
        eigen_requested: k,
        eigen_converged: dim,
        eigen_max_residual: fp.eig.max_residual,
        eigen_matvecs: fp.matvecs,
        zeta_k: Some(fp.r),
        ..Default::default()
    };
    progress(&Stage::KMeans {
        k,
        restarts: n_init,
    });
    let labels = cluster_rows(rows, dim, k, n_init, seed, &mut info)?;
    Ok((labels, info))
}

/// Clustering of the bottom-up algorithm when it needs the non-backtracking radius: K
/// estimated by [`KEstimate::NonBacktracking`], or a regulariser other than the fixed one
/// (otherwise [`BottomUp`](super::BottomUp) takes the standard path and computes no radius).
/// K by `k_estimate` when `k` is `None`, embedding by `regulariser` (as resolved by
/// [`Regulariser::on`]); the fixed regulariser goes through the standard path once K is known.
#[allow(clippy::too_many_arguments)]
pub(crate) fn communities_with(
    g: &Graph,
    k: Option<usize>,
    k_max: usize,
    k_estimate: KEstimate,
    regulariser: Regulariser,
    n_init: usize,
    eigen: &EigenParams,
    seed: u64,
    progress: &mut dyn FnMut(&Stage),
) -> Result<(Vec<u32>, SpectralInfo)> {
    let rho = nonbacktracking_radius(g, 1e-10, 100_000, seed)?;
    progress(&Stage::Radius {
        rho: rho.rho,
        iterations: rho.iterations,
    });
    let (k, k_estimated) = match (k, k_estimate) {
        (Some(k), _) => (k, false),
        (None, KEstimate::NonBacktracking) => (k_at_radius(g, rho.rho, k_max, eigen)?.0, true),
        (None, KEstimate::BetheHessian) => (super::estimate_k(g, k_max, eigen)?.0, true),
    };
    let fixed = |progress: &mut dyn FnMut(&Stage)| {
        spectral_communities(g, Some(k), k_max, n_init, eigen, seed, progress)
    };
    let (labels, mut info) = match regulariser {
        _ if k == 1 => fixed(progress)?,
        Regulariser::Fixed => fixed(progress)?,
        Regulariser::ZetaK => zeta_k_communities(g, k, &rho, n_init, eigen, seed, progress)?,
        Regulariser::Auto => {
            let (la, mut ia) = fixed(progress)?;
            let qa = modularity(g, &la)?;
            ia.regulariser_chosen = Some(Regulariser::Fixed);
            ia.modularity_fixed = Some(qa);
            match zeta_k_communities(g, k, &rho, n_init, eigen, seed, progress) {
                Ok((lc, mut ic)) => {
                    let qc = modularity(g, &lc)?;
                    let matvecs = ia.eigen_matvecs + ic.eigen_matvecs;
                    if qc > qa {
                        ic.regulariser_chosen = Some(Regulariser::ZetaK);
                        ic.modularity_fixed = Some(qa);
                        ic.modularity_zeta_k = Some(qc);
                        ic.eigen_matvecs = matvecs;
                        (lc, ic)
                    } else {
                        ia.modularity_zeta_k = Some(qc);
                        ia.zeta_k = ic.zeta_k;
                        ia.eigen_matvecs = matvecs;
                        (la, ia)
                    }
                }
                // No zeta_K (a forest, or an eigensolve that did not converge): the fixed
                // partition, with no `modularity_zeta_k` in the info.
                Err(_) => (la, ia),
            }
        }
        Regulariser::Adaptive => {
            let emb = adaptive_embedding(g, k, &rho, eigen)?;
            let mut info = SpectralInfo {
                r: emb.zeta[k - 1],
                k,
                eigen_requested: emb.dim,
                eigen_converged: emb.dim,
                eigen_max_residual: emb.max_residual,
                eigen_matvecs: emb.matvecs,
                zeta: Some(emb.zeta.clone()),
                ..Default::default()
            };
            let labels = cluster_rows(emb.rows, emb.dim, k, n_init, seed, &mut info)?;
            (labels, info)
        }
    };
    info.k_estimated = k_estimated;
    info.rho = Some(rho.rho);
    Ok((labels, info))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Duplicates, Graph};
    use crate::hierarchy::BottomUp;
    use crate::spectral::dense_smallest_eigenpairs;

    /// On a graph whose edge weights are all 1 the default is the fixed regulariser: the same
    /// tree JSON, byte for byte, with K given and estimated, and no radius computed with K
    /// given.
    #[test]
    fn auto_is_fixed_on_unit_weights() {
        let h = crate::hsbm::test_btsbm(2, 40, &[2.0, 5.0, 20.0], 4);
        for k in [Some(4), None] {
            let auto = BottomUp::new().k(k).seed(2).fit(&h.graph).unwrap();
            let fixed = BottomUp::new()
                .k(k)
                .seed(2)
                .regulariser(Regulariser::Fixed)
                .fit(&h.graph)
                .unwrap();
            assert_eq!(auto.dendrogram.to_json(), fixed.dendrogram.to_json());
            assert!(auto.info.regulariser_chosen.is_none());
            assert!(auto.dendrogram.params.get("regulariser").is_none());
        }
        let auto = BottomUp::new().k(Some(4)).fit(&h.graph).unwrap();
        assert!(auto.info.rho.is_none());
    }

    /// On a weighted graph the default computes both partitions and keeps the one of higher
    /// modularity (the fixed one on a tie); `zeta_K` zeroes the K-th eigenvalue of `H(r)`.
    #[test]
    fn auto_keeps_the_partition_of_higher_modularity() {
        let h = crate::hsbm::test_btsbm(2, 40, &[2.0, 5.0, 20.0], 4);
        for (seed, scale) in [(0u64, 0.2), (1, 1.0), (2, 5.0), (3, 20.0)] {
            // Weights 1..4 times `scale` (the degree formula depends on the unit).
            let edges: Vec<(u32, u32, f64)> = h
                .graph
                .edges()
                .enumerate()
                .map(|(i, (u, v, _))| (u as u32, v as u32, scale * (1 + i % 4) as f64))
                .collect();
            let g = Graph::from_edges(h.graph.n(), &edges, Duplicates::Sum).unwrap();
            let fit = |reg| {
                BottomUp::new()
                    .k(Some(4))
                    .seed(seed)
                    .regulariser(reg)
                    .fit(&g)
                    .unwrap()
            };
            let (auto, fixed, zk) = (
                fit(Regulariser::Auto),
                fit(Regulariser::Fixed),
                fit(Regulariser::ZetaK),
            );
            let q = |f: &crate::hierarchy::BottomUpFit| modularity(&g, &f.communities).unwrap();
            let (qf, qz) = (q(&fixed), q(&zk));
            assert_eq!(auto.info.modularity_fixed, Some(qf));
            assert_eq!(auto.info.modularity_zeta_k, Some(qz));
            let want = if qz > qf { &zk } else { &fixed };
            assert_eq!(auto.communities, want.communities, "seed {seed}");
            assert_eq!(
                auto.info.regulariser_chosen,
                Some(if qz > qf {
                    Regulariser::ZetaK
                } else {
                    Regulariser::Fixed
                })
            );
            assert_eq!(auto.dendrogram.params["regulariser"], "auto");
            assert_eq!(zk.dendrogram.params["regulariser"], "zeta-k");
            assert!(fixed.dendrogram.params.get("regulariser").is_none());
            assert_eq!(auto.dendrogram.inversions(), 0);
            // zeta_K: the 4th smallest eigenvalue of H(zeta_K) is 0.
            let z = zk.info.zeta_k.unwrap();
            assert_eq!(auto.info.zeta_k, Some(z));
            let d = dense_smallest_eigenpairs(&crate::spectral::BetheHessian::new(&g, z), 4);
            assert!(d.values[3].abs() < 1e-4 * (1.0 + z * z), "{:?}", d.values);
        }
    }
}
