//! Exact-recovery thresholds for a binary-tree SBM in the logarithmic-degree regime
//! `p[l] = a[l] ln N / N` (Dreveton, Kuroda, Grossglauser & Thiran, JASA 2026, §4–5).
//!
//! Bottom-up (and any algorithm) recovers depth `l` exactly iff `CH_{l-1} > 1`, with the
//! Chernoff–Hellinger divergence between two leaves whose LCA has depth `m`:
//! `CH_m = k^-d [ (sqrt a_d - sqrt a_m)^2 + sum_{j=m+1}^{d-1} (k-1) k^(d-j-1) (sqrt a_j - sqrt a_m)^2 ]`
//! (`k = 2` for a binary tree). Top-down recursive bisection needs `min_{m<l} TD_m > 1` with
//! `TD_m = 2^-(m+1) (sqrt abar_{m+1} - sqrt a_m)^2` and
//! `abar_{m+1} = 2^-(d-m-1) [a_d + sum_{j=m+1}^{d-1} 2^(d-j-1) a_j]`. By Jensen `TD_m <= CH_m`.
//!
//! For a general tree ([`crate::hsbm::tree::Tree`]), [`tree_theory`] computes the
//! Chernoff–Hellinger divergence of every pair of leaves by numerical maximisation over `t`
//! ([`chernoff_hellinger_pair`]) and a two-block top-down divergence at every internal node.

use crate::error::{Error, Result};
use crate::hsbm::tree::Tree;

fn check(a: &[f64]) -> Result<usize> {
    if a.len() < 2 {
        return Err(Error::param("a", "need a[0..=d] with d >= 1"));
    }
    if a.iter().any(|&x| !(x >= 0.0 && x.is_finite())) {
        return Err(Error::param("a", "values must be finite and non-negative"));
    }
    Ok(a.len() - 1)
}

/// `CH_m` for `m = 0..d` of a `k`-ary tree of depth `d = a.len() - 1`.
pub fn chernoff_hellinger(a: &[f64], k: usize) -> Result<Vec<f64>> {
    let d = check(a)?;
    if k < 2 {
        return Err(Error::param("branching", "must be at least 2"));
    }
    let kf = k as f64;
    let s: Vec<f64> = a.iter().map(|x| x.sqrt()).collect();
    Ok((0..d)
        .map(|m| {
            let mut t = (s[d] - s[m]).powi(2);
            for j in m + 1..d {
                t += (kf - 1.0) * kf.powi((d - j - 1) as i32) * (s[j] - s[m]).powi(2);
            }
            t / kf.powi(d as i32)
        })
        .collect())
}

/// `TD_m` for `m = 0..d` of a binary tree of depth `d = a.len() - 1`.
pub fn top_down_divergence(a: &[f64]) -> Result<Vec<f64>> {
    let d = check(a)?;
    Ok((0..d)
        .map(|m| {
            let mut abar = a[d];
            for j in m + 1..d {
                abar += 2f64.powi((d - j - 1) as i32) * a[j];
            }
            abar /= 2f64.powi((d - m - 1) as i32);
            (abar.sqrt() - a[m].sqrt()).powi(2) / 2f64.powi((m + 1) as i32)
        })
        .collect())
}

/// For each depth `l = 1..=d`: whether exact recovery is possible (and achieved by bottom-up),
/// i.e. `CH_{l-1} > 1`, for a binary tree.
pub fn bottom_up_recoverable(a: &[f64]) -> Result<Vec<bool>> {
    Ok(chernoff_hellinger(a, 2)?.iter().map(|&c| c > 1.0).collect())
}

/// For each depth `l = 1..=d`: whether the top-down condition `min_{m<l} TD_m > 1` holds.
pub fn top_down_recoverable(a: &[f64]) -> Result<Vec<bool>> {
    let td = top_down_divergence(a)?;
    let mut ok = true;
    Ok(td
        .iter()
        .map(|&t| {
            ok &= t > 1.0;
            ok
        })
        .collect())
}

/// Chernoff–Hellinger divergence between communities `a` and `b` of an SBM in the logarithmic
/// regime `p_xy = alpha[x][y] ln N / N` with community fractions `pi` (Abbe & Sandon 2015):
/// `CH(a, b) = max_{t in [0,1]} sum_c pi_c (t alpha_ac + (1-t) alpha_bc - alpha_ac^t alpha_bc^(1-t))`.
///
/// The objective is concave in `t`; it is maximised by golden-section search to a bracket of
/// `1e-13`, so the value is exact to rounding (the error in the value is quadratic in the error
/// in `t`). `alpha` is `K x K` row-major.
///
/// # Complexity
/// O(K) per evaluation, about 70 evaluations.
pub fn chernoff_hellinger_pair(alpha: &[f64], pi: &[f64], a: usize, b: usize) -> f64 {
    let k = pi.len();
    let ra = &alpha[a * k..(a + 1) * k];
    let rb = &alpha[b * k..(b + 1) * k];
    let f = |t: f64| -> f64 {
        (0..k)
            .map(|c| {
                let (x, y) = (ra[c], rb[c]);
                let g = if x == 0.0 || y == 0.0 {
                    // x^t y^(1-t) -> 0 for t in (0, 1); the end points are handled by the
                    // continuity of the maximum.
                    0.0
                } else {
                    x.powf(t) * y.powf(1.0 - t)
                };
                pi[c] * (t * x + (1.0 - t) * y - g)
            })
            .sum()
    };
    golden_max(f)
}

/// Maximum over `[0, 1]` of a concave function by golden-section search.
fn golden_max(f: impl Fn(f64) -> f64) -> f64 {
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    let mut x1 = hi - g * (hi - lo);
    let mut x2 = lo + g * (hi - lo);
    let (mut f1, mut f2) = (f(x1), f(x2));
    while hi - lo > 1e-13 {
        if f1 < f2 {
            lo = x1;
            x1 = x2;
            f1 = f2;
            x2 = lo + g * (hi - lo);
            f2 = f(x2);
        } else {
            hi = x2;
            x2 = x1;
            f2 = f1;
            x1 = hi - g * (hi - lo);
            f1 = f(x1);
        }
    }
    f1.max(f2).max(f(0.5 * (lo + hi)))
}

/// Exact-recovery thresholds of a general tree (see [`tree_theory`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TreeTheory {
    /// `ch[m]` = minimum Chernoff–Hellinger divergence over pairs of leaves whose LCA has depth
    /// `m` (`m = 0..max_depth`); `f64::INFINITY` when no pair has its LCA at depth `m`.
    pub ch: Vec<f64>,
    /// `td[m]` = minimum two-block top-down divergence over internal nodes at depth `m`
    /// (`INFINITY` when there is none).
    pub td: Vec<f64>,
    /// For depth `l = 1..=max_depth` (index `l - 1`): `min_{m<l} ch[m] > 1`, i.e. exact
    /// recovery at depth `l` is possible and achieved by bottom-up.
    pub bottom_up: Vec<bool>,
    /// For depth `l = 1..=max_depth` (index `l - 1`): `min_{m<l} td[m] > 1`.
    pub top_down: Vec<bool>,
}

impl TreeTheory {
    /// The thresholds from the divergences by depth: recovery at depth `l` holds when every
    /// divergence above it (the running minimum over `m < l`) exceeds 1.
    ///
    /// ```
    /// use neurobricks::hierarchy::theory::TreeTheory;
    /// let t = TreeTheory::from_divergences(vec![3.0, 0.5, 2.0], vec![1.5, 1.2, 0.9]);
    /// assert_eq!(t.bottom_up, vec![true, false, false]);
    /// assert_eq!(t.top_down, vec![true, true, false]);
    /// ```
    pub fn from_divergences(ch: Vec<f64>, td: Vec<f64>) -> TreeTheory {
        let running = |v: &[f64]| -> Vec<bool> {
            let mut m = f64::INFINITY;
            v.iter()
                .map(|&x| {
                    m = m.min(x);
                    m > 1.0
                })
                .collect()
        };
        TreeTheory {
            bottom_up: running(&ch),
            top_down: running(&td),
            ch,
            td,
        }
    }
}

/// Thresholds for exact recovery at every depth of a general tree in the logarithmic regime
/// (node values are turned into coefficients `alpha` by [`Tree::coefficient`]; `pi` = leaf
/// sizes / N).
///
/// - Bottom-up (information-theoretic, the paper's Theorem 3): depth `l` is recoverable iff
///   `CH(a, b) > 1` for every pair of leaves whose LCA is shallower than `l`.
/// - Top-down: the split at internal node `u` is treated as a two-block SBM between two of its
///   children `v`, `w` with within-block coefficients averaged over the child subtrees
///   (`abar_v = sum_{a,b in v} pi_a pi_b alpha_ab / pi_v^2`) and `alpha(u)` between; its
///   divergence is the Chernoff–Hellinger divergence of that two-block model (minimum over
///   child pairs). Depth `l` needs every split above it to be exact. On a complete binary tree
///   this is the closed form `TD_m` of [`top_down_divergence`].
///
/// # Complexity
/// O(K^3) (K^2 pairs, O(K) each) plus O(K^2 depth) for the LCA matrix.
pub fn tree_theory(tree: &Tree) -> TreeTheory {
    let k = tree.num_leaves();
    let n = tree.num_graph_nodes() as f64;
    let pi: Vec<f64> = tree.sizes.iter().map(|&s| s as f64 / n).collect();
    let mut alpha = vec![0.0; k * k];
    let mut lca = vec![0usize; k * k];
    for a in 0..k {
        for b in a..k {
            let u = tree.lca(a, b);
            let v = tree.coefficient(tree.nodes[u].value);
            alpha[a * k + b] = v;
            alpha[b * k + a] = v;
            lca[a * k + b] = u;
            lca[b * k + a] = u;
        }
    }
    let dmax = tree.max_depth();
    let mut ch = vec![f64::INFINITY; dmax];
    for a in 0..k {
        for b in a + 1..k {
            let m = tree.nodes[lca[a * k + b]].depth;
            ch[m] = ch[m].min(chernoff_hellinger_pair(&alpha, &pi, a, b));
        }
    }
    // Leaves below each tree node.
    let mut below: Vec<Vec<usize>> = vec![Vec::new(); tree.nodes.len()];
    for (a, &u) in tree.leaves.iter().enumerate() {
        let mut x = Some(u);
        while let Some(y) = x {
            below[y].push(a);
            x = tree.nodes[y].parent;
        }
    }
    let mut td = vec![f64::INFINITY; dmax];
    for node in &tree.nodes {
        if node.children.is_empty() {
            continue;
        }
        let au = tree.coefficient(node.value);
        let stats: Vec<(f64, f64)> = node
            .children
            .iter()
            .map(|&v| {
                let pv: f64 = below[v].iter().map(|&a| pi[a]).sum();
                let mut s = 0.0;
                for &a in &below[v] {
                    for &b in &below[v] {
                        s += pi[a] * pi[b] * alpha[a * k + b];
                    }
                }
                (pv, s / (pv * pv))
            })
            .collect();
        for i in 0..stats.len() {
            for j in i + 1..stats.len() {
                let (pv, av) = stats[i];
                let (pw, aw) = stats[j];
                let two = [av, au, au, aw];
                let d = chernoff_hellinger_pair(&two, &[pv, pw], 0, 1);
                td[node.depth] = td[node.depth].min(d);
            }
        }
    }
    TreeTheory::from_divergences(ch, td)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hsbm::tree::Scale;

    /// The numerical CH between two leaves equals the closed form `CH_m` on complete trees
    /// (binary and ternary, many a-vectors, every leaf pair) to 1e-9, and the general two-block
    /// top-down divergence equals `TD_m` on binary trees.
    #[test]
    fn general_ch_equals_closed_form_on_complete_trees() {
        let mut rng = crate::util::rng_for(16, 0);
        use rand::Rng as _;
        let mut checked = 0;
        for case in 0..60 {
            let k = if case % 3 == 2 { 3 } else { 2 };
            let d = 1 + case % 4;
            let d = if k == 3 { d.min(3) } else { d };
            let mut a: Vec<f64> = (0..=d).map(|_| rng.random::<f64>() * 100.0).collect();
            a.sort_by(|x, y| x.partial_cmp(y).unwrap());
            if case % 5 == 0 {
                a[d] = rng.random::<f64>() * 5.0; // a non-hierarchical leaf value
            }
            let t = Tree::complete(d, k, &a, 1000, Scale::Log).unwrap();
            let closed = chernoff_hellinger(&a, k).unwrap();
            let kk = t.num_leaves();
            let pi = vec![1.0 / kk as f64; kk];
            let mut alpha = vec![0.0; kk * kk];
            for x in 0..kk {
                for y in 0..kk {
                    alpha[x * kk + y] = a[t.lca_depth(x, y)];
                }
            }
            for x in 0..kk {
                for y in 0..kk {
                    if x == y {
                        continue;
                    }
                    let m = t.lca_depth(x, y);
                    let c = chernoff_hellinger_pair(&alpha, &pi, x, y);
                    assert!(
                        (c - closed[m]).abs() < 1e-9,
                        "k={k} d={d} a={a:?} pair ({x},{y}): {c} vs {}",
                        closed[m]
                    );
                    checked += 1;
                }
            }
            let th = tree_theory(&t);
            for m in 0..d {
                assert!((th.ch[m] - closed[m]).abs() < 1e-9);
            }
            if k == 2 {
                let td = top_down_divergence(&a).unwrap();
                for m in 0..d {
                    assert!(
                        (th.td[m] - td[m]).abs() < 1e-9,
                        "TD_{m}: {} vs {}",
                        th.td[m],
                        td[m]
                    );
                }
            }
        }
        assert!(checked > 1000);
    }

    /// An asymmetric pair (unequal sizes and values) has its optimum away from t = 1/2, so the
    /// symmetric formula would be wrong; the search finds a larger value.
    #[test]
    fn asymmetric_pair_is_not_the_symmetric_formula() {
        let alpha: [f64; 4] = [50.0, 5.0, 5.0, 10.0];
        let pi: [f64; 2] = [0.3, 0.7];
        let half: f64 = (0..2)
            .map(|c| 0.5 * pi[c] * (alpha[c].sqrt() - alpha[2 + c].sqrt()).powi(2))
            .sum();
        let ch = chernoff_hellinger_pair(&alpha, &pi, 0, 1);
        assert!(ch > half + 1e-3, "{ch} vs {half}");
        // Brute-force grid check.
        let grid = (0..=100_000)
            .map(|i| {
                let t = i as f64 / 100_000.0;
                (0..2)
                    .map(|c| {
                        let (x, y) = (alpha[c], alpha[2 + c]);
                        pi[c] * (t * x + (1.0 - t) * y - x.powf(t) * y.powf(1.0 - t))
                    })
                    .sum::<f64>()
            })
            .fold(f64::MIN, f64::max);
        assert!((ch - grid).abs() < 1e-8 && ch >= grid - 1e-12);
    }

    /// Worked values of the paper-spec note (d = 3), to 3 decimals.
    #[test]
    fn worked_values() {
        let cases: [([f64; 4], [f64; 3], [f64; 3]); 3] = [
            (
                [40., 50., 60., 100.],
                [2.080, 1.129, 0.635],
                [1.510, 0.877, 0.635],
            ),
            (
                [40., 41., 45., 100.],
                [1.709, 1.629, 1.354],
                [0.730, 1.115, 1.354],
            ),
            (
                [40., 55., 70., 100.],
                [2.508, 0.947, 0.333],
                [2.085, 0.813, 0.333],
            ),
        ];
        for (a, ch, td) in cases {
            let c = chernoff_hellinger(&a, 2).unwrap();
            let t = top_down_divergence(&a).unwrap();
            for m in 0..3 {
                assert!((c[m] - ch[m]).abs() < 5e-4, "CH_{m} of {a:?}: {}", c[m]);
                assert!((t[m] - td[m]).abs() < 5e-4, "TD_{m} of {a:?}: {}", t[m]);
                assert!(t[m] <= c[m] + 1e-12);
            }
        }
        assert_eq!(
            bottom_up_recoverable(&[40., 41., 45., 100.]).unwrap(),
            vec![true, true, true]
        );
        assert_eq!(
            top_down_recoverable(&[40., 41., 45., 100.]).unwrap(),
            vec![false, false, false]
        );
        assert_eq!(
            bottom_up_recoverable(&[40., 55., 70., 100.]).unwrap(),
            vec![true, false, false]
        );
    }
}
