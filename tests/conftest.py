import os

import numpy as np
import pytest

import cnn_ext

BACKENDS = ["cython", "numpy"] if cnn_ext._backend.compiled_available() else ["numpy"]
# the compiled backend has two convolution paths (direct loops for small C*kh*kw, im2col +
# GEMM otherwise): kernel tests run each one on every case
CONV_PATHS = (["cython-direct", "cython-gemm"] if "cython" in BACKENDS else []) + ["numpy"]


def use_backend(name):
    """Switch backend; "cython-direct"/"cython-gemm" also force the convolution path."""
    if name.startswith("cython"):
        from cnn_ext.backends import cython_backend
        cython_backend.DIRECT_MAX_CKK = {"cython-direct": 10 ** 9, "cython-gemm": 0}.get(name, 32)
        name = "cython"
    cnn_ext.set_backend(name)


def pytest_report_header(config):
    info = cnn_ext.backend_info()
    return (f"cnn_ext backend={info['backend']} compiled={info['compiled']} "
            f"openmp={info['openmp']} threads={info['num_threads']} "
            f"(CNN_EXT_BACKEND={os.environ.get('CNN_EXT_BACKEND', 'auto')})")


@pytest.fixture
def backend(request):
    """Switch to the backend named by the test's parameter; restore afterwards."""
    before = cnn_ext.get_backend()
    use_backend(request.param)
    yield request.param
    cnn_ext.set_backend(before)


@pytest.fixture(autouse=True)
def _restore_backend():
    before = cnn_ext.get_backend()
    yield
    cnn_ext.set_backend(before)
    if "cython" in BACKENDS:
        from cnn_ext.backends import cython_backend
        cython_backend.DIRECT_MAX_CKK = 32


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def both_backends(fn):
    """Parametrize a test over every available backend (by the `backend` fixture)."""
    return pytest.mark.parametrize("backend", BACKENDS, indirect=True)(fn)


def all_conv_paths(fn):
    """Parametrize over both backends and both compiled convolution paths."""
    return pytest.mark.parametrize("backend", CONV_PATHS, indirect=True)(fn)


def run_python(args, **kwargs):
    """Run `python args...` in a child process from a neutral directory, so that the child
    imports the installed cnn_ext and not the source tree in the current directory."""
    import subprocess
    import sys
    import tempfile
    kwargs.setdefault("cwd", tempfile.gettempdir())
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    return subprocess.run([sys.executable] + list(args), **kwargs)
