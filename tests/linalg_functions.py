"""User-style functions for tests/test_rules_linalg.py (np.linalg and scipy.special, issue 17).

s2sad reads source with inspect, so each function is a module-level def in a real file. The
``*_total`` functions are scalars whose Hessians are checked (second order through the op).
"""

import numpy as np
import scipy.special as sp
from scipy.special import expit, logsumexp

# --- inv, solve, det, slogdet ---------------------------------------------------------------


def inv_(a):
    return np.linalg.inv(a)


def inv_total(a):
    return np.sum(np.sin(np.linalg.inv(a)))


def solve_(a, b):
    return np.linalg.solve(a, b)


def solve_total(a, b):
    return np.sum(np.sin(np.linalg.solve(a, b)))


def det_(a):
    return np.linalg.det(a)


def det_total(a):
    return np.sum(np.linalg.det(a) ** 2)


def logdet_(a):
    sign, logdet = np.linalg.slogdet(a)
    return logdet


def signed_logdet(a):
    sign, logdet = np.linalg.slogdet(a)
    return sign * logdet


def logdet_total(a):
    return np.sum(np.linalg.slogdet(a)[1] ** 2)


# --- cholesky, eigh ---------------------------------------------------------------------------


def cholesky_(a):
    return np.linalg.cholesky(a)


def cholesky_total(a):
    return np.sum(np.sin(np.linalg.cholesky(a)))


def cholesky_upper(a):
    return np.linalg.cholesky(a, upper=True)


def eigh_values(a):
    w, v = np.linalg.eigh(a)
    return w


def eigh_vectors(a):
    w, v = np.linalg.eigh(a)
    return v


def eigh_upper(a):
    w, v = np.linalg.eigh(a, UPLO="U")
    return w, v


def eigvalsh_(a):
    return np.linalg.eigvalsh(a)


def eigh_total(a):
    w, v = np.linalg.eigh(a)
    return np.sum(np.sin(v)) + np.sum(w * w)


# --- svd, qr, pinv ------------------------------------------------------------------------------


def singular_values(a):
    return np.linalg.svd(a, compute_uv=False)


def svd_reduced(a):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return u, s, vh


def svd_default(a):
    u, s, vh = np.linalg.svd(a)
    return s


def svd_total(a):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return np.sum(np.sin(u)) + np.sum(np.cos(vh)) + np.sum(s * s * s)


def qr_(a):
    q, r = np.linalg.qr(a)
    return q, r


def qr_r_only(a):
    return np.linalg.qr(a, mode="r")


def qr_complete(a):
    q, r = np.linalg.qr(a, mode="complete")
    return r


def qr_total(a):
    q, r = np.linalg.qr(a)
    return np.sum(np.sin(q)) + np.sum(np.sin(r))


def pinv_(a):
    return np.linalg.pinv(a)


def pinv_total(a):
    return np.sum(np.sin(np.linalg.pinv(a)))


# --- norm ------------------------------------------------------------------------------------


def norm_ord1(x):
    return np.linalg.norm(x, 1)


def norm_ord2(x):
    return np.linalg.norm(x, ord=2)


def norm_inf(x):
    return np.linalg.norm(x, np.inf)


def norm_minus_inf(x):
    return np.linalg.norm(x, -np.inf)


def norm_p3(x):
    return np.linalg.norm(x, 3)


def norm_axis1(x):
    return np.linalg.norm(x, axis=1)


def norm_axis0_ord1_keep(x):
    return np.linalg.norm(x, ord=1, axis=0, keepdims=True)


def norm_fro(x):
    return np.linalg.norm(x, "fro")


def norm_nuc(x):
    return np.linalg.norm(x, "nuc")


def norm_spectral(x):
    return np.linalg.norm(x, 2)


def norm_minus2(x):
    return np.linalg.norm(x, -2)


def norm_matrix_1(x):
    return np.linalg.norm(x, 1)


def norm_matrix_inf(x):
    return np.linalg.norm(x, np.inf)


def norm_stack_fro(x):
    return np.linalg.norm(x, axis=(1, 2))


def norm_stack_nuc_keep(x):
    return np.linalg.norm(x, "nuc", axis=(2, 0), keepdims=True)


def norm_keepdims(x):
    return np.linalg.norm(x, keepdims=True)


def norm_total(x):
    return np.linalg.norm(x, "nuc") ** 2 + np.linalg.norm(x, 1)


def norm_vector_total(x):
    return np.sum(np.linalg.norm(x, 3, axis=0) ** 2) + np.sum(np.linalg.norm(x, np.inf, axis=1))


def norm_ord0(x):
    return np.linalg.norm(x, 0)


def norm_matrix_ord3(x):
    return np.linalg.norm(x, 3)


def norm_vector_fro(x):
    return np.linalg.norm(x, "fro", axis=0)


# --- one function for the numba backend (one compile covers every op: they cost seconds each) ---


def linalg_family(a, s, b):
    """a: a wide matrix; s: a stack of symmetric positive definite matrices; b: a stack of
    right-hand sides."""
    x = np.linalg.solve(s, b)
    w, v = np.linalg.eigh(s)
    q, r = np.linalg.qr(a)
    return np.sum(np.sin(x)) + np.sum(np.linalg.det(s)) + np.sum(np.sin(np.linalg.inv(s))) + np.sum(np.sin(v)) \
        + np.sum(w * w) + np.sum(np.sin(q)) + np.sum(np.sin(r)) + np.linalg.norm(a, "nuc")


# --- scipy.special -----------------------------------------------------------------------------


def erf_(x):
    return sp.erf(x)


def erfc_(x):
    return sp.erfc(x)


def expit_(x):
    return expit(x)


def logit_(x):
    return sp.logit(x)


def gammaln_(x):
    return sp.gammaln(x)


def digamma_(x):
    return sp.digamma(x)


def psi_(x):
    return sp.psi(x)


def trigamma_(x):
    return sp.polygamma(1, x)


def xlogy_(x, y):
    return sp.xlogy(x, y)


def logsumexp_(a):
    return logsumexp(a)


def logsumexp_axis(a):
    return logsumexp(a, axis=1)


def logsumexp_keep(a):
    return logsumexp(a, axis=0, keepdims=True)


def logsumexp_b(a, b):
    return logsumexp(a, axis=-1, b=b)


def logsumexp_sign(a):
    return logsumexp(a, return_sign=True)


def softmax_(x):
    return sp.softmax(x)


def softmax_axis(x):
    return sp.softmax(x, axis=1)


def log_softmax_(x):
    return sp.log_softmax(x, axis=0)


def special_total(x):
    return np.sum(sp.gammaln(x) * sp.erf(x)) + np.sum(sp.digamma(x) ** 2) + np.sum(expit(x) * sp.logit(x / 4.0)) \
        + np.sum(sp.erfc(x) * x) + np.sum(sp.xlogy(x, x + 1.0) ** 2)


def special_softmax_total(x):
    return np.sum(sp.softmax(x, axis=0) ** 2) + logsumexp(x) ** 2 + np.sum(sp.log_softmax(x, axis=1) ** 2)


def special_family(x, y):
    """x in (0, 1): every elementwise function and the reductions, for the numba backend."""
    return np.sum(sp.erf(x) + sp.erfc(x) + expit(x) + sp.logit(x) + sp.gammaln(x) + sp.digamma(x)) \
        + np.sum(sp.polygamma(1, x) + sp.xlogy(x, y)) + np.sum(logsumexp(y, axis=0)) + np.sum(sp.softmax(y, axis=1) ** 2) \
        + np.sum(sp.log_softmax(y) * x)
