"""CTC decoding: greedy and prefix beam search against brute force over every alignment."""

import itertools
import math

import numpy as np
import pytest

import polygrad as pg
from polygrad import text


def log_softmax(z):
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def labeling_scores(log_probs, blank=0):
    """log p(labeling) for every labeling, summed over all alignments (brute force)."""
    totals = {}
    for path in itertools.product(range(log_probs.shape[1]), repeat=log_probs.shape[0]):
        labels = tuple(text.collapse(list(path), blank))
        p = math.exp(sum(log_probs[t, c] for t, c in enumerate(path)))
        totals[labels] = totals.get(labels, 0.0) + p
    return {k: math.log(v) for k, v in totals.items()}


@pytest.mark.parametrize("blank", [0, 2])
def test_an_unpruned_beam_search_gives_every_labelings_exact_probability(blank):
    log_probs = log_softmax(np.random.default_rng(blank).standard_normal((5, 3)))
    exact = labeling_scores(log_probs, blank)
    beams = text.ctc_beam_search_decode(log_probs, beam_width=10_000, blank=blank)
    assert len(beams) == len(exact)
    for labels, score in beams:
        assert score == pytest.approx(exact[tuple(labels)], abs=1e-12)
    assert [s for _, s in beams] == sorted((s for _, s in beams), reverse=True)


def test_a_narrow_beam_finds_the_best_labeling_where_greedy_does_not():
    # frame-wise best path is "blank, blank, a" style splits; the labeling summed over paths wins
    log_probs = np.log(np.array([[0.4, 0.6, 0.0 + 1e-9], [0.4, 0.6, 1e-9], [0.4, 0.0 + 1e-9, 0.6]]) + 0)
    log_probs = log_softmax(log_probs)
    exact = labeling_scores(log_probs)
    best = max(exact, key=exact.get)
    beams = text.ctc_beam_search_decode(log_probs, beam_width=3)
    assert tuple(beams[0][0]) == best and beams[0][1] == pytest.approx(exact[best])
    greedy = text.ctc_greedy_decode(log_probs)
    assert greedy == [1, 2]  # argmax per frame: 1, 1, 2
    assert exact[tuple(greedy)] <= exact[best]


def test_batches_lengths_and_tensors(target):
    rng = np.random.default_rng(4)
    log_probs = log_softmax(rng.standard_normal((6, 3, 4)))
    batch = target.tensor(log_probs)
    lengths = [6, 4, 0]
    greedy = text.ctc_greedy_decode(batch, lengths)
    beams = text.ctc_beam_search_decode(batch, lengths, beam_width=4)
    assert len(greedy) == len(beams) == 3 and greedy[2] == [] and beams[2] == [([], 0.0)]
    for n, length in enumerate(lengths[:2]):
        frames = log_probs[:length, n]
        assert greedy[n] == text.collapse(frames.argmax(-1).tolist())
        alone = text.ctc_beam_search_decode(frames, beam_width=4)
        assert [labels for labels, _ in beams[n]] == [labels for labels, _ in alone]
        np.testing.assert_allclose([s for _, s in beams[n]], [s for _, s in alone], rtol=target.tol * 10)


def test_beam_scores_are_bounded_by_ctc_loss():
    log_probs = log_softmax(np.random.default_rng(9).standard_normal((7, 5)))
    for labels, score in text.ctc_beam_search_decode(log_probs, beam_width=5)[:3]:
        loss = pg.functional.ctc_loss(pg.tensor(log_probs, dtype="float64"), [labels] if labels else [[]], 7,
                                      len(labels), reduction="none")
        assert score <= -loss.item() + 1e-9  # pruned alignments only ever lower a beam's score


def test_bad_arguments():
    with pytest.raises(ValueError, match="beam_width"):
        text.ctc_beam_search_decode(np.zeros((3, 2)), beam_width=0)
    with pytest.raises(ValueError, match="input_lengths"):
        text.ctc_greedy_decode(np.zeros((3, 2, 4)), [3])
    with pytest.raises(ValueError, match="log_probs"):
        text.ctc_greedy_decode(np.zeros(3))
