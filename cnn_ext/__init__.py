"""cnn_ext: a CNN toolkit for the CPU.

Compiled (Cython) convolution, pooling and batch-norm kernels under a PyTorch-like API,
with a pure-NumPy backend with the same functions beside them.

    import cnn_ext
    cnn_ext.get_backend()          # "cython" or "numpy"
    cnn_ext.set_backend("numpy")   # switch at run time (or CNN_EXT_BACKEND=numpy)
"""
import os as _os
import sys as _sys

# The kernels' OpenMP threads and BLAS's own threads share the cores: with GOMP's default
# spin-waiting, OpenMP threads left spinning after a kernel starve the next GEMM (measured
# 10x slower on 2 cores). Passive waiting must be chosen before libgomp loads; a value the
# user set is kept.
# A short spin before sleeping (GOMP_SPINCOUNT, libgomp's; other runtimes ignore it) lets
# back-to-back kernels skip the futex wake-up, and is too short to starve BLAS (measured:
# fashion_cnn step +5-8%, lenet5 +15%, over PASSIVE alone; 3000 already starved BLAS now and then).
_omp_wait_policy_set_by_us = "OMP_WAIT_POLICY" not in _os.environ
_gomp_spincount_set_by_us = _omp_wait_policy_set_by_us and "GOMP_SPINCOUNT" not in _os.environ
if _gomp_spincount_set_by_us:
    _os.environ["GOMP_SPINCOUNT"] = "1000"
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# OpenBLAS's worker threads spin for about 2**28 cycles (~0.1 s) after every GEMM before they
# sleep, so between two GEMMs they hold a core that the kernels' threads need (measured on
# 2 cores: im2col 1.7x slower right after a GEMM, the fashion_cnn training step 1.2x slower).
# OpenBLAS reads OPENBLAS_THREAD_TIMEOUT (log2 of the spin in cycles) once, when it loads,
# which is when NumPy is first imported: a short spin is chosen here unless the user set a
# value or NumPy was imported before cnn_ext (then it cannot take effect; see README).
_numpy_imported_first = "numpy" in _sys.modules
_openblas_timeout_set_by_us = "OPENBLAS_THREAD_TIMEOUT" not in _os.environ and not _numpy_imported_first
if _openblas_timeout_set_by_us:
    _os.environ["OPENBLAS_THREAD_TIMEOUT"] = "14"

from ._backend import get_backend, set_backend
from ._info import backend_info, set_num_threads, get_num_threads
from ._random import manual_seed
from . import functional, nn, optim, data, models
from .models import fashion_cnn, lenet5
from .serialization import load, load_checkpoint, save, save_checkpoint
from .training import evaluate, fit, predict

__version__ = "0.1.0"

__all__ = ["get_backend", "set_backend", "backend_info", "set_num_threads", "get_num_threads",
           "manual_seed", "functional", "nn", "optim", "data", "models", "lenet5", "fashion_cnn",
           "save", "load", "save_checkpoint", "load_checkpoint", "fit", "evaluate", "predict",
           "__version__"]
