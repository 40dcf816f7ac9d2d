//! Partitions to compare bricks against, and a stand-in co-activation partition.
//!
//! * [`random_same_sizes`]: a random partition with the same brick-size histogram (DESIGN.md §3:
//!   every brick number is reported beside this one);
//! * [`weight_kmeans`]: MoEfication's parameter clustering (Zhang et al. 2022): k-means++ /
//!   Lloyd on the L2-normalised rows of `W_in` (unbalanced; MoEfication balances sizes);
//! * [`standin_phi_bricks`]: **a stand-in** for the co-activation graph + bottom-up clustering of
//!   the `coactivation` and `hierarchy` modules, computed from activations alone: binarise the
//!   top 10% contributions per token, set aside dead / resident neurons (`a > 0` on no token /
//!   on more than 90% of tokens), k-means on the centred unit-norm binary profiles (so that
//!   the dot product is the phi coefficient), then average linkage of the clusters on mean phi.

use super::extract::Bricks;
use super::ffn::{par, FfnLayer, TokenMatrix};
use crate::error::{Error, Result};
use crate::hierarchy::{Dendrogram, HeightMap};
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

/// Dead (never `a > 0`) and resident (`a > 0` on more than `resident` of the tokens) neurons
/// of calibration activations `a`, ascending.
pub fn dead_and_resident(a: &TokenMatrix, resident: f64) -> Vec<u32> {
    let rate = super::route::firing_rate(a);
    (0..a.cols as u32)
        .filter(|&i| rate[i as usize] == 0.0 || rate[i as usize] > resident)
        .collect()
}

/// The stand-in brick dendrogram (see the module docs), built on calibration contributions
/// `contrib` and activations `a` (`[T, N]`): `k` leaves over the non-set-aside neurons, merged
/// by average linkage on mean phi. Node ids are the neuron indices, so
/// [`Bricks::from_dendrogram`] turns it into bricks with the set-aside brick.
/// Cost O(T N) + k-means O(iters N k T).
pub fn standin_phi_bricks(
    a: &TokenMatrix,
    contrib: &TokenMatrix,
    k: usize,
    seed: u64,
) -> Result<Dendrogram> {
    let (t_n, n) = (a.rows, a.cols);
    if contrib.rows != t_n || contrib.cols != n {
        return Err(Error::Input(
            "activations and contributions differ in shape".into(),
        ));
    }
    let aside = dead_and_resident(a, 0.9);
    let mut is_aside = vec![false; n];
    aside.iter().for_each(|&i| is_aside[i as usize] = true);
    let keep: Vec<usize> = (0..n).filter(|&i| !is_aside[i]).collect();
    // Binarise: top 10% contributions per token.
    let top = (n / 10).max(1);
    let mut b = vec![0f32; n * t_n]; // neuron-major profiles [N, T]
    let mut idx: Vec<usize> = Vec::with_capacity(n);
    for t in 0..t_n {
        let c = contrib.row(t);
        idx.clear();
        idx.extend(0..n);
        idx.select_nth_unstable_by(top, |&p, &q| c[q].total_cmp(&c[p]).then(p.cmp(&q)));
        for &i in &idx[..top] {
            b[i * t_n + t] = 1.0;
        }
    }
    let mut z = TokenMatrix::zeros(keep.len(), t_n);
    for (r, &i) in keep.iter().enumerate() {
        let prof = &b[i * t_n..(i + 1) * t_n];
        let mean = prof.iter().sum::<f32>() / t_n as f32;
        let row = z.row_mut(r);
        for (dst, v) in row.iter_mut().zip(prof) {
            *dst = v - mean;
        }
        let nrm = row.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
        if nrm > 0.0 {
            row.iter_mut().for_each(|v| *v /= nrm as f32);
        }
    }
    let mut labels = kmeans(&z, k, seed, 100)?;
    // Compact the labels in case k-means ended with an empty cluster.
    let mut remap = vec![u32::MAX; k];
    let mut k = 0usize;
    for l in labels.iter_mut() {
        if remap[*l as usize] == u32::MAX {
            remap[*l as usize] = k as u32;
            k += 1;
        }
        *l = remap[*l as usize];
    }
    let mut leaves = vec![Vec::new(); k];
    let mut sums = vec![vec![0f64; t_n]; k];
    for (r, &l) in labels.iter().enumerate() {
        leaves[l as usize].push(keep[r] as u32);
        for (s, v) in sums[l as usize].iter_mut().zip(z.row(r)) {
            *s += *v as f64;
        }
    }
    // Average linkage on mean phi: sim(A, B) = <ΣA z, ΣB z> / (|A| |B|).
    let mut active: Vec<(usize, Vec<f64>, usize)> = (0..k)
        .map(|c| (c, sums[c].clone(), leaves[c].len()))
        .collect();
    let mut internal = Vec::with_capacity(k.saturating_sub(1));
    while active.len() > 1 {
        let (mut bp, mut bq, mut bs) = (0, 1, f64::NEG_INFINITY);
        for p in 0..active.len() {
            for q in p + 1..active.len() {
                let dot: f64 = active[p]
                    .1
                    .iter()
                    .zip(&active[q].1)
                    .map(|(x, y)| x * y)
                    .sum();
                let s = dot / (active[p].2 * active[q].2) as f64;
                if s > bs {
                    (bp, bq, bs) = (p, q, s);
                }
            }
        }
        let (iq, vq, nq) = active.swap_remove(bq);
        let (ip, vp, np) = active.swap_remove(bp);
        let v: Vec<f64> = vp.iter().zip(&vq).map(|(x, y)| x + y).collect();
        internal.push((ip, iq, bs));
        active.push((k + internal.len() - 1, v, np + nq));
    }
    let ids: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    Ok(Dendrogram::from_tree(
        ids,
        leaves,
        &internal,
        HeightMap::OneMinus,
        "standin-phi-kmeans-average-linkage",
    )?
    .with_params(serde_json::json!({
        "binarise": "top 10% contribution per token",
        "set_aside": "dead (never a > 0) or resident (a > 0 on > 90% of tokens)",
        "k": k, "seed": seed,
        "note": "stand-in for the co-activation graph + BottomUp clustering"
    })))
}
