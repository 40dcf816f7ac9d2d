#!/usr/bin/env python3
"""Co-activation end to end against NumPy, same run: a float16 `.npy` on disk -> neurobricks
reads, converts, binarises, counts, weights and sparsifies (`neurobricks coactivation`, whole
process timed), against NumPy's float32 `B.T @ B` on the already binarised matrix in memory
(compute only: loading and binarising are not timed on the NumPy side).

    python3 benches/coactivation_e2e.py [--tokens 100000] [--neurons 3072] [--density 0.1] \\
        [--workdir /tmp/nb_coact] [--repeat 3] [--binarize positive] [--sparsify knn:10] \\
        [--neurobricks target/release/neurobricks] [--no-check]

The activations are `0.5 + 20 u` where `u < density` and `-0.01 - 0.1 u` elsewhere (`u` uniform,
seeded), stored C-order float16, so `--binarize positive` keeps exactly the `u < density`
entries. Each side runs `--repeat` times; the ratio is NumPy's best over neurobricks' best
(and the medians are printed too). With the check (default), one extra untimed neurobricks run
writes `--counts-out` and its counts are compared with NumPy's product entry by entry.
Set OPENBLAS_NUM_THREADS / OMP_NUM_THREADS like the neurobricks thread count for a fair
comparison; the script prints the BLAS that threadpoolctl reports.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np


def run_timed(cmd):
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err}")
    return wall, ru.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=100_000)
    ap.add_argument("--neurons", type=int, default=3072)
    ap.add_argument("--density", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default="/tmp/nb_coact")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--binarize", default="positive")
    ap.add_argument("--sparsify", default="knn:10")
    ap.add_argument("--neurobricks", default=os.path.join(os.path.dirname(__file__), "..", "target",
                                                          "release", "neurobricks"))
    ap.add_argument("--no-check", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    t_, n_ = args.tokens, args.neurons
    path = os.path.join(args.workdir, f"acts_{t_}x{n_}_{args.density}_{args.seed}.f16.npy")
    if not os.path.exists(path):
        rng = np.random.default_rng(args.seed)
        a = np.lib.format.open_memmap(path + ".part", mode="w+", dtype=np.float16, shape=(t_, n_))
        for s in range(0, t_, 5000):
            u = rng.random((min(5000, t_ - s), n_), dtype=np.float32)
            a[s:s + 5000] = np.where(u < args.density, 0.5 + u * 20, -0.01 - u * 0.1).astype(np.float16)
        a.flush()
        del a
        os.replace(path + ".part", path)
    print(f"# {path}: {t_} tokens x {n_} neurons float16 ({os.path.getsize(path) / 2**20:.0f} MiB), "
          f"density {args.density}")
    out = os.path.join(args.workdir, "graph.tsv")
    cmd = [args.neurobricks, "coactivation", "--activations", path, "--binarize", args.binarize,
           "--sparsify", args.sparsify, "--out", out]
    print("# " + " ".join(cmd))
    nb = []
    for i in range(args.repeat):
        wall, rss = run_timed(cmd)
        nb.append(wall)
        print(f"neurobricks run {i + 1}: {wall:.3f} s wall, peak RSS {rss:.0f} MB", flush=True)

    b = (np.load(path, mmap_mode="r") > 0).astype(np.float32)
    try:
        from threadpoolctl import threadpool_info

        for p in threadpool_info():
            print(f"# BLAS: {p.get('internal_api')} {p.get('architecture')} {p.get('num_threads')} threads")
    except ImportError:
        pass
    npt = []
    c = None
    for i in range(args.repeat):
        t = time.perf_counter()
        c = b.T @ b
        npt.append(time.perf_counter() - t)
        print(f"numpy B.T @ B run {i + 1}: {npt[-1]:.3f} s (compute only)", flush=True)
    best = min(npt) / min(nb)
    med = statistics.median(npt) / statistics.median(nb)
    print(f"\nend to end: neurobricks best {min(nb):.3f} s (median {statistics.median(nb):.3f}), "
          f"NumPy float32 B.T @ B best {min(npt):.3f} s (median {statistics.median(npt):.3f}): "
          f"{best:.2f}x (medians {med:.2f}x)")
    if not args.no_check:
        counts = os.path.join(args.workdir, "counts.npy")
        subprocess.run(cmd + ["--counts-out", counts], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        same = np.array_equal(np.load(counts).astype(np.int64), c.astype(np.int64))
        print(f"counts identical to NumPy's B.T @ B: {same}")
        if not same:
            sys.exit(1)


if __name__ == "__main__":
    main()
