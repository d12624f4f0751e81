"""The backend registry: which array library runs polygrad.

Built-in backends are listed by name and imported only when first asked for,
so `import polygrad` never imports cupy or torch. Third parties add a backend
with `register(name, factory)` or through the entry-point group
``polygrad.backends`` (the entry point names a Backend subclass or factory).
"""

import functools
import importlib
import os
from importlib import metadata

from .base import Backend, BackendUnavailable, Device

__all__ = [
    "Backend",
    "BackendUnavailable",
    "Device",
    "available",
    "get",
    "register",
    "names",
    "default",
    "set_default",
    "find_for_array",
    "loaded",
    "extend_namespaces",
    "for_device",
    "for_native_device",
]

# name -> "module:Class" (built in, imported lazily), an entry point, or a factory
_factories = {
    "numpy": "numpy_backend:NumpyBackend",
    "array_api_strict": "array_api_strict_backend:ArrayApiStrictBackend",
    "torch": "torch_backend:TorchBackend",
    "cupy": "cupy_backend:CupyBackend",
}
_instances = {}
_namespace_extensions = {}
_failures = {}
_entry_points_loaded = False
_default_name = None


def register(name, factory):
    """Add a backend: `factory()` returns a Backend. Replaces one of the same name."""
    _factories[name] = factory
    _instances.pop(name, None)
    _failures.pop(name, None)


def _load_entry_points():
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for entry in metadata.entry_points(group="polygrad.backends"):
        _factories.setdefault(entry.name, entry)


def names():
    """Every known backend name, whether or not it works on this machine."""
    _load_entry_points()
    return list(_factories)


def _factory(name):
    """The class or callable that makes backend `name` (importing its adapter, not its library)."""
    factory = _factories[name]
    if isinstance(factory, str):
        module_name, class_name = factory.split(":")
        factory = getattr(importlib.import_module(f".{module_name}", __name__), class_name)
    elif isinstance(factory, metadata.EntryPoint):
        factory = factory.load()
    return factory


def _create(name):
    factory = _factory(name)
    backend = factory()
    if not isinstance(backend, Backend):
        raise TypeError(f"backend factory for {name!r} returned {type(backend).__name__}, not a Backend")
    return backend


def get(name=None):
    """The backend called `name` (default: the default backend)."""
    if isinstance(name, Backend):
        return name
    if name is None:
        name = default_name()
    if name in _instances:
        return _instances[name]
    _load_entry_points()
    if name not in _factories:
        # Only names: finding which backends work here would import every library (seconds for torch).
        raise ValueError(f"unknown backend {name!r}; known backends: {', '.join(_factories)} "
                         "(`polygrad info` shows which work on this machine)")
    if name in _failures:
        raise BackendUnavailable(_failures[name])
    try:
        backend = _create(name)
    except BackendUnavailable as error:
        _failures[name] = str(error)
        raise
    _install_extensions(backend, _namespace_extensions)
    _instances[name] = backend
    return backend


def extend_namespaces(functions):
    """Add `{name: f(xp, ...)}` to every backend's rule namespace, now and later."""
    _namespace_extensions.update(functions)
    for backend in _instances.values():
        _install_extensions(backend, functions)


def _install_extensions(backend, functions):
    for name, function in functions.items():
        setattr(backend.xp, name, functools.partial(function, backend.xp))


def for_device(spec):
    """The backend that serves a device name such as "cuda:1" when asked by string."""
    kind = spec.split(":")[0].lower()
    for name in names():
        if kind in getattr(_factory(name), "device_kinds", ()):
            return get(name)
    return None


def for_native_device(native):
    """The backend one of whose devices is the library device object `native`
    (e.g. an array_api_strict.Device or a torch.device), or None."""
    for name in names():
        try:
            backend = get(name)
        except BackendUnavailable:
            continue
        if any(native == candidate for candidate, _ in backend._device_table()):
            return backend
    return None


def available():
    """Names of the backends that load and run on this machine."""
    usable = []
    for name in names():
        try:
            get(name)
        except BackendUnavailable:
            continue
        usable.append(name)
    return usable


def loaded():
    """Backends already imported (never imports a new library)."""
    return list(_instances.values())


def default_name():
    return _default_name or os.environ.get("POLYGRAD_BACKEND") or "numpy"


def default():
    return get(default_name())


def set_default(name):
    """Make `name` the backend used when none is given; returns the previous name."""
    global _default_name
    get(name)  # fail now, not at first use
    previous = default_name()
    _default_name = name
    return previous


def find_for_array(array):
    """The backend whose array type `array` is, importing nothing new."""
    for backend in loaded():
        if backend.is_array(array):
            return backend
    module = type(array).__module__.split(".")[0]  # built-in backends are named after their library
    return get(module) if module in _factories else None
