"""The numba backend's scalarize pass: loops over small arrays compiled as scalar code.

Every derivative is checked against finite differences and against the python backend,
which runs the same derivative source unscalarized."""

import numpy as np
import pytest

import s2sad
import sample_functions as sf
import scalar_functions as scf
from checks import check_jacobian
from s2sad.ad.trace import dummy_like
from s2sad.backends.numba import scalarize

pytest.importorskip("numba")
pytestmark = pytest.mark.numba

rng = np.random.default_rng(5)
X3 = rng.uniform(-0.8, 0.8, 3)
X4 = rng.uniform(-0.8, 0.8, 4)

CASES = [
    (scf.swap_in_loop, (X3, 7)),
    (scf.writes_in_place, (X3, 6)),
    (scf.branches_in_loop, (X3, 9)),
    (scf.newton_2d, (np.array([2.0, 0.5]),)),
    (scf.parts_and_sums, (X4, 5)),
    (scf.scalar_and_array, (X4, 4)),
]


def _scalarized(g, args):
    ir = g.ir_for(tuple(dummy_like(a) for a in args))
    return scalarize.try_scalarize(ir, scalarize.spec_of(ir, args)) is not None


SLOW = {("parts_and_sums", "jacfwd"), ("parts_and_sums", "jacrev"), ("newton_2d", "jacrev")}  # > 10 s, cache cold


@pytest.mark.parametrize(
    "fn, args, mode",
    [
        pytest.param(
            fn, args, mode, id=f"{fn.__name__}-{mode}", marks=[pytest.mark.slow] if (fn.__name__, mode) in SLOW else []
        )
        for fn, args in CASES
        for mode in ("jacfwd", "jacrev")
    ],
)
def test_scalarized_derivatives_match_finite_differences_and_the_python_backend(fn, args, mode):
    g = getattr(s2sad, mode)(fn, backend="numba")
    assert _scalarized(g, args)
    got = g(*args)
    expected = getattr(s2sad, mode)(fn, backend="python")(*args)
    np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-13)
    check_jacobian(fn, args, 0, got, rng=np.random.default_rng(1))


def test_each_shape_gets_its_own_compiled_code():
    g = s2sad.jacrev(scf.swap_in_loop, backend="numba")
    for n in (2, 5, 3):
        x = np.linspace(-0.5, 0.6, n)
        check_jacobian(scf.swap_in_loop, (x, 4), 0, g(x, 4))
    assert len({id(entry[2]) for entry in g._builds.values()}) == 3


def test_large_arrays_stay_arrays():
    x = np.linspace(-0.5, 0.6, scalarize.LIMIT + 1)
    g = s2sad.jacfwd(scf.swap_in_loop, backend="numba")
    assert scalarize.spec_of(g.ir_for((dummy_like(x), 3)), (x, 3)) is None
    check_jacobian(scf.swap_in_loop, (x, 3), 0, g(x, 3))


def test_loop_free_code_is_not_specialized_on_shapes():
    g = s2sad.jacrev(sf.predict, argnums=2, backend="numba")
    W, b = np.ones((2, 3)), np.zeros(2)
    g(W, b, np.ones(3))
    g(np.ones((4, 3)), np.zeros(4), np.ones(3))
    assert len(g._builds) == 1


@pytest.mark.slow
def test_second_order_through_a_loop_over_small_arrays():
    """hessian = jacfwd(jacrev): the reverse sweep's stacks of small arrays are differentiated
    again, then scalarized and shared on one tape."""
    args = (X4, 3)
    H = s2sad.hessian(scf.scalar_and_array, backend="numba")(*args)
    G = s2sad.grad(scf.scalar_and_array, backend="python")
    check_jacobian(lambda x, n: G(x, n), args, 0, H, rng=np.random.default_rng(2))
    np.testing.assert_allclose(H, s2sad.hessian(scf.scalar_and_array, backend="python")(*args), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("fn", [scf.swap_in_loop, scf.branches_in_loop])
def test_reverse_mode_stacks_share_one_tape(fn):
    """The reverse sweep's stacks of small arrays become one growable float tape (pushes and
    pops of each array as one group), not a Python list per element: each list costs Numba
    ~60 ms to compile. Pushes inside branches and loops pop in mirror order."""
    from s2sad import pipeline
    from s2sad.optimize import simplify

    args = (X3, 6)
    g = s2sad.jacrev(fn, backend="numba")
    ir = g.ir_for(tuple(dummy_like(a) for a in args))
    small = scalarize.try_scalarize(ir, scalarize.spec_of(ir, args))
    assert ir.mirror_stacks
    text = pipeline.emit(scalarize.shared_tape(simplify.simplify(small), small.split_stacks))
    assert "rt.reserve(s2sad_tape" in text and "_stack_0 = []" not in text
    check_jacobian(fn, args, 0, g(*args), rng=np.random.default_rng(3))


def test_transformed_reverse_code_keeps_its_stacks():
    """jacfwd of jacrev code pushes x then x_dot and pops x then x_dot: not the mirror order
    one shared tape needs, so those stacks stay stacks."""
    g = s2sad.hessian(scf.swap_in_loop, backend="numba")
    assert not g.ir_for((dummy_like(X3), 4)).mirror_stacks


def test_zero_d_arrays_are_not_specialized():
    x = np.array(0.3)
    g = s2sad.jacfwd(scf.scalar_and_array, backend="numba")
    assert scalarize.spec_of(g.ir_for((dummy_like(x), 3)), (x, 3)) is None
    np.testing.assert_allclose(g(x, 3), s2sad.jacfwd(scf.scalar_and_array, backend="python")(x, 3), rtol=1e-12)


def test_loops_over_whole_arrays_compile_as_glue_and_element_loops_do_not():
    """Code whose loops call kernels on whole arrays skips LLVM's module passes (as glue);
    loops that read or write single elements keep them (they ran up to 2.2x slower)."""
    from s2sad import pipeline
    from s2sad.ad.trace import dummy_like

    x = rng.uniform(-0.8, 0.8, 100)  # too large to become scalar code
    g = s2sad.jacrev(scf.swap_in_loop, backend="numba")
    assert pipeline.is_glue(g.ir_for((dummy_like(x), 4)), array_loops=True)
    check_jacobian(scf.swap_in_loop, (x, 4), 0, g(x, 4), rng=np.random.default_rng(7))
    h = s2sad.grad(sf.huber_loop, backend="numba")
    assert not pipeline.is_glue(h.ir_for((dummy_like(x), 1.0)), array_loops=True)
