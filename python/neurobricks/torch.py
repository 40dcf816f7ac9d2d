"""Stream PyTorch module outputs into co-activation counters with forward hooks.

``import neurobricks.torch`` needs PyTorch; the rest of the package does not.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Sequence, Union

from .coactivation import CoactivationCounter

__all__ = ["record"]


def _flatten(out: Any) -> Any:
    import torch

    if isinstance(out, (tuple, list)):
        out = out[0]
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"module output: expected a Tensor (or a tuple whose first item is one), got {type(out).__name__}")
    t = out.detach()
    if t.dtype == torch.bfloat16:
        t = t.float()
    if t.device.type != "cpu":
        t = t.cpu()
    return t.reshape(-1, t.shape[-1])


@contextlib.contextmanager
def record(
    model: Any,
    modules: Union[Sequence[str], Mapping[str, Any]],
    counters: Union[Sequence[CoactivationCounter], Mapping[str, CoactivationCounter]],
    transform: Optional[Callable[[Any], Any]] = None,
) -> Iterator[Dict[str, CoactivationCounter]]:
    """Count co-activations of the listed modules' outputs during ordinary inference.

    ``modules`` are names from ``model.named_modules()`` (or a mapping name -> module) and
    ``counters`` one :class:`CoactivationCounter` per module (a sequence in the same order, or
    a mapping by name). Inside the ``with`` block every forward pass feeds each module's
    output, reshaped to ``(-1, last dimension)`` (tokens x neurons), into its counter —
    without a copy for CPU float16/32/64 tensors (bfloat16 is widened to float32, GPU tensors
    are copied to the host). ``transform`` (optional) is applied to each output first, e.g.
    ``torch.nn.functional.gelu`` to count a pre-activation's post-activation. The hooks are
    removed when the block ends, also on an exception. Yields the name -> counter mapping."""
    import torch  # noqa: F401  (a clear ImportError without PyTorch)

    named = dict(model.named_modules())
    if isinstance(modules, Mapping):
        mods = dict(modules)
    else:
        names = list(modules)
        missing = [m for m in names if m not in named]
        if missing:
            raise ValueError(f"modules: {missing} not found in model.named_modules()")
        mods = {m: named[m] for m in names}
    if isinstance(counters, Mapping):
        cmap = dict(counters)
        if set(cmap) != set(mods):
            raise ValueError(f"counters: keys {sorted(cmap)} differ from modules {sorted(mods)}")
    else:
        cl = list(counters)
        if len(cl) != len(mods):
            raise ValueError(f"counters: {len(cl)} counters for {len(mods)} modules")
        cmap = dict(zip(mods, cl))
    for name, c in cmap.items():
        if not isinstance(c, CoactivationCounter):
            raise TypeError(f"counters: {name!r} is not a CoactivationCounter")
    handles = []
    try:
        for name, mod in mods.items():
            counter = cmap[name]

            def hook(_m: Any, _inp: Any, out: Any, counter: CoactivationCounter = counter) -> None:
                if transform is not None:
                    out = transform(out)
                counter.update(_flatten(out))

            handles.append(mod.register_forward_hook(hook))
        yield cmap
    finally:
        for h in handles:
            h.remove()
