"""The rule table: every primitive's forward, vjp and jvp, side by side.

Adding an op is one `defprim` entry; `polygrad.namespace.ops` turns it into the public
function `polygrad.<name>` and `polygrad.functional.<name>_backward`.

Reading an entry
----------------
forward(xp, *inputs, *, params)   runs the op on raw arrays of namespace `xp`.
vjp = [rule per input]            rule(xp, g, out, *inputs, **params) is that input's
                                  gradient given the output's gradient `g` (None: the
                                  input takes no gradient, e.g. indices).
jvp = [rule per input]            rule(xp, t, out, *inputs, **params) is that input's
                                  contribution to the output tangent.
vjp=None                          no derivative: results never carry gradient.
promotion="mixed"                 operands meet in PyTorch's result dtype (ops.result_dtype:
                                  higher categories win, 0-d operands and Python numbers
                                  join dimensioned ones unless of a higher category);
                                  "true_divide": integers alone compute in floating point
                                  too; "where": the condition is left out. Without it
                                  dtypes are the backend's.
fresh=True                        every vjp result is a new array (not g, not a view), so
                                  a parameter can keep it as .grad without a copy.

Rules never reduce broadcast gradients (the engine does that once) and only
call functions that exist both in the Array API namespace and in polygrad's own
namespace, so the same text differentiates raw arrays (first order) and Tensors
(`create_graph=True`, for grad of grad). Rules create arrays only with the
`*_like` functions, so gradients are born on their tensor's device.

Subgradients at ties and kinks: PyTorch's conventions (tools/autograd/derivatives.yaml)
---------------------------------------------------------------------------------------
abs          0 at x == 0 (sgn).
maximum/minimum  the gradient is split in half between equal operands.
max/min      the gradient is split equally among all entries equal to the extremum
             (NaN entries, where the extremum is NaN): evenly_distribute_backward.
clip         1 inside the closed interval [min, max], 0 outside (clamp_backward).
relu         0 where the result is <= 0, so 0 at x == 0 (threshold_backward).
pow          0 for the base wherever the exponent is 0, 0**0 included (pow_backward).
atan2        0 for both inputs at (0, 0) (atan2_backward's 0/0).
std          0 where the spread is 0 (every entry equal), as in PyTorch.
A gradient masked to zero is selected with where(), not multiplied by a 0/1 mask, so an
infinite or NaN upstream gradient stays out of the branch not taken, as in PyTorch.
"""

import math

from .. import backends
from ..core import dtypes
from ..core.engine import Primitive

PRIMITIVES = {}


def defprim(name, forward, vjp=None, jvp=None, doc="", promotion=None, fresh=False, view=None):
    PRIMITIVES[name] = Primitive(name, forward, vjp, jvp, doc, promotion, fresh, view)
    return PRIMITIVES[name]


def _kind(array):
    """The dtype kind of a raw array ("complex floating", ...), cached: xp.isdtype costs as much as a small op."""
    return dtypes.from_native(array.dtype).kind


def _as(xp, condition, like):
    """A boolean mask as 0/1 in `like`'s dtype."""
    return xp.astype(condition, like.dtype)


def _masked(xp, condition, g):
    """g where condition holds, else 0: a where, so an infinite g gives 0, not inf * 0 = NaN."""
    return xp.where(condition, g, xp.zeros_like(g))


def _tie_split(xp, g, wins, ties):
    """g where this operand wins, g / 2 where the operands tie, else 0 (maximum/minimum)."""
    return xp.where(ties, g * 0.5, _masked(xp, wins, g))


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axis = (axis,) if isinstance(axis, int) else axis
    return tuple(a % ndim for a in axis)


def _kept_shape(shape, axis):
    axes = _axes(axis, len(shape))
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _unreduce(xp, g, x, axis, keepdims):
    """A reduction's output gradient spread back over the reduced axes of x."""
    if not keepdims:
        g = xp.reshape(g, _kept_shape(x.shape, axis))
    return xp.broadcast_to(g, x.shape)


def _count(x, axis):
    return math.prod(x.shape[a] for a in _axes(axis, len(x.shape)))


def _per(x, axis, correction):
    """1 / (count - correction), the variance's divisor; inf where that is 0 (a variance over no
    degrees of freedom is NaN, and so is its gradient, as PyTorch's; over no entries it is empty)."""
    dof = _count(x, axis) - correction
    return 1 / dof if dof else math.inf


def _extremum_share(xp, out, x, axis, keepdims):
    """Each entry's share of the gradient of max/min: ties split equally; a NaN extremum's among the NaNs."""
    extremum = _unreduce(xp, out, x, axis, keepdims)
    hit = _as(xp, (x == extremum) | (xp.isnan(x) & xp.isnan(extremum)), x)
    return hit / xp.sum(hit, axis=_axes(axis, len(x.shape)), keepdims=True)


def _extremum_grad(xp, g, out, x, axis, keepdims):
    share = _extremum_share(xp, out, x, axis, keepdims)
    return _masked(xp, share > 0, _unreduce(xp, g, x, axis, keepdims) * share)


def _prod_partials(xp, out, x, axis, keepdims):
    """d prod / d x_i = product of the other entries, exact even when zeros occur."""
    axes = _axes(axis, len(x.shape))
    is_zero = x == 0
    safe = xp.where(is_zero, xp.ones_like(x), x)
    zeros = xp.sum(_as(xp, is_zero, x), axis=axes, keepdims=True)
    product_of_rest = xp.prod(safe, axis=axes, keepdims=True) * _as(xp, zeros == 1, x)
    return xp.where(is_zero, xp.broadcast_to(product_of_rest, x.shape), _unreduce(xp, out, x, axis, keepdims) / safe)


def _centered(xp, x, axis):
    return x - xp.mean(x, axis=_axes(axis, len(x.shape)), keepdims=True)


def _sigmoid(xp, x):
    """1 / (1 + exp(-x)) as exp(min(x, 0)) / (1 + exp(-|x|)): no overflow, and accurate
    to a few ulp in both tails (the negative tail is exp(x) itself, not 1 minus something)."""
    return xp.exp(xp.minimum(x, 0.0)) / (xp.exp(-xp.abs(x)) + 1)


def _nonzero(xp, spread):
    """std's output with zeros made ones: where the spread is 0 every centered value is 0,
    so the gradient is 0 there (as in PyTorch) instead of 0/0 = NaN."""
    return xp.where(spread == 0, xp.ones_like(spread), spread)


def _linear_grad_weight(xp, g, x):
    """gᵀ x summed over every leading axis: (out, in), one matmul."""
    if x.ndim == 1:
        return xp.reshape(g, (-1, 1)) * xp.reshape(x, (1, -1))
    if x.ndim > 2:
        g, x = xp.reshape(g, (-1, g.shape[-1])), xp.reshape(x, (-1, x.shape[-1]))
    return xp.matmul(xp.matrix_transpose(g), x)


def _flat_matmul(xp, x, matrix):
    """x (..., k) @ matrix (k, m) as one GEMM over the flattened leading axes (a batched matmul loops
    over them in NumPy)."""
    if x.ndim <= 2:
        return xp.matmul(x, matrix)
    return xp.reshape(xp.matmul(xp.reshape(x, (-1, x.shape[-1])), matrix), x.shape[:-1] + (matrix.shape[-1],))


def _pick_flat(xp, logits, flat_target):
    return xp.take(xp.reshape(logits, (-1,)), flat_target, axis=0)


def _softmax_minus_onehot(xp, logits, flat_target):
    n, c = logits.shape
    probs = xp.exp(logits - _logsumexp(xp, logits, axis=1, keepdims=True))
    ones = xp.ones_like(_pick_flat(xp, logits, flat_target))
    return probs - xp.reshape(xp.scatter_add(ones, flat_target, axis=0, size=n * c), (n, c))


def _reduce_rows(xp, losses, reduction):
    return xp.mean(losses) if reduction == "mean" else xp.sum(losses) if reduction == "sum" else losses


def _row_scale(xp, g, rows, reduction):
    """The output gradient as a factor per row: g / N (mean), g (sum), g[:, None] (none)."""
    return g / rows if reduction == "mean" else g if reduction == "sum" else xp.reshape(g, (rows, 1))


def _safe_log(xp, a):
    """log(a) where a > 0 (complex a: a != 0), else 0: the exponent's gradient of a**b."""
    return xp.log(xp.where((a != 0) if _kind(a) == "complex floating" else (a > 0), a, xp.ones_like(a)))


def _inverse(axes):
    inverse = [0] * len(axes)
    for i, a in enumerate(axes):
        inverse[a] = i
    return tuple(inverse)


def _matmul_grad_a(xp, g, out, a, b):
    if a.ndim == 1 and b.ndim == 1:
        return g * b
    if b.ndim == 1:
        return xp.expand_dims(g, axis=-1) * b
    if a.ndim == 1:
        return xp.squeeze(xp.matmul(b, xp.expand_dims(g, axis=-1)), axis=-1)
    if b.ndim == 2:
        return _flat_matmul(xp, g, xp.matrix_transpose(b))
    return xp.matmul(g, xp.matrix_transpose(b))


def _matmul_grad_b(xp, g, out, a, b):
    if a.ndim == 1 and b.ndim == 1:
        return g * a
    if a.ndim == 1:
        return xp.expand_dims(a, axis=-1) * xp.expand_dims(g, axis=-2)
    if b.ndim == 1:
        return xp.squeeze(xp.matmul(xp.matrix_transpose(a), xp.expand_dims(g, axis=-1)), axis=-1)
    if b.ndim == 2 and a.ndim > 2:
        return _linear_grad_weight(xp, a, g)  # aᵀ g over the flattened leading axes: one GEMM, already summed
    return xp.matmul(xp.matrix_transpose(a), g)


def _logsumexp(xp, x, *, axis=None, keepdims=False):
    axes = _axes(axis, x.ndim)
    if 0 in x.shape:  # no maximum to subtract; an empty sum's log is -inf, as PyTorch's
        peak = xp.zeros(tuple(1 if i in axes else n for i, n in enumerate(x.shape)), dtype=x.dtype, device=x.device)
    else:
        peak = xp.max(x, axis=axes, keepdims=True)
        peak = xp.where(xp.isfinite(peak), peak, xp.zeros_like(peak))
    total = xp.log(xp.sum(xp.exp(x - peak), axis=axes, keepdims=True)) + peak
    return total if keepdims else xp.reshape(total, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def _softmax(xp, x, *, axis=-1):
    if 0 in x.shape:
        return xp.zeros_like(x)  # nothing to normalize (and no maximum to subtract)
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)


def kernel_or(xp, name, portable, *args):
    """The backend's kernel `name` (Backend.kernels) on args where this namespace has one that takes them,
    else portable(xp, *args). polygrad's own namespace (create_graph) has none: recorded backward passes
    run the portable rules."""
    kernel = getattr(xp, "kernel_" + name, None)
    result = None if kernel is None else kernel(*args)
    return portable(xp, *args) if result is None else result


def _relu_vjp(xp, g, x):
    """PyTorch's threshold_backward: 0 where x <= 0 (x == 0 included, an infinite g too), g elsewhere (a NaN x too)."""
    return xp.where(x <= 0, xp.zeros_like(g), g)


def _softmax_of(xp, x, axis):
    return _softmax(xp, x, axis=axis)


def _softmax_vjp(xp, g, out, axis):
    return out * (g - xp.sum(g * out, axis=axis, keepdims=True))


def _log_softmax(xp, x, axis):
    return x - _logsumexp(xp, x, axis=axis, keepdims=True)


def _log_softmax_vjp(xp, g, out, axis):
    return g - xp.exp(out) * xp.sum(g, axis=axis, keepdims=True)


def _slice_grads(xp, g, out, *inputs, axis=0):
    axis = axis % g.ndim
    grads, start = [], 0
    for x in inputs:
        stop = start + x.shape[axis]
        grads.append(g[(slice(None),) * axis + (slice(start, stop), Ellipsis)])
        start = stop
    return grads


def _scatter_slice(xp, g, *, key, shape):
    z = xp.zeros(shape, dtype=g.dtype, device=g.device)
    plain = tuple(k for k in key if k is not None)  # setitem allows no new axes; they are size-1 anyway
    z[plain] = xp.reshape(g, z[plain].shape)
    return z


def _scatter_add(xp, values, indices, *, axis, size):
    """Zeros with `size` rows along `axis`, values[..., k, ...] added at indices[k]."""
    axis = axis % values.ndim
    order = (axis,) + tuple(i for i in range(values.ndim) if i != axis)
    moved = xp.permute_dims(values, order)
    target = xp.zeros((size,) + tuple(moved.shape[1:]), dtype=values.dtype, device=values.device)
    return xp.permute_dims(xp.index_add(target, indices, moved), _inverse(order))


# ================================================================ elementwise
defprim("add", lambda xp, a, b: xp.add(a, b),
        vjp=[lambda xp, g, out, a, b: g,
             lambda xp, g, out, a, b: g],
        jvp=[lambda xp, t, out, a, b: t,
             lambda xp, t, out, a, b: t],
        promotion="mixed")
defprim("subtract", lambda xp, a, b: xp.subtract(a, b),
        vjp=[lambda xp, g, out, a, b: g,
             lambda xp, g, out, a, b: -g],
        jvp=[lambda xp, t, out, a, b: t,
             lambda xp, t, out, a, b: -t],
        promotion="mixed")
defprim("multiply", lambda xp, a, b: xp.multiply(a, b),
        vjp=[lambda xp, g, out, a, b: g * b,
             lambda xp, g, out, a, b: g * a],
        jvp=[lambda xp, t, out, a, b: t * b,
             lambda xp, t, out, a, b: a * t],
        promotion="mixed", fresh=True)
defprim("divide", lambda xp, a, b: xp.divide(a, b),
        vjp=[lambda xp, g, out, a, b: g / b,
             lambda xp, g, out, a, b: -g * out / b],
        jvp=[lambda xp, t, out, a, b: t / b,
             lambda xp, t, out, a, b: -t * out / b],
        promotion="true_divide")
defprim("negative", lambda xp, x: xp.negative(x),
        vjp=[lambda xp, g, out, x: -g],
        jvp=[lambda xp, t, out, x: -t])
defprim("pow", lambda xp, a, b: xp.pow(a, b),
        vjp=[lambda xp, g, out, a, b: _masked(xp, b != 0, g * b * a ** (b - 1)),
             lambda xp, g, out, a, b: g * out * _safe_log(xp, a)],
        jvp=[lambda xp, t, out, a, b: _masked(xp, b != 0, t * b * a ** (b - 1)),
             lambda xp, t, out, a, b: t * out * _safe_log(xp, a)],
        promotion="mixed")
defprim("exp", lambda xp, x: xp.exp(x),
        vjp=[lambda xp, g, out, x: g * out],
        jvp=[lambda xp, t, out, x: t * out])


def _expm1(xp, x):
    """xp.expm1, with exp(x) - 1 for complex x at zero or not finite.

    There exp meets the standard's special cases and NumPy's complex expm1 does not
    (it gives nan + nanj for inf + 0j, -0 + 0j for -0 + 0j).
    """
    out = xp.expm1(x)
    if _kind(out) != "complex floating":
        return out
    return xp.where(xp.isfinite(x) & (x != 0), out, xp.exp(x) - 1)


defprim("expm1", _expm1,
        vjp=[lambda xp, g, out, x: g * (out + 1)],
        jvp=[lambda xp, t, out, x: t * (out + 1)])
defprim("log", lambda xp, x: xp.log(x),
        vjp=[lambda xp, g, out, x: g / x],
        jvp=[lambda xp, t, out, x: t / x])
defprim("log1p", lambda xp, x: xp.log1p(x),
        vjp=[lambda xp, g, out, x: g / (x + 1)],
        jvp=[lambda xp, t, out, x: t / (x + 1)])
defprim("sqrt", lambda xp, x: xp.sqrt(x),
        vjp=[lambda xp, g, out, x: g / (out * 2)],
        jvp=[lambda xp, t, out, x: t / (out * 2)])
defprim("sin", lambda xp, x: xp.sin(x),
        vjp=[lambda xp, g, out, x: g * xp.cos(x)],
        jvp=[lambda xp, t, out, x: t * xp.cos(x)])
defprim("cos", lambda xp, x: xp.cos(x),
        vjp=[lambda xp, g, out, x: -g * xp.sin(x)],
        jvp=[lambda xp, t, out, x: -t * xp.sin(x)])


def _tanh(xp, x):
    """xp.tanh; for complex x with an infinite real part and a finite imaginary one, ±1 ± 0j.

    The standard signs that zero as imag(x); NumPy signs it as sin(2 imag(x)).
    """
    out = xp.tanh(x)
    if _kind(out) != "complex floating":
        return out
    imag = xp.imag(x)
    missigned = xp.isinf(xp.real(x)) & xp.isfinite(imag) & (xp.signbit(xp.imag(out)) != xp.signbit(imag))
    return xp.where(missigned, xp.conj(out), out)


defprim("tanh", _tanh,
        vjp=[lambda xp, g, out, x: g * (1 - out * out)],
        jvp=[lambda xp, t, out, x: t * (1 - out * out)])
defprim("sigmoid", _sigmoid,
        vjp=[lambda xp, g, out, x: g * out * (1 - out)],
        jvp=[lambda xp, t, out, x: t * out * (1 - out)])
defprim("log_sigmoid", lambda xp, x: xp.minimum(x, 0.0) - xp.log1p(xp.exp(-xp.abs(x))),
        vjp=[lambda xp, g, out, x: g * _sigmoid(xp, -x)],
        jvp=[lambda xp, t, out, x: t * _sigmoid(xp, -x)],
        doc="log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)): finite and accurate in both tails.")
defprim("softplus", lambda xp, x: xp.maximum(x, 0.0) + xp.log1p(xp.exp(-xp.abs(x))),
        vjp=[lambda xp, g, out, x: g * _sigmoid(xp, x)],
        jvp=[lambda xp, t, out, x: t * _sigmoid(xp, x)],
        doc="log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)): never overflows, exact in both tails.")


def _sign(xp, out, x):
    """sign(x); for complex x, z/|z| (0 at 0) written out, as it has a derivative of its own (grad of grad)."""
    if _kind(x) != "complex floating":
        return xp.sign(x)
    return x / xp.astype(xp.where(out == 0, xp.ones_like(out), out), x.dtype)


defprim("relu", lambda xp, x: xp.maximum(x, 0.0),  # the vjp reads the result, <= 0 just where x is (as torch)
        vjp=[lambda xp, g, out, x: kernel_or(xp, "relu_vjp", _relu_vjp, g, out)],
        jvp=[lambda xp, t, out, x: _relu_vjp(xp, t, x)])
defprim("abs", lambda xp, x: xp.abs(x),
        vjp=[lambda xp, g, out, x: g * _sign(xp, out, x)],
        jvp=[lambda xp, t, out, x: xp.real(xp.conj(_sign(xp, out, x)) * t) if _kind(x) == "complex floating"
             else t * xp.sign(x)])
defprim("maximum", lambda xp, a, b: xp.maximum(a, b),
        vjp=[lambda xp, g, out, a, b: _tie_split(xp, g, a > b, a == b),
             lambda xp, g, out, a, b: _tie_split(xp, g, b > a, a == b)],
        jvp=[lambda xp, t, out, a, b: _tie_split(xp, t, a > b, a == b),
             lambda xp, t, out, a, b: _tie_split(xp, t, b > a, a == b)],
        promotion="mixed")
defprim("minimum", lambda xp, a, b: xp.minimum(a, b),
        vjp=[lambda xp, g, out, a, b: _tie_split(xp, g, a < b, a == b),
             lambda xp, g, out, a, b: _tie_split(xp, g, b < a, a == b)],
        jvp=[lambda xp, t, out, a, b: _tie_split(xp, t, a < b, a == b),
             lambda xp, t, out, a, b: _tie_split(xp, t, b < a, a == b)],
        promotion="mixed")
defprim("clip", lambda xp, x, *, min=None, max=None: xp.clip(x, min, max),
        vjp=[lambda xp, g, out, x, min=None, max=None: _masked(xp, out == x, g)],
        jvp=[lambda xp, t, out, x, min=None, max=None: _masked(xp, out == x, t)])
defprim("where", lambda xp, condition, a, b: xp.where(condition, a, b),
        vjp=[None,
             lambda xp, g, out, c, a, b: xp.where(c, g, xp.zeros_like(g)),
             lambda xp, g, out, c, a, b: xp.where(c, xp.zeros_like(g), g)],
        jvp=[None,
             lambda xp, t, out, c, a, b: xp.where(c, t, xp.zeros_like(t)),
             lambda xp, t, out, c, a, b: xp.where(c, xp.zeros_like(t), t)],
        promotion="where")
defprim("astype", lambda xp, x, *, dtype: xp.astype(x, dtype),
        vjp=[lambda xp, g, out, x, dtype: xp.astype(xp.real(g) if _kind(g) != _kind(x) == "real floating" else g,
                                                    x.dtype)],  # complex to real: the real part
        jvp=[lambda xp, t, out, x, dtype: xp.astype(t, dtype)])

# ================================================================ linear algebra
defprim("matmul", lambda xp, a, b: _flat_matmul(xp, a, b) if b.ndim == 2 else xp.matmul(a, b),
        vjp=[_matmul_grad_a, _matmul_grad_b],
        jvp=[lambda xp, t, out, a, b: xp.matmul(t, b),
             lambda xp, t, out, a, b: xp.matmul(a, t)],
        fresh=True)
defprim("matrix_transpose", lambda xp, x: xp.matrix_transpose(x),
        vjp=[lambda xp, g, out, x: xp.matrix_transpose(g)],
        jvp=[lambda xp, t, out, x: xp.matrix_transpose(t)],
        view=lambda xp, old, new: xp.matrix_transpose(new))

# ================================================================ reductions
defprim("sum", lambda xp, x, *, axis=None, keepdims=False: xp.sum(x, axis=axis, keepdims=keepdims),
        vjp=[lambda xp, g, out, x, axis, keepdims: _unreduce(xp, g, x, axis, keepdims)],
        jvp=[lambda xp, t, out, x, axis, keepdims: xp.sum(t, axis=axis, keepdims=keepdims)])
defprim("mean", lambda xp, x, *, axis=None, keepdims=False: xp.mean(x, axis=axis, keepdims=keepdims),
        vjp=[lambda xp, g, out, x, axis, keepdims: _unreduce(xp, g, x, axis, keepdims) / _count(x, axis)],
        jvp=[lambda xp, t, out, x, axis, keepdims: xp.mean(t, axis=axis, keepdims=keepdims)])
defprim("max", lambda xp, x, *, axis=None, keepdims=False: xp.max(x, axis=axis, keepdims=keepdims),
        vjp=[lambda xp, g, out, x, axis, keepdims:
             _extremum_grad(xp, g, out, x, axis, keepdims)],
        jvp=[lambda xp, t, out, x, axis, keepdims:
             xp.sum(t * _extremum_share(xp, out, x, axis, keepdims), axis=axis, keepdims=keepdims)])
defprim("min", lambda xp, x, *, axis=None, keepdims=False: xp.min(x, axis=axis, keepdims=keepdims),
        vjp=[lambda xp, g, out, x, axis, keepdims:
             _extremum_grad(xp, g, out, x, axis, keepdims)],
        jvp=[lambda xp, t, out, x, axis, keepdims:
             xp.sum(t * _extremum_share(xp, out, x, axis, keepdims), axis=axis, keepdims=keepdims)])
defprim("prod", lambda xp, x, *, axis=None, keepdims=False: xp.prod(x, axis=axis, keepdims=keepdims),
        vjp=[lambda xp, g, out, x, axis, keepdims:
             _unreduce(xp, g, x, axis, keepdims) * _prod_partials(xp, out, x, axis, keepdims)],
        jvp=[lambda xp, t, out, x, axis, keepdims:
             xp.sum(t * _prod_partials(xp, out, x, axis, keepdims), axis=axis, keepdims=keepdims)])
defprim("var", lambda xp, x, *, axis=None, correction=0, keepdims=False:
        xp.var(x, axis=axis, correction=correction, keepdims=keepdims),
        vjp=[lambda xp, g, out, x, axis, correction, keepdims:
             _unreduce(xp, g, x, axis, keepdims) * _centered(xp, x, axis) * (2 * _per(x, axis, correction))],
        jvp=[lambda xp, t, out, x, axis, correction, keepdims:
             xp.sum(t * _centered(xp, x, axis), axis=axis, keepdims=keepdims) * (2 * _per(x, axis, correction))])
defprim("std", lambda xp, x, *, axis=None, correction=0, keepdims=False:
        xp.std(x, axis=axis, correction=correction, keepdims=keepdims),
        vjp=[lambda xp, g, out, x, axis, correction, keepdims:
             _unreduce(xp, g / _nonzero(xp, out), x, axis, keepdims) * _centered(xp, x, axis) * _per(x, axis, correction)],
        jvp=[lambda xp, t, out, x, axis, correction, keepdims:
             xp.sum(t * _centered(xp, x, axis), axis=axis, keepdims=keepdims)
             / _nonzero(xp, out) * _per(x, axis, correction)])
defprim("logsumexp", _logsumexp,
        vjp=[lambda xp, g, out, x, axis, keepdims:
             _unreduce(xp, g, x, axis, keepdims) * xp.exp(x - _unreduce(xp, out, x, axis, keepdims))],
        jvp=[lambda xp, t, out, x, axis, keepdims:
             xp.sum(t * xp.exp(x - _unreduce(xp, out, x, axis, keepdims)), axis=axis, keepdims=keepdims)])
# softmax and log_softmax run a backend's kernels where it has them (see polygrad/primitives/fused.py).
defprim("softmax", lambda xp, x, *, axis=-1: kernel_or(xp, "softmax", _softmax_of, x, axis),
        vjp=[lambda xp, g, out, x, axis: kernel_or(xp, "softmax_vjp", _softmax_vjp, g, out, axis)],
        jvp=[lambda xp, t, out, x, axis: out * (t - xp.sum(t * out, axis=axis, keepdims=True))])
defprim("log_softmax", lambda xp, x, *, axis=-1: kernel_or(xp, "log_softmax", _log_softmax, x, axis),
        vjp=[lambda xp, g, out, x, axis: kernel_or(xp, "log_softmax_vjp", _log_softmax_vjp, g, out, axis)],
        jvp=[lambda xp, t, out, x, axis: t - xp.sum(xp.exp(out) * t, axis=axis, keepdims=True)])

# ================================================================ fused layers
# One primitive each for the two ops a training step spends its time in, so each is
# one pass forward and one backward. Their composite definitions (matmul + add;
# log_softmax + pick + mean) are the reference the tests hold them to.
def _linear(xp, x, weight, bias):
    return _flat_matmul(xp, x, xp.matrix_transpose(weight)) + bias


def _softmax_cross_entropy(xp, logits, flat_target, reduction):
    return _reduce_rows(xp, _logsumexp(xp, logits, axis=1) - _pick_flat(xp, logits, flat_target), reduction)


def _softmax_cross_entropy_vjp(xp, g, logits, flat_target, reduction):
    return _softmax_minus_onehot(xp, logits, flat_target) * _row_scale(xp, g, logits.shape[0], reduction)


# a backend kernel may add the bias inside the GEMM or in place (one pass less over the output)
defprim("linear", lambda xp, x, weight, bias: kernel_or(xp, "linear", _linear, x, weight, bias),
        vjp=[lambda xp, g, out, x, weight, bias: _flat_matmul(xp, g, weight),
             lambda xp, g, out, x, weight, bias: _linear_grad_weight(xp, g, x),
             lambda xp, g, out, x, weight, bias: xp.sum(g, axis=tuple(range(g.ndim - 1))) if g.ndim > 1 else g],
        jvp=[lambda xp, t, out, x, weight, bias: xp.matmul(t, xp.matrix_transpose(weight)),
             lambda xp, t, out, x, weight, bias: xp.matmul(x, xp.matrix_transpose(t)),
             lambda xp, t, out, x, weight, bias: t],
        doc="x @ weight.T + bias (weight: (out, in), as in PyTorch); the bias gradient sums g directly.",
        fresh=True)
defprim("softmax_cross_entropy", lambda xp, logits, flat_target, *, reduction="mean":
        kernel_or(xp, "softmax_cross_entropy", _softmax_cross_entropy, logits, flat_target, reduction),
        vjp=[lambda xp, g, out, logits, flat_target, reduction:
             kernel_or(xp, "softmax_cross_entropy_vjp", _softmax_cross_entropy_vjp, g, logits, flat_target, reduction),
             None],
        jvp=[lambda xp, t, out, logits, flat_target, reduction:
             _reduce_rows(xp, xp.sum(t * _softmax_minus_onehot(xp, logits, flat_target), axis=1), reduction),
             None],
        doc="Cross-entropy of logits (N, C) at flat_target = row * C + class (checked by the caller), "
            "reduced by 'mean', 'sum' or 'none'; its gradient is (softmax - onehot) / N in one pass.")

# ================================================================ shape
defprim("reshape", lambda xp, x, *, shape: xp.reshape(x, shape),
        vjp=[lambda xp, g, out, x, shape: xp.reshape(g, x.shape)],
        jvp=[lambda xp, t, out, x, shape: xp.reshape(t, out.shape)],
        view=lambda xp, old, new, shape: xp.reshape(new, old.shape))
defprim("permute_dims", lambda xp, x, *, axes: xp.permute_dims(x, axes),
        vjp=[lambda xp, g, out, x, axes: xp.permute_dims(g, _inverse(axes))],
        jvp=[lambda xp, t, out, x, axes: xp.permute_dims(t, axes)],
        view=lambda xp, old, new, axes: xp.permute_dims(new, _inverse(axes)))
defprim("expand_dims", lambda xp, x, *, axis=0: xp.expand_dims(x, axis=axis),
        vjp=[lambda xp, g, out, x, axis: xp.reshape(g, x.shape)],
        jvp=[lambda xp, t, out, x, axis: xp.reshape(t, out.shape)],
        view=lambda xp, old, new, axis: xp.reshape(new, old.shape))
defprim("squeeze", lambda xp, x, *, axis: xp.squeeze(x, axis=axis),
        vjp=[lambda xp, g, out, x, axis: xp.reshape(g, x.shape)],
        jvp=[lambda xp, t, out, x, axis: xp.reshape(t, out.shape)],
        view=lambda xp, old, new, axis: xp.reshape(new, old.shape))


def _refuse_write_through_broadcast(xp, old, new, shape):
    raise RuntimeError(f"in-place update of a broadcast view: several of its {shape} entries are one entry "
                       f"of the {tuple(old.shape)} tensor it came from; clone() it first")


defprim("broadcast_to", lambda xp, x, *, shape: xp.broadcast_to(x, shape),
        vjp=[lambda xp, g, out, x, shape: g],  # the engine sums it back to x's shape
        jvp=[lambda xp, t, out, x, shape: xp.broadcast_to(t, shape)],
        view=_refuse_write_through_broadcast)
defprim("concat", lambda xp, *arrays, axis=0: xp.concat(arrays, axis=axis),
        vjp=_slice_grads,
        jvp=lambda xp, tangents, out, *arrays, axis=0: xp.concat(tangents, axis=axis))

# ================================================================ indexing
defprim("getitem", lambda xp, x, *, key: x[key],
        vjp=[lambda xp, g, out, x, key: xp.scatter_slice(g, key=key, shape=x.shape)],
        jvp=[lambda xp, t, out, x, key: t[key]],
        view=lambda xp, old, new, key: xp.assign_slice(old, new, key),
        doc="Basic indexing (ints, slices, None, Ellipsis); array keys go through take.")
defprim("scatter_slice", _scatter_slice,
        vjp=[lambda xp, g, out, values, key, shape: g[key]],
        jvp=[lambda xp, t, out, values, key, shape: xp.scatter_slice(t, key=key, shape=shape)],
        doc="Zeros of `shape` with `values` written at basic index `key` (getitem's adjoint).")
defprim("take", lambda xp, x, indices, *, axis=0: xp.take(x, indices, axis=axis),
        vjp=[lambda xp, g, out, x, indices, axis: xp.scatter_add(g, indices, axis=axis, size=x.shape[axis]),
             None],
        jvp=[lambda xp, t, out, x, indices, axis: xp.take(t, indices, axis=axis), None],
        fresh=True)
defprim("scatter_add", _scatter_add,
        vjp=[lambda xp, g, out, values, indices, axis, size: xp.take(g, indices, axis=axis), None],
        jvp=[lambda xp, t, out, values, indices, axis, size: xp.scatter_add(t, indices, axis=axis, size=size),
             None],
        doc="Zeros with `size` entries along `axis`, values added at `indices` (take's adjoint).")

# ================================================================ sliding windows (convolution and pooling)
# The backend hooks `windows` (a view where the library has strided views) and
# `col2im` (its adjoint: a sum of strided slices). Convolution is windows then one
# matmul; pooling is windows then one reduction.
defprim("windows", lambda xp, x, *, kernel, stride, dilation:
        xp.windows(x, kernel=kernel, stride=stride, dilation=dilation),
        vjp=[lambda xp, g, out, x, kernel, stride, dilation:
             xp.col2im(g, shape=tuple(x.shape), kernel=kernel, stride=stride, dilation=dilation)],
        jvp=[lambda xp, t, out, x, kernel, stride, dilation:
             xp.windows(t, kernel=kernel, stride=stride, dilation=dilation)],
        doc="x's sliding windows over its last len(kernel) axes: shape x.shape[:-n] + counts + kernel.")
defprim("col2im", lambda xp, cols, *, shape, kernel, stride, dilation:
        xp.col2im(cols, shape=shape, kernel=kernel, stride=stride, dilation=dilation),
        vjp=[lambda xp, g, out, cols, shape, kernel, stride, dilation:
             _windows_of(xp, g, cols.shape, kernel, stride, dilation)],
        jvp=[lambda xp, t, out, cols, shape, kernel, stride, dilation:
             xp.col2im(t, shape=shape, kernel=kernel, stride=stride, dilation=dilation)],
        doc="Zeros of `shape` with each window entry of cols added where windows() read it (its adjoint).")


# ================================================================ special functions
# erf is not in the standard: the backend hook `erf` (the library's own where it has one,
# an accurate pure-standard fallback otherwise); its derivative 2/sqrt(pi) exp(-x^2) is exact.
defprim("erf", lambda xp, x: xp.erf(x),
        vjp=[lambda xp, g, out, x: g * xp.exp(-x * x) * (2 / math.sqrt(math.pi))],
        jvp=[lambda xp, t, out, x: t * xp.exp(-x * x) * (2 / math.sqrt(math.pi))])


def _windows_of(xp, g, cols_shape, kernel, stride, dilation):
    """windows(g), keeping only the windows col2im wrote from (they may cover less than g)."""
    n = len(kernel)
    counts = cols_shape[len(cols_shape) - 2 * n:len(cols_shape) - n]
    key = (Ellipsis,) + tuple(slice(0, m) for m in counts) + (slice(None),) * n
    return xp.windows(g, kernel=kernel, stride=stride, dilation=dilation)[key]

# ================================================================ no derivative
# Comparisons, rounding and arg-reductions: their results carry no gradient.
for _name in ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal"):
    defprim(_name, (lambda name: lambda xp, a, b: getattr(xp, name)(a, b))(_name), promotion="mixed")
for _name in ("logical_and", "logical_or"):
    defprim(_name, (lambda name: lambda xp, a, b: getattr(xp, name)(a, b))(_name))
for _name in ("logical_not", "isnan", "isinf", "isfinite", "sign", "floor", "ceil", "round", "trunc"):
    defprim(_name, (lambda name: lambda xp, x: getattr(xp, name)(x))(_name))
defprim("argmax", lambda xp, x, *, axis=None, keepdims=False: xp.argmax(x, axis=axis, keepdims=keepdims))
defprim("argmin", lambda xp, x, *, axis=None, keepdims=False: xp.argmin(x, axis=axis, keepdims=keepdims))


# Rules call these by name; raw namespaces get them too, so the same rule text
# runs on arrays (first order) and on Tensors (create_graph).
backends.extend_namespaces({"scatter_slice": _scatter_slice, "scatter_add": _scatter_add})


# ================================================================ Array API: elementwise functions
# Each entry gives the derivative once; its vjp is g * d and its jvp t * d.
def _unary(name, derivative, doc=""):
    """Elementwise xp.<name>(x) with d out / d x = derivative(xp, out, x)."""
    return defprim(name, lambda xp, x: getattr(xp, name)(x),
                   vjp=[lambda xp, g, out, x: g * derivative(xp, out, x)],
                   jvp=[lambda xp, t, out, x: t * derivative(xp, out, x)], doc=doc)


def _binary(name, d_first, d_second, doc=""):
    """Elementwise xp.<name>(x1, x2) with partials d_first/d_second(xp, out, x1, x2) (None: no gradient)."""
    partials = [d_first, d_second]
    return defprim(name, lambda xp, a, b: getattr(xp, name)(a, b),
                   vjp=[None if d is None else (lambda d: lambda xp, g, out, a, b: g * d(xp, out, a, b))(d)
                        for d in partials],
                   jvp=[None if d is None else (lambda d: lambda xp, t, out, a, b: t * d(xp, out, a, b))(d)
                        for d in partials],
                   promotion="mixed", doc=doc)


def _nonzero_or_one(xp, a):
    return xp.where(a == 0, xp.ones_like(a), a)


_unary("tan", lambda xp, out, x: out * out + 1)
_unary("sinh", lambda xp, out, x: xp.cosh(x))
_unary("cosh", lambda xp, out, x: xp.sinh(x))
_unary("asin", lambda xp, out, x: 1 / xp.sqrt(1 - x * x))
_unary("acos", lambda xp, out, x: -1 / xp.sqrt(1 - x * x))
_unary("atan", lambda xp, out, x: 1 / (x * x + 1))
_unary("asinh", lambda xp, out, x: 1 / xp.sqrt(x * x + 1))
_unary("acosh", lambda xp, out, x: 1 / (xp.sqrt(x - 1) * xp.sqrt(x + 1)))  # the principal branch for complex x
_unary("atanh", lambda xp, out, x: 1 / (1 - x * x))
_unary("log2", lambda xp, out, x: 1 / (x * math.log(2)))
_unary("log10", lambda xp, out, x: 1 / (x * math.log(10)))
_unary("reciprocal", lambda xp, out, x: -(out * out))
_unary("positive", lambda xp, out, x: xp.ones_like(x))
_binary("atan2", lambda xp, out, a, b: b / _nonzero_or_one(xp, a * a + b * b),
        lambda xp, out, a, b: -a / _nonzero_or_one(xp, a * a + b * b),
        doc="The angle of (x2, x1); the gradient at (0, 0) is 0, as PyTorch's.")
_binary("logaddexp", lambda xp, out, a, b: xp.exp(a - out), lambda xp, out, a, b: xp.exp(b - out))
_binary("hypot", lambda xp, out, a, b: a / _nonzero_or_one(xp, out), lambda xp, out, a, b: b / _nonzero_or_one(xp, out),
        doc="sqrt(x1**2 + x2**2); the gradient at x1 = x2 = 0 is 0.")
_binary("copysign", lambda xp, out, a, b: 1 - 2 * _as(xp, xp.signbit(a) != xp.signbit(out), a), None,
        doc="|x1| with x2's sign; no gradient in x2 (piecewise constant).")
_binary("remainder", lambda xp, out, a, b: xp.ones_like(out), lambda xp, out, a, b: -xp.floor_divide(a, b),
        doc="x1 - floor(x1 / x2) * x2, Python's %; gradients away from the jumps.")

# ================================================================ Array API: structure
defprim("flip", lambda xp, x, *, axis=None: xp.flip(x, axis=axis),
        vjp=[lambda xp, g, out, x, axis: xp.flip(g, axis=axis)],
        jvp=[lambda xp, t, out, x, axis: xp.flip(t, axis=axis)])
defprim("roll", lambda xp, x, *, shift, axis=None: xp.roll(x, shift, axis=axis),
        vjp=[lambda xp, g, out, x, shift, axis: xp.roll(g, _negated(shift), axis=axis)],
        jvp=[lambda xp, t, out, x, shift, axis: xp.roll(t, shift, axis=axis)])
defprim("tril", lambda xp, x, *, k=0: xp.tril(x, k=k),
        vjp=[lambda xp, g, out, x, k: xp.tril(g, k=k)],
        jvp=[lambda xp, t, out, x, k: xp.tril(t, k=k)])
defprim("triu", lambda xp, x, *, k=0: xp.triu(x, k=k),
        vjp=[lambda xp, g, out, x, k: xp.triu(g, k=k)],
        jvp=[lambda xp, t, out, x, k: xp.triu(t, k=k)])


def _negated(shift):
    return tuple(-s for s in shift) if isinstance(shift, tuple) else -shift


def _cumulative_sum(xp, x, *, axis, include_initial=False):
    return xp.cumulative_sum(x, axis=axis, include_initial=include_initial)


def _reverse_cumulative_sum(xp, g, x, axis, include_initial):
    """The adjoint of a cumulative sum: entry j gathers the output gradients of every i that includes j."""
    if include_initial:
        g = g[(slice(None),) * (axis % g.ndim) + (slice(1, None), Ellipsis)]
    return xp.flip(xp.cumulative_sum(xp.flip(g, axis=axis), axis=axis), axis=axis)


defprim("cumulative_sum", _cumulative_sum,
        vjp=[lambda xp, g, out, x, axis, include_initial: _reverse_cumulative_sum(xp, g, x, axis, include_initial)],
        jvp=[lambda xp, t, out, x, axis, include_initial: xp.cumulative_sum(t, axis=axis, include_initial=include_initial)],
        doc="Running sums along `axis`; the gradient is the reversed running sum of the output gradient.")

# ================================================================ Array API: no derivative
# Integer, bitwise and logical operators, sign tests, searching: results carry no gradient.
def _floor_divide(xp, a, b):
    """xp.floor_divide, with floor(a / b) where an operand is infinite, as the standard asks.

    NumPy and PyTorch follow Python there: inf // 2 is nan and 5 // -inf is -1, where
    the standard wants inf and -0.
    """
    out = xp.floor_divide(a, b)
    if _kind(out) != "real floating":
        return out
    return xp.where(xp.isinf(a) | xp.isinf(b), xp.floor(a / b), out)


defprim("floor_divide", _floor_divide, promotion="mixed")
for _name in ("bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift",
              "bitwise_right_shift", "logical_xor", "nextafter"):
    defprim(_name, (lambda name: lambda xp, a, b: getattr(xp, name)(a, b))(_name), promotion="mixed")
for _name in ("bitwise_invert", "signbit"):
    defprim(_name, (lambda name: lambda xp, x: getattr(xp, name)(x))(_name))
defprim("all", lambda xp, x, *, axis=None, keepdims=False: xp.all(x, axis=axis, keepdims=keepdims))
defprim("any", lambda xp, x, *, axis=None, keepdims=False: xp.any(x, axis=axis, keepdims=keepdims))
defprim("count_nonzero", lambda xp, x, *, axis=None, keepdims=False: xp.count_nonzero(x, axis=axis, keepdims=keepdims))
defprim("argsort", lambda xp, x, *, axis=-1, descending=False, stable=True:
        xp.argsort(x, axis=axis, descending=descending, stable=stable))
defprim("searchsorted", lambda xp, x1, x2, *, side="left": xp.searchsorted(x1, x2, side=side))
