"""Convolution as im2col + one BLAS GEMM per batch, shared by both backends.

A backend supplies four layout primitives (im2col, col2im, rows_to_nchw, nchw_to_rows);
the GEMMs always go through NumPy's matmul (BLAS) into reused work buffers.

Shapes: x (N, C, H, W), w (K, C, kh, kw), y (N, K, ho, wo), col (C*kh*kw, N*ho*wo),
rows (K, N*ho*wo).
"""
import numpy as np

from .._workspace import default_workspace


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

    def forward(self, x, w, b, stride, padding, dilation, relu=False, ws=None, out=None):
        """y = conv(x, w) + b (then ReLU when relu), written to out when given; the column
        matrix stays in ws['col'] for the backward pass."""
        ws = ws or default_workspace
        N, C, K, ho, wo, args = self._geometry(x.shape, w.shape, stride, padding, dilation)
        P = ho * wo
        col = ws.get("col", (w[0].size, N * P), x.dtype)
        self.p.im2col(x, col, *args)
        rows = ws.get("rows", (K, N * P), x.dtype)
        np.matmul(w.reshape(K, -1), col, out=rows)
        y = np.empty((N, K, ho, wo), dtype=x.dtype) if out is None else out
        self.p.rows_to_nchw(rows, b, y.reshape(N, K, P), relu)
        return y

    def backward(self, x, x_shape, w, dy, stride, padding, dilation,
                 need_dx=True, need_dw=True, ws=None, reuse_col=False, dx_out=None, relu_out=None):
        """(dx, dw, db) for y = conv(x, w) + b given dy = dL/dy; entries not asked for are None.

        reuse_col: ws['col'] still holds im2col(x) from the forward call. dx is written to
        dx_out when given. The column gradient reuses the column buffer once dw is done.
        relu_out: the forward fused a ReLU with this output; dy counts only where it is > 0.
        """
        ws = ws or default_workspace
        N, C, K, ho, wo, args = self._geometry(x_shape, w.shape, stride, padding, dilation)
        P = ho * wo
        drows = ws.get("rows", (K, N * P), dy.dtype)
        self.p.nchw_to_rows(dy.reshape(N, K, P), drows, relu_out)
        dx = dw = None
        db = drows.sum(axis=1)
        if need_dw:
            col = ws.get("col", (w[0].size, N * P), dy.dtype)
            if not reuse_col:
                self.p.im2col(x, col, *args)
            dw = np.matmul(drows, col.T).reshape(w.shape)
        if need_dx:
            dcol = ws.get("col", (w[0].size, N * P), dy.dtype)  # im2col(x) is no longer needed
            np.matmul(w.reshape(K, -1).T, drows, out=dcol)
            dx = np.empty(x_shape, dtype=dy.dtype) if dx_out is None else dx_out
            self.p.col2im(dcol, dx, *args)
        return dx, dw, db
