//! The whole brick evaluation of one layer on held-out tokens (the tables of docs/bricks.md):
//! routing at several budgets with every router, beside random same-size bricks (several
//! seeds), weight k-means bricks and the unstructured per-token oracle; domain specialisation;
//! sibling merging; folding vs pruning.
//!
//! Protocol: bricks, centroids, representatives, k-means, fold groups and refits are built on the
//! **calibration** tokens (even windows of `data/minilm-l6`), every number is measured on the
//! **evaluation** tokens (odd windows); see [`super::minilm::SplitLayer`].

use super::minilm::SplitLayer;
use crate::bricks::baselines::{random_same_sizes, weight_kmeans};
use crate::bricks::merge::{
    fold_vs_prune, mean_std, sibling_vs_random, FoldParams, FoldRow, SiblingMerge,
    SiblingMergeParams,
};
use crate::bricks::route::{
    budget_neurons, evaluate_mask, firing_rate, route_and_evaluate, specialisation, static_masks,
    topk_masks, BrickSpecialisation, RouteMetrics, Router, RouterModel,
};
use crate::bricks::{Bricks, Cut};
use crate::error::{Error, Result};
use crate::hierarchy::Dendrogram;
use serde::Serialize;

/// How the evaluated bricks were built (the `method` of a [`LayerReport`]; serialised as
/// `coactivation`, `standin-phi`, `tree`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BrickMethod {
    /// The co-activation graph + BottomUp bricks of [`super::pipeline::coactivation_bricks`].
    #[serde(rename = "coactivation")]
    Coactivation,
    /// The graph-free stand-in of [`super::standin::standin_phi_bricks`].
    #[serde(rename = "standin-phi")]
    Standin,
    /// A brick dendrogram given by the user (read from a file).
    #[serde(rename = "tree")]
    Tree,
}

crate::util::enum_names!(BrickMethod,
    /// The name printed and serialised.
    name {
        Coactivation => "coactivation",
        Standin => "standin-phi",
        Tree => "tree",
    }
);

/// What [`evaluate_layer`] evaluates: the bricks of one layer and the data they are measured on.
#[derive(Debug, Clone, Copy)]
pub struct LayerInput<'a> {
    /// Layer number (reported).
    pub layer: usize,
    /// How the bricks were built.
    pub method: BrickMethod,
    /// The layer's calibration and evaluation sets.
    pub split: &'a SplitLayer,
    /// Brick dendrogram: leaves = bricks, neurons outside the leaves = the set-aside brick.
    pub tree: &'a Dendrogram,
    /// Ranks neurons for the representative router (the co-activation degree); `None`: the
    /// calibration firing rate.
    pub degree: Option<&'a [f64]>,
    /// Names of the domain labels (index = label; a missing name prints the label number).
    pub domains: &'a [&'a str],
}

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

impl ReportParams {
    /// Check the settings before any work.
    ///
    /// # Errors
    /// [`Error::Param`] naming `ReportParams.random_seeds` (empty), `ReportParams.budgets` or
    /// `ReportParams.fold_keep` (a value outside (0, 1]).
    pub fn validate(&self) -> Result<()> {
        if self.random_seeds.is_empty() {
            return Err(Error::param(
                "ReportParams.random_seeds",
                "need at least one seed",
            ));
        }
        let fraction = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 && v <= 1.0 {
                Ok(())
            } else {
                Err(Error::param(
                    name,
                    format!("{v} is not a fraction in (0, 1]"),
                ))
            }
        };
        for &b in &self.budgets {
            fraction("ReportParams.budgets", b)?;
        }
        for &k in &self.fold_keep {
            fraction("ReportParams.fold_keep", k)?;
        }
        Ok(())
    }
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
#[non_exhaustive]
pub struct RoutingRow {
    /// Budget fraction.
    pub budget: f64,
    /// Router name.
    #[serde(serialize_with = "crate::bricks::route::serialize_name")]
    pub router: Router,
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
    /// How the bricks were built.
    pub method: BrickMethod,
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

/// Evaluate the bricks of `input` (see [`LayerInput`]) with the settings `p`: every table of
/// docs/bricks.md for one layer. Cost: about (routers x budgets x (2 + seeds)) routing
/// evaluations of O(T N d) each, plus the sibling merges and the folding refits.
///
/// # Errors
/// No random seed, a budget outside (0, 1], degrees of the wrong length, a tree from another
/// layer, and the errors of the experiments it runs.
pub fn evaluate_layer(input: &LayerInput<'_>, p: &ReportParams) -> Result<LayerReport> {
    let LayerInput {
        layer,
        method,
        split,
        tree: d,
        degree,
        domains,
    } = *input;
    p.validate()?;
    let ffn = &split.ffn;
    let n = ffn.n_neurons;
    for &b in &p.budgets {
        budget_neurons(b, n)?;
    }
    let bricks = Bricks::from_dendrogram(d, n, Cut::Leaves)?;
    let degree = degree.map_or_else(|| firing_rate(&split.cal.a), <[f64]>::to_vec);
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
    let mean_top =
        |s: &[BrickSpecialisation]| s.iter().map(|b| b.top_ap).sum::<f64>() / s.len() as f64;
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
                router,
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
                let sp = SiblingMergeParams {
                    k_to,
                    router,
                    budget: rho,
                    seeds: p.random_seeds.clone(),
                };
                sibling_merge.push(sibling_vs_random(ffn, d, &degree, &split.ev, &sp)?);
            }
        }
    }

    // Folding.
    let mut folding = Vec::new();
    for &keep in &p.fold_keep {
        folding.push(FoldReport {
            keep,
            rows: fold_vs_prune(
                ffn,
                &bricks,
                &split.cal,
                &split.ev,
                &FoldParams { keep, seed: p.seed },
            )?,
        });
    }

    Ok(LayerReport {
        layer,
        method,
        n_neurons: n,
        tokens: (split.cal.tokens(), split.ev.tokens()),
        bricks: brick_rows,
        specialisation: specialisation_summary,
        routing,
        sibling_merge,
        folding,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bricks::merge::{FoldParams, SiblingMergeParams};
    use crate::experiments::pipeline::CoactConfig;

    /// Issue 11: every experiment and bricks settings struct names its field as `Type.field`
    /// before any work, and accepts its defaults.
    #[test]
    fn settings_errors_name_type_and_field() {
        let err = |r: Result<()>| r.unwrap_err().to_string();
        assert!(ReportParams::default().validate().is_ok());
        let p = ReportParams {
            random_seeds: vec![],
            ..ReportParams::default()
        };
        assert!(err(p.validate()).contains("`ReportParams.random_seeds`"));
        let p = ReportParams {
            budgets: vec![0.25, 1.5],
            ..ReportParams::default()
        };
        assert!(err(p.validate()).contains("`ReportParams.budgets`"));
        let p = ReportParams {
            fold_keep: vec![0.0],
            ..ReportParams::default()
        };
        assert!(err(p.validate()).contains("`ReportParams.fold_keep`"));
        let c = CoactConfig::default();
        assert!(c.validate().is_ok());
        let bad = CoactConfig { top_frac: 1.0, ..c };
        assert!(err(bad.validate()).contains("`CoactConfig.top_frac`"));
        let bad = CoactConfig { knn: 0, ..c };
        assert!(err(bad.validate()).contains("`CoactConfig.knn`"));
        let f = FoldParams { keep: 1.5, seed: 0 };
        assert!(err(f.validate()).contains("`FoldParams.keep`"));
        assert!(FoldParams { keep: 1.0, seed: 0 }.validate().is_ok());
        let s = SiblingMergeParams {
            k_to: 2,
            router: Router::Oracle,
            budget: 0.25,
            seeds: vec![0],
        };
        assert!(s.validate().is_ok());
        let bad = SiblingMergeParams {
            budget: 0.0,
            ..s.clone()
        };
        assert!(err(bad.validate()).contains("`SiblingMergeParams.budget`"));
        let bad = SiblingMergeParams { k_to: 0, ..s };
        assert!(err(bad.validate()).contains("`SiblingMergeParams.k_to`"));
    }
}
