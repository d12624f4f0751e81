"""`polygrad bench`: polygrad against hand-written NumPy and PyTorch, or across devices.

The benchmarks themselves live in polygrad/bench.py, so that the command works
from an installed package; benchmarks/*.py call `main` with their defaults.
"""

import argparse
import sys

from .. import bench


def configure(parser):
    parser.add_argument("--devices", action="store_true",
                        help="CPU vs GPU: the polygrad workloads on every backend and device present")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and two repeats: a smoke run")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repeats per contender")
    parser.add_argument("--out", metavar="DIR", help="also write <date>-<kind>.md and .json into DIR")


def run(args):
    if args.repeats is not None and args.repeats < 1:
        print("polygrad bench: --repeats must be at least 1", file=sys.stderr)
        return 2
    try:
        report = (bench.devices if args.devices else bench.core)(repeats=args.repeats, quick=args.quick)
    except bench.BenchError as error:
        print(f"polygrad bench: {error}", file=sys.stderr)
        return 1
    print(report.markdown())
    if args.out:
        for path in report.write(args.out):
            print(f"wrote {path}")
    return 0


def main(argv=None, **defaults):
    """Run as a script: `defaults` preset options (devices=True, out=...)."""
    parser = argparse.ArgumentParser(prog="polygrad bench", description=__doc__.splitlines()[0])
    configure(parser)
    parser.set_defaults(**defaults)
    return run(parser.parse_args(argv))
