"""Dendrogram drawing to PNG or SVG (the CLI's `neurobricks plot dendrogram` renderer)."""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence, Union

import numpy as np

from ._checks import check_int

__all__ = ["plot_dendrogram"]


def plot_dendrogram(
    tree: Any,
    path: Union[str, "os.PathLike[str]"],
    *,
    title: Optional[str] = None,
    width: int = 1000,
    height: int = 600,
    cut: Optional[int] = None,
    log: bool = False,
    max_leaves: int = 60,
    leaf_names: Optional[Sequence[str]] = None,
    node_classes: Optional[Sequence[int]] = None,
    class_names: Optional[Sequence[str]] = None,
    rotate: bool = False,
) -> None:
    """Draw a dendrogram to ``path``; the format follows the extension (``.png`` or ``.svg``).

    ``tree`` is a :class:`neurobricks.Tree` or a fitted ``BottomUp`` / ``TopDown``. ``cut``
    colours a cut into that many clusters, ``log`` uses a log height axis, trees with more than
    ``max_leaves`` leaves are drawn collapsed to their top ``max_leaves`` subtrees,
    ``leaf_names`` labels the leaves, and ``node_classes`` (one integer category per node, -1 for
    unknown; names in ``class_names``) colours each leaf by its majority category. The image
    is written atomically; ValueError names a bad parameter."""
    from .cluster import Tree

    t = getattr(tree, "tree_", tree)
    if not isinstance(t, Tree):
        raise TypeError(f"tree: expected a Tree or a fitted estimator, got {type(tree).__name__}")
    width = check_int(width, "width", 1)
    height = check_int(height, "height", 1)
    max_leaves = check_int(max_leaves, "max_leaves", 2)
    cut = check_int(cut, "cut", 1, allow_none=True)
    nc = None
    if node_classes is not None:
        arr = np.asarray(node_classes)
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise TypeError("node_classes: expected a 1-D integer array (one category per node, -1 unknown)")
        nc = arr.astype(np.int64).tolist()
    t._d.plot(
        os.fspath(path),
        title,
        width,
        height,
        cut,
        bool(log),
        max_leaves,
        None if leaf_names is None else [str(s) for s in leaf_names],
        nc,
        None if class_names is None else [str(s) for s in class_names],
        bool(rotate),
    )
