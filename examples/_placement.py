"""Where an example runs: its --backend and --device checked before anything is built.

A backend this machine lacks (cupy without a GPU, torch not installed) or an unknown
device is then one line and exit status 2, as `polygrad train` says it, rather than a
traceback from deep inside the first layer that touches the device.
"""

import sys

import polygrad as pg


def placement(parser, args):
    """{"backend": ..., "device": ...} for the example's tensors; one line and exit 2 if unusable."""
    try:
        pg.empty(0, backend=args.backend, device=args.device)  # resolves both exactly as the example will
    except (pg.BackendUnavailable, ValueError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        sys.exit(2)
    return {"backend": args.backend, "device": args.device}
