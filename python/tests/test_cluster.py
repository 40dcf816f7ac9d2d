import numpy as np
import pytest
import scipy.sparse as sp
from scipy.cluster.hierarchy import fcluster, is_valid_linkage

import neurobricks as nb
from conftest import write_edge_list

A_BTSBM = (40, 41, 45, 100)


def same_partition(a, b):
    """Equal up to relabelling: the pairs (a_i, b_i) define a bijection."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


@pytest.fixture(scope="module")
def btsbm():
    return nb.hsbm(3, 1600, a=A_BTSBM, seed=1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_btsbm_recovered_exactly_at_all_depths(seed):
    g = nb.hsbm(3, 1600, a=A_BTSBM, seed=seed)
    assert all(nb.bottom_up_recoverable(A_BTSBM))
    m = nb.BottomUp(n_clusters=8, seed=seed).fit(g.adjacency)
    assert m.n_clusters_ == 8
    for depth in (1, 2, 3):
        truth = g.labels_at_depth(depth)
        assert same_partition(m.cut_depth(depth), truth), depth
        assert nb.adjusted_rand_index(truth, m.cut_depth(depth)) == 1.0
    assert same_partition(m.labels_, g.leaf)


def test_linkage_valid_and_fcluster_matches_cut(btsbm):
    for est in (nb.BottomUp(n_clusters=8, seed=3), nb.BottomUp(seed=0), nb.TopDown(seed=0)):
        m = est.fit(btsbm.adjacency)
        z = m.linkage_
        assert z.dtype == np.float64 and z.shape == (m.n_clusters_ - 1, 4)
        assert is_valid_linkage(z, throw=True)
        if m.inversions_:
            continue  # maxclust cuts by height; a tree with inversions is cut by merge order
        for k in range(1, m.n_clusters_ + 1):
            f = fcluster(z, k, "maxclust")
            assert same_partition(f, m.tree_.cut(k, leaves=True)), k
            node = f[m.labels_]
            assert same_partition(node, m.cut(k)), k


def test_attributes(btsbm):
    m = nb.BottomUp(n_clusters=8, seed=0).fit(btsbm.adjacency)
    assert m.labels_.dtype == np.int64 and m.labels_.shape == (1600,)
    assert m.similarities_.shape == (7,)
    assert np.all(np.diff(m.similarities_) <= 1e-12)
    assert m.inversions_ == 0
    info = m.info_
    assert info["eigen_converged"] == info["eigen_requested"] == 8
    for key in ("eigen_max_residual", "fit_seconds", "graph_seconds", "total_seconds", "kmeans_converged"):
        assert key in info
    t = nb.TopDown(seed=0).fit(btsbm.adjacency)
    assert t.n_clusters_ == t.info_["leaves"] and t.inversions_ == t.info_["inversions"]
    assert t.labels_.min() >= 0


def test_input_formats_give_the_same_tree(btsbm):
    a = btsbm.adjacency
    ref = nb.BottomUp(n_clusters=8, seed=5).fit(a).tree_.to_json()
    for form in (a.tocsc(), a.tocoo(), sp.csr_array(a), a.astype(np.float32), a.astype(np.int8)):
        assert nb.BottomUp(n_clusters=8, seed=5).fit(form).tree_.to_json() == ref
    small = nb.hsbm(2, 120, a=(2, 6, 20), seed=0).adjacency
    ref = nb.BottomUp(n_clusters=4, seed=0).fit(small).tree_.to_json()
    assert nb.BottomUp(n_clusters=4, seed=0).fit(small.toarray()).tree_.to_json() == ref
    assert nb.BottomUp(n_clusters=4, seed=0).fit(small.toarray().astype(bool)).tree_.to_json() == ref
    assert nb.BottomUp(n_clusters=4, seed=0).fit(small.toarray().tolist()).tree_.to_json() == ref


def test_same_seed_same_bytes_and_names(btsbm):
    a = btsbm.adjacency
    names = [f"n{i}" for i in range(a.shape[0])]
    j1 = nb.BottomUp(n_clusters=8, seed=9).fit(a, names=names).tree_.to_json()
    j2 = nb.BottomUp(n_clusters=8, seed=9).fit(a, names=names).tree_.to_json()
    assert j1 == j2 and '"n0"' in j1
    assert nb.Tree.from_json(j1).names == names


def test_self_loops_dropped(btsbm):
    a = btsbm.adjacency.tolil()
    a.setdiag(1.0)
    m = nb.BottomUp(n_clusters=8, seed=0).fit(a)
    assert m.info_["self_loops_dropped"] == 1600
    ref = nb.BottomUp(n_clusters=8, seed=0).fit(btsbm.adjacency)
    assert m.tree_.to_json() == ref.tree_.to_json()


@pytest.mark.parametrize("regulariser", ["auto", "fixed", "zeta-k"])
def test_weighted_regulariser_byte_identical_to_cli(tmp_path, cli, btsbm, regulariser):
    # Weights 1..4: the default chooses between the fixed-r and the zeta_K partitions by
    # modularity and records it, the same in Python and on the command line.
    a = sp.triu(sp.csr_matrix(btsbm.adjacency), k=1).tocoo()
    w = 1.0 + np.arange(a.nnz) % 4
    a = sp.coo_matrix((w, (a.row, a.col)), shape=a.shape)
    a = (a + a.T).tocsr()
    edges = tmp_path / "w.tsv"
    write_edge_list(edges, a)
    cli("cluster", "--graph", edges, "--k", "8", "--seed", "1", "--regulariser", regulariser,
        "--out", tmp_path / "cli.json")
    m, names = nb.read_edge_list(edges)
    py = nb.BottomUp(n_clusters=8, seed=1, regulariser=regulariser).fit(m, names=names)
    py.save(tmp_path / "py.json")
    assert (tmp_path / "py.json").read_bytes() == (tmp_path / "cli.json").read_bytes()
    if regulariser == "auto":
        assert py.info_["regulariser_chosen"] in ("fixed", "zeta-k")
        assert "modularity_fixed" in py.info_ and "modularity_zeta_k" in py.info_


@pytest.mark.parametrize(
    "py_est, cli_args",
    [
        (lambda: nb.BottomUp(n_clusters=8, seed=3), ["--k", "8", "--seed", "3"]),
        (lambda: nb.BottomUp(seed=1, k_max=40), ["--seed", "1", "--k-max", "40"]),
        (
            lambda: nb.BottomUp(seed=1, k_max=40, k_estimate="bethe-hessian"),
            ["--seed", "1", "--k-max", "40", "--k-estimate", "bethe-hessian"],
        ),
        (
            lambda: nb.BottomUp(n_clusters=8, seed=1, regulariser="adaptive"),
            ["--k", "8", "--seed", "1", "--regulariser", "adaptive"],
        ),
        (lambda: nb.BottomUp(n_clusters=8, split=0.8, seed=2), ["--k", "8", "--split", "0.8", "--seed", "2"]),
        (lambda: nb.TopDown(seed=4), ["--method", "top-down", "--seed", "4"]),
        (lambda: nb.TopDown(seed=5, n_init=2), ["--method", "top-down", "--seed", "5", "--n-init", "2"]),
    ],
)
def test_tree_json_byte_identical_to_cli(tmp_path, cli, btsbm, py_est, cli_args):
    edges = tmp_path / "g.tsv"
    write_edge_list(edges, btsbm.adjacency)
    cli("cluster", "--graph", edges, *cli_args, "--out", tmp_path / "cli.json")
    a, names = nb.read_edge_list(edges)
    py = py_est().fit(a, names=names)
    py.save(tmp_path / "py.json")
    cli_bytes = (tmp_path / "cli.json").read_bytes()
    assert (tmp_path / "py.json").read_bytes() == cli_bytes
    # Loading the CLI's tree and saving it again is the identity.
    t = nb.load_tree(tmp_path / "cli.json")
    t.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == cli_bytes
    assert np.array_equal(t.linkage, py.linkage_)


def test_weighted_graph_byte_identical_to_cli(tmp_path, cli):
    rng = np.random.default_rng(0)
    g = nb.hsbm(2, 400, a=(4, 12, 40), seed=3).adjacency
    w = sp.triu(g, k=1).tocoo()
    w.data = rng.uniform(0.5, 2.0, size=w.nnz).round(3)
    a = (w + w.T).tocsr()
    edges = tmp_path / "w.tsv"
    write_edge_list(edges, a)
    cli("cluster", "--graph", edges, "--k", "4", "--out", tmp_path / "cli.json")
    a2, names = nb.read_edge_list(edges)
    nb.BottomUp(n_clusters=4).fit(a2, names=names).save(tmp_path / "py.json")
    assert (tmp_path / "py.json").read_bytes() == (tmp_path / "cli.json").read_bytes()


def test_cli_reads_python_tree(tmp_path, cli, btsbm):
    nb.BottomUp(n_clusters=8, seed=0).fit(btsbm.adjacency).save(tmp_path / "t.json")
    cli("cut", "--tree", tmp_path / "t.json", "--k", "2,4", "--out", tmp_path / "parts.tsv")
    assert (tmp_path / "parts.tsv").stat().st_size > 0


def test_unfitted_and_bad_cut(btsbm):
    with pytest.raises(RuntimeError, match="not fitted"):
        nb.BottomUp().cut(2)
    m = nb.BottomUp(n_clusters=8).fit(btsbm.adjacency)
    with pytest.raises(ValueError, match="k"):
        m.cut(9)
    with pytest.raises(ValueError, match="k"):
        m.cut(0)
    with pytest.raises(TypeError, match="k"):
        m.cut(2.5)


@pytest.mark.filterwarnings("ignore::scipy.sparse.SparseEfficiencyWarning")
def test_caller_matrix_not_modified(btsbm):
    """fit may skip the copy of a canonical CSR matrix, but never changes the caller's matrix:
    here a CSR matrix with a self-loop, an explicit zero and unsorted rows."""
    a = btsbm.adjacency.tocsr().astype(np.float64)
    a = sp.csr_matrix((a.data.copy(), a.indices.copy(), a.indptr.copy()), shape=a.shape)
    a[0, 0] = 3.0
    a.data[a.indptr[5]] = 0.0  # an explicit zero (and its mirror stays): not symmetric, so fix both
    r, c = 5, a.indices[a.indptr[5]]
    a[c, r] = 0.0
    row = slice(a.indptr[7], a.indptr[8])
    a.indices[row] = a.indices[row][::-1].copy()
    a.data[row] = a.data[row][::-1].copy()
    a.has_sorted_indices = False
    before = (a.data.copy(), a.indices.copy(), a.indptr.copy())
    m = nb.BottomUp(n_clusters=8, seed=0).fit(a)
    assert m.info_["self_loops_dropped"] == 1
    assert all(np.array_equal(x, y) for x, y in zip(before, (a.data, a.indices, a.indptr)))
    ref = sp.csr_matrix(a, copy=True)
    ref.setdiag(0.0)
    ref.eliminate_zeros()
    ref.sort_indices()
    assert m.tree_.to_json() == nb.BottomUp(n_clusters=8, seed=0).fit(ref).tree_.to_json()
