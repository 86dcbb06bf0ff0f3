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


def huber_loop(x, delta):
    total = 0.0
    for i in range(x.shape[0]):
        r = x[i]
        if abs(r) <= delta:
            total = total + 0.5 * r * r
        else:
            total = total + delta * (abs(r) - 0.5 * delta)
    return total


def recurrence(x, a):
    y = np.zeros(x.shape[0])
    y[0] = x[0]
    for i in range(1, x.shape[0]):
        y[i] = a * y[i - 1] + np.sin(x[i])
    return y


def matvec_loops(A, x):
    m, n = A.shape
    y = np.zeros(m)
    for i in range(m):
        s = 0.0
        for j in range(n):
            s = s + A[i, j] * x[j]
        y[i] = s
    return y


def newton_sqrt(a):
    x = a
    err = 1.0
    while err > 1e-12:
        x_new = 0.5 * (x + a / x)
        err = abs(x_new - x)
        x = x_new
    return x


def rk4(y0, p, h, steps):
    y = y0
    for k in range(steps):
        k1 = ode(y, p)
        k2 = ode(y + 0.5 * h * k1, p)
        k3 = ode(y + 0.5 * h * k2, p)
        k4 = ode(y + h * k3, p)
        y = y + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return y


def ode(y, p):
    return np.array([y[1], -p[0] * y[0] - p[1] * y[1], p[2] * y[0] - y[2], y[2] - y[3]])


def branch_on_value(x):
    if np.sum(x) > 0.0:
        y = np.sin(x) * 2.0
    else:
        y = np.cos(x)
    return y * x


GAIN = 1.5


def helper_square(v):
    v = v * v  # reassigns its parameter: must not clobber the caller's value
    return v


def helper_outer(a, b):
    return helper_square(a) + GAIN * np.sin(b), a * b


def calls_helpers(x, y):
    total = 0.0
    for i in range(x.shape[0]):
        s, p = helper_outer(x[i], y[i])
        total = total + s * p
    return total + np.sum(helper_square(x))


def recursive(x):
    return recursive(x)


def early_return(x):
    s = np.sum(x)
    if s > 0.0:
        return np.sin(x) * s
    y = np.cos(x)
    return y * s


def break_on_value(x):
    total = 0.0
    for i in range(x.shape[0]):
        if total > 1.5:
            break
        total = total + x[i] * x[i]
    return total * x[0]


def continue_and_enumerate(x, y):
    acc = 0.0
    for i, v in enumerate(x):
        if v < 0.0:
            continue
        acc = acc + v * y[i]
    for a, b in zip(x, y):
        acc = acc + np.sin(a) * b
    for row in np.outer(x, y):
        acc = acc + np.sum(row * row)
    return acc


def loop_energy(x, k):
    """A chain of springs with a nonlinear on-site term, summed in a loop."""
    e = 0.0
    for i in range(x.shape[0] - 1):
        d = x[i + 1] - x[i]
        e = e + 0.5 * k * d * d + 0.25 * d ** 4
    for i in range(x.shape[0]):
        if x[i] > 0.0:
            e = e + np.cosh(x[i])
        else:
            e = e + x[i] * x[i]
    return e


def uses_global_statement(x):
    global SCALE
    return x * SCALE


def star_args(*xs):
    return xs[0]


class Model:
    def energy(self, x):
        return np.sum(x * x)


def sum_cubes(x):
    return np.sum(x**3)


def has_class(x):
    class Inner:
        pass

    return x


def has_nested_def(x):
    def inner(y):
        return y

    return inner(x)


def has_comprehension(x):
    return np.array([v * 2.0 for v in x])


def returns_in_loop(x):
    for i in range(3):
        if x[i] > 0:
            return x * 2.0
    return x


def has_lambda_inside(x):
    f = lambda v: v * 2.0  # noqa: E731
    return f(x)


def has_generator_expression(x):
    return sum(v for v in x)


def while_break(x):
    y = x
    k = 0
    while k < 10:
        y = np.sin(y) + 0.5 * x
        if np.sum(y) > 2.0:
            break
        k = k + 1
    return y


def rank_changes_between_branches(x, y):
    if np.sum(y) > 0.0:
        w = x - y
    else:
        w = np.cos(y)
    return np.sum(w)


def strided_ranges(x, n):
    """Loops over range(start, stop, step) that read x at their index, forward and backward."""
    total = 0.0
    for i in range(1, x.shape[0], 2):
        total = total + np.sin(x[i]) * x[i - 1]
    for j in range(x.shape[0] - 1, 0, -3):
        total = total * 0.9 + x[j] ** 2
    for k in range(n):
        total = total + x[k] * k
    return total
