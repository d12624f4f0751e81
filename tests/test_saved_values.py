"""Which values a rule reads (Primitive.saves), as PyTorch's saved tensors: relu, exp, sqrt, tanh, sigmoid,
softmax and log_softmax read their result only, so their input may change in place before backward, and a
change of their result outside the tape is refused."""

import numpy as np
import pytest

import polygrad as pg

from conftest import to_numpy

torch = pytest.importorskip("torch")  # every case here is held to torch's answer

FUNCTIONS = {  # name -> (polygrad's, torch's)
    "relu": (pg.relu, torch.relu), "exp": (pg.exp, torch.exp), "sqrt": (pg.sqrt, torch.sqrt),
    "tanh": (pg.tanh, torch.tanh), "sigmoid": (pg.sigmoid, torch.sigmoid),
    "softmax": (lambda h: pg.softmax(h, axis=-1), lambda h: torch.softmax(h, dim=-1)),
    "log_softmax": (lambda h: pg.log_softmax(h, axis=-1), lambda h: torch.log_softmax(h, dim=-1)),
}
START = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.25]])
WEIGHTS = np.array([[1.0, -2.0, 0.5], [0.25, 3.0, -1.0]])


def _step(module, function, x, weights, change):
    h = x * 1.0 if function != "sqrt" else x * x + 1.0  # an intermediate (sqrt: positive)
    y = FUNCTIONS[function][module is torch](h)
    change(h, y)
    (y * weights).sum().backward()
    return y


@pytest.mark.parametrize("function", FUNCTIONS)
def test_input_changed_in_place_after_use_still_differentiates_as_torch(target, function):
    def bump(h, y):
        h.mul_(3.0)  # recorded on h: y's rule reads y, not h
    x = target.tensor(START, requires_grad=True)
    _step(pg, function, x, target.tensor(WEIGHTS), bump)
    want = torch.tensor(START, dtype=getattr(torch, target.dtype), requires_grad=True)
    _step(torch, function, want, torch.tensor(WEIGHTS, dtype=want.dtype), bump)
    np.testing.assert_allclose(to_numpy(x.grad), want.grad.numpy(), rtol=target.tol, atol=target.tol)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_result_changed_in_place_off_the_tape_is_refused(target, function):
    """The rule reads the result: backward after it changed (under no_grad) raises, as torch does."""
    def bump(h, y):
        with pg.no_grad(), torch.no_grad():
            y.mul_(3.0)
    with pytest.raises(pg.InplaceModificationError, match=f"{function}: its output"):
        _step(pg, function, target.tensor(START, requires_grad=True), target.tensor(WEIGHTS), bump)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        _step(torch, function, torch.tensor(START, requires_grad=True), torch.tensor(WEIGHTS), bump)
