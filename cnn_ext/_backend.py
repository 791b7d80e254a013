"""Which kernel backend is active, and switching it.

CNN_EXT_BACKEND=auto|cython|numpy is read at import; set_backend() switches at run time.
auto picks the compiled backend when it imports and otherwise NumPy, with a warning that
says why the compiled module did not import.
"""
import os
import warnings

_NAMES = ("auto", "cython", "numpy")
_active = None
_compiled_error = None  # why the compiled backend failed to import, if it did


def _load(name):
    global _compiled_error
    if name == "numpy":
        from .backends import numpy_backend
        return numpy_backend
    try:
        from .backends import cython_backend
    except ImportError as exc:
        import importlib.util
        if importlib.util.find_spec("cnn_ext._conv_kernels") is None:
            _compiled_error = ("the compiled kernel modules are not installed (the C compiler "
                               "was missing or failed when cnn_ext was installed)")
        else:
            _compiled_error = f"{type(exc).__name__}: {exc}"
        here = os.path.dirname(os.path.abspath(__file__))
        if os.path.exists(os.path.join(os.path.dirname(here), "setup.py")):
            _compiled_error += (f" — note: cnn_ext was imported from the source tree {here}, "
                                "which holds no compiled modules; run from another directory "
                                "or install with `pip install -e .`")
        raise
    return cython_backend


def set_backend(name):
    """Use `name` ("cython", "numpy" or "auto") for every kernel call from now on."""
    global _active
    if not isinstance(name, str) or name.lower() not in _NAMES:
        raise ValueError(f"set_backend: name must be one of {', '.join(_NAMES)}; got {name!r}")
    name = name.lower()
    if name == "auto":
        try:
            _active = _load("cython")
        except ImportError:
            warnings.warn(
                "cnn_ext: the compiled backend is not available "
                f"({_compiled_error}); using the pure-NumPy backend. Reinstall with a C "
                "compiler present to build it.", RuntimeWarning, stacklevel=2)
            _active = _load("numpy")
        return
    if name == "cython":
        try:
            _active = _load("cython")
        except ImportError as exc:
            raise ImportError(
                f"set_backend: the compiled backend is not available ({_compiled_error}). "
                "Reinstall cnn_ext with a C compiler present, or use set_backend('numpy')."
            ) from exc
        return
    _active = _load("numpy")


def get_backend():
    """Name of the backend in use: "cython" or "numpy"."""
    return _active.NAME


def active():
    """The active backend module."""
    return _active


def compiled_available():
    try:
        _load("cython")
    except ImportError:
        return False
    return True


def compiled_error():
    return _compiled_error


def _init_from_env():
    name = os.environ.get("CNN_EXT_BACKEND", "auto").strip().lower() or "auto"
    if name not in _NAMES:
        warnings.warn(f"cnn_ext: CNN_EXT_BACKEND must be one of {', '.join(_NAMES)}; got "
                      f"{name!r}; using auto", RuntimeWarning, stacklevel=3)
        name = "auto"
    if name == "cython":
        try:
            set_backend("cython")
            return
        except ImportError:
            warnings.warn(f"cnn_ext: CNN_EXT_BACKEND=cython but the compiled backend is not "
                          f"available ({_compiled_error}); using numpy", RuntimeWarning,
                          stacklevel=3)
            name = "numpy"
    set_backend(name)


_init_from_env()
