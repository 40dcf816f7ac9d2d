//! scikit-learn / SciPy reference values for `neurobricks::metrics`.
//!
//! GENERATED FILE, do not edit by hand. It was produced by
//!
//!     python3 scripts/sklearn_reference.py --out tests/metrics_sklearn.rs
//!
//! with Python 3.11.7, numpy 2.4.6, scipy 1.17.1, scikit-learn 1.9.1:
//! - `ARI` = `sklearn.metrics.adjusted_rand_score(a, b)`
//! - `AMI` = `sklearn.metrics.adjusted_mutual_info_score(a, b)` (arithmetic normalisation)
//! - `NMI` = `sklearn.metrics.normalized_mutual_info_score(a, b)` (arithmetic)
//! - `ACC` = matched sum / n, the matching from
//!   `scipy.optimize.linear_sum_assignment(C, maximize=True)` on the confusion matrix
//!   `C[class of a][class of b]` (rectangular when the class counts differ).
//!
//! Constants are printed with Python's `format(x, '.17e')` (exact f64 round trip). Each
//! value is checked to an absolute tolerance of 1e-9. The `lcg_*` cases regenerate their
//! labels with the same 64-bit LCG as the script.

#![allow(clippy::excessive_precision, clippy::unreadable_literal)]

use neurobricks::metrics::{
    adjusted_mutual_info, adjusted_rand_index, matched_accuracy, normalized_mutual_info,
};

const TOL: f64 = 1e-9;

/// Reference values for one labeling pair.
struct Reference {
    ari: f64,
    ami: f64,
    nmi: f64,
    acc: f64,
}

/// Same generator as `Lcg` in scripts/sklearn_reference.py.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, k: u64) -> usize {
        (self.next() % k) as usize
    }
}

/// `lcg_independent` of the Python script.
fn lcg_independent(seed: u64, n: usize, ka: u64, kb: u64) -> (Vec<usize>, Vec<usize>) {
    let mut g = Lcg(seed);
    let (mut a, mut b) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        a.push(g.below(ka));
        b.push(g.below(kb));
    }
    (a, b)
}

/// `lcg_noisy` of the Python script.
fn lcg_noisy(seed: u64, n: usize, ka: u64, kb: u64, keep: usize) -> (Vec<usize>, Vec<usize>) {
    let mut g = Lcg(seed);
    let (mut a, mut b) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let x = g.below(ka);
        let r = g.below(100);
        let y = if r < keep {
            (7 * x + 3) % kb as usize
        } else {
            g.below(kb)
        };
        a.push(x);
        b.push(y);
    }
    (a, b)
}

/// n + sum_i (i + 1) (31 a_i + b_i), wrapping: guards the generated labels.
fn labels_fingerprint(a: &[usize], b: &[usize]) -> u64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .enumerate()
        .fold(a.len() as u64, |h, (i, (&x, &y))| {
            h.wrapping_add((i as u64 + 1).wrapping_mul((31 * x + y) as u64))
        })
}

/// Compare all four metrics and report every mismatch of the case at once.
fn check(name: &str, (a, b): (Vec<usize>, Vec<usize>), fingerprint: u64, r: Reference) {
    assert_eq!(
        labels_fingerprint(&a, &b),
        fingerprint,
        "{name}: the labels differ from the ones the script scored"
    );
    let got = [
        ("ARI", adjusted_rand_index(&a, &b).unwrap(), r.ari),
        ("AMI", adjusted_mutual_info(&a, &b).unwrap(), r.ami),
        ("NMI", normalized_mutual_info(&a, &b).unwrap(), r.nmi),
        ("ACC", matched_accuracy(&a, &b).unwrap(), r.acc),
    ];
    let bad: Vec<String> = got
        .iter()
        .filter(|(_, rust, sk)| (rust - sk).is_nan() || (rust - sk).abs() > TOL)
        .map(|(m, rust, sk)| {
            format!(
                "{name} {m}: rust {rust:.17e} reference {sk:.17e} (diff {:.3e})",
                rust - sk
            )
        })
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// small mixed example (n = 6, 2 vs 3 classes).
#[test]
fn small_mixed() {
    check(
        "small_mixed",
        (vec![0, 0, 0, 1, 1, 1], vec![0, 0, 1, 1, 2, 2]),
        500,
        Reference {
            ari: 2.42424242424242431e-01,
            ami: 2.98792458170890118e-01,
            nmi: 5.15803742979388913e-01,
            acc: 6.66666666666666630e-01,
        },
    );
}

/// sklearn docstring example: one class split in two (n = 4, 2 vs 3 classes).
#[test]
fn small_split() {
    check(
        "small_split",
        (vec![0, 0, 1, 1], vec![0, 0, 1, 2]),
        232,
        Reference {
            ari: 5.71428571428571397e-01,
            ami: 5.71428571428571508e-01,
            nmi: 7.99999999999999933e-01,
            acc: 7.50000000000000000e-01,
        },
    );
}

/// same partition, arbitrary (large) label values (n = 12, 5 vs 5 classes).
#[test]
fn identical_relabelled() {
    check(
        "identical_relabelled",
        (
            vec![0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 3, 4],
            vec![42, 42, 7, 7, 7, 0, 0, 1000003, 1000003, 1000003, 1000003, 5],
        ),
        38006596,
        Reference {
            ari: 1.00000000000000000e+00,
            ami: 1.00000000000000000e+00,
            nmi: 1.00000000000000000e+00,
            acc: 1.00000000000000000e+00,
        },
    );
}

/// all in one cluster vs 4 classes (n = 12, 1 vs 4 classes).
#[test]
fn one_cluster_vs_four() {
    check(
        "one_cluster_vs_four",
        (
            vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            vec![0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3],
        ),
        144,
        Reference {
            ari: 0.00000000000000000e+00,
            ami: 0.00000000000000000e+00,
            nmi: 0.00000000000000000e+00,
            acc: 2.50000000000000000e-01,
        },
    );
}

/// all in one cluster vs all singletons (n = 9, 1 vs 9 classes).
#[test]
fn one_cluster_vs_singletons() {
    check(
        "one_cluster_vs_singletons",
        (
            vec![3, 3, 3, 3, 3, 3, 3, 3, 3],
            vec![0, 1, 2, 3, 4, 5, 6, 7, 8],
        ),
        4434,
        Reference {
            ari: 0.00000000000000000e+00,
            ami: 0.00000000000000000e+00,
            nmi: 0.00000000000000000e+00,
            acc: 1.11111111111111105e-01,
        },
    );
}

/// all singletons vs 3 classes (n = 12, 12 vs 3 classes).
#[test]
fn singletons_vs_three() {
    check(
        "singletons_vs_three",
        (
            vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
            vec![0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2],
        ),
        17854,
        Reference {
            ari: 0.00000000000000000e+00,
            ami: -7.04753830839286516e-15,
            nmi: 6.13147192765458260e-01,
            acc: 2.50000000000000000e-01,
        },
    );
}

/// all singletons vs all singletons (reversed labels) (n = 10, 10 vs 10 classes).
#[test]
fn singletons_relabelled() {
    check(
        "singletons_relabelled",
        (
            vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            vec![9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
        ),
        10405,
        Reference {
            ari: 1.00000000000000000e+00,
            ami: 1.00000000000000000e+00,
            nmi: 1.00000000000000000e+00,
            acc: 1.00000000000000000e+00,
        },
    );
}

/// 1 class vs 2 classes (n = 7, 1 vs 2 classes).
#[test]
fn one_vs_two_classes() {
    check(
        "one_vs_two_classes",
        (vec![0, 0, 0, 0, 0, 0, 0], vec![0, 0, 0, 1, 1, 1, 1]),
        29,
        Reference {
            ari: 0.00000000000000000e+00,
            ami: 0.00000000000000000e+00,
            nmi: 0.00000000000000000e+00,
            acc: 5.71428571428571397e-01,
        },
    );
}

/// n = 2: split vs together (n = 2, 2 vs 1 classes).
#[test]
fn n2_split_vs_joined() {
    check(
        "n2_split_vs_joined",
        (vec![0, 1], vec![0, 0]),
        64,
        Reference {
            ari: 0.00000000000000000e+00,
            ami: 0.00000000000000000e+00,
            nmi: 0.00000000000000000e+00,
            acc: 5.00000000000000000e-01,
        },
    );
}

/// n = 2: split vs split (swapped labels) (n = 2, 2 vs 2 classes).
#[test]
fn n2_relabelled() {
    check(
        "n2_relabelled",
        (vec![0, 1], vec![1, 0]),
        65,
        Reference {
            ari: 1.00000000000000000e+00,
            ami: 1.00000000000000000e+00,
            nmi: 1.00000000000000000e+00,
            acc: 1.00000000000000000e+00,
        },
    );
}

/// truth 90/8/2, prediction with a few misplaced items (n = 100, 3 vs 3 classes).
#[test]
fn unequal_sizes() {
    check(
        "unequal_sizes",
        (
            vec![
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2,
            ],
            vec![
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 0,
            ],
        ),
        37366,
        Reference {
            ari: 6.72095432509269286e-01,
            ami: 5.20052193792350015e-01,
            nmi: 5.37961004054039238e-01,
            acc: 9.30000000000000049e-01,
        },
    );
}

/// independent uniform labels, n = 2000, 8 vs 12 (n = 2000, 8 vs 12 classes).
#[test]
fn lcg_independent_2000_8x12() {
    check(
        "lcg_independent_2000_8x12",
        lcg_independent(1, 2000, 8, 12),
        224776516,
        Reference {
            ari: 8.93956238142099360e-04,
            ami: 1.59019354934855747e-03,
            nmi: 1.01062269820573029e-02,
            acc: 1.13500000000000004e-01,
        },
    );
}

/// 70% consistent labels, n = 2000, 8 vs 12 (n = 2000, 8 vs 12 classes).
#[test]
fn lcg_noisy_2000_8x12() {
    check(
        "lcg_noisy_2000_8x12",
        lcg_noisy(2, 2000, 8, 12, 70),
        231741046,
        Reference {
            ari: 5.05456807456696189e-01,
            ami: 4.77638138298522530e-01,
            nmi: 4.82281152923405620e-01,
            acc: 7.10999999999999965e-01,
        },
    );
}

/// 85% consistent labels, n = 5000, 32 vs 32 (n = 5000, 32 vs 32 classes).
#[test]
fn lcg_noisy_5000_32x32() {
    check(
        "lcg_noisy_5000_32x32",
        lcg_noisy(3, 5000, 32, 32, 85),
        6226331271,
        Reference {
            ari: 7.15553944858394297e-01,
            ami: 7.55497932359941116e-01,
            nmi: 7.62629901376947972e-01,
            acc: 8.50999999999999979e-01,
        },
    );
}

/// 90% consistent, n = 3000, 16 vs 4 (merged classes) (n = 3000, 16 vs 4 classes).
#[test]
fn lcg_noisy_3000_16x4() {
    check(
        "lcg_noisy_3000_16x4",
        lcg_noisy(4, 3000, 16, 4, 90),
        1042233633,
        Reference {
            ari: 2.71065511408976112e-01,
            ami: 5.03170599563660281e-01,
            nmi: 5.04972539712473245e-01,
            acc: 2.47666666666666674e-01,
        },
    );
}
