"""Which rules of the table hold for complex values, and the complex-only primitives.

PyTorch's convention (conjugate Wirtinger): the gradient a real loss L gives a
complex tensor z = x + iy is dL/dx + i dL/dy (so |z|² gives 2z and Re(z²) gives
2 conj(z)); a real tensor's gradient stays real (the real part of what reaches
it); a vjp is conj(f'(z)) g, a jvp f'(z) t.

Most rules of the table are plain transposes: g f'(z) for an analytic map,
g Jᵀ for a linear one. Conjugated around, conj(rule(conj(g))) is conj(f'(z)) g,
so the engine does that for the primitives marked "holomorphic" here and their
text serves both real and complex values. Every real-linear map (reshapes,
indexing, sums, concatenation) is marked too: conjugation passes through it.
Primitives whose rules already follow the convention (non-analytic ones such as
abs, conj, real, imag, angle, log|det|, irfft) are marked "conjugate". Any other
primitive refuses to record on complex values (engine.apply), rather than give a
wrong number: max/min, clip and the comparisons-based subgradients (maximum,
relu, ...) have no complex meaning; var/std and the fused layers are not written
for complex input yet.
"""

import math

from .table import PRIMITIVES, _kind, defprim
from .linalg import _svd_parts

HOLOMORPHIC = (
    # arithmetic and analytic functions
    "add", "subtract", "multiply", "divide", "negative", "positive", "reciprocal", "pow", "exp", "expm1", "log",
    "log1p", "log2", "log10", "sqrt", "sin", "cos", "tan", "tanh", "sinh", "cosh", "asin", "acos", "atan", "asinh",
    "acosh", "atanh", "where",
    # linear maps with real coefficients: shapes, indexing, sums, windows
    "sum", "mean", "prod", "cumulative_sum", "reshape", "permute_dims", "expand_dims", "squeeze", "broadcast_to",
    "concat", "getitem", "scatter_slice", "take", "scatter_add", "flip", "roll", "tril", "triu", "matrix_transpose",
    "windows", "col2im",
    # linear algebra: analytic in A (the adjoints take conjugate transposes through the engine)
    "matmul", "linalg_inv", "linalg_solve", "linalg_det",
)
# their rules take conjugate transposes where they need them (_mH, a plain transpose for real values)
CONJUGATE = ("abs", "astype", "linalg_logabsdet", "linalg_cholesky", "linalg_eigh", "linalg_eigvalsh", "linalg_svd",
             "linalg_svdvals", "linalg_qr", "linalg_pinv")

for _name in HOLOMORPHIC:
    PRIMITIVES[_name].complex = "holomorphic"
for _name in CONJUGATE:
    PRIMITIVES[_name].complex = "conjugate"


def _twist(xp, vectors, g_vectors):
    """Im(diag(Vᴴ gV)): how the loss changes as each vector turns by a phase."""
    return xp.imag(xp.linalg.diagonal(xp.conj(xp.matrix_transpose(vectors)) @ g_vectors))


def _refuse_phase(xp, twist, name):
    if not bool(xp.all(xp.abs(twist) <= 1e-2)):  # PyTorch's test and tolerance
        kind = "singular vectors" if name == "linalg.svd" else "eigenvectors"
        raise ValueError(f"{name}: the loss depends on the phase of the {kind}, which {name} leaves arbitrary "
                         "(each is defined up to a factor e^(i phi)), so its gradient is undefined; use a function "
                         "of them that is invariant to it (such as |V|)")


def check_phase(xp, vectors, g_vectors, name):
    """Complex eigenvectors are defined up to a factor e^(i phi) each: a loss that depends on it has no
    gradient. PyTorch's test: the imaginary part of diag(Vᴴ gV) must be about 0."""
    if _kind(vectors) == "complex floating":
        _refuse_phase(xp, _twist(xp, vectors, g_vectors), name)


def _phase_checked(vjp, check):
    def rule(xp, g, out, x):
        if _kind(out) == "complex floating":
            check(xp, g, out, x)
        return vjp(xp, g, out, x)

    return rule


def _check_eigh(xp, g, out, x):
    _refuse_phase(xp, _twist(xp, out[..., 1:, :], g[..., 1:, :]), "linalg.eigh")


def _check_svd(xp, g, out, x):
    """U and V may turn by one phase together: Im(diag(Uᴴ gU)) + Im(diag(Vᴴ gV)) must be about 0."""
    m = x.shape[-2]
    u, _, v = _svd_parts(out, m)
    g_u, _, g_v = _svd_parts(g, m)
    _refuse_phase(xp, _twist(xp, u, g_u) + _twist(xp, v, g_v), "linalg.svd")


# the adjoints of the table for Hermitian / complex input too, after the same checks as PyTorch's
PRIMITIVES["linalg_eigh"].vjp = [_phase_checked(PRIMITIVES["linalg_eigh"].vjp[0], _check_eigh)]
PRIMITIVES["linalg_svd"].vjp = [_phase_checked(PRIMITIVES["linalg_svd"].vjp[0], _check_svd)]


def _angle(xp, x):
    if _kind(x) == "complex floating":
        return xp.atan2(xp.imag(x), xp.real(x))
    return xp.where(x < 0, xp.full_like(x, math.pi), xp.zeros_like(x))


def _squared_modulus(xp, x):
    """|x|², with 1 where x is 0 (angle's derivative is taken as 0 there, as in PyTorch)."""
    square = xp.real(x) * xp.real(x) + xp.imag(x) * xp.imag(x)
    return xp.where(square == 0, xp.ones_like(square), square)


def _angle_vjp(xp, g, out, x):
    if _kind(x) != "complex floating":
        return xp.zeros_like(g)
    return xp.astype(g / _squared_modulus(xp, x), x.dtype) * x * 1j  # g i z / |z|²


def _angle_jvp(xp, t, out, x):
    if _kind(x) != "complex floating":
        return xp.zeros_like(t)
    return xp.imag(xp.conj(x) * t) / _squared_modulus(xp, x)  # Im(conj(z) dz) / |z|²


defprim("angle", _angle, vjp=[_angle_vjp], jvp=[_angle_jvp],
        doc="The argument of each entry, in (-pi, pi]: PyTorch's torch.angle (not in the Array API); "
            "atan2(imag, real), 0 or pi for real x (with no gradient); its derivative is taken as 0 at 0."
        ).complex = "conjugate"
