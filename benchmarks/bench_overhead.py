"""Per-op overhead (issue 17, item 3): the tiny-op chain and the MLP batch-256 step, one thread, interleaved.

    OMP_NUM_THREADS=1 python benchmarks/bench_overhead.py [--repeats N] [--quick] [--out DIR]

Contenders, all in this one process and interleaved (bench.measure): hand-written
NumPy, polygrad eager on numpy, `pg.compile`d polygrad on numpy, PyTorch autograd
on torch's CPU. Every contender's first step is checked against the hand-written
one before timing. One thread each: torch.set_num_threads(1) here, and the BLAS
thread variables below are set before NumPy loads. Time is the process's CPU time
(time.process_time), not the wall clock: on a shared machine the other load then
lengthens a step far less (with one thread the two agree on a quiet one). Results go to
benchmarks/results/<date>-overhead.md and .json, with the issue's targets.
"""

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import pathlib  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import peers  # noqa: E402
import torch_contender  # noqa: E402

from polygrad import backends  # noqa: E402
from polygrad.cli import bench  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
TARGETS = [  # (workload name starts with, contender starts with, ratio column, at most)
    ("chain", "polygrad (", "time / PyTorch", 1.0),
    ("chain", "polygrad compiled", "time / PyTorch", 0.3),
    ("MLP", "polygrad (", "time / hand-written", 1.10),
]


class CpuEntry(bench.Entry):
    """bench.Entry timed in the process's CPU time."""

    def timed(self, number):
        start = time.process_time()
        for _ in range(number):
            self.step()
        return (time.process_time() - start) / number


def run(repeats, quick):
    import torch

    torch.set_num_threads(1)
    report = bench.Report("overhead", "per-op overhead: tiny ops and MLP b256, one thread, CPU time", repeats, quick)
    cpu = backends.get("numpy").default_device()
    found = [("by_hand", cpu), ("polygrad", cpu), (peers.compiled(), cpu),
             (peers.torch("cpu"), backends.get("torch").device("cpu"))]
    workloads = [bench.Chain(20, 16), bench.MLP((64, 32, 32, 10), batch=16)] if quick else \
        [bench.Chain(200, 16), bench.MLP(batch=256)]
    for workload in workloads:
        bench._log(f"bench: {workload.name}")
        entries = [CpuEntry(workload, impl, device) for impl, device in found]
        numbers = bench.measure(workload, entries, repeats, report.min_time, rtol=5e-3)
        torch_entry = next(e for e in entries if e.label.startswith(torch_contender.LABEL))
        report.add(workload, entries, numbers, {
            "time / hand-written": lambda e, ref=entries[0]: ref,
            "time / PyTorch": lambda e, ref=torch_entry: ref,
        })
    return report


def targets_markdown(report):
    lines = ["", "## The issue's targets", "", "| target | measured | at most | met |", "| --- | ---: | ---: | --- |"]
    for workload, contender, column, bound in TARGETS:
        row = next(r for r in report.rows if r["workload"].startswith(workload)
                   and r["contender"].startswith(contender))
        value = row["ratios"][column]
        lines.append(f"| {row['workload']}: {contender.rstrip(' (')} {column} | {value:.2f} | {bound:.2f} | "
                     f"{'yes' if value <= bound else f'no ({value / bound:.2f}x the target)'} |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repeats per contender")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and two repeats: a smoke run")
    parser.add_argument("--out", default=str(HERE / "results"), help="folder for the .md and .json")
    args = parser.parse_args(argv)
    report = run(args.repeats or (2 if args.quick else 21), args.quick)
    md, js = report.write(args.out)
    extra = targets_markdown(report)
    with open(md, "a") as f:
        f.write("\n".join(extra) + "\n")
    print(report.markdown() + "\n".join(extra))
    print(f"wrote {md}\nwrote {js}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
