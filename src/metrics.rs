//! Partition comparison: ARI, AMI, NMI, Hungarian-matched accuracy and exact recovery, plus
//! per-level evaluation of a partitions table against a labels table.
//!
//! Definitions follow scikit-learn 1.x exactly (`adjusted_rand_score` via the pair confusion
//! matrix, `adjusted_mutual_info_score` and `normalized_mutual_info_score` with arithmetic
//! normalisation and the expected mutual information of Vinh, Epps & Bailey, JMLR 2010), so
//! values agree to 1e-9. Accuracy is the fraction of nodes on the diagonal of the confusion
//! matrix after the Hungarian assignment (Kuhn 1955) that maximises it.

use crate::error::{Error, Result};
use crate::graph::Labels;
use crate::util::FxHashMap;
use serde::Serialize;

pub mod tree;

/// Sparse contingency table between two labelings of the same items.
#[derive(Debug, Clone)]
pub struct Contingency {
    /// Row sums (sizes of the classes of `a`).
    pub rows: Vec<u64>,
    /// Column sums (sizes of the classes of `b`).
    pub cols: Vec<u64>,
    /// Non-zero cells `(row, col, count)`.
    pub cells: Vec<(usize, usize, u64)>,
    /// Number of items.
    pub n: u64,
}

impl Contingency {
    /// Build from two labelings (any integer labels; relabelled densely internally).
    ///
    /// # Panics
    /// Never; unequal lengths are an error in the public metric functions.
    pub fn new(a: &[usize], b: &[usize]) -> Self {
        let (ra, na) = densify(a);
        let (rb, nb) = densify(b);
        let mut map: FxHashMap<(u32, u32), u64> = FxHashMap::default();
        let mut rows = vec![0u64; na];
        let mut cols = vec![0u64; nb];
        for (&x, &y) in ra.iter().zip(&rb) {
            *map.entry((x, y)).or_insert(0) += 1;
            rows[x as usize] += 1;
            cols[y as usize] += 1;
        }
        let mut cells: Vec<(usize, usize, u64)> = map
            .into_iter()
            .map(|((x, y), c)| (x as usize, y as usize, c))
            .collect();
        cells.sort_unstable();
        Contingency {
            rows,
            cols,
            cells,
            n: a.len() as u64,
        }
    }
}

fn densify(a: &[usize]) -> (Vec<u32>, usize) {
    let mut map: FxHashMap<usize, u32> = FxHashMap::default();
    let v = a
        .iter()
        .map(|&x| {
            let k = map.len() as u32;
            *map.entry(x).or_insert(k)
        })
        .collect();
    (v, map.len())
}

fn check(a: &[usize], b: &[usize]) -> Result<()> {
    if a.len() != b.len() {
        return Err(Error::Input(format!(
            "labelings have different lengths ({} and {})",
            a.len(),
            b.len()
        )));
    }
    Ok(())
}

/// Adjusted Rand index (Hubert & Arabie 1985), as scikit-learn's `adjusted_rand_score`.
///
/// # Complexity
/// O(n) expected time (hashing), O(number of non-empty cells) memory.
///
/// ```
/// use neurobricks::metrics::adjusted_rand_index;
///
/// // Renaming classes changes nothing; a labelling that splits every class evenly scores below 0.
/// assert_eq!(adjusted_rand_index(&[0, 0, 1, 1], &[1, 1, 0, 0]).unwrap(), 1.0);
/// assert_eq!(adjusted_rand_index(&[0, 0, 1, 1], &[0, 1, 0, 1]).unwrap(), -0.5);
/// assert!(adjusted_rand_index(&[0, 1], &[0]).is_err()); // different lengths
/// ```
pub fn adjusted_rand_index(a: &[usize], b: &[usize]) -> Result<f64> {
    check(a, b)?;
    Ok(ari_from(&Contingency::new(a, b)))
}

fn ari_from(c: &Contingency) -> f64 {
    let n = c.n as i128;
    let sum_sq: i128 = c
        .cells
        .iter()
        .map(|&(_, _, x)| (x as i128) * (x as i128))
        .sum();
    // contingency . n_k summed = sum_cells x * col[j]; transposed likewise.
    let a_dot: i128 = c
        .cells
        .iter()
        .map(|&(_, j, x)| x as i128 * c.cols[j] as i128)
        .sum();
    let b_dot: i128 = c
        .cells
        .iter()
        .map(|&(i, _, x)| x as i128 * c.rows[i] as i128)
        .sum();
    let tp = sum_sq - n;
    let fp = a_dot - sum_sq;
    let fn_ = b_dot - sum_sq;
    let tn = n * n - fp - fn_ - sum_sq;
    if fn_ == 0 && fp == 0 {
        return 1.0;
    }
    let num = (tp * tn - fn_ * fp) as f64;
    let den = ((tp + fn_) * (fn_ + tn) + (tp + fp) * (fp + tn)) as f64;
    2.0 * num / den
}

fn entropy(sizes: &[u64]) -> f64 {
    let total: u64 = sizes.iter().sum();
    if sizes.len() <= 1 || total == 0 {
        return 0.0;
    }
    let t = total as f64;
    let lt = t.ln();
    -sizes
        .iter()
        .filter(|&&x| x > 0)
        .map(|&x| (x as f64 / t) * ((x as f64).ln() - lt))
        .sum::<f64>()
}

fn mutual_info(c: &Contingency) -> f64 {
    if c.rows.len() == 1 || c.cols.len() == 1 {
        return 0.0;
    }
    let n = c.n as f64;
    let ln_n = n.ln();
    let mut mi = 0.0;
    for &(i, j, x) in &c.cells {
        let x = x as f64;
        let p = x / n;
        let outer = c.rows[i] as f64 * c.cols[j] as f64;
        let term = p * (x.ln() - ln_n) + p * (-(outer.ln()) + 2.0 * ln_n);
        if term.abs() >= f64::EPSILON {
            mi += term;
        }
    }
    mi.max(0.0)
}

/// `ln(k!)` for `k = 0..=n`: exact sums for small `k`, a Stirling series (error < 1e-16
/// relative) beyond.
fn ln_factorials(n: usize) -> Vec<f64> {
    let mut t = vec![0.0f64; n + 1];
    for k in 2..=n {
        t[k] = if k < 64 {
            t[k - 1] + (k as f64).ln()
        } else {
            let x = k as f64;
            let x2 = x * x;
            x * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI * x).ln() + 1.0 / (12.0 * x)
                - 1.0 / (360.0 * x * x2)
                + 1.0 / (1260.0 * x2 * x2 * x)
                - 1.0 / (1680.0 * x2 * x2 * x2 * x)
        };
    }
    t
}

/// Expected mutual information under the permutation model (Vinh et al. 2010), as
/// scikit-learn's `expected_mutual_information`.
fn expected_mutual_info(c: &Contingency) -> f64 {
    let (a, b) = (&c.rows, &c.cols);
    if a.len() == 1 || b.len() == 1 {
        return 0.0;
    }
    let n = c.n as usize;
    let nf = n as f64;
    let lf = ln_factorials(n);
    let gln_n = lf[n];
    let mut emi = 0.0;
    for &ai in a {
        let ai = ai as usize;
        for &bj in b {
            let bj = bj as usize;
            let start = (ai + bj).saturating_sub(n).max(1);
            let end = ai.min(bj);
            let fixed = lf[ai] + lf[bj] + lf[n - ai] + lf[n - bj] - gln_n;
            let (la, lb) = ((ai as f64).ln(), (bj as f64).ln());
            for nij in start..=end {
                let nijf = nij as f64;
                let term1 = nijf / nf;
                let term2 = nf.ln() + nijf.ln() - la - lb;
                let gln = fixed - lf[nij] - lf[ai - nij] - lf[bj - nij] - lf[n + nij - ai - bj];
                emi += term1 * term2 * gln.exp();
            }
        }
    }
    emi
}

/// The contingency table of two labellings of the same items, or `None` when both have one
/// class (or there are no items): AMI and NMI are 1 then, as in scikit-learn.
fn informative_contingency(a: &[usize], b: &[usize]) -> Result<Option<Contingency>> {
    check(a, b)?;
    let c = Contingency::new(a, b);
    let (r, k) = (c.rows.len(), c.cols.len());
    if (r == 1 && k == 1) || (r == 0 && k == 0) {
        return Ok(None);
    }
    Ok(Some(c))
}

/// Adjusted mutual information with arithmetic normalisation (scikit-learn's default).
///
/// # Complexity
/// O(n + R C min(n_class)) for R and C classes (the expected-MI sum).
pub fn adjusted_mutual_info(a: &[usize], b: &[usize]) -> Result<f64> {
    let Some(c) = informative_contingency(a, b)? else {
        return Ok(1.0);
    };
    let mi = mutual_info(&c);
    let emi = expected_mutual_info(&c);
    let (ha, hb) = (entropy(&c.rows), entropy(&c.cols));
    let norm = 0.5 * (ha + hb);
    let mut den = norm - emi;
    den = if den < 0.0 {
        den.min(-f64::EPSILON)
    } else {
        den.max(f64::EPSILON)
    };
    // scikit-learn >= 1.4 clamps the numerator the same way (so 0/0 cases give 1).
    let mut num = mi - emi;
    num = if num < 0.0 {
        num.min(-f64::EPSILON)
    } else {
        num.max(f64::EPSILON)
    };
    Ok(num / den)
}

/// Normalised mutual information with arithmetic normalisation (scikit-learn's default).
///
/// ```
/// use neurobricks::metrics::{adjusted_mutual_info, normalized_mutual_info};
///
/// assert!((normalized_mutual_info(&[0, 0, 1, 1], &[1, 1, 0, 0]).unwrap() - 1.0).abs() < 1e-12);
/// assert!(normalized_mutual_info(&[0, 0, 1, 1], &[0, 1, 0, 1]).unwrap().abs() < 1e-12);
/// assert!((adjusted_mutual_info(&[0, 0, 1, 1], &[1, 1, 0, 0]).unwrap() - 1.0).abs() < 1e-12);
/// ```
pub fn normalized_mutual_info(a: &[usize], b: &[usize]) -> Result<f64> {
    let Some(c) = informative_contingency(a, b)? else {
        return Ok(1.0);
    };
    let mi = mutual_info(&c);
    if mi == 0.0 {
        return Ok(0.0);
    }
    let (ha, hb) = (entropy(&c.rows), entropy(&c.cols));
    Ok(mi / (0.5 * (ha + hb)))
}

/// Fraction of items correctly labelled after the best one-to-one matching of `pred` classes to
/// `truth` classes (Hungarian algorithm on the confusion matrix). Extra predicted classes count
/// as errors.
///
/// # Complexity
/// O(n + m^3) for m = max(number of classes).
///
/// ```
/// use neurobricks::metrics::matched_accuracy;
///
/// // Best matching 0 -> 1, 1 -> 0; the extra class 2 counts as an error.
/// assert_eq!(matched_accuracy(&[0, 0, 1, 1], &[1, 1, 0, 2]).unwrap(), 0.75);
/// ```
pub fn matched_accuracy(truth: &[usize], pred: &[usize]) -> Result<f64> {
    check(truth, pred)?;
    if truth.is_empty() {
        return Ok(1.0);
    }
    let c = Contingency::new(truth, pred);
    let m = c.rows.len().max(c.cols.len());
    let mut w = vec![0i64; m * m];
    for &(i, j, x) in &c.cells {
        w[i * m + j] = x as i64;
    }
    let assign = hungarian_max(&w, m);
    let matched: i64 = (0..m).map(|i| w[i * m + assign[i]]).sum();
    Ok(matched as f64 / c.n as f64)
}

/// Newman's modularity of a partition of a (weighted) graph, `Q = sum_c [W_c / W - (S_c / 2W)^2]`
/// with `W` the total edge weight, `W_c` the weight of the edges inside community `c` and `S_c`
/// the sum of the weighted degrees of its nodes (Newman & Girvan, Phys. Rev. E 69, 026113, 2004;
/// weighted: Newman, Phys. Rev. E 70, 056131, 2004). Nodes labelled `u32::MAX` (left out, e.g.
/// isolated) belong to no community: their edges count in `W` and in the degrees but in no `W_c`
/// or `S_c`. A graph of total weight 0 has modularity 0.
///
/// # Complexity
/// O(n + m) time, O(number of communities) memory.
///
/// # Errors
/// `labels` not of length `n`.
///
/// ```
/// use neurobricks::graph::{Duplicates, Graph};
/// use neurobricks::metrics::modularity;
///
/// // Two triangles joined by one edge: the two triangles have Q = 6/7 - 1/2 = 5/14.
/// let e = [(0, 1, 1.0), (1, 2, 1.0), (0, 2, 1.0), (3, 4, 1.0), (4, 5, 1.0), (3, 5, 1.0), (2, 3, 1.0)];
/// let g = Graph::from_edges(6, &e, Duplicates::One).unwrap();
/// let q = modularity(&g, &[0, 0, 0, 1, 1, 1]).unwrap();
/// assert!((q - 5.0 / 14.0).abs() < 1e-12);
/// assert_eq!(modularity(&g, &[0; 6]).unwrap(), 0.0);
/// ```
pub fn modularity(g: &crate::graph::Graph, labels: &[u32]) -> Result<f64> {
    if labels.len() != g.n() {
        return Err(Error::Input(format!(
            "modularity: {} labels for a graph of {} nodes",
            labels.len(),
            g.n()
        )));
    }
    let k = labels
        .iter()
        .filter(|&&l| l != u32::MAX)
        .map(|&l| l as usize + 1)
        .max()
        .unwrap_or(0);
    let (mut inside, mut strength) = (vec![0f64; k], vec![0f64; k]);
    let mut total = 0f64;
    for (u, v, w) in g.edges() {
        total += w;
        let (a, b) = (labels[u], labels[v]);
        if a != u32::MAX {
            strength[a as usize] += w;
        }
        if b != u32::MAX {
            strength[b as usize] += w;
        }
        if a == b && a != u32::MAX {
            inside[a as usize] += w;
        }
    }
    if total <= 0.0 {
        return Ok(0.0);
    }
    Ok((0..k)
        .map(|c| inside[c] / total - (strength[c] / (2.0 * total)).powi(2))
        .sum())
}

/// Maximum-weight perfect matching on an `m x m` matrix (row-major); returns the column assigned
/// to each row. Classic O(m^3) shortest augmenting path with potentials.
pub fn hungarian_max(w: &[i64], m: usize) -> Vec<usize> {
    // Minimise cost = -w. 1-based arrays as in the textbook formulation.
    let inf = i64::MAX / 4;
    let mut u = vec![0i64; m + 1];
    let mut v = vec![0i64; m + 1];
    let mut p = vec![0usize; m + 1];
    let mut way = vec![0usize; m + 1];
    for i in 1..=m {
        p[0] = i;
        let mut j0 = 0usize;
        let mut minv = vec![inf; m + 1];
        let mut used = vec![false; m + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = inf;
            let mut j1 = 0usize;
            for j in 1..=m {
                if !used[j] {
                    let cur = -w[(i0 - 1) * m + (j - 1)] - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut assign = vec![0usize; m];
    for j in 1..=m {
        if p[j] > 0 {
            assign[p[j] - 1] = j - 1;
        }
    }
    assign
}

/// Scores of one predicted level against one true level.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LevelScore {
    /// Predicted column name.
    pub pred: String,
    /// True column name.
    pub truth: String,
    /// Number of predicted classes.
    pub pred_classes: usize,
    /// Number of true classes.
    pub truth_classes: usize,
    /// Adjusted Rand index.
    pub ari: f64,
    /// Adjusted mutual information (arithmetic).
    pub ami: f64,
    /// Normalised mutual information (arithmetic).
    pub nmi: f64,
    /// Hungarian-matched accuracy.
    pub accuracy: f64,
    /// Exact recovery: every node correctly classified up to relabelling.
    pub exact: bool,
}

/// Score every pair of columns `(pred[i], truth[i])`, `i < min(#pred, #truth)`, joining rows by
/// node id. The node sets must be equal.
pub fn evaluate_levels(pred: &Labels, truth: &Labels) -> Result<Vec<LevelScore>> {
    let idx = truth.index_of(&pred.node_ids, "the predicted partitions")?;
    let levels = pred.columns.len().min(truth.columns.len());
    (0..levels)
        .map(|c| {
            let p: Vec<usize> = pred.codes[c].iter().map(|&x| x as usize).collect();
            let t: Vec<usize> = idx.iter().map(|&r| truth.codes[c][r] as usize).collect();
            score(&pred.columns[c], &truth.columns[c], &t, &p)
        })
        .collect()
}

/// All scores of `pred` against `truth`.
pub fn score(
    pred_name: &str,
    truth_name: &str,
    truth: &[usize],
    pred: &[usize],
) -> Result<LevelScore> {
    let accuracy = matched_accuracy(truth, pred)?;
    let c = Contingency::new(truth, pred);
    Ok(LevelScore {
        pred: pred_name.to_string(),
        truth: truth_name.to_string(),
        pred_classes: c.cols.len(),
        truth_classes: c.rows.len(),
        ari: adjusted_rand_index(truth, pred)?,
        ami: adjusted_mutual_info(truth, pred)?,
        nmi: normalized_mutual_info(truth, pred)?,
        accuracy,
        exact: c.cols.len() == c.rows.len() && c.cells.len() == c.rows.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `modularity` equals the textbook double sum `(1 / 2W) sum_ij (A_ij - d_i d_j / 2W)
    /// [c_i = c_j]` on a random weighted graph, and a left-out node drops out of every community.
    #[test]
    fn modularity_equals_the_double_sum() {
        use crate::graph::{Duplicates, Graph};
        use rand::Rng;
        let mut rng = crate::util::rng_for(5, 0);
        let n = 40;
        let edges: Vec<(u32, u32, f64)> = (0..150)
            .map(|_| {
                (
                    rng.random_range(0..n as u32),
                    rng.random_range(0..n as u32),
                    rng.random_range(0.1..3.0),
                )
            })
            .collect();
        let g = Graph::from_edges(n, &edges, Duplicates::Sum).unwrap();
        let mut labels: Vec<u32> = (0..n).map(|_| rng.random_range(0..4)).collect();
        let dense = |labels: &[u32]| {
            let d = g.degrees();
            let w2: f64 = d.iter().sum();
            let mut a = vec![0.0; n * n];
            for (u, v, w) in g.edges() {
                a[u * n + v] += w;
                a[v * n + u] += w;
            }
            let mut q = 0.0;
            for i in 0..n {
                for j in 0..n {
                    if labels[i] == labels[j] && labels[i] != u32::MAX {
                        q += a[i * n + j] - d[i] * d[j] / w2;
                    }
                }
            }
            q / w2
        };
        assert!((modularity(&g, &labels).unwrap() - dense(&labels)).abs() < 1e-12);
        labels[3] = u32::MAX;
        assert!((modularity(&g, &labels).unwrap() - dense(&labels)).abs() < 1e-12);
        assert!(modularity(&g, &labels[1..]).is_err());
    }

    #[test]
    fn identical_and_relabelled_partitions_score_one() {
        let a = [0, 0, 1, 1, 2, 2];
        let b = [5, 5, 3, 3, 9, 9];
        assert_eq!(adjusted_rand_index(&a, &b).unwrap(), 1.0);
        assert!((adjusted_mutual_info(&a, &b).unwrap() - 1.0).abs() < 1e-12);
        assert!((normalized_mutual_info(&a, &b).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(matched_accuracy(&a, &b).unwrap(), 1.0);
        assert!(score("p", "t", &a, &b).unwrap().exact);
    }

    #[test]
    fn hungarian_matches_brute_force() {
        use rand::Rng as _;
        let mut rng = crate::util::rng_for(3, 3);
        for _ in 0..200 {
            let m = rng.random_range(1..6usize);
            let w: Vec<i64> = (0..m * m).map(|_| rng.random_range(0..20)).collect();
            let a = hungarian_max(&w, m);
            let got: i64 = (0..m).map(|i| w[i * m + a[i]]).sum();
            let mut perm: Vec<usize> = (0..m).collect();
            let mut best = i64::MIN;
            permute(&mut perm, 0, &mut |p| {
                best = best.max((0..m).map(|i| w[i * m + p[i]]).sum())
            });
            assert_eq!(got, best);
        }
    }

    fn permute(p: &mut Vec<usize>, k: usize, f: &mut dyn FnMut(&[usize])) {
        if k == p.len() {
            f(p);
            return;
        }
        for i in k..p.len() {
            p.swap(k, i);
            permute(p, k + 1, f);
            p.swap(k, i);
        }
    }

    #[test]
    fn accuracy_with_more_predicted_classes() {
        let t = [0, 0, 0, 1, 1, 1];
        let p = [0, 0, 2, 1, 1, 1];
        assert!((matched_accuracy(&t, &p).unwrap() - 5.0 / 6.0).abs() < 1e-15);
        assert!(!score("p", "t", &t, &p).unwrap().exact);
    }

    #[test]
    fn ln_factorial_table_is_accurate() {
        let t = ln_factorials(200);
        let mut s = 0.0f64;
        for k in 1..=200usize {
            s += (k as f64).ln();
            assert!((t[k] - s).abs() < 1e-12 * s.max(1.0), "k = {k}");
        }
    }
}
