"""What pg.compile compares to decide whether a recorded program still holds: plain values.

A guard keeps a snapshot of each Python value a traced function reads (module attributes,
globals, closure variables) and traces again when a later call's snapshot differs.
"""

MISSING = object()  # a global, key or cell that is not there (any more)
NOT_PLAIN = object()  # a value with no snapshot: taken to be unchanged
_PLAIN_TYPES = (bool, int, float, complex, str, bytes, type(None))
# a Module's own bookkeeping, guarded otherwise (training) or not a value the forward reads
MODULE_INTERNALS = {"_parameters", "_buffers", "_modules", "training", "_module_hooks"}


def cell_value(cell):
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return MISSING


def plain(value, depth=2):
    """A hashable copy of a number, string or None, or of a tuple, list or dict of them (nested
    twice at most): what a guard compares. NOT_PLAIN for anything else."""
    if type(value) in _PLAIN_TYPES or value is MISSING:
        return (type(value), value)
    if depth and type(value) in (tuple, list):
        items = tuple(plain(v, depth - 1) for v in value)
        return NOT_PLAIN if NOT_PLAIN in items else (type(value), items)
    if depth and type(value) is dict:
        items = tuple((plain(k, 0), plain(v, depth - 1)) for k, v in value.items())
        return NOT_PLAIN if any(NOT_PLAIN in pair for pair in items) else (dict, items)
    return NOT_PLAIN
