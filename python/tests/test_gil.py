import threading
import time

import numpy as np

import neurobricks as nb


def ticks_during(fn):
    """Run fn() in this thread while another thread counts loop iterations; return the
    iterations the other thread made strictly inside fn's run, and fn's duration."""
    stamps = []
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            stamps.append(time.perf_counter())
            time.sleep(0.001)  # light load: the fit keeps both cores

    th = threading.Thread(target=spin)
    th.start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    fn()
    t1 = time.perf_counter()
    stop.set()
    th.join()
    margin = 0.02
    inside = [s for s in stamps if t0 + margin < s < t1 - margin]
    return len(inside), t1 - t0


def test_other_thread_runs_while_fit_runs():
    g = nb.hsbm(3, 20000, a=(40, 41, 45, 100), seed=0)
    est = nb.BottomUp(n_clusters=8, seed=0)
    ticks, secs = ticks_during(lambda: est.fit(g.adjacency))
    assert secs > 0.1, "fit too fast to show anything"
    # With the GIL held for the whole native call the other thread could not run at all.
    assert ticks >= 10, (ticks, secs)


def test_other_thread_runs_while_counting():
    # Large enough to take well over 0.1 s on 2 cores (about 0.4 s here).
    x = np.random.default_rng(0).standard_normal((160000, 1024)).astype(np.float32)
    c = nb.CoactivationCounter(1024, "positive")
    ticks, secs = ticks_during(lambda: c.update(x))
    assert secs > 0.1
    assert ticks >= 10, (ticks, secs)
