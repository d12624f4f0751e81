"""pg.linalg: the Array API's linear-algebra extension, with gradients.

Decompositions are primitives with closed-form adjoints (polygrad.primitives,
section "linear algebra"): inv, solve, det, slogdet's log|det|, cholesky. The
rest are composites of differentiable primitives (diagonal and trace through
take, norms through abs/pow/sum/max, cross through products).

Undefined gradients: inv, solve, det and slogdet at singular matrices;
cholesky needs a symmetric positive-definite input and takes perturbations
symmetric. svdvals, eigvalsh and matrix_rank give values only: their results
carry no gradient (eigenvalue adjoints are undefined at repeated eigenvalues).
eigh, qr, svd and pinv give values only too, and refuse a tensor that requires
grad (their adjoints are not written yet).
"""

import builtins
import math
from collections import namedtuple

from . import ops
from .engine import state
from .errors import DtypeError, ShapeError, describe
from .ops import _standard
from .primitives import PRIMITIVES, defprim
from .tensor import Tensor

__all__ = [
    "cholesky", "cross", "det", "diagonal", "inv", "matmul", "matrix_norm", "matrix_power", "matrix_rank",
    "matrix_transpose", "outer", "slogdet", "solve", "svdvals", "eigvalsh", "tensordot", "trace", "vecdot",
    "vector_norm",
]

# values without a gradient
for _name in ("svdvals", "eigvalsh"):
    defprim(f"linalg_{_name}", (lambda name: lambda xp, x: getattr(xp.linalg, name)(x))(_name),
            doc=f"linalg.{_name}: values only, no gradient.")
defprim("linalg_matrix_rank", lambda xp, x, *, rtol=None: xp.linalg.matrix_rank(x, rtol=rtol),
        doc="linalg.matrix_rank: values only, no gradient.")
defprim("linalg_sign_of_det", lambda xp, x: xp.linalg.slogdet(x)[0], doc="slogdet's sign: no gradient.")

_f = {name: ops._public(PRIMITIVES[f"linalg_{name}"]) for name in (
    "inv", "solve", "det", "logabsdet", "cholesky", "svdvals", "eigvalsh", "matrix_rank", "sign_of_det")}

matmul = ops.matmul
matrix_transpose = ops.matrix_transpose
tensordot = ops.tensordot
outer = ops.outer


def _raw(option):
    """A Tensor passed as an option (rtol), as the raw array the backend's function takes."""
    return option.array if isinstance(option, Tensor) else option


def _square(name, x):
    x = ops._operands([x])[0]
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise ShapeError(f"linalg.{name}: expects a stack of square matrices, got {describe(x)}")
    return x


@_standard(lambda x, /: None)
def inv(x):
    return _f["inv"](_square("inv", x))


@_standard(lambda x, /: None)
def det(x):
    return _f["det"](_square("det", x))


SlogdetResult = namedtuple("SlogdetResult", ["sign", "logabsdet"])


@_standard(lambda x, /: None)
def slogdet(x):
    """(sign, log|det|): the sign carries no gradient, log|det| does."""
    x = _square("slogdet", x)
    return SlogdetResult(_f["sign_of_det"](x), _f["logabsdet"](x))


@_standard(lambda x1, x2, /: None)
def solve(x1, x2):
    """X with x1 @ X = x2; x2 a vector (M,) or a stack of matrices (..., M, K)."""
    a, b = ops._operands([_square("solve", x1), x2])
    if b.ndim == 1:
        return ops.squeeze(_f["solve"](a, ops.expand_dims(b, axis=-1)), axis=-1)
    return _f["solve"](a, b)


@_standard(lambda x, /, *, upper=False: None)
def cholesky(x, upper=False):
    return _f["cholesky"](_square("cholesky", x), upper=upper)


@_standard(lambda x, /: None)
def svdvals(x):
    return _f["svdvals"](x)


@_standard(lambda x, /: None)
def eigvalsh(x):
    return _f["eigvalsh"](_square("eigvalsh", x))


@_standard(lambda x, /, *, rtol=None: None)
def matrix_rank(x, rtol=None):
    """The number of singular values above rtol (a float, or one per matrix) times the largest."""
    return _f["matrix_rank"](x, rtol=_raw(rtol))


@_standard(lambda x, /, *, offset=0: None)
def diagonal(x, offset=0):
    """The diagonal of each matrix in the stack (offset > 0 above it), through take."""
    x = ops._operands([x])[0]
    rows, cols = x.shape[-2:]
    start_row, start_col = builtins.max(-offset, 0), builtins.max(offset, 0)
    n = builtins.max(builtins.min(rows - start_row, cols - start_col), 0)
    xp = x.xp
    flat = (xp.arange(n, device=x.device.native) + start_row) * cols + xp.arange(n, device=x.device.native) + start_col
    matrices = ops.reshape(x, x.shape[:-2] + (rows * cols,))
    return ops.take(matrices, Tensor._wrap(flat, x.device), axis=-1)


@_standard(lambda x, /, *, offset=0, dtype=None: None)
def trace(x, offset=0, dtype=None):
    return ops.sum(diagonal(x, offset=offset), axis=-1, dtype=dtype)


@_standard(lambda x, /, *, axis=None, keepdims=False, ord=2: None)
def vector_norm(x, axis=None, keepdims=False, ord=2):
    """The ord-norm over `axis` (all axes by default); inf/-inf the largest/smallest |x|, 0 the count of nonzeros.

    Real-valued for complex x too (in its components' dtype): every norm is built from |x|.
    """
    x = ops._operands([x])[0]
    abs_x = ops.abs(x)
    if ord == math.inf:
        return ops.max(abs_x, axis=axis, keepdims=keepdims)
    if ord == -math.inf:
        return ops.min(abs_x, axis=axis, keepdims=keepdims)
    if ord == 0:
        return ops.sum(ops.astype(x != 0, abs_x.dtype), axis=axis, keepdims=keepdims)
    if ord == 1:
        return ops.sum(abs_x, axis=axis, keepdims=keepdims)
    if ord == 2:
        return ops.sqrt(ops.sum(abs_x * abs_x, axis=axis, keepdims=keepdims))
    return ops.sum(abs_x ** ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)


@_standard(lambda x, /, *, keepdims=False, ord="fro": None)
def matrix_norm(x, keepdims=False, ord="fro"):
    """'fro', 1, -1, inf, -inf norms of each matrix (2, -2 and 'nuc' need singular values: no gradient)."""
    x = ops._operands([x])[0]
    axes = (-2, -1)
    if ord == "fro":
        return vector_norm(x, axis=axes, keepdims=keepdims)
    if ord in (1, -1, math.inf, -math.inf):
        sum_axis, pick_axis = (-2, -1) if ord in (1, -1) else (-1, -2)
        sums = ops.sum(ops.abs(x), axis=sum_axis, keepdims=True)
        pick = ops.max if ord > 0 else ops.min
        out = pick(sums, axis=pick_axis, keepdims=True)
    elif ord in (2, -2, "nuc"):
        values = svdvals(x)
        reduce = {2: ops.max, -2: ops.min, "nuc": ops.sum}[ord]
        out = ops.expand_dims(ops.expand_dims(reduce(values, axis=-1), axis=-1), axis=-1)
    else:
        raise ValueError(f"linalg.matrix_norm: unknown ord {ord!r}")
    return out if keepdims else ops.reshape(out, x.shape[:-2])


@_standard(lambda x1, x2, /, *, axis=-1: None)
def cross(x1, x2, axis=-1):
    """The cross product of 3-vectors along `axis`."""
    a, b = ops._operands([x1, x2])
    if a.shape[axis] != 3 or b.shape[axis] != 3:
        raise ShapeError(f"linalg.cross: needs size 3 along axis {axis}, got {describe(a)} and {describe(b)}")
    a0, a1, a2 = (ops.take(a, Tensor._wrap(a.xp.asarray([i], device=a.device.native), a.device), axis=axis)
                  for i in range(3))
    b0, b1, b2 = (ops.take(b, Tensor._wrap(b.xp.asarray([i], device=b.device.native), b.device), axis=axis)
                  for i in range(3))
    return ops.concat([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=axis)


@_standard(lambda x, n, /: None)
def matrix_power(x, n):
    """x multiplied by itself n times (n < 0: of its inverse), by repeated squaring."""
    x = _square("matrix_power", x)
    if n < 0:
        x, n = inv(x), -n
    result = None
    while n:
        if n & 1:
            result = x if result is None else result @ x
        n >>= 1
        if n:
            x = x @ x
    if result is None:
        eye = ops.zeros_like(x) + x.xp.eye(x.shape[-1], dtype=x.array.dtype, device=x.device.native)
        return Tensor._wrap(eye.array, x.device)
    return result


def vecdot(x1, x2, /, *, axis=-1):
    from .standard import vecdot as _vecdot

    return _vecdot(x1, x2, axis=axis)


# rules call xp.linalg.<name>; under create_graph that xp is polygrad.ops
ops.linalg = __import__("sys").modules[__name__]


# ---------------------------------------------------------------- decompositions without gradients yet
EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
QRResult = namedtuple("QRResult", ["Q", "R"])
SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])


def _values_only(name, x):
    """The backend's linalg.<name> of x; refuses a tensor that requires grad rather than dropping its gradient."""
    x = ops._operands([x])[0]
    if x.requires_grad and state.grad_enabled:
        raise DtypeError(f"linalg.{name}: gradients are not supported yet; {describe(x)} requires grad "
                         "(detach it, or compute under no_grad())")
    return x


@_standard(lambda x, /: None)
def eigh(x):
    x = _values_only("eigh", _square("eigh", x))
    return EighResult(*(Tensor._wrap(part, x.device) for part in x.xp.linalg.eigh(x.array)))


@_standard(lambda x, /, *, mode="reduced": None)
def qr(x, mode="reduced"):
    x = _values_only("qr", x)
    return QRResult(*(Tensor._wrap(part, x.device) for part in x.xp.linalg.qr(x.array, mode=mode)))


@_standard(lambda x, /, *, full_matrices=True: None)
def svd(x, full_matrices=True):
    x = _values_only("svd", x)
    return SVDResult(*(Tensor._wrap(part, x.device) for part in x.xp.linalg.svd(x.array, full_matrices=full_matrices)))


@_standard(lambda x, /, *, rtol=None: None)
def pinv(x, rtol=None):
    x = _values_only("pinv", x)
    return Tensor._wrap(x.xp.linalg.pinv(x.array, rtol=_raw(rtol)), x.device)


__all__ += ["eigh", "qr", "svd", "pinv"]
