//! A small `.npy` (NumPy format versions 1, 2 and 3) header parser and writer.
//!
//! Written here rather than taken from a crate because the readers need three things a
//! whole-array loader does not give: the byte offset of the data (to stream chunks of rows and
//! to read Fortran-order arrays strided), a check of the file size against the header before any
//! work (truncated files), and error messages that name the file and the offending header field.
//! Format reference: <https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html>.

use crate::error::{Error, Result};
use std::io::{Read, Write};
use std::path::Path;

/// Element type of an array on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// IEEE half precision (`<f2`, safetensors `F16`).
    F16,
    /// bfloat16 (safetensors `BF16`; no NumPy equivalent).
    Bf16,
    /// IEEE single precision.
    F32,
    /// IEEE double precision.
    F64,
    /// Unsigned 8-bit integer (only for [`crate::activations::read_tensor_f32`]).
    U8,
    /// Unsigned 16-bit integer (only for [`crate::activations::read_tensor_f32`]).
    U16,
    /// Unsigned 32-bit integer (count matrices; [`crate::activations::read_tensor_f32`]).
    U32,
    /// Signed 32-bit integer (only for [`crate::activations::read_tensor_f32`]).
    I32,
    /// Signed 64-bit integer (only for [`crate::activations::read_tensor_f32`]).
    I64,
}

impl Dtype {
    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            Dtype::U8 => 1,
            Dtype::F16 | Dtype::Bf16 | Dtype::U16 => 2,
            Dtype::F32 | Dtype::U32 | Dtype::I32 => 4,
            Dtype::F64 | Dtype::I64 => 8,
        }
    }
    /// True for the floating-point types accepted as activations.
    pub fn is_float(self) -> bool {
        matches!(self, Dtype::F16 | Dtype::Bf16 | Dtype::F32 | Dtype::F64)
    }
}

/// The parsed header of a `.npy` file.
#[derive(Debug, Clone)]
pub struct NpyHeader {
    /// Element type.
    pub dtype: Dtype,
    /// True when the data is big-endian (`>` in the descr).
    pub big_endian: bool,
    /// True for column-major (Fortran) order.
    pub fortran_order: bool,
    /// Array shape.
    pub shape: Vec<usize>,
    /// Byte offset of the first element.
    pub data_offset: u64,
}

/// Read and parse the header of the `.npy` file `path` from `r` (positioned at the start).
pub fn read_header<R: Read>(path: &Path, r: &mut R) -> Result<NpyHeader> {
    let bad = |msg: String| Error::parse(path, 0, msg);
    let mut pre = [0u8; 8];
    r.read_exact(&mut pre)
        .map_err(|_| bad("not a .npy file: shorter than the 8-byte preamble".into()))?;
    if &pre[..6] != b"\x93NUMPY" {
        return Err(bad("not a .npy file: missing the \\x93NUMPY magic".into()));
    }
    let major = pre[6];
    let (hlen, pre_len) = match major {
        1 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b)
                .map_err(|_| bad("truncated .npy header".into()))?;
            (u16::from_le_bytes(b) as usize, 10u64)
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            r.read_exact(&mut b)
                .map_err(|_| bad("truncated .npy header".into()))?;
            (u32::from_le_bytes(b) as usize, 12u64)
        }
        v => return Err(bad(format!("unsupported .npy format version {v}"))),
    };
    if hlen > 1 << 20 {
        return Err(bad(format!("implausible .npy header length {hlen}")));
    }
    let mut h = vec![0u8; hlen];
    r.read_exact(&mut h)
        .map_err(|_| bad("truncated .npy header".into()))?;
    let text = String::from_utf8_lossy(&h).into_owned();
    let descr = dict_value(&text, "descr")
        .ok_or_else(|| bad(format!("header has no 'descr': {}", text.trim())))?;
    let descr = descr.trim().trim_matches(|c| c == '\'' || c == '"');
    let (big_endian, code) = match descr.as_bytes().first() {
        Some(b'<') | Some(b'=') => (false, &descr[1..]),
        Some(b'|') => (false, &descr[1..]),
        Some(b'>') => (true, &descr[1..]),
        _ => (false, descr),
    };
    let dtype = match code {
        "f2" => Dtype::F16,
        "f4" => Dtype::F32,
        "f8" => Dtype::F64,
        "u1" => Dtype::U8,
        "u2" => Dtype::U16,
        "u4" => Dtype::U32,
        "i4" => Dtype::I32,
        "i8" => Dtype::I64,
        _ => {
            return Err(bad(format!(
            "unsupported dtype '{descr}' (supported: float16 '<f2', float32 '<f4', float64 '<f8')"
        )))
        }
    };
    let fo = dict_value(&text, "fortran_order")
        .ok_or_else(|| bad("header has no 'fortran_order'".into()))?;
    let fortran_order = match fo.trim() {
        "True" => true,
        "False" => false,
        v => return Err(bad(format!("bad 'fortran_order' value `{v}`"))),
    };
    let sh = dict_value(&text, "shape").ok_or_else(|| bad("header has no 'shape'".into()))?;
    let inner = sh.trim().trim_start_matches('(').trim_end_matches(')');
    let mut shape = Vec::new();
    for part in inner.split(',') {
        let p = part.trim();
        if p.is_empty() {
            continue;
        }
        shape.push(
            p.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| bad(format!("bad shape entry `{p}` in {sh}")))?,
        );
    }
    Ok(NpyHeader {
        dtype,
        big_endian,
        fortran_order,
        shape,
        data_offset: pre_len + hlen as u64,
    })
}

/// The raw text of the value of `key` in a Python dict literal (up to the matching `,` / `}`).
fn dict_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let pat1 = format!("'{key}'");
    let pat2 = format!("\"{key}\"");
    let pos = text.find(&pat1).or_else(|| text.find(&pat2))? + pat1.len();
    let rest = text[pos..].trim_start().strip_prefix(':')?;
    let rest = rest.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else if rest.starts_with('\'') || rest.starts_with('"') {
        let q = rest.as_bytes()[0] as char;
        rest[1..].find(q)? + 2
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    Some(&rest[..end])
}

/// Write a C-order `.npy` header (format 1.0, padded to a multiple of 64 bytes) for `descr`
/// (e.g. `<u4`) and `shape`.
pub fn write_header<W: Write>(w: &mut W, descr: &str, shape: &[usize]) -> std::io::Result<()> {
    let shape_s = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_s}, }}");
    let total = 10 + dict.len() + 1;
    let pad = (64 - total % 64) % 64;
    dict.push_str(&" ".repeat(pad));
    dict.push('\n');
    w.write_all(b"\x93NUMPY\x01\x00")?;
    w.write_all(&(dict.len() as u16).to_le_bytes())?;
    w.write_all(dict.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let mut buf = Vec::new();
        write_header(&mut buf, "<u4", &[3, 5]).unwrap();
        assert_eq!(buf.len() % 64, 0);
        let h = read_header(Path::new("x.npy"), &mut &buf[..]).unwrap();
        assert_eq!(h.dtype, Dtype::U32);
        assert_eq!(h.shape, vec![3, 5]);
        assert!(!h.fortran_order);
        assert_eq!(h.data_offset as usize, buf.len());
    }

    #[test]
    fn parses_numpy_style_headers() {
        let text = "{'descr': '>f8', 'fortran_order': True, 'shape': (7, 2), }";
        let mut buf = b"\x93NUMPY\x01\x00".to_vec();
        buf.extend((text.len() as u16).to_le_bytes());
        buf.extend(text.as_bytes());
        let h = read_header(Path::new("x.npy"), &mut &buf[..]).unwrap();
        assert_eq!(h.dtype, Dtype::F64);
        assert!(h.big_endian && h.fortran_order);
        assert_eq!(h.shape, vec![7, 2]);
    }
}
