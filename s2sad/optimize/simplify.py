"""Pass 7: simplify the derivative code.

After this pass:

* no statement computes a value that nothing reads before it is overwritten (flow-sensitive
  dead-code elimination through branches and loops), e.g. the primal output of ``hvp``;
  in-place writes stay, and so do the tape's pushes and pops, unless no value read back
  out of a stack or preallocated tape is used: then that store goes whole (the index of a
  loop whose reverse never reads it);
* within a straight-line block, an operation computed twice on the same operands is computed
  once (common subexpressions: ``np.cos(x)`` of a tangent rule and of an adjoint rule).
"""

from __future__ import annotations

from .. import runtime as rt
from ..ir import (
    APPEND,
    COPY,
    GETITEM,
    NEW_STACK,
    POP,
    TUPLE,
    Assign,
    For,
    If,
    Return,
    SetItem,
    Var,
    While,
    atom_vars,
    map_blocks,
    reads,
    walk,
)
from ..ir.flow import Flow

SIDE_EFFECTS = (APPEND, POP, NEW_STACK, *rt.GUARDS)  # guards raise: kept though nothing reads them


def simplify(fn):
    body = fn.body
    written = {s.array for s in walk(body) if isinstance(s, SetItem)}
    written |= {s.args[0].name for s in walk(body) if isinstance(s, Assign) and s.op is rt.scatter_add}
    body = _cse(body, _buffers(body, written))  # (it adds no in-place write)
    while True:
        stores = _stores(body)
        read = set()  # stores some read of which is live
        new, _ = _dead(body, set(), written, stores, read)
        dead = set(stores) - read
        if dead:
            new = _drop_stores(new, dead)
        if _count(new) == _count(body):
            break
        body = new
    return fn.replace(body=body)


def _stores(stmts) -> set:
    """The tape's stores (stacks, preallocated tapes) that only pushes, pops, tape writes and
    tape reads use: each can be dropped whole when no value read out of it is used."""
    stores = set()
    for s in walk(stmts):
        if isinstance(s, Assign) and (s.op is NEW_STACK or s.op is rt.new_tape):
            stores.add(s.target)
    for s in walk(stmts):
        if isinstance(s, SetItem):  # a tape write reads the tape (fine) and its index and value
            others = [n for a in [*s.index, s.value] for n in atom_vars(a)]
        elif isinstance(s, Assign) and s.op in (APPEND, POP, GETITEM) and s.args and isinstance(s.args[0], Var):
            others = [n for a in [*s.args[1:], *s.kwargs.values()] for n in atom_vars(a)]
        else:
            others = reads(s)
        stores.difference_update(others)  # a store used any other way stays
    return stores


def _store_of(stmt, stores):
    """The store a statement creates, pushes to, pops from, writes or reads (None if none)."""
    if isinstance(stmt, SetItem):
        return stmt.array if stmt.array in stores else None
    if not isinstance(stmt, Assign):
        return None
    if stmt.op is NEW_STACK or stmt.op is rt.new_tape:
        return stmt.target if stmt.target in stores else None
    first = stmt.args[0] if stmt.args else None
    if isinstance(first, Var) and first.name in stores and stmt.op in (APPEND, POP, GETITEM):
        return first.name
    return None


def _drop_stores(stmts, dead):
    """Without every push, pop, write and read of the stores in ``dead``."""
    out = []
    for stmt in stmts:
        if isinstance(stmt, (If, For, While)):
            stmt = map_blocks(stmt, lambda block: _drop_stores(block, dead))
        elif _store_of(stmt, dead) is not None:
            continue
        out.append(stmt)
    return out


def _dead(stmts, live, written, stores, read):
    """Flow-sensitive dead-code elimination of a block (loops to a fixed point): returns the
    block without the assignments whose value is overwritten or unused before any read, and
    the names live at its start. ``live``: the names live after it. A value popped from (or
    read back out of) a store that is live marks the store in ``read``; pushes, pops and
    in-place writes are kept here (a store nothing reads is dropped whole by the caller)."""
    flow = _Liveness(written, stores, read)
    flow.state = set(live)
    out = flow.walk_block(stmts)
    return out, flow.state


class _Liveness(Flow):
    """The names live at each point, walked backward (see _dead)."""

    backward = True

    def __init__(self, written, stores, read):
        self.written, self.stores, self.read = written, stores, read

    def simple(self, stmt):
        live = self.state
        if isinstance(stmt, Assign):
            store = _store_of(stmt, self.stores) if stmt.op is POP or stmt.op is GETITEM else None
            if store is not None and stmt.target in live:
                self.read.add(store)
            keep = (
                stmt.target in live
                or stmt.op in SIDE_EFFECTS
                or stmt.op is rt.scatter_add
                or stmt.target in self.written
            )
            if not keep:
                return []
            live.discard(stmt.target)
            live.update(reads(stmt))
        elif isinstance(stmt, Return):
            self.state = set(reads(stmt))
        else:  # SetItem
            live.update(reads(stmt))
        return [stmt]

    def join(self, stmt, start, arms):
        self.state = arms[0][1] | arms[1][1] | set(reads(stmt))

    def loop_head(self, stmt):
        # live at the head: after the loop (with what its header reads), or in a trip; for a
        # while loop, the head is its test (after its test statements)
        self.state |= set(reads(stmt))
        return super().loop_head(stmt)

    def merge(self, head, end):
        return head | end

    def trip_start(self, stmt):
        self.state.discard(stmt.target)


def _count(stmts):
    return sum(1 for _ in walk(stmts))


def _key(stmt):
    try:
        key = (stmt.op, tuple(stmt.args), tuple(sorted(stmt.kwargs.items())))
        hash(key)
        return key
    except TypeError:
        return None


def _buffers(stmts, written):
    """name -> the names that may share its memory, for every name that may share memory with
    an array written in place (a copy, an index, a reshape or transpose of it, ...): a write
    through one changes all, so common subexpressions must neither be read from a stale one
    nor merge two allocations one of which is written (``y = np.zeros(4); z = y.reshape(-1);
    z[1] = ...; acc = np.zeros(4)`` must not make ``acc`` ``y``)."""
    from ..analysis.semantics import VIEW_OPS

    parent = {}

    def find(n):
        while parent.get(n, n) != n:
            n = parent[n]
        return n

    for s in walk(stmts):
        if (
            isinstance(s, Assign)
            and (s.op in (COPY, GETITEM) or s.op in VIEW_OPS or s.op is rt.broadcast_like)
            and s.args
            and isinstance(s.args[0], Var)
        ):
            a, b = find(s.target), find(s.args[0].name)
            if a != b:
                parent[a] = b
    groups = {}
    for n in set(parent) | set(parent.values()) | set(written):
        groups.setdefault(find(n), set()).add(n)
    buffers = {}
    for members in groups.values():
        if members & set(written):
            for n in members:
                buffers[n] = members
    return buffers


def _cse(stmts, written):
    """Common subexpressions of one straight-line block (nested blocks start afresh).
    ``written``: name -> the names sharing its memory, for names that an in-place write may
    change (see _buffers)."""
    out = []
    seen = _Seen()
    for stmt in stmts:
        if isinstance(stmt, Assign):
            key = None
            if (
                stmt.op not in SIDE_EFFECTS
                and stmt.op not in (COPY, TUPLE, rt.scatter_add)
                and stmt.target not in written
            ):
                key = _key(stmt)
            if key is not None and key in seen.value:
                stmt = Assign(stmt.target, COPY, [Var(seen.value[key])], {}, stmt.line)
            # a reassigned name invalidates what was computed from it, or stored in it
            seen.forget(stmt.target)
            if (
                key is not None
                and stmt.op is not COPY
                and not any(a == Var(stmt.target) for a in stmt.args)
                and stmt.target not in written
            ):
                seen.add(key, stmt.target)
            out.append(stmt)
        elif isinstance(stmt, (If, For, While)):
            out.append(map_blocks(stmt, lambda block: _cse(block, written)))
            seen = _Seen()
        elif isinstance(stmt, SetItem):
            out.append(stmt)
            for name in written.get(stmt.array, (stmt.array,)):
                seen.forget(name)
        else:
            out.append(stmt)
    return out


class _Seen:
    """Values computed so far in a block: key -> the name holding it, indexed by the names
    each key reads and the name holding it, so a reassignment forgets in time O(its uses)."""

    def __init__(self):
        self.value = {}
        self.by_name = {}  # name -> keys that read it or are held in it

    def add(self, key, name):
        if key in self.value:
            return
        self.value[key] = name
        for n in [name] + [n for a in key[1] for n in atom_vars(a)] + [n for _, v in key[2] for n in atom_vars(v)]:
            self.by_name.setdefault(n, []).append(key)

    def forget(self, name):
        for key in self.by_name.pop(name, ()):
            self.value.pop(key, None)


__all__ = ["simplify", "Return"]
