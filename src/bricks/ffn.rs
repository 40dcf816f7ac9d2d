//! One FFN layer (`W_in`, `b_in`, `W_out`, `b_out`) and its inputs, read from safetensors, with
//! the GELU-erf recompute of activations and the FFN output.
//!
//! Layout conventions (those of the shipped `data/minilm-l6` files and of PyTorch `Linear`):
//! `w_in` is `[N, d]` (one row per neuron), `b_in` `[N]`, `w_out` `[d, N]` (one column per
//! neuron), `b_out` `[d]`; inputs `ffn_in` are `[T, d]`. Floats may be stored as f16, bf16, f32
//! or f64 and are upcast to f32; all arithmetic is f32 (dot products of the error metrics in f64).
//!
//! Token-major matrices (`[T, N]` activations, `[T, d]` inputs) are kept as flat `Vec<f32>` with
//! one contiguous row per token ([`TokenMatrix`]); faer sees them as column-major `[N, T]`
//! without copying.

use crate::activations::read_tensor_f32;
use crate::error::{Error, Result};
use faer::{Accum, Mat, MatRef, Par};
use safetensors::{Dtype, SafeTensors};
use std::path::Path;

/// A dense token-major matrix: `rows` tokens, `cols` values per token, row `t` at
/// `data[t * cols..(t + 1) * cols]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenMatrix {
    /// Number of tokens.
    pub rows: usize,
    /// Values per token.
    pub cols: usize,
    /// Row-major values.
    pub data: Vec<f32>,
}

impl TokenMatrix {
    /// A zero matrix.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        TokenMatrix {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }
    /// Row `t` (one token).
    #[inline]
    pub fn row(&self, t: usize) -> &[f32] {
        &self.data[t * self.cols..(t + 1) * self.cols]
    }
    /// Mutable row `t`.
    #[inline]
    pub fn row_mut(&mut self, t: usize) -> &mut [f32] {
        &mut self.data[t * self.cols..(t + 1) * self.cols]
    }
    /// The rows listed in `idx`, in that order. Cost O(|idx| cols).
    pub fn select_rows(&self, idx: &[usize]) -> TokenMatrix {
        let mut data = Vec::with_capacity(idx.len() * self.cols);
        for &t in idx {
            data.extend_from_slice(self.row(t));
        }
        TokenMatrix {
            rows: idx.len(),
            cols: self.cols,
            data,
        }
    }
    /// faer view as the column-major `[cols, rows]` matrix (the transpose), without copying.
    pub fn as_transposed(&self) -> MatRef<'_, f32> {
        MatRef::from_column_major_slice(&self.data, self.cols, self.rows)
    }
    /// Copy a faer `[cols, rows]` matrix (one column per token) into token-major form.
    pub fn from_transposed(m: &Mat<f32>) -> Self {
        let (cols, rows) = (m.nrows(), m.ncols());
        let mut data = Vec::with_capacity(rows * cols);
        for t in 0..rows {
            data.extend_from_slice(m.col_as_slice(t));
        }
        TokenMatrix { rows, cols, data }
    }
}

pub use crate::activations::ffn::gelu_erf;

/// One FFN layer: `FFN(x) = W_out GELU(W_in x + b_in) + b_out`.
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

    /// Read `w_in`, `b_in`, `w_out`, `b_out` from a safetensors file (f16/bf16/f32/f64), with
    /// [`read_tensor_f32`] of the activations module.
    ///
    /// # Errors
    /// Missing tensors, wrong ranks or inconsistent shapes, naming the file and tensor.
    pub fn load(path: &Path) -> Result<Self> {
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

    /// Activations `a = GELU_erf(x W_in^T + b_in)`, `[T, N]`. Cost O(T N d) (one faer matmul).
    pub fn activations(&self, x: &TokenMatrix) -> Result<TokenMatrix> {
        self.check_inputs(x)?;
        let mut z = Mat::<f32>::zeros(self.n_neurons, x.rows);
        faer::linalg::matmul::matmul(
            &mut z,
            Accum::Replace,
            &self.w_in,
            x.as_transposed(),
            1.0,
            par(),
        );
        let mut a = TokenMatrix::from_transposed(&z);
        for t in 0..a.rows {
            for (v, b) in a.row_mut(t).iter_mut().zip(&self.b_in) {
                *v = gelu_erf(*v + b);
            }
        }
        Ok(a)
    }

    /// `W_out a` for each token (the FFN output **without** `b_out`), `[T, d]`. Cost O(T N d).
    pub fn project(&self, a: &TokenMatrix) -> Result<TokenMatrix> {
        self.check_activations(a)?;
        let mut y = Mat::<f32>::zeros(self.d_model, a.rows);
        faer::linalg::matmul::matmul(
            &mut y,
            Accum::Replace,
            &self.w_out,
            a.as_transposed(),
            1.0,
            par(),
        );
        Ok(TokenMatrix::from_transposed(&y))
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

/// Token inputs of one layer (`ffn_in [T, d]`) read from a safetensors file.
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

impl FfnLayer {
    /// The bricks view (faer matrices, validated) of a layer read by
    /// [`crate::activations::ffn::FfnLayer::read`], and its inputs `ffn_in`. Cost O(N d + T d).
    pub fn from_activations_layer(
        l: &crate::activations::ffn::FfnLayer,
    ) -> Result<(Self, TokenMatrix)> {
        let (n, d) = (l.neurons, l.hidden);
        let w_in = Mat::from_fn(n, d, |i, j| l.w_in[i * d + j]);
        let w_out = Mat::from_fn(d, n, |i, j| l.w_out[i * n + j]);
        let ffn = FfnLayer::new(w_in, l.b_in.clone(), w_out, l.b_out.clone())?;
        let x = TokenMatrix {
            rows: l.tokens,
            cols: d,
            data: l.ffn_in.clone(),
        };
        Ok((ffn, x))
    }
}

/// Per-token metadata of the shipped corpus (`tokens.safetensors`).
#[derive(Debug, Clone)]
pub struct Tokens {
    /// Word-piece ids.
    pub ids: Vec<u32>,
    /// Domain label per token (0 code, 1 prose, 2 reference, 3 legal for `data/minilm-l6`).
    pub domain: Vec<u32>,
    /// Window index per token.
    pub window: Vec<u32>,
}

/// Domain names of `data/minilm-l6`, indexed by the `domain` label.
pub const MINILM_DOMAINS: [&str; 4] = ["code", "prose", "reference", "legal"];

impl Tokens {
    /// Read `ids`, `domain`, `window` (any unsigned integer dtype) from a safetensors file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let st = open(&bytes, path)?;
        let ids = tensor_u32(&st, "ids", path)?;
        let domain = tensor_u32(&st, "domain", path)?;
        let window = tensor_u32(&st, "window", path)?;
        if domain.len() != ids.len() || window.len() != ids.len() {
            return Err(Error::parse(
                path,
                0,
                format!(
                    "`ids`, `domain`, `window` have different lengths ({}, {}, {})",
                    ids.len(),
                    domain.len(),
                    window.len()
                ),
            ));
        }
        Ok(Tokens {
            ids,
            domain,
            window,
        })
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.ids.len()
    }
    /// True if there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The held-out protocol: token indices of even windows (build / calibration) and of odd
    /// windows (evaluation).
    pub fn even_odd_split(&self) -> (Vec<usize>, Vec<usize>) {
        let mut even = Vec::new();
        let mut odd = Vec::new();
        for (t, &w) in self.window.iter().enumerate() {
            if w % 2 == 0 {
                even.push(t);
            } else {
                odd.push(t);
            }
        }
        (even, odd)
    }
}

fn open<'a>(bytes: &'a [u8], path: &Path) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes)
        .map_err(|e| Error::parse(path, 0, format!("not a safetensors file: {e}")))
}

/// Read an integer tensor (u8/u16/u32/i32/i64, non-negative) as u32.
pub fn tensor_u32(st: &SafeTensors<'_>, name: &str, path: &Path) -> Result<Vec<u32>> {
    let t = st
        .tensor(name)
        .map_err(|_| Error::parse(path, 0, format!("no tensor `{name}`")))?;
    let d = t.data();
    let neg = || Error::parse(path, 0, format!("tensor `{name}` has a negative value"));
    Ok(match t.dtype() {
        Dtype::U8 => d.iter().map(|&b| b as u32).collect(),
        Dtype::U16 => d
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]) as u32)
            .collect(),
        Dtype::U32 => d
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        Dtype::I32 => d
            .chunks_exact(4)
            .map(|c| u32::try_from(i32::from_le_bytes(c.try_into().unwrap())).map_err(|_| neg()))
            .collect::<Result<_>>()?,
        Dtype::I64 => d
            .chunks_exact(8)
            .map(|c| u32::try_from(i64::from_le_bytes(c.try_into().unwrap())).map_err(|_| neg()))
            .collect::<Result<_>>()?,
        other => {
            return Err(Error::parse(
                path,
                0,
                format!("tensor `{name}` has dtype {other:?}; expected an integer type"),
            ))
        }
    })
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
        let tok = Tokens::load(&data("tokens.safetensors")).unwrap();
        assert_eq!(tok.len(), 3072);
        let (e, o) = tok.even_odd_split();
        assert_eq!((e.len(), o.len()), (1536, 1536));
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
