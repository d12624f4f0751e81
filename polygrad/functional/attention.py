"""Attention, as PyTorch's scaled_dot_product_attention and multi-head attention (exported by polygrad.functional).

Masks follow PyTorch, whose two conventions differ: for scaled_dot_product_attention a
boolean attn_mask marks the positions that TAKE PART; for MultiheadAttention a boolean
attn_mask or key_padding_mask marks the positions that are MASKED OUT. Float masks are
added to the scores in both.
"""

import math

from ..core.engine import apply
from ..core.errors import DtypeError, ShapeError, describe
from ..namespace import ops
from ..namespace.creation import arange, zeros
from ..namespace.random import default_generator
from ..namespace.standard import broadcast_shapes
from ..primitives.fused import Saved
from ..primitives.table import PRIMITIVES


def _is_bool(mask):
    return mask.xp.isdtype(mask.array.dtype, "bool")


def _apply_mask(scores, mask, allowed_when_true):
    """scores with a boolean mask (-inf where not allowed) or a float mask (added) applied."""
    if mask is None:
        return scores
    if _is_bool(mask):
        return ops.where(mask if allowed_when_true else ~mask, scores, -math.inf)
    return scores + mask


def _causal(length, source, like):
    """(L, S) boolean: query i may attend keys j <= i (the lower triangle, as PyTorch's is_causal)."""
    rows = ops.reshape(arange(length, device=like.device), (-1, 1))
    return rows >= ops.reshape(arange(source, device=like.device), (1, -1))


def _dropout_weights(weights, p, generator=None):
    if not p:
        return weights
    generator = generator or default_generator(weights.device)
    keep = ops.astype(generator.rand(weights.shape, dtype=weights.dtype) >= p, weights.dtype)
    return weights * keep * (1 / (1 - p))


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """softmax(Q K^T * scale + mask) V over the last two axes, scale 1/sqrt(E) by default, as one fused
    primitive (polygrad/primitives/fused_attention.py).

    A boolean attn_mask marks the positions that take part, a float one is added to the scores; either
    broadcasts against the scores (..., L, S). is_causal adds the lower-triangular mask; dropout_p drops
    attention weights (always, as PyTorch's function does: pass 0 in eval), the mask drawn from the
    seeded default generator. The leading axes broadcast; enable_gqa lets key and value have fewer heads
    (axis -3) than query, each shared by a group of query heads, as PyTorch's.
    """
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ShapeError(f"scaled_dot_product_attention: query {describe(query)}, key {describe(key)} and "
                         f"value {describe(value)} do not fit (E of query and key, S of key and value)")
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: give attn_mask or is_causal, not both")
    if not 0 <= dropout_p <= 1:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1], got {dropout_p}")
    scale = 1 / math.sqrt(query.shape[-1]) if scale is None else scale
    if enable_gqa:
        key, value = _shared_heads(query, key), _shared_heads(query, value)
    query, key, value = _same_leading(query, key, value)
    inputs, params = [query, key, value], {"causal": bool(is_causal), "scale": scale}
    scores = tuple(query.shape[:-1]) + (key.shape[-2],)
    if attn_mask is not None:
        mask = _checked_mask(attn_mask, scores, query, key)
        params["masked"] = "bool" if _is_bool(mask) else "float"
        if params["masked"] == "float" and mask.dtype != query.dtype:  # scores keep query's dtype, as torch's
            mask = ops.astype(mask, query.dtype)
        params["mask_grad"] = params["masked"] == "float" and mask.requires_grad
        inputs.append(mask)
    if dropout_p:
        generator = default_generator(query.device)
        inputs.append(generator.rand(scores, dtype=query.dtype) >= dropout_p)  # the composite's draw, as before
        params["dropout"] = 1 / (1 - dropout_p) if dropout_p < 1 else 0.0
        params["saved"] = Saved()  # the probabilities, for the backward: no kernel takes dropout
    return apply(PRIMITIVES["attention"], inputs, params)


def _shared_heads(query, x):
    """key or value (..., H, S, E) with each of its H heads repeated for query's Hq / H heads (a multiple)."""
    if x.ndim < 3 or query.ndim < 3 or x.shape[-3] == query.shape[-3]:
        return x
    heads, groups = x.shape[-3], query.shape[-3] // x.shape[-3]
    if query.shape[-3] % heads:
        raise ShapeError(f"scaled_dot_product_attention: the heads (axis -3) of key and value must divide query's; "
                         f"query {describe(query)}, got {describe(x)}")
    lead = tuple(x.shape[:-3])
    grouped = ops.broadcast_to(ops.expand_dims(x, axis=-3), lead + (heads, groups) + tuple(x.shape[-2:]))
    return ops.reshape(grouped, lead + (heads * groups,) + tuple(x.shape[-2:]))


def _same_leading(*tensors):
    """query, key and value broadcast to the same leading axes (the fused primitive takes them so)."""
    if tensors[0].shape[:-2] == tensors[1].shape[:-2] == tensors[2].shape[:-2]:  # the usual case, at no cost
        return tensors
    try:
        lead = broadcast_shapes(*(tuple(t.shape[:-2]) for t in tensors))
    except ValueError as error:
        raise ShapeError(f"scaled_dot_product_attention: the leading axes of query {describe(tensors[0])}, key "
                         f"{describe(tensors[1])} and value {describe(tensors[2])} do not broadcast") from error
    return [t if tuple(t.shape[:-2]) == lead else ops.broadcast_to(t, lead + tuple(t.shape[-2:])) for t in tensors]


def _checked_mask(mask, scores, query, key):
    """attn_mask, checked: boolean or floating, broadcasting against the scores' shape without widening it."""
    xp = mask.xp
    if not (_is_bool(mask) or xp.isdtype(mask.array.dtype, "real floating")):
        raise DtypeError(f"scaled_dot_product_attention: attn_mask must be boolean or floating, got {describe(mask)} "
                         f"(query {describe(query)})")
    try:
        fits = broadcast_shapes(tuple(mask.shape), scores) == scores
    except ValueError:
        fits = False
    if not fits:
        raise ShapeError(f"scaled_dot_product_attention: attn_mask {describe(mask)} does not broadcast to the "
                         f"scores' shape {scores} of query {describe(query)} and key {describe(key)}")
    return mask


def _pad_keys(mask, extra):
    """`mask` with `extra` key positions appended on its last axis, none of them masked (False or 0)."""
    if mask is None or not extra:
        return mask
    return ops.concat([mask, zeros(mask.shape[:-1] + (extra,), dtype=mask.dtype, device=mask.device)], axis=-1)


def multi_head_attention(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight,
                         out_proj_bias, key_padding_mask=None, attn_mask=None, dropout_p=0.0, need_weights=True,
                         average_attn_weights=True, is_causal=False, *, q_proj_weight=None, k_proj_weight=None,
                         v_proj_weight=None, bias_k=None, bias_v=None, add_zero_attn=False):
    """PyTorch's multi-head attention on batch-first (N, L, E) query and (N, S, kdim)/(N, S, vdim) key/value.

    The projections are in_proj_weight (3E, E) or, with in_proj_weight None, q_proj_weight (E, E),
    k_proj_weight (E, kdim) and v_proj_weight (E, vdim). bias_k and bias_v (1, 1, E) append one learned
    key and value, add_zero_attn one of zeros, as PyTorch's add_bias_kv and add_zero_attn; masks then
    let every query see them.
    Returns (output (N, L, E), weights (N, L, S) averaged over heads, or (N, heads, L, S), or None).
    """
    batch, length, embed = query.shape
    source = key.shape[1]
    if embed % num_heads:
        raise ValueError(f"multi_head_attention: embed_dim {embed} is not divisible by num_heads {num_heads}")
    if (bias_k is None) != (bias_v is None):
        raise ValueError("multi_head_attention: give both bias_k and bias_v, or neither")
    head = embed // num_heads
    if in_proj_weight is not None:
        q_proj_weight, k_proj_weight, v_proj_weight = (in_proj_weight[i * embed:(i + 1) * embed] for i in range(3))
    b_q, b_k, b_v = (None, None, None) if in_proj_bias is None else (
        in_proj_bias[i * embed:(i + 1) * embed] for i in range(3))
    q = ops.matmul(query, ops.matrix_transpose(q_proj_weight))
    k = ops.matmul(key, ops.matrix_transpose(k_proj_weight))
    v = ops.matmul(value, ops.matrix_transpose(v_proj_weight))
    if in_proj_bias is not None:
        q, k, v = q + b_q, k + b_k, v + b_v
    extra = []  # (key, value) pairs every query attends to besides the source's
    if bias_k is not None:
        extra.append((bias_k, bias_v))
    if add_zero_attn:
        extra.append((zeros((1, 1, embed), dtype=k.dtype, device=k.device),) * 2)
    if extra:
        k = ops.concat([k] + [ops.broadcast_to(bk, (batch, 1, embed)) for bk, _ in extra], axis=1)
        v = ops.concat([v] + [ops.broadcast_to(bv, (batch, 1, embed)) for _, bv in extra], axis=1)

    def heads(x):  # (N, size, E) -> (N, heads, size, head)
        return ops.permute_dims(ops.reshape(x, (batch, x.shape[1], num_heads, head)), (0, 2, 1, 3))

    q, k, v = heads(q), heads(k), heads(v)
    scores = ops.matmul(q, ops.matrix_transpose(k)) * (1 / math.sqrt(head))  # (N, heads, L, S + extra)
    if is_causal and attn_mask is None:
        attn_mask = ~_causal(length, source, query)
    if attn_mask is not None:
        if attn_mask.ndim == 3:  # (N * heads, L, S)
            attn_mask = ops.reshape(attn_mask, (batch, num_heads, length, source))
        scores = _apply_mask(scores, _pad_keys(attn_mask, len(extra)), allowed_when_true=False)
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (batch, source):
            raise ShapeError(f"multi_head_attention: key_padding_mask must have shape {(batch, source)}, "
                             f"got {describe(key_padding_mask)}")
        padding = _pad_keys(ops.reshape(key_padding_mask, (batch, 1, 1, source)), len(extra))
        scores = _apply_mask(scores, padding, allowed_when_true=False)
    weights = _dropout_weights(ops.softmax(scores, axis=-1), dropout_p)
    out = ops.reshape(ops.permute_dims(ops.matmul(weights, v), (0, 2, 1, 3)), (batch, length, embed))
    out = ops.matmul(out, ops.matrix_transpose(out_proj_weight))
    out = out if out_proj_bias is None else out + out_proj_bias
    if not need_weights:
        return out, None
    return out, ops.mean(weights, axis=1) if average_attn_weights else weights
