"""Activation functions with PyTorch's names, arguments and defaults (exported by polygrad.functional).

Each is a composite of primitives (erf, log_sigmoid and softplus are primitives of their
own), so forward mode, reverse mode and grad of grad follow from the rule table. Branches
that are not taken are fed safe inputs first (the "double where"), so no NaN or inf leaks
into a gradient.
"""


from ..namespace import ops

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def gelu(x, approximate="none"):
    """x Phi(x): exact with erf (PyTorch's default), or the tanh approximation with approximate='tanh'.
    One fused primitive (polygrad/primitives/fused.py)."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return ops.gelu(x, approximate=approximate)


def _negative_part_expm1(x, alpha, scale=1.0):
    """alpha (exp(x / scale) - 1) for x <= 0 and 0 elsewhere (NaN included): exp sees x <= 0 only.
    At x == 0 the slope is the negative branch's, alpha / scale (PyTorch's elu_backward takes
    x <= 0 there, and the positive branch for NaN)."""
    return ops.expm1(ops.where(x <= 0, x, 0.0) * (1 / scale)) * alpha


def elu(x, alpha=1.0):
    return ops.where(x <= 0, _negative_part_expm1(x, alpha), x)


def selu(x):
    return elu(x, _SELU_ALPHA) * _SELU_SCALE


def celu(x, alpha=1.0):
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0")
    return ops.relu(x) + _negative_part_expm1(x, alpha, alpha)


def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold, as PyTorch."""
    scaled = x * beta if beta != 1 else x
    smooth = ops.softplus(scaled) * (1 / beta) if beta != 1 else ops.softplus(scaled)
    return ops.where(scaled > threshold, x, smooth)


def silu(x):
    return x * ops.sigmoid(x)


def mish(x):
    return x * ops.tanh(ops.softplus(x))


def hardtanh(x, min_val=-1.0, max_val=1.0):
    """x held within [min_val, max_val]; unlike clamp, the slope is 0 at the bounds themselves
    (PyTorch's hardtanh_backward passes the gradient only strictly inside)."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val {min_val} must not exceed max_val {max_val}")
    return ops.where(x <= min_val, min_val, ops.where(x >= max_val, max_val, x))


def relu6(x):
    return hardtanh(x, 0.0, 6.0)


def softsign(x):
    return x / (ops.abs(x) + 1)


def logsigmoid(x):
    return ops.log_sigmoid(x)


def hardsigmoid(x):
    """relu6(x + 3) / 6: slope 1/6 strictly inside (-3, 3), 0 at the bounds (as PyTorch)."""
    return relu6(x + 3.0) * (1 / 6)


def hardswish(x):
    """x relu6(x + 3) / 6; with hardsigmoid's zero slope at its bounds the slope is PyTorch's:
    0 up to -3, x / 3 + 1/2 strictly inside, 1 from 3 on."""
    return x * hardsigmoid(x)


def prelu(x, weight):
    """max(0, x) + weight min(0, x), one weight per channel (axis 1; axis 0 of a 1-D input) or one shared."""
    if weight.size != 1:
        channel_axis = 1 if x.ndim >= 2 else 0
        if x.shape[channel_axis] != weight.size:
            raise ValueError(f"prelu: {weight.size} weights for {x.shape[channel_axis]} channels of input "
                             f"shape {tuple(x.shape)}")
        weight = ops.reshape(weight, (-1,) + (1,) * (x.ndim - channel_axis - 1))
    return ops.where(x > 0, x, x * weight)  # at x == 0 the slope is weight's, as PyTorch's prelu


def softmin(x, dim=None):
    return ops.softmax(-x, axis=-1 if dim is None else dim)


def glu(x, dim=-1):
    """a * sigmoid(b), a and b the two halves of x along `dim`."""
    axis = dim % x.ndim
    if x.shape[axis] % 2:
        raise ValueError(f"glu: dimension {dim} of input shape {tuple(x.shape)} must have an even size")
    half = x.shape[axis] // 2
    lead = (slice(None),) * axis
    return x[lead + (slice(0, half),)] * ops.sigmoid(x[lead + (slice(half, None),)])


def threshold(x, threshold, value):
    """x where x > threshold, else value."""
    return ops.where(x > threshold, x, value)


def tanhshrink(x):
    return x - ops.tanh(x)


def softshrink(x, lambd=0.5):
    if lambd < 0:
        raise ValueError(f"softshrink: lambd must be at least 0, got {lambd}")
    return ops.where(x > lambd, x - lambd, ops.where(x < -lambd, x + lambd, 0.0))


def hardshrink(x, lambd=0.5):
    return ops.where(ops.abs(x) > lambd, x, 0.0)
