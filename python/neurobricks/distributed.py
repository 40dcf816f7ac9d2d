"""Count co-activations of token shards on a Dask distributed cluster and merge them exactly.

Counts are sums over tokens, so each worker process counts its shards into a
:class:`~neurobricks.CoactivationCounter`, the counters travel back pickled (the ``N x N``
uint32 matrix and the token count) and merge by exact integer addition: the result is the
single-process count, bit for bit, whatever the partition of the tokens into shards.

Needs ``dask[distributed]`` (``pip install "dask[distributed]"``); Dask is imported by the
caller, who owns the cluster (``LocalCluster`` for one machine, any Dask deployment beyond).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional, Sequence

from .coactivation import CoactivationCounter

__all__ = ["count_shard", "count_shards"]


def count_shard(shard: Any, n_neurons: int, rule: str, load: Optional[Callable[[Any], Any]] = None) -> CoactivationCounter:
    """Count one shard in the current process: ``load(shard)`` (default: the shard itself) is
    a ``tokens x n_neurons`` array or an iterable of such batches."""
    c = CoactivationCounter(n_neurons, rule)
    data = shard if load is None else load(shard)
    if hasattr(data, "shape") or hasattr(data, "__array__") or hasattr(data, "__dlpack__"):
        c.update(data)
    else:
        for batch in data:
            c.update(batch)
    return c


def _merge(counters: Sequence[CoactivationCounter]) -> CoactivationCounter:
    total = counters[0]
    for c in counters[1:]:
        total.merge(c)
    return total


def count_shards(
    client: Any,
    shards: Iterable[Any],
    n_neurons: int,
    rule: str = "positive",
    load: Optional[Callable[[Any], Any]] = None,
    fan_in: int = 8,
) -> CoactivationCounter:
    """Count every shard on the workers of a ``dask.distributed.Client`` and merge the counts
    on the workers in a tree of ``fan_in``-way merges; returns the merged counter.

    ``shards`` are whatever ``load`` turns into activations on a worker — typically file paths
    with ``load=numpy.load`` — or the arrays themselves (then they are shipped to the workers).
    Cost: each shard's counting on some worker, plus ``O(N^2)`` per merge and per transfer."""
    shards = list(shards)
    if not shards:
        raise ValueError("shards: nothing to count")
    if fan_in < 2:
        raise ValueError(f"fan_in: must be at least 2, got {fan_in}")
    futures = [client.submit(count_shard, s, n_neurons, rule, load, pure=False) for s in shards]
    while len(futures) > 1:
        futures = [client.submit(_merge, futures[i : i + fan_in], pure=False) for i in range(0, len(futures), fan_in)]
    return futures[0].result()
