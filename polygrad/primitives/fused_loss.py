"""Softmax cross-entropy as fused primitives, from logits, as PyTorch's cross_entropy (class axis 1).

The caller flattens (N, C, d1, ...) inputs to rows (M, C), checks the class indices and applies
nothing else; the rows here hold the rest:
  cross_entropy       class indices target (M,) (entries equal to ignore_index left out), class
                      weights (C,), label smoothing s: (1 - s) nll + s/C * (-sum_c weight_c log p_c)
                      per entry, 'mean' dividing both by the summed weights of the kept entries
                      (NaN when none is kept, with a gradient of 0), as torch.
  soft_cross_entropy  class probabilities target (M, C) (any smoothing already applied), weights
                      (C,): -sum_c weight_c target_c log p_c per row, 'mean' dividing by M (NaN
                      for M = 0), as torch; differentiable in the target too.
What each saves for backward: nothing beyond its inputs, the backward recomputes log_softmax; except
cross_entropy given a fresh fused.Saved (param `saved`, as F.cross_entropy gives) where no kernel runs: it
keeps log_softmax, as the composite did (recomputing it made the row 15-25% slower than the composite on NumPy).
The rules are the portable definition; a backend may run its kernels for cross_entropy
(`kernel_cross_entropy`, `kernel_cross_entropy_vjp`) instead; soft_cross_entropy has none yet.
"""

import math

from .fused import PORTABLE, _nll_loss, _nll_loss_vjp, _nll_reduce, _nll_terms
from .table import _log_softmax, _log_softmax_vjp, defprim
from .table import kernel_or as _run


def _kept(xp, target, ignore_index, dtype):
    return xp.astype(target != ignore_index, dtype)


def _smoothed(xp, log_probs, target, weight, ignore_index):
    """Each entry's -sum_c weight_c log p_c, 0 where ignored."""
    return -xp.sum(log_probs * weight, axis=1) * _kept(xp, target, ignore_index, log_probs.dtype)


def _cross_entropy(xp, logits, target, weight, ignore_index, reduction, smoothing):
    return _cross_entropy_of(xp, _log_probs(xp, logits), target, weight, ignore_index, reduction, smoothing)


def _cross_entropy_of(xp, log_probs, target, weight, ignore_index, reduction, smoothing):
    if not smoothing:
        return _nll_loss(xp, log_probs, target, weight, ignore_index, reduction)
    flat, w = _nll_terms(xp, log_probs, target, weight, ignore_index)
    picked = -(xp.take(xp.reshape(log_probs, (-1,)), flat, axis=0) * w)
    losses = picked * (1 - smoothing) + _smoothed(xp, log_probs, target, weight, ignore_index) * (
        smoothing / log_probs.shape[1])
    return _nll_reduce(xp, losses, w, reduction)


def _entry_grads(xp, g, w, reduction):
    """The output's gradient per entry: g itself ('none', 'sum') or over the summed weights ('mean';
    0, not 0 * inf, when every entry is ignored)."""
    if reduction != "mean":
        return g
    total = xp.sum(w)
    return g / xp.where(total == 0, xp.ones_like(total), total)


def _log_probs(xp, logits):
    """log_softmax over the classes by the log_softmax row's rule, or its kernel."""
    return _run(xp, "log_softmax", _log_softmax, logits, 1)


def _cross_entropy_vjp(xp, g, logits, target, weight, ignore_index, reduction, smoothing, log_probs=None):
    """logits' gradient; log_probs: the forward's where kept, else recomputed."""
    log_probs = _log_probs(xp, logits) if log_probs is None else log_probs
    d = _nll_loss_vjp(xp, g * (1 - smoothing) if smoothing else g, log_probs, target, weight, ignore_index, reduction)
    if smoothing:
        _, w = _nll_terms(xp, log_probs, target, weight, ignore_index)
        per_entry = _entry_grads(xp, g, w, reduction) * _kept(xp, target, ignore_index, logits.dtype)
        d = d - xp.expand_dims(per_entry * (smoothing / logits.shape[1]), axis=1) * weight
    return _run(xp, "log_softmax_vjp", _log_softmax_vjp, d, log_probs, 1)


def _cross_entropy_jvp(xp, t, out, logits, target, weight, ignore_index, reduction, smoothing, saved=None):
    log_probs = _log_probs(xp, logits)
    t_log_probs = t - xp.sum(xp.exp(log_probs) * t, axis=1, keepdims=True)
    flat, w = _nll_terms(xp, log_probs, target, weight, ignore_index)
    losses = -(xp.take(xp.reshape(t_log_probs, (-1,)), flat, axis=0) * w) * (1 - smoothing)
    if smoothing:
        losses = losses + _smoothed(xp, t_log_probs, target, weight, ignore_index) * (smoothing / logits.shape[1])
    return _nll_reduce(xp, losses, w, reduction)


def _forward(xp, logits, target, weight, *, ignore_index, reduction, smoothing, saved=None):
    if saved is None or hasattr(xp, "kernel_cross_entropy"):  # a kernel's backward recomputes faster than this keeps
        return _run(xp, "cross_entropy", _cross_entropy, logits, target, weight, ignore_index, reduction, smoothing)
    log_probs = _log_probs(xp, logits)
    out = xp.asarray(_cross_entropy_of(xp, log_probs, target, weight, ignore_index, reduction, smoothing))  # NumPy:
    saved.keep(out, log_probs)  # an array, not the scalar a reduction gives, so that the tape holds this very object
    return out


def _backward(xp, g, out, logits, target, weight, ignore_index, reduction, smoothing, saved=None):
    log_probs = None if saved is None else saved.for_output(out)  # None: not kept, or a recorded backward
    if log_probs is not None:
        return _cross_entropy_vjp(xp, g, logits, target, weight, ignore_index, reduction, smoothing, log_probs)
    return _run(xp, "cross_entropy_vjp", _cross_entropy_vjp, g, logits, target, weight, ignore_index, reduction,
                smoothing)


defprim("cross_entropy", _forward, vjp=[_backward, None, None],
        jvp=[_cross_entropy_jvp, None, None],
        doc="Softmax cross-entropy of logits (M, C) against class indices (M,), weighted per class, entries "
            "equal to ignore_index left out, label smoothing s; reduced by 'mean' (over the summed weights), "
            "'sum' or 'none'.",
        fresh=True)
PORTABLE["cross_entropy"] = (_cross_entropy, _cross_entropy_vjp)


# ---------------------------------------------------------------- probability targets
def _soft_reduce(xp, losses, reduction):
    if reduction == "none":
        return losses
    total = xp.sum(losses)
    if reduction == "sum":
        return total
    return total / losses.shape[0] if losses.shape[0] else total * math.nan  # torch: NaN for an empty mean


def _soft_cross_entropy(xp, logits, target, weight, reduction):
    return _soft_reduce(xp, -xp.sum(_log_probs(xp, logits) * target * weight, axis=1), reduction)


def _row_grads(xp, g, rows, reduction):
    """The output's gradient per row, as a column (rows, 1)."""
    if reduction == "none":
        return xp.expand_dims(g, axis=1)
    return g / rows if reduction == "mean" and rows else g


def _soft_grad_logits(xp, g, logits, target, weight, reduction):
    weighted = target * weight
    probs = xp.exp(_log_probs(xp, logits))
    return (probs * xp.sum(weighted, axis=1, keepdims=True) - weighted) * _row_grads(xp, g, logits.shape[0], reduction)


def _soft_grad_target(xp, g, logits, target, weight, reduction):
    return -(_log_probs(xp, logits) * weight) * _row_grads(xp, g, logits.shape[0], reduction)


def _soft_cross_entropy_jvp(xp, tangents, out, logits, target, weight, reduction):
    t_logits, t_target, _ = tangents
    log_probs = _log_probs(xp, logits)
    t_log_probs = t_logits - xp.sum(xp.exp(log_probs) * t_logits, axis=1, keepdims=True)
    return _soft_reduce(xp, -xp.sum((t_log_probs * target + log_probs * t_target) * weight, axis=1), reduction)


defprim("soft_cross_entropy", lambda xp, logits, target, weight, *, reduction:
        _soft_cross_entropy(xp, logits, target, weight, reduction),
        vjp=[lambda xp, g, out, logits, target, weight, reduction:
             _soft_grad_logits(xp, g, logits, target, weight, reduction),
             lambda xp, g, out, logits, target, weight, reduction:
             _soft_grad_target(xp, g, logits, target, weight, reduction), None],
        jvp=_soft_cross_entropy_jvp,
        doc="Softmax cross-entropy of logits (M, C) against class probabilities (M, C), weighted per class; "
            "reduced by 'mean' (over the rows), 'sum' or 'none'.",
        fresh=True)
