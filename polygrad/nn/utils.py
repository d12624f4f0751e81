"""PyTorch's `torch.nn.utils` helpers: gradient clipping, flat parameter vectors and `rnn` (pad_sequence, packed sequences)."""

import math

from ..namespace import ops
from ..core.engine import no_grad
from ..optim.clip import clip_grad_norm_  # noqa: F401 (torch.nn.utils.clip_grad_norm_)
from ..core.tensor import Tensor
from . import rnn_utils as rnn  # noqa: F401  (pg.nn.utils.rnn, as torch.nn.utils.rnn)


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient entry into [-clip_value, clip_value], in place."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for p in params:
        if p.grad is not None:
            p.grad.clamp_(-clip_value, clip_value)


def parameters_to_vector(parameters):
    """Every parameter flattened and concatenated into one 1-D tensor (in the graph, as in PyTorch)."""
    return ops.concat([ops.reshape(p, (-1,)) for p in parameters], axis=0)


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of the 1-D `vec` into the parameters, in place."""
    params = list(parameters)
    total = sum(math.prod(p.shape) for p in params)
    if vec.ndim != 1 or vec.shape[0] != total:
        raise ValueError(f"vector_to_parameters: vec has shape {vec.shape}, the parameters hold {total} numbers")
    start = 0
    with no_grad():
        for p in params:
            n = math.prod(p.shape)
            p.copy_(ops.reshape(vec[start:start + n], p.shape))
            start += n
