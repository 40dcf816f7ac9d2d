//! HSBM on an arbitrary rooted tree (Dreveton, Kuroda, Grossglauser & Thiran, JASA 2026, §3.1
//! and the unbalanced trees of their appendix C.1).
//!
//! Every tree node `u` carries a value `p(u)`: for an internal node, the probability between two
//! nodes whose communities split at `u`; for a leaf, the within-community probability. Two
//! nodes are joined independently with probability `p(lca(leaf_i, leaf_j))`. Values are either
//! probabilities ([`Scale::P`]) or log-degree coefficients ([`Scale::Log`], `p = a ln N / N`
//! with `N` the total number of nodes).
//!
//! # Spec format (JSON)
//! ```json
//! { "scale": "log",
//!   "levels": [10, 20, 60],
//!   "tree": { "level": 0, "children": [
//!       { "level": 1, "children": [ { "level": 2, "size": 100 }, { "level": 2, "size": 100 } ] },
//!       { "value": 30, "size": 200 } ] } }
//! ```
//! A node gives its value either directly (`"value"`) or as an index into `"levels"`
//! (`"level"`). A node with `"children"` (at least two) is internal; a node with `"size"` (at
//! least one node) is a leaf. Leaves are numbered in depth-first, left-to-right order, which is
//! also the order of their node blocks before the seeded shuffle. `"scale"` defaults to `"p"`.
//! Unknown keys are errors. The hierarchy assumption of the paper (values increase from the
//! root towards the leaves) is not enforced, so that its violations can be studied.

use crate::error::{Error, Result};
use crate::graph::{Graph, Labels};
use serde::Deserialize;
use std::path::Path;

/// What the node values of a tree spec mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// Values are edge probabilities.
    #[default]
    P,
    /// Values are log-degree coefficients `a`: `p = a ln N / N`.
    Log,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    #[serde(default)]
    scale: Scale,
    #[serde(default)]
    levels: Option<Vec<f64>>,
    tree: SpecNode,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecNode {
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    level: Option<usize>,
    #[serde(default)]
    size: Option<usize>,
    #[serde(default)]
    children: Option<Vec<SpecNode>>,
}

/// A node of a [`Tree`].
#[derive(Debug, Clone, PartialEq)]
pub struct TreeNode {
    /// Parent node index (`None` for the root, index 0).
    pub parent: Option<usize>,
    /// Depth (root 0).
    pub depth: usize,
    /// Child node indices (empty for a leaf).
    pub children: Vec<usize>,
    /// The node's value (a probability or a log-degree coefficient, see [`Tree::scale`]).
    pub value: f64,
    /// Leaf (community) index for a leaf, `None` for an internal node.
    pub leaf: Option<usize>,
}

/// A rooted tree with a value per node and a community size per leaf.
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    /// Nodes in depth-first order; index 0 is the root.
    pub nodes: Vec<TreeNode>,
    /// Node index of each leaf (community), in depth-first left-to-right order.
    pub leaves: Vec<usize>,
    /// Community size of each leaf.
    pub sizes: Vec<usize>,
    /// Meaning of the node values.
    pub scale: Scale,
}

/// Largest number of leaves accepted (the generator and the theory use `K x K` matrices).
pub const MAX_LEAVES: usize = 10_000;

impl Tree {
    /// Parse a JSON spec (see the module docs); `origin` names the source in errors.
    pub fn from_json_str(s: &str, origin: &Path) -> Result<Tree> {
        let spec: SpecFile = serde_json::from_str(s)
            .map_err(|e| Error::parse(origin, e.line(), format!("tree spec: {e}")))?;
        let mut t = Tree {
            nodes: Vec::new(),
            leaves: Vec::new(),
            sizes: Vec::new(),
            scale: spec.scale,
        };
        let levels = spec.levels.unwrap_or_default();
        t.add(&spec.tree, None, 0, &levels, "tree", origin)?;
        if t.leaves.len() > MAX_LEAVES {
            return Err(Error::parse(
                origin,
                0,
                format!("{} leaves exceed the limit of {MAX_LEAVES}", t.leaves.len()),
            ));
        }
        t.check_values().map_err(|e| Error::parse(origin, 0, e))?;
        Ok(t)
    }

    /// Read a JSON spec file.
    pub fn read(path: &Path) -> Result<Tree> {
        let s = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Tree::from_json_str(&s, path)
    }

    fn add(
        &mut self,
        s: &SpecNode,
        parent: Option<usize>,
        depth: usize,
        levels: &[f64],
        at: &str,
        origin: &Path,
    ) -> Result<usize> {
        let bad = |msg: String| Error::parse(origin, 0, format!("{at}: {msg}"));
        if depth > 64 {
            return Err(bad("tree deeper than 64".into()));
        }
        let value = match (s.value, s.level) {
            (Some(v), None) => v,
            (None, Some(l)) => *levels.get(l).ok_or_else(|| {
                bad(format!(
                    "level {l} but `levels` has {} entries",
                    levels.len()
                ))
            })?,
            _ => return Err(bad("give exactly one of `value` or `level`".into())),
        };
        let id = self.nodes.len();
        self.nodes.push(TreeNode {
            parent,
            depth,
            children: Vec::new(),
            value,
            leaf: None,
        });
        match (&s.children, s.size) {
            (Some(ch), None) => {
                if ch.len() < 2 {
                    return Err(bad(format!(
                        "an internal node needs at least 2 children, has {}",
                        ch.len()
                    )));
                }
                for (i, c) in ch.iter().enumerate() {
                    let cid =
                        self.add(c, Some(id), depth + 1, levels, &format!("{at}.{i}"), origin)?;
                    self.nodes[id].children.push(cid);
                }
            }
            (None, Some(n)) => {
                if n == 0 {
                    return Err(bad("a leaf needs `size` >= 1".into()));
                }
                self.nodes[id].leaf = Some(self.leaves.len());
                self.leaves.push(id);
                self.sizes.push(n);
            }
            _ => {
                return Err(bad(
                    "a node has either `children` (internal) or `size` (leaf)".into(),
                ))
            }
        }
        Ok(id)
    }

    /// A complete `branching`-ary tree of depth `depth >= 1` with value `level_values[l]` at
    /// every node of depth `l` (`l = 0..=depth`) and `n_per_leaf` nodes per leaf; leaf `a` is the
    /// base-`branching` expansion of `a`, as in [`super::HsbmParams`].
    pub fn complete(
        depth: usize,
        branching: usize,
        level_values: &[f64],
        n_per_leaf: usize,
        scale: Scale,
    ) -> Result<Tree> {
        if depth == 0 || branching < 2 || n_per_leaf == 0 {
            return Err(Error::param(
                "depth",
                "a complete tree needs depth >= 1, branching >= 2 and leaves of size >= 1",
            ));
        }
        if level_values.len() != depth + 1 {
            return Err(Error::param(
                "a",
                format!(
                    "{} values given, depth {depth} needs {}",
                    level_values.len(),
                    depth + 1
                ),
            ));
        }
        if (branching as f64).powi(depth as i32) > MAX_LEAVES as f64 {
            return Err(Error::param(
                "depth",
                format!("{branching}^{depth} leaves exceed the limit of {MAX_LEAVES}"),
            ));
        }
        fn build(
            t: &mut Tree,
            parent: Option<usize>,
            depth: usize,
            d: usize,
            k: usize,
            v: &[f64],
            n: usize,
        ) -> usize {
            let id = t.nodes.len();
            t.nodes.push(TreeNode {
                parent,
                depth,
                children: Vec::new(),
                value: v[depth],
                leaf: None,
            });
            if depth == d {
                t.nodes[id].leaf = Some(t.leaves.len());
                t.leaves.push(id);
                t.sizes.push(n);
            } else {
                for _ in 0..k {
                    let c = build(t, Some(id), depth + 1, d, k, v, n);
                    t.nodes[id].children.push(c);
                }
            }
            id
        }
        let mut t = Tree {
            nodes: Vec::new(),
            leaves: Vec::new(),
            sizes: Vec::new(),
            scale,
        };
        build(&mut t, None, 0, depth, branching, level_values, n_per_leaf);
        t.check_values()
            .map_err(|e| Error::param("Tree::complete.level_values", e))?;
        Ok(t)
    }

    fn check_values(&self) -> std::result::Result<(), String> {
        for (i, u) in self.nodes.iter().enumerate() {
            if !(u.value.is_finite() && u.value >= 0.0) {
                return Err(format!(
                    "node {i} has value {}, need finite and >= 0",
                    u.value
                ));
            }
            if self.scale == Scale::P && u.value > 1.0 {
                return Err(format!("node {i} has probability {} > 1", u.value));
            }
        }
        let n: usize = self.sizes.iter().sum();
        if n > u32::MAX as usize {
            return Err(format!("{n} nodes exceed the u32 limit"));
        }
        if self.scale == Scale::Log {
            let nf = n as f64;
            if let Some(u) = self.nodes.iter().find(|u| u.value * nf.ln() / nf > 1.0) {
                return Err(format!(
                    "a = {} gives p = a ln N / N > 1 with N = {n}",
                    u.value
                ));
            }
        }
        Ok(())
    }

    /// Number of leaves `K`.
    pub fn num_leaves(&self) -> usize {
        self.leaves.len()
    }

    /// Total number of nodes `N` of the graph (sum of leaf sizes).
    pub fn num_graph_nodes(&self) -> usize {
        self.sizes.iter().sum()
    }

    /// Largest leaf depth.
    pub fn max_depth(&self) -> usize {
        self.leaves
            .iter()
            .map(|&u| self.nodes[u].depth)
            .max()
            .unwrap_or(0)
    }

    /// Tree node index of the lowest common ancestor of leaves `a` and `b` (the leaf if `a == b`).
    pub fn lca(&self, a: usize, b: usize) -> usize {
        let (mut x, mut y) = (self.leaves[a], self.leaves[b]);
        while self.nodes[x].depth > self.nodes[y].depth {
            x = self.nodes[x].parent.expect("non-root");
        }
        while self.nodes[y].depth > self.nodes[x].depth {
            y = self.nodes[y].parent.expect("non-root");
        }
        while x != y {
            x = self.nodes[x].parent.expect("non-root");
            y = self.nodes[y].parent.expect("non-root");
        }
        x
    }

    /// Depth of the lowest common ancestor of leaves `a` and `b`.
    pub fn lca_depth(&self, a: usize, b: usize) -> usize {
        self.nodes[self.lca(a, b)].depth
    }

    /// Edge probability of every node value: `value` for [`Scale::P`], `value ln N / N` for
    /// [`Scale::Log`].
    pub fn probability(&self, value: f64) -> f64 {
        match self.scale {
            Scale::P => value,
            Scale::Log => {
                let nf = self.num_graph_nodes() as f64;
                value * nf.ln() / nf
            }
        }
    }

    /// Log-degree coefficient of a value: `value` for [`Scale::Log`], `value N / ln N` for
    /// [`Scale::P`] (the `alpha` of the Chernoff–Hellinger divergence).
    pub fn coefficient(&self, value: f64) -> f64 {
        match self.scale {
            Scale::Log => value,
            Scale::P => {
                let nf = self.num_graph_nodes() as f64;
                value * nf / nf.ln()
            }
        }
    }

    /// The `K x K` block matrix `B[a][b] = p(lca(a, b))` (row-major) of edge probabilities.
    ///
    /// # Complexity
    /// O(K^2 * depth).
    pub fn probability_matrix(&self) -> Vec<f64> {
        let k = self.num_leaves();
        let mut b = vec![0.0; k * k];
        for x in 0..k {
            for y in x..k {
                let p = self.probability(self.nodes[self.lca(x, y)].value);
                b[x * k + y] = p;
                b[y * k + x] = p;
            }
        }
        b
    }

    /// Group of every leaf at depth `l`: leaves with the same depth-`l` ancestor share a group; a
    /// leaf shallower than `l` is its own group. Groups are numbered `0..` in leaf order.
    pub fn leaf_groups_at_depth(&self, l: usize) -> Vec<usize> {
        let mut ids: Vec<usize> = Vec::with_capacity(self.leaves.len());
        let mut seen = crate::util::FxHashMap::default();
        for &u in &self.leaves {
            let mut x = u;
            while self.nodes[x].depth > l {
                x = self.nodes[x].parent.expect("non-root");
            }
            let next = seen.len();
            ids.push(*seen.entry(x).or_insert(next));
        }
        ids
    }

    /// Write the tree as a JSON spec that [`Tree::from_json_str`] reads back (values inline).
    pub fn to_json(&self) -> serde_json::Value {
        fn node(t: &Tree, u: usize) -> serde_json::Value {
            let n = &t.nodes[u];
            match n.leaf {
                Some(a) => serde_json::json!({ "value": n.value, "size": t.sizes[a] }),
                None => serde_json::json!({
                    "value": n.value,
                    "children": n.children.iter().map(|&c| node(t, c)).collect::<Vec<_>>(),
                }),
            }
        }
        serde_json::json!({
            "scale": match self.scale { Scale::P => "p", Scale::Log => "log" },
            "tree": node(self, 0),
        })
    }

    /// Sample a graph: every pair of nodes in leaves `a`, `b` is joined independently with
    /// probability `p(lca(a, b))`. Node ids are shuffled by a seeded permutation.
    ///
    /// # Complexity
    /// O(N + M + K^2 depth) for M sampled edges, parallel over the `K(K+1)/2` block pairs.
    pub fn generate(&self, seed: u64) -> Result<TreeHsbm> {
        let probs = self.probability_matrix();
        let k = self.num_leaves();
        let (graph, leaf) = super::sample_blocks(&self.sizes, seed, |a, b| probs[a * k + b])?;
        Ok(TreeHsbm {
            graph,
            leaf,
            tree: self.clone(),
        })
    }
}

/// A graph sampled from a [`Tree`], with its planted tree.
#[derive(Debug, Clone)]
pub struct TreeHsbm {
    /// The graph; node `i` has id `i`.
    pub graph: Graph,
    /// Leaf (community) of each node, `0..K`.
    pub leaf: Vec<u32>,
    /// The tree it was sampled from.
    pub tree: Tree,
}

impl TreeHsbm {
    /// Ground truth at depth `l`: the group of each node's leaf (see
    /// [`Tree::leaf_groups_at_depth`]).
    pub fn labels_at_depth(&self, l: usize) -> Vec<usize> {
        let g = self.tree.leaf_groups_at_depth(l);
        self.leaf.iter().map(|&a| g[a as usize]).collect()
    }

    /// Ground truth at depths `1..=max_depth` (columns `depth1..`); the last column is the leaf.
    pub fn labels(&self) -> Labels {
        let d = self.tree.max_depth();
        let cols = (1..=d).map(|l| format!("depth{l}")).collect();
        let parts = (1..=d).map(|l| self.labels_at_depth(l)).collect();
        Labels::from_partitions(cols, self.graph.ids().to_vec(), parts).expect("consistent sizes")
    }
}

/// Edge probabilities `p[0..=d]` of a complete `branching`-ary tree in the bounded-degree regime
/// of the paper's robustness experiment (§3.3): `p[l] = p_d beta^(d-l)`, with `p_d` set so that
/// the expected degree of a node, `n (p_d + sum_{l<d} (k-1) k^(d-l-1) p_l)` with `n = N / k^d`
/// nodes per leaf, equals `degree` (for `k = 2` this is
/// `p_d = 2^d c / (N (1 + beta (1 - (2 beta)^d) / (1 - 2 beta)))`).
pub fn bounded_degree_probs(
    depth: usize,
    branching: usize,
    nodes: usize,
    degree: f64,
    beta: f64,
) -> Result<Vec<f64>> {
    if depth == 0 || branching < 2 {
        return Err(Error::param(
            "bounded_degree_probs.depth",
            "need depth >= 1 and branching >= 2",
        ));
    }
    if !(degree.is_finite() && degree > 0.0) {
        return Err(Error::param(
            "degree",
            format!("{degree} is not a positive number"),
        ));
    }
    if !(beta.is_finite() && beta >= 0.0) {
        return Err(Error::param(
            "bounded_degree_probs.beta",
            format!("{beta} is not a number >= 0"),
        ));
    }
    let k = branching as f64;
    let kd = k.powi(depth as i32);
    let n = nodes as f64 / kd;
    if n < 1.0 {
        return Err(Error::param(
            "nodes",
            format!("{nodes} nodes cannot fill {kd} communities"),
        ));
    }
    let mut s = 1.0;
    for l in 0..depth {
        s += (k - 1.0) * k.powi((depth - l - 1) as i32) * beta.powi((depth - l) as i32);
    }
    let p_last = degree / (n * s);
    let p: Vec<f64> = (0..=depth)
        .map(|l| p_last * beta.powi((depth - l) as i32))
        .collect();
    if let Some(x) = p.iter().find(|&&x| x > 1.0) {
        return Err(Error::param(
            "degree",
            format!("expected degree {degree} needs probability {x} > 1"),
        ));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> Result<Tree> {
        Tree::from_json_str(s, Path::new("t.json"))
    }

    #[test]
    fn parse_levels_values_and_leaf_order() {
        let t = spec(
            r#"{"scale":"log","levels":[1,2,3],
               "tree":{"level":0,"children":[
                  {"level":1,"children":[{"level":2,"size":500},{"value":9,"size":600}]},
                  {"value":4,"size":700}]}}"#,
        )
        .unwrap();
        assert_eq!(t.num_leaves(), 3);
        assert_eq!(t.sizes, vec![500, 600, 700]);
        assert_eq!(t.lca_depth(0, 1), 1);
        assert_eq!(t.lca_depth(0, 2), 0);
        assert_eq!(t.lca_depth(2, 2), 1);
        assert_eq!(t.nodes[t.leaves[1]].value, 9.0);
        assert_eq!(t.max_depth(), 2);
        assert_eq!(t.leaf_groups_at_depth(1), vec![0, 0, 1]);
        assert_eq!(t.leaf_groups_at_depth(2), vec![0, 1, 2]);
        // Round trip through to_json.
        let back = spec(&t.to_json().to_string()).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn bad_specs_name_the_problem() {
        let e = |s: &str| spec(s).unwrap_err().to_string();
        assert!(
            e(r#"{"tree":{"value":0.1,"children":[{"value":0.2,"size":3}]}}"#)
                .contains("at least 2 children")
        );
        assert!(e(r#"{"tree":{"value":0.1,"size":0}}"#).contains("size"));
        assert!(e(r#"{"tree":{"level":3,"size":2}}"#).contains("level 3"));
        assert!(e(r#"{"tree":{"value":1.5,"size":2}}"#).contains("> 1"));
        assert!(e(r#"{"tree":{"value":0.5,"size":2,"foo":1}}"#).contains("foo"));
        assert!(e("{\n\"tree\": [}").contains("t.json:2"));
        assert!(e(r#"{"tree":{"value":0.1,"level":0,"size":2}}"#).contains("exactly one"));
    }

    #[test]
    fn complete_tree_matches_digit_lca() {
        let t = Tree::complete(3, 3, &[1., 2., 3., 4.], 2, Scale::P).unwrap_err();
        assert!(t.to_string().contains("probability"));
        let t = Tree::complete(3, 3, &[0.1, 0.2, 0.3, 0.4], 2, Scale::P).unwrap();
        assert_eq!(t.num_leaves(), 27);
        for a in 0..27 {
            for b in 0..27 {
                assert_eq!(t.lca_depth(a, b), super::super::lca_depth(a, b, 3, 3));
            }
        }
    }

    #[test]
    fn bounded_degree_formula_of_the_spec() {
        let (d, c, beta, n) = (3usize, 10.0, 0.3, 1600usize);
        let p = bounded_degree_probs(d, 2, n, c, beta).unwrap();
        let closed =
            8.0 * c / (n as f64 * (1.0 + beta * (1.0 - (2.0 * beta).powi(3)) / (1.0 - 2.0 * beta)));
        assert!((p[3] - closed).abs() < 1e-15);
        assert!((p[0] - closed * 0.027).abs() < 1e-15);
        // Expected degree by summing over all other leaves.
        let t = Tree::complete(d, 2, &p, n / 8, Scale::P).unwrap();
        let b = t.probability_matrix();
        let deg: f64 = (0..8).map(|x| b[x] * 200.0).sum();
        assert!((deg - c).abs() < 1e-12);
        assert!(bounded_degree_probs(3, 2, 1600, 1e6, 0.3).is_err());
    }
}
