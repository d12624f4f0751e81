"""pg.linalg: values and gradients against NumPy, finite differences (grad of grad too) and torch.linalg."""

import math

import numpy as np
import pytest

import polygrad as pg
from primitive_cases import orthogonal, singular, spectral

SPD = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])
M = np.array([[1.5, -0.3, 0.8], [0.2, 2.0, -1.1], [0.7, 0.4, 1.8]])
B = np.array([[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]])


def sym(a):
    return (a + pg.matrix_transpose(a)) * 0.5


# name -> (polygrad function of one matrix, the same in torch, NumPy reference value or None)
FUNCTIONS = {
    "inv": (pg.linalg.inv, lambda t, a: t.linalg.inv(a), np.linalg.inv),
    "det": (pg.linalg.det, lambda t, a: t.linalg.det(a), np.linalg.det),
    "logabsdet": (lambda a: pg.linalg.slogdet(a).logabsdet, lambda t, a: t.linalg.slogdet(a)[1],
                  lambda a: np.linalg.slogdet(a)[1]),
    "solve": (lambda a: pg.linalg.solve(a, pg.asarray(B, device=a.device, dtype=a.dtype)),
              lambda t, a: t.linalg.solve(a, t.tensor(B, dtype=a.dtype)), lambda a: np.linalg.solve(a, B)),
    "solve-vector": (lambda a: pg.linalg.solve(a, a[0]), lambda t, a: t.linalg.solve(a, a[0]),
                     lambda a: np.linalg.solve(a, a[0])),
    "cholesky": (lambda a: pg.linalg.cholesky(sym(a)), lambda t, a: t.linalg.cholesky((a + a.mT) / 2),
                 lambda a: np.linalg.cholesky((a + a.T) / 2)),
    "cholesky-upper": (lambda a: pg.linalg.cholesky(sym(a), upper=True),
                       lambda t, a: t.linalg.cholesky((a + a.mT) / 2, upper=True),
                       lambda a: np.linalg.cholesky((a + a.T) / 2).T),
    "eigh": (lambda a: spectral(pg.linalg.eigh(sym(a))), lambda t, a: spectral(t.linalg.eigh((a + a.mT) / 2)),
             lambda a: spectral(np.linalg.eigh((a + a.T) / 2))),
    "eigvalsh": (lambda a: pg.linalg.eigvalsh(sym(a)), lambda t, a: t.linalg.eigvalsh((a + a.mT) / 2),
                 lambda a: np.linalg.eigvalsh((a + a.T) / 2)),
    "svd": (lambda a: singular(pg.linalg.svd(a)), lambda t, a: singular(t.linalg.svd(a)),
            lambda a: singular(np.linalg.svd(a))),
    "svd-tall": (lambda a: singular(pg.linalg.svd(a[:, :2], full_matrices=False)),
                 lambda t, a: singular(t.linalg.svd(a[:, :2], full_matrices=False)),
                 lambda a: singular(np.linalg.svd(a[:, :2], full_matrices=False))),
    "svd-wide": (lambda a: singular(pg.linalg.svd(a[:2], full_matrices=False)),
                 lambda t, a: singular(t.linalg.svd(a[:2], full_matrices=False)),
                 lambda a: singular(np.linalg.svd(a[:2], full_matrices=False))),
    "svdvals": (lambda a: pg.linalg.svdvals(a[:2]), lambda t, a: t.linalg.svdvals(a[:2]),
                lambda a: np.linalg.svd(a[:2], compute_uv=False)),
    "qr": (lambda a: orthogonal(pg.linalg.qr(a)), lambda t, a: orthogonal(t.linalg.qr(a)),
           lambda a: orthogonal(np.linalg.qr(a))),
    "qr-tall": (lambda a: orthogonal(pg.linalg.qr(a[:, :2])), lambda t, a: orthogonal(t.linalg.qr(a[:, :2])),
                lambda a: orthogonal(np.linalg.qr(a[:, :2]))),
    "pinv-tall": (lambda a: pg.linalg.pinv(a[:, :2]), lambda t, a: t.linalg.pinv(a[:, :2]),
                  lambda a: np.linalg.pinv(a[:, :2])),
    "pinv-wide": (lambda a: pg.linalg.pinv(a[:2]), lambda t, a: t.linalg.pinv(a[:2]), lambda a: np.linalg.pinv(a[:2])),
    "matrix_norm-2": (lambda a: pg.linalg.matrix_norm(a, ord=2), lambda t, a: t.linalg.matrix_norm(a, ord=2),
                      lambda a: np.linalg.norm(a, ord=2)),
    "diagonal": (lambda a: pg.linalg.diagonal(a, offset=1), lambda t, a: t.diagonal(a, offset=1, dim1=-2, dim2=-1),
                 lambda a: np.diagonal(a, offset=1)),
    "trace": (pg.linalg.trace, lambda t, a: t.trace(a), np.trace),
    "vector_norm": (lambda a: pg.linalg.vector_norm(a, axis=1, ord=3), lambda t, a: t.linalg.vector_norm(a, ord=3, dim=1),
                    lambda a: np.linalg.norm(a, ord=3, axis=1)),
    "matrix_norm-fro": (pg.linalg.matrix_norm, lambda t, a: t.linalg.matrix_norm(a), np.linalg.norm),
    "matrix_norm-1": (lambda a: pg.linalg.matrix_norm(a, ord=1), lambda t, a: t.linalg.matrix_norm(a, ord=1),
                      lambda a: np.linalg.norm(a, ord=1)),
    "cross": (lambda a: pg.linalg.cross(a, a * a), lambda t, a: t.linalg.cross(a, a * a),
              lambda a: np.cross(a, a * a)),
    "matrix_power": (lambda a: pg.linalg.matrix_power(a, 3), lambda t, a: t.linalg.matrix_power(a, 3),
                     lambda a: np.linalg.matrix_power(a, 3)),
    "matrix_power-negative": (lambda a: pg.linalg.matrix_power(a, -2), lambda t, a: t.linalg.matrix_power(a, -2),
                              lambda a: np.linalg.matrix_power(a, -2)),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_values_and_gradients(target64, name):
    f, _, reference = FUNCTIONS[name]
    data = SPD if name.startswith("cholesky") else M
    np.testing.assert_allclose(f(target64.tensor(data)).numpy(), reference(data), rtol=1e-10, atol=1e-12)
    assert pg.gradcheck(f, [target64.tensor(data, requires_grad=True)], check_forward=True)
    assert pg.gradgradcheck(f, [target64.tensor(data, requires_grad=True)])


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_gradients_match_torch_linalg(name):
    torch = pytest.importorskip("torch")
    f, torch_f, _ = FUNCTIONS[name]
    data = SPD if name.startswith("cholesky") else M
    x = pg.tensor(data, dtype="float64", requires_grad=True)  # the default backend: the one under test
    out = f(x)
    w = np.linspace(0.5, 1.5, out.size).reshape(out.shape)
    pg.sum(out * pg.tensor(w, dtype="float64")).backward()
    tx = torch.tensor(data, dtype=torch.float64, requires_grad=True)
    (torch_f(torch, tx) * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_batched_matrices(target64):
    batch = target64.tensor(np.stack([M, SPD]), requires_grad=True)
    np.testing.assert_allclose(pg.linalg.det(batch).numpy(), np.linalg.det(np.stack([M, SPD])), rtol=1e-10)
    assert pg.gradcheck(lambda a: pg.linalg.inv(a) @ a[..., :1], [batch])
    for f in (lambda a: spectral(pg.linalg.eigh(sym(a))), lambda a: singular(pg.linalg.svd(a[..., :2], full_matrices=False)),
              lambda a: orthogonal(pg.linalg.qr(a[..., :2])), lambda a: pg.linalg.pinv(a[..., :2, :])):
        assert pg.gradcheck(f, [batch], check_forward=True)


def test_values_without_gradients(target64):
    x = target64.tensor(SPD, requires_grad=True)
    assert int(pg.linalg.matrix_rank(x)) == 3 and float(pg.linalg.slogdet(x).sign) == 1.0
    assert not pg.linalg.matrix_rank(x).requires_grad and not pg.linalg.slogdet(x).sign.requires_grad


def test_non_square_input_is_a_clear_error(target):
    with pytest.raises(pg.ShapeError, match=r"linalg.inv: expects a stack of square matrices, got shape \(2, 3\)"):
        pg.linalg.inv(target.randn(2, 3))
    with pytest.raises(pg.ShapeError, match="linalg.cross: needs size 3"):
        pg.linalg.cross(target.randn(2, 2), target.randn(2, 2))
    with pytest.raises(pg.ShapeError, match=r"linalg.svd: expects a stack of matrices, got shape \(3,\)"):
        pg.linalg.svd(target.randn(3))


def test_decompositions_reconstruct_their_input(target64):
    values, vectors = pg.linalg.eigh(target64.tensor(SPD))
    np.testing.assert_allclose(values.numpy(), np.linalg.eigh(SPD)[0])
    np.testing.assert_allclose(((vectors * values[None, :]) @ pg.matrix_transpose(vectors)).numpy(), SPD, atol=1e-12)
    q, r = pg.linalg.qr(target64.tensor(M))
    np.testing.assert_allclose((q @ r).numpy(), M, atol=1e-12)
    for full_matrices in (False, True):
        u, s, vh = pg.linalg.svd(target64.tensor(M[:2]), full_matrices=full_matrices)
        np.testing.assert_allclose((u * s[None, :] @ vh[:2]).numpy(), M[:2], atol=1e-12)
    np.testing.assert_allclose(pg.linalg.pinv(target64.tensor(M)).numpy(), np.linalg.pinv(M), atol=1e-12)


def test_decompositions_without_a_derivative_refuse_gradients(target64):
    wide = target64.tensor(M[:2], requires_grad=True)
    with pytest.raises(pg.DtypeError, match="linalg.svd: no gradient with full_matrices=True for non-square"):
        pg.linalg.svd(wide)
    with pytest.raises(pg.DtypeError, match="linalg.qr: no gradient for matrices with fewer rows than columns"):
        pg.linalg.qr(wide)
    with pytest.raises(pg.DtypeError, match="linalg.qr: no gradient with mode='complete'"):
        pg.linalg.qr(pg.matrix_transpose(wide), mode="complete")
    square = target64.tensor(M, requires_grad=True)  # full matrices of a square one are the reduced ones
    assert pg.linalg.svd(square).U.requires_grad and pg.linalg.qr(square, mode="complete").Q.requires_grad


def test_repeated_eigenvalues(target64):
    """The eigenvectors' adjoint is undefined there (NaN, as in PyTorch); the eigenvalues' stays finite."""
    weights = target64.tensor([1.0, 2.0, 3.0])
    x = target64.tensor(np.diag([1.0, 1.0, 2.0]), requires_grad=True)
    pg.sum(pg.linalg.eigvalsh(x) * weights).backward()
    np.testing.assert_allclose(np.diagonal(x.grad.numpy()), [1.0, 2.0, 3.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        pg.sum(pg.linalg.eigh(x).eigenvectors[0] ** 2 * weights).backward()
    assert not np.all(np.isfinite(x.grad.numpy()))


def test_vecdot_keeps_small_integer_dtypes(target):
    x = pg.asarray([1, 2, 3], backend=target.backend, device=target.device, dtype="uint8")
    assert pg.linalg.vecdot(x, x).dtype is pg.uint8 and int(pg.vecdot(x, x)) == 14


def test_nested_lists_of_tensors(target):
    a, b = target.tensor(1.0, requires_grad=True), target.tensor(2.0)
    m = pg.asarray([[a, b], [b, a]])
    assert m.shape == (2, 2)
    pg.sum(m).backward()
    assert float(a.grad) == 2.0


# ---------------------------------------------------------------- the standard's edge cases (array-api-tests)
def test_norms_of_complex_tensors_are_real(target):
    complex_ = "complex128" if target.dtype == "float64" else "complex64"
    z = pg.asarray([[3 + 4j, 0j], [0j, 0j]], backend=target.backend, device=target.device, dtype=complex_)
    for ord, expected in ((2, 5.0), (1, 5.0), (0, 1.0), (math.inf, 5.0), (3, 5.0)):
        norm = pg.linalg.vector_norm(z, ord=ord)
        assert norm.dtype == target.dtype and float(norm) == pytest.approx(expected)
    fro = pg.linalg.matrix_norm(z)
    assert fro.dtype == target.dtype and float(fro) == pytest.approx(5.0)


def test_matrix_rank_and_pinv_take_rtol_per_matrix_or_for_all(target):
    stack = target.tensor(np.stack([np.diag([1.0, 1e-3, 0.0]), np.diag([1.0, 0.5, 1e-3])]))
    assert pg.linalg.matrix_rank(stack).tolist() == [2, 3]
    assert pg.linalg.matrix_rank(stack, rtol=1e-2).tolist() == [1, 2]
    assert pg.linalg.matrix_rank(stack, rtol=target.tensor([1e-2, 1e-4])).tolist() == [1, 3]
    inverse = pg.linalg.pinv(stack, rtol=target.tensor([1e-2, 1e-4])).numpy()
    np.testing.assert_allclose(np.diagonal(inverse, axis1=-2, axis2=-1), [[1, 0, 0], [1, 2, 1e3]], rtol=1e-4)
    empty = target.tensor(np.zeros((0, 2, 3, 3)))
    assert pg.linalg.pinv(empty, rtol=target.tensor(np.zeros((0, 2)))).shape == (0, 2, 3, 3)


def test_vecdot_does_not_broadcast_the_contracted_axis(target):
    assert float(pg.vecdot(target.tensor([1.0, 2.0]), target.tensor([3.0, 4.0]))) == 11.0
    assert pg.vecdot(target.tensor(np.ones((2, 3))), target.tensor([1.0, 2.0, 3.0])).tolist() == [6.0, 6.0]
    with pytest.raises(pg.ShapeError, match="vecdot: the contracted axis -1 must have one size in both operands"):
        pg.vecdot(target.tensor([1.0, 2.0]), target.tensor([1.0]))
    with pytest.raises(pg.ShapeError, match="vecdot: the contracted axis -2"):
        pg.linalg.vecdot(target.tensor(np.ones((3, 2))), target.tensor([1.0, 2.0]), axis=-2)
