//! Bricks: groups of neurons of one FFN layer, extracted from a brick dendrogram (or any
//! partition of the neurons), exported as sub-FFNs, routed per token under a neuron budget,
//! merged (sibling union, neuron folding) and measured against baselines on real activations
//! (DESIGN.md §3 "Bricks"; definitions in `notes/bricks-literature.md` Part 2b/2c).
//!
//! * [`ffn`]: the FFN layer and token inputs (safetensors), activations (GELU erf);
//! * [`extract`]: [`Bricks`] from labels or a dendrogram cut, sub-FFN export;
//! * [`route`]: routers (`oracle`, `centroid`, `representative`), budgeted selection, metrics,
//!   domain specialisation;
//! * [`baselines`]: random same-size bricks, weight k-means, the stand-in co-activation bricks;
//! * [`merge`]: sibling merge vs random merges, folding vs pruning (+ least-squares refit);
//! * [`report`]: the whole evaluation of a layer on held-out tokens.
//!
//! The module takes bricks as input (a partition or a dendrogram whose leaves are bricks), so it
//! does not depend on how they were found.

pub mod baselines;
pub mod extract;
pub mod ffn;
pub mod merge;
pub mod report;
pub mod route;

pub use extract::{Bricks, Cut, SubFfn};
pub use ffn::{FfnLayer, TokenMatrix, Tokens};
pub use route::{EvalSet, RouteMetrics, Router, RouterModel};
