//! Exact pair counting `n_ij = Σ_t B_ti B_tj` and `n_i = Σ_t B_ti`, streamed over token chunks.
//!
//! Chunks are binarised into a block of up to [`BLOCK_WORDS`]` x 64` tokens stored **word-major**:
//! word row `w` holds bit `b` = token `64w + b` for every neuron, so row `w` is a contiguous
//! array of `N` words (padded to a multiple of 16). Each chunk starts on a fresh word row (the
//! padding bits are zero and count nothing), so any chunk size gives exact counts.
//!
//! When a block is full it is counted by one of two exact kernels, chosen by its density:
//!
//! * **dense** (density ≥ [`SPARSE_DENSITY`], or [`SPARSE_DENSITY_SCALAR`] without AVX-512): a GEMM-like register-tiled kernel; for a tile of
//!   8 neurons `i` x 16 neurons `j` it loops over the word rows and accumulates
//!   `popcount(B[w,i] & B[w,j])` in 16 AVX-512 registers (`vpopcntq`) when the CPU has
//!   AVX512-VPOPCNTDQ, else scalar `popcnt` (chosen at run time; `NEUROBRICKS_KERNEL_ISA=popcnt`
//!   or `generic` forces the fallbacks, for testing). Tiles of rows run in parallel (rayon), each writing its
//!   own rows of the upper triangle. Cost `N²/2 · T/64` AND+popcounts, memory one block.
//! * **sparse**: per-token lists of active neurons; each row block of the count matrix (in
//!   parallel) adds 1 for every active pair. Cost `Σ_t a_t²/2` increments.
//!
//! [`PairCounts`] holds the result as a full symmetric `N x N` `u32` matrix with `n_i` on the
//! diagonal; counts of shards add up exactly ([`PairCounts::add`]) and are saved as `.npy` with a
//! JSON sidecar recording the token count ([`PairCounts::write_npy`], [`PairCounts::read_npy`]).

use super::rules::Binarizer;
use crate::activations::npy;
use crate::activations::{f16_to_f32, ActivationSource, Chunk, Chunks, F16Chunk};
use crate::error::{Error, Result};
use crate::output::Outputs;
use crate::util::{wio, with_avx};
use rayon::prelude::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Word rows (of 64 tokens) per counting block: 4,096 tokens.
pub const BLOCK_WORDS: usize = 64;
/// Blocks with a fraction of active entries below this are counted with the sparse kernel
/// (measured crossover with the AVX-512 dense kernel on 3,072 neurons: about 1.5%).
pub const SPARSE_DENSITY: f64 = 0.015;
/// The same crossover when only the scalar `popcnt` dense kernel is available.
pub const SPARSE_DENSITY_SCALAR: f64 = 0.04;

const TI: usize = 8;
const TJ: usize = 16;

/// Which counting kernel to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kernel {
    /// Choose per block by density ([`SPARSE_DENSITY`]).
    #[default]
    Auto,
    /// Always the bit-packed popcount kernel.
    Dense,
    /// Always the sparse active-list kernel.
    Sparse,
}

/// Exact co-activation counts over `tokens` tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct PairCounts {
    neurons: usize,
    tokens: u64,
    /// Full symmetric `N x N`, row-major, `n_i` on the diagonal.
    counts: Vec<u32>,
}

/// Metadata stored next to a saved count matrix (`COUNTS.npy.json`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CountsMeta {
    /// Always `neurobricks-pair-counts`.
    pub format: String,
    /// Format version (1).
    pub version: u32,
    /// Number of tokens counted.
    pub tokens: u64,
    /// Number of neurons N (the matrix is N x N).
    pub neurons: usize,
    /// The binarisation rule, as parsed by [`super::Binarize`].
    pub binarize: String,
    /// The activation files counted (informational).
    #[serde(default)]
    pub sources: Vec<String>,
}

impl PairCounts {
    /// Counts from a full symmetric matrix (`n_i` on the diagonal) and a token count.
    ///
    /// # Errors
    /// A matrix that is not `N x N`, not symmetric, or has a count above `tokens` or an
    /// off-diagonal count above its row's diagonal.
    ///
    /// ```
    /// use neurobricks::coactivation::PairCounts;
    ///
    /// // 4 tokens: neuron 0 active on 3, neuron 1 on 2, both on 2.
    /// let c = PairCounts::from_matrix(2, 4, vec![3, 2, 2, 2]).unwrap();
    /// assert_eq!((c.n_i(0), c.n_i(1), c.n_ij(0, 1)), (3, 2, 2));
    /// assert!(PairCounts::from_matrix(2, 4, vec![3, 2, 1, 2]).is_err()); // not symmetric
    /// ```
    pub fn from_matrix(neurons: usize, tokens: u64, counts: Vec<u32>) -> Result<Self> {
        if counts.len() != neurons * neurons {
            return Err(Error::Input(format!(
                "count matrix has {} entries, expected {neurons} x {neurons}",
                counts.len()
            )));
        }
        for i in 0..neurons {
            let d = counts[i * neurons + i];
            if d as u64 > tokens {
                return Err(Error::Input(format!(
                    "n_{i} = {d} exceeds the {tokens} tokens counted"
                )));
            }
            for j in i + 1..neurons {
                let c = counts[i * neurons + j];
                if c != counts[j * neurons + i] || c > d || c > counts[j * neurons + j] {
                    return Err(Error::Input(format!(
                        "count matrix is not a valid co-occurrence matrix at ({i}, {j})"
                    )));
                }
            }
        }
        Ok(PairCounts {
            neurons,
            tokens,
            counts,
        })
    }

    /// Number of neurons N.
    pub fn neurons(&self) -> usize {
        self.neurons
    }
    /// Number of tokens T counted.
    pub fn tokens(&self) -> u64 {
        self.tokens
    }
    /// `n_ij`, the number of tokens on which both `i` and `j` are active (`n_ii = n_i`).
    #[inline]
    pub fn n_ij(&self, i: usize, j: usize) -> u32 {
        self.counts[i * self.neurons + j]
    }
    /// `n_i`, the number of tokens on which `i` is active.
    #[inline]
    pub fn n_i(&self, i: usize) -> u32 {
        self.counts[i * (self.neurons + 1)]
    }
    /// The full symmetric matrix, row-major.
    pub fn matrix(&self) -> &[u32] {
        &self.counts
    }

    /// Add the counts of another set of tokens (same neurons): the result is exactly the count
    /// over the union of the tokens.
    ///
    /// # Errors
    /// Different neuron counts, or a total above `u32::MAX` tokens.
    pub fn add(&mut self, other: &PairCounts) -> Result<()> {
        if other.neurons != self.neurons {
            return Err(Error::Input(format!(
                "cannot add counts over {} neurons to counts over {} neurons",
                other.neurons, self.neurons
            )));
        }
        let t = self.tokens + other.tokens;
        if t > u32::MAX as u64 {
            return Err(Error::Input(format!(
                "{t} tokens in all exceed the u32 count limit"
            )));
        }
        self.tokens = t;
        self.counts
            .par_iter_mut()
            .zip(&other.counts)
            .for_each(|(a, b)| *a += b);
        Ok(())
    }

    /// Reference implementation: counts of a dense binary matrix `b` (`[tokens, neurons]`,
    /// row-major). O(T N²); for tests.
    pub fn naive(tokens: usize, neurons: usize, b: &[bool]) -> Self {
        let mut counts = vec![0u32; neurons * neurons];
        for t in 0..tokens {
            let row = &b[t * neurons..(t + 1) * neurons];
            for i in 0..neurons {
                if row[i] {
                    for j in 0..neurons {
                        if row[j] {
                            counts[i * neurons + j] += 1;
                        }
                    }
                }
            }
        }
        PairCounts {
            neurons,
            tokens: tokens as u64,
            counts,
        }
    }

    /// Save as an `N x N` `uint32` `.npy` (C order) plus the sidecar `PATH.json`
    /// ([`CountsMeta`]). Both files or neither are written ([`crate::output`]).
    pub fn write_npy(&self, path: &Path, binarize: &str, sources: &[String]) -> Result<()> {
        let mut out = Outputs::new();
        self.write_npy_to(&mut out, path, binarize, sources)?;
        out.commit()
    }

    /// [`PairCounts::write_npy`] as two parts of an output transaction (renamed at its commit).
    pub fn write_npy_to(
        &self,
        out: &mut Outputs,
        path: &Path,
        binarize: &str,
        sources: &[String],
    ) -> Result<()> {
        let meta = CountsMeta {
            format: "neurobricks-pair-counts".into(),
            version: 1,
            tokens: self.tokens,
            neurons: self.neurons,
            binarize: binarize.into(),
            sources: sources.to_vec(),
        };
        out.write(path, |w| {
            let e = wio(path);
            npy::write_header(w, "<u4", &[self.neurons, self.neurons]).map_err(&e)?;
            let mut buf = Vec::with_capacity(self.neurons * 4);
            for row in self.counts.chunks(self.neurons) {
                buf.clear();
                for v in row {
                    buf.extend_from_slice(&v.to_le_bytes());
                }
                w.write_all(&buf).map_err(&e)?;
            }
            Ok(())
        })?;
        let side = sidecar(path);
        out.write(&side, |w| {
            serde_json::to_writer_pretty(&mut *w, &meta)
                .map_err(|e| Error::io(&side, std::io::Error::other(e)))?;
            writeln!(w).map_err(wio(&side))
        })
    }

    /// Read counts saved by [`PairCounts::write_npy`] (the sidecar `PATH.json` is required).
    pub fn read_npy(path: &Path) -> Result<(Self, CountsMeta)> {
        let side = sidecar(path);
        let text = crate::graph::io::read_to_string(&side)?;
        let meta: CountsMeta = serde_json::from_str(&text)
            .map_err(|e| Error::parse(&side, e.line(), format!("bad counts sidecar: {e}")))?;
        if meta.format != "neurobricks-pair-counts" {
            return Err(Error::parse(
                &side,
                0,
                format!("format `{}` is not neurobricks-pair-counts", meta.format),
            ));
        }
        let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let h = npy::read_header(path, &mut f)?;
        let n = meta.neurons;
        if h.dtype != npy::Dtype::U32 || h.big_endian || h.fortran_order || h.shape != [n, n] {
            return Err(Error::parse(
                path,
                0,
                format!(
                    "expected a C-order little-endian uint32 array of shape ({n}, {n}), found {:?} {:?}",
                    h.dtype, h.shape
                ),
            ));
        }
        // The allocation is bounded by the file's size, never by a header value alone.
        let len = n
            .checked_mul(n)
            .and_then(|x| x.checked_mul(4))
            .ok_or_else(|| {
                Error::parse(path, 0, format!("{n} neurons: {n} x {n} counts overflow"))
            })?;
        let have = f.metadata().map_err(|e| Error::io(path, e))?.len();
        if have < h.data_offset + len as u64 {
            return Err(Error::parse(
                path,
                0,
                format!(
                    "truncated file: {n} x {n} uint32 counts need {len} bytes after the header, the file has {}",
                    have.saturating_sub(h.data_offset)
                ),
            ));
        }
        let mut bytes = vec![0u8; len];
        f.read_exact(&mut bytes).map_err(|_| {
            Error::parse(
                path,
                0,
                "truncated file: fewer values than the header's shape",
            )
        })?;
        let counts = bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let pc = PairCounts::from_matrix(n, meta.tokens, counts)
            .map_err(|e| Error::parse(path, 0, e.to_string()))?;
        Ok((pc, meta))
    }
}

/// The sidecar metadata path of a saved count matrix: `PATH.json`.
pub fn sidecar(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".json");
    PathBuf::from(s)
}

/// Per-domain activity: `active[d * N + i]` = tokens of domain `d` on which `i` is active.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainCounts {
    /// Tokens per domain.
    pub tokens: Vec<u64>,
    /// Active counts per domain and neuron, `[domains, neurons]` row-major.
    pub active: Vec<u64>,
}

/// The values of a chunk being binarised: decoded, or half-precision bit patterns.
#[derive(Clone, Copy)]
enum Rows<'a> {
    F32(&'a [f32]),
    F16(&'a [u16]),
}

/// Streaming counter: binarise chunks, count blocks, return [`PairCounts`].
pub struct Counter<'a> {
    n: usize,
    np: usize,
    binarizer: &'a Binarizer,
    kernel: Kernel,
    /// Word-major bit block, `BLOCK_WORDS x np`.
    wm: Vec<u64>,
    used: usize,
    /// Tokens (not padded) in the block.
    block_tokens: usize,
    /// Domain of each bit position of the block (u32::MAX = padding).
    block_dom: Vec<u32>,
    upper: Vec<u32>,
    /// Scratch for the dense kernel's packed layout.
    packed: Vec<u64>,
    tokens: u64,
    domains: Option<(&'a [u32], usize)>,
    dom: Option<DomainCounts>,
}

impl<'a> Counter<'a> {
    /// A counter for `neurons` neurons applying `binarizer`. With `domains = Some((labels,
    /// number of domains))` (one label per token of the whole stream) it also counts per-domain
    /// activity.
    ///
    /// # Cost
    /// Memory: the `N x N` `u32` count matrix plus one block of `4096 x N` bits.
    ///
    /// # Errors
    /// The count matrix cannot be allocated.
    pub fn new(
        neurons: usize,
        binarizer: &'a Binarizer,
        kernel: Kernel,
        domains: Option<(&'a [u32], usize)>,
    ) -> Result<Self> {
        let np = neurons.div_ceil(TJ) * TJ;
        let cells = neurons
            .checked_mul(neurons)
            .ok_or_else(|| Error::Input(format!("{neurons} neurons: count matrix too large")))?;
        let mut upper: Vec<u32> = Vec::new();
        upper.try_reserve_exact(cells).map_err(|_| {
            Error::Input(format!(
                "cannot allocate the {neurons} x {neurons} count matrix ({:.1} GB)",
                cells as f64 * 4.0 / 1e9
            ))
        })?;
        upper.resize(cells, 0);
        Ok(Counter {
            n: neurons,
            np,
            binarizer,
            kernel,
            wm: vec![0u64; BLOCK_WORDS * np],
            used: 0,
            block_tokens: 0,
            block_dom: vec![u32::MAX; BLOCK_WORDS * 64],
            upper,
            packed: Vec::new(),
            tokens: 0,
            domains,
            dom: domains.map(|(_, d)| DomainCounts {
                tokens: vec![0; d],
                active: vec![0; d * neurons],
            }),
        })
    }

    /// Binarise and count one chunk.
    ///
    /// # Errors
    /// A chunk with another number of neurons, more than `u32::MAX` tokens in all, or a token
    /// beyond the domain labels.
    pub fn push(&mut self, c: &Chunk) -> Result<()> {
        self.push_rows(Rows::F32(&c.data), c.first_token, c.tokens, c.neurons)
    }

    /// [`Self::push`] for a chunk left in half precision: each worker decodes one token row at
    /// a time into a buffer that stays in cache (exact, vectorised) and binarises it there, so
    /// the same bits as pushing the chunk decoded to `f32`, without writing and re-reading it.
    ///
    /// # Errors
    /// As [`Self::push`].
    pub fn push_f16(&mut self, c: &F16Chunk<'_>) -> Result<()> {
        self.push_rows(Rows::F16(&c.bits), c.first_token, c.tokens, c.neurons)
    }

    fn push_rows(
        &mut self,
        rows: Rows<'_>,
        first_token: usize,
        tokens: usize,
        neurons: usize,
    ) -> Result<()> {
        if neurons != self.n {
            return Err(Error::Input(format!(
                "chunk has {neurons} neurons, expected {}",
                self.n
            )));
        }
        if self.tokens + tokens as u64 > u32::MAX as u64 {
            return Err(Error::Input(format!(
                "more than {} tokens: count shards separately (--counts-out) — the u32 counts would overflow",
                u32::MAX
            )));
        }
        if let Some((labels, _)) = self.domains {
            if first_token + tokens > labels.len() {
                return Err(Error::Input(format!(
                    "{} domain labels but the activations have more tokens",
                    labels.len()
                )));
            }
        }
        let mut start = 0;
        while start < tokens {
            if self.used == BLOCK_WORDS {
                self.flush();
            }
            let room = (BLOCK_WORDS - self.used) * 64;
            let take = room.min(tokens - start);
            self.binarise(rows, first_token, start, take);
            start += take;
        }
        self.tokens += tokens as u64;
        Ok(())
    }

    /// Count a whole source: its half-precision pass ([`ActivationSource::f16_chunks`]) when it
    /// has one, else its `f32` chunks, overlapped as in [`Self::push_overlapped`]. The counts
    /// are the same either way.
    ///
    /// # Errors
    /// As [`Self::push_overlapped`].
    pub fn push_source(
        &mut self,
        src: &dyn ActivationSource,
        chunk_tokens: usize,
        on_chunk: &mut dyn FnMut(usize),
    ) -> Result<()> {
        match src.f16_chunks(chunk_tokens)? {
            Some(c) => self.overlapped(c, Self::push_f16, |c| c.tokens, on_chunk),
            None => self.push_overlapped(src.chunks(chunk_tokens)?, on_chunk),
        }
    }

    /// Push every chunk of `chunks`, producing the next one (reading, decoding) on another
    /// thread while the current one is binarised and counted: the same chunks in the same
    /// order, so the same counts as pushing them one by one. `on_chunk(tokens)` is called after
    /// each chunk is counted. An error on either side stops both (the producer's next send
    /// fails once this side is gone); the chunks counted before it stay counted.
    ///
    /// # Errors
    /// The first chunk that fails to read, or that [`Counter::push`] refuses.
    pub fn push_overlapped(
        &mut self,
        chunks: Chunks<'_>,
        on_chunk: &mut dyn FnMut(usize),
    ) -> Result<()> {
        self.overlapped(chunks, Self::push, |c| c.tokens, on_chunk)
    }

    fn overlapped<T: Send>(
        &mut self,
        items: Box<dyn Iterator<Item = Result<T>> + Send + '_>,
        push: fn(&mut Self, &T) -> Result<()>,
        tokens: fn(&T) -> usize,
        on_chunk: &mut dyn FnMut(usize),
    ) -> Result<()> {
        std::thread::scope(|s| -> Result<()> {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            s.spawn(move || {
                for c in items {
                    let stop = c.is_err();
                    if tx.send(c).is_err() || stop {
                        break;
                    }
                }
            });
            for c in rx {
                let c = c?;
                push(self, &c)?;
                on_chunk(tokens(&c));
            }
            Ok(())
        })
    }

    fn binarise(&mut self, rows: Rows<'_>, first_token: usize, start: usize, take: usize) {
        let n = self.n;
        let np = self.np;
        let words = take.div_ceil(64);
        let w0 = self.used;
        let bz = self.binarizer;
        self.wm[w0 * np..(w0 + words) * np]
            .par_chunks_mut(np)
            .enumerate()
            .for_each_init(
                || (Vec::new(), Vec::new()),
                |(scratch, values), (g, row)| {
                    let t0 = start + g * 64;
                    let t1 = (t0 + 64).min(start + take);
                    match rows {
                        Rows::F32(d) => {
                            mark_group(bz, &d[t0 * n..t1 * n], n, &mut row[..n], scratch, 0)
                        }
                        Rows::F16(b) => {
                            values.resize(n, 0.0);
                            for (t, bits) in b[t0 * n..t1 * n].chunks_exact(n.max(1)).enumerate() {
                                f16_to_f32(bits, values);
                                mark_group(bz, values, n, &mut row[..n], scratch, t as u32);
                            }
                        }
                    }
                },
            );
        if let Some((labels, _)) = self.domains {
            for t in 0..take {
                self.block_dom[w0 * 64 + t] = labels[first_token + start + t];
            }
        }
        self.used += words;
        self.block_tokens += take;
    }

    fn flush(&mut self) {
        if self.used == 0 {
            return;
        }
        let (n, np, words) = (self.n, self.np, self.used);
        let wm = &self.wm[..words * np];
        if let Some(dc) = self.dom.as_mut() {
            count_domains(wm, np, n, words, &self.block_dom, dc);
        }
        let ones: u64 = wm.par_iter().map(|w| w.count_ones() as u64).sum();
        let density = ones as f64 / (self.block_tokens as f64 * n as f64);
        let sparse = match self.kernel {
            Kernel::Auto => {
                density
                    < if isa() == Isa::Avx512 {
                        SPARSE_DENSITY
                    } else {
                        SPARSE_DENSITY_SCALAR
                    }
            }
            Kernel::Dense => false,
            Kernel::Sparse => true,
        };
        if sparse {
            count_sparse(wm, np, n, words, &mut self.upper);
        } else {
            count_dense(wm, np, n, words, &mut self.upper, &mut self.packed);
        }
        self.wm[..words * np].fill(0);
        self.block_dom[..words * 64].fill(u32::MAX);
        self.used = 0;
        self.block_tokens = 0;
    }

    /// Count what is left and return the counts (and per-domain counts if labels were given).
    pub fn finish(mut self) -> (PairCounts, Option<DomainCounts>) {
        self.flush();
        let n = self.n;
        let mut m = std::mem::take(&mut self.upper);
        // Mirror the upper triangle, in 64 x 64 blocks for cache locality.
        const B: usize = 64;
        for bi in (0..n).step_by(B) {
            for bj in (bi..n).step_by(B) {
                for i in bi..(bi + B).min(n) {
                    for j in bj.max(i + 1)..(bj + B).min(n) {
                        m[j * n + i] = m[i * n + j];
                    }
                }
            }
        }
        (
            PairCounts {
                neurons: n,
                tokens: self.tokens,
                counts: m,
            },
            self.dom.take(),
        )
    }
}

with_avx! {
    ["avx512f", "avx512bw", "avx512vl", "avx512dq"]
    /// Mark the active neurons of at most 64 tokens (`tokens` holds their rows of `n` values,
    /// the first at bit `first` of the word row) in `row`, compiled for AVX-512 when the CPU
    /// has it (the threshold comparisons vectorise 16 wide; the same operations, so the same
    /// bits).
    fn mark_group(
        bz: &Binarizer, tokens: &[f32], n: usize, row: &mut [u64], scratch: &mut Vec<u32>,
        first: u32
    ) {
        if n == 0 {
            return;
        }
        for (t, values) in tokens.chunks_exact(n).enumerate() {
            bz.mark_row(values, first + t as u32, row, scratch);
        }
    }
}

fn count_domains(
    wm: &[u64],
    np: usize,
    n: usize,
    words: usize,
    dom: &[u32],
    dc: &mut DomainCounts,
) {
    let nd = dc.tokens.len();
    for w in 0..words {
        let labels = &dom[w * 64..(w + 1) * 64];
        let row = &wm[w * np..w * np + n];
        for d in 0..nd {
            let mut mask = 0u64;
            for (b, &l) in labels.iter().enumerate() {
                if l as usize == d {
                    mask |= 1 << b;
                }
            }
            if mask == 0 {
                continue;
            }
            dc.tokens[d] += mask.count_ones() as u64;
            let act = &mut dc.active[d * n..(d + 1) * n];
            for (a, &x) in act.iter_mut().zip(row) {
                *a += (x & mask).count_ones() as u64;
            }
        }
    }
}

/// Add the pair counts of a word-major block to the upper triangle `upper` (N x N).
fn count_sparse(wm: &[u64], np: usize, n: usize, words: usize, upper: &mut [u32]) {
    // Per-token sorted active lists (CSR).
    let ntok = words * 64;
    let mut deg = vec![0usize; ntok + 1];
    for w in 0..words {
        for &x in &wm[w * np..w * np + n] {
            let mut x = x;
            while x != 0 {
                deg[w * 64 + x.trailing_zeros() as usize + 1] += 1;
                x &= x - 1;
            }
        }
    }
    for t in 0..ntok {
        deg[t + 1] += deg[t];
    }
    let mut fill = deg.clone();
    let mut lists = vec![0u32; deg[ntok]];
    for w in 0..words {
        for (i, &x) in wm[w * np..w * np + n].iter().enumerate() {
            let mut x = x;
            while x != 0 {
                let t = w * 64 + x.trailing_zeros() as usize;
                lists[fill[t]] = i as u32;
                fill[t] += 1;
                x &= x - 1;
            }
        }
    }
    const RB: usize = 16;
    upper
        .par_chunks_mut(RB * n)
        .enumerate()
        .for_each(|(bi, rows)| {
            let lo = bi * RB;
            let hi = lo + rows.len() / n;
            for t in 0..ntok {
                let l = &lists[deg[t]..deg[t + 1]];
                let s = l.partition_point(|&x| (x as usize) < lo);
                for a in s..l.len() {
                    let i = l[a] as usize;
                    if i >= hi {
                        break;
                    }
                    let row = &mut rows[(i - lo) * n..(i - lo + 1) * n];
                    for &j in &l[a..] {
                        row[j as usize] += 1;
                    }
                }
            }
        });
}

/// One 8 x 16 tile of pair counts over `words` word rows (portable scalar version).
/// `packed` holds the block as `[np / 16][words][16]` (see [`pack`]).
#[inline(always)]
fn tile_scalar(packed: &[u64], words: usize, i0: usize, j0: usize) -> [[u64; TJ]; TI] {
    let ab = (i0 / TJ) * words * TJ + i0 % TJ;
    let bb = (j0 / TJ) * words * TJ;
    let mut acc = [[0u64; TJ]; TI];
    for (r, acc_r) in acc.iter_mut().enumerate() {
        for (l, x) in acc_r.iter_mut().enumerate() {
            let mut s = 0u64;
            for w in 0..words {
                s += (packed[ab + w * TJ + r] & packed[bb + w * TJ + l]).count_ones() as u64;
            }
            *x = s;
        }
    }
    acc
}

/// One 8 x 16 tile with AVX-512: 16 accumulator registers, `vpopcntq` on `a_r & b[j0..j0+16]`;
/// both operands stream sequentially through the packed layout.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vpopcntdq")]
fn tile_avx512(packed: &[u64], words: usize, i0: usize, j0: usize) -> [[u64; TJ]; TI] {
    use std::arch::x86_64::*;
    let ab = (i0 / TJ) * words * TJ + i0 % TJ;
    let bb = (j0 / TJ) * words * TJ;
    assert!(ab + (words - 1) * TJ + TI <= packed.len() && bb + words * TJ <= packed.len());
    let mut acc = [[_mm512_setzero_si512(); 2]; TI];
    let p = packed.as_ptr();
    for w in 0..words {
        // SAFETY: the reads stay below the bounds asserted above.
        unsafe {
            let bp = p.add(bb + w * TJ);
            let ap = p.add(ab + w * TJ);
            let b0 = _mm512_loadu_si512(bp as *const _);
            let b1 = _mm512_loadu_si512(bp.add(8) as *const _);
            for (r, acc_r) in acc.iter_mut().enumerate() {
                let a = _mm512_set1_epi64(*ap.add(r) as i64);
                acc_r[0] = _mm512_add_epi64(acc_r[0], _mm512_popcnt_epi64(_mm512_and_si512(a, b0)));
                acc_r[1] = _mm512_add_epi64(acc_r[1], _mm512_popcnt_epi64(_mm512_and_si512(a, b1)));
            }
        }
    }
    let mut out = [[0u64; TJ]; TI];
    for r in 0..TI {
        // SAFETY: each half of out[r] holds exactly 8 u64.
        unsafe {
            _mm512_storeu_si512(out[r].as_mut_ptr() as *mut _, acc[r][0]);
            _mm512_storeu_si512(out[r].as_mut_ptr().add(8) as *mut _, acc[r][1]);
        }
    }
    out
}

/// Repack a word-major block `[words][np]` into `[np / 16][words][16]`, so that a tile's
/// operands are contiguous.
fn pack(wm: &[u64], np: usize, words: usize, packed: &mut Vec<u64>) {
    packed.resize(np * words, 0);
    packed
        .par_chunks_mut(words * TJ)
        .enumerate()
        .for_each(|(jt, dst)| {
            for w in 0..words {
                dst[w * TJ..(w + 1) * TJ]
                    .copy_from_slice(&wm[w * np + jt * TJ..w * np + (jt + 1) * TJ]);
            }
        });
}

/// All tiles of the row strip `i0..i0+8`, added into `rows` (those rows of the upper triangle).
#[inline(always)]
fn strip<F>(wm: &[u64], n: usize, words: usize, i0: usize, rows: &mut [u32], tile: F)
where
    F: Fn(&[u64], usize, usize, usize) -> [[u64; TJ]; TI],
{
    let nr = rows.len() / n;
    let mut j0 = i0 / TJ * TJ;
    while j0 < n {
        let acc = tile(wm, words, i0, j0);
        for r in 0..nr {
            let i = i0 + r;
            let row = &mut rows[r * n..(r + 1) * n];
            for l in 0..TJ {
                let j = j0 + l;
                if j >= i && j < n {
                    row[j] += acc[r][l] as u32;
                }
            }
        }
        j0 += TJ;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vpopcntdq")]
fn strip_avx512(wm: &[u64], n: usize, words: usize, i0: usize, rows: &mut [u32]) {
    strip(wm, n, words, i0, rows, |a, b, c, d| tile_avx512(a, b, c, d))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn strip_popcnt(wm: &[u64], n: usize, words: usize, i0: usize, rows: &mut [u32]) {
    strip(wm, n, words, i0, rows, tile_scalar)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Isa {
    Avx512,
    Popcnt,
    Generic,
}

fn isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        match std::env::var("NEUROBRICKS_KERNEL_ISA").as_deref() {
            Ok("generic") => return Isa::Generic,
            Ok("popcnt") if is_x86_feature_detected!("popcnt") => return Isa::Popcnt,
            _ => {}
        }
        if is_x86_feature_detected!("avx512vpopcntdq") && is_x86_feature_detected!("avx512f") {
            return Isa::Avx512;
        }
        if is_x86_feature_detected!("popcnt") {
            return Isa::Popcnt;
        }
    }
    Isa::Generic
}

/// Add the pair counts of a word-major block to the upper triangle `upper` (N x N).
fn count_dense(
    wm: &[u64],
    np: usize,
    n: usize,
    words: usize,
    upper: &mut [u32],
    packed: &mut Vec<u64>,
) {
    let isa = isa();
    pack(wm, np, words, packed);
    let wm = &packed[..];
    upper
        .par_chunks_mut(TI * n)
        .enumerate()
        .for_each(|(s, rows)| {
            let i0 = s * TI;
            match isa {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the CPU features were detected at run time.
                Isa::Avx512 => unsafe { strip_avx512(wm, n, words, i0, rows) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the CPU features were detected at run time.
                Isa::Popcnt => unsafe { strip_popcnt(wm, n, words, i0, rows) },
                _ => strip(wm, n, words, i0, rows, tile_scalar),
            }
        });
}
