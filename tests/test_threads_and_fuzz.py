"""Kernels from several Python threads at once; a short fuzz run of the functional API."""
import threading

import numpy as np
import pytest

import cnn_ext
from conftest import BACKENDS


@pytest.mark.parametrize("name", BACKENDS)
def test_concurrent_inference_equals_serial(name):
    cnn_ext.set_backend(name)
    cnn_ext.manual_seed(0)
    model = cnn_ext.fashion_cnn()
    model.eval()
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((n, 1, 28, 28)).astype(np.float32) for n in (16, 9, 32, 5)]
    serial = [model(b) for b in batches]
    results = {}
    errors = []

    def work(i):
        try:
            for _ in range(5):
                out = model(batches[i])
                if i in results:
                    assert np.array_equal(out, results[i])
                results[i] = out
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i in range(4):
        np.testing.assert_array_equal(results[i], serial[i])


def test_concurrent_functional_calls_equal_serial():
    from cnn_ext import functional as F
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((8, 3, 12 + i, 10)).astype(np.float32) for i in range(4)]
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    serial = [F.conv2d(x, w, padding=1) for x in xs]
    out = [None] * 4

    def work(i):
        for _ in range(10):
            out[i] = F.conv2d(xs[i], w, padding=1)
    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    for a, b in zip(out, serial):
        np.testing.assert_array_equal(a, b)


@pytest.mark.kernel
def test_short_fuzz_run():
    """CI's short version of python/fuzz.py: no disagreements, only clean errors."""
    pytest.importorskip("hypothesis")
    from hypothesis import HealthCheck, given, seed, settings, strategies as st
    from cnn_ext.testing import draw_call, run_call
    counts = {}
    bad = []

    @seed(12345)
    @settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def one(data):
        name, fn, exact = draw_call(data.draw)
        outcome, detail = run_call(fn, BACKENDS, exact)
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome in ("disagreement", "bad-error"):
            bad.append((name, detail))

    one()
    assert not bad, bad[:5]
    assert counts.get("ok", 0) > 30 and counts.get("rejected", 0) > 30, counts
