//! Partitions to compare bricks against.
//!
//! * [`random_same_sizes`]: a random partition with the same brick-size histogram (DESIGN.md §3:
//!   every brick number is reported beside this one);
//! * [`weight_kmeans`]: MoEfication's parameter clustering (Zhang et al. 2022): k-means++ /
//!   Lloyd on the L2-normalised rows of `W_in` (unbalanced; MoEfication balances sizes).
//!
//! The graph-free stand-in bricks of the MiniLM experiments are in
//! [`crate::experiments::standin`].

use super::extract::Bricks;
use crate::activations::ffn::FfnLayer;
use crate::activations::TokenMatrix;
use crate::error::Result;
use crate::spectral::{kmeans, KMeansParams};
use crate::util::{rng_for, seed_for_stream};
use rand::seq::SliceRandom;

/// A random partition with the same brick sizes as `bricks` (neurons shuffled with `seed`).
/// No brick of it is a set-aside brick. Cost O(N).
pub fn random_same_sizes(bricks: &Bricks, seed: u64) -> Bricks {
    let mut perm: Vec<u32> = (0..bricks.n_neurons as u32).collect();
    perm.shuffle(&mut rng_for(seed, 0x5a17));
    let mut members = Vec::with_capacity(bricks.len());
    let mut at = 0;
    for s in bricks.sizes() {
        let mut m = perm[at..at + s].to_vec();
        m.sort_unstable();
        members.push(m);
        at += s;
    }
    Bricks {
        n_neurons: bricks.n_neurons,
        members,
        set_aside: None,
    }
}

/// Plain k-means++ seeding and Lloyd iterations ([`crate::spectral::kmeans`] with one run,
/// one candidate per seeding step, no subsample, iterations until no label changes or
/// `max_assign` assignment passes) on the rows of `points` (`[n, dim]`); returns a label per
/// point. Empty clusters are re-seeded with the point farthest from its centre. Deterministic
/// for a seed. Cost O(iters n k dim).
///
/// The random stream is the one the bricks k-means used before it became a call of
/// `spectral::kmeans` (stream `0x6b6d` of `seed`), so that the weight k-means, fold groups and
/// stand-in bricks, and the numbers of docs/bricks.md, are unchanged.
///
/// # Errors
/// `k` of zero or larger than the number of points.
pub(crate) fn kmeans_rows(
    points: &TokenMatrix,
    k: usize,
    seed: u64,
    max_assign: usize,
) -> Result<Vec<u32>> {
    let data: Vec<f64> = points.data.iter().map(|v| *v as f64).collect();
    let p = KMeansParams::new(k)
        .n_init(1)
        .local_trials(1)
        .subsample(0)
        .tol(0.0)
        // One assignment before the first update, then one per update.
        .max_iter(max_assign.saturating_sub(1).max(1))
        // kmeans draws run 0 from stream 1000 of its seed.
        .seed(seed_for_stream(seed, 0x6b6d, 1000));
    Ok(kmeans(&data, points.cols, &p)?.labels)
}

/// MoEfication parameter clustering: k-means (k-means++ seeding, Lloyd, `seed`) of the
/// L2-normalised `W_in` rows into `k` bricks. Cost O(iters N k d).
pub fn weight_kmeans(ffn: &FfnLayer, k: usize, seed: u64) -> Result<Bricks> {
    let (n, d) = (ffn.n_neurons, ffn.d_model);
    let mut pts = TokenMatrix::zeros(n, d);
    for i in 0..n {
        let row = pts.row_mut(i);
        for j in 0..d {
            row[j] = ffn.w_in[(i, j)];
        }
        let nrm = row
            .iter()
            .map(|v| (*v as f64).powi(2))
            .sum::<f64>()
            .sqrt()
            .max(1e-30) as f32;
        row.iter_mut().for_each(|v| *v /= nrm);
    }
    let labels = kmeans_rows(&pts, k, seed, 100)?;
    Bricks::from_labels(&labels, None)
}
