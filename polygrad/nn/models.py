"""Small classifiers shared by `polygrad train`, the examples and the benchmarks.

Both take images shaped (N, C, H, W) or (N, H, W) (the MLP flattens whatever
it gets) and return logits (N, num_classes). `device`, `backend` and `dtype`
go to every layer, as in PyTorch's factory arguments.
"""

from .. import nn


def mlp(in_features=64, num_classes=10, hidden=(128, 64), *, device=None, backend=None, dtype=None):
    """Flatten, then Linear+ReLU per hidden width, then a Linear to the classes."""
    factory = {"device": device, "backend": backend, "dtype": dtype}
    layers, width = [nn.Flatten()], in_features
    for size in hidden:
        layers += [nn.Linear(width, size, **factory), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, num_classes, **factory))
    return nn.Sequential(*layers)


def cnn(in_channels=1, image_size=8, num_classes=10, channels=(16, 32), hidden=64, *, device=None, backend=None,
        dtype=None):
    """Per entry of `channels`: 3x3 Conv2d (padding 1) + BatchNorm2d + ReLU + 2x2 max pooling;
    then Flatten, Linear+ReLU of width `hidden`, Linear to the classes.
    `image_size` (the input's height = width) sizes the first Linear.
    """
    factory = {"device": device, "backend": backend, "dtype": dtype}
    layers, width, size = [], in_channels, image_size
    for out in channels:
        layers += [nn.Conv2d(width, out, 3, padding=1, **factory), nn.BatchNorm2d(out, **factory), nn.ReLU(),
                   nn.MaxPool2d(2)]
        width, size = out, size // 2
    layers += [nn.Flatten(), nn.Linear(width * size * size, hidden, **factory), nn.ReLU(),
               nn.Linear(hidden, num_classes, **factory)]
    return nn.Sequential(*layers)
