import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp


def _find_cli():
    p = os.environ.get("NEUROBRICKS_CLI")
    if p:
        return p if Path(p).is_file() else None
    root = Path(__file__).resolve().parents[2]
    cand = root / "target" / "release" / "neurobricks"
    if cand.is_file():
        return str(cand)
    return shutil.which("neurobricks")


@pytest.fixture(scope="session")
def cli():
    """Run the neurobricks CLI: cli("cluster", "--graph", ...) -> CompletedProcess."""
    exe = _find_cli()
    if exe is None:
        msg = "the neurobricks CLI binary was not found (build it: cargo build --release, or set NEUROBRICKS_CLI)"
        if os.environ.get("NEUROBRICKS_REQUIRE_CLI") == "1":
            pytest.fail(msg)
        pytest.skip(msg)

    def run(*args):
        r = subprocess.run([exe, *map(str, args)], capture_output=True, text=True)
        assert r.returncode == 0, f"CLI failed: {' '.join(map(str, args))}\n{r.stderr}"
        return r

    return run


def write_edge_list(path, adjacency):
    """Upper-triangle edges as `u v` (unweighted) or `u v w` lines."""
    a = sp.triu(sp.csr_matrix(adjacency), k=1).tocoo()
    weighted = not np.all(a.data == 1.0)
    with open(path, "w") as f:
        for u, v, w in zip(a.row, a.col, a.data):
            f.write(f"{u}\t{v}\t{float(w)!r}\n" if weighted else f"{u}\t{v}\n")
