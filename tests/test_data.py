"""IDX reader, dataset loaders (on disk and downloaded from a 127.0.0.1 server), DataLoader."""
import contextlib
import gzip
import hashlib
import http.server
import os
import shutil
import struct
import threading

import numpy as np
import pytest

from cnn_ext import data
from cnn_ext.data import datasets

SHARED_MNIST = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist")
if not os.path.isdir(SHARED_MNIST):
    SHARED_MNIST = os.environ.get("CNN_EXT_MNIST_FIXTURE", "/work/shared/data/mnist")
FASHION = "/usr/share/datasets/fashion-mnist"


def _idx_bytes(arr, code=0x08):
    return bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def test_read_real_mnist_t10k():
    x = data.read_idx(os.path.join(SHARED_MNIST, "t10k-images-idx3-ubyte.gz"))
    y = data.read_idx(os.path.join(SHARED_MNIST, "t10k-labels-idx1-ubyte.gz"))
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (10000,) and set(np.unique(y)) == set(range(10))
    assert y[:5].tolist() == [7, 2, 1, 0, 4]  # the well-known first MNIST test labels
    assert 30 < x.mean() < 36


def test_read_idx_raw_and_dtypes(tmp_path):
    a = np.arange(24, dtype=">i4").reshape(2, 3, 4)
    (tmp_path / "a.idx").write_bytes(_idx_bytes(a, 0x0C))
    b = data.read_idx(tmp_path / "a.idx")
    assert b.dtype == np.int32 and b.dtype.byteorder in "=<|"
    np.testing.assert_array_equal(b, a)
    f = np.linspace(0, 1, 6, dtype=">f8")
    with gzip.open(tmp_path / "f.gz", "wb") as fh:
        fh.write(_idx_bytes(f, 0x0E))
    np.testing.assert_array_equal(data.read_idx(tmp_path / "f.gz"), f)


@pytest.mark.parametrize("content,match", [
    (b"\x00\x00\x08", r"truncated header"),
    (b"\x01\x02\x08\x01" + b"\x00" * 8, r"not an IDX file"),
    (b"\x00\x00\x07\x01" + b"\x00" * 8, r"not an IDX file"),
    (b"\x00\x00\x08\x09" + b"\x00" * 8, r"claims 9 dimensions"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x0a" + b"\x00" * 5, r"truncated payload .* expected 10 bytes, got 5"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x02" + b"\x00" * 5, r"trailing bytes"),
    (b"\x00\x00\x08\x03" + struct.pack(">3I", 1000000, 1000, 1000), r"header claims shape"),
])
def test_read_idx_rejects_bad_files(tmp_path, content, match):
    p = tmp_path / "bad.idx"
    p.write_bytes(content)
    with pytest.raises(ValueError, match=match) as e:
        data.read_idx(p)
    assert str(p) in str(e.value)


def test_read_idx_truncated_gzip(tmp_path):
    src = open(os.path.join(SHARED_MNIST, "t10k-labels-idx1-ubyte.gz"), "rb").read()
    p = tmp_path / "cut.gz"
    p.write_bytes(src[: len(src) // 2])
    with pytest.raises(ValueError, match="cut.gz"):
        data.read_idx(p)


@pytest.mark.skipif(not os.path.exists(FASHION) and os.environ.get("CI") != "true",
                    reason="dataset-fashion-mnist not installed (CI installs it)")
def test_load_fashion_mnist_from_debian():
    (xtr, ytr), (xte, yte) = data.load_fashion_mnist()
    assert xtr.shape == (60000, 28, 28) and xte.shape == (10000, 28, 28)
    assert xtr.dtype == np.uint8 and ytr.shape == (60000,) and yte.shape == (10000,)
    assert np.bincount(ytr).tolist() == [6000] * 10
    for stem in datasets.FILES:  # the files Debian ships match our checksums
        datasets.verify(os.path.join(FASHION, stem + ".gz"), datasets.DATASETS["fashion-mnist"]["files"][stem])


class _Handler(http.server.SimpleHTTPRequestHandler):
    mode = "ok"

    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.mode == "drop" and self.path.endswith(".gz"):
            body = open(os.path.join(self.directory, self.path.lstrip("/")), "rb").read()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        super().do_GET()


@contextlib.contextmanager
def serve(directory, mode="ok"):
    handler = type("H", (_Handler,), {"mode": mode})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                          lambda *a, **k: handler(*a, directory=str(directory), **k))
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/"
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def tiny_dataset(tmp_path, monkeypatch):
    """A registered 4-file dataset of small synthetic IDX files, served from tmp_path/srv."""
    srv = tmp_path / "srv"
    srv.mkdir()
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 255, (20, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte": rng.integers(0, 10, 20, dtype=np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 255, (8, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, 8, dtype=np.uint8)}
    files = {}
    for stem, a in arrays.items():
        raw = _idx_bytes(a)
        gz = gzip.compress(raw)
        (srv / (stem + ".gz")).write_bytes(gz)
        files[stem] = (hashlib.sha256(raw).hexdigest(), hashlib.md5(gz).hexdigest(), len(raw))
    monkeypatch.setitem(datasets.DATASETS, "tiny", {"mirrors": [], "system_dirs": [], "files": files})
    monkeypatch.setenv("CNN_EXT_CACHE", str(tmp_path / "cache"))
    return srv, arrays


def test_download_from_local_server(tiny_dataset, tmp_path):
    srv, arrays = tiny_dataset
    with serve(srv) as url:
        root = datasets.download("tiny", mirrors=[url], log=None)
    assert root == str(tmp_path / "cache" / "tiny")
    (xtr, ytr), (xte, yte) = datasets.load_dataset("tiny", download=False)
    np.testing.assert_array_equal(xtr, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(yte, arrays["t10k-labels-idx1-ubyte"])
    assert not [f for f in os.listdir(root) if f.endswith(".part")]


def test_download_real_mnist_t10k_from_local_server(tmp_path):
    """The real MNIST test files pass the real checksums when served by a mirror."""
    for stem in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        with serve(SHARED_MNIST) as url:
            path = datasets._fetch(url + stem + ".gz", str(tmp_path), stem,
                                   datasets.DATASETS["mnist"]["files"][stem], timeout=30)
        assert data.read_idx(path).shape[0] == 10000


def test_download_corrupt_file_is_rejected_and_removed(tiny_dataset, tmp_path):
    srv, _ = tiny_dataset
    bad = srv / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(gzip.compress(_idx_bytes(np.zeros(8, np.uint8))))  # valid IDX, wrong content
    with serve(srv) as url:
        with pytest.raises(datasets.DatasetNotFound) as e:
            datasets.download("tiny", mirrors=[url], log=None)
    msg = str(e.value)
    assert "checksum mismatch for t10k-labels-idx1-ubyte served by " + url in msg
    root = tmp_path / "cache" / "tiny"
    assert not os.path.exists(root / "t10k-labels-idx1-ubyte.gz")
    assert not [f for f in os.listdir(root) if ".part" in f]


def test_download_dropped_connection(tiny_dataset, tmp_path):
    srv, _ = tiny_dataset
    with serve(srv, mode="drop") as url:
        with pytest.raises(datasets.DatasetNotFound, match="could not download tiny"):
            datasets.download("tiny", mirrors=[url], log=None)
    root = tmp_path / "cache" / "tiny"
    assert not os.path.exists(root) or not os.listdir(root)


def test_falls_back_to_second_mirror(tiny_dataset):
    srv, arrays = tiny_dataset
    with serve(srv) as good:
        root = datasets.download("tiny", mirrors=["http://127.0.0.1:9/", good], log=None)
    assert len(os.listdir(root)) == 4


def test_offline_and_missing_gives_one_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_EXT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(datasets.DATASETS, "mnist", dict(datasets.DATASETS["mnist"], mirrors=["http://127.0.0.1:9/"]))
    with pytest.raises(datasets.DatasetNotFound) as e:
        data.load_mnist(root=str(tmp_path / "nowhere"))
    assert "Put the four IDX files" in str(e.value) and str(tmp_path / "nowhere") in str(e.value)


def test_load_mnist_from_root(tmp_path):
    """load_mnist(root) reads the files the user put there (t10k doubles as train here)."""
    for split in ("train", "t10k"):
        for kind in ("images-idx3", "labels-idx1"):
            shutil.copy(os.path.join(SHARED_MNIST, f"t10k-{kind}-ubyte.gz"), tmp_path / f"{split}-{kind}-ubyte.gz")
    (xtr, ytr), (xte, yte) = data.load_mnist(root=str(tmp_path))
    assert xtr.shape == (10000, 28, 28) and ytr.dtype == np.uint8


def test_dataloader_batches_and_shuffle():
    x = np.arange(10 * 4 * 4, dtype=np.uint8).reshape(10, 4, 4)
    y = np.arange(10)
    dl = data.DataLoader(x, y, batch_size=4, shuffle=True, seed=1)
    assert len(dl) == 3
    batches = list(dl)
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    xb, yb = batches[0]
    assert xb.shape == (4, 1, 4, 4) and xb.dtype == np.float32 and xb.max() <= 1.0
    assert sorted(np.concatenate([b[1] for b in batches]).tolist()) == list(range(10))
    np.testing.assert_allclose(xb[:, 0] * 255, x[yb], rtol=1e-6)  # labels follow their images
    dl.set_epoch(0)
    again = [b[1].tolist() for b in dl]
    assert again == [b[1].tolist() for b in batches]  # an epoch's order is reproducible
    other = [b[1].tolist() for b in dl]  # the next epoch differs
    assert other != again
    assert len(data.DataLoader(x, y, 4, drop_last=True)) == 2
    with pytest.raises(ValueError, match="labels must have shape"):
        data.DataLoader(x, y[:5])


def test_transforms():
    x = np.random.default_rng(0).random((6, 1, 28, 28)).astype(np.float32)
    assert data.Pad(2)(x).shape == (6, 1, 32, 32)
    rc = data.RandomCrop(28, padding=2)(x, np.random.default_rng(1))
    assert rc.shape == x.shape
    f = data.RandomHorizontalFlip(1.0)(x, np.random.default_rng(0))
    np.testing.assert_array_equal(f, x[..., ::-1])
    n = data.Normalize(0.5, 0.25)(x)
    np.testing.assert_allclose(n, (x - 0.5) / 0.25, rtol=1e-6)
