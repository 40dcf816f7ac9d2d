//! Issue 13: the one output mechanism seen from the command line. Every output path of every
//! subcommand is made to fail in turn (a directory in its place, refused before the work, or a
//! link to `/dev/full`, which fails while writing) and the run must leave no output and no
//! temporary behind. Special files are written through, links followed, the same file twice
//! refused, and temporaries removed on SIGTERM and after a SIGKILL.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn nb() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_neurobricks"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nb-outputs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn run(args: &[String]) -> Output {
    nb().args(args).output().unwrap()
}

fn ok(args: &[String]) -> Output {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn names(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A small float32 `.npy` activation file (tokens x neurons), deterministic values.
fn write_acts(path: &Path, t: usize, n: usize) {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({t}, {n}), }}");
    let mut h = dict.into_bytes();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(b' ');
    }
    h.push(b'\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((h.len() as u16).to_le_bytes());
    bytes.extend(h);
    let mut x: u64 = 12345;
    for i in 0..t * n {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let group = (i % n) / 5 == (i / n) % (n / 5);
        let v = (x >> 40) as f32 / (1u64 << 24) as f32 + if group { 1.0 } else { 0.0 };
        bytes.extend(v.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

/// Inputs shared by the cases: a graph, its tree, activations.
struct Inputs {
    graph: PathBuf,
    tree: PathBuf,
    acts: PathBuf,
}

fn inputs(d: &Path) -> Inputs {
    let p = d.join("g");
    ok(&[
        "hsbm", "--nodes", "200", "--depth", "2", "--a", "5,10,30", "--seed", "1", "--out",
    ]
    .iter()
    .map(|x| x.to_string())
    .chain([s(&p)])
    .collect::<Vec<_>>());
    let graph = d.join("g.edges.tsv");
    let tree = d.join("t.json");
    ok(&[
        "cluster".into(),
        "--graph".into(),
        s(&graph),
        "--k".into(),
        "4".into(),
        "--seed".into(),
        "1".into(),
        "--out".into(),
        s(&tree),
    ]);
    let acts = d.join("acts.npy");
    write_acts(&acts, 300, 40);
    Inputs { graph, tree, acts }
}

/// One subcommand: its arguments (with `{W}` for the work folder) and the outputs it writes.
struct Case {
    args: Vec<String>,
    outputs: Vec<&'static str>,
}

fn cases(i: &Inputs) -> Vec<Case> {
    let a = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let (g, t, acts) = (s(&i.graph), s(&i.tree), s(&i.acts));
    vec![
        Case {
            args: a(&[
                "hsbm", "--nodes", "100", "--depth", "1", "--p", "0.1,0.5", "--out", "{W}/h",
            ]),
            outputs: vec!["h.edges.tsv", "h.labels.tsv"],
        },
        Case {
            args: a(&["cluster", "--graph", &g, "--k", "4", "--out", "{W}/t.json"]),
            outputs: vec!["t.json"],
        },
        Case {
            args: a(&["cut", "--tree", &t, "--k", "2,4", "--out", "{W}/p.tsv"]),
            outputs: vec!["p.tsv"],
        },
        Case {
            args: a(&[
                "export",
                "--tree",
                &t,
                "--format",
                "newick",
                "--out",
                "{W}/x.nwk",
            ]),
            outputs: vec!["x.nwk"],
        },
        Case {
            args: a(&[
                "export",
                "--tree",
                &t,
                "--format",
                "scipy",
                "--out",
                "{W}/z.npy",
            ]),
            outputs: vec!["z.npy"],
        },
        Case {
            args: a(&[
                "coactivation",
                "--activations",
                &acts,
                "--counts-out",
                "{W}/c.npy",
                "--out",
                "{W}/c.tsv",
            ]),
            outputs: vec![
                "c.npy",
                "c.npy.json",
                "c.tsv",
                "c.tsv.setaside.tsv",
                "c.tsv.neurons.tsv",
            ],
        },
        Case {
            args: a(&["plot", "dendrogram", "--tree", &t, "--out", "{W}/d.svg"]),
            outputs: vec!["d.svg"],
        },
        Case {
            args: a(&[
                "plot",
                "heatmap",
                "--graph",
                &g,
                "--tree",
                &t,
                "--out",
                "{W}/m.png",
            ]),
            outputs: vec!["m.png"],
        },
        Case {
            args: a(&[
                "bricks", "extract", "--bricks", "standin", "--k", "4", "--out", "{W}",
            ]),
            outputs: vec![
                "brick_000.safetensors",
                "brick_002.safetensors",
                "layer.safetensors",
                "bricks.json",
            ],
        },
    ]
}

fn fill(args: &[String], w: &Path) -> Vec<String> {
    args.iter().map(|x| x.replace("{W}", &s(w))).collect()
}

#[test]
fn every_output_failing_in_turn_leaves_nothing_behind() {
    let d = tmpdir("fail");
    let i = inputs(&d);
    let full = Path::new("/dev/full").exists();
    let mut tried = 0;
    for (ci, c) in cases(&i).iter().enumerate() {
        // Sanity: the case succeeds and writes its outputs.
        let w = d.join(format!("ok{ci}"));
        std::fs::create_dir_all(&w).unwrap();
        ok(&fill(&c.args, &w));
        for o in &c.outputs {
            assert!(w.join(o).exists(), "{:?} did not write {o}", c.args);
        }
        for (k, bad) in c.outputs.iter().enumerate() {
            for mode in ["dir", "full"] {
                if mode == "full" && !full {
                    continue;
                }
                let w = d.join(format!("c{ci}-{k}-{mode}"));
                std::fs::create_dir_all(&w).unwrap();
                let p = w.join(bad);
                if mode == "dir" {
                    std::fs::create_dir(&p).unwrap();
                } else {
                    #[cfg(unix)]
                    std::os::unix::fs::symlink("/dev/full", &p).unwrap();
                }
                let args = fill(&c.args, &w);
                let o = run(&args);
                let err = String::from_utf8_lossy(&o.stderr);
                assert!(
                    !o.status.success(),
                    "{args:?} with {bad} as {mode} succeeded"
                );
                assert!(!err.contains("panicked"), "{args:?}: {err}");
                assert!(
                    err.contains(bad),
                    "{args:?}: the error does not name {bad}: {err}"
                );
                let left: Vec<String> = names(&w).into_iter().filter(|n| n != bad).collect();
                assert!(
                    left.is_empty(),
                    "{args:?} with {bad} as {mode} left {left:?}"
                );
                tried += 1;
            }
        }
    }
    eprintln!("{tried} failing output paths tried");
    assert!(tried >= 20);
    std::fs::remove_dir_all(&d).unwrap();
}

#[cfg(unix)]
#[test]
fn links_are_followed_and_special_files_written_through() {
    use std::os::unix::fs::FileTypeExt;
    let d = tmpdir("special");
    let i = inputs(&d);
    let t = s(&i.tree);
    // A link: the target gets the new content, the link stays a link.
    let target = d.join("target.nwk");
    std::fs::write(&target, "stale").unwrap();
    let link = d.join("link.nwk");
    std::os::unix::fs::symlink("target.nwk", &link).unwrap();
    let export = |out: &Path| -> Vec<String> {
        ["export", "--tree", &t, "--format", "newick", "--out"]
            .iter()
            .map(|x| x.to_string())
            .chain([s(out)])
            .collect()
    };
    ok(&export(&link));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let newick = std::fs::read_to_string(&target).unwrap();
    assert!(newick.trim_end().ends_with(';'), "{newick}");
    // `-` is the standard output.
    let o = ok(&export(Path::new("-")));
    assert_eq!(String::from_utf8_lossy(&o.stdout), newick);
    // A FIFO stays a FIFO and its reader gets the bytes.
    let fifo = d.join("fifo");
    if Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success())
    {
        let f2 = fifo.clone();
        let reader = std::thread::spawn(move || std::fs::read_to_string(f2).unwrap());
        ok(&export(&fifo));
        assert_eq!(reader.join().unwrap(), newick);
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    }
    // A character device (a private copy of /dev/null when we may make one) stays one.
    let dev = d.join("null");
    if Command::new("mknod")
        .arg(&dev)
        .args(["c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success())
    {
        ok(&export(&dev));
        assert!(std::fs::metadata(&dev)
            .unwrap()
            .file_type()
            .is_char_device());
    }
    // A directory is refused with a clear error.
    let o = run(&export(&d));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("is a directory"));
    let left: Vec<String> = names(&d)
        .into_iter()
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn the_same_file_for_two_outputs_is_refused() {
    let d = tmpdir("same");
    let i = inputs(&d);
    let g = d.join("x.tsv");
    for counts in [s(&g), s(&d.join(".").join("x.tsv"))] {
        let o = run(&[
            "coactivation".into(),
            "--activations".into(),
            s(&i.acts),
            "--counts-out".into(),
            counts,
            "--out".into(),
            s(&g),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success());
        assert!(err.contains("same file"), "{err}");
        assert!(!g.exists());
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// `hsbm --out P` with `P.labels.tsv` a link to a FIFO nobody reads: the run blocks opening the
/// FIFO while `P.edges.tsv` waits in its temporary. Returns the child and the temporary.
#[cfg(unix)]
fn blocked_hsbm(d: &Path) -> Option<(std::process::Child, PathBuf)> {
    let fifo = d.join("fifo");
    if !Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success())
    {
        return None;
    }
    std::os::unix::fs::symlink(&fifo, d.join("h.labels.tsv")).unwrap();
    let child = nb()
        .args(["hsbm", "--nodes", "100", "--depth", "1", "--p", "0.1,0.5"])
        .arg("--out")
        .arg(d.join("h"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let tmp = d.join(format!(".h.edges.tsv.tmp{}", child.id()));
    for _ in 0..2000 {
        if tmp.exists() {
            return Some((child, tmp));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let mut child = child;
    let _ = child.kill();
    let _ = child.wait();
    panic!("the temporary {} never appeared", tmp.display());
}

#[cfg(unix)]
#[test]
fn sigterm_removes_temporaries_and_a_later_run_removes_those_of_a_sigkill() {
    use std::os::unix::process::ExitStatusExt;
    let d = tmpdir("signal");
    let Some((mut child, tmp)) = blocked_hsbm(&d) else {
        return;
    };
    let kill = |sig: &str, pid: u32| {
        assert!(Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success());
    };
    kill("-TERM", child.id());
    let st = child.wait().unwrap();
    assert_eq!(st.signal(), Some(15), "{st:?}");
    assert!(!tmp.exists(), "SIGTERM left {}", tmp.display());
    assert!(!d.join("h.edges.tsv").exists());
    // SIGKILL cannot be caught: the temporary stays ...
    std::fs::remove_file(d.join("h.labels.tsv")).unwrap();
    std::fs::remove_file(d.join("fifo")).unwrap();
    let (mut child, tmp) = blocked_hsbm(&d).unwrap();
    kill("-KILL", child.id());
    child.wait().unwrap();
    assert!(tmp.exists());
    // ... until the next run writing the same output removes it.
    std::fs::remove_file(d.join("h.labels.tsv")).unwrap();
    ok(&[
        "hsbm", "--nodes", "100", "--depth", "1", "--p", "0.1,0.5", "--out",
    ]
    .iter()
    .map(|x| x.to_string())
    .chain([s(&d.join("h"))])
    .collect::<Vec<_>>());
    assert!(!tmp.exists(), "the stale {} was kept", tmp.display());
    assert!(d.join("h.edges.tsv").exists() && d.join("h.labels.tsv").exists());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn bricks_extract_removes_stale_bricks_of_an_earlier_export() {
    let d = tmpdir("stale-bricks");
    let out = s(&d);
    let ex = |k: &str| {
        ok(&[
            "bricks", "extract", "--bricks", "standin", "--k", k, "--out", &out,
        ]
        .iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>())
    };
    ex("8");
    assert!(d.join("brick_008.safetensors").exists());
    let o = ex("4");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("removed"), "{err}");
    let bricks: Vec<String> = names(&d)
        .into_iter()
        .filter(|n| n.starts_with("brick_"))
        .collect();
    let json = std::fs::read_to_string(d.join("bricks.json")).unwrap();
    for b in &bricks {
        assert!(json.contains(b.as_str()), "{b} is not in bricks.json");
    }
    std::fs::remove_dir_all(&d).unwrap();
}
