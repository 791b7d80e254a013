"""conv2d forward/backward on both backends against the direct-loop oracle."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

import cnn_ext
from cnn_ext import functional as F
from conftest import BACKENDS, both_backends, use_backend
from reference import conv2d_ref, numeric_grad

pytestmark = pytest.mark.kernel


@st.composite
def conv_cases(draw):
    kh = draw(st.integers(1, 4))
    kw = draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    H = draw(st.integers(max(1, span_h - 2 * ph), span_h - 2 * ph + 6 if span_h - 2 * ph > 0 else 7))
    W = draw(st.integers(max(1, span_w - 2 * pw), span_w - 2 * pw + 6 if span_w - 2 * pw > 0 else 7))
    N = draw(st.integers(1, 3))
    C = draw(st.integers(1, 3))
    K = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2 ** 31))
    return dict(N=N, C=C, H=H, W=W, K=K, kernel=(kh, kw), stride=(sh, sw),
                padding=(ph, pw), dilation=(dh, dw), seed=seed)


def _make(case, dtype=np.float32):
    r = np.random.default_rng(case["seed"])
    x = r.standard_normal((case["N"], case["C"], case["H"], case["W"])).astype(dtype)
    w = r.standard_normal((case["K"], case["C"]) + case["kernel"]).astype(dtype)
    b = r.standard_normal(case["K"]).astype(dtype)
    return x, w, b


@pytest.mark.parametrize("name", BACKENDS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=conv_cases())
def test_conv2d_forward_matches_oracle(name, case):
    use_backend(name)
    x, w, b = _make(case)
    kw = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"])
    y = F.conv2d(x, w, b, **kw)
    ref = conv2d_ref(x, w, b, **kw)
    assert y.dtype == np.float32
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", BACKENDS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=conv_cases())
def test_conv2d_backward_matches_oracle_adjoint(name, case):
    """dx, dw, db agree with the oracle's linear map: <conv(x+dx), g> identities, checked
    through the exact float64 Jacobian-vector products of the reference."""
    use_backend(name)
    x, w, b = _make(case, np.float64)
    kw = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"])
    g = np.random.default_rng(case["seed"] + 1).standard_normal(conv2d_ref(x, w, None, **kw).shape)
    dx, dw, db = F.conv2d_backward(x, w, g, **kw)
    # conv is bilinear: <conv(x, w), g> = <x, dx> = <w, dw>
    total = float((conv2d_ref(x, w, None, **kw) * g).sum())
    np.testing.assert_allclose((x * dx).sum(), total, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose((w * dw).sum(), total, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(db, g.sum(axis=(0, 2, 3)), rtol=1e-12, atol=1e-12)
    # and against a random direction: <conv(e, w), g> = <e, dx>
    e = np.random.default_rng(case["seed"] + 2).standard_normal(x.shape)
    np.testing.assert_allclose((e * dx).sum(), (conv2d_ref(e, w, None, **kw) * g).sum(),
                               rtol=1e-9, atol=1e-9)
    v = np.random.default_rng(case["seed"] + 3).standard_normal(w.shape)
    np.testing.assert_allclose((v * dw).sum(), (conv2d_ref(x, v, None, **kw) * g).sum(),
                               rtol=1e-9, atol=1e-9)


@both_backends
@pytest.mark.parametrize("kw", [
    dict(stride=1, padding=0, dilation=1),
    dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2)),
    dict(stride=2, padding=1, dilation=2),
])
def test_conv2d_gradient_check(backend, kw):
    r = np.random.default_rng(0)
    x = r.standard_normal((2, 2, 6, 5))
    w = r.standard_normal((3, 2, 3, 2))
    b = r.standard_normal(3)
    y = F.conv2d(x, w, b, **kw)
    g = r.standard_normal(y.shape)
    loss = lambda: float((F.conv2d(x, w, b, **kw) * g).sum())
    dx, dw, db = F.conv2d_backward(x, w, g, **kw)
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dw, numeric_grad(loss, w), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(db, numeric_grad(loss, b), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(F.conv2d_backward_input(g, w, x.shape, **kw), dx, rtol=1e-12)
    np.testing.assert_allclose(F.conv2d_backward_weight(x, g, w.shape, **kw), dw, rtol=1e-12)
    np.testing.assert_allclose(F.conv2d_backward_bias(g), db, rtol=1e-12)


@both_backends
@pytest.mark.parametrize("shape,wshape,kw", [
    ((1, 1, 5, 5), (1, 1, 1, 1), {}),                         # 1x1 kernel, N=1, C=1
    ((2, 3, 4, 6), (2, 3, 4, 6), {}),                         # kernel fills the input
    ((2, 3, 2, 4), (2, 3, 4, 6), dict(padding=1)),            # kernel fills the padded input
    ((1, 2, 3, 3), (5, 2, 3, 3), dict(padding=2, dilation=2)),
    ((3, 1, 9, 4), (2, 1, 1, 3), dict(stride=(3, 1))),
])
def test_conv2d_edges(backend, shape, wshape, kw):
    r = np.random.default_rng(1)
    x = r.standard_normal(shape).astype(np.float32)
    w = r.standard_normal(wshape).astype(np.float32)
    np.testing.assert_allclose(F.conv2d(x, w, **kw), conv2d_ref(x, w, **kw), rtol=1e-4, atol=1e-4)


def test_backends_agree_on_layer_shapes(rng):
    """Fashion-MNIST CNN layer shapes: compiled and NumPy agree to float32 tolerance."""
    if len(BACKENDS) < 2:
        pytest.skip("compiled backend not built")
    x = rng.standard_normal((8, 32, 14, 14)).astype(np.float32)
    w = rng.standard_normal((64, 32, 3, 3)).astype(np.float32) * 0.1
    b = rng.standard_normal(64).astype(np.float32)
    g = rng.standard_normal((8, 64, 14, 14)).astype(np.float32)
    out = {}
    for name in BACKENDS:
        use_backend(name)
        out[name] = (F.conv2d(x, w, b, padding=1),) + F.conv2d_backward(x, w, g, padding=1)
    for a, b_ in zip(out["cython"], out["numpy"]):
        assert a.dtype == b_.dtype == np.float32
        np.testing.assert_allclose(a, b_, rtol=1e-4, atol=1e-3)


@both_backends
def test_inputs_not_modified_and_layouts(backend, rng):
    x = rng.standard_normal((2, 3, 8, 9)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    x0, w0 = x.copy(), w.copy()
    y = F.conv2d(x, w, padding=1)
    F.conv2d_backward(x, w, np.ones_like(y), padding=1)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)
    # read-only inputs
    xr, wr = x.copy(), w.copy()
    xr.setflags(write=False)
    wr.setflags(write=False)
    np.testing.assert_allclose(F.conv2d(xr, wr, padding=1), y, rtol=1e-6)
    # non-contiguous: a transposed view and a strided slice
    xt = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    assert not xt.flags.c_contiguous
    np.testing.assert_allclose(F.conv2d(xt, w, padding=1), y, rtol=1e-6)
    big = np.zeros((2, 3, 16, 18), np.float32)
    big[:, :, ::2, ::2] = x
    np.testing.assert_allclose(F.conv2d(big[:, :, ::2, ::2], w, padding=1), y, rtol=1e-6)
    # Fortran order and big-endian
    np.testing.assert_allclose(F.conv2d(np.asfortranarray(x), w, padding=1), y, rtol=1e-6)
    np.testing.assert_allclose(F.conv2d(x.astype(">f4"), w, padding=1), y, rtol=1e-6)


@both_backends
def test_dtypes(backend, rng):
    x = rng.integers(0, 255, (2, 1, 6, 6)).astype(np.uint8)
    w = rng.standard_normal((2, 1, 3, 3)).astype(np.float32)
    y = F.conv2d(x, w)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, conv2d_ref(x, w), rtol=1e-4, atol=1e-3)
    y64 = F.conv2d(x.astype(np.float64), w.astype(np.float64))
    assert y64.dtype == np.float64
    np.testing.assert_allclose(y64, conv2d_ref(x, w), rtol=1e-10)


@both_backends
def test_nan_inf_propagate(backend):
    x = np.ones((1, 1, 4, 4), np.float32)
    x[0, 0, 0, 0] = np.nan
    x[0, 0, 3, 3] = np.inf
    y = F.conv2d(x, np.ones((1, 1, 2, 2), np.float32))
    assert np.isnan(y[0, 0, 0, 0]) and np.isinf(y[0, 0, 2, 2])
    assert np.isfinite(y[0, 0, 1, 1])


@pytest.mark.parametrize("small_taps,chunk", [(0, 10 ** 6), (0, 1), (0, 50), (10 ** 6, 10 ** 6)],
                         ids=["batch-layout", "batch-layout-sample-chunks",
                              "batch-layout-ragged-chunks", "per-sample-layout"])
@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("shape,wshape,stride,padding,dilation,bias", [
    ((3, 1, 9, 8), (5, 1, 3, 3), (1, 1), (1, 1), (1, 1), True),
    ((2, 2, 11, 7), (4, 2, 3, 2), (2, 1), (0, 2), (1, 2), False),
    ((4, 3, 6, 6), (2, 3, 1, 1), (1, 1), (0, 0), (1, 1), True),
    ((3, 2, 7, 9), (3, 2, 3, 3), (1, 1), (2, 2), (2, 2), True),   # stride 1, output as wide as the input
    ((3, 2, 2, 5), (2, 2, 5, 3), (1, 1), (2, 1), (1, 1), False),  # kernel rows wholly on padding
    ((2, 3, 5, 4), (2, 3, 3, 3), (1, 1), (2, 2), (1, 1), True),   # stride 1, output wider than the input
])
def test_both_column_layouts_with_fused_relu(monkeypatch, name, small_taps, chunk, shape, wshape,
                                             stride, padding, dilation, bias):
    """The batch and per-sample column layouts each give the oracle's forward (with a fused
    ReLU) and backward (through the ReLU's mask), reusing the forward's columns or not; the
    batch layout also in chunks of one sample and in chunks that do not divide the batch."""
    from cnn_ext.backends import _gemm_conv
    from cnn_ext._workspace import Workspace
    monkeypatch.setattr(_gemm_conv, "SMALL_TAPS", small_taps)
    monkeypatch.setattr(_gemm_conv, "CHUNK_COLUMNS", chunk)
    use_backend(name)
    be = cnn_ext._backend.active()
    r = np.random.default_rng(7)
    x = r.standard_normal(shape).astype(np.float32)
    w = r.standard_normal(wshape).astype(np.float32)
    b = r.standard_normal(wshape[0]).astype(np.float32) if bias else None
    kw = dict(stride=stride, padding=padding, dilation=dilation)
    ref = np.maximum(conv2d_ref(x, w, b, **kw), 0)
    for reuse in (True, False):
        ws = Workspace()
        y = be.conv2d_forward(x, w, b, stride, padding, dilation, relu=True, ws=ws)
        np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
        g = r.standard_normal(y.shape).astype(np.float32)
        dx, dw, db = be.conv2d_backward(x, x.shape, w, g, stride, padding, dilation, ws=ws,
                                        reuse_col=reuse, relu_out=y)
        gm = np.where(y > 0, g, 0).astype(np.float64)
        rdx, rdw, rdb = F.conv2d_backward(x.astype(np.float64), w.astype(np.float64), gm, **kw)
        np.testing.assert_allclose(dx, rdx, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(dw, rdw, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(db, rdb, rtol=1e-4, atol=1e-4)
        # and independently of the backend, against the oracle's linear map
        x64, w64 = x.astype(np.float64), w.astype(np.float64)
        e, v = r.standard_normal(x.shape), r.standard_normal(w.shape)
        scale = np.abs(gm).sum() * (np.abs(x64).max() + np.abs(w64).max() + 1) * 1e-5
        np.testing.assert_allclose((e * dx).sum(), (conv2d_ref(e, w64, None, **kw) * gm).sum(), atol=scale)
        np.testing.assert_allclose((v * dw).sum(), (conv2d_ref(x64, v, None, **kw) * gm).sum(), atol=scale)
