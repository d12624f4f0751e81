"""Functions a PyTorch script calls that the Array API has no name for.

`pg.einsum`, `pg.from_numpy`, `pg.as_tensor`, `pg.device`, `pg.cuda`,
`pg.randperm`, `pg.bmm`, `pg.addmm`, `pg.baddbmm`: each built from polygrad's own functions, so every
backend and device has them and gradients come with them.
"""

import math
import string

from .. import backends
from ..namespace import creation, linalg, ops
from ..namespace.ops import asarray
from ..core.placement import resolve_device
from ..core.errors import ShapeError, describe
from .torch_methods import bmm  # noqa: F401 (exported as pg.bmm)


# ================================================================ addmm, baddbmm
def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """beta * input + alpha * (mat1 @ mat2) for 2-D mat1, mat2, as torch.addmm (beta=0 ignores input, NaN too)."""
    if mat1.ndim != 2 or mat2.ndim != 2:
        raise ShapeError(f"addmm: expects 2-D matrices, got {describe(mat1)} and {describe(mat2)}")
    return _scaled_sum(input, ops.matmul(mat1, mat2), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta * input + alpha * (batch1 @ batch2) for 3-D batches, as torch.baddbmm (beta=0 ignores input)."""
    if batch1.ndim != 3 or batch2.ndim != 3:
        raise ShapeError(f"baddbmm: expects 3-D batches, got {describe(batch1)} and {describe(batch2)}")
    return _scaled_sum(input, ops.matmul(batch1, batch2), beta, alpha)


def _scaled_sum(input, product, beta, alpha):
    if alpha != 1:
        product = product * alpha
    if beta == 0:
        return product + ops.zeros_like(product)  # a fresh tensor, as torch gives, input unread
    return product + (input if beta == 1 else input * beta)


# ================================================================ einsum
def einsum(equation, *operands):
    """Einstein summation, e.g. `pg.einsum("bij,bjk->bik", a, b)`, differentiable on every backend.

    As torch.einsum: "..." stands for the dims no letter names (aligned from the
    right and broadcast across operands; leading in an implicit output, summed
    when an explicit output leaves it out), size-1 dims broadcast, and an index
    repeated within one operand takes its diagonal ("ii->i"; "ii" is the trace).
    Built from permute/reshape/take/matmul/sum: each operand's diagonals are
    taken first, then operands are folded in pairwise, each pair as one batched
    matrix product.
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    inputs, output = _parse(equation, operands)
    terms = [_diagonals(equation, x, letters) for x, letters in zip(operands, inputs)]
    sizes = {}
    for x, letters in terms:
        for letter, n in zip(letters, x.shape):
            known = sizes.setdefault(letter, n)
            if n != known and 1 not in (n, known):
                raise ShapeError(f"einsum {equation!r}: {_name(letter)} has size {known} and {n}")
            sizes[letter] = n if known == 1 else known
    terms = [_unbroadcast(x, letters, sizes) for x, letters in terms]
    acc, letters = terms[0]
    for i in range(1, len(terms)):
        needed = set(output).union(*(later for _, later in terms[i + 1:]))
        acc, letters = _sum_out(acc, letters, needed | set(terms[i][1]))
        b, b_letters = _sum_out(*terms[i], needed | set(letters))
        acc, letters = _pair(acc, letters, b, b_letters, needed, sizes)
    acc, letters = _sum_out(acc, letters, set(output))
    return ops.permute_dims(acc, tuple(letters.index(letter) for letter in output)) if letters != output else acc


def _parse(equation, operands):
    """Each operand's subscripts and the output's, "..." spelled out as one character per dim it stands for."""
    equation = equation.replace(" ", "")
    left, arrow, output = equation.partition("->")
    inputs = left.split(",")
    if len(inputs) != len(operands):
        raise ValueError(f"einsum {equation!r}: {len(inputs)} subscripts for {len(operands)} operands")
    for letters in inputs + ([output] if arrow else []):
        if not all(letter in string.ascii_letters for letter in letters.replace("...", "", 1)):
            raise ValueError(f"einsum {equation!r}: subscript {letters!r} is not letters and at most one '...'")
    spans = []
    for letters, x in zip(inputs, operands):
        named = len(letters.replace("...", ""))
        if x.ndim < named or ("..." not in letters and x.ndim != named):
            raise ShapeError(f"einsum {equation!r}: subscript {letters!r} for {describe(x)}")
        spans.append(x.ndim - named)
    # characters no subscript can hold, one per dim "..." stands for; an operand's "..." is the last `span` of them
    broadcast = "".join(chr(0x100 + i) for i in range(max(spans, default=0)))
    inputs = [letters.replace("...", broadcast[len(broadcast) - span:]) for letters, span in zip(inputs, spans)]
    counts = "".join(inputs)
    if not arrow:  # implicit output: the "..." dims, then the indices that occur once, in alphabetical order
        once = sorted(letter for letter in set(counts) - set(broadcast) if counts.count(letter) == 1)
        return inputs, broadcast + "".join(once)
    output = output.replace("...", broadcast)
    for letter in output:
        if output.count(letter) > 1 or letter not in counts:
            where = "more than once in the output" if output.count(letter) > 1 else "in the output only"
            raise ValueError(f"einsum {equation!r}: {_name(letter)} appears {where}")
    return inputs, output


def _name(letter):
    return f"index {letter!r}" if letter in string.ascii_letters else "'...'"


def _diagonals(equation, x, letters):
    """x with each index repeated within it taken along its diagonal, the index moved last ("iji" -> "ji")."""
    while len(set(letters)) < len(letters):
        letter = next(letter for letter in letters if letters.count(letter) > 1)
        first = letters.index(letter)
        second = letters.index(letter, first + 1)
        if x.shape[first] != x.shape[second]:
            raise ShapeError(f"einsum {equation!r}: index {letter!r} repeated within {describe(x)} "
                             f"has sizes {x.shape[first]} and {x.shape[second]}")
        rest = tuple(i for i in range(x.ndim) if i not in (first, second))
        x = linalg.diagonal(ops.permute_dims(x, rest + (first, second)))
        letters = "".join(letters[i] for i in rest) + letter
    return x, letters


def _unbroadcast(x, letters, sizes):
    """x without its size-1 dims that broadcast against a larger size: x is constant along them."""
    keep = [i for i, letter in enumerate(letters) if x.shape[i] == sizes[letter]]
    if len(keep) == len(letters):
        return x, letters
    return ops.reshape(x, tuple(x.shape[i] for i in keep)), "".join(letters[i] for i in keep)


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


# ================================================================ diag
def diag(input, diagonal=0):
    """torch.diag: a vector's diagonal matrix (on the `diagonal`-th diagonal), or a matrix's diagonal."""
    if input.ndim == 2:
        return linalg.diagonal(input, offset=diagonal)
    if input.ndim != 1:
        raise ShapeError(f"diag: expects a 1-D or 2-D tensor, got {describe(input)}")
    n, k = input.shape[0] + abs(diagonal), abs(diagonal)
    eye = creation.eye(n, n, k=diagonal, dtype=input.dtype, device=input.device)
    padded = ops.concat([input, creation.zeros((k,), dtype=input.dtype, device=input.device)], axis=0) if k else input
    # row i of eye holds its 1 at column i + diagonal: scale rows for diagonal >= 0, columns below
    return eye * (ops.expand_dims(padded, axis=1) if diagonal >= 0 else ops.expand_dims(padded, axis=0))


# ================================================================ tensors from data
def from_numpy(array):
    """A numpy-backend tensor sharing `array`'s memory, as torch.from_numpy (writes show in both)."""
    return asarray(array, backend="numpy")


def as_tensor(data, dtype=None, device=None, backend=None):
    """A tensor sharing `data`'s memory where it can (same backend, device and dtype), else a copy."""
    return asarray(data, dtype=dtype, device=device, backend=backend)


def randperm(n, *, dtype=None, device=None, backend=None, generator=None, requires_grad=False):
    """A random permutation of 0..n-1 (int64 unless dtype says otherwise)."""
    from ..namespace.random import default_generator

    source = generator or default_generator(device, backend)
    return source.permutation(n, dtype=dtype)


# ================================================================ devices
def device(spec, index=None):
    """A polygrad Device from PyTorch's spellings: pg.device("cuda:1"), pg.device("cuda", 1), pg.device("cpu")."""
    if isinstance(spec, str) and index is not None:
        spec = f"{spec}:{index}"
    return resolve_device(spec)


class _Cuda:
    """`pg.cuda.*` (PyTorch's torch.cuda): answered by the backends that reach CUDA devices.

    Without one, each call answers as torch does on a machine without CUDA: counts are 0,
    seeding and emptying the cache do nothing, and the calls that need a device raise.
    """

    @staticmethod
    def device_count():
        counts = [0]
        for name in backends.available():
            counts.append(len([d for d in backends.get(name).devices() if d.name.startswith("cuda")]))
        return max(counts)

    @staticmethod
    def is_available():
        return _Cuda.device_count() > 0

    @staticmethod
    def _device(device=None, function="cuda"):
        if not _Cuda.is_available():
            raise RuntimeError(f"cuda.{function}: no CUDA device here (torch raises too without CUDA)")
        if isinstance(device, int):
            device = f"cuda:{device}"
        return resolve_device("cuda" if device is None else device)

    @staticmethod
    def manual_seed_all(seed):
        """Reseed the default generator of every CUDA device (not the CPU's, as in torch)."""
        from ..namespace.random import manual_seed_kind

        manual_seed_kind(seed, "cuda")

    manual_seed = manual_seed_all  # one generator per device; polygrad has no "current" CUDA device to single out

    @staticmethod
    def synchronize(device=None):
        target = _Cuda._device(device, "synchronize")
        target.backend.synchronize(target)

    @staticmethod
    def set_device(device):
        """Only cuda:0, which "cuda" always means in polygrad; another device would silently not be used."""
        if _Cuda._device(device, "set_device").name != "cuda:0":
            raise NotImplementedError(f"cuda.set_device({device!r}): polygrad has no current CUDA device; "
                                      "\"cuda\" always means cuda:0, so name the device on each tensor instead")

    @staticmethod
    def current_device():
        return int(_Cuda._device(None, "current_device").name.split(":")[1])

    @staticmethod
    def is_bf16_supported(including_emulation=True):
        """Whether the CUDA backend has bfloat16 arrays (False without CUDA, as in torch)."""
        if not _Cuda.is_available():
            return False
        return getattr(_Cuda._device().backend.xp, "bfloat16", None) is not None

    @staticmethod
    def empty_cache():
        pass  # polygrad hands memory back through the array library's own pool


cuda = _Cuda()
