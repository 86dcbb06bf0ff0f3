"""Derivative rules for ``np.linalg`` (issue 17).

Read rules/__init__.py for the conventions (one leading seed axis on every tangent and
cotangent). Every rule body is written in ops that have rules themselves (``rt.bmatmul``,
``np.linalg.inv``, ``np.linalg.solve``, ``np.swapaxes``, the helpers below ...), so
Hessians work; all of them work on stacks of matrices (leading axes, as NumPy batches them).

* ``inv``, ``solve`` (``b`` a vector or a stack of matrices), ``det``, ``cholesky``, ``pinv``
  (full rank: the pseudo-inverse is not differentiable where the rank changes) have rules of
  their own.
* Functions with several results are composites (``@composite``): ``eigh`` is
  ``(rt.eigh_values(a), rt.eigh_vectors(a))``, ``svd`` (``full_matrices=False``) is
  ``(rt.svd_u(a), rt.svd_s(a), rt.svd_vh(a))``, ``qr`` (reduced) is ``(rt.qr_q(a), rt.qr_r(a))``,
  ``slogdet`` is ``(rt.slogdet_sign(a), rt.slogdet_logabs(a))`` (the sign is piecewise
  constant). Each helper is a runtime primitive with rules of its own (it recomputes the
  decomposition it needs; simplify's CSE shares repeated calls).
* ``norm`` with ``ord``/``axis``/``keepdims`` is a composite in NumPy ops (vector norms: 2, 1,
  inf, -inf, p >= 1; matrix norms: 'fro', 'nuc', 2, -2, 1, -1, inf, -inf); its default form
  (the 2-norm of the whole array) keeps the rule of numpy_rules.py.

Where a derivative does not exist the numbers are inf or nan, or an error, never a silent guess.
An exactly singular matrix makes the rules' ``np.linalg.inv`` raise: the call raises
``UndefinedDerivativeError`` naming the user's line (failures.py) — for ``det`` too, whose
derivative (the cofactor matrix) exists there but is not computed. Inf or nan:
``eigh`` with degenerate (repeated) eigenvalues and ``svd`` with repeated singular values
(their vectors are not unique: 1 / (w_j - w_i) is inf), a singular matrix for ``det``,
``slogdet``, ``solve``, ``inv`` (all use the inverse), ``svd_u``/``svd_vh`` of a matrix with a
zero singular value, ``qr`` of a matrix whose first min(m, n) columns are linearly dependent
(a zero on R's diagonal), ``pinv`` where the rank changes (the derivative assumes full rank).

``cholesky`` and ``eigh`` read only the lower triangle of their operand, as NumPy does
(``eigh(a, UPLO='U')``: the upper one): their derivatives are those of the symmetric matrix
built from that triangle, so the other triangle's derivative is exactly 0.

Backends: the numba backend runs every one of these on stacks too (backends.py gives
np.linalg's functions an implementation for more than 2 axes, a loop over the stack, and the
helpers a Numba implementation).
"""

import numpy as np

from .. import runtime as rt
from ..ad.trace import ABSTRACT_EVAL, call, dummy_array, emit
from ..errors import UnsupportedError
from ..ir import TUPLE
from .composite_rules import constant, keep_axes, ndim, reduce
from .numpy_rules import lead_axes
from .tables import adjoint_rule, composite, nondifferentiable, tangent_rule

# --- runtime primitives: one result each -----------------------------------------------------


def runtime_primitive(fn):
    """``fn`` as an op of the generated code, called there as ``rt.<name>`` (it joins the
    runtime module's primitives; backends.py gives it a Numba implementation)."""
    op = rt.primitive(fn)
    setattr(rt, op.__name__, op)
    if op not in rt.RUNTIME_PRIMITIVES:
        rt.RUNTIME_PRIMITIVES.append(op)
    return op


@runtime_primitive
def eigh_values(a):
    """The eigenvalues of the symmetric matrices whose lower triangle is ``a``'s, ascending
    (without the vectors: LAPACK's cheaper driver)."""
    return np.linalg.eigvalsh(a)


@runtime_primitive
def eigh_vectors(a):
    """The eigenvectors (columns) that go with ``eigh_values(a)``."""
    return np.linalg.eigh(a)[1]


@runtime_primitive
def svd_u(a):
    """U of the reduced SVD ``a = U diag(s) Vh`` (``full_matrices=False``)."""
    return np.linalg.svd(a, full_matrices=False)[0]


@runtime_primitive
def svd_s(a):
    """The singular values of ``a``, descending."""
    return np.linalg.svd(a, compute_uv=False)


@runtime_primitive
def svd_vh(a):
    """Vh of the reduced SVD ``a = U diag(s) Vh``."""
    return np.linalg.svd(a, full_matrices=False)[2]


@runtime_primitive
def qr_q(a):
    """Q of the reduced QR decomposition."""
    return np.linalg.qr(a)[0]


@runtime_primitive
def qr_r(a):
    """R of the reduced QR decomposition."""
    return np.linalg.qr(a)[1]


@runtime_primitive
def slogdet_sign(a):
    """The sign of det(a) (piecewise constant: no derivative)."""
    return np.linalg.slogdet(a)[0]


@runtime_primitive
def slogdet_logabs(a):
    """log |det(a)|, without overflow."""
    return np.linalg.slogdet(a)[1]


def results(*parts):
    """Several results of a composite as one TUPLE statement (which the passes look through
    when the user unpacks it: ``w, V = np.linalg.eigh(a)``)."""
    return emit(TUPLE, *parts)


def _float_dtype(a):
    dtype = np.asarray(a).dtype
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def _regular(a):
    """A well-conditioned (identity) stand-in for a dummy matrix: dummies are filled with 0.5
    (singular), and NumPy's inv, solve and cholesky refuse singular matrices."""
    a = np.asarray(a)
    eye = np.eye(a.shape[-1], dtype=_float_dtype(a))
    return np.ascontiguousarray(np.broadcast_to(eye, a.shape[:-2] + eye.shape)) if a.ndim >= 2 else a


def _stack_type(a, trailing, dtype=None):
    return dummy_array(np.ndim(a) - 2 + trailing, dtype or _float_dtype(a))


ABSTRACT_EVAL[np.linalg.inv] = lambda a: np.linalg.inv(_regular(a))
ABSTRACT_EVAL[np.linalg.cholesky] = lambda a, **kw: np.linalg.cholesky(_regular(a), **kw)
ABSTRACT_EVAL[np.linalg.solve] = lambda a, b: np.linalg.solve(_regular(a), np.asarray(b, dtype=_float_dtype(b)))
for _op, _rank in (
    (eigh_values, 1),
    (eigh_vectors, 2),
    (svd_u, 2),
    (svd_s, 1),
    (svd_vh, 2),
    (qr_q, 2),
    (qr_r, 2),
    (slogdet_sign, 0),
    (slogdet_logabs, 0),
):
    _op.abstract_eval = (lambda rank: lambda a: _stack_type(a, rank))(_rank)

nondifferentiable(slogdet_sign)

# --- matrix helpers (on symbols; every op has rules) ----------------------------------------


def mT(x):
    """The transpose of each matrix of a stack."""
    return np.swapaxes(x, -1, -2)


def mm(a, b):
    """A stacked matrix product (stacks broadcast as matmul's)."""
    return rt.bmatmul(a, b)


def _index_last(x, index, count=1):
    """``x[..., index]`` for an index of the last ``count`` axes (no Ellipsis: explicit slices)."""
    return x[(slice(None),) * (x.ndim - count) + tuple(index)]


def cols(x, v):
    """``x @ diag(v)``: column j of each matrix scaled by ``v[..., j]``."""
    return x * _index_last(v, (None, slice(None)))


def rows(v, x):
    """``diag(v) @ x``: row i of each matrix scaled by ``v[..., i]``."""
    return x * _index_last(v, (slice(None), None))


def diagonal(p):
    """The diagonals of a stack of square matrices (``np.diagonal`` over the last two axes)."""
    return np.sum(p * eye_like(p), axis=-1)


def eye_like(x):
    """The identity of the size of ``x``'s last axis (broadcasts against stacks)."""
    return call(np.eye, x.shape[-1])


def strict_lower(x):
    """1.0 below the diagonal, 0.0 elsewhere, the size of ``x``'s last axis (a constant)."""
    i = call(np.arange, x.shape[-1])
    return np.where(i[:, None] > i[None, :], 1.0, 0.0)


def sym_lower(t):
    """The symmetric matrix whose lower triangle is ``t``'s (what cholesky and eigh see)."""
    low = strict_lower(t)
    return t * (low + eye_like(t)) + mT(t * low)


def sym_lower_adjoint(g):
    """The adjoint of ``sym_lower``: the cotangent of the lower triangle, 0 above it."""
    low = strict_lower(g)
    return g * (low + eye_like(g)) + mT(g) * low


def gaps(v):
    """``F[i, j] = 1 / (v[j] - v[i])`` off the diagonal, 0 on it (the eigen/singular vector
    derivatives: inf where two values coincide, which have no derivative)."""
    eye = eye_like(v)
    diff = _index_last(v, (None, slice(None))) - _index_last(v, (slice(None), None))
    return (1.0 - eye) / (diff + eye)


def unstack(g, x):
    """A batched cotangent ``g`` of a broadcast stack reduced to ``(B,) + x.shape``."""
    extra = g.ndim - 1 - x.ndim
    if extra:
        for a in range(extra, 0, -1):
            g = np.sum(g, axis=a)
    return rt.sum_to(g, x)


def full_stack(t, x, rank):
    """A tangent ``t`` of ``x`` with size-1 axes after the seed axis up to ``rank`` primal axes
    (so its stack axes line up with a broadcast result's, not with the seed axis)."""
    return lead_axes(t, rank - x.ndim)


# --- inv ---------------------------------------------------------------------------------


@tangent_rule(np.linalg.inv)
def inv_tangent(a, a_dot, y):
    return -mm(mm(y, a_dot), y)


@adjoint_rule(np.linalg.inv, "a")
def inv_adjoint(y_bar, a, y):
    yt = mT(y)
    return -mm(mm(yt, y_bar), yt)


# --- solve: x = a^{-1} b, b a vector (b.ndim == 1, NumPy 2) or a stack of matrices ---------


def _as_columns(x, vector):
    return _index_last(x, (slice(None), None)) if vector else x


def _from_columns(x, vector):
    return _index_last(x, (slice(None), 0), 2) if vector else x


@tangent_rule(np.linalg.solve)
def solve_tangent(a, b, a_dot=None, b_dot=None, y=None):
    vector = b.ndim == 1
    x = _as_columns(y, vector)  # (S, n, k)
    rank = x.ndim
    r = None
    if b_dot is not None:
        r = full_stack(_as_columns(b_dot, vector), _as_columns(b, vector), rank)
    if a_dot is not None:
        t = -mm(full_stack(a_dot, a, rank), x)
        r = t if r is None else r + t
    return _from_columns(np.linalg.solve(a, r), vector)


def _solve_bar(y_bar, a, b, y):
    vector = b.ndim == 1
    return np.linalg.solve(mT(a), _as_columns(y_bar, vector)), vector


@adjoint_rule(np.linalg.solve, "a")
def solve_adjoint_a(y_bar, a, b, y):
    b_bar, vector = _solve_bar(y_bar, a, b, y)
    return unstack(-mm(b_bar, mT(_as_columns(y, vector))), a)


@adjoint_rule(np.linalg.solve, "b")
def solve_adjoint_b(y_bar, a, b, y):
    b_bar, vector = _solve_bar(y_bar, a, b, y)
    return unstack(_from_columns(b_bar, vector), b)


# --- det and slogdet -------------------------------------------------------------------------


def _trace_inv_dot(a, a_dot):
    """trace(a^{-1} a_dot) for each seed (the derivative of log |det a|)."""
    return np.sum(np.sum(mT(np.linalg.inv(a)) * a_dot, axis=-1), axis=-1)


@tangent_rule(np.linalg.det)
def det_tangent(a, a_dot, y):
    return y * _trace_inv_dot(a, a_dot)


@adjoint_rule(np.linalg.det, "a")
def det_adjoint(y_bar, a, y):
    return _index_last(y_bar * y, (None, None), 0) * mT(np.linalg.inv(a))


@tangent_rule(slogdet_logabs)
def logabs_tangent(a, a_dot):
    return _trace_inv_dot(a, a_dot)


@adjoint_rule(slogdet_logabs, "a")
def logabs_adjoint(y_bar, a):
    return _index_last(y_bar, (None, None), 0) * mT(np.linalg.inv(a))


@composite(np.linalg.slogdet)
def slogdet(a):
    return results(slogdet_sign(a), slogdet_logabs(a))


# --- cholesky: a = L L^T from a's lower triangle ---------------------------------------------


def _half_lower(x):
    """Phi: the lower triangle with half the diagonal."""
    return x * (strict_lower(x) + 0.5 * eye_like(x))


def _cholesky_upper(upper):
    if constant(upper, "upper"):  # (the composite below rewrites upper=True)
        raise UnsupportedError("np.linalg.cholesky(..., upper=True) reached its rule: an internal error")


@composite(np.linalg.cholesky)
def cholesky_upper(a, upper=False):
    """``upper=True``: NumPy factors the upper triangle, U^T U; U is the transpose of the lower
    factor of a's transpose (whose lower triangle is a's upper one)."""
    if not constant(upper, "upper"):
        return NotImplemented
    return mT(np.linalg.cholesky(mT(a)))


@tangent_rule(np.linalg.cholesky)
def cholesky_tangent(a, upper=False, a_dot=None, y=None):
    _cholesky_upper(upper)
    li = np.linalg.inv(y)
    return mm(y, _half_lower(mm(mm(li, sym_lower(a_dot)), mT(li))))


@adjoint_rule(np.linalg.cholesky, "a")
def cholesky_adjoint(y_bar, a, upper=False, y=None):
    _cholesky_upper(upper)
    li = np.linalg.inv(y)
    return sym_lower_adjoint(mm(mm(mT(li), _half_lower(mm(mT(y), y_bar))), li))


# --- eigh: w, V of the symmetric matrix from a's lower triangle ------------------------------


def _eigh_projected(a, a_dot):
    """V^T dS V for each seed, and (w, V)."""
    w, v = eigh_values(a), eigh_vectors(a)
    return mm(mm(mT(v), sym_lower(a_dot)), v), w, v


@tangent_rule(eigh_values)
def eigh_values_tangent(a, a_dot):
    p, _, _ = _eigh_projected(a, a_dot)
    return diagonal(p)


@tangent_rule(eigh_vectors)
def eigh_vectors_tangent(a, a_dot):
    p, w, v = _eigh_projected(a, a_dot)
    return mm(v, gaps(w) * p)


@adjoint_rule(eigh_values, "a")
def eigh_values_adjoint(y_bar, a):
    v = eigh_vectors(a)
    return sym_lower_adjoint(mm(cols(v, y_bar), mT(v)))


@adjoint_rule(eigh_vectors, "a")
def eigh_vectors_adjoint(y_bar, a):
    w, v = eigh_values(a), eigh_vectors(a)
    return sym_lower_adjoint(mm(mm(v, gaps(w) * mm(mT(v), y_bar)), mT(v)))


@composite(np.linalg.eigh)
def eigh(a, UPLO="L"):
    uplo = constant(UPLO, "UPLO")
    if uplo not in ("L", "U"):
        raise UnsupportedError(f"np.linalg.eigh(..., UPLO={uplo!r}): UPLO is 'L' or 'U'")
    if uplo == "U":  # the upper triangle of a is the lower triangle of its transpose
        a = mT(a)
    return results(eigh_values(a), eigh_vectors(a))


@composite(np.linalg.eigvalsh)
def eigvalsh(a, UPLO="L"):
    if constant(UPLO, "UPLO") == "U":
        a = mT(a)
    return eigh_values(a)


# --- svd (reduced): a = U diag(s) Vh ------------------------------------------------------------


def _svd_parts(a):
    return svd_u(a), svd_s(a), svd_vh(a)


def _svd_projected(a, a_dot):
    u, s, vh = _svd_parts(a)
    v = mT(vh)
    return mm(mm(mT(u), a_dot), v), u, s, v


@tangent_rule(svd_s)
def svd_s_tangent(a, a_dot):
    p, _, _, _ = _svd_projected(a, a_dot)
    return diagonal(p)


@tangent_rule(svd_u)
def svd_u_tangent(a, a_dot):
    p, u, s, v = _svd_projected(a, a_dot)
    omega = gaps(s * s) * (cols(p, s) + rows(s, mT(p)))
    return mm(u, omega) + cols(mm(a_dot, v) - mm(u, p), 1.0 / s)


@tangent_rule(svd_vh)
def svd_vh_tangent(a, a_dot):
    p, u, s, v = _svd_projected(a, a_dot)
    omega = gaps(s * s) * (rows(s, p) + cols(mT(p), s))
    dv = mm(v, omega) + cols(mm(mT(a_dot), u) - mm(v, mT(p)), 1.0 / s)
    return mT(dv)


@adjoint_rule(svd_s, "a")
def svd_s_adjoint(y_bar, a):
    u, _, vh = _svd_parts(a)
    return mm(cols(u, y_bar), vh)


@adjoint_rule(svd_u, "a")
def svd_u_adjoint(y_bar, a):
    u, s, vh = _svd_parts(a)
    j = gaps(s * s) * mm(mT(u), y_bar)
    p_bar = cols(j + mT(j), s) - cols(mm(mT(u), y_bar), 1.0 / s)
    return mm(mm(u, p_bar) + cols(y_bar, 1.0 / s), vh)


@adjoint_rule(svd_vh, "a")
def svd_vh_adjoint(y_bar, a):
    u, s, vh = _svd_parts(a)
    v_bar = mT(y_bar)
    k = gaps(s * s) * mm(vh, v_bar)
    p_bar = rows(s, k + mT(k)) - rows(1.0 / s, mm(y_bar, mT(vh)))
    return mm(u, mm(p_bar, vh) + rows(1.0 / s, y_bar))


@composite(np.linalg.svd)
def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    full_matrices, compute_uv = constant(full_matrices, "full_matrices"), constant(compute_uv, "compute_uv")
    if constant(hermitian, "hermitian"):
        raise UnsupportedError("np.linalg.svd(..., hermitian=True): not supported yet; use np.linalg.eigh")
    if not compute_uv:
        return svd_s(a)
    if full_matrices:
        raise UnsupportedError(
            "np.linalg.svd with full_matrices=True (the default): the extra singular vectors are not unique, "
            "so not differentiable; pass full_matrices=False (or compute_uv=False for the singular values)"
        )
    return results(*_svd_parts(a))


# --- qr (reduced): a = Q R, Q^T dQ antisymmetric, dR R^{-1} upper triangular ------------------
# With k = min(m, n), a = [X | Y] (X: its first k columns): X = Q R_X is a QR decomposition of a
# tall or square matrix, and R = [R_X | Q^T Y]. For m >= n, Y has no columns.


def _columns(x, start, stop):
    return _index_last(x, (slice(start, stop),))


def _qr_parts(a):
    k = np.minimum(a.shape[-2], a.shape[-1])
    q, r = qr_q(a), qr_r(a)
    return k, q, r, _columns(r, None, k), _columns(a, k, None)


def _join_columns(x, y):
    return np.concatenate((x, y), axis=x.ndim - 1)


def _qr_tangents(a, a_dot):
    k, q, r, rx, y = _qr_parts(a)
    ri = np.linalg.inv(rx)
    dx = _columns(a_dot, None, k)
    c = mm(mm(mT(q), dx), ri)
    low = c * strict_lower(c)
    drx = mm(c - (low - mT(low)), rx)
    dq = mm(dx - mm(q, drx), ri)
    dry = mm(mT(dq), y) + mm(mT(q), _columns(a_dot, k, None))
    return dq, _join_columns(drx, dry)


@tangent_rule(qr_r)
def qr_r_tangent(a, a_dot):
    return _qr_tangents(a, a_dot)[1]


@tangent_rule(qr_q)
def qr_q_tangent(a, a_dot):
    return _qr_tangents(a, a_dot)[0]


def _qr_adjoint(a, q_bar, r_bar):
    k, q, r, rx, y = _qr_parts(a)
    rit = mT(np.linalg.inv(rx))
    if r_bar is not None:  # R_Y = Q^T Y: Y's cotangent Q R_Y_bar, Q's Y R_Y_bar^T
        ry_bar = _columns(r_bar, k, None)
        y_bar = mm(q, ry_bar)
        q_y = mm(y, mT(ry_bar))
        q_bar = q_y if q_bar is None else q_bar + q_y
        r_bar = _columns(r_bar, None, k)
    else:
        y_bar = rt.zeros_batch(q_bar, y)
    qtq = mm(mm(mT(q), q_bar), rit)
    r_bar = -qtq if r_bar is None else r_bar - qtq
    m_bar = mm(r_bar, mT(rx))  # the cotangent of C - Omega
    low = strict_lower(m_bar)
    c_bar = m_bar - m_bar * low + mT(m_bar) * low
    return _join_columns(mm(q_bar + mm(q, c_bar), rit), y_bar)


@adjoint_rule(qr_q, "a")
def qr_q_adjoint(y_bar, a):
    return _qr_adjoint(a, y_bar, None)


@adjoint_rule(qr_r, "a")
def qr_r_adjoint(y_bar, a):
    return _qr_adjoint(a, None, y_bar)


@composite(np.linalg.qr)
def qr(a, mode="reduced"):
    mode = constant(mode, "mode")
    if mode == "r":
        return qr_r(a)
    if mode != "reduced":
        raise UnsupportedError(
            f"np.linalg.qr(..., mode={mode!r}): only mode='reduced' (the default) and 'r' are supported"
        )
    return results(qr_q(a), qr_r(a))


# --- pinv (full rank) ---------------------------------------------------------------------------


def _pinv_check(rcond, hermitian):
    if constant(hermitian, "hermitian"):
        raise UnsupportedError("np.linalg.pinv(..., hermitian=True): not supported yet")


@tangent_rule(np.linalg.pinv)
def pinv_tangent(a, rcond=None, hermitian=False, a_dot=None, y=None):
    _pinv_check(rcond, hermitian)
    dat = mT(a_dot)
    t1 = -mm(mm(y, a_dot), y)
    t2 = mm(mm(y, mT(y)), dat - mm(mm(dat, a), y))  # Y Y^T dA^T (I - A Y)
    w = mm(mm(dat, mT(y)), y)
    t3 = w - mm(mm(y, a), w)  # (I - Y A) dA^T Y^T Y
    return t1 + t2 + t3


@adjoint_rule(np.linalg.pinv, "a")
def pinv_adjoint(y_bar, a, rcond=None, hermitian=False, y=None):
    _pinv_check(rcond, hermitian)
    yt, ybt = mT(y), mT(y_bar)
    t1 = -mm(mm(yt, y_bar), yt)
    x = mm(mm(ybt, y), yt)
    t2 = x - mm(a, mm(y, x))  # (I - A Y) Ybar^T Y Y^T
    z = mm(mm(yt, y), ybt)
    t3 = z - mm(mm(z, y), a)  # Y^T Y Ybar^T (I - Y A)
    return t1 + t2 + t3


# --- norm: ord, axis, keepdims as compositions of NumPy ops ------------------------------------


def _vector_norm(x, ord, axis):
    if ord is None or ord == 2:
        return np.sqrt(reduce(np.sum, x * x, axis))
    if ord == np.inf:
        return reduce(np.max, np.abs(x), axis)
    if ord == -np.inf:
        return reduce(np.min, np.abs(x), axis)
    if ord == 1:
        return reduce(np.sum, np.abs(x), axis)
    if isinstance(ord, (int, float)) and not isinstance(ord, bool) and ord > 1:
        return reduce(np.sum, np.abs(x) ** float(ord), axis) ** (1.0 / ord)
    raise UnsupportedError(
        f"np.linalg.norm of a vector with ord={ord!r}: not differentiable or not supported; "
        "use ord None, 1, 2, inf, -inf or a number p > 1"
    )


def _to_last(x, axes):
    """``x`` with the two matrix ``axes`` moved last (in that order)."""
    nd = x.ndim
    perm = tuple(k for k in range(nd) if k not in axes) + axes
    return x if perm == tuple(range(nd)) else np.transpose(x, perm)


def _matrix_norm(x, ord, axes):
    r, c = axes
    if ord in (None, "fro"):
        return np.sqrt(reduce(np.sum, x * x, axes))
    if ord in (1, -1, np.inf, -np.inf):
        summed, across = (r, c) if ord in (1, -1) else (c, r)
        col = np.sum(np.abs(x), axis=summed)
        return (np.max if ord > 0 else np.min)(col, axis=across - (1 if across > summed else 0))
    if ord in ("nuc", 2, -2):
        s = svd_s(_to_last(x, (r, c)))
        if ord == "nuc":
            return np.sum(s, axis=-1)
        return _index_last(s, (0 if ord == 2 else -1,))
    raise UnsupportedError(
        f"np.linalg.norm of a matrix with ord={ord!r}: not supported; use None, 'fro', 'nuc', 1, -1, 2, -2, inf or -inf"
    )


@composite(np.linalg.norm)
def norm(x, ord=None, axis=None, keepdims=False):
    ord, axis, keepdims = constant(ord, "ord"), constant(axis, "axis"), constant(keepdims, "keepdims")
    if ord is None and axis is None and not keepdims:
        return NotImplemented  # the whole array's 2-norm: the rule of numpy_rules.py
    nd = ndim(x)
    if isinstance(ord, str) and ord not in ("fro", "nuc"):
        raise UnsupportedError(f"np.linalg.norm(..., ord={ord!r}): not a norm NumPy knows")
    if axis is None:
        if ord is None:  # the whole array's 2-norm, keepdims
            return keep_axes(np.sqrt(np.sum(x * x)), nd, tuple(range(nd)))
        if nd not in (1, 2):
            raise UnsupportedError(f"np.linalg.norm(..., ord={ord!r}) of an array of {nd} axes: pass axis=")
        axis = 0 if nd == 1 else (0, 1)
    if isinstance(axis, tuple) and len(axis) == 1:
        axis = axis[0]
    if isinstance(axis, tuple):
        if len(axis) != 2:
            raise UnsupportedError("np.linalg.norm with more than 2 axes: NumPy refuses it too")
        axes = tuple(a % nd for a in axis)
        y = _matrix_norm(x, ord, axes)
        return keep_axes(y, nd, tuple(sorted(axes))) if keepdims else y
    axis = axis % nd
    if ord == "fro" or ord == "nuc":
        raise UnsupportedError(f"np.linalg.norm of a vector with ord={ord!r}: NumPy refuses it too")
    y = _vector_norm(x, ord, axis)
    return keep_axes(y, nd, (axis,)) if keepdims else y
