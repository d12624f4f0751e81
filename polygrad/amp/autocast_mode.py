"""autocast: ops run in lower precision where PyTorch runs them so, per device type.

    with pg.autocast("cpu", dtype=pg.bfloat16):
        loss = loss_fn(model(x), y)     # matmuls in bfloat16, losses in float32
    loss.backward()                     # outside: each gradient in its tensor's dtype

While a region is on, the engine hands every primitive's inputs to `_cast_primitive` (one check per
op when none is on), and the functions of `policy.py` that are composites run through `_region`:
their inputs cast once, their insides not autocast again (as PyTorch excludes autocast inside an
autocast kernel). Which device type a tensor belongs to: "cuda" for cuda devices, "cpu" otherwise.
"""

import functools
import threading
import warnings

from ..core import dtypes, engine
from ..core.tensor import Tensor
from . import policy

DEVICE_TYPES = tuple(policy.TABLES)


class _Modes(threading.local):
    def __init__(self):
        self.enabled = dict.fromkeys(DEVICE_TYPES, False)
        self.dtype = {kind: dtypes.get(policy.DEFAULT_DTYPE[kind]) for kind in DEVICE_TYPES}
        self.depth = 0  # nested autocast regions entered
        # As PyTorch: within the outermost region, a float32 leaf that requires grad (a parameter) is cast
        # to the low dtype once, however often the forward uses it (an RNN's weights, every step):
        # id -> (parameter, its version, target dtype, the cast). Emptied when the outermost region exits.
        self.cache = {}
        self.cache_enabled = True


_modes = _Modes()


def _check_device_type(device_type, where):
    if not isinstance(device_type, str):
        raise ValueError(f"{where}: expected `device_type` of type `str`, got: `{type(device_type)}`")
    if device_type not in DEVICE_TYPES:
        raise RuntimeError(f"{where}: unsupported device_type {device_type!r}; polygrad's autocast knows "
                           f"{', '.join(map(repr, DEVICE_TYPES))}")


def is_autocast_enabled(device_type="cuda"):
    """Whether autocast is on for `device_type` ("cpu" or "cuda"; PyTorch's default is "cuda")."""
    _check_device_type(device_type, "is_autocast_enabled")
    return _modes.enabled[device_type]


def get_autocast_dtype(device_type):
    """The dtype autocast casts to on `device_type` (default bfloat16 on "cpu", float16 on "cuda")."""
    _check_device_type(device_type, "get_autocast_dtype")
    return _modes.dtype[device_type]


class autocast:  # noqa: N801 (PyTorch's name)
    """Run the ops of a region in lower precision as PyTorch's autocast does on `device_type`.

    A context manager or a decorator; nests (the inner one decides until it exits). An unsupported
    dtype (float64, float32, an integer dtype) warns and disables, as PyTorch does; so does "cuda"
    where no CUDA device is reachable. `cache_enabled=False` casts parameters anew at every use.
    """

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        self._cache_enabled = True if cache_enabled is None else bool(cache_enabled)
        _check_device_type(device_type, "autocast")
        self.device = device_type
        self.fast_dtype = dtypes.get(policy.DEFAULT_DTYPE[device_type] if dtype is None else dtype)
        self._enabled = bool(enabled)
        if self._enabled and self.fast_dtype.name not in policy.SUPPORTED[device_type]:
            warnings.warn(f"autocast: {device_type} autocast supports {' and '.join(policy.SUPPORTED[device_type])}, "
                          f"not {self.fast_dtype}; disabling autocast", UserWarning, stacklevel=2)
            self._enabled = False
        if self._enabled and device_type == "cuda" and not _cuda_available():
            warnings.warn("autocast: CUDA is not available; disabling autocast", UserWarning, stacklevel=2)
            self._enabled = False
        self._saved = []

    def __enter__(self):
        self._saved.append((_modes.enabled[self.device], _modes.dtype[self.device], _modes.cache_enabled))
        _modes.enabled[self.device] = self._enabled
        _modes.dtype[self.device] = self.fast_dtype
        _modes.cache_enabled = self._cache_enabled
        _modes.depth += 1
        _refresh()
        return self

    def __exit__(self, *exc):
        _modes.enabled[self.device], _modes.dtype[self.device], _modes.cache_enabled = self._saved.pop()
        _modes.depth -= 1
        if _modes.depth == 0:
            _modes.cache.clear()
        _refresh()
        return False

    def __call__(self, function):
        @functools.wraps(function)
        def decorated(*args, **kwargs):
            with autocast(self.device, self.fast_dtype, self._enabled):
                return function(*args, **kwargs)

        return decorated


def _cuda_available():
    from .. import backends

    return any(d.name.startswith("cuda") for name in backends.available() for d in backends.get(name).devices())


def _refresh():
    """The engine's hook: on while any device type has autocast on."""
    on = any(_modes.enabled.values())
    engine.state.autocast = _cast_primitive if on else None
    engine.state.autocast_mode = tuple((kind, _modes.dtype[kind].name) for kind in DEVICE_TYPES
                                       if _modes.enabled[kind]) if on else None


# ---------------------------------------------------------------- casting
def _device_type(tensor):
    return "cuda" if tensor.device.name.startswith("cuda") else "cpu"


def _eligible(tensor, device_type):
    """Floating, not float64, on the device type: what PyTorch's autocast casts."""
    dtype = tensor.dtype
    return dtype.kind == "real floating" and dtype.name != "float64" and _device_type(tensor) == device_type


def _plan(name, tensors):
    """(policy, target dtype, device type) for op `name` on these tensors; None when autocast leaves it alone."""
    first = next((t for t in tensors if isinstance(t, Tensor) and t.dtype.kind == "real floating"), None)
    if first is None:
        return None
    device_type = _device_type(first)
    if not _modes.enabled[device_type]:
        return None
    rule = policy.TABLES[device_type].get(name)
    if rule is None:
        return None
    if rule == "banned":
        raise RuntimeError(policy.BANNED_MESSAGE)
    low = _modes.dtype[device_type]
    if rule == "lower":
        return rule, low, device_type
    if rule == "promote":
        widest = any(t.dtype == dtypes.float32 for t in tensors if isinstance(t, Tensor) and _eligible(t, device_type))
        return rule, dtypes.float32 if widest else low, device_type
    return rule, dtypes.float32, device_type  # fp32 and norm


def _cast(value, target, device_type):
    if not (isinstance(value, Tensor) and _eligible(value, device_type) and value.dtype is not target):
        return value
    if not (_modes.cache_enabled and value.requires_grad and value._op is None and value.dtype == dtypes.float32
            and target is _modes.dtype[device_type] and engine.state.grad_enabled):
        return value.to(dtype=target)
    hit = _modes.cache.get(id(value))
    if hit is None or hit[0] is not value or hit[1] != value._version or hit[2] is not target:
        hit = _modes.cache[id(value)] = (value, value._version, target, value.to(dtype=target))
    return hit[3]


def _cast_primitive(name, inputs):
    plan = _plan(name, inputs)
    if plan is None:
        return inputs
    _, target, device_type = plan
    return [_cast(t, target, device_type) for t in inputs]


def _flat(args, kwargs):
    """The tensors among a call's arguments, one level into lists and tuples (cat's, stack's)."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, (list, tuple)):
            yield from value
        else:
            yield value


def _cast_argument(value, target, device_type):
    if isinstance(value, (list, tuple)):
        return type(value)(_cast(v, target, device_type) for v in value)
    return _cast(value, target, device_type)


def region(name, function):
    """`function` (a composite op named `name` in the policy tables) run under its policy."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        hook = engine.state.autocast
        if hook is None:
            return function(*args, **kwargs)
        plan = _plan(name, list(_flat(args, kwargs)))
        if plan is None:
            return function(*args, **kwargs)
        rule, target, device_type = plan
        first = next(t for t in _flat(args, kwargs) if isinstance(t, Tensor) and t.dtype.kind == "real floating")
        args = [_cast_argument(a, target, device_type) for a in args]
        kwargs = {k: _cast_argument(v, target, device_type) for k, v in kwargs.items()}
        engine.state.autocast = None  # the op's insides are not autocast again
        try:
            out = function(*args, **kwargs)
        finally:
            engine.state.autocast = hook
        if rule == "norm" and isinstance(out, Tensor) and out.dtype is not first.dtype:
            out = out.to(dtype=first.dtype)
        return out

    wrapper.autocast_op = name
    return wrapper


def install(*modules):
    """Wrap, in each module, the functions the policy tables name (once; the engine covers primitives)."""
    names = set().union(*policy.TABLES.values())
    for module in modules:
        for name in names:
            function = getattr(module, name, None)
            if callable(function) and not isinstance(function, type) and not hasattr(function, "autocast_op"):
                setattr(module, name, region(name, function))


# ---------------------------------------------------------------- custom Functions
def custom_fwd(fwd=None, *, device_type, cast_inputs=None):
    """Decorate a `pg.autograd.Function`'s forward, as PyTorch's `torch.amp.custom_fwd`.

    With `cast_inputs` (a floating dtype), inside an autocast region of `device_type` the forward gets
    its floating tensors cast to it and runs with autocast off; without, it runs as called. Either way
    `custom_bwd` then runs backward under the autocast state forward ran in.
    """
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)
    _check_device_type(device_type, "custom_fwd")

    @functools.wraps(fwd)
    def forward(ctx, *args, **kwargs):
        ctx.autocast_state = (_modes.enabled[device_type], _modes.dtype[device_type])
        if cast_inputs is None or not ctx.autocast_state[0]:
            return fwd(ctx, *args, **kwargs)
        target = dtypes.get(cast_inputs)
        ctx.autocast_state = (False, ctx.autocast_state[1])
        args = [_cast_argument(a, target, device_type) for a in args]
        kwargs = {k: _cast_argument(v, target, device_type) for k, v in kwargs.items()}
        with autocast(device_type, enabled=False):
            return fwd(ctx, *args, **kwargs)

    return forward


def custom_bwd(bwd=None, *, device_type):
    """Decorate the matching backward: it runs under the autocast state its forward ran in."""
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)
    _check_device_type(device_type, "custom_bwd")

    @functools.wraps(bwd)
    def backward(ctx, *grads):
        enabled, dtype = ctx.autocast_state
        with autocast(device_type, dtype=dtype, enabled=enabled):
            return bwd(ctx, *grads)

    return backward
