"""Before/after on the real models: bench_models.py of two checkouts, run in turn, each with its own interpreter.

    python benchmarks/ab/models_ab.py BEFORE AFTER [--repeats 5] [--rounds 7] [--models gpt,cnn]

BEFORE and AFTER are checkouts (each with its .venv, or --python-before/--python-after). The two
alternate, one bench_models.py process each per repeat, so load drifts over both alike; each process
times native PyTorch beside polygrad, and only its ratios to that native run are compared (the
machine is shared: absolute times move with load). Prints a markdown table: per model and contender,
the median over the repeats of each side's ratio to native PyTorch, and every repeat's ratio.
"""

import argparse
import pathlib
import re
import statistics
import subprocess
import sys

LINE = re.compile(r"^(\S+): (.+) ([0-9.]+) ms$")


def ratios(python, checkout, models, rounds, threads):
    """{(model, contender): ratio to native PyTorch} from one bench_models.py run of `checkout`."""
    done = subprocess.run([python, str(pathlib.Path(checkout) / "benchmarks" / "bench_models.py"), "--rounds",
                           str(rounds), "--models", models, "--threads", str(threads), "--out", "/tmp/models_ab"],
                          capture_output=True, text=True, cwd=checkout, check=True)
    times = {}
    for line in (done.stdout + done.stderr).splitlines():
        match = LINE.match(line.strip())
        if match:
            times[(match[1], match[2])] = float(match[3])
    native = {model: ms for (model, label), ms in times.items() if "native" in label}
    return {key: ms / native[key[0]] for key, ms in times.items() if key[0] in native}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--python-before")
    parser.add_argument("--python-after")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--models", default="gpt")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    sides = {"before": (args.python_before or str(pathlib.Path(args.before) / ".venv/bin/python"), args.before),
             "after": (args.python_after or str(pathlib.Path(args.after) / ".venv/bin/python"), args.after)}
    runs = {side: [] for side in sides}
    for _ in range(args.repeats):
        for side, (python, checkout) in sides.items():
            runs[side].append(ratios(python, checkout, args.models, args.rounds, args.threads))
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
