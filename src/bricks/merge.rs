//! Brick merging (notes/bricks-literature.md Part 2c).
//!
//! * **Sibling merge** (exact): cutting the brick dendrogram higher unites sibling bricks; nothing
//!   is approximated, only routing becomes coarser. [`sibling_vs_random`] compares, at the same
//!   budget, the routing error after merging along the tree with the error after merging random
//!   groups of leaves with the same number of leaves per merged brick.
//! * **Folding** (approximate, ZipIt / model-folding convention): inside each brick, neurons are
//!   grouped and each group `G` is replaced by one neuron with `w_in = mean W_in[G]`,
//!   `b_in = mean b_in[G]`, `w_out = Σ W_out[:, G]` ([`fold_layer`]). Optional
//!   [`refit_output`]: the output columns are refit by ridge least squares on calibration tokens
//!   (`b_out` is kept). The baseline is structured pruning of the same number of neurons by mean
//!   contribution ([`prune_layer`]), with and without the same refit. On a GELU FFN folding loses
//!   to pruning + refit (see the report).

use super::extract::{Bricks, Cut};
use super::ffn::{par, FfnLayer, TokenMatrix};
use super::route::{route_and_evaluate, EvalSet, RouteMetrics, Router, RouterModel};
use crate::error::{Error, Result};
use crate::hierarchy::Dendrogram;
use crate::util::rng_for;
use faer::linalg::solvers::Solve;
use faer::{Accum, Mat, Side};
use rand::seq::SliceRandom;
use serde::Serialize;

/// Result of [`sibling_vs_random`].
#[derive(Debug, Clone, Serialize)]
pub struct SiblingMerge {
    /// Bricks before merging (leaves, plus the set-aside brick if any).
    pub bricks_before: usize,
    /// Bricks after merging.
    pub bricks_after: usize,
    /// Budget fraction.
    pub budget: f64,
    /// Routing with the unmerged leaves.
    pub leaves: RouteMetrics,
    /// Routing after the sibling merge (dendrogram cut).
    pub sibling: RouteMetrics,
    /// Relative error after random merges, per seed.
    pub random_errors: Vec<f64>,
    /// Their mean.
    pub random_error_mean: f64,
    /// Their standard deviation (n - 1).
    pub random_error_std: f64,
}

/// Mean and sample standard deviation.
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n.max(1.0);
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (m, var.sqrt())
}

/// Merge the dendrogram's leaves into `k_to` clusters along the tree (`cut_k`) and, for each
/// seed, into `k_to` random groups with the same leaf counts per group; route with `router`
/// (degrees from `degree`, see [`RouterModel::fit`]) at budget `rho` and compare errors.
/// Cost: (2 + seeds) routing evaluations.
#[allow(clippy::too_many_arguments)]
pub fn sibling_vs_random(
    ffn: &FfnLayer,
    d: &Dendrogram,
    k_to: usize,
    router: Router,
    degree: &[f64],
    ev: &EvalSet,
    rho: f64,
    seeds: &[u64],
) -> Result<SiblingMerge> {
    let n = ffn.n_neurons;
    let leaves = Bricks::from_dendrogram(d, n, Cut::Leaves)?;
    let sib = Bricks::from_dendrogram(d, n, Cut::K(k_to))?;
    let eval = |b: &Bricks| -> Result<RouteMetrics> {
        let m = RouterModel::fit(router, b, ffn, degree)?;
        route_and_evaluate(ffn, b, &m, ev, rho)
    };
    let m_leaves = eval(&leaves)?;
    let m_sib = eval(&sib)?;
    let leaf_labels = d.cut_k(k_to)?;
    let mut counts = vec![0usize; k_to];
    leaf_labels.iter().for_each(|&l| counts[l as usize] += 1);
    let nl = d.num_leaves();
    let mut errs = Vec::new();
    for &s in seeds {
        let mut order: Vec<usize> = (0..nl).collect();
        order.shuffle(&mut rng_for(s, 0x3e6e));
        let mut members: Vec<Vec<u32>> = Vec::with_capacity(k_to + 1);
        let mut at = 0;
        for &c in &counts {
            let mut m = Vec::new();
            for &leaf in &order[at..at + c] {
                m.extend(leaves.members[leaf].iter().copied());
            }
            at += c;
            members.push(m);
        }
        let mut set_aside = None;
        if let Some(sa) = leaves.set_aside {
            members.push(leaves.members[sa].clone());
            set_aside = Some(members.len() - 1);
        }
        let rb = Bricks::from_members(n, members, set_aside)?;
        errs.push(eval(&rb)?.rel_error);
    }
    let (mean, std) = mean_std(&errs);
    Ok(SiblingMerge {
        bricks_before: leaves.len(),
        bricks_after: sib.len(),
        budget: rho,
        leaves: m_leaves,
        sibling: m_sib,
        random_errors: errs,
        random_error_mean: mean,
        random_error_std: std,
    })
}

/// How neurons of a brick are grouped before folding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FoldGrouping {
    /// k-means on the neurons' centred, unit-norm calibration activation profiles (Pearson
    /// correlation, as ZipIt matches features), seeded.
    Correlation,
    /// Random groups of near-equal sizes, seeded.
    Random,
}

/// Fold each brick of `bricks` to `max(1, round(keep |S|))` neurons (see the module docs).
/// `cal_a` are calibration activations `[T, N]`. Returns the folded layer and its groups
/// (original neuron indices per new neuron). Cost O(iters N m T) for the correlation grouping.
pub fn fold_layer(
    ffn: &FfnLayer,
    bricks: &Bricks,
    keep: f64,
    grouping: FoldGrouping,
    cal_a: &TokenMatrix,
    seed: u64,
) -> Result<(FfnLayer, Vec<Vec<u32>>)> {
    bricks.check_layer(ffn)?;
    ffn.check_activations(cal_a)?;
    if !(keep > 0.0 && keep <= 1.0) {
        return Err(Error::param(
            "keep",
            format!("the kept fraction must be in (0, 1], got {keep}"),
        ));
    }
    let t_n = cal_a.rows;
    let mut groups: Vec<Vec<u32>> = Vec::new();
    for (b, mem) in bricks.members.iter().enumerate() {
        let m = ((keep * mem.len() as f64).round() as usize).clamp(1, mem.len());
        match grouping {
            FoldGrouping::Random => {
                let mut v = mem.clone();
                v.shuffle(&mut rng_for(seed, b as u64));
                for g in 0..m {
                    groups.push(v.iter().skip(g).step_by(m).copied().collect());
                }
            }
            FoldGrouping::Correlation => {
                let mut z = TokenMatrix::zeros(mem.len(), t_n);
                for (r, &i) in mem.iter().enumerate() {
                    let row = z.row_mut(r);
                    for t in 0..t_n {
                        row[t] = cal_a.row(t)[i as usize];
                    }
                    let mean = row.iter().map(|v| *v as f64).sum::<f64>() / t_n as f64;
                    row.iter_mut().for_each(|v| *v -= mean as f32);
                    let nrm = row.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
                    if nrm > 0.0 {
                        row.iter_mut().for_each(|v| *v /= nrm as f32);
                    }
                }
                let labels =
                    super::baselines::kmeans(&z, m, rng_for(seed, b as u64).next_seed(), 50)?;
                let mut gs = vec![Vec::new(); m];
                for (r, &l) in labels.iter().enumerate() {
                    gs[l as usize].push(mem[r]);
                }
                groups.extend(gs.into_iter().filter(|g| !g.is_empty()));
            }
        }
    }
    let d = ffn.d_model;
    let k = groups.len();
    let mut w_in = Mat::<f32>::zeros(k, d);
    let mut b_in = vec![0f32; k];
    let mut w_out = Mat::<f32>::zeros(d, k);
    for (g, mem) in groups.iter().enumerate() {
        let s = mem.len() as f32;
        for &i in mem {
            let i = i as usize;
            for j in 0..d {
                w_in[(g, j)] += ffn.w_in[(i, j)] / s;
                w_out[(j, g)] += ffn.w_out[(j, i)];
            }
            b_in[g] += ffn.b_in[i] / s;
        }
    }
    Ok((FfnLayer::new(w_in, b_in, w_out, ffn.b_out.clone())?, groups))
}

trait NextSeed {
    fn next_seed(self) -> u64;
}
impl NextSeed for crate::util::Rng {
    fn next_seed(mut self) -> u64 {
        use rand::Rng as _;
        self.random()
    }
}

/// Structured pruning: keep the `n_keep` neurons of largest mean contribution on calibration
/// contributions `cal_contrib` `[T, N]`. Returns the pruned layer and the kept neuron indices
/// (ascending). Cost O(T N).
pub fn prune_layer(
    ffn: &FfnLayer,
    n_keep: usize,
    cal_contrib: &TokenMatrix,
) -> Result<(FfnLayer, Vec<u32>)> {
    ffn.check_activations(cal_contrib)?;
    if n_keep == 0 || n_keep > ffn.n_neurons {
        return Err(Error::param(
            "n_keep",
            format!("must be in 1..={}, got {n_keep}", ffn.n_neurons),
        ));
    }
    let mut mean = vec![0f64; ffn.n_neurons];
    for t in 0..cal_contrib.rows {
        for (m, c) in mean.iter_mut().zip(cal_contrib.row(t)) {
            *m += *c as f64;
        }
    }
    let mut idx: Vec<u32> = (0..ffn.n_neurons as u32).collect();
    idx.sort_by(|&p, &q| {
        mean[q as usize]
            .total_cmp(&mean[p as usize])
            .then(p.cmp(&q))
    });
    idx.truncate(n_keep);
    idx.sort_unstable();
    Ok((ffn.select_neurons(&idx), idx))
}

/// Refit the output columns of `layer` by ridge least squares so that `W'_out a'(x)` matches
/// `target` (`[T, d]`, the full layer's `W_out a(x)`, without `b_out`) on calibration inputs
/// `x`: `W'_out^T = (A'^T A' + λ I)^{-1} A'^T Y` with `λ = ridge · trace(A'^T A') / m`.
/// Cost O(T m² + m³ + T m d), in f64.
pub fn refit_output(
    layer: &FfnLayer,
    x: &TokenMatrix,
    target: &TokenMatrix,
    ridge: f64,
) -> Result<FfnLayer> {
    if target.rows != x.rows || target.cols != layer.d_model {
        return Err(Error::Input(format!(
            "refit target is [{}, {}], expected [{}, {}]",
            target.rows, target.cols, x.rows, layer.d_model
        )));
    }
    let a = layer.activations(x)?;
    let m = layer.n_neurons;
    let a64 = Mat::<f64>::from_fn(a.rows, m, |t, i| a.row(t)[i] as f64);
    let y64 = Mat::<f64>::from_fn(target.rows, target.cols, |t, j| target.row(t)[j] as f64);
    let mut g = Mat::<f64>::zeros(m, m);
    faer::linalg::matmul::matmul(&mut g, Accum::Replace, a64.transpose(), &a64, 1.0, par());
    let tr: f64 = (0..m).map(|i| g[(i, i)]).sum();
    let lam = ridge * tr / m as f64 + 1e-12;
    for i in 0..m {
        g[(i, i)] += lam;
    }
    let mut rhs = Mat::<f64>::zeros(m, target.cols);
    faer::linalg::matmul::matmul(&mut rhs, Accum::Replace, a64.transpose(), &y64, 1.0, par());
    let llt = g.llt(Side::Lower).map_err(|e| {
        Error::Input(format!(
            "least-squares refit: Gram matrix not positive definite ({e:?})"
        ))
    })?;
    let sol = llt.solve(&rhs); // [m, d]
    let w_out = Mat::<f32>::from_fn(layer.d_model, m, |j, i| sol[(i, j)] as f32);
    FfnLayer::new(
        layer.w_in.clone(),
        layer.b_in.clone(),
        w_out,
        layer.b_out.clone(),
    )
}

/// Relative output error of an approximate layer on inputs `x`:
/// `Σ_t ||FFN'(x_t) - FFN(x_t)||² / Σ_t ||FFN(x_t) - b_out||²` (ratio of sums). Cost O(T N d).
pub fn output_error(full: &FfnLayer, approx: &FfnLayer, x: &TokenMatrix) -> Result<f64> {
    let y = full.forward(x)?;
    let z = approx.forward(x)?;
    let (mut num, mut den) = (0f64, 0f64);
    for t in 0..y.rows {
        for ((a, b), bo) in y.row(t).iter().zip(z.row(t)).zip(&full.b_out) {
            num += ((a - b) as f64).powi(2);
            den += ((a - bo) as f64).powi(2);
        }
    }
    Ok(num / den.max(1e-300))
}

/// One row of the folding comparison.
#[derive(Debug, Clone, Serialize)]
pub struct FoldRow {
    /// Method name.
    pub method: String,
    /// Neurons after compression.
    pub neurons: usize,
    /// Held-out relative output error without refit.
    pub error: f64,
    /// With the least-squares refit of the output columns.
    pub error_refit: f64,
}

/// Compare, at kept fraction `keep`: folding by correlation within `bricks`, folding random
/// groups within `bricks`, and pruning the same number of neurons by mean contribution; each
/// with and without the refit (ridge `1e-3`). `cal` is the calibration set, `ev` the held-out set.
pub fn fold_vs_prune(
    ffn: &FfnLayer,
    bricks: &Bricks,
    keep: f64,
    cal: &EvalSet,
    ev: &EvalSet,
    seed: u64,
) -> Result<Vec<FoldRow>> {
    let target = ffn.project(&cal.a)?;
    let ridge = 1e-3;
    let mut rows = Vec::new();
    let mut n_fold = 0;
    for (name, grouping) in [
        (
            "fold within bricks by activation correlation",
            FoldGrouping::Correlation,
        ),
        ("fold within bricks, random groups", FoldGrouping::Random),
    ] {
        let (f, groups) = fold_layer(ffn, bricks, keep, grouping, &cal.a, seed)?;
        n_fold = groups.len();
        let r = refit_output(&f, &cal.x, &target, ridge)?;
        rows.push(FoldRow {
            method: name.into(),
            neurons: groups.len(),
            error: output_error(ffn, &f, &ev.x)?,
            error_refit: output_error(ffn, &r, &ev.x)?,
        });
    }
    let (p, kept) = prune_layer(ffn, n_fold, &cal.contrib)?;
    let r = refit_output(&p, &cal.x, &target, ridge)?;
    rows.push(FoldRow {
        method: "structured pruning by mean contribution".into(),
        neurons: kept.len(),
        error: output_error(ffn, &p, &ev.x)?,
        error_refit: output_error(ffn, &r, &ev.x)?,
    });
    Ok(rows)
}
