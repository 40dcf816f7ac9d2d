//! The atlas of the shipped MiniLM layers (`data/minilm-l6`, see `data/README.md`): for each
//! layer, the default co-activation bricks ([`crate::experiments::pipeline::coactivation_bricks`]
//! on the calibration tokens = even windows), their cards on the evaluation tokens (odd windows),
//! and the layer summary: routing error at the atlas budget on the evaluation tokens and on the
//! held-out documents (`heldout.safetensors`, text from documents no brick is built on) beside
//! random same-size bricks and weight k-means.
//!
//! Built on [`crate::experiments`] (the MiniLM protocol); nothing in the core modules depends
//! on it.

use super::cards::{brick_cards, CardInput};
use super::{Atlas, AtlasParams, LayerAtlas, LayerSummary, RoutingComparison, Vocab};
use crate::activations::ffn::{load_inputs, FfnLayer};
use crate::bricks::baselines::{random_same_sizes, weight_kmeans};
use crate::bricks::merge::mean_std;
use crate::bricks::route::route_and_evaluate;
use crate::bricks::{Bricks, EvalSet, RouterModel};
use crate::error::{Error, Result};
use crate::experiments::minilm::{SplitLayer, Tokens, MINILM_DOMAINS};
use crate::experiments::pipeline::{coactivation_bricks, CoactConfig};
use std::path::{Path, PathBuf};

/// The shipped data folder, `<crate>/data/minilm-l6`.
pub fn minilm_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/minilm-l6")
}

/// The six layers of all-MiniLM-L6-v2.
pub const MINILM_LAYERS: [usize; 6] = [0, 1, 2, 3, 4, 5];

/// Routing error of `bricks` at budget `p.budget` with `p.router` on `ev`, beside
/// `p.random_routing` random same-size partitions (seeds `p.seed + r`) and weight k-means with
/// as many bricks (seed `p.seed`); the protocol of docs/bricks.md's routing table. Cost
/// O((2 + random_routing) (T N d + N K d iters)).
///
/// # Errors
/// Invalid parameters, bricks from another layer.
pub fn routing_comparison(
    ffn: &FfnLayer,
    bricks: &Bricks,
    ev: &EvalSet,
    degree: &[f64],
    p: &AtlasParams,
) -> Result<RoutingComparison> {
    p.validate()?;
    let run = |b: &Bricks| -> Result<f64> {
        let m = RouterModel::fit(p.router, b, ffn, degree)?;
        Ok(route_and_evaluate(ffn, b, &m, ev, p.budget)?.rel_error)
    };
    let rnd: Vec<f64> = (0..p.random_routing)
        .map(|r| run(&random_same_sizes(bricks, p.seed.wrapping_add(r as u64))))
        .collect::<Result<_>>()?;
    let (random_mean, random_std) = mean_std(&rnd);
    Ok(RoutingComparison {
        budget: p.budget,
        tokens: ev.tokens(),
        bricks: run(bricks)?,
        random_mean,
        random_std,
        weight_kmeans: run(&weight_kmeans(ffn, bricks.len(), p.seed)?)?,
    })
}

/// The held-out documents: their token metadata (`heldout.safetensors`).
///
/// # Errors
/// A missing or malformed file.
pub fn load_heldout(dir: &Path) -> Result<Tokens> {
    Tokens::load(&dir.join("heldout.safetensors"))
}

/// The atlas of layer `layer` of the data in `dir` (module docs). `heldout`: the held-out
/// token metadata ([`load_heldout`]) to also measure routing on, or `None`.
/// Cost: the co-activation bricks of the layer, [`brick_cards`], two or three
/// [`routing_comparison`]s.
///
/// # Errors
/// Missing or malformed files (named), invalid parameters.
pub fn layer_atlas(
    dir: &Path,
    layer: usize,
    vocab: &Vocab,
    heldout: Option<&Tokens>,
    p: &AtlasParams,
) -> Result<LayerAtlas> {
    p.validate()?;
    let file = dir.join(format!("layer{layer}.safetensors"));
    let x = load_inputs(&file, "ffn_in")?;
    let ffn = FfnLayer::load(&file)?;
    let tokens = Tokens::load(&dir.join("tokens.safetensors"))?;
    let split = SplitLayer::new(ffn, &x, &tokens)?;
    let cb = coactivation_bricks(&split.cal, &CoactConfig::default())?;
    let (_, odd) = tokens.even_odd_split();
    let pick = |v: &[u32]| -> Vec<u32> { odd.iter().map(|&t| v[t]).collect() };
    let (ids, domain, window) = (
        pick(&tokens.ids),
        pick(&tokens.domain),
        pick(&tokens.window),
    );
    let inp = CardInput {
        ffn: &split.ffn,
        bricks: &cb.bricks,
        tree: Some(&cb.dendrogram),
        ev: &split.ev,
        ids: &ids,
        domain: &domain,
        window: &window,
        vocab,
        degree: &cb.degree,
    };
    let cards = brick_cards(&inp, p)?;
    let evaluation = routing_comparison(&split.ffn, &cb.bricks, &split.ev, &cb.degree, p)?;
    let heldout = match heldout {
        Some(h) => {
            let path = dir.join("heldout.safetensors");
            let xh = load_inputs(&path, &format!("ffn_in.layer{layer}"))?;
            if xh.rows != h.len() {
                return Err(Error::parse(
                    &path,
                    0,
                    format!("{} input rows for {} tokens", xh.rows, h.len()),
                ));
            }
            let evh = EvalSet::new(&split.ffn, xh)?;
            Some(routing_comparison(
                &split.ffn, &cb.bricks, &evh, &cb.degree, p,
            )?)
        }
        None => None,
    };
    let lift_tested = cards.iter().filter(|c| !c.set_aside).count();
    let lift_significant = cards.iter().filter(|c| c.lift_significant).count();
    let summary = LayerSummary {
        layer,
        neurons: split.ffn.n_neurons,
        bricks: cb.bricks.len(),
        set_aside_neurons: cb
            .bricks
            .set_aside
            .map_or(0, |s| cb.bricks.members[s].len()),
        router: p.router.name().to_string(),
        evaluation,
        heldout,
        lift_tested,
        lift_significant,
        alpha: p.alpha,
        random_bricks: p.random_bricks,
    };
    Ok(LayerAtlas {
        layer,
        tree: cb.dendrogram,
        members: cb.bricks.members,
        cards,
        summary,
    })
}

/// The atlas of `layers` of the data in `dir` (vocabulary `vocab.txt`, held-out documents
/// `heldout.safetensors`). Cost: one [`layer_atlas`] per layer (about 10 s per layer on 2 cores).
///
/// # Errors
/// As [`layer_atlas`]; a layer number outside 0..=5.
pub fn minilm_atlas(dir: &Path, layers: &[usize], p: &AtlasParams) -> Result<Atlas> {
    p.validate()?;
    if let Some(&l) = layers.iter().find(|l| !MINILM_LAYERS.contains(l)) {
        return Err(Error::param(
            "layers",
            format!("MiniLM has layers 0..=5, not {l}"),
        ));
    }
    let vocab = Vocab::load(&dir.join("vocab.txt"))?;
    let heldout = load_heldout(dir)?;
    let layers = layers
        .iter()
        .map(|&l| layer_atlas(dir, l, &vocab, Some(&heldout), p))
        .collect::<Result<_>>()?;
    Ok(Atlas {
        domains: MINILM_DOMAINS.iter().map(|s| s.to_string()).collect(),
        params: p.clone(),
        layers,
    })
}
