"""The PyTorch face: Tensor methods with PyTorch's signatures, defaults and return types.

`polygrad.<name>` functions follow the Array API standard (`axis=`, `keepdims=`,
`correction=0`); Tensor methods follow PyTorch (`dim=`, `keepdim=`, unbiased
std/var, `(values, indices)` from `max(dim)`). Both faces share one set of
primitives: the methods below are thin compositions of the functions in
`polygrad.namespace.ops`, so gradients, grad of grad and forward mode come with them.

Methods also accept the standard's spellings (`axis=`, `keepdims=`), and the
pg.* reductions accept PyTorch's keywords: a PyTorch keyword (`dim`, `keepdim`,
`unbiased`) selects PyTorch's meaning, `pg.max(x, dim=1)` returns
`(values, indices)` as `x.max(dim=1)` does (see torch_keywords.py).

`x.size` is the standard's element count, an int; it is an int subclass that
can also be called, so `x.size()` gives the shape and `x.size(d)` one extent,
as in PyTorch.
"""

import functools
import inspect
import math
from collections import namedtuple

from ..namespace import linalg, ops, standard
from ..namespace.ops import asarray, tensor
from ..namespace.creation import empty, full, ones, zeros
from ..core.placement import resolve_dtype
from ..core.errors import ShapeError, describe, unexpected_keyword
from ..core.tensor import Tensor
from . import dtype_views

# ================================================================ helpers
def _dims(dim):
    """PyTorch's dim (int, list, tuple or None) as the standard's axis."""
    return tuple(dim) if isinstance(dim, (list, tuple)) else dim


def _sizes(args):
    """`f(2, 3)` and `f((2, 3))` alike: the sizes as a tuple."""
    if len(args) == 1 and not isinstance(args[0], int):
        return tuple(args[0])
    return tuple(args)


def _standard_spellings(method, name):
    """Tensor.<name>: `method`, also taking the standard's `axis=`/`keepdims=`; a bad call names its parameters."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if kwargs:
            if "axis" in kwargs:
                kwargs["dim"] = kwargs.pop("axis")
            if "keepdims" in kwargs:
                kwargs["keepdim"] = kwargs.pop("keepdims")
        try:
            return method(self, *args, **kwargs)
        except TypeError:
            _check_call(f"Tensor.{name}", method, self, args, kwargs)
            raise  # the call itself was fine: the error came from inside

    wrapper.__name__ = name
    wrapper.__qualname__ = f"Tensor.{name}"
    return wrapper


def _check_call(name, function, self, args, kwargs, method=True):
    """Raise a TypeError naming `name` and its parameters if the arguments do not fit `function`."""
    signature = inspect.signature(function)
    parameters = list(signature.parameters)[1 if method else 0:]
    try:
        signature.bind(self, *args, **kwargs)
    except TypeError as error:
        unknown = [k for k in kwargs if k not in signature.parameters]
        if unknown:
            raise unexpected_keyword(name, unknown[0], parameters) from None
        raise TypeError(f"{name}(): {error}; its parameters are ({', '.join(parameters)})") from None


def _raw(function, x, *args, **kwargs):
    """A result with no gradient computed on x's raw array (booleans, indices)."""
    return Tensor._wrap(function(x.array, *args, **kwargs), x.device)


def _along(x, dim, index):
    """x's slice at position `index` (int or slice) along `dim`."""
    return x[(slice(None),) * (dim % x.ndim) + (index,)]


def _arange(x, n, dtype="int64"):
    xp = x.xp
    return xp.arange(n, dtype=resolve_dtype(dtype, x.device), device=x.device.native)


_RESULTS = {name: namedtuple(name, ("values", "indices"))
            for name in ("max", "min", "sort", "topk", "median", "mode", "kthvalue")}


# ================================================================ reductions
def _reduction(function):
    def method(self, dim=None, keepdim=False, *, dtype=None):
        if dtype is not None:
            self = ops.astype(self, dtype)
        return function(self, axis=_dims(dim), keepdims=keepdim)

    method.__name__ = function.__name__
    return method


def _extremum(name):
    reduce, arg, pairwise = getattr(ops, name), getattr(ops, "arg" + name), getattr(ops, name + "imum")

    def method(self, dim=None, keepdim=False):
        if isinstance(dim, Tensor):  # x.max(other): the elementwise maximum
            return pairwise(self, dim)
        if dim is None:
            return reduce(self)
        indices = arg(self, axis=dim, keepdims=True)
        # picked through the index: the whole gradient goes to that entry, as in PyTorch
        values = ops.pick_along_axis(self, indices, dim % self.ndim)  # our own indices: no bounds check
        if not keepdim:
            values, indices = ops.squeeze(values, axis=dim), ops.squeeze(indices, axis=dim)
        return _RESULTS[name](values, indices)

    method.__name__ = name
    return method


def _moments(name):
    function = getattr(ops, name)

    def method(self, dim=None, unbiased=True, keepdim=False, *, correction=None):
        if isinstance(dim, bool):  # x.std(False): the old positional unbiased
            dim, unbiased = None, dim
        if correction is None:
            correction = 1 if unbiased else 0
        return function(self, axis=_dims(dim), correction=correction, keepdims=keepdim)

    method.__name__ = name
    return method


def argmax(self, dim=None, keepdim=False):
    return ops.argmax(self, axis=dim, keepdims=keepdim)


def argmin(self, dim=None, keepdim=False):
    return ops.argmin(self, axis=dim, keepdims=keepdim)


def logsumexp(self, dim, keepdim=False):
    return ops.logsumexp(self, axis=_dims(dim), keepdims=keepdim)


def softmax(self, dim):
    return ops.softmax(self, axis=dim)


def log_softmax(self, dim):
    return ops.log_softmax(self, axis=dim)


def all(self, dim=None, keepdim=False):
    return _raw(self.xp.all, self, axis=_dims(dim), keepdims=keepdim)


def any(self, dim=None, keepdim=False):
    return _raw(self.xp.any, self, axis=_dims(dim), keepdims=keepdim)


def norm(self, p="fro", dim=None, keepdim=False):
    """The vector p-norm over dim (all entries by default; 'fro' is 2), as linalg.vector_norm."""
    if p == "fro":
        p = 2
    if not isinstance(p, (int, float)) or isinstance(p, bool):
        raise ValueError(f"norm: p={p!r} is not supported; use 'fro', a number, inf or -inf")
    return linalg.vector_norm(self, axis=_dims(dim), keepdims=keepdim, ord=p)


# ================================================================ sorting
def sort(self, dim=-1, descending=False, stable=False):
    """(values, indices); always a stable sort (`stable` is accepted for PyTorch's sake)."""
    indices = _raw(self.xp.argsort, self, axis=dim, descending=descending, stable=True)
    return _RESULTS["sort"](ops.pick_along_axis(self, indices, dim % self.ndim), indices)


def argsort(self, dim=-1, descending=False, stable=False):
    return _raw(self.xp.argsort, self, axis=dim, descending=descending, stable=True)


def topk(self, k, dim=-1, largest=True, sorted=True):
    """The k largest (smallest) entries along dim and their indices, always in sorted order."""
    values, indices = sort(self, dim, descending=largest)
    window = slice(0, k)
    return _RESULTS["topk"](_along(values, dim, window), _along(indices, dim, window))


def _order_statistic(name, self, position, dim, keepdim):
    values, indices = sort(self, dim)
    pick = slice(position, position + 1) if keepdim else position
    return _RESULTS[name](_along(values, dim, pick), _along(indices, dim, pick))


def kthvalue(self, k, dim=-1, keepdim=False):
    return _order_statistic("kthvalue", self, k - 1, dim, keepdim)


def median(self, dim=None, keepdim=False):
    """The lower median, as PyTorch: without dim a value, with dim (values, indices); NaN
    where a NaN is present (its first index). The gradient of a whole-tensor median is
    spread evenly over the entries equal to it, as PyTorch's; with dim it goes to the index."""
    if dim is None:
        flat = ops.reshape(self, (-1,))
        value = ops.pick_along_axis(flat, _median_index(flat, 0), 0)
        ties = ops.logical_or(flat == value, ops.logical_and(ops.isnan(flat), ops.isnan(value)))
        return ops.max(ops.where(ties, flat, -math.inf))  # max shares its gradient among ties
    dim = dim % self.ndim
    index = _median_index(self, dim)
    values = ops.pick_along_axis(self, index, dim)
    if not keepdim:
        values, index = ops.squeeze(values, axis=dim), ops.squeeze(index, axis=dim)
    return _RESULTS["median"](values, index)


def _median_index(x, dim):
    """The lower median's index along dim (kept): the stable sort's middle, or the first NaN."""
    xp = x.xp
    middle = (x.shape[dim] - 1) // 2
    order = xp.argsort(x.array, axis=dim, stable=True)
    index = order[(slice(None),) * dim + (slice(middle, middle + 1), Ellipsis)]
    nan = xp.isnan(x.array)
    first_nan = xp.argmax(xp.astype(nan, xp.int8), axis=dim, keepdims=True)
    return Tensor._wrap(xp.where(xp.any(nan, axis=dim, keepdims=True), xp.astype(first_nan, index.dtype), index),
                        x.device)


def mode(self, dim=-1, keepdim=False):
    """The most frequent value along dim (the smallest of equally frequent ones), and its last index."""
    xp, dim = self.xp, dim % self.ndim
    moved = ops.moveaxis(self, dim, -1).array
    counts = xp.sum(xp.astype(moved[..., :, None] == moved[..., None, :], xp.int64), axis=-1)
    # candidates in increasing value order: the first with the highest count is the smallest mode
    order = xp.argsort(moved, axis=-1, stable=True)
    best = xp.take_along_axis(order, xp.argmax(xp.take_along_axis(counts, order, axis=-1), axis=-1,
                                               keepdims=True), axis=-1)
    value = xp.take_along_axis(moved, best, axis=-1)
    positions = xp.where(moved == value, _arange(self, moved.shape[-1]), xp.full_like(order, -1))
    indices = ops.moveaxis(Tensor._wrap(xp.max(positions, axis=-1, keepdims=True), self.device), -1, dim)
    values = ops.pick_along_axis(self, indices, dim)
    if not keepdim:
        values, indices = ops.squeeze(values, axis=dim), ops.squeeze(indices, axis=dim)
    return _RESULTS["mode"](values, indices)


# ================================================================ shape
def squeeze(self, dim=None):
    """Drop size-1 dims (all of them, or those of `dim` that have size 1: others stay)."""
    if dim is None:
        dims = range(self.ndim)
    else:
        dims = [d % self.ndim for d in (dim if isinstance(dim, (list, tuple)) else (dim,))] if self.ndim else []
    drop = {d for d in dims if self.shape[d] == 1}
    return ops.reshape(self, tuple(n for i, n in enumerate(self.shape) if i not in drop))


def unsqueeze(self, dim):
    return ops.expand_dims(self, axis=dim)


def expand(self, *sizes):
    """Broadcast to `sizes`; -1 keeps a dim's size, extra leading dims are new."""
    sizes = _sizes(sizes)
    lead = len(sizes) - self.ndim
    if lead < 0:
        raise ShapeError(f"expand: {len(sizes)} sizes {sizes} for {describe(self)}; give at least one per dim")
    shape = tuple(self.shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(sizes))
    return ops.broadcast_to(self, shape)


def expand_as(self, other):
    return ops.broadcast_to(self, other.shape)


def reshape(self, *shape):
    return ops.reshape(self, _sizes(shape))


def view_as(self, other):
    return ops.reshape(self, other.shape)


def flatten(self, start_dim=0, end_dim=-1):
    return ops.flatten(self, start_dim, end_dim)


def unflatten(self, dim, sizes):
    dim = dim % self.ndim
    return ops.reshape(self, self.shape[:dim] + tuple(sizes) + self.shape[dim + 1:])


def t(self):
    if self.ndim > 2:
        raise ShapeError(f"t: expects a tensor with at most 2 dims, got {describe(self)}; use transpose(a, b)")
    return ops.permute_dims(self, (1, 0)) if self.ndim == 2 else self


def transpose(self, dim0, dim1):
    return ops.swapaxes(self, dim0, dim1)


def permute(self, *dims):
    return ops.permute_dims(self, tuple(d % self.ndim for d in _sizes(dims)))


def movedim(self, source, destination):
    sources = [s % self.ndim for s in (source if isinstance(source, (list, tuple)) else (source,))]
    targets = [d % self.ndim for d in (destination if isinstance(destination, (list, tuple)) else (destination,))]
    order = [None] * self.ndim
    for s, d in zip(sources, targets):
        order[d] = s
    rest = iter(i for i in range(self.ndim) if i not in sources)
    return ops.permute_dims(self, tuple(next(rest) if o is None else o for o in order))


def chunk(self, chunks, dim=0):
    step = -(-self.shape[dim] // chunks)  # ceil, as PyTorch: the last chunk may be smaller
    return split(self, step, dim)


def split(self, split_size_or_sections, dim=0):
    n = self.shape[dim]
    if isinstance(split_size_or_sections, int):
        sizes = [min(split_size_or_sections, n - start) for start in range(0, n, split_size_or_sections)]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise ShapeError(f"split: sections {sizes} add up to {sum(sizes)}, but dim {dim} of {describe(self)} "
                             f"has size {n}")
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    return tuple(_along(self, dim, slice(start, start + size)) for start, size in zip(starts, sizes))


def unbind(self, dim=0):
    return tuple(_along(self, dim, i) for i in range(self.shape[dim]))


def diagonal(self, offset=0, dim1=0, dim2=1):
    """PyTorch's diagonal: a view of the (dim1, dim2) diagonals, along a new last dim."""
    return linalg.diagonal(movedim(self, (dim1, dim2), (-2, -1)), offset=offset)


def repeat(self, *sizes):
    """Tile the tensor `sizes[i]` times along dim i (extra leading sizes add dims), as PyTorch's repeat."""
    sizes = _sizes(sizes)
    if len(sizes) < self.ndim:
        raise ShapeError(f"repeat: {len(sizes)} repeats {sizes} for {describe(self)}; give one per dim")
    return standard.tile(self, sizes)


def tile(self, *dims):
    return standard.tile(self, _sizes(dims))


def flip(self, *args, dims=None):
    """x.flip(0, 1), x.flip((0, 1)) or x.flip(dims=(0, 1))."""
    return ops.flip(self, axis=_sizes(args if args else (dims,)))


def roll(self, shifts, dims=None):
    return ops.roll(self, shift=shifts, axis=dims)


# ================================================================ cumulative
def cumsum(self, dim, *, dtype=None):
    if dtype is None and self.xp.isdtype(self.array.dtype, "bool"):
        dtype = "int64"  # PyTorch counts booleans in int64
    return ops.cumulative_sum(self, axis=dim, dtype=dtype)


def cumprod(self, dim, *, dtype=None):
    """Running products along dim, one multiplication per step (exact with zeros)."""
    if dtype is not None:
        self = ops.astype(self, dtype)
    if self.shape[dim] == 0:
        return self + 0  # nothing to multiply: an empty copy (bools counted in int64, as the products are)
    running = [_along(self, dim, 0)]
    for i in range(1, self.shape[dim]):
        running.append(running[-1] * _along(self, dim, i))
    return ops.stack(running, axis=dim % self.ndim)


# ================================================================ indexing
def _restrict(x, shape, dim=None):
    """x cut down to `shape` in every dim except `dim` (PyTorch's gather/scatter read only that part)."""
    key = tuple(slice(None) if d == dim else slice(0, n) for d, n in enumerate(shape))
    return x if key == (slice(None),) * x.ndim else x[key]


def _checked_index(operation, x, dim, index, src=None):
    """`index`'s raw entries after PyTorch's checks for gather and the scatters.

    index has x's number of dims and is no larger than x outside `dim` (nor than src
    anywhere), and its entries lie in [0, x.shape[dim]) (negative ones refused, as
    PyTorch does): otherwise a flat position computed from it would silently land in
    another row.
    """
    ops.same_device(operation, x, index)
    if index.ndim != x.ndim:
        raise ShapeError(f"{operation}: index {describe(index)} needs as many dims as the tensor {describe(x)}")
    for d, n in enumerate(index.shape):
        if d != dim and n > x.shape[d]:
            raise ShapeError(f"{operation}: index {describe(index)} is larger than the tensor {describe(x)} "
                             f"in dim {d}")
        if isinstance(src, Tensor) and n > src.shape[d]:
            raise ShapeError(f"{operation}: index {describe(index)} is larger than src {describe(src)} in dim {d}")
    return ops.checked_indices(index, x.shape[dim], operation, dim, negative=False)


def gather(self, dim, index):
    dim = dim % self.ndim
    data = _checked_index("gather", self, dim, index)
    return ops.pick_along_axis(_restrict(self, index.shape, dim), Tensor._wrap(data, self.device), dim)


def _flat_positions(operation, x, dim, index, src):
    """Where each entry of `index` points in x flattened: index along dim, its own coordinate elsewhere."""
    dim = dim % x.ndim
    data = _checked_index(operation, x, dim, index, src)
    xp = x.xp
    flat = xp.zeros_like(data)
    for d, n in enumerate(x.shape):
        if d == dim:
            coordinate = data
        else:
            coordinate = xp.reshape(_arange(x, index.shape[d]), tuple(-1 if i == d else 1 for i in range(x.ndim)))
        flat = flat * n + coordinate
    return Tensor._wrap(xp.reshape(flat, (-1,)), x.device)


def _scattered(x, positions, index, src):
    """Zeros like x with src's entries added at `positions` (x's dtype and device)."""
    if not isinstance(src, Tensor):
        src = ops.full_like(index, src, dtype=x.dtype)
    values = ops.reshape(_restrict(src, index.shape), (-1,))
    added = ops.scatter_add(values, positions, axis=0, size=x.size)
    return ops.reshape(added, x.shape)


def _hit(x, positions, index):
    """Per entry of x, how many index entries point at it."""
    return _scattered(ops.zeros_like(x, dtype="int64"), positions, index, 1)


def scatter_add(self, dim, index, src):
    return self + _scattered(self, _flat_positions("scatter_add", self, dim, index, src), index, src)


def scatter(self, dim, index, src=None, *, value=None, reduce=None):
    """x with src's (or value's) entries written where index points (indices should be unique)."""
    if reduce is not None:
        return scatter_reduce(self, dim, index, src if src is not None else value,
                              {"add": "sum", "multiply": "prod"}.get(reduce, reduce))
    src = value if src is None else src
    positions = _flat_positions("scatter", self, dim, index, src)
    return ops.where(_hit(self, positions, index) > 0, _scattered(self, positions, index, src), self)


def scatter_reduce(self, dim, index, src, reduce, *, include_self=True):
    """src's entries reduced ("sum", "prod", "mean", "amax" or "amin") into the places index points at, as PyTorch.

    include_self=False leaves self's own value out of a place index points at; the other places keep it.
    """
    if reduce not in ("sum", "prod", "mean", "amax", "amin"):
        raise ValueError(f"scatter_reduce: reduce={reduce!r}; use 'sum', 'prod', 'mean', 'amax' or 'amin'")
    positions = _flat_positions("scatter_reduce", self, dim, index, src)
    hits = _hit(self, positions, index)
    if reduce in ("prod", "amax", "amin"):
        reduced = _reduced_by_place(self, positions, index, src, reduce, include_self)
        return ops.where(hits > 0, ops.reshape(reduced, self.shape), self)
    total = _scattered(self, positions, index, src)
    base = self if include_self else ops.where(hits > 0, ops.zeros_like(self), self)
    if reduce == "sum":
        return base + total
    count = ops.astype(hits, self.dtype) + (1 if include_self else 0)
    return ops.where(hits > 0, (base + total) / ops.maximum(count, 1), self)


def _reduced_by_place(x, positions, index, src, reduce, include_self):
    """x flattened, holding at each place the product, largest or smallest of the src entries put there
    (and of x's own entry, with include_self).

    The entries are sorted by place, so that each place's lie together, and for "amax"/"amin"
    by value within a place, so that its last entry is its largest (smallest). A product is a
    running product within each place's entries: log2 of the most entries at one place rounds.
    """
    if not isinstance(src, Tensor):
        src = ops.full_like(index, src, dtype=x.dtype)
    xp = x.xp

    def wrapped(data):
        return Tensor._wrap(data, x.device)

    values, places = ops.reshape(_restrict(src, index.shape), (-1,)), positions.array
    if include_self:  # x's own entries join in, one at each place
        values = ops.concat([ops.reshape(x, (-1,)), values])
        places = xp.concat([_arange(x, x.size), places])
    order = xp.argsort(places, stable=True)
    if reduce != "prod":  # sorted by value first: the stable sort by place keeps that order within a place
        by_value = xp.argsort(values.array if reduce == "amax" else -values.array, stable=True)
        order = xp.take(by_value, xp.argsort(xp.take(places, by_value), stable=True))
    places = xp.take(places, order)
    values = ops.take_unchecked(values, wrapped(order), axis=0)
    steps = _arange(x, places.shape[0])
    last = xp.searchsorted(places, places, side="right") - 1  # where each entry's place ends

    def by_place(entries):
        return ops.scatter_add(entries, wrapped(places), axis=0, size=x.size)

    if reduce == "prod":
        rank = steps - xp.searchsorted(places, places)
        product, span = values, 1
        while bool(xp.any(rank >= span)):  # each entry times the running product `span` before it in its place
            later = rank >= span
            earlier = ops.take_unchecked(product, wrapped(xp.where(later, steps - span, steps)), axis=0)
            product = product * ops.where(wrapped(later), earlier, 1)
            span *= 2
        return by_place(ops.where(wrapped(steps == last), product, 0))
    best = xp.take(values.array, last)
    ties = wrapped((values.array == best) | xp.isnan(best))  # a NaN wins: its place's result is NaN
    # the ties share the gradient evenly, as in PyTorch
    total, count = by_place(ops.where(ties, values, 0)), ops.maximum(by_place(ops.astype(ties, x.dtype)), 1)
    return total / count if ops.kind(total) == "floating" else total // count


def index_select(self, dim, index):
    ops.same_device("index_select", self, index)
    return ops.take(self, index, axis=dim)


def index_add(self, dim, index, source, *, alpha=1):
    ops.same_device("index_add", self, index)
    added = ops.scatter_add(source * alpha if alpha != 1 else source, index, axis=dim, size=self.shape[dim])
    return self + added


def masked_fill(self, mask, value):
    """self with `value` where mask holds; the result keeps self's dtype (as torch: an int
    tensor filled with 2.5 holds 2)."""
    if isinstance(mask, Tensor):
        ops.same_device("masked_fill", self, mask)
    if isinstance(value, Tensor):
        value = value if value.dtype == self.dtype else ops.astype(value, self.dtype)
    elif ops.kind(self) != "floating" and not isinstance(value, complex):
        value = bool(value) if ops.kind(self) == "bool" else int(value)
    return ops.where(mask, value, self)


def masked_select(self, mask):
    mask = mask if isinstance(mask, Tensor) else asarray(mask, device=self.device)
    ops.same_device("masked_select", self, mask)
    shape = tuple(self.xp.broadcast_arrays(self.array, mask.array)[0].shape)
    return ops.broadcast_to(self, shape)[Tensor._wrap(self.xp.broadcast_to(mask.array, shape), self.device)]


def where(self, condition, other):
    return ops.where(condition, self, other)


# ================================================================ comparisons
def isclose(self, other, rtol=1e-5, atol=1e-8, equal_nan=False):
    other = ops.asarray_like(other, self)
    close = ops.abs(self - other) <= atol + rtol * ops.abs(other)
    close = ops.logical_or(close, ops.equal(self, other))  # equal infinities
    if equal_nan:
        close = ops.logical_or(close, ops.logical_and(ops.isnan(self), ops.isnan(other)))
    return close


def allclose(self, other, rtol=1e-5, atol=1e-8, equal_nan=False):
    return bool(all(isclose(self, other, rtol, atol, equal_nan)))


def equal(self, other):
    """PyTorch's `x.equal(y)`: True when shapes and every entry agree (pg.equal is elementwise)."""
    return self.shape == other.shape and bool(all(ops.equal(self, other)))


# ================================================================ arithmetic with PyTorch's options
def add(self, other, *, alpha=1):
    return ops.add(self, other * alpha if alpha != 1 else other)


def sub(self, other, *, alpha=1):
    return ops.subtract(self, other * alpha if alpha != 1 else other)


def div(self, other, *, rounding_mode=None):
    quotient = ops.divide(self, other)
    if rounding_mode is None:
        return quotient
    if rounding_mode not in ("floor", "trunc"):
        raise ValueError(f"div: rounding_mode must be None, 'floor' or 'trunc', got {rounding_mode!r}")
    rounded = getattr(ops, rounding_mode)(quotient)
    return rounded if ops.kind(self) == "floating" else ops.astype(rounded, self.dtype)


def round_decimals(self, *, decimals=0):
    """Halves to even, as PyTorch; decimals=d rounds x * 10**d (d < 0: to tens, hundreds, ...)."""
    if decimals == 0:
        return ops.round(self)
    scale = 10.0 ** decimals
    return ops.round(self * scale) / scale


def lerp(self, end, weight):
    return self + weight * (end - self)


def narrow(self, dim, start, length):
    dim = dim % self.ndim
    size = self.shape[dim]
    begin = start + size if start < 0 else start
    if not (0 <= begin <= size and 0 <= length <= size - begin):
        raise IndexError(f"narrow: start {start} and length {length} do not fit dim {dim} of size {size} "
                         f"({describe(self)})")  # a slice would silently cut them short
    return _along(self, dim, slice(begin, begin + length))


def repeat_interleave(self, repeats, dim=None):
    """Each entry repeated (the standard's repeat; PyTorch's repeat is the standard's tile)."""
    if isinstance(repeats, Tensor) and repeats.ndim == 0:
        repeats = int(repeats)
    return standard.repeat(self, repeats, axis=dim)


def nonzero(self, *, as_tuple=False):
    """The indices of the non-zero entries: one row per entry (as_tuple: one tensor per dim)."""
    found = standard.nonzero(self)
    return found if as_tuple else ops.stack(list(found), axis=1)


def index_fill(self, dim, index, value):
    dim = dim % self.ndim
    hit = _arange(self, self.shape[dim])[:, None] == ops.checked_indices(index, self.shape[dim], "index_fill", dim, like=self)
    mask = self.xp.reshape(self.xp.any(hit, axis=1), tuple(-1 if d == dim else 1 for d in range(self.ndim)))
    return ops.where(Tensor._wrap(mask, self.device), value, self)


_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
               "bfloat16": "BFloat16Tensor", "int64": "LongTensor", "int32": "IntTensor", "int16": "ShortTensor",
               "int8": "CharTensor", "uint8": "ByteTensor", "bool": "BoolTensor"}


def type_name_or_cast(self, dtype=None):
    """x.type(): PyTorch's type name ('polygrad.FloatTensor'); x.type(dtype): a cast."""
    if dtype is None:
        return "polygrad." + _TYPE_NAMES.get(self.dtype.name, self.dtype.name)
    return ops.astype(self, dtype)


def bmm(self, other):
    if self.ndim != 3 or other.ndim != 3:
        raise ShapeError(f"bmm: expects two 3-D tensors, got {describe(self)} and {describe(other)}")
    return ops.matmul(self, other)


def mm(self, other):
    if self.ndim != 2 or other.ndim != 2:
        raise ShapeError(f"mm: expects two 2-D tensors, got {describe(self)} and {describe(other)}")
    return ops.matmul(self, other)


# ================================================================ dtypes and devices
def _cast(name):
    def method(self):
        return ops.astype(self, name, copy=False)

    method.__name__ = name
    return method


def type_as(self, other):
    return ops.astype(self, other.dtype, copy=False)


def clone(self):
    """A copy that stays in the graph (its gradient flows back to self)."""
    return ops.astype(self, self.dtype, copy=True)


def contiguous(self):
    return self


def element_size(self):
    xp = self.xp
    native = self.array.dtype
    if xp.isdtype(native, "bool"):
        return 1
    if xp.isdtype(native, "complex floating"):
        return xp.finfo(native).bits // 4  # two floats of finfo's width
    info = xp.finfo if xp.isdtype(native, "real floating") else xp.iinfo
    return info(native).bits // 8


def reciprocal(self):
    return 1 / self


def rsqrt(self):
    return 1 / ops.sqrt(self)


def _new(make):
    """x.new_zeros(2, 3) and the like: x's dtype and device unless given."""
    def method(self, *size, dtype=None, device=None, requires_grad=False):
        shape = _sizes(size)
        return make(shape, dtype=self.dtype if dtype is None else dtype,
                    device=self.device if device is None else device, requires_grad=requires_grad)

    method.__name__ = f"new_{make.__name__}"
    return method


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    return full(tuple(size), fill_value, dtype=self.dtype if dtype is None else dtype,
                device=self.device if device is None else device, requires_grad=requires_grad)


def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
    return tensor(data, dtype=self.dtype if dtype is None else dtype,
                  device=self.device if device is None else device, requires_grad=requires_grad)


def cuda(self, device=None):
    return self.to("cuda" if device is None else f"cuda:{device}")


# ================================================================ in place
def clamp_(self, min=None, max=None):
    return self._update("clamp_", lambda old: ops.clip(old, min, max), (min, max))


def normal_(self, mean=0.0, std=1.0, *, generator=None):
    from ..namespace.random import default_generator

    source = generator or default_generator(self.device)
    return self._assign(source.randn(*self.shape, dtype=self.dtype, mean=mean, std=std).array, "normal_")


def uniform_(self, a=0.0, b=1.0, *, generator=None):
    from ..namespace.random import default_generator

    source = generator or default_generator(self.device)
    return self._assign(source.rand(*self.shape, dtype=self.dtype, low=a, high=b).array, "uniform_")


def _in_place(name):
    """x.<name>_(...): x takes the value of x.<name>(...) (recorded, as every in-place update)."""
    def method(self, *args, **kwargs):
        return self._update(name + "_", lambda old: getattr(old, name)(*args, **kwargs), args + tuple(kwargs.values()))

    method.__name__ = method.__qualname__ = name + "_"
    return method


# ================================================================ autograd
def register_hook(self, hook):
    """Call `hook(grad)` when this tensor's gradient is computed; a returned Tensor replaces it.

    Returns a handle whose `remove()` unregisters the hook.
    """
    if not self.requires_grad:
        raise RuntimeError(f"register_hook: {describe(self)} does not require grad, so it gets no gradient")
    from ..core.tensor import _add_hook

    return _add_hook(self, "grad", hook)


def retain_grad(self):
    """Keep this non-leaf tensor's gradient in `.grad` after backward (leaves keep theirs anyway)."""
    if self._op is None:
        return

    def keep(grad):
        self.grad = grad.detach() if self.grad is None else self.grad + grad.detach()

    keep.retains_grad = True  # the engine runs it after the other hooks
    register_hook(self, keep)


# ================================================================ the table
_METHODS = {
    # same meaning on both faces: the pg.* function itself
    "exp": ops.exp, "log": ops.log, "sqrt": ops.sqrt, "sin": ops.sin, "cos": ops.cos, "tanh": ops.tanh,
    "sigmoid": ops.sigmoid, "relu": ops.relu, "abs": ops.abs, "pow": ops.pow, "square": ops.square,
    "maximum": ops.maximum, "minimum": ops.minimum, "sign": ops.sign, "isnan": ops.isnan,
    "isfinite": ops.isfinite, "isinf": ops.isinf, "floor": ops.floor, "ceil": ops.ceil,
    "trunc": ops.trunc, "expm1": ops.expm1, "log1p": ops.log1p, "neg": ops.negative, "negative": ops.negative,
    "clip": ops.clip, "clamp": ops.clip, "matmul": ops.matmul, "mul": ops.multiply, "multiply": ops.multiply,
    "true_divide": ops.divide, "permute_dims": ops.permute_dims, "swapaxes": ops.swapaxes,
    "swapdims": ops.swapaxes, "expand_dims": ops.expand_dims, "broadcast_to": ops.broadcast_to,
    "take": ops.take, "take_along_axis": ops.take_along_axis,
    "eq": ops.equal, "ne": ops.not_equal, "lt": ops.less, "le": ops.less_equal, "gt": ops.greater,
    "ge": ops.greater_equal, "less": ops.less, "greater": ops.greater, "less_equal": ops.less_equal,
    "greater_equal": ops.greater_equal, "not_equal": ops.not_equal,
    "logical_and": ops.logical_and, "logical_or": ops.logical_or, "logical_not": ops.logical_not,
    # PyTorch's signatures and results
    "sum": _reduction(ops.sum), "mean": _reduction(ops.mean), "prod": _reduction(ops.prod),
    "amax": _reduction(ops.max), "amin": _reduction(ops.min),
    "max": _extremum("max"), "min": _extremum("min"), "std": _moments("std"), "var": _moments("var"),
    "argmax": argmax, "argmin": argmin, "logsumexp": logsumexp, "softmax": softmax,
    "log_softmax": log_softmax, "all": all, "any": any, "norm": norm,
    "sort": sort, "argsort": argsort, "topk": topk, "kthvalue": kthvalue, "median": median, "mode": mode,
    "squeeze": squeeze, "unsqueeze": unsqueeze, "expand": expand, "expand_as": expand_as,
    "reshape": reshape, "view": dtype_views.view, "view_as": view_as, "flatten": flatten, "unflatten": unflatten,
    "t": t, "transpose": transpose, "permute": permute, "movedim": movedim, "moveaxis": movedim,
    "chunk": chunk, "split": split, "unbind": unbind, "diagonal": diagonal, "repeat": repeat, "tile": tile, "flip": flip,
    "roll": roll, "cumsum": cumsum, "cumprod": cumprod,
    "gather": gather, "scatter": scatter, "scatter_add": scatter_add, "scatter_reduce": scatter_reduce,
    "index_select": index_select, "index_add": index_add, "masked_fill": masked_fill,
    "masked_select": masked_select, "where": where,
    "isclose": isclose, "allclose": allclose, "equal": equal,
    "add": add, "sub": sub, "subtract": sub, "div": div, "divide": div, "bmm": bmm, "mm": mm,
    "float": _cast("float32"), "double": _cast("float64"), "half": _cast("float16"),
    "bfloat16": _cast("bfloat16"), "long": _cast("int64"), "int": _cast("int32"), "short": _cast("int16"),
    "bool": _cast("bool"), "type_as": type_as, "clone": clone, "contiguous": contiguous,
    "element_size": element_size, "cuda": cuda, "reciprocal": reciprocal, "rsqrt": rsqrt,
    "new_zeros": _new(zeros), "new_ones": _new(ones), "new_empty": _new(empty), "new_full": new_full,
    "new_tensor": new_tensor,
    "clamp_": clamp_, "normal_": normal_, "uniform_": uniform_,
    "register_hook": register_hook, "retain_grad": retain_grad,
    "round": round_decimals, "lerp": lerp, "narrow": narrow, "repeat_interleave": repeat_interleave,
    "nonzero": nonzero, "argwhere": nonzero, "index_fill": index_fill, "type": type_name_or_cast,
}
_METHODS.update({name + "_": _in_place(name) for name in (
    "abs", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "neg", "sign", "floor", "ceil", "round",
    "trunc", "expm1", "log1p", "reciprocal", "rsqrt", "square", "pow", "lerp", "masked_fill", "index_fill",
    "scatter", "scatter_add", "scatter_reduce", "index_add",
)})


def _method(function):
    def method(self, *args, **kwargs):
        return function(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = function.__name__
    method.__doc__ = function.__doc__
    return method


_PYTORCH_STYLE = {name for name, f in _METHODS.items() if getattr(f, "__module__", None) == __name__}


def _numel(self):
    """The number of elements (PyTorch's name for the standard's `size`)."""
    return self.size


def _dim(self):
    return self.ndim


_ATTRIBUTES = {
    "numel": _numel, "dim": _dim, "ndimension": _dim,
    "nbytes": property(lambda self: self.size * element_size(self), doc="Bytes the elements take."),
    "grad_fn": property(lambda self: self._op, doc="The Operation that made this tensor (None for a leaf)."),
}


def install(tensor_class):
    """The table's methods (PyTorch-style ones also take the standard's spellings) and PyTorch's attributes."""
    for name, function in _METHODS.items():
        setattr(tensor_class, name, _standard_spellings(function, name) if name in _PYTORCH_STYLE else _method(function))
    for name, value in _ATTRIBUTES.items():
        setattr(tensor_class, name, value)
