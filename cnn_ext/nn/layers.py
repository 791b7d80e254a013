"""Layers with PyTorch's names, arguments, defaults and numerics.

Arrays are NCHW: images (N, C, H, W), features (N, F). Each layer validates its input
in Python, then calls the active backend (see cnn_ext.set_backend).
"""
import threading

import numpy as np

from .. import _backend
from .._random import resolve
from .._validation import as_float_array, check_batch, check_finite_number, check_ndim, pair
from .._workspace import Workspace
from . import init as _init
from .module import Module, Parameter


def _positive_int(cls, name, v):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{cls}: {name} must be a positive int; got {v!r}")
    return int(v)


def _input(layer, x, ndims, layout, hint=""):
    """x as a C-contiguous array of the layer's dtype, with its rank checked."""
    name = type(layer).__name__
    x = as_float_array(name, "input", x, dtype=layer.dtype if layer._cast_input else None)
    if x.ndim not in ndims:
        extra = f" — {hint}" if hint and x.ndim == min(ndims) - 1 else ""
        want = " or ".join(f"{n}-D" for n in ndims)
        raise ValueError(f"{name}: input must be {want} {layout}; got shape {x.shape}{extra}")
    check_batch(name, "input", x)
    return x


class Conv2d(Module):
    """2-D convolution. weight (out_channels, in_channels, kh, kw), bias (out_channels,).

    input (N, in_channels, H, W) -> (N, out_channels, ho, wo).
    """
    _cast_input = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, bias=True, rng=None):
        super().__init__()
        self.in_channels = _positive_int("Conv2d", "in_channels", in_channels)
        self.out_channels = _positive_int("Conv2d", "out_channels", out_channels)
        self.kernel_size = pair("Conv2d", "kernel_size", kernel_size, 1)
        self.stride = pair("Conv2d", "stride", stride, 1)
        self.padding = pair("Conv2d", "padding", padding, 0)
        self.dilation = pair("Conv2d", "dilation", dilation, 1)
        self.weight = Parameter(np.zeros((self.out_channels, self.in_channels) + self.kernel_size))
        self.bias = Parameter(np.zeros(self.out_channels)) if bias else None
        self.fuse_relu = False  # True: forward applies ReLU to its output
        self._planned_relu = False  # set by Sequential when a ReLU follows
        self._ws = Workspace()
        self._x = None
        self._y = None
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        _init.default_reset(self.weight, self.bias, rng)

    def _check(self, x):
        x = _input(self, x, (4,), "(N, C, H, W)", "add a channel axis with x[:, None]")
        if x.shape[1] != self.in_channels:
            raise ValueError(f"Conv2d: expected input with {self.in_channels} channels "
                             f"(in_channels={self.in_channels}); got {x.shape[1]} channels from "
                             f"an input of shape {x.shape}")
        for axis, size, k, p, d in (("height", x.shape[2], self.kernel_size[0], self.padding[0], self.dilation[0]),
                                    ("width", x.shape[3], self.kernel_size[1], self.padding[1], self.dilation[1])):
            if size + 2 * p < d * (k - 1) + 1:
                raise ValueError(f"Conv2d: input {axis} {size} (+2*{p} padding) is smaller than the "
                                 f"kernel {axis} {k} (dilation {d}); input shape {x.shape}")
        return x

    def forward(self, x):
        x = self._check(x)
        b = self.bias.data if self.bias is not None else None
        relu = self.fuse_relu or self._planned_relu
        N, _, H, W = x.shape
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.kernel_size, self.stride, self.padding, self.dilation
        shape = (N, self.out_channels, (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1,
                 (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1)
        y = _backend.active().conv2d_forward(x, self.weight.data, b, self.stride, self.padding,
                                             self.dilation, relu=relu, ws=self._ws,
                                             out=self._buffer("y", shape, x.dtype, self._reuse_out))
        if self.training:
            self._x, self._thread, self._col_valid = x, threading.get_ident(), True
            self._y = y if relu else None
        return y

    def backward(self, grad_out, input_grad=True):
        self._need_forward("_x")
        g = np.ascontiguousarray(grad_out, dtype=self._x.dtype)
        dx, dw, db = _backend.active().conv2d_backward(
            self._x, self._x.shape, self.weight.data, g, self.stride, self.padding,
            self.dilation, need_dx=input_grad, need_dw=True, ws=self._ws,
            reuse_col=self._col_valid and self._thread == threading.get_ident(),
            dx_out=self._buffer("dx", self._x.shape, self._x.dtype, self._reuse_grad),
            relu_out=self._y)  # the fused ReLU's output, or None
        self._col_valid = self._col_valid and not input_grad  # dcol overwrote the columns
        self.weight.grad += dw
        if self.bias is not None:
            self.bias.grad += db
        return dx

    def flops(self, input_shape, output_shape):
        kh, kw = self.kernel_size
        return 2 * int(np.prod(output_shape)) * self.in_channels * kh * kw

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.bias is None:
            s += ", bias=False"
        return s

    def get_config(self):
        return dict(in_channels=self.in_channels, out_channels=self.out_channels,
                    kernel_size=list(self.kernel_size), stride=list(self.stride),
                    padding=list(self.padding), dilation=list(self.dilation),
                    bias=self.bias is not None)


class _Pool2d(Module):
    _cast_input = False
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = pair(name, "kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else pair(name, "stride", stride, 1)
        self.padding = pair(name, "padding", padding, 0)
        if any(p > k // 2 for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{name}: padding {self.padding} must be at most half the "
                             f"kernel_size {self.kernel_size}")
        self._shape = None

    def _check(self, x):
        x = _input(self, x, (4,), "(N, C, H, W)", "add a channel axis with x[:, None]")
        for axis, size, k, p in (("height", x.shape[2], self.kernel_size[0], self.padding[0]),
                                 ("width", x.shape[3], self.kernel_size[1], self.padding[1])):
            if size + 2 * p < k:
                raise ValueError(f"{type(self).__name__}: window {axis} {k} is larger than the "
                                 f"input {axis} {size} (+2*{p} padding); input shape {x.shape}")
        return x

    def _out_shape(self, s):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return (s[0], s[1], (s[2] + 2 * ph - kh) // sh + 1, (s[3] + 2 * pw - kw) // sw + 1)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def get_config(self):
        return dict(kernel_size=list(self.kernel_size), stride=list(self.stride),
                    padding=list(self.padding))

    def flops(self, input_shape, output_shape):
        return int(np.prod(output_shape)) * self.kernel_size[0] * self.kernel_size[1]


class MaxPool2d(_Pool2d):
    """Max pooling; keeps channels: (N, C, H, W) -> (N, C, ho, wo)."""

    def forward(self, x):
        x = self._check(x)
        shape = self._out_shape(x.shape)
        y, idx = _backend.active().max_pool2d_forward(
            x, self.kernel_size, self.stride, self.padding,
            out=self._buffer("y", shape, x.dtype, self._reuse_out),
            idx_out=self._buffer("idx", shape, np.int64, self._reuse_out and self.training))
        if self.training:
            self._idx, self._shape = idx, x.shape
        return y

    def backward(self, grad_out, input_grad=True):
        self._need_forward("_shape")
        g = as_float_array("MaxPool2d.backward", "grad_out", grad_out)
        return _backend.active().max_pool2d_backward(
            g, self._idx, self._shape, out=self._buffer("dx", self._shape, g.dtype, self._reuse_grad))


class AvgPool2d(_Pool2d):
    """Average pooling (count_include_pad=True); keeps channels."""

    def forward(self, x):
        x = self._check(x)
        if self.training:
            self._shape = x.shape
        return _backend.active().avg_pool2d_forward(
            x, self.kernel_size, self.stride, self.padding,
            out=self._buffer("y", self._out_shape(x.shape), x.dtype, self._reuse_out))

    def backward(self, grad_out, input_grad=True):
        self._need_forward("_shape")
        g = as_float_array("AvgPool2d.backward", "grad_out", grad_out)
        return _backend.active().avg_pool2d_backward(
            g, self._shape, self.kernel_size, self.stride, self.padding,
            out=self._buffer("dx", self._shape, g.dtype, self._reuse_grad))


class Flatten(Module):
    """(N, C, H, W) -> (N, C*H*W)."""

    def __init__(self):
        super().__init__()
        self._shape = None

    def forward(self, x):
        x = np.asarray(x)
        if x.ndim < 2:
            raise ValueError(f"Flatten: input must have a batch axis and at least one more; got shape {x.shape}")
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad_out, input_grad=True):
        self._need_forward("_shape")
        return np.asarray(grad_out).reshape(self._shape)


class Linear(Module):
    """y = x @ weight.T + bias. weight (out_features, in_features).

    in_features=None infers it from the first input (like PyTorch's LazyLinear).
    input (N, in_features) -> (N, out_features).
    """
    _cast_input = True

    def __init__(self, in_features, out_features, bias=True, rng=None):
        super().__init__()
        if in_features is not None:
            in_features = _positive_int("Linear", "in_features", in_features)
        self.in_features = in_features
        self.out_features = _positive_int("Linear", "out_features", out_features)
        self._use_bias = bool(bias)
        self._rng = rng
        self._x = None
        self._source_shape = None
        self.weight = None
        self.bias = None
        if in_features is not None:
            self._build(in_features)

    def _build(self, in_features, dtype=np.float32):
        self.in_features = int(in_features)
        self.weight = Parameter(np.zeros((self.out_features, self.in_features)), dtype=dtype)
        self.bias = Parameter(np.zeros(self.out_features), dtype=dtype) if self._use_bias else None
        _init.default_reset(self.weight, self.bias, self._rng)

    @property
    def dtype(self):
        return self.weight.data.dtype if self.weight is not None else np.dtype(np.float32)

    def state_dict(self):
        if self.weight is None:
            raise RuntimeError("Linear(in_features=None): run one forward pass (or "
                               "model.summary(input_shape)) before state_dict so the size is known")
        return super().state_dict()

    def load_state_dict(self, state_dict, strict=True):
        if self.weight is None and "weight" in state_dict:
            self._build(np.asarray(state_dict["weight"]).shape[1])
        return super().load_state_dict(state_dict, strict)

    def forward(self, x):
        x = _input(self, x, (2,), "(N, in_features)", "")
        if self.weight is None:
            self._build(x.shape[1])
        if x.shape[1] != self.in_features:
            self._mismatch(x)
        y = x @ self.weight.data.T
        if self.bias is not None:
            y += self.bias.data
        if self.training:
            self._x = x
        return y

    def _mismatch(self, x):
        got, want = x.shape[1], self.in_features
        src = self._source_shape
        origin = f" from a (N, {', '.join(map(str, src[1:]))}) input" if src is not None else ""
        hint = "; or construct Linear(None, out_features) to infer in_features"
        if got > want and got % want == 0 and int(round((got // want) ** 0.5)) ** 2 == got // want:
            hint = "; did you forget a pooling layer?" + hint
        elif got < want:
            hint = "; is there an extra pooling layer, or a smaller input image?" + hint
        raise ValueError(f"Linear expects {want} input features, got {got}{origin}{hint}")

    def backward(self, grad_out, input_grad=True):
        self._need_forward("_x")
        g = np.ascontiguousarray(grad_out, dtype=self._x.dtype)
        self.weight.grad += g.T @ self._x
        if self.bias is not None:
            self.bias.grad += g.sum(axis=0)
        return g @ self.weight.data if input_grad else None

    def flops(self, input_shape, output_shape):
        return 2 * int(np.prod(output_shape)) * (self.in_features or 0)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self._use_bias}"

    def get_config(self):
        return dict(in_features=self.in_features, out_features=self.out_features, bias=self._use_bias)


class _Activation(Module):
    def __init__(self):
        super().__init__()
        self._y = None

    def get_config(self):
        return {}


class ReLU(_Activation):
    def forward(self, x):
        x = np.asarray(x)
        y = np.maximum(x, 0, out=self._buffer("y", x.shape, x.dtype, self._reuse_out))
        if self.training:
            self._y = y
        return y

    def backward(self, grad_out, input_grad=True):
        self._need_forward("_y")
        y = self._y
        g = np.asarray(grad_out)
        if g.shape == y.shape and g.dtype == y.dtype and y.dtype.kind == "f" and y.ndim >= 1 \
                and y.size and y.flags.c_contiguous:
            g = np.ascontiguousarray(g)
            out = self._buffer("dx", y.shape, y.dtype, self._reuse_grad)
            return _backend.active().relu_backward(g, y, out)
        return np.where(y > 0, g, 0).astype(np.result_type(g, y), copy=False)


class LeakyReLU(_Activation):
    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = check_finite_number("LeakyReLU", "negative_slope", negative_slope)
        self._x = None

    def forward(self, x):
        x = np.asarray(x)
        y = np.where(x > 0, x, x * x.dtype.type(self.negative_slope))
        if self.training:
            self._x = x
        return y

    def backward(self, grad_out, input_grad=True):
        self._need_forward("_x")
        return np.where(self._x > 0, grad_out, grad_out * grad_out.dtype.type(self.negative_slope))

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"

    def get_config(self):
        return dict(negative_slope=self.negative_slope)


class Sigmoid(_Activation):
    def forward(self, x):
        x = np.asarray(x)
        y = np.empty_like(x)
        pos = x >= 0
        y[pos] = 1 / (1 + np.exp(-x[pos]))
        e = np.exp(x[~pos])
        y[~pos] = e / (1 + e)
        if self.training:
            self._y = y
        return y

    def backward(self, grad_out, input_grad=True):
        self._need_forward("_y")
        return grad_out * self._y * (1 - self._y)


class Tanh(_Activation):
    def forward(self, x):
        x = np.asarray(x)
        out = self._buffer("y", x.shape, x.dtype, self._reuse_out and x.dtype.kind == "f")
        y = np.tanh(x, out=out)
        if self.training:
            self._y = y
        return y

    def backward(self, grad_out, input_grad=True):
        self._need_forward("_y")
        y = self._y
        g = np.asarray(grad_out)
        if g.shape != y.shape or g.dtype != y.dtype:
            return g * (1 - y * y)
        d = np.multiply(y, y, out=self._buffer("dx", y.shape, y.dtype, self._reuse_grad))
        np.subtract(1, d, out=d)
        return np.multiply(g, d, out=d)


class Dropout(Module):
    """Inverted dropout: zeroes each element with probability p in training and scales the
    rest by 1/(1-p); the identity in eval mode."""

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        p = check_finite_number("Dropout", "p", p)
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1); got {p}")
        self.p = p
        self.rng = rng
        self._mask = None

    def forward(self, x):
        x = np.asarray(x)
        if not self.training or self.p == 0:
            self._mask = None
            return x
        keep = resolve(self.rng).random(x.shape, dtype=np.float32) >= self.p
        self._mask = keep.astype(x.dtype) * x.dtype.type(1 / (1 - self.p))
        return x * self._mask

    def backward(self, grad_out, input_grad=True):
        if self._mask is None:
            return grad_out
        return grad_out * self._mask

    def extra_repr(self):
        return f"p={self.p}"

    def get_config(self):
        return dict(p=self.p)


class _BatchNorm(Module):
    _ndims = ()
    _cast_input = True

    def __init__(self, num_features, eps=1e-5, momentum=0.1, fuse_relu=False):
        super().__init__()
        name = type(self).__name__
        self.num_features = _positive_int(name, "num_features", num_features)
        self.eps = check_finite_number(name, "eps", eps, 0, exclusive=True)
        self.momentum = check_finite_number(name, "momentum", momentum, 0)
        self.weight = Parameter(np.ones(self.num_features))
        self.bias = Parameter(np.zeros(self.num_features))
        self.register_buffer("running_mean", np.zeros(self.num_features, np.float32))
        self.register_buffer("running_var", np.ones(self.num_features, np.float32))
        self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        self.fuse_relu = bool(fuse_relu)
        self._planned_relu = False  # set by Sequential when a ReLU follows
        self._x = None

    def _as3d(self, x):
        name = type(self).__name__
        x = _input(self, x, self._ndims, self._layout)
        if x.shape[1] != self.num_features:
            raise ValueError(f"{name}: expected {self.num_features} channels (num_features="
                             f"{self.num_features}); got input of shape {x.shape} with "
                             f"{x.shape[1]} channels")
        return x, x.reshape(x.shape[0], x.shape[1], -1)

    def forward(self, x):
        x, x3 = self._as3d(x)
        be = _backend.active()
        gamma, beta = self.weight.data, self.bias.data
        relu = self.fuse_relu or self._planned_relu
        out = self._buffer("y", x3.shape, x3.dtype, self._reuse_out)
        if self.training:
            M = x3.shape[0] * x3.shape[2]
            if M < 2:
                raise ValueError(f"{type(self).__name__}: expected more than 1 value per channel "
                                 f"when training; got input of shape {x.shape}")
            y, mean, var, invstd = be.batch_norm_train_forward(x3, gamma, beta, self.eps, relu, out)
            m = self.momentum
            dt = self.running_mean.dtype
            self._set_buffer("running_mean", ((1 - m) * self.running_mean + m * mean).astype(dt))
            self._set_buffer("running_var",
                             ((1 - m) * self.running_var + m * var * (M / (M - 1))).astype(dt))
            self._set_buffer("num_batches_tracked", self.num_batches_tracked + 1)
            self._x, self._mean, self._invstd = x3, mean, invstd
            self._y = y if relu else None
            self._train_stats = True
        else:
            invstd = 1.0 / np.sqrt(self.running_var.astype(np.float64) + self.eps)
            scale = (gamma * invstd).astype(x.dtype)
            shift = (beta - self.running_mean * gamma * invstd).astype(x.dtype)
            y = be.batch_norm_affine(x3, scale, shift, relu, out)
            # eval-mode backward (e.g. input gradients of a frozen model) uses running stats
            self._x, self._train_stats = x3, False
            self._mean, self._invstd = self.running_mean.astype(np.float64), invstd
            self._y = y if relu else None
        return y.reshape(x.shape)

    def backward(self, grad_out, input_grad=True):
        self._need_forward("_x")
        x3 = self._x
        g = np.ascontiguousarray(grad_out, dtype=x3.dtype).reshape(x3.shape)
        if self._train_stats:
            dx, dgamma, dbeta = _backend.active().batch_norm_train_backward(
                x3, g, self.weight.data, self._mean, self._invstd,
                out=self._buffer("dx", x3.shape, x3.dtype, self._reuse_grad), relu_out=self._y)
        else:
            if self._y is not None:  # fused ReLU
                g = g * (self._y > 0)
            xhat = (x3 - self._mean[None, :, None]) * self._invstd[None, :, None]
            dgamma = (g * xhat).sum(axis=(0, 2))
            dbeta = g.sum(axis=(0, 2), dtype=np.float64)
            dx = g * (self.weight.data * self._invstd).astype(g.dtype)[None, :, None]
        self.weight.grad += dgamma.astype(self.weight.grad.dtype)
        self.bias.grad += dbeta.astype(self.bias.grad.dtype)
        return dx.reshape(np.shape(grad_out))

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"

    def get_config(self):
        return dict(num_features=self.num_features, eps=self.eps, momentum=self.momentum)


class BatchNorm2d(_BatchNorm):
    """Batch normalization over (N, H, W) per channel; input (N, C, H, W)."""
    _ndims = (4,)
    _layout = "(N, C, H, W)"


class BatchNorm1d(_BatchNorm):
    """Batch normalization per feature; input (N, C) or (N, C, L)."""
    _ndims = (2, 3)
    _layout = "(N, C) or (N, C, L)"
