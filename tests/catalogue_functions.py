"""A catalogue of small ordinary NumPy functions, one construct each, written the way people
write them: arguments reassigned in loops, branches that update a variable, helpers with early
returns, in-place writes, views, lists of arrays, N-d products, constructors ...

Kept apart from the assertions (tests/test_catalogue.py, tests/run_catalogue.py), like
tests/sample_functions.py. Every public function runs as plain Python/NumPy. Helpers start
with `_` and are not catalogue entries (they are inlined into the entries that call them).

Inputs are chosen by argument name (`catalogue_inputs` in tests/run_catalogue.py):

=========  =================================================================  ============
name       value                                                              derivative
=========  =================================================================  ============
x y z u w  float64 vector of 3, entries of magnitude in [0.3, 1], random sign  yes
v          float64 vector of 3, as x                                           yes
p q        float64 vector of 3, positive, in [0.5, 1.5]                         yes
e          float64 vector of 4, as x                                           yes
A B        float64 3x3 matrix, as x                                            yes
M          float64 3x4 matrix, as x                                            yes
Q          float64 4x2 matrix, as x                                            yes
T U        float64 2x3x4 array, as x                                           yes
a b c      Python float, magnitude in [0.3, 1], random sign                     yes
r          Python float, positive, in [0.5, 1.5]                                yes
s t        0-d float64 array (np.ndarray of shape ()), as a                    yes
n          int 3 (a constant: loop counts)                                      no
k          int 2                                                                no
flag       True                                                                 no
idx        int index array [2, 0, 1]                                            no
rep        int index array with a repeat [0, 0, 1]                              no
=========  =================================================================  ============

Values are drawn from a generator seeded by the function's name, so each function sees the same
inputs in every run; `INPUTS` overrides them per function where a construct needs a particular
point (near a boundary, both signs present, ...).
"""

import math

import numpy as np

W3 = np.array([0.5, -1.0, 2.0])  # a module-level constant, read at each call

# Per-function input overrides: {function name: {argument name: value}}.
INPUTS = {
    "where_sqrt_of_negative": {"x": np.array([0.7, -0.4, 0.9])},
    "where_log_of_negative": {"x": np.array([0.7, -0.4, 0.9])},
    "where_division_by_zero": {"x": np.array([0.7, 0.0, -0.9])},
    "arccos_near_one": {"x": np.array([0.995, -0.995, 0.3])},
    "arcsin_near_minus_one": {"x": np.array([-0.995, 0.995, 0.2])},
    "mod_operator": {"x": np.array([1.3, -0.45, 2.9])},
    "np_mod_positive": {"p": np.array([1.3, 0.45, 2.9])},
    "np_remainder_both": {"x": np.array([1.3, -0.45, 2.9]), "p": np.array([0.7, 0.6, 1.1])},
    "mod_python_floats": {"a": 2.3, "r": 0.7},
    "fmod_array": {"x": np.array([1.3, -0.45, 2.9])},
    "branch_update_both_arms": {"a": 0.8, "b": 0.4},
    "branch_update_both_arms_else": {"a": 0.4, "b": 0.8},
    "branch_update_one_arm_taken": {"a": 0.6},
    "branch_update_one_arm_not_taken": {"a": -0.6},
    "while_halve": {"a": 0.9},
    "while_norm_shrink": {"x": np.array([0.9, -0.8, 0.7])},
    "nested_if_chain": {"x": np.array([0.6, 0.5, -0.4])},
    "relu_where": {"x": np.array([0.6, -0.5, 0.4])},
    "loop_continue_on_value": {"x": np.array([0.6, -0.5, 0.4])},
    "loop_break_on_value": {"x": np.array([0.9, 0.8, 0.7])},
    "int_start_product_loop": {"a": 1.5},
    "clip_values": {"x": np.array([0.9, -0.2, -0.8])},
    "floor_times": {"x": np.array([0.55, -0.2, 0.8])},
    "mask_write_negative": {"x": np.array([0.6, -0.5, 0.4])},
}


# ----------------------------------------------------------------------------------------------
# Helpers (inlined into the entries that call them)
# ----------------------------------------------------------------------------------------------


def _power_loop(x, k):
    out = x
    for _ in range(k - 1):
        out = out * x
    return out


def _soft_clip(a):
    if a > 0.5:
        return 0.5 + 0.1 * (a - 0.5)
    if a < -0.5:
        return -0.5 + 0.1 * (a + 0.5)
    return a


def _square(v):
    return v * v


def _scale(x):
    return 2.0 * x + 0.1


def _norm2(x):
    return np.sqrt(np.sum(x * x))


def _split(x):
    return x[0] * x[1], x[2]


def _halve_until_small(a):
    while np.abs(a) > 0.1:
        a = a * 0.5
    return a


def _first_positive(x):
    for i in range(3):
        if x[i] > 0:
            return x[i] * x[i]
    return 0.0


def _normalize(x):
    return x / np.sqrt(np.sum(x * x))


def _fill_squares(y, x):
    for i in range(3):
        y[i] = x[i] * x[i]


def _step(x, a):
    x = x + a * np.sin(x)
    return x


# ----------------------------------------------------------------------------------------------
# 1. Arguments and variables reassigned in loops
# ----------------------------------------------------------------------------------------------


def loop_square_scalar(a):
    for _ in range(3):
        a = a * a
    return a


def loop_square_vector(x):
    for _ in range(3):
        x = x * x
    return x


def loop_normalize(x):
    for _ in range(3):
        x = x / np.sqrt(np.sum(x * x))
    return x


def loop_range_argument(x, n):
    for i in range(n):
        x = np.sin(x) + 0.5 * x
    return x


def loop_range_k_scalar(a, k):
    for _ in range(k):
        a = np.cos(a) * a
    return a


def loop_two_variables_coupled(x, y):
    for _ in range(2):
        x = x * y + 0.1
        y = y - 0.1 * x
    return x + y


def loop_swap_tuple(a, b):
    for _ in range(3):
        a, b = b, a * b
    return a + b


def loop_newton_sqrt(r):
    y = r
    for _ in range(5):
        y = 0.5 * (y + r / y)
    return y


def loop_over_array_elements(x):
    total = 0.0
    for xi in x:
        total = total + xi * xi
    return total


def loop_enumerate(x):
    acc = 0.0
    for i, xi in enumerate(x):
        acc = acc + (i + 1) * np.sin(xi)
    return acc


def loop_zip(x, y):
    acc = 0.0
    for xi, yi in zip(x, y):
        acc = acc + xi * yi
    return acc


def loop_reversed_range(x):
    acc = x[0]
    for i in range(2, 0, -1):
        acc = acc * x[i] + 1.0
    return acc


def loop_matrix_power(A):
    B = A
    for _ in range(2):
        B = B @ A
    return B


def loop_gradient_descent(x):
    for _ in range(3):
        x = x - 0.1 * x**3
    return x


def loop_reassign_copy(x):
    y = x
    for i in range(3):
        y = y * x + i
    return np.sum(y)


def loop_scalar_and_vector(a, x):
    for _ in range(2):
        x = x * a
        a = a + np.sum(x)
    return a


def loop_zero_d(s):
    for _ in range(3):
        s = s * s + 0.1
    return s


def loop_nested_reassign(x):
    for i in range(2):
        for j in range(2):
            x = x * 0.9 + 0.1 * np.sin(x)
    return x


def loop_range_len(x):
    acc = 0.0
    for i in range(len(x)):
        acc = acc + x[i] ** (i + 1)
    return acc


def loop_range_shape(A):
    acc = np.zeros(3)
    for i in range(A.shape[0]):
        acc = acc + A[i] * A[i]
    return acc


def loop_over_rows(A, x):
    acc = 0.0
    for row in A:
        acc = acc + row @ x
    return acc


def loop_augassign_scalar(a, b):
    for _ in range(3):
        a += b
        a *= 0.9
        b -= 0.1 * a
    return a * b


def loop_augassign_array(x):
    y = x * 1.0
    for _ in range(3):
        y *= x
    return y


def loop_horner(a, x):
    acc = 0.0
    for coef in x:
        acc = acc * a + coef
    return acc


def loop_euler_integrator(x, a):
    for _ in range(4):
        x = x + 0.1 * (a * x - x**3)
    return x


def loop_rk2_step(x):
    h = 0.1
    for _ in range(2):
        k1 = -x + np.sin(x)
        k2 = -(x + h * k1) + np.sin(x + h * k1)
        x = x + 0.5 * h * (k1 + k2)
    return x


def loop_power_iteration(A):
    v = np.ones(3)
    for _ in range(4):
        v = A @ v + v
        v = v / np.sqrt(np.sum(v * v))
    return v


def loop_helper_step(x, a):
    for _ in range(3):
        x = _step(x, a)
    return x


def int_start_product_loop(a):
    out = 1
    for _ in range(3):
        out = out * a
    return out


def int_start_sum_loop(x):
    acc = 0
    for i in range(3):
        acc = acc + x[i] * x[i]
    return acc


def int_start_then_float(a):
    y = 2
    y = y * a
    return y * y


# ----------------------------------------------------------------------------------------------
# 2. while loops
# ----------------------------------------------------------------------------------------------


def while_halve(a):
    while np.abs(a) > 0.1:
        a = a * 0.5
    return a * a


def while_counter(x):
    i = 0
    while i < 3:
        x = x * np.cos(x)
        i += 1
    return np.sum(x)


def while_norm_shrink(x):
    while np.sum(x * x) > 0.1:
        x = x * 0.7
    return x


def while_true_break(x):
    i = 0
    acc = 0.0
    while True:
        acc = acc + x[i] * x[i]
        i += 1
        if i >= 3:
            break
    return acc


def while_with_branch(a):
    while np.abs(a) > 0.05:
        if a > 0.5:
            a = a * 0.3
        else:
            a = a * 0.8
    return a


def while_fill_array(x):
    y = np.zeros(3)
    i = 0
    while i < 3:
        y[i] = np.exp(x[i])
        i += 1
    return y


# ----------------------------------------------------------------------------------------------
# 3. Branches
# ----------------------------------------------------------------------------------------------


def branch_update_both_arms(a, b):
    if a > b:
        a = a * a
    else:
        a = a * b
    return a + b


def branch_update_both_arms_else(a, b):
    if a > b:
        a = a * a
    else:
        a = a * b
    return a + b


def branch_update_one_arm_taken(a, b):
    if a > 0:
        a = a * b
    return a * a


def branch_update_one_arm_not_taken(a, b):
    if a > 0:
        a = a * b
    return a * a


def branch_update_one_arm_array(x):
    if np.sum(x) > 0:
        x = x * x
    return x


def branch_existing_variable(x):
    y = x * 2.0
    if x[0] > 0:
        y = y + x
    return y


def branch_elif_chain(a):
    if a > 0.5:
        a = a * a
    elif a > 0:
        a = a * 3.0
    elif a > -0.5:
        a = -a
    else:
        a = a**3
    return a


def branch_nested(a, b):
    if a > 0:
        if b > 0:
            a = a * b
        else:
            b = b * a
    else:
        a = a + b
    return a * b


def nested_if_chain(x):
    y = x[0]
    if x[0] > 0:
        if x[1] > 0:
            if x[2] > 0:
                y = y * x[1]
            else:
                y = y * x[2]
        else:
            y = y + x[1]
    return y * x[2]


def branch_in_loop_update(x):
    for i in range(3):
        if x[i] > 0:
            x = x * 1.5
        else:
            x = x - 0.1
    return x


def branch_in_loop_scalar(a, x):
    for i in range(3):
        if x[i] > 0:
            a = a * x[i]
        else:
            a = a + x[i]
    return a


def branch_on_flag(x, flag):
    if flag:
        x = x * 2.0
    else:
        x = -x
    return np.sin(x)


def branch_on_int(x, n):
    if n > 2:
        y = x**2
    else:
        y = x
    return y


def branch_early_return(a):
    if a > 0:
        return a * a
    return -3.0 * a


def branch_early_return_array(x):
    if np.sum(x) > 0:
        return x * np.sum(x)
    return x - 1.0


def branch_swap(a, b):
    if a < b:
        a, b = b, a
    return a - 2.0 * b


def branch_augassign(x):
    y = x * 1.0
    if x[0] > 0:
        y += x
    else:
        y -= x * x
    return y


def branch_conditional_expression(a, b):
    c = a * b if a > b else a + b
    return c * a


def branch_and_or(a, b):
    if a > 0 and b > 0:
        return a * b
    if a < 0 or b < 0:
        return a + b
    return a


def branch_chained_comparison(a):
    if -0.5 < a < 0.5:
        a = a * 10.0
    return a * a


def branch_not(a, flag):
    if not flag:
        a = a * 2.0
    return a * a


def branch_on_zero_d(s, x):
    if s > 0:
        x = x * s
    else:
        x = x / (1.0 + s * s)
    return x


def builtin_max_min(a, b):
    return max(a, b) * min(a, b)


# ----------------------------------------------------------------------------------------------
# 4. Nested loops, break, continue
# ----------------------------------------------------------------------------------------------


def loop_nested_break(x):
    acc = 0.0
    for i in range(3):
        for j in range(3):
            if j > i:
                break
            acc = acc + x[i] * x[j]
    return acc


def loop_continue_constant(x):
    acc = 0.0
    for i in range(3):
        if i == 1:
            continue
        acc = acc + x[i] ** 2
    return acc


def loop_continue_on_value(x):
    acc = 0.0
    for xi in x:
        if xi < 0:
            continue
        acc = acc + xi**3
    return acc


def loop_break_on_value(x):
    acc = 0.0
    for xi in x:
        acc = acc + np.exp(xi)
        if acc > 4.0:
            break
    return acc


def loop_nested_continue_break(A):
    acc = 0.0
    for i in range(3):
        for j in range(3):
            if i == j:
                continue
            if A[i, j] > 0.95:
                break
            acc = acc + A[i, j] * A[j, i]
    return acc


def loop_nested_triangular(A, x):
    y = np.zeros(3)
    for i in range(3):
        for j in range(i + 1):
            y[i] = y[i] + A[i, j] * x[j]
    return y


def loop_nested_reassign_break(x):
    for i in range(3):
        for j in range(3):
            x = x * 0.8 + 0.05
            if j == 1:
                break
    return x


# ----------------------------------------------------------------------------------------------
# 5. Helpers (module-level functions with loops and early returns)
# ----------------------------------------------------------------------------------------------


def helper_with_loop(x):
    return _power_loop(x, 3)


def helper_early_return(a):
    return _soft_clip(a) + _soft_clip(2.0 * a)


def helper_called_in_loop(x):
    acc = 0.0
    for i in range(3):
        acc = acc + _square(x[i])
    return acc


def helper_of_helper(x):
    return _norm2(_scale(x))


def helper_returns_tuple(x):
    a, b = _split(x)
    return a * b


def helper_with_while(a):
    return _halve_until_small(a) * a


def helper_return_in_loop(x):
    return _first_positive(x) * x


def helper_normalize_in_loop(x):
    for _ in range(2):
        x = _normalize(x + 0.1)
    return x


def helper_writes_argument(x):
    y = np.zeros(3)
    _fill_squares(y, x)
    return y


# ----------------------------------------------------------------------------------------------
# 6. In-place writes into arguments and created arrays
# ----------------------------------------------------------------------------------------------


def write_argument_scalar_out(x):
    x[0] = x[0] * x[1]
    return np.sum(x)


def write_argument_vector_out(x):
    x[1] = np.sin(x[0])
    return x * 2.0


def write_argument_augassign(x):
    x[0] += x[1] * x[2]
    return x


def write_argument_slice(x):
    x[1:] = x[1:] * x[0]
    return x


def write_argument_in_loop(x):
    for i in range(1, 3):
        x[i] = x[i] * x[i - 1]
    return x


def write_argument_matrix(A):
    A[0, 1] = A[1, 0] * A[2, 2]
    return np.sum(A * A)


def write_created_loop(x):
    y = np.zeros(3)
    for i in range(3):
        y[i] = x[i] ** 2
    return y


def write_created_recurrence(x):
    y = np.zeros(3)
    y[0] = x[0]
    for i in range(1, 3):
        y[i] = y[i - 1] * x[i]
    return y


def write_created_matrix(A):
    B = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            B[i, j] = A[i, j] * A[j, i]
    return B


def write_row_of_copy(A, x):
    B = A.copy()
    B[0] = x
    return B @ x


def write_column(A, x):
    B = np.zeros((3, 3))
    B[:, 1] = x
    return B * A


def write_row_augassign(A):
    B = A * 1.0
    B[1, :] += A[0, :]
    return B


def write_after_read(x):
    y = x * 1.0
    z = y * y
    y[0] = 5.0
    return z + y


def write_np_copy(x):
    y = np.copy(x)
    y[2] = y[0] * y[1]
    return y


def write_empty(x):
    y = np.empty(3)
    y[:] = x * 2.0
    return y * x


def write_zeros_like(x):
    y = np.zeros_like(x)
    y[1] = x[0]
    y[2] = x[1] * x[2]
    return y


def write_ones_2d(x):
    y = np.ones((2, 3))
    y[0] = x
    y[1] = x * x
    return y


def write_prefix_sum(x):
    y = x * 1.0
    for i in range(1, 3):
        y[i] = y[i] + y[i - 1]
    return y


def write_3d_slice(T):
    U = np.zeros((2, 3, 4))
    U[0] = T[1] * T[0]
    U[1, :, 1:] = T[0, :, :-1]
    return U


def write_scalar_broadcast(x):
    y = np.zeros(3)
    y[:] = x[0]
    return y * x


# ----------------------------------------------------------------------------------------------
# 7. Writes through views and aliases
# ----------------------------------------------------------------------------------------------


def view_slice_write(x):
    y = np.zeros(4)
    v = y[1:]
    v[0] = x[0] * 3.0
    return y + np.sum(x)


def alias_write_argument(x):
    b = x
    b[0] = b[0] * b[1]
    return x


def alias_write_created(x):
    a = x * 1.0
    b = a
    b[0] = b[0] * b[1]
    return a


def view_reshape_write(x):
    y = np.zeros(6)
    Y = y.reshape(2, 3)
    Y[0, 1] = x[0]
    return y * 2.0


def view_transpose_write(A):
    B = np.zeros((3, 3))
    C = B.T
    C[0, 1] = A[0, 0]
    return B + A


def view_row_write(A, x):
    B = A * 1.0
    row = B[1]
    row[:] = x * x
    return B


def view_of_argument_write(x):
    v = x[1:]
    v *= 2.0
    return x * x


# ----------------------------------------------------------------------------------------------
# 8. Fancy writes
# ----------------------------------------------------------------------------------------------


def fancy_write(x, idx):
    y = np.zeros(3)
    y[idx] = x
    return y * x


def fancy_write_repeated(x, rep):
    y = np.zeros(3)
    y[rep] = x
    return y


def fancy_augassign(x, idx):
    y = x * 1.0
    y[idx] += x
    return y


def fancy_write_list_literal(x):
    y = np.zeros(4)
    y[[0, 2, 3]] = x * x
    return y


def mask_write_negative(x):
    y = x * 1.0
    y[x < 0] = 0.0
    return y * x


# ----------------------------------------------------------------------------------------------
# 9. Python-float and 0-d arguments
# ----------------------------------------------------------------------------------------------


def pyfloat_times_vector(a, x):
    return a * x


def pyfloat_math(a):
    return math.sin(a) * math.exp(a)


def pyfloat_powers(a, b):
    return a**2 + abs(b) ** 1.5


def pyfloat_reciprocal(r):
    return 1.0 / r + r**0.5 + np.log(r)


def zero_d_times_vector(s, x):
    return s * x


def zero_d_ops(s, t):
    return np.sin(s) * t + s / (1.0 + t * t)


def zero_d_with_sum(s, x):
    return np.sum(x) * s


def pyfloat_and_zero_d(a, s):
    return a * s + a * a


def float_of_element(x):
    return float(x[0]) * x


def float_of_pyfloat(a):
    return float(a) * a


def zero_d_reduction_intermediate(x):
    s = np.sum(x)
    return s * s


def math_on_element(x):
    return math.exp(x[0]) * math.cos(x[1]) + math.sqrt(x[2] * x[2] + 1.0)


def pyfloat_in_numpy(a, b):
    return np.exp(a) * np.arctan2(a, b)


# ----------------------------------------------------------------------------------------------
# 10. N-d dot, inner, matmul, tensordot-like
# ----------------------------------------------------------------------------------------------


def dot_3d_vector(T, e):
    return np.dot(T, e)


def dot_3d_matrix(T, Q):
    return np.dot(T, Q)


def dot_matrix_3d(A, T):
    return np.dot(A, T)


def dot_vector_3d(x, T):
    return np.dot(x, T)


def dot_zero_d(s, x):
    return np.dot(s, x)


def dot_vectors(x, y):
    return np.dot(x, y)


def dot_method(A, x):
    return A.dot(x)


def inner_3d_vector(T, e):
    return np.inner(T, e)


def inner_matrices(A, B):
    return np.inner(A, B)


def inner_vector_matrix(e, M):
    return np.inner(e, M)


def matmul_batched(T, Q):
    return T @ Q


def matmul_batched_vector(T, e):
    return T @ e


def matmul_vector_3d(x, T):
    return x @ T


def matmul_vector_matrix(x, A):
    return x @ A


def matmul_chain(A, B, x):
    return A @ B @ x


def matmul_transposes(M, A):
    return M.T @ A @ M


def np_matmul_function(A, M):
    return np.matmul(A, M)


def tensordot_by_reshape(T, M):
    return T.reshape(2, 12) @ M.reshape(12)


def tensordot_call(T, M):
    return np.tensordot(T, M, axes=([1, 2], [0, 1]))


def outer_product(x, e):
    return np.outer(x, e)


def einsum_matvec(A, x):
    return np.einsum("ij,j->i", A, x)


# ----------------------------------------------------------------------------------------------
# 11. Indexing: mixed advanced, gathers, slices
# ----------------------------------------------------------------------------------------------


def mixed_advanced_int_slice_list(T):
    return T[1, 1:, [0, 2]]


def mixed_advanced_slice_list(A):
    return A[1:, [0, 2]]


def mixed_advanced_list_int(T):
    return T[:, [0, 2], 1]


def two_index_arrays(A, idx):
    return A[idx, idx]


def gather_rows(A, idx):
    return A[idx] * 2.0


def gather_columns(A, idx):
    return A[:, idx]


def gather_repeated(x, rep):
    return x[rep] * x[rep]


def gather_list_literal(x):
    return x[[0, 0, 2]] * x[1]


def negative_indices(x):
    return x[-1] * x[-2]


def step_slices(x, e):
    return x[::2] * e[::3] + x[::-1][1:]


def ellipsis_index(T):
    return T[..., 0] * T[..., 1]


def none_index_outer(x, y):
    return x[:, None] * y[None, :]


def take_function(x, idx):
    return np.take(x, idx) * x


# ----------------------------------------------------------------------------------------------
# 12. Lists and tuples of arrays
# ----------------------------------------------------------------------------------------------


def list_of_arrays(x, y):
    a = [x, y]
    return a[0] * a[1]


def np_sum_of_list_scalars(a, b):
    return np.sum([a, b])


def np_sum_of_list_arrays(x, y):
    return np.sum([x, y * y])


def tuple_indexed_in_loop(x, y):
    t = (x, y)
    acc = 0.0
    for i in range(2):
        acc = acc + np.sum(t[i] ** 2)
    return acc


def array_from_scalars(a, b):
    v = np.array([a, b, a * b])
    return v * v


def array_from_elements(x):
    return np.array([x[0] * x[1], x[2]])


def list_append_loop(x):
    parts = []
    for i in range(3):
        parts.append(x[i] ** 2)
    return np.array(parts)


def loop_over_list_of_arrays(x, y):
    acc = 0.0
    for v in [x, y]:
        acc = acc + np.sum(np.sin(v))
    return acc


def stack_list_variable(x, y, z):
    arrs = [x, y, z]
    return np.stack(arrs)


def concatenate_vectors(x, e):
    return np.concatenate([x, e]) * 2.0


def concatenate_matrices_axis1(A, M):
    return np.concatenate([A, M], axis=1)


def stack_axis1(x, y):
    return np.stack([x, y], axis=1)


def vstack_hstack(x, y):
    return np.vstack([x, y]) + np.hstack([x, y])[:3]


# ----------------------------------------------------------------------------------------------
# 13. Modulo
# ----------------------------------------------------------------------------------------------


def mod_operator(x):
    return x % 0.7


def np_mod_positive(p):
    return np.mod(p, 0.4) * p


def np_remainder_both(x, p):
    return np.remainder(x, p)


def mod_python_floats(a, r):
    return a % r


def fmod_array(x):
    return np.fmod(x, 0.7)


def floor_divide(x):
    return (x // 0.4) * x


# ----------------------------------------------------------------------------------------------
# 14. np.where
# ----------------------------------------------------------------------------------------------


def where_sqrt_of_negative(x):
    return np.where(x > 0, np.sqrt(x), 0.0)


def where_log_of_negative(x):
    return np.where(x > 0, np.log(x), x)


def where_division_by_zero(x):
    return np.where(x != 0, np.sin(x) / x, 1.0)


def where_two_arrays(x, y):
    return np.where(x > y, x * y, y)


def where_scalar_condition(a, x):
    return np.where(a > 0, x, -x)


def relu_where(x):
    return np.where(x > 0, x, 0.01 * x)


# ----------------------------------------------------------------------------------------------
# 15. Constructors and conversions taking a differentiated value
# ----------------------------------------------------------------------------------------------


def full_from_element(x):
    return np.full(3, x[0]) * x


def full_like_from_element(x):
    return np.full_like(x, x[1]) + x


def arange_from_value(x):
    return np.arange(x[0], x[0] + 2.5) * x


def linspace_from_values(x):
    return np.linspace(x[0], x[1], 3) * x


def ones_times_element(x):
    return np.ones(3) * x[0]


def zeros_like_plus(x):
    return np.zeros_like(x) + x * x


def eye_times_element(A):
    return np.eye(3) * A[0, 0] + A


def asarray_identity(x):
    return np.asarray(x) * x


def astype_float(x):
    return x.astype(np.float64) * x


def copy_method(x):
    y = x.copy()
    return y * x


def int_of_value_piecewise(x):
    return int(x[0] * 10.0) * x


# ----------------------------------------------------------------------------------------------
# 16. Elementwise functions, edges
# ----------------------------------------------------------------------------------------------


def arccos_near_one(x):
    return np.arccos(x)


def arcsin_near_minus_one(x):
    return np.arcsin(x)


def clip_values(x):
    return np.clip(x, -0.5, 0.5) * x


def sign_times(x):
    return np.sign(x) * x * x


def floor_times(x):
    return np.floor(3.0 * x) * x


def abs_value(x):
    return np.abs(x) * x


def arctan2_arrays(x, y):
    return np.arctan2(x, y)


def power_array_exponent(p, q):
    return p**q


def expm1_log1p(p):
    return np.expm1(p) + np.log1p(p)


def relu_maximum(x):
    return np.maximum(x, 0.0) * x


def minimum_two(x, y):
    return np.minimum(x, y * 0.5)


def hyperbolic(x):
    return np.sinh(x) * np.cosh(x) + np.tanh(x)


def square_sqrt(p):
    return np.sqrt(p) + np.square(p)


def boolean_mask_multiply(x):
    m = x > 0
    return x * m


def reciprocal_negative(p):
    return np.reciprocal(p) - np.negative(p)


# ----------------------------------------------------------------------------------------------
# 17. Reductions with axis / keepdims
# ----------------------------------------------------------------------------------------------


def sum_axis0(A):
    return np.sum(A * A, axis=0)


def sum_keepdims_normalize(A):
    return A / (1.0 + np.sum(A * A, axis=1, keepdims=True))


def sum_negative_axis(T):
    return np.sum(T, axis=-1) * T[:, :, 0]


def sum_tuple_axis(T):
    return np.sum(T * T, axis=(0, 2))


def mean_axis_method(A):
    return A.mean(axis=1) * A[0]


def mean_keepdims_center(A):
    return A - A.mean(axis=0, keepdims=True)


def max_axis(A):
    return np.max(A, axis=1)


def min_method_axis(A):
    return A.min(axis=0) * A[1]


def amax_full(x):
    return np.amax(x) * x


def prod_full(x):
    return np.prod(x)


def prod_axis(A):
    return np.prod(A, axis=0)


def cumsum_vector(x):
    return np.cumsum(x * x)


def softmax(x):
    e = np.exp(x - np.max(x))
    return e / np.sum(e)


def logsumexp_keepdims(A):
    m = np.max(A, axis=1, keepdims=True)
    return m + np.log(np.sum(np.exp(A - m), axis=1, keepdims=True))


def norm_vector(x):
    return np.linalg.norm(x)


def norm_axis(A):
    return np.linalg.norm(A, axis=1)


def variance(x):
    return np.var(x)


def standard_deviation_3d(T):
    return np.std(T, axis=0)


def sum_method_keepdims_3d(T):
    return T / (2.0 + T.sum(axis=2, keepdims=True) ** 2)


# ----------------------------------------------------------------------------------------------
# 18. Broadcasting across ranks
# ----------------------------------------------------------------------------------------------


def broadcast_vector_matrix(x, A):
    return x * A


def broadcast_column(x, M):
    return x[:, None] * M


def broadcast_3d_vector(T, e):
    return T * e


def broadcast_3d_matrix(T, M):
    return T + M * M


def broadcast_zero_d_3d(s, T):
    return s * T


def broadcast_middle_axis(x, T):
    return x[None, :, None] * T


def broadcast_to_call(x):
    return np.broadcast_to(x, (2, 3)) * 2.0


def broadcast_reshape_expand(x):
    return np.expand_dims(x, 0) * x.reshape(3, 1)


def broadcast_pyfloat_3d(a, T):
    return np.sin(a * T)


# ----------------------------------------------------------------------------------------------
# 19. Tuple outputs
# ----------------------------------------------------------------------------------------------


def tuple_output_two(x, y):
    return x * y, np.sum(x)


def tuple_output_three(a, x):
    return a * x, a * a, np.sin(x)


def tuple_output_with_loop(x):
    s = 0.0
    for xi in x:
        s = s + xi
    return s, x * s


def tuple_output_from_branch(a, x):
    if a > 0:
        return a * x, np.sum(x)
    return x, a * np.sum(x)


def tuple_unpack_then_square(x):
    # an element of an unpacked tuple used twice in one product: its adjoint is accumulated,
    # then renamed; the Hessian lost the tangent of the first term (found by the numpy suite
    # on np.linalg.eigh's outputs, then seen in plain code)
    q, r = np.sin(x), 2.0
    return np.sum(np.sin(q * q)) * r


def nested_tuple_rows(a, b):
    # a tuple of tuples, read two levels deep: reverse mode dropped the derivative (zeros) and
    # forward mode crashed in its generated code before session 10
    t = ((a, b), (b * a, a))
    return np.array(t[0]) * t[1][1]


def array_of_nested_list(a, x):
    # np.array of rows of values: the rows stacked
    M = np.array([[a, x[0], x[2]], [x[1], a * a, 1.0], [x[2], x[0], a]])
    return M @ x


# ----------------------------------------------------------------------------------------------
# 20. Ordinary small programs
# ----------------------------------------------------------------------------------------------


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def logistic_loss(M, e, x):
    z = M @ e
    return np.sum(np.log(1.0 + np.exp(-x * z)))


def mlp_layer(A, x, y):
    h = np.tanh(A @ x + y)
    return np.sum(h * h)


def gaussian_log_likelihood(x, a, r):
    return -0.5 * np.sum((x - a) ** 2) / (r * r) - 3.0 * np.log(r)


def polynomial_powers(x, a):
    acc = 0.0
    for i in range(4):
        acc = acc + x**i * a
    return acc


def global_constant(x):
    return W3 * x + np.sum(W3 * x * x)


def shape_unpack(M):
    m, n = M.shape
    return M * m + n


def rank_change_reassign(x):
    x = np.sum(x * x)
    return x


def dtype_changes_to_float(x):
    y = np.arange(3)
    y = y * x
    return y


def quadratic_form(A, x):
    return x @ A @ x


def trace_loop(A):
    acc = 0.0
    for i in range(3):
        acc = acc + A[i, i]
    return acc * acc


def diff_like(x):
    return x[1:] - x[:-1]


def kinetic_energy(x, y):
    v = x - y
    return 0.5 * np.dot(v, v)


def pairwise_distances(A):
    D = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            d = A[i] - A[j]
            D[i, j] = np.sum(d * d)
    return D


def cross_entropy(x, p):
    e = np.exp(x - np.max(x))
    sm = e / np.sum(e)
    return -np.sum(p * np.log(sm))


# ----------------------------------------------------------------------------------------------
# 21. Found by the program generator
# ----------------------------------------------------------------------------------------------


def _sum_weighted_by_index(x):
    acc = 0.0
    for i in range(3):
        acc = acc + x[i] * (i + 1)
    return acc


def _loop_index_scalar(a):
    acc = 0.0
    for j in range(3):
        acc = acc + a * j
    return acc


def helper_loop_reads_index(x):
    return _sum_weighted_by_index(x) * x


def helper_loop_reads_index_scalar(a):
    return _loop_index_scalar(a) * a


def int_start_product_of_element(x):
    acc = 1
    for i in range(3):
        acc = acc * x[i]
    return acc


def np_dot_vector_scalar(x, a):
    s = x @ x
    return np.dot(x, s) * a


def zero_d_accumulated_in_loop(x, s):
    acc = 0.0
    for i in range(3):
        acc = acc + s * s
    return np.sum(x) + acc


# ----------------------------------------------------------------------------------------------
# Edges checked against closed forms (tests/test_catalogue.py), not finite differences: at
# a = +-1 the derivatives are infinite, and NumPy's floating-point semantics give +-inf.
# ----------------------------------------------------------------------------------------------


def _edge_arccos(a):
    return np.arccos(a)


def _edge_arcsin(a):
    return np.arcsin(a)
