//! Loaders for the public real-world networks used in tests and examples (read from a folder
//! given by the caller, normally [`crate::experiments::shared_data_dir`]; nothing is downloaded).
//!
//! - SocioPatterns high-school contacts 2013 (Mastrandrea, Fournet & Barrat, PLoS ONE 2015):
//!   one node per student with a contact, one edge per pair with at least one 20-second
//!   contact, weight `ln(1 + number of contacts)`; ground truth = the 9 classes and their 4
//!   specialisations.
//! - UCTE European power grid (Schaub et al., PLoS ONE 2012): 2,783 nodes, 3,762 edges,
//!   unweighted, no ground truth.

use crate::error::{Error, Result};
use crate::graph::{read_edge_list, Duplicates, EdgeListOptions, Graph};
use crate::util::FxHashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// The high-school contact network with its ground truth.
#[derive(Debug, Clone)]
pub struct HighSchool {
    /// Weighted graph (node ids = student ids).
    pub graph: Graph,
    /// Class of each node (e.g. `MP*1`).
    pub class: Vec<String>,
    /// Specialisation of each node (the class without its trailing digits and stars:
    /// `2BIO`, `MP`, `PC`, `PSI`).
    pub specialisation: Vec<String>,
}

impl HighSchool {
    /// Class of each node as a code `0..9` (classes in sorted name order) and the sorted class
    /// names.
    pub fn class_codes(&self) -> (Vec<usize>, Vec<String>) {
        let mut names = self.class.clone();
        names.sort();
        names.dedup();
        let codes = self
            .class
            .iter()
            .map(|c| names.binary_search(c).expect("a listed class"))
            .collect();
        (codes, names)
    }

    /// The same contacts weighted by `ln(count)`, as the authors do (spec §5.7.1): the pairs with
    /// a single contact keep their edge with weight 0 (so they add nothing to `A` or `D`).
    ///
    /// # Errors
    /// None in practice (the edges come from a valid graph).
    pub fn ln_count_graph(&self) -> Result<Graph> {
        let e: Vec<(u32, u32, f64)> = self
            .graph
            .edges()
            .map(|(u, v, w)| (u as u32, v as u32, (w.exp() - 1.0).round().ln()))
            .collect();
        Graph::from_edges(self.graph.n(), &e, Duplicates::One)?.with_ids(self.graph.ids().to_vec())
    }
}

/// Specialisation of a class name: `2BIO3 -> 2BIO`, `MP*1 -> MP`, `PC* -> PC`, `PSI* -> PSI`.
pub fn specialisation(class: &str) -> String {
    class
        .trim_end_matches(|c: char| c.is_ascii_digit() || c == '*')
        .to_string()
}

/// Load `highschool-2013/` from `dir` (the gzip'd contact list and the metadata).
///
/// # Errors
/// Missing files, malformed lines (file and line named).
pub fn high_school(dir: &Path) -> Result<HighSchool> {
    let contacts = dir.join("highschool-2013/High-School_data_2013.csv.gz");
    let f = std::fs::File::open(&contacts).map_err(|e| Error::io(&contacts, e))?;
    let r = BufReader::new(flate2::read::GzDecoder::new(f));
    let mut ids: FxHashMap<String, u32> = FxHashMap::default();
    let mut names: Vec<String> = Vec::new();
    let mut class_of: FxHashMap<String, String> = FxHashMap::default();
    let mut counts: FxHashMap<(u32, u32), f64> = FxHashMap::default();
    for (i, line) in r.lines().enumerate() {
        let line = line.map_err(|e| Error::io(&contacts, e))?;
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.is_empty() {
            continue;
        }
        if t.len() != 5 {
            return Err(Error::parse(
                &contacts,
                i + 1,
                format!("expected `time i j class_i class_j`, got `{line}`"),
            ));
        }
        let mut id = |s: &str| -> u32 {
            if let Some(&x) = ids.get(s) {
                return x;
            }
            let x = names.len() as u32;
            names.push(s.to_string());
            ids.insert(s.to_string(), x);
            x
        };
        let (a, b) = (id(t[1]), id(t[2]));
        class_of.insert(t[1].to_string(), t[3].to_string());
        class_of.insert(t[2].to_string(), t[4].to_string());
        if a != b {
            *counts.entry((a.min(b), a.max(b))).or_insert(0.0) += 1.0;
        }
    }
    let mut edges: Vec<(u32, u32, f64)> = counts
        .into_iter()
        .map(|((a, b), c)| (a, b, (1.0f64 + c).ln()))
        .collect();
    edges.sort_by_key(|e| (e.0, e.1));
    let graph = Graph::from_edges(names.len(), &edges, Duplicates::Sum)?.with_ids(names.clone())?;
    let class: Vec<String> = names.iter().map(|n| class_of[n].clone()).collect();
    let specialisation = class.iter().map(|c| specialisation(c)).collect();
    Ok(HighSchool {
        graph,
        class,
        specialisation,
    })
}

/// Load the UCTE power grid edge list from `dir` (`powergrid-ucte/UCTE_edges.txt`).
pub fn power_grid(dir: &Path) -> Result<Graph> {
    let p = dir.join("powergrid-ucte/UCTE_edges.txt");
    Ok(read_edge_list(&p, &EdgeListOptions::default())?.0)
}
