//! The brick cards of one layer on a token set (definitions in the [module docs](super)).

use super::{
    AtlasParams, BrickCard, BrickMass, BrickRouting, ContextWindow, DendrogramPlace, PieceLift,
    Vocab, VsRandom,
};
use crate::activations::ffn::{par, FfnLayer};
use crate::bricks::baselines::random_same_sizes;
use crate::bricks::route::{
    budget_neurons, evaluate_mask, select_bricks, RouteMetrics, RouterModel,
};
use crate::bricks::{Bricks, EvalSet};
use crate::error::{Error, Result};
use crate::hierarchy::Dendrogram;
use crate::util::FxHashMap;
use faer::{Accum, Mat};

/// What the cards are computed from: one layer, its bricks, and the evaluated tokens with
/// their metadata (one entry per token of `ev`).
#[derive(Debug, Clone, Copy)]
pub struct CardInput<'a> {
    /// The FFN layer.
    pub ffn: &'a FfnLayer,
    /// Its bricks.
    pub bricks: &'a Bricks,
    /// The brick dendrogram (leaf `b` = brick `b`), for [`BrickCard::place`].
    pub tree: Option<&'a Dendrogram>,
    /// Activations and contributions of the evaluated tokens.
    pub ev: &'a EvalSet,
    /// Word-piece id of each token.
    pub ids: &'a [u32],
    /// Domain label of each token.
    pub domain: &'a [u32],
    /// Window of each token (a context never crosses a window boundary).
    pub window: &'a [u32],
    /// The vocabulary the ids decode with.
    pub vocab: &'a Vocab,
    /// Neuron ranking of the representative router (may be empty for the other routers).
    pub degree: &'a [f64],
}

impl CardInput<'_> {
    fn check(&self) -> Result<()> {
        let t = self.ev.tokens();
        for (name, len) in [
            ("ids", self.ids.len()),
            ("domain", self.domain.len()),
            ("window", self.window.len()),
        ] {
            if len != t {
                return Err(Error::Input(format!(
                    "CardInput.{name} has {len} entries for {t} tokens"
                )));
            }
        }
        if t == 0 {
            return Err(Error::Input("no tokens to compute brick cards on".into()));
        }
        self.bricks.check_layer(self.ffn)?;
        self.vocab.check_ids(self.ids)?;
        if let Some(d) = self.tree {
            let k = d.num_leaves();
            let expect = k + usize::from(self.bricks.set_aside.is_some());
            if expect != self.bricks.len() {
                return Err(Error::Input(format!(
                    "the tree has {k} leaves but there are {} bricks",
                    self.bricks.len()
                )));
            }
        }
        Ok(())
    }
}

/// Brick mass `m_S(t) = Σ_{i∈S} c_i(t)` of every brick on every token of `ev`, `[brick][t]`
/// (f64 sums in neuron order). Cost O(T N).
pub fn brick_masses(bricks: &Bricks, ev: &EvalSet) -> Vec<Vec<f64>> {
    let labels = bricks.labels();
    let mut mass = vec![vec![0f64; ev.tokens()]; bricks.len()];
    for t in 0..ev.tokens() {
        for (i, &c) in ev.contrib.row(t).iter().enumerate() {
            mass[labels[i] as usize][t] += c as f64;
        }
    }
    mass
}

/// The `m` tokens of largest `mass`, largest first (ties: smaller index first).
/// Cost O(T + m log m).
pub fn top_tokens(mass: &[f64], m: usize) -> Vec<usize> {
    let cmp = |p: &usize, q: &usize| mass[*q].total_cmp(&mass[*p]).then(p.cmp(q));
    let mut idx: Vec<usize> = (0..mass.len()).collect();
    let m = m.min(idx.len());
    if m < idx.len() && m > 0 {
        idx.select_nth_unstable_by(m - 1, cmp);
    }
    idx.truncate(m);
    idx.sort_by(cmp);
    idx
}

/// Count of every id.
fn counts(ids: impl Iterator<Item = u32>) -> FxHashMap<u32, usize> {
    let mut c = FxHashMap::default();
    for i in ids {
        *c.entry(i).or_insert(0) += 1;
    }
    c
}

/// Top-context lift: `Σ_p (n_p/m) log2((n_p/m) / (N_p/T))` of the pieces of the tokens `top`
/// (see the module docs). `corpus` holds `N_p` over the `total` tokens. Cost O(m).
pub fn lift_kl(top: &[usize], ids: &[u32], corpus: &FxHashMap<u32, usize>, total: usize) -> f64 {
    let m = top.len() as f64;
    let mut c: Vec<(u32, usize)> = counts(top.iter().map(|&t| ids[t])).into_iter().collect();
    c.sort_unstable();
    c.iter()
        .map(|&(p, n)| {
            let q = n as f64 / m;
            q * (q / (corpus[&p] as f64 / total as f64)).log2()
        })
        .sum()
}

/// The context of token `t`: up to `context` tokens either side within its window, decoded
/// with special tokens skipped unless the firing token is one. Cost O(context).
pub fn context_window(
    t: usize,
    ids: &[u32],
    window: &[u32],
    vocab: &Vocab,
    context: usize,
) -> (usize, Vec<u32>, Vec<String>, String) {
    let w = window[t];
    let mut lo = t;
    while lo > 0 && t - lo < context && window[lo - 1] == w {
        lo -= 1;
    }
    let mut hi = t + 1;
    while hi < ids.len() && hi - t <= context && window[hi] == w {
        hi += 1;
    }
    let span = ids[lo..hi].to_vec();
    let firing = t - lo;
    let chunks = vocab.decode_chunks(&span, |k| k == firing || !vocab.is_special(span[k]));
    let text = chunks.concat();
    (firing, span, chunks, text)
}

/// Per-brick routing statistics of one partition: the fraction of tokens each brick is routed
/// on, its routing-error contribution (module docs), and the metrics of the routed selection
/// ([`evaluate_mask`], recall NaN). Cost O(T K log K + T N d) (two products with `W_out`).
pub fn routing_stats(
    ffn: &FfnLayer,
    bricks: &Bricks,
    model: &RouterModel,
    ev: &EvalSet,
    rho: f64,
) -> Result<(Vec<f64>, Vec<f64>, RouteMetrics)> {
    bricks.check_layer(ffn)?;
    let budget = budget_neurons(rho, ffn.n_neurons)?;
    let (tn, n, k) = (ev.tokens(), ffn.n_neurons, bricks.len());
    let scores = model.scores(bricks, ev);
    let sizes = bricks.sizes();
    let labels = bricks.labels();
    let mut mask = vec![false; tn * n];
    let mut routed = vec![0f64; k];
    for t in 0..tn {
        for b in select_bricks(scores.row(t), &sizes, budget) {
            routed[b] += 1.0;
            for &i in &bricks.members[b] {
                mask[t * n + i as usize] = true;
            }
        }
    }
    routed.iter_mut().for_each(|r| *r /= tn as f64);
    let metrics = evaluate_mask(ffn, ev, &mask, None)?;
    // Error e_t = W_out (dropped activations); g_t = W_out^T e_t; brick S's share is
    // Σ_{i∈S dropped} g_t[i] a_t[i] = <e_t, e_{t,S}>.
    let mut dropped = ev.a.clone();
    for t in 0..tn {
        for (v, &keep) in dropped.row_mut(t).iter_mut().zip(&mask[t * n..(t + 1) * n]) {
            if keep {
                *v = 0.0;
            }
        }
    }
    let e = ffn.project(&dropped)?;
    let mut g = Mat::<f32>::zeros(n, tn);
    faer::linalg::matmul::matmul(
        &mut g,
        Accum::Replace,
        ffn.w_out.transpose(),
        e.as_transposed(),
        1.0,
        par(),
    );
    let mut contrib = vec![0f64; k];
    for t in 0..tn {
        let a = dropped.row(t);
        for i in 0..n {
            if a[i] != 0.0 {
                contrib[labels[i] as usize] += g[(i, t)] as f64 * a[i] as f64;
            }
        }
    }
    let den: f64 = ev.ref_energy.iter().sum::<f64>().max(1e-300);
    contrib.iter_mut().for_each(|c| *c /= den);
    Ok((routed, contrib, metrics))
}

/// Benjamini–Hochberg at level `alpha`: which of `p` are rejected (largest `k` with
/// `p_(k) <= k alpha / n`; every p-value ranked at or below it). Cost O(n log n).
pub fn benjamini_hochberg(p: &[f64], alpha: f64) -> Vec<bool> {
    let n = p.len();
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| p[a].total_cmp(&p[b]).then(a.cmp(&b)));
    let mut last = 0;
    for (r, &i) in idx.iter().enumerate() {
        if p[i] <= (r + 1) as f64 * alpha / n as f64 {
            last = r + 1;
        }
    }
    let mut out = vec![false; n];
    for &i in &idx[..last] {
        out[i] = true;
    }
    out
}

/// Place of every leaf in `tree`: path to the root and drawing position.
fn places(tree: &Dendrogram) -> Vec<DendrogramPlace> {
    let parents = tree.parents();
    let order = tree.leaf_order();
    let mut pos = vec![0; order.len()];
    for (p, &l) in order.iter().enumerate() {
        pos[l] = p;
    }
    (0..tree.num_leaves())
        .map(|leaf| {
            let mut path = vec![leaf];
            while parents[*path.last().unwrap()] != usize::MAX {
                path.push(parents[*path.last().unwrap()]);
            }
            DendrogramPlace {
                leaf,
                path,
                order: pos[leaf],
            }
        })
        .collect()
}

/// Per-brick context statistics of one partition: (top-context lift, domain shares, mass share).
type ContextStats = (Vec<f64>, Vec<Vec<f64>>, Vec<f64>);

fn context_stats(
    bricks: &Bricks,
    inp: &CardInput<'_>,
    m: usize,
    corpus: &FxHashMap<u32, usize>,
    n_dom: usize,
) -> (Vec<Vec<f64>>, ContextStats) {
    let mass = brick_masses(bricks, inp.ev);
    let total: f64 = mass.iter().flatten().sum::<f64>().max(1e-300);
    let tn = inp.ev.tokens();
    let mut kl = Vec::with_capacity(mass.len());
    let mut share = Vec::with_capacity(mass.len());
    let mut mshare = Vec::with_capacity(mass.len());
    for mb in &mass {
        kl.push(lift_kl(&top_tokens(mb, m), inp.ids, corpus, tn));
        let mut d = vec![0f64; n_dom];
        for (t, v) in mb.iter().enumerate() {
            d[inp.domain[t] as usize] += v;
        }
        let s: f64 = d.iter().sum::<f64>().max(1e-300);
        mshare.push(s / total);
        share.push(d.into_iter().map(|v| v / s).collect());
    }
    (mass, (kl, share, mshare))
}

/// The cards of every brick of `inp` (see the module docs for each statistic). Random
/// same-size bricks: partition `r` is [`random_same_sizes`]`(bricks, seed + r)`, whose brick
/// `b` has the size of brick `b`; `random_bricks` partitions for the context statistics,
/// the first `random_routing` of them also routed.
///
/// Cost: O(R T N) for the brick masses of the random partitions, plus
/// O((1 + random_routing) (T K log K + T N d)) for the routing.
///
/// # Errors
/// Invalid parameters ([`AtlasParams::validate`]), token metadata of the wrong length, ids
/// outside the vocabulary, bricks or a tree that do not fit the layer.
pub fn brick_cards(inp: &CardInput<'_>, p: &AtlasParams) -> Result<Vec<BrickCard>> {
    p.validate()?;
    inp.check()?;
    let (bricks, ev) = (inp.bricks, inp.ev);
    let tn = ev.tokens();
    let n_dom = inp.domain.iter().max().map_or(0, |m| *m as usize + 1);
    let corpus = counts(inp.ids.iter().copied());
    let m = p.lift_occurrences.min(tn);

    let (mass, (kl, share, mshare)) = context_stats(bricks, inp, m, &corpus, n_dom);
    let k = bricks.len();
    let mut r_kl = vec![Vec::new(); k];
    let mut r_top_share = vec![Vec::new(); k];
    let mut r_share = vec![vec![0f64; n_dom]; k];
    let mut r_mshare = vec![Vec::new(); k];
    let mut r_routed = vec![Vec::new(); k];
    let mut r_err = vec![Vec::new(); k];
    let top_of = |s: &[f64]| s.iter().copied().fold(0f64, f64::max);
    for r in 0..p.random_bricks {
        let rb = random_same_sizes(bricks, p.seed.wrapping_add(r as u64));
        let (_, (kl_r, share_r, ms_r)) = context_stats(&rb, inp, m, &corpus, n_dom);
        for b in 0..k {
            r_kl[b].push(kl_r[b]);
            r_top_share[b].push(top_of(&share_r[b]));
            r_mshare[b].push(ms_r[b]);
            for (acc, v) in r_share[b].iter_mut().zip(&share_r[b]) {
                *acc += v / p.random_bricks as f64;
            }
        }
        if r < p.random_routing {
            let model = RouterModel::fit(p.router, &rb, inp.ffn, inp.degree)?;
            let (routed, err, _) = routing_stats(inp.ffn, &rb, &model, ev, p.budget)?;
            for b in 0..k {
                r_routed[b].push(routed[b]);
                r_err[b].push(err[b]);
            }
        }
    }
    let model = RouterModel::fit(p.router, bricks, inp.ffn, inp.degree)?;
    let (routed, err, _) = routing_stats(inp.ffn, bricks, &model, ev, p.budget)?;

    let places = inp.tree.map(places);
    let lift: Vec<VsRandom> = (0..k).map(|b| VsRandom::new(kl[b], &r_kl[b])).collect();
    let tested: Vec<usize> = (0..k).filter(|&b| bricks.set_aside != Some(b)).collect();
    let tested_p: Vec<f64> = tested.iter().map(|&b| lift[b].p_value).collect();
    let mut significant = vec![false; k];
    for (&b, s) in tested.iter().zip(benjamini_hochberg(&tested_p, p.alpha)) {
        significant[b] = s;
    }

    let mut cards = Vec::with_capacity(k);
    for b in 0..k {
        let top = top_tokens(&mass[b], m.max(p.top_contexts));
        let top_contexts = top
            .iter()
            .take(p.top_contexts)
            .map(|&t| {
                let (firing, ids, chunks, text) =
                    context_window(t, inp.ids, inp.window, inp.vocab, p.context);
                ContextWindow {
                    token: t,
                    window: inp.window[t],
                    domain: inp.domain[t],
                    mass: mass[b][t],
                    ids,
                    firing,
                    chunks,
                    text,
                }
            })
            .collect();
        let mut pieces: Vec<PieceLift> = counts(top[..m].iter().map(|&t| inp.ids[t]))
            .into_iter()
            .filter(|&(_, c)| c >= p.min_piece_count)
            .map(|(id, count)| {
                let corpus_count = corpus[&id];
                PieceLift {
                    id,
                    piece: inp.vocab.piece(id).unwrap_or("[UNK]").to_string(),
                    count,
                    corpus_count,
                    lift: (count as f64 / m as f64) / (corpus_count as f64 / tn as f64),
                }
            })
            .collect();
        pieces.sort_by(|x, y| {
            y.lift
                .total_cmp(&x.lift)
                .then(y.count.cmp(&x.count))
                .then(x.id.cmp(&y.id))
        });
        pieces.truncate(p.top_pieces);
        let is_aside = bricks.set_aside == Some(b);
        cards.push(BrickCard {
            brick: b,
            size: bricks.members[b].len(),
            set_aside: is_aside,
            place: match (&places, is_aside) {
                (Some(pl), false) => pl.get(b).cloned(),
                _ => None,
            },
            top_contexts,
            top_pieces: pieces,
            lift: lift[b],
            lift_significant: significant[b],
            mass: BrickMass {
                domain_share: share[b].clone(),
                random_domain_share: r_share[b].clone(),
                top_domain_share: VsRandom::new(top_of(&share[b]), &r_top_share[b]),
                layer_share: VsRandom::new(mshare[b], &r_mshare[b]),
            },
            routing: BrickRouting {
                routed: VsRandom::new(routed[b], &r_routed[b]),
                error_contribution: VsRandom::new(err[b], &r_err[b]),
            },
        });
    }
    Ok(cards)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn benjamini_hochberg_step_up() {
        // n = 4, alpha 0.05: thresholds 0.0125, 0.025, 0.0375, 0.05; p_(3) = 0.03 <= 0.0375.
        let p = [0.03, 0.01, 0.2, 0.02];
        assert_eq!(benjamini_hochberg(&p, 0.05), vec![true, true, false, true]);
        assert_eq!(benjamini_hochberg(&[0.5, 0.9], 0.05), vec![false, false]);
    }

    #[test]
    fn top_tokens_breaks_ties_by_index() {
        assert_eq!(top_tokens(&[1.0, 3.0, 3.0, 2.0], 3), vec![1, 2, 3]);
        assert_eq!(top_tokens(&[1.0], 5), vec![0]);
    }

    #[test]
    fn empirical_p_value_counts_ties() {
        let v = VsRandom::new(2.0, &[1.0, 2.0, 3.0]);
        assert_eq!(v.p_value, 0.75);
        assert_eq!(v.random_mean, 2.0);
    }
}
