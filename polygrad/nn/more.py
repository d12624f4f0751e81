"""3-d convolution and pooling, more adaptive and power-average pooling, and EmbeddingBag, with
PyTorch's arguments, defaults and initialisation (the functions are in polygrad/functional/convolution_more.py)."""

from .. import functional as F
from ..core.engine import no_grad
from . import init
from .conv import AdaptiveMaxPool2d, AvgPool2d, _Adaptive, _ConvNd, _ConvTransposeNd, _MaxPool
from .layers import _parameter
from .module import Module


class Conv3d(_ConvNd):
    """3-D cross-correlation over (N, C, D, H, W) or (C, D, H, W) inputs."""

    _dims = 3

    def forward(self, x):
        return F.conv3d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups,
                        self.padding_mode)


class ConvTranspose3d(_ConvTransposeNd):
    """Transposed 3-D convolution (the gradient of Conv3d in its input); weight (in, out/groups, kd, kh, kw)."""

    _dims = 3
    _function = staticmethod(F.conv_transpose3d)


class MaxPool3d(_MaxPool):
    _function = staticmethod(F.max_pool3d)


class AvgPool3d(AvgPool2d):
    def forward(self, x):
        return F.avg_pool3d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                            self.divisor_override)


class AdaptiveAvgPool3d(_Adaptive):
    _function = staticmethod(F.adaptive_avg_pool3d)


class AdaptiveMaxPool1d(AdaptiveMaxPool2d):
    _function = staticmethod(F.adaptive_max_pool1d)


class AdaptiveMaxPool3d(AdaptiveMaxPool2d):
    _function = staticmethod(F.adaptive_max_pool3d)


class _LPPool(Module):
    _function = None

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        super().__init__()
        self.norm_type, self.kernel_size, self.stride, self.ceil_mode = norm_type, kernel_size, stride, ceil_mode

    def forward(self, x):
        return self._function(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)

    def extra_repr(self):
        return f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}"


class LPPool1d(_LPPool):
    _function = staticmethod(F.lp_pool1d)


class LPPool2d(_LPPool):
    _function = staticmethod(F.lp_pool2d)


class LPPool3d(_LPPool):
    _function = staticmethod(F.lp_pool3d)


class EmbeddingBag(Module):
    """Sums, means or maxima of bags of embedding vectors; weights start N(0, 1), as in PyTorch."""

    def __init__(self, num_embeddings, embedding_dim, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                 mode="mean", sparse=False, _weight=None, include_last_offset=False, padding_idx=None, *,
                 device=None, backend=None, dtype=None):
        super().__init__()
        factory = {"device": device, "backend": backend, "dtype": dtype}
        self.num_embeddings, self.embedding_dim, self.mode = num_embeddings, embedding_dim, mode
        self.max_norm, self.norm_type, self.scale_grad_by_freq, self.sparse = max_norm, norm_type, scale_grad_by_freq, sparse
        self.include_last_offset = include_last_offset
        if padding_idx is not None and not -num_embeddings <= padding_idx < num_embeddings:
            raise ValueError(f"EmbeddingBag: padding_idx {padding_idx} is outside [-{num_embeddings}, {num_embeddings})")
        self.padding_idx = None if padding_idx is None else padding_idx % num_embeddings
        self.weight = init.normal_(_parameter((num_embeddings, embedding_dim), factory))
        if self.padding_idx is not None:
            with no_grad():  # the padding row starts at zeros, as in PyTorch
                self.weight[self.padding_idx, ...] = 0.0

    def forward(self, input, offsets=None, per_sample_weights=None):
        return F.embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type, self.scale_grad_by_freq,
                               self.mode, self.sparse, per_sample_weights, self.include_last_offset, self.padding_idx)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}, mode={self.mode!r}"
