"""Losses: CrossEntropyLoss (logits + integer labels) and MSELoss.

loss = criterion(output, target) returns a Python float; criterion.backward() returns
dL/doutput, the gradient to feed to model.backward().
"""
import numpy as np

from .._validation import as_float_array


class CrossEntropyLoss:
    """Mean cross-entropy of softmax(logits (N, K)) against integer labels (N,) in [0, K)."""

    def __init__(self, label_smoothing=0.0):
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1); got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)
        self._cache = None

    def __call__(self, logits, target):
        return self.forward(logits, target)

    def forward(self, logits, target):
        z = as_float_array("CrossEntropyLoss", "logits", logits)
        if z.ndim != 2:
            raise ValueError(f"CrossEntropyLoss: logits must be 2-D (N, num_classes); got shape {z.shape}")
        N, K = z.shape
        y = np.asarray(target)
        if y.dtype.kind not in "iu":
            raise TypeError(f"CrossEntropyLoss: target must hold integer class labels (N,); got dtype {y.dtype}")
        if y.shape != (N,):
            raise ValueError(f"CrossEntropyLoss: target must have shape ({N},) (one label per row of "
                             f"logits {z.shape}); got {y.shape}")
        if N == 0:
            raise ValueError("CrossEntropyLoss: empty batch (N=0)")
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= K:
            bad = lo if lo < 0 else hi
            raise ValueError(f"CrossEntropyLoss: target labels must be in [0, {K - 1}] for {K} "
                             f"classes; got {bad}")
        shifted = z - z.max(axis=1, keepdims=True)
        logsum = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        logp = shifted - logsum
        eps = self.label_smoothing
        nll = -logp[np.arange(N), y]
        if eps:
            nll = (1 - eps) * nll - eps * logp.mean(axis=1)
        self._cache = (np.exp(logp), y, z.dtype)
        return float(nll.mean())

    def backward(self):
        """dL/dlogits (N, K) of the last call."""
        if self._cache is None:
            raise RuntimeError("CrossEntropyLoss.backward called before the loss was computed")
        p, y, dtype = self._cache
        N, K = p.shape
        g = p.copy()
        eps = self.label_smoothing
        if eps:
            g -= eps / K
            g[np.arange(N), y] -= 1 - eps
        else:
            g[np.arange(N), y] -= 1
        g /= N
        return g.astype(dtype, copy=False)


class MSELoss:
    """Mean squared error over all elements."""

    def __init__(self):
        self._cache = None

    def __call__(self, output, target):
        return self.forward(output, target)

    def forward(self, output, target):
        a = as_float_array("MSELoss", "output", output)
        b = as_float_array("MSELoss", "target", target, dtype=a.dtype)
        if a.shape != b.shape:
            raise ValueError(f"MSELoss: target shape {b.shape} must equal output shape {a.shape}")
        d = a - b
        self._cache = d
        return float(np.mean(d * d))

    def backward(self):
        if self._cache is None:
            raise RuntimeError("MSELoss.backward called before the loss was computed")
        return 2 * self._cache / self._cache.size
