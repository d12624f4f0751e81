"""The seed's own engine, on raw arrays of any backend.

This is the API of the recitation the project grew from: an operation list, a
gradient buffer with one spot per input array, backward functions called in
reverse order, and "always +=". It shares its backward functions with the
Tensor engine (`polygrad.functional.<name>_backward`).

    autograd = Autograd()
    z = W @ x;  autograd.add_operation([W, x], z, [dW, None], matmul_backward)
    y = z + b;  autograd.add_operation([z, b], y, [None, db], add_backward)
    autograd.backward(dy)   # dW and db now hold their gradients
"""

import reprlib

from .. import backends
from ..core.tensor import Tensor


def _backend_of(array, what):
    """The backend of a raw array; anything else is a TypeError naming `what`."""
    backend = backends.find_for_array(array)
    if backend is None:
        hint = (" (a polygrad Tensor: pass tensor.array, or use the Tensor engine's backward())"
                if isinstance(array, Tensor) else
                "; wrap constants in an array of the inputs' backend, e.g. xp.asarray(2.0)")
        shown = reprlib.repr(array)
        raise TypeError(f"{what} is a {type(array).__name__} ({shown}), not an array of a known backend: "
                        f"the seed API records raw arrays only{hint}")
    return backend


def _divergence_like(output, divergence):
    """The handout's `backward(1)`: a Python number or 0-d array becomes an array
    shaped like the last output, on its device, with its dtype."""
    xp = _backend_of(output, "backward: the last operation's output").xp
    if not isinstance(divergence, (int, float)):
        _backend_of(divergence, "backward: the divergence")
    if isinstance(divergence, (int, float)) or divergence.ndim == 0:
        return xp.zeros_like(output) + xp.asarray(divergence, dtype=output.dtype, device=output.device)
    if tuple(divergence.shape) != tuple(output.shape):
        raise ValueError(f"backward: the divergence has shape {tuple(divergence.shape)} "
                         f"but the last output has shape {tuple(output.shape)}")
    return divergence


class GradientBuffer:
    """One gradient spot per array, keyed by the array's identity.

    Identity, not memory address: views share addresses and CuPy arrays have
    none the host can read. The buffer keeps each array alive, so its id stays
    its own while the spot exists.
    """

    def __init__(self):
        self.memory = {}  # id(array) -> (array, gradient)

    def is_in_memory(self, array):
        return id(array) in self.memory

    def add_spot(self, array):
        """A zero gradient on the array's own device, with its dtype."""
        if not self.is_in_memory(array):
            xp = _backend_of(array, "add_spot: the array").xp
            self.memory[id(array)] = (array, xp.zeros_like(array))

    def update_param(self, array, gradient):
        self.add_spot(array)
        spot = self.memory[id(array)]
        total = spot[1]
        total += gradient
        self.memory[id(array)] = (array, total)

    def get_param(self, array):
        if not self.is_in_memory(array):
            raise KeyError("get_param: this array has no spot in the gradient buffer")
        return self.memory[id(array)][1]

    def set_param(self, array, gradient):
        self.memory[id(array)] = (array, gradient)

    def clear(self):
        self.memory.clear()


class Operation:
    def __init__(self, inputs, output, gradients_to_update, backward_operation):
        self.inputs = inputs
        self.output = output
        self.gradients_to_update = gradients_to_update
        self.backward_operation = backward_operation


class Autograd:
    """An explicit operation list over raw arrays."""

    def __init__(self):
        self.gradient_buffer = GradientBuffer()
        self.operation_list = []

    def add_operation(self, inputs, output, gradients_to_update, backward_operation):
        """Record one operation. `gradients_to_update[i]` is an array that receives
        input i's gradient with +=, or None to keep it in the gradient buffer."""
        if len(inputs) != len(gradients_to_update):
            raise ValueError(
                f"add_operation: {len(inputs)} inputs but {len(gradients_to_update)} gradients_to_update"
            )
        for i, array in enumerate(inputs):  # all checked before anything is recorded
            _backend_of(array, f"add_operation: inputs[{i}]")
        for array in inputs:
            self.gradient_buffer.add_spot(array)
        self.operation_list.append(Operation(inputs, output, gradients_to_update, backward_operation))

    def backward(self, divergence):
        """Walk the operation list in reverse, starting from d(loss)/d(last output)."""
        if not self.operation_list:
            raise RuntimeError("backward: the operation list is empty")
        output = self.operation_list[-1].output
        self.gradient_buffer.set_param(output, _divergence_like(output, divergence))
        for operation in reversed(self.operation_list):
            grad_output = self.gradient_buffer.get_param(operation.output)
            grads = operation.backward_operation(grad_output, *operation.inputs)
            for array, grad, external in zip(operation.inputs, grads, operation.gradients_to_update):
                if grad is None:
                    continue
                if external is None:
                    self.gradient_buffer.update_param(array, grad)
                else:
                    external += grad

    def zero_grad(self):
        self.gradient_buffer.clear()
        self.operation_list = []
