"""Check derivatives against central finite differences, in float64, on any backend."""

from ..core.autograd import grad
from ..namespace.ops import asarray
from ..core.errors import DtypeError, describe
from ..core.tensor import Tensor
from .transforms import _as_list, basis, jvp, grad as grad_transform


class GradcheckError(AssertionError):
    pass


def _float64(tensor):
    backend, device = tensor.backend, tensor.device
    if not backend.supports_float64(device):
        raise DtypeError(
            f"gradcheck: {describe(tensor)} is on a device without float64; finite differences "
            "need float64 to be meaningful. Run gradcheck on a device that has it."
        )
    return Tensor._wrap(backend.xp.astype(tensor.array, backend.xp.float64), device)


def _projection(outputs, seed):
    """A fixed random cotangent per output, so a vector-valued f checks as a scalar."""
    from ..namespace.random import Generator

    return [Generator(seed + i, out.device).rand(*out.shape, dtype="float64") for i, out in enumerate(outputs)]


def _scalar(f, inputs, weights):
    outputs = _as_list(f(*inputs))
    total = None
    for out, w in zip(outputs, weights):
        term = (out * w).sum()
        total = term if total is None else total + term
    return total


def numerical_grads(f, inputs, weights, eps):
    """d <f(x), w> / dx by central differences, one coordinate at a time."""
    result = []
    for position, x in enumerate(inputs):
        columns = []
        for index in range(x.size):
            step = basis(x, index) * eps
            up = list(inputs)
            down = list(inputs)
            up[position] = x + step
            down[position] = x - step
            difference = _scalar(f, up, weights) - _scalar(f, down, weights)
            columns.append(difference.array / (2 * eps))
        xp = x.xp
        stacked = xp.stack(columns) if columns else xp.zeros((0,), dtype=x.array.dtype, device=x.device.native)
        result.append(Tensor._wrap(xp.reshape(stacked, x.shape), x.device))
    return result


def _compare(what, analytic, numeric, atol, rtol):
    xp = numeric.xp
    difference = xp.abs(analytic.array - numeric.array)
    if not bool(xp.all(difference <= atol + rtol * xp.abs(numeric.array))):
        worst = float(xp.max(difference))
        raise GradcheckError(
            f"gradcheck: {what} differs from finite differences by up to {worst:.3g} "
            f"(atol={atol}, rtol={rtol})\nanalytic:\n{analytic.numpy()}\nnumeric:\n{numeric.numpy()}"
        )


def gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0, check_forward=False):
    """True if f's reverse-mode gradients (and, with check_forward, its forward-mode
    tangents) match central finite differences; raises GradcheckError otherwise.

    `inputs` are Tensors of any backend; they are copied to float64 on their own
    device. f may return one tensor or several.
    """
    inputs = [_float64(asarray(x)) for x in _as_list(inputs)]
    variables = [x.requires_grad_() for x in [Tensor._wrap(x.array, x.device) for x in inputs]]
    weights = _projection(_as_list(f(*inputs)), seed)
    total = _scalar(f, variables, weights)
    # f constant in its inputs (such as the gradient of a linear function): zero derivative
    analytic = grad(total, variables) if total.requires_grad else [x * 0 for x in inputs]
    numeric = numerical_grads(f, inputs, weights, eps)
    for position, (a, n) in enumerate(zip(analytic, numeric)):
        _compare(f"the gradient of input {position}", a, n, atol, rtol)
    if check_forward:
        for position, n in enumerate(numeric):
            tangents = [x * 0 for x in inputs]
            direction = _projection([inputs[position]], seed + 100)[0]
            tangents[position] = direction
            _, tangent_out = jvp(lambda *xs: _scalar(f, xs, weights), inputs, tangents)
            expected = (n * direction).sum()
            _compare(f"the forward-mode tangent along input {position}", tangent_out, expected, atol, rtol)
    return True


def gradgradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """True if f's second derivatives match finite differences; raises GradcheckError otherwise.

    Runs gradcheck on the gradient function x -> d<f(x), w>/dx (w a fixed
    random cotangent), whose reverse-mode derivative comes from differentiating
    the recorded backward pass (create_graph): grad of grad, checked against
    central differences of the first-order gradient.
    """
    inputs = [_float64(asarray(x)) for x in _as_list(inputs)]
    weights = _projection(_as_list(f(*inputs)), seed)
    gradient = grad_transform(lambda *xs: _scalar(f, xs, weights), argnums=tuple(range(len(inputs))))
    return gradcheck(gradient, inputs, eps=eps, atol=atol, rtol=rtol, seed=seed + 1)
