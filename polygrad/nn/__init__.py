"""Neural-network building blocks with PyTorch's interface, on any backend.

    import polygrad as pg
    model = pg.nn.Sequential(pg.nn.Linear(64, 32), pg.nn.ReLU(), pg.nn.Linear(32, 10))
    loss = pg.nn.CrossEntropyLoss()(model(x), labels)

The computations live in `polygrad.functional`; these modules hold the
parameters and buffers, and move them between backends and devices.
"""

from . import init, parallel
from .layers import (
    GELU, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv1d, Conv2d, Dropout, Embedding, Flatten, GRUCell, LayerNorm,
    LeakyReLU, Linear, LogSoftmax, MaxPool2d, ReLU, RNNCell, Sigmoid, Softmax, Tanh,
)
from .losses import (
    BCELoss, BCEWithLogitsLoss, CosineEmbeddingLoss, CrossEntropyLoss, CTCLoss, GaussianNLLLoss, HuberLoss, KLDivLoss,
    L1Loss, MarginRankingLoss, MSELoss, NLLLoss, PoissonNLLLoss, SmoothL1Loss, TripletMarginLoss,
)
from .module import Module, ModuleList, Parameter, Sequential

__all__ = [
    "init", "parallel", "Module", "ModuleList", "Parameter", "Sequential",
    "Linear", "Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Dropout",
    "Embedding", "Flatten", "RNNCell", "GRUCell",
    "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax",
    "MSELoss", "CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss", "BCELoss", "L1Loss", "SmoothL1Loss", "HuberLoss",
    "KLDivLoss", "PoissonNLLLoss", "GaussianNLLLoss", "CosineEmbeddingLoss", "MarginRankingLoss", "TripletMarginLoss",
    "CTCLoss",
]
