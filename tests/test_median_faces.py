"""`pg.median` is NumPy's (the mean of the two middle values), the Tensor method PyTorch's
(the lower one, with indices along a dim); `pg.zeros/ones/empty` take the standard's `shape=`."""

import numpy as np
import pytest

import polygrad as pg
from torch_oracle import same_as_torch, torch

RNG = np.random.default_rng(18)
EVEN = RNG.normal(size=(4, 6))  # even counts along every axis: the two medians differ
ODD = RNG.normal(size=(3, 5, 2))


@pytest.mark.parametrize("data", [EVEN, ODD], ids=["even", "odd"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_namespace_median_is_numpys(target, data, axis, keepdims):
    got = pg.median(target.tensor(data), axis=axis, keepdims=keepdims)
    want = np.median(data.astype(target.dtype), axis=axis, keepdims=keepdims)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=target.tol)


def test_namespace_median_of_nan_and_integers_is_numpys(target):
    data = EVEN.copy()
    data[1, 2] = np.nan
    got = pg.median(target.tensor(data), axis=1)
    np.testing.assert_allclose(got.numpy(), np.median(data.astype(target.dtype), axis=1), rtol=target.tol)
    assert np.isnan(pg.median(target.tensor(data)).item())
    assert pg.median(target.tensor([1, 2, 3, 4], dtype="int64")).item() == np.median([1, 2, 3, 4]) == 2.5


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_namespace_median_gradient_is_torch_quantile_half(axis):
    # PyTorch's mean-of-the-middle median is quantile(0.5); scikit-learn calls it for torch where it calls xp.median
    same_as_torch(lambda x: pg.median(x, axis=axis, keepdims=axis is not None),
                  lambda x: torch.quantile(x, 0.5, dim=axis, keepdim=axis is not None), EVEN)


def test_pytorch_spellings_keep_the_lower_median():
    same_as_torch(lambda x: x.median(), lambda x: x.median(), EVEN)
    same_as_torch(lambda x: tuple(pg.median(x, 1)), lambda x: tuple(torch.median(x, 1)), EVEN)
    same_as_torch(lambda x: tuple(pg.median(x, dim=0, keepdim=True)),
                  lambda x: tuple(torch.median(x, dim=0, keepdim=True)), EVEN)


@pytest.mark.parametrize("make", ["zeros", "ones", "empty"])
def test_creation_takes_the_standards_shape_keyword(target, make):
    for call in (lambda f: f(shape=(2, 3), dtype=target.dtype, backend=target.backend, device=target.device),
                 lambda f: f((2, 3), dtype=target.dtype, backend=target.backend, device=target.device),
                 lambda f: f(2, 3, dtype=target.dtype, backend=target.backend, device=target.device)):
        made = call(getattr(pg, make))
        assert made.shape == (2, 3) and made.dtype == pg.dtypes.get(target.dtype)
        if make != "empty":
            np.testing.assert_array_equal(made.numpy(), getattr(np, make)((2, 3)))
    with pytest.raises(TypeError, match=f"{make}: the shape is given both"):
        getattr(pg, make)(2, shape=(2,))
