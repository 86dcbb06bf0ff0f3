"""Pass 2b: desugar control flow into the forms the IR has (on the stdlib ``ast`` tree).

After this pass:

* every ``for`` loops over ``range(...)``: ``for v in X`` becomes ``for k in range(X.shape[0])``
  with ``v = X[k]``; ``enumerate(X)`` and ``zip(A, B)`` likewise;
* there is no ``break`` or ``continue``: a flag records the jump and guards the rest of the
  loop body (a ``for`` loop finishes its remaining trips doing nothing; a ``while`` loop's
  test also checks the flag);
* there is one ``return``, the last statement: an early return inside ``if``/``else`` moves
  the statements after it into the branch that falls through, and each return assigns the
  result variables instead.
"""

from __future__ import annotations

import ast
import copy

from ..errors import UnsupportedError


class Desugar:
    def __init__(self, parsed, names):
        self.parsed = parsed
        self.names = names  # a NameGen shared with normalize

    def fresh(self, base):
        return self.names.fresh(base)

    def error(self, node, construct, advice):
        return self.parsed.error(node, construct, advice, UnsupportedError)

    # --- loops ------------------------------------------------------------------------------

    def loops(self, stmts):
        out = []
        for stmt in stmts:
            after = []
            if isinstance(stmt, ast.If):
                stmt.body, stmt.orelse = self.loops(stmt.body), self.loops(stmt.orelse)
            elif isinstance(stmt, ast.While):
                stmt.body = self.loops(stmt.body)
                before, after = self.loop_returns(stmt)
                out.extend(before)
                stmt = self.jumps(stmt)
            elif isinstance(stmt, ast.For) and self.unrollable(stmt):
                stmt = self.loops(self.unrolled(stmt))
            elif isinstance(stmt, ast.For):
                stmt.body = self.loops(stmt.body)
                before, after = self.loop_returns(stmt)
                out.extend(before)
                self.before_loop = []
                stmt = self.iteration(stmt)
                out.extend(self.before_loop)
                stmt = self.jumps(stmt)
            out.extend(stmt if isinstance(stmt, list) else [stmt])
            out.extend(after)
        return out

    def unrollable(self, loop: ast.For) -> bool:
        """``for v in [a, b]`` (a list or tuple written out, no break, continue, return or
        else): its elements are values of different names, read one per trip; unrolled."""
        return (
            isinstance(loop.iter, (ast.List, ast.Tuple))
            and isinstance(loop.target, ast.Name)
            and not loop.orelse
            and not _has_jump(loop.body, ast.Break)
            and not _has_jump(loop.body, ast.Continue)
            and not any(_has_return(s) for s in loop.body)
            and not any(isinstance(n, (ast.Break, ast.Continue)) for s in loop.body for n in ast.walk(s))
        )

    def unrolled(self, loop: ast.For):
        """``v = a; body; v = b; body``: the elements evaluated first, as Python builds the list."""
        out, names = [], []
        for elt in loop.iter.elts:
            name = self.fresh("element")
            names.append(name)
            out.append(ast.copy_location(ast.Assign([ast.Name(name, ast.Store())], elt), loop))
        for name in names:
            out.append(
                ast.copy_location(ast.Assign([ast.Name(loop.target.id, ast.Store())], ast.Name(name, ast.Load())), loop)
            )
            out.extend(copy.deepcopy(loop.body))
        return out

    def loop_returns(self, loop):
        """``return v`` inside a loop -> ``returned = True; value = v; break``, and after the
        loop ``if returned: return value`` (an early return in a branch, which ``returns``
        handles; a loop around this one sees that return and does the same)."""
        if not any(_has_return(s) for s in loop.body):
            return [], []
        if loop.orelse:
            raise self.error(loop, "return inside a loop with an else clause", "drop the else clause")
        arity = _return_arity(loop.body)
        flag = self.fresh("returned")
        values = [self.fresh("returned_value") for _ in range(arity or 1)]

        def rewrite(stmts):
            out = []
            for stmt in stmts:
                if isinstance(stmt, ast.Return):
                    value = stmt.value if stmt.value is not None else ast.Constant(None)
                    parts = value.elts if arity else [value]
                    for name, part in zip(values, parts):
                        out.append(ast.copy_location(ast.Assign([ast.Name(name, ast.Store())], part), stmt))
                    out.append(_set(flag, True, stmt))
                    out.append(ast.copy_location(ast.Break(), stmt))
                    break  # what follows a return never runs
                if isinstance(stmt, ast.If):
                    stmt.body, stmt.orelse = rewrite(stmt.body), rewrite(stmt.orelse)
                out.append(stmt)
            return out

        loop.body = rewrite(loop.body)
        loads = [ast.Name(v, ast.Load()) for v in values]
        ret = ast.copy_location(ast.Return(ast.Tuple(loads, ast.Load()) if arity else loads[0]), loop)
        after = ast.copy_location(ast.If(ast.Name(flag, ast.Load()), [ret], []), loop)
        return [_set(flag, False, loop)], [after]

    def iteration(self, loop: ast.For):
        """``for v in X`` / ``enumerate`` / ``zip`` -> a loop over ``range``."""
        it = loop.iter
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and not it.keywords:
            name = it.func.id
            if name == "range" or self.parsed.resolve(name) is range:
                return loop
            if self.parsed.resolve(name) is enumerate and len(it.args) == 1:
                if not (isinstance(loop.target, ast.Tuple) and len(loop.target.elts) == 2):
                    raise self.error(
                        loop, "for x in enumerate(...) without unpacking", "write for i, v in enumerate(x)"
                    )
                index, value = loop.target.elts
                return self._indexed(loop, index, [(value, it.args[0])])
            if self.parsed.resolve(name) is zip:
                if not (isinstance(loop.target, ast.Tuple) and len(loop.target.elts) == len(it.args)):
                    raise self.error(loop, "for ... in zip(...) without unpacking", "unpack one name per sequence")
                k = ast.Name(self.fresh("k"), ast.Store())
                return self._indexed(loop, k, list(zip(loop.target.elts, it.args)))
        if isinstance(loop.target, ast.Name):
            k = ast.Name(self.fresh("k"), ast.Store())
            return self._indexed(loop, k, [(loop.target, it)])
        raise self.error(loop, "for loop over this iterable", "loop over range(...), an array, enumerate or zip")

    def _indexed(self, loop, index, pairs):
        if not isinstance(index, ast.Name):
            raise self.error(loop, "for loop index that is not a name", "use a plain name")
        # Python evaluates the sequence once, before the first trip: one that is an
        # expression, or a name the loop rebinds (``for v in x: x = x * v``), is bound to a
        # fresh name first
        rebound = _stored_names(loop.body)
        bound = []
        for target, seq in pairs:
            if not (isinstance(seq, ast.Name) and seq.id not in rebound):
                name = self.fresh("seq")
                self.before_loop.append(ast.copy_location(ast.Assign([ast.Name(name, ast.Store())], seq), loop))
                seq = ast.Name(name, ast.Load())
            bound.append((target, seq))
        pairs = bound
        lengths = [_len_of(seq) for _, seq in pairs]
        stop = lengths[0]
        for length in lengths[1:]:
            stop = ast.Call(ast.Name("min", ast.Load()), [stop, length], [])
        binds = [
            ast.Assign([target], ast.Subscript(copy.deepcopy(seq), ast.Name(index.id, ast.Load()), ast.Load()))
            for target, seq in pairs
        ]
        for b in binds:
            ast.copy_location(b, loop)
        new = ast.For(
            target=ast.Name(index.id, ast.Store()),
            iter=ast.Call(ast.Name("range", ast.Load()), [stop], []),
            body=binds + loop.body,
            orelse=loop.orelse,
        )
        return ast.copy_location(new, loop)

    # --- break / continue --------------------------------------------------------------------

    def jumps(self, loop):
        """Replace break/continue in ``loop`` (a for or while) by flags."""
        broke, skipped = _has_jump(loop.body, ast.Break), _has_jump(loop.body, ast.Continue)
        if not (broke or skipped):
            return loop
        brk = self.fresh("broke") if broke else None
        cnt = self.fresh("skip") if skipped else None
        body = self._guarded(loop.body, brk, cnt)
        if cnt:
            body = [_set(cnt, False, loop)] + body
        if brk and isinstance(loop, ast.While):
            loop.test = ast.BoolOp(ast.And(), [loop.test, _not(brk)])  # stop at once
        elif brk:
            body = [ast.copy_location(ast.If(_not(brk), body, []), loop)]  # idle trips
        loop.body = body
        return ([_set(brk, False, loop)] if brk else []) + [loop]

    def _guarded(self, stmts, brk, cnt):
        """Replace jumps by flag assignments and guard what follows a possible jump."""
        out = []
        for i, stmt in enumerate(stmts):
            if isinstance(stmt, ast.Break):
                out.append(_set(brk, True, stmt))
                return out
            if isinstance(stmt, ast.Continue):
                out.append(_set(cnt, True, stmt))
                return out
            if isinstance(stmt, ast.If) and (_has_jump([stmt], ast.Break) or _has_jump([stmt], ast.Continue)):
                stmt.body = self._guarded(stmt.body, brk, cnt)
                stmt.orelse = self._guarded(stmt.orelse, brk, cnt)
                out.append(stmt)
                rest = stmts[i + 1 :]
                if rest:
                    flags = [f for f in (brk, cnt) if f]
                    test = (
                        _not(flags[0])
                        if len(flags) == 1
                        else ast.UnaryOp(ast.Not(), ast.BoolOp(ast.Or(), [ast.Name(f, ast.Load()) for f in flags]))
                    )
                    out.append(ast.copy_location(ast.If(test, self._guarded(rest, brk, cnt), []), rest[0]))
                return out
            out.append(stmt)
        return out

    # --- early return ------------------------------------------------------------------------

    def returns(self, body):
        """One final return: early returns in branches become assignments to result names."""
        if not any(_has_return(s) for s in body[:-1]) and not (body and isinstance(body[-1], ast.If)):
            return body
        body = _single_exit(body)
        arity = _return_arity(body)
        results = [self.fresh("result") for _ in range(arity or 1)]
        body = _assign_returns(body, results, arity)
        value = (
            ast.Tuple([ast.Name(r, ast.Load()) for r in results], ast.Load())
            if arity
            else ast.Name(results[0], ast.Load())
        )
        final = ast.Return(value)
        ast.copy_location(final, body[-1] if body else self.parsed.tree)
        return body + [final]


def _stored_names(stmts):
    return {n.id for s in stmts for n in ast.walk(s) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _len_of(seq):
    return ast.Subscript(ast.Attribute(copy.deepcopy(seq), "shape", ast.Load()), ast.Constant(0), ast.Load())


def _set(name, value, where):
    return ast.copy_location(ast.Assign([ast.Name(name, ast.Store())], ast.Constant(value)), where)


def _not(name):
    return ast.UnaryOp(ast.Not(), ast.Name(name, ast.Load()))


def _has_jump(stmts, kind):
    """A break/continue that belongs to this loop (not to a nested one)."""
    for stmt in stmts:
        if isinstance(stmt, kind):
            return True
        if isinstance(stmt, ast.If) and (_has_jump(stmt.body, kind) or _has_jump(stmt.orelse, kind)):
            return True
    return False


def _has_return(stmt):
    return any(isinstance(n, ast.Return) for n in ast.walk(stmt))


def _always_returns(stmts):
    if not stmts:
        return False
    last = stmts[-1]
    if isinstance(last, ast.Return):
        return True
    if isinstance(last, ast.If):
        return _always_returns(last.body) and _always_returns(last.orelse)
    return False


def _single_exit(stmts):
    """Move the statements after an ``if`` with a return into its falling-through branches."""
    for i, stmt in enumerate(stmts):
        if isinstance(stmt, ast.If) and _has_return(stmt):
            rest = stmts[i + 1 :]
            body = stmt.body if _always_returns(stmt.body) else stmt.body + copy.deepcopy(rest)
            orelse = stmt.orelse if _always_returns(stmt.orelse) else stmt.orelse + copy.deepcopy(rest)
            stmt.body, stmt.orelse = _single_exit(body), _single_exit(orelse)
            return stmts[:i] + [stmt]
    return stmts


def _return_arity(stmts):
    arities = {
        len(n.value.elts) if isinstance(n.value, ast.Tuple) else 0
        for s in stmts
        for n in ast.walk(s)
        if isinstance(n, ast.Return)
    }
    if len(arities) != 1:
        raise UnsupportedError("returns of different arity (a tuple in one branch, a value in another)")
    return arities.pop()


def _assign_returns(stmts, results, arity):
    out = []
    for stmt in stmts:
        if isinstance(stmt, ast.Return):
            values = stmt.value.elts if arity else [stmt.value]
            for r, v in zip(results, values):
                out.append(ast.copy_location(ast.Assign([ast.Name(r, ast.Store())], v), stmt))
        elif isinstance(stmt, ast.If):
            stmt.body = _assign_returns(stmt.body, results, arity)
            stmt.orelse = _assign_returns(stmt.orelse, results, arity)
            out.append(stmt)
        else:
            out.append(stmt)
    return out


def desugar(parsed, names):
    """Rewrite ``parsed.tree`` in place (loops over range, no jumps, one final return)."""
    tree = parsed.tree
    d = Desugar(parsed, names)
    tree.body = d.returns(d.loops(tree.body))
    ast.fix_missing_locations(tree)
    return tree
