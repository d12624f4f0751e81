"""The torch backend's default CPU threads (polygrad/backends/torch_backend.py): one on a small machine unless
OMP_NUM_THREADS says otherwise; a larger machine keeps torch's own default. Each case runs in a fresh
interpreter, since torch's thread count is per process and fixed by whoever sets it first."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("torch")

PROBE = """
import os, sys
cores = int(sys.argv[1])
if cores:
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:cores])
import torch
before = torch.get_num_threads()
import polygrad as pg
pg.zeros(2, backend="torch")  # loads the backend
print(before, torch.get_num_threads())
"""


def threads(cores, **env):
    environment = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"} | env
    out = subprocess.run([sys.executable, "-c", PROBE, str(cores)], capture_output=True, text=True, timeout=120,
                         env=environment)
    assert out.returncode == 0, out.stderr
    return tuple(map(int, out.stdout.split()))


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs 2 cores and sched_setaffinity")
def test_one_thread_on_two_cores_unless_omp_num_threads_is_set():
    assert threads(2) == (2, 1)  # torch alone takes both cores
    assert threads(2, OMP_NUM_THREADS="2") == (2, 2)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 5,
                    reason="needs more than 4 cores and sched_setaffinity")
def test_larger_machines_keep_torchs_default():
    before, after = threads(5)
    assert after == before > 1
