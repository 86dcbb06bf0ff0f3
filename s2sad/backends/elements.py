"""The element interpreter both scalarizers share: arrays as NumPy object arrays of elements.

An array value whose shape is known at build time is an object array of *elements* (``El``):
each element is an atom (a variable holding one scalar at run time, or a constant). NumPy
itself then does the indexing, slicing, concatenation, reductions, broadcasting and the
runtime helpers' work (``rt.scatter``, ``rt.sum_to``, ``rt.seed``) on them, and every
arithmetic operation on elements emits one scalar statement through the current emitter,
with constants folded (the 0s and 1s of the seeds vanish: ``0 * x`` is 0, ``1 * x`` is x).

Two drivers interpret the IR with it, and differ only in what they do with control flow and
with what the elements cannot express:

* ``backends/numba/scalarize.py`` keeps the loops and branches (each variable's elements live
  in fixed names across them) and packs a value into an array again before an operation it
  cannot evaluate; its emitter appends IR statements.
* ``backends/cuda/batch.py`` unrolls every loop and branch whose condition is known at build
  time and refuses the rest; its emitter prints kernel lines (``math.sin``, ``max``).

An emitter has one method, ``scalar(op, atoms) -> Var``: the variable holding ``op`` of those
atoms. ``evaluate(op, args, kwargs, scalar_ops)`` computes one operation on values (elements,
object arrays of them, numbers, tuples); ``scalar_ops`` names the operations beyond NumPy's
ufuncs that the driver's emitter can write on scalars.
"""

from __future__ import annotations

import contextlib
import operator
import threading

import numpy as np

from .. import runtime as rt
from ..ir import COPY, GETITEM, TUPLE, Const, Var

_STATE = threading.local()


class Unsupported(Exception):
    """An operation the element interpreter cannot evaluate on elements."""


@contextlib.contextmanager
def emitting(emitter):
    """Element arithmetic inside the block emits through ``emitter``."""
    before = getattr(_STATE, "emitter", None)
    _STATE.emitter = emitter
    try:
        yield emitter
    finally:
        _STATE.emitter = before


class El:
    """One element of an array known element by element (or a scalar): an atom; arithmetic on
    it emits."""

    __slots__ = ("atom", "neg")
    shape, ndim, size = (), 0, 1  # as a NumPy scalar has (an object array's item is an El)

    def __init__(self, atom, neg=None):
        self.atom = atom
        self.neg = neg  # the El this one negates (so a + -b is emitted as a - b)

    def __repr__(self):
        return f"El({self.atom!r})"

    def __add__(self, o):
        return _binary(np.add, (self, o))

    def __radd__(self, o):
        return _binary(np.add, (o, self))

    def __sub__(self, o):
        return _binary(np.subtract, (self, o))

    def __rsub__(self, o):
        return _binary(np.subtract, (o, self))

    def __mul__(self, o):
        return _binary(np.multiply, (self, o))

    def __rmul__(self, o):
        return _binary(np.multiply, (o, self))

    def __truediv__(self, o):
        return _binary(np.true_divide, (self, o))

    def __rtruediv__(self, o):
        return _binary(np.true_divide, (o, self))

    def __pow__(self, o):
        return _binary(np.power, (self, o))

    def __rpow__(self, o):
        return _binary(np.power, (o, self))

    def __neg__(self):
        return apply(np.negative, (self,))

    def __pos__(self):
        return self

    def __abs__(self):
        return apply(np.absolute, (self,))

    def __bool__(self):
        raise Unsupported("a truth value of a runtime element")

    def __index__(self):
        raise Unsupported("an index computed from a runtime element")

    __int__ = __index__

    def __eq__(self, o):
        raise Unsupported("a comparison of runtime elements outside a ufunc")

    __lt__ = __le__ = __gt__ = __ge__ = __ne__ = __eq__
    __hash__ = object.__hash__


def _binary(op, args):
    """An operator of an element and ``other``: an array operand is NumPy's business (its
    reflected operator maps over its elements; a 0-d array stays an array, as in NumPy)."""
    if any(isinstance(a, np.ndarray) for a in args):
        return NotImplemented
    return apply(op, args)


class Exact:
    """A build-time constant that is not an element (a shape, a size, an index)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


BOOL_UFUNCS = {
    "less",
    "less_equal",
    "greater",
    "greater_equal",
    "equal",
    "not_equal",
    "logical_and",
    "logical_or",
    "logical_not",
    "logical_xor",
    "isnan",
    "isinf",
    "isfinite",
    "signbit",
}


def number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def py(v):
    """A NumPy scalar as the Python number it equals."""
    return v.item() if isinstance(v, np.generic) else v


def atom(v):
    if isinstance(v, El):
        return v.atom
    if isinstance(v, (int, float, bool, np.generic)):
        return Const(py(v))
    raise Unsupported(f"not an element: {type(v).__name__}")


def element_atom(v):
    """The atom of a float array's element: a constant as a float (a Numba list or variable
    that first gets an int would be typed int)."""
    a = atom(v)
    return Const(float(a.value)) if isinstance(a, Const) else a


def _value(a):
    """An atom as a value: a Const's number, else an El."""
    return py(a.value) if isinstance(a, Const) and number(a.value) else El(a)


def apply(op, args):
    """``op`` on elements (El or numbers): folded where constants allow, else one statement."""
    vals = [a if isinstance(a, El) and isinstance(a.atom, Var) else _value(atom(a)) for a in args]
    consts = [v for v in vals if not isinstance(v, El)]
    if len(consts) == len(vals):
        return py(op(*vals))
    if op is np.negative:
        if vals[0].neg is not None:
            return vals[0].neg
        return El(_STATE.emitter.scalar(op, [vals[0].atom]), neg=vals[0])
    if op is np.add:
        a, b = vals
        if not isinstance(b, El) and b == 0:
            return a
        if not isinstance(a, El) and a == 0:
            return b
        if isinstance(b, El) and b.neg is not None:
            return apply(np.subtract, (a, b.neg))
        if isinstance(a, El) and a.neg is not None:
            return apply(np.subtract, (b, a.neg))
    elif op is np.subtract:
        a, b = vals
        if not isinstance(b, El) and b == 0:
            return a
        if not isinstance(a, El) and a == 0:
            return apply(np.negative, (b,))
        if isinstance(b, El) and b.neg is not None:
            return apply(np.add, (a, b.neg))
    elif op is np.multiply:
        a, b = vals
        for c, other in ((a, b), (b, a)):
            if not isinstance(c, El):
                if c == 0:
                    return 0.0
                if c == 1:
                    return other
                if c == -1:
                    return apply(np.negative, (other,))
                if other.neg is not None:
                    return apply(np.multiply, (-c, other.neg))
        if isinstance(a, El) and isinstance(b, El) and a.neg is not None and b.neg is not None:
            return apply(np.multiply, (a.neg, b.neg))
    elif op is np.true_divide:
        a, b = vals
        if not isinstance(a, El) and a == 0:
            return 0.0
        if not isinstance(b, El) and b == 1:
            return a
    elif op is np.power:
        a, b = vals
        if not isinstance(b, El) and b == 1:
            return a
    elif op is rt.scale_nz:  # g * p, 0 where g is 0: exact for a known g
        g, p = vals
        if not isinstance(g, El):
            return 0.0 if g == 0 else apply(np.multiply, (g, p))
    return El(_STATE.emitter.scalar(op, [atom(v) for v in vals]))


def elementwise(op, values):
    """An elementwise op on values that may be object arrays: broadcast, then one ``apply``
    each."""
    if isinstance(op, np.ufunc) and (op.nout != 1 or op.signature is not None):
        raise Unsupported(f"ufunc {op.__name__}")
    if not any(isinstance(v, np.ndarray) for v in values):
        return apply(op, values)
    arrays = np.broadcast_arrays(*[np.asarray(v, dtype=object) for v in values])
    out = np.empty(arrays[0].shape, dtype=object)
    for idx in np.ndindex(out.shape):
        out[idx] = apply(op, [a[idx] for a in arrays])
    return out


# --- which operations evaluate on object arrays ---------------------------------------------

# run by NumPy itself (or the runtime helper's Python body) on object arrays of elements:
# layout, reductions, products (El arithmetic emits the statements)
STRUCTURAL = {
    np.array,
    np.asarray,
    np.sum,
    np.concatenate,
    np.stack,
    np.reshape,
    np.transpose,
    np.ascontiguousarray,
    np.zeros,
    np.ones,
    np.zeros_like,
    np.ones_like,
    np.copy,
    np.dot,
    np.matmul,
    np.outer,
    np.squeeze,
    np.expand_dims,
    np.broadcast_to,
    np.eye,
    np.full,
    np.ravel,
    np.hstack,
    np.vstack,
    np.flip,
    np.diag,
    np.trace,
    np.mean,
    np.prod,
    np.cumsum,
    np.moveaxis,
    np.swapaxes,
    np.full_like,
    np.atleast_1d,
    rt.sum_to,
    rt.broadcast_like,
    rt.scatter,
    rt.scatter_add,
    rt.seed,
    rt.zeros_batch,
    rt.basis,
    rt.one,
    rt.add_batch_axis,
    rt.bmatmul,
    rt.cumsum_rows,
    rt.linear_scan,
    *rt.GUARDS,
}
OPERATORS = {
    operator.add: np.add,
    operator.sub: np.subtract,
    operator.mul: np.multiply,
    operator.truediv: np.true_divide,
    operator.neg: np.negative,
    operator.pow: np.power,
}
SHAPE_OPS = {np.shape: np.shape, np.size: np.size, np.ndim: np.ndim, len: len}


def zero_d(v):
    """An element as a 0-d object array, which NumPy functions take where they take arrays."""
    if isinstance(v, El):
        arr = np.empty((), dtype=object)
        arr[()] = v
        return arr
    return v


def all_ints(v):
    if isinstance(v, tuple):
        return all(all_ints(x) for x in v)
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def is_static(v):
    """A build-time value: no runtime element inside."""
    if isinstance(v, El):
        return isinstance(v.atom, Const)
    if isinstance(v, (tuple, list)):
        return all(is_static(x) for x in v)
    if isinstance(v, np.ndarray) and v.dtype == object:
        return all(is_static(x) for x in v.flat)
    return True


def numeric(v):
    """An object array known at build time (no runtime element in it) as a NumPy array of
    its numbers again: index arrays must be int or bool arrays."""
    if isinstance(v, np.ndarray) and v.dtype == object and v.size and is_static(v):
        return np.array([x.atom.value if isinstance(x, El) else x for x in v.flat]).reshape(v.shape)
    return v


def static_index(index):
    """An index (a list of its parts) as NumPy takes it (index arrays as int or bool arrays)."""
    if any(isinstance(i, El) or (isinstance(i, np.ndarray) and not is_static(i)) for i in index):
        raise Unsupported("a runtime index")
    return [numeric(i) for i in index]


def evaluate(op, args, kwargs, scalar_ops=frozenset(), structural=frozenset()):
    """``op`` of these values, as NumPy computes it on object arrays: a view where NumPy gives
    a view (``y = x``, ``x[1:]``, a reshape), so writes through it are NumPy's. Shapes, sizes
    and int arithmetic come back as ``Exact``; an operation the elements cannot express raises
    ``Unsupported`` (or NumPy's own error on object arrays: TypeError, ValueError, IndexError
    ...). ``scalar_ops``: elementwise ops beyond the ufuncs that the emitter writes;
    ``structural``: ops beyond ``STRUCTURAL`` that the driver runs on object arrays."""
    if op is COPY:  # as in NumPy: the same array (a driver that writes in place copies first)
        return args[0]
    if op is TUPLE:
        return tuple(args)
    if op is GETITEM:
        base, *index = args
        index = static_index(index)
        if not isinstance(base, (np.ndarray, tuple, list)) and not index:
            return base  # x[()] of a scalar
        return base[index[0]] if isinstance(base, (tuple, list)) and len(index) == 1 else base[tuple(index)]
    if op in SHAPE_OPS:
        return Exact(SHAPE_OPS[op](*args))
    if op in OPERATORS and not kwargs:
        if all(all_ints(v) for v in args):  # int and tuple arithmetic: shapes, offsets
            return Exact(op(*args))
        return elementwise(OPERATORS[op], args)
    if (isinstance(op, np.ufunc) and op.signature is None or op in scalar_ops) and not kwargs:
        return elementwise(op, args)
    if op in STRUCTURAL or op in structural:
        impl = getattr(op, "impl", op)
        if op is np.array and len(args) == 1 and not kwargs:
            return np.array(args[0], dtype=object)
        if op is rt.scatter_add:
            args[0] = args[0].copy()
        args = [zero_d(numeric(v)) for v in args]
        result = impl(*args, **{k: zero_d(v) for k, v in kwargs.items()})
        return result[()] if isinstance(result, np.ndarray) and result.ndim == 0 else result
    raise Unsupported(f"{getattr(op, '__name__', op)}")
