"""pg.einsum against torch.einsum (numpy.einsum's values where torch is not installed): values and the
gradient of every operand, on every backend and dtype, for "...", broadcasting, diagonals and implicit outputs."""

import numpy as np
import pytest

import polygrad as pg

try:
    import torch
except ImportError:
    torch = None

EQUATIONS = {
    "matmul": ("ij,jk->ik", [(3, 4), (4, 5)]),
    "batch": ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    "ellipsis_batch": ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),
    "ellipsis_ranks": ("...ij,jk->...ik", [(2, 3, 4, 5), (5, 6)]),
    "ellipsis_broadcast_implicit": ("...ij,...jk", [(2, 1, 3, 4), (5, 4, 2)]),
    "ellipsis_middle": ("i...j,j->...i", [(3, 2, 5, 4), (4,)]),
    "ellipsis_alone": ("...,...", [(2, 1), (3,)]),
    "diagonal": ("ii->i", [(3, 3)]),
    "trace": ("ii", [(3, 3)]),
    "diagonal_summed": ("iij->j", [(3, 3, 4)]),
    "diagonal_kept_apart": ("iji->ji", [(3, 4, 3)]),
    "diagonal_of_three": ("iii", [(3, 3, 3)]),
    "diagonals_batched": ("bii,bjj->bij", [(2, 3, 3), (2, 4, 4)]),
    "diagonal_times_matrix": ("ii,ij->j", [(3, 3), (3, 4)]),
    "outer": ("i,j->ij", [(3,), (4,)]),
    "implicit": ("ij,kj", [(3, 4), (5, 4)]),
    "size_one_broadcast": ("ij,ij->ij", [(3, 1), (3, 4)]),
    "chain_of_three": ("ij,jk,k->i", [(3, 4), (4, 5), (5,)]),
    "scalar_operand": (",i->i", [(), (3,)]),
    "spaces_and_capitals": ("Ab , bC -> AC", [(2, 3), (3, 4)]),
}


def _arrays(shapes):
    rng = np.random.default_rng(len(shapes))
    return [rng.normal(size=shape) for shape in shapes]


@pytest.mark.parametrize("name", list(EQUATIONS))
def test_einsum_matches_torch(target, name):
    equation, shapes = EQUATIONS[name]
    arrays = _arrays(shapes)
    xs = [target.tensor(a, requires_grad=True) for a in arrays]
    out = pg.einsum(equation, *xs)
    assert out.dtype == xs[0].dtype and out.device == xs[0].device
    tol = dict(rtol=target.tol, atol=target.tol / 100)
    if torch is None:
        np.testing.assert_allclose(out.numpy(), np.einsum(equation, *arrays), **tol)
        pytest.skip("torch is not installed: values checked against numpy.einsum, gradients not")
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    expected = torch.einsum(equation, *ts)
    assert out.shape == tuple(expected.shape)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), **tol)
    weight = np.random.default_rng(7).normal(size=out.shape)  # a cotangent that tells the entries apart
    (out * target.tensor(weight)).sum().backward()
    (expected * torch.tensor(weight)).sum().backward()
    for i, (x, t) in enumerate(zip(xs, ts)):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), **tol, err_msg=f"operand {i}")


def test_an_explicit_output_without_ellipsis_sums_its_dims(target64):
    """As torch.einsum (numpy.einsum refuses): "...ij->ij" sums over the dims "..." stands for."""
    x = _arrays([(2, 5, 3, 4)])[0]
    np.testing.assert_allclose(pg.einsum("...ij->ij", target64.tensor(x)).numpy(), x.sum((0, 1)), rtol=1e-10)


@pytest.mark.parametrize("equation, shapes", [("...ii,...i->...i", [(2, 3, 3), (3,)]), ("iij,kj", [(3, 3, 4), (2, 4)])])
def test_einsum_second_derivatives(target64, equation, shapes):
    xs = [target64.tensor(a, requires_grad=True) for a in _arrays(shapes)]
    f = lambda *operands: pg.einsum(equation, *operands) ** 2  # noqa: E731 (squared: a nonzero second derivative)
    assert pg.gradcheck(f, xs, check_forward=True) and pg.gradgradcheck(f, xs)


@pytest.mark.parametrize("equation, shapes, error, words", [
    ("ij,jk", [(2, 3), (4, 5)], pg.ShapeError, "index 'j' has size 3 and 4"),
    ("ii->i", [(2, 3)], pg.ShapeError, "index 'i' repeated"),
    ("...ij,...ij", [(2, 3, 4), (3, 3, 4)], pg.ShapeError, "'...' has size 2 and 3"),
    ("ij", [(2,)], pg.ShapeError, "subscript 'ij'"),
    ("i.j", [(2, 2)], ValueError, "at most one '...'"),
    ("i->ii", [(2,)], ValueError, "more than once in the output"),
    ("ij->k", [(2, 2)], ValueError, "index 'k' appears in the output only"),
    ("i,i", [(2,)], ValueError, "2 subscripts for 1 operands"),
])
def test_a_bad_equation_says_what_is_wrong(equation, shapes, error, words):
    with pytest.raises(error, match="einsum") as raised:
        pg.einsum(equation, *[pg.ones(shape) for shape in shapes])
    assert words in str(raised.value)
