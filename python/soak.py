"""Soak test: train for many epochs on a subset and watch the process's memory.

Samples the resident set size (RSS) after every epoch and reports its growth from epoch 2
on (buffers are allocated during the first epochs; after that RSS must stay flat).

    python python/soak.py [--epochs 20] [--subset 5000] [--model fashion_cnn] [--backend cython]
"""
import argparse
import os
import sys
import time

import cnn_ext
from cnn_ext import data, optim


def rss_mib():
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--subset", type=int, default=5000)
    ap.add_argument("--model", default="fashion_cnn", choices=["fashion_cnn", "lenet5"])
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--max-growth", type=float, default=0.05, help="allowed RSS growth after epoch 2")
    ap.add_argument("--out", default=None, help="checkpoint dir (exercises the per-epoch saves)")
    args = ap.parse_args(argv)
    cnn_ext.set_backend(args.backend)
    cnn_ext.manual_seed(0)
    (xtr, ytr), (xte, yte) = data.load_fashion_mnist()
    t = [data.Normalize(data.FASHION_MNIST_MEAN, data.FASHION_MNIST_STD)]
    if args.model == "lenet5":
        t.append(data.Pad(2))
    tr = data.DataLoader(xtr[:args.subset], ytr[:args.subset], 128, shuffle=True, seed=0, transform=data.Compose(t))
    te = data.DataLoader(xte[:2000], yte[:2000], 500, transform=data.Compose(t))
    model = cnn_ext.models.MODELS[args.model]()
    opt = optim.Adam(model.parameters(), 1e-3)
    samples = []
    print(f"soak: {args.model}, {args.subset} images x {args.epochs} epochs, backend {cnn_ext.get_backend()}")
    t0 = time.time()

    def sample(epoch, history):
        samples.append(rss_mib())
        print(f"epoch {epoch:>3}: test acc {history['test_acc'][-1]:.4f}  RSS {samples[-1]:8.1f} MiB",
              flush=True)

    cnn_ext.fit(model, tr, te, opt, epochs=args.epochs, progress=False, log=lambda s: None,
                checkpoint_dir=args.out, on_epoch_end=sample)
    ref = samples[1] if len(samples) > 1 else samples[0]
    growth = (max(samples[1:]) - ref) / ref if len(samples) > 1 else 0.0
    print(f"RSS after epoch 2: {ref:.1f} MiB, max after: {max(samples[1:] or samples):.1f} MiB, "
          f"growth {100 * growth:.2f}% (limit {100 * args.max_growth:.0f}%), {time.time() - t0:.0f}s")
    return 0 if growth <= args.max_growth else 1


if __name__ == "__main__":
    sys.exit(main())
