"""pg.linalg: the Array API's linear-algebra extension, with gradients.

Decompositions are primitives with closed-form adjoints (polygrad.primitives.table,
section "linear algebra"): inv, solve, det, slogdet's log|det|, cholesky, eigh,
eigvalsh, svd, svdvals, qr and pinv. The rest are composites of differentiable
primitives (diagonal and trace through take, norms through abs/pow/sum/max,
cross through products).

Undefined gradients: inv, solve, det and slogdet at singular matrices; eigh's
eigenvectors at repeated eigenvalues and svd's vectors at repeated (or, for a
non-square matrix, zero) singular values, where they come out inf or nan as in
PyTorch; qr where R is singular; pinv where the rank changes. cholesky, eigh and
eigvalsh read a symmetric matrix and take perturbations symmetric. Gradients
need svd(full_matrices=False) for a non-square matrix and qr(mode="reduced")
with at least as many rows as columns; otherwise those refuse a tensor that
requires grad. matrix_rank and slogdet's sign carry no gradient.

Complex matrices (PyTorch's convention, see polygrad.primitives.complex): inv,
solve, det, slogdet's log|det|, cholesky, eigh, eigvalsh (Hermitian input), qr,
svd, svdvals, pinv and the 2025.12 eig and eigvals (complex results for real input
too) differentiate; a loss that depends on the arbitrary phase of complex eigen- or
singular vectors raises, as in PyTorch.
"""

import builtins
import math
from collections import namedtuple

from . import ops
from ..core.engine import state
from ..core.errors import DtypeError, ShapeError, describe
from .ops import _standard
from ..primitives.table import PRIMITIVES, defprim
from ..primitives.linalg import _diagonal_matrix, _svd_parts
from ..primitives.complex import check_phase
from ..core.tensor import Tensor

__all__ = [
    "cholesky", "cross", "det", "diagonal", "inv", "matmul", "matrix_norm", "matrix_power", "matrix_rank",
    "matrix_transpose", "outer", "slogdet", "solve", "svdvals", "eigvalsh", "tensordot", "trace", "vecdot",
    "vector_norm",
]

# values without a gradient
defprim("linalg_matrix_rank", lambda xp, x, *, rtol=None: xp.linalg.matrix_rank(x, rtol=rtol),
        doc="linalg.matrix_rank: values only, no gradient.")
defprim("linalg_sign_of_det", lambda xp, x: xp.linalg.slogdet(x)[0], doc="slogdet's sign: no gradient.")

_f = {name: ops._public(PRIMITIVES[f"linalg_{name}"]) for name in (
    "inv", "solve", "det", "logabsdet", "cholesky", "eigh", "eigvalsh", "svd", "svdvals", "qr", "pinv", "matrix_rank",
    "sign_of_det")}

matmul = ops.matmul
matrix_transpose = ops.matrix_transpose
tensordot = ops.tensordot
outer = ops.outer


def _raw(option):
    """A Tensor passed as an option (rtol), as the raw array the backend's function takes."""
    return option.array if isinstance(option, Tensor) else option


def _matrices(name, x, square=False):
    x = ops._operands([x])[0]
    if x.ndim < 2 or square and x.shape[-1] != x.shape[-2]:
        raise ShapeError(f"linalg.{name}: expects a stack of {'square ' if square else ''}matrices, got {describe(x)}")
    return x


def _square(name, x):
    return _matrices(name, x, square=True)


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
    """The diagonal of each matrix in the stack (offset > 0 above it): every (cols + 1)-th entry of
    the flattened matrix, a view as in PyTorch (an in-place update of it writes into x)."""
    x = ops._operands([x])[0]
    rows, cols = x.shape[-2:]
    start_row, start_col = builtins.max(-offset, 0), builtins.max(offset, 0)
    n = builtins.max(builtins.min(rows - start_row, cols - start_col), 0)
    start = start_row * cols + start_col if n else 0
    matrices = ops.reshape(x, x.shape[:-2] + (rows * cols,))
    return matrices[..., start:start + (cols + 1) * (n - 1) + 1 if n else 0:cols + 1]


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
        return _root(ops.sum(abs_x * abs_x, axis=axis, keepdims=keepdims), 2)
    return _root(ops.sum(abs_x ** ord, axis=axis, keepdims=keepdims), ord)


def _root(total, ord):
    """total ** (1 / ord), whose gradient is 0 where total is 0: PyTorch's norm_backward gives a
    zero vector's norm the gradient 0 (the root's own slope there is infinite, and inf * 0 NaN)."""
    if ord < 0:
        return total ** (1.0 / ord)  # a negative-order norm of a zero is 0 through an infinite total
    zero = total == 0
    safe = ops.where(zero, 1.0, total)  # the double where: no infinite slope even in the branch not taken
    return ops.where(zero, 0.0, ops.sqrt(safe) if ord == 2 else safe ** (1.0 / ord))


@_standard(lambda x, /, *, keepdims=False, ord="fro": None)
def matrix_norm(x, keepdims=False, ord="fro"):
    """'fro', 1, -1, inf, -inf norms of each matrix; 2, -2 and 'nuc' through its singular values."""
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


# rules call xp.linalg.<name>; under create_graph that xp is polygrad.namespace.ops
ops.linalg = __import__("sys").modules[__name__]


# ---------------------------------------------------------------- eigh, qr and svd (several results each), pinv
# Each is one primitive whose output stacks its results as rows (polygrad.primitives.table); here they are split
# into arrays of their own (recorded copies), as PyTorch returns them: `U *= signs` then changes U alone.
EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
QRResult = namedtuple("QRResult", ["Q", "R"])
SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])


def _backend_results(parts, x):
    return (Tensor._wrap(part, x.device) for part in parts)


def _separate(*views):
    return (ops.astype(v, v.dtype) for v in views)


def _complex(x):
    """Complex input: its real eigen/singular values do not stack with its vectors, and no adjoint is written for it."""
    return x.xp.isdtype(x.array.dtype, "complex floating")


def _without_gradient(name, x, reason):
    """x, once it is known not to need a gradient: refused rather than silently dropped."""
    if x.requires_grad and state.grad_enabled:
        raise DtypeError(f"linalg.{name}: no gradient {reason}; {describe(x)} requires grad "
                         "(detach it, or compute under no_grad())")
    return x


@_standard(lambda x, /: None)
def eigh(x):
    """Eigenvalues (ascending) and eigenvectors of symmetric matrices (the backend reads the lower triangle)."""
    x = _square("eigh", x)
    out = _f["eigh"](x)
    values = out[..., 0, :]
    return EighResult(*_separate(ops.real(values) if _complex(x) else values, out[..., 1:, :]))


@_standard(lambda x, /, *, mode="reduced": None)
def qr(x, mode="reduced"):
    """Q and R; differentiable for mode="reduced" (or a square matrix) with at least as many rows as columns."""
    x = _matrices("qr", x)
    m, n = x.shape[-2:]
    if m < n or mode != "reduced" and not (mode == "complete" and m == n):
        reason = ("with mode='complete' for matrices with more rows than columns (Q's extra columns are any "
                  "orthonormal completion): pass mode='reduced'" if m > n else
                  "for matrices with fewer rows than columns (the adjoint is written for rows >= columns)")
        x = _without_gradient("qr", x, reason)
        return QRResult(*_backend_results(x.xp.linalg.qr(x.array, mode=mode), x))
    out = _f["qr"](x)
    return QRResult(*_separate(out[..., :m, :], out[..., m:, :]))


@_standard(lambda x, /, *, full_matrices=True: None)
def svd(x, full_matrices=True):
    """U, S (descending), Vh; differentiable with full_matrices=False, or for square matrices."""
    x = _matrices("svd", x)
    m, n = x.shape[-2:]
    if full_matrices and m != n:
        x = _without_gradient("svd", x, "with full_matrices=True for non-square matrices (the vectors beyond "
                                        "min(m, n) are any orthonormal completion): pass full_matrices=False")
        return SVDResult(*_backend_results(x.xp.linalg.svd(x.array, full_matrices=full_matrices), x))
    u, s, v = _svd_parts(_f["svd"](x), m)
    if _complex(x):  # the stack holds S in the complex dtype, and Vh is V's conjugate transpose
        return SVDResult(*_separate(u, ops.real(s), ops.conj(ops.matrix_transpose(v))))
    return SVDResult(*_separate(u, s, ops.matrix_transpose(v)))


@_standard(lambda x, /, *, rtol=None: None)
def pinv(x, rtol=None):
    """The pseudo-inverse: singular values at most rtol (a float, or one per matrix) times the largest count as 0."""
    return _f["pinv"](_matrices("pinv", x), rtol=_raw(rtol))


__all__ += ["eigh", "qr", "svd", "pinv"]


# ---------------------------------------------------------------- eig, eigvals (2025.12): complex results
# PyTorch's formulas (linalg_eig_backward / linalg_eig_jvp), in the complex convention themselves: with
# P = V⁻¹ dA V, dL = diag(P) and dV = V (P / E off the diagonal), E_ij = L_j - L_i, less the part along
# each eigenvector that would change its norm; the adjoint is V⁻ᴴ (diag(gL) + (Vᴴ gV - Vᴴ V diag(re
# diag(Vᴴ gV))) / conj(E)) Vᴴ. A real A gets the real part. Undefined (inf or nan) at repeated eigenvalues
# when the eigenvectors carry a gradient; a loss that depends on each eigenvector's phase has none.
def _mH(xp, a):
    return xp.conj(xp.matrix_transpose(a))


def _eig_forward(xp, x):
    values, vectors = xp.linalg.eig(x)
    return xp.concat([xp.expand_dims(values, axis=-2), vectors], axis=-2)


def _off_diagonal_gaps(xp, values):
    """E_ij = values_j - values_i off the diagonal, 1 on it (so dividing by it leaves the diagonal)."""
    gaps = xp.expand_dims(values, axis=-2) - xp.expand_dims(values, axis=-1)
    eye = _diagonal_matrix(xp, xp.ones_like(values))
    return gaps + eye, eye


def _eig_adjoint(xp, g_values, g_vectors, values, vectors):
    gaps, eye = _off_diagonal_gaps(xp, xp.conj(values))
    inner = _diagonal_matrix(xp, g_values)
    if g_vectors is not None:
        check_phase(xp, vectors, g_vectors, "linalg.eig")
        projected = _mH(xp, vectors) @ g_vectors
        along = xp.real(xp.linalg.diagonal(projected))
        projected = projected - _mH(xp, vectors) @ (vectors * xp.astype(xp.expand_dims(along, axis=-2), vectors.dtype))
        inner = inner + projected * (1 - eye) / gaps
    return xp.linalg.solve(_mH(xp, vectors), inner @ _mH(xp, vectors))


def _eig_jvp(xp, t, out, x):
    values, vectors = out[..., 0, :], out[..., 1:, :]
    projected = xp.linalg.solve(vectors, xp.astype(t, vectors.dtype) @ vectors)
    gaps, eye = _off_diagonal_gaps(xp, values)
    d_vectors = vectors @ (projected * (1 - eye) / gaps)
    along = xp.real(xp.linalg.diagonal(_mH(xp, vectors) @ d_vectors))
    d_vectors = d_vectors - vectors * xp.astype(xp.expand_dims(along, axis=-2), vectors.dtype)
    return xp.concat([xp.expand_dims(xp.linalg.diagonal(projected), axis=-2), d_vectors], axis=-2)


defprim("linalg_eig", _eig_forward,
        vjp=[lambda xp, g, out, x: _eig_adjoint(xp, g[..., 0, :], g[..., 1:, :], out[..., 0, :], out[..., 1:, :])],
        jvp=[_eig_jvp],
        doc="eig of a general square A, stacked: row 0 the eigenvalues, rows 1: the unit eigenvectors "
            "(complex for real A too). PyTorch's adjoint.").complex = "conjugate"
defprim("linalg_eigvals", lambda xp, x: xp.linalg.eigvals(x),
        vjp=[lambda xp, g, out, x: _eig_adjoint(xp, g, None, out, xp.linalg.eig(x).eigenvectors)],
        jvp=[lambda xp, t, out, x: xp.linalg.diagonal(
            xp.linalg.solve(_vectors(xp, x), xp.astype(t, out.dtype) @ _vectors(xp, x)))],
        doc="Eigenvalues of a general square A: dL = diag(V⁻¹ dA V).").complex = "conjugate"
_f["eig"], _f["eigvals"] = ops._public(PRIMITIVES["linalg_eig"]), ops._public(PRIMITIVES["linalg_eigvals"])
EigResult = namedtuple("EigResult", ["eigenvalues", "eigenvectors"])


def _vectors(xp, x):
    return xp.linalg.eig(x).eigenvectors


@_standard(lambda x, /: None)
def eig(x):
    """Eigenvalues and unit eigenvectors of a general square matrix (2025.12), complex, with gradients."""
    out = _f["eig"](_square("eig", x))
    return EigResult(out[..., 0, :], out[..., 1:, :])


@_standard(lambda x, /: None)
def eigvals(x):
    """Eigenvalues of a general square matrix (2025.12), complex, with gradients."""
    return _f["eigvals"](_square("eigvals", x))


__all__ += ["eig", "eigvals"]
