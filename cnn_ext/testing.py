"""Fuzzing helpers (used by python/fuzz.py and the test suite; needs hypothesis).

fuzz_case(draw) draws one call of the functional API — conv2d, its backward functions,
max/avg pooling and theirs — with random shapes, strides, padding, dilation, dtypes and
memory layouts, valid and invalid, runs it on both backends and classifies the outcome:

  "ok"            valid call, both backends agree (to float32 tolerance)
  "rejected"      invalid call, both backends raised ValueError/TypeError
  "disagreement"  the backends' results differ, or only one raised
  "bad-error"     an exception other than ValueError/TypeError escaped
A segfault cannot be classified in-process; python/fuzz.py runs batches in child processes
to count those.
"""
import numpy as np

import cnn_ext
from cnn_ext import functional as F

_DTYPES = ["float32"] * 12 + ["float64"] * 4 + ["float16", "int32", "uint8", "bool", ">f4",
                                                "complex64", "object", "U1"]


def _layout(draw, st, a):
    kind = draw(st.sampled_from(["c", "c", "c", "fortran", "strided", "reversed", "readonly"]))
    if kind == "fortran":
        return np.asfortranarray(a)
    if kind == "strided" and a.ndim:
        big = np.zeros(a.shape[:-1] + (a.shape[-1] * 2,), dtype=a.dtype)
        big[..., ::2] = a
        return big[..., ::2]
    if kind == "reversed" and a.ndim:
        return np.ascontiguousarray(a[..., ::-1])[..., ::-1]
    if kind == "readonly":
        a = a.copy()
        a.setflags(write=False)
    return a


def _array(draw, st, shape, rng, flags):
    dtype = draw(st.sampled_from(_DTYPES))
    base = rng.standard_normal(shape)
    if draw(st.integers(0, 20)) == 0 and base.size:
        base.flat[draw(st.integers(0, base.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        flags["nonfinite"] = True
    if dtype == "object":
        a = base.astype(object)
    elif dtype == "U1":
        a = np.full(shape, "a")
    elif dtype in ("int32", "uint8", "bool"):
        with np.errstate(invalid="ignore"):
            a = np.nan_to_num(base).astype(dtype)
    else:
        a = base.astype(dtype)
    return _layout(draw, st, a)


def _int_or_pair(draw, st, lo, hi):
    if draw(st.booleans()):
        return draw(st.integers(lo, hi))
    return (draw(st.integers(lo, hi)), draw(st.integers(lo, hi)))


def draw_call(draw):
    """(name, callable, exact) of one random functional-API call (possibly invalid).

    exact is False when an input holds NaN/inf: where such a value meets zero padding the
    result is implementation-defined (GEMM computes 0*inf = NaN, direct loops skip the
    padding), so only shapes, dtypes and clean errors are compared then.
    """
    from hypothesis import strategies as st
    flags = {"nonfinite": False}
    name, fn = _draw_call(draw, st, flags)
    return name, fn, not flags["nonfinite"]


def _draw_call(draw, st, flags):
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    op = draw(st.sampled_from(["conv2d", "conv2d_backward", "conv2d_backward_input",
                               "conv2d_backward_weight", "max_pool2d", "max_pool2d_backward",
                               "avg_pool2d", "avg_pool2d_backward"]))
    ndim = draw(st.sampled_from([4] * 12 + [3, 2, 5]))
    shape = tuple(draw(st.integers(0 if draw(st.integers(0, 60)) == 0 else 1, 9)) for _ in range(ndim))
    x = _array(draw, st, shape, rng, flags)
    stride = _int_or_pair(draw, st, 0 if draw(st.integers(0, 15)) == 0 else 1, 3)
    padding = _int_or_pair(draw, st, -1 if draw(st.integers(0, 15)) == 0 else 0, 3)
    dilation = _int_or_pair(draw, st, 0 if draw(st.integers(0, 15)) == 0 else 1, 3)
    if op.startswith("conv"):
        C = shape[1] if len(shape) > 1 and draw(st.integers(0, 8)) else draw(st.integers(1, 4))
        wshape = (draw(st.integers(1, 4)), C, draw(st.integers(1, 4)), draw(st.integers(1, 4)))
        if draw(st.integers(0, 20)) == 0:
            wshape = wshape[:3]
        w = _array(draw, st, wshape, rng, flags)
        b = _array(draw, st, (wshape[0],), rng, flags) if draw(st.booleans()) else None
        if op == "conv2d":
            return op, lambda: F.conv2d(x, w, b, stride, padding, dilation)
        # a grad_output of the right shape when the call is valid, sometimes a wrong one
        try:
            y_shape = F.conv2d(np.zeros(shape, np.float32), np.zeros(wshape, np.float32),
                               None, stride, padding, dilation).shape
        except (ValueError, TypeError):
            y_shape = shape
        if draw(st.integers(0, 10)) == 0:
            y_shape = tuple(s + 1 for s in y_shape)
        g = _array(draw, st, y_shape, rng, flags)
        if op == "conv2d_backward":
            return op, lambda: F.conv2d_backward(x, w, g, stride, padding, dilation)
        if op == "conv2d_backward_input":
            return op, lambda: F.conv2d_backward_input(g, w, shape, stride, padding, dilation)
        return op, lambda: F.conv2d_backward_weight(x, g, wshape, stride, padding, dilation)
    kernel = _int_or_pair(draw, st, 0 if draw(st.integers(0, 15)) == 0 else 1, 4)
    pstride = None if draw(st.booleans()) else stride
    if op == "max_pool2d":
        return op, lambda: F.max_pool2d(x, kernel, pstride, padding, return_indices=True)
    if op == "avg_pool2d":
        return op, lambda: F.avg_pool2d(x, kernel, pstride, padding)
    try:
        y, idx = F.max_pool2d(np.zeros(shape, np.float32), kernel, pstride, padding, return_indices=True)
        y_shape = y.shape
    except (ValueError, TypeError):
        y_shape, idx = shape, np.zeros(shape, np.int64)
    g = _array(draw, st, y_shape, rng, flags)
    if op == "max_pool2d_backward":
        if draw(st.integers(0, 8)) == 0 and idx.size:
            idx = idx.copy()
            idx.flat[0] = draw(st.sampled_from([-1, 10 ** 6]))
        return op, lambda: F.max_pool2d_backward(g, idx, shape)
    return op, lambda: F.avg_pool2d_backward(g, shape, kernel, pstride, padding)


def _flatten(r):
    return list(r) if isinstance(r, tuple) else [r]


def run_call(fn, backends, exact=True):
    """Run fn on each backend; classify the outcome (see the module docstring).
    exact=False compares shapes and dtypes only (see draw_call)."""
    results = {}
    before = cnn_ext.get_backend()
    try:
        for name in backends:
            cnn_ext.set_backend(name)
            try:
                results[name] = ("value", _flatten(fn()))
            except (ValueError, TypeError) as exc:
                results[name] = ("error", type(exc).__name__)
            except Exception as exc:  # noqa: BLE001 - anything else is a finding
                return "bad-error", f"{name}: {type(exc).__name__}: {exc}"
    finally:
        cnn_ext.set_backend(before)
    kinds = {r[0] for r in results.values()}
    if len(kinds) > 1:
        return "disagreement", str({k: v[0] if v[0] == "value" else v for k, v in results.items()})
    if kinds == {"error"}:
        return "rejected", ""
    outs = [r[1] for r in results.values()]
    for parts in zip(*outs):
        a = [np.asarray(p) for p in parts]
        if any(x.shape != a[0].shape or x.dtype != a[0].dtype for x in a):
            return "disagreement", f"shapes/dtypes {[(x.shape, x.dtype) for x in a]}"
        if not exact:
            continue
        if a[0].dtype.kind == "f":
            scale = max(1.0, float(np.nanmax(np.abs(np.where(np.isfinite(a[0]), a[0], 0)), initial=0)))
            for x in a[1:]:
                same_nan = np.array_equal(np.isnan(x), np.isnan(a[0]))
                fin = np.isfinite(a[0]) & np.isfinite(x)
                tol = 1e-3 if a[0].dtype != np.float64 else 1e-9
                if not same_nan or not np.allclose(x[fin], a[0][fin], rtol=tol, atol=tol * scale):
                    return "disagreement", "values differ"
        elif not all(np.array_equal(x, a[0]) for x in a[1:]):
            return "disagreement", "integer outputs differ"
    return "ok", ""
