"""PyTorch kernels for polygrad's fused primitives (polygrad/primitives/fused.py): torch's own forward and backward ops.

The backward ops are ATen's (torch.ops.aten.*_backward), the very ones torch's autograd runs,
called directly on plain tensors: no torch graph is built.
"""

import torch

_aten = torch.ops.aten


def gelu(x, approximate):
    return torch.nn.functional.gelu(x, approximate=approximate)


def gelu_vjp(g, out, x, approximate):
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


def _conv_backward(g, x, weight, stride, dilation, groups, mask):
    n = weight.ndim - 2
    return _aten.convolution_backward(g, x, weight, None, list(stride), [0] * n, list(dilation), False, [0] * n,
                                      groups, mask)


def conv_vjp_input(g, x, weight, stride, dilation, groups):
    return _conv_backward(g, x, weight, stride, dilation, groups, [True, False, False])[0]


def conv_vjp_weight(g, x, weight, stride, dilation, groups):
    return _conv_backward(g, x, weight, stride, dilation, groups, [False, True, False])[1]


_MAX_POOL = {2: (_aten.max_pool2d_with_indices, _aten.max_pool2d_with_indices_backward),
             3: (_aten.max_pool3d_with_indices, _aten.max_pool3d_with_indices_backward)}


def _pooled(x, kernel):
    """torch's pooling ops for len(kernel) spatial axes of a (N, C, *spatial) x, or None."""
    return _MAX_POOL.get(len(kernel)) if x.ndim == len(kernel) + 2 else None


def max_pool(x, kernel, stride, dilation, saved):
    """torch's max pooling; with a `saved` (polygrad.fused.Saved) it keeps the maxima's positions for the backward."""
    ops = _pooled(x, kernel)
    if ops is None:
        return None
    if saved is None:  # nobody to hand the positions to: the faster pooling without them
        pool = torch.nn.functional.max_pool2d if len(kernel) == 2 else torch.nn.functional.max_pool3d
        return pool(x, list(kernel), list(stride), 0, list(dilation))
    out, indices = ops[0](x, list(kernel), list(stride), [0] * len(kernel), list(dilation))
    saved.keep(out, indices)
    return out


def max_pool_vjp(g, out, x, kernel, stride, dilation, saved):
    ops = _pooled(x, kernel)
    if ops is None:
        return None
    args = (list(kernel), list(stride), [0] * len(kernel), list(dilation))
    indices = None if saved is None else saved.for_output(out)
    if indices is None:  # not kept by this forward: found again
        indices = ops[0](x, *args)[1]
    return ops[1](g, x, *args, False, indices)


def dropout(x, keep, scale):
    """(x * keep) * scale with the boolean mask read as is (no cast pass), scaled in place."""
    return torch.mul(x, keep).mul_(scale) if x.is_floating_point() else None


def dropout_vjp(g, keep, scale):
    return torch.mul(g, keep).mul_(scale) if g.is_floating_point() else None


_REDUCTIONS = {"none": 0, "mean": 1, "sum": 2}  # ATen's enum


def _nll_takes(log_probs, target, weight):
    return log_probs.ndim == 2 and target.dtype == torch.int64 and weight.dtype == log_probs.dtype \
        and log_probs.is_floating_point()


def nll_loss(log_probs, target, weight, ignore_index, reduction):
    if not _nll_takes(log_probs, target, weight):
        return None
    return _aten.nll_loss_forward(log_probs, target, weight, _REDUCTIONS[reduction], ignore_index)[0]


def nll_loss_vjp(g, log_probs, target, weight, ignore_index, reduction):
    if not _nll_takes(log_probs, target, weight) or g.dtype != log_probs.dtype:
        return None
    code = _REDUCTIONS[reduction]
    total = _aten.nll_loss_forward(log_probs, target, weight, code, ignore_index)[1]  # the summed weights, again
    return _aten.nll_loss_backward(g, log_probs, target, weight, code, ignore_index, total)


def _padding(padding_idx):
    return -1 if padding_idx is None else padding_idx  # ATen's "no padding row"


def embedding(weight, indices, padding_idx):
    return torch.embedding(weight, indices, _padding(padding_idx)) if indices.dtype == torch.int64 else None


def embedding_vjp(g, weight, indices, padding_idx):
    if indices.dtype != torch.int64:
        return None
    return _aten.embedding_dense_backward(g, indices, weight.shape[0], _padding(padding_idx), False)


def relu_vjp(g, x):
    return _aten.threshold_backward(g, x, 0) if g.dtype == x.dtype else None


def _one_axis(x, axis):
    return isinstance(axis, int) and x.is_floating_point()


def softmax(x, axis):
    return torch.softmax(x, axis) if _one_axis(x, axis) else None


def softmax_vjp(g, out, axis):
    return _aten._softmax_backward_data(g, out, axis, out.dtype) if _one_axis(out, axis) and g.dtype == out.dtype else None


def log_softmax(x, axis):
    return torch.log_softmax(x, axis) if _one_axis(x, axis) else None


def log_softmax_vjp(g, out, axis):
    return _aten._log_softmax_backward_data(g, out, axis, out.dtype) if _one_axis(out, axis) and g.dtype == out.dtype else None


def lstm_sequence(gi, h0, c0, weight_hh, bias_hh):
    """The LSTM layer's time loop with torch's own sigmoid/tanh and addmm, writing each step's
    [h, c, i, f, g, o] straight into the (L, N, 6H) output."""
    if gi.ndim != 3 or not gi.dtype == h0.dtype == c0.dtype == weight_hh.dtype == bias_hh.dtype:
        return None
    size = h0.shape[-1]
    out = gi.new_empty(gi.shape[:2] + (6 * size,))
    h, c, w = h0, c0, weight_hh.t()
    for t in range(gi.shape[0]):
        gates = torch.addmm(gi[t] + bias_hh, h, w)
        step = out[t]
        torch.sigmoid(gates, out=step[:, 2 * size:6 * size])  # i, f, (g), o: g is overwritten below
        torch.tanh(gates[:, 2 * size:3 * size], out=step[:, 4 * size:5 * size])
        i, f, g = step[:, 2 * size:3 * size], step[:, 3 * size:4 * size], step[:, 4 * size:5 * size]
        c = torch.addcmul(f * c, i, g, out=step[:, size:2 * size])
        h = torch.mul(step[:, 5 * size:], torch.tanh(c), out=step[:, :size])
    return out


def linear(x, weight, bias):
    """torch's own linear: the bias goes in through the GEMM (addmm), as native PyTorch does."""
    if not x.dtype == weight.dtype == bias.dtype or x.ndim == 0:
        return None
    return torch.nn.functional.linear(x, weight, bias)


KERNELS = {"relu_vjp": relu_vjp, "linear": linear, "softmax": softmax, "softmax_vjp": softmax_vjp, "log_softmax": log_softmax,
           "log_softmax_vjp": log_softmax_vjp, "gelu": gelu, "gelu_vjp": gelu_vjp, "layer_norm": layer_norm,
           "layer_norm_vjp": layer_norm_vjp, "conv": conv, "conv_vjp_input": conv_vjp_input,
           "conv_vjp_weight": conv_vjp_weight, "max_pool": max_pool,
           "max_pool_vjp": max_pool_vjp,
           "lstm_sequence": lstm_sequence,
           "dropout": dropout, "dropout_vjp": dropout_vjp, "nll_loss": nll_loss, "nll_loss_vjp": nll_loss_vjp,
           "embedding": embedding, "embedding_vjp": embedding_vjp}
