"""Compare the compiled and NumPy backends on the Fashion-MNIST CNN's layer shapes.

For each op it prints the largest difference between the two backends' results and the
median time of each, measured interleaved (A, B, A, B, ...) in this one process, with the
NumPy/compiled time ratio.

    python python/compare_backends.py [--batch 64] [--repeats 15] [--threads N]
"""
import cnn_ext  # first: it chooses OpenBLAS settings that apply only if NumPy is not loaded yet
import argparse
import json
import statistics
import time

import numpy as np

import cnn_ext
from cnn_ext import functional as F


def _ops(batch, rng):
    def conv_case(c_in, c_out, size):
        x = rng.standard_normal((batch, c_in, size, size)).astype(np.float32)
        w = (rng.standard_normal((c_out, c_in, 3, 3)) * 0.1).astype(np.float32)
        b = rng.standard_normal(c_out).astype(np.float32)
        g = rng.standard_normal((batch, c_out, size, size)).astype(np.float32)
        return x, w, b, g

    ops = []
    for label, (c_in, c_out, size) in (("conv1 1->32 28x28", (1, 32, 28)),
                                       ("conv2 32->64 14x14", (32, 64, 14))):
        x, w, b, g = conv_case(c_in, c_out, size)
        flops = 2.0 * batch * c_out * size * size * c_in * 9
        ops.append((f"{label} fwd", flops, lambda x=x, w=w, b=b: F.conv2d(x, w, b, padding=1)))
        ops.append((f"{label} bwd", 2 * flops,
                    lambda x=x, w=w, g=g: F.conv2d_backward(x, w, g, padding=1)))
    for label, (c, size) in (("pool1 32x28x28", (32, 28)), ("pool2 64x14x14", (64, 14))):
        x = rng.standard_normal((batch, c, size, size)).astype(np.float32)
        y, idx = F.max_pool2d(x, 2, return_indices=True)
        g = np.ones_like(y)
        ops.append((f"max{label} fwd", 0, lambda x=x: F.max_pool2d(x, 2, return_indices=True)))
        ops.append((f"max{label} bwd", 0,
                    lambda g=g, idx=idx, s=x.shape: F.max_pool2d_backward(g, idx, s)))
        ops.append((f"avg{label} fwd", 0, lambda x=x: F.avg_pool2d(x, 2)))
        ops.append((f"avg{label} bwd", 0, lambda g=g, s=x.shape: F.avg_pool2d_backward(g, s, 2)))
    return ops


def _max_diff(a, b):
    if isinstance(a, tuple):
        return max(_max_diff(u, v) for u, v in zip(a, b))
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", default=None, help="also write the results to this file")
    args = ap.parse_args(argv)
    if args.threads:
        cnn_ext.set_num_threads(args.threads)
    info = cnn_ext.backend_info()
    if not info["compiled"]:
        raise SystemExit(f"the compiled backend is not available: {info['compiled_error']}")
    print("backend_info:", json.dumps(info))
    rng = np.random.default_rng(0)
    rows = []
    print(f"{'op (batch %d)' % args.batch:<28}{'max |diff|':>12}{'compiled ms':>13}"
          f"{'numpy ms':>11}{'numpy/compiled':>16}{'compiled GF/s':>15}")
    for name, flops, fn in _ops(args.batch, rng):
        out = {}
        times = {"cython": [], "numpy": []}
        for backend in ("cython", "numpy"):  # warm-up and results
            cnn_ext.set_backend(backend)
            out[backend] = fn()
        for _ in range(args.repeats):
            for backend in ("cython", "numpy"):
                cnn_ext.set_backend(backend)
                t0 = time.perf_counter()
                fn()
                times[backend].append(time.perf_counter() - t0)
        tc, tn = statistics.median(times["cython"]), statistics.median(times["numpy"])
        diff = _max_diff(out["cython"], out["numpy"])
        gf = f"{flops / tc / 1e9:.1f}" if flops else "-"
        rows.append(dict(op=name, max_diff=diff, compiled_ms=tc * 1e3, numpy_ms=tn * 1e3,
                         ratio=tn / tc, compiled_gflops=flops / tc / 1e9 if flops else None))
        print(f"{name:<28}{diff:>12.2e}{tc * 1e3:>13.3f}{tn * 1e3:>11.3f}{tn / tc:>15.2f}x{gf:>15}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"backend_info": info, "batch": args.batch, "rows": rows}, fh, indent=2)
    cnn_ext.set_backend("auto")


if __name__ == "__main__":
    main()
