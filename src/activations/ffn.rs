//! Recompute the activations of one transformer FFN layer from its shipped inputs and weights.
//!
//! A layer file (see `data/README.md`) is a safetensors file with `ffn_in [T, d]`,
//! `w_in [N, d]`, `b_in [N]`, `w_out [d, N]`, `b_out [d]` (any float dtype; upcast to f32).
//! The activations are `a = GELU_erf(ffn_in · w_in^T + b_in)` with
//! `GELU_erf(z) = z/2 · (1 + erf(z/√2))`, computed in f32 with a faer matrix product and an
//! f64 `erf` (libm).

use crate::activations::{read_tensor_f32, DenseActivations};
use crate::error::{Error, Result};
use faer::{Accum, MatMut, MatRef, Par};
use std::path::{Path, PathBuf};

/// The FFN inputs and weights of one layer, all as row-major f32.
#[derive(Debug, Clone)]
pub struct FfnLayer {
    /// The file the layer was read from.
    pub path: PathBuf,
    /// Number of tokens T.
    pub tokens: usize,
    /// Model width d.
    pub hidden: usize,
    /// Number of FFN neurons N.
    pub neurons: usize,
    /// FFN inputs `[T, d]`.
    pub ffn_in: Vec<f32>,
    /// Input weights `[N, d]` (row i = neuron i).
    pub w_in: Vec<f32>,
    /// Input bias `[N]`.
    pub b_in: Vec<f32>,
    /// Output weights `[d, N]` (column i = neuron i).
    pub w_out: Vec<f32>,
    /// Output bias `[d]`.
    pub b_out: Vec<f32>,
}

/// GELU with the exact error function: `z/2 · (1 + erf(z/√2))`.
pub fn gelu_erf(z: f32) -> f32 {
    let z = z as f64;
    (0.5 * z * (1.0 + libm::erf(z * std::f64::consts::FRAC_1_SQRT_2))) as f32
}

impl FfnLayer {
    /// Read a layer file; checks that the five tensors exist and that their shapes agree.
    ///
    /// # Errors
    /// Missing tensors (the error lists the available names), non-finite values, shape mismatches.
    pub fn read(path: &Path) -> Result<Self> {
        if !crate::activations::is_safetensors(path)? {
            return Err(Error::parse(
                path,
                0,
                "a layer file is a safetensors file with tensors ffn_in, w_in, b_in, w_out, b_out; this is a .npy file",
            ));
        }
        let (s_x, ffn_in) = read_tensor_f32(path, "ffn_in")?;
        let (s_w, w_in) = read_tensor_f32(path, "w_in")?;
        let (s_b, b_in) = read_tensor_f32(path, "b_in")?;
        let (s_wo, w_out) = read_tensor_f32(path, "w_out")?;
        let (s_bo, b_out) = read_tensor_f32(path, "b_out")?;
        let bad = |m: String| Error::parse(path, 0, m);
        if s_x.len() != 2 || s_w.len() != 2 || s_x[1] != s_w[1] {
            return Err(bad(format!(
                "ffn_in {s_x:?} and w_in {s_w:?} must be [T, d] and [N, d]"
            )));
        }
        let (tokens, hidden, neurons) = (s_x[0], s_x[1], s_w[0]);
        if s_b != [neurons] || s_wo != [hidden, neurons] || s_bo != [hidden] {
            return Err(bad(format!(
                "b_in {s_b:?}, w_out {s_wo:?}, b_out {s_bo:?} do not match N = {neurons}, d = {hidden}"
            )));
        }
        Ok(FfnLayer {
            path: path.to_path_buf(),
            tokens,
            hidden,
            neurons,
            ffn_in,
            w_in,
            b_in,
            w_out,
            b_out,
        })
    }

    /// Pre-activations `ffn_in · w_in^T + b_in`, row-major `[T, N]`.
    ///
    /// # Cost
    /// One `T x d x N` matrix product (faer, rayon-parallel); `T * N` floats of memory.
    pub fn pre_activations(&self) -> Vec<f32> {
        let (t, d, n) = (self.tokens, self.hidden, self.neurons);
        let mut out = vec![0f32; t * n];
        // Row-major [T, N] is column-major [N, T]: compute Z^T = W_in · X^T.
        let w = MatRef::from_row_major_slice(&self.w_in, n, d);
        let xt = MatRef::from_row_major_slice(&self.ffn_in, t, d).transpose();
        let dst = MatMut::from_column_major_slice_mut(&mut out, n, t);
        faer::linalg::matmul::matmul(dst, Accum::Replace, w, xt, 1.0f32, Par::rayon(0));
        for row in out.chunks_mut(n) {
            for (z, b) in row.iter_mut().zip(&self.b_in) {
                *z += b;
            }
        }
        out
    }

    /// Activations `GELU_erf(ffn_in · w_in^T + b_in)`, row-major `[T, N]`.
    pub fn activations(&self) -> Vec<f32> {
        let mut a = self.pre_activations();
        use rayon::prelude::*;
        a.par_iter_mut().for_each(|z| *z = gelu_erf(*z));
        a
    }

    /// The activations wrapped as an [`crate::activations::ActivationSource`].
    pub fn activation_source(&self) -> Result<DenseActivations> {
        DenseActivations::new(self.tokens, self.neurons, self.activations())
    }
}
