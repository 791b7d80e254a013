"""Backend selection, thread control and backend_info()."""
import os
import subprocess
import sys

import numpy as np
import pytest

import cnn_ext
from conftest import BACKENDS, run_python


def test_set_and_get_backend():
    for name in BACKENDS:
        cnn_ext.set_backend(name)
        assert cnn_ext.get_backend() == name
    with pytest.raises(ValueError, match="set_backend: name must be one of"):
        cnn_ext.set_backend("cuda")


def test_backend_info_fields():
    info = cnn_ext.backend_info()
    for key in ("backend", "compiled", "openmp", "num_threads", "blas"):
        assert key in info
    assert info["backend"] in ("cython", "numpy")
    assert isinstance(info["compiled"], bool) and isinstance(info["openmp"], bool)
    assert info["num_threads"] >= 1


def test_set_num_threads():
    before = cnn_ext.get_num_threads()
    try:
        cnn_ext.set_num_threads(1)
        assert cnn_ext.backend_info()["num_threads"] == 1
        x = np.random.default_rng(0).standard_normal((4, 2, 8, 8)).astype(np.float32)
        y1 = cnn_ext.functional.conv2d(x, np.ones((3, 2, 3, 3), np.float32))
        cnn_ext.set_num_threads(2)
        y2 = cnn_ext.functional.conv2d(x, np.ones((3, 2, 3, 3), np.float32))
        np.testing.assert_allclose(y1, y2, rtol=1e-6)
    finally:
        cnn_ext.set_num_threads(before)
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ValueError, match="set_num_threads"):
            cnn_ext.set_num_threads(bad)


@pytest.mark.parametrize("env,expect", [("numpy", "numpy"), ("auto", None), ("bogus", None)])
def test_env_variable_selects_backend(env, expect):
    expect = expect or BACKENDS[0]
    out = run_python(["-W", "ignore", "-c", "import cnn_ext; print(cnn_ext.get_backend())"],
                     env={**os.environ, "CNN_EXT_BACKEND": env}, check=True)
    assert out.stdout.strip() == expect


def test_compiled_backend_present_when_required():
    """CI installs with CNN_EXT_REQUIRE_EXT=1; there the compiled backend must be in use."""
    if os.environ.get("CNN_EXT_REQUIRE_EXT") != "1":
        pytest.skip("CNN_EXT_REQUIRE_EXT is not set: a NumPy-only install is allowed")
    assert cnn_ext.backend_info()["compiled"]


_SHOW_ENV = ("import json, os, cnn_ext; i = cnn_ext.backend_info(); print(json.dumps([os.environ.get(k) "
             "for k in ('OMP_WAIT_POLICY', 'GOMP_SPINCOUNT', 'OPENBLAS_THREAD_TIMEOUT')] + "
             "[i['openblas_thread_timeout'], i['numpy_imported_before_cnn_ext']]))")


@pytest.mark.parametrize("first,user,expect", [
    ("", {}, ["PASSIVE", "1000", "14", "14", False]),
    ("import numpy; ", {}, ["PASSIVE", "1000", None, None, True]),  # too late for OpenBLAS
    ("", {"OMP_WAIT_POLICY": "ACTIVE", "OPENBLAS_THREAD_TIMEOUT": "20"},
     ["ACTIVE", None, "20", "20", False]),  # the user's choices are kept
    ("", {"GOMP_SPINCOUNT": "5"}, ["PASSIVE", "5", "14", "14", False]),
], ids=["fresh", "numpy-first", "user-policy", "user-spincount"])
def test_threading_environment_chosen_at_import(first, user, expect):
    import json
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OPENBLAS_THREAD_TIMEOUT")}
    out = run_python(["-c", first + _SHOW_ENV], env={**env, **user}, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == expect
