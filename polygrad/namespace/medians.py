"""`pg.median`, NumPy's: the standard has no median, and array-API code (scikit-learn's
`_median`, scipy) calls `xp.median(x, axis=, keepdims=)` expecting NumPy's answer, the mean of
the two middle values when there is an even count. PyTorch's lower median stays the Tensor
method's (`x.median()`, `x.median(dim)`), and `pg.median(x, 1)` / `pg.median(x, dim=1)` reach it
as the other PyTorch spellings of `pg.*` reductions do (methods.torch_face).
"""

import math

from ..core.placement import resolve_dtype
from ..core.tensor import Tensor
from . import ops, standard
from .ops import asarray


def median(x, /, *, axis=None, keepdims=False):
    """The median along `axis` (an int, a tuple, or None for all), NumPy's: the middle value,
    or the mean of the two middle ones; NaN where the values include a NaN. The gradient
    goes to the middle entries of the sort (half to each of two), as torch.quantile(x, 0.5)'s."""
    x = x if isinstance(x, Tensor) else asarray(x)
    if x.dtype.kind not in ("real floating", "complex floating"):  # NumPy's median of integers is a float
        x = ops.astype(x, resolve_dtype(None, x.device))
    axes = tuple(range(x.ndim)) if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
    axes = tuple(sorted(a % x.ndim for a in axes)) if x.ndim else ()
    kept = [n for a, n in enumerate(x.shape) if a not in axes]
    count = math.prod(x.shape[a] for a in axes)
    # the reduced axes as one last axis, sorted: NaNs sort last on every backend
    rows = ops.reshape(ops.moveaxis(x, axes, tuple(range(-len(axes), 0))), tuple(kept) + (count,))
    ordered = standard.sort(rows, axis=-1)
    value = ops.mean(ordered[..., (count - 1) // 2:count // 2 + 1], axis=-1)
    if count:
        last = ordered[..., -1]
        value = ops.where(ops.isnan(last), ops.astype(last, value.dtype), value)
    if keepdims:
        value = ops.reshape(value, tuple(1 if a in axes else n for a, n in enumerate(x.shape)))
    return value
