//! Synthetic activations with planted hierarchical neuron groups, for tests and benchmarks.
//!
//! Neurons are split into the leaves of a tree with `branching[l]` children per node at depth
//! `l` (e.g. `[2, 4]`: 2 top groups of 4 leaf groups each, 8 leaves). On each token the groups
//! switch on hierarchically: a top group is on with probability `p_on[0]`, a child of an
//! "on" group with probability `p_on[1]`, and so on; a neuron whose leaf group is on fires with
//! probability `p_fire`, any other neuron with probability `p_noise`. A firing neuron gets an
//! activation uniform in `[0.5, 3)`, a silent one uniform in `[-0.17, 0)` (GELU-like), so the
//! rule `positive` recovers the planted firing exactly. Neuron order is shuffled by a seeded
//! permutation. Cost `O(T N)` time and memory.

use crate::activations::TokenMatrix;
use crate::error::{Error, Result};
use crate::util::rng_for;
use rand::seq::SliceRandom;
use rand::Rng;

/// Parameters of the generator (see the module docs; [`Default`], a setter per field).
// Deliberate same-shape pair (`cd src && duplicates`): a plain list of documented fields,
// alike line by line with `BottomUp` only in shape; no logic is shared.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SyntheticParams {
    /// Children per node at each depth; leaves = product.
    pub branching: Vec<usize>,
    /// Neurons per leaf group.
    pub group_size: usize,
    /// Number of tokens.
    pub tokens: usize,
    /// Probability that a group at depth `l` is on given that its parent is on.
    pub p_on: Vec<f64>,
    /// Firing probability of a neuron whose leaf group is on.
    pub p_fire: f64,
    /// Firing probability otherwise.
    pub p_noise: f64,
    /// Random seed.
    pub seed: u64,
}

impl Default for SyntheticParams {
    fn default() -> Self {
        SyntheticParams {
            branching: vec![2, 4],
            group_size: 40,
            tokens: 4000,
            p_on: vec![0.5, 0.4],
            p_fire: 0.8,
            p_noise: 0.02,
            seed: 1,
        }
    }
}

/// Generated activations with the planted groups.
#[derive(Debug, Clone)]
pub struct SyntheticActivations {
    /// The activations `[tokens, neurons]`.
    pub activations: TokenMatrix,
    /// `labels[l][i]`: the group of neuron `i` at depth `l + 1` (last = leaf group).
    pub labels: Vec<Vec<usize>>,
}

impl SyntheticParams {
    crate::util::setters! {
        /// Set the children per node at each depth.
        branching: Vec<usize>,
        /// Set the neurons per leaf group.
        group_size: usize,
        /// Set the number of tokens.
        tokens: usize,
        /// Set the probability that a group is on given its parent is on, per depth.
        p_on: Vec<f64>,
        /// Set the firing probability of a neuron whose leaf group is on.
        p_fire: f64,
        /// Set the firing probability otherwise.
        p_noise: f64,
        /// Set the seed.
        seed: u64,
    }

    /// Check the parameters: a non-empty tree without zero branching, positive sizes, one
    /// `p_on` per depth, probabilities in `[0, 1]`. [`Self::generate`] calls it first.
    ///
    /// # Errors
    /// [`Error::Param`] naming the parameter, e.g. `SyntheticParams.p_on`.
    pub fn validate(&self) -> Result<()> {
        let d = self.branching.len();
        if d == 0 || self.branching.contains(&0) {
            return Err(Error::param(
                "SyntheticParams.branching",
                "needs at least one depth, each with at least one child",
            ));
        }
        if self.group_size == 0 || self.tokens == 0 {
            return Err(Error::param(
                "SyntheticParams.group_size/tokens",
                "must be positive",
            ));
        }
        if self.p_on.len() != d {
            return Err(Error::param(
                "SyntheticParams.p_on",
                format!("needs one probability per depth ({d})"),
            ));
        }
        let probs = self.p_on.iter().chain([&self.p_fire, &self.p_noise]);
        if probs.clone().any(|p| !(0.0..=1.0).contains(p)) {
            return Err(Error::param(
                "SyntheticParams.p_on/p_fire/p_noise",
                "must be in [0, 1]",
            ));
        }
        Ok(())
    }

    /// Generate activations.
    ///
    /// # Errors
    /// Empty tree, zero sizes, `p_on` of the wrong length, probabilities outside `[0, 1]`.
    pub fn generate(&self) -> Result<SyntheticActivations> {
        self.validate()?;
        let d = self.branching.len();
        let leaves: usize = self.branching.iter().product();
        let n = leaves * self.group_size;
        let mut rng = rng_for(self.seed, 0);
        let mut perm: Vec<usize> = (0..n).collect();
        perm.shuffle(&mut rng);
        // Leaf of the neuron at position perm[k] is k / group_size.
        let mut leaf_of = vec![0usize; n];
        for (k, &i) in perm.iter().enumerate() {
            leaf_of[i] = k / self.group_size;
        }
        // Group at depth l+1 of leaf g: g / (product of branching below depth l+1).
        let mut labels = Vec::with_capacity(d);
        for l in 0..d {
            let below: usize = self.branching[l + 1..].iter().product();
            labels.push(leaf_of.iter().map(|&g| g / below).collect::<Vec<_>>());
        }
        let mut data = vec![0f32; self.tokens * n];
        let mut on = vec![false; leaves];
        for t in 0..self.tokens {
            // Walk the tree: on[g] for each leaf.
            let mut level_on = vec![true];
            for l in 0..d {
                let mut next = Vec::with_capacity(level_on.len() * self.branching[l]);
                for &parent in &level_on {
                    for _ in 0..self.branching[l] {
                        next.push(parent && rng.random::<f64>() < self.p_on[l]);
                    }
                }
                level_on = next;
            }
            on.copy_from_slice(&level_on);
            let row = &mut data[t * n..(t + 1) * n];
            for i in 0..n {
                let p = if on[leaf_of[i]] {
                    self.p_fire
                } else {
                    self.p_noise
                };
                row[i] = if rng.random::<f64>() < p {
                    rng.random_range(0.5f32..3.0)
                } else {
                    rng.random_range(-0.17f32..0.0)
                };
            }
        }
        Ok(SyntheticActivations {
            activations: TokenMatrix::new(self.tokens, n, data)?,
            labels,
        })
    }
}
