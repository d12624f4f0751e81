"""The README's MLP and CNN, written as a PyTorch user writes them, run with only the import changed.

Each script below is plain PyTorch code. It is run once with `import torch` and
once with `import polygrad as torch` (the only difference in the text), from
the same initial weights and in the same data order, and both must reach the
same losses. Without torch installed the polygrad run still has to train.
"""

import numpy as np
import pytest

import polygrad as pg

MLP = '''
import {library} as torch
import {library}.nn as nn
import {library}.nn.functional as F
from {library}.utils.data import DataLoader, TensorDataset


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


model = MLP().double()
model.load_state_dict({{name: torch.tensor(value) for name, value in initial.items()}})
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
loader = DataLoader(TensorDataset(torch.tensor(images), torch.tensor(labels)), batch_size=32, shuffle=False)
losses = []
for epoch in range(2):
    for x, y in loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
with torch.no_grad():
    accuracy = (model(torch.tensor(images)).argmax(dim=1) == torch.tensor(labels)).float().mean().item()
'''

CNN = '''
import {library} as torch
import {library}.nn as nn
import {library}.nn.functional as F
from {library}.utils.data import DataLoader, TensorDataset


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv(x)))
        return self.fc(torch.flatten(x, 1))


model = CNN().double()
model.load_state_dict({{name: torch.tensor(value) for name, value in initial.items()}})
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
data = TensorDataset(torch.tensor(images).view(-1, 1, 8, 8), torch.tensor(labels))
losses = []
for epoch in range(2):
    for x, y in DataLoader(data, batch_size=32):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
with torch.no_grad():
    accuracy = (model(data[:][0]).argmax(dim=1) == torch.tensor(labels)).float().mean().item()
'''

SHAPES = {
    "mlp": {"fc1.weight": (32, 64), "fc1.bias": (32,), "fc2.weight": (10, 32), "fc2.bias": (10,)},
    "cnn": {"conv.weight": (8, 1, 3, 3), "conv.bias": (8,), "fc.weight": (10, 128), "fc.bias": (10,)},
}


def run(script, library, initial, images, labels):
    scope = {"initial": initial, "images": images, "labels": labels}
    exec(script.format(library=library), scope)
    return np.array(scope["losses"]), scope["accuracy"]


@pytest.fixture(scope="module")
def digits():
    images, labels = pg.data.load_digits()
    flat = np.asarray(images[:320], dtype=np.float64).reshape(320, 64)
    return flat, np.asarray(labels[:320], dtype=np.int64)


@pytest.mark.parametrize("name, script", [("mlp", MLP), ("cnn", CNN)])
@pytest.mark.parametrize("backend", ["numpy", "array_api_strict", "torch"])
def test_script_trains_as_with_torch(name, script, backend, digits, request):
    if backend not in request.config.polygrad_backends or backend not in pg.backends.available():
        pytest.skip(f"backend {backend} not selected or not available")
    rng = np.random.default_rng(1)
    initial = {key: rng.normal(scale=0.3, size=shape) for key, shape in SHAPES[name].items()}
    previous = pg.set_default_backend(backend)
    try:
        losses, accuracy = run(script, "polygrad", initial, *digits)
    finally:
        pg.set_default_backend(previous)
    assert losses[-1] < 0.6 * losses[0] and accuracy > 0.75  # it trains
    pytest.importorskip("torch")
    expected, expected_accuracy = run(script, "torch", initial, *digits)
    np.testing.assert_allclose(losses, expected, rtol=1e-9, atol=1e-9)
    assert accuracy == pytest.approx(expected_accuracy)
