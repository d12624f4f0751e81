"""Recurrent sequence modules RNN, GRU and LSTM (with proj_size too), and LSTMCell, with PyTorch's
parameter names, shapes, init (every parameter U(-1/sqrt(H), 1/sqrt(H))) and call conventions.

Each layer and direction projects the whole input sequence at once (one matmul), then steps
through time with the hidden projection and the cell's update from polygrad.functional.
A PackedSequence input runs padded, each sequence's state held once past its length (so h_n is
its true last step's, and the reverse direction starts at its own last step), and is packed back.
"""

import math

from .. import functional as F
from ..namespace import ops
from ..core.engine import no_grad
from ..namespace.creation import zeros
from ..core.errors import ShapeError, describe
from . import init
from .layers import _Cell, _parameter
from .module import Module
from .rnn_utils import PackedSequence, pack_padded_sequence, pad_packed_sequence

_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


class _RNNBase(Module):
    _mode = None

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, *, nonlinearity="tanh", proj_size=0, device=None, backend=None, dtype=None):
        super().__init__()
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"{self._mode}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        if not 0 <= dropout <= 1:
            raise ValueError(f"{self._mode}: dropout must be in [0, 1], got {dropout}")
        if proj_size and self._mode != "LSTM":
            raise ValueError(f"{self._mode}: proj_size is only supported for LSTM")
        if not 0 <= proj_size < hidden_size:
            raise ValueError(f"{self._mode}: proj_size must be in [0, hidden_size {hidden_size}), got {proj_size}")
        factory = {"device": device, "backend": backend, "dtype": dtype}
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout, self.bidirectional = bias, batch_first, dropout, bidirectional
        self.nonlinearity, self.proj_size = nonlinearity, proj_size
        rows = _GATES[self._mode] * hidden_size
        out = proj_size or hidden_size  # the size of h: an LSTM with proj_size projects it down by weight_hr
        for layer in range(num_layers):
            width = input_size if layer == 0 else out * self._directions
            for suffix in self._suffixes():
                setattr(self, f"weight_ih_l{layer}{suffix}", _parameter((rows, width), factory))
                setattr(self, f"weight_hh_l{layer}{suffix}", _parameter((rows, out), factory))
                if bias:
                    setattr(self, f"bias_ih_l{layer}{suffix}", _parameter((rows,), factory))
                    setattr(self, f"bias_hh_l{layer}{suffix}", _parameter((rows,), factory))
                if proj_size:
                    setattr(self, f"weight_hr_l{layer}{suffix}", _parameter((proj_size, hidden_size), factory))
        bound = 1 / math.sqrt(hidden_size)
        for parameter in self.parameters():
            init.uniform_(parameter, -bound, bound)

    @property
    def _directions(self):
        return 2 if self.bidirectional else 1

    def _suffixes(self):
        return ("", "_reverse") if self.bidirectional else ("",)

    def _weights(self, layer, suffix):
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
        return [getattr(self, f"{n}_l{layer}{suffix}", None) for n in names]

    def forward(self, input, hx=None):
        """input (L, N, H_in), (N, L, H_in) with batch_first, or unbatched (L, H_in); hx (layers*D, N, H)
        (for LSTM the pair (h_0, c_0), h_0 of size proj_size if given), zeros by default.
        Returns (output, h_n) (LSTM: (output, (h_n, c_n))). A PackedSequence input (batch_first does not
        apply) gives a PackedSequence output, hx and h_n in the batch's original order."""
        packed = input if isinstance(input, PackedSequence) else None
        lengths = None
        if packed:  # padded in the packing's sorted order; the batch is put back in order at the end
            input, lengths = pad_packed_sequence(PackedSequence(packed.data, packed.batch_sizes))
            lengths = lengths.to(input.device)
        unbatched = input.ndim == 2
        if input.ndim not in (2, 3) or input.shape[-1] != self.input_size:
            raise ShapeError(f"{self._mode}: expected an input (L, N, {self.input_size}) or (L, {self.input_size}), "
                             f"got {describe(input)}")
        x = (ops.expand_dims(input, axis=1) if unbatched else
             ops.swapaxes(input, 0, 1) if self.batch_first and not packed else input)
        states = self._initial_states(hx, x, unbatched)
        if packed and packed.sorted_indices is not None:
            states = [ops.take(s, packed.sorted_indices, axis=1) for s in states]
        finals = []
        for layer in range(self.num_layers):
            outputs = []
            for direction, suffix in enumerate(self._suffixes()):
                index = layer * self._directions + direction
                sequence, final = self._run(x, [s[index] for s in states], self._weights(layer, suffix), direction,
                                            lengths)
                outputs.append(sequence)
                finals.append(final)
            x = outputs[0] if len(outputs) == 1 else ops.concat(outputs, axis=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        stacked = [ops.stack([f[k] for f in finals], axis=0) for k in range(len(states))]
        if packed:
            output = PackedSequence(pack_padded_sequence(x, lengths.tolist()).data, *packed[1:])
            if packed.unsorted_indices is not None:
                stacked = [ops.take(s, packed.unsorted_indices, axis=1) for s in stacked]
        else:
            output = ops.squeeze(x, axis=1) if unbatched else ops.swapaxes(x, 0, 1) if self.batch_first else x
        if unbatched:
            stacked = [ops.squeeze(s, axis=1) for s in stacked]
        return output, (tuple(stacked) if self._mode == "LSTM" else stacked[0])

    def _initial_states(self, hx, x, unbatched):
        sizes = (self.proj_size or self.hidden_size, self.hidden_size)[:2 if self._mode == "LSTM" else 1]
        shapes = [(self.num_layers * self._directions, x.shape[1], size) for size in sizes]
        if hx is None:
            return [zeros(shape, dtype=x.dtype, device=x.device) for shape in shapes]
        states = list(hx) if self._mode == "LSTM" else [hx]
        if len(states) != len(shapes):
            raise ValueError(f"{self._mode}: hx must be {'a pair (h_0, c_0)' if len(shapes) == 2 else 'one tensor'}")
        states = [ops.expand_dims(s, axis=1) if unbatched else s for s in states]
        for s, shape in zip(states, shapes):
            if tuple(s.shape) != shape:
                raise ShapeError(f"{self._mode}: expected initial states of shape {shape}, got {describe(s)}")
        return states

    def _run(self, x, state, weights, direction, lengths=None):
        """One layer, one direction: the output sequence (L, N, H) and the final state(s). With lengths (N,)
        a sequence's state stays as it was at every step t >= its length: forward that holds its last
        step's state to the end, and in reverse it keeps h_0 until the sequence's own last step."""
        weight_ih, weight_hh, bias_ih, bias_hh, weight_hr = weights
        gi = F.linear(x, weight_ih, bias_ih)  # every time step's input projection in one matmul
        if self._mode == "LSTM" and lengths is None and weight_hr is None and x.shape[0]:
            return _lstm_layer(gi, state, weight_hh, bias_hh, direction)
        steps = range(x.shape[0] - 1, -1, -1) if direction else range(x.shape[0])
        outputs = [None] * x.shape[0]
        for t in steps:
            previous = state
            gh = F.linear(state[0], weight_hh, bias_hh)
            if self._mode == "LSTM":
                state = list(F.lstm_update(gi[t] + gh, state[1]))
                if weight_hr is not None:
                    state[0] = F.linear(state[0], weight_hr)
            elif self._mode == "GRU":
                state = [F.gru_update(gi[t], gh, state[0])]
            else:
                state = [F.rnn_update(gi[t], gh, self.nonlinearity)]
            if lengths is not None:
                running = ops.expand_dims(lengths > t, axis=-1)
                state = [ops.where(running, new, old) for new, old in zip(state, previous)]
            outputs[t] = state[0]
        return ops.stack(outputs, axis=0), state

    def extra_repr(self):
        text = f"{self.input_size}, {self.hidden_size}"
        for name, default in (("num_layers", 1), ("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False), ("proj_size", 0)):
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)}"
        return text


class RNN(_RNNBase):
    """Elman RNN, h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu), over sequences."""

    _mode = "RNN"

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, *, device=None, backend=None, dtype=None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         nonlinearity=nonlinearity, device=device, backend=backend, dtype=dtype)


class GRU(_RNNBase):
    """Gated recurrent units over sequences (gates r, z, n, as polygrad.functional.gru_cell)."""

    _mode = "GRU"


class LSTM(_RNNBase):
    """Long short-term memory over sequences (gates i, f, g, o, as polygrad.functional.lstm_cell).

    With proj_size > 0 each step's h is projected to proj_size by weight_hr_l{k} (proj_size, hidden_size),
    and h_0, h_n, the output and the next layer's input have that size (c stays hidden_size)."""

    _mode = "LSTM"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, *, device=None, backend=None, dtype=None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size=proj_size, device=device, backend=backend, dtype=dtype)


class LSTMCell(_Cell):
    """One LSTM step on hx = (h, c), zeros by default; returns (h', c')."""

    _gates = 4

    def forward(self, x, hx=None):
        if hx is None:
            state = zeros(x.shape[:-1] + (self.hidden_size,), dtype=x.dtype, device=x.device)
            hx = (state, state)
        return F.lstm_cell(x, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


def _lstm_layer(gi, state, weight_hh, bias_hh, reverse):
    """An LSTM layer as one fused primitive (polygrad/primitives/fused.py): the outputs (L, N, H) and the final [h, c]."""
    if bias_hh is None:
        with no_grad():
            bias_hh = ops.zeros_like(weight_hh[:, 0])
    size = weight_hh.shape[1]
    out = ops.lstm_sequence(ops.flip(gi, axis=0) if reverse else gi, state[0], state[1], weight_hh, bias_hh)
    hs = out[..., :size]
    return ops.flip(hs, axis=0) if reverse else hs, [out[-1, ..., :size], out[-1, ..., size:2 * size]]
