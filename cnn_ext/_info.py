"""Thread control and a description of the running configuration."""
import numbers

import os

from . import _backend, _config

# as at import, right after cnn_ext/__init__ chose it
_openblas_timeout_env = os.environ.get("OPENBLAS_THREAD_TIMEOUT")


def set_num_threads(n):
    """Use n threads in the compiled kernels and in BLAS."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"set_num_threads: n must be an int >= 1; got {n!r}")
    _config.num_threads = int(n)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=int(n), user_api="blas")
    except ImportError:  # threadpoolctl is a dependency, but keep working without it
        pass


def get_num_threads():
    return _config.num_threads


def backend_info():
    """A dict: backend, compiled, openmp, num_threads, blas (threadpoolctl's view), ..."""
    import numpy as np
    import cnn_ext as _pkg

    compiled = _backend.compiled_available()
    openmp = False
    if compiled:
        from . import _conv_kernels
        openmp = _conv_kernels.openmp_enabled()
    try:
        from threadpoolctl import threadpool_info
        blas = [{k: v for k, v in lib.items() if k in (
            "internal_api", "version", "num_threads", "architecture", "threading_layer",
            "filepath")} for lib in threadpool_info() if lib.get("user_api") == "blas"]
    except ImportError:
        blas = []
    return {
        "backend": _backend.get_backend(),
        "compiled": compiled,
        "compiled_error": None if compiled else _backend.compiled_error(),
        "openmp": openmp,
        "num_threads": _config.num_threads,
        "numpy": np.__version__,
        "blas": blas,
        # OPENBLAS_THREAD_TIMEOUT when cnn_ext was imported, and whether NumPy (which loads
        # OpenBLAS, which reads it once) was imported before: then cnn_ext could not set it
        "openblas_thread_timeout": _openblas_timeout_env,
        "numpy_imported_before_cnn_ext": _pkg._numpy_imported_first,
    }
