//! `theory`: exact-recovery thresholds (Chernoff–Hellinger and top-down divergences).

use clap::Args;
use neurobricks::hierarchy::theory::{tree_theory, TreeTheory};
use neurobricks::hsbm::tree::{Scale, Tree};
use neurobricks::util::parse_list;
use neurobricks::{Error, Result};
use std::path::PathBuf;

/// Print the exact-recovery thresholds of an HSBM in the log-degree regime: CH_m (minimum
/// Chernoff-Hellinger divergence between leaves whose LCA has depth m), TD_m (the top-down
/// two-block divergence of the splits at depth m), and the depths each algorithm can recover.
#[derive(Args)]
#[command(after_help = "Examples:
  neurobricks theory --depth 3 --a 40,50,60,100
      m  CH_m  TD_m, then per depth l: bottom-up (min_{m<l} CH_m > 1) and top-down (min_{m<l} TD_m > 1)
  neurobricks theory --depth 3 --a 10,50,60,130 --branching 3
  neurobricks theory --tree data/hsbm-trees/appendix-example1.json --json
A complete tree uses the closed forms of the paper (section 4.4-4.5); a --tree spec uses the
general CH between two leaves, maximised numerically over t (probabilities of a spec with
scale \"p\" are turned into a = p N / ln N).")]
pub struct TheoryArgs {
    /// Depth d of a complete tree.
    #[arg(long, requires = "a", conflicts_with = "tree")]
    depth: Option<usize>,
    /// Log-degree coefficients a0 (across the root) .. ad (within a leaf): p_l = a_l ln N / N.
    #[arg(long, value_name = "A0,..,AD")]
    a: Option<String>,
    /// Children per internal node of the complete tree.
    #[arg(long, default_value_t = 2)]
    branching: usize,
    /// A general tree spec (JSON, see `neurobricks hsbm --help`).
    #[arg(long, conflicts_with = "a")]
    tree: Option<PathBuf>,
    /// Print JSON {"ch":[..],"td":[..],"bottom_up":[..],"top_down":[..]}.
    #[arg(long)]
    json: bool,
}

pub fn run(a: TheoryArgs) -> Result<()> {
    let th: TreeTheory = match (&a.tree, a.depth, &a.a) {
        (Some(p), None, None) => tree_theory(&Tree::read(p)?),
        (None, Some(d), Some(x)) => {
            let v: Vec<f64> = parse_list("--a", x)?;
            if d == 0 {
                return Err(Error::param("--depth", "must be at least 1"));
            }
            if v.len() != d + 1 {
                return Err(Error::param(
                    "--a",
                    format!("{} values given, depth {d} needs {}", v.len(), d + 1),
                ));
            }
            if v.iter().any(|&x| !(x.is_finite() && x >= 0.0)) {
                return Err(Error::param("--a", "values must be finite and >= 0"));
            }
            closed_form(&v, a.branching)?
        }
        _ => {
            return Err(Error::param(
                "--depth/--a/--tree",
                "give --depth with --a, or --tree",
            ))
        }
    };
    if a.json {
        let clean = |v: &[f64]| -> Vec<serde_json::Value> {
            v.iter()
                .map(|&x| {
                    if x.is_finite() {
                        serde_json::json!(x)
                    } else {
                        serde_json::Value::Null
                    }
                })
                .collect()
        };
        println!(
            "{}",
            serde_json::json!({
                "ch": clean(&th.ch), "td": clean(&th.td),
                "bottom_up": th.bottom_up, "top_down": th.top_down,
            })
        );
        return Ok(());
    }
    let f = |x: f64| {
        if x.is_finite() {
            format!("{x:.3}")
        } else {
            "-".to_string()
        }
    };
    println!("{:>3} {:>9} {:>9}", "m", "CH_m", "TD_m");
    for m in 0..th.ch.len() {
        println!("{m:>3} {:>9} {:>9}", f(th.ch[m]), f(th.td[m]));
    }
    println!();
    println!("{:>5} {:>10} {:>9}", "depth", "bottom-up", "top-down");
    let yn = |b: bool| if b { "yes" } else { "no" };
    for l in 0..th.bottom_up.len() {
        println!(
            "{:>5} {:>10} {:>9}",
            l + 1,
            yn(th.bottom_up[l]),
            yn(th.top_down[l])
        );
    }
    Ok(())
}

/// On a complete tree report the paper's closed forms (`CH_m` for any branching, `TD_m` for a
/// binary tree), which the general computation matches (unit tests); for branching > 2 the
/// top-down column is the general two-block divergence.
fn closed_form(a: &[f64], branching: usize) -> Result<TreeTheory> {
    use neurobricks::hierarchy::theory::{chernoff_hellinger, top_down_divergence};
    let ch = chernoff_hellinger(a, branching)?;
    let td = if branching == 2 {
        top_down_divergence(a)?
    } else {
        // Only the coefficients matter (pi = k^-d); the leaf size keeps p = a ln N / N a
        // probability and N below the u32 limit.
        let d = a.len() - 1;
        let k = (branching as f64).powi(d as i32);
        let n = ((u32::MAX as f64 / 2.0) / k).max(1.0) as usize;
        let tree = Tree::complete(d, branching, a, n, Scale::Log)
            .map_err(|e| Error::param("--a", e.to_string()))?;
        tree_theory(&tree).td
    };
    Ok(TreeTheory::from_divergences(ch, td))
}
