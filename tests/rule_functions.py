"""One small user-style function per derivative rule, for the spec table in test_rules.py.

s2sad reads source with inspect, so each function is a module-level def in a real file.
"""

import math
import operator

import numpy as np

# --- elementwise unary (numpy) ---


def sin_(x):
    return np.sin(x)


def cos_(x):
    return np.cos(x)


def tan_(x):
    return np.tan(x)


def exp_(x):
    return np.exp(x)


def log_(x):
    return np.log(x)


def log1p_(x):
    return np.log1p(x)


def expm1_(x):
    return np.expm1(x)


def sqrt_(x):
    return np.sqrt(x)


def tanh_(x):
    return np.tanh(x)


def sinh_(x):
    return np.sinh(x)


def cosh_(x):
    return np.cosh(x)


def arctan_(x):
    return np.arctan(x)


def arcsin_(x):
    return np.arcsin(x)


def arccos_(x):
    return np.arccos(x)


def abs_(x):
    return np.abs(x)


def absolute_(x):
    return np.absolute(x)


def negative_(x):
    return np.negative(x)


def unary_minus(x):
    return -x


def positive_(x):
    return np.positive(x)


def square_(x):
    return np.square(x)


def reciprocal_(x):
    return np.reciprocal(x)


# --- elementwise unary (math / builtins), scalar only ---


def math_sin(x):
    return math.sin(x)


def math_cos(x):
    return math.cos(x)


def math_tan(x):
    return math.tan(x)


def math_exp(x):
    return math.exp(x)


def math_log(x):
    return math.log(x)


def math_log1p(x):
    return math.log1p(x)


def math_expm1(x):
    return math.expm1(x)


def math_sqrt(x):
    return math.sqrt(x)


def math_tanh(x):
    return math.tanh(x)


def math_sinh(x):
    return math.sinh(x)


def math_cosh(x):
    return math.cosh(x)


def math_atan(x):
    return math.atan(x)


def math_asin(x):
    return math.asin(x)


def math_acos(x):
    return math.acos(x)


def math_fabs(x):
    return math.fabs(x)


def builtin_abs(x):
    return abs(x)


def builtin_float(x):
    return float(x)


def math_pow(a, b):
    return math.pow(a, b)


def math_atan2(a, b):
    return math.atan2(a, b)


def builtin_max(a, b):
    return max(a, b)


def builtin_min(a, b):
    return min(a, b)


# --- elementwise binary ---


def add_op(a, b):
    return a + b


def np_add(a, b):
    return np.add(a, b)


def sub_op(a, b):
    return a - b


def np_subtract(a, b):
    return np.subtract(a, b)


def mul_op(a, b):
    return a * b


def np_multiply(a, b):
    return np.multiply(a, b)


def div_op(a, b):
    return a / b


def np_divide(a, b):
    return np.divide(a, b)


def pow_op(a, b):
    return a**b


def pow_const(x):
    return x**3.0


def np_power(a, b):
    return np.power(a, b)


def maximum_(a, b):
    return np.maximum(a, b)


def minimum_(a, b):
    return np.minimum(a, b)


def arctan2_(a, b):
    return np.arctan2(a, b)


def where_(a, b):
    return np.where(a > b, a * b, b - a)


def where_cond(x, mask):
    return np.where(mask, np.sin(x), x * x)


def clip_(x):
    return np.clip(x, -0.5, 0.5)


def clip_arrays(x, lo, hi):
    return np.clip(x, lo, hi)


def clip_method(x):
    return x.clip(-0.5, 0.5)


# --- reductions ---


def sum_all(x):
    return np.sum(x)


def sum_axis0(x):
    return np.sum(x, axis=0)


def sum_axis1(x):
    return np.sum(x, axis=1)


def sum_axis_neg(x):
    return np.sum(x, axis=-1)


def sum_axis_tuple(x):
    return np.sum(x, axis=(0, 2))


def sum_method_axis0(x):
    return x.sum(axis=0)


def sum_method(x):
    return x.sum()


def mean_all(x):
    return np.mean(x)


def mean_axis1(x):
    return np.mean(x, axis=1)


def mean_method(x):
    return x.mean(axis=0)


def max_all(x):
    return np.max(x)


def max_axis0(x):
    return np.max(x, axis=0)


def max_method(x):
    return x.max(axis=1)


def min_all(x):
    return np.min(x)


def min_axis1(x):
    return np.min(x, axis=1)


def amax_(x):
    return np.amax(x, axis=0)


def amin_(x):
    return np.amin(x)


def prod_all(x):
    return np.prod(x)


def prod_method(x):
    return x.prod()


def cumsum_1d(x):
    return np.cumsum(x)


def cumsum_method(x):
    return x.cumsum()


def norm_(x):
    return np.linalg.norm(x)


# --- linear algebra ---


def matmul_op(a, b):
    return a @ b


def np_matmul(a, b):
    return np.matmul(a, b)


def np_dot(a, b):
    return np.dot(a, b)


def dot_method(a, b):
    return a.dot(b)


def outer_(a, b):
    return np.outer(a, b)


def inner_(a, b):
    return np.inner(a, b)


def trace_(x):
    return np.trace(x)


def tanh_layer(W, b, x):
    return np.tanh(W @ x + b)


# --- shape ---


def transpose_(x):
    return np.transpose(x)


def transpose_axes(x):
    return np.transpose(x, (1, 2, 0))


def dot_T(x):
    return x.T * 2.0


def transpose_method(x):
    return x.transpose()


def reshape_(x):
    return np.reshape(x, (3, 4))


def reshape_method(x):
    return x.reshape((2, 6))


def reshape_method_args(x):
    return x.reshape(4, 3)


def reshape_flat(x):
    return np.reshape(x, -1)


def ravel_(x):
    return np.ravel(x)


def flatten_method(x):
    return x.flatten()


def expand_dims_(x):
    return np.expand_dims(x, 1)


def expand_dims_axes(x):
    # several new axes at once (a tuple axis crashed forward mode: axis % ndim on a tuple)
    return np.sin(np.expand_dims(x, axis=(0, 2)))


def squeeze_(x):
    return np.squeeze(x)


def ellipsis_reads(x):
    return np.sum(x[..., 1] ** 2) + np.sum(x[0, ...] * 3.0, axis=0) + np.sum(x[..., None, 1:] ** 3, axis=(0, 2, 3))


def squeeze_axis(x):
    return np.squeeze(x, axis=1)


def broadcast_to_(x):
    return np.broadcast_to(x, (3, 4))


def copy_(x):
    return np.copy(x)


def copy_method(x):
    return x.copy() * x


def ascontiguousarray_(x):
    return np.ascontiguousarray(x.T)


def alias_copy(x):
    y = x
    return y * 2.0


def astype_(x):
    return x.astype("float64") * 3.0


def swapaxes_(x):
    return np.swapaxes(x, 0, 2)


def concatenate_(a, b):
    return np.concatenate((a, b))


def concatenate_axis1(a, b):
    return np.concatenate([a, b], axis=1)


def concatenate_const(a):
    return np.concatenate((a, np.ones(2)))


def stack_(a, b):
    return np.stack((a, b))


def stack_axis1(a, b):
    return np.stack([a, b, a], axis=1)


# --- indexing ---


def getitem_int(x):
    return x[2]


def getitem_int_2d(x):
    return x[1, 2]


def getitem_slice(x):
    return x[1:-1]


def getitem_step(x):
    return x[::2] * x[1::2]


def getitem_slice_2d(x):
    return x[1:, :2]


def getitem_none(x):
    return x[None, :] * x[:, None]


def getitem_row(x):
    return x[1]


def getitem_fancy(x, idx):
    return x[idx]


def getitem_fancy_2d(x, idx):
    return x[idx, 1:]


def gather_broadcast(y, x, index):
    return y[index] * x


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2.0) ** 2.0 + (1 - x[:-1]) ** 2.0)


# --- second order ---


def sum_sin_x(x):
    return np.sum(np.sin(x) * x)


def sum_tanh_layer(W, b, x):
    return np.sum(np.tanh(W @ x + b))


def sum_gather_sq(x, idx):
    return np.sum(x[idx] ** 2)


def loop_gather_cube(x):
    total = 0.0
    for i in range(1, x.shape[0]):
        total += x[i] * x[i] * x[i - 1]
    return total


def colsum_sq(x):
    return np.sum(x.sum(axis=0) ** 2)


def sum_cumsum_sq(x):
    return np.sum(np.cumsum(x) ** 2)


def sum_matmul_sq(A, B):
    return np.sum((A @ B) ** 2)


def sum_broadcast_sq(x, b):
    return np.sum((x + b) ** 3)


def prod_sq(x):
    return np.prod(x) ** 2


def tanh_vec(W, b, x):
    return np.tanh(W @ x + b)


def array_of_scalars(x):
    return np.array([x[0] * 2.0, np.sin(x[1]), 0.5])


def array_of_arrays(x, y):
    return np.array([x, y * 2.0])


# --- issue 16: remainder, constructors from values, selections ---


def mod_op(a, b):
    return a % b


def np_mod(a, b):
    return np.mod(a, b)


def np_fmod(a, b):
    return np.fmod(a, b)


def math_fmod(a, b):
    return math.fmod(a, b)


def full_(x):
    return np.full(4, x[0]) * x


def full_2d(v):
    return np.full((2, 3), v)


def full_like_(x):
    return np.full_like(x, x[1]) * x


def arange_start(x):
    return np.arange(x[0], x[0] + 2.5) * x[1]


def arange_step(a, s):
    return np.arange(a, a + 3.0, s)


def operator_add(a, b):
    return operator.add(a, b)


def where_sqrt(x):
    return np.where(x > 0, np.sqrt(x), 0.0)


def maximum_sqrt(x):
    return np.maximum(np.sqrt(np.abs(x)), 0.5)


def sum_sqrt_where(x):
    return np.sum(np.where(x > 0.5, np.sqrt(x), x) * x)


def norm_of_scalar(x):
    return np.linalg.norm(x) * 2.0  # (Numba has no np.linalg.norm of a number: a compile failure)
