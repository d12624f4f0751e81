"""More fused primitives (see polygrad/fused.py for the mechanism): dropout, nll_loss, embedding.

Rows of the rule table with a portable definition (Array API only), and kernels in backends/
held equal to it by tests/test_fused_kernels.py. No public functions here (this layer does not
import the namespace): polygrad.functional applies the rows. What each saves for backward:
dropout its boolean keep mask (an input: one byte an entry, where the composite kept a
mask in x's dtype and x * mask); nll_loss nothing beyond its inputs (the total weight is
recomputed, one reduction over N); embedding nothing beyond its inputs (the row indices).
"""

import math

from .fused import PORTABLE
from .primitives import defprim
from .primitives import kernel_or as _run


# ---------------------------------------------------------------- dropout
# keep: the boolean mask drawn by the caller (uniform >= p, from polygrad's seeded generators, so the
# random streams are the composite's); it may broadcast against x (feature dropout). One multiply by
# the mask and the scale 1 / (1 - p) each way, in the composite's order (x * mask) * scale.
def _dropout(xp, x, keep, scale):
    return x * xp.astype(keep, x.dtype) * scale


def _dropout_vjp(xp, g, keep, scale):
    return g * xp.astype(keep, g.dtype) * scale


defprim("dropout", lambda xp, x, keep, *, scale: _run(xp, "dropout", _dropout, x, keep, scale),
        vjp=[lambda xp, g, out, x, keep, scale: _run(xp, "dropout_vjp", _dropout_vjp, g, keep, scale), None],
        jvp=[lambda xp, t, out, x, keep, scale: _dropout_vjp(xp, t, keep, scale), None],
        doc="x * keep * scale for a boolean mask `keep` (broadcasting against x): dropout with its mask drawn; "
            "saves only the mask.",
        fresh=True)
PORTABLE["dropout"] = (_dropout, _dropout_vjp)


# ---------------------------------------------------------------- nll_loss
# log_probs (N, C), class indices target (N,) (checked by the caller, entries equal to ignore_index
# exempt), weight (C,): -weight[t] log_probs[n, t] per entry, ignored entries weighing 0; 'mean'
# divides by the summed weights (NaN when all are ignored, as PyTorch, with a gradient of 0).
def _nll_terms(xp, log_probs, target, weight, ignore_index):
    """Each entry's flat index into log_probs (its row's first where ignored) and its weight (0 where ignored)."""
    c = log_probs.shape[1]
    kept = target != ignore_index
    safe = xp.where(kept, target, xp.zeros_like(target))
    rows = xp.cumulative_sum(xp.ones_like(safe)) - 1  # 0 .. n-1 (a recorded backward's namespace has no arange)
    flat = rows * c + safe
    return flat, xp.take(weight, safe, axis=0) * xp.astype(kept, weight.dtype)


def _nll_reduce(xp, losses, w, reduction):
    if reduction == "none":
        return losses
    return xp.sum(losses) / xp.sum(w) if reduction == "mean" else xp.sum(losses)


def _nll_loss(xp, log_probs, target, weight, ignore_index, reduction):
    flat, w = _nll_terms(xp, log_probs, target, weight, ignore_index)
    return _nll_reduce(xp, -(xp.take(xp.reshape(log_probs, (-1,)), flat, axis=0) * w), w, reduction)


def _nll_loss_vjp(xp, g, log_probs, target, weight, ignore_index, reduction):
    flat, w = _nll_terms(xp, log_probs, target, weight, ignore_index)
    if reduction == "mean":
        total = xp.sum(w)
        g = g / xp.where(total == 0, xp.ones_like(total), total)  # all ignored: 0, not 0 * inf
    return xp.reshape(xp.scatter_add(-(w * g), flat, axis=0, size=math.prod(log_probs.shape)), log_probs.shape)


def _nll_loss_jvp(xp, t, out, log_probs, target, weight, ignore_index, reduction):
    flat, w = _nll_terms(xp, log_probs, target, weight, ignore_index)
    return _nll_reduce(xp, -(xp.take(xp.reshape(t, (-1,)), flat, axis=0) * w), w, reduction)


defprim("nll_loss", lambda xp, log_probs, target, weight, *, ignore_index, reduction:
        _run(xp, "nll_loss", _nll_loss, log_probs, target, weight, ignore_index, reduction),
        vjp=[lambda xp, g, out, log_probs, target, weight, ignore_index, reduction:
             _run(xp, "nll_loss_vjp", _nll_loss_vjp, g, log_probs, target, weight, ignore_index, reduction),
             None, None],
        jvp=[_nll_loss_jvp, None, None],
        doc="Negative log-likelihood of class indices target (N,) under log_probs (N, C), weighted per class, "
            "entries equal to ignore_index left out; reduced by 'mean' (over the summed weights), 'sum' or 'none'.",
        fresh=True)
PORTABLE["nll_loss"] = (_nll_loss, _nll_loss_vjp)


# ---------------------------------------------------------------- embedding
# weight (V, D) rows at flat indices (N,) (checked by the caller to lie in [0, V)): (N, D). The
# padding row's lookups pass no gradient (nor, in forward mode, a tangent), as PyTorch's padding_idx.
def _embedding(xp, weight, indices, padding_idx):
    return xp.take(weight, indices, axis=0)


def _unpadded(xp, rows, indices, padding_idx):
    """rows (N, D) with those looked up at padding_idx zeroed."""
    if padding_idx is None:
        return rows
    return xp.where(xp.expand_dims(indices != padding_idx, axis=1), rows, xp.zeros_like(rows))


def _embedding_vjp(xp, g, weight, indices, padding_idx):
    return xp.scatter_add(_unpadded(xp, g, indices, padding_idx), indices, axis=0, size=weight.shape[0])


defprim("embedding", lambda xp, weight, indices, *, padding_idx: _run(xp, "embedding", _embedding, weight, indices,
                                                                        padding_idx),
        vjp=[lambda xp, g, out, weight, indices, padding_idx:
             _run(xp, "embedding_vjp", _embedding_vjp, g, weight, indices, padding_idx), None],
        jvp=[lambda xp, t, out, weight, indices, padding_idx: _unpadded(xp, xp.take(t, indices, axis=0), indices,
                                                                        padding_idx), None],
        doc="Rows of weight (V, D) at flat indices (N,) in [0, V); lookups of padding_idx (None: none) pass no "
            "gradient to that row.",
        fresh=True)
PORTABLE["embedding"] = (_embedding, _embedding_vjp)
