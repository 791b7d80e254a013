"""Benchmark harness: per-op times, whole training steps, SGEMM reference, peak RSS.

Every comparison is interleaved in one process (compiled, NumPy, PyTorch, compiled, ...)
with the same thread count, and reports medians. Run as `python python/bench.py` or
`cnn-ext bench`; PyTorch columns appear when torch is installed (never needed otherwise).

    python python/bench.py                         # everything, 2 threads
    python python/bench.py --parts ops --batches 64
    python python/bench.py --parts step,rss --repeats 20 --json bench.json
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python python/bench.py   # as users run it
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

import cnn_ext
from cnn_ext import nn, optim
from cnn_ext.backends import cython_backend, numpy_backend

WARMUP_STEPS = 10  # untimed steps at the start of a fresh-process run (rss part)
torch = None  # imported by main() when installed: the package itself never needs it


def _import_torch():
    """Import torch with its own OpenMP settings: cnn_ext sets OMP_WAIT_POLICY=PASSIVE and
    GOMP_SPINCOUNT for its OpenMP runtime when the user has not chosen them; torch's bundled
    runtime reads the environment when it loads, and should see what it would see without
    cnn_ext."""
    global torch
    ours = {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    if cnn_ext._omp_wait_policy_set_by_us:
        os.environ.pop("OMP_WAIT_POLICY", None)
    if cnn_ext._gomp_spincount_set_by_us:
        os.environ.pop("GOMP_SPINCOUNT", None)
    try:
        import torch as _t
    except ImportError:  # PyTorch columns are left out
        return None
    finally:
        for k, v in ours.items():
            if v is not None:
                os.environ[k] = v
    torch = _t
    return _t


def median_times(fns, repeats, warmup=2, block=1):
    """Interleave the callables in blocks (A x block, B x block, ..., A x block, ...); the
    median over repeats of each block's mean seconds per call. Blocks longer than 1 keep
    one library's idle threads (OpenMP, BLAS) from taxing the first call of the next."""
    for _ in range(warmup):
        for f in fns:
            f()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for i, f in enumerate(fns):
            t0 = time.perf_counter()
            for _ in range(block):
                f()
            times[i].append((time.perf_counter() - t0) / block)
    return [statistics.median(t) for t in times]


def sgemm_gflops(n=2048, repeats=5):
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    b = a.copy()
    c = np.empty_like(a)
    (t,) = median_times([lambda: np.matmul(a, b, out=c)], repeats, warmup=1)
    return 2 * n ** 3 / t / 1e9


# ---------------------------------------------------------------------------- ops ----

def conv_shapes(model, batch):
    """(label, x shape, w shape, stride, padding) of the model's conv layers."""
    if model == "fashion_cnn":
        return [("conv1 1->32 3x3 p1 28x28", (batch, 1, 28, 28), (32, 1, 3, 3), 1, 1),
                ("conv2 32->64 3x3 p1 14x14", (batch, 32, 14, 14), (64, 32, 3, 3), 1, 1)]
    return [("conv1 1->6 5x5 32x32", (batch, 1, 32, 32), (6, 1, 5, 5), 1, 0),
            ("conv2 6->16 5x5 14x14", (batch, 6, 14, 14), (16, 6, 5, 5), 1, 0)]


def op_cases(model, batch, rng):
    """Yield (op, flops, {impl: callable}) for the model's layer shapes."""
    be = {"compiled": cython_backend, "numpy": numpy_backend}
    r = lambda *s: rng.standard_normal(s).astype(np.float32)
    for label, xs, ws, s, p in conv_shapes(model, batch):
        x, w, b = r(*xs), r(*ws) * 0.1, r(ws[0])
        ho = (xs[2] + 2 * p - ws[2]) // s + 1
        g = r(batch, ws[0], ho, ho)
        flops = 2.0 * batch * ws[0] * ho * ho * ws[1] * ws[2] * ws[3]
        st, pd, dl = (s, s), (p, p), (1, 1)
        fw = {k: (lambda m=m: m.conv2d_forward(x, w, b, st, pd, dl)) for k, m in be.items()}
        dx = {k: (lambda m=m: m.conv2d_backward(x, x.shape, w, g, st, pd, dl, True, False)) for k, m in be.items()}
        dw = {k: (lambda m=m: m.conv2d_backward(x, x.shape, w, g, st, pd, dl, False, True)) for k, m in be.items()}
        if torch is not None:
            xt, wt, bt, gt = map(torch.from_numpy, (x, w, b, g))
            fw["torch"] = lambda: torch.nn.functional.conv2d(xt, wt, bt, s, p)
            cb = torch.ops.aten.convolution_backward
            dx["torch"] = lambda: cb(gt, xt, wt, [ws[0]], [s, s], [p, p], [1, 1], False, [0, 0], 1, [True, False, False])
            dw["torch"] = lambda: cb(gt, xt, wt, [ws[0]], [s, s], [p, p], [1, 1], False, [0, 0], 1, [False, True, True])
        yield f"{label} fwd", flops, fw
        yield f"{label} dx", flops, dx
        yield f"{label} dW", flops, dw
    pool_in = [(batch, 32, 28, 28), (batch, 64, 14, 14)] if model == "fashion_cnn" else \
        [(batch, 6, 28, 28), (batch, 16, 10, 10)]
    kind = "max" if model == "fashion_cnn" else "avg"
    for shape in pool_in:
        x = r(*shape)
        y, idx = cython_backend.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
        g = r(*y.shape)
        label = f"{kind}pool 2x2 {shape[1]}x{shape[2]}x{shape[3]}"
        if kind == "max":
            fw = {k: (lambda m=m: m.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))) for k, m in be.items()}
            bw = {k: (lambda m=m: m.max_pool2d_backward(g, idx, x.shape)) for k, m in be.items()}
            if torch is not None:
                xt, gt, it = torch.from_numpy(x), torch.from_numpy(g), torch.from_numpy(idx)
                fw["torch"] = lambda: torch.nn.functional.max_pool2d(xt, 2, return_indices=True)
                bw["torch"] = lambda: torch.ops.aten.max_pool2d_with_indices_backward(gt, xt, [2, 2], [2, 2], [0, 0], [1, 1], False, it)
        else:
            fw = {k: (lambda m=m: m.avg_pool2d_forward(x, (2, 2), (2, 2), (0, 0))) for k, m in be.items()}
            bw = {k: (lambda m=m: m.avg_pool2d_backward(g, x.shape, (2, 2), (2, 2), (0, 0))) for k, m in be.items()}
            if torch is not None:
                xt, gt = torch.from_numpy(x), torch.from_numpy(g)
                fw["torch"] = lambda: torch.nn.functional.avg_pool2d(xt, 2)
                bw["torch"] = lambda: torch.ops.aten.avg_pool2d_backward(gt, xt, [2, 2], [2, 2], [0, 0], False, True, None)
        yield f"{label} fwd", 0, fw
        yield f"{label} bwd", 0, bw
    if model == "fashion_cnn":
        for shape in pool_in:
            x = r(*shape)
            x3 = x.reshape(shape[0], shape[1], -1)
            gam, bet = np.ones(shape[1], np.float32), np.zeros(shape[1], np.float32)
            g3 = r(*x3.shape)
            _, mean, _, inv = cython_backend.batch_norm_train_forward(x3, gam, bet, 1e-5)
            fw = {k: (lambda m=m: m.batch_norm_train_forward(x3, gam, bet, 1e-5)) for k, m in be.items()}
            bw = {k: (lambda m=m: m.batch_norm_train_backward(x3, g3, gam, mean, inv)) for k, m in be.items()}
            if torch is not None:
                xt, gt = torch.from_numpy(x), torch.from_numpy(g3.reshape(shape))
                gmt, btt = torch.from_numpy(gam), torch.from_numpy(bet)
                rm, rv = torch.zeros(shape[1]), torch.ones(shape[1])
                mt, it = torch.from_numpy(mean.astype(np.float32)), torch.from_numpy(inv.astype(np.float32))
                fw["torch"] = lambda: torch.nn.functional.batch_norm(xt, rm, rv, gmt, btt, True, 0.1, 1e-5)
                bw["torch"] = lambda: torch.ops.aten.native_batch_norm_backward(gt, xt, gmt, rm, rv, mt, it, True, 1e-5, [True, True, True])
            label = f"batchnorm {shape[1]}x{shape[2]}x{shape[3]}"
            yield f"{label} fwd", 0, fw
            yield f"{label} bwd", 0, bw
    lin = [(3136, 128), (128, 10)] if model == "fashion_cnn" else [(400, 120), (120, 84)]
    for fin, fout in lin:
        layer = nn.Linear(fin, fout)
        x, g = r(batch, fin), r(batch, fout)
        flops = 2.0 * batch * fin * fout

        def lin_fw(layer=layer, x=x):
            return layer(x)

        def lin_bw(layer=layer, x=x, g=g):
            layer(x)
            return layer.backward(g)
        ours = {"compiled": lin_fw, "numpy": lin_fw}
        both = {"compiled": lin_bw, "numpy": lin_bw}
        if torch is not None:
            tl = torch.nn.Linear(fin, fout)
            xt, gt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(g)

            def t_fw(tl=tl, xt=xt):
                with torch.no_grad():
                    return tl(xt)

            def t_bw(tl=tl, xt=xt, gt=gt):
                tl(xt).backward(gt)
            ours["torch"] = t_fw
            both["torch"] = t_bw
        yield f"linear {fin}->{fout} fwd", flops, ours
        yield f"linear {fin}->{fout} fwd+bwd", 3 * flops, both
    shape = pool_in[0]
    x = r(*shape)
    relu = nn.ReLU()
    rf = {"compiled": lambda: relu(x), "numpy": lambda: relu(x)}
    rb = {"compiled": lambda: relu.backward(x), "numpy": lambda: relu.backward(x)}
    if torch is not None:
        xt = torch.from_numpy(x)
        rf["torch"] = lambda: torch.relu(xt)
        rb["torch"] = lambda: torch.ops.aten.threshold_backward(xt, xt, 0)
    yield f"relu {shape[1]}x{shape[2]}x{shape[3]} fwd", 0, rf
    yield f"relu {shape[1]}x{shape[2]}x{shape[3]} bwd", 0, rb


def run_ops(args, sgemm):
    rows = []
    impls = ["compiled", "numpy"] + (["torch"] if torch is not None else [])
    for model in ("fashion_cnn", "lenet5"):
        for batch in args.batches:
            rng = np.random.default_rng(0)
            # the machine's speed drifts over tens of seconds: the share of SGEMM is taken
            # against an SGEMM timed right before this table
            sgemm = sgemm_gflops(repeats=9)
            print(f"\n{model}, batch {batch}: median ms over {args.repeats} interleaved repeats; "
                  f"SGEMM timed just before: {sgemm:.1f} GFLOP/s")
            head = f"{'op':<34}" + "".join(f"{i + ' ms':>13}" for i in impls) + \
                f"{'numpy/comp':>11}" + (f"{'torch/comp':>11}" if torch is not None else "") + \
                f"{'comp GF/s':>10}{'% SGEMM':>8}"
            print(head)
            for op, flops, fns in op_cases(model, batch, rng):
                ts = median_times([fns[i] for i in impls if i in fns], args.repeats, block=args.block)
                t = dict(zip([i for i in impls if i in fns], ts))
                gf = flops / t["compiled"] / 1e9 if flops else None
                line = f"{op:<34}" + "".join(f"{t[i] * 1e3:>13.3f}" if i in t else f"{'-':>13}" for i in impls)
                line += f"{t['numpy'] / t['compiled']:>10.2f}x"
                if torch is not None:
                    line += f"{t['torch'] / t['compiled']:>10.2f}x" if "torch" in t else f"{'-':>11}"
                line += f"{gf:>10.1f}{100 * gf / sgemm:>7.0f}%" if gf else f"{'-':>10}{'-':>8}"
                print(line)
                rows.append(dict(model=model, batch=batch, op=op, flops=flops,
                                 ms={k: v * 1e3 for k, v in t.items()}, gflops=gf, sgemm_gflops=sgemm))
    return rows


def run_conv2_target(args, sgemm):
    """fashion_cnn's conv2 (32->64, 3x3, pad 1, 14x14) at batch 128: forward + dx + dW."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 32, 14, 14)).astype(np.float32)
    w = (rng.standard_normal((64, 32, 3, 3)) * 0.1).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    g = rng.standard_normal((128, 64, 14, 14)).astype(np.float32)
    one = (1, 1)
    # "functional": conv2d_forward then conv2d_backward, each allocating its outputs and the
    # backward recomputing the columns; "layer": an nn.Conv2d forward + backward inside a
    # Sequential, as training runs it (reused buffers, the forward's columns reused for dW)
    layer = nn.Conv2d(32, 64, 3, padding=1)
    layer.weight.data[...] = w
    layer.bias.data[...] = b
    object.__setattr__(layer, "_reuse_out", True)  # as for a layer inside a Sequential
    object.__setattr__(layer, "_reuse_grad", True)

    def layer_step():
        cnn_ext.set_backend("cython")
        layer(x)
        layer.backward(g)

    fns = {"compiled functional": lambda: (cython_backend.conv2d_forward(x, w, b, one, one, one),
                                           cython_backend.conv2d_backward(x, x.shape, w, g, one, one, one)),
           "compiled layer": layer_step}
    if torch is not None:
        xt, wt, bt, gt = (torch.from_numpy(a) for a in (x, w, b, g))

        def tconv():
            torch.nn.functional.conv2d(xt, wt, bt, 1, 1)
            torch.ops.aten.convolution_backward(gt, xt, wt, [64], [1, 1], [1, 1], [1, 1], False,
                                                [0, 0], 1, [True, True, True])
        fns["torch"] = tconv
    # SGEMM is timed in the same interleaved loop, so the share is not skewed by the machine
    # being faster or slower at another moment
    a = np.random.default_rng(1).standard_normal((2048, 2048)).astype(np.float32)
    c = np.empty_like(a)
    fns["sgemm 2048"] = lambda: np.matmul(a, a, out=c)
    names = list(fns)
    ts = dict(zip(names, median_times([fns[n] for n in names], args.repeats, block=args.block)))
    sgemm_here = 2.0 * 2048 ** 3 / ts.pop("sgemm 2048") / 1e9
    names.remove("sgemm 2048")
    flops = 3 * 2.0 * 128 * 64 * 196 * 32 * 9
    print(f"\nconv2 of fashion_cnn, batch 128, forward + dx + dW ({flops / 1e9:.2f} GFLOP); "
          f"SGEMM timed alongside: {sgemm_here:.1f} GFLOP/s")
    for n in names:
        print(f"  {n:<20}{ts[n] * 1e3:8.2f} ms  {flops / ts[n] / 1e9:7.1f} GFLOP/s  "
              f"{100 * flops / ts[n] / 1e9 / sgemm_here:5.1f}% of SGEMM")
    out = {n: {"ms": ts[n] * 1e3, "gflops": flops / ts[n] / 1e9,
               "pct_sgemm": 100 * flops / ts[n] / 1e9 / sgemm_here} for n in names}
    out["sgemm_gflops_alongside"] = sgemm_here
    return out


# --------------------------------------------------------------------------- steps ---

def torch_model(name):
    """The PyTorch equivalent of cnn_ext's fashion_cnn or lenet5 (same layers, same keys)."""
    import torch as _torch
    T = _torch.nn
    if name == "fashion_cnn":
        return T.Sequential(T.Conv2d(1, 32, 3, padding=1), T.BatchNorm2d(32), T.ReLU(), T.MaxPool2d(2),
                            T.Conv2d(32, 64, 3, padding=1), T.BatchNorm2d(64), T.ReLU(), T.MaxPool2d(2),
                            T.Flatten(), T.Linear(3136, 128), T.ReLU(), T.Dropout(0.5), T.Linear(128, 10))
    return T.Sequential(T.Conv2d(1, 6, 5), T.Tanh(), T.AvgPool2d(2), T.Conv2d(6, 16, 5), T.Tanh(),
                        T.AvgPool2d(2), T.Flatten(), T.Linear(400, 120), T.Tanh(), T.Linear(120, 84),
                        T.Tanh(), T.Linear(84, 10))


def step_fns(name, batch):
    size = 28 if name == "fashion_cnn" else 32
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 1, size, size)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    fns = {}
    for impl, backend in (("compiled", "cython"), ("numpy", "numpy")):
        cnn_ext.manual_seed(0)
        model = cnn_ext.models.MODELS[name]()
        opt = optim.Adam(model.parameters(), 1e-3)
        crit = nn.CrossEntropyLoss()

        def step(model=model, opt=opt, crit=crit, backend=backend):
            cnn_ext.set_backend(backend)
            crit(model(x), y)
            model.zero_grad()
            model.backward(crit.backward(), input_grad=False)
            opt.step()
        fns[impl] = step
    if torch is not None:
        tm = torch_model(name)
        topt = torch.optim.Adam(tm.parameters(), 1e-3)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)

        def tstep():
            topt.zero_grad()
            torch.nn.functional.cross_entropy(tm(xt), yt).backward()
            topt.step()
        fns["torch"] = tstep
    return fns


def run_steps(args):
    rows = []
    print(f"\nwhole training step (forward, loss, backward, Adam): images/s, median of {args.step_repeats} "
          f"interleaved blocks of {args.step_block} steps")
    impls = ["compiled", "numpy"] + (["torch"] if torch is not None else [])
    print(f"{'model':<22}" + "".join(f"{i + ' img/s':>15}" for i in impls) +
          f"{'comp/numpy':>12}" + (f"{'comp/torch':>12}" if torch is not None else ""))
    for name, batch in (("fashion_cnn", 128), ("lenet5", 64)):
        fns = step_fns(name, batch)
        ts = median_times([fns[i] for i in impls], args.step_repeats, warmup=3, block=args.step_block)
        cnn_ext.set_backend("auto")
        ips = {i: batch / t for i, t in zip(impls, ts)}
        line = f"{name + ' b' + str(batch):<22}" + "".join(f"{ips[i]:>15.0f}" for i in impls)
        line += f"{ips['compiled'] / ips['numpy']:>11.2f}x"
        if torch is not None:
            line += f"{ips['compiled'] / ips['torch']:>11.2f}x"
        print(line)
        rows.append(dict(model=name, batch=batch, images_per_s=ips))
    return rows


# ----------------------------------------------------------------------------- RSS ---

def rss_child(impl, steps, threads):
    """Train fashion_cnn (batch 128) for `steps` steps on real-size data, alone in this
    process; print one JSON line: peak RSS MiB and images/s over the steps after the first
    WARMUP_STEPS."""
    if threads:
        cnn_ext.set_num_threads(threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128 * 8, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, len(x))
    if impl == "torch":
        torch.set_num_threads(threads or 2)
        tm = torch_model("fashion_cnn")
        opt = torch.optim.Adam(tm.parameters(), 1e-3)

        def step(s):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(tm(torch.from_numpy(x[s])), torch.from_numpy(y[s])).backward()
            opt.step()
    else:
        cnn_ext.set_backend("cython" if impl == "compiled" else "numpy")
        m = cnn_ext.fashion_cnn()
        opt = optim.Adam(m.parameters(), 1e-3)
        crit = nn.CrossEntropyLoss()

        def step(s):
            crit(m(x[s]), y[s])
            m.zero_grad()
            m.backward(crit.backward(), input_grad=False)
            opt.step()
    t0 = None
    for i in range(steps):
        if i == min(WARMUP_STEPS, steps - 1):
            t0 = time.perf_counter()
        step(slice((i % 8) * 128, (i % 8 + 1) * 128))
    timed = steps - min(WARMUP_STEPS, steps - 1)
    print(json.dumps({"peak_rss_mib": peak_rss_mib(),
                      "images_per_s": 128 * timed / (time.perf_counter() - t0)}))


def peak_rss_mib():
    """This process's peak resident set (VmHWM). ru_maxrss is not used: Linux carries the
    parent's high-water mark into a child across fork and exec."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_rss(args):
    """Each implementation trains in a fresh process of its own (nothing else in it), in
    turn, --rss-rounds times: peak RSS (the largest over rounds) and images/s (median)."""
    print(f"\nalone in a fresh process: fashion_cnn, batch 128, {args.rss_steps} steps, "
          f"{args.rss_rounds} alternating rounds; peak RSS (MiB, the framework's import "
          f"included) and images/s (median over rounds, steps after the first {WARMUP_STEPS})")
    impls = ["compiled", "numpy"] + (["torch"] if torch is not None else [])
    seen = {i: [] for i in impls}
    for _ in range(args.rss_rounds):
        for impl in impls:
            # the torch process imports torch before cnn_ext, as a PyTorch user's script would
            entry = (["-c", "import torch, sys; from cnn_ext.bench import main; main(sys.argv[1:])"]
                     if impl == "torch" else ["-m", "cnn_ext.bench"])
            r = subprocess.run([sys.executable] + entry + ["--rss-child", impl,
                                "--rss-steps", str(args.rss_steps), "--threads", str(args.threads)]
                               + ([] if impl == "torch" else ["--no-torch"]),  # torch's import only where it runs
                               capture_output=True, text=True, check=True)
            seen[impl].append(json.loads(r.stdout.strip().splitlines()[-1]))
    out = {}
    print(f"  {'':<10}{'peak RSS MiB':>14}{'images/s':>10}   (each round)")
    for impl in impls:
        rss = max(r["peak_rss_mib"] for r in seen[impl])
        ips = [r["images_per_s"] for r in seen[impl]]
        out[impl] = {"peak_rss_mib": rss, "images_per_s": statistics.median(ips), "images_per_s_rounds": ips}
        print(f"  {impl:<10}{rss:>14.0f}{statistics.median(ips):>10.0f}   "
              + " ".join(f"{v:.0f}" for v in ips))
    if "torch" in out:
        print(f"  compiled/torch: peak RSS {out['compiled']['peak_rss_mib'] / out['torch']['peak_rss_mib']:.2f}x, "
              f"speed {out['compiled']['images_per_s'] / out['torch']['images_per_s']:.2f}x")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="cnn-ext bench", description="cnn_ext benchmarks (see the module docstring)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=lambda s: [int(v) for v in s.split(",")], default=[64, 256])
    ap.add_argument("--repeats", type=int, default=15, help="repeats per op")
    ap.add_argument("--block", type=int, default=3,
                    help="consecutive calls per interleaved block, per op and for conv2")
    ap.add_argument("--step-repeats", type=int, default=9, help="interleaved blocks per training step")
    ap.add_argument("--step-block", type=int, default=5, help="consecutive steps per block")
    ap.add_argument("--parts", default="sgemm,ops,conv2,step,rss",
                    help="comma list of sgemm, ops, conv2, step, rss (rss: each implementation alone in a fresh process: peak RSS and images/s)")
    ap.add_argument("--rss-steps", type=int, default=60)
    ap.add_argument("--rss-rounds", type=int, default=5, help="alternating fresh-process rounds (rss part)")
    ap.add_argument("--json", default=None, help="write the results here too")
    ap.add_argument("--no-torch", action="store_true", help="leave PyTorch out even if installed")
    ap.add_argument("--rss-child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if not args.no_torch:
        _import_torch()
    if args.rss_child:
        return rss_child(args.rss_child, args.rss_steps, args.threads)
    cnn_ext.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    info = cnn_ext.backend_info()
    if not info["compiled"]:
        raise SystemExit(f"the compiled backend is not available: {info['compiled_error']}")
    parts = set(args.parts.split(","))
    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_THREAD_TIMEOUT",
                                          "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    print("backend_info:", json.dumps(info))
    print("environment:", json.dumps(env), "| torch:", torch.__version__ if torch is not None else "not installed")
    result = {"backend_info": info, "env": env, "threads": args.threads,
              "torch": torch.__version__ if torch is not None else None}
    sgemm = sgemm_gflops(repeats=15)
    result["sgemm_gflops"] = sgemm
    print(f"SGEMM (NumPy matmul 2048x2048 float32): {sgemm:.1f} GFLOP/s")
    if "ops" in parts:
        result["ops"] = run_ops(args, sgemm)
    if "conv2" in parts:
        result["conv2_b128"] = run_conv2_target(args, sgemm)
    if "step" in parts:
        result["steps"] = run_steps(args)
    if "rss" in parts:
        result["fresh_process"] = run_rss(args)
    print(f"\npeak RSS of this process: {peak_rss_mib():.0f} MiB")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)
        print(f"wrote {args.json}")


def add_cli(sub):
    # listed for --help; cnn_ext.cli.main hands `cnn-ext bench ...` to main() directly
    sub.add_parser("bench", help="benchmarks: per-op times, training steps, SGEMM, peak RSS "
                                 "(cnn-ext bench --help)")


if __name__ == "__main__":
    main()
