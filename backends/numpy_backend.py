"""NumPy: the CPU backend."""

import functools

from .base import Backend, BackendUnavailable, strided_windows


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

    def host_view(self, array):
        return self.np.asarray(array)

    def array_of(self, result):
        return self.np.asarray(result) if isinstance(result, self.np.generic) else result

    def shares_memory(self, a, b):
        ndarray = self.np.ndarray
        return not (isinstance(a, ndarray) and isinstance(b, ndarray)) or self.np.may_share_memory(a, b)

    def writable(self, array):
        return not isinstance(array, self.np.ndarray) or array.flags.writeable

    def index_add(self, target, indices, values):
        out = self.np.array(target, copy=True)
        self.np.add.at(out, indices, values)
        return out

    def kernels(self):
        from . import numpy_kernels

        return numpy_kernels.KERNELS

    def windows(self, x, *, kernel, stride, dilation):
        as_strided = functools.partial(self.np.lib.stride_tricks.as_strided, writeable=False)
        return strided_windows(as_strided, x, kernel, stride, dilation)
