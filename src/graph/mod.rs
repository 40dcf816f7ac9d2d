//! Undirected weighted graphs stored as symmetric CSR matrices, and their file formats.
//!
//! [`Graph`] keeps the adjacency as a [`sprs`] CSR matrix with `u32` column indices (both
//! directions of every edge stored, no diagonal), together with the original node ids so that
//! every output names nodes as the input did. Graphs are built straight from edge lists
//! ([`Graph::from_edges`]) without a dense intermediate.

mod io;
mod labels;

pub use io::{read_edge_list, read_edge_list_from, write_edge_list, EdgeListOptions, Header};
pub use labels::{read_labels, write_labels, Labels};

use crate::error::{Error, Result};
use petgraph::graph::{NodeIndex, UnGraph};
use rayon::prelude::*;

/// The CSR type used for adjacency matrices: `f64` values, `u32` indices, `usize` row pointers.
pub type Csr = sprs::CsMatI<f64, u32, usize>;

/// How repeated node pairs in an edge list are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duplicates {
    /// Repeated pairs add up (weighted edge lists).
    Sum,
    /// A pair listed several times (e.g. in both directions) is one edge of weight 1.
    One,
}

/// An undirected, weighted graph without self-loops.
#[derive(Debug, Clone)]
pub struct Graph {
    adj: Csr,
    ids: Vec<String>,
    weighted: bool,
}

impl Graph {
    /// Build a graph on `n` nodes (named `0..n`) from undirected edges `(u, v, w)`.
    ///
    /// Self-loops are dropped (the count is returned by [`Graph::from_edges_counted`]); repeated
    /// pairs are combined by `dup`. Each row is sorted by column.
    ///
    /// # Complexity
    /// O(m log(m / n)) time with rayon-parallel row sorting, O(n + m) memory; no dense matrix.
    pub fn from_edges(n: usize, edges: &[(u32, u32, f64)], dup: Duplicates) -> Result<Self> {
        Ok(Self::from_edges_counted(n, edges, dup)?.0)
    }

    /// As [`Graph::from_edges`], also returning the number of self-loops dropped.
    pub fn from_edges_counted(
        n: usize,
        edges: &[(u32, u32, f64)],
        dup: Duplicates,
    ) -> Result<(Self, usize)> {
        if n > u32::MAX as usize {
            return Err(Error::Input(format!(
                "{n} nodes exceed the u32 index limit"
            )));
        }
        let mut deg = vec![0usize; n + 1];
        let mut loops = 0usize;
        for &(u, v, w) in edges {
            if u as usize >= n || v as usize >= n {
                return Err(Error::Input(format!(
                    "edge ({u}, {v}) refers to a node >= n = {n}"
                )));
            }
            if !w.is_finite() {
                return Err(Error::Input(format!(
                    "edge ({u}, {v}) has a non-finite weight {w}"
                )));
            }
            if u == v {
                loops += 1;
                continue;
            }
            deg[u as usize] += 1;
            deg[v as usize] += 1;
        }
        // Exclusive prefix sum into row pointers.
        let mut indptr = vec![0usize; n + 1];
        for i in 0..n {
            indptr[i + 1] = indptr[i] + deg[i];
        }
        let nnz = indptr[n];
        let mut indices = vec![0u32; nnz];
        let mut data = vec![0f64; nnz];
        let mut fill = indptr.clone();
        for &(u, v, w) in edges {
            if u == v {
                continue;
            }
            let (a, b) = (u as usize, v as usize);
            indices[fill[a]] = v;
            data[fill[a]] = w;
            fill[a] += 1;
            indices[fill[b]] = u;
            data[fill[b]] = w;
            fill[b] += 1;
        }
        drop(fill);
        // Sort each row and combine duplicates in place, in parallel over rows.
        let mut rows = split_rows(&indptr, &mut indices, &mut data);
        let new_len: Vec<usize> = rows
            .par_iter_mut()
            .map(|(idx, dat)| sort_and_combine(idx, dat, dup))
            .collect();
        drop(rows);
        // Compact.
        let mut new_ptr = vec![0usize; n + 1];
        for i in 0..n {
            new_ptr[i + 1] = new_ptr[i] + new_len[i];
        }
        if new_ptr[n] != nnz {
            let mut w = 0usize;
            for i in 0..n {
                let start = indptr[i];
                for k in 0..new_len[i] {
                    indices[w] = indices[start + k];
                    data[w] = data[start + k];
                    w += 1;
                }
            }
            indices.truncate(w);
            data.truncate(w);
        }
        let adj = Csr::new((n, n), new_ptr, indices, data);
        let weighted = dup == Duplicates::Sum;
        let ids = (0..n).map(|i| i.to_string()).collect();
        Ok((Graph { adj, ids, weighted }, loops))
    }

    /// Build from an existing symmetric CSR matrix (checked: square, symmetric structure and
    /// values, no diagonal, finite values).
    pub fn from_csr(adj: Csr, ids: Vec<String>, weighted: bool) -> Result<Self> {
        let (r, c) = adj.shape();
        if r != c {
            return Err(Error::Input(format!(
                "the adjacency matrix must be square, got {r} x {c}"
            )));
        }
        if ids.len() != r {
            return Err(Error::Input(format!(
                "{} node ids for {r} nodes",
                ids.len()
            )));
        }
        let adj = if adj.is_csr() { adj } else { adj.to_csr() };
        for (i, row) in adj.outer_iterator().enumerate() {
            for (j, &w) in row.iter() {
                if i == j {
                    return Err(Error::Input(format!("self-loop at node {}", ids[i])));
                }
                if !w.is_finite() {
                    return Err(Error::Input(format!(
                        "non-finite weight at ({}, {})",
                        ids[i], ids[j]
                    )));
                }
                if adj.get(j, i) != Some(&w) {
                    return Err(Error::Input(format!(
                        "the adjacency matrix is not symmetric at ({}, {})",
                        ids[i], ids[j]
                    )));
                }
            }
        }
        Ok(Graph { adj, ids, weighted })
    }

    /// Replace the node ids (must have one per node).
    pub fn with_ids(mut self, ids: Vec<String>) -> Result<Self> {
        if ids.len() != self.n() {
            return Err(Error::Input(format!(
                "{} node ids for {} nodes",
                ids.len(),
                self.n()
            )));
        }
        self.ids = ids;
        Ok(self)
    }

    /// Mark the graph as weighted or unweighted (affects only how it is written and reported).
    pub fn with_weighted(mut self, weighted: bool) -> Self {
        self.weighted = weighted;
        self
    }

    /// Number of nodes.
    pub fn n(&self) -> usize {
        self.adj.rows()
    }
    /// Number of undirected edges.
    pub fn num_edges(&self) -> usize {
        self.adj.nnz() / 2
    }
    /// Whether the graph came from a weighted edge list.
    pub fn is_weighted(&self) -> bool {
        self.weighted
    }
    /// The symmetric CSR adjacency matrix.
    pub fn adjacency(&self) -> &Csr {
        &self.adj
    }
    /// Original node ids, indexed by dense node index.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }
    /// Neighbours of node `i` and the weights of the edges to them, sorted by neighbour.
    #[inline]
    pub fn neighbors(&self, i: usize) -> (&[u32], &[f64]) {
        let p = self.adj.indptr();
        let r = p.outer_inds_sz(i);
        (&self.adj.indices()[r.clone()], &self.adj.data()[r])
    }
    /// Weighted degrees `d_i = sum_j A_ij`.
    pub fn degrees(&self) -> Vec<f64> {
        (0..self.n())
            .into_par_iter()
            .map(|i| self.neighbors(i).1.iter().sum())
            .collect()
    }
    /// Number of neighbours of each node.
    pub fn unweighted_degrees(&self) -> Vec<usize> {
        let p = self.adj.indptr();
        (0..self.n()).map(|i| p.outer_inds_sz(i).len()).collect()
    }
    /// Total edge weight `sum_{i<j} A_ij`.
    pub fn total_weight(&self) -> f64 {
        self.adj.data().par_iter().sum::<f64>() / 2.0
    }
    /// Iterate over undirected edges `(u, v, w)` with `u < v`.
    pub fn edges(&self) -> impl Iterator<Item = (usize, usize, f64)> + '_ {
        (0..self.n()).flat_map(move |i| {
            let (nb, w) = self.neighbors(i);
            nb.iter()
                .zip(w)
                .filter(move |(&j, _)| (j as usize) > i)
                .map(move |(&j, &w)| (i, j as usize, w))
        })
    }

    /// The subgraph induced by `nodes` (dense indices), with nodes renumbered in the given order
    /// and the original ids kept.
    ///
    /// # Complexity
    /// O(n + sum of degrees of `nodes`).
    pub fn induced_subgraph(&self, nodes: &[usize]) -> Graph {
        let n = self.n();
        let mut map = vec![u32::MAX; n];
        for (k, &i) in nodes.iter().enumerate() {
            map[i] = k as u32;
        }
        let mut indptr = Vec::with_capacity(nodes.len() + 1);
        indptr.push(0usize);
        let mut indices = Vec::new();
        let mut data = Vec::new();
        for &i in nodes {
            let (nb, w) = self.neighbors(i);
            for (&j, &wj) in nb.iter().zip(w) {
                let m = map[j as usize];
                if m != u32::MAX {
                    indices.push(m);
                    data.push(wj);
                }
            }
            // Renumbering can change the column order: sort the row.
            let start = *indptr.last().unwrap();
            let row_idx = &mut indices[start..];
            let row_dat = &mut data[start..];
            sort_and_combine(row_idx, row_dat, Duplicates::Sum);
            indptr.push(indices.len());
        }
        let k = nodes.len();
        let adj = Csr::new((k, k), indptr, indices, data);
        let ids = nodes.iter().map(|&i| self.ids[i].clone()).collect();
        Graph {
            adj,
            ids,
            weighted: self.weighted,
        }
    }

    /// Connected components: a component label per node (labels `0..c`, numbered in order of
    /// their smallest node) and the number of components. Isolated nodes are components of
    /// their own.
    ///
    /// # Complexity
    /// O(n + m) (iterative breadth-first search).
    pub fn connected_components(&self) -> (Vec<usize>, usize) {
        let n = self.n();
        let mut comp = vec![usize::MAX; n];
        let mut c = 0;
        let mut queue = Vec::new();
        for s in 0..n {
            if comp[s] != usize::MAX {
                continue;
            }
            comp[s] = c;
            queue.clear();
            queue.push(s);
            while let Some(u) = queue.pop() {
                for &v in self.neighbors(u).0 {
                    let v = v as usize;
                    if comp[v] == usize::MAX {
                        comp[v] = c;
                        queue.push(v);
                    }
                }
            }
            c += 1;
        }
        (comp, c)
    }

    /// Convert to a petgraph undirected graph (node weights = original ids, edge weights = w).
    pub fn to_petgraph(&self) -> UnGraph<String, f64> {
        let mut g = UnGraph::with_capacity(self.n(), self.num_edges());
        for id in &self.ids {
            g.add_node(id.clone());
        }
        for (u, v, w) in self.edges() {
            g.add_edge(NodeIndex::new(u), NodeIndex::new(v), w);
        }
        g
    }

    /// Build from a petgraph undirected graph; parallel edges add up, self-loops are dropped.
    pub fn from_petgraph(g: &UnGraph<String, f64>) -> Result<Self> {
        let edges: Vec<(u32, u32, f64)> = g
            .edge_indices()
            .map(|e| {
                let (a, b) = g.edge_endpoints(e).unwrap();
                (a.index() as u32, b.index() as u32, g[e])
            })
            .collect();
        let ids = g.node_indices().map(|i| g[i].clone()).collect();
        Graph::from_edges(g.node_count(), &edges, Duplicates::Sum)?.with_ids(ids)
    }

    /// Keep each undirected edge independently with probability `q` (a seeded coin per edge);
    /// returns `(kept, rest)`, two graphs on the same nodes whose edges partition this graph's.
    /// Used by the graph-splitting variant of the bottom-up algorithm.
    pub fn split_edges(&self, q: f64, seed: u64) -> (Graph, Graph) {
        use rand::Rng as _;
        let mut rng = crate::util::rng_for(seed, 0x5911_7000);
        let mut a = Vec::new();
        let mut b = Vec::new();
        for (u, v, w) in self.edges() {
            if rng.random::<f64>() < q {
                a.push((u as u32, v as u32, w));
            } else {
                b.push((u as u32, v as u32, w));
            }
        }
        let mk = |e: &[(u32, u32, f64)]| Graph {
            adj: Graph::from_edges(self.n(), e, Duplicates::Sum)
                .expect("valid edges")
                .adj,
            ids: self.ids.clone(),
            weighted: self.weighted,
        };
        (mk(&a), mk(&b))
    }
}

/// Split CSR arrays into per-row mutable slices.
fn split_rows<'a>(
    indptr: &[usize],
    mut indices: &'a mut [u32],
    mut data: &'a mut [f64],
) -> Vec<(&'a mut [u32], &'a mut [f64])> {
    let mut rows = Vec::with_capacity(indptr.len().saturating_sub(1));
    for w in indptr.windows(2) {
        let len = w[1] - w[0];
        let (a, rest_i) = indices.split_at_mut(len);
        let (b, rest_d) = data.split_at_mut(len);
        indices = rest_i;
        data = rest_d;
        rows.push((a, b));
    }
    rows
}

/// Sort a row by column and combine repeated columns; returns the new row length.
fn sort_and_combine(idx: &mut [u32], dat: &mut [f64], dup: Duplicates) -> usize {
    let len = idx.len();
    if len == 0 {
        return 0;
    }
    let sorted = idx.windows(2).all(|w| w[0] < w[1]);
    if !sorted {
        let mut pairs: Vec<(u32, f64)> = idx.iter().copied().zip(dat.iter().copied()).collect();
        pairs.sort_unstable_by_key(|p| p.0);
        for (k, (i, d)) in pairs.into_iter().enumerate() {
            idx[k] = i;
            dat[k] = d;
        }
    }
    let mut w = 0usize;
    for r in 0..len {
        if r > 0 && idx[r] == idx[w - 1] {
            match dup {
                Duplicates::Sum => dat[w - 1] += dat[r],
                Duplicates::One => dat[w - 1] = 1.0,
            }
        } else {
            idx[w] = idx[r];
            dat[w] = if dup == Duplicates::One { 1.0 } else { dat[r] };
            w += 1;
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng as _;
    use std::collections::BTreeMap;

    /// Naive reference: an ordered map of pairs.
    fn naive(
        n: usize,
        edges: &[(u32, u32, f64)],
        dup: Duplicates,
    ) -> BTreeMap<(usize, usize), f64> {
        let mut m = BTreeMap::new();
        for &(u, v, w) in edges {
            if u == v {
                continue;
            }
            for (a, b) in [(u as usize, v as usize), (v as usize, u as usize)] {
                let e = m.entry((a, b)).or_insert(0.0);
                match dup {
                    Duplicates::Sum => *e += w,
                    Duplicates::One => *e = 1.0,
                }
            }
        }
        assert!(m.keys().all(|&(a, b)| a < n && b < n));
        m
    }

    #[test]
    fn csr_matches_naive_adjacency_on_random_edge_lists() {
        let mut rng = crate::util::rng_for(7, 0);
        for trial in 0..200 {
            let n = rng.random_range(1..40usize);
            let m = rng.random_range(0..200usize);
            let edges: Vec<(u32, u32, f64)> = (0..m)
                .map(|_| {
                    (
                        rng.random_range(0..n as u32),
                        rng.random_range(0..n as u32),
                        rng.random_range(1..5) as f64,
                    )
                })
                .collect();
            for dup in [Duplicates::Sum, Duplicates::One] {
                let g = Graph::from_edges(n, &edges, dup).unwrap();
                let reference = naive(n, &edges, dup);
                let mut got = BTreeMap::new();
                for (i, row) in g.adjacency().outer_iterator().enumerate() {
                    let cols: Vec<usize> = row.iter().map(|(j, _)| j).collect();
                    assert!(
                        cols.windows(2).all(|w| w[0] < w[1]),
                        "trial {trial}: row {i} unsorted"
                    );
                    for (j, &w) in row.iter() {
                        got.insert((i, j), w);
                    }
                }
                assert_eq!(got, reference, "trial {trial} dup {dup:?}");
                assert_eq!(g.num_edges() * 2, reference.len());
            }
        }
    }

    #[test]
    fn degrees_components_and_subgraph() {
        // Two triangles joined by nothing, plus an isolated node 6.
        let e = [
            (0, 1, 1.0),
            (1, 2, 2.0),
            (0, 2, 1.0),
            (3, 4, 1.0),
            (4, 5, 1.0),
            (3, 5, 1.0),
        ];
        let g = Graph::from_edges(7, &e, Duplicates::Sum).unwrap();
        assert_eq!(g.degrees(), vec![2.0, 3.0, 3.0, 2.0, 2.0, 2.0, 0.0]);
        let (comp, c) = g.connected_components();
        assert_eq!(c, 3);
        assert_eq!(comp, vec![0, 0, 0, 1, 1, 1, 2]);
        let s = g.induced_subgraph(&[2, 1, 3]);
        assert_eq!(s.n(), 3);
        assert_eq!(s.num_edges(), 1);
        assert_eq!(s.ids(), &["2", "1", "3"]);
        assert_eq!(s.neighbors(0), (&[1u32][..], &[2.0][..]));
    }

    #[test]
    fn petgraph_round_trip() {
        let e = [(0, 1, 1.5), (1, 2, 2.0), (3, 0, 1.0)];
        let g = Graph::from_edges(5, &e, Duplicates::Sum).unwrap();
        let p = g.to_petgraph();
        assert_eq!(p.node_count(), 5);
        assert_eq!(p.edge_count(), 3);
        let back = Graph::from_petgraph(&p).unwrap();
        assert_eq!(back.adjacency(), g.adjacency());
        assert_eq!(back.ids(), g.ids());
    }

    #[test]
    fn self_loops_are_counted_and_dropped() {
        let (g, loops) =
            Graph::from_edges_counted(3, &[(0, 0, 1.0), (0, 1, 1.0), (2, 2, 1.0)], Duplicates::One)
                .unwrap();
        assert_eq!(loops, 2);
        assert_eq!(g.num_edges(), 1);
    }

    #[test]
    fn split_edges_partitions_the_edge_set() {
        let e: Vec<_> = (0..50u32)
            .flat_map(|i| (i + 1..50).map(move |j| (i, j, 1.0)))
            .collect();
        let g = Graph::from_edges(50, &e, Duplicates::One).unwrap();
        let (a, b) = g.split_edges(0.7, 3);
        assert_eq!(a.num_edges() + b.num_edges(), g.num_edges());
        let frac = a.num_edges() as f64 / g.num_edges() as f64;
        assert!((frac - 0.7).abs() < 0.05, "{frac}");
        let (a2, _) = g.split_edges(0.7, 3);
        assert_eq!(
            a.adjacency(),
            a2.adjacency(),
            "seeded split is reproducible"
        );
    }
}
