#!/usr/bin/env python3
"""Python package vs CLI on the issue-12 speed items (run by hand, needs `pip install ./python`):

1. `BottomUp(n_clusters=32).fit` on the 200,000-node depth-5 BTSBM held as a scipy.sparse matrix,
   against `neurobricks cluster --k 32` on the same graph (the CLI's "total - read" time, i.e.
   clustering without reading the file; the Python time includes the argument checks and the
   CSR copy into the library's graph).
2. `CoactivationCounter.update` on 100,000 x 3,072 float16 activations (rule topk:10%), against
   `neurobricks coactivation --activations A.npy --binarize topk:10% --counts-out` (whole run,
   reading the .npy included; the graph step on 3,072 neurons is small).

    python3 benches/python_speed.py [--neurobricks target/release/neurobricks] [--workdir DIR] [--repeat 3]
        [--skip cluster,count] [--nodes 200000] [--tokens 100000]
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import neurobricks as nb

P200K = "0.000034816,0.00008704,0.0002176,0.000544,0.00136,0.0034"


def run(cmd):
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr}")
    return wall, r.stderr


def summary(what, cli_t, py_t):
    """Ratios over all runs: of the medians and of the bests (single runs on a 2-core machine
    move by 10% with background load; the runs alternate CLI / Python, so both see it)."""
    med = statistics.median(py_t) / statistics.median(cli_t)
    best = min(py_t) / min(cli_t)
    print(f"{what}: Python / CLI median {med:.3f}, best {best:.3f} (acceptance <= 1.10)", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--neurobricks", default="target/release/neurobricks")
    ap.add_argument("--workdir")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip", default="", help="cluster and/or count")
    ap.add_argument("--nodes", type=int, default=200_000, help="BTSBM nodes (smaller: smoke test only)")
    ap.add_argument("--tokens", type=int, default=100_000, help="activation rows (smaller: smoke test only)")
    args = ap.parse_args()
    wd = args.workdir or tempfile.mkdtemp(prefix="nb-pyspeed-")
    os.makedirs(wd, exist_ok=True)
    cli = args.neurobricks
    skip = set(filter(None, args.skip.split(",")))

    if "cluster" not in skip:
        g = os.path.join(wd, f"g{args.nodes}")
        if not os.path.exists(g + ".edges.tsv"):
            run([cli, "hsbm", "--nodes", str(args.nodes), "--depth", "5", "--p", P200K, "--seed", "0", "--out", g])
        a, names = nb.read_edge_list(g + ".edges.tsv")
        cli_t, py_t = [], []
        for i in range(args.repeat):
            _, err = run([cli, "cluster", "--graph", g + ".edges.tsv", "--k", "32", "--seed", "0",
                          "--out", os.path.join(wd, "cli.json")])
            m = re.search(r"read ([0-9.]+)s, total ([0-9.]+)s", err)
            cli_s = float(m.group(2)) - float(m.group(1))
            t0 = time.perf_counter()
            model = nb.BottomUp(n_clusters=32, seed=0).fit(a, names=names)
            py_s = time.perf_counter() - t0
            cli_t.append(cli_s)
            py_t.append(py_s)
            model.save(os.path.join(wd, "py.json"))
            same = open(os.path.join(wd, "py.json"), "rb").read() == open(os.path.join(wd, "cli.json"), "rb").read()
            print(f"cluster run {i}: CLI {cli_s:.2f} s (without reading), Python fit {py_s:.2f} s "
                  f"(native fit {model.info_['fit_seconds']:.2f} s, graph {model.info_['graph_seconds']:.2f} s), "
                  f"ratio {py_s / cli_s:.3f}, same tree JSON: {same}", flush=True)
        summary("cluster", cli_t, py_t)

    if "count" not in skip:
        t_n = args.tokens
        path = os.path.join(wd, f"acts_f16_{t_n}.npy")
        if not os.path.exists(path):
            rng = np.random.default_rng(0)
            x = np.empty((t_n, 3072), dtype=np.float16)
            z = rng.standard_normal((t_n, 48)).astype(np.float32)
            w = rng.standard_normal((48, 3072)).astype(np.float32) * (rng.random((48, 3072)) < 0.05)
            for lo in range(0, t_n, 10_000):
                hi = min(lo + 10_000, t_n)
                x[lo:hi] = z[lo:hi] @ w + rng.standard_normal((hi - lo, 3072), dtype=np.float32)
            np.save(path, x)
        x = np.load(path, mmap_mode="r")
        x = np.ascontiguousarray(x)  # in memory, as activations from a model
        cli_t, py_t = [], []
        for i in range(args.repeat):
            cli_s, _ = run([cli, "coactivation", "--activations", path, "--binarize", "topk:10%",
                            "--counts-out", os.path.join(wd, "cli.counts.npy"), "--out", os.path.join(wd, "g.tsv")])
            t0 = time.perf_counter()
            c = nb.CoactivationCounter(3072, "topk:10%").update(x)
            m = c.counts()
            py_s = time.perf_counter() - t0
            cli_t.append(cli_s)
            py_t.append(py_s)
            same = np.array_equal(m, nb.CoactivationCounter.load(os.path.join(wd, "cli.counts.npy")).counts())
            print(f"count run {i}: CLI {cli_s:.2f} s (whole run), Python update+counts {py_s:.2f} s, "
                  f"ratio {py_s / cli_s:.3f}, same counts: {same}", flush=True)
        summary("count", cli_t, py_t)


if __name__ == "__main__":
    main()
