"""Errors that name the operation and both sides."""


class PolygradError(Exception):
    """Base class of polygrad's own errors."""


class ShapeError(PolygradError, ValueError):
    pass


class DtypeError(PolygradError, TypeError):
    pass


class AxisError(ShapeError, IndexError):
    """An axis or index out of range: a ShapeError, and the IndexError the standard and Python code expect."""


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


def dtype_name(dtype):
    """'float32' for every library's float32 (numpy's dtype, torch.float32, array_api_strict.float32)."""
    return str(dtype).rsplit(".", 1)[-1]


def describe(tensor):
    """`shape (3, 4) float32 on cpu (numpy)` — enough to see why two sides differ."""
    dtype = dtype_name(tensor.dtype)
    return f"shape {tuple(tensor.shape)} {dtype} on {tensor.device.name} ({tensor.device.backend.name})"


# PyTorch's spellings of the standard's parameter names, for hints in errors
_TORCH_SPELLINGS = {"dim": "axis", "keepdim": "keepdims", "input": "x", "other": "x2"}


def unexpected_keyword(function, keyword, parameters):
    """A TypeError for `function(keyword=...)` naming its parameters (and the standard's name for a torch one)."""
    message = f"{function}() got an unexpected keyword argument {keyword!r}; its parameters are ({', '.join(parameters)})"
    standard = _TORCH_SPELLINGS.get(keyword)
    if standard in parameters:
        message += (f"; PyTorch's {keyword}= is spelled {standard}= in the pg.* functions "
                    f"(Tensor methods take {keyword}=)")
    return TypeError(message)
