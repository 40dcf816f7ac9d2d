//! # neurobricks
//!
//! Hierarchical community detection of neurons. The crate builds neuron co-activation graphs from
//! recorded activations, clusters graphs hierarchically with the bottom-up (spectral clustering
//! into primitive communities, then average linkage on edge density) and top-down (recursive
//! spectral bisection with a Bethe-Hessian stopping rule) algorithms studied on hierarchical
//! stochastic block models, cuts the trees into bricks of neurons, and draws them.
//!
//! ## The pipeline, one module per stage
//!
//! | stage | module | takes | hands on |
//! | --- | --- | --- | --- |
//! | activations | [`activations`] | `.npy` / safetensors files, an FFN layer | [`activations::TokenMatrix`] or [`activations::Activations`] (both [`activations::ActivationSource`]) |
//! | co-activation | [`coactivation`] | an `ActivationSource` and [`coactivation::CoactivationParams`] | [`coactivation::CoactivationGraph`]: a [`Graph`] on the kept neurons, the [`coactivation::PairCounts`] and a [`coactivation::Report`] of the set-aside neurons |
//! | hierarchy | [`hierarchy`] | a [`Graph`] and [`hierarchy::BottomUp`] or [`hierarchy::TopDown`] | a [`Dendrogram`] (in [`hierarchy::BottomUpFit`] / [`hierarchy::TopDownFit`]), cut by `cut_k`, `cut_depth`, `cut_size` |
//! | bricks | [`bricks`] | a `Dendrogram`, a [`bricks::Cut`] and the set-aside neurons | [`bricks::Bricks`]: neuron groups, sub-FFNs, routing |
//! | plot | [`plot`] | a `Dendrogram` (and a `Graph`) | PNG or SVG figures ([`plot::DendrogramPlot`], [`plot::HeatmapPlot`]) |
//!
//! Beside the pipeline: [`hsbm`] samples graphs with a planted hierarchy, [`metrics`] scores
//! partitions (ARI, AMI, NMI), [`spectral`] holds the eigensolver and k-means the hierarchy
//! uses, [`graph`] reads and writes edge lists and labels, [`experiments`] is the MiniLM
//! evaluation protocol of docs/bricks.md (not core API), and [`atlas`] gives every brick a card
//! (top contexts, over-represented word pieces, domain mass, routing) beside random bricks. Every algorithm takes a params struct
//! with [`Default`], a setter per field and a `validate()` that names the bad parameter
//! (`BottomUp.split`) before any work; the library never prints.
//!
//! ```
//! use neurobricks::bricks::{Bricks, Cut};
//! use neurobricks::coactivation::{synthetic::SyntheticParams, CoactivationParams};
//! use neurobricks::hierarchy::BottomUp;
//! use neurobricks::metrics::adjusted_rand_index;
//! use neurobricks::plot::{DendrogramPlot, ImageFormat};
//!
//! // activations: 4000 tokens x 320 neurons in 2 x 4 planted groups (a TokenMatrix).
//! let syn = SyntheticParams::default().seed(4).generate().unwrap();
//! let acts = &syn.activations;
//! // coactivation: TokenMatrix -> CoactivationGraph (phi weights, 10 nearest neighbours).
//! let cg = CoactivationParams::default().fit(acts).unwrap();
//! assert_eq!(cg.graph.n(), 320);
//! assert!(cg.report.dead.is_empty() && cg.report.resident.is_empty());
//! // hierarchy: Graph -> Dendrogram over 8 primitive communities.
//! let fit = BottomUp::new().k(Some(8)).seed(1).fit(&cg.graph).unwrap();
//! let truth: Vec<usize> = cg.report.kept.iter().map(|&i| syn.labels[1][i]).collect();
//! let found: Vec<usize> = fit.communities.iter().map(|&c| c as usize).collect();
//! assert_eq!(adjusted_rand_index(&truth, &found).unwrap(), 1.0);
//! // bricks: Dendrogram cut into its 2 top clusters -> Bricks of neurons.
//! let bricks = Bricks::from_dendrogram(&fit.dendrogram, 320, Cut::K(2)).unwrap();
//! assert_eq!(bricks.sizes(), vec![160, 160]);
//! let top: Vec<usize> = bricks.labels().iter().map(|&b| b as usize).collect();
//! assert_eq!(adjusted_rand_index(&syn.labels[0], &top).unwrap(), 1.0);
//! // plot: Dendrogram -> SVG.
//! let svg = DendrogramPlot::default()
//!     .title("planted neuron groups")
//!     .cut(2)
//!     .render_to_bytes(&fit.dendrogram, ImageFormat::Svg)
//!     .unwrap();
//! assert!(String::from_utf8(svg).unwrap().contains("planted neuron groups"));
//! ```

#![warn(missing_docs)]
// Numeric kernels index several arrays in lock-step; iterator chains would obscure them.
#![allow(clippy::needless_range_loop)]

pub mod activations;
pub mod atlas;
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
