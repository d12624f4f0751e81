"""PyTorch tensors through array-api-compat: CPU here, CUDA where present.

Threads: on a machine (or CPU affinity) of at most SMALL_CPU cores, loading this backend sets
torch's intra-op threads to 1 unless OMP_NUM_THREADS says otherwise. polygrad's CPU work is
many small operations; on 2 shared cores torch's default of one thread per core trained the
digits MLP 15x slower than one thread (its workers wait on each other and on the other
processes). Larger machines keep torch's default; torch.set_num_threads after the backend
loads (first use of backend="torch") overrides either.
"""

import os

from .base import Backend, BackendUnavailable

SMALL_CPU = 4


class TorchBackend(Backend):
    name = "torch"
    device_kinds = ()  # reached by name only: "cuda" means cupy unless asked otherwise

    def _load(self):
        try:
            import torch
        except ImportError as error:
            raise BackendUnavailable(f"the torch backend needs torch and array-api-compat: {error}") from error
        if getattr(torch, "__polygrad_alias__", False):  # `polygrad run` / install_as_torch answer `import torch`
            raise BackendUnavailable("the torch backend is off while polygrad answers `import torch` in this process")
        try:
            import array_api_compat.torch as xp
        except ImportError as error:
            raise BackendUnavailable(f"the torch backend needs torch and array-api-compat: {error}") from error
        self.torch = torch
        if "OMP_NUM_THREADS" not in os.environ and _usable_cores() <= SMALL_CPU:
            torch.set_num_threads(1)
        return xp

    def native_devices(self):
        devices = [(self.torch.device("cpu"), "cpu")]
        if self.torch.cuda.is_available():
            for i in range(self.torch.cuda.device_count()):
                devices.append((self.torch.device("cuda", i), f"cuda:{i}"))
        return devices

    def _matches(self, spec, native, name):
        if isinstance(spec, str) and spec == "cuda":
            return name == "cuda:0"
        return super()._matches(spec, native, name)

    def is_array(self, obj):
        return isinstance(obj, self.torch.Tensor)

    def to_host(self, array):
        if array.dtype == self.torch.bfloat16:  # NumPy has no bfloat16 of its own: ml_dtypes' holds it
            try:
                from ml_dtypes import bfloat16
            except ImportError:
                raise TypeError("a bfloat16 tensor's NumPy copy needs ml_dtypes: pip install ml_dtypes "
                                "(or polygrad[amp]), or cast it with .float() first") from None
            return array.detach().cpu().float().numpy().astype(bfloat16)
        return array.detach().cpu().resolve_conj().numpy().copy()  # conj views (ihfft, conj) have no numpy()

    def host_view(self, array):
        if array.device.type != "cpu":
            raise TypeError(f"can't convert {array.device.type} device type tensor to numpy. Use .cpu().numpy() "
                            "(or .numpy()) to copy the tensor to host memory first")
        return array.detach().resolve_conj().numpy()

    def shares_memory(self, a, b):
        Tensor = self.torch.Tensor
        if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
            return True
        return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()

    def from_host(self, host_array, device, dtype=None):
        if host_array.dtype.name == "bfloat16":  # ml_dtypes' bfloat16, which torch.from_numpy does not take
            widened = self.torch.from_numpy(host_array.astype("float32"))
            return self.xp.asarray(widened, dtype=self.torch.bfloat16 if dtype is None else dtype, device=device.native)
        return self.xp.asarray(self.torch.from_numpy(host_array.copy()), dtype=dtype, device=device.native)

    def index_add(self, target, indices, values):
        return target.index_add(0, indices, values)

    def erf(self, x):
        return self.torch.special.erf(x)

    def kernels(self):
        from . import torch_fused, torch_kernels, torch_optim, torch_pool, torch_rnn

        return {**torch_kernels.KERNELS, **torch_optim.KERNELS, **torch_rnn.KERNELS, **torch_pool.KERNELS,
                **torch_fused.KERNELS}

    def windows(self, x, *, kernel, stride, dilation):
        """Tensor.unfold per axis (a view, the window axes appended in order), then every d-th tap."""
        first = x.ndim - len(kernel)
        for axis, (k, s, d) in enumerate(zip(kernel, stride, dilation, strict=True), start=first):
            x = x.unfold(axis, d * (k - 1) + 1, s)
        return x[(Ellipsis,) + tuple(slice(None, None, d) for d in dilation)]

    def rng(self, seed, device):
        return TorchRNG(self.torch, seed, device.native)

    def synchronize(self, device):
        if device.native.type == "cuda":
            self.torch.cuda.synchronize(device.native)

    def memory_stats(self, device):
        if device.native.type != "cuda":
            return {}
        cuda = self.torch.cuda
        return {"in_use": cuda.memory_allocated(device.native), "peak": cuda.max_memory_allocated(device.native)}


def _usable_cores():
    """The cores this process may run on (its affinity where the OS tells it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class TorchRNG:
    def __init__(self, torch, seed, device):
        self.torch = torch
        self.device = device
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def uniform(self, shape, dtype, low=0.0, high=1.0):
        sample = self.torch.rand(shape, generator=self.generator, dtype=dtype, device=self.device)
        return sample if (low, high) == (0, 1) else sample * (high - low) + low  # [0, 1): two passes saved

    def normal(self, shape, dtype, mean=0.0, std=1.0):
        sample = self.torch.randn(shape, generator=self.generator, dtype=dtype, device=self.device)
        return sample * std + mean

    def integers(self, low, high, shape, dtype):
        return self.torch.randint(low, high, shape, generator=self.generator, dtype=dtype, device=self.device)

    def permutation(self, n, dtype):
        return self.torch.randperm(n, generator=self.generator, dtype=dtype, device=self.device)
