"""Parity with torch.nn.functional (skipped, with a reason, when torch is not installed)."""
import numpy as np
import pytest

from cnn_ext import functional as F
from conftest import both_backends

torch = pytest.importorskip("torch", reason="torch not installed: parity tests need `pip install torch==2.13.0`")
TF = torch.nn.functional


@both_backends
@pytest.mark.parametrize("shape,wshape,kw", [
    ((4, 3, 11, 9), (5, 3, 3, 2), dict(stride=(2, 1), padding=(1, 2), dilation=(2, 1))),
    ((2, 1, 28, 28), (32, 1, 3, 3), dict(padding=1)),
    ((2, 32, 14, 14), (64, 32, 3, 3), dict(padding=1)),
    ((1, 6, 14, 14), (16, 6, 5, 5), {}),
])
def test_conv2d_matches_torch(backend, shape, wshape, kw):
    r = np.random.default_rng(0)
    x = r.standard_normal(shape).astype(np.float32)
    w = r.standard_normal(wshape).astype(np.float32) * 0.2
    b = r.standard_normal(wshape[0]).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    yt = TF.conv2d(xt, wt, bt, **kw)
    g = r.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(g))
    y = F.conv2d(x, w, b, **kw)
    dx, dw, db = F.conv2d_backward(x, w, g, **kw)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dw, wt.grad.numpy(), rtol=1e-4, atol=2e-3)
    np.testing.assert_allclose(db, bt.grad.numpy(), rtol=1e-4, atol=1e-3)


@both_backends
@pytest.mark.parametrize("k,s,p", [(2, None, 0), (3, 2, 1), ((3, 2), (1, 2), (1, 0))])
def test_pools_match_torch(backend, k, s, p):
    r = np.random.default_rng(1)
    x = r.standard_normal((3, 4, 13, 10)).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    yt, it = TF.max_pool2d(xt, k, s, p, return_indices=True)
    g = r.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(g))
    y, idx = F.max_pool2d(x, k, s, p, return_indices=True)
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(idx, it.numpy())
    np.testing.assert_allclose(F.max_pool2d_backward(g, idx, x.shape), xt.grad.numpy(), rtol=1e-5, atol=1e-6)
    xt.grad = None
    at = TF.avg_pool2d(xt, k, s, p)
    at.backward(torch.tensor(g[..., :at.shape[2], :at.shape[3]]))
    np.testing.assert_allclose(F.avg_pool2d(x, k, s, p), at.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(F.avg_pool2d_backward(g, x.shape, k, s, p), xt.grad.numpy(),
                               rtol=1e-5, atol=1e-6)
