"""The tape: Operations, the gradient buffer, the backward walk, forward mode.

In the seed's words: every primitive call appends an Operation (its inputs,
its output, its rule and its parameters) to the tape. The tape is not a global
list but the chain of `Tensor._op` links, so a result nobody backpropagates
from frees its whole graph when it is dropped. `backward` sorts the tape
topologically and walks it in reverse. Each leaf gets a slot in the gradient
buffer, allocated as zeros on its own device with its own dtype, and every
contribution is added to it with `+=`. An intermediate tensor's slot starts as
its first contribution instead of zeros plus that contribution: the rules
already produce it on the right device with the right dtype, and skipping the
zeros and the extra addition takes a third off the backward pass of small ops.

Rules are written against an `xp` namespace. For an ordinary backward pass
that is the backend's array namespace and the rules see raw arrays: no Tensor
objects, no recording. With `create_graph=True` it is polygrad's own namespace
and the rules see Tensors, so the backward pass is itself recorded and can be
differentiated again. The same rule text serves both.
"""

import contextlib
import operator
import os
import threading
import traceback
from contextlib import contextmanager

from . import dtypes
from .tensor import Tensor, creation_counter
from .errors import (
    AnomalyError,
    AxisError,
    DeviceMismatchError,
    BackendMismatchError,
    DtypeError,
    GraphFreedError,
    InplaceModificationError,
    ShapeError,
    describe,
)


class _State(threading.local):
    grad_enabled = True
    forward_ad = 0  # depth of active forward-mode contexts
    anomaly = False
    autocast = None  # while an autocast region is on: (primitive name, inputs) -> inputs cast (polygrad.amp)
    autocast_mode = None  # and what it casts to, per device type (hashable: pg.compile guards on it)
    batch = None  # while a vmap runs: (primitive, inputs, params) -> the batched result, or None (polygrad.autodiff.batching)
    per_sample = None  # while a vmap runs: (function, *args) -> function run one sample at a time (polygrad.autodiff.batching)
    vmap_randomness = None  # while a vmap runs: "error" (random ops raise, polygrad.random), "same" or "different"
    spread = None  # while a vmap runs: (made: batch shape -> draw) -> the draw batched per sample (polygrad.autodiff.batching)


state = _State()


@contextmanager
def _set_grad_enabled(enabled):
    previous = state.grad_enabled
    state.grad_enabled = enabled
    try:
        yield
    finally:
        state.grad_enabled = previous


@contextmanager
def forward_mode():
    """Inside, every operation also pushes its inputs' tangents through its jvp rule."""
    state.forward_ad += 1
    try:
        yield
    finally:
        state.forward_ad -= 1


class _GradMode(contextlib.ContextDecorator):
    """Recording on or off inside a `with` block or a decorated function (per thread)."""

    def __init__(self, enabled):
        self.enabled = enabled
        self._previous = []  # a stack: a decorated function may call itself

    def __enter__(self):
        self._previous.append(state.grad_enabled)
        state.grad_enabled = self.enabled
        return self

    def __exit__(self, *exc):
        state.grad_enabled = self._previous.pop()


def _mode(enabled, function):
    """`@no_grad` and `@no_grad()` alike: a bare function is decorated at once."""
    mode = _GradMode(enabled)
    return mode(function) if callable(function) else mode


def no_grad(function=None):
    """Operations inside record nothing: `with no_grad():`, `@no_grad()` or `@no_grad`."""
    return _mode(False, function)


def enable_grad(function=None):
    """Recording back on inside a no_grad region; used as no_grad is."""
    return _mode(True, function)


def inference_mode(mode=True):
    """PyTorch's inference_mode: here the same as no_grad (`inference_mode(False)` records)."""
    if callable(mode):
        return no_grad(mode)
    return _GradMode(not mode)


class set_grad_enabled(_GradMode):
    """`set_grad_enabled(False)` turns recording off at once; in a `with`, the previous mode returns after."""

    def __init__(self, mode):
        super().__init__(bool(mode))
        super().__enter__()

    def __enter__(self):
        return self


def is_grad_enabled():
    return state.grad_enabled


@contextmanager
def detect_anomaly(enabled=True):
    """Raise at the first operation whose forward or backward yields NaN or Inf.

    The error names the operation and the user's line that created it.
    `detect_anomaly(False)` turns checking off inside an enclosing one.
    """
    previous = state.anomaly
    state.anomaly = enabled
    try:
        yield
    finally:
        state.anomaly = previous


class Primitive:
    """One row of the rule table.

    forward(xp, *arrays, **params) -> array
    vjp: one rule per input, rule(xp, g, out, *inputs, **params) -> that input's
         gradient (None in the list: not differentiable in that input), or a single
         callable returning all of them (variadic primitives); None: no derivative.
    jvp: the same shape, rule(xp, tangent, out, *inputs, **params) -> that input's
         contribution to the output tangent; or one callable taking every tangent.
    promotion: None, or how integer operands meet floating ones ("mixed": they
         compute in floating point; "true_divide": integers alone too).
    fresh: every vjp result is a new array (never g, an input or a view of one), so a
         leaf may keep it as its gradient slot without a copy.
    view: for the primitives PyTorch calls views (indexing, reshapes, transposes),
         rule(xp, old, new, **params) -> the input's value once the output's has
         become `new` (old: the input's value before). The output shares the input's
         buffer and version counter; an in-place update of it is recorded on the
         input through this rule (polygrad.methods.inplace).
    saves: which values the vjp rules read: None (every input's and the output's), or
         {input position: the positions ("out": the output) its rule reads}; a rule runs
         only for an input that requires grad. A tensor changed in place after an operation
         used it breaks that operation's backward only if a rule reads it (PyTorch's saved
         tensors): `(y + 1).sum()` then `y.mul_(2)` still differentiates. Filled in by
         polygrad.methods.inplace for the common primitives.
    complex: how its rules meet complex values (PyTorch's convention: a complex
         gradient is dL/dx + i dL/dy, vjp conj(f'(z)) g, jvp f'(z) t). None: they do
         not, and recording it on complex values raises. "holomorphic": the vjp rules
         are the plain transpose g f'(z) of a complex-linear or analytic map (every
         real-linear one too), and the engine conjugates around them. "conjugate":
         the rules follow the convention themselves (abs, conj, irfft, ...).
         Set by polygrad.primitives.complex.
    batch: its batching rule under vmap (None: one call per sample). Set by polygrad.autodiff.batching.
    """

    __slots__ = ("name", "forward", "vjp", "jvp", "doc", "promotion", "fresh", "view", "saves", "complex", "batch")

    def __init__(self, name, forward, vjp=None, jvp=None, doc="", promotion=None, fresh=False, view=None, saves=None):
        self.name = name
        self.forward = forward
        self.vjp = vjp
        self.jvp = jvp
        self.doc = doc
        self.promotion = promotion
        self.fresh = fresh
        self.view = view
        self.saves = saves
        self.complex = None
        self.batch = None

    def __repr__(self):
        return f"<primitive {self.name}>"


class Operation:
    """A tape entry: which primitive made `out` from which inputs."""

    __slots__ = ("primitive", "inputs", "params", "versions", "out_version", "site")

    def __init__(self, primitive, inputs, params, out):
        # The output is not kept: the walk reaches an operation through its output tensor.
        versions = []  # built in this loop: a list comprehension would be one more call per operation
        for t in inputs:
            if t._view is not None and t._op is not None and t._op.out_version < t._vc[1]:
                retake_view(t)  # its base took a new value in place since: use the view of that
                out._seq = next(creation_counter)  # made after the view taken again
            versions.append(t._vc[0])
        self.primitive = primitive
        self.inputs = inputs
        self.params = params
        self.versions = tuple(versions)  # of ints: the cyclic GC stops tracking it, so it never reaches the old generation
        self.out_version = out._vc[0]  # rules may read the output: a later in-place change must be caught
        self.site = _user_site() if state.anomaly else None

    def free(self):
        self.inputs = None

    def __repr__(self):
        return f"<Operation {self.primitive.name}>"


# The package's own folder: a path test, so a checkout itself named polygrad/ still counts as user code.
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # polygrad/


def _user_site():
    """The innermost stack frame outside the polygrad package, as 'file:line in function'."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if not os.path.abspath(frame.filename).startswith(_PACKAGE):
            return f"{frame.filename}:{frame.lineno} in {frame.name}"
    return "unknown"


# The namespace rules run on when they record (backward with create_graph=True): rules are
# written against an array namespace `xp`, and that one's functions take and make Tensors.
# polygrad.namespace registers itself here (a downward call: this layer must not import it).
_graph_namespace = None


def set_graph_namespace(namespace):
    global _graph_namespace
    _graph_namespace = namespace


# ------------------------------------------------------------ versions and views
# A tensor's `_vc` is its version counter, a list [version, last rebase] shared by a base
# tensor, its views and its detach()es (PyTorch's version counter): an in-place update of
# any of them bumps `_vc[0]`. An operation records its inputs' versions; backward compares.
# A recorded in-place update gives the tensor a new place in the graph and keeps the old
# one as `_prior = (since, node)`: operations that used the tensor before version `since`
# are routed to `node` (see node_at). `_vc[1]` is the version at which a recorded in-place
# update last gave the family new graph nodes: a view made before it is taken again
# (retake_view) the next time it is used, so it stands for the base's new value.
def snapshot(t, values):
    """A graph node standing for t as it is now, so that t can take another node.

    values: a copy of t's array where a backward reads the node's value, else t's array itself.
    Its version is -1, which no operation recorded: an operation that used t before and reads
    its value refuses to run backward (engine._reroute), as PyTorch's saved tensors do."""
    levels = getattr(t, "_levels", None)  # batched under vmap (polygrad.autodiff.batching): the node is too
    node = Tensor._wrap(values, t.device) if levels is None else type(t)._wrap(values, t.device)
    if levels is not None:
        node._levels = levels
    node.requires_grad, node._op, node._seq, node.tangent = t.requires_grad, t._op, t._seq, t.tangent
    node._vc = [-1, -1]
    node._prior = getattr(t, "_prior", None)
    return node


def node_at(t, version):
    """The graph node that stood for tensor t at `version`."""
    prior = getattr(t, "_prior", None)
    while prior is not None and version < prior[0]:
        t = prior[1]
        prior = getattr(t, "_prior", None)
    return t


def retake_view(t):
    """View t stands for its base's present node from now on; its old node serves earlier users."""
    base, primitive, params = t._view
    since = t._vc[0]
    t._prior = (since, snapshot(t, t.array))  # earlier users of t: the view of the base's old value
    t._op = Operation(primitive, [base], params, t)  # (retakes base first if it is a stale view too)
    t._seq = next(creation_counter)


def regain_view(t, out=None):
    """Whether view t requires grad now because a recorded in-place update gave its base a
    gradient after t was taken (`v = b[:2]; b += w`): then t stands for the view of the base's
    present node from now on, as PyTorch regenerates such a view's grad_fn. A view taken while
    its base had a gradient (under no_grad) stays without one. `out`, the result of the operation
    using t, is numbered after t's new node (toposort)."""
    base = t._view[0]
    if not (base.requires_grad or base._view is not None and regain_view(base)):
        return False
    node = base
    while node._seq > t._seq and getattr(node, "_prior", None) is not None:
        node = node._prior[1]  # the base's node when t was taken
    if node.requires_grad:
        return False
    retake_view(t)  # (its old node, for earlier users, keeps requires_grad False)
    t.requires_grad = True
    if out is not None:
        out._seq = next(creation_counter)
    return True


def apply(primitive, inputs, params):
    """Run `primitive` on Tensor `inputs`, record it on the tape, push tangents."""
    if state.autocast is not None:
        inputs = state.autocast(primitive.name, inputs)
    if state.batch is not None:
        batched = state.batch(primitive, inputs, params)
        if batched is not None:
            return batched
    first = inputs[0]
    device = first.device
    xp = device.backend.xp
    if len(inputs) == 1:
        arrays = None  # the common unary case builds no list
    else:
        arrays = []  # built in the device check's loop: a list comprehension would be one more call
        for other in inputs:
            if other.device is not device and other.device != device:
                raise_mismatch(primitive.name, first, other)
            arrays.append(other.array)
    try:
        if params:
            data = primitive.forward(xp, first.array, **params) if arrays is None else primitive.forward(xp, *arrays, **params)
        else:  # no ** for the usual empty params: unpacking a dict makes a new one per call
            data = primitive.forward(xp, first.array) if arrays is None else primitive.forward(xp, *arrays)
    except Exception as error:
        raise _explain(primitive, inputs, error) from error
    if not data.shape:
        data = device.backend.array_of(data)  # a 0-d array, not a scalar: it can be written and exported
    out = Tensor._wrap(data, device)
    if primitive.view is not None:
        out._view = (first, primitive, params)  # an alias of first's buffer: in-place updates are recorded on first
        out._vc = first._vc
    if state.grad_enabled and primitive.vjp is not None:
        for t in inputs:
            if t.requires_grad or t._view is not None and t._vc[1] and regain_view(t, out):
                if primitive.complex is None and (_is_complex(data) or _is_complex(first.array)):
                    _refuse_complex(primitive, inputs)
                out.requires_grad = True
                out._op = Operation(primitive, inputs, params, out)
                break
    if state.forward_ad:
        tangents = [t.tangent for t in inputs]
        if primitive.complex is None and primitive.jvp is not None and (_is_complex(data) or _is_complex(first.array)) \
                and any(t is not None for t in tangents):
            _refuse_complex(primitive, inputs)
        out.tangent = push_tangent(primitive, xp, tangents, [t.array for t in inputs], data, params)
    if state.anomaly:
        # an op is recorded only when an input requires grad; name the user's line either way
        site = out._op.site if out._op is not None else _user_site()
        _check_finite(xp, data, f"the forward of {primitive.name}", site)
    return out


def raise_mismatch(operation, a, b):
    """Tensors a and b of one operation are on different devices: the error naming both (and the backends)."""
    kind = BackendMismatchError if a.device.backend is not b.device.backend else DeviceMismatchError
    raise kind(
        f"{operation}: operands are on different "
        f"{'backends' if kind is BackendMismatchError else 'devices'}: "
        f"{describe(a)} vs {describe(b)}; move one with .to(...)"
    )


def _is_complex(array):
    return dtypes.from_native(array.dtype).kind == "complex floating"


def _refuse_complex(primitive, inputs):
    raise DtypeError(f"{primitive.name}: no derivative through complex values yet "
                     f"({' and '.join(describe(t) for t in inputs)}); detach, or compute under no_grad()")


def _explain(primitive, inputs, error):
    sides = " and ".join(describe(t) for t in inputs)
    kind = DtypeError if isinstance(error, TypeError) else AxisError if isinstance(error, IndexError) else ShapeError
    return kind(f"{primitive.name}: cannot apply to {sides}: {error}")


def _check_finite(xp, data, what, site):
    if not xp.isdtype(data.dtype, ("real floating", "complex floating")):
        return
    if not bool(xp.all(xp.isfinite(data))):
        where = f" (created at {site})" if site else ""
        raise AnomalyError(f"{what} produced NaN or Inf{where}")


# ---------------------------------------------------------------- forward mode
def push_tangent(primitive, xp, tangents, arrays, out, params):
    """The output tangent from the inputs' `tangents` (None: none) by the jvp rules."""
    if primitive.jvp is None or all(t is None for t in tangents):
        return None
    if callable(primitive.jvp):
        filled = [xp.zeros_like(a) if t is None else t for a, t in zip(arrays, tangents)]
        return primitive.jvp(xp, filled, out, *arrays, **params)
    total = None
    for rule, tangent in zip(primitive.jvp, tangents):
        if tangent is None or rule is None:
            continue
        part = rule(xp, tangent, out, *arrays, **params)
        total = part if total is None else total + part
    if total is None:
        return None
    if total.shape != out.shape:
        total = xp.broadcast_to(total, out.shape)
    return total


# ------------------------------------------------------------- reverse mode
def unbroadcast(xp, grad, shape):
    """Sum `grad` over the axes broadcasting added, giving it `shape`.

    The one place broadcast gradients are reduced; rules never do it.
    """
    if grad.shape == shape:
        return grad
    lead = len(grad.shape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1
    )
    if axes:
        grad = xp.sum(grad, axis=axes, keepdims=True)
    return xp.reshape(grad, shape)


def toposort(roots, requiring_grad_only=True):
    """Tensors reachable from `roots`, each after all of its inputs.

    Every tensor takes a number from one counter when it is made (`_seq`), and an
    operation's output is made after its inputs, so creation order is a
    topological order: find what is reachable, then sort by that number.
    """
    seen = {id(root): root for root in roots}
    stack = list(roots)
    while stack:
        op = stack.pop()._op
        if op is None or op.inputs is None:
            continue
        for t, version in zip(op.inputs, op.versions):  # a loop, not a list comprehension: no call per operation
            if t._vc[0] != version:
                _reroute(op)
                break
        for parent in op.inputs:
            key = id(parent)
            if key not in seen and (parent.requires_grad or not requiring_grad_only):
                seen[key] = parent
                stack.append(parent)
    return sorted(seen.values(), key=_creation_order)


_creation_order = operator.attrgetter("_seq")  # a C-level key: no Python call per tensor


def reads(op, position):
    """Whether op's backward reads the value at `position` (an input's index, or "out")."""
    saves = op.primitive.saves
    if saves is None:
        return True
    return any(position in read and op.inputs[j].requires_grad for j, read in saves.items())


def _reroute(op):
    """Inputs changed in place since `op` used them: the gradient goes to the node that stood
    for each then; if op's rules read its value, that value is gone: raise, as PyTorch does."""
    if not isinstance(op.inputs, list):
        op.inputs = list(op.inputs)
    op.versions = list(op.versions)  # a tuple as recorded
    for position, t in enumerate(op.inputs):
        version = op.versions[position]
        if t._vc[0] == version:
            continue
        node = node_at(t, version)
        if node._vc[0] != version and reads(op, position):
            raise InplaceModificationError(
                f"{op.primitive.name}: input {position} ({describe(t)}) was modified in place after it was saved "
                f"for backward (version {version} -> {t._vc[0]}): one of the variables needed for gradient "
                "computation has been modified by an inplace operation; make the change out of place (or clone() "
                "it first), or outside the graph"
            )
        op.inputs[position], op.versions[position] = node, node._vc[0]


def _check_op(op, out):
    if op.inputs is None:
        raise GraphFreedError(
            f"{op.primitive.name}: trying to backward through a graph that was already freed; "
            "pass retain_graph=True to the first backward() to go through it again"
        )
    if out._vc[0] != op.out_version and reads(op, "out"):
        raise InplaceModificationError(
            f"{op.primitive.name}: its output ({describe(out)}) was modified in place after it was computed "
            f"(version {op.out_version} -> {out._vc[0]}), and its backward needs the original: one of the "
            "variables needed for gradient computation has been modified by an inplace operation; "
            "make the change out of place, or outside the graph"
        )
    op.out_version = out._vc[0]  # its rules do not read it


def run_backward(roots, root_grads, retain_graph=False, create_graph=False, on_leaf=None):
    """Walk the tape from `roots`; returns the gradient buffer {id(tensor): grad}
    and the walk's tensors (which keep those ids valid).

    Buffer entries are raw arrays, or Tensors when `create_graph` is set.
    `on_leaf(tensor, grad)` is called as the walk reaches each leaf: in reverse
    topological order every operation that used a leaf comes before it, so its
    gradient is final by then.
    """
    ops = _graph_namespace
    buffer = {}

    def accumulate(tensor, grad, fresh=False):
        key = id(tensor)
        if grad.dtype is not tensor.array.dtype and grad.dtype != tensor.array.dtype:  # `is`: the usual case, fast
            xp = ops if create_graph else tensor.device.backend.xp
            if _is_complex(grad.array if create_graph else grad) and not _is_complex(tensor.array):
                grad = xp.real(grad)  # a real tensor's gradient is the real part (PyTorch's convention)
            grad = xp.astype(grad, tensor.array.dtype)
        if key not in buffer:
            # An intermediate's first gradient is kept as it is: only the rules read it.
            # A leaf's slot must be polygrad's own array, since later gradients are added
            # into it in place and it becomes .grad: the first one is copied unless its
            # rule made it new (add passes g to both inputs), one pass instead of zeros
            # plus an addition.
            own = tensor._op is None and not create_graph and not fresh
            buffer[key] = tensor.device.backend.xp.asarray(grad, copy=True) if own else grad
        elif tensor._op is None and not create_graph:
            buffer[key] += grad
        else:
            buffer[key] = buffer[key] + grad  # out of place: the array may be shared, or recorded

    for root, grad in zip(roots, root_grads):
        accumulate(root, grad)

    order = toposort(roots)
    anomaly = state.anomaly
    # With on_leaf the caller reads no buffer: an intermediate's gradient, and the walk's hold on the
    # intermediate itself (its value, which the tape kept for the rules), are let go once its rules have
    # run, as PyTorch frees saved tensors during backward: the peak holds only what is still to be used.
    release = on_leaf is not None
    # A recorded backward runs the rules through apply: check their results below,
    # as the backward of this op, rather than as forward ops of their own.
    with _set_grad_enabled(create_graph), detect_anomaly(anomaly and not create_graph):
        for position in range(len(order) - 1, -1, -1):
            tensor = order[position]
            g = buffer.get(id(tensor))
            if g is None:
                continue
            op = tensor._op
            if tensor._hooks is not None and "grad" in tensor._hooks:
                g = buffer[id(tensor)] = _run_grad_hooks(tensor, g, create_graph)
            if op is None:
                if on_leaf is not None:
                    on_leaf(tensor, g)
                continue
            if op.inputs is None or tensor._vc[0] != op.out_version:
                _check_op(op, tensor)  # raises, saying which, unless its rules do not read the output
            if create_graph:
                xp, args, out = ops, op.inputs, tensor
            else:
                xp, out = tensor.device.backend.xp, tensor.array
                args = []  # a loop, not a list comprehension: no call per operation
                for t in op.inputs:
                    args.append(t.array)
            grads = pullback(op.primitive, xp, g, out, args, op.params, op.inputs)
            for parent, grad in zip(op.inputs, grads):
                if grad is None or not parent.requires_grad:
                    continue
                shape = parent.array.shape
                reduced = grad.shape != shape
                if reduced:
                    grad = unbroadcast(xp, grad, shape)
                if anomaly:
                    _check_finite(parent.xp, grad.array if create_graph else grad,
                                  f"the backward of {op.primitive.name}", op.site)
                accumulate(parent, grad, reduced or op.primitive.fresh)  # a reduction's sum is new too
            if not retain_graph:
                op.free()
            if release:
                del buffer[id(tensor)]
                order[position] = None
    return buffer, order


def _run_grad_hooks(tensor, g, create_graph):
    """Tensor.register_hook: each hook sees the gradient as a Tensor; one it returns replaces it.

    retain_grad's hook runs last, as in PyTorch, so `.grad` holds what the other hooks made.
    """
    grad = g if create_graph else Tensor._wrap(g, tensor.device)
    for hook in sorted(tensor._hooks["grad"], key=lambda h: getattr(h, "retains_grad", False)):
        result = hook(grad)
        if result is not None:
            grad = result
    return grad if create_graph else grad.array


def pullback(primitive, xp, g, out, args, params, inputs=None):
    """Each input's gradient by the vjp rules; None where not differentiable, or where
    the matching one of `inputs` (Tensors; None: all are needed) does not require grad."""
    if primitive.complex == "holomorphic" and id(g.dtype) not in _real_dtypes:
        if _is_complex(g.array if isinstance(g, Tensor) else g):
            # the rules transpose; conjugated around they give conj(f'(z)) g
            grads = _apply_rules(primitive.vjp, xp, xp.conj(g), out, args, params, inputs)
            return [None if grad is None else xp.conj(grad) for grad in grads]
        if len(_real_dtypes) < 64:
            _real_dtypes[id(g.dtype)] = g.dtype
    return _apply_rules(primitive.vjp, xp, g, out, args, params, inputs)


# id -> dtype (native, or polygrad's under create_graph) of the real gradients pullback has met: most
# primitives are holomorphic, and one look-up here replaces _is_complex's two calls (~0.2 us per operation).
# The dtype is kept, so its id cannot be reused by another object.
_real_dtypes = {}


def _apply_rules(vjp, xp, g, out, args, params, inputs):
    if callable(vjp):
        return vjp(xp, g, out, *args, **params)
    if inputs is None:
        return [rule(xp, g, out, *args, **params) if rule is not None else None for rule in vjp]
    grads = []  # a loop, not a list comprehension: no call per operation
    for rule, t in zip(vjp, inputs):
        if rule is None or not t.requires_grad:
            grads.append(None)
        else:  # no ** for the usual empty params: unpacking a dict makes a new one per call
            grads.append(rule(xp, g, out, *args, **params) if params else rule(xp, g, out, *args))
    return grads
