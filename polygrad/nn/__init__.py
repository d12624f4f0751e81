"""Neural-network building blocks with PyTorch's interface, on any backend.

    import polygrad as pg
    model = pg.nn.Sequential(pg.nn.Linear(64, 32), pg.nn.ReLU(), pg.nn.Linear(32, 10))
    loss = pg.nn.CrossEntropyLoss()(model(x), labels)

The computations live in `polygrad.functional`; these modules hold the
parameters and buffers, and move them between backends and devices.
"""


from . import init, parallel
from .activation import (
    CELU, ELU, GELU, GLU, SELU, Hardshrink, Hardsigmoid, Hardswish, Hardtanh, LogSigmoid, Mish, PReLU, ReLU6, SiLU,
    Softmin, Softplus, Softshrink, Softsign, Tanhshrink, Threshold,
)
from .conv import (
    AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool1d, AvgPool2d, CircularPad1d, CircularPad2d,
    ConstantPad1d, ConstantPad2d, Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, Identity, MaxPool1d, MaxPool2d,
    MaxUnpool2d, ReflectionPad1d, ReflectionPad2d, ReplicationPad1d, ReplicationPad2d, Unflatten, Upsample, ZeroPad2d,
)
from .layers import (
    AlphaDropout, BatchNorm1d, BatchNorm2d, BatchNorm3d, Bilinear, CosineSimilarity, Dropout, Dropout1d, Dropout2d,
    Dropout3d, Embedding, Flatten, GroupNorm, GRUCell, InstanceNorm1d, InstanceNorm2d, LayerNorm, LeakyReLU, Linear,
    LogSoftmax, PairwiseDistance, PixelShuffle, PixelUnshuffle, ReLU, RMSNorm, RNNCell, Sigmoid, Softmax, Tanh,
)
from .losses import (
    BCELoss, BCEWithLogitsLoss, CosineEmbeddingLoss, CrossEntropyLoss, CTCLoss, GaussianNLLLoss, HuberLoss, KLDivLoss,
    L1Loss, MarginRankingLoss, MSELoss, NLLLoss, PoissonNLLLoss, SmoothL1Loss, TripletMarginLoss,
    HingeEmbeddingLoss, MultiLabelSoftMarginLoss, MultiMarginLoss, SoftMarginLoss,
)
from .more import (
    AdaptiveAvgPool3d, AdaptiveMaxPool1d, AdaptiveMaxPool3d, AvgPool3d, Conv3d, ConvTranspose3d, EmbeddingBag,
    LPPool1d, LPPool2d, LPPool3d, MaxPool3d,
)
from .module import Module, ModuleDict, ModuleList, Parameter, ParameterDict, ParameterList, Sequential
from .rnn import GRU, LSTM, RNN, LSTMCell
from .transformer import (
    MultiheadAttention, Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
    TransformerEncoderLayer,
)
from .. import functional  # noqa: E402  (pg.nn.functional is pg.functional, as torch.nn.functional)
from . import utils  # noqa: E402

__all__ = [
    "init", "parallel", "functional", "utils", "Module", "ModuleList", "ModuleDict", "Parameter", "ParameterList",
    "ParameterDict", "Sequential",
    "Linear", "Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "RMSNorm", "Dropout",
    "Embedding", "Flatten", "RNNCell", "GRUCell",
    "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax",
    "ConvTranspose1d", "ConvTranspose2d", "MaxPool1d", "AvgPool1d", "MaxUnpool2d", "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "Upsample", "ZeroPad2d", "ConstantPad1d", "ConstantPad2d",
    "ReflectionPad1d", "ReflectionPad2d", "ReplicationPad1d", "ReplicationPad2d", "CircularPad1d", "CircularPad2d",
    "RNN", "GRU", "LSTM", "LSTMCell", "MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder",
    "TransformerDecoderLayer", "TransformerDecoder", "Transformer",
    "Identity", "Unflatten", "BatchNorm3d", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d",
    "ELU", "SELU", "CELU", "Softplus", "SiLU", "Mish", "Hardtanh", "ReLU6", "Softsign", "LogSigmoid", "Hardswish",
    "Hardsigmoid", "PReLU", "Softmin", "GLU", "Threshold", "Tanhshrink", "Softshrink", "Hardshrink",
    "MSELoss", "CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss", "BCELoss", "L1Loss", "SmoothL1Loss", "HuberLoss",
    "KLDivLoss", "PoissonNLLLoss", "GaussianNLLLoss", "CosineEmbeddingLoss", "MarginRankingLoss", "TripletMarginLoss",
    "CTCLoss", "HingeEmbeddingLoss", "SoftMarginLoss", "MultiLabelSoftMarginLoss", "MultiMarginLoss",
    "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "CosineSimilarity", "PairwiseDistance", "PixelShuffle",
    "PixelUnshuffle", "Bilinear",
    "Conv3d", "ConvTranspose3d", "MaxPool3d", "AvgPool3d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
    "AdaptiveMaxPool3d", "LPPool1d", "LPPool2d", "LPPool3d", "EmbeddingBag",
]
