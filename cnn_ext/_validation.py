"""Argument checks and conversions shared by the functional API and the layers.

Every error names the function, the argument, what was expected and what came.
"""
import numbers

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_float_array(fn, name, a, dtype=None):
    """`a` as a C-contiguous float32/float64 ndarray (a copy only when needed; never modified).

    float32/float64 stay as they are (or become `dtype` when given); other real numeric
    dtypes become float32; object, string, complex and datetime arrays are rejected.
    """
    if not isinstance(a, np.ndarray):
        try:
            a = np.asarray(a)
        except (ValueError, TypeError) as exc:
            raise TypeError(f"{fn}: {name} must be a numeric array; got {type(a).__name__} "
                            f"({exc})") from None
    kind = a.dtype.kind
    if kind not in "biuf":
        raise TypeError(f"{fn}: {name} must have a real numeric dtype (float32 preferred); "
                        f"got dtype {a.dtype}")
    if dtype is not None:
        target = np.dtype(dtype)
    elif a.dtype in FLOAT_DTYPES:
        target = a.dtype
    else:
        target = np.dtype(np.float32)
    return np.ascontiguousarray(a, dtype=target)


def check_ndim(fn, name, a, ndim, layout, hint=""):
    if a.ndim != ndim:
        extra = f" — {hint}" if hint else ""
        raise ValueError(f"{fn}: {name} must be {ndim}-D {layout}; got shape {tuple(a.shape)}{extra}")


def pair(fn, name, value, minimum):
    """An int or a pair of ints, each >= minimum, as a (h, w) tuple of Python ints."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{fn}: {name} must be an int or a pair (h, w) of ints; got {value!r}")
    if isinstance(value, numbers.Integral):
        out = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) for v in value):
        out = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{fn}: {name} must be an int or a pair (h, w) of ints; got {value!r}")
    if out[0] < minimum or out[1] < minimum:
        raise ValueError(f"{fn}: {name} must be >= {minimum}; got {value!r}")
    return out


def check_batch(fn, name, x):
    if x.shape[0] == 0:
        raise ValueError(f"{fn}: {name} has an empty batch (shape {tuple(x.shape)}); "
                         "pass at least one sample")
    if 0 in x.shape:
        raise ValueError(f"{fn}: {name} has a zero-sized axis (shape {tuple(x.shape)})")


def check_image(fn, x, name="x"):
    check_ndim(fn, name, x, 4, "(N, C, H, W)",
               "add a channel axis with x[:, None]" if x.ndim == 3 else
               ("add batch and channel axes with x[None, None]" if x.ndim == 2 else ""))
    check_batch(fn, name, x)


def check_finite_number(fn, name, value, minimum=None, exclusive=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise TypeError(f"{fn}: {name} must be a finite number; got {value!r}")
    if minimum is not None and (value <= minimum if exclusive else value < minimum):
        op = ">" if exclusive else ">="
        raise ValueError(f"{fn}: {name} must be {op} {minimum}; got {value!r}")
    return float(value)
