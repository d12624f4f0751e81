"""array-api-strict: the standard and nothing more, for testing.

Its extra devices (device1, device2, no_float64) check that nothing silently
falls back to the default device. It uses every pure-standard fallback.
"""

from .base import Backend, BackendUnavailable


class ArrayApiStrictBackend(Backend):
    name = "array_api_strict"

    def _load(self):
        try:
            import array_api_strict as xp
        except ImportError as error:
            raise BackendUnavailable(f"the array_api_strict backend needs array-api-strict: {error}") from error
        return xp

    def native_devices(self):
        return [(d, d._device) for d in self.xp.__array_namespace_info__().devices()]

    def _matches(self, spec, native, name):
        # "cpu" is the name every user tries first.
        if isinstance(spec, str) and spec.lower() == "cpu":
            return name == "CPU_DEVICE"
        return super()._matches(spec, native, name)

    def is_array(self, obj):
        return isinstance(obj, self.xp._array_object.Array)

    # its arrays hold NumPy arrays (`_array`): views, aliasing and read-only flags are NumPy's
    def shares_memory(self, a, b):
        Array = self.xp._array_object.Array
        if not (isinstance(a, Array) and isinstance(b, Array)):
            return True
        import numpy

        return numpy.may_share_memory(a._array, b._array)

    def writable(self, array):
        return not isinstance(array, self.xp._array_object.Array) or array._array.flags.writeable
