"""GradScaler: dynamic loss scaling, with PyTorch's API, states, errors and update rule.

    scaler = pg.amp.GradScaler("cpu")
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)                       # optional: then clip the true gradients
    pg.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)                           # skipped when a gradient is inf or NaN
    scaler.update()                                  # back off after a skip, grow after growth_interval good steps

The scale is kept as a float32 value, as PyTorch keeps it in a float32 tensor, so the sequence
of scales is PyTorch's bit for bit. Works with every optimizer: it only reads `param_groups` and
calls `step()`. Under pg.compile, compile the forward and `scaler.scale(loss).backward()` (the scale is
a tensor updated in place, read afresh by every replay) and call `step`/`update` outside: whether to
skip depends on the gradients' values, which a compiled program cannot branch on.
"""

import enum
import math
import struct
import warnings

from ..namespace import ops
from ..namespace.ops import asarray
from ..core.engine import no_grad
from ..core.tensor import Tensor


class _Stage(enum.Enum):
    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _float32(value):
    """`value` rounded to float32 (to the nearest, ties to even; inf past float32's range)."""
    try:
        return struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        return math.copysign(math.inf, value)


class GradScaler:
    """PyTorch's `torch.amp.GradScaler(device, init_scale, growth_factor, backoff_factor, growth_interval, enabled)`."""

    def __init__(self, device="cuda", init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000,
                 enabled=True):
        self._device = device
        self._enabled = enabled
        if enabled and device == "cuda":
            from .autocast_mode import _cuda_available

            if not _cuda_available():
                warnings.warn("GradScaler: enabled for 'cuda', but CUDA is not available; disabling", UserWarning,
                              stacklevel=2)
                self._enabled = False
        if self._enabled:
            if growth_factor <= 1.0:
                raise ValueError(f"GradScaler: growth_factor must be above 1.0, got {growth_factor}")
            if backoff_factor >= 1.0:
                raise ValueError(f"GradScaler: backoff_factor must be below 1.0, got {backoff_factor}")
        self._init_scale = init_scale
        self._scale = None  # set by the first scale(), as in PyTorch
        self._growth_factor = growth_factor
        self._backoff_factor = backoff_factor
        self._growth_interval = growth_interval
        self._growth_tracker = 0
        self._per_optimizer = {}
        self._scale_tensors = {}

    # ---- scaling ---------------------------------------------------------
    def scale(self, outputs):
        """`outputs` (a tensor, or lists/tuples of them) times the scale; unchanged when disabled."""
        if not self._enabled:
            return outputs
        if self._scale is None:
            self._scale = _float32(self._init_scale)
        if isinstance(outputs, Tensor):
            return outputs * self._scale_on(outputs.device)
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise ValueError(f"GradScaler.scale: outputs must be a tensor or an iterable of tensors, got "
                         f"{type(outputs).__name__}")

    def _scale_on(self, device):
        """The scale as a 0-d float32 tensor on `device`, one per device, kept and updated in place: a
        pg.compile'd function that scales reads it as state, never a stale constant."""
        scale = self._scale_tensors.get(device)
        if scale is None:
            scale = self._scale_tensors[device] = asarray(self._scale, dtype="float32", device=device)
        return scale

    def _set_scale(self, value):
        self._scale = value
        with no_grad():
            for scale in self._scale_tensors.values():
                scale.fill_(value)

    def _state(self, optimizer):
        return self._per_optimizer.setdefault(id(optimizer), {"stage": _Stage.READY, "found_inf": None})

    def _require_scale(self, where):
        if self._scale is None:
            raise RuntimeError(f"GradScaler.{where}: the scale is not set yet: call scaler.scale(loss) first in the "
                               "iteration")

    def unscale_(self, optimizer):
        """Divide `optimizer`'s gradients by the scale, in place, noting whether any is inf or NaN."""
        if not self._enabled:
            return
        self._require_scale("unscale_")
        state = self._state(optimizer)
        if state["stage"] is _Stage.UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        if state["stage"] is _Stage.STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        for g in grads:
            if g.dtype == "float16":
                raise ValueError("GradScaler.unscale_: attempting to unscale float16 gradients; keep float32 master "
                                 "weights (a float32 model under autocast) rather than a .half() model")
        inverse = _float32(1.0 / self._scale)  # PyTorch: the reciprocal in double, rounded to float32
        with no_grad():
            finite = [ops.all(ops.isfinite(g)) for g in grads]
            for g in grads:
                g.mul_(inverse)
        # one read-back per device, after all gradients are scaled
        state["found_inf"] = any(not bool(ops.all(ops.stack([f.to(group[0].device) for f in group])))
                                 for group in _by_device(finite))
        state["stage"] = _Stage.UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """`optimizer.step()` unless a gradient is inf or NaN (then skipped, returning None)."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        self._require_scale("step")
        state = self._state(optimizer)
        if state["stage"] is _Stage.STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] is _Stage.READY:
            self.unscale_(optimizer)
        result = None if state["found_inf"] else optimizer.step(*args, **kwargs)
        state["stage"] = _Stage.STEPPED
        return result

    def update(self, new_scale=None):
        """Set the next scale: `new_scale` if given, else backoff after an inf/NaN, growth after
        `growth_interval` clean steps in a row."""
        if not self._enabled:
            return
        self._require_scale("update")
        if new_scale is not None:
            if isinstance(new_scale, Tensor):
                if new_scale.size != 1 or new_scale.dtype != "float32" or new_scale.requires_grad:
                    raise ValueError("GradScaler.update: new_scale must be a float or a 1-element float32 tensor "
                                     "with requires_grad=False")
                new_scale = new_scale.item()
            self._set_scale(_float32(new_scale))
        else:
            found = [s["found_inf"] for s in self._per_optimizer.values() if s["found_inf"] is not None]
            if not found:
                raise RuntimeError("GradScaler.update: no inf checks were recorded prior to update (call "
                                   "scaler.step(optimizer) or scaler.unscale_(optimizer) first)")
            if any(found):
                self._set_scale(_float32(self._scale * self._backoff_factor))
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    grown = _float32(self._scale * self._growth_factor)
                    if math.isfinite(grown):
                        self._set_scale(grown)
                    self._growth_tracker = 0
        self._per_optimizer = {}

    # ---- getters, setters, state ------------------------------------------
    def get_scale(self):
        """The current scale (the initial one before the first scale()); 1.0 when disabled."""
        if not self._enabled:
            return 1.0
        return _float32(self._init_scale) if self._scale is None else self._scale

    def get_growth_factor(self):
        return self._growth_factor

    def set_growth_factor(self, new_factor):
        self._growth_factor = new_factor

    def get_backoff_factor(self):
        return self._backoff_factor

    def set_backoff_factor(self, new_factor):
        self._backoff_factor = new_factor

    def get_growth_interval(self):
        return self._growth_interval

    def set_growth_interval(self, new_interval):
        self._growth_interval = new_interval

    def _get_growth_tracker(self):
        return self._growth_tracker if self._enabled else 0

    def is_enabled(self):
        return self._enabled

    def state_dict(self):
        """PyTorch's keys; empty when disabled."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor, "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval, "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict):
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("GradScaler.load_state_dict: the state dict is empty, possibly because it was saved "
                               "from a disabled GradScaler")
        self._init_scale = state_dict["scale"]
        if self._scale is not None:
            self._set_scale(_float32(state_dict["scale"]))
        self._growth_factor = state_dict["growth_factor"]
        self._backoff_factor = state_dict["backoff_factor"]
        self._growth_interval = state_dict["growth_interval"]
        self._growth_tracker = state_dict["_growth_tracker"]


def _by_device(tensors):
    groups = {}
    for t in tensors:
        groups.setdefault(t.device, []).append(t)
    return list(groups.values())
