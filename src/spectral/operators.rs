//! Linear operators on graphs: adjacency, Bethe Hessian and (regularised) normalised Laplacian.

use crate::graph::Graph;
use rayon::prelude::*;

/// A symmetric linear operator `y = Op x` on vectors of length [`LinearOperator::dim`].
pub trait LinearOperator: Sync {
    /// Dimension `n` of the (square) operator.
    fn dim(&self) -> usize;
    /// `y <- Op x`.
    fn apply(&self, x: &[f64], y: &mut [f64]);
    /// `Y <- Op X` for a row-major block `X` of `b` columns (`n x b`). The default applies the
    /// operator column by column; graph operators override it with one pass over the matrix.
    fn apply_block(&self, x: &[f64], y: &mut [f64], b: usize) {
        let n = self.dim();
        let mut xc = vec![0.0; n];
        let mut yc = vec![0.0; n];
        for t in 0..b {
            for i in 0..n {
                xc[i] = x[i * b + t];
            }
            self.apply(&xc, &mut yc);
            for i in 0..n {
                y[i * b + t] = yc[i];
            }
        }
    }
    /// Dense matrix of the operator (column by column); for small problems and tests only.
    ///
    /// # Complexity
    /// O(n) applications, O(n^2) memory.
    fn to_dense(&self) -> nalgebra::DMatrix<f64> {
        let n = self.dim();
        let mut m = nalgebra::DMatrix::zeros(n, n);
        let mut e = vec![0.0; n];
        let mut y = vec![0.0; n];
        for j in 0..n {
            e[j] = 1.0;
            self.apply(&e, &mut y);
            e[j] = 0.0;
            m.column_mut(j).copy_from_slice(&y);
        }
        m
    }
}

/// Rows per rayon task in the sparse loops.
const ROW_CHUNK: usize = 2048;

/// `y_i = diag_i * x_i + scale * sum_j A_ij x_j`, parallel over rows.
#[inline]
fn diag_plus_scaled_adj(
    g: &Graph,
    diag: impl Fn(usize) -> f64 + Sync,
    scale: f64,
    x: &[f64],
    y: &mut [f64],
) {
    let adj = g.adjacency();
    let (ptr, idx, val) = (adj.indptr(), adj.indices(), adj.data());
    let ptr = ptr.raw_storage();
    y.par_chunks_mut(ROW_CHUNK).enumerate().for_each(|(c, ys)| {
        let base = c * ROW_CHUNK;
        for (k, yi) in ys.iter_mut().enumerate() {
            let i = base + k;
            let mut s = 0.0;
            for p in ptr[i]..ptr[i + 1] {
                s += val[p] * x[idx[p] as usize];
            }
            *yi = diag(i) * x[i] + scale * s;
        }
    });
}

/// Block version: `Y_i = diag_i X_i + scale * sum_j A_ij X_j` for row-major `n x b` blocks,
/// one pass over the sparse matrix for all `b` columns.
#[inline]
fn block_diag_plus_scaled_adj(
    g: &Graph,
    diag: impl Fn(usize) -> f64 + Sync,
    scale: f64,
    x: &[f64],
    y: &mut [f64],
    b: usize,
) {
    let adj = g.adjacency();
    let (ptr, idx, val) = (adj.indptr(), adj.indices(), adj.data());
    let ptr = ptr.raw_storage();
    let rows = (ROW_CHUNK / 8).max(64);
    y.par_chunks_mut(rows * b).enumerate().for_each(|(c, ys)| {
        let base = c * rows;
        for (k, yi) in ys.chunks_exact_mut(b).enumerate() {
            let i = base + k;
            yi.fill(0.0);
            for p in ptr[i]..ptr[i + 1] {
                let w = val[p];
                let j = idx[p] as usize;
                let xj = &x[j * b..(j + 1) * b];
                for (a, &v) in yi.iter_mut().zip(xj) {
                    *a += w * v;
                }
            }
            let di = diag(i);
            let xi = &x[i * b..(i + 1) * b];
            for (a, &v) in yi.iter_mut().zip(xi) {
                *a = di * v + scale * *a;
            }
        }
    });
}

/// The adjacency matrix `A` of a graph.
pub struct Adjacency<'a>(pub &'a Graph);

impl LinearOperator for Adjacency<'_> {
    fn dim(&self) -> usize {
        self.0.n()
    }
    fn apply(&self, x: &[f64], y: &mut [f64]) {
        diag_plus_scaled_adj(self.0, |_| 0.0, 1.0, x, y);
    }
    fn apply_block(&self, x: &[f64], y: &mut [f64], b: usize) {
        block_diag_plus_scaled_adj(self.0, |_| 0.0, 1.0, x, y, b);
    }
}

/// The Bethe Hessian `H(r) = (r^2 - 1) I - r A + D` (Saade, Krzakala & Zdeborová, NIPS 2014).
///
/// Its negative eigenvalues count the communities detectable in a sparse graph, and the
/// eigenvectors of its smallest eigenvalues carry the community structure.
pub struct BetheHessian<'a> {
    graph: &'a Graph,
    degrees: Vec<f64>,
    r: f64,
}

impl<'a> BetheHessian<'a> {
    /// `H(r)` of `graph` for a given `r` (weighted degrees when the graph is weighted).
    pub fn new(graph: &'a Graph, r: f64) -> Self {
        BetheHessian {
            degrees: graph.degrees(),
            graph,
            r,
        }
    }
    /// `H(r)` with the standard choice `r = sqrt(sum d_i^2 / sum d_i - 1)` ([`bethe_hessian_r`]).
    pub fn standard(graph: &'a Graph) -> Self {
        let degrees = graph.degrees();
        let r = bethe_hessian_r(&degrees);
        BetheHessian { graph, degrees, r }
    }
    /// The `r` in use.
    pub fn r(&self) -> f64 {
        self.r
    }
    /// An upper bound on the largest eigenvalue (Gershgorin): `max_i (r^2 - 1 + d_i + r d_i)`.
    pub fn gershgorin_upper(&self) -> f64 {
        let r = self.r;
        self.degrees
            .iter()
            .fold(r * r - 1.0, |m, &d| m.max(r * r - 1.0 + d + r * d))
    }
}

/// `r = sqrt(sum d_i^2 / sum d_i - 1)`, the square root of the non-backtracking spectral radius
/// estimate (Saade et al. 2014); clamped to at least 1 (where `H(1) = D - A` is the Laplacian).
pub fn bethe_hessian_r(degrees: &[f64]) -> f64 {
    let s1: f64 = degrees.iter().sum();
    let s2: f64 = degrees.iter().map(|d| d * d).sum();
    if s1 <= 0.0 {
        return 1.0;
    }
    (s2 / s1 - 1.0).max(1.0).sqrt()
}

impl LinearOperator for BetheHessian<'_> {
    fn dim(&self) -> usize {
        self.graph.n()
    }
    fn apply(&self, x: &[f64], y: &mut [f64]) {
        let c = self.r * self.r - 1.0;
        let d = &self.degrees;
        diag_plus_scaled_adj(self.graph, |i| c + d[i], -self.r, x, y);
    }
    fn apply_block(&self, x: &[f64], y: &mut [f64], b: usize) {
        let c = self.r * self.r - 1.0;
        let d = &self.degrees;
        block_diag_plus_scaled_adj(self.graph, |i| c + d[i], -self.r, x, y, b);
    }
}

/// The (optionally regularised) normalised Laplacian
/// `L_tau = I - D_tau^{-1/2} A_tau D_tau^{-1/2}` with `A_tau = A + (tau dbar / n) 1 1^T` and
/// `D_tau` its degrees (Amini, Chen, Bickel & Levina, Ann. Statist. 2013; as used by the
/// top-down algorithm of Li et al., JASA 2022). `tau = 0` gives the plain normalised Laplacian
/// (isolated nodes then get a zero row).
pub struct NormalizedLaplacian<'a> {
    graph: &'a Graph,
    inv_sqrt_deg: Vec<f64>,
    /// The constant `tau dbar / n` added to every entry of `A`.
    reg: f64,
}

impl<'a> NormalizedLaplacian<'a> {
    /// Build `L_tau` for `graph`.
    pub fn new(graph: &'a Graph, tau: f64) -> Self {
        let n = graph.n();
        let deg = graph.degrees();
        let dbar = if n > 0 {
            deg.iter().sum::<f64>() / n as f64
        } else {
            0.0
        };
        let reg = if n > 0 { tau * dbar / n as f64 } else { 0.0 };
        let inv_sqrt_deg = deg
            .iter()
            .map(|&d| {
                let dt = d + reg * n as f64;
                if dt > 0.0 {
                    1.0 / dt.sqrt()
                } else {
                    0.0
                }
            })
            .collect();
        NormalizedLaplacian {
            graph,
            inv_sqrt_deg,
            reg,
        }
    }
}

impl LinearOperator for NormalizedLaplacian<'_> {
    fn dim(&self) -> usize {
        self.graph.n()
    }
    fn apply(&self, x: &[f64], y: &mut [f64]) {
        let s = &self.inv_sqrt_deg;
        let z: Vec<f64> = x.par_iter().zip(s.par_iter()).map(|(a, b)| a * b).collect();
        let tot: f64 = z.par_iter().sum::<f64>() * self.reg;
        // y = x - S (A z + reg * (1^T z) 1)
        diag_plus_scaled_adj(self.graph, |_| 0.0, 1.0, &z, y);
        y.par_iter_mut()
            .zip(x.par_iter())
            .zip(s.par_iter())
            .for_each(|((yi, xi), si)| {
                *yi = xi - si * (*yi + tot);
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Duplicates;

    fn path4() -> Graph {
        Graph::from_edges(4, &[(0, 1, 1.0), (1, 2, 2.0), (2, 3, 1.0)], Duplicates::Sum).unwrap()
    }

    #[test]
    fn operators_match_their_dense_definitions() {
        let g = path4();
        let a = Adjacency(&g).to_dense();
        let d = nalgebra::DMatrix::from_diagonal(&nalgebra::DVector::from_vec(g.degrees()));
        let r = 1.7;
        let h = BetheHessian::new(&g, r).to_dense();
        let want = nalgebra::DMatrix::identity(4, 4) * (r * r - 1.0) - &a * r + &d;
        assert!((h - want).norm() < 1e-12);
        let tau = 0.1;
        let l = NormalizedLaplacian::new(&g, tau).to_dense();
        let dbar = g.degrees().iter().sum::<f64>() / 4.0;
        let at = a.map(|x| x + tau * dbar / 4.0);
        let dt: Vec<f64> = (0..4).map(|i| at.row(i).sum()).collect();
        let s = nalgebra::DMatrix::from_diagonal(&nalgebra::DVector::from_iterator(
            4,
            dt.iter().map(|x| 1.0 / x.sqrt()),
        ));
        let want = nalgebra::DMatrix::identity(4, 4) - &s * at * &s;
        assert!((l - want).norm() < 1e-12);
    }

    #[test]
    fn block_apply_equals_column_apply() {
        let h = crate::hsbm::HsbmParams::btsbm_log(2, 40, vec![2.0, 5.0, 20.0], 3)
            .generate()
            .unwrap();
        let g = &h.graph;
        let n = g.n();
        let b = 5;
        let x: Vec<f64> = (0..n * b).map(|i| ((i * 7919) % 13) as f64 - 6.0).collect();
        let ops: Vec<Box<dyn LinearOperator>> = vec![
            Box::new(Adjacency(g)),
            Box::new(BetheHessian::standard(g)),
            Box::new(NormalizedLaplacian::new(g, 0.1)),
        ];
        for op in &ops {
            let mut fast = vec![0.0; n * b];
            op.apply_block(&x, &mut fast, b);
            let mut xc = vec![0.0; n];
            let mut yc = vec![0.0; n];
            for t in 0..b {
                (0..n).for_each(|i| xc[i] = x[i * b + t]);
                op.apply(&xc, &mut yc);
                for i in 0..n {
                    assert!((fast[i * b + t] - yc[i]).abs() < 1e-12 * (1.0 + yc[i].abs()));
                }
            }
        }
    }

    #[test]
    fn bethe_r_is_the_degree_ratio() {
        assert!((bethe_hessian_r(&[1.0, 2.0, 3.0]) - (14.0f64 / 6.0 - 1.0).sqrt()).abs() < 1e-15);
        assert_eq!(bethe_hessian_r(&[0.0, 0.0]), 1.0);
        assert_eq!(bethe_hessian_r(&[1.0, 1.0]), 1.0);
    }
}
