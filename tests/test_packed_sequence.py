"""PackedSequence, pack_padded_sequence, pad_packed_sequence and pack_sequence against torch.nn.utils.rnn
(layouts, indices, batch sizes, gradients), and RNN, GRU and LSTM on packed input against torch in float64."""

import numpy as np
import pytest
from torch_oracle import copy_parameters, needs_torch, same_as_torch, same_parameter_grads, torch

import polygrad as pg
from polygrad import nn
from polygrad.nn.utils import rnn

RNG = np.random.default_rng(11)
LENGTHS = [3, 5, 1, 4]  # distinct, so the decreasing-length sort has one answer


def same_indices(ours, theirs):
    if theirs is None:
        assert ours is None
    else:
        assert ours.dtype == pg.int64
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@needs_torch
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_pack_and_pad_round_trip_match_torch(batch_first, enforce_sorted):
    lengths = sorted(LENGTHS, reverse=True) if enforce_sorted else LENGTHS
    x = RNG.standard_normal((4, 6, 2) if batch_first else (6, 4, 2))
    ours = rnn.pack_padded_sequence(pg.tensor(x), lengths, batch_first, enforce_sorted)
    theirs = torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(x), lengths, batch_first, enforce_sorted)
    np.testing.assert_array_equal(ours.data.numpy(), theirs.data.numpy())
    np.testing.assert_array_equal(ours.batch_sizes.numpy(), theirs.batch_sizes.numpy())
    assert ours.batch_sizes.dtype == pg.int64 and ours.batch_sizes.device == pg.device("cpu")
    same_indices(ours.sorted_indices, theirs.sorted_indices)
    same_indices(ours.unsorted_indices, theirs.unsorted_indices)
    for total_length in (None, 7):
        padded, got = rnn.pad_packed_sequence(ours, batch_first, -1.0, total_length)
        want_padded, want = torch.nn.utils.rnn.pad_packed_sequence(theirs, batch_first, -1.0, total_length)
        np.testing.assert_array_equal(padded.numpy(), want_padded.numpy())
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        assert got.dtype == pg.int64


@needs_torch
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_pack_sequence_and_its_gradients_match_torch(enforce_sorted):
    lengths = sorted(LENGTHS, reverse=True) if enforce_sorted else LENGTHS
    arrays = [RNG.standard_normal((n, 3)) for n in lengths]
    same_as_torch(lambda *s: rnn.pad_packed_sequence(rnn.pack_sequence(s, enforce_sorted), padding_value=2.0)[0],
                  lambda *s: torch.nn.utils.rnn.pad_packed_sequence(
                      torch.nn.utils.rnn.pack_sequence(s, enforce_sorted), padding_value=2.0)[0], *arrays)
    same_as_torch(lambda *s: rnn.pack_sequence(s, enforce_sorted).data,
                  lambda *s: torch.nn.utils.rnn.pack_sequence(s, enforce_sorted).data, *arrays)


def test_packing_errors():
    with pytest.raises(ValueError, match="decreasing order"):
        rnn.pack_padded_sequence(pg.zeros((4, 2, 1)), [2, 3])
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 4\]"):
        rnn.pack_padded_sequence(pg.zeros((4, 2, 1)), [5, 3])
    with pytest.raises(ValueError, match="total_length 2 is shorter"):
        rnn.pad_packed_sequence(rnn.pack_sequence([pg.zeros((3, 1))]), total_length=2)


@needs_torch
@pytest.mark.parametrize("name", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_sequence_modules_on_packed_input_match_torch(name, batch_first):
    """Output data, h_n (c_n) at each sequence's own last step in both directions of both layers, the
    gradient of the padded input and of every parameter, with given initial states in the caller's order."""
    options = dict(num_layers=2, bidirectional=True, batch_first=batch_first)
    ours = getattr(nn, name)(3, 4, dtype="float64", **options)
    theirs = getattr(torch.nn, name)(3, 4, dtype=torch.float64, **options)
    copy_parameters(ours, theirs)
    x = RNG.standard_normal((4, 5, 3) if batch_first else (5, 4, 3))
    lengths = [3, 5, 1, 4]
    states = [RNG.standard_normal((4, 4, 4)) for _ in range(2 if name == "LSTM" else 1)]

    def run(module, utils):
        def call(x, *states):
            packed = utils.pack_padded_sequence(x, lengths, batch_first, enforce_sorted=False)
            output, final = module(packed, tuple(states) if name == "LSTM" else states[0])
            assert type(output).__name__ == "PackedSequence"
            assert all(a is b for a, b in zip(output[1:], packed[1:]))  # the input's batch sizes and order
            return (output.data,) + (tuple(final) if name == "LSTM" else (final,))
        return call

    same_as_torch(run(ours, rnn), run(theirs, torch.nn.utils.rnn), x, *states, rtol=1e-10, grad_rtol=1e-10)
    same_parameter_grads(ours, theirs)
