"""Argument checks shared by the public API (private module)."""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import scipy.sparse as sp

__all__: List[str] = []


def as_adjacency(adjacency: Any, name: str = "adjacency") -> Tuple[sp.csr_matrix, int]:
    """Check a graph given as a SciPy sparse matrix or a dense array and return it as a
    canonical CSR matrix (float64, sorted indices, no duplicates, no explicit zeros, no
    diagonal) together with the number of self-loops dropped.

    Raises TypeError for an unsupported type or dtype and ValueError for a matrix that is not
    2-D and square, or has non-finite or negative entries. Symmetry of sparse input is checked
    by the library (in O(nnz log d)) and reported as ValueError naming ``name``.
    """
    if sp.issparse(adjacency):
        a = adjacency
        dense = False
    else:
        if isinstance(adjacency, (str, bytes)) or not (
            hasattr(adjacency, "__array__") or isinstance(adjacency, (list, tuple))
        ):
            raise TypeError(
                f"{name}: expected a scipy.sparse matrix or a 2-D array, got {type(adjacency).__name__}"
            )
        a = np.asarray(adjacency)
        dense = True
    dt = np.dtype(a.dtype)
    if not (dt.kind in "biuf"):
        raise TypeError(
            f"{name}: dtype {dt} is not supported (need a real floating, integer or boolean matrix)"
        )
    if len(a.shape) != 2:
        raise ValueError(f"{name}: must be a 2-D matrix, got shape {tuple(a.shape)}")
    n, m = a.shape
    if n != m:
        raise ValueError(f"{name}: must be square, got shape {n} x {m}")
    if n == 0:
        raise ValueError(f"{name}: the graph has no nodes")
    if n >= 2**31:
        raise ValueError(f"{name}: at most 2^31 - 1 nodes are supported, got {n}")
    if dense:
        a = np.asarray(a, dtype=np.float64)
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name}: contains NaN or infinite values")
        if np.any(a < 0):
            i, j = np.argwhere(a < 0)[0]
            raise ValueError(f"{name}: negative weight {a[i, j]} at ({i}, {j})")
        if not np.array_equal(a, a.T):
            i, j = np.argwhere(a != a.T)[0]
            raise ValueError(f"{name}: not symmetric at ({i}, {j})")
        csr = sp.csr_matrix(a)
    else:
        # No copy of a CSR float64 matrix that needs no change (the library copies the arrays
        # anyway); the caller's matrix is never modified: a copy is made before any change.
        csr = sp.csr_matrix(a)
        if csr.dtype != np.float64:
            csr = csr.astype(np.float64)
        if not csr.has_canonical_format:
            csr = _own(csr, a)
            csr.sum_duplicates()
        if not np.all(np.isfinite(csr.data)):
            raise ValueError(f"{name}: contains NaN or infinite values")
        if np.any(csr.data < 0):
            k = int(np.flatnonzero(csr.data < 0)[0])
            i = int(np.searchsorted(csr.indptr, k, side="right") - 1)
            raise ValueError(
                f"{name}: negative weight {csr.data[k]} at ({i}, {csr.indices[k]})"
            )
    # Self-loops (counted and dropped), explicit zeros (dropped), unsorted rows.
    loops = int(np.count_nonzero(csr.diagonal()))
    if loops or not np.all(csr.data) or not csr.has_sorted_indices:
        csr = _own(csr, a)
        if loops:
            rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(csr.indptr))
            csr.data[rows == csr.indices] = 0.0
        csr.eliminate_zeros()
        csr.sort_indices()
    if csr.nnz >= 2**31:
        raise ValueError(f"{name}: at most 2^31 - 1 stored entries are supported")
    return csr, loops


def _own(csr: sp.csr_matrix, source: Any) -> sp.csr_matrix:
    """``csr``, or a copy of it when it shares an array with ``source`` (the caller's matrix)."""
    theirs = [getattr(source, k, None) for k in ("data", "indices", "indptr", "row", "col")]
    theirs = [x for x in theirs if isinstance(x, np.ndarray)]
    mine = (csr.data, csr.indices, csr.indptr)
    if any(np.may_share_memory(x, y) for x in mine for y in theirs):
        return csr.copy()
    return csr


def csr_parts(csr: sp.csr_matrix) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """indptr (int64), indices (int32), data (float64) of a canonical CSR matrix, without
    copies when the arrays already have these types."""
    return (
        np.ascontiguousarray(csr.indptr, dtype=np.int64),
        np.ascontiguousarray(csr.indices, dtype=np.int32),
        np.ascontiguousarray(csr.data, dtype=np.float64),
    )


def check_names(names: Optional[Sequence[Any]], n: int, name: str = "names") -> Optional[List[str]]:
    """Node names as strings (one per node, distinct), or None."""
    if names is None:
        return None
    out = [str(x) for x in names]
    if len(out) != n:
        raise ValueError(f"{name}: {len(out)} names for {n} nodes")
    if len(set(out)) != n:
        raise ValueError(f"{name}: node names must be distinct")
    return out


def check_int(value: Any, name: str, minimum: int, allow_none: bool = False) -> Optional[int]:
    """An integer >= minimum (TypeError for a non-integer, ValueError when too small)."""
    if value is None:
        if allow_none:
            return None
        raise TypeError(f"{name}: expected an integer, got None")
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name}: must be at least {minimum}, got {value}")
    return int(value)


def check_float(value: Any, name: str, allow_none: bool = False) -> Optional[float]:
    """A finite real number."""
    if value is None:
        if allow_none:
            return None
        raise TypeError(f"{name}: expected a number, got None")
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name}: must be finite, got {v}")
    return v
