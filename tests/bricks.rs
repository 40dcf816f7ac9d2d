//! Brick tests on the shipped MiniLM layers (data/minilm-l6): exactness of the brick
//! decomposition, sub-FFN export, bad input, and routing quality on held-out tokens.

use neurobricks::activations::ffn::{load_inputs, FfnLayer};
use neurobricks::activations::TokenMatrix;
use neurobricks::bricks::baselines::{random_same_sizes, weight_kmeans};
use neurobricks::bricks::merge::{
    fold_layer, output_error, prune_layer, refit_output, FoldGrouping, FoldParams,
};
use neurobricks::bricks::route::{budget_neurons, firing_rate, route_and_evaluate, EvalSet};
use neurobricks::bricks::{Bricks, Cut, Router, RouterModel};
use neurobricks::experiments::minilm::{SplitLayer, Tokens};
use neurobricks::experiments::pipeline::{coactivation_bricks, CoactConfig};
use neurobricks::experiments::standin::standin_phi_bricks;
use neurobricks::hierarchy::{Dendrogram, HeightMap};
use std::path::{Path, PathBuf};

fn data(f: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/minilm-l6")
        .join(f)
}

fn layer(l: usize) -> (FfnLayer, TokenMatrix) {
    let p = data(&format!("layer{l}.safetensors"));
    (
        FfnLayer::load(&p).unwrap(),
        load_inputs(&p, "ffn_in").unwrap(),
    )
}

fn rel(a: &TokenMatrix, b: &TokenMatrix) -> f64 {
    let mut num = 0f64;
    let mut den = 0f64;
    for (x, y) in a.data.iter().zip(&b.data) {
        num += ((x - y) as f64).powi(2);
        den += (*y as f64).powi(2);
    }
    (num / den).sqrt()
}

#[test]
fn bricks_add_up_to_the_full_ffn_and_subffn_equals_masked_ffn() {
    for l in [2, 5] {
        let (ffn, x) = layer(l);
        let idx: Vec<usize> = (0..x.rows).step_by(7).collect();
        let x = x.select_rows(&idx);
        let bricks = weight_kmeans(&ffn, 16, 3).unwrap();
        let full = ffn.forward(&x).unwrap();
        let mut sum = TokenMatrix::zeros(x.rows, ffn.d_model);
        for t in 0..x.rows {
            sum.row_mut(t).copy_from_slice(&ffn.b_out);
        }
        for b in 0..bricks.len() {
            let y = bricks.sub_ffn(&ffn, b).unwrap().forward(&x).unwrap();
            for (s, v) in sum.data.iter_mut().zip(&y.data) {
                *s += v;
            }
        }
        let e = rel(&sum, &full);
        assert!(
            e < 1e-5,
            "layer {l}: bricks + b_out vs full FFN, relative {e}"
        );

        // A brick's sub-FFN equals the full FFN with every other neuron masked out.
        let a = ffn.activations(&x).unwrap();
        let b = 5;
        let mut masked = a.clone();
        let mut keep = vec![false; ffn.n_neurons];
        bricks.members[b]
            .iter()
            .for_each(|&i| keep[i as usize] = true);
        for t in 0..masked.rows {
            for (v, k) in masked.row_mut(t).iter_mut().zip(&keep) {
                if !k {
                    *v = 0.0;
                }
            }
        }
        let want = ffn.project(&masked).unwrap();
        let got = bricks.sub_ffn(&ffn, b).unwrap().forward(&x).unwrap();
        let e = rel(&got, &want);
        assert!(
            e < 1e-5,
            "layer {l}: brick {b} sub-FFN vs masked FFN, relative {e}"
        );
    }
}

#[test]
fn export_writes_readable_subffns() {
    let (ffn, _) = layer(5);
    let bricks =
        Bricks::from_labels(&(0..1536u32).map(|i| i % 3).collect::<Vec<_>>(), Some(2)).unwrap();
    let dir = std::env::temp_dir().join(format!("nb-bricks-export-{}", std::process::id()));
    bricks.export(&ffn, &dir).unwrap();
    let sub = FfnLayer::load(&dir.join("brick_001.safetensors"));
    // The brick file has no b_out (it belongs to the layer): a clear error, not a panic.
    assert!(sub.unwrap_err().to_string().contains("b_out"));
    let bytes = std::fs::read(dir.join("brick_001.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let w = st.tensor("w_in").unwrap();
    assert_eq!(w.shape(), &[512, 384]);
    let first = f32::from_le_bytes(w.data()[..4].try_into().unwrap());
    assert_eq!(first, ffn.w_in[(1, 0)]);
    let n = st.tensor("neurons").unwrap();
    assert_eq!(i64::from_le_bytes(n.data()[8..16].try_into().unwrap()), 4);
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("bricks.json")).unwrap()).unwrap();
    assert_eq!(index["bricks"][2]["set_aside"], true);
    assert_eq!(index["bricks"].as_array().unwrap().len(), 3);
    // Same bricks, same bytes: the metadata is written with sorted keys, not in the per-process
    // random order of a HashMap (each file's header has its own map, so all three files being in
    // order by chance has probability 1/216).
    for b in 0..3 {
        let bytes = std::fs::read(dir.join(format!("brick_{b:03}.safetensors"))).unwrap();
        let head = String::from_utf8_lossy(&bytes[8..120]).to_string();
        let want = format!(
            "{{\"__metadata__\":{{\"brick\":\"{b}\",\"n_neurons_layer\":\"1536\",\"set_aside\":\"{}\"}},",
            b == 2
        );
        assert!(head.starts_with(&want), "brick {b}: {head}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_input_gives_clear_errors() {
    let (ffn, x) = layer(5);
    // Weights from a layer of another width than the activations.
    let x_bad = TokenMatrix::zeros(4, 100);
    let e = ffn.activations(&x_bad).unwrap_err().to_string();
    assert!(e.contains("width d = 384"), "{e}");
    let wrong = EvalSet::new(&ffn, x.select_rows(&[0, 1])).unwrap();
    let small = ffn.select_neurons(&[0, 1, 2]);
    let e = small.project(&wrong.a).unwrap_err().to_string();
    assert!(
        e.contains("1536 neurons per token but the FFN layer has 3"),
        "{e}"
    );

    // A tree from another graph: node count differs, or ids are not neuron indices.
    let tree = |n: usize, f: &dyn Fn(usize) -> String| {
        let ids: Vec<String> = (0..n).map(f).collect();
        Dendrogram::from_tree(
            ids,
            vec![vec![0, 1, 2], vec![3, 4]],
            &[(0, 1, 0.5)],
            HeightMap::OneMinus,
            "t",
        )
        .unwrap()
    };
    let e = Bricks::from_dendrogram(&tree(1600, &|i| i.to_string()), 1536, Cut::Leaves)
        .unwrap_err()
        .to_string();
    assert!(e.contains("1600 nodes") && e.contains("1536"), "{e}");
    // A 10-node tree whose missing neurons are not the set-aside neurons of this layer.
    let e = Bricks::from_dendrogram_with_set_aside(
        &tree(10, &|i| i.to_string()),
        1536,
        Cut::Leaves,
        &[784],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("10 nodes")
            && e.contains("1 neurons are set aside")
            && e.contains("another graph"),
        "{e}"
    );
    let e = Bricks::from_dendrogram(&tree(1536, &|i| (2 * i).to_string()), 1536, Cut::Leaves)
        .unwrap_err()
        .to_string();
    assert!(e.contains("out of range"), "{e}");
    let ids: Vec<String> = (0..1536).map(|i| format!("n{i}")).collect();
    let t = Dendrogram::from_tree(
        ids,
        vec![vec![0, 1], vec![2]],
        &[(0, 1, 0.5)],
        HeightMap::OneMinus,
        "t",
    )
    .unwrap();
    let e = Bricks::from_dendrogram(&t, 1536, Cut::Leaves)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`n0` is not a neuron index"), "{e}");

    // Budgets outside (0, 1].
    for b in [0.0, -0.1, 1.5, f64::NAN] {
        let e = budget_neurons(b, 1536).unwrap_err().to_string();
        assert!(e.contains("budget") && e.contains("(0, 1]"), "{e}");
    }
    assert_eq!(budget_neurons(1.0, 1536).unwrap(), 1536);
    assert_eq!(budget_neurons(0.25, 1536).unwrap(), 384);
    let bricks = weight_kmeans(&ffn, 8, 0).unwrap();
    let m = RouterModel::fit(Router::Oracle, &bricks, &ffn, &[]).unwrap();
    let e = route_and_evaluate(&ffn, &bricks, &m, &wrong, 1.2)
        .unwrap_err()
        .to_string();
    assert!(e.contains("budget"), "{e}");
}

/// Acceptance: on layer 5, oracle routing with co-activation bricks (phi kNN graph on the even
/// windows + BottomUp) at a 25% budget has at most half the held-out error of random bricks with
/// the same sizes (mean of 5 seeds). The stand-in bricks pass the same bar.
#[test]
fn oracle_routing_with_coactivation_bricks_beats_random_bricks_on_layer5() {
    let (ffn, x) = layer(5);
    let tokens = Tokens::load(&data("tokens.safetensors")).unwrap();
    let split = SplitLayer::new(ffn, &x, &tokens).unwrap();
    let ffn = &split.ffn;
    let err = |b: &Bricks| {
        let m = RouterModel::fit(Router::Oracle, b, ffn, &[]).unwrap();
        route_and_evaluate(ffn, b, &m, &split.ev, 0.25).unwrap()
    };
    let cb = coactivation_bricks(&split.cal, &CoactConfig::default()).unwrap();
    let standin = standin_phi_bricks(&split.cal.a, &split.cal.contrib, 32, 0).unwrap();
    let standin = Bricks::from_dendrogram(&standin, 1536, Cut::Leaves).unwrap();
    for (name, bricks) in [("coactivation", &cb.bricks), ("stand-in", &standin)] {
        // 32 leaves + the set-aside brick, every neuron in exactly one brick. The stand-in sets
        // aside by the `a > 0` rule, so it holds the resident neuron 784 (layer 5 has no dead
        // neuron); the co-activation graph sets aside by its own (top-10% contribution) rule.
        assert_eq!(bricks.len(), 33, "{name}");
        assert_eq!(bricks.sizes().iter().sum::<usize>(), 1536, "{name}");
        if name == "stand-in" {
            let sa = bricks.set_aside.expect("a set-aside brick");
            assert!(bricks.members[sa].contains(&784), "{name}");
        }
        let ours = err(bricks);
        let rnd: Vec<f64> = (0..5)
            .map(|s| err(&random_same_sizes(bricks, s)).rel_error)
            .collect();
        let mean = rnd.iter().sum::<f64>() / 5.0;
        assert!(
            ours.rel_error <= 0.5 * mean,
            "{name}: bricks {} vs random {mean}",
            ours.rel_error
        );
        assert!(ours.neurons_used <= 0.25 + 1e-12);
        assert!((ours.recall - 1.0).abs() < 1e-12);
    }
    // The representative router (co-activation degrees) gives a valid recall and beats random.
    let m = RouterModel::fit(Router::Representative { m: 4 }, &cb.bricks, ffn, &cb.degree).unwrap();
    let r = route_and_evaluate(ffn, &cb.bricks, &m, &split.ev, 0.25).unwrap();
    assert!(r.recall > 0.0 && r.recall < 1.0, "{r:?}");
    let deg = firing_rate(&split.cal.a);
    assert_eq!(deg.len(), 1536);
}

#[test]
fn folding_keep_all_is_exact_and_refit_reduces_error() {
    let (ffn, x) = layer(5);
    let idx: Vec<usize> = (0..x.rows).step_by(3).collect();
    let cal = EvalSet::new(&ffn, x.select_rows(&idx)).unwrap();
    let bricks = weight_kmeans(&ffn, 8, 0).unwrap();
    let p = FoldParams { keep: 1.0, seed: 0 };
    let (f, groups) = fold_layer(&ffn, &bricks, FoldGrouping::Random, &cal.a, &p).unwrap();
    assert_eq!(groups.len(), 1536);
    assert!(output_error(&ffn, &f, &cal.x).unwrap().0 < 1e-10);
    let (p, kept) = prune_layer(&ffn, 768, &cal.contrib).unwrap();
    assert_eq!(kept.len(), 768);
    let target = ffn.project(&cal.a).unwrap();
    let r = refit_output(&p, &cal.x, &target, 1e-3).unwrap();
    let (e0, e1) = (
        output_error(&ffn, &p, &cal.x).unwrap().1,
        output_error(&ffn, &r, &cal.x).unwrap().1,
    );
    assert!(
        e1 < e0,
        "refit {e1} vs no refit {e0} on the calibration tokens"
    );
}

/// Pins the layer-5, 25%-budget rows of the routing table of `docs/bricks.md` (co-activation
/// bricks, random same sizes mean ± sd, weight k-means, oracle top neurons, static top neurons;
/// every router), to the three decimals published there.
#[test]
fn docs_bricks_layer5_25_percent_row_is_unchanged() {
    use neurobricks::experiments::minilm::MINILM_DOMAINS;
    use neurobricks::experiments::report::{evaluate_layer, BrickMethod, LayerInput, ReportParams};
    let (ffn, x) = layer(5);
    let tokens = Tokens::load(&data("tokens.safetensors")).unwrap();
    let split = SplitLayer::new(ffn, &x, &tokens).unwrap();
    let cb = coactivation_bricks(&split.cal, &CoactConfig::default()).unwrap();
    let p = ReportParams {
        budgets: vec![0.25],
        fold_keep: vec![],
        ..ReportParams::default()
    };
    let input = LayerInput {
        layer: 5,
        method: BrickMethod::Coactivation,
        split: &split,
        tree: &cb.dendrogram,
        degree: Some(&cb.degree),
        domains: &MINILM_DOMAINS,
    };
    let r = evaluate_layer(&input, &p).unwrap();
    let r3 = |v: f64| format!("{v:.3}");
    // router: co-activation, random mean, random sd, weight k-means, oracle top, static top.
    let want = [
        (
            Router::Oracle,
            ["0.166", "0.479", "0.007", "0.278", "0.037", "0.123"],
        ),
        (
            Router::OracleDensity,
            ["0.109", "0.357", "0.025", "0.188", "0.037", "0.123"],
        ),
        (
            Router::Centroid,
            ["0.145", "0.507", "0.025", "0.221", "0.037", "0.123"],
        ),
        (
            Router::Representative { m: 4 },
            ["0.208", "0.485", "0.043", "0.275", "0.037", "0.123"],
        ),
    ];
    assert_eq!(r.routing.len(), 4);
    for (router, w) in want {
        let row = r.routing.iter().find(|x| x.router == router).unwrap();
        let got = [
            r3(row.method.rel_error),
            r3(row.random_error_mean),
            r3(row.random_error_std),
            r3(row.weight_kmeans.rel_error),
            r3(row.oracle_topk.rel_error),
            r3(row.static_topk.rel_error),
        ];
        assert_eq!(got, w.map(String::from), "{router}");
    }
    // The specialisation row of layer 5 and the sibling merge at 25% (oracle_density, 25 bricks).
    assert_eq!(r3(r.specialisation.method_mean_top_ap), "0.356");
    assert_eq!(r3(r.specialisation.weight_kmeans_mean_top_ap), "0.326");
    let sm = r
        .sibling_merge
        .iter()
        .find(|m| m.router == Router::OracleDensity && m.bricks_after == 25)
        .unwrap();
    assert_eq!(
        [
            r3(sm.sibling.rel_error),
            r3(sm.random_error_mean),
            r3(sm.random_error_std)
        ],
        ["0.122", "0.134", "0.014"].map(String::from)
    );
}
