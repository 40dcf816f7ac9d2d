//! Co-activation bricks of a layer: co-activation graph on calibration tokens → bottom-up
//! hierarchical clustering ([`BottomUp`], Dreveton et al., JASA 2026) → brick dendrogram →
//! [`Bricks`] (leaves, plus the set-aside brick of dead / resident / isolated neurons).
//!
//! Graph (the configuration that separated methods best in notes/bricks-literature.md Part 3b):
//! a neuron is active on a token when its contribution `|a_i| ||W_out[:, i]||` is among the top
//! `top_frac` of that token; dead (`a > 0` on no calibration token) and resident (`a > 0` on more
//! than `resident` of them) neurons are set aside first; edges carry the phi coefficient of the
//! binary activity vectors and are sparsified by the union of each neuron's `knn` strongest
//! positive-phi neighbours. Node ids are neuron indices.

use super::extract::{Bricks, Cut};
use super::ffn::{par, TokenMatrix};
use super::route::EvalSet;
use crate::error::{Error, Result};
use crate::graph::{Duplicates, Graph};
use crate::hierarchy::{BottomUp, Dendrogram};
use faer::{Accum, Mat};
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
    /// Resident threshold on the `a > 0` firing rate.
    pub resident: f64,
    /// Seed of the clustering.
    pub seed: u64,
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

/// Centred, unit-norm binary activity profiles `[kept, T]` of the non-set-aside neurons of
/// calibration set `cal`; returns `(profiles, kept neuron indices, set-aside neuron indices)`.
/// The dot product of two profiles is the phi coefficient. Cost O(T N log N).
pub fn phi_profiles(
    cal: &EvalSet,
    top_frac: f64,
    resident: f64,
) -> Result<(TokenMatrix, Vec<u32>, Vec<u32>)> {
    if !(top_frac > 0.0 && top_frac < 1.0) {
        return Err(Error::param(
            "top_frac",
            format!("must be in (0, 1), got {top_frac}"),
        ));
    }
    let (t_n, n) = (cal.a.rows, cal.a.cols);
    let aside = super::baselines::dead_and_resident(&cal.a, resident);
    let mut is_aside = vec![false; n];
    aside.iter().for_each(|&i| is_aside[i as usize] = true);
    let keep: Vec<u32> = (0..n as u32).filter(|&i| !is_aside[i as usize]).collect();
    let top = ((top_frac * n as f64).round() as usize).clamp(1, n);
    let mut b = vec![0f32; n * t_n];
    let mut idx: Vec<usize> = Vec::with_capacity(n);
    for t in 0..t_n {
        let c = cal.contrib.row(t);
        idx.clear();
        idx.extend(0..n);
        if top < n {
            idx.select_nth_unstable_by(top, |&p, &q| c[q].total_cmp(&c[p]).then(p.cmp(&q)));
        }
        for &i in &idx[..top] {
            b[i * t_n + t] = 1.0;
        }
    }
    let mut z = TokenMatrix::zeros(keep.len(), t_n);
    for (r, &i) in keep.iter().enumerate() {
        let prof = &b[i as usize * t_n..(i as usize + 1) * t_n];
        let mean = prof.iter().sum::<f32>() / t_n as f32;
        let row = z.row_mut(r);
        for (dst, v) in row.iter_mut().zip(prof) {
            *dst = v - mean;
        }
        let nrm = row.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
        if nrm > 0.0 {
            row.iter_mut().for_each(|v| *v /= nrm as f32);
        }
    }
    Ok((z, keep, aside))
}

/// The phi kNN co-activation graph of the module docs: nodes = kept neurons (ids = neuron
/// indices), edge weight = phi > 0, union of each node's `knn` strongest neighbours. Returns the
/// graph and the set-aside neurons. Cost O(N² T) (one matmul) + O(N² log knn).
pub fn phi_knn_graph(cal: &EvalSet, cfg: &CoactConfig) -> Result<(Graph, Vec<u32>)> {
    if cfg.knn == 0 {
        return Err(Error::param("knn", "need at least one neighbour"));
    }
    let (z, keep, aside) = phi_profiles(cal, cfg.top_frac, cfg.resident)?;
    let m = keep.len();
    let zt = z.as_transposed(); // [T, m]
    let mut phi = Mat::<f32>::zeros(m, m);
    faer::linalg::matmul::matmul(&mut phi, Accum::Replace, zt.transpose(), zt, 1.0, par());
    let mut edges = std::collections::BTreeMap::<(u32, u32), f64>::new();
    let mut cand: Vec<(f32, u32)> = Vec::with_capacity(m);
    for i in 0..m {
        cand.clear();
        let col = phi.col_as_slice(i);
        cand.extend(
            (0..m)
                .filter(|&j| j != i && col[j] > 0.0)
                .map(|j| (col[j], j as u32)),
        );
        let kk = cfg.knn.min(cand.len());
        if kk == 0 {
            continue;
        }
        if kk < cand.len() {
            cand.select_nth_unstable_by(kk - 1, |p, q| q.0.total_cmp(&p.0).then(p.1.cmp(&q.1)));
        }
        for &(w, j) in &cand[..kk] {
            let key = ((i as u32).min(j), (i as u32).max(j));
            edges.insert(key, w as f64);
        }
    }
    let edges: Vec<(u32, u32, f64)> = edges.into_iter().map(|((a, b), w)| (a, b, w)).collect();
    let ids = keep.iter().map(|i| i.to_string()).collect();
    let g = Graph::from_edges(m, &edges, Duplicates::Sum)?
        .with_ids(ids)?
        .with_weighted(true);
    Ok((g, aside))
}

/// Build the co-activation bricks of calibration set `cal` (see the module docs): phi kNN graph,
/// [`BottomUp`] with `k` primitive communities, bricks = leaves + set-aside brick.
pub fn coactivation_bricks(cal: &EvalSet, cfg: &CoactConfig) -> Result<CoactBricks> {
    let n = cal.a.cols;
    let (g, aside) = phi_knn_graph(cal, cfg)?;
    let fit = BottomUp::new().k(Some(cfg.k)).seed(cfg.seed).fit(&g)?;
    let bricks = Bricks::from_dendrogram(&fit.dendrogram, n, Cut::Leaves)?;
    let mut degree = vec![0f64; n];
    for (node, d) in g.degrees().into_iter().enumerate() {
        let i: usize = g.ids()[node].parse().expect("ids are neuron indices");
        degree[i] = d;
    }
    let info = serde_json::json!({
        "graph": "phi kNN on top-contribution activity (bricks::pipeline)",
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
