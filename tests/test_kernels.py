"""The numba backend's shared kernels and compile-time rewrites (codegen ``kernels=True``):
each kernel computes its ufunc; rewritten programs give the python backend's derivatives,
which are checked against finite differences."""

import numpy as np
import pytest

import kernel_functions as kf
import s2sad
import sample_functions as sf
from checks import check_jacobian
from s2sad import pipeline
from s2sad.ad.trace import dummy_like
from s2sad.backends import codegen
from s2sad.backends.numba import kernels
from s2sad.backends.ops import BOOLEAN

numba = pytest.importorskip("numba")
pytestmark = pytest.mark.numba


@pytest.mark.parametrize("name", sorted(codegen.KERNEL_UFUNCS))
def test_each_kernel_computes_its_ufunc(name):
    ufunc = getattr(np, name)
    rng = np.random.default_rng(0)
    args = [rng.uniform(0.2, 0.9, (3, 4)) for _ in range(ufunc.nin)]
    if ufunc.nin == 1 and name in BOOLEAN:  # tests of floats: inf and nan
        args = [np.array([[0.0, np.inf], [np.nan, 1.0]])]
    with np.errstate(all="ignore"):
        expected = ufunc(*args)
        got = getattr(kernels, name)(*args)
        scalar = getattr(kernels, name)(*(a[0, 0] for a in args))  # scalars work too
    # libm and NumPy's SIMD loops may differ in the last bit of transcendentals
    np.testing.assert_allclose(got, expected, rtol=4e-16 * 8, atol=0)
    np.testing.assert_allclose(scalar, expected[0, 0], rtol=4e-16 * 8, atol=0)


@pytest.mark.parametrize("name", sorted(codegen.LOOP_KERNELS))
def test_each_loop_kernel_computes_its_ufunc(name):
    # a contiguous operand against a strided one broadcast on two axes
    rng = np.random.default_rng(3)
    a = rng.uniform(0.2, 0.9, (2, 3, 4))
    b = rng.uniform(0.2, 0.9, (4, 1, 2)).transpose(2, 1, 0)
    with np.errstate(all="ignore"):
        expected = getattr(np, name)(a, b)
        got = getattr(kernels, name + "_loops")(a, b)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=4e-16 * 8, atol=0)


@pytest.mark.parametrize(
    "shapes",
    [
        ((2, 3, 4), (2, 3, 4)),
        ((2, 3, 1), (2, 1, 4)),  # an outer product
        ((1, 3, 4), (2, 1, 1)),
        ((5, 2, 3, 4), (3, 1)),  # ranks differ
        ((4,), (2, 3, 1)),
        ((2, 3, 4), ()),  # a Python float
    ],
)
def test_loop_kernels_broadcast_as_numpy(shapes):
    rng = np.random.default_rng(4)
    a, b = (rng.standard_normal(s) if s else 2.5 for s in shapes)
    for x, y in ((a, b), (b, a)):
        np.testing.assert_array_equal(kernels.multiply_loops(x, y), x * y)
    if np.ndim(b):
        with np.errstate(all="ignore"):
            np.testing.assert_array_equal(kernels.divide_loops(a, 0 * b), a / (0 * b))  # inf, nan
    huge = kernels.empty((1 << 20,), np.float64)  # 8 MiB: in 2 MiB pages where Linux gives them
    huge[:] = 1.0
    assert huge.sum() == 1 << 20


@pytest.mark.parametrize("name", sorted(codegen.MATH_OF_UFUNC))
def test_math_functions_replace_ufuncs_of_float64_scalars_exactly(name):
    # what codegen swaps: Numba's math function for its ufunc of a float64 scalar
    import math

    by_math = numba.njit(eval(f"lambda x: math.{codegen.MATH_OF_UFUNC[name]}(x)", {"math": math}))
    by_ufunc = numba.njit(eval(f"lambda x: np.{name}(x)", {"np": np}))
    values = [0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 710.0, 1e-300, 1e300, -1e300, np.inf, -np.inf, np.nan]
    got = np.array([by_math(v) for v in values])  # Numba's math functions raise no domain errors
    with np.errstate(all="ignore"):
        same = np.array([by_ufunc(v) for v in values])
        numpy = getattr(np, name)(np.array(values))
    np.testing.assert_array_equal(got, same)  # bit for bit (nan where nan)
    finite = np.isfinite(got)
    assert np.array_equal(np.signbit(got[finite]), np.signbit(same[finite]))
    np.testing.assert_allclose(got, numpy, rtol=4e-16 * 8, atol=0)  # NumPy's SIMD loops: last bits


def test_fused_kernels_compute_their_trees():
    # each tree evaluated op by op with NumPy is the oracle; the fused kernel is loops over the
    # broadcast result, for operands of every rank it takes (numbers, 0-d, 1-d, 2-d, strided)
    import importlib

    from s2sad.backends.numba import fusion
    from s2sad.ir import Const, Var

    rng = np.random.default_rng(5)
    a, b, c = rng.uniform(0.2, 0.9, (3, 4, 3))
    trees = [
        (("subtract", [Var("a"), ("power", [Var("b"), Const(2.0)])]), lambda a, b, c: a - b**2.0),
        (
            ("negative", [("multiply", [Var("a"), ("multiply", [Const(2.0), Var("b")])])]),
            lambda a, b, c: -(a * (2.0 * b)),
        ),
        (
            ("add", [("sin", [("divide", [Var("a"), Var("c")])]), ("maximum", [Var("b"), Var("a")])]),
            lambda a, b, c: np.sin(a / c) + np.maximum(b, a),
        ),
        (("subtract", [Const(1), ("multiply", [Var("c"), Var("c")])]), lambda a, b, c: 1 - c * c),
        (
            ("multiply", [("tanh", [Var("a")]), ("arctan2", [Var("b"), ("log1p", [Var("c")])])]),
            lambda a, b, c: np.tanh(a) * np.arctan2(b, np.log1p(c)),
        ),
    ]
    operands = [
        (a, b, c),  # (4, 3) each
        (a[:, :1], b[:1], c[::2, ::-1][:1]),  # broadcast (4, 1) (1, 3) (1, 3), strided
        (a[0], b, 0.7),  # a row against a matrix, and a number
        (a[:, 0], np.float64(0.3), np.array(0.4)),  # 1-d, a NumPy number, a 0-d array
        (np.ones((0, 3)), b[:1], c[0]),  # an empty result
    ]
    for tree, expected in trees:
        leaves = []
        text = fusion._text(tree, leaves)
        for ops in operands:
            values = dict(zip("abc", ops))
            args = [values[n] for n in leaves]
            want = expected(*(values[n] for n in "abc"))
            if np.ndim(want) == 0:
                continue  # fusion makes arrays only
            ranks = [fusion.rank_of(x) for x in args]
            kernel = importlib.import_module(fusion.Fused(text, ranks).module).fused
            got = kernel(*args)
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=4e-16 * 8, atol=0)
    kernel = importlib.import_module(fusion.Fused("a0 * a1", [2, 2]).module).fused
    with pytest.raises(ValueError):
        kernel(a, a[:3])  # shapes NumPy does not broadcast


@pytest.mark.parametrize("mode", ["grad", "hvp"])
def test_fusion_gives_what_the_python_backend_gives(mode):
    from s2sad.ad.trace import dummy_like
    from s2sad.backends.numba import fusion

    x = np.random.default_rng(6).uniform(-1, 1, 50)
    v = np.random.default_rng(7).uniform(-1, 1, 50)
    g = s2sad.grad(sf.rosen, backend="numba")
    fused = [s for s in fusion.fuse(g.ir_for((dummy_like(x),))).body if hasattr(getattr(s, "op", None), "module_text")]
    assert fused  # rosen's gradient has elementwise trees
    run = {
        "grad": lambda b: s2sad.grad(sf.rosen, backend=b)(x),
        "hvp": lambda b: s2sad.hvp(sf.rosen, (x,), (v,), backend=b)[0],
    }[mode]
    np.testing.assert_allclose(run("numba"), run("python"), rtol=1e-13, atol=1e-13)


def _numba_text(g, *args):
    return pipeline.emit(g.ir_for(tuple(dummy_like(a) for a in args)), kernels=True)


def test_array_operators_become_kernel_calls_and_scalars_stay_inline():
    g = s2sad.jacfwd(kf.matrix_out, argnums=0, backend="numba")
    a, b = np.random.default_rng(1).uniform(-1, 1, (2, 3, 3))
    text = _numba_text(g, a, b)
    assert "nk.tanh(" in text and "nk.multiply(" in text
    assert "nk.transpose(" in text  # the Jacobian's axes, without Numba's np.transpose
    assert "nk.multiply_loops(" in text  # 3-D results: loops (kernels._loops)
    assert "nk." not in s2sad.source(g, a, b)  # what users read stays plain NumPy
    check_jacobian(kf.matrix_out, (a, b), 0, g(a, b))
    h = s2sad.grad(sf.huber_loop, backend="numba")
    x = np.linspace(-3, 3, 7)
    text = _numba_text(h, x, 1.0)
    assert "0.5 * r" in text  # scalar arithmetic is inline
    assert "] += " in text and "rt.scatter_add" not in text  # one element: scalar code
    np.testing.assert_allclose(h(x, 1.0), np.clip(x, -1.0, 1.0), rtol=1e-14)


def test_mean_over_an_axis_compiles():
    x = np.random.default_rng(2).uniform(-1, 1, (3, 4))
    g = s2sad.grad(kf.mean_axes, backend="numba")
    assert "nk.mean_axis(" in _numba_text(g, x)
    check_jacobian(kf.mean_axes, (x,), 0, g(x))


def _compiled_extreme():
    import numba

    @numba.njit
    def extreme(x, axis, largest):  # the kernel's Numba implementation (Python runs NumPy's)
        return kernels.extreme_axis(x, axis, largest)

    return extreme


@pytest.mark.parametrize(
    "shape, axis", [((3, 4), 0), ((3, 4), 1), ((3, 4), -1), ((2, 3, 5), 1), ((2, 3, 5), 2), ((4, 1, 3, 2), 0)]
)
def test_extreme_along_an_axis_computes_numpys(shape, axis):
    extreme = _compiled_extreme()
    rng = np.random.default_rng(7)
    a = rng.standard_normal(shape)
    a.flat[::5] = 0.25  # ties
    for x in (a, np.swapaxes(a, 0, -1), a.astype(np.int64)):  # strided, integer
        for largest, ref in ((True, np.max), (False, np.min)):
            out = extreme(x, axis % x.ndim, largest)
            expected = ref(x, axis=axis % x.ndim)
            assert out.dtype == expected.dtype and out.shape == expected.shape
            np.testing.assert_array_equal(out, expected)
    nan = a.copy()
    nan.flat[1] = np.nan
    np.testing.assert_array_equal(extreme(nan, axis % a.ndim, True), np.max(nan, axis=axis % a.ndim))


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 5), (0, 3)])
def test_sum_along_an_axis_computes_numpys(shape):
    a = np.random.default_rng(8).standard_normal(shape)
    for x in (a, np.swapaxes(a, 0, -1)):
        for axis in range(x.ndim):
            np.testing.assert_allclose(kernels.sum_axis(x, axis), np.sum(x, axis=axis), rtol=1e-14, atol=0)
    x = np.random.default_rng(9).uniform(-1, 1, (3, 4))
    g = s2sad.jacfwd(kf.mean_axes, backend="numba")
    assert "nk.sum_axis(" in _numba_text(g, x)
    check_jacobian(kf.mean_axes, (x,), 0, g(x))


def test_matmul_kernel_computes_numpys():
    rng = np.random.default_rng(10)
    A, B, v = rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(4)
    for a, b in [(A, B), (A, v), (v, B), (v, v), (B.T, A.T), (A[:, ::2], B[::2])]:  # strided too
        np.testing.assert_allclose(kernels.matmul(a, b), a @ b, rtol=1e-14, atol=1e-14)
    g = s2sad.jacrev(sf.predict, argnums=2, backend="numba")
    W, bias, x = rng.standard_normal((3, 4)), rng.standard_normal(3), rng.standard_normal(4)
    assert "nk.matmul(" in _numba_text(g, W, bias, x)
    check_jacobian(sf.predict, (W, bias, x), 2, g(W, bias, x))


def test_extreme_of_an_empty_axis_raises_as_numpy():
    extreme = _compiled_extreme()
    with pytest.raises(ValueError):
        extreme(np.ones((3, 0)), 1, True)
    assert extreme(np.ones((0, 3)), 1, False).shape == (0,)


@pytest.mark.slow
def test_max_and_min_along_an_axis_compile():
    x = np.random.default_rng(3).uniform(-1, 1, (2, 3, 4))
    g = s2sad.grad(kf.extremes_along_axes, backend="numba")
    assert "nk.extreme_axis(" in _numba_text(g, x)
    check_jacobian(kf.extremes_along_axes, (x,), 0, g(x))
    J = s2sad.jacfwd(kf.extremes_along_axes, backend="numba")(x)
    np.testing.assert_allclose(J, g(x), rtol=1e-12, atol=1e-14)


def test_a_tape_nothing_reads_is_dropped():
    # the loop index is never read in reverse: no tape for it; s's old values are read
    g = s2sad.grad(kf.loop_power, argnums=(0, 1), backend="python")
    src = s2sad.source(g, 0.9, 0.5, 5)
    assert src.count("rt.new_tape(") == 1
    gx, gs = g(0.9, 0.5, 5)
    f = lambda x, s: kf.loop_power(x, s, 5)  # noqa: E731
    eps = 1e-6
    assert abs(gx - (f(0.9 + eps, 0.5) - f(0.9 - eps, 0.5)) / (2 * eps)) < 1e-8
    assert abs(gs - 0.9**5) < 1e-14


@pytest.mark.numba
@pytest.mark.parametrize(
    "a_shape, b_shape, t_shape",
    [
        ((3, 0), (9, 0, 3), (2, 0)),
        ((2, 3, 2), (2, 4), (0, 3)),
        ((0, 3, 2), (2, 4), (2, 3, 4)),
        ((3, 2), (3, 2, 4), (3,)),
    ],
)
def test_runtime_helpers_on_empty_axes_on_numba(a_shape, b_shape, t_shape):
    """Empty axes (the adjoint of a square or tall qr multiplies by x[:, n:], which has no
    columns): the numba implementations give NumPy's results (they reshaped with -1 and
    raised)."""
    import numba

    from s2sad import backends
    from s2sad import runtime as rt

    backends.register_numba_runtime()

    @numba.njit
    def helpers(a, b, t):
        return rt.bmatmul(a, b), rt.linear_scan(t, t), rt.cumsum_rows(t)

    rng = np.random.default_rng(0)
    a, b, t = rng.standard_normal(a_shape), rng.standard_normal(b_shape), rng.standard_normal(t_shape)
    want = (np.matmul(a, b), rt.linear_scan(t, t), np.cumsum(t, axis=-1))
    for got, expected in zip(helpers(a, b, t), want):
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-14)


@pytest.mark.numba
def test_scatter_with_an_index_array_of_several_axes_on_numba():
    """``x[I]`` with I a 2-d int array (np.interp of a matrix gathers so): rt.scatter and
    rt.scatter_add on numba give NumPy's sums, repeated indices accumulating (it was refused)."""
    import numba

    from s2sad import backends
    from s2sad import runtime as rt

    backends.register_numba_runtime()

    @numba.njit
    def scatter(ct, x, i):
        return rt.scatter(ct, x, i)

    @numba.njit
    def scatter_rows(ct, x, i, j):
        return rt.scatter(ct, x, i, j)

    @numba.njit
    def scatter_add(acc, ct, x, i):
        return rt.scatter_add(acc, ct, x, i)

    rng = np.random.default_rng(0)
    x, index = rng.standard_normal((5, 3)), np.array([[0, 2, 4], [1, 1, 3]])
    for seeds in (1, 3):
        ct = rng.standard_normal((seeds,) + x[index].shape)
        np.testing.assert_allclose(scatter(ct, x, index), rt.scatter(ct, x, index), rtol=1e-14)
        acc = rng.standard_normal((seeds,) + x.shape)
        np.testing.assert_allclose(scatter_add(acc.copy(), ct, x, index), rt.scatter_add(acc.copy(), ct, x, index))
        ct = rng.standard_normal((seeds,) + x[index, 1].shape)
        np.testing.assert_allclose(scatter_rows(ct, x, index, 1), rt.scatter(ct, x, index, 1), rtol=1e-14)
