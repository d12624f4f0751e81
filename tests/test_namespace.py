"""polygrad as an Array API namespace: dtype objects, metadata, the array protocol."""

import pickle

import pytest

import polygrad as pg

STANDARD = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
            "float32", "float64", "complex64", "complex128"]


def test_tensor_dtype_is_polygrads_object_and_data_keeps_the_native_one(target):
    x = target.tensor([1.0, 2.0])
    assert x.dtype is getattr(pg, target.dtype)
    assert x.dtype == target.dtype and hash(x.dtype) == hash(target.dtype)
    assert x.dtype == x.data.dtype  # any library's native dtype matches by name
    assert not isinstance(x.data.dtype, pg.dtypes.DType)
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
