"""Pass 5f: tangent (forward-mode) code, batched over seeds.

Each statement of the primal is emitted unchanged and followed by its tangent statements,
produced by the rule of its op (rules/); ``x_dot`` has shape ``(B,) + x.shape`` where B is
the number of seeds. A value that does not depend on a differentiated input (``activity``)
gets no tangent: zeros are symbolic and cost nothing. Control flow is kept as it is: the
tangents ride along in the same branches and loops.

Invariant: a tangent is defined on every path that reaches a use. ``dots`` maps each varied
name to the Sym that holds its tangent *at the current point*; where control flow joins, the
paths are made to agree by explicit copies into one name, as the primal's own variables
agree because each path writes the same name:

* after an ``if``: a name whose tangent lives in different Syms in the two arms (or in one
  arm only, the other keeping the tangent from before the ``if``) gets a fresh name, and each
  arm ends by copying its tangent into it;
* at a loop head: a name the loop assigns is given a fresh loop-carried name before the loop
  (copied from its tangent before the loop) and at the end of every trip (copied from the
  trip's tangent), so the next trip and the code after the loop read the latest one;
* a varied parameter that is not differentiated has a zero tangent, made explicit
  (``zeros_for``) where a join needs one;
* where the primal itself is set on some paths only (a name first assigned inside a loop or
  in one arm), the join's tangent name gets a typed placeholder at the top of the function
  (``predefine``), so the copies above never read an unbound name; its value is read only
  where the primal's is.

``tests/test_forward_merges.py`` checks the invariant on the generated code: every tangent
a statement reads is assigned on every path to it.
"""

from __future__ import annotations

import numpy as np

from .. import rules
from ..analysis.activity import varied_names
from ..errors import MissingRuleError, UnsupportedError, where
from ..ir import (
    APPEND,
    COPY,
    GETITEM,
    NEW_STACK,
    PLACEHOLDER,
    POP,
    TAPE_OPS,
    TUPLE,
    Assign,
    Const,
    For,
    If,
    Return,
    SetItem,
    SliceAtom,
    Var,
    While,
    reads,
    walk,
)
from ..ir.flow import Flow
from ..runtime import add_batch_axis, zeros_batch
from .trace import Builder, Sym, building, copy_to, dummy_array, is_float

PACKED = rules.PACKED


class Derivative:
    """State shared by the forward and reverse passes: builder, derivative names, operands."""

    suffix = "_dot"

    def __init__(self, fn, builder: Builder):
        self.fn = fn
        self.b = builder
        self.tuples = {}  # name of a TUPLE-built value -> its element atoms
        self.written = {s.array for s in walk(fn.body) if isinstance(s, SetItem)}  # arrays written in place
        self.deriv_names = {}
        # one seed (jvp, vjp, grad, hvp): derivatives of scalars are scalars, not arrays of
        # one element; they get the seed axis (``lift``) only where they meet array rules
        self.unit = False

    def lift(self, d, op=None):
        """A derivative as rules see it: with its seed axis (a scalar's, in unit mode)."""
        if isinstance(d, tuple):
            return tuple(self.lift(x) for x in d)
        if self.unit and isinstance(d, Sym) and d.ndim == 0 and op not in rules.UNIT_SAFE:
            return add_batch_axis(d)
        return d

    def lower(self, d, primal):
        """The derivative of ``primal`` from a rule's result: a scalar's seed axis dropped in
        unit mode."""
        if self.unit and isinstance(d, Sym) and d.ndim == 1 and not np.ndim(getattr(primal, "dummy", primal)):
            return d[0]
        return d

    def deriv_name(self, name):
        if name not in self.deriv_names:
            self.deriv_names[name] = self.b.names.fresh(name + self.suffix)
        return self.deriv_names[name]

    def value(self, atom):
        """The Python value a rule receives for an atom: a Sym, a constant, a slice, a tuple."""
        if isinstance(atom, Var):
            if atom.name in self.tuples:
                return tuple(self.value(a) for a in self.tuples[atom.name])
            return self.b.sym(atom.name)
        if isinstance(atom, SliceAtom):
            return slice(*(None if a is None else self.value(a) for a in (atom.lower, atom.upper, atom.step)))
        return atom.value

    def where(self, stmt):
        return where(self.fn.filename, getattr(stmt, "line", None))

    def op_name(self, op):
        from ..backends.codegen import display_name

        return display_name(op)

    def missing(self, stmt, mode):
        name = self.op_name(stmt.op)
        decorator = "elementwise / tangent_rule" if mode == "tangent" else "elementwise / adjoint_rule"
        return MissingRuleError(
            f"{self.where(stmt)}: {name} has no {mode} rule: register one with "
            f"@{decorator.split(' / ')[0]} or @{decorator.split(' / ')[1]} from s2sad.rules "
            f"(see s2sad/rules/numpy_rules.py)"
        )

    def bind(self, rule, stmt, extra):
        """Keyword arguments for ``rule`` from the statement's operands, plus ``extra``."""
        params = rules.params_of(rule)
        args = [self.value(a) for a in stmt.args]
        if stmt.op in PACKED:
            k = PACKED[stmt.op]
            args = args[:k] + [tuple(args[k:])]
        kwargs = {k: self.value(v) for k, v in stmt.kwargs.items()}
        if len(args) > len(params.primals):
            raise UnsupportedError(
                f"{self.where(stmt)}: {self.op_name(stmt.op)} called with {len(args)} positional "
                f"arguments; its rule takes {', '.join(params.primals)}"
            )
        bound = dict(zip(params.primals, args))
        for k, v in kwargs.items():
            if k not in params.primals:
                raise UnsupportedError(
                    f"{self.where(stmt)}: {self.op_name(stmt.op)}(..., {k}=...): the keyword {k!r} "
                    "is not supported by its derivative rule"
                )
            bound[k] = v
        for name in params.primals:
            if name not in bound and name not in params.defaults:
                raise UnsupportedError(f"{self.where(stmt)}: {self.op_name(stmt.op)}: missing argument {name!r}")
        if params.wants_y:
            bound["y"] = self.b.sym(stmt.target)
        bound.update(extra(params))
        return bound, params

    def operand_names(self, stmt, params):
        """rule parameter -> the Var atoms it covers (several for a packed tuple)."""
        names = {}
        args = list(stmt.args)
        if stmt.op in PACKED:
            k = PACKED[stmt.op]
            args = args[:k] + [None]
        for p, a in zip(params.primals, args):
            names[p] = a
        for k, a in stmt.kwargs.items():
            names[k] = a
        return names


class Forward(Derivative, Flow):
    """Forward mode (and, with nothing varied, type inference: infer.py).

    Why one class over 300 lines: a method per statement kind, sharing the tangents and join
    names of one function; Derivative holds what reverse mode shares. The walk through ifs
    and loops is Flow's (ir/flow.py): this class states its joins (join, loop_head, loop_tail)."""

    def __init__(self, fn, builder, varied):
        super().__init__(fn, builder)
        self.varied = varied
        self.dots = {}
        self.batch_like = None  # a Sym with the seed axis, to size zero tangents
        self.lenient = False  # type inference's first trip through a loop (pretype)
        self.prologue = []  # typed definitions of join names, put at the function's top

    def dot(self, atom):
        if isinstance(atom, Var):
            if atom.name in self.tuples:
                parts = tuple(self.dot(a) for a in self.tuples[atom.name])
                return None if all(p is None for p in parts) else parts
            return self.dots.get(atom.name)
        if isinstance(atom, SliceAtom):
            return None
        return None

    def set_dot(self, name, value, private=False):
        if name in self.written and not private:
            # an array written in place gets a tangent of its own (never a view or an alias)
            value = np.copy(value)
        sym = copy_to(self.deriv_name(name), value)
        self.dots[name] = sym
        if self.batch_like is None:
            self.batch_like = sym
        return sym

    def zeros_for(self, name, register=True):
        with building(self.b, self.deriv_name(name)):
            self.b.mark = len(self.b.stmts)
            z = zeros_batch(self.batch_like, self.b.sym(name))
            if not register:
                return z
            return self.set_dot(name, z, private=True)

    # --- statements -------------------------------------------------------------------------

    def block(self, stmts):
        for stmt in stmts:
            result = self.stmt(stmt)
            if result is not None:
                return result
        return None

    def stmt(self, stmt):
        self.b.line = stmt.line
        if isinstance(stmt, Assign):
            self.assign(stmt)
        elif isinstance(stmt, SetItem):
            self.setitem(stmt)
        elif isinstance(stmt, Return):
            return stmt
        elif isinstance(stmt, (If, For, While)):
            self.b.append(self.compound(stmt))
        else:
            raise UnsupportedError(f"{self.where(stmt)}: {type(stmt).__name__} in forward mode")
        return None

    # --- joins: one name per tangent wherever paths meet (see the module docstring) --------

    def save(self):
        return dict(self.dots)

    def restore(self, saved):
        self.dots = dict(saved)

    def walk_block(self, stmts):
        return self.nested(stmts)

    def join(self, stmt, start, arms):
        """After an ``if``: a name whose tangent differs between the arms gets one name."""
        (body, after_body), (orelse, after_orelse) = arms
        names = [n for n in sorted(set(after_body) | set(after_orelse)) if n in self.varied and n not in self.tuples]
        for name in names:
            a, b = after_body.get(name), after_orelse.get(name)
            if a is not None and b is not None and a.name == b.name:
                self.dots[name] = a
                continue
            if a is None and b is None:
                continue
            merged = self.b.names.fresh(name + self.suffix)
            like = a if a is not None else b
            self.b.types[merged] = like.dummy
            if a is None or b is None:  # set on one path only: typed on all (see predefine)
                self.predefine(merged, like.dummy)
            for arm, sym in ((body, a), (orelse, b)):
                self.copy_into(arm, merged, name, sym)
            self.dots[name] = Sym(merged, like.dummy)

    def copy_into(self, stmts, target, name, sym):
        """Append ``target = <name's tangent>`` to ``stmts`` (zeros where it is a zero that a
        parameter carries; nothing where ``name`` is not defined on that path)."""
        outer = self.b.stmts
        self.b.stmts = stmts
        try:
            if sym is None:
                if name not in self.fn.params:
                    return  # not defined on this path: neither is the primal
                sym = self.zeros_for(name, register=False)
            if sym.name != target:
                self.b.append(Assign(target, COPY, [Var(sym.name)], line=self.b.line))
        finally:
            self.b.stmts = outer

    def loop_head(self, stmt):
        """Before a loop: every varied name it assigns moves to a loop-carried tangent name,
        copied from the tangent it has now. Returns name -> that Sym."""
        if isinstance(stmt, For):
            self.b.types[stmt.target] = _iter_dummy(self.b, stmt.iter)
        stmts = stmt.body if isinstance(stmt, For) else stmt.test_body + stmt.body
        self.pretype(stmts)
        assigned = set()
        for s in walk(stmts):
            if isinstance(s, Assign) or isinstance(s, For):
                assigned.add(s.target)
        carried = {}
        for name in sorted(assigned):
            if name not in self.varied or name in self.tuples:
                continue
            current = self.dots.get(name)
            if current is None and name in self.fn.params:
                current = self.zeros_for(name, register=False)
            dummy = current.dummy if current is not None else self.tangent_dummy(name)
            target = self.b.names.fresh(name + self.suffix)
            self.b.types[target] = dummy
            if current is not None:
                self.b.append(Assign(target, COPY, [Var(current.name)], line=self.b.line))
            else:
                self.predefine(target, dummy)
            carried[name] = self.dots[name] = Sym(target, dummy)
        return carried

    def loop_tail(self, stmt, body, carried):
        """At the end of a trip: each loop-carried tangent gets the trip's value; after the
        loop the carried names hold the tangents (after a while loop's test, the tangents
        there)."""
        for name, sym in carried.items():
            self.copy_into(body, sym.name, name, self.dots.get(name))
            self.dots[name] = sym

    def predefine(self, name, dummy):
        """A typed value for a join's tangent name at the top of the function: where the
        primal is not assigned on every path (a name first assigned in a loop, or in one arm),
        the copies a join makes read the tangent name on every path (the value read there is
        never used, as the primal's is not; Numba needs one type, Python a binding)."""
        self.prologue.append(Assign(name, PLACEHOLDER, [Const(placeholder_kind(dummy))], line=self.b.line))

    def tangent_dummy(self, name):
        """The dummy of ``name``'s tangent (for a loop-carried name not yet defined)."""
        d = self.fn.types.get(name, self.b.types.get(name))
        like = np.asarray(self.batch_like.dummy if self.batch_like is not None else 0.5)
        dtype = np.asarray(d).dtype if is_float(d) else like.dtype
        if self.unit and not np.ndim(d):
            return dtype.type(0.5)
        return dummy_array(np.ndim(d) + 1, dtype)

    def pretype(self, stmts):
        """Type inference (no tangents): a loop body may read a name that only a previous trip
        assigns (``if i > 0: y = y * x`` / ``else: y = x``). One lenient trip first, which skips
        statements whose operands have no type yet, gives those names theirs."""
        if self.varied or not self.b.check_types or self.lenient:
            return
        outer, self.lenient = self.b.stmts, True
        try:
            self.nested(stmts)
        finally:
            self.b.stmts, self.lenient = outer, False

    def nested(self, stmts):
        outer = self.b.stmts
        self.b.stmts = []
        try:
            if self.block(stmts) is not None:
                raise UnsupportedError(f"{self.where(stmts[-1])}: return inside a branch or loop: not supported yet")
            return self.b.stmts
        finally:
            self.b.stmts = outer

    def assign(self, stmt):
        if self.lenient and any(n not in self.b.types for n in reads(stmt)):
            return
        if stmt.target in reads(stmt) and stmt.op is not COPY and stmt.target in self.varied:
            # `v = v * v` in a loop: the tangent rule must see the old v, so the new value
            # goes to a temporary first
            temp = self.b.names.fresh(stmt.target)
            self.varied.add(temp)
            self.assign(Assign(temp, stmt.op, stmt.args, stmt.kwargs, stmt.line))
            self.assign(Assign(stmt.target, COPY, [Var(temp)], {}, stmt.line))
            return
        if stmt.op in TAPE_OPS:
            self.tape_op(stmt)
            return
        # the primal statement, unchanged (its dummy computed on the way)
        self.b.emit(stmt.op, stmt.args, stmt.kwargs, target=stmt.target)
        if stmt.op is TUPLE:
            self.tuples[stmt.target] = list(stmt.args)
            return
        if stmt.op is COPY and isinstance(stmt.args[0], Var) and stmt.args[0].name in self.tuples:
            self.tuples[stmt.target] = self.tuples[stmt.args[0].name]  # a copy of a tuple: the same parts
            return
        self.tuples.pop(stmt.target, None)
        if stmt.target not in self.varied:
            self.dots.pop(stmt.target, None)
            return
        if stmt.op is GETITEM and isinstance(stmt.args[0], Var) and stmt.args[0].name in self.tuples:
            k = stmt.args[1].value
            part = self.tuples[stmt.args[0].name][k]
            if isinstance(part, Var) and part.name in self.tuples:  # a tuple in a tuple: its parts too
                self.tuples[stmt.target] = self.tuples[part.name]
            d = self.dot(part)
            if d is None:
                self.zeros_for(stmt.target)
            else:
                with building(self.b, self.deriv_name(stmt.target)):
                    self.b.mark = len(self.b.stmts)
                    self.set_dot(stmt.target, d)
            return
        args = rules.differentiable_args(stmt.op, list(stmt.args))
        dots = [self.dot(a) for a in args] + [self.dot(a) for a in stmt.kwargs.values()]
        if all(d is None for d in dots) or stmt.op in rules.NONDIFFERENTIABLE:
            self.zeros_for(stmt.target)
            return
        with building(self.b, self.deriv_name(stmt.target)):
            self.b.mark = len(self.b.stmts)
            if stmt.op in rules.ELEMENTWISE:
                value = self.elementwise(stmt)
            elif stmt.op in rules.TANGENT_RULES:
                rule = rules.TANGENT_RULES[stmt.op]
                kwargs, params = self.bind(rule, stmt, lambda params: {})
                operands = self.operand_names(stmt, params)
                for p in params.dots:
                    atom = operands.get(p)
                    if atom is None and stmt.op in PACKED:  # the packed index: never differentiated
                        kwargs[p + "_dot"] = None
                    else:
                        kwargs[p + "_dot"] = self.lift(self.dot(atom), stmt.op) if atom is not None else None
                value = self.lower(rule(**kwargs), self.b.sym(stmt.target))
                if (
                    stmt.op is GETITEM
                    and stmt.args[0].name in self.written
                    and isinstance(value, Sym)
                    and value.ndim
                    and not np.ndim(self.b.types[stmt.target])
                ):
                    # x[i] of an array written in place is a number, a copy; its tangent
                    # t[:, i] would be a view that a later write into t changes
                    value = np.copy(value)
            else:
                raise self.missing(stmt, "tangent")
            self.set_dot(stmt.target, value)

    def tape_op(self, stmt):
        """Reverse-mode code differentiated again: a varied stack gets a stack of tangents."""
        if stmt.op in (APPEND, POP):
            self.b.append(stmt)
            if stmt.op is POP:
                self.b.types[stmt.target] = self.fn.types[stmt.target]
        else:
            self.b.emit(stmt.op, stmt.args, stmt.kwargs, target=stmt.target)
        if stmt.op is NEW_STACK and stmt.target in self.varied:
            dots = self.deriv_name(stmt.target)
            self.b.append(Assign(dots, NEW_STACK, [], line=stmt.line))
            self.b.types[dots] = []
            self.dots[stmt.target] = Sym(dots, [])
        elif stmt.op is APPEND and stmt.args[0].name in self.varied:
            value = stmt.args[1]
            if self.dot(value) is None:
                self.zeros_for(value.name)
            self.b.append(
                Assign("_", APPEND, [Var(self.dots[stmt.args[0].name].name), Var(self.dot(value).name)], line=stmt.line)
            )
        elif stmt.op is POP and stmt.args[0].name in self.varied and stmt.target in self.varied:
            dots = self.deriv_name(stmt.target)
            self.b.append(Assign(dots, POP, [Var(self.dots[stmt.args[0].name].name)], line=stmt.line))
            self.b.types[dots] = self.batched_type(stmt.target)
            self.dots[stmt.target] = Sym(dots, self.b.types[dots])
        elif stmt.op in (POP, PLACEHOLDER) and stmt.target in self.varied:
            self.zeros_for(stmt.target)

    def batched_type(self, name):
        d = self.b.types[name]
        if self.unit and not np.ndim(d):
            return d
        return dummy_array(np.ndim(d) + 1, np.asarray(d).dtype)

    def elementwise(self, stmt):
        partials_fn = rules.ELEMENTWISE[stmt.op]
        kwargs, params = self.bind(partials_fn, stmt, lambda params: {})
        partials = partials_fn(**kwargs)
        if not isinstance(partials, tuple):
            partials = (partials,)
        operands = self.operand_names(stmt, params)
        y = self.b.sym(stmt.target)
        terms = []
        all_arrays_active = True
        shared = False
        for p, partial in zip(params.primals, partials):
            atom = operands.get(p)
            d = self.dot(atom) if atom is not None else None
            operand = self.value(atom) if atom is not None else None
            if d is None:
                if isinstance(operand, Sym) and operand.ndim:
                    all_arrays_active = False
                continue
            if partial is None:
                raise UnsupportedError(
                    f"{self.where(stmt)}: the derivative of {self.op_name(stmt.op)} with respect to "
                    f"its argument {p!r} is not defined; make that argument a constant"
                )
            if callable(partial):
                partial = partial()
            passthrough = isinstance(d, Sym) and d.name in self.written_tangents()
            if not (self.unit and not y.ndim):  # a scalar's tangent in unit mode is used as it is
                d = _lead_expand(self.lift(d), y.ndim - (operand.ndim or 0))
            term = _scale(partial, d)
            shared = shared or (passthrough and term is d)
            terms.append(term)
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        if y.ndim and (not all_arrays_active or total.ndim != y.ndim + 1):
            from ..runtime import broadcast_like

            total = broadcast_like(total, y)
        if shared and len(terms) == 1 and isinstance(total, Sym) and total.ndim:
            # y = x + 3.0 is a new array, but its tangent would be x's own (or a view of it),
            # which a later write into x changes
            total = np.copy(total)
        return total

    def written_tangents(self):
        """Names of the tangents that an in-place write changes later (those of arrays written
        in place): a tangent that is one of them, where its primal is a new array, is copied."""
        return {self.dots[a].name for a in self.written if a in self.dots}

    def setitem(self, stmt):
        if self.lenient and any(n not in self.b.types for n in reads(stmt)):
            return
        self.b.append(SetItem(stmt.array, stmt.index, stmt.value, stmt.line))
        if stmt.array not in self.varied:
            return
        if stmt.array not in self.dots:
            self.zeros_for(stmt.array)
        v_dot = self.dot(stmt.value)
        target = self.dots[stmt.array]
        index = [SliceAtom(None, None, None), *stmt.index]
        if v_dot is None:
            self.b.append(SetItem(target.name, index, Const(0.0), stmt.line))
            return
        # the value broadcasts into the slot as NumPy aligns trailing axes; its tangent has the
        # seed axis in front, so the axes the value lacks go right after it
        from .trace import _getitem

        slot = np.ndim(_getitem(self.b.types[stmt.array], *[self.b.dummy_of(i) for i in stmt.index]))
        missing = slot - np.ndim(self.b.dummy_of(stmt.value))
        if missing > 0 and not (self.unit and isinstance(v_dot, Sym) and v_dot.ndim == 0):
            with building(self.b, self.deriv_name(stmt.array)):
                self.b.mark = len(self.b.stmts)
                v_dot = _lead_expand(self.lift(v_dot), missing)
        self.b.append(SetItem(target.name, index, Var(v_dot.name), stmt.line))


def _iter_dummy(b, atom):
    it = b.dummy_of(atom)
    if isinstance(it, range):
        return 1
    return it[0]


def _lead_expand(d, count):
    if count <= 0:
        return d
    return d[(slice(None),) + (None,) * count]


def _scale(partial, d):
    if isinstance(partial, (int, float)):
        if partial == 1.0:
            return d
        if partial == -1.0:
            return -d
    return partial * d


def differentiate_forward(fn, builder: Builder, seeds: dict, unit=False):
    """Emit ``fn``'s body with tangents into ``builder``; ``seeds`` maps parameter names to
    their tangent Syms (``unit``: one seed, scalars' tangents are scalars; ``unit_like``
    sizes zeros). Returns the Forward state and the final Return statement."""
    varied = varied_names(fn, set(seeds))
    fwd = Forward(fn, builder, varied)
    fwd.unit = unit
    for name, sym in seeds.items():
        if unit and name in fwd.written and isinstance(sym, Sym) and sym.ndim:
            # the tangent of an argument written in place is written too: never the caller's
            with building(builder, name + "_dot"):
                builder.mark = len(builder.stmts)
                sym = copy_to(builder.names.fresh(name + "_dot"), np.copy(sym))
        fwd.dots[name] = sym
        if fwd.batch_like is None:
            fwd.batch_like = sym
    if unit and seeds:
        fwd.batch_like = unit_like(builder, next(iter(seeds.values())))
    start = len(builder.stmts)
    ret = fwd.block(fn.body)
    builder.stmts[start:start] = fwd.prologue
    return fwd, ret


def unit_like(builder, seed):
    """A scalar in the seed's dtype: the ``like`` of zeros in unit mode (runtime.zeros_batch)."""
    from ..runtime import one

    if isinstance(seed, Sym) and seed.ndim == 0:
        return seed
    with building(builder, "unit"):
        builder.mark = len(builder.stmts)
        return copy_to(builder.names.fresh("unit"), one(seed))


__all__ = ["differentiate_forward", "Forward", "Derivative", "unit_like"]


def placeholder_kind(dummy):
    """The kind PLACEHOLDER takes for a name typed like ``dummy`` (defined on every path)."""
    if isinstance(dummy, np.ndarray):
        return ("array", dummy.ndim, dummy.dtype.name)
    if isinstance(dummy, (bool, np.bool_)):
        return ("bool",)
    if isinstance(dummy, (int, np.integer)):
        return ("int",)
    if isinstance(dummy, (float, np.floating)):
        return ("float", np.asarray(dummy).dtype.name)
    raise UnsupportedError(
        f"a value of type {type(dummy).__name__} assigned inside a loop or branch: not supported yet"
    )
