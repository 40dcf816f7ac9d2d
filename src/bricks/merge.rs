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
use super::route::{route_and_evaluate, EvalSet, RouteMetrics, Router, RouterModel};
use crate::activations::ffn::{par, FfnLayer};
use crate::activations::TokenMatrix;
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
    /// Router used (serialised by name).
    #[serde(serialize_with = "super::route::serialize_name")]
    pub router: Router,
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
    /// Largest brick after the sibling merge (a brick larger than the budget is never selected).
    pub sibling_max_brick: usize,
    /// Largest brick after the random merges, mean over seeds.
    pub random_max_brick_mean: f64,
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

/// Settings of [`sibling_vs_random`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiblingMergeParams {
    /// Clusters after merging (`1..=` number of leaves).
    pub k_to: usize,
    /// Router of both routings.
    pub router: Router,
    /// Budget fraction of neurons, in (0, 1].
    pub budget: f64,
    /// Seeds of the random merges (one random merge per seed).
    pub seeds: Vec<u64>,
}

impl SiblingMergeParams {
    /// Check the settings that need no tree before any work (`k_to` at most the number of
    /// leaves is checked against the tree).
    ///
    /// # Errors
    /// [`Error::Param`] naming `SiblingMergeParams.k_to` (0) or `SiblingMergeParams.budget`
    /// (outside (0, 1]).
    pub fn validate(&self) -> Result<()> {
        if self.k_to == 0 {
            return Err(Error::param(
                "SiblingMergeParams.k_to",
                "need at least one cluster",
            ));
        }
        let rho = self.budget;
        if !(rho.is_finite() && rho > 0.0 && rho <= 1.0) {
            return Err(Error::param(
                "SiblingMergeParams.budget",
                format!("the neuron budget must be a fraction in (0, 1], got {rho}"),
            ));
        }
        Ok(())
    }
}

/// Merge the dendrogram's leaves into `p.k_to` clusters along the tree (`cut_k`) and, for each
/// seed, into `k_to` random groups with the same leaf counts per group; route with `p.router`
/// (degrees from `degree`, see [`RouterModel::fit`]) at budget `p.budget` on `ev` and compare
/// errors. Cost: (2 + seeds) routing evaluations.
///
/// # Errors
/// `k_to` out of range, a budget outside (0, 1], a tree from another layer.
pub fn sibling_vs_random(
    ffn: &FfnLayer,
    d: &Dendrogram,
    degree: &[f64],
    ev: &EvalSet,
    p: &SiblingMergeParams,
) -> Result<SiblingMerge> {
    p.validate()?;
    let (k_to, router, rho, seeds) = (p.k_to, p.router, p.budget, &p.seeds);
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
    let mut max_sizes = Vec::new();
    for &s in seeds.iter() {
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
        max_sizes.push(rb.sizes().into_iter().max().unwrap_or(0) as f64);
        errs.push(eval(&rb)?.rel_error);
    }
    let (mean, std) = mean_std(&errs);
    Ok(SiblingMerge {
        router,
        bricks_before: leaves.len(),
        bricks_after: sib.len(),
        budget: rho,
        leaves: m_leaves,
        sibling: m_sib,
        random_errors: errs,
        random_error_mean: mean,
        random_error_std: std,
        sibling_max_brick: sib.sizes().into_iter().max().unwrap_or(0),
        random_max_brick_mean: mean_std(&max_sizes).0,
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

/// Settings of [`fold_layer`] and [`fold_vs_prune`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FoldParams {
    /// Kept fraction of every brick's neurons, in (0, 1].
    pub keep: f64,
    /// Seed of the grouping.
    pub seed: u64,
}

impl FoldParams {
    /// Check the settings before any work.
    ///
    /// # Errors
    /// [`Error::Param`] naming `FoldParams.keep` when it is outside (0, 1].
    pub fn validate(&self) -> Result<()> {
        let keep = self.keep;
        if !(keep > 0.0 && keep <= 1.0) {
            return Err(Error::param(
                "FoldParams.keep",
                format!("the kept fraction must be in (0, 1], got {keep}"),
            ));
        }
        Ok(())
    }
}

/// Fold each brick of `bricks` to `max(1, round(p.keep |S|))` neurons grouped by `grouping`
/// (see the module docs). `cal_a` are calibration activations `[T, N]`. Returns the folded
/// layer and its groups (original neuron indices per new neuron). Cost O(iters N m T) for the
/// correlation grouping.
///
/// # Errors
/// `keep` outside (0, 1], bricks or activations of another layer.
pub fn fold_layer(
    ffn: &FfnLayer,
    bricks: &Bricks,
    grouping: FoldGrouping,
    cal_a: &TokenMatrix,
    p: &FoldParams,
) -> Result<(FfnLayer, Vec<Vec<u32>>)> {
    p.validate()?;
    let FoldParams { keep, seed } = *p;
    bricks.check_layer(ffn)?;
    ffn.check_activations(cal_a)?;
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
                    super::baselines::kmeans_rows(&z, m, rng_for(seed, b as u64).next_seed(), 50)?;
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
/// `x`: `W'_out^T = (A'^T A' + λ I)^{-1} A'^T Y` with `λ = ridge · trace(A'^T A') / m`
/// (`b_out` is kept). Cost O(T m² + m³ + T m d), in f64.
pub fn refit_output(
    layer: &FfnLayer,
    x: &TokenMatrix,
    target: &TokenMatrix,
    ridge: f64,
) -> Result<FfnLayer> {
    check_target(layer, x, target)?;
    let a = activations64(layer, x)?;
    let y = to64(target);
    let (g, rhs) = normal_equations(&a, &y);
    let sol = ridge_solve(&g, &rhs, ridge)?;
    with_output(layer, &sol)
}

/// [`refit_output`] with the ridge chosen by validation inside the calibration tokens: the
/// tokens are cut into consecutive blocks of `block` tokens (one window each in the shipped
/// data); the refit on the even blocks is scored on the odd blocks (mean per-token relative
/// error) for every ridge of `grid`; the best ridge is then refit on all tokens. Returns the
/// layer and the chosen ridge. Cost O(|grid| (m³ + T m d)).
pub fn refit_output_cv(
    layer: &FfnLayer,
    x: &TokenMatrix,
    target: &TokenMatrix,
    block: usize,
    grid: &[f64],
) -> Result<(FfnLayer, f64)> {
    check_target(layer, x, target)?;
    if block == 0 {
        return Err(Error::param("block", "need a block size >= 1"));
    }
    if grid.is_empty() {
        return Err(Error::param("grid", "need at least one ridge"));
    }
    let (fit, val): (Vec<usize>, Vec<usize>) =
        (0..x.rows).partition(|&t| (t / block).is_multiple_of(2));
    if fit.is_empty() || val.is_empty() {
        return Err(Error::Input(format!(
            "ridge validation needs at least two blocks of {block} calibration tokens, got {}",
            x.rows
        )));
    }
    let a = activations64(layer, x)?;
    let y = to64(target);
    let rows = |m: &Mat<f64>, idx: &[usize]| {
        Mat::<f64>::from_fn(idx.len(), m.ncols(), |r, c| m[(idx[r], c)])
    };
    let (a_fit, y_fit, a_val, y_val) = (
        rows(&a, &fit),
        rows(&y, &fit),
        rows(&a, &val),
        rows(&y, &val),
    );
    let (g, rhs) = normal_equations(&a_fit, &y_fit);
    let mut best = (f64::INFINITY, grid[0]);
    for &ridge in grid {
        let sol = ridge_solve(&g, &rhs, ridge)?;
        let mut pred = Mat::<f64>::zeros(a_val.nrows(), sol.ncols());
        faer::linalg::matmul::matmul(&mut pred, Accum::Replace, &a_val, &sol, 1.0, par());
        let mut err = 0f64;
        for t in 0..pred.nrows() {
            let (mut n, mut d) = (0f64, 0f64);
            for j in 0..pred.ncols() {
                n += (pred[(t, j)] - y_val[(t, j)]).powi(2);
                d += y_val[(t, j)].powi(2);
            }
            err += n / d.max(1e-30);
        }
        if err < best.0 {
            best = (err, ridge);
        }
    }
    let (g, rhs) = normal_equations(&a, &y);
    let sol = ridge_solve(&g, &rhs, best.1)?;
    Ok((with_output(layer, &sol)?, best.1))
}

fn check_target(layer: &FfnLayer, x: &TokenMatrix, target: &TokenMatrix) -> Result<()> {
    if target.rows != x.rows || target.cols != layer.d_model {
        return Err(Error::Input(format!(
            "refit target is [{}, {}], expected [{}, {}]",
            target.rows, target.cols, x.rows, layer.d_model
        )));
    }
    Ok(())
}

fn to64(m: &TokenMatrix) -> Mat<f64> {
    Mat::<f64>::from_fn(m.rows, m.cols, |t, j| m.row(t)[j] as f64)
}

fn activations64(layer: &FfnLayer, x: &TokenMatrix) -> Result<Mat<f64>> {
    Ok(to64(&layer.activations(x)?))
}

/// `(A^T A, A^T Y)`.
fn normal_equations(a: &Mat<f64>, y: &Mat<f64>) -> (Mat<f64>, Mat<f64>) {
    let m = a.ncols();
    let mut g = Mat::<f64>::zeros(m, m);
    faer::linalg::matmul::matmul(&mut g, Accum::Replace, a.transpose(), a, 1.0, par());
    let mut rhs = Mat::<f64>::zeros(m, y.ncols());
    faer::linalg::matmul::matmul(&mut rhs, Accum::Replace, a.transpose(), y, 1.0, par());
    (g, rhs)
}

/// Solve `(G + λ I) W = R` with `λ = ridge · trace(G) / m` by Cholesky.
fn ridge_solve(g: &Mat<f64>, rhs: &Mat<f64>, ridge: f64) -> Result<Mat<f64>> {
    let m = g.nrows();
    let tr: f64 = (0..m).map(|i| g[(i, i)]).sum();
    let lam = ridge * tr / m.max(1) as f64 + 1e-12;
    let mut g = g.clone();
    for i in 0..m {
        g[(i, i)] += lam;
    }
    let llt = g.llt(Side::Lower).map_err(|e| {
        Error::Input(format!(
            "least-squares refit: Gram matrix not positive definite ({e:?})"
        ))
    })?;
    Ok(llt.solve(rhs))
}

fn with_output(layer: &FfnLayer, sol: &Mat<f64>) -> Result<FfnLayer> {
    let w_out = Mat::<f32>::from_fn(layer.d_model, layer.n_neurons, |j, i| sol[(i, j)] as f32);
    FfnLayer::new(
        layer.w_in.clone(),
        layer.b_in.clone(),
        w_out,
        layer.b_out.clone(),
    )
}

/// Relative output error of an approximate layer on inputs `x`, as in the routing metrics:
/// `(mean_t ||FFN'(x_t) - FFN(x_t)||² / ||FFN(x_t) - b_out||², Σ_t ||..||² / Σ_t ||..||²)` — the
/// mean of per-token ratios and the ratio of sums. Cost O(T N d).
pub fn output_error(full: &FfnLayer, approx: &FfnLayer, x: &TokenMatrix) -> Result<(f64, f64)> {
    let y = full.forward(x)?;
    let z = approx.forward(x)?;
    let (mut num, mut den, mut per) = (0f64, 0f64, 0f64);
    for t in 0..y.rows {
        let (mut n_t, mut d_t) = (0f64, 0f64);
        for ((a, b), bo) in y.row(t).iter().zip(z.row(t)).zip(&full.b_out) {
            n_t += ((a - b) as f64).powi(2);
            d_t += ((a - bo) as f64).powi(2);
        }
        num += n_t;
        den += d_t;
        per += n_t / d_t.max(1e-30);
    }
    Ok((per / y.rows.max(1) as f64, num / den.max(1e-300)))
}

/// One row of the folding comparison.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct FoldRow {
    /// Method (serialised as its description).
    pub method: FoldMethod,
    /// Neurons after compression.
    pub neurons: usize,
    /// Held-out relative output error without refit (mean of per-token ratios).
    pub error: f64,
    /// With the least-squares refit of the output columns.
    pub error_refit: f64,
    /// Without refit, ratio of sums.
    pub pooled_error: f64,
    /// With refit, ratio of sums.
    pub pooled_error_refit: f64,
    /// Ridge chosen by validation inside the calibration tokens.
    pub ridge: f64,
}

/// A row of [`fold_vs_prune`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoldMethod {
    /// [`fold_layer`] with [`FoldGrouping::Correlation`].
    FoldCorrelation,
    /// [`fold_layer`] with [`FoldGrouping::Random`].
    FoldRandom,
    /// [`prune_layer`] by mean contribution.
    Prune,
}

crate::util::enum_names!(FoldMethod,
    /// The description printed and serialised.
    description {
        FoldCorrelation => "fold within bricks by activation correlation",
        FoldRandom => "fold within bricks, random groups",
        Prune => "structured pruning by mean contribution",
    }
);

impl Serialize for FoldMethod {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.description())
    }
}

/// Compare, at kept fraction `p.keep` (grouping seed `p.seed`): folding by correlation within `bricks`, folding random
/// groups within `bricks`, and pruning the same number of neurons by mean contribution; each
/// with and without the refit ([`refit_output_cv`]: ridge chosen among 1e-4..10 on alternate
/// 128-token blocks of the calibration set). `cal` is the calibration set, `ev` the held-out set.
pub fn fold_vs_prune(
    ffn: &FfnLayer,
    bricks: &Bricks,
    cal: &EvalSet,
    ev: &EvalSet,
    p: &FoldParams,
) -> Result<Vec<FoldRow>> {
    let target = ffn.project(&cal.a)?;
    let grid = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0];
    let mut rows = Vec::new();
    let mut n_fold = 0;
    for (method, grouping) in [
        (FoldMethod::FoldCorrelation, FoldGrouping::Correlation),
        (FoldMethod::FoldRandom, FoldGrouping::Random),
    ] {
        let (f, groups) = fold_layer(ffn, bricks, grouping, &cal.a, p)?;
        n_fold = groups.len();
        let (r, ridge) = refit_output_cv(&f, &cal.x, &target, 128, &grid)?;
        let (e0, p0) = output_error(ffn, &f, &ev.x)?;
        let (e1, p1) = output_error(ffn, &r, &ev.x)?;
        rows.push(FoldRow {
            method,
            neurons: groups.len(),
            error: e0,
            error_refit: e1,
            pooled_error: p0,
            pooled_error_refit: p1,
            ridge,
        });
    }
    let (p, kept) = prune_layer(ffn, n_fold, &cal.contrib)?;
    let (r, ridge) = refit_output_cv(&p, &cal.x, &target, 128, &grid)?;
    let (e0, p0) = output_error(ffn, &p, &ev.x)?;
    let (e1, p1) = output_error(ffn, &r, &ev.x)?;
    rows.push(FoldRow {
        method: FoldMethod::Prune,
        neurons: kept.len(),
        error: e0,
        error_refit: e1,
        pooled_error: p0,
        pooled_error_refit: p1,
        ridge,
    });
    Ok(rows)
}
