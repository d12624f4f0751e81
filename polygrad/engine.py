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
         become `new` (old: the input's value before); an in-place update of the
         output is written back into its input through it (Tensor._update).
    complex: how its rules meet complex values (PyTorch's convention: a complex
         gradient is dL/dx + i dL/dy, vjp conj(f'(z)) g, jvp f'(z) t). None: they do
         not, and recording it on complex values raises. "holomorphic": the vjp rules
         are the plain transpose g f'(z) of a complex-linear or analytic map (every
         real-linear one too), and the engine conjugates around them. "conjugate":
         the rules follow the convention themselves (abs, conj, irfft, ...).
         Set by polygrad.primitives_complex.
    """

    __slots__ = ("name", "forward", "vjp", "jvp", "doc", "promotion", "fresh", "view", "complex")

    def __init__(self, name, forward, vjp=None, jvp=None, doc="", promotion=None, fresh=False, view=None):
        self.name = name
        self.forward = forward
        self.vjp = vjp
        self.jvp = jvp
        self.doc = doc
        self.promotion = promotion
        self.fresh = fresh
        self.view = view
        self.complex = None

    def __repr__(self):
        return f"<primitive {self.name}>"


class Operation:
    """A tape entry: which primitive made `out` from which inputs."""

    __slots__ = ("primitive", "inputs", "params", "versions", "out_version", "site")

    def __init__(self, primitive, inputs, params, out):
        # The output is not kept: the walk reaches an operation through its output tensor.
        self.primitive = primitive
        self.inputs = inputs
        self.params = params
        self.versions = [t._version for t in inputs]
        self.out_version = out._version  # rules may read the output: a later in-place change must be caught
        self.site = _user_site() if state.anomaly else None

    def free(self):
        self.inputs = None

    def __repr__(self):
        return f"<Operation {self.primitive.name}>"


# The package's own folder: a path test, so a checkout itself named polygrad/ still counts as user code.
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _user_site():
    """The innermost stack frame outside the polygrad package, as 'file:line in function'."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if not os.path.abspath(frame.filename).startswith(_PACKAGE):
            return f"{frame.filename}:{frame.lineno} in {frame.name}"
    return "unknown"


# Set by polygrad.tensor; the engine makes Tensors but must not import the module.
Tensor = None


def apply(primitive, inputs, params):
    """Run `primitive` on Tensor `inputs`, record it on the tape, push tangents."""
    first = inputs[0]
    device = first.device
    xp = device.backend.xp
    if len(inputs) == 1:
        arrays = None  # the common unary case builds no list
    else:
        for other in inputs:
            if other.device is not device and other.device != device:
                _raise_mismatch(primitive, first, other)
        arrays = [t.array for t in inputs]
    try:
        data = primitive.forward(xp, first.array, **params) if arrays is None else primitive.forward(xp, *arrays, **params)
    except Exception as error:
        raise _explain(primitive, inputs, error) from error
    out = Tensor._wrap(data, device)
    if primitive.view is not None:
        out._view = (first, primitive, params, first._version)  # where an in-place update of out goes
    if state.grad_enabled and primitive.vjp is not None:
        for t in inputs:
            if t.requires_grad:
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


def _raise_mismatch(primitive, a, b):
    kind = BackendMismatchError if a.device.backend is not b.device.backend else DeviceMismatchError
    raise kind(
        f"{primitive.name}: operands are on different "
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
        for parent in op.inputs:
            if id(parent) not in seen and (parent.requires_grad or not requiring_grad_only):
                seen[id(parent)] = parent
                stack.append(parent)
    return sorted(seen.values(), key=_creation_order)


_creation_order = operator.attrgetter("_seq")  # a C-level key: no Python call per tensor


def _check_op(op, out):
    if out._version != op.out_version:
        raise InplaceModificationError(
            f"{op.primitive.name}: its output ({describe(out)}) was modified in place after it was computed "
            f"(version {op.out_version} -> {out._version}), and its backward may need the original; "
            "make the change out of place, or outside the graph"
        )
    if op.inputs is None:
        raise GraphFreedError(
            f"{op.primitive.name}: trying to backward through a graph that was already freed; "
            "pass retain_graph=True to the first backward() to go through it again"
        )
    if [t._version for t in op.inputs] != op.versions:
        position, t = next((i, t) for i, t in enumerate(op.inputs) if t._version != op.versions[i])
        raise InplaceModificationError(
            f"{op.primitive.name}: input {position} ({describe(t)}) was modified in place "
            f"after it was saved for backward (version {op.versions[position]} -> {t._version})"
        )


def run_backward(roots, root_grads, retain_graph=False, create_graph=False, on_leaf=None):
    """Walk the tape from `roots`; returns the gradient buffer {id(tensor): grad}
    and the walk's tensors (which keep those ids valid).

    Buffer entries are raw arrays, or Tensors when `create_graph` is set.
    `on_leaf(tensor, grad)` is called as the walk reaches each leaf: in reverse
    topological order every operation that used a leaf comes before it, so its
    gradient is final by then.
    """
    from . import ops

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
    # A recorded backward runs the rules through apply: check their results below,
    # as the backward of this op, rather than as forward ops of their own.
    with _set_grad_enabled(create_graph), detect_anomaly(anomaly and not create_graph):
        for tensor in reversed(order):
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
            if op.inputs is None or tensor._version != op.out_version or [t._version for t in op.inputs] != op.versions:
                _check_op(op, tensor)  # raises, saying which
            if create_graph:
                xp, args, out = ops, op.inputs, tensor
            else:
                xp, out = tensor.device.backend.xp, tensor.array
                args = [t.array for t in op.inputs]
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
    if primitive.complex == "holomorphic" and _is_complex(g.array if isinstance(g, Tensor) else g):
        # the rules transpose; conjugated around they give conj(f'(z)) g
        grads = _apply_rules(primitive.vjp, xp, xp.conj(g), out, args, params, inputs)
        return [None if grad is None else xp.conj(grad) for grad in grads]
    return _apply_rules(primitive.vjp, xp, g, out, args, params, inputs)


def _apply_rules(vjp, xp, g, out, args, params, inputs):
    if callable(vjp):
        return vjp(xp, g, out, *args, **params)
    if inputs is None:
        return [rule(xp, g, out, *args, **params) if rule is not None else None for rule in vjp]
    return [rule(xp, g, out, *args, **params) if rule is not None and t.requires_grad else None
            for rule, t in zip(vjp, inputs)]
