"""`pg.func`: torch.func's names and signatures over polygrad's transforms, and vmap.

    vmap(f, in_dims=0, out_dims=0, randomness="error", chunk_size=None)
    grad(f, argnums=0, has_aux=False), grad_and_value(...)   (dict, tuple and list arguments too)
    vjp(f, *primals, has_aux=False), jvp(f, primals, tangents, *, has_aux=False)
    jacrev(f, argnums=0, *, has_aux=False), jacfwd(...), hessian(f, argnums=0)
    functional_call(module, params_and_buffers, args, kwargs=None, *, strict=False)
    stack_module_state(models) -> (params, buffers)

vmap runs f once on whole batches: the batching rules of polygrad.autodiff.batching turn
each primitive's per-sample call into one call on the batched arrays, so it
composes with reverse and forward mode (vmap(grad(f)): per-sample gradients)
and with itself.
"""

import functools
from contextlib import contextmanager

from . import batching, transforms
from ..core import engine
from ..namespace import ops
from .batching import levels_of, vmaps, wrap
from ..core.tensor import Tensor

__all__ = ["vmap", "grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "functional_call",
           "stack_module_state"]


# ---------------------------------------------------------------- pytrees (tuple, list, dict)
def _leaves(tree):
    if isinstance(tree, (tuple, list)):
        return [leaf for item in tree for leaf in _leaves(item)]
    if isinstance(tree, dict):
        return [leaf for item in tree.values() for leaf in _leaves(item)]
    return [tree]


def _rebuild(tree, leaves):
    """`tree` with its leaves replaced, in order, by those of the iterator `leaves`."""
    if isinstance(tree, (tuple, list)):
        return type(tree)(_rebuild(item, leaves) for item in tree)
    if isinstance(tree, dict):
        return {key: _rebuild(item, leaves) for key, item in tree.items()}
    return next(leaves)


def _map(function, tree, spec, what):
    """function(leaf, dim) over tree's leaves; spec is an int/None for a whole subtree, or matches its structure."""
    if spec is None or isinstance(spec, int):
        return _rebuild(tree, iter([function(leaf, spec) for leaf in _leaves(tree)]))
    if isinstance(tree, dict) and isinstance(spec, dict) and spec.keys() == tree.keys():
        return {key: _map(function, tree[key], spec[key], what) for key in tree}
    if isinstance(tree, (tuple, list)) and isinstance(spec, (tuple, list)) and len(spec) == len(tree):
        return type(tree)(_map(function, t, s, what) for t, s in zip(tree, spec))
    raise ValueError(f"vmap: {what}={spec!r} is not compatible with the structure of the "
                     f"{'inputs' if what == 'in_dims' else 'outputs'} ({_describe(tree)})")


def _describe(tree):
    if isinstance(tree, (tuple, list, dict)):
        return f"{type(tree).__name__} of {len(tree)}"
    return type(tree).__name__


# ---------------------------------------------------------------- vmap
def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """f mapped over an axis of its inputs (in_dims: an int or None for all, or one per argument, nested like
    them), its outputs stacked along out_dims. randomness: "error" (a random op raises), "same" (one draw
    shared by the batch) or "different" (an independent draw per sample). chunk_size: run that many samples
    at a time."""
    if randomness not in ("error", "same", "different"):
        raise ValueError(f"vmap: randomness must be 'error', 'same' or 'different', got {randomness!r}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"vmap: chunk_size must be a positive int or None, got {chunk_size!r}")

    @functools.wraps(func)
    def vmapped(*args, **kwargs):
        dims = in_dims if isinstance(in_dims, (tuple, list)) else (in_dims,) * len(args)
        if not isinstance(dims, (tuple, list)) or len(dims) != len(args):
            raise ValueError(f"vmap: in_dims={in_dims!r} has {len(dims)} entries but {len(args)} arguments were "
                             "given; pass one per positional argument")
        size = _batch_size(args, tuple(dims))
        if chunk_size is None or chunk_size >= size:
            return _run(func, args, kwargs, tuple(dims), out_dims, size, randomness)
        parts = [_run(func, _chunk(args, tuple(dims), start, chunk_size), kwargs, tuple(dims), out_dims,
                      min(chunk_size, size - start), randomness) for start in range(0, size, chunk_size)]
        return _concat_chunks(parts, out_dims)

    return vmapped


def _batch_size(args, dims):
    sizes = []

    def note(x, dim):
        if dim is None:
            return x
        if not isinstance(x, Tensor):
            raise ValueError(f"vmap: in_dim={dim} given for an input of type {type(x).__name__}; only Tensors can "
                             "be mapped over (use None for other inputs)")
        if not -x.ndim <= dim < x.ndim:
            raise ValueError(f"vmap: in_dim={dim} is out of range for an input with shape {x.shape}")
        sizes.append(x.shape[dim])
        return x

    _map(note, args, dims, "in_dims")
    if not sizes:
        raise ValueError("vmap: at least one input must be mapped over (in_dims are all None, or no Tensor input)")
    if len(set(sizes)) > 1:
        raise ValueError(f"vmap: Expected all tensors to have the same size in the mapped dimension, got sizes "
                         f"{sizes} for the mapped dimension")
    return sizes[0]


def _chunk(args, dims, start, length):
    def part(x, dim):
        if dim is None:
            return x
        key = [slice(None)] * x.ndim
        key[dim % x.ndim] = slice(start, min(start + length, x.shape[dim]))
        return x[tuple(key)]

    return _map(part, args, dims, "in_dims")


def _concat_chunks(parts, out_dims):
    flat = [_leaves(p) for p in parts]
    dims = _leaves(_map(lambda o, d: d, parts[0], out_dims, "out_dims"))
    joined = [ops.concat([f[i] for f in flat], axis=dims[i]) for i in range(len(flat[0]))]
    return _rebuild(parts[0], iter(joined))


@contextmanager
def _level(size, randomness):
    level = max(vmaps.sizes, default=0) + 1
    state = engine.state
    previous = state.batch, state.vmap_randomness, state.per_sample, state.spread
    vmaps.sizes[level] = size
    vmaps.randomness[level] = randomness
    state.batch, state.per_sample, state.spread = batching.dispatch, batching.per_sample, batching.spread
    state.vmap_randomness = "error" if previous[1] == "error" else randomness  # the strictest level wins
    try:
        yield level
    finally:
        del vmaps.sizes[level], vmaps.randomness[level]
        state.batch, state.vmap_randomness, state.per_sample, state.spread = previous


def _run(func, args, kwargs, dims, out_dims, size, randomness):
    with _level(size, randomness) as level:
        batched = _map(lambda x, d: x if d is None else _enter(x, d, level), args, dims, "in_dims")
        out = func(*batched, **kwargs)
        return _map(lambda o, d: _leave(o, d, level, size), out, out_dims, "out_dims")


def _moved(x, source, destination):
    """x's array with one axis moved; always a new node on x's tape (the batched tensor is a new object)."""
    axes = list(range(len(x.array.shape)))
    axes.insert(destination, axes.pop(source))
    return ops.permute_dims(x, axes=tuple(axes))


def _enter(x, dim, level):
    """x batched at `level` along its (per-sample) axis dim."""
    k = len(levels_of(x))
    with batching.physical():
        return wrap(_moved(x, k + dim % x.ndim if x.ndim else 0, k), levels_of(x) + (level,))


def _leave(o, dim, level, size):
    if not isinstance(o, Tensor):
        raise ValueError(f"vmap: func must only return Tensors (or tuples, lists, dicts of them), got "
                         f"{type(o).__name__}")
    levels = levels_of(o)
    if dim is None:
        if level in levels:
            raise ValueError("vmap: out_dims=None for an output that is batched (it differs per sample)")
        return o
    with batching.physical():
        k = len(levels)
        if level not in levels:  # the same for every sample: broadcast, as torch.func does
            o = wrap(ops.expand_dims(o, axis=k), levels + (level,))
            shape = list(o.array.shape)
            shape[k] = size
            o = wrap(ops.broadcast_to(o, tuple(shape)), levels + (level,))
            k += 1
        logical = len(o.array.shape) - k + 1  # the output's ndim once unbatched
        if not -logical <= dim < logical:
            raise ValueError(f"vmap: out_dims={dim} is out of range for an output with {logical - 1} dimensions")
        return wrap(_moved(o, k - 1, k - 1 + dim % logical), o._levels[:-1])


# ---------------------------------------------------------------- torch.func's transforms
def _positions(argnums):
    return (argnums,) if isinstance(argnums, int) else tuple(argnums)


def grad_and_value(func, argnums=0, has_aux=False):
    """(gradient, value) of scalar func; the differentiated arguments may be dicts, tuples or lists of
    Tensors (the gradient has their structure). With has_aux: (gradient, (value, aux))."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        positions = _positions(argnums)
        trees = [args[p] for p in positions]
        counts = [len(_leaves(t)) for t in trees]
        flat = [leaf for t in trees for leaf in _leaves(t)]

        def flat_func(*leaves):
            full, it = list(args), iter(leaves)
            for p, t in zip(positions, trees):
                full[p] = _rebuild(t, it)
            return func(*full, **kwargs)

        value, grads = transforms.value_and_grad(flat_func, tuple(range(len(flat))), has_aux)(*flat)
        it = iter(grads)
        rebuilt = [_rebuild(t, iter([next(it) for _ in range(n)])) for t, n in zip(trees, counts)]
        return (rebuilt[0] if isinstance(argnums, int) else tuple(rebuilt)), value

    return wrapper


def grad(func, argnums=0, has_aux=False):
    """The gradient of scalar func with respect to args[argnums]; with has_aux: (gradient, aux)."""
    grad_and_value_func = grad_and_value(func, argnums, has_aux)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        gradient, value = grad_and_value_func(*args, **kwargs)
        return (gradient, value[1]) if has_aux else gradient

    return wrapper


def vjp(func, *primals, has_aux=False):
    """(func(*primals), vjp_fn) (and aux with has_aux); vjp_fn(cotangent) -> a tuple, one per primal."""
    return transforms.vjp(func, *primals, has_aux=has_aux)


def _split_aux(func, has_aux):
    """func without its aux output, and a list the aux of the last call lands in."""
    if not has_aux:
        return func, None
    box = []

    @functools.wraps(func)
    def without(*args, **kwargs):
        out, aux = func(*args, **kwargs)
        box[:] = [aux]
        return out

    return without, box


def _detached_aux(aux):
    return _rebuild(aux, iter([a.detach() if isinstance(a, Tensor) else a for a in _leaves(aux)]))


def jvp(func, primals, tangents, *, strict=False, has_aux=False):
    """(func(*primals), J @ tangents) by forward mode; primals and tangents are tuples, as in torch.func."""
    inner, box = _split_aux(func, has_aux)
    out, tangent = transforms.jvp(inner, tuple(primals), tuple(tangents))
    return (out, tangent, _detached_aux(box[0])) if has_aux else (out, tangent)


def jacrev(func, argnums=0, *, has_aux=False, chunk_size=None):
    """The Jacobian by reverse mode (chunk_size is accepted for torch.func's signature: rows go one by one)."""
    return _with_aux(transforms.jacrev, func, argnums, has_aux)


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error"):
    """The Jacobian by forward mode."""
    return _with_aux(transforms.jacfwd, func, argnums, has_aux)


def _with_aux(transform, func, argnums, has_aux):
    inner, box = _split_aux(func, has_aux)
    jacobian = transform(inner, argnums)
    if not has_aux:
        return jacobian

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        result = jacobian(*args, **kwargs)
        return result, _detached_aux(box[0])

    return wrapper


def hessian(func, argnums=0):
    """The Hessian of scalar func: jacfwd(jacrev(func))."""
    return transforms.hessian(func, argnums)


# ---------------------------------------------------------------- modules as functions
def functional_call(module, params_and_buffers, args, kwargs=None, *, tie_weights=True, strict=False):
    """module(*args, **kwargs) with its parameters and buffers replaced, by dotted name, by the given tensors
    (a dict, or a tuple of dicts); the module is left as it was. strict: every parameter and buffer must be
    given. A name the module does not have raises either way (rather than being silently ignored)."""
    if isinstance(params_and_buffers, (tuple, list)):
        merged = {}
        for part in params_and_buffers:
            if merged.keys() & part.keys():
                raise ValueError(f"functional_call: {sorted(merged.keys() & part.keys())} given more than once")
            merged.update(part)
        params_and_buffers = merged
    own = dict(module.named_parameters()) | dict(module.named_buffers())
    unexpected = sorted(params_and_buffers.keys() - own.keys())
    missing = sorted(own.keys() - params_and_buffers.keys())
    if unexpected or (strict and missing):
        raise ValueError(f"functional_call: Unexpected key(s): {unexpected}; Missing key(s): "
                         f"{missing if strict else []} for {type(module).__name__}")
    swapped = []
    try:
        for name, tensor in params_and_buffers.items():
            registry, key = _slot(module, name)
            swapped.append((registry, key, registry[key]))
            registry[key] = tensor
        args = args if isinstance(args, tuple) else (args,)
        return module(*args, **(kwargs or {}))
    finally:
        for registry, key, old in reversed(swapped):
            registry[key] = old


def _slot(module, name):
    *path, key = name.split(".")
    for part in path:
        module = module._modules[part]
    return (module._parameters if key in module._parameters else module._buffers), key


def stack_module_state(models):
    """(params, buffers): each of the models' parameters and buffers stacked along a new axis 0 by name, for
    vmap over an ensemble with functional_call; the stacked parameters are new leaves that require grad."""
    models = list(models)
    if not models:
        raise ValueError("stack_module_state: Expected at least one model, got 0")
    if any(type(m) is not type(models[0]) for m in models):
        raise ValueError("stack_module_state: Expected all models to be of the same class")

    def stacked(named):
        names = [n for n, _ in named(models[0])]
        tables = [dict(named(m)) for m in models]
        return {n: ops.stack([t[n].detach() for t in tables], axis=0) for n in names}

    params = stacked(lambda m: m.named_parameters())
    for p in params.values():
        p.requires_grad_()
    return params, stacked(lambda m: m.named_buffers())
