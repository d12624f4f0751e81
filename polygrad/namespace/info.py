"""What makes the `polygrad` module an Array API namespace besides its functions:
the version it implements, its constants and `__array_namespace_info__()`.

The inspection object describes the default backend (`pg.set_default_backend`),
built from that backend's own: its devices as polygrad Devices, its dtypes as
polygrad dtype objects, and polygrad's default dtypes (float32 unless
`pg.set_default_dtype("float64")`, never the library's own default).
"""

import inspect
import math
import sys
import types

from .. import backends
from . import creation
from ..core import dtypes
from ..core.placement import get_default_dtype, resolve_device

__array_api_version__ = "2025.12"

e = math.e
pi = math.pi
inf = math.inf
nan = math.nan
newaxis = None

# zeros(2, 3) works too (PyTorch's spelling, see creation.py); help() and tooling see the standard's
for _make in (creation.zeros, creation.ones, creation.empty):
    _make.__signature__ = inspect.signature(
        lambda shape, *, dtype=None, device=None, backend=None, requires_grad=False: None)


class Info:
    """The standard's inspection namespace for one backend."""

    def __init__(self, backend):
        self._backend = backend
        self._native = backend.xp.__array_namespace_info__()

    def __repr__(self):
        return f"<polygrad namespace info for backend {self._backend.name!r}>"

    def capabilities(self):
        return dict(self._native.capabilities())

    def default_device(self):
        return self._backend.default_device()

    def devices(self):
        return tuple(self._backend.devices())  # a tuple since 2025.12

    def _device(self, device):
        return resolve_device(device, self._backend.name)

    def dtypes(self, *, device=None, kind=None):
        native = self._native.dtypes(device=self._device(device).native, kind=kind)
        return {name: dtypes.get(name) for name in native}

    def default_dtypes(self, *, device=None):
        device = self._device(device)
        real = get_default_dtype()
        if real == "float64" and not self._backend.supports_float64(device):
            real = "float32"
        complex_ = "complex128" if real == "float64" else "complex64"
        return {"real floating": dtypes.get(real), "complex floating": dtypes.get(complex_),
                "integral": dtypes.int64, "indexing": dtypes.int64}


def __array_namespace_info__():
    """The inspection namespace (capabilities, devices, dtypes) of the default backend."""
    return Info(backends.default())


class _Before2025(types.ModuleType):
    """polygrad as the standard was before 2025.12, for `x.__array_namespace__(api_version="2024.12")` (or an
    earlier version): broadcast_arrays, meshgrid and the inspection object's devices() return lists, and
    __array_api_version__ says 2024.12. Everything else is polygrad's own (2025.12 only adds names)."""

    __array_api_version__ = "2024.12"

    def __getattr__(self, name):
        return getattr(sys.modules["polygrad"], name)

    @staticmethod
    def broadcast_arrays(*arrays):
        return list(sys.modules["polygrad"].broadcast_arrays(*arrays))

    @staticmethod
    def meshgrid(*arrays, indexing="xy"):
        return list(sys.modules["polygrad"].meshgrid(*arrays, indexing=indexing))

    @staticmethod
    def __array_namespace_info__():
        info = __array_namespace_info__()
        info.devices = lambda: list(Info.devices(info))
        return info


before_2025 = _Before2025("polygrad", "polygrad as the Array API 2024.12 has it (lists where 2025.12 has tuples)")


_API_VERSIONS = (None, "2021.12", "2022.12", "2023.12", "2024.12", "2025.12")


def install(tensor_class, face):
    """`t.__array_namespace__()` gives `face`, the polygrad module: array-API code (scipy, array-api-extra, ...)
    then records on the tape. The face installs it, the one module allowed to hand itself out."""

    def __array_namespace__(self, *, api_version=None):
        if api_version not in _API_VERSIONS:
            raise ValueError(f"__array_namespace__: api_version {api_version!r} is not one of {_API_VERSIONS[1:]}")
        # before 2025.12, broadcast_arrays, meshgrid and devices() returned lists
        return face if api_version in (None, "2025.12") else before_2025

    tensor_class.__array_namespace__ = __array_namespace__
