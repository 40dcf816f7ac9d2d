//! Spectral engine: matrix-free linear operators on graphs, a partial symmetric eigensolver for a
//! few extreme eigenpairs, and k-means++ with Lloyd iterations.
//!
//! Operators are never materialised as dense matrices: each applies the sparse adjacency in a
//! rayon-parallel row loop (single vectors, or row-major blocks in one fused pass, in `f64` or
//! `f32`). The eigensolver ([`smallest_eigenpairs`]) is an in-house block Krylov–Schur method
//! with thick restart behind our own [`LinearOperator`] trait, with a dense solver (faer) for
//! small problems. Non-convergence is reported in the result, not by panicking.

pub mod adaptive;
pub(crate) mod eigen;
mod kmeans;
mod mixed;
pub mod nonbacktracking;
mod operators;

pub use eigen::{
    count_eigenvalues_below, dense_count_below, dense_eigenvalues, dense_smallest_eigenpairs,
    has_negative_eigenvalues, largest_eigenvalue, smallest_eigenpairs,
    smallest_eigenpairs_with_progress, BlockPrecision, EigenParams, EigenResult,
};
pub use kmeans::{kmeans, KMeansParams, KMeansResult};
pub use operators::{
    bethe_hessian_r, Adjacency, BetheHessian, LinearOperator, NormalizedLaplacian,
};
