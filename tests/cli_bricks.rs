//! The `bricks` CLI on the shipped data: clear errors for bad input, no partial output.

use std::process::Command;

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_neurobricks"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_budget_and_mismatched_inputs_are_clear_errors() {
    let (ok, _, err) = run(&[
        "bricks", "route", "--bricks", "standin", "--k", "8", "--budget", "1.5",
    ]);
    assert!(!ok);
    assert!(err.contains("budget") && err.contains("(0, 1]"), "{err}");
    // Inputs of another width than the weights (the token ids tensor is not [T, d]).
    let (ok, _, err) = run(&[
        "bricks",
        "route",
        "--inputs",
        "data/minilm-l6/tokens.safetensors",
        "--inputs-name",
        "ids",
    ]);
    assert!(!ok);
    assert!(
        err.contains("expected [tokens, d]") || err.contains("dtype"),
        "{err}"
    );
}

#[test]
fn extract_with_a_bad_cut_writes_nothing() {
    let dir = std::env::temp_dir().join(format!("nb-cli-bricks-{}", std::process::id()));
    let d = dir.to_string_lossy().into_owned();
    let (ok, _, err) = run(&[
        "bricks", "extract", "--bricks", "standin", "--k", "8", "--cut-k", "99", "--out", &d,
    ]);
    assert!(!ok);
    assert!(
        err.contains("cannot cut a tree with 8 leaves into 99 clusters"),
        "{err}"
    );
    assert!(!dir.exists());
    let (ok, _, err) = run(&[
        "bricks", "extract", "--bricks", "standin", "--k", "8", "--cut-k", "4", "--out", &d,
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("5 bricks"), "{err}");
    assert!(dir.join("brick_004.safetensors").exists() && dir.join("bricks.json").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Stage lines on stderr for long runs (issue 15), none with --quiet; stdout unchanged.
#[test]
fn stage_lines_on_stderr_unless_quiet() {
    let args = [
        "bricks", "route", "--bricks", "standin", "--k", "8", "--budget", "0.25",
    ];
    let (ok, out, err) = run(&args);
    assert!(ok, "{err}");
    for stage in [
        "bricks: reading data/minilm-l6/layer5.safetensors",
        "bricks: activations of",
        "bricks: stand-in bricks",
        "bricks: routing the evaluation tokens",
    ] {
        assert!(err.contains(stage), "missing `{stage}` in\n{err}");
    }
    let (ok, out_q, err_q) = run(&[&args[..], &["--quiet"]].concat());
    assert!(ok, "{err_q}");
    assert!(!err_q.contains("bricks: "), "{err_q}");
    assert_eq!(out, out_q);
}
