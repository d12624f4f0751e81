"""Loss modules over polygrad.functional; options are keyword-only, named as in PyTorch."""

from .. import functional as F
from .module import Module


class _Loss(Module):
    def __init__(self, *, reduction="mean"):
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.reduction = reduction

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    def forward(self, input, target):
        return F.mse_loss(input, target, self.reduction)


class NLLLoss(_Loss):
    """Takes log-probabilities (N, C, ...) and class indices (N, ...)."""

    def forward(self, log_probs, target):
        return F.nll_loss(log_probs, target, self.reduction)


class CrossEntropyLoss(_Loss):
    """Takes logits (N, C, ...) and class indices (N, ...) or class probabilities (N, C, ...)."""

    def __init__(self, *, reduction="mean", label_smoothing=0.0):
        super().__init__(reduction=reduction)
        if not 0 <= label_smoothing <= 1:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
        self.label_smoothing = label_smoothing

    def forward(self, logits, target):
        return F.cross_entropy(logits, target, self.reduction, self.label_smoothing)

    def extra_repr(self):
        return f"{super().extra_repr()}, label_smoothing={self.label_smoothing}"


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits; `pos_weight` (a Tensor, kept as a buffer) weighs the positives."""

    def __init__(self, *, reduction="mean", pos_weight=None):
        super().__init__(reduction=reduction)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, logits, target):
        return F.binary_cross_entropy_with_logits(logits, target, self.reduction, self.pos_weight)
