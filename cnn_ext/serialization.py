"""Saving and loading models and training checkpoints as .npz files.

One file holds the architecture (JSON), the weights and buffers, and, for checkpoints,
optimizer/scheduler state and the training history. Writes go to a temp file in the same
directory, are fsynced and renamed over the target, so a crash mid-write leaves the
previous file intact. Reads use allow_pickle=False and check every key and shape.
"""
import io
import json
import os
import tempfile
import zipfile

import numpy as np

from .models import from_architecture, get_architecture

FORMAT = "cnn_ext/1"
_META = "__meta__"


def atomic_write_bytes(path, data):
    """Write bytes to path atomically (temp file + fsync + rename)."""
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        try:
            dfd = os.open(d, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _to_jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _pack(meta, arrays):
    buf = io.BytesIO()
    payload = {f"a:{k}": np.asarray(v, order="C") for k, v in arrays.items()}
    payload[_META] = np.frombuffer(json.dumps(_to_jsonable(meta)).encode(), dtype=np.uint8)
    np.savez(buf, **payload)
    return buf.getvalue()


def _unpack(path):
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            names = list(z.files)
            if _META not in names:
                raise ValueError(f"{path}: not a cnn_ext file (no {_META} entry; found {names[:5]})")
            arrays = {k[2:]: z[k] for k in names if k.startswith("a:")}
            meta = json.loads(bytes(z[_META]).decode())
    except ValueError as exc:
        msg = str(exc)
        if "pickle" in msg.lower() or "object arrays" in msg.lower():
            raise ValueError(f"{path}: refuses to load pickled objects (allow_pickle=False)") from None
        if msg.startswith(path):
            raise
        raise ValueError(f"{path}: corrupt or not a cnn_ext file ({msg})") from None
    except FileNotFoundError:
        raise
    except (OSError, zipfile.BadZipFile, EOFError, KeyError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: corrupt or truncated file ({type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path}: unsupported format {meta.get('format') if isinstance(meta, dict) else meta!r}; "
                         f"expected {FORMAT}")
    return meta, arrays


def _model_arrays(model):
    return {f"model.{k}": v for k, v in model.state_dict().items()}


def save(model, path, extra=None):
    """Write model (architecture + weights + buffers) to path (.npz) atomically."""
    meta = {"format": FORMAT, "kind": "model", "architecture": get_architecture(model),
            "extra": extra or {}}
    atomic_write_bytes(path, _pack(meta, _model_arrays(model)))


def _rebuild(path, meta, arrays):
    try:
        model = from_architecture(meta["architecture"])
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path}: bad architecture: {exc}") from None
    state = {k[6:]: v for k, v in arrays.items() if k.startswith("model.")}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"{path}: weights do not match the saved architecture: {exc}") from None
    return model


def load(path):
    """Rebuild the model saved by save() (or the model inside a checkpoint)."""
    meta, arrays = _unpack(path)
    return _rebuild(path, meta, arrays)


def save_checkpoint(path, model, optimizer=None, scheduler=None, history=None, epoch=0, extra=None):
    """Atomically write model, optimizer and scheduler state, history and epoch to path."""
    arrays = _model_arrays(model)
    opt_meta = None
    if optimizer is not None:
        sd = optimizer.state_dict()
        opt_state = {}
        for i, s in sd["state"].items():
            opt_state[str(i)] = {}
            for k, v in s.items():
                if isinstance(v, np.ndarray):
                    arrays[f"optim.{i}.{k}"] = v
                    opt_state[str(i)][k] = "__array__"
                else:
                    opt_state[str(i)][k] = v
        opt_meta = {"type": type(optimizer).__name__, "param_groups": sd["param_groups"],
                    "state": opt_state, "step_count": sd["step_count"]}
    meta = {"format": FORMAT, "kind": "checkpoint", "architecture": get_architecture(model),
            "optimizer": opt_meta,
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "history": history or {}, "epoch": int(epoch), "extra": extra or {}}
    atomic_write_bytes(path, _pack(meta, arrays))


def load_checkpoint(path, model=None, optimizer=None, scheduler=None):
    """Read a checkpoint; fill model/optimizer/scheduler when given (model rebuilt if None).

    Returns dict(model=..., epoch=..., history=..., extra=...).
    """
    meta, arrays = _unpack(path)
    if meta.get("kind") != "checkpoint":
        raise ValueError(f"{path}: not a training checkpoint (kind={meta.get('kind')!r})")
    if model is None:
        model = _rebuild(path, meta, arrays)
    else:
        if get_architecture(model) != meta["architecture"]:
            raise ValueError(f"{path}: checkpoint architecture differs from the model's")
        model.load_state_dict({k[6:]: v for k, v in arrays.items() if k.startswith("model.")})
    if optimizer is not None:
        om = meta.get("optimizer")
        if om is None:
            raise ValueError(f"{path}: checkpoint holds no optimizer state")
        if om["type"] != type(optimizer).__name__:
            raise ValueError(f"{path}: checkpoint optimizer is {om['type']}, not {type(optimizer).__name__}")
        state = {}
        for i, s in om["state"].items():
            state[int(i)] = {k: (arrays[f"optim.{i}.{k}"] if v == "__array__" else v) for k, v in s.items()}
        groups = [dict(g, betas=tuple(g["betas"])) if "betas" in g else g for g in om["param_groups"]]
        optimizer.load_state_dict({"state": state, "param_groups": groups, "step_count": om["step_count"]})
    if scheduler is not None and meta.get("scheduler") is not None:
        scheduler.load_state_dict(meta["scheduler"])
    return {"model": model, "epoch": meta["epoch"], "history": meta["history"], "extra": meta["extra"]}
