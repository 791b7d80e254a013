# cython: language_level=3
"""Batch-normalization kernels on C-contiguous (N, C, P) memoryviews (P = H*W, 1 for BatchNorm1d).

Arithmetic only, parallel over samples with per-thread partial sums per channel. Row sums
use eight independent accumulators (instruction-level parallelism without -ffast-math) and
are combined in double.
cnn_ext.nn validates shapes before calling.
"""
from cython.parallel cimport prange, threadid
from cython cimport floating

from cnn_ext._relu_mask cimport _relu_mask
from libc.math cimport sqrt


cdef inline double _sum(const floating* a, Py_ssize_t n, double shift) noexcept nogil:
    """sum(a[i] - shift) over a row."""
    cdef floating s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0
    cdef floating f = <floating>shift
    cdef Py_ssize_t i = 0
    while i + 8 <= n:
        s0 += a[i] - f
        s1 += a[i + 1] - f
        s2 += a[i + 2] - f
        s3 += a[i + 3] - f
        s4 += a[i + 4] - f
        s5 += a[i + 5] - f
        s6 += a[i + 6] - f
        s7 += a[i + 7] - f
        i += 8
    while i < n:
        s0 += a[i] - f
        i += 1
    return <double>((s0 + s1) + (s2 + s3)) + <double>((s4 + s5) + (s6 + s7))


cdef inline double _sumsq(const floating* a, Py_ssize_t n, double shift) noexcept nogil:
    """sum((a[i] - shift)^2) over a row."""
    cdef floating s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0, d
    cdef floating f = <floating>shift
    cdef Py_ssize_t i = 0
    while i + 8 <= n:
        s0 += (a[i] - f) * (a[i] - f)
        s1 += (a[i + 1] - f) * (a[i + 1] - f)
        s2 += (a[i + 2] - f) * (a[i + 2] - f)
        s3 += (a[i + 3] - f) * (a[i + 3] - f)
        s4 += (a[i + 4] - f) * (a[i + 4] - f)
        s5 += (a[i + 5] - f) * (a[i + 5] - f)
        s6 += (a[i + 6] - f) * (a[i + 6] - f)
        s7 += (a[i + 7] - f) * (a[i + 7] - f)
        i += 8
    while i < n:
        d = a[i] - f
        s0 += d * d
        i += 1
    return <double>((s0 + s1) + (s2 + s3)) + <double>((s4 + s5) + (s6 + s7))


cdef inline double _dot(const floating* a, const floating* b, Py_ssize_t n, double shift) noexcept nogil:
    """sum(a[i] * (b[i] - shift)) over a row."""
    cdef floating s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0
    cdef floating f = <floating>shift
    cdef Py_ssize_t i = 0
    while i + 8 <= n:
        s0 += a[i] * (b[i] - f)
        s1 += a[i + 1] * (b[i + 1] - f)
        s2 += a[i + 2] * (b[i + 2] - f)
        s3 += a[i + 3] * (b[i + 3] - f)
        s4 += a[i + 4] * (b[i + 4] - f)
        s5 += a[i + 5] * (b[i + 5] - f)
        s6 += a[i + 6] * (b[i + 6] - f)
        s7 += a[i + 7] * (b[i + 7] - f)
        i += 8
    while i < n:
        s0 += a[i] * (b[i] - f)
        i += 1
    return <double>((s0 + s1) + (s2 + s3)) + <double>((s4 + s5) + (s6 + s7))


cdef inline void _affine(const floating* a, floating* out, Py_ssize_t n, floating scale,
                         floating shift, bint relu) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating v
    if relu:
        for i in range(n):
            v = a[i] * scale + shift
            out[i] = 0 if v < 0 else v  # NaN propagates, as torch.relu
    else:
        for i in range(n):
            out[i] = a[i] * scale + shift


def batch_norm_train_forward(const floating[:, :, ::1] x, const floating[::1] gamma,
                             const floating[::1] beta, double eps,
                             floating[:, :, ::1] y, double[::1] mean, double[::1] var,
                             double[::1] invstd, double[:, ::1] partial, bint relu, int n_threads):
    """Per-channel batch statistics of x, then y = gamma*(x-mean)*invstd + beta (ReLU'd if relu).

    mean, var (biased), invstd are written per channel (C,); the variance is the mean of
    squared deviations from a first-pass mean (no cancellation). Every pass walks the
    arrays sample by sample (parallel over N, per-thread partial sums in partial (T, C)):
    walking one channel at a time across samples strides through memory and is several
    times slower.
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], P = x.shape[2], T = partial.shape[0]
    cdef Py_ssize_t c, n, t
    cdef double count = N * P, s, scale, shift
    partial[:, :] = 0
    for n in prange(N, nogil=True, schedule="static", num_threads=n_threads):
        t = threadid()
        for c in range(C):
            partial[t, c] += _sum(&x[n, c, 0], P, 0.0)
    for c in range(C):
        s = 0
        for t in range(T):
            s = s + partial[t, c]
        mean[c] = s / count
    partial[:, :] = 0
    for n in prange(N, nogil=True, schedule="static", num_threads=n_threads):
        t = threadid()
        for c in range(C):
            partial[t, c] += _sumsq(&x[n, c, 0], P, mean[c])
    for c in range(C):
        s = 0
        for t in range(T):
            s = s + partial[t, c]
        var[c] = s / count
        invstd[c] = 1.0 / sqrt(var[c] + eps)
    for n in prange(N, nogil=True, schedule="static", num_threads=n_threads):
        for c in range(C):
            scale = gamma[c] * invstd[c]
            shift = beta[c] - mean[c] * scale
            _affine(&x[n, c, 0], &y[n, c, 0], P, <floating>scale, <floating>shift, relu)


def batch_norm_affine(const floating[:, :, ::1] x, const floating[::1] scale,
                      const floating[::1] shift, floating[:, :, ::1] y, bint relu, int n_threads):
    """y[n, c, p] = x[n, c, p]*scale[c] + shift[c] (ReLU'd if relu): the eval-mode transform."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], P = x.shape[2]
    cdef Py_ssize_t n, c
    for n in prange(N, nogil=True, schedule="static", num_threads=n_threads):
        for c in range(C):
            _affine(&x[n, c, 0], &y[n, c, 0], P, scale[c], shift[c], relu)


def batch_norm_train_backward(const floating[:, :, ::1] x, const floating[:, :, ::1] dy,
                              const floating[::1] gamma, const double[::1] mean,
                              const double[::1] invstd, floating[:, :, ::1] dx,
                              double[::1] dgamma, double[::1] dbeta,
                              const floating[:, :, ::1] relu_out, bint relu,
                              double[:, ::1] partial, int n_threads):
    """Gradients of the training-mode transform (batch statistics).

    dgamma = sum(dy * xhat), dbeta = sum(dy),
    dx = gamma*invstd/M * (M*dy - dbeta - xhat*dgamma), M = N*P.
    relu: the forward applied a ReLU with output relu_out; dy counts only where relu_out > 0.
    partial: (T, 2*C) per-thread sums. Both passes walk the arrays sample by sample.
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], P = x.shape[2], T = partial.shape[0]
    cdef Py_ssize_t c, n, t, p
    cdef double sdy, sdyx, k, M = N * P
    cdef floating a, b, cc
    cdef const floating* g
    partial[:, :] = 0
    for n in prange(N, nogil=True, schedule="static", num_threads=n_threads):
        t = threadid()
        for c in range(C):
            if relu:  # the masked gradient goes into dx's row, which is overwritten below
                _relu_mask(&dy[n, c, 0], &relu_out[n, c, 0], &dx[n, c, 0], P)
                g = &dx[n, c, 0]
            else:
                g = &dy[n, c, 0]
            partial[t, c] += _sum(g, P, 0.0)
            partial[t, C + c] += _dot(g, &x[n, c, 0], P, mean[c])
    for c in range(C):
        sdy = 0
        sdyx = 0
        for t in range(T):
            sdy = sdy + partial[t, c]
            sdyx = sdyx + partial[t, C + c]
        sdyx = sdyx * invstd[c]
        dgamma[c] = sdyx
        dbeta[c] = sdy
        k = gamma[c] * invstd[c] / M
        # dx = k*M*dy - k*sdy - k*sdyx*istd*(x - m)  =  a*dy + b*x + cc
        partial[0, c] = k * M
        partial[0, C + c] = -k * sdyx * invstd[c]
    for n in prange(N, nogil=True, schedule="static", num_threads=n_threads):
        for c in range(C):
            a = <floating>partial[0, c]
            b = <floating>partial[0, C + c]
            cc = <floating>(-gamma[c] * invstd[c] / M * dbeta[c] - b * mean[c])
            if relu:
                g = &dx[n, c, 0]
            else:
                g = &dy[n, c, 0]
            for p in range(P):
                dx[n, c, p] = a * g[p] + b * x[n, c, p] + cc
