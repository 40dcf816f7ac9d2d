"""Streaming co-activation counts and co-activation graphs."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Sequence, Union

import numpy as np
import scipy.sparse as sp

from . import _native

__all__ = ["CoactivationCounter", "CoactivationGraph"]

PathLike = Union[str, "os.PathLike[str]"]


def _as_batch(batch: Any) -> np.ndarray:
    """A 2-D float16/32/64 ndarray viewing ``batch`` without a copy where possible."""
    if isinstance(batch, np.ndarray):
        a = batch
    elif hasattr(batch, "__dlpack__"):
        try:
            a = np.from_dlpack(batch)
        except (TypeError, RuntimeError, BufferError, ValueError) as e:
            if hasattr(batch, "__array__"):
                a = np.asarray(batch)
            else:
                raise TypeError(f"batch: cannot read the array through DLPack: {e}") from e
    elif hasattr(batch, "__array__"):
        a = np.asarray(batch)
    else:
        raise TypeError(
            f"batch: expected a 2-D float array (or an object with __array__ or __dlpack__), got {type(batch).__name__}"
        )
    if a.dtype.kind != "f" or a.dtype.itemsize not in (2, 4, 8):
        raise TypeError(f"batch: dtype {a.dtype} is not supported (need float16, float32 or float64)")
    if a.ndim != 2:
        raise ValueError(f"batch: must be 2-D (tokens x neurons), got shape {a.shape}")
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    if not (a.flags.c_contiguous or a.flags.f_contiguous):
        a = np.ascontiguousarray(a)
    return a


@dataclass
class CoactivationGraph:
    """A co-activation graph and the neurons set aside.

    ``adjacency`` is the symmetric weighted graph over the kept neurons (node ``a`` is neuron
    ``neurons[a]``); ``dead`` neurons were never active and ``resident`` ones were active on
    more than the resident fraction of tokens: both are left out of the graph. ``report``
    holds the summary numbers the CLI prints (tokens, edges, isolated, components, ...)."""

    adjacency: sp.csr_matrix
    neurons: np.ndarray
    dead: np.ndarray
    resident: np.ndarray
    report: Dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> List[str]:
        """Node names for clustering: the kept neurons' indices as strings (as in the CLI)."""
        return [str(i) for i in self.neurons]


class CoactivationCounter:
    """Exact pair counts ``n_ij = sum_t B_ti B_tj`` (and ``n_i`` on the diagonal) of the
    binarised activations ``B``, streamed over batches of tokens.

    Parameters
    ----------
    n_neurons : int
        Number of neurons N (columns of every batch).
    rule : str
        Binarisation rule, as the CLI's ``--binarize``: ``"positive"`` (a > 0),
        ``"threshold:T"`` (a > T), ``"topk:K"`` (the K largest per token) or ``"topk:P%"``
        (resolved to K = round(P% of N)). Quantile rules are not additive over batches and are
        refused.

    Counts of disjoint token sets add up exactly (:meth:`merge`), so shards can be counted
    anywhere (other processes, machines) and merged. Counters pickle, and :meth:`save` /
    :meth:`load` use the CLI's counts-shard format (``neurobricks coactivation --counts`` /
    ``--counts-out``).

    Cost: an update of T tokens takes ``O(T N^2 / 64)`` word operations (bit-packed popcount
    kernel) or ``O(sum_t a_t^2)`` for sparse activity, with the GIL released; memory is the
    ``N x N`` uint32 matrix plus one 4,096-token block.
    """

    def __init__(self, n_neurons: int, rule: str = "positive") -> None:
        if isinstance(n_neurons, bool) or not isinstance(n_neurons, (int, np.integer)):
            raise TypeError(f"n_neurons: expected an integer, got {type(n_neurons).__name__}")
        if n_neurons < 1:
            raise ValueError(f"n_neurons: must be at least 1, got {n_neurons}")
        if not isinstance(rule, str):
            raise TypeError(f"rule: expected a string such as 'positive' or 'topk:10', got {type(rule).__name__}")
        self._c = _native.Counter(int(n_neurons), rule)

    @classmethod
    def _wrap(cls, native: Any) -> "CoactivationCounter":
        obj = cls.__new__(cls)
        obj._c = native
        return obj

    @property
    def n_neurons(self) -> int:
        """Number of neurons N."""
        return self._c.n_neurons()

    @property
    def rule(self) -> str:
        """The binarisation rule, resolved (``topk:P%`` becomes ``topk:K``)."""
        return self._c.rule()

    @property
    def tokens(self) -> int:
        """Tokens counted so far."""
        return self._c.tokens()

    def update(self, batch: Any) -> "CoactivationCounter":
        """Count a batch of activations, ``tokens x n_neurons``: a float16, float32 or float64
        NumPy array in C or Fortran order, or anything exposing ``__dlpack__`` (e.g. a CPU
        ``torch.Tensor``, read without a copy) or ``__array__``. The batch is binarised row by
        row with the counter's rule. Returns ``self``."""
        self._c.update(_as_batch(batch))
        return self

    def counts(self) -> np.ndarray:
        """The ``N x N`` uint32 count matrix (symmetric, ``n_i`` on the diagonal)."""
        return self._c.counts()[1]

    def merge(self, other: "CoactivationCounter") -> "CoactivationCounter":
        """Add the counts of ``other`` (same neurons and rule, other tokens). Returns ``self``."""
        if not isinstance(other, CoactivationCounter):
            raise TypeError(f"other: expected a CoactivationCounter, got {type(other).__name__}")
        if other is self:
            raise ValueError("other: cannot merge a counter into itself")
        self._c.merge(other._c)
        return self

    def __reduce__(self):
        tokens, m = self._c.counts()
        return (_restore, (self.n_neurons, self.rule, tokens, m))

    def save(self, path: PathLike, sources: Sequence[str] = ()) -> None:
        """Write ``path`` (``N x N`` uint32 ``.npy``) and the sidecar ``path + ".json"`` (token
        count and rule), the CLI's counts-shard format; ``sources`` is informational."""
        self._c.save(os.fspath(path), [str(s) for s in sources])

    @classmethod
    def load(cls, path: PathLike) -> "CoactivationCounter":
        """Read a counts shard written by :meth:`save` or ``neurobricks coactivation
        --counts-out`` (the sidecar ``path + ".json"`` is required)."""
        return cls._wrap(_native.Counter.load(os.fspath(path)))

    def graph(self, weight: str = "phi", sparsify: str = "knn:10", resident: float = 0.9) -> CoactivationGraph:
        """Build the co-activation graph from the counts, as ``neurobricks coactivation``:
        dead and resident neurons are set aside, the other pairs are weighted (``weight``:
        ``phi``, ``npmi``, ``jaccard``, ``count``, ...) and sparsified (``sparsify``:
        ``knn:K``, ``threshold:X``, ``significance:ALPHA``, ``none``)."""
        for name, v in (("weight", weight), ("sparsify", sparsify)):
            if not isinstance(v, str):
                raise TypeError(f"{name}: expected a string, got {type(v).__name__}")
        if isinstance(resident, bool) or not isinstance(resident, (int, float, np.floating)):
            raise TypeError(f"resident: expected a number, got {type(resident).__name__}")
        r = self._c.graph(weight, sparsify, float(resident))
        k = len(r["kept"])
        adj = sp.csr_matrix((r["data"], r["indices"], r["indptr"]), shape=(k, k))
        report = {key: r[key] for key in ("tokens", "edges", "isolated", "components", "active_fraction", "phi_threshold")}
        as_idx = lambda v: np.asarray(v, dtype=np.int64)  # noqa: E731
        return CoactivationGraph(adj, as_idx(r["kept"]), as_idx(r["dead"]), as_idx(r["resident"]), report)

    def __repr__(self) -> str:
        return f"CoactivationCounter(n_neurons={self.n_neurons}, rule={self.rule!r}, tokens={self.tokens})"


def _restore(n: int, rule: str, tokens: int, matrix: np.ndarray) -> CoactivationCounter:
    c = CoactivationCounter(n, rule)
    c._c.set_counts(int(tokens), np.ascontiguousarray(matrix, dtype=np.uint32))
    return c
