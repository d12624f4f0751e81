"""What the Array API 2025.12 adds or changes, on every backend; eig/eigvals gradients against torch."""

import numpy as np
import pytest

import polygrad as pg

RNG = np.random.default_rng(3)


def test_version_and_namespace(target):
    x = target.tensor([1.0, 2.0])
    assert pg.__array_api_version__ == "2025.12"
    assert x.__array_namespace__() is pg and x.__array_namespace__(api_version="2025.12") is pg
    devices = pg.__array_namespace_info__().devices()
    assert isinstance(devices, tuple) and all(isinstance(d, pg.Device) for d in devices)


def test_an_earlier_version_keeps_its_lists(target):
    """2024.12 (and earlier) as the standard had it: lists from broadcast_arrays, meshgrid and devices()."""
    x = target.tensor([1.0, 2.0], requires_grad=True)
    old = x.__array_namespace__(api_version="2024.12")
    assert old.__array_api_version__ == "2024.12" and x.__array_namespace__(api_version="2023.12") is old
    assert old.sum is pg.sum and old.float64 is pg.float64 and old.linalg is pg.linalg
    grids, pair = old.meshgrid(x, x[:1], indexing="ij"), old.broadcast_arrays(x, x[:1])
    assert isinstance(grids, list) and isinstance(pair, list) and [g.shape for g in grids] == [(2, 1), (2, 1)]
    assert isinstance(old.__array_namespace_info__().devices(), list)
    pg.sum(grids[0] * pair[1]).backward()
    np.testing.assert_allclose(x.grad.numpy(), [2 * (1.0 + 2.0) + 2 * 1.0, 2 * 1.0])  # d sum(2 x0 (x0 + x1))


def test_tuples_where_lists_were(target):
    a, b = target.tensor([1.0, 2.0]), target.tensor([3.0, 4.0, 5.0])
    grids = pg.meshgrid(a, b)
    assert isinstance(grids, tuple) and [g.shape for g in grids] == [(3, 2), (3, 2)]
    pair = pg.broadcast_arrays(a[:, None], b)
    assert isinstance(pair, tuple) and [p.shape for p in pair] == [(2, 3), (2, 3)]


def test_broadcast_shapes():
    for shapes in [((2, 1), (3,)), ((), (4, 1, 2), (5, 1)), ((0, 1), (1, 3)), ((3,),)]:
        assert pg.broadcast_shapes(*shapes) == np.broadcast_shapes(*shapes)
    assert pg.broadcast_shapes() == ()
    with pytest.raises(pg.ShapeError, match="broadcast_shapes: shapes"):
        pg.broadcast_shapes((2, 3), (4,))


def test_isin(target):
    x1 = pg.asarray([[1, 5], [2, 7]], backend=target.backend, device=target.device)
    x2 = pg.asarray([7, 1, 9], backend=target.backend, device=target.device)
    assert pg.isin(x1, x2).tolist() == [[True, False], [False, True]]
    assert pg.isin(x1, x2, invert=True).tolist() == [[False, True], [True, False]]
    assert pg.isin(x1, 5).tolist() == [[False, True], [False, False]]
    got = pg.isin(9, x2)
    assert got.shape == () and got.dtype == pg.bool and bool(got)


def test_expand_dims_with_a_tuple_and_permute_dims_with_negative_axes(target):
    x = target.randn(2, 3, requires_grad=True)
    y = pg.expand_dims(x, axis=(0, -1, 2))
    assert y.shape == np.expand_dims(x.numpy(), axis=(0, -1, 2)).shape == (1, 2, 1, 3, 1)
    z = pg.permute_dims(x, (-1, -2))
    np.testing.assert_array_equal(z.numpy(), x.numpy().T)
    pg.sum(pg.reshape(y, (2, 3)) * 2.0 + pg.matrix_transpose(z) * pg.reshape(pg.arange(6.0, device=x.device,
                                                                                      dtype=x.dtype), (2, 3))).backward()
    np.testing.assert_allclose(x.grad.numpy(), 2.0 + np.arange(6.0).reshape(2, 3))


def test_searchsorted_with_a_number(target):
    x1 = target.tensor([1.0, 2.0, 3.0])
    left, right = pg.searchsorted(x1, 2.0), pg.searchsorted(x1, 2.0, side="right")
    assert left.shape == () and (int(left), int(right)) == (1, 2)


def _eig_case(complex_input):
    a = RNG.standard_normal((2, 3, 3))
    return a + 1j * RNG.standard_normal((2, 3, 3)) if complex_input else a


@pytest.mark.parametrize("complex_input", [False, True], ids=["real", "complex"])
def test_eig_values_and_vectors(target64, complex_input):
    a = _eig_case(complex_input)
    x = pg.asarray(a, backend=target64.backend, device=target64.device)
    values, vectors = pg.linalg.eig(x)
    assert values.dtype == vectors.dtype == pg.complex128 and values.shape == (2, 3) and vectors.shape == (2, 3, 3)
    v, w = vectors.numpy(), values.numpy()
    np.testing.assert_allclose(a @ v, v * w[:, None, :], atol=1e-10)
    np.testing.assert_allclose(np.linalg.norm(v, axis=-2), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.sort_complex(pg.linalg.eigvals(x).numpy()), np.sort_complex(w), atol=1e-10)


@pytest.mark.parametrize("complex_input", [False, True], ids=["real", "complex"])
def test_eig_and_eigvals_gradients_against_torch(target64, complex_input):
    """A loss of the eigenvalues and of |V|² (invariant to each eigenvector's phase): .grad and jvp vs torch."""
    torch = pytest.importorskip("torch")
    a = _eig_case(complex_input)
    w = RNG.standard_normal((2, 3)) + 1j * RNG.standard_normal((2, 3))
    c = RNG.standard_normal((2, 3, 3))
    t = _eig_case(complex_input)

    def ours(x):
        values, vectors = pg.linalg.eig(x)
        on = dict(backend=target64.backend, device=target64.device)
        return (pg.sum(pg.real(values * pg.asarray(w, **on))) + pg.sum(pg.abs(vectors) ** 2 * pg.asarray(c, **on))
                + pg.sum(pg.imag(pg.linalg.eigvals(x) ** 2)))

    def theirs(x):
        values, vectors = torch.linalg.eig(x)
        return ((values * torch.tensor(w)).real.sum() + (vectors.abs() ** 2 * torch.tensor(c)).sum()
                + (torch.linalg.eigvals(x) ** 2).imag.sum())

    x = pg.asarray(a, backend=target64.backend, device=target64.device, requires_grad=True)
    ours(x).backward()
    xt = torch.tensor(a, requires_grad=True)
    theirs(xt).backward()
    assert x.grad.dtype == x.dtype
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-8, atol=1e-10)
    _, tangent = pg.jvp(ours, (x.detach(),), (pg.asarray(t, backend=target64.backend, device=target64.device),))
    _, expected = torch.func.jvp(theirs, (torch.tensor(a),), (torch.tensor(t),))
    assert tangent.item() == pytest.approx(expected.item(), rel=1e-8)


def test_eig_refuses_a_loss_that_depends_on_the_eigenvectors_phase(target64):
    x = pg.asarray(_eig_case(True), backend=target64.backend, device=target64.device, requires_grad=True)
    _, vectors = pg.linalg.eig(x)
    with pytest.raises(ValueError, match="linalg.eig: the loss depends on the phase of the eigenvectors"):
        pg.sum(pg.real(vectors)).backward()
