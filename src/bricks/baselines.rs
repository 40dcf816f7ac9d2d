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
use crate::activations::ffn::{par, FfnLayer};
use crate::activations::TokenMatrix;
use crate::error::{Error, Result};
use crate::util::rng_for;
use faer::{Accum, Mat, MatRef};
use rand::seq::SliceRandom;
use rand::Rng as _;

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

/// k-means++ seeding and Lloyd iterations on the rows of `points` (`[n, dim]` row-major);
/// returns a label per point. Empty clusters are re-seeded with the point farthest from its
/// centre. Deterministic for a seed. Cost O(iters n k dim) (one matmul per iteration).
///
/// # Errors
/// `k` of zero or larger than the number of points.
pub fn kmeans(points: &TokenMatrix, k: usize, seed: u64, max_iter: usize) -> Result<Vec<u32>> {
    let (n, dim) = (points.rows, points.cols);
    if k == 0 || k > n {
        return Err(Error::param(
            "k",
            format!("k-means needs 1 <= k <= {n} points, got {k}"),
        ));
    }
    let mut rng = rng_for(seed, 0x6b6d);
    let norm2: Vec<f64> = (0..n)
        .map(|i| points.row(i).iter().map(|v| (*v as f64).powi(2)).sum())
        .collect();
    let dist2 = |i: usize, c: &[f32]| -> f64 {
        points
            .row(i)
            .iter()
            .zip(c)
            .map(|(a, b)| ((a - b) as f64).powi(2))
            .sum()
    };
    // k-means++.
    let mut centres = TokenMatrix::zeros(k, dim);
    let first = rng.random_range(0..n);
    centres.row_mut(0).copy_from_slice(points.row(first));
    let mut best: Vec<f64> = (0..n).map(|i| dist2(i, centres.row(0))).collect();
    for c in 1..k {
        let tot: f64 = best.iter().sum();
        let pick = if tot <= 0.0 {
            rng.random_range(0..n)
        } else {
            let mut r = rng.random::<f64>() * tot;
            let mut p = n - 1;
            for (i, b) in best.iter().enumerate() {
                if r < *b {
                    p = i;
                    break;
                }
                r -= b;
            }
            p
        };
        centres.row_mut(c).copy_from_slice(points.row(pick));
        for i in 0..n {
            best[i] = best[i].min(dist2(i, centres.row(c)));
        }
    }
    let pts = points.as_transposed(); // [dim, n]
    let mut labels = vec![0u32; n];
    let mut dots = Mat::<f32>::zeros(k, n);
    for it in 0..max_iter {
        let cm = MatRef::from_column_major_slice(&centres.data, dim, k); // [dim, k]
        faer::linalg::matmul::matmul(&mut dots, Accum::Replace, cm.transpose(), pts, 1.0, par());
        let cn: Vec<f64> = (0..k)
            .map(|c| centres.row(c).iter().map(|v| (*v as f64).powi(2)).sum())
            .collect();
        let mut changed = false;
        let mut dmin = vec![0f64; n];
        for i in 0..n {
            let col = dots.col_as_slice(i);
            let (mut bc, mut bd) = (0usize, f64::INFINITY);
            for c in 0..k {
                let d = norm2[i] + cn[c] - 2.0 * col[c] as f64;
                if d < bd {
                    bd = d;
                    bc = c;
                }
            }
            dmin[i] = bd;
            if labels[i] != bc as u32 || it == 0 {
                changed |= labels[i] != bc as u32;
                labels[i] = bc as u32;
            }
        }
        // Update.
        let mut sum = vec![0f64; k * dim];
        let mut cnt = vec![0usize; k];
        for i in 0..n {
            let c = labels[i] as usize;
            cnt[c] += 1;
            for (s, v) in sum[c * dim..(c + 1) * dim].iter_mut().zip(points.row(i)) {
                *s += *v as f64;
            }
        }
        let mut reseeded = false;
        for c in 0..k {
            if cnt[c] == 0 {
                let far = (0..n)
                    .max_by(|&p, &q| dmin[p].total_cmp(&dmin[q]).then(q.cmp(&p)))
                    .unwrap();
                dmin[far] = -1.0;
                centres.row_mut(c).copy_from_slice(points.row(far));
                labels[far] = c as u32;
                reseeded = true;
            } else {
                for (dst, s) in centres
                    .row_mut(c)
                    .iter_mut()
                    .zip(&sum[c * dim..(c + 1) * dim])
                {
                    *dst = (*s / cnt[c] as f64) as f32;
                }
            }
        }
        if !changed && !reseeded && it > 0 {
            break;
        }
    }
    Ok(labels)
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
    let labels = kmeans(&pts, k, seed, 100)?;
    Bricks::from_labels(&labels, None)
}
