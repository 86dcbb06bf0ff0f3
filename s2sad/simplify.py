"""Pass 7: simplify the derivative code.

After this pass:

* no statement computes a value that nothing reads (dead-code elimination; the tape's
  pushes and pops and in-place writes always stay), e.g. the primal output of ``hvp``;
* within a straight-line block, an operation computed twice on the same operands is computed
  once (common subexpressions: ``np.cos(x)`` of a tangent rule and of an adjoint rule).
"""

from __future__ import annotations

from . import runtime as rt
from .ir import APPEND, COPY, NEW_STACK, POP, TUPLE, Assign, For, If, Return, SetItem, Var, While, reads, walk

SIDE_EFFECTS = (APPEND, POP, NEW_STACK)


def simplify(fn):
    body = fn.body
    written = {s.array for s in walk(body) if isinstance(s, SetItem)}
    written |= {s.args[0].name for s in walk(body) if isinstance(s, Assign) and s.op is rt.scatter_add}
    body = _cse(body, written)
    while True:
        live = _read_names(body)
        new = _drop_dead_backward(_drop_dead(body, live), written)
        if _count(new) == _count(body):
            break
        body = new
    return fn.replace(body=body)


def _drop_dead_backward(stmts, written):
    """Flow-sensitive dead code in the top-level block: walking back from the return, an
    assignment whose value is overwritten before any read is dropped (`x_bar = x_bar + c`
    chains whose last value nothing reads, e.g. the gradient inside hvp). Loops and branches
    are kept whole and everything they read is live; arrays written in place stay."""
    live = set()
    out = []
    for stmt in reversed(stmts):
        if isinstance(stmt, Assign):
            if stmt.target not in live and stmt.op not in SIDE_EFFECTS and stmt.op is not rt.scatter_add \
                    and stmt.target not in written:
                continue
            live.discard(stmt.target)
            live.update(reads(stmt))
        else:
            live.update(_read_names([stmt]))
        out.append(stmt)
    return out[::-1]


def _read_names(stmts) -> set:
    names = set()
    for stmt in walk(stmts):
        names.update(reads(stmt))
        if isinstance(stmt, SetItem):
            names.add(stmt.array)
    return names


def _drop_dead(stmts, live):
    out = []
    for stmt in stmts:
        if isinstance(stmt, Assign):
            if stmt.target in live or stmt.op in SIDE_EFFECTS:
                out.append(stmt)
        elif isinstance(stmt, If):
            out.append(If(stmt.test, _drop_dead(stmt.body, live), _drop_dead(stmt.orelse, live), stmt.line))
        elif isinstance(stmt, For):
            out.append(For(stmt.target, stmt.iter, _drop_dead(stmt.body, live), stmt.line))
        elif isinstance(stmt, While):
            out.append(While(_drop_dead(stmt.test_body, live), stmt.test, _drop_dead(stmt.body, live), stmt.line))
        else:
            out.append(stmt)
    return out


def _count(stmts):
    return sum(1 for _ in walk(stmts))


def _key(stmt):
    try:
        key = (stmt.op, tuple(stmt.args), tuple(sorted(stmt.kwargs.items())))
        hash(key)
        return key
    except TypeError:
        return None


def _cse(stmts, written):
    """Common subexpressions of one straight-line block (nested blocks start afresh)."""
    out = []
    seen = {}  # key -> name holding that value
    for stmt in stmts:
        if isinstance(stmt, Assign):
            key = None
            if stmt.op not in SIDE_EFFECTS and stmt.op not in (COPY, TUPLE, rt.scatter_add) and stmt.target not in written:
                key = _key(stmt)
            if key is not None and key in seen:
                stmt = Assign(stmt.target, COPY, [Var(seen[key])], {}, stmt.line)
            # a reassigned name invalidates what was computed from it, or stored in it
            seen = {k: v for k, v in seen.items() if v != stmt.target and Var(stmt.target) not in k[1]
                    and Var(stmt.target) not in dict(k[2]).values()}
            if key is not None and stmt.op is not COPY and not any(
                a == Var(stmt.target) for a in stmt.args
            ) and stmt.target not in written:
                seen.setdefault(key, stmt.target)
            out.append(stmt)
        elif isinstance(stmt, If):
            out.append(If(stmt.test, _cse(stmt.body, written), _cse(stmt.orelse, written), stmt.line))
            seen = {}
        elif isinstance(stmt, For):
            out.append(For(stmt.target, stmt.iter, _cse(stmt.body, written), stmt.line))
            seen = {}
        elif isinstance(stmt, While):
            out.append(While(_cse(stmt.test_body, written), stmt.test, _cse(stmt.body, written), stmt.line))
            seen = {}
        elif isinstance(stmt, SetItem):
            out.append(stmt)
            seen = {k: v for k, v in seen.items() if v != stmt.array and Var(stmt.array) not in k[1]}
        else:
            out.append(stmt)
    return out


__all__ = ["simplify", "Return"]
