"""The derivative rule tables and the decorators that fill them.

One table per mode, keyed by the real callable (``numpy.sin``, ``math.exp``, a runtime
helper); the passes look ops up here and never name a NumPy function themselves.

Convention: rules are ordinary Python functions called with symbolic operands
(``trace.Sym``; constants arrive as plain Python values). Parameters are bound to the op's
operands by position, then keywords, in order. Tangents and cotangents carry ONE leading
seed-batch axis: ``x_dot.shape == (B,) + x.shape``, ``y_bar.shape == (B,) + y.shape``.
A zero tangent is passed as ``None``.

* ``@elementwise(op)``: ``partials(*operands, y) -> ∂y/∂operand`` (a value, or a tuple with
  one entry per operand; an entry may be a zero-argument callable, evaluated only for
  operands that carry a derivative, or None for a non-differentiable operand). Both modes
  are derived from it; broadcasting and accumulation are the pass's business.
* ``@tangent_rule(op)``: ``f(*operands, *operand_dots, y) -> y_dot``; the parameters named
  ``<p>_dot`` receive the tangents of operand ``p``.
* ``@adjoint_rule(op, "p")``: ``f(y_bar, *operands, y) -> contribution to p_bar`` with shape
  ``(B,) + p.shape``.
* ``@linear(op, "p")``: for an op linear in operand ``p`` (its other operands constant:
  shapes, axes, indices), its transpose ``f(y_bar, *operands) -> p_bar``, registered as
  ``@adjoint_rule(op, "p")``; the tangent rule is derived, ``op`` applied to the tangent
  (``op(..., p_dot, ...)``, the other operands as they are), unless a ``@tangent_rule(op)``
  states it. The op is recorded in ``LINEAR``.
* ``NONDIFFERENTIABLE``: ops whose result carries no derivative (shapes, argmax, comparisons).
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass

from ..errors import UnsupportedError, where

TANGENT_RULES: dict = {}
ADJOINT_RULES: dict = {}  # op -> {param name: rule}
ELEMENTWISE: dict = {}  # op -> partials function
NONDIFFERENTIABLE: set = set()
UNIT_SAFE: set = set()  # ops whose rules take a scalar's derivative as it is (no seed axis)
LINEAR: set = set()  # ops linear in their differentiable operands: filled by @linear (support.py, tests)
# elementwise ops whose partial derivative may be inf or nan (sqrt at 0, log below 0 ...):
# reverse mode scales their cotangent with rt.scale_nz, so a zero cotangent (an unselected
# np.where branch) contributes 0, not 0 * nan
SINGULAR: set = set()
# op -> definition: a function of the op's operands, run at trace time on symbolic operands,
# whose emitted ops replace the call (expand.py), so every mode and order follows from the
# ops it is written in (``np.var`` as a mean of squares, ``keepdims=True`` as a reshape).
# A definition returns NotImplemented to leave a call as it is (a form with a rule of its own).
COMPOSITES: dict = {}
# ops the passes write and users do not call (sizes.py's cross_sized): not in the support table
INTERNAL: set = set()
# ops whose operands are packed before binding to a rule: (x, index...) -> (x, index), the
# index from this position on (filled in numpy_rules.py)
PACKED: dict = {}
CONSTANT_FROM: dict = {}  # op -> position from which operands are read for shape/index only


@dataclass
class Params:
    """The parameter names of a rule, split by role."""

    primals: list
    dots: list
    wants_y: bool
    defaults: dict


def params_of(rule) -> Params:
    sig = inspect.signature(rule)
    primals, dots, defaults = [], [], {}
    wants_y = False
    for name, p in sig.parameters.items():
        if name == "y":
            wants_y = True
        elif name in ("y_bar",):
            continue
        elif name.endswith("_dot"):
            dots.append(name[:-4])
        else:
            primals.append(name)
            if p.default is not inspect.Parameter.empty:
                defaults[name] = p.default
    return Params(primals, dots, wants_y, defaults)


def located(rule):
    """``rule`` whose UnsupportedError (raised by a rule that knows only ranks, not where it
    is) names the user's file:line of the statement being differentiated."""
    if getattr(rule, "s2sad_located", False):
        return rule

    @functools.wraps(rule)
    def run(*args, **kwargs):
        try:
            return rule(*args, **kwargs)
        except UnsupportedError as exc:
            if getattr(exc, "s2sad_located", False):
                raise
            from ..ad.trace import innermost

            b = innermost()
            error = type(exc)(f"{where(getattr(b, 'filename', None), getattr(b, 'line', None))}: {exc}")
            error.s2sad_located = True
            raise error from None

    run.s2sad_located = True
    return run


def elementwise(*ops):
    def register(partials):
        for op in ops:
            ELEMENTWISE[op] = located(partials)
        return partials

    return register


def tangent_rule(*ops):
    def register(rule):
        for op in ops:
            TANGENT_RULES[op] = located(rule)
        return rule

    return register


def adjoint_rule(op, *names):
    def register(rule):
        for operand in names:
            ADJOINT_RULES.setdefault(op, {})[operand] = located(rule)
        return rule

    return register


def linear(op, name):
    """``@linear(op, "x")``: ``op`` is linear in its operand ``x`` (every other operand is a
    constant: a shape, an axis, an index, a dtype, or a non-float operand that carries no
    derivative); the decorated function is its transpose, an adjoint rule with
    ``@adjoint_rule``'s signature. One rule states both modes, as JAX's ``deflinear`` does:
    the tangent rule is derived, ``op`` applied to the tangent with the other operands as
    they are (``op(x_dot, ...)``: what ``op`` computes is linear, so so is its tangent).

    The derived tangent is right only for an op that acts on trailing axes and keeps leading
    ones (rt.sum_to, rt.broadcast_like, rt.cumsum_rows, rt.scatter, np.copy, rt.astype): on
    a tangent with its seed axis in front it computes seed by seed. An op whose batched form
    moves a constant (an axis that becomes ``axis + 1``: np.sum, np.swapaxes, np.transpose),
    changes a shape (np.reshape) or is another op (np.mean as sums and a division) states its
    tangent with ``@tangent_rule(op)`` as well, and that rule is kept, whichever decorator
    runs first. (The other way round, deriving the transpose from a stated batched map by
    transposing the ops it emits, as JAX's ``linear_transpose`` does, needs shapes this
    compiler knows only at run time: an adjoint reads the shape of its operand
    (``rt.broadcast_like(y_bar, x)``, ``np.reshape(y_bar, x.shape)``), and the batched
    operand of the map, ``(B,) + x.shape``, exists nowhere in reverse-mode code.)

    tests/test_linear.py checks every op recorded here: the dot-product test between its
    tangent and adjoint rules, and finite differences of the op."""

    def register(rule):
        adjoint_rule(op, name)(rule)
        LINEAR.add(op)
        if op not in TANGENT_RULES or getattr(TANGENT_RULES[op], "s2sad_derived", False):
            TANGENT_RULES[op] = located(_applied_to_tangent(op, name, rule))
        return rule

    return register


def linear_ops(*ops):
    """Record in ``LINEAR`` composites that are linear in their differentiable operands
    (written in linear ops: they have no rule of their own for @linear to decorate)."""
    LINEAR.update(op for op in ops if op is not None)


def _applied_to_tangent(op, name, adjoint):
    """The tangent rule of ``op``, linear in operand ``name``: ``op`` called on the operands
    the statement gave, ``name``'s tangent in its place (a packed index unpacked again)."""
    params = inspect.signature(adjoint).parameters
    primals = [p for p in params if p not in ("y_bar", "y")]

    def tangent(**bound):
        from ..ad.trace import emit

        args, kwargs, gap = [], {}, False
        for p in primals:  # by position up to the first operand not given, then by keyword
            if p not in bound:
                gap = True
                continue
            value = bound[p + "_dot"] if p == name else bound[p]
            if gap:
                kwargs[p] = value
            else:
                args.append(value)
        if op in PACKED and len(args) == PACKED[op] + 1:  # (the index, packed into one operand)
            args = args[:-1] + list(args[-1])
        return emit(op, *args, **kwargs)

    signature = [inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY, default=params[p].default) for p in primals] + [
        inspect.Parameter(name + "_dot", inspect.Parameter.KEYWORD_ONLY, default=None)
    ]
    tangent.__signature__ = inspect.Signature(signature)
    tangent.__name__ = tangent.__qualname__ = f"{getattr(op, '__name__', 'op')}_tangent"
    tangent.s2sad_derived = True
    return tangent


def composite(*ops):
    """``@composite(np.var)``: ``definition(*operands, **keywords)`` replaces ``op``'s calls by
    the ops it emits (or returns NotImplemented to keep the call). Operands arrive as in rules:
    ``trace.Sym`` for variables, plain Python values for constants."""

    def register(definition):
        for op in ops:
            COMPOSITES[op] = located(definition)
        return definition

    return register


def constant_operands(op, position):
    """Operands of ``op`` from ``position`` on are never differentiated (shapes, indices)."""
    CONSTANT_FROM[op] = position


def differentiable_args(op, args):
    return args[: CONSTANT_FROM.get(op, len(args))]


def is_singular(op, args) -> bool:
    """Does reverse mode scale this statement's cotangent with rt.scale_nz (``SINGULAR``)?
    Not where a constant operand keeps the partials finite: ``x ** 2.0``, ``x / 3.0``."""
    if op not in SINGULAR:
        return False
    import math

    import numpy as np

    from ..ir import Const

    last = args[1] if len(args) == 2 else None
    constant = isinstance(last, Const) and isinstance(last.value, (int, float)) and not isinstance(last.value, bool)
    if op in (np.power, math.pow) and constant and last.value >= 1:
        return False  # b * a ** (b - 1) is finite (the exponent's partial is not taken)
    if op is np.true_divide and constant and last.value != 0:
        return False
    return True


def nondifferentiable(*ops):
    NONDIFFERENTIABLE.update(ops)


def differentiable_ops() -> set:
    return set(ELEMENTWISE) | set(TANGENT_RULES) | set(ADJOINT_RULES) | set(COMPOSITES)
