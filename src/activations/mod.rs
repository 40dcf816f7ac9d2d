//! Activation readers: `.npy` (C or Fortran order; f16, f32, f64) and safetensors (a named
//! tensor; f16, bf16, f32, f64) files of shape `[tokens, neurons]`, streamed in chunks of tokens
//! so that memory does not grow with the number of tokens.
//!
//! * [`ActivationFile`] is one opened file (header parsed and checked against the file size);
//!   [`ActivationFile::chunks`] yields row-major `f32` [`Chunk`]s of at most `chunk_tokens` rows.
//!   C-order data is read by contiguous byte ranges; Fortran-order data is read strided (one
//!   range per neuron per chunk), so memory stays at one chunk in both cases.
//! * [`Activations`] is a list of files (shards) with the same number of neurons, read one
//!   after the other as one token stream.
//! * [`ActivationSource`] is what the co-activation pipeline consumes: files, or an in-memory
//!   [`TokenMatrix`] (e.g. recomputed by [`ffn::FfnLayer`] or generated).
//! * [`ffn::FfnLayer`] is one transformer FFN layer (weights); [`ffn::load_inputs`] reads its
//!   token inputs, and the layer recomputes activations and outputs from them.
//! * [`read_tensor_f32`] loads a whole small tensor (weights), [`read_domains`] a token-domain
//!   labels file.
//!
//! Every non-finite activation is an error naming the file and the token row.

pub mod ffn;
pub mod npy;

pub use npy::Dtype;

use crate::error::{Error, Result};
use faer::{Mat, MatRef};
use rayon::prelude::*;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// A block of consecutive tokens: row-major `f32` values `[tokens, neurons]`.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// Index of the first token of the chunk in the whole stream (over all shards).
    pub first_token: usize,
    /// Number of tokens (rows).
    pub tokens: usize,
    /// Number of neurons (columns).
    pub neurons: usize,
    /// Row-major values, `tokens * neurons` of them.
    pub data: Vec<f32>,
}

impl Chunk {
    /// The activations of token `t` (0-based within the chunk).
    pub fn row(&self, t: usize) -> &[f32] {
        &self.data[t * self.neurons..(t + 1) * self.neurons]
    }
}

/// A stream of activations that can be read several times (multi-pass rules such as
/// per-neuron quantiles read it more than once).
pub trait ActivationSource: Sync {
    /// Total number of tokens.
    fn tokens(&self) -> usize;
    /// Number of neurons.
    fn neurons(&self) -> usize;
    /// A fresh pass over all tokens in chunks of at most `chunk_tokens` rows.
    fn chunks(&self, chunk_tokens: usize) -> Result<Chunks<'_>>;
    /// The same pass as [`Self::chunks`] (same chunks, values, errors) with the values left in
    /// half precision, when the source holds row-major f16 (little-endian `.npy` files, f16
    /// arrays in memory): a consumer that only compares values, such as binarisation, then
    /// decodes rows in cache instead of writing and re-reading a whole `f32` chunk. `None`
    /// (the default) when the source holds anything else.
    fn f16_chunks(&self, _chunk_tokens: usize) -> Result<Option<F16Chunks<'_>>> {
        Ok(None)
    }
}

/// A pass over an [`ActivationSource`]'s tokens, chunk by chunk (each may fail to read).
pub type Chunks<'a> = Box<dyn Iterator<Item = Result<Chunk>> + Send + 'a>;

/// A block of consecutive tokens left in IEEE half precision: row-major bit patterns
/// `[tokens, neurons]`, all finite (the source checks them, as it checks [`Chunk`]s). See
/// [`ActivationSource::f16_chunks`].
#[derive(Debug, Clone)]
pub struct F16Chunk<'a> {
    /// Index of the first token of the chunk in the whole stream.
    pub first_token: usize,
    /// Number of tokens (rows).
    pub tokens: usize,
    /// Number of neurons (columns).
    pub neurons: usize,
    /// Row-major half-precision bit patterns (read from a file, or borrowed from memory).
    pub bits: std::borrow::Cow<'a, [u16]>,
}

/// A pass over a source's tokens in half precision (see [`ActivationSource::f16_chunks`]).
pub type F16Chunks<'a> = Box<dyn Iterator<Item = Result<F16Chunk<'a>>> + Send + 'a>;

/// Decode IEEE half-precision bit patterns to `f32` (exact; AVX-512 `vcvtph2ps` where the CPU
/// has it, the portable conversion otherwise), serially: for rows decoded in cache.
///
/// ```
/// let mut out = [0f32; 3];
/// neurobricks::activations::f16_to_f32(&[0x3c00, 0xc000, 0x3800], &mut out);
/// assert_eq!(out, [1.0, -2.0, 0.5]);
/// ```
///
/// # Panics
/// `bits` and `out` differ in length.
pub fn f16_to_f32(bits: &[u16], out: &mut [f32]) {
    assert_eq!(bits.len(), out.len());
    // SAFETY: the bytes of `bits`, in native order.
    let bytes = unsafe { std::slice::from_raw_parts(bits.as_ptr() as *const u8, bits.len() * 2) };
    decode_serial(Dtype::F16, cfg!(target_endian = "big"), bytes, out);
}

/// Index of the first NaN or infinity among half-precision bit patterns (parallel bit test).
fn first_non_finite_f16(bits: &[u16]) -> Option<usize> {
    let bad = |x: u16| x & 0x7c00 == 0x7c00;
    if bits
        .par_chunks(1 << 16)
        .any(|c| c.iter().fold(false, |acc, &x| acc | bad(x)))
    {
        bits.iter().position(|&x| bad(x))
    } else {
        None
    }
}

/// Memory layout of a 2-D array on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Row-major (C order): one token's neurons are contiguous.
    RowMajor,
    /// Column-major (Fortran order): one neuron's tokens are contiguous.
    ColumnMajor,
}

/// One activation file with a checked header; data are read lazily by [`ActivationFile::chunks`].
#[derive(Debug, Clone)]
pub struct ActivationFile {
    path: PathBuf,
    dtype: Dtype,
    big_endian: bool,
    layout: Layout,
    tokens: usize,
    neurons: usize,
    offset: u64,
}

/// The format of an activation file, told from its first bytes.
#[derive(Debug, PartialEq)]
enum Format {
    Npy,
    Safetensors,
}

/// Tell `.npy` (the `\x93NUMPY` magic) from safetensors (an 8-byte little-endian header
/// length that fits the file, then `{`); anything else is an error that says what the file
/// is not (a directory, an empty file, neither format), never "name the tensor".
fn format_of(path: &Path) -> Result<Format> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::io(
            path,
            std::io::Error::other("is a directory, not an activation file"),
        ));
    }
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut head = [0u8; 9];
    let mut got = 0;
    while got < head.len() {
        match f.read(&mut head[got..]).map_err(|e| Error::io(path, e))? {
            0 => break,
            k => got += k,
        }
    }
    if got == 0 {
        return Err(Error::parse(
            path,
            0,
            "empty file (0 bytes): not a .npy or safetensors file",
        ));
    }
    if got >= 6 && &head[..6] == b"\x93NUMPY" {
        return Ok(Format::Npy);
    }
    if got == 9 {
        let hlen = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
        if hlen >= 2 && hlen <= meta.len() - 8 && head[8] == b'{' {
            return Ok(Format::Safetensors);
        }
    }
    if path.extension().is_some_and(|e| e == "npy") {
        // Let the .npy reader say what is wrong with the header.
        return Ok(Format::Npy);
    }
    Err(Error::parse(
        path,
        0,
        format!(
            "neither a .npy file (no \\x93NUMPY magic) nor a safetensors file (no 8-byte header length followed by `{{`); the file starts with {:02x?}",
            &head[..got]
        ),
    ))
}

/// Whether `path` is a safetensors file (else a `.npy` file); an error if it is neither.
pub(crate) fn is_safetensors(path: &Path) -> Result<bool> {
    Ok(format_of(path)? == Format::Safetensors)
}

/// Number of bytes of an array of `shape` and element size `size`, or an error naming `path`.
fn nbytes(path: &Path, shape: &[usize], size: usize) -> Result<usize> {
    shape
        .iter()
        .try_fold(size, |a, &d| a.checked_mul(d))
        .ok_or_else(|| Error::parse(path, 0, format!("array shape {shape:?} is too large")))
}

fn file_len(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len())
}

/// A tensor located in a file: dtype, shape, layout and data offset.
struct Located {
    dtype: Dtype,
    big_endian: bool,
    fortran: bool,
    shape: Vec<usize>,
    offset: u64,
}

fn locate_npy(path: &Path) -> Result<Located> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let h = npy::read_header(path, &mut f)?;
    let bytes = nbytes(path, &h.shape, h.dtype.size())?;
    let need = h.data_offset + bytes as u64;
    let have = file_len(path)?;
    if have < need {
        return Err(Error::parse(
            path,
            0,
            format!(
                "truncated file: the header promises shape {:?} ({} bytes of data) but the file has {} bytes after the header",
                h.shape,
                bytes,
                have.saturating_sub(h.data_offset)
            ),
        ));
    }
    Ok(Located {
        dtype: h.dtype,
        big_endian: h.big_endian,
        fortran: h.fortran_order,
        shape: h.shape,
        offset: h.data_offset,
    })
}

fn locate_safetensors(path: &Path, name: &str) -> Result<Located> {
    use safetensors::tensor::Metadata;
    let bad = |msg: String| Error::parse(path, 0, msg);
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut b = [0u8; 8];
    f.read_exact(&mut b)
        .map_err(|_| bad("not a safetensors file: shorter than its 8-byte header length".into()))?;
    let hlen = u64::from_le_bytes(b);
    let total = file_len(path)?;
    if hlen > 100 << 20 || 8 + hlen > total {
        return Err(bad(format!(
            "not a safetensors file or truncated: header length {hlen} for a file of {total} bytes"
        )));
    }
    let mut h = vec![0u8; hlen as usize];
    f.read_exact(&mut h).map_err(|e| Error::io(path, e))?;
    let meta: Metadata =
        serde_json::from_slice(&h).map_err(|e| bad(format!("bad safetensors header: {e}")))?;
    let Some(info) = meta.info(name) else {
        let mut names = meta.offset_keys();
        names.sort();
        return Err(bad(format!(
            "no tensor named `{name}`; available: {}",
            names.join(", ")
        )));
    };
    use safetensors::Dtype as S;
    let dtype = match info.dtype {
        S::F16 => Dtype::F16,
        S::BF16 => Dtype::Bf16,
        S::F32 => Dtype::F32,
        S::F64 => Dtype::F64,
        S::U8 => Dtype::U8,
        S::U16 => Dtype::U16,
        S::U32 => Dtype::U32,
        S::I32 => Dtype::I32,
        S::I64 => Dtype::I64,
        d => {
            return Err(bad(format!(
                "tensor `{name}` has unsupported dtype {d:?} (supported: F16, BF16, F32, F64)"
            )))
        }
    };
    let (s, e) = info.data_offsets;
    let bytes = nbytes(path, &info.shape, dtype.size())?;
    if e < s || e - s != bytes {
        return Err(bad(format!(
            "tensor `{name}`: data offsets {s}..{e} do not match shape {:?} of {:?}",
            info.shape, info.dtype
        )));
    }
    let offset = 8 + hlen + s as u64;
    if offset + (e - s) as u64 > total {
        return Err(bad(format!(
            "truncated file: tensor `{name}` ends at byte {} but the file has {total} bytes",
            offset + (e - s) as u64
        )));
    }
    Ok(Located {
        dtype,
        big_endian: false,
        fortran: false,
        shape: info.shape.clone(),
        offset,
    })
}

impl ActivationFile {
    /// Open a `.npy` file, or the tensor `tensor` of a safetensors file (the format is detected
    /// from the file's magic bytes). The array must be 2-D `[tokens, neurons]` of a
    /// floating-point dtype, and the file must hold all the data its header promises.
    ///
    /// # Errors
    /// I/O errors, a malformed or truncated file, a wrong dtype or rank, a missing tensor name
    /// (the error lists the available names), or a safetensors file without `tensor`.
    pub fn open(path: &Path, tensor: Option<&str>) -> Result<Self> {
        let loc = if format_of(path)? == Format::Npy {
            locate_npy(path)?
        } else {
            let name = tensor.ok_or_else(|| {
                Error::param(
                    "tensor",
                    format!(
                        "{} is a safetensors file: name the tensor to read",
                        path.display()
                    ),
                )
            })?;
            locate_safetensors(path, name)?
        };
        if !loc.dtype.is_float() {
            return Err(Error::parse(
                path,
                0,
                format!(
                    "activations must be float16, bfloat16, float32 or float64, found {:?}",
                    loc.dtype
                ),
            ));
        }
        if loc.shape.len() != 2 {
            return Err(Error::parse(
                path,
                0,
                format!(
                    "activations must be a 2-D array [tokens, neurons], found {}-D shape {:?}",
                    loc.shape.len(),
                    loc.shape
                ),
            ));
        }
        if loc.shape[0] == 0 || loc.shape[1] == 0 {
            return Err(Error::parse(
                path,
                0,
                format!("empty activation array of shape {:?}", loc.shape),
            ));
        }
        Ok(ActivationFile {
            path: path.to_path_buf(),
            dtype: loc.dtype,
            big_endian: loc.big_endian,
            layout: if loc.fortran {
                Layout::ColumnMajor
            } else {
                Layout::RowMajor
            },
            tokens: loc.shape[0],
            neurons: loc.shape[1],
            offset: loc.offset,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Number of tokens (rows).
    pub fn tokens(&self) -> usize {
        self.tokens
    }
    /// Number of neurons (columns).
    pub fn neurons(&self) -> usize {
        self.neurons
    }
    /// Element type on disk.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }
    /// Layout on disk.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Stream the file in chunks of at most `chunk_tokens` rows; token indices start at
    /// `first_token` (the number of tokens of the shards before this one).
    ///
    /// # Cost
    /// One pass over the file; memory `chunk_tokens * neurons * (4 + dtype size)` bytes.
    pub fn chunks(&self, chunk_tokens: usize, first_token: usize) -> Result<ChunkReader<'_>> {
        let f = File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        Ok(ChunkReader {
            file: self,
            f,
            next: 0,
            chunk_tokens: chunk_tokens.max(1),
            first_token,
            buf: Vec::new(),
        })
    }
}

impl ActivationFile {
    /// [`Self::chunks`] with the values left in half precision, for little-endian row-major
    /// f16 files (`None` for any other file): the same chunks, checked the same way, read
    /// straight into the `u16` buffer with no conversion.
    pub fn f16_chunks(
        &self,
        chunk_tokens: usize,
        first_token: usize,
    ) -> Result<Option<F16Reader<'_>>> {
        let r = self.chunks(chunk_tokens, first_token)?;
        Ok(r.raw_f16().then_some(F16Reader(r)))
    }
}

/// Iterator over the chunks of one [`ActivationFile`]; see [`ActivationFile::chunks`].
pub struct ChunkReader<'a> {
    file: &'a ActivationFile,
    f: File,
    next: usize,
    chunk_tokens: usize,
    first_token: usize,
    buf: Vec<u8>,
}

/// The error for a file whose data end before token row `t0` (or another read error).
fn truncated(path: &Path, t0: usize, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        Error::parse(
            path,
            0,
            format!("truncated file: data ends before token row {t0}"),
        )
    } else {
        Error::io(path, e)
    }
}

/// The error for a NaN or infinite activation of a file.
fn non_finite(path: &Path, value: f32, row: usize, neuron: usize) -> Error {
    Error::parse(
        path,
        0,
        format!("non-finite activation ({value}) at token row {row} (0-based), neuron {neuron}"),
    )
}

impl ChunkReader<'_> {
    /// Whether the file's values can be handed out as half-precision bit patterns as read.
    fn raw_f16(&self) -> bool {
        let af = self.file;
        af.dtype == Dtype::F16
            && af.layout == Layout::RowMajor
            && !af.big_endian
            && cfg!(target_endian = "little")
    }

    /// The next chunk as half-precision bits ([`Self::raw_f16`] files only): read straight into
    /// the `u16` buffer, checked finite with the same error as [`Self::read_chunk`].
    fn read_f16_chunk(&mut self) -> Result<F16Chunk<'static>> {
        let af = self.file;
        let t0 = self.next;
        let ct = self.chunk_tokens.min(af.tokens - t0);
        let n = af.neurons;
        let mut bits = vec![0u16; ct * n];
        self.f
            .seek(SeekFrom::Start(af.offset + (t0 * n * 2) as u64))
            .map_err(|e| Error::io(&af.path, e))?;
        // SAFETY: every bit pattern is a valid u16; the slice covers exactly `bits`.
        let bytes =
            unsafe { std::slice::from_raw_parts_mut(bits.as_mut_ptr() as *mut u8, bits.len() * 2) };
        self.f
            .read_exact(bytes)
            .map_err(|e| truncated(&af.path, t0, e))?;
        if let Some(bad) = first_non_finite_f16(&bits) {
            let v = half::f16::from_bits(bits[bad]).to_f32();
            return Err(non_finite(&af.path, v, t0 + bad / n, bad % n));
        }
        self.next += ct;
        Ok(F16Chunk {
            first_token: self.first_token + t0,
            tokens: ct,
            neurons: n,
            bits: bits.into(),
        })
    }

    fn read_chunk(&mut self) -> Result<Chunk> {
        let af = self.file;
        let t0 = self.next;
        let ct = self.chunk_tokens.min(af.tokens - t0);
        let n = af.neurons;
        let s = af.dtype.size();
        let truncated = |e: std::io::Error| truncated(&af.path, t0, e);
        let mut data = vec![0f32; ct * n];
        match af.layout {
            Layout::RowMajor => {
                self.f
                    .seek(SeekFrom::Start(af.offset + (t0 * n * s) as u64))
                    .map_err(|e| Error::io(&af.path, e))?;
                if af.dtype == Dtype::F32 && !af.big_endian && cfg!(target_endian = "little") {
                    // Read straight into the f32 buffer: no second copy of the chunk.
                    // SAFETY: every bit pattern is a valid f32; the slice covers exactly `data`.
                    let bytes = unsafe {
                        std::slice::from_raw_parts_mut(data.as_mut_ptr() as *mut u8, data.len() * 4)
                    };
                    self.f.read_exact(bytes).map_err(truncated)?;
                } else {
                    self.buf.resize(ct * n * s, 0);
                    self.f.read_exact(&mut self.buf).map_err(truncated)?;
                    decode(af.dtype, af.big_endian, &self.buf, &mut data);
                }
            }
            Layout::ColumnMajor => {
                // One contiguous range per neuron, decoded into a group of columns, then
                // transposed into the row-major chunk group by group (cache-friendly).
                const G: usize = 32;
                self.buf.resize(ct * s, 0);
                let mut cols = vec![0f32; G * ct];
                for g0 in (0..n).step_by(G) {
                    let g1 = (g0 + G).min(n);
                    for j in g0..g1 {
                        let pos = af.offset + ((j * af.tokens + t0) * s) as u64;
                        self.f
                            .seek(SeekFrom::Start(pos))
                            .map_err(|e| Error::io(&af.path, e))?;
                        self.f.read_exact(&mut self.buf).map_err(truncated)?;
                        let k = j - g0;
                        decode(
                            af.dtype,
                            af.big_endian,
                            &self.buf,
                            &mut cols[k * ct..(k + 1) * ct],
                        );
                    }
                    for t in 0..ct {
                        let dst = &mut data[t * n + g0..t * n + g1];
                        for (k, d) in dst.iter_mut().enumerate() {
                            *d = cols[k * ct + t];
                        }
                    }
                }
            }
        }
        if let Some(bad) = first_non_finite(&data) {
            return Err(non_finite(&af.path, data[bad], t0 + bad / n, bad % n));
        }
        self.next += ct;
        Ok(Chunk {
            first_token: self.first_token + t0,
            tokens: ct,
            neurons: n,
            data,
        })
    }
}

/// Iterator over the half-precision chunks of one row-major f16 file; see
/// [`ActivationFile::f16_chunks`].
pub struct F16Reader<'a>(ChunkReader<'a>);

impl<'a> Iterator for F16Reader<'a> {
    type Item = Result<F16Chunk<'a>>;
    fn next(&mut self) -> Option<Self::Item> {
        let r = &mut self.0;
        if r.next >= r.file.tokens {
            return None;
        }
        let c: Self::Item = r.read_f16_chunk();
        if c.is_err() {
            r.next = r.file.tokens; // stop after the first error
        }
        Some(c)
    }
}

impl Iterator for ChunkReader<'_> {
    type Item = Result<Chunk>;
    fn next(&mut self) -> Option<Result<Chunk>> {
        if self.next >= self.file.tokens {
            return None;
        }
        let r = self.read_chunk();
        if r.is_err() {
            self.next = self.file.tokens; // stop after the first error
        }
        Some(r)
    }
}

/// Index of the first NaN or infinity of `data`: a parallel scan first, the position looked up
/// only when something is wrong.
fn first_non_finite(data: &[f32]) -> Option<usize> {
    if data
        .par_chunks(1 << 16)
        .any(|c| c.iter().any(|v| !v.is_finite()))
    {
        data.iter().position(|v| !v.is_finite())
    } else {
        None
    }
}

/// Decode `bytes` of `dtype` into `out` (same number of elements), in parallel over slices of
/// 64 Ki elements (the decode of a chunk is on the critical path of the counting pipeline).
fn decode(dtype: Dtype, big_endian: bool, bytes: &[u8], out: &mut [f32]) {
    const PAR: usize = 1 << 16;
    let s = dtype.size();
    out.par_chunks_mut(PAR)
        .zip(bytes.par_chunks(PAR * s))
        .for_each(|(o, b)| decode_serial(dtype, big_endian, b, o));
}

/// Little-endian IEEE half precision to `f32` with AVX-512F `vcvtph2ps` (16 values per
/// instruction; exact, like every f16 -> f32 conversion). Returns how many leading values it
/// converted (a multiple of 16); the caller converts the rest.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn f16_le_avx512(bytes: &[u8], out: &mut [f32]) -> usize {
    use std::arch::x86_64::*;
    let groups = out.len().min(bytes.len() / 2) / 16;
    for g in 0..groups {
        // SAFETY: group `g` covers bytes 32g..32g+32 and values 16g..16g+16, both in bounds.
        unsafe {
            let h = _mm256_loadu_si256(bytes.as_ptr().add(32 * g) as *const __m256i);
            _mm512_storeu_ps(out.as_mut_ptr().add(16 * g), _mm512_cvtph_ps(h));
        }
    }
    16 * groups
}

fn decode_serial(dtype: Dtype, big_endian: bool, bytes: &[u8], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if dtype == Dtype::F16 && !big_endian && std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports AVX-512F.
        let done = unsafe { f16_le_avx512(bytes, out) };
        return decode_portable(dtype, big_endian, &bytes[2 * done..], &mut out[done..]);
    }
    decode_portable(dtype, big_endian, bytes, out)
}

fn decode_portable(dtype: Dtype, big_endian: bool, bytes: &[u8], out: &mut [f32]) {
    macro_rules! conv {
        ($n:expr, $f:expr) => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact($n)) {
                let a: [u8; $n] = c.try_into().unwrap();
                *o = $f(a);
            }
        };
    }
    match (dtype, big_endian) {
        (Dtype::F16, false) => conv!(2, |a| half::f16::from_le_bytes(a).to_f32()),
        (Dtype::F16, true) => conv!(2, |a| half::f16::from_be_bytes(a).to_f32()),
        (Dtype::Bf16, false) => conv!(2, |a| half::bf16::from_le_bytes(a).to_f32()),
        (Dtype::Bf16, true) => conv!(2, |a| half::bf16::from_be_bytes(a).to_f32()),
        (Dtype::F32, false) => conv!(4, f32::from_le_bytes),
        (Dtype::F32, true) => conv!(4, f32::from_be_bytes),
        (Dtype::F64, false) => conv!(8, |a| f64::from_le_bytes(a) as f32),
        (Dtype::F64, true) => conv!(8, |a| f64::from_be_bytes(a) as f32),
        (Dtype::U8, _) => conv!(1, |a: [u8; 1]| a[0] as f32),
        (Dtype::U16, false) => conv!(2, |a| u16::from_le_bytes(a) as f32),
        (Dtype::U16, true) => conv!(2, |a| u16::from_be_bytes(a) as f32),
        (Dtype::U32, false) => conv!(4, |a| u32::from_le_bytes(a) as f32),
        (Dtype::U32, true) => conv!(4, |a| u32::from_be_bytes(a) as f32),
        (Dtype::I32, false) => conv!(4, |a| i32::from_le_bytes(a) as f32),
        (Dtype::I32, true) => conv!(4, |a| i32::from_be_bytes(a) as f32),
        (Dtype::I64, false) => conv!(8, |a| i64::from_le_bytes(a) as f32),
        (Dtype::I64, true) => conv!(8, |a| i64::from_be_bytes(a) as f32),
    }
}

/// Values of an in-memory activation array borrowed from its owner (a NumPy buffer, a tensor),
/// in one of the floating-point types models store activations in.
#[derive(Debug, Clone, Copy)]
pub enum ArrayValues<'a> {
    /// IEEE half precision.
    F16(&'a [half::f16]),
    /// Single precision.
    F32(&'a [f32]),
    /// Double precision (narrowed to `f32`, as from a file).
    F64(&'a [f64]),
}

impl ArrayValues<'_> {
    fn len(&self) -> usize {
        match self {
            ArrayValues::F16(v) => v.len(),
            ArrayValues::F32(v) => v.len(),
            ArrayValues::F64(v) => v.len(),
        }
    }

    /// Whether `range` (in memory order) holds a NaN or an infinity (the bit test of each type,
    /// without converting; parallel and vectorised).
    fn any_non_finite(&self, range: std::ops::Range<usize>) -> bool {
        const PAR: usize = 1 << 16;
        fn any<T: Sync + Copy>(v: &[T], bad: impl Fn(T) -> bool + Sync) -> bool {
            v.par_chunks(PAR)
                .any(|c| c.iter().fold(false, |acc, &x| acc | bad(x)))
        }
        match self {
            ArrayValues::F16(v) => any(&v[range], |x| x.to_bits() & 0x7c00 == 0x7c00),
            ArrayValues::F32(v) => any(&v[range], |x| x.to_bits() & 0x7f80_0000 == 0x7f80_0000),
            ArrayValues::F64(v) => any(&v[range], |x| !x.is_finite() || !(x as f32).is_finite()),
        }
    }

    fn get(&self, i: usize) -> f32 {
        match self {
            ArrayValues::F16(v) => v[i].to_f32(),
            ArrayValues::F32(v) => v[i],
            ArrayValues::F64(v) => v[i] as f32,
        }
    }

    /// Decode the contiguous `range` into `out` (same length), in parallel.
    fn decode_into(&self, range: std::ops::Range<usize>, out: &mut [f32]) {
        const PAR: usize = 1 << 16;
        match self {
            ArrayValues::F16(v) => {
                // SAFETY: `f16` is a `u16` bit pattern; the bytes are in native order.
                let src = &v[range];
                let bytes =
                    unsafe { std::slice::from_raw_parts(src.as_ptr() as *const u8, src.len() * 2) };
                decode(Dtype::F16, cfg!(target_endian = "big"), bytes, out);
            }
            ArrayValues::F32(v) => out.copy_from_slice(&v[range]),
            ArrayValues::F64(v) => out
                .par_chunks_mut(PAR)
                .zip(v[range].par_chunks(PAR))
                .for_each(|(o, s)| {
                    for (a, &b) in o.iter_mut().zip(s) {
                        *a = b as f32;
                    }
                }),
        }
    }
}

/// A `tokens x neurons` activation array in memory, borrowed (no copy of the whole array): an
/// [`ActivationSource`] whose chunks are decoded to `f32` on demand (f16 with the vectorised
/// decoder of the file reader), so a NumPy array or a tensor is counted exactly as the same
/// values read from a `.npy` file.
///
/// ```
/// use neurobricks::activations::{ActivationSource, ArrayValues, BorrowedActivations, Layout};
/// // 2 tokens x 3 neurons stored column by column (Fortran order).
/// let v = [1.0f32, 4.0, 2.0, 5.0, 3.0, 6.0];
/// let a = BorrowedActivations::new(ArrayValues::F32(&v), 2, 3, Layout::ColumnMajor).unwrap();
/// let c = a.chunks(64).unwrap().next().unwrap().unwrap();
/// assert_eq!(c.row(1), &[4.0, 5.0, 6.0]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct BorrowedActivations<'a> {
    values: ArrayValues<'a>,
    tokens: usize,
    neurons: usize,
    layout: Layout,
}

impl<'a> BorrowedActivations<'a> {
    /// Borrow `values` as a `tokens x neurons` array in `layout` (row-major: token `t`'s values
    /// at `t * neurons..`; column-major: neuron `i`'s at `i * tokens..`).
    ///
    /// # Errors
    /// `values` does not hold exactly `tokens * neurons` values.
    pub fn new(
        values: ArrayValues<'a>,
        tokens: usize,
        neurons: usize,
        layout: Layout,
    ) -> Result<Self> {
        if tokens.checked_mul(neurons) != Some(values.len()) {
            return Err(Error::Input(format!(
                "{} values do not make a {tokens} x {neurons} array",
                values.len()
            )));
        }
        Ok(BorrowedActivations {
            values,
            tokens,
            neurons,
            layout,
        })
    }

    /// The first non-finite value as `(token row, neuron)`, if any (checked without converting
    /// the array; parallel).
    pub fn first_non_finite(&self) -> Option<(usize, usize)> {
        let len = self.values.len();
        const SPAN: usize = 1 << 22;
        let start = (0..len)
            .step_by(SPAN)
            .find(|&s| self.values.any_non_finite(s..(s + SPAN).min(len)))?;
        let i = (start..(start + SPAN).min(len)).find(|&i| !self.values.get(i).is_finite())?;
        Some(match self.layout {
            Layout::RowMajor => (i / self.neurons, i % self.neurons),
            Layout::ColumnMajor => (i % self.tokens, i / self.tokens),
        })
    }

    fn chunk(&self, t0: usize, t1: usize) -> Result<Chunk> {
        let n = self.neurons;
        let mut data = vec![0f32; (t1 - t0) * n];
        match self.layout {
            Layout::RowMajor => self.values.decode_into(t0 * n..t1 * n, &mut data),
            Layout::ColumnMajor => {
                let (v, tokens) = (&self.values, self.tokens);
                data.par_chunks_mut(n.max(1))
                    .enumerate()
                    .for_each(|(r, row)| {
                        for (i, a) in row.iter_mut().enumerate() {
                            *a = v.get(i * tokens + t0 + r);
                        }
                    });
            }
        }
        if let Some(bad) = first_non_finite(&data) {
            return Err(Error::Input(format!(
                "non-finite activation at token row {}, neuron {}",
                t0 + bad / n.max(1),
                bad % n.max(1)
            )));
        }
        Ok(Chunk {
            first_token: t0,
            tokens: t1 - t0,
            neurons: n,
            data,
        })
    }
}

impl ActivationSource for BorrowedActivations<'_> {
    fn tokens(&self) -> usize {
        self.tokens
    }
    fn neurons(&self) -> usize {
        self.neurons
    }
    fn chunks(&self, chunk_tokens: usize) -> Result<Chunks<'_>> {
        let ct = chunk_tokens.max(1);
        let this = *self;
        Ok(Box::new(
            (0..self.tokens)
                .step_by(ct)
                .map(move |t0| this.chunk(t0, (t0 + ct).min(this.tokens))),
        ))
    }
    fn f16_chunks(&self, chunk_tokens: usize) -> Result<Option<F16Chunks<'_>>> {
        let (ArrayValues::F16(v), Layout::RowMajor) = (self.values, self.layout) else {
            return Ok(None);
        };
        // SAFETY: `f16` is a `u16` bit pattern.
        let bits: &[u16] = unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u16, v.len()) };
        let (ct, n, tokens) = (chunk_tokens.max(1), self.neurons, self.tokens);
        Ok(Some(Box::new((0..tokens).step_by(ct).map(move |t0| {
            let t1 = (t0 + ct).min(tokens);
            let b = &bits[t0 * n..t1 * n];
            if let Some(bad) = first_non_finite_f16(b) {
                return Err(Error::Input(format!(
                    "non-finite activation at token row {}, neuron {}",
                    t0 + bad / n,
                    bad % n
                )));
            }
            Ok(F16Chunk {
                first_token: t0,
                tokens: t1 - t0,
                neurons: n,
                bits: b.into(),
            })
        }))))
    }
}

/// Several activation files (shards) read one after the other as one stream of tokens.
#[derive(Debug, Clone)]
pub struct Activations {
    files: Vec<ActivationFile>,
}

impl Activations {
    /// Open every file of `paths` (see [`ActivationFile::open`]); they must agree on the number
    /// of neurons (the error names both files).
    pub fn open(paths: &[PathBuf], tensor: Option<&str>) -> Result<Self> {
        if paths.is_empty() {
            return Err(Error::param("paths", "no activation file given"));
        }
        let mut files: Vec<ActivationFile> = Vec::with_capacity(paths.len());
        for p in paths {
            let f = ActivationFile::open(p, tensor)?;
            if let Some(first) = files.first() {
                if f.neurons != first.neurons {
                    return Err(Error::Input(format!(
                        "shards disagree on the number of neurons: {} has {} but {} has {}",
                        first.path.display(),
                        first.neurons,
                        f.path.display(),
                        f.neurons
                    )));
                }
            }
            files.push(f);
        }
        Ok(Activations { files })
    }

    /// The opened files.
    pub fn files(&self) -> &[ActivationFile] {
        &self.files
    }
}

impl ActivationSource for Activations {
    fn tokens(&self) -> usize {
        self.files.iter().map(|f| f.tokens).sum()
    }
    fn neurons(&self) -> usize {
        // `open` refuses an empty list and files that disagree.
        self.files[0].neurons
    }
    fn chunks(&self, chunk_tokens: usize) -> Result<Chunks<'_>> {
        let mut readers = Vec::with_capacity(self.files.len());
        let mut base = 0;
        for f in &self.files {
            readers.push(f.chunks(chunk_tokens, base)?);
            base += f.tokens;
        }
        Ok(Box::new(readers.into_iter().flatten()))
    }
    fn f16_chunks(&self, chunk_tokens: usize) -> Result<Option<F16Chunks<'_>>> {
        let mut readers = Vec::with_capacity(self.files.len());
        let mut base = 0;
        for f in &self.files {
            match f.f16_chunks(chunk_tokens, base)? {
                Some(r) => readers.push(r),
                None => return Ok(None),
            }
            base += f.tokens;
        }
        Ok(Some(Box::new(readers.into_iter().flatten())))
    }
}

/// A dense token-major matrix in memory: `rows` tokens, `cols` values per token (neurons for
/// activations, model width for FFN inputs and outputs), row `t` at
/// `data[t * cols..(t + 1) * cols]`.
///
/// It is the one in-memory matrix of the crate: FFN inputs and recomputed activations
/// ([`ffn::FfnLayer`]), brick scores and outputs, and an [`ActivationSource`] for the
/// co-activation pipeline (read in chunks of rows; a non-finite value is an error then).
///
/// ```
/// use neurobricks::activations::{ActivationSource, TokenMatrix};
/// let m = TokenMatrix::new(2, 3, vec![1.0, 0.0, 2.0, 0.5, 0.5, 0.0]).unwrap();
/// assert_eq!(m.row(1), &[0.5, 0.5, 0.0]);
/// assert_eq!((m.tokens(), m.neurons()), (2, 3));
/// assert!(TokenMatrix::new(2, 2, vec![0.0, f32::NAN, 1.0, 1.0]).is_err());
/// ```
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
    /// Wrap row-major `data` of shape `[rows, cols]`, checked.
    ///
    /// # Errors
    /// A length mismatch, an empty matrix, or a non-finite value (named by token row).
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Result<Self> {
        if rows == 0 || cols == 0 || data.len() != rows * cols {
            return Err(Error::Input(format!(
                "activation matrix of {} values does not have shape [{rows}, {cols}] (or is empty)",
                data.len()
            )));
        }
        check_finite(&data, cols, 0)?;
        Ok(TokenMatrix { rows, cols, data })
    }

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

/// The first non-finite value of row-major `data` (`cols` per row, first row `first_row`) as
/// an error naming its token row and neuron.
fn check_finite(data: &[f32], cols: usize, first_row: usize) -> Result<()> {
    match data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(bad) => Err(Error::Input(format!(
            "non-finite activation ({}) at token row {}, neuron {}",
            data[bad],
            first_row + bad / cols,
            bad % cols
        ))),
    }
}

impl ActivationSource for TokenMatrix {
    fn tokens(&self) -> usize {
        self.rows
    }
    fn neurons(&self) -> usize {
        self.cols
    }
    fn chunks(&self, chunk_tokens: usize) -> Result<Chunks<'_>> {
        if self.rows == 0 || self.cols == 0 || self.data.len() != self.rows * self.cols {
            return Err(Error::Input(format!(
                "activation matrix of {} values does not have shape [{}, {}] (or is empty)",
                self.data.len(),
                self.rows,
                self.cols
            )));
        }
        let ct = chunk_tokens.max(1);
        let n = self.cols;
        Ok(Box::new(self.data.chunks(ct * n).enumerate().map(
            move |(k, rows)| {
                check_finite(rows, n, k * ct)?;
                Ok(Chunk {
                    first_token: k * ct,
                    tokens: rows.len() / n,
                    neurons: n,
                    data: rows.to_vec(),
                })
            },
        )))
    }
}

/// Read a whole tensor as `f32`: the array of a `.npy` file (`name` is ignored) or the tensor
/// `name` of a safetensors file. Any shape; float dtypes and small integer dtypes are accepted.
/// Returns `(shape, row-major values)`.
///
/// # Errors
/// As [`ActivationFile::open`] (missing tensor name lists the available ones); non-finite
/// float values are an error.
///
/// # Cost
/// Memory and time linear in the tensor size; intended for weights and small tensors.
pub fn read_tensor_f32(path: &Path, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
    let loc = if format_of(path)? == Format::Npy {
        locate_npy(path)?
    } else {
        locate_safetensors(path, name)?
    };
    let n: usize = loc.shape.iter().product();
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    f.seek(SeekFrom::Start(loc.offset))
        .map_err(|e| Error::io(path, e))?;
    let mut bytes = vec![0u8; n * loc.dtype.size()];
    f.read_exact(&mut bytes).map_err(|e| Error::io(path, e))?;
    let mut out = vec![0f32; n];
    decode(loc.dtype, loc.big_endian, &bytes, &mut out);
    if let Some(bad) = out.iter().position(|v| !v.is_finite()) {
        return Err(Error::parse(
            path,
            0,
            format!("tensor `{name}`: non-finite value at flat index {bad}"),
        ));
    }
    let shape = loc.shape;
    if loc.fortran && shape.len() >= 2 {
        // Reorder column-major to row-major (reverse the axes' strides).
        let mut rm = vec![0f32; n];
        let nd = shape.len();
        let mut idx = vec![0usize; nd];
        for v in out.iter() {
            // `idx` runs over the array in column-major order.
            let mut off = 0;
            for d in 0..nd {
                off = off * shape[d] + idx[d];
            }
            rm[off] = *v;
            for d in 0..nd {
                idx[d] += 1;
                if idx[d] < shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        out = rm;
    }
    Ok((shape, out))
}

/// Read a token-domain labels file: one domain name per line, one line per token (a final
/// empty line is allowed). Returns `(domain index per token, domain names in order of first
/// appearance)`.
///
/// # Errors
/// I/O errors; an empty line inside the file; a number of labels different from `tokens`
/// (the error names the file and both counts).
pub fn read_domains(path: &Path, tokens: usize) -> Result<(Vec<u32>, Vec<String>)> {
    let text = crate::graph::io::read_to_string(path)?;
    let mut names: Vec<String> = Vec::new();
    let mut index = crate::util::FxHashMap::default();
    let mut out = Vec::with_capacity(tokens);
    let lines: Vec<&str> = text.lines().collect();
    let nlines = if lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.len() - 1
    } else {
        lines.len()
    };
    for (i, l) in lines[..nlines].iter().enumerate() {
        let name = l.trim();
        if name.is_empty() {
            return Err(Error::parse(path, i + 1, "empty domain name"));
        }
        let k = *index.entry(name.to_string()).or_insert_with(|| {
            names.push(name.to_string());
            names.len() - 1
        });
        out.push(k as u32);
    }
    if out.len() != tokens {
        return Err(Error::Input(format!(
            "{}: {} domain labels but the activations have {} tokens",
            path.display(),
            out.len(),
            tokens
        )));
    }
    Ok((out, names))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectorised f16 decode (run in parallel slices) gives the same bits as the portable
    /// one for every one of the 65,536 half-precision patterns, in an odd-length buffer (so the
    /// scalar tail runs too).
    #[test]
    fn f16_decode_is_bit_identical_to_the_portable_path() {
        let bits: Vec<u16> = (0..=u16::MAX).chain(0..77).collect();
        let bytes: Vec<u8> = bits.iter().flat_map(|b| b.to_le_bytes()).collect();
        let mut fast = vec![0f32; bits.len()];
        let mut slow = vec![0f32; bits.len()];
        decode(Dtype::F16, false, &bytes, &mut fast);
        decode_portable(Dtype::F16, false, &bytes, &mut slow);
        for (i, (a, b)) in fast.iter().zip(&slow).enumerate() {
            if b.is_nan() {
                assert!(a.is_nan(), "pattern {:#06x}", bits[i]);
            } else {
                assert_eq!(a.to_bits(), b.to_bits(), "pattern {:#06x}", bits[i]);
            }
        }
    }

    /// A borrowed f16 / f32 / f64 array in either order gives the chunks of the same values
    /// held as a `TokenMatrix`, and its finite check finds the first bad value in token order
    /// of its memory layout (every f16 NaN/infinity pattern is caught by the bit test).
    #[test]
    fn borrowed_arrays_chunk_like_token_matrices() {
        let (t, n) = (300, 7);
        let vals: Vec<f32> = (0..t * n)
            .map(|k| ((k * 37 % 101) as f32 - 50.0) / 8.0)
            .collect();
        let tm = TokenMatrix::new(t, n, vals.clone()).unwrap();
        let want: Vec<Chunk> = tm.chunks(64).unwrap().map(|c| c.unwrap()).collect();
        let col: Vec<f32> = (0..t * n).map(|k| vals[(k % t) * n + k / t]).collect();
        let h_row: Vec<half::f16> = vals.iter().map(|&x| half::f16::from_f32(x)).collect();
        let d_col: Vec<f64> = col.iter().map(|&x| x as f64).collect();
        let cases = [
            (ArrayValues::F32(&vals), Layout::RowMajor),
            (ArrayValues::F32(&col), Layout::ColumnMajor),
            (ArrayValues::F16(&h_row), Layout::RowMajor),
            (ArrayValues::F64(&d_col), Layout::ColumnMajor),
        ];
        for (v, layout) in cases {
            let a = BorrowedActivations::new(v, t, n, layout).unwrap();
            assert_eq!(a.first_non_finite(), None);
            let got: Vec<Chunk> = a.chunks(64).unwrap().map(|c| c.unwrap()).collect();
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                assert_eq!((g.first_token, g.tokens), (w.first_token, w.tokens));
                assert_eq!(g.data, w.data, "{layout:?}"); // the values are exact in f16
            }
        }
        assert!(
            BorrowedActivations::new(ArrayValues::F32(&vals), t, n + 1, Layout::RowMajor).is_err()
        );
        for bits in (0x7c00u16..=0x7fff).chain(0xfc00..=0xffff) {
            let mut h = h_row.clone();
            h[5 * n + 3] = half::f16::from_bits(bits);
            let a = BorrowedActivations::new(ArrayValues::F16(&h), t, n, Layout::RowMajor).unwrap();
            assert_eq!(a.first_non_finite(), Some((5, 3)), "{bits:#06x}");
        }
        let mut d = d_col.clone();
        d[2 * t + 9] = 1e300; // finite in f64, infinite in f32
        let a = BorrowedActivations::new(ArrayValues::F64(&d), t, n, Layout::ColumnMajor).unwrap();
        assert_eq!(a.first_non_finite(), Some((9, 2)));
        assert!(a.chunks(64).unwrap().any(|c| c.is_err()));
    }
}
