"""Pass 4b: expand the calls of ops defined by composition (``rules.COMPOSITES``).

A composite is a NumPy function written, once, in terms of ops that have derivative rules
(``np.var`` as the mean of squared deviations, ``keepdims=True`` as an index that restores
the reduced axes). Its definition runs at trace time on symbolic operands, where ranks,
dtypes and constant keywords are known, and the ops it emits replace the call in the typed
IR, before anything is differentiated: forward mode, reverse mode, second order and every
backend then follow from the rules of those ops, with nothing written per mode.

A definition may return NotImplemented to keep a call as it is (``np.sum`` without
``keepdims`` has a rule of its own). A definition may emit other composites; they are
expanded in turn.
"""

from __future__ import annotations

from ..errors import S2SADError, UnsupportedError, where
from ..ir import TUPLE, Assign, Const, NameGen, SliceAtom, Var, all_names, map_statements, walk
from ..rules import COMPOSITES
from .trace import Builder, building, copy_to

DEPTH = 8  # composites of composites, at most this deep


def _composite_of(stmt):
    if not isinstance(stmt, Assign):
        return None
    try:
        return COMPOSITES.get(stmt.op)
    except TypeError:  # an unhashable op
        return None


def _operand(builder, atom):
    if isinstance(atom, Var):
        return builder.sym(atom.name)
    if isinstance(atom, SliceAtom):
        return slice(*(None if a is None else _operand(builder, a) for a in (atom.lower, atom.upper, atom.step)))
    if isinstance(atom, Const):
        return atom.value
    return atom


def expand_once(fn):
    """``fn`` with each composite call replaced by its definition's ops (one level), and
    whether anything changed."""
    builder = Builder(dict(fn.types), NameGen(all_names(fn)))
    builder.declared, builder.filename = fn.types, fn.filename
    changed = False

    def one(stmt):
        nonlocal changed
        definition = _composite_of(stmt)
        if definition is None:
            return [stmt]
        builder.stmts, builder.mark, builder.line = [], 0, stmt.line
        with building(builder, stmt.target):
            args = [_operand(builder, a) for a in stmt.args]
            kwargs = {k: _operand(builder, v) for k, v in stmt.kwargs.items()}
            try:
                result = definition(*args, **kwargs)
            except S2SADError:
                raise
            except TypeError as exc:  # an argument the definition does not take
                from ..backends.codegen import display_name

                raise UnsupportedError(
                    f"{where(fn.filename, stmt.line)}: {display_name(stmt.op)} with these arguments is not "
                    f"supported ({exc})"
                ) from None
            if result is NotImplemented:
                return [stmt]
            if isinstance(result, (tuple, list)):  # several results (np.linalg.eigh): one tuple
                builder.emit(TUPLE, list(result), target=stmt.target)
            else:
                copy_to(stmt.target, result)
        changed = True
        return builder.stmts

    body = map_statements(fn.body, one)
    return (fn.replace(body=body, types=builder.types) if changed else fn), changed


def expand_composites(fn, retype):
    """Expand composites until none is left; ``retype(fn)`` infers the expanded code's types
    again (its new names, and the checks type inference makes on user code)."""
    if not any(_composite_of(s) for s in walk(fn.body)):
        return fn
    for _ in range(DEPTH):
        fn, changed = expand_once(fn)
        if not changed:
            break
        fn = retype(fn)
    else:
        raise S2SADError(f"internal: composites nested more than {DEPTH} deep")
    return fn
