"""Errors that name the operation and both sides."""


class PolygradError(Exception):
    """Base class of polygrad's own errors."""


class ShapeError(PolygradError, ValueError):
    pass


class DtypeError(PolygradError, TypeError):
    pass


class DeviceMismatchError(PolygradError, ValueError):
    pass


class BackendMismatchError(DeviceMismatchError):
    pass


class GraphFreedError(PolygradError, RuntimeError):
    pass


class InplaceModificationError(PolygradError, RuntimeError):
    pass


class AnomalyError(PolygradError, FloatingPointError):
    pass


def describe(tensor):
    """`shape (3, 4) float32 on cpu (numpy)` — enough to see why two sides differ."""
    dtype = str(tensor.dtype).replace("array_api_strict.", "").replace("torch.", "")
    return f"shape {tuple(tensor.shape)} {dtype} on {tensor.device.name} ({tensor.device.backend.name})"
