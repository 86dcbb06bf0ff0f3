"""User-style functions for the vmap tests (kept apart from the assertions)."""

import math

import numpy as np

GAIN = 1.5


def predict(weight, bias, x):
    return np.tanh(weight @ x + bias)


def scalar_fn(x, y):
    return x * x * y + math.sin(y)


def scalar_fn_grad(x, y):
    """The hand-written gradient of scalar_fn."""
    return 2.0 * x * y, x * x + np.cos(y)


def mixed(x, y):
    return np.exp(-x) * np.tanh(y) / (1.0 + x**2)


def loss(w, x, target):
    """Squared error of a linear model: a scalar per sample."""
    r = np.dot(w, x) - target
    return 0.5 * r * r


def scaled_sin(x):
    return GAIN * np.sin(x)


def two_outputs(x, y):
    return x * y, np.sin(x) + y


def branchy(x):
    if x > 0.0:
        return x * x
    return -x


def counted(x, n):
    acc = x
    for k in range(n):
        acc = acc * x
    return acc


def sorts(x):
    return np.sum(np.sort(x) * x)


def write_through_alias(x):
    """A write through a second name for the same array: NumPy changes x too."""
    y = x
    y[0] = 2.0 * y[0]
    return np.sin(x)


def write_through_view(x):
    v = x[1:]
    v[0] = v[0] * v[1]
    return np.cos(x) * 2.0


def reductions(x):
    """Reductions and scans of a small per-sample matrix."""
    m = np.mean(x, axis=0)
    p = np.prod(x, axis=1)
    c = np.cumsum(np.swapaxes(x, 0, 1), axis=0)
    return np.sum(m * m) + np.sum(np.sin(p)) + np.sum(c * c)


def write_into_argument(x):
    x[0] = x[0] * x[1]
    return np.sin(x)
