//! # neurobricks
//!
//! Hierarchical community detection of neurons. The crate builds neuron co-activation graphs from
//! recorded activations, clusters graphs hierarchically with the bottom-up (spectral clustering
//! into primitive communities, then average linkage on edge density) and top-down (recursive
//! spectral bisection with a Bethe-Hessian stopping rule) algorithms studied on hierarchical
//! stochastic block models, and generates such models with a planted tree.
//!
//! ```
//! use neurobricks::hsbm::HsbmParams;
//! use neurobricks::metrics::adjusted_rand_index;
//!
//! // A binary-tree SBM of depth 2: 4 communities of 50 nodes.
//! let h = HsbmParams::btsbm_log(2, 50, vec![2.0, 6.0, 30.0], 7).generate().unwrap();
//! assert_eq!(h.graph.n(), 200);
//! let truth = h.labels_at_depth(2);
//! assert_eq!(adjusted_rand_index(&truth, &truth).unwrap(), 1.0);
//! ```

#![warn(missing_docs)]
// Numeric kernels index several arrays in lock-step; iterator chains would obscure them.
#![allow(clippy::needless_range_loop)]

pub mod activations;
pub mod bricks;
pub mod coactivation;
pub mod datasets;
pub mod error;
pub mod experiments;
pub mod graph;
pub mod hierarchy;
pub mod hsbm;
pub mod metrics;
pub mod output;
pub mod plot;
pub mod spectral;
pub mod util;

pub use error::{Error, Result};
pub use graph::Graph;
pub use hierarchy::Dendrogram;
