"""Mixed precision, as PyTorch's `torch.amp`: `autocast`, `GradScaler`, and the per-device spellings
`pg.cuda.amp.autocast()` / `pg.cpu.amp.autocast()` / `pg.cuda.amp.GradScaler()`.

The op lists live in `policy.py`, the region machinery in `autocast_mode.py`, loss scaling in
`grad_scaler.py`.
"""

import functools

from .. import functional
from ..methods import pytorch_face
from .autocast_mode import autocast, custom_bwd, custom_fwd, get_autocast_dtype, install, is_autocast_enabled
from .grad_scaler import GradScaler

__all__ = ["autocast", "GradScaler", "is_autocast_enabled", "get_autocast_dtype", "custom_fwd", "custom_bwd"]

install(functional, pytorch_face)


class DeviceAmp:
    """`pg.cuda.amp` / `pg.cpu.amp`: autocast and GradScaler with the device type filled in."""

    def __init__(self, device_type):
        self.device_type = device_type
        self.GradScaler = functools.partial(GradScaler, device_type)

    def autocast(self, enabled=True, dtype=None, cache_enabled=True):
        return autocast(self.device_type, dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)

    def __repr__(self):
        return f"polygrad.{self.device_type}.amp"


cuda = DeviceAmp("cuda")
cpu = DeviceAmp("cpu")
