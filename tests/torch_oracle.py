"""PyTorch as the oracle: the same function on the same float64 values, forward and every gradient.

Tests call `same_as_torch(ours, theirs, *arrays)`; it skips cleanly where torch is not installed.
Everything polygrad's side makes is on the default backend: the one under test (`--backend NAME`
or POLYGRAD_BACKEND selects it), where the modules a test builds without naming a backend live too.
"""

import numpy as np
import pytest

import polygrad as pg

try:
    import torch
except ImportError:  # the tests that need it skip
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def same_as_torch(ours, theirs, *arrays, grad=True, rtol=1e-9, atol=1e-11, grad_rtol=1e-8):
    """ours(*Tensors) and theirs(*torch tensors) agree in value and in the gradient of every
    floating input under one random cotangent (of every output, when they return tuples)."""
    if torch is None:
        pytest.skip("torch is not installed")
    floating = [np.issubdtype(np.asarray(a).dtype, np.floating) for a in arrays]
    mine = [pg.tensor(a, requires_grad=grad and f) for a, f in zip(arrays, floating)]
    other = [torch.tensor(np.asarray(a)).requires_grad_(grad and f) for a, f in zip(arrays, floating)]
    outputs, expected = _as_tuple(ours(*mine)), _as_tuple(theirs(*other))
    assert len(outputs) == len(expected)
    for got, want in zip(outputs, expected):
        assert tuple(got.shape) == tuple(want.shape), (got.shape, want.shape)
        np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=rtol, atol=atol)
    if not grad:
        return
    rng = np.random.default_rng(1)
    pairs = [(o, e) for o, e in zip(outputs, expected) if e.requires_grad]
    weights = [rng.standard_normal(tuple(e.shape)) for _, e in pairs]
    sum(pg.sum(o * pg.tensor(w, device=o.device)) for (o, _), w in zip(pairs, weights)).backward()  # on o's backend
    sum((e * torch.tensor(w)).sum() for (_, e), w in zip(pairs, weights)).backward()
    for position, (m, o) in enumerate(zip(mine, other)):
        if o.requires_grad:
            assert m.grad is not None, f"no gradient for input {position}"
            np.testing.assert_allclose(m.grad.numpy(), o.grad.numpy(), rtol=grad_rtol, atol=1e-10,
                                       err_msg=f"gradient of input {position}")


def _as_tuple(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def copy_parameters(ours, theirs):
    """Copy a torch module's parameters (by name) into the polygrad module, in float64."""
    mine = dict(ours.named_parameters())
    other = dict(theirs.named_parameters())
    assert set(mine) == set(other), (sorted(mine), sorted(other))
    for name, parameter in other.items():
        assert tuple(mine[name].shape) == tuple(parameter.shape), name
        with pg.no_grad():
            mine[name].copy_(pg.tensor(parameter.detach().numpy(), backend=mine[name].backend.name,
                                       device=mine[name].device, dtype=mine[name].dtype))


def same_parameter_grads(ours, theirs, rtol=1e-10, atol=1e-10):
    """After a backward through both modules (same_as_torch's): every parameter's gradient agrees, by name."""
    mine = dict(ours.named_parameters())
    for name, parameter in theirs.named_parameters():
        assert mine[name].grad is not None, f"no gradient for {name}"
        np.testing.assert_allclose(mine[name].grad.numpy(), parameter.grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=name)
