"""Slow float64 direct-loop references (the oracle the backends are tested against)."""
import numpy as np


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv2d_ref(x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """The seven-loop direct convolution (cross-correlation), float64."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    N, C, H, W = x.shape
    K, _, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = (_pair(v) for v in (stride, padding, dilation))
    ho = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((N, K, ho, wo))
    for n in range(N):
        for k in range(K):
            for oh in range(ho):
                for ow in range(wo):
                    s = 0.0 if b is None else float(b[k])
                    for c in range(C):
                        for i in range(kh):
                            for j in range(kw):
                                ih = oh * sh - ph + i * dh
                                iw = ow * sw - pw + j * dw
                                if 0 <= ih < H and 0 <= iw < W:
                                    s += x[n, c, ih, iw] * w[k, c, i, j]
                    y[n, k, oh, ow] = s
    return y


def _windows(H, W, kernel, stride, padding):
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho = (H + 2 * ph - kh) // sh + 1
    wo = (W + 2 * pw - kw) // sw + 1
    for oh in range(ho):
        for ow in range(wo):
            cells = [(oh * sh - ph + i, ow * sw - pw + j) for i in range(kh) for j in range(kw)]
            yield oh, ow, cells
    return


def pool_out(H, W, kernel, stride, padding):
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    return (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1


def max_pool2d_ref(x, kernel, stride, padding):
    x = np.asarray(x, np.float64)
    N, C, H, W = x.shape
    ho, wo = pool_out(H, W, kernel, stride, padding)
    y = np.empty((N, C, ho, wo))
    for n in range(N):
        for c in range(C):
            for oh, ow, cells in _windows(H, W, kernel, stride, padding):
                vals = [x[n, c, h, w] if (0 <= h < H and 0 <= w < W) else -np.inf for h, w in cells]
                y[n, c, oh, ow] = max(vals)
    return y


def avg_pool2d_ref(x, kernel, stride, padding):
    x = np.asarray(x, np.float64)
    N, C, H, W = x.shape
    ho, wo = pool_out(H, W, kernel, stride, padding)
    y = np.empty((N, C, ho, wo))
    for n in range(N):
        for c in range(C):
            for oh, ow, cells in _windows(H, W, kernel, stride, padding):
                vals = [x[n, c, h, w] if (0 <= h < H and 0 <= w < W) else 0.0 for h, w in cells]
                y[n, c, oh, ow] = sum(vals) / len(cells)
    return y


def numeric_grad(f, x, eps=1e-6):
    """Central-difference gradient of the scalar f() with respect to the float64 array x (in place)."""
    g = np.zeros_like(x)
    flat = x.reshape(-1)
    gf = g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = f()
        flat[i] = old - eps
        fm = f()
        flat[i] = old
        gf[i] = (fp - fm) / (2 * eps)
    return g
