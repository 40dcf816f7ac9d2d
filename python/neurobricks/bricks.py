"""Bricks: groups of an FFN layer's neurons, extracted as sub-FFNs and routed per token under a
neuron budget (the library's ``bricks`` module; the CLI's ``neurobricks bricks``).

A brick partition comes from per-neuron labels (:meth:`Bricks.from_labels`) or from a cut of a
brick dendrogram whose node ids are neuron indices (:meth:`Bricks.from_tree`; neurons in no
leaf -- the dead and resident neurons the co-activation graph sets aside -- form one more
brick, the set-aside brick, last). :meth:`Bricks.sub_ffn` and :meth:`Bricks.export` extract
the bricks of an :class:`FfnLayer` held as NumPy arrays; :meth:`Bricks.route` measures per-token
routing at a budget against random partitions with the same brick sizes (docs/bricks.md).
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Union

import numpy as np

from . import _native
from ._checks import check_float, check_int

__all__ = ["FfnLayer", "SubFfn", "Bricks", "read_tokens"]

PathLike = Union[str, "os.PathLike[str]"]

ROUTERS = ("oracle", "oracle_density", "centroid", "representative")


def _f32(a: Any, name: str, ndim: int) -> np.ndarray:
    """A real array as C-contiguous float32 of rank ``ndim`` (TypeError / ValueError naming it)."""
    if not hasattr(a, "__array__") and not isinstance(a, (list, tuple)):
        raise TypeError(f"{name}: expected an array, got {type(a).__name__}")
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: dtype {arr.dtype} is not supported (need real numbers)")
    if arr.ndim != ndim:
        raise ValueError(f"{name}: must be {ndim}-D, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float32)


class FfnLayer:
    """A transformer FFN layer ``y = W_out GELU(W_in x + b_in) + b_out`` (exact erf GELU) held
    as float32 NumPy arrays: ``w_in [N, d]``, ``b_in [N]``, ``w_out [d, N]``, ``b_out [d]``
    (N neurons, model width d). Shapes and finiteness are checked (ValueError naming the
    array); other real dtypes are converted to float32."""

    def __init__(self, w_in: Any, b_in: Any, w_out: Any, b_out: Any) -> None:
        self.w_in = _f32(w_in, "w_in", 2)
        self.b_in = _f32(b_in, "b_in", 1)
        self.w_out = _f32(w_out, "w_out", 2)
        self.b_out = _f32(b_out, "b_out", 1)
        self._native = _native.Ffn(self.w_in, self.b_in, self.w_out, self.b_out)
        #: Number of neurons N and model width d.
        self.n_neurons: int = self.w_in.shape[0]
        self.d_model: int = self.w_in.shape[1]

    @classmethod
    def read(cls, path: PathLike) -> "FfnLayer":
        """The layer of a safetensors file in the format of ``data/minilm-l6/layerN.safetensors``
        (see :func:`neurobricks.read_ffn_layer`, which also returns its inputs ``ffn_in``)."""
        d = _native.read_ffn_layer(os.fspath(path))
        return cls(d["w_in"], d["b_in"], d["w_out"], d["b_out"])

    def forward(self, x: Any) -> np.ndarray:
        """The layer's output ``[T, d]`` (float32) for inputs ``x [T, d]``; GIL released."""
        return self._native.forward(_f32(x, "x", 2))

    def __repr__(self) -> str:
        return f"FfnLayer(n_neurons={self.n_neurons}, d_model={self.d_model})"


class SubFfn(NamedTuple):
    """One brick as a stand-alone FFN without ``b_out``:
    ``y = w_out GELU(w_in x + b_in)`` with ``w_in = W_in[neurons]``, ``b_in = b_in[neurons]``,
    ``w_out = W_out[:, neurons]``. The bricks' outputs plus ``b_out`` are the layer's output."""

    neurons: np.ndarray
    w_in: np.ndarray
    b_in: np.ndarray
    w_out: np.ndarray

    def forward(self, x: Any) -> np.ndarray:
        """The brick's contribution ``[T, d]`` to the layer output (no ``b_out``)."""
        zero = np.zeros(self.w_out.shape[0], dtype=np.float32)
        return _native.Ffn(self.w_in, self.b_in, self.w_out, zero).forward(_f32(x, "x", 2))


def _metrics(text: str) -> Dict[str, float]:
    """Route metrics from the library's JSON (NaN is written as null)."""
    return {k: (float("nan") if v is None else float(v)) for k, v in json.loads(text).items()}


class Bricks:
    """A partition of a layer's N neurons into bricks (every neuron in exactly one brick).

    Build one with :meth:`from_labels` or :meth:`from_tree`. Attributes: ``members`` (sorted
    int64 neuron indices per brick), ``set_aside`` (index of the set-aside brick or None),
    ``n_neurons``, ``sizes``, ``labels`` (brick of every neuron)."""

    def __init__(self, native: Any) -> None:
        self._b = native
        self.members: List[np.ndarray] = [np.asarray(m, dtype=np.int64) for m in native.members()]
        self.set_aside: Optional[int] = native.set_aside()
        self.n_neurons: int = native.n_neurons()

    @classmethod
    def from_labels(cls, labels: Any, set_aside: Optional[int] = None) -> "Bricks":
        """Bricks from a brick id per neuron (non-negative integers; bricks are numbered by
        ascending id). ``set_aside``: the id of the dead/resident group, if one of the ids."""
        lab = np.asarray(labels)
        if lab.dtype.kind not in "iu":
            raise TypeError(f"labels: expected integer brick ids, got dtype {lab.dtype}")
        if lab.ndim != 1 or lab.size == 0:
            raise ValueError(f"labels: expected a non-empty 1-D array, got shape {lab.shape}")
        if lab.min() < 0 or lab.max() >= 2**32:
            raise ValueError("labels: brick ids must be in [0, 2^32)")
        s = check_int(set_aside, "set_aside", 0, allow_none=True)
        return cls(_native.Bricks.from_labels(np.ascontiguousarray(lab, dtype=np.uint32), s))

    @classmethod
    def from_tree(
        cls,
        tree: Any,
        n_neurons: int,
        *,
        cut_k: Optional[int] = None,
        depth: Optional[int] = None,
        max_size: Optional[int] = None,
        min_size: int = 0,
    ) -> "Bricks":
        """Cut a brick dendrogram (a :class:`neurobricks.Tree`, a fitted estimator or a tree
        JSON path) built on the co-activation graph of a layer with ``n_neurons`` neurons; its
        node ids must be neuron indices. Default cut: the leaves; ``cut_k``: k clusters;
        ``depth``: the subtrees at that depth; ``max_size`` (and ``min_size``): size bounds.
        The same bricks as ``neurobricks bricks extract --tree ... [--cut-k|--depth|--max-size]``."""
        from .cluster import Tree

        if hasattr(tree, "tree_"):
            tree = tree.tree_
        if isinstance(tree, (str, os.PathLike)):
            tree = Tree.load(tree)
        if not isinstance(tree, Tree):
            raise TypeError(f"tree: expected a Tree, a fitted estimator or a path, got {type(tree).__name__}")
        n = check_int(n_neurons, "n_neurons", 1)
        given = [x is not None for x in (cut_k, depth, max_size)]
        if sum(given) > 1:
            raise ValueError("cut_k, depth, max_size: give at most one")
        if cut_k is not None:
            cut, value = "k", check_int(cut_k, "cut_k", 1)
        elif depth is not None:
            cut, value = "depth", check_int(depth, "depth", 0)
        elif max_size is not None:
            cut, value = "size", check_int(max_size, "max_size", 1)
        else:
            cut, value = "leaves", 0
        ms = check_int(min_size, "min_size", 0)
        return cls(_native.Bricks.from_tree(tree._d, n, cut, value, ms))

    def __len__(self) -> int:
        return len(self.members)

    @property
    def sizes(self) -> np.ndarray:
        """Brick sizes in neurons (int64)."""
        return np.array([m.size for m in self.members], dtype=np.int64)

    @property
    def labels(self) -> np.ndarray:
        """Brick index of every neuron (int64)."""
        out = np.empty(self.n_neurons, dtype=np.int64)
        for b, m in enumerate(self.members):
            out[m] = b
        return out

    def _layer(self, layer: Any) -> FfnLayer:
        if not isinstance(layer, FfnLayer):
            raise TypeError(f"layer: expected an FfnLayer, got {type(layer).__name__}")
        if layer.n_neurons != self.n_neurons:
            raise ValueError(
                f"layer: the bricks partition {self.n_neurons} neurons but the layer has {layer.n_neurons}"
            )
        return layer

    def sub_ffn(self, layer: FfnLayer, b: int) -> SubFfn:
        """Brick ``b`` of ``layer`` as a :class:`SubFfn` (copies of its weights)."""
        layer = self._layer(layer)
        b = check_int(b, "b", 0)
        if b >= len(self):
            raise ValueError(f"b: no brick {b} (0..{len(self) - 1})")
        m = self.members[b]
        return SubFfn(m.copy(), layer.w_in[m], layer.b_in[m], np.ascontiguousarray(layer.w_out[:, m]))

    def sub_ffns(self, layer: FfnLayer) -> List[SubFfn]:
        """Every brick of ``layer`` as a :class:`SubFfn`, in brick order."""
        return [self.sub_ffn(layer, b) for b in range(len(self))]

    def export(self, layer: FfnLayer, out: PathLike) -> List[str]:
        """Write the bricks of ``layer`` into the folder ``out`` exactly as
        ``neurobricks bricks extract`` does: ``brick_NNN.safetensors`` (``w_in``, ``b_in``,
        ``w_out``, ``neurons``), ``layer.safetensors`` (``b_out``) and ``bricks.json``; all files
        or none. Returns the brick files of an earlier export into ``out`` that were removed."""
        layer = self._layer(layer)
        return [str(p) for p in self._b.export(layer._native, os.fspath(out))]

    def route(
        self,
        layer: FfnLayer,
        x: Any,
        budget: float = 0.25,
        *,
        router: str = "oracle",
        m: int = 4,
        degree: Optional[Sequence[float]] = None,
        random_seeds: Sequence[int] = range(5),
    ) -> Dict[str, Any]:
        """Route the tokens ``x [T, d]`` (FFN inputs) over the bricks at a neuron budget and
        measure the loss, beside random partitions with the same brick sizes (one per seed of
        ``random_seeds``), as ``neurobricks bricks route`` / ``bricks report`` do.

        Per token, bricks are taken by decreasing router score while they fit in
        ``floor(budget * N)`` neurons (a brick that would overflow is skipped). ``router``:
        ``oracle`` (brick contribution mass), ``oracle_density`` (mass per neuron), ``centroid``
        (input cosine to the brick's mean ``W_in`` row) or ``representative`` (the ``m``
        highest-``degree`` neurons per brick; ``degree`` defaults to the firing rate on ``x``).

        Returns ``{"budget": budget, "budget_neurons": B, "router": router, "method": metrics,
        "random": [metrics per seed], "random_error_mean", "random_error_std"}`` where metrics
        are ``rel_error`` (mean over tokens of ``||e_t||^2 / ||y_t - b_out||^2``),
        ``pooled_rel_error`` (ratio of sums), ``mass_kept``, ``recall`` (vs the oracle router)
        and ``neurons_used``; ``random_error_std`` is the sample standard deviation (0 for one
        seed). GIL released."""
        layer = self._layer(layer)
        xb = _f32(x, "x", 2)
        budget = check_float(budget, "budget")
        if not 0.0 < budget <= 1.0:
            raise ValueError(f"budget: must be a fraction in (0, 1], got {budget}")
        if router not in ROUTERS:
            raise ValueError(f"router: unknown router {router!r} (one of {', '.join(ROUTERS)})")
        m = check_int(m, "m", 1)
        deg = None
        if degree is not None:
            deg = np.asarray(degree, dtype=np.float64)
            if deg.shape != (self.n_neurons,):
                raise ValueError(f"degree: expected {self.n_neurons} values, got shape {deg.shape}")
            deg = deg.tolist()
        seeds = [check_int(s, "random_seeds", 0) for s in random_seeds]
        r = self._b.route(layer._native, xb, budget, router, m, deg, seeds)
        out: Dict[str, Any] = {"budget": budget, "budget_neurons": r["budget_neurons"], "router": router,
                               "method": _metrics(r["method"]),
                               "random": [_metrics(x) for x in r["random"]]}
        if seeds:
            out["random_error_mean"] = r["random_error_mean"]
            out["random_error_std"] = r["random_error_std"]
        else:
            out["random_error_mean"] = out["random_error_std"] = float("nan")
        return out

    def __repr__(self) -> str:
        return f"Bricks({len(self)} bricks over {self.n_neurons} neurons, set_aside={self.set_aside})"


def read_tokens(path: PathLike) -> Dict[str, np.ndarray]:
    """Per-token metadata of the shipped corpus (``data/minilm-l6/tokens.safetensors``):
    ``ids``, ``domain`` and ``window`` (uint32). The bricks protocol builds bricks on the even
    windows and measures on the odd ones."""
    return _native.read_tokens(os.fspath(path))
