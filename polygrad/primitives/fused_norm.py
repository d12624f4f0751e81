"""RMS norm as one fused primitive (as fused.layer_norm): x / sqrt(mean(x²) + eps) * weight over x's last n axes.

The rules here are the portable definition; a backend may run its kernels instead (`kernel_rms_norm`,
`kernel_rms_norm_vjp`). What it saves for backward: nothing beyond its inputs, the backward
recomputes 1 / sqrt(mean(x²) + eps) (one reduction) instead of keeping it.
"""

from .fused import PORTABLE, _trailing
from .table import defprim
from .table import kernel_or as _run


def _inverse_rms(xp, x, axes, eps):
    return 1 / xp.sqrt(xp.mean(x * x, axis=axes, keepdims=True) + eps)


def _rms_norm(xp, x, weight, n, eps):
    return x * _inverse_rms(xp, x, _trailing(x, n), eps) * weight


def _rms_norm_vjp(xp, g, x, weight, n, eps):
    axes = _trailing(x, n)
    inverse = _inverse_rms(xp, x, axes, eps)
    gy = g * weight
    grad_x = (gy - x * (inverse * inverse) * xp.mean(gy * x, axis=axes, keepdims=True)) * inverse
    grad_weight = g * x * inverse
    lead = tuple(range(x.ndim - n))
    return [grad_x, xp.sum(grad_weight, axis=lead) if lead else grad_weight]


def _rms_norm_jvp(xp, tangents, out, x, weight, n, eps):
    t_x, t_weight = tangents
    axes = _trailing(x, n)
    inverse = _inverse_rms(xp, x, axes, eps)
    t_normal = (t_x - x * (inverse * inverse) * xp.mean(x * t_x, axis=axes, keepdims=True)) * inverse
    return t_normal * weight + x * inverse * t_weight


defprim("rms_norm", lambda xp, x, weight, *, n, eps: _run(xp, "rms_norm", _rms_norm, x, weight, n, eps),
        vjp=lambda xp, g, out, x, weight, n, eps: _run(xp, "rms_norm_vjp", _rms_norm_vjp, g, x, weight, n, eps),
        jvp=_rms_norm_jvp,
        doc="x / sqrt(mean(x²) + eps) * weight over x's last n axes (weight: those axes' shape); the backward "
            "recomputes the root mean square instead of saving it.",
        fresh=True)
PORTABLE["rms_norm"] = (_rms_norm, _rms_norm_vjp)
