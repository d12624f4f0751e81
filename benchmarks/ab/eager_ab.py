"""One contender process: times the workloads with process_time, prints JSON medians (ms)."""
import json
import statistics
import sys
import time

import numpy as np
import polygrad as pg

def chain_step(x):
    y = x
    for i in range(200):
        y = pg.tanh(y) * 1.01 if i % 2 else y + 0.1
    pg.sum(y).backward()

def mlp(batch):
    rng = np.random.default_rng(0)
    shapes = [(512, 784), (512, 512), (10, 512)]
    Ws = [pg.tensor(rng.standard_normal(s).astype(np.float32) * 0.05, requires_grad=True) for s in shapes]
    bs = [pg.tensor(np.zeros(s[0], np.float32), requires_grad=True) for s in shapes]
    X = pg.tensor(rng.standard_normal((batch, 784)).astype(np.float32))
    Y = pg.tensor(rng.integers(0, 10, batch))
    opt = pg.optim.SGD(Ws + bs, lr=0.01)
    def step():
        h = X
        for i, (W, b) in enumerate(zip(Ws, bs)):
            h = pg.functional.linear(h, W, b)
            if i < 2:
                h = pg.relu(h)
        loss = pg.functional.cross_entropy(h, Y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step

def hand(batch):
    rng = np.random.default_rng(0)
    shapes = [(512, 784), (512, 512), (10, 512)]
    Ws = [rng.standard_normal(s).astype(np.float32) * 0.05 for s in shapes]
    bs = [np.zeros(s[0], np.float32) for s in shapes]
    X = rng.standard_normal((batch, 784)).astype(np.float32)
    Y = rng.integers(0, 10, batch)
    def step():
        hs, pre, h = [X], [], X
        for i in range(3):
            z = h @ Ws[i].T + bs[i]
            pre.append(z)
            h = np.maximum(z, 0) if i < 2 else z
            hs.append(h)
        e = np.exp(h - h.max(1, keepdims=True))
        g = e / e.sum(1, keepdims=True)
        g[np.arange(batch), Y] -= 1
        g /= batch
        for i in (2, 1, 0):
            if i < 2:
                g = g * (pre[i] > 0)
            gW, gb = g.T @ hs[i], g.sum(0)
            if i:
                g = g @ Ws[i]
            Ws[i] -= 0.01 * gW
            bs[i] -= 0.01 * gb
    return step

def torch_fns():
    import torch
    torch.set_num_threads(1)
    tx = torch.tensor(np.random.default_rng(1).standard_normal(10).astype(np.float32), requires_grad=True)
    def chain():
        y = tx
        for i in range(200):
            y = torch.tanh(y) * 1.01 if i % 2 else y + 0.1
        y.sum().backward()
    def mlp_t(batch):
        rng = np.random.default_rng(0)
        model = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512),
                                    torch.nn.ReLU(), torch.nn.Linear(512, 10))
        X = torch.tensor(rng.standard_normal((batch, 784)).astype(np.float32))
        Y = torch.tensor(rng.integers(0, 10, batch))
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        def step():
            loss = torch.nn.functional.cross_entropy(model(X), Y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return step
    return {"chain": chain, "mlp256": mlp_t(256), "mlp4096": mlp_t(4096)}

which, reps = sys.argv[1], int(sys.argv[2])
x = pg.tensor(np.random.default_rng(1).standard_normal(10).astype(np.float32), requires_grad=True)
fns = {"chain": lambda: chain_step(x), "mlp256": mlp(256), "mlp4096": mlp(4096)} if which == "pg" else \
      torch_fns() if which == "torch" else {"mlp256": hand(256), "mlp4096": hand(4096)}
out = {}
for name, f in fns.items():
    f()
    ts = []
    for _ in range(reps):
        t = time.process_time()
        f()
        ts.append(time.process_time() - t)
    out[name] = statistics.median(ts) * 1e3
print(json.dumps(out))
