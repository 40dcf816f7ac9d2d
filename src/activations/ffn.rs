//! One transformer FFN layer (`W_in`, `b_in`, `W_out`, `b_out`) read from safetensors, its token
//! inputs, and the recompute of its activations and output in f32.
//!
//! Layout conventions (those of the shipped `data/minilm-l6` files and of PyTorch `Linear`):
//! `w_in` is `[N, d]` (one row per neuron), `b_in` `[N]`, `w_out` `[d, N]` (one column per
//! neuron), `b_out` `[d]`; inputs `ffn_in` are `[T, d]` (see `data/README.md`). Floats may be
//! stored as f16, bf16, f32 or f64 and are upcast to f32. The activations are
//! `a = GELU_erf(ffn_in · w_in^T + b_in)` with `GELU_erf(z) = z/2 · (1 + erf(z/√2))`, computed in
//! f32 with a faer matrix product and an f64 `erf` (libm); the error metrics of the bricks
//! module accumulate dot products in f64.
//!
//! Token-major matrices (`[T, N]` activations, `[T, d]` inputs) are [`TokenMatrix`]es; faer sees
//! them as column-major `[N, T]` without copying.

use super::{read_tensor_f32, TokenMatrix};
use crate::error::{Error, Result};
use faer::{Accum, Mat, Par};
use std::path::Path;

/// GELU with the exact error function: `z/2 · (1 + erf(z/√2))`.
pub fn gelu_erf(z: f32) -> f32 {
    let z = z as f64;
    (0.5 * z * (1.0 + libm::erf(z * std::f64::consts::FRAC_1_SQRT_2))) as f32
}

/// One FFN layer: `FFN(x) = W_out GELU(W_in x + b_in) + b_out`.
// Deliberate same-shape pair (`cd src && duplicates`): a plain list of documented fields,
// alike line by line with `coactivation::Report` only in shape; no logic is shared.
#[derive(Debug, Clone)]
pub struct FfnLayer {
    /// Model width d.
    pub d_model: usize,
    /// Number of neurons N.
    pub n_neurons: usize,
    /// `[N, d]`, one row per neuron.
    pub w_in: Mat<f32>,
    /// `[N]`.
    pub b_in: Vec<f32>,
    /// `[d, N]`, one column per neuron.
    pub w_out: Mat<f32>,
    /// `[d]`.
    pub b_out: Vec<f32>,
}

/// Parallelism used by the dense kernels (the global rayon pool).
pub(crate) fn par() -> Par {
    Par::rayon(0)
}

/// A layer file must be safetensors: a `.npy` holds one array, so every named tensor would be
/// that array (and the errors would be about shapes of tensors that do not exist).
fn require_safetensors(path: &Path) -> Result<()> {
    if !crate::activations::is_safetensors(path)? {
        return Err(Error::parse(
            path,
            0,
            "a layer file is a safetensors file with tensors w_in, b_in, w_out, b_out (and ffn_in); this is a .npy file",
        ));
    }
    Ok(())
}

impl FfnLayer {
    /// Build from weights; checks that the four shapes agree (`w_in [N, d]`, `b_in [N]`,
    /// `w_out [d, N]`, `b_out [d]`) and that every value is finite.
    pub fn new(w_in: Mat<f32>, b_in: Vec<f32>, w_out: Mat<f32>, b_out: Vec<f32>) -> Result<Self> {
        let (n, d) = (w_in.nrows(), w_in.ncols());
        if n == 0 || d == 0 {
            return Err(Error::Input(format!("w_in has an empty shape [{n}, {d}]")));
        }
        if b_in.len() != n {
            return Err(Error::Input(format!(
                "b_in has {} entries but w_in has {n} rows (neurons)",
                b_in.len()
            )));
        }
        if w_out.nrows() != d || w_out.ncols() != n {
            return Err(Error::Input(format!(
                "w_out is [{}, {}] but w_in [{n}, {d}] needs w_out [{d}, {n}]",
                w_out.nrows(),
                w_out.ncols()
            )));
        }
        if b_out.len() != d {
            return Err(Error::Input(format!(
                "b_out has {} entries but the model width is {d}",
                b_out.len()
            )));
        }
        let finite =
            |m: &Mat<f32>| (0..m.ncols()).all(|j| m.col_as_slice(j).iter().all(|v| v.is_finite()));
        if !finite(&w_in) || !finite(&w_out) || !b_in.iter().chain(&b_out).all(|v| v.is_finite()) {
            return Err(Error::Input(
                "FFN weights contain NaN or infinite values".into(),
            ));
        }
        Ok(FfnLayer {
            d_model: d,
            n_neurons: n,
            w_in,
            b_in,
            w_out,
            b_out,
        })
    }

    /// Read `w_in`, `b_in`, `w_out`, `b_out` from a safetensors file (f16/bf16/f32/f64), with [`read_tensor_f32`]. The inputs `ffn_in` of the same file are
    /// read by [`load_inputs`].
    ///
    /// # Errors
    /// Missing tensors, wrong ranks or inconsistent shapes, naming the file and tensor.
    pub fn load(path: &Path) -> Result<Self> {
        require_safetensors(path)?;
        let (s_in, w_in) = read_tensor_f32(path, "w_in")?;
        let (s_bin, b_in) = read_tensor_f32(path, "b_in")?;
        let (s_out, w_out) = read_tensor_f32(path, "w_out")?;
        let (s_bout, b_out) = read_tensor_f32(path, "b_out")?;
        let rank = |name: &str, s: &[usize], r: usize| {
            if s.len() != r {
                Err(Error::parse(
                    path,
                    0,
                    format!("tensor `{name}` has shape {s:?}, expected rank {r}"),
                ))
            } else {
                Ok(())
            }
        };
        rank("w_in", &s_in, 2)?;
        rank("b_in", &s_bin, 1)?;
        rank("w_out", &s_out, 2)?;
        rank("b_out", &s_bout, 1)?;
        let w_in = Mat::from_fn(s_in[0], s_in[1], |i, j| w_in[i * s_in[1] + j]);
        let w_out = Mat::from_fn(s_out[0], s_out[1], |i, j| w_out[i * s_out[1] + j]);
        FfnLayer::new(w_in, b_in, w_out, b_out).map_err(|e| Error::parse(path, 0, e.to_string()))
    }

    /// Check that token inputs have the model width.
    pub fn check_inputs(&self, x: &TokenMatrix) -> Result<()> {
        if x.cols != self.d_model {
            return Err(Error::Input(format!(
                "inputs have {} features per token but the FFN layer has width d = {} \
                 (w_in is [{}, {}]): weights and activations come from different layers or models",
                x.cols, self.d_model, self.n_neurons, self.d_model
            )));
        }
        Ok(())
    }

    /// Check that activations have one value per neuron of this layer.
    pub fn check_activations(&self, a: &TokenMatrix) -> Result<()> {
        if a.cols != self.n_neurons {
            return Err(Error::Input(format!(
                "activations have {} neurons per token but the FFN layer has {} neurons \
                 (w_in is [{}, {}])",
                a.cols, self.n_neurons, self.n_neurons, self.d_model
            )));
        }
        Ok(())
    }

    /// Pre-activations `z = x W_in^T + b_in`, `[T, N]`.
    ///
    /// # Cost
    /// One `T x d x N` matrix product (faer, rayon-parallel); `T N` floats of memory.
    pub fn pre_activations(&self, x: &TokenMatrix) -> Result<TokenMatrix> {
        self.check_inputs(x)?;
        let mut z = times_tokens(&self.w_in, x);
        for t in 0..z.rows {
            for (v, b) in z.row_mut(t).iter_mut().zip(&self.b_in) {
                *v += b;
            }
        }
        Ok(z)
    }

    /// Activations `a = GELU_erf(x W_in^T + b_in)`, `[T, N]`. Cost as
    /// [`FfnLayer::pre_activations`].
    pub fn activations(&self, x: &TokenMatrix) -> Result<TokenMatrix> {
        let mut a = self.pre_activations(x)?;
        use rayon::prelude::*;
        a.data.par_iter_mut().for_each(|z| *z = gelu_erf(*z));
        Ok(a)
    }

    /// Read a layer file with its inputs (`ffn_in`, `w_in`, `b_in`, `w_out`, `b_out`; see
    /// `data/README.md`) and recompute the activations of its tokens, `[T, N]`.
    ///
    /// # Errors
    /// As [`load_inputs`] and [`FfnLayer::load`]; inputs whose width is not the layer's (the
    /// error names the file).
    pub fn read_activations(path: &Path) -> Result<(FfnLayer, TokenMatrix)> {
        require_safetensors(path)?;
        let x = load_inputs(path, "ffn_in")?;
        let ffn = FfnLayer::load(path)?;
        let a = ffn
            .activations(&x)
            .map_err(|e| Error::parse(path, 0, e.to_string()))?;
        Ok((ffn, a))
    }

    /// `W_out a` for each token (the FFN output **without** `b_out`), `[T, d]`. Cost O(T N d).
    pub fn project(&self, a: &TokenMatrix) -> Result<TokenMatrix> {
        self.check_activations(a)?;
        Ok(times_tokens(&self.w_out, a))
    }

    /// Full FFN output `W_out a + b_out`, `[T, d]`.
    pub fn forward(&self, x: &TokenMatrix) -> Result<TokenMatrix> {
        let a = self.activations(x)?;
        let mut y = self.project(&a)?;
        for t in 0..y.rows {
            for (v, b) in y.row_mut(t).iter_mut().zip(&self.b_out) {
                *v += b;
            }
        }
        Ok(y)
    }

    /// `||W_out[:, i]||_2` per neuron (the output-magnitude weight of Zhang et al. 2024).
    pub fn out_norms(&self) -> Vec<f32> {
        (0..self.n_neurons)
            .map(|i| {
                self.w_out
                    .col_as_slice(i)
                    .iter()
                    .map(|v| (*v as f64) * (*v as f64))
                    .sum::<f64>()
                    .sqrt() as f32
            })
            .collect()
    }

    /// The sub-layer of the listed neurons (rows of `W_in`/`b_in`, columns of `W_out`), with the
    /// same `b_out`. Cost O(|neurons| d).
    pub fn select_neurons(&self, neurons: &[u32]) -> FfnLayer {
        let m = neurons.len();
        let d = self.d_model;
        FfnLayer {
            d_model: d,
            n_neurons: m,
            w_in: Mat::from_fn(m, d, |r, j| self.w_in[(neurons[r] as usize, j)]),
            b_in: neurons.iter().map(|&i| self.b_in[i as usize]).collect(),
            w_out: Mat::from_fn(d, m, |i, c| self.w_out[(i, neurons[c] as usize)]),
            b_out: self.b_out.clone(),
        }
    }
}

/// Token inputs of one layer (a `[T, d]` tensor `name`, normally `ffn_in`) read from a
/// safetensors file.
///
/// # Errors
/// A missing tensor (the error lists the available names), non-finite values, a rank other
/// than 2.
pub fn load_inputs(path: &Path, name: &str) -> Result<TokenMatrix> {
    let (shape, data) = read_tensor_f32(path, name)?;
    if shape.len() != 2 {
        return Err(Error::parse(
            path,
            0,
            format!("tensor `{name}` has shape {shape:?}, expected [tokens, d]"),
        ));
    }
    Ok(TokenMatrix {
        rows: shape[0],
        cols: shape[1],
        data,
    })
}

/// `(w x_tᵀ)ᵀ` for every token row `x_t` of `x`: the `[T, rows(w)]` token matrix of the
/// product `w xᵀ` (faer, rayon-parallel; `rows(w) x cols(x)` times `T`).
fn times_tokens(w: &Mat<f32>, x: &TokenMatrix) -> TokenMatrix {
    let mut z = Mat::<f32>::zeros(w.nrows(), x.rows);
    faer::linalg::matmul::matmul(&mut z, Accum::Replace, w, x.as_transposed(), 1.0, par());
    TokenMatrix::from_transposed(&z)
}
#[cfg(test)]
mod tests {
    use super::*;

    fn data(f: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("data/minilm-l6")
            .join(f)
    }

    /// Regression constants of data/minilm-l6/manifest.json.
    #[test]
    fn recompute_matches_manifest() {
        let cases: [(&str, [f32; 5], f64, usize, usize); 2] = [
            (
                "layer2.safetensors",
                [
                    -0.02325846,
                    -0.09156494,
                    -0.02319171,
                    -0.16973521,
                    -0.00988846,
                ],
                0.190577,
                10,
                0,
            ),
            (
                "layer5.safetensors",
                [
                    -0.15000851,
                    0.10375404,
                    -0.16989918,
                    -0.16920906,
                    0.06991228,
                ],
                0.283548,
                0,
                1,
            ),
        ];
        for (file, first5, frac, dead, resident) in cases {
            let ffn = FfnLayer::load(&data(file)).unwrap();
            assert_eq!((ffn.n_neurons, ffn.d_model), (1536, 384));
            let x = load_inputs(&data(file), "ffn_in").unwrap();
            let a = ffn.activations(&x).unwrap();
            for (u, v) in a.row(0)[..5].iter().zip(first5) {
                assert!((u - v).abs() < 1e-5, "{file}: {u} vs {v}");
            }
            let pos = a.data.iter().filter(|v| **v > 0.0).count();
            let f = pos as f64 / a.data.len() as f64;
            assert!((f - frac).abs() < 1e-4, "{file}: fraction > 0 = {f}");
            let mut cnt = vec![0usize; a.cols];
            for t in 0..a.rows {
                for (c, v) in cnt.iter_mut().zip(a.row(t)) {
                    *c += (*v > 0.0) as usize;
                }
            }
            assert_eq!(cnt.iter().filter(|&&c| c == 0).count(), dead, "{file}");
            let res = cnt.iter().filter(|&&c| c * 10 > 9 * a.rows).count();
            assert_eq!(res, resident, "{file}");
        }
    }

    #[test]
    fn shape_mismatch_is_a_clear_error() {
        let ffn = FfnLayer::load(&data("layer5.safetensors")).unwrap();
        let x = TokenMatrix::zeros(3, 100);
        let e = ffn.activations(&x).unwrap_err().to_string();
        assert!(e.contains("width d = 384"), "{e}");
        let bad = FfnLayer::new(
            Mat::zeros(4, 3),
            vec![0.0; 4],
            Mat::zeros(3, 5),
            vec![0.0; 3],
        )
        .unwrap_err()
        .to_string();
        assert!(bad.contains("w_out is [3, 5]"), "{bad}");
    }
}
