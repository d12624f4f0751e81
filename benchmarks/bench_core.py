"""Hand-written NumPy vs polygrad vs PyTorch on the CPU: a tiny-op chain and an MLP step.

    python benchmarks/bench_core.py [--repeats N] [--quick] [--out DIR]

Results go to benchmarks/results/<date>-cpu.md and .json unless --out says otherwise.
The benchmark itself is polygrad/bench.py (also `polygrad bench`).
"""

import pathlib
import sys

from polygrad.commands import bench

if __name__ == "__main__":
    sys.exit(bench.main(out=str(pathlib.Path(__file__).resolve().parent / "results")))
