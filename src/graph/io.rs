//! Edge-list reading and writing.
//!
//! Format (DESIGN.md §2): one edge per line, `u v` or `u v w`, separated by tabs, commas or
//! spaces; `#` starts a comment; one optional header line. Node ids are arbitrary tokens mapped
//! to dense indices in order of first appearance; the original tokens are kept as node ids.

use super::{Duplicates, Graph};
use crate::error::{Error, Result};
use crate::util::{wio, write_atomic, FxHashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
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
    read_edge_list_from(BufReader::with_capacity(8 << 20, f), path, opts)
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

/// Read an edge list from any buffered reader; `path` is used in error messages only.
pub fn read_edge_list_from<R: BufRead>(
    mut r: R,
    path: &Path,
    opts: &EdgeListOptions,
) -> Result<(Graph, ReadReport)> {
    let mut map: FxHashMap<Box<[u8]>, u32> = FxHashMap::default();
    let mut names: Vec<Box<[u8]>> = Vec::new();
    let mut edges: Vec<(u32, u32, f64)> = Vec::new();
    let mut report = ReadReport::default();
    let mut ncols: Option<usize> = None;
    // A first line that may be a header, kept until the next line decides.
    let mut pending: Option<(usize, Vec<u8>)> = None;
    let mut header_decided = opts.header != Header::Auto;
    let mut skip_first = opts.header == Header::Yes;
    let mut buf = Vec::with_capacity(256);
    let mut lineno = 0usize;

    let mut intern = |tok: &[u8]| -> u32 {
        if let Some(&i) = map.get(tok) {
            return i;
        }
        let i = names.len() as u32;
        let b: Box<[u8]> = tok.into();
        names.push(b.clone());
        map.insert(b, i);
        i
    };

    let process = |lineno: usize,
                   line: &[u8],
                   ncols: &mut Option<usize>,
                   edges: &mut Vec<(u32, u32, f64)>,
                   intern: &mut dyn FnMut(&[u8]) -> u32|
     -> Result<()> {
        let (f, k) = fields(line);
        if k < 2 {
            return Err(Error::parse(
                path,
                lineno,
                format!(
                    "missing column: expected `u v` or `u v w`, got `{}`",
                    show(line).trim()
                ),
            ));
        }
        if k > 3 {
            return Err(Error::parse(
                path,
                lineno,
                format!(
                    "too many columns: expected `u v` or `u v w`, got `{}`",
                    show(line).trim()
                ),
            ));
        }
        let nc = *ncols.get_or_insert(k);
        if k != nc {
            return Err(Error::parse(
                path,
                lineno,
                format!(
                    "expected {nc} columns like the first edge line, got {k}: `{}`",
                    show(line).trim()
                ),
            ));
        }
        let w = if k == 3 && !opts.ignore_weights {
            parse_weight(f[2]).ok_or_else(|| {
                Error::parse(
                    path,
                    lineno,
                    format!("weight `{}` is not a finite number", show(f[2])),
                )
            })?
        } else {
            1.0
        };
        let u = intern(f[0]);
        let v = intern(f[1]);
        edges.push((u, v, w));
        Ok(())
    };

    loop {
        buf.clear();
        let got = r
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io(path, e))?;
        if got == 0 {
            break;
        }
        lineno += 1;
        let mut line: &[u8] = &buf;
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
        if line.iter().all(|&b| is_sep(b)) {
            continue;
        }
        if skip_first {
            skip_first = false;
            report.had_header = true;
            continue;
        }
        if !header_decided {
            let (f, k) = fields(line);
            if k >= 3 && !looks_numeric(f[2]) {
                // A non-numeric weight column on the first line: a header.
                header_decided = true;
                report.had_header = true;
                continue;
            }
            if k >= 2 && !looks_numeric(f[0]) && !looks_numeric(f[1]) && pending.is_none() {
                pending = Some((lineno, line.to_vec()));
                continue;
            }
            header_decided = true;
            if let Some((pl, pline)) = pending.take() {
                // The held line was a header only if this line has numeric ids.
                if looks_numeric(f[0]) && looks_numeric(f[1]) {
                    report.had_header = true;
                } else {
                    process(pl, &pline, &mut ncols, &mut edges, &mut intern)?;
                    report.lines += 1;
                }
            }
        }
        process(lineno, line, &mut ncols, &mut edges, &mut intern)?;
        report.lines += 1;
    }
    if let Some((pl, pline)) = pending.take() {
        process(pl, &pline, &mut ncols, &mut edges, &mut intern)?;
        report.lines += 1;
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
