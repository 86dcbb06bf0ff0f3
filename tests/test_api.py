"""The public API: shapes, argnums, decorator forms, composition, errors, worked examples.
Oracles: finite differences (checks.py), closed forms, scipy's Rosenbrock derivatives."""

import numpy as np
import pytest
import scipy.optimize

import s2sad
import sample_functions as sf
from checks import check_jacobian, dot_product_test

BACKENDS = ["python", "numba"]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def tanh_layer(rng, d_out=16, d_in=16):
    return rng.standard_normal((d_out, d_in)), rng.standard_normal(d_out), rng.standard_normal(d_in)


@pytest.mark.parametrize("backend", BACKENDS)
def test_worked_example_gradient(backend):
    g = s2sad.grad(sf.worked_example, argnums=(0, 1), backend=backend)(2.0, 5.0)
    assert g[0] == pytest.approx(5.5, rel=1e-14)
    assert g[1] == pytest.approx(2.0 - np.cos(5.0), rel=1e-14)
    assert g[1] == pytest.approx(1.7163378145367738)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["jacrev", "jacfwd"])
def test_tanh_layer_closed_form(rng, backend, mode):
    W, b, x = tanh_layer(rng)
    J = getattr(s2sad, mode)(sf.predict, argnums=2, backend=backend)(W, b, x)
    t = np.tanh(W @ x + b)
    np.testing.assert_allclose(J, (1 - t**2)[:, None] * W, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["jacrev", "jacfwd"])
def test_weight_bias_shapes_and_values(rng, backend, mode):
    W, b, x = tanh_layer(rng)
    jw, jb = getattr(s2sad, mode)(sf.predict, argnums=(0, 1), backend=backend)(W, b, x)
    assert jw.shape == (16, 16, 16) and jb.shape == (16, 16)
    t = np.tanh(W @ x + b)
    d = 1 - t**2
    np.testing.assert_allclose(jb, np.diag(d), atol=1e-14)
    expected = np.zeros((16, 16, 16))
    for i in range(16):
        expected[i, i, :] = d[i] * x
    np.testing.assert_allclose(jw, expected, atol=1e-14)


@pytest.mark.parametrize("mode", ["jacrev", "jacfwd"])
def test_fancy_index_broadcast_full_jacobian(rng, mode):
    y, x = rng.standard_normal(5), rng.standard_normal((3, 4))
    index = np.array([0, 2, 2, 4])
    J = getattr(s2sad, mode)(sf.gather_broadcast, argnums=(0, 1), backend="python")(y, x, index)
    check_jacobian(sf.gather_broadcast, (y, x, index), (0, 1), J, rng=rng)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rosenbrock_against_scipy(rng, backend):
    x = rng.uniform(-1, 1, 30)
    np.testing.assert_allclose(s2sad.grad(sf.rosen, backend=backend)(x), scipy.optimize.rosen_der(x), rtol=1e-12)
    np.testing.assert_allclose(
        s2sad.hessian(sf.rosen, backend=backend)(x), scipy.optimize.rosen_hess(x), rtol=1e-12, atol=1e-12
    )
    v = rng.standard_normal(30)
    (hv,) = s2sad.hvp(sf.rosen, (x,), (v,), backend=backend)
    np.testing.assert_allclose(hv, scipy.optimize.rosen_hess_prod(x, v), rtol=1e-12)


@pytest.mark.parametrize("compose", ["fwd_rev", "rev_rev", "fwd_fwd", "rev_fwd"])
def test_hessian_compositions_closed_form(rng, compose):
    W, b, x = tanh_layer(rng, 5, 4)
    outer, inner = {
        "fwd_rev": ("jacfwd", "jacrev"),
        "rev_rev": ("jacrev", "jacrev"),
        "fwd_fwd": ("jacfwd", "jacfwd"),
        "rev_fwd": ("jacrev", "jacfwd"),
    }[compose]
    inner_fn = getattr(s2sad, inner)(sf.predict, argnums=2, backend="python")
    H = getattr(s2sad, outer)(inner_fn, argnums=2, backend="python")(W, b, x)
    t = np.tanh(W @ x + b)
    c = -2 * t * (1 - t**2)
    np.testing.assert_allclose(H, c[:, None, None] * W[:, :, None] * W[:, None, :], atol=1e-13)


def test_hvp_sum_sin(rng):
    x, v = rng.standard_normal(50), rng.standard_normal(50)
    (hv,) = s2sad.hvp(sf.sum_sin, (x,), (v,), backend="python")
    np.testing.assert_allclose(hv, -np.sin(x) * v, rtol=1e-13)


@pytest.mark.numba
def test_hvp_with_a_scalar_primal_compiles(rng):
    """A Python float primal's tangent is passed as a scalar, not a 0-d array (which the
    compiled code has no rules for); checked against the Hessian contracted with v."""
    x, v = rng.standard_normal(3), rng.standard_normal(3)
    a, w = 0.7, -0.4
    hv = s2sad.hvp(sf.loop_energy, (x, a), (v, w), backend="numba")
    H = s2sad.hessian(sf.loop_energy, argnums=(0, 1), backend="python")(x, a)
    np.testing.assert_allclose(hv[0], H[0][0] @ v + H[0][1] * w, rtol=1e-12)
    np.testing.assert_allclose(hv[1], H[1][0] @ v + H[1][1] * w, rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_jvp_and_vjp_dot_product(rng, backend):
    W, b, x = tanh_layer(rng, 6, 4)
    tangents = (rng.standard_normal(W.shape), rng.standard_normal(b.shape), rng.standard_normal(x.shape))
    out, out_dot = s2sad.jvp(sf.predict, (W, b, x), tangents, backend=backend)
    np.testing.assert_allclose(out, sf.predict(W, b, x))
    eps = 1e-6
    fd = (
        sf.predict(*(p + eps * t for p, t in zip((W, b, x), tangents)))
        - sf.predict(*(p - eps * t for p, t in zip((W, b, x), tangents)))
    ) / (2 * eps)
    np.testing.assert_allclose(out_dot, fd, rtol=1e-6, atol=1e-8)
    value, vjp_fn = s2sad.vjp(sf.predict, W, b, x, backend=backend)
    np.testing.assert_allclose(value, sf.predict(W, b, x))
    dot_product_test(sf.predict, (W, b, x), (0, 1, 2), vjp_fn, rng)


def test_tuple_outputs_and_argnums(rng):
    x, y = rng.standard_normal(3), rng.standard_normal(3)
    for mode in ("jacrev", "jacfwd"):
        J = getattr(s2sad, mode)(sf.two_outputs, argnums=(0, 1), backend="python")(x, y)
        assert J[0][0].shape == (3, 3) and J[1][1].shape == (3,)
        check_jacobian(sf.two_outputs, (x, y), (0, 1), J, rng=rng)


@pytest.mark.parametrize("fn", [sf.import_styles, sf.uses_globals, sf.make_closure(0.7), sf.reassigned, sf.methods])
@pytest.mark.parametrize("mode", ["jacrev", "jacfwd"])
def test_names_resolution_and_normal_forms(rng, fn, mode):
    x = rng.uniform(0.1, 1.0, 4)
    J = getattr(s2sad, mode)(fn, backend="python")(x)
    check_jacobian(fn, (x,), 0, J, rng=rng)


def test_globals_read_at_call_time(rng):
    x = rng.standard_normal(4)
    g = s2sad.jacfwd(sf.uses_globals, backend="python")
    np.testing.assert_allclose(g(x), sf.SCALE * np.eye(4))
    old = sf.SCALE
    try:
        sf.SCALE = 4.0
        np.testing.assert_allclose(g(x), 4.0 * np.eye(4))
    finally:
        sf.SCALE = old


@pytest.mark.numba
def test_decorator_forms(rng):
    @s2sad.jacrev
    def f(x):
        return np.sin(x) * x

    @s2sad.jacrev(argnums=1)
    def g(a, x):
        return a * np.exp(x)

    x = rng.standard_normal(3)
    np.testing.assert_allclose(f(x), np.diag(np.cos(x) * x + np.sin(x)), atol=1e-14)
    np.testing.assert_allclose(g(2.0, x), np.diag(2.0 * np.exp(x)), atol=1e-14)


@pytest.mark.numba
def test_float32(rng):
    W, b, x = (a.astype(np.float32) for a in tanh_layer(rng, 4, 3))
    J = s2sad.jacrev(sf.predict, argnums=2)(W, b, x)
    assert J.dtype == np.float32
    t = np.tanh(W.astype(float) @ x + b)
    np.testing.assert_allclose(J, (1 - t**2)[:, None] * W, rtol=1e-5)


def test_constant_argument_steers_loop_forward(rng):
    x = rng.uniform(-1, 1, 3)
    J = s2sad.jacfwd(sf.with_loop, backend="python")(x, 4)
    check_jacobian(sf.with_loop, (x, 4), 0, J, rng=rng)
    J = s2sad.jacfwd(sf.fills_array, backend="python")(x)
    np.testing.assert_allclose(J, np.diag(2 * x))


def test_source_is_readable_python(rng):
    W, b, x = tanh_layer(rng, 3, 3)
    g = s2sad.jacrev(sf.predict, argnums=2, backend="python")
    g(W, b, x)
    text = s2sad.source(g)
    assert text == g.source
    assert "def predict_jacrev(weight, bias, x):" in text
    assert "# line" in text and "np.tanh(weight @ x + bias)" in text
    assert "x_bar" in text
    compile(text, "<generated>", "exec")


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("fn, construct", [(sf.has_try, "try/except"), (sf.has_yield, "yield"), (sf.has_with, "with")])
def test_unsupported_syntax_names_file_line_construct(fn, construct):
    with pytest.raises(s2sad.S2SADError, match=rf"sample_functions.py:\d+: {construct}"):
        s2sad.jacrev(fn, backend="python")(np.ones(2))


def test_missing_rule_names_function_and_how_to_register():
    with pytest.raises(s2sad.S2SADError, match=r"sample_functions.py:\d+: np.fft.fft has no derivative rule: register"):
        s2sad.jacfwd(sf.calls_unknown, backend="python")(np.ones(4))


def test_grad_of_non_scalar_suggests_jacrev():
    with pytest.raises(s2sad.S2SADError, match="jacrev"):
        s2sad.grad(sf.non_scalar, backend="python")(np.ones(3))


def test_argnums_out_of_range():
    with pytest.raises(s2sad.S2SADError, match="out of range"):
        s2sad.jacrev(sf.predict, argnums=3, backend="python")(np.ones((2, 2)), np.ones(2), np.ones(2))


def test_integer_array_differentiated():
    with pytest.raises(s2sad.S2SADError, match="float"):
        s2sad.jacrev(sf.non_scalar, backend="python")(np.arange(3))


def test_tangent_shape_mismatch():
    with pytest.raises(s2sad.S2SADError, match="shape"):
        s2sad.jvp(sf.non_scalar, (np.ones(3),), (np.ones(4),))


def test_wrong_arity_is_type_error():
    with pytest.raises(TypeError, match="positional"):
        s2sad.jacrev(sf.non_scalar, backend="python")(np.ones(3), np.ones(3))


def test_no_source():
    # a lambda's source is its line (it was refused: test_language.py has the lambda tests)
    np.testing.assert_allclose(s2sad.jacrev(lambda x: x * 2, backend="python")(np.ones(2)), 2 * np.eye(2))
    with pytest.raises(s2sad.S2SADError, match="not a Python function"):
        s2sad.jacrev(np.sin, backend="python")(np.ones(2))


def test_reverse_over_reverse_through_a_loop_refuses_clearly():
    with pytest.raises(
        s2sad.S2SADError, match=r"sample_functions.py:\d+: reverse mode of reverse-mode code that has a tape"
    ):
        s2sad.jacrev(s2sad.jacrev(sf.huber_loop, backend="python"), backend="python")(np.ones(3), 0.5)


def test_more_refusals_name_file_line_construct():
    with pytest.raises(s2sad.S2SADError, match=r"sample_functions.py:\d+: global statement"):
        s2sad.jacrev(sf.uses_global_statement, backend="python")(np.ones(2))
    with pytest.raises(s2sad.S2SADError, match=r"sample_functions.py:\d+: \*args/\*\*kwargs"):
        s2sad.jacrev(sf.star_args, backend="python")(np.ones(2))
    with pytest.raises(s2sad.S2SADError, match="not a Python function"):
        s2sad.jacrev(np.sum, backend="python")(np.ones(2))
    # a bound method is its function with self bound (it was refused: test_language.py)
    np.testing.assert_allclose(s2sad.grad(sf.Model().energy, backend="python")(np.ones(2)), [2.0, 2.0])


def test_mismatched_shapes_raise():
    with pytest.raises(ValueError):
        s2sad.jacrev(sf.predict, argnums=2, backend="python")(np.ones((3, 4)), np.ones(3), np.ones(5))


def test_a_dense_jacobian_that_cannot_fit_is_refused_before_allocating(monkeypatch):
    from s2sad import runtime

    monkeypatch.setattr(runtime, "MEMORY_BYTES", 1000)
    with pytest.raises(MemoryError, match=r"use jvp, vjp or hvp.*100 x 100 block"):
        s2sad.jacrev(sf.non_scalar, backend="python")(np.ones(100))


def test_third_order_tensor_closed_form():
    """jacfwd(hessian(f)) of sum(x**3): T[i, j, k] = 6 when i == j == k, else 0."""
    x = np.array([0.5, -1.0, 2.0])
    T = s2sad.jacfwd(s2sad.hessian(sf.sum_cubes, backend="python"), backend="python")(x)
    expected = np.zeros((3, 3, 3))
    for i in range(3):
        expected[i, i, i] = 6.0
    np.testing.assert_allclose(T, expected, atol=1e-13)
    T = s2sad.jacfwd(s2sad.hessian(sf.sum_sin, backend="python"), backend="python")(x)
    expected = np.zeros((3, 3, 3))
    for i in range(3):
        expected[i, i, i] = -np.cos(x[i])
    np.testing.assert_allclose(T, expected, atol=1e-13)


@pytest.mark.parametrize(
    "fn, construct",
    [
        (sf.has_try, "try/except"),
        (sf.has_yield, r"yield \(a generator\)"),
        (sf.has_with, "with"),
        (sf.has_class, "class definition"),
        (sf.has_nested_def, "nested function definition"),
        (sf.has_comprehension, "list comprehension"),
        (sf.has_generator_expression, "generator expression"),
        (sf.has_lambda_inside, "lambda"),
        (sf.uses_global_statement, "global statement"),
        (sf.star_args, r"\*args/\*\*kwargs"),
        (sf.recursive, "recursive call of recursive"),
    ],
)
def test_every_unsupported_construct_names_file_line_and_construct(fn, construct):
    with pytest.raises(s2sad.S2SADError, match=rf"sample_functions.py:\d+: {construct}: \w+"):
        s2sad.jacrev(fn, backend="python")(np.ones(4))


def test_a_variable_that_changes_rank_is_refused():
    """Found by the fuzzer: w is 2-D in one branch, 1-D in the other (Numba refuses it too)."""
    with pytest.raises(s2sad.S2SADError, match=r"sample_functions.py:\d+: 'w' is float64\[1d\] here but float64\[2d\]"):
        s2sad.jacfwd(sf.rank_changes_between_branches, backend="python")(np.ones((2, 2)), np.ones(2))


@pytest.mark.numba
def test_numba_compile_failure_is_an_s2sad_error_with_advice():
    import rule_functions as rf

    with pytest.raises(s2sad.S2SADError, match=r"Numba could not compile .*backend='python'"):
        s2sad.jacfwd(rf.norm_of_scalar)(-0.5)
    assert s2sad.jacfwd(rf.norm_of_scalar, backend="python")(-0.5) == -2.0


@pytest.mark.numba
def test_numba_compile_failure_names_the_users_line():
    """The refusal names the user's line the uncompilable generated line came from (it named
    no file:line: the numpy suite counted it a crash)."""
    import inspect

    import rule_functions as rf

    lines, first = inspect.getsourcelines(rf.norm_of_scalar)
    line = first + next(k for k, text in enumerate(lines) if "np.linalg.norm" in text)
    with pytest.raises(s2sad.S2SADError, match=rf"rule_functions.py:{line}: Numba could not compile"):
        s2sad.jacrev(rf.norm_of_scalar)(-0.5)


@pytest.mark.numba
def test_ellipsis_reads_on_numba():
    """x[..., k] and x[k, ...] in reverse mode on numba: the scatter of their cotangents takes
    the Ellipsis as the whole slices it stands for (found by the fuzz pattern size_facts)."""
    import rule_functions as rf

    x = np.random.default_rng(1).uniform(-1.0, 1.0, (2, 3, 3))
    for mode in (s2sad.jacfwd, s2sad.jacrev):
        check_jacobian(rf.ellipsis_reads, (x,), 0, mode(rf.ellipsis_reads)(x))


@pytest.mark.numba
def test_squeeze_with_an_axis_on_numba():
    """Numba has no np.squeeze: the generated code squeezes by indexing (a view of any layout),
    and raises NumPy's ValueError for an axis of another length."""
    import rule_functions as rf
    from checks import check_jacobian

    x = np.random.default_rng(0).uniform(-1.0, 1.0, (4, 3)).T[:, :1]  # (3, 1), not contiguous
    for mode in (s2sad.jacfwd, s2sad.jacrev):
        check_jacobian(rf.squeeze_axis, (x,), 0, mode(rf.squeeze_axis)(x))
    with pytest.raises(ValueError, match="size not equal to one"):
        s2sad.jacrev(rf.squeeze_axis)(np.ones((3, 2)))


# --- options --------------------------------------------------------------------------------


def test_options_default_to_the_environment(monkeypatch):
    for name in ("STRUCTURE", "RENAME", "FUSION", "GLUE", "TYPING_MEMO", "DUMP_AFTER"):
        monkeypatch.delenv(f"S2SAD_NO_{name}" if name != "DUMP_AFTER" else "S2SAD_DUMP_AFTER", raising=False)
    assert s2sad.Options.from_env() == s2sad.Options()
    assert s2sad.jacrev(sf.predict).options == s2sad.Options()
    monkeypatch.setenv("S2SAD_NO_RENAME", "1")
    monkeypatch.setenv("S2SAD_NO_GLUE", "1")
    monkeypatch.setenv("S2SAD_DUMP_AFTER", "simplify,compile")
    options = s2sad.jacrev(sf.predict).options
    assert options == s2sad.Options(rename=False, glue=False, dump_after={"simplify", "compile"})
    assert options.structure and options.fusion and options.typing_memo


def test_options_of_a_transformation(rng):
    """Options as keywords (or an Options) choose the passes; the caches are keyed on them,
    so new options give new code from the next call on; they pickle with the function."""
    import pickle

    from s2sad.api import Transformed

    weight, bias, x = tanh_layer(rng, 4, 4)
    g = Transformed(sf.predict, "jacrev", 2, "python", structure=False)
    assert g.options == s2sad.Options.from_env(structure=False)
    assert "rt.basis" in s2sad.source(g, weight, bias, x)
    plain = g(weight, bias, x)
    g.options = g.options.replace(structure=True)
    assert "rt.basis" not in s2sad.source(g, weight, bias, x)
    np.testing.assert_allclose(g(weight, bias, x), plain, rtol=1e-13)
    assert "rt.basis" not in g.source  # the code of that call
    h = pickle.loads(pickle.dumps(Transformed(sf.predict, "jacrev", 2, "python", options=s2sad.Options(fusion=False))))
    assert h.options == s2sad.Options(fusion=False) and hash(h.options) == hash(s2sad.Options(fusion=False))
    with pytest.raises(s2sad.S2SADError, match="unknown option 'fuse'"):
        Transformed(sf.predict, "jacrev", 2, "python", fuse=False)
    with pytest.raises(s2sad.S2SADError, match="must be an s2sad Options"):
        g.options = "structure=False"


def test_glue_is_in_the_compiled_module_text():
    """Glue code is compiled without module-level optimization: its module's text (whose hash
    names the module and Numba's cache of it) says so, so an optimized build never loads it."""
    from s2sad import backends

    source = "def f(x):\n    return x\n"
    assert backends.numba_module_text(source, glue=True) != backends.numba_module_text(source)
    assert "glue" in backends.module_text(source, "numba", glue=True)
