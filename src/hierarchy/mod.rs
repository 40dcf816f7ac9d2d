//! Hierarchical community detection: the dendrogram type, average linkage on edge density, and
//! the bottom-up and top-down algorithms of Dreveton, Kuroda, Grossglauser & Thiran, "When does
//! bottom-up beat top-down in hierarchical community detection?" (JASA 2026).

mod bottom_up;
mod dendrogram;
pub mod linkage;
mod partitions;
mod progress;
mod regulariser;
pub mod theory;
mod top_down;

pub use bottom_up::{estimate_k, BottomUp, BottomUpFit, SpectralInfo};
pub use dendrogram::{Dendrogram, HeightMap, Merge};
pub use partitions::{Level, Partitions};
pub use progress::{ProgressFn, Stage};
pub use regulariser::{KEstimate, Regulariser};
pub use top_down::{TopDown, TopDownFit, TopDownInfo};
