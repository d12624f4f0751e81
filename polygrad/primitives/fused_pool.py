"""Average pooling and transposed convolution, one fused primitive each (as fused.conv and fused.max_pool).

The rules here are the portable definition (windows, col2im and GEMMs, in any namespace, so grad of
grad works); a backend's kernels (`kernel_avg_pool`, `kernel_avg_pool_vjp`, `kernel_conv_transpose`,
`kernel_conv_transpose_vjp_input`, `kernel_conv_transpose_vjp_weight`) may run instead on raw arrays.

What each saves for backward: nothing beyond its inputs. avg_pool's backward reads only x's shape
(its divisor is made again from it); conv_transpose's reads x and the weight, as conv's does.
"""

from .fused import PORTABLE, _conv, _conv_adjoint, _conv_grad_weight
from .table import defprim
from .table import kernel_or as _run


def _padded(xp, x, widths):
    """x with zeros before and after its trailing len(widths) axes, widths[i] = (before, after)."""
    if not any(b or a for b, a in widths):
        return x
    first = x.ndim - len(widths)
    shape = tuple(x.shape[:first]) + tuple(m + b + a for m, (b, a) in zip(x.shape[first:], widths))
    key = (slice(None),) * first + tuple(slice(b, b + m) for m, (b, _) in zip(x.shape[first:], widths))
    return xp.scatter_slice(x, key=key, shape=shape)


def _cropped(x, widths):
    """x less `widths` (before, after) entries on its trailing len(widths) axes: _padded's adjoint."""
    first = x.ndim - len(widths)
    return x[(slice(None),) * first + tuple(slice(b, m - a) for m, (b, a) in zip(x.shape[first:], widths))]


# ---------------------------------------------------------------- average pooling
# Over x padded with zeros by widths (the composite sizes them: `padding` before and after, plus
# what ceil_mode's last window runs past). Each window's sum is divided by divisor_override, or by
# how many entries it covers: of x only, or of x and the `padding` with count_include_pad (never
# of ceil_mode's extra), as PyTorch's.
def _unit(n):
    return (1,) * n


def _divisor(xp, x, kernel, stride, widths, count_include_pad):
    """How many entries each window averages, shaped (1, 1, *out) (one plane of x stands for all)."""
    n = len(kernel)
    plane = x[tuple(slice(0, min(1, m)) for m in x.shape[:x.ndim - n]) + (Ellipsis,)]  # empty for an empty batch
    if count_include_pad:
        inside = xp.ones_like(_padded(xp, plane, [(b, b) for b, _ in widths]))
        counted = _padded(xp, inside, [(0, a - b) for b, a in widths])
    else:
        counted = _padded(xp, xp.ones_like(plane), widths)
    cols = xp.windows(counted, kernel=kernel, stride=stride, dilation=_unit(n))
    return xp.sum(cols, axis=tuple(range(cols.ndim - n, cols.ndim)))


def _avg_pool(xp, x, kernel, stride, widths, count_include_pad, divisor_override):
    n = len(kernel)
    cols = xp.windows(_padded(xp, x, widths), kernel=kernel, stride=stride, dilation=_unit(n))
    total = xp.sum(cols, axis=tuple(range(cols.ndim - n, cols.ndim)))
    return total / (divisor_override or _divisor(xp, x, kernel, stride, widths, count_include_pad))


def _avg_pool_vjp(xp, g, x, kernel, stride, widths, count_include_pad, divisor_override):
    """Each window's share of g spread over its entries (col2im of the broadcast shares), the padding cropped."""
    n = len(kernel)
    share = g / (divisor_override or _divisor(xp, x, kernel, stride, widths, count_include_pad))
    cols = xp.broadcast_to(xp.reshape(share, tuple(share.shape) + _unit(n)), tuple(share.shape) + tuple(kernel))
    first = x.ndim - n
    shape = tuple(x.shape[:first]) + tuple(m + b + a for m, (b, a) in zip(x.shape[first:], widths))
    return _cropped(xp.col2im(cols, shape=shape, kernel=kernel, stride=stride, dilation=_unit(n)), widths)


defprim("avg_pool", lambda xp, x, *, kernel, stride, widths, count_include_pad, divisor_override:
        _run(xp, "avg_pool", _avg_pool, x, kernel, stride, widths, count_include_pad, divisor_override),
        vjp=[lambda xp, g, out, x, kernel, stride, widths, count_include_pad, divisor_override:
             _run(xp, "avg_pool_vjp", _avg_pool_vjp, g, x, kernel, stride, widths, count_include_pad,
                  divisor_override)],
        jvp=[lambda xp, t, out, x, kernel, stride, widths, count_include_pad, divisor_override:  # linear
             _avg_pool(xp, t, kernel, stride, widths, count_include_pad, divisor_override)],
        doc="Window means of x zero-padded by widths ((before, after) per trailing axis) over its last len(kernel) "
            "axes: each sum divided by divisor_override, or by the entries of x it covers (with count_include_pad, "
            "of the `before` padding on both sides too), as PyTorch's avg_pool; saves nothing beyond x.",
        fresh=True)
PORTABLE["avg_pool"] = (_avg_pool, _avg_pool_vjp)


# ---------------------------------------------------------------- transposed convolution
# x (N, C_in, *in) with weight (C_in, C_out/groups, *kernel): conv's adjoint in its input (the weight
# read as conv's (out, in/groups, *kernel)) onto the full size (in - 1) stride + dilation (kernel - 1)
# + 1 + output_padding, cropped by `padding` on both sides, plus bias (C_out,). Its gradients are
# convolutions of g, spread back onto the entries the windows reach.
def _reach(x, weight, stride, dilation):
    """How far the windows of the full output reach along each spatial axis (all but output_padding)."""
    return tuple((m - 1) * s + d * (k - 1) + 1
                 for m, k, s, d in zip(x.shape[2:], weight.shape[2:], stride, dilation, strict=True))


def _conv_transpose(xp, x, weight, bias, stride, padding, output_padding, dilation, groups):
    n = weight.ndim - 2
    full = tuple(r + o for r, o in zip(_reach(x, weight, stride, dilation), output_padding))
    shape = (x.shape[0], weight.shape[1] * groups) + full
    y = _cropped(_conv_adjoint(xp, x, shape, weight, stride, dilation, groups), [(p, p) for p in padding])
    return y if bias is None else y + xp.reshape(bias, (-1,) + _unit(n))


def _spread(xp, g, x, weight, stride, padding, dilation):
    """g put back on the full output at offset `padding`, keeping only the entries the windows reach."""
    widths, keep = [], []
    for out, r, p in zip(g.shape[2:], _reach(x, weight, stride, dilation), padding):
        kept = max(0, min(out, r - p))  # entries past the reach (output_padding's) take no part
        before = min(p, r)
        widths.append((before, r - before - kept))
        keep.append(kept)
    return _padded(xp, g[(slice(None), slice(None)) + tuple(slice(0, k) for k in keep)], widths)


def _conv_transpose_grad_input(xp, g, x, weight, stride, padding, output_padding, dilation, groups):
    return _conv(xp, _spread(xp, g, x, weight, stride, padding, dilation), weight, None, stride, dilation, groups)


def _conv_transpose_grad_weight(xp, g, x, weight, stride, padding, output_padding, dilation, groups):
    return _conv_grad_weight(xp, x, _spread(xp, g, x, weight, stride, padding, dilation), weight, stride, dilation,
                             groups)


def _bias_grad(xp, g):
    return xp.sum(g, axis=(0,) + tuple(range(2, g.ndim)))


def _conv_transpose_vjp_portable(xp, g, x, weight, bias, *options):
    """All three gradients (the tests' reference); the rules below ask only for those needed."""
    return [_conv_transpose_grad_input(xp, g, x, weight, *options),
            _conv_transpose_grad_weight(xp, g, x, weight, *options), _bias_grad(xp, g)]


def _ordered(options):
    """The rules' keyword options in the portable functions' order."""
    return tuple(options[k] for k in ("stride", "padding", "output_padding", "dilation", "groups"))


def _conv_transpose_jvp(xp, tangents, out, x, weight, bias, **options):
    t_x, t_weight, t_bias = tangents  # affine: linear in x and weight, plus the bias
    options = _ordered(options)
    return (_conv_transpose(xp, t_x, weight, t_bias, *options)
            + _conv_transpose(xp, x, t_weight, None, *options))


defprim("conv_transpose", lambda xp, x, weight, bias, *, stride, padding, output_padding, dilation, groups:
        _run(xp, "conv_transpose", _conv_transpose, x, weight, bias, stride, padding, output_padding, dilation,
             groups),
        vjp=[lambda xp, g, out, x, weight, bias, **options:  # one rule per input, as conv's
             _run(xp, "conv_transpose_vjp_input", _conv_transpose_grad_input, g, x, weight, *_ordered(options)),
             lambda xp, g, out, x, weight, bias, **options:
             _run(xp, "conv_transpose_vjp_weight", _conv_transpose_grad_weight, g, x, weight, *_ordered(options)),
             lambda xp, g, out, x, weight, bias, **options: _bias_grad(xp, g)],
        jvp=_conv_transpose_jvp,
        doc="Transposed convolution of x (N, C_in, *spatial) with weight (C_in, C_out/groups, *kernel), plus bias "
            "(C_out,), as PyTorch's conv_transpose: conv's adjoint in its input, cropped by padding, output_padding "
            "added after; options stride, padding, output_padding, dilation, groups; saves nothing beyond its inputs.",
        fresh=True)
PORTABLE["conv_transpose"] = (_conv_transpose, _conv_transpose_vjp_portable)


# ---------------------------------------------------------------- adaptive average pooling
# PyTorch's adaptive windows: output i of an axis of size m averages [floor(i m / out), ceil((i + 1) m / out)).
# One averaging matmul per trailing axis (a window is a box, its mean the mean of its rows' means); the
# backward is the same matrices transposed, in any order.
def _adaptive_matrix(xp, size, count, like):
    """The (count, size) averaging matrix of one axis, in like's dtype and device."""
    values = [0.0] * (count * size)
    for i in range(count):
        start, stop = (i * size) // count, -(-((i + 1) * size) // count)
        values[i * size + start:i * size + stop] = [1.0 / (stop - start)] * (stop - start)
    return xp.reshape(xp.asarray(values, dtype=like.dtype, device=like.device), (count, size))  # (0, size) too


def _along(xp, x, matrix, axis):
    """x contracted with matrix (out, in) along `axis`: one matmul."""
    return xp.moveaxis(xp.matmul(xp.moveaxis(x, axis, -1), xp.matrix_transpose(matrix)), -1, axis)


def _adaptive_avg_pool(xp, x, output_size):
    for axis, count in enumerate(output_size, start=x.ndim - len(output_size)):
        x = _along(xp, x, _adaptive_matrix(xp, x.shape[axis], count, x), axis)
    return x


def _adaptive_avg_pool_vjp(xp, g, x, output_size):
    for axis, count in enumerate(output_size, start=x.ndim - len(output_size)):
        g = _along(xp, g, xp.matrix_transpose(_adaptive_matrix(xp, x.shape[axis], count, g)), axis)
    return g


defprim("adaptive_avg_pool", lambda xp, x, *, output_size:
        _run(xp, "adaptive_avg_pool", _adaptive_avg_pool, x, output_size),
        vjp=[lambda xp, g, out, x, output_size:
             _run(xp, "adaptive_avg_pool_vjp", _adaptive_avg_pool_vjp, g, x, output_size)],
        jvp=[lambda xp, t, out, x, output_size: _adaptive_avg_pool(xp, t, output_size)],  # linear
        doc="Means over PyTorch's adaptive windows of x's last len(output_size) axes, output_size of them per "
            "axis; saves nothing beyond x (its shape: the backward makes the averaging matrices again).",
        fresh=True)
PORTABLE["adaptive_avg_pool"] = (_adaptive_avg_pool, _adaptive_avg_pool_vjp)
