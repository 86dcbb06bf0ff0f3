"""Spec rows for np.linalg and scipy.special (issue 17), in the style of test_rules.py.

Each row names a user-style function (tests/linalg_functions.py), how to build valid
arguments (well-conditioned matrices, symmetric positive definite ones with distinct
eigenvalues, matrices with distinct singular values: built here from random data), the
differentiated arguments and the rule-table ops it covers. Every row checks jacfwd and jacrev
against central differences in random directions (checks.py, NumPy only), that the two agree,
grad where the output is a scalar, and, where it names a scalar ``total``, the Hessian
(jacfwd of jacrev) of that scalar against a four-point second difference of the function
itself, and jacrev of jacrev against it. A few rows (one per family: several ops in one function, so one compile covers them)
run on the numba backend. Every refusal is an S2SADError naming the user's file:line, raised
while the derivative is built (before any number).
"""

from typing import NamedTuple

import numpy as np
import pytest
import scipy.special as sc

import linalg_functions as lf
import s2sad
import s2sad.rules as rules
from checks import check_jacobian
from s2sad import runtime as rt


class Spec(NamedTuple):
    fn: object
    make_args: object  # rng -> tuple of arguments
    argnums: object
    ops: tuple  # the rule-table keys this row exercises
    total: object = None  # a scalar function whose Hessian is checked
    numba: bool = False


# --- argument builders --------------------------------------------------------------------


def _stack(shape, one):
    """One matrix from ``one(rng, m, n)`` per index of the leading axes of ``shape``."""

    def build(rng):
        *lead, m, n = shape
        mats = [one(rng, m, n) for _ in range(int(np.prod(lead, dtype=int)))]
        return np.array(mats).reshape(shape)

    return build


def GEN(shape):
    """Well-conditioned square matrices: the identity plus a small random part."""
    return _stack(shape, lambda rng, m, n: np.eye(m) + 0.3 * rng.standard_normal((m, n)))


def _orthogonal(rng, n):
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return q


def SPD(shape):
    """Symmetric positive definite, eigenvalues distinct and well apart (1, 1.7, 2.4 ...)."""

    def one(rng, m, n):
        q = _orthogonal(rng, n)
        return (q * (1.0 + 0.7 * np.arange(n) + 0.1 * rng.uniform(size=n))) @ q.T

    return _stack(shape, one)


def SVD(shape):
    """Singular values distinct and well apart (and away from 0)."""

    def one(rng, m, n):
        k = min(m, n)
        s = 1.0 + 0.6 * np.arange(k)[::-1] + 0.1 * rng.uniform(size=k)
        return (_orthogonal(rng, m)[:, :k] * s) @ _orthogonal(rng, n)[:k, :]

    return _stack(shape, one)


def U(shape, low=-1.0, high=1.0):
    return lambda rng: rng.uniform(low, high, size=shape)


def DISTINCT(shape):
    """Well-separated values of either sign, away from 0 (max/abs: no ties, no kinks)."""

    def build(rng):
        n = int(np.prod(shape))
        mags = np.linspace(0.3, 1.5, n) + 0.01 * rng.uniform(size=n)
        return rng.permutation(mags * rng.choice([-1.0, 1.0], size=n)).reshape(shape)

    return build


def SCALAR(low=-1.0, high=1.0):
    return lambda rng: float(rng.uniform(low, high))


def args(*builders):
    return lambda rng: tuple(b(rng) for b in builders)


LA = np.linalg
S = Spec
LINALG = [
    # inv
    S(lf.inv_, args(GEN((3, 3))), 0, (LA.inv,), lf.inv_total),
    S(lf.inv_, args(GEN((2, 3, 3))), 0, (LA.inv,), lf.inv_total),
    # solve: b a vector, a matrix, stacks that broadcast
    S(lf.solve_, args(GEN((3, 3)), U((3,))), (0, 1), (LA.solve,), lf.solve_total),
    S(lf.solve_, args(GEN((3, 3)), U((3, 2))), (0, 1), (LA.solve,), lf.solve_total),
    S(lf.solve_, args(GEN((2, 3, 3)), U((3,))), (0, 1), (LA.solve,)),
    S(lf.solve_, args(GEN((2, 3, 3)), U((2, 3, 2))), (0, 1), (LA.solve,), lf.solve_total),
    S(lf.solve_, args(GEN((2, 3, 3)), U((3, 2))), (0, 1), (LA.solve,)),
    S(lf.solve_, args(GEN((3, 3)), U((2, 3, 1))), (0, 1), (LA.solve,)),
    # det, slogdet
    S(lf.det_, args(GEN((3, 3))), 0, (LA.det,), lf.det_total),
    S(lf.det_, args(GEN((2, 3, 3))), 0, (LA.det,), lf.det_total),
    S(lf.logdet_, args(GEN((3, 3))), 0, (LA.slogdet, rt.slogdet_logabs), lf.logdet_total),
    S(lf.logdet_, args(GEN((2, 3, 3))), 0, (LA.slogdet, rt.slogdet_logabs), lf.logdet_total),
    S(lf.signed_logdet, args(GEN((3, 3))), 0, (LA.slogdet,)),
    # cholesky, eigh (symmetric positive definite, distinct eigenvalues)
    S(lf.cholesky_, args(SPD((3, 3))), 0, (LA.cholesky,), lf.cholesky_total),
    S(lf.cholesky_, args(SPD((2, 3, 3))), 0, (LA.cholesky,), lf.cholesky_total),
    # upper=True: NumPy factors the upper triangle (the lower one's derivative is exactly 0)
    S(lf.cholesky_upper, args(SPD((3, 3))), 0, (LA.cholesky,)),
    S(lf.cholesky_upper, args(SPD((2, 3, 3))), 0, (LA.cholesky,)),
    S(lf.eigh_values, args(SPD((3, 3))), 0, (LA.eigh, rt.eigh_values)),
    S(lf.eigh_vectors, args(SPD((3, 3))), 0, (LA.eigh, rt.eigh_vectors), lf.eigh_total),
    S(lf.eigh_vectors, args(SPD((2, 3, 3))), 0, (LA.eigh, rt.eigh_vectors), lf.eigh_total),
    S(lf.eigh_upper, args(SPD((3, 3))), 0, (LA.eigh,)),
    S(lf.eigvalsh_, args(SPD((2, 3, 3))), 0, (LA.eigvalsh,)),
    # svd (reduced), tall, wide, square, stacked
    S(lf.singular_values, args(SVD((3, 4))), 0, (LA.svd, rt.svd_s)),
    S(lf.svd_reduced, args(SVD((4, 3))), 0, (LA.svd, rt.svd_u, rt.svd_s, rt.svd_vh), lf.svd_total),
    S(lf.svd_reduced, args(SVD((3, 4))), 0, (LA.svd,), lf.svd_total),
    S(lf.svd_reduced, args(SVD((3, 3))), 0, (LA.svd,)),
    S(lf.svd_reduced, args(SVD((2, 4, 3))), 0, (LA.svd,), lf.svd_total),
    # qr (reduced), tall, square and wide, stacked, mode='r'
    S(lf.qr_, args(GEN((3, 3))), 0, (LA.qr, rt.qr_q, rt.qr_r), lf.qr_total),
    S(lf.qr_, args(SVD((4, 3))), 0, (LA.qr,), lf.qr_total),
    S(lf.qr_, args(SVD((2, 4, 3))), 0, (LA.qr,)),
    S(lf.qr_, args(SVD((3, 4))), 0, (LA.qr,), lf.qr_total),
    S(lf.qr_, args(SVD((2, 2, 4))), 0, (LA.qr,)),
    S(lf.qr_r_only, args(SVD((4, 3))), 0, (LA.qr,)),
    # pinv (full rank), tall, wide, stacked
    S(lf.pinv_, args(SVD((4, 3))), 0, (LA.pinv,), lf.pinv_total),
    S(lf.pinv_, args(SVD((3, 4))), 0, (LA.pinv,), lf.pinv_total),
    S(lf.pinv_, args(SVD((2, 3, 4))), 0, (LA.pinv,)),
    # norm: vector ords, axis, keepdims; matrix ords; stacks
    S(lf.norm_ord1, args(DISTINCT((5,))), 0, (LA.norm,)),
    S(lf.norm_ord2, args(DISTINCT((5,))), 0, (LA.norm,)),
    S(lf.norm_inf, args(DISTINCT((5,))), 0, (LA.norm,)),
    S(lf.norm_minus_inf, args(DISTINCT((5,))), 0, (LA.norm,)),
    S(lf.norm_p3, args(DISTINCT((5,))), 0, (LA.norm,)),
    S(lf.norm_axis1, args(DISTINCT((3, 4))), 0, (LA.norm,)),
    S(lf.norm_axis0_ord1_keep, args(DISTINCT((3, 4))), 0, (LA.norm,)),
    S(lf.norm_vector_total, args(DISTINCT((3, 4))), 0, (LA.norm,), lf.norm_vector_total),
    S(lf.norm_keepdims, args(U((2, 3))), 0, (LA.norm,)),
    S(lf.norm_fro, args(U((3, 4))), 0, (LA.norm,)),
    S(lf.norm_nuc, args(SVD((3, 4))), 0, (LA.norm, rt.svd_s), lf.norm_total),
    S(lf.norm_spectral, args(SVD((4, 3))), 0, (LA.norm,)),
    S(lf.norm_minus2, args(SVD((3, 3))), 0, (LA.norm,)),
    S(lf.norm_matrix_1, args(DISTINCT((3, 4))), 0, (LA.norm,)),
    S(lf.norm_matrix_inf, args(DISTINCT((3, 4))), 0, (LA.norm,)),
    S(lf.norm_stack_fro, args(U((2, 3, 4))), 0, (LA.norm,)),
    S(lf.norm_stack_nuc_keep, args(SVD((3, 2, 4))), 0, (LA.norm,)),
]

# on numba, one row for the whole family (every op in one function: Numba compiles of LAPACK
# code cost seconds each, cold); stacks (the loops of backends.py) and single matrices
NUMBA = [
    S(
        lf.linalg_family,
        args(SVD((3, 4)), SPD((2, 3, 3)), U((2, 3, 2))),
        (0, 1, 2),
        (LA.solve, LA.det, LA.inv, LA.eigh, LA.qr, LA.norm),
        numba=True,
    ),
    # a tall or square qr: its adjoint multiplies by empty blocks (x[:, n:] has no columns),
    # which rt.bmatmul's numba implementation reshaped with -1 and raised on
    S(lf.qr_total, args(SVD((4, 3))), 0, (LA.qr,), numba=True),
]

SPECIAL = [
    S(lf.erf_, args(U((2, 3), -2.0, 2.0)), 0, (sc.erf, rt.erf)),
    S(lf.erf_, args(SCALAR(-2.0, 2.0)), 0, (sc.erf,)),
    S(lf.erfc_, args(U((4,), -2.0, 2.0)), 0, (sc.erfc, rt.erfc)),
    S(lf.expit_, args(U((2, 3), -4.0, 4.0)), 0, (sc.expit, rt.expit)),
    S(lf.logit_, args(U((5,), 0.1, 0.9)), 0, (sc.logit, rt.logit)),
    S(lf.gammaln_, args(U((2, 3), 0.3, 4.0)), 0, (sc.gammaln, rt.gammaln)),
    S(lf.digamma_, args(U((4,), 0.3, 4.0)), 0, (sc.digamma, rt.digamma)),
    S(lf.psi_, args(SCALAR(0.3, 4.0)), 0, (sc.psi,)),
    S(lf.trigamma_, args(U((4,), 0.3, 4.0)), 0, (sc.polygamma, rt.polygamma)),
    S(lf.xlogy_, args(U((2, 3)), U((2, 3), 0.5, 2.0)), (0, 1), (sc.xlogy, rt.xlogy)),
    S(lf.xlogy_, args(U((3,)), U((2, 3), 0.5, 2.0)), (0, 1), (sc.xlogy,)),
    S(lf.logsumexp_, args(U((2, 3), -3.0, 3.0)), 0, (sc.logsumexp,)),
    S(lf.logsumexp_axis, args(U((2, 3), -3.0, 3.0)), 0, (sc.logsumexp,)),
    S(lf.logsumexp_keep, args(U((2, 3), -3.0, 3.0)), 0, (sc.logsumexp,)),
    S(lf.logsumexp_b, args(U((2, 3), -3.0, 3.0), U((2, 3), 0.5, 2.0)), (0, 1), (sc.logsumexp,)),
    S(lf.softmax_, args(U((2, 3), -3.0, 3.0)), 0, (sc.softmax,)),
    S(lf.softmax_axis, args(U((2, 3), -3.0, 3.0)), 0, (sc.softmax,)),
    S(lf.log_softmax_, args(U((3, 4), -3.0, 3.0)), 0, (sc.log_softmax,)),
    S(lf.special_total, args(U((2, 3), 0.5, 2.0)), 0, (), lf.special_total),
    S(lf.special_softmax_total, args(U((2, 3), -3.0, 3.0)), 0, (), lf.special_softmax_total),
]

NUMBA.append(
    S(
        lf.special_family,
        args(U((2, 3), 0.2, 0.8), U((2, 3), 0.5, 2.0)),
        (0, 1),
        (
            sc.erf,
            sc.erfc,
            sc.expit,
            sc.logit,
            sc.gammaln,
            sc.digamma,
            sc.polygamma,
            sc.xlogy,
            sc.logsumexp,
            sc.softmax,
            sc.log_softmax,
        ),
        numba=True,
    )
)

SPECS = LINALG + SPECIAL + NUMBA


def _name(spec):
    arg_shapes = "_".join("x".join(map(str, np.shape(a))) or "s" for a in spec.make_args(np.random.default_rng(0)))
    return f"{spec.fn.__name__}[{arg_shapes}]"


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


SLOW = {"linalg_family[3x4_2x3x3_2x3x2]"}  # on numba: > 10 s, cache cold
CASES = [
    pytest.param(
        s,
        "numba" if s.numba else "python",
        id=f"{'numba' if s.numba else 'python'}-{_name(s)}",
        marks=[pytest.mark.slow] if s.numba and _name(s) in SLOW else [],
    )
    for s in SPECS
]


@pytest.mark.parametrize("spec,backend", CASES)
def test_rule(spec, backend):
    rng = np.random.default_rng(1)
    a = spec.make_args(rng)
    out = spec.fn(*a)
    if backend == "numba":
        # a compile per transform is what costs (20-30 s cold here): grad only (reverse mode);
        # forward mode's tangent rules use the same ops, checked on python
        g = s2sad.grad(spec.fn, argnums=spec.argnums, backend=backend)(*a)
        check_jacobian(spec.fn, a, spec.argnums, g)
        return
    fwd = s2sad.jacfwd(spec.fn, argnums=spec.argnums, backend=backend)(*a)
    rev = s2sad.jacrev(spec.fn, argnums=spec.argnums, backend=backend)(*a)
    check_jacobian(spec.fn, a, spec.argnums, fwd)
    check_jacobian(spec.fn, a, spec.argnums, rev)
    outputs = isinstance(out, tuple)
    for jf, jr in zip(_flat(fwd, outputs, spec.argnums), _flat(rev, outputs, spec.argnums)):
        np.testing.assert_allclose(jf, jr, rtol=1e-10, atol=1e-12)
    if not outputs and np.ndim(out) == 0:
        g = s2sad.grad(spec.fn, argnums=spec.argnums, backend=backend)(*a)
        for gj, jr in zip(_as_tuple(g), _as_tuple(rev)):
            np.testing.assert_allclose(np.asarray(gj), np.asarray(jr), rtol=1e-12, atol=1e-13)


def _flat(jac, outputs, argnums):
    blocks = jac if outputs else (jac,)
    return [b for row in blocks for b in (row if isinstance(argnums, tuple) else (row,))]


# --- second order: the Hessian of a scalar against a second difference of the function --------


def _perturb(a, argnums, direction, h):
    moved = list(a)
    for k, d in zip(_as_tuple(argnums), direction):
        moved[k] = a[k] + h * d
    return tuple(moved)


def _second_difference(f, a, argnums, u, v, h=1e-4):
    """u . H v by a four-point central difference of ``f`` (NumPy only)."""

    def at(su, sv):
        return float(f(*_perturb(_perturb(a, argnums, u, su * h), argnums, v, sv * h)))

    return (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1)) / (4 * h * h)


def _contract(H, u, v, argnums):
    if not isinstance(argnums, tuple):
        H = ((H,),)
    return sum(
        float(np.tensordot(u[i], np.tensordot(H[i][j], v[j], axes=v[j].ndim), axes=u[i].ndim))
        for i in range(len(u))
        for j in range(len(v))
    )


SECOND = [s for s in LINALG + SPECIAL if s.total is not None]


@pytest.mark.parametrize("spec", [pytest.param(s, id=_name(s) + f"-{s.total.__name__}") for s in SECOND])
def test_second_order(spec):
    rng = np.random.default_rng(2)
    a = spec.make_args(rng)
    H = s2sad.hessian(spec.total, argnums=spec.argnums, backend="python")(*a)
    for _ in range(2):
        u = [rng.standard_normal(np.shape(a[k])) for k in _as_tuple(spec.argnums)]
        v = [rng.standard_normal(np.shape(a[k])) for k in _as_tuple(spec.argnums)]
        expected = _second_difference(spec.total, a, spec.argnums, u, v)
        got = _contract(H, u, v, spec.argnums)
        assert np.isclose(got, expected, rtol=1e-4, atol=1e-5), f"u.Hv {got} != {expected} (second difference)"
    # reverse over reverse (the adjoint rules' own adjoints) gives the same matrix
    inner = s2sad.jacrev(spec.total, argnums=spec.argnums, backend="python")
    H2 = s2sad.jacrev(inner, argnums=spec.argnums, backend="python")(*a)
    several = isinstance(spec.argnums, tuple)
    for h, h2 in zip(_flat(H, several, spec.argnums), _flat(H2, several, spec.argnums)):
        np.testing.assert_allclose(h2, h, rtol=1e-9, atol=1e-10)


def test_second_order_rows_cover_the_helpers():
    """Every runtime helper of this issue's modules that has rules appears in the derivative
    code of a second-order row above (so its own rules, and Hessians through it, are checked)."""
    from s2sad.rules import linalg_rules, special_rules

    modules = (linalg_rules.__name__, special_rules.__name__)
    helpers = {
        op for op in rules.differentiable_ops() if getattr(op, "s2sad_primitive", False) and op.__module__ in modules
    }
    used = set()
    for spec in SECOND:
        a = spec.make_args(np.random.default_rng(2))
        src = s2sad.source(s2sad.hessian(spec.total, argnums=spec.argnums, backend="python"), *a)
        used |= {op for op in helpers if f"rt.{op.__name__}(" in src}
    missing = helpers - used
    assert not missing, f"helpers in no second-order row: {sorted(op.__name__ for op in missing)}"


# --- refusals: S2SADError naming the user's file:line, before any number ------------------------

REFUSED = [
    (lf.svd_default, SVD((4, 3)), "full_matrices=False"),
    (lf.qr_complete, SVD((4, 3)), "mode='complete'"),
    (lf.norm_ord0, DISTINCT((4,)), "ord=0"),
    # (NumPy itself refuses these when s2sad types the call: the message is NumPy's)
    (lf.norm_matrix_ord3, U((3, 3)), "Invalid norm order"),
    (lf.norm_vector_fro, U((3, 3)), "Invalid norm order"),
    (lf.logsumexp_sign, U((3,)), "return_sign=True"),
]


@pytest.mark.parametrize("fn,build,match", [pytest.param(*r, id=r[0].__name__) for r in REFUSED])
@pytest.mark.parametrize("transform", ["jacfwd", "jacrev"])
def test_refused(fn, build, match, transform):
    x = build(np.random.default_rng(3))
    with pytest.raises(s2sad.S2SADError) as info:
        getattr(s2sad, transform)(fn, backend="python")(x)
    message = str(info.value)
    assert "linalg_functions.py:" in message, message
    assert match in message, message


def test_every_rule_has_a_spec_row():
    """Every op this issue's modules register (rules or composites) is named by a row."""
    from s2sad.rules import linalg_rules, special_rules

    modules = (linalg_rules.__name__, special_rules.__name__)
    mine = {op for op in rules.differentiable_ops() if _module_of(op) in modules}
    mine |= {op for op, d in rules.COMPOSITES.items() if d.__module__ in modules}
    covered = {op for s in SPECS for op in s.ops}
    missing = mine - covered
    assert not missing, f"ops with no row: {sorted(map(repr, missing))}"


def _module_of(op):
    for table in (rules.TANGENT_RULES, rules.ADJOINT_RULES, rules.ELEMENTWISE):
        rule = table.get(op)
        if isinstance(rule, dict):
            rule = next(iter(rule.values()))
        if rule is not None:
            return getattr(rule, "__module__", None)
    return None


@pytest.mark.numba
def test_numba_special_kernels_match_scipy():
    """The Numba implementations of the scipy.special helpers (backends.py: digamma and
    polygamma are s2sad's own) against SciPy, over both signs, near the poles and far out."""
    import numba

    from s2sad import backends
    from s2sad.rules import special_rules as sr

    backends.register_numba_runtime()

    @numba.njit
    def run(x, y):
        return (
            sr.digamma(x),
            sr.polygamma(1, x),
            sr.polygamma(2, x),
            sr.polygamma(3, x),
            sr.gammaln(x),
            sr.erf(x),
            sr.erfc(x),
            sr.expit(x),
            sr.logit(y),
            sr.xlogy(y, x),
            sr.xlogy(0.0, x),
        )

    x = np.concatenate(
        [
            np.linspace(-7.3, 30.1, 97),
            [1e-8, 0.5, 1.0, 2.0, 9.99, 10.0, 19.99, 20.0, 150.0, 1e6],
            [0.0, -0.0, -1.0, -2.0],
        ]
    )
    y = np.linspace(0.01, 0.99, x.size)
    expected = (
        sc.digamma(x),
        sc.polygamma(1, x),
        sc.polygamma(2, x),
        sc.polygamma(3, x),
        sc.gammaln(x),
        sc.erf(x),
        sc.erfc(x),
        sc.expit(x),
        sc.logit(y),
        sc.xlogy(y, x),
        sc.xlogy(0.0, x),
    )
    for k, (got, want) in enumerate(zip(run(x, y), expected)):
        # (digamma has a root near 1.4616: there the error is absolute)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13, err_msg=f"function {k}")


@pytest.mark.parametrize(
    "fn,backend",
    [(lf.det_, "python"), (lf.logdet_, "python"), (lf.det_, "numba")],
    ids=["det-python", "slogdet-python", "det-numba"],
)
def test_singular_matrix_is_an_error_naming_the_users_line(fn, backend):
    """At an exactly singular matrix the rules' inverse does not exist: the call raises
    UndefinedDerivativeError naming the user's file (not an internal error, not a number),
    in both modes; a regular matrix afterwards still gets its derivative."""
    from s2sad.errors import UndefinedDerivativeError

    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    regular = np.array([[2.0, 1.0], [0.5, 3.0]])
    assert np.isfinite(fn(singular)) or np.isneginf(fn(singular))  # the function itself computes
    for mode in (s2sad.jacfwd, s2sad.jacrev):
        g = mode(fn, backend=backend)
        with pytest.raises(UndefinedDerivativeError, match=r"linalg_functions\.py:\d+: .*singular matrix"):
            g(singular)
        check_jacobian(fn, (regular,), 0, g(regular))
