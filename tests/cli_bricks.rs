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
