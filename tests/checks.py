"""Derivative oracles for the tests: central finite differences and the dot-product test.

NumPy only, never s2sad, so a bug in the compiler cannot hide inside its own oracle.

Conventions (those of docs/API.md):
- `argnums` is an int or a tuple of ints; `tangents` is one array per entry of `argnums`
  (a bare array when `argnums` is an int, else a tuple).
- `f` returns an array/scalar or a tuple of them; numerical results keep that structure.
- A Jacobian of output `o` w.r.t. argument `a` has shape `o.shape + a.shape`; a tuple `argnums`
  gives a tuple over arguments, a tuple output a tuple over outputs, both give `J[i][j]`.
"""

import numpy as np

# Relative step of the central difference; truncation error ~ eps**2, rounding ~ ulp / eps.
DEFAULT_EPS = {np.dtype(np.float64): 1e-6, np.dtype(np.float32): 1e-3}
# (rtol, atol) that central differences reach with the steps above.
DEFAULT_TOLERANCE = {np.dtype(np.float64): (1e-5, 1e-7), np.dtype(np.float32): (1e-2, 1e-3)}


def random_args(shapes, rng, dtype=np.float64, low=-1.0, high=1.0):
    """Uniform random arguments, one per shape; shape `()` gives a NumPy scalar of `dtype`."""
    dtype = np.dtype(dtype)
    return tuple(
        dtype.type(rng.uniform(low, high)) if shape == () else rng.uniform(low, high, size=shape).astype(dtype)
        for shape in shapes
    )


def numerical_jvp(f, args, argnums, tangents, eps=None):
    """J·v of `f` at `args` by central differences along `tangents` (float64 results)."""
    argnums, tangents = _normalize_argnums(argnums, tangents)
    dtype = _lowest_precision(args, argnums)
    eps = DEFAULT_EPS[dtype] if eps is None else eps
    tangent_size = max(float(np.max(np.abs(t), initial=0.0)) for t in tangents)
    if tangent_size == 0.0:
        return _map_outputs(lambda out: np.zeros(np.shape(out)), f(*args))
    arg_size = max(float(np.max(np.abs(args[k]), initial=0.0)) for k in argnums)
    step = eps * max(1.0, arg_size) / tangent_size

    def shifted(sign):
        moved = list(args)
        for k, tangent in zip(argnums, tangents):
            moved[k] = _perturb(args[k], sign * step, tangent)
        return f(*moved)

    plus, minus = shifted(+1.0), shifted(-1.0)
    if isinstance(plus, tuple):
        return tuple(_difference(p, m, step) for p, m in zip(plus, minus))
    return _difference(plus, minus, step)


def check_jvp(f, args, argnums, jvp_out, tangents, rtol=None, atol=None):
    """Asserts that `jvp_out` (structured like `f`'s output) matches the numerical J·v."""
    argnums, tangents = _normalize_argnums(argnums, tangents)
    rtol, atol = _tolerances(args, argnums, rtol, atol)
    expected = numerical_jvp(f, args, argnums, tangents)
    expected, actual = _as_tuple(expected), _as_tuple(jvp_out)
    assert len(actual) == len(expected), f"{len(actual)} tangent outputs, f has {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert np.shape(a) == np.shape(e), f"output {i}: shape {np.shape(a)}, expected {e.shape}"
        np.testing.assert_allclose(
            np.asarray(a, dtype=np.float64),
            e,
            rtol=rtol,
            atol=atol,
            err_msg=f"J·v of output {i} disagrees with central differences",
        )


def check_jacobian(f, args, argnums, jac, rtol=None, atol=None, n_directions=3, rng=None):
    """Asserts that the dense Jacobian `jac` matches central differences in random directions.

    Each direction v (one random array per argument) is contracted with `jac` over the input
    axes and compared with `numerical_jvp(f, args, argnums, v)`; shapes are checked first.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    multiple_args = isinstance(argnums, tuple)
    argnums, _ = _normalize_argnums(argnums, None)
    rtol, atol = _tolerances(args, argnums, rtol, atol)
    outputs = f(*args)
    multiple_outputs = isinstance(outputs, tuple)
    outputs = _as_tuple(outputs)

    # Bring every convention to the nested form J[i][j]: output i, argument j.
    if not multiple_outputs:
        jac = (jac,)
    if not multiple_args:
        jac = tuple((row,) for row in jac)
    assert len(jac) == len(outputs), f"Jacobian has {len(jac)} outputs, f has {len(outputs)}"
    for i, out in enumerate(outputs):
        assert len(jac[i]) == len(argnums), f"output {i}: {len(jac[i])} blocks, {len(argnums)} args"
        for j, k in enumerate(argnums):
            expected_shape = np.shape(out) + np.shape(args[k])
            assert np.shape(jac[i][j]) == expected_shape, (
                f"J[{i}][{j}] has shape {np.shape(jac[i][j])}, expected {expected_shape}"
            )

    for _ in range(n_directions):
        directions = tuple(rng.standard_normal(np.shape(args[k])) for k in argnums)
        expected = _as_tuple(numerical_jvp(f, args, argnums, directions))
        for i in range(len(outputs)):
            actual = sum(
                np.tensordot(np.asarray(jac[i][j], dtype=np.float64), v, axes=np.ndim(v))
                for j, v in enumerate(directions)
            )
            np.testing.assert_allclose(
                actual,
                expected[i],
                rtol=rtol,
                atol=atol,
                err_msg=f"Jacobian of output {i}, contracted with a random direction, "
                "disagrees with central differences",
            )


def dot_product_test(f, args, argnums, vjp_fn, rng=None, rtol=None, atol=None, n_directions=2):
    """Asserts <u, J v> == <J^T u, v> for random u, v, with J v from central differences.

    `vjp_fn(u)` takes a cotangent structured like `f`'s output and returns the cotangents of
    the arguments in `argnums`, in order (a tuple; a bare array is accepted for an int argnums).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    argnums, _ = _normalize_argnums(argnums, None)
    rtol, atol = _tolerances(args, argnums, rtol, atol)
    outputs = f(*args)
    for _ in range(n_directions):
        cotangent = _map_outputs(lambda out: _random_like(out, rng), outputs)
        directions = tuple(rng.standard_normal(np.shape(args[k])) for k in argnums)
        jv = _as_tuple(numerical_jvp(f, args, argnums, directions))
        u = _as_tuple(cotangent)
        lhs_terms = [np.asarray(a, np.float64) * b for a, b in zip(u, jv)]

        cotangents = _as_tuple(vjp_fn(cotangent))
        assert len(cotangents) == len(argnums), (
            f"vjp_fn returned {len(cotangents)} cotangents for {len(argnums)} arguments"
        )
        for k, (c, v) in zip(argnums, zip(cotangents, directions)):
            assert np.shape(c) == np.shape(v), (
                f"cotangent of argument {k} has shape {np.shape(c)}, expected {np.shape(v)}"
            )
        rhs_terms = [np.asarray(c, np.float64) * v for c, v in zip(cotangents, directions)]

        lhs = sum(float(np.sum(t)) for t in lhs_terms)
        rhs = sum(float(np.sum(t)) for t in rhs_terms)
        # Scale by the sum of magnitudes, so cancellation inside the sums cannot hide an error.
        scale = sum(float(np.sum(np.abs(t))) for t in lhs_terms + rhs_terms)
        assert abs(lhs - rhs) <= atol + rtol * scale, (
            f"dot-product test failed: <u, J v> = {lhs!r} but <J^T u, v> = {rhs!r}"
        )


# --- helpers ---


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _normalize_argnums(argnums, tangents):
    argnums = _as_tuple(argnums)
    if tangents is not None:
        tangents = _as_tuple(tangents)
        assert len(tangents) == len(argnums), f"{len(tangents)} tangents for {len(argnums)} args"
    return argnums, tangents


def _float_dtype(x):
    dtype = np.asarray(x).dtype
    if dtype not in DEFAULT_EPS:
        raise TypeError(f"cannot differentiate numerically w.r.t. an argument of dtype {dtype}")
    return dtype


def _lowest_precision(args, argnums):
    dtypes = {_float_dtype(args[k]) for k in argnums}
    return np.dtype(np.float32) if np.dtype(np.float32) in dtypes else np.dtype(np.float64)


def _tolerances(args, argnums, rtol, atol):
    default_rtol, default_atol = DEFAULT_TOLERANCE[_lowest_precision(args, argnums)]
    return (default_rtol if rtol is None else rtol), (default_atol if atol is None else atol)


def _perturb(x, step, tangent):
    """x + step * tangent, keeping x's type: array dtype, NumPy scalar type or Python float."""
    moved = np.asarray(x, dtype=np.float64) + step * np.asarray(tangent, dtype=np.float64)
    if isinstance(x, np.ndarray):
        return moved.astype(x.dtype)
    if isinstance(x, np.generic):
        return x.dtype.type(moved)
    return float(moved)


def _difference(plus, minus, step):
    return (np.asarray(plus, np.float64) - np.asarray(minus, np.float64)) / (2.0 * step)


def _map_outputs(fn, outputs):
    return tuple(fn(o) for o in outputs) if isinstance(outputs, tuple) else fn(outputs)


def _random_like(x, rng):
    return rng.standard_normal(np.shape(x))
