"""The `cnn-ext` command (also `python -m cnn_ext`): train, eval, info, summary, study, bench."""
import argparse
import json
import os
import sys

import numpy as np


def _data(dataset, model_name, batch_size, seed, augment=False, subset=None, test_subset=None,
          root=None):
    from . import data
    (xtr, ytr), (xte, yte) = data.load_dataset(dataset, root)
    if subset:
        xtr, ytr = xtr[:subset], ytr[:subset]
    if test_subset:
        xte, yte = xte[:test_subset], yte[:test_subset]
    mean, std = ((data.FASHION_MNIST_MEAN, data.FASHION_MNIST_STD) if dataset == "fashion-mnist"
                 else (data.MNIST_MEAN, data.MNIST_STD))
    base = [data.Normalize(mean, std)]
    if model_name == "lenet5":
        base.append(data.Pad(2, value=float(-mean / std)))  # pad with the normalized zero pixel
    train_t = list(base)
    if augment:
        size = 32 if model_name == "lenet5" else 28
        train_t += [data.RandomCrop(size, padding=2), data.RandomHorizontalFlip()]
    train = data.DataLoader(xtr, ytr, batch_size, shuffle=True, seed=seed, transform=data.Compose(train_t))
    test = data.DataLoader(xte, yte, 1000, transform=data.Compose(base))
    return train, test


def _build_model(name, dropout=None):
    from . import models
    if name in models.MODELS:
        return models.MODELS[name](**({} if dropout is None else {"dropout": dropout}))
    if dropout is not None:
        raise ValueError("--dropout applies to fashion_cnn and lenet5; put dropoutP in the spec instead")
    return models.from_spec(name)


def make_optimizer(name, params, lr, weight_decay, momentum=0.9):
    from . import optim
    name = name.lower()
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; expected sgd, adam or adamw")


def make_scheduler(name, optimizer, epochs):
    from .optim import lr_scheduler
    if name in (None, "none"):
        return None
    if name == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if name == "step":
        return lr_scheduler.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    raise ValueError(f"unknown scheduler {name!r}; expected none, step or cosine")


def cmd_train(args):
    import cnn_ext
    from . import plots
    from .training import CHECKPOINT_NAME, evaluate, fit
    _setup(args)
    cnn_ext.manual_seed(args.seed)
    train, test = _data(args.dataset, args.model, args.batch_size, args.seed, args.augment,
                        args.subset, args.test_subset, args.data_root)
    model = _build_model(args.model, args.dropout)
    model.summary((args.batch_size,) + train.images.shape[1:] if train.images.ndim == 4 else
                  (args.batch_size, 1, 32 if args.model == "lenet5" else train.images.shape[1],
                   32 if args.model == "lenet5" else train.images.shape[2]),
                  print_fn=print if args.verbose else None)
    opt = make_optimizer(args.optimizer, model.parameters(), args.lr, args.weight_decay)
    sched = make_scheduler(args.scheduler, opt, args.epochs)
    os.makedirs(args.out, exist_ok=True)
    print(f"training {args.model} on {args.dataset} ({len(train.labels)} images) for {args.epochs} "
          f"epochs, backend {cnn_ext.get_backend()}, {cnn_ext.get_num_threads()} threads, out {args.out}")
    hist = fit(model, train, test, opt, epochs=args.epochs, scheduler=sched, checkpoint_dir=args.out,
               resume=args.resume, progress=not args.no_progress)
    with open(os.path.join(args.out, "history.json"), "w") as fh:
        json.dump({"history": dict(hist), "stopped": hist.stopped, "args": {k: v for k, v in vars(args).items() if k != "func"}}, fh, indent=1)
    if hist.stopped == "interrupted":
        print(f"to resume: cnn-ext train {' '.join(sys.argv[2:])} --resume")
        return 130
    if hist.stopped == "diverged":
        return 3
    cnn_ext.save(model, os.path.join(args.out, "model.npz"))
    _, acc, pred, true = evaluate(model, test)
    cm = plots.confusion_matrix(true, pred, 10)
    np.savetxt(os.path.join(args.out, "confusion.csv"), cm, fmt="%d", delimiter=",")
    made = plots.plot_history(hist, os.path.join(args.out, "curves.png"))
    if made:
        from .data import CLASS_NAMES
        plots.plot_confusion(cm, CLASS_NAMES[args.dataset], os.path.join(args.out, "confusion.png"))
    total = sum(hist["seconds"])
    print(f"final test accuracy {acc:.4f} (best {hist.best():.4f}); training time {total:.1f}s; "
          f"wrote {CHECKPOINT_NAME}, model.npz, history.json, confusion.csv"
          + (", curves.png, confusion.png" if made else " (pip install matplotlib for plots)")
          + f" to {args.out}")
    return 0


def cmd_eval(args):
    import cnn_ext
    from . import plots
    from .data import CLASS_NAMES
    from .training import evaluate
    _setup(args)
    model = cnn_ext.load(args.checkpoint)
    model_name = "lenet5" if model[0].kernel_size == (5, 5) and model[0].out_channels == 6 else "other"
    _, test = _data(args.dataset, model_name, 128, 0, root=args.data_root, test_subset=args.test_subset)
    loss, acc, pred, true = evaluate(model, test)
    cm = plots.confusion_matrix(true, pred, 10)
    names = CLASS_NAMES[args.dataset]
    print(f"{args.checkpoint}: test loss {loss:.4f}, accuracy {acc:.4f} on {len(true)} images")
    print(f"{'class':<14}{'accuracy':>9}")
    for i, n in enumerate(names):
        print(f"{n:<14}{cm[i, i] / max(cm[i].sum(), 1):>9.4f}")
    print("confusion matrix (rows true, columns predicted):")
    print("\n".join(" ".join(f"{v:5d}" for v in row) for row in cm))
    return 0


def cmd_info(args):
    import cnn_ext
    print(json.dumps(cnn_ext.backend_info(), indent=2))
    return 0


def cmd_summary(args):
    model = _build_model(args.model)
    shape = tuple(int(s) for s in args.input_shape.split(","))
    model.summary(shape)
    return 0


def _setup(args):
    import cnn_ext
    if getattr(args, "backend", None):
        cnn_ext.set_backend(args.backend)
    if getattr(args, "threads", None):
        cnn_ext.set_num_threads(args.threads)


def build_parser():
    p = argparse.ArgumentParser(prog="cnn-ext", description="Train and evaluate CNNs on the CPU.")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("--backend", choices=["auto", "cython", "numpy"], default=None)
        sp.add_argument("--threads", type=int, default=None)
        sp.add_argument("--data-root", default=None, help="directory holding the four IDX files")

    t = sub.add_parser("train", help="train a model; writes checkpoint, model, history, plots")
    t.add_argument("--dataset", default="fashion-mnist", choices=["fashion-mnist", "mnist"])
    t.add_argument("--model", default="fashion_cnn", help="fashion_cnn, lenet5 or a from_spec string")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--optimizer", default="adam", choices=["sgd", "adam", "adamw"])
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--weight-decay", type=float, default=0.0)
    t.add_argument("--scheduler", default="none", choices=["none", "step", "cosine"])
    t.add_argument("--dropout", type=float, default=None,
                   help="dropout rate of fashion_cnn (default 0.5) or lenet5 (default none)")
    t.add_argument("--augment", action="store_true", help="random crop (pad 2) and horizontal flip")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--subset", type=int, default=None, help="train on the first K images")
    t.add_argument("--test-subset", type=int, default=None)
    t.add_argument("--out", default="runs/train")
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
    t.add_argument("--no-progress", action="store_true")
    t.add_argument("--verbose", action="store_true", help="print the model summary")
    common(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="accuracy, per-class accuracy and confusion matrix of a saved model")
    e.add_argument("checkpoint")
    e.add_argument("--dataset", default="fashion-mnist", choices=["fashion-mnist", "mnist"])
    e.add_argument("--test-subset", type=int, default=None)
    common(e)
    e.set_defaults(func=cmd_eval)

    i = sub.add_parser("info", help="print backend_info()")
    i.set_defaults(func=cmd_info)

    s = sub.add_parser("summary", help="print a model's layer table")
    s.add_argument("--model", default="fashion_cnn")
    s.add_argument("--input-shape", default="1,1,28,28")
    s.set_defaults(func=cmd_summary)

    from .study import add_cli as add_study
    add_study(sub, common)
    from .bench import add_cli as add_bench
    add_bench(sub)
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # its own options, parsed by cnn_ext.bench
        from .bench import main as bench_main
        return bench_main(argv[1:]) or 0
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"cnn-ext {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
