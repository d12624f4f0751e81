"""More of PyTorch's functions and Tensor methods, with its signatures, defaults and results.

Each is built from polygrad's own functions, so every backend has it and the
differentiable ones carry gradients: random draws (`multinomial`, `bernoulli`,
`normal`, the `*_like` draws), element-wise odds (`fmod`, `frac`,
`nan_to_num`), shapes (`diagonal`, `select`, `rot90`, `kron`), counting
(`unique`, `bincount`), the legacy typed constructors (`pg.LongTensor([1, 2])`),
and `format(t, ".4f")` of a 0-d tensor. `install(Tensor)` adds the methods.
"""

import math

from ..namespace import creation, linalg, ops
from . import pytorch_face
from ..core.dtypes import finfo, isdtype
from ..namespace.ops import asarray
from ..core.engine import no_grad
from ..core.placement import resolve_device
from ..core.errors import ShapeError, describe
from ..namespace.random import default_generator
from ..namespace.standard import broadcast_arrays, unique_counts, unique_inverse, unique_values
from ..core.tensor import Tensor


# ================================================================ printing
def tensor_format(self, format_spec):
    """f"{loss:.4f}": a 0-d tensor formats as its Python number; others take no format spec (as torch)."""
    if self.ndim == 0:
        return format(self.item(), format_spec)
    if format_spec:
        raise TypeError("unsupported format string passed to Tensor.__format__")
    return str(self)


# ================================================================ random draws
def _source(generator, device):
    return generator or default_generator(device)


def rand_like(input, *, dtype=None, device=None, requires_grad=False, generator=None, memory_format=None):
    """Uniform [0, 1) numbers shaped like `input`, in its dtype and on its device unless told otherwise."""
    where = input.device if device is None else resolve_device(device)
    return _source(generator, where).rand(*input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def randn_like(input, *, dtype=None, device=None, requires_grad=False, generator=None, memory_format=None):
    """Standard normal numbers shaped like `input`, in its dtype and on its device unless told otherwise."""
    where = input.device if device is None else resolve_device(device)
    return _source(generator, where).randn(*input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def randint_like(input, low=0, high=None, *, dtype=None, device=None, requires_grad=False, generator=None,
                 memory_format=None):
    """Integers from [low, high) shaped like `input` (randint_like(x, high) draws from [0, high)), in its dtype."""
    if high is None:
        low, high = 0, low
    where = input.device if device is None else resolve_device(device)
    dtype = dtype or input.dtype
    integral = dtype if isdtype(dtype, "integral") else "int64"
    drawn = _source(generator, where).randint(low, high, input.shape, dtype=integral)
    result = drawn if integral is dtype else ops.astype(drawn, dtype)
    return result.requires_grad_() if requires_grad else result


def bernoulli(input, p=None, *, generator=None):
    """0/1 draws, 1 with probability `input` (or `p`), in input's dtype; no gradient, as torch."""
    with no_grad():
        chance = input if p is None else creation.full_like(input, p)
        u = _source(generator, input.device).rand(*input.shape, dtype=input.dtype)
        return ops.astype(u < chance, input.dtype)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None, requires_grad=False):
    """Normal draws: torch.normal(mean, std) with tensors or numbers broadcast, or numbers and a size."""
    tensors = [t for t in (mean, std) if isinstance(t, Tensor)]
    if size is None and not tensors:
        raise TypeError("normal: give a size when mean and std are both numbers")
    like = tensors[0] if tensors else None
    where = like.device if like is not None else resolve_device(device)
    dtype = dtype or (like.dtype if like is not None else None)
    shape = tuple(size) if size is not None else broadcast_arrays(*tensors)[0].shape
    noise = _source(generator, where).randn(*shape, dtype=dtype)
    result = noise * std + mean  # the draw is a constant: gradients reach mean and std, as torch's
    return result.requires_grad_() if requires_grad and not result.requires_grad else result


def multinomial(input, num_samples, replacement=False, *, generator=None):
    """Indices drawn from the categories of each row of `input` (non-negative weights, not necessarily
    normalized), as torch.multinomial: int64, shape (num_samples,) or (rows, num_samples)."""
    if input.ndim not in (1, 2):
        raise ShapeError(f"multinomial: expects a 1-D or 2-D tensor of weights, got {describe(input)}")
    rows = input.detach() if input.ndim == 2 else ops.expand_dims(input.detach(), axis=0)
    n = rows.shape[1]
    if not (ops.all(ops.isfinite(rows)) and ops.all(rows >= 0)):
        raise RuntimeError("multinomial: probability tensor contains either `inf`, `nan` or element < 0")
    if not ops.all(ops.sum(rows, axis=1) > 0):
        raise RuntimeError("multinomial: invalid multinomial distribution (sum of probabilities <= 0)")
    if not replacement and num_samples > n:
        raise RuntimeError(f"multinomial: cannot sample {num_samples} > {n} categories without replacement")
    u = _source(generator, input.device).rand(rows.shape[0], num_samples if replacement else n, dtype=rows.dtype)
    with no_grad():
        if replacement:  # inverse CDF: the index of the first category whose cumulative weight passes u
            cdf = ops.cumulative_sum(rows, axis=1)
            cdf = cdf / cdf[:, -1:]
            drawn = ops.sum(ops.astype(ops.expand_dims(cdf, axis=1) <= ops.expand_dims(u, axis=2), "int64"), axis=2)
            drawn = ops.minimum(drawn, n - 1)
        else:  # Gumbel top-k: the k largest log-weights plus Gumbel noise are k draws without replacement, in order
            positive = rows > 0  # a zero weight's key is -inf: never drawn before a positive one
            keys = ops.where(positive, ops.log(ops.where(positive, rows, 1.0)), -math.inf) - ops.log(-ops.log(u))
            drawn = keys.topk(num_samples, dim=1).indices
    return drawn if input.ndim == 2 else drawn[0]


# ================================================================ element-wise
def fmod(input, other):
    """The remainder of truncated division, with the sign of `input` (C's fmod; `remainder` floors instead)."""
    x, y = (input, other) if isinstance(input, Tensor) else (asarray(input), other)
    if isdtype(x.dtype, "integral") and ops.any(asarray(y, device=x.device) == 0):
        raise ZeroDivisionError("fmod: integer division by zero")
    # |x| mod |y| is exact for non-negative operands; the sign of x then makes it truncated
    return ops.sign(x) * ops.remainder(ops.abs(x), ops.abs(y) if isinstance(y, Tensor) else abs(y))


def frac(input):
    """The fractional part, with the sign of `input`: x - trunc(x)."""
    return input - ops.trunc(input)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    """NaN -> `nan`, +inf -> `posinf`, -inf -> `neginf` (default: the dtype's largest and lowest finite values)."""
    if not isdtype(input.dtype, "real floating"):
        return input.clone()
    info = finfo(input.dtype)
    posinf = info.max if posinf is None else posinf
    neginf = info.min if neginf is None else neginf
    out = ops.where(ops.isnan(input), nan, input)
    out = ops.where(ops.isinf(input) & (input > 0), posinf, out)
    return ops.where(ops.isinf(input) & (input < 0), neginf, out)


# ================================================================ shapes
def _dim(x, dim, name):
    if not -x.ndim <= dim < x.ndim:
        raise IndexError(f"{name}: dim {dim} is out of range for {describe(x)}")
    return dim % x.ndim


def diagonal(input, offset=0, dim1=0, dim2=1):
    """The diagonal of the (dim1, dim2) planes, as a new last dim (offset > 0: above the main diagonal)."""
    dim1, dim2 = _dim(input, dim1, "diagonal"), _dim(input, dim2, "diagonal")
    if dim1 == dim2:
        raise ValueError(f"diagonal: dim1 and dim2 must differ, got {dim1} and {dim2}")
    rest = tuple(d for d in range(input.ndim) if d not in (dim1, dim2))
    return linalg.diagonal(ops.permute_dims(input, rest + (dim1, dim2)), offset=offset)


def select(input, dim, index):
    """input[..., index, ...] along `dim`, that dim removed."""
    dim = _dim(input, dim, "select")
    if not -input.shape[dim] <= index < input.shape[dim]:
        raise IndexError(f"select: index {index} is out of range for dim {dim} of {describe(input)}")
    return input[(slice(None),) * dim + (index,)]


def trace(input):
    """The sum of a matrix's main diagonal (torch.trace; pg.trace prints a function's traces)."""
    if input.ndim != 2:
        raise ShapeError(f"trace: expects a matrix, got {describe(input)}")
    dtype = "int64" if isdtype(input.dtype, "integral") or input.dtype == "bool" else None
    return ops.sum(linalg.diagonal(input), axis=-1, dtype=dtype)


def tril(input, diagonal=0):
    return ops.tril(input, k=diagonal)


def triu(input, diagonal=0):
    return ops.triu(input, k=diagonal)


def rot90(input, k=1, dims=(0, 1)):
    """Rotate by 90 degrees k times in the plane of `dims`, from the first dim towards the second."""
    if len(dims) != 2 or _dim(input, dims[0], "rot90") == _dim(input, dims[1], "rot90"):
        raise ValueError(f"rot90: dims must be two different dims, got {dims!r}")
    k %= 4
    if k == 0:
        return input.clone()
    if k == 2:
        return ops.flip(input, axis=tuple(dims))
    flipped = ops.flip(input, axis=dims[1] if k == 1 else dims[0])
    return ops.swapaxes(flipped, dims[0], dims[1])


def kron(input, other):
    """The Kronecker product: block (i, j, ...) is input[i, j, ...] * other."""
    ndim = max(input.ndim, other.ndim)
    a = ops.reshape(input, (1,) * (ndim - input.ndim) + input.shape)
    b = ops.reshape(other, (1,) * (ndim - other.ndim) + other.shape)
    product = ops.reshape(a, _interleave(a.shape, 1)) * ops.reshape(b, _interleave(1, b.shape))
    return ops.reshape(product, tuple(m * n for m, n in zip(a.shape, b.shape)))


def _interleave(first, second):
    """(a0, b0, a1, b1, ...) where an int stands for that size in every position."""
    n = len(first) if isinstance(first, tuple) else len(second)
    first = first if isinstance(first, tuple) else (first,) * n
    second = second if isinstance(second, tuple) else (second,) * n
    return tuple(size for pair in zip(first, second) for size in pair)


# ================================================================ counting
def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct values of `input` (flattened), sorted; with the inverse (input's shape) and counts if asked."""
    if dim is not None:
        raise NotImplementedError("unique(dim=...): polygrad finds unique values of the flattened tensor only")
    flat = ops.reshape(input.detach(), (-1,))
    out = (unique_values(flat),)
    if return_inverse:
        out += (ops.reshape(unique_inverse(flat).inverse_indices, input.shape),)
    if return_counts:
        out += (unique_counts(flat).counts,)
    return out[0] if len(out) == 1 else out


def bincount(input, weights=None, minlength=0):
    """How often each value 0, 1, ... occurs in a 1-D tensor of non-negative integers (or the sum of its weights)."""
    if input.ndim != 1 or not isdtype(input.dtype, "integral"):
        raise ShapeError(f"bincount: expects a 1-D tensor of integers, got {describe(input)}")
    if input.shape[0] and int(ops.min(input)) < 0:
        raise ValueError("bincount: the input must hold non-negative integers")
    length = max(int(ops.max(input)) + 1 if input.shape[0] else 0, minlength)
    if weights is None:
        dtype, values = "int64", creation.ones(input.shape, dtype="int64", device=input.device)
    else:
        dtype = weights.dtype if isdtype(weights.dtype, "real floating") else "float64"
        values = ops.astype(weights, dtype)
    return creation.zeros((length,), dtype=dtype, device=input.device).index_add(0, input, values)


def is_tensor(obj):
    return isinstance(obj, Tensor)


# ================================================================ legacy typed constructors
class _TypedTensorMeta(type):
    """torch.LongTensor and friends: a call makes a tensor of that dtype; isinstance checks the dtype."""

    def __call__(cls, *args, device=None):
        if all(isinstance(a, int) and not isinstance(a, bool) for a in args):  # sizes (zeros where torch leaves garbage)
            return creation.zeros(args if args else (0,), dtype=cls.dtype, device=device)
        if len(args) != 1:
            raise TypeError(f"{cls.__name__}: give sizes (ints) or one sequence of data, got {args!r}")
        return asarray(args[0], dtype=cls.dtype, device=device)

    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype


def _typed(name, dtype):
    return _TypedTensorMeta(name, (), {"dtype": dtype, "__doc__": f"torch.{name}: tensors of {dtype}."})


TYPED = {name: _typed(name, dtype) for name, dtype in (
    ("FloatTensor", "float32"), ("DoubleTensor", "float64"), ("HalfTensor", "float16"),
    ("BFloat16Tensor", "bfloat16"), ("LongTensor", "int64"), ("IntTensor", "int32"), ("ShortTensor", "int16"),
    ("CharTensor", "int8"), ("ByteTensor", "uint8"), ("BoolTensor", "bool"),
)}

# the pg.* functions (polygrad/__init__.py exports these; torch_import gives trace/tril/triu their torch meaning)
FUNCTIONS = {
    "rand_like": rand_like, "randn_like": randn_like, "randint_like": randint_like, "bernoulli": bernoulli,
    "normal": normal, "multinomial": multinomial, "fmod": fmod, "frac": frac, "nan_to_num": nan_to_num,
    "diagonal": diagonal, "select": select, "rot90": rot90, "kron": kron, "unique": unique, "bincount": bincount,
    "is_tensor": is_tensor, **TYPED,
}
def addmm(self, mat1, mat2, *, beta=1, alpha=1):
    """beta * self + alpha * (mat1 @ mat2), as Tensor.addmm (pg.addmm looked up at the call: autocast wraps it)."""
    return pytorch_face.addmm(self, mat1, mat2, beta=beta, alpha=alpha)


def baddbmm(self, batch1, batch2, *, beta=1, alpha=1):
    """beta * self + alpha * (batch1 @ batch2), as Tensor.baddbmm (pg.baddbmm looked up at the call)."""
    return pytorch_face.baddbmm(self, batch1, batch2, beta=beta, alpha=alpha)


# Tensor methods: the function with the tensor as `self`
METHODS = {
    "__format__": tensor_format, "multinomial": multinomial, "bernoulli": bernoulli, "fmod": fmod, "frac": frac,
    "nan_to_num": nan_to_num, "diagonal": diagonal, "select": select, "rot90": rot90, "kron": kron,
    "unique": unique, "bincount": bincount, "trace": trace, "tril": tril, "triu": triu,
    "asin": ops.asin, "acos": ops.acos, "atan": ops.atan, "asinh": ops.asinh, "acosh": ops.acosh,
    "atanh": ops.atanh, "sinh": ops.sinh, "cosh": ops.cosh, "tan": ops.tan, "log2": ops.log2, "log10": ops.log10,
    "atan2": ops.atan2, "remainder": ops.remainder, "addmm": addmm, "baddbmm": baddbmm,
}


def install(tensor_class):
    """Add the methods the Tensor class does not define yet (its own stay as they are)."""
    for name, function in METHODS.items():
        if name == "__format__" or not hasattr(tensor_class, name):
            setattr(tensor_class, name, _method(function, name))


def _method(function, name):
    def method(self, *args, **kwargs):
        return function(self, *args, **kwargs)

    method.__name__, method.__qualname__, method.__doc__ = name, f"Tensor.{name}", function.__doc__
    return method
