"""Tensor: an array of some backend, on some device, that can carry a gradient."""

import math

from . import dtypes, engine
from .errors import DtypeError, describe, dtype_name


_creation_counter = engine.creation_counter


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
        from .creation import asarray

        t = asarray(data, device=device)
        self.array, self.device = t.array, t.device
        self.grad = self.tangent = self._op = self._hooks = self._view = None
        self._vc = [0, 0]
        self._seq = next(_creation_counter)
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
        t._seq = next(_creation_counter)  # creation order is a topological order (engine.toposort)
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
        if requires_grad and not self.xp.isdtype(self.array.dtype, ("real floating", "complex floating")):
            raise DtypeError(f"requires_grad: only floating and complex tensors can require gradients, got {describe(self)}")
        if not requires_grad and self._op is not None:
            raise RuntimeError("requires_grad_: cannot turn off gradients of a non-leaf tensor; use detach()")
        self.requires_grad = requires_grad
        return self

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None, *, grad=None):
        """Accumulate d(self)/d(leaf) into every leaf's `.grad`, as PyTorch's Tensor.backward.

        `gradient` (or `grad`) is self's own gradient (needed unless self has one entry).
        Leaves accumulate across calls until zeroed (`.grad = None` or `zero_grad()`).
        A second backward through the same graph needs `retain_graph=True` the first
        time (it defaults to create_graph). With `inputs`, only those tensors (leaves
        or not) accumulate a gradient.
        """
        from .autodiff import backward

        gradient = grad if gradient is None else gradient
        retain_graph = create_graph if retain_graph is None else retain_graph
        backward([self], None if gradient is None else [gradient], retain_graph, create_graph, inputs=inputs)

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

    def to(self, target=None, dtype=None, *, device=None, non_blocking=False, copy=False):
        """Move to a device or backend and/or cast: `t.to("cupy")`, `t.to("cuda:1")`, `t.to("cpu")`,
        and PyTorch's `t.to(pg.float64)`, `t.to("cuda", pg.float16)`, `t.to(other)` (its device and dtype).

        The result is a new leaf-like tensor connected to the graph: gradients
        flow back across the move, landing on the original device.
        """
        from .creation import resolve_target
        from .methods import dtype_name_of

        if isinstance(target, Tensor):
            target, dtype = target.device, target.dtype
        elif target is not None and dtype_name_of(target) is not None:
            target, dtype = None, target
        target = device if target is None else target
        device = self.device if target is None else resolve_target(target, self.device)
        out = self
        if device is not self.device:
            out = ops.to_device(self, device)
        if dtype is not None:
            out = ops.astype(out, dtype, copy=False)
        return ops.astype(out, out.dtype, copy=True) if copy and out is self else out

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

    def astype(self, dtype):
        return ops.astype(self, dtype)

    # ---- in-place updates: into the buffer, recorded as PyTorch does (polygrad.inplace) ----
    def _update(self, name, compute, operands=()):
        """self takes the value `compute(old)` in its own buffer (old: self's present value)."""
        return inplace.update(self, name, compute, operands)

    def _assign(self, data, name="in-place update"):
        """self takes the raw array `data` (broadcast and cast to self)."""
        return inplace.assign(self, data, name)

    def _operand(self, value):
        return (value if isinstance(value, Tensor) else ops.asarray_like(value, self)).array

    def __iadd__(self, other):
        return self._update("+=", lambda old: ops.add(old, other), (other,))

    def __isub__(self, other):
        return self._update("-=", lambda old: ops.subtract(old, other), (other,))

    def __imul__(self, other):
        return self._update("*=", lambda old: ops.multiply(old, other), (other,))

    def __itruediv__(self, other):
        return self._update("/=", lambda old: ops.divide(old, other), (other,))

    def __ipow__(self, other):
        return self._update("**=", lambda old: ops.pow(old, other), (other,))

    def __imatmul__(self, other):
        return self._update("@=", lambda old: ops.matmul(old, other), (other,))

    def __ifloordiv__(self, other):
        return self._update("//=", lambda old: ops.floor_divide(old, other), (other,))

    def __imod__(self, other):
        return self._update("%=", lambda old: ops.remainder(old, other), (other,))

    def __iand__(self, other):
        return self._update("&=", lambda old: ops.bitwise_and(old, other), (other,))

    def __ior__(self, other):
        return self._update("|=", lambda old: ops.bitwise_or(old, other), (other,))

    def __ixor__(self, other):
        return self._update("^=", lambda old: ops.bitwise_xor(old, other), (other,))

    def __ilshift__(self, other):
        return self._update("<<=", lambda old: ops.bitwise_left_shift(old, other), (other,))

    def __irshift__(self, other):
        return self._update(">>=", lambda old: ops.bitwise_right_shift(old, other), (other,))

    def copy_(self, value):
        """self's entries set to value's (broadcast), converted into self's dtype as PyTorch's copy_
        (a float into an int tensor truncates toward zero)."""
        source = value if isinstance(value, Tensor) else ops.asarray_like(value, self)
        if source.dtype != self.dtype:
            source = ops.astype(source, self.dtype)
        return self._update("copy_", lambda old: ops.broadcast_to(source, self.shape), (source,))

    def add_(self, value, alpha=1):
        return self._update("add_", lambda old: ops.add(old, value if alpha == 1 else value * alpha), (value,))

    def sub_(self, value, alpha=1):
        return self._update("sub_", lambda old: ops.subtract(old, value if alpha == 1 else value * alpha), (value,))

    def mul_(self, value):
        return self._update("mul_", lambda old: ops.multiply(old, value), (value,))

    def div_(self, value):
        return self._update("div_", lambda old: ops.divide(old, value), (value,))

    def zero_(self):
        return self._assign(self.xp.zeros_like(self.array), "zero_")

    def fill_(self, value):
        return self._assign(self.xp.full_like(self.array, value), "fill_")

    def __setitem__(self, key, value):
        """x[key] = value, into x's buffer; recorded (value and the rest of x get their gradients) when
        either requires grad, for basic keys, masks and index arrays (PyTorch's index_put_)."""
        if inplace.is_view_of_at(self, key, value):
            return  # nothing to write: x[key] += v has written x[key]'s new value into x already
        inplace.setitem(self, key, value)

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

    # bitwise on integers; on booleans these are the logical operators
    def __invert__(self):
        return ops.bitwise_invert(self)

    def __and__(self, other):
        return ops.bitwise_and(self, other)

    def __rand__(self, other):
        return ops.bitwise_and(other, self)

    def __or__(self, other):
        return ops.bitwise_or(self, other)

    def __ror__(self, other):
        return ops.bitwise_or(other, self)

    def __xor__(self, other):
        return ops.bitwise_xor(self, other)

    def __rxor__(self, other):
        return ops.bitwise_xor(other, self)

    def __lshift__(self, other):
        return ops.bitwise_left_shift(self, other)

    def __rlshift__(self, other):
        return ops.bitwise_left_shift(other, self)

    def __rshift__(self, other):
        return ops.bitwise_right_shift(self, other)

    def __rrshift__(self, other):
        return ops.bitwise_right_shift(other, self)

    def __floordiv__(self, other):
        return ops.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return ops.floor_divide(other, self)

    def __mod__(self, other):
        return ops.remainder(self, other)

    def __rmod__(self, other):
        return ops.remainder(other, self)

    # ---- the Array API's array object ---------------------------------------
    def __array_namespace__(self, *, api_version=None):
        """The polygrad module: array-API code (scipy, array-api-extra, ...) then records on the tape."""
        if api_version not in _API_VERSIONS:
            raise ValueError(f"__array_namespace__: api_version {api_version!r} is not one of {_API_VERSIONS[1:]}")
        import polygrad

        # before 2025.12, broadcast_arrays, meshgrid and devices() returned lists
        return polygrad if api_version in (None, "2025.12") else polygrad.array_api.before_2025

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

    def __getitem__(self, key):
        if type(key) is list:
            key = ops.list_key(key)
        return ops.getitem(self, key)

    def __iter__(self):
        if not self.array.shape:  # raised by iter() itself, as torch: np.iterable(x) is False
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self)))


def _unpickle(cls, host, backend, device, dtype, requires_grad):
    from .creation import asarray

    t = asarray(host, dtype=dtype, device=device, backend=backend)
    out = cls._wrap(t.array, t.device)
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


_API_VERSIONS = (None, "2021.12", "2022.12", "2023.12", "2024.12", "2025.12")


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
from . import methods  # noqa: E402,F401  (the PyTorch-style methods, built on ops)
from . import inplace  # noqa: E402  (in-place updates, built on ops)

engine.Tensor = Tensor
