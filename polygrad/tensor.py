"""Tensor: an array of some backend, on some device, that can carry a gradient."""

import math

from . import dtypes, engine
from .errors import DtypeError, describe, dtype_name


class Tensor:
    """A backend array plus what autograd needs to know about it.

    data          the raw array of the backend (numpy.ndarray, cupy.ndarray, ...)
    device        a polygrad Device; `device.backend` is the backend
    requires_grad whether gradients flow to this tensor
    grad          accumulated gradient (a Tensor on the same device), or None
    tangent       forward-mode tangent (raw array) inside `polygrad.jvp`
    """

    __slots__ = ("data", "device", "requires_grad", "grad", "tangent", "_op", "_version", "_hooks", "__weakref__")
    __array_priority__ = 1000  # NumPy defers reflected operators to us

    def __init__(self, data, device=None, requires_grad=False):
        from .creation import asarray

        t = asarray(data, device=device)
        self.data, self.device = t.data, t.device
        self.grad = self.tangent = self._op = self._hooks = None
        self._version = 0
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_()

    @classmethod
    def _wrap(cls, data, device):
        t = cls.__new__(cls)
        t.data = data
        t.device = device
        t.requires_grad = False
        t.grad = t.tangent = t._op = t._hooks = None
        t._version = 0
        return t

    # ---- attributes ---------------------------------------------------------
    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def ndim(self):
        return len(self.data.shape)

    @property
    def size(self):
        return math.prod(self.data.shape)

    def __len__(self):
        if not self.data.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    @property
    def dtype(self):
        """polygrad's dtype object (pg.float32, ...); the raw array keeps its native one: t.data.dtype."""
        return dtypes.from_native(self.data.dtype)

    @property
    def backend(self):
        return self.device.backend

    @property
    def xp(self):
        """The backend's array namespace."""
        return self.device.backend.xp

    @property
    def is_leaf(self):
        return self._op is None

    @property
    def T(self):
        if self.ndim != 2:
            raise ValueError(f"T: expects a 2-D tensor, got {describe(self)}; use mT for batches")
        return ops.permute_dims(self, (1, 0))

    @property
    def mT(self):
        return ops.matrix_transpose(self)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        # the host copy prints as "array([...], dtype=...)": keep the numbers, name the dtype ourselves
        body = repr(self.numpy()).removeprefix("array(").rsplit(", dtype=", 1)[0].removesuffix(")")
        body = body.replace("\n      ", "\n       ")
        where = f"device={self.device.name!r}, backend={self.device.backend.name!r}"
        return f"tensor({body}, dtype={dtype_name(self.dtype)}, {where}{grad})"

    # ---- autograd -----------------------------------------------------------
    def requires_grad_(self, requires_grad=True):
        if requires_grad and not self.xp.isdtype(self.data.dtype, ("real floating", "complex floating")):
            raise DtypeError(
                f"requires_grad: only floating tensors can require gradients, got {describe(self)}"
            )
        if not requires_grad and self._op is not None:
            raise RuntimeError("requires_grad_: cannot turn off gradients of a non-leaf tensor; use detach()")
        self.requires_grad = requires_grad
        return self

    def backward(self, grad=None, retain_graph=False, create_graph=False):
        """Accumulate d(self)/d(leaf) into every leaf's `.grad`.

        Leaves accumulate across calls until zeroed (`.grad = None` or
        `zero_grad()`), like PyTorch. A second backward through the same graph
        needs `retain_graph=True` the first time.
        """
        from .autodiff import backward

        backward([self], None if grad is None else [grad], retain_graph, create_graph)

    def register_post_accumulate_grad_hook(self, hook):
        """Call `hook(self)` during backward, right after this leaf's `.grad` is final.

        As in PyTorch: the walk reaches a leaf only after every operation that
        used it, so the gradient is complete (e.g. DistributedDataParallel starts
        reducing it then, while the rest of the backward pass runs). Returns a
        handle whose `remove()` unregisters the hook.
        """
        if self._op is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: only leaf tensors have an accumulated .grad")
        return _add_hook(self, "post_accumulate_grad", hook)

    def detach(self):
        """The same data, cut from the graph."""
        return Tensor._wrap(self.data, self.device)

    def zero_grad(self):
        self.grad = None

    # ---- conversion ---------------------------------------------------------
    def numpy(self):
        """A host (NumPy) copy."""
        return self.device.backend.to_host(self.data)

    def item(self):
        if self.size != 1:
            raise ValueError(f"item: needs a tensor with one element, got {describe(self)}")
        return self.numpy().reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        return bool(self.item())

    def __index__(self):
        return int(self.item())

    def to(self, target=None, dtype=None):
        """Move to a device or backend: `t.to("cupy")`, `t.to("cuda:1")`, `t.to("cpu")`.

        The result is a new leaf-like tensor connected to the graph: gradients
        flow back across the move, landing on the original device.
        """
        from .creation import resolve_target

        device = self.device if target is None else resolve_target(target, self.device)
        out = self
        if device is not self.device:
            out = ops.to_device(self, device)
        if dtype is not None:
            out = ops.astype(out, dtype)
        return out

    def cpu(self):
        return self.to("cpu")

    def astype(self, dtype):
        return ops.astype(self, dtype)

    # ---- in-place updates (bump the version counter) ----------------------
    def _assign(self, data):
        if self.requires_grad and self._op is None and engine.state.grad_enabled:
            raise RuntimeError(
                "in-place update of a leaf tensor that requires grad; wrap it in polygrad.no_grad()"
            )
        if tuple(data.shape) != self.shape:
            data = self.xp.broadcast_to(data, self.shape)
        if data.dtype != self.data.dtype:
            data = self.xp.astype(data, self.data.dtype)
        self.data = data
        self._version += 1
        return self

    def _operand(self, value):
        return (value if isinstance(value, Tensor) else ops.asarray_like(value, self)).data

    def copy_(self, value):
        return self._assign(self.xp.asarray(self._operand(value), copy=True))

    def add_(self, value, alpha=1):
        return self._assign(self.data + self._operand(value) * alpha)

    def sub_(self, value, alpha=1):
        return self._assign(self.data - self._operand(value) * alpha)

    def mul_(self, value):
        return self._assign(self.data * self._operand(value))

    def zero_(self):
        return self._assign(self.xp.zeros_like(self.data))

    def fill_(self, value):
        return self._assign(self.xp.full_like(self.data, value))

    def __setitem__(self, key, value):
        data = self.xp.asarray(self.data, copy=True)
        data[ops.raw_key(key)] = self._operand(value)
        self._assign(data)

    # ---- operators ----------------------------------------------------------
    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.subtract(self, other)

    def __rsub__(self, other):
        return ops.subtract(other, self)

    def __mul__(self, other):
        return ops.multiply(self, other)

    def __rmul__(self, other):
        return ops.multiply(other, self)

    def __truediv__(self, other):
        return ops.divide(self, other)

    def __rtruediv__(self, other):
        return ops.divide(other, self)

    def __pow__(self, other):
        return ops.pow(self, other)

    def __rpow__(self, other):
        return ops.pow(other, self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __neg__(self):
        return ops.negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return ops.abs(self)

    def __lt__(self, other):
        return ops.less(self, other)

    def __le__(self, other):
        return ops.less_equal(self, other)

    def __gt__(self, other):
        return ops.greater(self, other)

    def __ge__(self, other):
        return ops.greater_equal(self, other)

    def __eq__(self, other):
        return ops.equal(self, other)

    def __ne__(self, other):
        return ops.not_equal(self, other)

    def __invert__(self):
        return ops.logical_not(self)

    def __and__(self, other):
        return ops.logical_and(self, other)

    def __or__(self, other):
        return ops.logical_or(self, other)

    __hash__ = object.__hash__

    def __getitem__(self, key):
        return ops.getitem(self, key)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


class _HookHandle:
    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _add_hook(tensor, kind, hook):
    """Hooks live in a per-tensor {kind: [hooks]} dict, created on first use."""
    if tensor._hooks is None:
        tensor._hooks = {}
    hooks = tensor._hooks.setdefault(kind, [])
    hooks.append(hook)
    return _HookHandle(hooks, hook)


from . import ops  # noqa: E402  (ops needs Tensor defined)

engine.Tensor = Tensor
