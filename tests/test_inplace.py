"""In-place operators update the tensor itself, with PyTorch's rules, and never give a wrong gradient."""

import numpy as np
import pytest

import polygrad as pg

from conftest import to_numpy


def test_manual_sgd_step_under_no_grad_trains(target):
    """`p -= lr * p.grad` on each parameter changes the parameter itself and lowers the loss."""
    x = target.randn(16, 3, seed=1)
    y = x @ target.tensor([[1.0], [-2.0], [0.5]])
    w = target.tensor(np.zeros((1, 3)), requires_grad=True)
    b = target.tensor(np.zeros(1), requires_grad=True)
    losses = []
    for _ in range(50):
        loss = pg.mean((x @ w.mT + b - y) ** 2)
        losses.append(loss.item())
        w.grad = b.grad = None
        loss.backward()
        with pg.no_grad():
            for p in (w, b):
                before = p
                p -= 0.1 * p.grad
                assert p is before and p.is_leaf and p.requires_grad
    assert losses[-1] < 0.01 * losses[0]


def test_leaf_that_requires_grad_refuses_in_place_outside_no_grad(target):
    w = target.tensor([1.0, 2.0], requires_grad=True)
    for update in (lambda: w.__iadd__(1), lambda: w.__imul__(2), lambda: w.add_(1), lambda: w.__setitem__(0, 5.0)):
        with pytest.raises(RuntimeError, match=r"leaf tensor that requires grad; wrap it in polygrad.no_grad\(\)"):
            update()
    assert to_numpy(w).tolist() == [1.0, 2.0] and w.is_leaf


def test_in_place_on_non_leaf_is_recorded(target64):
    """h = 2x; h += x*x; h *= 3; h /= 2; h **= 2: the gradient is that of the out-of-place program."""
    data = np.array([0.5, 1.0, 2.0])
    x = target64.tensor(data, requires_grad=True)
    h = x * 2
    alias = h
    h += x * x
    h -= 1
    h *= 3
    h /= 2
    h **= 2
    assert h is alias and not h.is_leaf
    h.sum().backward()
    inner = 1.5 * (2 * data + data ** 2 - 1)
    np.testing.assert_allclose(to_numpy(h), inner ** 2, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(x.grad), 2 * inner * 1.5 * (2 + 2 * data), rtol=1e-12)


def test_matmul_in_place(target64):
    a = target64.tensor(np.eye(2) * 2.0, requires_grad=True)
    h = a * 1.0
    h @= target64.tensor([[1.0, 2.0], [3.0, 4.0]])
    h.sum().backward()
    np.testing.assert_allclose(to_numpy(a.grad), [[3.0, 7.0], [3.0, 7.0]])


def test_in_place_on_a_plain_tensor_with_a_grad_operand_joins_the_graph(target64):
    w = target64.tensor([1.0, 2.0], requires_grad=True)
    total = target64.tensor([0.0, 0.0])
    total += w * w
    assert total.requires_grad and not total.is_leaf
    total.sum().backward()
    np.testing.assert_allclose(to_numpy(w.grad), [2.0, 4.0])


def test_changed_saved_value_is_caught(target64):
    x = target64.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1.0
    y = h * h  # saves h
    h += 1
    with pytest.raises(pg.InplaceModificationError, match="multiply: input 0"):
        y.sum().backward()


def test_changed_output_is_caught_even_under_no_grad(target64):
    """exp's backward reads its output: changing it under no_grad must not give exp(x)+1 as the gradient."""
    x = target64.tensor([1.0, 2.0], requires_grad=True)
    y = pg.exp(x)
    with pg.no_grad():
        y += 1
    with pytest.raises(pg.InplaceModificationError, match="exp: its output"):
        y.sum().backward()


def test_setitem_on_non_leaf_gives_both_gradients(target64):
    x = target64.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = target64.tensor([10.0], requires_grad=True)
    h = x * 1.0
    h[1:2] = v * v
    (h * target64.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert to_numpy(h).tolist() == [1.0, 100.0, 3.0]
    assert to_numpy(x.grad).tolist() == [1.0, 0.0, 3.0]
    assert to_numpy(v.grad).tolist() == [40.0]


def test_in_place_result_must_fit(target):
    x = target.tensor([1.0, 2.0])
    with pytest.raises(pg.ShapeError, match=r"\+=: the result, shape \(2, 2\)"):
        x += target.tensor([[1.0, 2.0], [3.0, 4.0]])
    i = target.tensor([1, 2], dtype="int32")
    with pytest.raises(pg.DtypeError, match=r"\+=: the result"):
        i += 1.5
    assert to_numpy(i).tolist() == [1, 2]
    i += 1
    assert to_numpy(i).tolist() == [2, 3] and str(i.dtype) == "int32"


# ---------------------------------------------------------------- views
# An in-place update of a view (x[0], x.view(-1), x.t(), a row from iteration) reaches the tensor
# it was taken from, as in PyTorch where the two share memory.
VIEW_WRITES = {
    "fill_ a row": (lambda x: x[0].fill_(5.0), [[5, 5, 5], [0, 0, 0]]),
    "add_ through view(-1)": (lambda x: x.view(-1).add_(1.0), [[1, 1, 1], [1, 1, 1]]),
    "fill_ through t()": (lambda x: x.t().fill_(2.0), [[2, 2, 2], [2, 2, 2]]),
    "+= on a row held in a name": (lambda x: x[1].__iadd__(3.0), [[0, 0, 0], [3, 3, 3]]),
    "a view of a view": (lambda x: x[0].unsqueeze(0).transpose(0, 1)[2].fill_(4.0), [[0, 0, 4], [0, 0, 0]]),
    "column *= after a row +=": (lambda x: (x[0].__iadd__(2.0), x[:, 1].mul_(3.0)), [[2, 6, 2], [0, 0, 0]]),
    "x[0][1] = 7": (lambda x: x[0].__setitem__(1, 7.0), [[0, 7, 0], [0, 0, 0]]),
    "zero_ a row of ones + 1": (lambda x: (x.add_(1.0), x[1].zero_()), [[1, 1, 1], [0, 0, 0]]),
}


@pytest.mark.parametrize("name", list(VIEW_WRITES))
def test_in_place_update_of_a_view_reaches_its_tensor(target, name):
    write, expected = VIEW_WRITES[name]
    x = target.tensor(np.zeros((2, 3)))
    write(x)
    assert to_numpy(x).tolist() == expected


def test_rows_updated_while_iterating_change_the_tensor(target):
    x = target.tensor(np.zeros((2, 3)))
    for row in x:
        row += target.tensor([0.0, 1.0, 2.0])
    assert to_numpy(x).tolist() == [[0, 1, 2], [0, 1, 2]]


def test_a_view_updated_in_place_stays_a_view(target):
    x = target.tensor(np.zeros((2, 3)))
    row = x[0]
    row += 1.0
    row *= 4.0
    assert to_numpy(row).tolist() == [4, 4, 4] and to_numpy(x).tolist() == [[4, 4, 4], [0, 0, 0]]


def test_indexed_in_place_on_a_non_leaf_differentiates(target64):
    """y = 2w; y[0] *= 3; loss = sum(y * y): d/dw = 2y * dy/dw, with dy/dw = 6 on row 0 and 2 on row 1."""
    w = target64.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = w * 2.0
    y[0] *= 3.0
    v = y[:, 1]
    v += 1.0  # through a column held in a name, recorded as well
    (y * y).sum().backward()
    y_expected = np.array([[6.0, 13.0], [6.0, 9.0]])
    np.testing.assert_allclose(to_numpy(y), y_expected)
    np.testing.assert_allclose(to_numpy(w.grad), 2 * y_expected * np.array([[6.0, 6.0], [2.0, 2.0]]))


def test_a_view_of_a_leaf_that_requires_grad_refuses_in_place_outside_no_grad(target):
    w = target.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"mul_: in-place update of a view of a leaf tensor .* polygrad.no_grad"):
        w[0].mul_(2.0)
    assert to_numpy(w).tolist() == [[1, 1, 1]] * 2
    with pg.no_grad():
        w[:, 0].zero_()  # the usual way to initialise part of a parameter
    assert to_numpy(w).tolist() == [[0, 1, 1]] * 2 and w.is_leaf


def test_a_view_taken_before_its_tensor_changed_shows_the_change_and_writes_through(target):
    """A view is an alias, as in PyTorch: it sees later in-place updates of its tensor and writes into it."""
    x = target.tensor(np.zeros((2, 3)))
    row = x[0]
    x += 1.0
    assert to_numpy(row).tolist() == [1, 1, 1]
    row.fill_(5.0)
    assert to_numpy(x).tolist() == [[5, 5, 5], [1, 1, 1]]


def test_a_broadcast_view_refuses_in_place(target):
    x = target.tensor(np.zeros(3))
    with pytest.raises(RuntimeError, match=r"broadcast view: several of its \(2, 3\) entries are one entry"):
        pg.broadcast_to(x, (2, 3)).fill_(1.0)
    assert to_numpy(x).tolist() == [0, 0, 0]
