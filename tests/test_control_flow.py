"""Imperative code in both modes: loops, branches, while, in-place writes (finite-difference
and closed-form oracles), on both backends."""

import numpy as np
import pytest

import s2sad
import sample_functions as sf
from checks import check_jacobian, dot_product_test

rng0 = np.random.default_rng(7)
X6 = rng0.standard_normal(6)
A34 = rng0.standard_normal((3, 4))
V4 = rng0.standard_normal(4)

CASES = [
    ("huber", sf.huber_loop, (X6, 0.7), 0),
    ("recurrence", sf.recurrence, (X6, 0.9), (0, 1)),
    ("matvec", sf.matvec_loops, (A34, V4), (0, 1)),
    ("newton", sf.newton_sqrt, (2.0,), 0),
    ("branch_pos", sf.branch_on_value, (np.abs(X6),), 0),
    ("branch_neg", sf.branch_on_value, (-np.abs(X6),), 0),
    ("flag_loop", sf.with_loop, (X6[:3], 4), 0),
    ("fills_array", sf.fills_array, (X6,), 0),
    ("early_return_if", sf.early_return, (np.abs(X6),), 0),
    ("early_return_else", sf.early_return, (-np.abs(X6),), 0),
    ("break", sf.break_on_value, (X6,), 0),
    ("while_break", sf.while_break, (np.abs(X6),), 0),
    ("while_no_break", sf.while_break, (-np.abs(X6),), 0),
    ("continue_enumerate_zip_rows", sf.continue_and_enumerate, (X6, X6[::-1].copy()), (0, 1)),
    ("return_in_loop_taken", sf.returns_in_loop, (np.abs(X6),), 0),
    ("return_in_loop_not_taken", sf.returns_in_loop, (-np.abs(X6),), 0),
]


# Numba compiles cost seconds each: every case runs on the python backend, a representative
# set (loops with branches, in-place writes, nested loops, while, break) also on numba.
NUMBA_CASES = {"huber", "recurrence", "matvec", "newton", "break", "early_return_if"}
PARAMS = [
    pytest.param(*case, mode, backend, id=f"{case[0]}-{mode}-{backend}")
    for case in CASES
    for mode in ("jacrev", "jacfwd")
    for backend in ("python", "numba")
    if backend == "python" or case[0] in NUMBA_CASES
]


@pytest.mark.parametrize("name, fn, args, argnums, mode, backend", PARAMS)
def test_jacobian_through_control_flow(name, fn, args, argnums, mode, backend):
    J = getattr(s2sad, mode)(fn, argnums=argnums, backend=backend)(*args)
    check_jacobian(fn, args, argnums, J, rng=np.random.default_rng(1))


@pytest.mark.numba
def test_huber_gradient_closed_form():
    delta = 0.7
    g = s2sad.grad(sf.huber_loop, backend="numba")(X6, delta)
    np.testing.assert_allclose(g, np.clip(X6, -delta, delta), rtol=1e-14)


@pytest.mark.numba
def test_newton_sqrt_derivative_closed_form():
    for backend in ("python", "numba"):
        d = s2sad.grad(sf.newton_sqrt, backend=backend)(2.0)
        assert d == pytest.approx(0.5 / np.sqrt(2.0), rel=1e-9)


def test_vjp_through_loops_dot_product():
    _, vjp_fn = s2sad.vjp(sf.recurrence, X6, 0.9, backend="python")
    dot_product_test(sf.recurrence, (X6, 0.9), (0, 1), vjp_fn, np.random.default_rng(3))


def test_reverse_source_has_a_typed_tape():
    g = s2sad.jacrev(sf.recurrence, backend="python")
    text = s2sad.source(g, X6, 0.9)
    assert "_stack = []" in text and ".append(" in text and ".pop()" in text


def test_top_level_loop_tape_is_preallocated_and_scalar():
    """grad of the Huber loop: per-trip scalars go to arrays sized by the trip count, x[i]'s
    adjoint into one accumulator, and scalar adjoints are scalars (one seed); the one growable
    stack left holds the loop's trip count. The numbers are checked against clip."""
    text = s2sad.source(s2sad.grad(sf.huber_loop, backend="python"), X6, 0.7)
    assert "rt.new_tape(" in text and "rt.scatter_add(" in text
    assert text.count(".append(") == 1 and "rt.basis(" not in text
    g = s2sad.grad(sf.huber_loop, backend="python")(X6, 0.7)
    np.testing.assert_allclose(g, np.clip(X6, -0.7, 0.7), rtol=1e-14)


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_range_loop_index_is_computed_not_taped(backend):
    """A top-level loop over range(start, stop, step) whose arguments do not change: the
    reverse sweep computes each trip's index from the trip number; checked against finite
    differences, with steps of 2 and -3 and an index read in the reverse sweep."""
    x = np.linspace(-0.9, 1.1, 8)
    g = s2sad.grad(sf.strided_ranges, backend=backend)
    text = s2sad.source(g, x, 5)
    assert "i_tape" not in text and "j_tape" not in text and "k_tape" not in text
    check_jacobian(sf.strided_ranges, (x, 5), 0, g(x, 5), rng=np.random.default_rng(6))


def test_nested_loop_keeps_growable_stacks_and_is_right():
    """An inner loop's per-trip values are pushed a variable number of times per outer trip:
    they stay on growable stacks; the Jacobian still matches finite differences."""
    A = rng0.standard_normal((4, 4))
    g = s2sad.jacrev(sf.matvec_loops, argnums=1, backend="python")
    text = s2sad.source(g, A, X6[:4])
    assert ".append(" in text
    check_jacobian(sf.matvec_loops, (A, X6[:4]), 1, g(A, X6[:4]), rng=np.random.default_rng(4))


P3 = np.array([1.0, 0.3, 0.5])
Y04 = np.array([1.0, 0.0, 0.5, 0.2])


@pytest.mark.parametrize("backend", ["python", "numba"])
@pytest.mark.parametrize("mode", ["jacrev", "jacfwd"])
def test_user_helpers_inlined(mode, backend):
    x, y = rng0.standard_normal(4), rng0.standard_normal(4)
    J = getattr(s2sad, mode)(sf.calls_helpers, argnums=(0, 1), backend=backend)(x, y)
    check_jacobian(sf.calls_helpers, (x, y), (0, 1), J, rng=np.random.default_rng(2))


@pytest.mark.parametrize(
    "mode, backend, steps",
    [("jacrev", "python", 300), ("jacfwd", "python", 300), ("jacfwd", "numba", 300), ("jacrev", "numba", 300)],
)
def test_rk4_final_state_jacobian(mode, backend, steps):
    """An explicit RK4 integrator (a Python for loop, a helper for the ODE): Jacobian of the
    final state w.r.t. the initial state and the parameters."""
    args = (Y04, P3, 0.01, steps)
    J = getattr(s2sad, mode)(sf.rk4, argnums=(0, 1), backend=backend)(*args)
    assert J[0].shape == (4, 4) and J[1].shape == (4, 3)
    check_jacobian(sf.rk4, args, (0, 1), J, rng=np.random.default_rng(4))


def test_values_local_to_a_trip_carry_no_zero_adjoints():
    """RK4's stages live for one trip: their adjoints start each reverse trip as symbolic
    zeros (the first contribution is copied, not added to a zero array), so the reverse loop
    makes no zero arrays at all; only loop-carried names get one, before the loop."""
    g = s2sad.jacrev(sf.rk4, argnums=(0, 1), backend="python")
    text = s2sad.source(g, Y04, P3, 0.01, 5)
    reverse_loop = text[text.rindex("    for _trip in") :]
    assert "rt.zeros_batch(" not in reverse_loop
    check_jacobian(sf.rk4, (Y04, P3, 0.01, 5), (0, 1), g(Y04, P3, 0.01, 5), rng=np.random.default_rng(8))


def test_recursion_refused():
    with pytest.raises(s2sad.S2SADError, match=r"sample_functions.py:\d+: recursive call of recursive"):
        s2sad.jacrev(sf.recursive, backend="python")(np.ones(2))


@pytest.mark.parametrize("backend", ["python", pytest.param("numba", marks=pytest.mark.slow)])
def test_hessian_and_hvp_of_a_loop_energy(backend):
    """Forward over reverse through loops and branches: the tape carries tangents too."""
    x = np.random.default_rng(5).standard_normal(5)
    H = s2sad.hessian(sf.loop_energy, backend=backend)(x, 1.3)
    grad = s2sad.grad(sf.loop_energy, backend="python")
    eps = 1e-6
    fd = np.stack([(grad(x + eps * e, 1.3) - grad(x - eps * e, 1.3)) / (2 * eps) for e in np.eye(5)], axis=1)
    np.testing.assert_allclose(H, fd, rtol=1e-6, atol=1e-8)
    v = np.random.default_rng(6).standard_normal(5)
    hv, _ = s2sad.hvp(sf.loop_energy, (x, 1.3), (v, 0.0), backend=backend)
    np.testing.assert_allclose(hv, H @ v, rtol=1e-12, atol=1e-12)
