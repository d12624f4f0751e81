"""Values and gradients at kinks, ties, zeros and NaNs are PyTorch's, on every backend (issue 19).

Each case is f(ns, F, *inputs) run with (polygrad, polygrad.nn.functional) and (torch, torch.nn.functional).
"""

import math

import pytest
from torch_oracle import torch
from torch_parity import check

import polygrad as pg
import polygrad.nn.functional as PF

INF, NAN = math.inf, math.nan


def x(*values):
    return (list(values), None, True)


KINKS = [-6.0, -3.0, -1.0, 0.0, 1.0, 3.0, 6.0]
TIES = [[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]]

CASES = {
    # derivatives.yaml conventions at kinks
    "elu_slope_at_0_is_alpha": (lambda ns, F, a: F.elu(a, 2.0), x(*KINKS)),
    "elu_default_slope_at_0_is_1": (lambda ns, F, a: F.elu(a), x(*KINKS)),
    "selu_slope_at_0_is_scale_alpha": (lambda ns, F, a: F.selu(a), x(*KINKS)),
    "celu_slope_at_0_is_1": (lambda ns, F, a: F.celu(a, 2.0), x(*KINKS)),
    "hardtanh_slope_at_bounds_is_0": (lambda ns, F, a: F.hardtanh(a), x(*KINKS)),
    "relu6_slope_at_bounds_is_0": (lambda ns, F, a: F.relu6(a), x(*KINKS)),
    "hardsigmoid_slope_at_bounds_is_0": (lambda ns, F, a: F.hardsigmoid(a), x(*KINKS)),
    "hardswish_slope_at_bounds": (lambda ns, F, a: F.hardswish(a), x(*KINKS)),
    "relu_slope_at_0_is_0": (lambda ns, F, a: F.relu(a), x(*KINKS)),
    "leaky_relu_slope_at_0_is_the_negative_slope": (lambda ns, F, a: F.leaky_relu(a, 0.1), x(*KINKS)),
    "clamp_slope_at_bounds_is_1": (lambda ns, F, a: a.clamp(-1.0, 1.0), x(*KINKS)),
    "prelu_slope_at_0_is_the_weight": (lambda ns, F, a, w: F.prelu(a, w), x(*KINKS), x(0.25)),
    "abs_slope_at_0_is_0": (lambda ns, F, a: a.abs(), x(*KINKS)),
    # ties
    "max_pool1d_ties_go_to_the_first_maximum": (lambda ns, F, a: F.max_pool1d(a, 2, 1), (TIES, None, True)),
    "max_pool1d_strided_ties": (lambda ns, F, a: F.max_pool1d(a, 2, 2), (TIES, None, True)),
    "max_pool2d_ties_go_to_the_first_maximum": (lambda ns, F, a: F.max_pool2d(a[None], 2, 1), (TIES, None, True)),
    "median_ties_share_the_gradient": (lambda ns, F, a: a.median(), (TIES, None, True)),
    "median_dim_with_ties": (lambda ns, F, a: a.median(1).values, (TIES, None, True)),
    "max_ties_share_the_gradient": (lambda ns, F, a: a.max(), (TIES, None, True)),
    "maximum_ties_split_in_half": (lambda ns, F, a, b: ns.maximum(a, b), x(1.0, 2.0, 3.0), x(1.0, 5.0, 3.0)),
    # NaN values
    "median_with_nan_is_nan": (lambda ns, F, a: a.median(), x(1.0, NAN, 2.0, 0.5)),
    "median_dim_with_nan_is_nan_at_the_first_nan": (
        lambda ns, F, a: tuple(a.median(1)), ([[1.0, NAN, 2.0, NAN], [3.0, 1.0, 2.0, 0.0]], None, False)),
    "max_with_nan_is_nan": (lambda ns, F, a: a.max(), x(1.0, NAN, 2.0)),
    # finite gradients where a formula would give 0 * inf
    "norm_at_zero_has_gradient_0": (lambda ns, F, a: (a * 0).norm(), x(1.0, -2.0, 3.0)),
    "norm_3_at_zero_has_gradient_0": (lambda ns, F, a: (a * 0).norm(p=3), x(1.0, -2.0, 3.0)),
    "vector_norm_at_zero_has_gradient_0": (lambda ns, F, a: ns.linalg.vector_norm(a * 0), x(1.0, -2.0, 3.0)),
    "norm_dim_with_a_zero_row": (lambda ns, F, a: a.norm(dim=1), ([[0.0, 0.0], [3.0, -4.0]], None, True)),
    "pow_0_at_0_has_gradient_0": (lambda ns, F, a: a ** 0, x(0.0, 1.0, -2.0)),
    "pow_tensor_0_at_0_has_gradient_0": (lambda ns, F, a, b: a ** b, x(0.0, 1.0, 2.0), x(0.0, 0.0, 1.0)),
    "atan2_at_origin_has_gradient_0": (lambda ns, F, a, b: ns.atan2(a, b), x(0.0, 1.0), x(0.0, 2.0)),
    "infinite_upstream_through_relu_mask": (lambda ns, F, a: F.relu(a) * INF, x(-1.0, 2.0)),
    "infinite_upstream_through_clamp_mask": (lambda ns, F, a: a.clamp(-1.0, 1.0) * INF, x(-3.0, 0.5)),
    "infinite_upstream_through_max": (lambda ns, F, a: a.max() * INF, x(-3.0, 0.5)),
    "infinite_upstream_through_maximum": (lambda ns, F, a, b: ns.maximum(a, b) * INF, x(-3.0, 0.5), x(0.0, 0.0)),
    "cross_entropy_with_every_target_ignored": (
        lambda ns, F, a, t: F.cross_entropy(a, t), ([[0.5, -1.0, 2.0], [1.0, 0.0, 0.0]], None, True),
        ([-100, -100], "int64", False)),
    "nll_loss_with_every_target_ignored": (
        lambda ns, F, a, t: F.nll_loss(a, t, ignore_index=1), ([[0.5, -1.0], [1.0, 0.0]], None, True),
        ([1, 1], "int64", False)),
    "attention_row_fully_masked_gives_zeros": (
        lambda ns, F, q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
        ([[[0.1, 0.2], [0.3, -0.4]]], None, True), ([[[0.5, -0.2], [1.0, 0.3]]], None, True),
        ([[[1.0, 2.0], [3.0, 4.0]]], None, True), ([[True, False], [False, False]], "bool", False)),
    # empty tensors
    "softmax_of_empty": (lambda ns, F, a: F.softmax(a[:0], dim=0), x(1.0, 2.0)),
    "log_softmax_of_empty_rows": (lambda ns, F, a: F.log_softmax(a[:, :0], dim=1), (TIES, None, True)),
    "logsumexp_of_empty_is_minus_inf": (lambda ns, F, a: ns.logsumexp(a[:0], dim=0), x(1.0, 2.0)),
    "cumprod_of_empty": (lambda ns, F, a: ns.cumprod(a[:0], dim=0), x(1.0, 2.0)),
    "var_biased_over_no_entries": (lambda ns, F, a: a[:0].var(unbiased=False), x(1.0, 2.0)),
    "var_unbiased_of_one_entry_is_nan": (lambda ns, F, a: a[:1].var(), x(1.0, 2.0)),
}


# torch's hardsigmoid_backward multiplies by 1/6 rounded to float32, in float64 too
LOOSER = {"hardsigmoid_slope_at_bounds_is_0": 1e-7}


@pytest.mark.parametrize("name", sorted(CASES))
def test_as_torch(target, name):
    function, *specs = CASES[name]
    check(target, lambda *xs: function(pg, PF, *xs), lambda *xs: function(torch, torch.nn.functional, *xs), *specs,
          tol=max(target.tol, LOOSER.get(name, 0)))


def test_nested_list_index_reads_as_a_tuple_as_torch(target):
    values = [[float(4 * i + j) for j in range(4)] for i in range(3)]
    with pytest.warns(UserWarning, match="list of sequences"):
        check(target, lambda a: a[[[0, 1], [2, 2]]], lambda a: a[[[0, 1], [2, 2]]], (values, None, True))
    check(target, lambda a: a[[0, 2]], lambda a: a[[0, 2]], (values, None, True))  # a flat list stays an index
