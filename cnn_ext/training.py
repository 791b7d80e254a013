"""Training loop: fit(), evaluate(), predict(), with per-epoch checkpoints and exact resume.

fit() returns a History (a dict of per-epoch lists: epoch, train_loss, train_acc,
test_loss, test_acc, seconds, images_per_s, lr) whose .stopped says why it ended early
("diverged" or "interrupted"), or None.
"""
import math
import os
import signal
import threading
import time

import numpy as np

from . import _random
from .nn import CrossEntropyLoss, Sequential
from .serialization import load_checkpoint, save_checkpoint

CHECKPOINT_NAME = "checkpoint.npz"
HISTORY_KEYS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds",
                "images_per_s", "lr")


class History(dict):
    def __init__(self, data=None):
        super().__init__({k: [] for k in HISTORY_KEYS})
        if data:
            for k, v in data.items():
                self[k] = list(v)
        self.stopped = None
        self.message = ""

    def best(self, key="test_acc"):
        vals = [v for v in self.get(key, []) if v is not None]
        return max(vals) if vals else None


def predict(model, images, batch_size=512):
    """Logits (N, num_classes) for float32 images (N, C, H, W), in eval mode, in batches."""
    was = model.training
    model.eval()
    try:
        outs = [model(images[i:i + batch_size]) for i in range(0, len(images), batch_size)]
    finally:
        model.train(was)
    return np.concatenate(outs)


def evaluate(model, loader, loss=None):
    """(mean loss, accuracy, predicted labels, true labels) over a DataLoader, eval mode."""
    loss = loss or CrossEntropyLoss()
    was = model.training
    model.eval()
    total, correct, loss_sum, preds, trues = 0, 0, 0.0, [], []
    try:
        for x, y in loader:
            logits = model(x)
            loss_sum += loss(logits, y) * len(y)
            p = logits.argmax(axis=1)
            correct += int((p == y).sum())
            total += len(y)
            preds.append(p)
            trues.append(y)
    finally:
        model.train(was)
    return loss_sum / total, correct / total, np.concatenate(preds), np.concatenate(trues)


class _Interrupt:
    """Turns the first Ctrl-C into a flag checked between steps (main thread only)."""

    def __init__(self, enabled):
        self.flag = False
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self._old = None

    def __enter__(self):
        if self.enabled:
            self._old = signal.getsignal(signal.SIGINT)

            def handler(signum, frame):
                if self.flag:  # second Ctrl-C: give up at once
                    signal.signal(signal.SIGINT, self._old)
                    raise KeyboardInterrupt
                self.flag = True
            signal.signal(signal.SIGINT, handler)
        return self

    def __exit__(self, *exc):
        if self.enabled:
            signal.signal(signal.SIGINT, self._old)
        return False


def _progress(total, desc, enabled):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="batch", leave=True, dynamic_ncols=True)


def fit(model, train, test=None, optimizer=None, loss=None, epochs=1, scheduler=None,
        checkpoint_dir=None, resume=False, progress=True, log=print, handle_sigint=True,
        max_steps_per_epoch=None, on_epoch_end=None):
    """Train model on the DataLoader `train` for `epochs` epochs; evaluate on `test`.

    checkpoint_dir: write checkpoint.npz there after every epoch (and on Ctrl-C);
    resume=True continues from it exactly (same batches, same dropout draws).
    Stops early, keeping the last good checkpoint, when the loss becomes NaN/inf.
    on_epoch_end(epoch, history) is called after each epoch's checkpoint.
    """
    from .optim import Adam
    loss = loss or CrossEntropyLoss()
    optimizer = optimizer or Adam(model.parameters())
    history = History()
    start_epoch, start_step, partial = 0, 0, None
    ckpt = os.path.join(checkpoint_dir, CHECKPOINT_NAME) if checkpoint_dir else None
    if resume:
        if not ckpt or not os.path.exists(ckpt):
            raise FileNotFoundError(f"fit: resume=True but there is no checkpoint at {ckpt}")
        state = load_checkpoint(ckpt, model, optimizer, scheduler)
        history = History(state["history"])
        start_epoch = state["epoch"]
        extra = state["extra"]
        if extra.get("rng_state"):
            _random.default_generator().bit_generator.state = extra["rng_state"]
        start_step = int(extra.get("epoch_step", 0))
        partial = extra.get("partial")
        log(f"resumed from {ckpt}: {start_epoch} epochs done"
            + (f", {start_step} steps into epoch {start_epoch + 1}" if start_step else ""))

    def checkpoint(epoch, epoch_step=0, partial_sums=None):
        if ckpt:
            save_checkpoint(ckpt, model, optimizer, scheduler, dict(history), epoch,
                            extra={"rng_state": _random.default_generator().bit_generator.state,
                                   "epoch_step": epoch_step, "partial": partial_sums})

    model.train()
    with _Interrupt(handle_sigint) as intr:
        for epoch in range(start_epoch, epochs):
            train.set_epoch(epoch)
            t0 = time.perf_counter()
            n_seen, loss_sum, correct = 0, 0.0, 0
            if partial and start_step:
                n_seen, loss_sum, correct = partial["n"], partial["loss_sum"], partial["correct"]
                t0 -= partial.get("seconds", 0.0)
            steps = len(train) if max_steps_per_epoch is None else min(len(train), max_steps_per_epoch)
            bar = _progress(steps, f"epoch {epoch + 1}/{epochs}", progress)
            if bar is not None and start_step:
                bar.update(start_step)
            diverged = False
            step = 0
            for step, (x, y) in enumerate(train, start=0):
                if step >= steps:
                    break
                if step < start_step:
                    continue
                logits = model(x)
                value = loss(logits, y)
                if not math.isfinite(value):
                    diverged = True
                    break
                model.zero_grad()
                if isinstance(model, Sequential):
                    model.backward(loss.backward(), input_grad=False)  # images need no gradient
                else:
                    model.backward(loss.backward())
                optimizer.step()
                n_seen += len(y)
                loss_sum += value * len(y)
                correct += int((logits.argmax(axis=1) == y).sum())
                if bar is not None:
                    el = time.perf_counter() - t0
                    bar.set_postfix(loss=f"{loss_sum / n_seen:.4f}", img_s=f"{n_seen / max(el, 1e-9):.0f}")
                    bar.update(1)
                if intr.flag:
                    if bar is not None:
                        bar.close()
                    checkpoint(epoch, step + 1, {"n": n_seen, "loss_sum": loss_sum, "correct": correct,
                                                 "seconds": time.perf_counter() - t0})
                    history.stopped = "interrupted"
                    history.message = (f"interrupted in epoch {epoch + 1} after step {step + 1}; "
                                       + (f"checkpoint saved to {ckpt}; resume with --resume "
                                          f"(fit(..., resume=True))" if ckpt else "no checkpoint_dir, nothing saved"))
                    log(history.message)
                    return history
            start_step, partial = 0, None
            if bar is not None:
                bar.close()
            if diverged:
                history.stopped = "diverged"
                history.message = (f"loss became {value} in epoch {epoch + 1} step {step + 1}; "
                                   "stopping" + (f"; the last good checkpoint is {ckpt}" if ckpt and
                                                 os.path.exists(ckpt) else "")
                                   + ". Try a smaller learning rate.")
                log(history.message)
                return history
            seconds = time.perf_counter() - t0
            lr = optimizer.param_groups[0]["lr"]
            if scheduler is not None:
                scheduler.step()
            test_loss = test_acc = None
            if test is not None:
                test_loss, test_acc, _, _ = evaluate(model, test, loss)
            for k, v in zip(HISTORY_KEYS, (epoch + 1, loss_sum / max(n_seen, 1), correct / max(n_seen, 1),
                                           test_loss, test_acc, seconds, n_seen / seconds, lr)):
                history[k].append(v)
            line = (f"epoch {epoch + 1:>3}/{epochs}  train loss {loss_sum / max(n_seen, 1):.4f} "
                    f"acc {correct / max(n_seen, 1):.4f}")
            if test is not None:
                line += f"  test loss {test_loss:.4f} acc {test_acc:.4f}"
            line += f"  {seconds:.1f}s  {n_seen / seconds:.0f} img/s"
            log(line)
            checkpoint(epoch + 1)
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, history)
    return history
