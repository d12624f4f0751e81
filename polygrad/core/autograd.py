"""Reverse mode entry points: `Tensor.backward` (installed on Tensor by `install`) and `polygrad.autograd.grad`."""

from .engine import run_backward
from .errors import DeviceMismatchError, ShapeError, describe
from .function import Function  # noqa: F401  (pg.autograd.Function)
from .placement import as_native
from .tensor import Tensor


def _root_grads(roots, grads, create_graph):
    """The seed gradient of each root: ones for a scalar, else the one given."""
    result = []
    for i, root in enumerate(roots):
        if not root.requires_grad:
            raise RuntimeError(
                f"backward: output {i} ({describe(root)}) does not require grad; "
                "did you create the inputs with requires_grad=True, or run under no_grad()?"
            )
        grad = None if grads is None else grads[i]
        if grad is None:
            if root.size != 1:
                raise ShapeError(
                    f"backward: output {i} is not a scalar ({describe(root)}); "
                    "pass grad= with the same shape (the vector in the vector-Jacobian product)"
                )
            grad = root.xp.ones(root.shape, dtype=root.array.dtype, device=root.device.native)
        else:
            if not isinstance(grad, Tensor):
                grad = Tensor._wrap(*as_native(grad, dtype=root.dtype, device=root.device))
            if grad.device != root.device:
                raise DeviceMismatchError(f"backward: grad is {describe(grad)} but the output is {describe(root)}")
            if grad.shape != root.shape:
                raise ShapeError(f"backward: grad is {describe(grad)} but the output is {describe(root)}")
            grad = grad if create_graph else grad.array
        if create_graph and not isinstance(grad, Tensor):
            grad = Tensor._wrap(grad, root.device)
        result.append(grad)
    return result


def backward(roots, grads=None, retain_graph=False, create_graph=False, inputs=None):
    """Accumulate gradients of `roots` (a Tensor or a sequence) into the `.grad` of every leaf they
    depend on, or, given `inputs`, into those tensors' only (leaves or not; one not reached keeps its .grad)."""
    if isinstance(roots, Tensor):
        roots = [roots]
    if isinstance(grads, Tensor):
        grads = [grads]
    accumulate = _accumulate_create_graph if create_graph else _accumulate
    root_grads = _root_grads(roots, grads, create_graph)
    if inputs is None:
        run_backward(roots, root_grads, retain_graph, create_graph, on_leaf=accumulate)
        return
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if not inputs:
        raise ValueError("backward: inputs must not be empty (leave it out to accumulate into every leaf)")
    buffer, _ = run_backward(roots, root_grads, retain_graph, create_graph)
    for tensor in inputs:
        g = buffer.get(id(tensor))
        if g is not None:
            accumulate(tensor, g if create_graph else tensor.xp.asarray(g, copy=True))


def _accumulate(leaf, grad):
    if leaf.grad is None:
        leaf.grad = Tensor._wrap(grad, leaf.device)
    else:
        leaf.grad.array += grad
    _post_accumulate(leaf)


def _accumulate_create_graph(leaf, grad):
    leaf.grad = grad if leaf.grad is None else leaf.grad + grad
    _post_accumulate(leaf)


def _post_accumulate(leaf):
    if leaf._hooks is not None:
        for hook in list(leaf._hooks.get("post_accumulate_grad", ())):
            hook(leaf)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=True):
    """Gradients of `outputs` with respect to `inputs`, returned, not accumulated.

    An input the outputs do not depend on gets a zero gradient by default (PyTorch
    returns None there; zeros keep the result usable in arithmetic), and raises with
    allow_unused=False. `retain_graph` defaults to `create_graph`.

    As in PyTorch, the result is a tuple with one gradient per input, even for a
    single input Tensor, and a single Tensor as `grad_outputs` is the one output's
    gradient (not a sequence to index).
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    if retain_graph is None:
        retain_graph = create_graph
    buffer, _ = run_backward(outputs, _root_grads(outputs, grad_outputs, create_graph), retain_graph, create_graph)
    result = []
    for position, tensor in enumerate(inputs):
        g = buffer.get(id(tensor))
        if g is None:
            if not allow_unused:
                raise RuntimeError(f"grad: input {position} ({describe(tensor)}) was not used to compute the outputs")
            g = tensor.xp.zeros(tensor.shape, dtype=tensor.array.dtype, device=tensor.device.native)
        if not isinstance(g, Tensor):
            g = Tensor._wrap(g, tensor.device)
        result.append(g)
    return tuple(result)



def _tensor_backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None, *, grad=None):
    """Accumulate d(self)/d(leaf) into every leaf's `.grad`, as PyTorch's Tensor.backward.

    `gradient` (or `grad`) is self's own gradient (needed unless self has one entry).
    Leaves accumulate across calls until zeroed (`.grad = None` or `zero_grad()`).
    A second backward through the same graph needs `retain_graph=True` the first
    time (it defaults to create_graph). With `inputs`, only those tensors (leaves
    or not) accumulate a gradient.
    """
    gradient = grad if gradient is None else gradient
    retain_graph = create_graph if retain_graph is None else retain_graph
    backward([self], None if gradient is None else [gradient], retain_graph, create_graph, inputs=inputs)


def install(tensor_class):
    tensor_class.backward = _tensor_backward
