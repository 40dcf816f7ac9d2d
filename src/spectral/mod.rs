//! Spectral engine: matrix-free linear operators on graphs, a partial symmetric eigensolver for a
//! few extreme eigenpairs, and k-means++ with Lloyd iterations.
//!
//! Operators are never materialised as dense matrices: each applies the sparse adjacency in a
//! rayon-parallel row loop. The eigensolver ([`smallest_eigenpairs`]) wraps faer's Krylov–Schur
//! `partial_self_adjoint_eigen` behind our own [`LinearOperator`] trait and falls back to a dense
//! solver (nalgebra) for small problems. Non-convergence is reported in the result, not by
//! panicking.

mod eigen;
mod kmeans;
mod operators;

pub use eigen::{
    dense_eigenvalues, dense_smallest_eigenpairs, largest_eigenvalue, smallest_eigenpairs,
    EigenParams, EigenResult, FilterPrecision,
};
pub use kmeans::{kmeans, KMeansParams, KMeansResult};
pub use operators::{
    bethe_hessian_r, Adjacency, BetheHessian, LinearOperator, NormalizedLaplacian,
};
