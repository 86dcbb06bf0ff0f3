"""Fusion (numba backend): chains of elementwise operations computed by one kernel.

The numba backend computes each array operator with a shared kernel (``kernels.py``): one
call, one new array, one pass over memory per operation. On large arrays that traffic is the
cost: rosen's Hessian-vector product at n = 100 000 made about 25 arrays of 800 kB. This pass
finds trees of elementwise operations on float64 arrays of at most two axes, in
straight-line code, whose intermediate values nothing else reads, and replaces each by one
call of a kernel made for the tree: ``out = fk(a, b, c)`` with ``fk`` loops over the
broadcast result computing ``math.sin(a[j] * b[j]) + c[j]`` (see ``Fused``). The kernel's
module is named by its text in the cache folder, so every function with the same tree shares
it, and its machine code is cached on disk. (Operations on three or more axes keep their loop kernels:
Numba's own broadcasting is slower there, see ``kernels._loops``.)
"""

from __future__ import annotations

import os
import re

import numpy as np

from ... import backends
from ...ir import Assign, Const, For, If, Var, While, map_blocks, walk
from ...ir import reads as ir_reads
from ...optimize.shapes import written_in_place
from .. import ops
from ..codegen import MATH_OF_UFUNC

# elementwise ufuncs of floats to floats (no comparisons: bool results) (ops.UFUNCS)
FUSABLE = ops.FUSABLE


class Fused:
    """The op of a fused statement: ``text`` is the kernel's expression over ``a0, a1, ...``
    (its statement's arguments, in order); ``name`` the kernel's name in generated code.
    ``ranks``: each argument's (0 a number, -1 a 0-d array, else its number of axes).

    The kernel is loops over the broadcast result (a row at a time where it has two axes),
    each argument read at the element it contributes: Numba's own array expression computes
    the same, but compiles more slowly than these explicit loops, which run as fast or faster
    (measured: docs/PERFORMANCE.md)."""

    def __init__(self, text, ranks):
        self.text = text
        self.module_text = _loop_module(text, ranks)
        path = backends._write_module(self.module_text, "fused")
        backends._drop_broken_numba_cache(path)
        self.module = "s2sad_generated_" + os.path.basename(path)[:-3]
        self.name = "fk_" + self.module.rsplit("_", 1)[-1]

    def __repr__(self):
        return f"fused[{self.text}]"


def _loop_module(text, ranks):
    """The module of the kernel computing ``text`` (over a0, a1, ...) with loops."""
    nd = max(ranks)
    params = ", ".join(f"a{k}" for k in range(len(ranks)))
    lines = [
        "import math",
        "import numpy as np",
        "",
        "from s2sad.backends.numba import kernels as nk",
        "",
        "",
        "@nk.fused_jit",
        f"def fused({params}):",
    ]
    arrays = [k for k, r in enumerate(ranks) if r > 0]
    for t in range(nd):  # the result's shape, by NumPy's broadcasting rules
        lines.append(f"    n{t} = 1")
        for k in arrays:
            axis = t - (nd - ranks[k])
            if axis >= 0:
                lines += [
                    f"    d = a{k}.shape[{axis}]",
                    "    if d != 1:",
                    f"        if n{t} != 1 and d != n{t}:",
                    '            raise ValueError("operands could not be broadcast together")',
                    f"        n{t} = d",
                ]
    for k in arrays:
        lines += [f"    f{k}_{axis} = a{k}.shape[{axis}] != 1" for axis in range(ranks[k])]
    for k, r in enumerate(ranks):
        if r == 0:
            lines.append(f"    x{k} = a{k}")
        elif r < 0:
            lines.append(f"    x{k} = a{k}[()]")
    shape = ", ".join(f"n{t}" for t in range(nd))
    lines.append(f"    out = np.empty(({shape},), np.float64)")
    # the expression on elements x0, x1, ...: math's spelling of a function where it has one
    element = re.sub(r"\ba(\d+)\b", r"x\1", text)
    element = re.sub(
        r"\bnp\.(\w+)\(", lambda m: f"math.{MATH_OF_UFUNC[m[1]]}(" if m[1] in MATH_OF_UFUNC else m[0], element
    )
    if nd == 1:
        lines.append("    for j in range(n0):")
        lines += [f"        x{k} = a{k}[j if f{k}_0 else 0]" for k in arrays]
        lines.append(f"        out[j] = {element}")
    else:
        lines.append("    for i in range(n0):")
        lines += [f"        r{k} = a{k}[i if f{k}_0 else 0]" for k in arrays if ranks[k] == 2]
        lines += ["        o = out[i]", "        for j in range(n1):"]
        for k in arrays:
            row, axis = (f"r{k}", 1) if ranks[k] == 2 else (f"a{k}", 0)
            lines.append(f"            x{k} = {row}[j if f{k}_{axis} else 0]")
        lines.append(f"            o[j] = {element}")
    lines.append("    return out")
    return "\n".join(lines) + "\n"


def rank_of(dummy):
    """A leaf's rank for ``Fused``: 0 a number, -1 a 0-d array, else its number of axes."""
    if isinstance(dummy, np.ndarray):
        return dummy.ndim if dummy.ndim else -1
    return 0


def fuse(fn):
    """``fn`` with its elementwise trees fused (see the module docstring)."""
    reads, defs = {}, {}
    for stmt in walk(fn.body):
        for name in ir_reads(stmt):
            reads[name] = reads.get(name, 0) + 1
        if isinstance(stmt, (Assign, For)):
            defs[stmt.target] = defs.get(stmt.target, 0) + 1
    single = {n for n, k in defs.items() if k == 1 and reads.get(n) == 1}
    changed = [False]

    def block(stmts):
        out, run = [], []
        for stmt in stmts:
            if isinstance(stmt, (If, For, While)):
                out += straight(run)
                run = []
                out.append(map_blocks(stmt, block))
            else:
                run.append(stmt)
        return out + straight(run)

    def straight(stmts):
        reader = {}  # a single-use name: the position of the statement that reads it
        for k, stmt in enumerate(stmts):
            for name in _reads(stmt):
                if name in single:
                    reader[name] = k
        pending = {}  # name: the tree of a statement folded into its reader
        out = []
        for k, stmt in enumerate(stmts):
            if not _candidate(stmt, fn.types):
                out.append(stmt)
                continue
            tree = (
                stmt.op.__name__,
                [pending.pop(a.name) if isinstance(a, Var) and a.name in pending else a for a in stmt.args],
            )
            r = reader.get(stmt.target)
            if (
                stmt.target in single
                and r is not None
                and r > k
                and _candidate(stmts[r], fn.types)
                and not _written(stmts[k + 1 : r], _leaves(tree))
            ):
                pending[stmt.target] = tree
                continue
            if _size(tree) < 2:
                out.append(stmt)
                continue
            leaves = []
            text = _text(tree, leaves)
            ranks = [rank_of(fn.types.get(n)) for n in leaves]
            out.append(Assign(stmt.target, Fused(text, ranks), [Var(n) for n in leaves], {}, stmt.line))
            changed[0] = True
        return out

    body = block(fn.body)
    return fn.replace(body=body) if changed[0] else fn


def _reads(stmt):
    """Names ``stmt`` reads, those of the statements nested in it included."""
    return [n for s in walk([stmt]) for n in ir_reads(s)]


def _candidate(stmt, types):
    if not (isinstance(stmt, Assign) and isinstance(stmt.op, np.ufunc) and stmt.op.__name__ in FUSABLE) or stmt.kwargs:
        return False
    result = types.get(stmt.target)
    if not (isinstance(result, np.ndarray) and result.dtype == np.float64 and 1 <= result.ndim <= 2):
        return False
    for a in stmt.args:
        if isinstance(a, Const):
            if type(a.value) not in (int, float) or not np.isfinite(a.value):
                return False
            continue
        d = types.get(a.name) if isinstance(a, Var) else None
        if isinstance(d, np.ndarray):
            if d.dtype != np.float64 or d.ndim > 2:
                return False
        elif type(d) not in (float, int, np.float64):
            return False
    return True


def _leaves(tree):
    out = set()
    for a in tree[1]:
        if isinstance(a, tuple):
            out |= _leaves(a)
        elif isinstance(a, Var):
            out.add(a.name)
    return out


def _written(stmts, names):
    """Does a statement of ``stmts`` assign or write into one of ``names``?"""
    assigned = {s.target for s in walk(stmts) if isinstance(s, (Assign, For))}
    return bool(names & (assigned | written_in_place(stmts)))


def _size(tree):
    return 1 + sum(_size(a) for a in tree[1] if isinstance(a, tuple))


# the fusable ufuncs an infix operator computes (+ - * / **)
_OPERATORS = {op.__name__: ops.INFIX[op] for op in ops.UFUNCS if op.__name__ in FUSABLE and op in ops.INFIX}


def _text(tree, leaves):
    """The expression of ``tree`` over a0, a1, ... (``leaves`` collects the names, in order)."""
    op, args = tree
    parts = []
    for a in args:
        if isinstance(a, tuple):
            parts.append(f"({_text(a, leaves)})")
        elif isinstance(a, Var):
            if a.name not in leaves:
                leaves.append(a.name)
            parts.append(f"a{leaves.index(a.name)}")
        else:
            parts.append(f"({a.value!r})")
    if op in _OPERATORS:
        return f"{parts[0]} {_OPERATORS[op]} {parts[1]}"
    if op == "negative":
        return f"-{parts[0]}"
    return f"np.{op}({', '.join(parts)})"
