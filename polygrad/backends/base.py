"""What every backend provides, with pure Array API fallbacks.

A backend is one array library seen through its Array API namespace, plus the
few things the standard lacks: seeded random numbers, scatter-add, host
transfer, synchronisation and memory statistics. Subclasses override only what
their library does better or differently.
"""

import itertools
import math
import sys
import types


class BackendUnavailable(RuntimeError):
    """The array library is missing or cannot run on this machine."""


class Device:
    """One device of one backend; compares equal only within that backend."""

    __slots__ = ("backend", "native", "name")

    def __init__(self, backend, native, name):
        self.backend = backend
        self.native = native
        self.name = name

    def __eq__(self, other):
        return (
            isinstance(other, Device)
            and other.backend is self.backend
            and other.native == self.native
        )

    def __hash__(self):
        return hash((self.backend.name, self.name))

    def __deepcopy__(self, memo):
        # One Device object per device: a deep copy of a tensor or model stays on it.
        return self

    def __repr__(self):
        return f"Device({self.backend.name!r}, {self.name!r})"

    def __str__(self):
        return self.name


class Backend:
    """Subclasses set `name` and implement `_load()` returning the namespace."""

    name = None
    #: short device kinds this backend serves when asked by string ("cpu", "cuda")
    device_kinds = ("cpu",)
    #: dtype name -> what to install for it, for dtypes this backend has only with an optional package
    missing_dtypes = {}

    def __init__(self):
        xp = self._load()
        self.xp = self._extend(xp)
        self._devices = {}
        self._table = None

    # ----- the namespace -------------------------------------------------
    def _load(self):
        raise NotImplementedError

    def _extend(self, xp):
        """The namespace the rules see: the standard's functions plus our hooks.

        Built once per backend, so that rules look functions up in a plain
        module dict instead of resolving the namespace per operation.
        """
        ns = types.ModuleType(f"polygrad.backends.{self.name}.xp")
        ns.__dict__.update({k: v for k, v in vars(xp).items() if not k.startswith("__")})
        ns.__array_namespace_info__ = xp.__array_namespace_info__
        for extension in ("linalg", "fft"):  # the standard's extensions (array-api-strict loads them on access)
            if hasattr(xp, extension):
                setattr(ns, extension, getattr(xp, extension))
        ns.index_add = self.index_add
        ns.to_device = self.move
        ns.windows = self.windows
        ns.col2im = self.col2im
        ns.erf = self.erf
        for name, kernel in self.kernels().items():
            setattr(ns, "kernel_" + name, kernel)
        return ns

    # ----- devices -------------------------------------------------------
    def native_devices(self):
        """Native device objects paired with their user-facing names."""
        raise NotImplementedError

    def _device_table(self):
        if self._table is None:
            self._table = list(self.native_devices())
        return self._table

    def devices(self):
        return [self._wrap_device(native, name) for native, name in self._device_table()]

    def default_device(self):
        return self.devices()[0]

    def _wrap_device(self, native, name):
        key = str(native)
        if key not in self._devices:
            self._devices[key] = Device(self, native, name)
        return self._devices[key]

    def device(self, spec=None):
        """A Device from None (default), a name, a native device or a Device."""
        if spec is None:
            return self.default_device()
        if isinstance(spec, Device):
            if spec.backend is not self:
                raise ValueError(
                    f"device {spec} belongs to backend {spec.backend.name!r}, not {self.name!r}"
                )
            return spec
        for native, name in self._device_table():
            if spec == native or self._matches(spec, native, name):
                return self._wrap_device(native, name)
        known = ", ".join(name for _, name in self._device_table())
        raise ValueError(f"unknown device {spec!r} for backend {self.name!r}; known devices: {known}")

    def _matches(self, spec, native, name):
        return isinstance(spec, str) and spec.lower() == name.lower()

    def device_of(self, array):
        native = self._native_device_of(array)
        for candidate, name in self._device_table():
            if candidate == native:
                return self._wrap_device(candidate, name)
        return self._wrap_device(native, str(native))

    def _native_device_of(self, array):
        return array.device

    def supports_float64(self, device):
        info = self.xp.__array_namespace_info__()
        return "float64" in info.dtypes(device=device.native)

    # ----- arrays --------------------------------------------------------
    def is_array(self, obj):
        raise NotImplementedError

    def to_host(self, array):
        """A NumPy copy of `array` (NumPy is the host format for files)."""
        import numpy

        return numpy.from_dlpack(array).copy()

    def host_view(self, array):
        """NumPy's view of `array`'s memory where it lives on the host (`np.asarray(tensor)`)."""
        import numpy

        return numpy.from_dlpack(array)

    def array_of(self, result):
        """A library call's result as one of its arrays (NumPy's 0-d results are scalars)."""
        return result

    def shares_memory(self, a, b):
        """Whether arrays a and b may share memory (a view of b, or the other way)."""
        return True

    def writable(self, array):
        """Whether `array` can be written in place (NumPy's read-only arrays cannot)."""
        return True

    def from_host(self, host_array, device, dtype=None):
        return self.xp.asarray(host_array, dtype=dtype, device=device.native)

    def move(self, array, device):
        """`array` copied onto `device`, which may belong to another backend."""
        if device.backend is self:
            import array_api_compat

            return array_api_compat.to_device(array, device.native)
        return device.backend.from_host(self.to_host(array), device)

    # ----- what the standard lacks ---------------------------------------
    def index_add(self, target, indices, values):
        """`target` with `values[k]` added to row `indices[k]`, repeats accumulating.

        Pure-standard fallback: a one-hot matrix product, O(rows x indices). An
        infinite or NaN value would meet the product's zeros there (inf * 0 is NaN)
        and spoil every row: those values are left out of it and added one by one.
        """
        xp = self.xp
        rows = target.shape[0]
        positions = xp.arange(rows, dtype=indices.dtype, device=target.device)
        one_hot = xp.astype(positions[:, None] == indices[None, :], values.dtype)
        # the row size spelled out: with zero indices, -1 would be ambiguous
        flat = xp.reshape(values, (indices.shape[0], math.prod(target.shape[1:])))
        finite = xp.isfinite(flat)
        if bool(xp.all(finite)):
            return target + xp.reshape(one_hot @ flat, target.shape)
        zero = xp.zeros_like(flat)
        out = xp.reshape(target, (rows, flat.shape[1])) + one_hot @ xp.where(finite, flat, zero)
        rest = xp.where(finite, zero, flat)
        spoilt = xp.nonzero(xp.logical_not(xp.all(finite, axis=1)))[0]
        for k in range(spoilt.shape[0]):
            k = int(spoilt[k])
            row = int(indices[k])
            out[row, :] = out[row, :] + rest[k, :]
        return xp.reshape(out, target.shape)

    def windows(self, x, *, kernel, stride, dilation):
        """x's sliding windows over its last len(kernel) axes: shape x.shape[:-n] + counts + kernel.

        Window i along an axis starts at i * stride and takes every dilation-th
        entry. Pure-standard fallback: one strided slice per kernel tap, stacked
        (a copy); libraries with strided views override it with a view.
        """
        counts = window_counts(x.shape[x.ndim - len(kernel):], kernel, stride, dilation)
        taps = [x[tap_key(offsets, counts, stride, dilation)] for offsets in _taps(kernel)]
        return self.xp.reshape(self.xp.stack(taps, axis=-1), tuple(x.shape[:x.ndim - len(kernel)]) + counts + kernel)

    def col2im(self, cols, *, shape, kernel, stride, dilation):
        """The adjoint of windows: zeros of `shape`, each window entry of cols added where it was read.

        cols has shape shape[:-n] + counts + kernel; the windows may cover less
        than `shape` (the rest stays zero). One strided add per kernel tap.
        """
        n = len(kernel)
        counts = tuple(cols.shape[cols.ndim - 2 * n:cols.ndim - n])
        out = self.xp.zeros(tuple(shape), dtype=cols.dtype, device=cols.device)
        for offsets in _taps(kernel):
            out[tap_key(offsets, counts, stride, dilation)] += cols[(Ellipsis,) + offsets]
        return out

    def erf(self, x):
        """The error function, elementwise. Pure-standard fallback (see _erf): within 5 ulp of
        math.erf in float64 (mean 0.2 ulp) and 6 ulp in float32; libraries with one override it."""
        return _erf(self.xp, x)

    def kernels(self):
        """{name: function}: this library's kernels for fused primitives (polygrad/primitives/fused.py), which the
        namespace carries as `kernel_<name>`. A kernel may return None for inputs it does not take (a
        dtype it has no fast path for): the portable definition runs then. None here."""
        return {}

    def rng(self, seed, device):
        """A seeded generator with uniform/normal/integers methods."""
        return HostRNG(self, seed, device)

    def pin_host(self, host_array):
        """`host_array` staged for a fast copy to this backend's devices (page-locked memory
        for CUDA backends); CPU backends have nothing to stage and return it unchanged."""
        return host_array

    def elementwise_kernel(self, in_params, out_params, operation, name):
        """A compiled kernel for a fused elementwise group (pg.compile(fuse=True)), called with the
        inputs and returning a tuple of the outputs; None where the library compiles none."""
        return None

    def synchronize(self, device):
        """Wait for queued work on `device` (for timing). CPU backends are synchronous."""

    def memory_stats(self, device):
        """Bytes in use and peak on `device`, where the library reports them."""
        return {}

    def library_version(self):
        """The array library's version, for `polygrad info`. Built-in backends are named after their
        library, which loading the backend has imported; others override this."""
        return getattr(sys.modules.get(self.name), "__version__", "unknown")


def window_counts(sizes, kernel, stride, dilation):
    """How many windows of `kernel` (with stride and dilation) fit along each axis of `sizes`."""
    return tuple((size - d * (k - 1) - 1) // s + 1 for size, k, s, d in zip(sizes, kernel, stride, dilation, strict=True))


def _taps(kernel):
    return itertools.product(*(range(k) for k in kernel))


def tap_key(offsets, counts, stride, dilation):
    """The entries kernel tap `offsets` reads in every window: one strided slice per axis."""
    return (Ellipsis,) + tuple(slice(o * d, o * d + s * (m - 1) + 1, s)
                               for o, m, s, d in zip(offsets, counts, stride, dilation, strict=True))


def strided_windows(as_strided, x, kernel, stride, dilation):
    """windows() as a view, for libraries with as_strided (NumPy, CuPy): no copy."""
    n = len(kernel)
    counts = window_counts(x.shape[x.ndim - n:], kernel, stride, dilation)
    steps = x.strides[x.ndim - n:]
    shape = tuple(x.shape[:x.ndim - n]) + counts + tuple(kernel)
    strides = tuple(x.strides[:x.ndim - n]) + tuple(t * s for t, s in zip(steps, stride)) + \
        tuple(t * d for t, d in zip(steps, dilation))
    return as_strided(x, shape=shape, strides=strides)


def _erf(xp, x):
    """erf from the standard's functions alone, in x's dtype.

    |x| < 1.5: erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)), a series of
    positive terms (no cancellation), 24 terms summed from the tail.
    |x| >= 1.5: erf(x) = 1 - exp(-x^2) / (sqrt(pi) K), K the continued fraction
    x + (1/2)/(x + 1/(x + (3/2)/(x + ...))) of erfc, 80 levels evaluated from the bottom.
    exp(-x^2) is exp(-z^2) exp((z - x)(z + x)) with z = x rounded down to a few bits, so
    z^2 is exact and x^2's rounding error does not reach the result.
    """
    bits = xp.finfo(x.dtype).bits
    a = xp.abs(x)
    s = xp.minimum(a, 1.5)
    acc = xp.ones_like(s)
    for n in range(24, 0, -1):
        acc = acc * (s * s * (2 / (2 * n + 1))) + 1
    small = s * acc * _exp_negative_square(xp, s, bits) * (2 / math.sqrt(math.pi))
    b = xp.clip(a, 1.5, 10.0)  # erf is 1 to the last bit beyond 6; 10 keeps x * x finite
    k = b
    for j in range(80, 0, -1):
        k = b + (j / 2) / k
    large = 1 - _exp_negative_square(xp, b, bits) / (k * math.sqrt(math.pi))
    return xp.sign(x) * xp.where(a < 1.5, small, large)


def _exp_negative_square(xp, x, bits):
    scale = 2.0 ** (8 if bits <= 32 else 12)  # z has few enough bits for z * z to be exact
    z = xp.floor(x * scale) / scale
    return xp.exp(-z * z) * xp.exp((z - x) * (z + x))


class HostRNG:
    """Draws on the host with NumPy's PCG64 and copies to the device.

    Used by backends without a seeded generator of their own; reproducible for
    a given seed on every such backend.
    """

    def __init__(self, backend, seed, device):
        import numpy

        self.backend = backend
        self.device = device
        self.generator = numpy.random.default_rng(seed)

    def uniform(self, shape, dtype, low=0.0, high=1.0):
        sample = self.generator.uniform(low, high, size=shape)
        return self.backend.from_host(sample, self.device, dtype)

    def normal(self, shape, dtype, mean=0.0, std=1.0):
        sample = self.generator.normal(mean, std, size=shape)
        return self.backend.from_host(sample, self.device, dtype)

    def integers(self, low, high, shape, dtype):
        sample = self.generator.integers(low, high, size=shape)
        return self.backend.from_host(sample, self.device, dtype)

    def permutation(self, n, dtype):
        return self.backend.from_host(self.generator.permutation(n), self.device, dtype)
