"""Making tensors: from data, filled, ranges, and the `*_like` forms.

Every function takes `backend=`, `device=`, `dtype=` and `requires_grad=`.
polygrad's default floating dtype is float32 on every backend (set it with
`set_default_dtype`); it never relies on a library's own default.
"""

import math
import operator

from . import backends, dtypes
from .backends import Device
from .errors import DtypeError, ShapeError, describe
from .tensor import Tensor

_default_float = "float32"


def set_default_dtype(name):
    """Set the floating dtype used when none is given: pg.float32 or pg.float64 (or their names)."""
    global _default_float
    known = dtypes.name_of(name) if isinstance(name, (str, dtypes.DType)) else None
    if known not in ("float32", "float64"):
        raise ValueError(f"set_default_dtype: expected pg.float32 or pg.float64, got {name!r}")
    _default_float = known


def get_default_dtype():
    """The floating dtype used when none is given, a dtype object as in PyTorch (it equals its name too)."""
    return dtypes.get(_default_float)


def resolve_device(device=None, backend=None):
    """A Device from any spelling: None, a Device, "cpu", "cuda:1", "device1", a native device."""
    if isinstance(device, Device):
        if backend is not None and backends.get(backend) is not device.backend:
            raise ValueError(
                f"device {device} belongs to backend {device.backend.name!r}, not {backends.get(backend).name!r}"
            )
        return device
    if backend is not None:
        return backends.get(backend).device(device)
    return _device_on(backends.default(), device)


def resolve_target(target, current):
    """Where `.to(target)` goes: a backend name, a device, or a device of another backend."""
    if isinstance(target, Device):
        return target
    if isinstance(target, str) and target in backends.names():
        return backends.get(target).default_device()
    return _device_on(current.backend, target)


def _device_on(backend, spec):
    """`spec` as a device of `backend`, else of the backend that serves that kind ("cuda:1": cupy)
    or, for a library's own device object, of the backend it belongs to."""
    try:
        return backend.device(spec)
    except ValueError:
        other = backends.for_device(spec) if isinstance(spec, str) else backends.for_native_device(spec)
        if other is None:
            raise
        return other.device(spec)


def resolve_dtype(dtype, device, kind="real floating"):
    """The native dtype of `device`'s backend for a polygrad dtype, a name or any library's dtype.

    None picks polygrad's default for `kind`.
    """
    xp = device.backend.xp
    if dtype is None:
        complex_ = "complex128" if _default_float == "float64" else "complex64"
        name = {"real floating": _default_float, "complex floating": complex_, "bool": "bool"}.get(kind, "int64")
        if name in ("float64", "complex128") and not device.backend.supports_float64(device):
            name = {"float64": "float32", "complex128": "complex64"}[name]
        return getattr(xp, name)
    native = getattr(xp, dtypes.get(dtype).name, None)
    if native is None:
        name = dtypes.name_of(dtype)
        hint = device.backend.missing_dtypes.get(name)
        raise DtypeError(f"dtype: {hint}" if hint else f"dtype: backend {device.backend.name!r} has no {name}")
    return native


def _finish(data, device, requires_grad):
    t = Tensor._wrap(data, device)
    if requires_grad:
        t.requires_grad_()
    return t


def _check_rectangular(obj, where=""):
    """The shape of nested lists; a ShapeError names the first place where they are ragged."""
    if not isinstance(obj, (list, tuple)):
        return ()
    shapes = [_check_rectangular(item, f"{where}[{i}]") for i, item in enumerate(obj)]
    for i, shape in enumerate(shapes):
        if shape != shapes[0]:
            raise ShapeError(f"asarray: ragged nested lists: data{where}[0] has shape {shapes[0]}, "
                             f"data{where}[{i}] has shape {shape}")
    return (len(obj), *(shapes[0] if shapes else ()))


def _kind(obj):
    """The dtype kind Python data asks for: bool < integral < real floating < complex floating."""
    if isinstance(obj, bool):
        return "bool"
    if isinstance(obj, int):
        return "integral"
    if isinstance(obj, float):
        return "real floating"
    if isinstance(obj, complex):
        return "complex floating"
    if getattr(obj, "shape", None) == () and hasattr(obj, "dtype"):  # a NumPy scalar among the data
        kind = dtypes.from_native(obj.dtype).kind
        return "integral" if kind.endswith("integer") else kind
    if isinstance(obj, (list, tuple)):
        kinds = {_kind(item) for item in obj}
        for kind in ("complex floating", "real floating", "integral", "bool"):
            if kind in kinds:
                return kind
        return "real floating"  # empty list
    raise TypeError(f"asarray: cannot make a tensor from {type(obj).__name__}")


def _held_dtype(obj, kind):
    """The dtype that the library scalars of `kind` among nested lists promote to (torch.tensor keeps
    theirs: [np.int32(1), 2] is int32), or None where there are none."""
    held = []
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif hasattr(item, "dtype") and _kind(item) == kind:
            held.append(item.dtype)
    return dtypes.result_type(*held) if held else None


def _holds_tensor(obj):
    """Whether nested lists hold a Tensor anywhere (they are then stacked, keeping the graph)."""
    return any(isinstance(item, Tensor) or (isinstance(item, (list, tuple)) and _holds_tensor(item)) for item in obj)


def asarray(obj, dtype=None, device=None, backend=None, requires_grad=False, copy=None):
    """A Tensor from a Tensor, an array of any backend, a scalar or nested lists."""
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
            from .ops import astype

            out = astype(obj, obj.dtype, copy=True)  # a recorded copy: array-API code copies, then writes
        return out.requires_grad_() if requires_grad else out
    source = backends.find_for_array(obj)
    if source is not None:
        here = source.device_of(obj)
        if device is None and backend in (None, source.name, source):
            target = here  # an array keeps its device unless told otherwise
        else:
            target = resolve_device(device, backend or (None if isinstance(device, Device) else source))
        if target.backend is source:
            native = here.native
            data = source.array_of(obj)  # a NumPy scalar as a 0-d array: a buffer in-place updates can write
            if dtype is not None:
                data = source.xp.astype(data, resolve_dtype(dtype, target))
            if native != target.native or copy:
                data = source.xp.asarray(data, device=target.native, copy=True)
        else:
            native = None if dtype is None else resolve_dtype(dtype, target)
            data = target.backend.from_host(source.to_host(obj), target, native)
        return _finish(data, target, requires_grad)
    if isinstance(obj, (list, tuple)) and _holds_tensor(obj):
        from .ops import stack

        return asarray(stack([asarray(item, dtype, device, backend) for item in obj]), requires_grad=requires_grad)
    _check_rectangular(obj)
    target = resolve_device(device, backend)
    kind = _kind(obj)
    if dtype is None and isinstance(obj, (list, tuple)):
        dtype = _held_dtype(obj, kind)
    data = target.backend.xp.asarray(obj, dtype=resolve_dtype(dtype, target, kind), device=target.native)
    return _finish(data, target, requires_grad)


def tensor(data, dtype=None, device=None, backend=None, requires_grad=False):
    """A new tensor holding a copy of `data`, as torch.tensor (`asarray` shares where it can).

    Host data (nested lists, NumPy arrays: the format files are read into) lands on the
    default backend, as torch.tensor puts it on the default device; an array of a device
    library keeps its device, as with `asarray` (which also keeps a NumPy array on numpy).
    """
    if device is None and backend is None and getattr(backends.find_for_array(data), "name", None) == "numpy":
        backend = backends.default()
    return asarray(data, dtype=dtype, device=device, backend=backend, requires_grad=requires_grad, copy=True)


def _shape(shape, function):
    """`shape` (an int or a sequence of ints) as a tuple of non-negative ints, else a ShapeError naming `function`."""
    dims = shape if isinstance(shape, (tuple, list)) else (shape,)
    if not all(_is_size(d) for d in dims):
        raise ShapeError(f"{function}: shape must be a non-negative integer or a sequence of them, got {shape!r}")
    return tuple(operator.index(d) for d in dims)


def _is_size(d):
    """A non-negative integer, the library's integer scalars included; a bool is not a size."""
    try:
        return not isinstance(d, bool) and operator.index(d) >= 0
    except TypeError:
        return False


def _sizes(sizes, shape, function):
    """`zeros(2, 3)` (PyTorch), `zeros((2, 3))` and `zeros(shape=(2, 3))` (the standard) alike."""
    if shape is None:
        return sizes[0] if len(sizes) == 1 else sizes
    if sizes:
        raise TypeError(f"{function}: the shape is given both by position and as shape=")
    return shape


def _filled(function_name, shape, dtype, device, backend, requires_grad, *args):
    target = resolve_device(device, backend)
    native = resolve_dtype(dtype, target)
    make = getattr(target.backend.xp, function_name)
    return _finish(make(_shape(shape, function_name), *args, dtype=native, device=target.native), target, requires_grad)


def zeros(*size, shape=None, dtype=None, device=None, backend=None, requires_grad=False):
    return _filled("zeros", _sizes(size, shape, "zeros"), dtype, device, backend, requires_grad)


def ones(*size, shape=None, dtype=None, device=None, backend=None, requires_grad=False):
    return _filled("ones", _sizes(size, shape, "ones"), dtype, device, backend, requires_grad)


def empty(*size, shape=None, dtype=None, device=None, backend=None, requires_grad=False):
    return _filled("empty", _sizes(size, shape, "empty"), dtype, device, backend, requires_grad)


def full(shape, fill_value, dtype=None, device=None, backend=None, requires_grad=False):
    if dtype is None and not isinstance(fill_value, float):
        dtype = resolve_dtype(None, resolve_device(device, backend), _kind(fill_value))
    return _filled("full", shape, dtype, device, backend, requires_grad, fill_value)


def eye(n_rows, n_cols=None, k=0, dtype=None, device=None, backend=None, requires_grad=False):
    _shape((n_rows,) if n_cols is None else (n_rows, n_cols), "eye")
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
    if not _is_size(num):
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
