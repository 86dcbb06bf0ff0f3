"""Pass 8 (numba backend): small arrays of known shape become scalars.

Numba allocates a new array for every array operation, and each is a loop of its own. In a
loop over a small state (the RK4 workload: a state of 4 floats, tangents of 7 x 4) that is
a hundred allocations per trip and almost no arithmetic. Here each such array becomes one
scalar variable per element, which Numba keeps in registers, and the arithmetic on them
becomes scalar statements.

The pass runs on the final IR for the shapes of one call's small arguments (api.py keys the
compiled function on them when the code has a loop). It is an abstract interpretation: every
array value whose shape is known and small is a NumPy *object* array of element atoms, so
NumPy itself does the indexing, slicing, concatenation, reductions, broadcasting and the
runtime helpers' work (``rt.scatter``, ``rt.sum_to``, ``rt.seed``) on them; each arithmetic
operation on elements emits one scalar statement, with constants folded (the 0s and 1s of the
seeds vanish: ``0 * x`` is 0, ``1 * x`` is x). The elements and the evaluation of operations
on them are ``backends/elements.py``, which the CUDA kernel builder drives too; this module is
the driver that keeps loops and branches and packs what the elements cannot express.

A variable is scalarized only if every assignment gives it the same small shape and every
operation that makes it can be evaluated this way; an array written in place is scalarized
only if nothing else refers to it (no view, alias or stack holds it), so value semantics are
NumPy's. Where a scalarized value meets an operation the pass cannot evaluate, it is packed
into an array again (``np.empty`` and element writes) just before. Stacks of the reverse
sweep holding scalarized arrays are split into one stack per element (``shared_tape`` then
puts them on one float tape). Each variable's elements live in fixed names (``y_0``,
``y_1``, ...), so values carried around loops and out of branches need no merging; within
straight-line code constants are propagated and copies deferred (an element may be read
from another name until that name is overwritten), and at control flow every element is
in its own name again.
"""

from __future__ import annotations

import numpy as np

from ... import runtime as rt
from ...ad.trace import dummy_array
from ...ir import (
    APPEND,
    COPY,
    GETITEM,
    NEW_STACK,
    PLACEHOLDER,
    POP,
    TUPLE,
    Assign,
    Const,
    For,
    Function,
    If,
    NameGen,
    Return,
    SetItem,
    SliceAtom,
    Var,
    While,
    all_names,
    assigned_names,
    atom_vars,
    blocks,
    map_blocks,
    reads,
    walk,
)
from ..elements import BOOL_UFUNCS, SHAPE_OPS, El, Exact, Unsupported, all_ints, element_atom, emitting, evaluate, py
from ..elements import atom as atom_of

LIMIT = 64  # elements: larger arrays stay arrays
MAX_STATEMENTS = 20000  # a scalarized function larger than this is not worth compiling


# operations whose result is a new array (not a view of an argument)
FRESH = {
    np.array,
    np.concatenate,
    np.stack,
    np.zeros,
    np.ones,
    np.zeros_like,
    np.ones_like,
    np.copy,
    np.dot,
    np.matmul,
    np.outer,
    np.eye,
    np.full,
    np.sum,
    np.hstack,
    np.vstack,
    np.diag,
    rt.scatter,
    rt.scatter_add,
    rt.seed,
    rt.zeros_batch,
    rt.basis,
    rt.bmatmul,
    np.empty,
    np.empty_like,
    PLACEHOLDER,
}
# operations that read an array's values without keeping a reference to it
VALUE_READS = FRESH | set(SHAPE_OPS) | {rt.one, *rt.GUARDS}
SHAPE_ARGS = {rt.sum_to: 1, rt.broadcast_like: 1}  # (its result is a view of the other)


def _fresh_op(op):
    return op in FRESH or isinstance(op, np.ufunc)


def _aliasing_read(stmt, name, types):
    """Does ``stmt`` read array ``name`` in a way that may keep a reference to it (a view,
    an alias, a stack or tuple holding it)? Element reads and operations that compute new
    values do not."""
    if isinstance(stmt, SetItem):
        return False  # as the value (copied) or in the index (ints)
    if isinstance(stmt, (Return, If, While)):
        return False
    if isinstance(stmt, For):
        return name in reads(stmt)  # iterating yields views
    if not isinstance(stmt, Assign) or name not in reads(stmt):
        return False
    if stmt.op is GETITEM:
        base, *index = stmt.args
        if base != Var(name):
            return False
        ints = all(
            isinstance(i, Const)
            and isinstance(i.value, int)
            and not isinstance(i.value, bool)
            or isinstance(i, Var)
            and isinstance(types.get(i.name), (int, np.integer))
            for i in index
        )
        return not (ints and len(index) == np.ndim(types.get(name)))
    if stmt.op in SHAPE_ARGS:
        return Var(name) in [a for k, a in enumerate(stmt.args) if k != SHAPE_ARGS[stmt.op]]
    return not (stmt.op in VALUE_READS or isinstance(stmt.op, np.ufunc))


def _aliased_writes(fn):
    """The arrays written in place whose writes another name might see: under NumPy a write
    goes to an object other names may share, here each name has its own elements. A write is
    safe when the array was last assigned a new array (``np.copy``, ``np.zeros``, an
    operation's result) in the same block, with no view or alias of it taken since; failing
    that, when every assignment of it anywhere makes a new array and nothing ever takes a
    view or alias of it."""
    assigns = {}
    for stmt in walk(fn.body):
        if isinstance(stmt, Assign):
            assigns.setdefault(stmt.target, []).append(stmt.op)

    def globally_safe(name):
        if name in fn.params or not all(_fresh_op(op) for op in assigns.get(name, [])):
            return False
        return not any(_aliasing_read(st, name, fn.types) for st in walk(fn.body))

    unsafe = set()

    def locally_safe(block, k, name):
        for stmt in reversed(block[:k]):
            if isinstance(stmt, (If, For, While)):
                if (
                    name in assigned_names([stmt])
                    or any(_aliasing_read(st, name, fn.types) for st in walk([stmt]))
                    or any(isinstance(st, SetItem) and st.array == name for st in walk([stmt]))
                ):
                    return None
                continue
            if isinstance(stmt, Assign) and stmt.target == name:
                if stmt.op is rt.scatter_add:
                    continue
                return _fresh_op(stmt.op)
            if _aliasing_read(stmt, name, fn.types):
                return False
        return None

    def visit(block):
        for k, stmt in enumerate(block):
            name = None
            if isinstance(stmt, SetItem):
                name = stmt.array
            elif isinstance(stmt, Assign) and stmt.op is rt.scatter_add:
                name = stmt.target
            if name is not None and name not in unsafe:
                ok = locally_safe(block, k, name)
                if ok is None:
                    ok = globally_safe(name)
                if not ok:
                    unsafe.add(name)
            if isinstance(stmt, If):
                visit(stmt.body)
                visit(stmt.orelse)
            elif isinstance(stmt, For):
                visit(stmt.body)
            elif isinstance(stmt, While):
                visit(stmt.test_body)
                visit(stmt.body)

    visit(fn.body)
    return unsafe


# --- the pass --------------------------------------------------------------------------------


PLACE = object()  # a placeholder: any value of the right type (zeros of the name's shape)
STALE = object()  # a tuple whose parts were overwritten since it was made
OPAQUE = object()  # an array (or tuple) the pass does not see into
BOTTOM = object()  # not known yet (analysis only): a placeholder's value before its shape is


def wanted(fn: Function) -> bool:
    """Does specializing on small shapes pay? Only where arrays live in a loop."""
    return any(isinstance(s, (For, While)) for s in walk(fn.body))


def spec_of(fn: Function, args) -> tuple | None:
    """The shapes the compiled function is specialized on: small float64 array arguments."""
    if not wanted(fn):
        return None
    spec = tuple(
        a.shape if isinstance(a, np.ndarray) and a.dtype == np.float64 and a.ndim and 0 < a.size <= LIMIT else None
        for a in args
    )
    return spec if any(s is not None for s in spec) else None


def scalarize(fn: Function, spec: tuple) -> Function | None:
    """``fn`` with its small arrays as scalars, for arguments of these shapes (None entries:
    not specialized); None when nothing is scalarized."""
    shapes = {p: s for p, s in zip(fn.params, spec) if s is not None}
    if not shapes:
        return None
    pass_ = _Scalarizer(fn, shapes)
    with emitting(pass_):
        return pass_.run()


class _Scalarizer:
    """Small arrays of known shape as scalars: interprets the IR once at build time, each value
    a constant, a scalar name or an array of scalar names.

    Why one class over 300 lines: the driver of the element interpreter (backends/elements.py),
    a method per statement kind, sharing the environment of names it builds (fixed element
    names across control flow, deferred copies, packing); split, its parts would pass that
    state around."""

    def __init__(self, fn, shapes):
        self.fn = fn
        self.param_shapes = shapes
        unsafe = _aliased_writes(fn)
        self.cand = set()
        for name, dummy in fn.types.items():
            if isinstance(dummy, np.ndarray) and dummy.dtype == np.float64:
                if name in fn.params and name not in shapes:
                    continue
                if name in unsafe:
                    continue
                self.cand.add(name)
        self.stacks = {s.target for s in walk(fn.body) if isinstance(s, Assign) and s.op is NEW_STACK}
        self.needs_real = set()  # tuples some unsupported statement reads
        self.shape = {p: tuple(s) for p, s in shapes.items()}
        self.stack_shape = {}

    # --- driver ------------------------------------------------------------------------------

    def run(self):
        for _ in range(16):
            before = (set(self.cand), set(self.stacks), set(self.needs_real), dict(self.shape), dict(self.stack_shape))
            self.analysis = True
            self.new_shape, self.new_stack_shape = {}, {}
            self._go()
            self.shape = {k: v for k, v in {**self.shape, **self.new_shape}.items() if k in self.cand}
            self.stack_shape = {
                k: v for k, v in {**self.stack_shape, **self.new_stack_shape}.items() if k in self.stacks
            }
            if (self.cand, self.stacks, self.needs_real, self.shape, self.stack_shape) == before:
                # stable; names never given a shape (only placeholders) are not scalarized
                shapeless = (self.cand - set(self.shape)) | (self.stacks - set(self.stack_shape))
                if not shapeless:
                    break
                self.cand -= shapeless
                self.stacks -= shapeless
        else:
            return None
        if not (self.cand - set(self.param_shapes)):
            return None
        self.analysis = False
        self.split = {}  # element stack -> the stack of arrays it is part of
        body = self._go()
        if sum(1 for _ in walk(body)) > MAX_STATEMENTS:
            return None
        return self.fn.replace(body=body, types=self.types, split_stacks=self.split)

    def _go(self):
        self.names = NameGen(all_names(self.fn))
        self.types = dict(self.fn.types)
        self.canon_names = {}
        self.tuple_refs = {}  # tuple name -> the names its parts read
        self.pending_on = {}  # name -> (array, index) whose element is read from that name
        self.neg_refs = {}  # name -> (array, index) whose element is known as its negation
        self.env = {}
        self.out = []
        for p, shape in self.param_shapes.items():
            if p in self.cand:
                for idx in np.ndindex(shape):
                    self.put(Assign(self.canon(p, idx), GETITEM, [Var(p), *map(Const, idx)]))
                    self.types[self.canon(p, idx)] = 0.5
                self.env[p] = self.canonical(p)
        self.block(self.fn.body)
        return self.out

    # --- names -------------------------------------------------------------------------------

    def canon(self, name, idx):
        key = (name, idx)
        got = self.canon_names.get(key)
        if got is None:
            got = self.names.fresh(f"{name}_{'_'.join(map(str, idx))}" if idx else name)
            self.canon_names[key] = got
        return got

    def canonical(self, name, shape=None):
        shape = self.shape.get(name) if shape is None else shape
        if shape is None:
            return BOTTOM
        arr = np.empty(shape, dtype=object)
        for idx in np.ndindex(shape):
            arr[idx] = El(Var(self.canon(name, idx)))
        return arr

    def put(self, stmt):
        """Append ``stmt``. Before it overwrites a name, values still read from that name
        (an element whose copy was deferred) are snapshot; tuples that refer to it go stale."""
        target = stmt.target if isinstance(stmt, Assign) and stmt.op is not APPEND else None
        if target is not None:
            self.before_assign(target)
        self.out.append(stmt)
        if target is not None:
            self.assigned(target)

    def before_assign(self, name):
        for v, idx in self.neg_refs.pop(name, ()):  # a - b for a + -b would read the new value
            arr = self.env.get(v)
            if (
                isinstance(arr, np.ndarray)
                and isinstance(arr[idx], El)
                and arr[idx].neg is not None
                and arr[idx].neg.atom == Var(name)
            ):
                arr = arr.copy()
                arr[idx] = El(arr[idx].atom)
                self.env[v] = arr
        refs = self.pending_on.pop(name, None)
        if not refs:
            return
        snap = None
        for v, idx in refs:
            arr = self.env.get(v)
            if self.canon(v, idx) == name:
                continue  # its own name: not a deferred copy
            if isinstance(arr, np.ndarray) and isinstance(arr[idx], El) and arr[idx].atom == Var(name):
                if snap is None:
                    snap = self.names.fresh(f"{name}_old")
                    self.types[snap] = self.types.get(name, 0.5)
                    self.out.append(Assign(snap, COPY, [Var(name)], line=self.line))
                arr = arr.copy()
                arr[idx] = El(Var(snap))
                self.env[v] = arr
                self.pending_on.setdefault(snap, []).append((v, idx))

    def assigned(self, name):
        for t in [t for t, refs in self.tuple_refs.items() if name in refs]:
            self.stale(t)

    def stale(self, t):
        del self.tuple_refs[t]
        if t in self.needs_real:
            self.env.pop(t, None)  # the real tuple exists
        else:
            self.env[t] = STALE

    def register(self, v, arr):
        """``arr`` is now ``v``'s value: its elements that live in other names are pending."""
        self.env[v] = arr
        for idx in np.ndindex(arr.shape):
            el = arr[idx]
            if isinstance(el, El) and isinstance(el.atom, Var) and el.atom.name != self.canon(v, idx):
                self.pending_on.setdefault(el.atom.name, []).append((v, idx))
            if isinstance(el, El) and el.neg is not None and isinstance(el.neg.atom, Var):
                self.neg_refs.setdefault(el.neg.atom.name, []).append((v, idx))

    def flush(self):
        """Before and after control flow: every array's elements in its own names (the
        deferred copies made; constants stay known too); tuples, which have no names of
        their own, go stale."""
        for v in [v for v, got in self.env.items() if got is PLACE]:
            zeros = self.placeholder_zeros(v)
            if zeros is not None:
                self.env[v] = zeros
        for v in [v for v, arr in self.env.items() if isinstance(arr, np.ndarray)]:
            for idx in np.ndindex(self.env[v].shape):
                el, name = self.env[v][idx], self.canon(v, idx)  # (a snapshot may repoint it)
                if isinstance(el, El) and el.atom == Var(name):
                    continue
                self.types[name] = 0.5
                self.put(Assign(name, COPY, [element_atom(el)], line=self.line))
                if isinstance(el, El):
                    arr = self.env[v].copy()
                    arr[idx] = El(Var(name))
                    self.env[v] = arr
        for t in list(self.tuple_refs):
            self.stale(t)

    def scalar(self, op, atoms):
        t = self.names.fresh(f"{self.hint}_e")
        self.put(Assign(t, op, atoms, line=self.line))
        self.types[t] = False if getattr(op, "__name__", "") in BOOL_UFUNCS else 0.5
        self.fresh_temps[t] = self.out[-1]
        return Var(t)

    # --- control flow ------------------------------------------------------------------------

    def forget(self, stmts):
        """At a control-flow boundary: what ``stmts`` assign is read from its fixed names."""
        names = assigned_names(stmts) | {s.array for s in walk(stmts) if isinstance(s, SetItem)}
        for n in sorted(names):  # in an order of its own: flush copies in the env's order
            self.env.pop(n, None)
            if n in self.cand:
                self.env[n] = self.canonical(n)

    def block(self, stmts):
        for stmt in stmts:
            self.line = getattr(stmt, "line", None)
            if isinstance(stmt, Assign):
                self.assign(stmt)
            elif isinstance(stmt, SetItem):
                self.setitem(stmt)
            elif isinstance(stmt, Return):
                self.put(Return([self.real(v, "out") for v in stmt.values], stmt.is_tuple, stmt.line))
            elif isinstance(stmt, If):
                test = self.real(stmt.test, "test")
                self.flush()
                saved, out = dict(self.env), self.out
                self.out = []
                self.block(stmt.body)
                self.flush()
                body = self.out
                self.env, self.out = dict(saved), []
                self.block(stmt.orelse)
                self.flush()
                orelse = self.out
                self.env, self.out = saved, out
                self.forget(stmt.body + stmt.orelse)
                self.put(If(test, body, orelse, stmt.line))
            elif isinstance(stmt, For):
                self.flush()
                self.forget(stmt.body)
                self.env.pop(stmt.target, None)
                out, self.out = self.out, []
                self.block(stmt.body)
                self.flush()
                body, self.out = self.out, out
                self.forget(stmt.body)
                self.put(For(stmt.target, stmt.iter, body, stmt.line))
            elif isinstance(stmt, While):
                # test_body; while test: body; test_body -- one test_body, printed twice: it
                # is emitted once, from element names, which hold the values at both places
                both = stmt.test_body + stmt.body
                self.flush()
                self.forget(both)
                out, self.out = self.out, []
                self.block(stmt.test_body)
                test = self.real(stmt.test, "test")
                self.flush()
                test_body, self.out = self.out, []
                self.block(stmt.body)
                self.flush()
                body, self.out = self.out, out
                self.forget(both)
                self.put(While(test_body, test, body, stmt.line))
            else:
                self.put(stmt)

    # --- values ------------------------------------------------------------------------------

    def value(self, a):
        if isinstance(a, Const):
            return py(a.value) if isinstance(a.value, np.generic) else a.value
        if isinstance(a, SliceAtom):
            parts = [None if p is None else self.value(p) for p in (a.lower, a.upper, a.step)]
            if any(p is BOTTOM for p in parts):
                if self.analysis:
                    raise _Bottom()
                raise Unsupported("an unknown slice bound")
            if not all(p is None or isinstance(p, int) for p in parts):
                raise Unsupported("a slice with runtime bounds")
            return slice(*parts)
        got = self.env.get(a.name)
        if got is None:
            dummy = self.fn.types.get(a.name, self.types.get(a.name))
            if isinstance(dummy, (float, int, bool, np.generic)):
                return El(a)
            return OPAQUE
        if isinstance(got, Exact):
            return got.value
        if got is PLACE:
            zeros = self.placeholder_zeros(a.name)
            return BOTTOM if zeros is None else zeros
        return got

    def placeholder_zeros(self, name):
        shape = self.shape.get(name)
        return None if shape is None else np.zeros(shape, dtype=object)

    def involved(self, stmt):
        """Does this statement touch a scalarized value (so it is evaluated here)?"""
        if isinstance(stmt, Assign) and (stmt.target in self.cand or stmt.op is TUPLE):
            return True
        for a in list(stmt.args) + list(stmt.kwargs.values()):
            for n in atom_vars(a):
                got = self.env.get(n)
                if got is not None and (not isinstance(got, El) or isinstance(got.atom, Const)):
                    return True
        return False

    def assign(self, stmt):
        op, target = stmt.op, stmt.target
        self.hint = target
        if op is NEW_STACK:
            if target in self.stacks and not self.analysis:
                for idx in np.ndindex(self.stack_shape[target]):
                    self.split[self.canon(target, idx)] = target
                    self.put(Assign(self.canon(target, idx), NEW_STACK, [], line=stmt.line))
                return
            self.put(stmt)
            return
        if op is APPEND:
            return self.append(stmt)
        if op is POP:
            return self.pop(stmt)
        if target in self.cand and (
            op is PLACEHOLDER
            or (op is COPY and isinstance(stmt.args[0], Var) and self.env.get(stmt.args[0].name) is PLACE)
        ):
            # a value the loop overwrites before reading (reverse mode's typed placeholders,
            # which share one: ``k2 = k1``): zeros of this name's own shape, when flushed
            self.env[target] = PLACE
            return
        if not self.involved(stmt):
            self.env.pop(target, None)
            self.put(stmt)
            return
        try:
            result = self.evaluate(stmt)
        except _Bottom:
            self.env[target] = BOTTOM
            return
        except Unsupported:
            return self.unsupported(stmt)
        except (TypeError, ValueError, IndexError, AttributeError, np.exceptions.AxisError):
            return self.unsupported(stmt)
        self.bind(stmt, result)

    def evaluate(self, stmt):
        args = [self.value(a) for a in stmt.args]
        kwargs = {k: self.value(v) for k, v in stmt.kwargs.items()}
        everything = args + list(kwargs.values())
        if any(v is BOTTOM for v in everything):
            if self.analysis:
                raise _Bottom()
            raise Unsupported("an unknown shape")
        if any(v is OPAQUE or v is STALE for v in everything):
            raise Unsupported("an array the pass does not see into")
        if any(isinstance(v, tuple) and any(x is OPAQUE or x is BOTTOM for x in v) for v in everything):
            raise Unsupported("a tuple holding an unknown array")
        self.fresh_temps = {}
        self.mark = len(self.out)
        return evaluate(stmt.op, args, kwargs)

    def bind(self, stmt, result):
        target = stmt.target
        if isinstance(result, Exact) or (
            isinstance(result, (int, tuple))
            and not isinstance(result, bool)
            and all_ints(result)
            and not isinstance(self.fn.types.get(target), (float, np.floating, np.ndarray))
        ):
            value = result.value if isinstance(result, Exact) else result
            self.put(Assign(target, COPY, [Const(value)], line=stmt.line))
            self.env[target] = Exact(value)
            return
        if isinstance(result, np.ndarray) and result.dtype != object:
            result = result.astype(object)
        if target in self.cand:
            if not isinstance(result, np.ndarray) or result.ndim == 0 or result.size > LIMIT:
                del self.out[self.mark :]
                return self.unsupported(stmt)
            if self.analysis and (
                self.new_shape.setdefault(target, result.shape) != result.shape
                or self.shape.get(target, result.shape) != result.shape
            ):  # another assignment gives it another shape: it stays an array
                self.cand.discard(target)
                self.env.pop(target, None)
                del self.out[self.mark :]
                self.put(stmt)
                return
            self.emit_array(target, result)
            return
        if isinstance(result, tuple):
            if target in self.needs_real:
                self.put(Assign(target, TUPLE, [self.real_value(v, target) for v in result], line=stmt.line))
            else:
                self.assigned(target)
            self.env[target] = result
            self.tuple_refs[target] = set(_names_in(result))
            return
        if isinstance(result, np.ndarray):  # an array for a name that stays an array
            del self.out[self.mark :]
            return self.unsupported(stmt)
        # a scalar
        atom = atom_of(result)
        if isinstance(atom, Const) and isinstance(self.fn.types.get(target), (float, np.floating)):
            atom = Const(float(atom.value))
        if (
            isinstance(atom, Var)
            and atom.name in self.fresh_temps
            and self.types.get(atom.name) is not False
            and self._renamable(atom.name, target)
        ):
            self._rename(atom.name, target)
        else:
            self.put(Assign(target, COPY, [atom], line=stmt.line))
        if isinstance(atom, Const):
            self.env[target] = El(atom)
        else:
            self.env.pop(target, None)

    def _renamable(self, temp, name):
        """May the statement computing ``temp`` assign ``name`` instead? Not if a statement
        of this evaluation reads ``temp``, or reads ``name``'s old value after it."""
        emitted = self.out[self.mark :]
        at = next(k for k, st in enumerate(emitted) if st is self.fresh_temps[temp])
        return not any(temp in reads(st) or (k > at and name in reads(st)) for k, st in enumerate(emitted))

    def _rename(self, temp, name):
        """The statement computing ``temp`` computes ``name`` instead (no copy)."""
        stmt = self.fresh_temps.pop(temp)
        stmt.target = name

    def emit_array(self, target, result):
        """``target`` is now ``result``. No copies: an element read from another name stays
        read from there (``put`` snapshots that name before anything overwrites it, and
        ``flush`` copies at control flow); a statement computed for one element alone is
        renamed to assign the element's own name, unless a later statement of this
        evaluation still reads that name's old value."""
        fresh = self.fresh_temps
        emitted = self.out[self.mark :]
        position = {st.target: k for k, st in enumerate(emitted) if isinstance(st, Assign)}
        last_read = {}
        for k, st in enumerate(emitted):
            for n in reads(st):
                last_read[n] = k
        counts = {}
        for el in result.flat:
            if isinstance(el, El) and isinstance(el.atom, Var):
                counts[el.atom.name] = counts.get(el.atom.name, 0) + 1
        renames = {}
        value = np.empty(result.shape, dtype=object)
        for idx in np.ndindex(result.shape):
            el = result[idx]
            if not isinstance(el, El):
                value[idx] = float(atom_of(el).value)
                continue
            a, name = el.atom, self.canon(target, idx)
            self.types[name] = 0.5
            if (
                isinstance(a, Var)
                and a.name in fresh
                and counts[a.name] == 1
                and last_read.get(a.name, -1) <= position[a.name]
                and last_read.get(name, -1) <= position[a.name]
            ):
                renames[a.name] = name
                value[idx] = El(Var(name), neg=el.neg)
            else:
                value[idx] = el
        self.env[target] = value  # (before the renames: its old value is not pending)
        if renames:
            del self.out[self.mark :]
            for st in emitted:
                if isinstance(st, Assign) and st.target in renames:
                    st.target = renames[st.target]
                    self.put(st)
                else:
                    self.out.append(st)
        self.register(target, value)
        self.fresh_temps = {}

    # --- in-place writes and stacks ---------------------------------------------------------

    def setitem(self, stmt):
        array = stmt.array
        self.hint = array
        if array in self.cand:
            current = self.env.get(array)
            try:
                if current is BOTTOM:
                    raise _Bottom()
                if not isinstance(current, np.ndarray):
                    raise Unsupported("write to an array not seen")
                index = [self.value(i) for i in stmt.index]
                value = self.value(stmt.value)
                if any(isinstance(i, El) for i in index) or value is OPAQUE:
                    raise Unsupported("a write at a runtime index")
                if value is BOTTOM:
                    raise _Bottom()
                self.fresh_temps, self.mark = {}, len(self.out)
                new = current.copy()
                new[tuple(index)] = value
            except _Bottom:
                self.env[array] = BOTTOM
                return
            except (Unsupported, TypeError, ValueError, IndexError):
                if self.analysis:
                    self.cand.discard(array)
                    self.env.pop(array, None)
                    self.put(stmt)
                    return
                raise _GiveUp(f"an in-place write to {array}")  # analysis removed it
            self.emit_array(array, new)
            return
        value = self.real(stmt.value, array)
        index = [self.real(i, array) for i in stmt.index]
        self.put(SetItem(array, index, value, stmt.line))

    def append(self, stmt):
        stack, item = stmt.args[0].name, stmt.args[1]
        got = self.value(item) if isinstance(item, Var) else None
        if stack in self.stacks:
            if got is BOTTOM:
                return
            if isinstance(got, np.ndarray):
                old = self.new_stack_shape.setdefault(stack, got.shape) if self.analysis else self.stack_shape[stack]
                if old == got.shape:
                    if not self.analysis:
                        for idx in np.ndindex(got.shape):
                            a = element_atom(got[idx])
                            self.put(Assign("_", APPEND, [Var(self.canon(stack, idx)), a], line=stmt.line))
                    return
            if self.analysis:
                self.stacks.discard(stack)
            else:
                raise _GiveUp(f"a stack of mixed values: {stack}")
        self.put(Assign("_", APPEND, [stmt.args[0], self.real(item, stack)], line=stmt.line))

    def pop(self, stmt):
        stack, target = stmt.args[0].name, stmt.target
        if stack in self.stacks:
            if target in self.cand:
                if self.analysis:
                    shape = self.stack_shape.get(stack) or self.new_stack_shape.get(stack)
                    if shape is None:
                        self.env[target] = BOTTOM
                        return
                    self.new_shape.setdefault(target, shape)
                    if self.new_shape[target] != shape:
                        self.cand.discard(target)
                        self.stacks.discard(stack)
                    self.env[target] = self.canonical(target, shape)
                    return
                shape = self.stack_shape[stack]
                names = [self.canon(target, idx) for idx in np.ndindex(shape)]
                for name in names:  # (snapshots first: the pops stay adjacent, a group)
                    self.before_assign(name)
                for idx, name in zip(np.ndindex(shape), names):
                    self.out.append(Assign(name, POP, [Var(self.canon(stack, idx))], line=stmt.line))
                    self.types[name] = 0.5
                for name in names:
                    self.assigned(name)
                self.env[target] = self.canonical(target, shape)
                return
            if self.analysis:
                self.stacks.discard(stack)
            else:
                raise _GiveUp(f"a stack popped into an array: {stack}")
        if target in self.cand:
            if self.analysis:
                self.cand.discard(target)
            else:
                raise _GiveUp(f"{target} popped from a stack of arrays")
        self.env.pop(target, None)
        self.put(stmt)

    # --- packing into arrays again ----------------------------------------------------------

    def unsupported(self, stmt):
        """Emit ``stmt`` as it is, its scalarized operands packed into arrays first."""
        if self.analysis:
            if stmt.target in self.cand:
                self.cand.discard(stmt.target)
            for a in list(stmt.args) + list(stmt.kwargs.values()):
                for n in atom_vars(a):
                    if isinstance(self.env.get(n), tuple) or self.env.get(n) is STALE:
                        self.needs_real.add(n)
        elif stmt.target in self.cand:
            raise _GiveUp(f"{stmt.target}: an operation the analysis had accepted")
        self.hint = stmt.target
        args = [self.real(a, stmt.target) for a in stmt.args]
        kwargs = {k: self.real(v, stmt.target) for k, v in stmt.kwargs.items()}
        self.env.pop(stmt.target, None)
        self.put(Assign(stmt.target, stmt.op, args, kwargs, stmt.line))

    def real(self, a, hint):
        """An atom for ``a`` that exists at runtime (a scalarized array packed again)."""
        if not isinstance(a, Var):
            return a
        got = self.env.get(a.name)
        if got is STALE:
            raise _GiveUp(f"{a.name}: a tuple read after its parts changed")
        if got is PLACE:
            name = self.names.fresh(f"{a.name}_placeholder")
            dummy = self.fn.types[a.name]
            self.put(Assign(name, PLACEHOLDER, [Const(("array", dummy.ndim, dummy.dtype.name))], line=self.line))
            self.types[name] = dummy
            return Var(name)
        if got is None or isinstance(got, El) or got is BOTTOM or got is OPAQUE:
            return a
        if isinstance(got, Exact):
            return Const(got.value)
        if isinstance(got, tuple) and a.name in self.needs_real:
            return a
        return self.real_value(got, hint)

    def real_value(self, v, hint):
        if isinstance(v, np.ndarray):
            name = self.names.fresh(f"{hint}_packed")
            self.put(Assign(name, np.empty, [Const(tuple(v.shape))], line=self.line))
            self.types[name] = dummy_array(v.ndim, np.float64)
            for idx in np.ndindex(v.shape):
                self.put(SetItem(name, [Const(i) for i in idx], element_atom(v[idx]), self.line))
            return Var(name)
        if isinstance(v, tuple):
            name = self.names.fresh(f"{hint}_tuple")
            self.put(Assign(name, TUPLE, [self.real_value(x, hint) for x in v], line=self.line))
            return Var(name)
        if isinstance(v, Exact):
            return Const(v.value)
        if isinstance(v, (El, int, float, bool, np.generic)):
            return atom_of(v)
        if isinstance(v, (str, slice)) or v is None:
            return Const(v)
        raise _GiveUp(f"cannot pack {type(v).__name__}")


def _names_in(v):
    if isinstance(v, np.ndarray):
        for x in v.flat:
            yield from _names_in(x)
    elif isinstance(v, tuple):
        for x in v:
            yield from _names_in(x)
    elif isinstance(v, El) and isinstance(v.atom, Var):
        yield v.atom.name


class _Bottom(Exception):
    """A value whose shape the analysis does not know yet."""


class _GiveUp(Exception):
    """The emission met what the analysis did not foresee: compile without this pass."""


TAPE, TOP = "s2sad_tape", "s2sad_top"


def shared_tape(fn: Function, split: dict) -> Function:
    """The element stacks of ``split`` (those simplify kept) as one growable float tape.

    Each Python list (one per element stack) adds to Numba's compile time, and RK4's reverse
    sweep had 33 of them; one float array does the same work (docs/PERFORMANCE.md). The
    reverse sweep pops each stack exactly in the mirror order of its pushes, so the pushes of
    all these stacks can share one tape: a stack of arrays pushes its elements as one group
    (``tape[top:top+k]``) and pops them as one group."""
    names = NameGen(all_names(fn))
    types = dict(fn.types)
    tape, top = names.fresh(TAPE), names.fresh(TOP)
    types[tape], types[top] = dummy_array(1, np.float64), 1
    used = [False]

    def offset(k, stmts, line):
        if k == 0:
            return Var(top)
        t = names.fresh("s2sad_at")
        types[t] = 1
        stmts.append(Assign(t, np.add, [Var(top), Const(k)], line=line))
        return Var(t)

    def pushes_ahead(stmts, k):
        """The pushes from ``stmts[k]`` up to the next pop or control flow: one reserve for
        them all (RK4's forward sweep: one per trip instead of 16)."""
        n = 0
        for stmt in stmts[k:]:
            kind = _stack_op(stmt, split)
            if isinstance(stmt, (If, For, While)) or (kind is not None and kind[0] == "pop"):
                break
            n += kind is not None
        return n

    def reserve_for_loop(loop):
        """Before a ``for`` loop whose body pushes the same elements every trip (no pushes
        under a branch, no pops): the tape for all its trips, reserved once (RK4's forward
        sweep: 32 elements a step; without it the tape doubled as it grew, up to twice the
        memory and a copy at each doubling)."""
        kinds = [_stack_op(st, split) for st in loop.body]
        nested = any(
            isinstance(st, (If, For, While)) and any(_stack_op(x, split) for x in walk([st])) for st in loop.body
        )
        pushes = sum(1 for kind in kinds if kind is not None and kind[0] == "push")
        if not pushes or nested or any(kind is not None and kind[0] == "pop" for kind in kinds):
            return []
        trips, need, end = names.fresh("s2sad_trips"), names.fresh("s2sad_need"), names.fresh("s2sad_end")
        types[trips] = types[need] = types[end] = 1
        return [
            Assign(trips, len, [loop.iter], line=loop.line),
            Assign(need, np.multiply, [Var(trips), Const(pushes)], line=loop.line),
            Assign(end, np.add, [Var(top), Var(need)], line=loop.line),
            Assign(tape, rt.reserve, [Var(tape), Var(end)], line=loop.line),
        ]

    def lower(stmts):
        out, k, reserved = [], 0, 0
        while k < len(stmts):
            stmt = stmts[k]
            if isinstance(stmt, Assign) and stmt.op is NEW_STACK and stmt.target in split:
                k += 1
                continue
            kind = _stack_op(stmt, split)
            if kind is None:
                if isinstance(stmt, (If, For, While)):
                    reserved = 0
                if isinstance(stmt, For):
                    out += reserve_for_loop(stmt)
                out.append(map_blocks(stmt, lower))
                k += 1
                continue
            group = [stmt]  # consecutive pushes (or pops) of one stack of arrays
            while k + len(group) < len(stmts) and _stack_op(stmts[k + len(group)], split) == kind:
                group.append(stmts[k + len(group)])
            k += len(group)
            used[0] = True
            line, n = stmt.line, len(group)
            if kind[0] == "push":
                if reserved < n:
                    reserved = pushes_ahead(stmts, k - n)
                    end = names.fresh("s2sad_end")
                    types[end] = 1
                    out.append(Assign(end, np.add, [Var(top), Const(reserved)], line=line))
                    out.append(Assign(tape, rt.reserve, [Var(tape), Var(end)], line=line))
                reserved -= n
                end = names.fresh("s2sad_end")
                types[end] = 1
                out.append(Assign(end, np.add, [Var(top), Const(n)], line=line))
                for j, push in enumerate(group):
                    out.append(SetItem(tape, [offset(j, out, line)], push.args[1], line))
                out.append(Assign(top, COPY, [Var(end)], line=line))
            else:
                reserved = 0
                out.append(Assign(top, np.subtract, [Var(top), Const(n)], line=line))
                for j, pop in enumerate(group):
                    out.append(Assign(pop.target, GETITEM, [Var(tape), offset(j, out, line)], line=line))
        return out

    # each stack's surviving elements (simplify drops unread ones whole), in order; a stack
    # is lowered only if every push and pop of it is one adjacent group of exactly those
    elements = {}
    for st in walk(fn.body):
        if isinstance(st, Assign) and st.op is NEW_STACK and st.target in split:
            elements.setdefault(split[st.target], []).append(st.target)
    ok = set(elements)
    for block in blocks(fn.body):
        k = 0
        while k < len(block):
            kind = _stack_op(block[k], split)
            if kind is None:
                k += 1
                continue
            n = 1
            while k + n < len(block) and _stack_op(block[k + n], split) == kind:
                n += 1
            if [st.args[0].name for st in block[k : k + n]] != elements.get(kind[1]):
                ok.discard(kind[1])
            k += n
    split = {e: whole for e, whole in split.items() if whole in ok}
    body = lower(fn.body)
    if not used[0]:
        return fn
    start = [Assign(tape, np.empty, [Const(64)]), Assign(top, COPY, [Const(0)])]
    out = fn.replace(body=start + body, types=types)
    return out


def _stack_op(stmt, split):
    """("push" | "pop", the stack of arrays) for a push to or pop from an element stack."""
    if isinstance(stmt, Assign) and stmt.op in (APPEND, POP) and isinstance(stmt.args[0], Var):
        whole = split.get(stmt.args[0].name)
        if whole is not None:
            return ("push" if stmt.op is APPEND else "pop", whole)
    return None


def try_scalarize(fn: Function, spec) -> Function | None:
    """``scalarize``, or None where it gives up: then the unscalarized code, the reference
    the pass must agree with, is compiled. Any failure of this optional pass gives up, so it
    can cost speed but never a result (tests/test_scalarize.py asserts where it must apply)."""
    if spec is None:
        return None
    try:
        return scalarize(fn, spec)
    except Exception:  # noqa: BLE001 - _GiveUp, or a case the pass does not handle yet
        return None
