//! **A stand-in** for the co-activation graph + bottom-up clustering of the `coactivation` and
//! `hierarchy` modules, computed from activations alone (`neurobricks bricks --bricks standin`):
//! binarise the top 10% contributions per token, set aside dead / resident neurons (`a > 0` on
//! no token / on more than 90% of tokens), k-means on the centred unit-norm binary profiles (so
//! that the dot product is the phi coefficient), then average linkage of the clusters on mean
//! phi.

use crate::activations::TokenMatrix;
use crate::error::{Error, Result};
use crate::hierarchy::linkage::average_linkage;
use crate::hierarchy::{Dendrogram, HeightMap};

/// Dead (never `a > 0`) and resident (`a > 0` on more than `resident` of the tokens) neurons
/// of calibration activations `a`, ascending.
pub fn dead_and_resident(a: &TokenMatrix, resident: f64) -> Vec<u32> {
    let rate = crate::bricks::route::firing_rate(a);
    (0..a.cols as u32)
        .filter(|&i| rate[i as usize] == 0.0 || rate[i as usize] > resident)
        .collect()
}

/// The stand-in brick dendrogram (see the module docs), built on calibration contributions
/// `contrib` and activations `a` (`[T, N]`): `k` leaves over the non-set-aside neurons, merged
/// by average linkage on mean phi. Node ids are the neuron indices, so
/// [`crate::bricks::Bricks::from_dendrogram`] turns it into bricks with the set-aside brick.
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
    let mut labels = crate::bricks::baselines::kmeans_rows(&z, k, seed, 100)?;
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
    // Average linkage on mean phi, sim(A, B) = <ΣA z, ΣB z> / (|A| |B|): the edge-density
    // linkage of `hierarchy` on the "mass" <ΣA z, ΣB z>, which is additive under merges.
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let mut mass = vec![0f64; k * k];
    for a in 0..k {
        for b in a + 1..k {
            let m = dot(&sums[a], &sums[b]);
            mass[a * k + b] = m;
            mass[b * k + a] = m;
        }
    }
    let sizes: Vec<usize> = leaves.iter().map(Vec::len).collect();
    let internal = average_linkage(&mass, &sizes, k);
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
