"""Every primitive's gradient against central finite differences, on every backend.

CASES names each primitive with a function of tensors and the inputs to try,
including the broadcasting shapes and batched matmuls the core issue lists.
A primitive added to the table without a case here fails `test_every_primitive_is_covered`.
"""

import numpy as np
import pytest

import polygrad as pg
from polygrad.primitives.table import PRIMITIVES
from primitive_cases import general_spectral, parts, singular, spectral
from polygrad.namespace import ops

# input kinds: "n" normal, "p" positive (log, sqrt, pow base), "u" distinct-ish uniform in (-1, 1)
BROADCASTS = [((3, 1), (3, 3)), ((1,), (3, 3, 3)), ((), (3, 3, 3)), ((5, 4, 1), (5, 4, 3)), ((3, 3), (3, 3))]


def binary(fn, kind="n"):
    return [(fn, [(kind, a), (kind, b)]) for a, b in BROADCASTS] + [(fn, [(kind, b), (kind, a)]) for a, b in BROADCASTS[:2]]


def unary(fn, kind="n", shapes=((3, 4),)):
    return [(fn, [(kind, s)]) for s in shapes]


def _layer_norm(n):
    return lambda x, w, b: ops.layer_norm(x, w, b, n=n, eps=1e-5)


def _seeded(seed, fn, *args, **kwargs):
    pg.manual_seed(seed)
    return fn(*args, **kwargs)


IDX = np.array([2, 0, 2, 1])  # a repeated index: scatter-add must accumulate

CASES = {
    "add": binary(lambda a, b: a + b),
    "subtract": binary(lambda a, b: a - b),
    "multiply": binary(lambda a, b: a * b),
    "divide": binary(lambda a, b: a / b, "p"),
    "pow": binary(lambda a, b: a ** b, "p") + unary(lambda a: a ** 3) + unary(lambda a: 2.0 ** a),
    "negative": unary(lambda a: -a),
    "exp": unary(pg.exp),
    "expm1": unary(pg.expm1),
    "log": unary(pg.log, "p"),
    "log1p": unary(pg.log1p, "p"),
    "sqrt": unary(pg.sqrt, "p"),
    "sin": unary(pg.sin),
    "cos": unary(pg.cos),
    "tanh": unary(pg.tanh),
    "sigmoid": unary(pg.sigmoid),
    "log_sigmoid": unary(pg.log_sigmoid),
    "softplus": unary(pg.softplus),
    "relu": unary(pg.relu),
    "abs": unary(pg.abs),
    "maximum": binary(pg.maximum, "u"),
    "minimum": binary(pg.minimum, "u"),
    "clip": unary(lambda a: pg.clip(a, -0.5, 0.4), "u") + unary(lambda a: pg.clip(a, max=0.1), "u"),
    "where": [(lambda a, b: pg.where(a > 0, a, b), [("n", (3, 1)), ("n", (3, 3))])],
    "astype": unary(lambda a: pg.astype(a, a.dtype) * 2),
    "matmul": [
        (pg.matmul, [("n", (4,)), ("n", (4,))]),
        (pg.matmul, [("n", (3, 4)), ("n", (4,))]),
        (pg.matmul, [("n", (4,)), ("n", (2, 4, 3))]),
        (pg.matmul, [("n", (3, 4)), ("n", (4, 2))]),
        (pg.matmul, [("n", (6, 6, 5, 4)), ("n", (6, 6, 4, 3))]),
        (pg.matmul, [("n", (6, 6, 5, 4)), ("n", (4, 3))]),
        (pg.matmul, [("n", (5, 4)), ("n", (6, 6, 4, 3))]),
    ],
    "matrix_transpose": unary(pg.matrix_transpose, shapes=((2, 3, 4),)),
    # the Array API's elementwise functions ("u": inside (-1, 1), where asin/acos/atanh are smooth)
    "tan": unary(pg.tan, "u"),
    "sinh": unary(pg.sinh),
    "cosh": unary(pg.cosh),
    "asin": unary(pg.asin, "u"),
    "acos": unary(pg.acos, "u"),
    "atan": unary(pg.atan),
    "asinh": unary(pg.asinh),
    "acosh": unary(lambda a: pg.acosh(a + 1.0), "p"),
    "atanh": unary(pg.atanh, "u"),
    "log2": unary(pg.log2, "p"),
    "log10": unary(pg.log10, "p"),
    "reciprocal": unary(pg.reciprocal, "p"),
    "positive": unary(pg.positive),
    "atan2": binary(pg.atan2, "p"),
    "logaddexp": binary(pg.logaddexp),
    "hypot": binary(pg.hypot),
    # no gradient in x2
    "copysign": unary(lambda a: pg.copysign(a, -1.0), "u") + unary(lambda a: pg.copysign(a, pg.flip(a).detach()), "u"),
    "remainder": [(lambda a, b: pg.remainder(a * 3.0, b), [("p", (3, 4)), ("p", (3, 4))])],
    "flip": unary(lambda a: pg.flip(a, axis=1)) + unary(pg.flip),
    "roll": unary(lambda a: pg.roll(a, shift=2, axis=1)) + unary(lambda a: pg.roll(a, shift=(1, -1), axis=(0, 1))),
    "tril": unary(lambda a: pg.tril(a, k=1)),
    "triu": unary(lambda a: pg.triu(a, k=-1), shapes=((2, 3, 4),)),
    "cumulative_sum": unary(lambda a: pg.cumulative_sum(a, axis=1))
    + unary(lambda a: pg.cumulative_sum(a, axis=0, include_initial=True)),
    # pg.linalg, on well-conditioned matrices ("d": a random matrix plus 3 on the diagonal)
    "linalg_inv": unary(pg.linalg.inv, "d", ((3, 3), (2, 3, 3))),
    "linalg_solve": [(pg.linalg.solve, [("d", (3, 3)), ("n", (3, 2))]), (pg.linalg.solve, [("d", (2, 3, 3)), ("n", (3,))])],
    "linalg_det": unary(pg.linalg.det, "d", ((3, 3), (2, 3, 3))),
    "linalg_logabsdet": unary(lambda a: pg.linalg.slogdet(a).logabsdet, "d", ((3, 3),)),
    "linalg_cholesky": unary(lambda a: pg.linalg.cholesky(a @ pg.matrix_transpose(a)), "d", ((3, 3), (2, 3, 3)))
    + unary(lambda a: pg.linalg.cholesky(a @ pg.matrix_transpose(a), upper=True), "d", ((3, 3),)),
    # the decompositions' vectors through functions their signs do not change (QR's are smooth as they come)
    "linalg_eigh": unary(lambda a: spectral(pg.linalg.eigh(a + pg.matrix_transpose(a))), "n", ((3, 3), (2, 3, 3))),
    "linalg_eigvalsh": unary(lambda a: pg.linalg.eigvalsh(a + pg.matrix_transpose(a)), "n", ((3, 3), (2, 3, 3))),
    "linalg_svd": unary(lambda a: singular(pg.linalg.svd(a, full_matrices=False)), "n", ((4, 3), (2, 3, 4), (3, 3))),
    "linalg_svdvals": unary(pg.linalg.svdvals, "n", ((4, 3), (2, 3, 4))),
    "linalg_qr": unary(lambda a: pg.concat(list(pg.linalg.qr(a)), axis=-2), "n", ((4, 3), (2, 3, 3))),
    "linalg_pinv": unary(pg.linalg.pinv, "n", ((4, 3), (2, 3, 4))),
    "sum": unary(pg.sum) + unary(lambda a: pg.sum(a, axis=1))
    + unary(lambda a: pg.sum(a, axis=(0, 2), keepdims=True), shapes=((2, 3, 4),)),
    "mean": unary(pg.mean) + unary(lambda a: pg.mean(a, axis=-1, keepdims=True)),
    "max": unary(pg.max, "u") + unary(lambda a: pg.max(a, axis=0), "u")
    + unary(lambda a: pg.max(a, axis=(1, 2), keepdims=True), "u", ((2, 3, 4),)),
    "min": unary(pg.min, "u") + unary(lambda a: pg.min(a, axis=1, keepdims=True), "u"),
    "prod": unary(pg.prod, "u") + unary(lambda a: pg.prod(a, axis=1), "u"),
    "var": unary(pg.var) + unary(lambda a: pg.var(a, axis=0, correction=1)),
    "std": unary(pg.std) + unary(lambda a: pg.std(a, axis=1, keepdims=True, correction=1)),
    "logsumexp": unary(pg.logsumexp) + unary(lambda a: pg.logsumexp(a, axis=1)),
    "softmax": unary(lambda a: pg.softmax(a, axis=-1)) + unary(lambda a: pg.softmax(a, axis=0)),
    "log_softmax": unary(lambda a: pg.log_softmax(a, axis=-1)),
    "reshape": unary(lambda a: pg.reshape(a, (2, -1))),
    "permute_dims": unary(lambda a: pg.permute_dims(a, (2, 0, 1)), shapes=((2, 3, 4),)),
    "expand_dims": unary(lambda a: pg.expand_dims(a, axis=1)),
    "squeeze": unary(lambda a: pg.squeeze(a, axis=1), shapes=((3, 1, 2),)),
    "broadcast_to": unary(lambda a: pg.broadcast_to(a, (2, 3, 4)), shapes=((3, 1),)),
    "concat": [(lambda a, b: pg.concat([a, b], axis=1), [("n", (2, 3)), ("n", (2, 2))]),
               (lambda a, b: pg.stack([a, b], axis=0), [("n", (2, 3)), ("n", (2, 3))])],
    "getitem": unary(lambda a: a[1:, ::2]) + unary(lambda a: a[..., 1, None]) + unary(lambda a: a[-1]),
    "scatter_slice": unary(lambda a: ops.scatter_slice(a, key=(slice(1, 3), Ellipsis), shape=(4, 2)), shapes=((2, 2),)),
    "take": unary(lambda a: pg.take(a, pg.asarray(IDX, device=a.device), axis=0), shapes=((3, 2),))
    + unary(lambda a: pg.take(a, pg.asarray(IDX, device=a.device), axis=1), shapes=((2, 3),))
    + unary(lambda a: a[pg.asarray(IDX, device=a.device)], shapes=((3, 2),))
    + unary(lambda a: a[a > 0])
    + unary(lambda a: a[[0, 2, 2], [1, 0, 0]])
    + unary(lambda a: a[1:, [2, 0, 2]])
    + unary(lambda a: pg.take_along_axis(a, pg.asarray([[0, 2], [1, 1], [3, 0]], device=a.device), axis=1)),
    "scatter_add": unary(lambda a: pg.scatter_add(a, pg.asarray(IDX, device=a.device), axis=0, size=3), shapes=((4, 2),)),
    "erf": unary(pg.erf),
    "linear": [(pg.linear, [("n", (4, 3)), ("n", (2, 3)), ("n", (2,))]),
               (pg.linear, [("n", (2, 4, 3)), ("n", (2, 3)), ("n", (2,))]),
               (pg.linear, [("n", (3,)), ("n", (2, 3)), ("n", (2,))])],
    "gelu": unary(ops.gelu, shapes=((3, 4), (2, 3, 4))) + unary(lambda x: ops.gelu(x, approximate="tanh")),
    "conv": [(lambda x, w, b: ops.conv(x, w, b, stride=(1, 2), dilation=(2, 1), groups=1),
              [("n", (2, 2, 6, 5)), ("n", (3, 2, 2, 2)), ("n", (3,))]),
             (lambda x, w, b: ops.conv(x, w, b, stride=(2,), dilation=(1,), groups=2),
              [("n", (2, 4, 7)), ("n", (2, 2, 3)), ("n", (2,))])],
    "max_pool": [(lambda x: ops.max_pool(x, kernel=(2, 2), stride=(2, 1), dilation=(1, 1)), [("u", (2, 2, 4, 5))]),
                 (lambda x: ops.max_pool(x, kernel=(3,), stride=(2,), dilation=(1,)), [("u", (2, 3, 7))])],
    "avg_pool": [(lambda x: ops.avg_pool(x, kernel=(2, 3), stride=(2, 1), widths=((1, 2), (1, 1)),
                                         count_include_pad=False, divisor_override=None), [("n", (2, 2, 4, 5))]),
                 (lambda x: ops.avg_pool(x, kernel=(3,), stride=(2,), widths=((1, 1),), count_include_pad=True,
                                         divisor_override=2), [("n", (2, 3, 7))])],
    "adaptive_avg_pool": [(lambda x: ops.adaptive_avg_pool(x, output_size=(3, 2)), [("n", (2, 2, 5, 4))]),
                          (lambda x: ops.adaptive_avg_pool(x, output_size=(4,)), [("n", (2, 3, 3))])],
    "conv_transpose": [(lambda x, w, b: ops.conv_transpose(x, w, b, stride=(2, 1), padding=(1, 0), output_padding=(1, 0),
                                                           dilation=(1, 2), groups=1),
                        [("n", (2, 2, 3, 4)), ("n", (2, 3, 3, 2)), ("n", (3,))]),
                       (lambda x, w, b: ops.conv_transpose(x, w, b, stride=(3,), padding=(1,), output_padding=(2,),
                                                           dilation=(2,), groups=2),
                        [("n", (2, 4, 3)), ("n", (4, 1, 2)), ("n", (2,))])],
    # a fresh generator of one seed per call: the same mask at every finite-difference probe
    "dropout": [(lambda a: pg.functional.dropout(a, 0.4, generator=pg.random.Generator(5, device=a.device)),
                 [("n", (3, 4))]),
                (lambda a: pg.functional.dropout2d(a, 0.5, generator=pg.random.Generator(6, device=a.device)),
                 [("n", (2, 3, 2, 2))])],
    "nll_loss": [(lambda a, r=r: pg.functional.nll_loss(
        a, pg.asarray(IDX, device=a.device), reduction=r, ignore_index=0,
        weight=pg.asarray([0.5, 1.5, 2.0], dtype=a.dtype, device=a.device)), [("n", (4, 3))]) for r in ("mean", "sum", "none")],
    # (padding_idx withholds a gradient the values do have: test_core_formulas checks it)
    "embedding": [(lambda w: pg.functional.embedding(pg.asarray(IDX, device=w.device), w), [("n", (3, 2))])],
    "lstm_sequence": [(ops.lstm_sequence, [("u", (3, 2, 8)), ("u", (2, 2)), ("u", (2, 2)), ("u", (8, 2)), ("u", (8,))])],
    "gru_sequence": [(ops.gru_sequence, [("u", (3, 2, 6)), ("u", (2, 2)), ("u", (6, 2)), ("u", (6,))])],
    "rnn_sequence": [(lambda gi, h, w, b: ops.rnn_sequence(gi, h, w, b, nonlinearity=nonlinearity),
                      [("u", (3, 2, 2)), ("u", (2, 2)), ("u", (2, 2)), ("u", (2,))]) for nonlinearity in ("tanh", "relu")],
    "attention": [(lambda q, k, v: ops.attention(q, k, v, causal=True, scale=0.7),
                   [("n", (2, 3, 4, 2)), ("n", (2, 3, 5, 2)), ("n", (2, 3, 5, 3))]),
                  (lambda q, k, v: ops.attention(q, k, v, causal=False, scale=0.5),
                   [("n", (3, 4, 2)), ("n", (3, 2, 2)), ("n", (3, 2, 3))])],
    "attention/masked": [
        # a boolean mask broadcast over the batch, one query seeing no key; a float mask that takes a gradient
        (lambda q, k, v: pg.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=pg.asarray([[True, False, True], [False] * 3], device=q.device)),
         [("n", (2, 2, 2)), ("n", (2, 3, 2)), ("n", (2, 3, 3))]),
        (lambda q, k, v, m: pg.functional.scaled_dot_product_attention(q, k, v, attn_mask=m),
         [("n", (2, 2, 2)), ("n", (2, 3, 2)), ("n", (2, 3, 3)), ("n", (2, 3))]),
        # dropout: the default generator reseeded, so every finite-difference probe draws the same mask
        (lambda q, k, v: _seeded(7, pg.functional.scaled_dot_product_attention, q, k, v, dropout_p=0.4, is_causal=True),
         [("n", (2, 3, 2)), ("n", (2, 3, 2)), ("n", (2, 3, 3))])],
    "rms_norm": [(lambda x, w: pg.functional.rms_norm(x, (3, 4), w), [("n", (2, 3, 4)), ("n", (3, 4))]),
                 (lambda x: pg.functional.rms_norm(x, 4, eps=1e-3), [("n", (2, 4))])],
    "cross_entropy": [(lambda a, r=r: pg.functional.cross_entropy(
        a, pg.asarray([[2, 0], [1, 0], [0, 0], [2, 1]], device=a.device), reduction=r, ignore_index=0,
        label_smoothing=0.3, weight=pg.asarray([0.5, 1.5, 2.0], dtype=a.dtype, device=a.device)), [("n", (4, 3, 2))])
        for r in ("mean", "sum", "none")],
    "soft_cross_entropy": [(lambda a, p, r=r: pg.functional.cross_entropy(a, p, reduction=r, label_smoothing=0.2),
                            [("n", (2, 3, 2)), ("p", (2, 3, 2))]) for r in ("mean", "sum", "none")],
    "layer_norm": [(_layer_norm(1), [("n", (2, 3, 4)), ("n", (4,)), ("n", (4,))]),
                   (_layer_norm(2), [("n", (2, 3, 4)), ("n", (3, 4)), ("n", (3, 4))]),
                   (_layer_norm(1), [("n", (4,)), ("n", (4,)), ("n", (4,))])],
    "softmax_cross_entropy": [
        (lambda a: pg.functional.cross_entropy(a, pg.asarray(IDX, device=a.device), reduction=r), [("n", (4, 3))])
        for r in ("mean", "sum", "none")],
    # complex values in between, real in and out (parts: the real and imaginary parts side by side)
    "complex_part": unary(lambda a: parts(pg.conj(a * (1 + 2j)) * a + pg.imag(a * 1j) * pg.real(a * 0.5j))),
    "angle": unary(lambda a: pg.angle(a * (1 + 2j) + 0.5j) * pg.angle(a)),
    "linalg_eig": unary(lambda a: general_spectral(pg.linalg.eig(a)), shapes=((3, 3), (2, 4, 4))),
    "linalg_eigvals": unary(lambda a: parts(pg.linalg.eigvals(a)), shapes=((3, 3), (2, 4, 4))),
    "fft_fft": [(lambda a, norm=norm, n=n: parts(pg.fft.fft(a * (1 + 0.5j), n=n, axis=0, norm=norm)), [("n", (4, 2))])
                for norm, n in (("backward", None), ("ortho", 3), ("forward", 6))],
    "fft_ifft": unary(lambda a: parts(pg.fft.ifft(a * (2 - 1j), n=3, norm="ortho"))),
    "fft_fftn": unary(lambda a: parts(pg.fft.fftn(a * (1 - 0.5j), s=(2, 5))))
    + unary(lambda a: parts(pg.fft.rfftn(a, axes=(0, 1), norm="ortho")), shapes=((3, 4, 2),)),
    "fft_ifftn": unary(lambda a: parts(pg.fft.ifftn(a * (1 - 0.5j), axes=(0,))))
    + unary(lambda a: pg.fft.irfftn(a * (1 + 0.5j), s=(2, 6)), shapes=((3, 4),)),
    "fft_rfft": [(lambda a, n=n: parts(pg.fft.rfft(a, n=n)), [("n", (3, 4))]) for n in (None, 3, 8)]
    + unary(lambda a: parts(pg.fft.ihfft(a, norm="forward"))),
    "fft_irfft": [(lambda a, n=n: pg.fft.irfft(a * (1 + 0.5j), n=n), [("n", (3, 4))]) for n in (None, 5, 6, 9)]
    + unary(lambda a: pg.fft.hfft(a * (1 + 0.5j), norm="ortho")),
    "windows": unary(lambda a: ops.windows(a, kernel=(2, 2), stride=(2, 1), dilation=(1, 2)), shapes=((2, 5, 4),)),
    "col2im": unary(lambda a: ops.col2im(a, shape=(2, 5, 6), kernel=(2, 2), stride=(2, 1), dilation=(1, 2)),
                    shapes=((2, 2, 3, 2, 2),)),
}


def make(target, kind, shape, seed):
    if kind == "p":
        return target.rand(*shape, seed=seed, low=0.5, high=2.0)
    if kind == "u":
        return target.rand(*shape, seed=seed, low=-1.0, high=1.0)
    if kind == "d":
        return target.rand(*shape, seed=seed, low=-0.5, high=0.5) + 3.0 * pg.eye(shape[-1], dtype=target.dtype,
                                                                                backend=target.backend, device=target.device)
    return target.randn(*shape, seed=seed)


def all_cases():
    for name, cases in CASES.items():
        for i, (fn, specs) in enumerate(cases):
            yield pytest.param(fn, specs, id=f"{name}-{i}")


def test_every_primitive_is_covered():
    differentiable = {name for name, p in PRIMITIVES.items() if p.vjp is not None}
    assert differentiable - set(CASES) == set()


@pytest.mark.parametrize("fn, specs", list(all_cases()))
def test_gradient_matches_finite_differences(target64, fn, specs):
    inputs = [make(target64, kind, shape, seed) for seed, (kind, shape) in enumerate(specs)]
    assert pg.gradcheck(fn, inputs, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("fn, specs", list(all_cases()))
def test_gradient_shapes_dtypes_devices(target, fn, specs):
    """Each input's gradient has its shape and dtype and stays on its device."""
    inputs = [make(target, kind, shape, seed).requires_grad_() for seed, (kind, shape) in enumerate(specs)]
    pg.sum(fn(*inputs)).backward()
    for x in inputs:
        assert x.grad.shape == x.shape
        assert x.grad.dtype == x.dtype
        assert x.grad.device == x.device
