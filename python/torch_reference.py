"""The same training run in PyTorch, for comparison with `cnn-ext train`.

Same data (Fashion-MNIST from the same files, same normalization and padding), same model,
optimizer, batch size and epochs; prints a line per epoch and the wall time.
Needs torch (`pip install torch==2.13.0`); cnn_ext is used only to read the data.

    python python/torch_reference.py --model fashion_cnn --epochs 10 --threads 2
"""
import argparse
import time

import numpy as np
import torch  # before cnn_ext: importing cnn_ext sets OMP_WAIT_POLICY=PASSIVE for its own OpenMP

from cnn_ext import data
from cnn_ext.bench import torch_model


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="fashion_cnn", choices=["fashion_cnn", "lenet5"])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    (xtr, ytr), (xte, yte) = data.load_fashion_mnist()
    t = [data.Normalize(data.FASHION_MNIST_MEAN, data.FASHION_MNIST_STD)]
    if args.model == "lenet5":
        t.append(data.Pad(2, value=float(-data.FASHION_MNIST_MEAN / data.FASHION_MNIST_STD)))
    t = data.Compose(t)
    xtr_f = torch.from_numpy(np.ascontiguousarray(t(data.to_float_images(xtr))))
    xte_f = torch.from_numpy(np.ascontiguousarray(t(data.to_float_images(xte))))
    ytr_t, yte_t = torch.from_numpy(ytr.astype(np.int64)), torch.from_numpy(yte.astype(np.int64))
    model = torch_model(args.model)
    opt = torch.optim.Adam(model.parameters(), args.lr)
    g = torch.Generator().manual_seed(args.seed)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, {args.model}, "
          f"batch {args.batch_size}, Adam lr {args.lr}")
    total = 0.0
    for epoch in range(args.epochs):
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(len(xtr_f), generator=g)
        loss_sum, correct = 0.0, 0
        for i in range(0, len(perm), args.batch_size):
            idx = perm[i:i + args.batch_size]
            xb, yb = xtr_f[idx], ytr_t[idx]
            opt.zero_grad()
            out = model(xb)
            loss = torch.nn.functional.cross_entropy(out, yb)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(yb)
            correct += int((out.argmax(1) == yb).sum())
        secs = time.perf_counter() - t0
        total += secs
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model(xte_f[i:i + 1000]).argmax(1) for i in range(0, len(xte_f), 1000)])
        acc = float((pred == yte_t).float().mean())
        print(f"epoch {epoch + 1:>3}/{args.epochs}  train loss {loss_sum / len(perm):.4f} "
              f"acc {correct / len(perm):.4f}  test acc {acc:.4f}  {secs:.1f}s  {len(perm) / secs:.0f} img/s")
    print(f"total training time {total:.1f}s; final test accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
