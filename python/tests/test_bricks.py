"""Bricks from NumPy FFN weights: extraction and routing, against the CLI on data/minilm-l6."""

import json
from pathlib import Path

import numpy as np
import pytest

import neurobricks as nb

DATA = Path(__file__).resolve().parents[2] / "data" / "minilm-l6"
LAYER = DATA / "layer5.safetensors"


@pytest.fixture(scope="module")
def layer5():
    """(the layer's arrays, FfnLayer, calibration inputs, held-out inputs): even windows build,
    odd windows measure, as the CLI's bricks commands."""
    if not LAYER.is_file():
        pytest.skip(f"{LAYER} is missing")
    d = nb.read_ffn_layer(LAYER)
    win = nb.read_tokens(DATA / "tokens.safetensors")["window"]
    assert win.shape == (d["ffn_in"].shape[0],)
    layer = nb.FfnLayer(d["w_in"], d["b_in"], d["w_out"], d["b_out"])
    return d, layer, d["ffn_in"][win % 2 == 0], d["ffn_in"][win % 2 == 1], win


@pytest.fixture(scope="module")
def brick_tree(layer5, tmp_path_factory):
    """A brick dendrogram over neuron indices (co-activation graph of the calibration tokens +
    BottomUp), saved as tree JSON. Some neurons are set aside (not in the tree)."""
    d, layer, _, _, win = layer5
    acts = d["activations"][win % 2 == 0]
    c = nb.CoactivationCounter(layer.n_neurons, "topk:10%").update(acts)
    g = c.graph(weight="phi", sparsify="knn:10", resident=0.5)
    model = nb.BottomUp(n_clusters=12, seed=0).fit(g.adjacency, names=g.names)
    path = tmp_path_factory.mktemp("tree") / "tree.json"
    model.save(path)
    return model.tree_, path, g


def test_export_byte_identical_to_cli(tmp_path, cli, layer5, brick_tree):
    _, layer, _, _, _ = layer5
    tree, path, g = brick_tree
    for cut_args, kw in [([], {}), (["--cut-k", "5"], {"cut_k": 5}), (["--depth", "2"], {"depth": 2})]:
        b = nb.Bricks.from_tree(tree, layer.n_neurons, **kw)
        out_py, out_cli = tmp_path / f"py{len(cut_args)}{kw}", tmp_path / f"cli{len(cut_args)}{kw}"
        assert b.export(layer, out_py) == []
        cli("bricks", "extract", "--layer", LAYER, "--tree", path, *cut_args, "--out", out_cli)
        names = sorted(p.name for p in out_cli.iterdir())
        assert names == sorted(p.name for p in out_py.iterdir())
        assert len(names) == len(b) + 2  # bricks, layer.safetensors, bricks.json
        for name in names:
            assert (out_py / name).read_bytes() == (out_cli / name).read_bytes(), name
        index = json.loads((out_py / "bricks.json").read_text())
        assert json.dumps(index)  # valid JSON written by the library
    # The set-aside brick (last) holds exactly the neurons the co-activation graph left out.
    b = nb.Bricks.from_tree(path, layer.n_neurons)
    left_out = np.setdiff1d(np.arange(layer.n_neurons), g.neurons)
    assert left_out.size > 0 and b.set_aside == len(b) - 1
    assert np.array_equal(b.members[b.set_aside], left_out)


def test_sub_ffns_add_up_to_the_layer(layer5, brick_tree):
    d, layer, _, x_ev, _ = layer5
    b = nb.Bricks.from_tree(brick_tree[0], layer.n_neurons, cut_k=4)
    x = x_ev[:200]
    full = layer.forward(x)
    subs = b.sub_ffns(layer)
    assert sorted(np.concatenate([s.neurons for s in subs]).tolist()) == list(range(layer.n_neurons))
    total = sum(s.forward(x) for s in subs) + layer.b_out
    assert np.allclose(total, full, rtol=1e-4, atol=1e-4)
    s0 = subs[0]
    assert np.array_equal(s0.w_in, d["w_in"][s0.neurons]) and np.array_equal(s0.w_out, d["w_out"][:, s0.neurons])
    # The FFN itself: W_out GELU(W_in x + b_in) + b_out, with the exact erf GELU.
    from scipy.special import erf

    z = x.astype(np.float64) @ d["w_in"].T.astype(np.float64) + d["b_in"]
    ref = (0.5 * z * (1 + erf(z / np.sqrt(2)))) @ d["w_out"].T.astype(np.float64) + d["b_out"]
    assert np.allclose(full, ref, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("router,budget", [("oracle", 0.25), ("centroid", 0.1), ("oracle_density", 0.5)])
def test_route_equals_cli(cli, layer5, brick_tree, router, budget):
    _, layer, _, x_ev, _ = layer5
    b = nb.Bricks.from_tree(brick_tree[0], layer.n_neurons)
    r = b.route(layer, x_ev, budget, router=router, random_seeds=[])
    out = cli("bricks", "route", "--layer", LAYER, "--tree", brick_tree[1], "--router", router.replace("_", "-"),
              "--budget", str(budget), "--json").stdout
    ref = json.loads(out)
    assert ref["bricks"] == len(b) and ref["router"] == router
    for k, v in ref["metrics"].items():
        assert r["method"][k] == pytest.approx(v, rel=1e-9, abs=1e-12), k
    assert r["budget_neurons"] == int(budget * layer.n_neurons)
    assert r["method"]["neurons_used"] <= budget + 1e-12


def test_route_against_random_equals_cli_report(cli, layer5, brick_tree):
    """The random same-size baseline: per-seed errors, mean and sd as `bricks report`."""
    _, layer, _, x_ev, _ = layer5
    b = nb.Bricks.from_tree(brick_tree[0], layer.n_neurons)
    r = b.route(layer, x_ev, 0.25, random_seeds=range(3))
    out = cli("bricks", "report", "--data", DATA, "--layers", "5", "--tree", brick_tree[1],
              "--budgets", "0.25", "--seeds", "3", "--fold-keep", "0.5", "--json").stdout
    row = next(x for x in json.loads(out)["details"][0]["routing"] if x["router"] == "oracle")
    assert r["method"]["rel_error"] == pytest.approx(row["method"]["rel_error"], rel=1e-9)
    assert [x["rel_error"] for x in r["random"]] == pytest.approx(row["random_errors"], rel=1e-9)
    assert r["random_error_mean"] == pytest.approx(row["random_error_mean"], rel=1e-9)
    assert r["random_error_std"] == pytest.approx(row["random_error_std"], rel=1e-9)
    assert len(set(row["random_errors"])) == 3  # three different random partitions


def test_labels_partition_and_errors(layer5):
    _, layer, _, x_ev, _ = layer5
    n = layer.n_neurons
    lab = np.arange(n) % 8 * 10  # ids 0, 10, ..., 70 -> bricks 0..7
    b = nb.Bricks.from_labels(lab, set_aside=70)
    assert len(b) == 8 and b.set_aside == 7 and np.array_equal(b.labels, lab // 10)
    assert np.array_equal(b.sizes, np.full(8, n // 8))
    with pytest.raises(ValueError, match="set_aside"):
        nb.Bricks.from_labels(lab, set_aside=5)
    with pytest.raises(TypeError, match="labels"):
        nb.Bricks.from_labels(lab.astype(float))
    with pytest.raises(ValueError, match="labels"):
        nb.Bricks.from_labels(lab - 1)
    with pytest.raises(ValueError, match="budget"):
        b.route(layer, x_ev, 0.0)
    with pytest.raises(ValueError, match="router"):
        b.route(layer, x_ev, 0.5, router="magic")
    with pytest.raises(ValueError, match="x"):
        b.route(layer, x_ev[:, :10], 0.5)
    with pytest.raises(ValueError, match="layer"):
        nb.Bricks.from_labels(lab[:-1]).route(layer, x_ev, 0.5)
    with pytest.raises(ValueError, match="w_out"):
        nb.FfnLayer(layer.w_in, layer.b_in, layer.w_out[:, :-1], layer.b_out)
    bad = layer.w_in.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="layer"):
        nb.FfnLayer(bad, layer.b_in, layer.w_out, layer.b_out)
    with pytest.raises(ValueError, match="cut_k"):
        nb.Bricks.from_tree(nb.BottomUp(n_clusters=2).fit(np.ones((4, 4)) - np.eye(4)).tree_, 4, cut_k=2, depth=1)
    # The representative router with explicit degrees; a wrong length is refused.
    r = b.route(layer, x_ev[:300], 0.5, router="representative", m=2, degree=np.arange(n, dtype=float),
                random_seeds=[0])
    assert 0 <= r["method"]["recall"] <= 1 and len(r["random"]) == 1
    with pytest.raises(ValueError, match="degree"):
        b.route(layer, x_ev, 0.5, router="representative", degree=[1.0])
