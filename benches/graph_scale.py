#!/usr/bin/env python3
"""Graph-scale benchmark: bottom-up on a 2,000,000-node depth-5 BTSBM with about 50 million edges.

    python3 benches/graph_scale.py [--nodes 2000000] [--workdir /tmp/nb_scale] \\
        [--neurobricks target/release/neurobricks] [--timeout 1800] [--require 0]

Generates the graph once with `neurobricks hsbm` (kept in --workdir; the 200,000-node benchmark
graph of the README with every probability divided by 10, so the mean degree stays about 50 and
the edge count grows 10x), then runs `benches/compare_python.py EDGES LABELS --k 32 --skip
python,paris,igraph` on it: neurobricks against the SciPy / scikit-learn pipeline, each in its
own process, wall time and peak RSS (the SciPy pipeline's failure, e.g. running out of memory or
the timeout, is reported in its row). Extra arguments after `--` go to compare_python.py.
"""

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# p_l for LCA depth l = 0..5 at 200,000 nodes (README), scaled by 200,000 / nodes.
P_200K = [0.000034816, 0.00008704, 0.0002176, 0.000544, 0.00136, 0.0034]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default="/tmp/nb_scale")
    ap.add_argument("--neurobricks", default=os.path.join(HERE, "..", "target", "release", "neurobricks"))
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--require", type=float, default=0)
    ap.add_argument("rest", nargs=argparse.REMAINDER, help="-- extra arguments for compare_python.py")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    scale = 200_000 / args.nodes
    p = ",".join(f"{x * scale:.10g}" for x in P_200K)
    base = os.path.join(args.workdir, f"btsbm{args.nodes}")
    edges, labels = base + ".edges.tsv", base + ".labels.tsv"
    if not (os.path.exists(edges) and os.path.exists(labels)):
        cmd = [args.neurobricks, "hsbm", "--nodes", str(args.nodes), "--depth", "5", "--p", p,
               "--seed", str(args.seed), "--out", base]
        print("# " + " ".join(cmd), flush=True)
        t = time.perf_counter()
        subprocess.run(cmd, check=True)
        print(f"# generated in {time.perf_counter() - t:.1f} s", flush=True)
    rest = [a for a in args.rest if a != "--"]
    cmd = [sys.executable, os.path.join(HERE, "compare_python.py"), edges, labels, "--k", "32",
           "--neurobricks", args.neurobricks, "--skip", "python,paris,igraph", "--timeout",
           str(args.timeout), "--workdir", os.path.join(args.workdir, "compare")]
    if args.require:
        cmd += ["--require", str(args.require)]
    cmd += rest
    print("# " + " ".join(cmd), flush=True)
    sys.exit(subprocess.run(cmd).returncode)


if __name__ == "__main__":
    main()
