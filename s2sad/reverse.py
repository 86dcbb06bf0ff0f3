"""Pass 5r: adjoint (reverse-mode) code, batched over seeds.

A forward sweep runs the primal statements; then the statements are visited in reverse and
each one's adjoint rule adds its contributions into ``x_bar`` (shape ``(B,) + x.shape``).
Accumulation and undoing broadcasting are done here, once, not in the rules. Only values
that depend on a differentiated input (activity) receive adjoints.

Straight-line code only for now: the values the reverse sweep reads are still there because
normalize renamed every reassignment. Loops, branches and in-place writes in reverse mode
raise (use jacfwd, which supports them).
"""

from __future__ import annotations

import numpy as np

from . import rules
from .activity import varied_names
from .errors import UnsupportedError
from .forward import PACKED, Derivative
from .ir import GETITEM, TUPLE, Assign, For, If, Return, SetItem, Var, While
from .runtime import sum_to
from .trace import building, copy_to


class Reverse(Derivative):
    suffix = "_bar"

    def __init__(self, fn, builder, varied):
        super().__init__(fn, builder)
        self.varied = varied
        self.bars = {}

    def is_varied(self, atom):
        return isinstance(atom, Var) and atom.name in self.varied

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
        with building(self.b, self.deriv_name(name)):
            old = self.bars.get(name)
            if old is None:
                self.bars[name] = copy_to(self.b.names.fresh(self.deriv_name(name)), contribution)
            else:
                self.b.mark = len(self.b.stmts)
                total = old + contribution
                self.bars[name] = copy_to(self.b.names.fresh(self.deriv_name(name)), total)

    # --- sweeps -----------------------------------------------------------------------------

    def forward_sweep(self, stmts):
        for stmt in stmts:
            self.b.line = stmt.line
            if isinstance(stmt, Assign):
                self.b.emit(stmt.op, stmt.args, stmt.kwargs, target=stmt.target)
                if stmt.op is TUPLE:
                    self.tuples[stmt.target] = list(stmt.args)
            elif isinstance(stmt, Return):
                return stmt
            elif isinstance(stmt, (If, For, While)):
                kind = {If: "if/else", For: "for loop", While: "while loop"}[type(stmt)]
                raise UnsupportedError(
                    f"{self.where(stmt)}: {kind} in reverse mode (jacrev/grad/vjp): not supported yet; "
                    "use jacfwd or jvp, which support it"
                )
            elif isinstance(stmt, SetItem):
                raise UnsupportedError(
                    f"{self.where(stmt)}: in-place write {stmt.array}[...] = ... in reverse mode: "
                    "not supported yet; use jacfwd or jvp, which support it"
                )
        raise UnsupportedError(f"{self.where(None)}: function without return")

    def backward_sweep(self, stmts):
        for stmt in reversed(stmts):
            if isinstance(stmt, Assign) and stmt.target in self.bars and stmt.op is not TUPLE:
                self.b.line = stmt.line
                self.adjoint(stmt, self.bars[stmt.target])

    def adjoint(self, stmt, y_bar):
        if stmt.op in rules.NONDIFFERENTIABLE:
            return
        if stmt.op is GETITEM and isinstance(stmt.args[0], Var) and stmt.args[0].name in self.tuples:
            self.accumulate(self.tuples[stmt.args[0].name][stmt.args[1].value], y_bar)
            return
        if stmt.op in rules.ELEMENTWISE:
            self.elementwise(stmt, y_bar)
            return
        table = rules.ADJOINT_RULES.get(stmt.op, {})
        some_rule = next(iter(table.values()), None)
        if some_rule is None:
            raise self.missing(stmt, "adjoint")
        _, params = self.bind(some_rule, stmt, lambda params: {})
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
            kwargs, _ = self.bind(rule, stmt, lambda params: {})
            with building(self.b, self.deriv_name(atom.name)):
                self.b.mark = len(self.b.stmts)
                contribution = rule(y_bar=y_bar, **kwargs)
            self.accumulate(atom, contribution)

    def _active(self, atom):
        if not isinstance(atom, Var):
            return False
        if atom.name in self.tuples:
            return any(self._active(a) for a in self.tuples[atom.name])
        return atom.name in self.varied

    def elementwise(self, stmt, y_bar):
        partials_fn = rules.ELEMENTWISE[stmt.op]
        kwargs, params = self.bind(partials_fn, stmt, lambda params: {})
        with building(self.b, self.deriv_name(stmt.target)):
            partials = partials_fn(**kwargs)
        if not isinstance(partials, tuple):
            partials = (partials,)
        operands = self.operand_names(stmt, params)
        y = self.b.sym(stmt.target)
        array_operands = [a for a in operands.values() if isinstance(a, Var) and getattr(self.b.types.get(a.name), "ndim", 0)]
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
                c = y_bar if isinstance(partial, (int, float)) and partial == 1.0 else (
                    -y_bar if isinstance(partial, (int, float)) and partial == -1.0 else y_bar * partial
                )
                for _ in range((y.ndim or 0) - (x.ndim or 0)):
                    c = np.sum(c, axis=1)
                if x.ndim and len(array_operands) > 1:
                    c = sum_to(c, x)
            self.accumulate(atom, c)


def differentiate_reverse(fn, builder, wrt, seeds):
    """Emit the forward sweep, then the adjoint sweep of ``fn`` into ``builder``.

    ``wrt``: names of the parameters to differentiate; ``seeds``: pairs (output atom,
    function emitting its seed, a batched cotangent). Returns the Reverse state.
    """
    varied = varied_names(fn, set(wrt))
    rev = Reverse(fn, builder, varied)
    rev.forward_sweep(fn.body)
    for atom, make_seed in seeds:
        if rev._active(atom):
            builder.mark = len(builder.stmts)
            with building(builder, "seed"):
                seed = make_seed()
            rev.accumulate(atom, seed)
    rev.backward_sweep(fn.body)
    return rev


__all__ = ["differentiate_reverse", "Reverse", "PACKED"]
