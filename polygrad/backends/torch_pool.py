"""PyTorch kernels of average pooling (plain and adaptive) and transposed convolution (polygrad/primitives/fused_pool.py): ATen's
own forward and backward ops on plain tensors, as torch_kernels.py does for the other fused rows."""

import torch

_aten = torch.ops.aten
_AVG_POOL = {2: (_aten.avg_pool2d, _aten.avg_pool2d_backward), 3: (_aten.avg_pool3d, _aten.avg_pool3d_backward)}


def _avg_pool_call(x, kernel, stride, widths):
    """(ATen's forward and backward, x as they take it, their geometry arguments), a 1-d pooling as a 2-d one
    over a unit axis; None where ATen's pooling does not take x. ATen pads by `before` on both sides and
    sizes the output with ceil_mode: that is the definition's padding wherever an axis's extra `after` is
    what ceil_mode adds (checked on the output's size by the callers)."""
    n = len(kernel)
    if x.ndim != n + 2 or n > 3 or not x.is_floating_point() or any(2 * b > k for (b, _), k in zip(widths, kernel)):
        return None
    padding, ceil_mode = [b for b, _ in widths], any(a > b for b, a in widths)
    if n == 1:
        x, kernel, stride, padding = x.unsqueeze(-2), (1,) + tuple(kernel), (1,) + tuple(stride), [0] + padding
    return _AVG_POOL[len(kernel)], x, [list(kernel), list(stride), padding, ceil_mode]


def _counts(x, kernel, stride, widths):
    """The definition's output size: windows over x padded by widths."""
    return tuple((m + b + a - k) // s + 1 for m, k, s, (b, a) in zip(x.shape[2:], kernel, stride, widths))


def avg_pool(x, kernel, stride, widths, count_include_pad, divisor_override):
    call = _avg_pool_call(x, kernel, stride, widths)
    if call is None:
        return None
    (forward, _), native, geometry = call
    out = forward(native, *geometry, count_include_pad, divisor_override)
    if len(kernel) == 1:
        out = out.squeeze(-2)
    return out if tuple(out.shape[2:]) == _counts(x, kernel, stride, widths) else None


def avg_pool_vjp(g, x, kernel, stride, widths, count_include_pad, divisor_override):
    call = _avg_pool_call(x, kernel, stride, widths)
    if call is None or g.dtype != x.dtype or tuple(g.shape[2:]) != _counts(x, kernel, stride, widths):
        return None
    (_, backward), native, geometry = call
    if len(kernel) == 1:
        g = g.unsqueeze(-2)
    grad = backward(g, native, *geometry, count_include_pad, divisor_override)
    return grad.squeeze(-2) if len(kernel) == 1 else grad


def _transposed(stride, padding, output_padding, dilation):
    return list(stride), list(padding), list(dilation), True, list(output_padding)


def conv_transpose(x, weight, bias, stride, padding, output_padding, dilation, groups):
    return _aten.convolution(x, weight, bias, *_transposed(stride, padding, output_padding, dilation), groups)


def _conv_transpose_backward(g, x, weight, stride, padding, output_padding, dilation, groups, mask):
    return _aten.convolution_backward(g, x, weight, None, *_transposed(stride, padding, output_padding, dilation),
                                      groups, mask)


def conv_transpose_vjp_input(g, x, weight, *options):
    return _conv_transpose_backward(g, x, weight, *options, [True, False, False])[0]


def conv_transpose_vjp_weight(g, x, weight, *options):
    return _conv_transpose_backward(g, x, weight, *options, [False, True, False])[1]


_ADAPTIVE = {2: (_aten._adaptive_avg_pool2d, _aten._adaptive_avg_pool2d_backward),
             3: (_aten._adaptive_avg_pool3d, _aten._adaptive_avg_pool3d_backward)}


def _adaptive_call(x, output_size):
    """(ATen's forward and backward, x as they take it, the output size), 1-d as 2-d; None where they do not take x."""
    n = len(output_size)
    if x.ndim != n + 2 or n > 3 or not x.is_floating_point() or 0 in output_size:  # ATen's backward refuses empty
        return None
    if n == 1:
        return _ADAPTIVE[2], x.unsqueeze(-2), [1, output_size[0]]
    return _ADAPTIVE[n], x, list(output_size)


def adaptive_avg_pool(x, output_size):
    call = _adaptive_call(x, output_size)
    if call is None:
        return None
    (forward, _), native, size = call
    out = forward(native, size)
    return out.squeeze(-2) if len(output_size) == 1 else out


def adaptive_avg_pool_vjp(g, x, output_size):
    call = _adaptive_call(x, output_size)
    if call is None or g.dtype != x.dtype:
        return None
    (_, backward), native, _ = call
    grad = backward(g.unsqueeze(-2) if len(output_size) == 1 else g, native)
    return grad.squeeze(-2) if len(output_size) == 1 else grad


KERNELS = {"adaptive_avg_pool": adaptive_avg_pool, "adaptive_avg_pool_vjp": adaptive_avg_pool_vjp,
           "avg_pool": avg_pool, "avg_pool_vjp": avg_pool_vjp, "conv_transpose": conv_transpose,
           "conv_transpose_vjp_input": conv_transpose_vjp_input, "conv_transpose_vjp_weight": conv_transpose_vjp_weight}
