"""Seeded random tensors, reproducible per backend.

Each backend draws with its own seeded generator (NumPy's PCG64 on the host
for numpy and array_api_strict, torch.Generator, cupy's default_rng), so the
same seed gives the same numbers on the same backend. `manual_seed` reseeds
the default generators of every backend and device.
"""

import math
import operator

from ..core import engine
from .creation import _finish
from ..core.placement import shape_of as _shape, resolve_device, resolve_dtype

_seed = 0
_kind_seeds = {}  # a seed for the devices of one kind ("cuda"), set by torch.cuda.manual_seed_all
_generators = {}


class Generator:
    """A seeded source of random tensors on one device."""

    def __init__(self, seed=0, device=None, backend=None):
        self.device = resolve_device(device, backend)
        self.manual_seed(seed)

    def manual_seed(self, seed):
        """Restart from `seed` (PyTorch's `g = pg.Generator().manual_seed(0)`); returns self."""
        self.source = self.device.backend.rng(_seed_value(seed, "Generator"), self.device)
        return self

    def rand(self, *shape, dtype=None, requires_grad=False, low=0.0, high=1.0):
        native = resolve_dtype(dtype, self.device)
        if not low <= high:
            raise ValueError(f"rand: low must be at most high, got low={low!r}, high={high!r}")
        return self._drawn("rand", lambda s: self.source.uniform(s, native, low, high), _shape_of(shape, "rand"),
                           requires_grad)

    def randn(self, *shape, dtype=None, requires_grad=False, mean=0.0, std=1.0):
        native = resolve_dtype(dtype, self.device)
        if not std >= 0:
            raise ValueError(f"randn: std must be non-negative, got {std!r}")
        return self._drawn("randn", lambda s: self.source.normal(s, native, mean, std), _shape_of(shape, "randn"),
                           requires_grad)

    def randint(self, low, high, shape, dtype=None):
        native = resolve_dtype(dtype, self.device, "integral")
        if not (_is_integer(low) and _is_integer(high) and low < high):
            raise ValueError(f"randint: low and high must be integers with low < high, got low={low!r}, high={high!r}")
        return self._drawn("randint", lambda s: self.source.integers(low, high, s, native), _shape(shape, "randint"),
                           False)

    def permutation(self, n, dtype=None):
        native = resolve_dtype(dtype, self.device, "integral")
        if not (_is_integer(n) and n >= 0):
            raise ValueError(f"permutation: n must be a non-negative integer, got {n!r}")
        return self._drawn("permutation", lambda s: self._permutations(s[:-1], n, native), (n,), False)

    def _permutations(self, batch, n, native):
        """One permutation of range(n) per batch entry, shape batch + (n,) (the backends draw one at a time)."""
        if not batch:
            return self.source.permutation(n, native)
        xp = self.device.backend.xp
        each = [self.source.permutation(n, native) for _ in range(math.prod(batch))]
        return xp.reshape(xp.stack(each), batch + (n,))

    def _drawn(self, name, draw, shape, requires_grad):
        """draw(shape) as a tensor; inside vmap(randomness="different") one independent draw per sample
        (the vmap's `spread` draws with a batch axis in front per such level, batched at those levels)."""
        if engine.state.vmap_randomness == "error":  # torch.func's default: one draw per sample is not implied
            raise RuntimeError(f"vmap: called random operation {name} while randomness='error'; pass "
                               "randomness='same' (one draw shared by the batch) or 'different' (one per sample)")

        def made(batch):
            return _finish(draw(batch + tuple(shape)), self.device, requires_grad)

        spread = engine.state.spread
        return made(()) if spread is None else spread(made)

def _shape_of(shape, function):
    """rand(2, 3) and rand((2, 3)) alike."""
    return _shape(shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape, function)


def _is_integer(value):
    try:
        operator.index(value)
    except TypeError:
        return False
    return not isinstance(value, bool)


def _seed_value(seed, function):
    if not _is_integer(seed):
        raise TypeError(f"{function}: the seed must be an integer, got {seed!r}")
    return operator.index(seed)


def manual_seed(seed):
    """Reseed the default generator of every backend and device."""
    global _seed
    _seed = _seed_value(seed, "manual_seed")
    _kind_seeds.clear()
    _generators.clear()


def manual_seed_kind(seed, kind):
    """Reseed the default generators of the devices named `kind`... ("cuda": torch.cuda.manual_seed_all)."""
    _kind_seeds[kind] = _seed_value(seed, "manual_seed")
    for key in [key for key in _generators if key[1].split(":")[0] == kind]:
        del _generators[key]


def default_generator(device=None, backend=None):
    target = resolve_device(device, backend)
    key = (target.backend.name, target.name)
    if key not in _generators:
        _generators[key] = Generator(_kind_seeds.get(target.name.split(":")[0], _seed), target)
    return _generators[key]


def rand(*shape, dtype=None, device=None, backend=None, requires_grad=False, generator=None):
    source = generator or default_generator(device, backend)
    return source.rand(*shape, dtype=dtype, requires_grad=requires_grad)


def randn(*shape, dtype=None, device=None, backend=None, requires_grad=False, generator=None):
    source = generator or default_generator(device, backend)
    return source.randn(*shape, dtype=dtype, requires_grad=requires_grad)


def randint(low, high=None, shape=None, dtype=None, device=None, backend=None, generator=None, *, size=None):
    """Integers drawn uniformly from [low, high): randint(low, high, shape), and PyTorch's randint(high, size)."""
    if size is not None:
        if shape is not None:
            raise TypeError("randint: give the shape once (shape or size=)")
        shape = size
    if high is None:  # randint(high, size=...)
        low, high = 0, low
    elif shape is None:  # randint(high, size)
        low, high, shape = 0, low, high
    if shape is None:
        raise TypeError("randint: missing the shape: randint(high, shape) or randint(low, high, shape)")
    return (generator or default_generator(device, backend)).randint(low, high, shape, dtype=dtype)


def permutation(n, dtype=None, device=None, backend=None):
    return default_generator(device, backend).permutation(n, dtype=dtype)
