//! Labels and partitions files (DESIGN.md §2): a TSV with a header `node<TAB>level1<TAB>...`,
//! then one row per node with its community at each level, coarsest first.

use super::io::read_to_string;
use crate::error::{Error, Result};
use crate::output::Outputs;
use crate::util::{wio, FxHashMap};
use std::io::Write;
use std::path::Path;

/// Per-node community labels at one or more levels, keyed by node id.
#[derive(Debug, Clone, PartialEq)]
pub struct Labels {
    /// Column names after the node column (e.g. `depth1`, `k4`).
    pub columns: Vec<String>,
    /// Node ids, one per row, in file order.
    pub node_ids: Vec<String>,
    /// `codes[c][r]`: dense community code of row `r` in column `c` (codes in order of first
    /// appearance, `0..names[c].len()`).
    pub codes: Vec<Vec<u32>>,
    /// `names[c][code]`: the label text of each code in column `c`.
    pub names: Vec<Vec<String>>,
}

impl Labels {
    /// Build from integer partitions (one `Vec` per column, one entry per node); label text is
    /// the integer.
    pub fn from_partitions(
        columns: Vec<String>,
        node_ids: Vec<String>,
        parts: Vec<Vec<usize>>,
    ) -> Result<Self> {
        if columns.len() != parts.len() {
            return Err(Error::Input(format!(
                "{} column names for {} partitions",
                columns.len(),
                parts.len()
            )));
        }
        let mut codes = Vec::new();
        let mut names = Vec::new();
        for (c, p) in parts.iter().enumerate() {
            if p.len() != node_ids.len() {
                return Err(Error::Input(format!(
                    "partition `{}` has {} entries for {} nodes",
                    columns[c],
                    p.len(),
                    node_ids.len()
                )));
            }
            let (cd, nm) = encode(p.iter().map(|x| x.to_string()));
            codes.push(cd);
            names.push(nm);
        }
        Ok(Labels {
            columns,
            node_ids,
            codes,
            names,
        })
    }

    /// Number of rows (nodes).
    pub fn len(&self) -> usize {
        self.node_ids.len()
    }
    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.node_ids.is_empty()
    }

    /// Number of distinct communities in column `c`.
    pub fn num_classes(&self, c: usize) -> usize {
        self.names[c].len()
    }

    /// Codes of column `c` reordered to follow `ids` (e.g. a graph's node order). Every id must
    /// have a row and every row an id; otherwise the error names a node that does not match.
    pub fn aligned(&self, c: usize, ids: &[String], what: &str) -> Result<Vec<u32>> {
        let idx = self.index_of(ids, what)?;
        Ok(idx.iter().map(|&r| self.codes[c][r]).collect())
    }

    /// Row index of each id in `ids`, requiring both node sets to be equal.
    pub fn index_of(&self, ids: &[String], what: &str) -> Result<Vec<usize>> {
        let mut pos: FxHashMap<&str, usize> = FxHashMap::default();
        for (r, id) in self.node_ids.iter().enumerate() {
            pos.insert(id.as_str(), r);
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match pos.get(id.as_str()) {
                Some(&r) => out.push(r),
                None => {
                    return Err(Error::Input(format!(
                        "nodes do not match: node `{id}` of {what} has no row in the labels ({} rows, {} nodes)",
                        self.len(),
                        ids.len()
                    )))
                }
            }
        }
        if ids.len() != self.len() {
            let mut seen = vec![false; self.len()];
            for &r in &out {
                seen[r] = true;
            }
            let extra = seen
                .iter()
                .position(|s| !s)
                .map(|r| self.node_ids[r].clone())
                .unwrap_or_default();
            return Err(Error::Input(format!(
                "nodes do not match: the labels have {} rows but {what} has {} nodes (e.g. `{extra}` is not in {what})",
                self.len(),
                ids.len()
            )));
        }
        Ok(out)
    }
}

fn encode(vals: impl Iterator<Item = String>) -> (Vec<u32>, Vec<String>) {
    let mut map: FxHashMap<String, u32> = FxHashMap::default();
    let mut names = Vec::new();
    let codes = vals
        .map(|v| {
            *map.entry(v).or_insert_with_key(|k| {
                names.push(k.clone());
                (names.len() - 1) as u32
            })
        })
        .collect();
    (codes, names)
}

/// Read a labels/partitions TSV (tabs; a header line is required; `#` comment lines skipped).
///
/// # Errors
/// Names the file and line for a missing header, a row with the wrong number of columns, an
/// empty node id or a repeated node id.
pub fn read_labels(path: &Path) -> Result<Labels> {
    let text = read_to_string(path)?;
    let mut header: Option<Vec<String>> = None;
    let mut node_ids = Vec::new();
    let mut raw: Vec<Vec<String>> = Vec::new();
    let mut seen: FxHashMap<String, usize> = FxHashMap::default();
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let t = line.trim_end_matches('\r');
        if t.trim().is_empty() || t.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = if t.contains('\t') {
            t.split('\t').collect()
        } else {
            t.split_whitespace().collect()
        };
        match &header {
            None => {
                if cols.len() < 2 {
                    return Err(Error::parse(
                        path,
                        lineno,
                        format!("the header needs a node column and at least one level column, got `{}`", excerpt(t)),
                    ));
                }
                raw = vec![Vec::new(); cols.len() - 1];
                header = Some(cols.iter().map(|s| s.trim().to_string()).collect());
            }
            Some(h) => {
                if cols.len() != h.len() {
                    return Err(Error::parse(
                        path,
                        lineno,
                        format!(
                            "expected {} columns as in the header, got {}: `{}`",
                            h.len(),
                            cols.len(),
                            excerpt(t)
                        ),
                    ));
                }
                let id = cols[0].trim().to_string();
                if id.is_empty() {
                    return Err(Error::parse(path, lineno, "empty node id"));
                }
                if let Some(msg) = crate::graph::io::bad_id(id.as_bytes()) {
                    return Err(Error::parse(path, lineno, msg));
                }
                if let Some(prev) = seen.insert(id.clone(), lineno) {
                    return Err(Error::parse(
                        path,
                        lineno,
                        format!("node `{id}` already listed on line {prev}"),
                    ));
                }
                node_ids.push(id);
                for (c, v) in cols[1..].iter().enumerate() {
                    raw[c].push(v.trim().to_string());
                }
            }
        }
    }
    let header = header.ok_or_else(|| Error::parse(path, 0, "empty labels file: no header"))?;
    if node_ids.is_empty() {
        return Err(Error::parse(
            path,
            0,
            "the labels file has a header but no rows",
        ));
    }
    let mut codes = Vec::new();
    let mut names = Vec::new();
    for col in raw {
        let (c, n) = encode(col.into_iter());
        codes.push(c);
        names.push(n);
    }
    Ok(Labels {
        columns: header[1..].to_vec(),
        node_ids,
        codes,
        names,
    })
}

/// At most 80 characters of a line for an error message (a long line is cut, with its length).
fn excerpt(t: &str) -> String {
    if t.chars().count() <= 80 {
        return t.to_string();
    }
    let cut: String = t.chars().take(80).collect();
    format!("{cut}... ({} bytes)", t.len())
}

/// Write labels as TSV with header `node<TAB>col1...` (atomically, [`crate::output`]).
pub fn write_labels(labels: &Labels, path: &Path) -> Result<()> {
    Outputs::run(|out| write_labels_to(out, labels, path))
}

/// [`write_labels`] as one part of an output transaction (renamed at its commit).
pub fn write_labels_to(out: &mut Outputs, labels: &Labels, path: &Path) -> Result<()> {
    out.write(path, |w| {
        let e = wio(path);
        write!(w, "node").map_err(&e)?;
        for c in &labels.columns {
            write!(w, "\t{c}").map_err(&e)?;
        }
        writeln!(w).map_err(&e)?;
        for (r, id) in labels.node_ids.iter().enumerate() {
            write!(w, "{id}").map_err(&e)?;
            for c in 0..labels.columns.len() {
                write!(w, "\t{}", labels.names[c][labels.codes[c][r] as usize]).map_err(&e)?;
            }
            writeln!(w).map_err(&e)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str, content: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("nb-labels-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    #[test]
    fn round_trip_and_alignment() {
        let p = tmp(
            "a.tsv",
            "node\tdepth1\tdepth2\nb\tL\tL0\na\tR\tR1\nc\tL\tL1\n",
        );
        let l = read_labels(&p).unwrap();
        assert_eq!(l.columns, vec!["depth1", "depth2"]);
        assert_eq!(l.codes[0], vec![0, 1, 0]);
        assert_eq!(l.num_classes(1), 3);
        let ids: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(l.aligned(0, &ids, "g").unwrap(), vec![1, 0, 0]);
        let q = p.with_file_name("b.tsv");
        write_labels(&l, &q).unwrap();
        assert_eq!(read_labels(&q).unwrap(), l);
    }

    #[test]
    fn errors_name_line_and_node() {
        let p = tmp("bad.tsv", "node\tk2\n1\t0\n2\n");
        let e = read_labels(&p).unwrap_err().to_string();
        assert!(e.contains("bad.tsv:3"), "{e}");
        let p = tmp("dup.tsv", "node\tk2\n1\t0\n1\t1\n");
        assert!(read_labels(&p)
            .unwrap_err()
            .to_string()
            .contains("already listed on line 2"));
        let p = tmp("empty.tsv", "");
        assert!(read_labels(&p)
            .unwrap_err()
            .to_string()
            .contains("no header"));
        let p = tmp("ok.tsv", "node\tk2\n1\t0\n2\t1\n");
        let l = read_labels(&p).unwrap();
        let ids = vec!["1".to_string(), "3".to_string()];
        let e = l.aligned(0, &ids, "the graph").unwrap_err().to_string();
        assert!(e.contains("`3`") && e.contains("do not match"), "{e}");
        let ids = vec!["1".to_string()];
        let e = l.aligned(0, &ids, "the graph").unwrap_err().to_string();
        assert!(e.contains("`2`"), "{e}");
    }

    /// Issue 13, defects 9 and 10: BOM dropped, NUL / invalid UTF-8 refused with the line, a
    /// long bad line cut in the message.
    #[test]
    fn bom_nul_utf8_and_long_lines() {
        let d = std::env::temp_dir().join(format!("nb-labels-bytes-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("bom.tsv");
        std::fs::write(&p, b"\xEF\xBB\xBFnode\tk2\na\t0\n").unwrap();
        let l = read_labels(&p).unwrap();
        assert_eq!(l.columns, ["k2"]);
        std::fs::write(&p, b"node\tk2\na\t0\nb\x00\t1\n").unwrap();
        let e = read_labels(&p).unwrap_err().to_string();
        assert!(e.contains(":3") && e.contains("NUL"), "{e}");
        std::fs::write(&p, b"node\tk2\na\t0\n\xff\t1\n").unwrap();
        let e = read_labels(&p).unwrap_err().to_string();
        assert!(e.contains(":3") && e.contains("UTF-8"), "{e}");
        let long = format!("node\tk2\na\t0\n{}\n", "x\t".repeat(3000));
        std::fs::write(&p, long).unwrap();
        let e = read_labels(&p).unwrap_err().to_string();
        assert!(e.len() < 400, "{} bytes: {e}", e.len());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
