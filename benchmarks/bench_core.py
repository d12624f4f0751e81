"""polygrad eager and compiled against hand-written NumPy, PyTorch CPU and the peers, in one interleaved run.

    python benchmarks/bench_core.py [--repeats N] [--quick] [--out DIR] [--no-rss]

Workloads: a chain of 200 tiny ops forward and backward; an MLP 784-512-512-10
SGD step at batch 256 and 4096; a small CNN step (conv3x3 1-16-32, linear, batch
64); the README's default training step (`polygrad train`: MLP 64-128-64-10 with
Adam). Contenders: hand-written NumPy, polygrad eager and `pg.compile`d on
numpy, PyTorch autograd on torch's CPU (torch_contender.py), and, when the
`bench` extra is installed, HIPS autograd, MyGrad and JAX with jit (peers.py).
Every contender's first step (loss and gradients) is checked against the
hand-written one before anything is timed; timing interleaves the contenders
and reports medians and ratios. Peak RSS is measured per contender in a process
of its own, on the MLP steps. Results go to benchmarks/results/<date>-cpu-peers.md and .json
(-2, -3, ... when taken: never over an earlier run), with the issue's targets and how far each is.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys

import peers
import torch_contender
from workloads import ReadmeStep, SmallCNN

from polygrad import backends
from polygrad.cli import bench

HERE = pathlib.Path(__file__).resolve().parent


def workloads(quick):
    if quick:
        return [bench.Chain(20, 16), bench.MLP((64, 32, 32, 10), batch=16), bench.MLP((64, 32, 32, 10), batch=32),
                SmallCNN(batch=4), ReadmeStep(batch=8)]
    return [bench.Chain(200, 16), bench.MLP(batch=256), bench.MLP(batch=4096), SmallCNN(batch=64), ReadmeStep()]


def contenders(notes):
    """[(impl, device)] in table order: hand-written, polygrad eager, compiled, torch, the peers installed."""
    cpu = backends.get("numpy").default_device()
    found = [("by_hand", cpu), ("polygrad", cpu), (peers.compiled(), cpu)]
    extra = [peers.torch("cpu")] + [c for c, _ in peers.available(notes)]
    for contender in extra:
        try:
            found.append((contender, backends.get(contender.backend).device(contender.device)))
        except (backends.BackendUnavailable, ValueError) as error:
            notes.append(f"{contender.label} skipped: {error}")
    return found


def _label(impl):
    return impl.label if isinstance(impl, bench.Contender) else bench.CONTENDERS[impl]


def run(repeats, quick):
    report = bench.Report("cpu-peers", "polygrad eager and compiled vs hand-written NumPy, PyTorch and peers (CPU)",
                          repeats, quick)
    found = contenders(report.notes)
    for workload in workloads(quick):
        bench._log(f"bench: {workload.name}")
        entries = bench._entries(workload, found, report)
        # float32 sums over a batch of 4096 in another order (XLA's) differ by ~1e-3 of the largest entry
        numbers = bench.measure(workload, entries, repeats, report.min_time, rtol=5e-3)
        torch_entry = next((e for e in entries if e.label.startswith(torch_contender.LABEL)), None)
        report.add(workload, entries, numbers, {
            "time / hand-written": lambda e, ref=entries[0]: ref,
            "time / PyTorch": lambda e, ref=torch_entry: ref,
        })
    return report


# ---------------------------------------------------------------- peak RSS, one process per contender
def _rss_now():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def rss_child(workload_index, label, quick, steps=3):
    """In a fresh process: build one contender of one workload, step it, print its memory as JSON.

    `before_build`: polygrad and the workload's data, nothing else; the peak also
    holds the contender's library (imported when it is built) and its steps.
    """
    workload = workloads(quick)[workload_index]
    cpu = backends.get("numpy").default_device()
    before = _rss_now()
    impls = ["by_hand", "polygrad", peers.compiled(), peers.torch("cpu")]
    impl = next(i for i in impls + [c for c, _ in peers.available([])] if _label(i) == label)
    device = backends.get(impl.backend).device(impl.device) if isinstance(impl, bench.Contender) else cpu
    entry = bench.Entry(workload, impl, device)
    built = _rss_now()
    for _ in range(steps):
        entry.step()
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, from the parent this process was forked from
    with open("/proc/self/status") as f:
        peak = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    print(json.dumps({"before_build_bytes": before, "built_bytes": built, "peak_bytes": peak}))


def measure_rss(quick, report):
    """{workload name: {contender: {...}}} for the MLP steps, each contender in its own process."""
    labels = [_label(impl) for impl, _ in contenders([])]
    found = {}
    for index, workload in enumerate(workloads(quick)):
        if not isinstance(workload, bench.MLP):
            continue
        rows = found[workload.name] = {}
        for label in labels:
            command = [sys.executable, __file__, "--rss-child", str(index), label] + (["--quick"] if quick else [])
            out = subprocess.run(command, capture_output=True, text=True, cwd=HERE)
            if out.returncode:
                report.notes.append(f"RSS of {label} on {workload.name} failed: {out.stderr.strip()[-300:]}")
                continue
            rows[label] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


def rss_markdown(found):
    lines = ["", "## Peak RSS (one process per contender: import, build, 3 steps)", "",
             "| workload | contender | peak MiB | peak / hand-written | steps' own MiB (peak above the RSS once "
             "built) | that / hand-written's |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for workload, rows in found.items():
        hand = rows.get(bench.CONTENDERS["by_hand"])
        for i, (label, row) in enumerate(rows.items()):
            grown = max(row["peak_bytes"] - row["built_bytes"], 0)
            ratios = ["", ""]
            if hand:
                hand_grown = max(hand["peak_bytes"] - hand["built_bytes"], 1)
                ratios = [f"{row['peak_bytes'] / hand['peak_bytes']:.2f}", f"{grown / hand_grown:.2f}"]
            lines.append(f"| {workload if i == 0 else ''} | {label} | {row['peak_bytes'] / 2 ** 20:.0f} | {ratios[0]} "
                         f"| {grown / 2 ** 20:.0f} | {ratios[1]} |")
    return lines


# ---------------------------------------------------------------- the targets
# Issue 17's: tiny ops eager <= 1.0x PyTorch, compiled <= 0.3x; MLP b256 eager <= 1.10x hand NumPy (as
# bench_overhead.py). The other rows are issue 12's, which issue 17 leaves standing.
TARGETS = [  # (workload name starts with, contender, ratio column, at most)
    ("chain of 200", "polygrad (", "time / PyTorch", 1.0),
    ("chain of 200", "polygrad compiled", "time / PyTorch", 0.3),
    ("MLP 784-512-512-10 step, batch 256", "polygrad (", "time / hand-written", 1.10),
    ("MLP 784-512-512-10 step, batch 256", "polygrad compiled", "time / hand-written", 1.05),
    ("MLP 784-512-512-10 step, batch 4096", "polygrad (", "time / hand-written", 1.05),
    ("small CNN", "polygrad (", "time / PyTorch", 1.0),
]


def targets_markdown(report, rss):
    lines = ["", "## The issue's targets", "", "| target | measured | at most | met |", "| --- | ---: | ---: | --- |"]
    for workload, contender, column, bound in TARGETS:
        row = next((r for r in report.rows if r["workload"].startswith(workload)
                    and r["contender"].startswith(contender)), None)
        if row is None or column not in row["ratios"]:
            continue
        value = row["ratios"][column]
        lines.append(f"| {workload}: {contender.rstrip(' (')} {column} | {value:.2f} | {bound:.2f} | "
                     f"{'yes' if value <= bound else f'no ({value / bound:.2f}x the target)'} |")
    for workload, rows in rss.items():
        hand, ours = rows.get(bench.CONTENDERS["by_hand"]), rows.get(bench.CONTENDERS["polygrad"])
        if hand and ours and "batch 256" in workload:
            value = ours["peak_bytes"] / hand["peak_bytes"]
            lines.append(f"| {workload}: polygrad peak RSS / hand-written | {value:.2f} | 1.30 | "
                         f"{'yes' if value <= 1.3 else 'no'} |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repeats per contender")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and two repeats: a smoke run")
    parser.add_argument("--out", default=str(HERE / "results"), help="folder for the .md and .json")
    parser.add_argument("--no-rss", action="store_true", help="skip the per-process peak RSS runs")
    parser.add_argument("--rss-child", nargs=2, metavar=("WORKLOAD", "CONTENDER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        return rss_child(int(args.rss_child[0]), args.rss_child[1], args.quick)
    report = run(args.repeats or (2 if args.quick else 15), args.quick)
    rss = {} if args.no_rss else measure_rss(args.quick, report)
    md, js = report.write(args.out)
    extra = rss_markdown(rss) if rss else []
    extra += targets_markdown(report, rss)
    with open(md, "a") as f:
        f.write("\n".join(extra) + "\n")
    with open(js) as f:
        info = json.load(f)
    info["peak_rss"] = rss
    with open(js, "w") as f:
        json.dump(info, f, indent=1)
    print(report.markdown() + "\n".join(extra))
    print(f"wrote {md}\nwrote {js}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
