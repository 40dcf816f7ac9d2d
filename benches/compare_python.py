#!/usr/bin/env python3
"""Compare neurobricks' bottom-up hierarchical clustering with the Python stack on one graph.

Run by hand (not in CI):

    python3 benches/compare_python.py EDGES LABELS --k 32 \\
        [--neurobricks target/release/neurobricks] [--seed 0] [--skip paris,igraph] [--json OUT]

EDGES is an edge list (`u<TAB>v` or `u<TAB>v<TAB>w` lines, `#` comment lines allowed), LABELS a
TSV with header `node<TAB>depth1<TAB>...<TAB>depthD` (true community per depth, coarsest first).

Methods, each run in its OWN subprocess so that wall time and peak memory are per method (peak
RSS = `ru_maxrss` of that child from `os.wait4`; wall time from spawn to exit, so it includes
interpreter start-up, imports, reading the edge list and writing the result):

  neurobricks  `neurobricks cluster --method bottom-up` (timed), then `neurobricks cut` (untimed)
  python       the neurobricks Python package (`pip install ./python`): the edge list read into a
               scipy.sparse matrix by `neurobricks.read_edge_list`, `BottomUp(n_clusters=K).fit`,
               `cut(k_l)` (the note splits read / fit / cut / write)
  scipy        the same bottom-up pipeline in SciPy / scikit-learn: Bethe Hessian
               H = (r^2-1) I - r A + D with r = sqrt(sum d^2 / sum d - 1), `eigsh(H, K, which='SA')`,
               rows normalised, `KMeans(K, n_init=10, random_state=seed)`, average linkage on edge
               density (w(C,C') = E(C,C') / (|C||C'|), E adds up), cut at k_l clusters per depth
  paris        scikit-network `Paris` on the node graph, `cut_straight(dendrogram, n_clusters=k_l)`
  igraph       `community_leading_eigenvector(clusters=K)` (flat: its ARI is only reported at the
               deepest depth, the only level it targets)

k_l, the number of clusters at depth l, is the number of distinct true labels in column l of
LABELS (2^l for a binary tree). ARI is `sklearn.metrics.adjusted_rand_score` against LABELS,
over the nodes that appear both in the edge list and in LABELS.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

# NumPy is imported lazily (worker mode, or in the driver only after every method has run) so
# that the driver stays small: a child's ru_maxrss includes the parent's RSS at fork time.
np = None

METHODS = ["neurobricks", "python", "scipy", "paris", "igraph"]
SCRIPT = os.path.abspath(__file__)


# --------------------------------------------------------------------------------------------
# Shared I/O helpers (used by the workers and the driver)
# --------------------------------------------------------------------------------------------


def canon(tok):
    """Canonical node token: integers without leading zeros/sign noise, anything else as is."""
    tok = str(tok).strip()
    try:
        return str(int(tok))
    except ValueError:
        return tok


def first_data_line(path):
    with open(path) as f:
        for line in f:
            s = line.strip()
            if s and not s.startswith("#"):
                return s
    raise ValueError(f"{path}: no edge lines")


def read_edges(path):
    """Return (tokens, u, v, w): node tokens (array of str), dense endpoint indices, weights or None.

    pandas.read_csv if pandas is installed, else numpy.loadtxt (C parser since numpy 1.23; about as
    fast as pandas for integer tokens).
    Integer tokens are parsed as int64 (much faster than strings); other tokens as strings.
    """
    ncols = len(first_data_line(path).split())
    if ncols < 2:
        raise ValueError(f"{path}: expected at least 2 columns per edge line")
    weighted = ncols >= 3
    cols = [0, 1, 2] if weighted else [0, 1]
    try:
        import pandas as pd

        df = pd.read_csv(path, sep="\t" if "\t" in first_data_line(path) else r"\s+",
                         comment="#", header=None, usecols=cols, engine="c")
        a, b = df[0].to_numpy(), df[1].to_numpy()
        if a.dtype.kind not in "iu" or b.dtype.kind not in "iu":
            a, b = a.astype(str), b.astype(str)
        w = df[2].to_numpy(dtype=np.float64) if weighted else None
        reader = "pandas"
    except ImportError:
        import warnings

        reader = "numpy.loadtxt"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # numpy's note about comment-only lines
            try:
                ab = np.loadtxt(path, dtype=np.int64, comments="#", usecols=(0, 1), ndmin=2)
            except ValueError:
                ab = np.loadtxt(path, dtype=str, comments="#", usecols=(0, 1), ndmin=2)
            w = np.loadtxt(path, dtype=np.float64, comments="#", usecols=(2,), ndmin=1) if weighted else None
        a, b = ab[:, 0], ab[:, 1]
    tokens, inv = np.unique(np.concatenate([a, b]), return_inverse=True)
    m = a.shape[0]
    u, v = inv[:m].astype(np.int64), inv[m:].astype(np.int64)
    return tokens.astype(str), u, v, w, reader


def adjacency(n, u, v, w):
    """Symmetric CSR adjacency; self-loops dropped; unweighted duplicates collapse to one edge."""
    import scipy.sparse as sp

    keep = u != v
    u, v = u[keep], v[keep]
    data = np.ones(u.size) if w is None else w[keep]
    a = sp.coo_matrix((np.concatenate([data, data]), (np.concatenate([u, v]), np.concatenate([v, u]))),
                      shape=(n, n)).tocsr()
    a.sum_duplicates()
    if w is None:
        a.data[:] = 1.0
    return a


def write_partitions(path, tokens, ks, labels):
    """`node<TAB>k2<TAB>k4...` like `neurobricks cut`."""
    cols = [np.asarray(lab).astype(str) for lab in labels]
    with open(path, "w") as f:
        f.write("node\t" + "\t".join(f"k{k}" for k in ks) + "\n")
        rows = zip(tokens, *cols)
        f.write("".join("\t".join(r) + "\n" for r in rows))


def read_table(path):
    """TSV with a header: returns (header list, dict canon(node) -> list of str fields)."""
    rows = {}
    with open(path) as f:
        header = None
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.rstrip("\n").split("\t")
            if header is None:
                header = parts
                continue
            rows[canon(parts[0])] = parts[1:]
    if header is None:
        raise ValueError(f"{path}: empty table")
    return header, rows


# --------------------------------------------------------------------------------------------
# Bottom-up in SciPy / scikit-learn
# --------------------------------------------------------------------------------------------


def bethe_hessian(a):
    import scipy.sparse as sp

    d = np.asarray(a.sum(axis=1)).ravel()
    r = float(np.sqrt((d ** 2).sum() / d.sum() - 1.0))
    h = sp.diags((r * r - 1.0) + d, format="csr") - r * a
    return h.tocsr(), r


def smallest_eigvecs(h, k, how, seed, tol):
    """The k eigenvectors of the smallest algebraic eigenvalues of the sparse symmetric h."""
    import scipy.sparse.linalg as sla

    n = h.shape[0]
    rng = np.random.default_rng(seed)
    if how == "eigsh":
        # Plain implicitly restarted Lanczos (ARPACK) on the smallest algebraic end: no
        # factorisation, memory O(n k). Measured fastest: Lanczos on the largest eigenvalues of
        # c I - H (c = Gershgorin bound) needs the same number of products (same Krylov space);
        # LOBPCG without a preconditioner needs ~3x more; shift-invert (sigma below the
        # spectrum) needs a sparse LU whose fill-in makes it ~100x slower and several GB on a
        # 10k-node random graph.
        vals, vecs = sla.eigsh(h, k=k, which="SA", tol=tol, v0=rng.standard_normal(n))
    elif how == "lobpcg":
        x = rng.standard_normal((n, k))
        vals, vecs = sla.lobpcg(h, x, largest=False, tol=tol if tol > 0 else None, maxiter=2000)
    else:
        raise ValueError(f"unknown eigensolver {how!r}")
    order = np.argsort(vals)
    return vals[order], vecs[:, order]


def average_linkage(e, sizes):
    """Average linkage on edge density.

    e: K x K edge-mass matrix (float), sizes: K node counts. Returns a list of merges
    (id_a, id_b, similarity, size) in SciPy order (new cluster id K + t). Tie-breaking as the
    reference code: current clusters = surviving leaves in id order then merged clusters in
    creation order; the first maximum in row-major order of that list wins; the id at the larger
    list position is written first. O(K^3).
    """
    k = e.shape[0]
    e = np.array(e, dtype=np.float64)
    # Slots: 0..K-1 leaves, K..2K-2 merged clusters.
    big = np.zeros((2 * k - 1, 2 * k - 1))
    big[:k, :k] = e
    size = np.zeros(2 * k - 1)
    size[:k] = sizes
    order = list(range(k))
    merges = []
    for t in range(k - 1):
        idx = np.array(order)
        sub = big[np.ix_(idx, idx)] / np.outer(size[idx], size[idx])
        np.fill_diagonal(sub, -np.inf)
        flat = int(np.argmax(sub))
        i, j = divmod(flat, len(order))
        a, b = order[i], order[j]
        sim = float(sub[i, j])
        new = k + t
        big[new, :] = big[a, :] + big[b, :]
        big[:, new] = big[:, a] + big[:, b]
        size[new] = size[a] + size[b]
        first, second = (a, b) if i > j else (b, a)
        merges.append((first, second, sim, int(size[new])))
        order = [x for x in order if x != a and x != b] + [new]
    return merges


def cut(merges, k_leaves, k):
    """Leaf -> cluster (0..k-1) after applying the first K - k merges."""
    parent = list(range(2 * k_leaves - 1))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for t in range(max(0, k_leaves - k)):
        a, b = merges[t][0], merges[t][1]
        parent[find(a)] = k_leaves + t
        parent[find(b)] = k_leaves + t
    roots = [find(x) for x in range(k_leaves)]
    _, lab = np.unique(roots, return_inverse=True)
    return lab


def worker_scipy(args, ks):
    import scipy.sparse as sp
    from sklearn.cluster import KMeans

    st = {}
    t0 = time.perf_counter()
    tokens, u, v, w, reader = read_edges(args.edges)
    st["read"] = time.perf_counter() - t0
    t = time.perf_counter()
    n = tokens.size
    a = adjacency(n, u, v, w)
    del u, v, w
    h, r = bethe_hessian(a)
    st["build"] = time.perf_counter() - t
    t = time.perf_counter()
    vals, x = smallest_eigvecs(h, args.k, args.eig, args.seed, args.eig_tol)
    del h
    st["eigs"] = time.perf_counter() - t
    t = time.perf_counter()
    norms = np.linalg.norm(x, axis=1)
    norms[norms == 0] = 1.0
    x = x / norms[:, None]
    km = KMeans(n_clusters=args.k, n_init=10, random_state=args.seed).fit(x)
    lab = km.labels_
    st["kmeans"] = time.perf_counter() - t
    t = time.perf_counter()
    z = sp.csr_matrix((np.ones(n), (np.arange(n), lab)), shape=(n, args.k))
    e = (z.T @ a @ z).toarray()
    sizes = np.bincount(lab, minlength=args.k).astype(np.float64)
    merges = average_linkage(e, sizes)
    parts = [cut(merges, args.k, kk)[lab] for kk in ks]
    st["linkage"] = time.perf_counter() - t
    t = time.perf_counter()
    write_partitions(args.partitions, tokens, ks, parts)
    st["write"] = time.perf_counter() - t
    sims = [m[2] for m in merges]
    return {
        "reader": reader,
        "nodes": int(n),
        "edges": int(a.nnz // 2),
        "r": r,
        "negative_eigenvalues": int((vals < 0).sum()),
        "inversions": int(sum(1 for i in range(1, len(sims)) if sims[i] > sims[i - 1] + 1e-12)),
        "stages_s": st,
    }


# --------------------------------------------------------------------------------------------
# Top-down in SciPy / scikit-learn (`--algorithm top-down`)
# --------------------------------------------------------------------------------------------

# Communities up to this size are solved densely, as neurobricks does (EigenParams.dense_below).
DENSE_BELOW = 400


def td_should_split(sub, seed, tol, st):
    """Bethe-Hessian stopping rule: split iff H(r) of the unweighted subgraph has >= 2 negative
    eigenvalues (the 2 smallest algebraic eigenvalues from eigsh, dense below DENSE_BELOW)."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as sla

    t = time.perf_counter()
    a = sub.copy()
    a.data[:] = 1.0
    d = np.asarray(a.sum(axis=1)).ravel()
    r = float(np.sqrt(max((d ** 2).sum() / d.sum() - 1.0, 1.0)))
    h = (sp.diags((r * r - 1.0) + d, format="csr") - r * a).tocsr()
    n = h.shape[0]
    if n <= DENSE_BELOW:
        vals = np.linalg.eigvalsh(h.toarray())[:2]
    else:
        v0 = np.random.default_rng(seed).standard_normal(n)
        vals = sla.eigsh(h, k=2, which="SA", tol=tol, v0=v0, return_eigenvectors=False)
    st["stopping_rule"] += time.perf_counter() - t
    return int((vals < 0).sum()) >= 2


def td_bisect(sub, tau, seed, tol, st):
    """Regularised spectral bisection: the 2 smallest eigenvectors of
    L_tau = I - D_tau^-1/2 (A + tau dbar/n 1 1^T) D_tau^-1/2 (eigsh on a LinearOperator, dense
    below DENSE_BELOW), then KMeans(2, n_init=10). Returns 0/1 sides or None."""
    import scipy.sparse.linalg as sla
    from sklearn.cluster import KMeans

    t = time.perf_counter()
    n = sub.shape[0]
    d = np.asarray(sub.sum(axis=1)).ravel()
    reg = tau * d.mean() / n
    dt = d + reg * n
    s = np.where(dt > 0, 1.0 / np.sqrt(np.where(dt > 0, dt, 1.0)), 0.0)
    if n <= DENSE_BELOW:
        lap = np.eye(n) - s[:, None] * (sub.toarray() + reg) * s[None, :]
        _, vecs = np.linalg.eigh(lap)
        x = vecs[:, :2]
    else:
        def mv(v):
            v = np.asarray(v).reshape(-1)
            z = s * v
            return v - s * (sub @ z + reg * z.sum())

        op = sla.LinearOperator((n, n), matvec=mv, dtype=np.float64)
        v0 = np.random.default_rng(seed).standard_normal(n)
        vals, vecs = sla.eigsh(op, k=2, which="SA", tol=tol, v0=v0)
        x = vecs[:, np.argsort(vals)]
    st["eigs"] += time.perf_counter() - t
    t = time.perf_counter()
    lab = KMeans(n_clusters=2, n_init=10, random_state=seed).fit(x).labels_
    st["kmeans"] += time.perf_counter() - t
    ones = int(lab.sum())
    return None if ones in (0, n) else lab


def worker_scipy_td(args, ks):
    """Top-down (recursive regularised spectral bisection + Bethe-Hessian stopping rule, Li et
    al. 2022 as run by Dreveton et al. 2026), in SciPy / scikit-learn, with neurobricks' tree
    conventions: similarity E(U1, U2) / (|U1| |U2|) per split, cut into k clusters by applying
    the K - k merges of largest similarity whose children are formed."""
    import heapq

    st = {"read": 0.0, "extract": 0.0, "stopping_rule": 0.0, "eigs": 0.0, "kmeans": 0.0}
    t0 = time.perf_counter()
    tokens, u, v, w, reader = read_edges(args.edges)
    n = tokens.size
    a = adjacency(n, u, v, w)
    del u, v, w
    st["read"] = time.perf_counter() - t0
    nodes = [None]  # ("leaf", members) or ("split", a_slot, b_slot, similarity)
    stack = [(np.arange(n), 0)]
    visits = 0
    while stack:
        members, slot = stack.pop()
        visits += 1
        if members.size < 2:
            nodes[slot] = ("leaf", members)
            continue
        t = time.perf_counter()
        sub = a[members][:, members].tocsr()
        st["extract"] += time.perf_counter() - t
        seed = args.seed ^ visits
        if sub.nnz == 0 or not td_should_split(sub, seed, args.eig_tol, st):
            nodes[slot] = ("leaf", members)
            continue
        side = td_bisect(sub, args.tau, seed, args.eig_tol, st)
        if side is None:
            nodes[slot] = ("leaf", members)
            continue
        coo = sub.tocoo()
        cross = side[coo.row] != side[coo.col]
        ones = int(side.sum())
        sim = float(coo.data[cross].sum() / 2.0) / (ones * (members.size - ones))
        sa, sb = len(nodes), len(nodes) + 1
        nodes += [None, None]
        nodes[slot] = ("split", sa, sb, sim)
        stack.append((members[side == 1], sb))
        stack.append((members[side == 0], sa))
    # Leaves 0..K-1 and internal ids K.. in slot order (as neurobricks numbers them).
    leaf_of, internal_of = {}, {}
    for sl, nd in enumerate(nodes):
        if nd[0] == "leaf":
            leaf_of[sl] = len(leaf_of)
    k_leaves = len(leaf_of)
    for sl, nd in enumerate(nodes):
        if nd[0] == "split":
            internal_of[sl] = k_leaves + len(internal_of)
    ident = lambda sl: leaf_of.get(sl, internal_of.get(sl))  # noqa: E731
    children = {internal_of[sl]: (ident(nd[1]), ident(nd[2]), nd[3])
                for sl, nd in enumerate(nodes) if nd[0] == "split"}
    # Merge order: repeatedly the most similar internal node whose children are formed.
    formed = set(range(k_leaves))
    waiting = {c: 2 - sum(x in formed for x in ab[:2]) for c, ab in children.items()}
    parent_of = {}
    for c, (x, y, _) in children.items():
        parent_of[x] = c
        parent_of[y] = c
    heap = [(-children[c][2], c) for c, wt in waiting.items() if wt == 0]
    heapq.heapify(heap)
    merges = []
    while heap:
        _, c = heapq.heappop(heap)
        merges.append(c)
        p = parent_of.get(c)
        if p is not None:
            waiting[p] -= 1
            if waiting[p] == 0:
                heapq.heappush(heap, (-children[p][2], p))
    node_leaf = np.full(n, -1)
    for sl, nd in enumerate(nodes):
        if nd[0] == "leaf":
            node_leaf[nd[1]] = leaf_of[sl]
    parts = []
    for kk in ks:
        if kk > k_leaves:
            raise RuntimeError(f"cannot cut a tree with {k_leaves} leaves into {kk} clusters")
        root = list(range(k_leaves + len(children)))

        def find(x):
            while root[x] != x:
                root[x] = root[root[x]]
                x = root[x]
            return x

        for c in merges[: k_leaves - kk]:
            x, y, _ = children[c]
            root[find(x)] = c
            root[find(y)] = c
        lab_leaf = np.unique([find(x) for x in range(k_leaves)], return_inverse=True)[1]
        parts.append(lab_leaf[node_leaf])
    t = time.perf_counter()
    write_partitions(args.partitions, tokens, ks, parts)
    st["write"] = time.perf_counter() - t
    return {"reader": reader, "nodes": int(n), "edges": int(a.nnz // 2), "leaves": k_leaves,
            "communities_visited": visits, "stages_s": st}


def worker_python(args, ks):
    """The neurobricks Python package: the graph as a scipy.sparse matrix, BottomUp.fit."""
    import neurobricks as nbpy

    st = {}
    t0 = time.perf_counter()
    a, names = nbpy.read_edge_list(args.edges)
    st["read"] = time.perf_counter() - t0
    t = time.perf_counter()
    model = nbpy.BottomUp(n_clusters=args.k, seed=args.seed).fit(a, names=names)
    st["fit"] = time.perf_counter() - t
    t = time.perf_counter()
    parts = [model.cut(kk) for kk in ks]
    st["cut"] = time.perf_counter() - t
    t = time.perf_counter()
    write_partitions(args.partitions, np.asarray(names), ks, parts)
    st["write"] = time.perf_counter() - t
    return {"reader": "neurobricks.read_edge_list", "stages_s": st,
            "native_fit_s": model.info_["fit_seconds"], "graph_build_s": model.info_["graph_seconds"]}


def worker_paris(args, ks):
    from sknetwork.hierarchy import Paris, cut_straight

    st = {}
    t0 = time.perf_counter()
    tokens, u, v, w, reader = read_edges(args.edges)
    a = adjacency(tokens.size, u, v, w)
    st["read"] = time.perf_counter() - t0
    t = time.perf_counter()
    dendrogram = Paris().fit_predict(a)
    st["paris"] = time.perf_counter() - t
    t = time.perf_counter()
    parts = [cut_straight(dendrogram, n_clusters=kk) for kk in ks]
    st["cut"] = time.perf_counter() - t
    t = time.perf_counter()
    write_partitions(args.partitions, tokens, ks, parts)
    st["write"] = time.perf_counter() - t
    return {"reader": reader, "stages_s": st}


def worker_igraph(args, ks):
    import igraph as ig
    import scipy.sparse as sp

    st = {}
    t0 = time.perf_counter()
    tokens, u, v, w, reader = read_edges(args.edges)
    a = adjacency(tokens.size, u, v, w)
    coo = sp.triu(a, 1).tocoo()
    g = ig.Graph(n=tokens.size, edges=np.column_stack([coo.row, coo.col]).tolist())
    st["read"] = time.perf_counter() - t0
    t = time.perf_counter()
    comm = g.community_leading_eigenvector(clusters=args.k)
    lab = np.asarray(comm.membership)
    st["leading_eigenvector"] = time.perf_counter() - t
    t = time.perf_counter()
    # Flat: the same partition in every column; the driver only scores the deepest depth.
    write_partitions(args.partitions, tokens, ks, [lab] * len(ks))
    st["write"] = time.perf_counter() - t
    return {"reader": reader, "clusters_found": int(lab.max() + 1), "stages_s": st}


def worker_main(args):
    global np
    import numpy as np
    ks = [int(x) for x in args.cuts.split(",")]
    fn = {"scipy": worker_scipy, "python": worker_python, "paris": worker_paris,
          "igraph": worker_igraph, "scipy-td": worker_scipy_td}[args.worker]
    info = fn(args, ks)
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [
            {k: p.get(k) for k in ("internal_api", "num_threads", "architecture")} for p in threadpool_info()
        ]
    except ImportError:
        pass
    with open(args.info, "w") as f:
        json.dump(info, f)


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def current_rss_mb(pid="self"):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return 0.0


def vm_hwm_mb(pid):
    """Peak RSS of the process' CURRENT address space (VmHWM), None once it has exited."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def run_measured(cmd, log_prefix, timeout):
    """Run cmd; return (wall s, peak RSS MB, how the peak was measured, exit code, stderr tail).

    Peak RSS: Linux's ru_maxrss of a child (from os.wait4) is exact but also counts the parent's
    RSS at fork time (the high-water mark survives exec), so the driver keeps itself small and,
    when the child's ru_maxrss does not exceed what it inherited, falls back to the largest VmHWM
    of the child's own address space polled from /proc every 10 ms.
    """
    out = open(log_prefix + ".stdout", "w")
    err = open(log_prefix + ".stderr", "w")
    inherited = current_rss_mb()
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    polled = [0.0]
    done = threading.Event()

    def poll():
        while not done.is_set():
            v = vm_hwm_mb(p.pid)
            if v is not None:
                polled[0] = max(polled[0], v)
            done.wait(0.01)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    timer = None
    if timeout:
        timer = threading.Timer(timeout, lambda: os.kill(p.pid, signal.SIGKILL))
        timer.start()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    done.set()
    poller.join()
    if timer:
        timer.cancel()
    p.returncode = os.waitstatus_to_exitcode(status)
    out.close()
    err.close()
    maxrss = ru.ru_maxrss / 1024.0  # KiB on Linux
    if maxrss > inherited + 1.0:
        peak, how = maxrss, "wait4"
    elif polled[0] > 0:
        peak, how = polled[0], "VmHWM poll"
    else:  # exited before the first poll: only an upper bound is known
        peak, how = maxrss, "wait4 upper bound"
    with open(log_prefix + ".stderr") as f:
        tail = f.read()[-2000:]
    return wall, peak, how, p.returncode, tail


def last_error_line(tail):
    lines = [x for x in tail.strip().splitlines() if x.strip()]
    return lines[-1].strip() if lines else "no error output"


def labels_summary(path):
    """(depth column names, number of classes per depth, number of rows), streamed."""
    header, classes, rows = None, None, 0
    with open(path) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.rstrip("\n").split("\t")
            if header is None:
                header = parts
                classes = [set() for _ in header[1:]]
                continue
            if len(parts) != len(header):
                raise SystemExit(f"{path}: line with {len(parts)} fields, header has {len(header)}")
            rows += 1
            for c, x in zip(classes, parts[1:]):
                c.add(x)
    if header is None or len(header) < 2:
        raise SystemExit(f"{path}: expected a header node<TAB>depth1<TAB>...")
    return header[1:], [len(c) for c in classes], rows


def score(part_path, truth, depth_ks, flat):
    """ARI per depth (None where not scored) and node coverage."""
    from sklearn.metrics import adjusted_rand_score

    header, pred = read_table(part_path)
    col_of = {}
    for i, name in enumerate(header[1:]):
        m = re.search(r"(\d+)$", name)
        if m:
            col_of[int(m.group(1))] = i
    common = [node for node in truth if node in pred]
    aris = []
    for depth, kl in enumerate(depth_ks):
        if flat and depth != len(depth_ks) - 1:
            aris.append(None)
            continue
        if kl not in col_of:
            aris.append(None)
            continue
        c = col_of[kl]
        t = [truth[node][depth] for node in common]
        p = [pred[node][c] for node in common]
        aris.append(float(adjusted_rand_score(t, p)))
    return aris, len(common)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("edges")
    ap.add_argument("labels", nargs="?")
    ap.add_argument("--k", type=int, help="number of primitive communities (default: classes at the deepest depth)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--neurobricks", default="target/release/neurobricks", help="path of the CLI binary")
    ap.add_argument("--skip", default="", help=f"comma-separated methods to skip, among {','.join(METHODS)}")
    ap.add_argument("--json", help="also save the results as JSON here")
    ap.add_argument("--eig", default="eigsh", choices=["eigsh", "lobpcg"],
                    help="eigensolver of the SciPy pipeline (default: eigsh which='SA')")
    ap.add_argument("--eig-tol", type=float, default=0.0, help="eigsh tolerance (0 = machine precision)")
    ap.add_argument("--timeout", type=float, default=0, help="seconds per method (0 = none)")
    ap.add_argument("--require", type=float, default=0,
                    help="acceptance check: exit with status 1 unless neurobricks is at least this many "
                         "times faster than the SciPy pipeline, uses less peak memory and has the same "
                         "ARI (within 1e-3) at every depth (0 = no check)")
    ap.add_argument("--workdir", help="keep intermediate files here (default: a temporary directory)")
    # Internal: worker mode.
    ap.add_argument("--algorithm", default="bottom-up", choices=["bottom-up", "top-down"],
                    help="top-down: compare `neurobricks cluster --method top-down` with the SciPy "
                         "top-down reference (recursive regularised normalised-Laplacian bisection "
                         "with eigsh + Bethe-Hessian stopping rule); the other methods are skipped")
    ap.add_argument("--tau", type=float, default=0.1, help="top-down regularisation tau (default 0.1)")
    ap.add_argument("--worker", choices=["scipy", "python", "paris", "igraph", "scipy-td"],
                    help=argparse.SUPPRESS)
    ap.add_argument("--cuts", help=argparse.SUPPRESS)
    ap.add_argument("--partitions", help=argparse.SUPPRESS)
    ap.add_argument("--info", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        worker_main(args)
        return
    if not args.labels:
        ap.error("LABELS is required")
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = skip - set(METHODS)
    if unknown:
        ap.error(f"unknown method(s) in --skip: {', '.join(sorted(unknown))} (known: {', '.join(METHODS)})")
    top_down = args.algorithm == "top-down"

    depths, depth_ks, n_labelled = labels_summary(args.labels)
    k = args.k or depth_ks[-1]
    ks = sorted({kl for kl in depth_ks if 1 <= kl <= k} | {k})
    cuts = ",".join(map(str, ks))

    workdir = args.workdir or tempfile.mkdtemp(prefix="nb_compare_")
    os.makedirs(workdir, exist_ok=True)
    print(f"# graph {args.edges}, labels {args.labels} ({n_labelled} nodes, depths {depths}, "
          f"classes {depth_ks}), K = {k}, seed = {args.seed}, cuts {cuts}", file=sys.stderr)

    results = []
    for method in METHODS:
        res = {"method": method, "wall_s": None, "peak_rss_mb": None, "ari": [None] * len(depths),
               "error": None, "info": {}}
        results.append(res)
        if method in skip:
            res["error"] = "skipped"
            continue
        if top_down and method not in ("neurobricks", "scipy"):
            res["error"] = "skipped (bottom-up only)"
            continue
        part = os.path.join(workdir, f"{method}.partitions.tsv")
        log = os.path.join(workdir, method)
        print(f"# running {method} ...", file=sys.stderr, flush=True)
        try:
            if method == "neurobricks":
                nb = args.neurobricks
                if not (os.path.isfile(nb) and os.access(nb, os.X_OK)) and not shutil.which(nb):
                    raise RuntimeError(f"binary not found: {nb}")
                tree = os.path.join(workdir, "neurobricks.tree.json")
                cmd = [nb, "cluster", "--graph", args.edges, "--method", "bottom-up", "--k", str(k),
                       "--seed", str(args.seed), "--out", tree]
                if top_down:
                    cmd = [nb, "cluster", "--graph", args.edges, "--method", "top-down", "--tau",
                           str(args.tau), "--seed", str(args.seed), "--out", tree]
                wall, rss, how, rc, tail = run_measured(cmd, log, args.timeout)
                res["wall_s"], res["peak_rss_mb"], res["info"]["peak_rss_from"] = wall, rss, how
                if rc != 0:
                    raise RuntimeError(f"cluster exit {rc}: {last_error_line(tail)}")
                m = re.search(r"read ([0-9.]+)s, total ([0-9.]+)s", tail)
                if m:  # the CLI's own timing: clustering without reading = total - read
                    res["info"]["cluster_s"] = float(m.group(2)) - float(m.group(1))
                cmd = [nb, "cut", "--tree", tree, "--k", cuts, "--out", part]
                cwall, _, _, rc, tail = run_measured(cmd, log + ".cut", args.timeout)
                res["info"]["cut_wall_s"] = cwall
                if rc != 0:
                    raise RuntimeError(f"cut exit {rc}: {last_error_line(tail)}")
            else:
                info = os.path.join(workdir, f"{method}.info.json")
                cmd = [sys.executable, SCRIPT, args.edges, "--worker",
                       "scipy-td" if top_down else method, "--k", str(k), "--tau", str(args.tau),
                       "--seed", str(args.seed), "--cuts", ",".join(map(str, ks)), "--partitions",
                       part, "--info", info, "--eig", args.eig, "--eig-tol", str(args.eig_tol)]
                wall, rss, how, rc, tail = run_measured(cmd, log, args.timeout)
                res["wall_s"], res["peak_rss_mb"], res["info"]["peak_rss_from"] = wall, rss, how
                if rc != 0:
                    raise RuntimeError(f"exit {rc}: {last_error_line(tail)}")
                with open(info) as f:
                    res["info"].update(json.load(f))
            res["partitions"] = part
        except Exception as e:  # noqa: BLE001 - report any failure in the table
            res["error"] = str(e) if isinstance(e, RuntimeError) else f"{type(e).__name__}: {e}"
            res["info"]["traceback"] = traceback.format_exc()

    # Score only now (loading the labels and scikit-learn would inflate the children's ru_maxrss).
    _, truth = read_table(args.labels)
    for res in results:
        if res["error"]:
            continue
        try:
            aris, covered = score(res["partitions"], truth, depth_ks, flat=(res["method"] == "igraph"))
            res["ari"] = aris
            res["info"]["nodes_scored"] = covered
            if covered < len(truth):
                res["info"]["warning"] = f"only {covered} of {len(truth)} labelled nodes in the output"
        except Exception as e:  # noqa: BLE001
            res["error"] = f"scoring failed: {type(e).__name__}: {e}"

    # Markdown table.
    fmt = lambda x, p: "—" if x is None else f"{x:.{p}f}"  # noqa: E731
    head = ["method", "wall (s)", "peak RSS (MB)"] + [f"ARI {d} (k={kl})" for d, kl in zip(depths, depth_ks)] + ["note"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        note = r["error"] or ""
        if not r["error"]:
            inf = r["info"]
            if r["method"] == "scipy":
                st = inf.get("stages_s", {})
                note = ("reader " + inf.get("reader", "?") + "; " +
                        ", ".join(f"{s} {v:.2f}" for s, v in st.items()))
            elif r["method"] == "python":
                st = inf.get("stages_s", {})
                note = "package: " + ", ".join(f"{s} {v:.2f}" for s, v in st.items())
            elif r["method"] == "igraph":
                note = f"flat, {inf.get('clusters_found')} clusters found"
            elif r["method"] == "neurobricks":
                note = f"cut {inf.get('cut_wall_s', 0):.2f} s (not counted)"
            if inf.get("peak_rss_from", "wait4") != "wait4":
                note += f"; RSS from {inf['peak_rss_from']}"
            if inf.get("warning"):
                note += "; " + inf["warning"]
        cells = [r["method"], fmt(r["wall_s"], 2), fmt(r["peak_rss_mb"], 1)] + [fmt(a, 4) for a in r["ari"]] + [note]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    print("\n".join(lines))
    by = {r["method"]: r for r in results}
    nb, sc = by["neurobricks"], by["scipy"]
    ratios = {}
    if not nb["error"] and not sc["error"] and nb["wall_s"] and nb["peak_rss_mb"]:
        ratios = {"time_scipy_over_neurobricks": sc["wall_s"] / nb["wall_s"],
                  "memory_scipy_over_neurobricks": sc["peak_rss_mb"] / nb["peak_rss_mb"]}
        print(f"\nSciPy pipeline vs neurobricks: {ratios['time_scipy_over_neurobricks']:.2f}x the wall time, "
              f"{ratios['memory_scipy_over_neurobricks']:.2f}x the peak RSS")
    else:
        print("\nSciPy pipeline vs neurobricks: ratios unavailable (a method was skipped or failed)")
    py = by["python"]
    if not nb["error"] and not py["error"] and nb["info"].get("cluster_s"):
        # Issue 12: the package's BottomUp.fit on the scipy.sparse matrix (argument checks and
        # the CSR copy included) against the CLI's clustering time (its `total - read`).
        ratios["python_fit_over_cli_cluster"] = py["info"]["stages_s"]["fit"] / nb["info"]["cluster_s"]
        print(f"Python package BottomUp.fit {py['info']['stages_s']['fit']:.2f} s vs CLI cluster "
              f"(total - read) {nb['info']['cluster_s']:.2f} s: "
              f"{ratios['python_fit_over_cli_cluster']:.3f}x (issue 12 asks <= 1.10)")

    if args.json:
        out = {
            "edges": args.edges, "labels": args.labels, "k": k, "seed": args.seed, "cuts": ks,
            "depths": depths, "depth_classes": depth_ks, "eig": args.eig, "eig_tol": args.eig_tol,
            "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "results": results, "ratios": ratios,
        }
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
        print(f"# saved {args.json}", file=sys.stderr)

    if args.require > 0:
        failed = []
        if "time_scipy_over_neurobricks" not in ratios:
            failed.append("no ratio (a method was skipped or failed)")
        else:
            if ratios["time_scipy_over_neurobricks"] < args.require:
                failed.append(f"speed-up {ratios['time_scipy_over_neurobricks']:.2f}x < {args.require}x")
            if ratios["memory_scipy_over_neurobricks"] <= 1.0:
                failed.append("neurobricks does not use less peak memory")
            for d, (a, b) in enumerate(zip(nb["ari"], sc["ari"])):
                if a is None or b is None or abs(a - b) > 1e-3:
                    failed.append(f"ARI differs at cut {d + 1}: {a} vs {b}")
        if failed:
            print("ACCEPTANCE FAILED: " + "; ".join(failed))
            sys.exit(1)
        print(f"ACCEPTANCE OK: >= {args.require}x faster, less memory, same ARI at every depth")


if __name__ == "__main__":
    main()
