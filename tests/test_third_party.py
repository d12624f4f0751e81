"""Other libraries' array-API code, run on polygrad Tensors, records on the tape and differentiates.

scipy (with SCIPY_ARRAY_API=1) and array-api-extra pick their namespace through
`x.__array_namespace__()`; the gradient of their functions must match finite
differences of the same functions run on NumPy arrays. Skipped without them.
"""

import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")  # read when scipy is first imported

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import polygrad as pg  # noqa: E402

X = [[0.3, -1.2, 2.0, 0.7], [0.5, 0.1, -0.4, 1.5], [-0.9, 0.8, 0.2, -0.3]]


def numpy_gradient(f, x, eps=1e-6):
    """Central differences of sum(w * f(x)) for a fixed w, on NumPy arrays."""
    w = np.linspace(0.5, 1.5, np.asarray(f(x)).size).reshape(np.shape(f(x)))
    grad = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        grad[i] = np.sum(w * (f(up) - f(down))) / (2 * eps)
    return w, grad


def check_backward(target, f):
    x = target.tensor(X, requires_grad=True)
    out = f(x)
    assert isinstance(out, pg.Tensor) and out.requires_grad  # recorded on the tape, not converted
    w, expected = numpy_gradient(f, np.asarray(X))
    pg.sum(out * target.tensor(w)).backward()
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-6, atol=1e-8)
    assert pg.gradcheck(f, [target.tensor(X, requires_grad=True)])


def _scipy_special():
    special = pytest.importorskip("scipy.special")
    from scipy._lib import _array_api

    if not _array_api.SCIPY_ARRAY_API:
        pytest.skip("scipy was imported before SCIPY_ARRAY_API=1 was set")
    return special


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_scipy_logsumexp_differentiates(target64, axis):
    special = _scipy_special()
    check_backward(target64, lambda x: special.logsumexp(x, axis=axis))


def test_scipy_softmax_differentiates(target64):
    special = _scipy_special()
    check_backward(target64, lambda x: special.softmax(x, axis=1))


def test_array_api_extra_cov_differentiates(target64):
    xpx = pytest.importorskip("array_api_extra")
    check_backward(target64, xpx.cov)


def test_array_api_extra_sinc_and_atleast_nd(target64):
    xpx = pytest.importorskip("array_api_extra")
    check_backward(target64, lambda x: xpx.sinc(xpx.atleast_nd(x, ndim=3)))


def test_scipy_variation_and_entropy_differentiate_through_mask_assignment(target64):
    """Both assign through a boolean mask (`x[mask] = v`) inside scipy: recorded as index_put_."""
    stats = pytest.importorskip("scipy.stats")
    _scipy_special()
    check_backward(target64, lambda x: stats.variation(x, axis=1))
    check_backward(target64, lambda x: stats.entropy(x * x + 0.1, x * x * 0.5 + 0.3, axis=1))


def test_scikit_learn_pca_differentiates(target64):
    """PCA(svd_solver="full") flips the signs of linalg.svd's U in place (svd_flip: U *= signs)."""
    sklearn = pytest.importorskip("sklearn")
    from sklearn.decomposition import PCA

    def f(x):
        with sklearn.config_context(array_api_dispatch=True):
            return PCA(n_components=2, svd_solver="full").fit_transform(x)

    check_backward(target64, f)


def test_scipy_tanhsinh_and_find_root_write_through_sibling_views():
    """Their work arrays are updated through views (`work.x1[i] = work.x3[i]`): each view must see the others.

    NumPy backend only: on array-api-strict scipy makes some arrays on polygrad's default backend, and
    on torch `zero[mask]` of a 0-d tensor with a 0-d mask fails in getitem (neither is about aliasing)."""
    pytest.importorskip("scipy.optimize.elementwise")
    if pg.backends.default_name() != "numpy":  # scipy makes some of its arrays on the default backend
        pytest.skip("needs numpy as the default backend (pytest --backend numpy, or the default run)")
    _scipy_special()
    from scipy.integrate import tanhsinh
    from scipy.optimize.elementwise import find_root

    def make(values):
        return pg.tensor(values, dtype="float64", backend="numpy")

    integral = tanhsinh(lambda x: x * x, make([0.0, 0.0]), make([1.0, 2.0])).integral
    np.testing.assert_allclose(integral.numpy(), [1 / 3, 8 / 3], rtol=1e-12)
    root = find_root(lambda x: x * x - 2.0, (make([0.0, 1.0]), make([3.0, 4.0]))).x
    np.testing.assert_allclose(root.numpy(), [np.sqrt(2.0)] * 2, rtol=1e-10)


@pytest.mark.parametrize("name", ["fftconvolve", "hilbert", "rfft"])
def test_scipy_fft_and_signal_differentiate_through_complex_values(target64, name):
    """scipy.fft / scipy.signal on Tensors: complex values in between, the gradient of the real result
    against finite differences of the same scipy code on NumPy arrays (NumPy picks NumPy's namespace)."""
    _scipy_special()
    import scipy.fft
    import scipy.signal

    def modulus(z):
        return pg.abs(z) if isinstance(z, pg.Tensor) else np.abs(z)

    f = {"fftconvolve": lambda x: scipy.signal.fftconvolve(x, x[:2, 1:], mode="same"),
         "hilbert": lambda x: modulus(scipy.signal.hilbert(x, axis=1)),
         "rfft": lambda x: modulus(scipy.fft.rfft(x, n=6, axis=0, norm="ortho"))}[name]
    check_backward(target64, f)
