"""max/avg pooling forward/backward on both backends against the direct-loop oracle."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

import cnn_ext
from cnn_ext import functional as F
from conftest import BACKENDS, both_backends
from reference import avg_pool2d_ref, max_pool2d_ref, numeric_grad

pytestmark = pytest.mark.kernel


@st.composite
def pool_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    H = draw(st.integers(max(1, kh - 2 * ph), kh + 6))
    W = draw(st.integers(max(1, kw - 2 * pw), kw + 6))
    return dict(shape=(draw(st.integers(1, 3)), draw(st.integers(1, 3)), H, W),
                kernel=(kh, kw), stride=(sh, sw), padding=(ph, pw),
                seed=draw(st.integers(0, 2 ** 31)))


@pytest.mark.parametrize("name", BACKENDS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=pool_cases())
def test_pools_match_oracle(name, case):
    cnn_ext.set_backend(name)
    x = np.random.default_rng(case["seed"]).standard_normal(case["shape"]).astype(np.float32)
    k, s, p = case["kernel"], case["stride"], case["padding"]
    y, idx = F.max_pool2d(x, k, s, p, return_indices=True)
    np.testing.assert_allclose(y, max_pool2d_ref(x, k, s, p), rtol=0, atol=0)
    # indices point at the maxima
    flat = x.reshape(x.shape[0], x.shape[1], -1)
    picked = np.take_along_axis(flat, idx.reshape(idx.shape[0], idx.shape[1], -1), axis=2)
    np.testing.assert_array_equal(picked.reshape(y.shape), y)
    np.testing.assert_allclose(F.avg_pool2d(x, k, s, p), avg_pool2d_ref(x, k, s, p),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", BACKENDS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=pool_cases())
def test_pool_backward_adjoint(name, case):
    """avg pool is linear: <avg(e), g> = <e, backward(g)>; max pool routes g to the argmax."""
    cnn_ext.set_backend(name)
    r = np.random.default_rng(case["seed"])
    x = r.standard_normal(case["shape"])
    k, s, p = case["kernel"], case["stride"], case["padding"]
    y, idx = F.max_pool2d(x, k, s, p, return_indices=True)
    g = r.standard_normal(y.shape)
    dx = F.max_pool2d_backward(g, idx, x.shape)
    expect = np.zeros(x.shape)
    N, C = x.shape[:2]
    for n in range(N):
        for c in range(C):
            np.add.at(expect[n, c].reshape(-1), idx[n, c].reshape(-1), g[n, c].reshape(-1))
    np.testing.assert_allclose(dx, expect, rtol=1e-12, atol=1e-12)
    da = F.avg_pool2d_backward(g, x.shape, k, s, p)
    np.testing.assert_allclose((x * da).sum(), (avg_pool2d_ref(x, k, s, p) * g).sum(), rtol=1e-9)


@both_backends
@pytest.mark.parametrize("k,s,p", [(2, None, 0), ((3, 2), (2, 1), (1, 1)), (3, 1, 1)])
def test_pool_gradient_check(backend, k, s, p):
    r = np.random.default_rng(5)
    x = r.permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6).astype(np.float64) * 0.01  # distinct
    y, idx = F.max_pool2d(x, k, s, p, return_indices=True)
    g = r.standard_normal(y.shape)
    num = numeric_grad(lambda: float((F.max_pool2d(x, k, s, p) * g).sum()), x, eps=1e-5)
    np.testing.assert_allclose(F.max_pool2d_backward(g, idx, x.shape), num, rtol=1e-6, atol=1e-7)
    ya = F.avg_pool2d(x, k, s, p)
    num = numeric_grad(lambda: float((F.avg_pool2d(x, k, s, p) * g[..., :ya.shape[2], :ya.shape[3]]).sum()), x)
    np.testing.assert_allclose(F.avg_pool2d_backward(g, x.shape, k, s, p), num, rtol=1e-6, atol=1e-7)


def test_backends_agree_pools(rng):
    if len(BACKENDS) < 2:
        pytest.skip("compiled backend not built")
    x = rng.standard_normal((16, 32, 28, 28)).astype(np.float32)
    res = {}
    for name in BACKENDS:
        cnn_ext.set_backend(name)
        y, idx = F.max_pool2d(x, 2, return_indices=True)
        g = np.ones_like(y)
        res[name] = (y, idx, F.max_pool2d_backward(g, idx, x.shape), F.avg_pool2d(x, 3, 2, 1),
                     F.avg_pool2d_backward(y, x.shape, 2))
    for a, b in zip(res["cython"], res["numpy"]):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@both_backends
def test_max_pool_nan_and_channels_kept(backend):
    x = np.arange(2 * 5 * 4 * 4, dtype=np.float32).reshape(2, 5, 4, 4)
    x[0, 0, 1, 1] = np.nan
    y = F.max_pool2d(x, 2)
    assert y.shape == (2, 5, 2, 2)  # pooling keeps channels
    assert np.isnan(y[0, 0, 0, 0]) and not np.isnan(y[0, 0, 0, 1])
    y3 = F.max_pool2d(x, 3, 1, 1)
    assert np.isnan(y3[0, 0, :3, :3]).all()
    assert F.avg_pool2d(x, 2).shape == (2, 5, 2, 2)


@pytest.mark.parametrize("stride", [(2, 2), (2, 1)])
def test_max_pool_ties_and_nans_match_across_backends(stride):
    """Quantized values (many ties), ReLU zeros and NaNs: same values and same indices on
    both backends (the compiled 2x2 path and the general scan)."""
    if len(BACKENDS) < 2:
        pytest.skip("compiled backend not built")
    rng = np.random.default_rng(11)
    for trial in range(200):
        x = rng.integers(0, 3, (2, 3, 6, 8)).astype(np.float32)
        x[rng.random(x.shape) < 0.1] = np.nan
        if trial % 3 == 0:
            x = np.maximum(x - 1, 0)
        res = []
        for name in BACKENDS:
            cnn_ext.set_backend(name)
            res.append(F.max_pool2d(x, 2, stride, return_indices=True))
        np.testing.assert_array_equal(res[0][0], res[1][0])
        np.testing.assert_array_equal(res[0][1], res[1][1])
