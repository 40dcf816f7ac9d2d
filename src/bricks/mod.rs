//! Bricks: groups of neurons of one FFN layer, extracted from a brick dendrogram (or any
//! partition of the neurons), exported as sub-FFNs, routed per token under a neuron budget,
//! merged (sibling union, neuron folding) and measured against baselines on real activations
//! (DESIGN.md §3 "Bricks"; definitions in `notes/bricks-literature.md` Part 2b/2c).
//!
//! * [`extract`]: [`Bricks`] from labels or a dendrogram cut, sub-FFN export;
//! * [`route`]: routers (`oracle`, `centroid`, `representative`), budgeted selection, metrics,
//!   domain specialisation;
//! * [`baselines`]: random same-size bricks, weight k-means;
//! * [`merge`]: sibling merge vs random merges, folding vs pruning (+ least-squares refit).
//!
//! The module takes bricks as input (a partition or a dendrogram whose leaves are bricks), so it
//! does not depend on how they were found; the FFN layer and its token matrices are those of
//! [`crate::activations`] ([`crate::activations::ffn::FfnLayer`],
//! [`crate::activations::TokenMatrix`]). The MiniLM evaluation (default
//! co-activation bricks, calibration / held-out split, report tables) is in
//! [`crate::experiments`].
//!
//! ```
//! use faer::Mat;
//! use neurobricks::activations::{ffn::FfnLayer, TokenMatrix};
//! use neurobricks::bricks::{Bricks, EvalSet, Router, RouterModel};
//! use neurobricks::bricks::route::route_and_evaluate;
//!
//! // A 4-neuron FFN of width 2; bricks {0, 1} and {2, 3}.
//! let w_in = Mat::from_fn(4, 2, |i, j| if i / 2 == j { 1.0 } else { 0.0 });
//! let w_out = Mat::from_fn(2, 4, |j, i| if i / 2 == j { 1.0 } else { 0.0 });
//! let ffn = FfnLayer::new(w_in, vec![0.0; 4], w_out, vec![0.5, -0.5]).unwrap();
//! let bricks = Bricks::from_labels(&[0, 0, 1, 1], None).unwrap();
//! let x = TokenMatrix { rows: 2, cols: 2, data: vec![3.0, 0.0, 0.0, 2.0] };
//!
//! // Exactness: the bricks' outputs plus b_out are the FFN output.
//! let full = ffn.forward(&x).unwrap();
//! let y0 = bricks.sub_ffn(&ffn, 0).unwrap().forward(&x).unwrap();
//! let y1 = bricks.sub_ffn(&ffn, 1).unwrap().forward(&x).unwrap();
//! for k in 0..4 {
//!     let b_out = ffn.b_out[k % 2];
//!     assert!((y0.data[k] + y1.data[k] + b_out - full.data[k]).abs() < 1e-6);
//! }
//!
//! // Token 0 only uses brick 0, token 1 only brick 1: the oracle router at a 50% budget
//! // (one brick) loses almost nothing (GELU(0) = 0).
//! let ev = EvalSet::new(&ffn, x).unwrap();
//! let router = RouterModel::fit(Router::Oracle, &bricks, &ffn, &[]).unwrap();
//! let m = route_and_evaluate(&ffn, &bricks, &router, &ev, 0.5).unwrap();
//! assert!(m.rel_error < 1e-6 && m.neurons_used == 0.5);
//! ```

pub mod baselines;
pub mod extract;
pub mod merge;
pub mod route;

pub use extract::{Bricks, Cut, SubFfn};
pub use route::{EvalSet, RouteMetrics, Router, RouterModel};
