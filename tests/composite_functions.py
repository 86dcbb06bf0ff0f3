"""User-style functions for tests/test_composites.py (s2sad reads their source)."""

import numpy as np


def standardize_loop(x, n):
    # a composite (np.std, keepdims) in a loop that reassigns its operand
    for _ in range(n):
        x = (x - np.mean(x, axis=0, keepdims=True)) / np.std(x, axis=0, keepdims=True) + 0.1 * x
    return np.sum(x * x * x)


def var_in_branch(x, flag):
    if flag > 0:
        v = np.var(x, axis=1, ddof=1)
    else:
        v = x.std(axis=0)
    return np.sum(v * v)


def keepdims_variable(x, keep):
    return np.sum(x, axis=0, keepdims=keep)


def sum_with_dtype(x):
    return np.sum(x, axis=0, dtype=np.float32)


def var_3d_tuple_axis(x):
    return np.var(x, axis=(0, 2))


def moments(x):
    """An op defined in tests/test_composites.py by a composite returning two results."""
    return np.mean(x), np.var(x)


def uses_moments(x):
    m, v = moments(x)
    return m * v + v


def asarray_argument(x):
    x = np.asarray(x)
    return np.sum(np.sin(x) * x)


def asarray_float_dtype(x):
    y = np.asarray(x, dtype=float)
    z = np.zeros(x.shape, dtype=float)
    z[0] = y[0] * y[-1]
    return np.sum(z + np.cos(y))


def asarray_of_a_list(x):
    y = np.asarray([x[0], x[1] * 2.0, x[0] * x[1]])
    return np.sum(y ** 3)


def asarray_float32(x):
    return np.asarray(x, dtype=np.float32) * 2.0


def asarray_then_write(x):
    y = np.asarray(x)
    y[0] = y[0] * y[1]
    return np.sum(x)


def asarray_copy_then_write(x):
    y = np.asarray(x).copy()
    y[0] = y[0] * y[1]
    return np.sum(x * y)


def trapezoid_samples(y, t):
    return np.trapezoid(np.sin(y) * y, t)


def polyval_fit(p, x):
    return np.sum((np.polyval(p, x) - np.cos(x)) ** 2)


def grid_energy(x, y, A):
    X, Y = np.meshgrid(x, y)
    return np.nanmean(np.sin(X) * Y) + np.sum(np.linalg.matrix_power(A, -2)) + np.vdot(x, x) \
        + np.sum(np.linalg.multi_dot([A, A, A])) + np.nansum(np.logspace(x[0], y[0], 3)) \
        + np.sum(np.interp(x * 0.9, np.linspace(-1.0, 1.0, 4), y) ** 2)
