"""RNN, GRU, LSTM and LSTMCell: against torch.nn in float64 with PyTorch's parameter names and
weights copied (outputs, final states and every gradient), and against finite differences on
every backend."""

import math

import numpy as np
import pytest
from torch_oracle import copy_parameters, needs_torch, same_as_torch, same_parameter_grads, torch

import polygrad as pg
import polygrad.functional as F
from polygrad import nn

RNG = np.random.default_rng(7)


def host(*shape):
    return RNG.standard_normal(shape)


CONFIGS = [
    ("RNN", dict(num_layers=2, nonlinearity="relu")),
    ("RNN", dict(bidirectional=True, bias=False)),
    ("GRU", dict(num_layers=2, bidirectional=True)),
    ("GRU", dict(batch_first=True)),
    ("LSTM", dict(num_layers=2, bidirectional=True, batch_first=True)),
    ("LSTM", dict()),
]


def flat(result):
    """output, then every final state."""
    output, states = result
    return (output,) + (tuple(states) if isinstance(states, tuple) else (states,))


def _pair(name, options):
    ours = getattr(nn, name)(3, 4, dtype="float64", **options)
    theirs = getattr(torch.nn, name)(3, 4, dtype=torch.float64, **options)
    copy_parameters(ours, theirs)
    return ours, theirs


@needs_torch
@pytest.mark.parametrize("name, options", CONFIGS, ids=str)
def test_sequence_modules_match_torch(name, options):
    ours, theirs = _pair(name, options)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    batch_first = options.get("batch_first", False)
    x = host(2, 5, 3) if batch_first else host(5, 2, 3)
    layers = options.get("num_layers", 1) * (2 if options.get("bidirectional") else 1)

    same_as_torch(lambda x: flat(ours(x)), lambda x: flat(theirs(x)), x)
    h0, c0 = host(layers, 2, 4), host(layers, 2, 4)
    if name == "LSTM":
        same_as_torch(lambda x, h, c: flat(ours(x, (h, c))), lambda x, h, c: flat(theirs(x, (h, c))), x, h0, c0)
        same_as_torch(lambda x, h, c: flat(ours(x, (h, c))), lambda x, h, c: flat(theirs(x, (h, c))),
                      host(5, 3), h0[:, 0], c0[:, 0])  # unbatched
    else:
        same_as_torch(lambda x, h: flat(ours(x, h)), lambda x, h: flat(theirs(x, h)), x, h0)
        same_as_torch(lambda x, h: flat(ours(x, h)), lambda x, h: flat(theirs(x, h)), host(5, 3), h0[:, 0])


@needs_torch
@pytest.mark.parametrize("options", [dict(num_layers=2, bidirectional=True),
                                     dict(num_layers=2, bidirectional=True, proj_size=3, batch_first=True)], ids=str)
def test_lstm_parameter_gradients_match_torch(options):
    ours, theirs = _pair("LSTM", options)
    assert {n: tuple(p.shape) for n, p in ours.named_parameters()} == {
        n: tuple(p.shape) for n, p in theirs.named_parameters()}
    same_as_torch(lambda x: flat(ours(x)), lambda x: flat(theirs(x)), host(4, 3, 3))
    same_parameter_grads(ours, theirs)


@needs_torch
def test_lstm_proj_size_matches_torch_with_given_states():
    ours, theirs = _pair("LSTM", dict(proj_size=2, num_layers=2))
    h0, c0 = host(2, 3, 2), host(2, 3, 4)
    same_as_torch(lambda x, h, c: flat(ours(x, (h, c))), lambda x, h, c: flat(theirs(x, (h, c))),
                  host(5, 3, 3), h0, c0)
    same_parameter_grads(ours, theirs)
    same_as_torch(lambda x, h, c: flat(ours(x, (h, c))), lambda x, h, c: flat(theirs(x, (h, c))),
                  host(5, 3), h0[:, 0], c0[:, 0])  # unbatched


@needs_torch
def test_lstm_cell_matches_torch():
    ours, theirs = nn.LSTMCell(3, 4, dtype="float64"), torch.nn.LSTMCell(3, 4, dtype=torch.float64)
    copy_parameters(ours, theirs)
    same_as_torch(lambda x, h, c: ours(x, (h, c)), lambda x, h, c: theirs(x, (h, c)), host(2, 3), host(2, 4),
                  host(2, 4))
    same_as_torch(lambda x: ours(x), lambda x: theirs(x), host(3))  # unbatched, zero states


def test_init_and_names_are_pytorchs(target):
    layer = nn.GRU(3, 5, num_layers=2, bidirectional=True, backend=target.backend, device=target.device,
                   dtype=target.dtype)
    shapes = {name: tuple(p.shape) for name, p in layer.named_parameters()}
    assert shapes["weight_ih_l0"] == (15, 3) and shapes["weight_ih_l1_reverse"] == (15, 10)
    assert shapes["weight_hh_l1"] == (15, 5) and shapes["bias_hh_l0_reverse"] == (15,)
    assert len(shapes) == 16
    bound = 1 / math.sqrt(5)
    assert all(np.abs(p.numpy()).max() <= bound for p in layer.parameters())


def test_dropout_between_layers_only_while_training(target):
    layer = nn.LSTM(3, 4, num_layers=2, dropout=0.5, backend=target.backend, device=target.device,
                    dtype=target.dtype)
    x = target.tensor(host(5, 2, 3))
    layer.eval()
    first, second = layer(x)[0].numpy(), layer(x)[0].numpy()
    np.testing.assert_array_equal(first, second)
    layer.train()
    pg.manual_seed(0)
    assert not np.allclose(layer(x)[0].numpy(), first)


def test_lstm_gradcheck(target64):
    layer = nn.LSTM(2, 2, bidirectional=True, backend=target64.backend, device=target64.device, dtype="float64")
    x = target64.tensor(host(3, 1, 2))
    pg.gradcheck(lambda x: layer(x)[0], [x], check_forward=True)
    projected = nn.LSTM(2, 3, proj_size=2, backend=target64.backend, device=target64.device, dtype="float64")
    pg.gradcheck(lambda x: projected(x)[1][0], [x])


def test_gru_and_rnn_gradcheck(target64):
    gru = nn.GRU(2, 2, num_layers=2, backend=target64.backend, device=target64.device, dtype="float64")
    rnn = nn.RNN(2, 2, backend=target64.backend, device=target64.device, dtype="float64")
    x, h = target64.tensor(host(3, 1, 2)), target64.tensor(host(1, 1, 2))
    pg.gradcheck(lambda x: gru(x)[1], [x])
    pg.gradcheck(lambda x, h: rnn(x, h)[0], [x, h])
    cell = nn.LSTMCell(2, 2, backend=target64.backend, device=target64.device, dtype="float64")
    weights = [p.detach() for p in cell.parameters()]
    x, h, c = (target64.tensor(host(1, 2)) for _ in range(3))
    pg.gradcheck(lambda x, h, c: F.lstm_cell(x, (h, c), *weights), [x, h, c])


def test_rnn_errors():
    with pytest.raises(pg.ShapeError, match=r"LSTM: expected an input \(L, N, 3\)"):
        nn.LSTM(3, 4)(pg.zeros((5, 2, 2)))
    with pytest.raises(pg.ShapeError, match=r"GRU: expected initial states of shape \(2, 2, 4\)"):
        nn.GRU(3, 4, num_layers=2)(pg.zeros((5, 2, 3)), pg.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match="LSTM: hx must be a pair"):
        nn.LSTM(3, 4)(pg.zeros((5, 2, 3)), pg.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match="GRU: proj_size is only supported for LSTM"):
        nn.GRU(3, 4, proj_size=2)
    with pytest.raises(ValueError, match=r"LSTM: proj_size must be in \[0, hidden_size 4\), got 4"):
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(pg.ShapeError, match=r"LSTM: expected initial states of shape \(1, 2, 2\)"):
        nn.LSTM(3, 4, proj_size=2)(pg.zeros((5, 2, 3)), (pg.zeros((1, 2, 4)), pg.zeros((1, 2, 4))))
