"""Functions whose derivatives start from identity seeds that structure.py keeps diagonal."""

import numpy as np


def layer(W, b, x):
    return np.tanh(W @ x + b)


def elementwise_chain(x):
    y = x * 2.0
    z = y / 3.0 - x
    return -z * np.sin(x)


def matrix_times_square(A, x):
    return A @ (x * x) + x @ A.T


def scaled_columns(B, x):
    # x (n,) broadcast against B (k, l, n): the seed meets an operand of higher rank
    return np.sum(B * np.exp(x), axis=1)


def row_scaled(x, M):
    return (x[:, None] * M).sum(axis=1) + x


def three_slices(x):
    # the adjoint of x gets a contribution from each slice
    return np.sum(x[2:] * x[1:-1] - np.sin(x[:-2]) * x[1:-1] ** 2)
