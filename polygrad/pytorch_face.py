"""Functions a PyTorch script calls that the Array API has no name for.

`pg.einsum`, `pg.from_numpy`, `pg.as_tensor`, `pg.device`, `pg.cuda`,
`pg.randperm`, `pg.bmm`: each built from polygrad's own functions, so every
backend and device has them and gradients come with them.
"""

import math

from . import backends, ops
from .creation import asarray, resolve_device
from .errors import ShapeError, describe
from .methods import bmm  # noqa: F401 (exported as pg.bmm)


# ================================================================ einsum
def einsum(equation, *operands):
    """Einstein summation, e.g. `pg.einsum("bij,bjk->bik", a, b)`, differentiable on every backend.

    Built from permute/reshape/matmul/sum: operands are folded in pairwise, each
    pair as one batched matrix product. Not supported: "..." and an index
    repeated within one operand (a diagonal or trace; use pg.diagonal / trace).
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    inputs, output = _parse(equation, operands)
    sizes = {}
    for letters, x in zip(inputs, operands):
        for letter, n in zip(letters, x.shape):
            if sizes.setdefault(letter, n) != n:
                raise ShapeError(f"einsum {equation!r}: index {letter!r} has size {sizes[letter]} and {n}")
    acc, letters = operands[0], inputs[0]
    for i in range(1, len(operands)):
        needed = set(output).union(*inputs[i + 1:])
        acc, letters = _sum_out(acc, letters, needed | set(inputs[i]))
        b, b_letters = _sum_out(operands[i], inputs[i], needed | set(letters))
        acc, letters = _pair(acc, letters, b, b_letters, needed, sizes)
    acc, letters = _sum_out(acc, letters, set(output))
    return ops.permute_dims(acc, tuple(letters.index(letter) for letter in output)) if letters != output else acc


def _parse(equation, operands):
    equation = equation.replace(" ", "")
    if "." in equation:
        raise NotImplementedError(f"einsum {equation!r}: '...' is not supported; name every index")
    left, arrow, output = equation.partition("->")
    inputs = left.split(",")
    if len(inputs) != len(operands):
        raise ValueError(f"einsum {equation!r}: {len(inputs)} subscripts for {len(operands)} operands")
    for letters, x in zip(inputs, operands):
        if len(letters) != x.ndim:
            raise ShapeError(f"einsum {equation!r}: subscript {letters!r} for {describe(x)}")
        if len(set(letters)) != len(letters):
            raise NotImplementedError(f"einsum {equation!r}: an index repeated within one operand ({letters!r}) "
                                      "is not supported; take the diagonal first")
    if not arrow:  # implicit output: the indices that occur once, in alphabetical order
        counts = "".join(inputs)
        output = "".join(sorted(letter for letter in set(counts) if counts.count(letter) == 1))
    return inputs, output


def _sum_out(x, letters, keep):
    """x summed over its indices not in `keep`."""
    axes = tuple(i for i, letter in enumerate(letters) if letter not in keep)
    if not axes:
        return x, letters
    return ops.sum(x, axis=axes), "".join(letter for letter in letters if letter in keep)


def _pair(a, a_letters, b, b_letters, needed, sizes):
    """a and b combined: shared indices still needed are batch dims, the other shared ones are contracted."""
    shared = [letter for letter in a_letters if letter in b_letters]
    batch = [letter for letter in shared if letter in needed]
    contract = [letter for letter in shared if letter not in needed]
    free_a = [letter for letter in a_letters if letter not in shared]
    free_b = [letter for letter in b_letters if letter not in shared]

    def arranged(x, letters, order, groups):
        x = ops.permute_dims(x, tuple(letters.index(letter) for letter in order))
        return ops.reshape(x, tuple(math.prod(sizes[letter] for letter in group) for group in groups))

    left = arranged(a, a_letters, batch + free_a + contract, (batch, free_a, contract))
    right = arranged(b, b_letters, batch + contract + free_b, (batch, contract, free_b))
    product = ops.reshape(left @ right, tuple(sizes[letter] for letter in batch + free_a + free_b))
    return product, "".join(batch + free_a + free_b)


# ================================================================ tensors from data
def from_numpy(array):
    """A numpy-backend tensor sharing `array`'s memory, as torch.from_numpy (writes show in both)."""
    return asarray(array, backend="numpy")


def as_tensor(data, dtype=None, device=None, backend=None):
    """A tensor sharing `data`'s memory where it can (same backend, device and dtype), else a copy."""
    return asarray(data, dtype=dtype, device=device, backend=backend)


def randperm(n, *, dtype=None, device=None, backend=None, generator=None, requires_grad=False):
    """A random permutation of 0..n-1 (int64 unless dtype says otherwise)."""
    from .random import default_generator

    source = generator or default_generator(device, backend)
    return source.permutation(n, dtype=dtype)


# ================================================================ devices
def device(spec, index=None):
    """A polygrad Device from PyTorch's spellings: pg.device("cuda:1"), pg.device("cuda", 1), pg.device("cpu")."""
    if isinstance(spec, str) and index is not None:
        spec = f"{spec}:{index}"
    return resolve_device(spec)


class _Cuda:
    """`pg.cuda.is_available()` / `pg.cuda.device_count()`: answered by the backends that reach CUDA devices."""

    @staticmethod
    def device_count():
        counts = [0]
        for name in backends.available():
            counts.append(len([d for d in backends.get(name).devices() if d.name.startswith("cuda")]))
        return max(counts)

    @staticmethod
    def is_available():
        return _Cuda.device_count() > 0


cuda = _Cuda()
