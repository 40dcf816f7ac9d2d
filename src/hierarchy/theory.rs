//! Exact-recovery thresholds for a binary-tree SBM in the logarithmic-degree regime
//! `p[l] = a[l] ln N / N` (Dreveton, Kuroda, Grossglauser & Thiran, JASA 2026, §4–5).
//!
//! Bottom-up (and any algorithm) recovers depth `l` exactly iff `CH_{l-1} > 1`, with the
//! Chernoff–Hellinger divergence between two leaves whose LCA has depth `m`:
//! `CH_m = k^-d [ (sqrt a_d - sqrt a_m)^2 + sum_{j=m+1}^{d-1} (k-1) k^(d-j-1) (sqrt a_j - sqrt a_m)^2 ]`
//! (`k = 2` for a binary tree). Top-down recursive bisection needs `min_{m<l} TD_m > 1` with
//! `TD_m = 2^-(m+1) (sqrt abar_{m+1} - sqrt a_m)^2` and
//! `abar_{m+1} = 2^-(d-m-1) [a_d + sum_{j=m+1}^{d-1} 2^(d-j-1) a_j]`. By Jensen `TD_m <= CH_m`.

use crate::error::{Error, Result};

fn check(a: &[f64]) -> Result<usize> {
    if a.len() < 2 {
        return Err(Error::param("a", "need a[0..=d] with d >= 1"));
    }
    if a.iter().any(|&x| !(x >= 0.0 && x.is_finite())) {
        return Err(Error::param("a", "values must be finite and non-negative"));
    }
    Ok(a.len() - 1)
}

/// `CH_m` for `m = 0..d` of a `k`-ary tree of depth `d = a.len() - 1`.
pub fn chernoff_hellinger(a: &[f64], k: usize) -> Result<Vec<f64>> {
    let d = check(a)?;
    if k < 2 {
        return Err(Error::param("branching", "must be at least 2"));
    }
    let kf = k as f64;
    let s: Vec<f64> = a.iter().map(|x| x.sqrt()).collect();
    Ok((0..d)
        .map(|m| {
            let mut t = (s[d] - s[m]).powi(2);
            for j in m + 1..d {
                t += (kf - 1.0) * kf.powi((d - j - 1) as i32) * (s[j] - s[m]).powi(2);
            }
            t / kf.powi(d as i32)
        })
        .collect())
}

/// `TD_m` for `m = 0..d` of a binary tree of depth `d = a.len() - 1`.
pub fn top_down_divergence(a: &[f64]) -> Result<Vec<f64>> {
    let d = check(a)?;
    Ok((0..d)
        .map(|m| {
            let mut abar = a[d];
            for j in m + 1..d {
                abar += 2f64.powi((d - j - 1) as i32) * a[j];
            }
            abar /= 2f64.powi((d - m - 1) as i32);
            (abar.sqrt() - a[m].sqrt()).powi(2) / 2f64.powi((m + 1) as i32)
        })
        .collect())
}

/// For each depth `l = 1..=d`: whether exact recovery is possible (and achieved by bottom-up),
/// i.e. `CH_{l-1} > 1`, for a binary tree.
pub fn bottom_up_recoverable(a: &[f64]) -> Result<Vec<bool>> {
    Ok(chernoff_hellinger(a, 2)?.iter().map(|&c| c > 1.0).collect())
}

/// For each depth `l = 1..=d`: whether the top-down condition `min_{m<l} TD_m > 1` holds.
pub fn top_down_recoverable(a: &[f64]) -> Result<Vec<bool>> {
    let td = top_down_divergence(a)?;
    let mut ok = true;
    Ok(td
        .iter()
        .map(|&t| {
            ok &= t > 1.0;
            ok
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worked values of the paper-spec note (d = 3), to 3 decimals.
    #[test]
    fn worked_values() {
        let cases: [([f64; 4], [f64; 3], [f64; 3]); 3] = [
            (
                [40., 50., 60., 100.],
                [2.080, 1.129, 0.635],
                [1.510, 0.877, 0.635],
            ),
            (
                [40., 41., 45., 100.],
                [1.709, 1.629, 1.354],
                [0.730, 1.115, 1.354],
            ),
            (
                [40., 55., 70., 100.],
                [2.508, 0.947, 0.333],
                [2.085, 0.813, 0.333],
            ),
        ];
        for (a, ch, td) in cases {
            let c = chernoff_hellinger(&a, 2).unwrap();
            let t = top_down_divergence(&a).unwrap();
            for m in 0..3 {
                assert!((c[m] - ch[m]).abs() < 5e-4, "CH_{m} of {a:?}: {}", c[m]);
                assert!((t[m] - td[m]).abs() < 5e-4, "TD_{m} of {a:?}: {}", t[m]);
                assert!(t[m] <= c[m] + 1e-12);
            }
        }
        assert_eq!(
            bottom_up_recoverable(&[40., 41., 45., 100.]).unwrap(),
            vec![true, true, true]
        );
        assert_eq!(
            top_down_recoverable(&[40., 41., 45., 100.]).unwrap(),
            vec![false, false, false]
        );
        assert_eq!(
            bottom_up_recoverable(&[40., 55., 70., 100.]).unwrap(),
            vec![true, false, false]
        );
    }
}
