"""CTC on a speech-style toy: label sequences read from noisy frames of unknown alignment.

    python examples/ctc_toy.py [--backend torch] [--device cpu] [--epochs 8]

Each utterance is 2-4 symbols out of 5; each symbol sounds for 2-4 frames (its
own feature prototype plus noise), with silences of 0-2 frames between. A small
1-D convolutional network gives per-frame log-probabilities over the symbols and
the CTC blank, trained with CTC loss (no frame alignment is ever given). The
validation utterances are decoded greedily and with prefix beam search, and the
label error rate (edit distance over target length) is printed. Runs in well
under a minute on a CPU.
"""

import argparse

import numpy as np

import polygrad as pg
from polygrad import nn, optim, text
from polygrad.data import DataLoader, TensorDataset

from _placement import placement  # examples/_placement.py: --backend/--device, checked

SYMBOLS, FEATURES, FRAMES, MAX_LABELS = 5, 12, 24, 4


def utterances(count, seed):
    """Features (count, FEATURES, FRAMES), padded labels (count, MAX_LABELS), frame and label counts."""
    rng = np.random.default_rng(seed)
    prototypes = np.random.default_rng(0).standard_normal((SYMBOLS + 1, FEATURES))  # row 0: silence
    features = np.zeros((count, FRAMES, FEATURES), dtype=np.float32)
    labels = np.zeros((count, MAX_LABELS), dtype=np.int64)
    frame_counts, label_counts = np.zeros(count, dtype=np.int64), np.zeros(count, dtype=np.int64)
    for n in range(count):
        sequence = rng.integers(1, SYMBOLS + 1, rng.integers(2, MAX_LABELS + 1))
        frames = [0] * rng.integers(0, 3)
        for symbol in sequence:
            frames += [symbol] * rng.integers(2, 5) + [0] * rng.integers(0, 3)
        frames = frames[:FRAMES]
        features[n, :len(frames)] = prototypes[frames] + 0.6 * rng.standard_normal((len(frames), FEATURES))
        labels[n, :len(sequence)] = sequence
        frame_counts[n], label_counts[n] = len(frames), len(sequence)
    return features.transpose(0, 2, 1).copy(), labels, frame_counts, label_counts


def edit_distance(a, b):
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--beam-width", type=int, default=8)
    args = parser.parse_args()
    where = placement(parser, args)
    pg.manual_seed(0)

    train = utterances(800, seed=1)
    val = utterances(200, seed=2)
    loader = DataLoader(TensorDataset(*train), batch_size=32, shuffle=True, **where)
    model = nn.Sequential(
        nn.Conv1d(FEATURES, 64, kernel_size=5, padding=2, **where), nn.ReLU(),
        nn.Conv1d(64, 64, kernel_size=5, padding=2, **where), nn.ReLU(),
        nn.Conv1d(64, SYMBOLS + 1, kernel_size=1, **where),
    )
    optimizer = optim.Adam(model.parameters(), lr=3e-3)
    scheduler = optim.OneCycleLR(optimizer, max_lr=1e-2, total_steps=args.epochs * len(loader))
    ctc = nn.CTCLoss(blank=0)

    def log_probs(features):
        return pg.log_softmax(pg.permute_dims(model(features), (2, 0, 1)), axis=2)  # (T, N, classes)

    for epoch in range(args.epochs):
        model.train()
        for features, labels, frame_counts, label_counts in loader:
            optimizer.zero_grad()
            loss = ctc(log_probs(features), labels, frame_counts, label_counts)
            loss.backward()
            optimizer.step()
            scheduler.step()
        print(f"epoch {epoch + 1:2d}  last batch CTC loss {loss.item():.4f}")

    model.eval()
    features, labels, frame_counts, label_counts = val
    with pg.no_grad():
        outputs = log_probs(pg.tensor(features, **where))
    targets = [labels[n, :label_counts[n]].tolist() for n in range(len(labels))]
    greedy = text.ctc_greedy_decode(outputs, frame_counts)
    beams = text.ctc_beam_search_decode(outputs, frame_counts, beam_width=args.beam_width)
    total = sum(len(t) for t in targets)
    for name, decoded in (("greedy", greedy), (f"beam {args.beam_width}", [b[0][0] for b in beams])):
        errors = sum(edit_distance(d, t) for d, t in zip(decoded, targets))
        print(f"{name:8s} label error rate {errors / total:.2%}")
    for n in range(3):
        print(f"target {targets[n]}  beam {beams[n][0][0]}  (log p {beams[n][0][1]:.2f})")


if __name__ == "__main__":
    main()
