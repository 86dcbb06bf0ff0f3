"""The passes, in order, for each transformation.

    parse            source -> checked tree, names resolved          (parse.py)
    normalize        tree -> A-normal form IR                        (normalize.py)
    infer_types      dummies for the call's ranks and dtypes         (activity.py)
    expand           ops defined by composition (np.var, keepdims=True) replaced by the ops
                     their definitions emit at trace time            (expand.py)
    semantics        refuse what NumPy/Python would do that the passes would not see (complex
                     values, writes through views, lists used as lists), or rewrite it (lists
                     passed to NumPy as np.stack, fancy writes of differentiated values as
                     loops)                                          (semantics.py)
    differentiate    forward (jacfwd, jvp) or reverse (jacrev, grad, vjp), batched over seeds
    simplify         dead code and common subexpressions removed     (simplify.py)
    structure        shapes followed symbolically: copies that change nothing dropped
                     (shapes.py); identity seeds followed as diagonal values (structure.py);
                     transposes of Jacobian blocks sunk into the operations that make them;
                     then simplify again. Guarded: code built with plain=True is the fallback
    emit_source      IR -> readable Python                          (codegen.py)
    scalarize        numba, code with loops: small arrays of known shape as scalars
                     (scalarize.py; the compiled function is keyed on those shapes)
    compile          python | numba                                  (backends.py)

``S2SAD_DUMP_AFTER=normalize,differentiate,simplify`` prints the source after those passes.
A transformation of a transformation starts from the inner one's typed IR, so the
derivative code is differentiated like user code (``hessian = jacfwd(jacrev(f))``).
"""

from __future__ import annotations

import os
import sys
import threading

import numpy as np

from . import backends, codegen, runtime as rt, scalarize
from . import failures, fusion, rename, semantics, shapes, structure as diagonal
from .activity import infer_types
from .aggregates import split_tuples
from .errors import UnsupportedError, UsageError, where
from .expand import expand_composites
from .forward import differentiate_forward
from .ir import COPY, GETITEM, NEW_STACK, TUPLE, Assign, Const, For, Function, NameGen, Return, SetItem, Var, While, all_names, walk
from .normalize import normalize
from .parse import parse, resolve_free_name
from .reverse import differentiate_reverse
from .simplify import simplify
from .trace import Builder, Sym, building, call, dummy_like, is_float

_USER_IR = {}
_LOCK = threading.RLock()


def _dump(stage, fn):
    wanted = os.environ.get("S2SAD_DUMP_AFTER", "")
    if stage in wanted.split(","):
        print(f"# --- after {stage} ---\n{codegen.emit_source(fn)}", file=sys.stderr)


def user_ir(fn) -> Function:
    """parse + normalize a user function (cached per function object)."""
    with _LOCK:
        ir = _USER_IR.get(fn)
        if ir is None:
            try:
                ir = split_tuples(normalize(parse(fn)))
            except Exception as exc:
                raise failures.from_pass(exc, fn, f"reading {getattr(fn, '__name__', fn)}") from exc
            _dump("normalize", ir)
            _USER_IR[fn] = ir
    return ir


def base_function(g):
    from .api import Transformed

    while isinstance(g, Transformed):
        g = g.fn
    return g


def free_values(g):
    """Values of the user function's free (global/closure) names, read now, as Python would."""
    fn = base_function(g)
    return tuple(resolve_free_name(owner, name) for owner, name in user_ir(fn).free_sources)


def typed_input(g, dummies, plain=False) -> Function:
    """The typed IR that a transformation ``g`` differentiates (``plain``: built without the
    structure pass, at every level)."""
    from .api import Transformed

    inner = g.fn
    dummies = tuple(dummies)[: g.nargs]  # the user's arguments (not tangents or cotangents)
    if isinstance(inner, Transformed):
        return inner.ir_for(dummies, plain)
    ir = user_ir(inner)
    free = tuple(dummy_like(v) for v in free_values(g))
    arg_types = dict(zip(ir.params, dummies + free))
    typed = infer_types(ir, arg_types)
    typed = expand_composites(typed, lambda body: infer_types(body, arg_types))
    _dump("expand", typed)
    nargs = len(ir.params) - len(ir.free_values)
    nums = () if g.argnums is None else g.argnums if isinstance(g.argnums, tuple) else (g.argnums,)
    wrt = [ir.params[k % nargs] for k in nums] if nargs else []
    typed = semantics.check(typed, lambda body: infer_types(body, arg_types), wrt)
    _dump("semantics", typed)
    return typed


def build(g, dummies, plain=False) -> Function:
    """Run the passes of transformation ``g`` for arguments with these dummies; ``plain``:
    without following identity seeds as diagonal values (structure.py), the code its
    guards fall back to."""
    fn = typed_input(g, dummies, plain)
    nargs = len(fn.params) - len(fn.free_values)
    user_params = fn.params[:nargs]
    builder = Builder({p: fn.types[p] for p in fn.params}, NameGen(all_names(fn)))
    builder.declared, builder.filename = fn.types, fn.filename
    name = builder.names.fresh(f"{fn.name}_{g.kind}")
    kind = g.kind
    if kind == "primal":
        return fn.replace(name=name)
    nums = g.argnums if isinstance(g.argnums, tuple) else (g.argnums,)
    nums = tuple(k % nargs for k in nums) if g.argnums is not None else ()
    wrt = [user_params[k] for k in nums]
    for p in wrt:
        if isinstance(fn.types[p], tuple):
            raise UnsupportedError(
                f"{where(fn.filename, fn.def_line)}: argument {p!r} is differentiated but is a "
                "tuple (or list) of values: pass its arrays as separate arguments (or np.stack them into one)"
            )
        if not is_float(fn.types[p]):
            raise UsageError(f"{g.kind}: argument {p!r} is differentiated but is not a float")
    extra_params = []
    if kind in ("jacfwd", "jvp", "jvp_tangents"):
        seeds = {}
        with building(builder, "seed"):
            if kind == "jacfwd":
                # one sweep for all arguments: each gets its rows of one identity
                sizes = [_size(builder, p) for p in wrt]
                offsets = [0]
                for size in sizes:
                    offsets.append(size if isinstance(offsets[-1], int) and offsets[-1] == 0 else offsets[-1] + size)
                total = offsets.pop()
                for p, offset in zip(wrt, offsets):
                    with building(builder, p + "_dot"):
                        seeds[p] = _bind(builder, p + "_dot", rt.seed(builder.sym(p), offset, total))
            else:
                for p in wrt:
                    t = builder.names.fresh(p + "_tangent")
                    builder.types[t] = fn.types[p]
                    extra_params.append(t)
                    seeds[p] = _bind(builder, p + "_dot", _one_seed(builder, t))
        fwd, ret = differentiate_forward(fn, builder, seeds, unit=kind != "jacfwd")
        structure = _structure(fn, ret)
        with building(builder, "jac"):
            if kind in ("jvp", "jvp_tangents"):
                dots = [_regroup(builder, _structure_of(fn, o), lambda leaf: _first(builder, fwd.dot(leaf), leaf)) for o in ret.values]
                values = (list(ret.values) if kind == "jvp" else []) + dots
            else:
                def block(leaf):
                    row = [
                        _jac_forward(builder, fwd.dot(leaf), leaf, p, offset, size, len(wrt) > 1)
                        for p, offset, size in zip(wrt, offsets, sizes)
                    ]
                    return _group(builder, row, isinstance(g.argnums, tuple))

                values = [_regroup(builder, structure, block)]
    else:  # reverse: jacrev, grad, vjp
        ret = _probe_outputs(fn)
        structure = _structure(fn, ret)
        leaves = _leaves(structure)
        if kind in ("grad", "value_and_grad"):
            if len(leaves) != 1 or isinstance(structure, list) or not _is_scalar(fn, leaves[0]):
                raise UsageError(
                    f"{kind} requires a function returning a scalar, but {fn.name} returns "
                    f"{describe_output(fn, ret)}; use jacrev for the Jacobian of a non-scalar output"
                )
        if kind == "vjp":
            ct_params, seeds = [], []
            for k, o in enumerate(ret.values):
                if isinstance(_structure_of(fn, o), list):
                    raise UsageError(f"vjp of {fn.name}: output {k} is a nested tuple; not supported yet")
                t = builder.names.fresh(f"out{k}_cotangent")
                builder.types[t] = _dummy_of(fn, o)
                ct_params.append(t)
                seeds.append((o, lambda t=t: _one_seed(builder, t)))
            extra_params = ct_params
            rev = differentiate_reverse(fn, builder, wrt, seeds, unit=True)
            with building(builder, "grad"):
                values = [_first(builder, rev.bars.get(p), Var(p)) for p in wrt]
        else:
            results = {}
            for i, leaf in enumerate(leaves):
                shape = {}

                def seed(leaf=leaf, shape=shape):
                    # the output's shape (and for value_and_grad its value), read before the
                    # reverse sweep restores taped values
                    y = _sym(builder, leaf)
                    shape["y"] = y.shape if isinstance(y, Sym) else ()
                    if kind == "value_and_grad":
                        with building(builder, "value"):
                            shape["value"] = builder.emit(COPY, [Var(y.name) if isinstance(y, Sym) else y])
                    return rt.one(y) if unit else rt.basis(y)

                unit = _is_scalar(fn, leaf)  # one seed: scalar adjoints of scalars
                rev = differentiate_reverse(fn, builder, wrt, [(leaf, seed)], unit=unit)
                with building(builder, "jac" if kind == "jacrev" else "grad"):
                    row = [
                        _jac_reverse(builder, rev.bars.get(p), leaf, p, shape.get("y")) if kind == "jacrev" else _first(builder, rev.bars.get(p), Var(p))
                        for p in wrt
                    ]
                    results[i] = _group(builder, row, isinstance(g.argnums, tuple))
            order = iter(range(len(leaves)))
            values = [_regroup(builder, structure, lambda leaf: results[next(order)])]
            if kind == "value_and_grad":
                values.insert(0, shape["value"])
    builder.stmts.append(Return([_atom(v) for v in values], len(values) > 1 or kind in ("jvp", "vjp", "jvp_tangents", "value_and_grad")))
    params = user_params + extra_params + list(fn.free_values)
    from .api import Transformed

    out = Function(
        name, params, builder.stmts, fn.filename, fn.source_lines, builder.types, free_values=fn.free_values,
        def_line=fn.def_line,
        # reverse mode of code without stacks pops every stack in the exact mirror order of its
        # pushes, across stacks too (what scalarize.shared_tape needs); code transformed again
        # (jacfwd of jacrev pushes x then x_dot and pops x then x_dot) has no such order
        mirror_stacks=kind in ("jacrev", "grad", "vjp", "value_and_grad") and not any(
            isinstance(s, Assign) and s.op is NEW_STACK for s in walk(fn.body)
        ),
        second_order=isinstance(g.fn, Transformed),
    )
    _dump("differentiate", out)
    out = simplify(out)
    if not plain and diagonal.enabled():
        structured = diagonal.exploit_seeds(shapes.simplify_shapes(out))
        if structured is not out:
            structured = simplify(structured)
        structured = shapes.sink_transposes(structured)
        if structured is not out:
            out = simplify(structured)
            _dump("structure", out)
    _dump("simplify", out)
    return out


def emit(ir: Function, kernels: bool = False) -> str:
    return codegen.emit_source(ir, kernels=kernels)


def compile(ir: Function, backend: str, spec=None):
    """The compiled function; the numba backend compiles the source with shared kernels
    (codegen.KERNEL_UFUNCS) for array operators, and, given ``spec`` (the shapes of small
    arguments, scalarize.spec_of), with those small arrays as scalars."""
    small = None
    if backend == "numba" and spec is not None:
        small = scalarize.try_scalarize(ir, spec)
        if small is not None:
            split = small.split_stacks
            small = simplify(small)
            ir = scalarize.shared_tape(small, split) if ir.mirror_stacks else small
            _dump("scalarize", ir)
    ir = shapes.accumulate_scatters(ir)
    glue = backend == "numba" and is_glue(ir, array_loops=small is None)
    if backend == "numba" and not os.environ.get("S2SAD_NO_RENAME"):
        ir = rename.rename(ir)
    if backend == "numba" and not os.environ.get("S2SAD_NO_FUSION"):
        ir = fusion.fuse(ir)
    return backends.compile_source(emit(ir, kernels=backend == "numba"), ir.name, backend, glue)


def is_glue(ir: Function, array_loops: bool = False) -> bool:
    """Is ``ir`` compiled as glue between kernels (see GLUE_STATEMENTS)? ``array_loops``: also
    long code whose loops work on whole arrays (kernel calls), never on one element (no element
    read, no in-place write inside a loop): in such loops LLVM's module passes took 0.5-3 s of a
    first call and found nothing to speed up (``jacrev`` of a loop over 100-element arrays:
    2.1 -> 1.6 s), while loops over elements (the Huber loop, a nested matrix-vector product)
    ran up to 2.2x slower without them."""
    if os.environ.get("S2SAD_NO_GLUE"):
        return False
    statements = list(walk(ir.body))
    loops = [s for s in statements if isinstance(s, (For, While))]
    if not loops:
        return len(statements) > GLUE_STATEMENTS or ir.second_order
    if not array_loops or len(statements) <= GLUE_STATEMENTS:
        return False
    for stmt in walk(loops):
        if isinstance(stmt, SetItem):
            return False
        if isinstance(stmt, Assign) and stmt.op is GETITEM and np.ndim(ir.types.get(stmt.target)) == 0:
            return False
    return True


# A loop-free function longer than this (or any loop-free derivative of a derivative, which
# calls many kernels: the structured Hessian of W5 has fewer statements, and compiles in
# 1.7 s as glue against 3.9 s) is compiled as glue between kernels (backends._GLUE):
# no module-level optimization, which halves the first call of second-order code (rosen's
# Hessian: 9-10 s -> 5 s) and costs about 10% per call where it inlined small helpers
# (measured on rosen's gradient, 36 statements, which therefore stays optimized).
# S2SAD_NO_GLUE=1 turns it off (to compare).
GLUE_STATEMENTS = 40


def compile_failure(exc, name):
    return backends.compile_failure(exc, name)


def describe_output(fn, ret):
    parts = [codegen_describe(_dummy_of(fn, v)) for v in ret.values]
    return f"a tuple ({', '.join(parts)})" if ret.is_tuple else parts[0]


def codegen_describe(d):
    if isinstance(d, np.ndarray):
        return f"an array of {d.ndim} dimension{'s' if d.ndim != 1 else ''}"
    return type(d).__name__


# --- helpers --------------------------------------------------------------------------------


def _structure_of(fn, atom):
    """An output atom, or (for a value built by a tuple) the nested list of its parts."""
    defs = {s.target: s.args for s in fn.body if isinstance(s, Assign) and s.op is TUPLE}
    if isinstance(atom, Var) and atom.name in defs:
        return [_structure_of(fn, a) for a in defs[atom.name]]
    return atom


def _structure(fn, ret):
    if ret.is_tuple:
        return [_structure_of(fn, v) for v in ret.values]
    return _structure_of(fn, ret.values[0])


def _leaves(structure):
    if isinstance(structure, list):
        return [leaf for part in structure for leaf in _leaves(part)]
    return [structure]


def _regroup(builder, structure, make):
    """Build the value for every leaf with ``make`` and group them as ``structure``."""
    if isinstance(structure, list):
        return _group(builder, [_regroup(builder, part, make) for part in structure], True)
    return make(structure)


def _probe_outputs(fn) -> Return:
    ret = fn.body[-1]
    if not isinstance(ret, Return):
        raise UsageError(f"{fn.name}: the function must end with a return")
    return ret


def _dummy_of(fn, atom):
    return fn.types[atom.name] if isinstance(atom, Var) else atom.value


def _is_scalar(fn, atom):
    d = _dummy_of(fn, atom)
    return is_float(d) and np.ndim(d) == 0


def _sym(builder, atom):
    if isinstance(atom, Var):
        return builder.sym(atom.name)
    return atom.value


def _atom(v):
    from .trace import Sym

    if isinstance(v, Sym):
        return Var(v.name)
    if isinstance(v, (Var, Const)):
        return v
    return Const(v)


def _bind(builder, name, value):
    from .trace import copy_to

    builder.mark = len(builder.stmts) - 1
    return copy_to(builder.names.fresh(name), value)


def _size(builder, p):
    """The number of seeds a parameter needs (1 for a scalar; x.size, emitted, for an array)."""
    return 1 if np.ndim(builder.types[p]) == 0 else np.size(builder.sym(p))


def _one_seed(builder, t):
    """The single seed of jvp/vjp from the user's tangent or cotangent ``t``: a scalar stays
    a scalar (unit mode), an array gets the seed axis of length 1."""
    sym = builder.sym(t)
    return sym if sym.ndim == 0 else rt.add_batch_axis(sym)


def _first(builder, d, atom):
    """Seed 0 of a batched derivative (the single direction of jvp/vjp/grad); zeros if none."""
    primal = _sym(builder, atom)
    if d is None:
        return call(np.zeros_like, primal) if np.ndim(getattr(primal, "dummy", primal)) else 0.0
    if d.ndim == np.ndim(getattr(primal, "dummy", primal)):  # unit mode: a scalar's own
        return d
    return d[0]


def _group(builder, items, as_tuple):
    if as_tuple:
        from .ir import TUPLE

        return builder.emit(TUPLE, list(items))
    return items[0]


def _jac_forward(builder, d, out_atom, p, offset, size, several):
    """Forward-mode tangent rows -> the Jacobian block ``out.shape + p.shape``."""
    y = _sym(builder, out_atom)
    x = builder.sym(p)
    y_ndim = np.ndim(getattr(y, "dummy", y))
    if d is None:
        if not y_ndim and not x.ndim:
            return 0.0
        return call(np.zeros, (y.shape if y_ndim else ()) + (x.shape if x.ndim else ()))
    if several:
        d = d[offset:offset + size]
    if y_ndim:
        d = np.transpose(d, tuple(range(1, y_ndim + 1)) + (0,))
    if x.ndim == 0:
        return d[..., 0] if y_ndim else d[0]
    return np.reshape(call(np.ascontiguousarray, d), (y.shape + x.shape) if y_ndim else x.shape)


def _jac_reverse(builder, bar, out_atom, p, y_shape):
    """Reverse-mode adjoint rows -> the Jacobian block ``out.shape + p.shape``."""
    y = _sym(builder, out_atom)
    x = builder.sym(p)
    y_ndim = np.ndim(getattr(y, "dummy", y))
    y_shape = y_shape if y_shape is not None else (y.shape if y_ndim else ())
    if bar is None:
        shape = (y_shape if y_ndim else ()) + (x.shape if x.ndim else ())
        return call(np.zeros, shape) if y_ndim or x.ndim else 0.0
    if y_ndim == 0:
        return bar if bar.ndim == (x.ndim or 0) else bar[0]
    return np.reshape(call(np.ascontiguousarray, bar), y_shape + x.shape) if x.ndim else np.reshape(call(np.ascontiguousarray, bar), y_shape)
