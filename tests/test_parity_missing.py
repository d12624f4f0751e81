"""Pieces of PyTorch's interface that used to raise (issue 19): optimizer implementation switches,
backward(gradient=, inputs=), module hooks, copy_ across dtypes; each held to torch."""

import inspect

import numpy as np
import pytest
from torch_oracle import copy_parameters, torch
from torch_parity import check, inputs_on

import polygrad as pg

OPTIMIZERS = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "ASGD", "Rprop"]


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("switches", [dict(foreach=True), dict(foreach=False, fused=False), dict(capturable=False),
                                      dict(differentiable=False)], ids=["foreach", "fused", "capturable", "not-diff"])
def test_optimizers_accept_torch_switches_and_step_as_torch(target, name, switches):
    if torch is None:
        pytest.skip("torch is not installed")
    (ours,), (theirs,) = inputs_on(target, [([1.0, -2.0, 0.5], None, True)])
    mine = getattr(pg.optim, name)([ours], lr=0.1, **switches)
    cls = getattr(torch.optim, name)
    accepted = inspect.signature(cls).parameters  # not every torch optimizer has every switch; polygrad's do
    other = cls([theirs], lr=0.1, **{k: v for k, v in switches.items() if k in accepted})
    for _ in range(3):
        for opt, p, ns in ((mine, ours, pg), (other, theirs, torch)):
            opt.zero_grad()
            (p * p * ns.tensor([1.0, 2.0, 3.0], dtype=p.dtype, device=p.device)).sum().backward()
            opt.step()
    # rtol 1e-7: NAdam and RAdam compute their bias corrections in another order than torch
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=max(target.tol, 1e-7), atol=target.tol)


def test_differentiable_steps_are_refused():
    with pytest.raises(NotImplementedError, match="Adam: differentiable=True"):
        pg.optim.Adam([pg.nn.Parameter(pg.ones(2))], differentiable=True)
    with pytest.raises(TypeError, match="SGD: foreach must be None or a bool"):
        pg.optim.SGD([pg.nn.Parameter(pg.ones(2))], lr=0.1, foreach="yes")


def test_backward_with_gradient_and_inputs_as_torch(target):
    if torch is None:
        pytest.skip("torch is not installed")
    results = []
    for ns, (a, b) in zip((pg, torch), inputs_on(target, [([1.0, 2.0], None, True), ([3.0, 4.0], None, True)])):
        h = a * b
        if ns is torch:
            h.retain_grad()
        (h * h).backward(gradient=ns.tensor([1.0, 10.0], dtype=h.dtype, device=h.device), inputs=[a, h])
        results.append((a.grad, b.grad, h.grad))
    (ga, gb, gh), (ta, tb, th) = results
    assert gb is None and tb is None
    np.testing.assert_allclose(ga.numpy(), ta.numpy(), rtol=target.tol)
    np.testing.assert_allclose(gh.numpy(), th.numpy(), rtol=target.tol)


def test_int_copy_from_float_truncates_as_torch(target):
    def copy(i, f):
        i = i.clone()
        return i.copy_(f)

    check(target, copy, copy, ([1, 2, 3], "int64", False), ([1.7, -2.7, 3.0], None, False))


def _hooked(net, log):
    first, second = net[0], net[2]
    first.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
    second.register_forward_hook(lambda m, args, out: out + 1)
    second.register_forward_hook(lambda m, args, out: log.append(("forward", tuple(out.shape))))
    first.register_full_backward_hook(lambda m, gi, go: log.append(("backward", gi[0] is None, go[0].sum().item())))
    handle = second.register_full_backward_hook(lambda m, gi, go: (gi[0] * 3,))
    return handle


@pytest.mark.parametrize("remove", [False, True], ids=["hooked", "hook-removed"])
def test_module_hooks_as_torch(target64, remove):
    if torch is None:
        pytest.skip("torch is not installed")
    rng = np.random.default_rng(0)
    data = rng.standard_normal((4, 3))
    logs, grads = [], []
    nets = {ns: ns.nn.Sequential(ns.nn.Linear(3, 5), ns.nn.Tanh(), ns.nn.Linear(5, 2)).double() for ns in (pg, torch)}
    nets[pg].to(target64.device, backend=target64.backend)
    copy_parameters(nets[pg], nets[torch])
    for ns, net in nets.items():
        log = []
        handle = _hooked(net, log)
        if remove:
            handle.remove()
        x = (pg.tensor(data, backend=target64.backend, device=target64.device, requires_grad=True)
             if ns is pg else torch.tensor(data, requires_grad=True))
        (net(x) ** 2).sum().backward()
        logs.append(log)
        grads.append((x.grad.numpy(), net[0].weight.grad.numpy()))
    assert [entry[:2] for entry in logs[0]] == [entry[:2] for entry in logs[1]]
    np.testing.assert_allclose(logs[0][-1][2], logs[1][-1][2], rtol=1e-10)
    for got, want in zip(*grads):
        np.testing.assert_allclose(got, want, rtol=1e-10)
