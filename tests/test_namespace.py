"""polygrad as an Array API namespace: dtype objects, metadata, the array protocol."""

import pickle

import numpy as np
import pytest

import polygrad as pg

STANDARD = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
            "float32", "float64", "complex64", "complex128"]


def test_tensor_dtype_is_polygrads_object_and_data_keeps_the_native_one(target):
    x = target.tensor([1.0, 2.0])
    assert x.dtype is getattr(pg, target.dtype)
    assert x.dtype == target.dtype and hash(x.dtype) == hash(target.dtype)
    assert x.dtype == x.array.dtype  # any library's native dtype matches by name
    assert not isinstance(x.array.dtype, pg.dtypes.DType)
    i = pg.asarray([1, 2], backend=target.backend, device=target.device)
    assert i.dtype is pg.int64 and i.dtype != pg.float64 and i.dtype != "float64"
    assert pg.asarray([True], backend=target.backend, device=target.device).dtype is pg.bool


def test_every_standard_dtype_makes_tensors_of_itself(target):
    device = pg.backends.get(target.backend).device(target.device)
    for name in STANDARD:
        if name == "float64" and not device.backend.supports_float64(device):
            continue
        if name == "complex128" and not device.backend.supports_float64(device):
            continue
        dtype = getattr(pg, name)
        assert pg.zeros(2, dtype=dtype, backend=target.backend, device=target.device).dtype is dtype
        assert pg.zeros(2, dtype=name, backend=target.backend, device=target.device).dtype is dtype


def test_dtype_objects_are_single_pickle_to_themselves_and_print_their_name():
    assert pickle.loads(pickle.dumps(pg.float32)) is pg.float32
    assert str(pg.complex64) == "complex64" and repr(pg.int8) == "polygrad.int8"
    assert {pg.float32: 1}["float32"] == 1
    assert pg.float32 != pg.float64 and pg.float32 != None  # noqa: E711 (the comparison is the test)


def test_unknown_dtype_is_a_clear_error():
    with pytest.raises(pg.DtypeError, match="'sum' is not a dtype polygrad knows"):
        pg.zeros(2, dtype="sum")
    with pytest.raises(pg.DtypeError, match="float128"):
        pg.asarray([1.0], dtype="float128")


def test_isdtype_kinds():
    assert pg.isdtype(pg.int8, "signed integer") and pg.isdtype(pg.uint8, "integral")
    assert pg.isdtype(pg.complex64, "numeric") and not pg.isdtype(pg.bool, "numeric")
    assert pg.isdtype(pg.float32, ("bool", "real floating")) and pg.isdtype(pg.float32, pg.float32)
    assert not pg.isdtype(pg.float32, pg.float64)
    with pytest.raises(ValueError, match="unknown kind"):
        pg.isdtype(pg.float32, "floating")


def test_result_type_follows_the_standards_lattice():
    assert pg.result_type(pg.int8, pg.uint8) is pg.int16 and pg.result_type(pg.int16, pg.uint32) is pg.int64
    assert pg.result_type(pg.float32, pg.complex64) is pg.complex64
    assert pg.result_type(pg.float64, pg.complex64) is pg.complex128
    assert pg.result_type(pg.uint8, pg.uint16, pg.uint8) is pg.uint16 and pg.result_type(pg.bool, pg.bool) is pg.bool
    assert pg.result_type(pg.float32, 1.0) is pg.float32 and pg.result_type(pg.int32, 1) is pg.int32
    assert pg.result_type(pg.float32, 1j) is pg.complex64
    assert pg.result_type(pg.ones(2, dtype="float64", backend="numpy"), pg.float32) is pg.float64
    for a, b in [(pg.int64, pg.uint64), (pg.int8, pg.float32), (pg.bool, pg.int8)]:
        with pytest.raises(pg.DtypeError, match="no promotion"):
            pg.result_type(a, b)
    with pytest.raises(pg.DtypeError, match="a Python float does not combine with int32"):
        pg.result_type(pg.int32, 1.0)
    assert pg.can_cast(pg.int8, pg.int16) and not pg.can_cast(pg.int16, pg.int8)
    assert pg.can_cast(pg.float32, pg.complex128) and not pg.can_cast(pg.int8, pg.float32)


def test_finfo_iinfo_match_ieee_and_twos_complement():
    f32, f64 = pg.finfo(pg.float32), pg.finfo("float64")
    assert f32.bits == 32 and f32.eps == 2.0 ** -23 and f32.smallest_normal == 2.0 ** -126
    assert f32.max == 3.4028234663852886e38 and f32.min == -f32.max and f32.dtype is pg.float32
    import sys
    assert (f64.eps, f64.max, f64.smallest_normal) == (sys.float_info.epsilon, sys.float_info.max, sys.float_info.min)
    assert pg.finfo(pg.complex64).dtype is pg.float32
    assert pg.finfo(pg.ones(2, backend="numpy")).dtype is pg.float32
    i8, u64 = pg.iinfo(pg.int8), pg.iinfo(pg.uint64)
    assert (i8.min, i8.max, i8.bits) == (-128, 127, 8) and (u64.min, u64.max) == (0, 2 ** 64 - 1)
    with pytest.raises(pg.DtypeError, match="finfo: expects a floating dtype, got int32"):
        pg.finfo(pg.int32)
    with pytest.raises(pg.DtypeError, match="iinfo"):
        pg.iinfo(pg.float32)


def test_namespace_constants_and_version():
    import math
    assert pg.__array_api_version__ == "2025.12"
    assert (pg.e, pg.pi, pg.inf) == (math.e, math.pi, math.inf) and math.isnan(pg.nan) and pg.newaxis is None


@pytest.mark.parametrize("backend", ["numpy", "array_api_strict", "torch"])
def test_namespace_info_describes_the_default_backend(backend):
    if backend not in pg.backends.available():
        pytest.skip(f"{backend} is not installed")
    previous = pg.set_default_backend(backend)
    try:
        info = pg.__array_namespace_info__()
        assert info.default_device() == pg.backends.get(backend).default_device()
        assert all(isinstance(d, pg.Device) for d in info.devices())
        assert info.default_dtypes()["real floating"] is pg.float32  # polygrad's default, not the library's
        assert info.default_dtypes()["indexing"] is pg.int64
        floats = info.dtypes(kind="real floating")
        assert floats["float32"] is pg.float32 and all(isinstance(d, pg.dtypes.DType) for d in floats.values())
        assert set(info.capabilities()) >= {"boolean indexing", "data-dependent shapes"}
        if backend == "array_api_strict":
            assert "float64" not in info.dtypes(device="no_float64")
    finally:
        pg.set_default_backend(previous)


# ---------------------------------------------------------------- the array object
def test_integer_and_bitwise_operators_follow_python(target):
    values, others = [7, -7, 12, 5], [2, 3, -5, 1]
    x = pg.asarray(values, backend=target.backend, device=target.device)
    y = pg.asarray(others, backend=target.backend, device=target.device)
    assert (x // y).tolist() == [a // b for a, b in zip(values, others)]
    assert (x % y).tolist() == [a % b for a, b in zip(values, others)]
    assert (x & y).tolist() == [a & b for a, b in zip(values, others)]
    assert (x | y).tolist() == [a | b for a, b in zip(values, others)]
    assert (x ^ y).tolist() == [a ^ b for a, b in zip(values, others)]
    assert (~x).tolist() == [~a for a in values]
    assert (x << 2).tolist() == [a << 2 for a in values] and (x >> 1).tolist() == [a >> 1 for a in values]
    # reflected forms
    assert (100 // x).tolist() == [100 // a for a in values] and (100 % x).tolist() == [100 % a for a in values]
    assert (6 & x).tolist() == [6 & a for a in values] and (6 | x).tolist() == [6 | a for a in values]
    assert (6 ^ x).tolist() == [6 ^ a for a in values] and (1 << y[3:]).tolist() == [2]
    assert (64 >> y[:1]).tolist() == [16]
    mask = x > 0
    assert (~mask).tolist() == [False, True, False, False] and (mask & (x < 10)).tolist() == [True, False, False, True]
    f = target.tensor([7.5, -7.5])
    assert (f % 2.0).tolist() == [7.5 % 2.0, -7.5 % 2.0] and (f // 2.0).tolist() == [7.5 // 2.0, -7.5 // 2.0]


def test_array_namespace_is_polygrad(target):
    compat = pytest.importorskip("array_api_compat")
    x = target.tensor([1.0, 2.0])
    assert x.__array_namespace__() is pg and x.__array_namespace__(api_version="2023.12").sum is pg.sum
    assert compat.array_namespace(x) is pg
    with pytest.raises(ValueError, match="api_version '2099.01'"):
        x.__array_namespace__(api_version="2099.01")


def test_to_device_moves_and_the_gradient_comes_back():
    x = pg.tensor([1.0, 2.0], backend="array_api_strict", device="device1", requires_grad=True)
    y = x.to_device(pg.backends.get("array_api_strict").device("CPU_DEVICE"))
    assert str(y.device) == "CPU_DEVICE"
    pg.sum(y * y).backward()
    assert str(x.grad.device) == "device1" and x.grad.tolist() == [2.0, 4.0]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_dlpack_shares_the_raw_array(backend):
    if backend not in pg.backends.available():
        pytest.skip(f"{backend} is not installed")
    import numpy as np

    x = pg.tensor([1.0, 2.0, 3.0], backend=backend)
    assert x.__dlpack_device__() == x.array.__dlpack_device__()
    np.testing.assert_array_equal(np.from_dlpack(x), [1.0, 2.0, 3.0])


def test_python_scalar_conversions(target):
    assert float(target.tensor(2.5)) == 2.5 and int(target.tensor(2.5)) == 2 and bool(target.tensor(1.0))
    assert complex(target.tensor(2.0)) == 2 + 0j
    i = pg.asarray(1, backend=target.backend, device=target.device)
    assert [10, 20, 30][i] == 20 and i.__index__() == 1
    with pytest.raises(TypeError, match="__index__: only integer tensors"):
        [10, 20, 30][target.tensor(1.0)]


# ---------------------------------------------------------------- signatures
def test_functions_carry_the_standards_signatures():
    import inspect

    shown = {name: str(inspect.signature(getattr(pg, name))) for name in (
        "add", "sum", "prod", "astype", "concat", "where", "clip", "reshape", "cumulative_sum", "roll", "argsort",
        "tensordot", "matmul", "var")}
    assert shown == {
        "add": "(x1, x2, /)",
        "sum": "(x, /, *, axis=None, dtype=None, keepdims=False)",
        "prod": "(x, /, *, axis=None, dtype=None, keepdims=False)",
        "astype": "(x, dtype, /, *, copy=True, device=None)",
        "concat": "(arrays, /, *, axis=0)",
        "where": "(condition, x1, x2, /)",
        "clip": "(x, /, min=None, max=None)",
        "reshape": "(x, /, shape, *, copy=None)",
        "cumulative_sum": "(x, /, *, axis=None, dtype=None, include_initial=False)",
        "roll": "(x, /, shift, *, axis=None)",
        "argsort": "(x, /, *, axis=-1, descending=False, stable=True)",
        "tensordot": "(x1, x2, /, *, axes=2)",
        "matmul": "(x1, x2, /)",
        "var": "(x, /, *, axis=None, correction=0, keepdims=False)",
    }


def test_reductions_take_the_standards_dtype(target):
    x = pg.asarray([1, 2, 3], backend=target.backend, device=target.device, dtype="int32")
    assert pg.sum(x, dtype=pg.int32).dtype is pg.int32 and pg.prod(x, dtype=pg.int32).dtype is pg.int32
    assert pg.cumulative_sum(x, include_initial=True).tolist() == [0, 1, 3, 6]
    assert pg.sum(x, dtype=target.dtype).dtype == target.dtype


# ---------------------------------------------------------------- complex values
def test_complex_values_forward(target):
    complex_ = "complex128" if target.dtype == "float64" else "complex64"
    z = pg.asarray([1 + 2j, 3 - 1j], backend=target.backend, device=target.device, dtype=complex_)
    assert z.dtype == complex_ and (z * z).tolist() == [(1 + 2j) ** 2, (3 - 1j) ** 2]
    assert pg.asarray([1j, 2], backend=target.backend, device=target.device).dtype in (pg.complex64, pg.complex128)


def test_gradients_through_complex_values_in_every_dtype(target):
    """What raised before complex autodiff now differentiates (PyTorch's convention; more in test_complex.py)."""
    complex_ = "complex128" if target.dtype == "float64" else "complex64"
    z = pg.asarray([1 + 2j, 3 - 1j], backend=target.backend, device=target.device, dtype=complex_)
    w = pg.asarray([1j, 2], backend=target.backend, device=target.device, dtype=complex_).requires_grad_()
    pg.sum(pg.abs(w) ** 2).backward()
    assert w.grad.dtype == complex_ and w.grad.tolist() == [2j, 4]  # |w|² -> 2w
    x = target.tensor([1.0, -2.0], requires_grad=True)
    pg.sum(pg.abs(pg.astype(x, complex_) * z)).backward()
    assert x.grad.dtype == target.dtype  # a real leaf's gradient stays real: sign(x) |z|
    np.testing.assert_allclose(x.grad.numpy(), [5 ** 0.5, -(10 ** 0.5)], rtol=target.tol)


def test_setitem_through_a_boolean_mask_is_recorded(target):
    x = target.tensor([[1.0, -2.0], [3.0, -4.0]], requires_grad=True)
    y = pg.asarray(x, copy=True)  # array-API code copies, then writes; the copy stays on the tape
    y[y < 0] = 0.5
    pg.sum(y * y).backward()
    assert y.tolist() == [[1.0, 0.5], [3.0, 0.5]] and x.grad.tolist() == [[2.0, 0.0], [6.0, 0.0]]


def test_in_place_integer_and_bitwise_operators(target):
    x = pg.asarray([7, -7, 12], backend=target.backend, device=target.device)
    same = x
    x //= 2
    assert x is same and x.tolist() == [3, -4, 6] and x._version == 1
    x %= 4
    x &= 6
    x |= 1
    x ^= 2
    x <<= 2
    x >>= 1
    expected = []
    for v in [7, -7, 12]:
        v //= 2
        v %= 4
        v &= 6
        v |= 1
        v ^= 2
        v <<= 2
        v >>= 1
        expected.append(v)
    assert x.tolist() == expected and x._version == 7
    w = target.tensor([5.5, -2.5], requires_grad=True)
    with pytest.raises(RuntimeError, match="%=: in-place update of a leaf tensor that requires grad"):
        w %= 2.0
    y = w * 1.0
    y %= 2.0  # recorded: d(y % 2)/dw = 1 away from the jumps
    pg.sum(y).backward()
    assert y.tolist() == [1.5, 1.5] and w.grad.tolist() == [1.0, 1.0]


# ---------------------------------------------------------------- the rest of the namespace
def test_composites_match_numpy_and_differentiate(target64):
    import numpy as np

    data = np.array([[3.0, 1.0, 2.0, -0.5], [0.5, -1.0, 4.0, 2.5], [1.5, 0.25, -2.0, 0.75]])
    x = target64.tensor(data)
    np.testing.assert_array_equal(pg.sort(x, axis=1).numpy(), np.sort(data, axis=1))
    np.testing.assert_array_equal(pg.sort(x, axis=0, descending=True).numpy(), -np.sort(-data, axis=0))
    np.testing.assert_array_equal(pg.tile(x, (2, 1, 3)).numpy(), np.tile(data, (2, 1, 3)))
    np.testing.assert_array_equal(pg.repeat(x, 2, axis=1).numpy(), np.repeat(data, 2, axis=1))
    np.testing.assert_array_equal(pg.diff(x, axis=0, n=2).numpy(), np.diff(data, axis=0, n=2))
    np.testing.assert_allclose(pg.vecdot(x, x).numpy(), np.sum(data * data, axis=-1))
    np.testing.assert_array_equal(pg.unstack(x, axis=1)[2].numpy(), data[:, 2])
    grids = pg.meshgrid(x[0], x[1, :3])
    for got, expected in zip(grids, np.meshgrid(data[0], data[1, :3])):
        np.testing.assert_array_equal(got.numpy(), expected)
    assert [a.shape for a in pg.broadcast_arrays(x[:1], x[:, :1])] == [(3, 4), (3, 4)]
    for f in [lambda a: pg.sort(a, axis=1), lambda a: pg.tile(a, (2, 1)), lambda a: pg.repeat(a, 2, axis=0),
              lambda a: pg.diff(a, axis=1, prepend=a[:, :1] * 2.0), lambda a: pg.vecdot(a, pg.flip(a, axis=0)),
              lambda a: pg.broadcast_arrays(a[:1], a)[0], lambda a: pg.unstack(a)[1] * 3.0, pg.real, pg.conj]:
        assert pg.gradcheck(f, [target64.tensor(data, requires_grad=True)])


def test_results_that_are_indices_or_sets(target):
    x = pg.asarray([3, 1, 3, 0, 1, 3], backend=target.backend, device=target.device)
    (i,) = pg.nonzero(x)
    assert i.tolist() == [0, 1, 2, 4, 5]
    u = pg.unique_counts(x)
    assert u.values.tolist() == [0, 1, 3] and u.counts.tolist() == [1, 2, 3]
    inv = pg.unique_inverse(x)
    assert inv.values[inv.inverse_indices].tolist() == x.tolist()
    assert pg.unique_values(x).tolist() == [0, 1, 3]
    if target.backend != "torch":  # array-api-compat has no unique_all for torch
        assert pg.unique_all(x).counts.tolist() == [1, 2, 3]
    assert pg.cumulative_prod(pg.asarray([1, 2, 3], backend=target.backend, device=target.device)).tolist() == [1, 2, 6]
    assert pg.imag(target.tensor([1.0])).tolist() == [0.0]


def test_moveaxis_takes_tuples_like_numpy(target):
    import numpy as np

    data = np.arange(120.0).reshape(2, 3, 4, 5)
    x = target.tensor(data)
    for source, destination in [(0, -1), ((0, 1), (-1, -2)), ((3, 0), (1, 2)), (1, 1)]:
        np.testing.assert_array_equal(pg.moveaxis(x, source, destination).numpy(), np.moveaxis(data, source, destination))
    with pytest.raises(ValueError, match="moveaxis: 2 source axes but 1 destinations"):
        pg.moveaxis(x, (0, 1), (2,))


def test_creation_functions_show_the_standards_shape_parameter():
    import inspect

    for make in (pg.zeros, pg.ones, pg.empty):
        assert str(inspect.signature(make)) == "(shape, *, dtype=None, device=None, backend=None, requires_grad=False)"
    assert pg.zeros((2, 3)).shape == pg.zeros(2, 3).shape == (2, 3)


# ---------------------------------------------------------------- the standard's edge cases (array-api-tests)
def test_integers_among_index_arrays_are_0d_index_arrays(target):
    import numpy as np

    data = np.arange(24.0).reshape(2, 3, 4)
    x = target.tensor(data, requires_grad=True)
    rows = pg.asarray([[2], [0]], backend=target.backend, device=target.device)
    columns = pg.asarray([1, 3, 3], backend=target.backend, device=target.device)
    picked = x[-1, rows, columns]
    np.testing.assert_array_equal(picked.numpy(), data[-1, [[2], [0]], [1, 3, 3]])
    assert x[0, 1, pg.asarray(2, backend=target.backend, device=target.device)].tolist() == 6.0
    pg.sum(picked).backward()
    expected = np.zeros_like(data)
    np.add.at(expected, (-1, [[2], [0]], [1, 3, 3]), 1.0)
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def test_masks_on_empty_tensors_and_masks_with_empty_axes(target):
    import numpy as np

    def mask(value):
        return pg.asarray(value, backend=target.backend, device=target.device)

    x = target.tensor([])
    for value, shape in ((False, (0, 0)), (True, (1, 0))):
        assert x[mask(value)].shape == shape
    # a mask axis of size 0 picks nothing, whatever the size of x's axis (the standard allows it)
    assert target.tensor(np.zeros((0, 1)))[mask(np.zeros((0, 0), dtype=bool))].shape == (0,)
    assert target.tensor(np.zeros((2, 3, 4)))[mask(np.zeros((2, 0), dtype=bool))].shape == (0, 4)
    with pytest.raises(IndexError, match=r"getitem: mask of shape \(2, 2\) does not match"):
        target.tensor(np.zeros((2, 3)))[mask(np.ones((2, 2), dtype=bool))]


def test_complex_scalars_take_the_tensors_precision(target):
    import numpy as np

    complex_ = "complex128" if target.dtype == "float64" else "complex64"
    exact = complex(np.asarray(0.99j, dtype=complex_))  # 0.9900000095367432j in complex64
    x = target.tensor([1.0, 2.0])
    assert (x + 0.99j).dtype == complex_ and (x + 0.99j).tolist() == [1 + exact, 2 + exact]
    z = pg.asarray([1j, 2j], backend=target.backend, device=target.device, dtype=complex_)
    z[pg.asarray([True, False], backend=target.backend, device=target.device)] = 0.99j
    assert z.dtype == complex_ and z.tolist() == [exact, 2j]


def test_searchsorted_with_a_sorter(target):
    import numpy as np

    data, values, order = np.array([3.0, 1.0, 2.0, 5.0]), np.array([2.0, 4.0, 0.0]), np.array([1, 2, 0, 3])
    x1, x2 = target.tensor(data), target.tensor(values)
    sorter = pg.asarray(order, backend=target.backend, device=target.device)
    for side in ("left", "right"):
        assert pg.searchsorted(x1, x2, side=side, sorter=sorter).tolist() == \
            np.searchsorted(data, values, side=side, sorter=order).tolist()


def test_an_axis_out_of_range_is_an_index_error_too(target):
    for bad in (lambda: pg.expand_dims(target.tensor(1.0), axis=-2), lambda: pg.sum(target.tensor([1.0]), axis=1)):
        with pytest.raises(pg.AxisError) as raised:
            bad()
        assert isinstance(raised.value, IndexError) and isinstance(raised.value, pg.ShapeError)


def test_floor_divide_by_and_of_infinities_is_floor_of_the_quotient(target):
    import numpy as np

    inf = float("inf")
    a = target.tensor([inf, -inf, inf, 5.0, 5.0, -5.0, -5.0, inf, 7.0, -7.0])
    b = target.tensor([2.0, 2.0, -2.0, inf, -inf, inf, -inf, inf, 2.0, 2.0])
    with np.errstate(invalid="ignore"):
        out = (a // b).numpy()
    expected = np.array([inf, -inf, -inf, 0.0, -0.0, -0.0, 0.0, np.nan, 3.0, -4.0])
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(np.signbit(out[3:7]), [False, True, True, False])  # the zeros' signs
    assert (pg.asarray([7, -7], backend=target.backend, device=target.device) // 2).tolist() == [3, -4]


def test_complex_special_values_of_expm1_and_tanh(target):
    import numpy as np

    complex_ = "complex128" if target.dtype == "float64" else "complex64"
    inf, nan = float("inf"), float("nan")
    cases = {  # the standard's special cases: x -> expm1(x)
        complex(inf, 0.0): complex(inf, 0.0), complex(-inf, inf): complex(-1.0, 0.0),
        complex(-inf, nan): complex(-1.0, 0.0), complex(nan, 0.0): complex(nan, 0.0),
        complex(-0.0, 0.0): complex(0.0, 0.0), complex(0.0, 5.0): complex(np.expm1(5j)),
    }
    with np.errstate(invalid="ignore"):  # NumPy warns about the nan it gives before polygrad replaces it
        out = pg.expm1(pg.asarray(list(cases), backend=target.backend, device=target.device, dtype=complex_)).numpy()
        at_inf = pg.expm1(pg.asarray([complex(inf, inf), complex(inf, nan)], backend=target.backend,
                                     device=target.device, dtype=complex_)).numpy()
    np.testing.assert_allclose(out, np.array(list(cases.values()), dtype=complex_), rtol=1e-6)
    assert not np.signbit(out[4].real)  # +0, where NumPy's expm1 gives -0
    assert np.isinf(at_inf.real).all() and np.isnan(at_inf.imag).all()  # inf + nan j, the real part's sign unspecified
    # tanh(±inf + bj), b finite, is ±1 + 0j with the zero signed as b (NumPy: as sin(2b), negative for b = 2)
    z = pg.asarray([complex(inf, 1.0), complex(inf, 2.0), complex(inf, -2.0), complex(-inf, 2.0)],
                   backend=target.backend, device=target.device, dtype=complex_)
    out = pg.tanh(z).numpy()
    assert out.real.tolist() == [1.0, 1.0, 1.0, -1.0] and out.imag.tolist() == [0.0] * 4
    assert np.signbit(out.imag).tolist() == [False, False, True, False]


def test_clip_with_tensor_bounds_broadcasts_and_gives_them_gradients(target64):
    """torch.clamp's rule: the bound gets the gradient where it binds, x elsewhere (x keeps it on a tie)."""
    x = target64.tensor([[-2.0, 0.5, 3.0, -1.0], [1.0, 2.0, 0.25, 5.0]], requires_grad=True)
    low = target64.tensor([[-1.0], [0.0]], requires_grad=True)
    high = target64.tensor([1.0, 1.0, 2.0, 2.0], requires_grad=True)
    y = pg.clip(x, low, high)
    (y * y).sum().backward()
    expected = np.array([[-1.0, 0.5, 2.0, -1.0], [1.0, 1.0, 0.25, 2.0]])
    np.testing.assert_array_equal(y.numpy(), expected)
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 1.0, 0.0, -2.0], [2.0, 0.0, 0.5, 0.0]])
    np.testing.assert_array_equal(low.grad.numpy(), [[-2.0], [0.0]])
    np.testing.assert_array_equal(high.grad.numpy(), [0.0, 2.0, 4.0, 4.0])
    wide = pg.clip(target64.tensor([0.5]), min=target64.tensor([[0.0], [1.0]]))  # the bound's shape counts
    np.testing.assert_array_equal(wide.numpy(), [[0.5], [1.0]])
