"""`pg.compile` itself: a compiled function looks up a program by its guards, replays it, or traces a new one
(the states: polygrad/compile/program.py's docstring)."""

import functools
import warnings

from .. import backends
from ..core import engine
from ..core.tensor import Tensor
from .capture import Holders, describe_where, locations, signature
from .program import (
    _RETRACE, Program, TraceError, _desymbolize, _detached, _finish, _lock, _output, _Patches, _restore, _symbolize,
    _Trace, tracing,
)

__all__ = ["compile", "TraceError", "Compiled"]


class Compiled:
    """A compiled function: call it like the original. `programs` holds the recorded variants."""

    captures_nothing = True  # another compiled function a traced one reaches holds programs, not its state

    def __init__(self, fn, max_programs=8, fuse=False):
        self.fn = fn
        self.max_programs = max_programs
        self.fuse = fuse
        self.programs = {}
        self.traces = 0
        self._holders = None
        functools.update_wrapper(self, fn)

    def __call__(self, *args):
        if tracing() or engine.state.anomaly or engine.state.batch is not None:
            # inside another trace it is part of that one; anomaly checks need values; under vmap the
            # primitives must meet the batching rules (a replay would run on the whole arrays)
            return self.fn(*args)
        holders = self._holders_for(args)
        items = signature(args, holders)
        key = tuple(value for _, value in items)
        program = self.programs.get(key)
        if program is not None:
            result = program.run(args)
            if result is not _RETRACE:
                return result
        return self._trace(args, holders, items, key)

    def _holders_for(self, args):
        if self._holders is None:
            self._holders = Holders()
            self._holders.add(self.fn)
        holders = Holders()
        holders._seen = set(self._holders._seen)
        holders.modules, holders.optimizers = list(self._holders.modules), list(self._holders.optimizers)
        holders.tensors, holders.values = list(self._holders.tensors), list(self._holders.values)
        for arg in args:
            if not isinstance(arg, Tensor):
                holders.add(arg, 2)
        return holders

    def _trace(self, args, holders, items, key):
        trace = _Trace([(b, b.is_array) for b in backends.loaded()])
        for where, t in locations(args, holders):
            text = trace.where(where)
            trace.start_objects.setdefault(text, t)
            if t is not None:
                trace.start.setdefault(id(t), where)
        with _lock, _Patches(trace):
            _symbolize(trace, holders)
            try:
                result = self.fn(*args)
                output = _output(trace, result)
                real = _detached(result)
                result = None  # drop the traced graph before looking for what persists
                _finish(trace, args, holders)
            finally:
                _desymbolize(trace, holders)
                _restore(trace)
        program = Program(trace, output, getattr(self.fn, "__name__", "function"), self.fuse)
        self.traces += 1
        after = signature(args, holders)
        # a call that created state (Adam's moments) is not replayed: the next one traces from that state
        if [v for w, v in items if not _is_grad(w)] == [v for w, v in after if not _is_grad(w)]:
            if len(self.programs) >= self.max_programs:
                self.programs.pop(next(iter(self.programs)))
            self.programs[key] = program
        if self.traces > self.max_programs:
            self._warn(items)
        self._last_items = items
        return real

    def _warn(self, items):
        previous = getattr(self, "_last_items", [])
        changed = [describe_where(w) if isinstance(w, tuple) else w
                   for (w, v), (_, old) in zip(items, previous) if v != old]
        warnings.warn(
            f"pg.compile: {getattr(self.fn, '__name__', 'the function')} has been traced {self.traces} times; "
            f"what changed since the last trace: {', '.join(changed) or 'the set of tensors it reaches'}. "
            "Each trace costs more than an eager call: keep shapes, dtypes and modes fixed, or call it uncompiled",
            RuntimeWarning, stacklevel=3,
        )


def _is_grad(where):
    return isinstance(where, tuple) and isinstance(where[-1], str) and where[-1] == ".grad"


def compile(fn=None, *, max_programs=8, fuse=False):
    """Trace `fn` on its first call, replay the recorded backend calls on later ones.

    The rule: every Python value the trace depends on is either guarded (a call where it
    differs traces again) or refused at trace time with a TraceError naming your line;
    none is silently baked in. Guarded: the shapes, dtypes, devices and requires_grad of
    every tensor reached; non-tensor arguments; modules' train/eval mode and their plain
    attributes (`module.scale = 10.0`, `dropout.p = 0`); the globals and closure
    variables of the functions reached, and plain values in objects they reach (numbers,
    strings, None, and tuples, lists and dicts of them); a shape read off values
    (`x[x > 0]`, its `.numel()`), recomputed before each replay writes anything; whether
    each optimizer still owns its parameters' arrays (after load_state_dict). Optimizer
    hyperparameters and state numbers are read fresh instead. Refused: reading a traced
    value in your code (`.item()`, `bool(t)`, `float(t)`, printing), and a value-shaped
    result of tensors the function has already updated in place. Other objects (instances
    without plain attributes, say) are taken to be unchanged.

    See the module docstring for what is recorded. Usable
    as a decorator, with or without arguments. `fuse=True` finds the program's
    elementwise groups (`programs[...].fusions`) and, on CuPy, replays each as one
    kernel (polygrad.compile.fusion).
    """
    if fn is None:
        return functools.partial(compile, max_programs=max_programs, fuse=fuse)
    return Compiled(fn, max_programs, fuse)
