"""The seed's own engine API on raw arrays, sharing the Tensor engine's backward functions."""

import numpy as np
import pytest

import polygrad as pg
from polygrad import functional as F
from polygrad.autodiff import seed


def raw(target, values):
    return pg.tensor(np.asarray(values), backend=target.backend, device=target.device, dtype=target.dtype).array


def test_seed_wx_plus_b_by_hand(target):
    """y = Wx + b recorded by hand; dW accumulates into an external array."""
    W = raw(target, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    x = raw(target, [[1.0], [-1.0], [2.0]])
    b = raw(target, [[0.5], [-0.5]])
    dW = raw(target, np.zeros((2, 3)))
    dy = raw(target, [[1.0], [2.0]])

    autograd = pg.Autograd()
    z = W @ x
    autograd.add_operation([W, x], z, [dW, None], F.matmul_backward)
    y = z + b
    autograd.add_operation([z, b], y, [None, None], F.add_backward)
    autograd.backward(dy)

    host = lambda a: pg.tensor(a).numpy()  # noqa: E731
    np.testing.assert_allclose(host(dW), np.array([[1.0], [2.0]]) @ np.array([[1.0, -1.0, 2.0]]), rtol=1e-6)
    np.testing.assert_allclose(host(autograd.gradient_buffer.get_param(x)),
                               np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).T @ np.array([[1.0], [2.0]]), rtol=1e-6)
    np.testing.assert_allclose(host(autograd.gradient_buffer.get_param(b)), [[1.0], [2.0]])
    assert pg.tensor(dW).device == pg.tensor(W).device  # gradients stay on the arrays' device
    assert len(autograd.operation_list) == 2
    autograd.zero_grad()
    assert autograd.operation_list == [] and not autograd.gradient_buffer.is_in_memory(x)


def test_buffer_is_keyed_by_identity_not_address(target):
    a = raw(target, [1.0, 2.0, 3.0, 4.0])
    view = a[:2]
    buffer = seed.GradientBuffer()
    buffer.add_spot(a)
    buffer.add_spot(view)
    buffer.update_param(view, raw(target, [1.0, 1.0]))
    buffer.update_param(view, raw(target, [1.0, 1.0]))
    assert pg.tensor(buffer.get_param(view)).tolist() == [2.0, 2.0]
    assert pg.tensor(buffer.get_param(a)).tolist() == [0.0] * 4


def test_backward_functions_match_hand_derivations(target):
    a = raw(target, [[1.0, 2.0], [3.0, 4.0]])
    b = raw(target, [[2.0], [0.5]])
    g = raw(target, np.ones((2, 2)))
    host = lambda a: pg.tensor(a).numpy()  # noqa: E731
    ga, gb = F.mul_backward(g, a, b)
    np.testing.assert_allclose(host(ga), [[2.0, 2.0], [0.5, 0.5]])
    np.testing.assert_allclose(host(gb), [[3.0], [7.0]])  # summed over the broadcast axis
    ga, gb = F.div_backward(g, a, b)
    np.testing.assert_allclose(host(gb), [[-(1 + 2) / 4], [-(3 + 4) / 0.25]])
    (gx,) = F.tanh_backward(g, a)
    np.testing.assert_allclose(host(gx), 1 - np.tanh([[1.0, 2.0], [3.0, 4.0]]) ** 2, rtol=1e-5, atol=1e-6)
    (gx,) = F.log_backward(g, a)
    np.testing.assert_allclose(host(gx), 1 / np.array([[1.0, 2.0], [3.0, 4.0]]), rtol=1e-6)
    (gx,) = F.sum_backward(raw(target, 1.0), a)
    np.testing.assert_allclose(host(gx), np.ones((2, 2)))
    ga, gb = F.outer_backward(raw(target, np.ones((2, 3))), raw(target, [1.0, 2.0]), raw(target, [1.0, 0.0, -1.0]))
    np.testing.assert_allclose(host(ga), [0.0, 0.0])
    np.testing.assert_allclose(host(gb), [3.0, 3.0, 3.0])


def test_indices_get_no_gradient(target):
    x = raw(target, [1.0, 2.0, 3.0])
    idx = pg.tensor([0, 0, 2], backend=target.backend, device=target.device).array
    gx, gidx = F.take_backward(raw(target, [1.0, 1.0, 1.0]), x, idx)
    assert gidx is None
    np.testing.assert_allclose(pg.tensor(gx).numpy(), [2.0, 0.0, 1.0])


def test_add_operation_checks_lengths():
    with pytest.raises(ValueError, match="2 inputs but 1 gradients_to_update"):
        pg.Autograd().add_operation([1, 2], 3, [None], F.add_backward)


def test_tensor_engine_and_seed_api_share_rules():
    from polygrad.primitives.table import PRIMITIVES

    assert all(hasattr(F, f"{name}_backward") for name, p in PRIMITIVES.items() if p.vjp is not None)


def test_add_operation_refuses_a_non_array_input_by_name():
    x = pg.tensor([1.0, 2.0]).array
    autograd = pg.Autograd()
    with pytest.raises(TypeError, match=r"inputs\[1\] is a float \(2\.0\), not an array of a known backend"):
        autograd.add_operation([x, 2.0], x * 2.0, [None, None], F.mul_backward)
    assert autograd.operation_list == [] and autograd.gradient_buffer.memory == {}  # nothing was recorded
    with pytest.raises(TypeError, match=r"inputs\[0\] is a Tensor .*pass tensor\.array"):
        autograd.add_operation([pg.tensor([1.0]), x], x, [None, None], F.mul_backward)


def test_backward_takes_the_handouts_number(target):
    """autograd.backward(1): a Python number (or 0-d array) seeds the last output's gradient."""
    W = raw(target, [[1.0, 2.0], [3.0, 4.0]])
    x = raw(target, [[1.0], [-1.0]])
    for divergence in (1, 1.0, raw(target, 1.0)):
        autograd = pg.Autograd()
        z = W @ x
        autograd.add_operation([W, x], z, [None, None], F.matmul_backward)
        autograd.backward(divergence)
        dW = pg.tensor(autograd.gradient_buffer.get_param(W)).numpy()
        np.testing.assert_allclose(dW, np.ones((2, 1)) @ np.array([[1.0, -1.0]]))
    with pytest.raises(ValueError, match=r"divergence has shape \(3,\)"):
        autograd.backward(raw(target, [1.0, 2.0, 3.0]))
    with pytest.raises(TypeError, match="the divergence is a str"):
        autograd.backward("1")


def test_handout_names_identity_and_softmax_cross_entropy(target):
    a = raw(target, [[1.0, 2.0]])
    g = raw(target, [[3.0, 4.0]])
    (passed,) = F.identity_backward(g, a)
    assert passed is g
    pred = raw(target, [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    onehot = raw(target, [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    grad, none = F.SoftmaxCrossEntropy_backward(1.0, pred, onehot)
    p = np.exp([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    p /= p.sum(axis=1, keepdims=True)
    assert none is None
    np.testing.assert_allclose(pg.tensor(grad).numpy(), (p - np.array([[0, 0, 1.0], [1.0, 0, 0]])) / 2, rtol=1e-6)
    # the same number as the Tensor engine's cross-entropy gradient
    logits = pg.tensor(pred, requires_grad=True)
    F.cross_entropy(logits, pg.tensor(np.array([2, 0]), device=logits.device)).backward()
    np.testing.assert_allclose(logits.grad.numpy(), pg.tensor(grad).numpy(), rtol=1e-5)
