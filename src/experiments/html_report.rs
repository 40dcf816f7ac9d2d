//! The brick atlas report of the shipped MiniLM layers: for each layer, the brick cards and
//! summary of [`crate::atlas::minilm::layer_atlas`] ([`layer_report`] adds the rest), the co-activation graph the bricks were
//! built on (for the heat map), and routing-error curves over several budgets beside random
//! same-size bricks, weight k-means bricks and the per-token top neurons; rendered as one
//! self-contained HTML page by [`crate::plot::html`].
//!
//! Protocol as in [`super::report`]: everything is built on the calibration tokens (even
//! windows) and measured on the evaluation tokens (odd windows), the summary also on the
//! held-out documents; routing uses the oracle router (bricks ranked by their contribution
//! mass on the token).

use super::minilm::{SplitLayer, Tokens, MINILM_DOMAINS};
use super::pipeline::{coactivation_graph, CoactConfig};
use crate::activations::ffn::{load_inputs, FfnLayer};
use crate::atlas::minilm::routing_comparison;
use crate::atlas::{AtlasParams, BrickCard, LayerAtlas};
use crate::bricks::route::{budget_neurons, evaluate_mask, topk_masks};
use crate::bricks::Bricks;
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::plot::html::{BrickCardView, CardContext, CardStat, HtmlReport, LayerView, SummaryRow};
use crate::plot::{LeafClasses, Rgb, Series};
use std::path::Path;

/// Budgets of the routing curves (fractions of neurons): 5% to 50%.
pub const CURVE_BUDGETS: [f64; 6] = [0.05, 0.10, 0.15, 0.25, 0.35, 0.50];

/// One point of a routing curve: the errors at one budget.
#[derive(Debug, Clone, PartialEq)]
pub struct CurvePoint {
    /// Budget.
    pub budget: f64,
    /// Co-activation bricks.
    pub bricks: f64,
    /// Random same-size bricks: mean and standard deviation.
    pub random: (f64, f64),
    /// Weight k-means bricks.
    pub weight_kmeans: f64,
    /// Per-token top neurons (no bricks).
    pub oracle_topk: f64,
}

/// Everything the report shows for one layer.
#[derive(Debug, Clone)]
pub struct LayerReport {
    /// The layer's atlas: tree, bricks, cards, summary.
    pub atlas: LayerAtlas,
    /// The co-activation graph the bricks were built on (ids = neuron indices).
    pub graph: Graph,
    /// Routing errors by budget ([`CURVE_BUDGETS`]).
    pub curve: Vec<CurvePoint>,
}

impl LayerReport {
    /// The row of the summary table (the atlas budget).
    pub fn summary(&self) -> SummaryRow {
        let s = &self.atlas.summary;
        let e = &s.evaluation;
        let topk = self
            .curve
            .iter()
            .find(|c| (c.budget - e.budget).abs() < 1e-12)
            .map(|c| c.oracle_topk);
        SummaryRow {
            layer: s.layer,
            bricks: self.atlas.tree.num_leaves(),
            budget: e.budget,
            error: e.bricks,
            random_mean: e.random_mean,
            random_std: e.random_std,
            weight_kmeans: e.weight_kmeans,
            oracle_topk: topk,
            heldout: s
                .heldout
                .map(|h| (h.bricks, h.random_mean, h.weight_kmeans)),
            significant: Some((s.lift_significant, s.lift_tested)),
        }
    }
}

/// Complete the atlas of one layer (from [`layer_atlas`], on the data in `dir`:
/// `layerL.safetensors`, `tokens.safetensors`) into its report: the co-activation graph of its
/// bricks, and the routing curve over [`CURVE_BUDGETS`] with the router and random partitions of
/// `p`. Cost: one more co-activation count and `budgets x (2 + p.random_routing) + budgets`
/// routing evaluations of O(T N d).
///
/// # Errors
/// Missing or malformed files, and the errors of the routing evaluations.
pub fn layer_report(dir: &Path, atlas: LayerAtlas, p: &AtlasParams) -> Result<LayerReport> {
    let layer = atlas.layer;
    let file = dir.join(format!("layer{layer}.safetensors"));
    let ffn = FfnLayer::load(&file)?;
    let x = load_inputs(&file, "ffn_in")?;
    let tokens = Tokens::load(&dir.join("tokens.safetensors"))?;
    let split = SplitLayer::new(ffn, &x, &tokens)?;
    let (graph, _, _) = coactivation_graph(&split.cal, &CoactConfig::default())?;
    let n = split.ffn.n_neurons;
    let mut degree = vec![0f64; n];
    for (node, d) in graph.degrees().into_iter().enumerate() {
        let i: usize = graph.ids()[node].parse().map_err(|_| {
            Error::Input(format!("node id `{}` is not a neuron", graph.ids()[node]))
        })?;
        degree[i] = d;
    }
    let set_aside = atlas.cards.iter().position(|c| c.set_aside);
    let bricks = Bricks {
        n_neurons: n,
        members: atlas.members.clone(),
        set_aside,
    };
    let mut curve = Vec::with_capacity(CURVE_BUDGETS.len());
    for &rho in &CURVE_BUDGETS {
        let e = atlas.summary.evaluation;
        let c = if (rho - e.budget).abs() < 1e-12 {
            e
        } else {
            routing_comparison(
                &split.ffn,
                &bricks,
                &split.ev,
                &degree,
                &p.clone().budget(rho),
            )?
        };
        let topk = topk_masks(&split.ev, budget_neurons(rho, n)?);
        curve.push(CurvePoint {
            budget: rho,
            bricks: c.bricks,
            random: (c.random_mean, c.random_std),
            weight_kmeans: c.weight_kmeans,
            oracle_topk: evaluate_mask(&split.ffn, &split.ev, &topk, None)?.rel_error,
        });
    }
    Ok(LayerReport {
        atlas,
        graph,
        curve,
    })
}

/// `value` beside the random bricks' `mean ± std`, with a format for the numbers.
fn vs(name: &str, v: &crate::atlas::VsRandom, f: impl Fn(f64) -> String) -> CardStat {
    CardStat {
        name: name.into(),
        value: f(v.value),
        random: Some(format!("{} ± {}", f(v.random_mean), f(v.random_std))),
    }
}

/// The view of one card: headline = its top word pieces, statistics beside random bricks,
/// contexts split at the firing token.
fn card_view(c: &BrickCard, tree: &crate::hierarchy::Dendrogram) -> BrickCardView {
    let mut v = BrickCardView::new(c.brick, c.size);
    v.headline = c
        .top_pieces
        .iter()
        .take(3)
        .map(|p| p.piece.as_str())
        .collect::<Vec<_>>()
        .join(" · ");
    let k = tree.num_leaves();
    if let Some(place) = &c.place {
        if let Some(&parent) = place.path.get(1) {
            let m = &tree.merges[parent - k];
            let sib = if m.left == c.brick { m.right } else { m.left };
            let with = if sib < k {
                format!("brick {sib}")
            } else {
                format!("a subtree of {} bricks", tree.leaves_under(sib).len())
            };
            v.stats.push(CardStat {
                name: "place in the tree".into(),
                value: format!(
                    "depth {}; joins {with} at similarity {:.2e}",
                    place.path.len() - 1,
                    m.similarity
                ),
                random: None,
            });
        }
    }
    let pct = |x: f64| format!("{:.1}%", 100.0 * x);
    let mut lift = vs("top-context lift (bits)", &c.lift, |x| format!("{x:.2}"));
    lift.value = format!(
        "{} (p = {:.3}{})",
        lift.value,
        c.lift.p_value,
        if c.lift_significant {
            ", significant"
        } else {
            ""
        }
    );
    v.stats.push(lift);
    v.stats
        .push(vs("share of the layer's mass", &c.mass.layer_share, pct));
    v.stats
        .push(vs("mass on its top domain", &c.mass.top_domain_share, pct));
    v.stats
        .push(vs("routed (share of tokens)", &c.routing.routed, pct));
    v.stats.push(vs(
        "routing-error contribution",
        &c.routing.error_contribution,
        |x| format!("{x:.4}"),
    ));
    v.pieces = c
        .top_pieces
        .iter()
        .map(|p| (p.piece.clone(), format!("×{:.1} ({}×)", p.lift, p.count)))
        .collect();
    v.domains = c
        .mass
        .domain_share
        .iter()
        .enumerate()
        .map(|(d, &s)| {
            let name = MINILM_DOMAINS
                .get(d)
                .map_or(d.to_string(), |s| s.to_string());
            (name, s, c.mass.random_domain_share.get(d).copied())
        })
        .collect();
    v.contexts = c
        .top_contexts
        .iter()
        .map(|w| {
            let f = w.firing.min(w.chunks.len().saturating_sub(1));
            let tok = w.chunks.get(f).cloned().unwrap_or_default();
            // The token's leading space stays outside the mark.
            let trimmed = tok.trim_start();
            let lead = &tok[..tok.len() - trimmed.len()];
            CardContext {
                left: w.chunks[..f].concat() + lead,
                token: trimmed.to_string(),
                right: w.chunks.get(f + 1..).map_or(String::new(), |r| r.concat()),
                mass: w.mass,
                domain: MINILM_DOMAINS
                    .get(w.domain as usize)
                    .map_or(w.domain.to_string(), |s| s.to_string()),
            }
        })
        .collect();
    v
}

/// The top domain of each leaf (largest share of the brick's mass).
fn top_domains(cards: &[BrickCard], k: usize) -> Vec<Option<u32>> {
    (0..k)
        .map(|b| {
            let s = &cards.get(b)?.mass.domain_share;
            (0..s.len())
                .max_by(|&x, &y| s[x].total_cmp(&s[y]))
                .map(|d| d as u32)
        })
        .collect()
}

/// The page for `layers` (in the order given): summary table, then per layer the dendrogram
/// with its cards, the heat map and the routing curves.
pub fn html_report(layers: &[LayerReport]) -> HtmlReport<'_> {
    let mut page = HtmlReport::new("Brick atlas: all-MiniLM-L6-v2 FFN layers");
    page.intro = vec![
        "Bricks are groups of FFN neurons that fire together: neurons are linked by the phi \
         coefficient of their top-10% activity on the calibration tokens, and the graph is \
         clustered bottom-up (Bethe-Hessian spectral clustering + average linkage, Dreveton et \
         al., JASA 2026). Every number is measured on tokens the bricks were not built on."
            .into(),
    ];
    page.card_help = vec![
        "Each leaf of a layer's tree is a brick, labelled with its number, its size in neurons \
         and its top word pieces. Click it and its card opens beside the tree: the token \
         occurrences where the brick's neurons carry the most activation mass (with six word \
         pieces of context either side, the firing token marked), the word pieces \
         over-represented among its top 50 occurrences (lift: how many times more often than in \
         the corpus), its mass per text domain, how often a router picks it at a 25% budget and \
         how much of the routing error it causes. Every statistic stands beside the same \
         statistic for random bricks of the same size: a brick means something only where the \
         two differ. The top-context lift is the KL divergence (bits) of the pieces of its top \
         occurrences from the corpus; it is significant when it beats 199 random same-size \
         bricks (empirical p-value, Benjamini-Hochberg at 5% over the layer's bricks)."
            .into(),
    ];
    page.summary = layers.iter().map(LayerReport::summary).collect();
    for l in layers {
        let a = &l.atlas;
        let k = a.tree.num_leaves();
        let cards = a.cards.iter().filter(|c| !c.set_aside).take(k);
        let mut v = LayerView::new(
            a.layer,
            &a.tree,
            cards.map(|c| card_view(c, &a.tree)).collect(),
        );
        v.graph = Some(&l.graph);
        v.leaf_classes = Some(LeafClasses::new(
            "top domain",
            MINILM_DOMAINS.iter().map(|s| s.to_string()).collect(),
            top_domains(&a.cards, k),
        ));
        let pts = |f: &dyn Fn(&CurvePoint) -> f64| -> Vec<(f64, f64)> {
            l.curve.iter().map(|c| (c.budget, f(c))).collect()
        };
        v.curves = vec![
            Series::new("co-activation bricks", pts(&|c| c.bricks)).color(Rgb(0x1f, 0x77, 0xb4)),
            Series::new("random same-size bricks", pts(&|c| c.random.0))
                .color(Rgb(0x7f, 0x7f, 0x7f))
                .dashed(true),
            Series::new("weight k-means bricks", pts(&|c| c.weight_kmeans))
                .color(Rgb(0xff, 0x7f, 0x0e)),
            Series::new("per-token top neurons", pts(&|c| c.oracle_topk))
                .color(Rgb(0x2c, 0xa0, 0x2c))
                .dashed(true),
        ];
        let s = l.summary();
        v.notes.push(format!(
            "{k} bricks over {} neurons, plus {} neurons set aside (dead or resident). At a \
             {:.0}% budget the routing error is {:.3}, against {:.3} ± {:.3} for random bricks of \
             the same sizes and {:.3} for weight k-means bricks; {} of {} bricks have a \
             significant top-context lift.",
            a.summary.neurons,
            a.summary.set_aside_neurons,
            100.0 * s.budget,
            s.error,
            s.random_mean,
            s.random_std,
            s.weight_kmeans,
            a.summary.lift_significant,
            a.summary.lift_tested
        ));
        page = page.layer(v);
    }
    page
}
