"""Tensor: an array of some backend, on some device, that can carry a gradient.

This is the record: its slots, properties, printing, host conversion, pickling and
DLPack. What a Tensor *does* is installed by the layers that define it, each from a
table, once, when the package face loads them: operators, indexing, `.to`/`.astype`
(polygrad.methods.operators), the PyTorch methods (polygrad.methods.torch_methods and
torch_functions), in-place updates (polygrad.methods.inplace), `backward` (polygrad.core.autograd),
`__array_namespace__` (polygrad.namespace.info, for the face).
`tests/test_import_layers.py` holds this module to importing nothing above it.
"""

import itertools
import math

from . import dtypes
from .errors import DtypeError, describe, dtype_name
from .placement import as_native

creation_counter = itertools.count()  # every tensor's `_seq`: creation order is a topological order


class Tensor:
    """A backend array plus what autograd needs to know about it.

    array         the raw array of the backend (numpy.ndarray, cupy.ndarray, ...); `.data` is
                  PyTorch's: this tensor's values as a Tensor outside autograd
    device        a polygrad Device; `device.backend` is the backend
    requires_grad whether gradients flow to this tensor
    grad          accumulated gradient (a Tensor on the same device), or None
    tangent       forward-mode tangent (raw array) inside `polygrad.jvp`
    """

    __slots__ = ("array", "device", "requires_grad", "grad", "tangent", "_op", "_vc", "_hooks", "_seq", "_view",
                 "_prior", "__weakref__")
    __array_priority__ = 1000  # NumPy defers reflected operators to us

    def __init__(self, data, device=None, requires_grad=False):
        first = _first_tensor(data)
        if first is not None:
            data = _values(data, first)
        self.array, self.device = as_native(data, device=device)
        self.grad = self.tangent = self._op = self._hooks = self._view = None
        self._vc = [0, 0]
        self._seq = next(creation_counter)
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_()

    @classmethod
    def _wrap(cls, data, device):
        t = cls.__new__(cls)
        t.array = data
        t.device = device
        t.requires_grad = False
        t.grad = t.tangent = t._op = t._hooks = t._view = None
        t._vc = [0, 0]  # the version counter, shared with views (engine: versions and views)
        t._seq = next(creation_counter)  # creation order is a topological order (engine.toposort)
        return t

    # ---- attributes ---------------------------------------------------------
    @property
    def shape(self):
        return tuple(self.array.shape)

    @property
    def data(self):
        """PyTorch's `.data`: this tensor's values as a Tensor outside autograd, sharing its buffer.

        In-place updates of it change this tensor without being recorded and without
        the leaf check (`p.data.copy_(w)`, `p.data.normal_()`, `p.data -= lr * p.grad`).
        Unlike PyTorch's, it shares this tensor's version counter: a graph that saved the
        old values refuses to run backward rather than silently using the new ones.
        The raw backend array is `.array`.
        """
        return self.detach()

    @data.setter
    def data(self, value):
        """`p.data = t`: p takes t's buffer, shape and device, outside autograd (as in PyTorch)."""
        if not isinstance(value, Tensor):
            raise TypeError(f"data: assign a Tensor, got {type(value).__name__} (the raw array is .array)")
        self.array, self.device = value.array, value.device
        self._vc[0] += 1

    @property
    def _version(self):
        """PyTorch's `_version`: how many in-place updates this tensor's buffer has had."""
        return self._vc[0]

    @_version.setter
    def _version(self, value):
        self._vc[0] = value

    @property
    def ndim(self):
        return len(self.array.shape)

    @property
    def size(self):
        """The element count (an int, as the standard says); `size()` / `size(d)` also work, as in PyTorch."""
        return Size(tuple(self.array.shape))

    def __len__(self):
        if not self.array.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    @property
    def dtype(self):
        """polygrad's dtype object (pg.float32, ...); the raw array keeps its native one: t.array.dtype."""
        return dtypes.from_native(self.array.dtype)

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

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        # the host copy prints as "array([...], dtype=...)": keep the numbers, name the dtype ourselves
        body = repr(self.numpy()).removeprefix("array(").rsplit(", dtype=", 1)[0].removesuffix(")")
        body = body.replace("\n      ", "\n       ")
        where = f"device={self.device.name!r}, backend={self.device.backend.name!r}"
        return f"tensor({body}, dtype={dtype_name(self.dtype)}, {where}{grad})"

    # ---- autograd -----------------------------------------------------------
    def requires_grad_(self, requires_grad=True):
        if requires_grad and not self.xp.isdtype(self.array.dtype, ("real floating", "complex floating")):
            raise DtypeError(f"requires_grad: only floating and complex tensors can require gradients, got {describe(self)}")
        if not requires_grad and self._op is not None:
            raise RuntimeError("requires_grad_: cannot turn off gradients of a non-leaf tensor; use detach()")
        self.requires_grad = requires_grad
        return self

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
        """The same buffer (and version counter, as in PyTorch), cut from the graph."""
        out = Tensor._wrap(self.array, self.device)
        out._vc = self._vc
        return out

    def zero_grad(self):
        self.grad = None

    # ---- conversion ---------------------------------------------------------
    def numpy(self):
        """A host (NumPy) copy."""
        return self.device.backend.to_host(self.array)

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

    def is_floating_point(self):
        """Whether the dtype is a real floating one (float16 and bfloat16 too), as in PyTorch."""
        return self.dtype.kind == "real floating"

    def __index__(self):
        if not dtypes.isdtype(self.dtype, "integral"):
            raise TypeError(f"__index__: only integer tensors can be used as an index, got {describe(self)}")
        return int(self.item())

    def __reduce__(self):
        """Pickle as a host copy plus the names of backend, device and dtype (across processes, too)."""
        return _unpickle, (type(self), self.numpy(), self.device.backend.name, self.device.name,
                           self.dtype.name, self.requires_grad)

    def __deepcopy__(self, memo):
        """A copy on the same device (not via the host), with a copy of the gradient."""
        if self._op is not None:
            raise RuntimeError("deepcopy: only leaf tensors can be deep-copied; detach() first")
        out = type(self)._wrap(self.xp.asarray(self.array, copy=True), self.device)
        out.requires_grad = self.requires_grad
        memo[id(self)] = out
        if self.grad is not None:
            out.grad = self.grad.__deepcopy__(memo)
        return out

    def cpu(self):
        return self.to("cpu")

    # ---- the Array API's array object ---------------------------------------
    def to_device(self, device, /, *, stream=None):
        """The standard's spelling of `.to(device)`; gradients flow back."""
        if stream is not None:
            raise ValueError("to_device: polygrad does not take a stream")
        return self.to(device)

    def __array__(self, dtype=None, copy=None):
        """`np.asarray(t)`: as PyTorch, NumPy's view of a host tensor's buffer (a copy when asked for one,
        or for another dtype); an error for a tensor that requires grad, and for device memory."""
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        host = self.device.backend.host_view(self.array)
        if dtype is not None and dtype != host.dtype:
            return host.astype(dtype)
        return host.copy() if copy else host

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """The raw array's DLPack capsule (the data is shared; no gradient travels with it)."""
        given = {"stream": stream, "max_version": max_version, "dl_device": dl_device, "copy": copy}
        return self.array.__dlpack__(**{k: v for k, v in given.items() if v is not None})

    def __dlpack_device__(self):
        return self.array.__dlpack_device__()

    def __complex__(self):
        return complex(self.item())

    __hash__ = object.__hash__

    def __iter__(self):
        if not self.array.shape:  # raised by iter() itself, as torch: np.iterable(x) is False
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self)))


def _first_tensor(data):
    """The first Tensor in data (data itself, or anywhere in nested lists), else None."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, (list, tuple)):
        return next((t for t in map(_first_tensor, data) if t is not None), None)
    return None


def _values(data, first):
    """data's values as one raw array (no graph: `Tensor(...)` makes a leaf), nested lists stacked with
    the first Tensor's namespace as pg.asarray stacks them; numbers beside Tensors take its dtype."""
    if isinstance(data, Tensor):
        return data.array
    if isinstance(data, (list, tuple)):
        return first.xp.stack([_values(item, first) for item in data])
    return first.xp.asarray(data, dtype=first.array.dtype, device=first.device.native)


def _unpickle(cls, host, backend, device, dtype, requires_grad):
    data, where = as_native(host, dtype=dtype, device=device, backend=backend)
    out = cls._wrap(data, where)
    return out.requires_grad_() if requires_grad else out


class Size(int):
    """An element count that can be called: `x.size()` is the shape, `x.size(d)` one extent.

    An int subclass rather than a method, so `x.size` stays the Array API's int.
    """

    def __new__(cls, shape):
        self = super().__new__(cls, math.prod(shape))
        self.shape = shape
        return self

    def __call__(self, dim=None):
        return self.shape if dim is None else self.shape[dim]


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
