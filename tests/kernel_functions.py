"""Functions for test_kernels.py (s2sad reads their source)."""

import numpy as np


def mean_axes(x):
    return np.sum(np.sin(np.mean(x, axis=-1))) * np.sum(np.mean(x, axis=0) ** 3)


def matrix_out(a, b):
    return np.tanh(a @ b) * a[:, :1]


def loop_power(x, s, n):
    for _ in range(n):
        s = s * x + 0.1
    return s



def extremes_along_axes(x):
    """np.max / np.min / np.amax along one axis of a 3-axis array, and of a 1-axis one."""
    return np.sum(np.max(np.sin(x), axis=1)[:, None, :] * np.min(x, axis=-1)[:, :, None]) + np.amax(x[0, 0], axis=0)
