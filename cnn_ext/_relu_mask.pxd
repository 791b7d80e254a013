# cython: language_level=3
"""The gradient mask of a fused ReLU, shared by the conv and batch-norm kernels (cimported)."""
from cython cimport floating

cdef extern from *:
    """
    /* out[i] = y[i] > 0 ? a[i] : 0, written in C so that it compiles to vector compare and
       blend instructions: the Cython form became a data-dependent branch (slow on the
       random signs of real activations). */
    static inline void cnn_ext_relu_mask_f(const float* __restrict a, const float* __restrict y,
                                           float* __restrict out, Py_ssize_t n) {
        for (Py_ssize_t i = 0; i < n; i++) { float v = a[i], m = y[i]; out[i] = m > 0.0f ? v : 0.0f; }
    }
    static inline void cnn_ext_relu_mask_d(const double* __restrict a, const double* __restrict y,
                                           double* __restrict out, Py_ssize_t n) {
        for (Py_ssize_t i = 0; i < n; i++) { double v = a[i], m = y[i]; out[i] = m > 0.0 ? v : 0.0; }
    }
    """
    void cnn_ext_relu_mask_f(const float* a, const float* y, float* out, Py_ssize_t n) noexcept nogil
    void cnn_ext_relu_mask_d(const double* a, const double* y, double* out, Py_ssize_t n) noexcept nogil


cdef inline void _relu_mask(const floating* a, const floating* y, floating* out, Py_ssize_t n) noexcept nogil:
    """out[i] = a[i] where y[i] > 0 else 0: the gradient behind a fused ReLU with output y."""
    if floating is float:
        cnn_ext_relu_mask_f(a, y, out, n)
    else:
        cnn_ext_relu_mask_d(a, y, out, n)
