//! k-means with k-means++ seeding (Arthur & Vassilvitskii, SODA 2007), Lloyd iterations and
//! restarts, parallel over points (rayon).
//!
//! For large inputs the restarts (each a k-means++ seeding followed by Lloyd iterations) run on a
//! seeded random subsample; the best of them by inertia is then refined by Lloyd iterations on
//! all points. Results are reproducible for a given seed, whatever the number of threads.

use crate::error::{Error, Result};
use crate::util::rng_for;
use rand::Rng as _;
use rayon::prelude::*;

/// Parameters of [`kmeans`].
#[derive(Debug, Clone)]
pub struct KMeansParams {
    /// Number of clusters.
    pub k: usize,
    /// Number of k-means++ restarts; the lowest inertia wins.
    pub n_init: usize,
    /// Maximum Lloyd iterations per run.
    pub max_iter: usize,
    /// Convergence: stop when the summed squared centre shift is below `tol` times the mean
    /// per-feature variance of the data (scikit-learn's rule).
    pub tol: f64,
    /// Restarts run on a subsample of this many points when the data has more (0: never).
    pub subsample: usize,
    /// Seed of every random choice.
    pub seed: u64,
}

impl KMeansParams {
    /// Defaults for `k` clusters: 10 restarts, 300 iterations, tol 1e-4, subsample 20,000.
    pub fn new(k: usize) -> Self {
        KMeansParams {
            k,
            n_init: 10,
            max_iter: 300,
            tol: 1e-4,
            subsample: 20_000,
            seed: 0,
        }
    }
    /// Set the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Set the number of restarts.
    pub fn n_init(mut self, n: usize) -> Self {
        self.n_init = n;
        self
    }
}

/// Result of [`kmeans`].
#[derive(Debug, Clone)]
pub struct KMeansResult {
    /// Cluster of each point, `0..k`.
    pub labels: Vec<u32>,
    /// Centres, row-major `k x dim`.
    pub centers: Vec<f64>,
    /// Sum of squared distances of points to their centres.
    pub inertia: f64,
    /// Lloyd iterations of the final run.
    pub iterations: usize,
    /// Whether the final run met the tolerance before `max_iter`.
    pub converged: bool,
}

/// Lanes of [`dist2`]'s partial sums.
const LANES: usize = 8;

/// Squared Euclidean distance, accumulated in [`LANES`] interleaved partial sums so that the
/// compiler can vectorise it (a single running sum is one long chain of dependent additions).
/// The summation order is fixed by the code, so the result does not depend on the thread count.
#[inline(always)]
fn dist2(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f64; LANES];
    let (xs, ys) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f64 = xs
        .remainder()
        .iter()
        .zip(ys.remainder())
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    for (x, y) in xs.zip(ys) {
        for j in 0..LANES {
            let d = x[j] - y[j];
            acc[j] += d * d;
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// k-means on `n` points of dimension `dim` stored row-major in `data`.
///
/// # Errors
/// `k == 0`, `k > n`, `dim == 0`, non-finite data.
///
/// # Complexity
/// O(n_init * iters * s * k * dim) for the restarts on `s = min(n, subsample)` points, plus
/// O(iters * n * k * dim) for the final refinement; O(n + k dim) extra memory.
pub fn kmeans(data: &[f64], dim: usize, params: &KMeansParams) -> Result<KMeansResult> {
    if dim == 0 {
        return Err(Error::param("dim", "must be positive"));
    }
    let n = data.len() / dim;
    let k = params.k;
    if k == 0 {
        return Err(Error::param("k", "must be at least 1"));
    }
    if k > n {
        return Err(Error::param("k", format!("{k} clusters for {n} points")));
    }
    if data.iter().any(|x| !x.is_finite()) {
        return Err(Error::Input(
            "k-means input contains NaN or infinite values".into(),
        ));
    }
    let tol = params.tol * mean_variance(data, dim);
    let use_sub = params.subsample > 0 && n > params.subsample && params.subsample >= k;
    let sample: Vec<f64> = if use_sub {
        let mut rng = rng_for(params.seed, 0x5AB);
        let idx = rand::seq::index::sample(&mut rng, n, params.subsample);
        let mut v: Vec<usize> = idx.into_vec();
        v.sort_unstable();
        v.iter()
            .flat_map(|&i| data[i * dim..(i + 1) * dim].iter().copied())
            .collect()
    } else {
        Vec::new()
    };
    let work: &[f64] = if use_sub { &sample } else { data };
    let runs: Vec<KMeansResult> = (0..params.n_init.max(1))
        .into_par_iter()
        .map(|r| {
            let mut rng = rng_for(params.seed, 1000 + r as u64);
            let centers = plus_plus(work, dim, k, &mut rng);
            lloyd(work, dim, centers, params.max_iter, tol)
        })
        .collect();
    let best = runs
        .into_iter()
        .min_by(|a, b| a.inertia.total_cmp(&b.inertia))
        .expect("at least one run");
    if use_sub {
        Ok(lloyd(data, dim, best.centers, params.max_iter, tol))
    } else {
        Ok(best)
    }
}

fn mean_variance(data: &[f64], dim: usize) -> f64 {
    let n = (data.len() / dim) as f64;
    let mut mean = vec![0.0; dim];
    for row in data.chunks_exact(dim) {
        mean.iter_mut().zip(row).for_each(|(m, x)| *m += x);
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = 0.0;
    for row in data.chunks_exact(dim) {
        var += dist2(row, &mean);
    }
    var / (n * dim as f64)
}

/// Greedy k-means++ seeding (2 + ln k candidates per step, as scikit-learn).
fn plus_plus(data: &[f64], dim: usize, k: usize, rng: &mut crate::util::Rng) -> Vec<f64> {
    let n = data.len() / dim;
    let mut centers = Vec::with_capacity(k * dim);
    let first = rng.random_range(0..n);
    centers.extend_from_slice(&data[first * dim..(first + 1) * dim]);
    let mut closest: Vec<f64> = data
        .par_chunks_exact(dim)
        .map(|x| dist2(x, &centers[..dim]))
        .collect();
    let trials = 2 + (k as f64).ln() as usize;
    for _ in 1..k {
        let total: f64 = closest.iter().sum();
        let mut best: Option<(f64, Vec<f64>, usize)> = None;
        for _ in 0..trials {
            let cand = if total > 0.0 {
                let mut t = rng.random::<f64>() * total;
                let mut c = n - 1;
                for (i, &d) in closest.iter().enumerate() {
                    t -= d;
                    if t <= 0.0 {
                        c = i;
                        break;
                    }
                }
                c
            } else {
                rng.random_range(0..n)
            };
            let cx = &data[cand * dim..(cand + 1) * dim];
            let newd: Vec<f64> = data
                .par_chunks_exact(dim)
                .zip(closest.par_iter())
                .map(|(x, &d)| d.min(dist2(x, cx)))
                .collect();
            let pot: f64 = newd.iter().sum();
            if best.as_ref().is_none_or(|b| pot < b.0) {
                best = Some((pot, newd, cand));
            }
        }
        let (_, newd, cand) = best.expect("trials >= 1");
        closest = newd;
        centers.extend_from_slice(&data[cand * dim..(cand + 1) * dim]);
    }
    centers
}

/// Assign every point to its nearest centre; returns labels, distances and inertia.
fn assign(data: &[f64], dim: usize, centers: &[f64]) -> (Vec<u32>, Vec<f64>) {
    data.par_chunks_exact(dim)
        .map(|x| {
            let mut best = (f64::INFINITY, 0u32);
            for (c, cc) in centers.chunks_exact(dim).enumerate() {
                let d = dist2(x, cc);
                if d < best.0 {
                    best = (d, c as u32);
                }
            }
            (best.1, best.0)
        })
        .unzip()
}

fn lloyd(
    data: &[f64],
    dim: usize,
    mut centers: Vec<f64>,
    max_iter: usize,
    tol: f64,
) -> KMeansResult {
    let k = centers.len() / dim;
    let mut iterations = 0;
    let mut converged = false;
    let (mut labels, mut dists) = assign(data, dim, &centers);
    for _ in 0..max_iter {
        iterations += 1;
        // New centres: per-chunk partial sums, reduced.
        let (sums, counts) = data
            .par_chunks(dim * 4096)
            .zip(labels.par_chunks(4096))
            .map(|(xs, ls)| {
                let mut s = vec![0.0; k * dim];
                let mut c = vec![0usize; k];
                for (x, &l) in xs.chunks_exact(dim).zip(ls) {
                    let l = l as usize;
                    c[l] += 1;
                    s[l * dim..(l + 1) * dim]
                        .iter_mut()
                        .zip(x)
                        .for_each(|(a, b)| *a += b);
                }
                (s, c)
            })
            .reduce(
                || (vec![0.0; k * dim], vec![0usize; k]),
                |(mut s1, mut c1), (s2, c2)| {
                    s1.iter_mut().zip(&s2).for_each(|(a, b)| *a += b);
                    c1.iter_mut().zip(&c2).for_each(|(a, b)| *a += b);
                    (s1, c1)
                },
            );
        let mut new_centers = sums;
        let mut taken: Vec<usize> = Vec::new();
        for c in 0..k {
            if counts[c] > 0 {
                let inv = 1.0 / counts[c] as f64;
                new_centers[c * dim..(c + 1) * dim]
                    .iter_mut()
                    .for_each(|v| *v *= inv);
            } else {
                // Empty cluster: move it to the point farthest from its centre.
                let far = (0..dists.len())
                    .filter(|i| !taken.contains(i))
                    .max_by(|&a, &b| dists[a].total_cmp(&dists[b]))
                    .unwrap_or(0);
                taken.push(far);
                new_centers[c * dim..(c + 1) * dim]
                    .copy_from_slice(&data[far * dim..(far + 1) * dim]);
            }
        }
        let shift: f64 = centers
            .chunks_exact(dim)
            .zip(new_centers.chunks_exact(dim))
            .map(|(a, b)| dist2(a, b))
            .sum();
        centers = new_centers;
        let (l, d) = assign(data, dim, &centers);
        let changed = l != labels;
        labels = l;
        dists = d;
        if shift <= tol || !changed {
            converged = true;
            break;
        }
    }
    let inertia = dists.iter().sum();
    KMeansResult {
        labels,
        centers,
        inertia,
        iterations,
        converged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::adjusted_rand_index;
    use rand_distr::{Distribution, Normal};

    fn blobs(n_per: usize, k: usize, dim: usize, spread: f64, seed: u64) -> (Vec<f64>, Vec<usize>) {
        let mut rng = rng_for(seed, 0);
        let noise = Normal::new(0.0, spread).unwrap();
        let mut data = Vec::new();
        let mut truth = Vec::new();
        for c in 0..k {
            for _ in 0..n_per {
                for d in 0..dim {
                    let centre = if d == c % dim {
                        10.0 * (1 + c / dim) as f64
                    } else {
                        0.0
                    };
                    data.push(centre + noise.sample(&mut rng));
                }
                truth.push(c);
            }
        }
        (data, truth)
    }

    #[test]
    fn recovers_separated_blobs_and_is_reproducible() {
        let (data, truth) = blobs(200, 6, 3, 0.5, 1);
        let p = KMeansParams::new(6).seed(3);
        let r = kmeans(&data, 3, &p).unwrap();
        let labels: Vec<usize> = r.labels.iter().map(|&l| l as usize).collect();
        assert_eq!(adjusted_rand_index(&truth, &labels).unwrap(), 1.0);
        assert!(r.converged);
        let r2 = kmeans(&data, 3, &p).unwrap();
        assert_eq!(r.labels, r2.labels);
    }

    #[test]
    fn subsampled_restarts_refine_on_all_points() {
        let (data, truth) = blobs(3000, 8, 4, 0.7, 2);
        let mut p = KMeansParams::new(8).seed(1);
        p.subsample = 2000;
        let r = kmeans(&data, 4, &p).unwrap();
        let labels: Vec<usize> = r.labels.iter().map(|&l| l as usize).collect();
        assert!(adjusted_rand_index(&truth, &labels).unwrap() > 0.999);
        assert_eq!(r.labels.len(), 24000);
    }

    #[test]
    fn bad_parameters() {
        assert!(kmeans(&[0.0, 1.0], 1, &KMeansParams::new(3)).is_err());
        assert!(kmeans(&[0.0, f64::NAN], 1, &KMeansParams::new(1)).is_err());
        assert!(kmeans(&[0.0, 1.0], 1, &KMeansParams::new(0)).is_err());
    }
}
