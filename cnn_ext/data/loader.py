"""Mini-batches of (images, labels), with normalization, padding and augmentation.

Images come in as (N, H, W) or (N, C, H, W) of any real dtype; batches go out as float32
(B, C, H, W) — uint8 pixels are scaled to [0, 1] — and int64 labels (B,).
"""
import numpy as np

from .._random import resolve

FASHION_MNIST_MEAN, FASHION_MNIST_STD = 0.2860, 0.3530
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def to_float_images(images):
    """(N, H, W) or (N, C, H, W) -> float32 (N, C, H, W); uint8 scaled by 1/255."""
    x = np.asarray(images)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"images must be a numeric array; got dtype {x.dtype}")
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise ValueError(f"images must be (N, H, W) or (N, C, H, W); got shape {x.shape}")
    if x.dtype == np.uint8:
        return x.astype(np.float32) * np.float32(1 / 255)
    return x.astype(np.float32, copy=False)


class Normalize:
    """(x - mean) / std, per channel when mean/std are sequences."""

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, np.float32).reshape(1, -1, 1, 1)
        self.std = np.asarray(std, np.float32).reshape(1, -1, 1, 1)
        if np.any(self.std <= 0):
            raise ValueError(f"Normalize: std must be > 0; got {std}")

    def __call__(self, x, rng=None):
        return (x - self.mean) / self.std

    def get_config(self):
        return {"Normalize": [self.mean.ravel().tolist(), self.std.ravel().tolist()]}


class Pad:
    """Zero-pad H and W by `padding` on each side (e.g. 28x28 -> 32x32 for LeNet-5 with 2)."""

    def __init__(self, padding, value=0.0):
        self.padding, self.value = int(padding), float(value)

    def __call__(self, x, rng=None):
        p = self.padding
        return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=self.value)


class RandomCrop:
    """Pad by `padding`, then crop a random size x size window per image."""

    def __init__(self, size, padding=0):
        self.size, self.padding = int(size), int(padding)

    def __call__(self, x, rng=None):
        rng = resolve(rng)
        p, s = self.padding, self.size
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
        N, C, H, W = xp.shape
        if s > H or s > W:
            raise ValueError(f"RandomCrop: size {s} is larger than the padded image {H}x{W}")
        oy = rng.integers(0, H - s + 1, N)
        ox = rng.integers(0, W - s + 1, N)
        rows = oy[:, None] + np.arange(s)[None, :]             # (N, s)
        cols = ox[:, None] + np.arange(s)[None, :]             # (N, s)
        n = np.arange(N)[:, None, None, None]
        c = np.arange(C)[None, :, None, None]
        return np.ascontiguousarray(xp[n, c, rows[:, None, :, None], cols[:, None, None, :]])


class RandomHorizontalFlip:
    def __init__(self, p=0.5):
        self.p = float(p)

    def __call__(self, x, rng=None):
        flip = resolve(rng).random(len(x)) < self.p
        out = x.copy()
        out[flip] = x[flip, :, :, ::-1]
        return out


class Compose:
    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x, rng=None):
        for t in self.transforms:
            x = t(x, rng)
        return x


class DataLoader:
    """Iterate over (images, labels) in batches.

    images: (N, H, W) or (N, C, H, W); labels: (N,) integers. shuffle reorders each epoch
    with a generator derived from (seed, epoch), so epoch k's order is reproducible (and
    resumable) on its own. transform(x, rng) is applied to each float32 batch.
    """

    def __init__(self, images, labels, batch_size=64, shuffle=False, drop_last=False, seed=None,
                 transform=None):
        images = np.asarray(images)
        labels = np.asarray(labels)
        if labels.dtype.kind not in "iu":
            raise TypeError(f"DataLoader: labels must be integers; got dtype {labels.dtype}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(f"DataLoader: labels must have shape ({len(images)},) to match images "
                             f"{images.shape}; got {labels.shape}")
        if images.ndim not in (3, 4):
            raise ValueError(f"DataLoader: images must be (N, H, W) or (N, C, H, W); got {images.shape}")
        if len(images) == 0:
            raise ValueError("DataLoader: no images")
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int; got {batch_size!r}")
        self.images, self.labels = images, labels.astype(np.int64)
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), bool(shuffle), bool(drop_last)
        self.seed = seed if seed is not None else int(resolve(None).integers(2 ** 31))
        self.transform = transform
        self.epoch = 0

    def __len__(self):
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_samples(self):
        return len(self) * self.batch_size if self.drop_last else len(self.labels)

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        n = len(self.labels)
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        for i in range(len(self)):
            sel = order[i * self.batch_size:(i + 1) * self.batch_size]
            if self.shuffle:
                sel = np.sort(sel)  # gather in memory order; the set is what was drawn
            x = to_float_images(self.images[sel])
            if self.transform is not None:
                x = self.transform(x, rng)
            yield np.ascontiguousarray(x, dtype=np.float32), self.labels[sel]
        self.epoch += 1
