"""A convolutional autoencoder on the 8x8 digits: Conv2d down to 32 x 2 x 2, ConvTranspose2d back.

    python examples/conv_autoencoder.py [--backend torch] [--device cpu] [--epochs 15]

Prints the validation reconstruction error per epoch (about 0.07 for
predicting the mean image), then three digits and their reconstructions as
text. Runs in well under a minute on a CPU.
"""

import argparse

import polygrad as pg
from polygrad import nn, optim
from polygrad.data import DataLoader, TensorDataset, load_digits, train_val_split

from _placement import placement  # examples/_placement.py: --backend/--device, checked


def autoencoder(**where):
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, stride=2, padding=1, **where), nn.ReLU(),   # 8x8 -> 4x4
        nn.Conv2d(16, 32, 3, stride=2, padding=1, **where), nn.ReLU(),  # 4x4 -> 2x2: 128 numbers
        nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1, **where), nn.ReLU(),  # -> 4x4
        nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1, **where), nn.Sigmoid(),  # -> 8x8
    )


def picture(image):
    shades = " .:-=+*#%@"
    return ["".join(shades[min(9, int(v * 10))] * 2 for v in row) for row in image]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    where = placement(parser, args)
    pg.manual_seed(0)

    images, labels = load_digits()  # (1797, 8, 8) in [0, 1]
    (train,), (val,) = train_val_split(images[:, None], seed=0)
    loader = DataLoader(TensorDataset(train), batch_size=32, shuffle=True, **where)
    x_val = pg.tensor(val, **where)
    baseline = float(((val - train.mean(axis=0)) ** 2).mean())

    model = autoencoder(**where)
    optimizer = optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-4)
    scheduler = optim.CosineAnnealingLR(optimizer, T_max=args.epochs)
    loss_fn = nn.MSELoss()
    for epoch in range(args.epochs):
        model.train()
        for (x,) in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), x)
            loss.backward()
            optimizer.step()
        scheduler.step()
        model.eval()
        with pg.no_grad():
            error = loss_fn(model(x_val), x_val).item()
        print(f"epoch {epoch + 1:2d}  validation MSE {error:.4f}  (mean image: {baseline:.4f})")

    with pg.no_grad():
        reconstructions = model(x_val[:3]).numpy()
    for original, rebuilt in zip(val[:3, 0], reconstructions[:, 0]):
        for left, right in zip(picture(original), picture(rebuilt)):
            print(f"{left}    {right}")
        print()


if __name__ == "__main__":
    main()
