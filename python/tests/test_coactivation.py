import pickle

import numpy as np
import pytest

import neurobricks as nb


def binarise(x, rule):
    x = np.asarray(x, dtype=np.float32)
    if rule == "positive":
        return x > 0
    if rule.startswith("threshold:"):
        return x > np.float32(float(rule.split(":")[1]))
    if rule.startswith("topk:"):
        k = int(rule.split(":")[1])
        b = np.zeros(x.shape, dtype=bool)
        # ties broken towards the smaller index: order by (-value, index)
        idx = np.argsort(-x, axis=1, kind="stable")[:, :k]
        np.put_along_axis(b, idx, True, axis=1)
        return b
    raise ValueError(rule)


def reference(x, rule):
    b = binarise(x, rule).astype(np.int64)
    return (b.T @ b).astype(np.uint32)


@pytest.fixture(scope="module")
def acts():
    rng = np.random.default_rng(42)
    # Correlated activity: 3 groups of neurons sharing a latent signal, plus noise.
    t, n = 5000, 70
    z = rng.standard_normal((t, 3))
    w = np.zeros((3, n))
    for g in range(3):
        w[g, g * 20 : (g + 1) * 20] = 1.5
    x = z @ w + rng.standard_normal((t, n)) - 0.7
    x[:, 65] = -1.0  # a dead neuron
    x[:, 66] = 5.0  # a resident neuron
    return x


@pytest.mark.parametrize("rule", ["positive", "threshold:0.5", "topk:7"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
def test_chunked_equals_one_shot_equals_numpy(acts, rule, dtype, order):
    x = np.asarray(acts.astype(dtype), order=order)
    ref = reference(x, rule)
    one = nb.CoactivationCounter(x.shape[1], rule).update(x)
    assert one.tokens == x.shape[0]
    assert np.array_equal(one.counts(), ref)
    chunked = nb.CoactivationCounter(x.shape[1], rule)
    for lo, hi in [(0, 1), (1, 64), (64, 65), (65, 1000), (1000, 4097), (4097, 5000)]:
        chunked.update(x[lo:hi])
    assert chunked.tokens == x.shape[0]
    assert np.array_equal(chunked.counts(), ref)
    # counts() in the middle does not disturb later updates.
    mid = nb.CoactivationCounter(x.shape[1], rule).update(x[:2500])
    mid.counts()
    mid.update(x[2500:])
    assert np.array_equal(mid.counts(), ref)


def test_percent_rule_resolves(acts):
    c = nb.CoactivationCounter(70, "topk:10%")
    assert c.rule == "topk:7"
    assert np.array_equal(c.update(acts).counts(), reference(acts, "topk:7"))


def test_pickled_merged_counters_equal_the_whole(acts):
    whole = nb.CoactivationCounter(70, "topk:7").update(acts).counts()
    parts = []
    for lo, hi in [(0, 1200), (1200, 3333), (3333, 5000)]:
        c = nb.CoactivationCounter(70, "topk:7").update(acts[lo:hi])
        parts.append(pickle.loads(pickle.dumps(c)))
    total = parts[0]
    for p in parts[1:]:
        total.merge(p)
    assert total.tokens == 5000
    assert np.array_equal(total.counts(), whole)
    # A pickled counter keeps counting.
    c = pickle.loads(pickle.dumps(nb.CoactivationCounter(70, "topk:7").update(acts[:100])))
    c.update(acts[100:])
    assert np.array_equal(c.counts(), whole)


def test_merge_checks(acts):
    a = nb.CoactivationCounter(70, "positive")
    with pytest.raises(ValueError, match="other"):
        a.merge(nb.CoactivationCounter(71, "positive"))
    with pytest.raises(ValueError, match="other"):
        a.merge(nb.CoactivationCounter(70, "topk:3"))
    with pytest.raises(ValueError, match="other"):
        a.merge(a)
    with pytest.raises(TypeError, match="other"):
        a.merge(np.zeros((70, 70)))


def test_save_load_roundtrip(tmp_path, acts):
    c = nb.CoactivationCounter(70, "threshold:0.25").update(acts)
    c.save(tmp_path / "s.npy", sources=["acts"])
    assert (tmp_path / "s.npy.json").is_file()
    back = nb.CoactivationCounter.load(tmp_path / "s.npy")
    assert back.rule == "threshold:0.25" and back.tokens == 5000
    assert np.array_equal(back.counts(), c.counts())
    assert np.array_equal(np.load(tmp_path / "s.npy"), c.counts())


def test_shards_interchange_with_cli(tmp_path, cli, acts):
    x = acts.astype(np.float32)
    np.save(tmp_path / "a1.npy", x[:2000])
    np.save(tmp_path / "a2.npy", x[2000:])
    # CLI shard -> Python.
    cli("coactivation", "--activations", tmp_path / "a1.npy", "--binarize", "topk:7",
        "--counts-out", tmp_path / "cli1.npy", "--out", tmp_path / "g1.tsv")
    c1 = nb.CoactivationCounter.load(tmp_path / "cli1.npy")
    assert c1.rule == "topk:7"
    assert np.array_equal(c1.counts(), reference(x[:2000], "topk:7"))
    # Python shard -> CLI, merged by the CLI with its own shard.
    nb.CoactivationCounter(70, "topk:7").update(x[2000:]).save(tmp_path / "py2.npy")
    cli("coactivation", "--counts", tmp_path / "cli1.npy", tmp_path / "py2.npy",
        "--weight", "count", "--sparsify", "none",
        "--counts-out", tmp_path / "all.npy", "--out", tmp_path / "all.tsv")
    merged = nb.CoactivationCounter.load(tmp_path / "all.npy")
    assert merged.tokens == 5000
    assert np.array_equal(merged.counts(), reference(x, "topk:7"))


def test_graph_matches_cli_edges(tmp_path, cli, acts):
    x = acts.astype(np.float32)
    np.save(tmp_path / "a.npy", x)
    cli("coactivation", "--activations", tmp_path / "a.npy", "--binarize", "positive",
        "--weight", "phi", "--sparsify", "knn:5", "--out", tmp_path / "g.tsv")
    g = nb.CoactivationCounter(70, "positive").update(x).graph(weight="phi", sparsify="knn:5")
    assert g.dead.tolist() == [65] and g.resident.tolist() == [66]
    assert 65 not in g.neurons and 66 not in g.neurons and len(g.neurons) == 68
    a = g.adjacency
    assert (a != a.T).nnz == 0
    cli_edges = {}
    for line in (tmp_path / "g.tsv").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        u, v, w = line.split()[:3]
        try:
            cli_edges[(int(u), int(v))] = float(w)
        except ValueError:
            continue  # header
    coo = a.tocoo()
    py_edges = {(int(g.neurons[i]), int(g.neurons[j])): w for i, j, w in zip(coo.row, coo.col, coo.data) if i < j}
    assert set(py_edges) == set(cli_edges)
    for e, w in py_edges.items():
        assert abs(w - cli_edges[e]) <= 1e-6 * max(1.0, abs(w))


def test_graph_count_weights_are_counts(acts):
    c = nb.CoactivationCounter(70, "positive").update(acts)
    g = c.graph(weight="count", sparsify="none", resident=1.0)
    m = c.counts()
    k = g.neurons
    dense = g.adjacency.toarray()
    sub = m[np.ix_(k, k)].astype(float)
    np.fill_diagonal(sub, 0)
    assert np.array_equal(dense, sub)
    assert g.report["tokens"] == 5000


class OnlyArray:
    def __init__(self, a):
        self.a = a

    def __array__(self, dtype=None, copy=None):
        return self.a


class OnlyDLPack:
    def __init__(self, a):
        self.a = a

    def __dlpack__(self, **kw):
        return self.a.__dlpack__(**kw)

    def __dlpack_device__(self):
        return self.a.__dlpack_device__()


def test_array_protocols(acts):
    x = acts.astype(np.float32)
    ref = nb.CoactivationCounter(70).update(x).counts()
    assert np.array_equal(nb.CoactivationCounter(70).update(OnlyArray(x)).counts(), ref)
    assert np.array_equal(nb.CoactivationCounter(70).update(OnlyDLPack(x)).counts(), ref)
    # Non-contiguous views are accepted (copied).
    wide = np.zeros((5000, 140), dtype=np.float32)
    wide[:, ::2] = x
    assert np.array_equal(nb.CoactivationCounter(70).update(wide[:, ::2]).counts(), ref)
    # Non-native byte order.
    assert np.array_equal(nb.CoactivationCounter(70).update(x.astype(">f4")).counts(), ref)
