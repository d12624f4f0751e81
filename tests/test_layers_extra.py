"""Channel dropout, alpha dropout, cosine similarity, pairwise distance, pixel (un)shuffle, bilinear and
pad_sequence: statistics and gradcheck on every backend, forward and gradients against torch in float64."""

import numpy as np
import pytest
from torch_oracle import copy_parameters, needs_torch, same_as_torch, same_parameter_grads, torch

import polygrad as pg
import polygrad.functional as F
from polygrad import nn
from polygrad.nn.utils.rnn import pad_sequence

RNG = np.random.default_rng(0)


def host(*shape):
    return RNG.uniform(-1, 1, size=shape)


def _at(target):
    return {"backend": target.backend, "device": target.device, "dtype": target.dtype}


# ---------------------------------------------------------------- dropout
CHANNEL_DROPOUT = [(F.dropout1d, nn.Dropout1d, (40, 50, 6)), (F.dropout1d, nn.Dropout1d, (2000, 6)),
                   (F.dropout2d, nn.Dropout2d, (40, 50, 2, 3)), (F.dropout3d, nn.Dropout3d, (40, 50, 2, 1, 3)),
                   (F.dropout3d, nn.Dropout3d, (2000, 2, 1, 3))]


@pytest.mark.parametrize("function, layer, shape", CHANNEL_DROPOUT)
def test_channel_dropout_zeroes_whole_channels(target, function, layer, shape):
    x = pg.ones(shape, **_at(target))
    y = function(x, 0.25, generator=pg.random.Generator(1, device=target.device, backend=target.backend)).numpy()
    lead = 2 if len(shape) in (3, 5) or function is F.dropout2d else 1
    channels = y.reshape(shape[:lead] + (-1,))
    kept = channels[..., 0] != 0
    np.testing.assert_allclose(channels[kept], 1 / 0.75, rtol=1e-6)  # kept channels scaled, entirely
    assert not channels[~kept].any()  # dropped channels zero, entirely
    assert 0.72 < kept.mean() < 0.78 and abs(y.mean() - 1) < 0.05  # keep rate 1 - p, mean preserved
    assert function(x, 0.25, training=False) is x and layer(0.25).eval()(x) is x
    assert not function(x, 1.0).numpy().any()


def test_channel_dropout_gradient_flows_through_kept_channels(target):
    x = pg.ones((4, 6, 3), requires_grad=True, **_at(target))
    pg.manual_seed(2)
    y = nn.Dropout1d(0.5)(x)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())  # d/dx of x * mask * 2 is the output at x = 1


def test_channel_dropout_checks_rank_and_p():
    with pytest.raises(pg.ShapeError):
        F.dropout2d(pg.ones((2, 3)))
    with pytest.raises(ValueError):
        F.dropout3d(pg.ones((2, 3, 1, 1)), p=1.5)


SATURATION = 1.7580993408473766  # -SELU(-inf)


def _A(p):
    """alpha dropout's scale: the kept entries' gradient."""
    return 1 / np.sqrt((SATURATION ** 2 * p + 1) * (1 - p))


def test_alpha_dropout_keeps_selu_statistics(target):
    x = pg.randn(200_000, generator=pg.random.Generator(0, device=target.device, backend=target.backend),
                 dtype=target.dtype)
    y = F.alpha_dropout(x, 0.2, generator=pg.random.Generator(1, device=target.device, backend=target.backend))
    values = y.numpy()
    assert abs(values.mean()) < 0.01 and abs(values.std() - 1) < 0.01
    dropped = np.isclose(values, _A(0.2) * SATURATION * (0.2 - 1), rtol=1e-5, atol=0)  # one value for all dropped
    assert dropped.mean() == pytest.approx(0.2, abs=0.01)
    assert F.alpha_dropout(x, 0.2, training=False) is x and nn.AlphaDropout(0.2).eval()(x) is x


def test_alpha_dropout_gradient_is_the_scale_on_kept_entries(target64):
    x = target64.tensor(host(100), requires_grad=True)
    pg.manual_seed(4)
    y = F.alpha_dropout(x, 0.3)
    y.sum().backward()
    a = _A(0.3)
    kept = ~np.isclose(y.numpy(), a * SATURATION * (0.3 - 1), rtol=1e-12, atol=0)
    assert 0.5 < kept.mean() < 0.9
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, a, 0.0), rtol=1e-12)
    np.testing.assert_allclose(y.numpy()[kept], a * x.numpy()[kept] + a * SATURATION * 0.3, rtol=1e-12)


# ---------------------------------------------------------------- gradcheck on every backend
GRADCHECKS = {
    "cosine_similarity": (lambda a, b: F.cosine_similarity(a, b, dim=1), [(3, 4, 2), (3, 4, 2)]),
    "cosine_similarity_broadcast": (lambda a, b: F.cosine_similarity(a, b, dim=-1), [(1, 4), (3, 4)]),
    "pairwise_distance": (lambda a, b: F.pairwise_distance(a, b, 3.0, keepdim=True), [(3, 4), (3, 4)]),
    "pixel_shuffle": (lambda x: F.pixel_shuffle(x, 2), [(2, 8, 2, 3)]),
    "pixel_unshuffle": (lambda x: F.pixel_unshuffle(x, 2), [(2, 1, 4, 6)]),
    "bilinear": (F.bilinear, [(2, 3, 4), (2, 3, 5), (2, 4, 5), (2,)]),
    "pad_sequence": (lambda a, b: pad_sequence([a, b], padding_value=0.5, padding_side="left"), [(2, 3), (4, 3)]),
}


@pytest.mark.parametrize("name", GRADCHECKS)
def test_gradcheck(target64, name):
    function, shapes = GRADCHECKS[name]
    pg.gradcheck(function, [target64.tensor(host(*s)) for s in shapes])


def test_pad_sequence_layout(target):
    a, b = pg.ones((2, 3), **_at(target)), pg.ones((4, 3), **_at(target))
    assert pad_sequence([a, b]).shape == (4, 2, 3) and pad_sequence([a, b], batch_first=True).shape == (2, 4, 3)
    np.testing.assert_array_equal(pad_sequence([a, b], True, -1.0)[0, :, 0].numpy(), [1, 1, -1, -1])
    np.testing.assert_array_equal(pad_sequence([a, b], True, -1.0, "left")[0, :, 0].numpy(), [-1, -1, 1, 1])


# ---------------------------------------------------------------- against torch
TF = torch.nn.functional if torch is not None else None
COSINE_INPUTS = {
    "generic": (host(3, 5, 2), host(3, 5, 2)),
    "zero vector": (np.concatenate([np.zeros((1, 5)), host(2, 5)]), host(3, 5)),
    "below eps": (np.concatenate([1e-10 * host(1, 5), host(2, 5)]), host(3, 5)),
    "broadcast over dim": (host(3, 1), host(3, 5)),
}


@needs_torch
@pytest.mark.parametrize("case", COSINE_INPUTS)
def test_cosine_similarity_matches_torch(case):
    options = dict(dim=1, eps=1e-8) if case != "below eps" else dict(dim=1, eps=1e-6)
    same_as_torch(lambda a, b: nn.CosineSimilarity(**options)(a, b),
                  lambda a, b: torch.nn.CosineSimilarity(**options)(a, b), *COSINE_INPUTS[case])


@needs_torch
@pytest.mark.parametrize("p, keepdim", [(2.0, False), (1.0, True), (3.0, False), (float("inf"), False)])
def test_pairwise_distance_matches_torch(p, keepdim):
    same_as_torch(nn.PairwiseDistance(p, keepdim=keepdim), torch.nn.PairwiseDistance(p, keepdim=keepdim),
                  host(4, 6), host(4, 6))


@needs_torch
def test_pixel_shuffle_and_unshuffle_match_torch():
    same_as_torch(nn.PixelShuffle(3), torch.nn.PixelShuffle(3), host(2, 18, 2, 3))
    same_as_torch(nn.PixelShuffle(2), torch.nn.PixelShuffle(2), host(3, 2, 4, 1, 2))
    same_as_torch(nn.PixelUnshuffle(2), torch.nn.PixelUnshuffle(2), host(2, 3, 4, 6))
    same_as_torch(lambda x: F.pixel_unshuffle(x, 3), lambda x: TF.pixel_unshuffle(x, 3), host(2, 6, 9))


@needs_torch
@pytest.mark.parametrize("bias", [True, False])
def test_bilinear_matches_torch(bias):
    torch.manual_seed(0)
    theirs = torch.nn.Bilinear(3, 4, 5, bias=bias, dtype=torch.float64)
    ours = nn.Bilinear(3, 4, 5, bias=bias, dtype="float64")
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    bound = 1 / np.sqrt(3)
    assert all(np.abs(p.numpy()).max() <= bound for p in ours.parameters())  # U(-1/sqrt(in1), 1/sqrt(in1))
    copy_parameters(ours, theirs)
    same_as_torch(ours, theirs, host(2, 6, 3), host(2, 6, 4))
    same_parameter_grads(ours, theirs)


@needs_torch
@pytest.mark.parametrize("batch_first, side", [(False, "right"), (True, "left")])
def test_pad_sequence_matches_torch(batch_first, side):
    same_as_torch(lambda *s: pad_sequence(s, batch_first, 0.5, side),
                  lambda *s: torch.nn.utils.rnn.pad_sequence(s, batch_first, 0.5, side),
                  host(3, 2), host(5, 2), host(1, 2))


@needs_torch
def test_dropout_functions_are_identity_in_eval_as_torch():
    x = host(2, 3, 4, 5)
    for ours, theirs in [(F.dropout2d, TF.dropout2d), (F.alpha_dropout, TF.alpha_dropout)]:
        same_as_torch(lambda x: ours(x, 0.3, training=False), lambda x: theirs(x, 0.3, training=False), x)
