"""SciPy-shaped helpers (issue 21): value_and_grad (jac=True) and hessp (hessp=) against
scipy's rosen_der / rosen_hess_prod and closed forms, inside scipy.optimize.minimize; default
parameter values; the chain of calls in a refusal inside library code; `show --shapes`."""

import numpy as np
import pytest
from scipy.optimize import minimize, rosen, rosen_der, rosen_hess_prod

import s2sad
from s2sad.__main__ import main as cli


def rosen_mine(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def loss(w, X, y, lam):
    r = X @ w - y
    return 0.5 * np.sum(r * r) + lam * np.sum(w**4)


def loss_grad(w, X, y, lam):
    return X.T @ (X @ w - y) + 4.0 * lam * w**3


def loss_hessp(w, p, X, y, lam):
    return X.T @ (X @ p) + 12.0 * lam * w**2 * p


def with_default(x, c=2.0, n=3):
    for _ in range(n):
        x = np.sin(c * x)
    return np.sum(x)


def calls_library(x):
    return rosen(x) + np.sum(x)


DATA = np.random.default_rng(1)
X, Y = DATA.standard_normal((20, 5)), DATA.standard_normal(20)


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_value_and_grad_and_hessp_against_scipy(backend):
    rng = np.random.default_rng(0)
    x, p = rng.uniform(0.5, 1.5, 6), rng.standard_normal(6)
    value, g = s2sad.value_and_grad(rosen_mine, backend=backend)(x)
    assert value == pytest.approx(rosen(x), rel=1e-14)
    np.testing.assert_allclose(g, rosen_der(x), rtol=1e-12)
    np.testing.assert_allclose(s2sad.hessp(rosen_mine, backend=backend)(x, p), rosen_hess_prod(x, p), rtol=1e-12)


def test_value_and_grad_tuple_argnums_and_hessp_other_argnums():
    w = np.random.default_rng(2).standard_normal(5)
    value, (gw, glam) = s2sad.value_and_grad(loss, argnums=(0, 3), backend="python")(w, X, Y, 0.1)
    assert value == pytest.approx(loss(w, X, Y, 0.1))
    np.testing.assert_allclose(gw, loss_grad(w, X, Y, 0.1), rtol=1e-12)
    assert glam == pytest.approx(np.sum(w**4))
    # x at position 3 (the regularization weight): d2/dlam2 = 0, x first in SciPy's call
    assert s2sad.hessp(loss, argnums=3, backend="python")(0.1, 1.0, w, X, Y) == 0.0


@pytest.mark.parametrize("method", ["Newton-CG", "trust-ncg", "trust-krylov"])
def test_minimize_with_value_and_grad_and_hessp(method):
    fun = s2sad.value_and_grad(loss, backend="python")
    hessp = s2sad.hessp(loss, backend="python")
    w = np.random.default_rng(3).standard_normal(5)
    p = np.random.default_rng(4).standard_normal(5)
    np.testing.assert_allclose(hessp(w, p, X, Y, 0.1), loss_hessp(w, p, X, Y, 0.1), rtol=1e-12)
    fit = minimize(fun, np.zeros(5), args=(X, Y, 0.1), jac=True, hessp=hessp, method=method)
    assert fit.success
    np.testing.assert_allclose(loss_grad(fit.x, X, Y, 0.1), 0.0, atol=1e-4)


def test_hessp_refuses_mismatched_shapes_and_tuple_argnums():
    with pytest.raises(s2sad.S2SADError, match="p has shape"):
        s2sad.hessp(rosen_mine, backend="python")(np.ones(3), np.ones(4))
    with pytest.raises(s2sad.S2SADError, match="argnums must be an int"):
        s2sad.hessp(rosen_mine, argnums=(0,))


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_default_parameter_values(backend):
    x = np.array([0.1, 0.4, -0.3])
    g = s2sad.grad(with_default, backend=backend)
    np.testing.assert_allclose(g(x), g(x, 2.0, 3), rtol=0, atol=0)
    np.testing.assert_allclose(g(x, 2.0), g(x, 2.0, 3), rtol=0, atol=0)
    # against central differences in a random direction
    v, h = np.random.default_rng(5).standard_normal(3), 1e-6
    fd = (with_default(x + h * v) - with_default(x - h * v)) / (2 * h)
    assert g(x) @ v == pytest.approx(fd, rel=1e-6)
    assert s2sad.grad(with_default, argnums=1, backend=backend)(x) == pytest.approx(
        (with_default(x, 2.0 + h) - with_default(x, 2.0 - h)) / (2 * h), rel=1e-6
    )
    with pytest.raises(TypeError, match="missing: 'x'"):
        g()


def test_a_refusal_in_library_code_shows_the_chain_of_calls():
    with pytest.raises(s2sad.S2SADError) as exc:
        s2sad.grad(calls_library, backend="python")(np.ones(3))
    text = str(exc.value)
    assert text.startswith(f"{__file__}:")
    assert "in the call of rosen -> " in text and "_optimize.py:" in text


def test_show_refuses_a_shape_for_a_name_that_is_not_a_parameter(capsys):
    assert cli(["show", f"{__file__}:loss", "--shapes", "W=5,X=20x5,y=20,lam=scalar"]) == 2
    assert "'W', not a parameter" in capsys.readouterr().err
    assert cli(["show", f"{__file__}:loss", "--shapes", "w=5,X=20x5,y=20,lam=scalar"]) == 0


def takes_two(x, big):
    return np.sum(x * big)


def test_a_refused_partial_does_not_print_its_arrays():
    import functools

    bad = functools.partial(takes_two, np.ones(3), np.ones(400), np.ones(400))
    with pytest.raises(s2sad.S2SADError, match="takes_two: the partial binds 3 positional arguments") as exc:
        s2sad.grad(bad, backend="python")(np.ones(3))
    assert len(str(exc.value)) < 200
