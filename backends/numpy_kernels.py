"""NumPy kernels for polygrad's fused primitives (polygrad/fused.py): plain NumPy, in place where it saves passes.

Each returns None for inputs it has no fast path for, and the portable definition runs.
"""

import itertools
import math

import numpy as np

from .base import tap_key, window_counts

# Numerical Recipes' Chebyshev fit of erfc (erfcc): erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z/2),
# z >= 0, with relative error below 1.2e-7 everywhere: float32's own precision, in both tails.
_ERFC = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
         0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277)
_SQRT_HALF = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def _normal_cdf32(x):
    """Phi(x) = erfc(-x / sqrt 2) / 2 for float32 x: accurate to float32 precision in both tails,
    where 1 + erf(x / sqrt 2) loses the negative one. About 25 passes, against ~300 for the portable erf."""
    z = x * np.float32(-_SQRT_HALF)
    a = np.abs(z)
    t = a * np.float32(0.5)
    t += 1
    np.reciprocal(t, out=t)
    p = t * np.float32(_ERFC[-1])
    for c in _ERFC[-2:0:-1]:
        p += c
        p *= t
    p += _ERFC[0]
    a *= a
    p -= a
    np.exp(p, out=p)
    p *= t  # erfc(|z|)
    p *= 0.5
    return np.where(z >= 0, p, 1 - p)


def gelu(x, approximate):
    if x.dtype != np.float32 or approximate != "none":
        return None
    return x * _normal_cdf32(x)


def gelu_vjp(g, x, approximate):
    if x.dtype != np.float32 or approximate != "none":
        return None
    slope = np.exp(x * x * np.float32(-0.5))
    slope *= np.float32(_INV_SQRT_2PI)
    slope *= x
    slope += _normal_cdf32(x)
    slope *= g
    return slope


def _taps(x, kernel, stride, dilation):
    """(offsets, the strided view of x that kernel tap `offsets` reads in every window), in row-major tap order."""
    counts = window_counts(x.shape[x.ndim - len(kernel):], kernel, stride, dilation)
    for offsets in itertools.product(*(range(k) for k in kernel)):
        yield tap_key(offsets, counts, stride, dilation)


def max_pool(x, kernel, stride, dilation):
    """A running np.maximum over the kernel's taps: a few passes over the output, where a reduction
    over the windows view's small trailing axes crawls."""
    keys = _taps(x, kernel, stride, dilation)
    out = x[next(keys)].copy()
    for key in keys:
        np.maximum(out, x[key], out=out)
    return out


def max_pool_vjp(g, out, x, kernel, stride, dilation):
    """Each window's gradient to its first maximum, tap by tap: the taps not yet taken that equal the maximum."""
    grad = np.zeros_like(x, dtype=g.dtype)
    open_ = np.ones(out.shape, dtype=bool)  # windows whose maximum has not been found yet
    for key in _taps(x, kernel, stride, dilation):
        hit = x[key] == out
        hit &= open_
        open_ &= ~hit
        grad[key] += g * hit
    return grad


KERNELS = {"gelu": gelu, "gelu_vjp": gelu_vjp, "max_pool": max_pool, "max_pool_vjp": max_pool_vjp}
