//! The top-down baseline: recursive bi-partitioning with regularised spectral clustering and a
//! Bethe-Hessian stopping rule (Li, Lei, Bhattacharyya, Van den Berge, Sarkar, Bickel & Levina,
//! JASA 2022), as run by Dreveton, Kuroda, Grossglauser & Thiran (JASA 2026, §3 of the
//! reproduction note).

use super::bottom_up::non_isolated;
use super::linkage::UNASSIGNED;
use super::{Dendrogram, HeightMap, ProgressFn, Stage};
use crate::error::{Error, Result};
use crate::graph::{Duplicates, Graph};
use crate::spectral::eigen::{sign_test, smallest_eigenpairs_from};
use crate::spectral::{
    kmeans, smallest_eigenpairs, BetheHessian, EigenParams, KMeansParams, NormalizedLaplacian,
};
use crate::util::setters;
use rayon::prelude::*;
use serde::Serialize;

/// Top-down hierarchical community detection (params struct with builder setters).
///
/// A community `C` is split in two when the Bethe Hessian `H(r)` of its induced (unweighted)
/// subgraph, `r = sqrt(sum d^2 / sum d - 1)`, has at least two negative eigenvalues. The split
/// uses the two eigenvectors of the smallest eigenvalues of the regularised normalised
/// Laplacian `L_tau` (`A + tau dbar / n 1 1^T`, `tau = 0.1`) and 2-means. Every internal node
/// records the edge density between its two children, so that inversions (a child less
/// similar than its parent) are visible and counted; merges are ordered by decreasing
/// similarity for cuts.
///
/// # Complexity
/// One partial eigensolve of `H(r)` and one of `L_tau` per visited community: roughly
/// O((m + n p) * iterations * depth) in total.
///
/// # Example
/// ```
/// use neurobricks::hierarchy::TopDown;
/// use neurobricks::hsbm::HsbmParams;
/// use neurobricks::metrics::adjusted_rand_index;
///
/// let h = HsbmParams::btsbm_log(2, 50, vec![2.0, 6.0, 30.0], 7).generate().unwrap();
/// let fit = TopDown::new().seed(1).fit(&h.graph).unwrap();
/// // The stopping rule finds the 4 planted communities without being told K.
/// assert_eq!(fit.info.leaves, 4);
/// let found: Vec<usize> = fit.communities.iter().map(|&c| c as usize).collect();
/// assert_eq!(adjusted_rand_index(&h.labels_at_depth(2), &found).unwrap(), 1.0);
/// ```
// Deliberate same-shape pair (`cd src && duplicates`): a plain list of documented fields,
// alike line by line with `BottomUp` (both end in `n_init`,
// `eigen` and a `Default` literal: the two methods share the settings, not the code) only in shape; no logic is shared.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TopDown {
    /// Regularisation `tau >= 0` of the normalised Laplacian (default 0.1).
    pub tau: f64,
    /// Seed of every random choice (default 0).
    pub seed: u64,
    /// Communities smaller than this are not split (default 2; values below 2 act as 2).
    pub min_size: usize,
    /// Maximum tree depth (`None`: unlimited, the default).
    pub max_depth: Option<usize>,
    /// 2-means restarts per split (default 10).
    pub n_init: usize,
    /// Eigensolver parameters (their `seed` is derived from [`TopDown::seed`]). The default
    /// is [`EigenParams::default`] with [`EigenParams::subspace_tol`] `= 1e-4` for the
    /// bisections: 2-means needs the span of the two eigenvectors, not tight residuals, and
    /// on the 200,000-node depth-5 BTSBM of `benches/compare_python.py` that angle leaves every
    /// partition unchanged (1e-3 moved 3 nodes, 1e-2 moved 32) with 12% fewer column products.
    /// The stopping rule ignores it (see
    /// [`has_negative_eigenvalues`](crate::spectral::has_negative_eigenvalues)).
    pub eigen: EigenParams,
}

impl Default for TopDown {
    fn default() -> Self {
        TopDown {
            tau: 0.1,
            seed: 0,
            min_size: 2,
            max_depth: None,
            n_init: 10,
            eigen: EigenParams::default().subspace_tol(Some(TopDown::SUBSPACE_TOL)),
        }
    }
}

/// Diagnostics of a top-down run.
#[derive(Debug, Clone, Serialize, Default)]
#[non_exhaustive]
pub struct TopDownInfo {
    /// Leaves found (the estimated K).
    pub leaves: usize,
    /// Communities whose split was refused by the stopping rule.
    pub stopped_by_bethe_hessian: usize,
    /// Communities not split because of the size or depth limit.
    pub stopped_by_limit: usize,
    /// Splits where 2-means put everything on one side.
    pub degenerate_splits: usize,
    /// Eigensolves that returned fewer pairs than requested.
    pub eigen_unconverged: usize,
    /// Isolated nodes left out.
    pub isolated_nodes: usize,
    /// Inversions in the resulting tree.
    pub inversions: usize,
}

/// Result of [`TopDown::fit`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TopDownFit {
    /// The dendrogram (may contain inversions).
    pub dendrogram: Dendrogram,
    /// Leaf of each node (`u32::MAX` for isolated nodes).
    pub communities: Vec<u32>,
    /// Diagnostics.
    pub info: TopDownInfo,
}

enum Node {
    Leaf(Vec<usize>),
    Split(usize, usize, f64),
}

/// A community waiting for its visit: its members (indices of the graph without isolated
/// nodes, increasing), depth and tree slot.
struct Pending {
    members: Vec<usize>,
    depth: usize,
    slot: usize,
}

/// What a visit decided.
enum Visit {
    /// Too small or too deep.
    Limit,
    /// The Bethe-Hessian stopping rule refused the split (or the community has no edge).
    Bethe,
    /// 2-means put every node on one side.
    Degenerate,
    /// Split: the side (0/1) of every member and the edge density between the sides.
    Split(Vec<u32>, f64),
}

impl TopDown {
    /// The default [`EigenParams::subspace_tol`] of the bisections (see [`TopDown::eigen`]).
    pub const SUBSPACE_TOL: f64 = 1e-4;

    /// Defaults: tau = 0.1, seed 0, min size 2, no depth limit.
    pub fn new() -> Self {
        Self::default()
    }
    setters! {
        /// Regularisation `tau` (>= 0).
        tau: f64,
        /// Seed of every random choice.
        seed: u64,
        /// Communities smaller than this are not split.
        min_size: usize,
        /// Maximum tree depth (`None`: unlimited).
        max_depth: Option<usize>,
        /// 2-means restarts per split.
        n_init: usize,
        /// Eigensolver parameters.
        eigen: EigenParams,
    }

    /// Check the parameters without a graph: `tau` finite and `>= 0`, `n_init >= 1`, valid
    /// eigensolver parameters. [`TopDown::fit`] calls it first.
    ///
    /// # Errors
    /// [`Error::Param`] naming the parameter, e.g. `TopDown.tau`.
    pub fn validate(&self) -> Result<()> {
        if !(self.tau >= 0.0 && self.tau.is_finite()) {
            return Err(Error::param(
                "TopDown.tau",
                format!("{} must be finite and >= 0", self.tau),
            ));
        }
        if self.n_init == 0 {
            return Err(Error::param("TopDown.n_init", "must be at least 1"));
        }
        self.eigen.validate()
    }

    /// Run the algorithm.
    ///
    /// # Errors
    /// An empty graph or one without edges; `tau < 0`.
    pub fn fit(&self, g: &Graph) -> Result<TopDownFit> {
        self.fit_with_progress(g, &mut |_| {})
    }

    /// [`TopDown::fit`] reporting [`Stage::Community`] to `progress` after every community
    /// visited (same result, same errors).
    pub fn fit_with_progress(&self, g: &Graph, progress: ProgressFn<'_>) -> Result<TopDownFit> {
        self.validate()?;
        let (sub, kept, isolated) = non_isolated(g)?;
        let mut info = TopDownInfo {
            isolated_nodes: isolated,
            ..Default::default()
        };
        let mut nodes: Vec<Node> = vec![Node::Leaf(Vec::new())];
        // Breadth first, one wave per depth: the communities of a wave are independent, so they
        // are visited in parallel (the small ones are bound by per-step overheads that one core
        // each hides best), and each visit's seed is its slot's, so the tree does not depend on
        // the thread count. Progress is reported from this thread, in slot order. Each visit
        // extracts its subgraph from `sub` and drops it when done, so memory holds `sub` and
        // the subgraphs of the visits in flight (at most one per thread): 323 MB peak on the
        // 200,000-node BTSBM, against 355-364 MB when a split builds its children's subgraphs
        // from its own (no faster: 2.57-2.60 s against 2.60-2.85 s).
        let mut wave = vec![Pending {
            members: (0..sub.n()).collect(),
            depth: 0,
            slot: 0,
        }];
        let (mut visited, mut leaves_so_far) = (0usize, 0usize);
        while !wave.is_empty() {
            let visits: Vec<Result<(Visit, usize)>> = wave
                .par_iter()
                .map(|p| {
                    let stream = p.slot as u64 + 1;
                    if p.slot == 0 {
                        return self.visit(&sub, p.depth, stream);
                    }
                    self.visit(&sub.induced_subgraph(&p.members), p.depth, stream)
                })
                .collect();
            let mut next = Vec::new();
            for (p, v) in wave.into_iter().zip(visits) {
                let (visit, unconverged) = v?;
                info.eigen_unconverged += unconverged;
                visited += 1;
                match visit {
                    Visit::Split(side, sim) => {
                        let mut halves = [Vec::new(), Vec::new()];
                        for (&m, &s) in p.members.iter().zip(&side) {
                            halves[s as usize].push(m);
                        }
                        let sa = nodes.len();
                        nodes.push(Node::Leaf(Vec::new()));
                        nodes.push(Node::Leaf(Vec::new()));
                        nodes[p.slot] = Node::Split(sa, sa + 1, sim);
                        for (c, members) in halves.into_iter().enumerate() {
                            next.push(Pending {
                                members,
                                depth: p.depth + 1,
                                slot: sa + c,
                            });
                        }
                    }
                    leaf => {
                        match leaf {
                            Visit::Limit => info.stopped_by_limit += 1,
                            Visit::Bethe => info.stopped_by_bethe_hessian += 1,
                            _ => info.degenerate_splits += 1,
                        }
                        leaves_so_far += 1;
                        nodes[p.slot] = Node::Leaf(p.members);
                    }
                }
                progress(&Stage::Community {
                    visited,
                    leaves: leaves_so_far,
                });
            }
            wave = next;
        }
        // Number leaves and internal nodes for Dendrogram::from_tree.
        let mut leaf_id = vec![usize::MAX; nodes.len()];
        let mut leaves: Vec<Vec<u32>> = Vec::new();
        let mut communities = vec![UNASSIGNED; g.n()];
        for (s, nd) in nodes.iter().enumerate() {
            if let Node::Leaf(m) = nd {
                leaf_id[s] = leaves.len();
                for &i in m {
                    communities[kept[i]] = leaves.len() as u32;
                }
                leaves.push(m.iter().map(|&i| kept[i] as u32).collect());
            }
        }
        let k = leaves.len();
        let mut internal_id = vec![usize::MAX; nodes.len()];
        let mut next = k;
        for (s, nd) in nodes.iter().enumerate() {
            if let Node::Split(..) = nd {
                internal_id[s] = next;
                next += 1;
            }
        }
        let id = |s: usize| {
            if leaf_id[s] != usize::MAX {
                leaf_id[s]
            } else {
                internal_id[s]
            }
        };
        let internal: Vec<(usize, usize, f64)> = nodes
            .iter()
            .filter_map(|nd| match nd {
                Node::Split(a, b, s) => Some((id(*a), id(*b), *s)),
                Node::Leaf(_) => None,
            })
            .collect();
        let hm = HeightMap::for_graph(g.is_weighted());
        let d = Dendrogram::from_tree(g.ids().to_vec(), leaves, &internal, hm, "top-down")?;
        info.leaves = k;
        info.inversions = d.inversions();
        let params = serde_json::json!({
            "tau": self.tau, "seed": self.seed, "min_size": self.min_size, "max_depth": self.max_depth,
            "n_init": self.n_init, "eigen_tol": self.eigen.tol,
            "eigen_subspace_tol": self.eigen.subspace_tol,
        });
        let dendrogram = d
            .with_params(params)
            .with_info(serde_json::to_value(&info).expect("serialisable"));
        Ok(TopDownFit {
            dendrogram,
            communities,
            info,
        })
    }

    /// Visit the community with induced subgraph `cg` at `depth`, with its own random stream:
    /// the decision, and the number of eigensolves that returned fewer pairs than requested.
    fn visit(&self, cg: &Graph, depth: usize, stream: u64) -> Result<(Visit, usize)> {
        let too_deep = self.max_depth.is_some_and(|d| depth >= d);
        if cg.n() < self.min_size.max(2) || too_deep {
            return Ok((Visit::Limit, 0));
        }
        let mut unconverged = 0;
        if cg.num_edges() == 0 {
            return Ok((Visit::Bethe, 0));
        }
        let (split, ritz) = self.should_split(cg, stream, &mut unconverged)?;
        if !split {
            return Ok((Visit::Bethe, unconverged));
        }
        let Some(side) = self.bisect(cg, stream, ritz, &mut unconverged)? else {
            return Ok((Visit::Degenerate, unconverged));
        };
        let sim = density_between(cg, &side);
        Ok((Visit::Split(side, sim), unconverged))
    }

    /// Eigensolver parameters of the community with random stream `stream` (its own seed).
    fn eigen_for(&self, stream: u64) -> EigenParams {
        EigenParams {
            seed: self.seed ^ stream,
            ..self.eigen.clone()
        }
    }

    /// Stopping rule: split iff the Bethe Hessian of the unweighted subgraph has at least two
    /// negative eigenvalues; with the two Ritz vectors that showed it (iterative path).
    fn should_split(
        &self,
        cg: &Graph,
        stream: u64,
        unconverged: &mut usize,
    ) -> Result<(bool, Option<Vec<f64>>)> {
        let unweighted;
        let g = if cg.is_weighted() {
            let e: Vec<(u32, u32, f64)> = cg
                .edges()
                .map(|(u, v, _)| (u as u32, v as u32, 1.0))
                .collect();
            unweighted = Graph::from_edges(cg.n(), &e, Duplicates::One).expect("valid subgraph");
            &unweighted
        } else {
            cg
        };
        let h = BetheHessian::standard(g);
        let test = sign_test(&h, 2, &self.eigen_for(stream))?;
        if !test.settled {
            *unconverged += 1;
        }
        Ok((test.negative, test.ritz))
    }

    /// Regularised spectral bisection: side (0/1) of every node, or `None` if 2-means puts all
    /// nodes on one side. The eigensolve starts from the Bethe Hessian's two Ritz vectors of
    /// negative Rayleigh quotient when the stopping rule has them (`ritz`, row-major `n x 2`):
    /// they carry the same split (and the degree profile), so the Krylov space starts near
    /// the wanted one: 772 column products instead of 1,092 over the 31 splits of the
    /// 200,000-node BTSBM, every partition unchanged.
    fn bisect(
        &self,
        cg: &Graph,
        stream: u64,
        ritz: Option<Vec<f64>>,
        unconverged: &mut usize,
    ) -> Result<Option<Vec<u32>>> {
        let l = NormalizedLaplacian::new(cg, self.tau);
        let params = self.eigen_for(stream);
        let res = match ritz {
            Some(start) => smallest_eigenpairs_from(&l, 2, &params, start)?,
            None => smallest_eigenpairs(&l, 2, &params)?,
        };
        if res.converged() < 2 {
            *unconverged += 1;
            if res.converged() == 0 {
                return Ok(None);
            }
        }
        let n = cg.n();
        let dim = res.converged();
        let mut emb = vec![0.0; n * dim];
        for j in 0..dim {
            let v = res.vector(j);
            for i in 0..n {
                emb[i * dim + j] = v[i];
            }
        }
        let km = kmeans(
            &emb,
            dim,
            &KMeansParams::new(2)
                .n_init(self.n_init)
                .seed(self.seed ^ stream),
        )?;
        let ones = km.labels.iter().filter(|&&x| x == 1).count();
        if ones == 0 || ones == n {
            return Ok(None);
        }
        Ok(Some(km.labels))
    }
}

/// Edge density between the two sides of a bisection of `cg`: `E(U1, U2) / (|U1| |U2|)`.
fn density_between(cg: &Graph, side: &[u32]) -> f64 {
    // Each cross edge is seen from both ends; partial sums over fixed row blocks, added in
    // order, so the value does not depend on the thread count.
    const ROWS: usize = 4096;
    let parts: Vec<f64> = (0..cg.n().div_ceil(ROWS))
        .into_par_iter()
        .map(|b| {
            let mut e = 0.0;
            for u in b * ROWS..((b + 1) * ROWS).min(cg.n()) {
                let (nb, w) = cg.neighbors(u);
                for (&v, &w) in nb.iter().zip(w) {
                    if side[v as usize] != side[u] {
                        e += w;
                    }
                }
            }
            e
        })
        .collect();
    let e = parts.iter().sum::<f64>() / 2.0;
    let ones = side.iter().filter(|&&x| x == 1).count() as f64;
    let zeros = side.len() as f64 - ones;
    e / (ones * zeros)
}
