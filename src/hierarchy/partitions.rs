//! Partitions tables: several cuts of one dendrogram, expanded from leaves to graph nodes, with
//! their TSV form (the labels format of DESIGN.md §2: header `node<TAB>k2<TAB>k4...`, one row
//! per node in a leaf, the cluster of that node at each level).

use super::Dendrogram;
use crate::error::{Error, Result};
use crate::graph::{read_labels, write_labels, Labels};
use std::path::Path;

/// One cut of a dendrogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `k` clusters by decreasing merge similarity ([`Dendrogram::cut_k`]); column `k{k}`.
    K(usize),
    /// The subtrees rooted at depth `l` ([`Dendrogram::cut_depth`]); column `d{l}`.
    Depth(usize),
}

impl Level {
    /// The column name of the level in a partitions table (`k4`, `d2`).
    pub fn column(self) -> String {
        match self {
            Level::K(k) => format!("k{k}"),
            Level::Depth(l) => format!("d{l}"),
        }
    }

    /// The cluster of each leaf at this level.
    ///
    /// # Errors
    /// As [`Dendrogram::cut_k`] (`k` out of `1..=K`).
    pub fn cut(self, d: &Dendrogram) -> Result<Vec<u32>> {
        match self {
            Level::K(k) => d.cut_k(k),
            Level::Depth(l) => Ok(d.cut_depth(l)),
        }
    }
}

/// Node-level partitions of a dendrogram at several levels: one column per level, one row per
/// node that is in a leaf (nodes outside every leaf, e.g. isolated nodes left out of the
/// clustering, have no row), rows in leaf order then member order.
#[derive(Debug, Clone, PartialEq)]
pub struct Partitions {
    labels: Labels,
}

impl Partitions {
    /// Cut `d` at each of `levels`. Cost O(levels (K + n)).
    ///
    /// # Errors
    /// No level, or a level out of range (as [`Level::cut`]).
    ///
    /// ```
    /// use neurobricks::hierarchy::{Dendrogram, HeightMap, Level, Partitions};
    /// let ids: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
    /// // Leaves {a, b}, {c}, {d, e}; leaves 0 and 1 merge first.
    /// let d = Dendrogram::from_tree(ids, vec![vec![0, 1], vec![2], vec![3, 4]],
    ///     &[(0, 1, 0.9), (2, 3, 0.2)], HeightMap::OneMinus, "example").unwrap();
    /// let p = Partitions::cut(&d, &[Level::K(2), Level::K(3)]).unwrap();
    /// assert_eq!(p.labels().columns, ["k2", "k3"]);
    /// assert_eq!(p.labels().node_ids, ["a", "b", "c", "d", "e"]);
    /// assert_eq!(p.labels().codes, [vec![0, 0, 0, 1, 1], vec![0, 0, 1, 2, 2]]);
    /// let path = std::env::temp_dir().join(format!("nb-doc-parts-{}.tsv", std::process::id()));
    /// p.write(&path).unwrap();
    /// assert_eq!(std::fs::read_to_string(&path).unwrap(),
    ///     "node\tk2\tk3\na\t0\t0\nb\t0\t0\nc\t0\t1\nd\t1\t2\ne\t1\t2\n");
    /// assert_eq!(Partitions::read(&path).unwrap(), p);
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn cut(d: &Dendrogram, levels: &[Level]) -> Result<Self> {
        if levels.is_empty() {
            return Err(Error::param("levels", "give at least one level"));
        }
        let names = levels.iter().map(|l| l.column()).collect();
        let parts = levels
            .iter()
            .map(|l| l.cut(d))
            .collect::<Result<Vec<_>>>()?;
        Partitions::from_leaf_labels(d, names, &parts)
    }

    /// The table of per-leaf labelings `leaf_parts` (one per column `names`, each with one label
    /// per leaf of `d`), expanded to the nodes of the leaves.
    ///
    /// # Errors
    /// As many names as labelings are needed, and one label per leaf in each.
    pub fn from_leaf_labels(
        d: &Dendrogram,
        names: Vec<String>,
        leaf_parts: &[Vec<u32>],
    ) -> Result<Self> {
        let k = d.num_leaves();
        if let Some(bad) = leaf_parts.iter().position(|p| p.len() != k) {
            return Err(Error::Input(format!(
                "partition {bad} has {} labels for a tree of {k} leaves",
                leaf_parts[bad].len()
            )));
        }
        let mut ids = Vec::new();
        let mut parts: Vec<Vec<usize>> = vec![Vec::new(); leaf_parts.len()];
        for (a, leaf) in d.leaves.iter().enumerate() {
            for &m in leaf {
                ids.push(d.node_ids[m as usize].clone());
                for (c, p) in leaf_parts.iter().enumerate() {
                    parts[c].push(p[a] as usize);
                }
            }
        }
        Ok(Partitions {
            labels: Labels::from_partitions(names, ids, parts)?,
        })
    }

    /// The table as node labels (columns = levels).
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// The table as node labels, by value.
    pub fn into_labels(self) -> Labels {
        self.labels
    }

    /// Number of rows (nodes in a leaf).
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True if the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Write the TSV (atomically: a failed write leaves no partial file).
    pub fn write(&self, path: &Path) -> Result<()> {
        write_labels(&self.labels, path)
    }

    /// Read a partitions TSV (as [`read_labels`]: file and line named on errors).
    pub fn read(path: &Path) -> Result<Self> {
        Ok(Partitions {
            labels: read_labels(path)?,
        })
    }
}
