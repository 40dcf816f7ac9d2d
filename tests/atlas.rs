//! Brick cards on the shipped MiniLM data (issue 14 acceptance): top contexts are the true
//! arg-max occurrences (brute force), decoded contexts equal the Python tokenizer's decoding
//! (fixture `data/minilm-l6/contexts.json`), card statistics equal a direct computation.

use neurobricks::activations::ffn::{load_inputs, FfnLayer};
use neurobricks::atlas::cards::{brick_cards, context_window, CardInput};
use neurobricks::atlas::minilm::{layer_atlas, load_heldout, minilm_dir};
use neurobricks::atlas::{AtlasParams, BrickCard, Vocab};
use neurobricks::bricks::baselines::{random_same_sizes, weight_kmeans};
use neurobricks::bricks::route::{brick_masks, budget_neurons, route_and_evaluate};
use neurobricks::bricks::{Bricks, EvalSet, Router, RouterModel};
use neurobricks::experiments::minilm::{SplitLayer, Tokens};
use std::collections::HashMap;

struct Setup {
    ffn: FfnLayer,
    ev: EvalSet,
    ids: Vec<u32>,
    domain: Vec<u32>,
    window: Vec<u32>,
    vocab: Vocab,
    bricks: Bricks,
}

/// Layer 5, evaluation tokens (odd windows), 24 weight k-means bricks (fast to build).
fn setup() -> Setup {
    let dir = minilm_dir();
    let file = dir.join("layer5.safetensors");
    let x = load_inputs(&file, "ffn_in").unwrap();
    let ffn = FfnLayer::load(&file).unwrap();
    let tokens = Tokens::load(&dir.join("tokens.safetensors")).unwrap();
    let split = SplitLayer::new(ffn, &x, &tokens).unwrap();
    let (_, odd) = tokens.even_odd_split();
    let pick = |v: &[u32]| -> Vec<u32> { odd.iter().map(|&t| v[t]).collect() };
    let bricks = weight_kmeans(&split.ffn, 24, 0).unwrap();
    Setup {
        ids: pick(&tokens.ids),
        domain: pick(&tokens.domain),
        window: pick(&tokens.window),
        vocab: Vocab::load(&dir.join("vocab.txt")).unwrap(),
        ffn: split.ffn,
        ev: split.ev,
        bricks,
    }
}

fn cards(s: &Setup, p: &AtlasParams) -> Vec<BrickCard> {
    let inp = CardInput {
        ffn: &s.ffn,
        bricks: &s.bricks,
        tree: None,
        ev: &s.ev,
        ids: &s.ids,
        domain: &s.domain,
        window: &s.window,
        vocab: &s.vocab,
        degree: &[],
    };
    brick_cards(&inp, p).unwrap()
}

fn small_params() -> AtlasParams {
    AtlasParams::default().random_bricks(19).random_routing(2)
}

/// Brick mass recomputed from the activations and W_out column norms, neuron by neuron.
fn direct_mass(s: &Setup, members: &[u32], t: usize) -> f64 {
    members
        .iter()
        .map(|&i| {
            let i = i as usize;
            let norm: f64 = (0..s.ffn.d_model)
                .map(|j| (s.ffn.w_out[(j, i)] as f64).powi(2))
                .sum::<f64>()
                .sqrt();
            (s.ev.a.row(t)[i] as f64).abs() * norm
        })
        .sum()
}

#[test]
fn top_contexts_are_the_true_argmax_occurrences() {
    let s = setup();
    let p = small_params();
    let cs = cards(&s, &p);
    assert_eq!(cs.len(), s.bricks.len());
    for (b, card) in cs.iter().enumerate() {
        let members = &s.bricks.members[b];
        // Brute force: every token's mass, full sort.
        let mass: Vec<f64> = (0..s.ev.tokens())
            .map(|t| direct_mass(&s, members, t))
            .collect();
        let mut order: Vec<usize> = (0..mass.len()).collect();
        order.sort_by(|&x, &y| mass[y].total_cmp(&mass[x]).then(x.cmp(&y)));
        let got: Vec<usize> = card.top_contexts.iter().map(|c| c.token).collect();
        assert_eq!(got.len(), p.top_contexts);
        for (k, c) in card.top_contexts.iter().enumerate() {
            // Same token, or a near-tie (f32 contributions vs f64 recomputation).
            let want = order[k];
            assert!(
                c.token == want || (mass[c.token] - mass[want]).abs() <= 1e-4 * mass[want],
                "brick {b} rank {k}: card token {} (mass {}), brute force {want} (mass {})",
                c.token,
                mass[c.token],
                mass[want]
            );
            assert!((c.mass - mass[c.token]).abs() <= 1e-4 * mass[c.token].max(1e-9));
            assert_eq!(c.ids[c.firing], s.ids[c.token]);
            assert_eq!(c.window, s.window[c.token]);
        }
        // Descending masses.
        assert!(card.top_contexts.windows(2).all(|w| w[0].mass >= w[1].mass));
    }
}

#[test]
fn decoded_contexts_match_the_python_tokenizer() {
    let dir = minilm_dir();
    let vocab = Vocab::load(&dir.join("vocab.txt")).unwrap();
    assert_eq!(vocab.len(), 30522);
    let text = std::fs::read_to_string(dir.join("contexts.json")).unwrap();
    let fx: serde_json::Value = serde_json::from_str(&text).unwrap();
    let context = fx["context"].as_u64().unwrap() as usize;
    let tokens = Tokens::load(&dir.join("tokens.safetensors")).unwrap();
    let heldout = load_heldout(&dir).unwrap();
    let mut checked = 0;
    for (key, tok) in [("corpus", &tokens), ("heldout", &heldout)] {
        let want = fx[key].as_array().unwrap();
        assert_eq!(want.len(), tok.len(), "{key}");
        for (t, w) in want.iter().enumerate() {
            let (firing, ids, chunks, got) =
                context_window(t, &tok.ids, &tok.window, &vocab, context);
            assert_eq!(ids[firing], tok.ids[t]);
            assert_eq!(chunks.concat(), got);
            assert_eq!(got, w.as_str().unwrap(), "{key} token {t}");
            checked += 1;
        }
    }
    assert_eq!(checked, 3072 + 1024);
}

#[test]
fn card_statistics_equal_a_direct_computation() {
    let s = setup();
    let p = small_params();
    let cs = cards(&s, &p);
    let tn = s.ev.tokens();
    let n_dom = 4;
    let corpus = {
        let mut c: HashMap<u32, usize> = HashMap::new();
        for &i in &s.ids {
            *c.entry(i).or_default() += 1;
        }
        c
    };
    let total_mass: f64 = (0..s.bricks.len())
        .map(|b| {
            (0..tn)
                .map(|t| direct_mass(&s, &s.bricks.members[b], t))
                .sum::<f64>()
        })
        .sum();
    // Routing (oracle, 25%): masks from the crate's brick_masks on oracle scores.
    let budget = budget_neurons(p.budget, s.ffn.n_neurons).unwrap();
    let model = RouterModel::fit(Router::Oracle, &s.bricks, &s.ffn, &[]).unwrap();
    let mask = brick_masks(&s.bricks, &model.scores(&s.bricks, &s.ev), budget);
    let n = s.ffn.n_neurons;
    let ref_energy: f64 = s.ev.ref_energy.iter().sum();
    let full = route_and_evaluate(&s.ffn, &s.bricks, &model, &s.ev, p.budget).unwrap();
    // Total error e_t of the routed selection.
    let mut dropped = s.ev.a.clone();
    for t in 0..tn {
        for i in 0..n {
            if mask[t * n + i] {
                dropped.row_mut(t)[i] = 0.0;
            }
        }
    }
    let e = s.ffn.project(&dropped).unwrap();
    let mut contrib_sum = 0.0;
    for b in [0usize, 5, 11, 23] {
        let card = &cs[b];
        let members = &s.bricks.members[b];
        assert_eq!(card.size, members.len());
        let mass: Vec<f64> = (0..tn).map(|t| direct_mass(&s, members, t)).collect();
        // Domain shares and mass share.
        let mut dom = vec![0f64; n_dom];
        for t in 0..tn {
            dom[s.domain[t] as usize] += mass[t];
        }
        let bm: f64 = dom.iter().sum();
        for (got, d) in card.mass.domain_share.iter().zip(&dom) {
            assert!((got - d / bm).abs() < 1e-6, "brick {b}");
        }
        assert!((card.mass.layer_share.value - bm / total_mass).abs() < 1e-6);
        // Lift of the pieces among the top m occurrences (by the brute-force ranking).
        let m = p.lift_occurrences;
        let mut order: Vec<usize> = (0..tn).collect();
        order.sort_by(|&x, &y| mass[y].total_cmp(&mass[x]).then(x.cmp(&y)));
        let mut top: HashMap<u32, usize> = HashMap::new();
        for &t in &order[..m] {
            *top.entry(s.ids[t]).or_default() += 1;
        }
        let kl: f64 = top
            .iter()
            .map(|(id, &c)| {
                let q = c as f64 / m as f64;
                q * (q / (corpus[id] as f64 / tn as f64)).log2()
            })
            .sum();
        assert!(
            (card.lift.value - kl).abs() < 1e-9,
            "brick {b}: {} vs {kl}",
            card.lift.value
        );
        for pl in &card.top_pieces {
            assert_eq!(pl.count, top[&pl.id]);
            assert_eq!(pl.corpus_count, corpus[&pl.id]);
            assert!(pl.count >= p.min_piece_count);
            let lift = (pl.count as f64 / m as f64) / (pl.corpus_count as f64 / tn as f64);
            assert!((pl.lift - lift).abs() < 1e-12);
            assert_eq!(pl.piece, s.vocab.piece(pl.id).unwrap());
        }
        // Every piece with enough count and a larger lift than the last listed one is listed.
        if let Some(last) = card.top_pieces.last() {
            if card.top_pieces.len() < p.top_pieces {
                let listed = top.values().filter(|&&c| c >= p.min_piece_count).count();
                assert_eq!(listed, card.top_pieces.len());
            }
            assert!(card.top_pieces.iter().all(|x| x.lift >= last.lift));
        }
        // Routed fraction: tokens whose mask holds the brick's first neuron.
        let i0 = members[0] as usize;
        let routed = (0..tn).filter(|&t| mask[t * n + i0]).count() as f64 / tn as f64;
        assert!((card.routing.routed.value - routed).abs() < 1e-12);
        // Error contribution: Σ_t <e_t, e_{t,S}> / Σ_t ||y_t||², e_{t,S} = W_out a_{t,S} when
        // the brick is dropped.
        let mut only = s.ev.a.clone();
        for t in 0..tn {
            let routed_here = mask[t * n + i0];
            let row = only.row_mut(t);
            for (i, v) in row.iter_mut().enumerate() {
                if routed_here || !members.contains(&(i as u32)) {
                    *v = 0.0;
                }
            }
        }
        let es = s.ffn.project(&only).unwrap();
        let dot: f64 = (0..tn)
            .map(|t| {
                e.row(t)
                    .iter()
                    .zip(es.row(t))
                    .map(|(x, y)| *x as f64 * *y as f64)
                    .sum::<f64>()
            })
            .sum();
        let want = dot / ref_energy;
        assert!(
            (card.routing.error_contribution.value - want).abs() <= 1e-4 * want.abs().max(1e-6),
            "brick {b}: {} vs {want}",
            card.routing.error_contribution.value
        );
        contrib_sum += card.routing.error_contribution.value;
        // Random baseline of the mass share: the same brick index of the random partitions.
        let r_mass: Vec<f64> = (0..p.random_bricks)
            .map(|r| {
                let rb = random_same_sizes(&s.bricks, p.seed + r as u64);
                assert_eq!(rb.members[b].len(), members.len());
                (0..tn)
                    .map(|t| direct_mass(&s, &rb.members[b], t))
                    .sum::<f64>()
                    / total_mass
            })
            .collect();
        let mean = r_mass.iter().sum::<f64>() / r_mass.len() as f64;
        assert!((card.mass.layer_share.random_mean - mean).abs() < 1e-6);
        assert_eq!(card.lift.random_n, p.random_bricks);
        assert_eq!(card.routing.routed.random_n, p.random_routing);
    }
    // The contributions of all bricks add up to the pooled relative error.
    let all: f64 = cs.iter().map(|c| c.routing.error_contribution.value).sum();
    assert!(
        (all - full.pooled_rel_error).abs() < 1e-4 * full.pooled_rel_error,
        "{all} vs {}",
        full.pooled_rel_error
    );
    assert!(contrib_sum > 0.0);
}

#[test]
fn layer_summary_reproduces_the_published_routing_numbers() {
    // docs/bricks.md, layer 5, oracle router, 25%: co-activation bricks 0.166, random same
    // sizes 0.479 ± 0.007, weight k-means 0.278 (evaluation = odd windows).
    let dir = minilm_dir();
    let vocab = Vocab::load(&dir.join("vocab.txt")).unwrap();
    let heldout = load_heldout(&dir).unwrap();
    let p = AtlasParams::default();
    let la = layer_atlas(&dir, 5, &vocab, Some(&heldout), &p).unwrap();
    let ev = la.summary.evaluation;
    let r3 = |x: f64| (x * 1000.0).round() / 1000.0;
    assert_eq!(
        (r3(ev.bricks), r3(ev.random_mean), r3(ev.weight_kmeans)),
        (0.166, 0.479, 0.278)
    );
    assert_eq!(ev.tokens, 1536);
    // docs/bricks.md "Brick atlas": held-out documents 0.167 / 0.483 / 0.275; 5 of 32 bricks
    // with a significant top-context lift (199 random bricks, BH at 0.05).
    let h = la.summary.heldout.unwrap();
    assert_eq!(h.tokens, 1024);
    assert_eq!(
        (r3(h.bricks), r3(h.random_mean), r3(h.weight_kmeans)),
        (0.167, 0.483, 0.275)
    );
    assert_eq!(
        (la.summary.lift_significant, la.summary.lift_tested),
        (5, 32)
    );
    assert_eq!(
        la.summary.lift_significant,
        la.cards.iter().filter(|c| c.lift_significant).count()
    );
    assert_eq!(la.cards.len(), la.members.len());
    assert_eq!(la.summary.lift_tested, la.cards.len() - 1);
    assert!(la
        .cards
        .iter()
        .filter(|c| !c.set_aside)
        .all(|c| c.place.is_some()));
    let json = serde_json::to_value(&la).unwrap();
    assert!(json["tree"]["merges"].is_array() && json["cards"].is_array());
}

#[test]
fn atlas_params_name_the_bad_field() {
    for (p, field) in [
        (AtlasParams::default().budget(0.0), "AtlasParams.budget"),
        (AtlasParams::default().alpha(1.0), "AtlasParams.alpha"),
        (
            AtlasParams::default().random_bricks(0),
            "AtlasParams.random_bricks",
        ),
        (
            AtlasParams::default().lift_occurrences(0),
            "AtlasParams.lift_occurrences",
        ),
    ] {
        let e = p.validate().unwrap_err().to_string();
        assert!(e.contains(field), "{e}");
    }
}

#[test]
fn cards_are_reproducible_and_bad_input_is_named() {
    let s = setup();
    let p = AtlasParams::default()
        .random_bricks(3)
        .random_routing(1)
        .seed(7);
    let a = serde_json::to_string(&cards(&s, &p)).unwrap();
    let b = serde_json::to_string(&cards(&s, &p)).unwrap();
    assert_eq!(a, b);
    let short = &s.ids[..10];
    let inp = CardInput {
        ffn: &s.ffn,
        bricks: &s.bricks,
        tree: None,
        ev: &s.ev,
        ids: short,
        domain: &s.domain,
        window: &s.window,
        vocab: &s.vocab,
        degree: &[],
    };
    let e = brick_cards(&inp, &p).unwrap_err().to_string();
    assert!(e.contains("CardInput.ids"), "{e}");
}
