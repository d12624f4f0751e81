"""pg.distributed and DistributedDataParallel over MPI.

Plain pytest runs these as one process (world size 1; what needs two ranks skips,
and the subprocess tests start `mpiexec -n 2` themselves). CI also runs this file
under `mpiexec -n 2 python -m pytest tests/test_distributed.py` (.ci/run, nox -s
tests-dist), where every rank runs the same tests in the same order and the
two-rank tests check the ranks against each other.
"""

import json
import math
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import polygrad as pg
from polygrad.nn import models
from polygrad import nn, optim

pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install 'polygrad[dist]')")

D = pg.distributed
DDP = nn.parallel.DistributedDataParallel
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")


@pytest.fixture(scope="module", autouse=True)
def group():
    D.init_process_group("mpi")
    yield
    D.destroy_process_group()


def rank():
    return D.get_rank()


def world():
    return D.get_world_size()


@pytest.fixture
def two_ranks():
    if world() < 2:
        pytest.skip("needs 2 ranks: runs under mpiexec -n 2 (.ci/run, nox -s tests-dist)")


@pytest.fixture
def one_process():
    if world() > 1:
        pytest.skip("starts mpiexec itself: runs under plain pytest")
    if MPIEXEC is None:
        pytest.skip("no mpiexec on this machine (pip install 'polygrad[dist]' installs MPICH's)")


# ---------------------------------------------------------------- collectives
@pytest.mark.parametrize("op, combine", [
    ("SUM", lambda values: sum(values)),
    ("AVG", lambda values: sum(values) / len(values)),
    ("MAX", lambda values: np.max(values, axis=0)),
    ("MIN", lambda values: np.min(values, axis=0)),
])
@pytest.mark.parametrize("async_op", [False, True])
def test_all_reduce_every_op(target, op, combine, async_op):
    def values(r):
        return np.array([[r + 1.0, -2.0 * r], [0.5, (-1.0) ** r * 3]])

    t = target.tensor(values(rank()))
    work = D.all_reduce(t, op=getattr(D.ReduceOp, op), async_op=async_op)
    if async_op:
        assert work.wait() is True and work.is_completed()
    else:
        assert work is None
    expected = combine([values(r) for r in range(world())])
    np.testing.assert_allclose(t.numpy(), expected, rtol=target.tol)
    assert t.device == target.tensor(0.0).device and str(t.dtype) == str(target.tensor(0.0).dtype)


def test_broadcast_all_gather_reduce_scatter(target):
    t = target.tensor([rank() * 10.0, 1.0])
    D.broadcast(t, src=world() - 1)
    np.testing.assert_array_equal(t.numpy(), [(world() - 1) * 10.0, 1.0])

    gathered = [target.tensor([0.0, 0.0]) for _ in range(world())]
    D.all_gather(gathered, target.tensor([rank(), rank() + 0.5]))
    np.testing.assert_array_equal(np.stack([g.numpy() for g in gathered]), [[r, r + 0.5] for r in range(world())])

    out = target.tensor([0.0, 0.0])
    D.reduce_scatter(out, [target.tensor([i * 100.0 + rank(), 1.0]) for i in range(world())])
    np.testing.assert_allclose(out.numpy(), [rank() * 100.0 * world() + sum(range(world())), world()])


def test_integer_max_and_the_errors_name_the_operation():
    t = pg.tensor([rank(), -rank()], dtype="int64")
    D.all_reduce(t, op=D.ReduceOp.MAX)
    assert t.tolist() == [world() - 1, 0]
    with pytest.raises(pg.DtypeError, match="all_reduce: ReduceOp.AVG needs a floating tensor"):
        D.all_reduce(t, op=D.ReduceOp.AVG)
    with pytest.raises(ValueError, match=f"all_gather: needs one tensor per rank \\({world()}\\), got {world() + 1}"):
        D.all_gather([pg.zeros(2) for _ in range(world() + 1)], pg.zeros(2))
    with pytest.raises(pg.ShapeError, match="reduce_scatter: every tensor must be like shape \\(2,\\)"):
        D.reduce_scatter(pg.zeros(2), [pg.zeros(3) for _ in range(world())])
    with pytest.raises(ValueError, match="broadcast: src must be a rank"):
        D.broadcast(pg.zeros(2), world())
    with pytest.raises(RuntimeError, match="init_process_group: already initialized"):
        D.init_process_group("mpi")


def test_rank_and_local_rank():
    assert 0 <= rank() < world() and 0 <= D.get_local_rank() <= rank() and D.get_backend() == "mpi"
    D.barrier()


def test_torch_gloo_engine(monkeypatch):
    """torch.distributed's gloo engine, rendezvousing on a port rank 0 picked and sent over MPI."""
    pytest.importorskip("torch")
    import socket

    n = world()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = pg.tensor(float(s.getsockname()[1]), dtype="float64")
    D.broadcast(port, 0)
    D.destroy_process_group()
    monkeypatch.setenv("MASTER_PORT", str(int(port.item())))
    try:
        D.init_process_group("gloo")
        assert D.get_backend() == "gloo" and D.get_world_size() == n
        t = pg.tensor([rank() + 1.0, 2.0], backend="torch", dtype="float64")
        D.all_reduce(t, op=D.ReduceOp.AVG)
        np.testing.assert_allclose(t.numpy(), [(n + 1) / 2, 2.0])
        gathered = [pg.zeros(1, backend="torch") for _ in range(n)]
        D.all_gather(gathered, pg.tensor([float(rank())], backend="torch"))
        assert [g.item() for g in gathered] == list(range(n))
        with pytest.raises(TypeError, match="the gloo engine reduces torch-backend tensors"):
            D.all_reduce(pg.zeros(2, backend="numpy"))
    finally:
        D.destroy_process_group()
        D.init_process_group("mpi")


# ------------------------------------------------------- DistributedDataParallel
def mlp(target, seed):
    pg.manual_seed(seed)
    return models.mlp(6, 3, hidden=(5, 4), backend=target.backend, device=target.device, dtype=target.dtype)


def batch(target, step, rows):
    rng = np.random.default_rng(step)
    x, y = rng.normal(size=(rows, 6)), rng.integers(0, 3, size=rows)
    return target.tensor(x), target.tensor(y, dtype="int64")


def mine(t, size):
    """This rank's `size` rows of a union batch."""
    return t[rank() * size:(rank() + 1) * size]


def assert_same_parameters(model, reference, tol=1e-10):
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=0, atol=tol, err_msg=name)


@pytest.mark.parametrize("make_optimizer", [
    lambda params: optim.SGD(params, lr=0.1, momentum=0.9),
    lambda params: optim.Adam(params, lr=0.01),
], ids=["sgd", "adam"])
def test_ranks_train_like_one_process_on_the_union_batch(target64, make_optimizer):
    """W ranks x batch B for several steps == one process on the W*B batch, to 1e-10."""
    reference = mlp(target64, seed=0)
    model = DDP(mlp(target64, seed=rank()), bucket_cap_mb=2e-4)  # wrapping broadcasts rank 0's start
    assert len(model._buckets) > 1  # several buckets, started one after another
    assert_same_parameters(model.module, reference, tol=0)
    opt, ref_opt = make_optimizer(model.parameters()), make_optimizer(reference.parameters())
    loss_fn, B = nn.CrossEntropyLoss(), 4
    for step in range(4):
        x, y = batch(target64, step, B * world())
        opt.zero_grad()
        loss_fn(model(mine(x, B)), mine(y, B)).backward()
        opt.step()
        ref_opt.zero_grad()
        loss_fn(reference(x), y).backward()
        ref_opt.step()
    assert_same_parameters(model.module, reference)


def test_buckets_start_while_backward_still_runs(target64):
    """The last layers' buckets are reduced before backward has reached the first layer."""
    model = DDP(mlp(target64, seed=0), bucket_cap_mb=2e-4)
    events, engine = [], model.engine
    reduce = engine.all_reduce
    engine.all_reduce = lambda *args: events.append("allreduce") or reduce(*args)
    model.module[1].weight.register_post_accumulate_grad_hook(lambda p: events.append("first layer"))
    try:
        x, y = batch(target64, 0, 4)
        nn.CrossEntropyLoss()(model(x), y).backward()
    finally:
        del engine.all_reduce
    assert events.count("allreduce") == len(model._buckets) > 2
    assert events.index("allreduce") < events.index("first layer")


def test_no_sync_accumulates_locally_then_averages(target64):
    reference = mlp(target64, seed=0)
    model = DDP(mlp(target64, seed=0))
    loss_fn, B = nn.CrossEntropyLoss(), 3
    batches = [batch(target64, step, B * world()) for step in range(3)]
    local = mlp(target64, seed=0)
    with model.no_sync():
        for x, y in batches[:2]:
            loss_fn(model(mine(x, B)), mine(y, B)).backward()
            loss_fn(local(mine(x, B)), mine(y, B)).backward()
    for p, q in zip(model.parameters(), local.parameters()):  # nothing was averaged yet
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=0, atol=1e-12)
    x, y = batches[2]
    loss_fn(model(mine(x, B)), mine(y, B)).backward()
    for x, y in batches:
        loss_fn(reference(x), y).backward()
    for p, q in zip(model.parameters(), reference.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=0, atol=1e-10)


def test_an_uneven_last_batch_through_the_distributed_sampler(target64):
    """10 samples, 2 ranks, batches of 3: each rank sees 5 (batches 3 + 2); one process sees their union."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(10, 6)), rng.integers(0, 3, size=10)
    dataset = pg.data.TensorDataset(x, y)
    sampler = pg.data.DistributedSampler(dataset, shuffle=True, seed=3)
    loader = pg.data.DataLoader(dataset, batch_size=3, sampler=sampler, backend=target64.backend,
                                device=target64.device)
    assert len(loader) == math.ceil(math.ceil(10 / world()) / 3)
    reference, model = mlp(target64, seed=0), DDP(mlp(target64, seed=0))
    opt, ref_opt = optim.SGD(model.parameters(), lr=0.2), optim.SGD(reference.parameters(), lr=0.2)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(2):
        loader.set_epoch(epoch)
        per_rank = []
        for r in range(world()):
            other = pg.data.DistributedSampler(dataset, world(), r, seed=3)
            other.set_epoch(epoch)
            per_rank.append(list(other))
        for step, (xb, yb) in enumerate(loader):
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()
            rows = [i for indices in per_rank for i in indices[3 * step:3 * step + 3]]
            ref_opt.zero_grad()
            loss_fn(reference(target64.tensor(x[rows])), target64.tensor(y[rows], dtype="int64")).backward()
            ref_opt.step()
    assert_same_parameters(model.module, reference)


class TwoBranches(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.never = nn.Linear(2, 1, dtype="float64"), nn.Linear(2, 1, dtype="float64"), \
            nn.Linear(2, 1, dtype="float64")

    def forward(self, x, use_b):
        return self.a(x) + self.b(x) if use_b else self.a(x)


def test_a_parameter_without_gradient_counts_as_zeros(two_ranks):
    """Rank 0 skips branch b: nobody hangs, b's gradient is rank 1's over W; `never` keeps None."""
    pg.manual_seed(0)
    model = DDP(TwoBranches(), bucket_cap_mb=1e-5)
    x = pg.tensor([[1.0, 2.0]], dtype="float64")
    model(x, use_b=rank() > 0).sum().backward()
    np.testing.assert_allclose(model.module.a.weight.grad.numpy(), [[1.0, 2.0]])
    np.testing.assert_allclose(model.module.b.weight.grad.numpy(), [[1.0, 2.0]] * np.array((world() - 1) / world()))
    assert model.module.never.weight.grad is None


class Pair(TwoBranches):
    def forward(self, x):
        return self.a(x), self.b(x)


def test_a_second_backward_or_a_partial_one_raises():
    pg.manual_seed(0)
    model = DDP(Pair())
    x = pg.tensor([[1.0, 2.0]], dtype="float64")
    first, second = model(x)
    loss = (first + second).sum()
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="a second backward after one forward would not be averaged"):
        loss.backward()
    first, _ = model(x)
    first.sum().backward()  # b's parameters get nothing: their allreduce never starts
    with pytest.raises(RuntimeError, match="the last backward gave no gradient to b.weight, b.bias"):
        model(x)


def test_grad_scaler_skips_the_same_steps_on_every_rank(target64):
    """Only the last rank's loss is infinite at steps 1 and 4; the averaged gradients carry the inf to every
    rank, so every rank skips those steps, backs off the same scale, and the parameters stay equal."""
    model = DDP(mlp(target64, seed=rank()))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scaler = pg.amp.GradScaler("cpu", init_scale=2.0 ** 10, growth_interval=2)
    loss_fn, B, inject = nn.CrossEntropyLoss(), 4, {1, 4}
    scales, stepped = [], []
    for step in range(6):
        x, y = batch(target64, step, B * world())
        opt.zero_grad()
        loss = loss_fn(model(mine(x, B)), mine(y, B))
        if step in inject and rank() == world() - 1:
            loss = loss * float("inf")
        scaler.scale(loss).backward()
        before = [np.array(p.numpy()) for p in model.parameters()]
        scaler.step(opt)
        stepped.append(any(not np.array_equal(b, p.numpy()) for b, p in zip(before, model.parameters())))
        scaler.update()
        scales.append(scaler.get_scale())
    assert stepped == [step not in inject for step in range(6)]
    # growth_interval 2: x2 after two clean steps in a row, x0.5 at each skipped one
    assert scales == [2.0 ** 10, 2.0 ** 9, 2.0 ** 9, 2.0 ** 10, 2.0 ** 9, 2.0 ** 9]
    for p in model.parameters():
        assert np.all(np.isfinite(p.numpy()))
        gathered = [target64.tensor(np.zeros(p.shape)) for _ in range(world())]
        D.all_gather(gathered, p.detach())
        for other in gathered:
            np.testing.assert_array_equal(other.numpy(), p.numpy())


class WithBuffer(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(pg.ones(1, dtype="float64"))
        self.register_buffer("scale", pg.ones(1, dtype="float64"))

    def forward(self, x):
        return x * self.w * self.scale


@pytest.mark.parametrize("broadcast_buffers", [True, False])
def test_buffers_broadcast_from_rank_0(two_ranks, broadcast_buffers):
    module = WithBuffer()
    module.scale.fill_(rank() + 1.0)
    model = DDP(module, broadcast_buffers=broadcast_buffers)
    assert module.scale.item() == 1.0  # wrapping copies rank 0's
    module.scale.fill_(rank() + 5.0)
    model(pg.ones(1, dtype="float64")).sum().backward()
    assert module.scale.item() == (5.0 if broadcast_buffers else rank() + 5.0)
    np.testing.assert_allclose(module.w.grad.item(), 5.0 if broadcast_buffers else sum(r + 5.0 for r in range(world())) / world())


# ------------------------------------------------------------- whole jobs
def run_job(code, timeout=60):
    start = time.monotonic()
    out = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=timeout)
    return out, time.monotonic() - start


def test_a_raising_rank_aborts_the_job(one_process):
    code = ("import polygrad as pg\n"
            "pg.distributed.init_process_group()\n"
            "if pg.distributed.get_rank() == 1:\n"
            "    raise ValueError('rank one went wrong')\n"
            "pg.distributed.all_reduce(pg.ones(3))\n")
    out, _ = run_job(code)  # a hang fails by the timeout
    assert out.returncode != 0
    assert "rank 1/2 failed; aborting every rank" in out.stderr and "rank one went wrong" in out.stderr


def test_mpiexec_polygrad_train_and_resume(one_process, tmp_path):
    def train(*argv):
        code = ("import sys\nfrom polygrad.cli import main\n"
                f"sys.exit(main(['train', '--batch-size', '64', '--out', {str(tmp_path)!r}, *{list(argv)!r}]))\n")
        out, _ = run_job(code, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout, json.loads((tmp_path / "metrics.json").read_text())

    printed, metrics = train("--epochs", "2")
    assert metrics["world_size"] == 2 and metrics["samples_per_s"] > 0
    assert metrics["final_val_accuracy"] > 0.85
    assert printed.count("epoch   2/2") == 1 and "2 processes" in printed  # rank 0 alone reports
    assert (tmp_path / "checkpoint.npz").is_file()
    printed, resumed = train("--epochs", "3", "--resume")
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3]
    assert resumed["history"][:2] == metrics["history"] and printed.count("epoch   3/3") == 1

