"""The seed's ablation study as one command: a grid of LeNet-5 and fashion_cnn variants
(BatchNorm, initialization, dropout, weight decay, learning rate, optimizer, schedule,
augmentation) trained on the same data, seeds and budget.

The grid is data: cnn_ext/study_variants.json (pass an edited copy with --config).
Results go to OUT: runs/<variant>__seed<k>.json (one per finished run; rerunning with the
same OUT skips them), study.json, study.md and, with matplotlib, study.png.
"""
import json
import math
import os
import re
import time

import numpy as np

DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), "study_variants.json")
DEFAULTS = dict(dataset="fashion-mnist", epochs=6, subset=15000, seeds=2)


def load_config(path=None):
    """{"variants": [resolved variant dicts]} from a JSON file (default: the built-in grid)."""
    path = path or DEFAULT_CONFIG
    with open(path) as fh:
        cfg = json.load(fh)
    bases = cfg.get("base", {})
    variants = []
    for i, v in enumerate(cfg.get("variants", [])):
        if "name" not in v:
            raise ValueError(f"{path}: variant {i} has no name")
        base = dict(bases.get(v.get("base", ""), {}))
        if v.get("base") and not base:
            raise ValueError(f"{path}: variant {v['name']!r} names unknown base {v['base']!r}")
        merged = dict(base)
        for k, val in v.items():
            if k == "model_args":
                merged["model_args"] = dict(base.get("model_args", {}), **val)
            elif k != "base":
                merged[k] = val
        if merged.get("model") not in ("lenet5", "fashion_cnn"):
            raise ValueError(f"{path}: variant {v['name']!r}: model must be lenet5 or fashion_cnn")
        variants.append(merged)
    return variants


def slug(name):
    return re.sub(r"[^A-Za-z0-9.]+", "_", name).strip("_")


def run_one(variant, seed, data_arrays, dataset, epochs, log=print):
    """Train one variant with one seed; return its result record."""
    import cnn_ext
    from . import data as D
    from .cli import make_optimizer, make_scheduler
    from .models import MODELS
    from .nn import init
    (xtr, ytr), (xte, yte) = data_arrays
    cnn_ext.manual_seed(seed)
    model_name = variant["model"]
    model = MODELS[model_name](**variant.get("model_args", {}))
    init.apply_scheme(model, variant.get("init", "default"), rng=np.random.default_rng(seed))
    mean, std = ((D.FASHION_MNIST_MEAN, D.FASHION_MNIST_STD) if dataset == "fashion-mnist"
                 else (D.MNIST_MEAN, D.MNIST_STD))
    base = [D.Normalize(mean, std)]
    if model_name == "lenet5":
        base.append(D.Pad(2, value=float(-mean / std)))
    train_t = list(base)
    if variant.get("augment"):
        size = 32 if model_name == "lenet5" else 28
        train_t += [D.RandomCrop(size, padding=2), D.RandomHorizontalFlip()]
    train = D.DataLoader(xtr, ytr, variant.get("batch_size", 64), shuffle=True, seed=seed,
                         transform=D.Compose(train_t))
    test = D.DataLoader(xte, yte, 1000, transform=D.Compose(base))
    opt = make_optimizer(variant.get("optimizer", "adam"), model.parameters(), variant.get("lr", 1e-3),
                         variant.get("weight_decay", 0.0))
    sched = make_scheduler(variant.get("scheduler", "none"), opt, epochs)
    t0 = time.perf_counter()
    hist = cnn_ext.fit(model, train, test, opt, epochs=epochs, scheduler=sched, progress=False,
                       log=lambda s: None, handle_sigint=False)
    acc = hist["test_acc"]
    best = max(acc) if acc else None
    return {"variant": variant["name"], "seed": seed, "config": variant,
            "status": hist.stopped or "ok", "message": hist.message,
            "test_acc": acc, "train_acc": hist["train_acc"], "train_loss": hist["train_loss"],
            "final_acc": acc[-1] if acc and not hist.stopped else (acc[-1] if acc else None),
            "best_acc": best, "best_epoch": (acc.index(best) + 1) if acc else None,
            "epochs_run": len(acc), "seconds": time.perf_counter() - t0}


def _summarize(records, variants):
    rows = []
    for v in variants:
        rs = [r for r in records if r["variant"] == v["name"]]
        if not rs:
            continue
        finals = [r["final_acc"] if r["status"] == "ok" else float("nan") for r in rs]
        bests = [r["best_acc"] if r["best_acc"] is not None else float("nan") for r in rs]
        diverged = sum(r["status"] == "diverged" for r in rs)
        rows.append({
            "variant": v["name"],
            "final_mean": float(np.mean(finals)), "final_std": float(np.std(finals)),
            "best_mean": float(np.mean(bests)), "best_std": float(np.std(bests)),
            "best_epoch": float(np.mean([r["best_epoch"] or 0 for r in rs])),
            "seconds": float(np.mean([r["seconds"] for r in rs])), "seeds": len(rs),
            "diverged": diverged})
    return rows


def _fmt(m, s):
    if math.isnan(m):
        return "diverged"
    return f"{100 * m:.2f} ± {100 * s:.2f}"


def write_report(out, rows, meta):
    lines = [f"# Ablation study on {meta['dataset']}",
             "",
             f"{meta['subset'] or 'all'} training images, the full test set, {meta['epochs']} epochs, "
             f"seeds {meta['seeds']} (mean ± std over seeds), backend {meta['backend']}, "
             f"{meta['threads']} threads. Command: `{meta['command']}`",
             "",
             "| variant | final test acc % | best test acc % | epoch of best | seconds/run | diverged |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['variant']} | {_fmt(r['final_mean'], r['final_std'])} | "
                     f"{_fmt(r['best_mean'], r['best_std'])} | {r['best_epoch']:.1f} | "
                     f"{r['seconds']:.0f} | {r['diverged']}/{r['seeds']} |")
    with open(os.path.join(out, "study.md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")


def plot(out, records, rows):
    from .plots import _plt
    plt = _plt()
    if plt is None:
        return False
    fig, (a, b) = plt.subplots(1, 2, figsize=(15, 7))
    names = [r["variant"] for r in rows]
    cmap = plt.get_cmap("tab20")
    for i, name in enumerate(names):
        curves = [r["test_acc"] for r in records if r["variant"] == name and r["test_acc"]]
        if not curves:
            continue
        n = min(len(c) for c in curves)
        mean = np.mean([c[:n] for c in curves], axis=0)
        a.plot(range(1, n + 1), 100 * mean, "o-", ms=3, color=cmap(i % 20), label=name)
    a.set_xlabel("epoch"), a.set_ylabel("test accuracy % (mean over seeds)"), a.grid(alpha=0.3)
    if a.get_legend_handles_labels()[0]:
        a.legend(fontsize=7, loc="lower right")
    finals = [0 if math.isnan(r["final_mean"]) else 100 * r["final_mean"] for r in rows]
    errs = [0 if math.isnan(r["final_std"]) else 100 * r["final_std"] for r in rows]
    b.barh(range(len(rows)), finals, xerr=errs, color=[cmap(i % 20) for i in range(len(rows))])
    b.set_yticks(range(len(rows)), names, fontsize=7)
    b.invert_yaxis()
    lo = min([f for f in finals if f > 0] or [0])
    b.set_xlim(max(0, lo - 5), 100)
    b.set_xlabel("final test accuracy %")
    b.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "study.png"), dpi=100)
    plt.close(fig)
    return True


def run_study(out, dataset=DEFAULTS["dataset"], epochs=DEFAULTS["epochs"], subset=DEFAULTS["subset"],
              seeds=DEFAULTS["seeds"], only=None, config=None, data_root=None, log=print, command=""):
    """Run (or resume) the study; return the summary rows. See the module docstring."""
    import cnn_ext
    from . import data as D
    variants = load_config(config)
    if only:
        wanted = [o.strip() for o in only]
        unknown = [o for o in wanted if not any(v["name"] == o for v in variants)]
        if unknown:
            raise ValueError(f"study: unknown variant(s) {unknown}; known: {[v['name'] for v in variants]}")
        variants = [v for v in variants if v["name"] in wanted]
    if isinstance(seeds, int):
        seeds = list(range(seeds))
    (xtr, ytr), (xte, yte) = D.load_dataset(dataset, data_root)
    if subset:
        xtr, ytr = xtr[:subset], ytr[:subset]
    arrays = ((xtr, ytr), (xte, yte))
    runs_dir = os.path.join(out, "runs")
    os.makedirs(runs_dir, exist_ok=True)
    records = []
    total = len(variants) * len(seeds)
    k = 0
    for v in variants:
        for seed in seeds:
            k += 1
            path = os.path.join(runs_dir, f"{slug(v['name'])}__seed{seed}.json")
            if os.path.exists(path):
                with open(path) as fh:
                    rec = json.load(fh)
                if rec.get("config") == v and rec.get("epochs") == epochs and rec.get("subset") == subset:
                    records.append(rec)
                    log(f"[{k}/{total}] {v['name']} seed {seed}: done before "
                        f"({rec['status']}, final {rec['final_acc']})")
                    continue
            rec = run_one(v, seed, arrays, dataset, epochs, log)
            rec.update(epochs=epochs, subset=subset, dataset=dataset)
            from .serialization import atomic_write_bytes
            atomic_write_bytes(path, json.dumps(rec, indent=1).encode())
            records.append(rec)
            acc = f"{100 * rec['final_acc']:.2f}%" if rec["status"] == "ok" else rec["status"]
            log(f"[{k}/{total}] {v['name']} seed {seed}: {acc} (best {100 * (rec['best_acc'] or 0):.2f}% "
                f"at epoch {rec['best_epoch']}), {rec['seconds']:.0f}s")
    rows = _summarize(records, variants)
    meta = dict(dataset=dataset, epochs=epochs, subset=subset, seeds=seeds,
                backend=cnn_ext.get_backend(), threads=cnn_ext.get_num_threads(), command=command)
    with open(os.path.join(out, "study.json"), "w") as fh:
        json.dump({"meta": meta, "summary": rows, "runs": records}, fh, indent=1)
    write_report(out, rows, meta)
    made = plot(out, records, rows)
    log(f"wrote {os.path.join(out, 'study.md')}, study.json" + (", study.png" if made else
                                                              " (pip install matplotlib for study.png)"))
    return rows


def add_cli(sub, common):
    s = sub.add_parser("study", help="run the ablation study (BatchNorm, init, dropout, lr, optimizer, ...)")
    s.add_argument("--dataset", default=DEFAULTS["dataset"], choices=["fashion-mnist", "mnist"])
    s.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    s.add_argument("--subset", type=int, default=DEFAULTS["subset"], help="training images (0 = all)")
    s.add_argument("--seeds", type=int, default=DEFAULTS["seeds"], help="number of seeds (0..S-1)")
    s.add_argument("--out", default="runs/study")
    s.add_argument("--only", default=None, help="comma-separated variant names")
    s.add_argument("--config", default=None, help="a JSON grid like cnn_ext/study_variants.json")
    s.add_argument("--list", action="store_true", help="list the variants and exit")
    common(s)

    def cmd(args):
        import sys
        from .cli import _setup
        _setup(args)
        if args.list:
            for v in load_config(args.config):
                print(v["name"])
            return 0
        run_study(args.out, args.dataset, args.epochs, args.subset or None, args.seeds,
                  args.only.split(",") if args.only else None, args.config, args.data_root,
                  command="cnn-ext " + " ".join(sys.argv[1:]))
        return 0
    s.set_defaults(func=cmd)
