"""Function transforms in the style of JAX and torch.func.

    grad(f)(x)                     df/dx for a scalar f
    value_and_grad(f)(x)           (f(x), df/dx)
    vjp(f, x) -> (y, vjp_fn)       vjp_fn(v) = v^T J, reusable
    jvp(f, (x,), (t,)) -> (y, J t) one forward pass, no backward
    jacrev(f)(x), jacfwd(f)(x)     the Jacobian, shaped f(x).shape + x.shape
    hessian(f)(x), hvp(f, x, v)    second derivatives

They take and return Tensors of any backend and keep every result on the
inputs' device. `argnums` (an int or a tuple of ints) picks the arguments to
differentiate; a tuple gives a tuple of results.

How they compose
----------------
Reverse mode differentiates with respect to fresh leaves made from the inputs.
When an outer derivative is being taken (an input already requires grad, or
an outer transform or forward-mode pass is running), the backward pass is
recorded (`create_graph=True`) and an input that requires grad is used as it
is, so the result stays on the outer tape: `grad(grad(f))`,
`jacrev(jacrev(f))` (reverse over reverse).

Forward mode carries raw-array tangents on `Tensor.tangent`. A recorded
backward pass runs the rules on Tensors, so inside forward mode its results
carry tangents too: forward over reverse works, and `hvp` and `hessian`
(`jacfwd(jacrev(f))`, as in JAX) are built that way. Tangents are raw arrays,
not Tensors on a tape, so reverse over forward and forward over forward
cannot be taken; `jvp` raises rather than silently dropping the outer
derivative.
"""

import functools
import threading

from ..core import autograd as autodiff
from . import batching
from ..namespace import ops
from ..namespace.ops import asarray
from ..namespace.creation import zeros_like
from ..core.engine import enable_grad, forward_mode, is_grad_enabled, state
from ..core.errors import ShapeError, describe
from ..core.tensor import Tensor


class _Depth(threading.local):
    reverse = 0  # reverse-mode transforms running f right now


_depth = _Depth()


# ---------------------------------------------------------------- helpers
def _positions(argnums):
    return (argnums,) if isinstance(argnums, int) else tuple(argnums)


def _pick(values, argnums):
    """One result per differentiated argument; unwrapped for an int argnums."""
    return values[0] if isinstance(argnums, int) else tuple(values)


def _as_list(value):
    return list(value) if isinstance(value, (tuple, list)) else [value]


def _detached(value):
    if isinstance(value, (tuple, list)):
        return type(value)(_detached(v) for v in value)
    return value.detach() if isinstance(value, Tensor) else value


def _substitute(f, args, positions):
    """f as a function of the arguments at `positions` only, the rest held fixed."""
    def partial(*chosen):
        full = list(args)
        for position, value in zip(positions, chosen):
            full[position] = value
        return f(*full)

    return partial


def basis(like, index):
    """The index-th standard basis vector, shaped and typed like `like`, on its device."""
    xp = like.xp
    hot = xp.arange(like.size, device=like.device.native) == index
    return Tensor._wrap(xp.reshape(xp.astype(hot, like.array.dtype), like.shape), like.device)


# ---------------------------------------------------------------- reverse mode
def _watch(x):
    """The tensor to differentiate with respect to, standing for input x."""
    x = x if isinstance(x, Tensor) else asarray(x)
    if state.batch is not None:
        return batching.watch(x)  # under vmap: a leaf per sample
    if x.requires_grad:
        return x  # someone outside differentiates through x: keep its tape
    leaf = Tensor._wrap(x.array, x.device)
    leaf.tangent = x.tangent  # forward over reverse: the tangent rides along
    return leaf.requires_grad_()


def _run_watched(f, args, argnums):
    """Run f with the arguments at `argnums` watched: (result, watched, nested)."""
    positions = _positions(argnums)
    args = list(args)
    nested = (
        _depth.reverse > 0
        or state.forward_ad > 0
        or any(isinstance(args[i], Tensor) and args[i].requires_grad for i in positions)
    )
    watched = [_watch(args[i]) for i in positions]
    for position, leaf in zip(positions, watched):
        args[position] = leaf
    _depth.reverse += 1
    try:
        with enable_grad():
            result = f(*args)
    finally:
        _depth.reverse -= 1
    return result, watched, nested


def _pullback(outputs, watched, cotangents, nested):
    """Cotangents pulled back to the watched inputs; zeros where nothing depends on them.

    Nested: the backward pass is recorded so an outer derivative can go through it.
    """
    pairs = [(o, c) for o, c in zip(outputs, cotangents) if isinstance(o, Tensor) and o.requires_grad]
    if not pairs:
        return [zeros_like(w) for w in watched]
    if state.batch is not None:
        return batching.pullback(autodiff.grad, pairs, watched, nested)
    return autodiff.grad([o for o, _ in pairs], watched, grad_outputs=[c for _, c in pairs],
                         retain_graph=True, create_graph=nested)


def value_and_grad(f, argnums=0, has_aux=False):
    """A function returning (f(*args), gradient of f with respect to args[argnums]).

    f must return a scalar Tensor, or (scalar, aux) with has_aux=True, in which
    case the value is (scalar, aux).
    """
    @functools.wraps(f)
    def value_and_grad_f(*args):
        result, watched, nested = _run_watched(f, args, argnums)
        value, aux = result if has_aux else (result, None)
        if not isinstance(value, Tensor) or value.size != 1:
            shape = describe(value) if isinstance(value, Tensor) else type(value).__name__
            raise ShapeError(f"grad: f must return a scalar Tensor, got {shape}; use jacrev or vjp")
        grads = _pick(_pullback([value], watched, [None], nested), argnums)
        if not nested:
            value = value.detach()
        return ((value, aux) if has_aux else value), grads

    return value_and_grad_f


def grad(f, argnums=0, has_aux=False):
    """The gradient of scalar-valued f with respect to args[argnums], as a function.

    With has_aux=True, f returns (scalar, aux) and the function returns (gradient, aux).
    """
    value_and_grad_f = value_and_grad(f, argnums, has_aux)

    @functools.wraps(f)
    def grad_f(*args):
        value, grads = value_and_grad_f(*args)
        return (grads, value[1]) if has_aux else grads

    return grad_f


def vjp(f, *primals, has_aux=False):
    """(f(*primals), vjp_fn): vjp_fn(cotangent) is the tuple of cotangent^T df/dprimal_i.

    The cotangent has f's output structure (a Tensor, or a tuple for a tuple
    output); vjp_fn can be called any number of times. With has_aux=True, f
    returns (output, aux) and vjp returns (output, vjp_fn, aux).
    """
    result, watched, nested = _run_watched(f, primals, tuple(range(len(primals))))
    out, aux = result if has_aux else (result, None)
    outputs = _as_list(out)

    def vjp_fn(cotangent):
        cotangents = _as_list(cotangent)
        if len(cotangents) != len(outputs):
            raise ValueError(f"vjp_fn: f has {len(outputs)} outputs but {len(cotangents)} cotangents were given")
        return tuple(_pullback(outputs, watched, cotangents, nested))

    if not nested:
        out = _detached(out)
    return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)


def _jacobian_block(rows_or_columns, out_shape, in_shape, axis):
    """Stacked derivative slices reshaped to out_shape + in_shape."""
    return ops.reshape(ops.stack(rows_or_columns, axis=axis), out_shape + in_shape)


def jacrev(f, argnums=0):
    """The Jacobian by reverse mode: one backward pass per output element.

    The result is shaped f(x).shape + x.shape; for a tuple output, a tuple of those.
    """
    @functools.wraps(f)
    def jacrev_f(*args):
        out, watched, nested = _run_watched(f, args, argnums)
        blocks = []
        for o in _as_list(out):
            rows = [_pullback([o], watched, [basis(o, k)], nested) for k in range(o.size)]
            # rows[k][j]: row k of the Jacobian of o with respect to input j, shaped like input j
            blocks.append(_pick([_jacobian_block([row[j] for row in rows], o.shape, w.shape, 0)
                                 for j, w in enumerate(watched)], argnums))
        return blocks[0] if isinstance(out, Tensor) else tuple(blocks)

    return jacrev_f


# ---------------------------------------------------------------- forward mode
def dual(primal, tangent=None):
    """A fresh tensor with `primal`'s values carrying `tangent` (None: zero).

    Inside `polygrad.forward_mode()` every operation pushes the tangent through
    its jvp rule; read the result's with `tangent_of`. This is what `jvp` does,
    unwrapped:

        with pg.forward_mode():
            y = f(pg.dual(x, v))
        pg.tangent_of(y)          # J(x) v
    """
    x = primal if isinstance(primal, Tensor) else asarray(primal)
    if state.batch is not None:
        return batching.dual(x, tangent)
    leaf = Tensor._wrap(x.array, x.device)
    if tangent is not None:
        t = asarray(tangent, device=x.device, dtype=x.dtype)
        if t.shape != x.shape:
            raise ShapeError(f"dual: tangent {describe(t)} does not match primal {describe(x)}")
        leaf.tangent = t.array
    return leaf


def tangent_of(tensor):
    """The tangent `tensor` carries from forward mode, as a Tensor (zeros if none)."""
    if tensor.tangent is None:
        return zeros_like(tensor)
    return batching.wrap(Tensor._wrap(tensor.tangent, tensor.device), batching.levels_of(tensor))


def jvp(f, primals, tangents):
    """(f(*primals), J @ tangents) in one forward pass carrying tangents.

    `primals` and `tangents` are a Tensor or tuples of Tensors of the same
    shapes (a tangent of None means zero). Outputs that do not depend on the
    primals get zero tangents.
    """
    primals, tangents = _as_list(primals), _as_list(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    if state.forward_ad:
        raise NotImplementedError("jvp: forward mode inside forward mode is not supported (tangents are raw arrays)")
    for x in primals:
        if (isinstance(x, Tensor) and x.requires_grad and is_grad_enabled()) or _depth.reverse:
            raise NotImplementedError(
                "jvp: reverse mode over forward mode is not supported (tangents are raw arrays, not on the "
                "tape); take the outer derivative with forward mode (jacfwd) or both with reverse mode, "
                "or pass x.detach()"
            )
    inputs = [dual(x, t) for x, t in zip(primals, tangents)]
    with forward_mode():
        out = f(*inputs)
    outputs = [o if isinstance(o, Tensor) else asarray(o) for o in _as_list(out)]
    out_tangents = [tangent_of(o) for o in outputs]
    if isinstance(out, Tensor):
        return out.detach(), out_tangents[0]
    return tuple(o.detach() for o in outputs), tuple(out_tangents)


def jacfwd(f, argnums=0):
    """The Jacobian by forward mode: one forward pass per input element.

    The result is shaped f(x).shape + x.shape; for a tuple output, a tuple of those.
    """
    @functools.wraps(f)
    def jacfwd_f(*args):
        positions = _positions(argnums)
        primals = [args[i] if isinstance(args[i], Tensor) else asarray(args[i]) for i in positions]
        g = _substitute(f, args, positions)
        per_input, single = [], True
        for j, x in enumerate(primals):
            columns = []
            for k in range(x.size):
                directions = [basis(x, k) if i == j else None for i in range(len(primals))]
                out, column = jvp(g, primals, directions)
                single = isinstance(out, Tensor)
                columns.append(_as_list(column))
            # columns[k][m]: column k of the Jacobian of output m, shaped like output m
            per_input.append([_jacobian_block([c[m] for c in columns], c0.shape, x.shape, -1)
                              for m, c0 in enumerate(columns[0])])
        blocks = [_pick([per_input[j][m] for j in range(len(primals))], argnums)
                  for m in range(len(per_input[0]))]
        return blocks[0] if single else tuple(blocks)

    return jacfwd_f


def jacobian(f, argnums=0, mode="reverse"):
    """The Jacobian of f; mode "reverse" (jacrev, cheap for few outputs) or "forward" (jacfwd)."""
    if mode not in ("reverse", "forward"):
        raise ValueError(f"jacobian: mode must be 'reverse' or 'forward', got {mode!r}")
    return (jacrev if mode == "reverse" else jacfwd)(f, argnums)


# ---------------------------------------------------------------- second order
def hessian(f, argnums=0):
    """The Hessian of scalar f, shaped x.shape + x.shape: forward over reverse.

    With a tuple argnums, a nested tuple: hessian(f, (0, 1))(x, y)[i][j].
    """
    return jacfwd(jacrev(f, argnums), argnums)


def hvp(f, primals, tangents):
    """(f(*primals), H @ tangents) for scalar f: one forward pass carrying tangents
    through one recorded backward pass, never forming H.

    `primals` and `tangents` are a Tensor or tuples of Tensors; the product has
    the same structure.
    """
    single = isinstance(primals, Tensor)
    primals = _as_list(primals)
    value_and_grads = value_and_grad(f, argnums=tuple(range(len(primals))))

    def value_and_gradient_list(*xs):
        value, grads = value_and_grads(*xs)
        return (value,) + grads

    outputs, out_tangents = jvp(value_and_gradient_list, primals, tangents)
    return outputs[0], out_tangents[1] if single else out_tangents[1:]
