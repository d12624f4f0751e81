"""The rule table's FFT rows (pg.fft): fft, ifft, fftn, ifftn, rfft and irfft on the backend's own fft.

fft/ifft/fftn/ifftn are complex-linear: each is its own transpose (the same norm), and the engine
conjugates around it (polygrad.primitives.complex). rfft's adjoint zero-pads the half spectrum and
takes the full transform's real part; irfft's is PyTorch's: rfft of the gradient with the scaling
swapped, its entries that stand for two of the Hermitian spectrum doubled. With `n`/`s` the input is
cut or zero-padded first; the adjoint pads or cuts back. polygrad.namespace.fft makes the functions.
"""

from .table import defprim

_SWAPPED = {"backward": "forward", "forward": "backward", "ortho": "ortho"}


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
