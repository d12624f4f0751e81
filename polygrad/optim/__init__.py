"""`pg.optim`, as `torch.optim`: optimizers, `lr_scheduler` (a module, as PyTorch's) and gradient clipping."""

from . import lr_scheduler  # noqa: F401  (pg.optim.lr_scheduler)
from .clip import clip_grad_norm_
from .lr_scheduler import (
    ChainedScheduler, ConstantLR, CosineAnnealingLR, CosineAnnealingWarmRestarts, CyclicLR, ExponentialLR, LambdaLR,
    LinearLR, LRScheduler, MultiplicativeLR, MultiStepLR, OneCycleLR, PolynomialLR, ReduceLROnPlateau, SequentialLR,
    StepLR,
)
from .optimizers import (
    ASGD, LBFGS, SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, NAdam, Optimizer, RAdam, RMSprop, Rprop,
)

__all__ = [
    "Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "Rprop", "ASGD", "LBFGS",
    "LRScheduler", "LambdaLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR", "ExponentialLR", "PolynomialLR",
    "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "OneCycleLR", "CyclicLR", "MultiplicativeLR",
    "SequentialLR", "ChainedScheduler", "ReduceLROnPlateau", "clip_grad_norm_",
]
