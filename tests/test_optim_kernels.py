"""The backends' fused optimizer updates (polygrad/optim/kernels.py, polygrad/backends/*_optim.py) against the
portable update (optim.py's `_update`, the reference) and against torch.optim's own trajectory.

Each case runs several steps over three parameters of different shapes with fixed random
gradients; every option of every optimizer appears in some case.
"""

import numpy as np
import pytest

import polygrad as pg
from polygrad import optim

from conftest import _usable

torch = pytest.importorskip("torch")

SHAPES = [(3, 4), (5,), ()]
STEPS = 7

CASES = {
    "SGD": lambda o, p: o.SGD(p, lr=0.05),
    "SGD-momentum-dampening-decay": lambda o, p: o.SGD(p, lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1),
    "SGD-nesterov-maximize": lambda o, p: o.SGD(p, lr=0.05, momentum=0.9, nesterov=True, maximize=True),
    "Adam": lambda o, p: o.Adam(p, lr=0.05, weight_decay=0.1),
    "Adam-amsgrad-maximize": lambda o, p: o.Adam(p, lr=0.05, betas=(0.8, 0.9), amsgrad=True, maximize=True),
    "AdamW": lambda o, p: o.AdamW(p, lr=0.05, weight_decay=0.3),
    "AdamW-amsgrad": lambda o, p: o.AdamW(p, lr=0.05, amsgrad=True),
    "RMSprop": lambda o, p: o.RMSprop(p, lr=0.01, weight_decay=0.1),
    "RMSprop-centered-momentum-maximize": lambda o, p: o.RMSprop(p, lr=0.01, alpha=0.9, momentum=0.5, centered=True,
                                                                 maximize=True),
    "RMSprop-momentum": lambda o, p: o.RMSprop(p, lr=0.01, momentum=0.7),
    "Adagrad": lambda o, p: o.Adagrad(p, lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.2),
    "Adagrad-maximize": lambda o, p: o.Adagrad(p, lr=0.1, eps=1e-3, maximize=True),
    "Adadelta": lambda o, p: o.Adadelta(p, lr=0.5, rho=0.8, weight_decay=0.1),
    "Adadelta-maximize": lambda o, p: o.Adadelta(p, maximize=True),
    "Adamax": lambda o, p: o.Adamax(p, lr=0.05, weight_decay=0.1),
    "Adamax-maximize": lambda o, p: o.Adamax(p, betas=(0.7, 0.95), eps=1e-3, maximize=True),
    "NAdam": lambda o, p: o.NAdam(p, lr=0.05, weight_decay=0.1),
    "NAdamW-maximize": lambda o, p: o.NAdam(p, lr=0.05, weight_decay=0.1, momentum_decay=0.01,
                                            decoupled_weight_decay=True, maximize=True),
    "RAdam": lambda o, p: o.RAdam(p, lr=0.05, weight_decay=0.1, betas=(0.5, 0.6)),  # rectified from step 3
    "RAdamW-maximize": lambda o, p: o.RAdam(p, lr=0.05, weight_decay=0.1, decoupled_weight_decay=True, maximize=True),
    "Rprop": lambda o, p: o.Rprop(p, lr=0.05),
    "Rprop-etas-maximize": lambda o, p: o.Rprop(p, lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.08), maximize=True),
    "ASGD": lambda o, p: o.ASGD(p, lr=0.05, lambd=0.01, alpha=0.6, t0=3, weight_decay=0.1),
    "ASGD-maximize": lambda o, p: o.ASGD(p, lr=0.01, t0=2, maximize=True),
}
FUSED = [("numpy", "cpu"), ("torch", "cpu"), ("cupy", "cuda:0"), ("torch", "cuda:0")]  # cupy: no kernels yet


def _data():
    """Starting values and, per step, one gradient per parameter; a few gradients keep their sign
    (Rprop grows), others flip it (Rprop shrinks)."""
    rng = np.random.default_rng(5)
    start = [rng.standard_normal(shape) for shape in SHAPES]
    grads = [[rng.standard_normal(shape) * (1 if t % 3 else -1) for shape in SHAPES] for t in range(STEPS)]
    return start, grads


def _run_polygrad(make, backend, device, dtype):
    start, grads = _data()
    params = [pg.tensor(w, backend=backend, device=device, dtype=dtype, requires_grad=True) for w in start]
    opt = make(optim, params)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = pg.tensor(g, backend=backend, device=device, dtype=dtype)
        opt.step()
    return [p.numpy() for p in params], opt


def _run_torch(make):
    start, grads = _data()
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # ASGD's eta and mu are default-dtype tensors
    try:
        params = [torch.tensor(w, requires_grad=True) for w in start]
        opt = make(torch.optim, params)
        for step_grads in grads:
            for p, g in zip(params, step_grads):
                p.grad = torch.tensor(g)
            opt.step()
    finally:
        torch.set_default_dtype(default)
    return [p.detach().numpy() for p in params]


def _counting(monkeypatch, xp, name):
    """The backend's kernel for optimizer `name`, wrapped to count its calls."""
    kernel_name = f"kernel_{name.split('-')[0].lower().replace('adamw', 'adam')}_update"
    kernel, calls = getattr(xp, kernel_name), []

    def counted(*args):
        calls.append(1)
        return kernel(*args)

    monkeypatch.setattr(xp, kernel_name, counted)
    return kernel_name, calls


def _xp(backend, device):
    usable, why = _usable(backend, device)
    if not usable:
        pytest.skip(why)
    xp = pg.tensor(0.0, backend=backend, device=device).xp
    if not hasattr(xp, "kernel_sgd_update"):
        pytest.skip(f"{backend} has no fused optimizer updates")
    return xp


@pytest.mark.parametrize("backend, device", FUSED)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", CASES)
def test_fused_update_equals_the_portable_one(monkeypatch, backend, device, dtype, name):
    xp = _xp(backend, device)
    kernel_name, calls = _counting(monkeypatch, xp, name)
    fused, fused_opt = _run_polygrad(CASES[name], backend, device, dtype)
    stateless = name == "SGD" or name.startswith("Adagrad")  # no state to make, or made by __init__
    assert len(calls) == STEPS - (0 if stateless else 1)  # else the group's first step makes it (portable)
    monkeypatch.delattr(xp, kernel_name)
    portable, portable_opt = _run_polygrad(CASES[name], backend, device, dtype)
    tol = 1e-12 if dtype == "float64" else 1e-5
    for f, p in zip(fused, portable):
        np.testing.assert_allclose(f, p, rtol=tol, atol=tol)
    for state, other in zip(fused_opt.state_dict()["state"].values(), portable_opt.state_dict()["state"].values()):
        assert set(state) == set(other)
        for key, value in state.items():
            if isinstance(value, pg.Tensor):
                np.testing.assert_allclose(value.numpy(), other[key].numpy(), rtol=tol, atol=tol, err_msg=key)
            else:
                assert value == pytest.approx(other[key], rel=1e-12), key


@pytest.mark.parametrize("backend, device", FUSED)
@pytest.mark.parametrize("name", CASES)
def test_fused_update_follows_torch_optim(backend, device, name):
    _xp(backend, device)
    got, _ = _run_polygrad(CASES[name], backend, device, "float64")
    for g, e in zip(got, _run_torch(CASES[name])):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-10)


def test_a_subclass_with_its_own_update_runs_it():
    class Halving(optim.SGD):
        def _update(self, p, w, grad, state, group):
            w *= 0.5

    p = pg.tensor([2.0, 4.0], requires_grad=True)
    p.grad = pg.tensor([1.0, 1.0])
    Halving([p], lr=0.1).step()
    np.testing.assert_array_equal(p.numpy(), [1.0, 2.0])


def test_a_group_with_parameters_without_gradients_updates_the_others():
    a, b = pg.tensor([1.0, 2.0], requires_grad=True), pg.tensor([3.0], requires_grad=True)
    opt = optim.SGD([a, b], lr=0.5)
    a.grad = pg.tensor([2.0, -2.0])
    opt.step()
    np.testing.assert_array_equal(a.numpy(), [0.0, 3.0])
    np.testing.assert_array_equal(b.numpy(), [3.0])


@pytest.mark.parametrize("name", [n for n in CASES if "maximize" not in n])  # maximize negates the gradient: a copy
def test_numpy_fused_update_allocates_no_parameter_sized_array(name):
    """After the first steps (state made, scratch buffers grown) a step allocates nothing of the parameter's size
    (NumPy reports its buffers to tracemalloc); Rprop's two boolean masks are an eighth of it each."""
    tracemalloc = pytest.importorskip("tracemalloc")
    w = pg.tensor(np.linspace(-1.0, 1.0, 100_000), backend="numpy", requires_grad=True)
    w.grad = pg.tensor(np.cos(np.arange(100_000.0)), backend="numpy")
    opt = CASES[name](optim, [w])
    for _ in range(2):
        opt.step()
    tracemalloc.start()
    try:
        opt.step()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.3 * w.numpy().nbytes
