//! LLM-size layer benchmark: 1,000,000 tokens x 11,008 neurons (a LLaMA-7B FFN layer) streamed
//! through exact co-activation counting, phi weighting + kNN sparsification and bottom-up
//! clustering, with planted neuron groups to recover.
//!
//! `cargo bench --bench llm_layer` (plain `std::time`, no harness). The activations are
//! synthetic and generated chunk by chunk while they are counted (no 44 GB file): 43 planted
//! groups of 256 neurons (in a seeded random neuron order); on each token every group is on with
//! probability `NB_P_ON` (default 0.1), a neuron of an "on" group fires with probability
//! `NB_P_FIRE` (0.4), any other neuron with `NB_P_NOISE` (0.01), so about 5% of the entries are
//! active. Firing neurons get the value 1, silent ones -0.1 (`--binarize positive` recovers the
//! planted firing exactly). Environment: `NB_TOKENS` (1,000,000), `NB_NEURONS` (11,008),
//! `NB_GROUP` (256 neurons per group), `NB_KNN` (10), `NB_SEED` (0).
//!
//! Prints the wall time and the process's peak RSS after each stage, the ARI of the bottom-up
//! communities against the planted groups, and the counting cost per token per neuron pair.

#[path = "common.rs"]
mod common;

use neurobricks::activations::{ActivationSource, Chunk};
use neurobricks::coactivation::{Binarize, CoactivationParams, Sparsify, Weight};
use neurobricks::hierarchy::BottomUp;
use neurobricks::metrics::adjusted_rand_index;
use neurobricks::util::rng_for;
use rand::seq::SliceRandom;
use rand::Rng;
use rayon::prelude::*;
use std::time::Instant;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Synthetic activations generated on the fly, the same values in every pass.
struct Planted {
    tokens: usize,
    neurons: usize,
    /// Planted group of every neuron.
    group: Vec<usize>,
    /// Neurons of every group.
    members: Vec<Vec<usize>>,
    p_on: f64,
    p_fire: f64,
    p_noise: f64,
    seed: u64,
}

impl Planted {
    /// Token `t`'s activations into `row` (seeded per token, so any chunking gives the same).
    fn fill(&self, t: usize, row: &mut [f32], on: &mut Vec<bool>) {
        let mut rng = rng_for(self.seed, t as u64);
        row.fill(-0.1);
        on.clear();
        on.extend((0..self.members.len()).map(|_| rng.random::<f64>() < self.p_on));
        for (g, m) in self.members.iter().enumerate() {
            if on[g] {
                for &i in m {
                    if rng.random::<f64>() < self.p_fire {
                        row[i] = 1.0;
                    }
                }
            }
        }
        // Noise: geometric skips over all neurons, kept only outside "on" groups.
        let ln_q = (1.0 - self.p_noise).ln();
        let mut i = 0usize;
        loop {
            let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
            i += (u.ln() / ln_q).floor() as usize;
            if i >= self.neurons {
                break;
            }
            if !on[self.group[i]] {
                row[i] = 1.0;
            }
            i += 1;
        }
    }
}

impl ActivationSource for Planted {
    fn tokens(&self) -> usize {
        self.tokens
    }
    fn neurons(&self) -> usize {
        self.neurons
    }
    fn chunks<'a>(
        &'a self,
        chunk_tokens: usize,
    ) -> neurobricks::Result<Box<dyn Iterator<Item = neurobricks::Result<Chunk>> + Send + 'a>> {
        let ct = chunk_tokens.max(1);
        let n = self.neurons;
        Ok(Box::new((0..self.tokens).step_by(ct).map(move |t0| {
            let tokens = ct.min(self.tokens - t0);
            let mut data = vec![0f32; tokens * n];
            data.par_chunks_mut(n)
                .enumerate()
                .for_each_init(Vec::new, |on, (k, row)| self.fill(t0 + k, row, on));
            Ok(Chunk {
                first_token: t0,
                tokens,
                neurons: n,
                data,
            })
        })))
    }
}

fn main() {
    let tokens: usize = env("NB_TOKENS", 1_000_000);
    let neurons: usize = env("NB_NEURONS", 11_008);
    let gsize: usize = env("NB_GROUP", 256);
    let knn: usize = env("NB_KNN", 10);
    let seed: u64 = env("NB_SEED", 0);
    let groups = neurons.div_ceil(gsize);
    let mut order: Vec<usize> = (0..neurons).collect();
    order.shuffle(&mut rng_for(seed, u64::MAX));
    let mut group = vec![0usize; neurons];
    let mut members = vec![Vec::new(); groups];
    for (pos, &i) in order.iter().enumerate() {
        group[i] = pos / gsize;
        members[pos / gsize].push(i);
    }
    let src = Planted {
        tokens,
        neurons,
        group,
        members,
        p_on: env("NB_P_ON", 0.1),
        p_fire: env("NB_P_FIRE", 0.4),
        p_noise: env("NB_P_NOISE", 0.01),
        seed,
    };
    println!(
        "LLM-size layer: {tokens} tokens x {neurons} neurons, {groups} planted groups of {gsize}, \
         p_on {}, p_fire {}, p_noise {}, {} threads",
        src.p_on,
        src.p_fire,
        src.p_noise,
        rayon::current_num_threads()
    );
    let params = CoactivationParams::default()
        .binarize(Binarize::Positive)
        .weight(Weight::Phi)
        .sparsify(Sparsify::Knn(knn));
    let t_all = Instant::now();
    let t = Instant::now();
    let (counts, _) = params.count(&src, None, &mut |_| {}).expect("counting");
    let t_count = t.elapsed().as_secs_f64();
    let active: u64 = (0..neurons).map(|i| counts.n_i(i) as u64).sum();
    println!(
        "count: {t_count:.2} s, peak RSS {:.0} MiB, measured activity {:.4}",
        common::peak_rss_mib(),
        active as f64 / (tokens as f64 * neurons as f64)
    );
    let t = Instant::now();
    let (graph, report) = params.graph(&counts).expect("graph");
    let t_graph = t.elapsed().as_secs_f64();
    println!(
        "weight phi + knn:{knn}: {t_graph:.2} s, {} nodes, {} edges, peak RSS {:.0} MiB",
        graph.n(),
        graph.num_edges(),
        common::peak_rss_mib()
    );
    drop(counts);
    let t = Instant::now();
    let fit = BottomUp::new()
        .k(Some(groups))
        .seed(seed)
        .fit(&graph)
        .expect("bottom-up");
    let t_fit = t.elapsed().as_secs_f64();
    let truth: Vec<usize> = report.kept.iter().map(|&i| src.group[i]).collect();
    let found: Vec<usize> = fit.communities.iter().map(|&c| c as usize).collect();
    let ari = adjusted_rand_index(&truth, &found).expect("ari");
    let total = t_all.elapsed().as_secs_f64();
    println!(
        "bottom-up (K = {groups}): {t_fit:.2} s, peak RSS {:.0} MiB",
        common::peak_rss_mib()
    );
    let pairs = neurons as f64 * (neurons as f64 + 1.0) / 2.0;
    println!(
        "total {total:.2} s, peak RSS {:.0} MiB, ARI vs planted groups {ari:.4}; counting cost \
         {:.3} ns per token per neuron pair ({:.2} ps per token-pair)",
        common::peak_rss_mib(),
        t_count * 1e9 / (tokens as f64 * pairs),
        t_count * 1e12 / (tokens as f64 * pairs)
    );
}
