"""Dtype promotion with Python numbers and 0-d tensors gives PyTorch's dtype and values (issue 19)."""

import numpy as np
import pytest
from torch_oracle import torch
from torch_parity import check

import polygrad as pg

B, I, U8 = ([True, False, True], "bool", False), ([0, 1, 2], "int64", False), ([1, 2, 250], "uint8", False)
F = ([0.5, -1.5, 2.0], None, False)

CASES = {
    "where_of_two_ints_on_a_bool_mask_is_int64": (lambda b, ns: ns.where(b, 10, 0), B),
    "where_of_a_float_and_an_int_is_float": (lambda b, ns: ns.where(b, 1.0, 0), B),
    "bool_times_int_is_int64": (lambda b: b * 3, B),
    "bool_plus_int_is_int64": (lambda b: b + 1, B),
    "bool_times_float_is_float32": (lambda b: b * 2.5, B),
    "int_clamped_by_floats_is_float": (lambda i: i.clamp(0.5, 1.5), I),
    "int_clamped_by_ints_stays_int": (lambda i: i.clamp(0, 1), I),
    "int_masked_fill_with_a_float_keeps_int": (lambda i, b: i.masked_fill(b, 2.5), I, B),
    "float_masked_fill_with_an_int_keeps_float": (lambda x, b: x.masked_fill(b, 3), F, B),
    "float32_times_0d_float64_is_float32": (lambda x, s: x * s, ([1.5, 2.0], "float32", False), (2.0, "float64", False)),
    "int_times_0d_float64_is_float64": (lambda i, s: i * s, I, (2.5, "float64", False)),
    "int32_times_0d_int64_is_int32": (lambda i, s: i * s, ([1, 2], "int32", False), (3, "int64", False)),
    "0d_float32_times_0d_float64_is_float64": (lambda a, s: a * s, (1.5, "float32", False), (2.0, "float64", False)),
    "uint8_plus_300_wraps": (lambda u: u + 300, U8),
    "uint8_minus_1_wraps": (lambda u: u + (-1), U8),
    "uint8_plus_int8_is_int16": (lambda u, i: u + i, U8, ([1, -2, 3], "int8", False)),
    "int_true_divide_is_float32": (lambda i: i / 2, I),
    "where_int_tensor_or_float_is_float32": (lambda b, i, ns: ns.where(b, i, 2.5), B, I),
    "int_pow_float_is_float32": (lambda i: i ** 0.5, I),
    "uint8_divided_by_minus_1_divides_by_minus_1": (lambda u: u / -1, U8),
    "uint8_and_0d_int8_stays_uint8": (lambda u, s: u & s, U8, (3, "int8", False)),
    "float_gradient_through_a_0d_float64_stays_float32": (
        lambda x, s: x * s, ([1.5, 2.0], "float32", True), (2.0, "float64", True)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_promotion_as_torch(target, name):
    function, *specs = CASES[name]
    check(target, lambda *xs: _call(function, xs, pg), lambda *xs: _call(function, xs, torch), *specs)


def _call(function, inputs, namespace):
    """function(*inputs), with the namespace too where it takes one (`ns`)."""
    takes_namespace = "ns" in function.__code__.co_varnames[:function.__code__.co_argcount]
    return function(*inputs, namespace) if takes_namespace else function(*inputs)


DTYPES = ["bool", "uint8", "int8", "int32", "int64", "float32", "float64"]
OPERATORS = {"add": lambda a, b: a + b, "mul": lambda a, b: a * b, "truediv": lambda a, b: a / b,
             "less": lambda a, b: a < b, "bitwise_and": lambda a, b: a & b}


def _operand(ns, target, spec):
    """A Python number, or (dtype, zero-dimensional) as a tensor on target (torch: CPU)."""
    if not isinstance(spec, tuple):
        return spec
    dtype, zero_d = spec
    values = [True, False, True] if dtype == "bool" else [3, 0, 2]
    values = values[0] if zero_d else values
    if ns is torch:
        return torch.tensor(values, dtype=getattr(torch, dtype))
    return target.tensor(values, dtype=dtype)


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_every_dtype_pair_and_python_number_promotes_as_torch(target, name):
    if torch is None:
        pytest.skip("torch is not installed")
    dtypes = [d for d in DTYPES if not (d == "float64" and target.dtype == "float32"
                                        and target.backend == "array_api_strict")]
    tensors = [(d, zero_d) for d in dtypes for zero_d in (False, True)]
    pairs = [(a, b) for a in tensors for b in tensors if not (a[1] and b[1])]
    pairs += [(t, n) for t in tensors[::2] for n in (True, 2, -1, 300, 2.5)]
    pairs += [(n, t) for t in tensors[::2] for n in (True, -1, 2.5)]
    operator, compared = OPERATORS[name], 0
    for a, b in pairs:
        try:
            want = operator(_operand(torch, target, a), _operand(torch, target, b))
        except (RuntimeError, TypeError):
            continue  # torch has no answer (bool arithmetic it refuses, bitwise on floats)
        if target.backend == "array_api_strict" and name != "bitwise_and" and _both_bool(a, b):
            continue  # bool + bool, bool < bool: in the README's table (the standard defines neither)
        got = operator(_operand(pg, target, a), _operand(pg, target, b))
        assert str(got.dtype) == str(want.dtype).removeprefix("torch."), (a, b, got.dtype, want.dtype)
        np.testing.assert_allclose(got.numpy().astype(float), want.numpy().astype(float), rtol=1e-6, err_msg=str((a, b)))
        compared += 1
    assert compared > len(pairs) // 2


def _both_bool(a, b):
    return all(x is True or (isinstance(x, tuple) and x[0] == "bool") for x in (a, b))
