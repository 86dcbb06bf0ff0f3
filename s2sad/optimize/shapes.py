"""Pass 8 (before structure.py): shapes known symbolically, and the copies they make useless.

Ranks are known per specialization, sizes are not: ``rt.broadcast_like(t, g)`` copies
``t`` (Numba cannot keep a broadcast view writable), ``rt.sum_to(g, x)`` and
``np.reshape`` of a Jacobian block are emitted because ``x`` *might* have a size-1 axis.
This pass names every axis of the top-level straight-line code with a symbolic dimension
and unifies dimensions that must be equal:

* the axes of float array arguments are assumed not to be 1 (checked on entry by
  ``rt.check_no_unit_dims``; the caller falls back to code built without this pass, see
  structure.py), so two such axes that broadcast against each other are the same size;
* ``x.shape``, ``x.size``, tuples of them and their concatenations are followed into
  ``reshape``, ``seed``, ``basis`` and ``zeros``.

Then ``broadcast_like``, ``sum_to`` and ``reshape`` whose result has the shape of their
operand become plain assignments, and a Jacobian block that ends as
``np.ascontiguousarray(np.transpose(v, perm))`` has the transpose sunk into the
elementwise operations that compute ``v`` (``sink_transposes``): the product is then
written in its final layout instead of being copied through a strided transpose.
"""

from __future__ import annotations

import operator
from collections import Counter

import numpy as np

from .. import runtime as rt
from ..ad.trace import Builder, building
from ..ir import (
    COPY,
    GETITEM,
    TUPLE,
    Assign,
    Const,
    For,
    NameGen,
    SetItem,
    SliceAtom,
    Var,
    all_names,
    atom_vars,
    reads,
    walk,
)


class _Dims:
    """Symbolic dimensions: union-find, each class with what is known of it (1, not 1, ?)."""

    def __init__(self):
        self.parent = []
        self.unit = []  # True: 1; False: not 1; None: unknown
        self.consts = {}
        self.shifts = {}  # (dimension, offset <= 0): dimension (see shifted)

    def new(self, unit=None):
        self.parent.append(len(self.parent))
        self.unit.append(unit)
        return len(self.parent) - 1

    def shifted(self, i, offset):
        """The dimension ``i + offset`` (offset <= 0): the length of ``x[a:]``, ``x[:b]`` or
        ``x[a:b]`` (a >= 0, b < 0) of an axis of length i, the same for the same offset
        (rosen's ``x[1:]`` and ``x[:-1]``). Its unit-ness is unknown."""
        if offset == 0:
            return i
        key = (self.find(i), offset)
        if key not in self.shifts:
            self.shifts[key] = self.new()
        return self.shifts[key]

    def const(self, value):
        if value not in self.consts:
            self.consts[value] = self.new(value == 1)
        return self.consts[value]

    def find(self, i):
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def same(self, i, j):
        return self.find(i) == self.find(j)

    def is_unit(self, i):
        return self.unit[self.find(i)] is True

    def not_unit(self, i):
        return self.unit[self.find(i)] is False

    def union(self, i, j):
        i, j = self.find(i), self.find(j)
        if i != j:
            self.parent[j] = i
            if self.unit[i] is None:
                self.unit[i] = self.unit[j]

    def broadcast(self, i, j):
        """The dimension of broadcasting i against j (unifying them where both are not 1)."""
        if self.same(i, j) or self.is_unit(j):
            return i
        if self.is_unit(i):
            return j
        if self.not_unit(i) and self.not_unit(j):
            self.union(i, j)
            return i
        if self.not_unit(i):
            return i  # j is 1 or i
        if self.not_unit(j):
            return j
        return self.new()


ELEMENTWISE_OPERATORS = (operator.add, operator.sub, operator.mul, operator.truediv, operator.pow, operator.neg)
SAME_SHAPE = (COPY, np.ascontiguousarray, np.copy, rt.astype, np.ones_like, np.zeros_like, np.empty_like)


def simplify_shapes(fn):
    """``fn`` with the broadcasts, sums and reshapes that change no shape made assignments,
    and the entry checks that the assumption needs (see the module docstring)."""
    written = written_in_place(fn.body)
    analysis = _Shapes(fn)
    body, changed = [], False
    for stmt in fn.body:
        if isinstance(stmt, Assign):
            new = analysis.rewrite(stmt, written)
            if new is not stmt:
                changed = True
            analysis.assign(new)
            body.append(new)
        else:
            for s in walk([stmt]):  # names assigned in control flow: nothing known
                if isinstance(s, (Assign, For)):
                    analysis.facts.pop(s.target, None)
                    analysis.forgotten.add(s.target)
            body.append(stmt)
    if not changed:
        return fn
    builder = Builder(dict(fn.types), NameGen(all_names(fn)))
    with building(builder, "checked"):
        for p in fn.params:
            d = fn.types.get(p)
            if isinstance(d, np.ndarray) and d.ndim and d.dtype.kind == "f":
                rt.check_no_unit_dims(builder.sym(p))
    return fn.replace(body=builder.stmts + body, types=builder.types)


class _Shapes:
    def __init__(self, fn):
        self.fn = fn
        self.dims = _Dims()
        self.facts = {}  # name -> tuple of dims (array or shape tuple) or a dim (an int)
        self.forgotten = set()
        for p in fn.params:
            d = fn.types.get(p)
            if isinstance(d, np.ndarray):
                known = False if d.dtype.kind == "f" else None
                self.facts[p] = tuple(self.dims.new(known) for _ in range(d.ndim))

    # --- facts -----------------------------------------------------------------------------

    def of(self, atom):
        """The fact about an atom: dims of an array or shape tuple, a dim for an int, or None."""
        if isinstance(atom, Var):
            return self.facts.get(atom.name)
        if isinstance(atom, Const):
            v = atom.value
            if isinstance(v, bool):
                return None
            if isinstance(v, int):
                return self.dims.const(v)
            if isinstance(v, float):
                return ()  # a scalar: rank 0
            if isinstance(v, tuple) and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
                return tuple(self.dims.const(x) for x in v)
        return None

    def array(self, atom):
        """Dims of an array or scalar operand (rank 0 for scalars), or None if unknown."""
        if isinstance(atom, Var):
            fact = self.facts.get(atom.name)
            if isinstance(fact, tuple):
                return fact
            dummy = self.fn.types.get(atom.name)
            if dummy is not None and not isinstance(dummy, (tuple, np.ndarray)):
                return ()  # a scalar
            return None
        if isinstance(atom, Const) and isinstance(atom.value, (int, float)):
            return ()
        return None

    def same(self, xs, ys):
        return (
            xs is not None
            and ys is not None
            and len(xs) == len(ys)
            and all(self.dims.same(a, b) for a, b in zip(xs, ys))
        )

    def assign(self, stmt):
        try:
            fact = self._infer(stmt)
        except (TypeError, ValueError, IndexError, KeyError):
            fact = None
        if fact is None:
            self.facts.pop(stmt.target, None)
        else:
            self.facts[stmt.target] = fact

    def _infer(self, stmt):
        op, args = stmt.op, stmt.args
        dims = self.dims
        dummy = self.fn.types.get(stmt.target)
        if op in SAME_SHAPE and args and not stmt.kwargs:
            return self.of(args[0])
        if op is np.shape:
            return self.array(args[0])
        if op is np.size:
            xs = self.array(args[0])
            if xs is None:
                return None
            if len(xs) == 1:
                return xs[0]
            return dims.const(1) if not xs else dims.new(False if all(dims.not_unit(d) for d in xs) else None)
        if op is TUPLE:
            parts = [self.of(a) for a in args]
            if any(p is not None and not isinstance(p, int) for p in parts):
                return None
            return tuple(dims.new() if p is None else p for p in parts)
        if op is operator.add and isinstance(dummy, tuple):
            left, right = self.of(args[0]), self.of(args[1])
            return left + right if isinstance(left, tuple) and isinstance(right, tuple) else None
        if op is GETITEM:
            return self._getitem(stmt, dummy)
        if _elementwise(op) and not stmt.kwargs:
            shapes = [self.array(a) for a in args]
            if any(s is None for s in shapes):
                return None
            nd = max(len(s) for s in shapes)
            out = [None] * nd
            for s in shapes:
                for k, d in enumerate(s):
                    pos = nd - len(s) + k
                    out[pos] = d if out[pos] is None else dims.broadcast(out[pos], d)
            return tuple(d if d is not None else dims.const(1) for d in out)
        if op is np.transpose:
            xs = self.array(args[0])
            axes = stmt.kwargs.get("axes", args[1] if len(args) > 1 else None)
            if xs is None:
                return None
            if axes is None or axes == Const(None):
                return tuple(reversed(xs))
            if isinstance(axes, Const) and isinstance(axes.value, tuple):
                return tuple(xs[k] for k in axes.value)
            return None
        if op is np.matmul:
            a, b = self.array(args[0]), self.array(args[1])
            if a is None or b is None or not (1 <= len(a) <= 2 and 1 <= len(b) <= 2):
                return None
            dims.union(a[-1], b[0])
            return a[:-1] + b[1:]
        if op is np.reshape:
            shape = self.of(args[1]) if len(args) > 1 else None
            if isinstance(shape, int):
                return (shape,)
            if isinstance(shape, tuple) and not any(dims.same(d, dims.const(-1)) for d in shape):
                return shape
            return None
        if op in (np.zeros, np.ones, np.empty) and args:
            shape = self.of(args[0])
            return (shape,) if isinstance(shape, int) else shape
        if op is rt.seed:
            total, xs = self.of(args[2]), self.array(args[0])
            return (total,) + xs if isinstance(total, int) and xs is not None else None
        if op is rt.basis:
            xs = self.array(args[0])
            if xs is None:
                return None
            size = xs[0] if len(xs) == 1 else dims.new(False if all(dims.not_unit(d) for d in xs) else None)
            return (size,) + xs if xs else (dims.const(1),)
        if op is rt.sum_to:
            g, x = self.array(args[0]), self.array(args[1])
            if g is None or x is None:
                return None
            return g[: len(g) - len(x)] + x
        if op is rt.broadcast_like:
            t, g = self.array(args[0]), self.array(args[1])
            if t is None or g is None:
                return None
            lead = len(t) - len(g)
            return t[:lead] + tuple(dims.broadcast(a, b) for a, b in zip(t[lead:], g))
        if op is rt.add_batch_axis:
            t = self.array(args[0])
            return (dims.const(1),) + t if t is not None else None
        if op in (rt.scatter, rt.scatter_add) and isinstance(dummy, np.ndarray):
            if op is rt.scatter_add:
                return self.array(args[0])
            ct, xs = self.array(args[0]), self.array(args[1])
            lead = dummy.ndim - len(xs) if xs is not None else -1
            return ct[:lead] + xs if ct is not None and 0 <= lead <= len(ct) else None
        if op is np.sum and len(args) == 1:
            xs = self.array(args[0])
            axis = stmt.kwargs.get("axis")
            if xs is None:
                return None
            if axis is None:
                return ()
            if isinstance(axis, Const) and isinstance(axis.value, int):
                k = axis.value % len(xs)
                return xs[:k] + xs[k + 1 :]
            return None
        return None

    def _getitem(self, stmt, dummy):
        base, index = stmt.args[0], stmt.args[1:]
        fact = self.of(base)
        dims = self.dims
        if isinstance(self.fn.types.get(base.name) if isinstance(base, Var) else None, tuple):
            if not isinstance(fact, tuple) or len(index) != 1 or not isinstance(index[0], (Const, SliceAtom)):
                return None
            i = index[0]
            if isinstance(i, Const) and isinstance(i.value, int):
                return fact[i.value]
            if isinstance(i, SliceAtom) and all(p is None or isinstance(p, Const) for p in (i.lower, i.upper, i.step)):
                return fact[slice(*(None if p is None else p.value for p in (i.lower, i.upper, i.step)))]
            return None
        xs = self.array(base)
        if xs is None or not isinstance(dummy, np.ndarray):
            return None
        out, k = [], 0
        for i in index:
            if i == Const(None):
                out.append(dims.const(1))
            elif i == Const(Ellipsis):
                rest = len(xs) - k - sum(1 for j in index[index.index(i) + 1 :] if j != Const(None))
                out += xs[k : k + rest]
                k += rest
            elif isinstance(i, SliceAtom):
                offset = _slice_offset(i)
                out.append(dims.new() if offset is None else dims.shifted(xs[k], offset))
                k += 1
            elif (
                isinstance(i, (Var, Const))
                and np.ndim(self.fn.types.get(i.name) if isinstance(i, Var) else i.value) == 0
            ):
                k += 1  # an integer index drops the axis
            else:
                return None
        out += xs[k:]
        return tuple(out) if len(out) == dummy.ndim else None

    # --- rewrites --------------------------------------------------------------------------

    def rewrite(self, stmt, written):
        op, args = stmt.op, stmt.args
        alias_ok = stmt.target not in written and not any(isinstance(a, Var) and a.name in written for a in args[:1])
        if op is rt.broadcast_like and alias_ok:
            t, g = self.array(args[0]), self.array(args[1])
            if t is not None and g is not None and len(t) >= len(g) and self.same(t[len(t) - len(g) :], g):
                return Assign(stmt.target, COPY, [args[0]], {}, stmt.line)
        if op is rt.sum_to and alias_ok:
            g, x = self.array(args[0]), self.array(args[1])
            if (
                g is not None
                and x is not None
                and len(g) >= len(x)
                and all(self.dims.not_unit(d) or self.dims.same(d, e) for d, e in zip(x, g[len(g) - len(x) :]))
            ):
                return Assign(stmt.target, COPY, [args[0]], {}, stmt.line)
        if op is np.reshape and len(args) == 2 and not stmt.kwargs:
            xs, shape = self.array(args[0]), self.of(args[1])
            if isinstance(shape, int):
                shape = (shape,)
            if isinstance(shape, tuple) and self.same(xs, shape):
                return Assign(stmt.target, COPY, [args[0]], {}, stmt.line)
        return stmt


# --- adjoints of slices added in place -------------------------------------------------------------


def accumulate_scatters(fn):
    """``a + rt.scatter(ct, x, i)``, where ``a`` is a fresh zero-based array nothing else reads
    (itself a scatter, or such a sum) of the same shape, made ``rt.scatter_add(a, ct, x, i)``:
    the contribution is added into ``a`` in place, not written into a new array of zeros and
    then added (rosen's gradient sums three slices of its adjoint). For compiled code only:
    derivative code is differentiated again before this, and reverse mode has no rule for an
    in-place accumulator. Top-level straight-line code only."""
    body = list(fn.body)
    readers, current = {}, {}  # each definition (by position): the positions that read it
    for k, stmt in enumerate(body):
        names = [n for s in walk([stmt]) for n in reads(s)]
        for n in names:
            if n in current:
                readers[current[n]].append(k)
        for s in walk([stmt]):
            if isinstance(s, (Assign, For)):
                target = s.target
                current[target] = k if s is stmt else ("nested", k)
                readers.setdefault(current[target], [])
            elif isinstance(s, SetItem) and s.array in current:
                readers[current[s.array]].append(k)  # written in place: not fresh
    analysis = _Shapes(fn)
    fresh = set()  # positions whose value is a zero-based accumulator only its one reader uses
    dropped, rewritten, changed = set(), set(), False
    at = {}  # name: the position of its current definition
    for k, stmt in enumerate(body):
        if (
            isinstance(stmt, Assign)
            and stmt.op is np.add
            and len(stmt.args) == 2
            and not stmt.kwargs
            and all(isinstance(a, Var) for a in stmt.args)
        ):
            sources = [at.get(a.name) for a in stmt.args]
            for acc, part in ((0, 1), (1, 0)):
                a, c = sources[acc], sources[part]
                if a is None or c is None or a not in fresh or readers.get(a) != [k] or readers.get(c) != [k]:
                    continue
                scatter = body[c]
                if not (isinstance(scatter, Assign) and scatter.op is rt.scatter) or c in dropped:
                    continue
                # the scatter's operands mean the same at k as at c
                operands = {n for x in scatter.args for n in atom_vars(x)}
                if any(not isinstance(body[j], (Assign, SetItem)) for j in range(c + 1, k)) or any(
                    (body[j].target if isinstance(body[j], Assign) else body[j].array) in operands
                    or (
                        isinstance(body[j], Assign)
                        and body[j].op is rt.scatter_add
                        and body[j].args[0].name in operands
                    )
                    for j in range(c + 1, k)
                ):
                    continue
                shapes = [analysis.array(Var(stmt.args[acc].name)), analysis.array(Var(stmt.args[part].name))]
                if not analysis.same(shapes[0], shapes[1]):
                    continue
                stmt = Assign(stmt.target, rt.scatter_add, [stmt.args[acc], *scatter.args], {}, stmt.line)
                body[k] = stmt
                dropped.add(c)
                rewritten.add(k)
                changed = True
                break
        if isinstance(stmt, Assign):
            source = at.get(stmt.args[0].name) if stmt.op is COPY and isinstance(stmt.args[0], Var) else None
            if stmt.op is rt.scatter or k in rewritten or (source in fresh and readers.get(source) == [k]):
                fresh.add(k)
            analysis.assign(stmt)
            at[stmt.target] = k
        else:
            for s in walk([stmt]):
                if isinstance(s, (Assign, For)):
                    analysis.facts.pop(s.target, None)
                    analysis.forgotten.add(s.target)
                    at.pop(s.target, None)
    if not changed:
        return fn
    return fn.replace(body=[s for k, s in enumerate(body) if k not in dropped])


def _slice_offset(i):
    """``len(x[i]) - len(x)`` for a slice ``i`` whose result's length is ``len(x)`` plus a
    constant (``[a:]``, ``[:b]``, ``[a:b]`` with a >= 0, b < 0, step 1); None otherwise."""
    lower, upper, step = (
        None if p is None else p.value if isinstance(p, Const) else i for p in (i.lower, i.upper, i.step)
    )
    if step not in (None, 1) or lower is i or upper is i:
        return None
    lower = 0 if lower is None else lower
    if not (isinstance(lower, int) and lower >= 0 and (upper is None or (isinstance(upper, int) and upper < 0))):
        return None
    return -lower + (upper or 0)


# --- transposes sunk into the elementwise operations that feed them --------------------------------


def sink_transposes(fn):
    """``c = np.ascontiguousarray(np.transpose(v, perm))`` with ``v`` computed (only for this)
    by elementwise operations: the operations compute the transposed result directly, their
    operands read through transposed views (the transposed read of a small operand is cheap;
    the strided copy of a large result is not)."""
    body = fn.body
    uses = Counter(n for s in walk(body) for n in reads(s))
    defs = {s.target: s for s in body if isinstance(s, Assign)}
    once = assigned_once(fn)
    targets = [
        s
        for s in body
        if isinstance(s, Assign)
        and s.op is np.ascontiguousarray
        and isinstance(s.args[0], Var)
        and s.args[0].name in defs
        and defs[s.args[0].name].op is np.transpose
        and uses[s.args[0].name] == 1
    ]
    if not targets:
        return fn
    builder = Builder(dict(fn.types), NameGen(all_names(fn)))
    position = {id(s): k for k, s in enumerate(body)}
    sunk = {}
    with building(builder, "t"):
        for stmt in targets:
            t = defs[stmt.args[0].name]
            perm = _perm(t, fn.types)
            if perm is None:
                continue
            builder.stmts = []
            builder.hint = stmt.target
            sinker = _Sinker(builder, defs, uses, once, position[id(stmt)], position)
            value = sinker.sink(t.args[0], perm, top=True)
            if value is None:
                continue
            sunk[id(stmt)] = builder.stmts + [Assign(stmt.target, COPY, [value], {}, stmt.line)]
    if not sunk:
        return fn
    body = [x for s in body for x in (sunk.get(id(s)) or [s])]
    return fn.replace(body=body, types=builder.types)


def _elementwise(op):
    """A ufunc applied element by element (np.matmul is a ufunc with a core signature)."""
    return (isinstance(op, np.ufunc) and op.signature is None) or op in ELEMENTWISE_OPERATORS or op is rt.scale_nz


def assigned_once(fn):
    """Names (parameters included) assigned exactly once and never written in place: their
    value is the same wherever they are read after their definition."""
    counts = Counter(fn.params)
    for s in walk(fn.body):
        if isinstance(s, (Assign, For)):
            counts[s.target] += 1
    written = written_in_place(fn.body)
    return {n for n, c in counts.items() if c == 1 and n not in written}


def written_in_place(body):
    """Names some statement writes into (``x[i] = v``, reverse mode's scatter_add)."""
    names = {s.array for s in walk(body) if isinstance(s, SetItem)}
    return names | {s.args[0].name for s in walk(body) if isinstance(s, Assign) and s.op is rt.scatter_add}


def _perm(t, types):
    x = t.args[0]
    nd = np.ndim(types[x.name]) if isinstance(x, Var) else 0
    axes = t.kwargs.get("axes", t.args[1] if len(t.args) > 1 else None)
    if axes is None or axes == Const(None):
        return tuple(reversed(range(nd)))
    if isinstance(axes, Const) and isinstance(axes.value, tuple):
        return tuple(k % nd for k in axes.value)
    return None


class _Sinker:
    def __init__(self, builder, defs, uses, once, at, position):
        self.b = builder
        self.defs = defs
        self.uses = uses
        self.once = once
        self.at = at  # the position of the statement being rewritten
        self.position = position

    def _stable(self, atom):
        """An atom whose value at ``self.at`` is the one its definition computed."""
        return not isinstance(atom, Var) or atom.name in self.once

    def sink(self, atom, perm, top=False):
        """An atom holding ``np.transpose(atom, perm)`` computed without a transposed copy.
        At the top (the value a Jacobian block is made of) only a new array will do: None
        where the chain does not end in an elementwise operation."""
        if perm == tuple(range(len(perm))) and not top:
            return atom
        if not isinstance(atom, Var) or not self._stable(atom):
            return None if top else self._view(atom, perm)
        d = self.defs.get(atom.name)
        single = d is not None and self.uses[atom.name] == 1 and self.position.get(id(d), 1 << 30) < self.at
        if single and all(self._stable(a) for a in d.args) and not d.kwargs:
            if d.op in (COPY, np.ascontiguousarray) and isinstance(d.args[0], Var):
                return self.sink(d.args[0], perm, top)
            if d.op is np.transpose:
                inner = _perm(d, self.b.types)
                if inner is not None:
                    return self.sink(d.args[0], tuple(inner[k] for k in perm), top)
            if _elementwise(d.op) and isinstance(d.op, np.ufunc) and d.op.nin == len(d.args) and d.op.nout == 1:
                nd = len(perm)
                operands = [self._padded(a, perm, nd) for a in d.args]
                return _atom(self.b.emit(d.op, operands))
        return None if top else self._view(atom, perm)

    def _view(self, atom, perm):
        return _atom(np.transpose(self.b.sym(atom.name), perm))

    def _padded(self, atom, perm, nd):
        """``np.transpose(a[None, ..., None ...], perm)`` for an operand of lower rank that
        broadcasts against the result: its own axes transposed, size-1 axes inserted."""
        r = np.ndim(self.b.types[atom.name]) if isinstance(atom, Var) else 0
        if r == 0:
            return atom
        pad = nd - r
        own = [perm[k] - pad for k in range(nd) if perm[k] >= pad]  # its axes, in the new order
        value = self.sink(atom, tuple(own)) if own != sorted(own) else atom
        if pad == 0:
            return value
        index = tuple(None if perm[k] < pad else slice(None) for k in range(nd))
        return _atom(self.b.sym(value.name)[index]) if isinstance(value, Var) else value


def _atom(sym):
    return Var(sym.name) if hasattr(sym, "name") else sym
