//! Per-token routing over bricks under a neuron budget, and the quality metrics of a selection.
//!
//! **Scores** (one per brick and token; Xiao et al. 2024 §3.1, MoEfication, CMoE):
//! * [`Router::Oracle`]: `r_k = Σ_{i∈S_k} |a_i(x)| ||W_out[:, i]||` (needs every activation; the
//!   reference the other routers' recall is measured against);
//! * [`Router::OracleDensity`]: the same mass divided by `|S_k|` (mass per neuron: the greedy
//!   knapsack order, which keeps more mass under a neuron budget than the plain sum);
//! * [`Router::Centroid`]: cosine of the input `x` with the brick's mean L2-normalised `W_in` row
//!   (MoEfication's training-free similarity router);
//! * [`Router::Representative`]: the contributions of the brick's `m` highest-degree neurons,
//!   scaled by `|S_k| / m` (an estimate of the oracle mass from `m` computed neurons).
//!
//! **Selection under a budget** (the same rule for every router, partition and baseline): the
//! budget is `B = floor(ρ N)` neurons. Bricks are visited in decreasing score (ties: lower brick
//! index first); a brick is selected when it fits in what is left of the budget; **a brick that
//! would overflow the budget is skipped and the scan continues** with the next brick, so the
//! selection never exceeds `B` neurons and may use fewer (reported as `neurons_used`). The
//! set-aside brick is routed like any other brick.
//!
//! **Metrics** on evaluation tokens `t` (held-out windows), with `y_t = W_out a_t` the FFN
//! output minus `b_out` and `e_t` the output of the unselected neurons:
//! * `rel_error` = **mean over tokens of the per-token ratio** `||e_t||² / ||y_t||²` (every
//!   token counts equally; this is the convention of the literature note's Part 3b tables);
//!   `pooled_rel_error = Σ_t ||e_t||² / Σ_t ||y_t||²` (ratio of sums: tokens weigh by their
//!   output energy, so a few high-energy tokens such as `[CLS]` / `[SEP]` in layer 2 dominate it);
//! * `mass_kept = Σ_t Σ_{i sel} c_i / Σ_t Σ_i c_i`, with `c_i = |a_i| ||W_out[:, i]||`;
//! * `recall` (router recall vs the oracle): mean over tokens of
//!   `|selected ∩ oracle-selected| / |oracle-selected|` in neurons, the oracle router using the
//!   same bricks and budget.

use super::extract::Bricks;
use crate::activations::ffn::{par, FfnLayer};
use crate::activations::TokenMatrix;
use crate::error::{Error, Result};
use faer::{Accum, Mat};
use serde::Serialize;

/// Activations, contributions and reference outputs of a layer on a set of tokens.
#[derive(Debug, Clone)]
pub struct EvalSet {
    /// FFN inputs `[T, d]`.
    pub x: TokenMatrix,
    /// Activations `[T, N]`.
    pub a: TokenMatrix,
    /// Contributions `c_i = |a_i| ||W_out[:, i]||`, `[T, N]`.
    pub contrib: TokenMatrix,
    /// `||W_out a_t||²` per token (f64).
    pub ref_energy: Vec<f64>,
}

impl EvalSet {
    /// Compute activations, contributions and reference energies of `ffn` on inputs `x`.
    /// Cost O(T N d).
    pub fn new(ffn: &FfnLayer, x: TokenMatrix) -> Result<Self> {
        let a = ffn.activations(&x)?;
        let norms = ffn.out_norms();
        let mut contrib = a.clone();
        for t in 0..contrib.rows {
            for (v, n) in contrib.row_mut(t).iter_mut().zip(&norms) {
                *v = v.abs() * n;
            }
        }
        let y = ffn.project(&a)?;
        let ref_energy = (0..y.rows).map(|t| sq_norm(y.row(t))).collect();
        Ok(EvalSet {
            x,
            a,
            contrib,
            ref_energy,
        })
    }
    /// Number of tokens.
    pub fn tokens(&self) -> usize {
        self.a.rows
    }
}

fn sq_norm(v: &[f32]) -> f64 {
    v.iter().map(|x| (*x as f64) * (*x as f64)).sum()
}

/// Which brick score to route with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Router {
    /// Brick contribution mass (needs all activations).
    Oracle,
    /// Brick contribution mass per neuron (needs all activations).
    OracleDensity,
    /// Input cosine to the brick's mean normalised `W_in` row.
    Centroid,
    /// Contributions of the `m` highest-degree neurons of each brick, scaled to the brick size.
    Representative {
        /// Neurons computed per brick (at most the brick size).
        m: usize,
    },
}

impl Router {
    /// Short name (`oracle`, `centroid`, `representative`).
    pub fn name(&self) -> &'static str {
        match self {
            Router::Oracle => "oracle",
            Router::OracleDensity => "oracle_density",
            Router::Centroid => "centroid",
            Router::Representative { .. } => "representative",
        }
    }

    /// Whether `other` is the same kind of router (parameters such as `m` aside).
    pub fn same_kind(&self, other: &Router) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

impl std::fmt::Display for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// Serialise a router as its [`Router::name`] (the reports' `router` fields).
pub(crate) fn serialize_name<S: serde::Serializer>(
    r: &Router,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(r.name())
}

/// A router fitted to one partition: centroids or representatives, ready to score tokens.
#[derive(Debug, Clone)]
pub struct RouterModel {
    router: Router,
    /// `[K, d]` unit-normalised... centroids (Centroid router).
    centroids: Mat<f32>,
    /// Representative neurons per brick and the size scale (Representative router).
    reps: Vec<(Vec<u32>, f32)>,
}

impl RouterModel {
    /// Prepare `router` for `bricks` of `ffn`. `degree` ranks neurons for the representative
    /// router: the co-activation graph degree when available, else the calibration firing rate
    /// ([`firing_rate`]); it must have one entry per neuron. Cost O(N d).
    pub fn fit(router: Router, bricks: &Bricks, ffn: &FfnLayer, degree: &[f64]) -> Result<Self> {
        bricks.check_layer(ffn)?;
        let d = ffn.d_model;
        let mut centroids = Mat::<f32>::zeros(0, 0);
        let mut reps = Vec::new();
        match router {
            Router::Oracle | Router::OracleDensity => {}
            Router::Centroid => {
                centroids = Mat::zeros(bricks.len(), d);
                for (b, m) in bricks.members.iter().enumerate() {
                    let mut c = vec![0f64; d];
                    for &i in m {
                        let row: Vec<f64> =
                            (0..d).map(|j| ffn.w_in[(i as usize, j)] as f64).collect();
                        let nrm = row.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-30);
                        for (cj, r) in c.iter_mut().zip(&row) {
                            *cj += r / nrm;
                        }
                    }
                    for j in 0..d {
                        centroids[(b, j)] = (c[j] / m.len() as f64) as f32;
                    }
                }
            }
            Router::Representative { m } => {
                if m == 0 {
                    return Err(Error::param(
                        "Router::Representative.m",
                        "the representative router needs m >= 1",
                    ));
                }
                if degree.len() != ffn.n_neurons {
                    return Err(Error::Input(format!(
                        "neuron degrees have {} entries but the layer has {} neurons",
                        degree.len(),
                        ffn.n_neurons
                    )));
                }
                for mem in &bricks.members {
                    let mut v = mem.clone();
                    v.sort_by(|&p, &q| {
                        degree[q as usize]
                            .total_cmp(&degree[p as usize])
                            .then(p.cmp(&q))
                    });
                    v.truncate(m);
                    let scale = mem.len() as f32 / v.len() as f32;
                    reps.push((v, scale));
                }
            }
        }
        Ok(RouterModel {
            router,
            centroids,
            reps,
        })
    }

    /// The router kind.
    pub fn router(&self) -> Router {
        self.router
    }

    /// Scores `[T, K]` for the tokens of `ev`. Cost: oracle O(T N), centroid O(T K d),
    /// representative O(T K m) (reads the representatives' activations).
    pub fn scores(&self, bricks: &Bricks, ev: &EvalSet) -> TokenMatrix {
        let k = bricks.len();
        let t_n = ev.tokens();
        match self.router {
            Router::Oracle | Router::OracleDensity => {
                let mut s = TokenMatrix::zeros(t_n, k);
                let labels = bricks.labels();
                let inv: Vec<f32> = bricks.sizes().iter().map(|&n| 1.0 / n as f32).collect();
                for t in 0..t_n {
                    let row = s.row_mut(t);
                    for (i, c) in ev.contrib.row(t).iter().enumerate() {
                        row[labels[i] as usize] += c;
                    }
                    if self.router == Router::OracleDensity {
                        row.iter_mut().zip(&inv).for_each(|(v, w)| *v *= w);
                    }
                }
                s
            }
            Router::Centroid => {
                let mut m = Mat::<f32>::zeros(k, t_n);
                faer::linalg::matmul::matmul(
                    &mut m,
                    Accum::Replace,
                    &self.centroids,
                    ev.x.as_transposed(),
                    1.0,
                    par(),
                );
                let mut s = TokenMatrix::from_transposed(&m);
                for t in 0..t_n {
                    let nx = sq_norm(ev.x.row(t)).sqrt().max(1e-30) as f32;
                    for v in s.row_mut(t) {
                        *v /= nx;
                    }
                }
                s
            }
            Router::Representative { .. } => {
                let mut s = TokenMatrix::zeros(t_n, k);
                for t in 0..t_n {
                    let c = ev.contrib.row(t);
                    let row = s.row_mut(t);
                    for (b, (rep, scale)) in self.reps.iter().enumerate() {
                        row[b] = rep.iter().map(|&i| c[i as usize]).sum::<f32>() * scale;
                    }
                }
                s
            }
        }
    }
}

/// Fraction of tokens with `a > 0`, per neuron (the firing rate used as a degree proxy).
pub fn firing_rate(a: &TokenMatrix) -> Vec<f64> {
    let mut cnt = vec![0usize; a.cols];
    for t in 0..a.rows {
        for (c, v) in cnt.iter_mut().zip(a.row(t)) {
            *c += (*v > 0.0) as usize;
        }
    }
    cnt.iter()
        .map(|&c| c as f64 / a.rows.max(1) as f64)
        .collect()
}

/// Neurons allowed by budget fraction `rho` of `n` neurons: `floor(rho n)`.
///
/// # Errors
/// `rho` outside (0, 1] or not finite.
pub fn budget_neurons(rho: f64, n: usize) -> Result<usize> {
    if !(rho.is_finite() && rho > 0.0 && rho <= 1.0) {
        return Err(Error::param(
            "budget",
            format!("the neuron budget must be a fraction in (0, 1], got {rho}"),
        ));
    }
    Ok(((rho * n as f64) + 1e-9).floor() as usize)
}

/// Bricks selected for one token: visit by decreasing score, take a brick if it fits in the
/// remaining budget, skip it otherwise (see the module docs). Returns the selected brick ids.
pub fn select_bricks(scores: &[f32], sizes: &[usize], budget: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&p, &q| scores[q].total_cmp(&scores[p]).then(p.cmp(&q)));
    let mut left = budget;
    let mut out = Vec::new();
    for b in order {
        if sizes[b] <= left {
            left -= sizes[b];
            out.push(b);
            if left == 0 {
                break;
            }
        }
    }
    out
}

/// Quality of a per-token selection of neurons (see the module docs for the definitions).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RouteMetrics {
    /// Mean over tokens of `||e_t||² / ||y_t||²` (the headline error).
    pub rel_error: f64,
    /// `Σ_t ||e_t||² / Σ_t ||y_t||²` (ratio of sums).
    pub pooled_rel_error: f64,
    /// Share of contribution mass kept (ratio of sums).
    pub mass_kept: f64,
    /// Mean neuron recall of the oracle router's selection (1 for the oracle itself; NaN when
    /// not applicable).
    pub recall: f64,
    /// Mean fraction of the layer's neurons selected.
    pub neurons_used: f64,
}

/// A per-token neuron mask, `[T, N]` flattened.
pub type Mask = Vec<bool>;

/// Neuron masks of the brick selections of `scores` (`[T, bricks]`) under `budget` neurons:
/// per token, bricks by decreasing score, a brick that would overflow the budget is skipped and
/// the scan continues (docs/bricks.md "Budget rule"). Cost O(T (K log K + N)).
///
/// ```
/// use neurobricks::activations::TokenMatrix;
/// use neurobricks::bricks::{route::brick_masks, Bricks};
/// // Bricks {0, 1, 2}, {3}, {4, 5} of a 6-neuron layer; budget 3 neurons.
/// let bricks = Bricks::from_labels(&[0, 0, 0, 1, 2, 2], None).unwrap();
/// // Token 0 prefers brick 0 (3 neurons: the budget is full); token 1 prefers brick 2, then
/// // brick 0 would overflow (2 + 3 > 3) and is skipped, brick 1 fits.
/// let scores = TokenMatrix::new(2, 3, vec![0.9, 0.5, 0.1, 0.8, 0.2, 0.9]).unwrap();
/// let m = brick_masks(&bricks, &scores, 3);
/// assert_eq!(&m[..6], &[true, true, true, false, false, false]);
/// assert_eq!(&m[6..], &[false, false, false, true, true, true]);
/// ```
pub fn brick_masks(bricks: &Bricks, scores: &TokenMatrix, budget: usize) -> Mask {
    let n = bricks.n_neurons;
    let sizes = bricks.sizes();
    let mut mask = vec![false; scores.rows * n];
    for t in 0..scores.rows {
        let m = &mut mask[t * n..(t + 1) * n];
        for b in select_bricks(scores.row(t), &sizes, budget) {
            for &i in &bricks.members[b] {
                m[i as usize] = true;
            }
        }
    }
    mask
}

/// Masks of the unstructured per-token oracle: the `budget` neurons of largest contribution.
pub fn topk_masks(ev: &EvalSet, budget: usize) -> Mask {
    let n = ev.a.cols;
    let mut mask = vec![false; ev.tokens() * n];
    let mut idx: Vec<usize> = Vec::with_capacity(n);
    for t in 0..ev.tokens() {
        let c = ev.contrib.row(t);
        idx.clear();
        idx.extend(0..n);
        if budget < n {
            idx.select_nth_unstable_by(budget, |&p, &q| c[q].total_cmp(&c[p]).then(p.cmp(&q)));
        }
        for &i in &idx[..budget.min(n)] {
            mask[t * n + i] = true;
        }
    }
    mask
}

/// Masks of a static selection (the same neurons for every token).
pub fn static_masks(n: usize, tokens: usize, keep: &[u32]) -> Mask {
    let mut row = vec![false; n];
    for &i in keep {
        row[i as usize] = true;
    }
    row.repeat(tokens)
}

/// Metrics of `mask` on `ev` for `ffn`; `oracle` is the oracle router's mask for the recall
/// (None: recall = NaN). Cost O(T N d) (one matmul of the dropped activations).
pub fn evaluate_mask(
    ffn: &FfnLayer,
    ev: &EvalSet,
    mask: &Mask,
    oracle: Option<&Mask>,
) -> Result<RouteMetrics> {
    ffn.check_activations(&ev.a)?;
    let (t_n, n) = (ev.tokens(), ev.a.cols);
    let mut dropped = ev.a.clone();
    let (mut kept_mass, mut tot_mass, mut used) = (0f64, 0f64, 0usize);
    let mut recall = 0f64;
    for t in 0..t_n {
        let m = &mask[t * n..(t + 1) * n];
        let c = ev.contrib.row(t);
        for ((v, &keep), &ci) in dropped.row_mut(t).iter_mut().zip(m).zip(c) {
            tot_mass += ci as f64;
            if keep {
                *v = 0.0;
                kept_mass += ci as f64;
                used += 1;
            }
        }
        if let Some(o) = oracle {
            let o = &o[t * n..(t + 1) * n];
            let (mut both, mut no) = (0usize, 0usize);
            for (&p, &q) in m.iter().zip(o) {
                no += q as usize;
                both += (p && q) as usize;
            }
            recall += if no == 0 {
                1.0
            } else {
                both as f64 / no as f64
            };
        }
    }
    let e = ffn.project(&dropped)?;
    let (mut num, mut den, mut per) = (0f64, 0f64, 0f64);
    for t in 0..t_n {
        let et = sq_norm(e.row(t));
        num += et;
        den += ev.ref_energy[t];
        per += et / ev.ref_energy[t].max(1e-30);
    }
    Ok(RouteMetrics {
        rel_error: per / t_n.max(1) as f64,
        pooled_rel_error: num / den.max(1e-300),
        mass_kept: kept_mass / tot_mass.max(1e-300),
        recall: if oracle.is_some() {
            recall / t_n.max(1) as f64
        } else {
            f64::NAN
        },
        neurons_used: used as f64 / (t_n * n).max(1) as f64,
    })
}

/// Route the tokens of `ev` over `bricks` with `model` at budget fraction `rho` and measure.
/// The recall is against the oracle router on the same bricks and budget.
pub fn route_and_evaluate(
    ffn: &FfnLayer,
    bricks: &Bricks,
    model: &RouterModel,
    ev: &EvalSet,
    rho: f64,
) -> Result<RouteMetrics> {
    bricks.check_layer(ffn)?;
    let budget = budget_neurons(rho, ffn.n_neurons)?;
    let oracle_scores = RouterModel::fit(Router::Oracle, bricks, ffn, &[])?.scores(bricks, ev);
    let oracle = brick_masks(bricks, &oracle_scores, budget);
    if model.router() == Router::Oracle {
        return evaluate_mask(ffn, ev, &oracle, Some(&oracle));
    }
    let mask = brick_masks(bricks, &model.scores(bricks, ev), budget);
    evaluate_mask(ffn, ev, &mask, Some(&oracle))
}

/// Average precision of `score` for the binary labels `pos` (ties broken by token order).
pub fn average_precision(score: &[f32], pos: &[bool]) -> f64 {
    let mut idx: Vec<usize> = (0..score.len()).collect();
    idx.sort_by(|&p, &q| score[q].total_cmp(&score[p]).then(p.cmp(&q)));
    let npos = pos.iter().filter(|&&p| p).count();
    if npos == 0 {
        return f64::NAN;
    }
    let (mut hits, mut ap) = (0usize, 0f64);
    for (rank, &i) in idx.iter().enumerate() {
        if pos[i] {
            hits += 1;
            ap += hits as f64 / (rank + 1) as f64;
        }
    }
    ap / npos as f64
}

/// Domain specialisation of one brick.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrickSpecialisation {
    /// Brick index.
    pub brick: usize,
    /// Brick size.
    pub size: usize,
    /// AP of the brick's contribution mass against each domain label.
    pub ap: Vec<f64>,
    /// Domain with the highest AP.
    pub top_domain: usize,
    /// That AP.
    pub top_ap: f64,
}

/// Per-brick average precision of the brick mass `Σ_{i∈S} c_i(t)` against each domain label
/// (CFM's FuncScore at brick level, Xiao et al. 2024 eq. 1). `domain[t]` labels the tokens of
/// `ev`. Cost O(T N + K D T log T).
pub fn specialisation(
    bricks: &Bricks,
    ev: &EvalSet,
    domain: &[u32],
) -> Result<Vec<BrickSpecialisation>> {
    if domain.len() != ev.tokens() {
        return Err(Error::Input(format!(
            "{} domain labels for {} tokens",
            domain.len(),
            ev.tokens()
        )));
    }
    let nd = domain.iter().max().map_or(0, |m| *m as usize + 1);
    let labels = bricks.labels();
    let mut mass = vec![vec![0f32; ev.tokens()]; bricks.len()];
    for t in 0..ev.tokens() {
        for (i, c) in ev.contrib.row(t).iter().enumerate() {
            mass[labels[i] as usize][t] += c;
        }
    }
    let pos: Vec<Vec<bool>> = (0..nd)
        .map(|d| domain.iter().map(|&x| x as usize == d).collect())
        .collect();
    Ok(mass
        .iter()
        .enumerate()
        .map(|(b, m)| {
            let ap: Vec<f64> = pos.iter().map(|p| average_precision(m, p)).collect();
            let (top_domain, top_ap) = ap.iter().enumerate().filter(|(_, v)| v.is_finite()).fold(
                (0, f64::NEG_INFINITY),
                |acc, (d, &v)| if v > acc.1 { (d, v) } else { acc },
            );
            BrickSpecialisation {
                brick: b,
                size: bricks.members[b].len(),
                ap,
                top_domain,
                top_ap,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_skips_bricks_that_overflow_and_continues() {
        // Scores order: brick 1 (size 5), brick 0 (size 4), brick 2 (size 2), brick 3 (size 1).
        let scores = [0.8, 0.9, 0.5, 0.1];
        let sizes = [4, 5, 2, 1];
        assert_eq!(select_bricks(&scores, &sizes, 8), vec![1, 2, 3]);
        assert_eq!(select_bricks(&scores, &sizes, 9), vec![1, 0]);
        assert_eq!(select_bricks(&scores, &sizes, 0), Vec::<usize>::new());
        // Ties: lower index first.
        assert_eq!(select_bricks(&[1.0, 1.0], &[1, 1], 1), vec![0]);
    }

    #[test]
    fn average_precision_known_values() {
        // Ranking: pos, neg, pos -> AP = (1/1 + 2/3) / 2.
        let ap = average_precision(&[3.0, 2.0, 1.0], &[true, false, true]);
        assert!((ap - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert_eq!(average_precision(&[1.0, 0.0], &[true, false]), 1.0);
        assert!(average_precision(&[1.0], &[false]).is_nan());
    }
}
