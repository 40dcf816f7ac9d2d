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

/// Points per parallel task in the passes over the data.
const BLOCK: usize = 1024;

/// k-means on `n` points of dimension `dim` stored row-major in `data`.
///
/// Minimises the inertia (sum of squared distances of points to their nearest centre) by
/// restarts of greedy k-means++ seeding (Arthur & Vassilvitskii, "k-means++: the advantages of
/// careful seeding", SODA 2007) followed by Lloyd iterations; the run of lowest inertia wins.
/// When `n > subsample`, the restarts run on a seeded subsample of `subsample` points and the
/// winner's centres are refined by Lloyd iterations on all points.
///
/// Lloyd iterations skip distance computations with Hamerly's bounds (G. Hamerly, "Making
/// k-means even faster", SDM 2010): one upper bound on the distance of each point to its centre
/// and one lower bound on its distance to every other centre, kept valid by the triangle
/// inequality as centres move. A point is re-examined only when its bounds overlap (with a
/// margin far above rounding error), so the assignments are those of plain Lloyd. k-means++
/// seeding skips a point when the triangle inequality shows that the candidate centre cannot be
/// closer than its current nearest centre (as Elkan, "Using the triangle inequality to
/// accelerate k-means", ICML 2003). Results are reproducible for a given seed, whatever the
/// number of threads.
///
/// # Errors
/// `k == 0`, `k > n`, `dim == 0`, non-finite data.
///
/// # Complexity
/// Worst case O(n_init * (k + iters) * s * k * dim) for the restarts on
/// `s = min(n, subsample)` points, plus O(iters * n * k * dim) for the final refinement; with
/// well-separated clusters the bounds leave about O(s * k * dim) per seeding and
/// O(n * (k + dim)) per Lloyd iteration. O(n + k dim) extra memory.
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
    let (var, radius) = mean_variance(data, dim);
    let tol = params.tol * var;
    // Bounds are compared with this margin: far above the rounding error of the distances (all
    // at most 2 * radius), far below any distance that matters.
    let margin = 1e-9 * radius;
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
            lloyd(work, dim, centers, params.max_iter, tol, margin)
        })
        .collect();
    let best = runs
        .into_iter()
        .min_by(|a, b| a.inertia.total_cmp(&b.inertia))
        .expect("at least one run");
    if use_sub {
        Ok(lloyd(data, dim, best.centers, params.max_iter, tol, margin))
    } else {
        Ok(best)
    }
}

/// Mean per-feature variance, and the largest distance of a point to the mean.
fn mean_variance(data: &[f64], dim: usize) -> (f64, f64) {
    let n = (data.len() / dim) as f64;
    let mut mean = vec![0.0; dim];
    for row in data.chunks_exact(dim) {
        mean.iter_mut().zip(row).for_each(|(m, x)| *m += x);
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = 0.0;
    let mut far: f64 = 0.0;
    for row in data.chunks_exact(dim) {
        let d = dist2(row, &mean);
        var += d;
        far = far.max(d);
    }
    (var / (n * dim as f64), far.sqrt())
}

/// Greedy k-means++ seeding (2 + ln k candidates per step, as scikit-learn).
///
/// The squared distance of every point to its nearest chosen centre is kept with that centre's
/// index; a candidate `c` cannot be closer to point `x` than its nearest centre `o` when
/// `d(c, o) >= 2 d(x, o)`, and then `x` is skipped (the same potentials as computing it).
fn plus_plus(data: &[f64], dim: usize, k: usize, rng: &mut crate::util::Rng) -> Vec<f64> {
    let n = data.len() / dim;
    let mut centers = Vec::with_capacity(k * dim);
    let first = rng.random_range(0..n);
    centers.extend_from_slice(&data[first * dim..(first + 1) * dim]);
    let mut closest: Vec<f64> = data
        .par_chunks_exact(dim)
        .with_min_len(BLOCK)
        .map(|x| dist2(x, &centers[..dim]))
        .collect();
    let mut owner = vec![0u32; n];
    let mut trial_d = vec![0.0; n];
    let mut best_d = vec![0.0; n];
    let mut to_cand = vec![0.0; k];
    let trials = 2 + (k as f64).ln() as usize;
    for step in 1..k {
        let total: f64 = closest.iter().sum();
        let mut best: Option<(f64, usize)> = None;
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
            for (t, c) in to_cand.iter_mut().zip(centers.chunks_exact(dim)) {
                *t = dist2(cx, c);
            }
            let to_cand = &to_cand;
            trial_d
                .par_chunks_mut(BLOCK)
                .zip(closest.par_chunks(BLOCK))
                .zip(owner.par_chunks(BLOCK))
                .zip(data.par_chunks(BLOCK * dim))
                .for_each(|(((out, cl), ow), xs)| {
                    for (((o, &d), &w), x) in
                        out.iter_mut().zip(cl).zip(ow).zip(xs.chunks_exact(dim))
                    {
                        // d(c, o)^2 >= 4 d(x, o)^2 (with a relative margin for rounding)
                        // implies d(x, c) >= d(x, o).
                        *o = if to_cand[w as usize] >= 4.0 * (1.0 + 1e-9) * d {
                            d
                        } else {
                            d.min(dist2(x, cx))
                        };
                    }
                });
            let pot: f64 = trial_d.iter().sum();
            if best.is_none_or(|b| pot < b.0) {
                best = Some((pot, cand));
                std::mem::swap(&mut best_d, &mut trial_d);
            }
        }
        let (_, cand) = best.expect("trials >= 1");
        for ((w, c), b) in owner.iter_mut().zip(&closest).zip(&best_d) {
            if b < c {
                *w = step as u32;
            }
        }
        std::mem::swap(&mut closest, &mut best_d);
        centers.extend_from_slice(&data[cand * dim..(cand + 1) * dim]);
    }
    centers
}

/// Index of the nearest centre (the first on ties) with the smallest and second smallest
/// squared distances (infinity when `k == 1`).
#[inline]
fn nearest2(x: &[f64], centers: &[f64], dim: usize) -> (u32, f64, f64) {
    let (mut best, mut d1, mut d2) = (0u32, f64::INFINITY, f64::INFINITY);
    for (c, cc) in centers.chunks_exact(dim).enumerate() {
        let d = dist2(x, cc);
        if d < d1 {
            d2 = d1;
            d1 = d;
            best = c as u32;
        } else if d < d2 {
            d2 = d;
        }
    }
    (best, d1, d2)
}

/// Sums of the points of each cluster into `sums` (`k x dim`), and cluster sizes. Partial sums
/// over fixed blocks are added in block order, so the result does not depend on the threads.
fn cluster_sums(data: &[f64], dim: usize, labels: &[u32], sums: &mut [f64]) -> Vec<usize> {
    const SUM_BLOCK: usize = 4096;
    let k = sums.len() / dim;
    let partial: Vec<(Vec<f64>, Vec<usize>)> = data
        .par_chunks(dim * SUM_BLOCK)
        .zip(labels.par_chunks(SUM_BLOCK))
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
        .collect();
    sums.fill(0.0);
    let mut counts = vec![0usize; k];
    for (s, c) in &partial {
        sums.iter_mut().zip(s).for_each(|(a, b)| *a += b);
        counts.iter_mut().zip(c).for_each(|(a, b)| *a += b);
    }
    counts
}

/// Squared distance of every point to its assigned centre.
fn assigned_dist2(data: &[f64], dim: usize, centers: &[f64], labels: &[u32]) -> Vec<f64> {
    data.par_chunks_exact(dim)
        .with_min_len(BLOCK)
        .zip(labels.par_iter())
        .map(|(x, &l)| dist2(x, &centers[l as usize * dim..(l as usize + 1) * dim]))
        .collect()
}

/// Lloyd iterations from `centers` with Hamerly's bounds; the same assignments, centres and
/// iteration count as plain Lloyd (assign every point to its nearest centre, move every centre
/// to its cluster's mean, until the summed squared centre shift is at most `tol` or no label
/// changes).
fn lloyd(
    data: &[f64],
    dim: usize,
    mut centers: Vec<f64>,
    max_iter: usize,
    tol: f64,
    margin: f64,
) -> KMeansResult {
    let n = data.len() / dim;
    let k = centers.len() / dim;
    let mut labels = vec![0u32; n];
    // Upper bound on the distance to the assigned centre, lower bound on the distance to any
    // other centre.
    let mut upper = vec![0.0; n];
    let mut lower = vec![0.0; n];
    data.par_chunks(BLOCK * dim)
        .zip(labels.par_chunks_mut(BLOCK))
        .zip(upper.par_chunks_mut(BLOCK))
        .zip(lower.par_chunks_mut(BLOCK))
        .for_each(|(((xs, ls), us), lo)| {
            for (((x, l), u), lb) in xs.chunks_exact(dim).zip(ls).zip(us).zip(lo) {
                let (a, d1, d2) = nearest2(x, &centers, dim);
                *l = a;
                *u = d1.sqrt();
                *lb = d2.sqrt();
            }
        });
    let mut new_centers = vec![0.0; k * dim];
    let mut moved = vec![0.0; k];
    let mut half_gap = vec![0.0; k];
    let mut iterations = 0;
    let mut converged = false;
    for _ in 0..max_iter {
        iterations += 1;
        let counts = cluster_sums(data, dim, &labels, &mut new_centers);
        let mut dists: Option<Vec<f64>> = None;
        let mut taken: Vec<usize> = Vec::new();
        for c in 0..k {
            if counts[c] > 0 {
                let inv = 1.0 / counts[c] as f64;
                new_centers[c * dim..(c + 1) * dim]
                    .iter_mut()
                    .for_each(|v| *v *= inv);
            } else {
                // Empty cluster: move it to the point farthest from its centre.
                let dists =
                    dists.get_or_insert_with(|| assigned_dist2(data, dim, &centers, &labels));
                let far = (0..dists.len())
                    .filter(|i| !taken.contains(i))
                    .max_by(|&a, &b| dists[a].total_cmp(&dists[b]))
                    .unwrap_or(0);
                taken.push(far);
                new_centers[c * dim..(c + 1) * dim]
                    .copy_from_slice(&data[far * dim..(far + 1) * dim]);
            }
        }
        let mut shift = 0.0;
        for ((m, a), b) in moved
            .iter_mut()
            .zip(centers.chunks_exact(dim))
            .zip(new_centers.chunks_exact(dim))
        {
            let d = dist2(a, b);
            shift += d;
            *m = d.sqrt();
        }
        std::mem::swap(&mut centers, &mut new_centers);
        // Largest and second largest move, and half the distance of each centre to the nearest
        // other one.
        let (mut m1, mut m1_at, mut m2) = (0.0, usize::MAX, 0.0);
        for (c, &m) in moved.iter().enumerate() {
            if m > m1 {
                m2 = m1;
                m1 = m;
                m1_at = c;
            } else if m > m2 {
                m2 = m;
            }
        }
        half_gap.fill(f64::INFINITY);
        for a in 0..k {
            for b in a + 1..k {
                let d = 0.5
                    * dist2(
                        &centers[a * dim..(a + 1) * dim],
                        &centers[b * dim..(b + 1) * dim],
                    )
                    .sqrt();
                half_gap[a] = half_gap[a].min(d);
                half_gap[b] = half_gap[b].min(d);
            }
        }
        let (centers_r, moved, half_gap) = (&centers, &moved, &half_gap);
        let changed: usize = data
            .par_chunks(BLOCK * dim)
            .zip(labels.par_chunks_mut(BLOCK))
            .zip(upper.par_chunks_mut(BLOCK))
            .zip(lower.par_chunks_mut(BLOCK))
            .map(|(((xs, ls), us), lo)| {
                let mut changed = 0;
                for (((x, l), u), lb) in xs.chunks_exact(dim).zip(ls).zip(us).zip(lo) {
                    let a = *l as usize;
                    *u += moved[a];
                    *lb -= if a == m1_at { m2 } else { m1 };
                    let z = lb.max(half_gap[a]);
                    if *u + margin < z {
                        continue;
                    }
                    *u = dist2(x, &centers_r[a * dim..(a + 1) * dim]).sqrt();
                    if *u + margin < z {
                        continue;
                    }
                    let (b, d1, d2) = nearest2(x, centers_r, dim);
                    if b != *l {
                        changed += 1;
                        *l = b;
                    }
                    *u = d1.sqrt();
                    *lb = d2.sqrt();
                }
                changed
            })
            .sum();
        if shift <= tol || changed == 0 {
            converged = true;
            break;
        }
    }
    let inertia = assigned_dist2(data, dim, &centers, &labels).iter().sum();
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
