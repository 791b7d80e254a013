"""Per-thread reusable work buffers.

glibc hands freed multi-MB blocks back to the OS, and faulting them in again can make a
layer call several times slower, so hot paths take their scratch arrays from a Workspace
instead of allocating. Each thread sees its own buffers (threading.local), so kernels can
be called from several Python threads at once.
"""
import threading

import numpy as np


class Workspace(threading.local):
    """Named scratch buffers that grow on demand and are reused between calls."""

    def __init__(self):
        self._buffers = {}

    def get(self, name, shape, dtype):
        """An uninitialized C-contiguous array of `shape` and `dtype`, owned by this workspace."""
        dtype = np.dtype(dtype)
        count = 1
        for s in shape:
            count *= int(s)
        key = (name, dtype)
        buf = self._buffers.get(key)
        if buf is None or buf.size < count:
            buf = np.empty(max(count, 1), dtype=dtype)
            self._buffers[key] = buf
        return buf[:count].reshape(shape)

    def clear(self):
        self._buffers.clear()

    def nbytes(self):
        return sum(b.nbytes for b in self._buffers.values())


default_workspace = Workspace()
