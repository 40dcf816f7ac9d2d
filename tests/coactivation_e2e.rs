//! End to end: synthetic activations with planted hierarchical neuron groups -> co-activation
//! graph -> bottom-up hierarchical clustering recovers the planted groups.

use neurobricks::activations::ActivationSource;
use neurobricks::coactivation::synthetic::SyntheticParams;
use neurobricks::coactivation::{Binarize, CoactivationParams, Sparsify, Weight};
use neurobricks::hierarchy::BottomUp;
use neurobricks::metrics::adjusted_rand_index;

#[test]
fn planted_neuron_groups_are_recovered_from_activations() {
    // 2 top groups x 4 leaf groups of 40 neurons; 4000 tokens.
    let syn = SyntheticParams::default()
        .branching(vec![2, 4])
        .group_size(40)
        .tokens(4000)
        .seed(3)
        .generate()
        .unwrap();
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
        assert!(out.report.dead.is_empty() && out.report.resident.is_empty());
        let fit = BottomUp::new().k(Some(8)).seed(1).fit(&out.graph).unwrap();
        let truth: Vec<usize> = out.report.kept.iter().map(|&i| syn.labels[1][i]).collect();
        let pred: Vec<usize> = fit.communities.iter().map(|&c| c as usize).collect();
        let ari = adjusted_rand_index(&truth, &pred).unwrap();
        assert!(ari >= 0.95, "{binarize} / {weight}: ARI {ari}");
        eprintln!("{binarize} / {weight}: ARI {ari}");
    }
}

/// The same through the command line: activations file -> `coactivation` -> `cluster` -> `cut`,
/// scored against both planted levels.
#[test]
fn cli_coactivation_then_cluster_recovers_both_levels() {
    use std::process::Command;
    let dir = std::env::temp_dir().join(format!("nb-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let syn = SyntheticParams::default().seed(4).generate().unwrap();
    let a = &syn.activations;
    let (t, n) = (a.tokens(), a.neurons());
    // Write a C-order float32 .npy.
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({t}, {n}), }}");
    let mut h = dict.into_bytes();
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(b' ');
    }
    h.push(b'\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((h.len() as u16).to_le_bytes());
    bytes.extend(h);
    for v in &a.data {
        bytes.extend(v.to_le_bytes());
    }
    let npy = dir.join("acts.npy");
    std::fs::write(&npy, bytes).unwrap();
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let (graph, tree, parts) = (dir.join("g.tsv"), dir.join("t.json"), dir.join("p.tsv"));
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_neurobricks"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    run(&[
        "coactivation",
        "--activations",
        &s(&npy),
        "--binarize",
        "positive",
        "--weight",
        "phi",
        "--sparsify",
        "knn:10",
        "--out",
        &s(&graph),
    ]);
    run(&[
        "cluster",
        "--graph",
        &s(&graph),
        "--k",
        "8",
        "--seed",
        "1",
        "--out",
        &s(&tree),
    ]);
    run(&[
        "cut",
        "--tree",
        &s(&tree),
        "--k",
        "2,8",
        "--out",
        &s(&parts),
    ]);
    let text = std::fs::read_to_string(&parts).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    assert_eq!(header, vec!["node", "k2", "k8"]);
    let (mut t2, mut p2, mut t8, mut p8) = (vec![], vec![], vec![], vec![]);
    for l in lines {
        let f: Vec<&str> = l.split('\t').collect();
        let neuron: usize = f[0].parse().unwrap();
        t2.push(syn.labels[0][neuron]);
        t8.push(syn.labels[1][neuron]);
        p2.push(f[1].parse::<usize>().unwrap());
        p8.push(f[2].parse::<usize>().unwrap());
    }
    assert_eq!(t8.len(), n);
    let ari8 = adjusted_rand_index(&t8, &p8).unwrap();
    let ari2 = adjusted_rand_index(&t2, &p2).unwrap();
    assert!(ari8 >= 0.95 && ari2 >= 0.95, "ARI leaf {ari8}, top {ari2}");
    let _ = std::fs::remove_dir_all(&dir);
}
