"""Run one program on polygrad (on a test target) and on torch (CPU), and hold them equal:
dtypes, values (NaN where torch has NaN) and the gradients of the inputs that ask for one.

An input is (values, dtype, requires_grad); dtype None is the target's float dtype.
"""

import numpy as np
import pytest

import polygrad as pg

from torch_oracle import torch


def inputs_on(target, specs):
    """(polygrad tensors on target, torch tensors) for (values, dtype, requires_grad) specs."""
    if torch is None:
        pytest.skip("torch is not installed")
    ours, theirs = [], []
    for values, dtype, requires_grad in specs:
        dtype = dtype or target.dtype
        if dtype in ("float64", "complex128") and target.dtype == "float32" and target.backend == "array_api_strict":
            pytest.skip("a float64 input on a float32-only device")
        ours.append(target.tensor(values, dtype=dtype, requires_grad=requires_grad))
        theirs.append(torch.tensor(values, dtype=getattr(torch, dtype), requires_grad=requires_grad))
    return ours, theirs


def same(got, want, tol):
    """A polygrad result equal to torch's in shape, dtype and value."""
    if isinstance(want, (tuple, list)):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            same(g, w, tol)
        return
    if not isinstance(want, torch.Tensor):
        assert got == want
        return
    assert str(got.dtype) == str(want.dtype).removeprefix("torch."), (got.dtype, want.dtype)
    assert tuple(got.shape) == tuple(want.shape), (got.shape, want.shape)
    np.testing.assert_allclose(np.asarray(got.numpy(), dtype=np.float64) if want.dtype != torch.bool else got.numpy(),
                               want.detach().numpy(), rtol=tol, atol=tol, equal_nan=True)


def check(target, ours, theirs, *specs, grad=True, tol=None):
    """ours(*polygrad inputs) == theirs(*torch inputs) in value, and in the gradient of every input
    made with requires_grad under the cotangent 1 (the sum of the outputs' floating entries)."""
    mine, other = inputs_on(target, specs)
    tol = tol or target.tol
    got, want = ours(*mine), theirs(*other)
    same(got, want, tol)
    if not grad or not any(s[2] for s in specs):
        return
    outputs = [(g, w) for g, w in zip(_as_tuple(got), _as_tuple(want)) if w.requires_grad]
    sum(pg.sum(g) for g, _ in outputs).backward()
    sum(w.sum() for _, w in outputs).backward()
    for position, (m, o) in enumerate(zip(mine, other)):
        if o.requires_grad:
            assert m.grad is not None, f"no gradient for input {position}"
            np.testing.assert_allclose(m.grad.numpy(), o.grad.numpy(), rtol=tol, atol=tol,
                                       equal_nan=True, err_msg=f"gradient of input {position}")


def _as_tuple(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)
