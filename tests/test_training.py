"""fit(): learning on real data, exact resume, divergence, Ctrl-C, and the CLI."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import cnn_ext
from cnn_ext import data, nn, optim
from conftest import run_python

SHARED_MNIST = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist")
if not os.path.isdir(SHARED_MNIST):
    SHARED_MNIST = "/work/shared/data/mnist"
FASHION = "/usr/share/datasets/fashion-mnist"
need_fashion = pytest.mark.skipif(not os.path.exists(FASHION) and os.environ.get("CI") != "true",
                                  reason="dataset-fashion-mnist not installed (CI installs it)")


@pytest.fixture(scope="module")
def mnist_small():
    x = data.read_idx(os.path.join(SHARED_MNIST, "t10k-images-idx3-ubyte.gz"))
    y = data.read_idx(os.path.join(SHARED_MNIST, "t10k-labels-idx1-ubyte.gz"))
    return x, y


def _loaders(x, y, n_train=512, n_test=256, batch=64, seed=0):
    norm = data.Normalize(data.MNIST_MEAN, data.MNIST_STD)
    return (data.DataLoader(x[:n_train], y[:n_train], batch, shuffle=True, seed=seed, transform=norm),
            data.DataLoader(x[-n_test:], y[-n_test:], 128, transform=norm))


@need_fashion
def test_fit_learns_fashion_mnist_smoke():
    """CI's short smoke test: 2k real images, 1 epoch, accuracy well above chance (10%)."""
    (xtr, ytr), (xte, yte) = data.load_fashion_mnist()
    norm = data.Normalize(data.FASHION_MNIST_MEAN, data.FASHION_MNIST_STD)
    tr = data.DataLoader(xtr[:2000], ytr[:2000], 64, shuffle=True, seed=0, transform=norm)
    te = data.DataLoader(xte[:1000], yte[:1000], 500, transform=norm)
    cnn_ext.manual_seed(0)
    m = cnn_ext.fashion_cnn()
    h = cnn_ext.fit(m, tr, te, optim.Adam(m.parameters(), 1e-3), epochs=1, progress=False, log=lambda s: None)
    assert h["test_acc"][0] > 0.6, h
    assert h.stopped is None and h["seconds"][0] > 0


def test_resume_is_exact(mnist_small, tmp_path):
    x, y = mnist_small
    before = cnn_ext.get_num_threads()
    cnn_ext.set_num_threads(1)
    try:
        def run(epochs, resume, out):
            cnn_ext.manual_seed(123)
            tr, te = _loaders(x, y)
            m = cnn_ext.fashion_cnn()  # has dropout: its draws must resume exactly too
            opt = optim.Adam(m.parameters(), 1e-3)
            sch = optim.lr_scheduler.CosineAnnealingLR(opt, 2)
            h = cnn_ext.fit(m, tr, te, opt, epochs=epochs, scheduler=sch, checkpoint_dir=out,
                            resume=resume, progress=False, log=lambda s: None)
            return m, h
        m_straight, h_straight = run(2, False, tmp_path / "a")
        run(1, False, tmp_path / "b")
        m_resumed, h_resumed = run(2, True, tmp_path / "b")
    finally:
        cnn_ext.set_num_threads(before)
    for (n, a), (_, b) in zip(m_straight.state_dict().items(), m_resumed.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=n)
    for k in ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr"):
        assert h_straight[k] == h_resumed[k], k


def test_divergence_stops_with_message_and_keeps_checkpoint(mnist_small, tmp_path):
    x, y = mnist_small
    loader = data.DataLoader(x[:256], y[:256], 64, transform=data.Pad(2))
    m = cnn_ext.lenet5()
    opt = optim.SGD(m.parameters(), lr=0.01)
    cnn_ext.fit(m, loader, None, opt, epochs=1, checkpoint_dir=tmp_path, progress=False, log=lambda s: None)
    good = cnn_ext.load(tmp_path / "checkpoint.npz").state_dict()
    m[0].weight.data[0, 0, 0, 0] = np.nan  # what an exploding update leaves behind
    msgs = []
    h = cnn_ext.fit(m, loader, None, opt, epochs=3, checkpoint_dir=tmp_path, progress=False,
                    log=msgs.append)
    assert h.stopped == "diverged"
    assert "loss became nan in epoch 1 step 1" in h.message and "Try a smaller learning rate" in h.message
    assert str(tmp_path / "checkpoint.npz") in h.message
    kept = cnn_ext.load(tmp_path / "checkpoint.npz").state_dict()
    for k in good:
        np.testing.assert_array_equal(good[k], kept[k])
        assert np.all(np.isfinite(kept[k]))


def test_evaluate_and_predict(mnist_small):
    x, y = mnist_small
    _, te = _loaders(x, y)
    m = cnn_ext.fashion_cnn()
    loss, acc, pred, true = cnn_ext.evaluate(m, te)
    assert pred.shape == true.shape == (256,) and 0 <= acc <= 1
    logits = cnn_ext.predict(m, data.to_float_images(x[:10]))
    assert logits.shape == (10, 10)


CLI_ARGS = ["-m", "cnn_ext", "train", "--dataset", "mnist", "--model", "fashion_cnn", "--epochs", "2",
            "--subset", "4000", "--test-subset", "500", "--no-progress", "--threads", "1"]


def test_cli_train_eval_info_summary(tmp_path, mnist_root):
    root = mnist_root
    out = tmp_path / "run"
    r = run_python(CLI_ARGS[:5] + ["--epochs", "1", "--subset", "1000", "--test-subset", "300", "--dropout", "0.3",
                                  "--no-progress", "--data-root", str(root), "--out", str(out)], timeout=600)
    assert r.returncode == 0, r.stderr
    assert "final test accuracy" in r.stdout
    for f in ("checkpoint.npz", "model.npz", "history.json", "confusion.csv"):
        assert (out / f).exists(), f
    hist = json.loads((out / "history.json").read_text())
    assert hist["history"]["epoch"] == [1]
    r = run_python(["-m", "cnn_ext", "eval", str(out / "model.npz"), "--dataset", "mnist",
                    "--data-root", str(root), "--test-subset", "300"], timeout=300)
    assert r.returncode == 0, r.stderr
    assert "accuracy" in r.stdout and "confusion matrix" in r.stdout
    r = run_python(["-m", "cnn_ext", "info"])
    assert json.loads(r.stdout)["backend"] in ("cython", "numpy")
    r = run_python(["-m", "cnn_ext", "summary", "--model", "lenet5", "--input-shape", "8,1,32,32"])
    assert "(8, 16, 5, 5)" in r.stdout and "61,706" in r.stdout
    r = run_python(["-m", "cnn_ext", "train", "--model", "conv8-bogus"], timeout=120)
    assert r.returncode == 2 and "cannot parse token" in r.stderr


@pytest.mark.slow
def test_ctrl_c_saves_checkpoint_and_says_how_to_resume(tmp_path, mnist_root):
    root = mnist_root
    out = tmp_path / "run"
    args = [sys.executable] + CLI_ARGS + ["--data-root", str(root), "--out", str(out), "--batch-size", "32"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=str(tmp_path))
    # wait until training has started, then press Ctrl-C
    line = proc.stdout.readline()
    assert line.startswith("training"), line + proc.stderr.read()
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout + stderr
    assert "interrupted in epoch" in stdout and "--resume" in stdout
    assert (out / "checkpoint.npz").exists()
    r = subprocess.run(args + ["--resume"], capture_output=True, text=True, cwd=str(tmp_path), timeout=600)
    assert r.returncode == 0, r.stderr
    assert "resumed from" in r.stdout and "final test accuracy" in r.stdout
