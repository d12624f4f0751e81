"""pg.fft: values against NumPy on every backend; shifts differentiate; gradients (against torch) in test_complex.py."""

import numpy as np
import pytest

import polygrad as pg

X = np.array([[1.0, 2.0, 0.5, -1.0, 3.0], [0.25, -2.0, 1.5, 0.75, -0.5]])
Z = X + 1j * X[::-1]


@pytest.mark.parametrize("name, data, options", [
    ("fft", Z, {}), ("ifft", Z, {"axis": 0}), ("fftn", Z, {}), ("ifftn", Z, {"axes": (1,)}),
    ("rfft", X, {}), ("irfft", Z, {"n": 8}), ("rfftn", X, {}), ("irfftn", Z, {"s": (2, 8)}),
    ("hfft", Z, {}), ("ihfft", X, {}), ("fft", Z, {"norm": "ortho", "n": 3}),
])
def test_transforms_match_numpy(target64, name, data, options):
    x = pg.asarray(data, backend=target64.backend, device=target64.device)
    expected = getattr(np.fft, name)(data, **options)
    np.testing.assert_allclose(getattr(pg.fft, name)(x, **options).numpy(), expected, rtol=1e-10, atol=1e-12)


def test_frequencies_and_shifts(target64):
    device = pg.backends.get(target64.backend).device(target64.device)
    np.testing.assert_allclose(pg.fft.fftfreq(5, d=0.5, device=device).numpy(), np.fft.fftfreq(5, d=0.5))
    np.testing.assert_allclose(pg.fft.rfftfreq(6, device=device, dtype="float64").numpy(), np.fft.rfftfreq(6))
    x = target64.tensor(X)
    np.testing.assert_array_equal(pg.fft.fftshift(x).numpy(), np.fft.fftshift(X))
    np.testing.assert_array_equal(pg.fft.ifftshift(x, axes=1).numpy(), np.fft.ifftshift(X, axes=1))
    assert pg.gradcheck(lambda a: pg.fft.fftshift(a, axes=(0, 1)) * a, [target64.tensor(X, requires_grad=True)])


def test_transforms_differentiate_in_float32_too(target):
    """Gradients keep the input's dtype and device (the values against torch are in test_complex.py)."""
    x = target.tensor(X, requires_grad=True)
    y = pg.fft.irfft(pg.fft.rfft(x, norm="ortho") * (1 - 0.5j), n=5, norm="ortho")
    pg.sum(y * y).backward()
    assert x.grad.dtype == x.dtype and x.grad.device == x.device and x.grad.shape == x.shape
