//! Benchmarks of the clustering hot paths on a BTSBM with 200,000 nodes, depth 5 (32
//! communities) and about 5 million edges: Bethe-Hessian mat-vec, partial eigensolve, k-means,
//! edge-mass + linkage, and the whole bottom-up fit.
//!
//! `cargo bench --bench cluster`

#[path = "common.rs"]
mod common;

use neurobricks::hierarchy::linkage::{average_linkage, edge_mass};
use neurobricks::hierarchy::BottomUp;
use neurobricks::metrics::adjusted_rand_index;
use neurobricks::spectral::{
    kmeans, smallest_eigenpairs, BetheHessian, EigenParams, KMeansParams, LinearOperator,
};

fn main() {
    let params = common::big_btsbm();
    let h = params.generate().unwrap();
    let g = &h.graph;
    println!("BTSBM: {} nodes, {} edges", g.n(), g.num_edges());
    let bh = BetheHessian::standard(g);
    let x = vec![1.0; g.n()];
    let mut y = vec![0.0; g.n()];
    common::time("Bethe Hessian mat-vec", 20, || bh.apply(&x, &mut y));
    // The eigensolver's hot path: 4-column block products in f32 (one fused pass).
    let xb: Vec<f32> = (0..g.n() * 4).map(|i| (i % 7) as f32).collect();
    let mut yb = vec![0.0f32; g.n() * 4];
    common::time("Bethe Hessian 4-column f32 block product", 20, || {
        bh.step_block_f32(&xb, &mut yb, 4, 1.0, 0.0, 0.0)
    });
    let eig = smallest_eigenpairs(&bh, 32, &EigenParams::default()).expect("default parameters");
    println!(
        "eigen: {} / 32 converged, {} mat-vecs, residual {:.1e}",
        eig.converged(),
        eig.matvecs,
        eig.max_residual
    );
    // The renumbering of the eigensolver (EigenParams::renumber_from): nodes sorted by
    // the sign pattern of eigenvectors 1..=5, and the block product in that order.
    let mut order: Vec<u32> = (0..g.n() as u32).collect();
    order.sort_by_key(|&i| {
        (1..=5.min(eig.converged() - 1)).fold(0u32, |key, j| {
            (key << 1) | u32::from(eig.vector(j)[i as usize] > 0.0)
        })
    });
    let mut renamed = None;
    common::time("renumber the Bethe Hessian (spectral order)", 5, || {
        renamed = bh.renumbered(&order)
    });
    let renamed = renamed.expect("the Bethe Hessian renumbers");
    common::time(
        "Bethe Hessian 4-column f32 block product, spectral order",
        20,
        || renamed.step_block_f32(&xb, &mut yb, 4, 1.0, 0.0, 0.0),
    );
    common::time("32 smallest eigenpairs of H(r)", 1, || {
        smallest_eigenpairs(&bh, 32, &EigenParams::default()).map(|e| e.converged())
    });
    let dim = eig.converged();
    let mut emb = vec![0.0; g.n() * dim];
    for j in 0..dim {
        for (i, v) in eig.vector(j).iter().enumerate() {
            emb[i * dim + j] = *v;
        }
    }
    for row in emb.chunks_exact_mut(dim) {
        let n = row.iter().map(|v| v * v).sum::<f64>().sqrt();
        row.iter_mut().for_each(|v| *v /= n.max(1e-300));
    }
    common::time("k-means (k = 32, 10 restarts)", 1, || {
        kmeans(&emb, dim, &KMeansParams::new(32)).unwrap().inertia
    });
    let labels = h.leaf.clone();
    common::time("edge mass + average linkage (K = 32)", 5, || {
        let m = edge_mass(g, &labels, 32);
        average_linkage(&m, &[6250; 32], 32).len()
    });
    let fit = BottomUp::new().k(Some(32)).seed(1);
    let mut last = None;
    common::time("bottom-up fit (K = 32)", 1, || {
        last = Some(fit.fit(g).unwrap())
    });
    let f = last.unwrap();
    for l in 1..=5 {
        let k = 1 << l;
        let cut = f.dendrogram.cut_k(k).unwrap();
        let pred: Vec<usize> = f
            .dendrogram
            .expand_to_nodes(&cut)
            .iter()
            .map(|c| c.unwrap() as usize)
            .collect();
        println!(
            "  depth {l}: ARI {:.4}",
            adjusted_rand_index(&h.labels_at_depth(l), &pred).unwrap()
        );
    }
    println!("peak RSS {:.0} MiB", common::peak_rss_mib());
}
