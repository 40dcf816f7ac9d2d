//! `bricks extract|route|merge|report`: brick extraction, routing, merging and the evaluation
//! report on real FFN layers (default: the shipped `data/minilm-l6` layers 2 and 5).

use clap::{Args, Subcommand, ValueEnum};
use neurobricks::activations::ffn::{load_inputs, FfnLayer};
use neurobricks::bricks::merge::{
    fold_vs_prune, sibling_vs_random, FoldMethod, FoldParams, SiblingMergeParams,
};
use neurobricks::bricks::route::{firing_rate, route_and_evaluate};
use neurobricks::bricks::{Bricks, Cut, Router, RouterModel};
use neurobricks::experiments::minilm::{SplitLayer, Tokens, MINILM_DOMAINS};
use neurobricks::experiments::pipeline::{coactivation_bricks, CoactConfig};
use neurobricks::experiments::report::{
    evaluate_layer, BrickMethod, LayerInput, LayerReport, ReportParams,
};
use neurobricks::experiments::standin::standin_phi_bricks;
use neurobricks::util::parse_list;
use neurobricks::{Dendrogram, Error, Result};
use std::path::PathBuf;

/// Brick extraction, routing, merging and evaluation on FFN layers.
#[derive(Args)]
pub struct BricksArgs {
    #[command(subcommand)]
    cmd: Option<BricksCmd>,
}

#[derive(Subcommand)]
enum BricksCmd {
    /// Cut a brick dendrogram and export every brick as a sub-FFN (safetensors).
    Extract(ExtractArgs),
    /// Route held-out tokens over the bricks at a neuron budget and report the metrics.
    Route(RouteArgs),
    /// Sibling merge vs random merges, and folding vs pruning (+ least-squares refit).
    Merge(MergeArgs),
    /// Full evaluation table (default with no subcommand: the shipped layers 2 and 5).
    Report(ReportArgs),
}

/// Where the layer, its inputs and tokens come from, and which bricks to use.
#[derive(Args, Clone)]
struct Source {
    /// FFN layer safetensors with `w_in`, `b_in`, `w_out`, `b_out` (and usually `ffn_in`).
    #[arg(long, default_value = "data/minilm-l6/layer5.safetensors")]
    layer: PathBuf,
    /// File with the FFN inputs `[tokens, d]` (default: the layer file).
    #[arg(long)]
    inputs: Option<PathBuf>,
    /// Name of the inputs tensor.
    #[arg(long, default_value = "ffn_in")]
    inputs_name: String,
    /// Token metadata (`ids`, `domain`, `window`); default: tokens.safetensors beside the layer.
    #[arg(long)]
    tokens: Option<PathBuf>,
    #[command(flatten)]
    choice: BrickChoice,
    /// Seed of every random choice (clustering, weight k-means, folding).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// No stage lines on stderr (reading, activations, bricks, evaluation). Warnings and the
    /// closing summary still appear.
    #[arg(long)]
    quiet: bool,
}

/// Stage lines `bricks: STAGE ... [elapsed]` on stderr (none with `--quiet`): each stage of a
/// long run as it starts, with the time since the command started.
struct Stages {
    quiet: bool,
    t0: std::time::Instant,
}

impl Stages {
    fn new(quiet: bool) -> Self {
        Stages {
            quiet,
            t0: std::time::Instant::now(),
        }
    }
    fn stage(&self, msg: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("bricks: {msg} [{:.1}s]", self.t0.elapsed().as_secs_f64());
        }
    }
}

/// Which bricks: a given dendrogram, or the ones to build (every subcommand; `report` takes
/// --tree only with a single layer).
#[derive(Args, Clone, Default)]
struct BrickChoice {
    /// Brick dendrogram JSON whose node ids are neuron indices (e.g. from the co-activation
    /// graph + clustering; with `report`, only for a single layer). Without it, the bricks
    /// chosen by --bricks are built.
    #[arg(long)]
    tree: Option<PathBuf>,
    /// Bricks to build when no --tree is given: `coactivation` (phi kNN co-activation graph on
    /// the calibration tokens + BottomUp) or `standin` (phi-correlation k-means, no graph).
    #[arg(long, value_enum, default_value = "coactivation")]
    bricks: BricksKind,
    /// Number of leaves (primitive communities) of the built bricks.
    #[arg(long, default_value_t = 32)]
    k: usize,
}

#[derive(Clone, Copy, ValueEnum, Default)]
enum BricksKind {
    #[default]
    Coactivation,
    Standin,
}

struct Loaded {
    split: SplitLayer,
    tree: Dendrogram,
    method: BrickMethod,
    degree: Option<Vec<f64>>,
}

fn load(s: &Source, st: &Stages) -> Result<Loaded> {
    st.stage(format_args!("reading {}", s.layer.display()));
    let ffn = FfnLayer::load(&s.layer)?;
    let inputs = s.inputs.clone().unwrap_or_else(|| s.layer.clone());
    let x = load_inputs(&inputs, &s.inputs_name)?;
    ffn.check_inputs(&x).map_err(|e| {
        Error::Input(format!(
            "{} vs {}: {e}",
            inputs.display(),
            s.layer.display()
        ))
    })?;
    let tok_path = s
        .tokens
        .clone()
        .unwrap_or_else(|| s.layer.with_file_name("tokens.safetensors"));
    let tokens = Tokens::load(&tok_path)?;
    st.stage(format_args!(
        "activations of {} tokens x {} neurons (calibration / evaluation split)",
        x.rows, ffn.n_neurons
    ));
    let split = SplitLayer::new(ffn, &x, &tokens)?;
    match (&s.choice.tree, s.choice.bricks) {
        (Some(p), _) => st.stage(format_args!("reading the brick tree {}", p.display())),
        (None, BricksKind::Standin) => st.stage(format_args!(
            "stand-in bricks: phi-correlation k-means into {}",
            s.choice.k
        )),
        (None, BricksKind::Coactivation) => st.stage(format_args!(
            "co-activation bricks: counting, phi kNN graph, bottom-up into {}",
            s.choice.k
        )),
    }
    let (tree, method, degree) = match (&s.choice.tree, s.choice.bricks) {
        (Some(p), _) => (Dendrogram::read(p)?, BrickMethod::Tree, None),
        (None, BricksKind::Standin) => (
            standin_phi_bricks(&split.cal.a, &split.cal.contrib, s.choice.k, s.seed)?,
            BrickMethod::Standin,
            None,
        ),
        (None, BricksKind::Coactivation) => {
            let cfg = CoactConfig {
                k: s.choice.k,
                seed: s.seed,
                ..CoactConfig::default()
            };
            let cb = coactivation_bricks(&split.cal, &cfg)?;
            (cb.dendrogram, BrickMethod::Coactivation, Some(cb.degree))
        }
    };
    Ok(Loaded {
        split,
        tree,
        method,
        degree,
    })
}

#[derive(Args)]
#[command(after_help = "Examples:
  neurobricks bricks extract --layer data/minilm-l6/layer5.safetensors --k 32 --out out/bricks5
  neurobricks bricks extract --layer data/minilm-l6/layer5.safetensors --tree tree.json --cut-k 8 --out out/b8
Writes into --out (all files or none, renamed together after the last is written; brick_*.safetensors
of an earlier export that this one does not write are removed): brick_NNN.safetensors (w_in, b_in,
w_out, neurons), layer.safetensors (b_out), bricks.json.")]
struct ExtractArgs {
    #[command(flatten)]
    src: Source,
    /// Cut into this many clusters (default: the leaves).
    #[arg(long, conflicts_with_all = ["depth", "max_size"])]
    cut_k: Option<usize>,
    /// Cut at this tree depth.
    #[arg(long, conflicts_with = "max_size")]
    depth: Option<usize>,
    /// Size bounds: largest brick (with --min-size).
    #[arg(long)]
    max_size: Option<usize>,
    /// Size bounds: smallest brick (needs --max-size); a smaller brick joins its sibling when
    /// that is one brick, even past --max-size.
    #[arg(long, requires = "max_size")]
    min_size: Option<usize>,
    /// Output folder (created if missing).
    #[arg(long)]
    out: PathBuf,
}

fn extract(a: ExtractArgs) -> Result<()> {
    let st = Stages::new(a.src.quiet);
    let l = load(&a.src, &st)?;
    let cut = match (a.cut_k, a.depth, a.max_size) {
        (Some(k), _, _) => Cut::K(k),
        (_, Some(d), _) => Cut::Depth(d),
        (_, _, Some(max)) => Cut::Size {
            min: a.min_size.unwrap_or(0),
            max,
        },
        _ => Cut::Leaves,
    };
    if let Some(max) = a.max_size {
        // The tree's leaves cannot be split: a bound below the largest would not hold.
        let largest = l.tree.leaves.iter().map(|x| x.len()).max().unwrap_or(0);
        if max < largest {
            return Err(Error::param(
                "--max-size",
                format!(
                    "{max} is below the largest leaf of the tree ({largest} neurons), which cannot be split; give --max-size >= {largest}"
                ),
            ));
        }
    }
    let b = Bricks::from_dendrogram(&l.tree, l.split.ffn.n_neurons, cut)?;
    st.stage(format_args!("writing {} sub-FFNs", b.len()));
    let stale = b.export(&l.split.ffn, &a.out)?;
    if !stale.is_empty() {
        eprintln!(
            "bricks extract: removed {} brick file(s) of an earlier export into {} ({} ...)",
            stale.len(),
            a.out.display(),
            stale[0].display()
        );
    }
    let sizes = b.sizes();
    eprintln!(
        "extract: {} bricks ({}; sizes min {} max {}; set-aside brick: {}) -> {}",
        b.len(),
        l.method,
        sizes.iter().min().unwrap_or(&0),
        sizes.iter().max().unwrap_or(&0),
        b.set_aside.map_or("none".to_string(), |s| format!(
            "{s} ({} neurons)",
            sizes[s]
        )),
        a.out.display()
    );
    Ok(())
}

#[derive(Clone, Copy, ValueEnum)]
enum RouterArg {
    Oracle,
    OracleDensity,
    Centroid,
    Representative,
}

fn router_of(r: RouterArg, m: usize) -> Router {
    match r {
        RouterArg::Oracle => Router::Oracle,
        RouterArg::OracleDensity => Router::OracleDensity,
        RouterArg::Centroid => Router::Centroid,
        RouterArg::Representative => Router::Representative { m },
    }
}

#[derive(Args)]
#[command(after_help = "Examples:
  neurobricks bricks route --router centroid --budget 0.25
  neurobricks bricks route --layer data/minilm-l6/layer2.safetensors --router oracle --budget 0.1 --json
Writes no file: the metrics go to the standard output.")]
struct RouteArgs {
    #[command(flatten)]
    src: Source,
    /// Router.
    #[arg(long, value_enum, default_value = "oracle")]
    router: RouterArg,
    /// Representative neurons per brick (representative router).
    #[arg(long, default_value_t = 4)]
    m: usize,
    /// Budget: fraction of neurons computed per token, in (0, 1].
    #[arg(long, default_value_t = 0.25)]
    budget: f64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn route(a: RouteArgs) -> Result<()> {
    let st = Stages::new(a.src.quiet);
    let l = load(&a.src, &st)?;
    st.stage("routing the evaluation tokens (bricks and random partitions)");
    let ffn = &l.split.ffn;
    let router = router_of(a.router, a.m);
    let b = Bricks::from_dendrogram(&l.tree, ffn.n_neurons, Cut::Leaves)?;
    let deg = l
        .degree
        .clone()
        .unwrap_or_else(|| firing_rate(&l.split.cal.a));
    let m = route_and_evaluate(
        ffn,
        &b,
        &RouterModel::fit(router, &b, ffn, &deg)?,
        &l.split.ev,
        a.budget,
    )?;
    if a.json {
        println!(
            "{}",
            serde_json::json!({"method": l.method, "bricks": b.len(), "router": router.name(), "budget": a.budget, "metrics": m})
        );
    } else {
        println!(
            "{} bricks ({}), router {}, budget {:.0}%: relative error {:.4} (mean of per-token ratios; ratio of sums {:.4}), mass kept {:.3}, recall vs oracle {:.3}, neurons used {:.3}",
            b.len(), l.method, router.name(), a.budget * 100.0, m.rel_error, m.pooled_rel_error, m.mass_kept, m.recall, m.neurons_used
        );
    }
    Ok(())
}

#[derive(Args)]
#[command(after_help = "Examples:
  neurobricks bricks merge --to 16 --budget 0.25 --keep 0.5
  neurobricks bricks merge --layer data/minilm-l6/layer2.safetensors --json
Writes no file: the table goes to the standard output.")]
struct MergeArgs {
    #[command(flatten)]
    src: Source,
    /// Sibling merge: number of clusters after merging (default: half the leaves).
    #[arg(long)]
    to: Option<usize>,
    /// Budget for the sibling-merge comparison.
    #[arg(long, default_value_t = 0.25)]
    budget: f64,
    /// Router for the sibling-merge comparison.
    #[arg(long, value_enum, default_value = "oracle")]
    router: RouterArg,
    /// Number of random-merge seeds.
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    /// Folding: kept fraction of neurons.
    #[arg(long, default_value_t = 0.5)]
    keep: f64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn merge(a: MergeArgs) -> Result<()> {
    if a.seeds == 0 {
        return Err(Error::param("--seeds", "need at least one seed"));
    }
    let st = Stages::new(a.src.quiet);
    let l = load(&a.src, &st)?;
    st.stage("sibling vs random merges, folding vs pruning");
    let ffn = &l.split.ffn;
    let to = a.to.unwrap_or((l.tree.num_leaves() / 2).max(1));
    let deg = l
        .degree
        .clone()
        .unwrap_or_else(|| firing_rate(&l.split.cal.a));
    let seeds: Vec<u64> = (0..a.seeds).collect();
    let sp = SiblingMergeParams {
        k_to: to,
        router: router_of(a.router, 4),
        budget: a.budget,
        seeds,
    };
    let sm = sibling_vs_random(ffn, &l.tree, &deg, &l.split.ev, &sp)?;
    let b = Bricks::from_dendrogram(&l.tree, ffn.n_neurons, Cut::Leaves)?;
    let fp = FoldParams {
        keep: a.keep,
        seed: a.src.seed,
    };
    let fold = fold_vs_prune(ffn, &b, &l.split.cal, &l.split.ev, &fp)?;
    if a.json {
        println!(
            "{}",
            serde_json::json!({"method": l.method, "sibling_merge": sm, "folding": {"keep": a.keep, "rows": fold}})
        );
        return Ok(());
    }
    println!(
        "sibling merge ({}): {} -> {} bricks, {} router, budget {:.0}%: leaves {:.4}, siblings {:.4}, random merges {:.4} ± {:.4} ({} seeds)",
        l.method, sm.bricks_before, sm.bricks_after, sm.router, a.budget * 100.0, sm.leaves.rel_error, sm.sibling.rel_error,
        sm.random_error_mean, sm.random_error_std, sp.seeds.len()
    );
    println!(
        "folding to {:.0}% of neurons (held-out relative output error):",
        a.keep * 100.0
    );
    print_fold(&fold);
    Ok(())
}

fn print_fold(rows: &[neurobricks::bricks::merge::FoldRow]) {
    println!(
        "  {:<48} {:>7} {:>9} {:>9} | {:>9} {:>9} | {:>6}",
        "method", "neurons", "error", "+LS refit", "pooled", "+LS", "ridge"
    );
    for r in rows {
        println!(
            "  {:<48} {:>7} {:>9.4} {:>9.4} | {:>9.4} {:>9.4} | {:>6.0e}",
            r.method,
            r.neurons,
            r.error,
            r.error_refit,
            r.pooled_error,
            r.pooled_error_refit,
            r.ridge
        );
    }
    if let (Some(fold), Some(prune)) = (
        rows.iter()
            .find(|x| x.method == FoldMethod::FoldCorrelation),
        rows.iter().find(|x| x.method == FoldMethod::Prune),
    ) {
        let verdict = |a: f64, b: f64| {
            if a <= b {
                "folding wins"
            } else {
                "folding LOSES"
            }
        };
        println!(
            "  fold (correlation) vs prune: {} without refit ({:.4} vs {:.4}), {} with refit ({:.4} vs {:.4})",
            verdict(fold.error, prune.error),
            fold.error,
            prune.error,
            verdict(fold.error_refit, prune.error_refit),
            fold.error_refit,
            prune.error_refit
        );
    }
}

#[derive(Args, Default)]
#[command(after_help = "Examples:
  neurobricks bricks                      (= report on data/minilm-l6 layers 2 and 5)
  neurobricks bricks report --json
  neurobricks bricks report --layers 5 --tree tree5.json --budgets 0.1,0.25
Writes no file: the table goes to the standard output.")]
struct ReportArgs {
    /// Folder with layerN.safetensors and tokens.safetensors.
    #[arg(long, default_value = "data/minilm-l6")]
    data: PathBuf,
    /// Layers to evaluate.
    #[arg(long, default_value = "2,5")]
    layers: String,
    /// Budgets (fractions of neurons).
    #[arg(long, default_value = "0.1,0.25,0.5")]
    budgets: String,
    #[command(flatten)]
    choice: BrickChoice,
    /// Random same-size brick seeds.
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    /// Seed of the clustering, weight k-means and folding.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Folding kept fractions.
    #[arg(long, default_value = "0.5")]
    fold_keep: String,
    /// Print JSON: {"layers":[{"layer","budget","coactivation_error",...}], "details":[...]}.
    #[arg(long)]
    json: bool,
    /// No stage lines on stderr.
    #[arg(long)]
    quiet: bool,
}

fn report(a: ReportArgs) -> Result<()> {
    let layers: Vec<usize> = parse_list("--layers", &a.layers)?;
    for (i, l) in layers.iter().enumerate() {
        if layers[..i].contains(l) {
            return Err(Error::param(
                "--layers",
                format!("layer {l} is listed twice in `{}`", a.layers),
            ));
        }
    }
    if a.choice.tree.is_some() && layers.len() != 1 {
        return Err(Error::param(
            "--tree",
            "a dendrogram belongs to one layer: give exactly one --layers",
        ));
    }
    if a.seeds == 0 {
        return Err(Error::param("--seeds", "need at least one seed"));
    }
    let p = ReportParams {
        budgets: parse_list("--budgets", &a.budgets)?,
        random_seeds: (0..a.seeds).collect(),
        seed: a.seed,
        fold_keep: parse_list("--fold-keep", &a.fold_keep)?,
        ..ReportParams::default()
    };
    let mut reports = Vec::new();
    for &layer in &layers {
        let src = Source {
            layer: a.data.join(format!("layer{layer}.safetensors")),
            inputs: None,
            inputs_name: "ffn_in".into(),
            tokens: Some(a.data.join("tokens.safetensors")),
            choice: a.choice.clone(),
            seed: a.seed,
            quiet: a.quiet,
        };
        let st = Stages::new(a.quiet);
        st.stage(format_args!("report: layer {layer}"));
        let l = load(&src, &st)?;
        st.stage(format_args!(
            "report: layer {layer}: routing, merging and folding"
        ));
        let input = LayerInput {
            layer,
            method: l.method,
            split: &l.split,
            tree: &l.tree,
            degree: l.degree.as_deref(),
            domains: &MINILM_DOMAINS,
        };
        reports.push(evaluate_layer(&input, &p)?);
    }
    if a.json {
        println!("{}", report_json(&reports));
    } else {
        for r in &reports {
            print_report(r);
        }
    }
    Ok(())
}

/// The flat per-(layer, budget) summary with the oracle router, plus full details.
fn report_json(reports: &[LayerReport]) -> serde_json::Value {
    let mut flat = Vec::new();
    for r in reports {
        let coact = matches!(r.method, BrickMethod::Coactivation | BrickMethod::Tree);
        for row in r.routing.iter().filter(|x| x.router == Router::Oracle) {
            let other = |router: Router| {
                r.routing
                    .iter()
                    .find(|x| x.router.same_kind(&router) && x.budget == row.budget)
                    .map(|x| serde_json::json!({"method_error": x.method.rel_error, "random_error_mean": x.random_error_mean,
                        "random_error_std": x.random_error_std, "weight_kmeans_error": x.weight_kmeans.rel_error,
                        "method_recall": x.method.recall}))
            };
            flat.push(serde_json::json!({
                "layer": r.layer,
                "budget": row.budget,
                "router": "oracle",
                "bricks_method": r.method,
                "bricks": r.bricks.len(),
                "coactivation_error": if coact { serde_json::json!(row.method.rel_error) } else { serde_json::Value::Null },
                "standin_error": if coact { serde_json::Value::Null } else { serde_json::json!(row.method.rel_error) },
                "random_error_mean": row.random_error_mean,
                "random_error_std": row.random_error_std,
                "weight_kmeans_error": row.weight_kmeans.rel_error,
                "oracle_topk_error": row.oracle_topk.rel_error,
                "static_topk_error": row.static_topk.rel_error,
                "method_mass_kept": row.method.mass_kept,
                "method_recall": row.method.recall,
                "method_pooled_error": row.method.pooled_rel_error,
                "random_pooled_error_mean": row.random_pooled_error_mean,
                "weight_kmeans_pooled_error": row.weight_kmeans.pooled_rel_error,
                "oracle_topk_pooled_error": row.oracle_topk.pooled_rel_error,
                "oracle_density": other(Router::OracleDensity),
                "centroid": other(Router::Centroid),
                "representative": other(Router::Representative { m: 4 }),
            }));
        }
    }
    serde_json::json!({"layers": flat, "details": reports})
}

fn print_report(r: &LayerReport) {
    println!(
        "== layer {} — {} bricks ({}), {} neurons; built on {} calibration tokens (even windows), measured on {} held-out tokens (odd windows)",
        r.layer, r.bricks.len(), r.method, r.n_neurons, r.tokens.0, r.tokens.1
    );
    if r.method == BrickMethod::Standin {
        println!("   NOTE: stand-in bricks (phi-correlation k-means + average linkage), not the co-activation graph + BottomUp bricks");
    } else if r.method == BrickMethod::Coactivation {
        println!("   bricks: co-activation graph (coactivation module: topk 10% contributions, phi, knn:10) on the calibration tokens + BottomUp");
    }
    println!("\nbricks (size, top domain by AP of brick mass; base rate 0.25):");
    let mut line = String::new();
    for (i, b) in r.bricks.iter().enumerate() {
        line.push_str(&format!(
            "  #{:<2} {:>4} {:<9} {:.2}{}",
            b.brick,
            b.size,
            b.top_domain,
            b.top_ap,
            if b.set_aside { "*" } else { " " }
        ));
        if i % 4 == 3 {
            println!("{line}");
            line.clear();
        }
    }
    if !line.is_empty() {
        println!("{line}");
    }
    println!("  (* = set-aside brick of dead/resident neurons)");
    let s = &r.specialisation;
    println!(
        "  mean top-domain AP: {} {:.3} | random same sizes {:.3} ± {:.3} | weight k-means {:.3}",
        r.method,
        s.method_mean_top_ap,
        s.random_mean_top_ap,
        s.random_mean_top_ap_std,
        s.weight_kmeans_mean_top_ap
    );
    println!("\nrouting: relative FFN-output error, mean over held-out tokens of ||e_t||²/||y_t−b_out||² (lower is better)");
    println!(
        "  {:>6} {:<15} {:>11} {:>17} {:>9} {:>11} {:>10} {:>9} {:>8}",
        "budget",
        "router",
        r.method,
        "random (mean±sd)",
        "w-kmeans",
        "oracle-topk",
        "static-top",
        "mass kept",
        "recall"
    );
    for row in &r.routing {
        println!(
            "  {:>5.0}% {:<15} {:>11.4} {:>8.4} ± {:<6.4} {:>9.4} {:>11.4} {:>10.4} {:>9.3} {:>8.3}",
            row.budget * 100.0,
            row.router,
            row.method.rel_error,
            row.random_error_mean,
            row.random_error_std,
            row.weight_kmeans.rel_error,
            row.oracle_topk.rel_error,
            row.static_topk.rel_error,
            row.method.mass_kept,
            row.method.recall
        );
    }
    println!("\nsame, pooled as a ratio of sums Σ||e_t||²/Σ||y_t−b_out||² (high-energy tokens dominate); mass kept and recall of the baselines");
    println!(
        "  {:>6} {:<15} {:>11} {:>9} {:>9} {:>11} | {:>11} {:>11} {:>11}",
        "budget",
        "router",
        r.method,
        "random",
        "w-kmeans",
        "oracle-topk",
        "mass random",
        "mass kmeans",
        "recall rand"
    );
    for row in &r.routing {
        println!(
            "  {:>5.0}% {:<15} {:>11.4} {:>9.4} {:>9.4} {:>11.4} | {:>11.3} {:>11.3} {:>11.3}",
            row.budget * 100.0,
            row.router,
            row.method.pooled_rel_error,
            row.random_pooled_error_mean,
            row.weight_kmeans.pooled_rel_error,
            row.oracle_topk.pooled_rel_error,
            row.random_mass_kept_mean,
            row.weight_kmeans.mass_kept,
            row.random_recall_mean
        );
    }
    println!("\nsibling merge: error with leaves / merged siblings / merged random leaf groups (mean ± sd); largest brick sibling / random");
    for m in &r.sibling_merge {
        println!(
            "  {:<14} {:>2} -> {:>2} bricks, budget {:>3.0}%: {:.4} / {:.4} / {:.4} ± {:.4}   (largest {} / {:.0} neurons{})",
            m.router,
            m.bricks_before,
            m.bricks_after,
            m.budget * 100.0,
            m.leaves.rel_error,
            m.sibling.rel_error,
            m.random_error_mean,
            m.random_error_std,
            m.sibling_max_brick,
            m.random_max_brick_mean,
            if (m.sibling_max_brick as f64) > m.budget * r.n_neurons as f64 { "; larger than the budget" } else { "" }
        );
    }
    for f in &r.folding {
        println!(
            "\nfolding to {:.0}% of neurons (held-out relative output error):",
            f.keep * 100.0
        );
        print_fold(&f.rows);
    }
    println!();
}

pub fn run(a: BricksArgs) -> Result<()> {
    match a.cmd {
        None => report(ReportArgs {
            data: "data/minilm-l6".into(),
            layers: "2,5".into(),
            budgets: "0.1,0.25,0.5".into(),
            choice: BrickChoice {
                k: 32,
                ..BrickChoice::default()
            },
            seeds: 5,
            fold_keep: "0.5".into(),
            ..ReportArgs::default()
        }),
        Some(BricksCmd::Extract(x)) => extract(x),
        Some(BricksCmd::Route(x)) => route(x),
        Some(BricksCmd::Merge(x)) => merge(x),
        Some(BricksCmd::Report(x)) => report(x),
    }
}
