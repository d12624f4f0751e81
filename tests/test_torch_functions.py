"""The PyTorch names that real training scripts reach for (issue 20), each against torch itself.

Deterministic functions run on every backend (`target`) and must give torch's values and dtype
kinds; differentiable ones also give torch's gradients (`same_as_torch`). Random draws cannot
match torch's stream: their shape, dtype, device, range and distribution are checked instead,
and the calls that need CUDA behave as torch's do on a machine without it.
"""

import io

import numpy as np
import pytest
from torch_oracle import copy_parameters, needs_torch, same_as_torch, torch

import polygrad as pg

RNG = np.random.default_rng(7)
A = RNG.normal(size=(3, 4))
C = RNG.normal(size=(2, 3, 4))
SPECIAL = np.array([[np.nan, np.inf, -np.inf, 1.5], [-2.5, 0.0, 3.0, -0.0]])
INTS = np.array([3, 1, 2, 3, 1, 0, 7])


def _values(result):
    """Host values of a result (tensor, tuple of tensors, number) of either library."""
    if isinstance(result, (tuple, list)):
        return [_values(r) for r in result]
    if isinstance(result, pg.Tensor):
        return result.numpy()
    if torch is not None and isinstance(result, torch.Tensor):
        return result.detach().numpy()
    return result


def _same(ours, theirs, tol):
    if isinstance(theirs, list):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _same(a, b, tol)
        return
    assert np.shape(ours) == np.shape(theirs)
    assert np.asarray(ours).dtype.kind == np.asarray(theirs).dtype.kind or np.asarray(theirs).dtype.kind == "u"
    np.testing.assert_allclose(np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float), rtol=tol, atol=tol)


# (library, inputs made by it) -> result; run with polygrad on every backend and with torch
SNIPPETS = {
    "fmod": lambda T, a, s, i: T.fmod(a * 3, 1.3),
    "fmod_tensor_int": lambda T, a, s, i: T.fmod(i - 4, i % 3 - 3),
    "fmod_method": lambda T, a, s, i: (a * 5).fmod(-2.0),
    "frac": lambda T, a, s, i: (a * 4).frac(),
    "nan_to_num": lambda T, a, s, i: T.nan_to_num(s),
    "nan_to_num_given": lambda T, a, s, i: s.nan_to_num(nan=1.0, posinf=9.0, neginf=-9.0),
    "diagonal": lambda T, a, s, i: (a.diagonal(), T.diagonal(a, 1), a.diagonal(-1)),
    "diagonal_dims": lambda T, a, s, i: T.diagonal(T.stack([a, a * 2]), offset=1, dim1=2, dim2=1),
    "select": lambda T, a, s, i: (a.select(1, 2), T.select(a, 0, -1)),
    # torch.trace/tril/triu (PyTorch's meaning under `polygrad run`) are in test_torch_hook.py
    "trace": lambda T, a, s, i: (a.trace(), T.reshape(i[:4], (2, 2)).trace()),
    "tril_triu": lambda T, a, s, i: (a.tril(), a.triu(1), a.tril(-1), a.triu(diagonal=2)),
    "asin_family": lambda T, a, s, i: ((a / 3).asin(), (a / 3).acos(), a.atan(), a.sinh(), (a / 3).atanh()),
    "rot90": lambda T, a, s, i: (T.rot90(a), a.rot90(2), T.rot90(a, -1, (1, 0)), T.rot90(a, 7)),
    "kron": lambda T, a, s, i: (T.kron(a, a[:2, :3]), T.kron(a[0], a[:2])),
    "unique": lambda T, a, s, i: T.unique(i, return_inverse=True, return_counts=True),
    "unique_method": lambda T, a, s, i: T.reshape(i[:6], (2, 3)).unique(),
    "bincount": lambda T, a, s, i: (T.bincount(i), T.bincount(i, minlength=10), i.bincount(weights=a.flatten()[:7])),
    "bincount_int_weights": lambda T, a, s, i: T.bincount(i, weights=i * 2),
    "typed": lambda T, a, s, i: (T.LongTensor([1, 2]), T.FloatTensor([[1.5]]), T.DoubleTensor(2, 3).shape[1],
                                 T.BoolTensor([True, False]), T.LongTensor().shape[0]),
    "typed_isinstance": lambda T, a, s, i: (isinstance(i, T.LongTensor), isinstance(i, T.FloatTensor),
                                            isinstance(a.float(), T.FloatTensor)),
    "format": lambda T, a, s, i: (f"{a.sum():.4f}", f"{i.sum()}", f"{a[0, 0]:+.2e}", format(i.max(), "3d")),
    "randint_shapes": lambda T, a, s, i: [T.randint(5, (3, 2)).shape[0], T.randint(2, 5, (4,)).min() >= 2,
                                          T.randint(3, size=(2,)).dtype == T.int64],
}

NEEDS_FLOAT64 = {"bincount_int_weights", "typed"}


@pytest.mark.parametrize("name", list(SNIPPETS))
def test_snippet_matches_torch(target, name):
    if name in NEEDS_FLOAT64 and target.device == "no_float64":
        pytest.skip("torch answers in float64, which this device lacks")
    previous = pg.set_default_backend(target.backend)  # tensors the snippet makes itself go there too
    try:
        ours = SNIPPETS[name](pg, target.tensor(A), target.tensor(SPECIAL), target.tensor(INTS, dtype="int64"))
    finally:
        pg.set_default_backend(previous)
    if torch is None:
        pytest.skip("torch is not installed: the snippet ran, nothing to compare with")
    dtype = getattr(torch, target.dtype)
    theirs = SNIPPETS[name](torch, torch.tensor(A, dtype=dtype), torch.tensor(SPECIAL, dtype=dtype), torch.tensor(INTS))
    _same(_values(ours), _values(theirs), target.tol)


def test_format_refuses_a_spec_for_a_tensor_of_many_values_as_torch():
    assert f"{pg.tensor([1.0, 2.0])}" == str(pg.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="unsupported format string passed to Tensor.__format__"):
        f"{pg.tensor([1.0, 2.0]):.2f}"


# ================================================================ gradients, as torch's
GRADIENTS = {
    "fmod": (lambda m, x: m.fmod(x * 3, x[0] + 2.5), [A]),
    "frac": (lambda m, x: (x * 4).frac(), [A]),
    "nan_to_num": (lambda m, x: m.nan_to_num(x / (x > 0)), [A]),
    "diagonal": (lambda m, x: m.diagonal(x, 1, 2, 0), [C]),
    "select_trace": (lambda m, x: x.select(1, 2) * x[:, :3].trace(), [A]),
    "rot90_kron": (lambda m, x: m.kron(m.rot90(x, 1, (0, 1)).contiguous(), x[:2, :2]), [A]),
    "asin": (lambda m, x: (x / 3).asin(), [A]),
    "Tensor.addmm": (lambda m, x: x[:2, :2].addmm(x[:2], x.T[:, :2], beta=0.5, alpha=-2), [A]),
    "Tensor.baddbmm": (lambda m, x: x[:2, :2].baddbmm(x[None, :2], x.T[None, :, :2], alpha=3), [A]),
}


@needs_torch
@pytest.mark.parametrize("name", list(GRADIENTS))
def test_gradients_match_torch(name):
    f, arrays = GRADIENTS[name]
    same_as_torch(lambda *xs: f(pg, *xs), lambda *xs: f(torch, *xs), *arrays)


# ================================================================ nn layers and functions
LAYERS = {
    "conv3d": (lambda nn: nn.Conv3d(3, 4, (2, 3, 2), stride=(1, 2, 1), padding=1), (2, 3, 5, 6, 7)),
    "conv_transpose3d": (lambda nn: nn.ConvTranspose3d(3, 2, 2, stride=2), (2, 3, 3, 4, 2)),
    "max_pool3d": (lambda nn: nn.MaxPool3d(2, stride=1), (2, 3, 4, 5, 3)),
    "avg_pool3d": (lambda nn: nn.AvgPool3d(2, padding=1), (2, 3, 4, 5, 3)),
    "adaptive_avg3d": (lambda nn: nn.AdaptiveAvgPool3d((2, 3, 2)), (2, 3, 5, 7, 3)),
    "adaptive_max3d": (lambda nn: nn.AdaptiveMaxPool3d((2, 3, 2)), (2, 3, 5, 7, 3)),
    "adaptive_max1d": (lambda nn: nn.AdaptiveMaxPool1d(3), (2, 3, 7)),
    "lp_pool1d": (lambda nn: nn.LPPool1d(2, 3, stride=2), (2, 3, 9)),
    "lp_pool2d": (lambda nn: nn.LPPool2d(3, (2, 3)), (2, 3, 6, 7)),
    "lp_pool3d": (lambda nn: nn.LPPool3d(1.5, 2), (2, 3, 4, 4, 4)),
    "upsample_bicubic": (lambda nn: nn.Upsample(size=(9, 5), mode="bicubic"), (2, 3, 4, 6)),
    "upsample_bicubic_corners": (lambda nn: nn.Upsample(scale_factor=1.7, mode="bicubic", align_corners=True),
                                 (2, 3, 4, 6)),
    "upsample_nearest_exact": (lambda nn: nn.Upsample(scale_factor=2.5, mode="nearest-exact"), (2, 3, 4, 6)),
    "upsample_trilinear": (lambda nn: nn.Upsample(size=(3, 5, 4), mode="trilinear"), (1, 2, 2, 3, 5)),
}


@needs_torch
@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_matches_torch_with_gradients(name):
    build, shape = LAYERS[name]
    theirs = build(torch.nn).double()
    ours = build(pg.nn).double()
    if list(theirs.parameters()):
        copy_parameters(ours, theirs)
    x = np.abs(RNG.normal(size=shape)) if name.startswith("lp_pool") else RNG.normal(size=shape)  # p-th roots
    same_as_torch(ours, theirs, x)


@needs_torch
def test_conv_transpose_output_size_picks_the_size_as_torch():
    theirs = torch.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1).double()
    ours = pg.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1).double()
    copy_parameters(ours, theirs)
    x = RNG.normal(size=(2, 3, 7, 9))
    for size in ([2, 3, 14, 18], (13, 17), (14, 17)):
        same_as_torch(lambda t: ours(t, output_size=size), lambda t: theirs(t, output_size=size), x)
    with pytest.raises(ValueError, match=r"ConvTranspose2d: requested an output size of \(15, 17\).*13 to 14"):
        ours(pg.tensor(x), output_size=(15, 17))
    with pytest.raises(ValueError):
        theirs(torch.tensor(x), output_size=(15, 17))


@needs_torch
@pytest.mark.parametrize("n, size", [(1, 4), (2, (3, 4)), (3, (2, 3, 2))])
def test_adaptive_max_pool_returns_torch_indices(n, size):
    x = RNG.normal(size=(2, 3) + (7, 9, 5)[:n])
    ours = getattr(pg.nn, f"AdaptiveMaxPool{n}d")(size, return_indices=True)
    theirs = getattr(torch.nn, f"AdaptiveMaxPool{n}d")(size, return_indices=True)
    same_as_torch(lambda t: ours(t)[0], lambda t: theirs(t)[0], x)
    np.testing.assert_array_equal(ours(pg.tensor(x))[1].numpy(), theirs(torch.tensor(x))[1].numpy())


@needs_torch
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_matches_torch(mode):
    theirs = torch.nn.EmbeddingBag(10, 3, mode=mode, padding_idx=2).double()
    ours = pg.nn.EmbeddingBag(10, 3, mode=mode, padding_idx=2).double()
    copy_parameters(ours, theirs)
    bags = np.array([[1, 2, 4, 0], [4, 3, 2, 9]])
    flat, offsets = np.array([1, 2, 4, 0, 4, 3, 2]), np.array([0, 2, 2, 5])
    for index, extra in ((bags, {}), (flat, {"offsets": offsets})):
        out = ours(pg.tensor(index), **{k: pg.tensor(v) for k, v in extra.items()})
        expected = theirs(torch.tensor(index), **{k: torch.tensor(v) for k, v in extra.items()})
        np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12)
        out.sum().backward()
        expected.sum().backward()
        np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-12)
        ours.zero_grad()
        theirs.zero_grad()
    weights = RNG.normal(size=bags.shape)
    if mode == "sum":
        np.testing.assert_allclose(ours(pg.tensor(bags), per_sample_weights=pg.tensor(weights)).numpy(),
                                   theirs(torch.tensor(bags), per_sample_weights=torch.tensor(weights)).detach().numpy())


# ================================================================ random draws
def test_like_draws_take_the_input_shape_dtype_and_device(target):
    x = target.tensor(A)
    for draw in (pg.rand_like(x), pg.randn_like(x), pg.randint_like(x, 5), pg.randint_like(x, 2, 4)):
        assert draw.shape == x.shape and draw.dtype == x.dtype and draw.device == x.device
    assert float(pg.rand_like(x).min()) >= 0 and float(pg.rand_like(x).max()) < 1
    assert set(np.unique(pg.randint_like(x, 2, 4).numpy())) <= {2.0, 3.0}
    assert pg.randn_like(x, dtype="float32").dtype == pg.float32
    assert pg.randint_like(target.tensor(INTS, dtype="int64"), 3).dtype == pg.int64
    assert pg.randn_like(x, requires_grad=True).requires_grad


def test_randint_takes_torchs_high_size_form():
    pg.manual_seed(3)
    drawn = pg.randint(4, (1000,))
    assert drawn.shape == (1000,) and drawn.dtype == pg.int64
    assert sorted(np.unique(drawn.numpy()).tolist()) == [0, 1, 2, 3]
    assert pg.randint(2, 5, size=(3, 2)).shape == (3, 2)
    with pytest.raises(TypeError, match="randint: missing the shape"):
        pg.randint(5)


@pytest.mark.parametrize("replacement", [True, False])
def test_multinomial_draws_in_proportion_to_the_weights(target, replacement):
    weights = target.tensor([[1.0, 0.0, 3.0, 4.0], [2.0, 2.0, 0.0, 0.0]])
    gen = pg.random.Generator(0, device=target.device, backend=target.backend)
    if replacement:
        drawn = pg.multinomial(weights, 8000, replacement=True, generator=gen).numpy()
        assert drawn.shape == (2, 8000) and drawn.dtype == np.int64
        np.testing.assert_allclose(np.bincount(drawn[0], minlength=4) / 8000, [1 / 8, 0, 3 / 8, 4 / 8], atol=0.02)
        np.testing.assert_allclose(np.bincount(drawn[1], minlength=4) / 8000, [0.5, 0.5, 0, 0], atol=0.02)
        return
    rows = pg.broadcast_to(weights[0], (3000, 4))  # 3000 independent draws of 3, one row each
    firsts = pg.multinomial(rows, 3, generator=gen).numpy()
    assert all(len(set(row)) == 3 and 1 not in row for row in firsts)  # distinct, never the zero weight
    # the first draw is in proportion to the weights; later ones come from what is left
    np.testing.assert_allclose(np.bincount(firsts[:, 0], minlength=4) / 3000, [1 / 8, 0, 3 / 8, 4 / 8], atol=0.03)


@needs_torch
@pytest.mark.parametrize("weights, args", [
    ([-1.0, 1.0], (1,)), ([0.0, 0.0], (1, True)), ([1.0, 1.0], (3,)), ([np.nan, 1.0], (1,)),
])
def test_multinomial_refuses_what_torch_refuses(weights, args):
    with pytest.raises(RuntimeError):
        torch.multinomial(torch.tensor(weights), *args)
    with pytest.raises(RuntimeError, match="multinomial"):
        pg.multinomial(pg.tensor(weights), *args)


def test_bernoulli_and_normal_draw_what_they_are_asked():
    pg.manual_seed(0)
    p = pg.full((20000,), 0.3, dtype="float64")
    drawn = pg.bernoulli(p).numpy()
    assert set(np.unique(drawn)) == {0.0, 1.0} and abs(drawn.mean() - 0.3) < 0.02
    mean, std = pg.tensor([0.0, 10.0], requires_grad=True), pg.tensor([1.0, 0.1])
    draws = pg.normal(mean, std)
    assert draws.shape == (2,) and draws.requires_grad
    assert pg.normal(2.0, 0.5, size=(4, 3)).shape == (4, 3)
    big = pg.normal(3.0, 2.0, size=(20000,)).numpy()
    assert abs(big.mean() - 3.0) < 0.06 and abs(big.std() - 2.0) < 0.06


# ================================================================ module state, dtypes, devices
@needs_torch
def test_tied_weights_are_in_the_state_dict_under_each_name_as_torch():
    def tied(nn):
        model = nn.Sequential(nn.Embedding(5, 3), nn.Linear(3, 5, bias=False))
        model[1].weight = model[0].weight
        return model

    theirs, ours = tied(torch.nn), tied(pg.nn)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["0.weight", "1.weight"]
    assert len(list(ours.parameters())) == len(list(theirs.parameters())) == 1
    state = {k: pg.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()}
    ours.load_state_dict(state, strict=True)
    np.testing.assert_array_equal(ours[1].weight.numpy(), theirs[0].weight.detach().numpy())


@needs_torch
@pytest.mark.parametrize("set_to_none", [True, False])
def test_module_zero_grad_as_torch(set_to_none):
    results = []
    for T in (pg, torch):
        layer = T.nn.Linear(2, 1)
        layer(T.ones(1, 2)).sum().backward()
        layer.zero_grad(set_to_none=set_to_none)
        results.append(None if layer.weight.grad is None else _values(layer.weight.grad).tolist())
    assert results[0] == results[1]


@needs_torch
def test_default_dtype_takes_and_gives_dtype_objects():
    previous = pg.get_default_dtype()
    try:
        pg.set_default_dtype(pg.float64)
        assert pg.get_default_dtype() is pg.float64 and pg.get_default_dtype() == "float64"
        assert pg.ones(2).dtype == pg.float64 and (pg.ones(2) * 2).sum().dtype == pg.float64
        pg.set_default_dtype(pg.float)
        assert pg.zeros(1).dtype == pg.float32
        with pytest.raises(ValueError, match="set_default_dtype: expected pg.float32 or pg.float64"):
            pg.set_default_dtype(pg.int64)
    finally:
        pg.set_default_dtype(previous)
    assert str(torch.get_default_dtype()).endswith(str(pg.get_default_dtype()))


@needs_torch
def test_cuda_calls_without_cuda_answer_as_torch():
    if torch.cuda.is_available() or pg.cuda.is_available():
        pytest.skip("this machine has CUDA")
    for name in ("is_available", "is_bf16_supported", "device_count"):
        assert getattr(pg.cuda, name)() == getattr(torch.cuda, name)()
    pg.cuda.manual_seed_all(3)  # no-ops, as torch's
    pg.cuda.manual_seed(3)
    pg.cuda.empty_cache()
    for name, args in (("synchronize", ()), ("set_device", (0,)), ("current_device", ())):
        with pytest.raises((RuntimeError, AssertionError, AttributeError)):
            getattr(torch.cuda, name)(*args)
        with pytest.raises(RuntimeError, match=f"cuda.{name}: no CUDA device"):
            getattr(pg.cuda, name)(*args)


def test_cuda_manual_seed_all_leaves_the_cpu_generator_alone():
    pg.manual_seed(5)
    first = pg.rand(3).numpy()
    pg.manual_seed(5)
    pg.cuda.manual_seed_all(99)
    np.testing.assert_array_equal(pg.rand(3).numpy(), first)


# ================================================================ data
def test_a_sampler_of_ten_billion_draws_starts_at_once():
    data = pg.data.TensorDataset(np.arange(10.0))
    sampler = pg.data.RandomSampler(data, replacement=True, num_samples=10**10, generator=1)
    loader = pg.data.DataLoader(data, batch_size=4, sampler=sampler)
    assert len(loader) == 10**10 // 4
    batch = next(iter(loader))[0].numpy()
    assert batch.shape == (4,) and set(batch) <= set(range(10))
    first = list(zip(range(5000), iter(pg.data.RandomSampler(data, replacement=True, num_samples=10**10))))
    assert len(first) == 5000


@needs_torch
def test_iterable_dataset_batches_as_torch():
    def stream(T):
        class Squares(T.utils.data.IterableDataset):
            def __iter__(self):
                return iter([(float(i * i), i) for i in range(7)])

        return Squares()

    for drop_last in (False, True):
        ours = [[b.numpy().tolist() for b in batch]
                for batch in pg.data.DataLoader(stream(pg), batch_size=3, drop_last=drop_last)]
        theirs = [[b.numpy().tolist() for b in batch]
                  for batch in torch.utils.data.DataLoader(stream(torch), batch_size=3, drop_last=drop_last)]
        assert ours == theirs
    with pytest.raises(TypeError):
        len(torch.utils.data.DataLoader(stream(torch)))
    with pytest.raises(TypeError, match="has no len"):
        len(pg.data.DataLoader(stream(pg)))


def test_save_keeps_numpy_arrays_and_loads_a_whole_model_only_when_asked(tmp_path):
    array = np.arange(6, dtype=np.int32).reshape(2, 3)
    pg.save({"array": array}, tmp_path / "array.pt")
    loaded = pg.load(tmp_path / "array.pt")["array"]
    assert isinstance(loaded, np.ndarray) and loaded.dtype == np.int32
    np.testing.assert_array_equal(loaded, array)
    model = pg.nn.Sequential(pg.nn.Linear(2, 3), pg.nn.ReLU())
    pg.save(model, tmp_path / "model.pt")
    with pytest.raises(pg.checkpoint.CheckpointError, match=r"pickled objects \(polygrad.nn.module.Sequential\)"):
        pg.load(tmp_path / "model.pt")
    again = pg.load(tmp_path / "model.pt", weights_only=False)
    x = pg.ones(1, 2)
    np.testing.assert_array_equal(again(x).numpy(), model(x).numpy())


def test_save_and_load_take_file_objects_as_torch(tmp_path):
    with open(tmp_path / "data.pt", "wb") as f:  # as pytorch/examples' generate_sine_wave.py saves
        pg.save(np.sin(np.arange(4.0)), f)
    with open(tmp_path / "data.pt", "rb") as f:
        np.testing.assert_array_equal(pg.load(f), np.sin(np.arange(4.0)))
    with open(tmp_path / "data.pt", "rb") as f:
        f.read(10)
        with pytest.raises(pg.checkpoint.CheckpointError, match="load: <file object>: unreadable checkpoint"):
            pg.load(io.BytesIO(f.read()))
