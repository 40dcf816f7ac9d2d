//! Benchmarks: HSBM generation and edge-list reading at 200,000 nodes and about 5 million edges.
//!
//! `cargo bench --bench io_hsbm`

#[path = "common.rs"]
mod common;

use neurobricks::graph::{read_edge_list, write_edge_list, EdgeListOptions};

fn main() {
    let params = common::big_btsbm();
    let h = params.generate().unwrap();
    println!(
        "BTSBM: {} nodes, {} edges",
        h.graph.n(),
        h.graph.num_edges()
    );
    common::time("hsbm generate (200k nodes, depth 5)", 5, || {
        params.generate().unwrap().graph.num_edges()
    });
    let dir = std::env::temp_dir().join(format!("nb-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("g.edges.tsv");
    common::time("write edge list", 3, || {
        write_edge_list(&h.graph, &path).unwrap()
    });
    let bytes = std::fs::metadata(&path).unwrap().len();
    println!("edge list: {:.1} MB", bytes as f64 / 1e6);
    common::time("read edge list (unweighted)", 5, || {
        read_edge_list(&path, &EdgeListOptions::default())
            .unwrap()
            .0
            .num_edges()
    });
    println!("peak RSS {:.0} MiB", common::peak_rss_mib());
    std::fs::remove_dir_all(&dir).unwrap();
}
