"""The backends' L-BFGS kernels (kernel_lbfgs_direction, kernel_lbfgs_update: optim/kernels.py) against the portable
two-loop and move (LBFGS._two_loop, LBFGS._move) and against torch.optim.LBFGS, with and without the strong-Wolfe
line search, over three parameters of different shapes on a loss with curvature that changes (quartic terms)."""

import numpy as np
import pytest

import polygrad as pg

from conftest import _usable

torch = pytest.importorskip("torch")

SHAPES = [(3, 4), (5,), ()]
FUSED = [("numpy", "cpu"), ("torch", "cpu"), ("cupy", "cuda:0"), ("torch", "cuda:0")]  # cupy: no kernels yet
OPTIONS = {
    "fixed-step-short-history": dict(lr=0.5, max_iter=5, history_size=3),  # the history is cut from the 4th pair
    "long-history": dict(lr=1.0, max_iter=6),  # two steps of 6 stay short of the minimum (~16 iterations away),
    "strong-wolfe": dict(line_search_fn="strong_wolfe", max_iter=6),  # where float32 stops on rounding noise
    "strong-wolfe-short-history": dict(line_search_fn="strong_wolfe", lr=0.3, max_iter=6, history_size=2, max_eval=9),
}
STEPS = 2


def _data():
    rng = np.random.default_rng(7)
    return ([rng.standard_normal(shape) for shape in SHAPES], [rng.uniform(0.5, 2.0, shape) for shape in SHAPES],
            [rng.standard_normal(shape) for shape in SHAPES])


def _loss(ps, cs, bs):
    """sum of p^4 / 4 + c p^2 / 2 - b p over every parameter, and a coupling of the first two."""
    total = ps[0].sum() * ps[1].sum() * 0.1
    for p, c, b in zip(ps, cs, bs):
        total = total + (p ** 4).sum() * 0.25 + (p * p * c).sum() * 0.5 - (p * b).sum()
    return total


def _run(framework, make, tensor, options):
    """(the losses step() returned, the parameters' final values, the optimizer), STEPS steps."""
    start, cs, bs = _data()
    ps = [make(w) for w in start]
    cs, bs = [tensor(c) for c in cs], [tensor(b) for b in bs]
    opt = framework.optim.LBFGS(ps, **options)

    def closure():
        opt.zero_grad()
        loss = _loss(ps, cs, bs)
        loss.backward()
        return loss

    losses = [float(opt.step(closure).detach()) for _ in range(STEPS)]
    return losses, [np.asarray(p.detach().cpu().numpy() if framework is torch else p.numpy()) for p in ps], opt


def _run_polygrad(backend, device, dtype, options):
    def tensor(a):
        return pg.tensor(a, backend=backend, device=device, dtype=dtype)

    return _run(pg, lambda a: pg.tensor(a, backend=backend, device=device, dtype=dtype, requires_grad=True),
                tensor, options)


def _run_torch(options):
    return _run(torch, lambda a: torch.tensor(a, dtype=torch.float64, requires_grad=True),
                lambda a: torch.tensor(a, dtype=torch.float64), options)


def _xp(backend, device):
    usable, why = _usable(backend, device)
    if not usable:
        pytest.skip(why)
    xp = pg.tensor(0.0, backend=backend, device=device).xp
    if not hasattr(xp, "kernel_lbfgs_direction"):
        pytest.skip(f"{backend} has no L-BFGS kernels")
    return xp


def _counting(monkeypatch, xp):
    """Wrap both kernels to count their calls: {name: number of calls}."""
    calls = {}
    for name in ("kernel_lbfgs_direction", "kernel_lbfgs_update"):
        kernel = getattr(xp, name)
        calls[name] = 0

        def counted(*args, kernel=kernel, name=name):
            calls[name] += 1
            return kernel(*args)

        monkeypatch.setattr(xp, name, counted)
    return calls


@pytest.mark.parametrize("backend, device", FUSED)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", OPTIONS)
def test_kernels_equal_the_portable_lbfgs(monkeypatch, backend, device, dtype, name):
    xp = _xp(backend, device)
    calls = _counting(monkeypatch, xp)
    losses, params, opt = _run_polygrad(backend, device, dtype, OPTIONS[name])
    assert calls["kernel_lbfgs_direction"] > 0 and calls["kernel_lbfgs_update"] > 0
    for kernel in calls:
        monkeypatch.delattr(xp, kernel)
    portable_losses, portable_params, portable_opt = _run_polygrad(backend, device, dtype, OPTIONS[name])
    # float32: the dots' summation order differs (BLAS vs a sum of products)
    tol = 1e-12 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(losses, portable_losses, rtol=tol, atol=tol)
    for got, expected in zip(params, portable_params):
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
    (state,), (other,) = opt.state_dict()["state"].values(), portable_opt.state_dict()["state"].values()
    assert set(state) == set(other)
    for key in ("d", "prev_flat_grad"):
        np.testing.assert_allclose(state[key].numpy(), other[key].numpy(), rtol=tol, atol=tol, err_msg=key)
    assert len(state["old_dirs"]) == len(other["old_dirs"])
    for key in ("t", "H_diag"):
        assert state[key] == pytest.approx(other[key], rel=tol), key
    assert (state["func_evals"], state["n_iter"]) == (other["func_evals"], other["n_iter"])


@pytest.mark.parametrize("backend, device", FUSED)
@pytest.mark.parametrize("name", OPTIONS)
def test_kernels_follow_torch_optim_lbfgs(monkeypatch, backend, device, name):
    xp = _xp(backend, device)
    calls = _counting(monkeypatch, xp)
    losses, params, opt = _run_polygrad(backend, device, "float64", OPTIONS[name])
    assert calls["kernel_lbfgs_direction"] > 0
    expected_losses, expected_params, torch_opt = _run_torch(OPTIONS[name])
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-9, atol=1e-12)
    for got, expected in zip(params, expected_params):
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    ours, theirs = opt.state_dict()["state"][0], torch_opt.state_dict()["state"][0]
    assert (ours["func_evals"], ours["n_iter"]) == (theirs["func_evals"], theirs["n_iter"])


def test_numpy_kernels_allocate_only_the_direction():
    """kernel_lbfgs_direction makes one flat vector (the direction it returns), kernel_lbfgs_update nothing of the
    parameters' size, once the scratch buffer has grown (NumPy reports its buffers to tracemalloc)."""
    tracemalloc = pytest.importorskip("tracemalloc")
    xp = pg.tensor(0.0, backend="numpy").xp
    rng = np.random.default_rng(3)
    n, pairs = 60_000, 4
    grad = rng.standard_normal(n)
    dirs, steps = [rng.standard_normal(n) for _ in range(pairs)], [rng.standard_normal(n) for _ in range(pairs)]
    ro = [1.0 / float(y @ s) for y, s in zip(dirs, steps)]
    ws = [rng.standard_normal((100, 300)), rng.standard_normal(30_000)]
    d = xp.kernel_lbfgs_direction(grad, dirs, steps, ro, 0.5)
    xp.kernel_lbfgs_update(ws, d, 0.1)
    tracemalloc.start()
    try:
        d = xp.kernel_lbfgs_direction(grad, dirs, steps, ro, 0.5)
        direction_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        xp.kernel_lbfgs_update(ws, d, 0.1)
        update_peak = tracemalloc.get_traced_memory()[1] - tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert direction_peak < 1.3 * grad.nbytes
    assert update_peak < 0.3 * grad.nbytes


def test_the_numpy_direction_is_the_two_loop_recursion_by_hand():
    """kernel_lbfgs_direction with one (s, y) pair against the recursion written out by hand:
    a = rho s.(-g), r = h (-g - a y), d = r + s (a - rho y.r)."""
    xp = pg.tensor(0.0, backend="numpy").xp
    g, s, y, h = np.array([1.0, -2.0, 0.5]), np.array([0.3, 0.1, -0.2]), np.array([0.2, 0.4, -0.1]), 0.7
    rho = 1.0 / (y @ s)
    alpha = rho * (s @ -g)
    q = -g - alpha * y
    r = q * h
    beta = rho * (y @ r)
    np.testing.assert_allclose(xp.kernel_lbfgs_direction(g, [y], [s], [rho], h), r + s * (alpha - beta), rtol=1e-14)
