//! Binarisation rules: when is neuron `i` active on token `t`?
//!
//! | rule | active iff | passes over the data |
//! |---|---|---|
//! | `positive` | `a > 0` | 1 |
//! | `threshold:T` | `a > T` | 1 |
//! | `topk:K` | `a` is among the `K` largest of its token (ties: lower neuron index first) | 1 |
//! | `topk:P%` | as `topk:K` with `K = max(1, round(P/100 · N))` for `N` neurons | 1 |
//! | `quantile:Q` | `a > θ_i`, `θ_i` = the `⌈Q·T⌉`-th smallest activation of neuron `i` over all `T` tokens (NumPy `quantile(method="inverted_cdf")`) | 4 |
//!
//! With many tied values (e.g. already-binary activations) `quantile:Q` is all-or-nothing per
//! neuron: a 0/1 neuron with more than `(1−Q)·T` ones has `θ_i = 1` and is never active (dead).
//! Use it on continuous activations.
//!
//! The quantile is exact: three radix-select passes over the stream (11, 11 and 10 bits of an
//! order-preserving integer key of the `f32` values, `N x 2048` counters) find `θ_i` for every
//! neuron without holding the activations in memory; a fourth pass counts.

use crate::activations::ActivationSource;
use crate::error::{Error, Result};
use rayon::prelude::*;
use std::fmt;
use std::str::FromStr;

/// A binarisation rule (see the module docs). Parse with `"topk:154".parse::<Binarize>()`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Binarize {
    /// `a > 0`.
    Positive,
    /// `a > T`.
    Threshold(f32),
    /// The `K` largest activations of each token.
    TopK(usize),
    /// The largest `fraction · N` activations of each token (`topk:P%`, resolved by
    /// [`Binarize::resolve`]).
    TopKFraction(f64),
    /// `a` above the per-neuron `Q`-quantile, `0 < Q < 1`.
    Quantile(f64),
}

/// A rule string `name` or `name:arg` for the library parameter `param`, split and trimmed,
/// with the error for a bad one: `bad(why)` names `param`, quotes `s` and lists the `rules`.
/// The one parser front of [`Binarize`] and [`Sparsify`](super::weights::Sparsify).
pub(crate) fn parse_rule<'a>(
    s: &'a str,
    param: &'static str,
    rules: &'static str,
) -> (&'a str, Option<&'a str>, impl Fn(&str) -> Error + 'a) {
    let bad = move |m: &str| Error::param(param, format!("`{s}`: {m} (rules: {rules})"));
    match s.split_once(':') {
        Some((a, b)) => (a.trim(), Some(b.trim()), bad),
        None => (s.trim(), None, bad),
    }
}

impl FromStr for Binarize {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let rules = "positive, threshold:T, topk:K, quantile:Q";
        let (name, arg, bad) = parse_rule(s, "CoactivationParams.binarize", rules);
        match (name, arg) {
            ("positive", None) => Ok(Binarize::Positive),
            ("threshold", Some(v)) => {
                let t: f32 = v.parse().map_err(|_| bad("T must be a number"))?;
                if !t.is_finite() {
                    return Err(bad("T must be finite"));
                }
                Ok(Binarize::Threshold(t))
            }
            ("topk", Some(v)) if v.ends_with('%') => {
                let p: f64 = v[..v.len() - 1]
                    .trim()
                    .parse()
                    .map_err(|_| bad("P in topk:P% must be a number"))?;
                if !(p > 0.0 && p <= 100.0) {
                    return Err(bad("P in topk:P% must be in (0, 100]"));
                }
                Ok(Binarize::TopKFraction(p / 100.0))
            }
            ("topk", Some(v)) => {
                let k: usize = v.parse().map_err(|_| bad("K must be a positive integer"))?;
                if k == 0 {
                    return Err(bad("K must be at least 1"));
                }
                Ok(Binarize::TopK(k))
            }
            ("quantile", Some(v)) => {
                let q: f64 = v.parse().map_err(|_| bad("Q must be a number"))?;
                if !(q > 0.0 && q < 1.0) {
                    return Err(bad("Q must be in (0, 1)"));
                }
                Ok(Binarize::Quantile(q))
            }
            ("positive", Some(_)) => Err(bad("`positive` takes no argument")),
            ("threshold" | "topk" | "quantile", None) => Err(bad("missing `:VALUE`")),
            _ => Err(bad("unknown rule")),
        }
    }
}

// Deliberate same-shape pair (`cd src && duplicates`): like `Sparsify`, `Display` writes back
// the rule grammar `FromStr` reads, one arm per variant; the shared part, splitting and
// error messages, is `rules::parse_rule`.
impl fmt::Display for Binarize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Binarize::Positive => write!(f, "positive"),
            Binarize::Threshold(t) => write!(f, "threshold:{t}"),
            Binarize::TopK(k) => write!(f, "topk:{k}"),
            Binarize::TopKFraction(x) => write!(f, "topk:{}%", x * 100.0),
            Binarize::Quantile(q) => write!(f, "quantile:{q}"),
        }
    }
}

impl Binarize {
    /// Number of passes over the activations this rule needs before counting (0 or 3).
    pub fn pre_passes(&self) -> usize {
        match self {
            Binarize::Quantile(_) => 3,
            _ => 0,
        }
    }

    /// Can counts of separate shards be added to give the counts of the union? True for the
    /// per-token rules; false for `quantile`, whose thresholds depend on all tokens.
    pub fn is_additive(&self) -> bool {
        !matches!(self, Binarize::Quantile(_))
    }

    /// The rule for `neurons` neurons: `topk:P%` becomes `topk:K`; other rules are unchanged.
    pub fn resolve(&self, neurons: usize) -> Binarize {
        match *self {
            Binarize::TopKFraction(x) => {
                Binarize::TopK(((x * neurons as f64).round() as usize).clamp(1, neurons.max(1)))
            }
            other => other,
        }
    }

    /// Check the rule against the number of neurons (`topk:K` needs `K <= N`).
    pub fn validate(&self, neurons: usize) -> Result<()> {
        if let Binarize::TopK(k) = self {
            if *k > neurons {
                return Err(Error::param(
                    "CoactivationParams.binarize",
                    format!("topk:{k} asks for more neurons than the {neurons} there are"),
                ));
            }
        }
        Ok(())
    }
}

/// A rule made ready to apply: per-neuron thresholds resolved.
#[derive(Debug, Clone)]
pub enum Binarizer {
    /// Active iff `a > t` (the same `t` for all neurons).
    Above(f32),
    /// Active iff `a > t[i]`.
    AbovePerNeuron(Vec<f32>),
    /// The `k` largest of each token.
    TopK(usize),
}

impl Binarizer {
    /// Set bit `bit` of `words[i]` for every active neuron `i` of one token's `row`.
    /// `scratch` is reused between calls (top-k selection).
    #[inline(always)]
    pub fn mark_row(&self, row: &[f32], bit: u32, words: &mut [u64], scratch: &mut Vec<u32>) {
        match self {
            Binarizer::Above(t) => {
                for (w, &v) in words.iter_mut().zip(row) {
                    *w |= ((v > *t) as u64) << bit;
                }
            }
            Binarizer::AbovePerNeuron(th) => {
                for ((w, &v), &t) in words.iter_mut().zip(row).zip(th) {
                    *w |= ((v > t) as u64) << bit;
                }
            }
            Binarizer::TopK(k) => {
                for i in top_k(row, *k, scratch) {
                    words[*i as usize] |= 1u64 << bit;
                }
            }
        }
    }
}

/// The indices of the `k` largest values of `row` (ties broken by lower index), unordered.
pub fn top_k<'s>(row: &[f32], k: usize, scratch: &'s mut Vec<u32>) -> &'s [u32] {
    scratch.clear();
    scratch.extend(0..row.len() as u32);
    let k = k.min(row.len());
    if k < row.len() {
        scratch.select_nth_unstable_by(k, |&a, &b| {
            row[b as usize].total_cmp(&row[a as usize]).then(a.cmp(&b))
        });
    }
    &scratch[..k]
}

/// Order-preserving map from `f32` to `u32` (`-0.0` maps like `+0.0`).
#[inline]
pub fn order_key(v: f32) -> u32 {
    let v = if v == 0.0 { 0.0f32 } else { v };
    let b = v.to_bits();
    if b >> 31 == 1 {
        !b
    } else {
        b | 0x8000_0000
    }
}

/// Inverse of [`order_key`].
#[inline]
pub fn from_order_key(k: u32) -> f32 {
    if k >> 31 == 1 {
        f32::from_bits(k & 0x7fff_ffff)
    } else {
        f32::from_bits(!k)
    }
}

/// 0-based rank of the `q`-quantile among `t` values: `⌈q·t⌉ - 1`, clamped to `[0, t-1]`.
pub fn quantile_rank(q: f64, t: usize) -> usize {
    ((q * t as f64).ceil() as usize)
        .saturating_sub(1)
        .min(t.saturating_sub(1))
}

/// Exact per-neuron `q`-quantiles `θ_i` (see the module docs) by three radix-select passes.
/// `progress(pass, tokens_done)` is called after each chunk.
///
/// # Cost
/// Three passes over the source; `N x 2048` `u32` counters of memory.
pub fn quantile_thresholds(
    src: &dyn ActivationSource,
    q: f64,
    chunk_tokens: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<f32>> {
    let n = src.neurons();
    let t = src.tokens();
    let k = quantile_rank(q, t) as u32;
    let mut prefix = vec![0u32; n];
    let mut rank = vec![k; n];
    const NB: usize = 32;
    for (pass, (shift, bits)) in [(21u32, 11u32), (10, 11), (0, 10)].into_iter().enumerate() {
        let buckets = 1usize << bits;
        let mask_hi: u32 = if shift + bits >= 32 {
            0
        } else {
            !0u32 << (shift + bits)
        };
        let mut hist = vec![0u32; n * buckets];
        let mut done = 0;
        for c in src.chunks(chunk_tokens)? {
            let c = c?;
            let prefix = &prefix;
            hist.par_chunks_mut(NB * buckets)
                .enumerate()
                .for_each(|(bi, h)| {
                    let j0 = bi * NB;
                    let j1 = (j0 + NB).min(n);
                    for row in c.data.chunks_exact(n) {
                        for j in j0..j1 {
                            let key = order_key(row[j]);
                            if key & mask_hi == prefix[j] {
                                h[(j - j0) * buckets
                                    + ((key >> shift) as usize & (buckets - 1))] += 1;
                            }
                        }
                    }
                });
            done += c.tokens;
            progress(pass, done);
        }
        for j in 0..n {
            let h = &hist[j * buckets..(j + 1) * buckets];
            let mut r = rank[j];
            let mut b = 0;
            while b + 1 < buckets && h[b] <= r {
                r -= h[b];
                b += 1;
            }
            prefix[j] |= (b as u32) << shift;
            rank[j] = r;
        }
    }
    Ok(prefix.into_iter().map(from_order_key).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rules() {
        assert_eq!("positive".parse::<Binarize>().unwrap(), Binarize::Positive);
        assert_eq!(
            "threshold:0.5".parse::<Binarize>().unwrap(),
            Binarize::Threshold(0.5)
        );
        assert_eq!("topk:7".parse::<Binarize>().unwrap(), Binarize::TopK(7));
        let f = "topk:10%".parse::<Binarize>().unwrap();
        assert_eq!(f, Binarize::TopKFraction(0.1));
        assert_eq!(f.resolve(1536), Binarize::TopK(154));
        assert_eq!(f.to_string(), "topk:10%");
        assert_eq!(
            "quantile:0.9".parse::<Binarize>().unwrap(),
            Binarize::Quantile(0.9)
        );
        for bad in [
            "topk:0",
            "topk",
            "quantile:1",
            "quantile:x",
            "foo",
            "positive:1",
            "threshold:nan",
        ] {
            let e = bad.parse::<Binarize>().unwrap_err().to_string();
            assert!(e.contains("CoactivationParams.binarize"), "{e}");
        }
    }

    #[test]
    fn order_key_is_monotone() {
        let vals = [-3.5f32, -1e-30, -0.0, 0.0, 1e-30, 2.0, f32::MAX];
        for w in vals.windows(2) {
            assert!(order_key(w[0]) <= order_key(w[1]));
            assert_eq!(from_order_key(order_key(w[1])), w[1]);
        }
        assert_eq!(order_key(-0.0), order_key(0.0));
    }

    #[test]
    fn top_k_breaks_ties_by_index() {
        let mut s = Vec::new();
        let mut v = top_k(&[1.0, 3.0, 3.0, 0.0, 3.0], 2, &mut s).to_vec();
        v.sort();
        assert_eq!(v, vec![1, 2]);
    }
}
