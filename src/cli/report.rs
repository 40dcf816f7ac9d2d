//! `report`: the brick atlas of the shipped MiniLM layers as one self-contained HTML page.

use clap::Args;
use neurobricks::atlas::minilm::{layer_atlas, load_heldout};
use neurobricks::atlas::{AtlasParams, Vocab};
use neurobricks::experiments::html_report::{html_report, layer_report};
use neurobricks::output::Outputs;
use neurobricks::util::parse_list;
use neurobricks::{Error, Result};
use std::path::PathBuf;
use std::time::Instant;

/// Write the brick atlas: per layer a clickable dendrogram with brick cards, the co-activation
/// heat map and the routing-error curves, and a layer-by-layer summary, in one HTML file.
#[derive(Args)]
#[command(after_help = "Examples:
  neurobricks report --out report.html                  (every layerN.safetensors in --data)
  neurobricks report --layers 5 --out l5.html
The page is one file (inline SVG, CSS and JavaScript, no network): open it in a browser.
Written through the output rule (README, \"Outputs\"): a temporary renamed at the end, links
followed, FIFOs and devices written through. About 15 s per layer on 2 cores.")]
pub struct ReportArgs {
    /// Output HTML file.
    #[arg(long)]
    out: PathBuf,
    /// Folder with layerN.safetensors, tokens.safetensors, vocab.txt and (optionally)
    /// heldout.safetensors.
    #[arg(long, default_value = "data/minilm-l6")]
    data: PathBuf,
    /// Layers to show (default: every layer 0..=23 whose layerN.safetensors is in --data).
    #[arg(long)]
    layers: Option<String>,
    /// Random same-size bricks behind each card statistic and p-value.
    #[arg(long, default_value_t = 199)]
    random_bricks: usize,
    /// Seed of the random bricks and of weight k-means.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Run `neurobricks report`.
pub fn run(a: ReportArgs) -> Result<()> {
    Outputs::check(&[&a.out])?;
    let layers: Vec<usize> = match &a.layers {
        Some(s) => parse_list("--layers", s)?,
        None => (0..24)
            .filter(|l| a.data.join(format!("layer{l}.safetensors")).is_file())
            .collect(),
    };
    if layers.is_empty() {
        return Err(Error::param(
            "--data",
            format!("no layerN.safetensors in `{}`", a.data.display()),
        ));
    }
    let p = AtlasParams::default()
        .random_bricks(a.random_bricks)
        .seed(a.seed);
    p.validate()?;
    let vocab = Vocab::load(&a.data.join("vocab.txt"))?;
    let heldout = if a.data.join("heldout.safetensors").is_file() {
        Some(load_heldout(&a.data)?)
    } else {
        None
    };
    let t0 = Instant::now();
    let mut built = Vec::new();
    for &l in &layers {
        eprintln!("report: layer {l} ...");
        let atlas = layer_atlas(&a.data, l, &vocab, heldout.as_ref(), &p)?;
        built.push(layer_report(&a.data, atlas, &p)?);
    }
    html_report(&built).write(&a.out)?;
    eprintln!(
        "report: {} layers -> {} in {:.1} s",
        built.len(),
        a.out.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
