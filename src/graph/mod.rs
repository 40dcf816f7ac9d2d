//! Undirected weighted graphs stored as symmetric CSR matrices, and their file formats.
//!
//! [`Graph`] keeps the adjacency as a [`sprs`] CSR matrix with `u32` column indices (both
//! directions of every edge stored, no diagonal), together with the original node ids so that
//! every output names nodes as the input did. Graphs are built straight from edge lists
//! ([`Graph::from_edges`]) without a dense intermediate.

pub(crate) mod io;
mod labels;

pub use io::{
    read_edge_list, read_edge_list_from, write_edge_list, write_edge_list_to, EdgeListOptions,
    Header,
};
pub use labels::{read_labels, write_labels, write_labels_to, Labels};

use crate::error::{Error, Result};
use petgraph::graph::{NodeIndex, UnGraph};
use rayon::prelude::*;

/// The CSR type used for adjacency matrices: `f64` values, `u32` indices, `usize` row pointers.
pub type Csr = sprs::CsMatI<f64, u32, usize>;

/// A 64-bit mixing function (the finaliser of SplitMix64): a fixed stand-in for a random hash.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Whether the CSR matrix `adj` (canonical: sorted rows, no repeated column) is symmetric in
/// structure and values, with finite values and no diagonal, in one streaming pass over the
/// arrays (O(nnz), memory-bound, rayon-parallel over rows).
///
/// Each entry `(i, j, w)` is hashed as the unordered pair `{i, j}` with the bits of `w` (`0.0`
/// and `-0.0` alike); upper-triangle hashes are added and lower-triangle ones subtracted, in two
/// independent 64-bit lanes, and the two triangles must have as many entries. In a canonical
/// matrix every pair appears at most once per triangle, so for an asymmetric matrix each lane's
/// sum is a non-empty ±1 combination of hashes of distinct pairs, which is zero for the mixed
/// hashes with probability about 2^-64: both lanes together miss an asymmetry with probability
/// about 2^-128. (An exact mirror search costs a cache miss per entry: 0.27 s on a 10 M-entry
/// matrix against ~0.03 s for this pass.) False for any defect found; [`Graph::from_csr`] then
/// searches for the first one to report it.
fn mirrored_in_one_pass(adj: &Csr) -> bool {
    const SEEDS: [u64; 4] = [
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    ];
    let ip = adj.proper_indptr();
    let (ix, data) = (adj.indices(), adj.data());
    let n = adj.rows();
    let folded = (0..n)
        .into_par_iter()
        .with_min_len(1024)
        .try_fold(
            || (0u64, 0u64, 0i64),
            |(mut h1, mut h2, mut balance), i| {
                for p in ip[i]..ip[i + 1] {
                    let (j, w) = (ix[p] as u64, data[p]);
                    if j == i as u64 || !w.is_finite() {
                        return None;
                    }
                    let (lo, hi) = if (i as u64) < j {
                        (i as u64, j)
                    } else {
                        (j, i as u64)
                    };
                    let key = (lo << 32) | hi;
                    let wb = if w == 0.0 { 0 } else { w.to_bits() };
                    let a = mix64(mix64(key ^ SEEDS[0]) ^ wb ^ SEEDS[1]);
                    let b = mix64(mix64(key ^ SEEDS[2]) ^ wb.rotate_left(17) ^ SEEDS[3]);
                    if (i as u64) < j {
                        (h1, h2, balance) = (h1.wrapping_add(a), h2.wrapping_add(b), balance + 1);
                    } else {
                        (h1, h2, balance) = (h1.wrapping_sub(a), h2.wrapping_sub(b), balance - 1);
                    }
                }
                Some((h1, h2, balance))
            },
        )
        .try_reduce(
            || (0, 0, 0),
            |x, y| Some((x.0.wrapping_add(y.0), x.1.wrapping_add(y.1), x.2 + y.2)),
        );
    folded == Some((0, 0, 0))
}

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
    ///
    /// ```
    /// use neurobricks::graph::{Duplicates, Graph};
    ///
    /// // A path 0 - 1 - 2; the pair (1, 0) repeats (0, 1) and is summed.
    /// let g = Graph::from_edges(3, &[(0, 1, 1.0), (1, 2, 2.0), (1, 0, 1.0)], Duplicates::Sum).unwrap();
    /// assert_eq!((g.n(), g.num_edges()), (3, 2));
    /// assert_eq!(g.neighbors(1), (&[0u32, 2][..], &[2.0, 2.0][..]));
    /// assert_eq!(g.ids(), &["0", "1", "2"]);
    /// ```
    pub fn from_edges(n: usize, edges: &[(u32, u32, f64)], dup: Duplicates) -> Result<Self> {
        Ok(Self::from_edges_counted(n, edges, dup)?.0)
    }

    /// As [`Graph::from_edges`], also returning the number of self-loops dropped.
    pub fn from_edges_counted(
        n: usize,
        edges: &[(u32, u32, f64)],
        dup: Duplicates,
    ) -> Result<(Self, usize)> {
        check_node_count(n)?;
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
        }
        let (adj, loops) = build_csr(n, edges, dup);
        let weighted = dup == Duplicates::Sum;
        let ids = (0..n).map(|i| i.to_string()).collect();
        Ok((Graph { adj, ids, weighted }, loops))
    }

    /// Build from the edge-list reader's blocks of endpoint pairs `[u0, v0, u1, v1, ...]`
    /// (all `< ids.len()`) with, for a weighted graph, one finite weight per edge: repeated
    /// pairs add up when weighted and are one edge otherwise. Returns the self-loops dropped.
    fn from_pair_blocks(
        ids: Vec<String>,
        ends: &[Vec<u32>],
        weights: Option<&[Vec<f64>]>,
    ) -> Result<(Self, usize)> {
        let n = ids.len();
        check_node_count(n)?;
        let dup = if weights.is_some() {
            Duplicates::Sum
        } else {
            Duplicates::One
        };
        let (adj, loops) = build_csr(n, &PairBlocks::new(ends, weights), dup);
        let weighted = weights.is_some();
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
        if mirrored_in_one_pass(&adj) {
            return Ok(Graph { adj, ids, weighted });
        }
        // Something is wrong: name the first offending entry in row order.
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

    /// The subgraph induced by `nodes` (distinct dense indices), with nodes renumbered in the
    /// given order and the original ids kept.
    ///
    /// # Complexity
    /// O(n + sum of degrees of `nodes`) work, parallel over blocks of rows (rayon); rows are
    /// sorted only when `nodes` is not increasing (an increasing renumbering keeps their order).
    pub fn induced_subgraph(&self, nodes: &[usize]) -> Graph {
        const ROWS: usize = 2048;
        let increasing = nodes.windows(2).all(|w| w[0] < w[1]);
        // The new index of a kept node: its rank among the kept nodes when `nodes` increases
        // (a bitset and per-word prefix counts, 1/20 of the size of a full index map, so its
        // random lookups stay in cache), else a map.
        let words = self.n().div_ceil(64);
        let mut bits = vec![0u64; words];
        for &i in nodes {
            bits[i / 64] |= 1 << (i % 64);
        }
        let mut before = Vec::with_capacity(words);
        let mut acc = 0u32;
        for w in &bits {
            before.push(acc);
            acc += w.count_ones();
        }
        let mut map = Vec::new();
        if !increasing {
            map = vec![u32::MAX; self.n()];
            for (k, &i) in nodes.iter().enumerate() {
                map[i] = k as u32;
            }
        }
        let is_kept = |j: usize| bits[j / 64] >> (j % 64) & 1 == 1;
        let new_index = |j: usize| {
            if increasing {
                before[j / 64] + (bits[j / 64] & ((1u64 << (j % 64)) - 1)).count_ones()
            } else {
                map[j]
            }
        };
        let kept = |i: usize| self.neighbors(i).0.iter().filter(|&&j| is_kept(j as usize));
        let counts: Vec<usize> = nodes.par_iter().map(|&i| kept(i).count()).collect();
        let mut indptr = Vec::with_capacity(nodes.len() + 1);
        indptr.push(0usize);
        for c in &counts {
            indptr.push(indptr.last().unwrap() + c);
        }
        let nnz = *indptr.last().unwrap();
        let (mut indices, mut data) = (vec![0u32; nnz], vec![0.0f64; nnz]);
        // One disjoint output slice per block of rows, filled in parallel.
        let mut blocks = Vec::with_capacity(nodes.len().div_ceil(ROWS));
        let (mut idx_rest, mut dat_rest) = (&mut indices[..], &mut data[..]);
        for b in (0..nodes.len()).step_by(ROWS) {
            let len = indptr[(b + ROWS).min(nodes.len())] - indptr[b];
            let (i0, i1) = std::mem::take(&mut idx_rest).split_at_mut(len);
            let (d0, d1) = std::mem::take(&mut dat_rest).split_at_mut(len);
            blocks.push((b, i0, d0));
            (idx_rest, dat_rest) = (i1, d1);
        }
        blocks.into_par_iter().for_each(|(b, idx, dat)| {
            let mut p = 0;
            // Branch-free compaction through a row buffer: whether a neighbour is kept is a
            // coin flip for the branch predictor (half the entries in a bisection).
            let (mut ri, mut rd) = (Vec::new(), Vec::new());
            for &i in &nodes[b..(b + ROWS).min(nodes.len())] {
                let (nb, w) = self.neighbors(i);
                ri.resize(nb.len() + 1, 0u32);
                rd.resize(nb.len() + 1, 0.0f64);
                let mut q = 0;
                for (&j, &wj) in nb.iter().zip(w) {
                    ri[q] = new_index(j as usize);
                    rd[q] = wj;
                    q += usize::from(is_kept(j as usize));
                }
                let start = p;
                idx[p..p + q].copy_from_slice(&ri[..q]);
                dat[p..p + q].copy_from_slice(&rd[..q]);
                p += q;
                if !increasing {
                    // Renumbering changed the column order: sort the row.
                    sort_and_combine(&mut idx[start..p], &mut dat[start..p], Duplicates::Sum);
                }
            }
        });
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

fn check_node_count(n: usize) -> Result<()> {
    if n > u32::MAX as usize {
        return Err(Error::Input(format!(
            "{n} nodes exceed the u32 index limit"
        )));
    }
    Ok(())
}

/// Undirected edges `(u, v, w)` indexed `0..num_edges()`. Rows of the CSR are filled in
/// index order, which fixes the summation order of repeated weighted pairs.
trait EdgeSource: Sync {
    /// Number of edges.
    fn num_edges(&self) -> usize;
    /// Call `f(u, v, w)` on the edges `start..end`, in order.
    fn for_each_edge_in<F: FnMut(u32, u32, f64)>(&self, start: usize, end: usize, f: F);
}

impl EdgeSource for [(u32, u32, f64)] {
    fn num_edges(&self) -> usize {
        self.len()
    }
    #[inline]
    fn for_each_edge_in<F: FnMut(u32, u32, f64)>(&self, start: usize, end: usize, mut f: F) {
        for &(u, v, w) in &self[start..end] {
            f(u, v, w);
        }
    }
}

/// Edges stored as flat endpoint pairs `[u0, v0, u1, v1, ...]` in consecutive blocks (the
/// edge-list reader's chunks), with one weight per edge in matching blocks, or weight 1.
struct PairBlocks<'a> {
    ends: &'a [Vec<u32>],
    weights: Option<&'a [Vec<f64>]>,
    /// Index of the first edge of each block, then the number of edges.
    starts: Vec<usize>,
}

impl<'a> PairBlocks<'a> {
    fn new(ends: &'a [Vec<u32>], weights: Option<&'a [Vec<f64>]>) -> Self {
        let mut starts = Vec::with_capacity(ends.len() + 1);
        let mut acc = 0usize;
        starts.push(0);
        for b in ends {
            acc += b.len() / 2;
            starts.push(acc);
        }
        PairBlocks {
            ends,
            weights,
            starts,
        }
    }
}

impl EdgeSource for PairBlocks<'_> {
    fn num_edges(&self) -> usize {
        *self.starts.last().unwrap()
    }
    #[inline]
    fn for_each_edge_in<F: FnMut(u32, u32, f64)>(&self, start: usize, end: usize, mut f: F) {
        let first = self
            .starts
            .partition_point(|&s| s <= start)
            .saturating_sub(1);
        for (b, ends) in self.ends.iter().enumerate().skip(first) {
            let s = self.starts[b];
            if s >= end {
                break;
            }
            let (lo, hi) = (start.max(s) - s, end.min(self.starts[b + 1]) - s);
            let pairs = ends[2 * lo..2 * hi].chunks_exact(2);
            match self.weights {
                None => pairs.for_each(|e| f(e[0], e[1], 1.0)),
                Some(ws) => pairs
                    .zip(&ws[b][lo..hi])
                    .for_each(|(e, &w)| f(e[0], e[1], w)),
            }
        }
    }
}

/// Build the symmetric CSR adjacency of undirected edges on `n` nodes (all endpoints `< n`,
/// all weights finite: checked by the callers). Returns the matrix and the number of
/// self-loops dropped.
///
/// Counting sort by row, parallel over t contiguous ranges of edges: each task counts its
/// entries per row; task `k` then writes its entries of row `i` right after those of tasks
/// `< k`, so every row is filled in edge order whatever the number of threads. Rows are then
/// sorted and their repeated columns combined (`dup`), in parallel over ranges of rows.
///
/// # Complexity
/// O(m log d + t n) time for average degree d, O(m + t n) memory with t <= m / n tasks.
fn build_csr<E: EdgeSource + ?Sized>(n: usize, edges: &E, dup: Duplicates) -> (Csr, usize) {
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
    let m = edges.num_edges();
    let sum = dup == Duplicates::Sum;
    // Per-task row arrays cost O(n) each: at most about m / n tasks.
    let tasks = rayon::current_num_threads().min(m / n.max(1)).max(1);
    let cuts: Vec<usize> = (0..=tasks).map(|t| t * m / tasks).collect();
    // 1. Entries per row and task.
    let counted: Vec<(Vec<usize>, usize)> = (0..tasks)
        .into_par_iter()
        .map(|t| {
            let mut deg = vec![0usize; n];
            let mut loops = 0usize;
            edges.for_each_edge_in(cuts[t], cuts[t + 1], |u, v, _| {
                if u == v {
                    loops += 1;
                } else {
                    deg[u as usize] += 1;
                    deg[v as usize] += 1;
                }
            });
            (deg, loops)
        })
        .collect();
    let loops = counted.iter().map(|c| c.1).sum();
    // 2. Row pointers; turn the counts into each task's write cursors.
    let mut cursors: Vec<Vec<usize>> = counted.into_iter().map(|c| c.0).collect();
    let mut indptr = Vec::with_capacity(n + 1);
    let mut pos = 0usize;
    indptr.push(0);
    for i in 0..n {
        for c in cursors.iter_mut() {
            let d = c[i];
            c[i] = pos;
            pos += d;
        }
        indptr.push(pos);
    }
    let nnz = pos;
    // 3. Fill. Tasks write disjoint slots; relaxed atomic stores are plain stores on common
    // targets and keep this safe code.
    let idx: Vec<AtomicU32> = (0..nnz)
        .into_par_iter()
        .map(|_| AtomicU32::new(0))
        .collect();
    let dat: Vec<AtomicU64> = if sum {
        (0..nnz)
            .into_par_iter()
            .map(|_| AtomicU64::new(0))
            .collect()
    } else {
        Vec::new()
    };
    cursors
        .into_par_iter()
        .enumerate()
        .for_each(|(t, mut cur)| {
            edges.for_each_edge_in(cuts[t], cuts[t + 1], |u, v, w| {
                if u == v {
                    return;
                }
                for (a, b) in [(u, v), (v, u)] {
                    let p = cur[a as usize];
                    cur[a as usize] = p + 1;
                    idx[p].store(b, Relaxed);
                    if sum {
                        dat[p].store(w.to_bits(), Relaxed);
                    }
                }
            });
        });
    let mut indices: Vec<u32> = idx.into_iter().map(AtomicU32::into_inner).collect();
    let mut data: Vec<f64> = dat
        .into_iter()
        .map(|x| f64::from_bits(x.into_inner()))
        .collect();
    // 4. Sort and combine each row, in parallel over ranges of rows of about equal entry counts.
    let parts = (4 * rayon::current_num_threads()).clamp(1, n.max(1));
    let bounds: Vec<usize> = (0..=parts)
        .map(|p| {
            if p == parts {
                n
            } else {
                indptr.partition_point(|&x| x < p * nnz / parts).min(n)
            }
        })
        .collect();
    let mut ranges = Vec::with_capacity(parts);
    {
        let (mut ri, mut rd): (&mut [u32], &mut [f64]) = (&mut indices, &mut data);
        for p in 0..parts {
            let (lo, hi) = (bounds[p], bounds[p + 1]);
            let len = indptr[hi] - indptr[lo];
            let (a, rest) = std::mem::take(&mut ri).split_at_mut(len);
            ri = rest;
            let (b, rest) = std::mem::take(&mut rd).split_at_mut(if sum { len } else { 0 });
            rd = rest;
            ranges.push((lo, hi, a, b));
        }
    }
    let lens: Vec<Vec<usize>> = ranges
        .into_par_iter()
        .map(|(lo, hi, idx, dat)| sort_rows(&indptr, lo, hi, idx, dat, dup))
        .collect();
    // 5. Compact away the combined duplicates.
    let mut new_ptr = Vec::with_capacity(n + 1);
    new_ptr.push(0usize);
    let mut acc = 0usize;
    for l in lens.iter().flatten() {
        acc += l;
        new_ptr.push(acc);
    }
    if acc != nnz {
        for p in 0..parts {
            let (lo, hi) = (bounds[p], bounds[p + 1]);
            let (src, dst, len) = (indptr[lo], new_ptr[lo], new_ptr[hi] - new_ptr[lo]);
            indices.copy_within(src..src + len, dst);
            if sum {
                data.copy_within(src..src + len, dst);
            }
        }
        indices.truncate(acc);
        data.truncate(acc);
    }
    if !sum {
        data = Vec::with_capacity(acc);
        data.par_extend(rayon::iter::repeat_n(1.0, acc));
    }
    (Csr::new((n, n), new_ptr, indices, data), loops)
}

/// Sort and combine rows `lo..hi`, whose entries are `idx` (and `dat` when summing weights),
/// moving each row down over the slots freed by earlier rows of the range. Returns the new row
/// lengths.
fn sort_rows(
    indptr: &[usize],
    lo: usize,
    hi: usize,
    idx: &mut [u32],
    dat: &mut [f64],
    dup: Duplicates,
) -> Vec<usize> {
    let base = indptr[lo];
    let mut lens = Vec::with_capacity(hi - lo);
    let mut w = 0usize;
    for i in lo..hi {
        let (s, e) = (indptr[i] - base, indptr[i + 1] - base);
        let len = if dup == Duplicates::Sum {
            sort_and_combine(&mut idx[s..e], &mut dat[s..e], dup)
        } else {
            let row = &mut idx[s..e];
            row.sort_unstable();
            dedup_sorted(row)
        };
        if w != s {
            idx.copy_within(s..s + len, w);
            if dup == Duplicates::Sum {
                dat.copy_within(s..s + len, w);
            }
        }
        w += len;
        lens.push(len);
    }
    lens
}

/// Remove repeated values from a sorted slice in place; returns the new length.
fn dedup_sorted(row: &mut [u32]) -> usize {
    if row.is_empty() {
        return 0;
    }
    let mut w = 1usize;
    for r in 1..row.len() {
        if row[r] != row[w - 1] {
            row[w] = row[r];
            w += 1;
        }
    }
    w
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
    use rand::Rng;
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

    /// A random edge list: `1..max_n` nodes, then `0..max_m` edges, each drawn by `edge`.
    fn random_edges<R: Rng>(
        rng: &mut R,
        max_n: usize,
        max_m: usize,
        mut edge: impl FnMut(&mut R, usize) -> (u32, u32, f64),
    ) -> (usize, Vec<(u32, u32, f64)>) {
        let n = rng.random_range(1..max_n);
        let m = rng.random_range(0..max_m);
        let edges = (0..m).map(|_| edge(rng, n)).collect();
        (n, edges)
    }

    #[test]
    fn csr_matches_naive_adjacency_on_random_edge_lists() {
        let mut rng = crate::util::rng_for(7, 0);
        for trial in 0..200 {
            let (n, edges) = random_edges(&mut rng, 40, 200, |rng, n| {
                (
                    rng.random_range(0..n as u32),
                    rng.random_range(0..n as u32),
                    rng.random_range(1..5) as f64,
                )
            });
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

    /// The CSR construction before the range-parallel builder (sequential fill in edge order,
    /// then per-row sort and combine), kept as a bit-exact reference.
    fn reference_csr(n: usize, edges: &[(u32, u32, f64)], dup: Duplicates) -> (Csr, usize) {
        let mut indptr = vec![0usize; n + 1];
        let mut loops = 0;
        for &(u, v, _) in edges {
            if u == v {
                loops += 1;
            } else {
                indptr[u as usize + 1] += 1;
                indptr[v as usize + 1] += 1;
            }
        }
        for i in 0..n {
            indptr[i + 1] += indptr[i];
        }
        let mut indices = vec![0u32; indptr[n]];
        let mut data = vec![0f64; indptr[n]];
        let mut fill = indptr.clone();
        for &(u, v, w) in edges {
            if u != v {
                for (a, b) in [(u, v), (v, u)] {
                    indices[fill[a as usize]] = b;
                    data[fill[a as usize]] = w;
                    fill[a as usize] += 1;
                }
            }
        }
        let (mut ptr, mut ind, mut dat) = (vec![0usize], Vec::new(), Vec::new());
        for i in 0..n {
            let (s, e) = (indptr[i], indptr[i + 1]);
            let len = sort_and_combine(&mut indices[s..e], &mut data[s..e], dup);
            ind.extend_from_slice(&indices[s..s + len]);
            dat.extend_from_slice(&data[s..s + len]);
            ptr.push(ind.len());
        }
        (Csr::new((n, n), ptr, ind, dat), loops)
    }

    #[test]
    fn builder_is_bit_identical_to_reference_for_any_thread_count() {
        let mut rng = crate::util::rng_for(11, 0);
        for trial in 0..60 {
            let (n, edges) = random_edges(&mut rng, 300, 3000, |rng, n| {
                let u = rng.random_range(0..n as u32);
                // Few distinct pairs: many repeats, whose float sums depend on order.
                let v = if rng.random::<f64>() < 0.05 {
                    u
                } else {
                    rng.random_range(0..(n as u32).min(12))
                };
                (u, v, rng.random::<f64>() * 10.0)
            });
            for dup in [Duplicates::Sum, Duplicates::One] {
                let (want, want_loops) = reference_csr(n, &edges, dup);
                for threads in [1, 2, 3, 7] {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .unwrap();
                    let (got, loops) = pool.install(|| build_csr(n, &edges[..], dup));
                    // The same edges as pair blocks of random sizes (the reader's layout).
                    let (mut ends, mut weights) = (vec![Vec::new()], vec![Vec::new()]);
                    for &(u, v, w) in &edges {
                        if rng.random_range(0..50) == 0 {
                            ends.push(Vec::new());
                            weights.push(Vec::new());
                        }
                        ends.last_mut().unwrap().extend([u, v]);
                        weights.last_mut().unwrap().push(w);
                    }
                    let ws = (dup == Duplicates::Sum).then_some(&weights[..]);
                    let (blocks, block_loops) =
                        pool.install(|| build_csr(n, &PairBlocks::new(&ends, ws), dup));
                    let bits = |c: &Csr| c.data().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    for (got, loops) in [(&got, loops), (&blocks, block_loops)] {
                        assert_eq!(loops, want_loops, "trial {trial}");
                        assert_eq!(got.indptr().raw_storage(), want.indptr().raw_storage());
                        assert_eq!(got.indices(), want.indices(), "trial {trial} {dup:?}");
                        assert_eq!(bits(got), bits(&want), "trial {trial} {dup:?} t={threads}");
                    }
                }
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

    /// The parallel induced subgraph equals its definition (an edge between two kept nodes,
    /// same weight, renumbered), for an increasing node list spanning several row blocks and
    /// for the same nodes shuffled (rows then sorted).
    #[test]
    fn induced_subgraph_keeps_exactly_the_inner_edges() {
        let h = crate::hsbm::HsbmParams::btsbm_log(2, 2200, vec![2.0, 5.0, 20.0], 3)
            .generate()
            .unwrap();
        let we: Vec<(u32, u32, f64)> = h
            .graph
            .edges()
            .map(|(i, j, _)| (i as u32, j as u32, 1.0 + ((i * 7 + j) % 5) as f64))
            .collect();
        let g = Graph::from_edges(h.graph.n(), &we, Duplicates::Sum).unwrap();
        let inc: Vec<usize> = (0..g.n()).filter(|i| (i * 2654435761) % 3 != 0).collect();
        assert!(inc.len() > 2 * 2048);
        let mut shuffled = inc.clone();
        shuffled.reverse();
        shuffled.swap(0, 1000);
        for nodes in [&inc, &shuffled] {
            let s = g.induced_subgraph(nodes);
            let pos: std::collections::HashMap<usize, usize> =
                nodes.iter().enumerate().map(|(k, &i)| (i, k)).collect();
            let mut want: Vec<(usize, usize, f64)> = g
                .edges()
                .filter_map(|(u, v, w)| Some((pos.get(&u)?, pos.get(&v)?, w)))
                .map(|(&a, &b, w)| (a.min(b), a.max(b), w))
                .collect();
            want.sort_by_key(|x| (x.0, x.1));
            let got: Vec<(usize, usize, f64)> = s.edges().collect();
            assert_eq!(got, want);
            let ids: Vec<String> = nodes.iter().map(|&i| g.ids()[i].clone()).collect();
            assert_eq!(s.ids(), &ids[..]);
            assert!(s.is_weighted());
        }
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
    fn one_pass_symmetry_check_agrees_with_searching_for_each_mirror() {
        let mut rng = crate::util::rng_for(11, 0);
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..400 {
            let n = rng.random_range(1..12usize);
            let mut tri = sprs::TriMatI::<f64, u32>::new((n, n));
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..rng.random_range(0..30usize) {
                let (i, j) = (rng.random_range(0..n), rng.random_range(0..n));
                if i == j && rng.random_range(0..8) != 0 {
                    continue;
                }
                let w =
                    [1.0, 2.0, f64::NAN][rng.random_range(0..3usize) * rng.random_range(0..2usize)];
                if seen.insert((i.min(j), i.max(j))) {
                    tri.add_triplet(i, j, w);
                    // Usually the mirror with the same value; sometimes none or another value.
                    match rng.random_range(0..10) {
                        0 => {}
                        1 => tri.add_triplet(j, i, w + 1.0),
                        _ if i != j => tri.add_triplet(j, i, w),
                        _ => {}
                    }
                }
            }
            let adj: Csr = tri.to_csr();
            let naive = adj.iter().all(|(&w, (i, j))| {
                i != j && w.is_finite() && adj.get(j as usize, i as usize) == Some(&w)
            });
            for threads in [1, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                assert_eq!(
                    pool.install(|| mirrored_in_one_pass(&adj)),
                    naive,
                    "{adj:?}"
                );
            }
            let ids = (0..n).map(|i| i.to_string()).collect();
            assert_eq!(Graph::from_csr(adj, ids, true).is_ok(), naive);
            if naive {
                accepted += 1;
            } else {
                refused += 1;
            }
        }
        assert!(accepted > 50 && refused > 50, "{accepted} / {refused}");
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
