"""Pass 5r: adjoint (reverse-mode) code, batched over seeds.

A forward sweep runs the primal statements; then the statements are visited in reverse and
each one's adjoint rule adds its contributions into ``x_bar`` (shape ``(B,) + x.shape``).
Accumulation and undoing broadcasting are done here, once, not in the rules. Only values
that depend on a differentiated input (activity) receive adjoints.

Control flow and overwrites use a tape of typed stacks (Python lists, which Numba compiles
as typed lists): inside ``if``/``for``/``while`` each assignment pushes the value it
overwrites, each in-place write ``a[i] = v`` pushes the part of ``a`` it overwrites, each
branch pushes its decision and each loop its trip count. The reverse sweep pops them in
the opposite order, so every value an adjoint rule reads is the one the forward sweep saw.
Straight-line code needs no tape: normalize renamed every reassignment.
"""

from __future__ import annotations

import numpy as np

from .. import rules
from ..analysis.activity import useful_names, varied_names
from ..errors import UnsupportedError
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
    assigned_names,
    atom_vars,
    reads,
    walk,
)
from ..runtime import new_tape, scale_nz, scatter_add, sum_to, zeros_batch
from .forward import Derivative, _iter_dummy, placeholder_kind, unit_like
from .trace import Sym, building, copy_to, dummy_array


class Reverse(Derivative):
    """Reverse mode: the forward sweep with a tape, then the adjoint sweep.

    Why one class over 300 lines: a method per statement kind in each sweep, sharing the
    adjoints, tapes and join names of one function; Derivative holds what forward mode shares.
    Its sweeps walk ifs and loops themselves, not through ir.flow.Flow (see why there)."""

    suffix = "_bar"

    def __init__(self, fn, builder, varied):
        super().__init__(fn, builder)
        self.varied = varied
        self.bars = {}
        self.stacks = {}  # what is taped -> name of its stack
        self.batch_like = None  # a Sym with the seed axis (the first seed)
        self.private = set()  # bars known to own their memory (safe to write in place)
        self.stack_types = {}
        self.taped = set()  # assignments whose overwritten value is on the tape
        self.overwriting = set()  # assignments that overwrite a value (taped or not)
        self.read_back = _read_in_reverse(fn, varied, builder)
        self.prealloc = {}  # taped key -> (tape array name, its loop): see push
        self.assign_keys = {}  # assignment -> the key its overwritten value is taped under
        self.rev_index = {}  # id(loop) -> the name of the trip index in its reverse
        self.loop_nest = []  # the loops (of fn) whose reverse is being emitted, outermost first
        self.loop_accs = {}  # id(loop) -> {array name: accumulator name} (see scatter_in_loop)
        self.iter_local = {}  # id(loop) -> names whose adjoint starts each reverse trip at zero
        self.counted = {}  # id(loop) -> its range's arguments: the index is computed, not taped

    # --- adjoint variables ---------------------------------------------------------------------

    def is_varied(self, atom):
        return isinstance(atom, Var) and atom.name in self.varied

    def _active(self, atom):
        if not isinstance(atom, Var):
            return False
        if atom.name in self.tuples:
            return any(self._active(a) for a in self.tuples[atom.name])
        return atom.name in self.varied

    def accumulate(self, atom, contribution):
        if contribution is None or not isinstance(atom, Var):
            return
        name = atom.name
        if name in self.tuples:
            for part, c in zip(self.tuples[name], contribution):
                self.accumulate(part, c)
            return
        if name not in self.varied:
            return
        target = self.deriv_name(name)
        with building(self.b, target):
            old = self.bars.get(name)
            if old is None and name in self.written and isinstance(contribution, Sym) and contribution.ndim:
                # the adjoint of an array written in place is written in place too: it owns its
                # memory from its first binding on, on every path (a broadcast seed or another
                # adjoint it would alias stays untouched; ``private`` is not followed through
                # branches, so it must hold for every binding)
                self.b.mark = len(self.b.stmts)
                self.bars[name] = copy_to(target, np.copy(contribution))
                self.private.add(name)
            elif old is None:
                self.bars[name] = copy_to(target, contribution)
                self.private.discard(name)
            else:
                self.b.mark = len(self.b.stmts)
                self.bars[name] = copy_to(target, old + contribution)
                self.private.add(name)

    def zero_bar(self, name):
        """Make ``name``'s adjoint an explicit zero array (before control flow, or on reset)."""
        target = self.deriv_name(name)
        with building(self.b, target):
            self.b.mark = len(self.b.stmts)
            self.bars[name] = copy_to(target, zeros_batch(self.batch_like, self.b.sym(name)))
        self.private.add(name)

    def materialize(self, stmts, skip=()):
        """Every varied name a region reads or writes gets an adjoint variable before it, so
        adjoints are carried under one name through branches and loop trips (but ``skip``)."""
        names = assigned_names(stmts) - set(skip)
        for stmt in walk(stmts):
            names.update(n for n in reads(stmt) if n not in skip)
            if isinstance(stmt, SetItem):
                names.add(stmt.array)
        loops = self.loop_nest + [s for s in stmts if isinstance(s, (For, While))]
        for name in sorted(names):
            if name in self.varied and name not in self.tuples and self.bars.get(name) is None:
                if _only_indexed(stmts, name) and _invariant_loop(loops, name) is not None:
                    continue  # its adjoint comes from an accumulator after the loop
                self.zero_bar(name)

    # --- the tape -----------------------------------------------------------------------------

    @staticmethod
    def tape_base(key):
        """The readable stem of the name of what holds ``key`` (a stack or a tape array)."""
        if not isinstance(key, tuple):
            return key
        kind, stmt = key
        return {
            "if": "branch",
            "trips": "trips",
            "for": getattr(stmt, "target", "i"),
            "assign": getattr(stmt, "target", "v"),
            "setitem": f"{getattr(stmt, 'array', 'a')}_saved",
        }[kind]

    def stack(self, key):
        if key not in self.stacks:
            name = self.b.names.fresh(f"{self.tape_base(key)}_stack")
            self.stacks[key] = name
            self.prologue.append(Assign(name, NEW_STACK, [], line=self.b.line))
            self.b.types[name] = []
        return self.stacks[key]

    def push(self, key, atom, pre=None):
        """Tape ``atom`` under ``key``. ``pre``: pushed at most once per trip of a top-level
        ``for`` loop (its trip count is known before it): a scalar goes into a preallocated
        array (``rt.new_tape``) at the trip's index instead of onto a growable stack."""
        dummy = self.b.dummy_of(atom)
        promoted = False
        if isinstance(atom, Var) and isinstance(dummy, (int, np.integer)) and not isinstance(dummy, (bool, np.bool_)):
            # a variable that starts as an int and becomes a float (``out = 1``, then
            # ``out = out * a``) is a float variable: so is its tape
            declared = self.fn.types.get(atom.name)
            if isinstance(declared, (float, np.floating)):
                dummy, promoted = declared, True
        self.stack_types[key] = dummy
        if pre is not None and not isinstance(dummy, (tuple, range)) and np.ndim(dummy) == 0:
            tape = self.b.names.fresh(f"{self.tape_base(key)}_tape")
            fill = (
                Const(0) if isinstance(dummy, (int, np.integer)) and not isinstance(dummy, (bool, np.bool_)) else atom
            )
            if promoted:
                fill, dummy = Const(0.0), 0.5  # float64 holds a float32 value exactly
            elif isinstance(dummy, float) or (isinstance(dummy, np.floating) and dummy.dtype == np.float64):
                # a float64 literal, not the variable: one that started as an int (acc = 2,
                # then acc = acc * 0.5) may still be typed int in some of Numba's versions of it
                fill = Const(0.0)
            self.b.types[tape] = dummy_array(1, np.asarray(dummy).dtype)
            self.prealloc[key] = (tape, pre["loop"])
            pre["tapes"].append((tape, fill))
            self.b.append(SetItem(tape, [Var(pre["trips"])], atom, self.b.line))
            return
        self.b.append(Assign("_", APPEND, [Var(self.stack(key)), atom], line=self.b.line))

    def pop_into(self, key, target):
        if key in self.prealloc:
            tape, loop = self.prealloc[key]
            self.b.emit(GETITEM, [Var(tape), Var(self.rev_index[id(loop)])], target=target)
        else:
            self.b.append(Assign(target, POP, [Var(self.stack(key))], line=self.b.line))
            self.b.types[target] = self.stack_types[key]
        self.b.names.taken.add(target)

    # --- forward sweep ------------------------------------------------------------------------

    def forward_sweep(self, stmts, depth=0, pre=None):
        for stmt in stmts:
            self.b.line = stmt.line
            if isinstance(stmt, Assign) and (stmt.op in TAPE_OPS or stmt.op in (scatter_add, new_tape)):
                raise UnsupportedError(
                    f"{self.where(stmt)}: reverse mode of reverse-mode code that has a tape (a loop, "
                    "branch or in-place write), e.g. jacrev(jacrev(f)) of a loop: not supported yet; "
                    "use hessian (jacfwd over jacrev) or jacfwd(jacfwd(f))"
                )
            if isinstance(stmt, Assign):
                overwrites = depth or stmt.target in self.defined  # (derivative code reassigns)
                if overwrites and stmt.op is not TUPLE and not _untaped(self.fn.types.get(stmt.target)):
                    self.overwriting.add(stmt)
                    if self.needs_value(stmt.target):
                        key = ("assign", stmt) if pre is not None else stmt.target
                        self.assign_keys[stmt] = key
                        self.push(key, Var(stmt.target), pre)
                        self.taped.add(stmt)
                self.b.emit(stmt.op, stmt.args, stmt.kwargs, target=stmt.target)
                self.defined.add(stmt.target)
                if stmt.op is TUPLE:
                    self.tuples[stmt.target] = list(stmt.args)
                elif (
                    stmt.op is GETITEM
                    and isinstance(stmt.args[0], Var)
                    and stmt.args[0].name in self.tuples
                    and isinstance(stmt.args[1], Const)
                ):
                    part = self.tuples[stmt.args[0].name][stmt.args[1].value]
                    if isinstance(part, Var) and part.name in self.tuples:  # a tuple in a tuple: its parts
                        self.tuples[stmt.target] = self.tuples[part.name]
            elif isinstance(stmt, SetItem):
                self._save_setitem(stmt)
                self.b.append(stmt)
            elif isinstance(stmt, Return):
                return stmt
            elif isinstance(stmt, If):
                self._predefine(stmt.body + stmt.orelse)
                self.push(("if", stmt), stmt.test, pre)
                # (a branch runs at most once per trip: its values keep the trip's tape slots)
                body, orelse = (
                    self.nested(lambda: self.forward_sweep(stmt.body, depth + 1, pre)),
                    self.nested(lambda: self.forward_sweep(stmt.orelse, depth + 1, pre)),
                )
                self.b.append(If(stmt.test, body, orelse, stmt.line))
            elif isinstance(stmt, For):
                self._predefine(stmt.body)
                trips = self.b.names.fresh("trips")
                self.b.emit(COPY, [Const(0)], target=trips)
                self.b.types[stmt.target] = _iter_dummy(self.b, stmt.iter)

                # a top-level loop runs once, its trip count known before it: preallocated tape
                inner = {"loop": stmt, "trips": trips, "tapes": []} if depth == 0 else None

                counted = _counted_range(self.fn.body, stmt) if depth == 0 else None
                if counted is not None:
                    self.counted[id(stmt)] = counted

                def loop_body(stmt=stmt, trips=trips, inner=inner):
                    if id(stmt) not in self.counted:
                        self.push(("for", stmt), Var(stmt.target), inner)
                    self.forward_sweep(stmt.body, depth + 1, inner)
                    self.b.emit(np.add, [Var(trips), Const(1)], target=trips)

                body = self.nested(loop_body)
                if inner is not None and inner["tapes"]:
                    self.b.line = stmt.line
                    n = self.b.emit(len, [stmt.iter], target=self.b.names.fresh("trip_count"))
                    for tape, fill in inner["tapes"]:
                        self.b.emit(new_tape, [Var(n.name), fill], target=tape)
                self.b.append(For(stmt.target, stmt.iter, body, stmt.line))
                self.push(("trips", stmt), Var(trips), pre)
            elif isinstance(stmt, While):
                self._predefine(stmt.body + stmt.test_body)
                trips = self.b.names.fresh("trips")
                self.b.emit(COPY, [Const(0)], target=trips)
                test_body = self.nested(lambda stmt=stmt: self.forward_sweep(stmt.test_body, depth + 1))

                def loop_body(stmt=stmt, trips=trips):
                    self.b.emit(np.add, [Var(trips), Const(1)], target=trips)
                    self.forward_sweep(stmt.body, depth + 1)

                self.b.append(While(test_body, stmt.test, self.nested(loop_body), stmt.line))
                self.push(("trips", stmt), Var(trips), pre)
        return None

    def nested(self, emit_body):
        outer = self.b.stmts
        self.b.stmts = []
        try:
            if emit_body() is not None:
                raise UnsupportedError(f"{self.where(None)}: return inside a branch or loop: not supported yet")
            return self.b.stmts
        finally:
            self.b.stmts = outer

    def _predefine(self, stmts):
        """Give every name a region assigns a typed value before it, so the tape can push
        the value each assignment overwrites (and Numba sees one type per variable)."""
        for name in sorted(assigned_names(stmts)):
            if name in self.defined:
                continue
            self.defined.add(name)
            dummy = self.fn.types.get(name)
            if dummy is None or _untaped(dummy):
                continue
            self.b.emit(PLACEHOLDER, [Const(placeholder_kind(dummy))], target=name)
            self.b.types[name] = dummy

    def _save_setitem(self, stmt):
        index = list(stmt.index)
        saved = self.b.names.fresh(f"{stmt.array}_saved")
        part = self.b.emit(GETITEM, [Var(stmt.array), *index], target=saved)
        if np.ndim(part.dummy):
            self.b.emit(np.copy, [Var(saved)], target=saved)
        self.push(("setitem", stmt), Var(saved))

    # --- reverse sweep ------------------------------------------------------------------------

    def backward_sweep(self, stmts, depth=0):
        for stmt in reversed(stmts):
            self.b.line = stmt.line
            if isinstance(stmt, Assign):
                if stmt.op is TUPLE or _untaped(self.fn.types.get(stmt.target)):
                    continue
                self.reverse_assign(stmt, overwrites=stmt in self.overwriting, taped=stmt in self.taped)
            elif isinstance(stmt, SetItem):
                self.reverse_setitem(stmt)
            elif isinstance(stmt, If):
                self.materialize([stmt])
                test = self.b.names.fresh("branch")
                self.pop_into(("if", stmt), test)
                body = self.nested(lambda stmt=stmt: self.backward_sweep(stmt.body, depth + 1))
                orelse = self.nested(lambda stmt=stmt: self.backward_sweep(stmt.orelse, depth + 1))
                self.b.append(If(Var(test), body, orelse, stmt.line))
            elif isinstance(stmt, (For, While)):
                local = set()
                if isinstance(stmt, For):  # adjoints that need no zero before or after a trip
                    local = {v for v in _iteration_local(stmt, self.fn.body) if self.bars.get(v) is None}
                self.iter_local[id(stmt)] = local
                self.materialize([stmt], skip=local)
                trips = self.b.names.fresh("trips")
                self.pop_into(("trips", stmt), trips)
                counter = self.b.names.fresh("_trip")
                self.b.types[counter] = 1

                def loop_body(stmt=stmt, trips=trips, counter=counter):
                    if id(stmt) in self.counted or any(loop is stmt for _, loop in self.prealloc.values()):
                        k = self.b.names.fresh("k")
                        self.b.emit(np.subtract, [Var(trips), Var(counter)], target=k)
                        k = self.b.emit(np.subtract, [Var(k), Const(1)], target=k)
                        self.rev_index[id(stmt)] = k.name
                    if isinstance(stmt, For):
                        if id(stmt) in self.counted:
                            self.index_of_trip(stmt)
                        else:
                            self.pop_into(("for", stmt), stmt.target)
                        self.backward_sweep(stmt.body, depth + 1)
                    else:
                        for inner in walk(stmt.test_body):
                            if (
                                isinstance(inner, Assign)
                                and inner.target in self.varied
                                and self.bars.get(inner.target) is not None
                            ):
                                raise UnsupportedError(
                                    f"{self.where(stmt)}: a while test that computes a differentiated value: not supported yet"
                                )
                        self.backward_sweep(stmt.body, depth + 1)
                        self.backward_sweep(stmt.test_body, depth + 1)

                if isinstance(stmt, While):  # the test evaluated last (the one that ended the loop)
                    self.backward_sweep(stmt.test_body, depth + 1)
                body, accs = self.reverse_loop(stmt, loop_body)
                rng = self.b.emit(range, [Var(trips)])
                self.b.append(For(counter, Var(rng.name), body, stmt.line))
                for x, acc in accs.items():
                    self.accumulate(Var(x), self.b.sym(acc))

    def index_of_trip(self, loop):
        """The index of the forward trip the reverse trip undoes, ``start + k * step`` of its
        ``range`` (see _counted_range), into the loop's target."""
        args = self.counted[id(loop)]
        k = Var(self.rev_index[id(loop)])
        if len(args) == 1:
            self.b.emit(COPY, [k], target=loop.target)
        else:
            if len(args) == 3:
                k = Var(self.b.emit(np.multiply, [k, args[2]], target=self.b.names.fresh("k")).name)
            self.b.emit(np.add, [args[0], k], target=loop.target)
        # the forward's dummy: an index valid for the dummy arrays (the trip number's is not)
        self.b.types[loop.target] = _iter_dummy(self.b, loop.iter)

    def needs_value(self, name):
        """Must the reverse sweep see this variable's earlier values? Only what some adjoint
        rule reads is stored; arrays always are (their shapes size the adjoints)."""
        return name in self.read_back or np.ndim(self.fn.types.get(name)) > 0

    def reverse_assign(self, stmt, overwrites, taped):
        y_bar = self.bars.get(stmt.target)
        wants_y = False
        if y_bar is not None and stmt.op not in rules.NONDIFFERENTIABLE:
            rule = rules.ELEMENTWISE.get(stmt.op) or next(iter(rules.ADJOINT_RULES.get(stmt.op, {}).values()), None)
            wants_y = rule is not None and rules.params_of(rule).wants_y
        output = stmt.target
        reset = False
        if overwrites:
            if y_bar is not None:
                # keep this statement's output (rules may read it) and its incoming adjoint,
                # then restore the overwritten value and start its adjoint afresh: as a
                # symbolic zero, so `total = total + t` passes its adjoint on without a copy
                if wants_y:
                    output = self.b.names.fresh(f"{stmt.target}_out")
                    self.b.emit(COPY, [Var(stmt.target)], target=output)
                incoming = self.b.names.fresh(f"{stmt.target}_bar_in")
                self.b.emit(COPY, [Var(y_bar.name)], target=incoming)
                y_bar = self.b.sym(incoming)
                self.bars[stmt.target] = None
                reset = True
            if taped:
                self.pop_into(self.assign_keys.get(stmt, stmt.target), stmt.target)
        if y_bar is None:
            return
        self.adjoint(stmt, y_bar, output)
        if reset and self.bars.get(stmt.target) is None and not self._iteration_local(stmt.target):
            self.zero_bar(stmt.target)  # carried around the loop under its name: a real zero

    def _iteration_local(self, name):
        """Is ``name`` local to a trip of the loop being reversed? Then its adjoint is zero at
        the start of every reverse trip and after its assignment: symbolic, never stored."""
        return bool(self.loop_nest) and name in self.iter_local.get(id(self.loop_nest[-1]), ())

    def reverse_setitem(self, stmt):
        saved = self.b.names.fresh(f"{stmt.array}_saved")
        self.pop_into(("setitem", stmt), saved)
        a_bar = self.bars.get(stmt.array)
        if a_bar is not None:
            index = [SliceAtom(None, None, None), *stmt.index]
            if self.is_varied(stmt.value):
                with building(self.b, self.deriv_name(stmt.value.name)):
                    self.b.mark = len(self.b.stmts)
                    # a copy: the slice of a_bar is zeroed in place right after (and so is its
                    # tangent, when this code is differentiated again)
                    part = np.copy(self.b.emit(GETITEM, [Var(a_bar.name), *index]))
                    value = self.b.sym(stmt.value.name)
                    contribution = self.lower(_reduce_to(part, value), value)
                self.accumulate(stmt.value, contribution)
            if stmt.array not in self.private:
                with building(self.b, self.deriv_name(stmt.array)):
                    self.b.mark = len(self.b.stmts)
                    self.bars[stmt.array] = copy_to(self.deriv_name(stmt.array), np.copy(self.bars[stmt.array]))
                self.private.add(stmt.array)
            self.b.append(SetItem(self.bars[stmt.array].name, index, Const(0.0), stmt.line))
        self.b.append(SetItem(stmt.array, list(stmt.index), Var(saved), stmt.line))

    def adjoint(self, stmt, y_bar, output):
        if stmt.op in rules.NONDIFFERENTIABLE:
            return
        if stmt.op is GETITEM and isinstance(stmt.args[0], Var) and stmt.args[0].name in self.tuples:
            self.accumulate(self.tuples[stmt.args[0].name][stmt.args[1].value], y_bar)
            return
        if stmt.op in rules.ELEMENTWISE:
            self.elementwise(stmt, y_bar, output)
            return
        if stmt.op is GETITEM and self.loop_nest and self._active(stmt.args[0]):
            loop = _invariant_loop(self.loop_nest, stmt.args[0].name)
            if loop is not None:
                self.scatter_in_loop(loop, stmt, y_bar)
                return
        table = rules.ADJOINT_RULES.get(stmt.op, {})
        some_rule = next(iter(table.values()), None)
        if some_rule is None:
            raise self.missing(stmt, "adjoint")
        _, params = self.bind(some_rule, stmt, lambda params: {}, output)
        operands = self.operand_names(stmt, params)
        for p, atom in operands.items():
            if atom is None or not self._active(atom):
                continue
            rule = table.get(p)
            if params.primals.index(p) >= rules.CONSTANT_FROM.get(stmt.op, len(params.primals)):
                continue
            if rule is None:
                raise UnsupportedError(
                    f"{self.where(stmt)}: {self.op_name(stmt.op)} has no adjoint rule for its "
                    f"argument {p!r}; make it a constant or register one with @adjoint_rule"
                )
            kwargs, _ = self.bind(rule, stmt, lambda params: {}, output)
            with building(self.b, self.deriv_name(atom.name)):
                self.b.mark = len(self.b.stmts)
                contribution = rule(y_bar=self.lift(y_bar, stmt.op), **kwargs)
                if stmt.op not in rules.UNIT_SAFE:
                    contribution = self._lower_parts(contribution, atom)
            self.accumulate(atom, contribution)

    def scatter_in_loop(self, loop, stmt, y_bar):
        """``v = x[i]`` in a loop that never writes x: ``v_bar`` is added in place into one
        accumulator for x made before the loop's reverse and added to ``x_bar`` after it, so
        a trip costs O(len(v)), not a new x-sized array."""
        x = stmt.args[0].name
        accs = self.loop_accs.setdefault(id(loop), {})
        if x not in accs:
            accs[x] = self.b.names.fresh(f"{x}_bar_acc")
            self.b.types[accs[x]] = dummy_array(np.ndim(self.b.types[x]) + 1, y_bar.dtype)
        acc = accs[x]
        self.b.emit(scatter_add, [Var(acc), Var(y_bar.name), Var(x), *stmt.args[1:]], target=acc)

    def reverse_loop(self, stmt, emit_body):
        """The reverse of one loop: accumulators (scatter_in_loop) start before it."""
        self.loop_nest.append(stmt)
        try:
            body = self.nested(emit_body)
        finally:
            self.loop_nest.pop()
        accs = self.loop_accs.pop(id(stmt), {})
        self.b.line = stmt.line
        for x, acc in accs.items():
            self.b.emit(zeros_batch, [Var(self.batch_like.name), Var(x)], target=acc)
        return body, accs

    def _lower_parts(self, contribution, atom):
        if isinstance(contribution, tuple) and isinstance(atom, Var) and atom.name in self.tuples:
            return tuple(self._lower_parts(c, a) for c, a in zip(contribution, self.tuples[atom.name]))
        if isinstance(atom, Var) and atom.name in self.b.types:
            return self.lower(contribution, self.b.sym(atom.name))
        return contribution

    def bind(self, rule, stmt, extra, output=None):
        kwargs, params = super().bind(rule, stmt, extra)
        if params.wants_y and output is not None:
            kwargs["y"] = self.b.sym(output)
        return kwargs, params

    def elementwise(self, stmt, y_bar, output):
        partials_fn = rules.ELEMENTWISE[stmt.op]
        kwargs, params = self.bind(partials_fn, stmt, lambda params: {}, output)
        with building(self.b, self.deriv_name(stmt.target)):
            partials = partials_fn(**kwargs)
        if not isinstance(partials, tuple):
            partials = (partials,)
        operands = self.operand_names(stmt, params)
        array_operands = [a for a in operands.values() if isinstance(a, Var) and np.ndim(self.b.types.get(a.name))]
        for p, partial in zip(params.primals, partials):
            atom = operands.get(p)
            if not self.is_varied(atom):
                continue
            if partial is None:
                raise UnsupportedError(
                    f"{self.where(stmt)}: the derivative of {self.op_name(stmt.op)} with respect to "
                    f"its argument {p!r} is not defined; make that argument a constant"
                )
            x = self.b.sym(atom.name)
            with building(self.b, self.deriv_name(atom.name)):
                self.b.mark = len(self.b.stmts)
                if callable(partial):
                    partial = partial()
                if isinstance(partial, (int, float)) and partial in (1.0, -1.0):
                    c = y_bar if partial == 1.0 else -y_bar
                elif rules.is_singular(stmt.op, stmt.args):  # a zero cotangent stays zero beside inf/nan
                    c = scale_nz(y_bar, partial)
                else:
                    c = y_bar * partial
                if not (self.unit and y_bar.ndim == 0):  # (unit mode, scalars only: done)
                    c = self.lower(_reduce_to(c, x, broadcasting=len(array_operands) > 1), x)
            self.accumulate(atom, c)


def _reduce_to(c, x, broadcasting=True):
    """Sum a batched cotangent over the axes broadcasting added to ``x``."""
    for _ in range((c.ndim - 1) - (x.ndim or 0)):
        c = np.sum(c, axis=1)
    if x.ndim and broadcasting:
        c = sum_to(c, x)
    return c


def _read_in_reverse(fn, varied, builder):
    """Names whose values some adjoint may read: the operands of every differentiated
    statement (for elementwise ops, only those the partial derivatives use, found by running
    the rule on symbols in a scratch builder), the outputs of rules that read ``y``, and the
    indices and values of in-place writes."""
    from .trace import Builder, Sym

    names = set()
    for stmt in walk(fn.body):
        if isinstance(stmt, SetItem):
            names.update(n for a in [*stmt.index, stmt.value] for n in atom_vars(a))
            continue
        if not isinstance(stmt, Assign) or stmt.target not in varied or stmt.op in TAPE_OPS:
            continue
        if stmt.op in rules.NONDIFFERENTIABLE or stmt.op is TUPLE:
            continue
        operands = [n for a in list(stmt.args) + list(stmt.kwargs.values()) for n in atom_vars(a)]
        partials_fn = rules.ELEMENTWISE.get(stmt.op)
        if partials_fn is None:
            names.update(operands)
            rule = next(iter(rules.ADJOINT_RULES.get(stmt.op, {}).values()), None)
            if rule is not None and rules.params_of(rule).wants_y:
                names.add(stmt.target)
            continue
        scratch = Builder(dict(builder.types), builder.names.__class__(builder.names.taken))
        scratch.types.update(fn.types)
        probe = Derivative(fn, scratch)
        kwargs, _ = probe.bind(partials_fn, stmt, lambda params: {})
        with building(scratch, "probe"):
            partials = partials_fn(**kwargs)
            partials = partials if isinstance(partials, tuple) else (partials,)
            partials = [p() if callable(p) else p for p in partials]
        for p in partials:
            if isinstance(p, Sym):
                names.add(p.name)
        for emitted in scratch.stmts:
            names.update(reads(emitted))
        if rules.params_of(partials_fn).wants_y:
            names.add(stmt.target)
        # several array operands: the adjoint sums over broadcast axes by the operands' shapes
        arrays = [n for n in operands if np.ndim(fn.types.get(n)) > 0]
        if len(arrays) > 1:
            names.update(arrays)
    return names


def _iteration_local(loop, body):
    """Names whose value never crosses a trip of the for ``loop`` (in the function ``body``):
    assigned once in the loop, by a statement of the loop's own body that comes before every
    read of them there, never written in place, and read nowhere outside the loop."""
    outside = set()

    def collect(stmts):
        for s in stmts:
            if s is loop:
                continue
            outside.update(reads(s))
            if isinstance(s, SetItem):
                outside.add(s.array)
            for block in (getattr(s, "body", None), getattr(s, "orelse", None), getattr(s, "test_body", None)):
                if block:
                    collect(block)

    collect(body)
    assigned = [s.target for s in walk(loop.body) if isinstance(s, Assign)]
    in_place = {s.array for s in walk(loop.body) if isinstance(s, SetItem)}
    local, seen_reads = set(), set(reads(loop))
    for stmt in loop.body:
        for inner in walk([stmt]):
            seen_reads.update(reads(inner))
        if (
            isinstance(stmt, Assign)
            and assigned.count(stmt.target) == 1
            and stmt.target not in seen_reads
            and stmt.target not in outside
            and stmt.target not in in_place
            and stmt.target != loop.target
        ):
            local.add(stmt.target)
    return local


def _invariant_loop(loops, name):
    """The outermost of ``loops`` (outermost first) that never assigns or writes ``name``."""
    for loop in loops:
        region = [loop]
        if name not in assigned_names(region) and not any(
            isinstance(s, SetItem) and s.array == name for s in walk(region)
        ):
            return loop
    return None


def _only_indexed(stmts, name):
    """Is ``name`` read in ``stmts`` only as the array of ``x[...]``?"""
    for stmt in walk(stmts):
        if name not in reads(stmt):
            continue
        if not (
            isinstance(stmt, Assign)
            and stmt.op is GETITEM
            and stmt.args[0] == Var(name)
            and reads(stmt).count(name) == 1
        ):
            return False
    return True


def _untaped(dummy):
    """Values the reverse sweep never reads (the range a loop iterates over)."""
    return isinstance(dummy, (range, tuple))


def differentiate_reverse(fn, builder, wrt, seeds, unit=False):
    """Emit the forward sweep, then the adjoint sweep of ``fn`` into ``builder``.

    ``wrt``: names of the parameters to differentiate; ``seeds``: pairs (output atom,
    function emitting its seed, a batched cotangent). Returns the Reverse state.
    """
    varied = varied_names(fn, set(wrt))
    varied &= useful_names(fn, {n for atom, _ in seeds for n in atom_vars(atom)}) | set(wrt)
    rev = Reverse(fn, builder, varied)
    rev.unit = unit
    rev.prologue = []
    rev.defined = set(fn.params)
    start = len(builder.stmts)
    rev.forward_sweep(fn.body)
    for atom, make_seed in seeds:
        if rev._active(atom):
            builder.mark = len(builder.stmts)
            with building(builder, "seed"):
                seed = make_seed()
            if rev.batch_like is None:
                rev.batch_like = unit_like(builder, seed) if unit else seed
                builder.mark = len(builder.stmts)  # keep the seed's own name: it sizes zeros
            rev.accumulate(atom, seed)
    if rev.batch_like is not None:
        rev.backward_sweep(fn.body)
    builder.stmts[start:start] = rev.prologue
    return rev


def _counted_range(body, loop):
    """The arguments of ``loop``'s ``range`` where the reverse sweep can compute each trip's
    index instead of taping it: the range is assigned once, and each argument is an int or a
    name assigned at most once (so it holds the same value when the reverse sweep runs)."""
    assigned = {}
    for s in walk(body):
        if isinstance(s, (Assign, For)):
            assigned[s.target] = assigned.get(s.target, 0) + 1
    it = loop.iter
    if not isinstance(it, Var) or assigned.get(it.name) != 1:
        return None
    defining = next(s for s in walk(body) if isinstance(s, Assign) and s.target == it.name)
    if defining.op is not range or defining.kwargs or not 1 <= len(defining.args) <= 3:
        return None
    for a in defining.args:
        if isinstance(a, Const) and isinstance(a.value, int) and not isinstance(a.value, bool):
            continue
        if isinstance(a, Var) and assigned.get(a.name, 0) <= 1:
            continue
        return None
    return list(defining.args)


__all__ = ["differentiate_reverse", "Reverse"]
