# cython: language_level=3
"""Batch-normalization kernels on C-contiguous (N, C, P) memoryviews (P = H*W, 1 for BatchNorm1d).

Arithmetic only, parallel over channels. Row sums use eight independent accumulators
(instruction-level parallelism without -ffast-math) and are combined in double.
cnn_ext.nn validates shapes before calling.
"""
from cython.parallel cimport prange
from cython cimport floating
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


cdef inline double _sum_masked(const floating* a, const floating* y, Py_ssize_t n) noexcept nogil:
    """sum(a[i] where y[i] > 0): the gradient sum behind a fused ReLU with output y."""
    cdef floating s0 = 0, s1 = 0, s2 = 0, s3 = 0
    cdef Py_ssize_t i = 0
    while i + 4 <= n:
        s0 += a[i] if y[i] > 0 else 0
        s1 += a[i + 1] if y[i + 1] > 0 else 0
        s2 += a[i + 2] if y[i + 2] > 0 else 0
        s3 += a[i + 3] if y[i + 3] > 0 else 0
        i += 4
    while i < n:
        s0 += a[i] if y[i] > 0 else 0
        i += 1
    return <double>(s0 + s1) + <double>(s2 + s3)


cdef inline double _dot_masked(const floating* a, const floating* b, const floating* y, Py_ssize_t n,
                               double shift) noexcept nogil:
    """sum(a[i] * (b[i] - shift) where y[i] > 0)."""
    cdef floating s0 = 0, s1 = 0, s2 = 0, s3 = 0
    cdef floating f = <floating>shift
    cdef Py_ssize_t i = 0
    while i + 4 <= n:
        s0 += a[i] * (b[i] - f) if y[i] > 0 else 0
        s1 += a[i + 1] * (b[i + 1] - f) if y[i + 1] > 0 else 0
        s2 += a[i + 2] * (b[i + 2] - f) if y[i + 2] > 0 else 0
        s3 += a[i + 3] * (b[i + 3] - f) if y[i + 3] > 0 else 0
        i += 4
    while i < n:
        s0 += a[i] * (b[i] - f) if y[i] > 0 else 0
        i += 1
    return <double>(s0 + s1) + <double>(s2 + s3)


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
                             double[::1] invstd, bint relu, int n_threads):
    """Per-channel batch statistics of x, then y = gamma*(x-mean)*invstd + beta (ReLU'd if relu).

    mean, var (biased), invstd are written per channel (C,). The variance is the mean of
    squared deviations from a first-pass mean (two passes, no cancellation).
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], P = x.shape[2]
    cdef Py_ssize_t c, n
    cdef double s, m, v, istd, scale, shift
    cdef double count = N * P
    for c in prange(C, nogil=True, schedule="static", num_threads=n_threads):
        s = 0
        for n in range(N):
            s = s + _sum(&x[n, c, 0], P, 0.0)
        m = s / count
        s = 0
        for n in range(N):
            s = s + _sumsq(&x[n, c, 0], P, m)
        v = s / count
        mean[c] = m
        var[c] = v
        istd = 1.0 / sqrt(v + eps)
        invstd[c] = istd
        scale = gamma[c] * istd
        shift = beta[c] - m * scale
        for n in range(N):
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
                              const floating[:, :, ::1] relu_out, bint relu, int n_threads):
    """Gradients of the training-mode transform (batch statistics).

    dgamma = sum(dy * xhat), dbeta = sum(dy),
    dx = gamma*invstd/M * (M*dy - dbeta - xhat*dgamma), M = N*P.
    relu: the forward applied a ReLU with output relu_out; dy counts only where relu_out > 0.
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], P = x.shape[2]
    cdef Py_ssize_t c, n, p
    cdef double sdy, sdyx, m, istd, k, M = N * P
    cdef floating a, b, cc
    for c in prange(C, nogil=True, schedule="static", num_threads=n_threads):
        m = mean[c]
        istd = invstd[c]
        sdy = 0
        sdyx = 0
        for n in range(N):
            if relu:
                sdy = sdy + _sum_masked(&dy[n, c, 0], &relu_out[n, c, 0], P)
                sdyx = sdyx + _dot_masked(&dy[n, c, 0], &x[n, c, 0], &relu_out[n, c, 0], P, m)
            else:
                sdy = sdy + _sum(&dy[n, c, 0], P, 0.0)
                sdyx = sdyx + _dot(&dy[n, c, 0], &x[n, c, 0], P, m)
        sdyx = sdyx * istd
        dgamma[c] = sdyx
        dbeta[c] = sdy
        k = gamma[c] * istd / M
        # dx = k*M*dy - k*sdy - k*sdyx*istd*(x - m)  =  a*dy + b*x + cc
        a = <floating>(k * M)
        b = <floating>(-k * sdyx * istd)
        cc = <floating>(-k * sdy + k * sdyx * istd * m)
        for n in range(N):
            if relu:
                for p in range(P):
                    dx[n, c, p] = a * (dy[n, c, p] if relu_out[n, c, p] > 0 else 0) + b * x[n, c, p] + cc
            else:
                for p in range(P):
                    dx[n, c, p] = a * dy[n, c, p] + b * x[n, c, p] + cc
