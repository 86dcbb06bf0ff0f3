"""Passes 1-2: a Python function -> a checked syntax tree with every name resolved.

``parse`` reads the function's source with ``inspect``, parses it with gast (a version-
independent AST), strips s2sad decorators and refuses what s2sad cannot differentiate
(``check_supported``), naming the user's file:line. Names are resolved against the function's
globals, closure and builtins: ``np.sin`` becomes the *object* ``numpy.sin``, so any import
style works (``import numpy as xp``, ``from numpy import sin``).

After this pass: a stdlib ``ast.FunctionDef`` (converted from gast, so later passes and
``ast.unparse`` share one node set) plus a ``Resolver`` for the free names.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import textwrap
import types
from dataclasses import dataclass, field

import gast

from .errors import SourceError, UnsupportedError, unsupported, where

# statements and expressions outside the supported subset, with what to do instead
UNSUPPORTED_SYNTAX = {
    gast.Try: ("try/except", "move error handling outside the differentiated function"),
    gast.With: ("with", "move the context manager outside the differentiated function"),
    gast.AsyncWith: ("async with", "differentiate synchronous code only"),
    gast.AsyncFor: ("async for", "differentiate synchronous code only"),
    gast.AsyncFunctionDef: ("async def", "differentiate synchronous code only"),
    gast.Await: ("await", "differentiate synchronous code only"),
    gast.Yield: ("yield (a generator)", "return an array instead of yielding values"),
    gast.YieldFrom: ("yield from (a generator)", "return an array instead of yielding values"),
    gast.ClassDef: ("class definition", "define classes outside the differentiated function"),
    gast.FunctionDef: ("nested function definition", "define helpers at module level"),
    gast.Lambda: ("lambda", "define a module-level function instead"),
    gast.Global: ("global statement", "pass the value as an argument and return the new one"),
    gast.Nonlocal: ("nonlocal statement", "pass the value as an argument and return the new one"),
    gast.Delete: ("del", "remove the del statement"),
    gast.Raise: ("raise", "check inputs before calling the differentiated function"),
    gast.Assert: ("assert", "check inputs before calling the differentiated function"),
    gast.Import: ("import inside the function", "import at module level"),
    gast.ImportFrom: ("import inside the function", "import at module level"),
    gast.ListComp: ("list comprehension", "write a for loop that fills an array"),
    gast.SetComp: ("set comprehension", "write a for loop that fills an array"),
    gast.DictComp: ("dict comprehension", "write a for loop that fills an array"),
    gast.GeneratorExp: ("generator expression", "write a for loop that fills an array"),
    gast.Dict: ("dict", "use arrays or tuples"),
    gast.Set: ("set", "use arrays or tuples"),
    gast.JoinedStr: ("f-string", "remove string formatting from the differentiated function"),
    gast.NamedExpr: ("assignment expression (:=)", "assign in a statement of its own"),
    gast.Starred: ("starred expression", "pass and unpack values explicitly"),
    gast.Match: ("match statement", "use if/elif/else"),
}


@dataclass
class Parsed:
    """A parsed user function: tree, where it came from, and how to resolve its free names."""

    fn: object
    tree: ast.FunctionDef
    filename: str
    first_line: int
    source_lines: dict = field(default_factory=dict)

    def where(self, node) -> str:
        return where(self.filename, self.line(node))

    def line(self, node) -> int | None:
        lineno = getattr(node, "lineno", None)
        return None if lineno is None else lineno + self.first_line - 1

    def error(self, node, construct, advice, cls=UnsupportedError):
        return unsupported(self.filename, self.line(node), construct, advice, cls)

    def resolve(self, name: str):
        """The object a free name refers to, looked up as Python would at call time."""
        return resolve_free_name(self.fn, name)


_MISSING = object()


def resolve_free_name(fn, name: str):
    code = fn.__code__
    if name in code.co_freevars and fn.__closure__:
        cell = fn.__closure__[code.co_freevars.index(name)]
        try:
            return cell.cell_contents
        except ValueError:
            return _MISSING
    if name in fn.__globals__:
        return fn.__globals__[name]
    return getattr(builtins, name, _MISSING)


def is_missing(value) -> bool:
    return value is _MISSING


def parse(fn) -> Parsed:
    """Read, parse and check the source of ``fn``."""
    if not isinstance(fn, types.FunctionType):
        kind = type(fn).__name__
        raise SourceError(
            f"{getattr(fn, '__name__', fn)!r} is a {kind}, not a Python function with source: "
            "s2sad differentiates functions written in Python (def ...) in a file"
        )
    if fn.__name__ == "<lambda>":
        raise SourceError(
            f"{where(fn.__code__.co_filename, fn.__code__.co_firstlineno)}: lambda: "
            "s2sad needs a def with its own source; define a named function instead"
        )
    try:
        lines, first_line = inspect.getsourcelines(fn)
    except (OSError, TypeError) as exc:
        raise SourceError(
            f"cannot read the source of {fn.__qualname__} ({exc}); functions typed into a REPL "
            "or built with exec have none: put the function in a .py file"
        ) from None
    source = textwrap.dedent("".join(lines))
    module = gast.parse(source)
    tree = module.body[0]
    if not isinstance(tree, gast.FunctionDef):
        raise SourceError(f"{fn.__qualname__}: expected a def, found {type(tree).__name__}")
    filename = fn.__code__.co_filename
    parsed = Parsed(fn, None, filename, first_line)
    tree.decorator_list = []  # `@s2sad.jacrev` must not be re-applied to the source
    check_supported(tree, parsed)
    parsed.tree = gast.gast_to_ast(tree)
    ast.fix_missing_locations(parsed.tree)
    parsed.source_lines = {
        first_line + i: text.strip() for i, text in enumerate(source.splitlines())
    }
    return parsed


def check_supported(tree: gast.FunctionDef, parsed: Parsed) -> None:
    """Raise UnsupportedError at the first construct outside the subset."""
    args = tree.args
    if args.vararg or args.kwarg:
        raise parsed.error(tree, "*args/**kwargs", "list the parameters explicitly")
    if args.kwonlyargs:
        raise parsed.error(tree, "keyword-only parameters", "make them positional parameters")
    for node in gast.walk(tree):
        if node is tree:
            continue
        entry = UNSUPPORTED_SYNTAX.get(type(node))
        if entry is not None:
            construct, advice = entry
            raise parsed.error(node, construct, advice)
        if isinstance(node, gast.Call) and any(isinstance(a, gast.Starred) for a in node.args):
            raise parsed.error(node, "call with *args", "pass the arguments explicitly")
        if isinstance(node, gast.Call) and any(k.arg is None for k in node.keywords):
            raise parsed.error(node, "call with **kwargs", "pass the keyword arguments explicitly")
