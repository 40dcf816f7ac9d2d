//! Co-activation counting benchmark: exact pair counts of a binarised 100,000-token x 3,072-neuron
//! matrix at 10% density, against NumPy's float32 `B.T @ B` on the same machine in the same run.
//!
//! `cargo bench --bench coactivation` (plain `std::time`, no harness). Sizes can be changed with
//! `NB_TOKENS`, `NB_NEURONS`, `NB_DENSITY`, `NB_REPEAT`; `NB_KERNELS=all` also times the dense and sparse kernels forced;
//! `NB_SKIP_NUMPY=1` skips NumPy,
//! `NB_NUMPY_SCRIPT=PATH` names the NumPy script.
//! NumPy is run through `benches/coactivation_numpy.py` when present, else an inline script.

use neurobricks::activations::TokenMatrix;
use neurobricks::coactivation::{Binarize, CoactivationParams, Kernel, Sparsify};
use neurobricks::util::rng_for;
use rand::Rng;
use rayon::prelude::*;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let tokens: usize = env("NB_TOKENS", 100_000);
    let neurons: usize = env("NB_NEURONS", 3072);
    let density: f64 = env("NB_DENSITY", 0.1);
    let repeat: usize = env("NB_REPEAT", 3);
    println!(
        "co-activation counting: {tokens} tokens x {neurons} neurons, density {density}, {} threads",
        rayon::current_num_threads()
    );

    let t0 = Instant::now();
    let rows = 4096;
    let mut data = vec![0f32; tokens * neurons];
    data.par_chunks_mut(rows * neurons)
        .enumerate()
        .for_each(|(k, c)| {
            let mut rng = rng_for(0, k as u64);
            for v in c.iter_mut() {
                *v = (rng.random::<f64>() < density) as u8 as f32;
            }
        });
    let ones = data.iter().filter(|&&v| v > 0.0).count();
    println!(
        "generated B (f32 0/1, {:.0} MiB) in {:.2} s, measured density {:.5}",
        (tokens * neurons * 4) as f64 / (1 << 20) as f64,
        t0.elapsed().as_secs_f64(),
        ones as f64 / (tokens * neurons) as f64
    );
    let src = TokenMatrix::new(tokens, neurons, data).expect("valid activations");

    let mut best = f64::INFINITY;
    let mut check = 0u64;
    let mut last = None;
    let kernels: Vec<Kernel> = match std::env::var("NB_KERNELS").as_deref() {
        Ok("all") => vec![Kernel::Auto, Kernel::Dense, Kernel::Sparse],
        _ => vec![Kernel::Auto],
    };
    for kernel in kernels {
        let params = CoactivationParams::default()
            .binarize(Binarize::Positive)
            .kernel(kernel);
        let mut times = Vec::new();
        for _ in 0..repeat.max(1) {
            let t = Instant::now();
            let (c, _) = params
                .count(&src, None, &mut |_| {})
                .expect("counting succeeds");
            times.push(t.elapsed().as_secs_f64());
            check = (0..neurons).map(|i| c.n_i(i) as u64).sum();
            last = Some(c);
        }
        let b = times.iter().cloned().fold(f64::INFINITY, f64::min);
        best = best.min(b);
        println!(
            "neurobricks count ({kernel:?} kernel, binarise + exact n_ij, u32): {} s; best {b:.3} s",
            times
                .iter()
                .map(|x| format!("{x:.3}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    assert_eq!(check as usize, ones, "trace of the counts = number of ones");
    drop(src);
    // The graph step on those counts: N² phi weights (vectorised rows), kNN selection, graph.
    let counts = last.expect("counted at least once");
    let gp = CoactivationParams::default().sparsify(Sparsify::Knn(10));
    let mut times = Vec::new();
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        let (g, _) = gp.graph(&counts).expect("graph step succeeds");
        times.push(t.elapsed().as_secs_f64());
        std::hint::black_box(&g);
    }
    println!(
        "neurobricks graph step (phi, knn:10, {neurons} neurons): best {:.3} s",
        times.iter().cloned().fold(f64::INFINITY, f64::min)
    );

    if std::env::var_os("NB_SKIP_NUMPY").is_some() {
        return;
    }
    let script = std::env::var_os("NB_NUMPY_SCRIPT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/coactivation_numpy.py")
        });
    let out = if script.exists() {
        Command::new("python3")
            .arg(&script)
            .args([
                "--tokens",
                &tokens.to_string(),
                "--neurons",
                &neurons.to_string(),
                "--density",
                &density.to_string(),
                "--repeat",
                &repeat.to_string(),
            ])
            .output()
    } else {
        let code = format!(
            "import numpy as np, time\n\
             rng = np.random.default_rng(0)\n\
             b = (rng.random(({tokens}, {neurons}), dtype=np.float32) < {density}).astype(np.float32)\n\
             ts = []\n\
             for _ in range({repeat}):\n    t = time.perf_counter(); c = b.T @ b; ts.append(time.perf_counter() - t)\n\
             print('B.T @ B (float32): best %.3f s' % min(ts))\n"
        );
        Command::new("python3").args(["-c", &code]).output()
    };
    match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            for l in text.lines() {
                println!("numpy | {l}");
            }
            let np_best = text.lines().find_map(|l| {
                l.split("best ")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
                    .and_then(|x| x.parse::<f64>().ok())
            });
            if let Some(nb) = np_best {
                println!(
                    "RESULT: neurobricks {best:.3} s vs numpy B.T @ B {nb:.3} s: {:.1}x faster",
                    nb / best
                );
            }
        }
        Ok(o) => println!(
            "numpy run failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => println!("python3 not available: {e}"),
    }
}
