"""One differentiable call per primitive, with inputs that suit it.

Each case maps a name to `build(target) -> (f, inputs)`: f takes the floating
inputs and calls the primitive (indices, masks and options are fixed inside
f). Inputs stay away from kinks and ties (relu at 0, max ties, clip bounds)
so finite differences are meaningful. `PRIMITIVE_OF` names the primitive each
case exercises, so a test can check that every primitive in the table has one.
"""

import polygrad as pg
from polygrad.namespace import ops
from polygrad.core.engine import apply
from polygrad.primitives.table import PRIMITIVES

# a symmetric positive-definite matrix, for the decompositions
SPD = [[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]]
# values away from 0, from each other, and from the clip bounds +-0.5
SPREAD = [[-1.5, 0.7, 2.0], [0.3, -0.4, 1.1]]


# Eigen- and singular vectors are defined up to sign: these functions of a decomposition do not
# depend on the signs, so finite differences, PyTorch and NumPy agree on them. Each works on polygrad,
# torch and NumPy results alike, and uses every part of the decomposition.
def spectral(result):
    values, vectors = result
    return vectors ** 2 * values[..., None, :]


def singular(result):
    u, s, vh = result
    return u ** 2 * s[..., None, :] @ vh ** 2


def general_spectral(result):
    """eig's values and |vectors|² (each vector's phase is arbitrary), as one real array."""
    values, vectors = result
    return pg.abs(vectors) ** 2 * pg.real(values)[..., None, :] + pg.imag(values)[..., None, :]


def orthogonal(result):
    q, r = result
    return q ** 2 @ r ** 2


def parts(z):
    """A complex result as a real one: its real and imaginary parts side by side."""
    return pg.concat([pg.real(z), pg.imag(z)], axis=-1)


def _index(target, values):
    return target.tensor(values, dtype="int64")


CASES = {
    "add": lambda t: (lambda a, b: a + b, [t.randn(2, 3, seed=1), t.randn(3, seed=2)]),
    "subtract": lambda t: (lambda a, b: a - b, [t.randn(2, 1, seed=1), t.randn(2, 3, seed=2)]),
    "multiply": lambda t: (lambda a, b: a * b, [t.randn(2, 3, seed=1), t.randn(1, 3, seed=2)]),
    "divide": lambda t: (lambda a, b: a / b, [t.randn(2, 3, seed=1), t.rand(2, 3, seed=2, low=0.5, high=2.0)]),
    "negative": lambda t: (lambda x: -x, [t.randn(2, 3)]),
    "pow": lambda t: (pg.pow, [t.rand(2, 3, seed=1, low=0.5, high=2.0), t.randn(2, 3, seed=2)]),
    "exp": lambda t: (pg.exp, [t.randn(2, 3)]),
    "expm1": lambda t: (pg.expm1, [t.randn(2, 3)]),
    "log": lambda t: (pg.log, [t.rand(2, 3, low=0.5, high=2.0)]),
    "log1p": lambda t: (pg.log1p, [t.rand(2, 3, low=0.0, high=1.0)]),
    "sqrt": lambda t: (pg.sqrt, [t.rand(2, 3, low=0.5, high=2.0)]),
    "sin": lambda t: (pg.sin, [t.randn(2, 3)]),
    "cos": lambda t: (pg.cos, [t.randn(2, 3)]),
    "tanh": lambda t: (pg.tanh, [t.randn(2, 3)]),
    "sigmoid": lambda t: (pg.sigmoid, [t.randn(2, 3)]),
    "log_sigmoid": lambda t: (pg.log_sigmoid, [t.randn(2, 3)]),
    "softplus": lambda t: (pg.softplus, [t.randn(2, 3)]),
    "relu": lambda t: (pg.relu, [t.tensor(SPREAD)]),
    "abs": lambda t: (pg.abs, [t.tensor(SPREAD)]),
    "maximum": lambda t: (pg.maximum, [t.tensor(SPREAD), t.tensor([[0.1, 0.9, -1.0], [0.6, -2.0, 0.5]])]),
    "minimum": lambda t: (pg.minimum, [t.tensor(SPREAD), t.tensor([[0.1, 0.9, -1.0], [0.6, -2.0, 0.5]])]),
    "clip": lambda t: (lambda x: pg.clip(x, min=-0.5, max=0.5), [t.tensor(SPREAD)]),
    "where": lambda t: (
        lambda a, b: pg.where(t.tensor([[True, False, True], [False, True, False]], dtype="bool"), a, b),
        [t.randn(2, 3, seed=1), t.randn(2, 3, seed=2)],
    ),
    "astype": lambda t: (lambda x: pg.astype(x, "float64") * x, [t.randn(2, 3)]),
    "linear": lambda t: (pg.linear, [t.randn(4, 3, seed=1), t.randn(2, 3, seed=2), t.randn(2, seed=3)]),
    "softmax_cross_entropy": lambda t: (
        lambda x: pg.functional.cross_entropy(x, _index(t, [2, 0, 1, 2])), [t.randn(4, 3)]),
    "linear/3d": lambda t: (pg.linear, [t.randn(2, 4, 3, seed=1), t.randn(2, 3, seed=2), t.randn(2, seed=3)]),
    "gelu": lambda t: (lambda x: ops.gelu(x), [t.tensor(SPREAD)]),
    "gelu/tanh": lambda t: (lambda x: ops.gelu(x, approximate="tanh"), [t.tensor(SPREAD)]),
    "layer_norm": lambda t: (lambda x, w, b: ops.layer_norm(x, w, b, n=1, eps=1e-5),
                             [t.randn(2, 2, 3, seed=1), t.randn(3, seed=2), t.randn(3, seed=3)]),
    "conv": lambda t: (lambda x, w, b: ops.conv(x, w, b, stride=(2, 1), dilation=(1, 2), groups=1),
                       [t.randn(2, 2, 5, 6, seed=1), t.randn(3, 2, 2, 2, seed=2), t.randn(3, seed=3)]),
    "max_pool": lambda t: (lambda x: ops.max_pool(x, kernel=(2, 2), stride=(2, 1), dilation=(1, 1)),
                           [t.tensor([[[[0.1, 0.9, -1.0, 0.4], [0.6, -2.0, 0.5, 1.3], [1.1, 0.2, -0.7, 0.8]]]])]),
    "avg_pool": lambda t: (lambda x: ops.avg_pool(x, kernel=(2, 3), stride=(2, 1), widths=((1, 2), (1, 1)),
                                                  count_include_pad=False, divisor_override=None),
                           [t.randn(2, 2, 4, 5, seed=1)]),
    "adaptive_avg_pool": lambda t: (lambda x: ops.adaptive_avg_pool(x, output_size=(3, 2)), [t.randn(2, 2, 5, 4, seed=1)]),
    "conv_transpose": lambda t: (lambda x, w, b: ops.conv_transpose(x, w, b, stride=(2, 1), padding=(1, 0),
                                                                    output_padding=(1, 0), dilation=(1, 2), groups=1),
                                 [t.randn(2, 2, 3, 4, seed=1), t.randn(2, 3, 3, 2, seed=2), t.randn(3, seed=3)]),
    "attention": lambda t: (lambda q, k, v: ops.attention(q, k, v, causal=True, scale=0.5),
                            [t.randn(2, 3, 2, seed=1), t.randn(2, 3, 2, seed=2), t.randn(2, 3, 2, seed=3)]),
    # a boolean mask with a row that sees no key (its weights are 0), and a dropout keep mask
    "attention/bool-mask-dropout": lambda t: (
        lambda q, k, v: apply(PRIMITIVES["attention"], [q, k, v, t.tensor([[True, False, True], [False] * 3],
                                                                           dtype="bool"),
                                                        t.tensor([[[True, True, False], [True] * 3]] * 2, dtype="bool")],
                              {"causal": False, "scale": 0.5, "masked": "bool", "dropout": 2.0}),
        [t.randn(2, 2, 2, seed=1), t.randn(2, 3, 2, seed=2), t.randn(2, 3, 2, seed=3)]),
    # a float mask (broadcast over the batch) that takes a gradient
    "attention/float-mask": lambda t: (
        lambda q, k, v, m: apply(PRIMITIVES["attention"], [q, k, v, m],
                                 {"causal": False, "scale": 0.5, "masked": "float", "mask_grad": True}),
        [t.randn(2, 2, 2, seed=1), t.randn(2, 3, 2, seed=2), t.randn(2, 3, 2, seed=3), t.randn(1, 2, 3, seed=4)]),
    "rms_norm": lambda t: (lambda x, w: ops.rms_norm(x, w, n=1, eps=1e-5), [t.randn(2, 3, 4, seed=1), t.randn(4, seed=2)]),
    # the rows themselves (F.cross_entropy takes its own rule under vmap, for the unweighted, unsmoothed case only)
    "cross_entropy": lambda t: (
        lambda x: apply(PRIMITIVES["cross_entropy"], [x, _index(t, [2, 0, -100, 1]), t.tensor([0.5, 1.5, 2.0])],
                        {"ignore_index": -100, "reduction": "mean", "smoothing": 0.2}), [t.randn(4, 3)]),
    "soft_cross_entropy": lambda t: (
        lambda x, p: apply(PRIMITIVES["soft_cross_entropy"], [x, p, t.tensor([0.5, 1.5, 2.0])], {"reduction": "mean"}),
        [t.randn(4, 3, seed=1), t.rand(4, 3, seed=2)]),
    "lstm_sequence": lambda t: (ops.lstm_sequence, [t.randn(3, 2, 8, seed=1) * 0.5, t.randn(2, 2, seed=2) * 0.5,
                                                         t.randn(2, 2, seed=3) * 0.5, t.randn(8, 2, seed=4) * 0.5,
                                                         t.randn(8, seed=5) * 0.5]),
    "gru_sequence": lambda t: (ops.gru_sequence, [t.randn(3, 2, 6, seed=1) * 0.5, t.randn(2, 2, seed=2) * 0.5,
                                                           t.randn(6, 2, seed=4) * 0.5, t.randn(6, seed=5) * 0.5]),
    "rnn_sequence": lambda t: (lambda gi, h, w, b: ops.rnn_sequence(gi, h, w, b, nonlinearity="tanh"),
                               [t.randn(3, 2, 2, seed=1) * 0.5, t.randn(2, 2, seed=2) * 0.5, t.randn(2, 2, seed=4) * 0.5,
                                t.randn(2, seed=5) * 0.5]),
    # the mask given (a draw is refused under vmap's default randomness='error')
    "dropout": lambda t: (lambda x: apply(PRIMITIVES["dropout"], [x, t.tensor([[True, False, True], [False, True, True]],
                                                                           dtype="bool")], {"scale": 2.5}),
                          [t.randn(2, 3)]),
    "nll_loss": lambda t: (lambda x: pg.functional.nll_loss(x, _index(t, [2, 0, 1, 2]), ignore_index=0),
                           [t.randn(4, 3)]),
    "embedding": lambda t: (lambda w: pg.functional.embedding(_index(t, [[2, 0], [2, 1]]), w, padding_idx=0),
                            [t.randn(3, 2)]),
    "matmul": lambda t: (pg.matmul, [t.randn(2, 3, seed=1), t.randn(3, 2, seed=2)]),
    "matmul/stack-matrix": lambda t: (pg.matmul, [t.randn(2, 4, 3, seed=1), t.randn(3, 2, seed=2)]),
    "matmul/matrix-vector": lambda t: (pg.matmul, [t.randn(2, 3, seed=1), t.randn(3, seed=2)]),
    "matmul/vector-matrix": lambda t: (pg.matmul, [t.randn(3, seed=1), t.randn(3, 2, seed=2)]),
    "matrix_transpose": lambda t: (lambda x: pg.matrix_transpose(x), [t.randn(2, 3)]),
    "sum": lambda t: (lambda x: pg.sum(x, axis=1), [t.randn(2, 3)]),
    "mean": lambda t: (lambda x: pg.mean(x, axis=0, keepdims=True), [t.randn(2, 3)]),
    "max": lambda t: (lambda x: pg.max(x, axis=1), [t.tensor(SPREAD)]),
    "min": lambda t: (lambda x: pg.min(x, axis=0), [t.tensor(SPREAD)]),
    "prod": lambda t: (lambda x: pg.prod(x, axis=1), [t.tensor(SPREAD)]),
    "var": lambda t: (lambda x: pg.var(x, axis=1, correction=1), [t.randn(2, 3)]),
    "std": lambda t: (lambda x: pg.std(x, axis=0), [t.randn(3, 2)]),
    "logsumexp": lambda t: (lambda x: pg.logsumexp(x, axis=1), [t.randn(2, 3)]),
    "softmax": lambda t: (lambda x: pg.softmax(x, axis=-1), [t.randn(2, 3)]),
    "log_softmax": lambda t: (lambda x: pg.log_softmax(x, axis=0), [t.randn(2, 3)]),
    "reshape": lambda t: (lambda x: pg.reshape(x, (3, 2)), [t.randn(2, 3)]),
    "permute_dims": lambda t: (lambda x: pg.permute_dims(x, (2, 0, 1)), [t.randn(2, 1, 3)]),
    "expand_dims": lambda t: (lambda x: pg.expand_dims(x, axis=1), [t.randn(2, 3)]),
    "squeeze": lambda t: (lambda x: pg.squeeze(x, axis=1), [t.randn(2, 1, 3)]),
    "broadcast_to": lambda t: (lambda x: pg.broadcast_to(x, (2, 3)), [t.randn(1, 3)]),
    "concat": lambda t: (lambda a, b: pg.concat([a, b], axis=1), [t.randn(2, 1, seed=1), t.randn(2, 2, seed=2)]),
    "getitem": lambda t: (lambda x: x[1:, ::2], [t.randn(3, 3)]),
    "scatter_slice": lambda t: (
        lambda v: ops.scatter_slice(v, key=(slice(1, 3), slice(None)), shape=(4, 2)), [t.randn(2, 2)]),
    "take": lambda t: (lambda x: pg.take(x, _index(t, [2, 0, 2]), axis=0), [t.randn(3, 2)]),
    "scatter_add": lambda t: (
        lambda v: pg.scatter_add(v, _index(t, [1, 3, 1]), axis=1, size=4), [t.randn(2, 3)]),
    "tan": lambda t: (pg.tan, [t.randn(2, 3)]),
    "sinh": lambda t: (pg.sinh, [t.randn(2, 3)]),
    "cosh": lambda t: (pg.cosh, [t.randn(2, 3)]),
    "asin": lambda t: (pg.asin, [t.rand(2, 3, low=-0.8, high=0.8)]),
    "acos": lambda t: (pg.acos, [t.rand(2, 3, low=-0.8, high=0.8)]),
    "atan": lambda t: (pg.atan, [t.randn(2, 3)]),
    "asinh": lambda t: (pg.asinh, [t.randn(2, 3)]),
    "acosh": lambda t: (pg.acosh, [t.rand(2, 3, low=1.5, high=3.0)]),
    "atanh": lambda t: (pg.atanh, [t.rand(2, 3, low=-0.8, high=0.8)]),
    "log2": lambda t: (pg.log2, [t.rand(2, 3, low=0.5, high=2.0)]),
    "log10": lambda t: (pg.log10, [t.rand(2, 3, low=0.5, high=2.0)]),
    "reciprocal": lambda t: (pg.reciprocal, [t.rand(2, 3, low=0.5, high=2.0)]),
    "positive": lambda t: (pg.positive, [t.randn(2, 3)]),
    "atan2": lambda t: (pg.atan2, [t.randn(2, 3, seed=1), t.rand(2, 3, seed=2, low=0.5, high=2.0)]),
    "logaddexp": lambda t: (pg.logaddexp, [t.randn(2, 3, seed=1), t.randn(3, seed=2)]),
    "hypot": lambda t: (pg.hypot, [t.randn(2, 3, seed=1), t.randn(2, 3, seed=2)]),
    "copysign": lambda t: (pg.copysign, [t.tensor(SPREAD), t.randn(2, 3, seed=2)]),
    "remainder": lambda t: (pg.remainder, [t.tensor(SPREAD), t.tensor([[0.4, 0.3, 0.9], [0.7, 0.7, 0.6]])]),
    "flip": lambda t: (lambda x: pg.flip(x, axis=0), [t.randn(2, 3)]),
    "roll": lambda t: (lambda x: pg.roll(x, shift=1, axis=1), [t.randn(2, 3)]),
    "tril": lambda t: (lambda x: pg.tril(x), [t.randn(3, 3)]),
    "triu": lambda t: (lambda x: pg.triu(x, k=1), [t.randn(3, 3)]),
    "cumulative_sum": lambda t: (lambda x: pg.cumulative_sum(x, axis=1), [t.randn(2, 3)]),
    "linalg_inv": lambda t: (pg.linalg.inv, [t.tensor(SPD)]),
    "linalg_solve": lambda t: (pg.linalg.solve, [t.tensor(SPD), t.randn(3, 2)]),
    "linalg_det": lambda t: (pg.linalg.det, [t.tensor(SPD)]),
    "linalg_logabsdet": lambda t: (lambda a: pg.linalg.slogdet(a).logabsdet, [t.tensor(SPD)]),
    "linalg_cholesky": lambda t: (lambda a: pg.linalg.cholesky((a + pg.matrix_transpose(a)) * 0.5), [t.tensor(SPD)]),
    "linalg_eigh": lambda t: (lambda a: spectral(pg.linalg.eigh((a + pg.matrix_transpose(a)) * 0.5)), [t.tensor(SPD)]),
    "linalg_eigvalsh": lambda t: (lambda a: pg.linalg.eigvalsh((a + pg.matrix_transpose(a)) * 0.5), [t.tensor(SPD)]),
    "linalg_svd": lambda t: (lambda a: singular(pg.linalg.svd(a, full_matrices=False)), [t.tensor(SPREAD)]),
    "linalg_svdvals": lambda t: (pg.linalg.svdvals, [t.tensor(SPREAD)]),
    "linalg_qr": lambda t: (lambda a: orthogonal(pg.linalg.qr(pg.matrix_transpose(a))), [t.tensor(SPREAD)]),
    "linalg_pinv": lambda t: (pg.linalg.pinv, [t.tensor(SPREAD)]),
    "erf": lambda t: (pg.erf, [t.randn(2, 3)]),
    "windows": lambda t: (
        lambda x: ops.windows(x, kernel=(2, 2), stride=(2, 1), dilation=(1, 2)), [t.randn(1, 5, 4)]),
    "col2im": lambda t: (
        lambda c: ops.col2im(c, shape=(1, 6, 5), kernel=(2, 2), stride=(2, 1), dilation=(1, 2)),
        [t.randn(1, 2, 2, 2, 2)]),
    # complex values in between: real in, real out (the real and imaginary parts side by side)
    "complex_part": lambda t: (lambda x: parts(pg.conj(x * (1 + 2j)) * x + pg.imag(x * 1j) * pg.real(x * 1j)),
                               [t.randn(2, 3)]),
    "angle": lambda t: (lambda x: pg.angle(x * (1 + 2j) + 0.5j), [t.randn(2, 3)]),
    "fft_fft": lambda t: (lambda x: parts(pg.fft.fft(x * (1 + 0.5j), n=5, norm="ortho")), [t.randn(2, 4)]),
    "fft_ifft": lambda t: (lambda x: parts(pg.fft.ifft(x * (1 + 0.5j), n=3, axis=0)), [t.randn(4, 2)]),
    "fft_fftn": lambda t: (lambda x: parts(pg.fft.fftn(x * (1 - 0.5j), s=(3, 4))), [t.randn(2, 3)]),
    "fft_ifftn": lambda t: (lambda x: parts(pg.fft.ifftn(x * (1 - 0.5j), norm="forward")), [t.randn(2, 3)]),
    "fft_rfft": lambda t: (lambda x: parts(pg.fft.rfft(x, n=6)), [t.randn(2, 5)]),
    "linalg_eig": lambda t: (lambda a: general_spectral(pg.linalg.eig(a)), [t.tensor(SPREAD + [[0.5, 0.2, -0.8]])]),
    "linalg_eigvals": lambda t: (lambda a: parts(pg.linalg.eigvals(a)), [t.tensor(SPREAD + [[0.5, 0.2, -0.8]])]),
    "fft_irfft": lambda t: (lambda x: pg.fft.irfft(x * (1 + 0.5j), n=7, norm="ortho"), [t.randn(2, 3)]),
}

PRIMITIVE_OF = {name: name.split("/")[0] for name in CASES}  # "matmul/matrix-vector" -> matmul

# Primitives without a derivative: f maps a float input through the primitive
# to a float result, which must carry no gradient and no tangent.
NO_DERIVATIVE = {
    "equal": lambda x: pg.astype(x == 0.7, "float64"),
    "not_equal": lambda x: pg.astype(x != 0.7, "float64"),
    "less": lambda x: pg.astype(x < 0.5, "float64"),
    "less_equal": lambda x: pg.astype(x <= 0.5, "float64"),
    "greater": lambda x: pg.astype(x > 0.5, "float64"),
    "greater_equal": lambda x: pg.astype(x >= 0.5, "float64"),
    "logical_and": lambda x: pg.astype((x > 0) & (x < 1), "float64"),
    "logical_or": lambda x: pg.astype((x > 1) | (x < 0), "float64"),
    "logical_not": lambda x: pg.astype(~(x > 0), "float64"),
    "isnan": lambda x: pg.astype(pg.isnan(x), "float64"),
    "isinf": lambda x: pg.astype(pg.isinf(x), "float64"),
    "isfinite": lambda x: pg.astype(pg.isfinite(x), "float64"),
    "sign": pg.sign,
    "floor": pg.floor,
    "ceil": pg.ceil,
    "round": pg.round,
    "trunc": pg.trunc,
    "argmax": lambda x: pg.astype(pg.argmax(x), "float64"),
    "argmin": lambda x: pg.astype(pg.argmin(x), "float64"),
    "floor_divide": lambda x: pg.floor_divide(x, 0.5),
    "bitwise_and": lambda x: pg.astype(pg.bitwise_and(pg.astype(x > 0, "int64"), 1), "float64"),
    "bitwise_or": lambda x: pg.astype(pg.bitwise_or(pg.astype(x > 0, "int64"), 2), "float64"),
    "bitwise_xor": lambda x: pg.astype(pg.bitwise_xor(pg.astype(x > 0, "int64"), 3), "float64"),
    "bitwise_left_shift": lambda x: pg.astype(pg.bitwise_left_shift(pg.astype(x > 0, "int64"), 2), "float64"),
    "bitwise_right_shift": lambda x: pg.astype(pg.bitwise_right_shift(pg.astype(x > 0, "int64"), 1), "float64"),
    "bitwise_invert": lambda x: pg.astype(pg.bitwise_invert(pg.astype(x > 0, "int64")), "float64"),
    "logical_xor": lambda x: pg.astype(pg.logical_xor(x > 0, x > 1), "float64"),
    "signbit": lambda x: pg.astype(pg.signbit(x), "float64"),
    "nextafter": lambda x: pg.nextafter(x, 2.0),
    "all": lambda x: pg.astype(pg.all(x > 0, axis=1), "float64"),
    "any": lambda x: pg.astype(pg.any(x > 1, axis=0), "float64"),
    "count_nonzero": lambda x: pg.astype(pg.count_nonzero(x > 0, axis=1), "float64"),
    "argsort": lambda x: pg.astype(pg.argsort(x, axis=1), "float64"),
    "searchsorted": lambda x: pg.astype(pg.searchsorted(pg.asarray([-1.0, 0.0, 1.0], device=x.device), x), "float64"),
    "cumulative_prod": lambda x: pg.cumulative_prod(x, axis=1),
    "linalg_matrix_rank": lambda x: pg.astype(pg.linalg.matrix_rank(x), "float64"),
    "linalg_sign_of_det": lambda x: pg.linalg.slogdet(x[:, :2]).sign,
}
