"""Losses: values and gradients against PyTorch (float64, where installed), finite
differences on every backend, hand formulas, and CTC against a brute-force sum over alignments."""

import itertools
import math

import numpy as np
import pytest

import polygrad as pg
from polygrad import functional as F

rng = np.random.default_rng(7)
X = rng.standard_normal((4, 3))
Y = rng.standard_normal((4, 3))
Z = rng.standard_normal((4, 3))
P = rng.uniform(0.05, 0.95, (4, 3))
LABELS01 = rng.integers(0, 2, (4, 3)).astype(float)
SIGNS = np.array([1.0, -1.0, -1.0, 1.0])
COUNTS = rng.integers(0, 5, (4, 3)).astype(float)
LOGP = np.log(rng.dirichlet(np.ones(3), 4))
VAR = rng.uniform(0.1, 2.0, (4, 3))

# name -> (arrays, which of them are differentiable, call(F, *tensors, reduction))
CASES = {
    "l1": ((X, Y), (0, 1), lambda f, a, b, r: f.l1_loss(a, b, reduction=r)),
    "smooth_l1": ((X, Y), (0, 1), lambda f, a, b, r: f.smooth_l1_loss(a, b, reduction=r, beta=0.7)),
    "smooth_l1-beta0": ((X, Y), (0,), lambda f, a, b, r: f.smooth_l1_loss(a, b, reduction=r, beta=0.0)),
    "huber": ((X, Y), (0, 1), lambda f, a, b, r: f.huber_loss(a, b, reduction=r, delta=0.6)),
    "bce": ((P, LABELS01, VAR), (0,), lambda f, p, y, w, r: f.binary_cross_entropy(p, y, weight=w, reduction=r)),
    "bce-soft-targets": ((P, P[::-1].copy()), (0, 1), lambda f, p, y, r: f.binary_cross_entropy(p, y, reduction=r)),
    "bce_with_logits-weights": ((X, LABELS01, VAR, VAR[0]), (0,), lambda f, x, y, w, pw, r:
                                f.binary_cross_entropy_with_logits(x, y, weight=w, pos_weight=pw, reduction=r)),
    "kl_div": ((LOGP, np.exp(LOGP[::-1])), (0, 1), lambda f, a, b, r: f.kl_div(a, b, reduction=r)),
    "kl_div-log_target": ((LOGP, LOGP[::-1].copy()), (0, 1),
                          lambda f, a, b, r: f.kl_div(a, b, reduction=r, log_target=True)),
    "poisson_nll": ((X, COUNTS), (0,), lambda f, a, b, r: f.poisson_nll_loss(a, b, reduction=r)),
    "poisson_nll-full-rates": ((P * 3, COUNTS), (0,), lambda f, a, b, r:
                               f.poisson_nll_loss(a, b, log_input=False, full=True, reduction=r)),
    "gaussian_nll": ((X, Y, VAR), (0, 1, 2), lambda f, a, b, v, r: f.gaussian_nll_loss(a, b, v, reduction=r)),
    "gaussian_nll-full-one-var-per-sample": ((X, Y, VAR[:, :1].copy()), (0, 2), lambda f, a, b, v, r:
                                             f.gaussian_nll_loss(a, b, v, full=True, reduction=r)),
    "gaussian_nll-clamped": ((X, Y, VAR * 1e-7), (0, 2), lambda f, a, b, v, r:
                             f.gaussian_nll_loss(a, b, v, eps=1e-6, reduction=r)),
    "cosine_embedding": ((X, Y, SIGNS), (0, 1), lambda f, a, b, y, r:
                         f.cosine_embedding_loss(a, b, y, margin=0.1, reduction=r)),
    "margin_ranking": ((X[:, 0].copy(), Y[:, 0].copy(), SIGNS), (0, 1), lambda f, a, b, y, r:
                       f.margin_ranking_loss(a, b, y, margin=0.2, reduction=r)),
    "triplet_margin": ((X, Y, Z), (0, 1, 2), lambda f, a, p, n, r: f.triplet_margin_loss(a, p, n, margin=1.5,
                                                                                          reduction=r)),
    "triplet_margin-p1-swap": ((X, Y, Z), (0, 1, 2), lambda f, a, p, n, r:
                               f.triplet_margin_loss(a, p, n, margin=2.0, p=1, swap=True, reduction=r)),
    "hinge_embedding": ((X, np.array([1.0, -1.0, -1.0])[None].repeat(4, 0)), (0,),
                        lambda f, a, y, r: f.hinge_embedding_loss(a, y, margin=0.5, reduction=r)),
    "soft_margin": ((X, np.sign(Y)), (0,), lambda f, a, y, r: f.soft_margin_loss(a, y, reduction=r)),
    "multilabel_soft_margin": ((X, LABELS01, VAR[0]), (0,), lambda f, a, y, w, r:
                               f.multilabel_soft_margin_loss(a, y, weight=w, reduction=r)),
    "multi_margin": ((X, np.array([0, 2, 1, 2])), (0,), lambda f, a, y, r: f.multi_margin_loss(a, y, reduction=r)),
    "multi_margin-p2-weight": ((X, np.array([0, 2, 1, 2]), VAR[0]), (0,), lambda f, a, y, w, r:
                               f.multi_margin_loss(a, y, p=2, margin=0.7, weight=w, reduction=r)),
}


def t64(value):
    return pg.tensor(value, dtype="float64")


def _inputs(make, arrays, differentiable):
    return [make(a, i in differentiable) for i, a in enumerate(arrays)]


def _ours(target, array, requires_grad):
    """A float array in the target's dtype; class indices stay integers."""
    integral = np.issubdtype(array.dtype, np.integer)
    return target.tensor(array, requires_grad=requires_grad, dtype="int64" if integral else None)


def _weights(shape):
    return np.random.default_rng(1).uniform(0.5, 1.5, shape)


@pytest.mark.filterwarnings("ignore:reduction")  # PyTorch's note that kl_div's "mean" is not "batchmean"
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", CASES)
def test_loss_matches_pytorch(target, name, reduction):
    torch = pytest.importorskip("torch")
    arrays, differentiable, call = CASES[name]
    theirs = _inputs(lambda a, g: torch.tensor(a, requires_grad=g), arrays, differentiable)
    expected = call(torch.nn.functional, *theirs, reduction)
    ours = _inputs(lambda a, g: _ours(target, a, g), arrays, differentiable)
    got = call(F, *ours, reduction)
    assert got.shape == tuple(expected.shape)
    tol = 1e-10 if target.dtype == "float64" else 2e-5
    np.testing.assert_allclose(got.numpy(), expected.detach().numpy(), rtol=tol, atol=tol)
    weights = _weights(got.shape)
    (expected * torch.tensor(weights)).sum().backward()
    (got * target.tensor(weights)).sum().backward()
    for i in differentiable:
        np.testing.assert_allclose(ours[i].grad.numpy(), theirs[i].grad.numpy(), rtol=tol * 10, atol=tol * 10,
                                   err_msg=f"gradient of input {i}")


# The clamped variance's gradient passes the clamp unchanged (as PyTorch's): not the derivative of the value.
@pytest.mark.parametrize("name", [name for name in CASES if not name.endswith("clamped")])
def test_loss_gradients_match_finite_differences(target64, name):
    arrays, differentiable, call = CASES[name]
    tensors = [_ours(target64, a, False) for a in arrays]

    def f(*xs):
        full = list(tensors)
        for i, x in zip(differentiable, xs):
            full[i] = x
        return call(F, *full, "none")

    pg.gradcheck(f, [tensors[i] for i in differentiable])


def test_hand_formulas():
    d = t64([-2.0, -0.5, 0.0, 0.3, 1.5])
    zero = pg.zeros_like(d)
    assert F.l1_loss(d, zero, reduction="none").tolist() == [2.0, 0.5, 0.0, 0.3, 1.5]
    np.testing.assert_allclose(F.smooth_l1_loss(d, zero, reduction="none").numpy(), [1.5, 0.125, 0, 0.045, 1.0])
    np.testing.assert_allclose(F.huber_loss(d, zero, delta=0.5, reduction="none").numpy(),
                               [0.875, 0.125, 0, 0.045, 0.625])
    # KL of a distribution with itself is 0; batchmean is the sum over the batch size
    logp = t64(LOGP)
    assert F.kl_div(logp, pg.exp(logp), reduction="sum").item() == pytest.approx(0.0, abs=1e-12)
    pairwise = F.kl_div(logp, t64(np.exp(LOGP[::-1])), reduction="sum").item()
    assert F.kl_div(logp, t64(np.exp(LOGP[::-1])), reduction="batchmean").item() == pytest.approx(pairwise / 4)
    # binary cross-entropy clamps its logs at -100, as PyTorch does
    assert F.binary_cross_entropy(t64([0.0, 1.0]), t64([1.0, 0.0]), reduction="none").tolist() == [100, 100]
    assert F.margin_ranking_loss(t64([1.0]), t64([3.0]), t64([1.0]), margin=0.5).item() == 2.5


@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_batchmean_matches_pytorch(target, log_target):
    torch = pytest.importorskip("torch")
    b = LOGP[::-1].copy() if log_target else np.exp(LOGP[::-1])
    expected = torch.nn.functional.kl_div(torch.tensor(LOGP), torch.tensor(b), reduction="batchmean",
                                          log_target=log_target)
    got = F.kl_div(target.tensor(LOGP), target.tensor(b), reduction="batchmean", log_target=log_target)
    assert got.item() == pytest.approx(expected.item(), rel=target.tol * 10)


# p = 0 and 1 on the wrong target, a float32 subnormal, and ends on the right target
BCE_ENDS = (np.array([0.0, 1.0, 1e-45, 0.5, 0.0, 1.0]), np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0]))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy_at_the_ends_matches_pytorch(target, reduction, weighted):
    """Each log clamped at -100 and PyTorch's gradient (p - y) / max(p (1 - p), 1e-12), finite
    at p = 0 and 1; in float32 a floor of e^-100 (a subnormal) made the loss 99.98 and the gradient NaN."""
    torch = pytest.importorskip("torch")
    dtype = getattr(torch, target.dtype)
    p, y = BCE_ENDS
    weight = _weights(p.shape) if weighted else None
    theirs = torch.tensor(p, dtype=dtype, requires_grad=True)
    expected = torch.nn.functional.binary_cross_entropy(
        theirs, torch.tensor(y, dtype=dtype), weight=None if weight is None else torch.tensor(weight, dtype=dtype),
        reduction=reduction)
    ours = target.tensor(p, requires_grad=True)
    got = F.binary_cross_entropy(ours, target.tensor(y), weight=None if weight is None else target.tensor(weight),
                                 reduction=reduction)
    np.testing.assert_allclose(got.numpy(), expected.detach().numpy(), rtol=target.tol)
    cotangent = _weights(got.shape)
    (expected * torch.tensor(cotangent, dtype=dtype)).sum().backward()
    (got * target.tensor(cotangent)).sum().backward()
    assert np.isfinite(ours.grad.numpy()).all()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=target.tol)


def test_bce_loss_after_a_saturated_sigmoid_matches_pytorch(target):
    """BCELoss(sigmoid(x), y) with sigmoid(x) rounding to exactly 0 or 1 (in float32)."""
    torch = pytest.importorskip("torch")
    x, y = np.array([-200.0, 200.0, -30.0, 3.0]), np.array([1.0, 0.0, 1.0, 0.0])
    theirs = torch.tensor(x, dtype=getattr(torch, target.dtype), requires_grad=True)
    expected = torch.nn.BCELoss()(torch.sigmoid(theirs), torch.tensor(y, dtype=theirs.dtype))
    expected.backward()
    ours = target.tensor(x, requires_grad=True)
    got = pg.nn.BCELoss()(pg.sigmoid(ours), target.tensor(y))
    got.backward()
    assert got.item() == pytest.approx(expected.item(), rel=target.tol)
    assert np.isfinite(ours.grad.numpy()).all()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=target.tol, atol=1e-30)


def test_loss_errors_name_the_operation():
    with pytest.raises(pg.ShapeError, match="binary_cross_entropy"):
        F.binary_cross_entropy(pg.tensor([0.5, 0.5]), pg.tensor([1.0]))
    with pytest.raises(pg.ShapeError, match="gaussian_nll_loss"):
        F.gaussian_nll_loss(pg.tensor(X), pg.tensor(Y), pg.tensor(VAR[:2]))
    with pytest.raises(ValueError, match="gaussian_nll_loss"):
        F.gaussian_nll_loss(pg.tensor(X), pg.tensor(Y), pg.tensor(-VAR))
    with pytest.raises(ValueError, match="reduction"):
        F.l1_loss(pg.tensor(X), pg.tensor(Y), reduction="avg")


# ---------------------------------------------------------------- CTC
def brute_force_ctc(log_probs, target, length, blank=0):
    """-log of the summed probability of every alignment of `length` frames collapsing to target."""
    classes = log_probs.shape[1]
    total = 0.0
    for path in itertools.product(range(classes), repeat=length):
        collapsed = [c for i, c in enumerate(path) if c != blank and (i == 0 or path[i - 1] != c)]
        if collapsed == list(target):
            total += math.exp(sum(log_probs[t, c] for t, c in enumerate(path)))
    return -math.log(total) if total else math.inf


CTC_BATCH = [  # (target, input length): repeats, an empty target, shorter inputs, an impossible one
    ([1, 2], 5), ([2, 2], 5), ([], 4), ([1], 3), ([2, 1, 2], 5), ([1, 1, 1], 4),
]


def _ctc_inputs(blank=0):
    steps, classes = 5, 3
    logits = np.random.default_rng(3).standard_normal((steps, len(CTC_BATCH), classes))
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    padded = np.full((len(CTC_BATCH), 3), blank)
    for i, (t, _) in enumerate(CTC_BATCH):
        padded[i, :len(t)] = t
    lengths = [n for _, n in CTC_BATCH]
    return logits, log_probs, padded, lengths, [len(t) for t, _ in CTC_BATCH]


def test_ctc_matches_brute_force_over_all_alignments(target):
    _, log_probs, padded, lengths, target_lengths = _ctc_inputs()
    got = F.ctc_loss(target.tensor(log_probs), pg.tensor(padded), lengths, target_lengths, reduction="none")
    expected = [brute_force_ctc(log_probs[:, i], t, n) for i, (t, n) in enumerate(CTC_BATCH)]
    assert math.isinf(expected[-1])  # [1, 1, 1] needs 5 frames (blanks between the repeats)
    tol = 1e-10 if target.dtype == "float64" else 1e-5
    np.testing.assert_allclose(got.numpy(), expected, rtol=tol)


def test_ctc_blank_elsewhere_and_concatenated_targets(target):
    _, log_probs, _, lengths, target_lengths = _ctc_inputs()
    # relabel: blank is class 2, labels 1 -> 0 and 2 -> 1
    relabel = {1: 0, 2: 1}
    moved = log_probs[..., [1, 2, 0]]
    concatenated = [relabel[c] for t, _ in CTC_BATCH for c in t]
    got = F.ctc_loss(target.tensor(moved), concatenated, lengths, target_lengths, blank=2, reduction="none")
    expected = F.ctc_loss(pg.tensor(log_probs), [c for t, _ in CTC_BATCH for c in t], lengths, target_lengths,
                          reduction="none")
    tol = 1e-10 if target.dtype == "float64" else 1e-5
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=tol)


def test_ctc_gradient_matches_finite_differences(target64):
    logits, _, padded, lengths, target_lengths = _ctc_inputs()
    keep = slice(0, 5)  # the possible ones: an infinite loss has no finite difference
    pg.gradcheck(lambda z: F.ctc_loss(pg.log_softmax(z, axis=2), pg.tensor(padded[keep]), lengths[keep],
                                      target_lengths[keep], reduction="none"),
                 [target64.tensor(logits[:, keep])])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_ctc_matches_pytorch(target, reduction, zero_infinity):
    torch = pytest.importorskip("torch")
    logits, _, padded, lengths, target_lengths = _ctc_inputs()
    if not zero_infinity:  # drop the impossible alignment, whose infinite loss has no useful gradient
        logits, padded, lengths, target_lengths = logits[:, :5], padded[:5], lengths[:5], target_lengths[:5]
    z = torch.tensor(logits, requires_grad=True)
    expected = torch.nn.functional.ctc_loss(z.log_softmax(2), torch.tensor(padded), torch.tensor(lengths),
                                            torch.tensor(target_lengths), reduction=reduction,
                                            zero_infinity=zero_infinity)
    ours = target.tensor(logits, requires_grad=True)
    got = F.ctc_loss(pg.log_softmax(ours, axis=2), pg.tensor(padded), lengths, target_lengths,
                     reduction=reduction, zero_infinity=zero_infinity)
    tol = 1e-10 if target.dtype == "float64" else 2e-5
    np.testing.assert_allclose(got.numpy(), expected.detach().numpy(), rtol=tol, atol=tol)
    weights = _weights(got.shape)
    (expected * torch.tensor(weights)).sum().backward()
    (got * target.tensor(weights)).sum().backward()
    assert not np.isnan(ours.grad.numpy()).any()
    np.testing.assert_allclose(ours.grad.numpy(), z.grad.numpy(), rtol=tol * 10, atol=tol * 10)


def test_ctc_unbatched_and_errors():
    _, log_probs, padded, lengths, target_lengths = _ctc_inputs()
    one = F.ctc_loss(pg.tensor(log_probs[:, 0]), pg.tensor(padded[0, :2]), 5, 2, reduction="none")
    assert one.shape == ()
    assert one.item() == pytest.approx(brute_force_ctc(log_probs[:, 0], [1, 2], 5))
    with pytest.raises(ValueError, match="blank"):
        F.ctc_loss(pg.tensor(log_probs), pg.tensor(np.zeros((6, 3), dtype=int)), lengths, [3] * 6)
    with pytest.raises(pg.ShapeError, match="ctc_loss"):
        F.ctc_loss(pg.tensor(log_probs), pg.tensor(padded), lengths[:2], target_lengths)
    with pytest.raises(ValueError, match="input_lengths"):
        F.ctc_loss(pg.tensor(log_probs), pg.tensor(padded), [9] * 6, target_lengths)


# ---------------------------------------------------------------- modules
MODULES = [  # (class name, options, inputs)
    ("L1Loss", {}, (X, Y)),
    ("SmoothL1Loss", {"beta": 0.5, "reduction": "sum"}, (X, Y)),
    ("HuberLoss", {"delta": 0.3}, (X, Y)),
    ("BCELoss", {"weight": VAR}, (P, LABELS01)),
    ("BCEWithLogitsLoss", {"weight": VAR, "pos_weight": VAR[0]}, (X, LABELS01)),
    ("KLDivLoss", {"reduction": "batchmean", "log_target": True}, (LOGP, LOGP[::-1].copy())),
    ("PoissonNLLLoss", {"log_input": False, "full": True}, (P * 3, COUNTS)),
    ("GaussianNLLLoss", {"full": True}, (X, Y, VAR)),
    ("CosineEmbeddingLoss", {"margin": 0.2}, (X, Y, SIGNS)),
    ("MarginRankingLoss", {"margin": 0.1, "reduction": "none"}, (X[:, 0].copy(), Y[:, 0].copy(), SIGNS)),
    ("TripletMarginLoss", {"margin": 0.5, "p": 3, "swap": True}, (X, Y, Z)),
    ("HingeEmbeddingLoss", {"margin": 0.3}, (X, np.sign(Y))),
    ("SoftMarginLoss", {"reduction": "sum"}, (X, np.sign(Y))),
    ("MultiLabelSoftMarginLoss", {"weight": VAR[0]}, (X, LABELS01)),
    ("MultiMarginLoss", {"p": 2, "margin": 0.5, "weight": VAR[0]}, (X, np.array([0, 2, 1, 2]))),
]


@pytest.mark.parametrize("name, options, arrays", MODULES, ids=[m[0] for m in MODULES])
def test_loss_modules_match_pytorch(name, options, arrays):
    torch = pytest.importorskip("torch")
    buffers = {k: v for k, v in options.items() if isinstance(v, np.ndarray)}
    theirs = getattr(torch.nn, name)(**{**options, **{k: torch.tensor(v) for k, v in buffers.items()}})
    ours = getattr(pg.nn, name)(**{**options, **{k: t64(v) for k, v in buffers.items()}})
    expected = theirs(*[torch.tensor(a) for a in arrays])
    ours_inputs = [pg.tensor(a) if np.issubdtype(a.dtype, np.integer) else t64(a) for a in arrays]
    np.testing.assert_allclose(ours(*ours_inputs).numpy(), expected.numpy(), rtol=1e-10)
    assert set(ours.state_dict()) == set(buffers)  # weights travel with the module, as buffers


def test_ctc_loss_module_and_options_are_checked():
    _, log_probs, padded, lengths, target_lengths = _ctc_inputs()
    module = pg.nn.CTCLoss(reduction="sum", zero_infinity=True)
    expected = F.ctc_loss(t64(log_probs), padded, lengths, target_lengths, reduction="sum", zero_infinity=True)
    assert module(t64(log_probs), padded, lengths, target_lengths).item() == pytest.approx(expected.item())
    with pytest.raises(TypeError, match="HuberLoss.*beta"):
        pg.nn.HuberLoss(beta=1.0)
    with pytest.raises(ValueError, match="L1Loss: reduction"):
        pg.nn.L1Loss(reduction="batchmean")


# ---------------------------------------------------------------- cross-entropy and NLL: weight, ignore_index
LOGITS = rng.standard_normal((6, 4, 2))
CLASSES = rng.integers(0, 4, (6, 2))
CLASSES[1, 0] = CLASSES[3, 1] = -100
CLASS_WEIGHTS = np.array([0.5, 0.0, 2.0, 1.0])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("ignore_index", [-100, 3])
def test_cross_entropy_and_nll_weight_and_ignore_index_match_pytorch(target, reduction, weighted, label_smoothing,
                                                                      ignore_index):
    torch = pytest.importorskip("torch")
    weight = CLASS_WEIGHTS if weighted else None
    classes = CLASSES if ignore_index == -100 else np.where(CLASSES < 0, 1, CLASSES)
    tol = 1e-10 if target.dtype == "float64" else 2e-5
    for name in ("cross_entropy", "nll_loss"):
        options = dict(reduction=reduction, ignore_index=ignore_index)
        if name == "cross_entropy":
            options["label_smoothing"] = label_smoothing
        z = torch.tensor(LOGITS, requires_grad=True)
        inputs = z if name == "cross_entropy" else z.log_softmax(1)
        expected = getattr(torch.nn.functional, name)(
            inputs, torch.tensor(classes), weight=None if weight is None else torch.tensor(weight), **options)
        ours = target.tensor(LOGITS, requires_grad=True)
        got = getattr(F, name)(ours if name == "cross_entropy" else pg.log_softmax(ours, axis=1), classes,
                               weight=None if weight is None else target.tensor(weight), **options)
        np.testing.assert_allclose(got.numpy(), expected.detach().numpy(), rtol=tol, atol=tol)
        weights = _weights(got.shape)
        (expected * torch.tensor(weights)).sum().backward()
        (got * target.tensor(weights)).sum().backward()
        np.testing.assert_allclose(ours.grad.numpy(), z.grad.numpy(), rtol=tol * 10, atol=tol * 10)


def test_weighted_cross_entropy_gradients_match_finite_differences(target64):
    weight = target64.tensor(CLASS_WEIGHTS)
    pg.gradcheck(lambda z: F.cross_entropy(z, CLASSES, weight=weight, label_smoothing=0.1),
                 [target64.tensor(LOGITS)])
    pg.gradcheck(lambda z, w: F.cross_entropy(z, CLASSES, weight=w), [target64.tensor(LOGITS), weight])


def test_ignored_entries_are_exempt_from_the_bound_check():
    logits = t64(LOGITS)
    # -100 is out of range but ignored; every other entry still has its bound checked
    assert np.isfinite(F.cross_entropy(logits, pg.tensor(CLASSES)).item())
    with pytest.raises(IndexError, match="cross_entropy"):
        F.cross_entropy(logits, pg.tensor(np.where(CLASSES < 0, 4, CLASSES)))
    with pytest.raises(IndexError, match="nll_loss"):
        F.nll_loss(logits, pg.tensor(CLASSES), ignore_index=0)
    with pytest.raises(pg.ShapeError, match="weight"):
        F.cross_entropy(logits, pg.tensor(np.abs(CLASSES) % 4), weight=t64([1.0, 2.0]))
    module = pg.nn.CrossEntropyLoss(weight=t64(CLASS_WEIGHTS), ignore_index=-100, label_smoothing=0.1)
    assert "weight" in module.state_dict()
    assert module(logits, pg.tensor(CLASSES)).item() == pytest.approx(
        F.cross_entropy(logits, pg.tensor(CLASSES), weight=t64(CLASS_WEIGHTS), label_smoothing=0.1).item())
    assert pg.nn.NLLLoss(ignore_index=2)(logits, pg.tensor(np.abs(CLASSES) % 4)).item() == pytest.approx(
        F.nll_loss(logits, pg.tensor(np.abs(CLASSES) % 4), ignore_index=2).item())


# ---------------------------------------------------------------- one sample, no batch axis (as PyTorch)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("options", [{}, {"weight": CLASS_WEIGHTS}, {"label_smoothing": 0.2}, {"ignore_index": 2}],
                         ids=["plain", "weight", "smoothing", "ignore-other"])
def test_unbatched_cross_entropy_and_nll_match_pytorch(target, reduction, options):
    torch = pytest.importorskip("torch")
    logits = LOGITS[0, :, 0].copy()
    tol = 1e-10 if target.dtype == "float64" else 2e-5
    targets = [np.array(3), np.exp(logits) / np.exp(logits).sum()]  # a class index (0-d) and probabilities (C,)
    for name, label in [("cross_entropy", targets[0]), ("cross_entropy", targets[1]), ("nll_loss", targets[0])]:
        if name == "nll_loss" and "label_smoothing" in options:
            continue
        if label.ndim and "ignore_index" in options:
            continue  # ignore_index applies to class indices only
        weight = options.get("weight")
        rest = {k: v for k, v in options.items() if k != "weight"}
        z = torch.tensor(logits, requires_grad=True)
        expected = getattr(torch.nn.functional, name)(
            z if name == "cross_entropy" else z.log_softmax(0), torch.tensor(label),
            weight=None if weight is None else torch.tensor(weight), reduction=reduction, **rest)
        ours = target.tensor(logits, requires_grad=True)
        label_ours = target.tensor(label, dtype="int64" if label.ndim == 0 else None)
        got = getattr(F, name)(ours if name == "cross_entropy" else pg.log_softmax(ours, axis=0), label_ours,
                               weight=None if weight is None else target.tensor(weight), reduction=reduction, **rest)
        assert got.shape == ()
        np.testing.assert_allclose(got.numpy(), expected.detach().numpy(), rtol=tol, atol=tol)
        expected.backward()
        got.backward()
        np.testing.assert_allclose(ours.grad.numpy(), z.grad.numpy(), rtol=tol * 10, atol=tol * 10)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_unbatched_ctc_matches_pytorch(target, reduction):
    """log_probs (T, C), targets (S,), and 0-d lengths (PyTorch's form) or Python ints."""
    torch = pytest.importorskip("torch")
    logits, _, padded, _, _ = _ctc_inputs()
    z = torch.tensor(logits[:, 0], requires_grad=True)
    expected = torch.nn.functional.ctc_loss(z.log_softmax(1), torch.tensor(padded[0, :2]), torch.tensor(5),
                                            torch.tensor(2), reduction=reduction)
    expected.backward()
    tol = 1e-10 if target.dtype == "float64" else 2e-5
    for lengths in [(pg.tensor(5), pg.tensor(2)), (5, 2)]:
        ours = target.tensor(logits[:, 0], requires_grad=True)
        got = F.ctc_loss(pg.log_softmax(ours, axis=1), pg.tensor(padded[0, :2]), *lengths, reduction=reduction)
        assert got.shape == ()
        np.testing.assert_allclose(got.numpy(), expected.detach().numpy(), rtol=tol)
        got.backward()
        np.testing.assert_allclose(ours.grad.numpy(), z.grad.numpy(), rtol=tol * 10, atol=tol * 10)


def test_one_hot_checks_its_indices_as_pytorch():
    torch = pytest.importorskip("torch")
    labels = np.array([[0, 2], [1, 2]])
    assert F.one_hot(pg.tensor(labels), 4).tolist() == torch.nn.functional.one_hot(torch.tensor(labels), 4).tolist()
    assert F.one_hot(pg.tensor(labels)).tolist() == torch.nn.functional.one_hot(torch.tensor(labels)).tolist()
    # out of range: PyTorch raises, where comparing with each class gave a row of zeros
    for labels, classes, bad, size in [([3], 3, 3, 3), ([-1], 3, -1, 3), ([0, -1], -1, -1, 1)]:  # -1: inferred
        with pytest.raises(RuntimeError):
            torch.nn.functional.one_hot(torch.tensor(labels), classes)
        with pytest.raises(IndexError, match=rf"one_hot: index {bad} is out of bounds .* size {size}"):
            F.one_hot(pg.tensor(labels), classes)
