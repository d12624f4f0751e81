"""One buffer, many names: in-place updates reach every alias, as in PyTorch (the oracle) and NumPy.

Each snippet is written once against a library `lib` (torch, or polygrad) and a `make(data,
requires_grad=False, dtype=None)` that builds a tensor there (float unless dtype says "int64");
`make.module(m)` puts a module there. It returns the tensors to compare, and the leaves whose
gradients must agree. The same snippet runs with torch and on every backend.
"""

import numpy as np
import pytest

import polygrad as pg

from conftest import to_numpy
from torch_oracle import needs_torch, torch

M = [[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]]


def detach_add(lib, make):
    x = make([0.0, 0.0, 0.0])
    x.detach().add_(1.0)
    return [x], []


def data_mul(lib, make):
    x = make([1.0, 2.0, 3.0], requires_grad=True)
    x.data.mul_(2.0)
    x.data[0] = 7.0
    return [x], []


def state_dict_ema(lib, make):
    """The weight-averaging pattern: copy_ into each state_dict() value changes the module."""
    model = make.module(lib.nn.Linear(3, 2))
    for v in model.state_dict().values():
        v.fill_(2.0)
        v.copy_(v * 0.5 + 1.0)
    return [model.weight, model.bias], []


def views_write_through(lib, make):
    x = make(np.zeros((2, 3)).tolist())
    x[0].add_(1.0)
    x.view(6)[5] = 2.0
    x.reshape(3, 2)[1, 0] = 3.0
    x.t()[2].mul_(4.0)
    x.transpose(0, 1)[0, 1] = 5.0
    x.narrow(1, 1, 1).add_(6.0)
    x.unbind(0)[1][0] = 7.0
    x.split(1, dim=1)[2].add_(8.0)
    x.chunk(3, dim=1)[1].mul_(9.0)
    return [x], []


def siblings_see_each_other(lib, make):
    """scipy's `work.x1[i] = work.x3[i]`: views of one tensor see writes through another."""
    x = make(np.arange(6.0).reshape(2, 3).tolist())
    a, b = x[0], x[0]
    col = x[:, 1]
    a[1] = 9.0
    col.add_(1.0)
    x += 1.0
    return [a, b, col, x], []


def mul_after_add_that_saves_nothing(lib, make):
    x = make([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1.0
    s = (y + 1.0).sum()
    y.mul_(2.0)
    s.backward()
    return [y], [x]


def fill_slice_of_non_leaf(lib, make):
    x = make(M, requires_grad=True)
    y = x + 0.0
    y[:, 0].fill_(0.5)
    y[1].zero_()
    (y * y).sum().backward()
    return [y], [x]


def in_place_on_view_of_non_leaf(lib, make):
    x = make(M, requires_grad=True)
    w = make([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2.0
    row = y[0]
    row.mul_(w)
    y.t()[1].add_(x[:, 2] * x[:, 0])
    (y * y).sum().backward()
    return [y, row], [x, w]


def view_used_after_its_base_changed(lib, make):
    """A view taken before its base changed in place stands for the base's new value when used after."""
    x = make(M, requires_grad=True)
    y = x * 2.0
    row = y[1]
    early = row * 1.0
    y.mul_(3.0)
    (row * row).sum().add(early.sum()).backward()
    return [row, early], [x]


def mask_assignment(lib, make):
    """scipy.stats / StandardScaler style: x[mask] = scalar and x[mask] = tensor with gradients."""
    x = make(M, requires_grad=True)
    v = make([10.0, 20.0, 30.0], requires_grad=True)
    y = x * 1.0
    y[y < 0] = 0.0
    z = x * 1.0
    z[z > 0] = v * v
    (y * y).sum().add((z * z * z).sum()).backward()
    return [y, z], [x, v]


def index_assignment(lib, make):
    x = make([1.0, -2.0, 3.0, 4.0], requires_grad=True)
    v = make([10.0, 20.0], requires_grad=True)
    y = x * 1.0
    y[make([3, 0], dtype="int64")] = v * 2.0
    (y * y).sum().backward()
    return [y], [x, v]


def svd_flip(lib, make):
    """scikit-learn's svd_flip: U *= signs on linalg.svd's own outputs."""
    a = make(np.random.default_rng(0).standard_normal((6, 3)).tolist())
    u, s, vh = lib.linalg.svd(a, full_matrices=False)
    columns = lib.argmax(lib.abs(u), dim=0)
    signs = lib.sign(u[columns, make([0, 1, 2], dtype="int64")])
    u *= signs
    vh *= signs[:, None]
    return [u, s, vh], []


def view_taken_before_its_base_got_a_gradient(lib, make):
    """Views (one of a view, too) taken while b had no gradient require grad once a recorded
    update gives b one: PyTorch regenerates their grad_fn."""
    w = make([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    b = make([0.0, 0.0, 0.0, 0.0])
    head, tail, inner = b[:2], b[2:], b[1:3][1:]
    b += w * 1.0
    b[3:] *= 3.0
    ((head * head).sum() + (inner * 5.0).sum() + b.sum() + (tail * tail).sum()).backward()
    return [head, tail, inner, b], [w]


SNIPPETS = [detach_add, data_mul, state_dict_ema, views_write_through, siblings_see_each_other,
            mul_after_add_that_saves_nothing, fill_slice_of_non_leaf, in_place_on_view_of_non_leaf,
            view_used_after_its_base_changed, mask_assignment, index_assignment, svd_flip,
            view_taken_before_its_base_got_a_gradient]


@needs_torch
@pytest.mark.parametrize("snippet", SNIPPETS, ids=lambda f: f.__name__)
def test_in_place_reaches_every_alias_as_in_torch(target, snippet):
    def ours(data, requires_grad=False, dtype=None):
        return target.tensor(np.asarray(data), requires_grad=requires_grad, dtype=dtype)

    def theirs(data, requires_grad=False, dtype=None):
        dtype = getattr(torch, dtype or "float64")
        return torch.tensor(np.asarray(data), dtype=dtype, requires_grad=requires_grad)

    ours.module = lambda m: m.to(target.device, backend=target.backend)
    theirs.module = lambda m: m
    values, leaves = snippet(pg, ours)
    want_values, want_leaves = snippet(torch, theirs)
    tol = dict(rtol=target.tol, atol=target.tol)
    for got, want in zip(values, want_values, strict=True):
        np.testing.assert_allclose(to_numpy(got), want.detach().numpy(), **tol)
    for got, want in zip(leaves, want_leaves, strict=True):
        np.testing.assert_allclose(to_numpy(got.grad), want.grad.numpy(), **tol)


def test_in_place_through_a_view_taken_before_its_base_got_a_gradient_is_recorded(target):
    # PyTorch refuses this (it counts the view as a leaf's); recorded, the hand formula holds:
    # b = (w0, w1, 3 w2, 3 w3), loss = w0^2 + w1^2 + 5 (3 w2) + sum(b)
    w = target.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    b = target.tensor([0.0, 0.0, 0.0, 0.0])
    head, tail, inner = b[:2], b[2:], b[1:3][1:]
    b += w * 1.0
    tail.mul_(3.0)
    ((head * head).sum() + (inner * 5.0).sum() + b.sum()).backward()
    np.testing.assert_allclose(to_numpy(w.grad), [2 * 1.0 + 1, 2 * 2.0 + 1, 15 + 3, 3], rtol=target.tol)


# ---------------------------------------------------------------- NumPy interop
def test_from_numpy_as_tensor_and_asarray_share_the_array_both_ways():
    """NumPy is the oracle: the same updates through a NumPy view of the array."""
    for make in (pg.from_numpy, pg.as_tensor, lambda a: pg.asarray(a, copy=False)):
        a, expected = np.zeros(3), np.zeros(3)
        t, view = make(a), expected.view()
        t.add_(1.0)
        view += 1.0
        t[0] = 5.0
        view[0] = 5.0
        a[2] = 7.0
        expected[2] = 7.0
        np.testing.assert_array_equal(a, expected)
        np.testing.assert_array_equal(t.numpy(), expected)


def test_a_0d_array_wrapped_without_a_copy_is_written_through():
    a = np.asarray(1.0)
    t = pg.asarray(a, copy=False)
    t[()] = 5.0
    assert float(a) == 5.0


def test_np_asarray_of_a_host_tensor_is_a_view_as_in_torch(target):
    if target.backend == "cupy":
        pytest.skip("device memory: CuPy's explicit-transfer rule (tested below)")
    t = target.tensor([0.0, 0.0, 0.0])
    host = np.asarray(t)
    host[0] = 1.0
    t[2] = 3.0
    expected = torch.zeros(3, dtype=torch.float64) if torch is not None else None
    if expected is not None:
        np.asarray(expected)[0] = 1.0
        expected[2] = 3.0
        np.testing.assert_array_equal(to_numpy(t), expected.numpy())
    np.testing.assert_array_equal(host, [1.0, 0.0, 3.0])
    assert not isinstance(np.asarray(target.tensor([[1.0, 2.0]])).flat[0], pg.Tensor)  # never an object array


def test_np_asarray_of_a_tensor_that_requires_grad_names_the_fix(target):
    t = target.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"requires grad\. Use tensor\.detach\(\)\.numpy\(\) instead"):
        np.asarray(t)
    if torch is not None:
        with pytest.raises(RuntimeError, match=r"requires grad\. Use tensor\.detach\(\)\.numpy\(\) instead"):
            np.asarray(torch.ones(2, requires_grad=True))
    np.testing.assert_array_equal(np.asarray(t.detach()), to_numpy(t))


def test_cupy_tensors_need_an_explicit_copy_to_the_host():
    backend = pg.backends.get("cupy") if "cupy" in pg.backends.available() else None
    if backend is None:
        pytest.skip("cupy is not installed")
    with pytest.raises(TypeError, match=r"Implicit conversion to a NumPy array is not allowed"):
        np.asarray(pg.ones(2, backend="cupy"))


def test_reductions_and_0d_results_are_arrays_that_export_through_dlpack(target):
    x = target.tensor([1.0, 2.0, 4.0])
    for result, expected in ((pg.sum(x), 7.0), (x.max(), 4.0), (x[0] + x[1], 3.0), (pg.exp(x[0]), np.e)):
        assert result.shape == ()
        if target.backend == "numpy":
            assert isinstance(result.array, np.ndarray)  # not a NumPy scalar: it can be written and exported
        if target.backend != "cupy":
            np.testing.assert_allclose(np.from_dlpack(result), expected, rtol=target.tol)
    total = pg.sum(x)
    total += 1.0  # a 0-d result is a buffer too
    np.testing.assert_allclose(to_numpy(total), 8.0)


# ---------------------------------------------------------------- compiled == eager
def _ema_training(target, compiled):
    """A training step with in-place writes through views, index assignment and a weight average
    kept by copy_/mul_ into state_dict() values, compiled and eager."""
    pg.manual_seed(3)
    model = pg.nn.Linear(3, 2).to(target.device, backend=target.backend)
    average = {name: v.clone() for name, v in model.state_dict().items()}
    start = [to_numpy(v) for v in average.values()]
    opt = pg.optim.SGD(model.parameters(), lr=0.1)
    x = target.tensor(np.arange(12.0).reshape(4, 3) / 10)

    def step():
        opt.zero_grad()
        h = model(x)
        h[:, 0].mul_(2.0)
        h[h < 0] = 0.0
        loss = (h * h).sum()
        loss.backward()
        opt.step()
        with pg.no_grad():
            for name, v in model.state_dict().items():
                average[name].mul_(0.9).add_(v, alpha=0.1)
        return loss

    run = pg.compile(step) if compiled else step
    losses = [to_numpy(run()) for _ in range(4)]
    assert not any(np.allclose(a, to_numpy(v)) for a, v in zip(start, average.values()))  # the average moved
    return losses, [to_numpy(v) for v in average.values()], [to_numpy(p) for p in model.parameters()]


def test_compiled_in_place_and_aliasing_match_eager(target):
    eager, compiled = _ema_training(target, False), _ema_training(target, True)
    for got, want in zip(compiled, eager, strict=True):
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=target.tol, atol=target.tol)


@needs_torch
def test_linalg_diagonal_is_a_view_as_torch_diagonal(target):
    x = target.tensor(np.zeros((3, 4)))
    want = torch.zeros(3, 4, dtype=torch.float64)
    for offset, value in ((0, 1.0), (1, 2.0), (-1, 3.0)):
        pg.linalg.diagonal(x, offset=offset).add_(value)
        torch.diagonal(want, offset=offset).add_(value)
    np.testing.assert_array_equal(to_numpy(x), want.numpy())


def test_an_op_whose_backward_reads_its_output_keeps_it_through_a_recorded_update(target64):
    """exp's backward reads its output: y[0] = 5 (recorded) keeps the old output for it, so the
    gradient is exp(x) off index 0 and 0 there (PyTorch raises here instead; a no_grad write raises)."""
    data = np.array([0.5, -1.0, 2.0])
    x = target64.tensor(data, requires_grad=True)
    y = pg.exp(x)
    y[0] = 5.0
    y.sum().backward()
    np.testing.assert_allclose(to_numpy(y), [5.0, np.exp(-1.0), np.exp(2.0)], rtol=1e-12)
    np.testing.assert_allclose(to_numpy(x.grad), [0.0, np.exp(-1.0), np.exp(2.0)], rtol=1e-12)


@needs_torch
def test_tensor_diagonal_is_a_view_as_in_torch(target):
    data = np.arange(24.0).reshape(2, 3, 4)
    for offset, dim1, dim2 in ((0, 0, 1), (1, 1, 2), (-1, 2, 0), (0, -1, -2)):
        x, want = target.tensor(data), torch.tensor(data)
        np.testing.assert_array_equal(to_numpy(x.diagonal(offset, dim1, dim2)), want.diagonal(offset, dim1, dim2).numpy())
        x.diagonal(offset, dim1, dim2).mul_(-1.0)
        pg.diagonal(x, offset, dim1, dim2).add_(0.5)
        want.diagonal(offset, dim1, dim2).mul_(-1.0)
        torch.diagonal(want, offset, dim1, dim2).add_(0.5)
        np.testing.assert_array_equal(to_numpy(x), want.numpy())
