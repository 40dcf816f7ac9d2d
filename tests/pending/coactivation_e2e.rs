//! End to end: synthetic activations with planted hierarchical neuron groups -> co-activation
//! graph -> bottom-up hierarchical clustering recovers the planted groups.

use neurobricks::coactivation::synthetic::SyntheticParams;
use neurobricks::coactivation::{Binarize, CoactivationParams, Sparsify, Weight};
use neurobricks::hierarchy::BottomUp;
use neurobricks::metrics::adjusted_rand_index;

#[test]
fn planted_neuron_groups_are_recovered_from_activations() {
    // 2 top groups x 4 leaf groups of 40 neurons; 4000 tokens.
    let syn = SyntheticParams {
        branching: vec![2, 4],
        group_size: 40,
        tokens: 4000,
        seed: 3,
        ..Default::default()
    }
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
    }
}
