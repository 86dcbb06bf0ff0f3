"""The passes, in order, for each transformation: data (``PASSES`` per transformation kind,
``COMPILE_PASSES`` per backend) that ``build`` and ``compile`` run.

    parse            source -> checked tree, names resolved          (parse.py)
    normalize        tree -> A-normal form IR                        (normalize.py)
    sizes            a function that calls np.squeeze without axis or np.cross, built per
                     shape of its arguments: those calls rewritten for the sizes known
                     (sizes.py; nothing for other functions)
    infer_types      dummies for the call's ranks and dtypes         (infer.py)
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
    scalarize        numba, code with loops: small arrays of known shape as scalars
                     (scalarize.py; the compiled function is keyed on those shapes)
    accumulate_scatters
                     a slice's adjoint added in place into a fresh array (shapes.py)
    glue             numba: is the code compiled as glue between kernels? (is_glue)
    rename           numba: fewer names assigned more than once, fewer copies (rename.py)
    fusion           numba: trees of elementwise operations as one kernel (fusion.py)
    emit_source      IR -> readable Python                          (codegen.py)
    compile          python | numba                                  (backends.py)

``build`` runs the passes up to structure (``s2sad.source`` shows that code), ``compile``
the rest. ``Options`` (options.py) turns off structure, rename, fusion and glue, and
``Options.dump_after`` (``S2SAD_DUMP_AFTER=normalize,differentiate,simplify``) prints the
source after any of these passes. A transformation of a transformation starts from the
inner one's typed IR, so the derivative code is differentiated like user code
(``hessian = jacfwd(jacrev(f))``): its own passes start at differentiate.
"""

from __future__ import annotations

import ast
import sys
import threading
from dataclasses import dataclass

import numpy as np

from . import backends, failures
from . import runtime as rt
from .ad.expand import expand_composites
from .ad.forward import differentiate_forward
from .ad.reverse import differentiate_reverse
from .ad.trace import Builder, Sym, building, call, dummy_like, is_float
from .analysis import semantics, sizes
from .analysis.infer import infer_types
from .backends import codegen
from .backends.numba import fusion, rename, scalarize
from .errors import UnsupportedError, UsageError, where
from .frontend.aggregates import split_tuples
from .frontend.normalize import normalize
from .frontend.parse import code_of, parse, resolve_free_name
from .ir import (
    COPY,
    GETITEM,
    NEW_STACK,
    TUPLE,
    Assign,
    Const,
    For,
    Function,
    NameGen,
    Return,
    SetItem,
    Var,
    While,
    all_names,
    walk,
)
from .optimize import shapes
from .optimize import structure as diagonal
from .optimize.simplify import simplify
from .options import Options, declare_passes

_USER_IR = {}
_LOCK = threading.RLock()


@dataclass
class Job:
    """What the passes of one build or compile read besides the code, and what they decide."""

    options: Options
    g: object = None  # build: the transformation
    dummies: tuple = ()  # build: the dummies of its arguments
    plain: bool = False  # build: without the structure pass (the code its guards fall back to)
    arg_types: dict | None = None  # build: parameter -> dummy (the user's and the free values')
    arg_shapes: tuple | None = None  # build: the arguments' shapes, for code that depends on sizes (sizes.py)
    backend: str | None = None  # compile
    spec: tuple | None = None  # compile: the shapes of small arguments (scalarize.spec_of)
    small: bool = False  # compile: scalarized
    glue: bool = False  # compile: compiled as glue between kernels
    source: str | None = None  # compile: the emitted source
    compiled: object = None  # compile: the callable


def _dump(stage, value, job):
    """The source after pass ``stage``, to stderr, if the options ask for it."""
    if stage not in job.options.dump_after:
        return
    if stage == "compile":
        text = backends.module_text(job.source, job.backend, job.glue)
    elif stage == "emit_source":
        text = job.source
    elif isinstance(value, Function):
        text = codegen.emit_source(value, kernels=job.backend == "numba")
    else:  # parse: the checked tree
        text = ast.unparse(value.tree)
    if stage == "glue":
        text = f"# compiled as glue: {'yes' if job.glue else 'no'}\n{text}"
    print(f"# --- after {stage} ---\n{text}", file=sys.stderr)


def _run(passes, value, job):
    for stage, run in passes:
        value = run(value, job)
        _dump(stage, value, job)
    return value


_QUIET = Job(Options())  # prints nothing


def user_ir(fn, job=None) -> Function:
    """parse + normalize a user function (READ_PASSES, cached per function object); with a
    ``job`` whose options print after those passes, printed (run again if cached)."""
    with _LOCK:
        ir = _USER_IR.get(fn)
        if ir is None:
            try:
                ir = _run(READ_PASSES, fn, job or _QUIET)
            except Exception as exc:
                raise failures.from_pass(exc, fn, f"reading {getattr(fn, '__name__', fn)}") from exc
            _USER_IR[fn] = ir
            return ir
    if job is not None and job.options.dump_after & {"parse", "normalize"}:
        _run(READ_PASSES, fn, job)
    return ir


def is_transformation(g) -> bool:
    """Is ``g`` a transformation (api.Transformed), known by what the passes call on it? (This
    module does not import api, which imports it.)"""
    return callable(getattr(g, "ir_for", None)) and hasattr(g, "kind") and hasattr(g, "fn")


def base_function(g):
    while is_transformation(g):
        g = g.fn
    return g


def free_values(g):
    """Values of the user function's free (global/closure) names, read now, as Python would."""
    fn = base_function(g)
    return tuple(resolve_free_name(owner, name) for owner, name in user_ir(fn).free_sources)


def needs_sizes(g) -> bool:
    """Is the code of ``g`` built per shape of its arguments, not only per rank (sizes.py)?"""
    fn = base_function(g)
    return code_of(fn) is not None and sizes.needs_sizes(user_ir(fn))


# --- the passes ------------------------------------------------------------------------------
# Each is a function (code, job) -> code; _run runs a list of them, printing the source after
# each one the options name.


def _parse(fn, job):
    return parse(fn)


def _normalize(parsed, job):
    return split_tuples(normalize(parsed))


def _sizes(ir, job):
    """A function whose code depends on sizes, built for its arguments' shapes: the calls that
    size decides rewritten for the sizes known (sizes.py). Also types the arguments."""
    g = job.g
    free_now = free_values(g)
    free = tuple(dummy_like(v) for v in free_now)
    job.arg_types = dict(zip(ir.params, tuple(job.dummies)[: g.nargs] + free))
    if job.arg_shapes is None:
        return ir
    return sizes.specialize(ir, job.arg_types, dict(zip(ir.params, tuple(job.arg_shapes) + sizes.shapes_of(free_now))))


def _infer_types(ir, job):
    return infer_types(ir, job.arg_types)


def _expand(typed, job):
    return expand_composites(typed, lambda body: infer_types(body, job.arg_types))


def _semantics(typed, job):
    g = job.g
    nargs = len(typed.params) - len(typed.free_values)
    nums = () if g.argnums is None else g.argnums if isinstance(g.argnums, tuple) else (g.argnums,)
    wrt = [typed.params[k % nargs] for k in nums] if nargs else []
    return semantics.check(typed, lambda body: infer_types(body, job.arg_types), wrt)


def _simplify(fn, job):
    return simplify(fn)


def _structure_pass(fn, job):
    """Not for plain code (what the structured code's guards fall back to), nor with
    Options.structure off."""
    if job.plain or not job.options.structure:
        return fn
    structured = diagonal.exploit_seeds(shapes.simplify_shapes(fn))
    if structured is not fn:
        structured = simplify(structured)
    structured = shapes.sink_transposes(structured)
    return simplify(structured) if structured is not fn else fn


def _scalarize(ir, job):
    if job.spec is None:
        return ir
    small = scalarize.try_scalarize(ir, job.spec)
    if small is None:
        return ir
    job.small = True
    split = small.split_stacks
    small = simplify(small)
    return scalarize.shared_tape(small, split) if ir.mirror_stacks else small


def _accumulate_scatters(ir, job):
    return shapes.accumulate_scatters(ir)


def _glue(ir, job):
    job.glue = is_glue(ir, array_loops=not job.small, options=job.options)
    return ir


def _rename(ir, job):
    return rename.rename(ir) if job.options.rename else ir


def _fusion(ir, job):
    return fusion.fuse(ir) if job.options.fusion else ir


def _emit_source(ir, job):
    job.source = emit(ir, kernels=job.backend == "numba")
    return ir


def _compile(ir, job):
    job.compiled = backends.compile_source(job.source, ir.name, job.backend, job.glue, job.options.typing_memo)
    return ir


def _differentiate(fn, job) -> Function:
    """The derivative code of transformation ``job.g``: forward mode for jacfwd and jvp,
    reverse mode for jacrev, grad and vjp, batched over seeds."""
    g = job.g
    nargs = len(fn.params) - len(fn.free_values)
    user_params = fn.params[:nargs]
    builder = Builder({p: fn.types[p] for p in fn.params}, NameGen(all_names(fn)))
    builder.declared, builder.filename = fn.types, fn.filename
    name = builder.names.fresh(f"{fn.name}_{g.kind}")
    kind = g.kind
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
                dots = [
                    _regroup(builder, _structure_of(fn, o), lambda leaf: _first(builder, fwd.dot(leaf), leaf))
                    for o in ret.values
                ]
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
                        _jac_reverse(builder, rev.bars.get(p), leaf, p, shape.get("y"))
                        if kind == "jacrev"
                        else _first(builder, rev.bars.get(p), Var(p))
                        for p in wrt
                    ]
                    results[i] = _group(builder, row, isinstance(g.argnums, tuple))
            order = iter(range(len(leaves)))
            values = [_regroup(builder, structure, lambda leaf: results[next(order)])]
            if kind == "value_and_grad":
                values.insert(0, shape["value"])
    builder.stmts.append(
        Return([_atom(v) for v in values], len(values) > 1 or kind in ("jvp", "vjp", "jvp_tangents", "value_and_grad"))
    )
    params = user_params + extra_params + list(fn.free_values)
    out = Function(
        name,
        params,
        builder.stmts,
        fn.filename,
        fn.source_lines,
        builder.types,
        free_values=fn.free_values,
        def_line=fn.def_line,
        # reverse mode of code without stacks pops every stack in the exact mirror order of its
        # pushes, across stacks too (what scalarize.shared_tape needs); code transformed again
        # (jacfwd of jacrev pushes x then x_dot and pops x then x_dot) has no such order
        mirror_stacks=kind in ("jacrev", "grad", "vjp", "value_and_grad")
        and not any(isinstance(s, Assign) and s.op is NEW_STACK for s in walk(fn.body)),
        second_order=is_transformation(g.fn),
    )
    return out


# per user function, cached (user_ir); then per transformation and argument types (build)
READ_PASSES = (("parse", _parse), ("normalize", _normalize))
TYPE_PASSES = (("sizes", _sizes), ("infer_types", _infer_types), ("expand", _expand), ("semantics", _semantics))
DERIVATIVE_PASSES = (("differentiate", _differentiate), ("simplify", _simplify), ("structure", _structure_pass))
KINDS = ("jacfwd", "jvp", "jvp_tangents", "jacrev", "grad", "vjp", "value_and_grad")  # differentiate: forward, reverse
PASSES = {
    "primal": READ_PASSES + TYPE_PASSES,
    **{kind: READ_PASSES + TYPE_PASSES + DERIVATIVE_PASSES for kind in KINDS},
}
# per backend, on the IR that build made (compile)
COMPILE_PASSES = {
    "numba": (
        ("scalarize", _scalarize),
        ("accumulate_scatters", _accumulate_scatters),
        ("glue", _glue),
        ("rename", _rename),
        ("fusion", _fusion),
        ("emit_source", _emit_source),
        ("compile", _compile),
    ),
    "python": (("accumulate_scatters", _accumulate_scatters), ("emit_source", _emit_source), ("compile", _compile)),
}
PASS_NAMES = tuple(dict.fromkeys(name for passes in (*PASSES.values(), *COMPILE_PASSES.values()) for name, _ in passes))
declare_passes(PASS_NAMES)


def build(g, dummies, plain=False, arg_shapes=None) -> Function:
    """Run the passes of transformation ``g`` (``PASSES[g.kind]``, with its options) for
    arguments with these dummies; ``plain``: without following identity seeds as diagonal
    values (structure.py), the code its guards fall back to, at every level; ``arg_shapes``:
    the arguments' shapes, for a function whose code depends on sizes (sizes.py). A
    transformation of a transformation starts from the inner one's IR, at differentiate."""
    if arg_shapes is not None:
        arg_shapes = tuple(arg_shapes)[: g.nargs]  # the user's arguments (not tangents or cotangents)
    job = Job(g.options, g, tuple(dummies), plain, arg_shapes=arg_shapes)
    passes = PASSES[g.kind]
    if is_transformation(g.fn):
        fn = g.fn.ir_for(job.dummies[: g.nargs], plain, arg_shapes)  # the user's arguments (not tangents or cotangents)
        passes = passes[len(READ_PASSES + TYPE_PASSES) :]
    else:
        fn = user_ir(g.fn, job)
        passes = passes[len(READ_PASSES) :]
    out = _run(passes, fn, job)
    if g.kind == "primal":
        out = out.replace(name=NameGen(all_names(out)).fresh(f"{out.name}_primal"))
    return out


def emit(ir: Function, kernels: bool = False) -> str:
    return codegen.emit_source(ir, kernels=kernels)


def compile(ir: Function, backend: str, spec=None, options=None):
    """The compiled function (``COMPILE_PASSES[backend]``, with ``options``: by default as the
    environment sets them); the numba backend compiles the source with shared kernels
    (codegen.KERNEL_UFUNCS) for array operators, and, given ``spec`` (the shapes of small
    arguments, scalarize.spec_of), with those small arrays as scalars."""
    job = Job(options if options is not None else Options.from_env(), backend=backend, spec=spec)
    _run(COMPILE_PASSES.get(backend, COMPILE_PASSES["python"]), ir, job)  # compile_source refuses another backend
    return job.compiled


def is_glue(ir: Function, array_loops: bool = False, options=None) -> bool:
    """Is ``ir`` compiled as glue between kernels (see GLUE_STATEMENTS)? ``array_loops``: also
    long code whose loops work on whole arrays (kernel calls), never on one element (no element
    read, no in-place write inside a loop): such loops spend their time in the kernels, which
    were optimized when they were compiled, so LLVM's module passes lengthen the first call and
    find nothing to speed up; loops over elements (the Huber loop, a nested matrix-vector
    product) do their work in their own code, which needs those passes (measured:
    docs/PERFORMANCE.md). Never with ``options.glue`` off (by default as the environment sets
    it)."""
    if not (options if options is not None else Options.from_env()).glue:
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
# calls many kernels even where it has fewer statements, as the structured Hessian of W5 does)
# is compiled as glue between kernels (backends._GLUE): no module-level optimization. The
# kernels were optimized when they were compiled, so optimizing them again in the caller's
# module is a large part of the first call of long and second-order code; in short code that
# pass inlines small helpers and the calls get slower without it (rosen's gradient, 36
# statements, therefore stays optimized). Measurements: docs/PERFORMANCE.md.
# Options.glue=False (S2SAD_NO_GLUE=1) turns it off (to compare).
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
    from .ad.trace import Sym

    if isinstance(v, Sym):
        return Var(v.name)
    if isinstance(v, (Var, Const)):
        return v
    return Const(v)


def _bind(builder, name, value):
    from .ad.trace import copy_to

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
        d = d[offset : offset + size]
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
    return (
        np.reshape(call(np.ascontiguousarray, bar), y_shape + x.shape)
        if x.ndim
        else np.reshape(call(np.ascontiguousarray, bar), y_shape)
    )
