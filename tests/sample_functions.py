"""User-style functions under test, kept apart from the assertions (numba's *_usecases.py)."""

import math

import numpy as np
import numpy as xp
from numpy import sin

SCALE = 2.5
OFFSET = np.linspace(-1.0, 1.0, 4)


def predict(weight, bias, x):
    return np.tanh(weight @ x + bias)


def worked_example(x1, x2):
    return np.log(x1) + x1 * x2 - np.sin(x2)


def rosen(x):
    """The Rosenbrock function as scipy documents it."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2.0) ** 2.0 + (1 - x[:-1]) ** 2.0)


def import_styles(x):
    return xp.sum(sin(x) * xp.exp(-x)) + math.sin(1.0)


def uses_globals(x):
    return SCALE * x + OFFSET


def make_closure(c):
    def scaled(x):
        return c * np.cos(x)

    return scaled


def gather_broadcast(y, x, index):
    return y[index] * x


def two_outputs(x, y):
    a = x * y
    b = np.sum(x**2) + y[0]
    return a, b


def reassigned(x):
    y = x * 2.0
    y = np.sin(y)
    x = x + y
    return x * y


def methods(x):
    n = x.shape[0]
    return x.reshape(n, 1).T.sum(axis=0) * x.mean() + x.dot(x)


def with_flag(x, scale):
    return x * scale


def sum_sin(x):
    return np.sum(np.sin(x))


def with_loop(x, n):
    y = x
    for i in range(n):
        y = np.sin(y) + x
    return y


def fills_array(x):
    y = np.zeros(x.shape[0])
    for i in range(x.shape[0]):
        y[i] = x[i] * x[i]
    return y


def has_try(x):
    try:
        y = x + 1
    except ValueError:
        y = x
    return y


def has_yield(x):
    yield x


def has_with(x):
    with open("f") as fh:
        y = x
    return y


def calls_unknown(x):
    return np.fft.fft(x)


def non_scalar(x):
    return x * 2.0


def anf_example(W, b, x):
    y = np.tanh(W @ x + b)
    y += 1.0
    n, m = W.shape
    return y.sum(axis=0) * n
