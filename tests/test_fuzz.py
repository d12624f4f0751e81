"""The differential fuzzer (tests/fuzz_programs.py) against torch, on every backend (issue 19).

The default run takes a fast slice; `nox -s fuzz` (or POLYGRAD_FUZZ_PROGRAMS=N) a larger one.
Every mismatch the fuzzer found is a named regression below: its seed's program, forever.
"""

import os

import pytest
from fuzz_programs import OPS, check, make
from torch_oracle import torch

PROGRAMS = int(os.environ.get("POLYGRAD_FUZZ_PROGRAMS", "12"))

# Found by the first run (300 programs against torch 2.13, before the fixes of issue 19: 15 mismatches, 5.0%)
REGRESSIONS = {
    "hardsigmoid_bounds_then_max_dim": 26,
    "pow_with_exponent_zero_at_base_zero": 64,
    "hardsigmoid_bounds_under_median_ties": 80,
    "max_pool_ties_go_to_the_first_maximum": 95,
    "relu6_at_a_selu_zero": 100,
    "norm_dim_of_a_zero_row": 111,
    "relu6_at_its_bounds": 125,
    "hardsigmoid_at_its_bounds": 128,
    "elu_at_zero": 149,
    "relu6_and_hardtanh_at_bounds_after_pad": 156,
    "selu_at_zero_under_logsumexp": 191,
    "norm_dim_of_a_zero_column": 194,
    "elu_at_zero_after_flip": 275,
    "atan2_at_the_origin": 278,
    "selu_at_zero_then_max_pool": 296,
}


def _needs_torch():
    if torch is None:
        pytest.skip("torch is not installed")


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_fuzz_regression(target, name):
    _needs_torch()
    program = make(REGRESSIONS[name])
    problem = check(program, target)
    assert problem is None, f"{problem}\n{program}"


@pytest.mark.parametrize("seed", range(1000, 1000 + PROGRAMS))
def test_fuzz_programs(target, seed):
    _needs_torch()
    program = make(seed)
    problem = check(program, target)
    assert problem is None, f"{problem}\n{program}"


def test_the_fuzzer_covers_the_op_surface():
    names = {name for seed in range(300) for name, _ in make(seed).steps}
    assert names == set(OPS)
