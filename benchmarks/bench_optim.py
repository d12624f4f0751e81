"""One optimizer step, every optimizer: native PyTorch (its default single-tensor loop on the CPU, and
foreach=True) vs polygrad on numpy and on torch, over the GPT model's 53 parameter tensors (real_models).

    python benchmarks/bench_optim.py [--rounds N] [--out DIR]

One thread. Interleaved rounds (one step of every contender per round); the table gives the median
CPU time of the stepping thread (time.thread_time: on a shared machine it counts this process's own
work, not the time other processes held the core) and the ratio to native PyTorch's default.
Results: <date>-optim.md/.json in --out.
"""

import argparse
import os
import pathlib
import statistics
import sys
import time

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import numpy as np  # noqa: E402
import real_models  # noqa: E402
import torch  # noqa: E402

import polygrad as pg  # noqa: E402
from polygrad.cli import bench  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
OPTIMIZERS = {
    "SGD": dict(lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4),
    "Adam": dict(lr=1e-3),
    "AdamW": dict(lr=6e-4, betas=(0.9, 0.95), weight_decay=0.1),
    "RMSprop": dict(lr=1e-3, momentum=0.9, centered=True),
    "Adagrad": dict(lr=1e-2),
    "Adadelta": dict(lr=1.0),
    "Adamax": dict(lr=2e-3),
    "NAdam": dict(lr=2e-3),
    "RAdam": dict(lr=1e-3),
    "Rprop": dict(lr=1e-2),
    "ASGD": dict(lr=1e-2),
}


def _params(T, make, device):
    rng = np.random.default_rng(0)
    params = []
    for shape in real_models._gpt_shapes():
        p = make(rng.standard_normal(shape).astype(np.float32), device, requires_grad=True)
        p.grad = make(rng.standard_normal(shape).astype(np.float32) * 1e-2, device)
        params.append(p)
    return params


def contenders(name):
    options = OPTIMIZERS[name]

    def native(**switch):
        return getattr(torch.optim, name)(_params(torch, lambda a, d, **k: torch.tensor(a, **k), None),
                                          **options, **switch).step

    def ours(backend):
        device = pg.backends.get(backend).device("cpu")
        make = lambda a, d, **k: pg.tensor(a, backend=backend, device=d, **k)  # noqa: E731
        return getattr(pg.optim, name)(_params(pg, make, device), **options).step

    return {"PyTorch (native) cpu": native(), "PyTorch foreach=True cpu": native(foreach=True),
            "polygrad numpy cpu": ours("numpy"), "polygrad torch cpu": ours("torch")}


def run(rounds):
    torch.set_num_threads(1)
    rows = []
    for name in OPTIMIZERS:
        steps = contenders(name)
        for step in steps.values():
            step(), step()  # warm-up: the first step makes the state
        samples = {label: [] for label in steps}
        for _ in range(rounds):
            for label, step in steps.items():
                start = time.thread_time()
                step()
                samples[label].append(time.thread_time() - start)
        native = statistics.median(samples["PyTorch (native) cpu"])
        for label, times in samples.items():
            median = statistics.median(times)
            rows.append({"optimizer": name, "contender": label, "median_cpu_s": median, "ratio_to_native": median / native})
            bench._log(f"{name}: {label} {median * 1e3:.2f} ms")
    return rows


def write(rows, folder, rounds, command, name="optim", title="One optimizer step over the GPT's parameters, CPU time",
          explain="Median CPU time of one step (time.thread_time) over interleaved rounds; ratio = median / native "
                  "PyTorch's default (the single-tensor loop on the CPU).", key="optimizer"):
    """<date>-<name>.md and .json in folder: the settings, then a row per (rows[i][key], contender); bench_lbfgs's too."""
    import json

    os.makedirs(folder, exist_ok=True)
    stem = bench.unused_stem(folder, f"{time.strftime('%Y-%m-%d')}-{name}")
    info = {"title": title, "date": time.strftime("%Y-%m-%d %H:%M"),
            "machine": bench.machine(), "versions": bench.versions(),
            "settings": {"rounds": rounds, "threads": 1, "load_average": os.getloadavg(), "command": command},
            "results": rows}
    lines = [f"# {info['title']}", ""] + [f"- {k}: {v}" for k, v in
                                          {"date": info["date"], **info["machine"], **info["versions"],
                                           **info["settings"]}.items()]
    lines += ["", explain, "", f"| {key} | contender | median ms | ratio to native |", "| --- | --- | ---: | ---: |"]
    lines += [f"| {r[key]} | {r['contender']} | {r['median_cpu_s'] * 1e3:.2f} | {r['ratio_to_native']:.2f} |"
              for r in rows]
    with open(stem + ".md", "x") as f:
        f.write("\n".join(lines) + "\n")
    with open(stem + ".json", "x") as f:
        json.dump(info, f, indent=1)
    return stem


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args(argv)
    stem = write(run(args.rounds), args.out, args.rounds, " ".join(["python"] + sys.argv))
    print(f"wrote {stem}.md and .json")


if __name__ == "__main__":
    main()
