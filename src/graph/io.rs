//! Edge-list reading and writing.
//!
//! Format (DESIGN.md §2): one edge per line, `u v` or `u v w`, separated by tabs, commas or
//! spaces; `#` starts a comment; one optional header line. Node ids are arbitrary tokens mapped
//! to dense indices in order of first appearance; the original tokens are kept as node ids.

use super::{Duplicates, Graph};
use crate::error::{Error, Result};
use crate::util::{wio, write_atomic, FxHashMap};
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

/// Whether the first data line is a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Header {
    /// Detect: the first line is a header if its weight column is not a number, or if both of
    /// its ids are non-numeric while the next line's ids are numeric.
    #[default]
    Auto,
    /// The first non-comment line is a header.
    Yes,
    /// There is no header.
    No,
}

/// Options for [`read_edge_list`].
#[derive(Debug, Clone, Default)]
pub struct EdgeListOptions {
    /// Header handling.
    pub header: Header,
    /// Force unweighted reading even if there is a weight column (the column is ignored).
    pub ignore_weights: bool,
}

/// What the reader found besides the graph.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadReport {
    /// Self-loops dropped.
    pub self_loops: usize,
    /// Data lines read.
    pub lines: usize,
    /// Whether a header line was skipped.
    pub had_header: bool,
}

/// Read an edge list from a file. See the module docs for the format.
///
/// Without a weight column the graph is unweighted and a pair listed twice is one edge; with a
/// weight column repeated pairs add up. Self-loops are dropped and counted in the report.
///
/// # Errors
/// Names the file and line: missing column, extra columns, a weight that is not a finite
/// number, or a file with no edges.
///
/// # Complexity
/// One streaming pass over the file (8 MiB buffer) with an Fx-hashed id map, then CSR
/// construction in O(m log d).
pub fn read_edge_list(path: &Path, opts: &EdgeListOptions) -> Result<(Graph, ReadReport)> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    read_edge_list_from(f, path, opts)
}

#[inline]
fn is_sep(b: u8) -> bool {
    b == b' ' || b == b'\t' || b == b',' || b == b'\r'
}

/// Split a line into at most 4 fields (the 4th signals "too many columns").
#[inline]
fn fields(line: &[u8]) -> ([&[u8]; 4], usize) {
    let mut out: [&[u8]; 4] = [&[]; 4];
    let mut k = 0;
    let mut i = 0;
    let n = line.len();
    while i < n && k < 4 {
        while i < n && is_sep(line[i]) {
            i += 1;
        }
        if i >= n {
            break;
        }
        let s = i;
        while i < n && !is_sep(line[i]) {
            i += 1;
        }
        out[k] = &line[s..i];
        k += 1;
    }
    (out, k)
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn parse_weight(b: &[u8]) -> Option<f64> {
    std::str::from_utf8(b)
        .ok()?
        .parse::<f64>()
        .ok()
        .filter(|w| w.is_finite())
}

fn looks_numeric(b: &[u8]) -> bool {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .is_some()
}

/// Strip a `#` comment and trailing separators / line ends.
#[inline]
fn clean(mut line: &[u8]) -> &[u8] {
    if let Some(p) = line.iter().position(|&b| b == b'#') {
        line = &line[..p];
    }
    while let Some((&last, rest)) = line.split_last() {
        if last == b'\n' || is_sep(last) {
            line = rest;
        } else {
            break;
        }
    }
    line
}

/// Parsed lines of one chunk: local token table and edges in local ids.
struct ChunkParse<'a> {
    tokens: Vec<&'a [u8]>,
    edges: Vec<(u32, u32, f64)>,
    lines: usize,
    data_lines: usize,
    /// First error: (line index within the chunk, 0-based; message).
    error: Option<(usize, String)>,
}

fn parse_chunk<'a>(chunk: &'a [u8], ncols: usize, opts: &EdgeListOptions) -> ChunkParse<'a> {
    let mut map: FxHashMap<&'a [u8], u32> = FxHashMap::default();
    let mut out = ChunkParse {
        tokens: Vec::new(),
        edges: Vec::new(),
        lines: 0,
        data_lines: 0,
        error: None,
    };
    let mut intern = |t: &'a [u8], out: &mut ChunkParse<'a>| -> u32 {
        *map.entry(t).or_insert_with(|| {
            out.tokens.push(t);
            (out.tokens.len() - 1) as u32
        })
    };
    for raw in chunk.split_inclusive(|&b| b == b'\n') {
        let li = out.lines;
        out.lines += 1;
        let line = clean(raw);
        if line.iter().all(|&b| is_sep(b)) {
            continue;
        }
        let (f, k) = fields(line);
        let err = if k < 2 {
            Some(format!(
                "missing column: expected `u v` or `u v w`, got `{}`",
                show(line).trim()
            ))
        } else if k > 3 {
            Some(format!(
                "too many columns: expected `u v` or `u v w`, got `{}`",
                show(line).trim()
            ))
        } else if k != ncols {
            Some(format!(
                "expected {ncols} columns like the first edge line, got {k}: `{}`",
                show(line).trim()
            ))
        } else {
            None
        };
        if let Some(e) = err {
            out.error = Some((li, e));
            return out;
        }
        let w = if k == 3 && !opts.ignore_weights {
            match parse_weight(f[2]) {
                Some(w) => w,
                None => {
                    out.error = Some((
                        li,
                        format!("weight `{}` is not a finite number", show(f[2])),
                    ));
                    return out;
                }
            }
        } else {
            1.0
        };
        let u = intern(f[0], &mut out);
        let v = intern(f[1], &mut out);
        out.edges.push((u, v, w));
        out.data_lines += 1;
    }
    out
}

/// Split `block` into about `parts` pieces at line boundaries.
fn split_lines(block: &[u8], parts: usize) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(parts);
    let step = (block.len() / parts.max(1)).max(1 << 16);
    let mut start = 0;
    while start < block.len() {
        let mut end = (start + step).min(block.len());
        while end < block.len() && block[end - 1] != b'\n' {
            end += 1;
        }
        out.push(&block[start..end]);
        start = end;
    }
    out
}

/// Read an edge list from any reader; `path` is used in error messages only.
///
/// The input is read in blocks of 16 MiB; each block is split at line boundaries and parsed in
/// parallel (rayon) with chunk-local id tables, which are then merged into the global table in
/// input order, so ids keep their order of first appearance.
pub fn read_edge_list_from<R: Read>(
    mut r: R,
    path: &Path,
    opts: &EdgeListOptions,
) -> Result<(Graph, ReadReport)> {
    use rayon::prelude::*;
    const BLOCK: usize = 16 << 20;
    let mut map: FxHashMap<Box<[u8]>, u32> = FxHashMap::default();
    let mut names: Vec<Box<[u8]>> = Vec::new();
    let mut edges: Vec<(u32, u32, f64)> = Vec::new();
    let mut report = ReadReport::default();
    let mut ncols: Option<usize> = None;
    let mut buf: Vec<u8> = Vec::with_capacity(BLOCK + 4096);
    let mut line_base = 0usize; // lines before `buf`
    let mut eof = false;
    let mut first = true;
    while !eof {
        // Fill the buffer up to BLOCK bytes (plus the carried-over partial line).
        let have = buf.len();
        buf.resize(have + BLOCK, 0);
        let mut filled = have;
        while filled < buf.len() {
            let got = r.read(&mut buf[filled..]).map_err(|e| Error::io(path, e))?;
            if got == 0 {
                eof = true;
                break;
            }
            filled += got;
        }
        buf.truncate(filled);
        // Process complete lines only; keep the tail for the next block.
        let cut = if eof {
            buf.len()
        } else {
            buf.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1)
        };
        if cut == 0 && !eof {
            continue; // a line longer than the block: read more
        }
        let mut block: &[u8] = &buf[..cut];
        let mut skipped_lines = 0usize;
        if first {
            // Header detection on the first data lines.
            let mut data: Vec<(usize, usize, &[u8])> = Vec::new(); // (line index, byte end, line)
            let mut off = 0usize;
            for (li, raw) in block.split_inclusive(|&b| b == b'\n').enumerate() {
                off += raw.len();
                let line = clean(raw);
                if !line.iter().all(|&b| is_sep(b)) {
                    data.push((li, off, line));
                    if data.len() == 2 {
                        break;
                    }
                }
            }
            if let Some(&(li0, end0, l0)) = data.first() {
                let (f0, k0) = fields(l0);
                let header = match opts.header {
                    Header::Yes => true,
                    Header::No => false,
                    Header::Auto => {
                        (k0 >= 3 && !looks_numeric(f0[2]))
                            || (k0 >= 2
                                && !looks_numeric(f0[0])
                                && !looks_numeric(f0[1])
                                && data.get(1).is_some_and(|&(_, _, l1)| {
                                    let (f1, k1) = fields(l1);
                                    k1 >= 2 && looks_numeric(f1[0]) && looks_numeric(f1[1])
                                }))
                    }
                };
                if header {
                    report.had_header = true;
                    block = &block[end0..];
                    skipped_lines = li0 + 1;
                    ncols = data.get(1).map(|&(_, _, l1)| fields(l1).1);
                } else {
                    ncols = Some(k0);
                }
                first = false;
            } else if !eof {
                // Only comments so far: carry on.
                line_base += block.iter().filter(|&&b| b == b'\n').count();
                buf.drain(..cut);
                continue;
            }
        }
        if let Some(nc) = ncols {
            let parts = split_lines(block, 4 * rayon::current_num_threads());
            let parsed: Vec<ChunkParse> =
                parts.par_iter().map(|c| parse_chunk(c, nc, opts)).collect();
            let mut base = line_base + skipped_lines;
            for p in &parsed {
                if let Some((li, msg)) = &p.error {
                    return Err(Error::parse(path, base + li + 1, msg.clone()));
                }
                base += p.lines;
            }
            // Merge local id tables in input order, then remap edges in parallel.
            let maps: Vec<Vec<u32>> = parsed
                .iter()
                .map(|p| {
                    p.tokens
                        .iter()
                        .map(|&t| match map.get(t) {
                            Some(&g) => g,
                            None => {
                                let g = names.len() as u32;
                                let b: Box<[u8]> = t.into();
                                names.push(b.clone());
                                map.insert(b, g);
                                g
                            }
                        })
                        .collect()
                })
                .collect();
            let remapped: Vec<Vec<(u32, u32, f64)>> = parsed
                .par_iter()
                .zip(maps.par_iter())
                .map(|(p, m)| {
                    p.edges
                        .iter()
                        .map(|&(u, v, w)| (m[u as usize], m[v as usize], w))
                        .collect()
                })
                .collect();
            for (p, e) in parsed.iter().zip(remapped) {
                report.lines += p.data_lines;
                edges.extend(e);
            }
        }
        line_base += skipped_lines + block.iter().filter(|&&b| b == b'\n').count();
        buf.drain(..cut);
    }
    if edges.is_empty() {
        return Err(Error::parse(
            path,
            0,
            "the edge list has no edges (empty file or only comments)",
        ));
    }
    let weighted = ncols == Some(3) && !opts.ignore_weights;
    let dup = if weighted {
        Duplicates::Sum
    } else {
        Duplicates::One
    };
    let n = names.len();
    drop(map);
    let (g, loops) = Graph::from_edges_counted(n, &edges, dup)?;
    drop(edges);
    report.self_loops = loops;
    let ids = names
        .into_iter()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect();
    Ok((g.with_ids(ids)?.with_weighted(weighted), report))
}

/// Write a graph as a tab-separated edge list `u v w` (or `u v` when unweighted) with its
/// original node ids, each edge once (`u` before `v` in index order). Written atomically.
pub fn write_edge_list(g: &Graph, path: &Path) -> Result<()> {
    write_atomic(path, |w| {
        let e = wio(path);
        let ids = g.ids();
        if g.is_weighted() {
            writeln!(w, "# u\tv\tweight").map_err(&e)?;
        } else {
            writeln!(w, "# u\tv").map_err(&e)?;
        }
        for (u, v, wt) in g.edges() {
            if g.is_weighted() {
                writeln!(w, "{}\t{}\t{}", ids[u], ids[v], wt).map_err(&e)?;
            } else {
                writeln!(w, "{}\t{}", ids[u], ids[v]).map_err(&e)?;
            }
        }
        Ok(())
    })
}

/// Read a whole (small) file as text, naming it on error.
pub(crate) fn read_to_string(path: &Path) -> Result<String> {
    let mut s = String::new();
    File::open(path)
        .and_then(|mut f| f.read_to_string(&mut s))
        .map_err(|e| Error::io(path, e))?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str) -> Result<(Graph, ReadReport)> {
        read_edge_list_from(
            s.as_bytes(),
            Path::new("t.tsv"),
            &EdgeListOptions::default(),
        )
    }

    #[test]
    fn unweighted_pairs_listed_twice_are_one_edge() {
        let (g, rep) = read("# comment\n1 2\n2 1\n2\t3\n3,1\n").unwrap();
        assert!(!g.is_weighted());
        assert_eq!(g.n(), 3);
        assert_eq!(g.num_edges(), 3);
        assert_eq!(g.ids(), &["1", "2", "3"]);
        assert_eq!(g.degrees(), vec![2.0, 2.0, 2.0]);
        assert_eq!(rep.lines, 4);
        assert!(!rep.had_header);
    }

    #[test]
    fn weighted_repeated_pairs_add_up_and_loops_are_dropped() {
        let (g, rep) = read("source target weight\na b 1.5\nb a 2\nb c 1\nc c 4\n").unwrap();
        assert!(g.is_weighted());
        assert!(rep.had_header);
        assert_eq!(rep.self_loops, 1);
        assert_eq!(g.neighbors(0), (&[1u32][..], &[3.5][..]));
        assert_eq!(g.num_edges(), 2);
    }

    #[test]
    fn two_column_header_detection() {
        let (g, rep) = read("u v\n10 20\n20 30\n").unwrap();
        assert!(rep.had_header);
        assert_eq!(g.ids(), &["10", "20", "30"]);
        // String ids throughout: the first line is data.
        let (g, rep) = read("alice bob\nbob carol\n").unwrap();
        assert!(!rep.had_header);
        assert_eq!(g.n(), 3);
    }

    #[test]
    fn malformed_inputs_name_file_and_line() {
        let e = read("1 2 0.5\n2 3 abc\n").unwrap_err().to_string();
        assert!(e.contains("t.tsv:2") && e.contains("abc"), "{e}");
        let e = read("1 2\n3\n").unwrap_err().to_string();
        assert!(e.contains("t.tsv:2") && e.contains("missing column"), "{e}");
        let e = read("").unwrap_err().to_string();
        assert!(e.contains("no edges"), "{e}");
        let e = read("# only\n\n").unwrap_err().to_string();
        assert!(e.contains("no edges"), "{e}");
        let e = read("1 2 1\n2 3\n").unwrap_err().to_string();
        assert!(
            e.contains("t.tsv:2") && e.contains("expected 3 columns"),
            "{e}"
        );
        let e = read("1 2 nan\n").unwrap_err().to_string();
        assert!(e.contains("not a finite number"), "{e}");
    }

    #[test]
    fn write_then_read_round_trip() {
        let dir = std::env::temp_dir().join(format!("nb-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (g, _) = read("x y 2\ny z 3.25\n").unwrap();
        let p = dir.join("g.tsv");
        write_edge_list(&g, &p).unwrap();
        let (h, _) = read_edge_list(&p, &EdgeListOptions::default()).unwrap();
        assert_eq!(h.ids(), g.ids());
        assert_eq!(h.adjacency(), g.adjacency());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
