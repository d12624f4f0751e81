"""Every optimizer and scheduler against PyTorch's own (float64 oracle), on every backend present.

Optimizers run 25 steps on a smooth non-quadratic loss over two parameters;
schedulers run 30 epochs, alone and stepped back to back on one optimizer.
"""

import math
import warnings

import numpy as np
import pytest

import polygrad as pg
from polygrad import optim

torch = pytest.importorskip("torch")

W0 = np.array([[1.0, -2.0, 0.5], [3.0, -0.7, 0.2]])
V0 = np.array([0.4, -1.1, 0.9])
A = np.array([[0.5, 1.0, 2.0], [0.25, 1.5, 0.8]])
B = np.array([0.3, -0.2, 0.1])


def loss_of(w, v, a, b):
    """Smooth, not quadratic, couples both parameters."""
    return (a * w * w).sum() + (b * v).sum() + ((w * v) ** 4).sum() * 0.05 + (v * v).sum()


def run_torch(make, steps):
    # float64 default dtype: ASGD keeps eta and mu as default-dtype scalar tensors (float32 would round them)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return _run_torch(make, steps)
    finally:
        torch.set_default_dtype(default)


def _run_torch(make, steps):
    w, v = (torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in (W0, V0))
    a, b = torch.tensor(A), torch.tensor(B)
    opt = make(torch.optim, [w, v])
    for _ in range(steps):
        opt.zero_grad()
        loss_of(w, v, a, b).backward()
        opt.step()
    return [w.detach().numpy(), v.detach().numpy()], opt


def run_polygrad(target, make, steps):
    w, v = target.tensor(W0, requires_grad=True), target.tensor(V0, requires_grad=True)
    a, b = target.tensor(A), target.tensor(B)
    opt = make(optim, [w, v])
    for _ in range(steps):
        opt.zero_grad()
        loss_of(w, v, a, b).backward()
        opt.step()
    return [w.numpy(), v.numpy()], opt


CASES = {
    "SGD": lambda o, p: o.SGD(p, lr=0.02),
    "SGD-nesterov-decay": lambda o, p: o.SGD(p, lr=0.02, momentum=0.9, nesterov=True, weight_decay=0.1),
    "SGD-dampening-maximize": lambda o, p: o.SGD(p, lr=0.002, momentum=0.5, dampening=0.3, maximize=True),
    "Adam": lambda o, p: o.Adam(p, lr=0.05, weight_decay=0.1),
    "Adam-amsgrad-maximize": lambda o, p: o.Adam(p, lr=0.01, amsgrad=True, maximize=True),
    "AdamW-amsgrad": lambda o, p: o.AdamW(p, lr=0.05, betas=(0.8, 0.99), amsgrad=True),
    "RMSprop-centered-momentum": lambda o, p: o.RMSprop(p, lr=0.01, momentum=0.5, centered=True, weight_decay=0.1),
    "RMSprop-maximize": lambda o, p: o.RMSprop(p, lr=0.001, maximize=True),
    "Adagrad": lambda o, p: o.Adagrad(p, lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1),
    "Adagrad-maximize": lambda o, p: o.Adagrad(p, lr=0.01, maximize=True),
    "Adadelta": lambda o, p: o.Adadelta(p),
    "Adadelta-decay": lambda o, p: o.Adadelta(p, lr=0.5, rho=0.8, weight_decay=0.1, maximize=True),
    "Adamax": lambda o, p: o.Adamax(p, lr=0.05, weight_decay=0.1),
    "Adamax-maximize": lambda o, p: o.Adamax(p, maximize=True),
    "NAdam": lambda o, p: o.NAdam(p, lr=0.05, weight_decay=0.1),
    "NAdamW": lambda o, p: o.NAdam(p, lr=0.05, weight_decay=0.1, decoupled_weight_decay=True, momentum_decay=0.01),
    "RAdam": lambda o, p: o.RAdam(p, lr=0.05, weight_decay=0.1),
    "RAdamW-maximize": lambda o, p: o.RAdam(p, lr=0.01, weight_decay=0.1, decoupled_weight_decay=True,
                                            maximize=True),
    "Rprop": lambda o, p: o.Rprop(p),
    "Rprop-etas-maximize": lambda o, p: o.Rprop(p, lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2), maximize=True),
    "ASGD": lambda o, p: o.ASGD(p, lr=0.02, lambd=0.01, alpha=0.6, t0=10, weight_decay=0.1),
    "ASGD-maximize": lambda o, p: o.ASGD(p, lr=0.001, maximize=True),
}


@pytest.mark.parametrize("name", CASES)
def test_optimizer_matches_pytorch_over_25_steps(target, name):
    expected, torch_opt = run_torch(CASES[name], 25)
    got, opt = run_polygrad(target, CASES[name], 25)
    tol = 1e-9 if target.dtype == "float64" else 2e-4
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=tol, atol=tol)
    # PyTorch's state_dict layout: the same state names per parameter, group keys a subset of PyTorch's
    ours, theirs = opt.state_dict(), torch_opt.state_dict()
    for i in (0, 1):
        theirs_i = {k: v for k, v in theirs["state"].get(i, {}).items() if v is not None}
        assert set(ours["state"].get(i, {})) == set(theirs_i)
        for key, value in ours["state"].get(i, {}).items():
            if isinstance(value, pg.Tensor):
                tol_state = tol * max(1.0, float(np.abs(theirs_i[key].numpy()).max()))
                np.testing.assert_allclose(value.numpy(), theirs_i[key].numpy(), atol=tol_state, rtol=tol)
            else:
                assert value == pytest.approx(float(theirs_i[key]), rel=1e-6)
    assert set(ours["param_groups"][0]) <= set(theirs["param_groups"][0])


@pytest.mark.parametrize("options", [dict(lr=0.5, max_iter=5, history_size=3), dict(lr=1.0), dict(max_iter=2),
                                     dict(line_search_fn="strong_wolfe"),
                                     dict(line_search_fn="strong_wolfe", lr=0.3, history_size=2, max_eval=12)],
                         ids=["short-history", "default", "two-iterations", "strong-wolfe", "strong-wolfe-short"])
def test_lbfgs_matches_pytorch(target, options):
    def run(framework, w, v, a, b):
        opt = framework.LBFGS([w, v], **options)
        losses = []

        def closure():
            opt.zero_grad()
            loss = loss_of(w, v, a, b)
            loss.backward()
            return loss

        for _ in range(4):
            losses.append(float(opt.step(closure).detach()))
        return losses

    tw, tv = (torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in (W0, V0))
    expected = run(torch.optim, tw, tv, torch.tensor(A), torch.tensor(B))
    w, v = target.tensor(W0, requires_grad=True), target.tensor(V0, requires_grad=True)
    got = run(optim, w, v, target.tensor(A), target.tensor(B))
    tol = 1e-8 if target.dtype == "float64" else 1e-3
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(v.numpy(), tv.detach().numpy(), rtol=tol, atol=tol)


# ---------------------------------------------------------------- schedulers
def _optimizers(framework_optim, params, kind):
    if kind == "adam":
        return framework_optim.Adam([{"params": [params[0]], "lr": 1.0}, {"params": [params[1]], "lr": 0.1}], lr=0.1)
    return framework_optim.SGD([{"params": [params[0]], "lr": 1.0}, {"params": [params[1]], "lr": 0.1}],
                               lr=0.1, momentum=0.9)


SCHEDULES = {
    "StepLR": lambda o, opt: [o.StepLR(opt, step_size=4, gamma=0.5)],
    "MultiStepLR": lambda o, opt: [o.MultiStepLR(opt, milestones=[3, 7, 7, 20], gamma=0.5)],
    "ExponentialLR": lambda o, opt: [o.ExponentialLR(opt, gamma=0.9)],
    "ConstantLR": lambda o, opt: [o.ConstantLR(opt, factor=0.25, total_iters=6)],
    "LinearLR": lambda o, opt: [o.LinearLR(opt, start_factor=0.1, end_factor=0.9, total_iters=12)],
    "PolynomialLR": lambda o, opt: [o.PolynomialLR(opt, total_iters=20, power=2.0)],
    "CosineAnnealingLR": lambda o, opt: [o.CosineAnnealingLR(opt, T_max=7, eta_min=0.01)],
    "LambdaLR": lambda o, opt: [o.LambdaLR(opt, lr_lambda=[lambda e: 0.95 ** e, lambda e: 1 / (1 + e)])],
    "CosineAnnealingWarmRestarts": lambda o, opt: [o.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2,
                                                                                 eta_min=0.05)],
    "OneCycleLR": lambda o, opt: [o.OneCycleLR(opt, max_lr=[2.0, 0.2], total_steps=31)],
    "OneCycleLR-three-phase-linear": lambda o, opt: [o.OneCycleLR(opt, max_lr=1.0, epochs=4, steps_per_epoch=8,
                                                                  three_phase=True, anneal_strategy="linear")],
    "MultiplicativeLR": lambda o, opt: [o.MultiplicativeLR(opt, lr_lambda=lambda e: 0.9 if e % 2 else 1.05)],
    "CyclicLR": lambda o, opt: [o.CyclicLR(opt, base_lr=0.1, max_lr=[2.0, 0.5], step_size_up=4, step_size_down=3)],
    "CyclicLR-triangular2": lambda o, opt: [o.CyclicLR(opt, 0.05, 1.0, step_size_up=3, mode="triangular2")],
    "CyclicLR-exp_range": lambda o, opt: [o.CyclicLR(opt, 0.05, 1.0, step_size_up=5, mode="exp_range", gamma=0.97)],
    "CyclicLR-scale_fn": lambda o, opt: [o.CyclicLR(opt, 0.05, 1.0, step_size_up=2, scale_fn=lambda x: 1 / x,
                                                    cycle_momentum=False)],
    # two schedulers stepped back to back compose (chainable form)
    "StepLR+ExponentialLR": lambda o, opt: [o.StepLR(opt, step_size=5, gamma=0.5), o.ExponentialLR(opt, 0.95)],
    "CosineAnnealingLR+LinearLR": lambda o, opt: [o.CosineAnnealingLR(opt, T_max=10),
                                                  o.LinearLR(opt, start_factor=0.2, total_iters=5)],
    "MultiStepLR+ConstantLR+PolynomialLR": lambda o, opt: [o.MultiStepLR(opt, [4, 9]), o.ConstantLR(opt, 0.5, 3),
                                                           o.PolynomialLR(opt, 25, 0.5)],
    "ChainedScheduler": lambda o, opt: [o.ChainedScheduler([o.ConstantLR(opt, factor=0.5, total_iters=4),
                                                            o.ExponentialLR(opt, gamma=0.9)])],
    "SequentialLR": lambda o, opt: [o.SequentialLR(opt, [o.LinearLR(opt, 0.1, total_iters=5),
                                                         o.CosineAnnealingLR(opt, T_max=8),
                                                         o.ExponentialLR(opt, gamma=0.8)], milestones=[5, 13])],
}


def _lr_trace(framework, make, kind, epochs=30):
    params = [framework.tensor([1.0], requires_grad=True) for _ in range(2)] if framework is torch else \
        [pg.tensor([1.0], requires_grad=True) for _ in range(2)]
    o = torch.optim.lr_scheduler if framework is torch else optim
    opt = _optimizers(torch.optim if framework is torch else optim, params, kind)
    schedulers = make(o, opt)
    trace = []
    for _ in range(epochs):
        opt.step()  # no gradients: nothing moves, but PyTorch wants a step before the scheduler's
        trace.append([float(group["lr"]) for group in opt.param_groups] + [
            float(group.get("momentum", group.get("betas", (0,))[0])) for group in opt.param_groups]
            + schedulers[-1].get_last_lr())
        for scheduler in schedulers:
            scheduler.step()
    return trace


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("name", SCHEDULES)
def test_scheduler_matches_pytorch_over_30_epochs(name, kind):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = _lr_trace(torch, SCHEDULES[name], kind)
    np.testing.assert_allclose(_lr_trace(pg, SCHEDULES[name], kind), expected, rtol=1e-12, atol=1e-15)


def test_warm_restarts_with_fractional_epochs_match_pytorch():
    def trace(o, opt):
        scheduler = o.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=3, eta_min=0.1)
        values = []
        for epoch in range(12):
            for i in range(4):
                scheduler.step(epoch + i / 4)
                values.append(scheduler.get_last_lr())
        return values

    expected = trace(torch.optim.lr_scheduler, torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0))
    got = trace(optim, optim.SGD([pg.zeros(1, requires_grad=True)], lr=1.0))
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("options", [dict(), dict(mode="max", threshold_mode="abs", threshold=0.1, patience=1,
                                                   cooldown=2, factor=0.5, min_lr=[0.3, 0.001])])
def test_reduce_lr_on_plateau_matches_pytorch(options):
    metrics = [1.0, 0.9, 0.95, 0.9, 0.91, 0.92, 0.93, 0.8, 0.81, 0.82] * 3 + [math.inf, 0.1]

    def trace(o, opt):
        scheduler = o.ReduceLROnPlateau(opt, **{"patience": 2, **options})
        values = []
        for m in metrics:
            scheduler.step(m)
            values.append(scheduler.get_last_lr())
        return values

    make = lambda framework, params: framework.SGD(  # noqa: E731
        [{"params": [params[0]], "lr": 1.0}, {"params": [params[1]]}], lr=0.1)
    expected = trace(torch.optim.lr_scheduler, make(torch.optim, [torch.zeros(1, requires_grad=True)
                                                                  for _ in range(2)]))
    got = trace(optim, make(optim, [pg.zeros(1, requires_grad=True) for _ in range(2)]))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
