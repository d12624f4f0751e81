"""The rule table's linear algebra rows (pg.linalg): closed-form adjoints, PyTorch's formulas.

Rows of the rule table (polygrad.primitives.table) like any other, kept in a file of their own for length;
polygrad.namespace.ops loads them before it makes the public functions.
"""

from .table import _kind, defprim

# ================================================================ Array API: linear algebra (pg.linalg)
# Closed-form adjoints; rules call xp.linalg, which is polygrad.linalg under create_graph.
# Undefined where the matrix is singular (inv, solve, det's adjoint through inv).
def _mT(xp, a):
    return xp.matrix_transpose(a)


def _trace_with(xp, m, t):
    """trace(m @ t) over the last two axes, without forming the product."""
    return xp.sum(_mT(xp, m) * t, axis=(-2, -1))


def _lift(xp, g):
    """A batch of scalars as a batch of 1x1 matrices, to scale matrices."""
    return xp.expand_dims(xp.expand_dims(g, axis=-1), axis=-1)


def _phi(xp, x):
    """The lower triangle of x with its diagonal halved (the Cholesky adjoint's projection)."""
    return xp.tril(x, k=-1) + (xp.tril(x) - xp.tril(x, k=-1)) * 0.5


def _cholesky_vjp(xp, g, out, a, upper):
    """L⁻ᴴ (P + tril(P, -1)ᴴ) / 2 L⁻¹, P = tril(Lᴴ tril(gL)): PyTorch's (for real A, L⁻ᵀ sym(phi(P)) L⁻¹)."""
    lower, g = (_mH(xp, out), _mH(xp, g)) if upper else (out, g)
    part = xp.tril(_mH(xp, lower) @ xp.tril(g))
    inverse = xp.linalg.inv(lower)
    return _mH(xp, inverse) @ ((part + _mH(xp, xp.tril(part, k=-1))) * 0.5) @ inverse


def _cholesky_jvp(xp, t, out, a, upper):
    lower = _mH(xp, out) if upper else out
    inverse = xp.linalg.inv(lower)
    tangent = lower @ _phi(xp, inverse @ _sym(xp, t) @ _mH(xp, inverse))
    return _mH(xp, tangent) if upper else tangent


defprim("linalg_inv", lambda xp, x: xp.linalg.inv(x),
        vjp=[lambda xp, g, out, x: -(_mT(xp, out) @ g @ _mT(xp, out))],
        jvp=[lambda xp, t, out, x: -(out @ t @ out)],
        doc="Matrix inverse: d inv(A) = -inv(A) dA inv(A); undefined for singular A.")
defprim("linalg_solve", lambda xp, a, b: xp.linalg.solve(a, b),
        vjp=[lambda xp, g, out, a, b: -(xp.linalg.solve(_mT(xp, a), g) @ _mT(xp, out)),
             lambda xp, g, out, a, b: xp.linalg.solve(_mT(xp, a), g)],
        jvp=[lambda xp, t, out, a, b: -xp.linalg.solve(a, t @ out),
             lambda xp, t, out, a, b: xp.linalg.solve(a, t)],
        doc="X with A X = B (B a stack of matrices); the adjoint solves with A transposed.")
defprim("linalg_det", lambda xp, x: xp.linalg.det(x),
        vjp=[lambda xp, g, out, x: _lift(xp, g * out) * _mT(xp, xp.linalg.inv(x))],
        jvp=[lambda xp, t, out, x: out * _trace_with(xp, xp.linalg.inv(x), t)],
        doc="Determinant: d det(A) = det(A) trace(inv(A) dA); the adjoint is undefined for singular A.")
defprim("linalg_logabsdet", lambda xp, x: xp.linalg.slogdet(x)[1],
        vjp=[lambda xp, g, out, x: _lift(xp, g) * xp.conj(_mT(xp, xp.linalg.inv(x)))],  # complex: inv(A)ᴴ
        jvp=[lambda xp, t, out, x: xp.real(_trace_with(xp, xp.linalg.inv(x), t))],
        doc="log|det(A)| (slogdet's second part): d = trace(inv(A) dA); undefined for singular A.")
defprim("linalg_cholesky", lambda xp, x, *, upper=False: xp.linalg.cholesky(x, upper=upper),
        vjp=[_cholesky_vjp], jvp=[_cholesky_jvp],
        doc="Cholesky factor of a symmetric positive-definite A; the adjoint is the symmetric one "
            "(perturbations of A are taken symmetric), as in PyTorch.")


# ---------------------------------------------------------------- eigh, svd, qr (several results each), pinv
# eigh, svd and qr have several results: each is one primitive whose output stacks them as
# rows of one array, which pg.linalg splits (getitem), so one rule holds each adjoint and the
# backward reuses the forward's vectors. Eigen- and singular vectors are defined up to sign
# only: gradients of functions invariant to those signs are the meaningful ones.
def _mH(xp, a):  # the conjugate transpose: eigh, eigvalsh and svdvals take Hermitian / complex input too
    return xp.conj(_mT(xp, a)) if _kind(a) == "complex floating" else _mT(xp, a)


def _sym(xp, a):
    return (a + _mH(xp, a)) * 0.5


def _skew(xp, a):
    return a - _mH(xp, a)


def _diagonal_matrix(xp, values):
    """Stack of diagonal matrices with `values` (..., k) on their diagonals."""
    k = values.shape[-1]
    return xp.tril(xp.triu(xp.broadcast_to(xp.expand_dims(values, axis=-2), values.shape[:-1] + (k, k))))


def _inverse_gaps(xp, values):
    """F_ij = 1 / (values_j - values_i) off the diagonal, 0 on it: inf where two values are equal."""
    gaps = xp.expand_dims(values, axis=-2) - xp.expand_dims(values, axis=-1)
    eye = _diagonal_matrix(xp, xp.ones_like(values))
    return (1 - eye) / (gaps + eye)


def _eigh(xp, x):
    values, vectors = xp.linalg.eigh(x)
    return xp.concat([xp.expand_dims(xp.astype(values, vectors.dtype, copy=False), axis=-2), vectors], axis=-2)


def _eigh_adjoint(xp, g_values, g_vectors, values, vectors):
    """V (diag(w̄) + sym(F ∘ Vᵀ V̄)) Vᵀ, PyTorch's; g_vectors None: V diag(w̄) Vᵀ alone.

    The V̄ term is inf or nan at repeated eigenvalues (the eigenvectors are not unique there)."""
    inner = _diagonal_matrix(xp, xp.astype(g_values, vectors.dtype, copy=False))  # torch: no real @ complex
    if g_vectors is not None:
        inner = inner + _sym(xp, _inverse_gaps(xp, values) * (_mH(xp, vectors) @ g_vectors))
    return vectors @ inner @ _mH(xp, vectors)


def _eigh_jvp(xp, t, out, x):
    """dw = diag(Vᵀ dA V), dV = V (F ∘ Vᵀ dA V), dA = sym(t)."""
    values, vectors = xp.real(out[..., 0, :]), out[..., 1:, :]
    projected = _mH(xp, vectors) @ _sym(xp, t) @ vectors
    d_vectors = vectors @ (_inverse_gaps(xp, values) * projected)
    return xp.concat([xp.expand_dims(xp.linalg.diagonal(projected), axis=-2), d_vectors], axis=-2)


def _eigvalsh_jvp(xp, t, out, x):
    vectors = xp.linalg.eigh(x).eigenvectors
    return xp.real(xp.linalg.diagonal(_mH(xp, vectors) @ _sym(xp, t) @ vectors))


def _svd(xp, x):
    u, s, vh = xp.linalg.svd(x, full_matrices=False)
    return xp.concat([u, xp.expand_dims(xp.astype(s, u.dtype, copy=False), axis=-2), _mH(xp, vh)], axis=-2)


def _svd_parts(a, m):
    """U (m, k), S (k,), V (n, k) out of the rows svd stacks (m: the input's row count)."""
    return a[..., :m, :], a[..., m, :], a[..., m + 1:, :]


def _svd_adjoint(xp, g_u, g_s, g_v, u, s, v):
    """The gradient of A = U diag(S) Vᵀ (reduced), PyTorch's svd_backward; g_u, g_v None: U diag(S̄) Vᵀ.

    With U or V carrying a gradient it is inf or nan where two singular values are equal, and
    (non-square A) where one is 0: there the singular vectors are not unique."""
    inner = _diagonal_matrix(xp, xp.astype(g_s, u.dtype, copy=False))
    if g_u is not None:
        m, n = u.shape[-2], v.shape[-2]
        s_row, s_col = xp.expand_dims(s, axis=-2), xp.expand_dims(s, axis=-1)
        skew_u = _skew(xp, _mH(xp, u) @ g_u)  # complex A: its diagonal 2i Im(diag(Uᴴ gU)) enters too
        inner = inner + _inverse_gaps(xp, s * s) * (skew_u * s_row + s_col * _skew(xp, _mH(xp, v) @ g_v)) \
            + _diagonal_matrix(xp, xp.linalg.diagonal(skew_u) / (s * 2))
        # the part of gU (gV) outside U's (V's) columns, which span only part of R^m (R^n)
        if m > n:
            return (u @ inner + (g_u - u @ (_mH(xp, u) @ g_u)) / s_row) @ _mH(xp, v)
        if m < n:
            return u @ (inner @ _mH(xp, v) + _mH(xp, (g_v - v @ (_mH(xp, v) @ g_v)) / s_row))
    return u @ inner @ _mH(xp, v)


def _svd_vjp(xp, g, out, x):
    m = x.shape[-2]
    g_u, g_s, g_v = _svd_parts(g, m)
    return _svd_adjoint(xp, g_u, g_s, g_v, *_svd_parts(out, m))


def _svd_jvp(xp, t, out, x):
    """dS = diag(P), dU = U (F ∘ (P S + S Pᵀ)) + (I - U Uᵀ) dA V S⁻¹, dV likewise; P = Uᵀ dA V, F from S²."""
    m, n = x.shape[-2:]
    u, s, v = _svd_parts(out, m)
    projected = _mH(xp, u) @ t @ v
    s_row, s_col = xp.expand_dims(s, axis=-2), xp.expand_dims(s, axis=-1)
    gaps, diagonal = _inverse_gaps(xp, s * s), xp.linalg.diagonal(projected)
    d_u = u @ (gaps * (projected * s_row + s_col * _mH(xp, projected)))  # + U's phases, i Im(diag(P)) / S:
    d_u = d_u + u * xp.expand_dims((diagonal - xp.conj(diagonal)) / (s * 2), axis=-2)  # 0 for real A
    d_v = v @ (gaps * (s_col * projected + _mH(xp, projected) * s_row))
    if m > n:
        d_u = d_u + (t @ v - u @ projected) / s_row
    if m < n:
        d_v = d_v + (_mH(xp, t) @ u - v @ _mH(xp, projected)) / s_row
    return xp.concat([d_u, xp.expand_dims(diagonal, axis=-2), d_v], axis=-2)


def _singular_vectors(xp, x):
    u, _, vh = xp.linalg.svd(x, full_matrices=False)
    return u, _mH(xp, vh)


def _svdvals_vjp(xp, g, out, x):
    u, v = _singular_vectors(xp, x)
    return _svd_adjoint(xp, None, g, None, u, out, v)


def _svdvals_jvp(xp, t, out, x):
    u, v = _singular_vectors(xp, x)
    return xp.real(xp.linalg.diagonal(_mH(xp, u) @ t @ v))


def _qr(xp, x):
    q, r = xp.linalg.qr(x)
    return xp.concat([q, r], axis=-2)


def _qr_vjp(xp, g, out, x):
    """(Q̄ + Q N) R⁻ᴴ with M = R R̄ᴴ - Q̄ᴴ Q, N = phi(M) + phi(M)ᴴ (real: tril(M) + tril(M, -1)ᵀ)."""
    m = x.shape[-2]
    q, r, g_q, g_r = out[..., :m, :], out[..., m:, :], g[..., :m, :], g[..., m:, :]
    mixed = r @ _mH(xp, g_r) - _mH(xp, g_q) @ q
    left = g_q + q @ (_sym(xp, _phi(xp, mixed)) * 2)
    return _mH(xp, xp.linalg.solve(r, _mH(xp, left)))


def _qr_jvp(xp, t, out, x):
    """B = dA R⁻¹ and C = Qᴴ B = Ω + dR R⁻¹, Ω = Qᴴ dQ skew-Hermitian and dR R⁻¹ upper with a real diagonal:
    Ω = phi(C) - phi(C)ᴴ, so dR = (C - Ω) R and dQ = B - Q (C - Ω)."""
    m = x.shape[-2]
    q, r = out[..., :m, :], out[..., m:, :]
    b = _mH(xp, xp.linalg.solve(_mH(xp, r), _mH(xp, t)))
    c = _mH(xp, q) @ b
    upper = c - (half := _phi(xp, c)) + _mH(xp, half)
    return xp.concat([b - q @ upper, upper @ r], axis=-2)


def _pinv_vjp(xp, g, out, x, rtol):
    """-Pᵀ G Pᵀ + (I - A P) Gᵀ P Pᵀ + Pᵀ P Gᵀ (I - P A), P = pinv(A): PyTorch's pinv_backward."""
    p, p_t, g_t = out, _mH(xp, out), _mH(xp, g)  # ᵀ: ᴴ for complex A
    return -(p_t @ g @ p_t) + (g_t - x @ (p @ g_t)) @ (p @ p_t) + (p_t @ p) @ (g_t - (g_t @ p) @ x)


def _pinv_jvp(xp, t, out, x, rtol):
    """dP = -P dA P + P Pᵀ dAᵀ (I - A P) + (I - P A) dAᵀ Pᵀ P."""
    p, p_t, t_t = out, _mH(xp, out), _mH(xp, t)
    return -(p @ t @ p) + (p @ p_t) @ (t_t - (t_t @ x) @ p) + (t_t - p @ (x @ t_t)) @ (p_t @ p)


defprim("linalg_eigh", _eigh,
        vjp=[lambda xp, g, out, x: _eigh_adjoint(xp, g[..., 0, :], g[..., 1:, :], xp.real(out[..., 0, :]), out[..., 1:, :])],
        jvp=[_eigh_jvp],
        doc="eigh of a real symmetric A, stacked: row 0 the eigenvalues (ascending), rows 1: the eigenvectors. "
            "Perturbations of A are taken symmetric; the eigenvectors' adjoint is undefined (inf or nan) at "
            "repeated eigenvalues.")
defprim("linalg_eigvalsh", lambda xp, x: xp.linalg.eigvalsh(x),
        vjp=[lambda xp, g, out, x: _eigh_adjoint(xp, g, None, out, xp.linalg.eigh(x).eigenvectors)],
        jvp=[_eigvalsh_jvp],
        doc="Eigenvalues of a symmetric A: d w_i = v_iᵀ dA v_i. Finite at repeated eigenvalues, where it "
            "depends on the eigenvectors the backend picks (as PyTorch's); its own derivative is undefined there.")
defprim("linalg_svd", _svd, vjp=[_svd_vjp], jvp=[_svd_jvp],
        doc="Reduced SVD of an (m, n) A, stacked: rows :m U, row m S (descending), rows m+1: V = Vhᵀ. "
            "The singular vectors' adjoint is undefined (inf or nan) at repeated singular values and, for "
            "non-square A, at zero ones.")
defprim("linalg_svdvals", lambda xp, x: xp.linalg.svdvals(x),
        vjp=[_svdvals_vjp],
        jvp=[_svdvals_jvp],
        doc="Singular values: d s_i = u_iᵀ dA v_i. Finite at repeated ones, where it depends on the vectors "
            "the backend picks (as PyTorch's); at a zero singular value it is one subgradient of a kink.")
defprim("linalg_qr", _qr, vjp=[_qr_vjp], jvp=[_qr_jvp],
        doc="Reduced QR of an (m, n) A with m >= n, stacked: rows :m Q, rows m: R. Undefined where R is "
            "singular (A of rank below n).")
defprim("linalg_pinv", lambda xp, x, *, rtol=None: xp.linalg.pinv(x, rtol=rtol),
        vjp=[_pinv_vjp], jvp=[_pinv_jvp],
        doc="Moore-Penrose pseudo-inverse. The adjoint holds where the rank is locally constant (full-rank A; "
            "rtol cutting no singular value near its threshold); pinv jumps where the rank changes.")
