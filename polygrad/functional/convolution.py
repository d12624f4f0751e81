"""Convolution, pooling, padding and resampling, as PyTorch's functional forms (exported by polygrad.functional).

Every windowed op reads its input through the `windows` primitive: a view of
every window without copies where the backend has strided views (NumPy, CuPy,
PyTorch), strided slices elsewhere; its gradient is `col2im`, a sum of strided
slices. A convolution is then one matmul forward and one per gradient; a pooling
one reduction. Inputs are (N, C, *spatial), or (C, *spatial) unbatched.
"""

import math
import operator

from ..namespace import ops
from ..primitives import fused
from ..namespace.ops import asarray
from ..namespace.creation import full
from ..core.engine import no_grad
from ..core.placement import get_default_dtype
from ..core.errors import ShapeError, describe
from ..core.tensor import Tensor


# ---------------------------------------------------------------- arguments
def _is_int(value):
    """An integer, including NumPy's and other libraries' integer scalars, but not a bool."""
    if isinstance(value, bool):
        return False
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def _tuple(value, n, name):
    """`value` as n ints: an int is repeated, a sequence must hold n ints. Strings are refused."""
    if isinstance(value, str):
        raise ValueError(f"{name}={value!r} is not supported; pass integers (an int or {n} ints)")
    if _is_int(value):
        return (int(value),) * n
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(f"{name}: expected an int or {n} ints, got {value!r}") from None
    if len(items) != n or not all(_is_int(v) for v in items):
        raise ValueError(f"{name}: expected an int or {n} ints, got {value!r}")
    return tuple(int(v) for v in items)


def _batched(name, x, n):
    """x with a batch axis, and whether it was added (PyTorch takes unbatched (C, *spatial) inputs)."""
    if x.ndim == n + 1:
        return ops.expand_dims(x, axis=0), True
    if x.ndim != n + 2:
        raise ShapeError(f"{name}: expected an input (N, C, {n} spatial axes) or (C, {n} spatial axes), "
                         f"got {describe(x)}")
    return x, False


def _unbatched(y, squeeze):
    return ops.squeeze(y, axis=0) if squeeze else y


def _check_fit(name, x, kernel, dilation):
    """A clear error when the kernel does not fit x's trailing len(kernel) axes."""
    for size, k, d in zip(x.shape[x.ndim - len(kernel):], kernel, dilation, strict=True):
        if d * (k - 1) + 1 > size:
            raise ShapeError(f"{name}: kernel {tuple(kernel)} with dilation {tuple(dilation)} does not fit "
                             f"the padded input {describe(x)}")


def _windows(name, x, kernel, stride, dilation):
    """windows(x) over its trailing len(kernel) axes, with a clear error when the kernel does not fit."""
    _check_fit(name, x, kernel, dilation)
    return ops.windows(x, kernel=tuple(kernel), stride=tuple(stride), dilation=tuple(dilation))


# ---------------------------------------------------------------- padding
_MODES = ("constant", "reflect", "replicate", "circular")


def _pad(x, widths, mode="constant", value=0.0):
    """x padded on its trailing len(widths) axes, widths[i] = (before, after) for axis -len(widths)+i."""
    if mode not in _MODES:
        raise ValueError(f"pad: mode must be one of {_MODES}, got {mode!r}")
    if any(w < 0 for pair in widths for w in pair):
        raise ValueError(f"pad: negative padding {widths} is not supported")
    if not any(w for pair in widths for w in pair):
        return x
    first = x.ndim - len(widths)
    if mode == "constant":
        shape = x.shape[:first] + tuple(n + a + b for n, (a, b) in zip(x.shape[first:], widths, strict=True))
        key = (slice(None),) * first + tuple(slice(a, a + n) for n, (a, _) in zip(x.shape[first:], widths))
        padded = ops.scatter_slice(x, key=key, shape=shape)
        if value == 0:
            return padded
        border = x.xp.full(shape, value, dtype=x.array.dtype, device=x.device.native)
        border[key] = 0
        return padded + Tensor._wrap(border, x.device)
    for axis, (before, after) in enumerate(widths, start=first):
        n = x.shape[axis]
        limit = n - 1 if mode == "reflect" else n
        if mode != "replicate" and max(before, after) > limit:
            raise ValueError(f"pad: {mode} padding of {(before, after)} needs at most {limit} on axis {axis} "
                             f"of {describe(x)}")
        index = [_source(i, n, mode) for i in range(-before, n + after)]
        x = ops.take(x, asarray(index, dtype="int64", device=x.device), axis=axis)
    return x


def _source(i, n, mode):
    """The input entry that padded position i (0 <= i < n inside) copies."""
    if mode == "circular":
        return i % n
    if mode == "replicate":
        return min(max(i, 0), n - 1)
    return -i if i < 0 else 2 * (n - 1) - i if i >= n else i  # reflect, the edge not repeated


def pad(input, pad, mode="constant", value=None):
    """PyTorch's F.pad: `pad` lists (before, after) pairs from the last axis backwards."""
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: expected an even number of widths for at most {input.ndim} axes, got {pad}")
    pairs = [tuple(pad[i:i + 2]) for i in range(0, len(pad), 2)][::-1]
    return _pad(input, pairs, mode, 0.0 if value is None else value)


# ---------------------------------------------------------------- convolution
def _conv_padding(name, padding, kernel, stride, dilation, n):
    """(before, after) per spatial axis; "same" puts the odd extra entry after, as PyTorch does."""
    if padding == "valid":
        return [(0, 0)] * n
    if padding == "same":
        if any(s != 1 for s in stride):
            raise ValueError(f"{name}: padding='same' needs stride 1, got stride {stride}")
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return [(t // 2, t - t // 2) for t in totals]
    if isinstance(padding, str):
        raise ValueError(f"{name}: padding must be 'same', 'valid', an int or {n} ints, got {padding!r}")
    return [(p, p) for p in _tuple(padding, n, "padding")]


def _check_groups(name, channels, weight_channels, out_channels, groups, x, weight):
    if not _is_int(groups) or groups < 1:
        raise ValueError(f"{name}: groups must be a positive int, got {groups!r}")
    if channels != weight_channels * groups:
        raise ShapeError(f"{name}: input has {channels} channels but weight {describe(weight)} with groups={groups} "
                         f"expects {weight_channels * groups} (input {describe(x)})")
    if out_channels % groups:
        raise ShapeError(f"{name}: {out_channels} output channels do not split into groups={groups}")


def _conv(name, x, weight, bias, stride, padding, dilation, groups, n, padding_mode="zeros"):
    x, squeeze = _batched(name, x, n)
    if weight.ndim != n + 2:
        raise ShapeError(f"{name}: expected weight (out, in/groups, {n} kernel axes), got {describe(weight)}")
    out_channels, group_channels = weight.shape[:2]
    _check_groups(name, x.shape[1], group_channels, out_channels, groups, x, weight)
    kernel = tuple(weight.shape[2:])
    stride, dilation = _tuple(stride, n, "stride"), _tuple(dilation, n, "dilation")
    x = _pad(x, _conv_padding(name, padding, kernel, stride, dilation, n), _padding_mode(padding_mode))
    _check_fit(name, x, kernel, dilation)
    if bias is None:
        with no_grad():
            bias = ops.zeros_like(weight[(slice(None),) + (0,) * (n + 1)])
    y = ops.conv(x, weight, bias, stride=stride, dilation=dilation, groups=groups)  # im2col + one GEMM per group
    return _unbatched(y, squeeze)


def _padding_mode(padding_mode):
    if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
        raise ValueError(f"padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', got {padding_mode!r}")
    return "constant" if padding_mode == "zeros" else padding_mode


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """Cross-correlation of input (N, C, L) or (C, L) with weight (out, C/groups, k), as PyTorch's conv1d."""
    return _conv("conv1d", input, weight, bias, stride, padding, dilation, groups, 1, padding_mode)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """Cross-correlation of input (N, C, H, W) or (C, H, W) with weight (out, C/groups, kh, kw), as PyTorch's."""
    return _conv("conv2d", input, weight, bias, stride, padding, dilation, groups, 2, padding_mode)


def _conv_transpose(name, x, weight, bias, stride, padding, output_padding, groups, dilation, n):
    """The adjoint of convolution in its input: one GEMM to columns, then col2im, then the padding cropped."""
    x, squeeze = _batched(name, x, n)
    if weight.ndim != n + 2:
        raise ShapeError(f"{name}: expected weight (in, out/groups, {n} kernel axes), got {describe(weight)}")
    in_channels, per_group = weight.shape[:2]
    _check_groups(name, x.shape[1], in_channels // groups, in_channels, groups, x, weight)
    kernel = tuple(weight.shape[2:])
    stride, dilation = _tuple(stride, n, "stride"), _tuple(dilation, n, "dilation")
    padding, output_padding = _tuple(padding, n, "padding"), _tuple(output_padding, n, "output_padding")
    if any(p >= max(s, d) for p, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(f"{name}: output_padding {output_padding} must be smaller than stride {stride} "
                         f"or dilation {dilation}")
    full_sizes = tuple((m - 1) * s + d * (k - 1) + 1 + o
                       for m, s, d, k, o in zip(x.shape[2:], stride, dilation, kernel, output_padding))
    if any(f - 2 * p < 1 for f, p in zip(full_sizes, padding)):
        raise ShapeError(f"{name}: padding {padding} leaves no output for input {describe(x)}")
    if bias is None:
        bias = full((groups * per_group,), 0.0, dtype=weight.dtype, device=weight.device)
    y = ops.conv_transpose(x, weight, bias, stride=stride, padding=padding, output_padding=output_padding,
                           dilation=dilation, groups=groups)  # one GEMM per group, col2im, the padding cropped
    return _unbatched(y, squeeze)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed convolution of (N, C_in, L) with weight (C_in, C_out/groups, k), as PyTorch's."""
    return _conv_transpose("conv_transpose1d", input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 1)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed convolution of (N, C_in, H, W) with weight (C_in, C_out/groups, kh, kw), as PyTorch's."""
    return _conv_transpose("conv_transpose2d", input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 2)


# ---------------------------------------------------------------- pooling
def _pool_geometry(name, x, kernel_size, stride, padding, dilation, ceil_mode, n, limit):
    """kernel, stride, dilation, (before, after) padding and output sizes, as PyTorch sizes a pooling.

    In ceil_mode the last window may run past the input: extra padding after covers it,
    except that a window starting inside the right padding is dropped.
    """
    kernel = _tuple(kernel_size, n, "kernel_size")
    stride = kernel if stride is None or stride == [] else _tuple(stride, n, "stride")
    padding, dilation = _tuple(padding, n, "padding"), _tuple(dilation, n, "dilation")
    for p, k, d in zip(padding, kernel, dilation):
        if 2 * p > limit(k, d):
            raise ValueError(f"{name}: padding {padding} must be at most half the kernel {kernel}")
    widths, out = [], []
    for size, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation):
        span = size + 2 * p - d * (k - 1) - 1
        if span < 0:
            raise ShapeError(f"{name}: kernel {kernel} with dilation {dilation} does not fit the padded input "
                             f"{describe(x)}")
        count = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (count - 1) * s >= size + p:
            count -= 1
        widths.append((p, p + max(0, (count - 1) * s - span)))
        out.append(count)
    return kernel, stride, dilation, widths, tuple(out)


def _max_pool(name, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, n):
    x, squeeze = _batched(name, x, n)
    kernel, stride, dilation, widths, out = _pool_geometry(
        name, x, kernel_size, stride, padding, dilation, ceil_mode, n, lambda k, d: d * (k - 1) + 1)
    padded = _pad(x, widths, value=-math.inf)
    _check_fit(name, padded, kernel, dilation)
    y = _unbatched(ops.max_pool(padded, kernel=kernel, stride=stride, dilation=dilation, saved=fused.Saved()),
                   squeeze)
    if not return_indices:
        return y
    cols = _windows(name, padded, kernel, stride, dilation)
    return y, _unbatched(_argmax_positions(x, cols, kernel, stride, dilation, widths, out), squeeze)


def _argmax_positions(x, cols, kernel, stride, dilation, widths, out):
    """Each window maximum's index into the flattened spatial axes of x (the first maximum, as PyTorch)."""
    xp, n = x.xp, len(kernel)
    data = cols.array
    flat = xp.reshape(data, tuple(data.shape[:2 + n]) + (-1,))
    tap = xp.argmax(flat, axis=-1)
    index = xp.zeros_like(tap)
    for axis in range(n):
        inner = math.prod(kernel[axis + 1:])
        offset = (tap // inner) % kernel[axis]
        shape = (1,) * (2 + axis) + (out[axis],) + (1,) * (n - axis - 1)
        start = xp.reshape(xp.arange(out[axis], dtype=tap.dtype, device=tap.device) * stride[axis], shape)
        position = start + offset * dilation[axis] - widths[axis][0]
        index = index * x.shape[2 + axis] + position
    return Tensor._wrap(index, x.device)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Window maxima of (N, C, L); padding counts as -inf. With return_indices, also their positions."""
    return _max_pool("max_pool1d", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Window maxima of (N, C, H, W); padding counts as -inf. At ties the gradient goes to the first maximum
    (in row-major window order), as in PyTorch.
    With return_indices, also each maximum's index into the flattened H*W (for max_unpool2d)."""
    return _max_pool("max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2)


def _floating(x):
    """x, integers and bools as the default float dtype: means are fractions (PyTorch's avg_pool truncates them
    to int64 instead, and its adaptive_avg_pool refuses integers)."""
    if x.dtype.kind in ("real floating", "complex floating"):
        return x
    return ops.astype(x, get_default_dtype())


def _avg_pool(name, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, n):
    x, squeeze = _batched(name, _floating(x), n)
    if divisor_override is not None and (not _is_int(divisor_override) or divisor_override == 0):
        raise ValueError(f"{name}: divisor_override must be a nonzero int or None, got {divisor_override!r}")
    kernel, stride, _, widths, _ = _pool_geometry(
        name, x, kernel_size, stride, padding, 1, ceil_mode, n, lambda k, d: k)
    y = ops.avg_pool(x, kernel=kernel, stride=stride, widths=tuple(widths), count_include_pad=bool(count_include_pad),
                     divisor_override=None if divisor_override is None else int(divisor_override))
    return _unbatched(y, squeeze)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Window means of (N, C, L), as PyTorch's avg_pool1d."""
    return _avg_pool("avg_pool1d", input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Window means of (N, C, H, W); padded zeros count in the mean unless count_include_pad=False."""
    return _avg_pool("avg_pool2d", input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, 2)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Zeros with input's values placed at `indices` (from max_pool2d's return_indices); the rest stays 0."""
    x, squeeze = _batched("max_unpool2d", input, 2)
    kernel = _tuple(kernel_size, 2, "kernel_size")
    stride = kernel if stride is None else _tuple(stride, 2, "stride")
    padding = _tuple(padding, 2, "padding")
    if output_size is None:
        size = tuple((m - 1) * s - 2 * p + k for m, s, p, k in zip(x.shape[2:], stride, padding, kernel))
    else:
        size = tuple(output_size)[-2:]
    indices = indices if isinstance(indices, Tensor) else asarray(indices, device=x.device)
    if squeeze:
        indices = ops.expand_dims(indices, axis=0)
    if tuple(indices.shape) != tuple(x.shape):
        raise ShapeError(f"max_unpool2d: indices {describe(indices)} must match the input {describe(x)}")
    planes, area = x.shape[0] * x.shape[1], math.prod(size)
    xp = x.xp
    positions = ops.checked_indices(indices, area, f"max_unpool2d (output size {size})", -1, negative=False, like=x)
    offsets = xp.reshape(xp.arange(planes, dtype=positions.dtype, device=x.device.native) * area, (-1, 1))
    flat = xp.reshape(xp.reshape(positions, (planes, -1)) + offsets, (-1,))
    y = ops.scatter_add(ops.reshape(x, (-1,)), Tensor._wrap(flat, x.device), axis=0, size=planes * area)
    return _unbatched(ops.reshape(y, tuple(x.shape[:2]) + size), squeeze)


# ---------------------------------------------------------------- adaptive pooling
def _adaptive_bounds(size, out):
    """PyTorch's adaptive windows: output i covers [floor(i*size/out), ceil((i+1)*size/out))."""
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def _along(x, matrix, axis):
    """x contracted with matrix (out, in) along `axis`: one matmul."""
    moved = ops.moveaxis(x, axis, -1)
    return ops.moveaxis(ops.matmul(moved, ops.matrix_transpose(matrix)), -1, axis)


def _matrix(rows, size, like):
    """A constant (len(rows), size) matrix in like's dtype and device, rows given as {column: weight}."""
    values = [[row.get(j, 0.0) for j in range(size)] for row in rows]
    return asarray(values, dtype=like.dtype, device=like.device)


def _adaptive_avg(name, x, output_size, n):
    x, squeeze = _batched(name, _floating(x), n)
    out = _output_size(output_size, x.shape[2:], n)
    if any(size < 0 for size in out):
        raise ValueError(f"{name}: output_size {out} must not be negative")
    y = ops.adaptive_avg_pool(x, output_size=out)  # a matmul per axis
    return _unbatched(y, squeeze)


def _output_size(output_size, sizes, n):
    """output_size as n ints; None keeps that axis's size, as in PyTorch."""
    values = (output_size,) * n if _is_int(output_size) or output_size is None else tuple(output_size)
    if len(values) != n:
        raise ValueError(f"output_size: expected an int or {n} values, got {output_size!r}")
    return tuple(int(size) if v is None else int(v) for v, size in zip(values, sizes))


def adaptive_avg_pool1d(input, output_size):
    return _adaptive_avg("adaptive_avg_pool1d", input, output_size, 1)


def adaptive_avg_pool2d(input, output_size):
    """Means over PyTorch's adaptive windows: one averaging matmul per spatial axis."""
    return _adaptive_avg("adaptive_avg_pool2d", input, output_size, 2)


def _adaptive_max_separable(name, input, output_size, n):
    """Maxima over PyTorch's adaptive windows, one axis at a time (a box's maximum is the maximum of its
    rows' maxima); convolution_more's adaptive_max_pool*d use it when no indices are asked for."""
    x, squeeze = _batched(name, input, n)
    out = _output_size(output_size, x.shape[2:], n)
    for axis, (size, count) in enumerate(zip(x.shape[2:], out), start=2):
        parts = [ops.max(x[(slice(None),) * axis + (slice(a, b),)], axis=axis, keepdims=True)
                 for a, b in _adaptive_bounds(size, count)]
        x = ops.concat(parts, axis=axis)
    return _unbatched(x, squeeze)


# ---------------------------------------------------------------- resampling
_INTERPOLATION_AXES = {"nearest": None, "nearest-exact": None, "linear": 1, "bilinear": 2, "bicubic": 2,
                       "trilinear": 3}


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """PyTorch's F.interpolate for mode 'nearest', 'nearest-exact' (any N, C, *spatial), 'linear'
    (N, C, L), 'bilinear' and 'bicubic' (N, C, H, W) and 'trilinear' (N, C, D, H, W).

    Linear and cubic modes are one interpolation matmul per spatial axis; nearest picks rows with take.
    """
    n = input.ndim - 2
    if mode not in _INTERPOLATION_AXES or _INTERPOLATION_AXES[mode] not in (None, n):
        raise ValueError(f"interpolate: mode {mode!r} does not apply to {describe(input)}; use 'nearest' or "
                         "'nearest-exact', 'linear' for (N, C, L), 'bilinear' or 'bicubic' for (N, C, H, W), "
                         "'trilinear' for (N, C, D, H, W)")
    if mode.startswith("nearest") and align_corners is not None:
        raise ValueError("interpolate: align_corners applies only to the linear modes")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    sizes = tuple(input.shape[2:])
    if size is not None:
        out = _tuple(size, n, "size")
        scales = [m / o for m, o in zip(sizes, out)]
    else:
        factors = (float(scale_factor),) * n if isinstance(scale_factor, (int, float)) else tuple(scale_factor)
        out = tuple(int(math.floor(m * f)) for m, f in zip(sizes, factors))
        scales = [1 / f for f in factors]
    x = input
    for axis, (m, o, scale) in enumerate(zip(sizes, out, scales), start=2):
        if mode.startswith("nearest"):
            shift = 0.5 if mode == "nearest-exact" else 0.0  # nearest-exact samples at pixel centres
            index = [min(int(math.floor((i + shift) * scale)), m - 1) for i in range(o)]
            x = ops.take(x, asarray(index, dtype="int64", device=x.device), axis=axis)
        else:
            row = _cubic_row if mode == "bicubic" else _linear_row
            x = _along(x, _matrix([row(i, m, o, scale, align_corners) for i in range(o)], m, x), axis)
    return x


def _cubic_row(i, size, out, scale, align_corners):
    """Output i's weights on the four input entries around its source coordinate: PyTorch's bicubic
    (Keys' cubic convolution with A = -0.75, the source not clamped, taps past the edge repeating it)."""
    source = (i * (size - 1) / (out - 1) if out > 1 else 0.0) if align_corners else (i + 0.5) * scale - 0.5
    low = math.floor(source)
    t = source - low
    a = -0.75
    near = lambda d: ((a + 2) * d - (a + 3)) * d * d + 1  # noqa: E731 (|distance| <= 1)
    far = lambda d: ((a * d - 5 * a) * d + 8 * a) * d - 4 * a  # noqa: E731 (1 < |distance| < 2)
    row = {}
    for tap, weight in zip(range(low - 1, low + 3), (far(t + 1), near(t), near(1 - t), far(2 - t))):
        column = min(max(tap, 0), size - 1)
        row[column] = row.get(column, 0.0) + weight
    return row


def _linear_row(i, size, out, scale, align_corners):
    """Output i's weights on the two input entries around its source coordinate, as PyTorch computes it."""
    if align_corners:
        source = i * (size - 1) / (out - 1) if out > 1 else 0.0
    else:
        source = max((i + 0.5) * scale - 0.5, 0.0)
    low = min(int(math.floor(source)), size - 1)
    high = min(low + 1, size - 1)
    weight = source - low
    row = {low: 1.0 - weight}
    row[high] = row.get(high, 0.0) + weight
    return row
