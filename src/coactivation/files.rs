//! The files of a co-activation run besides the edge list: adding up saved count shards
//! ([`merge_count_files`]) and the two sidecar tables written next to the graph,
//! `GRAPH.tsv.setaside.tsv` (dead and resident neurons) and `GRAPH.tsv.neurons.tsv` (every
//! neuron's status and active fraction, optionally per token domain), with their readers.
//!
//! ```
//! use neurobricks::activations::TokenMatrix;
//! use neurobricks::coactivation::{files, CoactivationParams, NeuronGroup};
//!
//! // 4 tokens x 3 neurons: neuron 0 always fires (resident), neuron 2 never (dead).
//! let a = TokenMatrix::new(4, 3, vec![
//!     1.0, 1.0, 0.0,
//!     1.0, 0.0, 0.0,
//!     1.0, 1.0, 0.0,
//!     1.0, 0.0, 0.0,
//! ]).unwrap();
//! let out = CoactivationParams::default()
//!     .binarize("positive".parse().unwrap())
//!     .resident(0.9)
//!     .fit(&a)
//!     .unwrap();
//! let dir = std::env::temp_dir().join(format!("nb-files-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = files::sidecar_path(&dir.join("g.tsv"), files::SETASIDE_SUFFIX);
//! files::write_setaside(&path, &out.counts, &out.report).unwrap();
//! let rows = files::read_setaside(&path).unwrap();
//! assert_eq!(rows.len(), 2);
//! assert_eq!((rows[0].neuron, rows[0].group), (2, NeuronGroup::Dead));
//! assert_eq!((rows[1].neuron, rows[1].group, rows[1].active_fraction), (0, NeuronGroup::Resident, 1.0));
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```

use super::count::sidecar;
use super::{Binarize, DomainCounts, PairCounts, Report};
use crate::error::{Error, Result};
use crate::output::Outputs;
use crate::util::wio;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Suffix of the set-aside table next to a graph file (`GRAPH.tsv.setaside.tsv`).
pub const SETASIDE_SUFFIX: &str = ".setaside.tsv";
/// Suffix of the per-neuron table next to a graph file (`GRAPH.tsv.neurons.tsv`).
pub const NEURONS_SUFFIX: &str = ".neurons.tsv";

/// `out` with `suffix` appended to its file name (`g.tsv` + `.neurons.tsv`).
pub fn sidecar_path(out: &Path, suffix: &str) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Saved count shards added up ([`merge_count_files`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MergedCounts {
    /// The summed counts.
    pub counts: PairCounts,
    /// The rule every shard was counted with.
    pub binarize: Binarize,
    /// The activation files of all shards, in order (from the shards' metadata).
    pub sources: Vec<String>,
}

/// Read count matrices saved by [`PairCounts::write_npy`] and add them up.
///
/// The shards must have been made with the same binarisation rule, and the rule must be
/// additive ([`Binarize::is_additive`]: not `quantile`, whose per-neuron thresholds depend on
/// all tokens), and the same number of neurons.
///
/// # Errors
/// No file; a file or its `.json` sidecar that cannot be read or holds an unknown rule
/// (naming the file); shards of different rules, of a non-additive rule, or of different
/// sizes (naming both files or the later one).
///
/// # Cost
/// Reads each `N x N` matrix once; memory two matrices.
pub fn merge_count_files<P: AsRef<Path>>(paths: &[P]) -> Result<MergedCounts> {
    let mut total: Option<MergedCounts> = None;
    let mut first: Option<(String, &Path)> = None;
    for p in paths {
        let p = p.as_ref();
        let (c, meta) = PairCounts::read_npy(p)?;
        let r: Binarize = meta.binarize.parse().map_err(|_| {
            Error::parse(sidecar(p), 0, format!("unknown rule `{}`", meta.binarize))
        })?;
        if let Some((r0, p0)) = &first {
            if *r0 != meta.binarize {
                return Err(Error::Input(format!(
                    "counts were made with different rules: {} ({r0}) and {} ({})",
                    p0.display(),
                    p.display(),
                    meta.binarize
                )));
            }
            if !r.is_additive() {
                return Err(Error::Input(format!(
                    "counts made with `{r0}` cannot be added: per-neuron quantiles depend on all tokens; count all shards in one run"
                )));
            }
        } else {
            first = Some((meta.binarize.clone(), p));
        }
        match total.as_mut() {
            None => {
                total = Some(MergedCounts {
                    counts: c,
                    binarize: r,
                    sources: meta.sources,
                })
            }
            Some(t) => {
                t.counts
                    .add(&c)
                    .map_err(|e| Error::Input(format!("{}: {e}", p.display())))?;
                t.sources.extend(meta.sources);
            }
        }
    }
    total.ok_or_else(|| Error::Input("no count files given".into()))
}

/// What the co-activation graph did with a neuron.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NeuronGroup {
    /// A node of the graph.
    Kept,
    /// Never active: set aside.
    Dead,
    /// Active on more than the resident fraction of tokens: set aside.
    Resident,
}

crate::util::enum_names!(NeuronGroup,
    /// The name written in the tables: `kept`, `dead` or `resident`.
    as_str {
        Kept => "kept",
        Dead => "dead",
        Resident => "resident",
    }
);

impl std::str::FromStr for NeuronGroup {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "kept" => Ok(NeuronGroup::Kept),
            "dead" => Ok(NeuronGroup::Dead),
            "resident" => Ok(NeuronGroup::Resident),
            _ => Err(Error::Input(format!(
                "`{s}` is not a neuron group (kept, dead, resident)"
            ))),
        }
    }
}

/// The group of every neuron of a report, indexed by neuron.
pub fn neuron_groups(r: &Report) -> Vec<NeuronGroup> {
    let mut g = vec![NeuronGroup::Kept; r.neurons];
    for &i in &r.dead {
        g[i] = NeuronGroup::Dead;
    }
    for &i in &r.resident {
        g[i] = NeuronGroup::Resident;
    }
    g
}

/// One row of the set-aside table.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct SetAside {
    /// Neuron index.
    pub neuron: usize,
    /// [`NeuronGroup::Dead`] or [`NeuronGroup::Resident`].
    pub group: NeuronGroup,
    /// Fraction of tokens on which the neuron is active (written with 6 decimals).
    pub active_fraction: f64,
}

/// Write the set-aside table `neuron, group, active_fraction` (dead neurons first, then
/// resident ones, each in index order), atomically.
pub fn write_setaside(path: &Path, counts: &PairCounts, r: &Report) -> Result<()> {
    Outputs::run(|out| write_setaside_to(out, path, counts, r))
}

/// [`write_setaside`] as one part of an output transaction (renamed at its commit).
pub fn write_setaside_to(
    out: &mut Outputs,
    path: &Path,
    counts: &PairCounts,
    r: &Report,
) -> Result<()> {
    out.write(path, |w| {
        let e = wio(path);
        writeln!(w, "neuron\tgroup\tactive_fraction").map_err(&e)?;
        let t = counts.tokens() as f64;
        for (list, group) in [
            (&r.dead, NeuronGroup::Dead),
            (&r.resident, NeuronGroup::Resident),
        ] {
            for &i in list.iter() {
                writeln!(w, "{i}\t{group}\t{:.6}", counts.n_i(i) as f64 / t).map_err(&e)?;
            }
        }
        Ok(())
    })
}

/// Read a table written by [`write_setaside`].
///
/// # Errors
/// A missing file, a wrong header, or a row without three valid fields (naming file and line).
pub fn read_setaside(path: &Path) -> Result<Vec<SetAside>> {
    let (_, rows) = read_table(path, &["neuron", "group", "active_fraction"], false)?;
    Ok(rows
        .into_iter()
        .map(|r| SetAside {
            neuron: r.neuron,
            group: r.status,
            active_fraction: r.active_fraction,
        })
        .collect())
}

/// One row of the per-neuron table.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NeuronRow {
    /// Neuron index.
    pub neuron: usize,
    /// Kept, dead or resident.
    pub status: NeuronGroup,
    /// Fraction of all tokens on which the neuron is active.
    pub active_fraction: f64,
    /// Active fraction within each token domain (empty without domains).
    pub domain_fractions: Vec<f64>,
}

/// The per-neuron table ([`read_neurons`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NeuronTable {
    /// Domain names, one column each (empty without domains).
    pub domains: Vec<String>,
    /// One row per neuron, in index order.
    pub rows: Vec<NeuronRow>,
}

/// Write the per-neuron table `neuron, status, active_fraction[, one column per domain]`,
/// atomically. `domains` = (per-domain counts, domain names) adds the domain columns.
pub fn write_neurons(
    path: &Path,
    counts: &PairCounts,
    r: &Report,
    domains: Option<(&DomainCounts, &[String])>,
) -> Result<()> {
    Outputs::run(|out| write_neurons_to(out, path, counts, r, domains))
}

/// [`write_neurons`] as one part of an output transaction (renamed at its commit).
pub fn write_neurons_to(
    out: &mut Outputs,
    path: &Path,
    counts: &PairCounts,
    r: &Report,
    domains: Option<(&DomainCounts, &[String])>,
) -> Result<()> {
    let n = r.neurons;
    let status = neuron_groups(r);
    out.write(path, |w| {
        let e = wio(path);
        write!(w, "neuron\tstatus\tactive_fraction").map_err(&e)?;
        if let Some((_, names)) = domains {
            for name in names {
                write!(w, "\t{name}").map_err(&e)?;
            }
        }
        writeln!(w).map_err(&e)?;
        let t = counts.tokens() as f64;
        for (i, st) in status.iter().enumerate() {
            write!(w, "{i}\t{st}\t{:.6}", counts.n_i(i) as f64 / t).map_err(&e)?;
            if let Some((d, names)) = domains {
                for k in 0..names.len() {
                    let v = d.active[k * n + i] as f64 / d.tokens[k].max(1) as f64;
                    write!(w, "\t{v:.6}").map_err(&e)?;
                }
            }
            writeln!(w).map_err(&e)?;
        }
        Ok(())
    })
}

/// Read a table written by [`write_neurons`].
///
/// # Errors
/// A missing file, a wrong header, or a row with a wrong number of fields or an invalid value
/// (naming file and line).
pub fn read_neurons(path: &Path) -> Result<NeuronTable> {
    let (domains, rows) = read_table(path, &["neuron", "status", "active_fraction"], true)?;
    Ok(NeuronTable { domains, rows })
}

/// Both tables: a header starting with `head` (then extra columns if `extra`), rows
/// `neuron, group, fraction[, fractions...]`.
fn read_table(path: &Path, head: &[&str], extra: bool) -> Result<(Vec<String>, Vec<NeuronRow>)> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
    if header.len() < head.len()
        || header[..head.len()] != *head
        || (!extra && header.len() != head.len())
    {
        return Err(Error::parse(
            path,
            1,
            format!("expected the header `{}`", head.join("\t")),
        ));
    }
    let domains: Vec<String> = header[head.len()..].iter().map(|s| s.to_string()).collect();
    let mut rows = Vec::new();
    for (no, line) in lines.enumerate() {
        let line_no = no + 2;
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != header.len() {
            return Err(Error::parse(
                path,
                line_no,
                format!("{} fields, expected {}", f.len(), header.len()),
            ));
        }
        let bad = |what: &str, v: &str| Error::parse(path, line_no, format!("bad {what} `{v}`"));
        let frac = |v: &str| v.parse::<f64>().map_err(|_| bad("fraction", v));
        rows.push(NeuronRow {
            neuron: f[0].parse().map_err(|_| bad("neuron index", f[0]))?,
            status: f[1].parse().map_err(|_| bad("group", f[1]))?,
            active_fraction: frac(f[2])?,
            domain_fractions: f[3..].iter().map(|v| frac(v)).collect::<Result<_>>()?,
        });
    }
    Ok((domains, rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activations::TokenMatrix;
    use crate::coactivation::CoactivationParams;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("nb-files-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn acts() -> TokenMatrix {
        TokenMatrix::new(
            4,
            3,
            vec![
                1.0, 1.0, 0.0, //
                1.0, 0.0, 0.0, //
                1.0, 1.0, 0.0, //
                1.0, 0.0, 0.0,
            ],
        )
        .unwrap()
    }

    #[test]
    fn neurons_table_round_trips_with_domains() {
        let d = tmp("neurons");
        let params = CoactivationParams::default().binarize(Binarize::Positive);
        let (counts, dom) = params
            .count(&acts(), Some((&[0, 0, 1, 1], 2)), &mut |_| {})
            .unwrap();
        let (_, report) = params.graph(&counts).unwrap();
        let names = vec!["a".to_string(), "b".to_string()];
        let p = d.join("g.tsv.neurons.tsv");
        write_neurons(&p, &counts, &report, Some((dom.as_ref().unwrap(), &names))).unwrap();
        let t = read_neurons(&p).unwrap();
        assert_eq!(t.domains, names);
        assert_eq!(t.rows.len(), 3);
        assert_eq!(t.rows[0].status, NeuronGroup::Resident);
        assert_eq!(t.rows[1].status, NeuronGroup::Kept);
        assert_eq!(t.rows[1].active_fraction, 0.5);
        assert_eq!(t.rows[1].domain_fractions, vec![0.5, 0.5]);
        assert_eq!(t.rows[2].status, NeuronGroup::Dead);
        std::fs::write(&p, "neuron\tstatus\tactive_fraction\n0\tgone\t0.5\n").unwrap();
        let e = read_neurons(&p).unwrap_err().to_string();
        assert!(e.contains(":2") && e.contains("gone"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn shards_add_up_and_mismatched_rules_are_refused() {
        let d = tmp("shards");
        let params = CoactivationParams::default().binarize(Binarize::Positive);
        let (c, _) = params.count(&acts(), None, &mut |_| {}).unwrap();
        let (a, b) = (d.join("a.npy"), d.join("b.npy"));
        c.write_npy(&a, "positive", &["x".into()]).unwrap();
        c.write_npy(&b, "positive", &["y".into()]).unwrap();
        let m = merge_count_files(&[&a, &b]).unwrap();
        assert_eq!(m.counts.tokens(), 8);
        assert_eq!(m.counts.n_ij(0, 1), 4);
        assert_eq!(m.binarize, Binarize::Positive);
        assert_eq!(m.sources, vec!["x", "y"]);
        c.write_npy(&b, "topk:1", &[]).unwrap();
        let e = merge_count_files(&[&a, &b]).unwrap_err().to_string();
        assert!(e.contains("different rules"), "{e}");
        c.write_npy(&a, "quantile:0.5", &[]).unwrap();
        c.write_npy(&b, "quantile:0.5", &[]).unwrap();
        let e = merge_count_files(&[&a, &b]).unwrap_err().to_string();
        assert!(e.contains("cannot be added"), "{e}");
        assert!(merge_count_files::<&Path>(&[]).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
