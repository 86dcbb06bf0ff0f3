"""The rule audit (issue 16): every rule of the tables, in both modes and at second order, on
0-d, 1-d, 2-d and 3-d operands (with broadcasting where the op broadcasts), against finite
differences (tests/checks.py, NumPy only).

Each case checks jacfwd and jacrev (central differences in random directions) and the
Hessian of ``t * t + t`` with ``t = sum(f(...))`` (``u . H v`` against a four-point second
difference), and with one seed (scalars' derivatives are scalars) grad, jvp, vjp (the
dot-product test) and hvp, on the python backend; a representative subset runs on numba too. A (rule,
rank) combination s2sad does not support must raise S2SADError naming the user's file:line
(``refused`` cases): never a wrong number, never an exception from inside generated code.

A zero derivative is allowed only for piecewise-constant functions: the last tests keep
``rules.NONDIFFERENTIABLE`` equal to an explicit allow-list, and check that selections
(np.where, np.maximum ...) do not leak an unselected branch's nan.
"""

import builtins
import math
import warnings
import zlib
from typing import NamedTuple

import numpy as np
import pytest

import audit_functions as af
import s2sad
import s2sad.rules as rules
from checks import check_jacobian, check_jvp, dot_product_test
from s2sad import ir
from s2sad import runtime as rt
from s2sad.errors import S2SADError

SHAPES = {0: (), 1: (3,), 2: (2, 3), 3: (2, 3, 4)}


class Case(NamedTuple):
    name: str
    fn: object
    total: object  # the scalar whose Hessian is checked
    args: object  # rng -> arguments
    argnums: tuple
    numba: bool = False
    refused: object = ()  # the modes where S2SADError with file:line is expected


# --- argument builders --------------------------------------------------------------------


def U(shape, low=-1.0, high=1.0):
    def build(rng):
        if shape == ():
            return float(rng.uniform(low, high))
        return rng.uniform(low, high, size=shape)

    return build


def NZ(shape, low=0.3, high=1.0):
    """Magnitudes in [low, high], random signs."""

    def build(rng):
        mag = U(shape, low, high)(rng)
        sign = rng.choice([-1.0, 1.0], size=shape) if shape != () else float(rng.choice([-1.0, 1.0]))
        return mag * sign

    return build


def C(value):
    return lambda rng: value


def DISTINCT(shape):
    """Well-separated values (np.sort: no near-ties within a difference step)."""

    def build(rng):
        n = int(np.prod(shape))
        return rng.permutation(np.linspace(-1.0, 1.0, n) + 0.01 * rng.uniform(size=n)).reshape(shape)

    return build


def args(*builders):
    return lambda rng: tuple(b(rng) for b in builders)


def _total(fn, n):
    return {1: af.total1, 2: af.total2, 3: af.total3}[n](fn)


ALL = ("jacfwd", "jacrev", "hessian", "grad", "jvp", "vjp", "hvp")
SECOND = ("hessian", "hvp")


def case(name, fn, builders, argnums=None, numba=False, refused=()):
    argnums = tuple(range(len(builders))) if argnums is None else argnums
    return Case(name, fn, _total(fn, len(builders)), args(*builders), argnums, numba, refused)


# --- the table ----------------------------------------------------------------------------

UNARY = [  # op, domain builder (shape -> builder)
    (np.sin, U),
    (np.cos, U),
    (np.tan, U),
    (np.exp, U),
    (np.log, lambda s: U(s, 0.5, 2.0)),
    (np.log1p, lambda s: U(s, -0.5, 1.0)),
    (np.expm1, U),
    (np.sqrt, lambda s: U(s, 0.3, 2.0)),
    (np.tanh, U),
    (np.sinh, U),
    (np.cosh, U),
    (np.arctan, lambda s: U(s, -2.0, 2.0)),
    (np.arcsin, lambda s: U(s, -0.8, 0.8)),
    (np.arccos, lambda s: U(s, -0.8, 0.8)),
    (np.abs, NZ),
    (builtins.abs, NZ),
    (np.negative, U),
    (np.square, U),
    (np.reciprocal, lambda s: NZ(s, 0.5, 2.0)),
    (np.positive, U),
]
MATH_UNARY = [
    (math.sin, U),
    (math.cos, U),
    (math.tan, U),
    (math.exp, U),
    (math.log, lambda s: U(s, 0.5, 2.0)),
    (math.log1p, lambda s: U(s, -0.5, 1.0)),
    (math.expm1, U),
    (math.sqrt, lambda s: U(s, 0.3, 2.0)),
    (math.tanh, U),
    (math.sinh, U),
    (math.cosh, U),
    (math.atan, U),
    (math.asin, lambda s: U(s, -0.8, 0.8)),
    (math.acos, lambda s: U(s, -0.8, 0.8)),
    (math.fabs, NZ),
    (builtins.float, U),
]
BINARY = [  # op, domain of a, domain of b
    (np.add, U, U),
    (np.subtract, U, U),
    (np.multiply, U, U),
    (np.true_divide, U, lambda s: NZ(s, 0.5, 2.0)),
    (np.power, lambda s: U(s, 0.5, 2.0), U),
    (np.maximum, U, U),
    (np.minimum, U, U),
    (np.arctan2, NZ, NZ),
    # away from the jumps: floor(a / b) == 2, trunc(a / b) == -2
    (np.remainder, lambda s: U(s, 2.1, 2.4), lambda s: U(s, 0.9, 1.0)),
    (np.fmod, lambda s: U(s, -2.4, -2.1), lambda s: U(s, 0.9, 1.0)),
]
PAIRS = [((), ()), ((), (3,)), ((2, 3), (3,)), ((2, 1, 3), (4, 1)), ((2, 3, 4), ())]
SCALAR_BINARY = [
    (af.math_pow, lambda s: U(s, 0.5, 2.0), U),
    (af.math_atan2, NZ, NZ),
    (af.math_fmod, lambda s: U(s, 2.1, 2.4), lambda s: U(s, 0.9, 1.0)),
    (af.builtin_max, U, U),
    (af.builtin_min, U, U),
    (af.operator_add, U, U),
    (af.remainder_op, lambda s: U(s, 2.1, 2.4), lambda s: U(s, 0.9, 1.0)),
]
# (CI time: a 3-d operand's numba compiles take 20-40 s; 3-d is checked on numba by multiply,
# dot/matmul and the reductions)
NUMBA_UNARY = {(np.sin, 2), (np.sqrt, 0), (np.arccos, 1), (np.abs, 0), (np.reciprocal, 2)}
NUMBA_BINARY = {(np.multiply, 3), (np.true_divide, 2), (np.maximum, 3), (np.remainder, 1), (np.power, 0)}

CASES = []
for op, dom in UNARY:
    for r, shape in SHAPES.items():
        CASES.append(case(f"{op.__name__}-{r}d", af.unary(op), [dom(shape)], numba=(op, r) in NUMBA_UNARY))
for op, dom in MATH_UNARY:
    CASES.append(case(f"math.{op.__name__}-0d", af.unary(op), [dom(())]))
for op, da, db in BINARY:
    for k, (sa, sb) in enumerate(PAIRS):
        CASES.append(case(f"{op.__name__}-{sa}-{sb}", af.binary(op), [da(sa), db(sb)], numba=(op, k) in NUMBA_BINARY))
for fn, da, db in SCALAR_BINARY:
    CASES.append(
        case(f"{fn.__name__}-0d", fn, [da(()), db(())], numba=fn is af.builtin_max)
    )  # (Numba has no math.fmod)

# selections (no 0/1 masks: see also test_selections_do_not_leak_nan)
CASES += [
    case("where-1d", af.where_cmp, [U((5,)), U((5,))], numba=True),
    case("where-3d-2d", af.where_cmp, [U((2, 3, 4)), U((3, 4))]),
    case("where-0d", af.where_cmp, [U(()), U(())], numba=True),
    case("where-scalar-branch", af.where_scalar_branch, [NZ((2, 3)), U(())]),
    case("where-sqrt", af.where_sqrt, [NZ((6,))], numba=True),
    case("where-log-2d", af.where_log, [NZ((2, 3))]),
    case("clip-3d", af.clip_, [U((2, 3, 4)), U((4,), -0.5, -0.1), U((), 0.1, 0.5)]),
    case("clip-0d", af.clip_, [U(()), U((), -0.5, -0.1), U((), 0.1, 0.5)]),  # (Numba: no np.clip of scalars)
    case("clip-const-2d", af.clip_const, [U((2, 3))]),
]

# reductions: (function, ranks, domain, refused ranks)
REDUCTIONS = [
    (af.sum_all, (0, 1, 2, 3), U, ()),
    (af.sum_0, (1, 2, 3), U, ()),
    (af.sum_last, (1, 2, 3), U, ()),
    (af.sum_02, (3,), U, ()),
    (af.mean_all, (1, 2, 3), U, ()),
    (af.mean_0, (1, 2, 3), U, ()),
    (af.mean_last, (2, 3), U, ()),
    (af.max_all, (1, 2, 3), U, ()),
    (af.max_0, (1, 2, 3), U, ()),
    (af.min_last, (1, 2, 3), U, ()),
    (af.amax_all, (2,), U, ()),
    (af.amin_0, (3,), U, ()),
    (af.prod_all, (1, 2, 3), lambda s: NZ(s, 0.5, 1.5), ()),
    (af.prod_0, (1, 2, 3), lambda s: NZ(s, 0.5, 1.5), ()),
    (af.cumsum_all, (1, 2, 3), U, ()),
    (af.cumsum_0, (1, 2, 3), U, ()),
    (af.norm_all, (1, 2, 3), U, ()),
    (af.trace_, (2, 3), U, ()),
    # composites (rules/composite_rules.py): keepdims, tuple axes, var, std
    (af.sum_keep, (1, 2, 3), U, ()),
    (af.mean_keep_02, (3,), U, ()),
    (af.max_keep_all, (1, 2), U, ()),
    (af.var_all, (0, 1, 2, 3), U, ()),
    (af.var_0_keep, (1, 2, 3), U, ()),
    (af.std_ddof_last, (2, 3), U, ()),
]
NUMBA_REDUCTIONS = {
    (af.sum_0, 3),
    (af.max_all, 2),
    (af.prod_all, 1),
    (af.norm_all, 2),
    (af.mean_all, 3),
    (af.mean_keep_02, 3),
}
for fn, ranks, dom, refused in REDUCTIONS:
    for r in ranks:
        shape = (3, 3) if fn is af.trace_ and r == 2 else SHAPES[r]
        CASES.append(
            case(
                f"{fn.__name__}-{r}d",
                fn,
                [dom(shape)],
                numba=(fn, r) in NUMBA_REDUCTIONS,
                refused=dict(refused).get(r, ()) if isinstance(refused, dict) else (),
            )
        )


# linear algebra: every rank pair; n = 3 is the contracted length
def _product_shapes(fn, ra, rb):
    if fn in (af.matmul_, af.np_matmul):
        if ra == 0 or rb == 0:
            return None
        sa = (2,) * (ra - 2) + ((4, 3) if ra >= 2 else (3,))
        sb = (1,) * (rb - 2) + ((3, 2) if rb >= 2 else (3,))  # a stack of 1 broadcasts
        return sa, sb
    sa = (2,) * max(ra - 1, 0) + ((3,) if ra else ())
    if fn is af.inner_:
        return sa, (4,) * max(rb - 1, 0) + ((3,) if rb else ())
    return sa, (() if rb == 0 else (3,) if rb == 1 else (2,) * (rb - 2) + (3, 4))


NUMBA_PRODUCTS = {
    (af.matmul_, 2, 1),
    (af.matmul_, 1, 2),
    (af.dot_, 2, 2),
    (af.dot_, 0, 2),
    (af.inner_, 1, 1),
    (af.dot_, 3, 2),
    (af.dot_, 1, 3),
    (af.matmul_, 3, 3),
    (af.matmul_, 1, 3),
}
for fn in (af.dot_, af.inner_, af.matmul_):
    for ra in range(4):
        for rb in range(4):
            shapes = _product_shapes(fn, ra, rb)
            if shapes is None:
                continue
            CASES.append(
                case(
                    f"{fn.__name__}-{ra}d-{rb}d", fn, [U(shapes[0]), U(shapes[1])], numba=(fn, ra, rb) in NUMBA_PRODUCTS
                )
            )
CASES += [
    case("np.matmul-3d-3d", af.np_matmul, [U((2, 4, 3)), U((2, 3, 2))]),
    case("dot-method-2d", af.dot_method, [U((2, 3)), U((3, 4))]),
    case("outer-1d", af.outer_, [U((3,)), U((4,))]),
    case("outer-2d-1d", af.outer_, [U((2, 3)), U((4,))]),
]

# shape and indexing: (function, shapes of its arguments)
SHAPE_CASES = [
    (af.transpose_, [(3,)]),
    (af.transpose_, [(2, 3)]),
    (af.transpose_, [(2, 3, 4)]),
    (af.transpose_axes, [(2, 3, 4)]),
    (af.T_, [(2, 3)]),
    (af.reshape_flat, [(2, 3, 4)]),
    (af.reshape_2, [(2, 3)]),
    (af.ravel_, [(2, 3, 4)]),
    (af.expand_first, [()]),
    (af.expand_first, [(3,)]),
    (af.expand_last, [(2, 3)]),
    (af.squeeze_0, [(1, 3)]),
    (af.broadcast_to_, [(4,)]),
    (af.broadcast_to_, [(3, 1)]),
    (af.broadcast_to_, [()]),
    (af.copy_, [(2, 3)]),
    (af.contiguous_, [(3,)]),
    (af.swapaxes_, [(2, 3, 4)]),
    (af.astype_, [(2, 3)]),
    (af.concatenate_0, [(2,), (3,)]),
    (af.concatenate_0, [(2, 3), (1, 3)]),
    (af.concatenate_0, [(2, 3, 4), (1, 3, 4)]),
    (af.concatenate_1, [(2, 3), (2, 1)]),
    (af.concatenate_1, [(2, 3, 4), (2, 1, 4)]),
    (af.concatenate_neg, [(3,), (2,)]),
    (af.concatenate_neg, [(2, 3), (2, 2)]),
    (af.concatenate_neg, [(2, 3, 4), (2, 3, 1)]),
    (af.concatenate_none, [(2, 3), (4,)]),
    (af.concatenate_none, [(3,), (2, 2, 2)]),
    (af.stack_0, [(), ()]),
    (af.stack_0, [(3,), (3,)]),
    (af.stack_0, [(2, 3), (2, 3)]),
    (af.stack_1, [(3,), (3,)]),
    (af.stack_1, [(2, 3), (2, 3)]),
    (af.stack_neg, [(3,), (3,)]),
    (af.stack_neg, [(2, 3), (2, 3)]),
    (af.array_of, [(), ()]),
    (af.array_of, [(3,), (3,)]),
    (af.array_of, [(2, 3), (2, 3)]),
    (af.getitem_int, [(3,)]),
    (af.getitem_int, [(2, 3, 4)]),
    (af.getitem_slice, [(2, 3)]),
    (af.getitem_none, [(4,)]),
    (af.getitem_none, [(4, 3)]),
    (af.getitem_last, [(2, 3, 4)]),
    (af.getitem_fancy, [(3,)]),
    (af.getitem_fancy, [(2, 4)]),
    (af.full_, [()]),
    (af.full_shape, [()]),
    (af.full_like_, [(3,)]),
    (af.full_like_, [(2, 3)]),
    (af.arange_start, [()]),
    (af.arange_stop, [()]),
    (af.arange_one, [()]),
    (af.full_row, [(3,)]),
    (af.float_of, [()]),
    (af.int_of, [()]),
]
NUMBA_SHAPES = {
    (af.concatenate_neg, "3d-3d"),
    (af.stack_neg, "2d-2d"),
    (af.full_, "0d"),
    (af.arange_start, "0d"),
    (af.swapaxes_, "3d"),
    (af.concatenate_none, "2d-1d"),
    (af.stack_0, "0d-0d"),
    (af.array_of, "0d-0d"),
}
for fn, shapes in SHAPE_CASES:
    label = "-".join(f"{len(s)}d" for s in shapes)
    CASES.append(case(f"{fn.__name__}-{label}", fn, [U(s) for s in shapes], numba=(fn, label) in NUMBA_SHAPES))
CASES.append(case("arange_step", af.arange_step, [U(()), U((), 0.9, 1.1)]))

# shape and construction functions (rules/shape_rules.py, issue 17): (function, shapes)
SHAPE_FUNCTIONS = [
    (af.hstack_, [(), (2,)]),
    (af.hstack_, [(2, 3), (2, 1)]),
    (af.vstack_, [(3,), (3,)]),
    (af.vstack_, [(2, 3, 2), (1, 3, 2)]),
    (af.column_stack_, [(3,), (3, 2)]),
    (af.dstack_, [(2, 3), (2, 3)]),
    (af.atleast_1d_, [()]),
    (af.atleast_2d_, [(3,)]),
    (af.atleast_3d_, [(2, 3)]),
    (af.atleast_3d_, [()]),
    (af.append_, [(2, 3), ()]),
    (af.moveaxis_, [(2, 3, 4)]),
    (af.rollaxis_, [(2, 3, 4)]),
    (af.flip_, [()]),
    (af.flip_, [(3,)]),
    (af.flip_1, [(2, 3, 4)]),
    (af.fliplr_, [(2, 3)]),
    (af.flipud_, [(3,)]),
    (af.rot90_, [(2, 3)]),
    (af.roll_, [(2, 3)]),
    (af.roll_0, [(2, 3, 4)]),
    (af.repeat_, [()]),
    (af.repeat_1, [(2, 3)]),
    (af.tile_, [(3,)]),
    (af.pad_, [(3,), ()]),
    (af.pad_, [(2, 3), ()]),
    (af.diag_, [(3,)]),
    (af.diag_, [(3, 4)]),
    (af.diagonal_, [(2, 3, 3)]),
    (af.tril_, [(3, 3)]),
    (af.triu_, [(2, 3, 4)]),
    (af.kron_, [(2,), (2, 3)]),
    (af.tensordot_, [(2, 3), (3, 2, 2)]),
    (af.einsum_, [(2, 3), (3, 2)]),
    (af.einsum_diag, [(3, 3)]),
    (af.cross_, [(3,), (2, 3)]),
    (af.cross_, [(2,), (2,)]),
    (af.cross_, [(2, 3), (2,)]),
    (af.sort_, [(4,)]),
    (af.sort_, [(2, 3)]),
    (af.partition_, [(4,)]),
    (af.partition_, [(2, 3)]),
    (af.select_, [(2, 3), (3,)]),
    (af.linspace_, [(), ()]),
    (af.split_, [(4,)]),
    (af.split_, [(2, 3, 2)]),
    (af.array_split_, [(3,)]),
    (af.hsplit_, [(2, 3)]),
    (af.vsplit_, [(2, 3)]),
    (af.dsplit_, [(2, 1, 4)]),
    (af.take_, [(3,)]),
    (af.take_, [(2, 2, 3)]),
] + ([(af.row_stack_, [(3,), (2, 3)])] if hasattr(np, "row_stack") else [])
NUMBA_SHAPE_FUNCTIONS = {(af.flip_, "1d"), (af.roll_, "2d")}
for fn, shapes in SHAPE_FUNCTIONS:
    label = "-".join(f"{len(s)}d" for s in shapes)
    dom = DISTINCT if fn in (af.sort_, af.partition_) else U
    CASES.append(
        case(f"{fn.__name__}-{label}", fn, [dom(s) for s in shapes], numba=(fn, label) in NUMBA_SHAPE_FUNCTIONS)
    )


# issue 17: more elementwise functions (rules and composites), statistics, running reductions
UNARY_17 = [
    (np.log2, lambda s: U(s, 0.5, 2.0)),
    (np.log10, lambda s: U(s, 0.5, 2.0)),
    (np.exp2, U),
    (np.arcsinh, lambda s: U(s, -2.0, 2.0)),
    (np.arccosh, lambda s: U(s, 1.2, 3.0)),
    (np.arctanh, lambda s: U(s, -0.8, 0.8)),
    (np.cbrt, NZ),
    (np.fabs, NZ),
    (np.deg2rad, U),
    (np.radians, U),
    (np.rad2deg, U),
    (np.degrees, U),
    (np.sinc, lambda s: U(s, -2.0, 2.0)),
]
MATH_UNARY_17 = [
    (math.log2, lambda s: U(s, 0.5, 2.0)),
    (math.log10, lambda s: U(s, 0.5, 2.0)),
    (math.asinh, U),
    (math.acosh, lambda s: U(s, 1.2, 3.0)),
    (math.atanh, lambda s: U(s, -0.8, 0.8)),
]
BINARY_17 = [(np.hypot, NZ, NZ), (np.fmax, U, U), (np.fmin, U, U), (np.logaddexp, U, U), (np.logaddexp2, U, U)]
for op, dom in UNARY_17:
    for r, shape in SHAPES.items():
        CASES.append(case(f"{op.__name__}-{r}d", af.unary(op), [dom(shape)]))
for op, dom in MATH_UNARY_17:
    CASES.append(case(f"math.{op.__name__}-0d", af.unary(op), [dom(())]))
CASES.append(case("math_radians-0d", af.math_radians, [U(())]))
CASES.append(case("math_hypot-0d", af.math_hypot, [NZ(()), NZ(())]))
for op, da, db in BINARY_17:
    for sa, sb in PAIRS:
        CASES.append(case(f"{op.__name__}-{sa}-{sb}", af.binary(op), [da(sa), db(sb)]))
REDUCTIONS_17 = [  # (function, ranks, domain)
    (af.cumprod_all, (0, 1, 2, 3), lambda s: NZ(s, 0.5, 1.5)),
    (af.cumprod_0, (1, 2, 3), lambda s: NZ(s, 0.5, 1.5)),
    (af.cumprod_last, (2, 3), lambda s: NZ(s, 0.5, 1.5)),
    (af.prod_last, (2, 3), lambda s: NZ(s, 0.5, 1.5)),
    (af.cumsum_last, (2, 3), U),
    (af.diff_last, (1, 2, 3), U),
    (af.diff_0_n2, (2, 3), U),
    (af.ptp_all, (1, 2, 3), U),
    (af.ptp_0, (2, 3), U),
    (af.average_all, (0, 1, 2, 3), U),
    (af.trace_offset, (2, 3), U),
    (af.clip_upper, (0, 1, 2, 3), U),
    (af.asarray_, (0, 1, 2, 3), U),
    (af.asanyarray_float, (0, 1, 2, 3), U),
    (af.trapezoid_last, (1, 2, 3), U),
    (af.polyval_points, (0, 1, 2, 3), U),
    (af.nansum_, (1, 2, 3), U),
    (af.nanmean_0, (1, 2, 3), U),
]
for fn, ranks, dom in REDUCTIONS_17:
    for r in ranks:
        CASES.append(case(f"{fn.__name__}-{r}d", fn, [dom(SHAPES[r])]))
CASES += [
    case("average_weights-2d-1d", af.average_weights, [U((2, 3)), U((3,), 0.5, 1.5)]),
    case("average_weights-3d-3d", af.average_weights, [U((2, 3, 4)), U((2, 3, 4), 0.5, 1.5)]),
    case("clip_keywords-2d-1d", af.clip_keywords, [U((2, 3)), U((3,), -0.5, 0.5)]),
    case("vdot-2d-2d", af.vdot_, [U((2, 3)), U((2, 3))]),
    case("vdot-1d-1d", af.vdot_, [U((4,)), U((4,))]),
    case("multi_dot-2d-2d", af.multi_dot_, [U((2, 3)), U((3, 3))]),
    case("matrix_power-2d", af.matrix_power_3, [U((3, 3))]),
    case("matrix_power-3d", af.matrix_power_3, [U((2, 3, 3))]),
    case("logspace-0d", af.logspace_, [U(())]),
    case("meshgrid-1d-1d", af.meshgrid_, [U((3,)), U((4,))]),
    case("interp-0d", af.interp_, [U(()), U((5,))]),
    case("interp-2d", af.interp_, [U((2, 3)), U((5,))]),
]


def _params():
    out = []
    for c in CASES:
        out.append(pytest.param(c, "python", id=f"python-{c.name}"))
        if c.numba:
            out.append(pytest.param(c, "numba", id=f"numba-{c.name}"))
    return out


# --- oracles (NumPy only) -----------------------------------------------------------------


def _perturb(args, argnums, dirs, h):
    moved = list(args)
    for k, d in zip(argnums, dirs):
        moved[k] = args[k] + h * d
    return moved


def _second_difference(s, args, argnums, u, v, h=1e-4):
    """u . H v of the scalar ``s`` by a four-point central difference."""
    pp = s(*_perturb(_perturb(args, argnums, u, h), argnums, v, h))
    pm = s(*_perturb(_perturb(args, argnums, u, h), argnums, v, -h))
    mp = s(*_perturb(_perturb(args, argnums, u, -h), argnums, v, h))
    mm = s(*_perturb(_perturb(args, argnums, u, -h), argnums, v, -h))
    return (pp - pm - mp + mm) / (4 * h * h)


def _direction(x, rng):
    return float(rng.uniform(-1, 1)) if np.ndim(x) == 0 else rng.uniform(-1, 1, size=np.shape(x))


def _contract(block, u, v):
    """u . block v for a Hessian block of shape u.shape + v.shape."""
    return float(
        np.tensordot(np.asarray(u), np.tensordot(np.asarray(block), np.asarray(v), axes=np.ndim(v)), axes=np.ndim(u))
    )


def _check_hessian(H, s, args, argnums, rng):
    for _ in range(2):
        u = [_direction(args[k], rng) for k in argnums]
        v = [_direction(args[k], rng) for k in argnums]
        expected = _second_difference(s, args, argnums, u, v)
        got = sum(_contract(H[i][j], u[i], v[j]) for i in range(len(argnums)) for j in range(len(argnums)))
        assert np.isclose(got, expected, rtol=1e-4, atol=1e-5), f"u.Hv {got} != {expected} (finite differences)"


def _apply(block, v):
    """block v for a Hessian block of shape out.shape + v.shape."""
    return np.tensordot(np.asarray(block), np.asarray(v), axes=np.ndim(v))


def _located(exc):
    assert isinstance(exc, S2SADError), f"{type(exc).__name__} escaped: {exc}"
    assert "audit_functions.py:" in str(exc), f"S2SADError without the user's file:line: {exc}"


# --- the audit ----------------------------------------------------------------------------


@pytest.mark.parametrize("c,backend", _params())
def test_rule_audit(c, backend):
    rng = np.random.default_rng(zlib.crc32(c.name.encode()))  # (str hash() differs per process)
    a = c.args(rng)
    argnums = c.argnums if len(c.argnums) > 1 else c.argnums[0]
    transforms = [
        ("jacfwd", lambda: s2sad.jacfwd(c.fn, argnums=argnums, backend=backend)(*a)),
        ("jacrev", lambda: s2sad.jacrev(c.fn, argnums=argnums, backend=backend)(*a)),
        ("hessian", lambda: s2sad.hessian(c.total, argnums=c.argnums, backend=backend)(*a)),
    ]
    if backend == "numba" and any(np.ndim(x) >= 2 for x in a):
        # numba compiles cost seconds each (a 3-d Hessian 20-40 s cold): second order of the
        # larger ranks is checked on python; on numba where the operands are 0-d or 1-d
        transforms = transforms[:2]
    scalars = all(np.ndim(x) == 0 for x in a)  # (numba: scalar code, checked where it is all scalars)
    if (backend == "python" or scalars) and len(c.argnums) == len(a):  # one seed: scalars' derivatives are scalars
        tangents = tuple(_direction(x, rng) for x in a)
        transforms += [
            ("grad", lambda: s2sad.grad(c.total, argnums=c.argnums, backend=backend)(*a)),
            ("jvp", lambda: s2sad.jvp(c.fn, a, tangents, backend=backend)[1]),
            ("vjp", lambda: s2sad.vjp(c.fn, *a, backend=backend)[1]),
            ("hvp", lambda: s2sad.hvp(c.total, a, tangents, backend=backend)),
        ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # np.where evaluates both branches
        for mode, run in transforms:
            if mode in c.refused:
                with pytest.raises(Exception) as info:
                    out = run()
                    if mode == "vjp":  # (the pullback is built at its first call)
                        out(c.fn(*a))
                _located(info.value)
                continue
            out = run()
            if mode == "hessian":
                H = out
                _check_hessian(out, c.total, a, c.argnums, rng)
            elif mode == "grad":
                check_jacobian(c.total, a, c.argnums, out, rng=rng)
            elif mode == "jvp":
                check_jvp(c.fn, a, c.argnums, out, tangents)
            elif mode == "vjp":
                dot_product_test(c.fn, a, c.argnums, out, rng=rng)
            elif mode == "hvp":  # against the Hessian checked above
                for i in range(len(a)):
                    expected = sum(_apply(H[i][j], tangents[j]) for j in range(len(a)))
                    np.testing.assert_allclose(out[i], expected, rtol=1e-7, atol=1e-9)
            else:
                check_jacobian(c.fn, a, argnums, out, rng=rng)


@pytest.mark.slow
@pytest.mark.numba
def test_selections_do_not_leak_nan():
    """Where an op's unselected branch has an infinite or nan derivative, the derivative is the
    selected branch's: 0 here (a select, not a multiplication by a 0/1 mask)."""
    x = np.array([0.0, 0.04, 1.0, -1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for backend in ("python", "numba"):
            for mode in ("jacfwd", "jacrev"):
                J = getattr(s2sad, mode)(af.maximum_sqrt, backend=backend)(x[:3])
                np.testing.assert_array_equal(J, np.diag([0.0, 0.0, 0.5]))
                J = getattr(s2sad, mode)(af.where_sqrt, backend=backend)(x)
                np.testing.assert_array_equal(J, np.diag([0.0, 0.5 / np.sqrt(0.04), 0.5, 0.0]))
                J = getattr(s2sad, mode)(af.max_of_sqrt, backend=backend)(x[:3])
                np.testing.assert_array_equal(J, [0.0, 0.0, 0.5])
            H = s2sad.hessian(af.total1(af.where_sqrt), backend=backend)(x[1:])
            assert np.all(np.isfinite(H))


@pytest.mark.numba
def test_numpy_floating_point_semantics():
    """Compiled code follows NumPy (inf, nan), never Python's ZeroDivisionError (issue 16, 10)."""
    x = np.array([1.0, -1.0, 0.5])
    with np.errstate(all="ignore"):
        for fn in (af.unary(np.arccos), af.unary(np.arcsin)):
            expected = s2sad.jacrev(fn, backend="python")(x)
            assert np.isinf(expected[0, 0]) and np.isinf(expected[1, 1])
            for mode in ("jacfwd", "jacrev"):
                np.testing.assert_array_equal(
                    getattr(s2sad, mode)(fn, backend="numba")(x).diagonal(), expected.diagonal()
                )
        for backend in ("python", "numba"):
            ga, gb = s2sad.grad(af.binary(np.true_divide), argnums=(0, 1), backend=backend)(
                np.float64(1.0), np.float64(0.0)
            )
            assert ga == np.inf and gb == -np.inf
            assert s2sad.grad(af.unary(math.acos), backend=backend)(1.0) == -np.inf


# --- zero derivatives: piecewise-constant functions only ----------------------------------

PIECEWISE_CONSTANT = {
    # shapes, sizes, counts, integer conversions
    np.shape: "shape",
    np.ndim: "rank",
    np.size: "size",
    builtins.len: "length",
    builtins.range: "integers",
    builtins.int: "truncation to an integer",
    builtins.bool: "truth value",
    # rounding, signs, comparisons, logic, predicates, argmax
    np.argmax: "an index",
    np.argmin: "an index",
    np.floor: "rounding",
    np.ceil: "rounding",
    np.round: "rounding",
    np.around: "rounding",
    np.rint: "rounding",
    np.trunc: "rounding",
    np.sign: "sign",
    np.less: "comparison",
    np.less_equal: "comparison",
    np.greater: "comparison",
    np.greater_equal: "comparison",
    np.equal: "comparison",
    np.not_equal: "comparison",
    np.logical_and: "logic",
    np.logical_or: "logic",
    np.logical_not: "logic",
    np.isnan: "predicate",
    np.isfinite: "predicate",
    np.isinf: "predicate",
    np.floor_divide: "rounding",
    math.floor: "rounding",
    math.ceil: "rounding",
    # constructors from shapes alone
    np.zeros: "constant",
    np.ones: "constant",
    np.empty: "constant (values never read)",
    np.zeros_like: "constant",
    np.ones_like: "constant",
    np.empty_like: "constant (values never read)",
    np.eye: "constant",
    np.identity: "constant",
    # runtime helpers
    rt.basis: "seeds",
    rt.seed: "seeds",
    rt.zeros_batch: "zeros",
    rt.one: "the constant 1",
    rt.new_tape: "a tape whose fill is overwritten before it is read",
    rt.check_diag: "a guard",
    rt.check_no_unit_dims: "a guard",
    rt.require_size: "a guard",
    rt.require_at_least: "a guard",
    rt.require_unit_axes: "a guard",
    rt.slogdet_sign: "the sign of a determinant (issue 17: np.linalg.slogdet's first result)",
}


def test_zero_derivatives_only_for_piecewise_constant_functions():
    declared = set(rules.NONDIFFERENTIABLE)
    not_allowed = declared - set(PIECEWISE_CONSTANT)
    assert not not_allowed, f"declared non-differentiable but not piecewise constant: {sorted(map(repr, not_allowed))}"
    stale = set(PIECEWISE_CONSTANT) - declared
    assert not stale, f"allow-list entries no longer declared: {sorted(map(repr, stale))}"
    # and none of them has a rule that would contradict it
    assert not declared & rules.differentiable_ops()


def test_every_user_rule_is_audited():
    """Every op of the tables a user can call appears in some audit case's source."""
    import inspect

    covered = set()
    for c in CASES:
        fn = c.fn
        closure = [cell.cell_contents for cell in (fn.__closure__ or ())]
        covered.update(closure)
        covered.update(v for v in vars(af).values() if callable(v) and v.__name__ in inspect.getsource(fn))
    text = inspect.getsource(af)
    internal = {ir.COPY, ir.GETITEM, rt.astype} | {
        op for op in rules.differentiable_ops() if getattr(op, "s2sad_primitive", False)
    }
    # np.linalg and scipy.special (issue 17): rows at every rank NumPy takes, with second order,
    # in tests/test_rules_linalg.py (their domains need built arguments: SPD, distinct values)
    from test_rules_linalg import SPECS as LINALG_SPECS

    internal |= {op for spec in LINALG_SPECS for op in spec.ops}
    # ops the passes write (np.cross of 2-vectors becomes cross_sized, s2sad/analysis/sizes.py: the
    # cases above of np.cross on 2-vectors reach it)
    internal |= rules.INTERNAL
    missing = []
    for op in rules.differentiable_ops() - internal:
        name = getattr(op, "__name__", "")
        if op in covered or (name and f"{name}(" in text):
            continue
        missing.append(repr(op))
    assert not missing, f"rules with no audit case: {sorted(missing)}"
