"""Per-rule spec table (in the style of JAX's GradTestSpec): one row per derivative rule.

Each row names a user-style function (tests/rule_functions.py), how to build valid arguments
(respecting the op's domain), the differentiated arguments, and the rule-table ops it covers.
Every row checks jacfwd and jacrev against central differences in random directions
(checks.py, NumPy only), checks they agree with each other, and for scalar outputs checks
grad too. A small subset also runs on the numba backend. Runtime helpers (s2sad.runtime.*)
appear only in derivative code; they are covered by the second-order tests at the end,
whose oracle is a hand-written closed-form gradient, differenced numerically.
"""

import builtins
import math
import operator
from typing import NamedTuple

import numpy as np
import pytest

import rule_functions as rf
import s2sad
import s2sad.rules as rules
from checks import check_jacobian, numerical_jvp
from s2sad import ir
from s2sad import runtime as rt


class Spec(NamedTuple):
    fn: object
    make_args: object  # rng -> tuple of arguments
    argnums: object
    ops: tuple  # the rule-table keys this row exercises
    numba: bool = False  # also run on the numba backend
    xfail: str = ""  # reason, when the row is a known failure (strict)


# --- argument builders --------------------------------------------------------------------


def U(shape, low=-1.0, high=1.0):
    """Uniform floats in [low, high]; shape () gives a Python float."""

    def build(rng):
        if shape == ():
            return float(rng.uniform(low, high))
        return rng.uniform(low, high, size=shape)

    return build


def NZ(shape, low=0.2, high=1.0):
    """Away from zero: magnitudes in [low, high] with random signs (abs, sign-dependent ops)."""

    def build(rng):
        mag = U(shape, low, high)(rng)
        return (
            mag * (1.0 if rng.uniform() < 0.5 else -1.0) if shape == () else mag * rng.choice([-1.0, 1.0], size=shape)
        )

    return build


def DISTINCT(shape):
    """Well-separated values (max/min/maximum: no ties, no near-ties for finite differences)."""

    def build(rng):
        n = int(np.prod(shape))
        return rng.permutation(np.linspace(-1.0, 1.0, n) + 0.01 * rng.uniform(size=n)).reshape(shape)

    return build


def C(value):
    """A constant (non-differentiated) argument."""
    return lambda rng: value


def args(*builders):
    return lambda rng: tuple(b(rng) for b in builders)


IDX_REPEAT = np.array([0, 2, 2, 4, 0])
MASK = np.array([True, False, True, True, False, False])

# --- the table ----------------------------------------------------------------------------

S = Spec
SPECS = [
    # elementwise unary, numpy: scalar, 1-D, 2-D
    S(rf.sin_, args(U((3, 4))), 0, (np.sin,), numba=True),
    S(rf.sin_, args(U(())), 0, (np.sin,)),
    S(rf.cos_, args(U((5,))), 0, (np.cos,)),
    S(rf.tan_, args(U((2, 3))), 0, (np.tan,)),
    S(rf.exp_, args(U((4,))), 0, (np.exp,)),
    S(rf.exp_, args(U(())), 0, (np.exp,)),
    S(rf.log_, args(U((2, 3), 0.5, 2.0)), 0, (np.log,)),
    S(rf.log1p_, args(U((4,), -0.5, 1.0)), 0, (np.log1p,)),
    S(rf.expm1_, args(U((4,))), 0, (np.expm1,)),
    S(rf.sqrt_, args(U((3, 2), 0.3, 2.0)), 0, (np.sqrt,)),
    S(rf.sqrt_, args(U((), 0.3, 2.0)), 0, (np.sqrt,)),
    S(rf.tanh_, args(U((5,))), 0, (np.tanh,)),
    S(rf.sinh_, args(U((5,))), 0, (np.sinh,)),
    S(rf.cosh_, args(U((2, 2))), 0, (np.cosh,)),
    S(rf.arctan_, args(U((5,), -2.0, 2.0)), 0, (np.arctan,)),
    S(rf.arcsin_, args(U((5,), -0.8, 0.8)), 0, (np.arcsin,)),
    S(rf.arccos_, args(U((2, 3), -0.8, 0.8)), 0, (np.arccos,)),
    S(rf.abs_, args(NZ((6,))), 0, (np.abs,)),
    S(rf.absolute_, args(NZ((2, 3))), 0, (np.absolute,)),
    S(rf.negative_, args(U((4,))), 0, (np.negative,)),
    S(rf.unary_minus, args(U((2, 3))), 0, (np.negative,)),
    S(rf.unary_minus, args(U(())), 0, (np.negative,)),
    S(rf.positive_, args(U((4,))), 0, (np.positive,)),
    S(rf.square_, args(U((4,))), 0, (np.square,)),
    S(rf.reciprocal_, args(NZ((4,), 0.5, 2.0)), 0, (np.reciprocal,)),
    # elementwise unary, math / builtins (scalars)
    S(rf.math_sin, args(U(())), 0, (math.sin,)),
    S(rf.math_cos, args(U(())), 0, (math.cos,)),
    S(rf.math_tan, args(U(())), 0, (math.tan,)),
    S(rf.math_exp, args(U(())), 0, (math.exp,)),
    S(rf.math_log, args(U((), 0.5, 2.0)), 0, (math.log,)),
    S(rf.math_log1p, args(U((), -0.5, 1.0)), 0, (math.log1p,)),
    S(rf.math_expm1, args(U(())), 0, (math.expm1,)),
    S(rf.math_sqrt, args(U((), 0.3, 2.0)), 0, (math.sqrt,)),
    S(rf.math_tanh, args(U(())), 0, (math.tanh,)),
    S(rf.math_sinh, args(U(())), 0, (math.sinh,)),
    S(rf.math_cosh, args(U(())), 0, (math.cosh,)),
    S(rf.math_atan, args(U(())), 0, (math.atan,)),
    S(rf.math_asin, args(U((), -0.8, 0.8)), 0, (math.asin,)),
    S(rf.math_acos, args(U((), -0.8, 0.8)), 0, (math.acos,)),
    S(rf.math_fabs, args(NZ(())), 0, (math.fabs,)),
    S(rf.builtin_abs, args(NZ(())), 0, (builtins.abs,)),
    S(rf.builtin_abs, args(NZ((4,))), 0, (builtins.abs,)),
    S(rf.builtin_float, args(U(())), 0, (builtins.float,)),
    S(rf.math_pow, args(U((), 0.5, 2.0), U(())), (0, 1), (math.pow,)),
    S(rf.math_atan2, args(NZ(()), NZ(())), (0, 1), (math.atan2,)),
    S(rf.builtin_max, args(C(0.3), C(-0.4)), (0, 1), (builtins.max,)),
    S(rf.builtin_max, args(C(-0.3), C(0.4)), (0, 1), (builtins.max,)),
    S(rf.builtin_min, args(C(0.3), C(-0.4)), (0, 1), (builtins.min,)),
    S(rf.builtin_min, args(C(-0.3), C(0.4)), (0, 1), (builtins.min,)),
    # elementwise binary, with broadcasting pairs
    S(rf.add_op, args(U((3, 4)), U((4,))), (0, 1), (np.add,), numba=True),
    S(rf.add_op, args(U(()), U((3,))), (0, 1), (np.add,)),
    S(rf.np_add, args(U((3, 1)), U((1, 4))), (0, 1), (np.add,)),
    S(rf.sub_op, args(U((3,)), U((2, 3))), (0, 1), (np.subtract,)),
    S(rf.np_subtract, args(U(()), U(())), (0, 1), (np.subtract,)),
    S(rf.mul_op, args(U((3, 4)), U((3, 1))), (0, 1), (np.multiply,), numba=True),
    S(rf.mul_op, args(U(()), U((2, 3))), (0, 1), (np.multiply,)),
    S(rf.np_multiply, args(U((4,)), U((4,))), (0, 1), (np.multiply,)),
    S(rf.div_op, args(U((2, 3)), NZ((3,), 0.5, 2.0)), (0, 1), (np.true_divide,)),
    S(rf.div_op, args(U(()), NZ((), 0.5, 2.0)), (0, 1), (np.true_divide,)),
    S(rf.np_divide, args(U((3,)), NZ((2, 3), 0.5, 2.0)), (0, 1), (np.divide,)),
    S(rf.pow_op, args(U((2, 3), 0.5, 2.0), U((3,))), (0, 1), (np.power,)),
    S(rf.pow_op, args(U((), 0.5, 2.0), U(())), (0, 1), (np.power,)),
    S(rf.pow_const, args(U((4,))), 0, (np.power,)),
    S(rf.np_power, args(U((3,), 0.5, 2.0), U(())), (0, 1), (np.power,)),
    S(rf.maximum_, args(DISTINCT((6,)), DISTINCT((6,))), (0, 1), (np.maximum,)),
    S(rf.maximum_, args(DISTINCT((2, 3)), U(())), (0, 1), (np.maximum,)),
    S(rf.minimum_, args(DISTINCT((2, 3)), DISTINCT((3,))), (0, 1), (np.minimum,)),
    S(rf.arctan2_, args(NZ((2, 3)), NZ((3,))), (0, 1), (np.arctan2,)),
    S(rf.where_, args(DISTINCT((6,)), DISTINCT((6,))), (0, 1), (np.where,), numba=True),
    S(rf.where_, args(DISTINCT((2, 3)), U(())), (0, 1), (np.where,)),
    S(rf.where_cond, args(U((6,)), C(MASK)), 0, (np.where,)),
    S(rf.clip_, args(DISTINCT((8,))), 0, (np.clip,)),
    S(rf.clip_method, args(DISTINCT((2, 4))), 0, (np.clip,)),
    S(rf.clip_arrays, args(DISTINCT((6,)), C(-0.4), C(0.45)), 0, (np.clip,)),
    # remainder (issue 16): 1 and -floor(a / b) (fmod: -trunc(a / b)), away from the jumps
    S(rf.mod_op, args(U((2, 3), 0.1, 0.9), U((3,), 1.3, 1.7)), (0, 1), (np.remainder,), numba=True),
    S(rf.mod_op, args(U((), 2.1, 2.4), U((), 0.9, 1.0)), (0, 1), (np.remainder,)),
    S(rf.np_mod, args(U((4,), -2.4, -2.1), U((), 0.9, 1.0)), (0, 1), (np.remainder,)),
    S(rf.np_fmod, args(U((4,), -2.4, -2.1), U((4,), 0.9, 1.0)), (0, 1), (np.fmod,)),
    S(rf.math_fmod, args(U((), 2.1, 2.4), U((), 0.9, 1.0)), (0, 1), (math.fmod,)),
    # constructors whose values come from a differentiated operand (issue 16, item 12)
    S(rf.full_, args(U((4,))), 0, (np.full,), numba=True),
    S(rf.full_2d, args(U(())), 0, (np.full,)),
    S(rf.full_like_, args(U((3,))), 0, (np.full_like,), numba=True),
    S(rf.arange_start, args(U((2,))), 0, (np.arange,), numba=True),
    S(rf.arange_step, args(U(()), U((), 0.9, 1.1)), (0, 1), (np.arange,)),
    S(rf.operator_add, args(U((3,)), U((3,))), (0, 1), (operator.add,)),
    S(rf.where_sqrt, args(NZ((6,))), 0, (np.where, np.sqrt), numba=True),
    # reductions
    S(rf.sum_all, args(U((3, 4))), 0, (np.sum,)),
    S(rf.sum_all, args(U((5,))), 0, (np.sum,)),
    S(rf.sum_axis0, args(U((3, 4))), 0, (np.sum,), numba=True),
    S(rf.sum_axis1, args(U((3, 4))), 0, (np.sum,)),
    S(rf.sum_axis_neg, args(U((2, 3, 4))), 0, (np.sum,)),
    S(rf.sum_axis_tuple, args(U((2, 3, 4))), 0, (np.sum,)),
    S(rf.sum_method_axis0, args(U((3, 4))), 0, (np.sum,)),
    S(rf.sum_method, args(U((3, 4))), 0, (np.sum,)),
    S(rf.mean_all, args(U((3, 4))), 0, (np.mean,)),
    S(rf.mean_axis1, args(U((3, 4))), 0, (np.mean,)),
    S(rf.mean_method, args(U((3, 4))), 0, (np.mean,)),
    S(rf.max_all, args(DISTINCT((3, 4))), 0, (np.max,), numba=True),
    S(rf.max_axis0, args(DISTINCT((3, 4))), 0, (np.max,)),
    S(rf.max_method, args(DISTINCT((3, 4))), 0, (np.max,)),
    S(rf.min_all, args(DISTINCT((5,))), 0, (np.min,)),
    S(rf.min_axis1, args(DISTINCT((3, 4))), 0, (np.min,)),
    S(rf.amax_, args(DISTINCT((3, 4))), 0, (np.amax,)),
    S(rf.amin_, args(DISTINCT((3, 4))), 0, (np.amin,)),
    S(rf.prod_all, args(NZ((5,), 0.5, 1.5)), 0, (np.prod,)),
    S(rf.prod_all, args(NZ((2, 3), 0.5, 1.5)), 0, (np.prod,)),
    S(rf.prod_method, args(NZ((4,), 0.5, 1.5)), 0, (np.prod,)),
    S(rf.cumsum_1d, args(U((5,))), 0, (np.cumsum,)),
    S(rf.cumsum_1d, args(U((2, 3))), 0, (np.cumsum,)),
    S(rf.cumsum_method, args(U((5,))), 0, (np.cumsum,)),
    S(rf.norm_, args(U((5,))), 0, (np.linalg.norm,)),
    S(rf.norm_, args(U((2, 3))), 0, (np.linalg.norm,)),
    # linear algebra
    S(rf.matmul_op, args(U((3, 4)), U((4,))), (0, 1), (np.matmul,), numba=True),
    S(rf.matmul_op, args(U((3, 4)), U((4, 2))), (0, 1), (np.matmul,)),
    S(rf.matmul_op, args(U((4,)), U((4, 2))), (0, 1), (np.matmul,)),
    S(rf.matmul_op, args(U((4,)), U((4,))), (0, 1), (np.matmul,)),
    S(rf.np_matmul, args(U((2, 3)), U((3, 3))), (0, 1), (np.matmul,)),
    S(rf.np_dot, args(U((3, 4)), U((4,))), (0, 1), (np.dot,)),
    S(rf.np_dot, args(U((4,)), U((4,))), (0, 1), (np.dot,)),
    S(rf.dot_method, args(U((2, 3)), U((3, 2))), (0, 1), (np.dot,)),
    S(rf.outer_, args(U((3,)), U((4,))), (0, 1), (np.outer,)),
    S(rf.inner_, args(U((4,)), U((4,))), (0, 1), (np.inner,)),
    S(rf.trace_, args(U((3, 3))), 0, (np.trace,)),
    S(rf.trace_, args(U((3, 4))), 0, (np.trace,)),
    S(rf.tanh_layer, args(U((3, 4)), U((3,)), U((4,))), (0, 1, 2), (np.matmul, np.add, np.tanh)),
    # shape
    S(rf.transpose_, args(U((3, 4))), 0, (np.transpose,)),
    S(rf.transpose_, args(U((4,))), 0, (np.transpose,)),
    S(rf.transpose_axes, args(U((2, 3, 4))), 0, (np.transpose,)),
    S(rf.dot_T, args(U((3, 4))), 0, (np.transpose,)),
    S(rf.transpose_method, args(U((3, 2))), 0, (np.transpose,)),
    S(rf.reshape_, args(U((2, 6))), 0, (np.reshape,), numba=True),
    S(rf.reshape_method, args(U((3, 4))), 0, (np.reshape,)),
    S(rf.reshape_method_args, args(U((12,))), 0, (np.reshape,)),
    S(rf.reshape_flat, args(U((3, 4))), 0, (np.reshape,)),
    S(rf.ravel_, args(U((3, 4))), 0, (np.ravel,)),
    S(rf.flatten_method, args(U((2, 3))), 0, (np.ravel,)),
    S(rf.expand_dims_, args(U((3, 4))), 0, (np.expand_dims,)),
    S(rf.expand_dims_axes, args(U((3, 2))), 0, (np.expand_dims,)),
    S(rf.squeeze_axis, args(U((3, 1))), 0, (np.squeeze,)),
    S(rf.array_of_scalars, args(U((3,))), 0, (np.array,)),
    S(rf.array_of_arrays, args(U((3,)), U((3,))), (0, 1), (np.array,), numba=True),
    S(rf.broadcast_to_, args(U((4,))), 0, (np.broadcast_to,)),
    S(rf.broadcast_to_, args(U((3, 1))), 0, (np.broadcast_to,)),
    S(rf.copy_, args(U((3, 4))), 0, (np.copy,)),
    S(rf.copy_method, args(U((5,))), 0, (np.copy, np.multiply)),
    S(rf.ascontiguousarray_, args(U((3, 4))), 0, (np.ascontiguousarray, np.transpose)),
    S(rf.alias_copy, args(U((4,))), 0, (ir.COPY,)),
    S(rf.astype_, args(U((4,))), 0, (rt.astype,)),
    S(rf.swapaxes_, args(U((2, 3, 4))), 0, (np.swapaxes,)),
    S(rf.concatenate_, args(U((3,)), U((4,))), (0, 1), (np.concatenate,), numba=True),
    S(rf.concatenate_axis1, args(U((2, 3)), U((2, 1))), (0, 1), (np.concatenate,)),
    S(rf.concatenate_const, args(U((3,))), 0, (np.concatenate,)),
    S(rf.concatenate_, args(U((3,)), U((4,))), 1, (np.concatenate,)),
    S(rf.stack_, args(U((2, 3)), U((2, 3))), (0, 1), (np.stack,), numba=True),
    S(rf.stack_axis1, args(U((4,)), U((4,))), (0, 1), (np.stack,)),
    # indexing
    S(rf.getitem_int, args(U((5,))), 0, (ir.GETITEM,)),
    S(rf.getitem_int_2d, args(U((3, 4))), 0, (ir.GETITEM,)),
    S(rf.getitem_slice, args(U((6,))), 0, (ir.GETITEM,)),
    S(rf.getitem_step, args(U((6,))), 0, (ir.GETITEM,)),
    S(rf.getitem_slice_2d, args(U((3, 4))), 0, (ir.GETITEM,)),
    S(rf.getitem_none, args(U((4,))), 0, (ir.GETITEM,)),
    S(rf.getitem_row, args(U((3, 4))), 0, (ir.GETITEM,)),
    S(rf.getitem_fancy, args(U((5,)), C(IDX_REPEAT)), 0, (ir.GETITEM,), numba=True),
    S(rf.getitem_fancy, args(U((5, 2)), C(IDX_REPEAT)), 0, (ir.GETITEM,)),
    S(rf.getitem_fancy_2d, args(U((5, 3)), C(IDX_REPEAT)), 0, (ir.GETITEM,)),
    S(rf.gather_broadcast, args(U((5,)), U((3, 5)), C(IDX_REPEAT)), (0, 1), (ir.GETITEM, np.multiply)),
    S(rf.rosen, args(U((6,))), 0, (ir.GETITEM, np.power, np.subtract, np.sum)),
]


def _name(spec):
    arg_shapes = "_".join("x".join(map(str, np.shape(a))) or "s" for a in spec.make_args(np.random.default_rng(0)))
    return f"{spec.fn.__name__}[{arg_shapes}]argnums={spec.argnums}"


def _param(spec, backend):
    marks = [pytest.mark.xfail(strict=True, reason=spec.xfail)] if spec.xfail else []
    return pytest.param(spec, backend, id=f"{backend}-{_name(spec)}", marks=marks)


CASES = [_param(s, "python") for s in SPECS] + [_param(s, "numba") for s in SPECS if s.numba]


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


@pytest.mark.parametrize("spec,backend", CASES)
def test_rule(spec, backend):
    rng = np.random.default_rng(1)
    a = spec.make_args(rng)
    fwd = s2sad.jacfwd(spec.fn, argnums=spec.argnums, backend=backend)(*a)
    rev = s2sad.jacrev(spec.fn, argnums=spec.argnums, backend=backend)(*a)
    check_jacobian(spec.fn, a, spec.argnums, fwd)
    check_jacobian(spec.fn, a, spec.argnums, rev)
    for jf, jr in zip(_as_tuple(fwd), _as_tuple(rev)):
        np.testing.assert_allclose(jf, jr, rtol=1e-12, atol=1e-13)
    if np.ndim(spec.fn(*a)) == 0:
        g = s2sad.grad(spec.fn, argnums=spec.argnums, backend=backend)(*a)
        for gj, jr in zip(_as_tuple(g), _as_tuple(rev)):
            np.testing.assert_allclose(np.asarray(gj), np.asarray(jr), rtol=1e-12, atol=1e-13)


# --- coverage of the rule tables ------------------------------------------------------------

RUNTIME_HELPERS = {
    op for op in vars(rt).values() if callable(op) and getattr(op, "__module__", None) == rt.__name__
} | {getattr(rt, n) for n in dir(rt) if not n.startswith("_") and hasattr(getattr(rt, n), "impl")}
PSEUDO_OPS = {ir.COPY, ir.GETITEM, ir.TUPLE}


def test_every_rule_has_a_spec_row():
    user_callable = {rt.astype}  # x.astype(...) reaches this runtime helper from user code
    tables = set(rules.ELEMENTWISE) | set(rules.TANGENT_RULES) | set(rules.ADJOINT_RULES)
    covered = {op for spec in SPECS for op in spec.ops}
    import test_rules_stats  # issue 17's rows (statistics, reductions, elementwise)
    from test_rules_linalg import SPECS as LINALG_SPECS  # np.linalg, scipy.special (issue 17)

    covered |= {op for row in test_rules_stats.ROWS for op in row.ops} & tables
    covered |= {op for spec in LINALG_SPECS for op in spec.ops if op in tables}  # (not its composites)
    required = {op for op in tables if op in user_callable or (op not in RUNTIME_HELPERS and op not in PSEUDO_OPS)}
    missing = required - covered
    assert not missing, f"rules with no spec row: {sorted(map(repr, missing))}"
    # Every op named by a row must be a key of some table (no typos in the mapping).
    assert covered <= tables, f"rows name unknown ops: {sorted(map(repr, covered - tables))}"


def test_tangent_and_adjoint_tables_match():
    assert set(rules.TANGENT_RULES) == set(rules.ADJOINT_RULES)


# --- second order: runtime helpers, against closed-form gradients -----------------------------


def g_sum_sin_x(x):
    return np.cos(x) * x + np.sin(x)


def g_sum_tanh_layer(W, b, x):
    d = 1.0 - np.tanh(W @ x + b) ** 2
    return np.outer(d, x), d, W.T @ d


def g_sum_gather_sq(x, idx):
    out = np.zeros_like(x)
    np.add.at(out, idx, 2.0 * x[idx])
    return out


def g_loop_gather_cube(x):
    g = np.zeros_like(x)
    g[1:] += 2.0 * x[1:] * x[:-1]
    g[:-1] += x[1:] ** 2
    return g


def g_colsum_sq(x):
    return np.broadcast_to(2.0 * x.sum(axis=0), x.shape).copy()


def g_sum_cumsum_sq(x):
    c = np.cumsum(x)
    return 2.0 * np.cumsum(c[::-1])[::-1]


def g_sum_matmul_sq(A, B):
    P = A @ B
    return 2.0 * P @ B.T, 2.0 * A.T @ P


def g_sum_broadcast_sq(x, b):
    t = 3.0 * (x + b) ** 2
    return t, t.sum(axis=0)


def g_prod_sq(x):
    p = np.prod(x)
    return 2.0 * p * np.array([np.prod(np.delete(x, i)) for i in range(x.size)])


def g_sum_sqrt_where(x):
    return np.where(x > 0.5, 1.5 * np.sqrt(np.abs(x)), 2.0 * x)


class Spec2(NamedTuple):
    fn: object
    grad: object  # closed-form gradient, same argnums structure
    make_args: object
    argnums: object
    ops: tuple  # runtime helpers the derivative code of this row is expected to use
    xfail: str = ""
    modes: tuple = ("hessian", "jacrev_jacrev")  # (reverse over a loop's reverse is refused)


def pick(g, k):
    """Entry k of a closed-form gradient that returns one entry per argument."""
    return lambda *a: g(*a)[k]


SPECS2 = [
    Spec2(rf.sum_sin_x, g_sum_sin_x, args(U((5,))), 0, ()),
    Spec2(rf.sum_tanh_layer, pick(g_sum_tanh_layer, 2), args(U((3, 4)), U((3,)), U((4,))), 2, (rt.bmatmul,)),
    Spec2(rf.sum_tanh_layer, pick(g_sum_tanh_layer, 0), args(U((3, 4)), U((3,)), U((4,))), 0, (rt.bmatmul,)),
    Spec2(rf.sum_tanh_layer, g_sum_tanh_layer, args(U((3, 4)), U((3,)), U((4,))), (0, 1, 2), ()),
    Spec2(rf.sum_gather_sq, g_sum_gather_sq, args(U((5,)), C(IDX_REPEAT)), 0, (rt.scatter,)),
    Spec2(rf.loop_gather_cube, g_loop_gather_cube, args(U((6,))), 0, (rt.scatter_add,), modes=("hessian",)),
    Spec2(rf.colsum_sq, g_colsum_sq, args(U((3, 4))), 0, (rt.broadcast_like,)),
    Spec2(rf.sum_cumsum_sq, g_sum_cumsum_sq, args(U((5,))), 0, (rt.cumsum_rows,)),
    Spec2(rf.sum_matmul_sq, pick(g_sum_matmul_sq, 0), args(U((2, 3)), U((3, 2))), 0, (rt.bmatmul,)),
    Spec2(rf.sum_matmul_sq, pick(g_sum_matmul_sq, 1), args(U((2, 3)), U((3, 2))), 1, (rt.bmatmul,)),
    Spec2(rf.sum_matmul_sq, g_sum_matmul_sq, args(U((2, 3)), U((3, 2))), (0, 1), ()),
    Spec2(rf.sum_broadcast_sq, pick(g_sum_broadcast_sq, 0), args(U((3, 4)), U((4,))), 0, ()),
    Spec2(rf.sum_broadcast_sq, pick(g_sum_broadcast_sq, 1), args(U((3, 4)), U((4,))), 1, (rt.sum_to,)),
    Spec2(rf.sum_sqrt_where, g_sum_sqrt_where, args(U((6,), 0.1, 1.0)), 0, (rt.scale_nz,)),
    Spec2(rf.prod_sq, g_prod_sq, args(NZ((4,), 0.5, 1.5)), 0, (rt.linear_scan,)),
]


def _second_order_param(spec, mode):
    marks = [pytest.mark.xfail(strict=True, reason=spec.xfail)] if spec.xfail else []
    return pytest.param(spec, mode, id=f"{mode}-{spec.fn.__name__}-argnums={spec.argnums}", marks=marks)


@pytest.mark.parametrize(
    "spec,mode",
    [_second_order_param(s, m) for s in SPECS2 for m in s.modes],
)
def test_second_order(spec, mode):
    rng = np.random.default_rng(2)
    a = spec.make_args(rng)
    # the closed-form gradient agrees with s2sad's first-order gradient (sanity of the oracle)
    g = s2sad.grad(spec.fn, argnums=spec.argnums, backend="python")(*a)
    for gj, ej in zip(_as_tuple(g), _as_tuple(spec.grad(*a))):
        np.testing.assert_allclose(gj, ej, rtol=1e-12, atol=1e-12)
    if mode == "hessian":
        H = s2sad.hessian(spec.fn, argnums=spec.argnums, backend="python")(*a)
    else:
        inner = s2sad.jacrev(spec.fn, argnums=spec.argnums, backend="python")
        H = s2sad.jacrev(inner, argnums=spec.argnums, backend="python")(*a)
    # H is the Jacobian of the (closed-form) gradient: J[i][j] = d grad_i / d arg_j
    check_jacobian(spec.grad, a, spec.argnums, H)


@pytest.mark.parametrize(
    "spec", [pytest.param(s, id=f"{s.fn.__name__}-argnums={s.argnums}") for s in SPECS2 if s.ops and not s.xfail]
)
def test_second_order_of_plain_code(spec, monkeypatch):
    """The rows again without the structure pass: the code its guards fall back to (where
    the runtime helpers' own rules run: the pass turns a sum_to that sums nothing into an
    assignment)."""
    monkeypatch.setenv("S2SAD_NO_STRUCTURE", "1")
    a = spec.make_args(np.random.default_rng(2))
    H = s2sad.hessian(spec.fn, argnums=spec.argnums, backend="python")(*a)
    check_jacobian(spec.grad, a, spec.argnums, H)


def test_second_order_rows_cover_runtime_helpers(monkeypatch):
    """The runtime helpers with derivative rules appear in second-order rows' derivative code
    (as built without the structure pass: test_second_order_of_plain_code runs it)."""
    monkeypatch.setenv("S2SAD_NO_STRUCTURE", "1")
    helpers = {op for op in set(rules.TANGENT_RULES) | set(rules.ADJOINT_RULES) if op in RUNTIME_HELPERS}
    used = set()
    for spec in SPECS2:
        if spec.xfail:
            continue
        a = spec.make_args(np.random.default_rng(2))
        for transform in (s2sad.jacrev, s2sad.jacfwd):
            src = s2sad.source(transform(spec.fn, argnums=spec.argnums, backend="python"), *a)
            used |= {op for op in helpers if f"rt.{op.__name__}(" in src}
    for spec in SPECS2:
        assert set(spec.ops) <= helpers
    # astype: a user-level op (spec row astype_). add_batch_axis: only seeds jvp/vjp, so its
    # rules run only when differentiating w.r.t. a jvp tangent / vjp cotangent (not covered).
    # prod_others: no longer used by np.prod's rules (rt.linear_scan is); its rules refuse.
    # the helpers of np.linalg and scipy.special (issue 17): tests/test_rules_linalg.py checks them
    # (test_second_order_rows_cover_the_helpers)
    issue17 = {
        op for op in helpers if op.__module__.startswith(("s2sad.rules.linalg_rules", "s2sad.rules.special_rules"))
    }
    missing = helpers - used - issue17 - {rt.astype, rt.add_batch_axis, rt.prod_others}
    assert not missing, f"runtime helpers never exercised by a second-order row: {sorted(o.__name__ for o in missing)}"


HVP_ROWS = [s for s in SPECS2 if not s.xfail and s.argnums == 0]
HVP_CASES = [pytest.param(s, "python", id=f"python-{s.fn.__name__}") for s in HVP_ROWS] + [
    pytest.param(HVP_ROWS[0], "numba", id=f"numba-{HVP_ROWS[0].fn.__name__}"),
    pytest.param(next(s for s in HVP_ROWS if s.fn is rf.sum_matmul_sq), "numba", id="numba-sum_matmul_sq"),
    pytest.param(next(s for s in HVP_ROWS if s.fn is rf.loop_gather_cube), "numba", id="numba-loop_gather_cube"),
]


@pytest.mark.parametrize("spec,backend", HVP_CASES)
def test_hvp(spec, backend):
    """hvp (forward over reverse) against central differences of the closed-form gradient."""
    rng = np.random.default_rng(3)
    a = spec.make_args(rng)
    v = rng.standard_normal(np.shape(a[0]))
    tangents = (v,) + tuple(
        np.zeros_like(np.asarray(x, dtype=float)) if np.asarray(x).dtype.kind == "f" else x for x in a[1:]
    )
    hv = s2sad.hvp(spec.fn, a, tangents, backend=backend)
    expected = numerical_jvp(spec.grad, a, 0, v)
    np.testing.assert_allclose(hv[0], expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_squeeze_without_axis_follows_the_arguments_shapes(backend):
    """Which axes have size 1 is not known from ranks: the code is built per shape of the
    arguments (s2sad/analysis/sizes.py). The defensive ``x = np.squeeze(x)`` of an operand with
    no size-1 axis, then one of the same rank with a size-1 axis: each gets its derivative."""
    x = np.random.default_rng(0).uniform(-1.0, 1.0, (3, 4))
    for mode in (s2sad.jacfwd, s2sad.jacrev):
        g = mode(rf.squeeze_, backend=backend)
        check_jacobian(rf.squeeze_, (x,), 0, g(x))
        check_jacobian(rf.squeeze_, (x[:, :1],), 0, g(x[:, :1]))
