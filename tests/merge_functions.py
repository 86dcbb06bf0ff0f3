"""Code people write that reassigns a variable across control flow: in a loop, in one arm of
a branch, in both, in a while loop, an int that becomes a float, a write into an argument.
Forward mode must carry each tangent across every join (forward.py's invariant)."""

import numpy as np


def square_three_times(a):
    for _ in range(3):
        a = a * a
    return a


def normalize_repeatedly(x):
    for _ in range(3):
        x = x / np.sqrt(np.sum(x * x)) + x
    return x


def halve_while_big(a):
    while np.abs(a) > 0.1:
        a = a * 0.5
    return a


def loop_n_times(x, n):
    for i in range(n):
        x = np.sin(x) * x
    return x


def update_in_both_arms(a, b):
    if a > b:
        a = a * a
    else:
        a = a * b
    return a


def update_in_one_arm(a, b):
    if a > b:
        a = a * a
    return a + b


def nested_if_chain(a, b):
    if a > 0:
        if b > 0:
            c = a * b
        else:
            c = a - b
    elif b > 1:
        c = a * 3.0
    else:
        c = b * 2.0
    return c * a


def starts_as_int(a, b):
    out = 1
    for i in range(3):
        out = out * a
    return out + b


def branch_in_loop_with_write(x):
    y = np.zeros(3)
    for i in range(3):
        if x[i] > 0:
            y[i] = x[i] * x[i]
            s = y[i]
        else:
            s = x[i]
        y = y + s
    return np.sum(y)


def swap_in_loop_with_break(a, b):
    for i in range(4):
        if i == 2:
            continue
        if a > 10.0:
            break
        b = b * a
        a = a + b
    return a * b


def read_previous_trip(x):
    for i in range(3):
        if i > 0:
            y = y * x + x
        else:
            y = x
    return y


def argument_written(x):
    x[0] = x[0] * x[1]
    return np.sum(x)


def argument_written_in_loop(x):
    for i in range(1, 3):
        x[i] = x[i - 1] * x[i]
    return np.sum(x * x)


def constant_argument_reassigned(x, c):
    for i in range(2):
        c = c * x
    return c


def while_updates_two(a, b):
    k = 0
    while k < 3 and a < 5.0:
        a, b = a + b * b, b * a
        k = k + 1
    return a - b


def tuple_kept_across_loop(a, b):
    p = (a, b)
    for i in range(2):
        a = a * b
        b = p[0] * a
    return a + b


def tuple_assigned_in_branch(x):
    p = (x, x * 2.0)
    if x[0] > 0:
        p = (x * 3.0, x)
    return p[0] * p[1]


def accumulate_slices(x):
    acc = np.zeros(2)
    for i in range(3):
        acc += x[i] * x[i:i + 2]
    return acc


def loop_over_rebound_array(x):
    for i, v in enumerate(x):  # Python iterates over the x the loop started with
        if v > 0:
            x = x * (1.0 + v)
    return x


def _shrink_until_below(v, lo):
    for _ in range(3):
        if v < lo:
            return lo * v
        v = v * 0.9
    return v


def helper_returns_in_loop(x):
    return _shrink_until_below(x[0], 0.2) + _shrink_until_below(x[1], 0.2) * x[2]


def _first_big_product(A, t):
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            if A[i, j] * t > 0.5:
                return A[i, j] * t, i
    return t, -1


def returns_from_nested_loops(A, t):
    value, row = _first_big_product(A, t)
    return value * t + row


def broadcast_writes(x, A):
    B = np.zeros((2, 3))
    B[0] = x
    B[1, :] = x[1]
    B[:, 1] = x[:2] * 2.0
    return B @ A


def broadcast_write_3d(x):
    T = np.zeros((2, 2, 3))
    T[0] = x[0] * x
    T[:, 1, :] = x
    T[1, 0] = x[2]
    return np.sum(T * T)


def mixed_index_apart(T):
    return T[1, 1:, [0, 2]] * T[0, 0, 0]  # the int and the list apart: their axis goes first


def two_index_lists_apart(T):
    return np.sum(T[[0, 2], :, [1, 3]] ** 3)


def index_array_after_int(T, idx):
    return T[0, :, idx] * T[1, 1, 1]


def written_after_branch(x0, x1, x2):
    v1 = x0 - x1
    v1[0] = v1[0] * v1[1]
    if np.sum(v1) > -0.5:
        x0 = x0 / np.sqrt(1.0 + np.sum(x0 * x0)) + 0.1 * x2
    elif np.sum(x1) > 0.0:
        x0 = x0 - 0.1 * x0 ** 3 + 0.1 * v1
    return np.sum(v1 + 0.1 * np.sum(np.tanh(x0)))


def copy_of_argument_then_write(x0):
    v4 = x0 + 3.0  # a new array: a later write into x0 leaves it alone
    for i in range(1, 2):
        x0[i] = x0[i] * 0.5 + x0[i - 1]
    return np.sum(v4 + 0.1 * np.sum(np.tanh(x0)))


PICK = np.array([2])


def write_argument_one_output(x0, x2):
    x0[1] = x0[1] * x0[1]
    return x2[PICK] + np.sum(x0)  # one output element: the structured code's guard falls back


def zeros_written_through_view(x0):
    y = np.zeros(4)
    z = y.reshape(-1)
    z[1] = np.cos(x0[0])  # writes into y
    acc = np.zeros(4)  # the same expression as y: not the same array
    for i in range(3):
        acc = acc + np.tanh(x0)
    return acc


def int_then_float_two_loops(x0, n):
    acc = 2  # an int, a float after the first loop
    for i in range(2):
        acc = acc * x0[0]
    for i in range(n):
        acc = np.tanh(acc) * 0.9
    return acc
