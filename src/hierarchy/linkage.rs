//! Average linkage on edge density (UPGMA on the similarity `w(C, C') = E(C, C') / (|C| |C'|)`),
//! the agglomeration step of the bottom-up algorithm of Dreveton et al. (JASA 2026, §2.2).

use crate::graph::Graph;
use rayon::prelude::*;

/// Community label meaning "not in any community" (e.g. an isolated node left out).
pub const UNASSIGNED: u32 = u32::MAX;

/// Symmetric `k x k` edge-mass matrix (row-major): off-diagonal `E[a][b]` is the total weight of
/// the edges between communities `a` and `b`; the diagonal holds the weight inside `a` (each
/// edge once). Nodes labelled [`UNASSIGNED`] are ignored.
///
/// # Complexity
/// O(n + m) time (rayon-parallel over rows, one `k x k` accumulator per task), O(k^2) memory per
/// task.
pub fn edge_mass(g: &Graph, comm: &[u32], k: usize) -> Vec<f64> {
    let n = g.n();
    let chunk = 8192;
    let mut e = (0..n.div_ceil(chunk))
        .into_par_iter()
        .map(|c| {
            let mut m = vec![0.0; k * k];
            for i in c * chunk..((c + 1) * chunk).min(n) {
                let a = comm[i];
                if a == UNASSIGNED {
                    continue;
                }
                let (nb, w) = g.neighbors(i);
                let row = &mut m[a as usize * k..(a as usize + 1) * k];
                for (&j, &wj) in nb.iter().zip(w) {
                    let b = comm[j as usize];
                    if b != UNASSIGNED {
                        row[b as usize] += wj;
                    }
                }
            }
            m
        })
        .reduce(
            || vec![0.0; k * k],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            },
        );
    // Both directions of every edge were counted: the diagonal counts inner edges twice.
    for a in 0..k {
        e[a * k + a] *= 0.5;
    }
    e
}

/// Average linkage on edge density.
///
/// Starting from `k` clusters with edge masses `mass` (as from [`edge_mass`]) and sizes `sizes`
/// (in nodes), repeatedly merge the pair with the largest similarity
/// `w(C, C') = E(C, C') / (|C| |C'|)`; after a merge `E(C u C', X) = E(C, X) + E(C', X)`.
/// Returns the `k - 1` merges `(left, right, similarity)` in SciPy order (ids `< k` are the
/// initial clusters, `k + t` the cluster made by merge `t`). Since the merged similarity is a
/// size-weighted mean of the two old ones, the sequence of similarities never increases.
/// Ties are broken by the smallest pair of ids.
///
/// # Complexity
/// O(k^2) memory; O(k^2) time per merge in the worst case, O(k) typically (each cluster caches
/// its most similar partner).
pub fn average_linkage(mass: &[f64], sizes: &[usize], k: usize) -> Vec<(usize, usize, f64)> {
    assert_eq!(mass.len(), k * k);
    assert_eq!(sizes.len(), k);
    let mut e = mass.to_vec();
    let mut size: Vec<f64> = sizes.iter().map(|&s| s as f64).collect();
    let mut active = vec![true; k];
    let mut id: Vec<usize> = (0..k).collect(); // slot -> current cluster id
    let sim = |e: &[f64], size: &[f64], a: usize, b: usize| {
        let d = size[a] * size[b];
        if d > 0.0 {
            e[a * k + b] / d
        } else {
            0.0
        }
    };
    // best[a] = (similarity, partner) over active partners.
    let best_of =
        |e: &[f64], size: &[f64], active: &[bool], id: &[usize], a: usize| -> (f64, usize) {
            let mut best = (f64::NEG_INFINITY, usize::MAX);
            for b in 0..k {
                if b != a && active[b] {
                    let s = sim(e, size, a, b);
                    if s > best.0 || (s == best.0 && best.1 != usize::MAX && id[b] < id[best.1]) {
                        best = (s, b);
                    }
                }
            }
            best
        };
    let mut best: Vec<(f64, usize)> = (0..k)
        .map(|a| best_of(&e, &size, &active, &id, a))
        .collect();
    let mut merges = Vec::with_capacity(k.saturating_sub(1));
    for t in 0..k.saturating_sub(1) {
        // Global best pair: max similarity, ties by smallest (min id, max id).
        let mut pick: Option<(f64, usize, usize)> = None;
        for a in 0..k {
            if !active[a] || best[a].1 == usize::MAX {
                continue;
            }
            let (s, b) = best[a];
            let key = (id[a].min(id[b]), id[a].max(id[b]));
            let better = match pick {
                None => true,
                Some((ps, pa, pb)) => {
                    s > ps || (s == ps && key < (id[pa].min(id[pb]), id[pa].max(id[pb])))
                }
            };
            if better {
                pick = Some((s, a, b));
            }
        }
        let (s, a, b) = pick.expect("at least two active clusters");
        let (left, right) = (id[a].min(id[b]), id[a].max(id[b]));
        merges.push((left, right, s));
        // Merge b into slot a.
        for x in 0..k {
            if x != a && x != b {
                e[a * k + x] += e[b * k + x];
                e[x * k + a] = e[a * k + x];
            }
        }
        e[a * k + a] += e[b * k + b] + e[a * k + b];
        size[a] += size[b];
        active[b] = false;
        id[a] = k + t;
        // Refresh caches: slot a fully; others compare with the new cluster or recompute when
        // their cached partner disappeared.
        best[a] = best_of(&e, &size, &active, &id, a);
        for x in 0..k {
            if !active[x] || x == a {
                continue;
            }
            if best[x].1 == a || best[x].1 == b {
                best[x] = best_of(&e, &size, &active, &id, x);
            } else {
                let s = sim(&e, &size, x, a);
                if s > best[x].0 || (s == best[x].0 && id[a] < id[best[x].1]) {
                    best[x] = (s, a);
                }
            }
        }
    }
    merges
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hsbm::lca_depth;

    /// Simple O(k^3) reference: recompute all similarities at every step.
    fn reference(mass: &[f64], sizes: &[usize], k: usize) -> Vec<(usize, usize, f64)> {
        let mut clusters: Vec<(usize, Vec<usize>)> = (0..k).map(|a| (a, vec![a])).collect();
        let mut out = Vec::new();
        for t in 0..k - 1 {
            let mut best = (f64::NEG_INFINITY, 0, 0);
            for i in 0..clusters.len() {
                for j in i + 1..clusters.len() {
                    let (ci, cj) = (&clusters[i].1, &clusters[j].1);
                    let m: f64 = ci
                        .iter()
                        .flat_map(|&a| cj.iter().map(move |&b| mass[a * k + b]))
                        .sum();
                    let si: usize = ci.iter().map(|&a| sizes[a]).sum();
                    let sj: usize = cj.iter().map(|&a| sizes[a]).sum();
                    let s = m / (si * sj) as f64;
                    if s > best.0 + 1e-12 {
                        best = (s, i, j);
                    }
                }
            }
            let (s, i, j) = best;
            let (ii, jj) = (clusters[i].0, clusters[j].0);
            out.push((ii.min(jj), ii.max(jj), s));
            let mut members = clusters[i].1.clone();
            members.extend(clusters[j].1.iter());
            clusters.remove(j);
            clusters.remove(i);
            clusters.push((k + t, members));
        }
        out
    }

    #[test]
    fn size_weighted_update_gives_13_over_25() {
        // Clusters 0 (size 2) and 1 (size 3) with masses 4 and 9 to cluster 2 (size 5);
        // 0 and 1 are merged first (mass 100).
        let mass = vec![0.0, 100.0, 4.0, 100.0, 0.0, 9.0, 4.0, 9.0, 0.0];
        let m = average_linkage(&mass, &[2, 3, 5], 3);
        assert_eq!((m[0].0, m[0].1), (0, 1));
        assert!((m[0].2 - 100.0 / 6.0).abs() < 1e-12);
        assert_eq!((m[1].0, m[1].1), (2, 3));
        assert!((m[1].2 - 13.0 / 25.0).abs() < 1e-15, "{}", m[1].2);
    }

    #[test]
    fn exact_btsbm_counts_merge_siblings_then_parents_then_root() {
        let (d, n) = (3, 100usize);
        let p = [0.01, 0.02, 0.04, 0.1];
        let k = 8;
        let mut mass = vec![0.0; k * k];
        for a in 0..k {
            for b in 0..k {
                mass[a * k + b] = p[lca_depth(a, b, 2, d)] * (n * n) as f64;
            }
        }
        let m = average_linkage(&mass, &vec![n; k], k);
        let pairs: Vec<(usize, usize)> = m.iter().map(|x| (x.0, x.1)).collect();
        assert_eq!(
            pairs,
            vec![(0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11), (12, 13)]
        );
        let sims: Vec<f64> = m.iter().map(|x| x.2).collect();
        for (t, want) in [0.04, 0.04, 0.04, 0.04, 0.02, 0.02, 0.01]
            .iter()
            .enumerate()
        {
            assert!((sims[t] - want).abs() < 1e-12);
        }
    }

    #[test]
    fn fast_linkage_equals_reference_and_is_monotone() {
        use rand::Rng as _;
        let mut rng = crate::util::rng_for(9, 9);
        for _ in 0..100 {
            let k = rng.random_range(2..14usize);
            let mut mass = vec![0.0; k * k];
            for a in 0..k {
                for b in a + 1..k {
                    let v = rng.random_range(0..1000) as f64 + rng.random::<f64>();
                    mass[a * k + b] = v;
                    mass[b * k + a] = v;
                }
            }
            let sizes: Vec<usize> = (0..k).map(|_| rng.random_range(1..30)).collect();
            let fast = average_linkage(&mass, &sizes, k);
            let slow = reference(&mass, &sizes, k);
            for (f, s) in fast.iter().zip(&slow) {
                assert_eq!((f.0, f.1), (s.0, s.1));
                assert!((f.2 - s.2).abs() < 1e-9 * s.2.abs().max(1.0));
            }
            assert!(
                fast.windows(2).all(|w| w[1].2 <= w[0].2 * (1.0 + 1e-12)),
                "monotone"
            );
        }
    }
}
