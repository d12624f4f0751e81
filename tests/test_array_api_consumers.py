"""What scipy's own array-API test suite found, run with polygrad as its namespace (the harness
lives outside the repository; see the issue-18 notes): each behaviour checked against torch or NumPy."""

import numpy as np
import pytest

import polygrad as pg

from torch_oracle import same_as_torch, torch


def test_zero_d_tensor_is_not_iterable_as_torch(target):
    # matplotlib (through scipy's dendrogram) asks np.iterable(limit) of a 0-d result
    if torch is None:
        pytest.skip("torch is not installed")
    scalar, vector = target.tensor(1.5), target.tensor([1.0, 2.0])
    assert np.iterable(scalar) is np.iterable(torch.tensor(1.5)) is False
    with pytest.raises(TypeError) as theirs:
        iter(torch.tensor(1.5))
    with pytest.raises(TypeError, match=f"^{theirs.value}$"):
        iter(scalar)
    assert np.iterable(vector) and [float(v) for v in vector] == [1.0, 2.0]


def test_result_type_of_python_scalars_alone_is_a_value_error_as_numpys():
    # scipy.signal's _logspace catches ValueError there and takes its default dtype
    import array_api_strict

    for library in (np, array_api_strict, pg):
        with pytest.raises(ValueError, match="at least one array or dtype"):
            library.result_type() if library is np else library.result_type(-2, 1, 10.0)


def test_logspace_is_torchs(target):
    if torch is None:
        pytest.skip("torch is not installed")
    for args in ((-3, 0, 10), (0, 4, 5, 2.0), (1.5, -1.0, 4)):
        ours = pg.logspace(*args, dtype=target.dtype, backend=target.backend, device=target.device)
        theirs = torch.logspace(*args, dtype=getattr(torch, target.dtype))
        assert ours.dtype == pg.dtypes.get(target.dtype)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=target.tol)


LISTS_OF_LIBRARY_SCALARS = [
    [np.int32(1), np.int32(-2)], [np.float32(1.5), 2], [np.int32(1), 2.5], [np.float32(1.0), np.float64(2.0)],
    [[np.bool_(True)], [np.bool_(False)]], [np.int8(1), np.int16(3)], [np.uint8(1), np.int8(2)],
]


@pytest.mark.parametrize("data", LISTS_OF_LIBRARY_SCALARS, ids=str)
def test_lists_of_numpy_scalars_keep_their_dtype_as_torch_tensor(target, data):
    # scipy's tests build expected values as xp.asarray([np.int32(status) for ...])
    if torch is None:
        pytest.skip("torch is not installed")
    theirs = torch.tensor(data)
    if theirs.dtype == torch.float64 and target.device == "no_float64":
        pytest.skip("array-api-strict's no_float64 device holds no float64")
    ours = pg.asarray(data, backend=target.backend, device=target.device)
    assert ours.dtype == pg.dtypes.get(str(theirs.dtype).removeprefix("torch."))
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_broadcast_arrays_says_cannot_be_broadcast_as_numpy(target):
    # scipy's input checks match NumPy's wording ("...be broadcast...")
    with pytest.raises(ValueError, match="be broadcast") as numpys:
        np.broadcast_arrays(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match=r"broadcast_arrays: shapes \(2,\), \(3,\) cannot be broadcast") as ours:
        pg.broadcast_arrays(target.tensor([0.0, 0.0]), target.tensor([0.0, 0.0, 0.0]))
    assert "be broadcast" in str(numpys.value) and "be broadcast" in str(ours.value)


def test_a_tensor_made_from_a_numpy_scalar_takes_in_place_writes_as_torch(target):
    # array-api-extra's at(x)[mask].set(nan) on a 0-d result (scipy.stats' epps_singleton_2samp, mannwhitneyu)
    if torch is None:
        pytest.skip("torch is not installed")
    results = []
    for make in (torch.asarray, lambda a: pg.asarray(a, backend=target.backend, device=target.device)):
        t, u = make(np.float32(0.5)), make(np.float32(1.5))
        t[make(np.asarray(False))] = float("nan")
        u += 1.0
        u[()] = u * 2.0
        results.append([float(t), float(u)])
    assert results[0] == results[1] == [0.5, 5.0]
    if target.backend == "numpy":
        assert pg.asarray(np.float64(0.5)).array.shape == ()  # a 0-d array, not a NumPy scalar
        scalar = pg.Tensor._wrap(np.float64(0.5), pg.device("cpu"))  # one made some other way is written too
        scalar[()] = 2.0
        assert float(scalar) == 2.0


@pytest.mark.parametrize("source, destination", [(10, -1), (-2, 0), (0, 1), ((0, 0), (0, 1))])
def test_moveaxis_refuses_what_numpy_refuses(target, source, destination):
    # scipy.stats' axis=10 checks went through moveaxis, which took 10 % ndim silently
    data = np.zeros((2,))
    try:
        want = np.moveaxis(data, source, destination)
    except (ValueError, IndexError) as error:  # NumPy's AxisError is both
        with pytest.raises((ValueError, IndexError), match="out of bounds for array|repeated axis") as ours:
            pg.moveaxis(target.tensor(data), source, destination)
        assert [isinstance(ours.value, kind) for kind in (ValueError, IndexError)] == \
               [isinstance(error, kind) for kind in (ValueError, IndexError)]
    else:
        assert pg.moveaxis(target.tensor(data), source, destination).shape == want.shape


MASK = np.random.default_rng(3).random((4, 5)) > 0.5
MASK_KEYS = {"trailing": (Ellipsis, MASK), "after_a_slice": (slice(None), slice(1, 3), MASK),
             "middle": (slice(None), MASK[:3, :4], Ellipsis), "0d_true": (Ellipsis, np.asarray(True)),
             "0d_false": (Ellipsis, np.asarray(False))}


@pytest.mark.parametrize("name", MASK_KEYS)
def test_a_mask_over_several_axes_among_slices_indexes_as_torch(target, name):
    # scipy.ndimage.vectorized_filter reads view[..., footprint]
    if torch is None:
        pytest.skip("torch is not installed")
    key = MASK_KEYS[name]
    data = np.arange(2 * 3 * 4 * 5.0).reshape(2, 3, 4, 5)

    def index(x, make):
        picked = x[tuple(make(k) if isinstance(k, np.ndarray) else k for k in key)]
        x[tuple(make(k) if isinstance(k, np.ndarray) else k for k in key)] = -1.0
        return picked, x

    ours = index(target.tensor(data), lambda k: pg.asarray(k, backend=target.backend, device=target.device))
    theirs = index(torch.as_tensor(data), torch.as_tensor)
    for got, want in zip(ours, theirs):
        assert got.shape == tuple(want.shape)
        np.testing.assert_array_equal(got.numpy(), want.numpy().astype(target.dtype))


def test_a_mask_over_several_axes_differentiates_as_torch():
    def pick(lib):
        return lambda x: x[(slice(None), Ellipsis, lib.as_tensor(MASK) if lib is torch
                            else pg.asarray(MASK, device=x.device))] * 2.0  # the mask on x's backend

    same_as_torch(pick(pg), pick(torch), np.random.default_rng(4).standard_normal((3, 4, 5)))


def test_view_with_the_tensors_own_dtype_is_an_alias_as_torch(target64):
    # scipy's RBFInterpolator: d.view(float) on float64 data
    data = np.arange(6.0).reshape(3, 2)
    x, want = target64.tensor(data), torch.as_tensor(data) if torch is not None else None
    for spelling in (float, pg.float64, "float64"):
        view = x.view(spelling)
        assert view.shape == (3, 2) and view.dtype == pg.float64
    x.view(float)[0, 0] = 7.0
    if want is not None:
        want.view(float)[0, 0] = 7.0
        np.testing.assert_array_equal(x.numpy(), want.numpy())
    w = target64.tensor([1.0, 2.0], requires_grad=True)
    ((w * 3.0).view(float) * w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [6.0, 12.0])  # d/dw of 3 w^2
    with pytest.raises(TypeError, match=r"Tensor.view\(int32\): reading the bits .* \.to\(int32\) converts"):
        x.view(pg.int32)  # PyTorch reinterprets the bits: refused rather than answered otherwise
    assert x.view(2, 3).shape == x.view((6,)).view(-1, 3).shape == (2, 3)


@pytest.mark.parametrize("reps", [(2, 1), (1, 1), (3, 1, 2)])
def test_tile_gives_an_array_of_its_own_as_torch(target, reps):
    # scipy's rigid-transform tests: at(xp.tile(xp.eye(4), shape + (1, 1)))[..., :3, 3].set(t)
    if torch is None:
        pytest.skip("torch is not installed")
    results = []
    for x in (target.tensor(np.eye(2)), torch.eye(2, dtype=getattr(torch, target.dtype))):
        tiled = x.tile(reps) if isinstance(x, torch.Tensor) else pg.tile(x, reps)
        tiled[..., 0, 1] = 5.0
        results.append((x.numpy(), tiled.numpy()))
    for got, want in zip(*results):
        np.testing.assert_array_equal(got, want)

    def write_then_sum(lib):
        def f(x):
            tiled = (x * 1.0).tile(reps)
            tiled[..., 0, 1] = 5.0
            return (tiled * tiled).sum()
        return f

    same_as_torch(write_then_sum(pg), write_then_sum(torch), np.eye(2))


def test_asarray_of_a_tensor_in_its_own_dtype_shares_it_as_torch(target):
    # scipy's xp_promote calls xp.asarray(x, dtype=x.dtype): RigidTransform(m, copy=False) must share m
    if torch is None:
        pytest.skip("torch is not installed")
    other = "float32" if target.dtype == "float64" else "int64"
    results = []
    for lib, m in ((pg, target.tensor(np.eye(2))), (torch, torch.eye(2, dtype=getattr(torch, target.dtype)))):
        same = lib.asarray(m, dtype=getattr(lib, target.dtype))
        same[0, 0] = 5.0
        cast = lib.asarray(m, dtype=getattr(lib, other))
        cast[1, 1] = 7
        with pytest.raises(ValueError):
            lib.asarray(m, dtype=getattr(lib, other), copy=False)
        results.append(m.numpy())
    np.testing.assert_array_equal(*results)
    assert results[0][0, 0] == 5.0 and results[0][1, 1] == 1.0


@pytest.mark.parametrize("python_type", [bool, int, float, complex])
def test_python_types_are_dtypes_as_in_torch_and_numpy(target64, python_type):
    # scipy's _asarray(smoothing, dtype=float) in RBFInterpolator
    if torch is None:
        pytest.skip("torch is not installed")
    want = str(torch.zeros(2, dtype=python_type).dtype).removeprefix("torch.")
    assert want == np.zeros(2, dtype=python_type).dtype.name
    made = pg.zeros(2, dtype=python_type, backend=target64.backend, device=target64.device)
    assert made.dtype == pg.dtypes.get(want) == pg.dtypes.get(python_type)
    assert pg.asarray(target64.tensor([1.0, 0.0]), dtype=python_type).dtype == made.dtype
