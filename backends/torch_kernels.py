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


def conv(x, weight, bias, stride, dilation, groups):
    n = weight.ndim - 2
    return _aten.convolution(x, weight, bias, list(stride), [0] * n, list(dilation), False, [0] * n, groups)


def conv_vjp(g, x, weight, bias, stride, dilation, groups):
    n = weight.ndim - 2
    return list(_aten.convolution_backward(g, x, weight, list(bias.shape), list(stride), [0] * n, list(dilation),
                                           False, [0] * n, groups, [True, True, True]))


_MAX_POOL = {2: (_aten.max_pool2d_with_indices, _aten.max_pool2d_with_indices_backward),
             3: (_aten.max_pool3d_with_indices, _aten.max_pool3d_with_indices_backward)}


def _pooled(x, kernel):
    """torch's pooling ops for len(kernel) spatial axes of a (N, C, *spatial) x, or None."""
    return _MAX_POOL.get(len(kernel)) if x.ndim == len(kernel) + 2 else None


def max_pool(x, kernel, stride, dilation):
    """torch's max pooling without indices (faster): the backward finds them again."""
    if _pooled(x, kernel) is None:
        return None
    pool = torch.nn.functional.max_pool2d if len(kernel) == 2 else torch.nn.functional.max_pool3d
    return pool(x, list(kernel), list(stride), 0, list(dilation))


def max_pool_vjp(g, out, x, kernel, stride, dilation):
    ops = _pooled(x, kernel)
    if ops is None:
        return None
    args = (list(kernel), list(stride), [0] * len(kernel), list(dilation))
    indices = ops[0](x, *args)[1]  # recomputed: the forward kept only the maxima
    return ops[1](g, x, *args, False, indices)


KERNELS = {"gelu": gelu, "gelu_vjp": gelu_vjp, "layer_norm": layer_norm, "layer_norm_vjp": layer_norm_vjp,
           "conv": conv, "conv_vjp": conv_vjp, "max_pool": max_pool, "max_pool_vjp": max_pool_vjp}
