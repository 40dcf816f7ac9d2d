//! Co-activation counting against a naive reference, file formats, shards, bad input, and
//! the MiniLM regression constants.

use neurobricks::activations::ffn::{load_inputs, FfnLayer};
use neurobricks::activations::{read_tensor_f32, ActivationSource, Activations, TokenMatrix};
use neurobricks::coactivation::{
    binarize_naive, Binarize, CoactivationParams, Kernel, PairCounts, Sparsify, Weight,
};
use neurobricks::util::rng_for;
use rand::Rng;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nb-coact-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[derive(Clone, Copy, Debug)]
enum Dt {
    F16,
    F32,
    F64,
}

/// Write a `.npy` of `[t, n]` row-major `vals` in the given dtype and order.
fn write_npy(path: &Path, t: usize, n: usize, vals: &[f32], dt: Dt, fortran: bool) {
    let descr = match dt {
        Dt::F16 => "<f2",
        Dt::F32 => "<f4",
        Dt::F64 => "<f8",
    };
    let dict = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': ({t}, {n}), }}",
        if fortran { "True" } else { "False" }
    );
    let mut h = dict.into_bytes();
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(b' ');
    }
    h.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((h.len() as u16).to_le_bytes());
    out.extend(h);
    let order: Vec<f32> = if fortran {
        (0..n)
            .flat_map(|j| (0..t).map(move |i| (i, j)))
            .map(|(i, j)| vals[i * n + j])
            .collect()
    } else {
        vals.to_vec()
    };
    for v in order {
        match dt {
            Dt::F16 => out.extend(half::f16::from_f32(v).to_le_bytes()),
            Dt::F32 => out.extend(v.to_le_bytes()),
            Dt::F64 => out.extend((v as f64).to_le_bytes()),
        }
    }
    std::fs::write(path, out).unwrap();
}

/// Write a safetensors file with the given tensors (name, dtype string, shape, f32 values).
fn write_safetensors(path: &Path, tensors: &[(&str, &str, Vec<usize>, Vec<f32>)]) {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, dt, shape, vals) in tensors {
        let start = data.len();
        for &v in vals {
            match *dt {
                "F16" => data.extend(half::f16::from_f32(v).to_le_bytes()),
                "BF16" => data.extend(half::bf16::from_f32(v).to_le_bytes()),
                "F32" => data.extend(v.to_le_bytes()),
                "I32" => data.extend((v as i32).to_le_bytes()),
                _ => unreachable!(),
            }
        }
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": dt, "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let mut h = serde_json::to_vec(&header).unwrap();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend(data);
    std::fs::write(path, out).unwrap();
}

/// Random activations on a grid of multiples of 1/8 in [-2, 2] (exact in f16 and bf16; with
/// many ties, which exercises the tie rules of topk and quantile).
fn random_acts(seed: u64, t: usize, n: usize, p_pos: f64) -> Vec<f32> {
    let mut rng = rng_for(seed, 7);
    (0..t * n)
        .map(|_| {
            let k: i32 = rng.random_range(1..=16);
            if rng.random::<f64>() < p_pos {
                k as f32 / 8.0
            } else {
                -(k as f32) / 8.0 + if rng.random::<bool>() { 0.0 } else { 0.125 }
            }
        })
        .collect()
}

fn rules(n: usize) -> Vec<Binarize> {
    vec![
        Binarize::Positive,
        Binarize::Threshold(0.5),
        Binarize::TopK(1 + n / 4),
        Binarize::TopKFraction(0.3),
        Binarize::Quantile(0.7),
    ]
}

fn reference(rule: Binarize, t: usize, n: usize, vals: &[f32]) -> PairCounts {
    PairCounts::naive(t, n, &binarize_naive(rule, t, n, vals))
}

fn count(p: &CoactivationParams, src: &dyn ActivationSource) -> neurobricks::Result<PairCounts> {
    Ok(p.count(src, None, &mut |_| {})?.0)
}

#[test]
fn counts_equal_naive_reference_for_every_rule_dtype_and_order() {
    let dir = tmpdir("prop");
    let mut case = 0;
    for seed in 0..6u64 {
        let mut rng = rng_for(seed, 1);
        let t = rng.random_range(1..300);
        let n = rng.random_range(1..45);
        let p_pos = [0.02, 0.3, 0.7][seed as usize % 3];
        let vals = random_acts(seed, t, n, p_pos);
        for rule in rules(n) {
            let want = reference(rule, t, n, &vals);
            for dt in [Dt::F16, Dt::F32, Dt::F64] {
                for fortran in [false, true] {
                    case += 1;
                    let path = dir.join(format!("a{case}.npy"));
                    write_npy(&path, t, n, &vals, dt, fortran);
                    let src = Activations::open(&[path], None).unwrap();
                    let kernel = [Kernel::Auto, Kernel::Dense, Kernel::Sparse][case % 3];
                    let chunk = rng.random_range(1..100);
                    let params = CoactivationParams::default()
                        .binarize(rule)
                        .kernel(kernel)
                        .chunk_tokens(chunk);
                    let got = count(&params, &src).unwrap();
                    assert_eq!(
                        got, want,
                        "rule {rule} dtype {dt:?} fortran {fortran} kernel {kernel:?} t {t} n {n} chunk {chunk}"
                    );
                }
            }
        }
    }
}

/// Two row-major f16 shards (the half-precision path: rows decoded in cache) count exactly as
/// the same values in memory as f32, with per-domain counts, across shard and block boundaries.
#[test]
fn f16_shards_with_domains_count_like_f32_in_memory() {
    let dir = tmpdir("f16shards");
    let (t1, t2, n) = (5000, 3100, 29);
    let vals = random_acts(21, t1 + t2, n, 0.3);
    let (a, b) = (dir.join("s1.npy"), dir.join("s2.npy"));
    write_npy(&a, t1, n, &vals[..t1 * n], Dt::F16, false);
    write_npy(&b, t2, n, &vals[t1 * n..], Dt::F16, false);
    let shards = Activations::open(&[a, b], None).unwrap();
    assert!(
        shards.f16_chunks(64).unwrap().is_some(),
        "the half-precision path is taken"
    );
    let mem = TokenMatrix::new(t1 + t2, n, vals).unwrap();
    assert!(mem.f16_chunks(64).unwrap().is_none());
    let labels: Vec<u32> = (0..t1 + t2).map(|t| (t * 7 % 3) as u32).collect();
    for rule in [
        Binarize::Positive,
        Binarize::TopK(4),
        Binarize::Threshold(0.5),
    ] {
        let p = CoactivationParams::default()
            .binarize(rule)
            .chunk_tokens(777);
        let got = p.count(&shards, Some((&labels, 3)), &mut |_| {}).unwrap();
        let want = p.count(&mem, Some((&labels, 3)), &mut |_| {}).unwrap();
        assert_eq!(got, want, "{rule}");
    }
}

#[test]
fn counts_cross_block_boundaries_exactly() {
    // More than one 4096-token block, with both kernels and an odd chunk size.
    let (t, n) = (9000, 37);
    let vals = random_acts(11, t, n, 0.25);
    for rule in [
        Binarize::Positive,
        Binarize::TopK(3),
        Binarize::Quantile(0.95),
    ] {
        let want = reference(rule, t, n, &vals);
        let src = TokenMatrix::new(t, n, vals.clone()).unwrap();
        for kernel in [Kernel::Dense, Kernel::Sparse] {
            let params = CoactivationParams::default()
                .binarize(rule)
                .kernel(kernel)
                .chunk_tokens(1000);
            assert_eq!(count(&params, &src).unwrap(), want, "{rule} {kernel:?}");
        }
    }
}

#[test]
fn safetensors_f16_bf16_f32_count_like_the_reference() {
    let dir = tmpdir("st");
    let (t, n) = (130, 21);
    let vals = random_acts(3, t, n, 0.4);
    for dt in ["F16", "BF16", "F32"] {
        let path = dir.join(format!("a_{dt}.safetensors"));
        write_safetensors(
            &path,
            &[
                ("other", "F32", vec![2], vec![1.0, 2.0]),
                ("acts", dt, vec![t, n], vals.clone()),
            ],
        );
        let src = Activations::open(std::slice::from_ref(&path), Some("acts")).unwrap();
        for rule in rules(n) {
            let params = CoactivationParams::default()
                .binarize(rule)
                .chunk_tokens(17);
            assert_eq!(
                count(&params, &src).unwrap(),
                reference(rule, t, n, &vals),
                "{dt} {rule}"
            );
        }
        let (shape, back) = read_tensor_f32(&path, "acts").unwrap();
        assert_eq!(shape, vec![t, n]);
        assert_eq!(back, vals);
    }
}

#[test]
fn shards_in_one_run_and_merged_counts_equal_one_run_over_all_tokens() {
    let dir = tmpdir("shards");
    let (t, n) = (500, 30);
    let vals = random_acts(5, t, n, 0.3);
    let cuts = [0, 123, 124, 500];
    let mut paths = Vec::new();
    for k in 0..3 {
        let (a, b) = (cuts[k], cuts[k + 1]);
        let p = dir.join(format!("s{k}.npy"));
        write_npy(&p, b - a, n, &vals[a * n..b * n], Dt::F32, k == 1);
        paths.push(p);
    }
    for rule in rules(n) {
        let want = reference(rule, t, n, &vals);
        let params = CoactivationParams::default()
            .binarize(rule)
            .chunk_tokens(50);
        let all = Activations::open(&paths, None).unwrap();
        assert_eq!(count(&params, &all).unwrap(), want, "{rule} one run");
        if rule.is_additive() {
            let mut merged: Option<PairCounts> = None;
            for (k, p) in paths.iter().enumerate() {
                let c = count(
                    &params,
                    &Activations::open(std::slice::from_ref(p), None).unwrap(),
                )
                .unwrap();
                // Through the file format as well.
                let cp = dir.join(format!("c{k}.npy"));
                c.write_npy(&cp, &rule.to_string(), &[]).unwrap();
                let (c2, meta) = PairCounts::read_npy(&cp).unwrap();
                assert_eq!(c2, c);
                assert_eq!(meta.binarize, rule.to_string());
                match merged.as_mut() {
                    None => merged = Some(c2),
                    Some(m) => m.add(&c2).unwrap(),
                }
            }
            assert_eq!(merged.unwrap(), want, "{rule} merged");
        }
    }
}

#[test]
fn graph_weights_and_sparsification() {
    let syn = neurobricks::coactivation::synthetic::SyntheticParams::default()
        .tokens(2000)
        .group_size(10)
        .generate()
        .unwrap();
    let src = &syn.activations;
    for w in [Weight::Count, Weight::Jaccard, Weight::Npmi, Weight::Phi] {
        let params = CoactivationParams::default()
            .weight(w)
            .sparsify(Sparsify::Knn(3));
        let out = params.fit(src).unwrap();
        let g = &out.graph;
        assert_eq!(g.n(), 80);
        // Every node keeps at least its 3 strongest neighbours (union => degree >= 3).
        for i in 0..g.n() {
            assert!(g.neighbors(i).0.len() >= 3, "{w}");
        }
        for (u, v, x) in g.edges() {
            let (i, j) = (out.report.kept[u], out.report.kept[v]);
            let c = &out.counts;
            let want = w.value(c.n_ij(i, j), c.n_i(i), c.n_i(j), c.tokens());
            assert!(x > 0.0 && (x - want).abs() < 1e-12);
        }
    }
    // Significance keeps exactly the pairs with phi above the Bonferroni threshold.
    let params = CoactivationParams::default().sparsify(Sparsify::Significance(0.01));
    let out = params.fit(src).unwrap();
    let th = out.report.phi_threshold.unwrap();
    let m = 80.0 * 79.0 / 2.0;
    let z = neurobricks::coactivation::normal_upper_quantile(0.01 / m);
    assert!((th - z / 2000f64.sqrt()).abs() < 1e-15);
    let c = &out.counts;
    let mut expected = 0;
    for i in 0..80 {
        for j in i + 1..80 {
            if Weight::Phi.value(c.n_ij(i, j), c.n_i(i), c.n_i(j), c.tokens()) > th {
                expected += 1;
            }
        }
    }
    assert_eq!(out.report.edges, expected);
    // Threshold on jaccard.
    let params = CoactivationParams::default()
        .weight(Weight::Jaccard)
        .sparsify(Sparsify::Threshold(0.3));
    let out = params.fit(src).unwrap();
    assert!(out.graph.edges().all(|(_, _, x)| x >= 0.3));
}

#[test]
fn dead_and_resident_neurons_are_set_aside() {
    let (t, n) = (100, 4);
    let mut vals = vec![-1.0f32; t * n];
    for r in 0..t {
        vals[r * n] = 1.0; // neuron 0 always on: resident
        vals[r * n + 1] = if r % 2 == 0 { 1.0 } else { -1.0 };
        vals[r * n + 2] = if r % 3 == 0 { 1.0 } else { -1.0 };
        // neuron 3 never on: dead
    }
    let src = TokenMatrix::new(t, n, vals).unwrap();
    let out = CoactivationParams::default().fit(&src).unwrap();
    assert_eq!(out.report.dead, vec![3]);
    assert_eq!(out.report.resident, vec![0]);
    assert_eq!(out.report.kept, vec![1, 2]);
    assert_eq!(out.graph.ids(), &["1".to_string(), "2".to_string()]);
}

fn layer(l: usize) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("data/minilm-l6/layer{l}.safetensors"))
}

#[test]
fn ffn_recompute_matches_minilm_regression_constants() {
    let cases = [
        (
            2,
            [
                -0.02325846,
                -0.09156494,
                -0.02319171,
                -0.16973521,
                -0.00988846,
            ],
            0.190577,
            10,
            0,
        ),
        (
            5,
            [
                -0.15000851,
                0.10375404,
                -0.16989918,
                -0.16920906,
                0.06991228,
            ],
            0.283548,
            0,
            1,
        ),
    ];
    for (l, first5, frac, dead, resident) in cases {
        let (f, src) = FfnLayer::read_activations(&layer(l)).unwrap();
        assert_eq!((src.rows, f.d_model, f.n_neurons), (3072, 384, 1536));
        let a = &src.data;
        for k in 0..5 {
            assert!(
                (a[k] - first5[k]).abs() < 1e-5,
                "layer {l}: {} vs {}",
                a[k],
                first5[k]
            );
        }
        let pos = a.iter().filter(|&&x| x > 0.0).count() as f64 / a.len() as f64;
        assert!((pos - frac).abs() < 1e-4, "layer {l}: {pos}");
        let out = CoactivationParams::default().fit(&src).unwrap();
        assert_eq!(out.report.dead.len(), dead, "layer {l}");
        assert_eq!(out.report.resident.len(), resident, "layer {l}");
        if l == 5 {
            assert_eq!(out.report.resident, vec![784]);
        }
    }
}

// ---------- CLI: bad input gives a clear error and no output file ----------

fn cli(args: &[&str]) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_neurobricks"))
        .arg("coactivation")
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn assert_fails(dir: &Path, args: &[&str], expect: &[&str]) {
    let out = dir.join("g.tsv");
    let _ = std::fs::remove_file(&out);
    let mut all = args.to_vec();
    let o = out.to_str().unwrap().to_string();
    all.extend(["--out", &o]);
    let (ok, err) = cli(&all);
    assert!(!ok, "{args:?} should fail");
    for e in expect {
        assert!(err.contains(e), "{args:?}: stderr `{err}` lacks `{e}`");
    }
    assert!(!out.exists(), "{args:?} left an output file");
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| f.starts_with("g.tsv") || f.starts_with(".g.tsv"))
        .collect();
    assert!(left.is_empty(), "{args:?} left {left:?}");
}

#[test]
fn bad_input_is_a_clear_error_without_output() {
    let dir = tmpdir("bad");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let good = dir.join("good.npy");
    write_npy(&good, 10, 4, &random_acts(1, 10, 4, 0.5), Dt::F32, false);

    // Wrong dtype (int32 npy).
    let ints = dir.join("ints.npy");
    let mut b = std::fs::read(&good).unwrap();
    let pos = b.windows(3).position(|w| w == b"<f4").unwrap();
    b[pos..pos + 3].copy_from_slice(b"<i4");
    std::fs::write(&ints, &b).unwrap();
    assert_fails(&dir, &["--activations", &s(&ints)], &["ints.npy", "float"]);

    // 1-D and 3-D arrays.
    let one = dir.join("one.npy");
    let text = String::from_utf8_lossy(&std::fs::read(&good).unwrap()).into_owned();
    let _ = text;
    let mut b1 = std::fs::read(&good).unwrap();
    let p1 = b1.windows(7).position(|w| w == b"(10, 4)").unwrap();
    b1[p1..p1 + 7].copy_from_slice(b"(40,)  ");
    std::fs::write(&one, &b1).unwrap();
    assert_fails(
        &dir,
        &["--activations", &s(&one)],
        &["one.npy", "2-D", "1-D"],
    );
    let three = dir.join("three.npy");
    let mut b3 = std::fs::read(&good).unwrap();
    b3[p1..p1 + 7].copy_from_slice(b"(2,5,4)");
    std::fs::write(&three, &b3).unwrap();
    assert_fails(&dir, &["--activations", &s(&three)], &["three.npy", "3-D"]);

    // A header whose shape overflows.
    let huge = dir.join("huge.npy");
    let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (10000000000, 10000000000), }";
    let mut hb = b"\x93NUMPY\x01\x00".to_vec();
    hb.extend((dict.len() as u16).to_le_bytes());
    hb.extend(dict.as_bytes());
    std::fs::write(&huge, &hb).unwrap();
    assert_fails(
        &dir,
        &["--activations", &s(&huge)],
        &["huge.npy", "too large"],
    );

    // Truncated file.
    let trunc = dir.join("trunc.npy");
    let bt = std::fs::read(&good).unwrap();
    std::fs::write(&trunc, &bt[..bt.len() - 9]).unwrap();
    assert_fails(
        &dir,
        &["--activations", &s(&trunc)],
        &["trunc.npy", "truncated"],
    );

    // NaN and infinity, named by token row (Fortran order: decoded to f32; C order: the
    // half-precision path, checked on the bits).
    for (name, bad, fortran) in [
        ("nan.npy", f32::NAN, true),
        ("inf.npy", f32::INFINITY, true),
        ("nan_c.npy", f32::NAN, false),
        ("ninf_c.npy", f32::NEG_INFINITY, false),
    ] {
        let p = dir.join(name);
        let mut v = random_acts(2, 10, 4, 0.5);
        v[7 * 4 + 2] = bad;
        write_npy(&p, 10, 4, &v, Dt::F16, fortran);
        assert_fails(
            &dir,
            &["--activations", &s(&p)],
            &[name, "token row 7", "neuron 2"],
        );
    }

    // Shards with different neuron counts: both files named.
    let other = dir.join("five.npy");
    write_npy(&other, 10, 5, &random_acts(1, 10, 5, 0.5), Dt::F32, false);
    assert_fails(
        &dir,
        &["--activations", &s(&good), &s(&other)],
        &["good.npy", "five.npy", "4", "5"],
    );

    // Missing tensor name: the available ones are listed.
    let st = dir.join("a.safetensors");
    write_safetensors(
        &st,
        &[("acts", "F32", vec![10, 4], random_acts(1, 10, 4, 0.5))],
    );
    assert_fails(
        &dir,
        &["--activations", &s(&st), "--tensor", "nope"],
        &["a.safetensors", "nope", "available: acts"],
    );
    // Unsupported safetensors dtype.
    let sti = dir.join("i.safetensors");
    write_safetensors(&sti, &[("acts", "I32", vec![10, 4], vec![1.0; 40])]);
    assert_fails(
        &dir,
        &["--activations", &s(&sti), "--tensor", "acts"],
        &["i.safetensors", "float"],
    );

    // Domains file of the wrong length: file and both counts named.
    let dom = dir.join("dom.txt");
    std::fs::write(&dom, "a\nb\na\n").unwrap();
    assert_fails(
        &dir,
        &["--activations", &s(&good), "--domains", &s(&dom)],
        &["dom.txt", "3 domain labels", "10 tokens"],
    );

    // Bad rules.
    assert_fails(
        &dir,
        &["--activations", &s(&good), "--binarize", "topk:9"],
        &["--binarize", "topk:9"],
    );
    assert_fails(
        &dir,
        &["--activations", &s(&good), "--binarize", "median"],
        &["--binarize"],
    );
    assert_fails(
        &dir,
        &["--activations", &s(&good), "--weight", "cosine"],
        &["--weight"],
    );
    assert_fails(
        &dir,
        &["--activations", &s(&good), "--sparsify", "knn:x"],
        &["--sparsify"],
    );

    // And the good file works, writing the graph and its side files.
    let out = dir.join("g.tsv");
    let (ok, err) = cli(&[
        "--activations",
        &s(&good),
        "--sparsify",
        "none",
        "--out",
        &s(&out),
    ]);
    assert!(ok, "{err}");
    assert!(out.exists());
    assert!(dir.join("g.tsv.setaside.tsv").exists());
    assert!(dir.join("g.tsv.neurons.tsv").exists());
}

#[test]
fn cli_counts_merge_equals_one_run() {
    let dir = tmpdir("merge");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (t, n) = (300, 25);
    let vals = random_acts(9, t, n, 0.3);
    let a = dir.join("a.npy");
    let b = dir.join("b.npy");
    write_npy(&a, 120, n, &vals[..120 * n], Dt::F16, false);
    write_npy(&b, 180, n, &vals[120 * n..], Dt::F64, true);
    let run = |args: &[&str]| {
        let (ok, err) = cli(args);
        assert!(ok, "{args:?}: {err}");
    };
    let (ga, gb, gall, gm) = (
        dir.join("ga.tsv"),
        dir.join("gb.tsv"),
        dir.join("all.tsv"),
        dir.join("m.tsv"),
    );
    let (ca, cb) = (dir.join("ca.npy"), dir.join("cb.npy"));
    run(&[
        "--activations",
        &s(&a),
        "--binarize",
        "topk:5",
        "--counts-out",
        &s(&ca),
        "--out",
        &s(&ga),
    ]);
    run(&[
        "--activations",
        &s(&b),
        "--binarize",
        "topk:5",
        "--counts-out",
        &s(&cb),
        "--out",
        &s(&gb),
    ]);
    run(&[
        "--activations",
        &s(&a),
        &s(&b),
        "--binarize",
        "topk:5",
        "--weight",
        "npmi",
        "--out",
        &s(&gall),
    ]);
    run(&[
        "--counts",
        &s(&ca),
        &s(&cb),
        "--weight",
        "npmi",
        "--out",
        &s(&gm),
    ]);
    assert_eq!(std::fs::read(&gall).unwrap(), std::fs::read(&gm).unwrap());
    // Counts of different rules are not added.
    let cq = dir.join("cq.npy");
    run(&[
        "--activations",
        &s(&b),
        "--binarize",
        "positive",
        "--counts-out",
        &s(&cq),
        "--out",
        &s(&gb),
    ]);
    assert_fails(&dir, &["--counts", &s(&ca), &s(&cq)], &["different rules"]);
}

#[test]
fn synthetic_graph_edges_follow_the_planted_groups() {
    let syn = neurobricks::coactivation::synthetic::SyntheticParams::default()
        .generate()
        .unwrap();
    assert_eq!(syn.labels.len(), 2);
    assert_eq!(syn.activations.neurons(), 320);
    for (binarize, weight) in [
        (Binarize::Positive, Weight::Phi),
        (Binarize::TopK(60), Weight::Jaccard),
        (Binarize::Quantile(0.8), Weight::Npmi),
    ] {
        let out = CoactivationParams::default()
            .binarize(binarize)
            .weight(weight)
            .sparsify(Sparsify::Knn(10))
            .fit(&syn.activations)
            .unwrap();
        let leaf = &syn.labels[1];
        let kept = &out.report.kept;
        let (mut within, mut total) = (0, 0);
        for (u, v, _) in out.graph.edges() {
            total += 1;
            within += (leaf[kept[u]] == leaf[kept[v]]) as usize;
        }
        let frac = within as f64 / total as f64;
        assert!(frac > 0.95, "{binarize}/{weight}: {frac}");
    }
}

#[test]
fn read_tensor_f32_reorders_fortran_arrays_and_reports_names() {
    let dir = tmpdir("tensor");
    let (t, n) = (5, 3);
    let vals: Vec<f32> = (0..t * n).map(|x| x as f32).collect();
    for (k, fortran) in [false, true].into_iter().enumerate() {
        let p = dir.join(format!("m{k}.npy"));
        write_npy(&p, t, n, &vals, Dt::F64, fortran);
        let (shape, back) = read_tensor_f32(&p, "ignored").unwrap();
        assert_eq!(shape, vec![t, n]);
        assert_eq!(back, vals, "fortran {fortran}");
    }
    let st = dir.join("w.safetensors");
    write_safetensors(
        &st,
        &[
            ("b", "F32", vec![2], vec![1.0, 2.0]),
            ("a", "F16", vec![1], vec![3.0]),
        ],
    );
    let e = read_tensor_f32(&st, "c").unwrap_err().to_string();
    assert!(
        e.contains("w.safetensors") && e.contains("available: a, b"),
        "{e}"
    );
    // The FFN reader names the missing tensor too.
    let e = FfnLayer::read_activations(&st).unwrap_err().to_string();
    assert!(e.contains("ffn_in"), "{e}");
}

#[test]
fn ffn_pre_activations_match_a_direct_dot_product() {
    let f = FfnLayer::load(&layer(2)).unwrap();
    let x = load_inputs(&layer(2), "ffn_in").unwrap();
    let z = f.pre_activations(&x).unwrap();
    for &(t, i) in &[(0usize, 0usize), (17, 1000), (3071, 1535), (1500, 244)] {
        let dot: f64 = (0..f.d_model)
            .map(|j| x.row(t)[j] as f64 * f.w_in[(i, j)] as f64)
            .sum::<f64>()
            + f.b_in[i] as f64;
        assert!((z.row(t)[i] as f64 - dot).abs() < 1e-4, "({t}, {i})");
    }
}
