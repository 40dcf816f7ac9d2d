//! The whole brick evaluation of one layer on held-out tokens: routing at several budgets with
//! every router, beside random same-size bricks (several seeds), weight k-means bricks and the
//! unstructured per-token oracle; domain specialisation; sibling merging; folding vs pruning.
//!
//! Protocol: bricks, centroids, representatives, k-means, fold groups and refits are built on the
//! **calibration** tokens (even windows of `data/minilm-l6`), every number is measured on the
//! **evaluation** tokens (odd windows).

use super::baselines::{random_same_sizes, weight_kmeans};
use super::extract::{Bricks, Cut};
use super::ffn::{FfnLayer, TokenMatrix, Tokens};
use super::merge::{fold_vs_prune, mean_std, sibling_vs_random, FoldRow, SiblingMerge};
use super::route::{
    budget_neurons, evaluate_mask, firing_rate, route_and_evaluate, specialisation, static_masks,
    topk_masks, EvalSet, RouteMetrics, Router, RouterModel,
};
use crate::error::{Error, Result};
use crate::hierarchy::Dendrogram;
use serde::Serialize;

/// Settings of [`evaluate_layer`].
#[derive(Debug, Clone, Serialize)]
pub struct ReportParams {
    /// Budgets (fractions of neurons), each in (0, 1].
    pub budgets: Vec<f64>,
    /// Seeds of the random same-size bricks (at least 1; 5 by default).
    pub random_seeds: Vec<u64>,
    /// Seed of weight k-means and of folding.
    pub seed: u64,
    /// Routers to evaluate.
    pub routers: Vec<Router>,
    /// Leaves-to-clusters targets of the sibling-merge experiment (each < number of leaves;
    /// empty = 3/4 and 1/2 of the leaves).
    pub merge_to: Vec<usize>,
    /// Kept fractions of the folding experiment.
    pub fold_keep: Vec<f64>,
}

impl Default for ReportParams {
    fn default() -> Self {
        ReportParams {
            budgets: vec![0.10, 0.25, 0.50],
            random_seeds: (0..5).collect(),
            seed: 0,
            routers: vec![
                Router::Oracle,
                Router::OracleDensity,
                Router::Centroid,
                Router::Representative { m: 4 },
            ],
            merge_to: vec![],
            fold_keep: vec![0.5],
        }
    }
}

/// One budget and router: the method's bricks beside the baselines.
#[derive(Debug, Clone, Serialize)]
pub struct RoutingRow {
    /// Budget fraction.
    pub budget: f64,
    /// Router name.
    pub router: String,
    /// Metrics of the method's bricks.
    pub method: RouteMetrics,
    /// Relative errors of random same-size bricks, per seed.
    pub random_errors: Vec<f64>,
    /// Their mean.
    pub random_error_mean: f64,
    /// Their sample standard deviation.
    pub random_error_std: f64,
    /// Mean over seeds of the random bricks' pooled (ratio-of-sums) error.
    pub random_pooled_error_mean: f64,
    /// Mean mass kept by the random bricks.
    pub random_mass_kept_mean: f64,
    /// Mean router recall of the random bricks.
    pub random_recall_mean: f64,
    /// Metrics of the weight k-means bricks (same number of bricks).
    pub weight_kmeans: RouteMetrics,
    /// Per-token oracle top neurons (unstructured upper bound; router-independent).
    pub oracle_topk: RouteMetrics,
    /// Static top neurons by mean calibration contribution (no routing; router-independent).
    pub static_topk: RouteMetrics,
}

/// One brick of the report table.
#[derive(Debug, Clone, Serialize)]
pub struct BrickRow {
    /// Brick index.
    pub brick: usize,
    /// Size in neurons.
    pub size: usize,
    /// Is this the set-aside (dead / resident) brick.
    pub set_aside: bool,
    /// Domain name with the highest AP.
    pub top_domain: String,
    /// That AP.
    pub top_ap: f64,
}

/// Specialisation summary: mean over bricks of the top-domain AP.
#[derive(Debug, Clone, Serialize)]
pub struct SpecialisationSummary {
    /// Method bricks.
    pub method_mean_top_ap: f64,
    /// Random same-size bricks (mean over seeds).
    pub random_mean_top_ap: f64,
    /// Its standard deviation over seeds.
    pub random_mean_top_ap_std: f64,
    /// Weight k-means bricks.
    pub weight_kmeans_mean_top_ap: f64,
}

/// Folding comparison at one kept fraction.
#[derive(Debug, Clone, Serialize)]
pub struct FoldReport {
    /// Kept fraction.
    pub keep: f64,
    /// Rows (fold by correlation, fold random, prune).
    pub rows: Vec<FoldRow>,
}

/// The evaluation of one layer.
#[derive(Debug, Clone, Serialize)]
pub struct LayerReport {
    /// Layer number.
    pub layer: usize,
    /// Name of the brick method (e.g. `standin-phi`, `coactivation`).
    pub method: String,
    /// Neurons of the layer.
    pub n_neurons: usize,
    /// Calibration / evaluation token counts.
    pub tokens: (usize, usize),
    /// Bricks of the method with their specialisation.
    pub bricks: Vec<BrickRow>,
    /// Specialisation summary beside baselines.
    pub specialisation: SpecialisationSummary,
    /// Routing results.
    pub routing: Vec<RoutingRow>,
    /// Sibling-merge results (oracle and oracle-density routers, each target and budget).
    pub sibling_merge: Vec<SiblingMerge>,
    /// Folding results.
    pub folding: Vec<FoldReport>,
}

/// Inputs of a layer split into calibration and evaluation sets.
#[derive(Debug, Clone)]
pub struct SplitLayer {
    /// The FFN.
    pub ffn: FfnLayer,
    /// Calibration set (even windows).
    pub cal: EvalSet,
    /// Evaluation set (odd windows).
    pub ev: EvalSet,
    /// Domain labels of the evaluation tokens.
    pub ev_domain: Vec<u32>,
}

impl SplitLayer {
    /// Split inputs `x` (all tokens) by the even/odd window protocol of `tokens`.
    pub fn new(ffn: FfnLayer, x: &TokenMatrix, tokens: &Tokens) -> Result<Self> {
        if tokens.len() != x.rows {
            return Err(Error::Input(format!(
                "{} token labels for {} input rows",
                tokens.len(),
                x.rows
            )));
        }
        let (even, odd) = tokens.even_odd_split();
        if even.is_empty() || odd.is_empty() {
            return Err(Error::Input(
                "need tokens in both even and odd windows".into(),
            ));
        }
        let cal = EvalSet::new(&ffn, x.select_rows(&even))?;
        let ev = EvalSet::new(&ffn, x.select_rows(&odd))?;
        let ev_domain = odd.iter().map(|&t| tokens.domain[t]).collect();
        Ok(SplitLayer {
            ffn,
            cal,
            ev,
            ev_domain,
        })
    }
}

/// Evaluate the bricks of dendrogram `d` (leaves = bricks, neurons outside the leaves = the
/// set-aside brick) on `split`. `degree` ranks neurons for the representative router (the
/// co-activation degree; `None`: calibration firing rate). `domains` names the domain labels.
pub fn evaluate_layer(
    layer: usize,
    method: &str,
    split: &SplitLayer,
    d: &Dendrogram,
    degree: Option<Vec<f64>>,
    domains: &[&str],
    p: &ReportParams,
) -> Result<LayerReport> {
    if p.random_seeds.is_empty() {
        return Err(Error::param("random_seeds", "need at least one seed"));
    }
    let ffn = &split.ffn;
    let n = ffn.n_neurons;
    for &b in &p.budgets {
        budget_neurons(b, n)?;
    }
    let bricks = Bricks::from_dendrogram(d, n, Cut::Leaves)?;
    let degree = degree.unwrap_or_else(|| firing_rate(&split.cal.a));
    if degree.len() != n {
        return Err(Error::Input(format!(
            "{} degrees for {n} neurons",
            degree.len()
        )));
    }
    let randoms: Vec<Bricks> = p
        .random_seeds
        .iter()
        .map(|&s| random_same_sizes(&bricks, s))
        .collect();
    let km = weight_kmeans(ffn, bricks.len(), p.seed)?;

    // Specialisation.
    let name = |dd: usize| domains.get(dd).map_or(dd.to_string(), |s| s.to_string());
    let spec = specialisation(&bricks, &split.ev, &split.ev_domain)?;
    let mean_top = |s: &[super::route::BrickSpecialisation]| {
        s.iter().map(|b| b.top_ap).sum::<f64>() / s.len() as f64
    };
    let rnd_top: Vec<f64> = randoms
        .iter()
        .map(|r| specialisation(r, &split.ev, &split.ev_domain).map(|s| mean_top(&s)))
        .collect::<Result<_>>()?;
    let (rm, rs) = mean_std(&rnd_top);
    let specialisation_summary = SpecialisationSummary {
        method_mean_top_ap: mean_top(&spec),
        random_mean_top_ap: rm,
        random_mean_top_ap_std: rs,
        weight_kmeans_mean_top_ap: mean_top(&specialisation(&km, &split.ev, &split.ev_domain)?),
    };
    let brick_rows = spec
        .iter()
        .map(|s| BrickRow {
            brick: s.brick,
            size: s.size,
            set_aside: bricks.set_aside == Some(s.brick),
            top_domain: name(s.top_domain),
            top_ap: s.top_ap,
        })
        .collect();

    // Routing.
    let mut mean_c = vec![0f64; n];
    for t in 0..split.cal.tokens() {
        for (m, c) in mean_c.iter_mut().zip(split.cal.contrib.row(t)) {
            *m += *c as f64;
        }
    }
    let mut by_mean: Vec<u32> = (0..n as u32).collect();
    by_mean.sort_by(|&a, &b| {
        mean_c[b as usize]
            .total_cmp(&mean_c[a as usize])
            .then(a.cmp(&b))
    });
    let mut routing = Vec::new();
    for &rho in &p.budgets {
        let budget = budget_neurons(rho, n)?;
        let topk = evaluate_mask(ffn, &split.ev, &topk_masks(&split.ev, budget), None)?;
        let stat = evaluate_mask(
            ffn,
            &split.ev,
            &static_masks(n, split.ev.tokens(), &by_mean[..budget]),
            None,
        )?;
        for &router in &p.routers {
            let run = |b: &Bricks| -> Result<RouteMetrics> {
                let m = RouterModel::fit(router, b, ffn, &degree)?;
                route_and_evaluate(ffn, b, &m, &split.ev, rho)
            };
            let method_m = run(&bricks)?;
            let rnd: Vec<RouteMetrics> = randoms.iter().map(run).collect::<Result<_>>()?;
            let errs: Vec<f64> = rnd.iter().map(|m| m.rel_error).collect();
            let (mean, std) = mean_std(&errs);
            routing.push(RoutingRow {
                budget: rho,
                router: router.name().into(),
                method: method_m,
                random_error_mean: mean,
                random_error_std: std,
                random_pooled_error_mean: rnd.iter().map(|m| m.pooled_rel_error).sum::<f64>()
                    / rnd.len() as f64,
                random_mass_kept_mean: rnd.iter().map(|m| m.mass_kept).sum::<f64>()
                    / rnd.len() as f64,
                random_recall_mean: rnd.iter().map(|m| m.recall).sum::<f64>() / rnd.len() as f64,
                random_errors: errs,
                weight_kmeans: run(&km)?,
                oracle_topk: topk,
                static_topk: stat,
            });
        }
    }

    // Sibling merge (oracle router).
    let mut sibling_merge = Vec::new();
    let targets: Vec<usize> = if p.merge_to.is_empty() {
        let k = d.num_leaves();
        let mut t = vec![(3 * k / 4).max(1), (k / 2).max(1)];
        t.dedup();
        t
    } else {
        p.merge_to.clone()
    };
    for router in [Router::Oracle, Router::OracleDensity] {
        for &k_to in &targets {
            for &rho in &p.budgets {
                sibling_merge.push(sibling_vs_random(
                    ffn,
                    d,
                    k_to,
                    router,
                    &degree,
                    &split.ev,
                    rho,
                    &p.random_seeds,
                )?);
            }
        }
    }

    // Folding.
    let mut folding = Vec::new();
    for &keep in &p.fold_keep {
        folding.push(FoldReport {
            keep,
            rows: fold_vs_prune(ffn, &bricks, keep, &split.cal, &split.ev, p.seed)?,
        });
    }

    Ok(LayerReport {
        layer,
        method: method.into(),
        n_neurons: n,
        tokens: (split.cal.tokens(), split.ev.tokens()),
        bricks: brick_rows,
        specialisation: specialisation_summary,
        routing,
        sibling_merge,
        folding,
    })
}
