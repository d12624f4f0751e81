"""Before/after on the real models: two checkouts timed in turn, each process with its own interpreter.

    python benchmarks/ab/models_ab.py BEFORE AFTER [--repeats 5] [--rounds 7] [--models gpt,cnn] [--clock cpu]

BEFORE and AFTER are checkouts (each with its .venv, or --python-before/--python-after). The two
alternate, one process each per repeat, so load drifts over both alike. Each process builds the
checkout's benchmarks/real_models.py on native PyTorch, polygrad numpy and polygrad torch, runs
`rounds` interleaved steps of each (after two warm-up steps) and reports each contender's median
over native PyTorch's; only those ratios are compared (the machine is shared: absolute times move
with load). --clock cpu (the default) times each step by the process's CPU time, which other
processes on a loaded machine disturb far less than the wall clock (--clock wall: bench_models.py's).
Prints a markdown table: per model and contender, the median over the repeats of each side's ratio
to native PyTorch, and every repeat's ratio.
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")  # read as the libraries load


def ratios(python, checkout, models, rounds, threads, clock):
    """{(model, contender): ratio to native PyTorch} from one child process timing `checkout`."""
    done = subprocess.run([python, __file__, "--child", checkout, "--models", models, "--rounds", str(rounds),
                           "--clock", clock], capture_output=True, text=True, cwd=checkout, check=True,
                          env={**os.environ, **{v: str(threads) for v in THREAD_VARIABLES}})
    return {tuple(key.split("|")): value for key, value in json.loads(done.stdout.splitlines()[-1]).items()}


def child(checkout, models, rounds, clock):
    """Runs in the checkout's interpreter: prints {"model|contender": median / native median} as JSON."""
    sys.path.insert(0, str(pathlib.Path(checkout) / "benchmarks"))
    import real_models
    import torch

    import polygrad as pg

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    timer = time.process_time if clock == "cpu" else time.perf_counter
    result = {}
    for model in models.split(","):
        steps = {"native": real_models.build(model, torch, torch.nn, torch.nn.functional, torch.optim,
                                             torch.device("cpu"))}
        for backend in ("numpy", "torch"):
            pg.set_default_backend(backend)
            pg.set_default_dtype("float32")
            steps[f"polygrad {backend}"] = real_models.build(model, pg, pg.nn, pg.functional, pg.optim,
                                                             pg.backends.get(backend).device("cpu"))
        samples = {label: [] for label in steps}
        for step in steps.values():
            step()
            step()
        for _ in range(rounds):
            for label, step in steps.items():
                start = timer()
                step()
                samples[label].append(timer() - start)
        native = statistics.median(samples["native"])
        for label in steps:
            result[f"{model}|{label}"] = statistics.median(samples[label]) / native
    print(json.dumps(result))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", nargs="?")
    parser.add_argument("after", nargs="?")
    parser.add_argument("--python-before")
    parser.add_argument("--python-after")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--models", default="gpt")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.models, args.rounds, args.clock)
    if not (args.before and args.after):
        parser.error("BEFORE and AFTER checkouts are required")
    sides = {"before": (args.python_before or str(pathlib.Path(args.before) / ".venv/bin/python"), args.before),
             "after": (args.python_after or str(pathlib.Path(args.after) / ".venv/bin/python"), args.after)}
    runs = {side: [] for side in sides}
    for _ in range(args.repeats):
        for side, (python, checkout) in sides.items():
            runs[side].append(ratios(python, checkout, args.models, args.rounds, args.threads, args.clock))
    keys = [key for key in runs["after"][0] if "native" not in key[1]]
    print("| model | contender | before / native (median) | after / native (median) | before, each repeat | after, each repeat |")
    print("| --- | --- | ---: | ---: | --- | --- |")
    for key in keys:
        row = [[run[key] for run in runs[side] if key in run] for side in sides]
        cells = [f"{statistics.median(r):.3f}" if r else "-" for r in row]
        each = [", ".join(f"{v:.2f}" for v in r) for r in row]
        print(f"| {key[0]} | {key[1]} | {cells[0]} | {cells[1]} | {each[0]} | {each[1]} |")


if __name__ == "__main__":
    sys.exit(main())
