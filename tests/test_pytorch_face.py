"""PyTorch code runs unchanged: a corpus of ordinary PyTorch snippets, each run with `T = polygrad`
on every backend and, where torch is installed, with `T = torch` on the same float64 inputs, and
the results compared (values, integer/float/bool kind, shapes, tuple structure).

A snippet is `lambda T, x: ...`: `T` is the library, `x` holds the inputs made by that library
from the same NumPy arrays (`x.w` is a fresh leaf with requires_grad=True for each run).
"""

import math
import pickle
import types

import numpy as np
import pytest

import polygrad as pg
from polygrad.methods import torch_keywords
from polygrad.namespace import ops, standard

try:
    import torch
except ImportError:
    torch = None

RNG = np.random.default_rng(0)
DATA = {
    "a": RNG.normal(size=(3, 4)),
    "b": RNG.normal(size=(3, 4)),
    "c": RNG.normal(size=(2, 3, 4)),
    "m": RNG.normal(size=(4, 5)),
    "u": RNG.normal(size=(5,)),
    "v": RNG.normal(size=(4,)),
    "r": np.array([[1.0, 2.0, 2.0, 3.0], [4.0, 4.0, 1.0, 1.0], [0.0, 5.0, 5.0, 5.0]]),  # repeats, for mode
    "i": np.array([[1, 2], [3, 4], [5, 6]]),
    "idx": np.array([[0, 3], [2, 2], [1, 0]]),  # per row, along dim 1; a repeat in row 1
    "uidx": np.array([[0, 3], [2, 1], [1, 0]]),  # unique per row
    "sel": np.array([3, 0, 0]),
    "rows": np.array([2, 0]),
    "labels": np.array([1, 0, 3]),
    "mask": np.array([[True, False, True, False], [False, False, True, True], [True, True, True, False]]),
    "vmask": np.array([False, True, True, False]),
}


def inputs(T, make):
    x = types.SimpleNamespace(**{name: make(value) for name, value in DATA.items()})
    x.w = make(DATA["a"]).requires_grad_()
    x.w2 = make(DATA["b"]).requires_grad_()
    return x


def _function_cube(T):
    class Cube(T.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            ctx.save_for_backward(x)
            ctx.k = k
            return x ** 3 * k

        @staticmethod
        def backward(ctx, grad):
            x, = ctx.saved_tensors
            return 3 * x ** 2 * ctx.k * grad, None

    return Cube


def _grad(T, x, f):
    f(x.w).backward()
    return x.w.grad


def _no_grad_decorated(T, x, bare):
    def double(t):
        return t * 2

    decorated = T.no_grad(double) if bare else T.no_grad()(double)
    return decorated(x.w).requires_grad, (x.w * 2).requires_grad


def _inference_mode(T, x):
    @T.inference_mode()
    def f(t):
        return t * 2

    @T.inference_mode
    def g(t):
        return t * 3

    return f(x.w).requires_grad, g(x.w).requires_grad, f(x.w)


def _set_grad_enabled(T, x):
    with T.set_grad_enabled(False):
        inside = (x.w * 2).requires_grad
        with T.enable_grad():
            enabled = (x.w * 2).requires_grad
    return inside, enabled, (x.w * 2).requires_grad


def _in_place(T, x):
    y = x.a.clone()
    y.zero_()
    y.fill_(2.0)
    y.add_(x.b, alpha=2)
    y.sub_(x.a, alpha=0.5)
    y.mul_(3)
    y.div_(2)
    y.clamp_(min=-1, max=4)
    z = T.zeros_like(x.a)
    z.copy_(x.b)
    return y, z


def _hook(T, x):
    x.w.register_hook(lambda g: g * 2)
    (x.w * x.b).sum().backward()
    return x.w.grad


def _retain_grad(T, x):
    h = x.w * 2
    h.retain_grad()
    h.register_hook(lambda g: g + 1)
    (h * h).sum().backward()
    return h.grad, x.w.grad


def _linear(T, x):
    layer = T.nn.Linear(4, 2).to(x.a.device).double()
    with T.no_grad():
        layer.weight.copy_(x.m[:, :2].t())
        layer.bias.copy_(x.u[:2])
    return layer


def _save_load(T, x, path):
    T.save({"w": x.a, "rest": [x.labels, 3, 2.5, "text", None, (x.mask,)]}, path)
    loaded = T.load(path)
    return loaded["w"], loaded["rest"]


def _state_dict_round_trip(T, x, path):
    layer = _linear(T, x)
    T.save(layer.state_dict(), path)
    fresh = T.nn.Linear(4, 2).to(x.a.device).double()
    fresh.load_state_dict(T.load(path))
    return fresh(x.a)


def _clip_norm(T, x):
    (x.w * x.b * 3).sum().backward()
    total = T.nn.utils.clip_grad_norm_([x.w], 0.5)
    return total, x.w.grad


def _clip_value(T, x):
    (x.w * x.b).sum().backward()
    T.nn.utils.clip_grad_value_([x.w], 0.3)
    return x.w.grad


def _vectors(T, x):
    layer = _linear(T, x)
    flat = T.nn.utils.parameters_to_vector(layer.parameters())
    T.nn.utils.vector_to_parameters(flat * 2, layer.parameters())
    return flat, layer.weight, layer.bias


def _module_apply(T, x):
    model = T.nn.Sequential(T.nn.Linear(2, 3), T.nn.ReLU(), T.nn.Sequential(T.nn.Linear(3, 1)))
    names = []
    model.apply(lambda m: names.append(type(m).__name__))
    dtypes = [str(model.double()[0].weight.dtype), str(model.float()[0].bias.dtype)]
    return names, [name.removeprefix("torch.").removeprefix("polygrad.") for name in dtypes]


def _scheduler(T, x):
    optimizer = T.optim.SGD([x.w], lr=0.1)
    schedule = T.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(5):
        optimizer.step()
        schedule.step()
        lrs.append(schedule.get_last_lr()[0])
    return lrs


def _dataset(T, x):
    data = T.utils.data.TensorDataset(x.a, x.labels)
    row, label = data[1]
    batches = [b for b, _ in T.utils.data.DataLoader(data, batch_size=2)]
    return row, label, isinstance(row, T.Tensor), batches


def _einsum_grad(T, x):
    T.einsum("ij,ij->i", x.w, x.b).sum().backward()
    return x.w.grad


SNIPPETS = {
    # ---- reductions with dim / keepdim, and their named tuples
    "sum_dim": lambda T, x: x.a.sum(dim=1),
    "sum_keepdim": lambda T, x: x.a.sum(1, keepdim=True),
    "sum_dims": lambda T, x: x.c.sum(dim=(0, 2)),
    "mean_dim": lambda T, x: x.a.mean(dim=0),
    "prod_dim": lambda T, x: x.a.prod(1),
    "max_dim": lambda T, x: x.a.max(dim=1),
    "max_dim_unpacked": lambda T, x: (lambda v, i: (v * 2, i))(*x.a.max(1)),
    "max_dim_fields": lambda T, x: (x.a.max(dim=1).values, x.a.max(dim=1).indices),
    "min_keepdim": lambda T, x: x.a.min(dim=0, keepdim=True),
    "max_all": lambda T, x: x.a.max(),
    "max_other": lambda T, x: x.a.max(x.b),
    "amax_amin": lambda T, x: (x.c.amax(dim=(0, 1)), x.c.amin(-1)),
    "argmax_dim": lambda T, x: x.a.argmax(dim=1),
    "argmin_all": lambda T, x: x.a.argmin(),
    "std_default_unbiased": lambda T, x: x.a.std(),
    "std_dim_biased": lambda T, x: x.a.std(dim=1, unbiased=False),
    "var_correction": lambda T, x: x.a.var(dim=0, correction=0),
    "var_keepdim": lambda T, x: x.a.var(1, keepdim=True),
    "logsumexp": lambda T, x: x.a.logsumexp(dim=1),
    "softmax_method": lambda T, x: (x.a.softmax(dim=1), x.a.log_softmax(1)),
    "norm": lambda T, x: (x.a.norm(), x.a.norm(p=1, dim=1), x.a.norm(float("inf")), x.c.norm(dim=(1, 2))),
    "all_any": lambda T, x: (x.mask.all(), x.mask.any(dim=1), x.mask.all(dim=0, keepdim=True)),
    # ---- sorting
    "sort": lambda T, x: x.a.sort(dim=1),
    "sort_descending": lambda T, x: x.a.sort(descending=True),
    "argsort": lambda T, x: x.a.argsort(dim=0),
    "topk": lambda T, x: x.a.topk(2),
    "topk_smallest": lambda T, x: x.a.topk(2, dim=0, largest=False),
    "median_all": lambda T, x: x.a.median(),
    "median_dim": lambda T, x: x.a.median(dim=1),
    "kthvalue": lambda T, x: x.a.kthvalue(2, dim=1),
    "mode": lambda T, x: x.r.mode(dim=1),
    # ---- shapes
    "squeeze_all": lambda T, x: x.a.reshape(3, 1, 4, 1).squeeze(),
    "squeeze_dim": lambda T, x: x.a.unsqueeze(1).squeeze(1),
    "squeeze_not_one": lambda T, x: x.a.squeeze(0),
    "unsqueeze_negative": lambda T, x: x.a.unsqueeze(-1),
    "expand": lambda T, x: x.v.expand(3, -1),
    "expand_new_dims": lambda T, x: x.v.unsqueeze(0).expand(2, 3, -1),
    "expand_as": lambda T, x: x.v.expand_as(x.a),
    "view": lambda T, x: (x.a.view(4, 3), x.a.view(-1), x.a.reshape((2, 6)), x.a.view_as(x.m[:, :3])),
    "flatten": lambda T, x: (x.c.flatten(1), x.c.flatten(0, 1), x.c.flatten()),
    "unflatten": lambda T, x: x.a.unflatten(1, (2, 2)),
    "t": lambda T, x: (x.a.t(), x.v.t()),
    "transpose": lambda T, x: x.c.transpose(0, 2),
    "permute": lambda T, x: (x.c.permute(2, 0, 1), x.c.permute((1, 2, 0))),
    "movedim": lambda T, x: (x.c.movedim(0, -1), x.c.movedim((0, 1), (2, 0))),
    "clone_contiguous": lambda T, x: (x.a.clone(), x.a.t().contiguous()),
    "sizes": lambda T, x: (x.c.numel(), x.c.dim(), tuple(x.c.size()), x.c.size(1), x.c.size(-1), x.c.ndim,
                           tuple(x.c.shape)),
    "element_size": lambda T, x: (x.a.float().element_size(), x.i.element_size(), x.mask.element_size(),
                                  x.i.nbytes, x.mask.nbytes),
    # ---- dtypes and devices
    "casts": lambda T, x: (x.a.long(), x.a.int(), x.i.float(), x.i.double(), x.mask.long(), x.a.bool()),
    "type_as": lambda T, x: x.i.type_as(x.a),
    "to_dtype": lambda T, x: (x.a.to(T.float32), x.i.to(x.a), x.a.to(x.a.device, T.float32),
                              x.a.to(dtype=T.int64)),
    # ---- splitting and joining
    "chunk": lambda T, x: (x.a.chunk(2, dim=1), x.b.chunk(2)),
    "split": lambda T, x: (x.a.split(3, dim=1), x.a.split([1, 3], dim=1)),
    "unbind": lambda T, x: x.a.unbind(1),
    "cat": lambda T, x: (T.cat([x.a, x.b], dim=1), T.cat((x.a, x.b))),
    "stack": lambda T, x: (T.stack([x.a, x.b], dim=2), T.stack((x.a, x.b)), T.concat([x.a, x.b], dim=1)),
    "repeat": lambda T, x: (x.a.repeat(2, 1), x.v.repeat(2, 3)),
    "tile": lambda T, x: (x.a.tile((2,)), x.v.tile((2, 1))),
    "flip": lambda T, x: (x.a.flip(0), x.c.flip([0, 2])),
    "roll": lambda T, x: (x.a.roll(1, 1), x.a.roll(2), x.a.roll((1, -1), (0, 1))),
    # ---- indexing
    "gather": lambda T, x: x.a.gather(1, x.idx),
    "scatter": lambda T, x: T.zeros(3, 4, dtype=x.a.dtype, device=x.a.device).scatter(1, x.uidx, x.a[:, :2]),
    "scatter_value": lambda T, x: x.a.scatter(1, x.uidx, 0.5),
    "scatter_add": lambda T, x: x.a.scatter_add(1, x.idx, x.b[:, :2]),
    "scatter_reduce_sum": lambda T, x: x.a.scatter_reduce(1, x.idx, x.b[:, :2], reduce="sum"),
    "scatter_reduce_mean": lambda T, x: x.a.scatter_reduce(1, x.idx, x.b[:, :2], reduce="mean", include_self=False),
    "index_select": lambda T, x: x.a.index_select(1, x.sel),
    "index_add": lambda T, x: x.a.index_add(0, x.rows, x.b[:2], alpha=2),
    "masked_fill": lambda T, x: (x.a.masked_fill(x.mask, 0.0), x.a.masked_fill(x.vmask, -1.0)),
    "masked_select": lambda T, x: x.a.masked_select(x.mask),
    "where": lambda T, x: (x.a.where(x.mask, x.b), T.where(x.mask, x.a, x.b)),
    # ---- cumulative, comparisons, arithmetic
    "cumsum": lambda T, x: (x.a.cumsum(dim=1), x.i.cumsum(0)),
    "cumprod": lambda T, x: x.a.cumprod(1),
    "compare": lambda T, x: (x.a.eq(x.b), x.a.ne(x.a), x.a.lt(0), x.a.ge(x.b), x.a.gt(0.5), x.a.le(x.b)),
    "isclose": lambda T, x: (x.a.allclose(x.a + 1e-9), x.a.allclose(x.b), x.a.isclose(x.a * (1 + 1e-7)),
                             x.a.equal(x.a), x.a.equal(x.b)),
    "add_alpha": lambda T, x: (x.a.add(x.b, alpha=3), x.a.sub(x.b, alpha=2)),
    "div_rounding": lambda T, x: (x.a.div(x.b, rounding_mode="floor"), x.a.div(x.b, rounding_mode="trunc")),
    "clamp": lambda T, x: (x.a.clamp(min=-0.5, max=0.5), x.a.clamp(0)),
    "in_place": _in_place,
    "new_tensors": lambda T, x: (x.a.new_zeros(2, 3), x.a.new_ones((2,)), x.i.new_full((2, 2), 7),
                                 x.a.new_tensor([1.0, 2.0]), x.a.new_empty(2, 2).shape, x.a.reciprocal(),
                                 x.a.abs().rsqrt()),
    "torch_functions": lambda T, x: (T.clamp(x.a, min=0), T.unsqueeze(x.a, 0), T.transpose(x.c, 0, 1),
                                     T.permute(x.c, (2, 0, 1)), T.gather(x.a, 1, x.idx), T.topk(x.a, 2),
                                     T.index_select(x.a, 0, x.rows), T.masked_fill(x.a, x.mask, 1.0),
                                     T.norm(x.a), T.allclose(x.a, x.a), T.chunk(x.a, 2), T.split(x.a, 2),
                                     T.unbind(x.a), T.amax(x.a, dim=0), T.cumsum(x.a, dim=1), T.cumprod(x.a, 0),
                                     T.clone(x.a), T.numel(x.a), T.mm(x.a, x.m), T.t(x.a), T.median(x.a, 1),
                                     T.kthvalue(x.a, 2), T.movedim(x.c, 0, 2), T.masked_select(x.a, x.mask)),
    "torch_keywords_on_standard_names": lambda T, x: (T.sort(x.a, dim=0), T.argsort(x.a, dim=1),
                                                      T.flip(x.a, dims=(0, 1)), T.roll(x.a, shifts=1, dims=0)),
    # ---- functions
    "pg_reductions_with_dim": lambda T, x: (T.sum(x.a, dim=1, keepdim=True), T.mean(x.a, dim=(0, 1)),
                                            T.std(x.a, dim=0), T.var(x.a, unbiased=False), T.argmax(x.a, dim=1),
                                            T.logsumexp(x.a, dim=1), T.softmax(x.a, dim=0),
                                            T.squeeze(x.a.unsqueeze(0), dim=0)),
    "pg_max_dim": lambda T, x: (T.max(x.a, dim=1), T.min(x.a, dim=0, keepdim=True)),
    "einsum_matmul": lambda T, x: T.einsum("ij,jk->ik", x.a, x.m),
    "einsum_batched": lambda T, x: T.einsum("bij,bkj->bik", x.c, x.c),
    "einsum_outer_implicit": lambda T, x: (T.einsum("i,j->ij", x.v, x.v), T.einsum("ij,kj", x.a, x.b)),
    "einsum_sum_three": lambda T, x: (T.einsum("ijk->j", x.c), T.einsum("ij,jk,k->i", x.a, x.m, x.u)),
    "zeros_varargs": lambda T, x: (T.zeros(2, 3, dtype=x.a.dtype, device=x.a.device),
                                   T.ones((2, 3), dtype=x.a.dtype, device=x.a.device)),
    "bmm": lambda T, x: T.bmm(x.c, x.c.transpose(1, 2)),
    "one_hot": lambda T, x: (T.nn.functional.one_hot(x.labels, 5), T.nn.functional.one_hot(x.labels)),
    "functional_dim": lambda T, x: (T.nn.functional.softmax(x.a, dim=1), T.nn.functional.log_softmax(x.a, dim=-1)),
    "randperm": lambda T, x: T.randperm(6).sort().values,
    "manual_seed": lambda T, x: (T.manual_seed(3), T.randn(3))[1].equal((T.manual_seed(3), T.randn(3))[1]),
    "generator": lambda T, x: T.randn(4, generator=T.Generator().manual_seed(5)).equal(
        T.randn(4, generator=T.Generator().manual_seed(5))),
    "tensor_copies": lambda T, x: (lambda n: (T.tensor(n), n.__setitem__(0, 5.0))[0])(np.ones(3)),
    "from_numpy_shares": lambda T, x: (lambda n: (T.from_numpy(n), n.__setitem__(0, 5.0))[0])(np.ones(3)),
    "as_tensor": lambda T, x: T.as_tensor([[1.0, 2.0], [3.0, 4.0]]),
    "device_cuda": lambda T, x: (T.device("cpu") == T.tensor(1.0).device,
                                 T.cuda.is_available() == (T.cuda.device_count() > 0)),
    # ---- autograd
    "grad_max_dim": lambda T, x: _grad(T, x, lambda w: w.max(dim=1).values.sum()),
    "grad_topk_sort": lambda T, x: _grad(T, x, lambda w: (w.topk(2).values * 3).sum() + w.sort(0).values[0].sum()),
    "grad_std": lambda T, x: _grad(T, x, lambda w: w.std(dim=1).sum() + w.var()),
    "grad_gather": lambda T, x: _grad(T, x, lambda w: (w.gather(1, x.idx) * x.b[:, :2]).sum()),
    "grad_scatter_add": lambda T, x: (_grad(T, x, lambda w: (w.scatter_add(1, x.idx, x.w2[:, :2]) ** 2).sum()),
                                      x.w2.grad),
    "grad_cumulative": lambda T, x: _grad(T, x, lambda w: (w.cumprod(1) ** 2).sum() + (w.cumsum(0) * x.b).sum()),
    "grad_shapes": lambda T, x: _grad(T, x, lambda w: (w.repeat(2, 1).flip(0).roll(1, 1) * x.b.repeat(2, 1)).sum()
                                      + (w.t().unsqueeze(0).expand(2, -1, -1) ** 2).sum()),
    "grad_masked": lambda T, x: _grad(T, x, lambda w: w.masked_fill(x.mask, 0).pow(2).sum()
                                      + w.index_select(1, x.sel).sum() + w.masked_select(x.mask).sum()),
    "grad_einsum": _einsum_grad,
    "autograd_grad_tuple": lambda T, x: (lambda g: (type(g).__name__, len(g), g[0]))(
        T.autograd.grad((x.w ** 2).sum(), x.w)),
    "autograd_grad_outputs_single": lambda T, x: T.autograd.grad(x.w * 3, x.w, grad_outputs=x.b)[0],
    "autograd_second_order": lambda T, x: T.autograd.grad(
        T.autograd.grad((x.w ** 3).sum(), x.w, create_graph=True)[0].sum(), x.w)[0],
    "autograd_backward": lambda T, x: (T.autograd.backward((x.w * 2).sum()), x.w.grad)[1],
    "register_hook": _hook,
    "retain_grad": _retain_grad,
    "graph_attributes": lambda T, x: (x.w.is_leaf, (x.w * 2).is_leaf, x.w.grad_fn is None,
                                      (x.w * 2).grad_fn is not None, x.a.clone().requires_grad_().requires_grad,
                                      (x.w * 2).detach().requires_grad),
    "no_grad_decorator": lambda T, x: _no_grad_decorated(T, x, bare=False),
    "no_grad_bare_decorator": lambda T, x: _no_grad_decorated(T, x, bare=True),
    "inference_mode": _inference_mode,
    "set_grad_enabled": _set_grad_enabled,
    "function": lambda T, x: (lambda y: (y, _grad(T, x, lambda w: _function_cube(T).apply(w, 2.0).sum())))(
        _function_cube(T).apply(x.a, 2.0)),
    # ---- save/load, pickling, nn utilities, module paths
    "save_load": lambda T, x: _save_load(T, x, x.path),
    "save_load_state_dict": lambda T, x: _state_dict_round_trip(T, x, x.path),
    "pickle": lambda T, x: (pickle.loads(pickle.dumps(x.a)), pickle.loads(pickle.dumps(x.w)).requires_grad,
                            pickle.loads(pickle.dumps([x.labels, {"m": x.mask}]))),
    "clip_grad_norm": _clip_norm,
    "clip_grad_value": _clip_value,
    "parameters_to_vector": _vectors,
    "module_apply_and_casts": _module_apply,
    "lr_scheduler": _scheduler,
    "tensor_dataset": _dataset,
    "linear_to_dtype": lambda T, x: _linear(T, x).to(T.float32)(x.a.float()),
    # ---- more of the Tensor API
    "narrow": lambda T, x: (x.a.narrow(1, 1, 2), T.narrow(x.a, 0, -2, 2)),
    "repeat_interleave": lambda T, x: (x.a.repeat_interleave(2, dim=0), T.repeat_interleave(x.v, 3)),
    "nonzero_argwhere": lambda T, x: (x.r.nonzero(), T.argwhere(x.r - 2), x.r.nonzero(as_tuple=True)),
    "div_rounding_mode": lambda T, x: (T.div(x.a, 0.3, rounding_mode="floor"), x.a.div(-0.3, rounding_mode="trunc")),
    "round_decimals": lambda T, x: (T.round(x.a * 12.3, decimals=1), (x.a * 123.4).round(decimals=-1)),
    "in_place_unary": lambda T, x: (x.a.clone().abs_(), x.a.clone().exp_(), x.a.clone().sigmoid_(), x.a.clone().relu_(),
                                    x.a.clone().pow_(2), x.a.clone().neg_(), x.a.clone().masked_fill_(x.mask, 0.5)),
    "squeeze_without_dim": lambda T, x: T.squeeze(x.a[None, :, None]),
    "index_fill": lambda T, x: x.a.index_fill(1, x.rows, -1.0),
    "lerp": lambda T, x: (T.lerp(x.a, x.b, 0.25), x.a.lerp(x.b, 0.75)),
    "diag": lambda T, x: (T.diag(x.v), T.diag(x.v, 1), T.diag(x.u, -2), T.diag(x.v, 6), T.diag(x.m), T.diag(x.m, 1),
                          T.diag(x.m, -2)),
    "type_cast": lambda T, x: x.a.type(T.float32),
    "grad_in_place_unary": lambda T, x: _grad(T, x, lambda w: (lambda h: (h.mul_(x.b).neg_().relu_() ** 2).sum())(w * 1.0)),
    "grad_diag_lerp": lambda T, x: _grad(T, x, lambda w: (T.diag(w[0]) ** 2).sum() + T.lerp(w, x.b, 0.3).pow(2).sum()),
}


NEEDS_FLOAT64 = {"casts", "save_load_state_dict", "parameters_to_vector", "linear_to_dtype"}


def _host(value):
    """A result as plain Python/NumPy, the same for both libraries."""
    if torch is not None and isinstance(value, torch.Tensor):
        return value.detach().numpy()
    if torch is not None and isinstance(value, torch.nn.Module):
        return {k: _host(v) for k, v in value.state_dict().items()}
    if isinstance(value, pg.Tensor):
        return value.numpy()
    if isinstance(value, pg.nn.Module):
        return {k: _host(v) for k, v in value.state_dict().items()}
    if isinstance(value, (list, tuple)):
        return [_host(v) for v in value]
    if isinstance(value, dict):
        return {k: _host(v) for k, v in value.items()}
    return value


def _kind(array):
    return {"b": "bool", "i": "int", "u": "int", "f": "float"}[array.dtype.kind]


def assert_same(ours, theirs, tol, where="result"):
    if isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray), f"{where}: got {type(ours).__name__}, torch gives an array"
        assert ours.shape == theirs.shape, f"{where}: shape {ours.shape} vs torch's {theirs.shape}"
        assert _kind(ours) == _kind(theirs), f"{where}: {ours.dtype} vs torch's {theirs.dtype}"
        if theirs.dtype == np.float32:  # the snippet itself asked for float32
            tol = max(tol, 2e-5)
        np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol, err_msg=where)
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), f"{where}: {ours!r:.200} vs {theirs!r:.200}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, tol, f"{where}[{i}]")
    elif isinstance(theirs, dict):
        assert isinstance(ours, dict) and ours.keys() == theirs.keys(), f"{where}: keys differ"
        for key in theirs:
            assert_same(ours[key], theirs[key], tol, f"{where}[{key!r}]")
    elif isinstance(theirs, float):
        assert math.isclose(ours, theirs, rel_tol=tol, abs_tol=tol), f"{where}: {ours} vs torch's {theirs}"
    else:
        assert ours == theirs, f"{where}: {ours!r} vs torch's {theirs!r}"


def _torch_result(name, tmp_path):
    torch.manual_seed(0)
    x = inputs(torch, lambda v: torch.tensor(v, dtype=torch.float64 if v.dtype.kind == "f" else None))
    x.path = tmp_path / "torch.pt"
    return _host(SNIPPETS[name](torch, x))


def test_the_corpus_is_large_enough():
    assert len(SNIPPETS) >= 60


@pytest.mark.parametrize("name", list(SNIPPETS))
def test_snippet_matches_torch(target, name, tmp_path):
    if name in NEEDS_FLOAT64 and target.device == "no_float64":
        pytest.skip("double() needs float64")
    x = inputs(pg, lambda v: pg.tensor(v, backend=target.backend, device=target.device,
                                       dtype=target.dtype if v.dtype.kind == "f" else None))
    x.path = tmp_path / "polygrad.pt"
    ours = _host(SNIPPETS[name](pg, x))
    if torch is None:
        pytest.skip("torch is not installed: the snippet ran, nothing to compare with")
    assert_same(ours, _torch_result(name, tmp_path), 1e-10 if target.dtype == "float64" else 2e-5)


# ================================================================ beyond the corpus
GRADCHECKED = {
    "sort_topk": lambda x: x.sort(dim=1).values * 2 + x.topk(2, dim=0).values.sum(),
    "max_median_kth": lambda x: x.max(dim=1).values.sum() + x.median(dim=0).values.sum() + x.kthvalue(2).values.sum(),
    "std_var": lambda x: x.std(dim=1) + x.var(0).sum(),
    "cumulative": lambda x: x.cumsum(1) * x.cumprod(0),
    "gather_scatter": lambda x: x.gather(1, pg.asarray([[0, 3], [2, 2], [1, 0]], device=x.device)).sum()
    + x.scatter_add(1, pg.asarray([[0, 3], [2, 2], [1, 0]], device=x.device), x[:, 1:3] ** 2),
    "scatter_mean": lambda x: x.scatter_reduce(1, pg.asarray([[0, 0], [3, 3], [1, 0]], device=x.device), x[:, :2] ** 2,
                                               reduce="mean"),
    "shapes": lambda x: x.repeat(2, 1).flip(0).roll(1, 1) + x.t().expand(2, 4, 3).sum(0).t().repeat(2, 1),
    "einsum": lambda x: pg.einsum("ij,kj,k->i", x, x, x[:, 0]),
    "norms": lambda x: x.norm() + x.norm(p=1, dim=0).sum() + x.norm(p=3),
    "masked_index": lambda x: x.masked_fill(x > 0, 0.0) + x.index_select(1, pg.asarray([3, 0, 0, 1], device=x.device))
    + x.index_add(0, pg.asarray([2, 0], device=x.device), x[:2] * 3),
}


@pytest.mark.parametrize("name", list(GRADCHECKED))
def test_method_gradients_match_finite_differences(target64, name):
    x = pg.tensor(DATA["a"], backend=target64.backend, device=target64.device, dtype="float64", requires_grad=True)
    assert pg.gradcheck(GRADCHECKED[name], [x])


def test_function_is_differentiable_twice(target64):
    cube = _function_cube(pg)
    x = pg.tensor([0.5, -2.0], backend=target64.backend, device=target64.device, dtype="float64", requires_grad=True)
    g, = pg.autograd.grad(cube.apply(x, 2.0).sum(), x, create_graph=True)
    h, = pg.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(g.numpy(), 6 * x.numpy() ** 2)
    np.testing.assert_allclose(h.numpy(), 12 * x.numpy())
    # forward mode differentiates forward's own operations
    _, tangent = pg.jvp(lambda t: cube.apply(t, 2.0), (x.detach(),), (pg.ones_like(x),))
    np.testing.assert_allclose(tangent.numpy(), 6 * x.numpy() ** 2)


def test_pg_functions_keep_the_standard_without_a_torch_keyword(target):
    x = target.tensor(DATA["a"])
    xs = DATA["a"]
    np.testing.assert_allclose(pg.std(x).numpy(), xs.std(), rtol=target.tol)                  # correction 0
    np.testing.assert_allclose(x.std().numpy(), xs.std(ddof=1), rtol=target.tol)              # unbiased
    np.testing.assert_allclose(pg.std(x, dim=0).numpy(), xs.std(0, ddof=1), rtol=target.tol)  # dim= selects PyTorch
    assert isinstance(pg.max(x, axis=1), pg.Tensor) and pg.max(x, axis=1).shape == (3,)      # values only
    values, indices = pg.max(x, dim=1)
    np.testing.assert_array_equal(indices.numpy(), xs.argmax(1))
    assert x.size == 12 and isinstance(x.size, int) and x.size() == (3, 4) and x.size(-1) == 4


def test_pg_functions_given_a_dim_by_position_are_pytorch_calls(target):
    """The standard's axis is keyword-only, so `torch.max(outputs, 1)` under `import polygrad as torch`
    is PyTorch code: it gets PyTorch's (values, indices), unbiased std/var and sort's pair."""
    x = target.tensor(DATA["a"])
    xs = DATA["a"]
    values, predicted = pg.max(x, 1)
    np.testing.assert_array_equal(predicted.numpy(), xs.argmax(1))
    np.testing.assert_allclose(values.numpy(), xs.max(1), rtol=target.tol)
    np.testing.assert_array_equal(pg.min(x, 0, True).indices.numpy(), xs.argmin(0)[None])
    np.testing.assert_allclose(pg.std(x, 0).numpy(), xs.std(0, ddof=1), rtol=target.tol)
    np.testing.assert_allclose(pg.var(x, 1, False).numpy(), xs.var(1), rtol=target.tol)
    np.testing.assert_array_equal(pg.sort(x, 0).indices.numpy(), np.argsort(xs, 0, kind="stable"))
    np.testing.assert_allclose(pg.sum(x, 1).numpy(), xs.sum(1), rtol=target.tol)
    np.testing.assert_allclose(pg.max(x, x * 0.5).numpy(), np.maximum(xs, xs * 0.5), rtol=target.tol)


@pytest.mark.parametrize("call, names", [
    (lambda x: pg.sum(x, dimm=1), ["sum()", "'dimm'", "(x, axis, "]),
    (lambda x: pg.expand_dims(x, dim=0), ["expand_dims()", "'dim'", "(x, axis)", "spelled axis="]),
    (lambda x: pg.argmax(x, dimension=1), ["argmax()", "'dimension'", "(x, axis, keepdims)"]),
    (lambda x: x.sum(dimm=1), ["Tensor.sum()", "'dimm'", "(dim, keepdim, dtype)"]),
    (lambda x: x.max(1, 2, 3), ["Tensor.max()", "(dim, keepdim)"]),
    (lambda x: x.sort(dimension=0), ["Tensor.sort()", "'dimension'", "(dim, descending, stable)"]),
])
def test_a_bad_keyword_names_the_function_and_its_parameters(target, call, names):
    with pytest.raises(TypeError) as error:
        call(target.tensor(DATA["a"]))
    assert not isinstance(error.value, pg.DtypeError) and "<lambda>" not in str(error.value)
    for name in names:
        assert name in str(error.value)


def test_hooks_can_be_removed_and_set_grad_enabled_works_as_a_call(target):
    x = target.tensor([1.0, 2.0], requires_grad=True)
    handle = x.register_hook(lambda g: g * 10)
    handle.remove()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])
    previous = pg.is_grad_enabled()
    try:
        pg.set_grad_enabled(False)
        assert not (x * 2).requires_grad
    finally:
        pg.set_grad_enabled(previous)
    with pytest.raises(RuntimeError, match="does not require grad"):
        target.tensor([1.0]).register_hook(print)


def test_pickled_tensors_cross_a_process_boundary(target, tmp_path):
    x = target.tensor(DATA["a"], requires_grad=True)
    path = tmp_path / "x.pickle"
    path.write_bytes(pickle.dumps(x))
    code = ("import pickle, sys; t = pickle.load(open(sys.argv[1], 'rb')); "
            "print(t.device.backend.name, t.device.name, t.dtype, t.requires_grad, t.sum().item())")
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    assert out.stdout.split()[:4] == [target.backend, target.device, target.dtype, "True"]
    assert float(out.stdout.split()[4]) == pytest.approx(DATA["a"].sum(), rel=target.tol)


def test_load_moves_with_map_location_and_keeps_dtypes(target, tmp_path):
    x = target.tensor(DATA["a"])
    pg.save({"x": x, "labels": pg.asarray(DATA["labels"], device=x.device)}, tmp_path / "f.pt")
    back = pg.load(tmp_path / "f.pt")
    assert back["x"].device == x.device and back["x"].dtype == x.dtype and back["labels"].dtype == pg.int64
    moved = pg.load(tmp_path / "f.pt", map_location="numpy")
    assert moved["x"].backend.name == "numpy" and moved["x"].dtype == x.dtype
    np.testing.assert_allclose(moved["x"].numpy(), x.numpy())


def test_load_refuses_what_it_would_have_to_unpickle_and_other_files(tmp_path):
    path = tmp_path / "evil.pt"
    header = np.frombuffer(b'{"format": "polygrad-save", "version": 1, "tree": {"tensor": 0}}', dtype=np.uint8)
    with open(path, "wb") as f:
        np.savez(f, **{"__polygrad__": header, "tensors/0": np.array([object()], dtype=object)})
    with pytest.raises(pg.checkpoint.CheckpointError, match="not numbers"):
        pg.load(path)
    model = pg.nn.Linear(2, 2)
    pg.checkpoint.save(tmp_path / "ckpt.npz", model)
    with pytest.raises(pg.checkpoint.CheckpointError, match="pg.checkpoint.load"):
        pg.load(tmp_path / "ckpt.npz")
    pg.save({"model": model}, tmp_path / "model.pt")  # a whole module is pickled, as torch.save does
    with pytest.raises(pg.checkpoint.CheckpointError, match=r"pickled objects \(polygrad.nn.layers.Linear\).*"
                                                            "weights_only=False"):
        pg.load(tmp_path / "model.pt")


def test_pytorch_functions_leave_the_standard_ones_in_place():
    """pg.* names from the rule table and the standard keep their own function (wrapped at most)."""
    for name in torch_keywords.FUNCTIONS:
        own = getattr(ops, name, None) or getattr(standard, name, None)
        if own is not None:
            assert getattr(pg, name).__wrapped__ is own, name


def test_module_paths_are_the_same_modules():
    import polygrad.nn.functional as F
    import polygrad.optim.lr_scheduler as schedulers
    import polygrad.utils.data as data

    assert F is pg.functional and data is pg.data and schedulers is pg.optim.lr_scheduler
    assert schedulers.StepLR is pg.optim.StepLR and schedulers.ReduceLROnPlateau is pg.optim.ReduceLROnPlateau


def test_module_to_dtype_and_device_spellings(target):
    model = pg.nn.Sequential(pg.nn.Linear(3, 2), pg.nn.ReLU())
    model.to(target.device, backend=target.backend)
    weight = model[0].weight
    assert model.to(pg.float32) is model and weight.dtype == pg.float32 and model[0].weight is weight
    if target.device != "no_float64":
        assert model.to(weight.device, "float64")[0].bias.dtype == pg.float64
        assert model.float()[0].weight.dtype == pg.float32


def test_devices_answer_without_a_gpu():
    assert pg.device("cpu") == pg.tensor(1.0).device
    assert pg.cuda.is_available() == (pg.cuda.device_count() > 0)
    if not pg.cuda.is_available():
        with pytest.raises((ValueError, pg.BackendUnavailable)):
            pg.device("cuda", 1)


def test_pytorch_dtype_names_are_the_same_objects(target):
    assert (pg.float, pg.double, pg.long, pg.int, pg.short) == (pg.float32, pg.float64, pg.int64, pg.int32, pg.int16)
    assert (pg.cfloat, pg.cdouble) == (pg.complex64, pg.complex128) and pg.half == "float16"
    x = target.tensor([1.5, -2.5])
    assert x.to(pg.long).dtype is pg.int64 and x.to(pg.long).numpy().tolist() == [1, -2]
    assert pg.zeros(2, dtype=pg.float, backend=target.backend, device=target.device).dtype is pg.float32


def test_data_is_a_tensor_outside_autograd_that_writes_into_its_owner(target):
    """PyTorch's `.data`: the idioms of tutorials and hand-written optimizers change p, unrecorded."""
    p = target.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert isinstance(p.data, pg.Tensor) and not p.data.requires_grad and p.data.is_leaf
    assert p.data.array is p.array  # the same array: nothing copied
    p.data.mul_(2.0)
    p.data[0].fill_(7.0)
    p.data -= 0.5 * target.tensor(np.ones((2, 2)))
    p.data.copy_(p.data * 2.0)
    assert p.numpy().tolist() == [[13.0, 13.0], [11.0, 15.0]] and p.is_leaf and p.requires_grad
    (p * p).sum().backward()  # the graph built after the writes sees them
    assert p.grad.numpy().tolist() == [[26.0, 26.0], [22.0, 30.0]]
    q = target.tensor(np.zeros(3))
    q.data = target.tensor(np.ones(2))
    assert q.numpy().tolist() == [1.0, 1.0]
    with pytest.raises(TypeError, match=r"data: assign a Tensor, got list \(the raw array is \.array\)"):
        q.data = [1.0]


def test_a_graph_that_saved_p_refuses_after_a_write_through_data(target64):
    w = target64.tensor([1.0, 2.0], requires_grad=True)
    y = (w * w).sum()
    w.data.add_(1.0)
    with pytest.raises(pg.InplaceModificationError, match="modified in place"):
        y.backward()


def test_narrow_and_index_fill_refuse_what_does_not_fit(target):
    x = target.tensor(DATA["a"])  # (3, 4)
    with pytest.raises(IndexError, match=r"narrow: start 3 and length 2 do not fit dim 1 of size 4"):
        x.narrow(1, 3, 2)  # torch raises; a slice would give one column
    with pytest.raises(IndexError, match=r"narrow: start -5 and length 1 do not fit dim 1 of size 4"):
        x.narrow(1, -5, 1)
    assert x.narrow(1, -2, 2).shape == (3, 2)
    with pytest.raises(IndexError, match=r"index_fill: index 4 is out of bounds for axis 1 with size 4"):
        x.index_fill(1, target.tensor([4], dtype="int64"), 0.0)
