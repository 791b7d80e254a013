"""Convolution as im2col + BLAS GEMMs, shared by both backends.

A backend supplies the layout primitives (im2col, col2im, rows_to_nchw, nchw_to_rows,
relu_mask); the GEMMs always go through NumPy's matmul (BLAS) into reused work buffers.

Two column layouts, chosen by R = C*kh*kw:
- batch layout (R > SMALL_TAPS): col (R, N*P), one GEMM for the whole batch, whose (K, N*P)
  result is then moved to NCHW (adding the bias);
- per-sample layout (R <= SMALL_TAPS, e.g. a first layer on 1-channel images): col3
  (N, R + 1, P) with a row of ones, one GEMM per sample straight into the NCHW output, the
  bias as the weight matrix's last column. With few taps the GEMMs are memory-bound and the
  layout move of the batch layout would cost as much as the GEMM itself.

Shapes: x (N, C, H, W), w (K, C, kh, kw), y (N, K, ho, wo), P = ho*wo.
"""
import numpy as np

from .._workspace import default_workspace

SMALL_TAPS = 32
# Batch layout: samples are processed in chunks of about this many columns (N*P), so a
# chunk's column matrix (R, n*P) stays in cache between im2col, the GEMMs and col2im, and
# no full-batch column matrix is kept (the backward pass rebuilds a chunk's columns, except
# for the forward's last chunk, whose columns are still in the buffer).
CHUNK_COLUMNS = 8192


def _chunks(N, P):
    """(start, stop) sample ranges of at most about CHUNK_COLUMNS output columns each, as
    even as possible (128 samples of 196 columns: 4 x 32, not 42 + 42 + 42 + 2)."""
    per = max(1, -(-CHUNK_COLUMNS // P))  # samples that fill a chunk
    count = -(-N // per)
    return [(N * i // count, N * (i + 1) // count) for i in range(count)]


def _transposed(wm, ws):
    """wm.T (R, K) as a C-contiguous copy in ws: fashion_cnn's conv2 column-gradient GEMM
    alone measured 5-13% faster than on the transposed view (within noise in a whole step)."""
    wt = ws.get("w_t", wm.shape[::-1], wm.dtype)
    np.copyto(wt, wm.T)
    return wt


def out_size(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


class GemmConv:
    def __init__(self, prims):
        self.p = prims

    def _geometry(self, x_shape, w_shape, stride, padding, dilation):
        N, C, H, W = x_shape
        K, _, kh, kw = w_shape
        ho = out_size(H, kh, stride[0], padding[0], dilation[0])
        wo = out_size(W, kw, stride[1], padding[1], dilation[1])
        args = (kh, kw, stride[0], stride[1], padding[0], padding[1],
                dilation[0], dilation[1], ho, wo)
        return N, C, K, ho, wo, args

    # -- per-sample layout ----------------------------------------------------------------
    def _fill_col3(self, x, R, P, args, ws):
        """col3 (N, R + 1, P): im2col of x per sample, then a row of ones (for the bias)."""
        N = x.shape[0]
        col3 = ws.get("col3", (N, R + 1, P), x.dtype)
        self.p.im2col(x, col3[:, :R].transpose(1, 0, 2), *args)
        col3[:, R] = 1
        return col3

    def _forward_small(self, x, w, b, args, relu, ws, y):
        N, K, R, P = x.shape[0], w.shape[0], w[0].size, args[-2] * args[-1]
        col3 = self._fill_col3(x, R, P, args, ws)
        wa = ws.get("w_aug", (K, R + 1), x.dtype)
        wa[:, :R] = w.reshape(K, R)
        wa[:, R] = 0 if b is None else b
        np.matmul(wa, col3, out=y.reshape(N, K, P))
        if relu:
            np.maximum(y, 0, out=y)
        return y

    def _backward_small(self, x, x_shape, w, g, args, need_dx, need_dw, ws, reuse_col, dx_out):
        N, K, R, P = x_shape[0], w.shape[0], w[0].size, args[-2] * args[-1]
        dx = dw = None
        if need_dw:
            if reuse_col:
                col3 = ws.get("col3", (N, R + 1, P), g.dtype)
            else:
                col3 = self._fill_col3(x, R, P, args, ws)
            per_sample = ws.get("dw_aug", (N, K, R + 1), g.dtype)
            np.matmul(g, col3.transpose(0, 2, 1), out=per_sample)
            total = per_sample.sum(axis=0)
            dw = total[:, :R].reshape(w.shape)
            db = total[:, R].copy()
        else:
            db = g.sum(axis=(0, 2))
        if need_dx:
            dcol3 = ws.get("dcol3", (N, R, P), g.dtype)
            np.matmul(_transposed(w.reshape(K, R), ws), g, out=dcol3)
            dx = np.empty(x_shape, dtype=g.dtype) if dx_out is None else dx_out
            self.p.col2im(dcol3.transpose(1, 0, 2), dx, *args)
        return dx, dw, db

    # -- entry points ---------------------------------------------------------------------
    def forward(self, x, w, b, stride, padding, dilation, relu=False, ws=None, out=None):
        """y = conv(x, w) + b (then ReLU when relu), written to out when given; the column
        matrix stays in ws for the backward pass."""
        ws = ws or default_workspace
        N, C, K, ho, wo, args = self._geometry(x.shape, w.shape, stride, padding, dilation)
        P = ho * wo
        y = np.empty((N, K, ho, wo), dtype=x.dtype) if out is None else out
        if w[0].size <= SMALL_TAPS:
            return self._forward_small(x, w, b, args, relu, ws, y)
        R = w[0].size
        wm = w.reshape(K, R)
        for s, e in _chunks(N, P):
            n = e - s
            col = ws.get("col", (R, n * P), x.dtype)
            self.p.im2col(x[s:e], col.reshape(R, n, P), *args)
            rows = ws.get("rows", (K, n * P), x.dtype)
            np.matmul(wm, col, out=rows)
            self.p.rows_to_nchw(rows, b, y[s:e].reshape(n, K, P), relu)
        return y

    def backward(self, x, x_shape, w, dy, stride, padding, dilation,
                 need_dx=True, need_dw=True, ws=None, reuse_col=False, dx_out=None, relu_out=None):
        """(dx, dw, db) for y = conv(x, w) + b given dy = dL/dy; entries not asked for are None.

        reuse_col: ws still holds the columns of x from the forward call (in the batch layout:
        of its last chunk, which is done first here). dx is written to dx_out when given. The
        column gradient reuses the column buffer once dw is done.
        relu_out: the forward fused a ReLU with this output; dy counts only where it is > 0.
        """
        ws = ws or default_workspace
        N, C, K, ho, wo, args = self._geometry(x_shape, w.shape, stride, padding, dilation)
        P = ho * wo
        if w[0].size <= SMALL_TAPS:
            g = dy.reshape(N, K, P)
            if relu_out is not None:
                masked = ws.get("masked", (N, K, P), dy.dtype)
                self.p.relu_mask(g, relu_out.reshape(N, K, P), masked)
                g = masked
            return self._backward_small(x, x_shape, w, g, args, need_dx, need_dw, ws,
                                        reuse_col, dx_out)
        R = w[0].size
        wmT = _transposed(w.reshape(K, R), ws) if need_dx else None
        g = dy.reshape(N, K, P)
        mask = None if relu_out is None else relu_out.reshape(N, K, P)
        dw = np.zeros((K, R), dtype=dy.dtype) if need_dw else None
        db = np.zeros(K, dtype=np.float64)
        dx = None
        if need_dx:
            dx = np.empty(x_shape, dtype=dy.dtype) if dx_out is None else dx_out
        # last chunk first: its columns are still in ws when the forward call left them there
        for i, (s, e) in enumerate(reversed(_chunks(N, P))):
            n = e - s
            drows = ws.get("rows", (K, n * P), dy.dtype)
            sums = ws.get("db_part", (n, K), np.float64)
            self.p.nchw_to_rows(g[s:e], drows, None if mask is None else mask[s:e], sums)
            db += sums.sum(axis=0)
            if need_dw:
                col = ws.get("col", (R, n * P), dy.dtype)
                if not (reuse_col and i == 0):
                    self.p.im2col(x[s:e], col.reshape(R, n, P), *args)
                part = ws.get("dw_part", (R, K), dy.dtype)
                np.matmul(col, drows.T, out=part)  # dW.T: measured faster than drows @ col.T
                dw += part.T
            if need_dx:
                dcol = ws.get("col", (R, n * P), dy.dtype)  # the chunk's columns are done with
                np.matmul(wmT, drows, out=dcol)
                self.p.col2im(dcol.reshape(R, n, P), dx[s:e], *args)
        return dx, None if dw is None else dw.reshape(w.shape), db.astype(dy.dtype)
