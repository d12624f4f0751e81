"""Loss modules over polygrad.functional; options are keyword-only, named as in PyTorch."""

from .. import functional as F
from .module import Module


class _Loss(Module):
    reductions = ("mean", "sum", "none")

    def __init__(self, *, reduction="mean"):
        super().__init__()
        if reduction not in self.reductions:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {self.reductions}, got {reduction!r}")
        self.reduction = reduction

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    def forward(self, input, target):
        return F.mse_loss(input, target, self.reduction)


class NLLLoss(_Loss):
    """Takes log-probabilities (N, C, ...) and class indices (N, ...); `weight` (one per class,
    kept as a buffer) scales each class, targets equal to `ignore_index` are left out."""

    def __init__(self, *, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__(reduction=reduction)
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index

    def forward(self, log_probs, target):
        return F.nll_loss(log_probs, target, self.reduction, weight=self.weight, ignore_index=self.ignore_index)


class CrossEntropyLoss(_Loss):
    """Takes logits (N, C, ...) and class indices (N, ...) or class probabilities (N, C, ...)."""

    def __init__(self, *, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(reduction=reduction)
        if not 0 <= label_smoothing <= 1:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
        self.register_buffer("weight", weight)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, logits, target):
        return F.cross_entropy(logits, target, self.reduction, self.label_smoothing, weight=self.weight,
                               ignore_index=self.ignore_index)

    def extra_repr(self):
        return f"{super().extra_repr()}, label_smoothing={self.label_smoothing}"


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits; `pos_weight` weighs the positives, `weight` every entry
    (Tensors, kept as buffers)."""

    def __init__(self, *, weight=None, reduction="mean", pos_weight=None):
        super().__init__(reduction=reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, logits, target):
        return F.binary_cross_entropy_with_logits(logits, target, self.reduction, self.pos_weight, self.weight)


class BCELoss(_Loss):
    """Binary cross-entropy on probabilities; `weight` (a Tensor, kept as a buffer) weighs each entry."""

    def __init__(self, *, weight=None, reduction="mean"):
        super().__init__(reduction=reduction)
        self.register_buffer("weight", weight)

    def forward(self, probabilities, target):
        return F.binary_cross_entropy(probabilities, target, weight=self.weight, reduction=self.reduction)


class L1Loss(_Loss):
    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


class _Options(_Loss):
    """A loss with options beyond `reduction`, passed to its function by name."""

    function = None
    defaults = {}

    def __init__(self, *, reduction="mean", **options):
        super().__init__(reduction=reduction)
        unknown = set(options) - set(self.defaults)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown option(s) {sorted(unknown)}; "
                            f"it takes {sorted(self.defaults)} and reduction")
        self.options = {**self.defaults, **options}

    def forward(self, *inputs):
        return type(self).function(*inputs, reduction=self.reduction, **self.options)

    def extra_repr(self):
        return ", ".join([super().extra_repr()] + [f"{k}={v!r}" for k, v in self.options.items()])


class SmoothL1Loss(_Options):
    function, defaults = F.smooth_l1_loss, {"beta": 1.0}


class HuberLoss(_Options):
    function, defaults = F.huber_loss, {"delta": 1.0}


class KLDivLoss(_Options):
    """Takes log-probabilities and probabilities (log-probabilities with log_target=True)."""

    reductions = ("mean", "batchmean", "sum", "none")
    function, defaults = F.kl_div, {"log_target": False}


class PoissonNLLLoss(_Options):
    function, defaults = F.poisson_nll_loss, {"log_input": True, "full": False, "eps": 1e-8}


class GaussianNLLLoss(_Options):
    """Takes (input, target, var)."""

    function, defaults = F.gaussian_nll_loss, {"full": False, "eps": 1e-6}


class CosineEmbeddingLoss(_Options):
    """Takes (x1, x2, y) with y = 1 (similar) or -1 (dissimilar)."""

    function, defaults = F.cosine_embedding_loss, {"margin": 0.0}


class MarginRankingLoss(_Options):
    """Takes (x1, x2, y) with y = 1 (x1 should rank higher) or -1."""

    function, defaults = F.margin_ranking_loss, {"margin": 0.0}


class TripletMarginLoss(_Options):
    """Takes (anchor, positive, negative)."""

    function, defaults = F.triplet_margin_loss, {"margin": 1.0, "p": 2.0, "eps": 1e-6, "swap": False}


class CTCLoss(_Options):
    """Takes (log_probs (T, N, C), targets, input_lengths, target_lengths); see functional.ctc_loss."""

    function, defaults = F.ctc_loss, {"blank": 0, "zero_infinity": False}


class HingeEmbeddingLoss(_Options):
    """Takes (x, y) with y = 1 or -1."""

    function, defaults = F.hinge_embedding_loss, {"margin": 1.0}


class SoftMarginLoss(_Loss):
    """Takes (x, y) with y = 1 or -1: log(1 + exp(-y x))."""

    def forward(self, input, target):
        return F.soft_margin_loss(input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_Loss):
    """Takes scores (N, C) and 0/1 labels (N, C); `weight` (one per class, a buffer) scales each class."""

    def __init__(self, *, weight=None, reduction="mean"):
        super().__init__(reduction=reduction)
        self.register_buffer("weight", weight)

    def forward(self, input, target):
        return F.multilabel_soft_margin_loss(input, target, weight=self.weight, reduction=self.reduction)


class MultiMarginLoss(_Loss):
    """Takes scores (N, C) and class indices (N,): the multi-class hinge loss."""

    def __init__(self, *, p=1, margin=1.0, weight=None, reduction="mean"):
        super().__init__(reduction=reduction)
        self.p, self.margin = p, margin
        self.register_buffer("weight", weight)

    def forward(self, input, target):
        return F.multi_margin_loss(input, target, p=self.p, margin=self.margin, weight=self.weight,
                                   reduction=self.reduction)
