"""Module and Parameter: what layers are built from, with PyTorch's interface."""

from collections import namedtuple

from ..namespace.ops import asarray

from ..core import dtypes
from ..core.placement import resolve_device, resolve_dtype, resolve_target
from ..core.engine import no_grad
from ..core.tensor import Tensor
from . import hooks as _hooks


class Parameter(Tensor):
    """A leaf Tensor that requires grad and that a Module registers as one of its parameters.

    A Tensor subclass rather than a factory, so that assigning one to a module
    attribute is all it takes to register it (as in PyTorch), and so that code
    can tell a parameter from any other tensor attribute. Operations on a
    Parameter give plain Tensors.
    """

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of layers and models.

    Assigning a Parameter or a Module to an attribute registers it; tensors
    that are state but not trained (running statistics) are registered with
    `register_buffer`. Subclasses call `super().__init__()` first and define
    `forward`.
    """

    def __init__(self):
        # Set through object.__setattr__: our own __setattr__ needs these registries.
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    # ---- registration ---------------------------------------------------
    def _registries(self):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        return self._parameters, self._buffers, self._modules

    def _forget(self, name):
        for registry in self._registries():
            registry.pop(name, None)
        self.__dict__.pop(name, None)

    def __setattr__(self, name, value):
        parameters, buffers, modules = self._registries()
        if isinstance(value, Parameter):
            self._forget(name)
            parameters[name] = value
        elif isinstance(value, Module):
            self._forget(name)
            modules[name] = value
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} to buffer {name!r}: expected a Tensor or None")
            buffers[name] = value
        elif name in parameters:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} to parameter {name!r}: wrap it in "
                                "nn.Parameter, or update the values with copy_() under no_grad()")
            parameters[name] = None
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # Only called when ordinary lookup fails: look in the registries.
        for registry in ("_parameters", "_buffers", "_modules"):
            found = self.__dict__.get(registry, {})
            if name in found:
                return found[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        if any(name in registry for registry in self._registries()):
            self._forget(name)
        else:
            object.__delattr__(self, name)

    def register_buffer(self, name, tensor):
        """Register `tensor` (or None) as state that is saved and moved but not trained."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None, got {type(tensor).__name__}")
        self._forget(name)
        self._buffers[name] = tensor

    # ---- traversal ------------------------------------------------------
    def named_modules(self, prefix=""):
        """(dotted name, module) for this module and every descendant, each once."""
        seen = set()

        def walk(module, prefix):
            if id(module) in seen:
                return
            seen.add(id(module))
            yield prefix, module
            for name, child in module._modules.items():
                yield from walk(child, f"{prefix}.{name}" if prefix else name)

        yield from walk(self, prefix)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        yield from self._modules.items()

    def children(self):
        yield from self._modules.values()

    def _named(self, registry):
        """(dotted name, tensor) from one kind of registry across the tree; shared tensors once."""
        seen = set()
        for prefix, module in self.named_modules():
            for name, tensor in getattr(module, registry).items():
                if tensor is not None and id(tensor) not in seen:
                    seen.add(id(tensor))
                    yield (f"{prefix}.{name}" if prefix else name), tensor

    def named_parameters(self):
        yield from self._named("_parameters")

    def parameters(self):
        for _, parameter in self.named_parameters():
            yield parameter

    def named_buffers(self):
        yield from self._named("_buffers")

    def buffers(self):
        for _, buffer in self.named_buffers():
            yield buffer

    def _state(self):
        """{dotted name: tensor} for the state dict: as PyTorch, a tensor shared by two modules (tied weights)
        appears under each name, so checkpoints from PyTorch load with strict=True."""
        state = {}

        def walk(module, prefix):
            for registry in (module._parameters, module._buffers):
                state.update((prefix + name, tensor) for name, tensor in registry.items() if tensor is not None)
            for name, child in module._modules.items():
                if child is not None:
                    walk(child, f"{prefix}{name}.")

        walk(self, "")
        return state

    # ---- state ----------------------------------------------------------
    def state_dict(self):
        """{dotted name: tensor} for every parameter and buffer, detached, on the module's
        own device: saving never moves the model."""
        return {name: tensor.detach() for name, tensor in self._state().items()}

    def check_state_dict(self, state_dict, strict=True):
        """What keeps `state_dict` from loading: (missing keys, unexpected keys, problems).

        Shape mismatches are always problems; with strict=True so are missing
        and unexpected keys. Checkpoints use this to check before they change anything.
        """
        own = self._state()
        missing = [name for name in own if name not in state_dict]
        unexpected = [name for name in state_dict if name not in own]
        problems = [
            f"size mismatch for {name}: the state dict has shape {tuple(state_dict[name].shape)}, "
            f"the model has {tensor.shape}"
            for name, tensor in own.items()
            if name in state_dict and tuple(state_dict[name].shape) != tensor.shape
        ]
        if strict and missing:
            problems.append(f"missing keys: {', '.join(missing)}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {', '.join(unexpected)}")
        return missing, unexpected, problems

    def load_state_dict(self, state_dict, strict=True):
        """Copy values (Tensors of any backend or host arrays) into the parameters and
        buffers, which keep their device and dtype.

        Nothing is changed unless `check_state_dict` finds no problem.
        Returns (missing_keys, unexpected_keys).
        """
        missing, unexpected, problems = self.check_state_dict(state_dict, strict)
        own = self._state()
        if problems:
            raise RuntimeError(f"load_state_dict for {type(self).__name__}: " + "; ".join(problems))
        with no_grad():
            for name, tensor in own.items():
                if name in state_dict:
                    tensor.copy_(asarray(state_dict[name], dtype=tensor.dtype, device=tensor.device))
        return IncompatibleKeys(missing, unexpected)

    # ---- modes and placement --------------------------------------------
    def train(self, mode=True):
        for module in self.modules():
            module.training = mode
        return self

    def eval(self):
        return self.train(False)

    def to(self, target=None, dtype=None, backend=None):
        """Move every parameter and buffer to `target` (a backend name, a device name,
        or a Device; `backend=` picks the backend a device name belongs to) and/or
        cast the floating ones to `dtype`, in place; returns self.

        Parameters stay the same objects, so an optimizer holding them keeps
        working; their gradients move with them. As in PyTorch, `to(pg.float64)`
        casts, `to(device, dtype)` does both and `to(tensor)` takes its device and dtype.
        """
        if isinstance(target, Tensor):
            target, dtype = target.device, target.dtype
        elif target is not None and dtypes.name_in(target) is not None:
            target, dtype = None, target
        for tensor in {id(tensor): tensor for tensor in self._state().values()}.values():  # tied ones once
            _relocate(tensor, target, backend, dtype)
            if tensor.grad is not None:
                _relocate(tensor.grad, target, backend, dtype)
        return self

    def float(self):
        return self.to(dtype="float32")

    def double(self):
        return self.to(dtype="float64")

    def half(self):
        return self.to(dtype="float16")

    def bfloat16(self):
        return self.to(dtype="bfloat16")

    def apply(self, fn):
        """Call `fn(module)` on every submodule, children first, then on self (as PyTorch); returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def zero_grad(self, set_to_none=True):
        """Forget every parameter's gradient: drop it (default, as PyTorch) or fill it with zeros."""
        for parameter in self.parameters():
            if set_to_none:
                parameter.grad = None
            elif parameter.grad is not None:
                parameter.grad.zero_()

    # ---- calling and printing -------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        hooks = self.__dict__.get("_module_hooks")
        if hooks is None:
            return self.forward(*args, **kwargs)
        return _hooks.call(self, hooks, args, kwargs)

    # ---- hooks (polygrad.nn.hooks), as PyTorch's; each returns a handle with remove()
    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """hook(module, args) -> None or new args (hook(module, args, kwargs) -> None or (args, kwargs))."""
        return _hooks.add(self, "forward_pre", (hook, with_kwargs), prepend)

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False, always_call=False):
        """hook(module, args, output) -> None or a new output (with_kwargs: hook(module, args, kwargs, output))."""
        return _hooks.add(self, "forward", (hook, with_kwargs), prepend)

    def register_full_backward_hook(self, hook, prepend=False):
        """hook(module, grad_input, grad_output) -> None or a new grad_input, in backward."""
        return _hooks.add(self, "backward", hook, prepend)

    def extra_repr(self):
        """The constructor arguments worth showing in repr()."""
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        lines = [extra] if extra else []
        lines += [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self._modules.items()]
        if not self._modules:
            return f"{type(self).__name__}({''.join(lines)})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _relocate(tensor, target, backend, dtype):
    """Move/cast `tensor` in place, keeping the object (and its identity) the same."""
    if backend is not None:
        device = resolve_device(target, backend)
    else:
        device = tensor.device if target is None else resolve_target(target, tensor.device)
    data = tensor.array if device == tensor.device else tensor.xp.to_device(tensor.array, device)
    if dtype is not None and device.backend.xp.isdtype(data.dtype, "real floating"):
        data = device.backend.xp.astype(data, resolve_dtype(dtype, device))
    tensor.array, tensor.device = data, device
    tensor._version += 1


def _check_module(value):
    if not isinstance(value, Module):
        raise TypeError(f"expected a Module, got {type(value).__name__}")
    return value


def _as_parameter(value):
    """A Parameter as it is; a Tensor wrapped as one, sharing its data (as PyTorch's ParameterList/Dict)."""
    if isinstance(value, Parameter):
        return value
    if not isinstance(value, Tensor):
        raise TypeError(f"expected a Parameter or a Tensor, got {type(value).__name__}")
    return Parameter(value.detach())


class _Holder(Module):
    """A container whose entries are one of its own registries: `_registry` names it, `_check` admits an entry.

    Entries live in the registry itself, so parameters(), state_dict(), to() and train() see them
    as they see any child or parameter."""

    _registry = "_modules"
    _check = staticmethod(_check_module)

    def _entries(self):
        return self.__dict__[self._registry]

    def __len__(self):
        return len(self._entries())


class _Container(_Holder):
    """Entries kept in order under the names "0", "1", ..."""

    def append(self, value):
        entries = self._entries()
        entries[str(len(entries))] = self._check(value)
        return self

    def __iter__(self):
        return iter(self._entries().values())

    def __getitem__(self, index):
        items = list(self._entries().values())
        if isinstance(index, slice):
            return type(self)().extend(items[index])
        return items[index]

    def __setitem__(self, index, value):
        self._entries()[list(self._entries())[index]] = self._check(value)

    def extend(self, values):
        for value in values:
            self.append(value)
        return self


class _Dict(_Holder):
    """Entries kept under string keys, in insertion order, with a dict's methods."""

    def __init__(self, entries=None):
        super().__init__()
        if entries is not None:
            self.update(entries)

    def __getitem__(self, key):
        return self._entries()[key]

    def __setitem__(self, key, value):
        if not isinstance(key, str) or not key or "." in key:
            raise KeyError(f"{type(self).__name__}: keys are non-empty strings without '.', got {key!r}")
        self._entries()[key] = self._check(value)

    def __delitem__(self, key):
        del self._entries()[key]

    def __iter__(self):
        return iter(self._entries())

    def __contains__(self, key):
        return key in self._entries()

    def keys(self):
        return self._entries().keys()

    def items(self):
        return self._entries().items()

    def values(self):
        return self._entries().values()

    def get(self, key, default=None):
        return self._entries().get(key, default)

    def pop(self, key):
        return self._entries().pop(key)

    def clear(self):
        self._entries().clear()

    def update(self, entries):
        """Add or replace entries from a mapping, or from an iterable of (key, value) pairs."""
        for key, value in (entries.items() if hasattr(entries, "items") else entries):
            self[key] = value


class Sequential(_Container):
    """Modules applied one after the other: Sequential(a, b, c)(x) == c(b(a(x))).

    Also takes one dict of {name: module}.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], dict):
            for name, module in modules[0].items():
                self._modules[name] = _check_module(module)
        else:
            self.extend(modules)

    def forward(self, x):
        for module in self:
            x = module(x)
        return x


class ModuleList(_Container):
    """A list of modules whose parameters the owner sees; it has no forward of its own."""

    def __init__(self, modules=()):
        super().__init__()
        self.extend(modules)


class ParameterList(_Container):
    """A list of parameters (Tensors are wrapped as Parameters), registered under "0", "1", ..."""

    _registry = "_parameters"
    _check = staticmethod(_as_parameter)

    def __init__(self, values=None):
        super().__init__()
        self.extend(values or ())


class ModuleDict(_Dict):
    """A dict of modules whose parameters the owner sees (state_dict keys "name.key...."); no forward."""


class ParameterDict(_Dict):
    """A dict of parameters (Tensors are wrapped as Parameters), registered under their keys."""

    _registry = "_parameters"
    _check = staticmethod(_as_parameter)
