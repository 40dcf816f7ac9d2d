"""HSBM recovery from Python: sample binary-tree SBMs (d = 3) on both sides of the
exact-recovery thresholds, run bottom-up and top-down, and compare the recovered depths with
the theory (CH_{l-1} > 1 for bottom-up, min_{m<l} TD_m > 1 for top-down).

Mirrors `cargo run --release --example hsbm_bottom_up_vs_top_down` on a few points of the
paper's (a1, a2) plane with a0 = 40, a3 = 100. Run from the repository root after
`pip install ./python`:

    python examples/python/hsbm_recovery.py [N] [SAMPLES]
"""

import sys

import numpy as np

import neurobricks as nb

n = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
samples = int(sys.argv[2]) if len(sys.argv) > 2 else 3

print(f"BTSBM d = 3, n = {n}, p[l] = a[l] ln n / n; exact-recovery rate per depth over {samples} samples")
print(f"{'a':>22}  {'theory BU':>10} {'theory TD':>10}  {'bottom-up':>14}  {'top-down':>14}")
for a in [(40, 41, 45, 100), (40, 55, 60, 100), (40, 42, 70, 100), (40, 80, 85, 100)]:
    bu_ok = np.zeros(3)
    td_ok = np.zeros(3)
    for s in range(samples):
        g = nb.hsbm(3, n, a=a, seed=s)
        bu = nb.BottomUp(n_clusters=8, seed=s).fit(g.adjacency)
        td = nb.TopDown(seed=s).fit(g.adjacency)
        for l in (1, 2, 3):
            truth = g.labels_at_depth(l)
            bu_ok[l - 1] += nb.adjusted_rand_index(truth, bu.cut_depth(l)) == 1.0
            # A top-down tree may be deeper or shallower than 3; cut it into 2^l clusters.
            k = min(2**l, td.n_clusters_)
            td_ok[l - 1] += nb.adjusted_rand_index(truth, td.cut(k)) == 1.0
    th_bu = "".join("y" if x else "." for x in nb.bottom_up_recoverable(a))
    th_td = "".join("y" if x else "." for x in nb.top_down_recoverable(a))
    fmt = lambda r: " ".join(f"{x / samples:.2f}" for x in r)  # noqa: E731
    print(f"{str(a):>22}  {th_bu:>10} {th_td:>10}  {fmt(bu_ok):>14}  {fmt(td_ok):>14}")
print("theory columns: depth 1..3, y = exactly recoverable; rates: fraction of samples with ARI = 1")
