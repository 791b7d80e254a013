"""Weight initializers with PyTorch's formulas, in place, seeded by an explicit Generator.

Each takes a Parameter or ndarray and an optional rng (np.random.Generator or int seed);
without one they use the global generator set by cnn_ext.manual_seed().
"""
import math

import numpy as np

from .._random import resolve


def _array(t):
    return t.data if hasattr(t, "data") and isinstance(t.data, np.ndarray) else t


def _fans(a):
    if a.ndim < 2:
        raise ValueError(f"init: fan in/out need a tensor of at least 2 dims; got shape {a.shape}")
    receptive = int(np.prod(a.shape[2:])) if a.ndim > 2 else 1
    return a.shape[1] * receptive, a.shape[0] * receptive


def calculate_gain(nonlinearity, param=None):
    if nonlinearity in ("linear", "conv2d", "sigmoid", "identity"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _fill(t, values):
    a = _array(t)
    a[...] = values.astype(a.dtype, copy=False)
    return t


def uniform_(t, a=0.0, b=1.0, rng=None):
    arr = _array(t)
    return _fill(t, resolve(rng).uniform(a, b, arr.shape))


def normal_(t, mean=0.0, std=1.0, rng=None):
    arr = _array(t)
    return _fill(t, resolve(rng).normal(mean, std, arr.shape))


def constant_(t, value):
    _array(t)[...] = value
    return t


def zeros_(t):
    return constant_(t, 0.0)


def ones_(t):
    return constant_(t, 1.0)


def kaiming_uniform_(t, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    fan_in, fan_out = _fans(_array(t))
    fan = fan_in if mode == "fan_in" else fan_out
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(t, -bound, bound, rng)


def kaiming_normal_(t, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    fan_in, fan_out = _fans(_array(t))
    fan = fan_in if mode == "fan_in" else fan_out
    return normal_(t, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan), rng)


def xavier_uniform_(t, gain=1.0, rng=None):
    fan_in, fan_out = _fans(_array(t))
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound, rng)


def xavier_normal_(t, gain=1.0, rng=None):
    fan_in, fan_out = _fans(_array(t))
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)


def default_reset(weight, bias, rng=None):
    """PyTorch's default for Conv2d and Linear: kaiming_uniform(a=sqrt(5)), bias U(±1/sqrt(fan_in))."""
    kaiming_uniform_(weight, a=math.sqrt(5), rng=rng)
    if bias is not None:
        fan_in, _ = _fans(_array(weight))
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound, rng)


def apply_scheme(model, scheme, rng=None):
    """Re-initialize every Conv2d/Linear weight of model with a named scheme.

    scheme: "default" (PyTorch's), "he" / "kaiming" (kaiming_normal_, relu gain, zero bias),
    "xavier" (xavier_uniform_, zero bias).
    """
    from .layers import Conv2d, Linear
    for m in model.modules():
        if isinstance(m, (Conv2d, Linear)) and m.weight is not None:
            if scheme == "default":
                default_reset(m.weight, m.bias, rng)
            elif scheme in ("he", "kaiming"):
                kaiming_normal_(m.weight, nonlinearity="relu", rng=rng)
                if m.bias is not None:
                    zeros_(m.bias)
            elif scheme == "xavier":
                xavier_uniform_(m.weight, rng=rng)
                if m.bias is not None:
                    zeros_(m.bias)
            else:
                raise ValueError(f"apply_scheme: scheme must be 'default', 'he' or 'xavier'; got {scheme!r}")
    return model
