"""`polygrad info`: versions, and which backends and devices work here."""

import platform
from importlib import metadata

from ... import backends
from ..._version import __version__


def configure(parser):
    pass


def run(args):
    print(f"polygrad {__version__} on Python {platform.python_version()}, "
          f"array-api-compat {_distribution_version('array-api-compat')}")
    for name in backends.names():
        try:
            backend = backends.get(name)
        except backends.BackendUnavailable as error:
            print(f"{name:18} unavailable: {error}")
            continue
        devices = ", ".join(d.name for d in backend.devices())
        print(f"{name:18} {backend.library_version():12} devices: {devices}")
    print(f"default backend: {backends.default_name()}")
    return 0


def _distribution_version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"
