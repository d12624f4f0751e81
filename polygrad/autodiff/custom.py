"""Your own differentiable functions, defined the way the built-ins are.

A custom primitive is one more row of the rule table (`polygrad.primitives.table`):
a forward on raw arrays, one vjp rule per input and, optionally, one jvp rule
per input. It becomes a public function exactly as the built-ins do, and works
with backward, create_graph, forward mode and every transform.

    import polygrad as pg

    @pg.custom.primitive(
        # sigmoid(x) = 1 - exp(-softplus(x)); written with functions arrays and Tensors share
        vjp=[lambda xp, g, out, x: g * (1 - xp.exp(-out))],
        jvp=[lambda xp, t, out, x: t * (1 - xp.exp(-out))],
    )
    def softplus(xp, x):
        "log(1 + exp(x)), without overflow for large x."
        return xp.logaddexp(x, xp.zeros_like(x))

    y = softplus(pg.tensor([0.0, 30.0], requires_grad=True))

The rule signatures are those of the table:

    forward(xp, *inputs, **options)          raw arrays of namespace xp
    vjp rule(xp, g, out, *inputs, **options) that input's gradient, given the output's g
    jvp rule(xp, t, out, *inputs, **options) that input's share of the output tangent

A None rule marks an input that takes no gradient (indices, masks). Rules run
on raw arrays for an ordinary backward pass and on Tensors, with `xp` being
`polygrad.namespace.ops`, under `create_graph=True`; so for grad of grad they may only
call functions both namespaces have (the Array API names, `*_like`, the
built-in primitives, and custom primitives, which are added to both). Rules
need not undo broadcasting: the engine does that.

`vjp=None` declares a primitive without a derivative (like the comparisons):
its results carry no gradient. `nondifferentiable(fn)` does the same for any
Python function of Tensors.
"""

import functools

from .. import backends
from ..namespace import ops
from ..core.engine import no_grad
from ..primitives.table import PRIMITIVES, defprim
from .transforms import _detached


def primitive(forward=None, *, vjp, jvp=None, name=None, doc=None, promotion=None):
    """Add `forward` with its rules to the table; returns the public function.

    Use as `primitive(forward, vjp=[...], jvp=[...])` or as a decorator
    `@primitive(vjp=[...], jvp=[...])`. The name defaults to forward's; it must
    not clash with an existing function of `polygrad.namespace.ops`. `promotion` is the
    table's (e.g. "mixed": integer operands meeting floats compute in floats). Without jvp rules,
    forward mode through the primitive raises instead of giving zero tangents.
    """
    if forward is None:
        return lambda function: primitive(function, vjp=vjp, jvp=jvp, name=name, doc=doc, promotion=promotion)
    name = name or forward.__name__
    if name in PRIMITIVES or hasattr(ops, name):
        raise ValueError(f"custom primitive: the name {name!r} is taken; pick another with name=")
    if jvp is None and vjp is not None:
        jvp = _missing_jvp(name)
    entry = defprim(name, forward, vjp=vjp, jvp=jvp, doc=doc or forward.__doc__ or "", promotion=promotion)
    function = ops._public(entry)
    # Rules call xp.<name>: make it exist on Tensors (create_graph) and on raw arrays.
    setattr(ops, name, function)
    backends.extend_namespaces({name: forward})
    return function


def _missing_jvp(name):
    def rule(xp, tangents, out, *inputs, **options):
        raise NotImplementedError(
            f"{name}: this custom primitive has no jvp rule, so forward mode cannot go through it; "
            "define it with jvp=[...]"
        )

    return rule


def nondifferentiable(fn):
    """fn, with results that carry no gradient and no tangent (constants to autograd).

    For functions such as rounding, sampling or host-side bookkeeping: calling
    them on tensors that require grad works, and nothing flows back through them.
    """
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with no_grad():
            return _detached(fn(*args, **kwargs))

    return wrapper
