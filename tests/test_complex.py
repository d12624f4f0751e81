"""Gradients through complex values, PyTorch's convention, on every backend.

A complex leaf's gradient is dL/dx + i dL/dy (|z|² gives 2z, Re(z²) gives 2 conj(z)), a real
leaf's stays real; vjp is conj(f'(z)) g, jvp f'(z) t. Checked against torch (complex128:
values, .grad, forward-mode tangents, grad of grad) and against finite differences in the real
and imaginary directions of each entry.
"""

import numpy as np
import pytest

import polygrad as pg

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
Z = RNG.standard_normal((3, 4)) + 1j * RNG.standard_normal((3, 4))
X = RNG.standard_normal((3, 4))
W = RNG.standard_normal((3, 4)) + 1j * RNG.standard_normal((3, 4))
A = RNG.standard_normal((3, 3)) + 1j * RNG.standard_normal((3, 3)) + 3 * np.eye(3)


def _torch(data, grad=True):
    return torch.tensor(data).requires_grad_(grad)


def _host(t):
    return t.detach().resolve_conj().resolve_neg().numpy()


def _loss(y, weights, real):
    """A real loss of y: sum(Re(y w)), or sum(y Re(w)) for a real y."""
    return real(y * weights).sum() if y.dtype in (pg.complex128, torch.complex128) else (y * real(weights)).sum()


def check(target64, ours, theirs, *data, tol=1e-9):
    """ours and theirs agree in value, in every input's gradient (.grad) and in the forward-mode tangent."""
    inputs = [pg.asarray(d, backend=target64.backend, device=target64.device, requires_grad=True) for d in data]
    others = [_torch(d) for d in data]
    got, want = ours(*inputs), theirs(*others)
    np.testing.assert_allclose(got.numpy(), _host(want), rtol=tol, atol=tol)
    shape = tuple(want.shape)
    weights = RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)
    _loss(got, pg.asarray(weights, backend=target64.backend, device=target64.device), pg.real).backward()
    _loss(want, torch.tensor(weights), torch.real).backward()
    for x, o in zip(inputs, others):
        assert x.grad.dtype == x.dtype
        np.testing.assert_allclose(x.grad.numpy(), _host(o.grad), rtol=tol, atol=tol)
    tangents = [RNG.standard_normal(d.shape) + (1j * RNG.standard_normal(d.shape) if np.iscomplexobj(d) else 0)
                for d in data]
    _, tangent = pg.jvp(ours, tuple(x.detach() for x in inputs),
                        tuple(pg.asarray(t, backend=target64.backend, device=target64.device) for t in tangents))
    _, expected = torch.func.jvp(theirs, tuple(torch.tensor(d) for d in data), tuple(torch.tensor(t) for t in tangents))
    np.testing.assert_allclose(tangent.numpy(), _host(expected), rtol=tol, atol=tol)


def test_the_convention_by_hand(target64):
    z = pg.asarray(Z, backend=target64.backend, device=target64.device, requires_grad=True)
    pg.sum(pg.abs(z) ** 2).backward()
    np.testing.assert_allclose(z.grad.numpy(), 2 * Z, rtol=1e-12)  # |z|² -> 2z
    z.grad = None
    pg.sum(pg.real(z * z)).backward()
    np.testing.assert_allclose(z.grad.numpy(), 2 * np.conj(Z), rtol=1e-12)  # Re(z²) -> 2 conj(z)
    x = pg.asarray(X, backend=target64.backend, device=target64.device, requires_grad=True)
    pg.sum(pg.abs(x * pg.asarray(Z, backend=target64.backend, device=target64.device))).backward()
    assert x.grad.dtype == pg.float64  # a real leaf's gradient stays real: |x z| -> sign(x)|z|
    np.testing.assert_allclose(x.grad.numpy(), np.sign(X) * np.abs(Z), rtol=1e-12)


def test_the_silently_wrong_forward_mode_cases_of_the_issue(target64):
    """jvp through fft was all zeros and a real function through complex abs got a complex tangent."""
    w = pg.asarray(Z[0, :2], backend=target64.backend, device=target64.device)
    x, t = (pg.asarray(v, backend=target64.backend, device=target64.device, dtype="float64")
            for v in ([1.0, 2.0], [1.0, 0.0]))
    _, tangent = pg.jvp(lambda x: pg.sum(pg.abs(w * x)), (x,), (t,))
    assert tangent.dtype == pg.float64 and tangent.item() == pytest.approx(abs(Z[0, 0]), rel=1e-12)
    _, tangent = pg.jvp(lambda x: pg.real(pg.fft.fft(pg.astype(x, "complex128"))), (x,), (t,))
    np.testing.assert_allclose(tangent.numpy(), [1.0, 1.0], rtol=1e-12)


ELEMENTWISE = {
    "multiply-divide": (lambda a, b: a * b / (a + 2.0), [Z, W]),
    "mixed real and complex": (lambda a, x: a * x - x / a, [Z, X]),
    "exp-log-sqrt": (lambda a: lambda_exp(a), [Z]),
    "trig": (lambda a: a.sin() * a.cos() + a.tanh(), [Z]),
    "pow": (lambda a, b: a ** 3 + a ** b, [Z, W]),
    "abs-angle": (lambda a: a.abs() * a.angle(), [Z]),
    "real-imag-conj": (lambda a: a.real * a.imag + (a.conj() * a).real, [Z]),
    "reciprocal-expm1-log1p": (lambda a: 1 / a + a.expm1() + (a * 0.1).log1p(), [Z]),
    "astype": (lambda x: (x.to(torch.complex128) if isinstance(x, torch.Tensor) else pg.astype(x, "complex128"))
               * (1 + 2j), [X]),
}


def lambda_exp(a):
    return a.exp() + a.log() * a.sqrt()




@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_against_torch(target64, name):
    f, data = ELEMENTWISE[name]
    check(target64, f, f, *data)


@pytest.mark.parametrize("name", ["sum-mean-prod", "reshape-index-concat", "matmul", "where-flip-roll"])
def test_reductions_shapes_and_matmul_against_torch(target64, name):
    fs = {
        "sum-mean-prod": (lambda a: pg.sum(a, axis=0) * pg.mean(a, axis=0) + pg.prod(a, axis=0),
                          lambda a: a.sum(0) * a.mean(0) + a.prod(0)),
        "reshape-index-concat": (lambda a: pg.concat([pg.reshape(a, (4, 3))[1:, ::2], pg.matrix_transpose(a)[:2, 1:3]]),
                                 lambda a: torch.cat([a.reshape(4, 3)[1:, ::2], a.T[:2, 1:3]])),
        "matmul": (lambda a: a @ pg.matrix_transpose(a) @ a, lambda a: a @ a.T @ a),
        "where-flip-roll": (lambda a: pg.where(pg.real(a) > 0, pg.flip(a, axis=1), pg.roll(a, 1, axis=0)),
                            lambda a: torch.where(a.real > 0, a.flip(1), a.roll(1, 0))),
    }
    check(target64, *fs[name], Z)


def _hermitian(a):
    return (a + (a.mH if isinstance(a, torch.Tensor) else pg.conj(pg.matrix_transpose(a)))) * 0.5


def _eigh_invariant(result):
    """The eigenvalues and |V|² (each eigenvector's phase is arbitrary), side by side."""
    values, vectors = result
    return (vectors.abs() ** 2 * values[..., None, :]).sum(-1) if isinstance(values, torch.Tensor) else \
        pg.sum(pg.abs(vectors) ** 2 * values[..., None, :], axis=-1)


@pytest.mark.parametrize("name", ["inv", "solve", "det", "logabsdet", "eigh", "eigvalsh", "svdvals"])
def test_complex_linear_algebra_against_torch(target64, name):
    fs = {
        "inv": (pg.linalg.inv, torch.linalg.inv),
        "solve": (lambda a, b: pg.linalg.solve(a, b), torch.linalg.solve),
        "det": (pg.linalg.det, torch.linalg.det),
        "logabsdet": (lambda a: pg.linalg.slogdet(a).logabsdet, lambda a: torch.linalg.slogdet(a).logabsdet),
        "eigh": (lambda a: _eigh_invariant(pg.linalg.eigh(_hermitian(a))),
                 lambda a: _eigh_invariant(torch.linalg.eigh(_hermitian(a)))),
        "eigvalsh": (lambda a: pg.linalg.eigvalsh(_hermitian(a)), lambda a: torch.linalg.eigvalsh(_hermitian(a))),
        "svdvals": (pg.linalg.svdvals, torch.linalg.svdvals),
    }
    data = [A, Z] if name == "solve" else [A]
    check(target64, *fs[name], *data)


FFTS = [("fft", {}), ("fft", {"n": 3, "norm": "ortho"}), ("fft", {"n": 6, "axis": 0, "norm": "forward"}),
        ("ifft", {"n": 5}), ("fftn", {"s": (2, 6)}), ("ifftn", {"axes": (0,), "norm": "ortho"}),
        ("rfft", {"real": True}), ("rfft", {"real": True, "n": 7, "norm": "forward"}),
        ("irfft", {}), ("irfft", {"n": 5, "norm": "ortho"}), ("irfft", {"n": 8}), ("hfft", {"norm": "forward"}),
        ("ihfft", {"real": True, "n": 5}), ("rfftn", {"real": True, "s": (4, 5)}), ("irfftn", {"s": (2, 7)}),
        ("irfftn", {"norm": "forward"})]


@pytest.mark.parametrize("name, options", FFTS, ids=[f"{n}-{o}" for n, o in FFTS])
def test_fft_against_torch(target64, name, options):
    options = dict(options)
    data = X if options.pop("real", False) else Z
    renamed = {"axis": "dim", "axes": "dim"}
    theirs = {renamed.get(k, k): v for k, v in options.items()}
    check(target64, lambda a: getattr(pg.fft, name)(a, **options), lambda a: getattr(torch.fft, name)(a, **theirs), data)


def _complex_finite_differences(loss, z, h=1e-6):
    """dL/dx + i dL/dy entry by entry, by central differences."""
    grad = np.zeros_like(z)
    for index in np.ndindex(z.shape):
        for direction in (1, 1j):
            step = np.zeros_like(z)
            step[index] = h * direction
            slope = (loss(z + step) - loss(z - step)) / (2 * h)
            grad[index] += slope * direction
    return grad


@pytest.mark.parametrize("name", ["abs-square", "fft", "irfft", "eig-free"])
def test_complex_leaf_against_finite_differences(target64, name):
    def on(z):
        return pg.asarray(z, backend=target64.backend, device=target64.device)

    fs = {
        "abs-square": lambda z: pg.sum(pg.abs(z * z + 1) ** 1.5),
        "fft": lambda z: pg.sum(pg.real(pg.fft.fft(z, axis=0) * pg.conj(z)) ** 2),
        "irfft": lambda z: pg.sum(pg.fft.irfft(z, n=7, norm="ortho") ** 3),
        "eig-free": lambda z: pg.sum(pg.imag(pg.linalg.inv(z[:, :3] + 3.0) @ z)),
    }
    f = fs[name]
    z = on(Z).requires_grad_()
    f(z).backward()
    expected = _complex_finite_differences(lambda v: f(on(v)).item(), Z)
    np.testing.assert_allclose(z.grad.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_grad_of_grad_through_complex_values(target64):
    """A Hessian-vector product of a real function of a complex leaf, against torch."""
    def f(a):
        return ((a * a).exp().real * a.abs()).sum() + a.angle().sum()

    z = pg.asarray(Z, backend=target64.backend, device=target64.device, requires_grad=True)
    (g,) = pg.autograd.grad(f(z), [z], create_graph=True)
    pg.sum(pg.real(g * pg.asarray(W, backend=target64.backend, device=target64.device))).backward()
    zt = _torch(Z)
    (gt,) = torch.autograd.grad(f(zt), [zt], create_graph=True)
    (gt * torch.tensor(W)).real.sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), _host(zt.grad), rtol=1e-9, atol=1e-9)


def test_eigh_refuses_a_loss_that_depends_on_the_eigenvectors_phase(target64):
    a = pg.asarray(A, backend=target64.backend, device=target64.device, requires_grad=True)
    _, vectors = pg.linalg.eigh(_hermitian(a))
    with pytest.raises(ValueError, match="linalg.eigh: the loss depends on the phase of the eigenvectors"):
        pg.sum(pg.imag(vectors)).backward()


def test_primitives_without_complex_rules_refuse(target64):
    z = pg.asarray(Z, backend=target64.backend, device=target64.device, requires_grad=True)
    with pytest.raises(pg.DtypeError, match="linear: no derivative through complex values"):
        pg.linear(z, z, z[:, 0])
    with pytest.raises(pg.DtypeError, match="linalg_cholesky: no derivative through complex values"):
        pg.linalg.cholesky(pg.asarray(A @ A.conj().T, backend=target64.backend, device=target64.device) * pg.abs(z[0, 0]))
    with pytest.raises(pg.DtypeError, match="linear: no derivative through complex values"):
        pg.jvp(lambda a: pg.linear(a, a, a[:, 0]), (z.detach(),), (z.detach(),))
    for decomposition in (pg.linalg.svd, pg.linalg.qr, pg.linalg.pinv):
        with pytest.raises(pg.DtypeError, match="complex"):
            decomposition(z[:, :3] @ pg.conj(pg.matrix_transpose(z[:, :3])))
    with pg.no_grad():
        assert pg.linear(z, z, z[:, 0]).shape == (3, 3)
