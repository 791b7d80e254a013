"""cnn_ext: a CNN toolkit for the CPU.

Compiled (Cython) convolution, pooling and batch-norm kernels under a PyTorch-like API,
with a pure-NumPy backend with the same functions beside them.

    import cnn_ext
    cnn_ext.get_backend()          # "cython" or "numpy"
    cnn_ext.set_backend("numpy")   # switch at run time (or CNN_EXT_BACKEND=numpy)
"""
from ._backend import get_backend, set_backend
from ._info import backend_info, set_num_threads, get_num_threads
from ._random import manual_seed
from . import functional

__version__ = "0.1.0"

__all__ = ["get_backend", "set_backend", "backend_info", "set_num_threads", "get_num_threads",
           "manual_seed", "functional", "__version__"]
