"""The `polygrad` command: train, trace, bench, info, run.

Each subcommand lives in its own module with `configure(parser)` and
`run(args) -> exit code`; this file only dispatches. Bad options exit with 2,
Ctrl-C with 130.
"""

import argparse
import importlib
import sys

from .._version import __version__

COMMANDS = {
    "train": ("polygrad.cli.commands.train", "train a model on a dataset"),
    "trace": ("polygrad.cli.commands.trace", "show the forward, tangent and adjoint traces of an expression"),
    "bench": ("polygrad.cli.commands.bench", "compare polygrad with hand-written code on the same arrays"),
    "info": ("polygrad.cli.commands.info", "list backends and devices on this machine"),
    "run": ("polygrad.cli.commands.run", "run a PyTorch script unchanged, with polygrad as its torch"),
}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="polygrad", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"polygrad {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = {}
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            modules[name] = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue
        modules[name].configure(commands.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    try:
        return modules[args.command].run(args)
    except KeyboardInterrupt:  # commands that handle Ctrl-C themselves return 130; anywhere else, no traceback
        print(f"\npolygrad {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
