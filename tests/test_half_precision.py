"""float16 and bfloat16 as real dtypes, held to PyTorch on the CPU: promotion, casts, limits,
values and gradients in their own dtype, files.

NumPy's bfloat16 comes from ml_dtypes (optional); its cases skip without it.
"""

import numpy as np
import pytest

import polygrad as pg
from torch_oracle import needs_torch, torch

try:
    import ml_dtypes
except ImportError:
    ml_dtypes = None

HALF = ("float16", "bfloat16")
# how far a half-precision result may sit from torch's: a few units in the last place
TOLERANCE = {"float16": 4e-3, "bfloat16": 3e-2}


@pytest.fixture(params=["numpy", "torch", "cupy"])
def half_backend(request):
    name = request.param
    if name not in request.config.polygrad_backends:
        pytest.skip(f"{name} is not selected")
    try:
        pg.backends.get(name)
    except pg.BackendUnavailable as error:
        pytest.skip(str(error))
    return name


def _needs(backend, dtype):
    if backend == "numpy" and dtype == "bfloat16" and ml_dtypes is None:
        pytest.skip("bfloat16 on numpy needs ml_dtypes")
    if backend != "numpy" and torch is None:
        pytest.skip("torch is not installed")


def _torch_dtype(name):
    return getattr(torch, name)


# ---------------------------------------------------------------- promotion
# (dtype, ndim) of two operands; torch decides the result dtype
PAIRS = [
    (("float16", 1), ("bfloat16", 1)), (("float16", 1), ("float32", 0)), (("float16", 0), ("float32", 1)),
    (("bfloat16", 1), ("float32", 0)), (("bfloat16", 1), ("float16", 0)), (("float16", 0), ("bfloat16", 0)),
    (("int64", 1), ("float16", 0)), (("int32", 1), ("bfloat16", 0)), (("float16", 1), ("int64", 0)),
    (("float16", 1), ("float32", 1)), (("bfloat16", 2), ("float64", 1)), (("float32", 1), ("float64", 0)),
    (("int64", 1), ("float64", 0)), (("bool", 1), ("float16", 0)), (("float16", 1), ("float64", 0)),
]


@needs_torch
@pytest.mark.parametrize("a, b", PAIRS, ids=lambda p: f"{p[0]}-{p[1]}d")
def test_promotion_is_torchs(half_backend, a, b):
    for name, _ in (a, b):
        _needs(half_backend, name)

    def make(spec, library):
        name, ndim = spec
        shape = (2,) * ndim
        if library == "torch":
            return torch.ones(shape, dtype=_torch_dtype(name))
        return pg.ones(shape, dtype=name, backend=half_backend)

    for op in ("add", "multiply", "maximum"):
        want = getattr(torch, op)(make(a, "torch"), make(b, "torch")).dtype
        got = getattr(pg, op)(make(a, "pg"), make(b, "pg")).dtype
        assert got == str(want).removeprefix("torch."), (op, a, b)


@pytest.mark.parametrize("dtype", HALF)
def test_python_scalars_keep_the_half_dtype(half_backend, dtype):
    _needs(half_backend, dtype)
    x = pg.ones(3, dtype=dtype, backend=half_backend)
    for result in (x + 1.5, 2 * x, x / 3, x + True, x ** 2, pg.where(x > 0, x, 0.0)):
        assert result.dtype == dtype
    assert (pg.arange(3, backend=half_backend) + pg.asarray(0.5, dtype=dtype, backend=half_backend)).dtype == dtype


def test_result_type_meets_float16_and_bfloat16_in_float32():
    assert pg.result_type(pg.float16, pg.bfloat16) == pg.float32
    assert pg.result_type(pg.float16, pg.float32) == pg.float32
    assert pg.result_type(pg.bfloat16, pg.float64) == pg.float64
    assert pg.result_type(pg.float16, pg.complex64) == pg.complex64


# ---------------------------------------------------------------- casts and predicates
@pytest.mark.parametrize("dtype", HALF)
def test_casts_and_is_floating_point(half_backend, dtype):
    _needs(half_backend, dtype)
    x = pg.ones(2, 3, backend=half_backend)
    assert x.half().dtype == pg.float16 and x.bfloat16().dtype == pg.bfloat16
    y = x.to(dtype)
    assert y.dtype == dtype and y.float().dtype == pg.float32 and y.is_floating_point()
    assert not pg.ones(2, dtype="int64", backend=half_backend).is_floating_point()
    model = pg.nn.Sequential(pg.nn.Linear(3, 4), pg.nn.LayerNorm(4))
    model.to(backend=half_backend) if half_backend != "numpy" else None
    getattr(model, {"float16": "half", "bfloat16": "bfloat16"}[dtype])()
    assert all(p.dtype == dtype for p in model.parameters())
    assert model(y).dtype == dtype


@needs_torch
@pytest.mark.parametrize("dtype", HALF)
def test_finfo_is_torchs(dtype):
    ours, theirs = pg.finfo(dtype), torch.finfo(_torch_dtype(dtype))
    assert ours.dtype == dtype and ours.bits == theirs.bits
    for field in ("eps", "max", "min", "smallest_normal"):
        assert getattr(ours, field) == getattr(theirs, field), field


def test_bfloat16_on_numpy_without_ml_dtypes_names_the_install(monkeypatch):
    monkeypatch.delattr(pg.backends.get("numpy").xp, "bfloat16", raising=False)
    with pytest.raises(pg.DtypeError, match="pip install ml_dtypes"):
        pg.ones(2, dtype=pg.bfloat16, backend="numpy")


# ---------------------------------------------------------------- values and gradients against torch
OPS = {
    "matmul": (lambda m, a, b: m.matmul(a, b.T), 2),
    "linear": (lambda m, a, b: m.nn.functional.linear(a, b), 2),
    "exp": (lambda m, a: m.exp(a), 1),
    "tanh": (lambda m, a: m.tanh(a), 1),
    "sum": (lambda m, a: a.sum(dim=-1), 1),
    "mean": (lambda m, a: a.mean(), 1),
    "softmax": (lambda m, a: m.nn.functional.softmax(a, dim=-1), 1),
    "log_softmax": (lambda m, a: m.nn.functional.log_softmax(a, dim=-1), 1),
    "layer_norm": (lambda m, a: m.nn.functional.layer_norm(a, (a.shape[-1],)), 1),
    "gelu": (lambda m, a: m.nn.functional.gelu(a), 1),
    "mul": (lambda m, a, b: a * b, 2),
}


@needs_torch
@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("op", OPS)
def test_values_and_gradients_in_the_half_dtype(half_backend, dtype, op):
    """Forward and backward in float16/bfloat16 agree with torch's CPU within half precision, and each
    gradient keeps its tensor's dtype (a dtype-kind test on ml_dtypes' bfloat16 would drop it)."""
    _needs(half_backend, dtype)
    function, arity = OPS[op]
    rng = np.random.default_rng(0)
    values = [rng.standard_normal((4, 8)).astype(np.float32) for _ in range(arity)]
    mine = [pg.tensor(v, backend=half_backend).to(dtype).requires_grad_() for v in values]
    theirs = [torch.tensor(v).to(_torch_dtype(dtype)).requires_grad_() for v in values]
    out, want = function(pg, *mine), function(torch, *theirs)
    assert out.dtype == dtype
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(out.float().numpy(), want.float().detach().numpy(), rtol=tol, atol=tol)
    cotangent = rng.standard_normal(tuple(want.shape)).astype(np.float32)
    (out * pg.tensor(cotangent, backend=half_backend).to(dtype)).sum().backward()
    (want * torch.tensor(cotangent).to(_torch_dtype(dtype))).sum().backward()
    for m, t in zip(mine, theirs):
        assert m.grad is not None and m.grad.dtype == dtype
        np.testing.assert_allclose(m.grad.float().numpy(), t.grad.float().numpy(), rtol=4 * tol, atol=4 * tol)


@pytest.mark.skipif(ml_dtypes is None, reason="needs ml_dtypes")
def test_numpy_bfloat16_matmul_and_reductions_stay_bfloat16():
    """NumPy's matmul of two bfloat16 arrays is float32; polygrad rounds it back as torch does."""
    a = pg.ones(3, 4, dtype=pg.bfloat16, backend="numpy")
    assert (a @ a.T).dtype == pg.bfloat16 and (a @ a.T).array.dtype.name == "bfloat16"
    assert pg.sum(a).dtype == pg.bfloat16 and pg.sum(a, dtype=pg.float32).dtype == pg.float32
    assert pg.clip(a, 0, 1).dtype == pg.bfloat16
    # 4096 ones summed in bfloat16 steps would stop at 256; torch (and polygrad) accumulate in float32
    assert pg.sum(pg.ones(4096, dtype=pg.bfloat16, backend="numpy")).item() == 4096


def test_float32_parameter_cast_to_half_gets_a_float32_gradient(half_backend):
    _needs(half_backend, "float16")
    w = pg.ones(3, 3, backend=half_backend, requires_grad=True)
    x = pg.ones(2, 3, dtype=pg.float16, backend=half_backend)
    (x @ w.half()).float().sum().backward()
    assert w.grad.dtype == pg.float32
    np.testing.assert_array_equal(w.grad.numpy(), np.full((3, 3), 2.0, np.float32))


# ---------------------------------------------------------------- files
@pytest.mark.parametrize("dtype", HALF)
def test_checkpoint_and_save_round_trip(half_backend, dtype, tmp_path):
    _needs(half_backend, dtype)
    pg.manual_seed(0)
    model = pg.nn.Linear(3, 2).to(half_backend).to(dtype=dtype)
    optimizer = pg.optim.Adam(model.parameters())
    model(pg.ones(4, 3, backend=half_backend, dtype=dtype)).sum().backward()
    optimizer.step()
    pg.checkpoint.save(tmp_path / "c.npz", model, optimizer)
    other = pg.nn.Linear(3, 2).to(half_backend).to(dtype=dtype)
    other_optimizer = pg.optim.Adam(other.parameters())
    pg.checkpoint.load(tmp_path / "c.npz", other, other_optimizer)
    assert other.weight.dtype == dtype and bool((other.weight == model.weight).all())
    assert other_optimizer.state_dict()["state"][0]["exp_avg"].dtype == dtype
    pg.save({"w": model.weight, "b": model.bias.detach()}, tmp_path / "s.pt")
    loaded = pg.load(tmp_path / "s.pt")
    assert loaded["w"].dtype == dtype and loaded["w"].device.backend.name == half_backend
    assert bool((loaded["w"] == model.weight).all()) and bool((loaded["b"] == model.bias).all())


@needs_torch
@pytest.mark.skipif(ml_dtypes is None, reason="needs ml_dtypes")
def test_torch_bfloat16_numpy_copy_is_ml_dtypes():
    x = pg.tensor([1.5, -2.25], backend="torch").bfloat16()
    host = x.numpy()
    assert host.dtype == np.dtype(ml_dtypes.bfloat16) and host.tolist() == [1.5, -2.25]
    assert x.to("numpy").dtype == pg.bfloat16 and x.to("numpy").to("torch").dtype == pg.bfloat16
