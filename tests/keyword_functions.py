"""User-style functions for tests/test_keywords.py: NumPy calls spelled with keywords."""

import numpy as np


def sum_a(x):
    return np.sum(a=x)


def dot_ab(x):
    return np.dot(a=x, b=x.T)


def transpose_axes(x):
    return np.transpose(x, axes=(1, 0)) * x.T


def norm_x(x):
    return np.linalg.norm(x=x)


def mean_keep(x):
    return np.mean(x, axis=1, keepdims=True) * x


def sum_where(x):
    return np.sum(x, axis=0, where=x > 0)
