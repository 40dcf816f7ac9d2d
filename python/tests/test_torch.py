"""neurobricks.torch.record against real PyTorch (skipped where PyTorch is not installed)."""

import numpy as np
import pytest

try:
    import torch
except Exception as e:  # not installed, or installed without its native libraries (CUDA wheels)
    pytest.skip(
        f"PyTorch is not usable here ({type(e).__name__}: {e}): the forward-hook path is tested "
        "where it is installed; the NumPy/DLPack path is always tested",
        allow_module_level=True,
    )

import neurobricks as nb  # noqa: E402
from neurobricks.torch import record  # noqa: E402


def test_record_counts_module_outputs():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(16, 48), torch.nn.ReLU(), torch.nn.Linear(48, 32), torch.nn.ReLU()
    )
    x = torch.randn(3, 500, 16)
    c1, c3 = nb.CoactivationCounter(48), nb.CoactivationCounter(32, "topk:4")
    with torch.no_grad(), record(model, ["1", "3"], [c1, c3]) as counters:
        for i in range(3):
            model(x[i])
        assert counters["1"] is c1
    assert not model[1]._forward_hooks and not model[3]._forward_hooks  # removed
    with torch.no_grad():
        h1 = model[1](model[0](x.reshape(-1, 16)))
        h3 = model(x.reshape(-1, 16))
    ref1 = nb.CoactivationCounter(48).update(h1.numpy()).counts()
    ref3 = nb.CoactivationCounter(32, "topk:4").update(h3.numpy()).counts()
    assert c1.tokens == 1500 and np.array_equal(c1.counts(), ref1)
    assert np.array_equal(c3.counts(), ref3)
    b = (h1.numpy() > 0).astype(np.int64)
    assert np.array_equal(c1.counts(), (b.T @ b).astype(np.uint32))


def test_tensors_and_dtypes():
    t = torch.randn(200, 10)
    ref = nb.CoactivationCounter(10).update(t.numpy()).counts()
    for dt in (torch.float16, torch.float32, torch.float64):
        assert np.array_equal(nb.CoactivationCounter(10).update(t.to(dt)).counts(),
                              nb.CoactivationCounter(10).update(t.to(dt).numpy()).counts())
    assert np.array_equal(nb.CoactivationCounter(10).update(t.t().contiguous().t()).counts(), ref)
    with pytest.raises(TypeError, match="batch"):
        nb.CoactivationCounter(10).update(t.to(torch.int32))


def test_hooks_removed_on_error():
    model = torch.nn.Sequential(torch.nn.Linear(4, 6))
    c = nb.CoactivationCounter(5)  # wrong size: the hook raises
    with pytest.raises(ValueError, match="batch"):
        with record(model, ["0"], [c]):
            model(torch.randn(2, 4))
    assert not model[0]._forward_hooks
    with pytest.raises(ValueError, match="modules"):
        with record(model, ["nope"], [c]):
            pass
