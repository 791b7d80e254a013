"""The compiled Adam/AdamW update gives the NumPy update's bits (torch parity is in
test_torch_training.py, run on each backend)."""
import numpy as np
import pytest

import cnn_ext
from cnn_ext import nn, optim
from conftest import BACKENDS


@pytest.mark.skipif(len(BACKENDS) < 2, reason="compiled backend not built")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kw", [
    ("Adam", dict(lr=1e-2)), ("Adam", dict(lr=3e-3, weight_decay=1e-2, betas=(0.8, 0.99))),
    ("AdamW", dict(lr=1e-2)), ("AdamW", dict(lr=1e-2, weight_decay=0.1, eps=1e-6)),
])
def test_fused_adam_matches_numpy_update_bit_for_bit(name, kw, dtype):
    r = np.random.default_rng(3)
    w0 = r.standard_normal((6, 5)).astype(dtype)
    grads = [r.standard_normal(w0.shape).astype(dtype) for _ in range(6)]
    grads[2][0, 0] = 0.0
    out = {}
    for backend in BACKENDS:
        cnn_ext.set_backend(backend)
        p = nn.Parameter(w0.copy(), dtype=dtype)
        opt = getattr(optim, name)([p], **kw)
        for g in grads:
            p.grad[...] = g
            opt.step()
        out[backend] = (p.data.copy(), opt.state[0]["exp_avg"].copy(), opt.state[0]["exp_avg_sq"].copy())
    for a, b in zip(out["cython"], out["numpy"]):
        assert a.dtype == dtype
        np.testing.assert_array_equal(a, b)
