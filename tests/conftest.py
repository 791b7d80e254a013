import os

import numpy as np
import pytest

import cnn_ext

BACKENDS = ["cython", "numpy"] if cnn_ext._backend.compiled_available() else ["numpy"]


def use_backend(name):
    cnn_ext.set_backend(name)


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


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def both_backends(fn):
    """Parametrize a test over every available backend (by the `backend` fixture)."""
    return pytest.mark.parametrize("backend", BACKENDS, indirect=True)(fn)



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
