"""What scipy's own array-API test suite found, run with polygrad as its namespace (the harness
lives outside the repository; see the issue-18 notes): each behaviour checked against torch or NumPy."""

import numpy as np
import pytest

import polygrad as pg

from torch_oracle import torch


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
