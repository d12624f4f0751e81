"""One contender process for the in-place/aliasing A/B: the eager hot path and in-place updates.

    PYTHONPATH=<checkout> python inplace_ab.py REPEATS    (prints JSON medians, microseconds per call)

Timed with process_time over blocks of calls; run it interleaved for the checkouts to compare.
"""
import json
import statistics
import sys
import time

import numpy as np

import polygrad as pg


def per_call(f, calls, repeats):
    f()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(calls):
            f()
        times.append((time.process_time() - start) / calls * 1e6)
    return statistics.median(times)


def main(repeats):
    rng = np.random.default_rng(0)
    a, b = (pg.tensor(rng.standard_normal(10).astype(np.float32)) for _ in range(2))
    w = pg.tensor(rng.standard_normal(10).astype(np.float32), requires_grad=True)
    x = pg.tensor(rng.standard_normal(10).astype(np.float32), requires_grad=True)
    big = pg.tensor(np.zeros(10_000, np.float32))
    row = pg.tensor(np.zeros((100, 100), np.float32))
    g = pg.tensor(np.ones(10_000, np.float32))

    def chain():
        y = x
        for i in range(200):
            y = pg.tanh(y) * 1.01 if i % 2 else y + 0.1
        pg.sum(y).backward()

    def recorded_iadd():
        h = w * 1.0
        h += a
        h.sum().backward()

    def sgd_like():
        with pg.no_grad():
            big.sub_(g, alpha=0.01)

    def setitem():
        row[3] = 1.0

    def iadd():
        big.__iadd__(1.0)

    cases = {"a * b": (lambda: a * b, 2000), "a * w (recorded)": (lambda: a * w, 2000),
             "200 tiny ops fwd+bwd": (chain, 5), "h = w*1; h += a; backward": (recorded_iadd, 300),
             "x += 1 (10k)": (iadd, 1000), "x.sub_(g, alpha) no_grad (10k)": (sgd_like, 1000),
             "x[3] = 1.0 (100x100)": (setitem, 1000)}
    print(json.dumps({name: per_call(f, calls, repeats) for name, (f, calls) in cases.items()}))


main(int(sys.argv[1]))
