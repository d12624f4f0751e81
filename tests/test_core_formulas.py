"""Every differentiable primitive's gradient against a formula derived by hand.

test_core_primitives.py checks gradients against finite differences; this file
checks them against closed forms written out in NumPy, independent of polygrad.
Each row of ROWS gives small concrete inputs, a function of tensors that calls
one primitive, and the hand-derived gradient of sum(w * f(x)) with respect to
each input for a fixed weight w shaped like f's output. The expected values are
computed from the inputs as the backend holds them (rounded to its dtype), in
float64, by NumPy alone.

Also here: the documented subgradients at ties (see polygrad.primitives.table),
checked exactly; forward mode (pg.jvp along basis directions) against the same
hand formulas; and a check that every differentiable primitive has a row.
"""

import itertools
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

import polygrad as pg
from polygrad.core.engine import apply
from polygrad.primitives.table import PRIMITIVES
from polygrad.namespace import ops

# ---------------------------------------------------------------- inputs
A = [[-1.5, 0.7, 2.0], [0.3, -0.4, 1.1]]
B = [[0.9, -1.2, 0.6], [1.3, 0.25, -0.8]]
POS = [[0.5, 1.7, 2.5], [0.8, 1.2, 3.0]]
U = [[-0.8, 0.3, 0.6], [0.1, -0.45, 0.9]]  # inside (-1, 1)
SPD = [[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]]  # symmetric positive definite
B3 = [[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]]
V3 = [0.4, -1.1, 0.8]
IDX = [2, 0, 2, 1]  # repeated index: gradients must accumulate


def grid(*shape, seed=0):
    """Fixed small inputs, rounded to two decimals."""
    return np.round(np.random.default_rng(seed).standard_normal(shape), 2)


def weights(shape):
    """The fixed weight w: dyadic (exact in float32), varied, never zero."""
    n = int(np.prod(shape, dtype=np.int64))
    return (((np.arange(n) % 7) - 3) * 0.25 + 0.125).reshape(shape)


def index(x, values):
    return pg.asarray(np.asarray(values), device=x.device)


def mask(x, values):
    return pg.asarray(np.asarray(values, dtype=bool), device=x.device)


# ---------------------------------------------------------------- hand-derived helpers (NumPy only)
def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def spread(w, x, axis, keepdims):
    """A reduction's weight broadcast back over x (the reduced axes restored)."""
    if axis is None:
        return np.broadcast_to(w, x.shape)
    if not keepdims:
        w = np.expand_dims(w, axis)
    return np.broadcast_to(w, x.shape)


def extremum_share(x, axis, pick):
    """1/k on each of the k entries equal to the extremum, 0 elsewhere."""
    hit = (x == pick(x, axis=axis, keepdims=True)).astype(float)
    return hit / hit.sum(axis=axis, keepdims=True)


def count(x, axis):
    if axis is None:
        return x.size
    axes = (axis,) if isinstance(axis, int) else axis
    return int(np.prod([x.shape[a] for a in axes]))


def product_of_others(x, axis):
    """d prod / d x_i by definition: the product of every other entry along the axis (np.delete, no division)."""
    if axis is None:
        flat = x.reshape(-1)
        return np.array([np.prod(np.delete(flat, i)) for i in range(flat.size)]).reshape(x.shape)
    moved = np.moveaxis(x, axis, -1)
    out = np.empty_like(moved)
    for i in range(moved.shape[-1]):
        out[..., i] = np.prod(np.delete(moved, i, axis=-1), axis=-1)
    return np.moveaxis(out, -1, axis)


def cholesky_adjoint(w, a):
    lower = np.linalg.cholesky(a)
    m = lower.T @ np.tril(w)
    phi = np.tril(m, -1) + np.diag(np.diag(m)) / 2
    g = np.linalg.inv(lower).T @ phi @ np.linalg.inv(lower)
    return (g + g.T) / 2


def eigenvector_adjoint(g_vectors, values, vectors):
    """The symmetric gradient of sum(g_vectors * V), V the eigenvectors of a symmetric matrix, by first-order
    perturbation theory: d v_i = sum over j != i of v_j (v_jᵀ dA v_i) / (λ_i - λ_j)."""
    g = np.zeros((len(values), len(values)))
    for i, j in itertools.permutations(range(len(values)), 2):
        g += (vectors[:, j] @ g_vectors[:, i]) / (values[i] - values[j]) * np.outer(vectors[:, j], vectors[:, i])
    return (g + g.T) / 2


def left_singular_adjoint(w, a):
    """sum(w * U**2) for a wide A: U holds the eigenvectors of A Aᵀ (eigenvalues S²), and d(A Aᵀ) = dA Aᵀ + A dAᵀ."""
    u, s, _ = np.linalg.svd(a)
    return 2 * eigenvector_adjoint(2 * w * u, s**2, u) @ a


def r_squared_adjoint(w, a):
    """sum(w * R**2) for a tall A: R = ±Lᵀ row by row, L = cholesky(Aᵀ A), and d(Aᵀ A) = dAᵀ A + Aᵀ dA."""
    lower = np.linalg.cholesky(a.T @ a)
    return 2 * a @ cholesky_adjoint(2 * w.T * lower, a.T @ a)


def pinv_adjoint(w, a):
    """A wide A of full rank: pinv(A) = Aᵀ K with K = inv(A Aᵀ), differentiated term by term."""
    k = np.linalg.inv(a @ a.T)
    return k @ w.T - k @ a @ w @ k @ a - k @ w.T @ a.T @ k @ a


def scatter_at(shape, key, w):
    g = np.zeros(shape)
    g[key] = w
    return g


# ---------------------------------------------------------------- the table
@dataclass(frozen=True)
class Row:
    id: str
    inputs: list  # nested lists / arrays of floats, one per differentiable input
    fn: Callable  # fn(*tensors) -> tensor, calling the primitive
    grads: Callable  # grads(w, *inputs as float64 NumPy) -> [d sum(w * fn) / d input_i]

    @property
    def primitive(self):
        return self.id.split("/")[0]


def unary(id, fn, derivative, data):
    return Row(id, [data], fn, lambda w, x: [w * derivative(x)])


def _normal_cdf(x):
    return np.vectorize(lambda v: 0.5 * math.erfc(-v / math.sqrt(2)))(x)


def _gelu_tanh_slope(x):
    c = math.sqrt(2 / math.pi)
    t = np.tanh(c * (x + 0.044715 * x ** 3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)


def _layer_norm_grads(g, x, w):
    """The textbook layer-norm adjoint over the last axis: (gy - mean gy - xhat mean(gy xhat)) / sigma."""
    mean = x.mean(axis=-1, keepdims=True)
    sigma = np.sqrt(((x - mean) ** 2).mean(axis=-1, keepdims=True) + 1e-5)
    xhat, gy = (x - mean) / sigma, g * w
    grad_x = (gy - gy.mean(axis=-1, keepdims=True) - xhat * (gy * xhat).mean(axis=-1, keepdims=True)) / sigma
    return [grad_x, (g * xhat).sum(axis=(0, 1)), g.sum(axis=(0, 1))]


def _conv_grads(g, x, w, stride, dilation):
    """out[n, o, i, j] = sum x[n, c, i s0 + a d0, j s1 + b d1] w[o, c, a, b], differentiated tap by tap."""
    grad_x, grad_w = np.zeros_like(x), np.zeros_like(w)
    (s0, s1), (d0, d1), (rows, cols) = stride, dilation, g.shape[2:]
    for a, b in itertools.product(range(w.shape[2]), range(w.shape[3])):
        patch = (slice(None), slice(None), slice(a * d0, a * d0 + s0 * (rows - 1) + 1, s0),
                 slice(b * d1, b * d1 + s1 * (cols - 1) + 1, s1))
        grad_x[patch] += np.einsum("noij,oc->ncij", g, w[:, :, a, b])
        grad_w[:, :, a, b] += np.einsum("noij,ncij->oc", g, x[patch])
    return [grad_x, grad_w]


def _max_pool_grad(g, x, kernel, stride):
    """Each window's gradient to its first maximum (row-major), as PyTorch's."""
    grad = np.zeros_like(x)
    for index in np.ndindex(g.shape):
        n, c, i, j = index
        window = x[n, c, i * stride[0]:i * stride[0] + kernel[0], j * stride[1]:j * stride[1] + kernel[1]]
        a, b = np.unravel_index(np.argmax(window), window.shape)
        grad[n, c, i * stride[0] + a, j * stride[1] + b] += g[index]
    return grad


def _avg_pool_grad(g, x, kernel, stride, before, divisor=None):
    """Each window's weight shared by the entries of x it covers (divisor: how many of them, or the override)."""
    grad = np.zeros_like(x)
    for index in np.ndindex(g.shape):
        n, c, i, j = index
        inside = [(r, q) for r in range(i * stride[0] - before[0], i * stride[0] - before[0] + kernel[0])
                  for q in range(j * stride[1] - before[1], j * stride[1] - before[1] + kernel[1])
                  if 0 <= r < x.shape[2] and 0 <= q < x.shape[3]]
        for r, q in inside:
            grad[n, c, r, q] += g[index] / (divisor or len(inside))
    return grad


def _adaptive_avg_pool_grad(g, x):
    """Output (i, j) averages rows [floor(i H / h), ceil((i + 1) H / h)) and the columns likewise."""
    grad = np.zeros_like(x)
    (rows, cols), (h, w) = x.shape[2:], g.shape[2:]
    for i, j in np.ndindex(h, w):
        r = slice(i * rows // h, -(-(i + 1) * rows // h))
        q = slice(j * cols // w, -(-(j + 1) * cols // w))
        grad[:, :, r, q] += g[:, :, i:i + 1, j:j + 1] / ((r.stop - r.start) * (q.stop - q.start))
    return grad


def _conv_transpose_grads(g, x, w, stride, padding, output_padding, dilation):
    """out[n, o, i s0 + a d0 - p0, j s1 + b d1 - p1] += x[n, c, i, j] w[c, o, a, b] (outside out: dropped)."""
    (s0, s1), (d0, d1), (rows, cols) = stride, dilation, x.shape[2:]
    full = np.zeros(g.shape[:2] + tuple((m - 1) * s + d * (k - 1) + 1 + o for m, s, d, k, o in
                                        zip(x.shape[2:], stride, dilation, w.shape[2:], output_padding)))
    full[:, :, padding[0]:padding[0] + g.shape[2], padding[1]:padding[1] + g.shape[3]] = g
    grad_x, grad_w = np.zeros_like(x), np.zeros_like(w)
    for a, b in itertools.product(range(w.shape[2]), range(w.shape[3])):
        patch = full[:, :, a * d0:a * d0 + s0 * (rows - 1) + 1:s0, b * d1:b * d1 + s1 * (cols - 1) + 1:s1]
        grad_x += np.einsum("noij,co->ncij", patch, w[:, :, a, b])
        grad_w[:, :, a, b] += np.einsum("noij,ncij->co", patch, x)
    return [grad_x, grad_w, g.sum(axis=(0, 2, 3))]


def _lstm_sequence_grads(g, gi, h0, c0, w, b):
    """PyTorch's autograd through the LSTM recurrence written step by step in torch ops."""
    torch = pytest.importorskip("torch")
    tensors = [torch.tensor(a, requires_grad=True) for a in (gi, h0, c0, w, b)]
    gi_t, h, c, w_t, b_t = tensors
    steps = []
    for t in range(gi.shape[0]):
        i, f, gg, o = (gi_t[t] + h @ w_t.T + b_t).chunk(4, dim=-1)
        i, f, gg, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(gg), torch.sigmoid(o)
        c = f * c + i * gg
        h = o * torch.tanh(c)
        steps.append(torch.cat([h, c, i, f, gg, o], dim=-1))
    (torch.stack(steps) * torch.tensor(g)).sum().backward()
    return [t.grad.numpy() for t in tensors]


def _torch_grads(g, inputs, steps):
    """PyTorch's autograd through `steps(*tensors)`, a recurrence written step by step in torch ops."""
    torch = pytest.importorskip("torch")
    tensors = [torch.tensor(a, requires_grad=True) for a in inputs]
    (steps(torch, *tensors) * torch.tensor(g)).sum().backward()
    return [t.grad.numpy() for t in tensors]


def _gru_steps(torch, gi, h, w, b):
    """Per step [h, r, z, n, hn], PyTorch's GRU cell."""
    steps = []
    for t in range(gi.shape[0]):
        x_r, x_z, x_n = gi[t].chunk(3, dim=-1)
        h_r, h_z, hn = (h @ w.T + b).chunk(3, dim=-1)
        r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * hn)
        h = (1 - z) * n + z * h
        steps.append(torch.cat([h, r, z, n, hn], dim=-1))
    return torch.stack(steps)


def _rnn_steps(torch, gi, h, w, b, nonlinearity):
    steps = []
    for t in range(gi.shape[0]):
        h = getattr(torch, nonlinearity)(gi[t] + h @ w.T + b)
        steps.append(h)
    return torch.stack(steps)


def _attention_grads(g, q, k, v, scale=0.6):
    """The textbook adjoint of softmax(q kᵀ scale + causal mask) v, in NumPy."""
    scores = q @ k.transpose(0, 2, 1) * scale + np.triu(np.full((q.shape[1], k.shape[1]), -np.inf), 1)
    p = np.exp(scores - scores.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    d_p = g @ v.transpose(0, 2, 1)
    d_scores = p * (d_p - (d_p * p).sum(axis=-1, keepdims=True)) * scale
    return [d_scores @ k, d_scores.transpose(0, 2, 1) @ q, p.transpose(0, 2, 1) @ g]


def sum_to(g, shape):
    """Sum a broadcast gradient back to `shape` (hand-written: leading axes, then size-1 axes)."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for i, n in enumerate(shape):
        if n == 1 and g.shape[i] != 1:
            g = g.sum(axis=i, keepdims=True)
    return g


def other_float(x):
    """A floating dtype to cast to: the other width where the device has float64."""
    if "64" in str(x.dtype) or not x.device.backend.supports_float64(x.device):
        return "float32"
    return "float64"


ROWS = [
    # ---- elementwise arithmetic, with broadcasting: d(a op b), gradients summed over broadcast axes
    Row("add", [A, V3], lambda a, b: a + b, lambda w, a, b: [w, w.sum(axis=0)]),
    Row("add/scalar", [A, 0.5], lambda a, b: a + b, lambda w, a, b: [w, w.sum()]),
    Row("subtract", [[[0.2], [-0.7]], B], lambda a, b: a - b, lambda w, a, b: [w.sum(axis=1, keepdims=True), -w]),
    Row("multiply", [A, [V3]], lambda a, b: a * b, lambda w, a, b: [w * b, (w * a).sum(axis=0, keepdims=True)]),
    Row("multiply/same-input", [A], lambda a: a * a, lambda w, a: [2 * a * w]),
    Row("divide", [A, POS], lambda a, b: a / b, lambda w, a, b: [w / b, -w * a / b**2]),
    Row("divide/scalar-denominator", [A, 1.25], lambda a, b: a / b, lambda w, a, b: [w / b, np.sum(-w * a / b**2)]),
    Row("negative", [A], lambda x: -x, lambda w, x: [-w]),
    # a**b: d/da = b a^(b-1), d/db = a^b log a
    Row("pow", [POS, B], pg.pow, lambda w, a, b: [w * b * a ** (b - 1), w * a**b * np.log(a)]),
    Row("pow/broadcast-exponent", [POS, [2.0, 3.0, 0.5]], pg.pow,
        lambda w, a, b: [w * b * a ** (b - 1), (w * a**b * np.log(a)).sum(axis=0)]),
    # at a = 0 with b > 0: a^b is identically 0 in b, so d/db = 0; d/da = b 0^(b-1) = 0 for b > 1
    Row("pow/zero-base", [[0.0, 2.0, 0.0, 1.5], [2.0, 3.0, 3.0, 0.5]], pg.pow,
        lambda w, a, b: [w * b * a ** (b - 1), w * np.where(a > 0, a**b * np.log(np.where(a > 0, a, 1.0)), 0.0)]),
    Row("pow/cube", [A], lambda a: a**3, lambda w, a: [w * 3 * a**2]),
    Row("pow/constant-base", [A], lambda a: 2.0**a, lambda w, a: [w * 2.0**a * np.log(2.0)]),
    # ---- elementwise functions: w * f'(x)
    unary("exp", pg.exp, np.exp, A),
    unary("expm1", pg.expm1, np.exp, A),
    unary("log", pg.log, lambda x: 1 / x, POS),
    unary("log1p", pg.log1p, lambda x: 1 / (1 + x), [[-0.5, 0.7, 2.0], [0.3, -0.4, 1.1]]),
    unary("sqrt", pg.sqrt, lambda x: 0.5 / np.sqrt(x), POS),
    unary("sin", pg.sin, np.cos, A),
    unary("cos", pg.cos, lambda x: -np.sin(x), A),
    unary("tanh", pg.tanh, lambda x: 1 - np.tanh(x) ** 2, A),
    unary("sigmoid", pg.sigmoid, lambda x: sigmoid(x) * (1 - sigmoid(x)), A),
    unary("sigmoid/large", pg.sigmoid, lambda x: sigmoid(x) * (1 - sigmoid(x)), [-30.0, -8.0, 8.0, 30.0]),
    unary("log_sigmoid", pg.log_sigmoid, lambda x: 1 - sigmoid(x), A),  # d log σ = σ(-x) = 1 - σ(x)
    unary("log_sigmoid/large", pg.log_sigmoid, lambda x: sigmoid(-x), [-700.0, -30.0, 30.0, 700.0]),
    unary("softplus", pg.softplus, sigmoid, A),
    unary("softplus/large", pg.softplus, sigmoid, [-700.0, -30.0, 30.0, 700.0]),
    unary("relu", pg.relu, lambda x: (x > 0).astype(float), [[-1.5, 0.0, 2.0], [0.3, -0.4, 0.0]]),
    unary("abs", pg.abs, lambda x: np.where(x > 0, 1.0, np.where(x < 0, -1.0, 0.0)), [[-1.5, 0.0, 2.0], [0.3, -0.4, 0.0]]),
    # ---- the Array API's elementwise functions
    unary("tan", pg.tan, lambda x: 1 / np.cos(x) ** 2, A),
    unary("sinh", pg.sinh, np.cosh, A),
    unary("cosh", pg.cosh, np.sinh, A),
    unary("asin", pg.asin, lambda x: 1 / np.sqrt(1 - x**2), U),
    unary("acos", pg.acos, lambda x: -1 / np.sqrt(1 - x**2), U),
    unary("atan", pg.atan, lambda x: 1 / (1 + x**2), A),
    unary("asinh", pg.asinh, lambda x: 1 / np.sqrt(x**2 + 1), A),
    unary("acosh", pg.acosh, lambda x: 1 / np.sqrt(x**2 - 1), [[1.5, 1.7, 2.5], [1.8, 1.2, 3.0]]),
    unary("atanh", pg.atanh, lambda x: 1 / (1 - x**2), U),
    unary("log2", pg.log2, lambda x: 1 / (x * np.log(2)), POS),
    unary("log10", pg.log10, lambda x: 1 / (x * np.log(10)), POS),
    unary("reciprocal", pg.reciprocal, lambda x: -1 / x**2, POS),
    unary("positive", pg.positive, np.ones_like, A),
    Row("atan2", [A, POS], pg.atan2, lambda w, a, b: [w * b / (a**2 + b**2), -w * a / (a**2 + b**2)]),
    Row("logaddexp", [A, B], pg.logaddexp,
        lambda w, a, b: [w * np.exp(a) / (np.exp(a) + np.exp(b)), w * np.exp(b) / (np.exp(a) + np.exp(b))]),
    Row("hypot", [A, B], pg.hypot, lambda w, a, b: [w * a / np.hypot(a, b), w * b / np.hypot(a, b)]),
    Row("hypot/origin", [[0.0, 3.0], [0.0, 4.0]], pg.hypot, lambda w, a, b: [w * np.array([0, 0.6]), w * np.array([0, 0.8])]),
    # copysign(a, b) = |a| sign(b): d/da = sign(a) sign(b); no gradient in b
    Row("copysign", [A],
        lambda a: pg.copysign(a, pg.asarray([[1.0, -1.0, -2.0], [-0.5, 0.5, 3.0]], device=a.device, dtype=a.dtype)),
        lambda w, a: [w * np.sign(a) * np.sign([[1.0, -1.0, -2.0], [-0.5, 0.5, 3.0]])]),
    Row("remainder", [A, POS], pg.remainder, lambda w, a, b: [w, -w * np.floor(a / b)]),
    # ---- the Array API's structural functions: each gradient is the same structure applied back
    Row("flip", [A], lambda x: pg.flip(x, axis=1), lambda w, x: [w[:, ::-1]]),
    Row("roll", [A], lambda x: pg.roll(x, shift=1, axis=1), lambda w, x: [np.roll(w, -1, axis=1)]),
    Row("tril", [grid(3, 3, seed=40)], lambda x: pg.tril(x, k=-1), lambda w, x: [np.tril(w, -1)]),
    Row("triu", [grid(3, 4, seed=41)], lambda x: pg.triu(x, k=1), lambda w, x: [np.triu(w, 1)]),
    # out_i = sum_{j <= i} x_j, so d/dx_j = sum_{i >= j} w_i (with include_initial: i > j of the longer output)
    Row("cumulative_sum", [A], lambda x: pg.cumulative_sum(x, axis=1),
        lambda w, x: [np.cumsum(w[:, ::-1], axis=1)[:, ::-1]]),
    Row("cumulative_sum/include-initial", [A], lambda x: pg.cumulative_sum(x, axis=0, include_initial=True),
        lambda w, x: [np.cumsum(w[1:][::-1], axis=0)[::-1]]),
    # ---- pg.linalg: the closed-form adjoints (A symmetric positive definite, X = solve(A, B))
    Row("linalg_inv", [SPD], pg.linalg.inv, lambda w, a: [-np.linalg.inv(a).T @ w @ np.linalg.inv(a).T]),
    Row("linalg_solve", [SPD, B3], pg.linalg.solve, lambda w, a, b: [
        -np.linalg.solve(a.T, w) @ np.linalg.solve(a, b).T, np.linalg.solve(a.T, w)]),
    Row("linalg_det", [SPD], pg.linalg.det, lambda w, a: [w * np.linalg.det(a) * np.linalg.inv(a).T]),
    Row("linalg_logabsdet", [SPD], lambda a: pg.linalg.slogdet(a).logabsdet, lambda w, a: [w * np.linalg.inv(a).T]),
    # Cholesky A = L L^T: the symmetric adjoint sym(L^-T phi(L^T W) L^-1), phi = lower triangle, half diagonal
    Row("linalg_cholesky", [SPD], pg.linalg.cholesky, lambda w, a: [cholesky_adjoint(w, a)]),
    # eigen- and singular vectors through their squares, which their signs do not change
    Row("linalg_eigh", [SPD], lambda a: pg.linalg.eigh(a).eigenvectors ** 2,
        lambda w, a: [eigenvector_adjoint(2 * w * np.linalg.eigh(a)[1], *np.linalg.eigh(a))]),
    Row("linalg_eigvalsh", [SPD], pg.linalg.eigvalsh, lambda w, a: [np.linalg.eigh(a)[1] * w @ np.linalg.eigh(a)[1].T]),
    Row("linalg_svd", [A], lambda a: pg.linalg.svd(a, full_matrices=False).U ** 2,
        lambda w, a: [left_singular_adjoint(w, a)]),
    Row("linalg_svdvals", [A], pg.linalg.svdvals,
        lambda w, a: [np.linalg.svd(a)[0] * w @ np.linalg.svd(a, full_matrices=False)[2]]),
    Row("linalg_qr", [np.transpose(A)], lambda a: pg.linalg.qr(a).R ** 2, lambda w, a: [r_squared_adjoint(w, a)]),
    Row("linalg_pinv", [A], pg.linalg.pinv, lambda w, a: [pinv_adjoint(w, a)]),
    # ---- maximum / minimum: the larger (smaller) operand takes the gradient, equal operands halve it
    Row("maximum", [A, [[0.1, 0.7, -1.0], [0.6, -2.0, 1.1]]], pg.maximum,
        lambda w, a, b: [w * ((a > b) + 0.5 * (a == b)), w * ((b > a) + 0.5 * (a == b))]),
    Row("maximum/broadcast", [A, [[0.3], [1.1]]], pg.maximum,
        lambda w, a, b: [w * ((a > b) + 0.5 * (a == b)), (w * ((b > a) + 0.5 * (a == b))).sum(axis=1, keepdims=True)]),
    Row("maximum/zero", [[-1.0, 0.0, 2.0]], lambda x: pg.maximum(x, 0.0), lambda w, x: [w * ((x > 0) + 0.5 * (x == 0))]),
    Row("minimum", [A, [[0.1, 0.7, -1.0], [0.6, -2.0, 1.1]]], pg.minimum,
        lambda w, a, b: [w * ((a < b) + 0.5 * (a == b)), w * ((b < a) + 0.5 * (a == b))]),
    Row("minimum/broadcast", [A, [0.7]], pg.minimum,
        lambda w, a, b: [w * ((a < b) + 0.5 * (a == b)), (w * ((b < a) + 0.5 * (a == b))).sum(keepdims=True).reshape(1)]),
    # ---- clip: 1 on the closed interval [min, max], 0 outside
    Row("clip", [[[-1.5, -0.5, 0.2], [0.5, 0.9, -0.1]]], lambda x: pg.clip(x, -0.5, 0.5),
        lambda w, x: [w * ((x >= -0.5) & (x <= 0.5))]),
    Row("clip/max-only", [[[-1.5, 0.25, 0.2], [0.5, 0.9, -0.1]]], lambda x: pg.clip(x, max=0.25),
        lambda w, x: [w * (x <= 0.25)]),
    Row("clip/min-only", [[[-1.5, 0.25, 0.2], [0.5, 0.9, -0.1]]], lambda x: pg.clip(x, min=0.25),
        lambda w, x: [w * (x >= 0.25)]),
    # ---- where: the chosen branch takes the gradient
    Row("where", [A, B], lambda a, b: pg.where(mask(a, [[1, 0, 1], [0, 1, 0]]), a, b),
        lambda w, a, b: [w * np.array([[1, 0, 1], [0, 1, 0]]), w * np.array([[0, 1, 0], [1, 0, 1]])]),
    Row("where/broadcast", [A, V3], lambda a, b: pg.where(mask(a, [[1, 0, 1], [0, 1, 1]]), a, b),
        lambda w, a, b: [w * np.array([[1, 0, 1], [0, 1, 1]]), (w * np.array([[0, 1, 0], [1, 0, 0]])).sum(axis=0)]),
    # ---- astype: the identity on values; the gradient comes back in the input's dtype
    Row("astype", [A], lambda x: pg.astype(x, other_float(x)), lambda w, x: [w]),
    Row("astype/same-dtype", [A], lambda x: pg.astype(x, x.dtype) * 3.0, lambda w, x: [3 * w]),
    # ---- linear: d(x W^T + b) = g W, g^T x (summed over leading axes), g summed over rows
    Row("linear", [grid(4, 3, seed=40), grid(2, 3, seed=41), [0.3, -0.2]], pg.linear,
        lambda w, x, W, b: [w @ W, w.T @ x, w.sum(axis=0)]),
    Row("linear/batched", [grid(2, 4, 3, seed=42), grid(2, 3, seed=43), [0.3, -0.2]], pg.linear,
        lambda w, x, W, b: [w @ W, np.einsum("nlo,nli->oi", w, x), w.sum(axis=(0, 1))]),
    # ---- cross-entropy of class indices, mean over N: (softmax(x) - onehot(t)) / N
    Row("softmax_cross_entropy", [grid(4, 3, seed=44)],
        lambda x: pg.functional.cross_entropy(x, index(x, [2, 0, 1, 2])),
        lambda w, x: [w * (softmax(x, 1) - np.eye(3)[[2, 0, 1, 2]]) / 4]),
    Row("softmax_cross_entropy/none", [grid(4, 3, seed=45)],
        lambda x: pg.functional.cross_entropy(x, index(x, [2, 0, 1, 2]), reduction="none"),
        lambda w, x: [w[:, None] * (softmax(x, 1) - np.eye(3)[[2, 0, 1, 2]])]),
    # nll: -cw[t] at each kept entry's class, over the kept entries' summed class weights (entry 1 ignored)
    Row("nll_loss", [grid(4, 3, seed=46)],
        lambda x: pg.functional.nll_loss(x, index(x, [2, 0, 1, 2]), weight=pg.asarray([0.5, 1.5, 2.0], dtype=x.dtype,
                                                                                        device=x.device), ignore_index=0),
        lambda w, x: [w * -(np.array([[0, 0, 2.0], [0, 0, 0], [0, 1.5, 0], [0, 0, 2.0]]) / 5.5)]),
    Row("nll_loss/none", [grid(4, 3, seed=47)],
        lambda x: pg.functional.nll_loss(x, index(x, [2, 0, 1, 2]), reduction="none"),
        lambda w, x: [-w[:, None] * np.eye(3)[[2, 0, 1, 2]]]),
    # embedding: each lookup's g added to its row (repeats accumulate), none to the padding row 2
    Row("embedding", [grid(3, 2, seed=48)],
        lambda w: pg.functional.embedding(index(w, [[2, 0], [2, 1]]), w, padding_idx=2),
        lambda g, w: [np.stack([g[0, 1], g[1, 1], np.zeros(2)])]),
    # ---- matmul: d(a @ b) = g @ b^T and a^T @ g, with 1-D operands promoted and broadcast batches summed
    Row("matmul/1d-1d", [V3, [0.5, 1.5, -0.3]], pg.matmul, lambda w, a, b: [w * b, w * a]),
    Row("matmul/2d-1d", [A, V3], pg.matmul, lambda w, a, b: [np.outer(w, b), a.T @ w]),
    Row("matmul/1d-2d", [V3, grid(3, 2, seed=1)], pg.matmul, lambda w, a, b: [b @ w, np.outer(a, w)]),
    Row("matmul/2d-2d", [A, grid(3, 2, seed=2)], pg.matmul, lambda w, a, b: [w @ b.T, a.T @ w]),
    Row("matmul/batched-2d", [grid(2, 2, 3, seed=3), grid(3, 2, seed=4)], pg.matmul,
        lambda w, a, b: [np.einsum("bij,kj->bik", w, b), np.einsum("bik,bij->kj", a, w)]),
    Row("matmul/2d-batched", [grid(2, 3, seed=5), grid(2, 3, 2, seed=6)], pg.matmul,
        lambda w, a, b: [np.einsum("bij,bkj->ik", w, b), np.einsum("ik,bij->bkj", a, w)]),
    Row("matmul/broadcast-batches", [grid(2, 1, 2, 3, seed=7), grid(3, 3, 2, seed=8)], pg.matmul,
        lambda w, a, b: [np.einsum("bcij,ckj->bik", w, b)[:, None], np.einsum("bik,bcij->ckj", a[:, 0], w)]),
    Row("matmul/1d-batched", [V3, grid(2, 3, 2, seed=9)], pg.matmul,
        lambda w, a, b: [np.einsum("bj,bkj->k", w, b), a[None, :, None] * w[:, None, :]]),
    Row("matmul/batched-1d", [grid(2, 2, 3, seed=10), V3], pg.matmul,
        lambda w, a, b: [w[..., None] * b, np.einsum("bik,bi->k", a, w)]),
    Row("matrix_transpose", [grid(2, 2, 3, seed=11)], pg.matrix_transpose, lambda w, x: [np.swapaxes(w, -1, -2)]),
    # ---- reductions
    Row("sum", [A], pg.sum, lambda w, x: [np.broadcast_to(w, x.shape)]),
    Row("sum/axis", [A], lambda x: pg.sum(x, axis=1), lambda w, x: [spread(w, x, 1, False)]),
    Row("sum/axes-keepdims", [grid(2, 3, 4, seed=12)], lambda x: pg.sum(x, axis=(0, 2), keepdims=True),
        lambda w, x: [np.broadcast_to(w, x.shape)]),
    Row("mean", [A], pg.mean, lambda w, x: [np.broadcast_to(w / 6, x.shape)]),
    Row("mean/axis-keepdims", [A], lambda x: pg.mean(x, axis=-1, keepdims=True), lambda w, x: [np.broadcast_to(w / 3, x.shape)]),
    Row("mean/axes", [grid(2, 3, 4, seed=13)], lambda x: pg.mean(x, axis=(0, 2)),
        lambda w, x: [np.broadcast_to(w[None, :, None] / 8, x.shape)]),
    # max/min: the extremum takes the gradient, k tied extrema take 1/k each
    Row("max", [A], pg.max, lambda w, x: [w * (x == 2.0)]),
    Row("max/axis", [A], lambda x: pg.max(x, axis=1),
        lambda w, x: [spread(w, x, 1, False) * extremum_share(x, 1, np.max)]),
    Row("max/axis-ties", [[[1.0, 3.0, 3.0], [2.0, -1.0, 0.5]]], lambda x: pg.max(x, axis=1, keepdims=True),
        lambda w, x: [w * np.array([[0, 0.5, 0.5], [1, 0, 0]])]),
    Row("max/all-ties", [[[1.0, 3.0, 3.0], [3.0, -1.0, 3.0]]], pg.max, lambda w, x: [w * 0.25 * (x == 3.0)]),
    Row("min", [A], pg.min, lambda w, x: [w * (x == -1.5)]),
    Row("min/axis", [A], lambda x: pg.min(x, axis=0),
        lambda w, x: [spread(w, x, 0, False) * extremum_share(x, 0, np.min)]),
    Row("min/axis-ties", [[[1.0, -2.0, 4.0], [1.0, -2.0, -3.0]]], lambda x: pg.min(x, axis=0),
        lambda w, x: [w * np.array([[0.5, 0.5, 0], [0.5, 0.5, 1]])]),
    # prod: d/dx_i = the product of the other entries (at a zero too: nonzero iff it is the only zero)
    Row("prod", [A], pg.prod, lambda w, x: [w * np.prod(x) / x]),
    Row("prod/axis", [A], lambda x: pg.prod(x, axis=1), lambda w, x: [spread(w, x, 1, False) * product_of_others(x, 1)]),
    Row("prod/one-zero", [[[2.0, 0.0, 3.0], [1.5, -2.0, 0.5]]], lambda x: pg.prod(x, axis=1),
        lambda w, x: [w[:, None] * np.array([[0.0, 6.0, 0.0], [-1.0, 0.75, -3.0]])]),
    Row("prod/two-zeros", [[[0.0, 2.0, 0.0], [1.5, 0.0, 0.5]]], lambda x: pg.prod(x, axis=1),
        lambda w, x: [w[:, None] * np.array([[0.0, 0.0, 0.0], [0.0, 0.75, 0.0]])]),
    Row("prod/all-one-zero", [[[2.0, 0.0, 3.0], [1.5, -2.0, 0.5]]], pg.prod,
        lambda w, x: [w * np.array([[0.0, -9.0, 0.0], [0.0, 0.0, 0.0]])]),
    Row("prod/all-two-zeros", [[[0.0, 2.0, 3.0], [1.5, 0.0, 0.5]]], pg.prod, lambda w, x: [w * np.zeros((2, 3))]),
    Row("prod/keepdims", [grid(2, 3, seed=14)], lambda x: pg.prod(x, axis=0, keepdims=True),
        lambda w, x: [w * product_of_others(x, 0)]),
    # var: 2 (x - mean) / (n - correction); std: (x - mean) / ((n - correction) std)
    Row("var", [A], pg.var, lambda w, x: [w * 2 * (x - x.mean()) / 6]),
    Row("var/correction", [A], lambda x: pg.var(x, axis=1, correction=1),
        lambda w, x: [w[:, None] * 2 * (x - x.mean(axis=1, keepdims=True)) / (3 - 1)]),
    Row("var/keepdims", [grid(4, 2, seed=15)], lambda x: pg.var(x, axis=0, correction=1, keepdims=True),
        lambda w, x: [w * 2 * (x - x.mean(axis=0, keepdims=True)) / (4 - 1)]),
    Row("std", [A], pg.std, lambda w, x: [w * (x - x.mean()) / (6 * np.sqrt(np.sum((x - x.mean()) ** 2) / 6))]),
    Row("std/correction", [A], lambda x: pg.std(x, axis=1, correction=1),
        lambda w, x: [w[:, None] * (x - x.mean(axis=1, keepdims=True))
                      / (2 * np.sqrt(np.sum((x - x.mean(axis=1, keepdims=True)) ** 2, axis=1, keepdims=True) / 2))]),
    Row("std/keepdims", [grid(4, 2, seed=16)], lambda x: pg.std(x, axis=0, correction=1, keepdims=True),
        lambda w, x: [w * (x - x.mean(axis=0)) / (3 * np.sqrt(np.sum((x - x.mean(axis=0)) ** 2, axis=0) / 3))]),
    # logsumexp: the softmax; softmax: s (w - sum(w s)); log_softmax: w - s sum(w)
    Row("logsumexp", [A], pg.logsumexp, lambda w, x: [w * np.exp(x) / np.exp(x).sum()]),
    Row("logsumexp/axis", [A], lambda x: pg.logsumexp(x, axis=1), lambda w, x: [w[:, None] * softmax(x, 1)]),
    Row("logsumexp/large", [[[1000.0, 1001.0, 999.0], [-1000.0, -1000.0, -1002.0]]],
        lambda x: pg.logsumexp(x, axis=1, keepdims=True), lambda w, x: [w * softmax(x, 1)]),
    Row("softmax", [A], lambda x: pg.softmax(x, axis=-1),
        lambda w, x: [softmax(x, 1) * (w - np.sum(w * softmax(x, 1), axis=1, keepdims=True))]),
    Row("softmax/axis0", [grid(3, 2, seed=17)], lambda x: pg.softmax(x, axis=0),
        lambda w, x: [softmax(x, 0) * (w - np.sum(w * softmax(x, 0), axis=0, keepdims=True))]),
    Row("log_softmax", [A], lambda x: pg.log_softmax(x, axis=-1),
        lambda w, x: [w - softmax(x, 1) * np.sum(w, axis=1, keepdims=True)]),
    Row("log_softmax/axis0", [grid(3, 2, seed=18)], lambda x: pg.log_softmax(x, axis=0),
        lambda w, x: [w - softmax(x, 0) * np.sum(w, axis=0, keepdims=True)]),
    # ---- shape: the gradient is w moved back where each entry came from
    Row("reshape", [A], lambda x: pg.reshape(x, (3, 2)), lambda w, x: [w.reshape(2, 3)]),
    Row("reshape/flatten", [grid(2, 3, 2, seed=19)], lambda x: pg.reshape(x, (-1,)), lambda w, x: [w.reshape(2, 3, 2)]),
    # out[i, j, k] = x[j, k, i], so grad[j, k, i] = w[i, j, k]
    Row("permute_dims", [grid(2, 1, 3, seed=20)], lambda x: pg.permute_dims(x, (2, 0, 1)),
        lambda w, x: [np.transpose(w, (1, 2, 0))]),
    Row("expand_dims", [A], lambda x: pg.expand_dims(x, axis=1), lambda w, x: [w[:, 0, :]]),
    Row("squeeze", [grid(2, 1, 3, seed=21)], lambda x: pg.squeeze(x, axis=1), lambda w, x: [w[:, None, :]]),
    Row("broadcast_to", [[V3]], lambda x: pg.broadcast_to(x, (2, 3)), lambda w, x: [w.sum(axis=0, keepdims=True)]),
    Row("broadcast_to/new-axes", [[[0.5], [-1.0], [2.0]]], lambda x: pg.broadcast_to(x, (2, 3, 4)),
        lambda w, x: [w.sum(axis=(0, 2))[:, None]]),
    Row("concat", [[[0.5], [-1.0]], B], lambda a, b: pg.concat([a, b], axis=1), lambda w, a, b: [w[:, :1], w[:, 1:]]),
    Row("concat/three", [[V3], A, [V3]], lambda a, b, c: pg.concat([a, b, c], axis=0),
        lambda w, a, b, c: [w[:1], w[1:3], w[3:]]),
    Row("concat/stack", [A, B], lambda a, b: pg.stack([a, b], axis=1), lambda w, a, b: [w[:, 0], w[:, 1]]),
    # ---- indexing
    Row("getitem", [grid(3, 4, seed=22)], lambda x: x[1:, ::2],
        lambda w, x: [scatter_at(x.shape, (slice(1, None), slice(None, None, 2)), w)]),
    Row("getitem/int-newaxis", [grid(3, 4, seed=23)], lambda x: x[..., 1, None],
        lambda w, x: [scatter_at(x.shape, (slice(None), 1), w[:, 0])]),
    Row("getitem/strided", [grid(3, 4, seed=24)], lambda x: x[::2, 1:3],
        lambda w, x: [scatter_at(x.shape, (slice(0, 3, 2), slice(1, 3)), w)]),
    Row("getitem/scalar", [grid(3, 4, seed=25)], lambda x: x[-1, 0], lambda w, x: [scatter_at(x.shape, (2, 0), w)]),
    Row("scatter_slice", [grid(2, 2, seed=26)],
        lambda v: ops.scatter_slice(v, key=(slice(1, 3), Ellipsis), shape=(4, 2)), lambda w, v: [w[1:3]]),
    Row("scatter_slice/column", [V3], lambda v: ops.scatter_slice(v, key=(slice(None), 1), shape=(3, 2)),
        lambda w, v: [w[:, 1]]),
    # take: every pick adds its weight back at the picked index (repeated indices accumulate)
    Row("take", [grid(3, 2, seed=27)], lambda x: pg.take(x, index(x, IDX), axis=0),
        lambda w, x: [np.stack([w[[k for k, i in enumerate(IDX) if i == r]].sum(axis=0) for r in range(3)])]),
    Row("take/axis1", [grid(2, 3, seed=28)], lambda x: pg.take(x, index(x, IDX), axis=1),
        lambda w, x: [np.stack([w[:, [k for k, i in enumerate(IDX) if i == c]].sum(axis=1) for c in range(3)], axis=1)]),
    Row("take/array-key", [grid(3, 2, seed=29)], lambda x: x[index(x, IDX)],
        lambda w, x: [np.stack([w[1], w[3], w[0] + w[2]])]),
    Row("take/mask", [A], lambda x: x[x > 0], lambda w, x: [scatter_at(x.shape, x > 0, w)]),
    Row("take/pairs", [grid(3, 2, seed=30)], lambda x: x[[0, 2, 2], [1, 0, 0]],
        lambda w, x: [np.array([[0, w[0]], [0, 0], [w[1] + w[2], 0]])]),
    Row("take/along-axis", [grid(3, 4, seed=31)], lambda x: pg.take_along_axis(x, index(x, [[0, 2], [1, 1], [3, 0]]), axis=1),
        lambda w, x: [np.array([[w[0, 0], 0, w[0, 1], 0], [0, w[1, 0] + w[1, 1], 0, 0], [w[2, 1], 0, 0, w[2, 0]]])]),
    # scatter_add: out[i] = sum over k with idx[k] == i of values[k], so grad[k] = w[idx[k]]
    Row("scatter_add", [grid(4, 2, seed=32)], lambda v: pg.scatter_add(v, index(v, IDX), axis=0, size=3),
        lambda w, v: [w[IDX]]),
    Row("scatter_add/axis1", [grid(2, 3, seed=33)], lambda v: pg.scatter_add(v, index(v, [1, 3, 1]), axis=1, size=4),
        lambda w, v: [w[:, [1, 3, 1]]]),
    unary("erf", pg.erf, lambda x: 2 / np.sqrt(np.pi) * np.exp(-x * x), A),
    # gelu: d/dx x Phi(x) = Phi(x) + x phi(x); the tanh form's derivative by hand
    unary("gelu", ops.gelu, lambda x: _normal_cdf(x) + x * np.exp(-x * x / 2) / np.sqrt(2 * np.pi), A),
    unary("gelu/tanh", lambda x: ops.gelu(x, approximate="tanh"), _gelu_tanh_slope, A),
    Row("conv", [grid(2, 2, 5, 6, seed=47), grid(3, 2, 2, 3, seed=48), [0.5, -0.25, 1.0]],
        lambda x, w, b: ops.conv(x, w, b, stride=(2, 1), dilation=(1, 2), groups=1),
        lambda g, x, w, b: _conv_grads(g, x, w, (2, 1), (1, 2)) + [g.sum(axis=(0, 2, 3))]),
    Row("max_pool", [grid(2, 3, 4, 6, seed=49)],
        lambda x: ops.max_pool(x, kernel=(2, 3), stride=(2, 2), dilation=(1, 1)),
        lambda g, x: [_max_pool_grad(g, x, (2, 3), (2, 2))]),
    # padding (1, 1) on both axes and ceil_mode's extra entry after on the first: x's entries alone divide
    Row("avg_pool", [grid(2, 2, 4, 5, seed=68)],
        lambda x: ops.avg_pool(x, kernel=(2, 3), stride=(2, 1), widths=((1, 2), (1, 1)), count_include_pad=False,
                               divisor_override=None),
        lambda g, x: [_avg_pool_grad(g, x, (2, 3), (2, 1), (1, 1))]),
    Row("avg_pool/divisor", [grid(1, 2, 4, 5, seed=69)],
        lambda x: ops.avg_pool(x, kernel=(2, 2), stride=(2, 2), widths=((0, 0), (1, 1)), count_include_pad=True,
                               divisor_override=5),
        lambda g, x: [_avg_pool_grad(g, x, (2, 2), (2, 2), (0, 1), divisor=5)]),
    Row("adaptive_avg_pool", [grid(2, 2, 5, 4, seed=70)], lambda x: ops.adaptive_avg_pool(x, output_size=(3, 3)),
        lambda g, x: [_adaptive_avg_pool_grad(g, x)]),
    Row("conv_transpose", [grid(2, 2, 3, 4, seed=71), grid(2, 3, 3, 2, seed=72), [0.5, -0.25, 1.0]],
        lambda x, w, b: ops.conv_transpose(x, w, b, stride=(2, 1), padding=(1, 0), output_padding=(1, 0),
                                           dilation=(1, 2), groups=1),
        lambda g, x, w, b: _conv_transpose_grads(g, x, w, (2, 1), (1, 0), (1, 0), (1, 2))),
    Row("dropout", [grid(2, 3, seed=58)],
        lambda x: apply(PRIMITIVES["dropout"], [x, mask(x, [[True, False, True], [False, True, True]])], {"scale": 2.5}),
        lambda g, x: [g * np.array([[1, 0, 1], [0, 1, 1]]) * 2.5]),
    Row("lstm_sequence", [grid(3, 2, 8, seed=50), grid(2, 2, seed=51), grid(2, 2, seed=52), grid(8, 2, seed=53),
                          grid(8, seed=54)], ops.lstm_sequence, lambda g, *inputs: _lstm_sequence_grads(g, *inputs)),
    Row("gru_sequence", [grid(3, 2, 6, seed=60), grid(2, 2, seed=61), grid(6, 2, seed=62), grid(6, seed=63)],
        ops.gru_sequence, lambda g, *inputs: _torch_grads(g, inputs, _gru_steps)),
    Row("rnn_sequence", [grid(3, 2, 2, seed=60), grid(2, 2, seed=61), grid(2, 2, seed=62), grid(2, seed=63)],
        lambda gi, h, w, b: ops.rnn_sequence(gi, h, w, b, nonlinearity="tanh"),
        lambda g, *inputs: _torch_grads(g, inputs, lambda torch, *t: _rnn_steps(torch, *t, "tanh"))),
    Row("rnn_sequence/relu", [grid(3, 2, 2, seed=64), grid(2, 2, seed=65), grid(2, 2, seed=66), grid(2, seed=67)],
        lambda gi, h, w, b: ops.rnn_sequence(gi, h, w, b, nonlinearity="relu"),
        lambda g, *inputs: _torch_grads(g, inputs, lambda torch, *t: _rnn_steps(torch, *t, "relu"))),
    Row("attention", [grid(2, 4, 3, seed=55), grid(2, 5, 3, seed=56), grid(2, 5, 2, seed=57)],
        lambda q, k, v: ops.attention(q, k, v, causal=True, scale=0.6), lambda g, *qkv: _attention_grads(g, *qkv)),
    # the fused rows below against PyTorch's autograd of its own functions
    Row("attention/masks", [grid(2, 3, 2, seed=55), grid(2, 4, 2, seed=56), grid(2, 4, 3, seed=57), grid(1, 3, 4, seed=58)],
        lambda q, k, v, m: pg.functional.scaled_dot_product_attention(q, k, v, attn_mask=m, scale=0.6),
        lambda g, *qkvm: _torch_grads(g, qkvm, lambda torch, q, k, v, m: torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=m, scale=0.6))),
    Row("rms_norm", [grid(2, 3, 4, seed=44), grid(4, seed=45)], lambda x, w: ops.rms_norm(x, w, n=1, eps=1e-5),
        lambda g, *xw: _torch_grads(g, xw, lambda torch, x, w: torch.nn.functional.rms_norm(x, (4,), w, 1e-5))),
    Row("cross_entropy", [grid(4, 3, 2, seed=46)],
        lambda x: pg.functional.cross_entropy(x, index(x, [[2, 0], [1, -1], [0, 0], [2, 1]]), label_smoothing=0.2,
                                              ignore_index=-1, weight=pg.asarray([0.5, 1.5, 2.0], dtype=x.dtype,
                                                                                 device=x.device)),
        lambda g, x: _torch_grads(g, [x], lambda torch, x: torch.nn.functional.cross_entropy(
            x, torch.tensor([[2, 0], [1, -1], [0, 0], [2, 1]]), label_smoothing=0.2, ignore_index=-1,
            weight=torch.tensor([0.5, 1.5, 2.0], dtype=x.dtype)))),
    Row("soft_cross_entropy", [grid(4, 3, seed=47), np.abs(grid(4, 3, seed=48))],
        lambda x, p: pg.functional.cross_entropy(x, p, reduction="none", label_smoothing=0.1),
        lambda g, *xp: _torch_grads(g, xp, lambda torch, x, p: torch.nn.functional.cross_entropy(
            x, p, reduction="none", label_smoothing=0.1))),
    Row("layer_norm", [grid(2, 3, 4, seed=44), grid(4, seed=45), grid(4, seed=46)],
        lambda x, w, b: ops.layer_norm(x, w, b, n=1, eps=1e-5), lambda g, x, w, b: _layer_norm_grads(g, x, w)),
    # windows: window (i, j) tap (a, b) reads x[i*2 + a, j + 2b], so each read adds its weight back there;
    # col2im is its adjoint, so its gradient reads the weight there (windows that col2im did not write drop out)
    Row("windows", [grid(1, 4, 5, seed=34)], lambda x: ops.windows(x, kernel=(2, 2), stride=(2, 1), dilation=(1, 2)),
        lambda w, x: [window_sums(w, x.shape)]),
    Row("col2im", [grid(1, 2, 3, 2, 2, seed=35)],
        lambda c: ops.col2im(c, shape=(1, 5, 6), kernel=(2, 2), stride=(2, 1), dilation=(1, 2)),
        lambda w, c: [np.array([[[[[w[0, 2 * i + a, j + 2 * b] for b in range(2)] for a in range(2)]
                                  for j in range(3)] for i in range(2)]])]),
    # ---- complex values in between (real leaves: the gradient is the real part, PyTorch's convention)
    # Im((1 + 2i) a) = 2a; Re(conj((1 + 2i) a) (2 + i)) = Re((4 - 3i) a) = 4a
    Row("complex_part", [A], lambda a: pg.imag(a * (1 + 2j)), lambda w, a: [2 * w]),
    Row("complex_part/conj-real", [A], lambda a: pg.real(pg.conj(a * (1 + 2j)) * (2 + 1j)), lambda w, a: [4 * w]),
    # angle((1 + 2i) a + 0.5i) = atan2(2a + 0.5, a): d/da = (2a - (2a + 0.5)) / (a² + (2a + 0.5)²)
    Row("angle", [A], lambda a: pg.angle(a * (1 + 2j) + 0.5j), lambda w, a: [w * -0.5 / (a**2 + (2 * a + 0.5) ** 2)]),
    # the transforms as DFT matrices M (y = M x along the axis): d sum(w Re(c y)) / dx = w @ Re(c M)
    Row("fft_fft", [A], lambda a: pg.real(pg.fft.fft(a * (1 + 0.5j), n=4)),
        lambda w, a: [w @ np.real((1 + 0.5j) * dft(4, 3))]),
    Row("fft_ifft", [A], lambda a: pg.imag(pg.fft.ifft(a * (1 + 0.5j), n=2)),
        lambda w, a: [w @ np.imag((1 + 0.5j) * dft(2, 3, sign=1, scale=1 / 2))]),
    # two axes: y = M0 X M1ᵀ, so the gradient is Re(c M0ᵀ W M1)
    Row("fft_fftn", [A], lambda a: pg.real(pg.fft.fftn(a * (1 + 0.5j), norm="ortho")),
        lambda w, a: [np.real((1 + 0.5j) * dft(2, 2, scale=2**-0.5).T @ w @ dft(3, 3, scale=3**-0.5))]),
    Row("fft_ifftn", [A], lambda a: pg.imag(pg.fft.ifftn(a * (1 + 0.5j), s=(2, 4))),
        lambda w, a: [np.imag((1 + 0.5j) * dft(2, 2, sign=1, scale=1 / 2).T @ w @ dft(4, 3, sign=1, scale=1 / 4))]),
    Row("fft_rfft", [A], lambda a: pg.imag(pg.fft.rfft(a, n=4)), lambda w, a: [w @ np.imag(dft(4, 3)[:3])]),
    # irfft, n = 4: x_t = (Re X_0 + 2 Re(X_1 e^(2πit/4)) + Re X_2 (-1)^t) / 4, each entry but the first and the last twice
    Row("fft_irfft", [A], lambda a: pg.fft.irfft(a * (1 + 0.5j), n=4),
        lambda w, a: [w @ (np.real((1 + 0.5j) * dft(4, 3, sign=1, scale=1 / 4)) * [1, 2, 1])]),
    # sum(λ²) = trace(A²) and sum(λ³) = trace(A³), whatever the order and the vectors
    Row("linalg_eig", [grid(3, 3, seed=40)], lambda a: pg.sum(pg.real(pg.linalg.eig(a).eigenvalues ** 2)),
        lambda w, a: [w * 2 * a.T]),
    Row("linalg_eigvals", [grid(3, 3, seed=41)], lambda a: pg.sum(pg.real(pg.linalg.eigvals(a) ** 3)),
        lambda w, a: [w * 3 * (a @ a).T]),
]


def dft(n_out, n_in, sign=-1, scale=1.0):
    """The (n_out, n_in) matrix of a length-n_out DFT of n_in entries (cut or zero-padded to n_out)."""
    k, j = np.arange(n_out)[:, None], np.arange(n_in)[None, :]
    return np.where(j < n_out, scale * np.exp(sign * 2j * np.pi * k * j / n_out), 0)


def window_sums(w, shape):
    """Each window entry's weight added at the x entry it read (kernel 2x2, stride (2, 1), dilation (1, 2))."""
    g = np.zeros(shape)
    for i, j, a, b in np.ndindex(*w.shape[1:]):
        g[0, 2 * i + a, j + 2 * b] += w[0, i, j, a, b]
    return g


# ---------------------------------------------------------------- running a row
def tolerances(target):
    return dict(rtol=1e-10, atol=1e-12) if target.dtype == "float64" else dict(rtol=1e-4, atol=1e-5)


def host(target, data):
    """The input as the backend holds it (rounded to its dtype), in float64 for the formulas."""
    return np.asarray(data, dtype=np.float64).astype(target.dtype).astype(np.float64)


def make(target, data, requires_grad=False):
    return target.tensor(host(target, data), requires_grad=requires_grad)


def weighted_grads(target, fn, inputs):
    """Gradients of sum(w * fn(*inputs)) by backward, and the w used (host copies)."""
    xs = [make(target, d, requires_grad=True) for d in inputs]
    out = fn(*xs)
    w = weights(out.shape)
    pg.sum(target.tensor(w, dtype=out.dtype) * out).backward()
    return [x.grad.numpy() for x in xs], w


def check(got, expected, target, exact=False):
    expected = np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape
    if exact:
        np.testing.assert_array_equal(got.astype(np.float64), expected)
    else:
        np.testing.assert_allclose(got.astype(np.float64), expected, **tolerances(target))


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_gradient_matches_hand_formula(target, row):
    got, w = weighted_grads(target, row.fn, row.inputs)
    expected = row.grads(w, *[host(target, d) for d in row.inputs])
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        check(g, e, target)


def test_every_differentiable_primitive_has_a_row():
    differentiable = {name for name, p in PRIMITIVES.items() if p.vjp is not None}
    assert differentiable - {r.primitive for r in ROWS} == set()
    assert {r.primitive for r in ROWS} - set(PRIMITIVES) == set()


# ---------------------------------------------------------------- subgradients at ties (documented), exactly
TIES = [
    # abs'(0) = 0
    ("abs", [[-2.0, 0.0, 3.0, 0.0]], pg.abs, lambda w: [w * [-1, 0, 1, 0]]),
    # relu'(0) = 0
    ("relu", [[-1.0, 0.0, 2.0, 0.0]], pg.relu, lambda w: [w * [0, 0, 1, 0]]),
    # maximum/minimum of equal operands: half each
    ("maximum", [[1.0, 2.0, -3.0], [1.0, 0.5, -3.0]], pg.maximum, lambda w: [w * [0.5, 1, 0.5], w * [0.5, 0, 0.5]]),
    ("minimum", [[1.0, 2.0, -3.0], [1.0, 0.5, -3.0]], pg.minimum, lambda w: [w * [0.5, 0, 0.5], w * [0.5, 1, 0.5]]),
    ("maximum/same-tensor", [[1.0, -2.0]], lambda x: pg.maximum(x, x), lambda w: [w]),
    ("minimum/same-tensor", [[1.0, -2.0]], lambda x: pg.minimum(x, x), lambda w: [w]),
    # max/min reductions: split equally among tied extrema (2 and 4 ties: exact in binary)
    ("max/axis", [[[1.0, 3.0, 3.0, 0.5], [2.0, 2.0, 2.0, 2.0]]], lambda x: pg.max(x, axis=1),
     lambda w: [w[:, None] * [[0, 0.5, 0.5, 0], [0.25, 0.25, 0.25, 0.25]]]),
    ("max/all", [[[1.0, 3.0], [3.0, 0.5]]], pg.max, lambda w: [w * np.array([[0, 0.5], [0.5, 0]])]),
    ("min/axis", [[[1.0, -3.0, -3.0, 0.5], [2.0, 2.0, 2.0, 2.0]]], lambda x: pg.min(x, axis=1, keepdims=True),
     lambda w: [w * [[0, 0.5, 0.5, 0], [0.25, 0.25, 0.25, 0.25]]]),
    ("min/all", [[[-1.0, 3.0], [-1.0, -1.0]]], pg.min, lambda w: [w * np.array([[1 / 3, 0], [1 / 3, 1 / 3]])]),
    # clip: 1 at exactly min and max and inside, 0 outside
    ("clip", [[-1.0, -0.5, 0.0, 0.5, 1.0, 0.25]], lambda x: pg.clip(x, -0.5, 0.5), lambda w: [w * [0, 1, 1, 1, 0, 1]]),
    ("clip/equal-bounds", [[-1.0, 0.25, 1.0]], lambda x: pg.clip(x, 0.25, 0.25), lambda w: [w * [0, 1, 0]]),
]


@pytest.mark.parametrize("name, inputs, fn, grads", TIES, ids=[t[0] for t in TIES])
def test_subgradient_at_ties(target, name, inputs, fn, grads):
    got, w = weighted_grads(target, fn, inputs)
    for g, e in zip(got, grads(w)):
        # three-way ties give 1/3, not exact in binary: everything else must match bit for bit
        check(g, e, target, exact=name != "min/all")


@pytest.mark.parametrize("name, inputs, fn, grads", TIES, ids=[t[0] for t in TIES])
def test_subgradient_at_ties_forward_mode(target, name, inputs, fn, grads):
    """jvp at the ties uses the same subgradient: tangent e_k gives the k-th Jacobian column."""
    primals = [make(target, d) for d in inputs]
    out = fn(*primals)
    for j, x in enumerate(primals):
        for k in range(x.size):
            tangents = [pg.zeros_like(p) for p in primals]
            tangents[j] = target.tensor(np.eye(x.size)[k].reshape(x.shape))
            _, tangent = pg.jvp(fn, tuple(primals), tuple(tangents))
            column = [grads(np.eye(out.size)[m].reshape(out.shape))[j].reshape(-1)[k] for m in range(out.size)]
            check(tangent.numpy(), np.reshape(column, out.shape), target, exact=name != "min/all")


# ---------------------------------------------------------------- forward mode
def hand_column(row, xs, out_shape, j, k):
    """Column k of d out / d input j, read off the hand vjp formula with w = e_m for each output m."""
    size = int(np.prod(out_shape, dtype=np.int64))
    basis = np.eye(size)
    return np.array([row.grads(basis[m].reshape(out_shape), *xs)[j].reshape(-1)[k] for m in range(size)]).reshape(out_shape)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_jvp_matches_hand_formula(target, row):
    """pg.jvp along the first and last basis direction of each input equals that Jacobian column."""
    xs = [host(target, d) for d in row.inputs]
    primals = tuple(make(target, d) for d in row.inputs)
    for j, x in enumerate(xs):
        for k in sorted({0, x.size - 1}):
            tangents = [None] * len(primals)
            tangents[j] = target.tensor(np.eye(x.size)[k].reshape(x.shape))
            out, tangent = pg.jvp(row.fn, primals, tuple(tangents))
            check(tangent.numpy(), hand_column(row, xs, out.shape, j, k), target)


def jvp_along(target, fn, inputs, j, index_):
    primals = tuple(make(target, d) for d in inputs)
    e = np.zeros(np.shape(inputs[j]))
    e[index_] = 1.0
    tangents = [None] * len(primals)
    tangents[j] = target.tensor(e)
    return pg.jvp(fn, primals, tuple(tangents))[1].numpy()


def test_jvp_columns_written_out(target):
    """A few Jacobian columns spelled out directly, not via the vjp table."""
    x = host(target, A)
    # tanh along e_(0,1): (1 - tanh(x01)^2) e_(0,1)
    expected = np.zeros((2, 3))
    expected[0, 1] = 1 - np.tanh(x[0, 1]) ** 2
    check(jvp_along(target, pg.tanh, [A], 0, (0, 1)), expected, target)
    # softmax over rows along e_(1,2): row 1 gets s_2 (e_2 - s), row 0 nothing
    s = softmax(x, 1)
    expected = np.zeros((2, 3))
    expected[1] = s[1, 2] * (np.eye(3)[2] - s[1])
    check(jvp_along(target, lambda t: pg.softmax(t, axis=-1), [A], 0, (1, 2)), expected, target)
    # a @ b along a_(1,0): row 1 of the output is b's row 0
    b = host(target, grid(3, 2, seed=2))
    expected = np.zeros((2, 2))
    expected[1] = b[0]
    check(jvp_along(target, pg.matmul, [A, b], 0, (1, 0)), expected, target)
    # prod over rows with one zero, along the zero: the product of the others
    z = [[2.0, 0.0, 3.0], [1.5, -2.0, 0.5]]
    check(jvp_along(target, lambda t: pg.prod(t, axis=1), [z], 0, (0, 1)), [6.0, 0.0], target)
    check(jvp_along(target, lambda t: pg.prod(t, axis=1), [z], 0, (0, 0)), [0.0, 0.0], target)
    # var with correction 1 along e_(0,2): 2 (x02 - mean) / (n - 1)
    expected = np.array([2 * (x[0, 2] - x[0].mean()) / 2, 0.0])
    check(jvp_along(target, lambda t: pg.var(t, axis=1, correction=1), [A], 0, (0, 2)), expected, target)
    # a ** b along b_(0,0): a^b log a at (0, 0)
    a, bb = host(target, POS), host(target, B)
    expected = np.zeros((2, 3))
    expected[0, 0] = a[0, 0] ** bb[0, 0] * np.log(a[0, 0])
    check(jvp_along(target, pg.pow, [POS, B], 1, (0, 0)), expected, target)
