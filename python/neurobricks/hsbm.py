"""Hierarchical stochastic block models, their exact-recovery thresholds, and partition metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence

import numpy as np
import scipy.sparse as sp

from . import _native
from ._checks import check_int

__all__ = [
    "Hsbm",
    "hsbm",
    "ch",
    "td",
    "bottom_up_recoverable",
    "top_down_recoverable",
    "adjusted_rand_index",
    "adjusted_mutual_info",
    "normalized_mutual_info",
    "matched_accuracy",
]


@dataclass
class Hsbm:
    """A sampled HSBM: ``adjacency`` (symmetric 0/1 ``csr_matrix``), ``leaf`` (primitive
    community of each node, ``0..K-1``), tree ``depth`` and ``branching``, and the resolved edge
    probabilities ``probs[l]`` for node pairs whose lowest common ancestor has depth ``l``."""

    adjacency: sp.csr_matrix
    leaf: np.ndarray
    depth: int
    branching: int
    probs: List[float]

    def labels_at_depth(self, depth: int) -> np.ndarray:
        """Ground-truth community of every node at tree depth ``depth`` (``1..self.depth``):
        its depth-``depth`` ancestor (int64)."""
        depth = check_int(depth, "depth", 1)
        if depth > self.depth:
            raise ValueError(f"depth: must be in 1..={self.depth}, got {depth}")
        return self.leaf // (self.branching ** (self.depth - depth))

    @property
    def labels(self) -> List[np.ndarray]:
        """Ground truth per depth: ``labels[l - 1]`` is :meth:`labels_at_depth` ``(l)``."""
        return [self.labels_at_depth(l) for l in range(1, self.depth + 1)]


def hsbm(
    depth: int,
    n: Optional[int] = None,
    a: Optional[Sequence[float]] = None,
    *,
    p: Optional[Sequence[float]] = None,
    branching: int = 2,
    sizes: Optional[Sequence[int]] = None,
    seed: int = 0,
) -> Hsbm:
    """Sample a hierarchical SBM on a complete ``branching``-ary tree of depth ``depth``
    (``neurobricks hsbm``): ``n`` nodes split evenly over the ``branching**depth`` leaves (or
    explicit ``sizes``), and an edge between two nodes whose lowest common ancestor has depth
    ``l`` with probability ``a[l] ln n / n`` (log-degree regime) or ``p[l]`` — give exactly one of
    ``a`` and ``p``, each with ``depth + 1`` values. Cost O(n + m) expected for m edges."""
    depth = check_int(depth, "depth", 1)
    branching = check_int(branching, "branching", 2)
    seed = check_int(seed, "seed", 0)
    if (a is None) == (p is None):
        raise ValueError("a, p: give exactly one of a (log-degree) and p (probabilities)")
    probs = [float(x) for x in (a if a is not None else p)]
    if len(probs) != depth + 1:
        name = "a" if a is not None else "p"
        raise ValueError(f"{name}: need depth + 1 = {depth + 1} values, got {len(probs)}")
    if sizes is not None:
        sizes = [check_int(s, "sizes", 1) for s in sizes]
        n_total = sum(sizes)
        if n is not None and n != n_total:
            raise ValueError(f"n: {n} differs from sum(sizes) = {n_total}")
    else:
        if n is None:
            raise ValueError("n: the number of nodes is required without sizes")
        n_total = check_int(n, "n", 1)
    ip, ix, d, leaf, pr = _native.hsbm_sample(depth, branching, n_total, probs, a is not None, sizes, seed)
    adj = sp.csr_matrix((d, ix, ip), shape=(n_total, n_total))
    return Hsbm(adj, leaf, depth, branching, pr)


def _a(a: Sequence[float]) -> List[float]:
    return [float(x) for x in a]


def ch(a: Sequence[float], branching: int = 2) -> np.ndarray:
    """Chernoff-Hellinger divergences ``CH_m``, ``m = 0..d-1``, of a tree SBM with
    ``p[l] = a[l] ln N / N`` (``d = len(a) - 1``). Depth ``l`` is exactly recoverable (by
    bottom-up, and by any algorithm) iff ``CH_{l-1} > 1`` (Dreveton et al., JASA 2026, §4)."""
    return np.asarray(_native.chernoff_hellinger(_a(a), check_int(branching, "branching", 2)))


def td(a: Sequence[float]) -> np.ndarray:
    """Top-down divergences ``TD_m``, ``m = 0..d-1``, of a binary-tree SBM; recursive
    bisection recovers depth ``l`` iff ``min_{m<l} TD_m > 1`` (Dreveton et al., §5)."""
    return np.asarray(_native.top_down_divergence(_a(a)))


def bottom_up_recoverable(a: Sequence[float]) -> np.ndarray:
    """Per depth ``1..d`` of a binary tree: whether ``CH_{l-1} > 1`` (bool array)."""
    return np.asarray(_native.bottom_up_recoverable(_a(a)), dtype=bool)


def top_down_recoverable(a: Sequence[float]) -> np.ndarray:
    """Per depth ``1..d`` of a binary tree: whether ``min_{m<l} TD_m > 1`` (bool array)."""
    return np.asarray(_native.top_down_recoverable(_a(a)), dtype=bool)


def _codes(x: Any, name: str) -> List[int]:
    v = np.asarray(x)
    if v.ndim != 1:
        raise ValueError(f"{name}: must be 1-D, got shape {v.shape}")
    return np.unique(v, return_inverse=True)[1].reshape(-1).tolist()


def _metric(kind: str, a: Any, b: Any) -> float:
    ca, cb = _codes(a, "labels_true"), _codes(b, "labels_pred")
    if len(ca) != len(cb):
        raise ValueError(f"labels_pred: {len(cb)} labels for {len(ca)} true labels")
    return _native.metric(kind, ca, cb)


def adjusted_rand_index(labels_true: Any, labels_pred: Any) -> float:
    """Adjusted Rand index of two partitions (any hashable labels; 1 = identical)."""
    return _metric("ari", labels_true, labels_pred)


def adjusted_mutual_info(labels_true: Any, labels_pred: Any) -> float:
    """Adjusted mutual information (arithmetic normalisation, as scikit-learn's default)."""
    return _metric("ami", labels_true, labels_pred)


def normalized_mutual_info(labels_true: Any, labels_pred: Any) -> float:
    """Normalised mutual information (arithmetic mean normalisation)."""
    return _metric("nmi", labels_true, labels_pred)


def matched_accuracy(labels_true: Any, labels_pred: Any) -> float:
    """Fraction of nodes correctly labelled under the best one-to-one matching of the
    predicted clusters to the true ones (Hungarian algorithm)."""
    return _metric("accuracy", labels_true, labels_pred)
