"""DataLoader's default batching is PyTorch's default_collate: same structure, dtypes and values (issue 19)."""

from collections import namedtuple

import numpy as np
import pytest
from torch_oracle import torch

import polygrad as pg

Point = namedtuple("Point", "x label")

SAMPLES = {
    "nested_tuples_keep_their_structure": lambda i: (np.float32([i, -i]), (i, i * 2.5)),
    "dict_samples": lambda i: {"image": np.float32([i, i + 1]), "label": i, "weight": 0.5 * i},
    "string_fields": lambda i: (np.float32([i]), f"name{i}"),
    "namedtuples": lambda i: Point(np.float32([i, 2 * i]), i % 2 == 0),
    "lists_of_numbers": lambda i: [i, float(i), True],
    "bare_arrays": lambda i: np.float32([i, i]),
    "dict_of_nested_lists": lambda i: {"pair": [np.int64(i), np.float32([i])], "name": "x"},
}


def _same(got, want):
    if isinstance(want, torch.Tensor):
        assert isinstance(got, pg.Tensor), type(got)
        assert str(got.dtype) == str(want.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    elif isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want)
        for key in want:
            _same(got[key], want[key])
    elif isinstance(want, (tuple, list)):
        assert isinstance(got, (tuple, list)) and len(got) == len(want)
        if hasattr(want, "_fields"):
            assert type(got) is type(want)
        for g, w in zip(got, want):
            _same(g, w)
    else:
        assert got == want


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_default_batches_as_torch(target, name):
    if torch is None:
        pytest.skip("torch is not installed")
    if target.dtype == "float32" and target.backend == "array_api_strict":
        pytest.skip("Python floats batch as float64, which this device lacks")
    dataset = [SAMPLES[name](i) for i in range(5)]
    ours = pg.data.DataLoader(dataset, batch_size=2, backend=target.backend, device=target.device)
    theirs = torch.utils.data.DataLoader(dataset, batch_size=2)
    batches = list(ours)
    assert len(batches) == len(theirs)
    for got, want in zip(batches, theirs):
        _same(got, want)
        assert all(t.device == ours.device for t in _tensors(got))


def _tensors(batch):
    if isinstance(batch, pg.Tensor):
        return [batch]
    values = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (tuple, list)) else []
    return [t for v in values for t in _tensors(v)]


def test_samples_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="collate: samples differ in length"):
        list(pg.data.DataLoader([(1, 2), (1, 2, 3)], batch_size=2))


def test_generator_draws_the_shuffled_order():
    dataset = list(range(10))
    first = [b.tolist() for b in pg.data.DataLoader(dataset, batch_size=5, shuffle=True, generator=pg.Generator(3))]
    again = [b.tolist() for b in pg.data.DataLoader(dataset, batch_size=5, shuffle=True, generator=pg.Generator(3))]
    other = [b.tolist() for b in pg.data.DataLoader(dataset, batch_size=5, shuffle=True, generator=pg.Generator(4))]
    sampler = pg.data.RandomSampler(dataset, generator=pg.Generator(3))
    assert first == again != other
    assert sum(first, []) == list(sampler)
