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


SHARED_MNIST = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist")
if not os.path.isdir(SHARED_MNIST):
    SHARED_MNIST = "/work/shared/data/mnist"


@pytest.fixture
def mnist_root(tmp_path):
    """A directory holding the four MNIST files, the real t10k set doubling as train."""
    import shutil
    root = tmp_path / "mnist"
    root.mkdir()
    for split in ("train", "t10k"):
        for kind in ("images-idx3", "labels-idx1"):
            shutil.copy(os.path.join(SHARED_MNIST, f"t10k-{kind}-ubyte.gz"), root / f"{split}-{kind}-ubyte.gz")
    return str(root)
