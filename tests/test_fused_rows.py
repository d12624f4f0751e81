"""The fused rows of RMS norm, masked/dropped attention and cross-entropy (polygrad/primitives/fused_norm.py,
fused_attention.py, fused_loss.py): every backend kernel equal to the portable definition, forward and
gradient, on every backend; the functions equal to PyTorch's in float64, values and gradients, at the edges
too (fully masked rows, ignored and empty batches); their bad inputs named."""

import math

import numpy as np
import pytest

import polygrad as pg
import polygrad.functional as F
from polygrad.primitives.fused import PORTABLE

from conftest import to_numpy
from torch_oracle import same_as_torch, torch


def _bool(t, values):
    return t.tensor(values, dtype="bool")


def _index(t, values):
    return t.tensor(values, dtype="int64")


# name -> build(target) -> the rule's positional arguments after xp (Tensors for its arrays, then options, in the
# order of the portable definition); the vjp takes the output's gradient and the same arguments
ARGUMENTS = {
    "rms_norm": lambda t: [t.randn(3, 4, 8, seed=1), t.randn(8, seed=2), 1, 1e-5],
    "rms_norm/two-axes": lambda t: [t.randn(3, 4, 8, seed=1), t.randn(4, 8, seed=2), 2, 1e-3],
    # q, k, v, causal, scale, mask, masked, keep, dropout: a boolean mask broadcast over the batch, the second
    # query seeing no key (output and gradients 0)
    "attention/bool-mask": lambda t: [t.randn(2, 3, 4, 5, seed=3), t.randn(2, 3, 6, 5, seed=4), t.randn(2, 3, 6, 5, seed=5),
                                      False, 0.4, _bool(t, [[True] * 6, [False] * 6, [True, False] * 3,
                                                            [False, False, True, True, True, False]]), "bool", None, None],
    "attention/float-mask": lambda t: [t.randn(2, 3, 4, 5, seed=3), t.randn(2, 3, 6, 5, seed=4),
                                       t.randn(2, 3, 6, 5, seed=5), False, 0.4, t.randn(2, 1, 4, 6, seed=6), "float",
                                       None, None],
    "attention/float-mask-3d": lambda t: [t.randn(2, 3, 4, 5, seed=3), t.randn(2, 3, 6, 5, seed=4),
                                          t.randn(2, 3, 6, 5, seed=5), False, 0.4, t.randn(3, 4, 6, seed=6), "float",
                                          None, None],
    "attention/dropout": lambda t: [t.randn(2, 3, 4, 5, seed=3), t.randn(2, 3, 6, 5, seed=4), t.randn(2, 3, 6, 5, seed=5),
                                    True, 0.4, None, None, t.randn(2, 3, 4, 6, seed=7) > 0, 2.0],
    # logits, target, weight, ignore_index, reduction, smoothing
    "cross_entropy": lambda t: [t.randn(5, 4, seed=8), _index(t, [0, 3, -100, 2, 1]), t.rand(4, seed=9) + 0.5, -100,
                                "mean", 0.2],
    "cross_entropy/sum": lambda t: [t.randn(5, 4, seed=8), _index(t, [0, 3, 3, 2, 1]), t.rand(4, seed=9) + 0.5, 2, "sum",
                                    0.1],
    "cross_entropy/none": lambda t: [t.randn(5, 4, seed=8), _index(t, [0, 3, 3, 2, 1]), t.rand(4, seed=9) + 0.5, -1,
                                     "none", 0.3],
    "cross_entropy/unsmoothed": lambda t: [t.randn(5, 4, seed=8), _index(t, [0, 3, 3, 2, 1]), t.rand(4, seed=9) + 0.5,
                                           3, "mean", 0.0],
    # every entry ignored: the mean is NaN, its gradient 0; an empty batch: NaN too
    "cross_entropy/all-ignored": lambda t: [t.randn(3, 4, seed=8), _index(t, [-100] * 3), t.tensor([1.0] * 4), -100,
                                            "mean", 0.2],
    "cross_entropy/empty": lambda t: [t.randn(0, 4, seed=8), _index(t, [1])[:0], t.tensor([1.0] * 4), -100, "mean", 0.2],
}


def _raw(value):
    return value.array if isinstance(value, pg.Tensor) else value


def _close(got, expected, target):
    np.testing.assert_allclose(to_numpy(pg.asarray(got)), to_numpy(pg.asarray(expected)), rtol=target.tol,
                               atol=target.tol)


@pytest.mark.parametrize("case", sorted(ARGUMENTS))
def test_kernel_matches_portable_definition(target, case):
    name = case.split("/")[0]
    values = ARGUMENTS[case](target)
    xp = values[0].device.backend.xp
    args = [_raw(v) for v in values]
    portable, portable_vjp = PORTABLE[name]
    forward, backward = getattr(xp, "kernel_" + name, None), getattr(xp, "kernel_" + name + "_vjp", None)
    expected = portable(xp, *args)
    got = None if forward is None else forward(*args)
    if got is not None:
        _close(got, expected, target)
    g = target.randn(*expected.shape, seed=10).array
    got_grads = None if backward is None else backward(g, *args)
    if got is None and got_grads is None:
        pytest.skip(f"{target.backend} has no kernel for {name} that takes these inputs ({target.dtype})")
    if got_grads is None:
        return
    expected_grads = portable_vjp(xp, g, *args)
    for e, k in zip(expected_grads, got_grads, strict=True):
        assert (e is None) == (k is None)
        if e is not None:
            _close(k, e, target)


# ---------------------------------------------------------------- RMS norm
@pytest.mark.parametrize("shape, weighted, eps", [((5,), True, None), ((3, 5), True, 1e-3), (5, False, None),
                                                  ((2, 3, 5), False, 0.5)])
def test_rms_norm_matches_torch(shape, weighted, eps):
    rng = np.random.default_rng(1)
    size = (shape,) if isinstance(shape, int) else shape
    x, w = rng.standard_normal((2, 3, 5)) * 1e-4, rng.standard_normal(size)  # small: eps matters
    if weighted:
        same_as_torch(lambda v, w: F.rms_norm(v, shape, w, eps), lambda v, w: torch.nn.functional.rms_norm(
            v, size, w, eps), x, w)
    else:
        same_as_torch(lambda v: F.rms_norm(v, shape, eps=eps),
                      lambda v: torch.nn.functional.rms_norm(v, size, eps=eps), x)


def test_rms_norm_default_eps_is_the_dtypes(target):
    """eps None is finfo(dtype).eps, as torch: the float32 machine epsilon for float32 input."""
    if torch is None:
        pytest.skip("torch is not installed")
    x = np.random.default_rng(2).standard_normal((3, 4)) * 1e-4
    got = F.rms_norm(target.tensor(x, requires_grad=True), 4)
    expected = torch.nn.functional.rms_norm(torch.tensor(x, dtype=getattr(torch, target.dtype)), (4,))
    assert got._op.primitive.name == "rms_norm"
    np.testing.assert_allclose(to_numpy(got), expected.numpy(), rtol=target.tol * 10, atol=target.tol)


@pytest.mark.parametrize("affine", [True, False])
def test_rms_norm_module_matches_torch(affine):
    if torch is None:
        pytest.skip("torch is not installed")
    ours = pg.nn.RMSNorm((3, 4), elementwise_affine=affine, dtype="float64")
    theirs = torch.nn.RMSNorm((3, 4), elementwise_affine=affine, dtype=torch.float64)
    assert repr(ours) == repr(theirs)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    if affine:
        with pg.no_grad():
            ours.weight.copy_(pg.tensor(np.arange(12.0).reshape(3, 4) / 7))
        with torch.no_grad():
            theirs.weight.copy_(torch.arange(12.0, dtype=torch.float64).reshape(3, 4) / 7)
    same_as_torch(ours, theirs, np.random.default_rng(3).standard_normal((2, 3, 4)))
    if affine:
        np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_rms_norm_errors_name_the_op_and_both_sides(target):
    with pytest.raises(pg.ShapeError, match=r"rms_norm: normalized_shape \(4,\) does not match the end of .*\(2, 3\)"):
        F.rms_norm(target.randn(2, 3), 4)
    with pytest.raises(pg.ShapeError, match=r"rms_norm: weight .*\(4,\).* normalized_shape \(3,\) .*\(2, 3\)"):
        F.rms_norm(target.randn(2, 3), 3, target.randn(4))


# ---------------------------------------------------------------- attention
def _sdpa(**options):
    return (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **options),
            lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(q, k, v, **options))


def _qkv(q_shape, k_shape, v_shape, seed=4):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(q_shape), rng.standard_normal(k_shape), rng.standard_normal(v_shape)


@pytest.mark.parametrize("kind", ["bool", "float"])
@pytest.mark.parametrize("mask_shape", [(4, 6), (2, 1, 4, 6), (3, 4, 6), (1, 6)])
def test_masked_attention_matches_torch(kind, mask_shape):
    """Masks of every rank that broadcasts; the second query's keys all hidden (torch gives 0 there)."""
    q, k, v = _qkv((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7))
    rng = np.random.default_rng(5)
    mask = rng.random(mask_shape) > 0.4
    if mask_shape[-2] > 1:
        mask[..., 1, :] = False
    if kind == "float":
        mask = np.where(mask, rng.standard_normal(mask_shape), -np.inf)
    same_as_torch(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=pg.asarray(mask, device=q.device)),
                  lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(q, k, v,
                                                                                   attn_mask=torch.tensor(mask)),
                  q, k, v)


def test_float_mask_takes_a_gradient_as_torch():
    q, k, v = _qkv((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 5))
    mask = np.random.default_rng(6).standard_normal((3, 4, 6))
    same_as_torch(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m, scale=0.3),
                  lambda q, k, v, m: torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m, scale=0.3),
                  q, k, v, mask)


def test_float_mask_of_another_dtype_keeps_the_querys():
    q, k, v = _qkv((2, 4, 5), (2, 6, 5), (2, 6, 5))
    mask = np.random.default_rng(6).standard_normal((4, 6)).astype(np.float32)
    same_as_torch(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=pg.asarray(mask, device=q.device)),
                  lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=torch.tensor(mask)),
                  q, k, v)


@pytest.mark.parametrize("shapes, options", [
    (((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 5)), {"is_causal": True, "scale": 0.7}),
    (((2, 6, 4, 5), (2, 2, 6, 5), (2, 2, 6, 3)), {"enable_gqa": True}),  # three query heads per key head
    (((2, 6, 4, 5), (2, 2, 6, 5), (2, 2, 6, 3)), {"enable_gqa": True, "is_causal": True}),
    (((2, 3, 4, 5), (1, 3, 6, 5), (2, 1, 6, 3)), {}),  # the leading axes broadcast
    (((4, 5), (6, 5), (6, 3)), {}),
])
def test_attention_options_match_torch(shapes, options):
    ours, theirs = _sdpa(**options)
    out = ours(*(pg.tensor(a, requires_grad=True) for a in _qkv(*shapes)))
    assert out._op.primitive.name == "attention"
    same_as_torch(ours, theirs, *_qkv(*shapes))


def _drawn(seed, shape, p, device):
    """The keep mask F.scaled_dot_product_attention draws after pg.manual_seed(seed)."""
    pg.manual_seed(seed)
    return (pg.random.default_generator(device).rand(shape, dtype="float64") >= p).numpy()


@pytest.mark.parametrize("options", [{}, {"is_causal": True}, {"attn_mask": "bool"}])
def test_attention_dropout_matches_torch_with_the_same_mask(options):
    """torch's math attention, handed the keep mask polygrad's generator drew, gives the same values and
    gradients: the backward drops what the forward dropped."""
    q, k, v = _qkv((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 5))
    p, seed = 0.3, 11
    mask = np.random.default_rng(7).random((4, 6)) > 0.3 if options.get("attn_mask") else None
    causal = options.get("is_causal", False)
    keep = _drawn(seed, (2, 3, 4, 6), p, pg.tensor(q).device)

    def ours(q, k, v):
        pg.manual_seed(seed)
        attn_mask = None if mask is None else pg.asarray(mask, device=q.device)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p, is_causal=causal)

    def theirs(q, k, v):  # the math op adds its mask: F.scaled_dot_product_attention turns a boolean one to 0/-inf first
        attn_mask = None if mask is None else torch.where(torch.tensor(mask), 0.0, -math.inf).double()
        return torch.ops.aten._scaled_dot_product_attention_math(q, k, v, attn_mask, p, causal,
                                                                 dropout_mask=torch.tensor(keep))[0]

    same_as_torch(ours, theirs, q, k, v)


def test_attention_dropout_is_reproducible_and_total_at_one(target):
    q, k, v = (target.randn(2, 4, 3, seed=s) for s in (1, 2, 3))
    pg.manual_seed(3)
    first = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    pg.manual_seed(3)
    np.testing.assert_array_equal(to_numpy(F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)), to_numpy(first))
    q.requires_grad_()
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=1.0)
    assert not np.any(to_numpy(out))  # everything dropped, as torch: zeros, not NaN
    pg.sum(out).backward()
    assert not np.any(to_numpy(q.grad))


def test_attention_dropout_recorded_backward_equals_the_kept_one(target64):
    """The backward that reads the probabilities the forward kept and the recorded one (create_graph, which
    recomputes them) give the same gradients, and a second derivative exists."""
    q, k, v = (target64.randn(2, 4, 3, seed=s, requires_grad=True) for s in (1, 2, 3))
    grads = []
    for create_graph in (False, True):
        pg.manual_seed(5)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.4, is_causal=True)
        grads.append(pg.autograd.grad(pg.sum(out * out), [q, v], create_graph=create_graph))
    for kept, recorded in zip(*grads):
        np.testing.assert_allclose(to_numpy(recorded), to_numpy(kept), rtol=1e-12, atol=1e-12)
    pg.sum(grads[1][0] * grads[1][1][:, :, :3]).backward()
    assert q.grad is not None and np.all(np.isfinite(to_numpy(q.grad)))


def test_attention_errors_name_the_op_and_both_sides(target):
    q, k, v = target.randn(2, 3, 4, 5), target.randn(2, 3, 6, 5), target.randn(2, 3, 6, 5)
    with pytest.raises(pg.ShapeError, match=r"scaled_dot_product_attention: attn_mask .*\(5, 6\).* \(2, 3, 4, 6\) "
                                            r"of query .*\(2, 3, 4, 5\).* key .*\(2, 3, 6, 5\)"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=_bool(target, [[True] * 6] * 5))
    with pytest.raises(pg.ShapeError, match="scaled_dot_product_attention: attn_mask"):  # widens the scores: no
        F.scaled_dot_product_attention(q, k, v, attn_mask=target.randn(3, 2, 3, 4, 6))
    with pytest.raises(pg.DtypeError, match=r"scaled_dot_product_attention: attn_mask must be boolean or floating, "
                                            r"got .*int64.*query"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=_index(target, [[1] * 6] * 4))
    with pytest.raises(pg.ShapeError, match=r"scaled_dot_product_attention: the heads .* query .*\(2, 3, 4, 5\).*"
                                            r"\(2, 2, 6, 5\)"):
        F.scaled_dot_product_attention(q, target.randn(2, 2, 6, 5), target.randn(2, 2, 6, 5), enable_gqa=True)
    with pytest.raises(pg.ShapeError, match="scaled_dot_product_attention: the leading axes of query"):
        F.scaled_dot_product_attention(q, target.randn(3, 3, 6, 5), target.randn(3, 3, 6, 5))
    with pytest.raises(ValueError, match="scaled_dot_product_attention: dropout_p"):
        F.scaled_dot_product_attention(q, k, v, dropout_p=1.5)
    with pytest.raises(ValueError, match="scaled_dot_product_attention: give attn_mask or is_causal"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=target.randn(4, 6), is_causal=True)


# ---------------------------------------------------------------- cross-entropy and nll
_CLASSES = np.array([[[0, 3], [2, -1]], [[1, 1], [-1, 0]], [[3, 2], [0, 2]]])  # (N, d1, d2), -1 ignored
_LOGITS = np.random.default_rng(8).standard_normal((3, 4, 2, 2))  # (N, C, d1, d2)
_WEIGHT = np.array([0.5, 1.5, 2.0, 0.75])


def _weight(weighted, like):
    return pg.asarray(_WEIGHT, dtype=like.dtype, device=like.device) if weighted else None


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_cross_entropy_of_class_indices_matches_torch(reduction, weighted, smoothing):
    options = {"reduction": reduction, "ignore_index": -1, "label_smoothing": smoothing}

    def ours(x):
        out = F.cross_entropy(x, pg.asarray(_CLASSES, device=x.device), weight=_weight(weighted, x), **options)
        assert out._op.primitive.name in ("cross_entropy", "reshape")
        return out

    same_as_torch(ours, lambda x: torch.nn.functional.cross_entropy(
        x, torch.tensor(_CLASSES), weight=torch.tensor(_WEIGHT) if weighted else None, **options), _LOGITS)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_of_n_d_targets_matches_torch(reduction, weighted):
    options = {"reduction": reduction, "ignore_index": -1}
    same_as_torch(lambda x: F.nll_loss(F.log_softmax(x, dim=1), pg.asarray(_CLASSES, device=x.device),
                                       weight=_weight(weighted, x), **options),
                  lambda x: torch.nn.functional.nll_loss(x.log_softmax(1), torch.tensor(_CLASSES),
                                                         weight=torch.tensor(_WEIGHT) if weighted else None, **options),
                  _LOGITS)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_of_probabilities_matches_torch(reduction, weighted, smoothing):
    """Probability targets take a gradient too (distillation)."""
    probs = np.random.default_rng(9).random(_LOGITS.shape)
    probs /= probs.sum(axis=1, keepdims=True)
    options = {"reduction": reduction, "label_smoothing": smoothing}

    def ours(x, p):
        out = F.cross_entropy(x, p, weight=_weight(weighted, x), **options)
        assert out._op.primitive.name in ("soft_cross_entropy", "reshape")
        return out

    same_as_torch(ours, lambda x, p: torch.nn.functional.cross_entropy(
        x, p, weight=torch.tensor(_WEIGHT) if weighted else None, **options), _LOGITS, probs)


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_at_the_edges_as_torch(target, smoothing):
    """Every entry ignored: NaN for the mean, gradient 0; an empty batch: NaN for the mean, 0 for the sum."""
    if torch is None:
        pytest.skip("torch is not installed")
    cases = [(np.zeros((3, 4)), np.full(3, -100), "mean"), (np.zeros((0, 4, 2)), np.zeros((0, 2), dtype=int), "mean"),
             (np.zeros((0, 4)), np.zeros(0, dtype=int), "sum"), (np.zeros((0, 4)), np.zeros((0, 4)), "mean")]
    for logits, classes, reduction in cases:
        x = target.tensor(logits, requires_grad=True)
        labels = pg.asarray(classes, device=x.device, dtype=x.dtype if classes.dtype.kind == "f" else "int64")
        loss = F.cross_entropy(x, labels, reduction=reduction, label_smoothing=smoothing)
        expected = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(classes), reduction=reduction,
                                                     label_smoothing=smoothing)
        np.testing.assert_array_equal(to_numpy(loss), expected.numpy())
        loss.backward()
        assert not np.any(to_numpy(x.grad))


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_recorded_backward_equals_the_kept_one(target64, reduction):
    """The backward that reads the log-probabilities the forward kept (where no kernel runs) and the recorded
    one (create_graph, which recomputes them) agree, and a second derivative exists."""
    x = target64.randn(4, 3, 2, seed=1, requires_grad=True)
    classes = _index(target64, [[2, 0], [1, -100], [0, 0], [2, 1]])
    grads = [pg.autograd.grad(pg.sum(F.cross_entropy(x, classes, label_smoothing=0.2, reduction=reduction) ** 2), [x],
                              create_graph=create_graph)[0] for create_graph in (False, True)]
    np.testing.assert_allclose(to_numpy(grads[1]), to_numpy(grads[0]), rtol=1e-12, atol=1e-12)
    pg.sum(grads[1] * grads[1]).backward()
    assert np.all(np.isfinite(to_numpy(x.grad)))


def test_cross_entropy_errors_name_the_op_and_both_sides(target):
    x = target.randn(3, 4, 2, requires_grad=True)
    with pytest.raises(pg.ShapeError, match=r"class indices of shape \(3, 2\) for input .*\(3, 4, 2\).*\(3, 3\)"):
        F.cross_entropy(x, _index(target, [[0, 1, 2]] * 3), label_smoothing=0.1)
    with pytest.raises(IndexError, match="cross_entropy: class target"):
        F.cross_entropy(x, _index(target, [[0, 1], [2, 4], [3, 3]]), label_smoothing=0.1)
    with pytest.raises(IndexError, match="nll_loss: class target"):
        F.nll_loss(x, _index(target, [[0, 1], [2, -3], [3, 3]]))
    with pytest.raises(pg.ShapeError, match=r"cross_entropy: weight must hold one number per class \(4\), got .*\(3,\)"):
        F.cross_entropy(x, _index(target, [[0, 1], [2, 0], [3, 3]]), weight=target.tensor([1.0] * 3))
    with pytest.raises(pg.ShapeError, match=r"probability targets must match the logits .*\(3, 4, 2\).*\(3, 4\)"):
        F.cross_entropy(x, target.rand(3, 4))
    with pytest.raises(ValueError, match="cross_entropy: label_smoothing must be in"):
        F.cross_entropy(x, _index(target, [[0, 1], [2, 0], [3, 3]]), label_smoothing=1.5)


def test_fused_losses_keep_the_composite_for_a_weight_that_learns(target):
    """A weight that requires grad goes through the composite, which differentiates it."""
    x, w = target.randn(3, 4, requires_grad=True), target.rand(4, requires_grad=True)
    loss = F.cross_entropy(x, _index(target, [0, 3, 1]), weight=w, label_smoothing=0.1)
    pg.sum(loss).backward()
    assert w.grad is not None and math.isfinite(float(pg.sum(w.grad).item()))
