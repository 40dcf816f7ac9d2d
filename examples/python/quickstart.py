"""Quickstart from Python: real MiniLM layer-5 FFN activations -> co-activation counts ->
graph -> bottom-up bricks -> SciPy dendrogram and the neurobricks drawing.

Mirrors `cargo run --release --example quickstart` (same data, rule, weight and K).
Run from the repository root after `pip install ./python`:

    python examples/python/quickstart.py

Writes out/python_quickstart/{tree.json,dendrogram.png,scipy_dendrogram.png (if matplotlib)}.
"""

from pathlib import Path

import numpy as np
from scipy.cluster.hierarchy import dendrogram, fcluster

import neurobricks as nb

root = Path(__file__).resolve().parents[2]
out = root / "out" / "python_quickstart"
out.mkdir(parents=True, exist_ok=True)

acts = nb.read_ffn_layer(root / "data" / "minilm-l6" / "layer5.safetensors")["activations"]
tokens, neurons = acts.shape
print(f"activations: {tokens} tokens x {neurons} neurons ({acts.dtype})")

counter = nb.CoactivationCounter(neurons, rule="topk:10%")
for lo in range(0, tokens, 4096):  # streaming, as from a model's forward passes
    counter.update(acts[lo : lo + 4096])
g = counter.graph(weight="phi", sparsify="knn:10")
print(f"graph: {g.adjacency.shape[0]} neurons, {g.report['edges']} edges; "
      f"set aside {len(g.dead)} dead, {len(g.resident)} resident")

model = nb.BottomUp(n_clusters=32, seed=0).fit(g.adjacency, names=g.names)
print(f"{model.n_clusters_} bricks; eigenpairs {model.info_['eigen_converged']}/"
      f"{model.info_['eigen_requested']}; fit {model.info_['fit_seconds']:.2f} s")
model.save(out / "tree.json")
nb.plot_dendrogram(model, out / "dendrogram.png", title="MiniLM layer 5: co-activation bricks", cut=4)

# The linkage is SciPy's: cut it, draw it.
four = fcluster(model.linkage_, 4, "maxclust")
print("brick sizes in the 4-way cut:", np.bincount(four[model.labels_[model.labels_ >= 0]])[1:])
try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dendrogram(model.linkage_, no_labels=True)
    plt.savefig(out / "scipy_dendrogram.png", dpi=100)
except ImportError:
    print("(matplotlib not installed: SciPy dendrogram drawing skipped)")
print(f"-> {out}")
