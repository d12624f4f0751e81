"""Function transforms: grad, value_and_grad, vjp, jvp, jacrev, jacfwd, jacobian; custom primitives."""

import math

import numpy as np
import pytest

import polygrad as pg
from polygrad.core import autograd as autodiff
from polygrad.primitives.table import PRIMITIVES
from primitive_cases import CASES, NO_DERIVATIVE, PRIMITIVE_OF
from polygrad.namespace import ops


def seed_f(x1, x2):
    return pg.log(x1) + x1 * x2 - pg.sin(x2)


# the recitation's example at (2, 5), from closed forms
SEED_VALUE = math.log(2) + 10 - math.sin(5)  # 11.652
SEED_GRAD = (1 / 2 + 5, 2 - math.cos(5))  # 5.5, 1.716


def test_seed_numbers_by_every_transform(target):
    x1, x2 = target.tensor(2.0), target.tensor(5.0)
    tol = dict(rel=target.tol)
    value, (g1, g2) = pg.value_and_grad(seed_f, argnums=(0, 1))(x1, x2)
    assert round(value.item(), 3) == 11.652 and value.item() == pytest.approx(SEED_VALUE, **tol)
    assert (round(g1.item(), 3), round(g2.item(), 3)) == (5.5, 1.716)
    assert g2.item() == pytest.approx(SEED_GRAD[1], **tol)
    assert pg.grad(seed_f)(x1, x2).item() == pytest.approx(5.5, **tol)
    value, tangent = pg.jvp(seed_f, (x1, x2), (target.tensor(1.0), target.tensor(0.0)))
    assert value.item() == pytest.approx(SEED_VALUE, **tol)
    assert round(tangent.item(), 3) == 5.5
    _, along_x2 = pg.jvp(seed_f, (x1, x2), (None, target.tensor(1.0)))
    assert along_x2.item() == pytest.approx(SEED_GRAD[1], **tol)
    out, pullback = pg.vjp(seed_f, x1, x2)
    assert [g.item() for g in pullback(target.tensor(2.0))] == pytest.approx([11.0, 2 * SEED_GRAD[1]], **tol)


def test_jvp_runs_no_backward_pass(target, monkeypatch):
    def no_backward(*args, **kwargs):
        raise AssertionError("jvp must not run a backward pass")

    monkeypatch.setattr(autodiff, "run_backward", no_backward)
    x = target.tensor([0.5, -1.0, 2.0])
    value, tangent = pg.jvp(lambda x: pg.tanh(x) * x, x, pg.ones_like(x))
    expected = 1 / np.cosh(x.numpy()) ** 2 * x.numpy() + np.tanh(x.numpy())
    np.testing.assert_allclose(tangent.numpy(), expected, rtol=target.tol * 10)
    assert not value.requires_grad and value.tangent is None


@pytest.mark.parametrize("case", sorted(CASES))
def test_jacfwd_equals_jacrev(case, target64):
    """Each primitive's jvp rule is its vjp rule transposed."""
    f, inputs = CASES[case](target64)
    argnums = tuple(range(len(inputs)))
    forward = pg.jacfwd(f, argnums)(*inputs)
    reverse = pg.jacrev(f, argnums)(*inputs)
    out = f(*inputs)
    for x, a, b in zip(inputs, forward, reverse):
        assert a.shape == b.shape == out.shape + x.shape
        assert a.device == b.device == x.device
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)


def test_every_primitive_has_a_case():
    covered = set(PRIMITIVE_OF.values()) | set(NO_DERIVATIVE)
    missing = sorted(set(PRIMITIVES) - covered)
    assert not missing, f"add cases to tests/primitive_cases.py for {missing}"


@pytest.mark.parametrize("name", sorted(NO_DERIVATIVE))
def test_primitives_without_derivative_give_zero_jacobians(name, target64):
    x = target64.tensor([[0.3, -1.2, 0.7], [1.5, 0.5, -0.2]])
    f = NO_DERIVATIVE[name]
    for jac in (pg.jacrev(f)(x), pg.jacfwd(f)(x)):
        assert jac.shape == f(x).shape + x.shape
        assert not np.any(jac.numpy())


def test_jacobian_of_a_linear_map_with_several_arguments_and_outputs(target):
    a = target.tensor([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]])
    x, y = target.tensor([0.5, 1.5, -2.0]), target.tensor([4.0, 5.0])

    def f(x, y):
        return a @ x + y, x * 2.0

    for mode in ("reverse", "forward"):
        (jx, jy), (kx, ky) = pg.jacobian(f, argnums=(0, 1), mode=mode)(x, y)
        np.testing.assert_allclose(jx.numpy(), a.numpy())
        np.testing.assert_allclose(jy.numpy(), np.eye(2))
        np.testing.assert_allclose(kx.numpy(), 2 * np.eye(3))
        np.testing.assert_allclose(ky.numpy(), np.zeros((3, 2)))
        assert jx.device == x.device and jx.dtype == x.dtype
    with pytest.raises(ValueError, match="mode"):
        pg.jacobian(f, mode="sideways")


def test_results_keep_device_and_dtype(target):
    x = target.randn(3)
    f = lambda x: (pg.exp(x) * x).sum()  # noqa: E731
    results = [pg.grad(f)(x), pg.jvp(f, x, x)[1], pg.jacrev(pg.exp)(x), pg.jacfwd(pg.exp)(x),
               pg.hessian(f)(x), pg.hvp(f, x, x)[1], pg.vjp(pg.exp, x)[1](x)[0]]
    for r in results:
        assert r.device == x.device and r.dtype == x.dtype


def test_argnums_has_aux_and_vjp(target):
    x, y = target.tensor([1.0, 2.0]), target.tensor(3.0)

    def f(x, y):
        loss = (x * x * y).sum()
        return loss, {"norm": x.sum()}

    (gx, gy), aux = pg.grad(f, argnums=(0, 1), has_aux=True)(x, y)
    np.testing.assert_allclose(gx.numpy(), [6.0, 12.0], rtol=target.tol)
    assert gy.item() == pytest.approx(5.0, rel=target.tol)
    assert aux["norm"].item() == pytest.approx(3.0)
    (value, aux), gy_only = pg.value_and_grad(f, argnums=1, has_aux=True)(x, y)
    assert value.item() == pytest.approx(15.0, rel=target.tol) and not value.requires_grad
    assert gy_only.item() == pytest.approx(5.0, rel=target.tol)

    out, pullback = pg.vjp(lambda x: (x * 2.0, pg.sin(x)), x)
    for _ in range(2):  # vjp_fn can be called again
        (g,) = pullback((target.tensor([1.0, 0.0]), target.tensor([0.0, 1.0])))
        np.testing.assert_allclose(g.numpy(), [2.0, math.cos(2.0)], rtol=target.tol)
    with pytest.raises(ValueError, match="cotangents"):
        pullback(target.tensor([1.0, 0.0]))
    out, pullback, aux = pg.vjp(f, x, y, has_aux=True)
    assert out.item() == pytest.approx(15.0, rel=target.tol) and aux["norm"].item() == pytest.approx(3.0)
    assert pullback(target.tensor(1.0))[1].item() == pytest.approx(5.0, rel=target.tol)


def test_grad_needs_a_scalar_and_tolerates_unused_inputs(target):
    x, y = target.tensor([1.0, 2.0]), target.tensor(3.0)
    with pytest.raises(pg.ShapeError, match="scalar"):
        pg.grad(lambda x: x * 2.0)(x)
    gx, gy = pg.grad(lambda x, y: (x * 2.0).sum(), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gy.numpy(), 0.0)
    constant = pg.grad(lambda x: target.tensor(1.0))(x)
    np.testing.assert_allclose(constant.numpy(), [0.0, 0.0])


def test_grad_of_grad_and_through_closures(target):
    x = target.tensor(0.5)
    second = pg.grad(pg.grad(lambda x: pg.sin(x) * x))(x)  # d2/dx2 x sin x = 2 cos x - x sin x
    assert second.item() == pytest.approx(2 * math.cos(0.5) - 0.5 * math.sin(0.5), rel=target.tol * 10)
    # d/dy [d/dx x^2 y] = 2x: the inner grad closes over the outer variable
    mixed = pg.grad(lambda y: pg.grad(lambda x: x * x * y)(target.tensor(3.0)))(target.tensor(2.0))
    assert mixed.item() == pytest.approx(6.0)


def test_forward_mode_cannot_be_nested_under_reverse_or_forward(target):
    x = target.tensor([1.0, 2.0])
    with pytest.raises(NotImplementedError, match="reverse mode over forward mode"):
        pg.jacrev(pg.jacfwd(pg.sin))(x)
    with pytest.raises(NotImplementedError, match="forward mode inside forward mode"):
        pg.jacfwd(pg.jacfwd(pg.sin))(x)
    with pytest.raises(NotImplementedError, match="x.detach"):
        pg.jvp(pg.sin, target.tensor([1.0], requires_grad=True), target.tensor([1.0]))


# ---------------------------------------------------------------- custom primitives
def _softplus_forward(xp, x):
    "log(1 + exp(x)), without overflow."
    return xp.logaddexp(x, xp.zeros_like(x))


@pytest.fixture
def softplus():
    """A custom primitive for one test, removed afterwards so the table is as it was."""
    function = pg.custom.primitive(
        _softplus_forward,
        vjp=[lambda xp, g, out, x: g * (1 - xp.exp(-out))],  # sigmoid(x) = 1 - exp(-softplus(x))
        jvp=[lambda xp, t, out, x: t * (1 - xp.exp(-out))],
        name="softplus_under_test",
    )
    yield function
    del PRIMITIVES["softplus_under_test"]
    delattr(ops, "softplus_under_test")


def test_custom_primitive_joins_the_table(softplus, target):
    assert PRIMITIVES["softplus_under_test"].doc.startswith("log(1 + exp(x))")
    x = target.tensor([-2.0, 0.0, 3.0, 40.0], requires_grad=True)
    y = softplus(x)
    y.sum().backward()
    xs = x.detach().numpy().astype(np.float64)
    sigmoid = 1 / (1 + np.exp(-xs))
    np.testing.assert_allclose(y.detach().numpy(), np.log1p(np.exp(xs)), rtol=target.tol * 10)
    np.testing.assert_allclose(x.grad.numpy(), sigmoid, rtol=target.tol * 10)
    _, tangent = pg.jvp(softplus, x.detach(), pg.ones_like(x))
    np.testing.assert_allclose(tangent.numpy(), sigmoid, rtol=target.tol * 10)
    # softplus acts elementwise: the gradient of the summed gradient is the Hessian's diagonal
    curvature = pg.grad(lambda z: pg.grad(lambda w: softplus(w).sum())(z).sum())(x.detach())
    np.testing.assert_allclose(curvature.numpy(), sigmoid * (1 - sigmoid), rtol=target.tol * 10, atol=1e-12)


def test_custom_primitive_passes_gradgradcheck(softplus, target64):
    assert pg.gradcheck(softplus, [target64.randn(5)], check_forward=True)
    assert pg.gradgradcheck(softplus, [target64.randn(5)])


def test_custom_primitive_names_and_missing_rules(softplus):
    with pytest.raises(ValueError, match="taken"):
        pg.custom.primitive(_softplus_forward, vjp=[None], name="softplus_under_test")
    with pytest.raises(ValueError, match="taken"):
        pg.custom.primitive(_softplus_forward, vjp=[None], name="sin")

    @pg.custom.primitive(vjp=[lambda xp, g, out, x: g * 2])
    def double_without_jvp(xp, x):
        return x * 2

    @pg.custom.primitive(vjp=None)
    def is_large(xp, x):
        return xp.astype(x > 1, x.dtype)

    try:
        x = pg.tensor([0.5, 2.0], dtype="float64", requires_grad=True)
        (double_without_jvp(x) + is_large(x) * x).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), [2.0, 3.0])  # 2 from double, the mask is a constant
        assert not is_large(x).requires_grad
        with pytest.raises(NotImplementedError, match="double_without_jvp: .* no jvp rule"):
            pg.jvp(double_without_jvp, x.detach(), pg.ones_like(x))
    finally:
        for name in ("double_without_jvp", "is_large"):
            del PRIMITIVES[name]
            delattr(ops, name)


def test_nondifferentiable_results_carry_nothing(target):
    @pg.nondifferentiable
    def rounded_scale(x):
        return pg.round(x * 10.0) / 10.0 + x

    x = target.tensor([0.26, 1.04], requires_grad=True)
    scale = rounded_scale(x)
    assert not scale.requires_grad
    (scale * x).sum().backward()  # d/dx [c * x] with c held constant
    np.testing.assert_allclose(x.grad.numpy(), scale.numpy(), rtol=target.tol)
    _, tangent = pg.jvp(rounded_scale, x.detach(), pg.ones_like(x))
    np.testing.assert_allclose(tangent.numpy(), 0.0)


def test_dual_tensors_carry_tangents_inside_forward_mode(target):
    """The seed's tangent trace with dual numbers: v̇7 = 5.5 along x1, x1 - cos(x2) along x2."""
    x1, x2 = target.tensor(2.0), target.tensor(5.0)
    with pg.forward_mode():
        a, b = pg.dual(x1, target.tensor(1.0)), pg.dual(x2)
        y = pg.log(a) + a * b - pg.sin(b)
    assert pg.tangent_of(y).item() == pytest.approx(5.5, rel=1e-6)
    assert y.item() == pytest.approx(11.652071, rel=1e-6)
    with pg.forward_mode():
        y = (lambda a, b: pg.log(a) + a * b - pg.sin(b))(pg.dual(x1), pg.dual(x2, target.tensor(1.0)))
    assert pg.tangent_of(y).item() == pytest.approx(2.0 - np.cos(5.0), rel=1e-5)
    outside = pg.dual(x1, target.tensor(1.0)) * 3.0  # outside forward mode nothing is pushed
    assert pg.tangent_of(outside).item() == 0.0
    with pytest.raises(pg.ShapeError, match="does not match primal"):
        pg.dual(x1, target.tensor([1.0, 2.0]))
