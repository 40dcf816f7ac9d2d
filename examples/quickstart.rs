//! Quickstart: generate a hierarchical SBM with a planted tree, recover the tree bottom-up, and
//! score every depth.
//!
//! `cargo run --release --example quickstart`

use neurobricks::graph::write_labels;
use neurobricks::hierarchy::{theory, BottomUp, TopDown};
use neurobricks::hsbm::HsbmParams;
use neurobricks::metrics::score;
use std::path::PathBuf;

fn main() -> neurobricks::Result<()> {
    let out = PathBuf::from("out/quickstart");
    std::fs::create_dir_all(&out).map_err(|e| neurobricks::Error::io(&out, e))?;
    // BTSBM of depth 3: 8 communities of 200 nodes, p[l] = a[l] ln N / N.
    let a = vec![40.0, 41.0, 45.0, 100.0];
    let h = HsbmParams::btsbm_log(3, 200, a.clone(), 1).generate()?;
    println!(
        "BTSBM: {} nodes, {} edges; CH_m = {:?}",
        h.graph.n(),
        h.graph.num_edges(),
        theory::chernoff_hellinger(&a, 2)?
    );
    let bu = BottomUp::new().k(Some(8)).seed(1).fit(&h.graph)?;
    let td = TopDown::new().seed(1).fit(&h.graph)?;
    println!("depth  method     ARI     AMI  accuracy  exact");
    for l in 1..=3 {
        let truth = h.labels_at_depth(l);
        for (name, d) in [("bottom-up", &bu.dendrogram), ("top-down", &td.dendrogram)] {
            let cut = d.cut_k((1 << l).min(d.num_leaves()))?;
            let pred: Vec<usize> = d
                .expand_to_nodes(&cut)
                .iter()
                .map(|c| c.map_or(usize::MAX, |v| v as usize))
                .collect();
            let s = score(name, &format!("depth{l}"), &truth, &pred)?;
            println!(
                "{l:>5}  {name:<9} {:.4}  {:.4}    {:.4}  {}",
                s.ari, s.ami, s.accuracy, s.exact
            );
        }
    }
    println!(
        "inversions: bottom-up {}, top-down {}",
        bu.dendrogram.inversions(),
        td.dendrogram.inversions()
    );
    bu.dendrogram.write(&out.join("tree.json"))?;
    bu.dendrogram.write_scipy_npy(&out.join("linkage.npy"))?;
    write_labels(&h.labels(), &out.join("truth.tsv"))?;
    println!(
        "wrote {}/{{tree.json, linkage.npy, truth.tsv}}",
        out.display()
    );
    Ok(())
}
