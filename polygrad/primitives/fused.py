"""Fused primitives: layers real models spend their time in, one primitive each, with backend kernels.

Each entry here is an ordinary row of the rule table (forward, vjp, jvp) whose
rules are the PORTABLE definition: written against the Array API (and polygrad's
own namespace, so grad of grad works), what every backend without a kernel runs.
A backend may add a KERNEL for a row: `Backend.kernels()` names functions the
namespace then carries as `xp.kernel_<name>` (forward) and `xp.kernel_<name>_vjp`
(conv: `_vjp_input` and `_vjp_weight`, one per gradient); on raw arrays of that
backend the row runs them instead (`primitives.kernel_or`), unless a kernel returns
None for inputs it has no fast path for. Recorded backward passes (`create_graph=True`,
where xp is polygrad's namespace) and forward mode always run the portable rules.
tests/test_fused_kernels.py holds every kernel equal to its portable definition,
forward and gradient, on every backend. The same mechanism serves a few existing
rows of table.py (linear, softmax, log_softmax, softmax_cross_entropy, relu's vjp) and the optimizers'
in-place updates (`kernel_<optimizer>_update`, polygrad/optim/kernels.py); fused_rnn.py holds the GRU and RNN rows,
fused_pool.py average pooling and transposed convolution, fused_attention.py scaled dot-product attention,
fused_norm.py RMS norm, fused_loss.py cross-entropy.

What each saves for backward: nothing beyond its inputs (the tape keeps those
anyway) — the backward recomputes what it needs (Phi(x) for gelu, which the numpy
kernel reads off the output as out / x, mean and spread for layer_norm, the windows
for conv, the attention probabilities) — except
lstm_sequence, whose output carries the gate activations (as torch's LSTM saves
them), and max_pool, whose torch and numpy kernels keep the maxima's positions in a `Saved`
(below) so that its forward runs once (the portable backward finds them again).
"""

import math

from .table import (_linear, _log_softmax, _log_softmax_vjp, _relu_vjp, _sigmoid, _softmax_cross_entropy,
                    _softmax_cross_entropy_vjp, _softmax_of, _softmax_vjp, defprim)
from .table import kernel_or as _run

_SQRT_HALF = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_TANH_SCALE = math.sqrt(2 / math.pi)
_TANH_CUBIC = 0.044715


class Saved:
    """What a kernel's forward leaves for its backward beyond the output (max pooling's argmax
    positions: PyTorch's saved tensors). A primitive has one output; this rides in the operation's
    params, so it lives exactly as long as the recorded operation. `keep(out, value)` ties the value
    to the output array it was made with; `for_output(out)` gives it back only for that same array,
    else None, and the backward then recomputes (a forward that kept nothing, vmap's per-sample
    calls, a recorded backward). Portable rules read one only where their row says so (attention with
    dropout, fused_attention.py; cross_entropy where no kernel runs, fused_loss.py)."""

    __slots__ = ("out", "value")

    def __init__(self):
        self.out = self.value = None

    def keep(self, out, value):
        self.out, self.value = out, value

    def for_output(self, out):
        return self.value if self.out is out else None

    def __repr__(self):
        return "Saved()"


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


def _gelu_vjp(xp, g, out, x, approximate):
    """out: the forward's output, for kernels that read Phi(x) off it (the row saves x and out anyway)."""
    return g * _gelu_slope(xp, x, approximate)


defprim("gelu", lambda xp, x, *, approximate="none": _run(xp, "gelu", _gelu, x, approximate),
        vjp=[lambda xp, g, out, x, approximate: _run(xp, "gelu_vjp", _gelu_vjp, g, out, x, approximate)],
        jvp=[lambda xp, t, out, x, approximate: t * _gelu_slope(xp, x, approximate)],
        doc="x Phi(x), Phi the standard normal CDF (approximate='none', through erf), or PyTorch's tanh form.",
        fresh=True)
PORTABLE = {"gelu": (_gelu, _gelu_vjp),  # name -> (forward, vjp) portable definitions, for the tests
            "softmax": (_softmax_of, _softmax_vjp), "log_softmax": (_log_softmax, _log_softmax_vjp),
            "relu": (None, _relu_vjp),  # relu's forward is one maximum everywhere: only its vjp has kernels
            "linear": (_linear, None),  # its gradients are plain GEMMs: a forward kernel only
            "softmax_cross_entropy": (_softmax_cross_entropy, _softmax_cross_entropy_vjp)}


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


# ---------------------------------------------------------------- convolution
# On an input already padded (the composite pads, in any padding mode): im2col by the windows
# view, one GEMM per group forward and one per gradient, col2im for the input's gradient.
def _conv_layout(x, weight, groups):
    """(batch, groups, channels per group, out channels per group, kernel, the windows' permutation)."""
    n = weight.ndim - 2
    order = (1, 2) + tuple(range(3 + n, 3 + 2 * n)) + (0,) + tuple(range(3, 3 + n))
    return x.shape[0], groups, weight.shape[1], weight.shape[0] // groups, tuple(weight.shape[2:]), order


def _conv_columns(xp, x, weight, stride, dilation, groups):
    """x's windows as (groups, taps per group, batch * positions), and the output positions."""
    batch, groups, per_in, _, kernel, order = _conv_layout(x, weight, groups)
    cols = xp.windows(x, kernel=kernel, stride=stride, dilation=dilation)
    out = tuple(cols.shape[2:2 + len(kernel)])
    cols = xp.reshape(cols, (batch, groups, per_in) + out + kernel)
    return xp.reshape(xp.permute_dims(cols, order), (groups, per_in * math.prod(kernel), -1)), out


def _conv(xp, x, weight, bias, stride, dilation, groups):
    batch, groups, _, per_out, kernel, _ = _conv_layout(x, weight, groups)
    cols, out = _conv_columns(xp, x, weight, stride, dilation, groups)
    y = xp.matmul(xp.reshape(weight, (groups, per_out, -1)), cols)  # (groups, out/groups, batch * positions)
    if bias is not None:  # None: the bias-free convolution transposed convolution's gradient needs
        y = y + xp.reshape(bias, (groups, per_out, 1))
    n = len(kernel)
    y = xp.permute_dims(xp.reshape(y, (groups, per_out, batch) + out), (2, 0, 1) + tuple(range(3, 3 + n)))
    return xp.reshape(y, (batch, groups * per_out) + out)


def _conv_grad_matrix(xp, g, groups, per_out):
    """g (N, O, *out) as (groups, O/groups, N * positions), the layout of the forward's GEMM."""
    n = g.ndim - 2
    g = xp.reshape(g, (g.shape[0], groups, per_out) + tuple(g.shape[2:]))
    return xp.reshape(xp.permute_dims(g, (1, 2, 0) + tuple(range(3, 3 + n))), (groups, per_out, -1))


def _conv_grad_input(xp, g, x, weight, stride, dilation, groups):
    return _conv_adjoint(xp, g, tuple(x.shape), weight, stride, dilation, groups)


def _conv_adjoint(xp, g, shape, weight, stride, dilation, groups):
    """conv's adjoint in its input: g (N, O, *out) taken back onto an input of `shape` by one GEMM per
    group and col2im (transposed convolution is this, cropped: fused_pool.py)."""
    batch, groups, per_in, per_out, kernel, order = _conv_layout(g, weight, groups)
    out = tuple(g.shape[2:])
    w = xp.reshape(weight, (groups, per_out, -1))
    grad_cols = xp.matmul(xp.matrix_transpose(w), _conv_grad_matrix(xp, g, groups, per_out))
    grad_cols = xp.reshape(grad_cols, (groups, per_in) + kernel + (batch,) + out)
    inverse = [0] * len(order)
    for i, axis in enumerate(order):
        inverse[axis] = i
    grad_cols = xp.reshape(xp.permute_dims(grad_cols, tuple(inverse)), (batch, groups * per_in) + out + kernel)
    return xp.col2im(grad_cols, shape=shape, kernel=kernel, stride=stride, dilation=dilation)


def _conv_grad_weight(xp, g, x, weight, stride, dilation, groups):
    per_out = weight.shape[0] // groups
    cols, _ = _conv_columns(xp, x, weight, stride, dilation, groups)
    grad = xp.matmul(_conv_grad_matrix(xp, g, groups, per_out), xp.matrix_transpose(cols))
    return xp.reshape(grad, tuple(weight.shape))


def _conv_vjp_portable(xp, g, x, weight, bias, stride, dilation, groups):
    """All three gradients (the tests' reference); the rules below ask only for those needed."""
    return [_conv_grad_input(xp, g, x, weight, stride, dilation, groups),
            _conv_grad_weight(xp, g, x, weight, stride, dilation, groups),
            xp.sum(g, axis=(0,) + tuple(range(2, g.ndim)))]


def _conv_jvp(xp, tangents, out, x, weight, bias, stride, dilation, groups):
    t_x, t_weight, t_bias = tangents  # affine: linear in x and weight, plus the bias
    return (_conv(xp, t_x, weight, t_bias, stride, dilation, groups)
            + _conv(xp, x, t_weight, xp.zeros_like(t_bias), stride, dilation, groups))


defprim("conv", lambda xp, x, weight, bias, *, stride, dilation, groups:
        _run(xp, "conv", _conv, x, weight, bias, stride, dilation, groups),
        vjp=[lambda xp, g, out, x, weight, bias, stride, dilation, groups:  # one rule per input: a first
             _run(xp, "conv_vjp_input", _conv_grad_input, g, x, weight, stride, dilation, groups),  # layer's
             lambda xp, g, out, x, weight, bias, stride, dilation, groups:  # input gradient is never made
             _run(xp, "conv_vjp_weight", _conv_grad_weight, g, x, weight, stride, dilation, groups),
             lambda xp, g, out, x, weight, bias, stride, dilation, groups:
             xp.sum(g, axis=(0,) + tuple(range(2, g.ndim)))],
        jvp=_conv_jvp,
        doc="Cross-correlation of a padded (N, C, *spatial) x with weight (O, C/groups, *kernel), plus bias (O,); "
            "saves nothing beyond its inputs (the backward reads the windows again).",
        fresh=True)
PORTABLE["conv"] = (_conv, _conv_vjp_portable)


# ---------------------------------------------------------------- max pooling
# Over an input padded with -inf. The gradient goes to the FIRST maximum of each window in
# row-major window order, as PyTorch's: the window's argmax as a one-hot, added back by col2im.
def _max_pool(xp, x, kernel, stride, dilation, saved=None):
    cols = xp.windows(x, kernel=kernel, stride=stride, dilation=dilation)
    return xp.max(cols, axis=tuple(range(cols.ndim - len(kernel), cols.ndim)))


def _first_maximum(xp, x, kernel, stride, dilation, dtype):
    """A one-hot (..., taps) in `dtype` at each window's first maximum, and the windows' leading shape.
    A window holding NaN (its maximum is NaN) picks its last NaN, as PyTorch's CPU kernel does: the
    candidates are the taps equal to the maximum, or NaN (in a NaN window, only the NaNs), numbered by
    one running count; the first is the one counted 1, the last the one counted the window's total."""
    cols = xp.windows(x, kernel=kernel, stride=stride, dilation=dilation)
    lead = tuple(cols.shape[:cols.ndim - len(kernel)])
    flat = xp.reshape(cols, lead + (math.prod(kernel),))
    peak = xp.max(flat, axis=-1, keepdims=True)
    hit = xp.astype((flat == peak) | xp.isnan(flat), dtype)
    count = xp.cumulative_sum(hit, axis=-1)
    chosen = xp.where(xp.isnan(peak), count[..., -1:], xp.ones_like(peak, dtype=dtype))
    return hit * xp.astype(count == chosen, dtype), lead


def _max_pool_vjp_portable(xp, g, out, x, kernel, stride, dilation, saved=None):
    hit, lead = _first_maximum(xp, x, kernel, stride, dilation, g.dtype)
    grad_cols = xp.reshape(hit * xp.expand_dims(g, axis=-1), lead + tuple(kernel))
    return xp.col2im(grad_cols, shape=tuple(x.shape), kernel=kernel, stride=stride, dilation=dilation)


def _max_pool_jvp(xp, t, x, kernel, stride, dilation):
    """The tangent at each window's first maximum."""
    hit, lead = _first_maximum(xp, x, kernel, stride, dilation, t.dtype)
    t_cols = xp.reshape(xp.windows(t, kernel=kernel, stride=stride, dilation=dilation), lead + (hit.shape[-1],))
    return xp.sum(t_cols * hit, axis=-1)


defprim("max_pool", lambda xp, x, *, kernel, stride, dilation, saved=None:
        _run(xp, "max_pool", _max_pool, x, kernel, stride, dilation, saved),
        vjp=[lambda xp, g, out, x, kernel, stride, dilation, saved=None:
             _run(xp, "max_pool_vjp", _max_pool_vjp_portable, g, out, x, kernel, stride, dilation, saved)],
        jvp=[lambda xp, t, out, x, kernel, stride, dilation, saved=None:
             _max_pool_jvp(xp, t, x, kernel, stride, dilation)],
        doc="Window maxima of a (-inf padded) x over its last len(kernel) axes; the gradient goes to each "
            "window's first maximum, as PyTorch's. saved: a fresh Saved() per call lets a kernel keep the "
            "maxima's positions for the backward.",
        fresh=True)


PORTABLE["max_pool"] = (_max_pool, _max_pool_vjp_portable)


# ---------------------------------------------------------------- LSTM layer, whole sequence
# One primitive per layer and direction: the loop over time runs on raw arrays, not as a dozen
# recorded ops per step. Its output (L, N, 6H) holds per step [h, c, i, f, g, o]: h and c are the
# results, the gate activations what the backward needs, kept instead of recomputing the recurrent
# matmuls (torch keeps the same). The backward is backpropagation through time, with the recurrent
# weight's gradient as ONE matmul over all steps.
def _lstm_sequence(xp, gi, h0, c0, weight_hh, bias_hh):
    size = h0.shape[-1]
    w = xp.matrix_transpose(weight_hh)
    h, c, steps = h0, c0, []
    for t in range(gi.shape[0]):
        gates = gi[t, ...] + xp.matmul(h, w) + bias_hh
        act = _sigmoid(xp, gates)
        i, f, o = act[..., :size], act[..., size:2 * size], act[..., 3 * size:]
        g = xp.tanh(gates[..., 2 * size:3 * size])
        c = f * c + i * g
        h = o * xp.tanh(c)
        steps.append(xp.concat([h, c, i, f, g, o], axis=-1))
    return xp.stack(steps, axis=0)


def _parts(step, size):
    return [step[..., k * size:(k + 1) * size] for k in range(6)]


def _previous(xp, out, first, part, size):
    """h or c (part 0 or 1) of every step's predecessor: the initial state, then out[:-1]'s."""
    return xp.concat([xp.expand_dims(first, axis=0), out[:-1, ..., part * size:(part + 1) * size]], axis=0)


def _lstm_sequence_vjp(xp, grad, out, gi, h0, c0, weight_hh, bias_hh):
    size = h0.shape[-1]
    c_before = _previous(xp, out, c0, 1, size)
    dh_next, dc_next, d_gates = None, None, [None] * gi.shape[0]
    for t in range(gi.shape[0] - 1, -1, -1):
        _, c, i, f, g, o = _parts(out[t, ...], size)
        dh, dc, g_i, g_f, g_g, g_o = _parts(grad[t, ...], size)
        if dh_next is not None:
            dh, dc = dh + dh_next, dc + dc_next
        tanh_c = xp.tanh(c)
        dc = dc + dh * o * (1 - tanh_c * tanh_c)
        d_gates[t] = xp.concat([(dc * g + g_i) * i * (1 - i), (dc * c_before[t, ...] + g_f) * f * (1 - f),
                                (dc * i + g_g) * (1 - g * g), (dh * tanh_c + g_o) * o * (1 - o)], axis=-1)
        dh_next, dc_next = xp.matmul(d_gates[t], weight_hh), dc * f
    d_gi = xp.stack(d_gates, axis=0)
    flat = xp.reshape(d_gi, (-1, d_gi.shape[-1]))
    h_before = xp.reshape(_previous(xp, out, h0, 0, size), (-1, size))
    return [d_gi, dh_next, dc_next, xp.matmul(xp.matrix_transpose(flat), h_before), xp.sum(flat, axis=0)]


def _lstm_sequence_jvp(xp, tangents, out, gi, h0, c0, weight_hh, bias_hh):
    t_gi, dh, dc, t_w, t_b = tangents
    size = h0.shape[-1]
    h_before, c_before = _previous(xp, out, h0, 0, size), _previous(xp, out, c0, 1, size)
    steps = []
    for t in range(gi.shape[0]):
        _, c, i, f, g, o = _parts(out[t, ...], size)
        d = (t_gi[t, ...] + xp.matmul(dh, xp.matrix_transpose(weight_hh))
             + xp.matmul(h_before[t, ...], xp.matrix_transpose(t_w)) + t_b)
        di, df = d[..., :size] * i * (1 - i), d[..., size:2 * size] * f * (1 - f)
        dg, do = d[..., 2 * size:3 * size] * (1 - g * g), d[..., 3 * size:] * o * (1 - o)
        dc = df * c_before[t, ...] + f * dc + di * g + i * dg
        tanh_c = xp.tanh(c)
        dh = do * tanh_c + o * (1 - tanh_c * tanh_c) * dc
        steps.append(xp.concat([dh, dc, di, df, dg, do], axis=-1))
    return xp.stack(steps, axis=0)


defprim("lstm_sequence", lambda xp, gi, h0, c0, weight_hh, bias_hh:
        _run(xp, "lstm_sequence", _lstm_sequence, gi, h0, c0, weight_hh, bias_hh),
        vjp=_lstm_sequence_vjp, jvp=_lstm_sequence_jvp,
        doc="An LSTM layer over a sequence from its input projections gi (L, N, 4H), gates i, f, g, o: "
            "(L, N, 6H) holding per step [h, c, i, f, g, o].")
PORTABLE["lstm_sequence"] = (_lstm_sequence, None)  # a forward kernel only, for now


# ---------------------------------------------------------------- dropout
# keep: the boolean mask drawn by the caller (uniform >= p, from polygrad's seeded generators, so the
# random streams are the composite's); it may broadcast against x (feature dropout). One multiply by
# the mask and the scale 1 / (1 - p) each way, in the composite's order (x * mask) * scale.
def _dropout(xp, x, keep, scale):
    return x * xp.astype(keep, x.dtype) * scale


def _dropout_vjp(xp, g, keep, scale):
    return g * xp.astype(keep, g.dtype) * scale


defprim("dropout", lambda xp, x, keep, *, scale: _run(xp, "dropout", _dropout, x, keep, scale),
        vjp=[lambda xp, g, out, x, keep, scale: _run(xp, "dropout_vjp", _dropout_vjp, g, keep, scale), None],
        jvp=[lambda xp, t, out, x, keep, scale: _dropout_vjp(xp, t, keep, scale), None],
        doc="x * keep * scale for a boolean mask `keep` (broadcasting against x): dropout with its mask drawn; "
            "saves only the mask.",
        fresh=True)
PORTABLE["dropout"] = (_dropout, _dropout_vjp)


# ---------------------------------------------------------------- nll_loss
# log_probs (N, C), class indices target (N,) (checked by the caller, entries equal to ignore_index
# exempt), weight (C,): -weight[t] log_probs[n, t] per entry, ignored entries weighing 0; 'mean'
# divides by the summed weights (NaN when all are ignored, as PyTorch, with a gradient of 0).
def _nll_terms(xp, log_probs, target, weight, ignore_index):
    """Each entry's flat index into log_probs (its row's first where ignored) and its weight (0 where ignored)."""
    c = log_probs.shape[1]
    kept = target != ignore_index
    safe = xp.where(kept, target, xp.zeros_like(target))
    rows = xp.cumulative_sum(xp.ones_like(safe)) - 1  # 0 .. n-1 (a recorded backward's namespace has no arange)
    flat = rows * c + safe
    return flat, xp.take(weight, safe, axis=0) * xp.astype(kept, weight.dtype)


def _nll_reduce(xp, losses, w, reduction):
    if reduction == "none":
        return losses
    return xp.sum(losses) / xp.sum(w) if reduction == "mean" else xp.sum(losses)


def _nll_loss(xp, log_probs, target, weight, ignore_index, reduction):
    flat, w = _nll_terms(xp, log_probs, target, weight, ignore_index)
    return _nll_reduce(xp, -(xp.take(xp.reshape(log_probs, (-1,)), flat, axis=0) * w), w, reduction)


def _nll_loss_vjp(xp, g, log_probs, target, weight, ignore_index, reduction):
    flat, w = _nll_terms(xp, log_probs, target, weight, ignore_index)
    if reduction == "mean":
        total = xp.sum(w)
        g = g / xp.where(total == 0, xp.ones_like(total), total)  # all ignored: 0, not 0 * inf
    return xp.reshape(xp.scatter_add(-(w * g), flat, axis=0, size=math.prod(log_probs.shape)), log_probs.shape)


def _nll_loss_jvp(xp, t, out, log_probs, target, weight, ignore_index, reduction):
    flat, w = _nll_terms(xp, log_probs, target, weight, ignore_index)
    return _nll_reduce(xp, -(xp.take(xp.reshape(t, (-1,)), flat, axis=0) * w), w, reduction)


defprim("nll_loss", lambda xp, log_probs, target, weight, *, ignore_index, reduction:
        _run(xp, "nll_loss", _nll_loss, log_probs, target, weight, ignore_index, reduction),
        vjp=[lambda xp, g, out, log_probs, target, weight, ignore_index, reduction:
             _run(xp, "nll_loss_vjp", _nll_loss_vjp, g, log_probs, target, weight, ignore_index, reduction),
             None, None],
        jvp=[_nll_loss_jvp, None, None],
        doc="Negative log-likelihood of class indices target (N,) under log_probs (N, C), weighted per class, "
            "entries equal to ignore_index left out; reduced by 'mean' (over the summed weights), 'sum' or 'none'.",
        fresh=True)
PORTABLE["nll_loss"] = (_nll_loss, _nll_loss_vjp)


# ---------------------------------------------------------------- embedding
# weight (V, D) rows at flat indices (N,) (checked by the caller to lie in [0, V)): (N, D). The
# padding row's lookups pass no gradient (nor, in forward mode, a tangent), as PyTorch's padding_idx.
def _embedding(xp, weight, indices, padding_idx):
    return xp.take(weight, indices, axis=0)


def _unpadded(xp, rows, indices, padding_idx):
    """rows (N, D) with those looked up at padding_idx zeroed."""
    if padding_idx is None:
        return rows
    return xp.where(xp.expand_dims(indices != padding_idx, axis=1), rows, xp.zeros_like(rows))


def _embedding_vjp(xp, g, weight, indices, padding_idx):
    return xp.scatter_add(_unpadded(xp, g, indices, padding_idx), indices, axis=0, size=weight.shape[0])


defprim("embedding", lambda xp, weight, indices, *, padding_idx: _run(xp, "embedding", _embedding, weight, indices,
                                                                        padding_idx),
        vjp=[lambda xp, g, out, weight, indices, padding_idx:
             _run(xp, "embedding_vjp", _embedding_vjp, g, weight, indices, padding_idx), None],
        jvp=[lambda xp, t, out, weight, indices, padding_idx: _unpadded(xp, xp.take(t, indices, axis=0), indices,
                                                                        padding_idx), None],
        doc="Rows of weight (V, D) at flat indices (N,) in [0, V); lookups of padding_idx (None: none) pass no "
            "gradient to that row.",
        fresh=True)
PORTABLE["embedding"] = (_embedding, _embedding_vjp)
