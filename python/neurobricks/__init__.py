"""neurobricks: hierarchical community detection of neurons, from NumPy, SciPy and PyTorch.

Build co-activation graphs from activations (:class:`CoactivationCounter`), cluster graphs
hierarchically with the bottom-up and top-down algorithms studied on hierarchical stochastic
block models (:class:`BottomUp`, :class:`TopDown`), read the results as SciPy linkage matrices
or the CLI's tree JSON (:class:`Tree`), sample HSBMs (:func:`hsbm`) and check recovery
thresholds (:func:`ch`, :func:`td`), extract and route bricks of FFN layers held as NumPy
arrays (:class:`Bricks`, :class:`FfnLayer`). The computations run in Rust with the GIL released.

Optional modules: :mod:`neurobricks.torch` (forward hooks; needs PyTorch) and
:mod:`neurobricks.distributed` (shard counting on Dask; needs ``dask[distributed]``).
"""

from ._native import __version__
from .activations import read_ffn_layer
from .bricks import Bricks, FfnLayer, SubFfn, read_tokens
from .cluster import BottomUp, TopDown, Tree, load_tree, read_edge_list
from .coactivation import CoactivationCounter, CoactivationGraph
from .hsbm import (
    Hsbm,
    adjusted_mutual_info,
    adjusted_rand_index,
    bottom_up_recoverable,
    ch,
    hsbm,
    matched_accuracy,
    normalized_mutual_info,
    td,
    top_down_recoverable,
)
from .plot import plot_dendrogram

__all__ = [
    "__version__",
    "BottomUp",
    "TopDown",
    "Tree",
    "load_tree",
    "read_edge_list",
    "CoactivationCounter",
    "CoactivationGraph",
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
    "plot_dendrogram",
    "read_ffn_layer",
    "read_tokens",
    "FfnLayer",
    "SubFfn",
    "Bricks",
]
