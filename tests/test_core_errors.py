"""Bad input gets a clear error naming the operation and both sides."""

import os
import re
import subprocess
import sys
import types

import pytest

import polygrad as pg


def test_different_devices_in_one_operation():
    a = pg.tensor([1.0, 2.0], backend="array_api_strict", device="device1")
    b = pg.tensor([1.0, 2.0], backend="array_api_strict", device="CPU_DEVICE")
    with pytest.raises(pg.DeviceMismatchError, match=r"multiply: .*device1.*CPU_DEVICE"):
        a * b


def test_different_backends_in_one_operation():
    a = pg.tensor([1.0, 2.0], backend="numpy")
    b = pg.tensor([1.0, 2.0], backend="array_api_strict")
    with pytest.raises(pg.BackendMismatchError, match=r"add: .*\(numpy\).*\(array_api_strict\)"):
        a + b


def test_shape_mismatch_names_op_and_both_shapes(target):
    a = target.randn(3, 4)
    b = target.randn(5)
    with pytest.raises(pg.ShapeError, match=r"add: .*\(3, 4\).*\(5,\)"):
        a + b
    with pytest.raises(pg.ShapeError, match=r"matmul: .*\(3, 4\).*\(3, 4\)"):
        a @ a


def test_requires_grad_on_integer_tensor(target):
    with pytest.raises(pg.DtypeError, match="only floating and complex tensors"):
        pg.tensor([1, 2], backend=target.backend, device=target.device, requires_grad=True)


def test_backward_on_non_scalar_without_gradient(target):
    x = target.randn(3, requires_grad=True)
    with pytest.raises(pg.ShapeError, match=r"not a scalar .*\(3,\)"):
        (x * 2.0).backward()


def test_backward_twice_through_freed_graph(target):
    x = target.randn(3, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(pg.GraphFreedError, match="already freed"):
        y.backward()


def test_unknown_backend_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown backend 'jax'; known backends: numpy, array_api_strict, torch, cupy"
                                         r".*\(`polygrad info` shows which work on this machine\)"):
        pg.zeros(3, backend="jax")


def test_an_unknown_backend_is_answered_without_importing_any_library():
    """Building the message must not import torch or cupy to see whether they work (seconds for torch)."""
    code = ("import sys\nimport polygrad as pg\ntry:\n    pg.zeros(3, backend='jax')\nexcept ValueError:\n"
            "    print(sorted({'torch', 'cupy', 'array_api_strict'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "[]", result.stderr


def test_unknown_device(target):
    with pytest.raises(ValueError, match=r"unknown device 'tpu:7'.*known devices"):
        pg.zeros(3, backend=target.backend, device="tpu:7")


def test_cupy_without_a_gpu_says_so():
    try:
        pg.backends.get("cupy")
    except pg.BackendUnavailable as error:
        message = str(error)
    else:
        pytest.skip("this machine has a working cupy")
    assert message in ("cupy is not installed (pip install 'polygrad[cuda13]', or 'polygrad[cuda12]' for CUDA 12)",
                       "cupy is installed but finds no CUDA device") or message.startswith(
                       "cupy is installed but finds no usable CUDA device: ")
    with pytest.raises(pg.BackendUnavailable, match=re.escape(message)):
        pg.tensor([1.0]).to("cuda:1")
    assert "cupy" not in pg.backends.available()


def fake_cupy(monkeypatch, device_count):
    """Stand-ins for an installed cupy whose runtime reports `device_count()` devices."""
    cupy = types.ModuleType("cupy")
    cupy.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=device_count))
    for name, module in (("cupy", cupy), ("cupyx", types.ModuleType("cupyx")),
                         ("array_api_compat.cupy", types.ModuleType("array_api_compat.cupy"))):
        monkeypatch.setitem(sys.modules, name, module)


def test_cupy_not_installed_and_no_cuda_device_are_different_messages(monkeypatch):
    from polygrad.backends.cupy_backend import CupyBackend

    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy raises ModuleNotFoundError
    with pytest.raises(pg.BackendUnavailable, match=r"^cupy is not installed \(pip install 'polygrad\[cuda13\]'"):
        CupyBackend()
    fake_cupy(monkeypatch, lambda: 0)
    with pytest.raises(pg.BackendUnavailable, match="^cupy is installed but finds no CUDA device$"):
        CupyBackend()

    def no_driver():
        raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")

    fake_cupy(monkeypatch, no_driver)
    with pytest.raises(pg.BackendUnavailable, match="^cupy is installed but finds no usable CUDA device: "
                                                     "cudaErrorInsufficientDriver"):
        CupyBackend()


def test_dtype_mismatch_on_strict_names_both_sides():
    a = pg.tensor([1.0], backend="array_api_strict", dtype="float32")
    b = pg.tensor([1.0], backend="array_api_strict", dtype="float64")
    c = pg.tensor([True], backend="array_api_strict")
    assert (a + b).dtype == b.dtype  # same kind promotes
    assert (a + c).dtype == a.dtype and (a + c).tolist() == [2.0]  # bool joins a float, as PyTorch promotes
    with pytest.raises(pg.DtypeError, match=r"add: .*bool.*bool"):
        c + c  # the standard has no bool arithmetic (the README's table of differences)


def test_no_eval_of_environment_backend():
    """POLYGRAD_BACKEND is a name to look up, never code."""
    code = "import polygrad as pg; pg.zeros(1)"
    result = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "POLYGRAD_BACKEND": "__import__('os')"},
        capture_output=True, text=True,
    )
    assert result.returncode != 0
    assert "unknown backend \"__import__('os')\"" in result.stderr


def test_gradcheck_on_a_device_without_float64():
    x = pg.tensor([1.0, 2.0], backend="array_api_strict", device="no_float64")
    with pytest.raises(pg.DtypeError, match="without float64"):
        pg.gradcheck(pg.exp, [x])


def test_gradcheck_catches_a_wrong_rule():
    """gradcheck can fail: a primitive with a deliberately wrong vjp is caught."""
    from polygrad.core.engine import Primitive, apply

    wrong = Primitive("wrong_sin", lambda xp, x: xp.sin(x), vjp=[lambda xp, g, out, x: g * xp.sin(x)])
    x = pg.tensor([0.3, 1.2], dtype="float64")
    with pytest.raises(AssertionError, match="differs from finite differences"):
        pg.gradcheck(lambda t: apply(wrong, [t], {}), [x])


@pytest.mark.parametrize("make, name, shape", [
    (lambda where, shape: pg.zeros(shape, **where), "zeros", (-1, 2)),
    (lambda where, shape: pg.zeros(shape, **where), "zeros", (2.5, 2)),
    (lambda where, shape: pg.ones(shape, **where), "ones", (2, "3")),
    (lambda where, shape: pg.empty(shape, **where), "empty", True),
    (lambda where, shape: pg.full(shape, 1.0, **where), "full", (2, -3)),
    (lambda where, shape: pg.randn(*shape, **where), "randn", (-1, 3)),
    (lambda where, shape: pg.rand(shape, **where), "rand", (3, 0.5)),
    (lambda where, shape: pg.randint(0, 4, shape, **where), "randint", (-2,)),
    (lambda where, shape: pg.eye(*shape, **where), "eye", (-1,)),
    (lambda where, shape: pg.eye(*shape, **where), "eye", (3, -2)),
    (lambda where, shape: pg.eye(*shape, **where), "eye", (2.5,)),
])
def test_a_bad_shape_names_the_function(target, make, name, shape):
    with pytest.raises(pg.ShapeError, match=rf"^{name}: shape must be a non-negative integer or a sequence of them, "
                                            rf"got {re.escape(repr(shape))}$"):
        make({"backend": target.backend, "device": target.device}, shape)


def test_bad_ranges_name_the_function(target):
    where = {"backend": target.backend, "device": target.device}
    with pytest.raises(ValueError, match=r"^arange: step must not be zero$"):
        pg.arange(0, 5, 0, **where)
    with pytest.raises(pg.ShapeError, match=r"^arange\(10{30}, None, 1\): .* elements is more than can be made$"):
        pg.arange(10**30, **where)
    with pytest.raises(pg.ShapeError, match=r"^linspace: num must be a non-negative integer, got -2$"):
        pg.linspace(0.0, 1.0, -2, **where)
    with pytest.raises(TypeError, match=r"^eye: k must be an integer, got 1.5$"):
        pg.eye(3, k=1.5, **where)


def test_integer_scalars_of_any_library_are_sizes(target):
    import numpy as np

    assert pg.zeros((np.int64(2), 3), backend=target.backend, device=target.device).shape == (2, 3)
    assert pg.randn(np.int32(2), backend=target.backend, device=target.device).shape == (2,)
    assert pg.zeros((0, 2), backend=target.backend, device=target.device).shape == (0, 2)


@pytest.mark.parametrize("data, message", [
    ([[1.0, 2.0], [3.0]], r"data\[0\] has shape \(2,\), data\[1\] has shape \(1,\)"),
    ([[1.0, 2.0], 3.0], r"data\[0\] has shape \(2,\), data\[1\] has shape \(\)"),
    ([[[1.0], [2.0]], [[1.0], [2.0, 3.0]]], r"data\[1\]\[0\] has shape \(1,\), data\[1\]\[1\] has shape \(2,\)"),
    ([[], [1.0]], r"data\[0\] has shape \(0,\), data\[1\] has shape \(1,\)"),
])
def test_ragged_nested_lists_name_the_place(target, data, message):
    with pytest.raises(pg.ShapeError, match=r"^asarray: ragged nested lists: " + message):
        pg.tensor(data, backend=target.backend, device=target.device)


def test_random_arguments_are_checked(target):
    where = {"backend": target.backend, "device": target.device}
    with pytest.raises(ValueError, match=r"randint: low and high must be integers with low < high, got low=5, high=1"):
        pg.randint(5, 1, (2,), **where)
    with pytest.raises(ValueError, match="randint: .* got low=0, high=2.5"):
        pg.randint(0, 2.5, (2,), **where)
    with pytest.raises(ValueError, match="permutation: n must be a non-negative integer, got -2"):
        pg.random.permutation(-2, **where)
    gen = pg.random.Generator(0, **where)
    with pytest.raises(ValueError, match="randn: std must be non-negative, got -1.0"):
        gen.randn(3, std=-1.0)
    with pytest.raises(ValueError, match="rand: low must be at most high, got low=2.0, high=1.0"):
        gen.rand(3, low=2.0, high=1.0)
    with pytest.raises(TypeError, match="manual_seed: the seed must be an integer, got 2.5"):
        pg.manual_seed(2.5)
    with pytest.raises(TypeError, match="Generator: the seed must be an integer, got '7'"):
        pg.random.Generator("7", **where)
