//! Long-run check (issue 13): the peak memory of `coactivation` streaming an activation file
//! stays flat from 10^4 to 10^6 tokens (the file is read in chunks; only the N x N counts grow
//! with N, not with T).
//!
//! `cargo bench --bench coactivation_memory` (no harness). For each token count the bench
//! writes a float16 `.npy` of `T x NB_NEURONS` (default 256) to a temporary folder, in chunks,
//! then runs itself again in a child process that streams it through the library exactly as
//! the CLI does (open, count, graph, write the edge list) and reports its own peak resident set
//! (`VmHWM`). `NB_TOKENS=10000,100000,1000000` changes the sizes.

#[path = "common.rs"]
#[allow(dead_code)]
mod common;

use neurobricks::activations::{ActivationSource, Activations};
use neurobricks::coactivation::{Binarize, CoactivationParams};
use neurobricks::graph::write_edge_list;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn write_npy(path: &Path, tokens: usize, neurons: usize) {
    let dict =
        format!("{{'descr': '<f2', 'fortran_order': False, 'shape': ({tokens}, {neurons}), }}");
    let mut h = dict.into_bytes();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(b' ');
    }
    h.push(b'\n');
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    w.write_all(b"\x93NUMPY\x01\x00").unwrap();
    w.write_all(&(h.len() as u16).to_le_bytes()).unwrap();
    w.write_all(&h).unwrap();
    let mut x: u64 = 7;
    let mut row = vec![0u8; 2 * neurons];
    for t in 0..tokens {
        for (i, b) in row.chunks_exact_mut(2).enumerate() {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Neurons of a group of 16 fire together on a token of their group.
            let on = (i / 16) == t % (neurons / 16) || (x >> 59) == 0;
            let v = if on {
                half::f16::from_f32(1.0)
            } else {
                half::f16::from_f32(-0.1)
            };
            b.copy_from_slice(&v.to_le_bytes());
        }
        w.write_all(&row).unwrap();
    }
    w.flush().unwrap();
}

/// Child: stream `path` as the CLI does and print the peak RSS.
fn child(path: &Path, out: &Path) {
    let start = Instant::now();
    let src = Activations::open(&[path.to_path_buf()], None).expect("open");
    let params = CoactivationParams::default().binarize(Binarize::Positive);
    params.validate(src.neurons()).expect("params");
    let (counts, _) = params.count(&src, None, &mut |_| {}).expect("count");
    let (graph, report) = params.graph(&counts).expect("graph");
    write_edge_list(&graph, out).expect("write");
    println!(
        "{} {} {:.1} {:.2}",
        report.tokens,
        report.edges,
        common::peak_rss_mib(),
        start.elapsed().as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(Path::new(&args[i + 1]), Path::new(&args[i + 2]));
        return;
    }
    let neurons: usize = std::env::var("NB_NEURONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let sizes: Vec<usize> = std::env::var("NB_TOKENS")
        .unwrap_or_else(|_| "10000,100000,1000000".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("NB_TOKENS: comma-separated numbers")
        })
        .collect();
    let dir: PathBuf = std::env::temp_dir().join(format!("nb-coact-mem-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!("coactivation streaming peak memory, {neurons} neurons (float16 .npy):");
    println!(
        "{:>10} {:>10} {:>14} {:>10} {:>9}",
        "tokens", "file MiB", "peak RSS MiB", "edges", "seconds"
    );
    let mut peaks = Vec::new();
    for &t in &sizes {
        let npy = dir.join(format!("a{t}.npy"));
        write_npy(&npy, t, neurons);
        let mib = std::fs::metadata(&npy).unwrap().len() as f64 / (1 << 20) as f64;
        let o = Command::new(std::env::current_exe().unwrap())
            .arg("--child")
            .arg(&npy)
            .arg(dir.join("g.tsv"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let line = String::from_utf8_lossy(&o.stdout).trim().to_string();
        let f: Vec<&str> = line.split_whitespace().collect();
        let peak: f64 = f[2].parse().unwrap();
        println!("{t:>10} {mib:>10.1} {peak:>14.1} {:>10} {:>9}", f[1], f[3]);
        peaks.push(peak);
        std::fs::remove_file(&npy).unwrap();
    }
    let (lo, hi) = peaks
        .iter()
        .fold((f64::INFINITY, 0f64), |(a, b), &p| (a.min(p), b.max(p)));
    println!(
        "peak RSS ranges {lo:.1}..{hi:.1} MiB ({:.2}x) over a {}x range of tokens",
        hi / lo,
        sizes.last().unwrap() / sizes[0]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
