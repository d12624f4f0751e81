"""The batching rules of vmap, and the batched tensors they act on.

Inside `vmap`, a tensor batched at some vmap levels is a `Batched`: its array
holds one batch axis per level it is batched at, in level order, in front of
the per-sample axes, which are all `shape`, `ndim` and `size` show. Every
primitive called on one goes through `dispatch` (engine.apply calls it while a
vmap runs): the primitive's batching rule turns the per-sample call into one
call on the whole arrays (the "physical" call: a plain apply, recorded on the
tape and pushing tangents as any other), so reverse and forward mode see an
ordinary program over the batched arrays, and each sample's part of it stays
apart from the others'.

A rule is `rule(primitive, inputs, params, levels) -> (array-tensor, levels)`,
registered on the primitive as its `batch` attribute (as primitives_complex
registers `complex`). A primitive without one falls back to `_loop`: one call
per sample, stacked; slower but never wrong. The table at the end says which
rule each primitive has.
"""

import math
import threading
from contextlib import contextmanager

from ..core import engine
from ..namespace import ops
from ..primitives import fused  # noqa: F401 (fused: its primitives get rules below)
from ..namespace.creation import arange
from ..core.errors import ShapeError
from ..primitives.table import PRIMITIVES
from ..core.tensor import Size, Tensor


class _Vmap(threading.local):
    sizes = {}  # active vmap level -> its batch size
    randomness = {}  # active vmap level -> its randomness ("error", "same", "different"): spread reads it


vmaps = _Vmap()


class Batched(Tensor):
    """A tensor batched at `_levels` (ascending vmap levels); its array has those batch axes in front."""

    __slots__ = ("_levels",)

    # While a physical call runs (engine.state.batch is None) a Batched shows its whole array:
    # the rules of a recorded backward read the shapes of their inputs.
    @property
    def shape(self):
        if engine.state.batch is None:
            return tuple(self.array.shape)
        return tuple(self.array.shape[len(self._levels):])

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return Size(self.shape)

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def detach(self):
        return wrap(Tensor.detach(self), self._levels)

    def item(self):
        raise RuntimeError("vmap: item() on a batched tensor: the value differs per sample "
                           "(data-dependent Python control flow is not supported under vmap, as in torch.func)")

    def __bool__(self):
        self.item()

    def numpy(self):
        raise RuntimeError("vmap: numpy() on a batched tensor is not supported (return it from the function instead)")


def levels_of(t):
    return t._levels if isinstance(t, Batched) else ()


def spread(made):
    """A random draw under vmap: made(batch shape) draws with one axis in front per randomness="different"
    level (none: one draw shared by the batch), returned batched at those levels."""
    levels = tuple(sorted(level for level, how in vmaps.randomness.items() if how == "different"))
    return wrap(made(tuple(vmaps.sizes[level] for level in levels)), levels)


def wrap(t, levels):
    """t's array as a tensor batched at `levels` (the same graph node: t is fresh, nothing refers to it yet)."""
    if isinstance(t, Batched) and t._levels == tuple(levels):
        return t  # already so: the same node
    if not levels:
        return _plain(t) if isinstance(t, Batched) else t
    b = Batched.__new__(Batched)
    for name in Tensor.__slots__[:-1]:  # all but __weakref__
        if hasattr(t, name):
            setattr(b, name, getattr(t, name))
    b._levels = tuple(levels)
    return b


def _plain(t):
    p = Tensor.__new__(Tensor)
    for name in Tensor.__slots__[:-1]:
        if hasattr(t, name):
            setattr(p, name, getattr(t, name))
    return p


@contextmanager
def _dispatching(how):
    previous = engine.state.batch
    engine.state.batch = how
    try:
        yield
    finally:
        engine.state.batch = previous


def physical():
    """Inside, primitives act on whole arrays (no dispatch): the rules' own calls, and backward passes."""
    return _dispatching(None)


def logical():
    """Back to per-sample semantics inside a rule (for rules written as other primitives)."""
    return _dispatching(dispatch)


def dispatch(primitive, inputs, params):
    """The result of `primitive` on inputs some of which are batched; None: none is."""
    levels = sorted({level for t in inputs for level in levels_of(t)})
    if not levels:
        return None
    rule = primitive.batch or _loop
    with physical():
        out = rule(primitive, inputs, params, tuple(levels))
    return out if isinstance(out, Tensor) else wrap(*out)


# ---------------------------------------------------------------- helpers (physical mode)
def _logical_shape(t):
    return tuple(t.array.shape[len(levels_of(t)):])


def _aligned(t, levels, rank):
    """t's array with a size-1 axis for each of `levels` it is not batched at, and its per-sample
    axes padded with leading 1s to `rank`: ready to broadcast against the others."""
    own = levels_of(t)
    logical = _logical_shape(t)
    sizes = t.array.shape[:len(own)]
    batch = tuple(sizes[own.index(level)] if level in own else 1 for level in levels)
    shape = batch + (1,) * (rank - len(logical)) + logical
    return t if shape == tuple(t.array.shape) else ops.reshape(t, shape)


def _full(t, levels):
    """t's array batched at every one of `levels`, at full size (broadcast where it was not)."""
    aligned = _aligned(t, levels, len(_logical_shape(t)))
    shape = tuple(vmaps.sizes[level] for level in levels) + _logical_shape(t)
    return aligned if tuple(aligned.shape) == shape else ops.broadcast_to(aligned, shape)


def _shift(axis, k):
    """A per-sample axis as an axis of the whole array (negative axes count from the end: unchanged)."""
    if isinstance(axis, tuple):
        return tuple(_shift(a, k) for a in axis)
    return axis + k if axis >= 0 else axis


# ---------------------------------------------------------------- rules
def elementwise(primitive, inputs, params, levels):
    rank = max(len(_logical_shape(t)) for t in inputs)
    return engine.apply(primitive, [_aligned(t, levels, rank) for t in inputs], params), levels


def _with_axes(translate):
    """A rule for a primitive whose inputs are all batched in full and whose params name axes."""
    def rule(primitive, inputs, params, levels):
        full = [_full(t, levels) for t in inputs]
        changed = translate(dict(params), len(levels), _logical_shape(inputs[0]), levels)
        if changed is None:
            return _loop(primitive, inputs, params, levels)
        return engine.apply(primitive, full, changed), levels

    return rule


def _axis_param(name="axis", none_means_all=True):
    def translate(params, k, shape, levels):
        axis = params[name]
        if axis is None:
            if not none_means_all:
                return None
            axis = tuple(range(len(shape)))
        params[name] = _shift(axis, k)
        return params

    return translate


def _shape_param(params, k, shape, levels):
    params["shape"] = tuple(vmaps.sizes[level] for level in levels) + tuple(params["shape"])
    return params


def _permute(params, k, shape, levels):
    params["axes"] = tuple(range(k)) + tuple(a % len(shape) + k for a in params["axes"])
    return params


def _key(params, k, shape, levels):
    parts = params["key"] if isinstance(params["key"], tuple) else (params["key"],)
    if not all(p is None or p is Ellipsis or isinstance(p, (int, slice)) for p in parts):
        return None  # an array key: one call per sample
    params["key"] = (slice(None),) * k + parts
    return params


def _key_and_shape(params, k, shape, levels):
    """scatter_slice (getitem's transpose): its key as getitem's, its shape with the batch sizes in front."""
    params = _key(params, k, shape, levels)
    return None if params is None else _shape_param(params, k, shape, levels)


def _broadcast_to(primitive, inputs, params, levels):
    x = _aligned(inputs[0], levels, len(params["shape"]))  # x is batched at every level: it is the only input
    return engine.apply(primitive, [x], _shape_param(dict(params), len(levels), None, levels)), levels


def _matmul(primitive, inputs, params, levels):
    a, b = inputs
    vector_a, vector_b = len(_logical_shape(a)) == 1, len(_logical_shape(b)) == 1
    if vector_a:
        a = wrap(ops.expand_dims(a, axis=-2), levels_of(a))
    if vector_b:
        b = wrap(ops.expand_dims(b, axis=-1), levels_of(b))
    rank = max(len(_logical_shape(a)), len(_logical_shape(b)))
    out = engine.apply(primitive, [_aligned(a, levels, rank), _aligned(b, levels, rank)], params)
    if vector_a:
        out = ops.squeeze(out, axis=-2)
    if vector_b:
        out = ops.squeeze(out, axis=-1)
    return out, levels


def _unbatched_after_first(primitive, inputs, params, levels):
    """linear, layer_norm: any leading axes are fine for x; batched weights go through other primitives."""
    if any(levels_of(t) for t in inputs[1:]):
        return _decomposed[primitive.name](*inputs, **params)
    return engine.apply(primitive, inputs, params), levels_of(inputs[0])


def _linear(x, weight, bias):
    with logical():
        return ops.matmul(x, ops.matrix_transpose(weight)) + bias


def _layer_norm(x, weight, bias, n, eps):
    with logical():
        axes = tuple(range(-n, 0))
        mean = ops.mean(x, axis=axes, keepdims=True)
        var = ops.mean((x - mean) ** 2, axis=axes, keepdims=True)
        return (x - mean) / ops.sqrt(var + eps) * weight + bias


_decomposed = {"linear": _linear, "layer_norm": _layer_norm}


def _fold_into_n(primitive, inputs, params, levels):
    """conv, max_pool, the pools and conv_transpose: the batch axes folded into the primitive's own N axis
    when the other inputs (the weights) are shared; else one call per sample (conv: grouped)."""
    x = inputs[0]
    if any(levels_of(t) for t in inputs[1:]):
        return _grouped_conv(inputs, params, levels) if primitive.name == "conv" else \
            _loop(primitive, inputs, params, levels)
    logical = _logical_shape(x)
    batch = tuple(x.array.shape[:len(levels_of(x))])
    folded = ops.reshape(x, (math.prod(batch) * logical[0],) + logical[1:])
    out = engine.apply(primitive, [folded, *inputs[1:]], params)
    return ops.reshape(out, batch + (logical[0],) + tuple(out.shape[1:])), levels_of(x)


def _grouped_conv(inputs, params, levels):
    """conv with per-sample weights (per-sample gradients, ensembles): the batch becomes groups, as
    torch.func's rule does: x (B, N, C, ...) -> (N, B*C, ...), weight (B, O, ...) -> (B*O, ...)."""
    x, weight, bias = (_full(t, levels) for t in inputs)
    sizes = tuple(vmaps.sizes[level] for level in levels)
    b, k = math.prod(sizes), len(levels)
    n, c, *spatial = x.shape[k:]
    x = ops.reshape(ops.moveaxis(ops.reshape(x, (b, n, c, *spatial)), 0, 1), (n, b * c, *spatial))
    weight = ops.reshape(weight, (b * weight.shape[k],) + tuple(weight.shape[k + 1:]))
    bias = ops.reshape(bias, (b * bias.shape[k],))
    out = engine.apply(PRIMITIVES["conv"], [x, weight, bias], {**params, "groups": b * params["groups"]})
    out = ops.moveaxis(ops.reshape(out, (n, b, -1, *out.shape[2:])), 1, 0)
    return ops.reshape(out, sizes + tuple(out.shape[1:])), levels


def _take(primitive, inputs, params, levels):
    """take along a per-sample axis with shared indices; batched indices go one call per sample."""
    x, indices = inputs
    if levels_of(indices):
        return _loop(primitive, inputs, params, levels)
    return engine.apply(primitive, [x, indices], {**params, "axis": _shift(params["axis"], len(levels))}), levels


def _loop(primitive, inputs, params, levels):
    """The fallback: one call per sample (over every batch level at once), stacked."""
    full = [_full(t, levels) for t in inputs]
    sizes = tuple(vmaps.sizes[level] for level in levels)
    flat = [ops.reshape(t, (math.prod(sizes),) + _logical_shape(u)) for t, u in zip(full, inputs)]
    outs = [engine.apply(primitive, [t[i] for t in flat], params) for i in range(math.prod(sizes))]
    stacked = ops.stack(outs, axis=0)
    return ops.reshape(stacked, sizes + tuple(stacked.shape[1:])), levels


def per_sample(function, *args):
    """function(*args) one sample at a time, results stacked: for composites whose raw-array arithmetic
    (index checks, flat offsets) no batching rule sees. The slices and the stack are recorded: it differentiates."""
    levels = tuple(sorted({level for a in args for level in levels_of(a)}))
    sizes = tuple(vmaps.sizes[level] for level in levels)
    with physical():
        flat = [ops.reshape(_full(a, levels), (math.prod(sizes),) + _logical_shape(a)) if levels_of(a) else None
                for a in args]
        samples = [[a if f is None else f[i] for a, f in zip(args, flat)] for i in range(math.prod(sizes))]
    outs = [function(*sample) for sample in samples]  # no batched input: the eager path
    if any(levels_of(o) for o in outs):
        raise NotImplementedError("vmap: a per-sample fallback whose result is batched at another vmap level "
                                  "is not supported")
    with physical():
        stacked = ops.stack(outs, axis=0)
        return wrap(ops.reshape(stacked, sizes + tuple(stacked.shape[1:])), levels)


# ---------------------------------------------------------------- transforms under vmap (polygrad.autodiff.transforms)
def _active():
    return tuple(sorted(vmaps.sizes))


def watch(x):
    """grad's leaf for x under vmap: batched at every active level, so each sample has its own gradient
    (an unbatched x, such as shared weights, is broadcast: one copy per sample)."""
    levels = _active()
    with physical():
        full = _full(x, levels)
        if x.requires_grad:  # an outer derivative goes through x: stay on its tape
            return x if full is x else wrap(full, levels)
        leaf = Tensor._wrap(full.array, full.device)
        leaf.tangent = full.tangent
        return wrap(leaf.requires_grad_(), levels)


def pullback(grad, pairs, watched, nested):
    """autodiff.grad over the batched arrays: each sample's cotangent reaches only its own leaves.

    A cotangent batched where its output is not (vmap(vjp_fn)(basis): a Jacobian by rows) takes one
    backward pass per sample of it: the graph holds no batch axis to carry them."""
    if any(c is not None and set(levels_of(c)) - set(levels_of(o)) for o, c in pairs):
        def gradient(j):
            return lambda *cotangents: pullback(grad, [(o, c) for (o, _), c in zip(pairs, cotangents)], watched,
                                                nested)[j]

        return [per_sample(gradient(j), *[c for _, c in pairs]) for j in range(len(watched))]
    with physical():
        seeds = []
        for o, c in pairs:
            if c is None:
                c = o.xp.ones(o.array.shape, dtype=o.array.dtype, device=o.device.native)
                seeds.append(Tensor._wrap(c, o.device))
                continue
            c = c if isinstance(c, Tensor) else ops.asarray(c, device=o.device, dtype=o.dtype)
            seeds.append(_full(c, levels_of(o)))
        grads = grad([o for o, _ in pairs], watched, grad_outputs=seeds, retain_graph=True, create_graph=nested)
    return [wrap(g, levels_of(w)) for g, w in zip(grads, watched)]


def dual(x, tangent):
    """forward mode's input under vmap: primal and tangent batched alike."""
    t = x if tangent is None else tangent
    t = t if isinstance(t, Tensor) else ops.asarray(t, device=x.device, dtype=x.dtype)
    if tangent is not None and t.shape != x.shape:
        raise ShapeError(f"dual: tangent of shape {t.shape} does not match primal of shape {x.shape}")
    levels = tuple(sorted(set(levels_of(x)) | set(levels_of(t))))
    with physical():
        primal = _full(x, levels)
        leaf = Tensor._wrap(primal.array, primal.device)
        if tangent is not None:
            leaf.tangent = _full(t, levels).array
    return wrap(leaf, levels)


def cross_entropy(logits, target, reduction, label_smoothing, weight, ignore_index):
    """F.cross_entropy of (N, C) logits and class indices under vmap: a one-hot sum, no data-dependent branch
    (the eager path asks whether any entry is ignored). The other options raise rather than guess."""
    if weight is not None or label_smoothing or reduction not in ("mean", "sum", "none") or logits.ndim != 2 \
            or not target.xp.isdtype(target.array.dtype, "integral"):
        raise NotImplementedError("cross_entropy under vmap: only (N, C) logits with class indices, no weight "
                                  "and no label_smoothing are supported")
    classes = logits.shape[1]
    valid = (target.array >= 0) & (target.array < classes) | (target.array == ignore_index)
    if not bool(target.xp.all(valid)):  # a check on the whole batch at once: no per-sample value is read
        raise IndexError(f"cross_entropy: class target out of range [0, {classes})")
    one_hot = ops.astype(ops.expand_dims(target, axis=-1) == arange(classes, device=target.device, backend=target.backend.name),
                         logits.dtype)
    loss = -ops.sum(ops.log_softmax(logits, axis=1) * one_hot, axis=1)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return ops.sum(loss)
    return ops.sum(loss) / ops.sum(ops.astype(target != ignore_index, logits.dtype))


# ---------------------------------------------------------------- the table
ELEMENTWISE = (
    "add", "subtract", "multiply", "divide", "negative", "pow", "exp", "expm1", "log", "log1p", "sqrt", "sin",
    "cos", "tanh", "sigmoid", "log_sigmoid", "softplus", "relu", "abs", "maximum", "minimum", "clip", "where",
    "astype", "erf", "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and",
    "logical_or", "logical_not", "isnan", "isinf", "isfinite", "sign", "floor", "ceil", "round", "trunc", "tan",
    "sinh", "cosh", "asin", "acos", "atan", "asinh", "acosh", "atanh", "log2", "log10", "reciprocal", "positive",
    "atan2", "logaddexp", "hypot", "copysign", "remainder", "floor_divide", "bitwise_and", "bitwise_or",
    "bitwise_xor", "bitwise_left_shift", "bitwise_right_shift", "logical_xor", "nextafter", "bitwise_invert",
    "signbit", "angle", "complex_part", "gelu", "dropout",
    # they act on the last axes only: leading batch axes are more of the same
    "matrix_transpose", "tril", "triu", "linalg_inv", "linalg_det", "linalg_logabsdet", "linalg_cholesky",
    "linalg_eigh", "linalg_eigvalsh", "linalg_svd", "linalg_svdvals", "linalg_qr", "linalg_pinv",
    "linalg_sign_of_det", "linalg_matrix_rank",
)
# reductions: axis=None means every per-sample axis
REDUCTIONS = ("sum", "mean", "max", "min", "prod", "var", "std", "logsumexp", "all", "any", "count_nonzero", "flip")
# an axis that must be given (or None flattens, which is not batched: one call per sample)
AXIS = ("softmax", "log_softmax", "concat", "cumulative_sum", "cumulative_prod", "argsort", "argmax",
        "argmin", "roll", "fft_fft", "fft_ifft", "fft_rfft", "fft_irfft", "expand_dims", "squeeze")

RULES = {name: elementwise for name in ELEMENTWISE}
RULES.update({name: _with_axes(_axis_param()) for name in REDUCTIONS})
RULES.update({name: _with_axes(_axis_param(none_means_all=False)) for name in AXIS})
RULES.update({
    "reshape": _with_axes(_shape_param), "permute_dims": _with_axes(_permute), "getitem": _with_axes(_key),
    "scatter_slice": _with_axes(_key_and_shape),
    "broadcast_to": _broadcast_to, "matmul": _matmul, "linear": _unbatched_after_first,
    "layer_norm": _unbatched_after_first, "conv": _fold_into_n, "max_pool": _fold_into_n, "take": _take,
    "avg_pool": _fold_into_n, "adaptive_avg_pool": _fold_into_n, "conv_transpose": _fold_into_n,
})
# No rule written yet: one call per sample (_loop), correct but slow. (softmax_cross_entropy is never met
# under vmap: F.cross_entropy takes batching.cross_entropy there.)
LOOP = ("scatter_add", "windows", "col2im", "softmax_cross_entropy", "searchsorted", "linalg_solve",
        "linalg_eig", "linalg_eigvals", "fft_fftn", "fft_ifftn", "lstm_sequence", "attention",
        "gru_sequence", "rnn_sequence", "rms_norm",
        # never met under vmap: there F.nll_loss and F.embedding take their composites, F.cross_entropy its rule
        "nll_loss", "embedding", "cross_entropy", "soft_cross_entropy")
for _name, _rule in RULES.items():
    PRIMITIVES[_name].batch = _rule
