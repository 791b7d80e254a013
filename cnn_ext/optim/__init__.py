"""Optimizers (SGD, Adam, AdamW) and learning-rate schedulers, as torch.optim."""
from . import lr_scheduler
from .optimizers import SGD, Adam, AdamW, Optimizer

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "lr_scheduler"]
