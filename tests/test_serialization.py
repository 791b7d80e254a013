"""save/load and checkpoints: round trips, atomic writes, hostile and corrupt files."""
import io
import os
import signal
import zipfile

import numpy as np
import pytest

import cnn_ext
from cnn_ext import nn, optim
from conftest import run_python


def test_save_load_round_trip(tmp_path):
    cnn_ext.manual_seed(0)
    for model in (cnn_ext.fashion_cnn(), cnn_ext.lenet5(batch_norm=True, dropout=0.2),
                  cnn_ext.models.from_spec("conv8k5p2-bn-relu-avgpool-fc16-relu-fc3")):
        shape = (2, 1, 32, 32) if isinstance(model[0], nn.Conv2d) and model[0].kernel_size == (5, 5) and model[0].out_channels == 6 else (2, 1, 28, 28)
        x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
        model(x)  # builds lazy layers and moves BN running stats
        model.eval()
        p = tmp_path / "m.npz"
        cnn_ext.save(model, p)
        back = cnn_ext.load(p)
        back.eval()
        np.testing.assert_array_equal(back(x), model(x))
        assert repr(back) == repr(model)


def test_checkpoint_round_trip_with_optimizer(tmp_path):
    m = cnn_ext.fashion_cnn()
    opt = optim.Adam(m.parameters(), 1e-3)
    sched = optim.lr_scheduler.StepLR(opt, 1, 0.5)
    crit = nn.CrossEntropyLoss()
    x = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32)
    crit(m(x), np.arange(4))
    m.backward(crit.backward())
    opt.step()
    sched.step()
    cnn_ext.save_checkpoint(tmp_path / "c.npz", m, opt, sched, {"epoch": [1]}, epoch=1)
    m2 = cnn_ext.fashion_cnn()
    opt2 = optim.Adam(m2.parameters(), 1e-3)
    sched2 = optim.lr_scheduler.StepLR(opt2, 1, 0.5)
    st = cnn_ext.load_checkpoint(tmp_path / "c.npz", m2, opt2, sched2)
    assert st["epoch"] == 1 and st["history"] == {"epoch": [1]}
    assert opt2.param_groups[0]["lr"] == 0.5e-3 and sched2.last_epoch == 1
    for a, b in zip(opt.state.values(), opt2.state.values()):
        np.testing.assert_array_equal(a["exp_avg"], b["exp_avg"])
        assert a["step"] == b["step"]
    with pytest.raises(ValueError, match="checkpoint optimizer is Adam, not SGD"):
        cnn_ext.load_checkpoint(tmp_path / "c.npz", cnn_ext.fashion_cnn(), optim.SGD(m2.parameters(), 0.1))


def test_hostile_and_corrupt_files(tmp_path):
    m = cnn_ext.lenet5()
    good = tmp_path / "good.npz"
    cnn_ext.save(m, good)
    # pickled objects inside
    pick = tmp_path / "pickle.npz"
    np.savez(pick, __meta__=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickle"):
        cnn_ext.load(pick)
    # a foreign npz
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.zeros(3))
    with pytest.raises(ValueError, match="not a cnn_ext file"):
        cnn_ext.load(foreign)
    # truncated
    trunc = tmp_path / "trunc.npz"
    trunc.write_bytes(good.read_bytes()[:-200])
    with pytest.raises(ValueError, match="trunc.npz"):
        cnn_ext.load(trunc)
    # flipped byte in a weight (zip CRC catches it)
    raw = bytearray(good.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as z:
        info = z.getinfo("a:model.0.weight.npy")
    raw[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF
    flipped = tmp_path / "flipped.npz"
    flipped.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="flipped.npz"):
        cnn_ext.load(flipped)
    # not a zip at all
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"hello")
    with pytest.raises(ValueError, match="junk.npz"):
        cnn_ext.load(junk)
    # weights that do not fit the architecture
    arch_bad = tmp_path / "arch.npz"
    with np.load(good) as z:
        d = {k: z[k] for k in z.files}
    d["a:model.0.weight"] = np.zeros((7, 1, 5, 5), np.float32)
    np.savez(arch_bad, **d)
    with pytest.raises(ValueError, match="weights do not match the saved architecture"):
        cnn_ext.load(arch_bad)
    # an unknown layer type in the architecture
    import json
    meta = json.loads(bytes(d["__meta__"]).decode())
    meta["architecture"]["layers"][0]["type"] = "os.system"
    d["__meta__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(arch_bad, **d)
    with pytest.raises(ValueError, match="unknown layer type"):
        cnn_ext.load(arch_bad)


KILLER = r"""
import os, sys, numpy as np, cnn_ext
path = sys.argv[1]
m = cnn_ext.fashion_cnn()
print("ready", flush=True)
i = 0
while True:
    for p in m.parameters():
        p.data[...] = i
    cnn_ext.save(m, path)
    i += 1
"""


@pytest.mark.slow
def test_sigkill_during_save_never_corrupts(tmp_path):
    """Kill a child that saves in a loop, many times: the file always loads and is whole."""
    import subprocess
    import sys
    import time
    path = tmp_path / "model.npz"
    m = cnn_ext.fashion_cnn()
    for p in m.parameters():
        p.data[...] = -1
    cnn_ext.save(m, path)
    rng = np.random.default_rng(0)
    for trial in range(12):
        proc = subprocess.Popen([sys.executable, "-c", KILLER, str(path)], stdout=subprocess.PIPE,
                                cwd=str(tmp_path))
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(float(rng.uniform(0.05, 0.4)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        back = cnn_ext.load(path)
        vals = {float(p.data.flat[0]) for p in back.parameters()}
        assert len(vals) == 1, f"trial {trial}: a mix of two saves {vals}"
        for p in back.parameters():
            assert np.all(p.data == p.data.flat[0])
    leftovers = [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    assert len(leftovers) <= 12  # temp files of killed writers never replace the real file
