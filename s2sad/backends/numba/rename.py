"""Pass (numba backend, before fusion): fewer names assigned more than once, fewer copies.

Numba rebuilds SSA form for every name assigned more than once, walking the whole function
once per such name, and types and lowers every copy: on the scalarized reverse sweep of RK4
(1665 Numba statements, 127 reassigned names) that is a fifth of the compile. After this pass:

* within a straight-line block, every assignment of a name but the block's last one writes a
  fresh version (``k3_bar_0_0`` -> ``k3_bar_0_02``), and the reads in between read that
  version; the last one keeps the name, so what the block leaves behind (for the statements
  after it, or the next trip of a loop) is unchanged. A name also assigned inside a nested
  ``if``/loop of the block, a loop's target, a stack and an array written in place keep
  their names;
* within a straight-line block, a read of ``a`` after ``a = b`` (and before either is
  assigned again) reads ``b``, and a copy nothing reads any more is dropped.

The generated Python keeps its readable names: ``s2sad.source`` shows the code before it.
"""

from __future__ import annotations

import dataclasses

from ... import runtime as rt
from ...ir import (
    APPEND,
    COPY,
    POP,
    Assign,
    For,
    If,
    NameGen,
    Return,
    SetItem,
    SliceAtom,
    Var,
    While,
    all_names,
    assigned_names,
    map_blocks,
    reads,
    walk,
)


def rename(fn):
    names = NameGen(all_names(fn) | set(fn.params))
    types = dict(fn.types)
    fixed = _fixed_names(fn.body)
    body = _versions(fn.body, names, types, fixed)
    body = _propagate(body)
    body = _drop_unread_copies(body, set(fn.params))
    return fn.replace(body=body, types=types)


def _fixed_names(body) -> set:
    """Names never versioned: arrays written in place, stacks, loop targets."""
    fixed = set()
    for s in walk(body):
        if isinstance(s, SetItem):
            fixed.add(s.array)
        elif isinstance(s, Assign) and s.args and isinstance(s.args[0], Var) and s.op in (rt.scatter_add, APPEND, POP):
            fixed.add(s.args[0].name)
        elif isinstance(s, For):
            fixed.add(s.target)
    return fixed


# --- versions ---------------------------------------------------------------------------------


# (_versions and _propagate carry no state into a nested block, which starts afresh: map_blocks,
# not ir.flow.Flow)


def _versions(stmts, names, types, fixed):
    stmts = [map_blocks(s, lambda block: _versions(block, names, types, fixed)) for s in stmts]
    inner = set()  # names assigned inside the nested statements of this block
    last = {}  # name -> index of its last assignment at this level
    count = {}
    for i, s in enumerate(stmts):
        if isinstance(s, Assign):
            last[s.target] = i
            count[s.target] = count.get(s.target, 0) + 1
        elif isinstance(s, (If, For, While)):
            inner |= assigned_names([s])
    versioned = {n for n, c in count.items() if c > 1 and n not in inner and n not in fixed}
    if not versioned:
        return stmts
    current = {}  # name -> the version holding its value now
    out = []
    for i, s in enumerate(stmts):
        s = _substitute(s, current) if current else s
        if isinstance(s, Assign) and s.target in versioned:
            if last[s.target] == i:
                current.pop(s.target, None)
            else:
                version = names.fresh(s.target)
                if s.target in types:
                    types[version] = types[s.target]
                current[s.target] = version
                s = Assign(version, s.op, s.args, s.kwargs, s.line)
        out.append(s)
    return out


# --- reads, substituted ------------------------------------------------------------------------


def _atom(a, mapping):
    if isinstance(a, Var):
        name = mapping.get(a.name)
        return Var(name) if name is not None else a
    if isinstance(a, SliceAtom):
        return SliceAtom(*(_atom(x, mapping) for x in (a.lower, a.upper, a.step)))
    if isinstance(a, (list, tuple)):
        return type(a)(_atom(x, mapping) for x in a)
    return a


def _substitute(stmt, mapping):
    """``stmt`` reading ``mapping[n]`` for each name ``n`` it (or a statement nested in it)
    reads; the caller makes sure no nested statement assigns a name of ``mapping``."""
    if isinstance(stmt, Assign):
        return Assign(
            stmt.target,
            stmt.op,
            [_atom(a, mapping) for a in stmt.args],
            {k: _atom(v, mapping) for k, v in stmt.kwargs.items()},
            stmt.line,
        )
    if isinstance(stmt, SetItem):
        array = mapping.get(stmt.array, stmt.array)
        return SetItem(array, [_atom(a, mapping) for a in stmt.index], _atom(stmt.value, mapping), stmt.line)
    if isinstance(stmt, Return):
        return Return([_atom(a, mapping) for a in stmt.values], stmt.is_tuple, stmt.line)
    nested = map_blocks(stmt, lambda block: [_substitute(s, mapping) for s in block])
    if isinstance(stmt, For):
        return dataclasses.replace(nested, iter=_atom(stmt.iter, mapping))
    if isinstance(stmt, (If, While)):
        return dataclasses.replace(nested, test=_atom(stmt.test, mapping))
    return stmt


# --- copies ---------------------------------------------------------------------------------


def _propagate(stmts):
    stmts = [map_blocks(s, _propagate) for s in stmts]
    alias = {}  # a -> b: a holds b's value (``a = b`` and neither assigned since)
    out = []
    for s in stmts:
        if isinstance(s, (If, For, While)):
            changed = assigned_names([s])
            alias = {a: b for a, b in alias.items() if a not in changed and b not in changed}
        s = _substitute(s, alias) if alias else s
        if isinstance(s, Assign):
            alias = {a: b for a, b in alias.items() if s.target not in (a, b)}
            if s.op is COPY and len(s.args) == 1 and isinstance(s.args[0], Var) and s.args[0].name != s.target:
                alias[s.target] = s.args[0].name
        out.append(s)
    return out


def _drop_unread_copies(body, params):
    while True:
        read = set(params)
        for s in walk(body):
            read.update(reads(s))
        dropped = []

        def keep(block):
            out = []
            for s in block:
                if isinstance(s, Assign) and s.op is COPY and s.target not in read:
                    dropped.append(s)
                    continue
                out.append(map_blocks(s, keep))
            return out

        body = keep(body)
        if not dropped:
            return body
