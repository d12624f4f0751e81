"""A small CNN (Conv2d, BatchNorm2d, MaxPool2d) on the embedded 8x8 digits, with a checkpoint.

    python examples/cnn_digits.py [--backend cupy] [--device cuda:0] [--epochs 8]

Reaches about 98.5-99% validation accuracy; the best model is saved to
runs/examples/cnn_digits.npz (or --save PATH) and reloaded at the end to show
that it predicts the same.
"""

import argparse
from pathlib import Path

import polygrad as pg
from polygrad import checkpoint, nn, optim
from polygrad.data import DataLoader, TensorDataset, load_digits, train_val_split
from polygrad.nn.models import cnn

from _placement import placement  # examples/_placement.py: --backend/--device, checked


def accuracy(model, loader):
    model.eval()  # BatchNorm uses its running statistics
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
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--save", type=Path, default=Path("runs/examples/cnn_digits.npz"))
    args = parser.parse_args()
    args.save.parent.mkdir(parents=True, exist_ok=True)
    where = placement(parser, args)
    pg.manual_seed(0)

    images, labels = load_digits()
    images = images[:, None]  # (N, 1, 8, 8): one channel
    (x_train, y_train), (x_val, y_val) = train_val_split(images, labels, seed=0)
    mean, std = x_train.mean(), x_train.std()
    train_loader = DataLoader(TensorDataset((x_train - mean) / std, y_train), batch_size=32, shuffle=True, **where)
    val_loader = DataLoader(TensorDataset((x_val - mean) / std, y_val), batch_size=256, **where)

    model = cnn(in_channels=1, image_size=8, num_classes=10, channels=(16, 32), **where)
    print(model)
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    warmup = len(train_loader)  # one epoch; the scheduler steps per batch here
    scheduler = optim.SequentialLR(optimizer, [
        optim.LinearLR(optimizer, start_factor=0.1, total_iters=warmup),
        optim.CosineAnnealingLR(optimizer, T_max=max(1, (args.epochs - 1) * len(train_loader))),
    ], milestones=[warmup])
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)

    best = 0.0
    for epoch in range(args.epochs):
        model.train()
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optim.clip_grad_norm_(model.parameters(), max_norm=5.0)
            optimizer.step()
            scheduler.step()
        score = accuracy(model, val_loader)
        lr = scheduler.get_last_lr()[0]
        print(f"epoch {epoch + 1:2d}  loss {loss.item():.4f}  val accuracy {score:.2%}  lr {lr:.4f}")
        if score > best:
            best = score
            checkpoint.save(args.save, model, optimizer, epoch=epoch + 1, val_accuracy=score)

    restored = cnn(in_channels=1, image_size=8, num_classes=10, channels=(16, 32), **where)
    info = checkpoint.load(args.save, restored)
    print(f"best: epoch {info['epoch']} with {info['val_accuracy']:.2%}; reloaded model scores "
          f"{accuracy(restored, val_loader):.2%}")


if __name__ == "__main__":
    main()
