"""Layers and activations, thin modules over polygrad.functional.

Layers that own parameters take `device=`, `backend=` and `dtype=` (keyword
only), like PyTorch's factory arguments, and create their parameters there.
Constructor arguments use PyTorch's names (`dim`, `start_dim`).
"""

import math

from .. import functional as F
from ..namespace import ops
from ..namespace.creation import empty, ones, zeros
from ..core.engine import no_grad
from ..core.errors import ShapeError, describe
from . import init
from .module import Module, Parameter


def _parameter(shape, factory):
    return Parameter(empty(shape, **factory))


def _default_init(weight, bias):
    """PyTorch's default for Linear and Conv: kaiming_uniform(a=sqrt(5)), bias U(-1/sqrt(fan_in), ...)."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        bound = 1 / math.sqrt(weight.size // weight.shape[0])
        init.uniform_(bias, -bound, bound)


class Linear(Module):
    """y = x W^T + b with W of shape (out_features, in_features)."""

    def __init__(self, in_features, out_features, bias=True, *, device=None, backend=None, dtype=None):
        super().__init__()
        factory = {"device": device, "backend": backend, "dtype": dtype}
        self.in_features, self.out_features = in_features, out_features
        self.weight = _parameter((out_features, in_features), factory)
        self.bias = _parameter((out_features,), factory) if bias else None
        _default_init(self.weight, self.bias)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Bilinear(Module):
    """y = x1^T W_o x2 + b_o for each output o, W of shape (out, in1, in2); weight and bias U(-1/sqrt(in1), ...)."""

    def __init__(self, in1_features, in2_features, out_features, bias=True, *, device=None, backend=None,
                 dtype=None):
        super().__init__()
        factory = {"device": device, "backend": backend, "dtype": dtype}
        self.in1_features, self.in2_features, self.out_features = in1_features, in2_features, out_features
        self.weight = _parameter((out_features, in1_features, in2_features), factory)
        self.bias = _parameter((out_features,), factory) if bias else None
        bound = 1 / math.sqrt(in1_features)
        for parameter in self.parameters():
            init.uniform_(parameter, -bound, bound)

    def forward(self, x1, x2):
        return F.bilinear(x1, x2, self.weight, self.bias)

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class _BatchNorm(Module):
    """Batch normalization with running statistics kept as buffers."""

    _ranks = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, *, device=None,
                 backend=None, dtype=None):
        super().__init__()
        factory = {"device": device, "backend": backend, "dtype": dtype}
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(ones((num_features,), **factory)) if affine else None
        self.bias = Parameter(zeros((num_features,), **factory)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", zeros((num_features,), **factory))
            self.register_buffer("running_var", ones((num_features,), **factory))
            self.register_buffer("num_batches_tracked", zeros((), dtype="int64", device=device, backend=backend))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def _factor(self):
        """This step's averaging factor: momentum, or 1/steps for momentum=None (a cumulative average)."""
        if not (self.training and self.track_running_stats):
            return 0.0
        self.num_batches_tracked.add_(1)
        return 1.0 / self.num_batches_tracked.item() if self.momentum is None else self.momentum

    def forward(self, x):
        if x.ndim not in self._ranks or x.shape[1] != self.num_features:
            raise ShapeError(f"{type(self).__name__}({self.num_features}): expected an input of rank "
                             f"{' or '.join(map(str, self._ranks))} with {self.num_features} channels on axis 1, "
                             f"got {describe(x)}")
        factor = self._factor()
        # batch statistics while training, and always without running statistics (as PyTorch)
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training or not self.track_running_stats, factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Over (N, C) or (N, C, L) inputs."""

    _ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Over (N, C, H, W) inputs."""

    _ranks = (4,)


class BatchNorm3d(_BatchNorm):
    """Over (N, C, D, H, W) inputs."""

    _ranks = (5,)


class _InstanceNorm(_BatchNorm):
    """Per-sample, per-channel normalization over the spatial axes; PyTorch's defaults
    (affine=False, track_running_stats=False). Unbatched (C, *spatial) inputs are taken too."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False, *,
                 device=None, backend=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device=device, backend=backend,
                         dtype=dtype)

    def forward(self, x):
        unbatched = x.ndim == self._ranks[0] - 1
        if unbatched:
            x = ops.expand_dims(x, axis=0)
        if x.ndim != self._ranks[0] or x.shape[1] != self.num_features:
            raise ShapeError(f"{type(self).__name__}({self.num_features}): expected an input of rank "
                             f"{self._ranks[0]} (or {self._ranks[0] - 1} unbatched) with {self.num_features} "
                             f"channels, got {describe(x)}")
        factor = self.momentum or 0.0  # PyTorch's instance norm neither counts batches nor averages cumulatively
        use_input_stats = self.training or not self.track_running_stats
        # running statistics are updated while training and tracking, and read in eval when tracking
        tracked = self.track_running_stats and (self.training or not use_input_stats)
        stats = (self.running_mean, self.running_var) if tracked else (None, None)
        y = F.instance_norm(x, *stats, self.weight, self.bias, use_input_stats, factor, self.eps)
        return ops.squeeze(y, axis=0) if unbatched else y


class InstanceNorm1d(_InstanceNorm):
    _ranks = (3,)


class InstanceNorm2d(_InstanceNorm):
    _ranks = (4,)


class GroupNorm(Module):
    """Normalization over groups of channels per sample; weight ones and bias zeros, per channel."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, *, device=None, backend=None, dtype=None):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels={num_channels} must be divisible by num_groups={num_groups}")
        factory = {"device": device, "backend": backend, "dtype": dtype}
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        self.weight = Parameter(ones((num_channels,), **factory)) if affine else None
        self.bias = Parameter(zeros((num_channels,), **factory)) if affine else None

    def forward(self, x):
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class LayerNorm(Module):
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, *, device=None, backend=None,
                 dtype=None):
        super().__init__()
        factory = {"device": device, "backend": backend, "dtype": dtype}
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps = shape, eps
        self.weight = Parameter(ones(shape, **factory)) if elementwise_affine else None
        self.bias = Parameter(zeros(shape, **factory)) if elementwise_affine and bias else None

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.weight is not None}"


class RMSNorm(Module):
    """x / sqrt(mean(x²) + eps) * weight over the trailing `normalized_shape` (F.rms_norm); eps None: the
    machine epsilon of the input's dtype, as PyTorch."""

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, *, device=None, backend=None, dtype=None):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        factory = {"device": device, "backend": backend, "dtype": dtype}
        self.weight = Parameter(ones(shape, **factory)) if elementwise_affine else None

    def forward(self, x):
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class Dropout(Module):
    """Zeroes entries with probability p while training (the rest scaled by 1/(1-p)); identity in eval."""

    _function = staticmethod(F.dropout)

    def __init__(self, p=0.5, generator=None):
        super().__init__()
        self.p, self.generator = p, generator

    def forward(self, x):
        return self._function(x, self.p, self.training, self.generator)

    def extra_repr(self):
        return f"p={self.p}"


class Dropout1d(Dropout):
    """Zeroes whole channels of (N, C, L) or (C, L) inputs while training; identity in eval."""

    _function = staticmethod(F.dropout1d)


class Dropout2d(Dropout):
    """Zeroes whole channels of (N, C, H, W) inputs while training; identity in eval."""

    _function = staticmethod(F.dropout2d)


class Dropout3d(Dropout):
    """Zeroes whole channels of (N, C, D, H, W) or (C, D, H, W) inputs while training; identity in eval."""

    _function = staticmethod(F.dropout3d)


class AlphaDropout(Dropout):
    """Dropout that keeps SELU activations at zero mean and unit variance; identity in eval."""

    _function = staticmethod(F.alpha_dropout)


class Embedding(Module):
    """A table of num_embeddings vectors, looked up by integer index; weights start N(0, 1)."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0, *,
                 device=None, backend=None, dtype=None):
        super().__init__()
        factory = {"device": device, "backend": backend, "dtype": dtype}
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        if padding_idx is not None and not -num_embeddings <= padding_idx < num_embeddings:
            raise ValueError(f"Embedding: padding_idx {padding_idx} is outside [-{num_embeddings}, {num_embeddings})")
        self.padding_idx = None if padding_idx is None else padding_idx % num_embeddings
        self.max_norm, self.norm_type = max_norm, norm_type
        self.weight = init.normal_(_parameter((num_embeddings, embedding_dim), factory))
        if self.padding_idx is not None:
            with no_grad():  # the padding row starts at zeros, as in PyTorch
                self.weight[self.padding_idx, ...] = 0.0

    def forward(self, indices):
        return F.embedding(indices, self.weight, self.padding_idx, self.max_norm, self.norm_type)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Flatten(Module):
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return ops.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class PixelShuffle(Module):
    def __init__(self, upscale_factor):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, x):
        return F.pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self):
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    def __init__(self, downscale_factor):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, x):
        return F.pixel_unshuffle(x, self.downscale_factor)

    def extra_repr(self):
        return f"downscale_factor={self.downscale_factor}"


# ---------------------------------------------------------------- distances
class CosineSimilarity(Module):
    def __init__(self, dim=1, eps=1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        return F.cosine_similarity(x1, x2, self.dim, self.eps)

    def extra_repr(self):
        return f"dim={self.dim}, eps={self.eps}"


class PairwiseDistance(Module):
    def __init__(self, p=2.0, eps=1e-6, keepdim=False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim  # `norm`: PyTorch's attribute name for p

    def forward(self, x1, x2):
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)

    def extra_repr(self):
        return f"p={self.norm}, eps={self.eps}, keepdim={self.keepdim}"


# ---------------------------------------------------------------- recurrent cells
class _Cell(Module):
    """Input and hidden projections for `_gates` gates, initialised U(-1/sqrt(H), 1/sqrt(H)) as in PyTorch."""

    _gates = 1

    def __init__(self, input_size, hidden_size, bias=True, *, device=None, backend=None, dtype=None):
        super().__init__()
        factory = {"device": device, "backend": backend, "dtype": dtype}
        self.input_size, self.hidden_size = input_size, hidden_size
        rows = self._gates * hidden_size
        self.weight_ih = _parameter((rows, input_size), factory)
        self.weight_hh = _parameter((rows, hidden_size), factory)
        self.bias_ih = _parameter((rows,), factory) if bias else None
        self.bias_hh = _parameter((rows,), factory) if bias else None
        bound = 1 / math.sqrt(hidden_size)
        for parameter in self.parameters():
            init.uniform_(parameter, -bound, bound)

    def forward(self, x, h=None):
        if h is None:
            h = zeros(x.shape[:-1] + (self.hidden_size,), dtype=x.dtype, device=x.device)
        return self._step(x, h)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}"


class RNNCell(_Cell):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu); h defaults to zeros."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", *, device=None, backend=None,
                 dtype=None):
        super().__init__(input_size, hidden_size, bias, device=device, backend=backend, dtype=dtype)
        self.nonlinearity = nonlinearity

    def _step(self, x, h):
        return F.rnn_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.nonlinearity)


class GRUCell(_Cell):
    """A gated recurrent unit step, as PyTorch's (see polygrad.functional.gru_cell); h defaults to zeros."""

    _gates = 3

    def _step(self, x, h):
        return F.gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


# ---------------------------------------------------------------- activations
class ReLU(Module):
    """`inplace=True` is accepted, as by every activation module (polygrad.nn.activation): the result is the
    same, computed out of place."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class _OverAxis(Module):
    _function = None

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return self._function(x, axis=self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmax(_OverAxis):
    _function = staticmethod(F.softmax)


class LogSoftmax(_OverAxis):
    _function = staticmethod(F.log_softmax)
