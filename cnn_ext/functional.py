"""Functional API with PyTorch's semantics and output shapes, on the active backend.

Every function validates and converts in Python (ndim, channels, sizes, dtype,
contiguity), never modifies its inputs, then calls the backend. Arrays are NCHW:
x (N, C, H, W), weight (K, C, kh, kw), bias (K,).
"""
import numpy as np

from . import _backend
from ._validation import as_float_array, check_batch, check_image, check_ndim, pair


def _conv_out(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _common_dtype(*arrays):
    return np.result_type(*[a.dtype for a in arrays if a is not None])


def _conv_geometry(fn, x_shape, w_shape, stride, padding, dilation):
    """Normalized (stride, padding, dilation) after checking them against the shapes."""
    stride = pair(fn, "stride", stride, 1)
    padding = pair(fn, "padding", padding, 0)
    dilation = pair(fn, "dilation", dilation, 1)
    N, C, H, W = x_shape
    K, Cw, kh, kw = w_shape
    if Cw != C:
        raise ValueError(f"{fn}: weight {tuple(w_shape)} expects {Cw} input channels, got x with "
                         f"{C} channels (shape {tuple(x_shape)})")
    for axis, size, k, p, d in (("height", H, kh, padding[0], dilation[0]),
                                ("width", W, kw, padding[1], dilation[1])):
        span = d * (k - 1) + 1
        if size + 2 * p < span:
            raise ValueError(f"{fn}: kernel {axis} {k} (dilated span {span}) is larger than the "
                             f"padded input {axis} {size} + 2*{p} = {size + 2 * p}; use a smaller "
                             "kernel or more padding")
    return stride, padding, dilation


def _weight(fn, weight):
    weight = as_float_array(fn, "weight", weight)
    check_ndim(fn, "weight", weight, 4, "(out_channels, in_channels, kh, kw)")
    if 0 in weight.shape:
        raise ValueError(f"{fn}: weight has a zero-sized axis (shape {weight.shape})")
    return weight


def _conv_args(fn, x, weight, bias, stride, padding, dilation):
    x = as_float_array(fn, "x", x)
    weight = _weight(fn, weight)
    check_image(fn, x)
    stride, padding, dilation = _conv_geometry(fn, x.shape, weight.shape, stride, padding, dilation)
    K = weight.shape[0]
    if bias is not None:
        bias = as_float_array(fn, "bias", bias)
        if bias.shape != (K,):
            raise ValueError(f"{fn}: bias must have shape ({K},) (one per output channel); "
                             f"got {bias.shape}")
    dtype = _common_dtype(x, weight, bias)
    x = x.astype(dtype, copy=False)
    weight = weight.astype(dtype, copy=False)
    if bias is not None:
        bias = bias.astype(dtype, copy=False)
    return x, weight, bias, stride, padding, dilation


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """2-D cross-correlation, as torch.nn.functional.conv2d. Returns y (N, K, ho, wo)."""
    x, weight, bias, s, p, d = _conv_args("conv2d", x, weight, bias, stride, padding, dilation)
    return _backend.active().conv2d_forward(x, weight, bias, s, p, d)


def _check_grad_output(fn, grad_output, expected, dtype):
    g = as_float_array(fn, "grad_output", grad_output, dtype=dtype)
    if g.shape != tuple(expected):
        raise ValueError(f"{fn}: grad_output must have the output's shape {tuple(expected)}; "
                         f"got {g.shape}")
    return g


def conv2d_backward(x, weight, grad_output, stride=1, padding=0, dilation=1):
    """(grad_x, grad_weight, grad_bias) of conv2d at (x, weight) for dL/dy = grad_output."""
    fn = "conv2d_backward"
    x, weight, _, s, p, d = _conv_args(fn, x, weight, None, stride, padding, dilation)
    N, C, H, W = x.shape
    K, _, kh, kw = weight.shape
    out = (N, K, _conv_out(H, kh, s[0], p[0], d[0]), _conv_out(W, kw, s[1], p[1], d[1]))
    g = _check_grad_output(fn, grad_output, out, x.dtype)
    return _backend.active().conv2d_backward(x, x.shape, weight, g, s, p, d)


def conv2d_backward_input(grad_output, weight, input_shape, stride=1, padding=0, dilation=1):
    """dL/dx (input_shape) of conv2d for dL/dy = grad_output."""
    fn = "conv2d_backward_input"
    input_shape = _shape4(fn, input_shape)
    weight = _weight(fn, weight)
    s, p, d = _conv_geometry(fn, input_shape, weight.shape, stride, padding, dilation)
    N, C, H, W = input_shape
    K, _, kh, kw = weight.shape
    out = (N, K, _conv_out(H, kh, s[0], p[0], d[0]), _conv_out(W, kw, s[1], p[1], d[1]))
    g = _check_grad_output(fn, grad_output, out, None)
    weight = weight.astype(np.result_type(weight, g), copy=False)
    g = g.astype(weight.dtype, copy=False)
    dx, _, _ = _backend.active().conv2d_backward(None, input_shape, weight, g, s, p, d,
                                                 need_dx=True, need_dw=False)
    return dx


def conv2d_backward_weight(x, grad_output, weight_shape, stride=1, padding=0, dilation=1):
    """dL/dweight (weight_shape) of conv2d for dL/dy = grad_output."""
    fn = "conv2d_backward_weight"
    weight_shape = _shape4(fn, weight_shape, "weight_shape")
    proxy = np.zeros(weight_shape, dtype=np.float32)
    x, weight, _, s, p, d = _conv_args(fn, x, proxy, None, stride, padding, dilation)
    N, C, H, W = x.shape
    K, _, kh, kw = weight_shape
    out = (N, K, _conv_out(H, kh, s[0], p[0], d[0]), _conv_out(W, kw, s[1], p[1], d[1]))
    g = _check_grad_output(fn, grad_output, out, x.dtype)
    _, dw, _ = _backend.active().conv2d_backward(x, x.shape, weight.astype(x.dtype), g, s, p, d,
                                                 need_dx=False, need_dw=True)
    return dw


def conv2d_backward_bias(grad_output):
    """dL/dbias (K,) of conv2d: grad_output (N, K, ho, wo) summed over N, ho, wo."""
    g = as_float_array("conv2d_backward_bias", "grad_output", grad_output)
    check_ndim("conv2d_backward_bias", "grad_output", g, 4, "(N, K, ho, wo)")
    return g.sum(axis=(0, 2, 3))


def _shape4(fn, shape, name="input_shape"):
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"{fn}: {name} must be a tuple (N, C, H, W); got {shape!r}") from None
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f"{fn}: {name} must be 4 positive sizes (N, C, H, W); got {shape}")
    return shape


def _pool_geometry(fn, x_shape, kernel_size, stride, padding):
    """Normalized (kernel, stride, padding) after checking them against x_shape."""
    k = pair(fn, "kernel_size", kernel_size, 1)
    s = k if stride is None else pair(fn, "stride", stride, 1)
    p = pair(fn, "padding", padding, 0)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"{fn}: padding {p} must be at most half the kernel_size {k} "
                         f"(at most {(k[0] // 2, k[1] // 2)})")
    H, W = x_shape[2:]
    for axis, size, kk, pp in (("height", H, k[0], p[0]), ("width", W, k[1], p[1])):
        if size + 2 * pp < kk:
            raise ValueError(f"{fn}: pooling window {axis} {kk} is larger than the padded input "
                             f"{axis} {size} + 2*{pp} = {size + 2 * pp} (x shape {tuple(x_shape)})")
    return k, s, p


def _pool_args(fn, x, kernel_size, stride, padding):
    x = as_float_array(fn, "x", x)
    check_image(fn, x)
    return (x,) + _pool_geometry(fn, x.shape, kernel_size, stride, padding)


def _pool_out(shape, k, s, p):
    N, C, H, W = shape
    return (N, C, (H + 2 * p[0] - k[0]) // s[0] + 1, (W + 2 * p[1] - k[1]) // s[1] + 1)


def max_pool2d(x, kernel_size, stride=None, padding=0, return_indices=False):
    """Max pooling as torch.nn.functional.max_pool2d (padding counts as -inf, NaN propagates).

    Returns y (N, C, ho, wo), and with return_indices=True also the int64 indices
    (flat h*W + w within each input plane) that max_pool2d_backward takes.
    """
    x, k, s, p = _pool_args("max_pool2d", x, kernel_size, stride, padding)
    y, idx = _backend.active().max_pool2d_forward(x, k, s, p)
    return (y, idx) if return_indices else y


def max_pool2d_backward(grad_output, indices, input_shape):
    """dL/dx (input_shape) of max_pool2d given its indices and dL/dy = grad_output."""
    fn = "max_pool2d_backward"
    input_shape = _shape4(fn, input_shape)
    g = as_float_array(fn, "grad_output", grad_output)
    check_ndim(fn, "grad_output", g, 4, "(N, C, ho, wo)")
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{fn}: indices must be an integer array from max_pool2d; got dtype {idx.dtype}")
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    if idx.shape != g.shape:
        raise ValueError(f"{fn}: indices shape {idx.shape} must equal grad_output shape {g.shape}")
    if g.shape[:2] != input_shape[:2]:
        raise ValueError(f"{fn}: grad_output {g.shape} and input_shape {input_shape} must agree "
                         "on (N, C)")
    plane = input_shape[2] * input_shape[3]
    if idx.size and (idx.min() < 0 or idx.max() >= plane):
        raise ValueError(f"{fn}: indices must lie in [0, {plane}) for input_shape {input_shape}")
    return _backend.active().max_pool2d_backward(g, idx, input_shape)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Average pooling as torch.nn.functional.avg_pool2d (count_include_pad=True)."""
    x, k, s, p = _pool_args("avg_pool2d", x, kernel_size, stride, padding)
    return _backend.active().avg_pool2d_forward(x, k, s, p)


def avg_pool2d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0):
    """dL/dx (input_shape) of avg_pool2d for dL/dy = grad_output."""
    fn = "avg_pool2d_backward"
    input_shape = _shape4(fn, input_shape)
    k, s, p = _pool_geometry(fn, input_shape, kernel_size, stride, padding)
    g = _check_grad_output(fn, grad_output, _pool_out(input_shape, k, s, p), None)
    return _backend.active().avg_pool2d_backward(g, input_shape, k, s, p)
