"""Pass 4b: refuse, or follow, what NumPy and Python do where the derivative passes would not.

Runs on the typed IR of the user's function (after ``infer_types``), before any derivative
is built, so what is refused is refused before a number is computed, naming the user's
``file:line``:

* **complex values** wherever they appear (an argument, a global, the result of any
  operation): s2sad differentiates real code only;
* **lists and tuples of values**: read by constant indices (resolved at compile time) or
  passed to a NumPy function (which converts them with ``np.asarray``: written here as
  ``np.stack``, which has rules); refused where Python and NumPy disagree (an operator:
  ``+`` concatenates a list) or where the element is known only at run time (``p[i]``);
* **writes through a view or an alias** (``v = y[1:]; v[0] = ...``, ``b = a; b[0] = ...``):
  NumPy writes into the shared buffer, the derivative passes treat each name as its own
  value. A static may-alias analysis (``alias_classes``) groups the names that may share a
  buffer; a write into one of them is refused when another name of its group, bound before
  the write, is read after it (the derivative would miss the write). Writes into a fresh
  array or into an argument read only through its own name are what they look like;
  distinct arguments are assumed not to share memory (the caller passes distinct arrays);
* **fancy writes** ``y[idx] = v`` of a differentiated ``v`` with an index array: NumPy keeps
  the last of repeated indices, the reverse sweep of a scatter would add them all. Such a
  write becomes a loop over the index (``for j: y[idx[j]] = v[j]``), whose derivative the
  passes get right in both modes (the overwritten element's adjoint is dropped).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import UnsupportedError, where
from ..ir import (
    COPY,
    GETITEM,
    TUPLE,
    Assign,
    Const,
    For,
    If,
    NameGen,
    PseudoOp,
    SetItem,
    SliceAtom,
    Var,
    While,
    all_names,
    map_statements,
    reads,
    walk,
)

# functions whose result may be a view of their first argument (or the argument itself)
VIEW_OPS = tuple(
    f
    for f in (
        np.reshape,
        np.transpose,
        np.ravel,
        np.swapaxes,
        np.squeeze,
        np.expand_dims,
        np.broadcast_to,
        np.moveaxis,
        np.rollaxis,
        np.asarray,
        np.asanyarray,
        np.ascontiguousarray,
        np.asfortranarray,
        np.atleast_1d,
        np.atleast_2d,
        np.atleast_3d,
        np.diagonal,
        np.flip,
        np.fliplr,
        np.flipud,
        np.rot90,
        np.real,
        np.imag,
        np.require,
        np.lib.stride_tricks.as_strided,
        getattr(np, "matrix_transpose", None),
        getattr(np, "permute_dims", None),
    )
    if f is not None
)
# NumPy functions that take a sequence of arrays as such (the others convert it with asarray)
SEQUENCE_OPS = (np.stack, np.concatenate, np.hstack, np.vstack, np.dstack, np.column_stack, np.array, np.block)


def is_complex(dummy) -> bool:
    if isinstance(dummy, tuple):
        return any(is_complex(d) for d in dummy)
    if isinstance(dummy, complex):
        return True
    return isinstance(dummy, (np.ndarray, np.generic)) and dummy.dtype.kind == "c"


def _is_array(dummy) -> bool:
    return isinstance(dummy, np.ndarray) and dummy.ndim > 0


def _is_int_array(dummy) -> bool:
    return isinstance(dummy, np.ndarray) and dummy.ndim > 0 and dummy.dtype.kind in "iu"


def _is_float_value(dummy) -> bool:
    if isinstance(dummy, tuple):
        return any(_is_float_value(d) for d in dummy)
    if isinstance(dummy, float):
        return True
    return isinstance(dummy, (np.ndarray, np.floating)) and dummy.dtype.kind == "f"


def _is(op, group) -> bool:
    return any(op is f for f in group)


def _is_numpy(op) -> bool:
    if isinstance(op, np.ufunc):
        return True
    module = getattr(op, "__module__", "") or ""
    return module.split(".")[0] == "numpy"


class Checker:
    """What NumPy and Python would do that the passes would not see: refused or rewritten.

    Why one class over 300 lines: one walk over the typed code, a method per kind of check,
    sharing the types and the aliases it has seen."""

    def __init__(self, fn):
        self.fn = fn
        self.types = fn.types

    def error(self, line, construct, advice):
        return UnsupportedError(f"{where(self.fn.filename, line)}: {construct}: {advice}")

    def type_of(self, atom):
        if isinstance(atom, Var):
            return self.types.get(atom.name)
        if isinstance(atom, Const):
            return atom.value
        return None

    # --- complex values ---------------------------------------------------------------------

    def refuse_complex(self):
        fn = self.fn
        for p in fn.params:
            if is_complex(self.types.get(p)):
                line = fn.def_line
                first = next((s.line for s in walk(fn.body) if p in reads(s)), None)
                free = p in fn.free_values
                raise self.error(
                    first if free else line, f"{'global' if free else 'argument'} {p!r} is complex", COMPLEX_ADVICE
                )
        for stmt in walk(fn.body):
            if isinstance(stmt, Assign) and is_complex(self.types.get(stmt.target)):
                raise self.error(stmt.line, "a complex value", COMPLEX_ADVICE)
            atoms = list(stmt.args) + list(stmt.kwargs.values()) if isinstance(stmt, Assign) else []
            for a in atoms:
                if isinstance(a, Const) and is_complex(a.value):
                    raise self.error(stmt.line, f"complex constant {a.value!r}", COMPLEX_ADVICE)

    # --- lists and tuples -------------------------------------------------------------------

    def refuse_sequences(self):
        for stmt in walk(self.fn.body):
            index = (
                stmt.index
                if isinstance(stmt, SetItem)
                else stmt.args[1:]
                if isinstance(stmt, Assign) and stmt.op is GETITEM
                else []
            )
            if any(isinstance(self.type_of(a), tuple) for a in index):
                raise self.error(
                    stmt.line,
                    "an index given as a tuple value",
                    "write the indices out (x[i, j]) or index with an integer array",
                )
            if isinstance(stmt, SetItem) and isinstance(self.types.get(stmt.array), tuple):
                raise self.error(
                    stmt.line,
                    "assignment into an element of a list or tuple",
                    "s2sad follows arrays, not mutable lists: build an array (np.zeros) and write into it",
                )
            if isinstance(stmt, For) and isinstance(self.type_of(stmt.iter), tuple):
                raise self.error(stmt.line, "loop over a list or tuple", SEQUENCE_ADVICE)
            if not isinstance(stmt, Assign):
                continue
            if (
                getattr(stmt, "from_operator", False)
                and any(isinstance(self.type_of(a), tuple) for a in stmt.args)
                and not any(isinstance(self.type_of(a), np.ndarray) for a in stmt.args)
            ):
                # (beside an array, a tuple is converted by NumPy: stack_sequences)
                raise self.error(
                    stmt.line,
                    "an operator applied to a list or tuple",
                    "Python's + concatenates and * repeats lists and tuples, where NumPy would add and "
                    "multiply: convert with np.stack(...) or np.array(...) first",
                )
            seqs = [a for a in stmt.args if isinstance(self.type_of(a), tuple) and isinstance(a, Var)]
            if not seqs:
                continue
            if stmt.op is GETITEM and stmt.args[0] in seqs:
                index = stmt.args[1:]
                d = self.type_of(stmt.args[0])
                if not _is_float_value(d) and len({type(e) for e in d}) <= 1:
                    continue  # integers (a shape): read at run time as Python reads them
                if (
                    len(index) != 1
                    or not isinstance(index[0], Const)
                    or not isinstance(index[0].value, (int, np.integer))
                ):
                    raise self.error(
                        stmt.line,
                        "a list or tuple indexed by a value known only at run time (or sliced)",
                        SEQUENCE_ADVICE,
                    )
                continue
            if stmt.op in (COPY, TUPLE) or stmt.op is len or getattr(stmt, "from_operator", False):
                continue
            if (not _is_numpy(stmt.op) or isinstance(stmt.op, PseudoOp)) and any(
                _is_float_value(self.type_of(a)) for a in seqs
            ):
                # (integers, max(x.shape): the generated code runs it as Python does)
                raise self.error(
                    stmt.line,
                    f"a list or tuple passed to {getattr(stmt.op, '__name__', stmt.op)}",
                    "pass arrays (np.stack(...)) or the elements one by one",
                )

    def stack_sequences(self, names):
        """``np.sum([a, b])`` -> ``np.sum(np.stack((a, b)))``: what NumPy's asarray does for a
        list of arrays of one shape (and raises for others, as np.stack does); a list of
        numbers becomes ``np.array((a, b))``."""
        changed = False

        def rewrite(stmt):
            nonlocal changed
            if not isinstance(stmt, Assign) or isinstance(stmt.op, PseudoOp) or not _is_numpy(stmt.op):
                return [stmt]
            operator = getattr(stmt, "from_operator", False)
            if _is(stmt.op, SEQUENCE_OPS):
                return [stmt]
            if operator and not any(isinstance(self.type_of(a), np.ndarray) for a in stmt.args):
                return [stmt]
            out, args = [], list(stmt.args)
            for k, a in enumerate(args):
                d = self.type_of(a)
                if isinstance(a, Var) and isinstance(d, tuple) and _is_float_value(d):
                    t = names.fresh(a.name + "_stacked")
                    # numbers: np.array (Numba's np.stack takes arrays only); arrays: np.stack
                    scalars = all(np.ndim(e) == 0 and not isinstance(e, tuple) for e in d)
                    out.append(Assign(t, np.array if scalars else np.stack, [a], line=stmt.line))
                    args[k] = Var(t)
                elif operator and isinstance(d, tuple):  # array + (1, 2): NumPy converts the tuple
                    t = names.fresh("seq")
                    out.append(Assign(t, np.array, [a], line=stmt.line))
                    args[k] = Var(t)
            if not out:
                return [stmt]
            changed = True
            new = dataclasses.replace(stmt, args=args)
            if hasattr(stmt, "from_operator"):
                new.from_operator = stmt.from_operator
            return out + [new]

        body = map_statements(self.fn.body, rewrite)
        return body if changed else None

    # --- fancy writes -----------------------------------------------------------------------

    def fancy_writes_as_loops(self, varied, names):
        """``y[..., idx, ...] = v`` (``idx`` an integer index array, ``v`` differentiated) as a
        loop over ``idx``: NumPy's last-write-wins for repeated indices, in both modes."""
        changed = False

        def rewrite(stmt):
            nonlocal changed
            if not isinstance(stmt, SetItem):
                return [stmt]
            fancy = [
                k for k, a in enumerate(stmt.index) if isinstance(a, Var) and _is_int_array(self.types.get(a.name))
            ]
            if not fancy or not (isinstance(stmt.value, Var) and stmt.value.name in varied):
                return [stmt]
            p = fancy[0]
            idx = stmt.index[p]
            others = [a for k, a in enumerate(stmt.index) if k != p]
            if len(fancy) > 1 or self.types[idx.name].ndim != 1 or not all(isinstance(a, SliceAtom) for a in others):
                raise self.error(
                    stmt.line,
                    "a write of a differentiated value through an index array of several axes "
                    "or mixed with other indices",
                    "write it as a loop over the index (NumPy keeps the last of repeated indices)",
                )
            y = self.types.get(stmt.array)
            v = self.types.get(stmt.value.name)
            sel_ndim = np.ndim(y)  # one index array of one axis among slices: the axes stay
            v_ndim = np.ndim(v)
            if v_ndim > sel_ndim:
                raise self.error(
                    stmt.line,
                    "a write through an index array of a value with more axes than the selection",
                    "give the value the selection's shape",
                )
            changed = True
            line = stmt.line
            n = names.fresh("n_" + idx.name)
            n0 = names.fresh("n_" + idx.name)
            rng = names.fresh("iter")
            j = names.fresh("j")
            pre = [
                Assign(n, np.shape, [idx], line=line),
                Assign(n0, GETITEM, [Var(n), Const(0)], line=line),
                Assign(rng, range, [Var(n0)], line=line),
            ]
            body = []
            ij = names.fresh(idx.name + "_j")
            body.append(Assign(ij, GETITEM, [idx, Var(j)], line=line))
            axis = p - (sel_ndim - v_ndim)  # the value's axis that runs along idx (broadcast: < 0)
            value = stmt.value
            if axis >= 0:
                vs, vn, vm, jj, vj = (names.fresh(h) for h in ("vshape", "vlen", "vlast", "jv", stmt.value.name + "_j"))
                pre += [
                    Assign(vs, np.shape, [value], line=line),
                    Assign(vn, GETITEM, [Var(vs), Const(axis)], line=line),
                    Assign(vm, np.subtract, [Var(vn), Const(1)], line=line),
                ]
                body += [
                    Assign(jj, np.minimum, [Var(j), Var(vm)], line=line),  # a length-1 axis broadcasts
                    Assign(vj, GETITEM, [value, *([SliceAtom()] * axis), Var(jj)], line=line),
                ]
                value = Var(vj)
            index = list(stmt.index)
            index[p] = Var(ij)
            body.append(SetItem(stmt.array, index, value, line))
            return pre + [For(j, Var(rng), body, line)]

        body = map_statements(self.fn.body, rewrite)
        return body if changed else None

    # --- writes through views and aliases ---------------------------------------------------

    def alias_classes(self):
        """Union-find over the names that may share a buffer (flow-insensitive, so a name bound
        twice joins both groups): COPY of an array, a basic-index GETITEM that gives an array,
        a view function (reshape, transpose, ravel, ...), ``out=``, an element read from a
        tuple (joined with the element the tuple was built from, where known). A tuple is not
        joined with its elements: refuse_aliased_writes counts it as a reader of them."""
        parent = {}

        def find(a):
            parent.setdefault(a, a)
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        def union(a, b):
            parent[find(a)] = find(b)

        def shares(name):
            d = self.types.get(name)
            return _is_array(d) or isinstance(d, tuple)

        elements = self.tuple_elements()
        for stmt in walk(self.fn.body):
            if not isinstance(stmt, Assign) or not shares(stmt.target) or stmt.op is TUPLE:
                continue  # a tuple holds its elements: its reads are theirs (tuple_elements)
            srcs = []
            if stmt.op is COPY or _is(stmt.op, VIEW_OPS) or getattr(stmt, "in_place", False):
                srcs = stmt.args[:1]
            elif stmt.op is GETITEM:
                base = stmt.args[0]
                k = stmt.args[1].value if len(stmt.args) == 2 and isinstance(stmt.args[1], Const) else None
                if isinstance(base, Var) and base.name in elements and isinstance(k, int):
                    srcs = [parts[k] for parts in elements[base.name] if -len(parts) <= k < len(parts)]
                elif isinstance(self.type_of(base), tuple) or all(self._basic(a) for a in stmt.args[1:]):
                    srcs = [base]
            elif stmt.op is np.array and isinstance(stmt.kwargs.get("copy"), Const) and not stmt.kwargs["copy"].value:
                srcs = stmt.args[:1]
            if "out" in stmt.kwargs:
                srcs = list(srcs) + [stmt.kwargs["out"]]
            for s in srcs:
                if isinstance(s, Var) and shares(s.name):
                    union(stmt.target, s.name)
        classes = {}
        for name in list(parent):
            classes.setdefault(find(name), set()).add(name)
        return {name: classes[find(name)] for name in parent}

    def tuple_elements(self):
        """Tuple name -> the element atoms of each TUPLE statement that binds it (a tuple
        bound otherwise, an argument or a shape, is not listed)."""
        defs = {}
        other = set()
        for stmt in walk(self.fn.body):
            if isinstance(stmt, Assign):
                if stmt.op is TUPLE:
                    defs.setdefault(stmt.target, []).append(list(stmt.args))
                else:
                    other.add(stmt.target)
            elif isinstance(stmt, For):
                other.add(stmt.target)
        return {t: parts for t, parts in defs.items() if t not in other}

    def _basic(self, atom):
        if isinstance(atom, SliceAtom):
            return True
        d = self.type_of(atom)
        if atom == Const(None) or d is Ellipsis:
            return True
        return isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_))

    def refuse_aliased_writes(self, varied):
        classes = self.alias_classes()
        order = _positions(self.fn.body)  # stmt id -> (position, loops enclosing it, blocks)
        events = {}  # name -> [(position, stmt)] of reads, and bindings
        bindings = {}
        elements = self.tuple_elements()

        def held(name, seen=()):
            """``name`` and, for a tuple, the names its elements hold (a read of it reads them)."""
            out = {name}
            for parts in elements.get(name, ()):
                for a in parts:
                    if isinstance(a, Var) and a.name not in seen:
                        out |= held(a.name, (*seen, name))
            return out

        holders = {t: held(t) - {t} for t in elements}
        for stmt in walk(self.fn.body):
            for n in set(reads(stmt)):
                events.setdefault(n, []).append(stmt)
            if isinstance(stmt, (Assign, For)):
                bindings.setdefault(stmt.target, []).append(stmt)
        for w in walk(self.fn.body):
            if isinstance(w, SetItem):
                written, values = {w.array}, [w.value]
            elif (
                isinstance(w, Assign)
                and getattr(w, "in_place", False)
                and isinstance(w.args[0], Var)
                and _is_array(self.types.get(w.target))
            ):
                written, values = {w.args[0].name, w.target}, w.args[1:]  # x += v on an array
            else:
                continue
            array = w.array if isinstance(w, SetItem) else w.args[0].name
            group = set(classes.get(array, {array}))
            group |= {t for t, names in holders.items() if names & group}  # a tuple reads its elements
            if len(group - written) < 1:
                continue
            value_varied = any(isinstance(v, Var) and v.name in varied for v in values)
            if not value_varied and not (group & varied) and isinstance(w, SetItem):
                # no derivative flows through this buffer (and the generated code writes into it
                # as the user's does; x += v it prints as a new binding: the values would differ)
                continue
            wpos, wloops, _ = order[id(w)]
            for b in sorted(group - written):
                for r in events.get(b, ()):
                    if r is w:
                        continue
                    rpos, rloops, rblocks = order[id(r)]
                    if rpos > wpos:
                        start = wpos
                    else:
                        common = [lp for lp in rloops if lp in wloops]
                        if not common:
                            continue
                        start = order[id(common[0])][0]  # the next trip of the outermost common loop
                    rebound = (
                        any(start < order[id(s)][0] < rpos and order[id(s)][2] <= rblocks for s in bindings.get(b, ()))
                        if rpos > start
                        else False
                    )
                    if not rebound:
                        raise self.error(
                            w.line,
                            f"a write into {_user(array)!r}, which shares memory with "
                            f"{_user(b)!r} (read at line {r.line})",
                            "the derivative does not follow writes through views or aliases: write "
                            "through the array itself (y[i, j] = ... rather than row = y[i]; row[j] = ...), "
                            "or into a copy (.copy())",
                        )


def written_params(fn, lines=False):
    """The parameters of the user IR ``fn`` (before types) whose buffer the function may write
    into, through their own name or any name that may share their memory (conservatively:
    copies, every subscript, tuples, view functions). If the caller passes one array for two
    parameters and the function writes into one, the derivative (which sees two values) would
    be wrong: api.py checks such calls (``np.may_share_memory``)."""
    parent = {}

    def find(a):
        parent.setdefault(a, a)
        while parent[a] != a:
            a = parent[a]
        return a

    for stmt in walk(fn.body):
        in_place = getattr(stmt, "in_place", False)
        if isinstance(stmt, Assign) and (stmt.op in (COPY, GETITEM, TUPLE) or _is(stmt.op, VIEW_OPS) or in_place):
            for a in stmt.args if stmt.op is TUPLE else stmt.args[:1]:
                if isinstance(a, Var):
                    parent[find(stmt.target)] = find(a.name)
    written = {}  # buffer -> the line of the first write into it
    for s in walk(fn.body):
        if isinstance(s, SetItem):
            written.setdefault(find(s.array), s.line)
        elif getattr(s, "in_place", False):
            written.setdefault(find(s.target), s.line)
    if lines:  # parameter index -> that line (``lines``)
        return {k: written[find(p)] for k, p in enumerate(fn.params) if find(p) in written}
    return [k for k, p in enumerate(fn.params) if find(p) in written]


def list_misuse(fn, param):
    """The line of the first operator applied to the list argument ``param`` (or to a copy
    or a slice of it: still a list), or None. The user IR, before types."""
    derived = {param}
    changed = True
    while changed:
        changed = False
        for stmt in walk(fn.body):
            if not isinstance(stmt, Assign) or stmt.target in derived or not stmt.args:
                continue
            base = stmt.args[0]
            if not (isinstance(base, Var) and base.name in derived):
                continue
            if stmt.op is COPY or stmt.op is GETITEM and any(isinstance(a, SliceAtom) for a in stmt.args[1:]):
                derived.add(stmt.target)
                changed = True
    for stmt in walk(fn.body):
        if getattr(stmt, "from_operator", False) and derived & set(reads(stmt)):
            return stmt.line
    return None


def _user(name):
    """A user's name from a renamed version (``x_v2`` -> ``x``)."""
    base, sep, rest = name.rpartition("_v")
    return base if sep and rest.isdigit() and base else name


COMPLEX_ADVICE = (
    "complex values are outside what s2sad differentiates; keep real and imaginary parts as two float arrays"
)
SEQUENCE_ADVICE = (
    "s2sad resolves list and tuple elements at compile time (constant indices); for elements "
    "chosen at run time, stack them into an array (np.stack) and index that"
)


def _positions(stmts):
    """For each statement (by id): its position in textual order, the loops enclosing it
    (outermost first), and the set of blocks (by id) on the path to it, itself included."""
    out = {}
    counter = [0]

    def visit(block, loops, blocks):
        blocks = blocks | {id(block)}
        for stmt in block:
            counter[0] += 1
            out[id(stmt)] = (counter[0], loops, blocks)
            if isinstance(stmt, If):
                visit(stmt.body, loops, blocks)
                visit(stmt.orelse, loops, blocks)
            elif isinstance(stmt, For):
                visit(stmt.body, loops + [stmt], blocks)
            elif isinstance(stmt, While):
                visit(stmt.test_body, loops + [stmt], blocks)
                visit(stmt.body, loops + [stmt], blocks)

    visit(stmts, [], frozenset())
    return out


def check(fn, infer, wrt):
    """The typed user function ``fn``, checked (refusals raise) and rewritten where NumPy's
    semantics need it. ``infer(ir)``: the typed IR of a rewritten body (infer_types again);
    ``wrt``: the differentiated parameters (the writes that matter are those their
    derivatives flow through)."""
    from .activity import varied_names

    checker = Checker(fn)
    checker.refuse_sequences()
    # (first: a differentiated value reaching a function without a rule says so)
    varied = varied_names(fn, set(wrt)) if wrt else set()
    checker.refuse_complex()
    names = NameGen(all_names(fn))
    body = checker.stack_sequences(names)
    if body is not None:
        fn = _retyped(fn, body, infer)
        checker = Checker(fn)
        varied = varied_names(fn, set(wrt)) if wrt else set()
    body = checker.fancy_writes_as_loops(varied, names)
    if body is not None:
        fn = _retyped(fn, body, infer)
        checker = Checker(fn)
        varied = varied_names(fn, set(wrt))
    checker.refuse_aliased_writes(varied)
    return fn


def _retyped(fn, body, infer):
    return infer(fn.replace(body=body, types={}))
