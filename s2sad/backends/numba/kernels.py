"""Shared compiled kernels for the array operators of generated code (numba backend).

Numba compiles an array operator (``a + b``, ``np.sin(x)`` on arrays) as a new loop kernel at
every place it is used, and LLVM then optimizes one ever larger function, so the compile
time of derivative code grew with every array operation in it (docs/PERFORMANCE.md). The numba
backend therefore spells each operator whose operand may be an array as a call to the one
kernel here (``nk.add(a, b)``), which Numba compiles once per type signature, caches on disk
(``cache=True``) and reuses in every generated function. Scalar operators stay inline.
Each kernel is named after the NumPy ufunc it computes (``ops.UFUNCS`` lists them);
``transpose`` with an ``axes`` tuple is here too, as a view Numba compiles quickly.
"""

import sys

import numba
import numpy as np
from numba.core import types
from numba.extending import overload
from numba.np.unsafe.ndarray import to_fixed_tuple
from numpy.lib.stride_tricks import as_strided

from .. import ops

jit = numba.njit(cache=True, error_model="numpy")  # NumPy's floating-point semantics: 1/0 is inf
fused_jit = numba.njit(cache=True, error_model="numpy")  # fusion.py's kernels

# --- large arrays: allocated as NumPy allocates them ---------------------------------------
# NumPy asks Linux for 2 MiB pages (madvise MADV_HUGEPAGE) for arrays of 4 MiB or more; Numba's
# allocator does not, so the first write of a fresh 64 MB array (W5's Hessian at Din = 512)
# takes a page fault for every 4 KiB (16 384) instead of one per 2 MiB, and the faults, not the
# loops, set the time of filling it (measured: docs/PERFORMANCE.md).
_HUGE_BYTES = 1 << 22
_MADV_HUGEPAGE = 14

if sys.platform.startswith("linux"):
    # bound by name (not a ctypes pointer), so the functions that call it stay cacheable
    _madvise = types.ExternalFunction("madvise", types.intc(types.uintp, types.uintp, types.intc))

    @numba.njit(cache=True)
    def _advise_huge(a):
        size = a.size * a.itemsize
        if size >= _HUGE_BYTES:
            start = (a.ctypes.data + 4095) & ~4095
            end = (a.ctypes.data + size) & ~4095
            if end > start:
                _madvise(start, end - start, _MADV_HUGEPAGE)  # a refusal only costs speed
else:

    @numba.njit(cache=True)
    def _advise_huge(a):
        pass


@numba.njit(cache=True)
def empty(shape, dtype):
    """``np.empty(shape, dtype)``, in 2 MiB pages where it is large (see ``_HUGE_BYTES``)."""
    out = np.empty(shape, dtype)
    _advise_huge(out)
    return out


# --- binary operators on 3-D and larger outputs: one loop nest ------------------------------
# Numba computes a broadcast array expression with index arithmetic at every element; loops
# over rows do that arithmetic once per row, which pays on 3-D operands (on 2-D operands the
# two were even; measured: docs/PERFORMANCE.md).
# Code generation calls ``<ufunc>_loops`` where the result has 3 or more axes; those loops are
# written for the operands' ranks: each operand made C-contiguous (a strided operand is copied
# once: cheap where it is broadcast, one pass where it is not), the innermost axis a row or,
# where that operand is broadcast, one value. They compile with NumPy's error model (a
# division by zero gives inf or nan, as NumPy's does).

# each binary kernel's expression on two elements: its infix operator where it has one
_BINARY = {
    op.__name__: f"{{}} {ops.INFIX[op]} {{}}" if op in ops.INFIX else f"np.{op.__name__}({{}}, {{}})"
    for op in ops.UFUNCS
    if op.__name__ in ops.LOOP_KERNELS
}
loops_jit = numba.njit(cache=True, error_model="numpy")


def broadcast(name, a, b):
    """The ufunc ``name`` of ``a`` and ``b`` with NumPy broadcasting, as loops (``_loops``)."""
    return getattr(np, name)(a, b)


def _loop_kind(t):
    """0 for a scalar operand, its rank for an array operand, None where the loops do not
    apply (NumPy's ufunc in Numba then computes it)."""
    if isinstance(t, (types.Float, types.Integer)) and not isinstance(t, types.Boolean):
        return 0
    if isinstance(t, types.Array) and t.ndim >= 1 and isinstance(t.dtype, types.Float):
        return t.ndim
    return None


@overload(broadcast, prefer_literal=True)
def _broadcast_impl(name, a, b):
    if not isinstance(name, types.StringLiteral):
        return None
    name = name.literal_value
    kinds = (_loop_kind(a), _loop_kind(b))
    floats = {t.dtype for t in (a, b) if isinstance(t, types.Array)}
    # one float dtype (a scalar only beside float64, whose result type NumPy and Numba agree on)
    if None in kinds or max(kinds) < 3 or len(floats) != 1 or (0 in kinds and floats != {types.float64}):
        ufunc = getattr(np, name)
        return lambda name, a, b: ufunc(a, b)
    dtype = np.bool_ if name in ops.BOOLEAN else numba.np.numpy_support.as_dtype(floats.pop()).type
    return _loops(_BINARY[name], kinds, dtype)


def _loops(expression, kinds, dtype):
    """Loops computing ``expression`` (a format with two operands) over the broadcast output
    of operands of ranks ``kinds`` (0: a scalar), into a new array of ``dtype``."""
    names = ("a", "b")
    nd = max(kinds)
    shapes = ", ".join(f"{n}.shape" for n, k in zip(names, kinds) if k)
    lines = ["def impl(name, a, b):", f"    shape = np.broadcast_shapes({shapes})"]
    for n, k in zip(names, kinds):
        if k:
            lines.append(f"    {n.upper()} = np.ascontiguousarray({n})")
            lines += [f"    {n}_full{t} = {n.upper()}.shape[{t}] != 1" for t in range(k)]
    lines.append("    out = empty(shape, dtype)")
    lines.append(f"    {', '.join(f'n{o}' for o in range(nd))}, = shape")
    pad = "    "
    for o in range(nd - 1):
        lines.append(f"{pad}for i{o} in range(n{o}):")
        pad += "    "
        for n, k in zip(names, kinds):
            t = o - (nd - k)  # the operand's axis that meets output axis o
            if k and t >= 0:
                lines.append(f"{pad}{n}{t} = i{o} if {n}_full{t} else 0")
    lines.append(f"{pad}row = out[{', '.join(f'i{o}' for o in range(nd - 1))}]")
    arrays = [n for n, k in zip(names, kinds) if k]
    for n, k in zip(names, kinds):
        if k:
            index = ", ".join(f"{n}{t}" for t in range(k - 1))
            lines.append(f"{pad}{n}_row = {n.upper()}[{index}]" if k > 1 else f"{pad}{n}_row = {n.upper()}")
    # the innermost axis: each array operand gives a row or, where it is broadcast, one value
    last = {n: k - 1 for n, k in zip(names, kinds) if k}
    for mask in range(1 << len(arrays)):
        rows = {n for i, n in enumerate(arrays) if mask >> i & 1}
        test = " and ".join(f"{'' if n in rows else 'not '}{n}_full{last[n]}" for n in arrays)
        operands = [(f"{n}_row[k]" if n in rows else f"{n}_row[0]") if n in last else n for n in names]
        keyword = "if" if mask == 0 else "elif" if mask < (1 << len(arrays)) - 1 else "else"
        lines.append(f"{pad}{keyword} {test}:" if keyword != "else" else f"{pad}else:")
        lines.append(f"{pad}    for k in range(n{nd - 1}):")
        lines.append(f"{pad}        row[k] = {expression.format(*operands)}")
    lines.append("    return out")
    scope = {"np": np, "empty": empty, "dtype": dtype}
    exec("\n".join(lines), scope)  # noqa: S102 - source built above from ranks and _BINARY
    return scope["impl"]


@jit
def add(a, b):
    return a + b


@jit
def subtract(a, b):
    return a - b


@jit
def multiply(a, b):
    return a * b


@jit
def divide(a, b):
    return a / b


@jit
def power(a, b):
    return a**b


@jit
def floor_divide(a, b):
    return a // b


@jit
def remainder(a, b):
    return a % b


@jit
def less(a, b):
    return a < b


@jit
def less_equal(a, b):
    return a <= b


@jit
def greater(a, b):
    return a > b


@jit
def greater_equal(a, b):
    return a >= b


@jit
def equal(a, b):
    return a == b


@jit
def not_equal(a, b):
    return a != b


@jit
def maximum(a, b):
    return np.maximum(a, b)


@jit
def minimum(a, b):
    return np.minimum(a, b)


@jit
def arctan2(a, b):
    return np.arctan2(a, b)


@jit
def hypot(a, b):
    return np.hypot(a, b)


@jit
def logaddexp(a, b):
    return np.logaddexp(a, b)


@loops_jit
def add_loops(a, b):
    return broadcast("add", a, b)


@loops_jit
def subtract_loops(a, b):
    return broadcast("subtract", a, b)


@loops_jit
def multiply_loops(a, b):
    return broadcast("multiply", a, b)


@loops_jit
def divide_loops(a, b):
    return broadcast("divide", a, b)


@loops_jit
def power_loops(a, b):
    return broadcast("power", a, b)


@loops_jit
def floor_divide_loops(a, b):
    return broadcast("floor_divide", a, b)


@loops_jit
def remainder_loops(a, b):
    return broadcast("remainder", a, b)


@loops_jit
def less_loops(a, b):
    return broadcast("less", a, b)


@loops_jit
def less_equal_loops(a, b):
    return broadcast("less_equal", a, b)


@loops_jit
def greater_loops(a, b):
    return broadcast("greater", a, b)


@loops_jit
def greater_equal_loops(a, b):
    return broadcast("greater_equal", a, b)


@loops_jit
def equal_loops(a, b):
    return broadcast("equal", a, b)


@loops_jit
def not_equal_loops(a, b):
    return broadcast("not_equal", a, b)


@loops_jit
def maximum_loops(a, b):
    return broadcast("maximum", a, b)


@loops_jit
def minimum_loops(a, b):
    return broadcast("minimum", a, b)


@loops_jit
def arctan2_loops(a, b):
    return broadcast("arctan2", a, b)


@loops_jit
def hypot_loops(a, b):
    return broadcast("hypot", a, b)


@loops_jit
def logaddexp_loops(a, b):
    return broadcast("logaddexp", a, b)


@jit
def negative(a):
    return -a


@jit
def sin(a):
    return np.sin(a)


@jit
def cos(a):
    return np.cos(a)


@jit
def tan(a):
    return np.tan(a)


@jit
def arcsin(a):
    return np.arcsin(a)


@jit
def arccos(a):
    return np.arccos(a)


@jit
def arctan(a):
    return np.arctan(a)


@jit
def sinh(a):
    return np.sinh(a)


@jit
def cosh(a):
    return np.cosh(a)


@jit
def tanh(a):
    return np.tanh(a)


@jit
def arcsinh(a):
    return np.arcsinh(a)


@jit
def arccosh(a):
    return np.arccosh(a)


@jit
def arctanh(a):
    return np.arctanh(a)


@jit
def exp(a):
    return np.exp(a)


@jit
def exp2(a):
    return np.exp2(a)


@jit
def expm1(a):
    return np.expm1(a)


@jit
def log(a):
    return np.log(a)


@jit
def log2(a):
    return np.log2(a)


@jit
def log10(a):
    return np.log10(a)


@jit
def log1p(a):
    return np.log1p(a)


@jit
def sqrt(a):
    return np.sqrt(a)


@jit
def cbrt(a):
    return np.cbrt(a)


@jit
def absolute(a):
    return np.absolute(a)


@jit
def sign(a):
    return np.sign(a)


@jit
def square(a):
    return np.square(a)


@jit
def reciprocal(a):
    return np.reciprocal(a)


@jit
def floor(a):
    return np.floor(a)


@jit
def ceil(a):
    return np.ceil(a)


@jit
def trunc(a):
    return np.trunc(a)


@jit
def rint(a):
    return np.rint(a)


@jit
def isfinite(a):
    return np.isfinite(a)


@jit
def isnan(a):
    return np.isnan(a)


@jit
def isinf(a):
    return np.isinf(a)


@jit
def logical_not(a):
    return np.logical_not(a)


@jit
def unit_index(n):
    """0: the index that takes the one element of an axis np.squeeze removes (the generated
    code squeezes by indexing, a view of any layout: Numba has no np.squeeze); ValueError, as
    NumPy raises, unless the axis has length 1."""
    if n != 1:
        raise ValueError("cannot select an axis to squeeze out which has size not equal to one")
    return 0


@jit
def where(c, a, b):
    return np.where(c, a, b)


def transpose(x, axes):
    """``np.transpose(x, axes)``: the same view, built from permuted shape and strides
    (Numba's own implementation with an ``axes`` tuple takes seconds to compile)."""
    return np.transpose(x, axes)


@overload(transpose, jit_options={"cache": True})
def _transpose_impl(x, axes):
    nd = x.ndim

    def impl(x, axes):
        shape = np.empty(nd, np.int64)
        strides = np.empty(nd, np.int64)
        for k in range(nd):
            shape[k] = x.shape[axes[k]]
            strides[k] = x.strides[axes[k]]
        return as_strided(x, to_fixed_tuple(shape, nd), to_fixed_tuple(strides, nd))

    return impl


@jit
def store(dst, src):
    """``dst[...] = src`` for a C-contiguous ``dst`` of ``src``'s size, element by element
    (Numba's slice assignment takes seconds to compile)."""
    row = dst.reshape(-1)
    flat = np.ascontiguousarray(src).reshape(-1)
    for k in range(flat.size):
        row[k] = flat[k]


@jit
def mean_axis(a, axis):
    """``np.mean(a, axis=axis)`` for one axis (Numba has ``np.mean`` without ``axis`` only)."""
    return np.sum(a, axis=axis) / a.shape[axis]


def extreme_axis(a, axis, largest):
    """``np.max(a, axis=axis)`` (``largest``) or ``np.min`` for one axis of an array of two or
    more axes (Numba has them without ``axis`` only). NaN propagates, as in NumPy."""
    return np.max(a, axis=axis) if largest else np.min(a, axis=axis)


@overload(extreme_axis, jit_options={"cache": True})
def _extreme_axis_impl(a, axis, largest):
    if not isinstance(a, types.Array) or a.ndim < 2:
        return None
    nd = a.ndim
    out_nd = nd - 1

    def impl(a, axis, largest):
        A = np.ascontiguousarray(a)
        if axis < 0:
            axis += nd
        pre, post = 1, 1
        dims = np.empty(out_nd, np.int64)
        for k in range(nd):
            if k < axis:
                pre *= A.shape[k]
                dims[k] = A.shape[k]
            elif k > axis:
                post *= A.shape[k]
                dims[k - 1] = A.shape[k]
        n = A.shape[axis]
        if n == 0 and pre * post > 0:
            raise ValueError("zero-size array to reduction operation, which has no identity")
        flat = A.reshape((pre, n, post))
        out = np.empty((pre, post), A.dtype)
        for i in range(pre):
            for k in range(post):
                out[i, k] = flat[i, 0, k]
            for j in range(1, n):
                for k in range(post):
                    v = flat[i, j, k]
                    m = out[i, k]
                    if (v > m if largest else v < m) or v != v:
                        out[i, k] = v
        return out.reshape(to_fixed_tuple(dims, out_nd))

    return impl


@jit
def sum_axis(a, axis):
    """``np.sum(a, axis=axis)`` for one axis of an array of two or more axes: compiled once per
    type signature and cached with the kernels (Numba's own is compiled again inside each
    generated function, in every new process, and slowly: docs/PERFORMANCE.md)."""
    return np.sum(a, axis=axis)


@jit
def matmul(a, b):
    """``a @ b`` for arrays of one or two axes, compiled once per type signature and cached
    with the kernels (Numba's own, through BLAS, is compiled again in each new process, for
    each signature)."""
    return a @ b


# --- np.dot, np.inner, np.matmul of any rank -------------------------------------------------
# Numba has np.dot and @ for one or two axes only, and no np.inner. ``product("dot", a, b)``
# computes them for every rank as ONE stacked matmul (runtime.product_form, the same form the
# derivative rules use): size-1 axes inserted by indexing, runtime.bmatmul (whose stacks
# broadcast), element 0 of the size-1 axes of the result. A 0-d operand is a product.


def product(name, a, b):
    """``np.<name>(a, b)`` for ``name`` in dot, inner, matmul, operands of any rank."""
    return getattr(np, name)(a, b)


def _index_text(index):
    return "[" + ", ".join(":" if isinstance(i, slice) else "None" if i is None else str(i) for i in index) + "]"


@overload(product, prefer_literal=True, jit_options={"cache": True, "error_model": "numpy"})
def _product_impl(name, a, b):
    if not isinstance(name, types.StringLiteral):
        return None
    from ... import runtime
    from .. import _import, _write_module

    name = name.literal_value
    ra = a.ndim if isinstance(a, types.Array) else 0
    rb = b.ndim if isinstance(b, types.Array) else 0
    if ra == 0 or rb == 0:
        return lambda name, a, b: a * b
    pa, pb, post = runtime.product_form(name, ra, rb)
    A = "a" + (_index_text(runtime.insert_index(ra, pa)) if pa else "")
    B = "b" + (_index_text(runtime.insert_index(rb, pb)) if pb else "")
    rz = max(ra + len(pa), rb + len(pb))
    Z = "z" + (_index_text(runtime.drop_index(rz, post)) if post else "")
    text = (
        "\n".join(
            [
                "import numpy as np",
                "from s2sad import runtime as rt",
                "",
                "",
                "def impl(name, a, b):",
                f"    z = rt.bmatmul(np.ascontiguousarray({A}), np.ascontiguousarray({B}))",
                f"    return {Z}",
            ]
        )
        + "\n"
    )
    return _import(_write_module(text, "s2sad_product"), "s2sad_product").impl


def concatenate_flat(arrays):
    """``np.concatenate(arrays, axis=None)``: the flattened arrays joined (Numba's
    np.concatenate has no ``axis=None``)."""
    return np.concatenate(arrays, axis=None)


@overload(concatenate_flat, jit_options={"cache": True})
def _concatenate_flat_impl(arrays):
    if not isinstance(arrays, types.BaseTuple):
        return None
    from .. import _import, _write_module

    parts = ", ".join(f"np.ravel(arrays[{k}])" for k in range(len(arrays.types)))
    text = f"import numpy as np\n\n\ndef impl(arrays):\n    return np.concatenate(({parts},))\n"
    return _import(_write_module(text, "s2sad_concatenate"), "s2sad_concatenate").impl
