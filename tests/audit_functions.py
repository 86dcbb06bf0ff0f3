"""User-style functions for the rule audit (tests/test_rule_audit.py).

Factories make one function per rule-table op (the op is a closure variable: s2sad resolves
the call to the function object); ops whose derivative depends on a constant operand (an
axis, a shape) get a function of their own, since closure values are runtime values.
``total1``/``total2``/``total3`` wrap any of them in a scalar, for the Hessian of a scalar.
"""

import math
import operator

import numpy as np


def unary(op):
    def f(x):
        return op(x)

    f.__name__ = f"{getattr(op, '__name__', 'op')}_"
    return f


def binary(op):
    def f(a, b):
        return op(a, b)

    f.__name__ = f"{getattr(op, '__name__', 'op')}_"
    return f


def total1(g):
    def s(x):
        y = g(x)
        t = np.sum(y)
        return t * t + t

    s.__name__ = f"total_{g.__name__}"
    return s


def total2(g):
    def s(a, b):
        y = g(a, b)
        t = np.sum(y)
        return t * t + t

    s.__name__ = f"total_{g.__name__}"
    return s


def total3(g):
    def s(a, b, c):
        y = g(a, b, c)
        t = np.sum(y)
        return t * t + t

    s.__name__ = f"total_{g.__name__}"
    return s


# --- selections ---------------------------------------------------------------------------


def where_cmp(a, b):
    return np.where(a > b, a * b, b - a)


def where_scalar_branch(x, c):
    return np.where(x > 0.0, np.sin(x), c)


def where_sqrt(x):
    return np.where(x > 0, np.sqrt(x), 0.0)


def where_log(x):
    return np.where(x > 0, np.log(x), x)


def maximum_sqrt(x):
    return np.maximum(np.sqrt(x), 0.5)


def clip_(x, lo, hi):
    return np.clip(x, lo, hi)


def clip_const(x):
    return np.clip(x, -0.3, 0.4)


def builtin_max(a, b):
    return max(a, b)


def builtin_min(a, b):
    return min(a, b)


def remainder_op(a, b):
    return a % b


def math_fmod(a, b):
    return math.fmod(a, b)


def math_pow(a, b):
    return math.pow(a, b)


def math_atan2(a, b):
    return math.atan2(a, b)


def operator_add(a, b):
    return operator.add(a, b)


# --- reductions ---------------------------------------------------------------------------


def sum_all(x):
    return np.sum(x)


def sum_0(x):
    return np.sum(x, axis=0)


def sum_last(x):
    return np.sum(x, axis=-1)


def sum_02(x):
    return np.sum(x, axis=(0, 2))


def mean_all(x):
    return np.mean(x)


def mean_0(x):
    return np.mean(x, axis=0)


def mean_last(x):
    return np.mean(x, axis=-1)


def sum_keep(x):
    return np.sum(x, axis=-1, keepdims=True)


def mean_keep_02(x):
    return np.mean(x, axis=(0, 2), keepdims=True)


def max_keep_all(x):
    return np.max(x, keepdims=True)


def var_all(x):
    return np.var(x)


def var_0_keep(x):
    return np.var(x, axis=0, keepdims=True)


def std_ddof_last(x):
    return np.std(x, axis=-1, ddof=1)


def max_all(x):
    return np.max(x)


def max_0(x):
    return np.max(x, axis=0)


def min_last(x):
    return np.min(x, axis=-1)


def amax_all(x):
    return np.amax(x)


def amin_0(x):
    return np.amin(x, axis=0)


def prod_all(x):
    return np.prod(x)


def prod_0(x):
    return np.prod(x, axis=0)


def cumsum_all(x):
    return np.cumsum(x)


def cumsum_0(x):
    return np.cumsum(x, axis=0)


def norm_all(x):
    return np.linalg.norm(x)


def trace_(x):
    return np.trace(x)


# --- linear algebra -----------------------------------------------------------------------


def dot_(a, b):
    return np.dot(a, b)


def inner_(a, b):
    return np.inner(a, b)


def matmul_(a, b):
    return a @ b


def np_matmul(a, b):
    return np.matmul(a, b)


def outer_(a, b):
    return np.outer(a, b)


def dot_method(a, b):
    return a.dot(b)


# --- shape --------------------------------------------------------------------------------


def transpose_(x):
    return np.transpose(x)


def transpose_axes(x):
    return np.transpose(x, (1, 2, 0))


def T_(x):
    return x.T


def reshape_flat(x):
    return np.reshape(x, (-1,))


def reshape_2(x):
    return x.reshape(2, -1)


def ravel_(x):
    return np.ravel(x)


def expand_first(x):
    return np.expand_dims(x, 0)


def expand_last(x):
    return np.expand_dims(x, -1)


def squeeze_0(x):
    return np.squeeze(x, axis=0)


def broadcast_to_(x):
    return np.broadcast_to(x, (2, 3, 4))


def copy_(x):
    return np.copy(x)


def contiguous_(x):
    return np.ascontiguousarray(x)


def swapaxes_(x):
    return np.swapaxes(x, 0, -1)


def astype_(x):
    return x.astype(np.float64)


def concatenate_0(a, b):
    return np.concatenate((a, b))


def concatenate_1(a, b):
    return np.concatenate((a, b), axis=1)


def concatenate_neg(a, b):
    return np.concatenate([a, b], axis=-1)


def concatenate_none(a, b):
    return np.concatenate((a, b), axis=None)


def stack_0(a, b):
    return np.stack((a, b))


def stack_1(a, b):
    return np.stack((a, b, a), axis=1)


def stack_neg(a, b):
    return np.stack([a, b], axis=-1)


def array_of(a, b):
    return np.array([a, b])


def getitem_int(x):
    return x[1]


def getitem_slice(x):
    return x[1:]


def getitem_none(x):
    return x[None, ::2]


def getitem_last(x):
    return x[..., -1]


def getitem_fancy(x):
    return x[np.array([0, 1, 1])]


# --- constructors and conversions ---------------------------------------------------------


def full_(x):
    return np.full(3, x) * 2.0


def full_shape(x):
    return np.full((2, 3), x)


def full_like_(x):
    return np.full_like(x, np.sum(x)) * x


def arange_start(x):
    return np.arange(x, x + 2.5)


def arange_step(a, s):
    return np.arange(a, a + 3.0, s)


def float_of(x):
    return float(x) * 3.0


def int_of(x):
    return int(x * 4.0) * x


def max_of_sqrt(x):
    return np.max(np.sqrt(x))


def arange_stop(x):
    return np.arange(0.5, x + 3.0) * x


def arange_one(x):
    return np.arange(x + 3.0) * x


def full_row(v):
    return np.full((2, 3), v)


# --- issue 17: statistics, running reductions, more elementwise functions --------------------


def cumprod_all(x):
    return np.cumprod(x)


def cumprod_0(x):
    return np.cumprod(x, axis=0)


def cumprod_last(x):
    return np.cumprod(x, axis=-1)


def cumsum_last(x):
    return np.cumsum(x, axis=-1)


def prod_last(x):
    return np.prod(x, axis=-1)


def diff_last(x):
    return np.diff(x)


def diff_0_n2(x):
    return np.diff(x, n=2, axis=0)


def ptp_all(x):
    return np.ptp(x)


def ptp_0(x):
    return np.ptp(x, axis=0)


def average_all(x):
    return np.average(x)


def average_weights(x, w):
    return np.average(x, axis=-1, weights=w)


def trace_offset(x):
    return np.trace(x, offset=1)


def clip_upper(x):
    return np.clip(x, None, 0.2)


def clip_keywords(x, lo):
    return np.clip(x, a_min=lo, a_max=None)


def math_radians(x):
    return math.radians(x) * math.degrees(x)


def math_hypot(a, b):
    return math.hypot(a, b)
# --- shape and construction functions (rules/shape_rules.py, issue 17) ------------------------
AUDIT_MASK = np.array([[True, False, True], [False, False, True]])


def hstack_(a, b):
    return np.hstack((a, b))


def vstack_(a, b):
    return np.vstack([a, b])


def row_stack_(a, b):
    return np.row_stack((a, b))


def column_stack_(a, b):
    return np.column_stack((a, b))


def dstack_(a, b):
    return np.dstack((a, b))


def atleast_1d_(x):
    return np.atleast_1d(x)


def atleast_2d_(x):
    return np.atleast_2d(x)


def atleast_3d_(x):
    return np.atleast_3d(x)


def append_(a, b):
    return np.append(a, b)


def moveaxis_(x):
    return np.moveaxis(x, -1, 0)


def rollaxis_(x):
    return np.rollaxis(x, 1)


def flip_(x):
    return np.flip(x)


def flip_1(x):
    return np.flip(x, 1)


def fliplr_(x):
    return np.fliplr(x)


def flipud_(x):
    return np.flipud(x)


def rot90_(x):
    return np.rot90(x, 3)


def roll_(x):
    return np.roll(x, 2)


def roll_0(x):
    return np.roll(x, -1, axis=0)


def repeat_(x):
    return np.repeat(x, 2)


def repeat_1(x):
    return np.repeat(x, 2, axis=1)


def tile_(x):
    return np.tile(x, (2, 2))


def pad_(x, c):
    return np.pad(x, 1, constant_values=c)


def diag_(x):
    return np.diag(x, 1)


def diagonal_(x):
    return np.diagonal(x, 0, 1, 2)


def tril_(x):
    return np.tril(x)


def triu_(x):
    return np.triu(x, -1)


def kron_(a, b):
    return np.kron(a, b)


def tensordot_(a, b):
    return np.tensordot(a, b, axes=1)


def einsum_(a, b):
    return np.einsum("ij,jk->ik", a, b)


def einsum_diag(x):
    return np.einsum("ii->i", x)


def cross_(a, b):
    return np.cross(a, b)


def partition_(x):
    return np.partition(x, 1)


def sort_(x):
    return np.sort(x)


def select_(a, b):
    return np.select([AUDIT_MASK, a > 0.0], [a, b], 0.5)


def linspace_(a, b):
    return np.linspace(a, b, 4)


def split_(x):
    p, q = np.split(x, 2, axis=-1)
    return p * q


def array_split_(x):
    p, q = np.array_split(x, 2)
    return p[:1] * q[:1]


def hsplit_(x):
    p, q = np.hsplit(x, [1])
    return p * q


def vsplit_(x):
    p, q = np.vsplit(x, 2)
    return p - q * p


def dsplit_(x):
    p, q = np.dsplit(x, 2)
    return p * q


def take_(x):
    return np.take(x, [2, 0, 2], axis=-1)


def asarray_(x):
    return np.asarray(x) * x


def asanyarray_float(x):
    return np.sin(np.asanyarray(x, dtype=float))


def trapezoid_last(x):
    return np.trapezoid(x)


def polyval_points(x):
    return np.polyval([0.5, -1.0, 2.0], x)


def nansum_(x):
    # (NaN multiplied before the NaN-skipping sum would give a NaN derivative, as in JAX: the
    # product's adjoint is 0 * NaN)
    return np.nansum(np.sin(np.where(x > 0.9, np.nan, x)))


def nanmean_0(x):
    return np.nanmean(np.where(x > 0.9, np.nan, x), axis=0)


def vdot_(a, b):
    return np.vdot(a, b)


def multi_dot_(a, b):
    return np.linalg.multi_dot([a, b, a.T])


def matrix_power_3(a):
    return np.linalg.matrix_power(a, 3)


def logspace_(a):
    return np.logspace(a, a * 2.0, 4)


def meshgrid_(a, b):
    X, Y = np.meshgrid(a, b)
    return X * np.sin(Y)


def interp_(x, fp):
    return np.interp(x, np.linspace(-1.1, 1.1, 5), fp)
