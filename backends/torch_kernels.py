"""PyTorch kernels for polygrad's fused primitives (polygrad/fused.py): torch's own forward and backward ops.

The backward ops are ATen's (torch.ops.aten.*_backward), the very ones torch's autograd runs,
called directly on plain tensors: no torch graph is built.
"""

import torch

_aten = torch.ops.aten


def gelu(x, approximate):
    return torch.nn.functional.gelu(x, approximate=approximate)


def gelu_vjp(g, x, approximate):
    return _aten.gelu_backward(g, x, approximate=approximate)


def _shape(x, n):
    return list(x.shape[x.ndim - n:])


def layer_norm(x, weight, bias, n, eps):
    return torch.nn.functional.layer_norm(x, _shape(x, n), weight, bias, eps)


def layer_norm_vjp(g, x, weight, bias, n, eps):
    shape = _shape(x, n)
    _, mean, rstd = _aten.native_layer_norm(x, shape, weight, bias, eps)  # recomputed, not saved
    return list(_aten.native_layer_norm_backward(g, x, shape, mean, rstd, weight, bias, [True, True, True]))


KERNELS = {"gelu": gelu, "gelu_vjp": gelu_vjp, "layer_norm": layer_norm, "layer_norm_vjp": layer_norm_vjp}
