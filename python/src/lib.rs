//! `neurobricks._native`: the thin PyO3 layer under the `neurobricks` Python package.
//!
//! Argument checking that needs NumPy/SciPy (shapes, dtypes, symmetry of a SciPy matrix) is done
//! in the pure-Python package; this module converts arrays, calls the library with the GIL
//! released ([`Python::detach`]) and maps library errors to Python exceptions. Every function
//! here is private API: the public names live in `neurobricks/__init__.py`.

// Python-facing functions take the keyword arguments of the Python API one by one.
#![allow(clippy::too_many_arguments)]

use neurobricks::activations::ffn::{load_inputs, FfnLayer};
use neurobricks::activations::{ArrayValues, BorrowedActivations, Layout, TokenMatrix};
use neurobricks::bricks::baselines::random_same_sizes;
use neurobricks::bricks::merge::mean_std;
use neurobricks::bricks::route::{budget_neurons, firing_rate, route_and_evaluate};
use neurobricks::bricks::{Bricks, Cut, EvalSet, RouteMetrics, Router, RouterModel};
use neurobricks::coactivation::{Binarize, Binarizer, CoactivationParams, Kernel, PairCounts};
use neurobricks::experiments::minilm::Tokens;
use neurobricks::graph::{read_edge_list, Csr, EdgeListOptions, Graph};
use neurobricks::hierarchy::{theory, BottomUp, Dendrogram, KEstimate, Regulariser, TopDown};
use neurobricks::hsbm::{EdgeProbs, HsbmParams, Sizes};
use neurobricks::plot::{DendrogramPlot, LeafClasses};
use neurobricks::{metrics, Error};
use numpy::ndarray::Array2;
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

/// CSR arrays handed to Python: indptr (int64), indices (int32), data (float64).
type CsrArrays<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i32>>,
    Bound<'py, PyArray1<f64>>,
);

/// Library error -> Python exception (`OSError` for I/O, `ValueError` otherwise), with `what`
/// (the Python argument concerned) in front of the message when given.
fn err(what: &str, e: Error) -> PyErr {
    let msg = if what.is_empty() {
        e.to_string()
    } else {
        format!("{what}: {e}")
    };
    match e {
        Error::Io { .. } => PyOSError::new_err(msg),
        _ => PyValueError::new_err(msg),
    }
}

// ---------------------------------------------------------------- graphs

/// CSR arrays (indptr int64, indices int32, data float64) -> a checked [`Graph`].
fn graph_from_csr(
    n: usize,
    indptr: &[i64],
    indices: &[i32],
    data: &[f64],
    names: Option<Vec<String>>,
    weighted: bool,
) -> PyResult<Graph> {
    use rayon::prelude::*;
    // Copies into the library's types; out-of-range values are refused by `try_new`.
    let ip: Vec<usize> = indptr.iter().map(|&x| x as usize).collect();
    let ix: Vec<u32> = indices.par_iter().map(|&x| x as u32).collect();
    let dv: Vec<f64> = data.par_iter().copied().collect();
    let csr = Csr::try_new((n, n), ip, ix, dv).map_err(|(_, _, _, e)| {
        PyValueError::new_err(format!("adjacency: not a valid CSR matrix: {e}"))
    })?;
    let ids = names.unwrap_or_else(|| (0..n).map(|i| i.to_string()).collect());
    Graph::from_csr(csr, ids, weighted).map_err(|e| err("adjacency", e))
}

fn graph_arrays<'py>(py: Python<'py>, g: &Graph) -> CsrArrays<'py> {
    let a = g.adjacency();
    let ip: Vec<i64> = a.proper_indptr().iter().map(|&x| x as i64).collect();
    let ix: Vec<i32> = a.indices().iter().map(|&x| x as i32).collect();
    (
        ip.into_pyarray(py),
        ix.into_pyarray(py),
        a.data().to_vec().into_pyarray(py),
    )
}

/// Read an edge list with the CLI's reader: (indptr, indices, data, names, weighted, self_loops).
#[pyfunction]
#[pyo3(signature = (path, unweighted=false))]
#[allow(clippy::type_complexity)]
fn read_edge_list_csr<'py>(
    py: Python<'py>,
    path: PathBuf,
    unweighted: bool,
) -> PyResult<(
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i32>>,
    Bound<'py, PyArray1<f64>>,
    Vec<String>,
    bool,
    usize,
)> {
    let opts = EdgeListOptions::default().ignore_weights(unweighted);
    let (g, rep) = py
        .detach(|| read_edge_list(&path, &opts))
        .map_err(|e| err("", e))?;
    let (ip, ix, d) = graph_arrays(py, &g);
    Ok((ip, ix, d, g.ids().to_vec(), g.is_weighted(), rep.self_loops))
}

/// A fitted or loaded dendrogram (private; wrapped by `neurobricks.Tree`).
#[pyclass(module = "neurobricks._native", name = "Dendrogram", frozen)]
struct PyDendrogram {
    d: Dendrogram,
}

#[pymethods]
impl PyDendrogram {
    /// Parse the CLI's tree JSON.
    #[staticmethod]
    fn from_json(s: &str) -> PyResult<Self> {
        Dendrogram::from_json(s, Path::new("<string>"))
            .map(|d| PyDendrogram { d })
            .map_err(|e| err("tree JSON", e))
    }
    /// Read a tree JSON file.
    #[staticmethod]
    fn read(path: PathBuf) -> PyResult<Self> {
        Dendrogram::read(&path)
            .map(|d| PyDendrogram { d })
            .map_err(|e| err("", e))
    }
    /// The tree JSON, exactly as the CLI writes it.
    fn to_json(&self) -> String {
        self.d.to_json()
    }
    /// Write the tree JSON atomically.
    fn write(&self, path: PathBuf) -> PyResult<()> {
        self.d.write(&path).map_err(|e| err("", e))
    }
    fn num_leaves(&self) -> usize {
        self.d.num_leaves()
    }
    fn node_ids(&self) -> Vec<String> {
        self.d.node_ids.clone()
    }
    fn method(&self) -> String {
        self.d.method.clone()
    }
    fn params_json(&self) -> String {
        self.d.params.to_string()
    }
    fn info_json(&self) -> String {
        self.d.info.to_string()
    }
    fn inversions(&self) -> usize {
        self.d.inversions()
    }
    /// SciPy linkage `(K-1) x 4` float64.
    fn linkage<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        let z = self.d.linkage_matrix();
        let flat: Vec<f64> = z.iter().flatten().copied().collect();
        Array2::from_shape_vec((z.len(), 4), flat)
            .expect("shape")
            .into_pyarray(py)
    }
    /// Merge similarities, in merge order.
    fn similarities<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        let s: Vec<f64> = self.d.merges.iter().map(|m| m.similarity).collect();
        s.into_pyarray(py)
    }
    /// Leaf of every node (-1: in no leaf, e.g. isolated).
    fn leaf_of_node<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        let mut out = vec![-1i64; self.d.node_ids.len()];
        for (a, leaf) in self.d.leaves.iter().enumerate() {
            for &m in leaf {
                out[m as usize] = a as i64;
            }
        }
        out.into_pyarray(py)
    }
    /// Cluster of each leaf for a cut into k clusters.
    fn cut_k<'py>(&self, py: Python<'py>, k: usize) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let c = self.d.cut_k(k).map_err(|e| err("", e))?;
        Ok(c.into_iter()
            .map(|x| x as i64)
            .collect::<Vec<_>>()
            .into_pyarray(py))
    }
    /// Cluster of each leaf for a cut at depth l.
    fn cut_depth<'py>(&self, py: Python<'py>, l: usize) -> Bound<'py, PyArray1<i64>> {
        self.d
            .cut_depth(l)
            .into_iter()
            .map(|x| x as i64)
            .collect::<Vec<_>>()
            .into_pyarray(py)
    }
    /// Depth of the deepest leaf.
    fn max_depth(&self) -> usize {
        let k = self.d.num_leaves();
        self.d.depths()[..k].iter().copied().max().unwrap_or(0)
    }
    /// Draw the tree to `path` (.png or .svg).
    #[pyo3(signature = (path, title=None, width=1000, height=600, cut=None, log=false, max_leaves=60, leaf_names=None, node_classes=None, class_names=None, rotate=false))]
    fn plot(
        &self,
        py: Python<'_>,
        path: PathBuf,
        title: Option<String>,
        width: u32,
        height: u32,
        cut: Option<usize>,
        log: bool,
        max_leaves: usize,
        leaf_names: Option<Vec<String>>,
        node_classes: Option<Vec<i64>>,
        class_names: Option<Vec<String>>,
        rotate: bool,
    ) -> PyResult<()> {
        let mut p = DendrogramPlot::default()
            .width(width)
            .height(height)
            .log(log)
            .max_leaves(max_leaves)
            .rotate(rotate);
        if let Some(t) = title {
            p = p.title(t);
        }
        if let Some(k) = cut {
            p = p.cut(k);
        }
        if let Some(n) = leaf_names {
            p = p.leaf_names(n);
        }
        if let Some(c) = node_classes {
            let nc: Vec<Option<u32>> = c
                .iter()
                .map(|&x| if x < 0 { None } else { Some(x as u32) })
                .collect();
            let m = nc.iter().flatten().max().map_or(0, |&x| x as usize + 1);
            let names = class_names.unwrap_or_else(|| (0..m).map(|i| i.to_string()).collect());
            let lc = LeafClasses::majority(&self.d, &nc, names, "class")
                .map_err(|e| err("node_classes", e))?;
            p = p.leaf_classes(lc);
        }
        let d = &self.d;
        py.detach(|| p.render(d, &path)).map_err(|e| err("", e))
    }
}

/// A graph handed over by the Python package: (n, indptr, indices, data, names, weighted).
type PyGraph<'py> = (
    usize,
    PyReadonlyArray1<'py, i64>,
    PyReadonlyArray1<'py, i32>,
    PyReadonlyArray1<'py, f64>,
    Option<Vec<String>>,
    bool,
);

/// Build the graph from CSR arrays and run `fit` on it with the GIL released; returns the dict
/// `{"tree", "info_json", "seconds", "build_seconds"}` (`seconds`: the fit alone,
/// `build_seconds`: the checked copy of the arrays into the library's graph).
fn fit_on_csr<'py, I: serde::Serialize + Send>(
    py: Python<'py>,
    graph: PyGraph<'py>,
    fit: impl FnOnce(&Graph) -> neurobricks::Result<(Dendrogram, I)> + Send,
) -> PyResult<Bound<'py, PyDict>> {
    let (n, indptr, indices, data, names, weighted) = graph;
    let (ip, ix, dv) = (indptr.as_slice()?, indices.as_slice()?, data.as_slice()?);
    let ((d, info), build, secs) = py.detach(|| -> PyResult<_> {
        let t0 = Instant::now();
        let g = graph_from_csr(n, ip, ix, dv, names, weighted)?;
        let build = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let res = fit(&g).map_err(|e| err("", e))?;
        Ok((res, build, t1.elapsed().as_secs_f64()))
    })?;
    let out = PyDict::new(py);
    let info = serde_json::to_value(&info).expect("serialisable");
    out.set_item("info_json", info.to_string())?;
    out.set_item("seconds", secs)?;
    out.set_item("build_seconds", build)?;
    out.set_item("tree", PyDendrogram { d })?;
    Ok(out)
}

/// Bottom-up fit; returns the dict of [`fit_on_csr`].
#[pyfunction]
#[pyo3(signature = (graph, k, k_max, seed, split, n_init, k_estimate="non-backtracking", regulariser="auto"))]
#[allow(clippy::too_many_arguments)]
fn bottom_up_fit<'py>(
    py: Python<'py>,
    graph: PyGraph<'py>,
    k: Option<usize>,
    k_max: usize,
    seed: u64,
    split: Option<f64>,
    n_init: usize,
    k_estimate: &str,
    regulariser: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let k_estimate = match k_estimate {
        "non-backtracking" => KEstimate::NonBacktracking,
        "bethe-hessian" => KEstimate::BetheHessian,
        other => {
            return Err(PyValueError::new_err(format!(
                "k_estimate: expected \"non-backtracking\" or \"bethe-hessian\", got {other:?}"
            )))
        }
    };
    let regulariser = match regulariser {
        "auto" => Regulariser::Auto,
        "fixed" => Regulariser::Fixed,
        "zeta-k" => Regulariser::ZetaK,
        "adaptive" => Regulariser::Adaptive,
        other => {
            return Err(PyValueError::new_err(format!(
            "regulariser: expected \"auto\", \"fixed\", \"zeta-k\" or \"adaptive\", got {other:?}"
        )))
        }
    };
    let est = BottomUp::new().k(k).k_max(k_max).seed(seed).split(split);
    let est = est
        .n_init(n_init)
        .k_estimate(k_estimate)
        .regulariser(regulariser);
    fit_on_csr(py, graph, |g| est.fit(g).map(|f| (f.dendrogram, f.info)))
}

/// Top-down fit; returns the dict of [`fit_on_csr`].
#[pyfunction]
#[pyo3(signature = (graph, tau, seed, min_size, max_depth, n_init))]
fn top_down_fit<'py>(
    py: Python<'py>,
    graph: PyGraph<'py>,
    tau: f64,
    seed: u64,
    min_size: usize,
    max_depth: Option<usize>,
    n_init: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let est = TopDown::new().tau(tau).seed(seed).min_size(min_size);
    let est = est.max_depth(max_depth).n_init(n_init);
    fit_on_csr(py, graph, |g| est.fit(g).map(|f| (f.dendrogram, f.info)))
}

/// Read an FFN layer file (safetensors with `ffn_in`, `w_in`, `b_in`, `w_out`, `b_out`, as
/// shipped in data/): dict of float32 arrays plus the activations GELU(x W_in^T + b_in).
#[pyfunction]
fn read_ffn_layer<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyDict>> {
    let (l, x, acts) = py
        .detach(|| -> neurobricks::Result<_> {
            let l = FfnLayer::load(&path)?;
            let x = load_inputs(&path, "ffn_in")?;
            let acts = l
                .activations(&x)
                .map_err(|e| Error::parse(&path, 0, e.to_string()))?;
            Ok((l, x, acts))
        })
        .map_err(|e| err("", e))?;
    let tm = |m: TokenMatrix| {
        Array2::from_shape_vec((m.rows, m.cols), m.data)
            .expect("shape")
            .into_pyarray(py)
    };
    let mat = |m: &faer::Mat<f32>| {
        Array2::from_shape_fn((m.nrows(), m.ncols()), |(i, j)| m[(i, j)]).into_pyarray(py)
    };
    let out = PyDict::new(py);
    out.set_item("ffn_in", tm(x))?;
    out.set_item("w_in", mat(&l.w_in))?;
    out.set_item("w_out", mat(&l.w_out))?;
    out.set_item("b_in", l.b_in.into_pyarray(py))?;
    out.set_item("b_out", l.b_out.into_pyarray(py))?;
    out.set_item("activations", tm(acts))?;
    Ok(out)
}

// ---------------------------------------------------------------- bricks

/// A 2-D float32 array (any strides) as a row-major token matrix.
fn token_matrix(what: &str, a: &PyReadonlyArray2<'_, f32>) -> PyResult<TokenMatrix> {
    let s = a.shape();
    TokenMatrix::new(s[0], s[1], a.as_array().iter().copied().collect()).map_err(|e| err(what, e))
}

/// An FFN layer built from NumPy weights (private; wrapped by `neurobricks.FfnLayer`).
#[pyclass(module = "neurobricks._native", name = "Ffn", frozen)]
struct PyFfn {
    l: FfnLayer,
}

#[pymethods]
impl PyFfn {
    /// `w_in [N, d]`, `b_in [N]`, `w_out [d, N]`, `b_out [d]`, float32 (shapes and finiteness
    /// checked by the library).
    #[new]
    fn new(
        w_in: PyReadonlyArray2<'_, f32>,
        b_in: PyReadonlyArray1<'_, f32>,
        w_out: PyReadonlyArray2<'_, f32>,
        b_out: PyReadonlyArray1<'_, f32>,
    ) -> PyResult<Self> {
        let mat = |a: &PyReadonlyArray2<'_, f32>| {
            let v = a.as_array();
            faer::Mat::from_fn(v.nrows(), v.ncols(), |i, j| v[[i, j]])
        };
        let vec = |a: &PyReadonlyArray1<'_, f32>| a.as_array().to_vec();
        FfnLayer::new(mat(&w_in), vec(&b_in), mat(&w_out), vec(&b_out))
            .map(|l| PyFfn { l })
            .map_err(|e| err("layer", e))
    }
    /// `W_out GELU(W_in x + b_in) + b_out` per token, `[T, d]`, GIL released.
    fn forward<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f32>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let x = token_matrix("x", &x)?;
        let y = py.detach(|| self.l.forward(&x)).map_err(|e| err("x", e))?;
        Ok(Array2::from_shape_vec((y.rows, y.cols), y.data)
            .expect("shape")
            .into_pyarray(py))
    }
}

/// A partition of a layer's neurons into bricks (private; wrapped by `neurobricks.Bricks`).
#[pyclass(module = "neurobricks._native", name = "Bricks", frozen)]
struct PyBricks {
    b: Bricks,
}

/// Metrics as JSON (their serde form: the field names of the CLI's `--json`; NaN as null).
fn metrics_json(m: &RouteMetrics) -> String {
    serde_json::to_string(m).expect("serialisable")
}

#[pymethods]
impl PyBricks {
    /// From a brick id per neuron (bricks numbered by ascending id); `set_aside`: the id of the
    /// dead/resident group, if any.
    #[staticmethod]
    #[pyo3(signature = (labels, set_aside=None))]
    fn from_labels(labels: PyReadonlyArray1<'_, u32>, set_aside: Option<u32>) -> PyResult<Self> {
        Bricks::from_labels(&labels.as_array().to_vec(), set_aside)
            .map(|b| PyBricks { b })
            .map_err(|e| err("labels", e))
    }
    /// From a cut of a brick dendrogram whose node ids are neuron indices (neurons in no leaf:
    /// the set-aside brick, last). `cut`: "leaves", "k", "depth" or "size" with `value` (k,
    /// depth or the largest size) and `min_size` (size cuts).
    #[staticmethod]
    #[pyo3(signature = (tree, n_neurons, cut, value=0, min_size=0))]
    fn from_tree(
        tree: &PyDendrogram,
        n_neurons: usize,
        cut: &str,
        value: usize,
        min_size: usize,
    ) -> PyResult<Self> {
        let c = match cut {
            "leaves" => Cut::Leaves,
            "k" => Cut::K(value),
            "depth" => Cut::Depth(value),
            "size" => Cut::Size {
                min: min_size,
                max: value,
            },
            _ => return Err(PyValueError::new_err(format!("cut: unknown cut `{cut}`"))),
        };
        Bricks::from_dendrogram(&tree.d, n_neurons, c)
            .map(|b| PyBricks { b })
            .map_err(|e| err("tree", e))
    }
    fn n_neurons(&self) -> usize {
        self.b.n_neurons
    }
    /// Neuron indices of each brick (sorted).
    fn members(&self) -> Vec<Vec<u32>> {
        self.b.members.clone()
    }
    /// Index of the set-aside brick, if any.
    fn set_aside(&self) -> Option<usize> {
        self.b.set_aside
    }
    /// Write every brick as the CLI's `bricks extract` files into `out`; returns the stale brick
    /// files of an earlier export that were removed.
    fn export(&self, py: Python<'_>, ffn: &PyFfn, out: PathBuf) -> PyResult<Vec<PathBuf>> {
        py.detach(|| self.b.export(&ffn.l, &out))
            .map_err(|e| err("", e))
    }
    /// Route the tokens `x` over the bricks (and over random same-size partitions, one per
    /// seed) at budget fraction `budget`; dict {"budget_neurons", "method": metrics JSON,
    /// "random": [metrics JSON per seed], "random_error_mean", "random_error_std" (sample sd, as
    /// the CLI's report)}. GIL released.
    #[pyo3(signature = (ffn, x, budget, router, m, degree, random_seeds))]
    fn route<'py>(
        &self,
        py: Python<'py>,
        ffn: &PyFfn,
        x: PyReadonlyArray2<'py, f32>,
        budget: f64,
        router: &str,
        m: usize,
        degree: Option<Vec<f64>>,
        random_seeds: Vec<u64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let router = match router {
            "oracle" => Router::Oracle,
            "oracle_density" => Router::OracleDensity,
            "centroid" => Router::Centroid,
            "representative" => Router::Representative { m },
            _ => {
                return Err(PyValueError::new_err(format!(
                    "router: unknown router `{router}` (oracle, oracle_density, centroid, representative)"
                )))
            }
        };
        let x = token_matrix("x", &x)?;
        let (l, b) = (&ffn.l, &self.b);
        l.check_inputs(&x).map_err(|e| err("x", e))?;
        let (n_budget, method, random) = py
            .detach(|| -> neurobricks::Result<_> {
                let n_budget = budget_neurons(budget, l.n_neurons)?;
                let ev = EvalSet::new(l, x)?;
                let deg = degree.unwrap_or_else(|| firing_rate(&ev.a));
                let run = |bb: &Bricks| -> neurobricks::Result<RouteMetrics> {
                    let model = RouterModel::fit(router, bb, l, &deg)?;
                    route_and_evaluate(l, bb, &model, &ev, budget)
                };
                let method = run(b)?;
                let random = random_seeds
                    .iter()
                    .map(|&s| run(&random_same_sizes(b, s)))
                    .collect::<neurobricks::Result<Vec<_>>>()?;
                Ok((n_budget, method, random))
            })
            .map_err(|e| err("", e))?;
        let out = PyDict::new(py);
        out.set_item("budget_neurons", n_budget)?;
        out.set_item("method", metrics_json(&method))?;
        out.set_item(
            "random",
            random.iter().map(metrics_json).collect::<Vec<_>>(),
        )?;
        let errs: Vec<f64> = random.iter().map(|m| m.rel_error).collect();
        let (mean, std) = mean_std(&errs);
        out.set_item("random_error_mean", mean)?;
        out.set_item("random_error_std", std)?;
        Ok(out)
    }
}

/// Read the token metadata of the shipped corpus (`ids`, `domain`, `window`, uint32).
#[pyfunction]
fn read_tokens<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyDict>> {
    let t = py.detach(|| Tokens::load(&path)).map_err(|e| err("", e))?;
    let out = PyDict::new(py);
    out.set_item("ids", t.ids.into_pyarray(py))?;
    out.set_item("domain", t.domain.into_pyarray(py))?;
    out.set_item("window", t.window.into_pyarray(py))?;
    Ok(out)
}

// ---------------------------------------------------------------- HSBM, theory, metrics

/// Sample an HSBM: (indptr, indices, data, leaf of each node, resolved p).
#[pyfunction]
#[pyo3(signature = (depth, branching, n, probs, log_degree, sizes, seed))]
#[allow(clippy::type_complexity)]
fn hsbm_sample<'py>(
    py: Python<'py>,
    depth: usize,
    branching: usize,
    n: usize,
    probs: Vec<f64>,
    log_degree: bool,
    sizes: Option<Vec<usize>>,
    seed: u64,
) -> PyResult<(
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i32>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<i64>>,
    Vec<f64>,
)> {
    let mut p = HsbmParams::btsbm_log(depth, 1, probs.clone(), seed);
    p.branching = branching;
    p.probs = if log_degree {
        EdgeProbs::LogDegree(probs)
    } else {
        EdgeProbs::P(probs)
    };
    p.sizes = match sizes {
        Some(s) => Sizes::Explicit(s),
        None => Sizes::Equal(n),
    };
    let h = py.detach(|| p.generate()).map_err(|e| err("", e))?;
    let (ip, ix, d) = graph_arrays(py, &h.graph);
    let leaf: Vec<i64> = h.leaf.iter().map(|&x| x as i64).collect();
    Ok((ip, ix, d, leaf.into_pyarray(py), h.probs))
}

/// Chernoff-Hellinger divergence per depth (bottom-up threshold).
#[pyfunction]
fn chernoff_hellinger(a: Vec<f64>, k: usize) -> PyResult<Vec<f64>> {
    theory::chernoff_hellinger(&a, k).map_err(|e| err("a", e))
}
/// Top-down divergence per depth.
#[pyfunction]
fn top_down_divergence(a: Vec<f64>) -> PyResult<Vec<f64>> {
    theory::top_down_divergence(&a).map_err(|e| err("a", e))
}
/// Bottom-up exact recovery per depth.
#[pyfunction]
fn bottom_up_recoverable(a: Vec<f64>) -> PyResult<Vec<bool>> {
    theory::bottom_up_recoverable(&a).map_err(|e| err("a", e))
}
/// Top-down exact recovery per depth.
#[pyfunction]
fn top_down_recoverable(a: Vec<f64>) -> PyResult<Vec<bool>> {
    theory::top_down_recoverable(&a).map_err(|e| err("a", e))
}

/// A partition metric by name on two label vectors (non-negative integers).
#[pyfunction]
fn metric(name: &str, a: Vec<usize>, b: Vec<usize>) -> PyResult<f64> {
    let f = match name {
        "ari" => metrics::adjusted_rand_index,
        "ami" => metrics::adjusted_mutual_info,
        "nmi" => metrics::normalized_mutual_info,
        "accuracy" => metrics::matched_accuracy,
        _ => return Err(PyValueError::new_err(format!("unknown metric `{name}`"))),
    };
    f(&a, &b).map_err(|e| err("labels", e))
}

// ---------------------------------------------------------------- co-activation counting

/// Binarisers live as long as the process, one per distinct rule, so a counter can hold a
/// `'static` reference (the library's streaming counter borrows its binariser).
fn binarizer_for(rule: Binarize) -> &'static Binarizer {
    static CACHE: OnceLock<Mutex<HashMap<String, &'static Binarizer>>> = OnceLock::new();
    let key = rule.to_string();
    let mut m = CACHE
        .get_or_init(Default::default)
        .lock()
        .expect("not poisoned");
    m.entry(key).or_insert_with(|| {
        Box::leak(Box::new(match rule {
            Binarize::Positive => Binarizer::Above(0.0),
            Binarize::Threshold(x) => Binarizer::Above(x),
            Binarize::TopK(k) => Binarizer::TopK(k),
            _ => unreachable!("checked by parse_rule"),
        }))
    })
}

/// Parse and resolve a rule for `n` neurons; quantile rules are refused (not additive).
fn parse_rule(rule: &str, n: usize) -> PyResult<Binarize> {
    let b: Binarize = rule.parse().map_err(|e| err("rule", e))?;
    b.validate(n).map_err(|e| err("rule", e))?;
    if !b.is_additive() {
        return Err(PyValueError::new_err(format!(
            "rule: `{rule}` is not additive over token batches (per-neuron quantiles need all tokens); use the CLI's one-shot counting for quantile rules"
        )));
    }
    Ok(b.resolve(n))
}

/// Streaming pair counter (private; wrapped by `neurobricks.CoactivationCounter`).
#[pyclass(module = "neurobricks._native", name = "Counter")]
struct PyCounter {
    n: usize,
    rule: Binarize,
    /// Counts already finished (from flushes, merges and loads).
    done: Option<PairCounts>,
    /// The live streaming counter, if tokens were pushed since the last flush.
    live: Option<neurobricks::coactivation::count::Counter<'static>>,
    /// Tokens pushed into `live`.
    live_tokens: u64,
}

impl PyCounter {
    fn flush(&mut self) -> PyResult<()> {
        if let Some(c) = self.live.take() {
            self.live_tokens = 0;
            let (pc, _) = c.finish();
            match self.done.as_mut() {
                Some(d) => d.add(&pc).map_err(|e| err("", e))?,
                None => self.done = Some(pc),
            }
        }
        Ok(())
    }
    fn total(&mut self) -> PyResult<PairCounts> {
        self.flush()?;
        Ok(self.done.clone().unwrap_or_else(|| {
            PairCounts::from_matrix(self.n, 0, vec![0; self.n * self.n]).expect("zeros")
        }))
    }
}

#[pymethods]
impl PyCounter {
    #[new]
    fn new(n: usize, rule: &str) -> PyResult<Self> {
        if n == 0 {
            return Err(PyValueError::new_err("n_neurons: must be at least 1"));
        }
        let rule = parse_rule(rule, n)?;
        Ok(PyCounter {
            n,
            rule,
            done: None,
            live: None,
            live_tokens: 0,
        })
    }

    /// The resolved rule string (as recorded in a counts shard).
    fn rule(&self) -> String {
        self.rule.to_string()
    }

    fn n_neurons(&self) -> usize {
        self.n
    }

    /// Tokens counted so far.
    fn tokens(&self) -> u64 {
        self.done.as_ref().map_or(0, |d| d.tokens()) + self.live_tokens
    }

    /// Count a 2-D float16/32/64 array (C or Fortran contiguous), GIL released.
    fn update(&mut self, py: Python<'_>, batch: &Bound<'_, PyAny>) -> PyResult<u64> {
        if let Ok(a) = batch.extract::<PyReadonlyArray2<'_, f32>>() {
            return self.update_typed(py, &a, ArrayValues::F32);
        }
        if let Ok(a) = batch.extract::<PyReadonlyArray2<'_, half::f16>>() {
            return self.update_typed(py, &a, ArrayValues::F16);
        }
        if let Ok(a) = batch.extract::<PyReadonlyArray2<'_, f64>>() {
            return self.update_typed(py, &a, ArrayValues::F64);
        }
        Err(PyTypeError::new_err(
            "batch: expected a 2-D float16, float32 or float64 array",
        ))
    }

    /// Finished counts: (tokens, N x N uint32 matrix).
    fn counts<'py>(&mut self, py: Python<'py>) -> PyResult<(u64, Bound<'py, PyArray2<u32>>)> {
        let pc = self.total()?;
        let m = Array2::from_shape_vec((self.n, self.n), pc.matrix().to_vec()).expect("shape");
        Ok((pc.tokens(), m.into_pyarray(py)))
    }

    /// Add another counter's counts (same neurons and rule).
    fn merge(&mut self, other: &Bound<'_, PyCounter>) -> PyResult<()> {
        let mut o = other
            .try_borrow_mut()
            .map_err(|_| PyValueError::new_err("other: cannot merge a counter into itself"))?;
        if o.n != self.n {
            return Err(PyValueError::new_err(format!(
                "other: counts over {} neurons cannot be merged into counts over {} neurons",
                o.n, self.n
            )));
        }
        if o.rule != self.rule {
            return Err(PyValueError::new_err(format!(
                "other: counts made with rule `{}` cannot be merged into counts made with `{}`",
                o.rule, self.rule
            )));
        }
        let oc = o.total()?;
        drop(o);
        self.flush()?;
        match self.done.as_mut() {
            Some(d) => d.add(&oc).map_err(|e| err("other", e)),
            None => {
                self.done = Some(oc);
                Ok(())
            }
        }
    }

    /// Replace the state by saved counts (used by load and unpickling).
    fn set_counts(&mut self, tokens: u64, matrix: PyReadonlyArray2<'_, u32>) -> PyResult<()> {
        let s = matrix.shape();
        if s != [self.n, self.n] {
            return Err(PyValueError::new_err(format!(
                "counts: expected a {0} x {0} matrix, got {1} x {2}",
                self.n, s[0], s[1]
            )));
        }
        let v = matrix.as_array().iter().copied().collect();
        let pc = PairCounts::from_matrix(self.n, tokens, v).map_err(|e| err("counts", e))?;
        self.live = None;
        self.live_tokens = 0;
        self.done = Some(pc);
        Ok(())
    }

    /// Read a counts shard written by `save` or by `neurobricks coactivation --counts-out`.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let (pc, meta) = py
            .detach(|| PairCounts::read_npy(&path))
            .map_err(|e| err("", e))?;
        let rule = parse_rule(&meta.binarize, pc.neurons()).map_err(|e| {
            PyValueError::new_err(format!(
                "{}: {e}",
                neurobricks::coactivation::count::sidecar(&path).display()
            ))
        })?;
        Ok(PyCounter {
            n: pc.neurons(),
            rule,
            done: Some(pc),
            live: None,
            live_tokens: 0,
        })
    }

    /// Save in the CLI's counts-shard format (`PATH` + `PATH.json`).
    #[pyo3(signature = (path, sources=Vec::new()))]
    fn save(&mut self, py: Python<'_>, path: PathBuf, sources: Vec<String>) -> PyResult<()> {
        let pc = self.total()?;
        let rule = self.rule.to_string();
        py.detach(|| pc.write_npy(&path, &rule, &sources))
            .map_err(|e| err("", e))
    }

    /// Build the co-activation graph: dict with CSR arrays, kept/dead/resident neurons, report.
    #[pyo3(signature = (weight, sparsify, resident))]
    fn graph<'py>(
        &mut self,
        py: Python<'py>,
        weight: &str,
        sparsify: &str,
        resident: f64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let w = weight.parse().map_err(|e| err("weight", e))?;
        let s = sparsify.parse().map_err(|e| err("sparsify", e))?;
        let params = CoactivationParams::default()
            .binarize(self.rule)
            .weight(w)
            .sparsify(s)
            .resident(resident);
        params.validate(self.n).map_err(|e| err("resident", e))?;
        let pc = self.total()?;
        let (g, r) = py.detach(|| params.graph(&pc)).map_err(|e| err("", e))?;
        let (ip, ix, d) = graph_arrays(py, &g);
        let out = PyDict::new(py);
        out.set_item("indptr", ip)?;
        out.set_item("indices", ix)?;
        out.set_item("data", d)?;
        out.set_item("kept", r.kept.clone())?;
        out.set_item("dead", r.dead.clone())?;
        out.set_item("resident", r.resident.clone())?;
        out.set_item("tokens", r.tokens)?;
        out.set_item("edges", r.edges)?;
        out.set_item("isolated", r.isolated)?;
        out.set_item("components", r.components)?;
        out.set_item("active_fraction", r.active_fraction)?;
        out.set_item("phi_threshold", r.phi_threshold)?;
        Ok(out)
    }
}

impl PyCounter {
    /// Count one contiguous batch: a parallel bit-level finite check of the whole batch first
    /// (a refused batch leaves the counts unchanged), then the library's overlapped pipeline
    /// (the next chunk decoded to f32 on another thread while the current one is counted; f16
    /// with the vectorised decoder of the `.npy` reader), as `neurobricks coactivation` does.
    fn update_typed<'a, T: numpy::Element + 'a>(
        &mut self,
        py: Python<'_>,
        a: &'a PyReadonlyArray2<'_, T>,
        values: impl FnOnce(&'a [T]) -> ArrayValues<'a>,
    ) -> PyResult<u64> {
        let s = a.shape();
        let (tokens, n) = (s[0], s[1]);
        if n != self.n {
            return Err(PyValueError::new_err(format!(
                "batch: has {n} neurons (columns), the counter counts {}",
                self.n
            )));
        }
        let layout = if a.is_c_contiguous() {
            Layout::RowMajor
        } else if a.is_fortran_contiguous() {
            Layout::ColumnMajor
        } else {
            return Err(PyValueError::new_err(
                "batch: must be C- or Fortran-contiguous (use numpy.ascontiguousarray)",
            ));
        };
        if tokens == 0 {
            return Ok(0);
        }
        // A contiguous array's buffer in memory order (as_slice refuses Fortran order).
        // SAFETY: the array is contiguous (checked above) and kept alive and read-only by `a`.
        let src: &'a [T] = unsafe { std::slice::from_raw_parts(a.data(), tokens * n) };
        let acts = BorrowedActivations::new(values(src), tokens, n, layout)
            .map_err(|e| err("batch", e))?;
        let rule = self.rule;
        let this = &mut *self;
        py.detach(move || -> PyResult<u64> {
            if this.live_tokens + tokens as u64 > u32::MAX as u64 {
                return Err(PyValueError::new_err(format!(
                    "batch: {tokens} more tokens would exceed the {} tokens one counter can hold (u32 counts); save this counter and start another",
                    u32::MAX
                )));
            }
            if let Some((t, i)) = acts.first_non_finite() {
                return Err(PyValueError::new_err(format!(
                    "batch: non-finite activation at token row {t}, neuron {i}"
                )));
            }
            if this.live.is_none() {
                this.live = Some(
                    neurobricks::coactivation::count::Counter::new(
                        n,
                        binarizer_for(rule),
                        Kernel::Auto,
                        None,
                    )
                    .map_err(|e| err("", e))?,
                );
            }
            let live = this.live.as_mut().expect("created above");
            // The CLI's chunks: whole 64-token words (each chunk starts on a fresh word of
            // the block), about 16 MB of f32.
            let ct = CoactivationParams::default().effective_chunk_tokens(n);
            let mut counted = 0u64;
            let r = live.push_source(&acts, ct, &mut |t| counted += t as u64);
            this.live_tokens += counted;
            r.map_err(|e| err("batch", e))?;
            Ok(tokens as u64)
        })
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyDendrogram>()?;
    m.add_class::<PyCounter>()?;
    m.add_class::<PyFfn>()?;
    m.add_class::<PyBricks>()?;
    m.add_function(wrap_pyfunction!(read_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(read_edge_list_csr, m)?)?;
    m.add_function(wrap_pyfunction!(bottom_up_fit, m)?)?;
    m.add_function(wrap_pyfunction!(top_down_fit, m)?)?;
    m.add_function(wrap_pyfunction!(read_ffn_layer, m)?)?;
    m.add_function(wrap_pyfunction!(hsbm_sample, m)?)?;
    m.add_function(wrap_pyfunction!(chernoff_hellinger, m)?)?;
    m.add_function(wrap_pyfunction!(top_down_divergence, m)?)?;
    m.add_function(wrap_pyfunction!(bottom_up_recoverable, m)?)?;
    m.add_function(wrap_pyfunction!(top_down_recoverable, m)?)?;
    m.add_function(wrap_pyfunction!(metric, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
