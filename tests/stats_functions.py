"""User-style functions for tests/test_rules_stats.py (issue 17: statistics, reductions and
elementwise functions). s2sad reads their source, so each spelling (keywords, methods, None
bounds) is a function of its own."""

import math

import numpy as np

# --- elementwise ------------------------------------------------------------------------


def log2_(x):
    return np.log2(x)


def log10_(x):
    return np.log10(x)


def exp2_(x):
    return np.exp2(x)


def arcsinh_(x):
    return np.arcsinh(x)


def arccosh_(x):
    return np.arccosh(x)


def arctanh_(x):
    return np.arctanh(x)


def cbrt_(x):
    return np.cbrt(x)


def fabs_(x):
    return np.fabs(x)


def deg2rad_(x):
    return np.deg2rad(x)


def radians_(x):
    return np.radians(x)


def rad2deg_(x):
    return np.rad2deg(x)


def degrees_(x):
    return np.degrees(x)


def sinc_(x):
    return np.sinc(x)


def sum_sinc(x):
    return np.sum(np.sinc(x))


def hypot_(a, b):
    return np.hypot(a, b)


def fmax_(a, b):
    return np.fmax(a, b)


def fmin_(a, b):
    return np.fmin(a, b)


def logaddexp_(a, b):
    return np.logaddexp(a, b)


def logaddexp2_(a, b):
    return np.logaddexp2(a, b)


def math_scalars(x, y):
    return (math.log2(x) + math.log10(x) + math.asinh(y) + math.acosh(x + 1.5) + math.atanh(y * 0.5)
            + math.radians(y) * math.degrees(x) + math.hypot(x, y))


def rounding_mix(x):
    # np.sign, np.floor, np.ceil, np.round: piecewise constant (zero derivative) factors
    return x * np.floor(x * 3.0) + x * x * np.ceil(x) - np.sign(x) * x + np.round(x * 2.0) * x + np.around(x, 1) * x


# --- clip ---------------------------------------------------------------------------------


def clip_upper_only(x):
    return np.clip(x, None, 0.3)


def clip_lower_kw_none(x):
    return np.clip(x, a_min=-0.2, a_max=None)


def clip_keywords(x, lo, hi):
    return np.clip(x, a_min=lo, a_max=hi)


def clip_min_max(x):
    return np.clip(x, min=-0.4, max=0.25)


def clip_method_keywords(x):
    return x.clip(min=-0.3, max=0.35)  # (ndarray.clip takes no a_min=)


def clip_method_min(x, lo):
    return x.clip(min=lo)


# --- trace --------------------------------------------------------------------------------


def trace_offset(x):
    return np.trace(x, offset=1)


def trace_negative_offset(x):
    return np.trace(x, -1)


def trace_axes(x):
    return np.trace(x, axis1=1, axis2=2)


def trace_method(x):
    return x.trace(offset=1, axis1=0, axis2=2)


# --- running sums and products ----------------------------------------------------------


def cumsum_flat(x):
    return np.cumsum(x)


def cumsum_0(x):
    return np.cumsum(x, axis=0)


def cumsum_1(x):
    return np.cumsum(x, 1)


def cumsum_last(x):
    return np.cumsum(x, axis=-1)


def cumsum_method(x):
    return x.cumsum(axis=1)


def cumprod_flat(x):
    return np.cumprod(x)


def cumprod_0(x):
    return np.cumprod(x, axis=0)


def cumprod_1(x):
    return np.cumprod(x, axis=1)


def cumprod_last(x):
    return np.cumprod(x, axis=-1)


def cumprod_method(x):
    return x.cumprod(axis=0)


def prod_all(x):
    return np.prod(x)


def prod_0(x):
    return np.prod(x, axis=0)


def prod_1(x):
    return np.prod(x, 1)


def prod_last(x):
    return np.prod(x, axis=-1)


def prod_keepdims(x):
    return np.prod(x, axis=1, keepdims=True)


def prod_axes(x):
    return np.prod(x, axis=(0, 2))


def prod_method(x):
    return x.prod(axis=0)


def diff_(x):
    return np.diff(x)


def diff_n2_0(x):
    return np.diff(x, n=2, axis=0)


def diff_1(x):
    return np.diff(x, axis=1)


def ptp_all(x):
    return np.ptp(x)


def ptp_1(x):
    return np.ptp(x, axis=1)


# --- averages -----------------------------------------------------------------------------


def average_all(x):
    return np.average(x)


def average_1(x):
    return np.average(x, axis=1)


def average_weights(x, w):
    return np.average(x, axis=0, weights=w)


def average_weights_1d(x, w):
    return np.average(x, axis=1, weights=w)


def average_weights_all(x, w):
    return np.average(x, weights=w)


def average_constant_weights(x):
    return np.average(x, axis=0, weights=[1.0, 2.0, 3.0, 0.5])


def average_keepdims(x, w):
    return np.average(x, axis=-1, weights=w, keepdims=True)


def running_mix(x, w):
    return np.average(np.cumsum(x, axis=0), axis=1, weights=w)


def mean_keepdims_method(x):
    return x.mean(axis=1, keepdims=True)


# --- user-style compositions --------------------------------------------------------------


def soft_maximum_bits(x):
    # a smooth maximum of each row's first two entries, in bits
    return np.logaddexp2(x[..., 0], x[..., 1]) - np.log2(np.hypot(x[..., 0], 1.0))


def geometric_mean_rows(x):
    return np.prod(x, axis=1) ** (1.0 / x.shape[1])


def returns_compounded(r):
    return np.cumprod(1.0 + r, axis=0)[-1]


def average_returned(x, w):
    return np.average(x, weights=w, returned=True)


def diff_prepend(x):
    return np.diff(x, prepend=0.0)


# --- refusals -------------------------------------------------------------------------------


def cumprod_dtype(x):
    return np.cumprod(x, dtype=np.float32)


def cumsum_dtype(x):
    return np.cumsum(x, axis=1, dtype=np.float64)


def prod_axis_variable(x, k):
    return np.prod(x, axis=k)


def every_op(x, w):
    """One function with each elementwise function and reduction of issue 17 (numba smoke)."""
    p = x * x + 0.5
    e = (np.log2(p) + np.log10(p) + np.exp2(x) + np.arcsinh(x) + np.arccosh(p + 1.0) + np.arctanh(x * 0.5)
         + np.cbrt(p) + np.fabs(x) + np.deg2rad(x) + np.rad2deg(x) + np.radians(x) + np.degrees(x) + np.sinc(x))
    b = np.hypot(x, w) + np.fmax(x, w) + np.fmin(x, w) + np.logaddexp(x, w) + np.logaddexp2(x, w)
    c = np.clip(e, None, 2.0) + np.clip(b, a_min=-1.0, a_max=None) + np.clip(x, min=-0.5, max=0.5)
    r = (np.sum(np.cumprod(p, axis=1)) + np.sum(np.cumprod(p)) + np.sum(np.cumsum(c, axis=0))
         + np.sum(np.prod(p, axis=0)) + np.sum(np.prod(p, axis=1, keepdims=True)) + np.sum(np.diff(c, axis=0))
         + np.sum(np.ptp(c, axis=1)) + np.sum(np.average(c, axis=1, weights=w)) + np.trace(c, offset=1)
         + np.sum(np.average(c)) + np.prod(p))
    return r + np.sum(c * e)
