"""CuPy: CUDA GPUs. Imported only when asked for."""

from .base import Backend, BackendUnavailable, strided_windows


class CupyBackend(Backend):
    name = "cupy"
    device_kinds = ("cuda", "gpu")
    missing_dtypes = {"bfloat16": "CuPy has no bfloat16; use float16 on cupy (pg.autocast('cuda') defaults to it), "
                                  "or bfloat16 on the torch backend"}

    def _load(self):
        try:
            import cupy
        except ModuleNotFoundError as error:
            if error.name != "cupy":
                raise
            raise BackendUnavailable("cupy is not installed (pip install 'polygrad[cuda13]', or 'polygrad[cuda12]' "
                                     "for CUDA 12)") from None
        try:
            import array_api_compat.cupy as xp
            import cupyx

            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as error:  # CUDARuntimeError, missing CUDA libraries, driver errors
            raise BackendUnavailable(f"cupy is installed but finds no usable CUDA device: {error}") from error
        if count == 0:
            raise BackendUnavailable("cupy is installed but finds no CUDA device")
        self.cupy = cupy
        self.cupyx = cupyx
        self.count = count
        return xp

    def elementwise_kernel(self, in_params, out_params, operation, name):
        kernel = self.cupy.ElementwiseKernel(in_params, out_params, operation, name)
        single = "," not in out_params
        return (lambda *arrays: (kernel(*arrays),)) if single else kernel

    def native_devices(self):
        return [(self.cupy.cuda.Device(i), f"cuda:{i}") for i in range(self.count)]

    def _matches(self, spec, native, name):
        if isinstance(spec, str) and spec.lower() in ("cuda", "gpu"):
            return name == "cuda:0"
        if isinstance(spec, str) and spec.lower().startswith("gpu:"):
            spec = "cuda:" + spec[4:]
        return super()._matches(spec, native, name)

    def is_array(self, obj):
        return isinstance(obj, self.cupy.ndarray)

    def to_host(self, array):
        return self.cupy.asnumpy(array)

    def host_view(self, array):
        raise TypeError("Implicit conversion to a NumPy array is not allowed (CuPy's rule: a device-to-host copy "
                        "is made explicitly). Use .numpy() or .cpu() to copy the tensor to host memory first")

    def shares_memory(self, a, b):
        ndarray = self.cupy.ndarray
        return not (isinstance(a, ndarray) and isinstance(b, ndarray)) or self.cupy.may_share_memory(a, b)

    def from_host(self, host_array, device, dtype=None):
        with device.native:
            return self.cupy.asarray(host_array, dtype=dtype)

    def index_add(self, target, indices, values):
        out = target.copy()
        self.cupyx.scatter_add(out, indices, values)
        return out

    def erf(self, x):
        import cupyx.scipy.special

        return cupyx.scipy.special.erf(x)

    def windows(self, x, *, kernel, stride, dilation):
        return strided_windows(self.cupy.lib.stride_tricks.as_strided, x, kernel, stride, dilation)

    def pin_host(self, host_array):
        pinned = self.cupyx.empty_pinned(host_array.shape, host_array.dtype)
        pinned[...] = host_array
        return pinned

    def rng(self, seed, device):
        return CupyRNG(self.cupy, seed, device.native)

    def synchronize(self, device):
        with device.native:
            self.cupy.cuda.get_current_stream().synchronize()

    def memory_stats(self, device):
        pool = self.cupy.get_default_memory_pool()
        return {"in_use": pool.used_bytes(), "reserved": pool.total_bytes()}


class CupyRNG:
    def __init__(self, cupy, seed, device):
        self.cupy = cupy
        self.device = device
        with device:
            self.generator = cupy.random.default_rng(seed)

    def uniform(self, shape, dtype, low=0.0, high=1.0):
        with self.device:
            return (self.generator.random(shape) * (high - low) + low).astype(dtype)

    def normal(self, shape, dtype, mean=0.0, std=1.0):
        with self.device:
            return (self.generator.standard_normal(shape) * std + mean).astype(dtype)

    def integers(self, low, high, shape, dtype):
        with self.device:
            return self.generator.integers(low, high, size=shape).astype(dtype)

    def permutation(self, n, dtype):
        with self.device:
            return self.generator.permutation(n).astype(dtype)
