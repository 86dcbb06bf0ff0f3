"""Refuse or follow NumPy's semantics (issue 16): complex values, unsupported arguments,
writes through views and aliases, fancy writes with repeated indices, lists and tuples of
arrays, and the safety net for exceptions that escape generated code or a pass.

Supported cases are checked against oracles that do not use s2sad (central differences,
closed forms); refused cases must raise ``S2SADError`` naming this file and the line marked
``# <-`` in the function (for arguments: the ``def`` line), before any number is returned.
"""

import inspect

import numpy as np
import pytest

import s2sad
from checks import check_jacobian, dot_product_test
from s2sad import runtime as rt
from s2sad.errors import InternalError

X4 = np.array([0.3, 0.7, 1.1, 1.3])
Y4 = np.array([0.5, -0.2, 0.9, 1.7])


def marked_line(fn):
    """The line of ``fn``'s source marked ``# <-`` (its def line if none is marked)."""
    lines, first = inspect.getsourcelines(fn)
    for k, text in enumerate(lines):
        if "# <-" in text:
            return first + k
    return first + next(k for k, text in enumerate(lines) if text.lstrip().startswith("def "))


def assert_refused(fn, args, mode="jacrev", backend="python", argnums=0, match=None):
    g = getattr(s2sad, mode)(fn, argnums, backend=backend)
    with pytest.raises(s2sad.S2SADError) as info:
        g(*args)
    message = str(info.value)
    assert f"test_refusals.py:{marked_line(fn)}:" in message, message
    if match is not None:
        assert match in message, message
    return message


def copies(args):
    return tuple(np.copy(a) if isinstance(a, np.ndarray) else a for a in args)


def assert_jacobians(fn, args, argnums=0, backend="python", modes=("jacrev", "jacfwd")):
    def oracle(*a):  # the function may write into its arguments: never into the oracle's
        return fn(*copies(a))

    for mode in modes:
        jac = getattr(s2sad, mode)(fn, argnums, backend=backend)(*copies(args))
        check_jacobian(oracle, copies(args), argnums, jac)


# --- 15: complex values and arguments s2sad does not take --------------------------------


def complex_literal(x):
    return np.abs(x * 1j)  # <-


def complex_constructor(x):
    c = np.complex128(2.0)  # <-
    return x * 2.0


def complex_dtype(x):
    z = np.zeros(4, dtype=complex)  # <-
    return x * 2.0


def complex_dtype_name(x):
    z = np.zeros(4, dtype="complex128")  # <-
    return x * 2.0


def real_part(x, z):
    return x * z.real  # <-


def conj_method(x, z):
    return x * z.conj()  # <-


def complex_result(x, c):
    f = np.fft.fft(c)  # <-
    return x * 2.0


def second_arg_ignored(x, z):
    return x * 2.0


def two_args(x, d):
    return x * 2.0


def list_sum(xs):
    return xs[0] * xs[1] + xs[2]


def list_concatenated(xs):  # <-
    return np.sum(xs + xs)


def tuple_product(p):
    return p[0] * p[1]


COMPLEX_GLOBAL = np.array([1.0 + 2.0j, 3.0])


def reads_complex_global(x):
    return x * COMPLEX_GLOBAL  # <-


@pytest.mark.parametrize(
    "fn, args",
    [
        (complex_literal, (X4,)),
        (complex_constructor, (X4,)),
        (complex_dtype, (X4,)),
        (complex_dtype_name, (X4,)),
        (real_part, (X4, X4 + 1j)),
        (conj_method, (X4, X4 + 1j)),
        (complex_result, (X4, Y4)),
        (reads_complex_global, (X4,)),
    ],
)
@pytest.mark.parametrize("mode", ["jacrev", "jacfwd"])
def test_complex_code_is_refused_at_its_line(fn, args, mode):
    assert_refused(fn, args, mode, match="complex")


@pytest.mark.parametrize("z", [X4 + 1j, 1j, np.complex64(1j), (X4, X4 + 1j)])
@pytest.mark.parametrize("mode", ["jacrev", "jacfwd", "grad"])
def test_complex_arguments_are_refused_at_the_def_line_naming_them(z, mode):
    fn = second_arg_ignored if mode != "grad" else lambda_free_scalar
    message = assert_refused(fn, (X4, z), mode, match="complex")
    assert "argument 'z'" in message


def lambda_free_scalar(x, z):
    return np.sum(x)


def test_complex_argument_refused_by_jvp_vjp_hvp():
    for call in (
        lambda: s2sad.jvp(second_arg_ignored, (X4, X4 + 1j), (X4, X4), backend="python"),
        lambda: s2sad.vjp(second_arg_ignored, X4, X4 + 1j, backend="python"),
        lambda: s2sad.hvp(lambda_free_scalar, (X4, X4 + 1j), (X4, X4), backend="python"),
    ):
        with pytest.raises(s2sad.S2SADError, match=r"test_refusals.py:\d+: argument 'z'.* complex"):
            call()


@pytest.mark.parametrize(
    "d, what",
    [
        ({"a": 1.0}, "dict"),
        ({1.0, 2.0}, "set"),
        (object(), "object"),
        ([X4, X4[:2]], "not one real array"),
        ([[1.0, 2.0]], "nested list"),
        (np.array(["a"]), "dtype"),
    ],
)
def test_unsupported_argument_types_name_the_def_line_and_argument(d, what):
    message = assert_refused(two_args, (X4, d), "jacrev", match=what)
    assert "argument 'd'" in message


def test_list_argument_is_an_array_unless_used_as_a_list():
    xs = [0.3, 0.7, 1.1]
    for mode in ("jacrev", "jacfwd"):
        J = getattr(s2sad, mode)(list_sum, backend="python")(xs)
        np.testing.assert_allclose(J, [0.7, 0.3, 1.0])  # closed form of x0 * x1 + x2
    message = assert_refused(list_concatenated, ([0.3, 0.7],), "jacrev", match="argument 'xs'")
    assert f"line {marked_line(list_concatenated) + 1} applies an operator" in message and "concatenates" in message


def test_differentiated_tuple_argument_is_refused():
    assert_refused(tuple_product, ((X4, Y4),), "jacrev", match="argument 'p'")
    assert_refused(tuple_product, ((X4, Y4),), "jacfwd", match="argument 'p'")


def tuple_constant_argument(x, p):
    return x * p[0] + p[1]


def test_tuple_argument_not_differentiated_is_a_constant():
    args = (X4, (Y4, 2.0))
    for mode in ("jacrev", "jacfwd"):
        J = getattr(s2sad, mode)(tuple_constant_argument, backend="python")(*args)
        np.testing.assert_allclose(J, np.diag(Y4))


# --- 11: writes through views and aliases --------------------------------------------------


def write_through_slice_view(x):
    y = np.zeros(4)
    v = y[1:]
    v[0] = x[0] * 3.0  # <-
    return np.sum(y * y)


def write_through_alias(a):
    c = a * 1.0
    b = c
    b[0] = b[0] * b[1]  # <-
    return np.sum(c * c)


def write_through_reshape(x):
    y = np.zeros(4)
    m = y.reshape((2, 2))
    m[0, 1] = x[0] * 2.0  # <-
    return np.sum(y * x)


def write_through_T(x):
    y = np.zeros((2, 2))
    t = y.T
    t[0, 1] = x[0] * 2.0  # <-
    return np.sum(y * y)


def write_through_np_transpose(x):
    y = np.ones((2, 2))
    t = np.transpose(y)
    t[1, 0] = x[1] * x[2]  # <-
    return np.sum(y * y)


def write_through_ravel(x):
    y = np.ones((2, 2))
    r = np.ravel(y)
    r[3] = x[1] * x[2]  # <-
    return np.sum(y * y)


def write_through_ellipsis(x):
    y = np.zeros(3)
    v = y[...]
    v[0] = x[0] * 2.0  # <-
    return np.sum(y * y)


def write_through_row(x):
    A = np.ones((3, 4))
    r = A[1]
    r[2] = x[2] * x[3]  # <-
    return np.sum(A * A)


def write_into_argument_alias(x):
    b = x
    b[0] = x[0] * x[1]  # <-
    return np.sum(x * x)


def view_read_after_write_into_base(x):
    y = np.zeros(4)
    v = y[1:]
    y[1] = x[0] * 3.0  # <-
    return np.sum(v * v)


def _scale_first(a, s):
    a[0] = a[0] * s
    return 0.0


def helper_writes_into_caller_array(x):
    y = x * 1.0
    z = _scale_first(y, x[1])
    return np.sum(y * y) + z


def test_helper_writes_into_caller_array_is_followed():
    """A helper's parameter it never rebinds is the caller's array: its write is a write into
    the caller's array (it was refused as a write through an alias)."""
    for mode in ("jacrev", "jacfwd", "hessian"):
        if mode == "hessian":
            H = s2sad.hessian(helper_writes_into_caller_array, backend="python")(X4.copy())
            jac = s2sad.jacrev(helper_writes_into_caller_array, backend="python")
            check_jacobian(lambda a: jac(a.copy()), (X4.copy(),), 0, H, rtol=1e-4, atol=1e-6)
        else:
            assert_jacobians(helper_writes_into_caller_array, (X4.copy(),), modes=(mode,))


def write_through_view_in_loop(x):
    y = np.zeros(4)
    s = 0.0
    for i in range(3):
        v = y[i:]
        v[0] = x[i] * 2.0  # <-
        s = s + np.sum(y)
    return s


@pytest.mark.parametrize(
    "fn",
    [
        write_through_slice_view,
        write_through_alias,
        write_through_reshape,
        write_through_T,
        write_through_np_transpose,
        write_through_ravel,
        write_through_ellipsis,
        write_through_row,
        write_into_argument_alias,
        view_read_after_write_into_base,
        write_through_view_in_loop,
    ],
)
@pytest.mark.parametrize("mode", ["jacrev", "jacfwd", "hessian"])
def test_write_through_view_or_alias_is_refused(fn, mode):
    assert_refused(fn, (X4.copy(),), mode, match="shares memory")


def test_write_through_alias_is_refused_on_numba():
    assert_refused(write_through_slice_view, (X4.copy(),), "jacrev", backend="numba", match="shares memory")


def write_into_argument(x):
    x[0] = x[0] * x[1]
    return np.sum(x * x)


def write_into_copy(a):
    b = a.copy()
    b[0] = b[0] * b[1]
    return np.sum(a * b)


def write_into_alias_then_read_only_the_alias(a):
    c = a * 1.0
    b = c
    b[0] = b[0] * b[1]
    return np.sum(b * b)


def view_taken_after_the_write(x):
    y = np.zeros(4)
    y[0] = x[0] * x[1]
    v = y[:2]
    return np.sum(v * v) + x[2]


def write_into_view_of_unread_base(x):
    y = np.zeros(4)
    v = y[1:]
    v[0] = x[0] * 3.0
    return np.sum(v * v * x[1:])


def rows_read_in_a_loop(x):
    A = np.outer(x, x)
    s = 0.0
    for i in range(4):
        r = A[i]
        s = s + np.sum(r * r)
    return s


def view_rebound_each_trip(x):
    y = np.zeros(4)
    s = 0.0
    for i in range(3):
        y[i] = x[i] * x[i + 1]
        v = y[: i + 1]
        s = s + np.sum(v)
    return s


@pytest.mark.parametrize(
    "fn",
    [
        write_into_argument,
        write_into_copy,
        write_into_alias_then_read_only_the_alias,
        view_taken_after_the_write,
        write_into_view_of_unread_base,
        rows_read_in_a_loop,
        view_rebound_each_trip,
    ],
)
def test_writes_nothing_else_reads_are_followed(fn):
    assert_jacobians(fn, (X4,))


@pytest.mark.numba
def test_write_into_argument_numba():
    assert_jacobians(write_into_argument, (X4,), backend="numba", modes=("jacrev",))


# --- 13: fancy writes with repeated indices -------------------------------------------------


def fancy_write_constant_repeated(x):
    y = np.zeros(3)
    y[[0, 0, 1]] = x[:3]
    return y * y


def fancy_write_index_array(x, idx):
    y = np.zeros(3)
    y[idx] = x[:3]
    return np.sum(y * y * np.arange(1.0, 4.0))


def fancy_write_augmented(x, idx):
    y = x[:3] * 1.0
    y[idx] += x[1:]
    return y


def fancy_write_scalar(x, idx):
    y = x * 1.0
    y[idx] = x[0] * x[1]
    return y


def fancy_write_columns(A, idx):
    y = np.zeros((2, 3))
    y[:, idx] = A
    return y * y


def fancy_write_in_loop(x, idx):
    y = np.zeros(3)
    for k in range(2):
        y[idx] = x[k : k + 3] * (k + 1.0) - y
    return y


@pytest.mark.parametrize("idx", [np.array([0, 0, 1]), np.array([2, 1, 2]), np.array([1, 0, 2])])
def test_fancy_write_repeated_index_keeps_the_last(idx):
    assert_jacobians(fancy_write_index_array, (X4, idx))
    assert_jacobians(fancy_write_augmented, (X4, idx))
    assert_jacobians(fancy_write_scalar, (X4, idx))
    assert_jacobians(fancy_write_in_loop, (X4, idx))
    g = s2sad.grad(fancy_write_index_array, backend="python")(X4, idx)
    check_jacobian(fancy_write_index_array, (X4, idx), 0, g)


def test_fancy_write_constant_list_and_columns():
    assert_jacobians(fancy_write_constant_repeated, (X4,))
    A = np.arange(1.0, 7.0).reshape(2, 3) / 7.0
    assert_jacobians(fancy_write_columns, (A, np.array([2, 0, 2])))
    assert_jacobians(fancy_write_columns, (A[:, :1], np.array([2, 0, 2])))  # a broadcast column


def test_fancy_write_vjp_and_hessian():
    idx = np.array([0, 0, 1])
    out, vjp_fn = s2sad.vjp(fancy_write_augmented, X4, idx, backend="python")
    dot_product_test(fancy_write_augmented, (X4, idx), 0, lambda u: vjp_fn(u)[:1])
    H = s2sad.hessian(fancy_write_index_array, backend="python")(X4, idx)
    expected = np.zeros((4, 4))  # the last write wins: y0 = x1, y1 = x2; f = x1**2 + 2 x2**2
    expected[1, 1], expected[2, 2] = 2.0, 4.0
    np.testing.assert_allclose(H, expected)


@pytest.mark.numba
def test_fancy_write_repeated_index_numba():
    assert_jacobians(fancy_write_index_array, (X4, np.array([0, 0, 1])), backend="numba", modes=("jacrev",))


def fancy_write_two_axis_index(x, idx):
    y = np.zeros((2, 2))
    y[idx] = x[:4].reshape((2, 2))  # <-
    return y


def test_fancy_write_through_a_two_axis_index_is_refused():
    assert_refused(fancy_write_two_axis_index, (X4, np.array([[0, 0], [1, 1]])), "jacrev", match="index array")


# --- 7: lists and tuples of arrays ----------------------------------------------------------


def list_of_arrays(x, y):
    a = [x, y]
    return a[0] * a[1]


def sum_of_list(a, b):
    return np.sum([a, b * b])


def mean_of_list(a, b):
    return np.mean([a, b * b], axis=0)


def array_of_elements(x):
    return np.array([x[0] * x[1], x[2]])


def stacked_list(x, y):
    return np.stack([x, y * x])


def unpacked_pair(x, y):
    pair = (x, y * 2.0)
    a, b = pair
    return a * b


def tuple_from_helper(x, y):
    p = _pair(x, y)
    return p[0] - p[1]


def _pair(x, y):
    return x * y, x + y


@pytest.mark.parametrize(
    "fn", [list_of_arrays, sum_of_list, mean_of_list, stacked_list, unpacked_pair, tuple_from_helper]
)
def test_lists_and_tuples_of_arrays(fn):
    assert_jacobians(fn, (X4, Y4), argnums=(0, 1))


def test_array_of_elements():
    assert_jacobians(array_of_elements, (X4,))


@pytest.mark.numba
def test_list_to_numpy_numba():
    assert_jacobians(sum_of_list, (X4, Y4), argnums=(0, 1), backend="numba", modes=("jacrev",))


def tuple_indexed_by_loop_variable(x, y):
    p = (x, y)
    s = 0.0
    for i in range(2):
        s = s + np.sum(p[i])  # <-
    return s


def loop_over_list(x, y):
    s = 0.0
    for v in [x, y * y]:
        s = s + np.sum(v * v)
    return s


def loop_over_tuple_in_loop(x, y):
    s = x * 0.0
    for k in range(2):
        for v in (x, y):
            s = s * v + v[k]
    return s


def test_loop_over_a_list_written_out_is_unrolled():
    assert_jacobians(loop_over_list, (X4, Y4), argnums=(0, 1))
    assert_jacobians(loop_over_tuple_in_loop, (X4, Y4), argnums=(0, 1))


def loop_over_list_with_break(x, y):
    s = 0.0
    for v in [x, y]:  # <-
        if np.sum(v) > 10.0:
            break
        s = s + np.sum(v)
    return s


def list_plus_list(x, y):
    a = [x] + [y]  # <-
    return np.sum(a)


def write_into_list(x, y):
    a = [x, y]
    a[0] = x * 2.0  # <-
    return a[0] * a[1]


def builtin_sum_of_list(x, y):
    return sum([x, y])  # <-


@pytest.mark.parametrize(
    "fn",
    [tuple_indexed_by_loop_variable, loop_over_list_with_break, list_plus_list, write_into_list, builtin_sum_of_list],
)
@pytest.mark.parametrize("mode", ["jacrev", "jacfwd"])
def test_lists_python_and_numpy_disagree_on_are_refused(fn, mode):
    assert_refused(fn, (X4, Y4), mode, match="list")


# --- the safety net ----------------------------------------------------------------------


def shape_mismatch(x, A):
    return A @ x


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_user_errors_are_the_users_own(backend):
    """The generated code raises where the user's function raises: that error is re-raised
    from the user's code (an error NumPy would give), not reported as s2sad's."""
    with pytest.raises(ValueError, match="matmul") as info:
        s2sad.jacrev(shape_mismatch, backend=backend)(X4, np.ones((3, 3)))
    assert not isinstance(info.value, s2sad.S2SADError)
    assert any(frame.name == "shape_mismatch" for frame in info.traceback)


def simple(x):
    y = np.sin(x)  # <-
    return np.sum(y * x)


def test_exception_escaping_generated_code_is_an_internal_error(monkeypatch):
    import s2sad.runtime as rt

    def broken(*args):
        raise ValueError("broken helper")

    g = s2sad.jacrev(simple, backend="python")
    g(X4)
    monkeypatch.setattr(rt, "broadcast_like", broken)  # called at run time, for the return line
    with pytest.raises(InternalError) as info:
        g(X4)
    message = str(info.value)
    assert "broken helper" in message and "simple_jacrev" in message
    assert message.startswith(f"{__file__}:{marked_line(simple) + 1}: internal error"), message
    assert "simple_jacrev" in message.split("(at ", 1)[1]  # the generated file and its line


def test_exception_escaping_a_pass_is_an_internal_error_at_the_users_line(monkeypatch):
    from s2sad.ad import forward

    def broken(self, stmt):
        raise AttributeError("broken pass")

    monkeypatch.setattr(forward.Forward, "assign", broken)
    with pytest.raises(InternalError) as info:
        s2sad.jacfwd(simple, backend="python")(X4)
    message = str(info.value)
    assert "broken pass" in message
    assert f"test_refusals.py:{marked_line(simple)}:" in message


def writes_first_reads_second(a, b):  # <-
    a[0] = b[1] * 2.0
    return np.sum(a * b)


@pytest.mark.parametrize("mode", ["jacrev", "jacfwd"])
def test_arguments_sharing_memory_with_a_written_argument_are_refused(mode):
    x = X4.copy()
    message = assert_refused(writes_first_reads_second, (x, x), mode, argnums=(0, 1), match="shares memory")
    assert "argument 'a'" in message and "'b'" in message
    assert_refused(writes_first_reads_second, (x[:3], x[1:]), mode, argnums=(0, 1), match="shares memory")
    assert_jacobians(writes_first_reads_second, (X4, Y4), argnums=(0, 1))  # separate arrays: followed


def test_arguments_sharing_memory_refused_by_jvp():
    x = X4.copy()
    with pytest.raises(s2sad.S2SADError, match="shares memory"):
        s2sad.jvp(writes_first_reads_second, (x, x), (X4, X4), backend="python")


def gather_constant_list(x):
    return x[[0, 2, 2]] * x[1]


def test_constant_list_index_is_an_index_array():
    """x[[0, 2, 2]] is a gather (a tuple index would index three axes)."""
    assert_jacobians(gather_constant_list, (X4,))


def _two(x):
    return x * 1.0, x * 2.0


def write_into_one_of_a_pair(x):
    a, b = _two(x)
    a[0] = x[1] * x[2]
    return np.sum(a * b)


def write_seen_through_a_tuple(x):
    y = x * 1.0
    p = (y, x)
    y[0] = x[1] * x[2]  # <-
    return p[0] * p[1]


def test_tuples_hold_their_elements():
    assert_jacobians(write_into_one_of_a_pair, (X4,))
    assert_refused(write_seen_through_a_tuple, (X4,), "jacrev", match="shares memory")


def tuple_value_as_index(x, ij):
    y = np.outer(x, x)
    y[ij] = x[1] * x[2]  # <-
    return y


def tuple_repeated(x):
    y = x * 1.0
    y[(0,) * y.ndim] = x[1] * x[2]  # <-
    return y


def test_tuple_value_as_index_is_refused():
    assert_refused(tuple_value_as_index, (X4, (0, 1)), "jacrev", match="tuple value")
    assert_refused(tuple_repeated, (X4,), "jacrev", match="repeats")


SCALE = np.ones(4)


def scaled_by_a_global(x):  # <-
    return x * SCALE


@pytest.mark.parametrize("mode", ["jacfwd", "jacrev"])
@pytest.mark.parametrize("value", [np.ones(4) + 1j, np.ones((4, 4)), 2.0])
def test_a_global_that_changes_type_after_compiling_returns_nothing(mode, value):
    """Globals are read at each call: code compiled for a float vector that meets a complex
    vector, a matrix or a number would be stale."""
    g = getattr(s2sad, mode)(scaled_by_a_global, backend="python")
    np.testing.assert_allclose(g(X4), np.eye(4))
    product = (
        (lambda: s2sad.jvp(scaled_by_a_global, (X4,), (X4,), backend="python"))
        if mode == "jacfwd"
        else (lambda: s2sad.vjp(scaled_by_a_global, X4, backend="python")[1](X4))
    )
    product()
    globals()["SCALE"] = value
    try:
        with pytest.raises(
            s2sad.S2SADError, match=rf"test_refusals.py:{marked_line(scaled_by_a_global)}: .*'SCALE' changed its type"
        ):
            g(X4)
        with pytest.raises(s2sad.S2SADError, match="changed its type|complex"):
            product()
    finally:
        globals()["SCALE"] = np.ones(4)


def product_of_shape(x, shape):
    n = 1.0
    for d in range(len(shape)):
        n = n * shape[d]
    return x * n


def largest_axis(x):
    return x * max(x.shape)


def test_integer_tuples_are_read_as_python_reads_them():
    for mode in ("jacrev", "jacfwd"):
        J = getattr(s2sad, mode)(product_of_shape, backend="python")(X4, (2, 3))
        np.testing.assert_allclose(J, 6.0 * np.eye(4))
        J = getattr(s2sad, mode)(largest_axis, backend="python")(X4)
        np.testing.assert_allclose(J, 4.0 * np.eye(4))


def augmented_through_view(x):
    v = x[1:]
    v *= 2.0  # <-
    return x * x


def augmented_through_alias(x):
    y = x * 1.0
    z = y
    z += x[0]  # <-
    return y * x


def augmented_nothing_else_sees(x):
    y = x * 1.0
    y += x[0]
    v = y[1:]
    v *= 3.0
    return v * v


def test_augmented_assignment_on_an_array_writes_in_place():
    """x += v on an array writes into its buffer (NumPy), where the IR rebinds the name."""
    for fn in (augmented_through_view, augmented_through_alias):
        for mode in ("jacrev", "jacfwd"):
            assert_refused(fn, (X4.copy(),), mode, match="shares memory")
    assert_jacobians(augmented_nothing_else_sees, (X4,))


def test_augmented_assignment_through_a_view_refused_for_vjp_values_too():
    with pytest.raises(s2sad.S2SADError, match="shares memory"):
        s2sad.vjp(augmented_through_view, X4.copy(), backend="python")


def sum_of_numbers(x):
    return np.sum([x[0] * x[1], x[2], 2.0 * x[3]])


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_list_of_numbers_to_numpy(backend):
    assert_jacobians(
        sum_of_numbers, (X4,), backend=backend, modes=("jacrev", "jacfwd") if backend == "python" else ("jacrev",)
    )


def test_exception_escaping_normalize_is_an_internal_error_at_the_users_line(monkeypatch):
    from s2sad.frontend import normalize

    def broken(self, node, out, hint):
        raise KeyError("broken normalize")

    def reads_sin(x):
        y = x * 2.0
        return np.sin(y)  # <-

    monkeypatch.setattr(normalize.Normalizer, "call", broken)
    with pytest.raises(InternalError) as info:
        s2sad.jacrev(reads_sin, backend="python")(X4)
    assert f"test_refusals.py:{marked_line(reads_sin)}: internal error" in str(info.value)


def write_into_flattened_copy(A):
    f = A.flatten()
    f[0] = f[1] * f[2]
    return f * np.sum(A)


def test_flatten_copies():
    A = np.arange(1.0, 7.0).reshape(2, 3) / 5.0
    before = A.copy()
    assert_jacobians(write_into_flattened_copy, (A,))
    s2sad.jacfwd(write_into_flattened_copy, backend="python")(A)
    np.testing.assert_array_equal(A, before)  # the caller's array is not written, as NumPy's flatten copies


@pytest.mark.parametrize("backend", ["python", pytest.param("numba", marks=pytest.mark.numba)])
def test_derivatives_leave_the_arrays_the_function_writes_into(backend):
    """A derivative is a function of the point: every transformation of a function that writes
    into its argument leaves the caller's array as it was, so a second call gives the same
    numbers (jacfwd wrote into the caller's array, and its second call differentiated at the
    changed point)."""
    x = X4.copy()

    def f_copy(v):
        return write_into_argument(np.copy(v))

    eps = 1e-6
    fd = np.array([(f_copy(x + eps * e) - f_copy(x - eps * e)) / (2 * eps) for e in np.eye(4)])
    calls = {
        "jacfwd": lambda: s2sad.jacfwd(write_into_argument, backend=backend)(x),
        "jacrev": lambda: s2sad.jacrev(write_into_argument, backend=backend)(x),
        "grad": lambda: s2sad.grad(write_into_argument, backend=backend)(x),
        "value_and_grad": lambda: s2sad.value_and_grad(write_into_argument, backend=backend)(x)[1],
        "jvp": lambda: s2sad.jvp(write_into_argument, (x,), (np.eye(4)[1],), backend=backend)[1],
        "vjp": lambda: s2sad.vjp(write_into_argument, x, backend=backend)[1](1.0)[0],
        "hessian": lambda: s2sad.hessian(write_into_argument, backend=backend)(x)[1],
        "hvp": lambda: s2sad.hvp(write_into_argument, (x,), (np.eye(4)[1],), backend=backend)[0],
    }
    h, E = 1e-4, np.eye(4)
    H = np.array(
        [
            [
                (
                    f_copy(x + h * a + h * b)
                    - f_copy(x + h * a - h * b)
                    - f_copy(x - h * a + h * b)
                    + f_copy(x - h * a - h * b)
                )
                / (4 * h * h)
                for b in E
            ]
            for a in E
        ]
    )
    want = {"jvp": fd[1], "hessian": H[1], "hvp": H[1]}
    for name, call in calls.items():
        first, second = call(), call()
        np.testing.assert_array_equal(x, X4, err_msg=f"{name} wrote into the caller's array")
        np.testing.assert_array_equal(first, second, err_msg=name)
        np.testing.assert_allclose(first, want.get(name, fd), rtol=1e-5, atol=1e-5, err_msg=name)


# each guard of generated code (runtime.GUARDS) with arguments it passes and arguments it
# refuses; its message a constant, as codegen writes it
GUARD_CALLS = [
    (lambda n: rt.check_diag(n), [(2,), (1,)]),
    (lambda x: rt.check_no_unit_dims(x), [(np.ones((2, 3)),), (np.ones((2, 1)),), (2.0,)]),
    (lambda s, n: rt.require_size(s, n, "f.py:3: refused"), [(3, 3), (2, 3)]),
    (lambda s, n: rt.require_at_least(s, n, "f.py:3: refused"), [(3, 3), (4, 3), (2, 3)]),
    (
        lambda x: rt.require_unit_axes(x, (1,), "f.py:3: refused"),
        [(np.ones((2, 1)),), (np.ones((1, 1)),), (np.ones((2, 3)),), (np.ones((1, 3)),)],
    ),
    (lambda x: rt.require_unit_axes(x, (), "f.py:3: refused"), [(np.ones((2, 3)),), (np.ones((2, 1)),), (1.0,)]),
    (lambda x: rt.require_unit_axes(x, (0, 2), "f.py:3: refused"), [(np.ones((1, 3, 1)),), (np.ones((1, 3, 2)),)]),
]


def _outcome(fn, args):
    try:
        return fn(*args)
    except s2sad.S2SADError as exc:
        return type(exc), str(exc)


@pytest.mark.numba
@pytest.mark.parametrize("k", range(len(GUARD_CALLS)))
def test_guards_raise_on_numba_what_they_raise_in_python(k):
    numba = pytest.importorskip("numba")
    from s2sad.backends import register_numba_runtime

    register_numba_runtime()
    fn, calls = GUARD_CALLS[k]
    compiled = numba.njit(fn)
    outcomes = [_outcome(fn, args) for args in calls]
    assert outcomes[0] == 0 and any(o != 0 for o in outcomes)  # passes some, refuses some
    assert [_outcome(compiled, args) for args in calls] == outcomes
