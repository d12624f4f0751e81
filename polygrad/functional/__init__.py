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
from ..namespace.ops import asarray
from ..namespace.creation import ones, zeros
from ..core.engine import apply, no_grad, pullback, unbroadcast
from ..core.errors import ShapeError, describe
from ..namespace.ops import signature
from ..primitives.table import PRIMITIVES
from ..namespace.random import default_generator
from ..namespace.standard import broadcast_arrays
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


def relu(x):
    return ops.relu(x)


def leaky_relu(x, negative_slope=0.01):
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


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the trailing axes `normalized_shape`, then scale and shift elementwise."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if x.shape[x.ndim - len(shape):] != shape:
        raise ShapeError(f"layer_norm: normalized_shape {shape} does not match the end of {describe(x)}")
    if weight is None or bias is None:  # the fused primitive takes both: a missing one is the identity
        with no_grad():
            weight = ops.ones_like(x[(0,) * (x.ndim - len(shape))]) if weight is None else weight
            bias = ops.zeros_like(weight) if bias is None else bias
    return ops.layer_norm(x, weight, bias, n=len(shape), eps=eps)


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


def _on_device(value, like):
    """Lists and host arrays join `like`'s device; Tensors stay where they are (mismatches raise)."""
    return value if isinstance(value, Tensor) else asarray(value, device=like.device)


def _float_target(target, like):
    """A regression or binary target in `like`'s dtype (the standard does not mix ints and floats)."""
    return ops.astype(_on_device(target, like), like.dtype, copy=False)


# ---------------------------------------------------------------- losses
def _reduce(loss, reduction):
    if reduction == "mean":
        return ops.mean(loss)
    if reduction == "sum":
        return ops.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def mse_loss(input, target, reduction="mean"):
    diff = input - _float_target(target, input)
    return _reduce(diff * diff, reduction)


def _picked(log_probs, target, operation):
    """log_probs (N, C, ...) at the class indices target (N, ...): shape (N, ...)."""
    if target.shape != log_probs.shape[:1] + log_probs.shape[2:]:
        raise ShapeError(f"expected class indices of shape {log_probs.shape[:1] + log_probs.shape[2:]} "
                         f"for input {describe(log_probs)}, got {describe(target)}")
    classes = ops.checked_indices(target, log_probs.shape[1], f"{operation}: class target", 1, negative=False,
                                  like=log_probs)
    picked = ops.pick_along_axis(log_probs, ops.expand_dims(Tensor._wrap(classes, target.device), axis=1), axis=1)
    return ops.squeeze(picked, axis=1)


def _class_loss(log_probs, target, weight, ignore_index, operation):
    """-log p of each entry's class; each entry's weight: weight[class], 0 where target is
    ignore_index (None when every entry weighs 1); and the 0/1 mask of entries kept (None
    when none is ignored). Ignored entries are exempt from the bound check, as in
    PyTorch; finding them costs one reduction."""
    if weight is not None and tuple(weight.shape) != (log_probs.shape[1],):
        raise ShapeError(f"{operation}: weight must hold one number per class ({log_probs.shape[1]}), "
                         f"got {describe(weight)}")
    ignored = target == ignore_index
    if not bool(ops.any(ignored)):
        loss = -_picked(log_probs, target, operation)
        return loss, None if weight is None else _class_weights(weight, target), None
    safe = ops.where(ignored, 0, target)
    loss = -_picked(log_probs, safe, operation)
    kept = ops.astype(ops.logical_not(ignored), log_probs.dtype)
    return loss, kept if weight is None else _class_weights(weight, safe) * kept, kept


def _class_weights(weight, classes):
    """weight[classes] for classes already checked to lie in [0, C)."""
    flat = ops.pick_along_axis(weight, ops.reshape(classes, (-1,)), axis=0)
    return ops.reshape(flat, classes.shape)


def _reduce_weighted(loss, weights, reduction):
    """PyTorch's weighted mean: the sum over the sum of the entries' weights."""
    if weights is None or reduction != "mean":
        return _reduce(loss, reduction)
    total = ops.sum(weights)
    # Every entry ignored: the mean is 0/0 = NaN, but its gradient 0 (as PyTorch's), not inf * 0
    empty = total == 0
    return ops.where(empty, math.nan, ops.sum(loss) / ops.where(empty, 1.0, total))


def _one_sample(loss_function, input, target, reduction, *options):
    """loss_function on one unbatched sample (input (C,)) as on a batch of one, its axis then dropped."""
    loss = loss_function(ops.expand_dims(input, axis=0), ops.expand_dims(target, axis=0), reduction, *options)
    return loss[0] if reduction == "none" else loss


def nll_loss(log_probs, target, reduction="mean", weight=None, ignore_index=-100):
    """Negative log-likelihood of class indices `target` under log_probs (N, C, ...):
    -weight[target] log_probs[target], entries equal to ignore_index left out.
    One sample: log_probs (C,) and a 0-d target."""
    if log_probs.ndim == 1:
        return _one_sample(nll_loss, log_probs, _on_device(target, log_probs), reduction, weight, ignore_index)
    target = _on_device(target, log_probs)
    fused = _fused_nll(log_probs, target, weight, ignore_index, reduction, "nll_loss")
    if fused is not None:
        return fused
    loss, weights, _ = _class_loss(log_probs, target, weight, ignore_index, "nll_loss")
    return _reduce_weighted(loss if weights is None else loss * weights, weights, reduction)


def cross_entropy(logits, target, reduction="mean", label_smoothing=0.0, weight=None, ignore_index=-100):
    """Softmax cross-entropy of logits (N, C, ...) against class indices (integer
    target of shape (N, ...)) or class probabilities (floating target shaped like logits).

    With label_smoothing ε the target becomes (1 - ε) target + ε / C, as in PyTorch.
    weight (one per class) scales each class's terms; with class indices the mean
    divides by the summed weights of the entries, and entries equal to ignore_index
    are left out, as in PyTorch. One sample: logits (C,) and a 0-d or (C,) target.
    """
    target = _on_device(target, logits)
    if logits.ndim == 1:
        return _one_sample(cross_entropy, logits, target, reduction, label_smoothing, weight, ignore_index)
    fused = _fused_cross_entropy(logits, target, reduction, label_smoothing, weight, ignore_index)
    if fused is not None:
        return fused
    log_probs = ops.log_softmax(logits, axis=1)
    classes = logits.shape[1]
    class_axis = (1, classes) + (1,) * (logits.ndim - 2)
    if target.xp.isdtype(target.array.dtype, "integral"):
        fused = None if label_smoothing else _fused_nll(log_probs, target, weight, ignore_index, reduction,
                                                         "cross_entropy")
        if fused is not None:
            return fused
        loss, weights, kept = _class_loss(log_probs, target, weight, ignore_index, "cross_entropy")
        if weights is not None:
            loss = loss * weights
        if label_smoothing:
            weighted = log_probs if weight is None else log_probs * ops.reshape(weight, class_axis)
            uniform = -ops.sum(weighted, axis=1) / classes
            if kept is not None:
                uniform = uniform * kept
            loss = loss * (1 - label_smoothing) + uniform * label_smoothing
        return _reduce_weighted(loss, weights, reduction)
    if target.shape != logits.shape:
        raise ShapeError(f"cross_entropy: probability targets must match the logits {describe(logits)}, "
                         f"got {describe(target)}")
    if label_smoothing:
        target = target * (1 - label_smoothing) + label_smoothing / classes
    if weight is not None:
        target = target * ops.reshape(weight, class_axis)
    return _reduce(-ops.sum(target * log_probs, axis=1), reduction)


def _fused_nll(log_probs, target, weight, ignore_index, reduction, operation):
    """(N, C) log-probabilities and class indices (N,) as one primitive (polygrad/primitives/fused.py), with
    the composite's checks; None for the rest (the composite: other shapes, a weight that requires
    grad, vmap)."""
    xp = target.xp
    if (log_probs.ndim != 2 or reduction not in ("mean", "sum", "none") or target.shape != log_probs.shape[:1]
            or hasattr(log_probs, "_levels") or hasattr(target, "_levels") or not xp.isdtype(target.array.dtype, "integral")
            or (weight is not None and (weight.requires_grad or tuple(weight.shape) != (log_probs.shape[1],)))):
        return None
    ops.checked_indices(ops.where(target == ignore_index, 0, target), log_probs.shape[1], f"{operation}: class target",
                        1, negative=False, like=log_probs)  # ignored entries are exempt, as in PyTorch
    if weight is None:
        weight = ones(log_probs.shape[1], dtype=log_probs.dtype, device=log_probs.device)
    return apply(PRIMITIVES["nll_loss"], [log_probs, target, weight], {"ignore_index": ignore_index,
                                                                         "reduction": reduction})


def _fused_cross_entropy(logits, target, reduction, label_smoothing, weight, ignore_index):
    """The common case, (N, C) logits and class indices with nothing weighted, smoothed
    or ignored, as one primitive; None for everything else (the composite above)."""
    xp = target.xp
    if hasattr(logits, "_levels") or hasattr(target, "_levels"):  # batched under vmap (polygrad.autodiff.batching.Batched)
        from ..autodiff.batching import cross_entropy

        return cross_entropy(logits, target, reduction, label_smoothing, weight, ignore_index)
    if (logits.ndim != 2 or weight is not None or label_smoothing or reduction not in ("mean", "sum", "none")
            or not xp.isdtype(target.array.dtype, "integral") or target.shape != logits.shape[:1]):
        return None
    if target.size and (ignore_index >= 0 or int(xp.min(target.array)) < 0):
        return None  # some entries may be ignore_index: the composite leaves them out
    classes = ops.checked_indices(target, logits.shape[1], "cross_entropy: class target", 1, negative=False,
                                  like=logits)
    rows = xp.arange(logits.shape[0], dtype=classes.dtype, device=logits.device.native)
    flat = Tensor._wrap(rows * logits.shape[1] + classes, logits.device)
    return ops.softmax_cross_entropy(logits, flat, reduction=reduction)


def binary_cross_entropy_with_logits(logits, target, reduction="mean", pos_weight=None, weight=None):
    """-w [p y log σ(x) + (1 - y) log(1 - σ(x))] with p = pos_weight and w = weight (default 1),
    computed as p y softplus(-x) + (1 - y) softplus(x), which never takes the log of 0."""
    target = _float_target(target, logits)
    positive = target if pos_weight is None else target * pos_weight
    loss = positive * ops.softplus(-logits) + (1 - target) * ops.softplus(logits)
    return _reduce(_weighted(loss, weight), reduction)


def one_hot(indices, num_classes=-1):
    """PyTorch's one_hot: int64 with a new last axis of length num_classes (-1: the largest index + 1).

    Indices outside [0, num_classes) raise IndexError, as in PyTorch (they would match no class: a row of zeros).
    """
    if num_classes == -1:
        num_classes = int(ops.max(indices).item()) + 1
    ops.checked_indices(indices, num_classes, "one_hot", indices.ndim, negative=False)
    classes = indices.xp.arange(num_classes, dtype=indices.array.dtype, device=indices.device.native)
    return ops.astype(ops.expand_dims(indices, axis=-1) == Tensor._wrap(classes, indices.device), "int64")


# ---------------------------------------------------------------- more losses (PyTorch's names and defaults)
def _weighted(loss, weight):
    return loss if weight is None else loss * weight


def _xlogy(x, y):
    """x * log(y), 0 where x == 0 (the limit), with no NaN in the value or the gradient there."""
    nonzero = x != 0
    return ops.where(nonzero, x * ops.log(ops.where(nonzero, y, 1.0)), 0.0)


def l1_loss(input, target, reduction="mean"):
    return _reduce(ops.abs(input - _float_target(target, input)), reduction)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (beta = 0: L1)."""
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    size = ops.abs(input - _float_target(target, input))
    if beta == 0:
        return _reduce(size, reduction)
    return _reduce(ops.where(size < beta, size * size * (0.5 / beta), size - 0.5 * beta), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    """0.5 d^2 where |d| <= delta, else delta (|d| - 0.5 delta)."""
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    size = ops.abs(input - _float_target(target, input))
    return _reduce(ops.where(size <= delta, size * size * 0.5, (size - 0.5 * delta) * delta), reduction)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """-w [y log x + (1 - y) log(1 - x)] on probabilities x, as PyTorch: each log clamped at -100,
    and the gradient in x PyTorch's (x - y) / max(x (1 - x), 1e-12), finite at x = 0 and 1.

    The logs are taken of x detached (their clamp would zero the gradient at the ends) and
    x's gradient is added as (x - x.detach()) * slope, whose value is 0; it is a first
    derivative only (slope is detached too). y keeps the clamped logs' gradient.
    """
    target = _float_target(target, input)
    if target.shape != input.shape:
        raise ShapeError(f"binary_cross_entropy: target {describe(target)} must match input {describe(input)}")
    p = input.detach()
    # log p and log1p(-p) only where they are finite (log 0 would warn); -100 elsewhere
    log_p = ops.where(p > 0, ops.maximum(ops.log(ops.where(p > 0, p, 1.0)), -100.0), -100.0)
    log_q = ops.where(p < 1, ops.maximum(ops.log1p(ops.where(p < 1, -p, 0.0)), -100.0), -100.0)
    slope = (p - target.detach()) / ops.maximum(p * (1 - p), 9.999999960041972e-13)  # PyTorch's float 1e-12
    loss = (target - 1) * log_q - target * log_p + (input - p) * slope
    return _reduce(_weighted(loss, weight), reduction)


def kl_div(input, target, reduction="mean", log_target=False):
    """Pointwise KL divergence target (log target - input), input being log-probabilities.

    reduction="batchmean" divides the sum by the batch size (the true KL
    divergence per sample); "mean" divides by the number of elements, as in PyTorch.
    """
    target = _float_target(target, input)
    if log_target:
        loss = ops.exp(target) * (target - input)
    else:
        loss = _xlogy(target, target) - target * input
    if reduction == "batchmean":
        return ops.sum(loss) / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)


def poisson_nll_loss(input, target, log_input=True, full=False, eps=1e-8, reduction="mean"):
    """exp(input) - target input (log_input), or input - target log(input + eps);
    full adds Stirling's target log target - target + log(2 pi target) / 2 where target > 1."""
    target = _float_target(target, input)
    loss = ops.exp(input) - target * input if log_input else input - target * ops.log(input + eps)
    if full:
        safe = ops.where(target > 1, target, 1.0)
        stirling = safe * ops.log(safe) - safe + ops.log(safe * (2 * math.pi)) * 0.5
        loss = loss + ops.where(target > 1, stirling, 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """(log var + (input - target)^2 / var) / 2 (+ log(2 pi) / 2 with full).

    var is input's shape, or that shape with a last axis of 1 or without it
    (one variance per sample). As in PyTorch, var is clamped at eps for the
    value while its gradient passes the clamp unchanged.
    """
    target = _float_target(target, input)
    var = _float_target(var, input)
    if var.ndim == input.ndim - 1 and var.shape == input.shape[:-1]:
        var = ops.expand_dims(var, axis=-1)
    if var.ndim != input.ndim or any(v not in (1, n) for v, n in zip(var.shape, input.shape)):
        raise ShapeError(f"gaussian_nll_loss: var {describe(var)} does not fit input {describe(input)}")
    if eps < 0 or bool(ops.any(var < 0)):
        raise ValueError("gaussian_nll_loss: var has negative entries (or eps < 0)")
    var = var + (ops.maximum(var, eps) - var).detach()
    diff = input - target
    loss = (ops.log(var) + diff * diff / var) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where it is -1; cosine over the last axis."""
    target = _float_target(target, input1)
    norms = ops.sqrt((ops.sum(input1 * input1, axis=-1) + 1e-12) * (ops.sum(input2 * input2, axis=-1) + 1e-12))
    cos = ops.sum(input1 * input2, axis=-1) / norms
    loss = ops.where(target == 1, 1 - cos, ops.maximum(cos - margin, 0.0))
    return _reduce(ops.where((target == 1) | (target == -1), loss, 0.0), reduction)


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """max(0, -target (x1 - x2) + margin): target 1 wants x1 ranked above x2, -1 below."""
    target = _float_target(target, input1)
    return _reduce(ops.maximum(-target * (input1 - input2) + margin, 0.0), reduction)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """The p-norm of x1 - x2 + eps over the last axis (eps keeps the gradient finite at x1 == x2)."""
    diff = ops.abs(x1 - x2 + eps)
    if p == math.inf:
        return ops.max(diff, axis=-1, keepdims=keepdim)
    return ops.sum(diff ** p, axis=-1, keepdims=keepdim) ** (1 / p)


def _clamped_norm(x, axis, eps):
    """The 2-norm over `axis` (kept), as torch.cosine_similarity uses it: its value clamped below at eps, its
    gradient the unclamped norm's (PyTorch clamps in place under no_grad), and 0 at the zero vector."""
    squares = ops.sum(x * x, axis=axis, keepdims=True)
    positive = squares > 0
    norm = ops.where(positive, ops.sqrt(ops.where(positive, squares, 1.0)), 0.0)
    return norm + (ops.maximum(norm, eps) - norm).detach()


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1/max(|x1|, eps) * x2/max(|x2|, eps)) over `dim`: each input divided by its own clamped norm
    first, as torch 2.x does, so the result stays in [-1, 1]. The inputs broadcast before the norms are taken."""
    x1, x2 = broadcast_arrays(x1, x2)
    return ops.sum(x1 / _clamped_norm(x1, dim, eps) * (x2 / _clamped_norm(x2, dim, eps)), axis=dim)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False, reduction="mean"):
    """max(d(a, p) - d(a, n) + margin, 0) with d the p-norm distance; swap uses min(d(a, n), d(p, n))."""
    near = pairwise_distance(anchor, positive, p, eps)
    far = pairwise_distance(anchor, negative, p, eps)
    if swap:
        far = ops.minimum(far, pairwise_distance(positive, negative, p, eps))
    return _reduce(ops.maximum(near - far + margin, 0.0), reduction)


# ---------------------------------------------------------------- CTC
def _host_ints(value, name):
    """Lengths or labels as a list of Python ints (read from the host once per call); one
    number (an int or a 0-d array, one unbatched sequence's length) is a list of one."""
    if hasattr(value, "tolist"):  # Tensors and host arrays
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        value = [value]
    if not all(_is_int(v) for v in value):
        raise TypeError(f"ctc_loss: {name} must hold integers, got {value!r}")
    return [int(v) for v in value]


def _logsumexp_of(terms):
    """log(sum(exp(terms))) elementwise over a list of same-shaped tensors, exact where every
    term is -inf: such entries are computed on zeros and then set to -inf, so no NaN reaches
    the gradient from the unreachable cells of the CTC lattice (the "double where")."""
    top = terms[0]
    for t in terms[1:]:
        top = ops.maximum(top, t)
    dead = top == -math.inf
    top = ops.where(dead, 0.0, top).detach()
    total = ops.exp(ops.where(dead, 0.0, terms[0]) - top)
    for t in terms[1:]:
        total = total + ops.exp(ops.where(dead, 0.0, t) - top)
    return ops.where(dead, -math.inf, ops.log(total) + top)


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    """Connectionist temporal classification loss (Graves et al. 2006), as PyTorch's ctc_loss.

    log_probs (T, N, C) log-softmax outputs (or (T, C) for one sequence);
    targets (N, S) padded labels or one 1-D concatenation of all of them;
    input_lengths and target_lengths one integer per sequence. The loss of a
    sequence is -log of the total probability of every alignment (a path
    through the labels with blanks between and repeats) that collapses to its
    target. It is computed with the forward recursion in log space, vectorized
    over the batch and differentiated by the engine (the reverse pass is the
    backward recursion). reduction "mean" divides each loss by its target
    length, then averages over the batch; zero_infinity turns the infinite loss
    of an impossible alignment (input too short) and its gradient into 0.
    """
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs = ops.expand_dims(log_probs, axis=1)
    if log_probs.ndim != 3:
        raise ShapeError(f"ctc_loss: log_probs must be (T, N, C) or (T, C), got {describe(log_probs)}")
    steps, batch, classes = log_probs.shape
    input_lengths = _host_ints(input_lengths, "input_lengths")
    target_lengths = _host_ints(target_lengths, "target_lengths")
    labels = _host_ints(ops.reshape(_on_device(targets, log_probs), (-1,)), "targets")
    if len(input_lengths) != batch or len(target_lengths) != batch:
        raise ShapeError(f"ctc_loss: {batch} sequences in log_probs {describe(log_probs)}, but "
                         f"{len(input_lengths)} input_lengths and {len(target_lengths)} target_lengths")
    if any(not 0 <= n <= steps for n in input_lengths) or any(n < 0 for n in target_lengths):
        raise ValueError(f"ctc_loss: input_lengths {input_lengths} must lie in [0, {steps}] and target_lengths "
                         f"{target_lengths} be >= 0")
    padded = _on_device(targets, log_probs).ndim == (1 if unbatched else 2)
    width = len(labels) // batch if padded else max(target_lengths, default=0)
    if padded and max(target_lengths, default=0) > width:
        raise ShapeError(f"ctc_loss: target_lengths {target_lengths} exceed the padded targets' width {width}")
    if not padded and sum(target_lengths) != len(labels):
        raise ShapeError(f"ctc_loss: concatenated targets hold {len(labels)} labels, target_lengths sum to "
                         f"{sum(target_lengths)}")
    starts = [i * width for i in range(batch)] if padded else [sum(target_lengths[:i]) for i in range(batch)]
    sequences = [labels[s:s + n] for s, n in zip(starts, target_lengths)]
    if any(not 0 <= c < classes or c == blank for seq in sequences for c in seq):
        raise ValueError(f"ctc_loss: labels must be classes in [0, {classes}) other than the blank {blank}")
    # The extended label sequence: blank, l1, blank, l2, ..., blank (padded with blanks).
    size = 2 * width + 1
    extended = [[blank] * size for _ in sequences]
    skip = [[False] * size for _ in sequences]  # may a path jump from s - 2 to s (no blank between)?
    for ext, jump, seq in zip(extended, skip, sequences):
        for i, c in enumerate(seq):
            ext[2 * i + 1] = c
            jump[2 * i + 1] = i > 0 and seq[i - 1] != c
    device = log_probs.device
    index = ops.broadcast_to(asarray([extended], device=device), (steps, batch, size))
    emit = ops.take_along_axis(log_probs, index, axis=2)  # (T, N, 2S + 1): log p of each lattice label
    skip = asarray(skip, device=device)
    lengths = asarray(input_lengths, device=device)
    cells = asarray(list(range(size)), device=device)
    impossible = ops.full_like(emit[0], -math.inf)
    alpha = ops.where(cells < 2, emit[0], impossible)  # a path starts at the first blank or the first label
    alpha = ops.where(ops.expand_dims(lengths > 0, axis=1), alpha, ops.where(cells == 0, 0.0, impossible))
    column = impossible[:, :1]
    for t in range(1, steps):
        one_back = ops.concat([column, alpha[:, :-1]], axis=1)
        two_back = ops.where(skip, ops.concat([column, column, alpha[:, :-2]], axis=1), impossible)
        step = _logsumexp_of([alpha, one_back, two_back]) + emit[t]
        alpha = ops.where(ops.expand_dims(lengths > t, axis=1), step, alpha)  # sequences that ended keep theirs
    last = asarray([[2 * n, max(2 * n - 1, 0)] for n in target_lengths], device=device)
    ends = ops.take_along_axis(alpha, last, axis=1)
    ends = ops.where(asarray([[True, n > 0] for n in target_lengths], device=device), ends, impossible[:, :2])
    loss = -_logsumexp_of([ends[:, 0], ends[:, 1]])
    if zero_infinity:
        loss = ops.where(ops.isinf(loss), 0.0, loss)
    if reduction == "mean":
        divisors = asarray([max(n, 1) for n in target_lengths], dtype=log_probs.dtype, device=device)
        return ops.mean(loss / divisors)
    loss = _reduce(loss, reduction)
    return loss[0] if unbatched and reduction == "none" else loss


def hinge_embedding_loss(input, target, margin=1.0, reduction="mean"):
    """x where target is 1, max(0, margin - x) where it is -1 (both terms for other targets, as PyTorch)."""
    target = _float_target(target, input)
    return _reduce(ops.where(target != -1, input, 0.0) + ops.where(target != 1, ops.maximum(margin - input, 0.0), 0.0),
                   reduction)


def soft_margin_loss(input, target, reduction="mean"):
    """log(1 + exp(-y x)) for labels y of 1 or -1."""
    return _reduce(ops.softplus(-_float_target(target, input) * input), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, reduction="mean"):
    """Per sample, the mean over its C classes of -[y log σ(x) + (1 - y) log σ(-x)] (times weight)."""
    target = _float_target(target, input)
    loss = -(target * ops.log_sigmoid(input) + (1 - target) * ops.log_sigmoid(-input))
    return _reduce(ops.mean(_weighted(loss, weight), axis=-1), reduction)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, reduction="mean"):
    """Per sample of input (N, C) and class index target (N,): the mean over classes i of
    max(0, margin - x[target] + x[i]) ** p, the target's own class left out, times weight[target]."""
    if p not in (1, 2):
        raise ValueError(f"multi_margin_loss: p must be 1 or 2, got {p}")
    if input.ndim not in (1, 2):
        raise ShapeError(f"multi_margin_loss: expected input (N, C) or (C,), got {describe(input)}")
    unbatched = input.ndim == 1
    x = ops.expand_dims(input, axis=0) if unbatched else input
    target = ops.reshape(_on_device(target, x), (-1,))
    picked = ops.expand_dims(_picked(x, target, "multi_margin_loss"), axis=1)
    gaps = ops.maximum(x - picked + margin, 0.0)
    classes = asarray(list(range(x.shape[1])), device=x.device)
    gaps = ops.where(classes == ops.expand_dims(target, axis=1), 0.0, gaps ** p)
    if weight is not None:
        if tuple(weight.shape) != (x.shape[1],):
            raise ShapeError(f"multi_margin_loss: weight must hold one number per class ({x.shape[1]}), "
                             f"got {describe(weight)}")
        gaps = gaps * ops.expand_dims(_class_weights(weight, target), axis=1)
    loss = ops.mean(gaps, axis=1)
    return _reduce(loss[0] if unbatched else loss, reduction)
