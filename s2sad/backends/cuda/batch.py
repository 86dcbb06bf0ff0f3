"""vmap on CUDA: the per-sample code unrolled into scalars in one numba.cuda kernel, a thread per sample.

The per-sample IR is interpreted at build time by the element interpreter the numba backend's
scalarize pass uses (``backends/elements.py``): every per-sample array is an object array of
elements, and every operation on elements prints one kernel line. This driver differs from
scalarize's in control flow only: a kernel thread has no arrays to pack values into, so every
loop and branch is unrolled at build time (their conditions must be known then), and what the
elements cannot express is refused with the user's line."""

from __future__ import annotations

import builtins
import math
import numbers
import operator

import numpy as np

from ... import backends, pipeline
from ... import runtime as rt
from ...errors import S2SADError, StructureMiss, UsageError
from ...ir import (
    APPEND,
    COPY,
    NEW_STACK,
    PLACEHOLDER,
    POP,
    Assign,
    Const,
    For,
    If,
    Return,
    SetItem,
    SliceAtom,
    Var,
    While,
)
from .. import ops
from ..batching import LOCK, flatten, is_device, target_dtype, unflatten
from ..elements import El, Exact, Unsupported, elementwise, emitting, evaluate, is_static, static_index


def _literal(v):
    """A constant as kernel source."""
    if isinstance(v, (bool, np.bool_)):
        return repr(bool(v))
    if isinstance(v, numbers.Integral):
        return f"({int(v)})" if v < 0 else str(int(v))
    if isinstance(v, numbers.Real):
        x = float(v)
        if math.isnan(x):
            return "math.nan"
        if math.isinf(x):
            return "math.inf" if x > 0 else "(-math.inf)"
        return f"({x!r})" if x < 0 else repr(x)
    raise Unsupported(f"a value of type {type(v).__name__} in scalar code")


def _text(v):
    """An element, atom or number as kernel source."""
    if isinstance(v, El):
        v = v.atom
    if isinstance(v, Var):
        return v.name
    if isinstance(v, Const):
        return _literal(v.value)
    return _literal(v)


# the scalar form of each elementwise op in a kernel thread (its results' types are CUDA's)
_MATH_UNARY = {
    **{op: f"math.{name}" for op, name in ops.MATH.items()},
    np.floor: "math.floor",
    np.ceil: "math.ceil",
    np.fabs: "math.fabs",
    np.abs: "abs",
    np.absolute: "abs",
    builtins.abs: "abs",
    np.exp2: "2.0 **",
    np.trunc: "math.trunc",
}

_MATH_BINARY = {
    np.arctan2: "math.atan2",
    np.hypot: "math.hypot",
    math.atan2: "math.atan2",
    math.hypot: "math.hypot",
    math.pow: "math.pow",
    np.copysign: "math.copysign",
}

_INFIX = {op: text for op, text in ops.INFIX.items() if op is not np.matmul}  # scalars: no @

_TEMPLATES = {  # the rest, as templates over the operands' texts
    np.negative: "-{0}",
    operator.neg: "-{0}",
    np.positive: "{0}",
    np.square: "{0} * {0}",
    np.reciprocal: "1.0 / {0}",
    np.sign: "(1.0 if {0} > 0 else (-1.0 if {0} < 0 else 0.0 * {0}))",
    np.maximum: "max({0}, {1})",
    builtins.max: "max({0}, {1})",
    np.minimum: "min({0}, {1})",
    builtins.min: "min({0}, {1})",
    np.where: "{1} if {0} else {2}",
    rt.scale_nz: "{0} if {0} == 0 else {0} * {1}",  # g * p, 0 where g is 0 (reverse mode of sqrt, log ...)
    np.logical_not: "not {0}",
    builtins.float: "float({0})",
    np.float64: "float({0})",
}

# elementwise ops beyond NumPy's ufuncs that a kernel line computes
SCALAR_OPS = frozenset(
    {op for op in (*_MATH_UNARY, *_MATH_BINARY, *_TEMPLATES) if not isinstance(op, np.ufunc)}
    | {f for f in vars(math).values() if callable(f)}
)

# run on object arrays here beyond the shared table: build-time values only
_STATIC = {builtins.int, builtins.bool, np.zeros, np.ones, np.eye, np.full, np.arange, np.empty}
STRUCTURAL = {builtins.range, rt.new_tape}


def _scalar_form(op, t):
    """The kernel expression of elementwise ``op`` on operand texts ``t``."""
    if op in _INFIX and len(t) == 2:
        return f"{t[0]} {_INFIX[op]} {t[1]}"
    if op in _MATH_UNARY and len(t) == 1:
        return f"{_MATH_UNARY[op]}({t[0]})"
    if op in _MATH_BINARY and len(t) == 2:
        return f"{_MATH_BINARY[op]}({t[0]}, {t[1]})"
    if op in _TEMPLATES:
        return _TEMPLATES[op].format(*t)
    if _is_math(op):
        return f"math.{op.__name__}({', '.join(t)})"
    raise Unsupported(f"{_op_name(op)} has no scalar form for numba.cuda")


class _Kernel:
    """The emitter of kernel lines: each operation on elements is one line ``v<k> = ...``."""

    def __init__(self):
        self.lines = []
        self.count = 0

    def scalar(self, op, atoms):
        form = _scalar_form(op, [_text(a) for a in atoms])
        self.count += 1
        name = f"v{self.count}"
        self.lines.append(f"{name} = {form}")
        if len(self.lines) > CUDA_MAX_LINES:
            raise Unsupported(f"the unrolled kernel exceeds {CUDA_MAX_LINES} statements (per-sample arrays too large)")
        return Var(name)


def _op_name(op):
    from ..codegen import display_name

    return display_name(op) if not isinstance(op, str) else op


def _is_math(op):
    name = getattr(op, "__name__", "")
    return getattr(op, "__module__", None) == "math" and getattr(math, name, None) is op


def _objectify(v):
    """Arrays as object arrays (so elements can be stored in them); 0-d arrays as scalars."""
    if isinstance(v, Exact):
        v = v.value
    if isinstance(v, np.ndarray):
        if v.ndim == 0:
            x = v[()]
            return float(x) if isinstance(x, np.floating) else x
        if v.dtype != object:
            if v.size > CUDA_MAX_ELEMENTS:
                raise Unsupported(f"a per-sample array of {v.size} elements (the limit is {CUDA_MAX_ELEMENTS})")
            if not (np.issubdtype(v.dtype, np.number) or v.dtype == bool):
                raise Unsupported(f"an array of {v.dtype}")
            return v.astype(object)
        return v
    if isinstance(v, np.floating):
        return float(v)
    return v


def _shape_of(v):
    return np.shape(v) if isinstance(v, np.ndarray) else ()


class _Unroller:
    """The control flow of the per-sample IR, run at build time: loops and branches unrolled
    (their conditions are known then), every other statement evaluated on elements."""

    def __init__(self, ir):
        self.ir = ir
        self.env = {}

    def value(self, a):
        if isinstance(a, Var):
            try:
                return self.env[a.name]
            except KeyError:
                raise S2SADError(f"internal: {a.name} read before it is assigned") from None
        if isinstance(a, Const):
            return a.value
        if isinstance(a, SliceAtom):
            parts = [None if p is None else self.value(p) for p in (a.lower, a.upper, a.step)]
            return slice(*parts)
        raise S2SADError(f"internal: not an atom: {a!r}")

    def run(self, stmts):
        for stmt in stmts:
            try:
                result = self.statement(stmt)
            except Unsupported as e:
                where = ""
                if getattr(stmt, "line", None) and self.ir.source_lines.get(stmt.line):
                    where = f" (line {stmt.line}: {self.ir.source_lines[stmt.line].strip()})"
                raise S2SADError(
                    f"vmap(backend='cuda') of {self.ir.name}: {e}{where}; the cuda backend "
                    "runs per-sample code made of scalars and small static arrays only"
                ) from None
            if result is not None:
                return result
        return None

    def statement(self, stmt):
        if isinstance(stmt, Assign):
            if stmt.op is APPEND:
                self.value(stmt.args[0]).append(self.value(stmt.args[1]))
                return None
            self.env[stmt.target] = self.assign(stmt)
        elif isinstance(stmt, SetItem):
            arr = self.env[stmt.array]
            if not isinstance(arr, np.ndarray):
                raise Unsupported(f"an in-place write into {stmt.array!r}, which is not an array")
            index = tuple(static_index([self.value(i) for i in stmt.index]))
            arr[index] = self.value(stmt.value)
        elif isinstance(stmt, Return):
            return [self.value(v) for v in stmt.values], stmt.is_tuple
        elif isinstance(stmt, If):
            test = self.value(stmt.test)
            if not is_static(test):
                raise Unsupported("an `if` on a per-sample value (data-dependent control flow)")
            return self.run(stmt.body if bool(test) else stmt.orelse)
        elif isinstance(stmt, For):
            it = self.value(stmt.iter)
            if not is_static(it):
                raise Unsupported("a `for` loop over per-sample values")
            for x in it:
                self.env[stmt.target] = _objectify(x)
                result = self.run(stmt.body)
                if result is not None:
                    return result
        elif isinstance(stmt, While):
            for _ in range(100000):
                r = self.run(stmt.test_body)
                if r is not None:
                    return r
                test = self.value(stmt.test)
                if not is_static(test):
                    raise Unsupported("a `while` loop on a per-sample value (data-dependent control flow)")
                if not test:
                    return None
                r = self.run(stmt.body)
                if r is not None:
                    return r
            raise Unsupported("a `while` loop of more than 100000 static trips")
        else:
            raise Unsupported(f"a {type(stmt).__name__} statement")
        return None

    def assign(self, stmt):
        op = stmt.op
        args = [self.value(a) for a in stmt.args]
        kwargs = {k: self.value(v) for k, v in stmt.kwargs.items()}
        if op is COPY and isinstance(args[0], list):
            return list(args[0])
        if op is NEW_STACK:
            return []
        if op is POP:
            return args[0].pop()
        if op is PLACEHOLDER:
            kind = args[0]
            if kind[0] == "array":
                return _objectify(np.zeros((0,) * kind[1]))
            return {"float": 0.0, "int": 0, "bool": False}[kind[0]]
        if op is rt.astype:
            if np.dtype(args[1]).kind != "f":
                raise Unsupported(f"rt.astype to {np.dtype(args[1])}")
            return _objectify(elementwise(builtins.float, [args[0]]))
        if op in _STATIC and is_static(args) and is_static(list(kwargs.values())):
            return _objectify(op(*args, **kwargs))
        try:
            return _objectify(evaluate(op, args, kwargs, SCALAR_OPS, STRUCTURAL))
        except Unsupported:
            raise
        except StructureMiss:  # a guard failed at specialization: shapes are static here
            raise
        except Exception as e:  # NumPy cannot run it on elements
            raise Unsupported(f"{_op_name(op)} on per-sample values ({type(e).__name__}: {e})") from None


def _cuda_key(args, axes, free):
    key = []
    for a, ax in zip(args, axes):
        if is_device(a) or isinstance(a, np.ndarray):
            key.append(
                (
                    "array",
                    ax,
                    tuple(a.shape[:ax] + a.shape[ax + 1 :]) if ax is not None else tuple(a.shape),
                    np.dtype(a.dtype).str,
                )
            )
        elif isinstance(a, (bool, np.bool_, numbers.Integral)) and ax is None:
            key.append(("static", type(a).__name__, a))
        else:
            key.append(("scalar", type(a).__name__))
    for v in free:
        if isinstance(v, np.ndarray):
            key.append(("free-array", v.shape, v.dtype.str))
        elif isinstance(v, (bool, np.bool_, numbers.Integral)):
            key.append(("free-static", v))
        else:
            key.append(("free", type(v).__name__))
    return tuple(key)


def _sample_dummy(a, ax):
    from ...ad.trace import dummy_array, dummy_like

    if is_device(a) or isinstance(a, np.ndarray):
        nd = len(a.shape) - (ax is not None)
        return dummy_array(nd, a.dtype) if nd else np.dtype(a.dtype).type(0.5 if np.dtype(a.dtype).kind == "f" else 1)
    return dummy_like(a)


def call_cuda(self, args, axes, size):
    from numba import cuda

    free = pipeline.free_values(self.inner)
    key = _cuda_key(args, axes, free)
    entry = self._cache.get(key)
    if entry is None:
        with LOCK:
            entry = self._cache.get(key)
            if entry is None:
                try:
                    entry = _build_cuda(self, args, axes, free)
                except StructureMiss:  # a guard failed at specialization: shapes are static
                    entry = _build_cuda(self, args, axes, free, plain=True)
            self._cache[key] = entry
    kernel, out_specs, template, source, kernel_args = entry
    self._last_source = source
    device_in = any(is_device(a) for a in args)
    if size == 0:
        raise UsageError("vmap: the batch is empty (size 0 along the mapped axis)")
    call_args = []
    for (a, ax), passed in zip(list(zip(args, axes)) + [(v, None) for v in free], kernel_args):
        if not passed:
            continue  # baked into the kernel
        if is_device(a):
            call_args.append(a)
        elif isinstance(a, np.ndarray) and a.ndim:
            call_args.append(cuda.to_device(np.ascontiguousarray(a)))
        else:
            call_args.append(a)
    outs = [cuda.device_array((size,) + shape, dtype) for shape, dtype in out_specs]
    blocks = (size + CUDA_THREADS_PER_BLOCK - 1) // CUDA_THREADS_PER_BLOCK
    kernel[blocks, CUDA_THREADS_PER_BLOCK](size, *call_args, *outs)
    if not device_in:
        outs = [o.copy_to_host() for o in outs]
    return unflatten(template, outs)


def _build_cuda(self, args, axes, free, plain=False):
    try:
        return _build_kernel(self, args, axes, free, plain)
    except Unsupported as e:  # (raised outside a statement: by an output)
        raise S2SADError(f"vmap(backend='cuda') of {getattr(self.inner, '__name__', 'the function')}: {e}") from None


def _build_kernel(self, args, axes, free, plain):
    from numba import cuda

    sample = tuple(_sample_dummy(a, ax) for a, ax in zip(args, axes))
    # argument checks as the per-sample call would do them (dtypes of differentiated args)
    self.inner.check_args(sample)
    ir = self.inner.ir_for(sample, plain)
    dtype = target_dtype(self.inner, sample)
    params = list(ir.params)  # the user's parameters, then the free values'
    emitter = _Kernel()
    lines = emitter.lines
    scal = _Unroller(ir)
    kernel_params = ["n"]
    kernel_args = []
    with emitting(emitter):
        for k, (a, ax) in enumerate(list(zip(args, axes)) + [(v, None) for v in free]):
            p = params[k]
            arg = f"a{k}"
            if isinstance(a, (bool, np.bool_, numbers.Integral)) and ax is None:
                scal.env[p] = a  # a flag or a count: baked in as a constant
                kernel_args.append(False)
                continue
            kernel_args.append(True)
            kernel_params.append(arg)
            if is_device(a) or isinstance(a, np.ndarray):
                shape = tuple(a.shape)
                if ax is not None:
                    shape = shape[:ax] + shape[ax + 1 :]
                if np.dtype(a.dtype).kind not in "fiub":
                    raise S2SADError(
                        f"vmap(backend='cuda'): argument {k} has dtype {a.dtype}, which the kernel cannot read"
                    )
                if not shape:
                    lines.append(f"{p} = {arg}[i]" if ax is not None else f"{p} = {arg}[()]")
                    scal.env[p] = El(Var(p))
                    continue
                count = int(np.prod(shape))
                if count > CUDA_MAX_ELEMENTS:
                    raise S2SADError(
                        f"vmap(backend='cuda'): argument {k} is a per-sample array of shape {shape} "
                        f"({count} elements); the cuda backend unrolls per-sample arrays into scalars "
                        f"and takes at most {CUDA_MAX_ELEMENTS} elements; use backend='numba'"
                    )
                arr = np.empty(shape, dtype=object)
                for idx in np.ndindex(*shape):
                    full = list(idx)
                    if ax is not None:
                        full.insert(ax, "i")
                    name = f"{p}_{'_'.join(map(str, idx))}"
                    lines.append(f"{name} = {arg}[{', '.join(map(str, full))}]")
                    arr[idx] = El(Var(name))
                scal.env[p] = arr
            elif isinstance(a, (numbers.Real, np.floating)) and ax is None:
                lines.append(f"{p} = {arg}")
                scal.env[p] = El(Var(p))
            else:
                raise S2SADError(
                    f"vmap(backend='cuda'): argument {k} of type {type(a).__name__} cannot be passed to a kernel"
                )
        for p in ir.params[len(args) + len(free) :]:
            raise S2SADError(f"internal: unexpected parameter {p}")
        result = scal.run(ir.body)
        if result is None:
            raise S2SADError(f"vmap(backend='cuda') of {ir.name}: the function does not return")
        values, is_tuple = result
        value = tuple(values) if is_tuple else values[0]
        ret_types = (
            [ir.types.get(v.name) if isinstance(v, Var) else v.value for v in ir.body[-1].values]
            if isinstance(ir.body[-1], Return)
            else None
        )
        type_value = (tuple(ret_types) if is_tuple else ret_types[0]) if ret_types else None
    leaves = flatten(value)
    type_leaves = (
        [d for _, d in flatten(type_value)]
        if type_value is not None and len(flatten(type_value)) == len(leaves)
        else [None] * len(leaves)
    )
    out_specs = []
    for j, ((path, v), d) in enumerate(zip(leaves, type_leaves)):
        if isinstance(v, list):
            raise S2SADError(f"vmap(backend='cuda') of {ir.name}: output {j} is a list")
        shape = _shape_of(v) if not isinstance(v, numbers.Number) else ()
        dt = np.asarray(d).dtype if d is not None else np.dtype(np.float64)
        if dt.kind == "f" or dt.kind == "O":
            dt = np.dtype(dtype)
        out_specs.append((tuple(shape), dt))
        kernel_params.append(f"out{j}")
        if not shape:
            lines.append(f"out{j}[i] = {_text(v)}")
        else:
            arr = np.asarray(v, dtype=object) if not isinstance(v, np.ndarray) else v
            for idx in np.ndindex(*shape):
                lines.append(f"out{j}[i, {', '.join(map(str, idx))}] = {_text(arr[idx])}")
    name = f"{ir.name}_vmap_cuda"
    body = "\n".join("        " + line for line in lines)
    source = (
        f"def {name}({', '.join(kernel_params)}):\n"
        f'    """vmap of {ir.name} (in_axes {axes!r}) as a numba.cuda kernel: one thread per sample."""\n'
        f"    i = cuda.grid(1)\n"
        f"    if i < n:\n{body}\n"
    )
    text = "from numba import cuda\n" + backends._module_text(source)
    path = backends._write_module(text, name)
    module = backends._import(path, name)
    kernel = cuda.jit(getattr(module, name))
    template = unflatten(value, [None] * len(leaves)) if isinstance(value, tuple) else None
    return kernel, out_specs, template, source, kernel_args


CUDA_MAX_ELEMENTS = 256  # largest per-sample array the cuda backend unrolls into scalars


CUDA_MAX_LINES = 20000  # largest kernel body it generates


CUDA_THREADS_PER_BLOCK = 64
