"""Module hooks, as PyTorch's: forward pre-hooks, forward hooks and full backward hooks.

A module with no hook registered calls forward directly (Module.__call__ looks for
`_module_hooks` in its __dict__); one with hooks runs `call`, in PyTorch's order:
pre-hooks (which may replace the arguments), forward, forward hooks (which may replace
the output). A full backward hook sees (module, grad_input, grad_output): gradients of
the positional Tensor arguments and of the output Tensors, caught by identity
functions wrapped around them, and may return new grad_input.
"""

from ..core.engine import state
from ..core.function import Function
from ..core.tensor import Tensor


class Hooks:
    """One module's hooks: lists of (hook, with_kwargs) and of backward hooks."""

    def __init__(self):
        self.forward_pre, self.forward, self.backward = [], [], []


class Handle:
    """What register_*_hook returns: `remove()` unregisters the hook."""

    def __init__(self, hooks, entry):
        self._hooks, self._entry = hooks, entry

    def remove(self):
        if self._entry in self._hooks:
            self._hooks.remove(self._entry)


def add(module, kind, entry, prepend):
    hooks = module.__dict__.get("_module_hooks")
    if hooks is None:
        hooks = Hooks()
        object.__setattr__(module, "_module_hooks", hooks)
    listed = getattr(hooks, kind)
    listed.insert(0, entry) if prepend else listed.append(entry)
    return Handle(listed, entry)


def call(module, hooks, args, kwargs):
    for hook, with_kwargs in list(hooks.forward_pre):
        result = hook(module, args, kwargs) if with_kwargs else hook(module, args)
        if result is not None:
            if with_kwargs:
                args, kwargs = result
            else:
                args = result if isinstance(result, tuple) else (result,)
    capture = _Capture(module, list(hooks.backward), args) if hooks.backward and state.grad_enabled else None
    if capture is not None:
        args = capture.inputs
    output = module.forward(*args, **kwargs)
    for hook, with_kwargs in list(hooks.forward):
        result = hook(module, args, kwargs, output) if with_kwargs else hook(module, args, output)
        if result is not None:
            output = result
    return output if capture is None else capture.outputs(output)


class _Identity(Function):
    """x itself, calling on_grad(g) in backward and passing on what it returns."""

    @staticmethod
    def forward(ctx, x, on_grad):
        ctx.on_grad = on_grad
        return x

    @staticmethod
    def backward(ctx, grad):
        return ctx.on_grad(grad), None


class _Capture:
    """One call's gradients for its backward hooks; they run once every input gradient is in
    (or, when no input needs one, once the outputs' are)."""

    def __init__(self, module, hooks, args):
        self.module, self.hooks = module, hooks
        tensors = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.slot = {i: k for k, i in enumerate(tensors)}
        self.grad_input = [None] * len(tensors)
        self.waiting = [i for i in tensors if args[i].requires_grad]
        self.inputs = tuple(_Identity.apply(a, self._on_input(i)) if i in self.waiting else a
                            for i, a in enumerate(args))
        self.grad_output, self.outputs_waiting = [], 0

    def outputs(self, output):
        single = isinstance(output, Tensor)
        parts = [output] if single else list(output) if isinstance(output, (tuple, list)) else [output]
        self.grad_output = [None] * len(parts)
        wrapped = []
        for j, part in enumerate(parts):
            if isinstance(part, Tensor) and part.requires_grad:
                self.outputs_waiting += 1
                part = _Identity.apply(part, self._on_output(j))
            wrapped.append(part)
        return wrapped[0] if single else type(output)(wrapped)

    def _on_output(self, j):
        def on_grad(g):
            self.grad_output[j] = g
            self.outputs_waiting -= 1
            if not self.waiting and not self.outputs_waiting:
                self._run()  # no input takes a gradient: grad_input is all None
            return g
        return on_grad

    def _on_input(self, i):
        def on_grad(g):
            self.grad_input[self.slot[i]] = g
            self.waiting.remove(i)
            if self.waiting:
                return g
            replaced = self._run()
            if replaced is None:
                return g
            if sum(x is not None for x in self.grad_input) != 1 or len(replaced) != len(self.grad_input):
                raise RuntimeError(f"{type(self.module).__name__} backward hook: replacing grad_input is supported "
                                   f"for modules with one input that takes a gradient (return a tuple of "
                                   f"{len(self.grad_input)})")
            return replaced[self.slot[i]]
        return on_grad

    def _run(self):
        """Every hook in turn, each seeing the grad_input the one before returned; the last replacement."""
        replaced = None
        for hook in self.hooks:
            result = hook(self.module, tuple(self.grad_input if replaced is None else replaced),
                          tuple(self.grad_output))
            if result is not None:
                replaced = tuple(result)
        return replaced
