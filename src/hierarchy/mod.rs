//! Hierarchical community detection: the dendrogram type, average linkage on edge density, and
//! the bottom-up and top-down algorithms of Dreveton, Kuroda, Grossglauser & Thiran, "When does
//! bottom-up beat top-down in hierarchical community detection?" (JASA 2026).

mod dendrogram;

pub use dendrogram::{Dendrogram, HeightMap, Merge};
