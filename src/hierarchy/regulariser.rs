//! The two choices of the bottom-up clustering step that the authors of Dreveton, Kuroda,
//! Grossglauser & Thiran (JASA 2026) make differently from the standard Bethe Hessian: how K is
//! estimated and which regulariser `r` the embedding uses (paper spec §2.1 steps 2-4, after
//! Dall'Amico, Couillet & Tremblay, JMLR 2021).

use super::bottom_up::{cluster_rows, spectral_communities, SpectralInfo};
use super::Stage;
use crate::error::Result;
use crate::graph::Graph;
use crate::spectral::adaptive::adaptive_embedding;
use crate::spectral::nonbacktracking::{k_at_radius, nonbacktracking_radius};
use crate::spectral::EigenParams;
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
    /// eigensolve). The default.
    #[default]
    Fixed,
    /// The authors' per-eigenvector `r_i` ("zeta"), at which the `i`-th eigenvalue of `H(r)`
    /// vanishes, starting from `sqrt(rho)`: [`adaptive_embedding`]. Costs the power iteration
    /// for `rho` and a few partial eigensolves per eigenvector (see its complexity).
    Adaptive,
}

/// Clustering of the bottom-up algorithm when it needs the non-backtracking radius: K
/// estimated by [`KEstimate::NonBacktracking`], or the adaptive regulariser (otherwise
/// [`BottomUp`](super::BottomUp) takes the standard path and computes no radius). K by
/// `k_estimate` when `k` is `None`, embedding by `regulariser`; the fixed regulariser goes
/// through the standard path once K is known.
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
    let (labels, mut info) = if regulariser == Regulariser::Fixed || k == 1 {
        spectral_communities(g, Some(k), k_max, n_init, eigen, seed, progress)?
    } else {
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
    };
    info.k_estimated = k_estimated;
    info.rho = Some(rho.rho);
    Ok((labels, info))
}
