"""Gradient clipping: `clip_grad_norm_`, as torch.nn.utils.clip_grad_norm_."""

import math

from ..core.engine import no_grad
from ..core.tensor import Tensor
from ..namespace import ops
from ..namespace.ops import asarray


def clip_grad_norm_(parameters, max_norm, norm_type=2.0):
    """Scale gradients in place so their joint norm is at most max_norm; returns the norm before.

    The norm is a 0-d tensor on the first gradient's device: nothing is read
    back to the host, so clipping adds no synchronisation on a GPU.
    """
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return asarray(0.0)
    device = grads[0].device
    with no_grad():
        if norm_type == math.inf:
            total = ops.max(ops.stack([ops.max(ops.abs(g)).to(device) for g in grads]))
        else:
            powers = ops.stack([ops.sum(g * g if norm_type == 2 else ops.abs(g) ** norm_type).to(device) for g in grads])
            total = ops.sum(powers) ** (1.0 / norm_type)
        scale = ops.clip(max_norm / (total + 1e-6), max=1.0)
        for g in grads:
            g.mul_(scale.to(g.device))
    return total
