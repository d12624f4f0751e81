"""Functions on tensors: the seed's backward functions and composite layers.

`<name>_backward(grad_output, *inputs, **options)` exists for every primitive
with a derivative. It takes raw arrays of any backend and returns one gradient
per input, shaped like that input (None for an input that takes none, such as
indices). These are the very rules the Tensor engine runs, read from the same
table.

Composites (softmax cross-entropy, linear layers, convolution, ...) are written
with differentiable primitives, so they need no rules of their own.
"""

from . import backends
from .engine import unbroadcast
from .ops import signature
from .primitives import PRIMITIVES


def _backward_function(primitive):
    variadic, n_inputs, options = signature(primitive)

    def backward(grad_output, *inputs, **kwargs):
        source = backends.find_for_array(inputs[0])
        if source is None:
            raise TypeError(f"{primitive.name}_backward: expected arrays, got {type(inputs[0]).__name__}")
        xp = source.xp
        params = dict(options)
        params.update(kwargs)
        out = primitive.forward(xp, *inputs, **params)
        if callable(primitive.vjp):
            grads = primitive.vjp(xp, grad_output, out, *inputs, **params)
        else:
            grads = [None if rule is None else rule(xp, grad_output, out, *inputs, **params)
                     for rule in primitive.vjp]
        return tuple(None if g is None else unbroadcast(xp, g, tuple(x.shape)) for g, x in zip(grads, inputs))

    backward.__name__ = f"{primitive.name}_backward"
    backward.__doc__ = f"Gradients of {primitive.name} for each input, given the output's gradient."
    return backward


globals().update(
    {f"{name}_backward": _backward_function(p) for name, p in PRIMITIVES.items() if p.vjp is not None}
)
# The seed's short names.
add_backward = globals()["add_backward"]
sub_backward = globals()["subtract_backward"]
mul_backward = globals()["multiply_backward"]
div_backward = globals()["divide_backward"]
matmul_backward = globals()["matmul_backward"]


def outer_backward(grad_output, a, b):
    """outer(a, b) = a[:, None] * b[None, :]: the multiply rule on the two views."""
    xp = backends.find_for_array(a).xp
    column, row = xp.reshape(a, (-1, 1)), xp.reshape(b, (1, -1))
    grad_a, grad_b = mul_backward(grad_output, column, row)
    return xp.reshape(grad_a, a.shape), xp.reshape(grad_b, b.shape)
