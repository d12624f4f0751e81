"""A character-level LSTM language model on tiny.txt, with the sequence module nn.LSTM.

    python examples/char_lstm.py [--backend torch] [--device cpu] [--epochs 40]

Two stacked LSTM layers (dropout between them) read windows of the text with
batch_first inputs and predict every next character; training uses gradient
clipping and a cosine schedule after a linear warmup. Then the model writes a
few lines, feeding its (h, c) state forward one character at a time. Runs in
well under a minute on a CPU.
"""

import argparse
from pathlib import Path

import numpy as np

import polygrad as pg
from polygrad import nn, optim
from polygrad.data import DataLoader, TensorDataset

from _placement import placement  # examples/_placement.py: --backend/--device, checked


class CharLSTM(nn.Module):
    def __init__(self, vocab_size, embed_dim=32, hidden_size=64, **where):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, **where)
        self.lstm = nn.LSTM(embed_dim, hidden_size, num_layers=2, dropout=0.1, batch_first=True, **where)
        self.head = nn.Linear(hidden_size, vocab_size, **where)

    def forward(self, chars, state=None):
        """chars (batch, time) -> logits (batch, time, vocab) and the last (h, c)."""
        out, state = self.lstm(self.embed(chars), state)
        return self.head(out), state


def sample(model, vocab, start, length, where, temperature=0.6, seed=0):
    """Feed `start`, then draw one character at a time from the model's softmax."""
    rng = np.random.default_rng(seed)
    index = {c: i for i, c in enumerate(vocab)}
    model.eval()
    text, state = start, None
    with pg.no_grad():
        chars = pg.asarray([[index[c] for c in start]], **where)
        for _ in range(length):
            logits, state = model(chars, state)
            probs = pg.softmax(logits[0, -1] / temperature).numpy().astype(np.float64)
            nxt = rng.choice(len(vocab), p=probs / probs.sum())
            text += vocab[nxt]
            chars = pg.asarray([[nxt]], **where)
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--window", type=int, default=32)
    args = parser.parse_args()
    where = placement(parser, args)
    pg.manual_seed(0)

    text = (Path(__file__).parent / "tiny.txt").read_text()
    vocab = sorted(set(text))
    ids = np.array([vocab.index(c) for c in text], dtype=np.int64)
    n = (len(ids) - 1) // args.window  # non-overlapping windows; targets are the next characters
    inputs = ids[:n * args.window].reshape(n, args.window)
    targets = ids[1:n * args.window + 1].reshape(n, args.window)
    loader = DataLoader(TensorDataset(inputs, targets), batch_size=16, shuffle=True, **where)
    print(f"{len(text)} characters, {len(vocab)} distinct, {n} windows of {args.window}")

    model = CharLSTM(len(vocab), **where)
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    steps, warmup = args.epochs * len(loader), len(loader)
    scheduler = optim.SequentialLR(optimizer, [optim.LinearLR(optimizer, start_factor=0.1, total_iters=warmup),
                                               optim.CosineAnnealingLR(optimizer, T_max=max(1, steps - warmup))],
                                   milestones=[warmup])
    loss_fn = nn.CrossEntropyLoss()

    for epoch in range(args.epochs):
        model.train()
        total = 0.0
        for x, y in loader:
            optimizer.zero_grad()
            logits, _ = model(x)
            loss = loss_fn(logits.reshape(-1, len(vocab)), y.reshape(-1))
            loss.backward()
            optim.clip_grad_norm_(model.parameters(), max_norm=1.0)  # recurrent nets' gradients can spike
            optimizer.step()
            scheduler.step()
            total += loss.item()
        if (epoch + 1) % 5 == 0 or epoch == 0:
            print(f"epoch {epoch + 1:3d}  loss {total / len(loader):.3f}  ({np.log(len(vocab)):.3f} at random)")

    print("\n" + sample(model, vocab, "The keeper ", 200, where))


if __name__ == "__main__":
    main()
