"""Average pooling and transposed convolution alone: forward and backward of each, native PyTorch vs polygrad on
torch and on numpy, interleaved, one thread.

    python benchmarks/bench_pool.py [--rounds N]

Cases (float32): the four ConvTranspose2d layers of real_models' dcgan generator (B=64) with their input
and weight gradients; avg_pool2d 2x2, avg_pool2d 3x3 stride 2 padding 1 (count_include_pad=False),
adaptive_avg_pool2d to 1x1 and to 7x7, on (64, 16, 28, 28). Each step is f(inputs), then the
gradients of sum(y * y). Every round runs each contender's step twice per case in turn; the table
gives medians and minima of the per-step time (ms) and the median's ratio to native PyTorch's.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import polygrad as pg  # noqa: E402
import polygrad.functional as F  # noqa: E402

LAYERS = [((64, 64, 1, 1), (64, 128, 4, 4), 1, 0), ((64, 128, 4, 4), (128, 64, 4, 4), 2, 1),
          ((64, 64, 8, 8), (64, 32, 4, 4), 2, 1), ((64, 32, 16, 16), (32, 3, 4, 4), 2, 1)]
POOL_INPUT = (64, 16, 28, 28)


def cases(functional, tensor):
    """{name: (f, inputs)} on one library: its namespace-level functional module and tensor maker."""
    rng = np.random.default_rng(0)
    out = {}
    for x_shape, w_shape, stride, padding in LAYERS:
        x, w = tensor(rng.standard_normal(x_shape)), tensor(rng.standard_normal(w_shape))
        out[f"conv_transpose2d {x_shape[1]}->{w_shape[1]} {x_shape[2]}x{x_shape[3]}"] = (
            lambda x=x, w=w, s=stride, p=padding: functional.conv_transpose2d(x, w, stride=s, padding=p), [x, w])
    x = tensor(rng.standard_normal(POOL_INPUT))
    out["avg_pool2d 2"] = (lambda: functional.avg_pool2d(x, 2), [x])
    out["avg_pool2d 3 s2 p1 no pad count"] = (lambda: functional.avg_pool2d(x, 3, 2, 1, count_include_pad=False), [x])
    out["adaptive_avg_pool2d 1"] = (lambda: functional.adaptive_avg_pool2d(x, 1), [x])
    out["adaptive_avg_pool2d 7"] = (lambda: functional.adaptive_avg_pool2d(x, 7), [x])
    return out


def stepper(f, inputs, total):
    def step():
        for v in inputs:
            v.grad = None
        y = f()
        total(y * y).backward()
    return step


def contenders():
    found = {}
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(1)
        found["PyTorch (native)"] = {
            name: stepper(f, ins, lambda y: y.sum()) for name, (f, ins) in
            cases(torch.nn.functional,
                  lambda a: torch.tensor(a.astype(np.float32), requires_grad=True)).items()}
    for backend in ("torch", "numpy") if torch is not None else ("numpy",):
        found[f"polygrad {backend}"] = {
            name: stepper(f, ins, pg.sum) for name, (f, ins) in
            cases(F, lambda a, b=backend: pg.tensor(a.astype(np.float32), backend=b, requires_grad=True)).items()}
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    steps = contenders()
    names = list(next(iter(steps.values())))
    for per_case in steps.values():
        for step in per_case.values():
            step()
            step()
    times = {(who, name): [] for who in steps for name in names}
    for _ in range(args.rounds):
        for name in names:
            for who, per_case in steps.items():
                start = time.perf_counter()
                per_case[name]()
                per_case[name]()
                times[(who, name)].append((time.perf_counter() - start) / 2)
    print(f"polygrad at {os.path.dirname(pg.__file__)}, {args.rounds} rounds, load {os.getloadavg()[0]:.1f}")
    print("| case | contender | median ms | min ms | ratio to native |\n| --- | --- | ---: | ---: | ---: |")
    for name in names:
        native = statistics.median(times[("PyTorch (native)", name)]) if "PyTorch (native)" in steps else None
        for who in steps:
            samples = times[(who, name)]
            ratio = "" if native is None else f"{statistics.median(samples) / native:.2f}"
            print(f"| {name} | {who} | {statistics.median(samples) * 1e3:.2f} | {min(samples) * 1e3:.2f} | {ratio} |")


if __name__ == "__main__":
    main()
