"""The oracles in checks.py, tested on functions whose derivatives are known in closed form.

Each check is also shown to fail on a wrong derivative, so a passing oracle means something.
"""

import numpy as np
import pytest

from checks import (
    check_jacobian,
    check_jvp,
    dot_product_test,
    numerical_jvp,
    random_args,
)


def sin_times_x(x):
    return np.sin(x) * x


def sin_times_x_derivative(x):
    return np.cos(x) * x + np.sin(x)


def product_and_square_norm(x, y):
    return x * y, np.sum(x**2)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numerical_jvp_of_elementwise_function(rng, dtype):
    (x,) = random_args([(5,)], rng, dtype, low=-2.0, high=2.0)
    v = rng.standard_normal(5)
    expected = sin_times_x_derivative(x.astype(np.float64)) * v
    rtol, atol = (1e-8, 1e-9) if dtype == np.float64 else (1e-2, 1e-3)
    actual = numerical_jvp(sin_times_x, (x,), 0, v)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def test_check_jvp_on_scalars_and_tuple_outputs(rng):
    check_jvp(lambda x: x**3, (1.5,), 0, 3 * 1.5**2 * 0.7, 0.7)
    x, y = random_args([(4,), (4,)], rng)
    dx, dy = rng.standard_normal(4), rng.standard_normal(4)
    good = (dx * y + x * dy, np.sum(2 * x * dx))
    check_jvp(product_and_square_norm, (x, y), (0, 1), good, (dx, dy))
    with pytest.raises(AssertionError):
        check_jvp(product_and_square_norm, (x, y), (0, 1), (dx * y, good[1]), (dx, dy))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_check_jacobian_elementwise(rng, dtype):
    (x,) = random_args([(6,)], rng, dtype)
    check_jacobian(sin_times_x, (x,), 0, np.diag(sin_times_x_derivative(x)), rng=rng)
    with pytest.raises(AssertionError):
        check_jacobian(sin_times_x, (x,), 0, np.diag(np.cos(x) * x), rng=rng)


def test_check_jacobian_linear_map(rng):
    a, x = random_args([(3, 4), (4,)], rng)
    check_jacobian(lambda x: a @ x, (x,), 0, a, rng=rng)
    with pytest.raises(AssertionError):
        check_jacobian(lambda x: a @ x, (x,), 0, a + 1e-3, rng=rng)


def test_check_jacobian_matrix_input_contracts_all_input_axes(rng):
    w, x = random_args([(3, 4), (4,)], rng)
    jac = np.einsum("ik,l->ikl", np.eye(3), x)  # d(W @ x)_i / dW_kl = delta_ik x_l
    check_jacobian(lambda w: w @ x, (w,), 0, jac, rng=rng)
    with pytest.raises(AssertionError):
        check_jacobian(lambda w: w @ x, (w,), 0, jac * 1.01, rng=rng)


def test_check_jacobian_rejects_wrong_shape(rng):
    a, x = random_args([(3, 4), (4,)], rng)
    with pytest.raises(AssertionError, match="shape"):
        check_jacobian(lambda x: a @ x, (x,), 0, a.T, rng=rng)


def test_check_jacobian_tuple_outputs_and_argnums(rng):
    x, y = random_args([(4,), (4,)], rng)
    jac = ((np.diag(y), np.diag(x)), (2 * x, np.zeros(4)))
    check_jacobian(product_and_square_norm, (x, y), (0, 1), jac, rng=rng)
    # argnums int with tuple outputs: one block per output
    check_jacobian(product_and_square_norm, (x, y), 0, (np.diag(y), 2 * x), rng=rng)
    # tuple argnums with a single output: one block per argument
    check_jacobian(lambda x, y: x * y, (x, y), (0, 1), (np.diag(y), np.diag(x)), rng=rng)
    wrong = ((np.diag(y), np.diag(x)), (2 * x, np.ones(4)))
    with pytest.raises(AssertionError):
        check_jacobian(product_and_square_norm, (x, y), (0, 1), wrong, rng=rng)


def test_check_jacobian_ignores_constant_arguments(rng):
    (x,) = random_args([(5,)], rng)
    check_jacobian(lambda n, x: x**n, (3, x), 1, np.diag(3 * x**2), rng=rng)


def test_dot_product_test(rng):
    a, x = random_args([(3, 4), (4,)], rng)
    dot_product_test(lambda x: a @ x, (x,), 0, lambda u: (a.T @ u,), rng=rng)
    with pytest.raises(AssertionError, match="dot-product"):
        dot_product_test(lambda x: a @ x, (x,), 0, lambda u: (1.01 * a.T @ u,), rng=rng)


def test_dot_product_test_tuple_outputs_and_argnums(rng):
    x, y = random_args([(4,), (4,)], rng)

    def vjp_fn(u):
        u_product, u_norm = u
        return u_product * y + u_norm * 2 * x, u_product * x

    dot_product_test(product_and_square_norm, (x, y), (0, 1), vjp_fn, rng=rng)
    with pytest.raises(AssertionError):
        dot_product_test(product_and_square_norm, (x, y), (0, 1), lambda u: (u[0] * y, u[0] * x), rng=rng)


def test_random_args(rng):
    args = random_args([(2, 3), ()], rng, np.float32, low=1.0, high=2.0)
    assert args[0].shape == (2, 3) and args[0].dtype == np.float32
    assert isinstance(args[1], np.float32)
    assert np.all((args[0] >= 1.0) & (args[0] <= 2.0))


def test_integer_argument_cannot_be_differentiated():
    with pytest.raises(TypeError, match="dtype"):
        numerical_jvp(lambda n: n * 2, (np.arange(3),), 0, np.ones(3))
