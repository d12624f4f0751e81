"""`polygrad bench`: polygrad against the same work written by hand, on the CPU or across devices.

The benchmarks themselves live in polygrad/cli/bench.py, so that the command works
from an installed package. It compares polygrad with hand-written code on the
backend's own arrays only: PyTorch's autograd as a contender comes from
benchmarks/torch_contender.py, which benchmarks/bench_core.py and
bench_devices.py pass in (`main(contenders=...)`) from a source checkout.
"""

import argparse
import sys

from .. import bench

EPILOG = ("This command has no PyTorch-autograd contender (inside polygrad only polygrad/backends/ may call an array "
          "library). From a source checkout, python benchmarks/bench_core.py (or bench_devices.py) adds it.")


def configure(parser):
    parser.epilog = EPILOG
    parser.add_argument("--devices", action="store_true",
                        help="CPU vs GPU: the polygrad workloads on every backend and device present")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and two repeats: a smoke run")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repeats per contender")
    parser.add_argument("--out", metavar="DIR", help="also write <date>-<kind>.md and .json into DIR")


def run(args):
    if args.repeats is not None and args.repeats < 1:
        print("polygrad bench: --repeats must be at least 1", file=sys.stderr)
        return 2
    extra = getattr(args, "contenders", ())  # bench.Contender objects, from the scripts in benchmarks/
    try:
        report = (bench.devices if args.devices else bench.core)(repeats=args.repeats, quick=args.quick, extra=extra)
    except bench.BenchError as error:
        print(f"polygrad bench: {error}", file=sys.stderr)
        return 1
    print(report.markdown())
    if args.out:
        for path in report.write(args.out):
            print(f"wrote {path}")
    return 0


def main(argv=None, **defaults):
    """Run as a script: `defaults` preset options (devices=True, out=...) and may pass
    `contenders=[bench.Contender, ...]`, extra contenders that the command line cannot name."""
    parser = argparse.ArgumentParser(prog="polygrad bench", description=__doc__.splitlines()[0])
    configure(parser)
    parser.set_defaults(**defaults)
    return run(parser.parse_args(argv))
