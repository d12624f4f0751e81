"""PyTorch's `torch.nn.utils.rnn` helpers for batches of sequences of different lengths (pg.nn.utils.rnn)."""

from .. import ops
from ..creation import full


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
