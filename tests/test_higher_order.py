"""Second derivatives (create_graph, hessian, hvp, gradgradcheck) and the safety checks."""

import inspect

import numpy as np
import pytest

import polygrad as pg
from polygrad.autodiff.gradcheck import GradcheckError
from conftest import to_numpy
from primitive_cases import CASES
from polygrad.primitives.table import PRIMITIVES
from polygrad.namespace import ops


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradgradcheck_every_primitive(case, target64):
    """Grad of grad through each primitive's rules, against finite differences."""
    f, inputs = CASES[case](target64)
    assert pg.gradgradcheck(f, inputs)


def test_gradgradcheck_catches_a_wrong_second_derivative():
    x = pg.tensor([0.3, 1.1], dtype="float64")
    try:
        # first derivative right (cos), but cos's own rule has the wrong sign
        pg.custom.primitive(lambda xp, x: xp.cos(x), name="wrong_cos", vjp=[lambda xp, g, out, x: g * xp.sin(x)])
        wrong_sin = pg.custom.primitive(lambda xp, x: xp.sin(x), name="wrong_sin",
                                        vjp=[lambda xp, g, out, x: g * xp.wrong_cos(x)])
        assert pg.gradcheck(wrong_sin, [x])
        with pytest.raises(GradcheckError):
            pg.gradgradcheck(wrong_sin, [x])
    finally:
        for name in ("wrong_cos", "wrong_sin"):
            del PRIMITIVES[name]
            delattr(ops, name)


def test_classic_second_order_example(target):
    """x2 = 6, x3 = 0, y = x2*x2 + x2*x3: dy/dx2 = 12, dy/dx3 = 6; d(dy/dx2)/d(x2, x3) = 2, 1."""
    x2 = target.tensor(6.0, requires_grad=True)
    x3 = target.tensor(0.0, requires_grad=True)
    y = x2 * x2 + x2 * x3
    y.backward(create_graph=True)
    assert (x2.grad.item(), x3.grad.item()) == (12.0, 6.0)
    assert x2.grad.requires_grad
    d2, d3 = pg.autograd.grad(x2.grad, [x2, x3])
    assert (d2.item(), d3.item()) == (2.0, 1.0)
    assert d2.device == x2.device


def test_hessian_of_a_quadratic_form(target64):
    a_host = np.array([[1.0, 2.0, 0.0], [-1.0, 3.0, 1.0], [4.0, 0.5, 1.0]])
    a = target64.tensor(a_host.tolist())
    x = target64.tensor([0.3, -1.2, 0.8])

    def f(x):
        return x @ (a @ x)

    for hessian in (pg.hessian(f), pg.jacrev(pg.jacrev(f))):  # forward over reverse, reverse over reverse
        h = hessian(x)
        assert h.shape == (3, 3) and h.device == x.device
        np.testing.assert_allclose(h.numpy(), a_host + a_host.T, rtol=1e-12)
    _, product = pg.hvp(f, x, target64.tensor([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(product.numpy(), (a_host + a_host.T) @ [1.0, 2.0, 3.0], rtol=1e-12)


def test_hessian_of_logsumexp(target64):
    x_host = np.array([0.5, -1.0, 2.0, 0.1])
    p = np.exp(x_host) / np.exp(x_host).sum()
    h = pg.hessian(lambda x: pg.logsumexp(x, axis=0))(target64.tensor(x_host.tolist()))
    np.testing.assert_allclose(h.numpy(), np.diag(p) - np.outer(p, p), rtol=1e-10, atol=1e-14)


def _mlp_loss_numpy(p, x, y):
    w1, b1, w2, b2 = p[:6].reshape(3, 2), p[6:9], p[9:12], p[12]
    prediction = np.tanh(x @ w1.T + b1) @ w2 + b2
    return np.mean((prediction - y) ** 2)


def _mlp_loss(p, x, y):
    w1, b1, w2, b2 = pg.reshape(p[:6], (3, 2)), p[6:9], p[9:12], p[12]
    prediction = pg.tanh(x @ w1.T + b1) @ w2 + b2
    return ((prediction - y) ** 2).mean()


def test_hessian_of_a_small_mlp_loss_against_finite_differences(target64):
    rng = np.random.default_rng(0)
    p, x, y = rng.normal(size=13), rng.normal(size=(4, 2)), rng.normal(size=4)
    step, n = 1e-4, p.size
    expected = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            def at(si, sj):
                q = p.copy()
                q[i] += si * step
                q[j] += sj * step
                return _mlp_loss_numpy(q, x, y)

            expected[i, j] = (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1)) / (4 * step * step)
    args = [target64.tensor(v.tolist()) for v in (p, x, y)]
    for hessian in (pg.hessian(_mlp_loss), pg.jacrev(pg.jacrev(_mlp_loss))):
        np.testing.assert_allclose(hessian(*args).numpy(), expected, atol=1e-6)
    direction = rng.normal(size=n)
    value, product = pg.hvp(lambda p: _mlp_loss(p, *args[1:]), args[0], target64.tensor(direction.tolist()))
    assert value.item() == pytest.approx(_mlp_loss_numpy(p, x, y), rel=1e-12)
    np.testing.assert_allclose(product.numpy(), expected @ direction, atol=1e-5)


def test_hessian_with_several_arguments(target64):
    x, y = target64.tensor(1.5), target64.tensor(-0.5)
    (hxx, hxy), (hyx, hyy) = pg.hessian(lambda x, y: x * x * y + pg.exp(y), argnums=(0, 1))(x, y)
    # f = x^2 y + e^y: f_xx = 2y, f_xy = 2x, f_yy = e^y
    assert [hxx.item(), hxy.item(), hyx.item(), hyy.item()] == pytest.approx([-1.0, 3.0, 3.0, np.exp(-0.5)])


def test_third_order(target64):
    x = target64.tensor(0.7)
    third = pg.grad(pg.grad(pg.grad(lambda x: pg.sin(x) * pg.exp(x))))(x)
    # (sin x e^x)''' = 2 e^x (cos x - sin x)
    assert third.item() == pytest.approx(2 * np.exp(0.7) * (np.cos(0.7) - np.sin(0.7)), rel=1e-12)


def test_second_derivatives_across_a_device_move():
    pytest.importorskip("array_api_strict")
    x = pg.tensor([0.5, 2.0], dtype="float64", backend="array_api_strict", device="device1")

    def f(x):
        return (x.to("CPU_DEVICE") ** 3).sum()

    for h in (pg.hessian(f)(x), pg.jacrev(pg.jacrev(f))(x)):
        assert h.device == x.device
        np.testing.assert_allclose(h.numpy(), np.diag([3.0, 12.0]))  # diag(6x)
    assert pg.gradgradcheck(f, [x])


# ---------------------------------------------------------------- detect_anomaly
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_anomaly_in_forward_names_the_op_and_the_user_line(target):
    x = target.tensor([-1.0, 2.0])
    with pg.detect_anomaly(), pytest.raises(pg.AnomalyError) as error:
        line = inspect.currentframe().f_lineno + 1
        pg.log(x)
    message = str(error.value)
    assert "the forward of log produced NaN or Inf" in message
    assert f"{__file__}:{line}" in message


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("create_graph", [False, True])
def test_anomaly_in_backward_names_the_op(target, create_graph):
    x = target.tensor([0.0, 4.0], requires_grad=True)
    with pg.detect_anomaly():
        line = inspect.currentframe().f_lineno + 1
        y = pg.sqrt(x).sum()  # finite, but d sqrt/dx = inf at 0
        with pytest.raises(pg.AnomalyError) as error:
            pg.autograd.grad(y, x, create_graph=create_graph)
    assert "the backward of sqrt produced NaN or Inf" in str(error.value)
    assert f"{__file__}:{line}" in str(error.value)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_without_anomaly_detection_nan_passes_silently(target):
    x = target.tensor([0.0, 4.0], requires_grad=True)
    with pg.detect_anomaly(), pg.detect_anomaly(False):
        pg.sqrt(x).sum().backward()
    assert np.isinf(x.grad.numpy()[0])


# ---------------------------------------------------------------- version counters
def test_modifying_a_saved_input_in_place_fails_at_backward(target):
    x = target.tensor([1.0, 2.0], requires_grad=True)
    y = pg.sin(x).sum()
    with pg.no_grad():
        x.add_(1.0)
    with pytest.raises(pg.InplaceModificationError, match=r"sin: input 0 .* modified in place"):
        y.backward()


def test_an_optimizer_step_between_forward_and_backward_is_caught(target):
    w = target.randn(3, 2, requires_grad=True)
    batch = target.randn(4, 3, seed=1)
    loss = (batch @ (w * w)).sum()  # multiply reads w for w's own gradient
    loss.backward(retain_graph=True)
    with pg.no_grad():
        w.sub_(w.grad * 0.1)  # the step bumps w's version
    with pytest.raises(pg.InplaceModificationError, match="multiply: input 0"):
        loss.backward()
    linear = (batch @ w).sum()  # as in PyTorch, a graph whose rules never read w is not broken by the step:
    with pg.no_grad():  # w's gradient here is batch's column sums, whatever w is
        w.sub_(0.1)
    w.grad = None
    linear.backward()
    np.testing.assert_allclose(to_numpy(w.grad), np.repeat(to_numpy(batch).sum(0)[:, None], 2, axis=1),
                               rtol=target.tol)
    w.grad = None
    (batch @ w).sum().backward()  # a fresh forward after the step is fine
    assert w.grad.shape == (3, 2)
