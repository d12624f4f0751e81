"""Numerics: sigmoid's family accurate in both tails, zero-spread std, finite losses for huge logits."""

import numpy as np
import pytest

import polygrad as pg
import polygrad.functional as F

from conftest import to_numpy

try:
    import torch
except ImportError:  # the comparisons with PyTorch skip
    torch = None


def _ulps(got, reference, dtype):
    """|got - reference| in units of the last place of `dtype` at the reference."""
    spacing = np.spacing(np.abs(reference.astype(dtype))).astype(np.longdouble)
    return np.abs(got.astype(np.longdouble) - reference) / spacing


# (dtype, range where sigmoid is neither subnormal nor 1): the reference is computed in
# long double (float64 inputs) or float64 (float32 inputs), with 11 or 29 bits to spare.
RANGES = {"float64": (-745.0, 709.0), "float32": (-103.0, 88.0)}
# Measured on numpy/strict/torch: at most 2.1 ulp in float64, 3.4 in float32 (one exp, one add, one divide).
MAX_ULPS = {"float64": 2.5, "float32": 4.0}


def _grid(dtype):
    low, high = RANGES[dtype]
    x = np.concatenate([np.linspace(low, high, 40001), np.linspace(-5, 5, 4001)]).astype(dtype)
    precise = x.astype(np.float64).astype(np.longdouble)
    return x, precise


@pytest.mark.parametrize("name", ["sigmoid", "log_sigmoid", "softplus"])
def test_sigmoid_family_accurate_in_both_tails(target, name):
    x, xl = _grid(target.dtype)
    reference = {
        "sigmoid": 1 / (1 + np.exp(-xl)),
        "log_sigmoid": np.where(xl < 0, xl - np.log1p(np.exp(xl)), -np.log1p(np.exp(-xl))),
        "softplus": np.where(xl > 0, xl + np.log1p(np.exp(-xl)), np.log1p(np.exp(xl))),
    }[name]
    got = to_numpy(getattr(pg, name)(target.tensor(x)))
    keep = np.abs(reference) > np.finfo(target.dtype).tiny  # ulps of subnormals mean nothing
    assert np.max(_ulps(got[keep], reference[keep], target.dtype)) <= MAX_ULPS[target.dtype]


def test_log_of_sigmoid_in_the_negative_tail(target):
    """The issue's case: x = -40 gave sigmoid 0, log -inf, gradient NaN; PyTorch gives -40 and 1."""
    x = target.tensor([-40.0, -37.0], requires_grad=True)
    y = pg.log(pg.sigmoid(x))
    y.sum().backward()
    np.testing.assert_allclose(to_numpy(y), [-40.0, -37.0], rtol=1e-6)
    np.testing.assert_allclose(to_numpy(x.grad), [1.0, 1.0], rtol=1e-6)
    z = target.tensor([-1e4, 1e4], requires_grad=True)
    ls = pg.log_sigmoid(z)
    ls.sum().backward()
    np.testing.assert_allclose(to_numpy(ls), [-1e4, 0.0])
    np.testing.assert_allclose(to_numpy(z.grad), [1.0, 0.0])


def test_std_and_var_gradient_is_zero_where_the_spread_is_zero(target):
    for reduce in (lambda t: pg.std(t), lambda t: pg.var(t), lambda t: pg.std(t, axis=1, correction=1)):
        x = target.tensor(np.ones((2, 3)), requires_grad=True)
        y = target.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
        # NaN from the first term would poison every path into x
        (pg.sum(reduce(x)) + pg.sum(x * y)).backward()
        np.testing.assert_array_equal(to_numpy(x.grad), to_numpy(y))


def test_std_tangent_is_zero_where_the_spread_is_zero(target):
    x = target.tensor(np.ones(3))
    _, tangent = pg.jvp(lambda t: pg.std(t), (x,), (target.tensor([1.0, 1.0, 1.0]),))
    assert to_numpy(tangent).tolist() == 0.0


HUGE = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [3.0, 1e4, -2.0]], dtype=np.float32)
TARGETS = np.array([1, 2, 0])


def _ours(target, name):
    logits = target.tensor(HUGE, dtype="float32", requires_grad=True)
    out = {
        "softplus": lambda: pg.sum(pg.softplus(logits)),
        "logsumexp": lambda: pg.sum(pg.logsumexp(logits, axis=1)),
        "log_softmax": lambda: pg.sum(pg.log_softmax(logits, axis=1) * pg.arange(3, dtype=logits.dtype, device=logits.device)),
        "cross_entropy": lambda: F.cross_entropy(logits, target.tensor(TARGETS, dtype="int64")),
        "bce_with_logits": lambda: F.binary_cross_entropy_with_logits(logits, target.tensor(np.eye(3), dtype="float32")),
    }[name]()
    out.backward()
    return to_numpy(out), to_numpy(logits.grad)


def _torch(name):
    logits = torch.tensor(HUGE, requires_grad=True)
    fn = torch.nn.functional
    out = {
        "softplus": lambda: fn.softplus(logits).sum(),
        "logsumexp": lambda: torch.logsumexp(logits, 1).sum(),
        "log_softmax": lambda: (fn.log_softmax(logits, 1) * torch.arange(3.0)).sum(),
        "cross_entropy": lambda: fn.cross_entropy(logits, torch.tensor(TARGETS)),
        "bce_with_logits": lambda: fn.binary_cross_entropy_with_logits(logits, torch.eye(3)),
    }[name]()
    out.backward()
    return out.detach().numpy(), logits.grad.numpy()


@pytest.mark.parametrize("name", ["softplus", "logsumexp", "log_softmax", "cross_entropy", "bce_with_logits"])
def test_huge_float32_logits_stay_finite_and_match_torch(target, name):
    if target.dtype != "float32":
        pytest.skip("the float32 case")
    value, grad = _ours(target, name)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    if torch is None:
        pytest.skip("torch is not installed: finiteness checked, values not compared")
    expected_value, expected_grad = _torch(name)
    np.testing.assert_allclose(value, expected_value, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-5)
