"""Issue 17: statistics, reductions and elementwise functions, every mode, ranks 0-3, keyword
spellings, python and numba.

Oracles are NumPy only (tests/checks.py): each row checks jacfwd and jacrev against central
differences in random directions, that the two agree, grad where the output is a scalar, and
the Hessian of ``t * t + t`` with ``t = sum(f(...))`` against a four-point second difference in
random directions. A few rows (one per family) run on numba too, with their compiled
functions shared. Running products (np.cumprod, np.prod with an axis) are checked on inputs
with zeros against closed forms; refusals raise S2SADError naming the user's file:line before
any number.
"""

import math
import warnings
from typing import NamedTuple

import numpy as np
import pytest

import audit_functions as af
import s2sad
import s2sad.rules as rules
import stats_functions as sf
from checks import check_jacobian

SHAPES = {0: (), 1: (4,), 2: (3, 4), 3: (2, 3, 4)}


class Row(NamedTuple):
    fn: object
    make_args: object  # rng -> arguments
    argnums: tuple
    ops: tuple  # the ops (rule tables or composites) the row covers
    numba: bool = False


def U(shape, low=-1.0, high=1.0):
    def build(rng):
        return float(rng.uniform(low, high)) if shape == () else rng.uniform(low, high, size=shape)

    return build


def NZ(shape, low=0.3, high=1.0):
    def build(rng):
        mag = U(shape, low, high)(rng)
        sign = float(rng.choice([-1.0, 1.0])) if shape == () else rng.choice([-1.0, 1.0], size=shape)
        return mag * sign

    return build


def DISTINCT(shape):
    """Values 0.1 apart at least (selections: no ties within a finite-difference step)."""

    def build(rng):
        n = int(np.prod(shape))
        values = rng.permutation(np.linspace(-1.0, 1.0, n) + 0.01 * rng.uniform(size=n))
        return float(values[0]) if shape == () else values.reshape(shape)

    return build


def args(*builders):
    return lambda rng: tuple(b(rng) for b in builders)


def R(fn, builders, ops, argnums=None, numba=False):
    argnums = tuple(range(len(builders))) if argnums is None else argnums
    return Row(fn, args(*builders), argnums, ops, numba)


POSITIVE = lambda s: U(s, 0.3, 2.0)  # noqa: E731
UNARY = [  # function, domain, ops
    (sf.log2_, POSITIVE, (np.log2,)),
    (sf.log10_, POSITIVE, (np.log10,)),
    (sf.exp2_, U, (np.exp2,)),
    (sf.arcsinh_, lambda s: U(s, -2.0, 2.0), (np.arcsinh,)),
    (sf.arccosh_, lambda s: U(s, 1.2, 3.0), (np.arccosh,)),
    (sf.arctanh_, lambda s: U(s, -0.8, 0.8), (np.arctanh,)),
    (sf.cbrt_, NZ, (np.cbrt,)),
    (sf.fabs_, NZ, (np.fabs,)),
    (sf.deg2rad_, U, (np.deg2rad,)),
    (sf.radians_, U, (np.radians,)),
    (sf.rad2deg_, U, (np.rad2deg,)),
    (sf.degrees_, U, (np.degrees,)),
    (sf.sinc_, lambda s: U(s, -2.0, 2.0), (np.sinc,)),
]
BINARY = [
    (sf.hypot_, NZ, NZ, (np.hypot,)),
    (sf.fmax_, DISTINCT, DISTINCT, (np.fmax,)),
    (sf.fmin_, DISTINCT, DISTINCT, (np.fmin,)),
    (sf.logaddexp_, U, U, (np.logaddexp,)),
    (sf.logaddexp2_, U, U, (np.logaddexp2,)),
]
PAIRS = [((), ()), ((4,), ()), ((3, 4), (4,)), ((2, 3, 4), (3, 1))]

# (every rank 0-3 and broadcasting pair of these ops is in the rule audit too,
# tests/test_rule_audit.py: here a few ranks each, with the keyword and method spellings)
ROWS = []
for fn, dom, ops in UNARY:
    ranks = (0, 1, 2, 3) if fn in (sf.sinc_, sf.log2_) else (0, 2) if fn in (sf.cbrt_, sf.arccosh_) else (2,)
    for r in ranks:
        ROWS.append(R(fn, [dom(SHAPES[r])], ops))
for fn, da, db, ops in BINARY:
    for sa, sb in PAIRS if fn in (sf.fmax_, sf.logaddexp_) else PAIRS[2:3]:
        ROWS.append(R(fn, [da(sa), db(sb)], ops))
ROWS += [
    R(
        sf.math_scalars,
        [U((), 0.3, 2.0), U((), -1.0, 1.0)],
        (math.log2, math.log10, math.asinh, math.acosh, math.atanh, math.radians, math.degrees, math.hypot),
    ),
    R(sf.rounding_mix, [U((3, 4), 0.05, 0.3)], (np.floor, np.ceil, np.sign, np.round, np.around)),
    R(sf.sinc_, [lambda rng: np.array([0.0, 0.02, -0.05, 0.7])], (np.sinc,)),  # at and near 0
    # clip: one-sided (a bound None) and keyword spellings
    R(sf.clip_upper_only, [DISTINCT((8,))], (np.clip,)),
    R(sf.clip_upper_only, [DISTINCT(())], (np.clip,)),
    R(sf.clip_lower_kw_none, [DISTINCT((2, 3, 4))], (np.clip,)),
    R(sf.clip_keywords, [DISTINCT((3, 4)), U((4,), -0.6, -0.2), U((), 0.2, 0.6)], (np.clip,)),
    R(sf.clip_min_max, [DISTINCT((2, 3))], (np.clip,)),
    R(sf.clip_method_min, [DISTINCT((3, 4)), U((), -0.25, 0.25)], (np.clip,)),
    R(sf.clip_method_keywords, [DISTINCT((2, 3, 4))], (np.clip,)),
    # trace with offset / axes
    R(sf.trace_offset, [U((3, 4))], (np.trace,)),
    R(sf.trace_offset, [U((4, 3, 2))], (np.trace,)),
    R(sf.trace_negative_offset, [U((3, 3))], (np.trace,)),
    R(sf.trace_axes, [U((2, 3, 3))], (np.trace,)),
    R(sf.trace_method, [U((3, 2, 4))], (np.trace,)),
    # running sums along any axis
    R(sf.cumsum_flat, [U(())], (np.cumsum,)),
    R(sf.cumsum_flat, [U((2, 3, 4))], (np.cumsum,)),
    R(sf.cumsum_0, [U((3, 4))], (np.cumsum,)),
    R(sf.cumsum_0, [U((2, 3, 4))], (np.cumsum,)),
    R(sf.cumsum_1, [U((2, 3, 4))], (np.cumsum,)),
    R(sf.cumsum_last, [U((3, 4))], (np.cumsum,)),
    R(sf.cumsum_method, [U((2, 3, 4))], (np.cumsum,)),
    # running products and products along an axis
    R(sf.cumprod_flat, [NZ((5,), 0.5, 1.5)], (np.cumprod,)),
    R(sf.cumprod_flat, [NZ((), 0.5, 1.5)], (np.cumprod,)),
    R(sf.cumprod_flat, [NZ((2, 3), 0.5, 1.5)], (np.cumprod,)),
    R(sf.cumprod_0, [NZ((3, 4), 0.5, 1.5)], (np.cumprod,)),
    R(sf.cumprod_1, [NZ((2, 3, 4), 0.5, 1.5)], (np.cumprod,)),
    R(sf.cumprod_last, [NZ((2, 3, 2), 0.5, 1.5)], (np.cumprod,)),
    R(sf.cumprod_method, [NZ((4, 3), 0.5, 1.5)], (np.cumprod,)),
    R(sf.prod_all, [NZ((), 0.5, 1.5)], (np.prod,)),
    R(sf.prod_all, [NZ((4,), 0.5, 1.5)], (np.prod,)),
    R(sf.prod_all, [NZ((2, 3, 2), 0.5, 1.5)], (np.prod,)),
    R(sf.prod_0, [NZ((4,), 0.5, 1.5)], (np.prod,)),
    R(sf.prod_0, [NZ((3, 4), 0.5, 1.5)], (np.prod,)),
    R(sf.prod_1, [NZ((2, 3, 4), 0.5, 1.5)], (np.prod,)),
    R(sf.prod_last, [NZ((3, 4), 0.5, 1.5)], (np.prod,)),
    R(sf.prod_keepdims, [NZ((2, 3, 2), 0.5, 1.5)], (np.prod,)),
    R(sf.prod_axes, [NZ((2, 3, 2), 0.5, 1.5)], (np.prod,)),
    R(sf.prod_method, [NZ((3, 4), 0.5, 1.5)], (np.prod,)),
    R(sf.geometric_mean_rows, [U((3, 4), 0.5, 1.5)], (np.prod,)),
    R(sf.returns_compounded, [U((5, 2), -0.1, 0.1)], (np.cumprod,)),
    # differences, ranges, averages
    R(sf.diff_, [U((5,))], (np.diff,)),
    R(sf.diff_, [U((2, 3, 4))], (np.diff,)),
    R(sf.diff_n2_0, [U((4, 3))], (np.diff,)),
    R(sf.diff_1, [U((2, 3, 4))], (np.diff,)),
    R(sf.ptp_all, [DISTINCT((3, 4))], (np.ptp,)),
    R(sf.ptp_1, [DISTINCT((2, 3, 4))], (np.ptp,)),
    R(sf.average_all, [U(())], (np.average,)),
    R(sf.average_all, [U((2, 3, 4))], (np.average,)),
    R(sf.average_1, [U((3, 4))], (np.average,)),
    R(sf.average_weights, [U((3, 4)), U((3, 4), 0.5, 1.5)], (np.average,)),
    R(sf.average_weights_1d, [U((2, 4, 3)), U((4,), 0.5, 1.5)], (np.average,)),
    R(sf.average_weights_all, [U((5,)), U((5,), 0.5, 1.5)], (np.average,)),
    R(sf.average_returned, [U((5,)), U((5,), 0.5, 1.5)], (np.average,)),
    R(sf.diff_prepend, [U((5,))], (np.diff,)),
    R(sf.diff_prepend, [U((2, 3))], (np.diff,)),
    R(sf.average_keepdims, [U((2, 3)), U((3,), 0.5, 1.5)], (np.average,)),
    R(sf.average_constant_weights, [U((4, 2))], (np.average,)),
    R(sf.mean_keepdims_method, [U((2, 3, 4))], (np.mean,)),
    R(sf.running_mix, [U((3, 4)), U((4,), 0.5, 1.5)], (np.cumsum, np.average)),
    R(sf.soft_maximum_bits, [U((3, 2))], (np.logaddexp2, np.log2, np.hypot)),
    # all of them in one function (on numba, checked by hand: its compile takes minutes)
    R(sf.every_op, [U((3, 4), -0.9, 0.9), U((4,), 0.5, 1.5)], ()),
]

# numba: one row per family, one mode each (a compile costs 5-20 s); the compiled functions
# are shared with the tests below (same shapes: no second compile)
SLOW_NUMBA = {"jacfwd-cumprod_0[4x3]"}  # > 10 s, cache cold
NUMBA_ROWS = [  # row, mode
    (R(sf.logaddexp2_, [U((3, 4)), U((4,))], (np.logaddexp2,)), "jacrev"),
    (R(sf.sinc_, [lambda rng: np.array([0.0, 1.0])], (np.sinc,)), "jacfwd"),
    (R(sf.clip_lower_kw_none, [DISTINCT((2, 3, 4))], (np.clip,)), "jacrev"),
    (R(sf.cumprod_0, [NZ((4, 3), 0.5, 1.5)], (np.cumprod,)), "jacfwd"),
    (R(sf.prod_0, [NZ((4, 3), 0.5, 1.5)], (np.prod,)), "jacrev"),
    (R(sf.cumsum_1, [U((2, 3, 4))], (np.cumsum,)), "jacrev"),
]
_COMPILED = {}


def compiled(fn, mode, backend="numba"):
    """One transform object per (function, mode, backend): its compiled plans are reused."""
    key = (fn, mode, backend)
    if key not in _COMPILED:
        _COMPILED[key] = getattr(s2sad, mode)(fn, backend=backend)
    return _COMPILED[key]


def _name(row):
    shapes = "_".join("x".join(map(str, np.shape(a))) or "s" for a in row.make_args(np.random.default_rng(0)))
    return f"{row.fn.__name__}[{shapes}]"


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def total(fn):
    """``t * t + t`` with ``t = sum(fn(...))`` (audit_functions' user-style wrappers)."""
    return {1: af.total1, 2: af.total2, 3: af.total3}[fn.__code__.co_argcount](fn)


# --- the second-difference oracle -------------------------------------------------------------


def _moved(args, argnums, dirs, h):
    out = list(args)
    for k, d in zip(argnums, dirs):
        out[k] = args[k] + h * d
    return out


def _direction(x, rng):
    return float(rng.uniform(-1, 1)) if np.ndim(x) == 0 else rng.uniform(-1, 1, size=np.shape(x))


def check_hessian(H, s, a, argnums, rng, h=1e-4):
    """u . H v against (s(+u+v) - s(+u-v) - s(-u+v) + s(-u-v)) / 4h^2, two random pairs."""
    for _ in range(2):
        u = [_direction(a[k], rng) for k in argnums]
        v = [_direction(a[k], rng) for k in argnums]
        pp, pm, mp, mm = (
            s(*_moved(_moved(a, argnums, u, su * h), argnums, v, sv * h))
            for su, sv in ((1, 1), (1, -1), (-1, 1), (-1, -1))
        )
        expected = (pp - pm - mp + mm) / (4 * h * h)
        got = sum(
            float(
                np.tensordot(
                    np.asarray(u[i]),
                    np.tensordot(np.asarray(H[i][j]), np.asarray(v[j]), axes=np.ndim(v[j])),
                    axes=np.ndim(u[i]),
                )
            )
            for i in range(len(argnums))
            for j in range(len(argnums))
        )
        assert np.isclose(got, expected, rtol=1e-4, atol=1e-5), f"u.Hv {got} != {expected} (finite differences)"


def _check_row(row, backend, hessian=True):
    rng = np.random.default_rng(17)
    a = row.make_args(rng)
    argnums = row.argnums if len(row.argnums) > 1 else row.argnums[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # np.where computes both branches
        fwd = s2sad.jacfwd(row.fn, argnums=argnums, backend=backend)(*a)
        rev = s2sad.jacrev(row.fn, argnums=argnums, backend=backend)(*a)
        check_jacobian(row.fn, a, argnums, fwd, rng=rng)
        check_jacobian(row.fn, a, argnums, rev, rng=rng)
        for jf, jr in zip(_as_tuple(fwd), _as_tuple(rev)):
            np.testing.assert_allclose(jf, jr, rtol=1e-12, atol=1e-13)
        # the values the generated code computes (composites replace NumPy's function) are NumPy's
        y, _ = s2sad.vjp(row.fn, *a, backend=backend)
        np.testing.assert_allclose(y, row.fn(*a), rtol=1e-13, atol=1e-15)
        assert np.shape(y) == np.shape(row.fn(*a))
        if np.ndim(row.fn(*a)) == 0:
            g = s2sad.grad(row.fn, argnums=argnums, backend=backend)(*a)
            for gj, jr in zip(_as_tuple(g), _as_tuple(rev)):
                np.testing.assert_allclose(np.asarray(gj), np.asarray(jr), rtol=1e-12, atol=1e-13)
        if hessian:
            s = total(row.fn)
            H = s2sad.hessian(s, argnums=row.argnums, backend=backend)(*a)
            check_hessian(H, s, a, row.argnums, rng)


@pytest.mark.parametrize("row", [pytest.param(r, id=_name(r)) for r in ROWS])
def test_stats_rule(row):
    _check_row(row, "python")


@pytest.mark.numba
@pytest.mark.parametrize(
    "row,mode",
    [
        pytest.param(r, m, id=f"{m}-{_name(r)}", marks=[pytest.mark.slow] if f"{m}-{_name(r)}" in SLOW_NUMBA else [])
        for r, m in NUMBA_ROWS
    ],
)
def test_stats_rule_numba(row, mode):
    a = row.make_args(np.random.default_rng(17))
    argnums = row.argnums if len(row.argnums) > 1 else row.argnums[0]
    J = getattr(s2sad, mode)(row.fn, argnums=argnums, backend="numba")(*a) if len(a) > 1 else compiled(row.fn, mode)(*a)
    check_jacobian(row.fn, a, argnums, J)
    expected = getattr(s2sad, mode)(row.fn, argnums=argnums, backend="python")(*a)
    for jn, jp in zip(_as_tuple(J), _as_tuple(expected)):
        np.testing.assert_allclose(jn, jp, rtol=1e-12, atol=1e-13)


def test_every_new_op_has_a_row():
    new = {
        np.log2,
        np.log10,
        np.exp2,
        np.arcsinh,
        np.arccosh,
        np.arctanh,
        np.cbrt,
        np.fabs,
        np.deg2rad,
        np.radians,
        np.rad2deg,
        np.degrees,
        np.sinc,
        np.hypot,
        np.fmax,
        np.fmin,
        np.logaddexp,
        np.logaddexp2,
        np.clip,
        np.trace,
        np.cumsum,
        np.cumprod,
        np.prod,
        np.diff,
        np.ptp,
        np.average,
        math.log2,
        math.log10,
        math.asinh,
        math.acosh,
        math.atanh,
        math.radians,
        math.degrees,
        math.hypot,
    }
    covered = {op for r in ROWS for op in r.ops}
    assert new <= covered, sorted(map(repr, new - covered))
    assert new <= rules.differentiable_ops()


# --- running products with zeros: closed forms, no nan ------------------------------------------


def _products_of_others(x):
    """For each element, the product of the others (the gradient of np.prod), by brute force."""
    flat = np.ravel(x)
    return np.array([np.prod(np.delete(flat, i)) for i in range(flat.size)]).reshape(np.shape(x))


ZEROS_1D = np.array([0.7, 0.0, -1.3, 0.0, 2.0])
ZEROS_2D = np.array([[0.7, 0.0, -1.3], [1.1, 0.5, 0.0], [0.0, 0.0, 0.0], [2.0, -1.0, 0.8]])


def _cumprod_jacobian(x):
    """d y_k / d x_j of np.cumprod of a 1-d x: the product of x_0..x_k but x_j (j <= k)."""
    n = len(x)
    return np.array([[_products_of_others(x[: k + 1])[j] if j <= k else 0.0 for j in range(n)] for k in range(n)])


def _prod_0_jacobian(x):
    J = np.zeros((x.shape[1],) + x.shape)
    for j in range(x.shape[1]):
        J[j, :, j] = _products_of_others(x[:, j])
    return J


def _cumprod_0_jacobian(x):
    J = np.zeros(x.shape + x.shape)
    for j in range(x.shape[1]):
        J[:, j, :, j] = _cumprod_jacobian(x[:, j])
    return J


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_products_with_zeros(backend):
    """Zeros in a product: no nan, the closed forms (products of the others, by brute force)."""
    modes = ("jacfwd", "jacrev") if backend == "python" else ("jacrev",)
    for mode in modes:
        J = compiled(sf.prod_0, mode, backend)(ZEROS_2D)
        np.testing.assert_allclose(J, _prod_0_jacobian(ZEROS_2D), rtol=1e-14, atol=0)
    for mode in ("jacfwd", "jacrev") if backend == "python" else ("jacfwd",):
        J = compiled(sf.cumprod_0, mode, backend)(ZEROS_2D)
        np.testing.assert_allclose(J, _cumprod_0_jacobian(ZEROS_2D), rtol=1e-14, atol=0)
    if backend == "python":
        for x in (ZEROS_1D, np.array([0.7, 0.0, -1.3, 2.0])):
            g = s2sad.grad(sf.prod_all, backend=backend)(x)
            np.testing.assert_allclose(g, _products_of_others(x), rtol=1e-14, atol=0)
        assert g[1] != 0.0  # (the only zero: its partial is the product of the others)
        for mode in ("jacfwd", "jacrev"):
            J = getattr(s2sad, mode)(sf.cumprod_flat, backend=backend)(ZEROS_1D)
            np.testing.assert_allclose(J, _cumprod_jacobian(ZEROS_1D), rtol=1e-14, atol=0)


def test_second_order_of_products_with_zeros():
    # d2 prod / dx_i dx_j = the product of all but x_i and x_j (0 on the diagonal)
    x = np.array([0.7, 0.0, -1.3, 2.0])
    H = s2sad.hessian(sf.prod_all, backend="python")(x)
    expected = np.array([[0.0 if i == j else np.prod(np.delete(x, [i, j])) for j in range(4)] for i in range(4)])
    np.testing.assert_allclose(H, expected, rtol=1e-14, atol=0)
    # (polynomials: second differences are exact enough at zeros too)
    s = total(sf.cumprod_0)
    check_hessian(
        s2sad.hessian(s, argnums=(0,), backend="python")(ZEROS_2D), s, (ZEROS_2D,), (0,), np.random.default_rng(5)
    )
    s = total(sf.prod_1)
    Z = ZEROS_2D.reshape(2, 2, 3)
    check_hessian(s2sad.hessian(s, argnums=(0,), backend="python")(Z), s, (Z,), (0,), np.random.default_rng(6))


@pytest.mark.numba
def test_sinc_at_zero():
    # sinc(x) = 1 - (pi x)^2 / 6 + ...: sinc'(0) = 0, sinc''(0) = -pi^2 / 3; sinc(1) = 0, sinc'(1) = -1
    x = np.array([0.0, 1.0])
    for backend in ("python", "numba"):
        J = compiled(sf.sinc_, "jacfwd", backend)(x)
        np.testing.assert_allclose(np.diag(J), [0.0, -1.0], atol=1e-15)
    H = s2sad.hessian(sf.sum_sinc, backend="python")(np.array([0.0]))
    np.testing.assert_allclose(H, [[-(np.pi**2) / 3]], rtol=1e-12)


def test_fmax_skips_nan():
    """NumPy's fmax/fmin take the operand that is not nan, and so do their derivatives."""
    a = np.array([np.nan, 0.5, -0.2])
    b = np.array([0.3, np.nan, 0.4])
    for fn, op in ((sf.fmax_, np.fmax), (sf.fmin_, np.fmin)):
        Ja, Jb = s2sad.jacrev(fn, argnums=(0, 1), backend="python")(a, b)
        np.testing.assert_array_equal(np.diag(Ja), [0.0, 1.0, float(op is np.fmin)])
        np.testing.assert_array_equal(np.diag(Jb), [1.0, 0.0, float(op is np.fmax)])
        y, _ = s2sad.vjp(fn, a, b, backend="python")
        np.testing.assert_array_equal(y, op(a, b))
        for x, z in ((np.nan, 0.5), (0.5, np.nan), (0.25, 0.5)):  # numbers too
            ga, gb = s2sad.grad(fn, argnums=(0, 1), backend="python")(x, z)
            assert (ga, gb) == (
                (0.0, 1.0) if np.isnan(x) else (1.0, 0.0) if np.isnan(z) or (op is np.fmin) else (0.0, 1.0)
            )
            assert s2sad.vjp(fn, x, z, backend="python")[0] == op(x, z)


# --- refusals ------------------------------------------------------------------------------------

REFUSED = [
    (sf.cumprod_dtype, (np.ones(3),), "dtype"),
    (sf.cumsum_dtype, (np.ones((2, 3)),), "dtype"),
    (sf.prod_axis_variable, (np.ones((2, 3)), 1), "axis"),
    (sf.diff_, (0.5,), "0-d|at least one dimensional"),
]


@pytest.mark.parametrize("fn,a,match", [pytest.param(*r, id=r[0].__name__) for r in REFUSED])
@pytest.mark.parametrize("mode", ["jacfwd", "jacrev"])
def test_refused_with_file_and_line(fn, a, match, mode):
    with pytest.raises(s2sad.S2SADError, match=match) as info:
        getattr(s2sad, mode)(fn, backend="python")(*a)
    assert "stats_functions.py:" in str(info.value)
