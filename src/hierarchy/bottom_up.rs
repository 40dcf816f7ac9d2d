//! The bottom-up algorithm of Dreveton, Kuroda, Grossglauser & Thiran, "When does bottom-up
//! beat top-down in hierarchical community detection?" (JASA 2026): Bethe-Hessian spectral
//! clustering into K primitive communities, then average linkage on edge density.

use super::linkage::{average_linkage, edge_mass, UNASSIGNED};
use super::regulariser::{communities_with, KEstimate, Regulariser};
use super::{Dendrogram, HeightMap, Stage};
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::spectral::{
    count_eigenvalues_below, dense_smallest_eigenpairs, kmeans, smallest_eigenpairs_with_progress,
    BetheHessian, EigenParams, KMeansParams,
};
use crate::util::setters;
use rayon::prelude::*;
use serde::Serialize;
use std::borrow::Cow;

/// Diagnostics of a spectral clustering run (recorded in the dendrogram's `info`).
#[derive(Debug, Clone, Serialize, Default)]
#[non_exhaustive]
pub struct SpectralInfo {
    /// `r` of the Bethe Hessian.
    pub r: f64,
    /// Number of communities used.
    pub k: usize,
    /// Whether K was estimated (by [`BottomUp::k_estimate`]).
    pub k_estimated: bool,
    /// Eigenpairs requested.
    pub eigen_requested: usize,
    /// Eigenpairs converged (fewer than requested means the embedding is incomplete).
    pub eigen_converged: usize,
    /// Largest residual `||H v - lambda v||`.
    pub eigen_max_residual: f64,
    /// Operator applications spent by the eigensolver.
    pub eigen_matvecs: usize,
    /// k-means inertia of the final run.
    pub kmeans_inertia: f64,
    /// Whether the final k-means run converged.
    pub kmeans_converged: bool,
    /// Nodes without edges, left out of every community.
    pub isolated_nodes: usize,
    /// Connected components of the graph (isolated nodes included).
    pub components: usize,
    /// Non-backtracking spectral radius, when it was computed: K estimated by
    /// [`KEstimate::NonBacktracking`] (the default), or a regulariser other than the fixed one
    /// ([`Regulariser::Auto`] on a graph with edge weights other than 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rho: Option<f64>,
    /// The per-eigenvector regularisers `r_i` of [`Regulariser::Adaptive`] (`r` above is the
    /// last one, `r_K`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zeta: Option<Vec<f64>>,
    /// `zeta_K`, the `r` at which the K-th eigenvalue of `H(r)` vanishes, when
    /// [`Regulariser::ZetaK`] or [`Regulariser::Auto`] computed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zeta_k: Option<f64>,
    /// Which partition [`Regulariser::Auto`] kept ([`Regulariser::Fixed`] or
    /// [`Regulariser::ZetaK`]); absent when it did not choose (every edge weight 1, or another
    /// regulariser).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regulariser_chosen: Option<Regulariser>,
    /// Weighted modularity of the fixed-`r` partition ([`Regulariser::Auto`] only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modularity_fixed: Option<f64>,
    /// Weighted modularity of the `zeta_K` partition ([`Regulariser::Auto`] only; absent when
    /// `zeta_K` could not be computed and the fixed partition was kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modularity_zeta_k: Option<f64>,
}

/// Estimate the number of communities as the number of negative eigenvalues of the Bethe
/// Hessian `H(r)`, `r = sqrt(sum d^2 / sum d - 1)` (Saade, Krzakala & Zdeborová 2014), capped at
/// `k_max` ([`count_eigenvalues_below`]: an exact inertia count up to 3,000 nodes, else
/// eigenvalues in growing batches of 16, 32, ...). Not the default of [`BottomUp`] any more
/// ([`KEstimate::BetheHessian`]).
///
/// # Returns
/// `(K, converged)` with `K >= 1`; `converged` is false if the eigensolver stopped early.
///
/// ```
/// use neurobricks::hierarchy::estimate_k;
/// use neurobricks::hsbm::HsbmParams;
/// use neurobricks::spectral::EigenParams;
///
/// let h = HsbmParams::btsbm_log(2, 50, vec![2.0, 6.0, 30.0], 7).generate().unwrap();
/// assert_eq!(estimate_k(&h.graph, 100, &EigenParams::default()).unwrap(), (4, true));
/// assert_eq!(estimate_k(&h.graph, 3, &EigenParams::default()).unwrap().0, 3); // capped at k_max
/// ```
pub fn estimate_k(g: &Graph, k_max: usize, params: &EigenParams) -> Result<(usize, bool)> {
    let cap = k_max.min(g.n().saturating_sub(1)).max(1);
    count_eigenvalues_below(&BetheHessian::standard(g), 0.0, cap, params)
}

/// Bottom-up hierarchical community detection (params struct with builder setters).
///
/// 1. Primitive communities: eigenvectors of the K smallest eigenvalues of the Bethe Hessian
///    `H(r) = (r^2 - 1) I - r A + D` with `r = sqrt(sum d^2 / sum d - 1)`, rows normalised to
///    unit length, k-means++ with restarts. K is given, or estimated as the authors do
///    ([`KEstimate::NonBacktracking`], the default: the negative eigenvalues of
///    `H(sqrt(rho))`, `rho` the non-backtracking spectral radius) or by the negative
///    eigenvalues of `H(r)` itself ([`KEstimate::BetheHessian`], [`estimate_k`]).
/// 2. Average linkage on edge density `w(C, C') = E(C, C') / (|C| |C'|)` (sizes in nodes, edge
///    weights for weighted graphs); the merge similarities never increase, so the tree has no
///    inversions.
///
/// The two choices of step 1 are [`BottomUp::k_estimate`] and [`BottomUp::regulariser`]; the
/// authors' per-eigenvector `r` ([`Regulariser::Adaptive`]) is an option, not the default
/// (docs/paper.md compares the variants). The default regulariser ([`Regulariser::Auto`]) is
/// the fixed `r` on graphs whose edge weights are all 1; on other graphs it also computes the
/// partition at `r = zeta_K` and keeps the one of higher modularity. With K given and every
/// edge weight 1, no spectral radius is computed: the default costs the same as before issue 16.
///
/// Optional graph splitting (§2.3 of the paper): each edge goes to the clustering graph with
/// probability `q` and to the linkage graph otherwise.
///
/// Nodes without any edge are left out of the communities (reported in the info); several
/// connected components are fine (their mutual similarity is 0, so they merge last).
///
/// # Complexity
/// Eigensolver: block Krylov–Schur, O(m / b + n K) per column product with blocks of `b <= 4`
/// columns and a basis of at most `2K` vectors (see [`smallest_eigenpairs`](crate::spectral::smallest_eigenpairs));
/// k-means O(n K dim) per Lloyd iteration before Hamerly's bounds prune it; linkage O(m + K^3)
/// worst case. Memory O(m + n K).
///
/// # Example
/// ```
/// use neurobricks::hierarchy::BottomUp;
/// use neurobricks::hsbm::HsbmParams;
/// use neurobricks::metrics::adjusted_rand_index;
///
/// // 4 planted communities of 50 nodes, well separated.
/// let h = HsbmParams::btsbm_log(2, 50, vec![2.0, 6.0, 30.0], 7).generate().unwrap();
/// let fit = BottomUp::new().k(Some(4)).seed(1).fit(&h.graph).unwrap();
/// assert_eq!(fit.dendrogram.num_leaves(), 4);
/// let found: Vec<usize> = fit.communities.iter().map(|&c| c as usize).collect();
/// assert_eq!(adjusted_rand_index(&h.labels_at_depth(2), &found).unwrap(), 1.0);
/// // The two depth-1 halves are the last merge.
/// let halves: Vec<usize> = fit.dendrogram.cut_k(2).unwrap().iter().map(|&c| c as usize).collect();
/// let per_node: Vec<usize> = fit.communities.iter().map(|&c| halves[c as usize]).collect();
/// assert_eq!(adjusted_rand_index(&h.labels_at_depth(1), &per_node).unwrap(), 1.0);
/// ```
// Deliberate same-shape pair (`cd src && duplicates`): a plain list of documented fields,
// alike line by line with `SyntheticParams` and `TopDown` (whose
// `n_init` and `eigen` it also has: the two methods share the settings, not the code) only in shape; no logic is shared.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BottomUp {
    /// Number of primitive communities (`None`: estimated by [`BottomUp::k_estimate`];
    /// default `None`).
    pub k: Option<usize>,
    /// Upper bound for the estimated K (default 1000).
    pub k_max: usize,
    /// Seed of every random choice, the eigensolver's start vector included (default 0).
    pub seed: u64,
    /// Graph splitting: fraction `q` in (0, 1) of the edges used for clustering, the rest for
    /// the linkage (`None`: no split, the default).
    pub split: Option<f64>,
    /// k-means restarts (default 10).
    pub n_init: usize,
    /// Eigensolver parameters (their `seed` is replaced by [`BottomUp::seed`]). The default is
    /// [`EigenParams::default`] with [`EigenParams::subspace_tol`] `=`
    /// [`BottomUp::SUBSPACE_TOL`]: k-means needs the span of the K eigenvectors (it is
    /// invariant to rotations within it), not residuals of 1e-6 each.
    pub eigen: EigenParams,
    /// How K is estimated when not given (default [`KEstimate::NonBacktracking`], the authors'
    /// estimate; unused when `k` is given).
    pub k_estimate: KEstimate,
    /// Regulariser of the embedding (default [`Regulariser::Auto`]: the fixed `r` on graphs
    /// whose edge weights are all 1, else the fixed-`r` or the `zeta_K` partition, whichever
    /// has the higher modularity).
    pub regulariser: Regulariser,
}

impl Default for BottomUp {
    fn default() -> Self {
        BottomUp {
            k: None,
            k_max: 1000,
            seed: 0,
            split: None,
            n_init: 10,
            eigen: EigenParams::default().subspace_tol(Some(BottomUp::SUBSPACE_TOL)),
            k_estimate: KEstimate::NonBacktracking,
            regulariser: Regulariser::Auto,
        }
    }
}

/// Result of [`BottomUp::fit`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BottomUpFit {
    /// The dendrogram over the primitive communities.
    pub dendrogram: Dendrogram,
    /// Primitive community of each node (`u32::MAX` for isolated nodes left out).
    pub communities: Vec<u32>,
    /// Diagnostics.
    pub info: SpectralInfo,
}

impl BottomUp {
    /// The default [`EigenParams::subspace_tol`] of the embedding (see [`BottomUp::eigen`]):
    /// the Davis–Kahan bound on the sine of the angle between the computed span and the
    /// invariant subspace of the K smallest eigenvalues. On the 200,000-node depth-5 BTSBM of
    /// `benches/compare_python.py` (K = 32) it leaves the partition node for node unchanged
    /// with 272 column products instead of 300 (residuals alone, tolerance 1e-6).
    pub const SUBSPACE_TOL: f64 = 1e-3;

    /// Defaults: K estimated ([`KEstimate::NonBacktracking`]), [`Regulariser::Auto`] (fixed `r`
    /// when every edge weight is 1), seed 0, no splitting, 10 k-means restarts.
    pub fn new() -> Self {
        Self::default()
    }
    setters! {
        /// Number of primitive communities (`None`: estimate).
        k: Option<usize>,
        /// Upper bound for the estimated K.
        k_max: usize,
        /// Seed of every random choice.
        seed: u64,
        /// Graph splitting with fraction `q` of the edges for clustering (`None`: no split).
        split: Option<f64>,
        /// k-means restarts.
        n_init: usize,
        /// Eigensolver parameters.
        eigen: EigenParams,
        /// How K is estimated when not given.
        k_estimate: KEstimate,
        /// Regulariser of the embedding.
        regulariser: Regulariser,
    }

    /// Check the parameters without a graph: `k >= 1`, `k_max >= 1`, `split` in (0, 1),
    /// `n_init >= 1`, valid eigensolver parameters. [`BottomUp::fit`] calls it first.
    ///
    /// # Errors
    /// [`Error::Param`] naming the parameter, e.g. `BottomUp.split`.
    pub fn validate(&self) -> Result<()> {
        if let Some(q) = self.split {
            if !(q > 0.0 && q < 1.0) {
                return Err(Error::param(
                    "BottomUp.split",
                    format!("{q} is not in (0, 1)"),
                ));
            }
        }
        if self.k == Some(0) {
            return Err(Error::param("BottomUp.k", "must be at least 1"));
        }
        if self.k_max == 0 {
            return Err(Error::param("BottomUp.k_max", "must be at least 1"));
        }
        if self.n_init == 0 {
            return Err(Error::param("BottomUp.n_init", "must be at least 1"));
        }
        self.eigen.validate()
    }

    fn params_json(&self, k: usize, reg: Regulariser) -> serde_json::Value {
        let mut p = serde_json::json!({
            "k": k, "k_given": self.k, "k_max": self.k_max, "seed": self.seed, "split": self.split,
            "n_init": self.n_init, "eigen_tol": self.eigen.tol,
            "eigen_subspace_tol": self.eigen.subspace_tol,
        });
        // The estimate is recorded whenever K was estimated (the default changed in issue 16,
        // so its absence would be ambiguous); with K given, dendrograms keep their bytes.
        if self.k.is_none() {
            p["k_estimate"] = serde_json::json!(self.k_estimate);
        }
        // The regulariser that ran (`reg`, see `Regulariser::on`) is recorded unless it is the
        // fixed one: no key means the fixed `r`, as before `Regulariser::Auto` (the default on a
        // graph whose edge weights are all 1 keeps its bytes).
        if reg != Regulariser::Fixed {
            p["regulariser"] = serde_json::json!(reg);
        }
        p
    }

    /// Whether the standard Bethe-Hessian path runs (no non-backtracking radius needed) with
    /// the regulariser `reg` that runs ([`Regulariser::on`]).
    fn standard_path(&self, reg: Regulariser) -> bool {
        reg == Regulariser::Fixed
            && (self.k.is_some() || self.k_estimate == KEstimate::BetheHessian)
    }

    /// Run the algorithm.
    ///
    /// # Errors
    /// An empty graph or one without edges, `k = 0` or larger than the number of non-isolated
    /// nodes, `split` outside (0, 1).
    pub fn fit(&self, g: &Graph) -> Result<BottomUpFit> {
        self.fit_with_progress(g, &mut |_| {})
    }

    /// [`BottomUp::fit`] reporting its stages to `progress` ([`Stage::Radius`] when the
    /// non-backtracking radius is computed, [`Stage::Eigensolver`] after every Krylov step,
    /// [`Stage::KMeans`], [`Stage::Linkage`]); the result is the same.
    ///
    /// # Errors
    /// As [`BottomUp::fit`].
    pub fn fit_with_progress(
        &self,
        g: &Graph,
        progress: &mut dyn FnMut(&Stage),
    ) -> Result<BottomUpFit> {
        self.validate()?;
        let (sub, kept, isolated) = non_isolated(g)?;
        if let Some(k) = self.k {
            if k > sub.n() {
                return Err(Error::param(
                    "BottomUp.k",
                    format!(
                        "{k} communities for {} nodes with edges (need 1..={})",
                        sub.n(),
                        sub.n()
                    ),
                ));
            }
        }
        let (cluster_graph, link_graph) = match self.split {
            Some(q) => {
                let (a, b) = sub.split_edges(q, self.seed);
                // A clustering part where most nodes have no edge (a tiny q) gives leaves of
                // one node; a linkage part without edges gives a tree of zero similarities.
                let lonely = a.unweighted_degrees().iter().filter(|&&d| d == 0).count();
                if 2 * lonely > a.n() || b.num_edges() == 0 {
                    return Err(Error::param(
                        "BottomUp.split",
                        format!(
                            "{q} keeps {} of {} edges for clustering ({lonely} of {} nodes without an edge there) and {} for the linkage; the clustering part may leave at most half of the nodes without an edge and the linkage part needs edges; use a q nearer 0.5",
                            a.num_edges(),
                            sub.num_edges(),
                            a.n(),
                            b.num_edges()
                        ),
                    ));
                }
                (Cow::Owned(a), Some(b))
            }
            None => (sub, None),
        };
        let link: &Graph = link_graph.as_ref().unwrap_or(&cluster_graph);
        let eigen = EigenParams {
            seed: self.seed,
            ..self.eigen.clone()
        };
        // The connected components (a sequential search, reported in the info only) are counted
        // on their own thread while the spectral clustering runs.
        let reg = self.regulariser.on(&cluster_graph);
        let (comps, spectral) = std::thread::scope(|s| {
            let comps = s.spawn(|| g.connected_components().1);
            let spectral = if self.standard_path(reg) {
                spectral_communities(
                    &cluster_graph,
                    self.k,
                    self.k_max,
                    self.n_init,
                    &eigen,
                    self.seed,
                    progress,
                )
            } else {
                communities_with(
                    &cluster_graph,
                    self.k,
                    self.k_max,
                    self.k_estimate,
                    reg,
                    self.n_init,
                    &eigen,
                    self.seed,
                    progress,
                )
            };
            (comps.join().expect("connected components"), spectral)
        });
        let (labels, mut info) = spectral?;
        info.isolated_nodes = isolated;
        info.components = comps;
        let k = info.k;
        progress(&Stage::Linkage { communities: k });
        let mass = edge_mass(link, &labels, k);
        let mut sizes = vec![0usize; k];
        labels.iter().for_each(|&l| sizes[l as usize] += 1);
        let merges = average_linkage(&mass, &sizes, k);
        let mut leaves: Vec<Vec<u32>> = vec![Vec::new(); k];
        let mut communities = vec![UNASSIGNED; g.n()];
        for (i, &l) in labels.iter().enumerate() {
            leaves[l as usize].push(kept[i] as u32);
            communities[kept[i]] = l;
        }
        let hm = HeightMap::for_graph(g.is_weighted());
        let merges = super::dendrogram::scipy_merges(&leaves, &merges, hm);
        let dendrogram = Dendrogram::new(g.ids().to_vec(), leaves, merges, hm, "bottom-up")?
            .with_params(self.params_json(k, reg))
            .with_info(serde_json::to_value(&info).expect("serialisable"));
        Ok(BottomUpFit {
            dendrogram,
            communities,
            info,
        })
    }
}

/// The nodes with edges: the (borrowed or induced) graph on them, their original indices, and
/// the number of isolated nodes.
pub(crate) type NonIsolated<'a> = (Cow<'a, Graph>, Vec<usize>, usize);

pub(crate) fn non_isolated(g: &Graph) -> Result<NonIsolated<'_>> {
    if g.n() == 0 {
        return Err(Error::Input("the graph is empty (no nodes)".into()));
    }
    if g.num_edges() == 0 {
        return Err(Error::Input(format!(
            "the graph has {} nodes but no edges: nothing to cluster",
            g.n()
        )));
    }
    let deg = g.unweighted_degrees();
    let kept: Vec<usize> = (0..g.n()).filter(|&i| deg[i] > 0).collect();
    let isolated = g.n() - kept.len();
    // Borrow the graph when nothing is left out (no copy of a large graph).
    let sub = if isolated == 0 {
        Cow::Borrowed(g)
    } else {
        Cow::Owned(g.induced_subgraph(&kept))
    };
    Ok((sub, kept, isolated))
}

/// Bethe-Hessian spectral clustering: labels `0..K` (compacted, no empty community) and info.
pub(crate) fn spectral_communities(
    g: &Graph,
    k: Option<usize>,
    k_max: usize,
    n_init: usize,
    eigen: &EigenParams,
    seed: u64,
    progress: &mut dyn FnMut(&Stage),
) -> Result<(Vec<u32>, SpectralInfo)> {
    let h = BetheHessian::standard(g);
    let n = g.n();
    // Small graphs with K unknown: one dense decomposition gives both K and the vectors.
    let mut pre = None;
    let (k, k_estimated) = match k {
        Some(k) => (k, false),
        None if n <= 3000 => {
            let mut full = dense_smallest_eigenpairs(&h, n);
            let neg = full.values.iter().filter(|&&v| v < 0.0).count();
            let k = neg.clamp(1, k_max.min(n.saturating_sub(1)).max(1));
            full.truncate(k);
            pre = Some(full);
            (k, true)
        }
        None => (estimate_k(g, k_max, eigen)?.0, true),
    };
    let mut info = SpectralInfo {
        r: h.r(),
        k,
        k_estimated,
        eigen_requested: k,
        ..Default::default()
    };
    if k == 1 {
        // One community: no eigenvector is needed (none requested, none missing).
        info.eigen_requested = 0;
        info.eigen_converged = 0;
        info.kmeans_converged = true;
        return Ok((vec![0; n], info));
    }
    let eig = match pre {
        Some(e) => e,
        None => smallest_eigenpairs_with_progress(&h, k, eigen, &mut |matvecs, residual| {
            progress(&Stage::Eigensolver { matvecs, residual })
        })?,
    };
    info.eigen_converged = eig.converged();
    info.eigen_max_residual = eig.max_residual;
    info.eigen_matvecs = eig.matvecs;
    let dim = eig.converged();
    if dim == 0 {
        return Err(Error::Input(
            "the eigensolver converged no eigenpair; try another k (BottomUp.k) or check the graph"
                .into(),
        ));
    }
    let emb = embedding_rows(&eig.vectors, n, dim);
    progress(&Stage::KMeans {
        k,
        restarts: n_init,
    });
    let labels = cluster_rows(emb, dim, k, n_init, seed, &mut info)?;
    Ok((labels, info))
}

/// The row-major `n x dim` embedding of the first `dim` column-major eigenvectors `vectors`
/// (each of length `n`), for [`cluster_rows`].
pub(crate) fn embedding_rows(vectors: &[f64], n: usize, dim: usize) -> Vec<f64> {
    let mut emb = vec![0.0; n * dim];
    emb.par_chunks_mut(dim).enumerate().for_each(|(i, row)| {
        for (j, x) in row.iter_mut().enumerate() {
            *x = vectors[j * n + i];
        }
    });
    emb
}

/// Normalise each row of the row-major `n x dim` embedding to unit length (zero rows stay
/// zero), run k-means with `k` clusters and `n_init` restarts, and compact the labels; the
/// k-means diagnostics and the number of non-empty clusters go into `info`.
pub(crate) fn cluster_rows(
    mut emb: Vec<f64>,
    dim: usize,
    k: usize,
    n_init: usize,
    seed: u64,
    info: &mut SpectralInfo,
) -> Result<Vec<u32>> {
    emb.par_chunks_mut(dim).for_each(|row| {
        let norm = row.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|x| *x /= norm);
        }
    });
    let km = kmeans(&emb, dim, &KMeansParams::new(k).n_init(n_init).seed(seed))?;
    info.kmeans_inertia = km.inertia;
    info.kmeans_converged = km.converged;
    let (labels, used) = compact(&km.labels, k);
    info.k = used;
    Ok(labels)
}

/// Renumber labels `0..used` in order of first appearance.
pub(crate) fn compact(labels: &[u32], k: usize) -> (Vec<u32>, usize) {
    let mut map = vec![u32::MAX; k];
    let mut next = 0u32;
    let out = labels
        .iter()
        .map(|&l| {
            if map[l as usize] == u32::MAX {
                map[l as usize] = next;
                next += 1;
            }
            map[l as usize]
        })
        .collect();
    (out, next as usize)
}
