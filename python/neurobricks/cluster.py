"""Hierarchical clustering of graphs: the bottom-up and top-down algorithms and their trees."""

from __future__ import annotations

import json
import os
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import scipy.sparse as sp

from . import _native
from ._checks import as_adjacency, check_float, check_int, check_names, csr_parts

__all__ = ["Tree", "BottomUp", "TopDown", "read_edge_list", "load_tree"]

PathLike = Union[str, "os.PathLike[str]"]


class Tree:
    """A dendrogram over communities ("leaves") of a graph's nodes, as written by
    ``neurobricks cluster --out tree.json``.

    Leaves are numbered ``0..K-1``; merge ``t`` creates cluster ``K + t`` (SciPy's
    convention). Load one with :meth:`Tree.load`, or get one from a fitted estimator's
    ``tree_``.
    """

    def __init__(self, native: Any) -> None:
        self._d = native

    @classmethod
    def load(cls, path: PathLike) -> "Tree":
        """Read a tree JSON file (the CLI's format); ValueError names the file on bad input."""
        return cls(_native.Dendrogram.read(os.fspath(path)))

    @classmethod
    def from_json(cls, text: str) -> "Tree":
        """Parse tree JSON text."""
        if not isinstance(text, str):
            raise TypeError(f"text: expected str, got {type(text).__name__}")
        return cls(_native.Dendrogram.from_json(text))

    def to_json(self) -> str:
        """The tree JSON, byte for byte what the CLI writes for the same tree."""
        return self._d.to_json()

    def save(self, path: PathLike) -> None:
        """Write the tree JSON to ``path`` (atomically), readable by every CLI command."""
        self._d.write(os.fspath(path))

    @property
    def n_leaves(self) -> int:
        """Number of leaves (communities) K."""
        return self._d.num_leaves()

    @property
    def names(self) -> List[str]:
        """Node names, in node order."""
        return self._d.node_ids()

    @property
    def method(self) -> str:
        """The algorithm that built the tree (``bottom-up`` or ``top-down``)."""
        return self._d.method()

    @property
    def params(self) -> Dict[str, Any]:
        """The parameters recorded in the tree JSON."""
        return json.loads(self._d.params_json())

    @property
    def info(self) -> Dict[str, Any]:
        """The diagnostics recorded in the tree JSON."""
        return json.loads(self._d.info_json())

    @property
    def linkage(self) -> np.ndarray:
        """SciPy linkage matrix, ``(K-1) x 4`` float64: ``[left, right, height, leaves below]``
        (accepted by ``scipy.cluster.hierarchy``: ``dendrogram``, ``fcluster``, ...)."""
        return self._d.linkage()

    @property
    def similarities(self) -> np.ndarray:
        """Similarity (edge density or weight between the merged clusters) of each merge."""
        return self._d.similarities()

    @property
    def inversions(self) -> int:
        """Merges whose similarity is lower than their parent's (0 for bottom-up trees)."""
        return self._d.inversions()

    @property
    def leaf_of_node(self) -> np.ndarray:
        """Leaf of every node (int64; -1 for a node in no leaf, e.g. an isolated node)."""
        return self._d.leaf_of_node()

    @property
    def max_depth(self) -> int:
        """Depth of the deepest leaf (edges from the root)."""
        return self._d.max_depth()

    def cut(self, k: int, leaves: bool = False) -> np.ndarray:
        """Cut into ``k`` clusters by undoing the last merges (``1 <= k <= K``).

        Returns the cluster of every node (int64, -1 for nodes in no leaf) or, with
        ``leaves=True``, of every leaf — the latter equals SciPy's
        ``fcluster(linkage, k, "maxclust")`` up to relabelling. Clusters are numbered by their
        smallest leaf."""
        k = check_int(k, "k", 1)
        if k > self.n_leaves:
            raise ValueError(f"k: cannot cut a tree with {self.n_leaves} leaves into {k} clusters")
        return self._expand(self._d.cut_k(k), leaves)

    def cut_depth(self, depth: int, leaves: bool = False) -> np.ndarray:
        """Cut at tree depth ``depth`` (the root is depth 0): the subtrees rooted at that depth.
        Per node (default) or per leaf, as in :meth:`cut`."""
        depth = check_int(depth, "depth", 0)
        return self._expand(self._d.cut_depth(depth), leaves)

    def _expand(self, per_leaf: np.ndarray, leaves: bool) -> np.ndarray:
        if leaves:
            return per_leaf
        lon = self.leaf_of_node
        out = np.full(lon.shape, -1, dtype=np.int64)
        ok = lon >= 0
        out[ok] = per_leaf[lon[ok]]
        return out

    def plot(self, path: PathLike, **kwargs: Any) -> None:
        """Draw the tree to a PNG or SVG file; see :func:`neurobricks.plot_dendrogram`."""
        from .plot import plot_dendrogram

        plot_dendrogram(self, path, **kwargs)

    def __repr__(self) -> str:
        return f"Tree(method={self.method!r}, n_leaves={self.n_leaves}, nodes={len(self.names)})"


def load_tree(path: PathLike) -> Tree:
    """Read a tree JSON file written by the CLI or by :meth:`Tree.save`."""
    return Tree.load(path)


def read_edge_list(path: PathLike, unweighted: bool = False) -> Tuple[sp.csr_matrix, List[str]]:
    """Read an edge list (``u v`` or ``u v w`` lines) with the CLI's reader.

    Returns the symmetric adjacency matrix (``scipy.sparse.csr_matrix``, float64) and the node
    names in node order (order of first appearance, as the CLI numbers them), so
    ``BottomUp().fit(A, names=names)`` sees the very graph ``neurobricks cluster`` sees."""
    ip, ix, d, names, _weighted, _loops = _native.read_edge_list_csr(os.fspath(path), bool(unweighted))
    n = len(names)
    return sp.csr_matrix((d, ix, ip), shape=(n, n)), names


class _Estimator:
    """Shared fitted-estimator attributes and methods."""

    tree_: Tree
    labels_: np.ndarray
    info_: Dict[str, Any]

    def _finish(self, res: Dict[str, Any], t_start: float, loops: int, weighted: bool) -> None:
        tree = Tree(res["tree"])
        self.tree_ = tree
        self.labels_ = tree.leaf_of_node
        self.linkage_ = tree.linkage
        self.similarities_ = tree.similarities
        self.n_clusters_ = tree.n_leaves
        self.inversions_ = tree.inversions
        info = json.loads(res["info_json"])
        info["fit_seconds"] = res["seconds"]
        info["graph_seconds"] = res["build_seconds"]
        info["total_seconds"] = time.perf_counter() - t_start
        info["self_loops_dropped"] = loops
        info["weighted"] = weighted
        self.info_ = info

    def _check_fitted(self) -> None:
        if not hasattr(self, "tree_"):
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet: call fit(adjacency) first")

    def cut(self, k: int) -> np.ndarray:
        """Cluster of every node for a cut of the fitted tree into ``k`` clusters (int64, -1 for
        isolated nodes); see :meth:`Tree.cut`."""
        self._check_fitted()
        return self.tree_.cut(k)

    def cut_depth(self, depth: int) -> np.ndarray:
        """Cluster of every node for a cut of the fitted tree at ``depth``; see
        :meth:`Tree.cut_depth`."""
        self._check_fitted()
        return self.tree_.cut_depth(depth)

    def save(self, path: PathLike) -> None:
        """Write the fitted tree as the CLI's tree JSON."""
        self._check_fitted()
        self.tree_.save(path)

    def fit_predict(self, adjacency: Any, names: Optional[Sequence[Any]] = None) -> np.ndarray:
        """``fit(adjacency, names).labels_``."""
        return self.fit(adjacency, names=names).labels_

    @staticmethod
    def _prepare(adjacency: Any, names: Optional[Sequence[Any]]):
        csr, loops = as_adjacency(adjacency, "adjacency")
        n = csr.shape[0]
        if csr.nnz == 0:
            raise ValueError(f"adjacency: the graph has {n} nodes but no edges: nothing to cluster")
        nm = check_names(names, n)
        ip, ix, d = csr_parts(csr)
        weighted = bool(d.size) and not bool(np.all(d == 1.0))
        return n, ip, ix, d, nm, weighted, loops


class BottomUp(_Estimator):
    """Bottom-up hierarchical community detection: Bethe-Hessian spectral clustering into
    ``n_clusters`` primitive communities, then average linkage on edge density (Dreveton,
    Kuroda, Grossglauser & Thiran, JASA 2026). Same algorithm, defaults and output as
    ``neurobricks cluster --method bottom-up``.

    Parameters
    ----------
    n_clusters : int or None
        Number of primitive communities K. None: estimated as the authors do (the eigenvalues
        of ``L_rho`` above ``1/sqrt(rho)``, ``rho`` the non-backtracking spectral radius; the
        default of ``neurobricks cluster``, ``--k-estimate non-backtracking``).
    split : float or None
        Graph splitting: the fraction q in (0, 1) of the edges used for the spectral step, the
        rest for the linkage. None: no split.
    seed : int
        Seed of every random choice (same seed, same tree).
    n_init : int
        k-means restarts.
    k_max : int
        Upper bound for an estimated K.
    k_estimate : str
        How K is estimated when ``n_clusters`` is None: ``"non-backtracking"`` (default; the
        authors' count with the non-backtracking spectral radius rho, i.e. the negative
        eigenvalues of H(sqrt(rho))) or ``"bethe-hessian"`` (negative eigenvalues of H(r),
        r = sqrt(sum d^2 / sum d - 1)). The CLI's ``--k-estimate``.
    regulariser : str
        ``"auto"`` (default: ``"fixed"`` when every edge weight is 1; otherwise both the
        ``"fixed"`` and the ``"zeta-k"`` partitions, keeping the one of higher weighted
        modularity), ``"fixed"`` (one r = sqrt(sum d^2 / sum d - 1) for all K eigenvectors
        of H(r)), ``"zeta-k"`` (one r = zeta_K, at which the K-th eigenvalue of H(r)
        vanishes) or ``"adaptive"`` (the authors' per-eigenvector r; slower). The CLI's
        ``--regulariser``.

    Attributes (after :meth:`fit`)
    ------------------------------
    labels_ : int64 array, primitive community of each node (-1 for isolated nodes)
    linkage_ : (K-1) x 4 float64 SciPy linkage over the communities
    similarities_ : similarity of each merge
    n_clusters_ : K
    inversions_ : 0 (average linkage is monotone)
    info_ : dict of diagnostics (eigensolver convergence, k-means, timings in seconds)
    tree_ : the :class:`Tree`
    """

    def __init__(
        self,
        n_clusters: Optional[int] = None,
        split: Optional[float] = None,
        seed: int = 0,
        *,
        n_init: int = 10,
        k_max: int = 1000,
        k_estimate: str = "non-backtracking",
        regulariser: str = "auto",
    ) -> None:
        self.n_clusters = n_clusters
        self.split = split
        self.seed = seed
        self.n_init = n_init
        self.k_max = k_max
        self.k_estimate = k_estimate
        self.regulariser = regulariser

    def fit(self, adjacency: Any, names: Optional[Sequence[Any]] = None) -> "BottomUp":
        """Fit on a symmetric, non-negative adjacency matrix (``scipy.sparse`` csr/csc/coo or a
        dense array); ``names`` are optional node names (default ``"0".."n-1"``). The GIL is
        released during the computation. Returns ``self``."""
        t0 = time.perf_counter()
        k = check_int(self.n_clusters, "n_clusters", 1, allow_none=True)
        split = check_float(self.split, "split", allow_none=True)
        if split is not None and not 0.0 < split < 1.0:
            raise ValueError(f"split: must be in (0, 1), got {split}")
        seed = check_int(self.seed, "seed", 0)
        n_init = check_int(self.n_init, "n_init", 1)
        k_max = check_int(self.k_max, "k_max", 1)
        n, ip, ix, d, nm, weighted, loops = self._prepare(adjacency, names)
        for value, name in ((self.k_estimate, "k_estimate"), (self.regulariser, "regulariser")):
            if not isinstance(value, str):
                raise TypeError(f"{name}: expected a string, got {type(value).__name__}")
        res = _native.bottom_up_fit(
            (n, ip, ix, d, nm, weighted), k, k_max, seed, split, n_init, self.k_estimate, self.regulariser
        )
        self._finish(res, t0, loops, weighted)
        return self

    def __repr__(self) -> str:
        return (
            f"BottomUp(n_clusters={self.n_clusters!r}, split={self.split!r}, seed={self.seed!r}, "
            f"n_init={self.n_init!r}, k_max={self.k_max!r}, k_estimate={self.k_estimate!r}, "
            f"regulariser={self.regulariser!r})"
        )


class TopDown(_Estimator):
    """Top-down hierarchical community detection: recursive spectral bisection (regularised
    Laplacian) with a Bethe-Hessian stopping rule (Dreveton et al., JASA 2026). Same algorithm,
    defaults and output as ``neurobricks cluster --method top-down``.

    Parameters
    ----------
    tau : float
        Regularisation (>= 0).
    seed : int
        Seed of every random choice.
    min_size : int
        Communities smaller than this are not split.
    max_depth : int or None
        Maximum tree depth (None: unlimited).
    n_init : int
        2-means restarts per split (the CLI's ``--n-init``, default 10).

    Attributes (after :meth:`fit`): as :class:`BottomUp`; ``inversions_`` counts merges whose
    similarity is below their parent's (top-down trees may have some).
    """

    def __init__(
        self,
        tau: float = 0.1,
        seed: int = 0,
        *,
        min_size: int = 2,
        max_depth: Optional[int] = None,
        n_init: int = 10,
    ) -> None:
        self.tau = tau
        self.seed = seed
        self.min_size = min_size
        self.max_depth = max_depth
        self.n_init = n_init

    def fit(self, adjacency: Any, names: Optional[Sequence[Any]] = None) -> "TopDown":
        """Fit on a symmetric, non-negative adjacency matrix (see :meth:`BottomUp.fit`).
        Returns ``self``."""
        t0 = time.perf_counter()
        tau = check_float(self.tau, "tau")
        if tau < 0:
            raise ValueError(f"tau: must be >= 0, got {tau}")
        seed = check_int(self.seed, "seed", 0)
        min_size = check_int(self.min_size, "min_size", 1)
        max_depth = check_int(self.max_depth, "max_depth", 0, allow_none=True)
        n_init = check_int(self.n_init, "n_init", 1)
        n, ip, ix, d, nm, weighted, loops = self._prepare(adjacency, names)
        res = _native.top_down_fit((n, ip, ix, d, nm, weighted), tau, seed, min_size, max_depth, n_init)
        self._finish(res, t0, loops, weighted)
        return self

    def __repr__(self) -> str:
        return (
            f"TopDown(tau={self.tau!r}, seed={self.seed!r}, min_size={self.min_size!r}, "
            f"max_depth={self.max_depth!r}, n_init={self.n_init!r})"
        )
