"""Shared compiled kernels for the array operators of generated code (numba backend).

Numba compiles an array operator (``a + b``, ``np.sin(x)`` on arrays) as a new loop kernel at
every place it is used, and LLVM then optimizes one ever larger function: derivative code of
a loop body with a hundred array operations took tens of seconds to compile. The numba
backend therefore spells each operator whose operand may be an array as a call to the one
kernel here (``nk.add(a, b)``), which Numba compiles once per type signature, caches on disk
(``cache=True``) and reuses in every generated function. Scalar operators stay inline.
Each kernel is named after the NumPy ufunc it computes (``codegen.KERNEL_UFUNCS`` lists them);
``transpose`` with an ``axes`` tuple is here too, as a view Numba compiles quickly.
"""

import numba
import numpy as np
from numba.extending import overload
from numba.np.unsafe.ndarray import to_fixed_tuple
from numpy.lib.stride_tricks import as_strided

jit = numba.njit(cache=True)


@jit
def add(a, b):
    return a + b


@jit
def subtract(a, b):
    return a - b


@jit
def multiply(a, b):
    return a * b


@jit
def divide(a, b):
    return a / b


@jit
def power(a, b):
    return a ** b


@jit
def floor_divide(a, b):
    return a // b


@jit
def remainder(a, b):
    return a % b


@jit
def less(a, b):
    return a < b


@jit
def less_equal(a, b):
    return a <= b


@jit
def greater(a, b):
    return a > b


@jit
def greater_equal(a, b):
    return a >= b


@jit
def equal(a, b):
    return a == b


@jit
def not_equal(a, b):
    return a != b


@jit
def maximum(a, b):
    return np.maximum(a, b)


@jit
def minimum(a, b):
    return np.minimum(a, b)


@jit
def arctan2(a, b):
    return np.arctan2(a, b)


@jit
def hypot(a, b):
    return np.hypot(a, b)


@jit
def logaddexp(a, b):
    return np.logaddexp(a, b)


@jit
def negative(a):
    return -a


@jit
def sin(a):
    return np.sin(a)


@jit
def cos(a):
    return np.cos(a)


@jit
def tan(a):
    return np.tan(a)


@jit
def arcsin(a):
    return np.arcsin(a)


@jit
def arccos(a):
    return np.arccos(a)


@jit
def arctan(a):
    return np.arctan(a)


@jit
def sinh(a):
    return np.sinh(a)


@jit
def cosh(a):
    return np.cosh(a)


@jit
def tanh(a):
    return np.tanh(a)


@jit
def arcsinh(a):
    return np.arcsinh(a)


@jit
def arccosh(a):
    return np.arccosh(a)


@jit
def arctanh(a):
    return np.arctanh(a)


@jit
def exp(a):
    return np.exp(a)


@jit
def exp2(a):
    return np.exp2(a)


@jit
def expm1(a):
    return np.expm1(a)


@jit
def log(a):
    return np.log(a)


@jit
def log2(a):
    return np.log2(a)


@jit
def log10(a):
    return np.log10(a)


@jit
def log1p(a):
    return np.log1p(a)


@jit
def sqrt(a):
    return np.sqrt(a)


@jit
def cbrt(a):
    return np.cbrt(a)


@jit
def absolute(a):
    return np.absolute(a)


@jit
def sign(a):
    return np.sign(a)


@jit
def square(a):
    return np.square(a)


@jit
def reciprocal(a):
    return np.reciprocal(a)


@jit
def floor(a):
    return np.floor(a)


@jit
def ceil(a):
    return np.ceil(a)


@jit
def trunc(a):
    return np.trunc(a)


@jit
def rint(a):
    return np.rint(a)


@jit
def isfinite(a):
    return np.isfinite(a)


@jit
def isnan(a):
    return np.isnan(a)


@jit
def isinf(a):
    return np.isinf(a)


@jit
def logical_not(a):
    return np.logical_not(a)


@jit
def where(c, a, b):
    return np.where(c, a, b)


def transpose(x, axes):
    """``np.transpose(x, axes)``: the same view, built from permuted shape and strides
    (Numba's own implementation with an ``axes`` tuple takes seconds to compile)."""
    return np.transpose(x, axes)


@overload(transpose, jit_options={"cache": True})
def _transpose_impl(x, axes):
    nd = x.ndim

    def impl(x, axes):
        shape = np.empty(nd, np.int64)
        strides = np.empty(nd, np.int64)
        for k in range(nd):
            shape[k] = x.shape[axes[k]]
            strides[k] = x.strides[axes[k]]
        return as_strided(x, to_fixed_tuple(shape, nd), to_fixed_tuple(strides, nd))
    return impl


@jit
def mean_axis(a, axis):
    """``np.mean(a, axis=axis)`` for one axis (Numba has ``np.mean`` without ``axis`` only)."""
    return np.sum(a, axis=axis) / a.shape[axis]
