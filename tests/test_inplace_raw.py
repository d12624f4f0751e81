"""Arithmetic in-place updates off the tape (an optimizer's step under no_grad) run the backend's own
in-place operator: the values, aliases and errors of the out-of-place way, without its result array."""

import tracemalloc

import numpy as np
import pytest

import polygrad as pg

from conftest import to_numpy
from torch_oracle import needs_torch, torch

UPDATES = {  # name -> (polygrad's update, torch's)
    "+=": (lambda p, v: p.__iadd__(v), lambda p, v: p.__iadd__(v)),
    "-=": (lambda p, v: p.__isub__(v), lambda p, v: p.__isub__(v)),
    "*=": (lambda p, v: p.__imul__(v), lambda p, v: p.__imul__(v)),
    "/=": (lambda p, v: p.__itruediv__(v), lambda p, v: p.__itruediv__(v)),
    "add_": (lambda p, v: p.add_(v), lambda p, v: p.add_(v)),
    "sub_ alpha": (lambda p, v: p.sub_(v, alpha=0.25), lambda p, v: p.sub_(v, alpha=0.25)),
    "mul_": (lambda p, v: p.mul_(v), lambda p, v: p.mul_(v)),
    "div_": (lambda p, v: p.div_(v), lambda p, v: p.div_(v)),
}
OPERANDS = {  # name -> the operand from a (2, 3) array of values: same shape, 0-d, Python numbers, a broadcast row
    "same shape": lambda a: a, "0-d": lambda a: a[0, 0], "float": lambda a: 1.5, "int": lambda a: 3,
    "row": lambda a: a[:1],
}


@needs_torch
@pytest.mark.parametrize("operand", OPERANDS)
@pytest.mark.parametrize("name", UPDATES)
def test_update_under_no_grad_equals_torch_and_reaches_aliases(target, name, operand):
    start = np.array([[0.5, -1.0, 2.0], [3.0, -0.25, 1.0]])
    values = np.array([[1.5, 2.0, -0.5], [0.25, 4.0, -2.0]])
    ours, theirs = UPDATES[name]
    p = target.tensor(start, requires_grad=True)
    alias, version = p.detach(), p._version
    v = OPERANDS[operand](values)
    with pg.no_grad():
        assert ours(p, v if isinstance(v, (int, float)) else target.tensor(v)) is p
    want = torch.tensor(start, dtype=getattr(torch, target.dtype))
    with torch.no_grad():
        theirs(want, v if isinstance(v, (int, float)) else torch.tensor(v, dtype=want.dtype))
    np.testing.assert_allclose(to_numpy(p), want.numpy(), rtol=target.tol)
    np.testing.assert_array_equal(to_numpy(alias), to_numpy(p))  # its own buffer: the alias sees the update
    assert p._version == version + 1 and p.is_leaf and p.requires_grad


def test_update_of_a_view_reaches_its_base(target):
    base = target.tensor(np.zeros((2, 3)))
    row = base[1]
    row -= target.tensor([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(to_numpy(base), [[0.0, 0.0, 0.0], [-1.0, -2.0, -3.0]])


def test_update_with_an_overlapping_operand(target):
    """x -= x.mT reads entries it writes: the result is the out-of-place one's, as with a copy of x.mT."""
    start = np.arange(9.0).reshape(3, 3)
    x = target.tensor(start)
    x -= x.mT
    x += x
    np.testing.assert_array_equal(to_numpy(x), 2 * (start - start.T))


def test_updates_keep_their_errors(target):
    counts = target.tensor([1, 2], dtype="int64")
    with pytest.raises(pg.DtypeError, match="add_: the result"):
        counts.add_(0.5)
    with pytest.raises(RuntimeError, match="in-place update of a broadcast view"), pg.no_grad():
        pg.broadcast_to(target.tensor([1.0, 2.0]), (3, 2)).sub_(target.tensor(np.ones((3, 2))))
    with pytest.raises(pg.ShapeError, match="sub_"), pg.no_grad():
        target.tensor([1.0, 2.0]).sub_(target.tensor(np.ones((3, 2))))


def test_step_under_no_grad_makes_no_parameter_sized_array():
    """p.sub_(g) writes into p's buffer: the out-of-place way made, then copied, an array as large as p
    (on the MLP step, fresh pages each update). With alpha, lr * g is one such array, as in hand NumPy."""
    p = pg.zeros((512, 512), dtype="float64", backend="numpy", requires_grad=True)
    g = pg.ones((512, 512), dtype="float64", backend="numpy")
    size = 512 * 512 * 8
    for update, most in ((lambda: p.sub_(g), size // 4), (lambda: p.sub_(g, alpha=0.5), size + size // 4)):
        tracemalloc.start()
        try:
            with pg.no_grad():
                update()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < most
    np.testing.assert_array_equal(p.detach().numpy(), np.full((512, 512), -1.5))


def test_compiled_steps_replay_the_updates(target):
    """pg.compile records the in-place operators too: each replay updates the parameter as eager does."""
    start, g = np.array([1.0, -2.0, 4.0]), np.array([0.5, 0.25, -1.0])

    def step(p, grad):
        with pg.no_grad():
            p.sub_(grad, alpha=0.5)
            p *= 0.5
            p += 1
        return p.sum()

    compiled, eager = target.tensor(start), target.tensor(start)
    grad = target.tensor(g)
    run = pg.compile(step)
    for _ in range(3):
        run(compiled, grad)
        step(eager, grad)
    np.testing.assert_allclose(to_numpy(compiled), to_numpy(eager), rtol=target.tol)
    want = start
    for _ in range(3):
        want = (want - 0.5 * g) * 0.5 + 1
    np.testing.assert_allclose(to_numpy(eager), want, rtol=target.tol)
