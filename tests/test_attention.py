"""scaled_dot_product_attention, MultiheadAttention, the Transformer encoder and decoder layers and stacks:
against PyTorch in float64 with weights copied (outputs, attention weights and every gradient), and against
finite differences on every backend."""

import numpy as np
import pytest
from torch_oracle import copy_parameters, needs_torch, same_as_torch, same_parameter_grads, torch

import polygrad as pg
import polygrad.functional as F
from polygrad import nn

RNG = np.random.default_rng(11)


def host(*shape):
    return RNG.standard_normal(shape)


BOOL_MASK = np.array([[True, False, True, True], [True, True, False, True], [False, True, True, True]])


@needs_torch
@pytest.mark.parametrize("mask", ["none", "bool", "float", "causal"])
def test_sdpa_matches_torch(mask):
    q, k, v = host(2, 3, 3, 4), host(2, 3, 4, 4), host(2, 3, 4, 5)
    options = {"is_causal": True} if mask == "causal" else {}
    arrays = (q, k, v)
    if mask in ("bool", "float"):
        arrays += (BOOL_MASK if mask == "bool" else host(3, 4),)
    same_as_torch(lambda *a: F.scaled_dot_product_attention(*a, **options),
                  lambda *a: torch.nn.functional.scaled_dot_product_attention(*a, **options), *arrays)
    same_as_torch(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, scale=0.3),
                  lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=0.3), q, k, v)


def test_sdpa_gradcheck_and_dropout(target64):
    q, k, v = (target64.tensor(host(1, 3, 2)) for _ in range(3))
    mask = target64.tensor(BOOL_MASK[:, :3], dtype="bool")
    pg.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask), [q, k, v],
                 check_forward=True)
    pg.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), [q, k, v])
    pg.manual_seed(0)
    dropped = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    assert not np.allclose(dropped, F.scaled_dot_product_attention(q, k, v).numpy())


def _mha_pair(**options):
    ours = nn.MultiheadAttention(6, 2, dtype="float64", **options)
    theirs = torch.nn.MultiheadAttention(6, 2, dtype=torch.float64, **options)
    with torch.no_grad():
        theirs.in_proj_bias.uniform_(-0.5, 0.5)
        theirs.out_proj.bias.uniform_(-0.5, 0.5)
    copy_parameters(ours, theirs)
    return ours, theirs


@needs_torch
@pytest.mark.parametrize("case", ["plain", "batch_first", "bool masks", "float masks", "causal", "per-head weights",
                                  "unbatched"])
def test_multihead_attention_matches_torch(case):
    ours, theirs = _mha_pair(batch_first=case == "batch_first")
    # query length 3, key length 5, batch 4, embedding 6
    shapes = {"batch_first": ((4, 3, 6), (4, 5, 6)), "unbatched": ((3, 6), (5, 6))}.get(case, ((3, 4, 6), (5, 4, 6)))
    q, k, v = host(*shapes[0]), host(*shapes[1]), host(*shapes[1])
    options, extra = {}, ()
    if case == "bool masks":
        extra = (np.array([[False] * 4 + [True]] * 2 + [[False] * 5] * 2), RNG.uniform(size=(3, 5)) > 0.8)
    if case == "float masks":
        extra = (host(4, 5), host(3, 5))
    if case == "causal":
        q, k, v = q, q, q
        extra = (None, np.triu(np.ones((3, 3), dtype=bool), 1))
        options = {"is_causal": True}
    if case == "per-head weights":
        options = {"average_attn_weights": False}

    def call(module):
        def run(q, k, v, *masks):
            padding, attn = (list(masks) + [None, None])[:2]
            return module(q, k, v, key_padding_mask=padding, attn_mask=attn, **options)
        return run

    same_as_torch(call(ours), call(theirs), q, k, v, *[m for m in extra if m is not None]) if case != "causal" else \
        same_as_torch(lambda q: ours(q, q, q, attn_mask=pg.tensor(extra[1]), **options),
                      lambda q: theirs(q, q, q, attn_mask=torch.tensor(extra[1]), **options), q)


MHA_OPTIONS = [dict(kdim=3, vdim=5), dict(kdim=3, vdim=5, bias=False), dict(add_bias_kv=True),
               dict(add_zero_attn=True), dict(kdim=4, add_bias_kv=True, add_zero_attn=True, batch_first=True)]


@needs_torch
@pytest.mark.parametrize("options", MHA_OPTIONS, ids=str)
@pytest.mark.parametrize("masks", [False, True], ids=["no masks", "masks"])
def test_multihead_attention_options_match_torch(options, masks):
    ours = nn.MultiheadAttention(6, 2, dtype="float64", **options)
    theirs = torch.nn.MultiheadAttention(6, 2, dtype=torch.float64, **options)
    names = {name: tuple(p.shape) for name, p in ours.named_parameters()}
    assert names == {name: tuple(p.shape) for name, p in theirs.named_parameters()}
    with torch.no_grad():
        for p in theirs.parameters():
            p.uniform_(-0.5, 0.5)
    copy_parameters(ours, theirs)
    batch_first = options.get("batch_first", False)
    kdim, vdim = options.get("kdim", 6), options.get("vdim", 6)
    q = host(4, 3, 6) if batch_first else host(3, 4, 6)
    k, v = (host(4, 5, d) if batch_first else host(5, 4, d) for d in (kdim, vdim))
    padding, attn = host(4, 5), host(3, 5)  # float masks (PyTorch warns when the two kinds differ)

    def call(module, mask):
        return lambda q, k, v: module(q, k, v, key_padding_mask=mask(padding) if masks else None,
                                      attn_mask=mask(attn) if masks else None)

    same_as_torch(call(ours, pg.tensor), call(theirs, torch.tensor), q, k, v)
    same_parameter_grads(ours, theirs)


def test_multihead_attention_gradcheck(target64):
    layer = nn.MultiheadAttention(4, 2, backend=target64.backend, device=target64.device, dtype="float64")
    x = target64.tensor(host(3, 1, 4))
    padding = target64.tensor([[False, False, True]], dtype="bool")
    pg.gradcheck(lambda x: layer(x, x, x, key_padding_mask=padding)[0], [x], check_forward=True)
    layer = nn.MultiheadAttention(4, 2, add_bias_kv=True, add_zero_attn=True, kdim=3, backend=target64.backend,
                                  device=target64.device, dtype="float64")
    k = target64.tensor(host(3, 1, 3))
    pg.gradcheck(lambda x, k: layer(x, k, x, key_padding_mask=padding, attn_mask=~padding)[0], [x, k])


@needs_torch
@pytest.mark.parametrize("options", [dict(), dict(norm_first=True, activation="gelu", batch_first=True)], ids=str)
def test_transformer_encoder_layer_matches_torch(options):
    ours = nn.TransformerEncoderLayer(6, 2, 10, dtype="float64", **options)
    theirs = torch.nn.TransformerEncoderLayer(6, 2, 10, dtype=torch.float64, **options)
    with torch.no_grad():
        for p in theirs.parameters():
            p.uniform_(-0.5, 0.5)
    copy_parameters(ours, theirs)
    ours.eval()
    theirs.eval()
    x = host(3, 4, 6)
    padding = np.array([[False] * 3 + [True]] * 3 + [[False] * 4]) if options else None
    if padding is None:
        same_as_torch(ours, theirs, x)
        mask = np.triu(np.ones((3, 3), dtype=bool), 1)
        same_as_torch(lambda x: ours(x, src_mask=pg.tensor(mask)), lambda x: theirs(x, src_mask=torch.tensor(mask)), x)
    else:
        same_as_torch(lambda x: ours(x, src_key_padding_mask=pg.tensor(padding[:, :3])),
                      lambda x: theirs(x, src_key_padding_mask=torch.tensor(padding[:, :3])), host(4, 3, 6))


def _randomized(module):
    """`module` with every parameter drawn anew, so that each deep-copied layer differs."""
    with torch.no_grad():
        for p in module.parameters():
            p.uniform_(-0.5, 0.5)
    return module


@needs_torch
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_encoder_matches_torch(norm_first):
    options = dict(dim_feedforward=10, dropout=0.0, norm_first=norm_first)
    ours = nn.TransformerEncoder(nn.TransformerEncoderLayer(6, 2, dtype="float64", **options), 2,
                                 norm=nn.LayerNorm(6, dtype="float64"), enable_nested_tensor=False)
    theirs = _randomized(torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(6, 2, dtype=torch.float64, **options), 2,
        norm=torch.nn.LayerNorm(6, dtype=torch.float64), enable_nested_tensor=False))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert ours.layers[0].linear1.weight is not ours.layers[1].linear1.weight  # copies, not one layer twice
    copy_parameters(ours, theirs)
    mask, padding = np.triu(np.ones((3, 3), dtype=bool), 1), np.array([[False, False, True]] + [[False] * 3] * 3)
    same_as_torch(lambda x: ours(x, mask=pg.tensor(mask), src_key_padding_mask=pg.tensor(padding)),
                  lambda x: theirs(x, mask=torch.tensor(mask), src_key_padding_mask=torch.tensor(padding)),
                  host(3, 4, 6))
    same_parameter_grads(ours, theirs)


@needs_torch
@pytest.mark.parametrize("options", [dict(), dict(norm_first=True, activation="gelu", batch_first=True)], ids=str)
def test_transformer_decoder_matches_torch(options):
    options = dict(dim_feedforward=10, dropout=0.0, **options)
    ours = nn.TransformerDecoder(nn.TransformerDecoderLayer(6, 2, dtype="float64", **options), 2,
                                 norm=nn.LayerNorm(6, dtype="float64"))
    theirs = _randomized(torch.nn.TransformerDecoder(
        torch.nn.TransformerDecoderLayer(6, 2, dtype=torch.float64, **options), 2,
        norm=torch.nn.LayerNorm(6, dtype=torch.float64)))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    copy_parameters(ours, theirs)
    batch_first = options.get("batch_first", False)
    tgt, memory = (host(4, 3, 6), host(4, 5, 6)) if batch_first else (host(3, 4, 6), host(5, 4, 6))
    causal = np.triu(np.ones((3, 3), dtype=bool), 1)
    padding = np.array([[False] * 4 + [True]] * 2 + [[False] * 5] * 2)
    masks = lambda tensor: dict(tgt_mask=tensor(causal), memory_key_padding_mask=tensor(padding))  # noqa: E731
    same_as_torch(lambda t, m: ours(t, m, **masks(pg.tensor)), lambda t, m: theirs(t, m, **masks(torch.tensor)),
                  tgt, memory)
    same_parameter_grads(ours, theirs)
    layer_ours, layer_theirs = ours.layers[1], theirs.layers[1]  # one layer alone, with a float memory mask
    layer_ours.zero_grad()
    layer_theirs.zero_grad()
    memory_mask = host(3, 5)
    same_as_torch(lambda t, m: layer_ours(t, m, memory_mask=pg.tensor(memory_mask)),
                  lambda t, m: layer_theirs(t, m, memory_mask=torch.tensor(memory_mask)), tgt, memory)
    same_parameter_grads(layer_ours, layer_theirs)


def test_transformer_encoder_layer_trains_with_dropout(target64):
    layer = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.2, backend=target64.backend, device=target64.device,
                                       dtype="float64")
    x = target64.tensor(host(3, 2, 4))
    pg.manual_seed(1)
    pg.sum(layer(x) ** 2).backward()
    assert all(p.grad is not None and np.isfinite(p.grad.numpy()).all() for p in layer.parameters())
    layer.eval()
    pg.gradcheck(lambda x: layer(x), [x])


def test_attention_errors():
    with pytest.raises(ValueError, match="embed_dim 6 must be divisible by num_heads 4"):
        nn.MultiheadAttention(6, 4)
    with pytest.raises(pg.ShapeError, match="scaled_dot_product_attention: query"):
        F.scaled_dot_product_attention(pg.zeros((2, 3)), pg.zeros((4, 2)), pg.zeros((4, 2)))
    with pytest.raises(ValueError, match="TransformerEncoderLayer: activation must be"):
        nn.TransformerEncoderLayer(4, 2, activation="swish")
    with pytest.raises(ValueError, match="TransformerDecoderLayer: activation must be"):
        nn.TransformerDecoderLayer(4, 2, activation="swish")


@needs_torch
@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_matches_torch(batch_first):
    options = dict(d_model=6, nhead=2, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=10, dropout=0.0,
                   batch_first=batch_first)
    ours = nn.Transformer(dtype="float64", **options)
    theirs = _randomized(torch.nn.Transformer(dtype=torch.float64, **options))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    copy_parameters(ours, theirs)
    src, tgt = (host(4, 5, 6), host(4, 3, 6)) if batch_first else (host(5, 4, 6), host(3, 4, 6))
    pg_mask = nn.Transformer.generate_square_subsequent_mask(3, dtype="float64")
    torch_mask = torch.nn.Transformer.generate_square_subsequent_mask(3, dtype=torch.float64)
    np.testing.assert_array_equal(pg_mask.numpy(), torch_mask.numpy())
    same_as_torch(lambda s, t: ours(s, t, tgt_mask=pg_mask), lambda s, t: theirs(s, t, tgt_mask=torch_mask), src, tgt)
    same_parameter_grads(ours, theirs)


def test_transformer_initialises_weight_matrices_xavier_uniform():
    model = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=16)
    weight = model.encoder.layers[0].linear1.weight.numpy()
    bound = np.sqrt(6 / (8 + 16))
    assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.8 * bound
