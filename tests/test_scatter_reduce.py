"""Tensor.scatter_reduce against torch: every reduce, with and without self, values and the gradients of
self and src on every backend, including repeated places, ties, zeros in a product and untouched places."""

import numpy as np
import pytest

import polygrad as pg

try:
    import torch
except ImportError:
    torch = None

REDUCES = ["sum", "prod", "mean", "amax", "amin"]
RNG = np.random.default_rng(3)
X = RNG.normal(size=(3, 5))
INDEX = np.array([[0, 0, 3, 3], [2, 2, 2, 4], [1, 4, 1, 1]])  # along dim 1; each row leaves places untouched
SRC = RNG.normal(size=(3, 4))  # (torch cannot differentiate a src larger than index)
SRC[0, 1] = 0.0               # one zero among place 0's factors
SRC[2, [0, 2]] = 0.0          # two among place 1's
SRC[1, [0, 1]] = 2.5          # two src entries tie for place 2's largest
SRC[0, [2, 3]] = -2.5         # and for place 3's smallest


def _data(dim):
    return (X, INDEX, SRC) if dim == 1 else (X.T, INDEX.T, SRC.T)


def _run(lib, make, x, index, src, dim, reduce, include_self, weight):
    x, src = make(x).requires_grad_(), make(src).requires_grad_()
    out = x.scatter_reduce(dim, make(index), src, reduce, include_self=include_self)
    (out * make(weight)).sum().backward()
    return [t.detach().numpy() if lib is torch else t.numpy() for t in (out, x.grad, src.grad)]


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("dim", [1, 0])
def test_scatter_reduce_matches_torch(target, dim, reduce, include_self):
    x, index, src = _data(dim)
    weight = np.random.default_rng(1).normal(size=x.shape)  # a cotangent that tells the entries apart
    make = lambda a: target.tensor(a) if a.dtype.kind == "f" else pg.asarray(a, device=target.tensor(0.0).device)  # noqa: E731
    ours = _run(pg, make, x, index, src, dim, reduce, include_self, weight)
    if torch is None:
        pytest.skip("torch is not installed: scatter_reduce ran, nothing to compare with")
    theirs = _run(torch, torch.tensor, x, index, src, dim, reduce, include_self, weight)
    for what, mine, expected in zip(("value", "self's gradient", "src's gradient"), ours, theirs):
        np.testing.assert_allclose(mine, expected, rtol=target.tol, atol=target.tol / 100, err_msg=what)


def test_ties_for_the_largest_share_its_gradient_evenly(target):
    """self counts among the ties only with include_self (torch 2.x counts it as well without
    include_self, so that the shares no longer add up to the gradient: there we differ)."""
    index = pg.asarray([0, 0, 1], device=target.tensor(0.0).device)
    for include_self, self_share, src_shares in [(True, [1 / 3, 0.0], [1 / 3, 1 / 3, 1.0]),
                                                 (False, [0.0, 0.0], [0.5, 0.5, 1.0])]:
        x, src = target.tensor([7.0, 1.0], requires_grad=True), target.tensor([7.0, 7.0, 5.0], requires_grad=True)
        out = x.scatter_reduce(0, index, src, "amax", include_self=include_self)
        out.sum().backward()
        np.testing.assert_allclose(out.numpy(), [7.0, 5.0])
        np.testing.assert_allclose(x.grad.numpy(), self_share, rtol=target.tol)
        np.testing.assert_allclose(src.grad.numpy(), src_shares, rtol=target.tol)


@pytest.mark.parametrize("reduce", ["prod", "amax", "amin"])
def test_scatter_reduce_second_derivatives(target64, reduce):
    index = pg.asarray(INDEX, device=target64.tensor(0.0).device)
    x, src = target64.tensor(X, requires_grad=True), target64.tensor(SRC * (1.0 + np.arange(4) / 10), requires_grad=True)
    f = lambda x, src: x.scatter_reduce(1, index, src, reduce) ** 2  # noqa: E731 (squared: a nonzero second derivative)
    assert pg.gradcheck(f, [x, src], check_forward=True) and pg.gradgradcheck(f, [x, src])


def test_scatter_reduce_of_integers_and_scatter_multiply(target):
    device = target.tensor(0.0).device
    x, src = pg.asarray([[5, -2, 3, 0]], device=device), pg.asarray([[4, 9, -7, 2, 3]], device=device)
    index = pg.asarray([[0, 0, 2, 2, 1]], device=device)
    expected = {("prod", True): [[180, -6, -42, 0]], ("prod", False): [[36, 3, -14, 0]],
                ("amax", True): [[9, 3, 3, 0]], ("amax", False): [[9, 3, 2, 0]],
                ("amin", True): [[4, -2, -7, 0]], ("amin", False): [[4, 3, -7, 0]]}
    for (reduce, include_self), values in expected.items():
        out = x.scatter_reduce(1, index, src, reduce, include_self=include_self)
        assert out.dtype == pg.int64 and out.numpy().tolist() == values, (reduce, include_self)
    doubled = target.tensor([[1.0, 2.0, 3.0]]).scatter(1, pg.asarray([[2, 0, 2]], device=device), 2.0, reduce="multiply")
    np.testing.assert_allclose(doubled.numpy(), [[2.0, 2.0, 12.0]])


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # inf * 0, as in torch
def test_nan_and_infinity_give_torchs_values(target64):
    x, src = np.array([1.0, np.nan, 2.0, -np.inf]), np.array([np.nan, 3.0, np.inf, 0.0])
    index = np.array([0, 2, 2, 3])
    expected = {"prod": [np.nan, np.nan, np.inf, np.nan], "amax": [np.nan, np.nan, np.inf, 0.0],
                "amin": [np.nan, np.nan, 2.0, -np.inf]}
    for reduce, values in expected.items():
        out = target64.tensor(x).scatter_reduce(0, pg.asarray(index, device=target64.tensor(0.0).device),
                                                target64.tensor(src), reduce)
        np.testing.assert_array_equal(out.numpy(), values, err_msg=reduce)


def test_an_unknown_reduce_names_the_choices():
    with pytest.raises(ValueError, match="scatter_reduce: reduce='max'; use 'sum', 'prod', 'mean', 'amax' or 'amin'"):
        pg.zeros(3).scatter_reduce(0, pg.asarray([0]), pg.ones(1), "max")
