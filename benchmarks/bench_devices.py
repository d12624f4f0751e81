"""polygrad on CPU vs GPU: the same workloads on numpy, torch (cpu, cuda) and cupy, and PyTorch autograd.

    python benchmarks/bench_devices.py [--repeats N] [--quick] [--out DIR]

Devices that are not present are skipped with a note. Results go to
benchmarks/results/<date>-devices.md and .json unless --out says otherwise.
The benchmark itself is polygrad/bench.py (also `polygrad bench --devices`, which
has no PyTorch contender); PyTorch's autograd on torch's cpu and cuda:0 comes from
torch_contender.py, beside this file.
"""

import pathlib
import sys

from torch_contender import contenders

from polygrad.commands import bench

if __name__ == "__main__":
    sys.exit(bench.main(devices=True, out=str(pathlib.Path(__file__).resolve().parent / "results"),
                        contenders=contenders("cpu", "cuda:0")))
