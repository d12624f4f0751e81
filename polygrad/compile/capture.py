"""What a compiled function captures, and so what its guards check: the tensors it reaches (arguments,
closure cells, globals, module and optimizer attributes) and a signature of everything a program assumes."""

import functools
import types

from ..core import engine
from ..core.errors import describe
from ..core.tensor import Tensor
from . import guards

MISSING = guards.MISSING
DATA_SLOT = Tensor.__dict__["array"]  # the slot itself: tracing swaps Tensor.array for a property

ARGS = object()  # the base of locations inside the call's arguments


class Holders:
    """Modules, optimizers and tensors a function reaches (closures, globals, bound self, arguments)."""

    def __init__(self):
        self.modules, self.optimizers, self.tensors = [], [], []
        self.values = []  # (where, read): Python values the function reads (globals, closure cells, attributes)
        self._seen = set()

    def watch(self, where, read):
        """Guard a plain value (number, string, None, or a tuple, list or dict of them): read() at every call."""
        if guards.plain(read()) is not guards.NOT_PLAIN:
            self.values.append((where, read))

    def add(self, obj, depth=4):
        from ..nn.module import Module
        from ..optim.optimizers import Optimizer

        if (id(obj) in self._seen or depth < 0 or isinstance(obj, (type, types.ModuleType))
                or getattr(type(obj), "captures_nothing", False)):
            return  # (a compiled function's own bookkeeping changes at every call: not what it reads)
        self._seen.add(id(obj))
        if isinstance(obj, Tensor):
            self.tensors.append(obj)
        elif isinstance(obj, Module):
            self.modules.extend(m for m in obj.modules() if m not in self.modules)
        elif isinstance(obj, Optimizer):
            self.optimizers.append(obj)
        elif isinstance(obj, (list, tuple, set, frozenset)):
            for item in obj:
                self.add(item, depth - 1)
        elif isinstance(obj, dict):
            for key, item in obj.items():
                self.watch((obj, key), functools.partial(obj.get, key, MISSING))
                self.add(item, depth - 1)
        elif isinstance(obj, functools.partial):
            for item in (obj.func, *obj.args, *obj.keywords.values()):
                self.add(item, depth - 1)
        elif isinstance(obj, types.MethodType):
            self.add(obj.__self__, depth)
            self.add(obj.__func__, depth)
        elif isinstance(obj, types.FunctionType):
            ours = obj.__module__ and obj.__module__.startswith("polygrad")
            for name, cell in zip(obj.__code__.co_freevars, obj.__closure__ or ()):
                try:
                    self.add(cell.cell_contents, depth - 1)
                except ValueError:  # an empty cell
                    continue
                if not ours:
                    self.watch((obj, ".__closure__", name), functools.partial(guards.cell_value, cell))
            for item in (*(obj.__defaults__ or ()), *(obj.__kwdefaults__ or {}).values()):
                self.add(item, depth - 1)
            if not ours:
                for name in _global_names(obj.__code__):
                    if name in obj.__globals__:
                        self.watch((obj, ".__globals__", name), functools.partial(obj.__globals__.get, name, MISSING))
                        self.add(obj.__globals__[name], depth - 1)
        elif hasattr(obj, "__dict__"):
            self.add(vars(obj), depth - 1)


def _global_names(code):
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def locations(args, holders):
    """(where, tensor or None) for every tensor slot the program may read or write."""
    for i, arg in enumerate(args):
        yield from _tensor_slots((ARGS, i), arg)
    for m in holders.modules:
        for name, p in m._parameters.items():
            yield from _tensor_slots((m, "._parameters", name), p)
        for name, b in m._buffers.items():
            yield (m, "._buffers", name), b
    for opt in holders.optimizers:
        for p in opt._params():
            yield from _tensor_slots((p,), p)
        for p, state in opt.state.items():
            for key, value in state.items():
                if isinstance(value, Tensor):
                    yield (opt, ".state", p, key), value
    for t in holders.tensors:
        yield from _tensor_slots((t,), t)


def _tensor_slots(where, obj):
    if isinstance(obj, Tensor):
        yield where, obj
        yield (*where, ".grad"), obj.grad
    elif type(obj) in (list, tuple):
        for i, item in enumerate(obj):
            if isinstance(item, Tensor):
                yield from _tensor_slots((*where, i), item)


def signature(args, holders):
    """What a program assumes, as (label, value) pairs: equal values, same program."""
    items = [("grad mode", engine.state.grad_enabled), ("forward mode", engine.state.forward_ad),
             ("autocast", engine.state.autocast_mode)]
    positions = {}
    for where, t in locations(args, holders):
        if t is None:
            items.append((where, None))
        else:
            first = positions.setdefault(id(t), len(positions))  # which slots hold the same tensor
            items.append((where, (t.shape, t.dtype, t.device, t.requires_grad, first)))
    for i, arg in enumerate(args):
        if not isinstance(arg, (Tensor, list, tuple)):
            items.append(((ARGS, i), _hashable(arg)))
        elif not isinstance(arg, Tensor):
            items.append(((ARGS, i), tuple(_hashable(a) if not isinstance(a, Tensor) else "tensor" for a in arg)))
    for m in holders.modules:
        items.append(((m, ".training"), m.training))
        for name, value in vars(m).items():  # module.scale = 10.0, dropout.p = 0: a new program
            if name not in guards.MODULE_INTERNALS:
                snapshot = guards.plain(value)
                if snapshot is not guards.NOT_PLAIN:
                    items.append(((m, "." + name), snapshot))
    items += [(where, guards.plain(read())) for where, read in holders.values]
    for opt in holders.optimizers:
        for g, group in enumerate(opt.param_groups):
            for key, value in group.items():
                if key != "params":
                    items.append(((opt, ".param_groups", g, key), _kind_of_number(value)))
        for p, state in opt.state.items():
            for key, value in state.items():
                if not isinstance(value, Tensor):
                    items.append(((opt, ".state", p, key), _kind_of_number(value)))
        items.append(((opt, ".state"), tuple(positions.get(id(p)) for p in opt.state)))
        # whether each parameter still holds the array the optimizer made its own: a program writes into it
        # in place, so one rebound since (load_state_dict, copy_) needs a trace that copies it first
        owned = getattr(opt, "_owned", {})
        items.append(((opt, "._owned"), tuple(owned.get(p) is DATA_SLOT.__get__(p, Tensor) for p in opt._params())))
    return items


def _kind_of_number(value):
    # numbers are symbols read at replay: only their type is assumed
    return type(value).__name__ if type(value) in (int, float) else _hashable(value)


def _hashable(value):
    try:
        hash(value)
    except TypeError:
        return ("object", id(value))
    return (type(value), value) if not isinstance(value, Tensor) else ("object", id(value))


def describe_where(where):
    base, *steps = where
    text = "argument" if base is ARGS else type(base).__name__
    for step in steps:
        if isinstance(step, str) and step.startswith("."):
            text += step
        else:
            text += f"[{describe(step) if isinstance(step, Tensor) else repr(step)}]"
    return text
