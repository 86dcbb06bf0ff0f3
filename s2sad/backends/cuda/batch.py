"""vmap on CUDA: the per-sample code unrolled into scalars in one numba.cuda kernel, a thread per sample."""

from __future__ import annotations

import builtins
import math
import numbers
import operator
import threading

import numpy as np

from ... import backends, pipeline
from ... import runtime as rt
from ...errors import S2SADError, StructureMiss, UsageError
from ...ir import (
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
)
from .. import ops
from ..batching import LOCK, flatten, is_device, target_dtype, unflatten


class _Unsupported(S2SADError):
    pass


class Scalar:
    """A scalar kernel variable (its name), with arithmetic that emits kernel statements."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name

    def __add__(self, o):
        return _binary("+", self, o)

    def __radd__(self, o):
        return _binary("+", o, self)

    def __sub__(self, o):
        return _binary("-", self, o)

    def __rsub__(self, o):
        return _binary("-", o, self)

    def __mul__(self, o):
        return _binary("*", self, o)

    def __rmul__(self, o):
        return _binary("*", o, self)

    def __truediv__(self, o):
        return _binary("/", self, o)

    def __rtruediv__(self, o):
        return _binary("/", o, self)

    def __pow__(self, o):
        return _binary("**", self, o)

    def __rpow__(self, o):
        return _binary("**", o, self)

    def __neg__(self):
        return _emit(f"-{_text(self)}")

    def __pos__(self):
        return self

    def __bool__(self):
        raise _Unsupported("a branch or comparison on a per-sample value (data-dependent control flow)")

    def __index__(self):
        raise _Unsupported("an index computed from a per-sample value")

    __int__ = __index__


class _Emitter(threading.local):
    lines = None
    count = 0


_EMITTER = _Emitter()


def _text(v):
    if isinstance(v, Scalar):
        return v.name
    if isinstance(v, (bool, np.bool_)):
        return repr(bool(v))
    if isinstance(v, (numbers.Integral,)):
        return f"({int(v)})" if v < 0 else str(int(v))
    if isinstance(v, numbers.Real):
        x = float(v)
        if math.isnan(x):
            return "math.nan"
        if math.isinf(x):
            return "math.inf" if x > 0 else "(-math.inf)"
        return f"({x!r})" if x < 0 else repr(x)
    raise _Unsupported(f"a value of type {type(v).__name__} in scalar code")


def _emit(expr):
    lines = _EMITTER.lines
    _EMITTER.count += 1
    name = f"v{_EMITTER.count}"
    lines.append(f"{name} = {expr}")
    if len(lines) > CUDA_MAX_LINES:
        raise _Unsupported(f"the unrolled kernel exceeds {CUDA_MAX_LINES} statements (per-sample arrays too large)")
    return Scalar(name)


def _binary(sym, a, b):
    if not isinstance(a, (Scalar, numbers.Number)) or not isinstance(b, (Scalar, numbers.Number)):
        return NotImplemented
    return _emit(f"{_text(a)} {sym} {_text(b)}")


_MATH_UNARY = {
    **{op: f"math.{name}" for op, name in ops.MATH.items()},
    # scalar code of a kernel thread takes these too (their results' types are CUDA's)
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


def _scalar_op(op, *xs):
    """The kernel statement of elementwise ``op`` on scalars (constants are folded)."""
    if not any(isinstance(x, Scalar) for x in xs):
        return op(*xs)
    t = [_text(x) for x in xs]
    if op in _INFIX and len(xs) == 2:
        return _emit(f"{t[0]} {_INFIX[op]} {t[1]}")
    if op in _MATH_UNARY and len(xs) == 1:
        return _emit(f"{_MATH_UNARY[op]}({t[0]})")
    if op in _MATH_BINARY and len(xs) == 2:
        return _emit(f"{_MATH_BINARY[op]}({t[0]}, {t[1]})")
    if getattr(op, "__module__", None) == "math" and hasattr(math, getattr(op, "__name__", "")):
        return _emit(f"math.{op.__name__}({', '.join(t)})")
    if op is np.negative or op is operator.neg:
        return _emit(f"-{t[0]}")
    if op is np.positive:
        return xs[0]
    if op is np.square:
        return _emit(f"{t[0]} * {t[0]}")
    if op is np.reciprocal:
        return _emit(f"1.0 / {t[0]}")
    if op is np.sign:
        return _emit(f"(1.0 if {t[0]} > 0 else (-1.0 if {t[0]} < 0 else 0.0 * {t[0]}))")
    if op in (np.maximum, builtins.max) and len(xs) == 2:
        return _emit(f"max({t[0]}, {t[1]})")
    if op in (np.minimum, builtins.min) and len(xs) == 2:
        return _emit(f"min({t[0]}, {t[1]})")
    if op is np.where:
        return _emit(f"{t[1]} if {t[0]} else {t[2]}")
    if op is rt.scale_nz:  # g * p, 0 where g is 0 (reverse mode of sqrt, log, divide ...)
        return _emit(f"{t[0]} if {t[0]} == 0 else {t[0]} * {t[1]}")
    if op is np.logical_not:
        return _emit(f"not {t[0]}")
    if op in (builtins.float, np.float64):
        return _emit(f"float({t[0]})")
    raise _Unsupported(f"{_op_name(op)} has no scalar form for numba.cuda")


def _op_name(op):
    from ..codegen import display_name

    return display_name(op) if not isinstance(op, str) else op


_ELEMENTWISE = (
    set(_INFIX)
    | set(_MATH_UNARY)
    | set(_MATH_BINARY)
    | {
        np.negative,
        operator.neg,
        np.positive,
        np.square,
        np.reciprocal,
        np.sign,
        np.maximum,
        np.minimum,
        builtins.max,
        builtins.min,
        np.where,
        np.logical_not,
        builtins.float,
        np.float64,
        rt.scale_nz,
    }
)


def _is_math(op):
    name = getattr(op, "__name__", "")
    return getattr(op, "__module__", None) == "math" and getattr(math, name, None) is op


# ops run by NumPy itself on object arrays of Scalars (layout, reductions, products: Scalar
# arithmetic emits the statements)
_STRUCTURAL = {
    np.reshape,
    np.transpose,
    np.ascontiguousarray,
    np.broadcast_to,
    np.concatenate,
    np.stack,
    np.moveaxis,
    np.expand_dims,
    np.squeeze,
    np.ravel,
    np.copy,
    np.sum,
    np.dot,
    np.matmul,
    np.outer,
    np.trace,
    np.cumsum,
    np.diag,
    np.shape,
    np.ndim,
    np.size,
    np.zeros_like,
    np.ones_like,
    np.full_like,
    np.swapaxes,
    np.flip,
    builtins.len,
    builtins.range,
    np.array,
    np.asarray,
    np.atleast_1d,
    np.hstack,
    np.vstack,
    rt.sum_to,
    rt.broadcast_like,
    rt.add_batch_axis,
    rt.bmatmul,
    rt.scatter,
    rt.scatter_add,
    rt.cumsum_rows,
    rt.zeros_batch,
    rt.new_tape,
}


def _is_static(v):
    """A compile-time value (no Scalar inside)."""
    if isinstance(v, Scalar):
        return False
    if isinstance(v, (tuple, list)):
        return all(_is_static(x) for x in v)
    if isinstance(v, np.ndarray) and v.dtype == object:
        return all(_is_static(x) for x in v.flat)
    return True


def _objectify(v):
    """Arrays as object arrays (so Scalars can be stored in them); 0-d arrays as scalars."""
    if isinstance(v, np.ndarray):
        if v.ndim == 0:
            x = v[()]
            return float(x) if isinstance(x, np.floating) else x
        if v.dtype != object:
            if v.size > CUDA_MAX_ELEMENTS:
                raise _Unsupported(f"a per-sample array of {v.size} elements (the limit is {CUDA_MAX_ELEMENTS})")
            return v.astype(object)
        return v
    if isinstance(v, np.floating):
        return float(v)
    return v


def _elementwise(op, values, kwargs):
    if kwargs:
        raise _Unsupported(f"{_op_name(op)} with keyword arguments")
    if not any(isinstance(v, np.ndarray) for v in values):
        return _scalar_op(op, *values)
    ufunc = np.frompyfunc(lambda *xs: _scalar_op(op, *xs), len(values), 1)
    return _objectify(np.asarray(ufunc(*values), dtype=object))


def _astype(x, dtype):
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise _Unsupported(f"rt.astype to {dt}")
    if isinstance(x, np.ndarray):
        return _elementwise(builtins.float, [x], {})
    return _scalar_op(builtins.float, x)


def _basis(x):
    n = int(np.size(x)) if not isinstance(x, Scalar) else 1
    shape = () if isinstance(x, Scalar) else np.shape(x)
    return _objectify(np.eye(n).reshape((n,) + shape))


def _seed(x, offset, total):
    n = 1 if isinstance(x, Scalar) else int(np.size(x))
    shape = () if isinstance(x, Scalar) else np.shape(x)
    out = np.zeros((total, n))
    for k in range(n):
        out[offset + k, k] = 1.0
    return _objectify(out.reshape((total,) + shape))


def _shape_only(v):
    return np.empty(np.shape(v), dtype=np.int8) if isinstance(v, np.ndarray) else v


def _shape_of(v):
    return () if isinstance(v, Scalar) else np.shape(v)


class _Scalarizer:
    """Interpret the per-sample IR at compile time, emitting scalar kernel statements.

    Why one class over 300 lines: one element interpreter sharing its environment of scalar
    names (scalarize.py has the numba backend's; one interpreter for both is left to do)."""

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
            except _Unsupported as e:
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
                raise _Unsupported(f"an in-place write into {stmt.array!r}, which is not an array")
            index = tuple(self.value(i) for i in stmt.index)
            arr[index] = self.value(stmt.value)
        elif isinstance(stmt, Return):
            return [self.value(v) for v in stmt.values], stmt.is_tuple
        elif isinstance(stmt, If):
            test = self.value(stmt.test)
            if not _is_static(test):
                raise _Unsupported("an `if` on a per-sample value (data-dependent control flow)")
            return self.run(stmt.body if bool(test) else stmt.orelse)
        elif isinstance(stmt, For):
            it = self.value(stmt.iter)
            if not _is_static(it):
                raise _Unsupported("a `for` loop over per-sample values")
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
                if not _is_static(test):
                    raise _Unsupported("a `while` loop on a per-sample value (data-dependent control flow)")
                if not test:
                    return None
                r = self.run(stmt.body)
                if r is not None:
                    return r
            raise _Unsupported("a `while` loop of more than 100000 static trips")
        else:
            raise _Unsupported(f"a {type(stmt).__name__} statement")
        return None

    def assign(self, stmt):
        op = stmt.op
        args = [self.value(a) for a in stmt.args]
        kwargs = {k: self.value(v) for k, v in stmt.kwargs.items()}
        if op is COPY:
            v = args[0]
            return v.copy() if isinstance(v, np.ndarray) else (list(v) if isinstance(v, list) else v)
        if op is TUPLE:
            return tuple(args)
        if op is GETITEM:
            base, index = args[0], tuple(args[1:])
            if any(isinstance(i, Scalar) or (isinstance(i, np.ndarray) and not _is_static(i)) for i in index):
                raise _Unsupported("an index computed from a per-sample value")
            if isinstance(base, Scalar):
                base = np.asarray(base, dtype=object).reshape(())
            if isinstance(base, np.ndarray):
                return _objectify(np.asarray(base[index], dtype=object) if base.dtype == object else base[index])
            return base[index[0] if len(index) == 1 else index]
        if op is NEW_STACK:
            return []
        if op is POP:
            return args[0].pop()
        if op is PLACEHOLDER:
            kind = args[0]
            if kind[0] == "array":
                return _objectify(np.zeros((0,) * kind[1]))
            return {"float": 0.0, "int": 0, "bool": False}[kind[0]]
        if op in rt.GUARDS:  # shapes are static here: checked now (raises StructureMiss)
            return op.impl(*[_shape_only(a) for a in args])
        if op is rt.basis:
            return _basis(*args)
        if op is rt.one:
            return 1.0
        if op is rt.seed:
            return _seed(*args)
        if op is rt.astype:
            return _astype(*args)
        if op is np.shape:
            return _shape_of(args[0])
        if op is np.size:
            return int(np.prod(_shape_of(args[0])))
        if op is np.ndim:
            return len(_shape_of(args[0]))
        if op in _ELEMENTWISE or _is_math(op):
            if all(_is_static(v) for v in args) and not kwargs:
                out = op(*args)
                return _objectify(out) if not isinstance(out, bool) else out
            return _elementwise(op, args, kwargs)
        if op in _STRUCTURAL or (
            all(_is_static(v) for v in args)
            and _is_static(list(kwargs.values()))
            and op in (builtins.int, builtins.bool, np.zeros, np.ones, np.eye, np.full, np.arange, np.empty)
        ):
            args = [
                np.asarray(a, dtype=object).reshape(())
                if isinstance(a, Scalar) and op not in (builtins.len, builtins.range)
                else a
                for a in args
            ]
            impl = getattr(op, "impl", op)
            try:
                out = impl(*args, **kwargs)
            except _Unsupported:
                raise
            except Exception as e:  # NumPy cannot run it on symbolic scalars
                raise _Unsupported(f"{_op_name(op)} on per-sample values ({type(e).__name__}: {e})") from None
            if (
                isinstance(out, np.ndarray)
                and out.dtype != object
                and not np.issubdtype(out.dtype, np.number)
                and out.dtype != bool
            ):
                raise _Unsupported(f"{_op_name(op)} gave an array of {out.dtype}")
            return _objectify(out)
        raise _Unsupported(f"{_op_name(op)} has no scalar form for numba.cuda")


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
    from numba import cuda

    sample = tuple(_sample_dummy(a, ax) for a, ax in zip(args, axes))
    # argument checks as the per-sample call would do them (dtypes of differentiated args)
    self.inner.check_args(sample)
    ir = self.inner.ir_for(sample, plain)
    dtype = target_dtype(self.inner, sample)
    params = list(ir.params)  # the user's parameters, then the free values'
    lines = []
    scal = _Scalarizer(ir)
    kernel_params = ["n"]
    kernel_args = []
    _EMITTER.lines, _EMITTER.count = lines, 0
    try:
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
                    scal.env[p] = Scalar(p)
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
                    arr[idx] = Scalar(name)
                scal.env[p] = arr
            elif isinstance(a, (numbers.Real, np.floating)) and ax is None:
                lines.append(f"{p} = {arg}")
                scal.env[p] = Scalar(p)
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
    finally:
        _EMITTER.lines = None
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
