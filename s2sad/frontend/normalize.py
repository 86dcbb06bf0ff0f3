"""Pass 3: a checked syntax tree -> IR in A-normal form (see ir.py for the statement forms).

Nested expressions become one statement each, temporaries named after the target they
feed (``y = np.tanh(W @ x + b)`` -> ``y_1 = W @ x; y_2 = y_1 + b; y = np.tanh(y_2)``);
``x += v`` becomes ``x = x + v``; tuple unpacking becomes indexing; operators carry their
NumPy ufunc (``+`` is ``numpy.add``), methods and attributes their NumPy function
(``x.sum(axis=0)`` is ``numpy.sum(x, axis=0)``), so the rule tables have one key space.
In straight-line code a name assigned twice is renamed (``x``, ``x_v2``), so every value the
reverse sweep reads is still there.

Free names that are not callables (global arrays, closure constants) become extra
parameters of the generated function, read at each call as Python would read them.
"""

from __future__ import annotations

import ast
import builtins
import functools
import inspect
import types

import numpy as np

from .. import runtime
from ..errors import S2SADError, UnsupportedError
from ..ir import COPY, GETITEM, TUPLE, Assign, Const, For, Function, If, NameGen, Return, SetItem, SliceAtom, Var, While
from .desugar import desugar
from .parse import Parsed, _defaults, binding, is_missing, resolve_free_name

BINARY_OPS = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.true_divide,
    ast.Pow: np.power,
    ast.MatMult: np.matmul,
    ast.FloorDiv: np.floor_divide,
    ast.Mod: np.remainder,
}
COMPARE_OPS = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
}
UNARY_OPS = {ast.USub: np.negative, ast.Not: np.logical_not}
BOOL_OPS = {ast.And: np.logical_and, ast.Or: np.logical_or}

# x.method(...) -> numpy function(x, ...)
METHODS = {
    "sum": np.sum,
    "mean": np.mean,
    "var": np.var,
    "std": np.std,
    "prod": np.prod,
    "max": np.max,
    "min": np.min,
    "dot": np.dot,
    "transpose": np.transpose,
    "ravel": np.ravel,
    "flatten": np.ravel,
    "copy": np.copy,
    "squeeze": np.squeeze,
    "cumsum": np.cumsum,
    "cumprod": np.cumprod,
    "trace": np.trace,
    "clip": np.clip,
    "argmax": np.argmax,
    "argmin": np.argmin,
    "astype": runtime.astype,
    "reshape": np.reshape,
    "repeat": np.repeat,
    "diagonal": np.diagonal,
    "swapaxes": np.swapaxes,
}
# x.attribute -> numpy function(x)
ATTRIBUTES = {"T": np.transpose, "shape": np.shape, "ndim": np.ndim, "size": np.size}


class Normalizer:
    """A user function's tree to A-normal form: one op per statement.

    Why one class over 300 lines: a visitor with a method per Python construct, sharing the
    state of the function being normalized (names, the helpers being inlined, free values);
    the constructs are many, the state is one."""

    def __init__(self, parsed: Parsed, root=None):
        self.parsed = parsed
        tree = parsed.tree
        names = (
            root.names
            if root is not None
            else NameGen(_assigned(tree) | _all_names(tree) | {a.arg for a in tree.args.args})
        )
        desugar(parsed, names)
        bound = set(parsed.bound)  # bound by a partial or a method (their values: prologue)
        every = [a.arg for a in tree.args.args]
        self.kwonly = [a.arg for a in tree.args.kwonlyargs]
        self.params = [p for p in every if p not in bound]
        if root is None:
            # (parameters with default values are passed like the others: api.py says so)
            if any(p not in bound for p in self.kwonly):
                raise parsed.error(
                    tree,
                    "keyword-only parameters",
                    "make them positional parameters, or bind them with functools.partial",
                )
        self.locals = set(every) | set(self.kwonly) | _assigned(tree)
        self.objects = {}  # a name bound to an object (a method's self) -> (owner, path) to read it
        self.root = root or self
        if root is None:
            self.free_values = []  # parameter names of free values (globals, closure constants)
            self.free_sources = []  # (function, name) each one is read from at call time
            self.inlining = [binding(parsed.fn).function]  # the functions being inlined (no recursion)
        self.names = names
        self.names.taken.update(self.locals)
        self.versions = {}  # straight-line SSA: user name -> current version name
        self.version_count = {}
        self.first_write = set()  # inlined helper locals: renamed, not yet assigned
        self.loop_depth = 0
        self.line = None
        self.call_line = None  # inlined code is reported at its call site

    # --- helpers --------------------------------------------------------------------------

    def error(self, node, construct, advice, cls=UnsupportedError):
        return self.parsed.error(node, construct, advice, cls)

    def emit(self, out, op, args, kwargs=None, hint="t"):
        target = self.names.fresh(hint)
        out.append(Assign(target, op, list(args), dict(kwargs or {}), line=self.line))
        return Var(target)

    def emit_operator(self, out, op, args, hint):
        """An operator (``a + b``, ``-a``, ``a < b``, ``a and b``) as its NumPy ufunc, marked
        ``from_operator``: on lists and tuples Python's operators concatenate and repeat where
        the ufunc would add (checks.py refuses that)."""
        value = self.emit(out, op, args, hint=hint)
        out[-1].from_operator = True
        return value

    def read(self, name):
        return Var(self.versions.get(name, name))

    def write(self, name):
        """The name an assignment to ``name`` binds (renamed if already bound, outside loops)."""
        if name in self.first_write:
            self.first_write.discard(name)
            return self.versions[name]
        if self.loop_depth == 0 and (name in self.versions or name in self.params):
            count = self.version_count.get(name, 1) + 1
            self.version_count[name] = count
            new = self.names.fresh(f"{name}_v{count}")
            self.versions[name] = new
            return new
        self.versions.setdefault(name, name)
        return self.versions[name]

    # --- statements -------------------------------------------------------------------------

    def function(self) -> Function:
        body = self.bind_parameters(self.parsed.fn, self.parsed.bound, {}, self.parsed.tree)
        body += self.block(self.parsed.tree.body)
        if not body or not isinstance(body[-1], Return):
            raise self.error(self.parsed.tree, "function without a final return", "return the value to differentiate")
        fn = Function(
            name=self.parsed.tree.name,
            params=self.params + self.free_values,
            body=body,
            filename=self.parsed.filename,
            source_lines=self.parsed.source_lines,
            free_values=list(self.free_values),
            free_sources=list(self.free_sources),
            def_line=self.parsed.line(self.parsed.tree),
        )
        return fn

    def bind_parameters(self, owner, names, given, node):
        """Statements binding the parameters ``names`` that ``owner`` (a partial, a bound method)
        binds: each one a value read at every call, as a global is (a constant, never
        differentiated), or, for an object (a method's self), a name whose attributes are read
        so (``self.w``). ``given``: ObjectRefs passed instead (``self.helper(x)``)."""
        out = []
        self.line = self.call_line or self.parsed.line(node)
        for p in names:
            ref = given.get(p)
            if ref is None:
                value = resolve_free_name(owner, p)
                if _is_object(value):
                    ref = ObjectRef(owner, p)
                else:
                    atom = self.constant_or_param(node, value, p, source=(owner, p))
                    out.append(Assign(self.write(p), COPY, [atom], line=self.line))
                    continue
            self.objects[p] = (ref.owner, ref.path)
        return out

    def block(self, stmts):
        out = []
        for i, stmt in enumerate(stmts):
            if isinstance(stmt, ast.Return) and i != len(stmts) - 1:
                raise self.error(stmts[i + 1], "code after return", "remove the unreachable code")
            if isinstance(stmt, ast.Return) and stmts is not self.parsed.tree.body:
                raise self.error(stmt, "return inside a branch or loop", "return once, at the end")
            self.statement(stmt, out)
        return out

    def statement(self, node, out):
        self.line = self.call_line or self.parsed.line(node)
        if isinstance(node, ast.Expr):
            if isinstance(node.value, ast.Constant):  # docstring
                return
            helper = self.helper_of(node.value)
            if helper is not None:
                # fill(y, x): a helper called for what it writes into its arguments, inlined
                # (its writes are writes into the caller's arrays); its result is dropped
                self.call(node.value, out, helper.__name__)
                return
            raise self.error(
                node,
                f"expression statement {_short(node.value)}",
                "assign its result, or remove it (only calls of your own functions, for what they "
                "write into their arguments, are followed; other side effects are not differentiated)",
            )
        if isinstance(node, ast.Pass):
            return
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if node.value is None:
                return
            if len(targets) != 1:
                raise self.error(node, "chained assignment a = b = ...", "assign one name per statement")
            self.assign(targets[0], node.value, out, node)
        elif isinstance(node, ast.AugAssign):
            op = BINARY_OPS.get(type(node.op))
            if op is None:
                raise self.error(node, f"augmented operator {type(node.op).__name__}", "write it out")
            target = node.target
            if isinstance(target, ast.Name):
                value = ast.BinOp(ast.Name(target.id, ast.Load()), node.op, node.value)
                self.assign(target, value, out, node)
                last = out[-1] if out else None
                if (
                    isinstance(last, Assign)
                    and getattr(last, "from_operator", False)
                    and last.target == self.read(target.id).name
                ):
                    # on an array, x += v writes into x's buffer (any view of it sees the
                    # write); the IR rebinds the name, semantics.py checks nothing else sees it
                    last.in_place = True
            elif isinstance(target, ast.Subscript):
                load = ast.Subscript(target.value, target.slice, ast.Load())
                self.assign(target, ast.BinOp(load, node.op, node.value), out, node)
            else:
                raise self.error(node, "augmented assignment to this target", "assign to a name or an array element")
        elif isinstance(node, ast.Return):
            if node.value is None:
                raise self.error(node, "return without a value", "return the value to differentiate")
            if isinstance(node.value, ast.Tuple):
                out.append(Return([self.expr(e, out, "out") for e in node.value.elts], True, self.line))
            else:
                out.append(Return([self.expr(node.value, out, "out")], False, self.line))
        elif isinstance(node, ast.If):
            test = self.expr(node.test, out, "cond")
            self.loop_depth += 1  # names bound in branches keep their names
            body, orelse = self.block(node.body), self.block(node.orelse)
            self.loop_depth -= 1
            out.append(If(test, body, orelse, self.parsed.line(node)))
        elif isinstance(node, ast.For):
            if node.orelse:
                raise self.error(node, "for ... else", "move the else block after the loop")
            if not isinstance(node.target, ast.Name):
                raise self.error(node, "for loop over several names", "loop over range(...) and index")
            iterable = self.expr(node.iter, out, "iter")
            self.loop_depth += 1
            target = self.write(node.target.id)  # an inlined helper's loop index is renamed too
            body = self.block(node.body)
            self.loop_depth -= 1
            out.append(For(target, iterable, body, self.parsed.line(node)))
        elif isinstance(node, ast.While):
            if node.orelse:
                raise self.error(node, "while ... else", "move the else block after the loop")
            self.loop_depth += 1
            test_body = []
            test = self.expr(node.test, test_body, "cond")
            body = self.block(node.body)
            self.loop_depth -= 1
            out.append(While(test_body, test, body, self.parsed.line(node)))
        else:
            raise self.error(node, type(node).__name__, "not supported in differentiated code")

    def assign(self, target, value, out, node):
        if isinstance(target, ast.Name):
            atom = self.expr(value, out, target.id)
            name = self.write(target.id)
            last = out[-1] if out else None
            if (
                isinstance(atom, Var)
                and isinstance(last, Assign)
                and last.target == atom.name
                and atom.name not in self.locals
            ):
                # rename the temporary that computed the value rather than copying it
                self.names.taken.discard(last.target)
                last.target = name
            else:
                out.append(Assign(name, COPY, [atom], line=self.line))
        elif isinstance(target, (ast.Tuple, ast.List)):
            atom = self.expr(value, out, "tup")
            for k, elt in enumerate(target.elts):
                if not isinstance(elt, ast.Name):
                    raise self.error(node, "nested unpacking target", "unpack into plain names")
                out.append(Assign(self.write(elt.id), GETITEM, [atom, Const(k)], line=self.line))
        elif isinstance(target, ast.Subscript):
            if not isinstance(target.value, ast.Name) or target.value.id not in self.locals:
                raise self.error(node, "assignment into this subscript", "write into a local array")
            index = self.index(target.slice, out)
            val = self.expr(value, out, target.value.id)
            out.append(SetItem(self.read(target.value.id).name, index, val, self.line))
        else:
            raise self.error(node, f"assignment to {type(target).__name__}", "assign to a name")

    # --- expressions ---------------------------------------------------------------------------

    def expr(self, node, out, hint):
        """An atom holding the value of ``node``; statements computing it go to ``out``."""
        if isinstance(node, ast.Constant):
            if isinstance(node.value, complex):
                raise self.error(node, f"complex number {node.value!r}", COMPLEX_ADVICE)
            return Const(node.value)
        if isinstance(node, ast.Name):
            if node.id in self.objects:
                raise self.error(
                    node,
                    f"{node.id!r} (an object) used as a value",
                    f"read its array or number attributes ({node.id}.w), or call its methods",
                )
            if node.id in self.locals:
                return self.read(node.id)
            return self.free_value(node, node.id)
        if isinstance(node, ast.BinOp):
            op = BINARY_OPS.get(type(node.op))
            if op is None:
                raise self.error(node, f"operator {type(node.op).__name__}", "use a NumPy function")
            a = self.expr(node.left, out, hint)
            b = self.expr(node.right, out, hint)
            return self.emit_operator(out, op, [a, b], hint)
        if isinstance(node, ast.UnaryOp):
            operand = self.expr(node.operand, out, hint)
            if isinstance(node.op, ast.UAdd):
                return operand
            op = UNARY_OPS.get(type(node.op))
            if op is None:
                raise self.error(node, f"operator {type(node.op).__name__}", "use a NumPy function")
            if isinstance(operand, Const) and op is np.negative:
                return Const(-operand.value)
            return self.emit_operator(out, op, [operand], hint)
        if isinstance(node, ast.Compare):
            left = self.expr(node.left, out, hint)
            result = None
            for cmp, right_node in zip(node.ops, node.comparators):
                op = COMPARE_OPS.get(type(cmp))
                if op is None:
                    raise self.error(node, f"comparison {type(cmp).__name__}", "use < <= > >= == !=")
                right = self.expr(right_node, out, hint)
                value = self.emit_operator(out, op, [left, right], hint)
                result = value if result is None else self.emit_operator(out, np.logical_and, [result, value], hint)
                left = right
            return result
        if isinstance(node, ast.BoolOp):
            op = BOOL_OPS[type(node.op)]
            values = [self.expr(v, out, hint) for v in node.values]
            result = values[0]
            for v in values[1:]:
                result = self.emit_operator(out, op, [result, v], hint)
            return result
        if isinstance(node, ast.Call):
            return self.call(node, out, hint)
        if isinstance(node, ast.Attribute):
            base = node.value
            ref = self.object_ref(base)
            if ref is not None:
                return self.object_attribute(node, ref)
            if node.attr in ("real", "imag") and isinstance(base, ast.Call):
                self._refuse_complex_call(base)
            if self._is_local_chain(base):
                obj = self.expr(base, out, hint)
                op = ATTRIBUTES.get(node.attr)
                if node.attr in ("real", "imag"):
                    raise self.error(node, f"attribute .{node.attr} (complex values)", COMPLEX_ADVICE)
                if op is None:
                    raise self.error(
                        node, f"attribute .{node.attr}", f"use one of {', '.join('.' + a for a in ATTRIBUTES)}"
                    )
                return self.emit(out, op, [obj], hint=hint)
            value = self.free_object(node)
            return self.constant_or_param(node, value, ast.unparse(node))
        if isinstance(node, ast.Subscript):
            x = self.expr(node.value, out, hint)
            index = self.index(node.slice, out)
            return self.emit(out, GETITEM, [x, *index], hint=hint)
        if isinstance(node, (ast.Tuple, ast.List)):
            elts = [self.expr(e, out, hint) for e in node.elts]
            if all(isinstance(e, Const) for e in elts):
                return Const(tuple(e.value for e in elts))
            return self.emit(out, TUPLE, elts, hint=hint)
        if isinstance(node, ast.IfExp):
            return self.if_expression(node, out, hint)
        raise self.error(node, type(node).__name__, "not supported in differentiated code")

    def if_expression(self, node, out, hint):
        """``a if c else b`` -> ``if c: t = a  else: t = b`` (only the chosen arm runs, as in
        Python); the derivative passes follow the branch in both modes."""
        test = self.expr(node.test, out, "cond")
        if isinstance(test, Const) and isinstance(test.value, (bool, int, float, str, type(None))):
            return self.expr(node.body if test.value else node.orelse, out, hint)  # known now
        target = self.names.fresh(hint)
        self.loop_depth += 1  # names bound in the arms (inlined helpers) keep their names
        try:
            arms = []
            for arm in (node.body, node.orelse):
                stmts = []
                value = self.expr(arm, stmts, hint)
                last = stmts[-1] if stmts else None
                if (
                    isinstance(value, Var)
                    and isinstance(last, Assign)
                    and last.target == value.name
                    and value.name not in self.locals
                ):
                    last.target = target  # the temporary that computed it (a tuple stays a TUPLE)
                else:
                    stmts.append(Assign(target, COPY, [value], line=self.line))
                arms.append(stmts)
        finally:
            self.loop_depth -= 1
        out.append(If(test, arms[0], arms[1], self.line))
        return Var(target)

    def index(self, node, out):
        elts = node.elts if isinstance(node, ast.Tuple) else [node]
        atoms = []
        for e in elts:
            if isinstance(e, ast.Slice):
                parts = [None if p is None else self.expr(p, out, "i") for p in (e.lower, e.upper, e.step)]
                atoms.append(SliceAtom(*parts))
            elif isinstance(e, ast.List):
                # x[[0, 2]] is an integer index array (a tuple would index several axes)
                atoms.append(self.emit(out, np.array, [self.expr(e, out, "i")], hint="i"))
            else:
                atoms.append(self.expr(e, out, "i"))
        return atoms

    def call(self, node, out, hint):
        func = node.func
        kwargs = {}
        ref = self.object_ref(func.value) if isinstance(func, ast.Attribute) else None
        if ref is not None:  # obj.method(...), self.helper(...): the object's attribute, now
            op = resolve_free_name(ref.owner, f"{ref.path}.{func.attr}")
            if is_missing(op):
                raise self.error(node, ast.unparse(func), "no such attribute")
            if not callable(op):
                raise self.error(node, f"call of {ast.unparse(func)}", "call a function")
            if _inlinable(op):
                args = [self.argument(a, out, hint) for a in node.args]
                kwargs = {kw.arg: self.argument(kw.value, out, hint) for kw in node.keywords}
                given = {}
                if isinstance(op, types.MethodType):
                    first = binding(op.__func__).params[0]
                    given[first] = ref
                return self.inline(node, op, args, kwargs, out, given)
            args = [self.expr(a, out, hint) for a in node.args]
            for kw in node.keywords:
                kwargs[kw.arg] = self.expr(kw.value, out, hint)
            return self.emit(out, op, args, kwargs, hint=hint)
        if not isinstance(func, ast.Attribute) or not self._is_local_chain(func.value):
            op = self.free_object(func)
            if _inlinable(op):
                args = [self.argument(a, out, hint) for a in node.args]
                kwargs = {kw.arg: self.argument(kw.value, out, hint) for kw in node.keywords}
                return self.inline(node, op, args, kwargs, out)
        if isinstance(func, ast.Attribute) and self._is_local_chain(func.value):
            op = METHODS.get(func.attr)
            if func.attr in ("conj", "conjugate"):
                raise self.error(node, f"method .{func.attr}() (complex values)", COMPLEX_ADVICE)
            if op is None:
                raise self.error(
                    node,
                    f"method .{func.attr}()",
                    f"use the NumPy function, or one of the methods {', '.join(sorted(METHODS))}",
                )
            obj = self.expr(func.value, out, hint)
            args = [self.expr(a, out, hint) for a in node.args]
            if op is np.reshape and len(args) != 1:
                args = [self._tuple(args, out, hint)]
            if op is np.transpose and len(args) > 1:
                args = [self._tuple(args, out, hint)]
            args = [obj, *args]
        else:
            op = self.free_object(func)
            if not callable(op):
                raise self.error(node, f"call of {ast.unparse(func)}", "call a function")
            if is_complex_kind(op) or any(op is f for f in COMPLEX_FUNCTIONS):
                raise self.error(node, f"{ast.unparse(func)} (complex values)", COMPLEX_ADVICE)
            if (
                (op is np.array or op is np.asarray)
                and len(node.args) == 1
                and not node.keywords
                and _nested_display(node.args[0])
                and not _constant_display(node.args[0])
            ):
                return self._nested_array(node.args[0], out, hint)
            args = [self.expr(a, out, hint) for a in node.args]
        for kw in node.keywords:
            kwargs[kw.arg] = self.expr(kw.value, out, hint)
            if (
                kw.arg == "dtype"
                and isinstance(kwargs[kw.arg], Const)
                and is_complex_kind(kwargs[kw.arg].value, strings=True)
            ):
                raise self.error(node, f"dtype={ast.unparse(kw.value)} (complex values)", COMPLEX_ADVICE)
        args, kwargs = _keywords_as_positions(op, args, kwargs)
        if isinstance(func, ast.Attribute) and func.attr == "flatten" and op is np.ravel:
            # x.flatten() always copies (np.ravel may return a view that a write would go through)
            return self.emit(out, np.copy, [self.emit(out, op, args, kwargs, hint=hint)], hint=hint)
        return self.emit(out, op, args, kwargs, hint=hint)

    def _nested_array(self, display, out, hint):
        """``np.array([[x, y], [y, x]])`` (rows of values or arrays): each row an array, the
        rows stacked along a new first axis, as NumPy builds it; no tuple of tuples is left for
        the passes to index."""
        if not _nested_display(display):
            return self.emit(out, np.array, [self.expr(display, out, hint)], hint=hint)
        rows = [
            self._nested_array(e, out, hint) if isinstance(e, (ast.List, ast.Tuple)) else self.expr(e, out, hint)
            for e in display.elts
        ]
        return self.emit(out, np.stack, [self._tuple(rows, out, hint)], hint=hint)

    def _refuse_complex_call(self, call):
        """``np.fft.fft(x).real``: name the function without a rule, not the attribute after it."""
        func = call.func
        if isinstance(func, ast.Attribute) and self._is_local_chain(func.value):
            return
        try:
            op = self.free_object(func)
        except UnsupportedError:
            return
        from ..backends.codegen import display_name
        from ..errors import MissingRuleError
        from ..rules import NONDIFFERENTIABLE, differentiable_ops

        try:
            if _inlinable(op) or op in differentiable_ops() or op in NONDIFFERENTIABLE:
                return
        except TypeError:  # an unhashable callable
            return
        raise self.error(
            call,
            f"{display_name(op)} has no derivative rule (its result here is complex: "
            "complex values are outside what s2sad differentiates)",
            "register one with @elementwise, or @tangent_rule and @adjoint_rule, from s2sad.rules "
            "(see s2sad/rules/numpy_rules.py), or keep its argument constant",
            MissingRuleError,
        )

    def helper_of(self, node):
        """The user function ``node`` calls (a module-level helper, a method of an object, a
        partial or a lambda), or None."""
        if not isinstance(node, ast.Call):
            return None
        func = node.func
        ref = self.object_ref(func.value) if isinstance(func, ast.Attribute) else None
        if ref is not None:
            op = resolve_free_name(ref.owner, f"{ref.path}.{func.attr}")
            return op if _inlinable(op) else None
        if isinstance(func, ast.Attribute) and self._is_local_chain(func.value):
            return None
        if isinstance(func, ast.Name) and func.id in self.locals:
            return None
        try:
            op = self.free_object(func)
        except UnsupportedError:
            return None
        return op if _inlinable(op) else None

    def argument(self, node, out, hint):
        """An argument of an inlined call: an atom, or an ObjectRef for an object (``self``)."""
        ref = self.object_ref(node)
        return ref if ref is not None else self.expr(node, out, hint)

    def object_ref(self, node):
        """An ObjectRef if ``node`` names an object (a method's self, a global instance, an
        object attribute of one), else None."""
        if isinstance(node, ast.Name):
            if node.id in self.objects:
                return ObjectRef(*self.objects[node.id])
            if node.id in self.locals:
                return None
            value = self.parsed.resolve(node.id)
            return ObjectRef(self.parsed.fn, node.id) if _is_object(value) else None
        if isinstance(node, ast.Attribute):
            base = self.object_ref(node.value)
            if base is None:
                return None
            path = f"{base.path}.{node.attr}"
            return ObjectRef(base.owner, path) if _is_object(resolve_free_name(base.owner, path)) else None
        return None

    def object_attribute(self, node, ref):
        """``obj.w``: read at each call, as a global is (a constant, never differentiated)."""
        path = f"{ref.path}.{node.attr}"
        value = resolve_free_name(ref.owner, path)
        if is_missing(value):
            raise self.error(node, ast.unparse(node), "no such attribute")
        return self.constant_or_param(node, value, ast.unparse(node), source=(ref.owner, path))

    def inline(self, node, helper, args, kwargs, out, given=None):
        """A call of the user's own function (a def, a lambda, a partial, a method): its body,
        normalized in place (recursively, so helpers of helpers work), with its locals renamed
        apart from the caller's. ``given``: parameters bound to ObjectRefs by the caller."""
        root = self.root
        bind = binding(helper)
        function = bind.function
        name = getattr(function, "__name__", "helper")
        if function in root.inlining:
            raise self.error(node, f"recursive call of {name}", "rewrite the recursion as a loop")
        try:
            return self._inline(node, helper, args, kwargs, out, given, bind, function, name)
        except UnsupportedError as exc:
            raise self._through_call(exc, node, name) from None

    def _through_call(self, exc, node, name):
        """An error in an inlined function (one of the user's helpers, or library code such as
        scipy.optimize.rosen), prefixed with the call that led there: the message reads as the
        chain of calls from the user's function down to the construct."""
        from ..errors import where

        here = where(self.parsed.filename, self.parsed.line(node))
        if str(exc).startswith(here):
            return exc
        error = type(exc)(f"{here}: in the call of {name} -> {exc}")
        error.__dict__.update(exc.__dict__)
        return error

    def _inline(self, node, helper, args, kwargs, out, given, bind, function, name):
        root = self.root
        from .parse import parse

        parsed = parse(function)
        _returns_none(parsed.tree)
        sub = Normalizer(parsed, root)
        sub.call_line = self.call_line or self.line
        sub.loop_depth = self.loop_depth
        for local in sorted(sub.locals):
            sub.versions[local] = self.names.fresh(local)
            sub.first_write.add(local)
        tree = parsed.tree
        given = dict(given or {})
        # what the partial or the method binds (the caller's ObjectRef for self.method(...))
        prologue = sub.bind_parameters(helper, [p for p in bind.bound if p not in given], {}, tree)
        prologue_objects = dict(sub.objects)
        sub.bind_parameters(helper, [p for p in given], given, tree)
        sub.objects.update(prologue_objects)
        out.extend(prologue)
        params = bind.params  # the positional parameters left to the caller
        keywords = [p for p in sub.params + sub.kwonly if p not in bind.bound and p not in given]
        defaults = _defaults(function)
        bound = dict(zip(params, args))
        for key, value in kwargs.items():
            if key not in keywords or key in bound:
                raise self.error(node, f"call of {name} with keyword {key!r}", "check the arguments")
            bound[key] = value
        if len(args) > len(params):
            raise self.error(node, f"call of {name} with {len(args)} arguments", f"it takes {len(params)}")
        for p in keywords:
            if p not in bound:
                if p not in defaults:
                    raise self.error(node, f"call of {name} without argument {p!r}", "pass it explicitly")
                default = defaults[p]
                if not isinstance(default, (bool, int, float, str, type(None))):
                    raise self.error(
                        node,
                        f"call of {name} without argument {p!r} (its default is a {type(default).__name__})",
                        "pass it explicitly",
                    )
                bound[p] = Const(default)
        rebound = _assigned(tree)
        for p in keywords:
            value = bound[p]
            if isinstance(value, ObjectRef):
                if p in rebound:
                    raise self.error(node, f"{name} rebinds its parameter {p!r}, an object", "use another name")
                sub.objects[p] = (value.owner, value.path)
                continue
            if isinstance(value, Var) and p not in rebound and value.name not in root.free_values:
                # a parameter the helper never rebinds is the caller's variable itself: a write
                # into it (y[0] = ...) is a write into the caller's array, as in Python
                sub.versions[p] = value.name
                sub.first_write.discard(p)
                continue
            out.append(Assign(sub.write(p), COPY, [value], line=sub.call_line))
        root.inlining.append(function)
        try:
            body = sub.block(tree.body)
        finally:
            root.inlining.pop()
        if not body or not isinstance(body[-1], Return):
            raise sub.error(tree, f"helper {name} without a final return", "return its value")
        ret = body.pop()
        out.extend(body)
        if ret.is_tuple:
            return self.emit(out, TUPLE, ret.values, hint=tree.name)
        return ret.values[0]

    def _tuple(self, atoms, out, hint):
        if all(isinstance(a, Const) for a in atoms):
            return Const(tuple(a.value for a in atoms))
        return self.emit(out, TUPLE, atoms, hint=hint)

    def _is_local_chain(self, node):
        """Is ``node`` a computed value (a local, a call, ...): its ``.attr`` is an array
        attribute or method. An object's attribute chain (``self.W.T``; ``self.W`` itself is
        read by object_attribute, object_ref comes first) is one too."""
        while isinstance(node, ast.Attribute):
            node = node.value
        if isinstance(node, ast.Name):
            if node.id in self.objects:
                return True
            if node.id not in self.locals:
                return _is_object(self.parsed.resolve(node.id))
            return True
        return True  # a call, subscript, ... : a computed value

    def free_object(self, node):
        """Resolve ``np.linalg.norm``-style chains of free names to the object."""
        if isinstance(node, ast.Name) and node.id in self.objects:
            return resolve_free_name(*self.objects[node.id])
        if isinstance(node, ast.Name):
            value = self.parsed.resolve(node.id)
            if is_missing(value):
                raise self.error(node, f"name {node.id!r}", "it is not defined when the function is transformed")
            return value
        if isinstance(node, ast.Attribute):
            base = self.free_object(node.value)
            try:
                return getattr(base, node.attr)
            except AttributeError:
                raise self.error(node, ast.unparse(node), "no such attribute") from None
        raise self.error(node, f"call of {ast.unparse(node)}", "call a named function")

    def free_value(self, node, name):
        value = self.free_object(node)
        return self.constant_or_param(node, value, name)

    def constant_or_param(self, node, value, spelled, source=None):
        """A free value: a constant (module constants, dtypes) or an extra parameter of the
        generated function read at each call from ``source`` (``(owner, name)``; by default
        the global or closure name ``spelled`` of this function)."""
        if _is_object(value):
            raise self.error(
                node,
                f"{spelled} (a {type(value).__name__} object) used as a value",
                "read its array or number attributes, or pass arrays as arguments",
            )
        if (
            is_complex_kind(value)
            or isinstance(value, (complex, np.complexfloating))
            or (isinstance(value, np.ndarray) and value.dtype.kind == "c")
        ):
            raise self.error(node, f"{spelled} (a complex value or dtype)", COMPLEX_ADVICE)
        if isinstance(value, type) and issubclass(value, np.generic) or isinstance(value, np.dtype):
            return Const(value)  # np.float64 as a dtype argument
        if value is float or value is int or value is bool:
            return Const(np.dtype(value).type)  # dtype=float: NumPy's own reading of the builtin
        if isinstance(value, (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, np.ufunc, type)):
            raise self.error(node, f"{spelled} used as a value", "call it, or pass values as arguments")
        if isinstance(value, float) and spelled.count(".") == 1 and spelled.split(".")[0] in ("np", "math", "numpy"):
            return Const(value)  # np.pi, math.e: module constants
        if "." in spelled and source is None:
            if isinstance(value, (int, float)) or value is None:
                return Const(value)  # (np.newaxis is None)
            raise self.error(node, spelled, "bind it to a module-level name first")
        root = self.root
        if source is None:
            source = (self.parsed.fn, spelled)
        elif isinstance(value, (list, dict, set)):
            raise self.error(
                node, f"{spelled} (a {type(value).__name__})", "s2sad reads arrays, numbers and tuples of them"
            )
        if source in root.free_sources:
            return Var(root.free_values[root.free_sources.index(source)])
        base = source[1].replace(".", "_")
        name = base if self is root and base not in root.names.taken else root.names.fresh(base)
        root.names.taken.add(name)
        root.free_values.append(name)
        root.free_sources.append(source)
        return Var(name)


COMPLEX_ADVICE = (
    "complex values are outside what s2sad differentiates; keep real and imaginary parts as two float arrays"
)
COMPLEX_FUNCTIONS = (np.real, np.imag, np.conj, np.conjugate, np.angle, np.iscomplex, np.iscomplexobj)


def is_complex_kind(value, strings=False) -> bool:
    """Is ``value`` a complex type or dtype (``complex``, ``np.complex128``; with ``strings``
    also a dtype's name, ``"c16"``)?"""
    if value is complex:
        return True
    if isinstance(value, type) and issubclass(value, np.complexfloating):
        return True
    if isinstance(value, np.dtype) or strings and isinstance(value, str):
        try:
            return np.dtype(value).kind == "c"
        except TypeError:
            return False
    return False


def _nested_display(node):
    """A list or tuple display with a list or tuple display among its items."""
    return isinstance(node, (ast.List, ast.Tuple)) and any(isinstance(e, (ast.List, ast.Tuple)) for e in node.elts)


def _constant_display(node):
    """A display of number literals only (NumPy builds it as a constant, as before)."""
    if isinstance(node, (ast.List, ast.Tuple)):
        return all(_constant_display(e) for e in node.elts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _constant_display(node.operand)
    return isinstance(node, ast.Constant)


def _keywords_as_positions(op, args, kwargs):
    """``np.sum(a=x)``, ``np.dot(a=x, b=y)``: the required parameters a call spells as
    keywords, moved to their positions (rules bind operands by position first, under their own
    parameter names, which need not be NumPy's)."""
    if not kwargs:
        return args, kwargs
    try:
        params = list(inspect.signature(op).parameters.values())
    except (TypeError, ValueError):  # a ufunc or builtin without a signature
        return args, kwargs
    args, kwargs = list(args), dict(kwargs)
    for p in params[len(args) :]:
        if p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD or p.default is not p.empty or p.name not in kwargs:
            break
        args.append(kwargs.pop(p.name))
    return args, kwargs


def _is_numpy(op):
    return getattr(op, "__module__", "") and op.__module__.split(".")[0] == "numpy"


class ObjectRef:
    """An object (a method's self, a global instance) in normalize: never a value of the IR;
    its attributes are read at each call from ``owner`` by the dotted ``path``."""

    def __init__(self, owner, path):
        self.owner, self.path = owner, path


def _is_object(value) -> bool:
    """An instance of a user's class (not an array, number, string, tuple, list, module,
    function, class, dtype, ufunc or missing name)."""
    if (
        is_missing(value)
        or value is None
        or isinstance(
            value,
            (
                np.ndarray,
                np.generic,
                int,
                float,
                complex,
                bool,
                str,
                bytes,
                tuple,
                list,
                dict,
                set,
                slice,
                type,
                types.ModuleType,
                types.FunctionType,
                types.BuiltinFunctionType,
                types.MethodType,
                np.ufunc,
                np.dtype,
                functools.partial,
                range,
                type(Ellipsis),
            ),
        )
    ):
        return False
    module = getattr(type(value), "__module__", "") or ""
    return module.split(".")[0] not in ("builtins", "numpy", "math", "functools")


def _inlinable(op) -> bool:
    """A callable s2sad inlines: a user's def or lambda, a partial of one, a bound method."""
    if isinstance(op, (functools.partial, types.MethodType)):
        try:
            op = binding(op).function
        except S2SADError:
            return False
    if not isinstance(op, types.FunctionType) or getattr(op, "s2sad_primitive", False) or _is_numpy(op):
        return False
    from ..rules import COMPOSITES

    return op not in COMPOSITES  # (a library function defined by a composite, scipy.special.logsumexp: an op)


def _returns_none(tree):
    """A helper's ``return`` and its end without one return None, as in Python."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Return) and node.value is None:
            node.value = ast.copy_location(ast.Constant(None), node)
    if not tree.body or not isinstance(tree.body[-1], ast.Return):
        last = tree.body[-1] if tree.body else tree
        end = ast.Return(ast.Constant(None))
        ast.copy_location(end, last)
        end.lineno = getattr(last, "end_lineno", None) or last.lineno
        ast.fix_missing_locations(end)
        tree.body.append(end)


def _short(node, limit=40):
    text = ast.unparse(node)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _assigned(tree):
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def _all_names(tree):
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)} | set(dir(builtins))


def normalize(parsed: Parsed) -> Function:
    """Lower a parsed function to A-normal form IR."""
    return Normalizer(parsed).function()
