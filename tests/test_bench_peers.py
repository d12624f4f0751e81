"""benchmarks/bench_core.py's contenders compute what hand-written NumPy computes (tiny sizes; no timing)."""

import pathlib
import sys

import pytest

import polygrad as pg
from polygrad.cli import bench

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "benchmarks"))
import peers  # noqa: E402
from workloads import ReadmeStep, SmallCNN  # noqa: E402

WORKLOADS = [lambda: bench.Chain(6, 4), lambda: bench.MLP((8, 4, 3), batch=5), lambda: SmallCNN(batch=2, size=4),
             lambda: ReadmeStep(batch=3)]


def _check(contender, make):
    workload = make()
    cpu = pg.backends.get("numpy").default_device()
    device = pg.backends.get(contender.backend).device(contender.device)
    try:
        entries = [bench.Entry(workload, "by_hand", cpu), bench.Entry(workload, contender, device)]
    except NotImplementedError:
        return False
    for _ in range(2):  # the second step runs on updated parameters (and, compiled, is a replay)
        bench.check(workload, entries)
    return True


@pytest.mark.parametrize("make", WORKLOADS)
def test_polygrad_eager_and_compiled(make):
    workload = make()
    cpu = pg.backends.get("numpy").default_device()
    assert _check(peers.compiled(), make)
    bench.check(workload, [bench.Entry(workload, "by_hand", cpu), bench.Entry(workload, "polygrad", cpu)])


@pytest.mark.parametrize("make", WORKLOADS)
def test_torch(make):
    pytest.importorskip("torch")
    assert _check(peers.torch("cpu"), make)


@pytest.mark.parametrize("label, module, build", peers.PEERS)
def test_peers_where_installed(label, module, build):
    pytest.importorskip(module)
    covered = [_check(bench.Contender(label, "numpy", "cpu", build), make) for make in WORKLOADS]
    assert covered[:2] == [True, True]  # every peer runs the tiny ops and the MLP
