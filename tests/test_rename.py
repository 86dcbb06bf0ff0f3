"""The rename pass (numba backend: fresh versions of reassigned names, copies propagated)
and the scalar typing memo of the numba backend.

The oracle for the pass is the code before it: both are run by the python backend on the
same arguments and must give the same numbers. The memo's oracle is Numba's own typing."""

import operator

import numpy as np
import pytest

import s2sad
import sample_functions as sf
from s2sad import backends, pipeline
from s2sad.ad.trace import dummy_like
from s2sad.backends.numba import rename, scalarize
from s2sad.ir import COPY, Assign, For, If, While, assigned_names, blocks
from s2sad.optimize import simplify
from test_scalarize import CASES as SCALAR_CASES  # noqa: E402 - loops over small arrays
from test_scalarize import X3, X4

CASES = SCALAR_CASES + [
    (sf.rk4, (X4, np.array([0.3, 0.7, 0.2]), 0.05, 12)),
    (sf.huber_loop, (np.array([-2.0, 0.3, 1.5, -0.1]), 1.0)),
    (sf.while_break, (X4,)),
    (sf.early_return, (X3,)),
    (sf.reassigned, (X3,)),
    (sf.continue_and_enumerate, (X3, X3[::-1].copy())),
]


def _run(ir, args):
    fn = backends.compile_source(pipeline.emit(ir), ir.name, "python")
    return fn(*args)


def _irs(fn, args, mode):
    """The derivative's IR as compiled, and (where its arrays are small) scalarized."""
    g = getattr(s2sad, mode)(fn)
    ir = g.ir_for(tuple(dummy_like(a) for a in args))
    out = [ir]
    spec = scalarize.spec_of(ir, args)
    small = scalarize.try_scalarize(ir, spec) if spec is not None else None
    if small is not None:
        split = small.split_stacks
        small = simplify.simplify(small)
        out.append(scalarize.shared_tape(small, split) if ir.mirror_stacks else small)
    return out


def _assert_same(a, b):
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    else:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def _reassigned_at_one_level(body):
    """Names assigned more than once at the top level of some block (not counting those also
    assigned in a block nested in it)."""
    out = set()
    for block in blocks(body):
        counts, inner = {}, set()
        for s in block:
            if isinstance(s, Assign):
                counts[s.target] = counts.get(s.target, 0) + 1
            elif isinstance(s, (If, For, While)):
                inner |= assigned_names([s])
        out |= {n for n, c in counts.items() if c > 1 and n not in inner}
    return out


@pytest.mark.parametrize("mode", ["jacrev", "jacfwd"])
@pytest.mark.parametrize("fn, args", CASES, ids=[c[0].__name__ for c in CASES])
def test_renamed_code_computes_what_the_code_before_it_computes(fn, args, mode):
    for ir in _irs(fn, args, mode):
        renamed = rename.rename(ir)
        _assert_same(_run(ir, args), _run(renamed, args))
        fixed = rename._fixed_names(renamed.body)
        assert _reassigned_at_one_level(renamed.body) <= fixed | _reassigned_at_one_level(ir.body)
        assert not (_reassigned_at_one_level(renamed.body) - fixed)


def test_rk4_reverse_sweep_loses_its_copies_and_straight_line_reassignments():
    args = (X4, np.array([0.3, 0.7, 0.2]), 0.05, 12)
    _, small = _irs(sf.rk4, args, "jacrev")
    renamed = rename.rename(small)

    def copies(ir):
        return sum(1 for b in blocks(ir.body) for s in b if isinstance(s, Assign) and s.op is COPY)

    assert _reassigned_at_one_level(small.body)  # what the pass is for
    assert copies(renamed) < copies(small)
    assert not _reassigned_at_one_level(renamed.body) - rename._fixed_names(renamed.body)


def test_a_copy_is_not_propagated_past_a_write_of_its_source():
    """``a = b; b = b + 1; c = a`` must read the old b; in a loop, a name assigned in a nested
    block keeps its name at the outer level."""
    from s2sad.ir import Const, Function, Return, Var

    body = [
        Assign("b", COPY, [Var("x")]),
        Assign("a", COPY, [Var("b")]),
        Assign("b", np.add, [Var("b"), Const(1.0)]),
        Assign("c", COPY, [Var("a")]),
        Assign("b", np.multiply, [Var("b"), Const(3.0)]),
        Assign("r", range, [Const(3)]),
        For(
            "i",
            Var("r"),
            [
                Assign("t", np.add, [Var("c"), Var("b")]),
                If(Var("flag"), [Assign("c", np.add, [Var("t"), Const(1.0)])], []),
                Assign("t", np.multiply, [Var("t"), Const(0.5)]),
                Assign("b", np.add, [Var("b"), Var("t")]),
            ],
        ),
        Return([Var("a"), Var("b"), Var("c")], True),
    ]
    fn = Function("f", ["x", "flag"], body, types={})
    renamed = rename.rename(fn)
    for x, flag in [(2.0, True), (-1.0, False)]:
        assert _run(renamed, (x, flag)) == _run(fn, (x, flag))
    loop = next(s for s in renamed.body if isinstance(s, For))
    assert [s.target for s in loop.body if isinstance(s, Assign)] == ["t2", "t", "b"]


# --- the scalar typing memo ---------------------------------------------------------------------


def test_scalar_typing_memo_agrees_with_numba():
    numba = pytest.importorskip("numba")
    from numba import types
    from numba.core.registry import cpu_target

    backends._install_scalar_typing_memo()
    from numba.core.types.functions import BaseFunction

    memoized = BaseFunction.get_call_type
    if not getattr(memoized, "s2sad_memo", False):
        pytest.skip("memo off (S2SAD_NO_TYPING_MEMO) or another Numba")
    context = cpu_target.typing_context
    context.refresh()
    scalars = [types.float64, types.float32, types.int64, types.int32, types.boolean, types.IntegerLiteral(2)]
    ops = [
        operator.add,
        operator.sub,
        operator.mul,
        operator.truediv,
        operator.pow,
        operator.lt,
        operator.neg,
        operator.floordiv,
        operator.mod,
    ]
    import math

    for op in ops + [math.sin, math.exp, math.atan2, math.sqrt]:
        fnty = context.resolve_value_type(op)
        nargs = 1 if op in (operator.neg, math.sin, math.exp, math.sqrt) else 2
        for args in [(a,) for a in scalars] if nargs == 1 else [(a, b) for a in scalars for b in scalars]:
            try:
                expected = memoized.s2sad_original(fnty, context, args, {})
            except numba.core.errors.TypingError:
                with pytest.raises(numba.core.errors.TypingError):
                    memoized(fnty, context, args, {})
                continue
            for _ in range(2):  # the first call fills the memo, the second reads it
                assert memoized(fnty, context, args, {}) == expected


@pytest.mark.numba
def test_memoized_typing_compiles_mixed_scalar_code():
    numba = pytest.importorskip("numba")
    backends._install_scalar_typing_memo()

    def mixed(a, b, n, flag):
        t = 0.0
        for i in range(n):
            t += a * i - b / (i + 1) + (i % 3) ** 2 + (1.5 if flag and a < b else -0.5)
        return t, n // 2, -a

    compiled = numba.njit(mixed)
    for args in [(1.5, 2.0, 7, True), (3.0, 2.0, 5, False)]:
        assert compiled(*args) == pytest.approx(mixed(*args), rel=1e-15)
