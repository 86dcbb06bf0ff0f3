"""Pass 4: types and activity.

``infer_types`` gives every variable its dummy (trace.py) by abstract evaluation from the
arguments of one call: the specialization key is the arguments' ranks and dtypes.
``varied_names`` is forward activity: the float variables that depend on a differentiated
input through differentiable ops. Only those get tangents or adjoints.
"""

from __future__ import annotations

from . import rules
from .ir import Assign, For, SetItem, While, atom_vars, walk
from .trace import is_float


def varied_names(fn, inputs: set) -> set:
    """Names whose value depends on ``inputs`` through differentiable operations (a fixpoint,
    so values carried around loops are found)."""
    varied = set(inputs)
    changed = True
    while changed:
        changed = False
        for stmt in walk(fn.body):
            if isinstance(stmt, Assign):
                if stmt.target in varied or stmt.op in rules.NONDIFFERENTIABLE:
                    continue
                if not is_float(fn.types.get(stmt.target)):
                    continue
                used = [n for a in list(stmt.args) + list(stmt.kwargs.values()) for n in atom_vars(a)]
                if any(n in varied for n in used):
                    varied.add(stmt.target)
                    changed = True
            elif isinstance(stmt, SetItem):
                if stmt.array not in varied and any(n in varied for n in atom_vars(stmt.value)):
                    varied.add(stmt.array)
                    changed = True
    return varied


def loop_bodies(fn):
    return [s for s in walk(fn.body) if isinstance(s, (For, While))]


def infer_types(fn, arg_dummies: dict):
    """A copy of ``fn`` whose ``types`` give every variable's dummy for these arguments."""
    from .forward import Forward
    from .ir import NameGen, all_names
    from .trace import Builder

    builder = Builder(dict(arg_dummies), NameGen(all_names(fn)))
    Forward(fn, builder, varied=set()).block(fn.body)
    return fn.replace(types=builder.types)
