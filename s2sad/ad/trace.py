"""Symbolic values, abstract evaluation, and the builder that rules emit statements into.

Types are known per specialization (rank and dtype, like a JIT): every variable is given a
*dummy*, a small value of the right kind (a float, an int, a float64 array of shape
``(4,) * ndim`` ...). Running an operation on the dummies of its operands gives the dummy of
its result, so NumPy itself is the type checker (``abstract_eval``).

Derivative rules are ordinary Python functions. The passes call them with ``Sym`` operands:
each NumPy call, operator or method applied to a ``Sym`` appends one ``Assign`` to the
current ``Builder`` and returns a new ``Sym``. Ranks and dtypes are known (``x.ndim``),
values are not, so a rule may branch on ranks but never on data.
"""

from __future__ import annotations

import builtins
import operator
import threading
from contextlib import contextmanager

import numpy as np

from ..errors import S2SADError
from ..ir import APPEND, COPY, GETITEM, NEW_STACK, PLACEHOLDER, TUPLE, Assign, Const, NameGen, SliceAtom, Var

DUMMY_DIM = 4

# Size facts (sizes.py) type the code again with dummies of the arguments' own shapes, every
# other axis DUMMY_DIM or DUMMY_DIM + 1 long, and compare: this thread's setting, if any.
_SIZES = threading.local()


@contextmanager
def exact_sizes(unknown):
    """Within: abstract evaluation keeps every size, and dummies made from ranks alone have
    axes ``unknown`` long (sizes.py)."""
    previous = getattr(_SIZES, "unknown", None)
    _SIZES.unknown = unknown
    try:
        yield
    finally:
        _SIZES.unknown = previous


def _unknown_dim():
    return getattr(_SIZES, "unknown", None)


def exact_sizes_on() -> bool:
    """Is this thread typing with exact sizes (sizes.py)?"""
    return _unknown_dim() is not None


# --- dummies -----------------------------------------------------------------------------


def dummy_like(value):
    """The dummy standing for a runtime value of the same type."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return type(value)(1)
    if isinstance(value, float):
        return 0.5
    if isinstance(value, np.floating):
        return value.dtype.type(0.5)
    if isinstance(value, np.ndarray):
        return dummy_array(value.ndim, value.dtype)
    if isinstance(value, tuple):
        return tuple(dummy_like(v) for v in value)
    if value is None or isinstance(value, (str, slice)):
        return value
    raise S2SADError(f"unsupported argument type {type(value).__name__}")


def dummy_array(ndim, dtype, shape=None):
    dtype = np.dtype(dtype)
    if shape is None:
        shape = (_unknown_dim() or DUMMY_DIM,) * ndim
    if dtype.kind == "f":
        return np.full(shape, 0.5, dtype)
    if dtype.kind == "b":
        return np.zeros(shape, dtype)
    return np.ones(shape, dtype)


def is_float(dummy) -> bool:
    """Can this value carry a derivative (a float scalar or float array, or a tuple of them)?"""
    if isinstance(dummy, tuple):
        return any(is_float(d) for d in dummy)
    if isinstance(dummy, float):
        return True
    return isinstance(dummy, (np.ndarray, np.floating)) and dummy.dtype.kind == "f"


def _type_key(dummy):
    """What must not change between two assignments of one variable: array or not, rank and
    dtype of arrays (scalars may move between int and float, as Numba unifies them)."""
    if isinstance(dummy, np.ndarray):
        return ("array", dummy.ndim, dummy.dtype.str)
    if isinstance(dummy, tuple):
        return ("tuple", tuple(_type_key(d) for d in dummy))
    if isinstance(dummy, (int, float, bool, np.number, np.bool_)):
        return ("scalar",)
    return (type(dummy).__name__,)


def _unify_scalars(old, new):
    """One type for a scalar variable assigned numbers of several types (``out = 1`` then
    ``out = out * a``): the promoted one, as Numba unifies them (so a tape of it is float)."""
    scalar = (int, float, np.integer, np.floating)
    if (
        isinstance(old, scalar)
        and isinstance(new, scalar)
        and not isinstance(old, (bool, np.bool_))
        and not isinstance(new, (bool, np.bool_))
    ):
        dtype = np.result_type(old, new)
        if dtype.kind == "f":
            return 0.5 if dtype == np.float64 else dtype.type(0.5)
    return new


def describe(dummy) -> str:
    if isinstance(dummy, np.ndarray):
        return f"{dummy.dtype}[{dummy.ndim}d]"
    return type(dummy).__name__


# --- abstract evaluation -----------------------------------------------------------------

ABSTRACT_EVAL = {}  # op -> function(*dummies, **kw) -> dummy, for ops NumPy can't run on dummies


def _shape_rank(shape):
    return len(shape) if isinstance(shape, tuple) else 1


def _creation(shape, dtype=float, **_):
    return dummy_array(_shape_rank(shape), dtype, _exact_shape(shape))


def _exact_shape(shape):
    """With exact sizes (sizes.py): the shape a creation is given, where its entries are
    numbers (a constant, a size read from an array; an int argument's dummy differs between
    the two typings); else None, every axis unknown."""
    if not _unknown_dim():
        return None
    entries = shape if isinstance(shape, tuple) else (shape,)
    if all(isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_)) and n >= 0 for n in entries):
        return tuple(int(n) for n in entries)
    return None


for _op in (np.zeros, np.ones, np.empty):
    ABSTRACT_EVAL[_op] = _creation
ABSTRACT_EVAL[np.full] = lambda shape, fill_value, dtype=None: dummy_array(
    _shape_rank(shape), dtype or np.result_type(fill_value)
)
ABSTRACT_EVAL[np.reshape] = lambda a, shape=None, *rest, **kw: dummy_array(
    _shape_rank(shape if shape is not None else rest), np.asarray(a).dtype
)
ABSTRACT_EVAL[np.broadcast_to] = lambda a, shape: dummy_array(_shape_rank(shape), np.asarray(a).dtype)
ABSTRACT_EVAL[np.eye] = lambda n, m=None, k=0, dtype=float: dummy_array(2, dtype)
ABSTRACT_EVAL[np.arange] = lambda *a, dtype=None, **kw: dummy_array(1, dtype or np.result_type(*a))
ABSTRACT_EVAL[builtins.range] = lambda *a: range(1)


def _squeeze(a, axis=None):
    if axis is None:  # the size-1 axes the dummy has: those the code squeezes (composite_rules.squeeze)
        axis = unit_axes(a)
    axes = axis if isinstance(axis, tuple) else (axis,)
    if _unknown_dim():  # exact sizes (sizes.py): NumPy's result
        return np.squeeze(a, axis=axes)
    return dummy_array(np.ndim(a) - len(axes), np.asarray(a).dtype)


def unit_axes(dummy):
    """The axes of length 1 of a dummy array. Types are ranks and dtypes: abstract_eval gives
    every axis DUMMY_DIM elements, so none, except while sizes.py types the code with the
    arguments' own shapes to find the size-1 axes known for np.squeeze without axis."""
    return tuple(k for k, n in enumerate(np.shape(dummy)) if n == 1)


ABSTRACT_EVAL[np.squeeze] = _squeeze
ABSTRACT_EVAL[COPY] = lambda x: x
ABSTRACT_EVAL[TUPLE] = lambda *xs: tuple(xs)
ABSTRACT_EVAL[NEW_STACK] = lambda: []
ABSTRACT_EVAL[APPEND] = lambda stack, value: None


def _placeholder(kind):
    if kind[0] == "array":
        return dummy_array(kind[1], kind[2])
    if kind[0] == "float":
        return np.dtype(kind[1]).type(0.5) if kind[1] != "float64" else 0.5
    return {"int": 1, "bool": False}[kind[0]]


ABSTRACT_EVAL[PLACEHOLDER] = _placeholder


def _sanitize_index(i):
    if isinstance(i, (bool, np.bool_)):
        return i
    if isinstance(i, (int, np.integer)):
        return 0
    if isinstance(i, slice):
        # a slice of a dummy is not the dummy of a slice; with exact sizes (sizes.py) it is
        # taken as written, its bounds' dummies varied between the two typings
        return i if _unknown_dim() else slice(None)
    if isinstance(i, np.ndarray) and i.dtype.kind in "iu":
        return np.zeros(i.shape, i.dtype)
    return i


def _getitem(x, *index):
    if isinstance(x, tuple):  # tuples are indexed by constants: the real index
        return x[index[0]]
    index = tuple(_sanitize_index(i) for i in index)
    return x[index[0] if len(index) == 1 else index]


ABSTRACT_EVAL[GETITEM] = _getitem


def abstract_eval(op, args, kwargs):
    """Dummy of ``op(*args, **kwargs)`` on dummies; raises S2SADError if it cannot type it."""
    impl = ABSTRACT_EVAL.get(op)
    if impl is None:
        impl = getattr(op, "abstract_eval", None) or op
    try:
        with np.errstate(all="ignore"):
            out = impl(*args, **kwargs)
    except S2SADError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported with the op's name
        if _unknown_dim() and any(map(_has_sizes, args)):
            # exact sizes (sizes.py): a size known here met one made up from a rank (the
            # dummy of np.reshape's result); the result's sizes are then unknown
            return abstract_eval(op, [_unsized(a) for a in args], {k: _unsized(v) for k, v in kwargs.items()})
        name = getattr(op, "__name__", repr(op))
        raise S2SADError(f"cannot infer the type of {name}({', '.join(map(describe, args))}): {exc}")
    if isinstance(out, np.ndarray) and out.ndim and out.shape != (DUMMY_DIM,) * out.ndim and not _unknown_dim():
        # normalize sizes (a slice or a size-1 axis changes them), keep rank and dtype
        out = dummy_array(out.ndim, out.dtype)
    if isinstance(out, np.ndarray) and out.ndim == 0:
        out = out.dtype.type(out) if out.dtype.kind != "f" else out.dtype.type(0.5)
    return out


def _unsized(dummy):
    """The dummy with every axis of the unknown length (exact sizes, sizes.py)."""
    if isinstance(dummy, np.ndarray) and dummy.ndim:
        return dummy_array(dummy.ndim, dummy.dtype)
    if isinstance(dummy, tuple):
        return tuple(_unsized(d) for d in dummy)
    return dummy


def _has_sizes(dummy):
    """Has the dummy an axis of another length than the unknown one?"""
    if isinstance(dummy, np.ndarray):
        return any(n != _unknown_dim() for n in dummy.shape)
    return isinstance(dummy, tuple) and any(map(_has_sizes, dummy))


# --- the builder -------------------------------------------------------------------------


class Builder:
    """Collects the statements rules emit, with a dummy for every name it defines."""

    def __init__(self, types: dict, names: NameGen, line=None):
        self.stmts = []
        self.types = types
        self.names = names
        self.hint = "t"
        self.line = line
        self.mark = 0  # statements before this index are not the current rule's own
        self.check_types = False  # refuse a variable whose rank or dtype changes (user code)
        self.filename = None
        self.declared = {}  # the inferred types, for names read before this code assigns them

    def emit(self, op, args, kwargs=None, target=None) -> Sym:
        kwargs = kwargs or {}
        atoms = [self.atom(a) for a in args]
        katoms = {k: self.atom(v) for k, v in kwargs.items()}
        dummy = abstract_eval(op, [self.dummy_of(a) for a in atoms], {k: self.dummy_of(v) for k, v in katoms.items()})
        target = target or self.names.fresh(self.hint)
        if self.check_types and target in self.types and _type_key(self.types[target]) != _type_key(dummy):
            from ..errors import UnsupportedError, where

            raise UnsupportedError(
                f"{where(self.filename, self.line)}: {target!r} is {describe(dummy)} here but "
                f"{describe(self.types[target])} elsewhere: s2sad (like Numba) gives each variable one "
                "rank and dtype; use two names"
            )
        if self.check_types and target in self.types:
            dummy = _unify_scalars(self.types[target], dummy)
        self.stmts.append(Assign(target, op, atoms, katoms, line=self.line))
        self.types[target] = dummy
        return Sym(target, dummy)

    def append(self, stmt):
        self.stmts.append(stmt)

    def atom(self, value):
        if isinstance(value, Sym):
            return Var(value.name)
        if isinstance(value, (Var, Const, SliceAtom)):
            return value
        if isinstance(value, slice):
            return SliceAtom(*(None if v is None else self.atom(v) for v in (value.start, value.stop, value.step)))
        if isinstance(value, (tuple, list)):
            if any(_has_sym(v) for v in value):
                return Var(self.emit(TUPLE, list(value)).name)
            return Const(tuple(value))
        if isinstance(value, (np.dtype, type)) or value is None or isinstance(value, (bool, int, float, str)):
            return Const(value)
        if isinstance(value, np.generic):
            return Const(value.item())
        if value is Ellipsis:
            return Const(Ellipsis)
        raise S2SADError(f"cannot emit a constant of type {type(value).__name__} in generated code")

    def dummy_of(self, atom):
        if isinstance(atom, Var):
            if atom.name not in self.types:
                if atom.name in self.declared:  # assigned by an earlier loop trip
                    return self.declared[atom.name]
                from ..errors import UnsupportedError, where

                raise UnsupportedError(
                    f"{where(self.filename, self.line)}: {atom.name!r} is read before it is assigned"
                )
            return self.types[atom.name]
        if isinstance(atom, SliceAtom):
            return slice(*(None if a is None else self.dummy_of(a) for a in (atom.lower, atom.upper, atom.step)))
        return atom.value

    def sym(self, name) -> Sym:
        return Sym(name, self.dummy_of(Var(name)))


def _has_sym(v):
    if isinstance(v, Sym):
        return True
    if isinstance(v, (tuple, list)):
        return any(_has_sym(x) for x in v)
    return False


class _BuilderStack(threading.local):
    """The builders rules emit into, innermost last: one stack per thread, so threads that
    transform functions at the same time never emit into each other's code."""

    def __init__(self):
        self.stack: list[Builder] = []


_BUILDERS = _BuilderStack()


def innermost():
    """The builder rules emit into now, or None."""
    stack = _BUILDERS.stack
    return stack[-1] if stack else None


@contextmanager
def building(builder: Builder, hint: str | None = None):
    old_hint = builder.hint
    if hint:
        builder.hint = hint
    _BUILDERS.stack.append(builder)
    try:
        yield builder
    finally:
        _BUILDERS.stack.pop()
        builder.hint = old_hint


def current() -> Builder:
    builder = innermost()
    if builder is None:
        raise S2SADError("internal: a symbolic value was used outside a builder")
    return builder


def emit(op, *args, **kwargs) -> Sym:
    return current().emit(op, args, kwargs)


def call(op, *args, **kwargs):
    """``op(*args)``, emitted if any operand is symbolic: for the NumPy functions that do not
    dispatch on their arguments (``np.zeros``, ``np.eye``, ``np.ascontiguousarray`` ...)."""
    if _has_sym(args) or _has_sym(tuple(kwargs.values())):
        return emit(op, *args, **kwargs)
    return op(*args, **kwargs)


# --- symbolic values ---------------------------------------------------------------------


def _binary(op, swap=False):
    def method(self, other):
        return emit(op, other, self) if swap else emit(op, self, other)

    return method


class Sym:
    """A value of the generated code, seen by a rule: a name with a known rank and dtype."""

    __array_priority__ = 1000

    def __init__(self, name, dummy):
        self.name = name
        self.dummy = dummy

    def __repr__(self):
        return f"Sym({self.name}: {describe(self.dummy)})"

    # static facts
    @property
    def ndim(self):
        return np.ndim(self.dummy) if not isinstance(self.dummy, tuple) else None

    @property
    def dtype(self):
        return np.asarray(self.dummy).dtype

    @property
    def is_tuple(self):
        return isinstance(self.dummy, tuple)

    def __len__(self):
        if isinstance(self.dummy, tuple):
            return len(self.dummy)
        raise S2SADError("len() of a symbolic array is not static; use x.shape[0]")

    def __iter__(self):
        if isinstance(self.dummy, tuple):
            return iter([self[i] for i in range(len(self.dummy))])
        raise S2SADError("cannot iterate over a symbolic array in a rule")

    def __bool__(self):
        raise S2SADError("a derivative rule branched on a runtime value; rules may branch on ranks only")

    # NumPy protocols: every NumPy function and ufunc called on a Sym is emitted
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__":
            return NotImplemented
        return emit(ufunc, *inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return emit(func, *args, **kwargs)

    # operators
    def __add__(self, other):
        return emit(operator.add if self.is_tuple else np.add, self, other)

    def __radd__(self, other):
        return emit(operator.add if self.is_tuple else np.add, other, self)

    __sub__ = _binary(np.subtract)
    __rsub__ = _binary(np.subtract, swap=True)

    def __mul__(self, other):
        return self if _is_one(other) else emit(np.multiply, self, other)

    def __rmul__(self, other):
        return self if _is_one(other) else emit(np.multiply, other, self)

    __truediv__ = _binary(np.true_divide)
    __rtruediv__ = _binary(np.true_divide, swap=True)

    def __pow__(self, other):
        return self if _is_one(other) else emit(np.power, self, other)

    __rpow__ = _binary(np.power, swap=True)
    __matmul__ = _binary(np.matmul)
    __rmatmul__ = _binary(np.matmul, swap=True)
    __lt__ = _binary(np.less)
    __le__ = _binary(np.less_equal)
    __gt__ = _binary(np.greater)
    __ge__ = _binary(np.greater_equal)

    def __neg__(self):
        return emit(np.negative, self)

    # comparisons and logic emit NumPy ops (never Python's identity comparison)
    def __eq__(self, other):
        return emit(np.equal, self, other)

    def __ne__(self, other):
        return emit(np.not_equal, self, other)

    __hash__ = object.__hash__
    __and__ = _binary(np.logical_and)
    __rand__ = _binary(np.logical_and, swap=True)
    __or__ = _binary(np.logical_or)
    __ror__ = _binary(np.logical_or, swap=True)

    def __invert__(self):
        return emit(np.logical_not, self)

    def __getitem__(self, index):
        index = index if isinstance(index, tuple) else (index,)
        return emit(GETITEM, self, *index)

    # attributes and methods (the same spellings a user writes)
    @property
    def shape(self):
        if not isinstance(self.dummy, np.ndarray):
            return ()
        return emit(np.shape, self)

    @property
    def size(self):
        return emit(np.size, self)

    @property
    def T(self):
        return emit(np.transpose, self)

    def sum(self, axis=None):
        return emit(np.sum, self, axis=axis) if axis is not None else emit(np.sum, self)

    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 else shape
        return emit(np.reshape, self, shape)


def _is_one(value):
    """A constant 1 (the identity of * and **): rules write ``b * a ** (b - 1.0)`` once."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 1


def copy_to(target: str, value) -> Sym:
    """Bind ``value`` to the name ``target``: renames the statement that made it if it is the
    builder's last one (so the generated code reads ``y_dot = ...``), else emits a copy."""
    b = current()
    fresh = len(b.stmts) > b.mark
    if (
        isinstance(value, Sym)
        and fresh
        and b.stmts
        and isinstance(b.stmts[-1], Assign)
        and b.stmts[-1].target == value.name
    ):
        stmt = b.stmts[-1]
        # the old name keeps its type: an earlier statement may assign it too (an adjoint
        # accumulated in place, `q_bar = q_bar + c`, then renamed); without it, that
        # statement's value was taken for a constant when the code is differentiated again
        b.types[target] = b.types[stmt.target]
        b.names.taken.add(target)
        stmt.target = target
        return Sym(target, b.types[target])
    return b.emit(COPY, [value], target=target)
