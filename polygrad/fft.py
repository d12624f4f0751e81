"""pg.fft: the Array API's FFT extension, forward only for now.

The transforms run on the backend's own fft; their results carry no gradient,
and a transform of a tensor that requires grad raises (gradients through
complex values are not supported yet: see polygrad.dtypes), so nothing is
silently dropped. fftshift/ifftshift are rolls and keep gradients;
fftfreq/rfftfreq make new tensors.
"""

from . import ops
from .creation import resolve_device, resolve_dtype
from .errors import DtypeError, describe
from .ops import _standard
from .primitives import PRIMITIVES, defprim
from .tensor import Tensor
from .engine import state

_ONE_AXIS = ("fft", "ifft", "rfft", "irfft", "hfft", "ihfft")
_MANY_AXES = ("fftn", "ifftn", "rfftn", "irfftn")
__all__ = list(_ONE_AXIS + _MANY_AXES) + ["fftfreq", "rfftfreq", "fftshift", "ifftshift"]

for _name in _ONE_AXIS:
    defprim(f"fft_{_name}", (lambda name: lambda xp, x, *, n=None, axis=-1, norm="backward":
                             getattr(xp.fft, name)(x, n=n, axis=axis, norm=norm))(_name),
            doc=f"fft.{_name}: values only, no gradient yet.")
for _name in _MANY_AXES:
    defprim(f"fft_{_name}", (lambda name: lambda xp, x, *, s=None, axes=None, norm="backward":
                             getattr(xp.fft, name)(x, s=s, axes=axes, norm=norm))(_name),
            doc=f"fft.{_name}: values only, no gradient yet.")


def _transform(name, stub):
    primitive = ops._public(PRIMITIVES[f"fft_{name}"])

    def function(x, /, **options):
        x = ops._operands([x])[0]
        if x.requires_grad and state.grad_enabled:
            raise DtypeError(f"fft.{name}: gradients through the FFT are not supported yet; {describe(x)} "
                             "requires grad (detach it, or compute under no_grad())")
        return primitive(x, **options)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"The standard's fft.{name} on the backend's fft; no gradient yet."
    return _standard(stub)(function)


for _name in _ONE_AXIS:
    globals()[_name] = _transform(_name, lambda x, /, *, n=None, axis=-1, norm="backward": None)
for _name in _MANY_AXES:
    globals()[_name] = _transform(_name, lambda x, /, *, s=None, axes=None, norm="backward": None)


def _frequencies(n, d, device, dtype, half):
    target = resolve_device(device)
    xp = target.backend.xp
    native = resolve_dtype(dtype, target)
    maker = xp.fft.rfftfreq if half else xp.fft.fftfreq
    return Tensor._wrap(maker(n, d=d, dtype=native, device=target.native), target)


@_standard(lambda n, /, *, d=1.0, dtype=None, device=None: None)
def fftfreq(n, d=1.0, dtype=None, device=None):
    return _frequencies(n, d, device, dtype, half=False)


@_standard(lambda n, /, *, d=1.0, dtype=None, device=None: None)
def rfftfreq(n, d=1.0, dtype=None, device=None):
    return _frequencies(n, d, device, dtype, half=True)


def _shift(x, axes, sign):
    x = ops._operands([x])[0]
    axes = tuple(range(x.ndim)) if axes is None else (axes,) if isinstance(axes, int) else tuple(axes)
    shifts = tuple(sign * (x.shape[a] // 2) if sign > 0 else -(x.shape[a] // 2) for a in axes)
    return ops.roll(x, shift=shifts, axis=axes)


@_standard(lambda x, /, *, axes=None: None)
def fftshift(x, axes=None):
    """The zero frequency moved to the centre (a roll: gradients flow)."""
    return _shift(x, axes, 1)


@_standard(lambda x, /, *, axes=None: None)
def ifftshift(x, axes=None):
    return _shift(x, axes, -1)
