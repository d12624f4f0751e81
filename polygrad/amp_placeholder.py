"""Stand-in for `polygrad.amp` (PyTorch's torch.amp / torch.cuda.amp) until mixed precision is built.

The mixed-precision issue builds the real autocast and GradScaler in
`polygrad.amp`; torch_import uses that module as soon as it exists, and this
file can then be deleted. Until then, the names resolve and do what PyTorch does
in the cases that need no mixed precision: disabled (`enabled=False`), or
asked for CUDA on a machine without it (PyTorch warns and disables itself).
Anything that would need real mixed precision raises NotImplementedError.
"""

import functools
import warnings

from .pytorch_face import cuda


def _enabled(enabled, device_type, what):
    """Whether the caller asked for real mixed precision; PyTorch turns itself off for CUDA without CUDA."""
    if not enabled:
        return False
    if str(device_type).startswith("cuda") and not cuda.is_available():
        warnings.warn(f"{what}: CUDA is not available; disabling it (as torch does)", stacklevel=3)
        return False
    raise NotImplementedError(f"{what}(enabled=True) on {device_type!r}: polygrad has no mixed precision yet; "
                              "run in float32 (enabled=False)")


class autocast:  # noqa: N801 (PyTorch's name)
    """torch.amp.autocast / torch.cuda.amp.autocast: a context (and decorator) that, disabled, does nothing."""

    def __init__(self, device_type="cuda", dtype=None, enabled=True, cache_enabled=None):
        _enabled(enabled, device_type, "autocast")
        self.device_type, self.fast_dtype = device_type, dtype

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __call__(self, function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with self:
                return function(*args, **kwargs)

        return wrapper


class GradScaler:
    """torch.amp.GradScaler / torch.cuda.amp.GradScaler: disabled, each call is what it is without scaling."""

    def __init__(self, device="cuda", init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000,
                 enabled=True):
        _enabled(enabled, device, "GradScaler")

    def is_enabled(self):
        return False

    def scale(self, outputs):
        return outputs

    def unscale_(self, optimizer):
        pass

    def step(self, optimizer, *args, **kwargs):
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale=None):
        pass

    def get_scale(self):
        return 1.0

    def state_dict(self):
        return {}

    def load_state_dict(self, state_dict):
        pass
