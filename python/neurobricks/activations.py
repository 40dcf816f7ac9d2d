"""Reading the FFN layers shipped with the repository (and any file in that format)."""

from __future__ import annotations

import os
from typing import Dict, Union

import numpy as np

from . import _native

__all__ = ["read_ffn_layer"]


def read_ffn_layer(path: Union[str, "os.PathLike[str]"]) -> Dict[str, np.ndarray]:
    """Read an FFN layer file (safetensors holding ``ffn_in [T, d]``, ``w_in [N, d]``,
    ``b_in [N]``, ``w_out [d, N]``, ``b_out [d]``, as in ``data/minilm-l6/``).

    Returns those float32 arrays plus ``activations [T, N] = GELU(ffn_in @ w_in.T + b_in)``
    (exact erf GELU), the activations the CLI's ``--ffn-layer`` counts."""
    return _native.read_ffn_layer(os.fspath(path))
