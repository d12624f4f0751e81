"""Optimizers against their update formulas written out in NumPy; schedulers; clipping; state."""

import math
import sys

import numpy as np
import pytest

import polygrad as pg
from polygrad import optim

STEPS = 5
A = np.array([0.5, 1.0, 2.0, 0.25, 1.5])  # loss = sum(A w^2) + sum(B w), so grad = 2 A w + B
B = np.array([0.3, -0.2, 0.1, 0.0, -0.4])
W0 = np.array([1.0, -2.0, 0.5, 3.0, -0.7])


def grad(w):
    return 2 * A * w + B


def run_polygrad(target, make_optimizer, steps=STEPS):
    w = target.tensor(W0, requires_grad=True)
    a, b = target.tensor(A), target.tensor(B)
    opt = make_optimizer([w])
    for _ in range(steps):
        opt.zero_grad()
        ((a * w * w).sum() + (b * w).sum()).backward()
        opt.step()
    return w, opt


def sgd_reference(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    w, buf = W0.copy(), None
    for _ in range(STEPS):
        g = grad(w) + weight_decay * w
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        w = w - lr * g
    return w


def adam_reference(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    w, m, v = W0.copy(), np.zeros(5), np.zeros(5)
    for t in range(1, STEPS + 1):
        g = grad(w)
        if decoupled:
            w = w * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * w
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
    return w


def rmsprop_reference(lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    w, square, mean, buf = W0.copy(), np.zeros(5), np.zeros(5), np.zeros(5)
    for _ in range(STEPS):
        g = grad(w) + weight_decay * w
        square = alpha * square + (1 - alpha) * g * g
        mean = alpha * mean + (1 - alpha) * g
        variance = square - mean * mean if centered else square
        step = g / (np.sqrt(variance) + eps)
        buf = momentum * buf + step
        w = w - lr * (buf if momentum else step)
    return w


SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.8, dampening=0.3),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.1, momentum=0.5, weight_decay=0.1),
]


@pytest.mark.parametrize("options", SGD_CASES, ids=lambda o: ",".join(o))
def test_sgd_matches_formula(target, options):
    w, _ = run_polygrad(target, lambda p: optim.SGD(p, **options))
    np.testing.assert_allclose(w.numpy(), sgd_reference(**options), rtol=target.tol * 10, atol=target.tol)


@pytest.mark.parametrize("options", [
    dict(lr=0.1), dict(lr=0.05, betas=(0.8, 0.9), eps=1e-6), dict(lr=0.1, weight_decay=0.1),
], ids=lambda o: ",".join(o))
def test_adam_matches_formula(target, options):
    w, _ = run_polygrad(target, lambda p: optim.Adam(p, **options))
    np.testing.assert_allclose(w.numpy(), adam_reference(**options), rtol=target.tol * 10, atol=target.tol)


@pytest.mark.parametrize("weight_decay", [0.01, 0.5])
def test_adamw_decouples_weight_decay(target, weight_decay):
    w, _ = run_polygrad(target, lambda p: optim.AdamW(p, lr=0.1, weight_decay=weight_decay))
    expected = adam_reference(0.1, weight_decay=weight_decay, decoupled=True)
    np.testing.assert_allclose(w.numpy(), expected, rtol=target.tol * 10, atol=target.tol)
    # ... which is not Adam's L2 penalty
    assert not np.allclose(expected, adam_reference(0.1, weight_decay=weight_decay))


@pytest.mark.parametrize("options", [
    dict(lr=0.01), dict(lr=0.01, alpha=0.9, centered=True), dict(lr=0.01, momentum=0.9),
    dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1),
], ids=lambda o: ",".join(o))
def test_rmsprop_matches_formula(target, options):
    w, _ = run_polygrad(target, lambda p: optim.RMSprop(p, **options))
    np.testing.assert_allclose(w.numpy(), rmsprop_reference(**options), rtol=target.tol * 10, atol=target.tol)


def test_param_groups_have_their_own_lr():
    fast, slow = pg.tensor([1.0], requires_grad=True), pg.tensor([1.0], requires_grad=True)
    opt = optim.SGD([{"params": [fast], "lr": 0.5}, {"params": slow}], lr=0.1)
    (fast * 2 + slow * 2).sum().backward()  # both gradients are 2
    opt.step()
    assert fast.item() == pytest.approx(1 - 0.5 * 2)
    assert slow.item() == pytest.approx(1 - 0.1 * 2)
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.1]


def test_a_parameter_in_two_groups_is_refused():
    w = pg.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([{"params": [w]}, {"params": [w]}], lr=0.1)


def test_zero_grad_to_none_or_zeros():
    w = pg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert w.grad.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert w.grad is None


def test_step_updates_in_place_and_bumps_version():
    w = pg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.Adam([w], lr=0.1)
    (w * w).sum().backward()
    before = w._version
    opt.step()
    assert w._version > before and w.is_leaf and w.requires_grad


def test_step_invalidates_graphs_that_saved_the_old_value():
    w = pg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    stale = (w * w).sum()  # saves w for backward
    opt.step()
    with pytest.raises(pg.InplaceModificationError):
        stale.backward()


def test_parameters_without_grad_are_skipped():
    used, unused = pg.tensor([1.0], requires_grad=True), pg.tensor([1.0], requires_grad=True)
    opt = optim.SGD([used, unused], lr=0.1, momentum=0.9)
    (used * 3).sum().backward()
    opt.step()
    assert unused.item() == 1.0 and unused not in opt.state


@pytest.mark.parametrize("make", [
    lambda p: optim.SGD(p, lr=0.1, momentum=0.9), lambda p: optim.Adam(p), lambda p: optim.AdamW(p),
    lambda p: optim.RMSprop(p, momentum=0.9, centered=True),
], ids=["sgd", "adam", "adamw", "rmsprop"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_state_lives_on_the_parameters_device_and_dtype(make, dtype):
    w = pg.tensor(W0, backend="array_api_strict", device="device1", dtype=dtype, requires_grad=True)
    opt = make([w])
    (w * w).sum().backward()
    opt.step()
    tensors = [v for v in opt.state[w].values() if isinstance(v, pg.Tensor)]
    assert tensors
    for t in tensors:
        assert t.device == w.device and t.dtype == w.dtype
    assert w.device.name == "device1" and w.grad.device.name == "device1"


def test_state_dict_round_trip_continues_identically(target):
    def make(p):
        return optim.Adam(p, lr=0.05, betas=(0.8, 0.95))

    w, opt = run_polygrad(target, make, steps=3)
    saved = opt.state_dict()
    # host copies, as a checkpoint would hold them, loaded onto a parameter elsewhere
    host = {"state": {i: {k: v.numpy() if isinstance(v, pg.Tensor) else v for k, v in s.items()}
                      for i, s in saved["state"].items()},
            "param_groups": saved["param_groups"]}
    twin = pg.tensor(w.numpy(), backend="array_api_strict", device="device1", requires_grad=True)
    twin_opt = make([twin])
    twin_opt.load_state_dict(host)
    assert twin_opt.state[twin]["exp_avg"].device.name == "device1"
    a, b = target.tensor(A), target.tensor(B)
    a2, b2 = pg.asarray(A, device=twin.device), pg.asarray(B, device=twin.device)
    for _ in range(2):
        for p, o, aa, bb in ((w, opt, a, b), (twin, twin_opt, a2, b2)):
            o.zero_grad()
            ((aa * p * p).sum() + (bb * p).sum()).backward()
            o.step()
    np.testing.assert_allclose(twin.numpy(), w.numpy(), rtol=target.tol * 10, atol=target.tol)
    assert twin_opt.state[twin]["step"] == 5


def test_load_state_dict_checks_before_changing():
    w = pg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1, momentum=0.9)
    bad = {"state": {0: {"momentum_buffer": np.zeros(3)}}, "param_groups": [{"lr": 9.0, "params": [0]}]}
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict(bad)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.state == {}
    with pytest.raises(ValueError, match="sizes"):
        opt.load_state_dict({"state": {}, "param_groups": [{"lr": 1.0, "params": [0, 1]}]})


@pytest.mark.parametrize("bad", [
    lambda p: optim.SGD(p, lr=-1), lambda p: optim.SGD(p, lr=0.1, nesterov=True),
    lambda p: optim.Adam(p, betas=(1.0, 0.9)), lambda p: optim.RMSprop(p, alpha=2.0), lambda p: optim.SGD([], lr=1),
])
def test_invalid_hyperparameters_are_refused(bad):
    with pytest.raises(ValueError):
        bad([pg.tensor([1.0], requires_grad=True)])


# ---------------------------------------------------------------- schedulers
def lrs(scheduler, n):
    values = []
    for _ in range(n):
        values.append(scheduler.get_last_lr()[0])
        scheduler.step()
    return values


def sgd(lr=1.0):
    return optim.SGD([pg.tensor([1.0], requires_grad=True)], lr=lr)


def test_step_lr():
    assert lrs(optim.StepLR(sgd(), step_size=2, gamma=0.5), 6) == [1, 1, 0.5, 0.5, 0.25, 0.25]


def test_cosine_annealing_lr():
    values = lrs(optim.CosineAnnealingLR(sgd(2.0), T_max=4, eta_min=0.5), 5)
    half_range = 0.75  # (2.0 - 0.5) / 2
    expected = [0.5 + half_range * (1 + math.cos(math.pi * k / 4)) for k in range(5)]
    assert values == pytest.approx(expected)
    assert values[0] == pytest.approx(2.0) and values[-1] == pytest.approx(0.5)


def test_linear_warmup():
    assert lrs(optim.LinearLR(sgd(0.8), start_factor=0.25, total_iters=3), 6) == pytest.approx(
        [0.2, 0.4, 0.6, 0.8, 0.8, 0.8])


def test_warmup_then_step_with_sequential_lr():
    opt = sgd(1.0)
    scheduler = optim.SequentialLR(
        opt, [optim.LinearLR(opt, start_factor=0.5, total_iters=2), optim.StepLR(opt, step_size=1, gamma=0.1)],
        milestones=[2])
    assert lrs(scheduler, 5) == pytest.approx([0.5, 0.75, 1.0, 0.1, 0.01])


def test_scheduler_keeps_each_groups_ratio():
    a, b = pg.tensor([1.0], requires_grad=True), pg.tensor([1.0], requires_grad=True)
    opt = optim.SGD([{"params": [a], "lr": 1.0}, {"params": [b], "lr": 0.1}], lr=0.1)
    scheduler = optim.StepLR(opt, step_size=1, gamma=0.5)
    scheduler.step()
    assert scheduler.get_last_lr() == pytest.approx([0.5, 0.05])


def test_scheduler_state_dict_round_trip():
    first = optim.CosineAnnealingLR(sgd(), T_max=10)
    lrs(first, 3)
    resumed = optim.CosineAnnealingLR(sgd(), T_max=10)
    resumed.load_state_dict(first.state_dict())
    assert lrs(resumed, 4) == pytest.approx(lrs(first, 4))


# ---------------------------------------------------------------- clipping
def test_clip_grad_norm_scales_to_max_norm(target):
    a, b = target.tensor([3.0], requires_grad=True), target.tensor([[4.0, 0.0]], requires_grad=True)
    a.grad, b.grad = target.tensor([3.0]), target.tensor([[4.0, 0.0]])
    total = optim.clip_grad_norm_([a, b], max_norm=1.0)
    assert total.item() == pytest.approx(5.0)
    assert total.device == a.device
    np.testing.assert_allclose(a.grad.numpy(), [0.6], rtol=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), [[0.8, 0.0]], rtol=1e-5)


def test_clip_grad_norm_leaves_small_gradients_alone():
    w = pg.tensor([0.3, 0.4], requires_grad=True)
    w.grad = pg.tensor([0.3, 0.4])
    assert optim.clip_grad_norm_(w, max_norm=1.0).item() == pytest.approx(0.5)
    assert w.grad.tolist() == pytest.approx([0.3, 0.4])


def test_clip_grad_norm_infinity_norm():
    w = pg.tensor([1.0, -4.0, 2.0], requires_grad=True)
    w.grad = pg.tensor([1.0, -4.0, 2.0])
    assert optim.clip_grad_norm_([w], max_norm=2.0, norm_type=math.inf).item() == pytest.approx(4.0)
    assert w.grad.tolist() == pytest.approx([0.5, -2.0, 1.0], rel=1e-5)


# ---------------------------------------------------------------- raw in-place steps
ALL_OPTIMIZERS = [
    lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True), lambda p: optim.Adam(p, amsgrad=True),
    lambda p: optim.AdamW(p), lambda p: optim.RMSprop(p, centered=True, momentum=0.5), lambda p: optim.Adagrad(p),
    lambda p: optim.Adadelta(p), lambda p: optim.Adamax(p), lambda p: optim.NAdam(p), lambda p: optim.RAdam(p),
    lambda p: optim.Rprop(p), lambda p: optim.ASGD(p, t0=1),
]


def _next_creation_number():
    """Every Tensor takes the next number of this counter when it is made (and so does this call).

    Counting there, rather than patching Tensor.__new__, leaves the class as it was: CPython
    does not restore a subclass's constructor slot when a patched __new__ is deleted again.
    """
    return next(sys.modules["polygrad.core.tensor"].creation_counter)


@pytest.mark.parametrize("make", ALL_OPTIMIZERS, ids=lambda m: m.__code__.co_names[-1])
def test_steps_write_the_arrays_in_place_and_make_no_tensors(target, make):
    host = np.array([1.0, -2.0, 0.5])
    w = pg.tensor(host, backend=target.backend, device=target.device, dtype=target.dtype, requires_grad=True)
    opt = make([w])
    w.grad = target.tensor([0.3, -0.1, 0.2])
    opt.step()  # the first step makes the state and the optimizer's own copy of the array
    np.testing.assert_array_equal(host, [1.0, -2.0, 0.5])  # never written through into a caller's array
    array, version = w.array, w._version
    before = w.numpy()
    first = _next_creation_number()
    for _ in range(3):
        opt.step()
    assert _next_creation_number() == first + 1  # no Tensor per parameter per step
    assert w.array is array and w._version == version + 3  # the same array, updated in place, versions bumped
    assert not np.array_equal(w.numpy(), before)
