"""`polygrad info`: which backends and devices work here."""

from .. import backends


def configure(parser):
    pass


def run(args):
    for name in backends.names():
        try:
            backend = backends.get(name)
        except backends.BackendUnavailable as error:
            print(f"{name:18} unavailable: {error}")
            continue
        devices = ", ".join(d.name for d in backend.devices())
        print(f"{name:18} devices: {devices}")
    print(f"default backend: {backends.default_name()}")
    return 0
