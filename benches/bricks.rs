//! Benchmark of brick routing and error evaluation on the shipped MiniLM layer 5
//! (`data/minilm-l6/layer5.safetensors`, 1,536 calibration + 1,536 held-out tokens, 1,536 neurons).
//!
//! Run with `cargo bench --bench bricks` (plain `std::time`, median of `NB_BENCH_REPS` runs,
//! default 5). Prints one line per step: median wall time and tokens per second.

use neurobricks::activations::ffn::{load_inputs, FfnLayer};
use neurobricks::bricks::baselines::{random_same_sizes, weight_kmeans};
use neurobricks::bricks::route::{
    brick_masks, budget_neurons, evaluate_mask, firing_rate, route_and_evaluate, topk_masks,
    EvalSet,
};
use neurobricks::bricks::{Bricks, Cut, Router, RouterModel};
use neurobricks::experiments::minilm::{SplitLayer, Tokens};
use neurobricks::experiments::standin::standin_phi_bricks;
use std::path::Path;
use std::time::Instant;

fn time<T>(name: &str, reps: usize, tokens: usize, mut f: impl FnMut() -> T) -> T {
    let mut times = Vec::with_capacity(reps);
    let mut out = None;
    for _ in 0..reps {
        let t0 = Instant::now();
        out = Some(std::hint::black_box(f()));
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let med = times[times.len() / 2];
    println!(
        "{name:<52} {:>9.2} ms  {:>10.0} tokens/s",
        med * 1e3,
        tokens as f64 / med
    );
    out.unwrap()
}

fn main() {
    let reps: usize = std::env::var("NB_BENCH_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/minilm-l6");
    let layer = dir.join("layer5.safetensors");
    let ffn = FfnLayer::load(&layer).unwrap();
    let x = load_inputs(&layer, "ffn_in").unwrap();
    let tokens = Tokens::load(&dir.join("tokens.safetensors")).unwrap();
    println!(
        "bricks bench: layer 5, {} tokens x {} neurons x d {}, {reps} reps, rayon threads {}",
        x.rows,
        ffn.n_neurons,
        ffn.d_model,
        rayon::current_num_threads()
    );
    let split = time(
        "activations + contributions (both halves)",
        reps,
        x.rows,
        || SplitLayer::new(ffn.clone(), &x, &tokens).unwrap(),
    );
    let ev: &EvalSet = &split.ev;
    let t = ev.tokens();
    let tree = time("stand-in bricks (k = 32)", reps, t, || {
        standin_phi_bricks(&split.cal.a, &split.cal.contrib, 32, 0).unwrap()
    });
    let bricks = Bricks::from_dendrogram(&tree, ffn.n_neurons, Cut::Leaves).unwrap();
    time("weight k-means bricks (k = 33)", reps, t, || {
        weight_kmeans(&ffn, 33, 0).unwrap()
    });
    let deg = firing_rate(&split.cal.a);
    let budget = budget_neurons(0.25, ffn.n_neurons).unwrap();
    for router in [
        Router::Oracle,
        Router::Centroid,
        Router::Representative { m: 4 },
    ] {
        let model = RouterModel::fit(router, &bricks, &ffn, &deg).unwrap();
        let scores = time(
            &format!("score {} (per token, all bricks)", router.name()),
            reps,
            t,
            || model.scores(&bricks, ev),
        );
        time(
            &format!("select bricks at 25% ({})", router.name()),
            reps,
            t,
            || brick_masks(&bricks, &scores, budget),
        );
        time(
            &format!("route + evaluate at 25% ({})", router.name()),
            reps,
            t,
            || route_and_evaluate(&ffn, &bricks, &model, ev, 0.25).unwrap(),
        );
    }
    let mask = time("oracle top-k neuron masks at 25%", reps, t, || {
        topk_masks(ev, budget)
    });
    time("error evaluation of one mask (matmul)", reps, t, || {
        evaluate_mask(&ffn, ev, &mask, None).unwrap()
    });
    let rnd = random_same_sizes(&bricks, 0);
    let model = RouterModel::fit(Router::Oracle, &rnd, &ffn, &deg).unwrap();
    time(
        "random bricks: route + evaluate at 25% (oracle)",
        reps,
        t,
        || route_and_evaluate(&ffn, &rnd, &model, ev, 0.25).unwrap(),
    );
}
