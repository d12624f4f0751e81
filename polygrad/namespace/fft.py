"""pg.fft: the Array API's FFT extension, with gradients (PyTorch's conventions).

fft, ifft, fftn, ifftn, rfft and irfft are primitives on the backend's own fft (their rows:
polygrad/primitives/fft.py);
hfft, ihfft, rfftn and irfftn are built from them (hfft is irfft of the
conjugate with the scaling swapped; rfftn an rfft along the last axis, then an
fftn over the rest). fft/ifft/fftn/ifftn are complex-linear: each is its own
transpose (the same norm), and the engine conjugates around it (see
polygrad.primitives.complex). rfft's adjoint zero-pads the half spectrum and
takes the full transform's real part; irfft's is PyTorch's: rfft of the
gradient with the scaling swapped, its entries that stand for two of the
Hermitian spectrum doubled (so the imaginary parts irfft ignores get none).
With `n`/`s` the input is cut or zero-padded first; the adjoint pads or cuts
back. fftshift/ifftshift are rolls; fftfreq/rfftfreq make new tensors.
"""

from ..core.placement import resolve_device, resolve_dtype
from ..core.tensor import Tensor
from ..primitives.fft import _SWAPPED, _n_axes
from ..primitives.table import PRIMITIVES
from . import ops
from .ops import _standard

__all__ = ["fft", "ifft", "fftn", "ifftn", "rfft", "irfft", "rfftn", "irfftn", "hfft", "ihfft",
           "fftfreq", "rfftfreq", "fftshift", "ifftshift"]


_f = {name: ops._public(PRIMITIVES[f"fft_{name}"]) for name in ("fft", "ifft", "fftn", "ifftn", "rfft", "irfft")}


def _one(name, function):
    @_standard(lambda x, /, *, n=None, axis=-1, norm="backward": None)
    def transform(x, n=None, axis=-1, norm="backward"):
        return function(ops._operands([x])[0], n, axis, norm)

    transform.__name__ = transform.__qualname__ = name
    transform.__doc__ = f"The standard's fft.{name}, differentiable."
    return transform


def _many(name, function):
    @_standard(lambda x, /, *, s=None, axes=None, norm="backward": None)
    def transform(x, s=None, axes=None, norm="backward"):
        return function(ops._operands([x])[0], s, axes, norm)

    transform.__name__ = transform.__qualname__ = name
    transform.__doc__ = f"The standard's fft.{name}, differentiable."
    return transform


def _rfftn(x, s, axes, norm):
    axes = _n_axes(s, axes, x.ndim)
    out = _f["rfft"](x, n=None if s is None else s[-1], axis=axes[-1], norm=norm)
    return _f["fftn"](out, s=None if s is None else s[:-1], axes=axes[:-1], norm=norm) if len(axes) > 1 else out


def _irfftn(x, s, axes, norm):
    axes = _n_axes(s, axes, x.ndim)
    if len(axes) > 1:
        x = _f["ifftn"](x, s=None if s is None else s[:-1], axes=axes[:-1], norm=norm)
    return _f["irfft"](x, n=None if s is None else s[-1], axis=axes[-1], norm=norm)


fft = _one("fft", lambda x, n, axis, norm: _f["fft"](x, n=n, axis=axis, norm=norm))
ifft = _one("ifft", lambda x, n, axis, norm: _f["ifft"](x, n=n, axis=axis, norm=norm))
rfft = _one("rfft", lambda x, n, axis, norm: _f["rfft"](x, n=n, axis=axis, norm=norm))
irfft = _one("irfft", lambda x, n, axis, norm: _f["irfft"](x, n=n, axis=axis, norm=norm))
hfft = _one("hfft", lambda x, n, axis, norm: _f["irfft"](ops.conj(x), n=n, axis=axis, norm=_SWAPPED[norm]))
ihfft = _one("ihfft", lambda x, n, axis, norm: ops.conj(_f["rfft"](x, n=n, axis=axis, norm=_SWAPPED[norm])))
fftn = _many("fftn", lambda x, s, axes, norm: _f["fftn"](x, s=s, axes=axes, norm=norm))
ifftn = _many("ifftn", lambda x, s, axes, norm: _f["ifftn"](x, s=s, axes=axes, norm=norm))
rfftn = _many("rfftn", _rfftn)
irfftn = _many("irfftn", _irfftn)

# rules call xp.fft.<name>; under create_graph that xp is polygrad.namespace.ops
ops.fft = __import__("sys").modules[__name__]


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
