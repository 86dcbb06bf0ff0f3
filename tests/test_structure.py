"""structure.py: identity seeds kept diagonal. Each derivative is checked against closed
forms or finite differences; the pass must have acted (no n x n identity left in the source),
and shapes with a size-1 axis must fall back to the plain code and still be right."""

import numpy as np
import pytest

import s2sad
import structure_functions as stf
from checks import check_jacobian

rng = np.random.default_rng(11)
W = rng.standard_normal((5, 4))
B = rng.standard_normal(5)
X = rng.uniform(-0.9, 0.9, 4)


def layer_jacobian(W, b, x):
    t = np.tanh(W @ x + b)
    return (1 - t**2)[:, None] * W


def layer_hessian(W, b, x):
    t = np.tanh(W @ x + b)
    c = -2 * t * (1 - t**2)
    return c[:, None, None] * W[:, :, None] * W[:, None, :]


@pytest.mark.parametrize("backend", ["python", "numba"])
@pytest.mark.parametrize("mode", ["jacfwd", "jacrev"])
def test_jacobians_of_a_layer_lose_their_identity(mode, backend):
    g = getattr(s2sad, mode)(stf.layer, argnums=2, backend=backend)
    np.testing.assert_allclose(g(W, B, X), layer_jacobian(W, B, X), rtol=1e-12, atol=1e-14)
    src = s2sad.source(g)
    assert "rt.basis" not in src and "rt.seed" not in src
    assert not g._plain


COMPOSITIONS = [
    ("hessian", lambda f: s2sad.hessian(f, argnums=2)),
    ("fwd_fwd", lambda f: s2sad.jacfwd(s2sad.jacfwd(f, argnums=2), argnums=2)),
    ("rev_fwd", lambda f: s2sad.jacrev(s2sad.jacfwd(f, argnums=2), argnums=2)),
    ("rev_rev", lambda f: s2sad.jacrev(s2sad.jacrev(f, argnums=2), argnums=2)),
]


@pytest.mark.numba
@pytest.mark.parametrize("name, make", COMPOSITIONS, ids=[c[0] for c in COMPOSITIONS])
def test_second_order_compositions_equal_the_closed_form(name, make):
    h = make(stf.layer)
    np.testing.assert_allclose(h(W, B, X), layer_hessian(W, B, X), rtol=1e-11, atol=1e-13)


@pytest.mark.numba
def test_hessian_on_numba_equals_the_closed_form():
    h = s2sad.hessian(stf.layer, argnums=2, backend="numba")
    np.testing.assert_allclose(h(W, B, X), layer_hessian(W, B, X), rtol=1e-11, atol=1e-13)
    assert "rt.basis" not in s2sad.source(h)


@pytest.mark.parametrize("mode", ["jacfwd", "jacrev"])
@pytest.mark.parametrize(
    "fn, args",
    [
        (stf.elementwise_chain, (X,)),
        (stf.matrix_times_square, (rng.standard_normal((4, 4)), X)),
        (stf.scaled_columns, (rng.standard_normal((3, 2, 4)), X)),
        (stf.row_scaled, (X, rng.standard_normal((4, 3)))),
    ],
    ids=["elementwise_chain", "matrix_times_square", "scaled_columns", "row_scaled"],
)
def test_rules_match_finite_differences(fn, args, mode):
    argnums = len(args) - 1 if fn is not stf.row_scaled else 0
    g = getattr(s2sad, mode)(fn, argnums=argnums, backend="python")
    check_jacobian(fn, args, argnums, g(*args))
    plain = getattr(s2sad, mode)(fn, argnums=argnums, backend="python")
    plain._plain.add(__import__("s2sad.api", fromlist=["_arg_key"])._arg_key(args))
    np.testing.assert_allclose(g(*args), plain(*args), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("backend", ["python", "numba"])
@pytest.mark.parametrize(
    "shapes, argnums",
    [
        (((1, 4), (1,), (4,)), 2),  # one output: a 1 x 1 basis
        (((5, 1), (5,), (1,)), 2),  # one input: a 1 x 1 seed (jacfwd)
        (((5, 4), (1,), (4,)), (1, 2)),  # the bias broadcast: sum_to onto a size-1 axis
    ],
    ids=["one_output", "one_input", "broadcast_bias"],
)
@pytest.mark.parametrize("mode", ["jacfwd", "jacrev"])
def test_size_one_axes_fall_back_to_plain_code(shapes, argnums, mode, backend):
    args = tuple(rng.standard_normal(s) for s in shapes)
    g = getattr(s2sad, mode)(stf.layer, argnums=argnums, backend=backend)
    check_jacobian(stf.layer, args, argnums, g(*args))
    check_jacobian(stf.layer, args, argnums, g(*args))  # the second call takes the plain plan
    # a later call with other shapes still gives the right numbers
    check_jacobian(stf.layer, (W, B, X), argnums, g(W, B, X))


@pytest.mark.numba
def test_hessian_of_one_output_falls_back():
    args = (rng.standard_normal((1, 3)), rng.standard_normal(1), rng.uniform(-1, 1, 3))
    h = s2sad.hessian(stf.layer, argnums=2, backend="numba")
    np.testing.assert_allclose(h(*args), layer_hessian(*args), rtol=1e-11, atol=1e-13)
    assert h._plain


@pytest.mark.numba
@pytest.mark.parametrize("backend", ["python", "numba"])
def test_vmap_of_a_structured_jacobian_and_its_fallback(backend):
    g = s2sad.vmap(s2sad.jacrev(stf.layer, argnums=2), in_axes=(None, None, 0), backend=backend)
    xs = rng.uniform(-1, 1, (6, 4))
    expected = np.stack([layer_jacobian(W, B, x) for x in xs])
    np.testing.assert_allclose(g(W, B, xs), expected, rtol=1e-12, atol=1e-14)
    W1, B1 = W[:1], B[:1]  # one output per sample: the guards raise, plain code runs
    expected = np.stack([layer_jacobian(W1, B1, x) for x in xs])
    np.testing.assert_allclose(g(W1, B1, xs), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_slices_of_one_axis_by_the_same_offset_have_one_length(backend):
    # rosen's x[1:] and x[:-1]: its sums and broadcasts between them change no shape and go
    from scipy.optimize import rosen_der, rosen_hess_prod

    import sample_functions as sf

    g = s2sad.grad(sf.rosen, backend=backend)
    for n in (2, 3, 50):  # at n = 2 the slices have length 1
        x, v = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
        np.testing.assert_allclose(g(x), rosen_der(x), rtol=1e-12, atol=1e-12)
        (hv,) = s2sad.hvp(sf.rosen, (x,), (v,), backend=backend)
        np.testing.assert_allclose(hv, rosen_hess_prod(x, v), rtol=1e-12, atol=1e-12)
    assert "rt.sum_to" not in s2sad.source(g, x)


@pytest.mark.parametrize("backend", ["python", "numba"])
@pytest.mark.parametrize("mode", ["grad", "jacrev", "hessian"])
def test_slice_adjoints_are_added_in_place(mode, backend):
    # compiled code adds each slice's contribution into one array (shapes.accumulate_scatters)
    from s2sad import runtime as rt
    from s2sad.ad.trace import dummy_like
    from s2sad.optimize import shapes

    x = rng.uniform(-1, 1, 9)
    g = getattr(s2sad, mode)(stf.three_slices, backend=backend)
    ir = g.ir_for((dummy_like(x),))
    before = [s.op for s in ir.body if hasattr(s, "op")]
    after = [s.op for s in shapes.accumulate_scatters(ir).body if hasattr(s, "op")]
    assert after.count(rt.scatter_add) >= 1 and after.count(rt.scatter) < before.count(rt.scatter)
    if mode == "hessian":
        check_jacobian(s2sad.grad(stf.three_slices, backend="python"), (x,), 0, g(x), rtol=1e-6, atol=1e-8)
    else:
        check_jacobian(stf.three_slices, (x,), 0, g(x), rtol=1e-6, atol=1e-8)


def test_the_pass_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("S2SAD_NO_STRUCTURE", "1")
    g = s2sad.jacrev(stf.layer, argnums=2, backend="python")
    assert "rt.basis" in s2sad.source(g, W, B, X)
