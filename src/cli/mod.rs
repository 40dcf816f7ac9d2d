//! Command-line interface. One file per subcommand; each defines a clap `Args` struct and a
//! `run(args) -> Result<()>` that calls the library. Errors are printed once, with their file,
//! line or parameter, and the process exits with a non-zero code.

mod basic;
mod bricks;
mod cluster;
mod coactivation;
mod plot;
mod report;
mod theory;

use clap::{Parser, Subcommand};
use neurobricks::Error;

#[derive(Parser)]
#[command(
    name = "neurobricks",
    version,
    about = "Hierarchical community detection of neurons: co-activation graphs, bottom-up and top-down HSBM clustering, brick dendrograms",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand)]
enum Command {
    Hsbm(basic::HsbmArgs),
    Cluster(cluster::ClusterArgs),
    Cut(basic::CutArgs),
    Evaluate(basic::EvaluateArgs),
    Export(basic::ExportArgs),
    /// Brick extraction, routing, merging and the evaluation report.
    Bricks(bricks::BricksArgs),
    Coactivation(coactivation::CoactivationArgs),
    Plot(plot::PlotArgs),
    Report(report::ReportArgs),
    Theory(theory::TheoryArgs),
}

/// Parse arguments, run the command, report errors; returns the exit code.
pub fn run() -> i32 {
    let cli = Cli::parse();
    // SIGINT/SIGTERM/SIGHUP remove this run's temporary outputs (see `neurobricks::output`).
    if let Err(e) = neurobricks::output::remove_temporaries_on_signal() {
        eprintln!("warning: {e}");
    }
    let res = match cli.cmd {
        Command::Hsbm(a) => basic::hsbm(a),
        Command::Cluster(a) => cluster::run(a),
        Command::Cut(a) => basic::cut(a),
        Command::Evaluate(a) => basic::evaluate(a),
        Command::Export(a) => basic::export(a),
        Command::Bricks(a) => bricks::run(a),
        Command::Coactivation(a) => coactivation::coactivation(a),
        Command::Plot(a) => plot::plot(a),
        Command::Report(a) => report::run(a),
        Command::Theory(a) => theory::run(a),
    };
    match res.map_err(flag_names) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// Library parameter names and the flags that set them: the one place where the CLI spells a
/// library error in its own terms. Library errors name a params struct's field as `Type.field`
/// and a function argument by its name ([`Error::Param`]); names without an entry are printed
/// as they are.
const FLAGS: &[(&str, &str)] = &[
    ("BottomUp.k", "--k"),
    ("BottomUp.k_max", "--k-max"),
    ("BottomUp.split", "--split"),
    ("BottomUp.n_init", "--n-init"),
    ("BottomUp.regulariser", "--regulariser"),
    ("TopDown.tau", "--tau"),
    ("TopDown.n_init", "--n-init"),
    ("TopDown.max_depth", "--max-depth"),
    ("HsbmParams.depth", "--depth"),
    ("HsbmParams.branching", "--branching"),
    ("HsbmParams.sizes", "--nodes/--sizes"),
    ("HsbmParams.probs", "--p/--a"),
    ("bounded_degree_probs.depth", "--depth"),
    ("bounded_degree_probs.degree", "--degree"),
    ("bounded_degree_probs.beta", "--beta"),
    ("bounded_degree_probs.nodes", "--nodes"),
    ("CoactivationParams.binarize", "--binarize"),
    ("CoactivationParams.weight", "--weight"),
    ("CoactivationParams.sparsify", "--sparsify"),
    ("CoactivationParams.resident", "--resident"),
    ("CoactivationParams.chunk_tokens", "--chunk-tokens"),
    ("tensor", "--tensor"),
    ("paths", "--activations"),
    ("PlotOptions.title", "--title"),
    ("PlotOptions.width", "--width"),
    ("PlotOptions.height", "--height"),
    ("PlotOptions.font_size", "--font-size"),
    ("out", "--out"),
    ("AtlasParams.random_bricks", "--random-bricks"),
    ("DendrogramPlot.cut", "--cut"),
    ("DendrogramPlot.log", "--log"),
    ("DendrogramPlot.scale", "--scale"),
    ("DendrogramPlot.max_leaves", "--max-leaves"),
    ("DendrogramPlot.y_min", "--y-min"),
    ("HeatmapPlot.bins", "--bins"),
    ("HeatmapPlot.boundary_k", "--boundary-k"),
    ("max", "--max-size"),
    ("min", "--min-size"),
    ("SiblingMergeParams.k_to", "--to"),
    ("SiblingMergeParams.budget", "--budget"),
    ("FoldParams.keep", "--keep"),
    ("ReportParams.budgets", "--budgets"),
    ("ReportParams.random_seeds", "--seeds"),
    ("ReportParams.fold_keep", "--fold-keep"),
    ("Router::Representative.m", "--m"),
];

/// Spell a library parameter name as the CLI flag that sets it ([`FLAGS`]).
fn flag_names(e: Error) -> Error {
    match e {
        Error::Param { name, msg } => match FLAGS.iter().find(|(lib, _)| *lib == name) {
            Some((_, flag)) => Error::param(*flag, msg),
            None => Error::Param { name, msg },
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_names_become_flags() {
        let e = flag_names(Error::param("BottomUp.split", "1.5 is not in (0, 1)"));
        assert_eq!(
            e.to_string(),
            "invalid parameter `--split`: 1.5 is not in (0, 1)"
        );
        let e = flag_names(Error::param("budget", "x"));
        assert_eq!(e.to_string(), "invalid parameter `budget`: x");
        // Every flag is a real flag of some subcommand's help.
        for (_, flag) in FLAGS {
            assert!(flag.starts_with("--"), "{flag}");
        }
    }
}
