"""Passes 1-2: a Python function -> a checked syntax tree with every name resolved.

``parse`` reads the function's source with ``inspect`` (a lambda's from its line; a
``functools.partial`` or a bound method is its function with parameters bound: ``binding``),
parses it with gast (a version-independent AST), strips s2sad decorators and refuses what s2sad cannot differentiate
(``check_supported``), naming the user's file:line. Names are resolved against the function's
globals, closure and builtins: ``np.sin`` becomes the *object* ``numpy.sin``, so any import
style works (``import numpy as xp``, ``from numpy import sin``).

After this pass: a stdlib ``ast.FunctionDef`` (converted from gast, so later passes and
``ast.unparse`` share one node set) plus a ``Resolver`` for the free names.
"""

from __future__ import annotations

import ast
import builtins
import functools
import inspect
import linecache
import textwrap
import threading
import types
from dataclasses import dataclass, field

import gast

from ..errors import SourceError, UnsupportedError, unsupported, where

# CPython 3.11 before 3.11.8 raises "SystemError: AST constructor recursion depth mismatch" when
# threads parse at the same time (gh-106905): every ast.parse of s2sad holds this lock
AST_LOCK = threading.Lock()

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
    bound: list = field(default_factory=list)  # parameters a partial or a method binds

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


@dataclass
class Binding:
    """What a callable given to s2sad is in terms of a Python function: ``function`` (a def or
    a lambda), the parameters bound to values (``functools.partial`` arguments, a bound
    method's ``self``) and the positional parameters left to the caller (what ``argnums``
    indexes, as in JAX)."""

    function: object
    bound: dict  # parameter name -> value
    params: list  # the caller's positional parameters, in order


def binding(fn) -> Binding:
    """``fn`` as a Binding; raises SourceError for what is not a Python function, a lambda, a
    ``functools.partial`` of one or a bound method."""
    if isinstance(fn, functools.partial):
        inner = binding(fn.func)
        if len(fn.args) > len(inner.params):
            raise SourceError(
                f"{_name(fn)}: the partial binds {len(fn.args)} positional arguments, the function takes "
                f"{len(inner.params)}"
            )
        bound = dict(inner.bound)
        bound.update(zip(inner.params, fn.args))
        rest = inner.params[len(fn.args) :]
        code = inner.function.__code__
        keyword_only = list(code.co_varnames[code.co_argcount : code.co_argcount + code.co_kwonlyargcount])
        for key, value in fn.keywords.items():
            if key not in rest and key not in keyword_only:
                raise SourceError(f"{_name(fn)}: the partial binds {key!r}, which is not a parameter left to bind")
            bound[key] = value
        # Python binds positional arguments in order: the parameters from the first one bound by
        # keyword on can only be passed by keyword (s2sad calls take positional arguments)
        first = next((k for k, p in enumerate(rest) if p in fn.keywords), len(rest))
        defaults = _defaults(inner.function)
        for p in rest[first:]:  # such a parameter with a default takes it, as in Python
            if p not in fn.keywords and p in defaults:
                bound[p] = defaults[p]
        unbound = [p for p in rest[first:] if p not in bound]
        if unbound:
            raise SourceError(
                f"{_name(fn)}: parameter {unbound[0]!r} comes after {rest[first]!r}, which the partial binds by "
                "keyword, so it can only be passed by keyword; s2sad passes arguments by position: bind it in the "
                "partial too, or bind the earlier parameter positionally"
            )
        return Binding(inner.function, bound, rest[:first])
    if isinstance(fn, types.MethodType):
        inner = binding(fn.__func__)
        if not inner.params:
            raise SourceError(f"{_name(fn)}: a method without a self parameter")
        bound = dict(inner.bound)
        bound[inner.params[0]] = fn.__self__
        return Binding(inner.function, bound, inner.params[1:])
    if isinstance(fn, types.FunctionType):
        code = fn.__code__
        return Binding(fn, {}, list(code.co_varnames[: code.co_argcount]))
    kind = type(fn).__name__
    raise SourceError(
        f"{getattr(fn, '__name__', fn)!r} is a {kind}, not a Python function with source: "
        "s2sad differentiates functions written in Python (def ..., lambda, functools.partial of one, "
        "a bound method) in a file"
    )


def _defaults(function) -> dict:
    """Parameter name -> default value (positional and keyword-only), as Python stored them."""
    code = function.__code__
    names = code.co_varnames[: code.co_argcount]
    values = function.__defaults__ or ()
    out = dict(zip(names[len(names) - len(values) :], values))
    out.update(function.__kwdefaults__ or {})
    return out


def _name(fn):
    while isinstance(fn, functools.partial):
        fn = fn.func
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def code_of(fn):
    """The code object of the Python function behind ``fn`` (None where there is none)."""
    try:
        return binding(fn).function.__code__
    except SourceError:
        return None


def param_names(fn) -> list:
    """The positional parameters a call of ``fn`` passes (a partial's and a method's bound ones
    left out)."""
    return binding(fn).params


def resolve_free_name(fn, name: str):
    """The value of a free name of ``fn`` now: a bound parameter (a partial's argument, a
    method's self), a global, a closure cell or a builtin; ``a.b.c`` reads the attributes of
    what ``a`` names (an object's attributes, read at each call as globals are)."""
    if "." in name:
        root, *attrs = name.split(".")
        value = resolve_free_name(fn, root)
        for attr in attrs:
            if value is _MISSING:
                return value
            value = getattr(value, attr, _MISSING)
        return value
    if not isinstance(fn, types.FunctionType):
        try:
            b = binding(fn)
        except SourceError:
            return _MISSING
        if name in b.bound:
            return b.bound[name]
        fn = b.function
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
    """Read, parse and check the source of ``fn`` (a def, a lambda, a ``functools.partial`` of
    one, a bound method: the parameters these bind are listed in ``Parsed.bound``)."""
    b = binding(fn)
    base = b.function
    if base.__name__ == "<lambda>":
        source, first_line, name = lambda_source(base)
    else:
        try:
            lines, first_line = inspect.getsourcelines(base)
        except (OSError, TypeError) as exc:
            raise SourceError(
                f"cannot read the source of {base.__qualname__} ({exc}); functions typed into a REPL "
                "or built with exec have none: put the function in a .py file"
            ) from None
        source = textwrap.dedent("".join(lines))
        name = None
    with AST_LOCK:
        module = gast.parse(source)
    tree = module.body[0]
    if not isinstance(tree, gast.FunctionDef):
        raise SourceError(f"{base.__qualname__}: expected a def, found {type(tree).__name__}")
    if name is not None:
        tree.name = name
    filename = base.__code__.co_filename
    parsed = Parsed(fn, None, filename, first_line)
    parsed.bound = [p for p in b.bound]
    tree.decorator_list = []  # `@s2sad.jacrev` must not be re-applied to the source
    check_supported(tree, parsed)
    parsed.tree = gast.gast_to_ast(tree)
    ast.fix_missing_locations(parsed.tree)
    if name is not None:  # a lambda: its own line, as written
        parsed.source_lines = {first_line: linecache.getline(filename, first_line).strip()}
    else:
        parsed.source_lines = {first_line + i: text.strip() for i, text in enumerate(source.splitlines())}
    return parsed


def lambda_source(fn):
    """``(source, first line, name)`` of a def equivalent to the lambda ``fn``: found in its
    file by its line, its parameters and (where several lambdas share the line) the columns
    its code comes from; ambiguity is refused, naming the line."""
    code = fn.__code__
    filename, line = code.co_filename, code.co_firstlineno
    text = "".join(linecache.getlines(filename, fn.__globals__))
    if not text:
        raise SourceError(
            f"{where(filename, line)}: cannot read the source of this lambda; lambdas typed into a REPL or built "
            "with exec have none: put it in a .py file"
        )
    try:
        with AST_LOCK:
            module = ast.parse(text)
    except SyntaxError as exc:
        raise SourceError(f"{where(filename, line)}: cannot parse the file this lambda comes from ({exc})") from None
    names = {}
    for node in ast.walk(module):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Lambda)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            names[id(node.value)] = node.targets[0].id
    params = list(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])
    candidates = [
        n
        for n in ast.walk(module)
        if isinstance(n, ast.Lambda)
        and n.lineno == line
        and [a.arg for a in n.args.posonlyargs + n.args.args + n.args.kwonlyargs] == params
    ]
    if len(candidates) > 1:
        candidates = _by_columns(candidates, code)
    if len(candidates) != 1:
        raise UnsupportedError(
            f"{where(filename, line)}: lambda: {'several lambdas on this line could be this one' if candidates else 'cannot find this lambda in its file'}"
            " (s2sad reads a lambda's source by its line); define it on a line of its own, or as a def"
        )
    node = candidates[0]
    name = names.get(id(node), "lambda_")
    if not name.isidentifier():
        name = "lambda_"
    # one line: `def name(params): return body`, reported at the lambda's line
    source = f"def {name}({ast.unparse(node.args)}): return ({ast.unparse(node.body)})\n"
    return source, line, name


def _by_columns(candidates, code):
    """The lambdas whose body spans every source position of ``code`` (Python 3.11+ records
    columns), the innermost such one: a lambda nested in another's body spans a part of it."""
    positions = [
        p for p in getattr(code, "co_positions", lambda: ())() if None not in p and (p[1], p[3]) > (p[0], p[2])
    ]  # (RESUME has an empty span)
    if not positions:
        return candidates

    def spans(node):
        body = node.body
        return all(
            (l, c) >= (body.lineno, body.col_offset) and (el, ec) <= (body.end_lineno, body.end_col_offset)
            for l, el, c, ec in positions
        )

    found = [n for n in candidates if spans(n)]
    inner = [n for n in found if not any(m is not n and _inside(m, n) for m in found)]
    return inner


def _inside(inner, outer) -> bool:
    return (inner.lineno, inner.col_offset) >= (outer.lineno, outer.col_offset) and (
        inner.end_lineno,
        inner.end_col_offset,
    ) <= (outer.end_lineno, outer.end_col_offset)


def check_supported(tree: gast.FunctionDef, parsed: Parsed) -> None:
    """Raise UnsupportedError at the first construct outside the subset (keyword-only
    parameters are for helpers, or bound by a partial: normalize checks)."""
    args = tree.args
    if args.vararg or args.kwarg:
        raise parsed.error(tree, "*args/**kwargs", "list the parameters explicitly")
    if getattr(args, "posonlyargs", None):
        args.args = list(args.posonlyargs) + list(args.args)  # positional-only: positional
        args.posonlyargs = []
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
