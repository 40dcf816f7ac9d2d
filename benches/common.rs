//! Tiny timing harness shared by the benchmarks (no criterion: keeps the build light).

use std::time::Instant;

/// Run `f` `reps` times after one warm-up and print min / median wall time.
#[allow(dead_code)]
pub fn time<T>(name: &str, reps: usize, mut f: impl FnMut() -> T) -> f64 {
    std::hint::black_box(f());
    let mut t: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let s = Instant::now();
            std::hint::black_box(f());
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{name:<48} min {:>9.4} s   median {:>9.4} s   ({} runs)",
        t[0],
        t[t.len() / 2],
        t.len()
    );
    t[0]
}

/// Peak resident set size of this process so far, in MiB (Linux; 0 elsewhere).
#[allow(dead_code)]
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.to_string())
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The benchmark graph: a BTSBM with 200,000 nodes, depth 5 (32 communities) and about
/// 5 million edges (`p[l] = 0.0035 * 0.4^(5 - l)`).
#[allow(dead_code)]
pub fn big_btsbm() -> neurobricks::hsbm::HsbmParams {
    use neurobricks::hsbm::{EdgeProbs, HsbmParams, Sizes};
    let p5 = 0.0035;
    let p: Vec<f64> = (0..=5).map(|l| p5 * 0.4f64.powi(5 - l)).collect();
    HsbmParams::default()
        .depth(5)
        .branching(2)
        .probs(EdgeProbs::P(p))
        .sizes(Sizes::Equal(200_000))
        .seed(1)
}
