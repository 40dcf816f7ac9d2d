//! Co-activation bricks of a layer: co-activation graph on calibration tokens → bottom-up
//! hierarchical clustering ([`BottomUp`], Dreveton et al., JASA 2026) → brick dendrogram →
//! [`Bricks`] (leaves, plus the set-aside brick of dead / resident / isolated neurons).
//!
//! Graph ([`crate::coactivation`], with the configuration that separated methods best in
//! notes/bricks-literature.md Part 3b): a neuron is active on a token when its contribution
//! `|a_i| ||W_out[:, i]||` is among the top `top_frac` of that token (`topk` rule on the
//! contributions); neurons never active (dead) or active on more than `resident` of the tokens
//! are set aside first; edges carry the phi coefficient of the binary activity vectors and are
//! sparsified by the union of each neuron's `knn` strongest positive-phi neighbours. Node ids are
//! neuron indices.

use crate::bricks::{Bricks, Cut, EvalSet};
use crate::coactivation::{Binarize, CoactivationParams, Report, Sparsify, Weight};
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::hierarchy::{BottomUp, Dendrogram};
use serde::Serialize;

/// Settings of [`coactivation_bricks`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CoactConfig {
    /// Primitive communities (bricks before the set-aside brick).
    pub k: usize,
    /// Fraction of neurons active per token (top contributions).
    pub top_frac: f64,
    /// Neighbours kept per neuron (union kNN).
    pub knn: usize,
    /// Resident threshold on the fraction of tokens a neuron is active on.
    pub resident: f64,
    /// Seed of the clustering.
    pub seed: u64,
}

impl CoactConfig {
    /// Check the settings before any work.
    ///
    /// # Errors
    /// [`Error::Param`] naming `CoactConfig.top_frac` (outside (0, 1)) or `CoactConfig.knn`
    /// (0).
    pub fn validate(&self) -> Result<()> {
        if !(self.top_frac > 0.0 && self.top_frac < 1.0) {
            return Err(Error::param(
                "CoactConfig.top_frac",
                format!("must be in (0, 1), got {}", self.top_frac),
            ));
        }
        if self.knn == 0 {
            return Err(Error::param(
                "CoactConfig.knn",
                "need at least one neighbour",
            ));
        }
        Ok(())
    }
}

impl Default for CoactConfig {
    fn default() -> Self {
        CoactConfig {
            k: 32,
            top_frac: 0.10,
            knn: 10,
            resident: 0.9,
            seed: 0,
        }
    }
}

/// The co-activation bricks and what they were built from.
#[derive(Debug, Clone)]
pub struct CoactBricks {
    /// The brick dendrogram (leaves = bricks without the set-aside brick).
    pub dendrogram: Dendrogram,
    /// The bricks (leaves + set-aside brick).
    pub bricks: Bricks,
    /// Weighted degree of every neuron in the co-activation graph (0 for set-aside neurons),
    /// used by the representative router.
    pub degree: Vec<f64>,
    /// Graph and clustering diagnostics.
    pub info: serde_json::Value,
}

/// The co-activation graph of the module docs, built by the [`crate::coactivation`] pipeline
/// on the calibration contributions: `topk` binarisation (`round(top_frac N)` per token), phi
/// weights, `knn` union sparsification, neurons active on no token (dead) or on more than
/// `resident` of them set aside. Returns the graph (ids = neuron indices) and the set-aside
/// neurons. Cost: the co-activation counting, O(T N²/64) popcounts, plus O(N² + N knn log knn).
pub fn coactivation_graph(cal: &EvalSet, cfg: &CoactConfig) -> Result<(Graph, Vec<u32>, Report)> {
    cfg.validate()?;
    let n = cal.contrib.cols;
    let top = ((cfg.top_frac * n as f64).round() as usize).clamp(1, n);
    let cg = CoactivationParams::default()
        .binarize(Binarize::TopK(top))
        .weight(Weight::Phi)
        .sparsify(Sparsify::Knn(cfg.knn))
        .resident(cfg.resident)
        .fit(&cal.contrib)?;
    let mut aside: Vec<u32> = cg
        .report
        .dead
        .iter()
        .chain(&cg.report.resident)
        .map(|&i| i as u32)
        .collect();
    aside.sort_unstable();
    Ok((cg.graph, aside, cg.report))
}

/// Build the co-activation bricks of calibration set `cal` (see the module docs): phi kNN graph,
/// [`BottomUp`] with `k` primitive communities, bricks = leaves + set-aside brick.
pub fn coactivation_bricks(cal: &EvalSet, cfg: &CoactConfig) -> Result<CoactBricks> {
    let n = cal.a.cols;
    let (g, aside, report) = coactivation_graph(cal, cfg)?;
    let fit = BottomUp::new().k(Some(cfg.k)).seed(cfg.seed).fit(&g)?;
    let bricks = Bricks::from_dendrogram(&fit.dendrogram, n, Cut::Leaves)?;
    let mut degree = vec![0f64; n];
    for (node, d) in g.degrees().into_iter().enumerate() {
        let i: usize = g.ids()[node].parse().expect("ids are neuron indices");
        degree[i] = d;
    }
    let info = serde_json::json!({
        "graph": "coactivation: topk contributions, phi, knn (crate::coactivation)",
        "active_fraction": report.active_fraction,
        "config": cfg,
        "nodes": g.n(),
        "edges": g.num_edges(),
        "dead_or_resident": aside.len(),
        "isolated": fit.info.isolated_nodes,
        "clustering": "BottomUp (Bethe-Hessian spectral + average linkage)",
    });
    Ok(CoactBricks {
        dendrogram: fit.dendrogram,
        bricks,
        degree,
        info,
    })
}
