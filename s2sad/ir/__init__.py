"""The intermediate representation every pass reads and writes: A-normal form.

Invariant (after ``normalize``): a function body is a list of statements of these kinds

* ``Assign(target, op, args, kwargs)``: ``target = op(atom, ..., key=atom)``: one primitive
  operation on atoms; ``op`` is a real callable (``numpy.sin``, ``numpy.add`` for ``+``) or
  one of the pseudo-ops ``COPY`` (``target = atom``), ``GETITEM`` (``target = x[index...]``)
  and ``TUPLE`` (``target = (atom, ...)``);
* ``SetItem(array, index, value)``: ``array[index...] = value`` (an in-place write);
* ``If(test, body, orelse)``, ``For(target, iter, body)``, ``While(test_body, test, body)``;
* ``Return(values)``: the last statement, once.

An atom is a ``Var`` (a name), a ``Const`` (a Python literal: number, bool, None, str,
Ellipsis or a tuple of those) or a ``SliceAtom`` (``lo:hi:step`` with atoms or None).

The same IR is what the derivative passes produce, so a derivative can be differentiated
again (``jacfwd(jacrev(f))``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

# --- atoms -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Var:
    name: str


@dataclass(frozen=True)
class Const:
    value: object


@dataclass(frozen=True)
class SliceAtom:
    lower: object = None
    upper: object = None
    step: object = None


# --- pseudo-ops --------------------------------------------------------------------------


class PseudoOp:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


COPY = PseudoOp("COPY")
GETITEM = PseudoOp("GETITEM")
TUPLE = PseudoOp("TUPLE")
# the tape of reverse mode: typed stacks (Python lists; Numba compiles them as typed lists)
NEW_STACK = PseudoOp("NEW_STACK")  # target = []
APPEND = PseudoOp("APPEND")  # stack.append(value)
POP = PseudoOp("POP")  # target = stack.pop()
PLACEHOLDER = PseudoOp("PLACEHOLDER")  # target = a typed value to overwrite (args: a type description)
TAPE_OPS = (NEW_STACK, APPEND, POP, PLACEHOLDER)

# --- statements --------------------------------------------------------------------------


@dataclass(eq=False)
class Assign:
    target: str
    op: object
    args: list
    kwargs: dict = field(default_factory=dict)
    line: int | None = None


@dataclass(eq=False)
class SetItem:
    array: str
    index: list
    value: object
    line: int | None = None


@dataclass(eq=False)
class If:
    test: object
    body: list
    orelse: list
    line: int | None = None


@dataclass(eq=False)
class For:
    target: str
    iter: object  # an atom: range(...) is lowered to a Var bound by an Assign of `range`
    body: list
    line: int | None = None


@dataclass(eq=False)
class While:
    test_body: list  # statements that recompute `test` before each trip
    test: object
    body: list
    line: int | None = None


@dataclass(eq=False)
class Return:
    values: list
    is_tuple: bool = False
    line: int | None = None


@dataclass
class Function:
    """A function in IR, with what codegen and the passes need to know about it."""

    name: str
    params: list
    body: list
    filename: str | None = None
    source_lines: dict = field(default_factory=dict)  # user line number -> text
    types: dict = field(default_factory=dict)  # variable -> dummy value (see trace.py)
    # what the passes learn about the function, kept by ``replace`` (a field, not an attribute
    # set afterwards, which dataclasses.replace would drop):
    free_values: list = field(default_factory=list)  # the trailing params: globals, closure values (normalize)
    free_sources: list = field(default_factory=list)  # (function, name) each free value is read from (normalize)
    def_line: int | None = None  # the line of the user's ``def`` (normalize)
    mirror_stacks: bool = False  # reverse code popping its stacks in the mirror order of its pushes (pipeline)
    second_order: bool = False  # a derivative of a derivative (pipeline: compiled as glue)
    split_stacks: dict = field(default_factory=dict)  # element stack -> its stack of arrays (scalarize)

    def replace(self, **changes) -> Function:
        return dataclasses.replace(self, **changes)


def walk(stmts):
    """Every statement, nested ones included, in order."""
    for stmt in stmts:
        yield stmt
        if isinstance(stmt, If):
            yield from walk(stmt.body)
            yield from walk(stmt.orelse)
        elif isinstance(stmt, For):
            yield from walk(stmt.body)
        elif isinstance(stmt, While):
            yield from walk(stmt.test_body)
            yield from walk(stmt.body)


def map_blocks(stmt, fn):
    """``stmt`` with ``fn(block)`` in place of each block nested in it (an If's two arms, a
    loop's body, a While's test statements); any other statement as it is. The one way the
    passes rebuild a compound statement."""
    if isinstance(stmt, If):
        return dataclasses.replace(stmt, body=fn(stmt.body), orelse=fn(stmt.orelse))
    if isinstance(stmt, For):
        return dataclasses.replace(stmt, body=fn(stmt.body))
    if isinstance(stmt, While):
        return dataclasses.replace(stmt, test_body=fn(stmt.test_body), body=fn(stmt.body))
    return stmt


def map_statements(stmts, fn):
    """A copy of ``stmts`` with every simple statement replaced by ``fn(stmt)`` (a list);
    compound statements are copied with their blocks mapped, a ``Return`` kept as it is."""
    out = []
    for stmt in stmts:
        if isinstance(stmt, (If, For, While)):
            out.append(map_blocks(stmt, lambda block: map_statements(block, fn)))
        elif isinstance(stmt, Return):
            out.append(stmt)
        else:
            out.extend(fn(stmt))
    return out


def blocks(stmts):
    """Every straight-line block: ``stmts`` and the bodies nested in it, outermost first."""
    yield stmts
    for stmt in stmts:
        if isinstance(stmt, If):
            yield from blocks(stmt.body)
            yield from blocks(stmt.orelse)
        elif isinstance(stmt, For):
            yield from blocks(stmt.body)
        elif isinstance(stmt, While):
            yield from blocks(stmt.test_body)
            yield from blocks(stmt.body)


def atom_vars(atom):
    """Names read by an atom."""
    if isinstance(atom, Var):
        return [atom.name]
    if isinstance(atom, SliceAtom):
        return [a.name for a in (atom.lower, atom.upper, atom.step) if isinstance(a, Var)]
    return []


def reads(stmt) -> list:
    """Names a (non-compound) statement reads."""
    if isinstance(stmt, Assign):
        atoms = list(stmt.args) + list(stmt.kwargs.values())
    elif isinstance(stmt, SetItem):
        atoms = [Var(stmt.array), *stmt.index, stmt.value]
    elif isinstance(stmt, Return):
        atoms = list(stmt.values)
    elif isinstance(stmt, If):
        atoms = [stmt.test]
    elif isinstance(stmt, For):
        atoms = [stmt.iter]
    elif isinstance(stmt, While):
        atoms = [stmt.test]
    else:
        atoms = []
    return [n for a in atoms for n in atom_vars(a)]


def assigned_names(stmts) -> set:
    names = set()
    for stmt in walk(stmts):
        if isinstance(stmt, Assign):
            names.add(stmt.target)
        elif isinstance(stmt, For):
            names.add(stmt.target)
    return names


def all_names(fn: Function) -> set:
    names = set(fn.params) | assigned_names(fn.body)
    for stmt in walk(fn.body):
        names.update(reads(stmt))
    return names


class NameGen:
    """Fresh, clash-free names derived from a base name."""

    def __init__(self, taken=()):
        self.taken = set(taken)

    def fresh(self, base: str) -> str:
        base = base or "t"
        if base not in self.taken:
            self.taken.add(base)
            return base
        # "x2", not "x_1": Numba names SSA versions "x.1" and spells them "x_1" in array
        # expressions, which must not collide with ours
        k = 2
        while f"{base}{k}" in self.taken:
            k += 1
        name = f"{base}{k}"
        self.taken.add(name)
        return name
