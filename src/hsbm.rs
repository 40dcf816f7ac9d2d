//! Hierarchical stochastic block models (HSBM) on a complete `k`-ary tree, the binary case
//! being the BTSBM of Dreveton, Kuroda, Grossglauser & Thiran (JASA 2026, §3.1), with ground
//! truth at every depth.
//!
//! The tree has depth `d` and `K = k^d` leaves (primitive communities). Two nodes whose leaves'
//! lowest common ancestor (LCA) sits at depth `l` are joined independently with probability
//! `p[l]`: `p[0]` across the root split, `p[d]` within a leaf. Leaf `a` is identified with its
//! base-`k` expansion, most significant digit first, so the LCA depth of leaves `a`, `b` is the
//! length of their common prefix.
//!
//! Sampling works per block pair with geometric skips (each block pair has a constant
//! probability), so the cost is O(N + M) for M edges, never O(N^2); block pairs are sampled in
//! parallel, each from its own seeded stream, so results do not depend on the thread count.
//! Node ids are shuffled by a seeded permutation so that communities are not contiguous.

use crate::error::{Error, Result};
use crate::graph::{Duplicates, Graph, Labels};
use crate::util::{rng_for, setters};
use rand::seq::SliceRandom;
use rand::Rng as _;
use rayon::prelude::*;

pub mod tree;

/// How edge probabilities are given.
#[derive(Debug, Clone, PartialEq)]
pub enum EdgeProbs {
    /// `p[l]` directly, `l = 0..=d`.
    P(Vec<f64>),
    /// Log-degree form `p[l] = a[l] ln N / N` (the exact-recovery regime).
    LogDegree(Vec<f64>),
}

/// Community sizes.
#[derive(Debug, Clone, PartialEq)]
pub enum Sizes {
    /// `N` nodes split as evenly as possible over the `K` leaves (the first `N mod K` leaves get
    /// one node more).
    Equal(usize),
    /// One size per leaf (`K` values).
    Explicit(Vec<usize>),
}

/// Parameters of an HSBM on a complete `branching`-ary tree of depth `depth` ([`Default`], a
/// setter per field, [`Self::validate`]).
///
/// ```
/// use neurobricks::hsbm::{EdgeProbs, HsbmParams, Sizes};
///
/// let h = HsbmParams::default()
///     .depth(1)
///     .sizes(Sizes::Explicit(vec![3, 2]))
///     .probs(EdgeProbs::P(vec![0.0, 1.0]))
///     .generate()
///     .unwrap();
/// // Two cliques (3 + 1 edges), nothing between them.
/// assert_eq!(h.graph.n(), 5);
/// assert_eq!(h.graph.num_edges(), 4);
/// let bad = HsbmParams::default().depth(2).probs(EdgeProbs::P(vec![0.1, 0.2]));
/// assert!(bad.validate().unwrap_err().to_string().contains("HsbmParams.probs"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HsbmParams {
    /// Tree depth `d >= 1`.
    pub depth: usize,
    /// Children per internal node (2 for a BTSBM).
    pub branching: usize,
    /// Edge probabilities per LCA depth.
    pub probs: EdgeProbs,
    /// Community sizes.
    pub sizes: Sizes,
    /// Seed of every random choice.
    pub seed: u64,
}

impl Default for HsbmParams {
    /// The README's example: a BTSBM of depth 3 on 1600 nodes with `a = [40, 41, 45, 100]`
    /// (`p[l] = a[l] ln N / N`), seed 0.
    fn default() -> Self {
        HsbmParams {
            depth: 3,
            branching: 2,
            probs: EdgeProbs::LogDegree(vec![40.0, 41.0, 45.0, 100.0]),
            sizes: Sizes::Equal(1600),
            seed: 0,
        }
    }
}

impl HsbmParams {
    setters! {
        /// Set the tree depth.
        depth: usize,
        /// Set the children per internal node.
        branching: usize,
        /// Set the edge probabilities per LCA depth.
        probs: EdgeProbs,
        /// Set the community sizes.
        sizes: Sizes,
        /// Set the seed.
        seed: u64,
    }

    /// Check the parameters ([`Self::resolve`] without its result); [`Self::generate`] calls
    /// it first.
    ///
    /// # Errors
    /// [`Error::Param`] naming the parameter (`HsbmParams.depth`, `HsbmParams.branching`,
    /// `HsbmParams.sizes`, `HsbmParams.probs`).
    pub fn validate(&self) -> Result<()> {
        self.resolve().map(|_| ())
    }

    /// A BTSBM (binary tree) with `n_per_leaf` nodes per community and `p[l] = a[l] ln N / N`.
    pub fn btsbm_log(depth: usize, n_per_leaf: usize, a: Vec<f64>, seed: u64) -> Self {
        HsbmParams {
            depth,
            branching: 2,
            probs: EdgeProbs::LogDegree(a),
            sizes: Sizes::Equal(n_per_leaf << depth),
            seed,
        }
    }

    /// Number of leaves `K = branching^depth`.
    pub fn num_leaves(&self) -> usize {
        self.branching.pow(self.depth as u32)
    }

    fn leaf_sizes(&self) -> Result<Vec<usize>> {
        let k = self.num_leaves();
        match &self.sizes {
            Sizes::Equal(n) => {
                if *n < k {
                    return Err(Error::param(
                        "HsbmParams.sizes",
                        format!("{n} nodes cannot fill {k} communities"),
                    ));
                }
                Ok((0..k).map(|a| n / k + usize::from(a < n % k)).collect())
            }
            Sizes::Explicit(s) => {
                if s.len() != k {
                    return Err(Error::param(
                        "HsbmParams.sizes",
                        format!(
                            "{} sizes given for {k} communities (branching^depth)",
                            s.len()
                        ),
                    ));
                }
                if let Some(a) = s.iter().position(|&x| x == 0) {
                    return Err(Error::param(
                        "HsbmParams.sizes",
                        format!("community {a} has size 0"),
                    ));
                }
                Ok(s.clone())
            }
        }
    }

    /// Validate and return `(leaf sizes, p[0..=d])`.
    pub fn resolve(&self) -> Result<(Vec<usize>, Vec<f64>)> {
        if self.depth == 0 {
            return Err(Error::param(
                "HsbmParams.depth",
                "must be at least 1 (depth 0 is a single community)",
            ));
        }
        if self.branching < 2 {
            return Err(Error::param("HsbmParams.branching", "must be at least 2"));
        }
        if (self.branching as f64).powi(self.depth as i32) > 1e7 {
            return Err(Error::param(
                "HsbmParams.depth",
                format!("{}^{} leaves is too many", self.branching, self.depth),
            ));
        }
        let sizes = self.leaf_sizes()?;
        let n: usize = sizes.iter().sum();
        if n > u32::MAX as usize {
            return Err(Error::param(
                "HsbmParams.sizes",
                format!("{n} nodes exceed the u32 limit"),
            ));
        }
        let flag = "HsbmParams.probs";
        let v = match &self.probs {
            EdgeProbs::P(p) | EdgeProbs::LogDegree(p) => p,
        };
        if v.len() != self.depth + 1 {
            return Err(Error::param(
                flag,
                format!(
                    "{} values given, depth {} needs {} (one per LCA depth 0..={})",
                    v.len(),
                    self.depth,
                    self.depth + 1,
                    self.depth
                ),
            ));
        }
        let p: Vec<f64> = match &self.probs {
            EdgeProbs::P(p) => p.clone(),
            EdgeProbs::LogDegree(a) => {
                let nf = n as f64;
                a.iter().map(|&x| x * nf.ln() / nf).collect()
            }
        };
        for (l, &x) in p.iter().enumerate() {
            if !(0.0..=1.0).contains(&x) || !x.is_finite() {
                return Err(Error::param(
                    flag,
                    format!("p[{l}] = {x} is not a probability in [0, 1]"),
                ));
            }
        }
        Ok((sizes, p))
    }

    /// Expected number of edges and bytes of memory [`HsbmParams::generate`] needs: `(edges,
    /// bytes)`, about 56 bytes per edge (sampled triples, their concatenation, the CSR) and 64
    /// per node. O(K^2) for K communities.
    pub fn estimate(&self) -> Result<(f64, f64)> {
        let (sizes, p) = self.resolve()?;
        Ok(estimate_of(&sizes, &p, self.branching, self.depth))
    }

    /// Refuse a model whose graph cannot fit: more than 2^32 - 1 nodes, or an estimate above
    /// `available` bytes (the message gives the estimate).
    fn check_size(&self, sizes: &[usize], p: &[f64], available: Option<u64>) -> Result<()> {
        let n: usize = sizes.iter().sum();
        let (edges, bytes) = estimate_of(sizes, p, self.branching, self.depth);
        if n as u64 >= u32::MAX as u64 {
            return Err(Error::param(
                "HsbmParams.sizes",
                format!("{n} nodes: at most 2^32 - 2 are supported"),
            ));
        }
        if let Some(avail) = available {
            if bytes > avail as f64 {
                return Err(Error::Input(format!(
                    "the model would have about {edges:.3e} edges on {n} nodes and need about {:.3e} bytes ({:.1} GB) of memory, more than the {:.1} GB available; use fewer nodes or smaller probabilities",
                    bytes,
                    bytes / 1e9,
                    avail as f64 / 1e9
                )));
            }
        }
        Ok(())
    }

    /// Sample a graph with its planted hierarchy.
    ///
    /// # Complexity
    /// O(N + M) time and memory for M sampled edges (plus the O(M log d) CSR build), parallel
    /// over the `K(K+1)/2` block pairs.
    pub fn generate(&self) -> Result<Hsbm> {
        let (sizes, p) = self.resolve()?;
        self.check_size(&sizes, &p, crate::util::available_memory())?;
        let (branching, depth) = (self.branching, self.depth);
        let (graph, leaf) = sample_blocks(&sizes, self.seed, |a, b| {
            p[lca_depth(a, b, branching, depth)]
        })?;
        Ok(Hsbm {
            graph,
            leaf,
            depth: self.depth,
            branching: self.branching,
            probs: p,
        })
    }
}

/// Sample a block graph: leaf `a` holds `sizes[a]` nodes, and each pair of nodes in leaves `a`,
/// `b` (`a <= b`) is joined independently with probability `prob(a, b)`. Returns the graph and
/// the leaf of every node; node ids are shuffled by a permutation drawn from `seed`.
///
/// # Complexity
/// O(N + M) time and memory for M sampled edges, parallel over the `K(K+1)/2` block pairs, each
/// from its own seeded stream.
pub(crate) fn sample_blocks(
    sizes: &[usize],
    seed: u64,
    prob: impl Fn(usize, usize) -> f64 + Sync,
) -> Result<(Graph, Vec<u32>)> {
    let k = sizes.len();
    let n: usize = sizes.iter().sum();
    let mut start = vec![0usize; k + 1];
    for a in 0..k {
        start[a + 1] = start[a] + sizes[a];
    }
    let mut perm: Vec<u32> = (0..n as u32).collect();
    perm.shuffle(&mut rng_for(seed, u64::MAX));
    let pairs: Vec<(usize, usize)> = (0..k).flat_map(|a| (a..k).map(move |b| (a, b))).collect();
    let blocks: Vec<Vec<(u32, u32, f64)>> = pairs
        .par_iter()
        .map(|&(a, b)| {
            let pr = prob(a, b);
            let mut rng = rng_for(seed, (a * k + b) as u64);
            let mut out = Vec::new();
            let (sa, sb) = (start[a], start[b]);
            if a == b {
                let m = sizes[a];
                let total = (m as u64) * (m as u64 - 1) / 2;
                sample_indices(total, pr, &mut rng, |t| {
                    let (i, j) = tri_index(t);
                    out.push((perm[sa + i], perm[sa + j], 1.0));
                });
            } else {
                let nb = sizes[b] as u64;
                let total = sizes[a] as u64 * nb;
                sample_indices(total, pr, &mut rng, |t| {
                    out.push((
                        perm[sa + (t / nb) as usize],
                        perm[sb + (t % nb) as usize],
                        1.0,
                    ));
                });
            }
            out
        })
        .collect();
    let edges: Vec<(u32, u32, f64)> = blocks.concat();
    let graph = Graph::from_edges(n, &edges, Duplicates::One)?;
    let mut leaf = vec![0u32; n];
    for a in 0..k {
        for i in start[a]..start[a + 1] {
            leaf[perm[i] as usize] = a as u32;
        }
    }
    Ok((graph, leaf))
}

/// Depth of the lowest common ancestor of leaves `a` and `b` (the common prefix length of their
/// base-`k` expansions with `d` digits); `d` when `a == b`.
pub fn lca_depth(a: usize, b: usize, k: usize, d: usize) -> usize {
    let mut l = d;
    let (mut x, mut y) = (a, b);
    while x != y {
        x /= k;
        y /= k;
        l -= 1;
    }
    l
}

/// Call `emit(t)` for each index `t < total` kept independently with probability `p`, using
/// geometric skips (Batagelj & Brandes 2005).
fn sample_indices(total: u64, p: f64, rng: &mut crate::util::Rng, mut emit: impl FnMut(u64)) {
    if total == 0 || p <= 0.0 {
        return;
    }
    if p >= 1.0 {
        (0..total).for_each(emit);
        return;
    }
    let lq = (1.0 - p).ln();
    let mut t: u64 = 0;
    loop {
        let u: f64 = 1.0 - rng.random::<f64>(); // in (0, 1]
        let skip = (u.ln() / lq).floor();
        if skip >= (total - t) as f64 {
            return;
        }
        t += skip as u64;
        emit(t);
        t += 1;
        if t >= total {
            return;
        }
    }
}

/// Map a linear index over pairs `i < j` (ordered by `j`, then `i`) to `(i, j)`.
#[inline]
fn tri_index(t: u64) -> (usize, usize) {
    let mut j = ((1.0 + (1.0 + 8.0 * t as f64).sqrt()) / 2.0).floor() as u64;
    while j * (j - 1) / 2 > t {
        j -= 1;
    }
    while (j + 1) * j / 2 <= t {
        j += 1;
    }
    let i = t - j * (j - 1) / 2;
    (i as usize, j as usize)
}

/// A sampled HSBM graph with its planted tree.
#[derive(Debug, Clone)]
pub struct Hsbm {
    /// The graph; node `i` has id `i`.
    pub graph: Graph,
    /// Leaf (primitive community) of each node, `0..K`.
    pub leaf: Vec<u32>,
    /// Tree depth.
    pub depth: usize,
    /// Children per internal node.
    pub branching: usize,
    /// Resolved probabilities `p[0..=d]`.
    pub probs: Vec<f64>,
}

impl Hsbm {
    /// Ground-truth community of every node at depth `l` (`1..=d`): its depth-`l` ancestor.
    pub fn labels_at_depth(&self, l: usize) -> Vec<usize> {
        let div = self.branching.pow((self.depth - l.min(self.depth)) as u32);
        self.leaf.iter().map(|&a| a as usize / div).collect()
    }

    /// Ground truth at every depth as a labels table (columns `depth1..depthD`).
    pub fn labels(&self) -> Labels {
        let cols = (1..=self.depth).map(|l| format!("depth{l}")).collect();
        let parts = (1..=self.depth).map(|l| self.labels_at_depth(l)).collect();
        Labels::from_partitions(cols, self.graph.ids().to_vec(), parts).expect("consistent sizes")
    }
}

/// `(expected edges, bytes)` of a model with these community sizes and per-depth
/// probabilities (see [`HsbmParams::estimate`]).
fn estimate_of(sizes: &[usize], p: &[f64], branching: usize, depth: usize) -> (f64, f64) {
    let k = sizes.len();
    let mut edges = 0.0f64;
    for a in 0..k {
        for b in a..k {
            let pr = p[lca_depth(a, b, branching, depth)];
            let (sa, sb) = (sizes[a] as f64, sizes[b] as f64);
            let pairs = if a == b {
                sa * (sa - 1.0) / 2.0
            } else {
                sa * sb
            };
            edges += pr * pairs;
        }
    }
    let n: usize = sizes.iter().sum();
    (edges, 56.0 * edges + 64.0 * n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tri_index_is_a_bijection() {
        let mut t = 0u64;
        for j in 1..300usize {
            for i in 0..j {
                assert_eq!(tri_index(t), (i, j));
                t += 1;
            }
        }
    }

    #[test]
    fn lca_depths_of_a_binary_tree() {
        assert_eq!(lca_depth(0, 0, 2, 3), 3);
        assert_eq!(lca_depth(0, 1, 2, 3), 2);
        assert_eq!(lca_depth(0, 2, 2, 3), 1);
        assert_eq!(lca_depth(3, 4, 2, 3), 0);
        assert_eq!(lca_depth(5, 26, 3, 3), 0);
        assert_eq!(lca_depth(9, 11, 3, 3), 2);
    }

    /// Empirical density per LCA depth within 4 standard deviations of p[l]; no loops or
    /// duplicate pairs (the CSR build would have merged them, so count raw edges too).
    #[test]
    fn btsbm_densities_match_probabilities() {
        for (seed, branching) in [(1u64, 2usize), (2, 3)] {
            let depth = 3;
            let params = HsbmParams {
                depth,
                branching,
                probs: EdgeProbs::P(vec![0.01, 0.03, 0.08, 0.2]),
                sizes: Sizes::Equal(if branching == 2 { 1600 } else { 2700 }),
                seed,
            };
            let h = params.generate().unwrap();
            let (sizes, p) = params.resolve().unwrap();
            let k = sizes.len();
            let mut cnt = vec![0f64; depth + 1];
            for (u, v, _) in h.graph.edges() {
                assert_ne!(u, v);
                let l = lca_depth(h.leaf[u] as usize, h.leaf[v] as usize, branching, depth);
                cnt[l] += 1.0;
            }
            let mut pairs = vec![0f64; depth + 1];
            for a in 0..k {
                for b in a..k {
                    let l = lca_depth(a, b, branching, depth);
                    pairs[l] += if a == b {
                        (sizes[a] * (sizes[a] - 1) / 2) as f64
                    } else {
                        (sizes[a] * sizes[b]) as f64
                    };
                }
            }
            for l in 0..=depth {
                let sd = (pairs[l] * p[l] * (1.0 - p[l])).sqrt();
                let z = (cnt[l] - pairs[l] * p[l]) / sd;
                assert!(
                    z.abs() < 4.0,
                    "seed {seed} depth {l}: {} edges, expected {}, z = {z}",
                    cnt[l],
                    pairs[l] * p[l]
                );
            }
            // The same seed gives the same graph; node ids are shuffled.
            let h2 = params.generate().unwrap();
            assert_eq!(h.graph.adjacency(), h2.graph.adjacency());
            assert_ne!(h.leaf[..10], [0u32; 10]);
        }
    }

    /// A depth-1 binary model: two blocks with edge probabilities `p` (`[root, leaf]`).
    fn two_blocks(p: Vec<f64>, sizes: Sizes, seed: u64) -> HsbmParams {
        HsbmParams {
            depth: 1,
            branching: 2,
            probs: EdgeProbs::P(p),
            sizes,
            seed,
        }
    }

    #[test]
    fn sampler_emits_no_duplicate_pairs() {
        let params = two_blocks(vec![0.3, 0.9], Sizes::Explicit(vec![40, 25]), 5);
        let (sizes, p) = params.resolve().unwrap();
        let mut rng = rng_for(1, 1);
        let mut seen = std::collections::HashSet::new();
        sample_indices((sizes[0] * sizes[1]) as u64, p[0], &mut rng, |t| {
            assert!(seen.insert(t))
        });
        let h = params.generate().unwrap();
        assert_eq!(h.graph.n(), 65);
        assert_eq!(h.labels_at_depth(1).iter().filter(|&&c| c == 0).count(), 40);
    }

    #[test]
    fn bad_parameters_are_errors() {
        let mut p = HsbmParams::btsbm_log(0, 10, vec![1.0], 0);
        assert!(p.generate().unwrap_err().to_string().contains("depth"));
        p.depth = 2;
        assert!(p
            .generate()
            .unwrap_err()
            .to_string()
            .contains("`HsbmParams.probs`"));
        p.probs = EdgeProbs::P(vec![0.1, 0.2, 1.5]);
        assert!(p.generate().unwrap_err().to_string().contains("p[2] = 1.5"));
        p.probs = EdgeProbs::P(vec![0.1, 0.2, 0.5]);
        p.sizes = Sizes::Explicit(vec![1, 2, 3]);
        assert!(p.generate().unwrap_err().to_string().contains("sizes"));
    }

    /// Issue 13, defect 11: a model that cannot fit is refused with the estimate, before any
    /// allocation.
    #[test]
    fn size_guard_gives_the_estimate() {
        let h = two_blocks(vec![1.0, 1.0], Sizes::Equal(1_000_000_000), 0);
        let (edges, bytes) = h.estimate().unwrap();
        assert!((edges - 5e17).abs() < 1e15, "{edges}");
        assert!(bytes > 2e19);
        let (sizes, p) = h.resolve().unwrap();
        let e = h
            .check_size(&sizes, &p, Some(16 << 30))
            .unwrap_err()
            .to_string();
        assert!(e.contains("5.000e17 edges") && e.contains("GB"), "{e}");
        if crate::util::available_memory().is_some() {
            let e = h.generate().unwrap_err().to_string();
            assert!(e.contains("edges"), "{e}");
        }
    }
}
