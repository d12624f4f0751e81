"""In-place updates, PyTorch's way: into the tensor's own buffer, so every alias sees them.

A tensor's array is its buffer. Views (basic indexing, reshape, transpose, ...: the
primitives with a `view` rule) share it with their base, and so do `detach()`, `.data`,
`state_dict()` values and tensors made from an array without a copy. An in-place update
computes the new value out of place, then writes it into the buffer and bumps the
version counter that the base, its views and its detach()es share (engine: `_vc`).

Autograd stays correct as in PyTorch:
- an operation records its inputs' versions; backward through one whose rules read a
  value changed since raises (engine._reroute); one that reads nothing (`add`) goes on;
- while recording, an update of a tensor in the graph, or with an operand that requires
  grad, is recorded: the tensor gets a new node (the update applied to a copy of its old
  value) and keeps the old node for the operations that used it before;
- an update through a view of such a tensor is recorded on the base (its new value is
  the view rule applied to its old value: PyTorch's "rebase"), and the view is taken
  again from the base's new node; other views of the base are taken again when next used;
- a leaf that requires grad (or a view of one) refuses in-place updates outside no_grad.
"""

import builtins
import operator

from ..core import dtypes, engine
from ..namespace import ops
from ..core.errors import DtypeError, ShapeError, describe
from ..core.tensor import Tensor


def refuse_leaf(t, name):
    """A leaf that requires grad, or a view of one, cannot be updated in place while recording;
    nor can a broadcast view (several of its entries are one entry of its base)."""
    root = t
    while root._view is not None:
        base, primitive, params = root._view
        if primitive is _BROADCAST:
            primitive.view(root.xp, base.array, root.array, **params)  # raises, saying so
        root = base
    if engine.state.grad_enabled and root.requires_grad and root._op is None:
        what = "a leaf tensor" if root is t else f"a view of a leaf tensor ({describe(root)})"
        raise RuntimeError(
            f"{name}: in-place update of {what} that requires grad; wrap it in polygrad.no_grad() "
            "(e.g. for a manual optimizer step: with pg.no_grad(): p -= lr * p.grad)"
        )


def records(t, operands):
    """Whether an update of t with `operands` goes on the tape."""
    if not engine.state.grad_enabled:
        return False
    if t.requires_grad or t._view is not None and t._vc[1] and engine.regain_view(t):
        return True
    for o in operands:
        if isinstance(o, Tensor) and o.requires_grad:
            return True
    return False


def update(t, name, compute, operands=(), reads_old=True):
    """t takes the value `compute(old)` in its own buffer; old stands for t's present value.

    reads_old=False: the recorded update's backward never reads old's values (setitem, fill_)."""
    refuse_leaf(t, name)
    if not records(t, operands):
        _write_result(t, _fit(t, name, compute(t)))
        return t
    if t._view is not None and t._op is not None and t._op.out_version < t._vc[1]:
        engine.retake_view(t)
    family = [t]
    while family[-1]._view is not None:
        family.append(family[-1]._view[0])
    # the nodes for the present values, with copies of them where a backward reads them: the
    # update's own rules, or those of the operation that made the value (exp's reads its output)
    olds = {id(a): engine.snapshot(a, a.xp.asarray(a.array, copy=True) if (a is t and reads_old) or _reads_out(a._op)
                                   else a.array) for a in family}
    new = _fit(t, name, compute(olds[id(t)]))
    _write_result(t, new)
    since = t._vc[0]
    t._vc[1] = since
    _rebase(t, olds, new, since)
    t.tangent = new.tangent
    return t


def assign(t, data, name):
    """t takes the raw array `data` (broadcast to t), outside any recorded operand: fill_, zero_, normal_, ..."""
    refuse_leaf(t, name)
    if data.dtype != t.array.dtype:
        data = t.xp.astype(data, t.array.dtype)
    if not records(t, ()):
        _write(t, data)
        return t
    value = Tensor._wrap(t.xp.broadcast_to(data, t.shape), t.device)
    return update(t, name, lambda old: value, reads_old=False)


def setitem(t, key, value):
    """t[key] = value, into t's buffer; recorded (PyTorch's index_put_) when t or value requires grad."""
    source = value if isinstance(value, Tensor) else ops.asarray_like(value, t)
    if records(t, (source,)):
        return update(t, "setitem", lambda old: index_put(old, key, source), (source,), reads_old=False)
    refuse_leaf(t, "setitem")
    raw = ops.raw_key(key, t, "setitem")
    data = source.array if source.array.dtype == t.array.dtype else ops.astype(source, t.array.dtype).array
    try:
        t.array[raw] = data
    except (TypeError, IndexError):  # a key the library cannot assign through (array-api-strict's integer arrays)
        with engine.no_grad():
            return update(t, "setitem", lambda old: index_put(old, key, source))
    except ValueError:
        if t.backend.writable(t.array):
            raise
        return update(t, "setitem", lambda old: index_put(old, key, source))  # a read-only buffer: _write copes
    t._vc[0] += 1
    _write_up(t)
    return t


def index_put(x, key, value):
    """x with x[key] replaced by value, as a recorded composite: value and the rest of x get gradients."""
    parts = key if isinstance(key, tuple) else (key,)
    basic = builtins.all(p is None or p is Ellipsis or type(p) in (int, slice) for p in parts)
    if basic or ops._is_mask_over_leading_axes(x, ops.raw_key(parts, x, "setitem")) and value.ndim == 0:
        return ops.assign_slice(x, value, ops.raw_key(key, x, "setitem"))
    # an index array or mask: the flat positions key picks, then a scatter of value onto them
    xp, n = x.xp, x.size
    places = ops.getitem(Tensor._wrap(xp.reshape(xp.arange(n, dtype=xp.int64, device=x.device.native), x.shape),
                                      x.device), key)
    flat = Tensor._wrap(xp.reshape(places.array, (-1,)), x.device)
    ones = xp.ones(flat.shape, dtype=x.array.dtype, device=x.device.native)
    counts = ops.scatter_add(Tensor._wrap(ones, x.device), flat, axis=0, size=n).array
    if flat.shape[0] and bool(xp.any(counts > 1)):
        raise IndexError(f"setitem: the index picks some entries of {describe(x)} more than once; which value "
                         "lands there is undefined (PyTorch's index_put_ says so too): pick each entry once")
    values = ops.reshape(ops.broadcast_to(ops.astype(value, x.array.dtype), places.shape), (-1,))
    placed = ops.scatter_add(values, flat, axis=0, size=n)
    covered = Tensor._wrap(counts > 0, x.device)
    return ops.reshape(ops.where(covered, placed, ops.reshape(x, (-1,))), x.shape)


def is_view_of_at(t, key, value):
    """Whether `value` is t[key] for a basic key: Python runs `t[key] += v` as
    `view = t[key]; view += v; t[key] = view`, and the last step has nothing left to write."""
    view = value._view if isinstance(value, Tensor) else None
    if view is None or view[0] is not t or view[1].name != "getitem":
        return False
    parts = key if isinstance(key, tuple) else (key,)
    if not builtins.all(p is None or p is Ellipsis or type(p) in (int, slice) for p in parts):
        return False
    return view[2]["key"] == (parts if Ellipsis in parts else parts + (Ellipsis,))


# ---------------------------------------------------------------- the pieces
def _fit(t, name, new):
    """The update's result as a Tensor of t's shape and dtype, or an error naming the update."""
    if not isinstance(new, Tensor):
        new = ops.asarray_like(new, t)
    if set(getattr(new, "_levels", ())) - set(getattr(t, "_levels", ())):  # vmap (polygrad.autodiff.batching.Batched)
        raise RuntimeError(f"vmap: {name}(self, *extra_args) is not possible because there exists a tensor in "
                           "extra_args batched at a vmap level self is not (it would hold one value per sample); "
                           "use the out-of-place operation instead")
    if new.shape != t.shape:
        raise ShapeError(f"{name}: the result, {describe(new)}, cannot be written into {describe(t)}")
    if new.array.dtype != t.array.dtype:
        if ops.kind(new) != ops.kind(t):
            raise DtypeError(f"{name}: the result, {describe(new)}, cannot be cast into {describe(t)}")
        new = ops.astype(new, t.array.dtype)
    return new


def _write_result(t, new):
    """An update's result into t's buffer. Only a view (x.copy_(x.t())) can read the buffer it
    is written into, a partial overlap that some libraries refuse or get wrong: it is copied first."""
    data = new.array
    if new._view is not None and t.backend.shares_memory(data, t.array):
        data = t.xp.asarray(data, copy=True)
    _write(t, data)


def _write(t, data):
    """`data` (broadcast to t) into t's buffer; the version counter bumps once."""
    _store(t, data)
    t._vc[0] += 1
    _write_up(t)


def _store(t, data):
    if t.backend.writable(t.array):
        t.array[...] = data
    else:  # a read-only array (a broadcast, or one handed in read-only): the tensor takes a buffer of its own
        t.array = t.xp.asarray(t.xp.broadcast_to(data, t.shape), copy=True)


def _write_up(t):
    """Where a view's array is not its base's buffer after all (a reshape that had to copy), the
    write goes on to the base through the view rule, as PyTorch's views always reach theirs."""
    while t._view is not None:
        base, primitive, params = t._view
        if not t.backend.shares_memory(t.array, base.array):
            with engine.no_grad():
                value = primitive.view(ops, Tensor._wrap(base.array, base.device), Tensor._wrap(t.array, t.device),
                                       **params)
            _store(base, value.array)
        t = base


def _reads_out(op):
    return op is not None and op.inputs is not None and engine.reads(op, "out")


def _rebase(t, olds, new, since):
    """t's graph node becomes the one of `new` (its value now); through a view, the base's
    node becomes the view rule applied to its old node, and t is the view of that."""
    old = olds[id(t)]
    if old._op is not None and old._op.out_version == since - 1:
        old._op.out_version = -1  # old holds that output as it was (a copy, where its rules read it)
    t._prior = (since, old)
    if t._view is not None:
        base, primitive, params = t._view
        _rebase(base, olds, primitive.view(ops, olds[id(base)], new, **params), since)
        op = engine.Operation(primitive, [base], params, t)
    else:
        if new._op is None:
            if not old.requires_grad:
                t._op, t.requires_grad = None, False
                return
            # the new value does not depend on the old one (fill_): old's gradient is zero
            unused = Tensor._wrap(t.xp.zeros(t.shape, dtype=t.xp.bool, device=t.device.native), t.device)
            new = ops.where(unused, old, new)
        op = new._op
    t._op, t._seq, t.requires_grad = op, next(engine.creation_counter), True
    op.out_version = since


# Which values the common primitives' vjp rules read, per input (engine.Primitive.saves): a
# tensor they used may change in place afterwards without breaking their backward.
_NOTHING = ("add", "subtract", "negative", "reshape", "permute_dims", "expand_dims", "squeeze", "broadcast_to",
            "matrix_transpose", "getitem", "scatter_slice", "concat", "sum", "mean", "astype")
_READS = {
    **{name: {} for name in _NOTHING},
    "multiply": {0: {1}, 1: {0}}, "matmul": {0: {1}, 1: {0}}, "linear": {0: {1}, 1: {0}},
    "where": {1: {0}, 2: {0}}, "take": {0: {1}}, "scatter_add": {0: {1}},
    **{name: {0: {"out"}} for name in ("relu", "exp", "sqrt", "tanh", "sigmoid", "softmax", "log_softmax")},
}
_BROADCAST = ops.PRIMITIVES["broadcast_to"]
for _name, _reads in _READS.items():
    ops.PRIMITIVES[_name].saves = _reads


# ---------------------------------------------------------------- installed on Tensor
# operator -> (the name errors give it, the namespace function computing the new value)
OPERATORS = {
    "__iadd__": ("+=", ops.add), "__isub__": ("-=", ops.subtract), "__imul__": ("*=", ops.multiply),
    "__itruediv__": ("/=", ops.divide), "__ipow__": ("**=", ops.pow), "__imatmul__": ("@=", ops.matmul),
    "__ifloordiv__": ("//=", ops.floor_divide), "__imod__": ("%=", ops.remainder),
    "__iand__": ("&=", ops.bitwise_and), "__ior__": ("|=", ops.bitwise_or), "__ixor__": ("^=", ops.bitwise_xor),
    "__ilshift__": ("<<=", ops.bitwise_left_shift), "__irshift__": (">>=", ops.bitwise_right_shift),
}


def _in_place(name, function):
    def method(self, other):
        return arithmetic(self, name, function, other)
    return method


def arithmetic(t, name, function, other):
    """t takes `function(t, other)` (add, subtract, multiply, divide) in its own buffer."""
    if not _raw_in_place(t, name, other):
        update(t, name, lambda old: function(old, other), (other,))
    return t


# The backend's own in-place operators, for an update off the tape (an optimizer's step under no_grad):
# no result array is made and then copied in, as PyTorch's in-place methods make none. On the MLP step
# that array was a parameter-sized allocation per update, each touching fresh pages (benchmarks/results/
# 2026-12-07-s19node-mlp-memory.md).
_RAW = {"+=": operator.iadd, "add_": operator.iadd, "-=": operator.isub, "sub_": operator.isub,
        "*=": operator.imul, "mul_": operator.imul, "/=": operator.itruediv, "div_": operator.itruediv}
_FLOATING = ("real floating", "complex floating")


def _raw_in_place(t, name, other):
    """Whether `t op= other` was done by the backend's in-place operator on t's buffer. Only where the
    result is the out-of-place one's, nothing is recorded and no cast or broadcast of t is needed: an
    update off the tape of a floating t with a same-dtype tensor of its shape (or 0-d) on its device and
    not overlapping its buffer, or with a Python number into a real floating t. Otherwise nothing is done."""
    state = engine.state
    if state.forward_ad or state.autocast is not None or state.batch is not None or type(t) is not Tensor:
        return False
    if state.grad_enabled and (t.requires_grad or t._view is not None or getattr(other, "requires_grad", False)):
        return False  # possibly recorded: update decides
    kind = dtypes.from_native(t.array.dtype).kind
    if type(other) is Tensor:
        value = other.array
        if (kind not in _FLOATING or value.dtype != t.array.dtype or value.shape not in (t.array.shape, ())
                or other.device is not t.device and other.device != t.device
                or value is not t.array and t.backend.shares_memory(value, t.array)):
            return False
    elif type(other) in (int, float) and kind == "real floating":
        value = other
    else:
        return False
    if not t.backend.writable(t.array):
        return False
    refuse_leaf(t, name)  # a broadcast view raises
    _RAW[name](t.array, value)
    t._vc[0] += 1
    _write_up(t)
    return True


def _update(self, name, compute, operands=()):
    """self takes the value `compute(old)` in its own buffer (old: self's present value)."""
    return update(self, name, compute, operands)


def _assign(self, data, name="in-place update"):
    """self takes the raw array `data` (broadcast and cast to self)."""
    return assign(self, data, name)


def _operand(self, value):
    return (value if isinstance(value, Tensor) else ops.asarray_like(value, self)).array


def copy_(self, value):
    """self's entries set to value's (broadcast), converted into self's dtype as PyTorch's copy_
    (a float into an int tensor truncates toward zero)."""
    source = value if isinstance(value, Tensor) else ops.asarray_like(value, self)
    if source.dtype != self.dtype:
        source = ops.astype(source, self.dtype)
    return update(self, "copy_", lambda old: ops.broadcast_to(source, self.shape), (source,))


def add_(self, value, alpha=1):
    return arithmetic(self, "add_", ops.add, value if alpha == 1 else value * alpha)


def sub_(self, value, alpha=1):
    return arithmetic(self, "sub_", ops.subtract, value if alpha == 1 else value * alpha)


def mul_(self, value):
    return arithmetic(self, "mul_", ops.multiply, value)


def div_(self, value):
    return arithmetic(self, "div_", ops.divide, value)


def zero_(self):
    return assign(self, self.xp.zeros_like(self.array), "zero_")


def fill_(self, value):
    return assign(self, self.xp.full_like(self.array, value), "fill_")


def _setitem(self, key, value):
    """x[key] = value, into x's buffer; recorded (value and the rest of x get their gradients) when
    either requires grad, for basic keys, masks and index arrays (PyTorch's index_put_)."""
    if is_view_of_at(self, key, value):
        return  # nothing to write: x[key] += v has written x[key]'s new value into x already
    setitem(self, key, value)


METHODS = {"_update": _update, "_assign": _assign, "_operand": _operand, "copy_": copy_, "add_": add_,
           "sub_": sub_, "mul_": mul_, "div_": div_, "zero_": zero_, "fill_": fill_, "__setitem__": _setitem}


def install(tensor_class):
    for name, (spelling, function) in OPERATORS.items():
        setattr(tensor_class, name, _in_place(spelling, function))
    for name, method in METHODS.items():
        setattr(tensor_class, name, method)
