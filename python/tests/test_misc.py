import numpy as np
import pytest

import neurobricks as nb


def test_theory_matches_formulas():
    a = np.array([40.0, 41.0, 45.0, 100.0])
    s = np.sqrt(a)
    d = 3
    ch = [((s[d] - s[m]) ** 2 + sum(2 ** (d - j - 1) * (s[j] - s[m]) ** 2 for j in range(m + 1, d))) / 2**d for m in range(d)]
    assert np.allclose(nb.ch(a), ch)
    td = []
    for m in range(d):
        abar = (a[d] + sum(2 ** (d - j - 1) * a[j] for j in range(m + 1, d))) / 2 ** (d - m - 1)
        td.append((np.sqrt(abar) - s[m]) ** 2 / 2 ** (m + 1))
    assert np.allclose(nb.td(a), td)
    assert nb.bottom_up_recoverable(a).tolist() == [x > 1 for x in ch]
    assert nb.top_down_recoverable(a).tolist() == list(np.minimum.accumulate(np.array(td) > 1))


def test_metrics():
    t = [0, 0, 1, 1, 2, 2]
    assert nb.adjusted_rand_index(t, ["b", "b", "a", "a", "c", "c"]) == 1.0
    assert nb.normalized_mutual_info(t, [5, 5, 3, 3, 1, 1]) == pytest.approx(1.0)
    assert nb.adjusted_mutual_info(t, t) == pytest.approx(1.0)
    assert nb.matched_accuracy(t, [1, 1, 0, 0, 0, 2]) == pytest.approx(5 / 6)
    # scikit-learn's adjusted_rand_score([0,0,1,1],[0,0,1,2]) = 0.5714285714285715
    assert nb.adjusted_rand_index([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx(0.5714285714285715)


def test_hsbm_structure():
    g = nb.hsbm(2, 400, a=(2, 6, 20), seed=5)
    a = g.adjacency
    assert a.shape == (400, 400) and (a != a.T).nnz == 0 and a.diagonal().sum() == 0
    assert np.bincount(g.leaf).tolist() == [100] * 4
    assert [np.unique(x).size for x in g.labels] == [2, 4]
    assert np.array_equal(nb.hsbm(2, 400, a=(2, 6, 20), seed=5).adjacency.indices, a.indices)
    p = nb.hsbm(1, 60, p=(0.01, 0.5), sizes=[20, 40], seed=0)
    assert np.bincount(p.leaf).tolist() == [20, 40] and p.probs == [0.01, 0.5]


def test_plot_dendrogram(tmp_path):
    g = nb.hsbm(3, 800, a=(40, 41, 45, 100), seed=0)
    m = nb.BottomUp(n_clusters=8).fit(g.adjacency)
    nb.plot_dendrogram(m, tmp_path / "d.png", title="BTSBM", cut=4, node_classes=g.labels_at_depth(1))
    assert (tmp_path / "d.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    m.tree_.plot(tmp_path / "d.svg", leaf_names=[f"c{i}" for i in range(8)])
    assert b"<svg" in (tmp_path / "d.svg").read_bytes()[:500]
    with pytest.raises(ValueError):
        nb.plot_dendrogram(m, tmp_path / "d.gif")
    with pytest.raises(TypeError, match="tree"):
        nb.plot_dendrogram(g, tmp_path / "d.png")


def test_docstrings_on_public_names():
    for name in nb.__all__:
        obj = getattr(nb, name)
        if name == "__version__":
            continue
        assert obj.__doc__ and obj.__doc__.strip(), name
        if isinstance(obj, type):
            for attr, v in vars(obj).items():
                if not attr.startswith("_") and callable(v):
                    assert v.__doc__, f"{name}.{attr}"
