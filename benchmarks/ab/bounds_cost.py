"""What the index bounds check costs per call, next to the operation it guards (issue 7, item 1).

    python benchmarks/ab/bounds_cost.py

Medians of 15 repeats, microseconds per call, in one process; the machine is shared, so read
the ratios. The check is two reductions over the indices (min and max) and a comparison.
"""
import statistics
import time

import numpy as np

import polygrad as pg
import polygrad.functional as F
from polygrad.namespace import ops


def per_call_us(f, calls, repeats=15):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            f()
        times.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(times)


def main():
    rng = np.random.default_rng(0)
    for backend in ("numpy", "torch"):
        if backend not in pg.backends.available():
            continue
        logits = pg.tensor(rng.standard_normal((256, 10)).astype(np.float32), backend=backend)
        targets = pg.tensor(rng.integers(0, 10, 256), backend=backend)
        table = pg.tensor(rng.standard_normal((1000, 64)).astype(np.float32), backend=backend)
        tokens = pg.tensor(rng.integers(0, 1000, (32, 20)), backend=backend)
        rows = [
            ("256 class targets", lambda: ops.checked_indices(targets, 10, "cross_entropy", 1, negative=False),
             "cross_entropy(256x10)", lambda: F.cross_entropy(logits, targets)),
            ("640 token ids", lambda: ops.checked_indices(tokens, 1000, "embedding", 0),
             "embedding(640 of 1000x64)", lambda: F.embedding(tokens, table)),
        ]
        for what, check, guarded, call in rows:
            c, g = per_call_us(check, 2000), per_call_us(call, 500)
            print(f"| {backend} | {what} | {c:.1f} | {guarded} | {g:.1f} | {c / g:.0%} |")


if __name__ == "__main__":
    print("| backend | check of | check us | guarded call (check included) | call us | share |")
    print("| --- | --- | ---: | --- | ---: | ---: |")
    main()
