"""NumPy kernels for polygrad's fused primitives (polygrad/primitives/fused.py): plain NumPy, in place where it saves passes.

Each returns None for inputs it has no fast path for, and the portable definition runs.
"""

import itertools
import math

import numpy as np

from .base import tap_key, window_counts

# Numerical Recipes' Chebyshev fit of erfc (erfcc): erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z/2),
# z >= 0, with relative error below 1.2e-7 everywhere: float32's own precision, in both tails.
_ERFC = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
         0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277)
_SQRT_HALF = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_TINY32 = np.float32(1e-37)  # twice float32's smallest normal number, and a margin


def gelu(x, approximate):
    """x Phi(x) for float32 x as max(x, 0) - |x| r, r = Phi(-|x|) = erfc(|x| / sqrt 2) / 2: accurate to
    float32 precision in both tails, where 1 + erf(x / sqrt 2) loses the negative one, and the two terms
    never cancel (|x| r <= |x| / 2). Three float32 buffers worked in place, about 30 passes against
    ~300 for the portable erf."""
    if x.dtype != np.float32 or approximate != "none":
        return None
    z = np.abs(x)
    z *= np.float32(_SQRT_HALF)  # |x| / sqrt 2
    t = np.add(z, np.float32(2))
    np.divide(np.float32(2), t, out=t)  # 1 / (1 + z/2)
    r = t * np.float32(_ERFC[-1])
    for c in _ERFC[-2:0:-1]:
        r += c
        r *= t
    r += _ERFC[0] - math.log(2)  # the 1/2 of r inside the exponent
    z *= z
    r -= z
    np.exp(r, out=r)
    r *= t
    np.abs(x, out=t)
    r *= t
    np.maximum(np.float32(0), x, out=t)  # (0, x): x itself where x is 0, so gelu(-0.0) is -0.0 as in PyTorch
    t -= r
    return t


def gelu_vjp(g, out, x, approximate):
    """g (Phi(x) + x phi(x)) with Phi(x) read off the forward's output as out / x: one division where
    recomputing Phi takes ~30 passes. Where |x| < _TINY32, x Phi(x) is subnormal (or 0) and the division
    loses Phi; there Phi(x) is 1/2 to float32 precision."""
    if x.dtype != np.float32 or out.dtype != np.float32 or approximate != "none":
        return None
    slope = x * x
    slope *= np.float32(-0.5)
    np.exp(slope, out=slope)
    slope *= np.float32(_INV_SQRT_2PI)
    slope *= x
    cdf = np.abs(x)
    tiny = cdf < _TINY32
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(out, x, out=cdf)
    cdf[tiny] = 0.5
    slope += cdf
    slope *= g
    return slope


def _taps(x, kernel, stride, dilation):
    """(offsets, the strided view of x that kernel tap `offsets` reads in every window), in row-major tap order."""
    counts = window_counts(x.shape[x.ndim - len(kernel):], kernel, stride, dilation)
    for offsets in itertools.product(*(range(k) for k in kernel)):
        yield tap_key(offsets, counts, stride, dilation)


def max_pool(x, kernel, stride, dilation, saved):
    """A running np.maximum over the kernel's taps: a few passes over the output, where a reduction
    over the windows view's small trailing axes crawls. With a Saved, also each window's first
    maximum as its tap's number (PyTorch's indices, per window): a later tap takes over only where
    it is strictly greater, and as the numbers grow that is a running maximum too (branch-free, where
    a masked copy crawls on random masks)."""
    keys = _taps(x, kernel, stride, dilation)
    out = x[next(keys)].copy()
    if saved is not None:
        kind = np.uint8 if math.prod(kernel) < 256 else np.int32
        taps, number_here = np.zeros(out.shape, dtype=kind), np.empty(out.shape, dtype=kind)
        greater = np.empty(out.shape, dtype=bool)
    for number, key in enumerate(keys, 1):
        if saved is not None:
            np.greater(x[key], out, out=greater)
            np.multiply(greater, kind(number), out=number_here)
            np.maximum(taps, number_here, out=taps)
        np.maximum(out, x[key], out=out)
    if saved is not None:
        saved.keep(out, taps)
    return out


def max_pool_vjp(g, out, x, kernel, stride, dilation, saved):
    """Each window's gradient to its first maximum: at the tap the forward kept, else found again."""
    taps = None if saved is None else saved.for_output(out)
    if taps is None or np.isnan(out).any():  # a NaN window: found again (the kept tap is its first NaN's)
        return _max_pool_vjp_found(g, out, x, kernel, stride, dilation)
    grad = np.zeros_like(x, dtype=g.dtype)
    # windows that may share entries add up; others each write their own
    overlap = any(s < d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation))
    for number, key in enumerate(_taps(x, kernel, stride, dilation)):
        if overlap:
            grad[key] += g * (taps == number)
        else:
            np.multiply(g, taps == number, out=grad[key])
    return grad


def _max_pool_vjp_found(g, out, x, kernel, stride, dilation):
    """Tap by tap, the first tap not yet taken that equals its window's maximum; where that maximum is NaN,
    the window's last NaN (PyTorch's kernel takes each NaN it meets), found going back from the end."""
    grad = np.zeros_like(x, dtype=g.dtype)
    open_ = np.ones(out.shape, dtype=bool)  # windows whose maximum has not been found yet
    taps = list(_taps(x, kernel, stride, dilation))
    passes = [(taps, lambda value: value == out)]
    if np.isnan(out).any():
        passes.append((taps[::-1], np.isnan))
    for keys, is_maximum in passes:
        for key in keys:
            hit = is_maximum(x[key])
            hit &= open_
            open_ &= ~hit
            grad[key] += g * hit
    return grad


def dropout(x, keep, scale):
    """(x * keep) * scale: the boolean mask multiplies directly (no cast pass), scaled in place."""
    if x.dtype.kind != "f":
        return None
    out = np.multiply(x, keep)
    out *= scale
    return out


def dropout_vjp(g, keep, scale):
    return dropout(g, keep, scale)


def relu_vjp(g, x):
    """0 where x <= 0, g elsewhere (a NaN x too): the boolean mask multiplies directly (np.where is
    several times slower); only an infinite or NaN g needs the masked entries set to 0 afterwards."""
    if g.dtype != x.dtype:
        return None
    dropped = x <= 0
    grad = np.multiply(g, ~dropped)
    if not np.isfinite(g).all():  # inf * 0 is NaN; PyTorch's threshold_backward gives 0 there
        grad[dropped] = 0
    return grad


def log_softmax(x, axis):
    """x - logsumexp(x), in place on one buffer (the portable one makes five)."""
    if x.dtype.kind != "f" or x.size == 0:
        return None  # empty input: the definition's answer (np.max has no identity)
    out = x - np.max(x, axis=axis, keepdims=True)
    total = np.sum(np.exp(out), axis=axis, keepdims=True)
    np.log(total, out=total)
    out -= total
    return out if np.all(np.isfinite(total)) else None  # rows of -inf or nan: the definition's answers


def log_softmax_vjp(g, out, axis):
    if g.dtype != out.dtype:
        return None
    grad = np.exp(out)
    grad *= -np.sum(g, axis=axis, keepdims=True)
    grad += g
    return grad


def _same_floats(*arrays):
    """All of one real floating dtype: what these kernels are written for (the definition takes the rest)."""
    return arrays[0].dtype.kind == "f" and all(a.dtype == arrays[0].dtype for a in arrays)


def linear(x, weight, bias):
    """x @ weight.T + bias with the bias added in place: no second output-sized buffer (N-D x as one GEMM).
    BLAS's dtypes only (NumPy's matmul of bfloat16 answers in another dtype)."""
    if not x.dtype == weight.dtype == bias.dtype or x.dtype not in (np.float32, np.float64) or x.ndim == 0:
        return None
    out = np.matmul(x.reshape(-1, x.shape[-1]), weight.T)
    out += bias
    return out.reshape(x.shape[:-1] + weight.shape[:1])


def layer_norm(x, weight, bias, n, eps):
    """The definition's arithmetic on x as rows (its last n axes flattened), in two buffers instead of five."""
    if not _same_floats(x, weight, bias) or x.size == 0:
        return None  # an empty batch: the definition's answer (and its warnings)
    out, _, _ = _normalized_rows(x.reshape(-1, weight.size), eps)
    out *= weight.reshape(-1)
    out += bias.reshape(-1)
    return out.reshape(x.shape)


def _normalized_rows(rows, eps):
    """(rows - mean) / sqrt(var + eps) per row in a fresh buffer, 1 / sqrt(var + eps) as (R, 1), and the
    weights 1/C whose product with a row is its mean: a GEMV and an einsum take the row sums (np.mean
    over a short last axis is several times slower)."""
    share = np.full(rows.shape[1], 1 / rows.shape[1], dtype=rows.dtype)
    centered = rows - (rows @ share)[:, None]
    inverse = np.einsum("ij,ij->i", centered, centered)
    inverse *= share[0]
    inverse += eps
    inverse = 1 / np.sqrt(inverse)[:, None]
    centered *= inverse
    return centered, inverse, share


def layer_norm_vjp(g, x, weight, bias, n, eps):
    """(gy - mean(gy) - xhat mean(gy xhat)) / sigma with gy = g weight, in gy's buffer; the weight's and
    bias's gradients summed over the rows."""
    if not _same_floats(g, x, weight, bias) or x.size == 0:
        return None
    g_rows = g.reshape(-1, weight.size)
    xhat, inverse, share = _normalized_rows(x.reshape(-1, weight.size), eps)
    grad_weight = np.einsum("ij,ij->j", g_rows, xhat).reshape(weight.shape)
    grad_bias = np.sum(g_rows, axis=0).reshape(bias.shape)
    gy = g_rows * weight.reshape(-1)
    mean_gy_xhat = np.einsum("ij,ij->i", gy, xhat)[:, None]
    mean_gy_xhat *= share[0]
    gy -= (gy @ share)[:, None]
    xhat *= mean_gy_xhat
    gy -= xhat
    gy *= inverse
    return [gy.reshape(x.shape), grad_weight, grad_bias]


def _attention_probabilities(q, k, causal, scale):
    """softmax(q kᵀ scale [+ -inf above the diagonal]) over the last axis."""
    p = np.matmul(q, np.swapaxes(k, -1, -2))
    p *= scale
    if causal:  # one (L, S) mask broadcast over the batch, not a full -inf array per call
        p += np.triu(np.full(p.shape[-2:], -np.inf, dtype=p.dtype), k=1)
    return _softmax_last_axis(p)


_ROW_SUM_FLOOR = math.exp(-60)


def _softmax_last_axis(p):
    """softmax over the last axis of a contiguous p. It subtracts the whole array's maximum, not each
    row's: the same softmax (any shift cancels), and NumPy's maxima or sums over a short last axis take
    ~20x a whole-array maximum and a GEMV. A row whose maximum lies far below the array's would lose its
    small entries to underflow: a row sum below e^-60 (its maximum more than ~60 + log S below) or a
    maximum that is not finite sends the array to the per-row form, the definition's."""
    peak = np.max(p)
    if np.isfinite(peak):
        e = np.subtract(p, peak)
        np.exp(e, out=e)
        sums = e.reshape(-1, e.shape[-1]) @ np.ones(e.shape[-1], dtype=e.dtype)
        if np.min(sums) >= _ROW_SUM_FLOOR:
            e /= sums.reshape(e.shape[:-1] + (1,))
            return e
    p -= np.max(p, axis=-1, keepdims=True)
    np.exp(p, out=p)
    p /= np.sum(p, axis=-1, keepdims=True)
    return p


def _plain(q, k, masked, dropout):
    """No mask but the causal one, no dropout, and some keys and queries: the cases these kernels take."""
    return masked is None and dropout is None and 0 not in q.shape[:-1] + k.shape[:-1]


def attention(q, k, v, causal, scale, mask=None, masked=None, keep=None, dropout=None):
    if not _same_floats(q, k, v) or not _plain(q, k, masked, dropout):
        return None  # no keys or no queries: the definition's answer (a softmax over nothing)
    return np.matmul(_attention_probabilities(q, k, causal, scale), v)


def attention_vjp(g, q, k, v, causal, scale, mask=None, masked=None, keep=None, dropout=None, mask_grad=False):
    if not _same_floats(g, q, k, v) or not _plain(q, k, masked, dropout):
        return None
    p = _attention_probabilities(q, k, causal, scale)
    d_scores = np.matmul(g, np.swapaxes(v, -1, -2))
    d_scores -= np.einsum("...ij,...ij->...i", d_scores, p)[..., None]  # p (d_p - rowsum(d_p p)) scale, in d_p's buffer
    d_scores *= p
    d_scores *= scale
    return [np.matmul(d_scores, k), np.matmul(np.swapaxes(d_scores, -1, -2), q), np.matmul(np.swapaxes(p, -1, -2), g)]


def _exp_shifted(logits):
    """(exp(logits - row maximum) in a fresh buffer, the maxima (N, 1)); None where a row's maximum is not
    finite (rows of -inf, inf or nan: the definition's answers)."""
    if logits.dtype.kind != "f" or logits.size == 0:
        return None
    peak = np.max(logits, axis=1, keepdims=True)
    if not np.all(np.isfinite(peak)):
        return None
    e = logits - peak
    np.exp(e, out=e)
    return e, peak


def softmax_cross_entropy(logits, flat_target, reduction):
    shifted = _exp_shifted(logits)
    if shifted is None:
        return None
    total = np.log(np.sum(shifted[0], axis=1)) + shifted[1].reshape(-1)
    losses = total - np.take(logits.reshape(-1), flat_target)
    return np.mean(losses) if reduction == "mean" else np.sum(losses) if reduction == "sum" else losses


def softmax_cross_entropy_vjp(g, logits, flat_target, reduction):
    """(softmax - onehot) times g per row, in one buffer: each row's target is one flat index, taken once."""
    shifted = None if g.dtype != logits.dtype else _exp_shifted(logits)
    if shifted is None:
        return None
    probs = shifted[0]
    probs /= np.sum(probs, axis=1, keepdims=True)
    probs.reshape(-1)[flat_target] -= 1
    probs *= g / logits.shape[0] if reduction == "mean" else g if reduction == "sum" else g.reshape(-1, 1)
    return probs


KERNELS = {"relu_vjp": relu_vjp, "linear": linear, "log_softmax": log_softmax, "log_softmax_vjp": log_softmax_vjp,
           "gelu": gelu, "gelu_vjp": gelu_vjp, "max_pool": max_pool, "max_pool_vjp": max_pool_vjp,
           "dropout": dropout, "dropout_vjp": dropout_vjp, "layer_norm": layer_norm,
           "layer_norm_vjp": layer_norm_vjp, "attention": attention, "attention_vjp": attention_vjp,
           "softmax_cross_entropy": softmax_cross_entropy, "softmax_cross_entropy_vjp": softmax_cross_entropy_vjp}
