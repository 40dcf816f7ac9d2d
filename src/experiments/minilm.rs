//! The MiniLM protocol (`data/minilm-l6`, see `data/README.md`): per-token metadata, the domain
//! names, and the calibration / held-out split of a layer (even windows build, odd windows
//! measure; docs/bricks.md "Protocol").

use crate::activations::ffn::FfnLayer;
use crate::activations::TokenMatrix;
use crate::bricks::EvalSet;
use crate::error::{Error, Result};
use safetensors::{Dtype, SafeTensors};
use std::path::Path;

/// Per-token metadata of the shipped corpus (`data/minilm-l6/tokens.safetensors`).
#[derive(Debug, Clone)]
pub struct Tokens {
    /// Word-piece ids.
    pub ids: Vec<u32>,
    /// Domain label per token (0 code, 1 prose, 2 reference, 3 legal for `data/minilm-l6`).
    pub domain: Vec<u32>,
    /// Window index per token.
    pub window: Vec<u32>,
}

/// Domain names of `data/minilm-l6`, indexed by the `domain` label of [`Tokens`].
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
    /// windows (evaluation). Cost O(T).
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

/// Inputs of a layer split into calibration and evaluation sets by [`Tokens::even_odd_split`].
#[derive(Debug, Clone)]
pub struct SplitLayer {
    /// The FFN.
    pub ffn: FfnLayer,
    /// Calibration set (even windows).
    pub cal: EvalSet,
    /// Evaluation set (odd windows).
    pub ev: EvalSet,
    /// Domain labels of the evaluation tokens.
    pub ev_domain: Vec<u32>,
}

impl SplitLayer {
    /// Split inputs `x` (all tokens) by the even/odd window protocol of `tokens`; computes the
    /// activations and contributions of both halves. Cost O(T N d).
    ///
    /// # Errors
    /// A token count that differs from the input rows, a split with an empty half, inputs
    /// whose width is not the layer's.
    pub fn new(ffn: FfnLayer, x: &TokenMatrix, tokens: &Tokens) -> Result<Self> {
        if tokens.len() != x.rows {
            return Err(Error::Input(format!(
                "{} token labels for {} input rows",
                tokens.len(),
                x.rows
            )));
        }
        let (even, odd) = tokens.even_odd_split();
        if even.is_empty() || odd.is_empty() {
            return Err(Error::Input(
                "need tokens in both even and odd windows".into(),
            ));
        }
        let cal = EvalSet::new(&ffn, x.select_rows(&even))?;
        let ev = EvalSet::new(&ffn, x.select_rows(&odd))?;
        let ev_domain = odd.iter().map(|&t| tokens.domain[t]).collect();
        Ok(SplitLayer {
            ffn,
            cal,
            ev,
            ev_domain,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_tokens_split_in_halves() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/minilm-l6/tokens.safetensors");
        let tok = Tokens::load(&p).unwrap();
        assert_eq!(tok.len(), 3072);
        let (e, o) = tok.even_odd_split();
        assert_eq!((e.len(), o.len()), (1536, 1536));
        assert_eq!(
            tok.domain.iter().max(),
            Some(&(MINILM_DOMAINS.len() as u32 - 1))
        );
    }
}
