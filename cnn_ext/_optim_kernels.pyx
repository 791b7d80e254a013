# cython: language_level=3
"""Optimizer update kernels on contiguous 1-D memoryviews (a parameter's flat view).

Arithmetic only; cnn_ext.optim checks shapes and hyper-parameters. One pass over the
parameter, its gradient and its state instead of a dozen NumPy passes.
"""
from cython.parallel cimport prange
from cython cimport floating
from libc.math cimport sqrt, sqrtf


cdef inline floating _sqrt(floating a) noexcept nogil:
    if floating is float:
        return sqrtf(a)
    else:
        return sqrt(a)


def adam_update(floating[::1] p, const floating[::1] grad, floating[::1] m, floating[::1] v,
                double lr, double beta1, double beta2, double eps, double weight_decay,
                bint decoupled, long step, int n_threads):
    """One Adam (decoupled: AdamW) step of parameter p in place, as torch.optim.Adam/AdamW:

    decoupled: p *= 1 - lr*wd; else g = grad + wd*p (neither when wd is 0).
    m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
    p -= (lr / (1 - b1^step)) * m / (sqrt(v) / sqrt(1 - b2^step) + eps).
    All (n,) arrays of one dtype; step >= 1 counts this update. Each operation is rounded to
    the dtype in the same order as the NumPy backend's update, so both give the same bits.
    """
    cdef Py_ssize_t n = p.shape[0], i
    cdef double bc1 = 1.0 - beta1 ** step, bc2 = 1.0 - beta2 ** step
    cdef floating b1 = <floating>beta1, b2 = <floating>beta2
    cdef floating c1 = <floating>(1.0 - beta1), c2 = <floating>(1.0 - beta2)
    cdef floating step_size = <floating>(lr / bc1), bc2_sqrt = <floating>sqrt(bc2)
    cdef floating e = <floating>eps, wd = <floating>weight_decay
    cdef floating decay = <floating>(1.0 - lr * weight_decay)
    cdef floating g, mi, vi
    cdef int mode = 0 if weight_decay == 0 else (2 if decoupled else 1)
    # one loop per weight-decay mode, so each is branch-free and vectorizes (the build passes
    # -fno-math-errno: sqrt then compiles to the vector instruction)
    if mode == 0:
        for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
            g = grad[i]
            mi = m[i] * b1 + g * c1
            vi = v[i] * b2 + g * c2 * g
            m[i] = mi
            v[i] = vi
            p[i] = p[i] - mi * step_size / (_sqrt(vi) / bc2_sqrt + e)
    elif mode == 1:
        for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
            g = grad[i] + wd * p[i]
            mi = m[i] * b1 + g * c1
            vi = v[i] * b2 + g * c2 * g
            m[i] = mi
            v[i] = vi
            p[i] = p[i] - mi * step_size / (_sqrt(vi) / bc2_sqrt + e)
    else:
        for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
            g = grad[i]
            mi = m[i] * b1 + g * c1
            vi = v[i] * b2 + g * c2 * g
            m[i] = mi
            v[i] = vi
            p[i] = p[i] * decay - mi * step_size / (_sqrt(vi) / bc2_sqrt + e)
