//! End-to-end tests of the `neurobricks` binary: the HSBM round trip through every subcommand,
//! JSON output, exports accepted by SciPy (when Python with SciPy is available), and bad input
//! giving a clear error, a non-zero exit code and no output file.

use std::path::{Path, PathBuf};
use std::process::Command;

fn nb() -> Command {
    Command::new(env!("CARGO_BIN_EXE_neurobricks"))
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nb-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
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

/// Run a command that must fail; returns stderr. No file may appear at `must_not_exist`.
fn run_err(args: &[&str], must_not_exist: &Path) -> String {
    let out = nb().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    assert!(
        !must_not_exist.exists(),
        "{args:?} left {}",
        must_not_exist.display()
    );
    let dir = must_not_exist.parent().unwrap();
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.contains(".tmp"), "temporary file {name} left behind");
    }
    err
}

#[test]
fn hsbm_cluster_cut_evaluate_export_round_trip() {
    let d = tmpdir("rt");
    let p = |f: &str| d.join(f).to_string_lossy().into_owned();
    run_ok(&[
        "hsbm",
        "--nodes",
        "800",
        "--depth",
        "2",
        "--a",
        "10,20,60",
        "--seed",
        "3",
        "--out",
        &p("g"),
    ]);
    let labels = std::fs::read_to_string(d.join("g.labels.tsv")).unwrap();
    assert!(labels.starts_with("node\tdepth1\tdepth2\n"));
    run_ok(&[
        "cluster",
        "--graph",
        &p("g.edges.tsv"),
        "--k",
        "4",
        "--seed",
        "1",
        "--out",
        &p("t.json"),
    ]);
    run_ok(&[
        "cut",
        "--tree",
        &p("t.json"),
        "--k",
        "2,4",
        "--out",
        &p("parts.tsv"),
    ]);
    let parts = std::fs::read_to_string(d.join("parts.tsv")).unwrap();
    assert!(parts.starts_with("node\tk2\tk4\n"));
    assert_eq!(parts.lines().count(), 801);
    let json = run_ok(&[
        "evaluate",
        "--pred",
        &p("parts.tsv"),
        "--truth",
        &p("g.labels.tsv"),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let levels = v["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 2);
    assert_eq!(levels[0]["pred"], "k2");
    assert_eq!(levels[1]["truth"], "depth2");
    for l in levels {
        assert_eq!(l["exact"], true, "{l}");
        assert_eq!(l["ari"], 1.0);
        for key in ["ami", "nmi", "accuracy"] {
            assert!(l[key].as_f64().unwrap() > 0.999);
        }
    }
    let text = run_ok(&[
        "evaluate",
        "--pred",
        &p("parts.tsv"),
        "--truth",
        &p("g.labels.tsv"),
    ]);
    assert!(text.contains("k4") && text.contains("depth2"));
    // K estimated, top-down, and the exports.
    run_ok(&[
        "cluster",
        "--graph",
        &p("g.edges.tsv"),
        "--out",
        &p("e.json"),
    ]);
    let e: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("e.json")).unwrap()).unwrap();
    assert_eq!(e["num_leaves"], 4, "estimated K");
    assert_eq!(e["method"], "bottom-up");
    assert_eq!(e["inversions"], 0);
    run_ok(&[
        "cluster",
        "--graph",
        &p("g.edges.tsv"),
        "--method",
        "top-down",
        "--out",
        &p("td.json"),
    ]);
    for (fmt, f) in [
        ("scipy", "z.npy"),
        ("newick", "t.nwk"),
        ("json", "copy.json"),
    ] {
        run_ok(&[
            "export",
            "--tree",
            &p("t.json"),
            "--format",
            fmt,
            "--out",
            &p(f),
        ]);
    }
    let same = std::fs::read_to_string(d.join("copy.json")).unwrap()
        == std::fs::read_to_string(d.join("t.json")).unwrap();
    assert!(same, "JSON export is not a lossless round trip");
    assert!(std::fs::read_to_string(d.join("t.nwk"))
        .unwrap()
        .trim_end()
        .ends_with(';'));
    run_ok(&[
        "export",
        "--tree",
        &p("td.json"),
        "--format",
        "scipy",
        "--out",
        &p("ztd.npy"),
    ]);
    scipy_accepts(&[d.join("z.npy"), d.join("ztd.npy")]);
    std::fs::remove_dir_all(&d).unwrap();
}

/// `scipy.cluster.hierarchy.is_valid_linkage` on the exported matrices, when Python has SciPy.
fn scipy_accepts(files: &[PathBuf]) {
    let code = "import sys, numpy as np\nfrom scipy.cluster.hierarchy import is_valid_linkage\nfor f in sys.argv[1:]:\n    assert is_valid_linkage(np.load(f), throw=True), f\nprint('ok')";
    let out = Command::new("python3")
        .arg("-c")
        .arg(code)
        .args(files)
        .output();
    match out {
        Ok(o) if o.status.success() => assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "ok"),
        Ok(o) if String::from_utf8_lossy(&o.stderr).contains("ModuleNotFoundError") => {
            eprintln!("SKIPPED SciPy check: python3 has no numpy/scipy")
        }
        Ok(o) => panic!(
            "SciPy rejected the linkage: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(_) => eprintln!("SKIPPED SciPy check: no python3"),
    }
}

#[test]
fn bad_input_gives_clear_errors_and_no_output() {
    let d = tmpdir("bad");
    let p = |f: &str| d.join(f).to_string_lossy().into_owned();
    std::fs::write(d.join("w.tsv"), "1 2 0.5\n2 3 heavy\n").unwrap();
    std::fs::write(d.join("m.tsv"), "1 2\n3\n").unwrap();
    std::fs::write(d.join("empty.tsv"), "").unwrap();
    let e = run_err(
        &["cluster", "--graph", &p("w.tsv"), "--out", &p("o.json")],
        &d.join("o.json"),
    );
    assert!(e.contains("w.tsv:2") && e.contains("heavy"), "{e}");
    let e = run_err(
        &["cluster", "--graph", &p("m.tsv"), "--out", &p("o.json")],
        &d.join("o.json"),
    );
    assert!(e.contains("m.tsv:2") && e.contains("missing column"), "{e}");
    let e = run_err(
        &["cluster", "--graph", &p("empty.tsv"), "--out", &p("o.json")],
        &d.join("o.json"),
    );
    assert!(e.contains("empty.tsv") && e.contains("no edges"), "{e}");
    let e = run_err(
        &["cluster", "--graph", &p("nope.tsv"), "--out", &p("o.json")],
        &d.join("o.json"),
    );
    assert!(e.contains("nope.tsv"), "{e}");
    let e = run_err(
        &[
            "hsbm",
            "--nodes",
            "100",
            "--depth",
            "0",
            "--a",
            "1",
            "--out",
            &p("h"),
        ],
        &d.join("h.edges.tsv"),
    );
    assert!(e.contains("depth"), "{e}");
    assert!(!d.join("h.labels.tsv").exists());
    // A graph, its tree, and a labels file whose nodes do not match.
    run_ok(&[
        "hsbm",
        "--nodes",
        "200",
        "--depth",
        "1",
        "--p",
        "0.02,0.3",
        "--seed",
        "1",
        "--out",
        &p("g"),
    ]);
    run_ok(&[
        "cluster",
        "--graph",
        &p("g.edges.tsv"),
        "--k",
        "2",
        "--out",
        &p("t.json"),
    ]);
    run_ok(&[
        "cut",
        "--tree",
        &p("t.json"),
        "--k",
        "2",
        "--out",
        &p("parts.tsv"),
    ]);
    std::fs::write(d.join("other.tsv"), "node\tdepth1\n0\t0\n1\t1\nzzz\t1\n").unwrap();
    let e = run_err(
        &[
            "evaluate",
            "--pred",
            &p("parts.tsv"),
            "--truth",
            &p("other.tsv"),
        ],
        &d.join("never"),
    );
    assert!(e.contains("do not match"), "{e}");
    let e = run_err(
        &[
            "cluster",
            "--graph",
            &p("g.edges.tsv"),
            "--k",
            "500",
            "--out",
            &p("big.json"),
        ],
        &d.join("big.json"),
    );
    // The library's `BottomUp.k`, spelled as the flag that sets it.
    assert!(e.contains("`--k`"), "{e}");
    let e = run_err(
        &[
            "cluster",
            "--graph",
            &p("g.edges.tsv"),
            "--split",
            "1.5",
            "--out",
            &p("s.json"),
        ],
        &d.join("s.json"),
    );
    assert!(e.contains("`--split`"), "{e}");
    let e = run_err(
        &[
            "cut",
            "--tree",
            &p("t.json"),
            "--k",
            "9",
            "--out",
            &p("c.tsv"),
        ],
        &d.join("c.tsv"),
    );
    assert!(e.contains("`k`"), "{e}");
    std::fs::write(d.join("bad.json"), "{\"format\": 3}").unwrap();
    let e = run_err(
        &[
            "export",
            "--tree",
            &p("bad.json"),
            "--format",
            "newick",
            "--out",
            &p("x.nwk"),
        ],
        &d.join("x.nwk"),
    );
    assert!(e.contains("bad.json"), "{e}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn every_command_has_help_with_examples() {
    for cmd in ["hsbm", "cluster", "cut", "evaluate", "export"] {
        let out = run_ok(&[cmd, "--help"]);
        assert!(out.contains("Examples:"), "{cmd} --help lacks examples");
    }
}

/// `cluster` prints stage lines on stderr (reading, k-means, linkage; top-down: communities
/// visited), and `--quiet` leaves only the closing summary line; the tree is the same.
#[test]
fn cluster_reports_progress_unless_quiet() {
    let d = tmpdir("progress");
    let p = |f: &str| d.join(f).to_string_lossy().into_owned();
    run_ok(&[
        "hsbm",
        "--nodes",
        "800",
        "--depth",
        "2",
        "--a",
        "10,20,60",
        "--seed",
        "3",
        "--out",
        &p("g"),
    ]);
    let g = p("g.edges.tsv");
    for method in ["bottom-up", "top-down"] {
        let mut trees = Vec::new();
        for quiet in [false, true] {
            let out = p(&format!("{method}{quiet}.json"));
            let mut args = vec!["cluster", "--graph", &g, "--method", method, "--out", &out];
            if method == "bottom-up" {
                args.extend(["--k", "4"]);
            }
            if quiet {
                args.push("--quiet");
            }
            let o = nb().args(&args).output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let err = String::from_utf8_lossy(&o.stderr).into_owned();
            let stages: Vec<&str> = err
                .lines()
                .filter(|l| l.starts_with("cluster: ") && !l.contains(" nodes, "))
                .collect();
            if quiet {
                assert!(stages.is_empty(), "{method} --quiet: {err}");
            } else {
                assert!(stages[0].starts_with("cluster: reading "), "{err}");
                let want = if method == "bottom-up" {
                    "k-means: K = 4"
                } else {
                    "top-down: "
                };
                assert!(stages.iter().any(|l| l.contains(want)), "{method}: {err}");
            }
            assert!(err.contains(" nodes, "), "summary line missing: {err}");
            trees.push(std::fs::read_to_string(&out).unwrap());
        }
        assert_eq!(trees[0], trees[1], "{method}: --quiet changed the tree");
    }
}

/// A core-periphery graph where the two K estimates differ: a ring of 10 five-node cliques,
/// each node with one pendant neighbour, and a dense core of two 12-node cliques attached to it.
/// The non-backtracking radius (about 10.09) comes from the core, so the authors' count at
/// `sqrt(rho)` finds 5 communities where `H(r)` at the smaller `r = sqrt(sum d^2 / sum d - 1)`
/// finds 9.
fn core_periphery_edges() -> String {
    let (c, s) = (10u32, 5u32);
    let mut e = Vec::new();
    let mut next = c * s;
    for q in 0..c {
        let b = q * s;
        for i in 0..s {
            for j in i + 1..s {
                e.push((b + i, b + j));
            }
            e.push((b + i, next));
            next += 1;
        }
        e.push((b, ((q + 1) % c) * s + 1));
    }
    for q in 0..2 {
        let b = next + 12 * q;
        for i in 0..12 {
            for j in i + 1..12 {
                e.push((b + i, b + j));
            }
        }
    }
    e.push((next, next + 12));
    e.push((next, 0));
    e.iter().map(|(u, v)| format!("{u}\t{v}\n")).collect()
}

/// `--k-estimate` and `--regulariser` reach the library: the default is the authors'
/// non-backtracking estimate (5 leaves here, the radius in the tree's info and on stderr),
/// `--k-estimate bethe-hessian` the previous one (9 leaves, no radius), `--regulariser adaptive`
/// records its per-eigenvector `r`; bad values and a regulariser that cannot work name the flag.
#[test]
fn k_estimate_and_regulariser_flags() {
    let d = tmpdir("kest");
    let p = |f: &str| d.join(f).to_string_lossy().into_owned();
    std::fs::write(d.join("g.tsv"), core_periphery_edges()).unwrap();
    std::fs::write(d.join("path.tsv"), "0 1\n1 2\n2 3\n3 4\n").unwrap();
    // `cluster --graph GRAPH EXTRA.. --out OUT`
    let args = |graph: &str, extra: &[&str], out: &str| -> Vec<String> {
        let mut a = vec!["cluster".to_string(), "--graph".into(), p(graph)];
        a.extend(extra.iter().map(|s| s.to_string()));
        a.extend(["--out".to_string(), p(out)]);
        a
    };
    let ok = |graph: &str, extra: &[&str], out: &str| -> serde_json::Value {
        let a = args(graph, extra, out);
        run_ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
        serde_json::from_str(&std::fs::read_to_string(d.join(out)).unwrap()).unwrap()
    };
    let err = |graph: &str, extra: &[&str]| -> String {
        let a = args(graph, extra, "x.json");
        run_err(
            &a.iter().map(String::as_str).collect::<Vec<_>>(),
            &d.join("x.json"),
        )
    };
    let a = args("g.tsv", &[], "nb.json");
    let out = nb().args(&a).output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("non-backtracking spectral radius 10.0"),
        "{stderr}"
    );
    let t: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("nb.json")).unwrap()).unwrap();
    assert_eq!(t["num_leaves"], 5, "{}", t["info"]);
    assert_eq!(t["params"]["k_estimate"], "non-backtracking");
    assert!((t["info"]["rho"].as_f64().unwrap() - 10.09).abs() < 0.01);
    let explicit = ok("g.tsv", &["--k-estimate", "non-backtracking"], "nb2.json");
    assert_eq!(explicit, t, "the explicit default gives the same tree");
    let t = ok("g.tsv", &["--k-estimate", "bethe-hessian"], "bh.json");
    assert_eq!(t["num_leaves"], 9, "{}", t["info"]);
    assert_eq!(t["params"]["k_estimate"], "bethe-hessian");
    assert!(t["info"].get("rho").is_none());
    // With K given nothing is estimated and no radius computed.
    let t = ok("g.tsv", &["--k", "5"], "k.json");
    assert!(t["params"].get("k_estimate").is_none() && t["info"].get("rho").is_none());
    let t = ok(
        "g.tsv",
        &["--k", "5", "--regulariser", "adaptive"],
        "ad.json",
    );
    assert_eq!(t["params"]["regulariser"], "adaptive");
    assert_eq!(t["info"]["zeta"].as_array().unwrap().len(), 5);
    assert_eq!(t["num_leaves"], 5);
    let e = err("g.tsv", &["--k-estimate", "lrho"]);
    assert!(
        e.contains("--k-estimate") && e.contains("non-backtracking, bethe-hessian"),
        "{e}"
    );
    let e = err("g.tsv", &["--regulariser", "zeta"]);
    assert!(
        e.contains("--regulariser") && e.contains("auto, fixed, zeta-k, adaptive"),
        "{e}"
    );
    // A path is a forest: no informative regulariser, an error naming the flag.
    for reg in ["adaptive", "zeta-k"] {
        let e = err("path.tsv", &["--k", "2", "--regulariser", reg]);
        assert!(
            e.contains("`--regulariser`") && e.contains("fixed"),
            "{reg}: {e}"
        );
    }
    // The default regulariser on an unweighted graph is the fixed one, recorded as before
    // (no key); on a weighted graph it chooses by modularity and says so.
    let t: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("k.json")).unwrap()).unwrap();
    assert!(t["params"].get("regulariser").is_none() && t["info"].get("rho").is_none());
    let w: String = core_periphery_edges()
        .lines()
        .enumerate()
        .map(|(i, l)| format!("{l} {}\n", 1 + i % 3))
        .collect();
    std::fs::write(d.join("w.tsv"), w).unwrap();
    let t = ok("w.tsv", &["--k", "5"], "w.json");
    assert_eq!(t["params"]["regulariser"], "auto");
    let chosen = t["info"]["regulariser_chosen"].as_str().unwrap();
    let (qf, qz) = (
        t["info"]["modularity_fixed"].as_f64().unwrap(),
        t["info"]["modularity_zeta_k"].as_f64().unwrap(),
    );
    assert_eq!(
        chosen,
        if qz > qf { "zeta-k" } else { "fixed" },
        "{}",
        t["info"]
    );
    // Without K the forest is one community under the authors' estimate.
    assert_eq!(ok("path.tsv", &[], "p.json")["num_leaves"], 1);
}
