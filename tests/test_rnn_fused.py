"""nn.GRU and nn.RNN run each layer and direction as one fused primitive (polygrad/primitives/fused_rnn.py): outputs,
final states and every gradient (input, initial state, parameters) against torch.nn's, on every backend."""

import numpy as np
import pytest
from torch_oracle import copy_parameters, needs_torch, torch

import polygrad as pg
from polygrad import nn
from polygrad.namespace import ops

from conftest import to_numpy

CONFIGS = [
    ("GRU", dict(num_layers=2, bidirectional=True, batch_first=True)),
    ("GRU", dict(bias=False)),
    ("RNN", dict(num_layers=2, bidirectional=True)),
    ("RNN", dict(nonlinearity="relu", batch_first=True, num_layers=2)),
]


def _run(framework, module, x, h0, w_out, w_final):
    """output and h_n, and the gradients of sum(output * w_out) + sum(h_n * w_final)."""
    output, final = module(x, h0)
    (framework.sum(output * w_out) + framework.sum(final * w_final)).backward()
    return output, final


@needs_torch
@pytest.mark.parametrize("name, options", CONFIGS, ids=str)
def test_fused_gru_and_rnn_match_torch(target64, monkeypatch, name, options):
    rng = np.random.default_rng(3)
    ours = getattr(nn, name)(3, 4, backend=target64.backend, device=target64.device, dtype="float64", **options)
    theirs = getattr(torch.nn, name)(3, 4, dtype=torch.float64, **options)
    copy_parameters(ours, theirs)
    layers = options.get("num_layers", 1) * (2 if options.get("bidirectional") else 1)
    x_shape = (2, 5, 3) if options.get("batch_first") else (5, 2, 3)
    out_shape = x_shape[:2] + (4 * (2 if options.get("bidirectional") else 1),)
    host = [rng.standard_normal(shape) for shape in (x_shape, (layers, 2, 4), out_shape, (layers, 2, 4))]
    fused = getattr(ops, f"{name.lower()}_sequence")
    calls = []
    monkeypatch.setattr(ops, f"{name.lower()}_sequence", lambda *a, **k: calls.append(1) or fused(*a, **k))

    x, h0 = (target64.tensor(a, requires_grad=True) for a in host[:2])
    output, final = _run(pg, ours, x, h0, *(target64.tensor(a) for a in host[2:]))
    tx, th0 = (torch.tensor(a, requires_grad=True) for a in host[:2])
    expected_output, expected_final = _run(torch, theirs, tx, th0, *(torch.tensor(a) for a in host[2:]))

    assert len(calls) == layers  # one primitive per layer and direction
    for got, expected in [(output, expected_output), (final, expected_final), (x.grad, tx.grad), (h0.grad, th0.grad)]:
        np.testing.assert_allclose(to_numpy(got), expected.detach().numpy(), rtol=1e-10, atol=1e-10)
    mine = dict(ours.named_parameters())
    for parameter_name, parameter in theirs.named_parameters():
        np.testing.assert_allclose(to_numpy(mine[parameter_name].grad), parameter.grad.numpy(), rtol=1e-10,
                                   atol=1e-10, err_msg=parameter_name)


@pytest.mark.parametrize("name", ["GRU", "RNN"])
def test_fused_gru_and_rnn_gradcheck(target64, name):
    layer = getattr(nn, name)(2, 3, bidirectional=True, backend=target64.backend, device=target64.device,
                              dtype="float64")
    x, h = target64.randn(4, 2, 2, seed=1), target64.randn(2, 2, 3, seed=2)
    pg.gradcheck(lambda x, h: layer(x, h)[0], [x, h], check_forward=True)
    pg.gradcheck(lambda x, h: layer(x, h)[1], [x, h])
