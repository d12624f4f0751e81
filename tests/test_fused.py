"""Fused primitives give what their composite definitions give, values and gradients."""

import numpy as np
import pytest

import polygrad as pg
import polygrad.functional as F

from conftest import to_numpy


def _grads(fn, inputs):
    out = fn(*inputs)
    return to_numpy(out), [to_numpy(g) for g in pg.autograd.grad(pg.sum(out * 1.3), inputs)]


def _same(a, b, tol):
    np.testing.assert_allclose(a[0], b[0], rtol=tol, atol=tol)
    for x, y in zip(a[1], b[1]):
        np.testing.assert_allclose(x, y, rtol=tol, atol=tol)


@pytest.mark.parametrize("shape", [(5, 4), (2, 5, 4), (4,)])
def test_linear_matches_matmul_plus_bias(target, shape):
    x, w, b = target.randn(*shape, seed=1), target.randn(3, 4, seed=2), target.randn(3, seed=3)
    for t in (x, w, b):
        t.requires_grad_()
    fused = _grads(F.linear, [x, w, b])
    assert F.linear(x, w, b)._op.primitive.name == "linear"
    composite = _grads(lambda x, w, b: pg.matmul(x, pg.matrix_transpose(w)) + b, [x, w, b])
    _same(fused, composite, target.tol)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_log_softmax_pick_reduce(target, reduction):
    logits = target.randn(6, 5, seed=4, requires_grad=True)
    classes = target.tensor([4, 0, 2, 2, 1, 3], dtype="int64")
    out = F.cross_entropy(logits, classes, reduction=reduction)
    assert out._op.primitive.name == "softmax_cross_entropy"

    def composite(x):
        picked = pg.take_along_axis(pg.log_softmax(x, axis=1), pg.reshape(classes, (6, 1)), axis=1)
        losses = -pg.reshape(picked, (6,))
        return {"mean": pg.mean, "sum": pg.sum, "none": lambda v: v}[reduction](losses)

    _same(_grads(lambda x: F.cross_entropy(x, classes, reduction=reduction), [logits]),
          _grads(composite, [logits]), target.tol)


def test_cross_entropy_with_ignored_entries_takes_the_composite(target):
    logits = target.randn(3, 4, seed=5, requires_grad=True)
    classes = target.tensor([1, -100, 3], dtype="int64")
    out = F.cross_entropy(logits, classes)
    assert out._op.primitive.name != "softmax_cross_entropy"
    expected = F.cross_entropy(logits[target.tensor([0, 2], dtype="int64")], target.tensor([1, 3], dtype="int64"))
    np.testing.assert_allclose(to_numpy(out), to_numpy(expected), rtol=target.tol)
