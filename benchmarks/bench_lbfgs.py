"""One L-BFGS step (max_iter 20, history 10), plain and with strong_wolfe: torch.optim.LBFGS vs polygrad's, on numpy
and torch, with the backends' L-BFGS kernels and with the portable loops (the kernels taken away), over the GPT
model's 53 parameter tensors (real_models, 0.86M numbers).

    python benchmarks/bench_lbfgs.py [--rounds N] [--out DIR]

The loss is sum(c p^2) / 2 with one curvature c per tensor, from 0.5 to 2; its closure writes the gradients
c p with the framework's own tensor operations (no autograd), so the step's time is mostly the optimizer's.
Every round makes fresh parameters and a fresh optimizer (not timed: a step from a converged state would
return at once) and times one step of every contender in turn. One thread; CPU time of the stepping thread
(time.thread_time); the median and the ratio to torch.optim.LBFGS. Results: <date>-lbfgs.md/.json in --out.
"""

import argparse
import contextlib
import os
import pathlib
import statistics
import sys
import time

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import bench_optim  # noqa: E402
import numpy as np  # noqa: E402
import real_models  # noqa: E402
import torch  # noqa: E402

import polygrad as pg  # noqa: E402
from polygrad.cli import bench  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
KERNELS = ("kernel_lbfgs_direction", "kernel_lbfgs_update")
VARIANTS = {"fixed step": dict(max_iter=20, history_size=10),
            "strong_wolfe": dict(max_iter=20, history_size=10, line_search_fn="strong_wolfe")}


def _problem(framework, make):
    """(parameters, closure) for sum(c p^2) / 2 over the GPT's shapes, in one framework."""
    rng = np.random.default_rng(0)
    shapes = real_models._gpt_shapes()
    params = [make(rng.standard_normal(shape).astype(np.float32)) for shape in shapes]
    curvatures = np.linspace(0.5, 2.0, len(shapes))

    def closure():
        total = 0.0
        for p, c in zip(params, curvatures):
            value = p.detach()
            p.grad = value * float(c)
            total = total + (p.grad * value).sum() * 0.5
        return total
    return params, closure


def _native(options):
    def make():
        params, closure = _problem(torch, lambda a: torch.tensor(a, requires_grad=True))
        optimizer = torch.optim.LBFGS(params, **options)
        return lambda: optimizer.step(closure)
    return make


def _ours(backend, options):
    def make():
        params, closure = _problem(pg, lambda a: pg.tensor(a, backend=backend, requires_grad=True))
        optimizer = pg.optim.LBFGS(params, **options)
        return lambda: optimizer.step(closure)
    return make


@contextlib.contextmanager
def _portable(backend):
    """The backend's L-BFGS kernels taken away for a while: LBFGS runs its portable two-loop and move."""
    xp = pg.tensor(0.0, backend=backend).xp
    kept = {name: getattr(xp, name) for name in KERNELS}
    for name in KERNELS:
        delattr(xp, name)
    try:
        yield
    finally:
        for name, kernel in kept.items():
            setattr(xp, name, kernel)


def contenders(options):
    """{label: (make a fresh step, the context it runs in)}."""
    found = {"PyTorch (native) cpu": (_native(options), contextlib.nullcontext)}
    for backend in ("numpy", "torch"):
        found[f"polygrad {backend} cpu, kernels"] = (_ours(backend, options), contextlib.nullcontext)
        found[f"polygrad {backend} cpu, portable"] = (_ours(backend, options), lambda b=backend: _portable(b))
    return found


def run(rounds):
    torch.set_num_threads(1)
    rows = []
    for variant, options in VARIANTS.items():
        found = contenders(options)
        samples = {label: [] for label in found}
        for _ in range(rounds + 1):  # the first round warms up
            for label, (make, context) in found.items():
                step = make()
                with context():
                    start = time.thread_time()
                    step()
                    samples[label].append(time.thread_time() - start)
        native = statistics.median(samples["PyTorch (native) cpu"][1:])
        for label, times in samples.items():
            median = statistics.median(times[1:])
            rows.append({"variant": variant, "contender": label, "median_cpu_s": median, "ratio_to_native": median / native})
            bench._log(f"{variant}: {label} {median * 1e3:.1f} ms")
    return rows


def write(rows, folder, rounds, command):
    return bench_optim.write(
        rows, folder, rounds, command, name="lbfgs", key="variant",
        title="One L-BFGS step (max_iter 20, history 10) over the GPT's parameters, CPU time",
        explain="Median CPU time of one step (time.thread_time), closure included, over interleaved rounds; "
                "ratio = median / torch.optim.LBFGS's. 'portable': the backend's L-BFGS kernels taken away.")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args(argv)
    stem = write(run(args.rounds), args.out, args.rounds, " ".join(["python"] + sys.argv))
    print(f"wrote {stem}.md and .json")


if __name__ == "__main__":
    main()
