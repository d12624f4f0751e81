"""PyTorch's `torch.nn.utils.rnn` helpers for batches of sequences of different lengths (pg.nn.utils.rnn):
padding, and packing as PackedSequence, which nn.RNN, GRU and LSTM take."""

from collections import namedtuple

from ..namespace import ops
from ..namespace.creation import full
from ..namespace.ops import tensor


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack tensors of shapes (L_i, *) into (max L, B, *) ((B, max L, *) with batch_first), each padded with
    padding_value after its entries (before them with padding_side="left"); differentiable in every sequence."""
    if padding_side not in ("right", "left"):
        raise ValueError(f'pad_sequence: padding_side must be "right" or "left", got {padding_side!r}')
    sequences = list(sequences)
    if not sequences:
        raise ValueError("pad_sequence: expected at least one sequence")
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        filler = full((longest - s.shape[0],) + tuple(s.shape[1:]), padding_value, dtype=s.dtype, device=s.device)
        padded.append(ops.concat([s, filler] if padding_side == "right" else [filler, s], axis=0))
    return ops.stack(padded, axis=0 if batch_first else 1)


class PackedSequence(namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """A batch of sequences packed time-major as PyTorch lays it out: `data` (sum of lengths, *) holds step 0 of
    every sequence, then step 1 of those still running, and so on, the sequences in decreasing length;
    `batch_sizes` (int64, on the host) counts the sequences running at each step; `sorted_indices` is the
    batch order (longest first) the packing used and `unsorted_indices` its inverse (None when the batch
    already came sorted)."""

    __slots__ = ()

    def __new__(cls, data, batch_sizes, sorted_indices=None, unsorted_indices=None):
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch (T, B, *) ((B, T, *) with batch_first) of sequences with the given lengths; with
    enforce_sorted the lengths must already decrease, else the batch is sorted by decreasing length."""
    lengths = [int(n) for n in (lengths.tolist() if hasattr(lengths, "tolist") else lengths)]
    if enforce_sorted and any(a < b for a, b in zip(lengths, lengths[1:])):
        raise ValueError("pack_padded_sequence: lengths must be in decreasing order with enforce_sorted=True, "
                         f"got {lengths}")
    x = ops.swapaxes(input, 0, 1) if batch_first else input
    if not lengths or min(lengths) < 1 or max(lengths) > x.shape[0]:
        raise ValueError(f"pack_padded_sequence: lengths must lie in [1, {x.shape[0]}] (the padded length), "
                         f"got {lengths}")
    sorted_indices = unsorted_indices = None
    if not enforce_sorted:
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])  # stable, as torch's sort keeps ties
        inverse = sorted(range(len(order)), key=order.__getitem__)
        sorted_indices = tensor(order, dtype="int64", device=input.device)
        unsorted_indices = tensor(inverse, dtype="int64", device=input.device)
        x, lengths = ops.take(x, sorted_indices, axis=1), [lengths[i] for i in order]
    batch_sizes = [sum(n > t for n in lengths) for t in range(lengths[0])]
    data = ops.concat([x[t, :b] for t, b in enumerate(batch_sizes)], axis=0)
    return PackedSequence(data, _host(batch_sizes), sorted_indices, unsorted_indices)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Undo pack_padded_sequence: the padded batch (T, B, *) ((B, T, *) with batch_first), T = total_length or
    the longest length, padded with padding_value and in the original batch order, and the lengths
    (int64, on the host)."""
    data, batch_sizes = sequence.data, sequence.batch_sizes.tolist()
    steps = total_length if total_length is not None else len(batch_sizes)
    if steps < len(batch_sizes):
        raise ValueError(f"pad_packed_sequence: total_length {total_length} is shorter than the longest "
                         f"sequence ({len(batch_sizes)} steps)")
    rows, offset = [], 0
    for b in batch_sizes + [0] * (steps - len(batch_sizes)):
        filler = full((batch_sizes[0] - b,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype,
                      device=data.device)
        rows.append(ops.concat([data[offset:offset + b], filler], axis=0))
        offset += b
    padded = ops.stack(rows, axis=0)
    lengths = [sum(b > i for b in batch_sizes) for i in range(batch_sizes[0])]
    if sequence.unsorted_indices is not None:
        padded = ops.take(padded, sequence.unsorted_indices, axis=1)
        lengths = [lengths[i] for i in sequence.unsorted_indices.tolist()]
    return (ops.swapaxes(padded, 0, 1) if batch_first else padded), _host(lengths)


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of tensors (L_i, *) (pad_sequence, then pack_padded_sequence)."""
    sequences = list(sequences)
    return pack_padded_sequence(pad_sequence(sequences), [s.shape[0] for s in sequences],
                                enforce_sorted=enforce_sorted)


def _host(counts):
    """Sizes kept on the host as int64, where PyTorch keeps batch_sizes and lengths."""
    return tensor(counts, dtype="int64", device="cpu")
