"""Where and in what a tensor is made: the default dtype, dtype and device resolution, sizes,
and raw arrays from any data (`as_native`). Every dtype or device question below the
namespace is answered here; nothing here makes a Tensor."""

import operator

from .. import backends
from ..backends import Device
from . import dtypes
from .errors import DtypeError, ShapeError

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


def check_rectangular(obj, where=""):
    """The shape of nested lists; a ShapeError names the first place where they are ragged."""
    if not isinstance(obj, (list, tuple)):
        return ()
    shapes = [check_rectangular(item, f"{where}[{i}]") for i, item in enumerate(obj)]
    for i, shape in enumerate(shapes):
        if shape != shapes[0]:
            raise ShapeError(f"asarray: ragged nested lists: data{where}[0] has shape {shapes[0]}, "
                             f"data{where}[{i}] has shape {shape}")
    return (len(obj), *(shapes[0] if shapes else ()))


def shape_of(shape, function):
    """`shape` (an int or a sequence of ints) as a tuple of non-negative ints, else a ShapeError naming `function`."""
    dims = shape if isinstance(shape, (tuple, list)) else (shape,)
    if not all(is_size(d) for d in dims):
        raise ShapeError(f"{function}: shape must be a non-negative integer or a sequence of them, got {shape!r}")
    return tuple(operator.index(d) for d in dims)


def is_size(d):
    """A non-negative integer, the library's integer scalars included; a bool is not a size."""
    try:
        return not isinstance(d, bool) and operator.index(d) >= 0
    except TypeError:
        return False


def sizes(given, shape, function):
    """`zeros(2, 3)` (PyTorch), `zeros((2, 3))` and `zeros(shape=(2, 3))` (the standard) alike."""
    if shape is None:
        return given[0] if len(given) == 1 else given
    if given:
        raise TypeError(f"{function}: the shape is given both by position and as shape=")
    return shape


def to_arguments(target, dtype, device, current_device):
    """PyTorch's `.to(...)` arguments as (device, dtype or None): `.to("cuda")`, `.to(pg.float64)`,
    `.to("cuda", pg.float16)`, `.to(device=...)` (`.to(other)` passes other's device and dtype)."""
    if target is not None and dtypes.name_in(target) is not None:
        target, dtype = None, target
    target = device if target is None else target
    return (current_device if target is None else resolve_target(target, current_device)), dtype


def as_native(obj, dtype=None, device=None, backend=None, copy=None):
    """(raw array, Device) for an array of any backend, a scalar or nested lists (not a Tensor).

    An array keeps its backend and device unless told otherwise; Python data goes to the
    given or default backend, in polygrad's default dtype for its kind.
    """
    source = backends.find_for_array(obj)
    if source is not None:
        here = source.device_of(obj)
        if device is None and backend in (None, source.name, source):
            target = here  # an array keeps its device unless told otherwise
        else:
            target = resolve_device(device, backend or (None if isinstance(device, Device) else source))
        if target.backend is source:
            data = source.array_of(obj)  # a NumPy scalar as a 0-d array: a buffer in-place updates can write
            if dtype is not None:
                data = source.xp.astype(data, resolve_dtype(dtype, target))
            if here.native != target.native or copy:
                data = source.xp.asarray(data, device=target.native, copy=True)
        else:
            native = None if dtype is None else resolve_dtype(dtype, target)
            data = target.backend.from_host(source.to_host(obj), target, native)
        return data, target
    check_rectangular(obj)
    target = resolve_device(device, backend)
    kind = python_kind(obj)
    if dtype is None and isinstance(obj, (list, tuple)):
        dtype = _held_dtype(obj, kind)
    data = target.backend.xp.asarray(obj, dtype=resolve_dtype(dtype, target, kind), device=target.native)
    return data, target


def python_kind(obj):
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
        kinds = {python_kind(item) for item in obj}
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
        elif hasattr(item, "dtype") and python_kind(item) == kind:
            held.append(item.dtype)
    return dtypes.result_type(*held) if held else None
