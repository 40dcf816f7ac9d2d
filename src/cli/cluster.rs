//! `cluster`: bottom-up or top-down hierarchical community detection on an edge list.

use clap::{Args, ValueEnum};
use neurobricks::graph::{read_edge_list, EdgeListOptions};
use neurobricks::hierarchy::{BottomUp, KEstimate, Regulariser, Stage, TopDown};
use neurobricks::Result;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Method {
    /// Bethe-Hessian spectral clustering into K communities + average linkage on edge density.
    BottomUp,
    /// Recursive spectral bisection with a Bethe-Hessian stopping rule.
    TopDown,
}

/// `--k-estimate`: how bottom-up estimates K when `--k` is omitted.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum KEstimateArg {
    /// The authors' estimate: eigenvalues of `L_rho` above `1/sqrt(rho)`, `rho` the
    /// non-backtracking spectral radius (counted as the negative eigenvalues of
    /// `H(sqrt(rho))`). The default.
    NonBacktracking,
    /// Negative eigenvalues of the Bethe Hessian `H(r)`, `r = sqrt(sum d^2 / sum d - 1)` (the
    /// default before issue 16).
    BetheHessian,
}

/// `--regulariser`: the regulariser of the bottom-up embedding.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum RegulariserArg {
    /// The default: `fixed` on graphs whose edge weights are all 1; on other graphs the `fixed`
    /// and the `zeta-k` partitions, keeping the one of higher weighted modularity (recorded in
    /// the tree's info).
    Auto,
    /// One `r = sqrt(sum d^2 / sum d - 1)` for all K eigenvectors (one eigensolve).
    Fixed,
    /// One `r = zeta_K`, at which the K-th eigenvalue of `H(r)` vanishes, for all K
    /// eigenvectors (a few eigensolves).
    ZetaK,
    /// The authors' per-eigenvector `r_i` at which the i-th eigenvalue of `H(r)` vanishes (a few
    /// eigensolves per eigenvector: far slower).
    Adaptive,
}

/// Cluster a graph hierarchically and write the dendrogram JSON.
#[derive(Args)]
#[command(after_help = "Examples:
  neurobricks cluster --graph g.edges.tsv --k 8 --seed 1 --out tree.json
  neurobricks cluster --graph g.edges.tsv --method top-down --out td.json
  neurobricks cluster --graph g.edges.tsv --split 0.9 --out tree.json   (K estimated)
  neurobricks cluster --graph g.edges.tsv --k-estimate bethe-hessian --out tree.json
Then: neurobricks cut --tree tree.json --k 2,4,8 --out parts.tsv")]
pub struct ClusterArgs {
    /// Edge list (`u v` or `u v w`).
    #[arg(long)]
    graph: PathBuf,
    /// Algorithm.
    #[arg(long, value_enum, default_value = "bottom-up")]
    method: Method,
    /// Number of primitive communities (bottom-up); estimated if omitted (see --k-estimate).
    #[arg(long)]
    k: Option<usize>,
    /// How bottom-up estimates K when --k is omitted [default: non-backtracking].
    #[arg(long, value_enum)]
    k_estimate: Option<KEstimateArg>,
    /// Regulariser of the bottom-up embedding [default: auto].
    #[arg(long, value_enum)]
    regulariser: Option<RegulariserArg>,
    /// Upper bound for the estimated K.
    #[arg(long, default_value_t = 1000)]
    k_max: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Graph splitting (bottom-up): fraction q in (0, 1) of the edges used for clustering, the
    /// rest for the linkage.
    #[arg(long)]
    split: Option<f64>,
    /// k-means restarts.
    #[arg(long, default_value_t = 10)]
    n_init: usize,
    /// Regularisation tau (top-down).
    #[arg(long, default_value_t = 0.1)]
    tau: f64,
    /// Maximum tree depth (top-down).
    #[arg(long)]
    max_depth: Option<usize>,
    /// Ignore a weight column.
    #[arg(long)]
    unweighted: bool,
    /// No progress lines on stderr (reading, eigensolver with its residual, k-means, linkage;
    /// top-down: communities visited). Warnings and the closing summary line still appear.
    #[arg(long)]
    quiet: bool,
    /// Output dendrogram JSON, the only file written. Written through the output rule (README, "Outputs"): a temporary in the same folder renamed at the end, links followed, FIFOs and devices written through, `-` = stdout.
    #[arg(long)]
    out: PathBuf,
}

/// Progress lines `cluster: ...` on stderr: every stage change at once, repeated reports of the
/// same stage (eigensolver steps, top-down communities) at most once a second.
struct StageLines {
    quiet: bool,
    last: Option<(std::mem::Discriminant<Stage>, Instant)>,
}

impl StageLines {
    fn line(&mut self, msg: &str) {
        if !self.quiet {
            eprintln!("cluster: {msg}");
        }
    }
    fn report(&mut self, s: &Stage) {
        let d = std::mem::discriminant(s);
        if let Some((prev, t)) = self.last {
            if prev == d && t.elapsed().as_secs_f64() < 1.0 {
                return;
            }
        }
        self.last = Some((d, Instant::now()));
        let msg = match s {
            Stage::Eigensolver { matvecs, residual } => format!(
                "eigensolver: {matvecs} column products, residual {residual:.2e} x the tolerance"
            ),
            Stage::Radius { rho, iterations } => {
                format!("non-backtracking spectral radius {rho:.6} ({iterations} power iterations)")
            }
            Stage::KMeans { k, restarts } => format!("k-means: K = {k}, {restarts} restarts"),
            Stage::Linkage { communities } => {
                format!("average linkage of {communities} communities")
            }
            Stage::Community { visited, leaves } => {
                format!("top-down: {visited} communities visited, {leaves} leaves")
            }
            _ => format!("{s:?}"),
        };
        self.line(&msg);
    }
}

pub fn run(a: ClusterArgs) -> Result<()> {
    let t0 = Instant::now();
    let mut lines = StageLines {
        quiet: a.quiet,
        last: None,
    };
    lines.line(&format!("reading {}", a.graph.display()));
    let opts = EdgeListOptions::default().ignore_weights(a.unweighted);
    let (g, rep) = read_edge_list(&a.graph, &opts)?;
    if rep.self_loops > 0 {
        eprintln!(
            "warning: {}: {} self-loops dropped",
            a.graph.display(),
            rep.self_loops
        );
    }
    let t_read = t0.elapsed().as_secs_f64();
    let (d, summary) = match a.method {
        Method::BottomUp => {
            if a.tau != 0.1 || a.max_depth.is_some() {
                eprintln!("warning: --tau and --max-depth apply to --method top-down only");
            }
            if a.k.is_some() && a.k_estimate.is_some() {
                eprintln!("warning: --k-estimate has no effect with --k (K is given)");
            }
            let k_estimate = match a.k_estimate {
                Some(KEstimateArg::BetheHessian) => KEstimate::BetheHessian,
                Some(KEstimateArg::NonBacktracking) | None => KEstimate::NonBacktracking,
            };
            let regulariser = match a.regulariser {
                Some(RegulariserArg::Adaptive) => Regulariser::Adaptive,
                Some(RegulariserArg::Fixed) => Regulariser::Fixed,
                Some(RegulariserArg::ZetaK) => Regulariser::ZetaK,
                Some(RegulariserArg::Auto) | None => Regulariser::Auto,
            };
            let fit = BottomUp::new()
                .k(a.k)
                .k_estimate(k_estimate)
                .regulariser(regulariser)
                .k_max(a.k_max)
                .seed(a.seed)
                .split(a.split)
                .n_init(a.n_init)
                .fit_with_progress(&g, &mut |s| lines.report(s))?;
            let i = &fit.info;
            let s = format!(
                "K = {}{}, eigenpairs {}/{} (residual {:.1e}), isolated nodes {}, components {}",
                i.k,
                match (i.k_estimated, i.rho) {
                    (true, Some(rho)) if k_estimate == KEstimate::NonBacktracking =>
                        format!(" (estimated, non-backtracking radius {rho:.4})"),
                    (true, _) => " (estimated, Bethe Hessian)".to_string(),
                    _ => String::new(),
                },
                i.eigen_converged,
                i.eigen_requested,
                i.eigen_max_residual,
                i.isolated_nodes,
                i.components
            );
            if i.eigen_converged < i.eigen_requested {
                eprintln!(
                    "warning: only {} of {} eigenpairs converged",
                    i.eigen_converged, i.eigen_requested
                );
            }
            (fit.dendrogram, s)
        }
        Method::TopDown => {
            if a.k.is_some()
                || a.split.is_some()
                || a.k_estimate.is_some()
                || a.regulariser.is_some()
            {
                eprintln!("warning: --k, --k-estimate, --regulariser and --split apply to --method bottom-up only (top-down finds its own leaves)");
            }
            let fit = TopDown::new()
                .tau(a.tau)
                .seed(a.seed)
                .max_depth(a.max_depth)
                .n_init(a.n_init)
                .fit_with_progress(&g, &mut |s| lines.report(s))?;
            let summary = format!(
                "{} leaves, {} inversions, isolated nodes {}",
                fit.info.leaves, fit.info.inversions, fit.info.isolated_nodes
            );
            (fit.dendrogram, summary)
        }
    };
    d.write(&a.out)?;
    eprintln!(
        "cluster: {} nodes, {} edges{}; {summary}; read {:.2}s, total {:.2}s -> {}",
        g.n(),
        g.num_edges(),
        if g.is_weighted() { " (weighted)" } else { "" },
        t_read,
        t0.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(())
}
