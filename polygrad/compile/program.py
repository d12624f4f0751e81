"""pg.compile: run a function once while recording its backend calls, then replay them.

    step = pg.compile(train_step)      # forward, loss.backward(), opt.step(): all of it
    loss = step(x, y)                  # traced: runs eagerly and records
    loss = step(x, y)                  # replayed: the recorded calls, no Tensors, no tape

While tracing, every backend namespace the rules use (`backend.xp`) is swapped
for a recording one, and every raw array a Tensor hands out is a `Tracer`: it
holds the real array (so the traced call computes real results) and a name in
the program. Every backend call and array operator made on tracers becomes one
line of a flat Python function; forward rules, backward rules, gradient
accumulation and optimizer updates all land there, because they all run on
`device.backend.xp`. The function reads its inputs (the arguments, and the
tensors it touched: parameters, their gradients, buffers, optimizer state) at
the start, and writes back every tensor whose data changed.

What the program assumes is checked on every call (the guards): the shapes,
dtypes, devices, backends and requires_grad of the arguments and of every
captured tensor, whether gradients exist, the optimizer state's keys and whether
it owns its parameters' arrays, each module's train/eval mode and plain attributes,
the plain globals and closure variables the function reads, grad mode and forward
mode, non-tensor arguments by value, and shapes that depend on values (nonzero,
boolean masks: recomputed from the inputs before the replay writes anything).
A call that fails them traces again (a bounded cache of programs, a warning
when a function keeps retracing). Numbers in optimizer param groups and
state (lr, Adam's step count) are symbols: they are read fresh on each replay
and updated numbers are written back; Python control flow on them becomes a
guard. Random draws are recorded as draws, so dropout gets fresh numbers on
every replay. Reading a traced tensor's value (`.item()`, `bool(t)`, `float(t)`,
`.tolist()`, `.numpy()`, printing) raises `TraceError` naming the user's line.

Outputs are new Tensors without a graph: compile the whole step, backward
included. A call under anomaly detection, or inside another trace, runs
eagerly. Tracing changes process-wide state (it swaps `Tensor.array` and the
backend namespaces): do not run polygrad in other threads while a function is
being traced.
"""

import builtins
import functools
import math
import operator
import os
import re
import sys
import threading
import types
import weakref

from ..core import engine
from . import fusion, guards
from .capture import ARGS, DATA_SLOT, locations
from ..namespace import random as _random
from ..core.errors import dtype_name
from ..core.tensor import Tensor



class TraceError(RuntimeError):
    """The traced function needs a value that only exists when it runs, not in a recorded program."""


_active = None  # the _Trace being recorded
_lock = threading.Lock()
_RETRACE = object()  # what a program returns when a guard on a number fails
_MISSING = guards.MISSING


def _called_from_polygrad():
    """Whether the code asking for a value is polygrad's own (a fast path, a check), not the user's."""
    frame = sys._getframe(2)
    while frame is not None and os.path.abspath(frame.f_code.co_filename) in _PLUMBING:
        frame = frame.f_back
    return frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(engine._PACKAGE)


def _value_needed(what):
    raise TraceError(
        f"pg.compile: {what} needs the value of a traced tensor (at {engine._user_site()}); "
        "a compiled function is recorded once and replayed, so Python code cannot branch on or read "
        "tensor values: use tensor operations (pg.where), or move that part out of the compiled function"
    )


# ------------------------------------------------------------------ tracers
class Tracer:
    """A raw array while tracing: the real array (`value`) plus its name in the program."""

    __slots__ = ("value", "name", "trace", "backend", "__weakref__")
    __array_ufunc__ = None  # NumPy operators defer to ours
    __array_priority__ = 2000

    def __init__(self, value, name, trace):
        self.value, self.name, self.trace = value, name, trace
        self.backend = trace.backend_of(value)
        trace.meta[name] = (dtype_name(value.dtype), self.backend)

    shape = property(lambda self: self.value.shape)
    dtype = property(lambda self: self.value.dtype)
    device = property(lambda self: self.value.device)
    ndim = property(lambda self: self.value.ndim)
    size = property(lambda self: self.value.size)
    T = property(lambda self: _call(_attribute("T"), (self,), pure=True))
    mT = property(lambda self: _call(_attribute("mT"), (self,), pure=True))

    def __array_namespace__(self, api_version=None):
        return self.backend.xp

    def to_device(self, device, /, stream=None):
        return _call(_method("to_device"), (self, device))

    def __getattr__(self, name):
        # library-specific array methods (torch's index_add, ...) are recorded like namespace calls
        if name in ("item", "tolist", "numpy", "cpu", "detach"):
            _value_needed(f".{name}()")
        attribute = getattr(self.value, name)
        if callable(attribute):
            return functools.partial(_call_method, self, name)
        return _call(_attribute(name), (self,), pure=True)

    def __len__(self):
        if not self.value.shape:
            raise TypeError("len() of a 0-d array")
        return self.value.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __setitem__(self, key, value):
        _call(operator.setitem, (self, key, value), statement=True)

    def __repr__(self):
        return f"<traced array {self.name}: shape {tuple(self.value.shape)}, dtype {self.value.dtype}>"

    __hash__ = object.__hash__

    def __bool__(self):
        return self.trace.value_guard(self, bool, "bool()")

    def __float__(self):
        return self.trace.value_guard(self, float, "float()")

    def __int__(self):
        return self.trace.value_guard(self, int, "int()")

    def __index__(self):
        return self.trace.value_guard(self, operator.index, "using it as an index or size")

    def __complex__(self):
        _value_needed("complex()")

    def __array__(self, *args, **kwargs):
        _value_needed("converting it to a host array")

    def __dlpack__(self, *args, **kwargs):
        _value_needed("exporting it (dlpack)")


def _call_method(tracer, name, *args, **kwargs):
    return _call(_method(name), (tracer, *args), kwargs)


@functools.cache
def _method(name):
    def call(obj, *args, **kwargs):
        return getattr(obj, name)(*args, **kwargs)
    call.__name__ = f"method_{name}"
    return call


@functools.cache
def _attribute(name):
    return operator.attrgetter(name)


def _flip(op):
    def flipped(a, b):
        return op(b, a)
    flipped.__name__ = f"r{op.__name__}"
    return flipped


def _binary(op, pure=True):
    def method(self, other):
        if isinstance(other, Tensor):
            return NotImplemented  # Tensor's reflected operator records it on the tape
        return _call(op, (self, other), pure=pure)
    return method


_BINARY = ["add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul",
           "and", "or", "xor", "lshift", "rshift"]
for _name in _BINARY:
    _op = getattr(operator, f"{_name}_" if _name in ("and", "or") else _name)
    setattr(Tracer, f"__{_name}__", _binary(_op))
    setattr(Tracer, f"__r{_name}__", _binary(_flip(_op)))
    setattr(Tracer, f"__i{_name}__", _binary(getattr(operator, f"i{_name}"), pure=False))
for _name in ["lt", "le", "gt", "ge", "eq", "ne", "getitem"]:
    setattr(Tracer, f"__{_name}__", _binary(getattr(operator, _name)))
for _name in ["neg", "pos", "abs", "invert"]:
    setattr(Tracer, f"__{_name}__", functools.partialmethod(lambda self, op: _call(op, (self,), pure=True),
                                                                 getattr(operator, _name)))


class Scalar:
    """A number read from optimizer state while tracing: arithmetic on it is recorded.

    Not a float subclass: C code (math.sqrt, struct) would read a float's value
    directly and bake it into the program. Here every conversion goes through
    `__float__`/`__index__`, which record a guard that the number stays the same;
    the exact number (an int stays an int) is `concrete`. Branching on it also
    records a guard. The replayed program checks its guards before anything else.
    """

    __slots__ = ("concrete", "name", "trace")

    def __init__(self, concrete, name, trace):
        self.concrete, self.name, self.trace = concrete, name, trace

    def __repr__(self):
        return repr(self.concrete)

    def _live(self):
        return self.trace is _active and self.trace.depth == 0


def _concrete(x):
    return x.concrete if isinstance(x, Scalar) else x


def _is_number(x):
    return type(x) in (int, float, bool) or isinstance(x, Scalar)


def _scalar_arithmetic(op, symbol, flipped):
    def method(self, other):
        if not _is_number(other):
            return NotImplemented
        a, b = (other, self) if flipped else (self, other)
        value = op(_concrete(a), _concrete(b))
        if not self._live():
            return value
        trace = self.trace
        name = trace.fresh("s")
        trace.scalar_lines.append(f"{name} = {trace.expr(a)} {symbol} {trace.expr(b)}")
        return Scalar(value, name, trace)
    return method


def _scalar_comparison(op, symbol):
    def method(self, other):
        if not _is_number(other):
            return NotImplemented
        value = op(self.concrete, _concrete(other))
        if self._live():
            self.trace.guard(f"({self.name} {symbol} {self.trace.expr(other)}) is not {value}")
        return value
    return method


def _scalar_exact(convert):
    def method(self):
        if self._live():
            self.trace.guard(f"{self.name} != {self.trace.expr(self.concrete)}")
        return convert(self.concrete)
    return method


for _name, _symbol in [("add", "+"), ("sub", "-"), ("mul", "*"), ("truediv", "/"), ("floordiv", "//"),
                       ("mod", "%"), ("pow", "**")]:
    _op = getattr(operator, _name)
    setattr(Scalar, f"__{_name}__", _scalar_arithmetic(_op, _symbol, False))
    setattr(Scalar, f"__r{_name}__", _scalar_arithmetic(_op, _symbol, True))
for _name, _symbol in [("lt", "<"), ("le", "<="), ("gt", ">"), ("ge", ">="), ("eq", "=="), ("ne", "!=")]:
    setattr(Scalar, f"__{_name}__", _scalar_comparison(getattr(operator, _name), _symbol))
Scalar.__hash__ = object.__hash__  # two symbols with equal values are still different symbols
Scalar.__neg__ = lambda self: 0 - self
Scalar.__pos__ = lambda self: self
Scalar.__abs__ = _scalar_exact(abs)
Scalar.__bool__ = lambda self: self != 0
Scalar.__float__ = _scalar_exact(float)
Scalar.__int__ = _scalar_exact(int)
Scalar.__index__ = _scalar_exact(operator.index)
Scalar.__round__ = lambda self, n=None: round(_scalar_exact(float)(self), n)
Scalar.__trunc__ = _scalar_exact(math.trunc)
Scalar.__floor__ = _scalar_exact(math.floor)
Scalar.__ceil__ = _scalar_exact(math.ceil)


# ------------------------------------------------------------------ recording
def _unwrap(obj):
    if isinstance(obj, Tracer):
        return obj.value
    if isinstance(obj, Scalar):
        return obj.concrete
    kind = type(obj)
    if kind is tuple or kind is list:
        return kind(_unwrap(o) for o in obj)
    if kind is dict:
        return {k: _unwrap(v) for k, v in obj.items()}
    return obj


def _call(fn, args, kwargs=None, statement=False, pure=False):
    """Run `fn` on the real arrays; record the call if it made arrays (or is a `statement`).

    `pure`: the call changes nothing but its result (namespace functions, operators
    that are not in place), so a replay may drop it when the result goes unused.
    """
    trace = _active
    kwargs = kwargs or {}
    real_args, real_kwargs = _unwrap(args), _unwrap(kwargs)
    trace.depth += 1  # calls made inside fn itself are part of this one
    try:
        result = fn(*real_args, **real_kwargs)
    finally:
        trace.depth -= 1
    return trace.record(fn, args, kwargs, result, statement, pure)


def _recording(fn, statement=False):
    """fn, recorded when called while tracing; a `statement` (a backend's in-place optimizer update,
    which returns no array) is kept in the program for its writes."""
    @functools.wraps(fn)
    def recorded(*args, **kwargs):
        trace = _active
        if trace is None or trace.depth:
            return fn(*args, **kwargs)
        return _call(fn, args, kwargs, statement=statement, pure=not statement)
    return recorded


def _recording_namespace(xp, submodules=("linalg", "fft")):
    """A copy of a backend namespace whose functions (and the standard's extensions') record themselves."""
    ns = types.ModuleType(xp.__name__)
    for name, value in vars(xp).items():
        if isinstance(value, types.ModuleType):
            value = _recording_namespace(value, ()) if name in submodules else value
        elif callable(value) and not isinstance(value, type):
            value = _recording(value, statement=name.startswith("kernel_") and name.endswith("_update"))
        setattr(ns, name, value)
    return ns


class _Draw:
    """A recorded random draw: replays draw fresh numbers from the generator as it is then."""

    def __init__(self, generator, method):
        self.generator, self.method = generator, method
        device = generator.device
        self.default_key = (device.backend.name, device.name)
        if _random._generators.get(self.default_key) is not generator:
            self.default_key = None

    def __call__(self, *args):
        generator = self.generator
        if self.default_key is not None:  # manual_seed replaces default generators
            generator = _random.default_generator(generator.device)
        return getattr(vars(generator)["source"], self.method)(*args)


class _RecordingSource:
    def __init__(self, generator):
        self.generator = generator

    def __getattr__(self, method):
        return lambda *args: _call(_Draw(self.generator, method), args)


class _Trace:
    """The program being recorded: source lines, and the objects they name."""

    def __init__(self, loaded):
        self.loaded = loaded  # [(backend, its own is_array)]
        self.consts = {}
        self._const_names = {}
        self.reads, self.scalar_reads, self.scalar_lines, self.steps, self.writes = [], [], [], [], []
        self.used = []  # names expr() gave out since the last record()
        self.guards = []  # (steps moved to the front, condition): values polygrad's own code branched on
        self.producer = {}  # name -> the step that made it
        self.meta = {}  # name -> (dtype name, backend) of every array in the program
        self.count = 0
        self.depth = 0
        self.start = {}  # id(tensor) -> where it was found at the start
        self.start_objects = {}  # source text of each location -> what it held at the start
        self.inputs = {}  # id(tensor) -> the tracer its data was read into
        self.touched = []  # weakrefs of tensors given a tracer
        self.symbols = []  # (container, key, expression, Scalar) for optimizer numbers

    def const(self, obj):
        name = self._const_names.get(id(obj))
        if name is None:
            name = self._const_names[id(obj)] = f"c{len(self.consts)}"
            self.consts[name] = obj
        return name

    def fresh(self, prefix="v"):
        self.count += 1
        return f"{prefix}{self.count}"

    def guard(self, condition):
        self.scalar_lines.append(f"if {condition}: return _RETRACE")

    def backend_of(self, value):
        return next(backend for backend, is_array in self.loaded if is_array(value))

    def is_array(self, value):
        return any(is_array(value) for _, is_array in self.loaded)

    def expr(self, obj):
        """Source text that gives `obj` at replay."""
        if isinstance(obj, Tracer):
            if obj.trace is not self:
                raise TraceError(f"pg.compile: an array traced by another compiled function reached this one "
                                 f"(at {engine._user_site()})")
            self.used.append(obj.name)
            return obj.name
        if isinstance(obj, Scalar):
            return obj.name if obj.trace is self else self.expr(obj.concrete)
        kind = type(obj)
        if obj is None or obj is Ellipsis or kind in (int, bool, str) or (kind is float and math.isfinite(obj)):
            return repr(obj)
        if kind is tuple:
            return "(" + "".join(f"{self.expr(o)}, " for o in obj) + ")"
        if kind is list:
            return "[" + ", ".join(self.expr(o) for o in obj) + "]"
        if kind is dict and all(type(k) is str for k in obj):
            return "{" + ", ".join(f"{k!r}: {self.expr(v)}" for k, v in obj.items()) + "}"
        if kind is slice:
            return f"slice({self.expr(obj.start)}, {self.expr(obj.stop)}, {self.expr(obj.step)})"
        return self.const(obj)

    def record(self, fn, args, kwargs, result, statement, pure):
        self.used = []
        parts = [self.expr(a) for a in args] + [f"{k}={self.expr(v)}" for k, v in kwargs.items()]
        call = f"{self.const(fn)}({', '.join(parts)})"
        if statement:
            self.steps.append(_Step([], self.used, False, call))
            return result
        if self.is_array(result):
            outputs = [result]
        elif isinstance(result, (tuple, list)) and result and all(self.is_array(r) for r in result):
            outputs = list(result)
        else:
            return result  # a Python value (isdtype, namespace info): not part of the program
        names = [self.fresh() for _ in outputs]
        target = names[0] if outputs[0] is result else ", ".join(names) + ","
        elementwise = None
        dtype = dtype_name(result.dtype) if outputs[0] is result else None
        if pure and dtype and not any(p.startswith("c") for p in parts) and \
                fusion.fusible(getattr(fn, "__name__", ""), parts, kwargs, dtype):
            elementwise = fusion.Call(fn.__name__, parts, names[0], tuple(result.shape), dtype)
        self.steps.append(_Step(names, self.used, pure, f"{target} = {call}", elementwise))
        self.producer.update((name, self.steps[-1]) for name in names)
        tracers = [Tracer(r, n, self) for r, n in zip(outputs, names)]
        if _shape_depends_on_values(fn, args):
            for tracer in tracers:
                self.shape_guard(tracer, getattr(fn, "__name__", "indexing"))
        if outputs[0] is result:
            return tracers[0]
        return result._make(tracers) if hasattr(result, "_make") else type(result)(tracers)

    def value_guard(self, tracer, convert, what):
        """`convert(value)` for polygrad's own code, checked at the start of every replay.

        polygrad's fast paths and checks branch on values (no ignored class, lengths in
        range): the program then holds only if the value is the same, so a replay
        recomputes it first from the inputs, before anything is written, and traces
        again when it differs. The user's own code gets TraceError instead: a
        compiled function must not depend on values silently.
        """
        moved = self._chain(tracer.name) if _called_from_polygrad() else None
        if moved is None:
            _value_needed(what)
        value = convert(tracer.value)
        host = value.tolist() if hasattr(value, "tolist") else value
        check = f"{self.const(_host_list)}({self.const(convert)}({tracer.name}))"
        self.guards.append((moved, f"if {check} != {self.expr(host) if type(host) is not list else self.const(host)}: "
                                   "return _RETRACE"))
        return value

    def shape_guard(self, tracer, what):
        """A shape read off values (nonzero: x[x > 0]) is checked at the start of every replay, which
        traces again when it differs; where those values are only made after the program writes in
        place, no early check is possible: TraceError, naming the user's line."""
        moved = self._chain(tracer.name)
        if moved is None:
            raise TraceError(
                f"pg.compile: {what} gives a shape that depends on tensor values (at {engine._user_site()}), and "
                "those values are computed after this function updates tensors in place, so no replay can check "
                "it before writing: compute that part outside the compiled function")
        shape = tuple(tracer.value.shape)
        self.guards.append((moved, f"if tuple({tracer.name}.shape) != {shape!r}: return _RETRACE"))

    def _chain(self, name):
        """The pure steps computing `name` from the inputs, if none of those inputs has been written yet."""
        chain, stack = [], [name]
        while stack:
            step = self.producer.get(stack.pop())
            if step is None:
                continue  # an input read at the start
            if not step.pure:
                return None
            if step not in chain:
                chain.append(step)
                stack.extend(step.inputs)
        reads = {n for step in chain for n in step.inputs if n not in self.producer} | ({name} - set(self.producer))
        tainted = set(reads)
        for step in self.steps:  # anything that may be a view of those inputs, written in place: too late
            if tainted.isdisjoint(step.inputs):
                continue
            if not step.pure:
                return None
            tainted.update(step.outputs)
        return [step for step in self.steps if step in chain]

    def read(self, tensor, value):
        """`tensor`'s data becomes an input of the program."""
        name = self.fresh("a")
        where = self.start.get(id(tensor))
        self.reads.append(f"{name} = {self.where(where) if where else self.const(tensor)}.array")
        tracer = self.inputs[id(tensor)] = Tracer(value, name, self)
        _DATA.__set__(tensor, tracer)
        self.touched.append(weakref.ref(tensor))
        return tracer

    def where(self, path):
        """Source text of a location: ("args", 0, ".grad") -> "a[0].grad"."""
        base, *steps = path
        text = "a" if base is ARGS else self.const(base)
        for step in steps:
            text += step if isinstance(step, str) and step.startswith(".") else f"[{self.expr(step)}]"
        return text


# calls whose result's shape depends on the values of their inputs, not only on their shapes
_VALUE_SHAPED = {"nonzero", "argwhere", "unique_values", "unique_counts", "unique_inverse", "unique_all"}


def _shape_depends_on_values(fn, args):
    if getattr(fn, "__name__", None) in _VALUE_SHAPED:
        return True
    if fn is not operator.getitem:
        return False
    keys = args[1] if isinstance(args[1], tuple) else (args[1],)  # a boolean mask picks as many as it holds
    return any(isinstance(k, Tracer) and dtype_name(k.dtype) == "bool" for k in keys)


# ------------------------------------------------------------------ while tracing
_DATA = DATA_SLOT
_PLUMBING = {os.path.abspath(__file__), os.path.abspath(sys.modules[Tensor.__module__].__file__)}


def _host_list(value):
    return value.tolist() if hasattr(value, "tolist") else value  # the slot descriptor Tensor.array is while nothing is traced


def _get_data(tensor):
    value = _DATA.__get__(tensor, Tensor)
    trace = _active
    if trace is None or trace.depth or isinstance(value, Tracer) or not trace.is_array(value):
        return value
    return trace.read(tensor, value)


def _set_data(tensor, value):
    _DATA.__set__(tensor, value)
    if isinstance(value, Tracer):
        _active.touched.append(weakref.ref(tensor))


def _generator_source(generator):
    return _RecordingSource(generator)


def _set_generator_source(generator, source):
    vars(generator)["source"] = source


class _Patches:
    """Everything tracing swaps, put back on exit whatever happened; while it holds, `trace` is the active one."""

    def __init__(self, trace):
        self.trace = trace
        self.saved = []

    def set(self, obj, name, value, instances_have_it=False):
        # A patch names a module attribute: if the code it stands for moved elsewhere, tracing would silently
        # miss it, so a missing target is polygrad's own bug, raised here (tests/test_compile.py runs every patch).
        # (A class may get a property for an attribute only its instances have: `instances_have_it`.)
        if not (instances_have_it or hasattr(obj, name)):
            raise AssertionError(f"pg.compile: {getattr(obj, '__name__', obj)!r} has no {name!r} to swap while tracing")
        self.saved.append((obj, name, vars(obj).get(name, _MISSING)))
        setattr(obj, name, value)

    def __enter__(self):
        from ..namespace import ops

        global _active
        _active = self.trace
        from ..optim import lr_scheduler, optimizers

        self.constants = dict(ops._constants)  # its cache must not keep tracers
        self.set(Tensor, "array", property(_get_data, _set_data))
        self.set(ops, "check_bounds", functools.partial(_recorded_check, ops.check_bounds))
        self.set(ops, "asarray_like", functools.partial(_asarray_like, ops.asarray_like))
        for module in (optimizers, lr_scheduler):  # step counts are symbolic: math.sqrt(1 - beta ** t) ...
            self.set(module, "math", _symbolic_math)
        self.set(_random.Generator, "source", property(_generator_source, _set_generator_source), instances_have_it=True)
        for backend, is_array in self.trace.loaded:
            to_host = backend.to_host
            self.set(backend, "xp", _recording_namespace(backend.xp))
            self.set(backend, "is_array", functools.partial(_is_array_or_tracer, backend, is_array))
            self.set(backend, "to_host", functools.partial(_to_host, to_host))
        return self

    def __exit__(self, *exc):
        from ..namespace import ops

        for obj, name, value in reversed(self.saved):
            if value is _MISSING:
                delattr(obj, name)
            else:
                setattr(obj, name, value)
        ops._constants.clear()
        ops._constants.update(self.constants)
        global _active
        _active = None


def tracing():
    """Whether a function is being traced now (a compiled function called inside runs eagerly)."""
    return _active is not None


def _recorded_check(check, xp, data, n, operation, axis, negative):
    """Index bounds are checked on every replay (a step that raises), not baked in at trace time.

    Returns a lowest entry below zero where negatives are allowed, so the traced
    code always wraps them (a no-op on non-negative indices).
    """
    _call(check, (xp, data, n, operation, axis, negative), statement=True)
    return -1 if negative else 0


def _scalar_function(function):
    """math.<function> that records itself when given a Scalar (Adam's sqrt of its bias correction)."""
    @functools.wraps(function)
    def call(*args):
        live = [a for a in args if isinstance(a, Scalar) and a._live()]
        value = function(*map(_concrete, args))
        if not live or not isinstance(value, (int, float)):
            return value
        trace = live[0].trace
        name = trace.fresh("s")
        trace.scalar_lines.append(f"{name} = {trace.const(function)}({', '.join(map(trace.expr, args))})")
        return Scalar(value, name, trace)
    return call


_symbolic_math = types.ModuleType("math")
_symbolic_math.__dict__.update(
    {k: _scalar_function(v) if callable(v) else v for k, v in vars(math).items() if not k.startswith("__")})


def _asarray_like(original, value, like):
    """ops.asarray_like for a Scalar: a recorded 0-d array in the dtype eager code would give that number."""
    if not isinstance(value, Scalar):
        return original(value, like)
    trace = _active
    trace.depth += 1
    try:
        dtype = original(value.concrete, like).array.dtype
    finally:
        trace.depth -= 1
    return Tensor._wrap(like.xp.asarray(value, dtype=dtype, device=like.device.native), like.device)


def _is_array_or_tracer(backend, is_array, obj):
    return (type(obj) is Tracer and obj.backend is backend) or is_array(obj)


def _to_host(to_host, array):
    if isinstance(array, Tracer):
        return array.trace.value_guard(array, to_host, "reading it on the host (.item(), .tolist(), .numpy(), print)")
    return to_host(array)


# ------------------------------------------------------------------ the program
class _Step:
    """One recorded call: the names it defines and reads, whether it only makes its result, its source line,
    and for an elementwise call what fusion needs (a fusion.Call, else None)."""

    __slots__ = ("outputs", "inputs", "pure", "text", "call")

    def __init__(self, outputs, inputs, pure, text, call=None):
        self.outputs, self.inputs, self.pure, self.text, self.call = outputs, set(inputs), pure, text, call


_NAMES = re.compile(r"\b[avs]\d+\b")


def _optimize(steps, needed_text):
    """(steps to replay, steps to run once): unused pure calls dropped, constant ones hoisted.

    A pure call with no array or number inputs (0-d constants, arange) is made
    once when nothing can write into its result: it does not escape (outputs,
    write-backs) and nothing that may be a view of it is written in place.
    """
    escaping = set(_NAMES.findall(needed_text))
    live, kept = set(escaping), []
    for step in reversed(steps):
        if step.pure and live.isdisjoint(step.outputs):
            continue
        live |= step.inputs
        kept.append(step)
    kept.reverse()
    written = set(escaping)
    for step in reversed(kept):
        if not step.pure or not written.isdisjoint(step.outputs):
            written |= step.inputs
    once = [step for step in kept if step.pure and not step.inputs and not _NAMES.search(step.text.split("=", 1)[1])
            and written.isdisjoint(step.outputs)]
    return [step for step in kept if step not in once], once


def _fuse(trace, steps, needed_text):
    """The program's elementwise groups, and the steps with each group as one kernel call where the
    backend compiles kernels (CuPy)."""
    escaping = set(_NAMES.findall(needed_text))
    later = [set() for _ in steps]  # names read after each step
    for i in range(len(steps) - 2, -1, -1):
        later[i] = later[i + 1] | steps[i + 1].inputs
    groups = fusion.fusions([step.call for step in steps], lambda name, i: name in escaping or name in later[i])
    replaced = list(steps)
    for group in groups:
        for name in group.types:
            group.types[name] = trace.meta[name][0]
        backend = trace.meta[group.inputs[0]][1] if group.inputs else None
        kernel = backend.elementwise_kernel(*group.cuda(), group.name) if backend is not None else None
        if kernel is None or not group.outputs:
            continue
        members = [step for step in replaced if step.call in group.calls]
        at = replaced.index(members[0])
        text = f"{', '.join(group.outputs)}, = {trace.const(kernel)}({', '.join(group.inputs)})"
        replaced[at:at + len(members)] = [_Step(group.outputs, group.inputs, True, text)]
    return groups, replaced


def _with_deletes(steps, kept):
    """The steps' lines, each followed by `del` of the arrays nothing reads afterwards: without it a
    replay would hold every intermediate until it returns, where eager code frees them as it goes."""
    last = {}
    for i, step in enumerate(steps):
        for name in (*step.inputs, *step.outputs):
            last[name] = i
    lines = []
    for i, step in enumerate(steps):
        lines.append(step.text)
        done = sorted(n for n in (*step.inputs, *step.outputs) if last[n] == i and n not in kept and n[0] == "v")
        if done:
            lines.append(f"del {', '.join(dict.fromkeys(done))}")
    return lines


class Program:
    """One recorded variant: `run(args)` replays it (or returns _RETRACE when a number guard fails).

    `fusions`: with fuse=True, the elementwise groups found (fusion.Group), fused
    into one kernel each on backends that compile kernels.
    """

    def __init__(self, trace, output, name, fuse=False):
        steps, once = _optimize(trace.steps, "\n".join([*trace.writes, output]))
        first = []  # what value guards need, then the guards: before anything is written
        for moved, condition in trace.guards:
            first += [step for step in moved if step not in first] + [_Step([], _NAMES.findall(condition), False,
                                                                              condition)]
        steps = [step for step in steps if step not in first]
        self.fusions = []
        if fuse:
            self.fusions, steps = _fuse(trace, steps, "\n".join([*trace.writes, output]))
        body = [*trace.scalar_reads, *trace.scalar_lines, *trace.reads,
                *_with_deletes(first + steps, set(_NAMES.findall("\n".join([*trace.writes, output])))),
                *trace.writes, f"return {output}"]
        self.source = "def replay(a):\n" + "".join(f"    {line}\n" for line in body)
        self.recorded, self.replayed = len(trace.steps), len(steps)
        namespace = dict(trace.consts, _RETRACE=_RETRACE, _wrap=Tensor._wrap, _fresh_like=_fresh_like)
        exec("\n".join(step.text for step in once), namespace)  # the hoisted constants, made once
        exec(builtins.compile(self.source, f"<pg.compile {name}>", "exec"), namespace)
        self.run = namespace["replay"]


def _fresh_like(tensor, data):
    """A new tensor like `tensor` (type, device, requires_grad) holding `data`: what eager code would make."""
    out = type(tensor)._wrap(data, tensor.device)
    out.requires_grad = tensor.requires_grad
    return out


def _symbolize(trace, holders):
    """Numbers in optimizer groups and state become Scalars read at replay.

    An optimizer also remembers which array it owns per parameter (and copies
    one it does not): that memory holds the parameter's tracer while tracing,
    so the check sees the same object and the program makes no copy.
    """
    for opt in holders.optimizers:
        owned = getattr(opt, "_owned", {})
        for p, array in owned.items():
            if array is _DATA.__get__(p, Tensor) and trace.is_array(array):
                owned[p] = p.array
        containers = [((opt, ".param_groups", g), group) for g, group in enumerate(opt.param_groups)]
        containers += [((opt, ".state", p), state) for p, state in opt.state.items()]
        for where, container in containers:
            for key, value in container.items():
                if type(value) in (int, float):
                    name = trace.fresh("s")
                    expression = f"{trace.where(where)}[{key!r}]"
                    trace.scalar_reads.append(f"{name} = {expression}")
                    symbol = Scalar(value, name, trace)
                    container[key] = symbol
                    trace.symbols.append((container, key, expression, symbol))


def _desymbolize(trace, holders):
    """Put concrete numbers back; updated ones are written back by the program."""
    for container, key, expression, symbol in trace.symbols:
        value = container.get(key, _MISSING)
        if isinstance(value, Scalar) and value is not symbol:
            trace.writes.append(f"{expression} = {value.name}")
    containers = [g for opt in holders.optimizers for g in opt.param_groups]
    containers += [s for opt in holders.optimizers for s in opt.state.values()]
    for container in containers:
        for key, value in container.items():
            if isinstance(value, Scalar):
                container[key] = value.concrete
    for opt in holders.optimizers:
        owned = getattr(opt, "_owned", {})
        for p, array in owned.items():
            if isinstance(array, Tracer):
                owned[p] = array.value


def _output(trace, result):
    """Source text rebuilding the function's result from the program's arrays."""
    if isinstance(result, Tensor):
        data = result.array  # through the tracing property: an untouched tensor becomes an input
        if not isinstance(data, Tracer):
            return trace.const(result)
        return f"_wrap({data.name}, {trace.const(result.device)})"
    kind = type(result)
    if kind in (tuple, list):
        inner = "".join(f"{_output(trace, r)}, " for r in result)
        return f"({inner})" if kind is tuple else f"[{inner}]"
    if kind is dict:
        return "{" + ", ".join(f"{trace.expr(k)}: {_output(trace, v)}" for k, v in result.items()) + "}"
    if isinstance(result, Scalar):
        return result.name if result.trace is trace else repr(result.concrete)
    return trace.expr(result)


def _finish(trace, args, holders):
    """Write-backs for every tensor the program changed; every tensor gets its real array back."""
    at_end = {}
    for where, t in locations(args, holders):
        text = trace.where(where)
        if t is None:
            if trace.start_objects.get(text) is not None:
                trace.writes.append(f"{text} = None")  # e.g. zero_grad() at the end
        else:
            at_end.setdefault(id(t), text)
    done = set()
    for ref in trace.touched:
        t = ref()
        if t is None or id(t) in done:
            continue
        done.add(id(t))
        data = _DATA.__get__(t, Tensor)
        if not isinstance(data, Tracer):
            continue
        _DATA.__set__(t, data.value)
        text = at_end.get(id(t))
        if text is not None and trace.start_objects.get(text) is not t:
            # made during the call (a new .grad): replays make a new one too, as eager calls do
            trace.writes.append(f"{text} = _fresh_like({trace.const(t)}, {data.name})")
        elif data is not trace.inputs.get(id(t)):
            trace.writes.append(f"{text or trace.const(t)}.array = {data.name}")


def _detached(result):
    """The traced call's own result: real arrays in new tensors, as replays return."""
    if isinstance(result, Tensor):
        data = _DATA.__get__(result, Tensor)
        return Tensor._wrap(data.value, result.device) if isinstance(data, Tracer) else result
    if type(result) in (tuple, list):
        return type(result)(_detached(r) for r in result)
    if type(result) is dict:
        return {k: _detached(v) for k, v in result.items()}
    return _concrete(result)


def _restore(trace):
    """Every tensor gets its real array back (also after a failed trace)."""
    for ref in trace.touched:
        t = ref()
        if t is not None:
            data = _DATA.__get__(t, Tensor)
            if isinstance(data, Tracer):
                _DATA.__set__(t, data.value)
