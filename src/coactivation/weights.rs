//! Edge weights from counts, sparsification rules, and the standard normal quantile.
//!
//! With `T` tokens, `n_i`, `n_j` active counts and `n_ij` joint count:
//!
//! | weight | formula |
//! |---|---|
//! | `count` | `n_ij` |
//! | `jaccard` | `n_ij / (n_i + n_j − n_ij)` |
//! | `npmi` | `ln(n_ij T / (n_i n_j)) / (−ln(n_ij / T))`, −1 when `n_ij = 0` |
//! | `phi` | `(T n_ij − n_i n_j) / √(n_i n_j (T − n_i)(T − n_j))` (binary Pearson) |
//!
//! Only positive weights become edges. Sparsification: `knn:K` keeps each neuron's `K`
//! strongest edges and symmetrises by union; `threshold:W` keeps weights `≥ W`;
//! `significance:ALPHA` keeps pairs whose phi exceeds `z_{1−α/M}/√T` (the phi null is
//! approximately `N(0, 1/T)`; Bonferroni over the `M` candidate pairs); `none` keeps all.

use crate::error::{Error, Result};
use crate::util::with_avx;
use std::fmt;
use std::str::FromStr;

/// An edge weight (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    /// `n_ij`.
    Count,
    /// Jaccard index.
    Jaccard,
    /// Normalised pointwise mutual information.
    Npmi,
    /// Phi coefficient (Pearson correlation of the binary vectors).
    Phi,
}

impl FromStr for Weight {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "count" => Ok(Weight::Count),
            "jaccard" => Ok(Weight::Jaccard),
            "npmi" => Ok(Weight::Npmi),
            "phi" => Ok(Weight::Phi),
            _ => Err(Error::param(
                "CoactivationParams.weight",
                format!("unknown weight `{s}` (weights: count, jaccard, npmi, phi)"),
            )),
        }
    }
}

impl fmt::Display for Weight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Weight::Count => "count",
            Weight::Jaccard => "jaccard",
            Weight::Npmi => "npmi",
            Weight::Phi => "phi",
        })
    }
}

impl Weight {
    /// The weight of a pair with joint count `nij`, active counts `ni`, `nj` over `t` tokens.
    /// Requires `ni, nj > 0`.
    #[inline]
    pub fn value(self, nij: u32, ni: u32, nj: u32, t: u64) -> f64 {
        let (nij, ni, nj, t) = (nij as f64, ni as f64, nj as f64, t as f64);
        match self {
            Weight::Count => nij,
            Weight::Jaccard => nij / (ni + nj - nij),
            Weight::Npmi => {
                if nij == 0.0 {
                    -1.0
                } else if nij == t {
                    1.0
                } else {
                    (nij * t / (ni * nj)).ln() / -(nij / t).ln()
                }
            }
            Weight::Phi => phi(nij, ni, nj, t),
        }
    }
}

impl Weight {
    /// The weights of one row of pairs: `out[b] = self.value(nij[b], ni, nj[b], t)` for every
    /// `b`, bit for bit (the same operations in the same order), in loops the compiler
    /// vectorises (AVX-512 where the CPU has it): the graph step evaluates `K²` weights.
    ///
    /// # Panics
    /// `nij`, `nj` and `out` differ in length.
    pub fn row(self, nij: &[u32], ni: u32, nj: &[u32], t: u64, out: &mut [f64]) {
        assert!(nij.len() == out.len() && nj.len() == out.len());
        match self {
            Weight::Phi => phi_row(nij, ni as f64, nj, t as f64, out),
            Weight::Count => {
                for (o, &c) in out.iter_mut().zip(nij) {
                    *o = c as f64;
                }
            }
            _ => {
                for ((o, &c), &m) in out.iter_mut().zip(nij).zip(nj) {
                    *o = self.value(c, ni, m, t);
                }
            }
        }
    }
}

with_avx! {
    ["avx512f", "avx512dq"]
    /// [`phi`] over a row, branch-free: both sides of the `den <= 0` test are computed and one
    /// is selected, so the loop vectorises; the kept side has the bits of [`phi`].
    fn phi_row(nij: &[u32], ni: f64, nj: &[u32], t: f64, out: &mut [f64]) {
        for ((o, &c), &m) in out.iter_mut().zip(nij).zip(nj) {
            let (c, m) = (c as f64, m as f64);
            let den = ni * m * (t - ni) * (t - m);
            let v = (t * c - ni * m) / den.sqrt();
            *o = if den <= 0.0 { 0.0 } else { v };
        }
    }
}

/// The phi coefficient from counts (0 when a neuron is active on every token).
#[inline]
pub fn phi(nij: f64, ni: f64, nj: f64, t: f64) -> f64 {
    let den = ni * nj * (t - ni) * (t - nj);
    if den <= 0.0 {
        0.0
    } else {
        (t * nij - ni * nj) / den.sqrt()
    }
}

/// A sparsification rule (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sparsify {
    /// Keep every positive weight.
    None,
    /// Each node's `K` strongest edges, union-symmetrised.
    Knn(usize),
    /// Weights `≥ W`.
    Threshold(f64),
    /// Phi above `z_{1−α/M}/√T` (Bonferroni).
    Significance(f64),
}

impl FromStr for Sparsify {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let rules = "none, knn:K, threshold:W, significance:ALPHA";
        let (name, arg, bad) = super::rules::parse_rule(s, "CoactivationParams.sparsify", rules);
        match (name, arg) {
            ("none", None) => Ok(Sparsify::None),
            ("knn", Some(v)) => match v.parse::<usize>() {
                Ok(k) if k > 0 => Ok(Sparsify::Knn(k)),
                _ => Err(bad("K must be a positive integer")),
            },
            ("threshold", Some(v)) => match v.parse::<f64>() {
                Ok(w) if w.is_finite() => Ok(Sparsify::Threshold(w)),
                _ => Err(bad("W must be a finite number")),
            },
            ("significance", Some(v)) => match v.parse::<f64>() {
                Ok(a) if a > 0.0 && a < 1.0 => Ok(Sparsify::Significance(a)),
                _ => Err(bad("ALPHA must be in (0, 1)")),
            },
            ("knn" | "threshold" | "significance", None) => Err(bad("missing `:VALUE`")),
            _ => Err(bad("unknown rule")),
        }
    }
}

// Deliberate same-shape pair (`cd src && duplicates`): like `Binarize`, `Display` writes back
// the rule grammar `FromStr` reads, one arm per variant; the shared part, splitting and
// error messages, is `rules::parse_rule`.
impl fmt::Display for Sparsify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sparsify::None => write!(f, "none"),
            Sparsify::Knn(k) => write!(f, "knn:{k}"),
            Sparsify::Threshold(w) => write!(f, "threshold:{w}"),
            Sparsify::Significance(a) => write!(f, "significance:{a}"),
        }
    }
}

/// The standard normal quantile `Φ⁻¹(p)` for `0 < p < 1` (±∞ at 0 and 1, NaN outside).
///
/// Acklam's rational approximation (relative error 1.15e-9) refined by one Halley step on
/// `Φ(x) − p` with `Φ` from libm's `erfc`, which brings it to about 1e-15 relative.
/// Reference: P. J. Acklam, "An algorithm for computing the inverse normal cumulative
/// distribution function" (2003).
pub fn normal_quantile(p: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383_577_518_672_69e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    const P_LOW: f64 = 0.02425;
    let x = if p < P_LOW {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - P_LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    // One Halley step.
    let e = 0.5 * libm::erfc(-x / std::f64::consts::SQRT_2) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// The upper-tail normal quantile `z` with `P(Z > z) = q`, accurate for tiny `q`
/// (computed as `−Φ⁻¹(q)`, avoiding the cancellation in `1 − q`).
pub fn normal_upper_quantile(q: f64) -> f64 {
    -normal_quantile(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectorised row gives the bits of `value` for every weight, including the edge
    /// cases (a neuron active on every token, on none, a joint count of 0 or of `t`).
    #[test]
    fn row_is_bit_identical_to_value() {
        let t = 1000u64;
        let nj: Vec<u32> = (0..517u32)
            .map(|b| [1000, 1, 0, 999, 500][b as usize % 5].min(b * 7 + 1))
            .collect();
        for ni in [1u32, 2, 500, 999, 1000] {
            let nij: Vec<u32> = nj
                .iter()
                .enumerate()
                .map(|(b, &m)| (b as u32 * 13 % 7).min(m).min(ni))
                .collect();
            for w in [Weight::Phi, Weight::Count, Weight::Jaccard, Weight::Npmi] {
                let mut out = vec![0.0; nj.len()];
                w.row(&nij, ni, &nj, t, &mut out);
                for b in 0..nj.len() {
                    let want = w.value(nij[b], ni, nj[b], t);
                    assert_eq!(out[b].to_bits(), want.to_bits(), "{w:?} ni {ni} b {b}");
                }
            }
        }
    }

    #[test]
    fn normal_quantile_known_values() {
        // Values from scipy.stats.norm.ppf.
        let cases = [
            (0.5, 0.0),
            (0.975, 1.959963984540054),
            (0.001, -3.090232306167813),
            (1e-10, -6.361340902404056),
            (0.3, -0.5244005127080407),
            (0.99, 2.3263478740408408),
        ];
        for (p, z) in cases {
            let got = normal_quantile(p);
            assert!(
                (got - z).abs() < 1e-12 * (1.0 + z.abs()),
                "p={p}: {got} vs {z}"
            );
        }
        assert!((normal_upper_quantile(1e-10) - 6.361340902404056).abs() < 1e-11);
        assert!(normal_quantile(1.5).is_nan());
        assert_eq!(normal_quantile(0.0), f64::NEG_INFINITY);
    }

    #[test]
    fn normal_quantile_inverts_cdf() {
        for k in 1..2000 {
            let p = k as f64 / 2000.0;
            let x = normal_quantile(p);
            let back = 0.5 * libm::erfc(-x / std::f64::consts::SQRT_2);
            assert!((back - p).abs() < 1e-14, "p={p}");
        }
    }

    #[test]
    fn weights_by_hand() {
        // T = 10, n_i = 4, n_j = 5, n_ij = 3.
        assert_eq!(Weight::Count.value(3, 4, 5, 10), 3.0);
        assert!((Weight::Jaccard.value(3, 4, 5, 10) - 0.5).abs() < 1e-15);
        let phi = (10.0 * 3.0 - 20.0) / (4.0f64 * 5.0 * 6.0 * 5.0).sqrt();
        assert!((Weight::Phi.value(3, 4, 5, 10) - phi).abs() < 1e-15);
        let npmi = (3.0f64 * 10.0 / 20.0).ln() / -(0.3f64).ln();
        assert!((Weight::Npmi.value(3, 4, 5, 10) - npmi).abs() < 1e-15);
        assert_eq!(Weight::Npmi.value(0, 4, 5, 10), -1.0);
        assert!("cosine".parse::<Weight>().is_err());
        assert_eq!("knn:5".parse::<Sparsify>().unwrap(), Sparsify::Knn(5));
        assert!("knn:0".parse::<Sparsify>().is_err());
        assert!("significance:2".parse::<Sparsify>().is_err());
    }
}
