"""Derivative rules for NumPy, ``math`` and builtins, and for s2sad's runtime helpers.

Read rules/__init__.py for the conventions (one leading seed axis on every tangent and
cotangent; ``None`` is a zero tangent). Rule bodies use only ops that have rules themselves,
so derivative code can be differentiated again.
"""

import builtins
import math
import operator

import numpy as np

from .. import runtime as rt
from ..ad.trace import ABSTRACT_EVAL, Sym, _getitem, call
from ..errors import UnsupportedError
from ..ir import COPY, GETITEM
from .tables import (
    PACKED,
    SINGULAR,
    UNIT_SAFE,
    adjoint_rule,
    constant_operands,
    elementwise,
    linear,
    nondifferentiable,
    tangent_rule,
)


def contiguous(x):
    return call(np.ascontiguousarray, x)


def lead_axes(t, count):
    """``t`` with ``count`` new axes right after its leading seed axis."""
    return t[(slice(None),) + (None,) * count] if count else t


def batched_axis(axis, ndim):
    """The axis of a batched tangent that is ``axis`` of a rank-``ndim`` primal."""
    return (axis % ndim) + 1


def axes_of(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, tuple):
        return tuple(sorted(a % ndim for a in axis))
    return (axis % ndim,)


def sum_batched(t, axes):
    """Sum a batched tangent over primal ``axes`` (highest first so indices stay valid)."""
    for a in sorted(axes, reverse=True):
        t = np.sum(t, axis=a + 1)
    return t


def unreduce(y_bar, x, axes):
    """Spread a batched cotangent of a reduction over ``axes`` back to x's shape."""
    index = [slice(None)]
    for a in range(x.ndim):
        index.append(None if a in axes else slice(None))
    return rt.broadcast_like(y_bar[tuple(index)] if axes else y_bar, x)


# --- elementwise unary ---------------------------------------------------------------------


@elementwise(np.sin, math.sin)
def sin_partials(x):
    return np.cos(x)


@elementwise(np.cos, math.cos)
def cos_partials(x):
    return -np.sin(x)


@elementwise(np.tan, math.tan)
def tan_partials(x, y):
    return 1.0 + y * y


@elementwise(np.exp, math.exp)
def exp_partials(x, y):
    return y


@elementwise(np.log, math.log)
def log_partials(x):
    return 1.0 / x


@elementwise(np.log1p, math.log1p)
def log1p_partials(x):
    return 1.0 / (1.0 + x)


@elementwise(np.expm1, math.expm1)
def expm1_partials(x, y):
    return y + 1.0


@elementwise(np.sqrt, math.sqrt)
def sqrt_partials(x, y):
    return 0.5 / y


@elementwise(np.tanh, math.tanh)
def tanh_partials(x, y):
    return 1.0 - y * y


@elementwise(np.sinh, math.sinh)
def sinh_partials(x):
    return np.cosh(x)


@elementwise(np.cosh, math.cosh)
def cosh_partials(x):
    return np.sinh(x)


@elementwise(np.arctan, math.atan)
def arctan_partials(x):
    return 1.0 / (1.0 + x * x)


@elementwise(np.arcsin, math.asin)
def arcsin_partials(x):
    return 1.0 / np.sqrt(1.0 - x * x)


@elementwise(np.arccos, math.acos)
def arccos_partials(x):
    return -1.0 / np.sqrt(1.0 - x * x)


@elementwise(np.abs, builtins.abs, math.fabs)
def abs_partials(x):
    return np.sign(x)


@elementwise(np.negative)
def negative_partials(x):
    return -1.0


@elementwise(np.square)
def square_partials(x):
    return 2.0 * x


@elementwise(np.reciprocal)
def reciprocal_partials(x, y):
    return -(y * y)


@elementwise(builtins.float, np.positive)
def float_partials(x):
    return 1.0


_LN2, _LN10 = math.log(2.0), math.log(10.0)


@elementwise(np.log2, math.log2)
def log2_partials(x):
    return 1.0 / (x * _LN2)


@elementwise(np.log10, math.log10)
def log10_partials(x):
    return 1.0 / (x * _LN10)


@elementwise(np.exp2)
def exp2_partials(x, y):
    return y * _LN2


@elementwise(np.arcsinh, math.asinh)
def arcsinh_partials(x):
    return 1.0 / np.sqrt(x * x + 1.0)


@elementwise(np.arccosh, math.acosh)
def arccosh_partials(x):
    return 1.0 / np.sqrt(x * x - 1.0)


@elementwise(np.arctanh, math.atanh)
def arctanh_partials(x):
    return 1.0 / (1.0 - x * x)


# (a float whatever the dummy's value: math.acosh(0.5) and math.atanh(1.0) raise)
ABSTRACT_EVAL[math.acosh] = ABSTRACT_EVAL[math.atanh] = lambda x: 0.5


@elementwise(np.cbrt)
def cbrt_partials(x, y):
    return 1.0 / (3.0 * (y * y))


# --- elementwise binary --------------------------------------------------------------------


@elementwise(np.hypot, math.hypot)
def hypot_partials(a, b, y):
    return (lambda: a / y), (lambda: b / y)


@elementwise(np.logaddexp)
def logaddexp_partials(a, b, y):
    # exp(a - y) = exp(a) / (exp(a) + exp(b)), never overflowing (a - y <= 0)
    return (lambda: np.exp(a - y)), (lambda: np.exp(b - y))


@elementwise(np.add)
def add_partials(a, b):
    return 1.0, 1.0


@elementwise(np.subtract)
def subtract_partials(a, b):
    return 1.0, -1.0


@elementwise(np.multiply)
def multiply_partials(a, b):
    return b, a


@elementwise(np.true_divide)
def divide_partials(a, b, y):
    return (lambda: 1.0 / b), (lambda: -y / b)


@elementwise(np.power, math.pow)
def power_partials(a, b, y):
    return (lambda: b * a ** (b - 1.0)), (lambda: y * np.log(a))


@elementwise(np.arctan2, math.atan2)
def arctan2_partials(a, b):
    return (lambda: b / (a * a + b * b)), (lambda: -a / (a * a + b * b))


@elementwise(np.remainder)
def remainder_partials(a, b):
    # a % b == a - floor(a / b) * b, floor(a / b) piecewise constant: almost everywhere the
    # partials are 1 and -floor(a / b)
    return 1.0, (lambda: -np.floor(a / b))


@elementwise(np.fmod, math.fmod)
def fmod_partials(a, b):
    # fmod truncates where remainder floors
    return 1.0, (lambda: -np.trunc(a / b))


# --- selections: tangents and cotangents are SELECTED, never multiplied by a 0/1 mask -------
# (``np.where(x > 0, np.sqrt(x), 0.0)``: where x < 0 the unselected branch's derivative is
# nan; 0 * nan is nan, a selection is 0)


def _select_tangent(y, choices):
    """``y``'s tangent from ``(condition, operand, tangent)`` choices tried in order (the
    last one's condition is ignored: it is the default). Tangents are expanded to ``y``'s
    rank so a condition broadcasts against primal axes only, never the seed axis."""
    value = None
    for cond, x, x_dot in reversed(choices):
        if x_dot is None:
            part = 0.0
        else:
            part = lead_axes(x_dot, y.ndim - (np.ndim(x.dummy) if hasattr(x, "dummy") else 0))
        if value is None:
            value = part
        else:
            value = np.where(cond, part, value)
    if y.ndim:
        value = rt.broadcast_like(value, y)
    return value


def unbroadcast(c, x):
    """A batched cotangent ``c`` of a broadcast result, summed to ``(B,) + x.shape``."""
    extra = c.ndim - 1 - x.ndim
    if extra > 0:
        c = sum_batched(c, tuple(range(extra)))
    return rt.sum_to(c, x) if x.ndim else c


def _select_adjoint(y_bar, cond, x, take):
    """The cotangent of operand ``x`` selected where ``cond`` is ``take``."""
    part = np.where(cond, y_bar, 0.0) if take else np.where(cond, 0.0, y_bar)
    return unbroadcast(part, x)


@tangent_rule(np.where)
def where_tangent(condition, x, y_, condition_dot=None, x_dot=None, y__dot=None, y=None):
    return _select_tangent(y, [(condition, x, x_dot), (None, y_, y__dot)])


@adjoint_rule(np.where, "x")
def where_adjoint_x(y_bar, condition, x, y_):
    return _select_adjoint(y_bar, condition, x, True)


@adjoint_rule(np.where, "y_")
def where_adjoint_y(y_bar, condition, x, y_):
    return _select_adjoint(y_bar, condition, y_, False)


@tangent_rule(np.maximum, builtins.max)
def maximum_tangent(a, b, a_dot=None, b_dot=None, y=None):
    return _select_tangent(y, [(a >= b, a, a_dot), (None, b, b_dot)])


@adjoint_rule(np.maximum, "a")
@adjoint_rule(builtins.max, "a")
def maximum_adjoint_a(y_bar, a, b):
    return _select_adjoint(y_bar, a >= b, a, True)


@adjoint_rule(np.maximum, "b")
@adjoint_rule(builtins.max, "b")
def maximum_adjoint_b(y_bar, a, b):
    return _select_adjoint(y_bar, a >= b, b, False)


@tangent_rule(np.minimum, builtins.min)
def minimum_tangent(a, b, a_dot=None, b_dot=None, y=None):
    return _select_tangent(y, [(a <= b, a, a_dot), (None, b, b_dot)])


@adjoint_rule(np.minimum, "a")
@adjoint_rule(builtins.min, "a")
def minimum_adjoint_a(y_bar, a, b):
    return _select_adjoint(y_bar, a <= b, a, True)


@adjoint_rule(np.minimum, "b")
@adjoint_rule(builtins.min, "b")
def minimum_adjoint_b(y_bar, a, b):
    return _select_adjoint(y_bar, a <= b, b, False)


def _clip_bound(bound, name):
    if bound is None:
        raise UnsupportedError(f"np.clip with {name}=None: not supported yet; use np.maximum / np.minimum")
    return bound


@tangent_rule(np.clip)
def clip_tangent(x, lo, hi, x_dot=None, lo_dot=None, hi_dot=None, y=None):
    lo, hi = _clip_bound(lo, "a_min"), _clip_bound(hi, "a_max")
    # as np.clip computes it, minimum(maximum(x, lo), hi): hi where maximum(x, lo) > hi,
    # else lo where x < lo, else x
    return _select_tangent(y, [(np.maximum(x, lo) > hi, hi, hi_dot), (x < lo, lo, lo_dot), (None, x, x_dot)])


@adjoint_rule(np.clip, "x")
def clip_adjoint_x(y_bar, x, lo, hi):
    return _select_adjoint(y_bar, np.logical_or(np.maximum(x, lo) > hi, x < lo), x, False)


@adjoint_rule(np.clip, "lo")
def clip_adjoint_lo(y_bar, x, lo, hi):
    return _select_adjoint(y_bar, np.logical_and(x < lo, np.logical_not(np.maximum(x, lo) > hi)), lo, True)


@adjoint_rule(np.clip, "hi")
def clip_adjoint_hi(y_bar, x, lo, hi):
    return _select_adjoint(y_bar, np.maximum(x, lo) > hi, hi, True)


# --- reductions ---------------------------------------------------------------------------


@tangent_rule(np.sum)
def sum_tangent(x, axis=None, x_dot=None):
    return sum_batched(x_dot, axes_of(axis, x.ndim))


@linear(np.sum, "x")
def sum_adjoint(y_bar, x, axis=None):
    return unreduce(y_bar, x, axes_of(axis, x.ndim))


def _count(x, axes):
    n = 1
    for a in axes:
        n = n * x.shape[a]
    return n


@tangent_rule(np.mean)
def mean_tangent(x, axis=None, x_dot=None):
    axes = axes_of(axis, x.ndim)
    return sum_batched(x_dot, axes) / _count(x, axes)


@linear(np.mean, "x")
def mean_adjoint(y_bar, x, axis=None):
    axes = axes_of(axis, x.ndim)
    return unreduce(y_bar / _count(x, axes), x, axes)


def _extreme_hits(x, y, axes):
    """Where x attains its max/min along ``axes`` (a bool mask), and how many times (ties)."""
    full = len(axes) == x.ndim  # y is a scalar: no indexing (Numba cannot index a float)
    index = tuple(None if a in axes else slice(None) for a in range(x.ndim))
    hit = np.equal(x, y if full else y[index])  # (Sym has no ==: it is identity)
    count = np.where(hit, 1.0, 0.0)
    for a in sorted(axes, reverse=True):
        count = np.sum(count, axis=a)
    return hit, (count if full else count[index])


def _extreme_weights(x, y, axes):
    """Where x attains its max/min along ``axes``, split evenly between ties."""
    hit, count = _extreme_hits(x, y, axes)
    return np.where(hit, 1.0, 0.0) / count


@tangent_rule(np.max, np.min, np.amax, np.amin)
def extreme_tangent(x, axis=None, y=None, x_dot=None):
    # the tangents of the extremes, selected (an element that is not one may have a nan or
    # inf tangent: it must not leak through a multiplication by 0)
    axes = axes_of(axis, x.ndim)
    hit, count = _extreme_hits(x, y, axes)
    return sum_batched(np.where(hit, x_dot, 0.0) / count, axes)


@adjoint_rule(np.max, "x")
@adjoint_rule(np.min, "x")
@adjoint_rule(np.amax, "x")
@adjoint_rule(np.amin, "x")
def extreme_adjoint(y_bar, x, axis=None, y=None):
    axes = axes_of(axis, x.ndim)
    return unreduce(y_bar, x, axes) * _extreme_weights(x, y, axes)


def shift_last(v, right):
    """``v`` moved one place along its last axis, zero filled: ``v[..., k - 1]`` at k
    (``right``) or ``v[..., k + 1]``."""
    lead = (slice(None),) * (v.ndim - 1)  # (no Ellipsis: Numba's scatter takes none)
    zero = np.zeros_like(v[lead + (slice(None, 1),)])
    if right:
        return np.concatenate((zero, v[lead + (slice(None, -1),)]), axis=-1)
    return np.concatenate((v[lead + (slice(1, None),)], zero), axis=-1)


def unit_at(n, first):
    """1.0 at the first (else the last) of ``n`` places, 0.0 elsewhere."""
    k = call(np.arange, n)
    return np.where(np.equal(k, 0) if first else np.equal(k, n - 1), 1.0, 0.0)


def products_of_others(x):
    """For each element of ``x``, the product of all the other elements (any rank; no
    division, so zeros give no nan): the products before it times those after it, two
    recurrences (rt.linear_scan) whose own rules make every order division-free."""
    flat = x if x.ndim == 1 else np.ravel(x)
    n = flat.shape[0]
    before = rt.linear_scan(shift_last(flat, True), unit_at(n, True), False)
    after = rt.linear_scan(flat, unit_at(n, False), True)
    others = before * after
    return others if x.ndim == 1 else np.reshape(others, x.shape)


@tangent_rule(np.prod)
def prod_tangent(x, axis=None, x_dot=None):
    # (an axis: composite_rules.prod, as a running product)
    if axis is not None and x.ndim > 1:
        raise UnsupportedError("internal: np.prod with an axis reached its rule")
    if x.ndim == 0:
        return x_dot
    return sum_batched(products_of_others(x) * x_dot, axes_of(None, x.ndim))


@adjoint_rule(np.prod, "x")
def prod_adjoint(y_bar, x, axis=None):
    if axis is not None and x.ndim > 1:
        raise UnsupportedError("internal: np.prod with an axis reached its rule")
    if x.ndim == 0:
        return y_bar
    return unreduce(y_bar, x, axes_of(None, x.ndim)) * products_of_others(x)


# the recurrence z[k] = a[k] z[k-1] + b[k] (``reverse``: z[k] = a[k+1] z[k+1] + b[k]); b has
# the result's shape, a broadcasts against it. Linear in b; its transpose is the recurrence
# the other way with the same a.


@tangent_rule(rt.linear_scan)
def linear_scan_tangent(a, b, reverse=False, a_dot=None, b_dot=None, y=None):
    source = None
    if a_dot is not None:
        da = lead_axes(a_dot, y.ndim - a.ndim)
        # dz[k] gains da[k] z[k-1] (reverse: da[k+1] z[k+1])
        source = shift_last(da * y, False) if reverse else da * shift_last(y, True)
    if b_dot is not None:
        source = b_dot if source is None else source + b_dot
    return rt.linear_scan(a, source, reverse)


@adjoint_rule(rt.linear_scan, "b")
def linear_scan_adjoint_b(y_bar, a, b, reverse=False):
    return rt.linear_scan(a, y_bar, not reverse)


@adjoint_rule(rt.linear_scan, "a")
def linear_scan_adjoint_a(y_bar, a, b, reverse=False, y=None):
    b_bar = rt.linear_scan(a, y_bar, not reverse)
    part = shift_last(b_bar, True) * y if reverse else b_bar * shift_last(y, True)
    return unbroadcast(part, a)


def _cumsum_check(x, axis):
    # (along an axis of a multi-dimensional array: composite_rules.cumsum, by rt.cumsum_rows)
    if x.ndim > 1 and axis is not None:
        raise UnsupportedError("internal: np.cumsum along an axis reached its rule")


@tangent_rule(np.cumsum)
def cumsum_tangent(x, axis=None, x_dot=None):
    _cumsum_check(x, axis)
    return rt.cumsum_rows(_reshape_batched(x_dot, (-1,)) if x.ndim != 1 else x_dot)


@linear(np.cumsum, "x")
def cumsum_adjoint(y_bar, x, axis=None):
    _cumsum_check(x, axis)
    rev = rt.cumsum_rows(y_bar[:, ::-1])[:, ::-1]
    return _reshape_batched(rev, x.shape) if x.ndim != 1 else rev


# --- linear algebra ---------------------------------------------------------------------


def _as_matrix_operands(a, b):
    """Row/column vectors for 1-D matmul operands, so every case is a matrix product."""
    return (a[None, :] if a.ndim == 1 else a), (b[:, None] if b.ndim == 1 else b)


def _matrix_tangent(a, b, a_dot, b_dot):
    """The tangent of a @ b for operands of one or two axes."""
    terms = []
    if a_dot is not None:
        # (B, m, n) @ (n,) or (n, k): one product of a tall matrix
        a_flat = a_dot if a.ndim == 1 else np.reshape(contiguous(a_dot), (-1, a.shape[1]))
        prod = a_flat @ b
        terms.append(prod if a.ndim == 1 else np.reshape(prod, (a_dot.shape[0],) + a.shape[:1] + b.shape[1:]))
    if b_dot is not None:
        if b.ndim == 1:
            terms.append(b_dot @ np.transpose(a) if a.ndim == 2 else b_dot @ a)
        else:
            terms.append(
                rt.bmatmul(a if a.ndim == 2 else a[None, :], b_dot)
                if a.ndim == 2
                else rt.bmatmul(a[None, :], b_dot)[:, 0, :]
            )
    return terms[0] if len(terms) == 1 else terms[0] + terms[1]


def _matrix_adjoint_a(y_bar, a, b):
    # y = a @ b ; a_bar = y_bar @ b^T (per seed)
    if b.ndim == 1:
        return y_bar[:, None] * b if a.ndim == 1 else y_bar[:, :, None] * b
    if a.ndim == 1:
        return y_bar @ np.transpose(b)
    flat = np.reshape(contiguous(y_bar), (-1, b.shape[1])) @ np.transpose(b)
    return np.reshape(flat, (y_bar.shape[0],) + a.shape)


def _matrix_adjoint_b(y_bar, a, b):
    # b_bar = a^T @ y_bar (per seed)
    if a.ndim == 1:
        return y_bar[:, None] * a if b.ndim == 1 else y_bar[:, None, :] * a[:, None]
    if b.ndim == 1:
        return y_bar @ a
    return rt.bmatmul(np.transpose(a), y_bar)


# --- any rank: np.dot, np.inner, np.matmul as one stacked matmul ---------------------------
# Each product is written as ``bmatmul(a[pre_a], b[pre_b])[post]``: ``pre`` inserts size-1
# axes (so NumPy's contraction becomes matmul's, with stack axes that broadcast), ``post``
# drops the size-1 axes of the result. The tangent and the adjoints are then those of
# rt.bmatmul (its stacks broadcast and reduce), with the same indexing around them; every op
# involved has rules and a Numba implementation, so second order works on both backends.


_insert, _drop = rt.insert_index, rt.drop_index
_PRODUCT_NAMES = {np.dot: "dot", np.inner: "inner", np.matmul: "matmul"}


def _bilinear_form(op, a, b):
    return rt.product_form(_PRODUCT_NAMES[op], a.ndim, b.ndim)


def _pre(x, positions, batched):
    if not positions:
        return x
    index = _insert(x.ndim - (1 if batched else 0), positions)
    return x[((slice(None),) if batched else ()) + index]


def _post(z, positions, batched):
    if not positions:
        return z
    index = _drop(z.ndim - (1 if batched else 0), positions)
    return z[((slice(None),) if batched else ()) + index]


def _undrop(z_bar, positions):
    """The batched cotangent of ``z[post]`` spread back to z's rank (size-1 axes)."""
    if not positions:
        return z_bar
    return z_bar[(slice(None),) + _insert(z_bar.ndim - 1, positions)]


def _uninsert(c, positions):
    """A batched cotangent of ``x[pre]`` reduced back to x's rank (the inserted axes have
    size 1 in x[pre]; rt.sum_to already summed the cotangent over them)."""
    if not positions:
        return c
    return c[(slice(None),) + _drop(c.ndim - 1, positions)]


def _scalar_product(a, b):
    """np.dot / np.inner with a 0-d operand: a product."""
    return a.ndim == 0 or b.ndim == 0


def _product_tangent(op, a, b, a_dot, b_dot, y):
    if _scalar_product(a, b):
        terms = []
        if a_dot is not None:
            terms.append(lead_axes(a_dot, y.ndim - a.ndim) * b)
        if b_dot is not None:
            terms.append(a * lead_axes(b_dot, y.ndim - b.ndim))
        return terms[0] if len(terms) == 1 else terms[0] + terms[1]
    if a.ndim <= 2 and b.ndim <= 2 and (op is not np.inner or b.ndim == 1):
        return _matrix_tangent(a, b, a_dot, b_dot)
    pa, pb, post = _bilinear_form(op, a, b)
    a2, b2 = _pre(a, pa, False), _pre(b, pb, False)
    z_dot = bmatmul_tangent(
        a2, b2, None if a_dot is None else _pre(a_dot, pa, True), None if b_dot is None else _pre(b_dot, pb, True)
    )
    return _post(z_dot, post, True)


def _product_adjoint(op, which, y_bar, a, b):
    if _scalar_product(a, b):
        if which == "a":
            return unbroadcast(y_bar * b, a)
        return unbroadcast(y_bar * a, b)
    if a.ndim <= 2 and b.ndim <= 2 and (op is not np.inner or b.ndim == 1):
        return _matrix_adjoint_a(y_bar, a, b) if which == "a" else _matrix_adjoint_b(y_bar, a, b)
    pa, pb, post = _bilinear_form(op, a, b)
    a2, b2 = _pre(a, pa, False), _pre(b, pb, False)
    z_bar = _undrop(y_bar, post)
    if which == "a":
        return _uninsert(bmatmul_adjoint_a(z_bar, a2, b2), pa)
    return _uninsert(bmatmul_adjoint_b(z_bar, a2, b2), pb)


@tangent_rule(np.matmul)
def matmul_tangent(a, b, a_dot=None, b_dot=None, y=None):
    return _product_tangent(np.matmul, a, b, a_dot, b_dot, y)


@adjoint_rule(np.matmul, "a")
def matmul_adjoint_a(y_bar, a, b):
    return _product_adjoint(np.matmul, "a", y_bar, a, b)


@adjoint_rule(np.matmul, "b")
def matmul_adjoint_b(y_bar, a, b):
    return _product_adjoint(np.matmul, "b", y_bar, a, b)


@tangent_rule(np.dot)
def dot_tangent(a, b, a_dot=None, b_dot=None, y=None):
    return _product_tangent(np.dot, a, b, a_dot, b_dot, y)


@adjoint_rule(np.dot, "a")
def dot_adjoint_a(y_bar, a, b):
    return _product_adjoint(np.dot, "a", y_bar, a, b)


@adjoint_rule(np.dot, "b")
def dot_adjoint_b(y_bar, a, b):
    return _product_adjoint(np.dot, "b", y_bar, a, b)


@tangent_rule(np.outer)
def outer_tangent(a, b, a_dot, b_dot):
    # np.outer flattens its operands: y[i, j] = ravel(a)[i] * ravel(b)[j]
    terms = []
    if a_dot is not None:
        terms.append(_flat_batched(a_dot, a)[:, :, None] * np.ravel(b))
    if b_dot is not None:
        terms.append(np.ravel(a)[:, None] * _flat_batched(b_dot, b)[:, None, :])
    return terms[0] if len(terms) == 1 else terms[0] + terms[1]


def _flat_batched(t, x):
    return t if x.ndim == 1 else _reshape_batched(t, (-1,))


def _unflat_batched(t, x):
    return t if x.ndim == 1 else _reshape_batched(t, x.shape)


@adjoint_rule(np.outer, "a")
def outer_adjoint_a(y_bar, a, b):
    return _unflat_batched(np.sum(y_bar * np.ravel(b), axis=2), a)


@adjoint_rule(np.outer, "b")
def outer_adjoint_b(y_bar, a, b):
    return _unflat_batched(np.sum(y_bar * np.ravel(a)[:, None], axis=1), b)


@tangent_rule(np.inner)
def inner_tangent(a, b, a_dot=None, b_dot=None, y=None):
    return _product_tangent(np.inner, a, b, a_dot, b_dot, y)


@adjoint_rule(np.inner, "a")
def inner_adjoint_a(y_bar, a, b):
    return _product_adjoint(np.inner, "a", y_bar, a, b)


@adjoint_rule(np.inner, "b")
def inner_adjoint_b(y_bar, a, b):
    return _product_adjoint(np.inner, "b", y_bar, a, b)


def _trace_mask(x):
    """np.eye over x's first two axes, shaped to broadcast against x (np.trace's diagonal)."""
    eye = call(np.eye, x.shape[0], x.shape[1])
    return eye[(slice(None), slice(None)) + (None,) * (x.ndim - 2)] if x.ndim > 2 else eye


@tangent_rule(np.trace)
def trace_tangent(x, x_dot):
    return sum_batched(x_dot * _trace_mask(x), (0, 1))


@linear(np.trace, "x")
def trace_adjoint(y_bar, x):
    return y_bar[(slice(None), None, None)] * _trace_mask(x)


@tangent_rule(np.linalg.norm)
def norm_tangent(x, ord=None, axis=None, y=None, x_dot=None):
    if ord is not None or axis is not None:
        raise UnsupportedError("np.linalg.norm with ord or axis: only the 2-norm of the whole array is supported")
    return sum_batched(x / y * x_dot, axes_of(None, x.ndim))


@adjoint_rule(np.linalg.norm, "x")
def norm_adjoint(y_bar, x, ord=None, axis=None, y=None):
    if ord is not None or axis is not None:
        raise UnsupportedError("np.linalg.norm with ord or axis: only the 2-norm of the whole array is supported")
    return unreduce(y_bar, x, axes_of(None, x.ndim)) * (x / y)


# --- shape and indexing -------------------------------------------------------------------


def _perm(axes, ndim):
    return tuple(range(ndim))[::-1] if axes is None else tuple(a % ndim for a in axes)


@tangent_rule(np.transpose)
def transpose_tangent(x, axes=None, x_dot=None):
    perm = _perm(axes, x.ndim)
    return np.transpose(x_dot, (0,) + tuple(p + 1 for p in perm)) if x.ndim > 1 else x_dot


@linear(np.transpose, "x")
def transpose_adjoint(y_bar, x, axes=None):
    perm = _perm(axes, x.ndim)
    inverse = tuple(int(i) for i in np.argsort(perm))
    return np.transpose(y_bar, (0,) + tuple(p + 1 for p in inverse)) if x.ndim > 1 else y_bar


def _reshape_batched(t, shape):
    return np.reshape(contiguous(t), (t.shape[0],) + shape)


def _shape_tuple(shape):
    if isinstance(shape, (int,)) or (hasattr(shape, "ndim") and not getattr(shape, "is_tuple", False)):
        return (shape,)
    return shape


@tangent_rule(np.reshape)
def reshape_tangent(x, shape, x_dot):
    return _reshape_batched(x_dot, _shape_tuple(shape))


@linear(np.reshape, "x")
def reshape_adjoint(y_bar, x, shape):
    return _reshape_batched(y_bar, x.shape)


@tangent_rule(np.ravel)
def ravel_tangent(x, x_dot):
    return _reshape_batched(x_dot, (-1,))


@linear(np.ravel, "x")
def ravel_adjoint(y_bar, x):
    return _reshape_batched(y_bar, x.shape)


@tangent_rule(np.expand_dims)
def expand_dims_tangent(x, axis, y=None, x_dot=None):
    if isinstance(axis, (tuple, list)):  # several new axes (NumPy >= 1.18)
        return _reshape_batched(x_dot, y.shape)
    return np.expand_dims(x_dot, batched_axis(axis, x.ndim + 1))


@linear(np.expand_dims, "x")
def expand_dims_adjoint(y_bar, x, axis):
    return _reshape_batched(y_bar, x.shape)


@tangent_rule(np.squeeze)
def squeeze_tangent(x, axis=None, y=None, x_dot=None):
    return _reshape_batched(x_dot, y.shape)


@linear(np.squeeze, "x")
def squeeze_adjoint(y_bar, x, axis=None):
    return _reshape_batched(y_bar, x.shape)


@tangent_rule(np.broadcast_to)
def broadcast_to_tangent(x, shape, x_dot):
    shape = _shape_tuple(shape)
    return np.broadcast_to(lead_axes(x_dot, len(shape) - x.ndim), (x_dot.shape[0],) + shape)


@linear(np.broadcast_to, "x")
def broadcast_to_adjoint(y_bar, x, shape):
    extra = len(_shape_tuple(shape)) - x.ndim
    return rt.sum_to(sum_batched(y_bar, tuple(range(extra))), x)


@tangent_rule(COPY, np.ascontiguousarray)
def copy_tangent(x, x_dot):
    return x_dot  # `y = x` aliases in Python too: the tangent may alias


@linear(np.copy, "x")
@linear(COPY, "x")
@linear(np.ascontiguousarray, "x")
def copy_adjoint(y_bar, x):
    return y_bar


@tangent_rule(np.concatenate)
def concatenate_tangent(arrays, axis=0, y=None, arrays_dot=None):
    parts = _dense_parts(arrays, arrays_dot)
    if axis is None:  # the flattened arrays, joined
        return np.concatenate(tuple(_flat_batched(d, p) for p, d in zip(arrays, parts)), axis=1)
    return np.concatenate(parts, axis=batched_axis(axis, y.ndim))


@linear(np.concatenate, "arrays")
def concatenate_adjoint(y_bar, arrays, axis=0, y=None):
    flat = axis is None
    axis = 1 if flat else batched_axis(axis, y.ndim)
    parts, start = [], 0
    for p in arrays:
        stop = start + (p.size if flat else p.shape[axis - 1])
        part = y_bar[(slice(None),) * axis + (slice(start, stop),)]
        parts.append(_unflat_batched(part, p) if flat else part)
        start = stop
    return tuple(parts)


@tangent_rule(np.stack)
def stack_tangent(arrays, axis=0, y=None, arrays_dot=None):
    return np.stack(_dense_parts(arrays, arrays_dot), axis=batched_axis(axis, y.ndim))


@linear(np.stack, "arrays")
def stack_adjoint(y_bar, arrays, axis=0, y=None):
    axis = batched_axis(axis, y.ndim)
    return tuple(y_bar[(slice(None),) * axis + (k,)] for k in range(len(arrays)))


def _items(value):
    """A tuple-valued symbol (a tuple read from another tuple) as the tuple of its items."""
    return tuple(value) if isinstance(value, Sym) and value.is_tuple else value


@tangent_rule(np.array)
def array_tangent(object, y=None, object_dot=None):
    # np.array of a sequence is np.stack along a new first axis
    object, object_dot = _items(object), _items(object_dot)
    if not isinstance(object, tuple) or not isinstance(object_dot, tuple):
        return object_dot  # (an array, or one tangent for the whole sequence: zeros)
    return stack_tangent(object, 0, y, object_dot)


@linear(np.array, "object")
def array_adjoint(y_bar, object, y=None):
    object = _items(object)
    if not isinstance(object, tuple):
        return y_bar
    return stack_adjoint(y_bar, object, 0, y)


def _dense_parts(arrays, dots):
    """Tangents of a sequence's parts, zeros where a part carries none."""
    like = next(d for d in dots if d is not None)
    return tuple(rt.zeros_batch(like, p) if d is None else d for p, d in zip(arrays, dots))


def _is_index_array(i):
    if isinstance(i, (list, np.ndarray)):
        return True
    return hasattr(i, "ndim") and not isinstance(i, slice) and (i.ndim or 0) > 0


def _advanced_first(index):
    """NumPy puts the axes of advanced indices first when they are not side by side
    (``T[1, 1:, [0, 2]]``: the int and the list, apart): the rank of their broadcast shape
    then, else None. A seed axis put in front of such an index lands after those axes."""
    index = tuple(index)
    if not any(_is_index_array(i) for i in index):
        return None
    advanced = [
        k
        for k, i in enumerate(index)
        if _is_index_array(i)
        or (isinstance(i, (int, np.integer)) and not isinstance(i, bool))
        or (hasattr(i, "ndim") and not isinstance(i, slice) and i.ndim == 0 and np.dtype(i.dtype).kind in "iu")
    ]
    if advanced[-1] - advanced[0] + 1 == len(advanced):
        return None
    if any(i is None for i in index):
        raise UnsupportedError("an index that mixes None (np.newaxis) with index arrays apart: not supported yet")
    return max(np.ndim(i.dummy) if hasattr(i, "dummy") else np.ndim(i) for i in index if _is_index_array(i))


@tangent_rule(GETITEM)
def getitem_tangent(x, index, x_dot):
    y_dot = x_dot[(slice(None),) + tuple(index)]
    k = _advanced_first(index)
    if k:  # the seed axis back in front
        y_dot = np.transpose(y_dot, (k,) + tuple(range(k)) + tuple(range(k + 1, y_dot.ndim)))
    return y_dot


@linear(GETITEM, "x")
def getitem_adjoint(y_bar, x, index):
    return rt.scatter(y_bar, x, *index)


# --- math / builtins / runtime helpers -----------------------------------------------------


@linear(rt.sum_to, "g")
def sum_to_adjoint(y_bar, g, x):
    return rt.broadcast_like(y_bar, g)


@linear(rt.broadcast_like, "t")
def broadcast_like_adjoint(y_bar, t, g):
    lead = t.ndim - g.ndim  # t's own leading axes
    extra = y_bar.ndim - 1 - t.ndim
    return rt.sum_to(sum_batched(y_bar, tuple(range(lead, lead + extra))), t) if extra else rt.sum_to(y_bar, t)


@tangent_rule(rt.scatter_add)
def scatter_add_tangent(acc, ct, x, index, acc_dot, ct_dot):
    # acc_dot is the accumulator's own tangent (private, like acc): added to in place too
    if ct_dot is None:
        return acc_dot
    # a scalar ct of one seed (unit mode) has no seed axis of its own: give it one
    missing = (acc.ndim - x.ndim) - (ct.ndim - _gathered_rank(x, index))
    if missing > 0:
        ct_dot = ct_dot[(slice(None),) + (None,) * missing]
    if acc_dot is None:
        return rt.scatter(ct_dot, x, *index)
    return rt.scatter_add(acc_dot, ct_dot, x, *index)


@adjoint_rule(rt.scatter_add, "acc")
@adjoint_rule(rt.scatter_add, "ct")
def scatter_add_adjoint(y_bar, acc, ct, x, index):
    # it writes in place: only the reverse of a loop makes it, and reverse mode over a loop's
    # reverse (its tape) is refused before this rule is reached
    raise UnsupportedError("reverse mode of an in-place accumulator (rt.scatter_add): not supported")


@linear(rt.scatter, "ct")
def scatter_adjoint(y_bar, ct, x, index):
    lead = ct.ndim - _gathered_rank(x, index)
    return y_bar[(slice(None),) * (lead + 1) + tuple(index)]


def _gathered_rank(x, index):
    plain = [i.dummy if hasattr(i, "dummy") else i for i in index]
    plain = [slice(None) if isinstance(i, slice) else i for i in plain]
    return np.ndim(_getitem(x.dummy, *plain))


@tangent_rule(rt.bmatmul)
def bmatmul_tangent(a, b, a_dot, b_dot):
    # a tangent's seed axis must not be matched against the other operand's stack axes:
    # give it the full stack rank first, so stacks broadcast position by position
    stack = max(a.ndim, b.ndim) - 2
    terms = []
    if a_dot is not None:
        terms.append(rt.bmatmul(lead_axes(a_dot, stack - (a.ndim - 2)), b))
    if b_dot is not None:
        terms.append(rt.bmatmul(a, lead_axes(b_dot, stack - (b.ndim - 2))))
    return terms[0] if len(terms) == 1 else terms[0] + terms[1]


@adjoint_rule(rt.bmatmul, "a")
def bmatmul_adjoint_a(y_bar, a, b):
    return _unstack(rt.bmatmul(y_bar, np.swapaxes(b, -1, -2)), a)


@adjoint_rule(rt.bmatmul, "b")
def bmatmul_adjoint_b(y_bar, a, b):
    return _unstack(rt.bmatmul(np.swapaxes(a, -1, -2), y_bar), b)


def _unstack(g, x):
    """Reduce a batched stack product's cotangent ``g`` to ``(B,) + x.shape``."""
    extra = g.ndim - 1 - x.ndim
    return rt.sum_to(sum_batched(g, tuple(range(extra))), x)


@tangent_rule(rt.scale_nz)
def scale_nz_tangent(g, p, g_dot=None, p_dot=None, y=None):
    # the product rule, each term zero where its g factor is (as the primal)
    terms = []
    if g_dot is not None:
        terms.append(rt.scale_nz(g_dot, p))
    if p_dot is not None:
        terms.append(rt.scale_nz(g, lead_axes(p_dot, g.ndim - p.ndim) if g.ndim > p.ndim else p_dot))
    total = terms[0] if len(terms) == 1 else terms[0] + terms[1]
    return rt.broadcast_like(total, y) if y.ndim else total


@adjoint_rule(rt.scale_nz, "g")
def scale_nz_adjoint_g(y_bar, g, p):
    return unbroadcast(rt.scale_nz(y_bar, p), g)


@adjoint_rule(rt.scale_nz, "p")
def scale_nz_adjoint_p(y_bar, g, p):
    return unbroadcast(y_bar * g, p)


@linear(rt.cumsum_rows, "t")
def cumsum_rows_adjoint(y_bar, t):
    return rt.cumsum_rows(y_bar[..., ::-1])[..., ::-1]


@tangent_rule(rt.add_batch_axis)
def add_batch_axis_tangent(t, t_dot):
    return t_dot[:, None]


@linear(rt.add_batch_axis, "t")
def add_batch_axis_adjoint(y_bar, t):
    return y_bar[:, 0]


@linear(rt.astype, "x")
def astype_adjoint(y_bar, x, dtype):
    return rt.astype(y_bar, x.dtype)


@tangent_rule(np.swapaxes)
def swapaxes_tangent(x, axis1, axis2, x_dot):
    return np.swapaxes(x_dot, batched_axis(axis1, x.ndim), batched_axis(axis2, x.ndim))


@linear(np.swapaxes, "x")
def swapaxes_adjoint(y_bar, x, axis1, axis2):
    return np.swapaxes(y_bar, batched_axis(axis1, x.ndim), batched_axis(axis2, x.ndim))


SINGULAR.update(
    {
        np.log2,
        math.log2,
        np.log10,
        math.log10,
        np.arccosh,
        math.acosh,
        np.arctanh,
        math.atanh,
        np.cbrt,
        np.hypot,
        math.hypot,
    }
)
SINGULAR.update(
    {
        np.sqrt,
        math.sqrt,
        np.log,
        math.log,
        np.log1p,
        math.log1p,
        np.arcsin,
        math.asin,
        np.arccos,
        math.acos,
        np.true_divide,
        np.reciprocal,
        np.power,
        math.pow,
        np.arctan2,
        math.atan2,
    }
)

PACKED.update({GETITEM: 1, rt.scatter: 2, rt.scatter_add: 3})
constant_operands(rt.sum_to, 1)
constant_operands(rt.linear_scan, 2)
constant_operands(rt.broadcast_like, 1)
UNIT_SAFE.update({COPY, rt.astype})
constant_operands(rt.scatter, 1)
constant_operands(rt.scatter_add, 2)
constant_operands(GETITEM, 1)

# --- constructors whose values come from an operand ---------------------------------------


def _float_result(y, name):
    if np.asarray(y.dummy).dtype.kind != "f":
        raise UnsupportedError(f"{name} with a differentiated value and a non-float dtype: not supported")


@tangent_rule(np.full)
def full_tangent(shape, fill_value, dtype=None, fill_value_dot=None, y=None):
    _float_result(y, "np.full")
    return rt.broadcast_like(lead_axes(fill_value_dot, y.ndim - fill_value.ndim), y)


@adjoint_rule(np.full, "fill_value")
def full_adjoint(y_bar, shape, fill_value, dtype=None):
    return unbroadcast(y_bar, fill_value)


@tangent_rule(np.full_like)
def full_like_tangent(a, fill_value, dtype=None, a_dot=None, fill_value_dot=None, y=None):
    # the values of ``a`` do not matter, only its shape: no a_dot term
    _float_result(y, "np.full_like")
    if fill_value_dot is None:
        return rt.zeros_batch(a_dot, y)
    return rt.broadcast_like(lead_axes(fill_value_dot, y.ndim - fill_value.ndim), y)


@adjoint_rule(np.full_like, "a")
def full_like_adjoint_a(y_bar, a, fill_value, dtype=None):
    return None  # a's values are never read


@adjoint_rule(np.full_like, "fill_value")
def full_like_adjoint(y_bar, a, fill_value, dtype=None):
    return unbroadcast(y_bar, fill_value)


@tangent_rule(np.arange)
def arange_tangent(start, stop=None, step=None, dtype=None, start_dot=None, stop_dot=None, step_dot=None, y=None):
    # y[k] = start + k * step; stop only decides how many (piecewise constant)
    _float_result(y, "np.arange")
    like = next(d for d in (start_dot, stop_dot, step_dot) if d is not None)
    terms = []
    if start_dot is not None and stop is not None:  # (np.arange(stop): 0, 1, 2 ...)
        terms.append(start_dot[:, None])
    if step_dot is not None and step is not None:
        terms.append(step_dot[:, None] * call(np.arange, y.shape[0]))
    if not terms:
        return rt.zeros_batch(like, y)
    total = terms[0] if len(terms) == 1 else terms[0] + terms[1]
    return rt.broadcast_like(total, y)


@adjoint_rule(np.arange, "start")
def arange_adjoint_start(y_bar, start, stop=None, step=None, dtype=None):
    if stop is None:
        return None
    return np.sum(y_bar, axis=1)


@adjoint_rule(np.arange, "stop")
def arange_adjoint_stop(y_bar, start, stop=None, step=None, dtype=None):
    return None


@adjoint_rule(np.arange, "step")
def arange_adjoint_step(y_bar, start, stop=None, step=None, dtype=None):
    return np.sum(y_bar * call(np.arange, y_bar.shape[1]), axis=1)


@elementwise(operator.add)
def operator_add_partials(a, b):
    # operator.add on numbers (tuples of shapes are concatenated by it too: never floats)
    return 1.0, 1.0


# --- non-differentiable ------------------------------------------------------------------
# ONLY functions that are piecewise constant in every operand (tests/test_rule_audit.py keeps
# this list against an explicit allow-list): a zero derivative anywhere else is a wrong number.

nondifferentiable(
    # shapes, sizes, counts, integer conversions
    np.shape,
    np.ndim,
    np.size,
    builtins.len,
    builtins.range,
    builtins.int,
    builtins.bool,
    # piecewise constant: rounding, signs, comparisons, logic, predicates, argmax
    np.argmax,
    np.argmin,
    np.floor,
    np.ceil,
    np.round,
    np.around,
    np.rint,
    np.trunc,
    np.sign,
    np.less,
    np.less_equal,
    np.greater,
    np.greater_equal,
    np.equal,
    np.not_equal,
    np.logical_and,
    np.logical_or,
    np.logical_not,
    np.isnan,
    np.isfinite,
    np.isinf,
    np.floor_divide,
    math.floor,
    math.ceil,
    # constructors from shapes alone (values never read)
    np.zeros,
    np.ones,
    np.empty,
    np.zeros_like,
    np.ones_like,
    np.empty_like,
    np.eye,
    np.identity,
    # runtime: seeds and zeros, guards, and the tape's initial fill (overwritten before it is read)
    rt.basis,
    rt.seed,
    rt.zeros_batch,
    rt.one,
    rt.new_tape,
    rt.check_diag,
    rt.check_no_unit_dims,
    rt.require_size,
    rt.require_at_least,
    rt.require_unit_axes,
)


# rt.prod_others is NOT non-differentiable (it depends on x): a second derivative through
# np.prod is refused (naming the user's line) instead of dropping the d(prod_others) term.
def _prod_second_order(*args, **kwargs):
    raise UnsupportedError(
        "second derivatives through np.prod: not supported yet; write the product as "
        "np.exp(np.sum(np.log(x))) for positive x, or as a loop"
    )


@tangent_rule(rt.prod_others)
def prod_others_tangent(x, x_dot):
    _prod_second_order()


@adjoint_rule(rt.prod_others, "x")
def prod_others_adjoint(y_bar, x):
    _prod_second_order()
