"""What scipy's own array-API test suite found, run with polygrad as its namespace (the harness
lives outside the repository; see the issue-18 notes): each behaviour checked against torch or NumPy."""

import numpy as np
import pytest

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
