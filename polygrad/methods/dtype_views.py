"""PyTorch's `Tensor.view(dtype)` beside `view(*sizes)`: NumPy-style code (scipy's RBFInterpolator)
calls `d.view(float)` on a float64 array, which is the array itself. A view with the tensor's own
dtype is an alias, as in PyTorch; reading the bits as another dtype is refused with the fix named,
never answered with converted values.
"""

from ..core import dtypes
from ..core.errors import DtypeError
from ..namespace import ops


def view(self, *shape):
    """A view of another shape (`view(2, 3)`, `view((2, 3))`, `view(-1)`), or `view(dtype)`."""
    if len(shape) == 1 and not isinstance(shape[0], (tuple, list)) and not hasattr(shape[0], "__index__"):
        target = dtypes.get(shape[0])
        if target != self.dtype:
            raise DtypeError(f"Tensor.view({target.name}): reading the bits of a {self.dtype.name} tensor as "
                             f"{target.name} is not supported; .to({target.name}) converts the values")
        return ops.reshape(self, self.shape)  # an alias, as every view
    return self.reshape(*shape)
