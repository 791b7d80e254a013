"""MNIST and Fashion-MNIST: found on disk (Debian's dataset-fashion-mnist included) or
downloaded from the official mirrors with verified checksums.

load_*(root=None) -> (x_train, y_train), (x_test, y_test) as Keras returns them: uint8
images (N, 28, 28) and uint8 labels (N,).
"""
import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request

from .idx import read_idx

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

# Per file: SHA-256 of the decompressed content (None where unknown), MD5 of the .gz as
# the official mirrors serve it, decompressed size in bytes.
DATASETS = {
    "mnist": {
        "mirrors": ["https://ossci-datasets.s3.amazonaws.com/mnist/",
                    "https://storage.googleapis.com/cvdf-datasets/mnist/",
                    "http://yann.lecun.com/exdb/mnist/"],
        "system_dirs": [],
        "files": {
            "train-images-idx3-ubyte": (None, "f68b3c2dcbeaaa9fbdd348bbdeb94873", 47040016),
            "train-labels-idx1-ubyte": (None, "d53e105ee54ea40749a09fcbcd1e9432", 60008),
            "t10k-images-idx3-ubyte": (
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                "9fb629c4189551a2d022fa330f9573f3", 7840016),
            "t10k-labels-idx1-ubyte": (
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
                "ec29112dd5afa0611ce80d1b7f02629c", 10008),
        },
    },
    "fashion-mnist": {
        "mirrors": ["https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
                    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        "system_dirs": ["/usr/share/datasets/fashion-mnist"],
        "files": {
            "train-images-idx3-ubyte": (
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                "8d4fb7e6c68d591d4c3dfef9ec88bf0d", 47040016),
            "train-labels-idx1-ubyte": (
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                "25c81989df183df01b3e8a0aad5dffbe", 60008),
            "t10k-images-idx3-ubyte": (
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                "bef4ecab320f06d8554ea6380940ec79", 7840016),
            "t10k-labels-idx1-ubyte": (
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
                "bb300cfdad3c16e7a12a480ee83cd310", 10008),
        },
    },
}

CLASS_NAMES = {
    "mnist": [str(i) for i in range(10)],
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"],
}


class DatasetNotFound(FileNotFoundError):
    pass


class ChecksumError(ValueError):
    pass


def cache_dir(name):
    base = os.environ.get("CNN_EXT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "cnn_ext")
    return os.path.join(base, name)


def _find(directory, stem):
    for cand in (stem + ".gz", stem):
        p = os.path.join(directory, cand)
        if os.path.isfile(p):
            return p
    return None


def _complete(directory):
    return directory and all(_find(directory, f) for f in FILES)


def _digests(path):
    """(sha256 of the decompressed content, md5 of the file as stored, decompressed size)."""
    md5 = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            md5.update(block)
    sha, size = hashlib.sha256(), 0
    with open(path, "rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open(path, "rb") if gz else open(path, "rb")) as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                sha.update(block)
                size += len(block)
    except (OSError, EOFError) as exc:
        raise ChecksumError(f"{path}: corrupt compressed data ({exc})") from None
    return sha.hexdigest(), md5.hexdigest(), size


def verify(path, expected):
    """Raise ChecksumError unless the file matches expected = (sha256, md5_gz, size)."""
    sha_want, md5_want, size_want = expected
    sha, md5, size = _digests(path)
    if size != size_want:
        raise ChecksumError(f"{path}: decompressed size {size} bytes, expected {size_want}")
    if sha_want is not None:
        if sha != sha_want:
            raise ChecksumError(f"{path}: SHA-256 of the decompressed content is {sha}, expected {sha_want}")
    elif md5 != md5_want:
        raise ChecksumError(f"{path}: MD5 of the compressed file is {md5}, expected {md5_want}")


def _fetch(url, dest_dir, stem, expected, timeout):
    """Download url into dest_dir/stem.gz through a temp file; verify; rename."""
    os.makedirs(dest_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=".part", dir=dest_dir)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            got = 0
            for block in iter(lambda: resp.read(1 << 20), b""):
                out.write(block)
                got += len(block)
            if length is not None and got != int(length):
                raise ChecksumError(f"{url}: connection closed after {got} of {length} bytes")
            out.flush()
            os.fsync(out.fileno())
        try:
            verify(tmp, expected)
        except ChecksumError as exc:
            raise ChecksumError(f"checksum mismatch for {stem} served by {url}: {exc}") from None
        final = os.path.join(dest_dir, stem + ".gz")
        os.replace(tmp, final)
        return final
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def download(name, root=None, mirrors=None, timeout=60, log=print):
    """Download the four files of `name` into root (default: the cache dir), trying each
    mirror in turn; every file is checksum-verified before it is renamed into place."""
    spec = DATASETS[name]
    root = root or cache_dir(name)
    errors = []
    for stem in FILES:
        if _find(root, stem):
            continue
        for base in (mirrors or spec["mirrors"]):
            url = base + stem + ".gz"
            try:
                if log:
                    log(f"downloading {url}")
                _fetch(url, root, stem, spec["files"][stem], timeout)
                break
            except (urllib.error.URLError, OSError, ChecksumError, ValueError) as exc:
                errors.append(f"{url}: {exc}")
        else:
            raise DatasetNotFound(
                f"could not download {name} file {stem}:\n  " + "\n  ".join(errors) +
                f"\n{_where_message(name, root)}")
    return root


def _where_message(name, root):
    places = [p for p in ([root] if root else []) + DATASETS[name]["system_dirs"] + [cache_dir(name)]]
    msg = (f"Put the four IDX files ({', '.join(f + '.gz' for f in FILES)}) in one of: "
           + ", ".join(places))
    if name == "fashion-mnist":
        msg += "; on Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist"
    return msg


def locate(name, root=None, download_missing=True, mirrors=None):
    """Directory holding the four files: root, the system dirs, the cache, else download."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    for d in ([root] if root else []) + DATASETS[name]["system_dirs"] + [cache_dir(name)]:
        if _complete(d):
            return d
    if not download_missing:
        raise DatasetNotFound(f"{name} not found. {_where_message(name, root)}")
    return download(name, root or cache_dir(name), mirrors=mirrors)


def _load(name, root, download_missing=True, mirrors=None):
    d = locate(name, root, download_missing, mirrors)
    arrays = [read_idx(_find(d, f)) for f in FILES]
    (xtr, ytr, xte, yte) = arrays
    for x, y, split in ((xtr, ytr, "train"), (xte, yte, "test")):
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"{name} in {d}: {split} images {x.shape} and labels {y.shape} do not "
                             "match (expected (N, H, W) and (N,))")
    return (xtr, ytr), (xte, yte)


def load_mnist(root=None, download=True):
    """MNIST: ((x_train, y_train), (x_test, y_test)), uint8 (N, 28, 28) images."""
    return _load("mnist", root, download)


def load_fashion_mnist(root=None, download=True):
    """Fashion-MNIST: ((x_train, y_train), (x_test, y_test)), uint8 (N, 28, 28) images."""
    return _load("fashion-mnist", root, download)


def load_dataset(name, root=None, download=True):
    return _load(name, root, download)
