"""Size facts: code specialized on the argument shapes where a size decides a RANK.

Types are ranks and dtypes (trace.py), which decide every result's rank but two:
``np.squeeze(x)`` without axis drops the axes of ``x`` that have size 1, and ``np.cross`` of
2-vectors gives a number per pair where 3-vectors give a vector. A function that calls
either is built per shape of its arguments (``needs_sizes``; api.py keys its code on them,
as JAX keys every function), and before its types are inferred, ``specialize`` rewrites
those calls for the sizes their operands are known to have:

- ``np.squeeze(x)`` -> ``np.squeeze(x, axis=<the axes known to be 1>)``
- ``np.cross(a, b)`` of vectors known to have 2 or 3 components -> ``cross_sized``.

A size is known when typing the code twice, with the arguments at their own shapes and
every other axis (of ``np.zeros(n)``, of a reshape, of a slice with a variable bound) first
``DUMMY_DIM`` and then ``DUMMY_DIM + 1`` long, gives that size both times, at every
assignment of the variable. The rewritten call keeps a guard that checks, when the code
runs, the very sizes it was built for (``rt.require_unit_axes``, ``rt.require_size``) and
raises the refusal naming the user's line otherwise: a fact that does not hold (a loop that
shortens an array, a slice past the end) is a refusal, never a number.
"""

from __future__ import annotations

import numpy as np

from .. import runtime as rt
from ..ad.trace import DUMMY_DIM, dummy_array, exact_sizes
from ..ir import COPY, Assign, Const, NameGen, Var, all_names, map_statements, walk


def _is_squeeze_without_axis(stmt):
    if stmt.op is not np.squeeze or len(stmt.args) != 1:
        return False
    axis = stmt.kwargs.get("axis")
    return axis is None or isinstance(axis, Const) and axis.value is None


def _deciding(stmt):
    return isinstance(stmt, Assign) and (stmt.op is np.cross or _is_squeeze_without_axis(stmt))


def needs_sizes(ir) -> bool:
    """Does this function's code depend on the sizes of its arguments (not only ranks)?"""
    return any(_deciding(s) for s in walk(ir.body))


def shapes_of(args):
    """The shapes the code of a size-dependent function is keyed on (None: not an array)."""
    return tuple(a.shape if isinstance(a, np.ndarray) else shapes_of(a) if isinstance(a, tuple) else None for a in args)


class _History(dict):
    """Types that remember every shape each name was given."""

    def __init__(self, items):
        super().__init__()
        self.shapes = {}
        for name, dummy in items.items():
            self[name] = dummy

    def __setitem__(self, name, dummy):
        if isinstance(dummy, np.ndarray):
            self.shapes.setdefault(name, set()).add(dummy.shape)
        else:
            self.shapes.setdefault(name, set()).add(None)
        super().__setitem__(name, dummy)


def _sized_dummy(dummy, shape, unknown):
    """An argument's dummy at its own shape; an int argument as long as an unknown axis (a
    size made from it, ``np.zeros(n)``, ``x[:n]``, is then unknown)."""
    if isinstance(dummy, int) and not isinstance(dummy, bool):
        return unknown
    if isinstance(dummy, np.ndarray) and shape is not None and len(shape) == dummy.ndim:
        return dummy_array(dummy.ndim, dummy.dtype, shape)
    if isinstance(dummy, tuple) and isinstance(shape, tuple) and len(shape) == len(dummy):
        return tuple(_sized_dummy(d, s, unknown) for d, s in zip(dummy, shape))
    return dummy


def _typing(ir, arg_types, shapes, unknown):
    """Every shape each name is given when the code is typed with these sizes."""
    from .infer import infer_types

    with exact_sizes(unknown):
        dummies = {p: _sized_dummy(d, shapes.get(p), unknown) for p, d in arg_types.items()}
        return infer_types(ir, dummies, types=_History).types.shapes


def facts(ir, arg_types, shapes) -> dict:
    """name -> one entry per axis: its size where known, else None (names whose rank or
    sizes the two typings do not agree on are left out). ``shapes``: parameter -> shape."""
    try:
        first = _typing(ir, arg_types, shapes, DUMMY_DIM)
        second = _typing(ir, arg_types, shapes, DUMMY_DIM + 1)
    except Exception:  # noqa: BLE001 - no facts: the calls keep their run-time checks
        return {}
    known = {}
    for name, seen in first.items():
        both = seen | second.get(name, {None})
        if None in both or len({len(s) for s in both}) != 1:
            continue
        known[name] = tuple(sizes.pop() if len(sizes) == 1 else None for sizes in map(set, zip(*both)))
    return known


def specialize(ir, arg_types, shapes):
    """``ir`` with its size-deciding calls rewritten for the sizes known (module docstring):
    crosses first, since the rank of a cross of 2-vectors decides the sizes after it."""
    if any(isinstance(s, Assign) and s.op is np.cross for s in walk(ir.body)):
        ir = _rewrite(ir, facts(ir, arg_types, shapes), np.cross)
    if any(isinstance(s, Assign) and _is_squeeze_without_axis(s) for s in walk(ir.body)):
        ir = _rewrite(ir, facts(ir, arg_types, shapes), np.squeeze)
    return ir


def _rewrite(ir, known, op):
    from ..errors import where

    names = NameGen(all_names(ir))

    def one(stmt):
        if not _deciding(stmt) or stmt.op is not op or not isinstance(stmt.args[0], Var):
            return [stmt]
        here = where(ir.filename, stmt.line)
        if stmt.op is np.squeeze:
            sizes = known.get(stmt.args[0].name)
            if sizes is None:
                return [stmt]
            axes = tuple(k for k, n in enumerate(sizes) if n == 1)
            guard = Assign(
                names.fresh("guard"),
                rt.require_unit_axes,
                [
                    stmt.args[0],
                    Const(axes),
                    Const(
                        f"{here}: np.squeeze without axis of an operand whose size-1 axes are not those the code was "
                        f"built for from the arguments' shapes ({axes or 'none'}): pass axis="
                    ),
                ],
                line=stmt.line,
            )
            squeeze = (
                Assign(stmt.target, np.squeeze, [stmt.args[0]], {"axis": Const(axes)}, line=stmt.line)
                if axes
                else Assign(stmt.target, COPY, [stmt.args[0]], line=stmt.line)
            )
            return [guard, squeeze]
        return _cross(stmt, known)

    return ir.replace(body=map_statements(ir.body, one))


def _cross(stmt, known):
    from ..rules.shape_rules import cross_sized

    if (
        len(stmt.args) != 2
        or not all(isinstance(a, Var) for a in stmt.args)
        or not all(isinstance(v, Const) for v in stmt.kwargs.values())
    ):
        return [stmt]
    kw = {k: v.value for k, v in stmt.kwargs.items()}
    axis = kw.get("axis")
    axisa, axisb = (axis, axis) if axis is not None else (kw.get("axisa", -1), kw.get("axisb", -1))
    lengths = []
    for operand, ax in zip(stmt.args, (axisa, axisb)):
        sizes = known.get(operand.name)
        if sizes is None or not isinstance(ax, int) or not -len(sizes) <= ax < len(sizes):
            return [stmt]
        lengths.append(sizes[ax])
    if not all(n in (2, 3) for n in lengths) or lengths == [3, 3]:
        return [stmt]  # np.cross's own definition, which checks for 3
    kwargs = dict(stmt.kwargs, na=Const(lengths[0]), nb=Const(lengths[1]))
    return [Assign(stmt.target, cross_sized, list(stmt.args), kwargs, line=stmt.line)]
