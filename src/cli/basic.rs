//! `hsbm`, `cut`, `evaluate` and `export`.

use clap::{Args, ValueEnum};
use neurobricks::graph::{read_labels, write_edge_list_to, write_labels_to, Labels};
use neurobricks::hierarchy::{Level, Partitions};
use neurobricks::hsbm::tree::{bounded_degree_probs, Tree};
use neurobricks::hsbm::{EdgeProbs, HsbmParams, Sizes};
use neurobricks::metrics::evaluate_levels;
use neurobricks::output::Outputs;
use neurobricks::util::{parse_list, wio, write_atomic};
use neurobricks::{Dendrogram, Error, Graph, Result};
use std::io::Write;
use std::path::PathBuf;

/// Generate a hierarchical SBM graph with a planted tree.
#[derive(Args)]
#[command(after_help = "Examples:
  neurobricks hsbm --nodes 1600 --depth 3 --a 40,41,45,100 --seed 1 --out out/btsbm
      writes out/btsbm.edges.tsv and out/btsbm.labels.tsv (header: node depth1 depth2 depth3)
  neurobricks hsbm --nodes 400 --depth 2 --p 0.01,0.05,0.3 --sizes 50,150,100,100 --seed 2 --out g
  neurobricks hsbm --nodes 1600 --depth 3 --degree 10 --beta 0.3 --seed 3 --out g
      bounded-degree regime: p_l = p_d beta^(d-l), p_d set for expected degree 10
  neurobricks hsbm --tree data/hsbm-trees/appendix-example1.json --seed 4 --out g
      any rooted tree from a JSON spec; labels have one column per depth 1..max leaf depth

Tree spec (JSON): {\"scale\": \"log\" or \"p\", \"levels\": [v0, v1, ..],
  \"tree\": {\"level\": 0, \"children\": [ {\"value\": 0.3, \"size\": 100}, .. ]}}
  every node gives \"value\" or \"level\" (an index into levels): for an internal node the
  probability between its children's communities, for a leaf (with \"size\" nodes) the
  probability within; scale \"log\" means p = value ln N / N. Leaves are numbered depth first.")]
pub struct HsbmArgs {
    /// Total number of nodes (split evenly over the branching^depth communities unless --sizes).
    #[arg(long)]
    nodes: Option<usize>,
    /// Tree depth d (>= 1); the model has branching^d primitive communities.
    #[arg(long, required_unless_present = "tree")]
    depth: Option<usize>,
    /// Edge probability per LCA depth, p0 (across the root) .. pd (within a community).
    #[arg(long, value_name = "P0,..,PD", conflicts_with_all = ["a", "degree"])]
    p: Option<String>,
    /// Bounded-degree regime: expected degree c (with --beta): p_l = p_d beta^(d-l).
    #[arg(long, value_name = "C", requires = "beta", conflicts_with = "a")]
    degree: Option<f64>,
    /// Ratio between consecutive levels in the bounded-degree regime.
    #[arg(long, value_name = "B", requires = "degree")]
    beta: Option<f64>,
    /// A general tree spec (JSON, format below) instead of a complete tree.
    #[arg(long, conflicts_with_all = ["depth", "p", "a", "degree", "sizes", "nodes", "branching"])]
    tree: Option<PathBuf>,
    /// Log-degree form: p[k] = a[k] ln N / N.
    #[arg(long, value_name = "A0,..,AD")]
    a: Option<String>,
    /// Explicit community sizes, one per leaf (overrides --nodes).
    #[arg(long, value_name = "S1,..,SK")]
    sizes: Option<String>,
    /// Children per internal node (2 = binary tree).
    #[arg(long, default_value_t = 2)]
    branching: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output prefix: writes PREFIX.edges.tsv and PREFIX.labels.tsv, both or neither (renamed
    /// together after both are written; README, "Outputs").
    #[arg(long)]
    out: PathBuf,
}

pub fn hsbm(a: HsbmArgs) -> Result<()> {
    if let Some(t) = &a.tree {
        return hsbm_tree(t, a.seed, &a.out);
    }
    let depth = a.depth.unwrap_or_default();
    let probs = match (&a.p, &a.a, a.degree, a.beta) {
        (Some(p), None, None, None) => EdgeProbs::P(parse_list("--p", p)?),
        (None, Some(x), None, None) => EdgeProbs::LogDegree(parse_list("--a", x)?),
        (None, None, Some(c), Some(beta)) => {
            let n = match (&a.sizes, a.nodes) {
                (None, Some(n)) => n,
                _ => {
                    return Err(Error::param(
                        "--degree",
                        "needs --nodes (equal communities)",
                    ))
                }
            };
            EdgeProbs::P(bounded_degree_probs(depth, a.branching, n, c, beta)?)
        }
        _ => {
            return Err(Error::param(
                "--p/--a/--degree",
                "give exactly one of --p, --a or --degree with --beta",
            ))
        }
    };
    let sizes = match (&a.sizes, a.nodes) {
        (Some(s), _) => Sizes::Explicit(parse_list("--sizes", s)?),
        (None, Some(n)) => Sizes::Equal(n),
        (None, None) => return Err(Error::param("--nodes", "give --nodes or --sizes")),
    };
    let params = HsbmParams::default()
        .depth(depth)
        .branching(a.branching)
        .probs(probs)
        .sizes(sizes)
        .seed(a.seed);
    let communities = format!("{} communities", params.num_leaves());
    write_sample(&a.out, &communities, || {
        let h = params.generate()?;
        let labels = h.labels();
        Ok((h.graph, labels))
    })
}

/// `hsbm --tree`: sample from a general tree spec.
fn hsbm_tree(spec: &std::path::Path, seed: u64, out: &std::path::Path) -> Result<()> {
    let tree = Tree::read(spec)?;
    let communities = format!(
        "{} communities (tree {})",
        tree.num_leaves(),
        spec.display()
    );
    write_sample(out, &communities, || {
        let h = tree.generate(seed)?;
        let labels = h.labels();
        Ok((h.graph, labels))
    })
}

/// Write a sampled graph and its planted labels as `<prefix>.edges.tsv` and
/// `<prefix>.labels.tsv` (both files or neither, checked before sampling) and say so.
fn write_sample(
    prefix: &std::path::Path,
    communities: &str,
    sample: impl FnOnce() -> Result<(Graph, Labels)>,
) -> Result<()> {
    let prefix = prefix.to_string_lossy().into_owned();
    let edges = PathBuf::from(format!("{prefix}.edges.tsv"));
    let labels = PathBuf::from(format!("{prefix}.labels.tsv"));
    Outputs::check(&[&edges, &labels])?;
    let (graph, node_labels) = sample()?;
    let mut out = Outputs::new();
    write_edge_list_to(&mut out, &graph, &edges)?;
    write_labels_to(&mut out, &node_labels, &labels)?;
    out.commit()?;
    eprintln!(
        "hsbm: {} nodes, {} edges, {communities} -> {}, {}",
        graph.n(),
        graph.num_edges(),
        edges.display(),
        labels.display()
    );
    Ok(())
}

/// Cut a dendrogram into partitions with given numbers of clusters.
#[derive(Args)]
#[command(after_help = "Examples:
  neurobricks cut --tree tree.json --k 2,4,8 --out parts.tsv
      writes parts.tsv with header: node k2 k4 k8 (one row per node in a leaf)
  neurobricks cut --tree tree.json --depth 1,2 --out parts.tsv   (cut by tree depth: d1 d2)")]
pub struct CutArgs {
    /// Dendrogram JSON (from `neurobricks cluster`).
    #[arg(long)]
    tree: PathBuf,
    /// Numbers of clusters, comma separated (cut by decreasing similarity).
    #[arg(long, value_name = "K1,K2,..", required_unless_present = "depth")]
    k: Option<String>,
    /// Tree depths, comma separated (cut by depth from the root).
    #[arg(long, value_name = "L1,L2,..", conflicts_with = "k")]
    depth: Option<String>,
    /// Output partitions TSV, the only file written. Written through the output rule (README, "Outputs"): a temporary in the same folder renamed at the end, links followed, FIFOs and devices written through, `-` = stdout.
    #[arg(long)]
    out: PathBuf,
}

pub fn cut(a: CutArgs) -> Result<()> {
    let d = Dendrogram::read(&a.tree)?;
    let levels: Vec<Level> = if let Some(k) = &a.k {
        let ks: Vec<usize> = parse_list("--k", k)?;
        ks.into_iter().map(Level::K).collect()
    } else {
        let ls: Vec<usize> = parse_list("--depth", a.depth.as_deref().unwrap_or_default())?;
        ls.into_iter().map(Level::Depth).collect()
    };
    if levels.is_empty() {
        return Err(Error::param("--k", "give at least one value"));
    }
    let parts = Partitions::cut(&d, &levels)?;
    parts.write(&a.out)?;
    eprintln!(
        "cut: {} nodes, {} levels -> {}",
        parts.len(),
        parts.labels().columns.len(),
        a.out.display()
    );
    Ok(())
}

/// Compare predicted partitions with ground-truth labels, level by level.
#[derive(Args)]
#[command(after_help = "Examples:
  neurobricks evaluate --pred parts.tsv --truth g.labels.tsv
  neurobricks evaluate --pred parts.tsv --truth g.labels.tsv --json
The i-th level column of --pred is compared with the i-th level column of --truth; rows are
joined by node id and both files must list the same nodes.
Writes no file: the scores go to the standard output.")]
pub struct EvaluateArgs {
    /// Predicted partitions TSV (e.g. from `cut`).
    #[arg(long)]
    pred: PathBuf,
    /// Ground-truth labels TSV (e.g. from `hsbm`).
    #[arg(long)]
    truth: PathBuf,
    /// Print JSON: {"levels":[{"pred":..,"truth":..,"ari":..,"ami":..,"nmi":..,"accuracy":..,"exact":..}]}.
    #[arg(long)]
    json: bool,
}

pub fn evaluate(a: EvaluateArgs) -> Result<()> {
    let pred = read_labels(&a.pred)?;
    let truth = read_labels(&a.truth)?;
    let scores = evaluate_levels(&pred, &truth).map_err(|e| {
        Error::Input(format!(
            "{} vs {}: {e}",
            a.pred.display(),
            a.truth.display()
        ))
    })?;
    let (np, nt) = (pred.columns.len(), truth.columns.len());
    if np != nt {
        eprintln!(
            "warning: {} has {np} level column(s) and {} has {nt}: only the first {} of each are compared",
            a.pred.display(),
            a.truth.display(),
            np.min(nt)
        );
    }
    if a.json {
        println!("{}", serde_json::json!({ "levels": scores }));
    } else {
        println!(
            "{:<10} {:<10} {:>5} {:>5} {:>8} {:>8} {:>8} {:>9} {:>6}",
            "pred", "truth", "#pred", "#true", "ARI", "AMI", "NMI", "accuracy", "exact"
        );
        for s in &scores {
            println!(
                "{:<10} {:<10} {:>5} {:>5} {:>8.4} {:>8.4} {:>8.4} {:>9.4} {:>6}",
                s.pred,
                s.truth,
                s.pred_classes,
                s.truth_classes,
                s.ari,
                s.ami,
                s.nmi,
                s.accuracy,
                s.exact
            );
        }
    }
    Ok(())
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// SciPy linkage matrix as a (K-1) x 4 float64 .npy.
    Scipy,
    /// Newick with branch lengths.
    Newick,
    /// The dendrogram JSON.
    Json,
}

/// Export a dendrogram to SciPy linkage `.npy`, Newick or JSON.
#[derive(Args)]
#[command(after_help = "Examples:
  neurobricks export --tree tree.json --format scipy --out Z.npy
      (python: scipy.cluster.hierarchy.dendrogram(numpy.load('Z.npy')))
  neurobricks export --tree tree.json --format newick --out tree.nwk")]
pub struct ExportArgs {
    /// Dendrogram JSON.
    #[arg(long)]
    tree: PathBuf,
    /// Output format.
    #[arg(long, value_enum)]
    format: Format,
    /// Output file, the only file written. Written through the output rule (README, "Outputs"): a temporary in the same folder renamed at the end, links followed, FIFOs and devices written through, `-` = stdout.
    #[arg(long)]
    out: PathBuf,
}

pub fn export(a: ExportArgs) -> Result<()> {
    let d = Dendrogram::read(&a.tree)?;
    match a.format {
        Format::Scipy => d.write_scipy_npy(&a.out)?,
        Format::Json => d.write(&a.out)?,
        Format::Newick => {
            let s = d.to_newick();
            write_atomic(&a.out, |w| writeln!(w, "{s}").map_err(wio(&a.out)))?
        }
    }
    eprintln!("export: {} leaves -> {}", d.num_leaves(), a.out.display());
    Ok(())
}
