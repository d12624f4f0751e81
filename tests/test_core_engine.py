"""The tape engine: the seed's example, accumulation, retain_graph, no_grad, freeing, devices."""

import gc
import threading
import weakref

import numpy as np
import pytest

import polygrad as pg


def seed_example(target):
    x1 = target.tensor(2.0, requires_grad=True)
    x2 = target.tensor(5.0, requires_grad=True)
    y = pg.log(x1) + x1 * x2 - pg.sin(x2)
    return x1, x2, y


def test_seed_worked_example(target):
    """y = ln(x1) + x1*x2 - sin(x2) at (2, 5): the recitation's numbers."""
    x1, x2, y = seed_example(target)
    y.backward()
    assert round(y.item(), 3) == 11.652
    assert round(x1.grad.item(), 3) == 5.5  # 1/x1 + x2
    assert round(x2.grad.item(), 3) == 1.716  # x1 - cos(x2)


def test_leaf_gradients_accumulate_until_zeroed(target):
    x1, x2, y = seed_example(target)
    y.backward(retain_graph=True)
    y.backward()
    assert x1.grad.item() == pytest.approx(11.0, rel=1e-5)
    x1.zero_grad()
    pg.log(x1).backward()
    assert x1.grad.item() == pytest.approx(0.5, rel=1e-5)


def test_second_backward_through_freed_graph_raises(target):
    _, _, y = seed_example(target)
    y.backward()
    with pytest.raises(pg.GraphFreedError, match="retain_graph=True"):
        y.backward()


def test_shared_subexpression_gradient_adds_up(target):
    x = target.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = x * x
    (h + h * 2.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * np.array([1.0, 2.0, 3.0]), rtol=1e-5)


def test_vector_backward_needs_a_gradient(target):
    x = target.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3.0
    with pytest.raises(pg.ShapeError, match="not a scalar"):
        y.backward()
    y.backward(target.tensor([1.0, -1.0]))
    np.testing.assert_allclose(x.grad.numpy(), [3.0, -3.0])


def test_no_grad_records_nothing_and_is_per_thread(target):
    x = target.tensor([1.0, 2.0], requires_grad=True)
    seen = {}

    def other_thread():
        seen["enabled"] = pg.is_grad_enabled()
        seen["requires_grad"] = (x * 2.0).requires_grad

    with pg.no_grad():
        y = x * 2.0
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
    assert not y.requires_grad and y.is_leaf
    assert seen == {"enabled": True, "requires_grad": True}


def test_detach_cuts_the_graph(target):
    x = target.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).detach()
    z = (y * x).sum()
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 4.0])  # y treated as a constant


def test_comparisons_and_argmax_carry_no_gradient(target):
    x = target.tensor([1.0, -2.0, 3.0], requires_grad=True)
    assert not (x > 0).requires_grad
    assert not pg.argmax(x).requires_grad
    y = pg.where(x > 0, x, x * 0.0).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 0.0, 1.0])


def test_dropped_results_free_their_graph():
    """An evaluation loop without no_grad keeps nothing alive."""
    x = pg.randn(64, 64, requires_grad=True)
    probes = []
    for _ in range(5):
        hidden = pg.tanh(x @ x)
        probes.append(weakref.ref(hidden))
        loss = hidden.sum()
        del hidden, loss
    gc.collect()
    assert all(probe() is None for probe in probes)


def test_gradient_buffers_live_on_the_tensor_device():
    x = pg.tensor([[1.0, 2.0]], backend="array_api_strict", device="device1", requires_grad=True)
    w = pg.tensor([[3.0], [4.0]], backend="array_api_strict", device="device1", requires_grad=True)
    (x @ w).sum().backward()
    assert str(x.grad.device) == "device1" and str(w.grad.device) == "device1"
    assert str(x.grad.array.device) == str(x.array.device)


def test_gradients_flow_across_a_backend_move():
    x = pg.tensor([1.0, 2.0], backend="numpy", requires_grad=True)
    y = x.to("array_api_strict")
    assert y.backend.name == "array_api_strict"
    (y * y).sum().backward()
    assert x.grad.backend.name == "numpy"
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


def test_float32_stays_float32(target):
    x = target.tensor([0.5, 1.5], requires_grad=True, dtype="float32")
    y = (x * 2.0 + 1).exp().sum()
    y.backward()
    assert y.dtype == x.dtype and x.grad.dtype == x.dtype


def test_shared_gradient_arrays_are_never_added_into_in_place(target):
    """add hands the same gradient array to both inputs; accumulating must not alias it."""
    x = target.tensor([1.0, 2.0], requires_grad=True)
    u, v = x * 1.0, x * 1.0
    (u + v + u).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])
    y = target.tensor([1.0, 2.0], requires_grad=True)
    w = y * 2.0
    (w + w).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), [4.0, 4.0])


def test_post_accumulate_grad_hook_sees_final_gradient_before_the_walk_ends(target):
    """w1 feeds two ops; its hook fires once, with the sum of both, while w0's backward is still to come."""
    w0 = target.tensor([1.0, 2.0], requires_grad=True)
    w1 = target.tensor([3.0, 4.0], requires_grad=True)
    h = w0 * 2.0
    loss = pg.sum(h * w1 + w1 * w1)
    seen = []
    w1.register_post_accumulate_grad_hook(lambda t: seen.append(("w1", t.grad.numpy().tolist(), w0.grad)))
    handle = w0.register_post_accumulate_grad_hook(lambda t: seen.append(("w0", t.grad.numpy().tolist(), None)))
    loss.backward(retain_graph=True)
    # d/dw1 = h + 2 w1 = [2+6, 4+8]; w0 (an input of h, reached later) has no grad yet at that point
    assert seen == [("w1", [8.0, 12.0], None), ("w0", [6.0, 8.0], None)]
    handle.remove()
    seen.clear()
    loss.backward()
    assert [name for name, *_ in seen] == ["w1"]
    assert w1.grad.numpy().tolist() == [16.0, 24.0]


def test_post_accumulate_grad_hook_only_on_leaves(target):
    x = target.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        (x * 2).register_post_accumulate_grad_hook(lambda t: None)


def test_leaf_gradients_never_share_an_array(target):
    """add hands the same gradient to both inputs: each leaf's .grad must still be its own array,
    so accumulating into one (a second backward) leaves the other alone."""
    a = target.tensor([1.0, 2.0], requires_grad=True)
    b = target.tensor([3.0, 4.0], requires_grad=True)
    w = target.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    y = pg.sum(a + b) + pg.sum(pg.matmul(w, a))
    y.backward(retain_graph=True)
    y.backward()
    assert b.grad.numpy().tolist() == [2.0, 2.0]
    assert a.grad.numpy().tolist() == [4.0, 4.0]  # 2 * (1 + column sums of w)
    assert w.grad.numpy().tolist() == [[2.0, 4.0], [2.0, 4.0]]
