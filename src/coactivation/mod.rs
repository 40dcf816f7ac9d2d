//! Neuron co-activation graphs: binarise → count → weight → sparsify (DESIGN.md §3).
//!
//! ```
//! use neurobricks::activations::TokenMatrix;
//! use neurobricks::coactivation::CoactivationParams;
//!
//! // 4 tokens x 3 neurons; neurons 0 and 1 fire together, neuron 2 never fires.
//! let a = TokenMatrix::new(4, 3, vec![
//!     1.0, 2.0, -1.0,
//!     0.5, 0.1, -1.0,
//!     -1.0, -1.0, -1.0,
//!     -1.0, -1.0, -1.0,
//! ]).unwrap();
//! let params = CoactivationParams::default()
//!     .binarize("positive".parse().unwrap())
//!     .weight("count".parse().unwrap())
//!     .sparsify("none".parse().unwrap());
//! let out = params.fit(&a).unwrap();
//! assert_eq!(out.counts.n_ij(0, 1), 2);
//! assert_eq!(out.report.dead, vec![2]);
//! assert_eq!(out.graph.num_edges(), 1);
//! assert_eq!(out.graph.ids(), &["0".to_string(), "1".to_string()]);
//! ```
//!
//! Dead neurons (`n_i = 0`) and resident neurons (`n_i / T >` [`CoactivationParams::resident`],
//! default 0.9) are left out of the graph and listed in the [`Report`]; the graph's node ids
//! are the original neuron indices as strings. References: DESIGN.md §3 and
//! `notes/bricks-literature.md` Part 2a.

pub mod count;
pub mod files;
pub mod rules;
pub mod synthetic;
pub mod weights;

pub use count::{CountsMeta, DomainCounts, Kernel, PairCounts};
pub use files::{merge_count_files, MergedCounts, NeuronGroup};
pub use rules::{Binarize, Binarizer};
pub use weights::{normal_quantile, normal_upper_quantile, Sparsify, Weight};

use crate::activations::ActivationSource;
use crate::error::{Error, Result};
use crate::graph::{Duplicates, Graph};
use crate::util::setters;
use rayon::prelude::*;

/// Progress of a counting run, passed to the caller's callback after each chunk.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Progress {
    /// Current pass, 0-based.
    pub pass: usize,
    /// Total passes (1, or 4 for `quantile`).
    pub passes: usize,
    /// Tokens done in this pass.
    pub tokens_done: usize,
    /// Tokens per pass.
    pub tokens: usize,
}

/// Parameters of a co-activation graph ([`Default`], a setter per field, [`Self::validate`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CoactivationParams {
    /// Binarisation rule (default `positive`).
    pub binarize: Binarize,
    /// Edge weight (default `phi`).
    pub weight: Weight,
    /// Sparsification (default `knn:10`).
    pub sparsify: Sparsify,
    /// A neuron active on more than this fraction of tokens is resident (default 0.9).
    pub resident: f64,
    /// Tokens per chunk read (0 = about 16 MB of f32 per chunk).
    pub chunk_tokens: usize,
    /// Counting kernel (default: chosen by density).
    pub kernel: Kernel,
}

impl Default for CoactivationParams {
    fn default() -> Self {
        CoactivationParams {
            binarize: Binarize::Positive,
            weight: Weight::Phi,
            sparsify: Sparsify::Knn(10),
            resident: 0.9,
            chunk_tokens: 0,
            kernel: Kernel::Auto,
        }
    }
}

/// Everything the co-activation pipeline produces.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CoactivationGraph {
    /// The graph on the kept neurons (ids = neuron indices).
    pub graph: Graph,
    /// The counts it was built from.
    pub counts: PairCounts,
    /// Dead / resident neurons and summary numbers.
    pub report: Report,
}

/// Summary of a co-activation graph.
// Deliberate same-shape pair (`cd src && duplicates`): a plain list of documented fields,
// alike line by line with `FfnLayer` and `EigenResult` only in shape; no logic is shared.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Report {
    /// Tokens counted.
    pub tokens: u64,
    /// Neurons in the activations.
    pub neurons: usize,
    /// Neurons never active.
    pub dead: Vec<usize>,
    /// Neurons active on more than the resident fraction of tokens.
    pub resident: Vec<usize>,
    /// Neurons in the graph, in node order.
    pub kept: Vec<usize>,
    /// Mean fraction of active (neuron, token) entries over all neurons.
    pub active_fraction: f64,
    /// Undirected edges of the graph.
    pub edges: usize,
    /// Kept neurons without any edge (they do not appear in an edge-list file).
    pub isolated: usize,
    /// Connected components of the graph among the kept neurons with at least one edge.
    pub components: usize,
    /// For `significance:ALPHA`: the phi threshold `z_{1−α/M}/√T` used.
    pub phi_threshold: Option<f64>,
}

impl CoactivationParams {
    setters! {
        /// Set the binarisation rule.
        binarize: Binarize,
        /// Set the edge weight.
        weight: Weight,
        /// Set the sparsification rule.
        sparsify: Sparsify,
        /// Set the resident fraction.
        resident: f64,
        /// Set the chunk size in tokens (0 = automatic).
        chunk_tokens: usize,
        /// Force a counting kernel.
        kernel: Kernel,
    }

    /// Check the parameters (for `neurons` neurons).
    pub fn validate(&self, neurons: usize) -> Result<()> {
        self.binarize.validate(neurons)?;
        if !(self.resident > 0.0 && self.resident <= 1.0) {
            return Err(Error::param(
                "CoactivationParams.resident",
                format!("{} must be in (0, 1]", self.resident),
            ));
        }
        Ok(())
    }

    /// Chunk size used for `neurons` neurons.
    pub fn effective_chunk_tokens(&self, neurons: usize) -> usize {
        if self.chunk_tokens > 0 {
            self.chunk_tokens
        } else {
            ((4usize << 20) / neurons.max(1)).clamp(64, 65536) / 64 * 64
        }
    }

    /// Count co-activations over `src` (with per-domain activity when `domains` = `(label per
    /// token, number of domains)` is given). `progress` is called after every chunk.
    ///
    /// # Cost
    /// One pass over the source (four for `quantile`); time `O(T N² / 64)` word operations
    /// (dense kernel) or `O(Σ_t a_t²)` (sparse); memory `N²` `u32` plus one chunk.
    ///
    /// ```
    /// use neurobricks::activations::TokenMatrix;
    /// use neurobricks::coactivation::{Binarize, CoactivationParams};
    ///
    /// // 3 tokens x 2 neurons; tokens 0, 1 are domain 0, token 2 is domain 1.
    /// let a = TokenMatrix::new(3, 2, vec![1.0, 1.0, 1.0, -1.0, -1.0, 1.0]).unwrap();
    /// let params = CoactivationParams::default().binarize(Binarize::Positive);
    /// let (c, dom) = params.count(&a, Some((&[0, 0, 1], 2)), &mut |_| {}).unwrap();
    /// assert_eq!((c.tokens(), c.n_i(0), c.n_i(1), c.n_ij(0, 1)), (3, 2, 2, 1));
    /// let dom = dom.unwrap();
    /// assert_eq!(dom.tokens, vec![2, 1]);
    /// assert_eq!(dom.active, vec![2, 1, 0, 1]); // [domain][neuron]
    /// ```
    pub fn count(
        &self,
        src: &dyn ActivationSource,
        domains: Option<(&[u32], usize)>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(PairCounts, Option<DomainCounts>)> {
        let n = src.neurons();
        let t = src.tokens();
        self.validate(n)?;
        if t > u32::MAX as usize {
            return Err(Error::Input(format!(
                "{t} tokens exceed the u32 count limit: count shards separately and add the counts"
            )));
        }
        if let Some((labels, _)) = domains {
            if labels.len() != t {
                return Err(Error::Input(format!(
                    "{} domain labels for {t} tokens",
                    labels.len()
                )));
            }
        }
        let ct = self.effective_chunk_tokens(n);
        let passes = self.binarize.pre_passes() + 1;
        let binarizer = match self.binarize.resolve(n) {
            Binarize::Positive => Binarizer::Above(0.0),
            Binarize::Threshold(x) => Binarizer::Above(x),
            Binarize::TopK(k) => Binarizer::TopK(k),
            Binarize::TopKFraction(_) => unreachable!("resolved above"),
            Binarize::Quantile(q) => {
                let th = rules::quantile_thresholds(src, q, ct, &mut |pass, done| {
                    progress(Progress {
                        pass,
                        passes,
                        tokens_done: done,
                        tokens: t,
                    })
                })?;
                Binarizer::AbovePerNeuron(th)
            }
        };
        let mut counter = count::Counter::new(n, &binarizer, self.kernel, domains)?;
        let mut done = 0;
        // Reading and decoding run one chunk ahead on their own thread, overlapped with the
        // binarisation and counting of the previous chunk.
        counter.push_source(src, ct, &mut |tokens| {
            done += tokens;
            progress(Progress {
                pass: passes - 1,
                passes,
                tokens_done: done,
                tokens: t,
            })
        })?;
        Ok(counter.finish())
    }

    /// Build the graph from counts: set aside dead and resident neurons, weight the remaining
    /// pairs, sparsify.
    ///
    /// # Cost
    /// `O(K²)` weight evaluations for `K` kept neurons (rayon-parallel over rows); memory
    /// `O(edges)` (`knn:k`: at most `K k` candidate edges).
    pub fn graph(&self, counts: &PairCounts) -> Result<(Graph, Report)> {
        let n = counts.neurons();
        self.validate(n)?;
        let t = counts.tokens();
        if t == 0 {
            return Err(Error::Input("no tokens were counted".into()));
        }
        let mut dead = Vec::new();
        let mut resident = Vec::new();
        let mut kept = Vec::new();
        let mut total_active = 0u64;
        for i in 0..n {
            let ni = counts.n_i(i);
            total_active += ni as u64;
            if ni == 0 {
                dead.push(i);
            } else if ni as f64 / t as f64 > self.resident {
                resident.push(i);
            } else {
                kept.push(i);
            }
        }
        let k = kept.len();
        let kept_ref = &kept;
        let w = self.weight;
        // Row `a` of the weights over the kept neurons (`Weight::row`, vectorised), into
        // scratch buffers reused by each rayon worker.
        let n_kept: Vec<u32> = kept.iter().map(|&i| counts.n_i(i)).collect();
        let all_kept = k == n;
        let row_weights = |a: usize, (nij, out): &mut (Vec<u32>, Vec<f64>)| {
            let i = kept_ref[a];
            let full = &counts.matrix()[i * n..(i + 1) * n];
            let row: &[u32] = if all_kept {
                full
            } else {
                nij.clear();
                nij.extend(kept_ref.iter().map(|&j| full[j]));
                nij
            };
            out.resize(k, 0.0);
            w.row(row, n_kept[a], &n_kept, t, out);
        };
        let mut phi_threshold = None;
        let mut edges: Vec<(u32, u32, f64)> = match self.sparsify {
            Sparsify::Knn(kk) => {
                let mut cand: Vec<(u32, u32, f64)> = (0..k)
                    .into_par_iter()
                    .map_init(
                        || (Vec::new(), Vec::new()),
                        |scratch, a| {
                            row_weights(a, scratch);
                            let mut row: Vec<(f64, u32)> = scratch
                                .1
                                .iter()
                                .enumerate()
                                .filter(|&(b, &x)| b != a && x > 0.0)
                                .map(|(b, &x)| (x, b as u32))
                                .collect();
                            let m = kk.min(row.len());
                            if m < row.len() {
                                row.select_nth_unstable_by(m, |x, y| {
                                    y.0.total_cmp(&x.0).then(x.1.cmp(&y.1))
                                });
                                row.truncate(m);
                            }
                            row.into_iter()
                                .map(move |(x, b)| {
                                    let (u, v) = if (a as u32) < b {
                                        (a as u32, b)
                                    } else {
                                        (b, a as u32)
                                    };
                                    (u, v, x)
                                })
                                .collect::<Vec<_>>()
                        },
                    )
                    .flatten_iter()
                    .collect();
                cand.par_sort_unstable_by_key(|e| (e.0, e.1));
                cand.dedup_by_key(|e| (e.0, e.1));
                cand
            }
            other => {
                let keep_min = match other {
                    Sparsify::Threshold(x) => x,
                    _ => f64::MIN_POSITIVE,
                };
                let phi_min = if let Sparsify::Significance(alpha) = other {
                    let m = (k as f64) * (k as f64 - 1.0) / 2.0;
                    let z = normal_upper_quantile(alpha / m.max(1.0));
                    let th = z / (t as f64).sqrt();
                    phi_threshold = Some(th);
                    Some(th)
                } else {
                    None
                };
                (0..k)
                    .into_par_iter()
                    .map_init(
                        || (Vec::new(), Vec::new()),
                        |scratch, a| {
                            row_weights(a, scratch);
                            let x_row = &scratch.1;
                            (a + 1..k)
                                .filter_map(|b| {
                                    let x = x_row[b];
                                    if !(x > 0.0 && x >= keep_min) {
                                        return None;
                                    }
                                    if let Some(pm) = phi_min {
                                        let (i, j) = (kept_ref[a], kept_ref[b]);
                                        let p = weights::phi(
                                            counts.n_ij(i, j) as f64,
                                            counts.n_i(i) as f64,
                                            counts.n_i(j) as f64,
                                            t as f64,
                                        );
                                        if p <= pm {
                                            return None;
                                        }
                                    }
                                    Some((a as u32, b as u32, x))
                                })
                                .collect::<Vec<_>>()
                        },
                    )
                    .flatten_iter()
                    .collect()
            }
        };
        edges.shrink_to_fit();
        let ids = kept.iter().map(|i| i.to_string()).collect();
        let graph = Graph::from_edges(k, &edges, Duplicates::Sum)?
            .with_ids(ids)?
            .with_weighted(true);
        let isolated = (0..k).filter(|&a| graph.neighbors(a).0.is_empty()).count();
        let components = graph.connected_components().1 - isolated;
        let report = Report {
            tokens: t,
            neurons: n,
            dead,
            resident,
            active_fraction: total_active as f64 / (t as f64 * n as f64),
            edges: graph.num_edges(),
            isolated,
            components,
            phi_threshold,
            kept,
        };
        Ok((graph, report))
    }

    /// Count, then build the graph ([`Self::count`] + [`Self::graph`]), without progress.
    pub fn fit(&self, src: &dyn ActivationSource) -> Result<CoactivationGraph> {
        let (counts, _) = self.count(src, None, &mut |_| {})?;
        let (graph, report) = self.graph(&counts)?;
        Ok(CoactivationGraph {
            graph,
            counts,
            report,
        })
    }
}

/// Reference binarisation of a dense row-major matrix `[tokens, neurons]` by a rule, computed
/// the simple way (sorting for `quantile`, a full sort per token for `topk`). For tests.
pub fn binarize_naive(rule: Binarize, tokens: usize, neurons: usize, a: &[f32]) -> Vec<bool> {
    let mut b = vec![false; tokens * neurons];
    match rule.resolve(neurons) {
        Binarize::Positive | Binarize::Threshold(_) => {
            let th = if let Binarize::Threshold(x) = rule {
                x
            } else {
                0.0
            };
            for (o, &v) in b.iter_mut().zip(a) {
                *o = v > th;
            }
        }
        Binarize::TopKFraction(_) => unreachable!("resolved above"),
        Binarize::TopK(k) => {
            for t in 0..tokens {
                let row = &a[t * neurons..(t + 1) * neurons];
                let mut idx: Vec<usize> = (0..neurons).collect();
                idx.sort_by(|&x, &y| row[y].total_cmp(&row[x]).then(x.cmp(&y)));
                for &i in idx.iter().take(k) {
                    b[t * neurons + i] = true;
                }
            }
        }
        Binarize::Quantile(q) => {
            let r = rules::quantile_rank(q, tokens);
            for i in 0..neurons {
                let mut col: Vec<f32> = (0..tokens)
                    .map(|t| {
                        let v = a[t * neurons + i];
                        if v == 0.0 {
                            0.0
                        } else {
                            v
                        }
                    })
                    .collect();
                col.sort_by(|x, y| x.total_cmp(y));
                let th = col[r];
                for t in 0..tokens {
                    b[t * neurons + i] = a[t * neurons + i] > th;
                }
            }
        }
    }
    b
}
