//! Issue 13, defects 3, 4, 9 and 10 through the command line: inputs and parameters that used
//! to slip through are refused with a message that names the file, line or parameter, or
//! accepted with a warning where the result is legitimate but surprising.

use std::path::{Path, PathBuf};
use std::process::Command;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nb-valid-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Run; returns (success, stderr).
fn run(args: &[&str]) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_neurobricks"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    (o.status.success(), err)
}

fn fails_with(args: &[&str], needles: &[&str]) {
    let (ok, err) = run(args);
    assert!(!ok, "{args:?} succeeded: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: `{n}` not in: {err}");
    }
}

fn p(d: &Path, f: &str) -> String {
    d.join(f).to_string_lossy().into_owned()
}

/// A graph and its tree in `d`: g.edges.tsv, g.labels.tsv, t.json.
fn graph(d: &Path) {
    let (ok, err) = run(&[
        "hsbm",
        "--nodes",
        "400",
        "--depth",
        "2",
        "--a",
        "5,10,30",
        "--seed",
        "1",
        "--out",
        &p(d, "g"),
    ]);
    assert!(ok, "{err}");
    let (ok, err) = run(&[
        "cluster",
        "--graph",
        &p(d, "g.edges.tsv"),
        "--k",
        "4",
        "--out",
        &p(d, "t.json"),
    ]);
    assert!(ok, "{err}");
}

#[test]
fn edge_lists_with_wrong_columns_or_weights_are_refused() {
    let d = tmpdir("edges");
    let out = p(&d, "t.json");
    for (content, needles) in [
        ("7\n8\n9\n", vec!["e.tsv:1", "missing column"]),
        ("1 2 3 4\n2 3 4 5\n", vec!["e.tsv:1", "too many columns"]),
        ("7\n1 2\n", vec!["e.tsv:1:"]),
        ("1 2 1\n2 3 -0.5\n", vec!["e.tsv:2", "outside [0"]),
        ("1 2 1e308\n2 3 1\n", vec!["e.tsv:1", "1e308"]),
    ] {
        std::fs::write(d.join("e.tsv"), content).unwrap();
        let mut n = needles.clone();
        n.push("");
        fails_with(&["cluster", "--graph", &p(&d, "e.tsv"), "--out", &out], &n);
        assert!(!Path::new(&out).exists());
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn bad_parameters_are_refused() {
    let d = tmpdir("params");
    graph(&d);
    let g = p(&d, "g.edges.tsv");
    let t = p(&d, "t.json");
    let out = p(&d, "o.json");
    fails_with(
        &["cluster", "--graph", &g, "--split", "1e-9", "--out", &out],
        &["--split", "edges"],
    );
    fails_with(
        &["cluster", "--graph", &g, "--n-init", "0", "--out", &out],
        &["--n-init"],
    );
    fails_with(
        &["cluster", "--graph", &g, "--k-max", "0", "--out", &out],
        &["--k-max"],
    );
    fails_with(
        &[
            "cluster", "--graph", &g, "--method", "top-down", "--n-init", "0", "--out", &out,
        ],
        &["--n-init"],
    );
    fails_with(
        &["cut", "--tree", &t, "--k", "2,,4", "--out", &p(&d, "c.tsv")],
        &["--k", "empty value"],
    );
    fails_with(
        &["bricks", "report", "--layers", "5,5"],
        &["--layers", "twice"],
    );
    fails_with(
        &[
            "bricks",
            "extract",
            "--bricks",
            "standin",
            "--k",
            "8",
            "--min-size",
            "3",
            "--out",
            &p(&d, "b"),
        ],
        &["--max-size"],
    );
    fails_with(
        &[
            "bricks",
            "extract",
            "--bricks",
            "standin",
            "--k",
            "8",
            "--max-size",
            "1",
            "--out",
            &p(&d, "b"),
        ],
        &["largest leaf"],
    );
    assert!(!d.join("b").exists() && !Path::new(&out).exists());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn tree_files_with_impossible_heights_are_refused() {
    let d = tmpdir("heights");
    graph(&d);
    let t = std::fs::read_to_string(d.join("t.json")).unwrap();
    let mut j: serde_json_lite::Value = serde_json_lite::parse(&t);
    for (sim, height, needle) in [
        (0.5, -3.0, "does not match"),
        (4.0, -3.0, "outside"),
        (-1e308, 1e308, "outside"),
    ] {
        j.set_first_merge(sim, height);
        std::fs::write(d.join("bad.json"), j.to_string()).unwrap();
        fails_with(
            &[
                "cut",
                "--tree",
                &p(&d, "bad.json"),
                "--k",
                "2",
                "--out",
                &p(&d, "c.tsv"),
            ],
            &["bad.json", "merge 0", needle],
        );
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// Minimal edits of the tree JSON without a JSON dependency: the first merge is the first
/// `[left, right, ...]` entry after `"merges"`; the test rewrites its similarity and height.
mod serde_json_lite {
    pub struct Value(String);
    pub fn parse(s: &str) -> Value {
        Value(s.to_string())
    }
    impl Value {
        pub fn set_first_merge(&mut self, sim: f64, height: f64) {
            let s = &self.0;
            let m = s.find("\"merges\"").expect("merges");
            let start = m + s[m..].find('{').expect("merge object");
            let end = start + s[start..].find('}').expect("merge end");
            let obj = &s[start..=end];
            let set = |obj: &str, key: &str, v: f64| -> String {
                let k = obj.find(&format!("\"{key}\"")).expect(key);
                let colon = k + obj[k..].find(':').unwrap();
                let stop = colon + obj[colon..].find([',', '}']).expect("value end");
                format!("{}: {v:e}{}", &obj[..colon], &obj[stop..])
            };
            let obj = set(&set(obj, "similarity", sim), "height", height);
            self.0 = format!("{}{}{}", &s[..start], obj, &s[end + 1..]);
        }
    }
    impl std::fmt::Display for Value {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }
}

#[test]
fn activation_files_that_are_not_npy_get_the_right_message() {
    let d = tmpdir("npy");
    let out = p(&d, "g.tsv");
    std::fs::write(d.join("text.npy"), "hello, I am text\n").unwrap();
    std::fs::write(d.join("empty.bin"), "").unwrap();
    std::fs::write(d.join("junk.bin"), "0123456789abcdef").unwrap();
    for (f, needle) in [
        ("text.npy", "magic"),
        ("empty.bin", "empty file"),
        ("junk.bin", "neither a .npy file"),
        (".", "is a directory"),
    ] {
        let (ok, err) = run(&["coactivation", "--activations", &p(&d, f), "--out", &out]);
        assert!(!ok);
        assert!(err.contains(needle), "{f}: {err}");
        assert!(!err.contains("name the tensor"), "{f}: {err}");
    }
    // A .npy given as a layer file is named as such, not as tensors that do not exist.
    let npy = d.join("a.npy");
    let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
    let mut h = dict.as_bytes().to_vec();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(b' ');
    }
    h.push(b'\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend((h.len() as u16).to_le_bytes());
    b.extend(h);
    b.extend([0u8; 16]);
    std::fs::write(&npy, b).unwrap();
    let (ok, err) = run(&[
        "coactivation",
        "--ffn-layer",
        &p(&d, "a.npy"),
        "--out",
        &out,
    ]);
    assert!(!ok);
    assert!(err.contains("safetensors") && err.contains(".npy"), "{err}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn evaluate_says_when_level_counts_differ_and_cuts_long_lines() {
    let d = tmpdir("eval");
    graph(&d);
    let (ok, err) = run(&[
        "cut",
        "--tree",
        &p(&d, "t.json"),
        "--k",
        "2",
        "--out",
        &p(&d, "parts.tsv"),
    ]);
    assert!(ok, "{err}");
    // Predicted has 1 level, truth has 2.
    let (ok, err) = run(&[
        "evaluate",
        "--pred",
        &p(&d, "parts.tsv"),
        "--truth",
        &p(&d, "g.labels.tsv"),
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("only the first 1"), "{err}");
    let mut long = std::fs::read_to_string(d.join("parts.tsv")).unwrap();
    long.push_str(&"9\t".repeat(2000));
    long.push('\n');
    std::fs::write(d.join("long.tsv"), long).unwrap();
    let (ok, err) = run(&[
        "evaluate",
        "--pred",
        &p(&d, "long.tsv"),
        "--truth",
        &p(&d, "g.labels.tsv"),
    ]);
    assert!(!ok);
    assert!(err.len() < 500, "{} bytes: {err}", err.len());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_coactivation_graph_without_edges_warns() {
    let d = tmpdir("noedges");
    // 4 neurons, 50 tokens; neuron pairs never co-active beyond chance with threshold:1e9
    // (nothing is active: every neuron is dead) -> no edges.
    let (t, n) = (50usize, 6usize);
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({t}, {n}), }}");
    let mut h = dict.into_bytes();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(b' ');
    }
    h.push(b'\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend((h.len() as u16).to_le_bytes());
    b.extend(h);
    for i in 0..t * n {
        // Each token activates exactly one neuron, a different one each time: no pair is ever
        // co-active.
        let v: f32 = if i % n == (i / n) % n { 1.0 } else { 0.0 };
        b.extend(v.to_le_bytes());
    }
    std::fs::write(d.join("a.npy"), b).unwrap();
    let (ok, err) = run(&[
        "coactivation",
        "--activations",
        &p(&d, "a.npy"),
        "--binarize",
        "positive",
        "--weight",
        "count",
        "--sparsify",
        "none",
        "--out",
        &p(&d, "g.tsv"),
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("warning") && err.contains("no edges"), "{err}");
    std::fs::remove_dir_all(&d).unwrap();
}
