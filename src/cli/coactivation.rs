//! `coactivation`: activations (or saved counts) -> co-activation graph edge list.

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use neurobricks::activations::ffn::FfnLayer;
use neurobricks::activations::{read_domains, ActivationSource, Activations};
use neurobricks::coactivation::{
    files, Binarize, CoactivationParams, DomainCounts, Kernel, PairCounts, Sparsify, Weight,
};
use neurobricks::graph::write_edge_list_to;
use neurobricks::output::Outputs;
use neurobricks::{Error, Result};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

/// Build a neuron co-activation graph from activations (tokens x neurons).
#[derive(Args)]
#[command(
    after_help = "Writes (all or none, renamed together after every part is written; see README \"Outputs\"):
  GRAPH.tsv                 weighted edge list `u v w` (node ids = neuron indices), read by `cluster`
  GRAPH.tsv.setaside.tsv    dead and resident neurons (kept out of the graph): neuron, group, active_fraction
  GRAPH.tsv.neurons.tsv     every neuron: status (kept/dead/resident), active fraction, and with
                            --domains its active fraction per domain
  COUNTS.npy + COUNTS.npy.json   (--counts-out) N x N uint32 counts, n_i on the diagonal; the JSON
                            sidecar records the token count and the rule. Counts of shards add up:
                            pass several with --counts to build the graph of all tokens.

Binarisation rules: positive (a > 0), threshold:T (a > T), topk:K (K largest per token),
topk:P% (K = P% of the neurons), quantile:Q (a above the per-neuron Q-quantile; 4 passes).
Defaults (topk:10%, phi, knn:10) were chosen on the shipped MiniLM layers: a connected graph,
and finer bricks that specialise in one text domain more often than with `positive`. Weights: count, jaccard, npmi, phi.
Sparsification: knn:K (union of each neuron's K strongest), threshold:W, significance:ALPHA
(phi > z_{1-ALPHA/M}/sqrt(T), Bonferroni over M pairs), none.

Examples:
  neurobricks coactivation --ffn-layer data/minilm-l6/layer5.safetensors --domains data/minilm-l6/domains.txt \\
      --binarize topk:10% --weight phi --sparsify knn:10 --out l5.tsv
  neurobricks coactivation --activations acts.npy --binarize positive --weight jaccard --out g.tsv
  neurobricks coactivation --activations a.safetensors --tensor mlp.act --binarize quantile:0.9 --out g.tsv
  neurobricks coactivation --activations s1.npy --binarize topk:100 --counts-out s1.counts.npy --out s1.tsv
  neurobricks coactivation --counts s1.counts.npy s2.counts.npy --weight npmi --out all.tsv"
)]
pub struct CoactivationArgs {
    /// Activation files `[tokens, neurons]` (.npy or safetensors), read in order as shards.
    #[arg(long, num_args = 1.., value_name = "FILE", required_unless_present_any = ["ffn_layer", "counts"])]
    activations: Vec<PathBuf>,
    /// Tensor name inside safetensors activation files.
    #[arg(long)]
    tensor: Option<String>,
    /// Recompute activations GELU(ffn_in w_in^T + b_in) from a layer file (see data/README.md).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["activations", "counts"])]
    ffn_layer: Option<PathBuf>,
    /// Saved count matrices (from --counts-out) to add up instead of reading activations.
    #[arg(long, num_args = 1.., value_name = "COUNTS.npy", conflicts_with = "activations")]
    counts: Vec<PathBuf>,
    /// Binarisation rule: positive, threshold:T, topk:K, topk:P% (K = P% of the neurons), quantile:Q.
    #[arg(long, default_value = "topk:10%")]
    binarize: String,
    /// Edge weight: count, jaccard, npmi, phi.
    #[arg(long, default_value = "phi")]
    weight: String,
    /// Sparsification: knn:K, threshold:W, significance:ALPHA, none.
    #[arg(long, default_value = "knn:10")]
    sparsify: String,
    /// Neurons active on more than this fraction of tokens are resident (set aside).
    #[arg(long, default_value_t = 0.9)]
    resident: f64,
    /// Output edge list GRAPH.tsv; its side files are named after it (see "Writes" below).
    #[arg(long)]
    out: PathBuf,
    /// Also save the N x N uint32 count matrix (and COUNTS.npy.json).
    #[arg(long, value_name = "COUNTS.npy")]
    counts_out: Option<PathBuf>,
    /// Token-domain labels: one domain name per line, one line per token.
    #[arg(long)]
    domains: Option<PathBuf>,
    /// Tokens per chunk read (default: about 16 MB of f32 per chunk).
    #[arg(long, default_value_t = 0)]
    chunk_tokens: usize,
    /// Counting kernel (auto picks by density).
    #[arg(long, value_enum, default_value_t = KernelArg::Auto)]
    kernel: KernelArg,
    /// No progress on stderr (the counting bar on a terminal, the stage lines otherwise).
    /// Warnings and the closing summary line still appear.
    #[arg(long)]
    quiet: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum KernelArg {
    Auto,
    Dense,
    Sparse,
}

pub fn coactivation(a: CoactivationArgs) -> Result<()> {
    let start = Instant::now();
    if a.out.as_os_str() == "-" {
        return Err(Error::param(
            "--out",
            "`-` cannot name the side files GRAPH.tsv.setaside.tsv and GRAPH.tsv.neurons.tsv; give a file name",
        ));
    }
    // Every output, checked before the work: no directory, no missing folder, no file twice.
    let setaside_path = files::sidecar_path(&a.out, files::SETASIDE_SUFFIX);
    let neurons_path = files::sidecar_path(&a.out, files::NEURONS_SUFFIX);
    let mut outputs: Vec<PathBuf> =
        vec![a.out.clone(), setaside_path.clone(), neurons_path.clone()];
    if let Some(c) = &a.counts_out {
        outputs.push(c.clone());
        outputs.push(neurobricks::coactivation::count::sidecar(c));
    }
    Outputs::check(&outputs.iter().map(|p| p.as_path()).collect::<Vec<_>>())?;
    let weight: Weight = a.weight.parse()?;
    let sparsify: Sparsify = a.sparsify.parse()?;
    let mut binarize: Binarize = a.binarize.parse()?;
    let params_base = CoactivationParams::default()
        .weight(weight)
        .sparsify(sparsify)
        .resident(a.resident)
        .chunk_tokens(a.chunk_tokens)
        .kernel(match a.kernel {
            KernelArg::Auto => Kernel::Auto,
            KernelArg::Dense => Kernel::Dense,
            KernelArg::Sparse => Kernel::Sparse,
        });
    let mut sources: Vec<String> = Vec::new();
    let mut domain_names: Vec<String> = Vec::new();
    let (counts, dom): (PairCounts, Option<DomainCounts>) = if !a.counts.is_empty() {
        if a.domains.is_some() {
            return Err(Error::param(
                "--domains",
                "per-domain statistics need activations, not saved counts",
            ));
        }
        let merged = files::merge_count_files(&a.counts)?;
        binarize = merged.binarize;
        sources = merged.sources;
        (merged.counts, None)
    } else {
        let params = params_base.clone().binarize(binarize);
        let src: Box<dyn ActivationSource> = if let Some(layer) = &a.ffn_layer {
            sources.push(layer.display().to_string());
            Box::new(FfnLayer::read_activations(layer)?.1)
        } else {
            sources.extend(a.activations.iter().map(|p| p.display().to_string()));
            Box::new(Activations::open(&a.activations, a.tensor.as_deref())?)
        };
        params.validate(src.neurons())?;
        let labels = match &a.domains {
            Some(p) => {
                let (l, names) = read_domains(p, src.tokens())?;
                domain_names = names;
                Some(l)
            }
            None => None,
        };
        let passes = binarize.pre_passes() + 1;
        let total = (src.tokens() * passes) as u64;
        let bar = std::io::stderr().is_terminal() && total >= 20_000 && !a.quiet;
        if !bar && !a.quiet {
            eprintln!(
                "coactivation: counting {} tokens x {} neurons ({passes} pass{})",
                src.tokens(),
                src.neurons(),
                if passes > 1 { "es" } else { "" }
            );
        }
        let pb = if bar {
            let pb = ProgressBar::new(total);
            pb.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:40}] {human_pos}/{human_len} tokens ({eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            pb.set_message("counting");
            pb
        } else {
            ProgressBar::hidden()
        };
        let res = params.count(
            src.as_ref(),
            labels.as_deref().map(|l| (l, domain_names.len())),
            &mut |p| pb.set_position((p.pass * p.tokens + p.tokens_done) as u64),
        );
        pb.finish_and_clear();
        res?
    };
    let binarize = binarize.resolve(counts.neurons());
    let params = params_base.binarize(binarize);
    if !a.quiet {
        eprintln!("coactivation: weighting and sparsifying");
    }
    let (graph, report) = params.graph(&counts)?;
    // All outputs or none: every part is renamed only after the last one is written.
    let mut out = Outputs::new();
    if let Some(path) = &a.counts_out {
        counts.write_npy_to(
            &mut out,
            path,
            &binarize.resolve(counts.neurons()).to_string(),
            &sources,
        )?;
    }
    write_edge_list_to(&mut out, &graph, &a.out)?;
    files::write_setaside_to(&mut out, &setaside_path, &counts, &report)?;
    files::write_neurons_to(
        &mut out,
        &neurons_path,
        &counts,
        &report,
        dom.as_ref().map(|d| (d, domain_names.as_slice())),
    )?;
    out.commit()?;
    if report.edges == 0 {
        eprintln!(
            "warning: the co-activation graph has no edges ({} kept neurons); `cluster` cannot use it — try a looser --sparsify or --binarize",
            report.kept.len()
        );
    }
    eprintln!(
        "coactivation: {} tokens x {} neurons, rule {binarize}, active fraction {:.4}; dead {}, resident {}, kept {}; weight {weight}, {sparsify}: {} edges{} in {} component(s) ({} kept neurons without edges) -> {} [{:.2} s]",
        report.tokens,
        report.neurons,
        report.active_fraction,
        report.dead.len(),
        report.resident.len(),
        report.kept.len(),
        report.edges,
        report
            .phi_threshold
            .map(|t| format!(" (phi > {t:.4})"))
            .unwrap_or_default(),
        report.components,
        report.isolated,
        a.out.display(),
        start.elapsed().as_secs_f64()
    );
    if !domain_names.is_empty() {
        if let Some(d) = &dom {
            let fr: Vec<String> = domain_names
                .iter()
                .enumerate()
                .map(|(k, name)| {
                    let act: u64 = d.active[k * report.neurons..(k + 1) * report.neurons]
                        .iter()
                        .sum();
                    format!(
                        "{name} {:.4}",
                        act as f64 / (d.tokens[k].max(1) as f64 * report.neurons as f64)
                    )
                })
                .collect();
            eprintln!("coactivation: active fraction by domain: {}", fr.join(", "));
        }
    }
    Ok(())
}
