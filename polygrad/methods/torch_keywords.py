"""The pg.* functions that take PyTorch's keywords too: `pg.sum(x, dim=1, keepdim=True)`, `pg.max(x, 1)`
giving (values, indices), `pg.cat`, and PyTorch functions the standard has no name for (`pg.gather`,
`pg.topk`, ...), each the Tensor method of the same name (polygrad/__init__.py exports FUNCTIONS)."""

import functools
import inspect

from ..core.tensor import Tensor
from ..namespace import medians, ops, standard
from ..namespace.ops import asarray
from .torch_methods import _check_call  # (loading it installs the methods these functions call)

_TORCH_KEYWORDS = frozenset({"dim", "keepdim", "unbiased", "dims", "shifts", "decimals"})


def torch_face(standard, method, tensor_first=True):
    """`standard` (a pg.* function), except that PyTorch's calls select `method`'s meaning:
    a PyTorch keyword, or more positional arguments than the standard's signature has
    (`pg.max(x, 1)`: the standard's axis is keyword-only, so only PyTorch code passes
    it by position, and `_, predicted = torch.max(outputs, 1)` must get the indices).

    functools.wraps keeps the standard's name, docstring and signature visible.
    With tensor_first, data given for the first argument is made a Tensor for `method`.
    """
    P = inspect.Parameter
    by_position = [p for p in inspect.signature(standard).parameters.values()
                   if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)]
    positional = len(by_position)
    required = len([p for p in by_position if p.default is P.empty])  # torch.squeeze(x) leaves out the standard's axis

    @functools.wraps(standard)
    def function(x, *args, **kwargs):
        if required <= len(args) + 1 + len(kwargs) and len(args) < positional and _TORCH_KEYWORDS.isdisjoint(kwargs):
            try:
                return standard(x, *args, **kwargs)
            except TypeError:
                _check_call(standard.__name__, standard, x, args, kwargs, method=False)
                raise
        if tensor_first and not isinstance(x, Tensor):
            x = asarray(x)
        return method(x, *args, **kwargs)

    return function


def cat(tensors, dim=0, *, axis=None):
    """PyTorch's cat: the standard's concat along `dim`."""
    return ops.concat(list(tensors), axis=dim if axis is None else axis)


def stack(tensors, dim=0, *, axis=None):
    return ops.stack(list(tensors), axis=dim if axis is None else axis)


# the pg.* functions that take PyTorch keywords too (polygrad/__init__.py exports these)
FUNCTIONS = {
    name: torch_face(getattr(ops, name, None) or getattr(standard, name), getattr(Tensor, name))
    for name in ("sum", "mean", "prod", "max", "min", "std", "var", "argmax", "argmin", "logsumexp",
                 "softmax", "log_softmax", "squeeze", "sort", "argsort", "flip", "roll", "round")
}


def _function_of(name):
    """PyTorch's `torch.<name>(input, ...)`: the method `input.<name>(...)`."""
    method = getattr(Tensor, name)

    @functools.wraps(method)
    def function(input, *args, **kwargs):
        return method(input if isinstance(input, Tensor) else asarray(input), *args, **kwargs)

    function.__qualname__ = name
    return function


# PyTorch functions the standard has no name for (pg.scatter_add is the primitive behind indexing's gradient)
FUNCTIONS.update({name: _function_of(name) for name in (
    "clamp", "unsqueeze", "transpose", "permute", "movedim", "gather", "scatter", "index_select",
    "index_add", "masked_fill", "masked_select", "topk", "kthvalue", "mode", "norm", "allclose",
    "isclose", "chunk", "split", "unbind", "amax", "amin", "cumsum", "cumprod", "clone", "numel", "mm", "t",
    "div", "lerp", "narrow", "repeat_interleave", "argwhere", "index_fill", "diagonal",
)})
FUNCTIONS.update(median=torch_face(medians.median, Tensor.median))  # NumPy's median; PyTorch's by dim
FUNCTIONS.update(cat=cat, concat=torch_face(ops.concat, cat, tensor_first=False),
                 stack=torch_face(ops.stack, stack, tensor_first=False))
