"""Hand-written NumPy vs polygrad vs PyTorch autograd on the CPU: a tiny-op chain and an MLP step.

    python benchmarks/bench_core.py [--repeats N] [--quick] [--out DIR]

Results go to benchmarks/results/<date>-cpu.md and .json unless --out says otherwise.
The benchmark itself is polygrad/bench.py (also `polygrad bench`, which has no
PyTorch contender); the PyTorch contender is torch_contender.py, beside this file.
Without PyTorch the table says it was skipped.
"""

import pathlib
import sys

from torch_contender import contenders

from polygrad.commands import bench

if __name__ == "__main__":
    sys.exit(bench.main(out=str(pathlib.Path(__file__).resolve().parent / "results"), contenders=contenders("cpu")))
