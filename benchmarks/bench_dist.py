"""Data-parallel numbers: allreduce latency and bandwidth, and training throughput with 1 vs 2 processes.

    .venv/bin/python benchmarks/bench_dist.py            # writes benchmarks/results/DATE-dist.{json,md}

The script launches itself under `mpiexec` (MPICH's, from the `dist` extra) with
one BLAS thread per process (OMP_NUM_THREADS=1 and friends), so that 2 processes
use 2 cores and 1 process uses 1:
  allreduce  float32 sums of 10 floats to 64 MB between 2 ranks, through mpi4py
             directly on NumPy buffers (the engine's floor) and through
             pg.distributed.all_reduce on a numpy Tensor (adds a host copy each way);
  training   samples/s of SGD steps at a fixed global batch, for the default model
             of `polygrad train` (MLP 64-128-64-10, batch 32) and the benchmarks'
             MLP (784-512-512-10, batch 256): 1 process; 2 processes with
             DistributedDataParallel each taking half the batch; and, as a control,
             2 processes each stepping on its half alone (no allreduce): the
             difference between the last two is the cost of synchronising;
  polygrad train  the default run (20 epochs, global batch 32) with 1 and 2
             processes: final validation accuracy and samples/s.
Timings are medians over repeats after a warm-up (training: the median of 3
launches of each configuration). Results never overwrite an
earlier file: a second run on the same day gets DATE-dist-2, and so on.
"""

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZES = [10, 100, 1_000, 10_000, 100_000, 1_000_000, 4_000_000, 16_000_000]  # float32 elements: 40 B .. 64 MB
MODELS = {"digits-mlp": ((64, 10, (128, 64)), 32), "bench-mlp": ((784, 10, (512, 512)), 256)}
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def worker_allreduce(repeats):
    import polygrad as pg
    from mpi4py import MPI

    pg.distributed.init_process_group("mpi")
    comm, rows = MPI.COMM_WORLD, []
    for n in SIZES:
        buffer = np.ones(n, dtype=np.float32)
        tensor = pg.tensor(buffer)
        calls = max(3, min(1000, int(2e7 // (n + 1000))))  # ~ the same time per size

        def timed(call):
            samples = []
            for _ in range(repeats):
                comm.Barrier()
                start = time.perf_counter()
                for _ in range(calls):
                    call()
                samples.append((time.perf_counter() - start) / calls)
            return statistics.median(samples)

        raw = timed(lambda: comm.Allreduce(MPI.IN_PLACE, buffer, MPI.SUM))
        ours = timed(lambda: pg.distributed.all_reduce(tensor))
        rows.append({"floats": n, "bytes": 4 * n, "calls_per_repeat": calls, "mpi4py_s": raw, "polygrad_s": ours})
    if comm.rank == 0:
        print(json.dumps(rows))


def worker_train(model_name, steps, repeats, communicate):
    import polygrad as pg
    from polygrad.nn import models
    from polygrad import nn, optim

    world = int(os.environ.get("PMI_SIZE", "1"))
    if world > 1:
        pg.distributed.init_process_group("mpi")
    rank = pg.distributed.get_rank() if world > 1 else 0
    (features, classes, hidden), batch = MODELS[model_name]
    pg.manual_seed(0)
    model = models.mlp(features, classes, hidden=hidden, dtype="float32")
    trained = nn.parallel.DistributedDataParallel(model) if world > 1 and communicate else model
    opt, loss_fn = optim.SGD(model.parameters(), lr=0.01, momentum=0.9), nn.CrossEntropyLoss()
    rng = np.random.default_rng(rank)
    local = batch // world
    x = pg.tensor(rng.normal(size=(local, features)).astype(np.float32))
    y = pg.tensor(rng.integers(0, classes, size=local), dtype="int64")

    def step():
        opt.zero_grad()
        loss_fn(trained(x), y).backward()
        opt.step()

    for _ in range(5):
        step()
    samples = []
    for _ in range(repeats):
        if world > 1:
            pg.distributed.barrier()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        if world > 1:
            pg.distributed.barrier()
        samples.append(batch * steps / (time.perf_counter() - start))
    if rank == 0:
        gradient_floats = sum(p.size for p in model.parameters())
        print(json.dumps({"model": model_name, "processes": world, "allreduce": world > 1 and communicate,
                          "global_batch": batch, "steps_per_repeat": steps,
                          "samples_per_s": statistics.median(samples), "gradient_floats": gradient_floats}))


def launch(processes, *arguments):
    env = {**os.environ, **ONE_THREAD}
    command = [sys.executable, __file__, *arguments]
    if processes > 1:
        mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
        command = [mpiexec, "-n", str(processes), *command]
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def training_row(name, processes, repeats, rounds, communicate=True):
    """The median over `rounds` launches: on a shared machine one launch can catch a busy moment."""
    arguments = ["--worker", "train", "--model", name, "--repeats", str(repeats)] + ([] if communicate else ["--alone"])
    runs = [launch(processes, *arguments) for _ in range(rounds)]
    return {**runs[0], "samples_per_s": statistics.median(r["samples_per_s"] for r in runs),
            "samples_per_s_of_each_launch": [r["samples_per_s"] for r in runs]}


def train_command(processes):
    """`polygrad train` with defaults; its metrics.json (1 process: plain, 2: under mpiexec)."""
    with tempfile.TemporaryDirectory() as out:
        code = f"import sys\nfrom polygrad.cli import main\nsys.exit(main(['train', '--out', {out!r}]))\n"
        command = [sys.executable, "-c", code]
        if processes > 1:
            command = [shutil.which("mpiexec", path=os.path.dirname(sys.executable)), "-n", str(processes), *command]
        subprocess.run(command, capture_output=True, env={**os.environ, **ONE_THREAD}, timeout=900, check=True)
        metrics = json.loads((Path(out) / "metrics.json").read_text())
    return {"processes": processes, "world_size": metrics["world_size"], "epochs": len(metrics["history"]),
            "final_val_accuracy": metrics["final_val_accuracy"], "samples_per_s": metrics["samples_per_s"]}


def environment():
    from mpi4py import MPI

    import polygrad

    return {"date": time.strftime("%Y-%m-%d"), "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "polygrad": polygrad.__version__, "numpy": np.__version__,
            "mpi4py": __import__("mpi4py").__version__, "mpi": MPI.Get_library_version().splitlines()[0].strip(),
            "threads_per_process": 1, "load_average_before": [round(v, 2) for v in os.getloadavg()]}


def free_path(folder, stem):
    """folder/stem.json, or stem-2, stem-3, ... when taken: never overwrite an earlier result."""
    for k in range(1, 1000):
        name = stem if k == 1 else f"{stem}-{k}"
        if not (folder / f"{name}.json").exists() and not (folder / f"{name}.md").exists():
            return folder / name
    raise RuntimeError(f"{folder}: no free name for {stem}")


def report(meta, allreduce, training, train_runs):
    lines = ["# Data-parallel: allreduce and training throughput (MPI, CPU)", ""]
    lines += [f"- {key}: {value}" for key, value in meta.items()]
    lines += ["", "Allreduce (float32 sum, 2 ranks, medians). Bus bandwidth = 2(p-1)/p x bytes / time, "
              "the ring's traffic per rank.", "",
              "| size | mpi4py µs | pg.distributed µs | mpi4py bus GB/s | pg.distributed bus GB/s |",
              "| ---: | ---: | ---: | ---: | ---: |"]
    for row in allreduce:
        bus = lambda seconds: row["bytes"] / seconds / 1e9  # 2(p-1)/p = 1 for p = 2
        lines.append(f"| {_size(row['bytes'])} | {row['mpi4py_s'] * 1e6:,.1f} | {row['polygrad_s'] * 1e6:,.1f} | "
                     f"{bus(row['mpi4py_s']):.3f} | {bus(row['polygrad_s']):.3f} |")
    lines += ["", "Training throughput (SGD steps, fixed global batch; 2 processes: DistributedDataParallel, half the "
              "batch each; \"alone\": the same without the allreduce, a control).", "",
              "| model | gradient | global batch | processes | samples/s | speed-up |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for row in training:
        one = next(r for r in training if r["model"] == row["model"] and r["processes"] == 1)
        processes = f"{row['processes']}" + ("" if row["allreduce"] or row["processes"] == 1 else ", alone")
        lines.append(f"| {row['model']} | {_size(4 * row['gradient_floats'])} | {row['global_batch']} | "
                     f"{processes} | {row['samples_per_s']:,.0f} | "
                     f"{row['samples_per_s'] / one['samples_per_s']:.2f} |")
    lines += ["", "`polygrad train` with its defaults (MLP on the digits, 20 epochs, global batch 32).", "",
              "| processes | final validation accuracy | samples/s (epochs' mean) |", "| ---: | ---: | ---: |"]
    lines += [f"| {run['world_size']} | {run['final_val_accuracy']:.2%} | {run['samples_per_s']:,.0f} |"
              for run in train_runs]
    return "\n".join(lines) + "\n"


def _size(nbytes):
    for unit, scale in (("MB", 2**20), ("KB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{nbytes} B"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3, help="launches per training configuration (default: 3)")
    parser.add_argument("--worker", choices=("allreduce", "train"), help=argparse.SUPPRESS)
    parser.add_argument("--model", choices=tuple(MODELS), help=argparse.SUPPRESS)
    parser.add_argument("--alone", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "allreduce":
        return worker_allreduce(args.repeats)
    if args.worker == "train":
        return worker_train(args.model, steps=max(5, math.ceil(2048 / MODELS[args.model][1])), repeats=args.repeats,
                            communicate=not args.alone)
    meta = environment()
    allreduce = launch(2, "--worker", "allreduce", "--repeats", str(args.repeats))
    training = [training_row(name, p, args.repeats, args.rounds, communicate)
                for name in MODELS for p, communicate in ((1, True), (2, True), (2, False))]
    train_runs = [train_command(p) for p in (1, 2)]
    meta["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    path = free_path(folder, f"{meta['date']}-dist")
    results = {"meta": meta, "allreduce": allreduce, "training": training, "polygrad_train": train_runs}
    path.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    path.with_suffix(".md").write_text(report(meta, allreduce, training, train_runs))
    print(report(meta, allreduce, training, train_runs))
    print(f"wrote {path}.json and {path}.md")


if __name__ == "__main__":
    main()
