"""Making tensors: from data, filled, ranges, and the `*_like` forms.

Every function takes `backend=`, `device=`, `dtype=` and `requires_grad=`.
polygrad's default floating dtype is float32 on every backend (set it with
`set_default_dtype`); it never relies on a library's own default.
"""

import math

from ..core.errors import ShapeError
from ..core.placement import as_native, is_size, python_kind, resolve_device, resolve_dtype, resolve_target, shape_of, sizes
from ..core.tensor import Tensor


def _finish(data, device, requires_grad):
    t = Tensor._wrap(data, device)
    if requires_grad:
        t.requires_grad_()
    return t


def _filled(function_name, shape, dtype, device, backend, requires_grad, *args):
    target = resolve_device(device, backend)
    native = resolve_dtype(dtype, target)
    make = getattr(target.backend.xp, function_name)
    return _finish(make(shape_of(shape, function_name), *args, dtype=native, device=target.native), target, requires_grad)


def zeros(*size, shape=None, dtype=None, device=None, backend=None, requires_grad=False):
    return _filled("zeros", sizes(size, shape, "zeros"), dtype, device, backend, requires_grad)


def ones(*size, shape=None, dtype=None, device=None, backend=None, requires_grad=False):
    return _filled("ones", sizes(size, shape, "ones"), dtype, device, backend, requires_grad)


def empty(*size, shape=None, dtype=None, device=None, backend=None, requires_grad=False):
    return _filled("empty", sizes(size, shape, "empty"), dtype, device, backend, requires_grad)


def full(shape, fill_value, dtype=None, device=None, backend=None, requires_grad=False):
    if dtype is None and not isinstance(fill_value, float):
        dtype = resolve_dtype(None, resolve_device(device, backend), python_kind(fill_value))
    return _filled("full", shape, dtype, device, backend, requires_grad, fill_value)


def eye(n_rows, n_cols=None, k=0, dtype=None, device=None, backend=None, requires_grad=False):
    shape_of((n_rows,) if n_cols is None else (n_rows, n_cols), "eye")
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"eye: k must be an integer, got {k!r}")
    target = resolve_device(device, backend)
    data = target.backend.xp.eye(n_rows, n_cols, k=k, dtype=resolve_dtype(dtype, target), device=target.native)
    return _finish(data, target, requires_grad)


def arange(start, stop=None, step=1, dtype=None, device=None, backend=None, requires_grad=False):
    if step == 0:
        raise ValueError("arange: step must not be zero")
    first, last = (0, start) if stop is None else (start, stop)
    count = max(0, math.ceil((last - first) / step))
    if count >= 2**48:  # far past any memory: the libraries' own errors here are unhelpful
        raise ShapeError(f"arange({start!r}, {stop!r}, {step!r}): {count} elements is more than can be made")
    target = resolve_device(device, backend)
    kind = "real floating" if any(isinstance(v, float) for v in (start, stop, step)) else "integral"
    native = resolve_dtype(dtype, target, kind)
    data = target.backend.xp.arange(start, stop, step, dtype=native, device=target.native)
    return _finish(data, target, requires_grad)


def linspace(start, stop, num, endpoint=True, dtype=None, device=None, backend=None, requires_grad=False):
    if not is_size(num):
        raise ShapeError(f"linspace: num must be a non-negative integer, got {num!r}")
    target = resolve_device(device, backend)
    native = resolve_dtype(dtype, target)
    data = target.backend.xp.linspace(start, stop, num, endpoint=endpoint, dtype=native, device=target.native)
    return _finish(data, target, requires_grad)


def logspace(start, end, steps, base=10.0, dtype=None, device=None, backend=None, requires_grad=False):
    """PyTorch's (and NumPy's, by position): `steps` numbers from base**start to base**end, evenly
    spaced in the exponent."""
    exponents = linspace(start, end, steps, dtype=dtype, device=device, backend=backend)
    xp, target = exponents.xp, exponents.device
    data = xp.pow(xp.asarray(base, dtype=exponents.array.dtype, device=target.native), exponents.array)
    return _finish(data, target, requires_grad)


def _like(function_name, x, dtype, device, requires_grad, *args):
    target = x.device if device is None else resolve_target(device, x.device)
    native = x.array.dtype if dtype is None else resolve_dtype(dtype, target)
    make = getattr(target.backend.xp, function_name)
    return _finish(make(x.shape, *args, dtype=native, device=target.native), target, requires_grad)


def zeros_like(x, dtype=None, device=None, requires_grad=False):
    return _like("zeros", x, dtype, device, requires_grad)


def ones_like(x, dtype=None, device=None, requires_grad=False):
    return _like("ones", x, dtype, device, requires_grad)


def empty_like(x, dtype=None, device=None, requires_grad=False):
    return _like("empty", x, dtype, device, requires_grad)


def full_like(x, fill_value, dtype=None, device=None, requires_grad=False):
    return _like("full", x, dtype, device, requires_grad, fill_value)


def from_data(obj, dtype=None, device=None, backend=None, requires_grad=False, copy=None):
    """A Tensor from an array of any backend, a scalar or nested lists (no Tensors inside: see pg.asarray)."""
    data, target = as_native(obj, dtype, device, backend, copy)
    return _finish(data, target, requires_grad)
