"""Loops over small arrays: what the numba backend's scalarize pass turns into scalar code.
Each exercises one hazard of value-for-reference and element-for-array substitution."""

import numpy as np


def swap_in_loop(x, n):
    """Elements move between positions (a parallel assignment: y[0] <- y[1], y[1] <- y[0])."""
    y = x.copy()
    for _ in range(n):
        y = 0.9 * y[::-1] + 0.1 * np.sin(y)
    return y


def writes_in_place(x, n):
    """In-place writes at constant indices into an array the function created."""
    y = np.zeros(3)
    for _ in range(n):
        y[0] = 0.5 * y[1] + x[0]
        y[1] = np.sin(y[2]) * x[1]
        y[2] = 0.3 * y[0] + x[2] * x[0]
    return y


def branches_in_loop(x, n):
    """A small state changed differently on each side of a data-dependent branch."""
    s = x
    for _ in range(n):
        if s[0] > 0.0:
            s = 0.5 * np.sin(s) + 0.2 * np.cos(x)
        else:
            s = -0.7 * s[::-1] * s + x * x
    return s


def newton_2d(a):
    """Newton's method for x**3 = a, elementwise on a 2-vector, stopping on the residual."""
    x = np.ones(2) + 0.5 * a
    r = x * x * x - a
    while np.abs(r[0]) + np.abs(r[1]) > 1e-13:
        x = x - r / (3.0 * x * x)
        r = x * x * x - a
    return x


def parts_and_sums(x, n):
    """Slices, concatenation, reductions and a matrix product on a small state."""
    A = np.outer(x, x) * 0.1
    y = x
    for _ in range(n):
        head = y[:2]
        y = np.concatenate((np.tanh(head), A @ y - np.sum(y) * 0.05))[: x.shape[0]]
    return y


def scalar_and_array(x, n):
    """A Python float accumulator beside a small array state."""
    total = 0.0
    v = x * 1.0
    for i in range(n):
        total = total + np.sum(v * v) * (i + 1)
        v = np.tanh(v) * 0.9
    return total
