//! The brick dendrogram: a binary tree over K leaves (primitive communities, each a set of
//! nodes), with merges in SciPy linkage order.
//!
//! Merge `t` joins clusters `left` and `right` (ids `< K` are leaves, `K + s` is the cluster made
//! by merge `s`) into cluster `K + t`. Every merge records the edge density between its two
//! children (`similarity`, the average-linkage criterion of Dreveton et al., JASA 2026) and a
//! `height` derived from it by the dendrogram's [`HeightMap`]. Merges are stored in the order in
//! which a cut by decreasing similarity applies them, children always before parents, so
//! `cut_k(k)` applies the first `K - k` merges. Bottom-up trees are monotone; top-down trees may
//! contain inversions (a merge less similar than its parent), which [`Dendrogram::inversions`]
//! counts.

use crate::error::{Error, Result};
use crate::util::{wio, write_atomic, FxHashMap};
use serde::{Deserialize, Serialize};
use std::collections::BinaryHeap;
use std::io::Write;
use std::path::Path;

/// How merge similarities become heights (distances).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeightMap {
    /// `height = 1 - similarity` (unweighted graphs: densities lie in [0, 1]).
    OneMinus,
    /// `height = 1 / (1 + similarity)` (weighted graphs), as in the paper's code.
    Reciprocal,
}

impl HeightMap {
    /// Apply the map.
    pub fn height(self, s: f64) -> f64 {
        match self {
            HeightMap::OneMinus => 1.0 - s,
            HeightMap::Reciprocal => 1.0 / (1.0 + s),
        }
    }
    /// The natural map for a graph: [`HeightMap::OneMinus`] when unweighted.
    pub fn for_graph(weighted: bool) -> Self {
        if weighted {
            HeightMap::Reciprocal
        } else {
            HeightMap::OneMinus
        }
    }
}

/// One merge of two clusters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Merge {
    /// First child id.
    pub left: usize,
    /// Second child id.
    pub right: usize,
    /// Height (distance) of the merge, from the similarity by the height map.
    pub height: f64,
    /// Edge density between the two children: `E(L, R) / (|L| |R|)`.
    pub similarity: f64,
    /// Number of nodes below the merge.
    pub size: usize,
    /// Number of leaves below the merge.
    pub leaf_count: usize,
}

/// A dendrogram over primitive communities of a graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Dendrogram {
    /// Ids of all nodes of the graph the tree was built on (index = node index).
    pub node_ids: Vec<String>,
    /// Members (node indices) of each leaf.
    pub leaves: Vec<Vec<u32>>,
    /// `K - 1` merges in SciPy order.
    pub merges: Vec<Merge>,
    /// Similarity-to-height map.
    pub height_map: HeightMap,
    /// Algorithm that built the tree.
    pub method: String,
    /// Its parameters.
    pub params: serde_json::Value,
    /// Diagnostics (e.g. eigensolver convergence).
    pub info: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
struct LeafJson {
    size: usize,
    members: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct DendrogramJson {
    format: String,
    method: String,
    params: serde_json::Value,
    info: serde_json::Value,
    height_map: HeightMap,
    num_leaves: usize,
    inversions: usize,
    nodes: Vec<String>,
    leaves: Vec<LeafJson>,
    merges: Vec<Merge>,
}

const FORMAT: &str = "neurobricks-dendrogram/1";

/// Tolerance under which a similarity increase is rounding, not an inversion.
const INVERSION_RTOL: f64 = 1e-12;

impl Dendrogram {
    /// Build from leaves and merges already in SciPy order; validated.
    pub fn new(
        node_ids: Vec<String>,
        leaves: Vec<Vec<u32>>,
        merges: Vec<Merge>,
        height_map: HeightMap,
        method: &str,
    ) -> Result<Self> {
        let d = Dendrogram {
            node_ids,
            leaves,
            merges,
            height_map,
            method: method.to_string(),
            params: serde_json::Value::Null,
            info: serde_json::Value::Null,
        };
        d.validate()?;
        Ok(d)
    }

    /// Build from an arbitrary binary tree: `internal[i] = (a, b, similarity)` defines cluster
    /// `K + i` with children `a`, `b` (ids `< K` are leaves, others internal, in any order).
    /// Merges are ordered as a cut by decreasing similarity applies them: repeatedly the most
    /// similar internal node whose children are both formed (ties: smaller id first).
    pub fn from_tree(
        node_ids: Vec<String>,
        leaves: Vec<Vec<u32>>,
        internal: &[(usize, usize, f64)],
        height_map: HeightMap,
        method: &str,
    ) -> Result<Self> {
        let k = leaves.len();
        if k == 0 {
            return Err(Error::Input("a dendrogram needs at least one leaf".into()));
        }
        if internal.len() + 1 != k {
            return Err(Error::Input(format!(
                "{} internal nodes for {k} leaves",
                internal.len()
            )));
        }
        let total = 2 * k - 1;
        let mut parent = vec![usize::MAX; total];
        for (i, &(a, b, _)) in internal.iter().enumerate() {
            for c in [a, b] {
                if c >= total || c == k + i || parent[c] != usize::MAX {
                    return Err(Error::Input(format!(
                        "invalid tree: child {c} of internal node {}",
                        k + i
                    )));
                }
                parent[c] = k + i;
            }
        }
        let mut pending = vec![2u8; internal.len()];
        let mut heap: BinaryHeap<(OrdF64, std::cmp::Reverse<usize>)> = BinaryHeap::new();
        let ready = |c: usize,
                     heap: &mut BinaryHeap<(OrdF64, std::cmp::Reverse<usize>)>,
                     pending: &mut Vec<u8>| {
            let p = parent[c];
            if p != usize::MAX {
                pending[p - k] -= 1;
                if pending[p - k] == 0 {
                    heap.push((OrdF64(internal[p - k].2), std::cmp::Reverse(p)));
                }
            }
        };
        for c in 0..k {
            ready(c, &mut heap, &mut pending);
        }
        let mut new_id = vec![usize::MAX; total];
        for (c, slot) in new_id.iter_mut().enumerate().take(k) {
            *slot = c;
        }
        let mut ordered = Vec::with_capacity(k - 1);
        while let Some((OrdF64(s), std::cmp::Reverse(p))) = heap.pop() {
            let (a, b, _) = internal[p - k];
            new_id[p] = k + ordered.len();
            ordered.push((new_id[a], new_id[b], s));
            ready(p, &mut heap, &mut pending);
        }
        if ordered.len() + 1 != k {
            return Err(Error::Input(
                "invalid tree: not connected or has a cycle".into(),
            ));
        }
        let merges = scipy_merges(&leaves, &ordered, height_map);
        Dendrogram::new(node_ids, leaves, merges, height_map, method)
    }

    /// Attach parameters (recorded in the JSON).
    pub fn with_params(mut self, params: serde_json::Value) -> Self {
        self.params = params;
        self
    }
    /// Attach diagnostics (recorded in the JSON).
    pub fn with_info(mut self, info: serde_json::Value) -> Self {
        self.info = info;
        self
    }

    /// Number of leaves K.
    pub fn num_leaves(&self) -> usize {
        self.leaves.len()
    }

    /// Check the structure: K-1 merges, each child formed before use and used once, sizes
    /// consistent, leaves disjoint.
    pub fn validate(&self) -> Result<()> {
        let k = self.leaves.len();
        if k == 0 {
            return Err(Error::Input("a dendrogram needs at least one leaf".into()));
        }
        if self.merges.len() + 1 != k {
            return Err(Error::Input(format!(
                "{} merges for {k} leaves (need {})",
                self.merges.len(),
                k - 1
            )));
        }
        let n = self.node_ids.len();
        let mut seen = vec![false; n];
        for (a, leaf) in self.leaves.iter().enumerate() {
            if leaf.is_empty() {
                return Err(Error::Input(format!("leaf {a} is empty")));
            }
            for &m in leaf {
                let m = m as usize;
                if m >= n || seen[m] {
                    return Err(Error::Input(format!(
                        "leaf {a}: node index {m} out of range or in two leaves"
                    )));
                }
                seen[m] = true;
            }
        }
        let mut used = vec![false; 2 * k - 1];
        let mut size: Vec<usize> = self.leaves.iter().map(|l| l.len()).collect();
        let mut lc = vec![1usize; k];
        for (t, m) in self.merges.iter().enumerate() {
            for c in [m.left, m.right] {
                if c >= k + t || used[c] {
                    return Err(Error::Input(format!(
                        "merge {t}: child {c} not yet formed or already merged"
                    )));
                }
                used[c] = true;
            }
            if m.left == m.right {
                return Err(Error::Input(format!(
                    "merge {t} joins cluster {} with itself",
                    m.left
                )));
            }
            let s = size[m.left] + size[m.right];
            let l = lc[m.left] + lc[m.right];
            if m.size != s || m.leaf_count != l {
                return Err(Error::Input(format!(
                    "merge {t}: size {} / leaf count {} should be {s} / {l}",
                    m.size, m.leaf_count
                )));
            }
            if !m.similarity.is_finite() || !m.height.is_finite() {
                return Err(Error::Input(format!(
                    "merge {t}: non-finite similarity or height"
                )));
            }
            size.push(s);
            lc.push(l);
        }
        Ok(())
    }

    /// Parent id of every cluster id (`usize::MAX` for the root).
    pub fn parents(&self) -> Vec<usize> {
        let k = self.num_leaves();
        let mut p = vec![usize::MAX; 2 * k - 1];
        for (t, m) in self.merges.iter().enumerate() {
            p[m.left] = k + t;
            p[m.right] = k + t;
        }
        p
    }

    /// Cluster of each leaf after applying the first `K - k` merges (a cut by decreasing
    /// similarity into `k` clusters). Clusters are numbered `0..k` in order of their smallest
    /// leaf.
    ///
    /// ```
    /// use neurobricks::hierarchy::{Dendrogram, HeightMap};
    /// // Four leaves of two nodes; (0, 1) merge first, then (2, 3), then both.
    /// let ids: Vec<String> = (0..8).map(|i| i.to_string()).collect();
    /// let leaves = vec![vec![0, 1], vec![2, 3], vec![4, 5], vec![6, 7]];
    /// let d = Dendrogram::from_tree(ids, leaves, &[(0, 1, 0.9), (2, 3, 0.8), (4, 5, 0.1)],
    ///     HeightMap::OneMinus, "example").unwrap();
    /// assert_eq!(d.cut_k(2).unwrap(), vec![0, 0, 1, 1]);
    /// assert_eq!(d.cut_k(3).unwrap(), vec![0, 0, 1, 2]);
    /// assert_eq!(d.cut_k(4).unwrap(), vec![0, 1, 2, 3]);
    /// assert!(d.cut_k(5).is_err());
    /// ```
    pub fn cut_k(&self, k: usize) -> Result<Vec<u32>> {
        let nl = self.num_leaves();
        if k == 0 || k > nl {
            return Err(Error::param(
                "k",
                format!("cannot cut a tree with {nl} leaves into {k} clusters (1..={nl})"),
            ));
        }
        let mut uf: Vec<usize> = (0..2 * nl - 1).collect();
        let mut rep: Vec<usize> = (0..2 * nl - 1).collect(); // cluster id -> union-find root
        fn find(uf: &mut [usize], mut x: usize) -> usize {
            while uf[x] != x {
                uf[x] = uf[uf[x]];
                x = uf[x];
            }
            x
        }
        for (t, m) in self.merges.iter().take(nl - k).enumerate() {
            let a = find(&mut uf, rep[m.left]);
            let b = find(&mut uf, rep[m.right]);
            uf[b] = a;
            rep[nl + t] = a;
        }
        let mut label = vec![u32::MAX; 2 * nl - 1];
        let mut next = 0u32;
        let mut out = Vec::with_capacity(nl);
        for leaf in 0..nl {
            let r = find(&mut uf, leaf);
            if label[r] == u32::MAX {
                label[r] = next;
                next += 1;
            }
            out.push(label[r]);
        }
        Ok(out)
    }

    /// Depth (edges from the root) of every cluster id.
    pub fn depths(&self) -> Vec<usize> {
        let k = self.num_leaves();
        let mut depth = vec![0usize; 2 * k - 1];
        for (t, m) in self.merges.iter().enumerate().rev() {
            let d = depth[k + t] + 1;
            depth[m.left] = d;
            depth[m.right] = d;
        }
        depth
    }

    /// Cluster of each leaf when the tree is cut at depth `l`: the subtrees rooted at depth `l`
    /// (leaves shallower than `l` stay their own cluster). Numbered by smallest leaf.
    ///
    /// ```
    /// use neurobricks::hierarchy::{Dendrogram, HeightMap};
    /// // Four leaves of two nodes; (0, 1) merge first, then (2, 3), then both.
    /// let ids: Vec<String> = (0..8).map(|i| i.to_string()).collect();
    /// let leaves = vec![vec![0, 1], vec![2, 3], vec![4, 5], vec![6, 7]];
    /// let d = Dendrogram::from_tree(ids, leaves, &[(0, 1, 0.9), (2, 3, 0.8), (4, 5, 0.1)],
    ///     HeightMap::OneMinus, "example").unwrap();
    /// assert_eq!(d.cut_depth(0), vec![0, 0, 0, 0]);
    /// assert_eq!(d.cut_depth(1), vec![0, 0, 1, 1]);
    /// assert_eq!(d.cut_depth(2), vec![0, 1, 2, 3]);
    /// ```
    pub fn cut_depth(&self, l: usize) -> Vec<u32> {
        let k = self.num_leaves();
        let depth = self.depths();
        let parent = self.parents();
        // Cluster of each node at depth `l`, root first (a parent's id is above its
        // children's): O(K), whatever the tree's depth.
        let mut top = vec![0usize; 2 * k - 1];
        for c in (0..2 * k - 1).rev() {
            top[c] = if depth[c] <= l { c } else { top[parent[c]] };
        }
        number_by_first_leaf(&top, k)
    }

    /// Expand a per-leaf labeling to nodes: `Some(label)` for nodes in a leaf, `None` otherwise.
    pub fn expand_to_nodes(&self, leaf_labels: &[u32]) -> Vec<Option<u32>> {
        let mut out = vec![None; self.node_ids.len()];
        for (a, leaf) in self.leaves.iter().enumerate() {
            for &m in leaf {
                out[m as usize] = Some(leaf_labels[a]);
            }
        }
        out
    }

    /// Cut into `min(k, leaves)` clusters ([`Dendrogram::cut_k`]) and give each node its
    /// cluster, `usize::MAX` for nodes in no leaf: the per-node partition the metrics take.
    ///
    /// # Errors
    /// `k = 0`.
    pub fn node_clusters(&self, k: usize) -> Result<Vec<usize>> {
        let cut = self.cut_k(k.min(self.num_leaves()))?;
        Ok(self
            .expand_to_nodes(&cut)
            .iter()
            .map(|x| x.map_or(usize::MAX, |v| v as usize))
            .collect())
    }

    /// Leaves in the left-to-right order of a drawing (depth-first, left child first): the
    /// [`Dendrogram::leaves_under`] the root.
    ///
    /// ```
    /// use neurobricks::hierarchy::{Dendrogram, HeightMap};
    /// // Four leaves of two nodes; (0, 1) merge first, then (2, 3), then both.
    /// let ids: Vec<String> = (0..8).map(|i| i.to_string()).collect();
    /// let leaves = vec![vec![0, 1], vec![2, 3], vec![4, 5], vec![6, 7]];
    /// let d = Dendrogram::from_tree(ids, leaves, &[(0, 1, 0.9), (2, 3, 0.8), (4, 5, 0.1)],
    ///     HeightMap::OneMinus, "example").unwrap();
    /// assert_eq!(d.leaf_order(), vec![0, 1, 2, 3]);
    /// assert_eq!(d.num_leaves(), 4);
    /// assert!(d.is_monotone());
    /// ```
    pub fn leaf_order(&self) -> Vec<usize> {
        self.leaves_under(2 * self.num_leaves() - 2)
    }

    /// The leaves below cluster id `c` (a leaf `< K` or merge `K + t`) in drawing order
    /// (depth-first, left child first). Cost O(leaves below `c`).
    ///
    /// # Panics
    /// If `c >= 2K - 1` (no such cluster).
    pub fn leaves_under(&self, c: usize) -> Vec<usize> {
        let k = self.num_leaves();
        let mut out = Vec::new();
        let mut stack = vec![c];
        while let Some(x) = stack.pop() {
            if x < k {
                out.push(x);
            } else {
                let m = &self.merges[x - k];
                stack.push(m.right);
                stack.push(m.left);
            }
        }
        out
    }

    /// Size of cluster id `c` in nodes (a leaf's member count, or the merge's size).
    fn cluster_size(&self, c: usize) -> usize {
        let k = self.num_leaves();
        if c < k {
            self.leaves[c].len()
        } else {
            self.merges[c - k].size
        }
    }

    /// Cluster of each leaf for a cut bounded by cluster sizes (in nodes).
    ///
    /// Descending from the root, a cluster larger than `max` is replaced by its two children; a
    /// cluster no larger than `max` (or a leaf) becomes a cluster of the cut. Leaves larger than
    /// `max` stay whole (the tree cannot split them). Then, repeatedly, a cluster smaller than
    /// `min` is merged with its sibling when that sibling is itself one cluster of the cut: the
    /// two become their parent, which was split for being larger than `max`, so `min` wins over
    /// `max` there. An undersized cluster whose sibling was split further stays as it is.
    /// `min = 0` (or 1) keeps the first step's cut. Clusters are numbered `0..` in order of
    /// their smallest leaf. Cost O(K) per pass of the undersized fix, at most K passes.
    ///
    /// # Errors
    /// [`Error::Param`] naming `max` when `max == 0` and `min` when `min > max`.
    ///
    /// ```
    /// use neurobricks::hierarchy::{Dendrogram, HeightMap};
    /// // Leaves of 1, 2, 3 and 4 nodes; tree ((0, 1), (2, 3)).
    /// let ids: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    /// let leaves = vec![vec![0], vec![1, 2], vec![3, 4, 5], vec![6, 7, 8, 9]];
    /// let d = Dendrogram::from_tree(ids, leaves, &[(0, 1, 0.9), (2, 3, 0.8), (4, 5, 0.1)],
    ///     HeightMap::OneMinus, "example").unwrap();
    /// // max 4: the root (10 nodes) and its right child (7) are split; the left child (3) stays.
    /// assert_eq!(d.cut_size(4, 0).unwrap(), vec![0, 0, 1, 2]);
    /// // max 2: everything is split; leaves 2 and 3 are larger than 2 but stay whole.
    /// assert_eq!(d.cut_size(2, 0).unwrap(), vec![0, 1, 2, 3]);
    /// // min 2 as well: leaf 0 (1 node) joins its sibling leaf 1, a cluster of 3 > max.
    /// assert_eq!(d.cut_size(2, 2).unwrap(), vec![0, 0, 1, 2]);
    /// assert_eq!(d.cut_size(10, 0).unwrap(), vec![0, 0, 0, 0]);
    /// assert!(d.cut_size(2, 3).unwrap_err().to_string().contains("`min`"));
    /// assert!(d.cut_size(0, 0).unwrap_err().to_string().contains("`max`"));
    /// ```
    pub fn cut_size(&self, max: usize, min: usize) -> Result<Vec<u32>> {
        if max == 0 {
            return Err(Error::param(
                "max",
                "the largest cluster must be at least 1 node",
            ));
        }
        if min > max {
            return Err(Error::param(
                "min",
                format!("the smallest cluster ({min}) must not exceed the largest ({max})"),
            ));
        }
        let k = self.num_leaves();
        let children = |c: usize| (self.merges[c - k].left, self.merges[c - k].right);
        // Top-down: collect the clusters of the cut.
        let mut is_chosen = vec![false; 2 * k - 1];
        let mut stack = vec![2 * k - 2];
        while let Some(c) = stack.pop() {
            if c >= k && self.cluster_size(c) > max {
                let (l, r) = children(c);
                stack.push(r);
                stack.push(l);
            } else {
                is_chosen[c] = true;
            }
        }
        // Bottom-up fix of undersized clusters: merge with a sibling that is itself one cluster.
        let parent = self.parents();
        let mut changed = true;
        while changed {
            changed = false;
            for c in 0..2 * k - 1 {
                if !is_chosen[c] || self.cluster_size(c) >= min || parent[c] == usize::MAX {
                    continue;
                }
                let p = parent[c];
                let (l, r) = children(p);
                let sib = if l == c { r } else { l };
                if is_chosen[sib] {
                    is_chosen[c] = false;
                    is_chosen[sib] = false;
                    is_chosen[p] = true;
                    changed = true;
                }
            }
        }
        // Label leaves by their chosen ancestor, found root first (a parent's id is above its
        // children's): O(K), not a parent walk per leaf.
        let mut top = vec![usize::MAX; 2 * k - 1];
        for c in (0..2 * k - 1).rev() {
            top[c] = if is_chosen[c] || parent[c] == usize::MAX {
                c
            } else {
                top[parent[c]]
            };
        }
        Ok(number_by_first_leaf(&top, k))
    }

    /// Number of inversions: internal nodes whose similarity is lower than their parent's
    /// (beyond a relative rounding tolerance of 1e-12). Zero for bottom-up trees.
    pub fn inversions(&self) -> usize {
        let k = self.num_leaves();
        let parent = self.parents();
        (0..self.merges.len())
            .filter(|&t| {
                let p = parent[k + t];
                if p == usize::MAX {
                    return false;
                }
                let (s, sp) = (self.merges[t].similarity, self.merges[p - k].similarity);
                s < sp - INVERSION_RTOL * sp.abs().max(1e-300)
            })
            .count()
    }

    /// Whether merge similarities never increase along the merge sequence.
    pub fn is_monotone(&self) -> bool {
        self.merges
            .windows(2)
            .all(|w| w[1].similarity <= w[0].similarity * (1.0 + INVERSION_RTOL) + 1e-300)
    }

    /// SciPy linkage matrix `(K-1) x 4`: `[left, right, height, number of leaves below]`.
    pub fn linkage_matrix(&self) -> Vec<[f64; 4]> {
        self.merges
            .iter()
            .map(|m| [m.left as f64, m.right as f64, m.height, m.leaf_count as f64])
            .collect()
    }

    /// Write the SciPy linkage matrix as a float64 `.npy` file (atomically).
    pub fn write_scipy_npy(&self, path: &Path) -> Result<()> {
        let z = self.linkage_matrix();
        write_atomic(path, |w| {
            let e = wio(path);
            let header = format!(
                "{{'descr': '<f8', 'fortran_order': False, 'shape': ({}, 4), }}",
                z.len()
            );
            let mut h = header.into_bytes();
            // Pad so that magic(6) + version(2) + len(2) + header is a multiple of 64, ending in '\n'.
            let total = 10 + h.len() + 1;
            let pad = (64 - total % 64) % 64;
            h.extend(std::iter::repeat_n(b' ', pad));
            h.push(b'\n');
            w.write_all(b"\x93NUMPY\x01\x00").map_err(&e)?;
            w.write_all(&(h.len() as u16).to_le_bytes()).map_err(&e)?;
            w.write_all(&h).map_err(&e)?;
            for row in &z {
                for x in row {
                    w.write_all(&x.to_le_bytes()).map_err(&e)?;
                }
            }
            Ok(())
        })
    }

    /// Newick string with branch lengths (parent height minus child height, leaves at 0;
    /// negative lengths from inversions are written as 0). Leaves are named `L<i>`.
    pub fn to_newick(&self) -> String {
        let k = self.num_leaves();
        let height = |c: usize| {
            if c < k {
                0.0
            } else {
                self.merges[c - k].height
            }
        };
        // Iterative (an explicit stack): a caterpillar tree of any depth cannot overflow the
        // call stack. O(K).
        enum Item {
            Node(usize),
            Text(char),
            Len(f64),
        }
        let mut s = String::new();
        let mut stack = vec![Item::Node(2 * k - 2)];
        while let Some(it) = stack.pop() {
            match it {
                Item::Text(ch) => s.push(ch),
                Item::Len(x) => {
                    use std::fmt::Write;
                    let _ = write!(s, ":{x}");
                }
                Item::Node(c) if c < k => {
                    use std::fmt::Write;
                    let _ = write!(s, "L{c}");
                }
                Item::Node(c) => {
                    let m = &self.merges[c - k];
                    s.push('(');
                    stack.push(Item::Text(')'));
                    stack.push(Item::Len((m.height - height(m.right)).max(0.0)));
                    stack.push(Item::Node(m.right));
                    stack.push(Item::Text(','));
                    stack.push(Item::Len((m.height - height(m.left)).max(0.0)));
                    stack.push(Item::Node(m.left));
                }
            }
        }
        s.push(';');
        s
    }

    /// Serialise to JSON (see DESIGN.md §2).
    pub fn to_json(&self) -> String {
        let j = DendrogramJson {
            format: FORMAT.into(),
            method: self.method.clone(),
            params: self.params.clone(),
            info: self.info.clone(),
            height_map: self.height_map,
            num_leaves: self.num_leaves(),
            inversions: self.inversions(),
            nodes: self.node_ids.clone(),
            leaves: self
                .leaves
                .iter()
                .map(|l| LeafJson {
                    size: l.len(),
                    members: l
                        .iter()
                        .map(|&m| self.node_ids[m as usize].clone())
                        .collect(),
                })
                .collect(),
            merges: self.merges.clone(),
        };
        serde_json::to_string(&j).expect("serialisable")
    }

    /// Parse the JSON written by [`Dendrogram::to_json`]; `path` is used in error messages.
    pub fn from_json(s: &str, path: &Path) -> Result<Self> {
        let j: DendrogramJson = serde_json::from_str(s)
            .map_err(|e| Error::parse(path, e.line(), format!("not a dendrogram JSON: {e}")))?;
        if j.format != FORMAT {
            return Err(Error::parse(
                path,
                0,
                format!("unknown format `{}` (expected `{FORMAT}`)", j.format),
            ));
        }
        let mut pos: FxHashMap<&str, u32> = FxHashMap::default();
        for (i, id) in j.nodes.iter().enumerate() {
            if pos.insert(id.as_str(), i as u32).is_some() {
                return Err(Error::parse(
                    path,
                    0,
                    format!("node `{id}` listed twice in `nodes`"),
                ));
            }
        }
        let leaves = j
            .leaves
            .iter()
            .enumerate()
            .map(|(a, l)| {
                l.members
                    .iter()
                    .map(|m| {
                        pos.get(m.as_str()).copied().ok_or_else(|| {
                            Error::parse(
                                path,
                                0,
                                format!("leaf {a}: member `{m}` is not in `nodes`"),
                            )
                        })
                    })
                    .collect::<Result<Vec<u32>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        let d = Dendrogram {
            node_ids: j.nodes.clone(),
            leaves,
            merges: j.merges,
            height_map: j.height_map,
            method: j.method,
            params: j.params,
            info: j.info,
        };
        d.validate()
            .map_err(|e| Error::parse(path, 0, e.to_string()))?;
        // Heights of a file must be what the height map makes of the similarities, in the
        // map's range: [0, 2] for `1 - s` (s a density in [0, 1] or a correlation in [-1, 1]),
        // (0, 1] for `1 / (1 + s)` (s >= 0).
        let (lo, hi) = match d.height_map {
            HeightMap::OneMinus => (-1.0, 1.0),
            HeightMap::Reciprocal => (0.0, f64::MAX),
        };
        for (t, m) in d.merges.iter().enumerate() {
            // (a rounding margin: a correlation computed as 1 + 1 ulp is still fine)
            if !(lo - 1e-9..=hi + 1e-9).contains(&m.similarity) {
                return Err(Error::parse(
                    path,
                    0,
                    format!(
                        "merge {t}: similarity {} is outside [{lo}, {}] for height map {:?}",
                        m.similarity,
                        if hi == f64::MAX {
                            "inf".to_string()
                        } else {
                            hi.to_string()
                        },
                        d.height_map
                    ),
                ));
            }
            let h = d.height_map.height(m.similarity);
            if (m.height - h).abs() > 1e-9 * h.abs().max(1.0) {
                return Err(Error::parse(
                    path,
                    0,
                    format!(
                        "merge {t}: height {} does not match similarity {} (height map {:?} gives {h})",
                        m.height, m.similarity, d.height_map
                    ),
                ));
            }
        }
        Ok(d)
    }

    /// Read a dendrogram JSON file.
    pub fn read(path: &Path) -> Result<Self> {
        let s = crate::graph::io::read_to_string(path)?;
        Self::from_json(&s, path)
    }

    /// Write the JSON atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let s = self.to_json();
        write_atomic(path, |w| w.write_all(s.as_bytes()).map_err(wio(path)))
    }
}

/// `f64` ordered by `total_cmp`, for heaps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct OrdF64(pub f64);
impl Eq for OrdF64 {}
impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for OrdF64 {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0)
    }
}

/// The merges of `pairs` in SciPy order (`pairs[t] = (left, right, similarity)` forms cluster
/// `K + t`): heights by `height_map`, sizes and leaf counts summed from the children. O(K).
pub(crate) fn scipy_merges(
    leaves: &[Vec<u32>],
    pairs: &[(usize, usize, f64)],
    height_map: HeightMap,
) -> Vec<Merge> {
    let mut size: Vec<usize> = leaves.iter().map(|l| l.len()).collect();
    let mut leaf_count = vec![1usize; leaves.len()];
    pairs
        .iter()
        .map(|&(a, b, s)| {
            let m = Merge {
                left: a,
                right: b,
                height: height_map.height(s),
                similarity: s,
                size: size[a] + size[b],
                leaf_count: leaf_count[a] + leaf_count[b],
            };
            size.push(m.size);
            leaf_count.push(m.leaf_count);
            m
        })
        .collect()
}

/// The cluster of each of the `k` leaves when `top[leaf]` is the tree node of its cluster:
/// clusters numbered `0..` in order of their smallest leaf (the numbering of every cut).
fn number_by_first_leaf(top: &[usize], k: usize) -> Vec<u32> {
    let mut label = vec![u32::MAX; top.len()];
    let mut next = 0u32;
    (0..k)
        .map(|leaf| {
            let c = top[leaf];
            if label[c] == u32::MAX {
                label[c] = next;
                next += 1;
            }
            label[c]
        })
        .collect()
}
#[cfg(test)]
mod tests {
    use super::*;

    /// ((0,1),(2,3)) with similarities 0.9, 0.8 (pairs) and 0.1 (root).
    fn four() -> Dendrogram {
        let ids: Vec<String> = (0..8).map(|i| format!("n{i}")).collect();
        let leaves = vec![vec![0, 1], vec![2, 3], vec![4, 5], vec![6, 7]];
        Dendrogram::from_tree(
            ids,
            leaves,
            &[(0, 1, 0.9), (2, 3, 0.8), (4, 5, 0.1)],
            HeightMap::OneMinus,
            "test",
        )
        .unwrap()
    }

    #[test]
    fn cuts_order_and_exports() {
        let d = four();
        assert_eq!(d.merges.len(), 3);
        assert_eq!((d.merges[0].left, d.merges[0].right), (0, 1));
        assert_eq!(d.merges[2].size, 8);
        assert_eq!(d.merges[2].leaf_count, 4);
        assert_eq!(d.cut_k(4).unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(d.cut_k(3).unwrap(), vec![0, 0, 1, 2]);
        assert_eq!(d.cut_k(2).unwrap(), vec![0, 0, 1, 1]);
        assert_eq!(d.cut_k(1).unwrap(), vec![0, 0, 0, 0]);
        assert!(d.cut_k(5).is_err());
        assert_eq!(d.cut_depth(1), vec![0, 0, 1, 1]);
        assert_eq!(d.cut_depth(0), vec![0, 0, 0, 0]);
        assert_eq!(d.leaf_order(), vec![0, 1, 2, 3]);
        assert_eq!(d.inversions(), 0);
        assert!(d.is_monotone());
        let z = d.linkage_matrix();
        assert_eq!(z[2], [4.0, 5.0, 0.9, 4.0]);
        assert!((z[0][2] - 0.1).abs() < 1e-15);
        assert_eq!(
            d.to_newick(),
            format!(
                "((L0:{a},L1:{a}):{b},(L2:{c},L3:{c}):{e});",
                a = 1.0 - 0.9,
                b = 0.9 - (1.0 - 0.9),
                c = 1.0 - 0.8,
                e = 0.9 - (1.0 - 0.8)
            )
        );
        let back = Dendrogram::from_json(&d.to_json(), Path::new("x.json")).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn inversions_are_counted() {
        let ids: Vec<String> = (0..4).map(|i| i.to_string()).collect();
        let leaves = vec![vec![0], vec![1], vec![2], vec![3]];
        // Root (0.5) joins (0,1) at 0.2 (an inversion) and (2,3) at 0.7.
        let d = Dendrogram::from_tree(
            ids,
            leaves,
            &[(0, 1, 0.2), (2, 3, 0.7), (4, 5, 0.5)],
            HeightMap::OneMinus,
            "t",
        )
        .unwrap();
        assert_eq!(d.inversions(), 1);
        // Cut order: (2,3) first, then (0,1) [only its children are ready], then the root.
        assert_eq!(d.cut_k(3).unwrap(), vec![0, 1, 2, 2]);
        assert!(!d.is_monotone());
    }

    #[test]
    fn scipy_npy_header_is_aligned() {
        let d = four();
        let p = std::env::temp_dir().join(format!("nb-z-{}.npy", std::process::id()));
        d.write_scipy_npy(&p).unwrap();
        let b = std::fs::read(&p).unwrap();
        assert_eq!(&b[..8], b"\x93NUMPY\x01\x00");
        let hl = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + hl) % 64, 0);
        assert_eq!(b.len(), 10 + hl + 3 * 4 * 8);
        let first = f64::from_le_bytes(b[10 + hl..10 + hl + 8].try_into().unwrap());
        assert_eq!(first, 0.0);
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn invalid_json_is_a_clear_error() {
        let e = Dendrogram::from_json("{}", Path::new("t.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.json"), "{e}");
        let mut j: serde_json::Value = serde_json::from_str(&four().to_json()).unwrap();
        j["merges"][0]["left"] = serde_json::json!(6);
        let e = Dendrogram::from_json(&j.to_string(), Path::new("t.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("merge 0"), "{e}");
    }

    /// Issue 13, defect 5: a 100,000-deep caterpillar tree exports to Newick without
    /// recursion and cuts by depth in linear time (the old per-leaf walk took minutes).
    #[test]
    fn deep_caterpillar_newick_and_depth_cut() {
        let k = 100_000;
        let ids: Vec<String> = (0..k).map(|i| i.to_string()).collect();
        let leaves: Vec<Vec<u32>> = (0..k as u32).map(|i| vec![i]).collect();
        // K + 0 = (0, 1); K + t = (K + t - 1, t + 1): every merge deepens the tree.
        let internal: Vec<(usize, usize, f64)> = (0..k - 1)
            .map(|t| {
                let a = if t == 0 { 0 } else { k + t - 1 };
                (a, t + 1, 0.5 * (1.0 - t as f64 / k as f64))
            })
            .collect();
        let d = Dendrogram::from_tree(ids, leaves, &internal, HeightMap::OneMinus, "t").unwrap();
        let start = std::time::Instant::now();
        let nw = d.to_newick();
        assert!(nw.ends_with(';') && nw.matches('(').count() == k - 1);
        let cut = d.cut_depth(k / 2);
        let distinct: std::collections::HashSet<u32> = cut.iter().copied().collect();
        assert_eq!(distinct.len(), k / 2 + 1);
        assert!(
            start.elapsed().as_secs_f64() < 10.0,
            "{:?}",
            start.elapsed()
        );
    }
}
