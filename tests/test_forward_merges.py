"""Forward mode across control-flow joins (forward.py's invariant), checked two ways:

* the numbers: jacfwd, jacrev, hessian and jvp of code that reassigns variables in loops and
  branches, against central finite differences (tests/checks.py, NumPy only);
* the generated code: every name a statement reads is assigned on every path to it (a
  definite-assignment walk over the IR after all passes), so no tangent is read where one
  path never set it.
"""

import numpy as np
import pytest

import merge_functions as mf
import s2sad
from checks import check_jacobian, check_jvp
from s2sad import pipeline
from s2sad.ad.trace import dummy_like
from s2sad.ir import Assign, For, If, Return, While, all_names, reads

CASES = [
    ("square_three_times", (1.3,), 0),
    ("normalize_repeatedly", (np.array([0.3, -0.5, 0.8]),), 0),
    ("halve_while_big", (2.0,), 0),
    ("loop_n_times", (np.array([0.3, 0.4]), 3), 0),
    ("update_in_both_arms", (2.0, 1.5), (0, 1)),
    ("update_in_both_arms", (1.0, 1.5), (0, 1)),
    ("update_in_one_arm", (2.0, 1.5), (0, 1)),
    ("update_in_one_arm", (1.0, 1.5), (0, 1)),
    ("nested_if_chain", (1.0, 1.5), (0, 1)),
    ("nested_if_chain", (1.0, -1.5), (0, 1)),
    ("nested_if_chain", (-1.0, 1.5), (0, 1)),
    ("nested_if_chain", (-1.0, 0.5), (0, 1)),
    ("starts_as_int", (1.2, 0.3), (0, 1)),
    ("branch_in_loop_with_write", (np.array([0.3, -0.5, 0.8]),), 0),
    ("swap_in_loop_with_break", (1.1, 1.3), (0, 1)),
    ("swap_in_loop_with_break", (1.1, 9.3), (0, 1)),
    ("read_previous_trip", (np.array([0.3, -0.5]),), 0),
    ("argument_written", (np.array([1.0, 2.0, 3.0]),), 0),
    ("argument_written_in_loop", (np.array([1.0, 2.0, 0.5]),), 0),
    ("constant_argument_reassigned", (np.array([0.7, 1.2]), np.array([2.0, -1.0])), 0),
    ("while_updates_two", (0.5, 0.7), (0, 1)),
    ("tuple_kept_across_loop", (1.3, 0.7), (0, 1)),
    ("accumulate_slices", (np.array([0.3, -0.5, 0.8, 0.45]),), 0),
    ("loop_over_rebound_array", (np.array([0.3, -0.5, 0.8]),), 0),
    ("helper_returns_in_loop", (np.array([0.3, -0.5, 0.8]),), 0),
    ("broadcast_writes", (np.array([0.3, -0.5, 0.8]), np.full((3, 2), 0.5)), (0, 1)),
    ("broadcast_write_3d", (np.array([0.3, -0.5, 0.8]),), 0),
    ("written_after_branch", (np.array([0.3, 0.9]), np.array([-0.2, 0.1]), np.array([0.5, 0.4])), (0, 1, 2)),
    ("written_after_branch", (np.array([-0.3, -1.2]), np.array([0.2, 0.1]), np.array([0.5, 0.4])), (0, 1, 2)),
    ("copy_of_argument_then_write", (np.array([[0.3, -0.5], [0.8, 0.1]]),), 0),
    ("write_argument_one_output", (np.array([0.5, 2.0, 1.0, 1.0]), np.array([0.3, 0.1, 0.7, 0.2])), (0, 1)),
    ("zeros_written_through_view", (np.array([0.8, 0.6, 0.1, -0.3]),), 0),
    ("int_then_float_two_loops", (np.array([0.5, 0.2]), 3), 0),
    ("mixed_index_apart", (np.random.default_rng(3).standard_normal((3, 4, 5)),), 0),
    ("two_index_lists_apart", (np.random.default_rng(4).standard_normal((3, 4, 5)),), 0),
    ("index_array_after_int", (np.random.default_rng(5).standard_normal((3, 4, 5)), np.array([[0, 2], [1, 0]])), 0),
    ("helper_returns_in_loop", (np.array([0.1, 0.5, 0.8]),), 0),
    ("returns_from_nested_loops", (np.array([[0.1, 0.2], [0.9, 0.3]]), 1.1), (0, 1)),
    ("returns_from_nested_loops", (np.array([[0.1, 0.2], [0.2, 0.3]]), 1.1), (0, 1)),
    ("tuple_assigned_in_branch", (np.array([0.5, 0.2]),), 0),
    ("tuple_assigned_in_branch", (np.array([-0.5, 0.2]),), 0),
]
# numba compiles cost seconds each: a representative set (a loop, a while, branches, a tape
# through an int-then-float variable, a write in a branch in a loop, a helper returning from
# its loop, broadcast writes, a write into an argument)
NUMBA = {
    "square_three_times",
    "halve_while_big",
    "nested_if_chain",
    "int_then_float_two_loops",
    "branch_in_loop_with_write",
    "helper_returns_in_loop",
    "broadcast_writes",
    "write_argument_one_output",
}


def fresh(args):
    return tuple(np.array(a) if isinstance(a, np.ndarray) else a for a in args)


def ids(case):
    return f"{case[0]}-{'-'.join(str(np.round(a, 1)) for a in case[1] if not isinstance(a, np.ndarray))}"


PARAMS = [
    pytest.param(*case, backend, id=f"{ids(case)}-{backend}")
    for case in CASES
    for backend in ("python", "numba")
    if backend == "python" or case[0] in NUMBA
]


def _oracle_args(args):
    return tuple(np.float64(a) if isinstance(a, float) else a for a in args)


@pytest.mark.parametrize("name, args, argnums, backend", PARAMS)
def test_first_and_second_order(name, args, argnums, backend):
    f = getattr(mf, name)

    def primal(*a):  # the function writes into its argument: the oracle gets copies
        return f(*fresh(a))

    for mode in ("jacfwd", "jacrev"):
        J = getattr(s2sad, mode)(f, argnums=argnums, backend=backend)(*fresh(args))
        check_jacobian(primal, _oracle_args(fresh(args)), argnums, J)
    if np.ndim(primal(*args)) == 0:
        H = s2sad.hessian(f, argnums=argnums, backend=backend)(*fresh(args))
        grad = s2sad.jacrev(f, argnums=argnums, backend="python")
        check_jacobian(lambda *a: grad(*fresh(a)), _oracle_args(fresh(args)), argnums, H, rtol=1e-4, atol=1e-6)
    nums = argnums if isinstance(argnums, tuple) else (argnums,)
    if len(nums) == len(args):  # jvp differentiates every argument
        rng = np.random.default_rng(0)
        tangents = tuple(rng.standard_normal(np.shape(a)) if np.ndim(a) else float(rng.standard_normal()) for a in args)
        _, t_out = s2sad.jvp(f, fresh(args), tangents, backend=backend)
        check_jvp(primal, _oracle_args(fresh(args)), nums, t_out, tangents)


def undefined_reads(fn):
    """(line, name) of every read of a name not assigned on every path to it."""
    found = []

    def check(stmt, defined):
        found.extend((stmt.line, n) for n in reads(stmt) if n not in defined)

    def block(stmts, defined):
        defined = set(defined)
        for s in stmts:
            if not isinstance(s, While):  # its test is read after its test body
                check(s, defined)
            if isinstance(s, If):
                defined = block(s.body, defined) & block(s.orelse, defined)
            elif isinstance(s, For):
                block(s.body, defined | {s.target})  # zero trips: defines nothing after
            elif isinstance(s, While):
                after_test = block(s.test_body, defined)
                check(s, after_test)
                block(s.body, after_test)
                defined = after_test
            elif isinstance(s, Assign):
                defined.add(s.target)
            elif isinstance(s, Return):
                break
        return defined

    block(fn.body, fn.params)
    return found


@pytest.mark.parametrize("name, args, argnums", CASES, ids=[ids(c) for c in CASES])
def test_every_tangent_defined_on_every_path(name, args, argnums):
    f = getattr(mf, name)
    dummies = tuple(dummy_like(a) for a in args)
    for transform in (s2sad.jacfwd, s2sad.hessian):
        g = transform(f, argnums=argnums, backend="python")
        if transform is s2sad.hessian and np.ndim(f(*fresh(args))) != 0:
            continue
        primal = all_names(pipeline.user_ir(f))  # the user's own may be unset on a path
        assert [r for r in undefined_reads(pipeline.build(g, dummies)) if r[1] not in primal] == []


def test_the_walk_finds_a_read_on_one_path_only():
    # the check itself: a tangent set in one arm only is found (the bug the merges fix)
    from s2sad.ir import COPY, Const, Function, Var

    fn = Function(
        "f",
        ["a"],
        [
            If(Var("a"), [Assign("a_dot", COPY, [Const(1.0)], line=2)], [], line=1),
            Return([Var("a_dot")], line=3),
        ],
    )
    assert undefined_reads(fn) == [(3, "a_dot")]
