"""Tensor creation, attributes, conversion, operators and indexing."""

import numpy as np
import pytest

import polygrad as pg


def test_creation_functions_honour_backend_device_dtype(target):
    kw = dict(backend=target.backend, device=target.device, dtype=target.dtype)
    made = [pg.zeros((2, 3), **kw), pg.ones(4, **kw), pg.full((2,), 1.5, **kw), pg.empty((1, 2), **kw),
            pg.eye(3, **kw), pg.linspace(0, 1, 5, **kw), pg.arange(0.0, 2.0, 0.5, **kw),
            pg.tensor([[1, 2], [3, 4]], **kw)]
    for t in made:
        assert t.backend.name == target.backend
        assert str(t.device) == target.device
        assert t.dtype == pg.zeros(1, **kw).dtype
    np.testing.assert_allclose(made[5].numpy(), np.linspace(0, 1, 5), rtol=1e-6)
    np.testing.assert_allclose(made[6].numpy(), [0.0, 0.5, 1.0, 1.5])
    like = pg.ones_like(made[0])
    assert like.shape == (2, 3) and like.device == made[0].device and like.dtype == made[0].dtype
    float32 = pg.zeros(1, backend=target.backend, device=target.device, dtype="float32").dtype
    assert pg.zeros_like(made[0], dtype="float32").dtype == float32


def test_default_dtypes_never_follow_the_library():
    assert pg.tensor([1.0, 2.0], backend="numpy").dtype == pg.float32
    assert pg.tensor([1, 2], backend="numpy").dtype == pg.int64
    if "torch" in pg.backends.available():
        assert pg.tensor([1.0], backend="torch").dtype is pg.float32
    assert pg.tensor([1.0], backend="array_api_strict").dtype is pg.float32
    assert pg.tensor(np.array([1.0])).dtype is pg.float64  # an array keeps its dtype


def test_attributes_and_conversions(target):
    x = target.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6 and len(x) == 2
    assert x.T.shape == (3, 2) and x.mT.shape == (3, 2)
    assert isinstance(x.numpy(), np.ndarray)
    assert x.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert x[1, 2].item() == 6.0
    assert x.array is not None and x.backend.name == target.backend


def test_to_moves_between_backends_and_devices():
    x = pg.tensor([1.0, 2.0], backend="numpy")
    y = x.to("array_api_strict")
    assert y.backend.name == "array_api_strict" and str(y.device) == "CPU_DEVICE"
    z = y.to("device1")
    assert str(z.device) == "device1"
    back = z.to("cpu")
    assert back.backend.name == "array_api_strict" and str(back.device) == "CPU_DEVICE"
    assert z.to("numpy").backend.name == "numpy"
    np.testing.assert_allclose(z.to("numpy").numpy(), [1.0, 2.0])
    assert pg.tensor(z.array).device == z.device  # an array of any backend keeps its device


def test_python_operators_and_reflected_scalars(target):
    x = target.tensor([1.0, 2.0, 4.0])
    cases = {
        "add": (x + 1, 1 + x, [2, 3, 5], [2, 3, 5]),
        "sub": (x - 1, 1 - x, [0, 1, 3], [0, -1, -3]),
        "mul": (x * 2, 2 * x, [2, 4, 8], [2, 4, 8]),
        "div": (x / 2, 2 / x, [0.5, 1, 2], [2, 1, 0.5]),
        "pow": (x ** 2, 2 ** x, [1, 4, 16], [2, 4, 16]),
    }
    for name, (forward, reflected, want, want_reflected) in cases.items():
        np.testing.assert_allclose(forward.numpy(), want, err_msg=name)
        np.testing.assert_allclose(reflected.numpy(), want_reflected, err_msg=name)
        assert forward.dtype == x.dtype and reflected.dtype == x.dtype
    np.testing.assert_array_equal((-x).numpy(), [-1, -2, -4])
    np.testing.assert_array_equal((x > 1.5).numpy(), [False, True, True])
    np.testing.assert_array_equal((x == 2).numpy(), [False, True, False])


def test_float_scalar_with_integer_tensor_is_not_truncated(target):
    i = pg.tensor([1, 2], backend=target.backend, device=target.device)
    np.testing.assert_allclose((i * 0.5).numpy(), [0.5, 1.0])


def test_indexing_forms(target):
    base = np.arange(12.0).reshape(3, 4)
    x = target.tensor(base)
    np.testing.assert_array_equal(x[1].numpy(), base[1])
    np.testing.assert_array_equal(x[:, 1:3].numpy(), base[:, 1:3])
    np.testing.assert_array_equal(x[..., -1].numpy(), base[..., -1])
    np.testing.assert_array_equal(x[None, 1].numpy(), base[None, 1])
    np.testing.assert_array_equal(x[pg.tensor([2, 0, 2], backend=target.backend, device=target.device)].numpy(), base[[2, 0, 2]])
    np.testing.assert_array_equal(x[[0, 2], [3, -1]].numpy(), base[[0, 2], [3, -1]])
    np.testing.assert_array_equal(x[x > 5].numpy(), base[base > 5])
    idx = pg.tensor([3, 0, -1], backend=target.backend, device=target.device)
    np.testing.assert_array_equal(x[:, idx].numpy(), base[:, [3, 0, -1]])
    np.testing.assert_array_equal(x[1:, [[0, 1], [2, 2]]].numpy(), base[1:, [[0, 1], [2, 2]]])
    np.testing.assert_array_equal(x[..., [True, False, True, False]].numpy(), base[..., [True, False, True, False]])
    np.testing.assert_array_equal(x[0, [0, -1]].numpy(), base[0, [0, -1]])  # an integer is a 0-d index array
    with pytest.raises(IndexError, match="only with slices"):
        x[None, [0, 1]]


def test_index_gradient_accumulates_repeats(target):
    x = target.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 2, 2, 2]].sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 0.0, 3.0])
    m = target.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    (m[:, [2, 2, 0]] * target.tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_allclose(m.grad.numpy(), [[3.0, 0.0, 3.0], [3.0, 0.0, 3.0]])


def test_in_place_updates_bump_the_version(target):
    x = target.tensor([1.0, 2.0])
    v = x._version
    x.add_(1.0)
    x.mul_(2.0)
    x[0] = 10.0
    assert x._version == v + 3
    np.testing.assert_allclose(x.numpy(), [10.0, 6.0])
    p = target.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        p.add_(1.0)
    with pg.no_grad():
        p.sub_(0.5)
    assert p.item() == 0.5


def test_seeded_random_is_reproducible_per_backend(target):
    def draw(seed):
        g = pg.random.Generator(seed, device=target.device, backend=target.backend)
        return g.randn(5, dtype=target.dtype).numpy(), g.rand(3, dtype=target.dtype).numpy(), g.randint(0, 10, (4,)).numpy()

    first, again, other = draw(7), draw(7), draw(8)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])
    assert np.all((first[1] >= 0) & (first[1] < 1)) and np.all((first[2] >= 0) & (first[2] < 10))
    pg.manual_seed(3)
    a = pg.randn(4, backend=target.backend, device=target.device).numpy()
    pg.manual_seed(3)
    b = pg.randn(4, backend=target.backend, device=target.device).numpy()
    np.testing.assert_array_equal(a, b)


def test_method_aliases(target):
    x = target.tensor([[1.0, -2.0], [3.0, 4.0]])
    np.testing.assert_allclose(x.sum(axis=0).numpy(), [4.0, 2.0])
    np.testing.assert_allclose(x.reshape(4).numpy(), [1, -2, 3, 4])
    np.testing.assert_allclose(x.reshape(1, 4).numpy(), [[1, -2, 3, 4]])
    np.testing.assert_allclose(x.permute(1, 0).numpy(), [[1, 3], [-2, 4]])
    np.testing.assert_allclose(x.relu().numpy(), [[1, 0], [3, 4]])
    np.testing.assert_allclose(x.abs().max().numpy(), 4.0)


def test_scalars_take_the_dtype_of_the_numeric_operand(target):
    x = target.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = pg.where(x > 0, x, 0.0)
    assert y.dtype == x.dtype
    np.testing.assert_array_equal(y.numpy(), [1.0, 0.0, 3.0])
    np.testing.assert_array_equal(pg.where(x > 0, 1, x).numpy(), [1.0, -2.0, 1.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 1.0])


def test_integer_operands_promote_like_pytorch(target):
    i = pg.tensor([1, 2], backend=target.backend, device=target.device)
    x = target.tensor([0.5, 0.5])
    default_float = pg.zeros(1, backend=target.backend, device=target.device).dtype
    assert (i + x).dtype == x.dtype and (x * i).dtype == x.dtype
    np.testing.assert_allclose((i + x).numpy(), [1.5, 2.5])
    assert (i / i).dtype == default_float  # true division
    np.testing.assert_allclose((i / pg.tensor([2, 4], backend=target.backend, device=target.device)).numpy(), [0.5, 0.5])
    assert (i + i).dtype == i.dtype  # integers alone stay integers
    np.testing.assert_array_equal((i > 1.5).numpy(), [False, True])


def test_axis_may_be_a_list(target):
    x = target.tensor(np.arange(6.0).reshape(2, 3))
    for reduce, expected in ((pg.sum, 15.0), (pg.mean, 2.5), (pg.max, 5.0)):
        assert reduce(x, axis=[0, 1]).item() == expected


def test_a_mask_among_slices_covers_as_many_axes_as_it_has(target):
    # as NumPy and PyTorch: x[:, mask] with a (3, 4) mask picks along axes 1 and 2 (tests/test_array_api_consumers.py)
    x = target.tensor(np.arange(24.0).reshape(2, 3, 4))
    mask = np.arange(12).reshape(3, 4) % 5 == 0
    picked = x[:, pg.tensor(mask, backend=target.backend, device=target.device)]
    np.testing.assert_array_equal(picked.numpy(), np.arange(24.0).reshape(2, 3, 4)[:, mask])
    with pytest.raises(IndexError, match=r"boolean mask of shape \(2, 4\)"):
        x[:, pg.tensor(np.ones((2, 4), dtype=bool), backend=target.backend, device=target.device)]


def test_the_constructor_stacks_tensors_in_nested_lists(target):
    """`pg.Tensor([[t, t], [t, 3 * t]])` holds their values (a new leaf, no graph), in their dtype and device,
    as pg.asarray stacks them; numbers beside a Tensor take its dtype."""
    t = target.tensor([1.0, 2.0], requires_grad=True)
    made = pg.Tensor([[t, t], [t, t * 3]])
    assert made.shape == (2, 2, 2) and made.dtype == t.dtype and made.device == t.device
    assert not made.requires_grad and made._op is None
    np.testing.assert_array_equal(made.numpy(), [[[1, 2], [1, 2]], [[1, 2], [3, 6]]])
    mixed = pg.Tensor([t.detach(), [5.0, 6.0]])
    assert mixed.dtype == t.dtype
    np.testing.assert_array_equal(mixed.numpy(), [[1, 2], [5, 6]])
    assert pg.Tensor(t).array is t.array  # a Tensor alone: its buffer, shared
