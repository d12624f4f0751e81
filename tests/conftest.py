"""One fixture family parametrizes every test over backend x device x dtype.

Pick backends with `--backend NAME` (repeatable, or comma-separated; "all" is
the default) or the POLYGRAD_BACKEND environment variable. A backend that
cannot run here (cupy without a GPU) is reported as skipped, not failed.

Fixtures
  target    every selected (backend, device, dtype) case
  target64  the float64 cases, for finite-difference checks
"""

import os
from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import settings

import polygrad as pg

# Property tests draw the same examples on every run (a fresh clone, CI, each backend session), so the
# suite passes or fails by the code alone; HYPOTHESIS_PROFILE=explore draws new ones each run.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

# (backend, device, dtype): array-api-strict's extra devices check that nothing
# silently falls back to the default device; no_float64 checks float32-only devices.
CASES = [
    ("numpy", "cpu", "float64"),
    ("numpy", "cpu", "float32"),
    ("array_api_strict", "CPU_DEVICE", "float64"),
    ("array_api_strict", "device1", "float64"),
    ("array_api_strict", "no_float64", "float32"),
    ("torch", "cpu", "float64"),
    ("torch", "cpu", "float32"),
    ("torch", "cuda:0", "float32"),
    ("cupy", "cuda:0", "float64"),
    ("cupy", "cuda:0", "float32"),
]


def pytest_addoption(parser):
    parser.addoption(
        "--backend",
        action="append",
        default=None,
        help="backend(s) to test: numpy, array_api_strict, torch, cupy, or all (default: all)",
    )


def selected_backends(config):
    chosen = config.getoption("--backend") or [os.environ.get("POLYGRAD_BACKEND") or "all"]
    names = [n.strip() for item in chosen for n in item.split(",") if n.strip()]
    if "all" in names:
        return pg.backends.names()
    unknown = [n for n in names if n not in pg.backends.names()]
    if unknown:
        raise pytest.UsageError(f"unknown backend(s) {unknown}; known: {pg.backends.names()}")
    return names


def pytest_configure(config):
    config.polygrad_backends = selected_backends(config)
    usable = [n for n in config.polygrad_backends if _usable(n)[0]]
    if usable:
        pg.set_default_backend(usable[0])


def pytest_collection_modifyitems(config, items):
    """With no selected backend usable (cupy without a GPU), skip everything: exit 0."""
    usable = [n for n in config.polygrad_backends if _usable(n)[0]]
    if usable:
        return
    reasons = "; ".join(_usable(n)[1] for n in config.polygrad_backends)
    for item in items:
        item.add_marker(pytest.mark.skip(reason=f"no selected backend can run here: {reasons}"))


def pytest_terminal_summary(terminalreporter):
    """Why tests were skipped, one line per reason with its count (pytest's -rs writes one per test location)."""
    reasons = Counter(report.longrepr[2].removeprefix("Skipped: ")
                      for report in terminalreporter.stats.get("skipped", []) if isinstance(report.longrepr, tuple))
    if reasons:
        terminalreporter.section("why tests were skipped", sep="-")
        for reason, count in reasons.most_common():
            terminalreporter.write_line(f"{count:6d}  {reason}")


def _usable(name, device=None):
    try:
        backend = pg.backends.get(name)
    except pg.BackendUnavailable as error:
        return False, str(error)
    if device is not None:
        try:
            backend.device(device)
        except ValueError as error:
            return False, str(error)
    return True, ""


@dataclass(frozen=True)
class Target:
    backend: str
    device: str
    dtype: str

    def tensor(self, data, requires_grad=False, dtype=None):
        return pg.tensor(data, backend=self.backend, device=self.device, dtype=dtype or self.dtype,
                         requires_grad=requires_grad)

    def randn(self, *shape, seed=0, requires_grad=False):
        gen = pg.random.Generator(seed, device=self.device, backend=self.backend)
        return gen.randn(*shape, dtype=self.dtype, requires_grad=requires_grad)

    def rand(self, *shape, seed=0, low=0.0, high=1.0, requires_grad=False):
        gen = pg.random.Generator(seed, device=self.device, backend=self.backend)
        x = gen.rand(*shape, dtype=self.dtype) * (high - low) + low
        return x.requires_grad_() if requires_grad else x

    @property
    def tol(self):
        return 1e-10 if self.dtype == "float64" else 1e-4

    def __str__(self):
        return f"{self.backend}-{self.device}-{self.dtype}"


def _cases(config, only64):
    params = []
    for backend, device, dtype in CASES:
        if backend not in config.polygrad_backends or (only64 and dtype != "float64"):
            continue
        ok, reason = _usable(backend, device)
        marks = [] if ok else [pytest.mark.skip(reason=f"{backend} {device}: {reason}")]
        params.append(pytest.param(Target(backend, device, dtype), id=f"{backend}-{device}-{dtype}", marks=marks))
    return params


def pytest_generate_tests(metafunc):
    for name, only64 in (("target", False), ("target64", True)):
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, _cases(metafunc.config, only64))


def to_numpy(x):
    """Host copy of a Tensor for comparing against independent NumPy formulas."""
    return x.numpy() if isinstance(x, pg.Tensor) else x
