//! Command-line interface. One file per subcommand; each defines a clap `Args` struct and a
//! `run(args) -> Result<()>` that calls the library. Errors are printed once, with their file,
//! line or parameter, and the process exits with a non-zero code.

mod basic;
mod bricks;
mod cluster;
mod coactivation;
mod plot;
mod theory;

use clap::{Parser, Subcommand};

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
    Theory(theory::TheoryArgs),
}

/// Parse arguments, run the command, report errors; returns the exit code.
pub fn run() -> i32 {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Command::Hsbm(a) => basic::hsbm(a),
        Command::Cluster(a) => cluster::run(a),
        Command::Cut(a) => basic::cut(a),
        Command::Evaluate(a) => basic::evaluate(a),
        Command::Export(a) => basic::export(a),
        Command::Bricks(a) => bricks::run(a),
        Command::Coactivation(a) => coactivation::coactivation(a),
        Command::Plot(a) => plot::plot(a),
        Command::Theory(a) => theory::run(a),
    };
    match res {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
