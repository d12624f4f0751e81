"""A backend's kernels on and off, in one training step of a real model.

    python benchmarks/ab/kernel_ab.py MODEL BACKEND KERNEL [KERNEL ...] [--rounds N]

e.g. `python benchmarks/ab/kernel_ab.py gpt numpy linear`. The model of real_models.py on polygrad's
BACKEND, with the named kernels (`kernel_<name>` and `kernel_<name>_vjp` where the backend has them)
present and removed from its namespace (the rows then run their portable rules), native PyTorch
beside. One thread, one process, interleaved rounds after two warm-up rounds, medians; prints
markdown rows: model, contender, median ms, ratio to native.
"""
import argparse
import os
import pathlib
import statistics
import sys
import time

os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import real_models  # noqa: E402
import torch  # noqa: E402

import polygrad as pg  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=real_models.MODELS)
    parser.add_argument("backend")
    parser.add_argument("kernels", nargs="+")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    pg.set_default_backend(args.backend)
    pg.set_default_dtype("float32")
    target = pg.backends.get(args.backend).device("cpu")
    xp = target.backend.xp
    names = [f"kernel_{name}{suffix}" for name in args.kernels for suffix in ("", "_vjp")]
    kernels = {name: getattr(xp, name) for name in names if hasattr(xp, name)}
    if not kernels:
        parser.error(f"{args.backend} has none of the kernels {args.kernels}")

    def use_kernels(on):
        for name, kernel in kernels.items():
            if on:
                setattr(xp, name, kernel)
            elif hasattr(xp, name):
                delattr(xp, name)

    native = real_models.build(args.model, torch, torch.nn, torch.nn.functional, torch.optim, "cpu")
    ours = real_models.build(args.model, pg, pg.nn, pg.functional, pg.optim, target)
    contenders = {"PyTorch (native)": (native, True), f"polygrad {args.backend}, kernels off": (ours, False),
                  f"polygrad {args.backend}, kernels on": (ours, True)}
    times = {label: [] for label in contenders}
    for round_ in range(args.rounds + 2):
        for label, (step, on) in contenders.items():
            use_kernels(on)
            start = time.perf_counter()
            step()
            if round_ >= 2:
                times[label].append(time.perf_counter() - start)
    use_kernels(True)
    print(f"kernels toggled: {', '.join(kernels)}\n")
    print("| model | contender | median ms | ratio to native |\n| --- | --- | ---: | ---: |")
    base = statistics.median(times["PyTorch (native)"])
    for label, samples in times.items():
        median = statistics.median(samples)
        print(f"| {args.model} | {label} | {median * 1e3:.1f} | {median / base:.2f} |")


if __name__ == "__main__":
    main()
