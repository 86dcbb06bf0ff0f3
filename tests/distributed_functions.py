"""Functions for tests/test_distributed.py: module-level, so pickle and worker processes
find them by name."""

import numpy as np


def model(x, weight, bias):
    return np.tanh(weight @ x + bias)


def loss(x, weight, bias):
    r = model(x, weight, bias)
    return 0.5 * np.sum(r * r)


def loss_grad(x, weight, bias):
    """The closed form of grad(loss) w.r.t. x."""
    t = np.tanh(weight @ x + bias)
    return weight.T @ (t * (1.0 - t * t))


def make_family(k):
    """Eight different functions for the threads test (each new to the process)."""

    def f(x):
        y = x
        for _ in range(k + 1):
            y = np.sin(y) * (1.0 + 0.1 * k)
        return np.sum(y * y)

    return f


def f0(x):
    return np.sum(np.sin(x) * 1.0)


def f1(x):
    return np.sum(np.sin(x) * 2.0)


def f2(x):
    return np.sum(np.cos(x) * 3.0)


def f3(x):
    return np.sum(np.exp(0.1 * x) * 4.0)


def f4(x):
    return np.sum(np.tanh(x) * 5.0)


def f5(x):
    return np.sum(x * x * 6.0)


def f6(x):
    return np.sum(np.sinh(0.1 * x) * 7.0)


def f7(x):
    return np.sum(np.arctan(x) * 8.0)


FAMILY = [f0, f1, f2, f3, f4, f5, f6, f7]
DERIVATIVES = [
    lambda x: np.cos(x) * 1.0, lambda x: np.cos(x) * 2.0, lambda x: -np.sin(x) * 3.0,
    lambda x: 0.4 * np.exp(0.1 * x), lambda x: 5.0 * (1.0 - np.tanh(x) ** 2), lambda x: 12.0 * x,
    lambda x: 0.7 * np.cosh(0.1 * x), lambda x: 8.0 / (1.0 + x * x),
]


def call(g, *args):
    """Run a (pickled) transformation in a worker."""
    return g(*args)
