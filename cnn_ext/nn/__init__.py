"""Layers, losses and initializers with PyTorch's names and semantics."""
from . import init
from .layers import (AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, LeakyReLU,
                     Linear, MaxPool2d, ReLU, Sigmoid, Tanh)
from .loss import CrossEntropyLoss, MSELoss
from .module import Module, Parameter, Sequential


def LazyLinear(out_features, bias=True, rng=None):
    """Linear whose in_features is inferred from the first input."""
    return Linear(None, out_features, bias=bias, rng=rng)


__all__ = ["Module", "Parameter", "Sequential", "Conv2d", "MaxPool2d", "AvgPool2d", "Linear",
           "LazyLinear", "Flatten", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "BatchNorm1d",
           "BatchNorm2d", "Dropout", "CrossEntropyLoss", "MSELoss", "init"]
