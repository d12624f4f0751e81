"""Functions on tensors: the seed's backward functions and composite layers.

`<name>_backward(grad_output, *inputs, **options)` exists for every primitive
with a derivative. It takes raw arrays of any backend and returns one gradient
per input, shaped like that input (None for an input that takes none, such as
indices). These are the very rules the Tensor engine runs, read from the same
table.

Composites (softmax cross-entropy, linear layers, convolution, ...) are written
with differentiable primitives, so they need no rules of their own.
"""

import math

from .. import backends
from ..namespace import ops
from ..namespace.creation import zeros
from ..core.engine import apply, no_grad, pullback, unbroadcast
from ..core.dtypes import finfo as _finfo  # (not F.finfo: F is a public namespace)
from ..core.errors import ShapeError, describe
from ..namespace.ops import signature
from ..primitives.table import PRIMITIVES
from ..namespace.random import default_generator
from ..core.tensor import Tensor


def _backward_function(primitive):
    variadic, n_inputs, options = signature(primitive)

    def backward(grad_output, *inputs, **kwargs):
        source = backends.find_for_array(inputs[0])
        if source is None:
            raise TypeError(f"{primitive.name}_backward: expected arrays, got {type(inputs[0]).__name__}")
        xp = source.xp
        params = dict(options)
        params.update(kwargs)
        out = primitive.forward(xp, *inputs, **params)
        grads = pullback(primitive, xp, grad_output, out, inputs, params)
        return tuple(None if g is None else unbroadcast(xp, g, tuple(x.shape)) for g, x in zip(grads, inputs))

    backward.__name__ = f"{primitive.name}_backward"
    backward.__doc__ = f"Gradients of {primitive.name} for each input, given the output's gradient."
    return backward


# `F.<primitive>_backward` for every primitive with a vjp rule, made on first use (module __getattr__,
# off every hot path) from this one dict's table; `dir(F)` lists them.
_BACKWARD = {f"{name}_backward": p for name, p in PRIMITIVES.items() if p.vjp is not None}
_made = {}


def __getattr__(name):
    if name not in _BACKWARD:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name not in _made:
        _made[name] = _backward_function(_BACKWARD[name])
    return _made[name]


def __dir__():
    return sorted({*globals(), *_BACKWARD})


# The seed's short names.
add_backward = __getattr__("add_backward")
sub_backward = __getattr__("subtract_backward")
mul_backward = __getattr__("multiply_backward")
div_backward = __getattr__("divide_backward")
matmul_backward = __getattr__("matmul_backward")


def identity_backward(grad_output, a):
    """The handout's identity: y = a passes its gradient through."""
    return (grad_output,)


def SoftmaxCrossEntropy_backward(grad_output, pred, ground_truth):  # noqa: N802 (the handout's name)
    """The handout's loss: mean over the batch of -sum(ground_truth * log softmax(pred)).

    Gradient for pred: (softmax(pred) - ground_truth) / batch, times grad_output;
    none for the ground truth (one-hot rows or class probabilities).
    """
    xp = backends.find_for_array(pred).xp
    if tuple(ground_truth.shape) != tuple(pred.shape):
        raise ShapeError(f"SoftmaxCrossEntropy_backward: ground_truth has shape {tuple(ground_truth.shape)}, "
                         f"pred has shape {tuple(pred.shape)}; pass one-hot rows")
    shifted = pred - xp.max(pred, axis=-1, keepdims=True)
    softmax = xp.exp(shifted) / xp.sum(xp.exp(shifted), axis=-1, keepdims=True)
    return (softmax - ground_truth) * (grad_output / pred.shape[0]), None


def outer_backward(grad_output, a, b):
    """outer(a, b) = a[:, None] * b[None, :]: the multiply rule on the two views."""
    xp = backends.find_for_array(a).xp
    column, row = xp.reshape(a, (-1, 1)), xp.reshape(b, (1, -1))
    grad_a, grad_b = mul_backward(grad_output, column, row)
    return xp.reshape(grad_a, a.shape), xp.reshape(grad_b, b.shape)


# ================================================================ composites
# Layers and losses written with differentiable primitives from polygrad.namespace.ops:
# they need no rules of their own and run, and differentiate, on every backend.
# Keyword names follow the Array API (`axis`), as the rest of polygrad does.


def linear(x, weight, bias=None):
    """x @ weight.T + bias, with weight of shape (out_features, in_features) as in PyTorch."""
    if bias is None:
        return ops.matmul(x, ops.matrix_transpose(weight))
    return ops.linear(x, weight, bias)


def bilinear(x1, x2, weight, bias=None):
    """y[..., o] = x1[..., i] weight[o, i, j] x2[..., j] + bias[o], weight of shape (out, in1, in2) as in PyTorch."""
    out_features, in1, in2 = weight.shape
    # one matmul against the weight laid out as (in1, out * in2), then the in2 contraction per output
    rows = ops.matmul(x1, ops.reshape(ops.permute_dims(weight, (1, 0, 2)), (in1, out_features * in2)))
    y = ops.sum(ops.reshape(rows, x1.shape[:-1] + (out_features, in2)) * ops.expand_dims(x2, axis=-2), axis=-1)
    return y if bias is None else y + bias


def relu(x, inplace=False):
    """`inplace` is accepted for PyTorch's signature; the result is the same, computed out of place."""
    return ops.relu(x)


def leaky_relu(x, negative_slope=0.01, inplace=False):
    return ops.where(x > 0, x, x * negative_slope)


def sigmoid(x):
    return ops.sigmoid(x)


def tanh(x):
    return ops.tanh(x)


# In polygrad/functional/activations.py: PyTorch's activation functions (exact GELU through the erf primitive).
from .activations import (  # noqa: E402,F401 (re-exported: F.gelu, F.silu, ...)
    celu, elu, gelu, glu, hardshrink, hardsigmoid, hardswish, hardtanh, logsigmoid, mish, prelu, relu6, selu, silu,
    softmin, softplus, softshrink, softsign, tanhshrink, threshold,
)


def softmax(x, axis=-1, *, dim=None):
    """`dim=` is PyTorch's spelling of `axis=`."""
    return ops.softmax(x, axis=axis if dim is None else dim)


def log_softmax(x, axis=-1, *, dim=None):
    return ops.log_softmax(x, axis=axis if dim is None else dim)


def _kept(x, p, training, generator, name, shape=None):
    """The boolean mask (of `shape`, default x's) of what a dropout keeps, drawn from `generator`
    (default: the seeded default generator of x's device); None when it keeps everything; p = 1: zeros
    in x's dtype."""
    if not 0 <= p <= 1:
        raise ValueError(f"{name}: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return None
    shape = x.shape if shape is None else shape
    if p == 1:
        return zeros(shape, dtype=x.dtype, device=x.device)
    generator = generator or default_generator(x.device)
    return generator.rand(shape, dtype=x.dtype) >= p


def _scaled(x, keep, p):
    """x with the entries `keep` drops zeroed and the others scaled by 1/(1-p) (one fused primitive)."""
    if keep is None:
        return x
    return x * keep if p == 1 else apply(PRIMITIVES["dropout"], [x, keep], {"scale": 1 / (1 - p)})


def dropout(x, p=0.5, training=True, generator=None):
    """Zero each entry with probability p and scale the rest by 1/(1-p); identity when not training.

    The same generator seed gives the same mask.
    """
    return _scaled(x, _kept(x, p, training, generator, "dropout"), p)


def _feature_dropout(x, p, training, generator, batched, name):
    """Dropout of whole channels: one draw per (N, C) (per C unbatched), shared over the spatial axes."""
    lead = 2 if batched else 1
    return _scaled(x, _kept(x, p, training, generator, name, x.shape[:lead] + (1,) * (x.ndim - lead)), p)


def _channel_ranks(x, ranks, name):
    if x.ndim not in ranks:
        raise ShapeError(f"{name}: expected an input of rank {' or '.join(map(str, ranks))}, got {describe(x)}")


def dropout1d(x, p=0.5, training=True, generator=None):
    """Zero whole channels of (N, C, L) or unbatched (C, L) inputs with probability p, the rest scaled by 1/(1-p)."""
    _channel_ranks(x, (2, 3), "dropout1d")
    return _feature_dropout(x, p, training, generator, x.ndim == 3, "dropout1d")


def dropout2d(x, p=0.5, training=True, generator=None):
    """Zero whole channels of (N, C, H, W) inputs; a rank-3 input is (N, C, L), as PyTorch reads it."""
    _channel_ranks(x, (3, 4), "dropout2d")
    return _feature_dropout(x, p, training, generator, True, "dropout2d")


def dropout3d(x, p=0.5, training=True, generator=None):
    """Zero whole channels of (N, C, D, H, W) or unbatched (C, D, H, W) inputs."""
    _channel_ranks(x, (4, 5), "dropout3d")
    return _feature_dropout(x, p, training, generator, x.ndim == 5, "dropout3d")


_SELU_SATURATION = 1.7580993408473766  # -SELU(-inf) = scale * alpha


def alpha_dropout(x, p=0.5, training=True, generator=None):
    """Dropout for SELU networks: dropped entries take SELU's saturation value, then an affine map
    a * (.) + b restores zero mean and unit variance (PyTorch's constants); identity when not training."""
    keep = _kept(x, p, training, generator, "alpha_dropout")
    if keep is None or p == 1:
        return _scaled(x, keep, p)
    keep = ops.astype(keep, x.dtype)
    a = 1 / math.sqrt((_SELU_SATURATION ** 2 * p + 1) * (1 - p))
    return x * keep * a + (keep - 1) * (_SELU_SATURATION * a) + _SELU_SATURATION * a * p


# ---------------------------------------------------------------- convolution and pooling
# In polygrad/functional/convolution.py: every windowed op reads its input through the `windows` primitive.
from .convolution import (  # noqa: E402,F401 (re-exported: F.conv2d, F.max_pool2d, ...)
    _is_int, _tuple, adaptive_avg_pool1d, adaptive_avg_pool2d, avg_pool1d, avg_pool2d, conv1d,
    conv2d, conv_transpose1d, conv_transpose2d, interpolate, max_pool1d, max_pool2d, max_unpool2d, pad,
)
from .convolution_more import (  # noqa: E402,F401 (re-exported: F.conv3d, F.embedding_bag, ...)
    adaptive_avg_pool3d, adaptive_max_pool1d, adaptive_max_pool2d, adaptive_max_pool3d, avg_pool3d, conv3d,
    conv_transpose3d, embedding_bag, lp_pool1d, lp_pool2d, lp_pool3d, max_pool3d,
)


def pixel_shuffle(x, upscale_factor):
    """(*, C r^2, H, W) -> (*, C, H r, W r): each group of r^2 channels becomes an r x r block."""
    r = upscale_factor
    *batch, channels, h, w = x.shape
    if channels % (r * r):
        raise ShapeError(f"pixel_shuffle: {channels} channels are not divisible by upscale_factor^2 = {r * r}")
    lead = len(batch)
    y = ops.reshape(x, (*batch, channels // (r * r), r, r, h, w))
    y = ops.permute_dims(y, (*range(lead + 1), lead + 3, lead + 1, lead + 4, lead + 2))
    return ops.reshape(y, (*batch, channels // (r * r), h * r, w * r))


def pixel_unshuffle(x, downscale_factor):
    """(*, C, H r, W r) -> (*, C r^2, H, W), the inverse of pixel_shuffle."""
    r = downscale_factor
    *batch, channels, h, w = x.shape
    if h % r or w % r:
        raise ShapeError(f"pixel_unshuffle: height {h} and width {w} must be divisible by downscale_factor {r}")
    lead = len(batch)
    y = ops.reshape(x, (*batch, channels, h // r, r, w // r, r))
    y = ops.permute_dims(y, (*range(lead + 1), lead + 2, lead + 4, lead + 1, lead + 3))
    return ops.reshape(y, (*batch, channels * r * r, h // r, w // r))


# ---------------------------------------------------------------- normalization and lookup
def batch_norm(x, running_mean=None, running_var=None, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Normalize over every axis but the channel axis 1.

    Training (or no running statistics given) uses the batch's statistics and
    updates running_mean/running_var in place: new = (1 - momentum) old +
    momentum batch, with the unbiased batch variance, as PyTorch does.
    Evaluation uses the running statistics.
    """
    axes = (0,) + tuple(range(2, x.ndim))
    stat_shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if training or running_mean is None:
        mean = ops.mean(x, axis=axes, keepdims=True)
        var = ops.var(x, axis=axes, keepdims=True)
        count = x.size // x.shape[1]
        if training and count == 1:
            raise ShapeError(f"batch_norm: training needs more than one value per channel, got {describe(x)}")
        if training and running_mean is not None:
            with no_grad():
                running_mean.mul_(1 - momentum).add_(ops.reshape(mean, (-1,)), alpha=momentum)
                unbiased = ops.reshape(var, (-1,)) * (count / (count - 1))
                running_var.mul_(1 - momentum).add_(unbiased, alpha=momentum)
    else:
        mean, var = ops.reshape(running_mean, stat_shape), ops.reshape(running_var, stat_shape)
    y = (x - mean) / ops.sqrt(var + eps)
    if weight is not None:
        y = y * ops.reshape(weight, stat_shape)
    if bias is not None:
        y = y + ops.reshape(bias, stat_shape)
    return y


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalize each sample over groups of num_groups consecutive channels (and every spatial axis)."""
    if x.ndim < 2 or x.shape[1] % num_groups:
        raise ShapeError(f"group_norm: {num_groups} groups do not divide the channels of {describe(x)}")
    grouped = ops.reshape(x, (x.shape[0], num_groups, -1))
    mean = ops.mean(grouped, axis=2, keepdims=True)
    y = ops.reshape((grouped - mean) / ops.sqrt(ops.var(grouped, axis=2, keepdims=True) + eps), x.shape)
    return _channel_affine(y, weight, bias)


def _channel_affine(y, weight, bias):
    """y * weight + bias with one weight and bias per channel (axis 1)."""
    stat_shape = (y.shape[1],) + (1,) * (y.ndim - 2)
    if weight is not None:
        y = y * ops.reshape(weight, stat_shape)
    if bias is not None:
        y = y + ops.reshape(bias, stat_shape)
    return y


def instance_norm(x, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalize each sample's each channel over its spatial axes, as PyTorch's instance_norm.

    With use_input_stats and running statistics given, these are updated in place with
    the batch's mean of per-instance means and unbiased variances; without
    use_input_stats, the running statistics normalize.
    """
    axes = tuple(range(2, x.ndim))
    if not use_input_stats:
        if running_mean is None:
            raise ValueError("instance_norm: use_input_stats=False needs running_mean and running_var")
        shape = (x.shape[1],) + (1,) * (x.ndim - 2)
        y = (x - ops.reshape(running_mean, shape)) / ops.sqrt(ops.reshape(running_var, shape) + eps)
        return _channel_affine(y, weight, bias)
    count = math.prod(x.shape[2:])
    if count == 1:
        raise ShapeError(f"instance_norm: needs more than one spatial value per channel, got {describe(x)}")
    mean, var = ops.mean(x, axis=axes, keepdims=True), ops.var(x, axis=axes, keepdims=True)
    if running_mean is not None:
        with no_grad():
            running_mean.mul_(1 - momentum).add_(ops.mean(ops.reshape(mean, x.shape[:2]), axis=0), alpha=momentum)
            unbiased = ops.mean(ops.reshape(var, x.shape[:2]), axis=0) * (count / (count - 1))
            running_var.mul_(1 - momentum).add_(unbiased, alpha=momentum)
    return _channel_affine((x - mean) / ops.sqrt(var + eps), weight, bias)


def _trailing_shape(x, normalized_shape, name):
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if x.shape[x.ndim - len(shape):] != shape:
        raise ShapeError(f"{name}: normalized_shape {shape} does not match the end of {describe(x)}")
    return shape


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the trailing axes `normalized_shape`, then scale and shift elementwise."""
    shape = _trailing_shape(x, normalized_shape, "layer_norm")
    if weight is None or bias is None:  # the fused primitive takes both: a missing one is the identity
        with no_grad():
            weight = ops.ones_like(x[(0,) * (x.ndim - len(shape))]) if weight is None else weight
            bias = ops.zeros_like(weight) if bias is None else bias
    return ops.layer_norm(x, weight, bias, n=len(shape), eps=eps)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """input / sqrt(mean(input²) + eps) * weight over the trailing axes `normalized_shape`, one fused primitive;
    eps None: the machine epsilon of input's dtype, as PyTorch."""
    shape = _trailing_shape(input, normalized_shape, "rms_norm")
    if weight is None:  # the fused primitive takes one: a missing one is the identity
        with no_grad():
            weight = ops.ones_like(input[(0,) * (input.ndim - len(shape))])
    elif tuple(weight.shape) != shape:
        raise ShapeError(f"rms_norm: weight {describe(weight)} does not match normalized_shape {shape} "
                         f"of input {describe(input)}")
    eps = _finfo(input.dtype).eps if eps is None else eps
    return ops.rms_norm(input, weight, n=len(shape), eps=eps)


# ---------------------------------------------------------------- recurrent cells
def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh), or relu."""
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn_cell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return rnn_update(linear(x, weight_ih, bias_ih), linear(h, weight_hh, bias_hh), nonlinearity)


def rnn_update(gi, gh, nonlinearity="tanh"):
    """The RNN step from its input part gi = x W_ih^T + b_ih and hidden part gh = h W_hh^T + b_hh."""
    return ops.tanh(gi + gh) if nonlinearity == "tanh" else ops.relu(gi + gh)


def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """PyTorch's GRU cell, gates stacked in the order r, z, n along the weights' rows:
    r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz),
    n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h' = (1 - z) n + z h.
    """
    return gru_update(linear(x, weight_ih, bias_ih), linear(h, weight_hh, bias_hh), h)


def gru_update(gi, gh, h):
    """The GRU step from its input and hidden projections (see gru_cell)."""
    size = h.shape[-1]
    r = ops.sigmoid(gi[..., :size] + gh[..., :size])
    z = ops.sigmoid(gi[..., size:2 * size] + gh[..., size:2 * size])
    n = ops.tanh(gi[..., 2 * size:] + r * gh[..., 2 * size:])
    return (1 - z) * n + z * h


def lstm_cell(x, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """PyTorch's LSTM cell on hx = (h, c), gates stacked i, f, g, o along the weights' rows:
    i, f, o = σ(...), g = tanh(...), c' = f c + i g, h' = o tanh(c'). Returns (h', c')."""
    h, c = hx
    return lstm_update(linear(x, weight_ih, bias_ih) + linear(h, weight_hh, bias_hh), c)


def lstm_update(gates, c):
    """(h', c') from the summed gate projections (see lstm_cell)."""
    size = c.shape[-1]
    i, f = ops.sigmoid(gates[..., :size]), ops.sigmoid(gates[..., size:2 * size])
    g, o = ops.tanh(gates[..., 2 * size:3 * size]), ops.sigmoid(gates[..., 3 * size:])
    c = f * c + i * g
    return o * ops.tanh(c), c


# In polygrad/functional/attention.py: PyTorch's attention functions.
from .attention import multi_head_attention, scaled_dot_product_attention  # noqa: E402,F401 (re-exported)


def embedding(indices, weight, padding_idx=None, max_norm=None, norm_type=2.0):
    """Rows of weight picked by integer `indices` of any shape: shape indices.shape + (dim,).

    padding_idx: that row's lookups pass no gradient to it. max_norm: first, in place
    (as PyTorch), every looked-up row whose norm_type-norm exceeds max_norm is scaled
    to norm max_norm.
    """
    indices = _on_device(indices, weight)
    flat = ops.checked_indices(ops.reshape(indices, (-1,)), weight.shape[0], "embedding", 0, negative=False,
                                like=weight)
    flat = Tensor._wrap(flat, weight.device)
    if max_norm is not None:
        _renormalize_rows(weight, flat, max_norm, norm_type)
    if padding_idx is not None:
        padding_idx = padding_idx % weight.shape[0]
    if not hasattr(weight, "_levels") and not hasattr(indices, "_levels"):  # one fused primitive (not under vmap)
        rows = apply(PRIMITIVES["embedding"], [weight, flat], {"padding_idx": padding_idx})
        return ops.reshape(rows, indices.shape + (weight.shape[1],))
    rows = ops.take_unchecked(weight, flat, axis=0)
    if padding_idx is not None:
        rows = ops.where(ops.expand_dims(flat != padding_idx, axis=1), rows, rows.detach())
    return ops.reshape(rows, indices.shape + (weight.shape[1],))


def _renormalize_rows(weight, flat, max_norm, norm_type):
    with no_grad():
        norms = ops.sum(ops.abs(weight) ** norm_type, axis=1) ** (1 / norm_type)
        used = ops.scatter_add(ops.ones_like(ops.astype(flat, weight.dtype)), flat, axis=0, size=weight.shape[0]) > 0
        scale = ops.where(used & (norms > max_norm), max_norm / (norms + 1e-7), 1.0)
        weight.mul_(ops.expand_dims(scale, axis=1))


# In polygrad/functional/losses.py: the losses.
from .losses import (  # noqa: E402,F401 (re-exported: F.cross_entropy, F.mse_loss, ...)
    _on_device, mse_loss, nll_loss, cross_entropy, binary_cross_entropy_with_logits, one_hot, l1_loss,
    smooth_l1_loss, huber_loss, binary_cross_entropy, kl_div, poisson_nll_loss, gaussian_nll_loss,
    cosine_embedding_loss, margin_ranking_loss, pairwise_distance, cosine_similarity, triplet_margin_loss,
    ctc_loss, hinge_embedding_loss, soft_margin_loss, multilabel_soft_margin_loss, multi_margin_loss,
)
