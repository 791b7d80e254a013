"""Compiled backend: Cython kernels (OpenMP over the batch or the planes) + BLAS GEMMs.

Importing it raises ImportError when the extension modules were not built. Functions take
validated C-contiguous float32/float64 arrays and allocate outputs; scratch matrices come
from per-thread workspaces.
"""
import numpy as np

from .. import _config
from .. import _conv_kernels, _norm_kernels, _optim_kernels, _pool_kernels  # ImportError when not compiled
from ._gemm_conv import GemmConv

NAME = "cython"


def _threads():
    return _config.num_threads


def _check_rows(col):
    if col.shape[-1] > 1 and col.strides[-1] != col.itemsize:  # walked by pointer
        raise ValueError(f"column buffer: the last axis must be contiguous; strides {col.strides}")
    return col


class _Prims:
    @staticmethod
    def im2col(x, col, *args):
        _conv_kernels.im2col(x, _check_rows(col), *args, _threads())

    @staticmethod
    def col2im(col, dx, *args):
        _conv_kernels.col2im(_check_rows(col), dx, *args, _threads())

    @staticmethod
    def rows_to_nchw(rows, b, out, relu):
        has_bias = b is not None
        if not has_bias:
            b = np.zeros(rows.shape[0], dtype=rows.dtype)
        _conv_kernels.rows_to_nchw(rows, b, out, has_bias, relu, _threads())

    @staticmethod
    def relu_mask(src, relu_out, out):
        _conv_kernels.relu_mask(src, relu_out, out, _threads())

    @staticmethod
    def nchw_to_rows(src, rows, relu_out, sums):
        relu = relu_out is not None
        _conv_kernels.nchw_to_rows(src, rows, relu_out.reshape(src.shape) if relu else src, relu,
                                   sums, _threads())


_conv = GemmConv(_Prims)

conv2d_forward = _conv.forward
conv2d_backward = _conv.backward


def _alloc(out, shape, dtype):
    return np.empty(shape, dtype=dtype) if out is None else out


def _pool_out(x_shape, kernel, stride, padding):
    N, C, H, W = x_shape
    ho = (H + 2 * padding[0] - kernel[0]) // stride[0] + 1
    wo = (W + 2 * padding[1] - kernel[1]) // stride[1] + 1
    return N, C, ho, wo


def max_pool2d_forward(x, kernel, stride, padding, out=None, idx_out=None):
    """(y, indices) for max pooling of x (N, C, H, W); indices flat h*W + w per plane (int64)."""
    shape = _pool_out(x.shape, kernel, stride, padding)
    y = _alloc(out, shape, x.dtype)
    idx = _alloc(idx_out, shape, np.int64)
    _pool_kernels.max_pool_forward(x, y, idx, *kernel, *stride, *padding, _threads())
    return y, idx


def max_pool2d_backward(dy, indices, x_shape, out=None):
    """dx (N, C, H, W) with dy routed to the recorded maxima."""
    dx = _alloc(out, x_shape, dy.dtype)
    _pool_kernels.max_pool_backward(dy, indices, dx, _threads())
    return dx


def avg_pool2d_forward(x, kernel, stride, padding, out=None):
    """Window means of x (N, C, H, W) (count_include_pad=True)."""
    y = _alloc(out, _pool_out(x.shape, kernel, stride, padding), x.dtype)
    _pool_kernels.avg_pool_forward(x, y, *kernel, *stride, *padding, _threads())
    return y


def avg_pool2d_backward(dy, x_shape, kernel, stride, padding, out=None):
    """dx (N, C, H, W): each dy spread evenly over its window."""
    dx = _alloc(out, x_shape, dy.dtype)
    _pool_kernels.avg_pool_backward(dy, dx, *kernel, *stride, *padding, _threads())
    return dx


def batch_norm_train_forward(x, gamma, beta, eps, relu=False, out=None):
    """x (N, C, P) -> (y, mean, var, invstd), statistics per channel (biased var)."""
    C = x.shape[1]
    y = _alloc(out, x.shape, x.dtype)
    mean, var, invstd = np.empty(C), np.empty(C), np.empty(C)
    T = _threads()
    partial = np.empty((T, C))
    _norm_kernels.batch_norm_train_forward(x, gamma, beta, float(eps), y, mean, var, invstd,
                                           partial, relu, T)
    return y, mean, var, invstd


def batch_norm_affine(x, scale, shift, relu=False, out=None):
    """y = x*scale[c] + shift[c] for x (N, C, P) (ReLU'd when relu)."""
    y = _alloc(out, x.shape, x.dtype)
    _norm_kernels.batch_norm_affine(x, scale, shift, y, relu, _threads())
    return y


def batch_norm_train_backward(x, dy, gamma, mean, invstd, out=None, relu_out=None):
    """(dx, dgamma, dbeta) of the training-mode transform; x, dy (N, C, P).

    relu_out: the output of a fused ReLU; dy then counts only where it is > 0.
    """
    C = x.shape[1]
    dx = _alloc(out, x.shape, x.dtype)
    dgamma, dbeta = np.empty(C), np.empty(C)
    relu = relu_out is not None
    T = _threads()
    partial = np.empty((T, 2 * C))
    _norm_kernels.batch_norm_train_backward(x, dy, gamma, mean, invstd, dx, dgamma, dbeta,
                                            relu_out if relu else x, relu, partial, T)
    return dx, dgamma, dbeta


def adam_update(p, grad, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, step):
    """One Adam/AdamW step in place on flat contiguous arrays p, grad, m, v (n,) of one dtype."""
    # waking the second thread costs more than it saves below ~64k elements
    threads = _threads() if p.shape[0] >= 65536 else 1
    _optim_kernels.adam_update(p, grad, m, v, float(lr), float(beta1), float(beta2), float(eps),
                               float(weight_decay), bool(decoupled), int(step), threads)


def relu_backward(grad, y, out=None):
    """grad where y > 0, else 0 (also where grad is NaN): ReLU's input gradient, y its output.
    grad, y: C-contiguous arrays of one float dtype and shape (N, ...)."""
    out = _alloc(out, y.shape, y.dtype)
    shape = (y.shape[0], 1, -1) if y.ndim > 1 else (1, 1, -1)
    _conv_kernels.relu_mask(grad.reshape(shape), y.reshape(shape), out.reshape(shape), _threads())
    return out
