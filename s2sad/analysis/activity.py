"""Activity (the types come first: infer.py).

``varied_names`` is forward activity: the float variables that depend on a differentiated
input through differentiable ops. Only those get tangents or adjoints.
"""

from __future__ import annotations

from .. import rules
from ..ad.trace import is_float
from ..errors import MissingRuleError, where
from ..ir import APPEND, POP, TAPE_OPS, Assign, PseudoOp, SetItem, atom_vars, walk


def varied_names(fn, inputs: set) -> set:
    """Names whose value depends on ``inputs`` through differentiable operations (a fixpoint,
    so values carried around loops are found)."""
    varied = set(inputs)
    known = rules.differentiable_ops()
    changed = True
    while changed:
        changed = False
        for stmt in walk(fn.body):
            if isinstance(stmt, Assign) and stmt.op in TAPE_OPS:
                # a tape (in derivative code): a stack is varied once it holds a varied value
                if stmt.op is APPEND and stmt.args[1].name in varied and stmt.args[0].name not in varied:
                    varied.add(stmt.args[0].name)
                    changed = True
                elif stmt.op is POP and stmt.args[0].name in varied and stmt.target not in varied:
                    if is_float(fn.types.get(stmt.target)):
                        varied.add(stmt.target)
                        changed = True
                continue
            if isinstance(stmt, Assign):
                if stmt.target in varied or stmt.op in rules.NONDIFFERENTIABLE:
                    continue
                args = rules.differentiable_args(stmt.op, list(stmt.args))
                used = [n for a in args + list(stmt.kwargs.values()) for n in atom_vars(a)]
                if not any(n in varied for n in used):
                    continue
                if stmt.op not in known and not isinstance(stmt.op, PseudoOp):
                    raise _missing_rule(fn, stmt)
            if isinstance(stmt, Assign):
                if is_float(fn.types.get(stmt.target)):
                    varied.add(stmt.target)
                    changed = True
            elif isinstance(stmt, SetItem):
                if stmt.array not in varied and any(n in varied for n in atom_vars(stmt.value)):
                    varied.add(stmt.array)
                    changed = True
    return varied


def useful_names(fn, outputs: set) -> set:
    """Backward activity: names from which some of ``outputs`` is reached through
    differentiable operations. A varied name that is not useful (``c = abs(a)`` read only by
    a comparison) has an adjoint that is always zero, so reverse mode gives it none."""
    deps: dict = {}
    for stmt in walk(fn.body):
        if isinstance(stmt, SetItem):
            deps.setdefault(stmt.array, set()).update(atom_vars(stmt.value))
            continue
        if not isinstance(stmt, Assign) or stmt.op in rules.NONDIFFERENTIABLE:
            continue
        if stmt.op is APPEND:
            deps.setdefault(stmt.args[0].name, set()).update(atom_vars(stmt.args[1]))
            continue
        if stmt.op in TAPE_OPS and stmt.op is not POP:
            continue
        args = rules.differentiable_args(stmt.op, list(stmt.args))
        deps.setdefault(stmt.target, set()).update(n for a in args + list(stmt.kwargs.values()) for n in atom_vars(a))
    useful, todo = set(), list(outputs)
    while todo:
        name = todo.pop()
        if name in useful:
            continue
        useful.add(name)
        todo.extend(deps.get(name, ()))
    return useful


def _missing_rule(fn, stmt):
    from ..backends.codegen import display_name

    return MissingRuleError(
        f"{where(fn.filename, stmt.line)}: {display_name(stmt.op)} has no derivative rule: register "
        "one with @elementwise, or @tangent_rule and @adjoint_rule, from s2sad.rules "
        "(see s2sad/rules/numpy_rules.py), or keep its argument constant"
    )
