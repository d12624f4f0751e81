"""polygrad's namespace of differentiable functions, named as in the Array API.

Every primitive in the rule table becomes a function here, generated from its
forward signature: inputs are its positional parameters, options its
keyword-only ones. The functions below that table are composites: built from
primitives, they need no rules of their own. This module is also the `xp` the
rules see under `create_graph=True`.
"""

import builtins  # the namespace's own all, any, sum, max ... shadow the builtins below
import inspect
import math
import warnings

from ..core import dtypes, engine
from .. import backends
from ..core.placement import resolve_device, resolve_dtype, resolve_target
from .creation import from_data, full_like, ones_like, zeros_like  # noqa: F401 (xp.zeros_like in rules under create_graph)
from ..core.dtypes import result_type
from ..core.engine import Operation, apply, state
from ..core.errors import AxisError, DtypeError, describe, unexpected_keyword
# every row joins the table before the functions are made: pg.linalg's, the complex-only and the fused ones
from ..primitives import complex as _complex_rows, fused, fused_pool as _pool_rows, fused_rnn as _rnn_rows  # noqa: F401
from ..primitives import fused_attention as _attention_rows, fused_loss as _loss_rows, fused_norm as _norm_rows  # noqa: F401
from ..primitives import linalg as _linalg_rows  # noqa: F401
from ..primitives.table import PRIMITIVES
from ..core.tensor import Tensor

_NO_OPTIONS = {}


# the standard's dtype kinds as the three that decide promotion here
_PROMOTION_KIND = {"bool": "bool", "signed integer": "integral", "unsigned integer": "integral",
                   "real floating": "floating", "complex floating": "floating"}


def kind(tensor):
    """'bool', 'integral' or 'floating', read off the dtype object (dtypes caches it per native dtype)."""
    return _PROMOTION_KIND[dtypes.from_native(tensor.array.dtype).kind]


# Scalar operands as 0-d tensors, made once per (device, dtype, value): creating one
# costs more than the operation it feeds. Operands are never written in place, and
# a constant never requires grad, so graphs can share it.
# Devices are made once and kept by their backend, so their ids are stable keys.
_constants = {}


def asarray_like(value, like):
    """A Python scalar (or array) as a tensor on `like`'s device, in the dtype PyTorch gives it.

    A number of `like`'s category or a lower one takes `like`'s dtype (a bool joins
    anything; an int out of an integer dtype's range wraps around, as in PyTorch:
    uint8 + 300 adds 44). A number of a higher category takes that category's
    default: an int meeting a bool tensor is int64, a float meeting an integer or
    bool tensor the default float dtype; a complex meeting a floating tensor its
    complex dtype (complex128 for float64), not the default one: 0.99j in complex64
    is 0.9900000095367432j.
    """
    if isinstance(value, Tensor):
        return value
    kind_of_value = type(value)
    in_like = kind_of_value is float or kind_of_value is int or (kind_of_value is complex and kind(like) == "floating")
    if not in_like and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return asarray(value, device=like.device)  # a bool is 0-d bool: promotion lets it join any dtype
    key = (id(like.device), like.array.dtype, kind_of_value, value)
    constant = _constants.get(key)
    if constant is None:
        dtype = like.array.dtype
        like_kind = kind(like)
        if kind_of_value is float and like_kind != "floating":
            dtype = resolve_dtype(None, like.device)
        elif kind_of_value is int and like_kind == "bool":
            dtype = resolve_dtype(None, like.device, "integral")
        elif kind_of_value is int and like_kind == "integral":
            value = _wrapped(value, dtypes.from_native(dtype))
        elif kind_of_value is complex:
            dtype = resolve_dtype(result_type(like, value), like.device)
        if len(_constants) >= 1024:
            _constants.clear()
        data = like.xp.asarray(value, dtype=dtype, device=like.device.native)
        constant = _constants[key] = Tensor._wrap(data, like.device)
    return constant


def _wrapped(value, dtype):
    """An int brought into an integer dtype's range the way a cast wraps it (PyTorch's uint8 + 300)."""
    info = dtypes.iinfo(dtype)
    if info.min <= value <= info.max:
        return value
    return (value - info.min) % (1 << info.bits) + info.min


def _operands(args, promotion=None):
    """Tensors for every argument: scalars and arrays join a Tensor argument's device.

    A scalar takes the dtype of the first non-boolean Tensor (so `where(mask, x, 0.0)`
    gives 0.0 x's dtype). With `promotion`, integer operands meeting floating ones
    compute in floating point, as in PyTorch ("true_divide": integers alone too).
    """
    operands = args
    for a in args:
        if not isinstance(a, Tensor):
            if promotion == "true_divide":  # an int divides as the float it is (uint8 / -1 is -3.0, not / 255)
                args = [float(a) if type(a) is int else a for a in args]
            operands = _join(args)
            break
    if not promotion or (promotion == "mixed" and len(operands) == 2 and operands[0].device is operands[1].device
                         and operands[0].array.dtype == operands[1].array.dtype):
        return operands  # one dtype meets itself: nothing to promote (the common case, kept short)
    return _promote(operands, promotion)


def _join(args):
    if len(args) == 2:  # tensor op scalar, scalar op tensor: the common cases, kept short
        a, b = args  # (the one Tensor is the `like` below too, boolean or not)
        if isinstance(a, Tensor):
            return [a, asarray_like(b, a)]
        if isinstance(b, Tensor):
            return [asarray_like(a, b), b]
    tensors = [a for a in args if isinstance(a, Tensor)]
    if not tensors:
        return [asarray(a) for a in args]
    like = next((t for t in tensors if kind(t) != "bool"), tensors[0])
    return [a if isinstance(a, Tensor) else asarray_like(a, like) for a in args]


def result_dtype(tensors):
    """The dtype PyTorch gives an elementwise op of these tensors (None: it has none, as for uint64 with int64)."""
    try:
        return dtypes.torch_result_type([(t.array.dtype, t.ndim) for t in tensors])
    except DtypeError:
        return None


def _promote(tensors, promotion):
    """The operands in PyTorch's result dtype (the `where` condition left as it is); with
    "true_divide", integers and bools compute in the default float dtype."""
    if builtins.any(t.device.backend is not tensors[0].device.backend for t in tensors):
        return tensors  # no cast between libraries' dtypes: the operation itself names the mismatch
    values = tensors[1:] if promotion == "where" else tensors
    target = result_dtype(values)
    if target is None:
        return tensors  # no promotion defined (uint64 with int64): the backend decides or refuses
    if promotion == "true_divide" and target.kind not in ("real floating", "complex floating"):
        target = dtypes.from_native(resolve_dtype(None, tensors[0].device))
    promoted = [t if dtypes.from_native(t.array.dtype) is target
                else astype(t, resolve_dtype(target, t.device)) for t in values]  # noqa: F821 (below)
    return [tensors[0], *promoted] if promotion == "where" else promoted


def signature(primitive):
    """(variadic, number of inputs, {option: default}) read off a primitive's forward."""
    parameters = list(inspect.signature(primitive.forward).parameters.values())[1:]
    variadic = builtins.any(p.kind is p.VAR_POSITIONAL for p in parameters)
    n_inputs = len([p for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD])
    options = {p.name: p.default for p in parameters if p.kind is p.KEYWORD_ONLY}
    return variadic, n_inputs, options


def _public(primitive):
    variadic, n_inputs, options = signature(primitive)
    option_names = list(options)
    parameters = list(inspect.signature(primitive.forward).parameters)[1:]
    required = [name for name, default in options.items() if default is inspect.Parameter.empty]
    takes_axis = "axis" in options
    promotion = primitive.promotion

    if not options:
        def function(*args):
            return apply(primitive, _operands(args, promotion), _NO_OPTIONS)
    else:
        def function(*args, **kwargs):
            if variadic:
                inputs, rest = args[0], args[1:]
            else:
                inputs, rest = args[:n_inputs], args[n_inputs:]
            values = dict(options)
            values.update(zip(option_names, rest))
            if kwargs.keys() - options.keys():
                raise unexpected_keyword(primitive.name, builtins.min(kwargs.keys() - options.keys()), parameters)
            values.update(kwargs)
            for name in required:
                if values[name] is inspect.Parameter.empty:
                    raise TypeError(f"{primitive.name}: missing argument {name!r}")
            if takes_axis and isinstance(values["axis"], list):
                values["axis"] = tuple(values["axis"])  # NumPy users pass lists; the standard wants tuples
            return apply(primitive, _operands(inputs, promotion), values)

    function.__name__ = function.__qualname__ = primitive.name
    function.__doc__ = primitive.doc or f"polygrad.{primitive.name}: see the rule table in polygrad.primitives.table."
    function.__signature__ = standard_signature(primitive)
    return function


# Options the standard lets be passed by position (the rest are keyword-only).
_POSITIONAL_OPTIONS = {"clip": ("min", "max"), "expand_dims": ("axis",)}
# The standard's names of two inputs; rules name them a, b.
_INPUT_NAMES = {"a": "x1", "b": "x2"}


def standard_signature(primitive):
    """The signature the Array API gives `primitive`, read off its forward: inputs
    positional-only (a, b named x1, x2), then required options and those the
    standard lets be positional, then the keyword-only rest.

    It is what `inspect.signature` and help() show; the generated function is
    more lenient than it (options may come by position, as polygrad always allowed).
    """
    P = inspect.Parameter
    forward = list(inspect.signature(primitive.forward).parameters.values())[1:]
    positional = _POSITIONAL_OPTIONS.get(primitive.name, ())
    inputs, by_position, by_keyword = [], [], []
    for p in forward:
        if p.kind is P.VAR_POSITIONAL:
            inputs.append(P("arrays", P.POSITIONAL_ONLY))
        elif p.kind is P.POSITIONAL_OR_KEYWORD:
            inputs.append(P(_INPUT_NAMES.get(p.name, p.name), P.POSITIONAL_ONLY))
        elif p.default is P.empty or p.name in positional:
            by_position.append(p.replace(kind=P.POSITIONAL_OR_KEYWORD))
        else:
            by_keyword.append(p)
    return inspect.Signature(inputs + by_position + by_keyword)


# The functions generated from the rule table, one per primitive, by name; this module reads them from
# here. Each is also spelled out below as a plain attribute (`ops.sin`, `from .ops import *`, `xp.sin` in
# rules under create_graph): a module __getattr__ would add a call to every `ops.add` (the eager hot
# path). Composites further down take the names of some (astype, sum, getitem, ...).
# tests/test_import_layers.py holds the spelled-out names equal to the table's.
GENERATED = {name: _public(p) for name, p in PRIMITIVES.items()}
add = GENERATED["add"]
subtract = GENERATED["subtract"]
multiply = GENERATED["multiply"]
divide = GENERATED["divide"]
negative = GENERATED["negative"]
pow = GENERATED["pow"]
exp = GENERATED["exp"]
expm1 = GENERATED["expm1"]
log = GENERATED["log"]
log1p = GENERATED["log1p"]
sqrt = GENERATED["sqrt"]
sin = GENERATED["sin"]
cos = GENERATED["cos"]
tanh = GENERATED["tanh"]
sigmoid = GENERATED["sigmoid"]
log_sigmoid = GENERATED["log_sigmoid"]
softplus = GENERATED["softplus"]
relu = GENERATED["relu"]
abs = GENERATED["abs"]
maximum = GENERATED["maximum"]
minimum = GENERATED["minimum"]
where = GENERATED["where"]
matmul = GENERATED["matmul"]
matrix_transpose = GENERATED["matrix_transpose"]
mean = GENERATED["mean"]
max = GENERATED["max"]
min = GENERATED["min"]
var = GENERATED["var"]
std = GENERATED["std"]
logsumexp = GENERATED["logsumexp"]
softmax = GENERATED["softmax"]
log_softmax = GENERATED["log_softmax"]
linear = GENERATED["linear"]
softmax_cross_entropy = GENERATED["softmax_cross_entropy"]
permute_dims = GENERATED["permute_dims"]
expand_dims = GENERATED["expand_dims"]
squeeze = GENERATED["squeeze"]
broadcast_to = GENERATED["broadcast_to"]
concat = GENERATED["concat"]
scatter_slice = GENERATED["scatter_slice"]
scatter_add = GENERATED["scatter_add"]
windows = GENERATED["windows"]
col2im = GENERATED["col2im"]
erf = GENERATED["erf"]
equal = GENERATED["equal"]
not_equal = GENERATED["not_equal"]
less = GENERATED["less"]
less_equal = GENERATED["less_equal"]
greater = GENERATED["greater"]
greater_equal = GENERATED["greater_equal"]
logical_and = GENERATED["logical_and"]
logical_or = GENERATED["logical_or"]
logical_not = GENERATED["logical_not"]
isnan = GENERATED["isnan"]
isinf = GENERATED["isinf"]
isfinite = GENERATED["isfinite"]
sign = GENERATED["sign"]
floor = GENERATED["floor"]
ceil = GENERATED["ceil"]
round = GENERATED["round"]
trunc = GENERATED["trunc"]
argmax = GENERATED["argmax"]
argmin = GENERATED["argmin"]
tan = GENERATED["tan"]
sinh = GENERATED["sinh"]
cosh = GENERATED["cosh"]
asin = GENERATED["asin"]
acos = GENERATED["acos"]
atan = GENERATED["atan"]
asinh = GENERATED["asinh"]
acosh = GENERATED["acosh"]
atanh = GENERATED["atanh"]
log2 = GENERATED["log2"]
log10 = GENERATED["log10"]
reciprocal = GENERATED["reciprocal"]
positive = GENERATED["positive"]
atan2 = GENERATED["atan2"]
logaddexp = GENERATED["logaddexp"]
hypot = GENERATED["hypot"]
copysign = GENERATED["copysign"]
remainder = GENERATED["remainder"]
flip = GENERATED["flip"]
roll = GENERATED["roll"]
tril = GENERATED["tril"]
triu = GENERATED["triu"]
floor_divide = GENERATED["floor_divide"]
bitwise_and = GENERATED["bitwise_and"]
bitwise_or = GENERATED["bitwise_or"]
bitwise_xor = GENERATED["bitwise_xor"]
bitwise_left_shift = GENERATED["bitwise_left_shift"]
bitwise_right_shift = GENERATED["bitwise_right_shift"]
logical_xor = GENERATED["logical_xor"]
nextafter = GENERATED["nextafter"]
bitwise_invert = GENERATED["bitwise_invert"]
signbit = GENERATED["signbit"]
all = GENERATED["all"]
any = GENERATED["any"]
count_nonzero = GENERATED["count_nonzero"]
argsort = GENERATED["argsort"]
linalg_inv = GENERATED["linalg_inv"]
linalg_solve = GENERATED["linalg_solve"]
linalg_det = GENERATED["linalg_det"]
linalg_logabsdet = GENERATED["linalg_logabsdet"]
linalg_cholesky = GENERATED["linalg_cholesky"]
linalg_eigh = GENERATED["linalg_eigh"]
linalg_eigvalsh = GENERATED["linalg_eigvalsh"]
linalg_svd = GENERATED["linalg_svd"]
linalg_svdvals = GENERATED["linalg_svdvals"]
linalg_qr = GENERATED["linalg_qr"]
linalg_pinv = GENERATED["linalg_pinv"]
angle = GENERATED["angle"]
gelu = GENERATED["gelu"]
layer_norm = GENERATED["layer_norm"]
conv = GENERATED["conv"]
max_pool = GENERATED["max_pool"]
lstm_sequence = GENERATED["lstm_sequence"]
gru_sequence = GENERATED["gru_sequence"]
rnn_sequence = GENERATED["rnn_sequence"]
attention = GENERATED["attention"]
rms_norm = GENERATED["rms_norm"]
dropout = GENERATED["dropout"]
nll_loss = GENERATED["nll_loss"]
cross_entropy = GENERATED["cross_entropy"]
soft_cross_entropy = GENERATED["soft_cross_entropy"]
embedding = GENERATED["embedding"]
avg_pool = GENERATED["avg_pool"]
conv_transpose = GENERATED["conv_transpose"]
adaptive_avg_pool = GENERATED["adaptive_avg_pool"]

_astype = GENERATED["astype"]
_getitem = GENERATED["getitem"]
_take = GENERATED["take"]
take_unchecked = _take  # the take primitive itself, for indices already checked (or made by polygrad)
_reshape = GENERATED["reshape"]
_sum = GENERATED["sum"]
_prod = GENERATED["prod"]
_cumulative_sum = GENERATED["cumulative_sum"]
_searchsorted = GENERATED["searchsorted"]
_clip = GENERATED["clip"]


def _standard(stub):
    """Show `stub`'s signature (the standard's) on a composite that also takes its options by position."""
    def decorate(function):
        function.__signature__ = inspect.signature(stub)
        return function

    return decorate


# ================================================================ composites and special cases
@_standard(lambda x, dtype, /, *, copy=True, device=None: None)
def astype(x, dtype, copy=True, device=None):
    """Cast (and, with `device`, move); a cast to a non-floating dtype carries no gradient.

    Real to complex and back differentiate (a real tensor's gradient is the real part).
    """
    x = _operands([x])[0]
    if device is not None:
        x = x.to(device)
    native = resolve_dtype(dtype, x.device)
    if native == x.array.dtype and not copy:
        return x
    if not x.xp.isdtype(native, ("real floating", "complex floating")):
        with engine.no_grad():
            return _astype(x, dtype=native)
    return _astype(x, dtype=native)


@_standard(lambda x, /, shape, *, copy=None: None)
def reshape(x, shape, copy=None):
    if copy is False:
        raise ValueError("reshape: copy=False is not supported (polygrad does not promise views)")
    return _reshape(x, shape=(shape,) if isinstance(shape, int) else tuple(shape))


@_standard(lambda x, /, *, axis=None, dtype=None, keepdims=False: None)
def sum(x, axis=None, keepdims=False, dtype=None):
    return _in(dtype, _sum(_accumulating(x, dtype), axis=axis, keepdims=keepdims))


@_standard(lambda x, /, *, axis=None, dtype=None, keepdims=False: None)
def prod(x, axis=None, keepdims=False, dtype=None):
    return _in(dtype, _prod(_accumulating(x, dtype), axis=axis, keepdims=keepdims))


@_standard(lambda x, /, *, axis=None, dtype=None, include_initial=False: None)
def cumulative_sum(x, axis=None, dtype=None, include_initial=False):
    """Running sums along `axis` (None only for a 1-D x)."""
    x = _operands([x])[0]
    if axis is None:
        if x.ndim != 1:
            raise ValueError(f"cumulative_sum: axis=None needs a 1-D tensor, got {describe(x)}")
        axis = 0
    return _in(dtype, _cumulative_sum(_accumulating(x, dtype), axis=axis, include_initial=include_initial))


def _accumulating(x, dtype):
    """x cast to `dtype` for a sum-like reduction (the standard accumulates in it)."""
    x = _operands([x])[0]
    return x if dtype is None else astype(x, dtype, copy=False)


def _in(dtype, out):
    """A reduction's result in the asked dtype (libraries widen small integers on their own)."""
    return out if dtype is None else astype(out, dtype, copy=False)


def stack(tensors, axis=0):
    tensors = _operands(tensors)
    return concat([expand_dims(t, axis=axis) for t in tensors], axis=axis)


def flatten(x, start_axis=0, end_axis=-1):
    shape = x.shape
    end = end_axis % len(shape) if shape else 0
    middle = math.prod(shape[start_axis:end + 1])
    return reshape(x, shape[:start_axis] + (middle,) + shape[end + 1:])


@_standard(lambda x, source, destination, /: None)
def moveaxis(x, source, destination):
    """Axes `source` (an int or a tuple) moved to positions `destination`, the rest keeping their order."""
    source, destination = _moved_axes(x, source), _moved_axes(x, destination)
    if len(source) != len(destination):
        raise ValueError(f"moveaxis: {len(source)} source axes but {len(destination)} destinations")
    order = [i for i in range(x.ndim) if i not in source]
    for at, axis in sorted(zip(destination, source)):
        order.insert(at, axis)
    return permute_dims(x, tuple(order))


def _moved_axes(x, axes):
    """moveaxis's axes as non-negative ints; one out of range or repeated is an error (NumPy's words)."""
    axes = (axes,) if isinstance(axes, int) else tuple(axes)
    for a in axes:
        if not -x.ndim <= a < x.ndim:
            raise AxisError(f"moveaxis: axis {a} is out of bounds for array of dimension {x.ndim}")
    axes = [a % x.ndim for a in axes]
    if len(set(axes)) != len(axes):
        raise ValueError(f"moveaxis: repeated axis in {axes}")
    return axes


def swapaxes(x, a, b):
    order = list(range(x.ndim))
    order[a], order[b] = order[b], order[a]
    return permute_dims(x, tuple(order))


@_standard(lambda x, /: None)
def square(x):
    return x * x


@_standard(lambda x1, x2, /, *, axes=2: None)
def tensordot(a, b, axes=2):
    """Contract the last `axes` dims of a with the first of b (or explicit axis lists)."""
    if isinstance(axes, int):
        axes_a, axes_b = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        axes_a, axes_b = [x % a.ndim for x in axes[0]], [x % b.ndim for x in axes[1]]
    free_a = [i for i in range(a.ndim) if i not in axes_a]
    free_b = [i for i in range(b.ndim) if i not in axes_b]
    size = math.prod(a.shape[i] for i in axes_a)
    left = reshape(permute_dims(a, tuple(free_a + axes_a)), (-1, size))
    right = reshape(permute_dims(b, tuple(axes_b + free_b)), (size, -1))
    shape = tuple(a.shape[i] for i in free_a) + tuple(b.shape[i] for i in free_b)
    return reshape(left @ right, shape)


@_standard(lambda x1, x2, /: None)
def outer(a, b):
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


def same_device(operation, x, index):
    """An index or mask Tensor must be where the tensor it indexes is, like any other operand:
    BackendMismatchError (DeviceMismatchError) naming `operation` otherwise. Moving it silently
    would hide a copy between libraries or devices, and some libraries read a foreign index, some raise."""
    if index.device is not x.device and index.device != x.device:
        engine.raise_mismatch(operation, x, index)


def checked_indices(indices, n, operation, axis, negative=True, like=None):
    """The raw integer array `indices` after checking every entry lies in [-n, n)
    ([0, n) with negative=False), negative entries wrapped to n + i.

    Raises IndexError naming `operation`, the offending value and the axis size,
    before any value is read: a flat index computed from an out-of-range entry
    would silently read another row. Costs two reductions (and, on a GPU, one
    synchronisation); indices polygrad computes itself skip it. With `like`, the
    Tensor being indexed, the indices must be on its device (same_device).
    """
    if like is not None:
        same_device(operation, like, indices)
    if hasattr(indices, "_levels"):  # batched under vmap: the raw array below would mix the samples
        raise NotImplementedError(f"vmap: {operation} with indices that differ per sample is not supported yet; "
                                  "map over the data only, or loop over the samples")
    xp = indices.xp
    if not xp.isdtype(indices.array.dtype, "integral"):
        raise IndexError(f"{operation}: indices must be integers, got {describe(indices)}")
    data = indices.array
    if math.prod(data.shape) == 0:
        return data
    low = check_bounds(xp, data, n, operation, axis, negative)
    return _wrap_negative(xp, data, n) if low < 0 else data


def check_bounds(xp, data, n, operation, axis, negative):
    """checked_indices' check on its own, returning the lowest entry (pg.compile replays it as a step)."""
    low, high = int(xp.min(data)), int(xp.max(data))
    floor = -n if negative else 0
    if low < floor or high >= n:
        bad = high if high >= n else low
        allowed = f"[{-n}, {n})" if negative else f"[0, {n})"
        raise IndexError(f"{operation}: index {bad} is out of bounds for axis {axis} with size {n} "
                         f"(allowed: {allowed})")
    return low


def take(x, indices, axis=None):
    """Entries of x at integer `indices` along `axis` (None: of the flattened x)."""
    x, indices = _operands([x, indices])
    if hasattr(indices, "_levels"):  # indices batched under vmap: one sample at a time
        return state.per_sample(lambda x, indices: take(x, indices, axis), x, indices)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    axis = axis % x.ndim
    data = checked_indices(indices, x.shape[axis], "take", axis, like=x)
    return _take(x, Tensor._wrap(data, x.device), axis=axis)


def take_along_axis(x, indices, axis=-1):
    """x's entries picked along `axis` by `indices` (same rank as x), through take."""
    x, indices = _operands([x, indices])
    if hasattr(indices, "_levels"):  # indices batched under vmap: one sample at a time
        return state.per_sample(lambda x, indices: take_along_axis(x, indices, axis), x, indices)
    axis = axis % x.ndim
    data = checked_indices(indices, x.shape[axis], "take_along_axis", axis, like=x)
    return pick_along_axis(x, Tensor._wrap(data, x.device), axis)


def pick_along_axis(x, indices, axis):
    """take_along_axis for indices already known to lie in [0, n): one flat take."""
    x_last = moveaxis(x, axis, -1)
    index_last = moveaxis(indices, axis, -1)
    lead = x_last.shape[:-1]
    n, k = x_last.shape[-1], index_last.shape[-1]
    index_last = broadcast_to(index_last, lead + (k,))
    rows = math.prod(lead)
    xp = x.xp
    offsets = xp.reshape(xp.arange(rows, dtype=indices.array.dtype, device=x.device.native) * n, lead + (1,))
    flat = xp.reshape(index_last.array + offsets, (-1,))
    picked = _take(reshape(x_last, (-1,)), Tensor._wrap(flat, x.device), axis=0)
    return moveaxis(reshape(picked, lead + (k,)), -1, axis)


def _wrap_negative(xp, index, n):
    return xp.where(index < 0, index + n, index)


def raw_key(key, x, operation):
    """An indexing key of x with Tensors replaced by their raw arrays, every
    integer array checked against the size of the axis it indexes."""
    parts = key if isinstance(key, tuple) else (key,)
    consumed = [0 if p is None or p is Ellipsis else p.ndim if _is_mask(p) else 1 for p in parts]
    raw, axis = [], 0
    for position, (part, width) in enumerate(zip(parts, consumed)):
        if part is Ellipsis:
            axis = x.ndim - builtins.sum(consumed[position + 1:])
        elif isinstance(part, Tensor):
            if _is_mask(part):
                same_device(operation, x, part)
                if part.shape != x.shape[axis:axis + width]:
                    raise IndexError(f"{operation}: boolean mask of shape {part.shape} does not match axes "
                                     f"{axis}..{axis + width - 1} of {describe(x)}")
                part = part.array
            else:
                part = checked_indices(part, x.shape[axis], operation, axis, like=x)
        raw.append(part)
        axis += width
    return tuple(raw) if isinstance(key, tuple) else raw[0]


def _is_mask(part):
    return isinstance(part, Tensor) and kind(part) == "bool"


def _is_mask_over_leading_axes(x, key):
    if len(key) != 1 or not x.backend.is_array(key[0]):
        return False
    mask = key[0]
    return mask.dtype == x.xp.bool and tuple(mask.shape) == x.shape[:mask.ndim]


def assign_slice(x, value, key):
    """x with x[key] replaced by value, recorded so both get their gradients.

    Basic keys only (ints, slices, None, Ellipsis): their adjoint is scatter_slice.
    """
    key = key if isinstance(key, tuple) else (key,)
    if _is_mask_over_leading_axes(x, key) and value.ndim == 0:
        # x[mask] = scalar, as array-API code writes it (array_api_extra.at(x)[mask].set(v)): a where()
        mask = key[0]
        mask = x.xp.reshape(mask, tuple(mask.shape) + (1,) * (x.ndim - mask.ndim))
        return where(Tensor._wrap(mask, x.device), value, x)
    if not builtins.all(p is None or p is Ellipsis or isinstance(p, (int, slice)) for p in key):
        raise IndexError(f"setitem: assigning through an index array is not recorded for backward on {describe(x)}; "
                         "use where(mask, value, x) or do it under no_grad()")
    if Ellipsis not in key:
        key = key + (Ellipsis,)
    xp = x.xp
    mask = xp.zeros(x.shape, dtype=xp.bool, device=x.device.native)
    mask[tuple(k for k in key if k is not None)] = True
    region = tuple(mask[key].shape)  # the per-sample shape under vmap too (x.array may hold batch axes)
    placed = scatter_slice(broadcast_to(value, region), key=key, shape=x.shape)
    return where(Tensor._wrap(mask, x.device), placed, x)


def _replaced(parts, positions, values):
    parts = list(parts)
    for position, value in zip(positions, values):
        parts[position] = value
    return tuple(parts)


def getitem(x, key):
    """Basic indexing is a primitive; integer-array and boolean-mask keys go through take.

    Supported array keys: one integer array (picks along axis 0), one boolean
    mask over the leading axes, a tuple of integer arrays and integers, one per
    leading axis (the integers taken as 0-d arrays, as the standard says), or
    one integer array or 1-D mask among slices (`x[:, idx]`).
    """
    parts = key if isinstance(key, tuple) else (key,)
    arrays = [k for k in parts if isinstance(k, (Tensor, list)) or x.backend.is_array(k)]
    if builtins.any(hasattr(k, "_levels") for k in arrays):  # an index batched under vmap: one sample at a time
        at = [i for i, k in enumerate(parts) if isinstance(k, Tensor)]
        return state.per_sample(lambda x, *ks: getitem(x, _replaced(parts, at, ks)), x, *[parts[i] for i in at])
    if not arrays:
        if Ellipsis not in parts:
            parts = parts + (Ellipsis,)  # the standard wants every axis spelled out
        return _getitem(x, key=parts)
    integers = [k for k in parts if isinstance(k, int) and not isinstance(k, bool)]
    if len(arrays) + len(integers) != len(parts):
        return _slices_around_array(x, parts)
    indices = [asarray(k, device=x.device) if not isinstance(k, Tensor) else k for k in parts]
    xp = x.xp
    if len(indices) == 1 and indices[0].dtype == xp.bool:
        mask = indices[0]
        same_device("getitem", x, mask)
        # the standard lets a mask's axis have size 0 (it then picks nothing) where x's has any size
        if mask.ndim > x.ndim or not builtins.all(m in (n, 0) for m, n in zip(mask.shape, x.shape)):
            raise IndexError(f"getitem: mask of shape {mask.shape} does not match {describe(x)}")
        flat = xp.nonzero(xp.reshape(mask.array, (-1,)))[0]
        # the row count spelled out: -1 is ambiguous when x is empty (x[False] on shape (0,))
        rows = reshape(x, (math.prod(x.shape[:mask.ndim]),) + x.shape[mask.ndim:])
        return _take(rows, Tensor._wrap(flat, x.device), axis=0)
    if len(indices) > x.ndim:
        raise IndexError(f"getitem: {len(indices)} index arrays for {describe(x)}")
    data = xp.broadcast_arrays(*[checked_indices(i, x.shape[axis], "getitem", axis, like=x)
                                for axis, i in enumerate(indices)])
    flat = xp.zeros_like(data[0])
    for axis, index in enumerate(data):
        flat = flat * x.shape[axis] + index
    rest = x.shape[len(indices):]
    picked = _take(reshape(x, (-1,) + rest), Tensor._wrap(xp.reshape(flat, (-1,)), x.device), axis=0)
    return reshape(picked, tuple(data[0].shape) + rest)


def list_key(key):
    """A list used as a Tensor's index, read as PyTorch 2.13 reads it: as a tuple of indices when
    it is short (under 32) and holds a list, tuple, array, slice, Ellipsis or None (x[[[0, 1], [2, 2]]]
    is x[[0, 1], [2, 2]]), else as one integer array. PyTorch warns that it will change this; so do we."""
    if len(key) < 32 and builtins.any(k is None or k is Ellipsis or isinstance(k, (list, tuple, slice, Tensor))
                                      for k in key):
        warnings.warn("indexing with a list of sequences reads it as a tuple, as PyTorch 2.13 does (which "
                      "will change in PyTorch); write x[tuple(seq)] or index with a Tensor", UserWarning,
                      stacklevel=3)
        return tuple(key)
    return key


def _slices_around_array(x, parts):
    """x[:, idx] or x[1:, ..., mask]: the slices first, then take along the array's axis."""
    is_array = [isinstance(p, (Tensor, list)) or x.backend.is_array(p) for p in parts]
    if is_array.count(True) != 1 or not builtins.all(a or isinstance(p, slice) or p is Ellipsis for a, p in zip(is_array, parts)):
        raise IndexError(
            f"getitem: on {describe(x)}, an array index may be combined only with slices and one '...'; "
            "use take/take_along_axis, or index in two steps"
        )
    dots = [i for i, p in enumerate(parts) if p is Ellipsis]  # by identity: `in` would compare a Tensor elementwise
    position = is_array.index(True)
    mask = parts[position] if isinstance(parts[position], Tensor) else asarray(parts[position], device=x.device)
    if mask.dtype == x.xp.bool and mask.ndim != 1:
        return _slices_around_mask(x, parts, position, mask, dots)
    if dots:
        at = dots[0]
        parts = parts[:at] + (slice(None),) * (x.ndim - len(parts) + 1) + parts[at + 1:]
    axis = next(i for i, p in enumerate(parts) if not isinstance(p, slice))
    index = parts[axis] if isinstance(parts[axis], Tensor) else asarray(parts[axis], device=x.device)
    sliced = _getitem(x, key=parts[:axis] + (slice(None),) + parts[axis + 1:] + (Ellipsis,))
    xp, n = x.xp, sliced.shape[axis]
    if index.dtype == xp.bool:
        same_device("getitem", x, index)
        if index.ndim != 1:
            raise IndexError(f"getitem: among slices a boolean mask must be 1-D, got shape {index.shape} for {describe(x)}")
        if index.shape[0] != n:
            raise IndexError(f"getitem: boolean mask of length {index.shape[0]} for axis {axis} with size {n} "
                             f"of {describe(x)}")
        flat = xp.nonzero(index.array)[0]
    else:
        flat = xp.reshape(checked_indices(index, n, "getitem", axis, like=x), (-1,))
    picked = _take(sliced, Tensor._wrap(flat, x.device), axis=axis)
    shape = tuple(flat.shape) if index.dtype == xp.bool else tuple(index.shape)
    return reshape(picked, sliced.shape[:axis] + shape + sliced.shape[axis + 1:])


def _slices_around_mask(x, parts, position, mask, dots):
    """x[..., mask] with a mask of k != 1 axes (NumPy's and PyTorch's meaning): the k axes it covers
    made one (k = 0 adds one of size 1), and the mask flattened over it."""
    start = builtins.sum(1 if p is not Ellipsis else x.ndim - (len(parts) - len(dots) - 1 + mask.ndim)
                         for p in parts[:position])
    covered = x.shape[start:start + mask.ndim]
    if tuple(covered) != tuple(mask.shape):
        raise IndexError(f"getitem: boolean mask of shape {mask.shape} for axes {start}.. of {describe(x)}")
    merged = reshape(x, x.shape[:start] + (math.prod(covered),) + x.shape[start + mask.ndim:])
    return _slices_around_array(merged, parts[:position] + (reshape(mask, (-1,)),) + parts[position + 1:])


@_standard(lambda x1, x2, /, *, side="left", sorter=None: None)
def searchsorted(x1, x2, side="left", sorter=None):
    """Where x2's values go in the sorted 1-D x1 (with `sorter`, in x1 ordered by it); no gradient."""
    x1, x2 = _operands([x1, x2])
    if sorter is not None:
        x1 = take(x1, sorter)  # the positions the standard means are those in the sorted x1
    return _searchsorted(x1, x2, side=side)


@_standard(lambda x, /, min=None, max=None: None)
def clip(x, min=None, max=None):
    """x held within [min, max]. A number bound is the clip primitive's option; a Tensor bound
    is an input of its own (it broadcasts with x and gets its gradient, as in torch.clamp), so
    the clip is two wheres, x keeping its gradient on the bound as the primitive's rule does."""
    if not isinstance(min, Tensor) and not isinstance(max, Tensor):
        if kind(x) != "floating" and builtins.any(type(b) is float for b in (min, max)):
            x = _astype(x, dtype=resolve_dtype(None, x.device))  # a float bound makes it float, as torch.clamp
        return _clip(x, min=min, max=max)
    out = x
    if min is not None:
        out = where(out < min, min, out)
    if max is not None:
        out = where(out > max, max, out)
    return out


def to_device(x, device):
    """x moved to `device` (of any backend); gradients flow back to x's device."""
    out = Tensor._wrap(x.xp.to_device(x.array, device), device)
    if state.grad_enabled and x.requires_grad:
        out.requires_grad = True
        out._op = Operation(_TO_DEVICE, [x], {"source": x.device}, out)
    if x.tangent is not None:
        out.tangent = x.xp.to_device(x.tangent, device)
    return out


_TO_DEVICE = engine.Primitive(
    "to_device",
    forward=None,
    vjp=[lambda xp, g, out, x, source: xp.to_device(g, source)],
    jvp=None,
    doc="Move to another device or backend; the gradient moves back.",
)


def _holds_tensor(obj):
    """Whether nested lists hold a Tensor anywhere (they are then stacked, keeping the graph)."""
    return builtins.any(isinstance(item, Tensor) or (isinstance(item, (list, tuple)) and _holds_tensor(item))
                        for item in obj)


def asarray(obj, dtype=None, device=None, backend=None, requires_grad=False, copy=None):
    """A Tensor from a Tensor, an array of any backend, a scalar or nested lists (of Tensors too)."""
    if isinstance(obj, Tensor):
        out = obj
        if device is not None or backend is not None:
            target = resolve_device(device, backend) if backend is not None else resolve_target(device, obj.device)
            out = out.to(target)
        native = None if dtype is None else resolve_dtype(dtype, out.device)
        if native is not None and out.array.dtype != native:  # the same dtype keeps the buffer, as the standard's asarray
            if copy is False:
                raise ValueError(f"asarray: copy=False, but {describe(out)} needs a copy to become {dtypes.get(native)}")
            out = out.astype(native)
        if copy and out is obj:
            out = astype(obj, obj.dtype, copy=True)  # a recorded copy: array-API code copies, then writes
        return out.requires_grad_() if requires_grad else out
    if isinstance(obj, (list, tuple)) and _holds_tensor(obj):
        return asarray(stack([asarray(item, dtype, device, backend) for item in obj]), requires_grad=requires_grad)
    return from_data(obj, dtype, device, backend, requires_grad, copy)


def tensor(data, dtype=None, device=None, backend=None, requires_grad=False):
    """A new tensor holding a copy of `data`, as torch.tensor (`asarray` shares where it can).

    Host data (nested lists, NumPy arrays: the format files are read into) lands on the
    default backend, as torch.tensor puts it on the default device; an array of a device
    library keeps its device, as with `asarray` (which also keeps a NumPy array on numpy).
    """
    if device is None and backend is None and getattr(backends.find_for_array(data), "name", None) == "numpy":
        backend = backends.default()
    return asarray(data, dtype=dtype, device=device, backend=backend, requires_grad=requires_grad, copy=True)


# pg.* is the table but scatter_slice and the fused rows (functional/ calls those: ops.gelu, ops.conv, ...)
__all__ = sorted(
    [name for name, p in PRIMITIVES.items()
     if name != "scatter_slice" and not (getattr(p.forward, "__module__", None) or "").startswith(fused.__name__)]
    + ["asarray_like", "stack", "flatten", "moveaxis", "swapaxes", "square", "tensordot", "outer",
       "take_along_axis", "to_device"]
)
