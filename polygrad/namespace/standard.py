"""The rest of the Array API standard's namespace, built from the primitives.

Gradients come from the primitives these are made of (sort through take along
its permutation, repeat and diagonal through take, tile and broadcast_arrays
through broadcast_to). Functions whose results are indices, counts or sets
(nonzero, unique_*) carry no gradient; neither does cumulative_prod (see its
docstring). conj/real/imag of complex values differentiate with PyTorch's
convention (polygrad.primitives.complex).
"""

import builtins
from collections import namedtuple

from .. import backends
from . import ops
from .ops import asarray
from ..core.errors import ShapeError, describe
from .ops import _standard
from ..primitives.table import defprim
from ..core.tensor import Tensor

__all__ = [
    "sort", "nonzero", "unique_values", "unique_counts", "unique_inverse", "unique_all", "broadcast_arrays",
    "meshgrid", "tile", "repeat", "unstack", "diff", "vecdot", "conj", "real", "imag", "from_dlpack",
    "cumulative_prod", "broadcast_shapes", "isin",
]



def _complex_part_vjp(xp, g, out, x, part):
    """PyTorch's convention (polygrad.primitives.complex): conj takes conj(g), real g, imag i g."""
    if part == "conj":
        return xp.conj(g)
    return g if part == "real" else xp.astype(g, x.dtype) * 1j


# conj, real and imag follow the complex convention themselves; the running product has no derivative
defprim("complex_part", lambda xp, x, *, part: getattr(xp, part)(x),
        vjp=[_complex_part_vjp],
        jvp=[lambda xp, t, out, x, part: getattr(xp, part)(t)],
        doc="conj, real or imag of a complex array.").complex = "conjugate"
defprim("cumulative_prod", lambda xp, x, *, axis, include_initial=False:
        xp.cumulative_prod(x, axis=axis, include_initial=include_initial),
        doc="Running products; no gradient yet (its adjoint divides by x, undefined at zeros).")
_complex_part = ops._public(ops.PRIMITIVES["complex_part"])
_cumulative_prod = ops._public(ops.PRIMITIVES["cumulative_prod"])


def _raw(x, data):
    return Tensor._wrap(data, x.device)


@_standard(lambda x, /, *, axis=-1, descending=False, stable=True: None)
def sort(x, axis=-1, descending=False, stable=True):
    """x sorted along `axis`; the gradient follows each entry back through the permutation."""
    x = ops._operands([x])[0]
    order = ops.argsort(x, axis=axis, descending=descending, stable=stable)
    return ops.take_along_axis(x, order, axis=axis)


@_standard(lambda x, /: None)
def nonzero(x):
    x = ops._operands([x])[0]
    if x.ndim == 0:
        raise ValueError(f"nonzero: needs at least one dimension, got {describe(x)}")
    return tuple(_raw(x, i) for i in x.xp.nonzero(x.array))


UniqueAllResult = namedtuple("UniqueAllResult", ["values", "indices", "inverse_indices", "counts"])
UniqueCountsResult = namedtuple("UniqueCountsResult", ["values", "counts"])
UniqueInverseResult = namedtuple("UniqueInverseResult", ["values", "inverse_indices"])


def _unique(name, result):
    def function(x, /):
        x = ops._operands([x])[0]
        out = getattr(x.xp, name)(x.array)
        return result(*(_raw(x, part) for part in out))

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"The standard's {name}; no gradient (a set's values are not a function of x's order)."
    return function


unique_all = _unique("unique_all", UniqueAllResult)
unique_counts = _unique("unique_counts", UniqueCountsResult)
unique_inverse = _unique("unique_inverse", UniqueInverseResult)


@_standard(lambda x, /: None)
def unique_values(x):
    """The sorted distinct values of x; no gradient."""
    x = ops._operands([x])[0]
    return _raw(x, x.xp.unique_values(x.array))


def _broadcast_shape(shapes, name="broadcast_arrays"):
    ndim = builtins.max((len(s) for s in shapes), default=0)
    out = []
    for sizes in zip(*[(1,) * (ndim - len(s)) + tuple(s) for s in shapes]):
        wide = {n for n in sizes if n != 1}
        if len(wide) > 1:
            raise ShapeError(f"{name}: shapes {', '.join(map(str, shapes))} cannot be broadcast to one shape")
        out.append(wide.pop() if wide else 1)
    return tuple(out)


@_standard(lambda *shapes: None)
def broadcast_shapes(*shapes):
    """The shape the given shapes broadcast to (2025.12)."""
    return _broadcast_shape([tuple(s) for s in shapes], "broadcast_shapes")


@_standard(lambda *arrays: None)
def broadcast_arrays(*arrays):
    """The arrays broadcast to one shape, as a tuple (a list before 2025.12)."""
    arrays = ops._operands(list(arrays))
    shape = _broadcast_shape([a.shape for a in arrays])
    return tuple(ops.broadcast_to(a, shape) for a in arrays)


@_standard(lambda x1, x2, /, *, invert=False: None)
def isin(x1, x2, invert=False):
    """Whether each entry of x1 is among x2's values (2025.12); either may be a number. No gradient."""
    x1, x2 = ops._operands([x1, x2])
    found = x1.xp.isin(x1.array, x2.array)
    return _raw(x1, x1.xp.logical_not(found) if invert else found)  # array-api-strict 2.6.1 ignores invert=


@_standard(lambda *arrays, indexing="xy": None)
def meshgrid(*arrays, indexing="xy"):
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    arrays = ops._operands(list(arrays))
    n = len(arrays)
    shaped = []
    for i, a in enumerate(arrays):
        axis = (1 - i if i < 2 else i) if indexing == "xy" and n > 1 else i
        shape = [1] * n
        shape[axis] = a.shape[0]
        shaped.append(ops.reshape(a, tuple(shape)))
    return broadcast_arrays(*shaped)


@_standard(lambda x, repetitions, /: None)
def tile(x, repetitions):
    """x repeated `repetitions` times along each axis (leading 1s added to the shorter of the two)."""
    x = ops._operands([x])[0]
    ndim = builtins.max(x.ndim, len(repetitions))
    reps = (1,) * (ndim - len(repetitions)) + tuple(repetitions)
    x = ops.reshape(x, (1,) * (ndim - x.ndim) + x.shape)
    # a new axis of length r before each axis, broadcast, then merged with it
    spread = ops.reshape(x, tuple(n for size in x.shape for n in (1, size)))
    spread = ops.broadcast_to(spread, tuple(n for r, size in zip(reps, x.shape) for n in (r, size)))
    tiled = ops.reshape(spread, tuple(r * size for r, size in zip(reps, x.shape)))
    return ops.astype(tiled, tiled.dtype, copy=True)  # an array of its own, as NumPy's and torch's tile: writable


@_standard(lambda x, repeats, /, *, axis=None: None)
def repeat(x, repeats, axis=None):
    """Each entry repeated `repeats` times (an int, or one count per entry) along `axis`, through take."""
    x = ops._operands([x])[0]
    if axis is None:
        x, axis = ops.reshape(x, (-1,)), 0
    xp, n = x.xp, x.shape[axis]
    positions = xp.arange(n, device=x.device.native)
    counts = repeats.array if isinstance(repeats, Tensor) else repeats
    return ops.take(x, _raw(x, xp.repeat(positions, counts)), axis=axis)


@_standard(lambda x, /, *, axis=0: None)
def unstack(x, axis=0):
    x = ops._operands([x])[0]
    axis = axis % x.ndim
    return tuple(x[(slice(None),) * axis + (i,)] for i in range(x.shape[axis]))


@_standard(lambda x, /, *, axis=-1, n=1, prepend=None, append=None: None)
def diff(x, axis=-1, n=1, prepend=None, append=None):
    """The n-th forward difference along `axis`, after joining prepend and append."""
    x = ops._operands([x])[0]
    parts = [p for p in (prepend, x, append) if p is not None]
    if len(parts) > 1:
        x = ops.concat(ops._operands(parts), axis=axis)
    axis = axis % x.ndim
    before = (slice(None),) * axis
    for _ in range(n):
        x = x[before + (slice(1, None),)] - x[before + (slice(None, -1),)]
    return x


@_standard(lambda x1, x2, /, *, axis=-1: None)
def vecdot(x1, x2, axis=-1):
    """sum(conj(x1) * x2) along `axis`, broadcasting the rest.

    The contracted axis is not broadcast: x1 and x2 must have it, of one size.
    """
    x1, x2 = ops._operands([x1, x2])
    last = axis - builtins.max(x1.ndim, x2.ndim) if axis >= 0 else axis  # from the end, where the shapes line up
    if -last > builtins.min(x1.ndim, x2.ndim) or x1.shape[last] != x2.shape[last]:
        raise ShapeError(f"vecdot: the contracted axis {axis} must have one size in both operands (it is not "
                         f"broadcast), got {describe(x1)} and {describe(x2)}")
    product = conj(x1) * x2
    return ops.sum(product, axis=axis, dtype=product.dtype)  # libraries widen small integers in sums


def _complex_only(part, real_value):
    def function(x, /):
        x = ops._operands([x])[0]
        if ops.kind(x) != "floating" or not x.xp.isdtype(x.array.dtype, "complex floating"):
            return real_value(x)
        return _complex_part(x, part=part)

    function.__name__ = function.__qualname__ = part
    function.__doc__ = f"The standard's {part}, with gradients (complex ones by PyTorch's convention)."
    return function


conj = _complex_only("conj", lambda x: x)
real = _complex_only("real", lambda x: x)
imag = _complex_only("imag", ops.zeros_like)
ops.conj, ops.real, ops.imag = conj, real, imag  # rules call xp.conj; under create_graph xp is polygrad.namespace.ops


@_standard(lambda x, /, *, axis=None, dtype=None, include_initial=False: None)
def cumulative_prod(x, axis=None, dtype=None, include_initial=False):
    """Running products along `axis`; no gradient yet (the adjoint divides by x, undefined at zeros)."""
    x = ops._operands([x])[0]
    if axis is None:
        if x.ndim != 1:
            raise ValueError(f"cumulative_prod: axis=None needs a 1-D tensor, got {describe(x)}")
        axis = 0
    return ops._in(dtype, _cumulative_prod(ops._accumulating(x, dtype), axis=axis, include_initial=include_initial))


@_standard(lambda x, /, *, device=None, copy=None: None)
def from_dlpack(x, device=None, copy=None):
    """A tensor of the default backend sharing x's memory (a copy with copy=True)."""
    if isinstance(x, Tensor):
        return asarray(x, device=device, copy=copy)
    data = backends.default().xp.from_dlpack(x)
    return asarray(data, device=device, copy=copy)

