"""NumPy: the CPU backend."""

from .base import Backend, BackendUnavailable


class NumpyBackend(Backend):
    name = "numpy"

    def _load(self):
        try:
            import array_api_compat.numpy as xp
            import numpy
        except ImportError as error:
            raise BackendUnavailable(f"the numpy backend needs numpy and array-api-compat: {error}") from error
        self.np = numpy
        return xp

    def native_devices(self):
        return [("cpu", "cpu")]

    def is_array(self, obj):
        return isinstance(obj, (self.np.ndarray, self.np.generic))

    def to_host(self, array):
        return self.np.array(array, copy=True)

    def index_add(self, target, indices, values):
        out = self.np.array(target, copy=True)
        self.np.add.at(out, indices, values)
        return out

    def rng(self, seed, device):
        return NumpyRNG(self.np.random.default_rng(seed))


class NumpyRNG:
    def __init__(self, generator):
        self.generator = generator

    def uniform(self, shape, dtype, low=0.0, high=1.0):
        return self.generator.uniform(low, high, size=shape).astype(dtype, copy=False)

    def normal(self, shape, dtype, mean=0.0, std=1.0):
        return self.generator.normal(mean, std, size=shape).astype(dtype, copy=False)

    def integers(self, low, high, shape, dtype):
        return self.generator.integers(low, high, size=shape).astype(dtype, copy=False)

    def permutation(self, n, dtype):
        return self.generator.permutation(n).astype(dtype, copy=False)
