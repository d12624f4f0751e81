"""Convolution, transposed convolution, pooling, padding and resampling: against PyTorch in float64
(forward and every gradient, skipped without torch) and against finite differences on every backend."""

import numpy as np
import pytest
from torch_oracle import copy_parameters, needs_torch, same_as_torch, torch

import polygrad as pg
import polygrad.functional as F
from polygrad import nn

RNG = np.random.default_rng(3)


def host(*shape):
    return RNG.standard_normal(shape)


def tf():
    return torch.nn.functional


# ---------------------------------------------------------------- convolution
CONV_CASES = [  # (input shape, weight shape, options)
    ((2, 4, 7), (6, 2, 3), dict(groups=2, stride=2, padding=1)),
    ((2, 3, 8), (3, 1, 3), dict(groups=3, padding="same", dilation=2)),
    ((3, 9), (2, 3, 4), dict(padding="valid")),  # unbatched
    ((2, 4, 6, 5), (4, 2, 3, 2), dict(groups=2, stride=(2, 1), padding=(1, 0), dilation=(1, 2))),
    ((1, 2, 5, 6), (3, 2, 2, 3), dict(padding="same")),  # even kernel: the extra entry goes after
    ((2, 5, 5), (2, 2, 3, 3), dict(padding=1)),  # unbatched
]


@needs_torch
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's own performance note
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv_matches_torch(case):
    x_shape, w_shape, options = case
    n = len(w_shape) - 2
    ours, theirs = (F.conv1d, tf().conv1d) if n == 1 else (F.conv2d, tf().conv2d)
    same_as_torch(lambda x, w, b: ours(x, w, b, **options), lambda x, w, b: theirs(x, w, b, **options),
                  host(*x_shape), host(*w_shape), host(w_shape[0]))


@needs_torch
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [(1, 2), "same"])
def test_conv_padding_modes_match_torch_modules(mode, padding):
    ours = nn.Conv2d(4, 6, (3, 2), padding=padding, padding_mode=mode, groups=2, dtype="float64")
    theirs = torch.nn.Conv2d(4, 6, (3, 2), padding=padding, padding_mode=mode, groups=2, dtype=torch.float64)
    copy_parameters(ours, theirs)
    same_as_torch(ours, theirs, host(2, 4, 5, 6))
    assert repr(ours).startswith("Conv2d(4, 6, kernel_size=(3, 2)")


@pytest.mark.parametrize("case", [CONV_CASES[0], CONV_CASES[2], CONV_CASES[3]], ids=str)
def test_conv_gradcheck(target64, case):
    x_shape, w_shape, options = case
    if len(x_shape) == len(w_shape):
        x_shape = (1,) + x_shape[1:]  # one sample: finite differences cost one pass per input entry
    conv = F.conv1d if len(w_shape) == 3 else F.conv2d
    x, w, b = (target64.tensor(host(*s) * 0.5) for s in (x_shape, w_shape, (w_shape[0],)))
    pg.gradcheck(lambda x, w, b: conv(x, w, b, **options), [x, w, b], check_forward=True)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padding_mode_gradcheck(target64, mode):
    x, w = target64.tensor(host(1, 2, 4, 5)), target64.tensor(host(2, 2, 3, 3))
    pg.gradcheck(lambda x, w: F.conv2d(x, w, padding=(2, 1), padding_mode=mode), [x, w])


TRANSPOSE_CASES = [
    ((2, 4, 5), (4, 3, 3), dict(stride=2, padding=1, output_padding=1, groups=2)),
    ((4, 6), (4, 2, 2), dict(stride=3, dilation=2, output_padding=2)),  # unbatched; output_padding < dilation
    ((2, 4, 3, 4), (4, 1, 3, 2), dict(stride=(2, 1), padding=(1, 0), output_padding=(1, 0), groups=2,
                                      dilation=(1, 2))),
    ((1, 2, 4, 4), (2, 3, 4, 4), dict(stride=2, padding=1)),
]


@needs_torch
@pytest.mark.parametrize("case", TRANSPOSE_CASES, ids=str)
def test_conv_transpose_matches_torch(case):
    x_shape, w_shape, options = case
    n = len(w_shape) - 2
    ours, theirs = (F.conv_transpose1d, tf().conv_transpose1d) if n == 1 else (F.conv_transpose2d,
                                                                                tf().conv_transpose2d)
    bias = host(w_shape[1] * options.get("groups", 1))
    same_as_torch(lambda x, w, b: ours(x, w, b, **options), lambda x, w, b: theirs(x, w, b, **options),
                  host(*x_shape), host(*w_shape), bias)


@needs_torch
def test_conv_transpose_modules_match_torch():
    for ours, theirs, x in [
        (nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, dtype="float64"),
         torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, dtype=torch.float64),
         host(2, 4, 3, 5)),
        (nn.ConvTranspose1d(3, 2, 4, stride=2, bias=False, dtype="float64"),
         torch.nn.ConvTranspose1d(3, 2, 4, stride=2, bias=False, dtype=torch.float64), host(2, 3, 5)),
    ]:
        copy_parameters(ours, theirs)
        same_as_torch(ours, theirs, x)


def test_conv_transpose_gradcheck(target64):
    x_shape, w_shape, options = TRANSPOSE_CASES[2]
    x, w, b = (target64.tensor(host(*s) * 0.5) for s in (x_shape, w_shape, (2,)))
    pg.gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, **options), [x, w, b], check_forward=True)


def test_conv_transpose_is_the_adjoint_of_conv(target64):
    """<conv(x), y> = <x, conv_transpose(y)> for the same weight: the defining property."""
    x, w = target64.tensor(host(2, 4, 7, 6)), target64.tensor(host(6, 2, 3, 3))
    options = dict(stride=2, padding=1, groups=2)
    y = F.conv2d(x, w, **options)
    v = target64.tensor(host(*y.shape))
    back = F.conv_transpose2d(v, w, output_padding=(0, 1), **options)
    assert back.shape == x.shape
    np.testing.assert_allclose(float(pg.sum(y * v)), float(pg.sum(x * back)), rtol=1e-10)


def test_conv_errors_name_the_operation_and_both_sides():
    x = pg.zeros((1, 4, 5, 5))
    with pytest.raises(pg.ShapeError, match=r"conv2d: input has 4 channels but weight .* groups=3 expects 3"):
        F.conv2d(x, pg.zeros((3, 1, 3, 3)), groups=3)
    with pytest.raises(pg.ShapeError, match="do not split into groups=2"):
        F.conv2d(x, pg.zeros((3, 2, 3, 3)), groups=2)
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        F.conv2d(x, pg.zeros((1, 4, 3, 3)), padding="same", stride=2)
    with pytest.raises(ValueError, match="padding_mode must be"):
        F.conv2d(x, pg.zeros((1, 4, 3, 3)), padding_mode="mirror")
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose2d(x, pg.zeros((4, 1, 3, 3)), stride=2, output_padding=2)
    with pytest.raises(pg.ShapeError, match="conv1d: expected an input"):
        F.conv1d(x, pg.zeros((1, 4, 3)))


# ---------------------------------------------------------------- pooling
MAX_POOL_CASES = [
    ((2, 3, 7, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((2, 3, 8, 7), dict(kernel_size=(2, 3), stride=(2, 1), dilation=(2, 1))),
    ((3, 6, 6), dict(kernel_size=2, ceil_mode=True, padding=1, dilation=2)),  # unbatched
    ((1, 2, 5, 5), dict(kernel_size=2, stride=2, ceil_mode=True)),
]


@needs_torch
@pytest.mark.parametrize("case", MAX_POOL_CASES, ids=str)
def test_max_pool2d_matches_torch(case):
    shape, options = case
    same_as_torch(lambda x: F.max_pool2d(x, **options), lambda x: tf().max_pool2d(x, **options), host(*shape))
    x = host(*shape)
    ours, indices = F.max_pool2d(pg.tensor(x), return_indices=True, **options)
    theirs, expected = tf().max_pool2d(torch.tensor(x), return_indices=True, **options)
    np.testing.assert_array_equal(indices.numpy(), expected.numpy())
    np.testing.assert_allclose(ours.numpy(), theirs.numpy())


@needs_torch
def test_max_pool1d_matches_torch():
    options = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)
    same_as_torch(lambda x: F.max_pool1d(x, **options), lambda x: tf().max_pool1d(x, **options), host(2, 3, 8))


AVG_POOL_CASES = [
    ((2, 3, 7, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ((2, 3, 7, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((3, 5, 6), dict(kernel_size=(2, 3), stride=(2, 1), padding=(1, 1), count_include_pad=False)),
    ((1, 2, 5, 5), dict(kernel_size=2, divisor_override=3)),
]


@needs_torch
@pytest.mark.parametrize("case", AVG_POOL_CASES, ids=str)
def test_avg_pool2d_matches_torch(case):
    shape, options = case
    same_as_torch(lambda x: F.avg_pool2d(x, **options), lambda x: tf().avg_pool2d(x, **options), host(*shape))


@needs_torch
def test_avg_pool1d_matches_torch():
    options = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
    same_as_torch(lambda x: F.avg_pool1d(x, **options), lambda x: tf().avg_pool1d(x, **options), host(2, 3, 8))


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_options_gradcheck(target64, kind):
    x = target64.tensor(host(1, 2, 7, 6))
    if kind == "max":
        f = lambda x: F.max_pool2d(x, 3, stride=2, padding=1, dilation=(1, 2), ceil_mode=True)  # noqa: E731
    else:
        f = lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)  # noqa: E731
    pg.gradcheck(f, [x], check_forward=True)


@needs_torch
def test_max_unpool2d_matches_torch():
    x = host(2, 3, 6, 4)
    pooled, indices = F.max_pool2d(pg.tensor(x), 2, return_indices=True)
    expected_indices = tf().max_pool2d(torch.tensor(x), 2, return_indices=True)[1]
    same_as_torch(lambda v: F.max_unpool2d(v, indices, 2), lambda v: tf().max_unpool2d(v, expected_indices, 2),
                  pooled.numpy())
    same_as_torch(lambda v: nn.MaxUnpool2d(2)(v, indices, output_size=(7, 5)),
                  lambda v: torch.nn.MaxUnpool2d(2)(v, expected_indices, output_size=(7, 5)), pooled.numpy())


def test_max_unpool2d_puts_values_back(target):
    data = host(1, 2, 4, 4)
    x = target.tensor(data)
    pooled, indices = F.max_pool2d(x, 2, return_indices=True)
    data = x.numpy()
    window_max = data.reshape(1, 2, 2, 2, 2, 2).max(axis=(3, 5)).repeat(2, axis=2).repeat(2, axis=3)
    np.testing.assert_array_equal(F.max_unpool2d(pooled, indices, 2).numpy(), np.where(data == window_max, data, 0))
    with pytest.raises(IndexError, match=r"max_unpool2d \(output size \(4, 4\)\).*\[0, 16\)"):
        F.max_unpool2d(pooled, indices + 100, 2)


ADAPTIVE_CASES = [((2, 3, 7, 5), (3, 2)), ((2, 3, 6, 6), 4), ((3, 5, 8), (None, 3)), ((1, 2, 4, 4), 1)]


@needs_torch
@pytest.mark.parametrize("case", ADAPTIVE_CASES, ids=str)
def test_adaptive_pools_match_torch(case):
    shape, size = case
    same_as_torch(lambda x: F.adaptive_avg_pool2d(x, size), lambda x: tf().adaptive_avg_pool2d(x, size), host(*shape))
    same_as_torch(lambda x: F.adaptive_max_pool2d(x, size), lambda x: tf().adaptive_max_pool2d(x, size), host(*shape))


@needs_torch
def test_adaptive_avg_pool1d_matches_torch():
    same_as_torch(lambda x: nn.AdaptiveAvgPool1d(3)(x), lambda x: torch.nn.AdaptiveAvgPool1d(3)(x), host(2, 3, 7))


def test_adaptive_pools_gradcheck(target64):
    x = target64.tensor(host(1, 2, 5, 7))
    pg.gradcheck(lambda x: F.adaptive_avg_pool2d(x, (2, 3)), [x], check_forward=True)
    pg.gradcheck(lambda x: F.adaptive_max_pool2d(x, (3, 2)), [x])


# ---------------------------------------------------------------- padding and resampling
@needs_torch
@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_matches_torch(mode):
    widths = (1, 2, 2, 0)
    value = 0.5 if mode == "constant" else None
    same_as_torch(lambda x: F.pad(x, widths, mode, value), lambda x: tf().pad(x, widths, mode, value),
                  host(2, 3, 4, 5))


@needs_torch
def test_pad_modules_match_torch():
    x = host(2, 3, 4, 5)
    for name, args in [("ZeroPad2d", ((1, 2, 0, 3),)), ("ConstantPad2d", (2, -1.5)), ("ConstantPad1d", ((1, 2), 3.0)),
                       ("ReflectionPad2d", (2,)), ("ReflectionPad1d", ((3, 1),)), ("ReplicationPad2d", ((1, 0, 2, 3),)),
                       ("ReplicationPad1d", (2,)), ("CircularPad2d", (1,))]:
        data = x[:, :, 0] if name.endswith("1d") else x
        same_as_torch(getattr(nn, name)(*args), getattr(torch.nn, name)(*args), data)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_gradcheck(target64, mode):
    pg.gradcheck(lambda x: F.pad(x, (2, 1, 1, 1), mode), [target64.tensor(host(1, 2, 3, 4))], check_forward=True)


INTERPOLATE_CASES = [
    ((2, 3, 4, 5), dict(size=(7, 3), mode="nearest")),
    ((2, 3, 4, 5), dict(scale_factor=2, mode="nearest")),
    ((2, 3, 4, 5), dict(size=(7, 9), mode="bilinear", align_corners=False)),
    ((2, 3, 4, 5), dict(size=(7, 3), mode="bilinear", align_corners=True)),
    ((2, 3, 4, 5), dict(scale_factor=1.5, mode="bilinear", align_corners=False)),
    ((2, 3, 6), dict(scale_factor=2.5, mode="linear", align_corners=False)),
    ((2, 3, 6), dict(size=4, mode="linear", align_corners=True)),
    ((2, 3, 6), dict(scale_factor=3, mode="nearest")),
]


@needs_torch
@pytest.mark.parametrize("case", INTERPOLATE_CASES, ids=str)
def test_interpolate_matches_torch(case):
    shape, options = case
    same_as_torch(lambda x: F.interpolate(x, **options), lambda x: tf().interpolate(x, **options), host(*shape))
    same_as_torch(nn.Upsample(**options), torch.nn.Upsample(**options), host(*shape))


def test_interpolate_gradcheck(target64):
    x = target64.tensor(host(1, 2, 3, 4))
    pg.gradcheck(lambda x: F.interpolate(x, size=(5, 3), mode="bilinear", align_corners=False), [x],
                 check_forward=True)
    pg.gradcheck(lambda x: F.interpolate(x, scale_factor=2, mode="nearest"), [x])


def test_interpolate_refuses_unclear_requests():
    x = pg.zeros((1, 1, 2, 2))
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="mode 'linear' does not apply"):
        F.interpolate(x, size=3, mode="linear")
    with pytest.raises(ValueError, match="align_corners applies only"):
        F.interpolate(x, size=3, align_corners=True)


# ---------------------------------------------------------------- modules
@needs_torch
def test_pool_modules_match_torch():
    x = host(2, 3, 7, 6)
    for name, args, kwargs in [
        ("MaxPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True, dilation=1)),
        ("AvgPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
        ("AdaptiveAvgPool2d", ((3, 2),), {}), ("AdaptiveMaxPool2d", (2,), {}),
        ("MaxPool1d", (2,), {}), ("AvgPool1d", (3,), dict(stride=1, padding=1)),
    ]:
        data = x[:, :, 0] if name.endswith("1d") else x
        same_as_torch(getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs), data)


def test_identity_and_unflatten(target):
    x = target.tensor(host(2, 12))
    assert nn.Identity(3, unused=True)(x) is x
    y = nn.Unflatten(1, (3, 4))(x)
    assert y.shape == (2, 3, 4)
    np.testing.assert_array_equal(y.numpy(), x.numpy().reshape(2, 3, 4))
    assert nn.Unflatten(-1, (2, 6))(x).shape == (2, 2, 6)
