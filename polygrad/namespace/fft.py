"""pg.fft: the Array API's FFT extension, with gradients (PyTorch's conventions).

fft, ifft, fftn, ifftn, rfft and irfft are primitives on the backend's own fft;
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

from . import ops
from ..core.placement import resolve_device, resolve_dtype
from .ops import _standard
from ..primitives.table import PRIMITIVES, defprim
from ..core.tensor import Tensor

_SWAPPED = {"backward": "forward", "forward": "backward", "ortho": "ortho"}
__all__ = ["fft", "ifft", "fftn", "ifftn", "rfft", "irfft", "rfftn", "irfftn", "hfft", "ihfft",
           "fftfreq", "rfftfreq", "fftshift", "ifftshift"]


def _fit(xp, a, axis, size):
    """a cut or zero-padded to `size` along `axis` (the adjoint of the padding or cutting n/s do)."""
    axis %= a.ndim
    have = a.shape[axis]
    if have == size:
        return a
    before = (slice(None),) * axis
    if have > size:
        return a[before + (slice(0, size), Ellipsis)]
    shape = a.shape[:axis] + (size,) + a.shape[axis + 1:]
    return xp.scatter_slice(a, key=before + (slice(0, have), Ellipsis), shape=shape)


def _n_axes(s, axes, ndim):
    if axes is None:
        axes = tuple(range(ndim)) if s is None else tuple(range(ndim - len(s), ndim))
    return tuple(a % ndim for a in axes)


def _one_axis(name):
    """fft or ifft along one axis: its own transpose at the output's length, then fit to the input's."""
    def transpose(xp, g, out, x, n, axis, norm):
        return _fit(xp, getattr(xp.fft, name)(g, axis=axis, norm=norm), axis, x.shape[axis])

    def tangent(xp, t, out, x, n, axis, norm):
        return getattr(xp.fft, name)(t, n=n, axis=axis, norm=norm)

    return defprim(f"fft_{name}", lambda xp, x, *, n=None, axis=-1, norm="backward":
                   getattr(xp.fft, name)(x, n=n, axis=axis, norm=norm), vjp=[transpose], jvp=[tangent],
                   doc=f"fft.{name} along one axis (complex-linear: its own transpose).")


def _many_axes(name):
    def transpose(xp, g, out, x, s, axes, norm):
        axes = _n_axes(s, axes, x.ndim)
        g = getattr(xp.fft, name)(g, axes=axes, norm=norm)
        for axis in axes:
            g = _fit(xp, g, axis, x.shape[axis])
        return g

    def tangent(xp, t, out, x, s, axes, norm):
        return getattr(xp.fft, name)(t, s=s, axes=axes, norm=norm)

    return defprim(f"fft_{name}", lambda xp, x, *, s=None, axes=None, norm="backward":
                   getattr(xp.fft, name)(x, s=s, axes=axes, norm=norm), vjp=[transpose], jvp=[tangent],
                   doc=f"fft.{name} over several axes (complex-linear: its own transpose).")


def _rfft_transpose(xp, g, out, x, n, axis, norm):
    """The half spectrum zero-padded to the full length, the full transform's transpose, fit to x."""
    full = n if n is not None else x.shape[axis]
    return _fit(xp, xp.fft.fft(_fit(xp, g, axis, full), axis=axis, norm=norm), axis, x.shape[axis])


def _irfft_vjp(xp, g, out, x, n, axis, norm):
    """PyTorch's: rfft(g) with the scaling swapped, doubled where one entry stands for two."""
    half = xp.fft.rfft(g, axis=axis, norm=_SWAPPED[norm])
    axis %= half.ndim
    twice = out.shape[axis] - half.shape[axis]  # entries 1 .. twice appear with their conjugates
    if twice > 0:
        before = (slice(None),) * axis
        half = xp.concat([half[before + (slice(0, 1), Ellipsis)], half[before + (slice(1, 1 + twice), Ellipsis)] * 2,
                          half[before + (slice(1 + twice, None), Ellipsis)]], axis=axis)
    return _fit(xp, half, axis, x.shape[axis])


for _name in ("fft", "ifft"):
    _one_axis(_name).complex = "holomorphic"
for _name in ("fftn", "ifftn"):
    _many_axes(_name).complex = "holomorphic"
defprim("fft_rfft", lambda xp, x, *, n=None, axis=-1, norm="backward": xp.fft.rfft(x, n=n, axis=axis, norm=norm),
        vjp=[_rfft_transpose],
        jvp=[lambda xp, t, out, x, n, axis, norm: xp.fft.rfft(t, n=n, axis=axis, norm=norm)],
        doc="fft.rfft of a real x: the first n//2 + 1 entries of its spectrum.").complex = "holomorphic"
defprim("fft_irfft", lambda xp, x, *, n=None, axis=-1, norm="backward": xp.fft.irfft(x, n=n, axis=axis, norm=norm),
        vjp=[_irfft_vjp],
        jvp=[lambda xp, t, out, x, n, axis, norm: xp.fft.irfft(t, n=n, axis=axis, norm=norm)],
        doc="fft.irfft: the real signal of a Hermitian spectrum given by its first half (real-linear, not "
            "complex-linear: the imaginary parts of its first and Nyquist entries are ignored).").complex = "conjugate"
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
