"""Reader for IDX files (the MNIST format), gzipped or raw, validated before allocating."""
import gzip
import os
import struct

import numpy as np

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
           0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_CHUNK = 1 << 20
MAX_BYTES = 4 << 30  # refuse headers that claim more than 4 GiB of payload


def _open(path):
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


def _read_exact(fh, n, path, what):
    """Read n bytes in chunks (never allocating more than what the file really holds)."""
    parts, got = [], 0
    while got < n:
        block = fh.read(min(_CHUNK, n - got))
        if not block:
            raise ValueError(f"read_idx: {path}: truncated {what}: expected {n} bytes, got {got}")
        parts.append(block)
        got += len(block)
    return b"".join(parts)


def read_idx(path):
    """Read an IDX file (optionally .gz) into a NumPy array of its stored dtype (native order).

    Raises ValueError naming the file when the magic, dimensions or size are wrong or the
    payload is truncated or has trailing bytes.
    """
    path = os.fspath(path)
    try:
        fh = _open(path)
    except OSError as exc:
        raise ValueError(f"read_idx: cannot open {path}: {exc}") from None
    try:
        with fh:
            magic = _read_exact(fh, 4, path, "header")
            if magic[0] != 0 or magic[1] != 0 or magic[2] not in _DTYPES:
                raise ValueError(f"read_idx: {path}: not an IDX file (magic bytes "
                                 f"{magic.hex()}; expected 0000 + type code + ndim)")
            ndim = magic[3]
            if not 1 <= ndim <= 4:
                raise ValueError(f"read_idx: {path}: IDX header claims {ndim} dimensions; expected 1 to 4")
            dims = struct.unpack(f">{ndim}I", _read_exact(fh, 4 * ndim, path, "dimensions"))
            dtype = np.dtype(_DTYPES[magic[2]])
            nbytes = int(np.prod(dims, dtype=object)) * dtype.itemsize
            if nbytes > MAX_BYTES:
                raise ValueError(f"read_idx: {path}: header claims shape {dims} ({nbytes} bytes), "
                                 f"more than the {MAX_BYTES} bytes this reader accepts")
            payload = _read_exact(fh, nbytes, path, f"payload for shape {dims}")
            if fh.read(1):
                raise ValueError(f"read_idx: {path}: trailing bytes after the {nbytes}-byte payload "
                                 f"for shape {dims}")
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ValueError(f"read_idx: {path}: corrupt file ({type(exc).__name__}: {exc})") from None
    arr = np.frombuffer(payload, dtype=dtype).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True) if dtype.itemsize > 1 else arr.copy()
