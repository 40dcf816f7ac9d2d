import os

import numpy as np
import pytest

import neurobricks as nb

distributed = pytest.importorskip("dask.distributed", reason="dask[distributed] is not installed (pip install -r python/requirements-test.txt)")

from neurobricks.distributed import count_shards  # noqa: E402


def worker_pid(_):
    return os.getpid()


def test_shards_counted_in_worker_processes_merge_exactly(tmp_path):
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((6000, 96)) + rng.standard_normal((6000, 1))).astype(np.float16)
    paths = []
    bounds = [0, 700, 1900, 2000, 3500, 4096, 6000]
    for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        p = tmp_path / f"shard{i}.npy"
        np.save(p, x[lo:hi])
        paths.append(str(p))
    single = nb.CoactivationCounter(96, "topk:12").update(x)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        pids = set(client.run(os.getpid).values())
        assert len(pids) == 2 and os.getpid() not in pids  # separate worker processes
        merged = count_shards(client, paths, 96, "topk:12", load=np.load, fan_in=2)
    assert merged.tokens == 6000
    assert np.array_equal(merged.counts(), single.counts())
    b = np.zeros(x.shape, dtype=np.int64)
    np.put_along_axis(b, np.argsort(-x.astype(np.float32), axis=1, kind="stable")[:, :12], 1, axis=1)
    assert np.array_equal(merged.counts(), (b.T @ b).astype(np.uint32))
