"""A small MLP on the 8x8 handwritten digits that ship with polygrad.

    python examples/mlp_digits.py                       # NumPy on the CPU
    python examples/mlp_digits.py --backend cupy        # the same code on a GPU
    python examples/mlp_digits.py --backend array_api_strict --device device1

Reaches about 98-99% validation accuracy in a few seconds on a laptop CPU.
"""

import argparse

import polygrad as pg
from polygrad import nn, optim
from polygrad.data import DataLoader, TensorDataset, load_digits, train_val_split
from polygrad.nn.models import mlp

from _placement import placement  # examples/_placement.py: --backend/--device, checked


def evaluate(model, loader):
    model.eval()
    correct = total = 0
    with pg.no_grad():
        for x, y in loader:
            correct += int(pg.sum(pg.astype(model(x).argmax(axis=1) == y, "int64")))
            total += len(y)
    return correct / total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    where = placement(parser, args)
    pg.manual_seed(0)

    images, labels = load_digits()  # host NumPy: (1797, 8, 8) float32 in [0, 1], int64 labels
    (x_train, y_train), (x_val, y_val) = train_val_split(images, labels, val_fraction=0.2, seed=0)
    mean, std = x_train.mean(), x_train.std()
    train_loader = DataLoader(TensorDataset((x_train - mean) / std, y_train), batch_size=32, shuffle=True, **where)
    val_loader = DataLoader(TensorDataset((x_val - mean) / std, y_val), batch_size=256, **where)

    model = mlp(in_features=64, num_classes=10, hidden=(128, 64), **where)
    optimizer = optim.Adam(model.parameters(), lr=3e-3)
    scheduler = optim.CosineAnnealingLR(optimizer, T_max=args.epochs)
    loss_fn = nn.CrossEntropyLoss()

    for epoch in range(args.epochs):
        model.train()
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
        scheduler.step()
        score = evaluate(model, val_loader)
        print(f"epoch {epoch + 1:2d}  last batch loss {loss.item():.4f}  val accuracy {score:.2%}")


if __name__ == "__main__":
    main()
