"""PyTorch's own autograd as a benchmark contender, for bench_core.py and bench_devices.py.

polygrad/cli/bench.py times polygrad against hand-written code on the backend's
arrays; it may not call torch itself (inside polygrad only polygrad/backends/ names an
array library), so the PyTorch contender lives here, where torch is imported
freely. The installed `polygrad bench` therefore runs without it.

    from torch_contender import contenders
    bench.core(extra=contenders("cpu"))            # torch autograd on torch's CPU
    bench.devices(extra=contenders("cpu", "cuda:0"))

Each step works on torch tensors of the torch backend's device, with the
workload's own data, and returns the loss and the gradients in the workload's
order, so polygrad.cli.bench checks them against the hand-written ones before timing.
"""

from polygrad.cli import bench

LABEL = "torch autograd"


def contenders(*devices):
    """One Contender per torch device name; a device (or torch) missing here is skipped with a note."""
    return [bench.Contender(LABEL, "torch", device, build) for device in devices]


def build(workload, device):
    """A step function of `workload` in torch on `device` (a device of polygrad's torch backend)."""
    for kind, make in ((bench.Chain, _chain), (bench.MLP, _mlp), (bench.MatmulChain, _matmul_chain)):
        if isinstance(workload, kind):
            return make(workload, device)
    raise NotImplementedError(f"no torch version of {type(workload).__name__}")


def _chain(workload, device):
    import torch

    leaves = [bench.raw_copy(t, device).requires_grad_() for t in workload.host]

    def step():
        for t in leaves:
            t.grad = None
        loss = workload.forward(torch, *leaves).sum()
        loss.backward()
        return [loss] + [t.grad for t in leaves]

    return step


def _mlp(workload, device):
    import torch

    x = bench.raw_copy(workload.x, device)
    labels = bench.raw_copy(workload.labels, device)[:, None]
    params = [bench.raw_copy(p, device).requires_grad_() for p in workload.params]

    def step():
        h = x
        for i in range(0, len(params) - 2, 2):
            h = torch.relu(h @ params[i] + params[i + 1])
        logits = h @ params[-2] + params[-1]
        loss = -torch.log_softmax(logits, dim=-1).gather(-1, labels).mean()
        return bench.backward_and_sgd(loss, params, workload.lr, torch.no_grad)

    return step


def _matmul_chain(workload, device):
    x = bench.raw_copy(workload.x, device)
    weights = [bench.raw_copy(w, device).requires_grad_() for w in workload.weights]

    def step():
        h = x
        for w in weights:
            w.grad = None
            h = h @ w
        loss = h.sum()
        loss.backward()
        return [loss] + [w.grad for w in weights]

    return step
