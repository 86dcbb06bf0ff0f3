"""The composite mechanism (expand.py, rules/composite_rules.py): NumPy functions defined in
ops that have rules, expanded after type inference. Rows for each composite are in the rule
audit (tests/test_rule_audit.py); these tests check the mechanism where user code puts it:
in loops that reassign the operand, in branches, and its refusals."""

import numpy as np
import pytest

import composite_functions as cf
import s2sad
from checks import check_jacobian


def _check_all_modes(fn, args, backend, second_order=True):
    for transform in (s2sad.jacfwd, s2sad.jacrev):
        check_jacobian(fn, args, 0, transform(fn, backend=backend)(*args))
    if second_order:
        grad = s2sad.grad(fn, backend="python")
        check_jacobian(grad, args, 0, s2sad.hessian(fn, backend=backend)(*args))


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_composite_in_loop_reassigning_its_operand(backend):
    x = np.random.default_rng(0).uniform(-1.0, 1.0, (4, 3))
    # (numba: first order; its Hessian took 100 s to compile in CI, the same code on python)
    _check_all_modes(cf.standardize_loop, (x, 2), backend, second_order=backend == "python")


@pytest.mark.parametrize("flag", [1.0, -1.0])
def test_composite_in_branches(flag):
    x = np.random.default_rng(1).uniform(-1.0, 1.0, (3, 5))
    _check_all_modes(cf.var_in_branch, (x, flag), "python")


@pytest.mark.slow
@pytest.mark.numba
def test_tuple_axis_on_numba():
    """Numba's reductions take one axis: a tuple of axes is expanded into one per axis."""
    x = np.random.default_rng(2).uniform(-1.0, 1.0, (2, 3, 4))
    J = s2sad.jacrev(cf.var_3d_tuple_axis, backend="numba")(x)
    check_jacobian(cf.var_3d_tuple_axis, (x,), 0, J)


def test_the_expanded_code_is_what_source_shows():
    x = np.ones((3, 5))
    text = s2sad.source(s2sad.jacrev(cf.var_in_branch, backend="python"), x, 1.0)
    code = "\n".join(line for line in text.splitlines() if not line.strip().startswith("#"))
    assert "np.var(" not in code and "np.std(" not in code and "np.mean(" in code


@pytest.mark.parametrize(
    "fn,args,message",
    [
        (cf.keepdims_variable, (np.ones((2, 3)), True), "keepdims must be a constant"),
        (cf.sum_with_dtype, (np.ones((2, 3)),), "np.sum with these arguments is not supported"),
    ],
)
def test_refusals_name_the_users_line(fn, args, message):
    with pytest.raises(s2sad.S2SADError, match=message) as exc:
        s2sad.jacrev(fn, backend="python")(*args)
    assert "composite_functions.py:" in str(exc.value)


def test_a_composite_with_several_results():
    """A definition may return a Python tuple: it becomes one tuple the user unpacks."""
    from s2sad.rules import COMPOSITES, composite

    @composite(cf.moments)
    def moments(x):
        return np.mean(x), np.var(x)

    try:
        x = np.random.default_rng(3).uniform(-1.0, 1.0, 5)
        for mode in (s2sad.jacfwd, s2sad.jacrev):
            check_jacobian(cf.uses_moments, (x,), 0, mode(cf.uses_moments, backend="python")(x))
    finally:
        del COMPOSITES[cf.moments]


@pytest.mark.parametrize(
    "fn,backend",
    [
        (cf.asarray_argument, "python"),
        (cf.asarray_float_dtype, "python"),
        (cf.asarray_of_a_list, "python"),
        (cf.asarray_copy_then_write, "python"),
        (cf.asarray_float_dtype, "numba"),  # one representative on numba
    ],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_asarray_and_builtin_dtypes(fn, backend):
    """np.asarray is the array itself (or a new one from a list or another dtype); dtype=float
    is NumPy's float64."""
    x = np.random.default_rng(4).uniform(-1.0, 1.0, 3)
    _check_all_modes(fn, (x,), backend)


def test_asarray_other_dtype_and_aliasing():
    x = np.random.default_rng(5).uniform(-1.0, 1.0, 3)
    J = s2sad.jacrev(cf.asarray_float32, backend="python")(x)
    np.testing.assert_allclose(J, 2.0 * np.eye(3), rtol=1e-6)
    # np.asarray(x) is x: a write through it is a write into the argument, which is followed or
    # refused with the user's line, as for `y = x` (never the derivative of a copy)
    with pytest.raises(s2sad.S2SADError, match="shares memory") as exc:
        s2sad.grad(cf.asarray_then_write, backend="python")(x.copy())
    assert "composite_functions.py:" in str(exc.value)


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_trapezoid_in_both_arguments(backend):
    rng = np.random.default_rng(6)
    y, t = rng.uniform(-1.0, 1.0, 5), np.cumsum(rng.uniform(0.1, 0.5, 5))
    for argnums in (0, 1):
        for transform in (s2sad.jacfwd, s2sad.jacrev):
            check_jacobian(
                cf.trapezoid_samples,
                (y, t),
                argnums,
                transform(cf.trapezoid_samples, argnums=argnums, backend=backend)(y, t),
            )


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_polyval_in_coefficients_and_points(backend):
    """Horner's rule as a division-free recurrence: a least-squares fit's gradient and Hessian
    in the coefficients and the points."""
    rng = np.random.default_rng(7)
    p, x = rng.uniform(-1.0, 1.0, 4), rng.uniform(-1.0, 1.0, 6)
    for argnums in (0, 1):
        check_jacobian(
            cf.polyval_fit, (p, x), argnums, s2sad.grad(cf.polyval_fit, argnums=argnums, backend=backend)(p, x)
        )
    if backend == "python":
        grad = s2sad.grad(cf.polyval_fit, backend="python")
        check_jacobian(grad, (p, x), 0, s2sad.hessian(cf.polyval_fit, backend="python")(p, x))


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_grids_nan_reductions_and_matrix_products(backend):
    """meshgrid, nanmean/nansum, matrix_power (a negative power), vdot, multi_dot, logspace,
    interp: composites in ops with rules, in one function (one numba compile)."""
    rng = np.random.default_rng(8)
    args = (rng.uniform(-1.0, 1.0, 3), rng.uniform(-1.0, 1.0, 4), rng.uniform(-0.3, 0.3, (3, 3)) + 2.0 * np.eye(3))
    J = s2sad.jacrev(cf.grid_energy, argnums=(0, 1, 2), backend=backend)(*args)
    check_jacobian(cf.grid_energy, args, (0, 1, 2), J)
