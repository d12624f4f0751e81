"""NumPy: the CPU backend."""

import functools
import warnings

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
        # NumPy warns where an IEEE special value comes out (log(-1) is nan, 1/0 inf); the other libraries, PyTorch
        # among them, return it silently, as polygrad's rules mean to. Only warnings raised in polygrad's own
        # modules are dropped: NumPy called from the user's code warns as before.
        warnings.filterwarnings("ignore", r"(invalid value|divide by zero|overflow|underflow) encountered",
                                RuntimeWarning, r"polygrad\.")
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

    def windows(self, x, *, kernel, stride, dilation):
        as_strided = functools.partial(self.np.lib.stride_tricks.as_strided, writeable=False)
        return strided_windows(as_strided, x, kernel, stride, dilation)
