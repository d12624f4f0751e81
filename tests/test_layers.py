"""Layers, activations and losses: forward against independent NumPy formulas on every
backend x device x dtype, gradients against finite differences (gradcheck) in float64;
convolution, pooling, normalization and the recurrent cells check forward mode too."""

import math

import numpy as np
import pytest

import polygrad as pg
import polygrad.functional as F
from polygrad import nn

RNG = np.random.default_rng(0)


def host(*shape, low=-1.0, high=1.0):
    return RNG.uniform(low, high, size=shape)


def check(actual, expected, target, like=None):
    """actual matches the NumPy value, and stayed on the inputs' device."""
    if like is not None:
        assert actual.device == like.device, f"result on {actual.device!r}, input on {like.device!r}"
    rtol, atol = (1e-9, 1e-12) if target.dtype == "float64" else (1e-4, 1e-5)
    np.testing.assert_allclose(actual.numpy(), expected, rtol=rtol, atol=atol)


def log_softmax_np(x, axis=1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def sigmoid_np(x):
    return 1 / (1 + np.exp(-x))


# ---------------------------------------------------------------- linear and activations
def test_linear(target):
    x, w, b = host(3, 4), host(2, 4), host(2)
    tx = target.tensor(x)
    check(F.linear(tx, target.tensor(w), target.tensor(b)), x @ w.T + b, target, tx)


def test_linear_gradcheck(target64):
    x, w, b = (target64.tensor(a) for a in (host(3, 4), host(2, 4), host(2)))
    pg.gradcheck(F.linear, [x, w, b])


def gelu_np(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


ACTIVATIONS = {
    "relu": (F.relu, lambda x: np.maximum(x, 0)),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    "sigmoid": (F.sigmoid, sigmoid_np),
    "tanh": (F.tanh, np.tanh),
    "gelu": (lambda x: F.gelu(x, approximate="tanh"), gelu_np),
    "softmax": (lambda x: F.softmax(x, axis=1), lambda x: np.exp(log_softmax_np(x, 1))),
    "log_softmax": (lambda x: F.log_softmax(x, axis=0), lambda x: log_softmax_np(x, 0)),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation(target, name):
    function, reference = ACTIVATIONS[name]
    x = host(3, 4, low=-3, high=3)
    tx = target.tensor(x)
    check(function(tx), reference(x), target, tx)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_gradcheck(target64, name):
    pg.gradcheck(ACTIVATIONS[name][0], [target64.tensor(host(2, 3, low=-3, high=3))])


def test_gelu_tanh_approximation_is_close_to_the_exact_form():
    x = np.linspace(-4, 4, 81)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x])
    np.testing.assert_allclose(F.gelu(pg.tensor(x, dtype="float64")).numpy(), exact, rtol=1e-14, atol=1e-15)
    approx = F.gelu(pg.tensor(x, dtype="float64"), approximate="tanh").numpy()
    assert 1e-5 < np.max(np.abs(approx - exact)) < 1e-3
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        F.gelu(pg.tensor(x), approximate="erf")


@pytest.mark.parametrize("layer, function", [
    (nn.ReLU(), F.relu), (nn.LeakyReLU(0.3), lambda x: F.leaky_relu(x, 0.3)), (nn.Sigmoid(), F.sigmoid),
    (nn.Tanh(), F.tanh), (nn.GELU(), F.gelu), (nn.Softmax(dim=0), lambda x: F.softmax(x, axis=0)),
    (nn.LogSoftmax(dim=1), lambda x: F.log_softmax(x, axis=1)), (nn.Flatten(), lambda x: pg.reshape(x, (2, 12))),
])
def test_activation_modules_call_their_function(layer, function):
    x = pg.tensor(host(2, 3, 4), dtype="float64")
    np.testing.assert_array_equal(layer(x).numpy(), function(x).numpy())


# ---------------------------------------------------------------- convolution
def conv_np(x, w, b, stride, padding, dilation):
    """Direct convolution: every output position, every kernel tap, one product each."""
    n = x.ndim - 2
    padded = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    kernel = w.shape[2:]
    out = [(padded.shape[2 + i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in range(n)]
    y = np.zeros((x.shape[0], w.shape[0], *out))
    for position in np.ndindex(*out):
        for tap in np.ndindex(*kernel):
            at = tuple(position[i] * stride[i] + tap[i] * dilation[i] for i in range(n))
            y[(slice(None), slice(None)) + position] += padded[(slice(None), slice(None)) + at] @ w[(..., *tap)].T
    return y + b.reshape((1, -1) + (1,) * n)


# (input spatial shape, kernel, stride, padding, dilation): odd sizes, padding, stride, dilation
CONV2D_CASES = [
    ((5, 6), (3, 3), (1, 1), (0, 0), (1, 1)),
    ((5, 5), (3, 2), (2, 1), (1, 0), (1, 1)),
    ((7, 6), (2, 3), (1, 2), (2, 1), (2, 1)),
    ((4, 4), (1, 1), (3, 3), (0, 0), (1, 1)),
    ((3, 3), (3, 3), (1, 1), (1, 1), (2, 2)),
]
CONV1D_CASES = [((7,), (3,), (1,), (0,), (1,)), ((8,), (2,), (3,), (2,), (3,))]


@pytest.mark.parametrize("case", CONV1D_CASES + CONV2D_CASES, ids=str)
def test_conv_forward(target, case):
    spatial, kernel, stride, padding, dilation = case
    x, w, b = host(2, 3, *spatial), host(4, 3, *kernel), host(4)
    conv = F.conv1d if len(spatial) == 1 else F.conv2d
    tx = target.tensor(x)
    y = conv(tx, target.tensor(w), target.tensor(b), stride, padding, dilation)
    check(y, conv_np(x, w, b, stride, padding, dilation), target, tx)


@pytest.mark.parametrize("case", [CONV1D_CASES[1], CONV2D_CASES[1], CONV2D_CASES[2]], ids=str)
def test_conv_gradcheck(target64, case):
    spatial, kernel, stride, padding, dilation = case
    conv = F.conv1d if len(spatial) == 1 else F.conv2d
    x, w, b = (target64.tensor(a) for a in (host(1, 2, *spatial), host(2, 2, *kernel), host(2)))
    pg.gradcheck(lambda x, w, b: conv(x, w, b, stride, padding, dilation), [x, w, b], check_forward=True)


def test_conv_layers_match_the_reference(target):
    layer = nn.Conv2d(2, 3, (2, 3), stride=(1, 2), padding=1, dilation=(2, 1),
                      backend=target.backend, device=target.device, dtype=target.dtype)
    assert layer.weight.shape == (3, 2, 2, 3) and layer.weight.device == pg.tensor(0.0, **_at(target)).device
    x = host(2, 2, 5, 6)
    w, b = layer.weight.numpy().astype(np.float64), layer.bias.numpy().astype(np.float64)
    check(layer(target.tensor(x)), conv_np(x, w, b, (1, 2), (1, 1), (2, 1)), target)
    layer1 = nn.Conv1d(2, 3, 3, padding=2, bias=False, **_at(target))
    w1 = layer1.weight.numpy().astype(np.float64)
    check(layer1(target.tensor(x[:, :, 0])), conv_np(x[:, :, 0], w1, np.zeros(3), (1,), (2,), (1,)), target)


def _at(target):
    return {"backend": target.backend, "device": target.device, "dtype": target.dtype}


def test_conv_rejects_bad_shapes():
    x = pg.zeros((1, 2, 4, 4))
    with pytest.raises(pg.ShapeError, match="channels"):
        F.conv2d(x, pg.zeros((1, 3, 2, 2)))
    with pytest.raises(pg.ShapeError, match="does not fit"):
        F.conv2d(x, pg.zeros((1, 2, 5, 5)))
    with pytest.raises(pg.ShapeError, match="spatial"):
        F.conv1d(x, pg.zeros((1, 2, 2)))



@pytest.mark.parametrize("padding", ["same", "valid"])
def test_string_padding_is_refused_clearly_by_pooling(padding):
    x = pg.zeros((1, 2, 4, 4))
    with pytest.raises(ValueError, match=f"padding='{padding}' is not supported; pass integers"):
        F.max_pool2d(x, 2, padding=padding)
    with pytest.raises(ValueError, match="padding must be 'same', 'valid', an int or 2 ints, got 'full'"):
        F.conv2d(x, pg.zeros((1, 2, 3, 3)), padding="full")


def test_conv_arguments_take_integer_scalars_and_refuse_other_values():
    x, w = pg.ones((1, 1, 4, 4)), pg.ones((1, 1, 3, 3))
    assert F.conv2d(x, w, padding=np.int64(1), stride=(np.int32(1), 2)).shape == (1, 1, 4, 2)
    with pytest.raises(ValueError, match=r"stride: expected an int or 2 ints, got \(1, 2, 3\)"):
        F.conv2d(x, w, stride=(1, 2, 3))
    with pytest.raises(ValueError, match=r"padding: expected an int or 2 ints, got \(1\.5, 1\)"):
        F.conv2d(x, w, padding=(1.5, 1))
    with pytest.raises(TypeError, match="dilation: expected an int or 2 ints, got 1.0"):
        F.conv2d(x, w, dilation=1.0)


# ---------------------------------------------------------------- pooling
def pool_np(x, kernel, stride, padding, reduce, fill):
    padded = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding], constant_values=fill)
    out = [(padded.shape[2 + i] - kernel[i]) // stride[i] + 1 for i in range(2)]
    y = np.empty(x.shape[:2] + tuple(out))
    for i, j in np.ndindex(*out):
        window = padded[:, :, i * stride[0]:i * stride[0] + kernel[0], j * stride[1]:j * stride[1] + kernel[1]]
        y[:, :, i, j] = reduce(window, axis=(2, 3))
    return y


POOL_CASES = [((4, 4), (2, 2), None, (0, 0)), ((5, 7), (3, 2), (2, 2), (1, 1)), ((5, 5), (3, 3), (1, 2), (1, 0))]


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_forward(target, case, kind):
    spatial, kernel, stride, padding = case
    x = host(2, 3, *spatial)
    tx = target.tensor(x)
    function, reduce, fill = (F.max_pool2d, np.max, -np.inf) if kind == "max" else (F.avg_pool2d, np.mean, 0.0)
    check(function(tx, kernel, stride, padding), pool_np(x, kernel, stride or kernel, padding, reduce, fill),
          target, tx)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_gradcheck(target64, kind):
    function = F.max_pool2d if kind == "max" else F.avg_pool2d
    x = target64.tensor(host(1, 2, 5, 4))
    pg.gradcheck(lambda x: function(x, (3, 2), (2, 1), (1, 1)), [x], check_forward=True)


def test_max_pool_gradient_goes_to_the_maximum_and_pool_modules():
    x = pg.tensor([[[[1.0, 5.0], [2.0, 3.0]]]], requires_grad=True)
    nn.MaxPool2d(2)(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[[[0, 1], [0, 0]]]])
    np.testing.assert_allclose(nn.AvgPool2d(2)(x).numpy(), [[[[2.75]]]])
    with pytest.raises(ValueError, match="at most half"):
        F.max_pool2d(x, 2, padding=2)


# ---------------------------------------------------------------- normalization
def test_batch_norm_training_then_eval(target):
    x1, x2 = host(4, 3, 2), host(4, 3, 2, low=1, high=3)
    layer = nn.BatchNorm1d(3, momentum=0.2, **_at(target))
    with pg.no_grad():
        layer.weight.copy_(target.tensor([1.0, 2.0, 0.5]))
        layer.bias.copy_(target.tensor([0.0, -1.0, 1.0]))
    w, b = np.array([1.0, 2.0, 0.5])[None, :, None], np.array([0.0, -1.0, 1.0])[None, :, None]
    running_mean, running_var = np.zeros(3), np.ones(3)
    for x in (x1, x2):
        mean, var = x.mean(axis=(0, 2)), x.var(axis=(0, 2))
        expected = (x - mean[None, :, None]) / np.sqrt(var[None, :, None] + 1e-5) * w + b
        check(layer(target.tensor(x)), expected, target)
        running_mean = 0.8 * running_mean + 0.2 * mean
        running_var = 0.8 * running_var + 0.2 * x.var(axis=(0, 2), ddof=1)
    check(layer.running_mean, running_mean, target)
    check(layer.running_var, running_var, target)
    assert layer.num_batches_tracked.item() == 2
    layer.eval()
    x = host(2, 3, 5)
    expected = (x - running_mean[None, :, None]) / np.sqrt(running_var[None, :, None] + 1e-5) * w + b
    check(layer(target.tensor(x)), expected, target)
    check(layer.running_mean, running_mean, target)  # eval leaves the statistics alone
    assert layer.num_batches_tracked.item() == 2


def test_batch_norm_2d_normalizes_each_channel(target):
    layer = nn.BatchNorm2d(2, **_at(target))
    x = host(3, 2, 2, 3, low=0, high=5)
    y = layer(target.tensor(x)).numpy()
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-3)
    with pytest.raises(pg.ShapeError, match="rank 4"):
        layer(target.tensor(x[0]))
    with pytest.raises(pg.ShapeError, match="more than one value"):
        nn.BatchNorm1d(2, **_at(target))(target.tensor(host(1, 2)))


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck(target64, training):
    x, w, b = (target64.tensor(a) for a in (host(3, 2, 2), host(2), host(2)))
    mean, var = target64.tensor([0.1, -0.2]), target64.tensor([0.5, 2.0])
    # running statistics are inputs only in eval; in training they would be updated per call
    stats = (None, None) if training else (mean, var)
    pg.gradcheck(lambda x, w, b: F.batch_norm(x, *stats, w, b, training=training), [x, w, b], check_forward=True)


def test_layer_norm(target):
    x, w, b = host(2, 3, 4), host(3, 4), host(3, 4)
    mean, var = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
    tx = target.tensor(x)
    check(F.layer_norm(tx, (3, 4), target.tensor(w), target.tensor(b)), (x - mean) / np.sqrt(var + 1e-5) * w + b,
          target, tx)
    layer = nn.LayerNorm(4, **_at(target))
    mean, var = x.mean(axis=-1, keepdims=True), x.var(axis=-1, keepdims=True)
    check(layer(tx), (x - mean) / np.sqrt(var + 1e-5), target, tx)
    with pytest.raises(pg.ShapeError, match="normalized_shape"):
        F.layer_norm(tx, (3,))


def test_layer_norm_gradcheck(target64):
    x, w, b = (target64.tensor(a) for a in (host(2, 3), host(3), host(3)))
    pg.gradcheck(lambda x, w, b: F.layer_norm(x, 3, w, b), [x, w, b])


# ---------------------------------------------------------------- lookup and recurrent cells
def test_embedding_forward_and_repeated_index_gradient(target):
    layer = nn.Embedding(5, 3, **_at(target))
    w = layer.weight.numpy()
    indices = [[0, 2], [2, 4]]
    out = layer(indices)
    check(out, w[np.array(indices)], target, layer.weight)
    out.sum().backward()
    check(layer.weight.grad, np.array([1, 0, 2, 0, 1])[:, None] * np.ones((1, 3)), target)


def test_embedding_gradcheck(target64):
    indices = target64.tensor([3, 0, 3, 1], dtype="int64")
    pg.gradcheck(lambda w: F.embedding(indices, w), [target64.tensor(host(4, 2))])


def rnn_np(x, h, w_ih, w_hh, b_ih, b_hh):
    return np.tanh(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh)


def gru_np(x, h, w_ih, w_hh, b_ih, b_hh):
    (wir, wiz, win), (whr, whz, whn) = np.split(w_ih, 3), np.split(w_hh, 3)
    (bir, biz, bin_), (bhr, bhz, bhn) = np.split(b_ih, 3), np.split(b_hh, 3)
    r = sigmoid_np(x @ wir.T + bir + h @ whr.T + bhr)
    z = sigmoid_np(x @ wiz.T + biz + h @ whz.T + bhz)
    n = np.tanh(x @ win.T + bin_ + r * (h @ whn.T + bhn))
    return (1 - z) * n + z * h


@pytest.mark.parametrize("cell, reference", [(nn.RNNCell, rnn_np), (nn.GRUCell, gru_np)])
def test_recurrent_cells(target, cell, reference):
    layer = cell(3, 4, **_at(target))
    params = [p.numpy().astype(np.float64) for p in (layer.weight_ih, layer.weight_hh, layer.bias_ih, layer.bias_hh)]
    assert all(np.abs(p).max() <= 0.5 for p in params)  # U(-1/sqrt(4), 1/sqrt(4))
    x, h = host(2, 3), host(2, 4)
    tx = target.tensor(x)
    check(layer(tx, target.tensor(h)), reference(x, h, *params), target, tx)
    check(layer(tx), reference(x, np.zeros((2, 4)), *params), target, tx)


@pytest.mark.parametrize("function, gates", [(F.rnn_cell, 1), (F.gru_cell, 3)])
def test_recurrent_cells_gradcheck(target64, function, gates):
    shapes = [(2, 2), (2, 2), (2 * gates, 2), (2 * gates, 2), (2 * gates,), (2 * gates,)]
    pg.gradcheck(function, [target64.tensor(host(*s)) for s in shapes], check_forward=True)


# ---------------------------------------------------------------- dropout
def test_dropout_scales_kept_entries_and_is_identity_in_eval(target):
    x = pg.ones((1000,), **_at(target))
    y = F.dropout(x, 0.25, training=True).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    assert 0.65 < kept.mean() < 0.85
    assert F.dropout(x, 0.25, training=False) is x
    layer = nn.Dropout(0.25).eval()
    assert layer(x) is x
    assert not F.dropout(x, 1.0).numpy().any()


def test_dropout_same_seed_same_mask_and_gradient(target):
    x = pg.ones((50,), requires_grad=True, **_at(target))
    masks = []
    for _ in range(2):
        generator = pg.random.Generator(7, device=target.device, backend=target.backend)
        masks.append(F.dropout(x, 0.5, generator=generator).numpy())
    np.testing.assert_array_equal(masks[0], masks[1])
    pg.manual_seed(3)
    first = nn.Dropout(0.5)(x)
    pg.manual_seed(3)
    second = nn.Dropout(0.5)(x)
    np.testing.assert_array_equal(first.numpy(), second.numpy())
    first.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), first.numpy())  # d/dx of x * mask * 2 is the output at x = 1


# ---------------------------------------------------------------- losses
def test_mse_loss(target):
    a, b = host(3, 2), host(3, 2)
    ta = target.tensor(a)
    check(F.mse_loss(ta, target.tensor(b)), ((a - b) ** 2).mean(), target, ta)
    check(nn.MSELoss(reduction="sum")(ta, target.tensor(b)), ((a - b) ** 2).sum(), target)
    check(F.mse_loss(ta, target.tensor(b), reduction="none"), (a - b) ** 2, target)


def test_cross_entropy_with_indices_probabilities_and_smoothing(target):
    logits, labels = host(4, 3, low=-3, high=3), np.array([0, 2, 1, 2])
    tl, ti = target.tensor(logits), target.tensor(labels, dtype="int64")
    one_hot = np.eye(3)[labels]
    log_p = log_softmax_np(logits)
    per_sample = -log_p[np.arange(4), labels]
    check(F.cross_entropy(tl, ti), per_sample.mean(), target, tl)
    check(F.cross_entropy(tl, target.tensor(one_hot)), per_sample.mean(), target)
    check(nn.CrossEntropyLoss(reduction="none")(tl, ti), per_sample, target)
    check(nn.CrossEntropyLoss(reduction="sum")(tl, labels.tolist()), per_sample.sum(), target)
    smoothed = -(((1 - 0.1) * one_hot + 0.1 / 3) * log_p).sum(axis=1).mean()
    check(nn.CrossEntropyLoss(label_smoothing=0.1)(tl, ti), smoothed, target)
    check(F.cross_entropy(tl, target.tensor(one_hot), label_smoothing=0.1), smoothed, target)
    check(F.nll_loss(F.log_softmax(tl, axis=1), ti), per_sample.mean(), target)
    check(nn.NLLLoss()(F.log_softmax(tl, axis=1), ti), per_sample.mean(), target)


def test_cross_entropy_over_extra_axes(target):
    logits, labels = host(2, 3, 4), np.array([[0, 1, 2, 2], [1, 1, 0, 2]])
    log_p = log_softmax_np(logits)
    expected = -np.take_along_axis(log_p, labels[:, None], axis=1).mean()
    check(F.cross_entropy(target.tensor(logits), target.tensor(labels, dtype="int64")), expected, target)


def test_cross_entropy_shape_errors():
    logits = pg.zeros((4, 3))
    with pytest.raises(pg.ShapeError, match="class indices of shape"):
        F.cross_entropy(logits, [0, 1])
    with pytest.raises(pg.ShapeError, match="probability targets"):
        F.cross_entropy(logits, pg.zeros((4, 2)))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(logits, [0, 1, 2, 0], reduction="avg")


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_gradcheck(target64, smoothing):
    labels = target64.tensor([2, 0, 1], dtype="int64")
    logits, probabilities = target64.tensor(host(3, 3)), target64.tensor(np.full((3, 3), 1 / 3))
    pg.gradcheck(lambda x: F.cross_entropy(x, labels, label_smoothing=smoothing), [logits])
    pg.gradcheck(lambda x, p: F.cross_entropy(x, p, label_smoothing=smoothing), [logits, probabilities])
    pg.gradcheck(lambda x: F.nll_loss(x, labels, reduction="sum"), [logits])


def bce_np(x, y, pos_weight=1.0):
    p = sigmoid_np(x)
    return -(pos_weight * y * np.log(p) + (1 - y) * np.log(1 - p))


def test_bce_with_logits(target):
    x, y = host(3, 2, low=-4, high=4), host(3, 2, low=0, high=1)
    tx = target.tensor(x)
    check(F.binary_cross_entropy_with_logits(tx, target.tensor(y)), bce_np(x, y).mean(), target, tx)
    loss = nn.BCEWithLogitsLoss(reduction="none", pos_weight=target.tensor([2.0, 0.5]))
    check(loss(tx, target.tensor(y)), bce_np(x, y, np.array([2.0, 0.5])), target)
    # stable where the naive formula overflows: a confident right answer costs ~0, a wrong one ~|x|
    extreme = F.binary_cross_entropy_with_logits(target.tensor([100.0, -100.0]), [1, 1], reduction="none")
    check(extreme, [0.0, 100.0], target)


def test_bce_gradient_is_sigmoid_minus_target_even_at_zero(target64):
    x = target64.tensor([0.0, 0.0, 2.0], requires_grad=True)
    F.binary_cross_entropy_with_logits(x, target64.tensor([1.0, 0.0, 1.0]), reduction="sum").backward()
    np.testing.assert_allclose(x.grad.numpy(), [-0.5, 0.5, sigmoid_np(2.0) - 1], rtol=1e-12)
    pos_weight = target64.tensor([3.0, 1.0, 0.5])
    pg.gradcheck(lambda x, y: F.binary_cross_entropy_with_logits(x, y, pos_weight=pos_weight),
                 [target64.tensor(host(3, low=-3, high=3)), target64.tensor(host(3, low=0, high=1))])
    pg.gradcheck(F.mse_loss, [target64.tensor(host(2, 2)), target64.tensor(host(2, 2))])
