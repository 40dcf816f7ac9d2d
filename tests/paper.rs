//! The paper's theory and general trees through the `neurobricks` binary and the library:
//! `theory` reproduces the threshold table of the paper spec (section 4.5), `hsbm --tree`
//! samples the appendix trees with the block probabilities section 1.6 implies.

use neurobricks::hsbm::tree::Tree;
use std::path::{Path, PathBuf};
use std::process::Command;

fn nb() -> Command {
    Command::new(env!("CARGO_BIN_EXE_neurobricks"))
}

fn run_ok(args: &[&str]) -> String {
    let out = nb().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nb-paper-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn data(f: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/hsbm-trees")
        .join(f)
        .to_string_lossy()
        .into_owned()
}

/// The worked values of the spec's threshold table (d = 3), to 3 decimals, and the recoverable
/// depths they imply, from the printed table of `neurobricks theory`.
#[test]
fn theory_reproduces_the_threshold_table() {
    #[rustfmt::skip]
    let table: [(&str, [f64; 3], [f64; 3]); 6] = [
        ("40,50,60,100", [2.080, 1.129, 0.635], [1.510, 0.877, 0.635]),
        ("40,41,45,100", [1.709, 1.629, 1.354], [0.730, 1.115, 1.354]),
        ("40,42,46,100", [1.721, 1.560, 1.294], [0.792, 1.064, 1.294]),
        ("40,45,55,100", [1.874, 1.417, 0.835], [1.128, 1.097, 0.835]),
        ("40,50,55,100", [1.977, 1.087, 0.835], [1.377, 0.750, 0.835]),
        ("40,55,70,100", [2.508, 0.947, 0.333], [2.085, 0.813, 0.333]),
    ];
    for (a, ch, td) in table {
        let out = run_ok(&["theory", "--depth", "3", "--a", a]);
        let rows: Vec<Vec<&str>> = out
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(rows[0], ["m", "CH_m", "TD_m"], "{out}");
        for m in 0..3 {
            assert_eq!(rows[1 + m][0], m.to_string());
            assert_eq!(rows[1 + m][1], format!("{:.3}", ch[m]), "CH_{m} at a = {a}");
            assert_eq!(rows[1 + m][2], format!("{:.3}", td[m]), "TD_{m} at a = {a}");
        }
        assert_eq!(rows[5], ["depth", "bottom-up", "top-down"]);
        let mut bu = true;
        let mut tdn = true;
        for l in 1..=3 {
            bu &= ch[l - 1] > 1.0;
            tdn &= td[l - 1] > 1.0;
            let yn = |b: bool| if b { "yes" } else { "no" };
            assert_eq!(
                rows[5 + l],
                [l.to_string().as_str(), yn(bu), yn(tdn)],
                "{a}"
            );
        }
        // The JSON form carries the same numbers unrounded.
        let js: serde_json::Value =
            serde_json::from_str(&run_ok(&["theory", "--depth", "3", "--a", a, "--json"])).unwrap();
        for m in 0..3 {
            assert!((js["ch"][m].as_f64().unwrap() - ch[m]).abs() < 5e-4);
        }
    }
}

/// A general tree spec gives the same table as the closed form when it is a complete tree, and
/// bad input is an error naming the parameter.
#[test]
fn theory_on_tree_specs_and_bad_input() {
    let d = tmpdir("theory");
    let spec = d.join("btsbm.json");
    let t = Tree::complete(
        3,
        2,
        &[40., 50., 60., 100.],
        200,
        neurobricks::hsbm::tree::Scale::Log,
    )
    .unwrap();
    std::fs::write(&spec, t.to_json().to_string()).unwrap();
    let general = run_ok(&["theory", "--tree", spec.to_str().unwrap()]);
    let closed = run_ok(&["theory", "--depth", "3", "--a", "40,50,60,100"]);
    assert_eq!(general, closed);
    for f in ["appendix-example1.json", "appendix-example2.json"] {
        let out = run_ok(&["theory", "--tree", &data(f)]);
        assert!(
            out.contains("CH_m") && out.lines().count() == 1 + 5 + 1 + 1 + 5,
            "{out}"
        );
    }
    let out = nb()
        .args(["theory", "--depth", "3", "--a", "1,2"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--a"));
}

/// The appendix trees: the K x K block matrix rebuilt independently from the written tree
/// (section 1.6: leaves in node order, `p = a_{depth(lca)} ln N / N`, merged leaves with their
/// own depth's within-value) matches the empirical edge densities of a sampled graph within 4
/// standard deviations, block by block; the labels file has one column per depth.
#[test]
fn appendix_trees_have_the_implied_block_probabilities() {
    let dir = tmpdir("trees");
    // Section 1.6, written out by hand: (leaf depth) per leaf; LCA depths from the bracket form.
    let ex1 = "((((0 1)@3 ((2 3)@4 (4 5)@4)@3)@2 (((6 7)@4 (8 9)@4)@3 ((10 11)@4 (12 13)@4)@3)@2)@1 ((((14 15)@4 (16 17)@4)@3 ((18 19)@4 (20 21)@4)@3)@2 (((22 23)@4 (24 25)@4)@3 (26 27)@3)@2)@1)@0";
    let left =
        "(((0 1)@3 ((2 3)@4 (4 5)@4)@3)@2 (((6 7)@4 (8 9)@4)@3 ((10 11)@4 (12 13)@4)@3)@2)@1";
    let ex2 = format!("({left} (14 15)@1)@0");
    for (file, bracket, a_last, k, seed) in [
        (
            "appendix-example1.json",
            ex1.to_string(),
            64.0,
            28usize,
            11u64,
        ),
        ("appendix-example2.json", ex2, 144.0, 16, 12),
    ] {
        // Paths from the root to each leaf as a list of bracket positions.
        let mut stack: Vec<usize> = Vec::new();
        let mut paths: Vec<Vec<usize>> = vec![Vec::new(); k];
        let mut opened = 0usize;
        let mut chars = bracket.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '(' => {
                    stack.push(opened);
                    opened += 1;
                }
                ')' => {
                    stack.pop();
                    while chars
                        .peek()
                        .is_some_and(|c| *c == '@' || c.is_ascii_digit())
                    {
                        chars.next();
                    }
                }
                d if d.is_ascii_digit() => {
                    let mut s = d.to_string();
                    while chars.peek().is_some_and(|c| c.is_ascii_digit()) {
                        s.push(chars.next().unwrap());
                    }
                    paths[s.parse::<usize>().unwrap()] = stack.clone();
                }
                _ => {}
            }
        }
        let n_total = 3200.0f64;
        let level = |l: usize| a_last * 0.3f64.powi(5 - l as i32) * n_total.ln() / n_total;
        let size = |a: usize| 100usize << (5 - paths[a].len());
        let mut expect = vec![0.0; k * k];
        for a in 0..k {
            for b in 0..k {
                let common = paths[a]
                    .iter()
                    .zip(&paths[b])
                    .take_while(|(x, y)| x == y)
                    .count();
                // a == b: within-value of the leaf's own depth.
                let l = if a == b { paths[a].len() } else { common - 1 };
                expect[a * k + b] = level(l);
            }
        }
        assert_eq!((0..k).map(size).sum::<usize>(), 3200);

        let prefix = dir.join(file.trim_end_matches(".json"));
        let p = prefix.to_string_lossy().into_owned();
        let seed = seed.to_string();
        run_ok(&["hsbm", "--tree", &data(file), "--seed", &seed, "--out", &p]);
        let (g, _) = neurobricks::graph::read_edge_list(
            Path::new(&format!("{p}.edges.tsv")),
            &Default::default(),
        )
        .unwrap();
        let labels =
            neurobricks::graph::read_labels(Path::new(&format!("{p}.labels.tsv"))).unwrap();
        assert_eq!(labels.columns.len(), 5);
        // The last column numbers leaves in tree order = community ids of section 1.6.
        let leaf_of: std::collections::HashMap<&str, usize> = labels
            .node_ids
            .iter()
            .zip(&labels.codes[4])
            .map(|(s, &c)| (s.as_str(), labels.names[4][c as usize].parse().unwrap()))
            .collect();
        let mut sizes = vec![0usize; k];
        for &c in leaf_of.values() {
            sizes[c] += 1;
        }
        assert_eq!(sizes, (0..k).map(size).collect::<Vec<_>>());
        let mut cnt = vec![0f64; k * k];
        for (u, v, _) in g.edges() {
            let (a, b) = (leaf_of[g.ids()[u].as_str()], leaf_of[g.ids()[v].as_str()]);
            cnt[a * k + b] += 1.0;
            if a != b {
                cnt[b * k + a] += 1.0;
            }
        }
        let mut worst = 0f64;
        for a in 0..k {
            for b in a..k {
                let pairs = if a == b {
                    (size(a) * (size(a) - 1) / 2) as f64
                } else {
                    (size(a) * size(b)) as f64
                };
                let pe = expect[a * k + b];
                let z = (cnt[a * k + b] - pairs * pe) / (pairs * pe * (1.0 - pe)).sqrt();
                worst = worst.max(z.abs());
                assert!(z.abs() < 4.0, "{file} block ({a},{b}): z = {z}");
            }
        }
        eprintln!(
            "{file}: worst |z| over {} blocks = {worst:.2}",
            k * (k + 1) / 2
        );
    }
}

/// `hsbm --degree c --beta b`: the mean degree of the sampled graph is c (within 4 standard
/// deviations of the edge count), and the level ratio is beta.
#[test]
fn bounded_degree_generator_hits_the_expected_degree() {
    let dir = tmpdir("degree");
    for (c, seed) in [(5.0f64, 21u64), (20.0, 22)] {
        let p = dir.join(format!("g{seed}")).to_string_lossy().into_owned();
        let (cs, ss) = (c.to_string(), seed.to_string());
        run_ok(&[
            "hsbm", "--nodes", "1600", "--depth", "3", "--degree", &cs, "--beta", "0.3", "--seed",
            &ss, "--out", &p,
        ]);
        let (g, _) = neurobricks::graph::read_edge_list(
            Path::new(&format!("{p}.edges.tsv")),
            &Default::default(),
        )
        .unwrap();
        let m = g.num_edges() as f64;
        let expect = 1600.0 * c / 2.0;
        assert!(
            (m - expect).abs() < 4.0 * expect.sqrt(),
            "c = {c}: {m} edges, expected {expect}"
        );
    }
    let out = nb()
        .args([
            "hsbm", "--nodes", "16", "--depth", "3", "--degree", "100", "--beta", "0.3",
        ])
        .args(["--out", &dir.join("bad").to_string_lossy()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("degree"));
}

/// Power grid (spec 5.7.2): the authors' K estimate — informative eigenvalues of `L_rho` — lies
/// in 30-45 and equals the negative-eigenvalue count of `H(sqrt(rho))` (the count the default
/// `BottomUp` uses); bottom-up with that K has no inversions. Skipped when the shared data is
/// absent.
#[test]
fn power_grid_nonbacktracking_k_in_band() {
    let dir = neurobricks::experiments::shared_data_dir();
    if !dir.join("powergrid-ucte").exists() {
        eprintln!("SKIPPED: {} not found", dir.display());
        return;
    }
    let g = neurobricks::datasets::power_grid(&dir).unwrap();
    let est = neurobricks::spectral::nonbacktracking::estimate_k_nonbacktracking(
        &g,
        1000,
        &Default::default(),
    )
    .unwrap();
    assert!(est.converged, "{est:?}");
    assert!((est.rho.rho - 3.329).abs() < 5e-3, "{est:?}");
    assert!((30..=45).contains(&est.k_lrho), "{est:?}");
    assert_eq!(est.k_lrho, est.k_bethe);
    let fit = neurobricks::hierarchy::BottomUp::new()
        .k(Some(est.k_lrho))
        .seed(3)
        .fit(&g)
        .unwrap();
    assert_eq!(fit.dendrogram.inversions(), 0);
    // BottomUp with its defaults (the non-backtracking estimate, fixed r) finds the same K and
    // the same radius (the adaptive regulariser is measured on the power grid by
    // `examples/paper.rs`: minutes, too slow for a test).
    let fit = neurobricks::hierarchy::BottomUp::new()
        .seed(3)
        .fit(&g)
        .unwrap();
    assert_eq!(fit.info.k, est.k_lrho);
    // Another seed, another start vector: the same radius to the power iteration's tolerance.
    assert!((fit.info.rho.unwrap() - est.rho.rho).abs() < 1e-9);
    assert!(fit.info.k_estimated && fit.info.rho.is_some());
    assert_eq!(fit.dendrogram.inversions(), 0);
}

/// The two bottom-up variants: the default (K by `L_rho`; on unweighted graphs one fixed `r`,
/// on weighted ones the fixed-`r` or the `zeta_K` partition of higher modularity) and the
/// authors' full step (K by `L_rho`, per-eigenvector `r`).
fn variants() -> [(&'static str, neurobricks::hierarchy::BottomUp); 2] {
    use neurobricks::hierarchy::{BottomUp, Regulariser};
    [
        ("default", BottomUp::new()),
        (
            "adaptive r",
            BottomUp::new().regulariser(Regulariser::Adaptive),
        ),
    ]
}

/// High school (spec 5.7.1): bottom-up with K = 9, both variants (the default and the
/// adaptive step), reaches AMI >= 0.97 and accuracy >= 0.98 against the classes with both
/// ln(1 + count) and the authors' ln(count) weights, on several seeds, with no inversions (the
/// fixed `r` alone does not with ln(count): pinned), and the three groups of classes of one
/// specialisation (2BIO1-3, MP/MP*1/MP*2, PC/PC*) are each a subtree of the 9-leaf tree.
/// Skipped when the shared data is absent.
#[test]
fn high_school_both_weightings() {
    use neurobricks::metrics::tree::class_groups_as_subtrees;
    use neurobricks::metrics::{adjusted_mutual_info, matched_accuracy};
    let dir = neurobricks::experiments::shared_data_dir();
    if !dir.join("highschool-2013").exists() {
        eprintln!("SKIPPED: {} not found", dir.display());
        return;
    }
    let hs = neurobricks::datasets::high_school(&dir).unwrap();
    let (class, names) = hs.class_codes();
    let g_ln = hs.ln_count_graph().unwrap();
    // Pairs with one contact (weight ln 2 in the loader) weigh 0 in the authors' weighting.
    let single = hs
        .graph
        .edges()
        .filter(|e| (e.2 - 2f64.ln()).abs() < 1e-12)
        .count();
    assert!(single > 1500, "{single} single-contact pairs"); // spec: 1787 of 5818
    let (w1, w0): (f64, f64) = (
        g_ln.edges().map(|e| e.2).sum(),
        hs.graph.edges().map(|e| e.2).sum(),
    );
    assert!(w1 < w0, "ln(count) weighs {w1}, ln(1 + count) {w0}");
    // Edge by edge: the weight is ln(count), with count read back from ln(1 + count).
    assert!(g_ln.is_weighted());
    for ((u, v, w), (u0, v0, w0)) in g_ln.edges().zip(hs.graph.edges()) {
        assert_eq!((u, v), (u0, v0));
        assert!(
            (w - (w0.exp() - 1.0).round().ln()).abs() < 1e-12,
            "({u}, {v}): {w}"
        );
    }
    let groups: [&[&str]; 3] = [
        &["2BIO1", "2BIO2", "2BIO3"],
        &["MP", "MP*1", "MP*2"],
        &["PC", "PC*"],
    ];
    // The check can fail: a wrong group is not a subtree.
    let fit = neurobricks::hierarchy::BottomUp::new()
        .k(Some(9))
        .fit(&hs.graph)
        .unwrap();
    let wrong: [&[&str]; 2] = [&["2BIO1", "MP"], &["PC", "PSI*"]];
    assert_eq!(
        class_groups_as_subtrees(&fit.dendrogram, &class, &names, &wrong),
        0
    );
    let fixed = neurobricks::hierarchy::BottomUp::new()
        .regulariser(neurobricks::hierarchy::Regulariser::Fixed);
    let [default, adaptive] = variants();
    for (name, g) in [("ln(1+count)", &hs.graph), ("ln(count)", &g_ln)] {
        for (vname, bu) in [
            default.clone(),
            ("fixed r", fixed.clone()),
            adaptive.clone(),
        ] {
            for seed in 0..3 {
                let fit = bu.clone().k(Some(9)).seed(seed).fit(g).unwrap();
                let d = &fit.dendrogram;
                let pred = d.node_clusters(9).unwrap();
                let ami = adjusted_mutual_info(&class, &pred).unwrap();
                let acc = matched_accuracy(&class, &pred).unwrap();
                let subtrees = class_groups_as_subtrees(d, &class, &names, &groups);
                let info = &fit.info;
                eprintln!(
                    "{name} {vname} seed {seed}: AMI {ami:.3} accuracy {acc:.3}, {subtrees}/3 class groups, r {:.3}, chosen {:?}, modularity fixed {:?} zeta_K {:?}",
                    info.r, info.regulariser_chosen, info.modularity_fixed, info.modularity_zeta_k
                );
                if vname == "default" {
                    // The default chose by modularity between the two partitions (both weights
                    // are not all 1) and recorded it; with ln(count) the zeta_K partition wins.
                    let (qf, qz) = (
                        info.modularity_fixed.unwrap(),
                        info.modularity_zeta_k.unwrap(),
                    );
                    let want = if qz > qf {
                        neurobricks::hierarchy::Regulariser::ZetaK
                    } else {
                        neurobricks::hierarchy::Regulariser::Fixed
                    };
                    assert_eq!(info.regulariser_chosen, Some(want));
                    if name == "ln(count)" {
                        assert!(qz > qf, "{name} seed {seed}: {qz} <= {qf}");
                    }
                    assert_eq!(d.params["regulariser"], "auto");
                }
                if name == "ln(count)" && vname == "fixed r" {
                    // Known deviation (issue 16, docs/paper.md): the fixed r of the degree
                    // formula reaches AMI 0.949 / accuracy 0.976 on the authors' ln(count)
                    // weights; the default (by modularity) and the adaptive step hold the
                    // bounds there. Pinned so a change shows.
                    assert!(
                        ami > 0.9 && acc > 0.95,
                        "{name} {vname} seed {seed}: {ami} {acc}"
                    );
                } else {
                    assert!(
                        ami >= 0.97 && acc >= 0.98,
                        "{name} {vname} seed {seed}: {ami} {acc}"
                    );
                }
                assert_eq!(d.inversions(), 0);
                assert_eq!(subtrees, 3, "{name} {vname} seed {seed}");
            }
        }
    }
}

/// The authors' variant on the BTSBM acceptance points of `tests/clustering.rs` (other seeds):
/// at a = (40, 41, 45, 100) (CH_m > 1 at every depth) bottom-up is exact at every depth in at
/// least 9 of 10 graphs with either variant; at a = (40, 55, 70, 100) (CH_2 < 1) depth 3 is
/// exact in at most 3 of 10.
#[test]
fn btsbm_recovery_both_variants() {
    use neurobricks::hsbm::HsbmParams;
    use neurobricks::metrics::matched_accuracy;
    for (a, above) in [
        ([40.0, 41.0, 45.0, 100.0], true),
        ([40.0, 55.0, 70.0, 100.0], false),
    ] {
        for (vname, bu) in variants() {
            let mut exact = [0usize; 3];
            for seed in 101..111u64 {
                let h = HsbmParams::btsbm_log(3, 200, a.to_vec(), seed)
                    .generate()
                    .unwrap();
                let fit = bu.clone().k(Some(8)).seed(seed).fit(&h.graph).unwrap();
                assert_eq!(fit.dendrogram.inversions(), 0);
                for l in 1..=3 {
                    let pred = fit.dendrogram.node_clusters(1 << l).unwrap();
                    let acc = matched_accuracy(&h.labels_at_depth(l), &pred).unwrap();
                    exact[l - 1] += usize::from(acc == 1.0);
                }
            }
            eprintln!("a = {a:?}, {vname}: exact at depths 1/2/3 in {exact:?} of 10");
            if above {
                assert!(exact.iter().all(|&c| c >= 9), "{vname}: {exact:?}");
            } else {
                assert!(exact[0] >= 8 && exact[2] <= 3, "{vname}: {exact:?}");
            }
        }
    }
}

/// Bounded degree (spec 5.3, "check 16"): d = 3, N = 1600, beta = 0.3, K = 8 given, 20 graphs
/// per expected degree 5, 10, 20, 40 on seeds used nowhere else (80,000 + 100 c + s; the
/// document's table uses 7000 + 100 c + s). With the default bottom-up (the fixed r on these
/// unweighted graphs): tree recovery (tree correlation >= 0.9999) does not decrease with the
/// degree, and the sibling error `zeta(2)` is the largest error type at every degree (strictly,
/// where there are errors). At degree 5 the authors' adaptive step has a mean leaf accuracy at
/// least that of the fixed r (the acceptance of issue 16, on the same 20 graphs).
#[test]
fn bounded_degree_recovery_and_error_types() {
    use neurobricks::hierarchy::{BottomUp, Regulariser};
    use neurobricks::hsbm::tree::{bounded_degree_probs, Scale, Tree};
    use neurobricks::metrics::tree::tree_scores;
    use rayon::prelude::*;
    const GRAPHS: u64 = 20;
    let mut recovery = Vec::new();
    for c in [5u64, 10, 20, 40] {
        let p = bounded_degree_probs(3, 2, 1600, c as f64, 0.3).unwrap();
        let tree = Tree::complete(3, 2, &p, 200, Scale::P).unwrap();
        // Per graph: (recovered, zeta, leaf accuracy of the default, of the adaptive step).
        let runs: Vec<(bool, Vec<f64>, f64, Option<f64>)> = (0..GRAPHS)
            .into_par_iter()
            .map(|s| {
                let seed = 80_000 + 100 * c + s;
                let h = tree.generate(seed).unwrap();
                let score = |bu: BottomUp| {
                    let fit = bu.k(Some(8)).seed(seed).fit(&h.graph).unwrap();
                    assert_eq!(fit.dendrogram.inversions(), 0);
                    tree_scores(&tree, &h.leaf, &fit.dendrogram).unwrap()
                };
                let sc = score(BottomUp::new());
                let adaptive = (c == 5).then(|| {
                    score(BottomUp::new().regulariser(Regulariser::Adaptive)).level_accuracy[2]
                        .unwrap()
                });
                (
                    sc.recovered,
                    sc.zeta.clone(),
                    sc.level_accuracy[2].unwrap(),
                    adaptive,
                )
            })
            .collect();
        let g = GRAPHS as f64;
        let rec = runs.iter().filter(|r| r.0).count() as f64 / g;
        let zeta: Vec<f64> = (0..4)
            .map(|j| runs.iter().map(|r| r.1[j]).sum::<f64>() / g)
            .collect();
        let acc = runs.iter().map(|r| r.2).sum::<f64>() / g;
        eprintln!(
            "degree {c}: leaf accuracy {acc:.3}, tree recovery {rec:.2}, zeta(3..0) {:.3} {:.3} {:.3} {:.3}",
            zeta[3], zeta[2], zeta[1], zeta[0]
        );
        if zeta[..3].iter().sum::<f64>() > 0.0 {
            assert!(
                zeta[2] > zeta[1] && zeta[2] > zeta[0],
                "degree {c}: zeta {zeta:?}"
            );
        }
        if c == 5 {
            let ad = runs.iter().map(|r| r.3.unwrap()).sum::<f64>() / g;
            let wins = runs.iter().filter(|r| r.3.unwrap() > r.2).count();
            eprintln!("degree 5: mean leaf accuracy adaptive {ad:.4} vs fixed {acc:.4}, adaptive higher in {wins}/{GRAPHS}");
            assert!(ad >= acc, "degree 5: adaptive {ad} < fixed {acc}");
        }
        recovery.push(rec);
    }
    assert!(
        recovery.windows(2).all(|w| w[1] >= w[0]),
        "tree recovery by degree {recovery:?}"
    );
}
