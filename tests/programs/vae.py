"""A variational autoencoder trained the way pytorch/examples' vae/main.py trains one: reparameterize
with torch.randn_like, BCE + KL loss summed, Adam, per-epoch average loss. Usage: vae.py DATA.npz"""

import os
import sys

import numpy as np
import torch
from torch import nn, optim
from torch.nn import functional as F

torch.manual_seed(1)
device = torch.device("cpu")


class VAE(nn.Module):
    def __init__(self):
        super(VAE, self).__init__()
        self.fc1 = nn.Linear(64, 32)
        self.fc21 = nn.Linear(32, 4)
        self.fc22 = nn.Linear(32, 4)
        self.fc3 = nn.Linear(4, 32)
        self.fc4 = nn.Linear(32, 64)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 64))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 64), reduction='sum')
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD


data = np.load(sys.argv[1])
images = torch.from_numpy(data["images"])
train_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images), batch_size=32)
model = VAE().to(device)
init = os.path.join(os.path.dirname(sys.argv[1]), "vae_init.npz")
if os.path.exists(init):
    model.load_state_dict({k: torch.tensor(v) for k, v in np.load(init).items()})
else:
    np.savez(init, **{k: v.detach().numpy() for k, v in model.state_dict().items()})
optimizer = optim.Adam(model.parameters(), lr=1e-2)
for epoch in range(1, 6):
    model.train()
    train_loss = 0
    for (x,) in train_loader:
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(x)
        loss = loss_function(recon_batch, x, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
    print('====> Epoch: {} Average loss: {:.4f}'.format(epoch, train_loss / len(train_loader.dataset)))
with torch.no_grad():
    sample = model.decode(torch.randn(16, 4))
    print('sample', tuple(sample.shape), f"{sample.min():.1f} <= values <= {sample.max():.1f}")
