"""Bad input raises ValueError / TypeError naming the argument; nothing crashes."""

import numpy as np
import pytest
import scipy.sparse as sp

import neurobricks as nb


@pytest.fixture
def good():
    return nb.hsbm(2, 80, a=(1, 3, 8), seed=0).adjacency


@pytest.mark.parametrize("est", [nb.BottomUp, nb.TopDown])
def test_bad_graphs(est, good):
    cases = [
        (np.ones((3, 4)), ValueError, "adjacency.*square"),
        (sp.random(5, 6, density=0.5, format="csr"), ValueError, "adjacency.*square"),
        (np.ones(4), ValueError, "adjacency.*2-D"),
        (np.triu(np.ones((4, 4)), 1), ValueError, "adjacency.*symmetric"),
        (sp.triu(good, k=1).tocsr(), ValueError, "adjacency.*symmetric"),
        (np.array([[0, np.nan], [np.nan, 0]]), ValueError, "adjacency.*NaN"),
        (sp.csr_matrix(np.array([[0, np.inf], [np.inf, 0]])), ValueError, "adjacency.*NaN"),
        (np.array([[0, -1.0], [-1.0, 0]]), ValueError, "adjacency.*negative"),
        (-good, ValueError, "adjacency.*negative"),
        (good.astype(np.complex128), TypeError, "adjacency.*dtype"),
        (np.array([["a", "b"], ["b", "a"]]), TypeError, "adjacency.*dtype"),
        (np.empty((2, 2), dtype=object), TypeError, "adjacency.*dtype"),
        ("graph.tsv", TypeError, "adjacency"),
        (None, TypeError, "adjacency"),
        (np.zeros((0, 0)), ValueError, "adjacency"),
    ]
    for a, exc, pat in cases:
        with pytest.raises(exc, match=pat):
            est().fit(a)


def test_bad_parameters(good):
    with pytest.raises(ValueError, match="n_clusters"):
        nb.BottomUp(n_clusters=0).fit(good)
    with pytest.raises(TypeError, match="n_clusters"):
        nb.BottomUp(n_clusters=2.5).fit(good)
    with pytest.raises(ValueError, match="split"):
        nb.BottomUp(split=1.5).fit(good)
    with pytest.raises(ValueError, match="seed"):
        nb.BottomUp(seed=-1).fit(good)
    with pytest.raises(ValueError, match="k_estimate"):
        nb.BottomUp(k_estimate="louvain").fit(good)
    with pytest.raises(TypeError, match="regulariser"):
        nb.BottomUp(regulariser=None).fit(good)
    with pytest.raises(ValueError, match="regulariser"):
        nb.BottomUp(regulariser="zeta").fit(good)
    with pytest.raises(ValueError, match="tau"):
        nb.TopDown(tau=-1).fit(good)
    with pytest.raises(ValueError, match="names"):
        nb.BottomUp().fit(good, names=["a", "b"])
    with pytest.raises(ValueError, match="names"):
        nb.BottomUp().fit(good, names=["a"] * 80)
    with pytest.raises(ValueError):
        nb.BottomUp(n_clusters=1000).fit(good)
    with pytest.raises(ValueError, match="adjacency"):
        nb.BottomUp().fit(sp.csr_matrix((5, 5)))  # no edges


def test_bad_counter_input():
    c = nb.CoactivationCounter(10)
    with pytest.raises(ValueError, match="batch.*neurons"):
        c.update(np.zeros((4, 11), dtype=np.float32))
    with pytest.raises(TypeError, match="batch.*dtype"):
        c.update(np.zeros((4, 10), dtype=np.int32))
    with pytest.raises(TypeError, match="batch.*dtype"):
        c.update(np.zeros((4, 10), dtype=bool))
    with pytest.raises(TypeError, match="batch.*dtype"):
        c.update(np.zeros((4, 10), dtype=np.complex64))
    with pytest.raises(ValueError, match="batch.*2-D"):
        c.update(np.zeros((2, 4, 10), dtype=np.float32))
    with pytest.raises(TypeError, match="batch"):
        c.update("activations")
    assert c.tokens == 0
    for rule, exc in [("bogus", ValueError), ("topk:0", ValueError), ("topk:11", ValueError),
                      ("threshold:x", ValueError), ("quantile:0.9", ValueError), ("topk:200%", ValueError),
                      (3, TypeError)]:
        with pytest.raises(exc, match="rule"):
            nb.CoactivationCounter(10, rule)
    with pytest.raises(ValueError, match="n_neurons"):
        nb.CoactivationCounter(0)
    with pytest.raises(TypeError, match="n_neurons"):
        nb.CoactivationCounter(2.0)
    c.update(np.ones((3, 10), dtype=np.float32))
    with pytest.raises(ValueError, match="weight"):
        c.graph(weight="nope")
    with pytest.raises(ValueError, match="sparsify"):
        c.graph(sparsify="nope")
    with pytest.raises(ValueError, match="resident"):
        c.graph(resident=0.0)


def test_bad_files(tmp_path):
    with pytest.raises(OSError):
        nb.CoactivationCounter.load(tmp_path / "missing.npy")
    (tmp_path / "t.json").write_text("{not json")
    with pytest.raises(ValueError, match="t.json"):
        nb.load_tree(tmp_path / "t.json")
    with pytest.raises(ValueError, match="tree JSON"):
        nb.Tree.from_json('{"format": "x"}')


def test_bad_hsbm_and_theory():
    with pytest.raises(ValueError, match="a"):
        nb.hsbm(3, 100, a=(1, 2))
    with pytest.raises(ValueError, match="a, p"):
        nb.hsbm(2, 100)
    with pytest.raises(ValueError, match="a"):
        nb.ch([1.0])
    with pytest.raises(ValueError, match="a"):
        nb.td([1.0, -2.0])
    with pytest.raises(ValueError, match="labels_pred"):
        nb.adjusted_rand_index([0, 1, 1], [0, 1])


def test_non_finite_batch_is_refused():
    c = nb.CoactivationCounter(4)
    x = np.zeros((100, 4), dtype=np.float32)
    x[70, 2] = np.nan
    c.update(np.ones((5, 4)))
    with pytest.raises(ValueError, match="batch.*row 70, neuron 2"):
        c.update(x)
    with pytest.raises(ValueError, match="batch.*row 70, neuron 2"):
        c.update(np.asfortranarray(x))
    assert c.tokens == 5 and c.counts()[0, 0] == 5  # nothing of the refused batches counted
    with pytest.raises(ValueError, match="batch.*non-finite"):
        nb.CoactivationCounter(4).update(np.full((3, 4), np.inf, dtype=np.float16))
    # float64 beyond float32's range is infinite once narrowed (as from a .npy file).
    with pytest.raises(ValueError, match="batch.*row 0, neuron 0"):
        nb.CoactivationCounter(4).update(np.full((3, 4), 1e300))
