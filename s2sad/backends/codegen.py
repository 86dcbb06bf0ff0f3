"""Pass 8: IR -> readable Python source.

Operators come back as operators (``numpy.add`` prints ``a + b``), NumPy functions as
``np.name``, runtime helpers as ``rt.name``; each block of statements derived from one line
of the user's code is preceded by a comment quoting that line. The text is checked by
parsing it with the standard library's ``ast`` (``ast.unparse`` is what the README
recommends over the unmaintained astunparse for turning trees into text).
"""

from __future__ import annotations

import ast
import builtins
import math

import numpy as np

from .. import runtime
from ..errors import S2SADError
from ..ir import (
    APPEND,
    COPY,
    GETITEM,
    NEW_STACK,
    PLACEHOLDER,
    POP,
    TUPLE,
    Assign,
    Const,
    For,
    If,
    Return,
    SetItem,
    SliceAtom,
    Var,
    While,
    walk,
)
from . import ops

PRODUCTS = {np.dot: "dot", np.inner: "inner", np.matmul: "matmul"}
INFIX = ops.INFIX
ATTRIBUTE_FORM = {np.shape: "shape", np.ndim: "ndim", np.size: "size"}
# reductions along one axis the numba backend calls as nk.extreme_axis (True: the largest)
EXTREMES = {np.max: True, np.amax: True, np.min: False, np.amin: False}

# ufuncs (and np.where) the numba backend calls as shared kernels (s2sad/backends/numba/kernels.py, one
# function per name) when an operand may be an array: ``nk.add(a, b)`` for ``a + b``; the binary
# ones have a ``<name>_loops`` twin, for results of 3 or more axes (kernels._loops) (ops.UFUNCS)
KERNEL_UFUNCS = ops.KERNEL_UFUNCS
LOOP_KERNELS = ops.LOOP_KERNELS

_NAMES = None


def _callable_names():
    names = {}
    for modname, module in (("np.linalg", np.linalg), ("np", np), ("math", math)):
        for attr in dir(module):
            if attr.startswith("_"):
                continue
            obj = getattr(module, attr)
            if callable(obj):
                names.setdefault(id(obj), f"{modname}.{attr}")
    for attr in ("abs", "len", "range", "float", "int", "min", "max", "bool", "enumerate", "zip"):
        names[id(getattr(builtins, attr))] = attr
    for prim in runtime.RUNTIME_PRIMITIVES:
        names[id(prim)] = f"rt.{prim.__name__}"
    # the classic spellings for NumPy 2's aliases (np.permute_dims, np.atan, np.concat ...)
    for attr in (
        "abs",
        "divide",
        "max",
        "min",
        "round",
        "power",
        "transpose",
        "concatenate",
        "arctan",
        "arcsin",
        "arccos",
        "arctan2",
        "arcsinh",
        "arccosh",
        "arctanh",
    ):
        names[id(getattr(np, attr))] = f"np.{attr}"
    names[id(np.true_divide)] = "np.divide"
    return names


def callable_name(op) -> str:
    global _NAMES
    if _NAMES is None:
        _NAMES = _callable_names()
    name = _NAMES.get(id(op))
    if name is None:
        raise S2SADError(f"generated code cannot name {op!r}")
    return name


def display_name(op) -> str:
    """The name of an op for messages (``np.fft.fft``), even one generated code cannot call."""
    try:
        return callable_name(op)
    except S2SADError:
        module = getattr(op, "__module__", "") or ""
        module = "np" + module[5:] if module.startswith("numpy") else module
        name = getattr(op, "__name__", repr(op))
        return f"{module}.{name}" if module else name


def atom(a) -> str:
    if isinstance(a, Var):
        return a.name
    if isinstance(a, SliceAtom):
        parts = ["" if p is None else atom(p) for p in (a.lower, a.upper, a.step)]
        text = f"{parts[0]}:{parts[1]}"
        return text + (f":{parts[2]}" if parts[2] else "")
    if isinstance(a, Const):
        return const(a.value)
    raise S2SADError(f"internal: not an atom: {a!r}")


def const(v) -> str:
    if v is Ellipsis:
        return "..."
    if isinstance(v, np.dtype):
        return f"np.{v.name}"
    if isinstance(v, type) and issubclass(v, np.generic):
        return f"np.{np.dtype(v).name}"
    if v is float:
        return "np.float64"
    if isinstance(v, float) and (math.isinf(v) or math.isnan(v)):
        return {math.inf: "np.inf", -math.inf: "-np.inf"}.get(v, "np.nan")
    if isinstance(v, tuple):
        inner = ", ".join(const(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    return repr(v)


def _placeholder_text(kind):
    """A typed value a branch or loop overwrites (so the tape can save what it replaces)."""
    if kind[0] == "array":
        return f"np.zeros({const((0,) * kind[1])}, np.{kind[2]})"
    if kind[0] == "float":
        return "0.0" if kind[1] == "float64" else f"np.{kind[1]}(0.0)"
    return {"int": "0", "bool": "False"}[kind[0]]


def _float32_context(args, types):
    """Is a float32 array an operand? Then float literals are printed as np.float32(...), so
    Numba keeps single precision (it would promote to float64)."""
    for a in args:
        d = types.get(a.name) if isinstance(a, Var) else None
        if isinstance(d, (np.ndarray, np.floating)) and d.dtype == np.float32:
            return True
    return False


def kernel_name(op):
    """The kernel of s2sad/backends/numba/kernels.py that computes ``op`` (None if there is none)."""
    if op is np.where:
        return "where"
    if isinstance(op, np.ufunc) and op.__name__ in KERNEL_UFUNCS:
        return op.__name__
    return None


def _may_be_array(args, types):
    for a in args:
        if isinstance(a, Var) and not isinstance(types.get(a.name), (float, int, bool, np.generic, tuple)):
            return True
    return False


# a ufunc of a float64 scalar, by name -> the math function that computes it (ops.MATH)
MATH_OF_UFUNC = {op.__name__: name for op, name in ops.MATH.items()}


def _is_float64_scalar(a, types):
    value = types.get(a.name) if isinstance(a, Var) else getattr(a, "value", None)
    return type(value) in (float, np.float64)


def _squeeze_index(stmt, types):
    """``np.squeeze(x, axis)`` as the view ``x[:, nk.unit_index(x.shape[1]), :]`` (Numba has
    no np.squeeze; every axis squeezed: the one element, the number a 0-d result is here), or
    None where that does not apply (no constant axis)."""
    x = stmt.args[0]
    axis = stmt.kwargs.get("axis", stmt.args[1] if len(stmt.args) > 1 else None)
    d = types.get(x.name) if isinstance(x, Var) else None
    if not isinstance(axis, Const) or axis.value is None or not isinstance(d, np.ndarray):
        return None
    axes = axis.value if isinstance(axis.value, tuple) else (axis.value,)
    try:
        axes = {int(a) % d.ndim for a in axes}
    except (TypeError, ZeroDivisionError):
        return None
    name = atom(x)
    index = ", ".join(f"nk.unit_index({name}.shape[{k}])" if k in axes else ":" for k in range(d.ndim))
    return f"{name}[{index}]"


def expression(stmt: Assign, types=None, kernels=False) -> str:
    types = types or {}
    op, args = stmt.op, stmt.args
    if hasattr(op, "module_text"):  # fusion.Fused
        return f"{op.name}({', '.join(atom(a) for a in args)})"
    if (
        kernels
        and isinstance(op, np.ufunc)
        and op.__name__ in MATH_OF_UFUNC
        and len(args) == 1
        and not stmt.kwargs
        and _is_float64_scalar(args[0], types)
    ):
        return f"math.{MATH_OF_UFUNC[op.__name__]}({atom(args[0])})"
    if (
        kernels
        and not stmt.kwargs
        and kernel_name(op)
        and _may_be_array(args, types)
        and (op is not np.where or len(args) == 3)
    ):
        single = _float32_context(args, types)
        if op is np.power and isinstance(args[1], Const):
            if args[1].value == 2:  # the kernel's pow() would not see the constant
                return f"nk.square({atom(args[0])})"
        else:
            name = kernel_name(op)
            result = types.get(stmt.target)
            if name in LOOP_KERNELS and isinstance(result, np.ndarray) and result.ndim >= 3:
                name += "_loops"
            return f"nk.{name}({', '.join(_operand(a, single) for a in args)})"
    if kernels and op is np.where and len(args) == 3 and not stmt.kwargs and not _may_be_array(args, types):
        # numbers only: Numba's np.where makes a 0-d array, which does not unify with the float
        # the same name holds on another path (NumPy's 0-d result behaves as that float)
        c, a, b = (atom(x) for x in args)
        return f"({a} if {c} else {b})"
    squeezed = _squeeze_index(stmt, types) if kernels and op is np.squeeze else None
    if squeezed is not None:
        return squeezed
    if kernels and op is np.transpose and len(args) == 2 and not stmt.kwargs:
        return f"nk.transpose({atom(args[0])}, {atom(args[1])})"
    one = _one_axis(stmt, types) if kernels and (op is np.sum or op is np.mean or op in EXTREMES) else None
    if one is not None:
        x, axis, ndim = one
        if op is np.sum:  # Numba's np.sum over an axis compiles slowly, again in each process
            return f"nk.sum_axis({x}, {axis})" if ndim > 1 else f"np.sum({x})"
        if op is np.mean:
            return f"nk.mean_axis({x}, {axis})"
        if ndim == 1:  # the one axis: Numba's reduction without an axis
            return f"np.{'max' if EXTREMES[op] else 'min'}({x})"
        return f"nk.extreme_axis({x}, {axis}, {EXTREMES[op]})"
    if op is COPY:
        return atom(args[0])
    if op is NEW_STACK:
        return "[]"
    if op is POP:
        return f"{atom(args[0])}.pop()"
    if op is PLACEHOLDER:
        return _placeholder_text(args[0].value)
    if op is GETITEM:
        index = ", ".join(atom(i) for i in args[1:])
        return f"{atom(args[0])}[{index}]"
    if op is TUPLE:
        items = ", ".join(atom(a) for a in args)
        return f"({items},)" if len(args) == 1 else f"({items})"
    if (
        kernels
        and op in PRODUCTS
        and len(args) == 2
        and not stmt.kwargs
        and not (
            op is not np.inner
            and all(
                isinstance(types.get(getattr(a, "name", None)), np.ndarray) and 1 <= types[a.name].ndim <= 2
                for a in args
            )
        )
    ):  # Numba has np.dot and @ for 1-2 axes only, no np.inner: kernels.product (any rank)
        return f'nk.product("{PRODUCTS[op]}", {atom(args[0])}, {atom(args[1])})'
    if (
        kernels
        and op is np.concatenate
        and len(args) == 1
        and set(stmt.kwargs) == {"axis"}
        and isinstance(stmt.kwargs["axis"], Const)
        and stmt.kwargs["axis"].value is None
    ):
        return f"nk.concatenate_flat({atom(args[0])})"  # (Numba's np.concatenate has no axis=None)
    if (
        kernels
        and (op is np.matmul or op is np.dot)
        and len(args) == 2
        and not stmt.kwargs
        and all(
            isinstance(types.get(getattr(a, "name", None)), np.ndarray) and 1 <= types[a.name].ndim <= 2 for a in args
        )
    ):  # Numba's own is compiled again in each new process, for each signature; ours is cached
        return f"nk.matmul({atom(args[0])}, {atom(args[1])})"
    if op in INFIX and len(args) == 2 and not stmt.kwargs:
        a, b = (_operand(x, _float32_context(args, types)) for x in args)
        return f"{a} {INFIX[op]} {b}"
    if op is np.negative and not stmt.kwargs:
        return f"-{_operand(args[0])}"
    if op in ATTRIBUTE_FORM and len(args) == 1:
        return f"{atom(args[0])}.{ATTRIBUTE_FORM[op]}"
    if kernels and op is np.stack and args and isinstance(args[0], Var):
        seq = types.get(args[0].name)
        if isinstance(seq, tuple) and seq and all(np.ndim(e) == 0 and not isinstance(e, tuple) for e in seq):
            return f"np.array({atom(args[0])})"  # scalars (any axis: 0 or -1): Numba stacks arrays only
    if op is np.array and args and isinstance(args[0], Var):
        seq = types.get(args[0].name)
        if isinstance(seq, tuple) and seq and all(isinstance(e, np.ndarray) for e in seq):
            op = np.stack  # the same array; Numba builds arrays from tuples of scalars only
        elif kernels and isinstance(seq, np.ndarray) and not stmt.kwargs and len(args) == 1:
            return f"np.copy({atom(args[0])})"  # np.array of an array: a copy (Numba's takes sequences)
    parts = [_call_arg(a) for a in args] + [f"{k}={_call_arg(v)}" for k, v in stmt.kwargs.items()]
    return f"{callable_name(op)}({', '.join(parts)})"


def _one_axis(stmt, types):
    """(array, axis, ndim) of a reduction over one axis given as an int constant, the array's
    rank known (the axis made non-negative); None for any other form."""
    args = stmt.args
    d = types.get(getattr(args[0], "name", None)) if args else None
    axis = stmt.kwargs.get("axis", args[1] if len(args) > 1 else None)
    if not isinstance(d, np.ndarray) or not d.ndim or len(args) + len(stmt.kwargs) != 2:
        return None
    if not isinstance(axis, Const) or not isinstance(axis.value, int) or isinstance(axis.value, bool):
        return None
    return atom(args[0]), axis.value % d.ndim, d.ndim


def _call_arg(a):
    if isinstance(a, SliceAtom):  # a slice outside brackets is spelled slice(...)
        parts = ["None" if p is None else atom(p) for p in (a.lower, a.upper, a.step)]
        return f"slice({', '.join(parts)})"
    return atom(a)


def _operand(a, single=False):
    text = atom(a)
    if single and isinstance(a, Const) and isinstance(a.value, float):
        return f"np.float32({text})"
    return f"({text})" if isinstance(a, Const) and text.startswith("-") else text


def _scalar_scatter_add(stmt, types, pad):
    """``acc = rt.scatter_add(acc, ct, x, i, j)`` of one element (a scalar ``ct``, an int per
    axis of x) as in-place scalar code, a loop over the seed axes: a call per loop trip to a
    compiled helper that takes arrays increments and decrements the arrays' reference counts at
    every trip; the inline loop touches none."""
    if stmt.op is not runtime.scatter_add or not stmt.args or stmt.args[0] != Var(stmt.target):
        return None
    acc, ct, x, *index = stmt.args
    dummy = lambda a: types.get(a.name) if isinstance(a, Var) else a.value  # noqa: E731
    acc_d, ct_d, x_d = dummy(acc), dummy(ct), dummy(x)
    if not isinstance(acc_d, np.ndarray) or np.ndim(ct_d) != 0 or ct_d is None or len(index) != np.ndim(x_d):
        return None
    if not all(isinstance(dummy(i), (int, np.integer)) and not isinstance(dummy(i), bool) for i in index):
        return None
    lead = acc_d.ndim - len(index)
    lines = [f"{pad}{'    ' * d}for s2sad_s{d} in range({atom(acc)}.shape[{d}]):" for d in range(lead)]
    element = ", ".join([f"s2sad_s{d}" for d in range(lead)] + [atom(i) for i in index])
    lines.append(f"{pad}{'    ' * lead}{atom(acc)}[{element}] += {atom(ct)}")
    return lines


def block(stmts, indent, out, fn, last_line, kernels=False):
    pad = "    " * indent
    for stmt in stmts:
        line = getattr(stmt, "line", None)
        if line is not None and line != last_line[0] and fn.source_lines.get(line):
            out.append(f"{pad}# line {line}: {fn.source_lines[line]}")
            last_line[0] = line
        if isinstance(stmt, Assign) and stmt.op is APPEND:
            out.append(f"{pad}{atom(stmt.args[0])}.append({atom(stmt.args[1])})")
        elif isinstance(stmt, Assign) and kernels and (lines := _scalar_scatter_add(stmt, fn.types, pad)):
            out.extend(lines)
        elif isinstance(stmt, Assign):
            out.append(f"{pad}{stmt.target} = {expression(stmt, fn.types, kernels)}")
        elif isinstance(stmt, SetItem):
            index = ", ".join(atom(i) for i in stmt.index)
            out.append(f"{pad}{stmt.array}[{index}] = {atom(stmt.value)}")
        elif isinstance(stmt, Return):
            values = ", ".join(atom(v) for v in stmt.values)
            if stmt.is_tuple and len(stmt.values) == 1:
                values += ","
            out.append(f"{pad}return {values}")
        elif isinstance(stmt, If):
            out.append(f"{pad}if {atom(stmt.test)}:")
            block(stmt.body or [], indent + 1, out, fn, last_line, kernels)
            if not stmt.body:
                out.append(f"{pad}    pass")
            if stmt.orelse:
                out.append(f"{pad}else:")
                block(stmt.orelse, indent + 1, out, fn, last_line, kernels)
        elif isinstance(stmt, For):
            out.append(f"{pad}for {stmt.target} in {atom(stmt.iter)}:")
            block(stmt.body, indent + 1, out, fn, last_line, kernels)
            if not stmt.body:
                out.append(f"{pad}    pass")
        elif isinstance(stmt, While):
            block(stmt.test_body, indent, out, fn, last_line, kernels)
            out.append(f"{pad}while {atom(stmt.test)}:")
            block(stmt.body, indent + 1, out, fn, last_line, kernels)
            block(stmt.test_body, indent + 1, out, fn, last_line, kernels)
        else:
            raise S2SADError(f"internal: cannot print {type(stmt).__name__}")


def emit_source(fn, doc: str | None = None, kernels: bool = False) -> str:
    """The source text of one generated function (without the module header). ``kernels``:
    array operators as calls to the shared kernels (``nk.name``), as the numba backend
    compiles them."""
    fused = {s.op.name: s.op.module for s in walk(fn.body) if isinstance(s, Assign) and hasattr(s.op, "module_text")}
    out = [f"from {module} import fused as {name}" for name, module in sorted(fused.items())]
    out += ["", ""] if fused else []
    out.append(f"def {fn.name}({', '.join(fn.params)}):")
    if doc:
        out.append(f'    """{doc}"""')
    block(fn.body, 1, out, fn, [None], kernels)
    text = "\n".join(out) + "\n"
    from ..frontend.parse import AST_LOCK

    with AST_LOCK:
        ast.parse(text)  # the generated code is valid Python, or this is our bug
    return text
