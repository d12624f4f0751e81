"""PyTorch-style custom functions: `pg.autograd.Function` with `ctx.save_for_backward`.

    class Cube(pg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, grad):
            x, = ctx.saved_tensors
            return 3 * x ** 2 * grad

    y = Cube.apply(x)

`apply` runs forward with recording off and puts one Operation on the tape, as
a primitive of the rule table would (`pg.custom` defines those the table's
way, on raw arrays). backward sees Tensors and returns one gradient (or None)
per argument of forward; written with polygrad functions, it is itself
differentiable under `create_graph=True`. Forward mode differentiates the
operations forward runs (backward is a reverse-mode rule only).
"""

from .engine import Operation, Primitive, no_grad, state
from .tensor import Tensor


class FunctionCtx:
    """What forward leaves for backward: saved tensors and any attributes set on it."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self.saved_tensors = ()

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors

    def mark_non_differentiable(self, *tensors):
        self.non_differentiable = tensors


class Function:
    """Subclass with static `forward(ctx, *args)` and `backward(ctx, *grads)`; call `apply`."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("Function subclasses define forward(ctx, *args)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("Function subclasses define backward(ctx, *grad_outputs)")

    @classmethod
    def apply(cls, *args, **kwargs):
        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        inputs = [args[i] for i in positions]
        ctx = FunctionCtx(tuple(isinstance(a, Tensor) and a.requires_grad for a in args))
        with no_grad():
            out = cls.forward(ctx, *args, **kwargs)
        if not isinstance(out, Tensor):
            raise TypeError(f"{cls.__name__}.forward: must return one Tensor, got {type(out).__name__}")
        if state.grad_enabled and any(t.requires_grad for t in inputs):
            fresh = Tensor._wrap(out.array, out.device)  # a fresh node, even if forward returned an input
            fresh.tangent, out = out.tangent, fresh
            out.requires_grad = True
            out._op = Operation(_primitive(cls, ctx, positions, len(args), out.device), inputs, {}, out)
        return out


def _primitive(cls, ctx, positions, n_args, device):
    """A one-off rule-table row whose vjp calls cls.backward on Tensors."""
    def vjp(xp, g, out, *inputs):
        recorded = isinstance(g, Tensor)  # create_graph: the engine passes Tensors, else raw arrays
        grads = cls.backward(ctx, g if recorded else Tensor._wrap(g, device))
        grads = grads if isinstance(grads, tuple) else (grads,)
        if len(grads) != n_args:
            raise ValueError(f"{cls.__name__}.backward: returned {len(grads)} gradients, forward took {n_args} "
                             "arguments (return None for those without one)")
        picked = [grads[i] for i in positions]
        return picked if recorded else [None if p is None else p.array for p in picked]

    return Primitive(cls.__name__, forward=None, vjp=vjp)
