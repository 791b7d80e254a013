"""Pure-NumPy backend: the same functions as cython_backend, vectorized with strided slices.

im2col/col2im loop over kernel positions only (kh*kw slices), pooling over window
positions; every GEMM is one NumPy matmul. Inputs are validated C-contiguous
float32/float64 arrays in NCHW layout.
"""
import numpy as np

from ._gemm_conv import GemmConv

NAME = "numpy"


def _window(start, count, step):
    return slice(start, start + step * (count - 1) + 1, step)


def _pad(x, ph, pw, value=0.0):
    if ph == 0 and pw == 0:
        return x
    N, C, H, W = x.shape
    xp = np.full((N, C, H + 2 * ph, W + 2 * pw), value, dtype=x.dtype)
    xp[:, :, ph:ph + H, pw:pw + W] = x
    return xp


def _split(a, shape):
    """A view of a with its axes split into shape (raises instead of copying)."""
    v = a.view()
    v.shape = shape
    return v


class _Prims:
    @staticmethod
    def im2col(x, col, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo):
        N, C = x.shape[:2]
        xp = _pad(x, ph, pw)
        col6 = _split(col, (C, kh, kw, N, ho, wo))
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, :, _window(i * dh, ho, sh), _window(j * dw, wo, sw)]
                col6[:, i, j] = patch.transpose(1, 0, 2, 3)

    @staticmethod
    def col2im(col, dx, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo):
        N, C, H, W = dx.shape
        dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=dx.dtype)
        col6 = _split(col, (C, kh, kw, N, ho, wo))
        for i in range(kh):
            for j in range(kw):
                dxp[:, :, _window(i * dh, ho, sh), _window(j * dw, wo, sw)] += \
                    col6[:, i, j].transpose(1, 0, 2, 3)
        dx[...] = dxp[:, :, ph:ph + H, pw:pw + W]

    @staticmethod
    def rows_to_nchw(rows, b, out, relu):
        K = rows.shape[0]
        N, _, P = out.shape
        src = rows.reshape(K, N, P).transpose(1, 0, 2)
        if b is not None:
            np.add(src, b[None, :, None], out=out)
        else:
            out[...] = src
        if relu:
            np.maximum(out, 0, out=out)

    @staticmethod
    def relu_mask(src, relu_out, out):
        out[...] = 0
        np.copyto(out, src, where=relu_out > 0)

    @staticmethod
    def nchw_to_rows(src, rows, relu_out, sums):
        N, K, P = src.shape
        if relu_out is not None:
            src = np.where(relu_out.reshape(src.shape) > 0, src, 0)
        rows.reshape(K, N, P)[...] = src.transpose(1, 0, 2)
        src.sum(axis=2, out=sums, dtype=np.float64)


_conv = GemmConv(_Prims)
conv2d_forward = _conv.forward
conv2d_backward = _conv.backward


def _into(out, value):
    if out is None:
        return value
    out[...] = value
    return out


def max_pool2d_forward(x, kernel, stride, padding, out=None, idx_out=None):
    """(y, indices) for max pooling of x (N, C, H, W); indices are flat h*W + w per plane."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    N, C, H, W = x.shape
    ho = (H + 2 * ph - kh) // sh + 1
    wo = (W + 2 * pw - kw) // sw + 1
    xp = _pad(x, ph, pw, -np.inf)
    y = None
    best = np.zeros((N, C, ho, wo), dtype=np.int64)
    for i in range(kh):
        for j in range(kw):
            v = xp[:, :, _window(i, ho, sh), _window(j, wo, sw)]
            if y is None:
                y = v.copy()
                continue
            take = (v > y) | np.isnan(v)  # as PyTorch: NaN wins, the last NaN's index
            np.copyto(y, v, where=take)
            best[take] = i * kw + j
    # kernel-window position -> flat input position
    bi, bj = np.divmod(best, kw)
    rows = np.arange(ho).reshape(1, 1, ho, 1) * sh + bi - ph
    cols = np.arange(wo).reshape(1, 1, 1, wo) * sw + bj - pw
    return _into(out, y), _into(idx_out, rows * W + cols)


def max_pool2d_backward(dy, indices, x_shape, out=None):
    """dx (N, C, H, W): dy routed to the positions in indices (summed where windows overlap)."""
    N, C, H, W = x_shape
    planes = N * C
    flat = indices.reshape(planes, -1) + (np.arange(planes) * (H * W))[:, None]
    dx = np.bincount(flat.ravel(), weights=dy.ravel(), minlength=planes * H * W)
    return _into(out, dx.astype(dy.dtype, copy=False).reshape(x_shape))


def avg_pool2d_forward(x, kernel, stride, padding, out=None):
    """Window means of x (N, C, H, W), zero padding counted (count_include_pad=True)."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    N, C, H, W = x.shape
    ho = (H + 2 * ph - kh) // sh + 1
    wo = (W + 2 * pw - kw) // sw + 1
    xp = _pad(x, ph, pw)
    y = np.zeros((N, C, ho, wo), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            y += xp[:, :, _window(i, ho, sh), _window(j, wo, sw)]
    y *= x.dtype.type(1.0 / (kh * kw))
    return _into(out, y)


def avg_pool2d_backward(dy, x_shape, kernel, stride, padding, out=None):
    """dx (N, C, H, W): each dy spread evenly over its window."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    N, C, H, W = x_shape
    ho, wo = dy.shape[2:]
    dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=dy.dtype)
    g = dy * dy.dtype.type(1.0 / (kh * kw))
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, _window(i, ho, sh), _window(j, wo, sw)] += g
    return _into(out, np.ascontiguousarray(dxp[:, :, ph:ph + H, pw:pw + W]))


def batch_norm_train_forward(x, gamma, beta, eps, relu=False, out=None):
    """x (N, C, P) -> (y, mean, var, invstd), statistics per channel over N and P (biased var)."""
    mean = x.mean(axis=(0, 2), dtype=np.float64)
    var = ((x - mean[None, :, None]) ** 2).mean(axis=(0, 2), dtype=np.float64)
    invstd = 1.0 / np.sqrt(var + eps)
    scale = (gamma * invstd).astype(x.dtype)
    shift = (beta - mean * gamma * invstd).astype(x.dtype)
    return batch_norm_affine(x, scale, shift, relu, out), mean, var, invstd


def batch_norm_affine(x, scale, shift, relu=False, out=None):
    """y = x*scale[c] + shift[c] for x (N, C, P) (ReLU'd when relu)."""
    y = np.multiply(x, scale[None, :, None], out=out)
    y += shift[None, :, None]
    if relu:
        np.maximum(y, 0, out=y)
    return y


def batch_norm_train_backward(x, dy, gamma, mean, invstd, out=None, relu_out=None):
    """(dx, dgamma, dbeta) of the training-mode transform; x, dy (N, C, P).

    relu_out: the output of a fused ReLU; dy then counts only where it is > 0.
    """
    if relu_out is not None:
        dy = np.where(relu_out > 0, dy, 0)
    M = x.shape[0] * x.shape[2]
    xhat = (x - mean[None, :, None].astype(x.dtype)) * invstd[None, :, None].astype(x.dtype)
    dbeta = dy.sum(axis=(0, 2), dtype=np.float64)
    dgamma = (dy * xhat).sum(axis=(0, 2), dtype=np.float64)
    k = (gamma * invstd / M).astype(x.dtype)[None, :, None]
    dx = k * (M * dy - dbeta.astype(x.dtype)[None, :, None] - xhat * dgamma.astype(x.dtype)[None, :, None])
    return _into(out, dx), dgamma, dbeta


# the optimizers' NumPy update is theirs (cnn_ext.optim); no fused kernel here
adam_update = None


def relu_backward(grad, y, out=None):
    """grad where y > 0, else 0 (also where grad is NaN): ReLU's input gradient, y its output."""
    out = np.empty_like(y) if out is None else out
    _Prims.relu_mask(grad, y, out)
    return out
