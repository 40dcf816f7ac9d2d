//! Acceptance tests of the hierarchical clustering (issue: bottom-up and top-down as in the HSBM
//! paper), on synthetic BTSBMs and on the shared real networks.

use neurobricks::datasets::{high_school, power_grid};
use neurobricks::experiments::shared_data_dir;
use neurobricks::graph::{Duplicates, Graph};
use neurobricks::hierarchy::{theory, BottomUp, Dendrogram, KEstimate, TopDown};
use neurobricks::hsbm::HsbmParams;
use neurobricks::metrics::{adjusted_mutual_info, matched_accuracy};
use neurobricks::spectral::{BlockPrecision, EigenParams};
use rand::Rng;

/// Node-level labels of a cut into `k` clusters (`usize::MAX` for nodes outside the leaves).
fn cut_nodes(d: &Dendrogram, k: usize) -> Vec<usize> {
    let leaf = d.cut_k(k.min(d.num_leaves())).unwrap();
    d.expand_to_nodes(&leaf)
        .iter()
        .map(|x| x.map_or(usize::MAX, |v| v as usize))
        .collect()
}

/// Exact recovery at depths 1..=3 of a BTSBM sample.
fn exact_per_depth(d: &Dendrogram, truth: &[Vec<usize>]) -> Vec<bool> {
    (1..=truth.len())
        .map(|l| {
            let pred = cut_nodes(d, 1 << l);
            matched_accuracy(&truth[l - 1], &pred).unwrap() == 1.0
        })
        .collect()
}

fn plane_point(a: [f64; 4], seeds: std::ops::Range<u64>) -> (Vec<usize>, Vec<usize>) {
    let mut bu = vec![0usize; 3];
    let mut td = vec![0usize; 3];
    for seed in seeds {
        let h = HsbmParams::btsbm_log(3, 200, a.to_vec(), seed)
            .generate()
            .unwrap();
        let truth: Vec<Vec<usize>> = (1..=3).map(|l| h.labels_at_depth(l)).collect();
        let b = BottomUp::new().k(Some(8)).seed(seed).fit(&h.graph).unwrap();
        assert_eq!(b.dendrogram.inversions(), 0);
        for (l, ok) in exact_per_depth(&b.dendrogram, &truth)
            .into_iter()
            .enumerate()
        {
            bu[l] += ok as usize;
        }
        let t = TopDown::new().seed(seed).fit(&h.graph).unwrap();
        for (l, ok) in exact_per_depth(&t.dendrogram, &truth)
            .into_iter()
            .enumerate()
        {
            td[l] += ok as usize;
        }
    }
    (bu, td)
}

/// a = (40, 41, 45, 100): CH_m > 1 at every depth, so bottom-up recovers all three depths
/// exactly; top-down's condition fails at depth 1 (TD_0 = 0.73).
#[test]
fn btsbm_above_threshold_bottom_up_exact_at_every_depth() {
    let a = [40.0, 41.0, 45.0, 100.0];
    assert_eq!(theory::bottom_up_recoverable(&a).unwrap(), vec![true; 3]);
    let (bu, td) = plane_point(a, 1..11);
    println!("a = {a:?}: exact recovery in 10 graphs per depth: bottom-up {bu:?}, top-down {td:?}");
    for (l, &c) in bu.iter().enumerate() {
        assert!(
            c >= 9,
            "bottom-up exact at depth {} in only {c}/10 graphs",
            l + 1
        );
    }
}

/// Top-down on a BTSBM whose communities all take the iterative eigensolver (more than 400
/// nodes): exact recovery at every depth, the stopping rule refuses exactly the 8 planted
/// leaves (each decided by the Kato-Temple bound, the splits by two negative Ritz values), and
/// the default criteria (subspace-angle bisection, early sign decisions) give the partitions
/// of a tight f64 solve.
#[test]
fn top_down_exact_at_every_depth_with_the_default_criteria() {
    let h = HsbmParams::btsbm_log(3, 800, vec![2.0, 5.0, 12.0, 50.0], 3)
        .generate()
        .unwrap();
    let truth: Vec<Vec<usize>> = (1..=3).map(|l| h.labels_at_depth(l)).collect();
    let fit = TopDown::new().seed(2).fit(&h.graph).unwrap();
    assert_eq!(fit.info.leaves, 8);
    assert_eq!(fit.info.stopped_by_bethe_hessian, 8);
    assert_eq!(fit.info.eigen_unconverged, 0);
    assert_eq!(exact_per_depth(&fit.dendrogram, &truth), vec![true; 3]);
    let tight = EigenParams::default()
        .tol(1e-10)
        .precision(BlockPrecision::Double)
        .subspace_tol(None);
    let reference = TopDown::new().seed(2).eigen(tight).fit(&h.graph).unwrap();
    for k in [2, 4, 8] {
        let (a, b) = (
            cut_nodes(&fit.dendrogram, k),
            cut_nodes(&reference.dendrogram, k),
        );
        assert_eq!(matched_accuracy(&a, &b).unwrap(), 1.0, "k = {k}");
    }
}

/// a = (40, 55, 70, 100): CH_0 = 2.5 > 1 but CH_2 = 0.33 < 1, so depth 1 is exact and depth 3
/// is not, in most graphs.
#[test]
fn btsbm_below_threshold_depth_three_not_exact() {
    let a = [40.0, 55.0, 70.0, 100.0];
    assert_eq!(
        theory::bottom_up_recoverable(&a).unwrap(),
        vec![true, false, false]
    );
    let (bu, td) = plane_point(a, 1..11);
    println!("a = {a:?}: exact recovery in 10 graphs per depth: bottom-up {bu:?}, top-down {td:?}");
    assert!(bu[0] >= 8, "depth 1 exact in only {}/10", bu[0]);
    assert!(
        bu[2] <= 3,
        "depth 3 exact in {}/10 graphs although CH_2 < 1",
        bu[2]
    );
}

/// The default K estimate is the authors' non-backtracking one (issue 16), and on BTSBMs
/// (Poisson degrees) it equals the previous Bethe-Hessian estimate: 69 of 69 graphs of the tests
/// and `examples/paper.rs` agree (both a-vectors of the plane tests, seeds 1-10 and 101-110;
/// bounded degree 5-40; the appendix trees; checked while making it the default), a sample of
/// them here, among them graphs where both miss the true K (bounded degree 5 and the
/// a = (40, 55, 70, 100) point find 4 of 8). With K given no spectral radius is computed (the
/// 200,000-node benchmark, K = 32, runs exactly the previous code).
#[test]
fn default_k_estimate_is_non_backtracking_and_agrees_on_btsbms() {
    use neurobricks::hsbm::tree::{bounded_degree_probs, Scale, Tree};
    assert_eq!(BottomUp::new().k_estimate, KEstimate::NonBacktracking);
    let mut graphs = Vec::new();
    for a in [[40.0, 41.0, 45.0, 100.0], [40.0, 55.0, 70.0, 100.0]] {
        for seed in 1..4 {
            let h = HsbmParams::btsbm_log(3, 200, a.to_vec(), seed)
                .generate()
                .unwrap();
            graphs.push(h.graph);
        }
    }
    for c in [5.0, 10.0] {
        let p = bounded_degree_probs(3, 2, 1600, c, 0.3).unwrap();
        let tree = Tree::complete(3, 2, &p, 200, Scale::P).unwrap();
        for s in 0..2 {
            graphs.push(tree.generate(7000 + 100 * c as u64 + s).unwrap().graph);
        }
    }
    let mut ks = Vec::new();
    for (i, g) in graphs.iter().enumerate() {
        let fit = BottomUp::new().seed(i as u64).fit(g).unwrap();
        let old = BottomUp::new()
            .k_estimate(KEstimate::BetheHessian)
            .seed(i as u64)
            .fit(g)
            .unwrap();
        assert!(fit.info.k_estimated && fit.info.rho.is_some());
        assert!(old.info.rho.is_none());
        assert_eq!(fit.info.k, old.info.k, "graph {i}");
        // Same K, same fixed r, the same partition up to the eigensolver (the previous default
        // reused its dense decomposition below 3,000 nodes; with K known the solve is the one a
        // fit with K given makes).
        let lab = |c: &[u32]| c.iter().map(|&x| x as usize).collect::<Vec<_>>();
        let ari = neurobricks::metrics::adjusted_rand_index(
            &lab(&fit.communities),
            &lab(&old.communities),
        )
        .unwrap();
        assert!(ari > 0.99, "graph {i}: ARI {ari}");
        ks.push(fit.info.k);
        let given = BottomUp::new().k(Some(8)).seed(i as u64).fit(g).unwrap();
        assert!(given.info.rho.is_none() && !given.info.k_estimated);
        assert!(given.dendrogram.params.get("k_estimate").is_none());
    }
    println!("estimated K on the sample: {ks:?}");
    assert_eq!(&ks[..3], &[8, 8, 8]);
    assert_eq!(&ks[3..6], &[4, 4, 4]);
}

/// Property: bottom-up trees never have inversions and their merge similarities never
/// increase, on random graphs (planted or not, with or without splitting).
#[test]
fn bottom_up_trees_have_no_inversions() {
    let mut rng = neurobricks::util::rng_for(42, 0);
    for trial in 0..12 {
        let n = rng.random_range(60..300usize);
        let m = rng.random_range(n..6 * n);
        let edges: Vec<(u32, u32, f64)> = (0..m)
            .map(|_| {
                (
                    rng.random_range(0..n as u32),
                    rng.random_range(0..n as u32),
                    rng.random_range(1..4) as f64,
                )
            })
            .collect();
        let g = Graph::from_edges(
            n,
            &edges,
            if trial % 2 == 0 {
                Duplicates::Sum
            } else {
                Duplicates::One
            },
        )
        .unwrap();
        let k = rng.random_range(2..12usize);
        let split = if trial % 3 == 0 { Some(0.8) } else { None };
        let fit = BottomUp::new()
            .k(Some(k))
            .seed(trial)
            .split(split)
            .fit(&g)
            .unwrap();
        assert_eq!(fit.dendrogram.inversions(), 0, "trial {trial}");
        assert!(fit.dendrogram.is_monotone(), "trial {trial}");
    }
}

#[test]
fn bad_inputs_are_clear_errors_or_documented() {
    let g = Graph::from_edges(4, &[(0, 1, 1.0), (2, 3, 1.0)], Duplicates::One).unwrap();
    let e = BottomUp::new().k(Some(5)).fit(&g).unwrap_err().to_string();
    assert!(e.contains("`BottomUp.k`") && e.contains("5"), "{e}");
    assert!(BottomUp::new().k(Some(0)).fit(&g).is_err());
    for q in [0.0, 1.0, -0.5, 2.0, f64::NAN] {
        let e = BottomUp::new()
            .split(Some(q))
            .fit(&g)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`BottomUp.split`"), "{e}");
    }
    let empty = Graph::from_edges(0, &[], Duplicates::One).unwrap();
    assert!(BottomUp::new()
        .fit(&empty)
        .unwrap_err()
        .to_string()
        .contains("empty"));
    assert!(TopDown::new().fit(&empty).is_err());
    let no_edges = Graph::from_edges(3, &[], Duplicates::One).unwrap();
    assert!(BottomUp::new()
        .fit(&no_edges)
        .unwrap_err()
        .to_string()
        .contains("no edges"));

    // Two cliques, two isolated nodes: the isolated nodes are left out of every leaf, the two
    // components are the two communities and merge last with similarity 0.
    let mut e = Vec::new();
    for (lo, hi) in [(0u32, 10u32), (10, 20)] {
        for i in lo..hi {
            for j in i + 1..hi {
                e.push((i, j, 1.0));
            }
        }
    }
    let g = Graph::from_edges(22, &e, Duplicates::One).unwrap();
    let fit = BottomUp::new().k(Some(2)).fit(&g).unwrap();
    assert_eq!(fit.info.isolated_nodes, 2);
    assert_eq!(fit.info.components, 4);
    assert_eq!(fit.communities[20], u32::MAX);
    assert_eq!(
        fit.dendrogram.leaves.iter().map(|l| l.len()).sum::<usize>(),
        20
    );
    assert_eq!(fit.dendrogram.merges[0].similarity, 0.0);
    assert!(fit.communities[..10]
        .iter()
        .all(|&c| c == fit.communities[0]));
    assert!(fit.communities[10..20]
        .iter()
        .all(|&c| c == fit.communities[10]));
    assert_ne!(fit.communities[0], fit.communities[10]);
    let td = TopDown::new().fit(&g).unwrap();
    assert_eq!(td.info.isolated_nodes, 2);
    assert!(td.dendrogram.num_leaves() >= 2);
}

fn data_or_skip(what: &str) -> Option<std::path::PathBuf> {
    let dir = shared_data_dir();
    if dir.join(what).exists() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: {} not found (set NEUROBRICKS_DATA to the shared data folder)",
            dir.join(what).display()
        );
        None
    }
}

/// High-school contacts, weighted, K = 9: the 9 classes are found (AMI >= 0.95) and the tree
/// joins classes of the same specialisation before anything else.
#[test]
fn high_school_classes_and_specialisations() {
    let Some(dir) = data_or_skip("highschool-2013") else {
        return;
    };
    let hs = high_school(&dir).unwrap();
    assert_eq!(hs.graph.n(), 327);
    assert_eq!(hs.graph.num_edges(), 5818);
    let codes = |v: &[String]| -> Vec<usize> {
        let mut names: Vec<&String> = v.iter().collect();
        names.sort();
        names.dedup();
        v.iter().map(|x| names.binary_search(&x).unwrap()).collect()
    };
    let class = codes(&hs.class);
    let spec = codes(&hs.specialisation);
    let fit = BottomUp::new().k(Some(9)).seed(0).fit(&hs.graph).unwrap();
    let pred: Vec<usize> = fit.communities.iter().map(|&c| c as usize).collect();
    let ami = adjusted_mutual_info(&class, &pred).unwrap();
    println!(
        "high school: bottom-up AMI vs 9 classes = {ami:.4}, inversions {}",
        fit.dendrogram.inversions()
    );
    assert!(ami >= 0.95, "AMI {ami}");
    assert_eq!(fit.dendrogram.inversions(), 0);
    // Cut at 4 clusters = the 4 specialisations.
    let four = cut_nodes(&fit.dendrogram, 4);
    let ami4 = adjusted_mutual_info(&spec, &four).unwrap();
    println!("high school: 4-cluster cut vs specialisations AMI = {ami4:.4}");
    // Every merge below the 4-cluster level joins leaves of one specialisation (majority).
    let d = &fit.dendrogram;
    let k = d.num_leaves();
    let leaf_spec: Vec<usize> = d
        .leaves
        .iter()
        .map(|l| {
            let mut cnt = [0usize; 4];
            l.iter().for_each(|&m| cnt[spec[m as usize]] += 1);
            (0..4).max_by_key(|&s| cnt[s]).unwrap()
        })
        .collect();
    let mut spec_of = leaf_spec.clone();
    for m in &d.merges[..k - 4] {
        assert_eq!(
            spec_of[m.left], spec_of[m.right],
            "a merge below 4 clusters joins two specialisations"
        );
        spec_of.push(spec_of[m.left]);
    }
    assert!(ami4 >= 0.9, "specialisation AMI {ami4}");
    let td = TopDown::new().seed(0).fit(&hs.graph).unwrap();
    let tdp = cut_nodes(&td.dendrogram, 9);
    println!(
        "high school: top-down {} leaves, AMI at 9 clusters {:.4}, inversions {}",
        td.info.leaves,
        adjusted_mutual_info(&class, &tdp).unwrap(),
        td.info.inversions
    );
}

/// Power grid (issue 16 acceptance): with the defaults, K is estimated as the authors do
/// (non-backtracking radius, rho = 3.329) and lies in the paper's band 30-45 (38, the authors'
/// value); the previous estimate, the negative eigenvalues of `H(r)` at
/// `r = sqrt(sum d^2 / sum d - 1)`, gives 48, outside the band, so the band check can fail. Both
/// bottom-up trees have no inversions; top-down leaves and inversions are reported.
#[test]
fn power_grid_estimated_k_and_inversions() {
    let Some(dir) = data_or_skip("powergrid-ucte") else {
        return;
    };
    let g = power_grid(&dir).unwrap();
    assert_eq!((g.n(), g.num_edges()), (2783, 3762));
    let bu = BottomUp::new().seed(0).fit(&g).unwrap();
    let old = BottomUp::new()
        .k_estimate(KEstimate::BetheHessian)
        .seed(0)
        .fit(&g)
        .unwrap();
    let td = TopDown::new().seed(0).fit(&g).unwrap();
    println!(
        "power grid: bottom-up estimated K = {} (rho = {:?}, {} inversions); with the Bethe-Hessian estimate K = {}; top-down {} leaves, {} inversions",
        bu.info.k,
        bu.info.rho,
        bu.dendrogram.inversions(),
        old.info.k,
        td.info.leaves,
        td.info.inversions
    );
    assert!(bu.info.k_estimated);
    assert!((30..=45).contains(&bu.info.k), "K = {}", bu.info.k);
    assert!(
        (bu.info.rho.unwrap() - 3.329).abs() < 5e-3,
        "{:?}",
        bu.info.rho
    );
    assert!(
        old.info.k_estimated && !(30..=45).contains(&old.info.k),
        "Bethe-Hessian K = {}",
        old.info.k
    );
    assert_eq!(bu.dendrogram.inversions(), 0);
    assert_eq!(old.dendrogram.inversions(), 0);
    assert!(td.info.leaves > 10);
}
