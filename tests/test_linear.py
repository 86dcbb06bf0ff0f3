"""The ops declared ``@linear`` (s2sad/rules/tables.py): their two rules, one of them derived.

For every op in ``rules.LINEAR`` that has rules, on random operands: the tangent rule and the
adjoint rule are run at trace time on symbolic operands, the statements they emit are
evaluated (a small interpreter over the IR, NumPy only), and

* the dot-product test: <T v, w> = <v, A w> for a batch of tangents v and cotangents w;
* the tangent rule against central differences of the op itself, seed by seed.

Each user-callable op also has a spec row (tests/test_rules.py), where jacfwd and jacrev are
checked against finite differences and against each other.
"""

from typing import NamedTuple

import numpy as np
import pytest

import s2sad.rules as rules
from s2sad import runtime as rt
from s2sad.ad.trace import Builder, Sym, building, dummy_array, dummy_like
from s2sad.ir import COPY, GETITEM, TUPLE, Const, NameGen, SliceAtom, Var

B = 3  # seeds


class Case(NamedTuple):
    op: object
    name: str  # the linear operand
    operands: object  # rng -> dict of operands, in the op's order (arrays become symbols)
    call: object = None  # operands -> the op's value (default: op(*operands))


class R:
    """A random operand: ``build(rng)``."""

    def __init__(self, build):
        self.build = build


def U(*shape):
    return R(lambda rng: rng.uniform(-1.0, 1.0, size=shape))


def ops(**builders):
    return lambda rng: {k: (b.build(rng) if isinstance(b, R) else b) for k, b in builders.items()}


INDEX = np.array([0, 2, 2, 4])

CASES = [
    Case(np.sum, "x", ops(x=U(3, 4))),
    Case(np.sum, "x", ops(x=U(2, 3, 4), axis=1)),
    Case(np.mean, "x", ops(x=U(3, 4), axis=0)),
    Case(np.cumsum, "x", ops(x=U(5))),
    Case(np.trace, "x", ops(x=U(3, 4))),
    Case(np.transpose, "x", ops(x=U(2, 3, 4), axes=(1, 2, 0))),
    Case(np.reshape, "x", ops(x=U(3, 4), shape=(2, 6))),
    Case(np.ravel, "x", ops(x=U(3, 4))),
    Case(np.expand_dims, "x", ops(x=U(3, 4), axis=1)),
    Case(np.squeeze, "x", ops(x=U(3, 1), axis=1)),
    Case(np.broadcast_to, "x", ops(x=U(3, 1), shape=(2, 3, 4))),
    Case(np.copy, "x", ops(x=U(3, 4))),
    Case(COPY, "x", ops(x=U(3, 4)), lambda o: np.array(o["x"])),
    Case(np.ascontiguousarray, "x", ops(x=U(4, 3))),
    Case(np.concatenate, "arrays", ops(arrays=R(lambda rng: (U(3).build(rng), U(4).build(rng))))),
    Case(np.concatenate, "arrays", ops(arrays=R(lambda rng: (U(2, 3).build(rng), U(2, 1).build(rng))), axis=1)),
    Case(np.stack, "arrays", ops(arrays=R(lambda rng: (U(2, 3).build(rng), U(2, 3).build(rng))), axis=1)),
    Case(np.array, "object", ops(object=R(lambda rng: (U(3).build(rng), U(3).build(rng))))),
    Case(GETITEM, "x", ops(x=U(5, 3), index=(slice(1, 4), 2)), lambda o: o["x"][o["index"]]),
    Case(GETITEM, "x", ops(x=U(5, 2), index=(INDEX,)), lambda o: o["x"][o["index"]]),
    Case(rt.sum_to, "g", ops(g=U(3, 4), x=U(1, 4))),
    Case(rt.broadcast_like, "t", ops(t=U(1, 4), g=U(3, 4))),
    Case(rt.scatter, "ct", ops(ct=U(4), x=U(5), index=(INDEX,)), lambda o: rt.scatter(o["ct"], o["x"], *o["index"])),
    Case(rt.cumsum_rows, "t", ops(t=U(3, 4))),
    Case(rt.add_batch_axis, "t", ops(t=U(3))),
    Case(rt.astype, "x", ops(x=U(3, 4), dtype=np.float64)),
    Case(np.swapaxes, "x", ops(x=U(2, 3, 4), axis1=0, axis2=2)),
]


# --- a small interpreter of the statements rules emit ----------------------------------------


def _value(atom, env):
    if isinstance(atom, Var):
        return env[atom.name]
    if isinstance(atom, SliceAtom):
        return slice(*(None if a is None else _value(a, env) for a in (atom.lower, atom.upper, atom.step)))
    if isinstance(atom, Const):
        return atom.value
    raise TypeError(atom)


def run(stmts, env):
    for s in stmts:
        args = [_value(a, env) for a in s.args]
        kwargs = {k: _value(v, env) for k, v in s.kwargs.items()}
        if s.op is COPY:
            out = args[0]
        elif s.op is GETITEM:
            out = args[0][args[1] if len(args) == 2 else tuple(args[1:])]
        elif s.op is TUPLE:
            out = tuple(args)
        else:
            out = s.op(*args, **kwargs)
        env[s.target] = out


class Trace:
    """A builder with real values behind its symbols."""

    def __init__(self):
        self.b = Builder({}, NameGen())
        self.env = {}

    def sym(self, value, base):
        if isinstance(value, tuple):
            return tuple(self.sym(v, f"{base}{k}") for k, v in enumerate(value))
        if not isinstance(value, np.ndarray):
            return value  # a constant (an axis, a shape, a dtype, a slice)
        name = self.b.names.fresh(base)
        self.b.types[name] = dummy_like(value) if value.ndim else dummy_array(0, value.dtype)
        self.env[name] = value
        return Sym(name, self.b.types[name])

    def seeds(self, value, base, rng):
        """A batch of B random (co)tangents of ``value`` (a tuple: one batch per entry)."""
        if isinstance(value, tuple):
            return tuple(self.seeds(v, f"{base}{k}", rng) for k, v in enumerate(value))
        return rng.standard_normal((B,) + np.shape(value))

    def call(self, rule, kwargs):
        with building(self.b, "t"):
            self.b.stmts = []
            out = rule(**kwargs)
        run(self.b.stmts, self.env)
        return _real(out, self.env)


def _real(out, env):
    if isinstance(out, tuple):
        return tuple(_real(o, env) for o in out)
    return env[out.name] if isinstance(out, Sym) else out


def _flat(x):
    return np.concatenate([np.ravel(p) for p in x]) if isinstance(x, tuple) else np.ravel(x)


def _per_seed(x, b):
    return tuple(p[b] for p in x) if isinstance(x, tuple) else x[b]


def _moved(x, step, v):
    return tuple(p + step * q for p, q in zip(x, v)) if isinstance(x, tuple) else x + step * v


def _id(case):
    o = case.operands(np.random.default_rng(0))
    shapes = {k: (tuple(np.shape(p) for p in v) if isinstance(v, tuple) else np.shape(v)) for k, v in o.items()}
    return f"{getattr(case.op, '__name__', case.op)}-{shapes}"


@pytest.mark.parametrize("case", [pytest.param(c, id=_id(c)) for c in CASES])
def test_linear_rules(case):
    rng = np.random.default_rng(7)
    operands = case.operands(rng)
    value = case.call or (lambda o: case.op(*o.values()))
    y = np.asarray(value(operands), dtype=float)
    tr = Trace()
    syms = {k: tr.sym(v, k) for k, v in operands.items()}
    y_sym = tr.sym(y, "y")
    x = operands[case.name]
    v, w = tr.seeds(x, "v", rng), tr.seeds(y, "w", rng)
    v_sym, w_sym = tr.sym(v, "v"), tr.sym(w, "w")

    tangent, adjoint = rules.TANGENT_RULES[case.op], rules.ADJOINT_RULES[case.op][case.name]
    t_kwargs = {k: syms[k] for k in rules.params_of(tangent).primals if k in syms}
    t_kwargs[case.name + "_dot"] = v_sym
    if rules.params_of(tangent).wants_y:
        t_kwargs["y"] = y_sym
    a_kwargs = {k: syms[k] for k in rules.params_of(adjoint).primals if k in syms}
    if rules.params_of(adjoint).wants_y:
        a_kwargs["y"] = y_sym
    Tv = tr.call(tangent, t_kwargs)
    Aw = tr.call(adjoint, dict(a_kwargs, y_bar=w_sym))

    # the dot-product test, seed by seed: <T v_b, w_b> = <v_b, A w_b>
    for b in range(B):
        lhs = np.dot(_flat(_per_seed(Tv, b)), _flat(_per_seed(w, b)))
        rhs = np.dot(_flat(_per_seed(v, b)), _flat(_per_seed(Aw, b)))
        np.testing.assert_allclose(lhs, rhs, rtol=1e-12, atol=1e-12)

    # the tangent against central differences of the op
    h = 1e-6
    for b in range(B):
        vb = _per_seed(v, b)
        plus = value(dict(operands, **{case.name: _moved(x, h, vb)}))
        minus = value(dict(operands, **{case.name: _moved(x, -h, vb)}))
        fd = (np.asarray(plus, dtype=float) - np.asarray(minus, dtype=float)) / (2 * h)
        np.testing.assert_allclose(np.asarray(Tv[b]), fd, rtol=1e-7, atol=1e-8)


def test_every_linear_op_is_checked():
    with_rules = {op for op in rules.LINEAR if op in rules.TANGENT_RULES or op in rules.ADJOINT_RULES}
    checked = {c.op for c in CASES}
    assert with_rules <= checked, f"@linear ops with no case here: {sorted(map(repr, with_rules - checked))}"
    # and each has both rules: one stated, the other stated or derived
    for op in with_rules:
        assert op in rules.TANGENT_RULES and op in rules.ADJOINT_RULES, op


def test_derived_tangents():
    """The ops whose tangent rule @linear derives (the op applied to the tangent)."""
    derived = {op for op, rule in rules.TANGENT_RULES.items() if getattr(rule, "s2sad_derived", False)}
    assert derived == {np.copy, rt.sum_to, rt.broadcast_like, rt.scatter, rt.cumsum_rows, rt.astype}
    assert derived <= rules.LINEAR


def test_user_linear_ops_have_spec_rows():
    """User-callable @linear ops are differentiated end to end (jacfwd, jacrev, grad against
    finite differences) by their rows in tests/test_rules.py."""
    from test_rules import PSEUDO_OPS, RUNTIME_HELPERS, SPECS

    covered = {op for spec in SPECS for op in spec.ops}
    user = {op for op in rules.LINEAR if op in rules.ADJOINT_RULES and op not in RUNTIME_HELPERS | PSEUDO_OPS}
    assert user - {rt.astype} <= covered, sorted(map(repr, user - covered))
