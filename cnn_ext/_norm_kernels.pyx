# cython: language_level=3
"""Batch-normalization kernels on C-contiguous (N, C, P) memoryviews (P = H*W, 1 for BatchNorm1d).

Arithmetic only, parallel over channels; sums are accumulated in double.
cnn_ext.nn validates shapes before calling.
"""
from cython.parallel cimport prange
from cython cimport floating
from libc.math cimport sqrt


def batch_norm_train_forward(const floating[:, :, ::1] x, const floating[::1] gamma,
                             const floating[::1] beta, double eps,
                             floating[:, :, ::1] y, double[::1] mean, double[::1] var,
                             double[::1] invstd, bint relu, int n_threads):
    """Per-channel batch statistics of x, then y = gamma*(x-mean)*invstd + beta (ReLU'd if relu).

    mean, var (biased), invstd are written per channel (C,).
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], P = x.shape[2]
    cdef Py_ssize_t c, n, p
    cdef double s, d, m, istd, scale, shift, v
    cdef double count = N * P
    for c in prange(C, nogil=True, schedule="static", num_threads=n_threads):
        s = 0
        for n in range(N):
            for p in range(P):
                s = s + x[n, c, p]
        m = s / count
        s = 0
        for n in range(N):
            for p in range(P):
                d = x[n, c, p] - m
                s = s + d * d
        mean[c] = m
        var[c] = s / count
        istd = 1.0 / sqrt(s / count + eps)
        invstd[c] = istd
        scale = gamma[c] * istd
        shift = beta[c] - m * scale
        for n in range(N):
            for p in range(P):
                v = x[n, c, p] * scale + shift
                if relu and v < 0:
                    v = 0
                y[n, c, p] = <floating>v


def batch_norm_affine(const floating[:, :, ::1] x, const floating[::1] scale,
                      const floating[::1] shift, floating[:, :, ::1] y, bint relu, int n_threads):
    """y[n, c, p] = x[n, c, p]*scale[c] + shift[c] (ReLU'd if relu): the eval-mode transform."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], P = x.shape[2]
    cdef Py_ssize_t n, c, p
    cdef floating v
    for n in prange(N, nogil=True, schedule="static", num_threads=n_threads):
        for c in range(C):
            for p in range(P):
                v = x[n, c, p] * scale[c] + shift[c]
                if relu and v < 0:
                    v = 0
                y[n, c, p] = v


def batch_norm_train_backward(const floating[:, :, ::1] x, const floating[:, :, ::1] dy,
                              const floating[::1] gamma, const double[::1] mean,
                              const double[::1] invstd, floating[:, :, ::1] dx,
                              double[::1] dgamma, double[::1] dbeta, int n_threads):
    """Gradients of the training-mode transform (batch statistics).

    dgamma = sum(dy * xhat), dbeta = sum(dy),
    dx = gamma*invstd/M * (M*dy - dbeta - xhat*dgamma), M = N*P.
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], P = x.shape[2]
    cdef Py_ssize_t c, n, p
    cdef double sdy, sdyx, xh, m, istd, k, M = N * P
    for c in prange(C, nogil=True, schedule="static", num_threads=n_threads):
        m = mean[c]
        istd = invstd[c]
        sdy = 0
        sdyx = 0
        for n in range(N):
            for p in range(P):
                sdy = sdy + dy[n, c, p]
                sdyx = sdyx + dy[n, c, p] * (x[n, c, p] - m)
        sdyx = sdyx * istd
        dgamma[c] = sdyx
        dbeta[c] = sdy
        k = gamma[c] * istd / M
        for n in range(N):
            for p in range(P):
                xh = (x[n, c, p] - m) * istd
                dx[n, c, p] = <floating>(k * (M * dy[n, c, p] - sdy - xh * sdyx))
