"""Contenders from outside polygrad/cli/bench.py: polygrad compiled, HIPS autograd, MyGrad and JAX (jit).

Each `build(workload, device)` returns a step like the workloads' own: one
training step, returning the loss and then the gradients in the workload's
order (parameters updated by SGD where the workload does), on the workload's
own data. A workload a peer has no version of raises NotImplementedError and
is skipped with a note. The peers are optional (the `bench` extra); a missing
one is left out with a note by `available()`.
"""

import importlib.util
from importlib import metadata

import numpy as np

import polygrad as pg
from polygrad.cli import bench
import torch_contender
from workloads import ReadmeStep, SmallCNN


def compiled_build(workload, device):
    """polygrad's own step, through pg.compile (on cupy fused: each elementwise group one kernel)."""
    return pg.compile(workload.polygrad(device), fuse=device.backend.name == "cupy")


def compiled(device="cpu", backend="numpy"):
    return bench.Contender("polygrad compiled", backend, device, compiled_build)


def _host(t):
    return np.array(t.numpy(), copy=True)


# ---------------------------------------------------------------- PyTorch, with this folder's workloads
def torch_build(workload, device):
    if isinstance(workload, SmallCNN):
        return _torch_cnn(workload, device)
    if isinstance(workload, ReadmeStep):
        return _torch_readme(workload, device)
    return torch_contender.build(workload, device)


def torch(device="cpu"):
    return bench.Contender(torch_contender.LABEL, "torch", device, torch_build)


def _torch_cnn(workload, device):
    import torch

    x, labels = bench.raw_copy(workload.x, device), bench.raw_copy(workload.labels, device)
    params = [bench.raw_copy(p, device).requires_grad_() for p in workload.params]

    def step():
        w1, b1, w2, b2, w3, b3 = params
        h = torch.relu(torch.nn.functional.conv2d(x, w1, b1, padding=1))
        h = torch.relu(torch.nn.functional.conv2d(h, w2, b2, padding=1))
        loss = torch.nn.functional.cross_entropy(h.reshape(workload.batch, -1) @ w3 + b3, labels)
        return bench.backward_and_sgd(loss, params, workload.lr, torch.no_grad)

    return step


def _torch_readme(workload, device):
    """The same model as torch.nn layers with torch.optim.Adam, as a PyTorch user would write it."""
    import torch

    sizes = (64, *workload.hidden, 10)
    layers = [torch.nn.Flatten()]
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1]).to(device.native)
    params = list(model.parameters())
    with torch.no_grad():
        for p, value in zip(params, workload.params):
            p.copy_(bench.raw_copy(value, device))
    x, labels = bench.raw_copy(workload.x, device), bench.raw_copy(workload.labels, device)
    optimizer = torch.optim.Adam(params, lr=workload.lr)

    def step():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        outputs = [loss] + [p.grad.clone() for p in params]
        optimizer.step()
        return outputs

    return step


# ---------------------------------------------------------------- HIPS autograd
def _autograd(workload, device):
    import autograd
    import autograd.numpy as anp

    if isinstance(workload, bench.Chain):
        x, w, b = (_host(t) for t in workload.host)
        value_and_grad = autograd.value_and_grad(lambda x, w, b: anp.sum(workload.forward(anp, x, w, b)), (0, 1, 2))

        def step():
            loss, grads = value_and_grad(x, w, b)
            return [loss, *grads]

        return step
    if isinstance(workload, bench.MLP):
        return _sgd_step(workload, autograd.value_and_grad(_mlp_loss(anp, workload)), [_host(p) for p in workload.params])
    raise NotImplementedError(f"no HIPS autograd version of {type(workload).__name__}")


def _mlp_loss(ns, workload):
    x, labels = _host(workload.x), _host(workload.labels)
    rows = np.arange(workload.batch)

    def loss(params):
        h = x
        for i in range(0, len(params) - 2, 2):
            h = ns.maximum(h @ params[i] + params[i + 1], 0)
        logits = h @ params[-2] + params[-1]
        shifted = logits - ns.max(logits, axis=1, keepdims=True)
        picked = shifted[rows, labels] - ns.log(ns.sum(ns.exp(shifted), axis=1))
        return -ns.mean(picked)

    return loss


def _sgd_step(workload, value_and_grad, params):
    def step():
        loss, grads = value_and_grad(params)
        for p, g in zip(params, grads, strict=True):
            p -= workload.lr * g
        return [loss, *grads]

    return step


# ---------------------------------------------------------------- MyGrad
def _mygrad(workload, device):
    import mygrad as mg
    from mygrad.nnet import conv_nd

    if isinstance(workload, bench.Chain):
        leaves = [mg.tensor(_host(t)) for t in workload.host]

        def step():
            loss = mg.sum(workload.forward(mg, *leaves))
            loss.backward()
            return [loss.data] + [t.grad for t in leaves]

        return step
    if isinstance(workload, (bench.MLP, SmallCNN)):
        params = [mg.tensor(_host(p)) for p in workload.params]
        x, labels = _host(workload.x), _host(workload.labels)
        rows = np.arange(workload.batch)

        def forward():
            if isinstance(workload, SmallCNN):
                w1, b1, w2, b2, w3, b3 = params
                h = mg.maximum(conv_nd(x, w1, stride=1, padding=1) + b1[:, None, None], 0)
                h = mg.maximum(conv_nd(h, w2, stride=1, padding=1) + b2[:, None, None], 0)
                return mg.reshape(h, (workload.batch, -1)) @ w3 + b3
            h = x
            for i in range(0, len(params) - 2, 2):
                h = mg.maximum(h @ params[i] + params[i + 1], 0)
            return h @ params[-2] + params[-1]

        def step():
            logits = forward()
            shifted = logits - mg.max(logits, axis=1, keepdims=True)
            loss = -mg.mean(shifted[rows, labels] - mg.log(mg.sum(mg.exp(shifted), axis=1)))
            loss.backward()
            grads = [np.array(p.grad, copy=True) for p in params]
            for p in params:
                p.data -= workload.lr * p.grad
                p.null_grad()
            return [loss.data] + grads

        return step
    raise NotImplementedError(f"no MyGrad version of {type(workload).__name__}")


# ---------------------------------------------------------------- JAX, jit-compiled whole steps
def _jax(workload, device):
    import jax
    import jax.numpy as jnp

    if isinstance(workload, bench.Chain):
        leaves = [jnp.asarray(_host(t)) for t in workload.host]
        value_and_grad = jax.jit(jax.value_and_grad(lambda x, w, b: jnp.sum(workload.forward(jnp, x, w, b)),
                                                    (0, 1, 2)))

        def step():
            loss, grads = value_and_grad(*leaves)
            jax.block_until_ready(grads)
            return [np.asarray(loss), *map(np.asarray, grads)]

        return step
    if isinstance(workload, (bench.MLP, SmallCNN)):
        x, labels = jnp.asarray(_host(workload.x)), jnp.asarray(_host(workload.labels))
        rows = jnp.arange(workload.batch)

        def loss_of(params):
            if isinstance(workload, SmallCNN):
                w1, b1, w2, b2, w3, b3 = params
                conv = lambda h, w: jax.lax.conv_general_dilated(h, w, (1, 1), ((1, 1), (1, 1)))  # noqa: E731
                h = jnp.maximum(conv(x, w1) + b1[:, None, None], 0)
                h = jnp.maximum(conv(h, w2) + b2[:, None, None], 0)
                logits = jnp.reshape(h, (workload.batch, -1)) @ w3 + b3
            else:
                h = x
                for i in range(0, len(params) - 2, 2):
                    h = jnp.maximum(h @ params[i] + params[i + 1], 0)
                logits = h @ params[-2] + params[-1]
            shifted = logits - jnp.max(logits, axis=1, keepdims=True)
            return -jnp.mean(shifted[rows, labels] - jnp.log(jnp.sum(jnp.exp(shifted), axis=1)))

        @jax.jit
        def update(params):
            loss, grads = jax.value_and_grad(loss_of)(params)
            return loss, grads, [p - workload.lr * g for p, g in zip(params, grads, strict=True)]

        state = [[jnp.asarray(_host(p)) for p in workload.params]]

        def step():
            loss, grads, state[0] = update(state[0])
            jax.block_until_ready(state[0])
            return [np.asarray(loss), *map(np.asarray, grads)]

        return step
    raise NotImplementedError(f"no JAX version of {type(workload).__name__}")


PEERS = [("HIPS autograd", "autograd", _autograd), ("MyGrad", "mygrad", _mygrad), ("JAX jit", "jax", _jax)]


def available(notes):
    """Contenders for the peers installed here; the missing ones are named in `notes`."""
    found = []
    for label, module, build in PEERS:
        if importlib.util.find_spec(module) is None:  # imported only when built, so RSS runs see their own
            notes.append(f"{label} is not installed (pip install -e '.[bench]'): skipped")
            continue
        version = metadata.version(module)
        found.append((bench.Contender(f"{label} {version}", "numpy", "cpu", build), version))
    return found
