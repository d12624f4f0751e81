"""`F.*` losses, PyTorch's names and defaults: mean/sum/none reductions, class weights, ignore_index,
label smoothing, CTC. Built from differentiable primitives (and the fused nll_loss), so they run and
differentiate on every backend."""

import math

from ..core.engine import apply
from ..core.errors import ShapeError, describe
from ..core.tensor import Tensor
from ..namespace import ops
from ..namespace.creation import ones
from ..namespace.ops import asarray
from ..namespace.standard import broadcast_arrays
from ..primitives.fused import Saved
from ..primitives.table import PRIMITIVES
from .convolution import _is_int


def _on_device(value, like):
    """Lists and host arrays join `like`'s device; Tensors stay where they are (mismatches raise)."""
    return value if isinstance(value, Tensor) else asarray(value, device=like.device)


def _float_target(target, like):
    """A regression or binary target in `like`'s dtype (the standard does not mix ints and floats)."""
    return ops.astype(_on_device(target, like), like.dtype, copy=False)


# ---------------------------------------------------------------- losses
def _reduce(loss, reduction):
    if reduction == "mean":
        return ops.mean(loss)
    if reduction == "sum":
        return ops.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def mse_loss(input, target, reduction="mean"):
    diff = input - _float_target(target, input)
    return _reduce(diff * diff, reduction)


def _picked(log_probs, target, operation):
    """log_probs (N, C, ...) at the class indices target (N, ...): shape (N, ...)."""
    if target.shape != log_probs.shape[:1] + log_probs.shape[2:]:
        raise ShapeError(f"expected class indices of shape {log_probs.shape[:1] + log_probs.shape[2:]} "
                         f"for input {describe(log_probs)}, got {describe(target)}")
    classes = ops.checked_indices(target, log_probs.shape[1], f"{operation}: class target", 1, negative=False,
                                  like=log_probs)
    picked = ops.pick_along_axis(log_probs, ops.expand_dims(Tensor._wrap(classes, target.device), axis=1), axis=1)
    return ops.squeeze(picked, axis=1)


def _class_loss(log_probs, target, weight, ignore_index, operation):
    """-log p of each entry's class; each entry's weight: weight[class], 0 where target is
    ignore_index (None when every entry weighs 1); and the 0/1 mask of entries kept (None
    when none is ignored). Ignored entries are exempt from the bound check, as in
    PyTorch; finding them costs one reduction."""
    if weight is not None and tuple(weight.shape) != (log_probs.shape[1],):
        raise ShapeError(f"{operation}: weight must hold one number per class ({log_probs.shape[1]}), "
                         f"got {describe(weight)}")
    ignored = target == ignore_index
    if not bool(ops.any(ignored)):
        loss = -_picked(log_probs, target, operation)
        return loss, None if weight is None else _class_weights(weight, target), None
    safe = ops.where(ignored, 0, target)
    loss = -_picked(log_probs, safe, operation)
    kept = ops.astype(ops.logical_not(ignored), log_probs.dtype)
    return loss, kept if weight is None else _class_weights(weight, safe) * kept, kept


def _class_weights(weight, classes):
    """weight[classes] for classes already checked to lie in [0, C)."""
    flat = ops.pick_along_axis(weight, ops.reshape(classes, (-1,)), axis=0)
    return ops.reshape(flat, classes.shape)


def _reduce_weighted(loss, weights, reduction):
    """PyTorch's weighted mean: the sum over the sum of the entries' weights."""
    if weights is None or reduction != "mean":
        return _reduce(loss, reduction)
    total = ops.sum(weights)
    # Every entry ignored: the mean is 0/0 = NaN, but its gradient 0 (as PyTorch's), not inf * 0
    empty = total == 0
    return ops.where(empty, math.nan, ops.sum(loss) / ops.where(empty, 1.0, total))


def _one_sample(loss_function, input, target, reduction, *options):
    """loss_function on one unbatched sample (input (C,)) as on a batch of one, its axis then dropped."""
    loss = loss_function(ops.expand_dims(input, axis=0), ops.expand_dims(target, axis=0), reduction, *options)
    return loss[0] if reduction == "none" else loss


def nll_loss(log_probs, target, reduction="mean", weight=None, ignore_index=-100):
    """Negative log-likelihood of class indices `target` under log_probs (N, C, ...):
    -weight[target] log_probs[target], entries equal to ignore_index left out.
    One sample: log_probs (C,) and a 0-d target."""
    if log_probs.ndim == 1:
        return _one_sample(nll_loss, log_probs, _on_device(target, log_probs), reduction, weight, ignore_index)
    target = _on_device(target, log_probs)
    fused = _fused_nll(log_probs, target, weight, ignore_index, reduction, "nll_loss")
    if fused is not None:
        return fused
    loss, weights, _ = _class_loss(log_probs, target, weight, ignore_index, "nll_loss")
    return _reduce_weighted(loss if weights is None else loss * weights, weights, reduction)


def cross_entropy(logits, target, reduction="mean", label_smoothing=0.0, weight=None, ignore_index=-100):
    """Softmax cross-entropy of logits (N, C, ...) against class indices (integer
    target of shape (N, ...)) or class probabilities (floating target shaped like logits).

    With label_smoothing ε the target becomes (1 - ε) target + ε / C, as in PyTorch.
    weight (one per class) scales each class's terms; with class indices the mean
    divides by the summed weights of the entries, and entries equal to ignore_index
    are left out, as in PyTorch. One sample: logits (C,) and a 0-d or (C,) target.
    """
    target = _on_device(target, logits)
    if logits.ndim == 1:
        return _one_sample(cross_entropy, logits, target, reduction, label_smoothing, weight, ignore_index)
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    fused = _fused_cross_entropy(logits, target, reduction, label_smoothing, weight, ignore_index)
    if fused is not None:
        return fused
    log_probs = ops.log_softmax(logits, axis=1)
    classes = logits.shape[1]
    class_axis = (1, classes) + (1,) * (logits.ndim - 2)
    if target.xp.isdtype(target.array.dtype, "integral"):
        loss, weights, kept = _class_loss(log_probs, target, weight, ignore_index, "cross_entropy")
        if weights is not None:
            loss = loss * weights
        if label_smoothing:
            weighted = log_probs if weight is None else log_probs * ops.reshape(weight, class_axis)
            uniform = -ops.sum(weighted, axis=1) / classes
            if kept is not None:
                uniform = uniform * kept
            loss = loss * (1 - label_smoothing) + uniform * label_smoothing
        return _reduce_weighted(loss, weights, reduction)
    if target.shape != logits.shape:
        raise ShapeError(f"cross_entropy: probability targets must match the logits {describe(logits)}, "
                         f"got {describe(target)}")
    if label_smoothing:
        target = target * (1 - label_smoothing) + label_smoothing / classes
    if weight is not None:
        target = target * ops.reshape(weight, class_axis)
    return _reduce(-ops.sum(target * log_probs, axis=1), reduction)


def _rows(x):
    """(N, C, d1, ...) as rows (N * d1 * ..., C): the class axis last, the rest flattened (fused rows take them so)."""
    if x.ndim == 2:
        return x
    return ops.reshape(ops.permute_dims(x, (0,) + tuple(range(2, x.ndim)) + (1,)), (-1, x.shape[1]))


def _fused_weight(x, weight, operation):
    """weight checked to hold one number per class of x (N, C, ...), or ones; None where it requires grad
    (the composite differentiates it)."""
    if weight is None:
        return ones(x.shape[1], dtype=x.dtype, device=x.device)
    if tuple(weight.shape) != (x.shape[1],):
        raise ShapeError(f"{operation}: weight must hold one number per class ({x.shape[1]}), got {describe(weight)}")
    return None if weight.requires_grad else weight


def _fused_classes(name, x, target, weight, ignore_index, reduction, operation, **params):
    """A fused row on x (N, C, d1, ...) and class indices (N, d1, ...) with the composite's checks, as rows
    (M, C) and (M,); the loss of each entry reshaped back for 'none'. None for what the rows do not
    take (a weight that requires grad, vmap, non-integer targets): the composite."""
    xp = target.xp
    if (x.ndim < 2 or reduction not in ("mean", "sum", "none") or hasattr(x, "_levels") or hasattr(target, "_levels")
            or not xp.isdtype(target.array.dtype, "integral")):
        return None
    if target.shape != x.shape[:1] + x.shape[2:]:
        raise ShapeError(f"expected class indices of shape {x.shape[:1] + x.shape[2:]} for input {describe(x)}, "
                         f"got {describe(target)}")
    weight = _fused_weight(x, weight, operation)
    if weight is None:
        return None
    ops.checked_indices(ops.where(target == ignore_index, 0, target), x.shape[1], f"{operation}: class target",
                        1, negative=False, like=x)  # ignored entries are exempt, as in PyTorch
    loss = apply(PRIMITIVES[name], [_rows(x), ops.reshape(target, (-1,)), weight],
                 {"ignore_index": ignore_index, "reduction": reduction, **params})
    return ops.reshape(loss, target.shape) if reduction == "none" and target.ndim != 1 else loss


def _fused_nll(log_probs, target, weight, ignore_index, reduction, operation):
    """nll_loss as one primitive (polygrad/primitives/fused.py), any (N, C, d1, ...); None: the composite."""
    return _fused_classes("nll_loss", log_probs, target, weight, ignore_index, reduction, operation)


def _fused_soft(logits, target, reduction, label_smoothing, weight):
    """Probability targets as one primitive (polygrad/primitives/fused_loss.py); None: the composite."""
    if reduction not in ("mean", "sum", "none") or hasattr(logits, "_levels") or hasattr(target, "_levels"):
        return None
    if target.shape != logits.shape:
        raise ShapeError(f"cross_entropy: probability targets must match the logits {describe(logits)}, "
                         f"got {describe(target)}")
    weight = _fused_weight(logits, weight, "cross_entropy")
    if weight is None:
        return None
    if label_smoothing:
        target = target * (1 - label_smoothing) + label_smoothing / logits.shape[1]
    loss = apply(PRIMITIVES["soft_cross_entropy"], [_rows(logits), _rows(target), weight], {"reduction": reduction})
    return ops.reshape(loss, logits.shape[:1] + logits.shape[2:]) if reduction == "none" and logits.ndim != 2 else loss


def _fused_cross_entropy(logits, target, reduction, label_smoothing, weight, ignore_index):
    """cross_entropy as one primitive: softmax_cross_entropy for (N, C) logits and class indices with
    nothing weighted, smoothed or ignored; the cross_entropy row (polygrad/primitives/fused_loss.py) for
    other class indices, soft_cross_entropy for probabilities; None for the composite above (a weight
    that requires grad)."""
    xp = target.xp
    if hasattr(logits, "_levels") or hasattr(target, "_levels"):  # batched under vmap (polygrad.autodiff.batching.Batched)
        from ..autodiff.batching import cross_entropy

        return cross_entropy(logits, target, reduction, label_smoothing, weight, ignore_index)
    if not xp.isdtype(target.array.dtype, "integral"):
        return _fused_soft(logits, target, reduction, label_smoothing, weight)
    if (logits.ndim != 2 or weight is not None or label_smoothing or reduction not in ("mean", "sum", "none")
            or target.shape != logits.shape[:1]
            or target.size and (ignore_index >= 0 or int(xp.min(target.array)) < 0)):  # some may be ignore_index
        return _fused_classes("cross_entropy", logits, target, weight, ignore_index, reduction, "cross_entropy",
                              smoothing=label_smoothing, saved=Saved())
    classes = ops.checked_indices(target, logits.shape[1], "cross_entropy: class target", 1, negative=False,
                                  like=logits)
    rows = xp.arange(logits.shape[0], dtype=classes.dtype, device=logits.device.native)
    flat = Tensor._wrap(rows * logits.shape[1] + classes, logits.device)
    return ops.softmax_cross_entropy(logits, flat, reduction=reduction)


def binary_cross_entropy_with_logits(logits, target, reduction="mean", pos_weight=None, weight=None):
    """-w [p y log σ(x) + (1 - y) log(1 - σ(x))] with p = pos_weight and w = weight (default 1),
    computed as p y softplus(-x) + (1 - y) softplus(x), which never takes the log of 0."""
    target = _float_target(target, logits)
    positive = target if pos_weight is None else target * pos_weight
    loss = positive * ops.softplus(-logits) + (1 - target) * ops.softplus(logits)
    return _reduce(_weighted(loss, weight), reduction)


def one_hot(indices, num_classes=-1):
    """PyTorch's one_hot: int64 with a new last axis of length num_classes (-1: the largest index + 1).

    Indices outside [0, num_classes) raise IndexError, as in PyTorch (they would match no class: a row of zeros).
    """
    if num_classes == -1:
        num_classes = int(ops.max(indices).item()) + 1
    ops.checked_indices(indices, num_classes, "one_hot", indices.ndim, negative=False)
    classes = indices.xp.arange(num_classes, dtype=indices.array.dtype, device=indices.device.native)
    return ops.astype(ops.expand_dims(indices, axis=-1) == Tensor._wrap(classes, indices.device), "int64")


# ---------------------------------------------------------------- more losses (PyTorch's names and defaults)
def _weighted(loss, weight):
    return loss if weight is None else loss * weight


def _xlogy(x, y):
    """x * log(y), 0 where x == 0 (the limit), with no NaN in the value or the gradient there."""
    nonzero = x != 0
    return ops.where(nonzero, x * ops.log(ops.where(nonzero, y, 1.0)), 0.0)


def l1_loss(input, target, reduction="mean"):
    return _reduce(ops.abs(input - _float_target(target, input)), reduction)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (beta = 0: L1)."""
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    size = ops.abs(input - _float_target(target, input))
    if beta == 0:
        return _reduce(size, reduction)
    return _reduce(ops.where(size < beta, size * size * (0.5 / beta), size - 0.5 * beta), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    """0.5 d^2 where |d| <= delta, else delta (|d| - 0.5 delta)."""
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    size = ops.abs(input - _float_target(target, input))
    return _reduce(ops.where(size <= delta, size * size * 0.5, (size - 0.5 * delta) * delta), reduction)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """-w [y log x + (1 - y) log(1 - x)] on probabilities x, as PyTorch: each log clamped at -100,
    and the gradient in x PyTorch's (x - y) / max(x (1 - x), 1e-12), finite at x = 0 and 1.

    The logs are taken of x detached (their clamp would zero the gradient at the ends) and
    x's gradient is added as (x - x.detach()) * slope, whose value is 0; it is a first
    derivative only (slope is detached too). y keeps the clamped logs' gradient.
    """
    target = _float_target(target, input)
    if target.shape != input.shape:
        raise ShapeError(f"binary_cross_entropy: target {describe(target)} must match input {describe(input)}")
    p = input.detach()
    # log p and log1p(-p) only where they are finite (log 0 would warn); -100 elsewhere
    log_p = ops.where(p > 0, ops.maximum(ops.log(ops.where(p > 0, p, 1.0)), -100.0), -100.0)
    log_q = ops.where(p < 1, ops.maximum(ops.log1p(ops.where(p < 1, -p, 0.0)), -100.0), -100.0)
    slope = (p - target.detach()) / ops.maximum(p * (1 - p), 9.999999960041972e-13)  # PyTorch's float 1e-12
    loss = (target - 1) * log_q - target * log_p + (input - p) * slope
    return _reduce(_weighted(loss, weight), reduction)


def kl_div(input, target, reduction="mean", log_target=False):
    """Pointwise KL divergence target (log target - input), input being log-probabilities.

    reduction="batchmean" divides the sum by the batch size (the true KL
    divergence per sample); "mean" divides by the number of elements, as in PyTorch.
    """
    target = _float_target(target, input)
    if log_target:
        loss = ops.exp(target) * (target - input)
    else:
        loss = _xlogy(target, target) - target * input
    if reduction == "batchmean":
        return ops.sum(loss) / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)


def poisson_nll_loss(input, target, log_input=True, full=False, eps=1e-8, reduction="mean"):
    """exp(input) - target input (log_input), or input - target log(input + eps);
    full adds Stirling's target log target - target + log(2 pi target) / 2 where target > 1."""
    target = _float_target(target, input)
    loss = ops.exp(input) - target * input if log_input else input - target * ops.log(input + eps)
    if full:
        safe = ops.where(target > 1, target, 1.0)
        stirling = safe * ops.log(safe) - safe + ops.log(safe * (2 * math.pi)) * 0.5
        loss = loss + ops.where(target > 1, stirling, 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """(log var + (input - target)^2 / var) / 2 (+ log(2 pi) / 2 with full).

    var is input's shape, or that shape with a last axis of 1 or without it
    (one variance per sample). As in PyTorch, var is clamped at eps for the
    value while its gradient passes the clamp unchanged.
    """
    target = _float_target(target, input)
    var = _float_target(var, input)
    if var.ndim == input.ndim - 1 and var.shape == input.shape[:-1]:
        var = ops.expand_dims(var, axis=-1)
    if var.ndim != input.ndim or any(v not in (1, n) for v, n in zip(var.shape, input.shape)):
        raise ShapeError(f"gaussian_nll_loss: var {describe(var)} does not fit input {describe(input)}")
    if eps < 0 or bool(ops.any(var < 0)):
        raise ValueError("gaussian_nll_loss: var has negative entries (or eps < 0)")
    var = var + (ops.maximum(var, eps) - var).detach()
    diff = input - target
    loss = (ops.log(var) + diff * diff / var) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where it is -1; cosine over the last axis."""
    target = _float_target(target, input1)
    norms = ops.sqrt((ops.sum(input1 * input1, axis=-1) + 1e-12) * (ops.sum(input2 * input2, axis=-1) + 1e-12))
    cos = ops.sum(input1 * input2, axis=-1) / norms
    loss = ops.where(target == 1, 1 - cos, ops.maximum(cos - margin, 0.0))
    return _reduce(ops.where((target == 1) | (target == -1), loss, 0.0), reduction)


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """max(0, -target (x1 - x2) + margin): target 1 wants x1 ranked above x2, -1 below."""
    target = _float_target(target, input1)
    return _reduce(ops.maximum(-target * (input1 - input2) + margin, 0.0), reduction)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """The p-norm of x1 - x2 + eps over the last axis (eps keeps the gradient finite at x1 == x2)."""
    diff = ops.abs(x1 - x2 + eps)
    if p == math.inf:
        return ops.max(diff, axis=-1, keepdims=keepdim)
    return ops.sum(diff ** p, axis=-1, keepdims=keepdim) ** (1 / p)


def _clamped_norm(x, axis, eps):
    """The 2-norm over `axis` (kept), as torch.cosine_similarity uses it: its value clamped below at eps, its
    gradient the unclamped norm's (PyTorch clamps in place under no_grad), and 0 at the zero vector."""
    squares = ops.sum(x * x, axis=axis, keepdims=True)
    positive = squares > 0
    norm = ops.where(positive, ops.sqrt(ops.where(positive, squares, 1.0)), 0.0)
    return norm + (ops.maximum(norm, eps) - norm).detach()


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1/max(|x1|, eps) * x2/max(|x2|, eps)) over `dim`: each input divided by its own clamped norm
    first, as torch 2.x does, so the result stays in [-1, 1]. The inputs broadcast before the norms are taken."""
    x1, x2 = broadcast_arrays(x1, x2)
    return ops.sum(x1 / _clamped_norm(x1, dim, eps) * (x2 / _clamped_norm(x2, dim, eps)), axis=dim)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False, reduction="mean"):
    """max(d(a, p) - d(a, n) + margin, 0) with d the p-norm distance; swap uses min(d(a, n), d(p, n))."""
    near = pairwise_distance(anchor, positive, p, eps)
    far = pairwise_distance(anchor, negative, p, eps)
    if swap:
        far = ops.minimum(far, pairwise_distance(positive, negative, p, eps))
    return _reduce(ops.maximum(near - far + margin, 0.0), reduction)


# ---------------------------------------------------------------- CTC
def _host_ints(value, name):
    """Lengths or labels as a list of Python ints (read from the host once per call); one
    number (an int or a 0-d array, one unbatched sequence's length) is a list of one."""
    if hasattr(value, "tolist"):  # Tensors and host arrays
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        value = [value]
    if not all(_is_int(v) for v in value):
        raise TypeError(f"ctc_loss: {name} must hold integers, got {value!r}")
    return [int(v) for v in value]


def _logsumexp_of(terms):
    """log(sum(exp(terms))) elementwise over a list of same-shaped tensors, exact where every
    term is -inf: such entries are computed on zeros and then set to -inf, so no NaN reaches
    the gradient from the unreachable cells of the CTC lattice (the "double where")."""
    top = terms[0]
    for t in terms[1:]:
        top = ops.maximum(top, t)
    dead = top == -math.inf
    top = ops.where(dead, 0.0, top).detach()
    total = ops.exp(ops.where(dead, 0.0, terms[0]) - top)
    for t in terms[1:]:
        total = total + ops.exp(ops.where(dead, 0.0, t) - top)
    return ops.where(dead, -math.inf, ops.log(total) + top)


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    """Connectionist temporal classification loss (Graves et al. 2006), as PyTorch's ctc_loss.

    log_probs (T, N, C) log-softmax outputs (or (T, C) for one sequence);
    targets (N, S) padded labels or one 1-D concatenation of all of them;
    input_lengths and target_lengths one integer per sequence. The loss of a
    sequence is -log of the total probability of every alignment (a path
    through the labels with blanks between and repeats) that collapses to its
    target. It is computed with the forward recursion in log space, vectorized
    over the batch and differentiated by the engine (the reverse pass is the
    backward recursion). reduction "mean" divides each loss by its target
    length, then averages over the batch; zero_infinity turns the infinite loss
    of an impossible alignment (input too short) and its gradient into 0.
    """
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs = ops.expand_dims(log_probs, axis=1)
    if log_probs.ndim != 3:
        raise ShapeError(f"ctc_loss: log_probs must be (T, N, C) or (T, C), got {describe(log_probs)}")
    steps, batch, classes = log_probs.shape
    input_lengths = _host_ints(input_lengths, "input_lengths")
    target_lengths = _host_ints(target_lengths, "target_lengths")
    labels = _host_ints(ops.reshape(_on_device(targets, log_probs), (-1,)), "targets")
    if len(input_lengths) != batch or len(target_lengths) != batch:
        raise ShapeError(f"ctc_loss: {batch} sequences in log_probs {describe(log_probs)}, but "
                         f"{len(input_lengths)} input_lengths and {len(target_lengths)} target_lengths")
    if any(not 0 <= n <= steps for n in input_lengths) or any(n < 0 for n in target_lengths):
        raise ValueError(f"ctc_loss: input_lengths {input_lengths} must lie in [0, {steps}] and target_lengths "
                         f"{target_lengths} be >= 0")
    padded = _on_device(targets, log_probs).ndim == (1 if unbatched else 2)
    width = len(labels) // batch if padded else max(target_lengths, default=0)
    if padded and max(target_lengths, default=0) > width:
        raise ShapeError(f"ctc_loss: target_lengths {target_lengths} exceed the padded targets' width {width}")
    if not padded and sum(target_lengths) != len(labels):
        raise ShapeError(f"ctc_loss: concatenated targets hold {len(labels)} labels, target_lengths sum to "
                         f"{sum(target_lengths)}")
    starts = [i * width for i in range(batch)] if padded else [sum(target_lengths[:i]) for i in range(batch)]
    sequences = [labels[s:s + n] for s, n in zip(starts, target_lengths)]
    if any(not 0 <= c < classes or c == blank for seq in sequences for c in seq):
        raise ValueError(f"ctc_loss: labels must be classes in [0, {classes}) other than the blank {blank}")
    # The extended label sequence: blank, l1, blank, l2, ..., blank (padded with blanks).
    size = 2 * width + 1
    extended = [[blank] * size for _ in sequences]
    skip = [[False] * size for _ in sequences]  # may a path jump from s - 2 to s (no blank between)?
    for ext, jump, seq in zip(extended, skip, sequences):
        for i, c in enumerate(seq):
            ext[2 * i + 1] = c
            jump[2 * i + 1] = i > 0 and seq[i - 1] != c
    device = log_probs.device
    index = ops.broadcast_to(asarray([extended], device=device), (steps, batch, size))
    emit = ops.take_along_axis(log_probs, index, axis=2)  # (T, N, 2S + 1): log p of each lattice label
    skip = asarray(skip, device=device)
    lengths = asarray(input_lengths, device=device)
    cells = asarray(list(range(size)), device=device)
    impossible = ops.full_like(emit[0], -math.inf)
    alpha = ops.where(cells < 2, emit[0], impossible)  # a path starts at the first blank or the first label
    alpha = ops.where(ops.expand_dims(lengths > 0, axis=1), alpha, ops.where(cells == 0, 0.0, impossible))
    column = impossible[:, :1]
    for t in range(1, steps):
        one_back = ops.concat([column, alpha[:, :-1]], axis=1)
        two_back = ops.where(skip, ops.concat([column, column, alpha[:, :-2]], axis=1), impossible)
        step = _logsumexp_of([alpha, one_back, two_back]) + emit[t]
        alpha = ops.where(ops.expand_dims(lengths > t, axis=1), step, alpha)  # sequences that ended keep theirs
    last = asarray([[2 * n, max(2 * n - 1, 0)] for n in target_lengths], device=device)
    ends = ops.take_along_axis(alpha, last, axis=1)
    ends = ops.where(asarray([[True, n > 0] for n in target_lengths], device=device), ends, impossible[:, :2])
    loss = -_logsumexp_of([ends[:, 0], ends[:, 1]])
    if zero_infinity:
        loss = ops.where(ops.isinf(loss), 0.0, loss)
    if reduction == "mean":
        divisors = asarray([max(n, 1) for n in target_lengths], dtype=log_probs.dtype, device=device)
        return ops.mean(loss / divisors)
    loss = _reduce(loss, reduction)
    return loss[0] if unbatched and reduction == "none" else loss


def hinge_embedding_loss(input, target, margin=1.0, reduction="mean"):
    """x where target is 1, max(0, margin - x) where it is -1 (both terms for other targets, as PyTorch)."""
    target = _float_target(target, input)
    return _reduce(ops.where(target != -1, input, 0.0) + ops.where(target != 1, ops.maximum(margin - input, 0.0), 0.0),
                   reduction)


def soft_margin_loss(input, target, reduction="mean"):
    """log(1 + exp(-y x)) for labels y of 1 or -1."""
    return _reduce(ops.softplus(-_float_target(target, input) * input), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, reduction="mean"):
    """Per sample, the mean over its C classes of -[y log σ(x) + (1 - y) log σ(-x)] (times weight)."""
    target = _float_target(target, input)
    loss = -(target * ops.log_sigmoid(input) + (1 - target) * ops.log_sigmoid(-input))
    return _reduce(ops.mean(_weighted(loss, weight), axis=-1), reduction)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, reduction="mean"):
    """Per sample of input (N, C) and class index target (N,): the mean over classes i of
    max(0, margin - x[target] + x[i]) ** p, the target's own class left out, times weight[target]."""
    if p not in (1, 2):
        raise ValueError(f"multi_margin_loss: p must be 1 or 2, got {p}")
    if input.ndim not in (1, 2):
        raise ShapeError(f"multi_margin_loss: expected input (N, C) or (C,), got {describe(input)}")
    unbatched = input.ndim == 1
    x = ops.expand_dims(input, axis=0) if unbatched else input
    target = ops.reshape(_on_device(target, x), (-1,))
    picked = ops.expand_dims(_picked(x, target, "multi_margin_loss"), axis=1)
    gaps = ops.maximum(x - picked + margin, 0.0)
    classes = asarray(list(range(x.shape[1])), device=x.device)
    gaps = ops.where(classes == ops.expand_dims(target, axis=1), 0.0, gaps ** p)
    if weight is not None:
        if tuple(weight.shape) != (x.shape[1],):
            raise ShapeError(f"multi_margin_loss: weight must hold one number per class ({x.shape[1]}), "
                             f"got {describe(weight)}")
        gaps = gaps * ops.expand_dims(_class_weights(weight, target), axis=1)
    loss = ops.mean(gaps, axis=1)
    return _reduce(loss[0] if unbatched else loss, reduction)
