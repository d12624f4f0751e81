"""NumPy kernels of average pooling (polygrad/primitives/fused_pool.py): a running sum over the kernel's taps
(strided views of the padded input, as numpy_kernels.max_pool), and the backward as one strided add per tap.
Transposed convolution has none: its portable definition is already one GEMM per group and col2im."""

import numpy as np

from .numpy_kernels import _taps


def _padded(x, widths):
    first = x.ndim - len(widths)
    if not any(b or a for b, a in widths):
        return x
    out = np.zeros(x.shape[:first] + tuple(m + b + a for m, (b, a) in zip(x.shape[first:], widths)), dtype=x.dtype)
    out[(Ellipsis,) + tuple(slice(b, b + m) for m, (b, _) in zip(x.shape[first:], widths))] = x
    return out


def _divisor(x, kernel, stride, widths, count_include_pad, divisor_override):
    """Each window's divisor, (*out) broadcasting: per axis how many of its entries count, multiplied (a
    window is a box). With count_include_pad the `before` padding counts on both sides, never ceil_mode's extra."""
    if divisor_override:
        return divisor_override
    n = len(kernel)
    divisor = np.ones((1,) * n, dtype=x.dtype)
    for axis, (m, k, s, (b, a)) in enumerate(zip(x.shape[x.ndim - n:], kernel, stride, widths)):
        start = np.arange((m + b + a - k) // s + 1) * s - b
        stop = np.minimum(start + k, m + b)
        if not count_include_pad:
            start, stop = np.maximum(start, 0), np.minimum(stop, m)
        divisor = divisor * (stop - start).astype(x.dtype).reshape((-1,) + (1,) * (n - 1 - axis))
    return divisor


def avg_pool(x, kernel, stride, widths, count_include_pad, divisor_override):
    if x.dtype.kind != "f":
        return None
    padded = _padded(x, widths)
    keys = _taps(padded, kernel, stride, (1,) * len(kernel))
    out = padded[next(keys)].copy()
    for key in keys:
        out += padded[key]
    out /= _divisor(x, kernel, stride, widths, count_include_pad, divisor_override)
    return out


def avg_pool_vjp(g, x, kernel, stride, widths, count_include_pad, divisor_override):
    if g.dtype != x.dtype or x.dtype.kind != "f":
        return None
    share = g / _divisor(x, kernel, stride, widths, count_include_pad, divisor_override)
    first = x.ndim - len(kernel)
    grad = np.zeros(x.shape[:first] + tuple(m + b + a for m, (b, a) in zip(x.shape[first:], widths)), dtype=g.dtype)
    for key in _taps(grad, kernel, stride, (1,) * len(kernel)):
        grad[key] += share
    return grad[(Ellipsis,) + tuple(slice(b, b + m) for m, (b, _) in zip(x.shape[first:], widths))]


KERNELS = {"avg_pool": avg_pool, "avg_pool_vjp": avg_pool_vjp}
