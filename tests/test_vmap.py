"""vmap: batched transformations on the python, numba and cuda (simulator) backends.
Oracles: a Python loop of the per-sample transformation, and closed forms."""

import numpy as np
import pytest

import s2sad
import vmap_functions as vf
from s2sad.vmap import vmap

# every test but one builds a transformation on numba (the default), if only for its reference
pytestmark = pytest.mark.numba

CPU = ["python", "numba"]
B, DIN, DOUT = 64, 31, 33


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def layer(rng):
    return rng.standard_normal((DOUT, DIN)), rng.standard_normal(DOUT), rng.standard_normal((B, DIN))


def loop(g, args, axes):
    """The reference: g per sample, stacked (batch axis first)."""
    n = next(np.shape(a)[ax] for a, ax in zip(args, axes) if ax is not None)
    outs = [g(*(a if ax is None else np.take(a, i, axis=ax) for a, ax in zip(args, axes))) for i in range(n)]
    if isinstance(outs[0], tuple):
        return tuple(np.stack([o[k] for o in outs]) for k in range(len(outs[0])))
    return np.stack(outs)


def assert_tree_close(a, b, **kw):
    if isinstance(b, tuple):
        assert isinstance(a, tuple) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_tree_close(x, y, **kw)
    else:
        assert np.shape(a) == np.shape(b)
        np.testing.assert_allclose(a, b, **kw)


# --- CPU: closed forms and the loop ------------------------------------------------------------


@pytest.mark.parametrize("backend", CPU)
def test_batched_jacobian_closed_form(layer, backend):
    W, b, X = layer
    jac = s2sad.jacrev(vf.predict, argnums=2)
    J = vmap(jac, in_axes=(None, None, 0), backend=backend)(W, b, X)
    assert J.shape == (B, DOUT, DIN) and J.dtype == np.float64
    t = np.tanh(X @ W.T + b)
    np.testing.assert_allclose(J, (1 - t**2)[:, :, None] * W, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(J, loop(jac, (W, b, X), (None, None, 0)), rtol=1e-14, atol=0)


@pytest.mark.parametrize("backend", CPU)
def test_batched_hessian_closed_form(layer, backend):
    W, b, X = layer
    hess = s2sad.hessian(vf.predict, argnums=2)
    H = vmap(hess, in_axes=(None, None, 0), backend=backend)(W, b, X)
    assert H.shape == (B, DOUT, DIN, DIN)
    t = np.tanh(X @ W.T + b)
    c = -2 * t * (1 - t**2)  # H[s, i, j, k] = c[s, i] W[i, j] W[i, k]
    np.testing.assert_allclose(
        H, c[:, :, None, None] * W[None, :, :, None] * W[None, :, None, :], rtol=1e-11, atol=1e-13
    )
    np.testing.assert_allclose(H[:4], loop(hess, (W, b, X[:4]), (None, None, 0)), rtol=1e-14, atol=0)


@pytest.mark.parametrize("backend", CPU)
def test_per_sample_gradients(rng, backend):
    x, y = rng.standard_normal(B), rng.standard_normal(B)
    gx, gy = vmap(s2sad.grad(vf.scalar_fn, argnums=(0, 1)), backend=backend)(x, y)
    ex, ey = vf.scalar_fn_grad(x, y)
    assert gx.shape == gy.shape == (B,)
    np.testing.assert_allclose(gx, ex, rtol=1e-14)
    np.testing.assert_allclose(gy, ey, rtol=1e-14)


@pytest.mark.parametrize("backend", CPU)
def test_per_example_gradients_of_a_loss(rng, backend):
    w, X, T = rng.standard_normal(5), rng.standard_normal((B, 5)), rng.standard_normal(B)
    G = vmap(s2sad.grad(vf.loss), in_axes=(None, 0, 0), backend=backend)(w, X, T)
    np.testing.assert_allclose(G, (X @ w - T)[:, None] * X, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("backend", CPU)
def test_plain_function_and_tuple_outputs(rng, backend):
    x, y = rng.standard_normal(B), rng.standard_normal(B)
    p, q = vmap(vf.two_outputs, backend=backend)(x, y)
    np.testing.assert_allclose(p, x * y, rtol=1e-15)
    np.testing.assert_allclose(q, np.sin(x) + y, rtol=1e-15)
    X = rng.standard_normal((8, 3))
    np.testing.assert_allclose(vmap(vf.scaled_sin, backend=backend)(X), vf.GAIN * np.sin(X), rtol=1e-15)


@pytest.mark.parametrize("backend", CPU)
def test_in_axes_variants(layer, backend):
    W, b, X = layer
    jac = s2sad.jacrev(vf.predict, argnums=2)
    expected = loop(jac, (W, b, X), (None, None, 0))
    # the batch along axis 1 of x
    assert_tree_close(vmap(jac, in_axes=(None, None, 1), backend=backend)(W, b, X.T.copy()), expected, rtol=1e-14)
    # negative axis
    assert_tree_close(vmap(jac, in_axes=(None, None, -1), backend=backend)(W, b, X.T.copy()), expected, rtol=1e-14)
    # several batched arguments: per-sample biases
    Bs = np.random.default_rng(1).standard_normal((B, DOUT))
    got = vmap(jac, in_axes=(None, 0, 0), backend=backend)(W, Bs, X)
    assert_tree_close(got, loop(jac, (W, Bs, X), (None, 0, 0)), rtol=1e-14)
    # an int in_axes batches every argument; a Python scalar broadcast with None
    x = np.linspace(0.1, 1.0, 16)
    g = vmap(s2sad.grad(vf.scalar_fn, argnums=(0, 1)), in_axes=(0, None), backend=backend)(x, 0.3)
    np.testing.assert_allclose(g[0], 2 * x * 0.3)
    np.testing.assert_allclose(g[1], x * x + np.cos(0.3))


def test_jacobian_wrt_two_arguments_stays_tuple(layer):
    W, b, X = layer
    Jw, Jb = vmap(s2sad.jacrev(vf.predict, argnums=(0, 1)), in_axes=(None, None, 0))(W, b, X[:8])
    assert Jw.shape == (8, DOUT, DOUT, DIN) and Jb.shape == (8, DOUT, DOUT)


def test_float32(rng):
    x, y = rng.standard_normal(B).astype(np.float32), rng.standard_normal(B).astype(np.float32)
    for backend in CPU:
        gx, gy = vmap(s2sad.grad(vf.scalar_fn, argnums=(0, 1)), backend=backend)(x, y)
        assert gx.dtype == gy.dtype == np.float32
        np.testing.assert_allclose(gx, 2 * x * y, rtol=1e-5)


@pytest.mark.parametrize("backend", CPU)
def test_results_are_freed_when_dropped(layer, backend):
    # no reference cycle keeps a batch's outputs alive until the cyclic collector runs
    import gc
    import weakref

    W, b, X = layer
    g = vmap(s2sad.jacrev(vf.predict, argnums=(1, 2)), in_axes=(None, None, 0), backend=backend)
    g(W, b, X)
    enabled = gc.isenabled()
    gc.disable()
    try:
        refs = [weakref.ref(r) for r in g(W, b, X)]
        assert all(r() is None for r in refs)
    finally:
        if enabled:
            gc.enable()


def test_numba_is_one_prange_loop(layer):
    W, b, X = layer
    g = vmap(s2sad.jacrev(vf.predict, argnums=2), in_axes=(None, None, 0))
    g(W, b, X)
    assert "numba.prange" in g.source and "per_sample(" in g.source


def test_usage_errors(layer):
    W, b, X = layer
    jac = s2sad.jacrev(vf.predict, argnums=2)
    with pytest.raises(s2sad.S2SADError, match="out_axes"):
        vmap(jac, out_axes=1)
    with pytest.raises(s2sad.S2SADError, match="one entry per argument"):
        vmap(jac, in_axes=(None, 0))(W, b, X)
    with pytest.raises(s2sad.S2SADError, match="different sizes"):
        vmap(jac, in_axes=(None, 0, 0))(W, np.ones((3, DOUT)), X)
    with pytest.raises(s2sad.S2SADError, match="out of range"):
        vmap(jac, in_axes=(None, None, 2))(W, b, X)
    with pytest.raises(s2sad.S2SADError, match="no argument"):
        vmap(jac, in_axes=None)(W, b, X)
    with pytest.raises(TypeError):
        vmap(jac)(W, b)


# --- CUDA (simulator where there is no GPU) -------------------------------------------------------

pytest.importorskip("numba.cuda")


@pytest.mark.cuda
def test_cuda_per_sample_gradients_match_cpu(rng):
    x, y = rng.standard_normal(B), rng.standard_normal(B)
    g = s2sad.grad(vf.scalar_fn, argnums=(0, 1))
    got = vmap(g, backend="cuda")(x, y)
    assert isinstance(got, tuple) and all(isinstance(v, np.ndarray) for v in got)
    assert_tree_close(got, vmap(g)(x, y), rtol=1e-14)
    assert_tree_close(got, vf.scalar_fn_grad(x, y), rtol=1e-14)


@pytest.mark.cuda
@pytest.mark.parametrize("mode", ["grad", "jacfwd", "jacrev", "hessian"])
def test_cuda_modes_match_cpu(rng, mode):
    x, y = rng.standard_normal(B), rng.standard_normal(B)
    g = getattr(s2sad, mode)(vf.mixed, argnums=(0, 1))
    assert_tree_close(vmap(g, backend="cuda")(x, y), vmap(g, backend="numba")(x, y), rtol=1e-13, atol=1e-15)


@pytest.mark.cuda
def test_cuda_device_arrays_in_device_arrays_out(rng):
    from numba import cuda

    x, y = rng.standard_normal(B), rng.standard_normal(B)
    gx, gy = vmap(s2sad.grad(vf.scalar_fn, argnums=(0, 1)), backend="cuda")(cuda.to_device(x), cuda.to_device(y))
    assert not isinstance(gx, np.ndarray) and hasattr(gx, "copy_to_host")
    np.testing.assert_allclose(gx.copy_to_host(), 2 * x * y, rtol=1e-14)
    np.testing.assert_allclose(gy.copy_to_host(), x * x + np.cos(y), rtol=1e-14)


@pytest.mark.cuda
def test_cuda_in_axes_and_broadcast(rng):
    y = rng.standard_normal(B)
    g = s2sad.grad(vf.scalar_fn, argnums=(0, 1))
    got = vmap(g, in_axes=(None, 0), backend="cuda")(0.7, y)  # a broadcast float is a kernel argument
    assert_tree_close(got, vmap(g, in_axes=(None, 0), backend="python")(0.7, y), rtol=1e-14)
    # batch along axis 1 of a small per-sample array; W and b broadcast
    W, b, XT = rng.standard_normal((3, 2)), rng.standard_normal(3), rng.standard_normal((2, B))
    jac = s2sad.jacfwd(vf.predict, argnums=2)
    got = vmap(jac, in_axes=(None, None, 1), backend="cuda")(W, b, XT)
    assert_tree_close(got, vmap(jac, in_axes=(None, None, 1), backend="numba")(W, b, XT), rtol=1e-13, atol=1e-15)
    # a static int argument (a loop count) is baked into the kernel
    xs = np.linspace(0.5, 1.5, B)
    d = vmap(s2sad.grad(vf.counted), in_axes=(0, None), backend="cuda")(xs, 3)
    np.testing.assert_allclose(d, 4 * xs**3, rtol=1e-14)
    # globals of the user's function travel as kernel arguments
    np.testing.assert_allclose(vmap(s2sad.grad(vf.scaled_sin), backend="cuda")(xs), vf.GAIN * np.cos(xs), rtol=1e-14)


@pytest.mark.cuda
def test_cuda_small_per_sample_arrays_are_unrolled(rng):
    W, b, X = rng.standard_normal((3, 2)), rng.standard_normal(3), rng.standard_normal((B, 2))
    jac = s2sad.jacrev(vf.predict, argnums=2)
    got = vmap(jac, in_axes=(None, None, 0), backend="cuda")(W, b, X)
    t = np.tanh(X @ W.T + b)
    np.testing.assert_allclose(got, (1 - t**2)[:, :, None] * W, rtol=1e-13, atol=1e-15)


@pytest.mark.cuda
def test_cuda_refuses_what_it_cannot_scalarize(rng, layer):
    W, b, X = layer
    with pytest.raises(s2sad.S2SADError, match="per-sample array"):
        vmap(s2sad.jacrev(vf.predict, argnums=2), in_axes=(None, None, 0), backend="cuda")(W, b, X)
    with pytest.raises(s2sad.S2SADError, match="control flow"):
        vmap(vf.branchy, backend="cuda")(rng.standard_normal(B))
    with pytest.raises(s2sad.S2SADError, match="np.sort"):
        vmap(vf.sorts, backend="cuda")(rng.standard_normal((B, 3)))


@pytest.mark.cuda
def test_decorator_form_and_source(rng):
    @vmap(in_axes=(0, None))
    def scale(a, c):
        return a * c

    np.testing.assert_allclose(scale(np.arange(3.0), 2.0), [0.0, 2.0, 4.0])
    g = vmap(s2sad.grad(vf.scalar_fn), backend="cuda")
    g(rng.standard_normal(8), rng.standard_normal(8))
    assert "cuda.grid(1)" in g.source and "math.sin" in g.source


@pytest.mark.cuda
@pytest.mark.parametrize("name", ["write_through_alias", "write_through_view"])
def test_cuda_writes_through_aliases_and_views_are_numpys(rng, name):
    """The kernel interprets the per-sample code with NumPy's semantics: a write through
    ``y = x`` or through a slice changes ``x`` (it used to change a copy only)."""
    f = getattr(vf, name)
    X = rng.standard_normal((B, 3))
    want = np.stack([f(x.copy()) for x in X])
    np.testing.assert_allclose(vmap(f, backend="cuda")(X.copy()), want, rtol=1e-14)


@pytest.mark.cuda
@pytest.mark.parametrize("mode", ["grad", "hessian"])
def test_cuda_reductions_and_scans(rng, mode):
    g = getattr(s2sad, mode)(vf.reductions)
    X = rng.standard_normal((B, 2, 3))
    assert_tree_close(vmap(g, backend="cuda")(X), vmap(g, backend="python")(X), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("backend", CPU)
@pytest.mark.parametrize("name", ["write_through_alias", "write_through_view", "write_into_argument"])
def test_writes_into_the_sample_run_once(rng, backend, name):
    """A per-sample function that writes into its argument runs once per sample, as a Python
    loop would (numba's prange path ran sample 0 up to three times: the output shapes were
    found by running it on the batch's own memory)."""
    f = getattr(vf, name)
    X = rng.standard_normal((B, 3))
    want = np.stack([f(x.copy()) for x in X])
    np.testing.assert_allclose(vmap(f, backend=backend)(X.copy()), want, rtol=1e-14)


@pytest.mark.parametrize("backend", CPU + [pytest.param("cuda", marks=pytest.mark.cuda)])
@pytest.mark.parametrize("mode", ["jacfwd", "jacrev"])
def test_vmap_of_a_derivative_leaves_the_batch(rng, backend, mode):
    g = getattr(s2sad, mode)(vf.write_into_argument)
    X = rng.standard_normal((B, 3))
    kept = X.copy()
    want = np.stack([g(x) for x in X])
    np.testing.assert_allclose(vmap(g, backend=backend)(X), want, rtol=1e-14)
    np.testing.assert_array_equal(X, kept)


@pytest.mark.cuda
@pytest.mark.parametrize("only", ["np.diag(x, k=-1)", "np.cumprod(x, axis=0)", "np.var(x, axis=0)  [2x3]"])
def test_cuda_suite_entries(only):
    """A few entries of tests/cuda_suite.py (vmap on cuda against vmap on python, over the
    NumPy suite; the whole campaign runs outside CI): index arrays known when the kernel is
    built, scans and reductions."""
    import cuda_suite

    selected = cuda_suite.entries(only=only)
    assert selected
    results = cuda_suite.run(selected)
    assert any(outcome == "PASS" for outcome, _ in results.values()), results
    for outcome, message in results.values():  # (24 elements of 3-d entries: 576 in the Jacobian)
        assert outcome == "PASS" or "per-sample array of 576 elements" in message, results
