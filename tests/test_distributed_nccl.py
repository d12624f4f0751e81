"""The NCCL engine (CuPy) on one GPU, world size 1: runs in scripts/gpu_check.sh's cupy session, skips elsewhere."""

import numpy as np
import pytest

import polygrad as pg
from polygrad.nn import models
from polygrad import nn, optim


@pytest.fixture
def nccl():
    try:
        pg.backends.get("cupy")
    except pg.BackendUnavailable as error:
        pytest.skip(f"the nccl engine needs a GPU: {error}")
    try:
        pg.distributed.init_process_group("nccl", device_id="cuda:0")
    except RuntimeError as error:
        pytest.skip(str(error))
    yield
    pg.distributed.destroy_process_group()


def test_collectives_and_one_ddp_step_on_one_gpu(nccl):
    D = pg.distributed
    assert D.get_backend() == "nccl" and D.get_world_size() == 1
    t = pg.tensor([1.0, -2.0], backend="cupy", dtype="float32")
    for op in ("SUM", "AVG", "MAX", "MIN"):
        D.all_reduce(t, op=getattr(D.ReduceOp, op), async_op=True).wait()
    np.testing.assert_array_equal(t.numpy(), [1.0, -2.0])
    gathered = [pg.zeros(2, backend="cupy", dtype="float32")]
    D.all_gather(gathered, t)
    D.broadcast(t, 0)
    out = pg.zeros(2, backend="cupy", dtype="float32")
    D.reduce_scatter(out, [t])
    np.testing.assert_array_equal(gathered[0].numpy(), t.numpy())
    np.testing.assert_array_equal(out.numpy(), t.numpy())

    pg.manual_seed(0)
    reference = models.mlp(6, 3, hidden=(5,), backend="cupy", dtype="float32")
    pg.manual_seed(0)
    model = nn.parallel.DistributedDataParallel(models.mlp(6, 3, hidden=(5,), backend="cupy", dtype="float32"))
    x = pg.tensor(np.random.default_rng(0).normal(size=(4, 6)), backend="cupy", dtype="float32")
    y = pg.tensor([0, 1, 2, 1], backend="cupy", dtype="int64")
    for m in (model, reference):
        opt = optim.SGD(m.parameters(), lr=0.1)
        nn.CrossEntropyLoss()(m(x), y).backward()
        opt.step()
    for p, q in zip(model.parameters(), reference.parameters()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-6)
