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
from .ad import jacobian
from .ad.expand import expand_composites
from .ad.trace import dummy_like
from .analysis import semantics, sizes
from .analysis.infer import infer_types
from .backends import codegen
from .backends.numba import fusion, rename, scalarize
from .frontend.aggregates import split_tuples
from .frontend.normalize import normalize
from .frontend.parse import code_of, parse, resolve_free_name
from .ir import (
    GETITEM,
    Assign,
    For,
    Function,
    NameGen,
    SetItem,
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
    """The derivative code of transformation ``job.g`` (ad/jacobian.py)."""
    return jacobian.differentiate(fn, job.g, second_order=is_transformation(job.g.fn))


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
