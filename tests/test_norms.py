"""BatchNorm (momentum=None, track_running_stats), GroupNorm, InstanceNorm, LayerNorm(bias=) and
Embedding(padding_idx, max_norm): against torch.nn in float64 with parameters copied (outputs,
gradients and running statistics over several steps), and against finite differences on every backend."""

import numpy as np
import pytest
from torch_oracle import copy_parameters, needs_torch, same_as_torch, torch

import polygrad as pg
import polygrad.functional as F
from polygrad import nn

RNG = np.random.default_rng(5)


def host(*shape):
    return RNG.standard_normal(shape) * 2 + 0.5


def _pair(name, *args, **kwargs):
    ours = getattr(nn, name)(*args, dtype="float64", **kwargs)
    theirs = getattr(torch.nn, name)(*args, dtype=torch.float64, **kwargs)
    if list(theirs.parameters()):
        with torch.no_grad():
            for p in theirs.parameters():
                p.uniform_(0.5, 1.5)
        copy_parameters(ours, theirs)
    return ours, theirs


def _buffers_match(ours, theirs):
    for name, buffer in theirs.named_buffers():
        np.testing.assert_allclose(getattr(ours, name).numpy(), buffer.numpy(), rtol=1e-12, err_msg=name)


NORMS = [
    ("BatchNorm1d", (3,), dict(momentum=None), (4, 3, 5)),
    ("BatchNorm2d", (3,), dict(track_running_stats=False), (4, 3, 2, 2)),
    ("BatchNorm2d", (3,), dict(affine=False, momentum=0.3), (4, 3, 2, 3)),
    ("BatchNorm3d", (2,), {}, (2, 2, 2, 3, 2)),
    ("InstanceNorm1d", (3,), {}, (2, 3, 6)),
    ("InstanceNorm2d", (3,), dict(affine=True, track_running_stats=True), (2, 3, 4, 3)),
    ("InstanceNorm2d", (3,), dict(affine=True), (3, 4, 3)),  # unbatched
    ("GroupNorm", (2, 4), {}, (3, 4, 5)),
    ("GroupNorm", (1, 4), dict(affine=False), (2, 4, 2, 3)),
    ("LayerNorm", ((3, 4),), dict(bias=False), (2, 3, 4)),
    ("LayerNorm", (4,), dict(elementwise_affine=False), (2, 3, 4)),
]


@needs_torch
@pytest.mark.parametrize("case", NORMS, ids=str)
def test_norm_layers_match_torch_in_training_and_eval(case):
    name, args, kwargs, shape = case
    ours, theirs = _pair(name, *args, **kwargs)
    for _ in range(3):  # running statistics over several steps (momentum=None: their plain average)
        same_as_torch(ours, theirs, host(*shape))
        _buffers_match(ours, theirs)
    ours.eval()
    theirs.eval()
    same_as_torch(ours, theirs, host(*shape))
    _buffers_match(ours, theirs)


def test_batch_norm_momentum_none_is_the_cumulative_average(target):
    layer = nn.BatchNorm1d(2, momentum=None, backend=target.backend, device=target.device, dtype=target.dtype)
    batches = [host(5, 2) for _ in range(3)]
    for x in batches:
        layer(target.tensor(x))
    rtol = 1e-12 if target.dtype == "float64" else 1e-5
    np.testing.assert_allclose(layer.running_mean.numpy(), np.mean([b.mean(axis=0) for b in batches], axis=0), rtol=rtol)
    np.testing.assert_allclose(layer.running_var.numpy(), np.mean([b.var(axis=0, ddof=1) for b in batches], axis=0),
                               rtol=rtol)
    untracked = nn.BatchNorm1d(2, track_running_stats=False)
    assert untracked.running_mean is None and "running_mean" not in untracked.state_dict()
    untracked.eval()  # no running statistics: the batch's own, also in eval
    y = untracked(pg.tensor(batches[0], dtype="float32")).numpy()
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-5)


def test_group_and_instance_norm_gradcheck(target64):
    x, w, b = target64.tensor(host(2, 4, 3)), target64.tensor(host(4)), target64.tensor(host(4))
    pg.gradcheck(lambda x, w, b: F.group_norm(x, 2, w, b), [x, w, b], check_forward=True)
    pg.gradcheck(lambda x, w, b: F.instance_norm(x, weight=w, bias=b), [x, w, b], check_forward=True)


def test_norm_errors():
    with pytest.raises(ValueError, match="num_channels=5 must be divisible by num_groups=2"):
        nn.GroupNorm(2, 5)
    with pytest.raises(pg.ShapeError, match="group_norm: 3 groups do not divide"):
        F.group_norm(pg.zeros((2, 4, 3)), 3)
    with pytest.raises(pg.ShapeError, match=r"InstanceNorm2d\(3\): expected an input of rank 4"):
        nn.InstanceNorm2d(3)(pg.zeros((2, 3, 4, 4, 1)))


# ---------------------------------------------------------------- embedding
@needs_torch
@pytest.mark.parametrize("options", [dict(padding_idx=1), dict(padding_idx=-1), dict(max_norm=1.0),
                                     dict(max_norm=0.5, norm_type=1.0, padding_idx=0)], ids=str)
def test_embedding_matches_torch(options):
    ours, theirs = _pair("Embedding", 5, 3, **options)
    with torch.no_grad():
        theirs.weight.normal_()
        if options.get("padding_idx") is not None:
            theirs.weight[options["padding_idx"]] = 0.0
    copy_parameters(ours, theirs)
    indices = np.array([[0, 1, 4], [1, 1, 3]])
    same_as_torch(lambda i: ours(i), lambda i: theirs(i), indices)
    out, expected = ours(pg.tensor(indices)), theirs(torch.tensor(indices))
    (out * pg.tensor(np.arange(18.0).reshape(2, 3, 3))).sum().backward()
    (expected * torch.tensor(np.arange(18.0).reshape(2, 3, 3))).sum().backward()
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.weight.numpy(), theirs.weight.detach().numpy(), rtol=1e-12)  # renormed rows


def test_embedding_padding_row_starts_at_zero_and_gets_no_gradient(target):
    layer = nn.Embedding(4, 2, padding_idx=2, backend=target.backend, device=target.device, dtype=target.dtype)
    np.testing.assert_array_equal(layer.weight.numpy()[2], [0, 0])
    layer([[2, 0], [2, 2]]).sum().backward()
    np.testing.assert_array_equal(layer.weight.grad.numpy(), [[1, 1], [0, 0], [0, 0], [0, 0]])
    with pytest.raises(ValueError, match=r"padding_idx 4 is outside \[-4, 4\)"):
        nn.Embedding(4, 2, padding_idx=4)


def test_embedding_max_norm_renormalizes_used_rows_in_place(target):
    layer = nn.Embedding(3, 2, max_norm=1.0, backend=target.backend, device=target.device, dtype=target.dtype)
    with pg.no_grad():
        layer.weight.copy_(target.tensor([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0]]))
    out = layer([0, 1])
    expected = [[0.6, 0.8], [0.3, 0.4], [6.0, 8.0]]  # row 2 was not looked up: left alone
    np.testing.assert_allclose(layer.weight.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(out.numpy(), expected[:2], rtol=1e-6)


def test_embedding_padding_gradient_is_the_plain_one_without_that_row(target64):
    indices = target64.tensor([3, 0, 3, 1], dtype="int64")
    w = target64.tensor(host(4, 2))
    padded = pg.grad(lambda w: pg.sum(F.embedding(indices, w, padding_idx=3) ** 2))(w).numpy()
    plain = pg.grad(lambda w: pg.sum(F.embedding(indices, w) ** 2))(w).numpy()
    plain[3] = 0
    np.testing.assert_allclose(padded, plain, rtol=1e-12)
