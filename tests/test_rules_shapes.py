"""Spec table for NumPy's shape and construction functions (issue 17; s2sad/rules/shape_rules.py).

Each row names a user-style function (tests/shape_functions.py), how to build its arguments,
and the differentiated arguments. Every row checks jacfwd and jacrev against central
differences in random directions (tests/checks.py, NumPy only), their agreement, the primal
value against NumPy, and for the scalar ``sum(f(...) ** 2)`` grad (central differences) and
the Hessian (``u . H v`` against a four-point second difference of the NumPy function);
scalar outputs check grad of f too. A small
subset runs on the numba backend. Refusals: S2SADError naming the user's file:line, raised
before any number is computed.
"""

from typing import NamedTuple

import numpy as np
import pytest

import s2sad
import shape_functions as sf
from checks import check_jacobian
from s2sad.errors import S2SADError

pytestmark = [
    pytest.mark.filterwarnings("ignore:`row_stack` alias is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Arrays of 2-dimensional vectors are deprecated:DeprecationWarning"),
]


class Spec(NamedTuple):
    fn: object
    make_args: object  # rng -> tuple of arguments
    argnums: object
    numba: bool = False


def U(shape, low=-1.0, high=1.0):
    def build(rng):
        if shape == ():
            return float(rng.uniform(low, high))
        return rng.uniform(low, high, size=shape)

    return build


def DISTINCT(shape):
    """Well-separated values (sort: no near-ties within a finite-difference step)."""

    def build(rng):
        n = int(np.prod(shape))
        return rng.permutation(np.linspace(-1.0, 1.0, n) + 0.01 * rng.uniform(size=n)).reshape(shape)

    return build


def C(value):
    return lambda rng: value


def args(*builders):
    return lambda rng: tuple(b(rng) for b in builders)


S = Spec
SPECS = [
    # joining
    S(sf.hstack_, args(U((3,)), U((2,))), (0, 1), numba=True),
    S(sf.hstack_, args(U(()), U((2,))), (0, 1)),
    S(sf.hstack_, args(U((2, 3)), U((2, 1))), (0, 1)),
    S(sf.hstack_, args(U((2, 3, 4)), U((2, 1, 4))), (0, 1)),
    S(sf.hstack_list, args(U((3,)), U((2,))), (0, 1)),
    S(sf.vstack_, args(U((3,)), U((3,))), (0, 1)),
    S(sf.vstack_, args(U(()), U(())), (0, 1)),
    S(sf.vstack_, args(U((2, 3)), U((1, 3))), (0, 1)),
    S(sf.vstack_, args(U((2, 3, 2)), U((1, 3, 2))), (0, 1)),
    *([S(sf.row_stack_, args(U((3,)), U((2, 3))), (0, 1))] if hasattr(np, "row_stack") else []),
    S(sf.column_stack_, args(U((3,)), U((3,))), (0, 1)),
    S(sf.column_stack_, args(U((3, 2)), U((3,))), (0, 1)),
    S(sf.dstack_, args(U((3,)), U((3,))), (0, 1)),
    S(sf.dstack_, args(U((2, 3)), U((2, 3))), (0, 1)),
    S(sf.dstack_, args(U((2, 3, 1)), U((2, 3, 2))), (0, 1)),
    S(sf.concatenate_list, args(U((2, 3)), U((1, 3))), (0, 1)),
    S(sf.concatenate_tuple_none, args(U((2, 2)), U((3,))), (0, 1)),
    S(sf.stack_list, args(U((2, 3)), U((2, 3))), (0, 1)),
    S(sf.atleast_1d_, args(U(())), 0),
    S(sf.atleast_1d_, args(U((3,))), 0),
    S(sf.atleast_2d_, args(U(())), 0),
    S(sf.atleast_2d_, args(U((3,))), 0),
    S(sf.atleast_2d_, args(U((2, 3, 2))), 0),
    S(sf.atleast_3d_, args(U(())), 0),
    S(sf.atleast_3d_, args(U((3,))), 0),
    S(sf.atleast_3d_, args(U((2, 3))), 0),
    S(sf.atleast_2d_pair, args(U((3,)), U((2, 3))), (0, 1)),
    S(sf.append_flat, args(U((2, 3)), U(())), (0, 1)),
    S(sf.append_flat, args(U((3,)), U((2, 2))), (0, 1)),
    S(sf.append_axis0, args(U((2, 3)), U((1, 3))), (0, 1)),
    # axes
    S(sf.moveaxis_, args(U((2, 3, 4))), 0),
    S(sf.moveaxis_, args(U((2, 3))), 0),
    S(sf.moveaxis_multi, args(U((2, 3, 4))), 0),
    S(sf.rollaxis_, args(U((2, 3, 4))), 0),
    S(sf.rollaxis_start, args(U((2, 3, 4))), 0),
    S(sf.rollaxis_start, args(U((2, 3))), 0),
    S(sf.swapaxes_, args(U((2, 3))), 0),
    # flips, rotations, rolls
    S(sf.flip_all, args(U((4,))), 0),
    S(sf.flip_all, args(U(())), 0),
    S(sf.flip_all, args(U((2, 3, 2))), 0),
    S(sf.flip_axis, args(U((2, 3))), 0),
    S(sf.flip_axes, args(U((2, 3, 2))), 0),
    S(sf.fliplr_, args(U((2, 3))), 0),
    S(sf.flipud_, args(U((3,))), 0),
    S(sf.flipud_, args(U((3, 2, 2))), 0),
    S(sf.rot90_, args(U((2, 3))), 0),
    S(sf.rot90_, args(U((2, 3, 2))), 0),
    S(sf.rot90_k2, args(U((2, 3))), 0),
    S(sf.rot90_k3_axes, args(U((2, 3, 4))), 0),
    S(sf.rot90_neg, args(U((3, 2))), 0),
    S(sf.roll_flat, args(U((5,))), 0, numba=True),
    S(sf.roll_flat, args(U((2, 3))), 0),
    S(sf.roll_flat, args(U(())), 0),
    S(sf.roll_axis, args(U((2, 3))), 0),
    S(sf.roll_tuple, args(U((2, 3, 4))), 0),
    S(sf.roll_big, args(U((3, 2))), 0),
    # repeating, padding
    S(sf.repeat_flat, args(U(())), 0),
    S(sf.repeat_flat, args(U((3,))), 0),
    S(sf.repeat_flat, args(U((2, 2))), 0),
    S(sf.repeat_axis, args(U((2, 3))), 0, numba=True),
    S(sf.repeat_axis, args(U((2, 2, 3))), 0),
    S(sf.repeat_counts, args(U((3, 2))), 0),
    S(sf.tile_int, args(U(())), 0),
    S(sf.tile_int, args(U((3,))), 0),
    S(sf.tile_int, args(U((2, 3))), 0),
    S(sf.tile_tuple, args(U((3,))), 0),
    S(sf.tile_tuple, args(U((2, 2, 2))), 0),
    S(sf.pad_int, args(U(())), 0),
    S(sf.pad_int, args(U((3,))), 0),
    S(sf.pad_int, args(U((2, 3, 2))), 0),
    S(sf.pad_pairs, args(U((2, 3))), 0, numba=True),
    S(sf.pad_edge, args(U((3,))), 0),
    S(sf.pad_edge_pairs, args(U((2, 3))), 0),
    S(sf.pad_reflect, args(U((4,))), 0),
    S(sf.pad_reflect_pairs, args(U((3, 4))), 0, numba=True),
    S(sf.pad_value, args(U((3,)), U(())), (0, 1)),
    S(sf.pad_value, args(U((2, 2)), U(())), (0, 1)),
    # diagonals, triangles
    S(sf.diag_1d, args(U((3,))), 0),
    S(sf.diag_1d_k, args(U((3,))), 0),
    S(sf.diag_1d_negk, args(U((3,))), 0),
    S(sf.diag_2d, args(U((3, 3))), 0),
    S(sf.diag_2d, args(U((2, 4))), 0),
    S(sf.diag_2d_k, args(U((3, 4))), 0),
    S(sf.diagonal_, args(U((3, 3))), 0, numba=True),
    S(sf.diagonal_, args(U((3, 2, 4))), 0),
    S(sf.diagonal_offset, args(U((2, 3, 4))), 0),
    S(sf.diagonal_3d, args(U((3, 2, 4))), 0),
    S(sf.tril_, args(U((3, 3))), 0),
    S(sf.tril_, args(U((3,))), 0),
    S(sf.tril_k, args(U((2, 3, 4))), 0),
    S(sf.triu_, args(U((3, 4))), 0),
    # products
    S(sf.kron_, args(U((2,)), U((3,))), (0, 1)),
    S(sf.kron_, args(U((2, 2)), U((3, 2))), (0, 1)),
    S(sf.kron_, args(U((2,)), U((2, 3))), (0, 1)),
    S(sf.kron_, args(U(()), U((2, 2))), (0, 1)),
    S(sf.kron_, args(U((2, 1, 2)), U((2, 2, 1))), (0, 1)),
    S(sf.tensordot_int, args(U((2, 3)), U((3, 4))), (0, 1)),
    S(sf.tensordot_2, args(U((2, 3, 4)), U((3, 4, 2))), (0, 1)),
    S(sf.tensordot_2, args(U((3, 4)), U((3, 4))), (0, 1)),
    S(sf.tensordot_pairs, args(U((2, 3, 4)), U((4, 2))), (0, 1)),
    S(sf.tensordot_0, args(U((2,)), U((3, 2))), (0, 1)),
    S(sf.einsum_matmul, args(U((2, 3)), U((3, 4))), (0, 1)),
    S(sf.einsum_dot, args(U((4,)), U((4,))), (0, 1)),
    S(sf.einsum_transpose, args(U((2, 3))), 0),
    S(sf.einsum_batch, args(U((2, 3, 4)), U((2, 4, 2))), (0, 1)),
    S(sf.einsum_diag, args(U((3, 3))), 0),
    S(sf.einsum_trace, args(U((3, 3))), 0),
    S(sf.einsum_implicit, args(U((2, 3)), U((3, 2))), (0, 1)),
    S(sf.einsum_three, args(U((2,)), U((2, 3)), U((3,))), (0, 1, 2)),
    S(sf.einsum_elementwise, args(U((2, 3)), U((2, 3))), (0, 1)),
    S(sf.einsum_outer, args(U((2,)), U((3,))), (0, 1)),
    S(sf.einsum_mixed, args(U((2, 3, 4)), U((2, 4, 2))), (0, 1)),
    S(sf.einsum_reduce, args(U((2, 3, 4))), 0),
    S(sf.cross_, args(U((3,)), U((3,))), (0, 1)),
    S(sf.cross_, args(U((2, 3)), U((3,))), (0, 1)),
    S(sf.cross_, args(U((2, 2, 3)), U((2, 1, 3))), (0, 1)),
    S(sf.cross_axis, args(U((3, 2)), U((3, 2))), (0, 1)),
    # 2-vectors: the code is built for the arguments' shapes (s2sad/analysis/sizes.py)
    S(sf.cross_, args(U((2,)), U((2,))), (0, 1), numba=True),
    S(sf.cross_, args(U((3,)), U((2,))), (0, 1)),
    S(sf.cross_, args(U((4, 2)), U((2,))), (0, 1)),
    S(sf.cross_axis, args(U((2, 3)), U((3, 3))), (0, 1)),
    S(sf.cross_summed, args(U((2, 2)), U((2, 3))), (0, 1)),
    S(sf.cross_then_stack, args(U((3,))), 0),
    # without axis: the size-1 axes the arguments' shapes show (s2sad/analysis/sizes.py)
    S(sf.squeeze_all, args(U((3, 1))), 0, numba=True),
    S(sf.squeeze_all, args(U((1, 3, 1))), 0),
    S(sf.squeeze_all, args(U((1, 1))), 0, numba=True),
    S(sf.squeeze_all, args(U((2, 3))), 0),
    S(sf.squeeze_derived, args(U((3,))), 0),
    S(sf.outer_nd, args(U((2, 2)), U((3,))), (0, 1)),
    S(sf.outer_nd, args(U((2, 1, 2)), U((2, 2))), (0, 1)),
    S(sf.outer_nd, args(U(()), U((3,))), (0, 1)),
    # sorting, selecting, constructing
    S(sf.sort_, args(DISTINCT((5,))), 0, numba=True),
    S(sf.sort_, args(DISTINCT((2, 4))), 0),
    S(sf.sort_axis0, args(DISTINCT((3, 2, 2))), 0),
    S(sf.sort_none, args(DISTINCT((2, 3))), 0),
    # partition: NumPy's arrangement (rt.argpartition) on every backend
    S(sf.partition_, args(DISTINCT((5,))), 0, numba=True),
    S(sf.partition_, args(DISTINCT((2, 4))), 0),
    S(sf.partition_axis0, args(DISTINCT((3, 2, 2))), 0, numba=True),
    S(sf.partition_none, args(DISTINCT((2, 3))), 0),
    S(sf.select_, args(U((6,)), U((6,))), (0, 1)),
    S(sf.select_scalar_default, args(DISTINCT((2, 3)), DISTINCT((2, 3)), U(())), (0, 1, 2)),
    S(sf.linspace_, args(U(()), U(())), (0, 1)),
    S(sf.linspace_open, args(U(()), U(())), (0, 1)),
    S(sf.linspace_use, args(U(()), U(())), (0, 1)),
    S(sf.linspace_, args(U((2,)), U((3, 2))), (0, 1)),
    S(sf.linspace_axis, args(U((2, 3)), U(())), (0, 1)),
    # splitting
    S(sf.split_int, args(U((4,))), 0),
    S(sf.split_int, args(U((4, 3))), 0),
    S(sf.split_indices, args(U((2, 5))), 0),
    S(sf.array_split_, args(U((5,))), 0),
    S(sf.array_split_, args(U((4, 2))), 0),
    S(sf.hsplit_, args(U((2, 4))), 0),
    S(sf.hsplit_, args(U((6,))), 0),
    S(sf.vsplit_, args(U((3, 2))), 0),
    S(sf.dsplit_, args(U((2, 2, 3))), 0),
    S(sf.split_returned, args(U((6,))), 0),
    # results that are new arrays: a write into them leaves the argument alone
    S(sf.hstack_one_write, args(U((3,))), 0),
    S(sf.tile_one_write, args(U((3,))), 0),
    S(sf.pad_zero_write, args(U((3,))), 0),
    S(sf.roll_zero_write, args(U((3,))), 0),
    S(sf.take_flat, args(U((2, 3))), 0),
    S(sf.take_flat, args(U((3,))), 0),
    S(sf.take_axis, args(U((2, 2, 2))), 0),
    S(sf.take_scalar_index, args(U((3, 2))), 0),
    # literal operands
    S(sf.append_literal, args(U((2, 2))), 0),
    S(sf.kron_literal, args(U((3,))), 0),
    S(sf.cross_literal, args(U((2, 3))), 0),
    S(sf.hstack_literal, args(U((3,))), 0),
    S(sf.select_mixed, args(DISTINCT((6,))), 0),
    # method spellings
    S(sf.repeat_method, args(U((2, 3))), 0),
    S(sf.diagonal_method, args(U((3, 4))), 0),
    S(sf.swapaxes_method, args(U((2, 3, 2))), 0),
]


def _name(spec):
    shapes = "_".join("x".join(map(str, np.shape(a))) or "s" for a in spec.make_args(np.random.default_rng(0)))
    return f"{spec.fn.__name__}[{shapes}]"


CASES = [pytest.param(s, "python", id=f"python-{_name(s)}") for s in SPECS] + [
    pytest.param(s, "numba", id=f"numba-{_name(s)}") for s in SPECS if s.numba
]


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _squares(fn):
    def total(*a):
        y = fn(*a)
        return sum(np.sum(np.asarray(p) ** 2) for p in y) if isinstance(y, (tuple, list)) else np.sum(y**2)

    return total


def _sum_of_squares(fn, n):
    """A scalar wrapper written as a user writes it (s2sad reads its source: no *args)."""

    def total1(a):
        y = fn(a)
        return np.sum(y * y)

    def total2(a, b):
        y = fn(a, b)
        return np.sum(y * y)

    def total3(a, b, c):
        y = fn(a, b, c)
        return np.sum(y * y)

    return {1: total1, 2: total2, 3: total3}[n]


def _second_difference(s, a, argnums, u, v, h=1e-4):
    def moved(du, dv):
        out = list(a)
        for k, x, y in zip(argnums, u, v):
            out[k] = a[k] + du * x + dv * y
        return out

    return (s(*moved(h, h)) - s(*moved(h, -h)) - s(*moved(-h, h)) + s(*moved(-h, -h))) / (4 * h * h)


def _numpy_value(fn, a):
    y = fn(*a)
    return tuple(y) if isinstance(y, list) else y


@pytest.mark.parametrize("spec,backend", CASES)
def test_shape_rule(spec, backend):
    rng = np.random.default_rng(7)
    a = spec.make_args(rng)
    reference = _numpy_value(spec.fn, a)
    fn = spec.fn
    if isinstance(reference, tuple):  # a function that returns a list: compare as a tuple

        def fn(*x, _f=spec.fn):
            return tuple(_f(*x))

    fwd = s2sad.jacfwd(spec.fn, argnums=spec.argnums, backend=backend)(*a)
    rev = s2sad.jacrev(spec.fn, argnums=spec.argnums, backend=backend)(*a)
    check_jacobian(fn, a, spec.argnums, fwd)
    check_jacobian(fn, a, spec.argnums, rev)
    for jf, jr in zip(_as_tuple(fwd), _as_tuple(rev)):
        for pf, pr in zip(_as_tuple(jf), _as_tuple(jr)):
            np.testing.assert_allclose(pf, pr, rtol=1e-12, atol=1e-13)
    nums = _as_tuple(spec.argnums)
    if not isinstance(reference, tuple):
        # the primal, from the generated code (jvp), against NumPy's own value
        tangents = tuple(np.zeros_like(np.asarray(a[k], dtype=float)) if np.ndim(a[k]) else 0.0 for k in nums)
        primal = tuple(a[k] for k in nums)
        if len(nums) == len(a):
            y, _ = s2sad.jvp(spec.fn, primal, tangents, backend=backend)
            # (sums may add in another order than NumPy's)
            np.testing.assert_allclose(np.asarray(y), np.asarray(reference), rtol=1e-13, atol=1e-15)
            assert np.shape(y) == np.shape(reference)
            assert np.asarray(y).dtype == np.asarray(reference).dtype
        if np.ndim(reference) == 0:
            g = s2sad.grad(spec.fn, argnums=spec.argnums, backend=backend)(*a)
            for gj, jr in zip(_as_tuple(g), _as_tuple(rev)):
                np.testing.assert_allclose(np.asarray(gj), np.asarray(jr), rtol=1e-12, atol=1e-13)
    if backend == "python" and not isinstance(reference, tuple):
        total = _sum_of_squares(spec.fn, len(a))
        g = s2sad.grad(total, argnums=nums, backend=backend)(*a)
        check_jacobian(_squares(spec.fn), a, nums, g)
        H = s2sad.hessian(total, argnums=nums, backend=backend)(*a)
        for _ in range(2):
            u = [rng.uniform(-1, 1, np.shape(a[k])) if np.ndim(a[k]) else float(rng.uniform(-1, 1)) for k in nums]
            v = [rng.uniform(-1, 1, np.shape(a[k])) if np.ndim(a[k]) else float(rng.uniform(-1, 1)) for k in nums]
            expected = _second_difference(_squares(spec.fn), a, nums, u, v)
            got = sum(
                float(
                    np.tensordot(
                        np.asarray(u[i]),
                        np.tensordot(np.asarray(H[i][j]), np.asarray(v[j]), axes=np.ndim(v[j])),
                        axes=np.ndim(u[i]),
                    )
                )
                for i in range(len(nums))
                for j in range(len(nums))
            )
            assert np.isclose(got, expected, rtol=1e-4, atol=1e-5), f"u.Hv {got} != {expected}"


# --- refusals and run-time errors ---------------------------------------------------------------

REFUSED = [  # function, arguments, what the message says
    (sf.pad_reflect_wide, (np.ones(3),), "mode='reflect' with a width of 3"),
    (sf.einsum_ellipsis, (np.ones((2, 3)),), "ellipsis"),
    # the code is built for the size-1 axes the argument shapes show (none here), and the
    # slice from a variable leaves one the shapes do not show: refused when it runs
    (sf.squeeze_slice, (np.ones(3), 2), "squeeze without axis of an operand whose size-1 axes are not"),
    (sf.repeat_variable, (np.ones(3), 2), "repeats must be a constant"),
    (sf.einsum_sublists, (np.ones((2, 3)),), "subscripts-string form"),
    (sf.einsum_variable, (np.ones((2, 3)),), "string literal"),
    (sf.diag_1d, (np.ones((2, 2, 2)),), "1- or 2-d"),  # (NumPy's message, at type inference)
    # np.flip returns a view: a write through it into the argument (refused, as for x[::-1])
    (sf.flip_write, (np.ones(3),), "view"),
]


@pytest.mark.parametrize("fn,a,message", REFUSED, ids=[r[0].__name__ for r in REFUSED])
@pytest.mark.parametrize("mode", ["jacfwd", "jacrev"])
def test_refused_with_the_users_line(fn, a, message, mode):
    with pytest.raises(S2SADError, match=message) as info:
        getattr(s2sad, mode)(fn, backend="python")(*a)
    assert "shape_functions.py:" in str(info.value)


@pytest.mark.parametrize(
    "fn,a",
    [
        (sf.split_int, (np.ones(5),)),
        (sf.repeat_counts, (np.ones((4, 2)),)),
        (sf.repeat_counts, (np.ones((2, 2)),)),
        (sf.cross_, (np.ones(4), np.ones(4))),
    ],
    ids=["split-unequal", "repeat-longer", "repeat-shorter", "cross-4"],
)
def test_size_errors_are_numpys(fn, a):
    """Sizes are read at run time: where NumPy raises ValueError for these sizes, the generated
    code raises it too (the user's own error, re-raised), never a number."""
    with pytest.raises(ValueError):
        fn(*a)
    with pytest.raises(ValueError):
        s2sad.jacrev(fn, backend="python")(*a)


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_sizes_of_created_arrays(backend):
    """np.zeros((2, 3)) has known sizes, np.zeros(n) of an int argument does not: the cross of
    the first's 2-vectors and a squeeze of a slice of the second get their derivatives (a
    program the fuzz pattern size_facts wrote, refused before created arrays had sizes)."""
    x = np.random.default_rng(5).uniform(-1.0, 1.0, (2, 3))
    for mode in (s2sad.jacfwd, s2sad.jacrev):
        check_jacobian(lambda v: sf.cross_of_created(v, 3), (x,), 0, mode(sf.cross_of_created, backend=backend)(x, 3))


def test_squeeze_without_axis_under_vmap():
    """vmap builds the per-sample code for the samples' shapes (a size-1 axis of each sample)."""
    X = np.random.default_rng(3).normal(size=(4, 1, 3))
    g = s2sad.vmap(s2sad.grad(sf.squeeze_weighted, backend="numba"))
    np.testing.assert_allclose(g(X), 2 * X * np.arange(1.0, 4.0), rtol=1e-12)
    Y = X.reshape(4, 3, 1)  # other shapes, other code
    np.testing.assert_allclose(g(Y), 2 * Y * np.arange(1.0, 4.0)[:, None], rtol=1e-12)


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_cross_and_squeeze_are_built_per_shape(backend):
    """np.cross of 2-vectors (a number per pair) and np.squeeze without axis have results whose
    rank depends on sizes: the same transformed function called with 3-vectors, then
    2-vectors, then 3-vectors again, gives each time the derivative of what NumPy computes
    (code built for each shape, s2sad/analysis/sizes.py)."""
    a3, b3 = np.array([1.0, 2.0, 0.5]), np.array([3.0, 5.0, -1.0])
    g = s2sad.jacrev(sf.cross_, argnums=(0, 1), backend=backend)
    for a, b in ((a3, b3), (a3[:2], b3[:2]), (a3, b3[:2]), (a3 * 2, b3)):
        got = g(a, b)
        check_jacobian(sf.cross_, (a, b), 0, got[0])
        check_jacobian(sf.cross_, (a, b), 1, got[1])
    s = s2sad.jacfwd(sf.squeeze_all, backend=backend)
    for x in (np.ones((2, 3)), np.arange(3.0).reshape(3, 1), np.ones((1, 2, 1))):
        check_jacobian(sf.squeeze_all, (x,), 0, s(x))
