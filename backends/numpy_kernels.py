"""NumPy kernels for polygrad's fused primitives (polygrad/fused.py): plain NumPy, in place where it saves passes.

Each returns None for inputs it has no fast path for, and the portable definition runs.
"""

import math

import numpy as np

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


KERNELS = {"gelu": gelu, "gelu_vjp": gelu_vjp}
