"""An index or mask Tensor on another backend or device than the tensor it indexes raises polygrad's
BackendMismatchError (DeviceMismatchError) naming the operation, as every other operand does: the same
for every function that takes one, where before some read the foreign index, some raised the library's
own TypeError. Mixed operands warn nothing."""

import warnings

import numpy as np
import pytest

import polygrad as pg
from polygrad import nn

F = nn.functional

X = np.arange(12.0).reshape(3, 4)
ROWS, PAIRS, MASK = [0, 2], [[0, 1], [1, 2], [3, 0]], [True, False, True]

# name in the error -> call(x, place) with the index or mask made by place(values)
CALLS = {
    "take": lambda x, at: pg.take(x, at(ROWS), axis=1),
    "take_along_axis": lambda x, at: pg.take_along_axis(x, at(PAIRS), axis=1),
    "getitem": lambda x, at: x[:, at(ROWS)],
    "getitem rows": lambda x, at: x[at(ROWS)],
    "getitem pairs": lambda x, at: x[at(ROWS), at(ROWS)],
    "getitem mask": lambda x, at: x[at(MASK)],
    "setitem": lambda x, at: x.clone().__setitem__(at(ROWS), 0.0),
    "setitem mask": lambda x, at: x.clone().__setitem__(at(MASK), 0.0),
    "gather": lambda x, at: x.gather(1, at(PAIRS)),
    "scatter": lambda x, at: x.scatter(1, at(PAIRS), pg.ones_like(x)),
    "scatter_add": lambda x, at: x.scatter_add(1, at(PAIRS), pg.ones_like(x)),
    "scatter_reduce": lambda x, at: x.scatter_reduce(1, at(PAIRS), pg.ones_like(x), "mean"),
    "index_select": lambda x, at: x.index_select(1, at(ROWS)),
    "index_add": lambda x, at: x.index_add(0, at(ROWS), pg.ones_like(x[:2])),
    "index_fill": lambda x, at: x.index_fill(1, at(ROWS), 2.0),
    "masked_fill": lambda x, at: x.masked_fill(at([[m] for m in MASK]), 2.0),
    "masked_select": lambda x, at: x.masked_select(at([[m] for m in MASK])),
    "embedding": lambda x, at: F.embedding(at(ROWS), x),
    "cross_entropy": lambda x, at: F.cross_entropy(x, at([0, 1, 3])),
    "nll_loss": lambda x, at: F.nll_loss(x, at([0, 1, 3])),
}
NUMPY = {  # what the same calls give with every operand on x's device
    "take": X[:, ROWS], "take_along_axis": np.take_along_axis(X, np.array(PAIRS), axis=1), "getitem": X[:, ROWS],
    "getitem rows": X[ROWS], "getitem pairs": X[ROWS, ROWS], "getitem mask": X[MASK],
    "gather": np.take_along_axis(X, np.array(PAIRS), axis=1), "index_select": X[:, ROWS], "embedding": X[ROWS],
    "masked_select": X[MASK].ravel(),
}


def _operation(name):
    return name.split()[0]


@pytest.mark.parametrize("name", list(CALLS))
def test_an_index_on_another_backend_raises_naming_the_operation(name):
    x = pg.tensor(X, backend="numpy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no library warning on the way to the error
        with pytest.raises(pg.BackendMismatchError, match=rf"^{_operation(name)}\b.*numpy.*array_api_strict"):
            CALLS[name](x, lambda values: pg.tensor(values, backend="array_api_strict"))


@pytest.mark.parametrize("name", list(CALLS))
def test_an_index_on_another_device_raises_naming_the_operation(name):
    x = pg.tensor(X, backend="array_api_strict", device="CPU_DEVICE")
    with pytest.raises(pg.DeviceMismatchError, match=rf"^{_operation(name)}\b.*CPU_DEVICE.*device1"):
        CALLS[name](x, lambda values: pg.tensor(values, backend="array_api_strict", device="device1"))


@pytest.mark.parametrize("name", list(NUMPY))
def test_an_index_on_the_same_device_works(target, name):
    x = target.tensor(X)
    got = CALLS[name](x, lambda values: pg.tensor(values, backend=target.backend, device=target.device))
    np.testing.assert_array_equal(got.numpy(), NUMPY[name])


@pytest.mark.parametrize("op", [lambda a, b: a * b, lambda a, b: a / b, lambda a, b: b + a, lambda a, b: a == b])
def test_mixed_backend_operands_raise_without_a_warning(op):
    """An integer and a floating operand on two libraries: not promoted across them (a DtypeError from
    the cast said nothing useful), nor compared by dtype (array-api-strict warns on a NumPy dtype)."""
    a = pg.tensor([1, 2], backend="numpy")
    b = pg.tensor([1.0, 2.0], backend="array_api_strict")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(pg.BackendMismatchError, match="operands are on different backends"):
            op(a, b)
        with pytest.raises(pg.BackendMismatchError, match="operands are on different backends"):
            op(pg.astype(a, "float32"), b)
