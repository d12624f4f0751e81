"""NumPy kernels for polygrad's fused primitives (polygrad/primitives/fused.py): plain NumPy, in place where it saves passes.

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
    where 1 + erf(x / sqrt 2) loses the negative one. Three float32 buffers worked in place (fresh
    large buffers cost page faults), about 25 passes against ~300 for the portable erf."""
    a = np.abs(x)
    a *= np.float32(_SQRT_HALF)  # |z|, z = -x / sqrt 2
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
    p *= t
    p *= 0.5  # r = erfc(|z|) / 2; Phi(x) is r where x <= 0 and 1 - r where x > 0:
    np.multiply(p, -2, out=a)  # r + [x > 0] (1 - 2r), branch-free (np.where is ~10x slower on random signs)
    a += 1
    a *= x > 0
    a += p
    return a


def gelu(x, approximate):
    if x.dtype != np.float32 or approximate != "none":
        return None
    return x * _normal_cdf32(x)


def gelu_vjp(g, x, approximate):
    if x.dtype != np.float32 or approximate != "none":
        return None
    slope = x * x
    slope *= np.float32(-0.5)
    np.exp(slope, out=slope)
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


def max_pool(x, kernel, stride, dilation, saved):
    """A running np.maximum over the kernel's taps: a few passes over the output, where a reduction
    over the windows view's small trailing axes crawls."""
    keys = _taps(x, kernel, stride, dilation)
    out = x[next(keys)].copy()
    for key in keys:
        np.maximum(out, x[key], out=out)
    return out


def max_pool_vjp(g, out, x, kernel, stride, dilation, saved):
    """Each window's gradient to its first maximum, tap by tap: the taps not yet taken that equal the maximum."""
    grad = np.zeros_like(x, dtype=g.dtype)
    open_ = np.ones(out.shape, dtype=bool)  # windows whose maximum has not been found yet
    for key in _taps(x, kernel, stride, dilation):
        hit = x[key] == out
        hit &= open_
        open_ &= ~hit
        grad[key] += g * hit
    return grad


def dropout(x, keep, scale):
    """(x * keep) * scale: the boolean mask multiplies directly (no cast pass), scaled in place."""
    if x.dtype.kind != "f":
        return None
    out = np.multiply(x, keep)
    out *= scale
    return out


def dropout_vjp(g, keep, scale):
    return dropout(g, keep, scale)


def relu_vjp(g, x):
    """0 where x <= 0, g elsewhere (a NaN x too): the boolean mask multiplies directly (np.where is
    several times slower); only an infinite or NaN g needs the masked entries set to 0 afterwards."""
    if g.dtype != x.dtype:
        return None
    dropped = x <= 0
    grad = np.multiply(g, ~dropped)
    if not np.isfinite(g).all():  # inf * 0 is NaN; PyTorch's threshold_backward gives 0 there
        grad[dropped] = 0
    return grad


def log_softmax(x, axis):
    """x - logsumexp(x), in place on one buffer (the portable one makes five)."""
    if x.dtype.kind != "f" or x.size == 0:
        return None  # empty input: the definition's answer (np.max has no identity)
    out = x - np.max(x, axis=axis, keepdims=True)
    total = np.sum(np.exp(out), axis=axis, keepdims=True)
    np.log(total, out=total)
    out -= total
    return out if np.all(np.isfinite(total)) else None  # rows of -inf or nan: the definition's answers


def log_softmax_vjp(g, out, axis):
    if g.dtype != out.dtype:
        return None
    grad = np.exp(out)
    grad *= -np.sum(g, axis=axis, keepdims=True)
    grad += g
    return grad


def linear(x, weight, bias):
    """x @ weight.T + bias with the bias added in place: no second output-sized buffer (N-D x as one GEMM).
    BLAS's dtypes only (NumPy's matmul of bfloat16 answers in another dtype)."""
    if not x.dtype == weight.dtype == bias.dtype or x.dtype not in (np.float32, np.float64) or x.ndim == 0:
        return None
    out = np.matmul(x.reshape(-1, x.shape[-1]), weight.T)
    out += bias
    return out.reshape(x.shape[:-1] + weight.shape[:1])


KERNELS = {"relu_vjp": relu_vjp, "linear": linear, "log_softmax": log_softmax, "log_softmax_vjp": log_softmax_vjp,
           "gelu": gelu, "gelu_vjp": gelu_vjp, "max_pool": max_pool, "max_pool_vjp": max_pool_vjp,
           "dropout": dropout, "dropout_vjp": dropout_vjp}
