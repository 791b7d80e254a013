# cython: language_level=3
"""Pooling kernels on C-contiguous (N, C, H, W) memoryviews, parallel over N*C planes.

Arithmetic only; cnn_ext.functional validates shapes and arguments first.
Max pooling treats padding as -inf and propagates NaN, as PyTorch does (a NaN wins over
any number; among NaNs the last in scan order, the first among equal maxima); indices are
flat positions h*W + w inside each input plane (int64), as PyTorch's.
"""
from cython.parallel cimport prange
from cython cimport floating
from libc.stdint cimport int64_t


cdef int _max_plane(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] y,
                     int64_t[:, :, :, ::1] idx, Py_ssize_t n, Py_ssize_t c,
                     Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                     Py_ssize_t ph, Py_ssize_t pw) except -1 nogil:
    cdef Py_ssize_t H = x.shape[2], W = x.shape[3], ho = y.shape[2], wo = y.shape[3]
    cdef Py_ssize_t oh, ow, h0, w0, h1, w1, h, w, best
    cdef floating m, v
    cdef bint take
    for oh in range(ho):
        h0 = oh * sh - ph
        h1 = h0 + kh
        if h0 < 0:
            h0 = 0
        if h1 > H:
            h1 = H
        for ow in range(wo):
            w0 = ow * sw - pw
            w1 = w0 + kw
            if w0 < 0:
                w0 = 0
            if w1 > W:
                w1 = W
            best = h0 * W + w0
            m = x[n, c, h0, w0]
            for h in range(h0, h1):
                for w in range(w0, w1):
                    v = x[n, c, h, w]
                    take = (v > m) | (v != v)
                    best = h * W + w if take else best
                    m = v if take else m
            y[n, c, oh, ow] = m
            idx[n, c, oh, ow] = best
    return 0


cdef extern from *:
    """
    /* One output row of 2x2 stride-2 max pooling from input rows r0, r1: the four
       candidates in scan order, each taken when larger or NaN (so the first of equal maxima,
       NaN over numbers, the last of several NaNs), as the general scan does. Written in C so
       that the selects compile to vector compares and blends, not branches. */
    #define CNN_EXT_MAX2X2_ROW(NAME, T)                                                   \
    static inline void NAME(const T* __restrict r0, const T* __restrict r1,               \
                            T* __restrict dst, int64_t* __restrict di, Py_ssize_t wo,     \
                            int64_t base, int W) {                                        \
        for (Py_ssize_t j = 0; j < wo; j++) {                                             \
            T m = r0[2 * j], v; int k = 0, t;                                             \
            v = r0[2 * j + 1]; t = (v > m) | (v != v); m = t ? v : m; k = t ? 1 : k;     \
            v = r1[2 * j];     t = (v > m) | (v != v); m = t ? v : m; k = t ? W : k;     \
            v = r1[2 * j + 1]; t = (v > m) | (v != v); m = t ? v : m; k = t ? W + 1 : k; \
            dst[j] = m;                                                                   \
            di[j] = base + 2 * j + k;                                                     \
        }                                                                                 \
    }
    CNN_EXT_MAX2X2_ROW(cnn_ext_max2x2_row_f, float)
    CNN_EXT_MAX2X2_ROW(cnn_ext_max2x2_row_d, double)
    """
    void cnn_ext_max2x2_row_f(const float* r0, const float* r1, float* dst, int64_t* di,
                              Py_ssize_t wo, int64_t base, int W) noexcept nogil
    void cnn_ext_max2x2_row_d(const double* r0, const double* r1, double* dst, int64_t* di,
                              Py_ssize_t wo, int64_t base, int W) noexcept nogil


cdef void _max2x2_plane(const floating* src, floating* dst, int64_t* di,
                        Py_ssize_t H, Py_ssize_t W, Py_ssize_t ho, Py_ssize_t wo) noexcept nogil:
    """Fast path on one plane: 2x2 window, stride 2, no padding. src (H, W), dst and
    di (ho, wo), all contiguous. Same result and index as the scan in _max_plane."""
    cdef Py_ssize_t oh
    for oh in range(ho):
        if floating is float:
            cnn_ext_max2x2_row_f(src + 2 * oh * W, src + (2 * oh + 1) * W, dst + oh * wo,
                                 di + oh * wo, wo, 2 * oh * W, <int>W)
        else:
            cnn_ext_max2x2_row_d(src + 2 * oh * W, src + (2 * oh + 1) * W, dst + oh * wo,
                                 di + oh * wo, wo, 2 * oh * W, <int>W)


def max_pool_forward(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] y,
                     int64_t[:, :, :, ::1] idx, Py_ssize_t kh, Py_ssize_t kw,
                     Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw,
                     int n_threads):
    """Fill y and idx (N, C, ho, wo) with window maxima of x (N, C, H, W) and their positions.
    """
    cdef Py_ssize_t C = x.shape[1], planes = x.shape[0] * x.shape[1], nc
    cdef bint fast = kh == 2 and kw == 2 and sh == 2 and sw == 2 and ph == 0 and pw == 0
    for nc in prange(planes, nogil=True, schedule="static", num_threads=n_threads):
        if fast:
            _max2x2_plane(&x[nc // C, nc % C, 0, 0], &y[nc // C, nc % C, 0, 0],
                          &idx[nc // C, nc % C, 0, 0], x.shape[2], x.shape[3], y.shape[2],
                          y.shape[3])
        else:
            _max_plane(x, y, idx, nc // C, nc % C, kh, kw, sh, sw, ph, pw)


def max_pool_backward(const floating[:, :, :, ::1] dy, const int64_t[:, :, :, ::1] idx,
                      floating[:, :, :, ::1] dx, int n_threads):
    """Overwrite dx (N, C, H, W) with dy (N, C, ho, wo) routed to the recorded maxima."""
    cdef Py_ssize_t C = dx.shape[1], H = dx.shape[2], W = dx.shape[3]
    cdef Py_ssize_t ho = dy.shape[2], wo = dy.shape[3]
    cdef Py_ssize_t planes = dx.shape[0] * C, nc, i, HW = H * W, P = ho * wo
    cdef floating* d
    cdef const floating* g
    cdef const int64_t* k
    for nc in prange(planes, nogil=True, schedule="static", num_threads=n_threads):
        # flat plane pointers: idx holds h*W + w, already checked to lie in [0, H*W)
        d = &dx[nc // C, nc % C, 0, 0]
        g = &dy[nc // C, nc % C, 0, 0]
        k = &idx[nc // C, nc % C, 0, 0]
        for i in range(HW):
            d[i] = 0
        for i in range(P):
            d[k[i]] += g[i]


def avg_pool_forward(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] y,
                     Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                     Py_ssize_t ph, Py_ssize_t pw, int n_threads):
    """y = window means of x, zero padding counted in the divisor (count_include_pad=True)."""
    cdef Py_ssize_t C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t ho = y.shape[2], wo = y.shape[3]
    cdef Py_ssize_t planes = x.shape[0] * C, nc, n, c, oh, ow, h0, h1, w0, w1, h, w
    cdef floating s
    cdef floating inv = 1.0 / (kh * kw)
    for nc in prange(planes, nogil=True, schedule="static", num_threads=n_threads):
        n = nc // C
        c = nc % C
        for oh in range(ho):
            h0 = oh * sh - ph
            h1 = h0 + kh
            if h0 < 0:
                h0 = 0
            if h1 > H:
                h1 = H
            for ow in range(wo):
                w0 = ow * sw - pw
                w1 = w0 + kw
                if w0 < 0:
                    w0 = 0
                if w1 > W:
                    w1 = W
                s = 0
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        s = s + x[n, c, h, w]
                y[n, c, oh, ow] = s * inv


def avg_pool_backward(const floating[:, :, :, ::1] dy, floating[:, :, :, ::1] dx,
                      Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                      Py_ssize_t ph, Py_ssize_t pw, int n_threads):
    """Overwrite dx (N, C, H, W) with dy spread evenly over each window."""
    cdef Py_ssize_t C = dx.shape[1], H = dx.shape[2], W = dx.shape[3]
    cdef Py_ssize_t ho = dy.shape[2], wo = dy.shape[3]
    cdef Py_ssize_t planes = dx.shape[0] * C, nc, n, c, oh, ow, h0, h1, w0, w1, h, w
    cdef floating g
    cdef floating inv = 1.0 / (kh * kw)
    for nc in prange(planes, nogil=True, schedule="static", num_threads=n_threads):
        n = nc // C
        c = nc % C
        for h in range(H):
            for w in range(W):
                dx[n, c, h, w] = 0
        for oh in range(ho):
            h0 = oh * sh - ph
            h1 = h0 + kh
            if h0 < 0:
                h0 = 0
            if h1 > H:
                h1 = H
            for ow in range(wo):
                w0 = ow * sw - pw
                w1 = w0 + kw
                if w0 < 0:
                    w0 = 0
                if w1 > W:
                    w1 = W
                g = dy[n, c, oh, ow] * inv
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        dx[n, c, h, w] += g
