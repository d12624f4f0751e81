"""More of PyTorch's windowed functions: 3-d convolution and pooling, adaptive max pooling with indices,
power-average (LP) pooling, and embedding bags.

Each is polygrad/functional/convolution.py's n-dimensional machinery at another n, or a
composition of polygrad's functions, so gradients come with them on every backend.
"""

import itertools
import math

from ..namespace import ops
from .convolution import (
    _adaptive_avg, _adaptive_bounds, _adaptive_max_separable, _avg_pool, _batched, _conv, _conv_transpose, _max_pool,
    _output_size, _tuple, _unbatched,
)
from ..namespace.ops import asarray
from ..namespace.creation import zeros
from ..core.errors import ShapeError, describe
from ..core.tensor import Tensor


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """Cross-correlation of (N, C, D, H, W) or (C, D, H, W) with weight (out, C/groups, kd, kh, kw), as PyTorch's."""
    return _conv("conv3d", input, weight, bias, stride, padding, dilation, groups, 3, padding_mode)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed convolution of (N, C_in, D, H, W) with weight (C_in, C_out/groups, kd, kh, kw), as PyTorch's."""
    return _conv_transpose("conv_transpose3d", input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 3)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Window maxima of (N, C, D, H, W); with return_indices, each one's index into the flattened D*H*W."""
    return _max_pool("max_pool3d", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 3)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Window means of (N, C, D, H, W), as PyTorch's avg_pool3d."""
    return _avg_pool("avg_pool3d", input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, 3)


def adaptive_avg_pool3d(input, output_size):
    return _adaptive_avg("adaptive_avg_pool3d", input, output_size, 3)


def _adaptive_max(name, input, output_size, return_indices, n):
    """Maxima over PyTorch's adaptive windows; with return_indices, each one's index into the flattened
    spatial axes (the first maximum in the window, as PyTorch), found one window at a time."""
    if not return_indices:
        return _adaptive_max_separable(name, input, output_size, n)
    x, squeeze = _batched(name, input, n)
    sizes = tuple(x.shape[2:])
    out = _output_size(output_size, sizes, n)
    bounds = [_adaptive_bounds(size, count) for size, count in zip(sizes, out)]
    values, indices = [], []
    for window in itertools.product(*bounds):
        part = x[(slice(None), slice(None)) + tuple(slice(a, b) for a, b in window)]
        flat = ops.reshape(part, tuple(x.shape[:2]) + (-1,))
        values.append(ops.max(flat, axis=-1))
        where, index = ops.argmax(flat.detach(), axis=-1), 0
        for axis, (a, b) in enumerate(window):  # the window's flat position -> the input's
            inner = math.prod(hi - lo for lo, hi in window[axis + 1:])
            index = index * sizes[axis] + a + (where // inner) % (b - a)
        indices.append(index)
    shape = tuple(x.shape[:2]) + out
    y = ops.reshape(ops.stack(values, axis=-1), shape)
    return _unbatched(y, squeeze), _unbatched(ops.reshape(ops.stack(indices, axis=-1), shape), squeeze)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    return _adaptive_max("adaptive_max_pool1d", input, output_size, return_indices, 1)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Maxima over PyTorch's adaptive windows; with return_indices, also their indices into the flattened H*W."""
    return _adaptive_max("adaptive_max_pool2d", input, output_size, return_indices, 2)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    return _adaptive_max("adaptive_max_pool3d", input, output_size, return_indices, 3)


def _lp_pool(name, x, norm_type, kernel_size, stride, ceil_mode, n):
    """PyTorch's power-average pooling: (sum over the window of x**p) ** (1/p)."""
    kernel = _tuple(kernel_size, n, "kernel_size")
    mean = _avg_pool(name, x ** norm_type, kernel, stride, 0, ceil_mode, True, None, n)
    return (ops.sign(mean) * ops.relu(ops.abs(mean)) * math.prod(kernel)) ** (1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool("lp_pool1d", input, norm_type, kernel_size, stride, ceil_mode, 1)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool("lp_pool2d", input, norm_type, kernel_size, stride, ceil_mode, 2)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool("lp_pool3d", input, norm_type, kernel_size, stride, ceil_mode, 3)


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False, mode="mean",
                  sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """Sums, means or maxima of bags of embedding rows, as PyTorch's F.embedding_bag.

    input (B, N) holds B bags of N indices; a 1-D input is cut into bags at `offsets`.
    Indices equal to padding_idx are left out (an empty bag gives zeros).
    """
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"embedding_bag: mode must be 'sum', 'mean' or 'max', got {mode!r}")
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding_bag: max_norm, scale_grad_by_freq and sparse are not supported")
    if per_sample_weights is not None and mode != "sum":
        raise ValueError("embedding_bag: per_sample_weights needs mode='sum', as in PyTorch")
    index = input if isinstance(input, Tensor) else asarray(input, device=weight.device)
    if index.ndim == 2:
        if offsets is not None:
            raise ValueError("embedding_bag: offsets go with a 1-D input only")
        starts = list(range(0, index.size, index.shape[1])) if index.shape[1] else [0] * index.shape[0]
        weights = None if per_sample_weights is None else ops.reshape(per_sample_weights, (-1,))
        index = ops.reshape(index, (-1,))
    elif index.ndim == 1 and offsets is not None:
        starts = [int(v) for v in (offsets.tolist() if isinstance(offsets, Tensor) else offsets)]
        if include_last_offset:
            starts = starts[:-1]
        weights = per_sample_weights
    else:
        raise ShapeError(f"embedding_bag: expects a 2-D input, or a 1-D input with offsets; got {describe(index)}")
    ends = starts[1:] + [index.shape[0]]
    bag = [b for b, (start, end) in enumerate(zip(starts, ends)) for _ in range(start, end)]
    keep = index != padding_idx if padding_idx is not None else None
    rows = ops.take(weight, index, axis=0)
    if weights is not None:
        rows = rows * ops.expand_dims(weights, axis=1)
    bags = len(starts)
    if mode == "max":
        parts = []
        for start, end in zip(starts, ends):
            chosen = [i for i in range(start, end) if keep is None or bool(keep[i])]
            parts.append(ops.max(ops.take(rows, asarray(chosen, dtype="int64", device=weight.device), axis=0), axis=0)
                         if chosen else zeros((weight.shape[1],), dtype=weight.dtype, device=weight.device))
        return ops.stack(parts, axis=0) if parts else zeros((0, weight.shape[1]), dtype=weight.dtype,
                                                             device=weight.device)
    if keep is not None:
        rows = rows * ops.expand_dims(ops.astype(keep, rows.dtype), axis=1)
    bag_index = asarray(bag, dtype="int64", device=weight.device)
    total = zeros((bags, weight.shape[1]), dtype=rows.dtype, device=weight.device).index_add(0, bag_index, rows)
    if mode == "sum":
        return total
    ones = ops.astype(keep, rows.dtype) if keep is not None else ops.ones_like(index, dtype=rows.dtype)
    counts = zeros((bags,), dtype=rows.dtype, device=weight.device).index_add(0, bag_index, ones)
    return total / ops.expand_dims(ops.maximum(counts, 1.0), axis=1)
