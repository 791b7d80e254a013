"""Data: IDX reader, MNIST / Fashion-MNIST loaders, DataLoader and batch transforms."""
from .datasets import (CLASS_NAMES, DATASETS, ChecksumError, DatasetNotFound, download, load_dataset,
                       load_fashion_mnist, load_mnist, locate, verify)
from .idx import read_idx
from .loader import (FASHION_MNIST_MEAN, FASHION_MNIST_STD, MNIST_MEAN, MNIST_STD, Compose,
                     DataLoader, Normalize, Pad, RandomCrop, RandomHorizontalFlip, to_float_images)

__all__ = ["read_idx", "load_mnist", "load_fashion_mnist", "load_dataset", "download", "locate",
           "verify", "DataLoader", "Normalize", "Pad", "RandomCrop", "RandomHorizontalFlip",
           "Compose", "to_float_images", "DatasetNotFound", "ChecksumError", "DATASETS",
           "CLASS_NAMES"]
