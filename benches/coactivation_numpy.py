#!/usr/bin/env python3
"""NumPy baseline for co-activation counting: C = B^T B for a random binary matrix B.

Run by hand (not in CI):

    python3 benches/coactivation_numpy.py --tokens 100000 --neurons 3072 --density 0.1 --seed 0 \\
        [--npy /tmp/B.npy --dtype uint8] [--counts-npy /tmp/C.npy] [--repeat 3] [--unset-openblas-env]

B (tokens x neurons) has i.i.d. Bernoulli(density) entries, generated in row chunks with
`numpy.random.default_rng(seed)`, stored as float32; the timed operation is `B.T @ B` in float32
(numpy dispatches `X.T @ X` to BLAS `syrk`, i.e. it computes one triangle: T N^2 multiply-adds).
Counts up to 2^24 are exact in float32, so C is the exact pair-count matrix for tokens <= 16.7M.

`--npy` saves B (uint8 or float32, `--dtype`) so the Rust side can count the same data;
`--counts-npy` saves C as uint32 for an exact comparison.

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE may be set on this machine and can make OpenBLAS pick a
slow kernel; the script prints them, and `--unset-openblas-env` re-executes itself without them
(and without OPENBLAS_VERBOSE) before NumPy is loaded, for a fair comparison.
"""

import argparse
import os
import resource
import sys
import time

OPENBLAS_VARS = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"]
THREAD_VARS = ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"]


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=100_000)
    ap.add_argument("--neurons", type=int, default=3072)
    ap.add_argument("--density", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1, help="time the product this many times, report each and the best")
    ap.add_argument("--npy", help="save the binary matrix B here (.npy, tokens x neurons, C order)")
    ap.add_argument("--dtype", choices=["uint8", "float32"], default="uint8", help="dtype of --npy (default uint8)")
    ap.add_argument("--counts-npy", help="save C = B^T B here as uint32 (.npy, neurons x neurons)")
    ap.add_argument("--unset-openblas-env", action="store_true",
                    help=f"re-exec without {', '.join(OPENBLAS_VARS)} (before NumPy loads OpenBLAS)")
    ap.add_argument("--chunk", type=int, default=8192, help="rows generated per chunk")
    args = ap.parse_args()

    if not (0.0 <= args.density <= 1.0) or args.tokens < 1 or args.neurons < 1:
        ap.error("need tokens >= 1, neurons >= 1 and 0 <= density <= 1")

    for var in OPENBLAS_VARS + THREAD_VARS:
        print(f"env {var}={os.environ.get(var, '<unset>')}")
    if args.unset_openblas_env and any(v in os.environ for v in OPENBLAS_VARS + ["OPENBLAS_VERBOSE"]):
        env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_VARS + ["OPENBLAS_VERBOSE"]}
        print(f"re-executing without {', '.join(OPENBLAS_VARS)}", flush=True)
        os.execve(sys.executable, [sys.executable] + sys.argv, env)

    import numpy as np

    try:
        from threadpoolctl import threadpool_info

        for p in threadpool_info():
            print(f"threadpool {p.get('user_api')}: {p.get('internal_api')} {p.get('version')}, "
                  f"kernel/architecture {p.get('architecture')}, threads {p.get('num_threads')}, "
                  f"{os.path.basename(p.get('filepath', ''))}")
    except ImportError:
        print("threadpoolctl not installed: BLAS kernel and threads unknown")
    print(f"numpy {np.__version__}, cpus {os.cpu_count()}")

    t_tok, n = args.tokens, args.neurons
    print(f"B: {t_tok} tokens x {n} neurons, density {args.density}, seed {args.seed}")
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    b = np.empty((t_tok, n), dtype=np.float32)
    for s in range(0, t_tok, args.chunk):
        e = min(t_tok, s + args.chunk)
        b[s:e] = rng.random((e - s, n), dtype=np.float32) < np.float32(args.density)
    t_gen = time.perf_counter() - t0
    nnz = int(np.count_nonzero(b))
    print(f"generated in {t_gen:.2f} s: {nnz} ones (density {nnz / b.size:.5f}), "
          f"B = {b.nbytes / 2**20:.1f} MiB float32")

    if args.npy:
        t0 = time.perf_counter()
        np.save(args.npy, b.astype(np.uint8) if args.dtype == "uint8" else b)
        print(f"saved B as {args.dtype} to {args.npy} in {time.perf_counter() - t0:.2f} s")

    rss_before = peak_rss_mb()
    times = []
    c = None
    for _ in range(max(1, args.repeat)):
        del c
        t0 = time.perf_counter()
        c = b.T @ b
        times.append(time.perf_counter() - t0)
    best = min(times)
    rss_after = peak_rss_mb()
    flops = 2.0 * t_tok * n * n  # as a general GEMM; syrk does half
    print(f"B.T @ B (float32): {', '.join(f'{x:.3f}' for x in times)} s; best {best:.3f} s "
          f"({flops / best / 1e9:.1f} GFLOP/s counted as 2 T N^2)")
    print(f"peak RSS: {rss_before:.1f} MiB before the product, {rss_after:.1f} MiB after "
          f"(C = {c.nbytes / 2**20:.1f} MiB)")

    # Cheap exactness checks (float64 sums of exact integer counts).
    diag = np.diag(c).astype(np.int64)
    col = b.sum(axis=0, dtype=np.float64).astype(np.int64)
    ok = bool(np.array_equal(diag, col)) and bool(np.array_equal(c, c.T))
    print(f"check: diag(C) == column sums of B and C symmetric: {ok}; "
          f"sum(C) = {float(c.sum(dtype=np.float64)):.0f}, trace(C) = {int(diag.sum())}")
    if args.counts_npy:
        np.save(args.counts_npy, c.astype(np.uint32))
        print(f"saved C as uint32 to {args.counts_npy}")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
