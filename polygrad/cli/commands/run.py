"""`polygrad run script.py [args]`: run a PyTorch script unchanged, with polygrad answering `import torch`.

The script runs as `python script.py [args]` would run it: `__name__` is
"__main__", `sys.argv` is [script.py, args...], and its folder comes first on
the import path (so `from model import GPT` finds the file beside it). Before it
starts, polygrad's import hook (polygrad.torch_import) is installed, so `torch`
and every `torch.*` module the script or its own modules import are polygrad's.
`--backend` (or POLYGRAD_BACKEND) picks the array library.

A PyTorch name polygrad lacks stops the script with one line naming it and
where the script asked for it (exit code 1); any other error is the script's
own traceback.
"""

import argparse
import os
import runpy
import sys
import traceback

from ... import backends
from ...torch_import import NotInPolygrad, install

_PACKAGE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # polygrad/


def configure(parser):
    parser.add_argument("--backend", default=None,
                        help="array library to run on (default: POLYGRAD_BACKEND, else numpy); see `polygrad info`")
    parser.add_argument("script", help="the PyTorch script to run")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed on to the script")


def run(args):
    if args.backend is not None:
        try:
            backends.get(args.backend)
        except (ValueError, backends.BackendUnavailable) as error:
            print(f"polygrad run: --backend {args.backend}: {error}", file=sys.stderr)
            return 2
        backends.set_default(args.backend)
    if backends.default_name() == "torch":
        print("polygrad run: the torch backend needs the real torch, which `import torch` cannot also name "
              "in this process; use numpy, cupy or array_api_strict", file=sys.stderr)
        return 2
    if not os.path.isfile(args.script):
        print(f"polygrad run: no such file: {args.script}", file=sys.stderr)
        return 2
    install()
    sys.argv = [args.script, *args.args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(args.script)))
    try:
        runpy.run_path(args.script, run_name="__main__")
    except NotInPolygrad as error:
        return _refuse(error, str(error))
    except Exception as error:
        if isinstance(error, ImportError) and (error.name or "").partition(".")[0] == "torch":
            return _refuse(error, f"{error.name}.{_imported_name(error)} is not in polygrad ({error})")
        tb = error.__traceback__  # the script's traceback, as `python script.py` prints it: from the script down
        while tb is not None and tb.tb_frame.f_code.co_filename != args.script:
            tb = tb.tb_next
        traceback.print_exception(type(error), error, tb or error.__traceback__)
        return 1
    return 0


def _refuse(error, message):
    """One line: where in the user's code, and which PyTorch name polygrad lacks."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if not frame.filename.startswith((_PACKAGE, "<frozen", os.path.dirname(runpy.__file__)))]
    where = f"{frames[-1].filename}:{frames[-1].lineno}: " if frames else ""
    print(f"polygrad run: {where}{message}", file=sys.stderr)
    return 1


def _imported_name(error):
    """The name in "cannot import name 'X' from ..." (ImportError keeps only the module's)."""
    text = str(error)
    return text.split("'")[1] if text.startswith("cannot import name '") else "?"
