//! **Brick atlas**: a readable identity for every brick (issue 14). Per brick, a
//! [`BrickCard`]: its size and place in the brick dendrogram, the token occurrences on which its
//! mass is largest with their context, the word pieces over-represented among them (lift against
//! the corpus), its mass per domain, how often it is routed under a budget and its share of the
//! routing error; each statistic beside the same statistic of random bricks of the same size
//! ([`crate::bricks::baselines::random_same_sizes`]).
//!
//! * [`vocab`]: the word-piece vocabulary and the WordPiece decoder ([`Vocab`]);
//! * [`cards`]: the cards of one layer's bricks on a token set ([`cards::brick_cards`]);
//! * [`minilm`]: the atlas of the six shipped MiniLM layers ([`minilm::minilm_atlas`]), with
//!   the per-layer summary ([`LayerSummary`]) on held-out tokens.
//!
//! Definitions (all on the evaluated tokens, never on the tokens the bricks were built on):
//!
//! * **brick mass** of brick `S` on token `t`: `m_S(t) = Σ_{i∈S} c_i(t)`, the contributions
//!   `c_i = |a_i| ||W_out[:, i]||` of [`crate::bricks::EvalSet`];
//! * **top occurrences**: the tokens of largest `m_S(t)` (ties: earlier token first);
//! * **lift** of word piece `p` among the top `m` occurrences: `(n_p / m) / (N_p / T)`, `n_p` its
//!   count among them, `N_p` among all `T` tokens;
//! * **top-context lift** (one number per brick): `Σ_p (n_p/m) log2((n_p/m) / (N_p/T))`, the
//!   Kullback–Leibler divergence in bits of the pieces of the top occurrences from the corpus'
//!   pieces (0 when they are a corpus sample; large when few pieces dominate);
//! * **significance** of the top-context lift: empirical p-value against `R` random bricks of the
//!   same size, `p = (1 + #{r : KL_r ≥ KL}) / (1 + R)`, then Benjamini–Hochberg at level
//!   `alpha` over the bricks of the layer (the set-aside brick of dead / resident neurons is not
//!   tested);
//! * **routed fraction** at budget `rho`: share of tokens on which the router selects the brick
//!   ([`crate::bricks::route::select_bricks`]);
//! * **routing-error contribution**: with `e_t` the error of token `t` (the dropped neurons'
//!   output) and `e_{t,S}` the part of it from brick `S` (zero when `S` is routed),
//!   `Σ_t <e_t, e_{t,S}> / Σ_t ||y_t||²`; it sums over the bricks to the pooled relative error
//!   (`RouteMetrics::pooled_rel_error`).

pub mod cards;
pub mod minilm;
pub mod vocab;

pub use cards::{brick_cards, CardInput};
pub use vocab::Vocab;

use crate::bricks::Router;
use crate::error::{check, Error, Result};
use crate::hierarchy::Dendrogram;
use crate::util::setters;
use serde::Serialize;

/// Settings of the brick cards ([`cards::brick_cards`]) and of the atlas.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct AtlasParams {
    /// Word pieces either side of a top occurrence in its context (default 6).
    pub context: usize,
    /// Top occurrences listed per card (default 10).
    pub top_contexts: usize,
    /// Top occurrences `m` the lift is computed on (default 50).
    pub lift_occurrences: usize,
    /// Over-represented word pieces listed per card (default 8).
    pub top_pieces: usize,
    /// Smallest count among the top occurrences for a piece to be listed (default 3).
    pub min_piece_count: usize,
    /// Neuron budget of the routing statistics, a fraction in (0, 1] (default 0.25).
    pub budget: f64,
    /// Router of the routing statistics (default `oracle`, the headline of docs/bricks.md).
    #[serde(serialize_with = "crate::bricks::route::serialize_name")]
    pub router: Router,
    /// Random same-size bricks `R` of the context statistics and p-values (default 199).
    pub random_bricks: usize,
    /// Random same-size partitions routed for the routing statistics (default 5, as the random
    /// baseline of docs/bricks.md).
    pub random_routing: usize,
    /// Seed of the random bricks: partition `r` is `random_same_sizes(bricks, seed + r)`
    /// (default 0, so the first five are the baseline of docs/bricks.md).
    pub seed: u64,
    /// False-discovery rate of the Benjamini–Hochberg test of the top-context lift (default 0.05).
    pub alpha: f64,
}

impl Default for AtlasParams {
    fn default() -> Self {
        AtlasParams {
            context: 6,
            top_contexts: 10,
            lift_occurrences: 50,
            top_pieces: 8,
            min_piece_count: 3,
            budget: 0.25,
            router: Router::Oracle,
            random_bricks: 199,
            random_routing: 5,
            seed: 0,
            alpha: 0.05,
        }
    }
}

impl AtlasParams {
    /// The defaults of the field docs.
    pub fn new() -> Self {
        Self::default()
    }
    setters! {
        /// Word pieces either side of an occurrence.
        context: usize,
        /// Top occurrences listed per card.
        top_contexts: usize,
        /// Top occurrences the lift is computed on.
        lift_occurrences: usize,
        /// Over-represented pieces listed per card.
        top_pieces: usize,
        /// Smallest count of a listed piece.
        min_piece_count: usize,
        /// Neuron budget of the routing statistics.
        budget: f64,
        /// Router of the routing statistics.
        router: Router,
        /// Random same-size bricks of the context statistics.
        random_bricks: usize,
        /// Random same-size partitions routed.
        random_routing: usize,
        /// Seed of the random bricks.
        seed: u64,
        /// False-discovery rate of the lift test.
        alpha: f64,
    }

    /// Check the parameters: `lift_occurrences >= 1`, `budget` in (0, 1], `random_bricks >= 1`,
    /// `random_routing >= 1`, `alpha` in (0, 1), a representative router with `m >= 1`.
    ///
    /// # Errors
    /// [`Error::Param`] naming the parameter, e.g. `AtlasParams.budget`.
    pub fn validate(&self) -> Result<()> {
        check::at_least_one("AtlasParams.lift_occurrences", self.lift_occurrences)?;
        check::fraction("AtlasParams.budget", self.budget)?;
        check::at_least_one("AtlasParams.random_bricks", self.random_bricks)?;
        check::at_least_one("AtlasParams.random_routing", self.random_routing)?;
        check::open_unit("AtlasParams.alpha", self.alpha)?;
        if let Router::Representative { m: 0 } = self.router {
            return Err(Error::param(
                "AtlasParams.router",
                "the representative router needs m >= 1",
            ));
        }
        Ok(())
    }
}

/// One token occurrence with its context: up to `context` word pieces either side, inside the
/// token's 128-token window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ContextWindow {
    /// Index of the firing token in the evaluated token set.
    pub token: usize,
    /// Its window (as in `tokens.safetensors` / `heldout.safetensors`).
    pub window: u32,
    /// Its domain label.
    pub domain: u32,
    /// The brick's mass on it, `m_S(t)` (the ranking key of the top occurrences; ties: earlier
    /// token first).
    pub mass: f64,
    /// Position of the firing token in `ids` / `chunks`.
    pub firing: usize,
    /// Word-piece ids of the context, the firing token included.
    pub ids: Vec<u32>,
    /// Decoded text of each id ([`Vocab::decode_chunks`]; special tokens other than the firing
    /// one are empty); their concatenation is `text`.
    pub chunks: Vec<String>,
    /// The decoded context, as `tokenizer.decode(ids, skip_special_tokens)` prints it (special
    /// tokens skipped unless the firing token is one).
    pub text: String,
}

/// A word piece over-represented among a brick's top occurrences.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PieceLift {
    /// Word-piece id.
    pub id: u32,
    /// The piece as in the vocabulary (`##` prefix kept).
    pub piece: String,
    /// Count among the top occurrences (`n_p`).
    pub count: usize,
    /// Count among all evaluated tokens (`N_p`).
    pub corpus_count: usize,
    /// `(n_p / m) / (N_p / T)`.
    pub lift: f64,
}

/// A statistic of a brick beside the same statistic of random bricks of the same size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[non_exhaustive]
pub struct VsRandom {
    /// The brick's value.
    pub value: f64,
    /// Mean over the random bricks.
    pub random_mean: f64,
    /// Sample standard deviation over the random bricks (0 for one).
    pub random_std: f64,
    /// Number of random bricks.
    pub random_n: usize,
    /// Empirical upper-tail p-value `(1 + #{r : value_r ≥ value}) / (1 + random_n)`.
    pub p_value: f64,
}

impl VsRandom {
    /// The brick's `value` against the random values `random`. Cost O(R).
    pub fn new(value: f64, random: &[f64]) -> Self {
        let (random_mean, random_std) = crate::bricks::merge::mean_std(random);
        let ge = random.iter().filter(|&&r| r >= value).count();
        VsRandom {
            value,
            random_mean,
            random_std,
            random_n: random.len(),
            p_value: (1 + ge) as f64 / (1 + random.len()) as f64,
        }
    }
}

/// Where a brick sits in the brick dendrogram.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DendrogramPlace {
    /// Leaf id (= cluster id of the leaf, `0..K`).
    pub leaf: usize,
    /// Cluster ids from the leaf up to the root (leaf first; merge `s` made cluster `K + s`).
    pub path: Vec<usize>,
    /// Position of the leaf in the dendrogram's drawing order ([`Dendrogram::leaf_order`]).
    pub order: usize,
}

/// The card of one brick (see the module docs for the definitions).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct BrickCard {
    /// Brick index (in [`crate::bricks::Bricks::members`]).
    pub brick: usize,
    /// Number of neurons.
    pub size: usize,
    /// The `top_contexts` occurrences of largest brick mass, largest first.
    pub top_contexts: Vec<ContextWindow>,
    /// Where the brick's mass goes (vs `random_bricks` random bricks).
    pub mass: BrickMass,
    /// Top-context lift (KL, bits) vs random same-size bricks (`random_bricks` of them).
    pub lift: VsRandom,
    /// True for the set-aside brick (dead / resident / isolated neurons; the last brick, not a
    /// leaf of the dendrogram).
    pub set_aside: bool,
    /// Place in the dendrogram (`None`, omitted from the JSON, for the set-aside brick or
    /// without a tree).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place: Option<DendrogramPlace>,
    /// Pieces with at least `min_piece_count` of the top `lift_occurrences` occurrences, by
    /// decreasing lift (ties: count, then id).
    pub top_pieces: Vec<PieceLift>,
    /// Benjamini–Hochberg decision on `lift.p_value` (false for the set-aside brick).
    pub lift_significant: bool,
    /// How the brick is routed at the atlas budget (vs `random_routing` random partitions).
    pub routing: BrickRouting,
}

// Deliberate same-shape pair with `spectral::adaptive::AdaptiveEmbedding` (`cd src && duplicates`): a plain list of
// documented fields, nothing to share.
/// A brick's mass: its share of the layer's, and its split over the domains.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct BrickMass {
    /// Share of the brick's mass on each domain.
    pub domain_share: Vec<f64>,
    /// Largest domain share vs random bricks.
    pub top_domain_share: VsRandom,
    /// Mean of `domain_share` over the random bricks.
    pub random_domain_share: Vec<f64>,
    /// Share of the layer's contribution mass carried by the brick vs random bricks.
    pub layer_share: VsRandom,
}

/// A brick's routing statistics at the atlas budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[non_exhaustive]
pub struct BrickRouting {
    /// Fraction of tokens on which the brick is routed.
    pub routed: VsRandom,
    /// Routing-error contribution (module docs).
    pub error_contribution: VsRandom,
}

/// Routing error at one budget: the bricks beside the baselines.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RoutingComparison {
    /// Budget fraction.
    pub budget: f64,
    /// Number of tokens measured on.
    pub tokens: usize,
    /// Mean relative error of the bricks (`RouteMetrics::rel_error`).
    pub bricks: f64,
    /// Mean of random same-size bricks.
    pub random_mean: f64,
    /// Their standard deviation.
    pub random_std: f64,
    /// Weight k-means bricks with as many bricks ([`crate::bricks::baselines::weight_kmeans`]).
    pub weight_kmeans: f64,
}

/// How brickable one layer is: routing error on held-out tokens against the baselines, and how
/// many bricks have a significant top-context lift.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct LayerSummary {
    /// Layer number.
    pub layer: usize,
    /// Neurons of the layer.
    pub neurons: usize,
    /// Bricks (the set-aside brick included).
    pub bricks: usize,
    /// Neurons of the set-aside brick.
    pub set_aside_neurons: usize,
    /// Router name.
    pub router: String,
    /// On the evaluation tokens of the build documents (odd windows; the bricks are built on
    /// the even windows).
    pub evaluation: RoutingComparison,
    /// On the held-out documents (`heldout.safetensors`), if given.
    pub heldout: Option<RoutingComparison>,
    /// Bricks tested for a significant top-context lift (all but the set-aside brick).
    pub lift_tested: usize,
    /// Of those, significant (Benjamini–Hochberg at `alpha` on the empirical p-values).
    pub lift_significant: usize,
    /// The test's false-discovery rate.
    pub alpha: f64,
    /// Random same-size bricks per p-value.
    pub random_bricks: usize,
}

/// The atlas of one layer: its brick dendrogram, cards and summary.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct LayerAtlas {
    /// Layer number.
    pub layer: usize,
    /// The brick dendrogram (serialised as its `neurobricks-dendrogram/1` JSON).
    #[serde(serialize_with = "serialize_tree")]
    pub tree: Dendrogram,
    /// Neurons of each brick (leaf `b` is brick `b`; the set-aside brick last).
    pub members: Vec<Vec<u32>>,
    /// One card per brick.
    pub cards: Vec<BrickCard>,
    /// The layer summary.
    pub summary: LayerSummary,
}

/// The atlas of several layers of one model on one corpus.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Atlas {
    /// Domain names (index = domain label).
    pub domains: Vec<String>,
    /// The settings used.
    pub params: AtlasParams,
    /// One entry per layer, in the order asked for.
    pub layers: Vec<LayerAtlas>,
}

fn serialize_tree<S: serde::Serializer>(
    d: &Dendrogram,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    let v: serde_json::Value =
        serde_json::from_str(&d.to_json()).map_err(serde::ser::Error::custom)?;
    v.serialize(s)
}
