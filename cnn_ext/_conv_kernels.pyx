# cython: language_level=3
"""Convolution kernels: im2col / col2im and layout moves, on C-contiguous memoryviews.

Arithmetic only. Shapes, dtypes and arguments are validated by cnn_ext.functional
before these are called (bounds checks are off in the release build).

Column layout: col[(c*kh + i)*kw + j, n, oh*wo + ow] with P = ho*wo, a (C*kh*kw, N, P) view
whose last axis must be contiguous (the others are free): a C-contiguous (C*kh*kw, N*P) matrix (a whole batch is
one BLAS GEMM) or the transpose of an (N, C*kh*kw, P) stack (one GEMM per sample).
"""
from cython.parallel cimport prange
from cython cimport floating

from cnn_ext._relu_mask cimport _relu_mask

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int cnn_ext_openmp_enabled(void) { return 1; }
    static int cnn_ext_omp_max_threads(void) { return omp_get_max_threads(); }
    #else
    static int cnn_ext_openmp_enabled(void) { return 0; }
    static int cnn_ext_omp_max_threads(void) { return 1; }
    #endif
    """
    int cnn_ext_openmp_enabled() noexcept nogil
    int cnn_ext_omp_max_threads() noexcept nogil


def openmp_enabled():
    """True when the kernels were compiled with OpenMP."""
    return bool(cnn_ext_openmp_enabled())


def omp_max_threads():
    """OpenMP's default thread count (1 without OpenMP)."""
    return cnn_ext_omp_max_threads()


cdef inline Py_ssize_t _first_valid(Py_ssize_t offset, Py_ssize_t stride) noexcept nogil:
    """Smallest o >= 0 with o*stride + offset >= 0 (stride > 0)."""
    if offset >= 0:
        return 0
    return (-offset + stride - 1) // stride


cdef inline Py_ssize_t _end_valid(Py_ssize_t offset, Py_ssize_t stride, Py_ssize_t size,
                                  Py_ssize_t n_out) noexcept nogil:
    """One past the largest o < n_out with o*stride + offset <= size - 1."""
    cdef Py_ssize_t last = size - 1 - offset
    cdef Py_ssize_t end
    if last < 0:
        return 0
    end = last // stride + 1
    return end if end < n_out else n_out


cdef int _check_col(const floating[:, :, :] col, Py_ssize_t R, Py_ssize_t N, Py_ssize_t P) except -1:
    """The planes below walk col's rows by pointer, unchecked even in the debug build; a
    wrong shape must raise here instead (callers pass the right one)."""
    if col.shape[0] != R or col.shape[1] != N or col.shape[2] != P or (P > 1 and col.strides[2] != sizeof(floating)):
        raise ValueError(f"col must be a ({R}, {N}, {P}) view with a contiguous last axis; "
                         f"got shape {tuple(col.shape)[:3]}")
    return 0

cdef inline void _copy_row(floating* dst, const floating* src, Py_ssize_t count,
                           Py_ssize_t step) noexcept nogil:
    """dst[k] = src[k*step] for k < count (a plain copy when step is 1)."""
    cdef Py_ssize_t k
    if step == 1:
        for k in range(count):
            dst[k] = src[k]
    else:
        for k in range(count):
            dst[k] = src[k * step]


cdef inline void _im2col_row_block(floating* crow, const floating* plane, Py_ssize_t offset,
                                   Py_ssize_t oh0, Py_ssize_t oh1, Py_ssize_t ow0, Py_ssize_t ow1,
                                   Py_ssize_t ho, Py_ssize_t wo) noexcept nogil:
    """One column row when stride is 1 and the output is as wide as the input: rows oh0..oh1
    of the row are one contiguous run of the plane starting at plane[offset + oh0*wo], then
    the entries that fall on padding (ow < ow0, ow >= ow1 and rows outside oh0..oh1) are
    zeroed. Only plane[offset + oh0*wo + ow0 : offset + (oh1-1)*wo + ow1] is read."""
    cdef Py_ssize_t k, oh, ow, lo = oh0 * wo + ow0, hi = (oh1 - 1) * wo + ow1
    cdef const floating* src = plane + offset
    for k in range(oh0 * wo):
        crow[k] = 0
    for k in range(lo, hi):
        crow[k] = src[k]
    for oh in range(oh0, oh1):
        for ow in range(ow0):
            crow[oh * wo + ow] = 0
        for ow in range(ow1, wo):
            crow[oh * wo + ow] = 0
    for k in range(oh1 * wo, ho * wo):
        crow[k] = 0


cdef int _im2col_plane(const floating[:, :, :, ::1] x, floating[:, :, :] col, Py_ssize_t n,
                       Py_ssize_t c, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                       Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t dh, Py_ssize_t dw,
                       Py_ssize_t ho, Py_ssize_t wo) except -1 nogil:
    """The kh*kw column rows of input plane (n, c)."""
    cdef Py_ssize_t H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t i, j, r, oh, ow, ih, iw0, oh0, oh1, ow0, ow1
    cdef floating* crow
    cdef floating* dst
    cdef const floating* plane = &x[n, c, 0, 0]  # C-contiguous (H, W)
    for i in range(kh):
        oh0 = _first_valid(i * dh - ph, sh)
        oh1 = _end_valid(i * dh - ph, sh, H, ho)
        for j in range(kw):
            r = (c * kh + i) * kw + j
            iw0 = j * dw - pw
            ow0 = _first_valid(iw0, sw)
            ow1 = _end_valid(iw0, sw, W, wo)
            if ow1 < ow0:
                ow1 = ow0
            crow = &col[r, n, 0]  # the last axis is contiguous (checked by the caller)
            if sh == 1 and sw == 1 and wo == W and oh0 < oh1 and ow0 < ow1:
                _im2col_row_block(crow, plane, (i * dh - ph) * W + iw0, oh0, oh1, ow0, ow1, ho, wo)
                continue
            for oh in range(ho):
                dst = crow + oh * wo
                if oh < oh0 or oh >= oh1:
                    for ow in range(wo):
                        dst[ow] = 0
                    continue
                ih = oh * sh - ph + i * dh
                for ow in range(ow0):
                    dst[ow] = 0
                _copy_row(dst + ow0, plane + ih * W + ow0 * sw + iw0, ow1 - ow0, sw)
                for ow in range(ow1, wo):
                    dst[ow] = 0
    return 0


def im2col(const floating[:, :, :, ::1] x, floating[:, :, :] col,
           Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
           Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t dh, Py_ssize_t dw,
           Py_ssize_t ho, Py_ssize_t wo, int n_threads):
    """Fill col (C*kh*kw, N, ho*wo) from x (N, C, H, W).

    Work is split by channel and batch block, and each task walks its samples in order, so
    it writes its kh*kw column rows as kh*kw sequential streams (walking all rows of one
    sample instead jumps across C*kh*kw pages and is TLB-bound).
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], NB = n_threads if n_threads > 0 else 1
    cdef Py_ssize_t t, c, b, n
    _check_col(col, C * kh * kw, N, ho * wo)
    for t in prange(C * NB, nogil=True, schedule="static", num_threads=n_threads):
        c = t // NB
        b = t % NB
        for n in range(b * N // NB, (b + 1) * N // NB):
            _im2col_plane(x, col, n, c, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo)


cdef inline void _col2im_row_block(floating* crow, floating* plane, Py_ssize_t offset,
                                   Py_ssize_t oh0, Py_ssize_t oh1, Py_ssize_t ow0, Py_ssize_t ow1,
                                   Py_ssize_t wo) noexcept nogil:
    """The inverse of _im2col_row_block: plane[offset + k] += crow[k] as one contiguous run.
    The row's entries that fall on padding inside the run are zeroed first (the column
    buffer is scratch), so they add nothing."""
    cdef Py_ssize_t k, oh, ow, lo = oh0 * wo + ow0, hi = (oh1 - 1) * wo + ow1
    cdef floating* dst = plane + offset
    for oh in range(oh0, oh1):
        for ow in range(ow0):
            crow[oh * wo + ow] = 0
        for ow in range(ow1, wo):
            crow[oh * wo + ow] = 0
    for k in range(lo, hi):
        dst[k] += crow[k]


cdef int _col2im_plane(floating[:, :, :] col, floating[:, :, :, ::1] dx, Py_ssize_t n,
                       Py_ssize_t c, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                       Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t dh, Py_ssize_t dw,
                       Py_ssize_t ho, Py_ssize_t wo) except -1 nogil:
    """Overwrite plane dx[n, c] with its kh*kw column rows scattered back."""
    cdef Py_ssize_t H = dx.shape[2], W = dx.shape[3]
    cdef Py_ssize_t i, j, r, oh, ow, ih, iw0, oh0, oh1, ow0, ow1
    cdef floating* crow
    cdef const floating* src
    cdef floating* dst
    cdef floating* plane = &dx[n, c, 0, 0]  # C-contiguous (H, W)
    for ih in range(H * W):
        plane[ih] = 0
    for i in range(kh):
        oh0 = _first_valid(i * dh - ph, sh)
        oh1 = _end_valid(i * dh - ph, sh, H, ho)
        for j in range(kw):
            r = (c * kh + i) * kw + j
            iw0 = j * dw - pw
            ow0 = _first_valid(iw0, sw)
            ow1 = _end_valid(iw0, sw, W, wo)
            crow = &col[r, n, 0]  # the last axis is contiguous (checked by the caller)
            if sh == 1 and sw == 1 and wo == W and oh0 < oh1 and ow0 < ow1:
                _col2im_row_block(crow, plane, (i * dh - ph) * W + iw0, oh0, oh1, ow0, ow1, wo)
                continue
            for oh in range(oh0, oh1):
                ih = oh * sh - ph + i * dh
                src = crow + oh * wo
                dst = plane + ih * W + iw0
                if sw == 1:
                    for ow in range(ow0, ow1):
                        dst[ow] += src[ow]
                else:
                    for ow in range(ow0, ow1):
                        dst[ow * sw] += src[ow]
    return 0


def col2im(floating[:, :, :] col, floating[:, :, :, ::1] dx,
           Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
           Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t dh, Py_ssize_t dw,
           Py_ssize_t ho, Py_ssize_t wo, int n_threads):
    """Overwrite dx (N, C, H, W) with the sum of col (C*kh*kw, N, ho*wo) scattered back.
    Split by channel and batch block, as im2col. col is scratch: its entries that fall on
    padding may be zeroed."""
    cdef Py_ssize_t N = dx.shape[0], C = dx.shape[1], NB = n_threads if n_threads > 0 else 1
    cdef Py_ssize_t t, c, b, n
    _check_col(col, C * kh * kw, N, ho * wo)
    for t in prange(C * NB, nogil=True, schedule="static", num_threads=n_threads):
        c = t // NB
        b = t % NB
        for n in range(b * N // NB, (b + 1) * N // NB):
            _col2im_plane(col, dx, n, c, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo)


def rows_to_nchw(const floating[:, ::1] rows, const floating[::1] bias, floating[:, :, ::1] out,
                 bint add_bias, bint relu, int n_threads):
    """out[n, k, p] = rows[k, n*P + p] (+ bias[k]) (then max(., 0) when relu).

    rows: (K, N*P); bias: (K,); out: (N, K, P).
    """
    cdef Py_ssize_t N = out.shape[0], K = out.shape[1], P = out.shape[2]
    cdef Py_ssize_t n, k, p
    cdef floating b, v
    for n in prange(N, nogil=True, schedule="static", num_threads=n_threads):
        for k in range(K):
            b = bias[k] if add_bias else 0
            if relu:
                for p in range(P):
                    v = rows[k, n * P + p] + b
                    out[n, k, p] = 0 if v < 0 else v  # NaN propagates, as torch.relu
            else:
                for p in range(P):
                    out[n, k, p] = rows[k, n * P + p] + b


def nchw_to_rows(const floating[:, :, ::1] src, floating[:, ::1] rows,
                 const floating[:, :, ::1] relu_out, bint relu, double[:, ::1] sums, int n_threads):
    """rows[k, n*P + p] = src[n, k, p]; src: (N, K, P), rows: (K, N*P).

    relu: zero where relu_out (N, K, P) <= 0 (the gradient behind a fused ReLU).
    sums (N, K): sums[n, k] = sum over p of the row just written (the bias gradient's terms).
    """
    cdef Py_ssize_t N = src.shape[0], K = src.shape[1], P = src.shape[2]
    cdef Py_ssize_t n, k, p
    cdef floating* dst
    cdef floating s0, s1, s2, s3
    for n in prange(N, nogil=True, schedule="static", num_threads=n_threads):
        for k in range(K):
            dst = &rows[k, n * P]
            if relu:
                _relu_mask(&src[n, k, 0], &relu_out[n, k, 0], dst, P)
            else:
                for p in range(P):
                    dst[p] = src[n, k, p]
            s0 = 0
            s1 = 0
            s2 = 0
            s3 = 0
            p = 0
            while p + 4 <= P:
                s0 = s0 + dst[p]
                s1 = s1 + dst[p + 1]
                s2 = s2 + dst[p + 2]
                s3 = s3 + dst[p + 3]
                p = p + 4
            while p < P:
                s0 = s0 + dst[p]
                p = p + 1
            sums[n, k] = <double>((s0 + s1) + (s2 + s3))


def relu_mask(const floating[:, :, ::1] src, const floating[:, :, ::1] relu_out,
              floating[:, :, ::1] out, int n_threads):
    """out = src where relu_out > 0, else 0; all (N, K, P): the gradient behind a fused ReLU."""
    cdef Py_ssize_t N = src.shape[0], K = src.shape[1], P = src.shape[2]
    cdef Py_ssize_t n, k
    for n in prange(N, nogil=True, schedule="static", num_threads=n_threads):
        for k in range(K):
            _relu_mask(&src[n, k, 0], &relu_out[n, k, 0], &out[n, k, 0], P)
