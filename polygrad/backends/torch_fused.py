"""PyTorch kernels for the fused rows of polygrad/primitives/fused_norm.py, fused_attention.py and fused_loss.py:
torch's own ATen ops, forward and backward, called on plain tensors (no torch graph is built).
A kernel returns None for inputs it has no fast path for; the portable rules then run."""

import torch

from .torch_kernels import _REDUCTIONS, _shape

_aten = torch.ops.aten


# ---------------------------------------------------------------- RMS norm
# A forward kernel only: torch 2.13 has no CPU kernel for aten._fused_rms_norm_backward (its CPU autograd
# differentiates the composite, as the portable rule does), and none here could be tested on a GPU.
def rms_norm(x, weight, n, eps):
    return _aten._fused_rms_norm(x, _shape(x, n), weight, eps)[0]


# ---------------------------------------------------------------- attention
def _flash(q, k, v, mask, dropout):
    """torch's CPU flash attention takes (N, heads, L, E) floating tensors on the CPU, one head size for q, k, v,
    no dropout mask of ours, and a float mask of q's dtype (made below from a boolean one)."""
    return dropout is None and q.ndim == 4 and q.device.type == "cpu" \
        and q.dtype in (torch.float32, torch.float64) and q.dtype == k.dtype == v.dtype \
        and q.shape[:2] == k.shape[:2] == v.shape[:2] and q.shape[-1] == k.shape[-1] == v.shape[-1] \
        and (mask is None or mask.dtype == torch.bool or mask.dtype == q.dtype)


def _float_mask(mask, masked, q):
    """The mask as flash attention takes it: added to the scores (-inf where a boolean mask hides a key), of
    rank 2 or 4."""
    if mask is None:
        return None
    if masked == "bool":
        mask = torch.zeros(mask.shape, dtype=q.dtype).masked_fill_(mask.logical_not(), -torch.inf)
    return mask if mask.ndim in (2, 4) else mask.reshape((1,) * (4 - mask.ndim) + tuple(mask.shape))


def _flash_forward(q, k, v, causal, scale, mask, masked):
    return _aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, 0.0, causal, attn_mask=_float_mask(mask, masked, q),
                                                             scale=scale)


def attention(q, k, v, causal, scale, mask=None, masked=None, keep=None, dropout=None):
    return _flash_forward(q, k, v, causal, scale, mask, masked)[0] if _flash(q, k, v, mask, dropout) else None


def attention_vjp(g, q, k, v, causal, scale, mask=None, masked=None, keep=None, dropout=None, mask_grad=False):
    if mask_grad or not _flash(q, k, v, mask, dropout) or g.dtype != q.dtype:
        return None
    out, logsumexp = _flash_forward(q, k, v, causal, scale, mask, masked)  # again
    grads = list(_aten._scaled_dot_product_flash_attention_for_cpu_backward(
        g, q, k, v, out, logsumexp, 0.0, causal, attn_mask=_float_mask(mask, masked, q), scale=scale))
    return grads + ([None] if masked is not None else [])


# ---------------------------------------------------------------- cross-entropy
def _takes(logits, target, weight):
    return logits.ndim == 2 and target.dtype == torch.int64 and weight.dtype == logits.dtype \
        and logits.is_floating_point()


def cross_entropy(logits, target, weight, ignore_index, reduction, smoothing):
    if not _takes(logits, target, weight):
        return None
    return torch.nn.functional.cross_entropy(logits, target, weight, ignore_index=ignore_index, reduction=reduction,
                                             label_smoothing=smoothing)


def cross_entropy_vjp(g, logits, target, weight, ignore_index, reduction, smoothing):
    if not _takes(logits, target, weight) or g.dtype != logits.dtype:
        return None
    log_probs = torch.log_softmax(logits, 1)
    code = _REDUCTIONS[reduction]
    total = _aten.nll_loss_forward(log_probs, target, weight, code, ignore_index)[1]  # the summed weights
    d = _aten.nll_loss_backward(g * (1 - smoothing), log_probs, target, weight, code, ignore_index, total)
    if smoothing:
        per_entry = g / torch.where(total == 0, 1.0, total) if reduction == "mean" else g
        per_entry = (target != ignore_index) * per_entry * (smoothing / logits.shape[1])
        d.sub_(per_entry.unsqueeze(1) * weight)
    return _aten._log_softmax_backward_data(d, log_probs, 1, log_probs.dtype)


KERNELS = {"rms_norm": rms_norm, "attention": attention, "attention_vjp": attention_vjp,
           "cross_entropy": cross_entropy, "cross_entropy_vjp": cross_entropy_vjp}
