"""NumPy: the CPU backend."""

import functools
import types
import warnings

from .base import Backend, BackendUnavailable, strided_windows

# NumPy functions that take half-precision inputs to float32 (matmul, vecdot, clip) or accumulate
# in the input's own 8- or 11-bit mantissa (sum): the numpy backend runs them in float32 and rounds
# the result back, as PyTorch does on the CPU.
_VIA_FLOAT32 = ("matmul", "vecdot", "tensordot", "clip", "sum", "mean", "prod", "cumulative_sum",
                "cumulative_prod", "var", "std")
_LINALG_VIA_FLOAT32 = ("matmul", "vector_norm", "matrix_norm", "vecdot", "tensordot")


class NumpyBackend(Backend):
    name = "numpy"
    missing_dtypes = {"bfloat16": "bfloat16 on the numpy backend needs ml_dtypes: pip install ml_dtypes "
                                  "(or polygrad[amp])"}

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

    def _extend(self, xp):
        ns = super()._extend(xp)
        try:
            from ml_dtypes import bfloat16
        except ImportError:  # optional: without it there is no bfloat16 here, and resolve_dtype says how to get it
            bfloat16 = None
        self.half_dtypes = {self.np.dtype(self.np.float16)}
        if bfloat16 is not None:
            ns.bfloat16 = bfloat16
            self.half_dtypes.add(self.np.dtype(bfloat16))
            ns.isdtype = functools.partial(_isdtype, xp.isdtype, self.np.dtype(bfloat16))
        for name in _VIA_FLOAT32:
            if hasattr(xp, name):
                setattr(ns, name, self._via_float32(getattr(xp, name)))
        ns.linalg = types.SimpleNamespace(**vars(xp.linalg))
        for name in _LINALG_VIA_FLOAT32:
            setattr(ns.linalg, name, self._via_float32(getattr(xp.linalg, name)))
        return ns

    def _via_float32(self, function):
        """`function` run in float32 on half-precision arrays, its result rounded back to their dtype."""
        half, float32 = self.half_dtypes, self.np.float32

        @functools.wraps(function)
        def wrapper(*arrays, **options):
            dtype = getattr(arrays[0], "dtype", None) if arrays else None
            if dtype not in half:
                return function(*arrays, **options)
            wide = [a.astype(float32) if getattr(a, "dtype", None) in half else a for a in arrays]
            if options.get("dtype") is not None:  # an asked accumulation dtype is the result's
                return function(*wide, **options)
            options.pop("dtype", None)
            result = function(*wide, **options)
            return result.astype(dtype) if result.dtype == float32 else result

        return wrapper

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
        if isinstance(array, self.np.generic):
            return False  # a NumPy scalar: the tensor takes a 0-d buffer of its own
        return not isinstance(array, self.np.ndarray) or array.flags.writeable

    def index_add(self, target, indices, values):
        out = self.np.array(target, copy=True)
        self.np.add.at(out, indices, values)
        return out

    def kernels(self):
        from . import numpy_kernels, numpy_optim, numpy_pool

        return {**numpy_kernels.KERNELS, **numpy_optim.KERNELS, **numpy_pool.KERNELS}

    def windows(self, x, *, kernel, stride, dilation):
        as_strided = functools.partial(self.np.lib.stride_tricks.as_strided, writeable=False)
        return strided_windows(as_strided, x, kernel, stride, dilation)


def _isdtype(isdtype, bfloat16, dtype, kind):
    """The standard's isdtype, knowing ml_dtypes' bfloat16 as a real floating dtype (NumPy counts it as none)."""
    if dtype != bfloat16:
        return isdtype(dtype, kind)
    if isinstance(kind, tuple):
        return any(_isdtype(isdtype, bfloat16, dtype, k) for k in kind)
    return kind in ("real floating", "numeric") or kind == bfloat16
