//! Issue 13, defect 12: seeded runs are bit-identical across thread counts, the tree JSON
//! (info fields included) as well as the communities. Bottom-up with an estimated K on a graph
//! above the dense-eigensolver size (3000 nodes), so the iterative K estimate and eigensolver
//! run; each fit in a local rayon pool of 1 and of 2 threads.

use neurobricks::hierarchy::{BottomUp, TopDown};
use neurobricks::hsbm::HsbmParams;

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

#[test]
fn estimated_k_trees_are_identical_with_one_and_two_threads() {
    let h = HsbmParams::btsbm_log(2, 1000, vec![3.0, 10.0, 40.0], 11)
        .generate()
        .unwrap();
    assert!(h.graph.n() > 3000);
    let fit = |t| {
        in_pool(t, || {
            BottomUp::new()
                .seed(4)
                .fit(&h.graph)
                .unwrap()
                .dendrogram
                .to_json()
        })
    };
    let (a, b) = (fit(1), fit(2));
    assert!(a.contains("\"k_estimated\":true") || a.contains("k_estimated"));
    assert_eq!(a, b, "bottom-up tree JSON differs between 1 and 2 threads");
    let td = |t| {
        in_pool(t, || {
            TopDown::new()
                .seed(4)
                .fit(&h.graph)
                .unwrap()
                .dendrogram
                .to_json()
        })
    };
    assert_eq!(
        td(1),
        td(2),
        "top-down tree JSON differs between 1 and 2 threads"
    );
}
