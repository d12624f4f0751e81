"""A small network fitted by L-BFGS with a closure, in float64 (set_default_dtype), the way
optimisation scripts use torch.optim.LBFGS. Usage: lbfgs.py DATA.npz"""

import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
data = np.load(sys.argv[1])
X, y = torch.tensor(data["x"]), torch.tensor(data["y"])
model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
init = os.path.join(os.path.dirname(sys.argv[1]), "lbfgs_init.npz")
if os.path.exists(init):
    model.load_state_dict({k: torch.tensor(v) for k, v in np.load(init).items()})
else:
    np.savez(init, **{k: v.detach().numpy() for k, v in model.state_dict().items()})
print("default dtype", torch.get_default_dtype(), model[0].weight.dtype)
optimizer = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=10, history_size=5, line_search_fn="strong_wolfe")


def closure():
    optimizer.zero_grad()
    loss = F.mse_loss(model(X), y) + 1e-3 * sum(p.pow(2).sum() for p in model.parameters())
    loss.backward()
    return loss


for step in range(4):
    loss = optimizer.step(closure)
    print(f"step {step}: loss {loss.item():.10e}")
