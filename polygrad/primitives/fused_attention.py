"""Scaled dot-product attention as one fused primitive: softmax(q kᵀ scale + mask) v, with dropout.

The inputs are q, k, v (..., L, E), (..., S, E), (..., S, Ev) with equal leading axes (the caller
broadcasts them and repeats grouped key/value heads), then, where the params say so, the mask and the
dropout's keep mask:
  causal    key j hidden from query i where j > i (PyTorch's is_causal: the top-left triangle);
  masked    None, "bool" (a mask marking the positions that TAKE PART) or "float" (added to the
            scores); it broadcasts against the scores (..., L, S). A row every key of which is
            masked out attends to nothing: weights 0, output 0, gradients 0 (PyTorch's safe softmax);
  dropout   None, or the scale 1 / (1 - p) of the kept weights: the boolean keep mask is drawn by
            the caller from polygrad's generators, so the backward uses the same mask;
  mask_grad whether a float mask takes a gradient (the kernels leave that case to these rules);
  saved     None, or a fresh fused.Saved per call (the caller gives one with dropout, where no kernel runs).
What it saves for backward: nothing beyond its inputs; the backward recomputes the probabilities from
q and k instead of keeping the (L, S) matrix alive, except with a `saved`, which keeps them (as the
composite did): with dropout the recomputation cost a third more than the composite's backward.
The rules are the portable definition (softmax and dropout through those rows' rules or kernels); a
backend may run its kernels (`kernel_attention`, `kernel_attention_vjp`) instead.
"""

import math

from .fused import PORTABLE, _dropout
from .table import _softmax_of, _softmax_vjp, defprim
from .table import kernel_or as _run


def _probabilities(xp, q, k, causal, scale, mask, masked):
    scores = xp.matmul(q, xp.matrix_transpose(k)) * scale
    if causal:
        scores = scores + xp.triu(xp.full_like(scores, -math.inf), k=1)
    if masked is None:
        return _run(xp, "softmax", _softmax_of, scores, -1)  # the softmax row's rule, or its kernel
    scores = xp.where(mask, scores, xp.full_like(scores, -math.inf)) if masked == "bool" else scores + mask
    dead = xp.all(scores == -math.inf, axis=-1, keepdims=True)  # every key masked out: 0, not 0/0
    zeros = xp.zeros_like(scores)
    return xp.where(dead, zeros, _run(xp, "softmax", _softmax_of, xp.where(dead, zeros, scores), -1))


def _dropped(xp, p, keep, dropout):
    """p with the dropout applied, by the dropout row's rule (or its kernel: torch's multiplies by the mask as is)."""
    return p if dropout is None else _run(xp, "dropout", _dropout, p, keep, dropout)


def _attention(xp, q, k, v, causal, scale, mask=None, masked=None, keep=None, dropout=None):
    return xp.matmul(_dropped(xp, _probabilities(xp, q, k, causal, scale, mask, masked), keep, dropout), v)


def _attention_vjp(xp, g, q, k, v, causal, scale, mask=None, masked=None, keep=None, dropout=None, mask_grad=False,
                   p=None):
    """[q's, k's, v's gradients] and, where given, the mask's (None unless mask_grad) and the keep mask's (None);
    p: the forward's probabilities where kept, else recomputed."""
    p = _probabilities(xp, q, k, causal, scale, mask, masked) if p is None else p
    d_p = _dropped(xp, xp.matmul(g, xp.matrix_transpose(v)), keep, dropout)
    d_scores = _run(xp, "softmax_vjp", _softmax_vjp, d_p, p, -1)  # of the scores before the scale
    d_scaled = d_scores * scale
    grads = [xp.matmul(d_scaled, k), xp.matmul(xp.matrix_transpose(d_scaled), q),
             xp.matmul(xp.matrix_transpose(_dropped(xp, p, keep, dropout)), g)]
    if masked is not None:
        grads.append(d_scores if mask_grad else None)
    return grads + ([None] if dropout is not None else [])


def _attention_jvp(xp, tangents, out, q, k, v, fourth=None, fifth=None, *, causal, scale, masked=None, dropout=None,
                   mask_grad=False, saved=None):
    mask, keep = _extras(fourth, fifth, masked, dropout)
    t_q, t_k, t_v = tangents[:3]
    p = _probabilities(xp, q, k, causal, scale, mask, masked)
    d_scores = (xp.matmul(t_q, xp.matrix_transpose(k)) + xp.matmul(q, xp.matrix_transpose(t_k))) * scale
    if masked == "float":
        d_scores = d_scores + tangents[3]
    d_p = p * (d_scores - xp.sum(d_scores * p, axis=-1, keepdims=True))
    return xp.matmul(_dropped(xp, d_p, keep, dropout), v) + xp.matmul(_dropped(xp, p, keep, dropout), t_v)


def _extras(fourth, fifth, masked, dropout):
    """(mask, keep) from the inputs after q, k and v (the mask first where there is one), None where absent."""
    if masked is None:
        return None, fourth if dropout is not None else None
    return fourth, fifth if dropout is not None else None


def _forward(xp, q, k, v, fourth=None, fifth=None, *, causal, scale, masked=None, dropout=None, mask_grad=False,
             saved=None):
    mask, keep = _extras(fourth, fifth, masked, dropout)
    if saved is None:
        return _run(xp, "attention", _attention, q, k, v, causal, scale, mask, masked, keep, dropout)
    p = _probabilities(xp, q, k, causal, scale, mask, masked)
    out = xp.matmul(_dropped(xp, p, keep, dropout), v)
    saved.keep(out, p)
    return out


def _backward(xp, g, out, q, k, v, fourth=None, fifth=None, *, causal, scale, masked=None, dropout=None,
              mask_grad=False, saved=None):
    mask, keep = _extras(fourth, fifth, masked, dropout)
    p = None if saved is None else saved.for_output(out)  # None: another forward's output (a recorded backward)
    if p is not None:
        return _attention_vjp(xp, g, q, k, v, causal, scale, mask, masked, keep, dropout, mask_grad, p)
    return _run(xp, "attention_vjp", _attention_vjp, g, q, k, v, causal, scale, mask, masked, keep, dropout, mask_grad)


defprim("attention", _forward, vjp=_backward,
        jvp=_attention_jvp,
        doc="softmax(q kᵀ scale [causal] [+ mask]) v over the last two axes, its weights dropped where a keep "
            "mask says so; saves nothing beyond its inputs.",
        fresh=True)
PORTABLE["attention"] = (_attention, _attention_vjp)
