"""Language coverage: conditional expressions, 0-d array arguments, helpers called for what
they write into their arguments, lambdas, functools.partial, bound methods and helper calls
with keyword arguments.

Derivatives are checked against oracles that do not use s2sad (central differences in random
directions, the dot-product test; a Hessian against central differences of the Jacobian that
was itself checked that way); refusals must raise ``S2SADError`` naming this file and the line
marked ``# <-`` in the function, before any number is returned.
"""

import functools
import inspect

import numpy as np
import pytest

import s2sad
from checks import check_jacobian, check_jvp, dot_product_test

X3 = np.array([0.3, 0.8, -0.5])
X4 = np.array([0.4, -0.7, 1.1, 0.6])


def copies(args):
    return tuple(np.copy(a) if isinstance(a, np.ndarray) else a for a in args)


def check_all(fn, args, argnums=0, backend="python", modes=("jacfwd", "jacrev", "hessian", "jvp", "vjp"), g=None):
    """Every mode of ``g`` (the transformed callable; ``fn`` itself by default) against oracles
    computed from ``fn`` (a plain Python callable run by NumPy)."""
    g = fn if g is None else g

    def oracle(*a):  # the function may write into its arguments: never into the oracle's
        return fn(*copies(a))

    nums = argnums if isinstance(argnums, tuple) else (argnums,)
    if "jacfwd" in modes:
        check_jacobian(oracle, copies(args), argnums, s2sad.jacfwd(g, argnums, backend=backend)(*copies(args)))
    if "jacrev" in modes or "hessian" in modes:
        jac = s2sad.jacrev(g, argnums, backend=backend)
        check_jacobian(oracle, copies(args), argnums, jac(*copies(args)))
    if "hessian" in modes:
        H = s2sad.hessian(g, argnums, backend=backend)(*copies(args))
        # rows: the Hessian of each output w.r.t. each pair of arguments, against central
        # differences of the (checked) Jacobian
        if len(nums) == 1:
            check_jacobian(lambda *a: jac(*copies(a)), copies(args), argnums, H, rtol=1e-4, atol=1e-6)
    rng = np.random.default_rng(1)
    if "jvp" in modes and len(nums) == len(args):
        tangents = tuple(rng.standard_normal(np.shape(a)) if np.ndim(a) else float(rng.standard_normal()) for a in args)
        out, tout = s2sad.jvp(g, copies(args), tangents, backend=backend)
        check_jvp(oracle, copies(args), tuple(range(len(args))), tout, tangents)
    if "vjp" in modes and len(nums) == len(args):
        out, vjp_fn = s2sad.vjp(g, *copies(args), backend=backend)
        dot_product_test(oracle, copies(args), tuple(range(len(args))), vjp_fn)


def marked_line(fn):
    """The line of ``fn``'s source marked ``# <-`` (its def line if none is marked)."""
    lines, first = inspect.getsourcelines(fn)
    for k, text in enumerate(lines):
        if "# <-" in text:
            return first + k
    return first


def assert_refused(fn, args, mode="jacrev", backend="python", argnums=0, line=None, match=None):
    g = getattr(s2sad, mode)(fn, argnums, backend=backend)
    with pytest.raises(s2sad.S2SADError) as info:
        g(*args)
    message = str(info.value)
    line = marked_line(fn) if line is None else line
    assert f"test_language.py:{line}:" in message, message
    if match is not None:
        assert match in message, message
    return message


# --- 1: conditional expressions ----------------------------------------------------------


def ifexp_simple(x):
    y = x * 2.0 if x[0] > 0 else np.sin(x)
    return y * x[1]


def ifexp_nested(x):
    y = np.tanh(x)
    z = (y if y[1] > 0.5 else y * y) if x[2] > 0 else (np.cos(y) if x[1] < 0 else y + 1.0)
    return z * x[0]


def ifexp_in_loop(x):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + (x[i] * x[i] if x[i] > 0 else -x[i] * s)
        s = s * 0.5 if s > 1.0 else s
    return np.sin(x) * s


def ifexp_flag(a, flag):
    return a * a if flag else a * 3.0


def ifexp_in_while(x):
    a = x[0]
    k = 0
    while (a if a > 0 else -a) > 0.1 and k < 20:
        a = a * 0.5 if k % 2 == 0 else a * 0.7
        k = k + 1
    return a * x


def ifexp_in_argument(x):
    return np.sum(np.exp(x if x[0] > 0 else -x) * (x[1] if x[2] < 0 else x[2]))


@pytest.mark.parametrize("fn", [ifexp_simple, ifexp_nested, ifexp_in_loop, ifexp_in_while, ifexp_in_argument])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_conditional_expression(fn, sign):
    check_all(fn, (sign * X3,))


def test_conditional_expression_on_a_flag():
    for flag, expected in ((True, 4.0), (False, 3.0)):
        assert s2sad.grad(ifexp_flag, backend="python")(2.0, flag) == pytest.approx(expected)
        check_all(ifexp_flag, (2.0, flag), modes=("jacfwd", "jacrev", "hessian"))


def test_conditional_expression_runs_one_arm():
    """Only the chosen arm runs: the other one's NaN (log of a negative) never reaches the
    derivative, in either mode."""

    def safe_log(x):
        return np.log(x[0]) if x[0] > 0 else x[0] * 2.0

    x = np.array([-0.5, 1.0])
    with np.errstate(all="raise"):
        for mode in ("jacfwd", "jacrev"):
            J = getattr(s2sad, mode)(safe_log, backend="python")(x)
            np.testing.assert_allclose(J, [2.0, 0.0])


def _swap(x):
    return x[1], x[0]


def ifexp_tuples(x):
    a, b = (x[0], x[1]) if x[2] > 0 else _swap(x)
    p = (x[0] * 2.0, x[2])
    q = (x[1], x[0])
    c, d = p if x[1] > 0 else q
    return a * b * b + c * d * np.sin(d)


def tuple_chosen_in_a_branch(x):
    p = (x[0], x[1])
    q = (x[1], x[2])
    if x[2] > 0:
        t = p
    else:
        t = q
    a, b = t
    return a * b * b


@pytest.mark.parametrize("fn", [ifexp_tuples, tuple_chosen_in_a_branch])
@pytest.mark.parametrize("signs", [(1.0, 1.0, 1.0), (1.0, -1.0, -1.0)])
def test_tuple_chosen_by_control_flow(fn, signs):
    """(jacrev gave 0 and jacfwd raised in generated code for a tuple variable assigned in a
    branch: aggregates.py now follows it element by element.)"""
    check_all(fn, (X3 * np.array(signs),))


def ifexp_rank_change(x):
    y = x * 2.0 if x[0] > 0 else 0.0  # <-
    return y * x


def test_conditional_expression_with_arms_of_different_rank_is_refused():
    assert_refused(ifexp_rank_change, (X3,))


@pytest.mark.numba
@pytest.mark.parametrize("fn", [ifexp_nested, ifexp_in_loop])
def test_conditional_expression_numba(fn):
    check_all(fn, (X3,), backend="numba", modes=("jacfwd", "jacrev"))


# --- 2: 0-d array arguments ---------------------------------------------------------------


def square_in_loop(s):
    for _ in range(3):
        s = s * s
    return s


def square_in_branch(s, x):
    if s > 0:
        s = s * s
    return x * s + np.sin(s)


def zero_d_reductions(s, x):
    t = np.sum(x) * s
    s = s * t
    return s * x


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_zero_d_argument_is_a_scalar(dtype):
    s = np.array(1.1, dtype=dtype)
    for mode in ("grad", "jacfwd", "jacrev", "hessian"):
        r = getattr(s2sad, mode)(square_in_loop, backend="python")(s)
        expected = 8 * 1.1**7 if mode != "hessian" else 56 * 1.1**6
        assert np.shape(r) == ()
        assert float(r) == pytest.approx(expected, rel=1e-5 if dtype == np.float64 else 1e-3)
    check_all(square_in_loop, (np.array(1.1),))


@pytest.mark.parametrize("fn", [square_in_branch, zero_d_reductions])
def test_zero_d_argument_beside_arrays(fn):
    args = (np.array(0.7), X3)
    check_all(fn, args, argnums=0)
    check_all(fn, args, argnums=(0, 1), modes=("jacfwd", "jacrev", "jvp", "vjp"))
    J = s2sad.jacrev(fn, argnums=(0, 1), backend="python")(*args)
    assert J[0].shape == (3,) and J[1].shape == (3, 3)  # out.shape + in.shape, () for a 0-d input


def test_zero_d_argument_hvp_and_vjp():
    s = np.array(1.1)
    (h,) = s2sad.hvp(square_in_loop, (s,), (np.array(1.0),), backend="python")
    assert h == pytest.approx(56 * 1.1**6)
    out, vjp_fn = s2sad.vjp(square_in_loop, s, backend="python")
    assert out == pytest.approx(1.1**8)
    assert vjp_fn(np.array(1.0))[0] == pytest.approx(8 * 1.1**7)


def test_zero_d_argument_vmap():
    X = np.random.default_rng(0).uniform(0.5, 1.0, (4, 3))
    g = s2sad.vmap(s2sad.jacrev(square_in_branch, argnums=0, backend="python"), in_axes=(None, 0), backend="python")
    J = g(np.array(0.7), X)
    for i in range(4):
        check_jacobian(square_in_branch, (0.7, X[i]), 0, J[i])


@pytest.mark.numba
def test_zero_d_argument_numba():
    check_all(square_in_branch, (np.array(0.7), X3), backend="numba", modes=("jacfwd", "jacrev"))


def write_zero_d(s):
    s[()] = s * 2.0  # <-
    return s * 1.0


def test_write_into_a_zero_d_argument_is_refused():
    assert_refused(write_zero_d, (np.array(1.5),), mode="grad")


def test_plain_array_plan_does_not_convert():
    """The per-call path of ordinary arrays is the one it was: no converting wrapper."""
    g = s2sad.jacrev(ifexp_simple, backend="python")
    g(X3)
    plan = next(iter(g._plans.values()))
    assert plan[0] is g._compiled[g._last_key][2]


# --- 3: helpers called for what they write into their arguments ---------------------------


def fill(y, x):
    y[0] = x[0] * 2.0
    y[1] = np.sin(x[1]) * x[0]


def fill_early(y, x):
    if x[0] > 0:
        y[2] = x[0] * x[1]
        return
    y[2] = x[1] * x[1]


def scale_rows(A, s):
    for i in range(A.shape[0]):
        A[i, :] = A[i, :] * s[i]
    return None


def fill_and_return(y, x):
    y[0] = y[0] + x[2]
    return y[0] * 2.0


def uses_fill(x):
    y = np.zeros(3)
    fill(y, x)
    fill_early(y, x)
    return y * x[2]


def uses_scale_rows(x):
    A = np.outer(x, x)
    scale_rows(A, x)
    return A.sum(axis=1)


def fill_in_loop(x):
    y = np.zeros(3)
    for k in range(2):
        fill(y, x * (k + 1.0))
        fill_and_return(y, x)
    return y


@pytest.mark.parametrize("fn", [uses_fill, uses_scale_rows, fill_in_loop])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_helper_called_for_its_writes(fn, sign):
    check_all(fn, (sign * X3,))


@pytest.mark.numba
def test_helper_called_for_its_writes_numba():
    check_all(uses_fill, (X3,), backend="numba", modes=("jacfwd", "jacrev"))


def bare_numpy_call(x):
    np.sin(x)  # <-
    return x * 2.0


def list_append(x):
    out = [x]
    out.append(x * 2.0)  # <-
    return x


def helper_writes_a_view(x):
    y = np.zeros(4)
    fill(y[1:], x)  # <-
    return y * 1.0


@pytest.mark.parametrize("fn", [bare_numpy_call, list_append, helper_writes_a_view])
def test_other_expression_statements_are_refused(fn):
    assert_refused(fn, (X3,))


# --- 4: lambdas, functools.partial, bound methods, keyword calls ---------------------------

sin_times = lambda x: np.sin(x) * x  # noqa: E731
twice, cubed = lambda x: x * 2.0, lambda x: x * x * x  # noqa: E731
outer_of_inner = lambda x: (lambda y: y * y)(x) * np.cos(x)  # noqa: E731  <-
SCALE = 1.5
with_global = lambda x, w: np.tanh(w * x) * SCALE  # noqa: E731


def make_closure(c):
    return lambda x: np.exp(c * x) + (x if c > 0 else -x)  # noqa: E731


square_helper = lambda v: v * v  # noqa: E731


def calls_lambda_helper(x):
    return np.sum(square_helper(x) * x)


@pytest.mark.parametrize("fn", [sin_times, twice, cubed, make_closure(0.7), make_closure(-0.3)])
def test_lambda(fn):
    check_all(fn, (X3,))


def test_lambda_inside_a_lambda_is_refused():
    line = inspect.getsourcelines(outer_of_inner)[1]
    with pytest.raises(s2sad.S2SADError, match=f"test_language.py:{line}: lambda"):
        s2sad.jacrev(outer_of_inner, backend="python")(X3)


def test_lambdas_on_one_line_are_told_apart():
    np.testing.assert_allclose(s2sad.jacrev(twice, backend="python")(X3), 2.0 * np.eye(3))
    np.testing.assert_allclose(s2sad.jacfwd(cubed, backend="python")(X3), np.diag(3 * X3**2))


def test_lambda_with_several_arguments_and_a_global():
    check_all(with_global, (X3, 0.8), argnums=(0, 1), modes=("jacfwd", "jacrev", "jvp", "vjp"))
    check_all(with_global, (X3, 0.8), argnums=1)


def test_lambda_called_by_a_function():
    check_all(calls_lambda_helper, (X3,))


@pytest.mark.numba
def test_lambda_numba():
    check_all(sin_times, (X3,), backend="numba", modes=("jacfwd", "jacrev"))


def test_ambiguous_lambda_is_refused_naming_its_line():
    import types

    line = inspect.getsourcelines(twice)[1]
    blind = types.FunctionType(cubed.__code__.replace(co_linetable=b""), globals())  # no columns
    with pytest.raises(s2sad.S2SADError, match=f"test_language.py:{line}: lambda: several lambdas"):
        s2sad.jacrev(blind, backend="python")(X3)


def dense(x, W, b, scale, shift=0.0):
    return np.tanh(W @ x + b) * scale + shift


W3 = np.array([[0.5, -0.2, 0.1], [0.3, 0.8, -0.4]])
B2 = np.array([0.1, -0.2])


def test_partial_with_keywords():
    p = functools.partial(dense, W=W3, b=B2, scale=2.0)  # shift takes its default, as in Python
    check_all(lambda x: dense(x, W3, B2, 2.0), (X3,), g=p)


def test_partial_with_positional_arguments_argnums_index_the_rest():
    p = functools.partial(dense, X3)  # W, b, scale, shift left: argnums 0 is W (JAX's convention)
    args = (W3, B2, 1.3, 0.2)
    oracle = lambda W, b, s, t: dense(X3, W, b, s, t)  # noqa: E731
    check_all(oracle, args, argnums=0, g=p, modes=("jacfwd", "jacrev", "hessian"))
    check_all(oracle, args, argnums=(1, 2), g=p, modes=("jacfwd", "jacrev"))
    check_all(oracle, args, argnums=(0, 1, 2, 3), g=p, modes=("jvp", "vjp"))


def test_partial_of_a_lambda_and_bound_arrays_read_at_each_call():
    w = np.array([1.0, 2.0, 3.0])
    p = functools.partial(with_global, w=w)
    g = s2sad.jacrev(p, backend="python")
    check_jacobian(lambda x: with_global(x, w), (X3,), 0, g(X3))
    w[:] = [0.5, -1.0, 0.25]  # the bound array, changed in place: read at the next call
    check_jacobian(lambda x: with_global(x, w), (X3,), 0, g(X3))


@pytest.mark.numba
def test_partial_numba():
    p = functools.partial(dense, W=W3, b=B2, scale=2.0, shift=0.5)
    check_all(lambda x: dense(x, W3, B2, 2.0, 0.5), (X3,), g=p, backend="numba", modes=("jacfwd", "jacrev"))


def test_partial_binding_a_parameter_followed_by_one_without_default_is_refused():
    p = functools.partial(dense, W=W3)  # b, scale can now only be passed by keyword
    with pytest.raises(s2sad.S2SADError, match="only be passed by keyword"):
        s2sad.jacrev(p, backend="python")(X3, B2, 1.0)


class Layer:
    def __init__(self, W, b, scale):
        self.W, self.b, self.scale = W, b, scale
        self.inner = Inner(0.3)

    def predict(self, x):
        return np.tanh(self.W @ x + self.b) * self.scale + self.inner.bias(x)

    def loss(self, x, y):
        r = self.predict(x) - y
        return np.sum(r * r) + penalty(self, x, weight=0.1)

    def update(self, y, x):
        y[0] = x[0] * self.scale


class Inner:
    def __init__(self, c):
        self.c = c

    def bias(self, x):
        return self.c * np.sum(x * x)


def penalty(layer, x, *, weight=1.0):
    return weight * layer.scale * np.sum(x**4)


LAYER = Layer(W3, B2, 1.7)


def uses_global_object(x):
    y = np.zeros(2)
    LAYER.update(y, x)
    return LAYER.predict(x) + y


def test_bound_method():
    m = Layer(W3.copy(), B2, 1.7)
    check_all(m.predict, (X3,))
    check_all(m.loss, (X3, B2), argnums=(0, 1), modes=("jacfwd", "jacrev", "jvp", "vjp"))
    check_all(m.loss, (X3, B2), argnums=0, modes=("hessian",))


def test_bound_method_reads_attributes_at_each_call():
    m = Layer(W3.copy(), B2, 1.7)
    g = s2sad.jacrev(m.predict, backend="python")
    check_jacobian(m.predict, (X3,), 0, g(X3))
    m.scale = -0.4
    m.W *= 2.0
    check_jacobian(m.predict, (X3,), 0, g(X3))


def test_method_of_a_global_object():
    check_all(uses_global_object, (X3,))


@pytest.mark.numba
def test_bound_method_numba():
    m = Layer(W3.copy(), B2, 1.7)
    check_all(m.predict, (X3,), backend="numba", modes=("jacfwd", "jacrev"))


def keyword_helper(x, *, scale=2.0, shift=-1.0):
    return np.sin(x) * scale + shift


def positional_helper(x, a, b=0.5):
    return x * a - b


def keyword_calls(x):
    return keyword_helper(x, shift=x[0]) + positional_helper(b=x[1], a=x[2], x=x) + keyword_helper(x)


def test_helper_calls_with_keywords():
    check_all(keyword_calls, (X3,))


def passes_object_to_numpy(x):
    return np.sum(LAYER) * x  # <-


def test_object_used_as_a_value_is_refused():
    assert_refused(passes_object_to_numpy, (X3,), match="object")


def keyword_only_root(x, *, scale):
    return x * scale


def test_keyword_only_parameter_of_the_function_is_refused_unless_bound():
    with pytest.raises(s2sad.S2SADError, match="keyword-only"):
        s2sad.jacrev(keyword_only_root, backend="python")(X3)
    p = functools.partial(keyword_only_root, scale=3.0)
    np.testing.assert_allclose(s2sad.jacrev(p, backend="python")(X3), 3.0 * np.eye(3))


# --- 5: error text of a complex-valued call, np.newaxis ------------------------------------


def fft_real(x):
    return np.fft.fft(x).real  # <-


def sqrt_real(x):
    return np.sqrt(x).real  # <-


def test_attribute_of_a_call_without_a_rule_names_the_function():
    message = assert_refused(fft_real, (X3,), match="np.fft.fft has no derivative rule")
    assert ".real" not in message.split(":")[2]
    assert_refused(sqrt_real, (np.abs(X3),), match=".real")  # a rule exists: the attribute is named


from numpy import newaxis  # noqa: E402


def outer_by_newaxis(x):
    return x[:, np.newaxis] * x[np.newaxis, :] + x[newaxis] * 2.0


def test_newaxis():
    check_all(outer_by_newaxis, (X3,))


def test_command_line_shows_a_lambda_and_a_method(capsys):
    from s2sad.__main__ import main

    assert main(["show", f"{__file__}:sin_times", "--mode", "jacfwd"]) == 0
    assert "def sin_times_jacfwd(x)" in capsys.readouterr().out
    assert main(["show", f"{__file__}:LAYER.predict", "--mode", "jacrev"]) == 0
    out = capsys.readouterr().out
    assert "def predict_jacrev(x," in out and "self.W" in out


def scaled_tanh(s, x):
    return np.tanh(x) * s + x * x


@pytest.mark.parametrize("shape", [(1,), (2, 1)])
def test_zero_d_argument_beside_a_size_one_axis(shape):
    """Code built on the structure of its seeds falls back for a size-1 axis: the fallback is
    keyed as the call converts a 0-d argument (it raised an internal error)."""
    x = np.linspace(0.2, 0.9, int(np.prod(shape))).reshape(shape)
    for mode in ("jacrev", "jacfwd"):
        g = getattr(s2sad, mode)(scaled_tanh, argnums=(0, 1), backend="python")
        J = g(np.array(0.5), x)
        check_jacobian(scaled_tanh, (0.5, x), (0, 1), J)


@__import__("dataclasses").dataclass
class Weights:  # an eq dataclass: its instances cannot be hashed (their bound methods can)
    w: np.ndarray

    def energy(self, x):
        return np.sum(np.sin(self.w * x))


def test_method_of_an_unhashable_object_in_jvp_vjp_hvp():
    d = Weights(np.array([1.0, 2.0, -0.5]))
    check_all(d.energy, (X3,), modes=("jvp", "vjp"))
    (h,) = s2sad.hvp(d.energy, (X3,), (np.ones(3),), backend="python")
    np.testing.assert_allclose(h, -(d.w**2) * np.sin(d.w * X3), rtol=1e-12)
