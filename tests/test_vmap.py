"""vmap and pg.func against torch.func (float64) and against a loop over the samples, on every backend."""

import numpy as np
import pytest

import polygrad as pg
from polygrad import nn
from primitive_cases import CASES
from torch_oracle import copy_parameters, needs_torch, torch

rng = np.random.default_rng(0)
X = rng.standard_normal((4, 3, 5))  # a batch of 4 samples of shape (3, 5)
W = rng.standard_normal((5, 2))


def tf():
    return torch.func


def same_as_torch(ours, theirs, *arrays):
    """ours(*Tensors) and theirs(*torch tensors) agree in value and in the gradient of each input under one
    random cotangent (everything on the backend under test; torch_oracle's helper mixes in a NumPy one)."""
    mine = [pg.tensor(a, requires_grad=True) for a in arrays]
    other = [torch.tensor(a, requires_grad=True) for a in arrays]
    got, want = ours(*mine), theirs(*other)
    assert tuple(got.shape) == tuple(want.shape)
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-10, atol=1e-12)
    weights = np.random.default_rng(1).standard_normal(tuple(want.shape))
    pg.sum(got * pg.tensor(weights)).backward()
    (want * torch.tensor(weights)).sum().backward()
    for m, o in zip(mine, other):
        np.testing.assert_allclose(m.grad.numpy(), o.grad.numpy(), rtol=1e-9, atol=1e-11)


# ---------------------------------------------------------------- against torch.func (values and grad of vmap)
@needs_torch
@pytest.mark.parametrize("name, ours, theirs", [
    ("elementwise", lambda x: pg.sin(x) * x + 1.5, lambda x: torch.sin(x) * x + 1.5),
    ("broadcast", lambda x: x * pg.tensor(W[:, 0]) - x[:1], lambda x: x * torch.tensor(W[:, 0]) - x[:1]),
    ("sum axis", lambda x: pg.sum(x, axis=1), lambda x: x.sum(1)),
    ("mean all", lambda x: pg.mean(x), lambda x: x.mean()),
    ("max keepdims", lambda x: pg.max(x, axis=0, keepdims=True), lambda x: x.amax(0, keepdim=True)),
    ("var", lambda x: pg.var(x, axis=-1), lambda x: x.var(-1, unbiased=False)),
    ("logsumexp", lambda x: pg.logsumexp(x, axis=0), lambda x: torch.logsumexp(x, 0)),
    ("matmul by unbatched", lambda x: x @ pg.tensor(W), lambda x: x @ torch.tensor(W)),
    ("vector matmul", lambda x: x[0] @ pg.tensor(W), lambda x: x[0] @ torch.tensor(W)),
    ("matrix @ vector", lambda x: pg.tensor(W.T) @ x[1], lambda x: torch.tensor(W.T) @ x[1]),
    ("self matmul", lambda x: x @ x.mT, lambda x: x @ x.mT),
    ("reshape", lambda x: pg.reshape(x, (5, 3)), lambda x: x.reshape(5, 3)),
    ("flatten", lambda x: pg.reshape(x, (-1,)), lambda x: x.reshape(-1)),
    ("transpose", lambda x: x.T, lambda x: x.T),
    ("permute expand", lambda x: pg.expand_dims(pg.permute_dims(x, (1, 0)), axis=0),
     lambda x: x.permute(1, 0).unsqueeze(0)),
    ("broadcast_to", lambda x: pg.broadcast_to(x[0], (2, 5)), lambda x: x[0].expand(2, 5)),
    ("getitem", lambda x: x[1:, ::2], lambda x: x[1:, ::2]),
    ("getitem int None", lambda x: x[..., 2, None], lambda x: x[..., 2, None]),
    ("getitem array", lambda x: x[pg.asarray([2, 0])], lambda x: x[torch.tensor([2, 0])]),
    ("concat", lambda x: pg.concat([x, 2 * x], axis=1), lambda x: torch.cat([x, 2 * x], 1)),
    ("stack", lambda x: pg.stack([x, x ** 2], axis=0), lambda x: torch.stack([x, x ** 2], 0)),
    ("where", lambda x: pg.where(x > 0, x, pg.tensor(0.5) * x), lambda x: torch.where(x > 0, x, 0.5 * x)),
    ("softmax", lambda x: pg.softmax(x, axis=-1), lambda x: torch.softmax(x, -1)),
    ("log_softmax", lambda x: pg.log_softmax(x, axis=0), lambda x: torch.log_softmax(x, 0)),
    ("cumsum", lambda x: pg.cumulative_sum(x, axis=1), lambda x: torch.cumsum(x, 1)),
    ("flip", lambda x: pg.flip(x), lambda x: torch.flip(x, (0, 1))),
])
def test_vmap_matches_torch_func(name, ours, theirs):
    same_as_torch(lambda x: pg.vmap(ours)(x), lambda x: tf().vmap(theirs)(x), X)


@needs_torch
@pytest.mark.parametrize("name, ours, theirs", [
    ("getitem", lambda x, i: x[:, i], lambda x, i: x[:, i]),
    ("take_along_axis", lambda x, i: pg.take_along_axis(x, pg.broadcast_to(i[None], (3, 2)), axis=1),
     lambda x, i: torch.take_along_dim(x, i[None].expand(3, 2), 1)),
    ("sort", lambda x, i: pg.sort(x, axis=-1) * i[0], lambda x, i: torch.sort(x, -1).values * i[0]),
])
def test_indices_that_differ_per_sample(name, ours, theirs):
    indices = rng.integers(0, 5, (4, 2))
    got = pg.vmap(ours)(pg.tensor(X, requires_grad=True), pg.tensor(indices))
    want = torch.func.vmap(theirs)(torch.tensor(X, requires_grad=True), torch.tensor(indices))
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-12)
    grad = pg.func.grad(lambda x: pg.sum(pg.vmap(ours)(x, pg.tensor(indices)) ** 2))(pg.tensor(X))
    want_grad = torch.func.grad(lambda x: (torch.func.vmap(theirs)(x, torch.tensor(indices)) ** 2).sum())(
        torch.tensor(X))
    np.testing.assert_allclose(grad.numpy(), want_grad.numpy(), rtol=1e-12)


def test_unsupported_batched_indices_raise(target64):
    weight = target64.tensor(np.ones((5, 3)))
    with pytest.raises(NotImplementedError, match="vmap: embedding"):
        pg.vmap(lambda i: pg.nn.functional.embedding(i, weight))(target64.tensor(np.zeros((2, 3), dtype=np.int64),
                                                                                 dtype="int64"))


@needs_torch
@pytest.mark.parametrize("in_dims, out_dims", [(1, 0), (-1, 1), (2, -1), (0, 2)])
def test_in_dims_and_out_dims(in_dims, out_dims):
    same_as_torch(lambda x: pg.vmap(lambda v: v * pg.sum(v), in_dims, out_dims)(x),
                  lambda x: tf().vmap(lambda v: v * v.sum(), in_dims, out_dims)(x), X)


@needs_torch
def test_in_dims_tuple_nested_and_none():
    def ours(x, pair, scale):
        return x * pair[0] + pair[1][:, 0] * scale

    def theirs(x, pair, scale):
        return x * pair[0] + pair[1][:, 0] * scale

    y = rng.standard_normal((5, 4))
    got = pg.vmap(ours, in_dims=(0, (1, None), None))(pg.tensor(X[:, 0]), (pg.tensor(y), pg.tensor(W)), 2.0)
    want = tf().vmap(theirs, in_dims=(0, (1, None), None))(torch.tensor(X[:, 0]), (torch.tensor(y), torch.tensor(W)),
                                                           2.0)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


@needs_torch
def test_tuple_and_dict_outputs_with_unbatched_output():
    def f(x):
        return {"a": x.sum(), "b": (x * 2, pg.ones((2,), dtype=pg.float64))}

    def g(x):
        return {"a": x.sum(), "b": (x * 2, torch.ones(2, dtype=torch.float64))}

    got = pg.vmap(f, out_dims={"a": 0, "b": (1, 0)})(pg.tensor(X))
    want = tf().vmap(g, out_dims={"a": 0, "b": (1, 0)})(torch.tensor(X))
    for a, b in [(got["a"], want["a"]), (got["b"][0], want["b"][0]), (got["b"][1], want["b"][1])]:
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)


@needs_torch
def test_nested_vmap():
    def ours(x, y):
        return pg.vmap(lambda a: pg.vmap(lambda b: pg.sum(a * b) + a[0] @ pg.tensor(W))(y))(x)

    def theirs(x, y):
        return tf().vmap(lambda a: tf().vmap(lambda b: (a * b).sum() + a[0] @ torch.tensor(W))(y))(x)

    same_as_torch(ours, theirs, X, rng.standard_normal((6, 3, 5)))


def test_chunk_size_gives_the_same_result(target64):
    x = target64.tensor(X)
    f = pg.vmap(lambda v: pg.softmax(v, axis=0) * v.sum())
    np.testing.assert_allclose(pg.vmap(lambda v: pg.softmax(v, axis=0) * v.sum(), chunk_size=3)(x).numpy(),
                               f(x).numpy(), rtol=1e-12)


def test_vmap_and_compile_compose(target64):
    x = target64.tensor(X[:, 0])
    want = np.sin(X[:, 0]).sum(axis=1)
    np.testing.assert_allclose(pg.compile(pg.vmap(lambda v: pg.sin(v).sum()))(x).numpy(), want, rtol=1e-12)
    inner = pg.compile(lambda v: pg.sin(v).sum())
    inner(x[0])  # traced outside vmap first: under vmap it must not replay on the whole batch
    np.testing.assert_allclose(pg.vmap(inner)(x).numpy(), want, rtol=1e-12)


# ---------------------------------------------------------------- every primitive: vmap equals the loop
def test_every_primitive_has_a_rule_or_is_listed_as_a_loop():
    from polygrad.autodiff import batching
    from polygrad.primitives.table import PRIMITIVES

    assert not set(batching.RULES) & set(batching.LOOP)
    assert set(batching.RULES) | set(batching.LOOP) == set(PRIMITIVES)
    assert all(PRIMITIVES[name].batch is None for name in batching.LOOP)


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_primitive_under_vmap_equals_a_loop(case, target64):
    """The batching rule (or the loop fallback) of each primitive, values and per-sample gradients."""
    f, inputs = CASES[case](target64)
    scales = (1.0, 1.01, 0.98)  # three samples near the case's inputs (kinks and ties stay away)
    batches = [pg.stack([x * s for s in scales], axis=0) for x in inputs]
    got = pg.vmap(f)(*batches)
    want = pg.stack([f(*[x * s for x in inputs]) for s in scales], axis=0)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)

    def loss(*xs):
        return pg.sum(f(*xs) ** 2)

    argnums = tuple(range(len(inputs)))
    got_grads = pg.vmap(pg.func.grad(loss, argnums))(*batches)
    for j, g in enumerate(got_grads):
        want_g = pg.stack([pg.func.grad(loss, argnums)(*[x * s for x in inputs])[j] for s in scales], axis=0)
        np.testing.assert_allclose(g.numpy(), want_g.numpy(), rtol=1e-9, atol=1e-11)


# ---------------------------------------------------------------- per-sample gradients (the torch.func tutorial)
def _mlp():
    ours = nn.Sequential(nn.Linear(5, 8, dtype="float64"), nn.Tanh(), nn.Linear(8, 3, dtype="float64"))
    theirs = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()
    copy_parameters(ours, theirs)
    return ours, theirs


def _cnn():
    ours = nn.Sequential(nn.Conv2d(1, 2, 3, dtype="float64"), nn.ReLU(), nn.Flatten(0),
                         nn.Linear(2 * 4 * 4, 3, dtype="float64"))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(0),
                                 torch.nn.Linear(2 * 4 * 4, 3)).double()
    copy_parameters(ours, theirs)
    return ours, theirs


@needs_torch
@pytest.mark.parametrize("model, shape", [(_mlp, (5,)), (_cnn, (1, 6, 6))])
def test_per_sample_gradients_match_torch_func(model, shape):
    ours, theirs = model()
    data = rng.standard_normal((6,) + shape)
    targets = rng.integers(0, 3, 6)

    def loss_ours(params, x, t):
        out = pg.func.functional_call(ours, params, (x[None],))
        return pg.nn.functional.cross_entropy(out.reshape(1, 3), t[None])

    def loss_theirs(params, x, t):
        out = tf().functional_call(theirs, params, (x[None],))
        return torch.nn.functional.cross_entropy(out.reshape(1, 3), t[None])

    params = {k: v.detach() for k, v in ours.named_parameters()}
    got = pg.vmap(pg.func.grad(loss_ours), in_dims=(None, 0, 0))(params, pg.tensor(data), pg.tensor(targets))
    want = tf().vmap(tf().grad(loss_theirs), in_dims=(None, 0, 0))(
        {k: v.detach() for k, v in theirs.named_parameters()}, torch.tensor(data), torch.tensor(targets))
    assert got.keys() == want.keys()
    for name in want:
        assert tuple(got[name].shape) == tuple(want[name].shape), name
        np.testing.assert_allclose(got[name].numpy(), want[name].numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


@needs_torch
def test_ensemble_with_stack_module_state():
    pairs = [_mlp() for _ in range(3)]
    params, buffers = pg.func.stack_module_state([p[0] for p in pairs])
    t_params, t_buffers = tf().stack_module_state([p[1] for p in pairs])
    x = rng.standard_normal((4, 5))
    base = pairs[0][0]
    got = pg.vmap(lambda p, b: pg.func.functional_call(base, (p, b), (pg.tensor(x),)))(params, buffers)
    want = tf().vmap(lambda p, b: tf().functional_call(pairs[0][1], (p, b), (torch.tensor(x),)))(t_params, t_buffers)
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-12)
    assert all(p.requires_grad for p in params.values())


@needs_torch
def test_jacrev_through_vmap_and_vmap_of_jacrev_and_jacfwd():
    def ours(x):
        return pg.tanh(x @ pg.tensor(W))

    def theirs(x):
        return torch.tanh(x @ torch.tensor(W))

    x = X[:, 0]  # (4, 5)
    want = tf().vmap(tf().jacrev(theirs))(torch.tensor(x)).numpy()
    np.testing.assert_allclose(pg.vmap(pg.func.jacrev(ours))(pg.tensor(x)).numpy(), want, rtol=1e-10)
    np.testing.assert_allclose(pg.vmap(pg.func.jacfwd(ours))(pg.tensor(x)).numpy(), want, rtol=1e-10)
    whole = tf().jacrev(tf().vmap(theirs))(torch.tensor(x)).numpy()  # (4, 2, 4, 5): zero across samples
    np.testing.assert_allclose(pg.func.jacrev(pg.vmap(ours))(pg.tensor(x)).numpy(), whole, rtol=1e-10, atol=1e-14)


@needs_torch
def test_vmap_of_vjp_fn_over_a_basis_is_the_jacobian():
    x = X[0, 0]
    out, vjp_fn = pg.func.vjp(lambda v: pg.tanh(v) * v.sum(), pg.tensor(x))
    (rows,) = pg.vmap(vjp_fn)(pg.eye(5, dtype=pg.float64))
    want = torch.func.jacrev(lambda v: torch.tanh(v) * v.sum())(torch.tensor(x))
    np.testing.assert_allclose(rows.numpy(), want.numpy(), rtol=1e-12)


@needs_torch
def test_vmap_of_jvp_and_hessian():
    x, t = X[:, 0], X[:, 1]
    got = pg.vmap(lambda a, b: pg.func.jvp(lambda v: pg.sin(v) * v, (a,), (b,)))(pg.tensor(x), pg.tensor(t))
    want = tf().vmap(lambda a, b: tf().jvp(lambda v: torch.sin(v) * v, (a,), (b,)))(torch.tensor(x), torch.tensor(t))
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)
    h = pg.vmap(pg.func.hessian(lambda v: pg.sum(pg.sin(v) * v)))(pg.tensor(x))
    h_want = tf().vmap(tf().hessian(lambda v: (torch.sin(v) * v).sum()))(torch.tensor(x))
    np.testing.assert_allclose(h.numpy(), h_want.numpy(), rtol=1e-10, atol=1e-14)


# ---------------------------------------------------------------- pg.func signatures
@needs_torch
def test_grad_and_value_has_aux_and_dict_inputs():
    def f(p, x):
        y = pg.sum(p["w"] * x) + p["b"]
        return y, {"doubled": 2 * y}

    def g(p, x):
        y = (p["w"] * x).sum() + p["b"]
        return y, {"doubled": 2 * y}

    x = X[0, 0]
    p = {"w": pg.tensor(W[:, 0]), "b": pg.tensor(0.5)}
    tp = {"w": torch.tensor(W[:, 0]), "b": torch.tensor(0.5)}
    grads, (value, aux) = pg.func.grad_and_value(f, has_aux=True)(p, pg.tensor(x))
    t_grads, (t_value, t_aux) = tf().grad_and_value(g, has_aux=True)(tp, torch.tensor(x))
    np.testing.assert_allclose(grads["w"].numpy(), t_grads["w"].numpy(), rtol=1e-12)
    np.testing.assert_allclose(grads["b"].numpy(), t_grads["b"].numpy(), rtol=1e-12)
    np.testing.assert_allclose(aux["doubled"].numpy(), t_aux["doubled"].detach().numpy(), rtol=1e-12)
    grads_only, aux_only = pg.func.grad(f, argnums=(0, 1), has_aux=True)(p, pg.tensor(x))
    np.testing.assert_allclose(grads_only[1].numpy(), p["w"].numpy(), rtol=1e-12)
    jac, jac_aux = pg.func.jacrev(lambda v: (pg.sin(v), v.sum()), has_aux=True)(pg.tensor(x))
    np.testing.assert_allclose(jac.numpy(), np.diag(np.cos(x)), rtol=1e-12, atol=1e-15)
    assert jac_aux.item() == pytest.approx(x.sum())


def test_functional_call_restores_the_module_and_checks_names(target64):
    layer = nn.Linear(3, 2, backend=target64.backend, device=target64.device, dtype="float64")
    weight = target64.tensor(np.ones((2, 3)))
    x = target64.tensor([[1.0, 2.0, 3.0]])
    out = pg.func.functional_call(layer, {"weight": weight}, (x,))
    np.testing.assert_allclose(out.numpy(), 6 + layer.bias.numpy()[None], rtol=1e-12)
    assert layer.weight is not weight and isinstance(layer.weight, nn.Parameter)
    with pytest.raises(ValueError, match="Unexpected key"):
        pg.func.functional_call(layer, {"wieght": weight}, (x,))
    with pytest.raises(ValueError, match="Missing key"):
        pg.func.functional_call(layer, {"weight": weight}, (x,), strict=True)


# ---------------------------------------------------------------- errors
def test_mismatched_batch_sizes_raise(target64):
    with pytest.raises(ValueError, match="vmap: Expected all tensors to have the same size"):
        pg.vmap(lambda a, b: a + b)(target64.tensor(np.ones((3, 2))), target64.tensor(np.ones((4, 2))))
    with pytest.raises(ValueError, match="vmap: in_dims"):
        pg.vmap(lambda a, b: a + b, in_dims=(0,))(target64.tensor(np.ones(3)), target64.tensor(np.ones(3)))
    with pytest.raises(ValueError, match="out of range"):
        pg.vmap(lambda a: a, in_dims=2)(target64.tensor(np.ones((3, 2))))
    with pytest.raises(ValueError, match="at least one input"):
        pg.vmap(lambda a: a, in_dims=None)(target64.tensor(np.ones(3)))


def test_random_ops_under_vmap(target64):
    x = target64.tensor(np.ones((3, 2)))

    def noisy(a):
        return a + pg.randn(2, dtype=pg.float64, backend=target64.backend, device=target64.device)

    with pytest.raises(RuntimeError, match="vmap: called random operation randn"):
        pg.vmap(noisy)(x)
    same = pg.vmap(noisy, randomness="same")(x)
    np.testing.assert_array_equal(same.numpy()[0], same.numpy()[1])
    different = pg.vmap(noisy, randomness="different")(x).numpy()
    assert different.shape == (3, 2)
    assert len({tuple(row) for row in different}) == 3  # a draw per sample


def _draws(target, randomness, seed=0):
    """rand, randn, randint and permutation drawn inside vmap over 5 samples (each also adds 0 * a sample so the
    outputs are batched however the draws come out)."""
    gen = pg.random.Generator(seed, device=target.device, backend=target.backend)  # the global seed untouched

    def draw(a):
        zero = pg.sum(a) * 0
        return (pg.rand(4, 3, dtype=pg.float32, generator=gen) + pg.astype(zero, pg.float32),
                pg.randn(6, dtype=pg.float64, generator=gen) + zero,
                pg.randint(0, 1000, (3,), generator=gen) + pg.astype(zero, pg.int64),
                gen.permutation(7) + pg.astype(zero, pg.int64))

    return pg.vmap(draw, randomness=randomness)(target.tensor(np.ones((5, 2))))


def test_randomness_different_draws_per_sample(target64):
    outs = _draws(target64, "different")
    for out, shape, dtype in zip(outs, [(5, 4, 3), (5, 6), (5, 3), (5, 7)],
                                 [pg.float32, pg.float64, pg.int64, pg.int64]):
        assert tuple(out.shape) == shape and out.dtype == dtype and out.device == target64.tensor(np.ones(1)).device
        values = out.numpy().reshape(5, -1)
        assert len({tuple(row) for row in values}) == 5, "each sample gets its own draw"
    uniform, normal, integers, permutations = (out.numpy() for out in outs)
    assert ((0 <= uniform) & (uniform < 1)).all() and ((0 <= integers) & (integers < 1000)).all()
    assert (np.sort(permutations, axis=1) == np.arange(7)).all()
    for got, again in zip(outs, _draws(target64, "different")):  # the same seed: the same draws
        np.testing.assert_array_equal(got.numpy(), again.numpy())
    for out in _draws(target64, "same"):  # one draw shared by the batch
        values = out.numpy()
        assert (values == values[:1]).all()


def test_randomness_different_nested(target64):
    """Each level draws per sample under 'different'; a 'same' level shares the draw across its samples."""
    gen = pg.random.Generator(0, device=target64.device, backend=target64.backend)
    x = target64.tensor(np.zeros((2, 3)))
    inner = pg.vmap(lambda a: a + gen.rand((), dtype=pg.float64), randomness="different")
    both = pg.vmap(inner, randomness="different")(x).numpy()
    assert len(set(both.ravel())) == 6
    outer_same = pg.vmap(inner, randomness="same")(x).numpy()
    assert (outer_same[0] == outer_same[1]).all() and len(set(outer_same[0])) == 3
    with pytest.raises(RuntimeError, match="randomness='error'"):
        pg.vmap(inner)(x)  # the strictest level wins, as torch.func


def test_dropout_masks_per_sample(target64):
    """Under randomness='different' each sample gets its own dropout mask, and its gradient is that mask,
    scaled by 1/(1-p): d sum(dropout(x)) / dx = kept / (1 - p)."""
    gen = pg.random.Generator(3, device=target64.device, backend=target64.backend)
    x = target64.tensor(np.full((6, 40), 0.5))

    def loss(a):
        y = pg.functional.dropout(a, p=0.25, generator=gen)
        return pg.sum(y), y

    grads, dropped = pg.vmap(pg.func.grad(loss, has_aux=True), randomness="different")(x)
    kept = dropped.numpy() != 0
    assert len({tuple(row) for row in kept}) == 6, "a mask per sample"
    np.testing.assert_allclose(dropped.numpy(), kept * 0.5 / 0.75)
    np.testing.assert_allclose(grads.numpy(), kept / 0.75)


@needs_torch
def test_inplace_under_vmap_as_torch():
    def ours(a):
        y = a.clone()
        y.mul_(2)  # batched into batched: fine
        return y

    np.testing.assert_allclose(pg.vmap(ours)(pg.tensor(X)).numpy(), 2 * X)
    with pytest.raises(RuntimeError, match="vmap: .* not possible"):
        pg.vmap(lambda a: pg.zeros((3, 5), dtype=pg.float64).add_(a))(pg.tensor(X))
    with pytest.raises(RuntimeError):
        tf().vmap(lambda a: torch.zeros(3, 5, dtype=torch.float64).add_(a))(torch.tensor(X))


@needs_torch
def test_per_sample_gradients_through_inplace_updates():
    def ours(x):
        y = x * 1.0
        y.mul_(2)
        y[0] = 0.5 * y[1]
        return pg.sum(pg.sin(y))

    def theirs(x):
        y = x * 1.0
        y.mul_(2)
        y[0] = 0.5 * y[1]
        return torch.sin(y).sum()

    got = pg.vmap(pg.func.grad(ours))(pg.tensor(X[:, 0]))
    want = tf().vmap(tf().grad(theirs))(torch.tensor(X[:, 0]))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


def test_item_under_vmap_raises(target64):
    with pytest.raises(RuntimeError, match="vmap: item"):
        pg.vmap(lambda a: a * a.sum().item())(target64.tensor(np.ones((3, 2))))
