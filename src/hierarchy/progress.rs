//! Progress reports of long clustering runs. The library never prints: a caller that wants to
//! show progress passes a callback to [`BottomUp::fit_with_progress`](super::BottomUp::fit_with_progress)
//! or [`TopDown::fit_with_progress`](super::TopDown::fit_with_progress) (the CLI prints stage
//! lines on stderr from it).

/// One progress report. The callback only observes: results are the same with or without it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Stage {
    /// The eigensolver (bottom-up: the Bethe Hessian's K smallest eigenpairs) finished a
    /// Krylov step; reported on the iterative path only.
    Eigensolver {
        /// Column products `H x` so far.
        matvecs: usize,
        /// Largest residual estimate of the wanted pairs divided by the tolerance (`<= 1`:
        /// converged; infinite before the basis holds K vectors).
        residual: f64,
    },
    /// The non-backtracking spectral radius was computed (bottom-up with
    /// [`KEstimate::NonBacktracking`](super::KEstimate::NonBacktracking) and K not given, or
    /// [`Regulariser::Adaptive`](super::Regulariser::Adaptive)); K is counted next.
    Radius {
        /// The radius `rho`.
        rho: f64,
        /// Power iterations it took.
        iterations: usize,
    },
    /// k-means++ with Lloyd iterations started on the spectral embedding.
    KMeans {
        /// Clusters.
        k: usize,
        /// Restarts.
        restarts: usize,
    },
    /// Average linkage of the primitive communities started.
    Linkage {
        /// Primitive communities.
        communities: usize,
    },
    /// Top-down: a community was visited (split, or made a leaf).
    Community {
        /// Communities visited so far.
        visited: usize,
        /// Leaves so far.
        leaves: usize,
    },
}

/// A progress callback, `&mut dyn FnMut(&Stage)` (any closure taking a [`Stage`]).
pub type ProgressFn<'a> = &'a mut dyn FnMut(&Stage);
