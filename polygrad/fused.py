"""Fused primitives: layers real models spend their time in, one primitive each, with backend kernels.

Each entry here is an ordinary row of the rule table (forward, vjp, jvp) whose
rules are the PORTABLE definition: written against the Array API (and polygrad's
own namespace, so grad of grad works), what every backend without a kernel runs.
A backend may add a KERNEL for a row: `Backend.kernels()` names functions the
namespace then carries as `xp.kernel_<name>` (forward) and `xp.kernel_<name>_vjp`;
on raw arrays of that backend the row runs them instead. Recorded backward passes
(`create_graph=True`, where xp is polygrad's namespace) and forward mode always
run the portable rules. tests/test_fused_kernels.py holds every kernel equal to
its portable definition, forward and gradient, on every backend.

What each saves for backward: nothing beyond its inputs (the tape keeps those
anyway); the backward recomputes what it needs (Phi(x) for gelu, the mean and
inverse spread for layer_norm) rather than keeping intermediates alive.
"""

import math

from . import ops
from .primitives import PRIMITIVES, defprim

_SQRT_HALF = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_TANH_SCALE = math.sqrt(2 / math.pi)
_TANH_CUBIC = 0.044715


def _run(xp, name, portable, *args):
    """The backend's kernel `name` on args where this namespace has one that takes them, else portable(xp, *args).

    polygrad's own namespace (create_graph) has no kernels: recorded backward passes run the portable rules.
    """
    kernel = getattr(xp, "kernel_" + name, None)
    result = None if kernel is None else kernel(*args)
    return portable(xp, *args) if result is None else result


# ---------------------------------------------------------------- gelu
def _gelu(xp, x, approximate):
    if approximate == "tanh":
        return x * (xp.tanh((x + x * x * x * _TANH_CUBIC) * _TANH_SCALE) + 1) * 0.5
    return x * (xp.erf(x * _SQRT_HALF) + 1) * 0.5


def _gelu_slope(xp, x, approximate):
    """d gelu / dx: Phi(x) + x phi(x) exactly; for the tanh form, its own derivative."""
    if approximate == "tanh":
        t = xp.tanh((x + x * x * x * _TANH_CUBIC) * _TANH_SCALE)
        return (t + 1) * 0.5 + x * (1 - t * t) * ((x * x * (3 * _TANH_CUBIC) + 1) * (0.5 * _TANH_SCALE))
    return (xp.erf(x * _SQRT_HALF) + 1) * 0.5 + x * xp.exp(x * x * -0.5) * _INV_SQRT_2PI


def _gelu_vjp(xp, g, x, approximate):
    return g * _gelu_slope(xp, x, approximate)


defprim("gelu", lambda xp, x, *, approximate="none": _run(xp, "gelu", _gelu, x, approximate),
        vjp=[lambda xp, g, out, x, approximate: _run(xp, "gelu_vjp", _gelu_vjp, g, x, approximate)],
        jvp=[lambda xp, t, out, x, approximate: t * _gelu_slope(xp, x, approximate)],
        doc="x Phi(x), Phi the standard normal CDF (approximate='none', through erf), or PyTorch's tanh form.",
        fresh=True)
PORTABLE = {"gelu": (_gelu, _gelu_vjp)}
gelu = ops._public(PRIMITIVES["gelu"])


# ---------------------------------------------------------------- layer norm
def _normalized(xp, x, axes, eps):
    """(x - mean) / sqrt(var + eps) over `axes`, and 1 / sqrt(var + eps)."""
    centered = x - xp.mean(x, axis=axes, keepdims=True)
    inverse = 1 / xp.sqrt(xp.mean(centered * centered, axis=axes, keepdims=True) + eps)
    return centered * inverse, inverse


def _trailing(x, n):
    return tuple(range(x.ndim - n, x.ndim))


def _layer_norm(xp, x, weight, bias, n, eps):
    return _normalized(xp, x, _trailing(x, n), eps)[0] * weight + bias


def _layer_norm_vjp_portable(xp, g, x, weight, bias, n, eps):
    axes = _trailing(x, n)
    lead = tuple(range(x.ndim - n))
    xhat, inverse = _normalized(xp, x, axes, eps)
    gy = g * weight
    grad_x = (gy - xp.mean(gy, axis=axes, keepdims=True)
              - xhat * xp.mean(gy * xhat, axis=axes, keepdims=True)) * inverse
    if not lead:
        return [grad_x, g * xhat, g]
    return [grad_x, xp.sum(g * xhat, axis=lead), xp.sum(g, axis=lead)]


def _layer_norm_jvp(xp, tangents, out, x, weight, bias, n, eps):
    t_x, t_weight, t_bias = tangents
    axes = _trailing(x, n)
    xhat, inverse = _normalized(xp, x, axes, eps)
    t_xhat = (t_x - xp.mean(t_x, axis=axes, keepdims=True)
              - xhat * xp.mean(t_x * xhat, axis=axes, keepdims=True)) * inverse
    return t_xhat * weight + xhat * t_weight + t_bias


defprim("layer_norm", lambda xp, x, weight, bias, *, n, eps: _run(xp, "layer_norm", _layer_norm, x, weight, bias, n, eps),
        vjp=lambda xp, g, out, x, weight, bias, n, eps:
        _run(xp, "layer_norm_vjp", _layer_norm_vjp_portable, g, x, weight, bias, n, eps),
        jvp=_layer_norm_jvp,
        doc="(x - mean) / sqrt(var + eps) * weight + bias over x's last n axes (weight, bias: those axes' "
            "shape); the backward recomputes the mean and spread instead of saving them.")
PORTABLE["layer_norm"] = (_layer_norm, _layer_norm_vjp_portable)
layer_norm = ops._public(PRIMITIVES["layer_norm"])
