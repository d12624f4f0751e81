"""Dtype promotion with Python numbers and 0-d tensors gives PyTorch's dtype and values (issue 19)."""

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
