"""How the layers meet without importing upward: what each installs on Tensor, what the namespace spells out,
what it registers with the engine. The import graph itself is tests/test_import_layers.py."""

import ast
import pathlib

import numpy as np
import pytest

import polygrad as pg
from polygrad.core import autograd, engine
from polygrad.core.tensor import Tensor
from polygrad.methods import inplace, operators
from polygrad.namespace import ops

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _class_body_names(path, class_name):
    tree = ast.parse(path.read_text())
    body = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == class_name).body
    return {node.name for node in body if isinstance(node, ast.FunctionDef)}


def test_the_record_defines_no_behaviour_of_the_layers_above():
    defined = _class_body_names(ROOT / "polygrad/core/tensor.py", "Tensor")
    installed = ({f"__{n}__" for n in operators.BINARY} | {f"__r{n}__" for n in operators.BINARY}
                 | {f"__{n}__" for n in {**operators.COMPARISONS, **operators.UNARY}} | set(operators.METHODS)
                 | set(operators.PROPERTIES) | set(inplace.OPERATORS) | set(inplace.METHODS)
                 | {"backward", "__array_namespace__"})
    assert defined & installed == set()


def test_operators_are_the_namespace_functions_themselves():
    """`a * b` is ops.multiply(a, b): no method in between (the eager hot path)."""
    for name, function in operators.BINARY.items():
        assert getattr(Tensor, f"__{name}__") is function
    assert Tensor.__mul__ is ops.multiply and Tensor.__lt__ is ops.less and Tensor.__neg__ is ops.negative
    assert Tensor.backward is autograd._tensor_backward


def test_installed_methods_behave_as_written_out_ones():
    a = pg.tensor([1.0, -2.0, 4.0])
    np.testing.assert_allclose((2.0 - a).numpy(), [1.0, 4.0, -2.0])  # reflected: other comes first
    np.testing.assert_allclose((2.0 ** a).numpy(), [2.0, 0.25, 16.0])
    np.testing.assert_array_equal((a > 0).numpy(), [True, False, True])
    b = a.detach()
    b -= 1.0
    np.testing.assert_allclose(a.numpy(), [0.0, -3.0, 3.0])  # in place, into the shared buffer
    assert a.__array_namespace__() is pg


def test_every_generated_function_is_spelled_out():
    """ops binds each of GENERATED's functions to its name (no globals().update); a composite may take the name."""
    tree = ast.parse((ROOT / "polygrad/namespace/ops.py").read_text())
    composites = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    for name, function in ops.GENERATED.items():
        assert getattr(ops, name) is function or name in composites, name


def test_the_namespace_registers_itself_for_create_graph():
    assert engine._graph_namespace is ops
    x = pg.tensor([0.5, 1.5], dtype="float64", requires_grad=True)
    (g,) = pg.autograd.grad(pg.sum(pg.sin(x) * x), [x], create_graph=True)
    (gg,) = pg.autograd.grad(pg.sum(g), [x])  # the rules ran on Tensors, through the registered namespace
    np.testing.assert_allclose(gg.numpy(), 2 * np.cos([0.5, 1.5]) - np.array([0.5, 1.5]) * np.sin([0.5, 1.5]))


def test_a_compile_patch_whose_target_moved_fails_loudly():
    """pg.compile swaps some module attributes while tracing; one that moved away must not be swapped silently."""
    from polygrad.compile.program import _Patches

    with pytest.raises(AssertionError, match="has no 'check_bounds_moved'"):
        _Patches(trace=None).set(ops, "check_bounds_moved", None)
    assert not hasattr(ops, "check_bounds_moved")
