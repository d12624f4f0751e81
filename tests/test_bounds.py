"""Indices are checked before they are used: out of range raises IndexError, never a wrong value."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import polygrad as pg
import polygrad.functional as F

from conftest import to_numpy


def test_getitem_integer_array_out_of_range_raises(target):
    x = target.tensor([1.0, 2.0, 3.0])
    for bad in ([-5], [3], [0, 7]):
        with pytest.raises(IndexError, match=r"getitem: index (-5|3|7) is out of bounds for axis 0 with size 3"):
            x[target.tensor(bad, dtype="int64")]
    assert to_numpy(x[target.tensor([-1, 0], dtype="int64")]).tolist() == [3.0, 1.0]


def test_getitem_index_tuple_checks_each_axis(target):
    x = target.tensor(np.arange(6.0).reshape(2, 3))
    rows, cols = target.tensor([0, 1], dtype="int64"), target.tensor([2, 3], dtype="int64")
    with pytest.raises(IndexError, match="axis 1 with size 3"):
        x[rows, cols]  # flat index 1*3+3 = 6 would silently read past row 1
    with pytest.raises(IndexError, match="axis 1 with size 3"):
        x[:, target.tensor([3], dtype="int64")]
    assert to_numpy(x[:, target.tensor([-1], dtype="int64")]).ravel().tolist() == [2.0, 5.0]


def test_getitem_mask_among_slices_must_match_the_axis(target):
    x = target.tensor(np.arange(6.0).reshape(2, 3))
    with pytest.raises(IndexError, match="boolean mask of length 2 for axis 1 with size 3"):
        x[:, target.tensor([True, False], dtype="bool")]


def test_take_and_take_along_axis_out_of_range_raise(target):
    x = target.tensor(np.arange(6.0).reshape(2, 3))
    with pytest.raises(IndexError, match="take_along_axis: index 3 is out of bounds for axis 1 with size 3"):
        pg.take_along_axis(x, target.tensor([[3], [0]], dtype="int64"), axis=1)
    with pytest.raises(IndexError, match="take: index -4 is out of bounds for axis 1 with size 3"):
        pg.take(x, target.tensor([-4], dtype="int64"), axis=1)
    with pytest.raises(IndexError, match="indices must be integers"):
        pg.take(x, target.tensor([0.0]), axis=1)


def test_class_targets_outside_zero_to_c_raise(target):
    logits = target.randn(2, 3, requires_grad=True)
    for bad in ([0, 3], [0, -1]):
        t = target.tensor(bad, dtype="int64")
        with pytest.raises(IndexError, match=r"cross_entropy: class target: index (3|-1) is out of bounds .* \[0, 3\)"):
            F.cross_entropy(logits, t)
        with pytest.raises(IndexError, match=r"nll_loss: class target"):
            F.nll_loss(pg.log_softmax(logits, axis=1), t)


def test_embedding_index_outside_table_raises(target):
    weight = target.randn(4, 2, requires_grad=True)
    with pytest.raises(IndexError, match=r"embedding: index 4 is out of bounds for axis 0 with size 4"):
        F.embedding(target.tensor([[1, 4]], dtype="int64"), weight)
    with pytest.raises(IndexError, match=r"embedding: index -1"):
        F.embedding(target.tensor([-1], dtype="int64"), weight)


def test_setitem_integer_array_out_of_range_raises(target):
    x = target.tensor([1.0, 2.0, 3.0])
    with pytest.raises(IndexError, match="setitem: index 3 is out of bounds for axis 0 with size 3"):
        x[target.tensor([3], dtype="int64")] = 0.0
    assert to_numpy(x).tolist() == [1.0, 2.0, 3.0]  # nothing written


def test_empty_mask_backward_gives_zero_gradient(target):
    """The pure-standard index_add fallback (strict) with zero indices."""
    x = target.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[target.tensor([False, False, False], dtype="bool")].sum().backward()
    assert to_numpy(x.grad).tolist() == [0.0, 0.0, 0.0]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 5), rows=st.integers(1, 3),
       picks=st.lists(st.integers(-8, 8), min_size=1, max_size=6))
def test_random_indices_raise_or_match_numpy(n, rows, picks):
    """For take, take_along_axis and getitem: in range matches NumPy exactly, out of range raises."""
    data = np.arange(rows * n, dtype=np.float64).reshape(rows, n)
    x = pg.tensor(data, backend="numpy")
    idx = np.array(picks)
    on_x = dict(backend="numpy")  # the indices where x is (another backend raises: tests/test_mixed_backends.py)
    in_range = bool(np.all((idx >= -n) & (idx < n)))
    along = np.broadcast_to(idx, (rows, len(picks))).copy()
    cases = [
        (lambda: pg.take(x, pg.tensor(idx, **on_x), axis=1), lambda: np.take(data, idx, axis=1)),
        (lambda: pg.take_along_axis(x, pg.tensor(along, **on_x), axis=1), lambda: np.take_along_axis(data, along, axis=1)),
        (lambda: x[:, pg.tensor(idx, **on_x)], lambda: data[:, idx]),
    ]
    for ours, theirs in cases:
        if in_range:
            np.testing.assert_array_equal(ours().numpy(), theirs())
        else:
            with pytest.raises(IndexError, match=f"out of bounds for axis 1 with size {n}"):
                ours()


@pytest.mark.parametrize("call", [
    lambda x, i: x.scatter(1, i, pg.ones_like(x)),
    lambda x, i: x.scatter_add(1, i, pg.ones_like(x)),
    lambda x, i: x.scatter_reduce(1, i, pg.ones_like(x), "mean"),
    lambda x, i: x.scatter(1, i, value=2.0),
    lambda x, i: x.gather(1, i),
], ids=["scatter", "scatter_add", "scatter_reduce", "scatter_value", "gather"])
def test_scatter_and_gather_refuse_what_would_land_in_another_row(target, call):
    """PyTorch's rules: entries in [0, n) (no negatives), index no larger than the tensor outside dim."""
    x = target.tensor(np.zeros((2, 3)))
    name = r"(scatter|scatter_add|scatter_reduce|gather)"
    for bad, value in (([[3], [0]], 3), ([[-1], [0]], -1)):
        with pytest.raises(IndexError, match=rf"{name}: index {value} is out of bounds for axis 1 with size 3 "
                                             r"\(allowed: \[0, 3\)\)"):
            call(x, target.tensor(bad, dtype="int64"))
    with pytest.raises(pg.ShapeError, match=rf"{name}: index .* is larger than the tensor .* in dim 0"):
        call(x, target.tensor([[0], [0], [1]], dtype="int64"))
    assert to_numpy(x).tolist() == [[0.0] * 3] * 2  # nothing written


def test_scatter_in_range_writes_only_its_own_row(target):
    x = target.tensor(np.zeros((2, 3)))
    out = x.scatter(1, target.tensor([[2], [0]], dtype="int64"), target.tensor([[5.0], [7.0]]))
    assert to_numpy(out).tolist() == [[0.0, 0.0, 5.0], [7.0, 0.0, 0.0]]


def test_scatter_add_keeps_infinities_and_nan_in_their_own_rows(target64):
    """The pure-standard fallback (a one-hot product on strict) must not spread inf * 0 = NaN to other rows."""
    values = target64.tensor([[1.0, np.inf], [2.0, 3.0], [np.nan, 1.0], [-np.inf, 1.0]])
    out = pg.scatter_add(values, target64.tensor([0, 1, 1, 0], dtype="int64"), axis=0, size=3)
    np.testing.assert_array_equal(to_numpy(out), [[-np.inf, np.inf], [np.nan, 4.0], [0.0, 0.0]])
