//! Tree-level metrics of the paper's robustness experiment (Dreveton, Kuroda, Grossglauser &
//! Thiran, JASA 2026, §3.3 and §6): tree correlation and recovery, the error types
//! `zeta_hat(j)`, and the accuracy at every depth of a general planted tree.
//!
//! Estimated clusters (the dendrogram's leaves) are matched one-to-one to the planted
//! communities by the Hungarian algorithm on the confusion matrix (rectangular allowed: with
//! fewer clusters than communities some communities stay unmatched).

use super::{hungarian_max, matched_accuracy};
use crate::error::{Error, Result};
use crate::hierarchy::Dendrogram;
use crate::hsbm::tree::Tree;
use serde::Serialize;

/// Tree-recovery scores of one dendrogram against a planted tree.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TreeScores {
    /// Pearson correlation between the planted leaf-to-leaf tree distances
    /// `D_ab = depth(a) + depth(b) - 2 depth(lca(a, b))` and the estimated ones between the
    /// matched clusters, over all ordered pairs of matched communities (diagonal included, as
    /// the authors flatten the two matrices). `NaN` if either side is constant.
    pub correlation: f64,
    /// `correlation >= 0.9999` (the authors' success criterion).
    pub recovered: bool,
    /// `zeta[j]`: mean over communities `a` of the fraction of `a`'s nodes placed in the
    /// cluster matched to a community `b` with `depth(lca(a, b)) = j` (`b = a` counts at
    /// `depth(a)`, so on a complete tree of depth `d`, `zeta[d]` is the correct share and
    /// `zeta[d-1]` the share sent to siblings). The remainder up to 1 went to unmatched
    /// clusters or to no cluster.
    pub zeta: Vec<f64>,
    /// Accuracy at depth `l = 1..=max_depth` (index `l - 1`): the planted depth-`l` groups
    /// against the dendrogram cut into the same number of clusters (`None` when the dendrogram
    /// has fewer leaves than groups, as the authors' NaN).
    pub level_accuracy: Vec<Option<f64>>,
}

/// Leaf-to-leaf tree distances (edges on the path) of a dendrogram, `K' x K'` row-major.
///
/// # Complexity
/// O(K'^2 depth).
pub fn dendrogram_leaf_distances(d: &Dendrogram) -> Vec<f64> {
    let k = d.num_leaves();
    let depth = d.depths();
    let parent = d.parents();
    let mut out = vec![0.0; k * k];
    for a in 0..k {
        for b in a + 1..k {
            let (mut x, mut y) = (a, b);
            while depth[x] > depth[y] {
                x = parent[x];
            }
            while depth[y] > depth[x] {
                y = parent[y];
            }
            while x != y {
                x = parent[x];
                y = parent[y];
            }
            let v = (depth[a] + depth[b] - 2 * depth[x]) as f64;
            out[a * k + b] = v;
            out[b * k + a] = v;
        }
    }
    out
}

/// Leaf-to-leaf tree distances of a planted tree, `K x K` row-major.
pub fn tree_leaf_distances(t: &Tree) -> Vec<f64> {
    let k = t.num_leaves();
    let mut out = vec![0.0; k * k];
    for a in 0..k {
        for b in a + 1..k {
            let da = t.nodes[t.leaves[a]].depth;
            let db = t.nodes[t.leaves[b]].depth;
            let v = (da + db - 2 * t.lca_depth(a, b)) as f64;
            out[a * k + b] = v;
            out[b * k + a] = v;
        }
    }
    out
}

/// Pearson correlation of two equally long samples (`NaN` if either is constant).
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx == 0.0 || syy == 0.0 {
        return f64::NAN;
    }
    sxy / (sxx * syy).sqrt()
}

/// Score a dendrogram fitted on a graph sampled from `tree`: `leaf[i]` is the planted community
/// of node `i`, and the dendrogram's leaves hold node indices of the same graph.
///
/// # Complexity
/// O(N + m^3 + K^2 depth) with `m = max(K, K')`.
pub fn tree_scores(tree: &Tree, leaf: &[u32], d: &Dendrogram) -> Result<TreeScores> {
    let k = tree.num_leaves();
    let kp = d.num_leaves();
    let n = leaf.len();
    if d.node_ids.len() != n {
        return Err(Error::Input(format!(
            "the dendrogram has {} nodes, the planted labels {n}",
            d.node_ids.len()
        )));
    }
    if let Some(&a) = leaf.iter().find(|&&a| a as usize >= k) {
        return Err(Error::Input(format!(
            "planted community {a} but the tree has {k} leaves"
        )));
    }
    // Predicted cluster per node (kp = "in no leaf").
    let mut pred = vec![kp; n];
    for (c, members) in d.leaves.iter().enumerate() {
        for &i in members {
            pred[i as usize] = c;
        }
    }
    // Confusion C[a][c], padded square for the matching.
    let m = k.max(kp);
    let mut conf = vec![0i64; m * m];
    for i in 0..n {
        if pred[i] < kp {
            conf[leaf[i] as usize * m + pred[i]] += 1;
        }
    }
    let assign = hungarian_max(&conf, m);
    let matched: Vec<Option<usize>> = (0..k)
        .map(|a| Some(assign[a]).filter(|&c| c < kp))
        .collect();
    // Correlation of distances over matched communities.
    let td = tree_leaf_distances(tree);
    let ed = dendrogram_leaf_distances(d);
    let ids: Vec<(usize, usize)> = (0..k).filter_map(|a| matched[a].map(|c| (a, c))).collect();
    let mut x = Vec::with_capacity(ids.len() * ids.len());
    let mut y = Vec::with_capacity(ids.len() * ids.len());
    for &(a, ca) in &ids {
        for &(b, cb) in &ids {
            x.push(td[a * k + b]);
            y.push(ed[ca * kp + cb]);
        }
    }
    let correlation = pearson(&x, &y);
    // Error types.
    let dmax = tree.max_depth();
    let mut sizes = vec![0usize; k];
    for &a in leaf {
        sizes[a as usize] += 1;
    }
    let mut zeta = vec![0.0; dmax + 1];
    let present = sizes.iter().filter(|&&s| s > 0).count().max(1) as f64;
    for a in 0..k {
        if sizes[a] == 0 {
            continue;
        }
        for b in 0..k {
            if let Some(c) = matched[b] {
                let j = tree.lca_depth(a, b);
                zeta[j] += conf[a * m + c] as f64 / sizes[a] as f64 / present;
            }
        }
    }
    // Accuracy at every depth.
    let truth_leaf: Vec<usize> = leaf.iter().map(|&a| a as usize).collect();
    let mut level_accuracy = Vec::with_capacity(dmax);
    for l in 1..=dmax {
        let groups = tree.leaf_groups_at_depth(l);
        let ng = groups.iter().max().map_or(0, |&g| g + 1);
        if ng > kp {
            level_accuracy.push(None);
            continue;
        }
        let cut = d.cut_k(ng)?;
        let t: Vec<usize> = truth_leaf.iter().map(|&a| groups[a]).collect();
        let p: Vec<usize> = pred
            .iter()
            .map(|&c| if c < kp { cut[c] as usize } else { usize::MAX })
            .collect();
        level_accuracy.push(Some(matched_accuracy(&t, &p)?));
    }
    Ok(TreeScores {
        recovered: correlation >= 0.9999,
        correlation,
        zeta,
        level_accuracy,
    })
}

/// How many of `groups` (each a set of class names) form a clade of the dendrogram: a tree
/// node whose leaves, each labelled by the majority class of its nodes, carry exactly the
/// group's classes. `class[i]` is the class code of node `i` (an index into `names`); nodes in no
/// leaf are ignored. Used for the high-school check that the classes of one specialisation join
/// before any other class does.
///
/// # Complexity
/// O(N + K^2 C) for N nodes, K leaves and C classes.
pub fn class_groups_as_subtrees(
    d: &Dendrogram,
    class: &[usize],
    names: &[String],
    groups: &[&[&str]],
) -> usize {
    use std::collections::BTreeSet;
    let c = names.len();
    let mut sets: Vec<BTreeSet<usize>> = d
        .leaves
        .iter()
        .map(|leaf| {
            let mut cnt = vec![0usize; c];
            leaf.iter().for_each(|&m| cnt[class[m as usize]] += 1);
            let best = (0..c).max_by_key(|&x| (cnt[x], std::cmp::Reverse(x)));
            best.into_iter().collect()
        })
        .collect();
    for m in &d.merges {
        let u: BTreeSet<usize> = sets[m.left].union(&sets[m.right]).copied().collect();
        sets.push(u);
    }
    groups
        .iter()
        .filter(|g| {
            let want: Option<BTreeSet<usize>> = g
                .iter()
                .map(|n| names.iter().position(|x| x == n))
                .collect();
            want.is_some_and(|w| sets.contains(&w))
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hierarchy::{HeightMap, Merge};
    use crate::hsbm::tree::Scale;

    fn merge(left: usize, right: usize, s: f64) -> Merge {
        Merge {
            left,
            right,
            height: 1.0 - s,
            similarity: s,
            size: 0,
            leaf_count: 0,
        }
    }

    /// Four leaves ((0 1) (2 3)) with 10 nodes each, and a dendrogram over the clusters in a
    /// relabelled order.
    fn setup(
        merges: Vec<Merge>,
        pred_of_leaf: [u32; 4],
        moved: usize,
    ) -> (Tree, Vec<u32>, Dendrogram) {
        let tree = Tree::complete(2, 2, &[0.1, 0.2, 0.3], 10, Scale::P).unwrap();
        let leaf: Vec<u32> = (0..40).map(|i| (i / 10) as u32).collect();
        let mut leaves = vec![Vec::new(); 4];
        for i in 0..40 {
            let mut c = pred_of_leaf[leaf[i] as usize] as usize;
            // The first `moved` nodes of community 0 go to the cluster of community 1.
            if leaf[i] == 0 && i < moved {
                c = pred_of_leaf[1] as usize;
            }
            leaves[c].push(i as u32);
        }
        let mut merges = merges;
        let mut size: Vec<usize> = leaves.iter().map(|l| l.len()).collect();
        let mut lc = vec![1usize; 4];
        for m in merges.iter_mut() {
            m.size = size[m.left] + size[m.right];
            m.leaf_count = lc[m.left] + lc[m.right];
            size.push(m.size);
            lc.push(m.leaf_count);
        }
        let ids = (0..40).map(|i| i.to_string()).collect();
        let d = Dendrogram::new(ids, leaves, merges, HeightMap::OneMinus, "test").unwrap();
        (tree, leaf, d)
    }

    #[test]
    fn right_tree_correlates_one_and_wrong_tree_does_not() {
        // Clusters 3,2 are communities 0,1; clusters 1,0 are communities 2,3.
        let good = vec![merge(2, 3, 0.3), merge(0, 1, 0.29), merge(4, 5, 0.1)];
        let (t, leaf, d) = setup(good, [3, 2, 1, 0], 3);
        let s = tree_scores(&t, &leaf, &d).unwrap();
        assert!((s.correlation - 1.0).abs() < 1e-12);
        assert!(s.recovered);
        // 3 of 10 nodes of community 0 went to its sibling: zeta[2] = (0.7 + 3 * 1) / 4.
        assert!((s.zeta[2] - 3.7 / 4.0).abs() < 1e-12, "{:?}", s.zeta);
        assert!((s.zeta[1] - 0.3 / 4.0).abs() < 1e-12);
        assert_eq!(s.zeta[0], 0.0);
        assert_eq!(s.level_accuracy[0], Some(1.0));
        assert_eq!(s.level_accuracy[1], Some(37.0 / 40.0));
        // Pair the wrong clusters: communities 0 and 2 merged first.
        let bad = vec![merge(3, 1, 0.3), merge(2, 0, 0.29), merge(4, 5, 0.1)];
        let (t, leaf, d) = setup(bad, [3, 2, 1, 0], 0);
        let s = tree_scores(&t, &leaf, &d).unwrap();
        assert!(s.correlation < 0.9, "{}", s.correlation);
        assert!(!s.recovered);
        assert_eq!(s.level_accuracy[0], Some(0.5));
        assert_eq!(s.level_accuracy[1], Some(1.0));
    }

    #[test]
    fn distances_of_a_caterpillar() {
        let merges = vec![merge(0, 1, 0.3), merge(4, 2, 0.2), merge(5, 3, 0.1)];
        let (_, _, d) = setup(merges, [0, 1, 2, 3], 0);
        let dist = dendrogram_leaf_distances(&d);
        assert_eq!(dist[1], 2.0); // 0-1 siblings at depth 3
        assert_eq!(dist[2], 3.0); // 0-2
        assert_eq!(dist[3], 4.0); // 0-3: depth 3 + depth 1 - 2 * 0
        assert_eq!(dist[2 * 4 + 3], 3.0);
    }
}
