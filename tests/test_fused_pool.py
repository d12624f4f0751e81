"""Average pooling and transposed convolution as fused rows (polygrad/primitives/fused_pool.py): against PyTorch
(values and gradients, every option and edge of the geometry), finite differences and grad of grad on every
backend, the rows recorded, and the errors. Kernels against the portable definitions: tests/test_fused_kernels.py."""

import numpy as np
import pytest
from torch_oracle import copy_parameters, needs_torch, same_as_torch, torch

import polygrad as pg
import polygrad.functional as F
from polygrad import nn

from conftest import to_numpy

RNG = np.random.default_rng(19)


def host(*shape):
    return RNG.standard_normal(shape)


def tf():
    return torch.nn.functional


AVG_POOL_CASES = [  # (n, input shape, options)
    (1, (2, 3, 8), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    (1, (3, 7), dict(kernel_size=2, padding=1, count_include_pad=False)),  # unbatched
    (2, (2, 3, 8, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    (2, (1, 1, 5, 5), dict(kernel_size=3, stride=3, padding=1, ceil_mode=True)),  # ceil's window past the end dropped
    (2, (1, 2, 5, 5), dict(kernel_size=2, stride=2, ceil_mode=True, divisor_override=3)),
    (2, (2, 3, 9, 7), dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 1), divisor_override=-2)),
    (2, (2, 3, 6, 6), dict(kernel_size=(4, 2), stride=1, padding=(2, 1), count_include_pad=False)),
    (3, (2, 2, 5, 6, 4), dict(kernel_size=(2, 3, 2), stride=(2, 2, 1), padding=1, ceil_mode=True,
                              count_include_pad=False)),
    (3, (2, 5, 4, 6), dict(kernel_size=2, stride=(1, 2, 3), padding=(1, 0, 1), divisor_override=4)),  # unbatched
]
AVG_POOL = {1: "avg_pool1d", 2: "avg_pool2d", 3: "avg_pool3d"}


def _same_value_and_gradients(target, out, expected, inputs, expected_inputs, tol):
    """out and torch's float64 `expected` agree, and so do the inputs' gradients under one random cotangent."""
    weights = host(*expected.shape)
    pg.sum(out * target.tensor(weights)).backward()
    (expected * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(to_numpy(out), expected.detach().numpy(), rtol=tol, atol=tol)
    for mine, other in zip(inputs, expected_inputs, strict=True):
        np.testing.assert_allclose(to_numpy(mine.grad), other.grad.numpy(), rtol=tol, atol=tol)


@needs_torch
@pytest.mark.parametrize("case", AVG_POOL_CASES, ids=str)
def test_avg_pool_matches_torch(case):
    n, shape, options = case
    ours, theirs = getattr(F, AVG_POOL[n]), getattr(tf(), AVG_POOL[n])
    same_as_torch(lambda x: ours(x, **options), lambda x: theirs(x, **options), host(*shape))


@needs_torch
@pytest.mark.parametrize("case", [c for c in AVG_POOL_CASES if len(c[1]) == c[0] + 2], ids=str)
def test_avg_pool_on_every_backend_matches_torch(target, case):
    """The fused row (and the backend's kernel, where it has one) in the target's dtype against torch in float64."""
    n, shape, options = case
    data = host(*shape)
    x = target.tensor(data, requires_grad=True)
    out = getattr(F, AVG_POOL[n])(x, **options)
    assert out._op.primitive.name == "avg_pool"
    expected_x = torch.tensor(to_numpy(x).astype(np.float64), requires_grad=True)
    expected = getattr(tf(), AVG_POOL[n])(expected_x, **options)
    _same_value_and_gradients(target, out, expected, [x], [expected_x], target.tol)


@needs_torch
def test_avg_pool_modules_match_torch():
    for ours, theirs, x in [
        (nn.AvgPool1d(3, 2, 1, ceil_mode=True, count_include_pad=False),
         torch.nn.AvgPool1d(3, 2, 1, ceil_mode=True, count_include_pad=False), host(2, 3, 9)),
        (nn.AvgPool2d((2, 3), padding=1, divisor_override=5), torch.nn.AvgPool2d((2, 3), padding=1, divisor_override=5),
         host(2, 3, 6, 7)),
        (nn.AvgPool3d(2, stride=1, ceil_mode=True), torch.nn.AvgPool3d(2, stride=1, ceil_mode=True), host(1, 2, 3, 4, 3)),
    ]:
        same_as_torch(ours, theirs, x)


@pytest.mark.parametrize("case", [AVG_POOL_CASES[0], AVG_POOL_CASES[2], AVG_POOL_CASES[5], AVG_POOL_CASES[7]],
                         ids=str)
def test_avg_pool_gradcheck_and_gradgradcheck(target64, case):
    n, shape, options = case
    x = target64.tensor(host(1, *shape[1:]))
    f = lambda x: getattr(F, AVG_POOL[n])(x, **options)  # noqa: E731
    pg.gradcheck(f, [x], check_forward=True)
    pg.gradgradcheck(f, [x])


def test_avg_pool_of_an_empty_batch(target):
    x = target.randn(0, 2, 5, 5, requires_grad=True)
    out = F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
    assert tuple(out.shape) == (0, 2, 3, 3)
    pg.sum(out).backward()
    assert tuple(x.grad.shape) == (0, 2, 5, 5)


def test_avg_pool_errors_name_the_operation():
    x = pg.zeros((1, 2, 5, 5))
    with pytest.raises(ValueError, match=r"avg_pool2d: divisor_override must be a nonzero int or None, got 0"):
        F.avg_pool2d(x, 2, divisor_override=0)
    with pytest.raises(ValueError, match=r"avg_pool3d: divisor_override must be a nonzero int or None, got 1.5"):
        F.avg_pool3d(pg.zeros((1, 2, 3, 3, 3)), 2, divisor_override=1.5)
    with pytest.raises(ValueError, match=r"avg_pool2d: padding \(2, 2\) must be at most half the kernel \(3, 3\)"):
        F.avg_pool2d(x, 3, padding=2)
    with pytest.raises(pg.ShapeError, match=r"avg_pool1d: kernel \(7,\) .* does not fit the padded input"):
        F.avg_pool1d(pg.zeros((1, 2, 5)), 7)
    with pytest.raises(pg.ShapeError, match="avg_pool2d: expected an input"):
        F.avg_pool2d(pg.zeros((5, 5)), 2)


TRANSPOSE_CASES = [  # (input shape, weight shape, options): every option, 1-, 2- and 3-d
    ((2, 4, 6), (4, 2, 3), dict(stride=3, padding=1, output_padding=2, dilation=2)),  # output_padding past the padding
    ((4, 5), (4, 3, 2), dict(stride=2, groups=2)),  # unbatched
    ((2, 4, 5, 4), (4, 3, 3, 2), dict(stride=(2, 3), padding=(0, 2), output_padding=(1, 2), groups=2, dilation=(1, 2))),
    ((2, 3, 4, 3), (3, 2, 3, 3), dict(stride=1, padding=2, dilation=2, output_padding=1)),  # output_padding < dilation
    ((1, 2, 3, 4, 3), (2, 3, 2, 2, 3), dict(stride=2, padding=1, output_padding=1)),
    ((2, 4, 2, 3, 2), (4, 1, 3, 2, 2), dict(stride=(1, 2, 2), padding=(1, 0, 1), groups=4, dilation=(2, 1, 1))),
]
TRANSPOSE = {1: "conv_transpose1d", 2: "conv_transpose2d", 3: "conv_transpose3d"}


def _transpose_case(case):
    x_shape, w_shape, options = case
    return TRANSPOSE[len(w_shape) - 2], x_shape, w_shape, w_shape[1] * options.get("groups", 1), options


@needs_torch
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("case", TRANSPOSE_CASES, ids=str)
def test_conv_transpose_matches_torch(case, with_bias):
    name, x_shape, w_shape, out_channels, options = _transpose_case(case)
    ours, theirs = getattr(F, name), getattr(tf(), name)
    if with_bias:
        same_as_torch(lambda x, w, b: ours(x, w, b, **options), lambda x, w, b: theirs(x, w, b, **options),
                      host(*x_shape), host(*w_shape), host(out_channels))
    else:
        same_as_torch(lambda x, w: ours(x, w, **options), lambda x, w: theirs(x, w, **options),
                      host(*x_shape), host(*w_shape))


@needs_torch
@pytest.mark.parametrize("case", [c for c in TRANSPOSE_CASES if len(c[0]) == len(c[1])], ids=str)
def test_conv_transpose_on_every_backend_matches_torch(target, case):
    name, x_shape, w_shape, out_channels, options = _transpose_case(case)
    x, w, b = (target.tensor(host(*s), requires_grad=True) for s in (x_shape, w_shape, (out_channels,)))
    out = getattr(F, name)(x, w, b, **options)
    assert out._op.primitive.name == "conv_transpose"
    theirs = [torch.tensor(to_numpy(t).astype(np.float64), requires_grad=True) for t in (x, w, b)]
    expected = getattr(tf(), name)(*theirs, **options)
    _same_value_and_gradients(target, out, expected, [x, w, b], theirs, target.tol * 10)  # sums of dozens of products


@needs_torch
def test_conv_transpose3d_module_matches_torch():
    ours = nn.ConvTranspose3d(4, 2, (3, 2, 2), stride=2, padding=1, output_padding=1, groups=2, dtype="float64")
    theirs = torch.nn.ConvTranspose3d(4, 2, (3, 2, 2), stride=2, padding=1, output_padding=1, groups=2,
                                      dtype=torch.float64)
    copy_parameters(ours, theirs)
    same_as_torch(ours, theirs, host(2, 4, 2, 3, 3))


@pytest.mark.parametrize("case", [TRANSPOSE_CASES[0], TRANSPOSE_CASES[2]], ids=str)
def test_conv_transpose_gradcheck_and_gradgradcheck(target64, case):
    name, x_shape, w_shape, out_channels, options = _transpose_case(case)
    x, w, b = (target64.tensor(host(*s) * 0.5) for s in ((1,) + x_shape[1:], w_shape, (out_channels,)))
    f = lambda x, w, b: getattr(F, name)(x, w, b, **options)  # noqa: E731
    pg.gradcheck(f, [x, w, b], check_forward=True)
    pg.gradgradcheck(f, [x, w, b])


def test_conv_transpose_of_an_empty_batch(target):
    x = target.randn(0, 4, 3, 3, requires_grad=True)
    w = target.randn(4, 2, 3, 3, requires_grad=True)
    out = F.conv_transpose2d(x, w, stride=2, output_padding=1)
    assert tuple(out.shape) == (0, 2, 8, 8)
    pg.sum(out).backward()
    assert tuple(x.grad.shape) == (0, 4, 3, 3) and np.all(to_numpy(w.grad) == 0)


def test_conv_transpose_errors_name_the_operation_and_both_sides():
    x = pg.zeros((1, 4, 5, 5))
    with pytest.raises(ValueError, match=r"conv_transpose2d: output_padding \(2, 2\) must be smaller than "
                                         r"stride \(2, 2\) or dilation \(1, 1\)"):
        F.conv_transpose2d(x, pg.zeros((4, 1, 3, 3)), stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"conv_transpose1d: output_padding \(1,\) must be smaller than stride \(1,\)"):
        F.conv_transpose1d(pg.zeros((1, 4, 5)), pg.zeros((4, 1, 3)), output_padding=1)
    with pytest.raises(pg.ShapeError, match=r"conv_transpose2d: input has 4 channels but weight .* groups=3 "
                                            r"expects 3"):
        F.conv_transpose2d(x, pg.zeros((3, 1, 3, 3)), groups=3)
    with pytest.raises(pg.ShapeError, match=r"conv_transpose2d: padding \(4, 4\) leaves no output"):
        F.conv_transpose2d(pg.zeros((1, 4, 2, 2)), pg.zeros((4, 1, 3, 3)), padding=4)
    with pytest.raises(pg.ShapeError, match=r"conv_transpose3d: expected weight \(in, out/groups, 3 kernel axes\)"):
        F.conv_transpose3d(pg.zeros((1, 4, 2, 2, 2)), pg.zeros((4, 1, 3, 3)))


ADAPTIVE_CASES = [  # (n, input shape, output_size)
    (1, (2, 3, 7), 3),
    (1, (3, 5), 8),  # unbatched; more outputs than inputs: windows overlap
    (2, (2, 3, 7, 5), (3, 2)),
    (2, (2, 3, 6, 6), 1),  # global average pooling (ResNet's head)
    (2, (2, 3, 5, 8), (None, 3)),
    (3, (2, 2, 5, 4, 7), (2, 3, 3)),
    (3, (2, 3, 4, 5), (3, None, 2)),  # unbatched
]
ADAPTIVE = {1: "adaptive_avg_pool1d", 2: "adaptive_avg_pool2d", 3: "adaptive_avg_pool3d"}


@needs_torch
@pytest.mark.parametrize("case", ADAPTIVE_CASES, ids=str)
def test_adaptive_avg_pool_matches_torch(case):
    n, shape, size = case
    ours, theirs = getattr(F, ADAPTIVE[n]), getattr(tf(), ADAPTIVE[n])
    same_as_torch(lambda x: ours(x, size), lambda x: theirs(x, size), host(*shape))


@needs_torch
@pytest.mark.parametrize("case", [c for c in ADAPTIVE_CASES if len(c[1]) == c[0] + 2], ids=str)
def test_adaptive_avg_pool_on_every_backend_matches_torch(target, case):
    n, shape, size = case
    x = target.tensor(host(*shape), requires_grad=True)
    out = getattr(F, ADAPTIVE[n])(x, size)
    assert out._op.primitive.name == "adaptive_avg_pool"
    expected_x = torch.tensor(to_numpy(x).astype(np.float64), requires_grad=True)
    expected = getattr(tf(), ADAPTIVE[n])(expected_x, size)
    _same_value_and_gradients(target, out, expected, [x], [expected_x], target.tol)


@needs_torch
def test_adaptive_avg_pool_modules_match_torch():
    for ours, theirs, x in [(nn.AdaptiveAvgPool1d(4), torch.nn.AdaptiveAvgPool1d(4), host(2, 3, 9)),
                            (nn.AdaptiveAvgPool2d((2, None)), torch.nn.AdaptiveAvgPool2d((2, None)), host(2, 3, 5, 4)),
                            (nn.AdaptiveAvgPool3d(2), torch.nn.AdaptiveAvgPool3d(2), host(1, 2, 3, 5, 4))]:
        same_as_torch(ours, theirs, x)


def test_adaptive_avg_pool_gradcheck_and_gradgradcheck(target64):
    x = target64.tensor(host(1, 2, 5, 7))
    f = lambda x: F.adaptive_avg_pool2d(x, (3, 4))  # noqa: E731
    pg.gradcheck(f, [x], check_forward=True)
    pg.gradgradcheck(f, [x])


def test_adaptive_avg_pool_of_empty_sizes(target):
    """An empty output (as PyTorch's forward gives; its own backward refuses it) has a zero gradient."""
    x = target.randn(2, 3, 4, 4, requires_grad=True)
    out = F.adaptive_avg_pool2d(x, (0, 2))
    assert tuple(out.shape) == (2, 3, 0, 2)
    pg.sum(out).backward()
    assert np.all(to_numpy(x.grad) == 0)
    empty = target.randn(0, 3, 4, 4, requires_grad=True)
    pg.sum(F.adaptive_avg_pool2d(empty, 2)).backward()
    assert tuple(empty.grad.shape) == (0, 3, 4, 4)


def test_adaptive_avg_pool_errors_name_the_operation():
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d: output_size \(-1, 2\) must not be negative"):
        F.adaptive_avg_pool2d(pg.zeros((1, 2, 4, 4)), (-1, 2))
    with pytest.raises(ValueError, match="output_size: expected an int or 3 values"):
        F.adaptive_avg_pool3d(pg.zeros((1, 2, 4, 4, 4)), (2, 2))
    with pytest.raises(pg.ShapeError, match="adaptive_avg_pool1d: expected an input"):
        F.adaptive_avg_pool1d(pg.zeros((1, 2, 4, 4)), 2)


def test_vmap_folds_the_batch_into_the_rows(target64):
    """Under vmap with shared weights the rows run once on the folded batch; the same as a loop, gradients too."""
    w, b = target64.tensor(host(3, 2, 3, 2)), target64.tensor(host(2))

    def f(x):
        y = F.conv_transpose2d(x, w, b, stride=2, padding=(1, 0), output_padding=1)
        return F.adaptive_avg_pool2d(F.avg_pool2d(y, 2, ceil_mode=True, count_include_pad=False), (2, 3))

    xs = target64.tensor(host(4, 3, 3, 4))
    want = pg.stack([f(xs[i]) for i in range(4)], axis=0)
    np.testing.assert_allclose(pg.vmap(f)(xs).numpy(), want.numpy(), rtol=1e-12, atol=1e-12)
    grad = pg.func.grad(lambda x: pg.sum(f(x) ** 2))
    want = pg.stack([grad(xs[i]) for i in range(4)], axis=0)
    np.testing.assert_allclose(pg.vmap(grad)(xs).numpy(), want.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("pool", [lambda x: F.avg_pool2d(x, 2, padding=1), lambda x: F.adaptive_avg_pool2d(x, 3)])
def test_integer_inputs_average_in_the_default_float_dtype(target, pool):
    """Means of integers are fractions, in the default float dtype on every backend (PyTorch's avg_pool2d
    truncates them to int64 instead; its adaptive_avg_pool2d refuses integers)."""
    values = [[[[3, -4, 7], [1, 0, 2], [5, 5, -9]]]]
    got = pool(target.tensor(values, dtype="int64"))
    assert got.dtype == pg.get_default_dtype()
    np.testing.assert_allclose(to_numpy(got), to_numpy(pool(target.tensor(values, dtype=pg.get_default_dtype()))))
