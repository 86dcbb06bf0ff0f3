"""Pass 8 (after simplify): identity seeds kept diagonal.

``jacfwd`` seeds a vector argument with the identity (``rt.seed``), ``jacrev`` a vector
output (``rt.basis``). The batched derivative code then multiplies, sums and
matrix-multiplies n x n arrays that are diagonal: the Jacobian of ``tanh(W @ x + b)`` in
the "wrong" mode costs n times the closed form, a Hessian m times more than it needs.

This pass follows such values through the top-level straight-line code as *diagonal
values*: an array ``A`` with two axes ``a < p`` of the same length n and

    A[..., i, ..., j, ...] = (i == j) * D[..., i, ...]      (i on axis a, j on axis p)

where ``D`` has A's shape without axis p, *exactly* (it is never broadcast). A rule computes
the new ``D`` in time O(D.size) where the code computed ``A`` in O(n * D.size):

    seed / basis of a vector      D = ones
    A * v, A / v, -A, A1 +- A2    D = D * v' ...  (v' = v on the diagonal)
    sum_to, broadcast_like        A (guarded: nothing is broadcast)
    transpose, copies             D permuted / A
    A @ M, M @ A (2-D)            dense: D[:, None] * M, M * D (this ends the chain)

Any other use of a diagonal value gets the original statements, emitted just before it
(the value is *materialized*), so code the rules do not cover runs as it was written. A
name is followed only if it is assigned once and never written in place, so the original
statements can be replayed later.

Guards: the rules assume n > 1 and that ``sum_to``/``broadcast_like`` broadcast nothing
(no size-1 axes where they look). ``rt.check_diag``/``rt.check_no_unit_dims`` check this
at run time and raise ``StructureMiss``; the caller then runs code built without this pass
(``pipeline.build(..., plain=True)``). ``Options.structure=False`` (``S2SAD_NO_STRUCTURE=1``)
turns the pass off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import runtime as rt
from ..ad.trace import Builder, Sym, building
from ..ir import COPY, Assign, Const, For, If, NameGen, Var, While, all_names, atom_vars, reads, walk
from .shapes import assigned_once


@dataclass(frozen=True)
class Diag:
    d: Sym  # the diagonal: A's shape without axis p, exactly
    a: int
    p: int
    nd: int  # A's rank


def exploit_seeds(fn):
    """``fn`` with identity seeds followed as diagonal values (see the module docstring)."""
    if not any(isinstance(s, Assign) and (s.op is rt.seed or s.op is rt.basis) for s in fn.body):
        return fn
    once = assigned_once(fn)
    builder = Builder(dict(fn.types), NameGen(all_names(fn)))
    pass_ = _Pass(builder, once)
    with building(builder, "diag"):
        for stmt in fn.body:
            pass_.statement(stmt)
    if not pass_.used:
        return fn
    return fn.replace(body=builder.stmts, types=builder.types)


class _Pass:
    def __init__(self, builder, once):
        self.b = builder
        self.once = once
        self.defs = {}  # name -> its (single, top-level) Assign
        self.diag = {}  # name -> Diag
        self.origin = {}  # name of a diagonal value -> the statement that computed it densely
        self.done = set()  # diagonal values whose dense value has been emitted
        self.used = False

    # --- the walk ------------------------------------------------------------------------

    def statement(self, stmt):
        self.b.line = getattr(stmt, "line", None)
        if isinstance(stmt, Assign):
            if stmt.target in self.once:
                self.defs[stmt.target] = stmt
            if self._rewrite(stmt):
                self.used = True
                return
        for name in _all_reads(stmt):
            self.materialize(name)
        self.b.append(stmt)

    def materialize(self, name):
        """Emit the dense value of a diagonal value (its original statements) if not yet."""
        if name not in self.diag or name in self.done:
            return
        stmt = self.origin[name]
        for n in reads(stmt):
            self.materialize(n)
        self.b.append(stmt)
        self.done.add(name)

    def _rewrite(self, stmt) -> bool:
        """Apply a rule: True if ``stmt`` is now a diagonal value or was replaced."""
        diag_args = [a for a in stmt.args if isinstance(a, Var) and a.name in self.diag]
        if not diag_args and stmt.op is not rt.seed and stmt.op is not rt.basis:
            return False
        self.b.hint = stmt.target + "_diag"
        try:
            result = self._rule(stmt)
        except _NoRule:
            return False
        if result is None:
            return False
        if isinstance(result, Diag):
            self.diag[stmt.target] = result
            self.origin[stmt.target] = stmt
        return True

    # --- rules ---------------------------------------------------------------------------

    def _rule(self, stmt):
        op, args = stmt.op, stmt.args
        keeps = self._keeps(stmt)
        if op is rt.seed and keeps and self._is_identity_seed(args):
            x = self.b.sym(args[0].name)
            self._guard(rt.check_diag, self.b.sym(args[2].name))
            return Diag(np.ones_like(x), 0, 1, 2)
        if op is rt.basis and keeps and len(args) == 1 and self._vector(args[0]):
            y = self.b.sym(args[0].name)
            self._guard(rt.check_diag, np.size(y))
            return Diag(np.ones_like(y), 0, 1, 2)
        if stmt.kwargs and op is not np.transpose:
            return None
        if op is np.matmul:  # a dense result: no need to keep anything
            return self._matmul(stmt)
        if not keeps:
            return None
        if op is COPY or op is np.ascontiguousarray or op is np.copy:
            return self.diag[args[0].name]
        if op is np.negative:
            A = self.diag[args[0].name]
            return Diag(-A.d, A.a, A.p, A.nd)
        if op in (np.multiply, np.true_divide, np.add, np.subtract) and len(args) == 2:
            return self._binary(op, *args)
        if op is rt.sum_to:
            A, x = self._get(args[0]), args[1]
            if A is None or self._get(x) is not None:
                return None
            if self._ndim(x):
                self._guard(rt.check_no_unit_dims, self.b.sym(x.name))
            return A
        if op is rt.broadcast_like:
            A, g = self._get(args[0]), args[1]
            if A is None or self._get(g) is not None:
                return None
            if self._ndim(g):
                self._guard(rt.check_no_unit_dims, A.d)
            return A
        if op is np.transpose:
            return self._transpose(stmt)
        return None

    def _guard(self, check, value):
        hint, self.b.hint = self.b.hint, "checked"
        check(value)
        self.b.hint = hint

    def _is_identity_seed(self, args):
        """``rt.seed(x, 0, n)`` with x a vector and n = x.size: the identity."""
        if len(args) != 3 or not self._vector(args[0]) or args[1] != Const(0) or not isinstance(args[2], Var):
            return False
        d = self._def(args[2].name)
        return d is not None and d.op is np.size and d.args == [args[0]]

    def _def(self, name):
        """The statement that computed ``name``, through copies."""
        d = self.defs.get(name)
        while d is not None and d.op is COPY and isinstance(d.args[0], Var):
            d = self.defs.get(d.args[0].name)
        return d

    def _vector(self, atom):
        if not isinstance(atom, Var) or atom.name not in self.once:
            return False
        dummy = self.b.types[atom.name]
        return isinstance(dummy, np.ndarray) and dummy.ndim == 1 and dummy.dtype.kind == "f"

    def _get(self, atom):
        return self.diag.get(atom.name) if isinstance(atom, Var) else None

    def _ndim(self, atom):
        if isinstance(atom, Var):
            dummy = self.b.types[atom.name]
            return np.ndim(dummy) if not isinstance(dummy, tuple) else None
        return np.ndim(atom.value) if not isinstance(atom.value, tuple) else None

    def _dense(self, atom):
        """The operand as a value a rule can use (a Sym or a number), or _NoRule."""
        if isinstance(atom, Var):
            if atom.name in self.diag:
                raise _NoRule
            dummy = self.b.types[atom.name]
            if isinstance(dummy, tuple) or not isinstance(dummy, (np.ndarray, np.number, float, int)):
                raise _NoRule
            return self.b.sym(atom.name)
        if isinstance(atom, Const) and isinstance(atom.value, (int, float)) and not isinstance(atom.value, bool):
            return atom.value
        raise _NoRule

    def _binary(self, op, left, right):
        A, B = self._get(left), self._get(right)
        if A is not None and B is not None:
            if op is np.true_divide:
                return None
            aligned = _align(A, B)
            if aligned is None or (op is not np.multiply and A.nd != B.nd):
                return None
            return Diag(op(A.d, B.d), *aligned)
        if op in (np.add, np.subtract):
            return None  # a diagonal plus a dense value is dense
        if A is None:
            if op is np.true_divide:
                return None
            A, v = B, self._dense(left)
        else:
            v = self._dense(right)
        restricted = self._restrict(A, v)
        if restricted is None:
            return None
        v, nd, a, p = restricted
        return Diag(op(A.d, v) if A is self._get(left) else op(v, A.d), a, p, nd)

    def _restrict(self, A, v):
        """``v`` (broadcast against A) on A's diagonal, in the reduced coordinates of the
        product: (v', rank, a, p) of the result, or None where v spans axis a."""
        nd_v = np.ndim(v.dummy) if isinstance(v, Sym) else 0
        nd = max(A.nd, nd_v)
        s = nd - A.nd
        a, p = A.a + s, A.p + s
        q = nd - nd_v  # the first axis v covers
        if q <= a:
            return None  # v varies along the seed axis: it would need v's diagonal
        if q > p:
            return v, nd, a, p
        # v covers axis p, not axis a: its axis p goes to the reduced axis a, then size-1
        # axes for the axes a+1 .. q-1 it does not cover, then its other axes in order
        k = p - q
        perm = (k,) + tuple(j for j in range(nd_v) if j != k)
        if perm != tuple(range(nd_v)):
            v = np.transpose(v, perm)
        gap = q - a - 1
        if gap:
            v = v[(slice(None),) + (None,) * gap + (Ellipsis,)]
        return v, nd, a, p

    def _matmul(self, stmt):
        left, right = stmt.args
        A, B = self._get(left), self._get(right)
        if A is not None and B is not None:
            if A.nd != 2 or B.nd != 2 or not self._keeps(stmt):
                return None
            return Diag(A.d * B.d, 0, 1, 2)
        if A is not None:  # (n, n) @ M: row i of M scaled by D[i]
            if A.nd != 2:
                return None
            m = self._dense(right)
            value = A.d[:, None] * m if m.ndim == 2 else A.d * m
        else:  # M @ (n, n): column j of M scaled by D[j]
            if B.nd != 2:
                return None
            m = self._dense(left)
            value = m * B.d
        _rename(self.b, value, stmt.target)
        return True

    def _keeps(self, stmt):
        """Can the statement be replayed later (its target and operands never change)?"""
        return stmt.target in self.once and all(
            n in self.once for a in [*stmt.args, *stmt.kwargs.values()] for n in atom_vars(a)
        )

    def _transpose(self, stmt):
        A = self._get(stmt.args[0])
        axes = stmt.kwargs.get("axes", stmt.args[1] if len(stmt.args) > 1 else None)
        if A is None or (axes is not None and not isinstance(axes, Const)):
            return None
        perm = (
            tuple(reversed(range(A.nd))) if axes is None or axes.value is None else tuple(k % A.nd for k in axes.value)
        )
        where = {old: new for new, old in enumerate(perm)}
        a2, p2 = sorted((where[A.a], where[A.p]))
        reduced = []
        for k in range(A.nd):
            if k == p2:
                continue
            j = perm[k]
            reduced.append(A.a if j in (A.a, A.p) else (j if j < A.p else j - 1))
        d = A.d if reduced == sorted(reduced) else np.transpose(A.d, tuple(reduced))
        return Diag(d, a2, p2, A.nd)


class _NoRule(Exception):
    pass


def _align(A, B):
    """(a, p, rank) of A op B when both are diagonal on the same axes after broadcasting."""
    nd = max(A.nd, B.nd)
    sa, sb = nd - A.nd, nd - B.nd
    if (A.a + sa, A.p + sa) != (B.a + sb, B.p + sb):
        return None
    return A.a + sa, A.p + sa, nd


def _all_reads(stmt):
    if isinstance(stmt, (If, For, While)):
        return [n for s in [stmt, *walk([stmt])] for n in reads(s)]
    return reads(stmt)


def _rename(builder, value, target):
    """Make the last statement (which computed ``value``) define ``target`` instead."""
    stmt = builder.stmts[-1]
    assert isinstance(value, Sym) and isinstance(stmt, Assign) and stmt.target == value.name
    builder.types[target] = builder.types.pop(stmt.target)
    stmt.target = target
