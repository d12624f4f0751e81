"""The backend registry and the rule that only polygrad/backends/ names an array library."""

import ast
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import polygrad as pg
from polygrad.backends.numpy_backend import NumpyBackend

ROOT = pathlib.Path(__file__).resolve().parent.parent
ARRAY_LIBRARIES = {"numpy", "cupy", "cupyx", "torch", "array_api_strict", "jax"}
# Attribute names that reach an array library through another object (`backend.torch.relu`, `mod.np.zeros`).
LIBRARY_ATTRIBUTES = {"torch", "cupy", "cupyx", "np", "numpy"}
# Host-side file I/O may read and write NumPy arrays (the host format); nothing else may.
HOST_IO = {"polygrad/io/checkpoint.py", "polygrad/io/serialization.py", "polygrad/data/datasets.py"}
# Communication engines: only their adapter in polygrad/distributed/ may name each one's library.
ENGINE_LIBRARIES = {"mpi4py"}
DISTRIBUTED_ADAPTERS = {
    "polygrad/distributed/mpi.py": {"mpi4py"},
    "polygrad/distributed/nccl.py": {"cupy", "cupyx"},
    "polygrad/distributed/torch_dist.py": {"torch"},
}


def named_libraries(path):
    """Array libraries a file imports, and library attributes it reaches (`x.torch`, `x.np`, `x.numpy`).

    `t.numpy()` with no arguments is polygrad's Tensor.numpy(), the host copy the
    backend makes, and does not count; `t.numpy` anywhere else does.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    tensor_numpy_calls = {id(node.func) for node in ast.walk(tree)
                          if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                          and node.func.attr == "numpy" and not node.args and not node.keywords}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Attribute) and node.attr in LIBRARY_ATTRIBUTES and id(node) not in tensor_numpy_calls:
            names.add(node.attr)
    return names & (ARRAY_LIBRARIES | LIBRARY_ATTRIBUTES | ENGINE_LIBRARIES)


def test_only_backends_name_an_array_library():
    offenders = {}
    for path in sorted((ROOT / "polygrad").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith("polygrad/backends/"):
            continue
        found = named_libraries(path) - ({"numpy", "np"} if relative in HOST_IO else set())
        found -= DISTRIBUTED_ADAPTERS.get(relative, set())
        if found:
            offenders[relative] = sorted(found)
    assert offenders == {}


def test_the_layering_check_catches_an_import(tmp_path):
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("def f():\n    import torch.distributed\n    from numpy import linalg\n    from mpi4py import MPI\n")
    assert named_libraries(sneaky) == {"torch", "numpy", "mpi4py"}


@pytest.mark.parametrize("code, found", [
    ("def f(backends, x):\n    return backends.get('torch').torch.relu(x)\n", {"torch"}),
    ("def f(backend, x):\n    with backend.torch.no_grad():\n        return x\n", {"torch"}),
    ("def f(m):\n    return m.np.zeros(3), m.cupyx.scipy\n", {"np", "cupyx"}),
    ("def f(b):\n    return b.cupy.asarray, b.numpy.float32\n", {"cupy", "numpy"}),
    ("def f(b, x):\n    return b.numpy(x)\n", {"numpy"}),  # a call with arguments: not Tensor.numpy()
    ("def f(t):\n    return t.numpy(), t.detach().numpy().tolist()\n", set()),  # Tensor.numpy(): allowed
])
def test_the_layering_check_catches_library_attributes(tmp_path, code, found):
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text(code)
    assert named_libraries(sneaky) == found


def test_import_polygrad_imports_no_gpu_or_torch_library():
    code = "import sys, polygrad; print(sorted(m for m in ('cupy', 'torch', 'array_api_strict') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_available_and_get():
    assert {"numpy", "array_api_strict"} <= set(pg.backends.available())
    assert set(pg.backends.available()) <= set(pg.backends.names())
    assert pg.backends.get("numpy") is pg.backends.get("numpy")  # namespace resolved once


def test_register_a_third_party_backend():
    class Renamed(NumpyBackend):
        name = "numpy_copy"

    pg.backends.register("numpy_copy", Renamed)
    try:
        x = pg.tensor([1.0, 2.0], backend="numpy_copy", requires_grad=True)
        (x * x).sum().backward()
        assert x.backend.name == "numpy_copy"
        np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
        assert "numpy_copy" in pg.backends.available()
    finally:
        pg.backends._factories.pop("numpy_copy")
        pg.backends._instances.pop("numpy_copy", None)


def test_entry_point_backends_are_discovered(monkeypatch):
    from importlib import metadata

    class FakeEntryPoint(metadata.EntryPoint):
        def load(self):
            class FromPlugin(NumpyBackend):
                name = "plugin"
            return FromPlugin

    point = FakeEntryPoint(name="plugin", value="irrelevant:Thing", group="polygrad.backends")
    monkeypatch.setattr(pg.backends.metadata, "entry_points", lambda group: [point] if group == "polygrad.backends" else [])
    monkeypatch.setattr(pg.backends, "_entry_points_loaded", False)
    try:
        assert "plugin" in pg.backends.names()
        assert pg.backends.get("plugin").name == "plugin"
    finally:
        pg.backends._factories.pop("plugin", None)
        pg.backends._instances.pop("plugin", None)


def test_default_backend_from_setter_and_environment():
    previous = pg.set_default_backend("array_api_strict")
    try:
        assert pg.zeros(2).backend.name == "array_api_strict"
    finally:
        pg.set_default_backend(previous)
    code = "import polygrad as pg; print(pg.zeros(1).backend.name)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "POLYGRAD_BACKEND": "array_api_strict"})
    assert out.stdout.strip() == "array_api_strict"


def test_standard_fallback_scatter_add_matches_numpy_add_at():
    strict = pg.backends.get("array_api_strict")
    target = strict.xp.zeros((3, 2))
    indices = strict.xp.asarray([0, 2, 2, 1, 0])
    values = strict.xp.reshape(strict.xp.arange(10.0), (5, 2))
    expected = np.zeros((3, 2))
    np.add.at(expected, [0, 2, 2, 1, 0], np.arange(10.0).reshape(5, 2))
    np.testing.assert_array_equal(strict.to_host(strict.index_add(target, indices, values)), expected)


def test_source_checkout_without_install_imports(tmp_path):
    """On a bare machine the repository alone is importable (the backends are a folder of the package)."""
    libraries = [p for p in sys.path if "site-packages" in p]
    code = f"import sys; sys.path[:0] = [{str(ROOT)!r}] + {libraries!r}; import polygrad.backends as b; print(b.__file__)"
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert pathlib.Path(out.stdout.strip()).parent == ROOT / "polygrad" / "backends"


@pytest.mark.parametrize("name", ["numpy", "array_api_strict", "torch"])
def test_memory_stats_and_synchronize_exist(name):
    if name not in pg.backends.available():
        pytest.skip(f"{name} not available")
    backend = pg.backends.get(name)
    device = backend.default_device()
    backend.synchronize(device)
    assert isinstance(backend.memory_stats(device), dict)


def test_to_accepts_another_backends_native_device_object():
    """A numpy-backed tensor or model moved with array_api_strict.Device("device1") lands there."""
    strict = pytest.importorskip("array_api_strict")
    t = pg.ones(2, backend="numpy").to(strict.Device("device1"))
    assert t.backend.name == "array_api_strict" and t.device.name == "device1"
    model = pg.nn.Linear(2, 1)
    model.to(strict.Device("device1"))
    assert {p.device.name for p in model.parameters()} == {"device1"}
    with pytest.raises(ValueError, match="unknown device"):
        pg.ones(2, backend="numpy").to(object())
