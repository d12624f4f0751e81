"""Decoding CTC outputs into label sequences, on the host (the course's HW3).

Both decoders take log-probabilities (T, N, C) (or (T, C) for one sequence),
as a network's log_softmax gives them, and optional input_lengths; labels are
class indices with the blank removed.

    best = pg.text.ctc_greedy_decode(log_probs)                     # [[3, 1, 4], ...]
    beams = pg.text.ctc_beam_search_decode(log_probs, beam_width=8)  # [[((3, 1, 4), -1.2), ...], ...]
"""

import math

from ..namespace.ops import asarray

__all__ = ["ctc_greedy_decode", "ctc_beam_search_decode", "collapse"]


def _frames(log_probs, input_lengths):
    """Per sequence, its frames as lists of floats (read to the host once), and whether input was unbatched."""
    log_probs = asarray(log_probs)
    if log_probs.ndim not in (2, 3):
        raise ValueError(f"CTC decoding: log_probs must be (T, N, C) or (T, C), got shape {log_probs.shape}")
    unbatched = log_probs.ndim == 2
    values = log_probs.tolist()
    sequences = [values] if unbatched else [[frame[n] for frame in values] for n in range(log_probs.shape[1])]
    if input_lengths is None:
        lengths = [len(values)] * len(sequences)
    else:
        lengths = [int(n) for n in (input_lengths.tolist() if hasattr(input_lengths, "tolist") else
                                    [input_lengths] if isinstance(input_lengths, int) else input_lengths)]
    if len(lengths) != len(sequences) or any(not 0 <= n <= len(values) for n in lengths):
        raise ValueError(f"CTC decoding: input_lengths {lengths} must give one length in [0, {len(values)}] "
                         f"for each of the {len(sequences)} sequences")
    return [seq[:n] for seq, n in zip(sequences, lengths)], unbatched


def collapse(path, blank=0):
    """A frame-by-frame path as its labeling: repeats merged, then blanks removed."""
    return [c for i, c in enumerate(path) if c != blank and (i == 0 or path[i - 1] != c)]


def ctc_greedy_decode(log_probs, input_lengths=None, blank=0):
    """The most likely class of every frame, collapsed: one label list per sequence.

    Fast, but not the most likely labeling (that sums over alignments; see the beam search).
    """
    sequences, unbatched = _frames(log_probs, input_lengths)
    decoded = [collapse([max(range(len(f)), key=f.__getitem__) for f in frames], blank) for frames in sequences]
    return decoded[0] if unbatched else decoded


def _logaddexp(a, b):
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    top = max(a, b)
    return top + math.log1p(math.exp(-abs(a - b)))


def ctc_beam_search_decode(log_probs, input_lengths=None, beam_width=10, blank=0, prune=-math.inf):
    """CTC prefix beam search: per sequence, up to beam_width (labels, log probability) pairs, best first.

    Each beam is a labeling prefix with two scores, the log probability of all
    alignments so far that end in a blank and of those that end in its last
    label (a repeated label needs a blank between, else it merges). Per frame,
    every beam is extended by every class whose log probability is above `prune`,
    and the beam_width most probable prefixes are kept. With a beam as wide as
    the number of prefixes the scores are exact: the sum over every alignment.
    """
    if not isinstance(beam_width, int) or beam_width < 1:
        raise ValueError(f"ctc_beam_search_decode: beam_width must be a positive integer, got {beam_width!r}")
    sequences, unbatched = _frames(log_probs, input_lengths)
    results = [_beam_search(frames, beam_width, blank, prune) for frames in sequences]
    return results[0] if unbatched else results


def _beam_search(frames, beam_width, blank, prune):
    beams = {(): (0.0, -math.inf)}  # prefix -> (log p ending in blank, log p ending in its last label)
    for frame in frames:
        grown = {}

        def add(prefix, blank_end=-math.inf, label_end=-math.inf):
            old_blank, old_label = grown.get(prefix, (-math.inf, -math.inf))
            grown[prefix] = (_logaddexp(old_blank, blank_end), _logaddexp(old_label, label_end))

        for prefix, (ends_blank, ends_label) in beams.items():
            total = _logaddexp(ends_blank, ends_label)
            for c, p in enumerate(frame):
                if p <= prune:
                    continue
                if c == blank:
                    add(prefix, blank_end=total + p)
                elif prefix and prefix[-1] == c:
                    add(prefix + (c,), label_end=ends_blank + p)  # a blank came between: a new label
                    add(prefix, label_end=ends_label + p)  # the same label continues
                else:
                    add(prefix + (c,), label_end=total + p)
        reachable = [item for item in grown.items() if _logaddexp(*item[1]) > -math.inf]
        beams = dict(sorted(reachable, key=lambda item: _logaddexp(*item[1]), reverse=True)[:beam_width])
    return [(list(prefix), _logaddexp(*scores)) for prefix, scores in beams.items()]
