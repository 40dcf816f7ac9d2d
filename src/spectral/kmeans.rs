//! k-means with k-means++ seeding (Arthur & Vassilvitskii, SODA 2007), Lloyd iterations and
//! restarts, parallel over points (rayon).
//!
//! For large inputs the restarts (each a k-means++ seeding followed by Lloyd iterations) run on a
//! seeded random subsample; the best of them by inertia is then refined by Lloyd iterations on
//! all points. Results are reproducible for a given seed, whatever the number of threads.
//!
//! Distance computations are pruned with the triangle inequality (Hamerly 2010 bounds in Lloyd,
//! Elkan 2003 centre-to-centre tests in assignments and seeding) without changing any result;
//! the distance kernels run with AVX when the CPU has it (same operations, same results).

use crate::error::{Error, Result};
use crate::util::{rng_for, setters, with_avx};
use rand::Rng as _;
use rayon::prelude::*;

/// Parameters of [`kmeans`] ([`Default`], a setter per field, [`Self::validate`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KMeansParams {
    /// Number of clusters (default 8, as scikit-learn).
    pub k: usize,
    /// Number of k-means++ restarts; the lowest inertia wins (default 10).
    pub n_init: usize,
    /// Maximum Lloyd iterations per run (default 300).
    pub max_iter: usize,
    /// Convergence: stop when the summed squared centre shift is below `tol` times the mean
    /// per-feature variance of the data (scikit-learn's rule; default 1e-4).
    pub tol: f64,
    /// Restarts run on a subsample of this many points when the data has more (0: never;
    /// default 20,000).
    pub subsample: usize,
    /// Seed of every random choice (default 0).
    pub seed: u64,
    /// Candidates tried per k-means++ step, the one of lowest potential kept (0: `2 + ln k`,
    /// greedy k-means++ as scikit-learn, the default; 1: plain k-means++ of Arthur & Vassilvitskii).
    pub local_trials: usize,
}

impl Default for KMeansParams {
    fn default() -> Self {
        KMeansParams::new(8)
    }
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
            local_trials: 0,
        }
    }
    setters! {
        /// Set the number of clusters.
        k: usize,
        /// Set the number of restarts.
        n_init: usize,
        /// Set the maximum Lloyd iterations per run.
        max_iter: usize,
        /// Set the convergence tolerance.
        tol: f64,
        /// Set the subsample size of the restarts (0: never subsample).
        subsample: usize,
        /// Set the seed.
        seed: u64,
        /// Set the candidates per k-means++ step (0: `2 + ln k`; 1: plain k-means++).
        local_trials: usize,
    }

    /// Check the parameters: `k >= 1`, `n_init >= 1`, `max_iter >= 1`, `tol` finite and
    /// `>= 0`. [`kmeans`] calls it first.
    ///
    /// # Errors
    /// [`Error::Param`] naming the parameter, e.g. `KMeansParams.k`.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("KMeansParams.k", self.k),
            ("KMeansParams.n_init", self.n_init),
            ("KMeansParams.max_iter", self.max_iter),
        ] {
            if v == 0 {
                return Err(Error::param(name, "must be at least 1"));
            }
        }
        if !(self.tol >= 0.0 && self.tol.is_finite()) {
            return Err(Error::param(
                "KMeansParams.tol",
                format!("{} must be finite and >= 0", self.tol),
            ));
        }
        Ok(())
    }
}

/// Result of [`kmeans`].
// Deliberate same-shape pair (`cd src && duplicates`): a plain list of documented fields,
// alike line by line with `EigenResult` only in shape; no logic is shared.
#[derive(Debug, Clone)]
#[non_exhaustive]
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
///
/// ```
/// use neurobricks::spectral::{kmeans, KMeansParams};
///
/// // Four points in 2-D, two tight pairs far apart.
/// let data = [0.0, 0.0, 0.1, 0.0, 10.0, 10.0, 10.1, 10.0];
/// let r = kmeans(&data, 2, &KMeansParams::new(2).seed(1)).unwrap();
/// assert_eq!(r.labels[0], r.labels[1]);
/// assert_eq!(r.labels[2], r.labels[3]);
/// assert_ne!(r.labels[0], r.labels[2]);
/// assert!((r.inertia - 0.01).abs() < 1e-12); // 4 points, each 0.05 from its centre
/// assert!(r.converged);
/// assert!(kmeans(&data, 2, &KMeansParams::new(5)).is_err()); // 5 clusters for 4 points
/// ```
pub fn kmeans(data: &[f64], dim: usize, params: &KMeansParams) -> Result<KMeansResult> {
    params.validate()?;
    if dim == 0 {
        return Err(Error::param("kmeans.dim", "must be positive"));
    }
    let n = data.len() / dim;
    let k = params.k;
    if k > n {
        return Err(Error::param(
            "KMeansParams.k",
            format!("{k} clusters for {n} points"),
        ));
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
            let centers = plus_plus(work, dim, k, params.local_trials, &mut rng);
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

/// Greedy k-means++ seeding (`trials` candidates per step; 0: 2 + ln k, as scikit-learn).
///
/// The squared distance of every point to its nearest chosen centre is kept with that centre's
/// index; a candidate `c` cannot be closer to point `x` than its nearest centre `o` when
/// `d(c, o) >= 2 d(x, o)`, and then `x` is skipped (the same potentials as computing it). The
/// candidates of a step are evaluated in one pass over the data.
fn plus_plus(
    data: &[f64],
    dim: usize,
    k: usize,
    trials: usize,
    rng: &mut crate::util::Rng,
) -> Vec<f64> {
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
    let trials = if trials == 0 {
        2 + (k as f64).ln() as usize
    } else {
        trials
    };
    // Point-major: the potentials of point i under the candidates are at i * trials..
    let mut trial_d = vec![0.0; n * trials];
    let mut cands = vec![0usize; trials];
    let mut cand_x = vec![0.0; trials * dim];
    let mut to_cand = vec![0.0; trials * k];
    for step in 1..k {
        let total: f64 = closest.iter().sum();
        for cand in cands.iter_mut() {
            *cand = if total > 0.0 {
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
        }
        for ((&cand, cx), tc) in cands
            .iter()
            .zip(cand_x.chunks_exact_mut(dim))
            .zip(to_cand.chunks_exact_mut(k))
        {
            cx.copy_from_slice(&data[cand * dim..(cand + 1) * dim]);
            for (t, c) in tc.iter_mut().zip(centers.chunks_exact(dim)) {
                *t = dist2(cx, c);
            }
        }
        let (cand_x, to_cand) = (&cand_x, &to_cand);
        trial_d
            .par_chunks_mut(BLOCK * trials)
            .zip(closest.par_chunks(BLOCK))
            .zip(owner.par_chunks(BLOCK))
            .zip(data.par_chunks(BLOCK * dim))
            .for_each(|(((out, cl), ow), xs)| seed_block(out, cl, ow, xs, cand_x, to_cand));
        // The first candidate of lowest potential wins.
        let mut best: Option<(f64, usize)> = None;
        for t in 0..trials {
            let pot: f64 = trial_d.iter().skip(t).step_by(trials).sum();
            if best.is_none_or(|b| pot < b.0) {
                best = Some((pot, t));
            }
        }
        let (_, t) = best.expect("trials >= 1");
        for ((w, c), b) in owner
            .iter_mut()
            .zip(closest.iter_mut())
            .zip(trial_d.iter().skip(t).step_by(trials))
        {
            if *b < *c {
                *w = step as u32;
            }
            *c = *b;
        }
        centers.extend_from_slice(&data[cands[t] * dim..(cands[t] + 1) * dim]);
    }
    centers
}

/// The k-means++ candidates (rows of `cand_x`) on a block of points: for each point and
/// candidate `c`, `min(closest, d(x, c)^2)`. A candidate is skipped for a point whose nearest
/// centre `o` has `d(c, o)^2 >= 4 d(x, o)^2` (with a relative margin for rounding): then
/// `d(x, c) >= d(x, o)` and the minimum is `closest`. `to_cand[t * k + o]` is `d(c_t, o)^2`.
#[inline(always)]
fn seed_block_impl(
    out: &mut [f64],
    closest: &[f64],
    owner: &[u32],
    xs: &[f64],
    cand_x: &[f64],
    to_cand: &[f64],
) {
    let dim = xs.len() / closest.len();
    let trials = cand_x.len() / dim;
    let k = to_cand.len() / trials;
    for (((o, &d), &w), x) in out
        .chunks_exact_mut(trials)
        .zip(closest)
        .zip(owner)
        .zip(xs.chunks_exact(dim))
    {
        for ((ot, cx), tc) in o
            .iter_mut()
            .zip(cand_x.chunks_exact(dim))
            .zip(to_cand.chunks_exact(k))
        {
            *ot = if tc[w as usize] >= 4.0 * (1.0 + 1e-9) * d {
                d
            } else {
                d.min(dist2(x, cx))
            };
        }
    }
}

with_avx!(
    seed_block,
    seed_block_avx,
    seed_block_impl,
    (
        out: &mut [f64],
        closest: &[f64],
        owner: &[u32],
        xs: &[f64],
        cand_x: &[f64],
        to_cand: &[f64]
    )
);

/// Centres and what Hamerly's bounds need of them.
struct Geometry<'a> {
    dim: usize,
    /// Row-major `k x dim`.
    centers: &'a [f64],
    /// `k x k` distances between centres.
    gaps: &'a [f64],
    /// Half the distance of each centre to the nearest other one.
    half_gap: &'a [f64],
    /// Distance each centre moved in the last update.
    moved: &'a [f64],
    /// Largest move, its centre, and the second largest move.
    max_move: (f64, usize, f64),
    /// Margin of the bound comparisons.
    margin: f64,
}

impl Geometry<'_> {
    /// Nearest centre of `x` (the first on ties, as a scan of all centres) and its squared
    /// distance, with a lower bound on the distance of `x` to every other centre. Centre
    /// `start` is tried first (`d_start`: its squared distance); then centre `c` is skipped
    /// when `gap(best, c) > 2 d(x, best) + margin`, which implies `d(x, c) > d(x, best)`
    /// (Elkan 2003).
    #[inline(always)]
    fn nearest(&self, x: &[f64], start: usize, d_start: f64) -> (u32, f64, f64) {
        let dim = self.dim;
        let k = self.centers.len() / dim;
        let (mut best, mut d1) = (start, d_start);
        let mut r1 = d1.sqrt();
        let mut low = f64::INFINITY;
        for (c, cc) in self.centers.chunks_exact(dim).enumerate() {
            if c == start {
                continue;
            }
            let g = self.gaps[best * k + c];
            if g > 2.0 * r1 + self.margin {
                low = low.min(g - r1);
                continue;
            }
            let d = dist2(x, cc);
            if d < d1 || (d == d1 && c < best) {
                low = low.min(r1);
                best = c;
                d1 = d;
                r1 = d.sqrt();
            } else {
                low = low.min(d.sqrt());
            }
        }
        (best as u32, d1, low)
    }

    fn center(&self, c: usize) -> &[f64] {
        &self.centers[c * self.dim..(c + 1) * self.dim]
    }
}

/// Assigns a block of points to their nearest centres, setting their bounds.
#[inline(always)]
fn assign_block_impl(
    geo: &Geometry,
    xs: &[f64],
    labels: &mut [u32],
    upper: &mut [f64],
    lower: &mut [f64],
) {
    let mut start = 0;
    for (((x, l), u), lb) in xs.chunks_exact(geo.dim).zip(labels).zip(upper).zip(lower) {
        let (a, d1, low) = geo.nearest(x, start, dist2(x, geo.center(start)));
        *l = a;
        *u = d1.sqrt();
        *lb = low;
        start = a as usize;
    }
}

// Deliberate same-shape pair with the `update_block` kernel (`cd src && duplicates`): both
// Hamerly steps work on the same bounds state (labels, upper, lower), and `with_avx!` must
// repeat a kernel's signature to compile its `#[target_feature]` twin as its own item.
with_avx!(
    assign_block,
    assign_block_avx,
    assign_block_impl,
    (
        geo: &Geometry,
        xs: &[f64],
        labels: &mut [u32],
        upper: &mut [f64],
        lower: &mut [f64]
    )
);

/// Hamerly's step on a block of points after the centres moved: update the bounds, and find
/// the nearest centre of the points whose bounds do not show it unchanged. Returns the number
/// of points whose label changed.
#[inline(always)]
fn update_block_impl(
    geo: &Geometry,
    xs: &[f64],
    labels: &mut [u32],
    upper: &mut [f64],
    lower: &mut [f64],
) -> usize {
    let (m1, m1_at, m2) = geo.max_move;
    let margin = geo.margin;
    let mut changed = 0;
    for (((x, l), u), lb) in xs.chunks_exact(geo.dim).zip(labels).zip(upper).zip(lower) {
        let a = *l as usize;
        *u += geo.moved[a];
        *lb -= if a == m1_at { m2 } else { m1 };
        let z = lb.max(geo.half_gap[a]);
        if *u + margin < z {
            continue;
        }
        let da = dist2(x, geo.center(a));
        *u = da.sqrt();
        if *u + margin < z {
            continue;
        }
        let (b, d1, low) = geo.nearest(x, a, da);
        if b != *l {
            changed += 1;
            *l = b;
        }
        *u = d1.sqrt();
        *lb = low;
    }
    changed
}

// Deliberate same-shape pair with the `assign_block` kernel (see there).
with_avx!(
    update_block,
    update_block_avx,
    update_block_impl,
    (
        geo: &Geometry,
        xs: &[f64],
        labels: &mut [u32],
        upper: &mut [f64],
        lower: &mut [f64]
    ) -> usize
);

/// `k x k` distances between centres, and half the distance of each to the nearest other one.
fn center_gaps(centers: &[f64], dim: usize, gaps: &mut [f64], half_gap: &mut [f64]) {
    let k = centers.len() / dim;
    half_gap.fill(f64::INFINITY);
    for a in 0..k {
        gaps[a * k + a] = 0.0;
        for b in a + 1..k {
            let d = dist2(
                &centers[a * dim..(a + 1) * dim],
                &centers[b * dim..(b + 1) * dim],
            )
            .sqrt();
            gaps[a * k + b] = d;
            gaps[b * k + a] = d;
            half_gap[a] = half_gap[a].min(0.5 * d);
            half_gap[b] = half_gap[b].min(0.5 * d);
        }
    }
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
    let mut gaps = vec![0.0; k * k];
    let mut half_gap = vec![0.0; k];
    let mut moved = vec![0.0; k];
    center_gaps(&centers, dim, &mut gaps, &mut half_gap);
    {
        let geo = Geometry {
            dim,
            centers: &centers,
            gaps: &gaps,
            half_gap: &half_gap,
            moved: &moved,
            max_move: (0.0, usize::MAX, 0.0),
            margin,
        };
        data.par_chunks(BLOCK * dim)
            .zip(labels.par_chunks_mut(BLOCK))
            .zip(upper.par_chunks_mut(BLOCK))
            .zip(lower.par_chunks_mut(BLOCK))
            .for_each(|(((xs, ls), us), lo)| assign_block(&geo, xs, ls, us, lo));
    }
    let mut new_centers = vec![0.0; k * dim];
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
        // Largest and second largest move.
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
        center_gaps(&centers, dim, &mut gaps, &mut half_gap);
        let geo = Geometry {
            dim,
            centers: &centers,
            gaps: &gaps,
            half_gap: &half_gap,
            moved: &moved,
            max_move: (m1, m1_at, m2),
            margin,
        };
        let changed: usize = data
            .par_chunks(BLOCK * dim)
            .zip(labels.par_chunks_mut(BLOCK))
            .zip(upper.par_chunks_mut(BLOCK))
            .zip(lower.par_chunks_mut(BLOCK))
            .map(|(((xs, ls), us), lo)| update_block(&geo, xs, ls, us, lo))
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
