"""Helpers the generated code calls (as ``rt.name``): NumPy implementations.

Each helper is a *primitive*: called with symbolic operands (inside a rule) it emits a call
into the generated code instead of running; it has derivative rules of its own (in
rules/numpy_rules.py), so derivative code stays differentiable; and backends.py gives it a
Numba implementation. Semantics are rank-generic: "leading axes" are the seed-batch axes a
derivative adds in front of a primal's shape.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from .ad import trace
from .errors import SizeRefusal, StructureMiss


def primitive(fn):
    """Mark ``fn`` as an op of the generated code (emitted when called on symbols)."""

    @functools.wraps(fn)
    def op(*args, **kwargs):
        if trace._has_sym(args) or trace._has_sym(tuple(kwargs.values())):
            return trace.emit(op, *args, **kwargs)
        return fn(*args, **kwargs)

    op.s2sad_primitive = True
    op.abstract_eval = fn
    op.impl = fn
    return op


@primitive
def astype(x, dtype):
    """``x.astype(dtype)`` for arrays and scalars."""
    return np.asarray(x).astype(dtype) if np.ndim(x) else np.dtype(dtype).type(x)


@primitive
def sum_to(g, x):
    """Sum ``g`` over the trailing axes where ``x`` has size 1 (undo broadcasting onto x)."""
    lead = g.ndim - np.ndim(x)
    axes = tuple(lead + k for k, n in enumerate(np.shape(x)) if n == 1 and g.shape[lead + k] != 1)
    return np.sum(g, axis=axes, keepdims=True) if axes else g


@primitive
def broadcast_like(t, g):
    """Broadcast the trailing ``g.ndim`` axes of ``t`` to ``g.shape``; leading axes kept."""
    lead = np.ndim(t) - np.ndim(g)
    return np.broadcast_to(t, np.shape(t)[:lead] + np.shape(g))


def _full_index(lead, index):
    return (slice(None),) * lead + tuple(index)


@primitive
def scatter(ct, x, *index):
    """Adjoint of ``x[index]``: zeros shaped like ``x`` (plus ct's leading axes) with ``ct``
    added at ``index`` (repeated indices accumulate)."""
    y_ndim = np.ndim(np.asarray(x)[tuple(index)]) if index else np.ndim(x)
    lead = np.ndim(ct) - y_ndim
    out = np.zeros(np.shape(ct)[:lead] + np.shape(x), dtype=np.result_type(ct))
    return _add_at(out, ct, x, lead, index)


@primitive
def scatter_add(acc, ct, x, *index):
    """``acc`` (shaped like ``x`` plus ct's leading axes) with ``ct`` added at ``index``, in
    place; returns ``acc``. Reverse mode's accumulator for ``x[i]`` read in a loop: one
    array for the whole loop instead of a new ``x``-sized array per trip."""
    return _add_at(acc, ct, x, np.ndim(acc) - np.ndim(x), index)


def _add_at(out, ct, x, lead, index):
    # the axes None inserted have size 1: drop them by a reshape (order is kept)
    keep = [i for i in index if i is not None]
    gathered = np.asarray(x)[tuple(keep)] if keep else np.asarray(x)
    ct = np.reshape(ct, np.shape(ct)[:lead] + gathered.shape)
    front = _advanced_front(keep) if lead else 0
    if front:
        # index arrays apart put their axes first, before the lead (seed) axes, in
        # out[lead slices + index]: ct's lead axes go after them
        ct = np.moveaxis(ct, list(range(lead)), list(range(front, front + lead)))
    np.add.at(out, _full_index(lead, keep), ct)
    return out


def _advanced_front(index):
    """The rank of the broadcast index arrays where NumPy puts their axes first (advanced
    indices not side by side), else 0."""
    arrays = [k for k, i in enumerate(index) if np.ndim(i) > 0 and not isinstance(i, slice)]
    if not arrays:
        return 0
    advanced = [k for k, i in enumerate(index) if not isinstance(i, slice) and i is not Ellipsis]
    if advanced[-1] - advanced[0] + 1 == len(advanced):
        return 0
    return max(np.ndim(index[k]) for k in arrays)


def float_dtype(x):
    """x's float dtype (float64 for a Python float, which NumPy 2 treats as a weak scalar)."""
    dtype = np.asarray(x).dtype
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def memory_bytes() -> int:
    """This machine's physical memory (the bound for one dense seed or Jacobian block)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 40


MEMORY_BYTES = memory_bytes()
TOO_LARGE = (
    "s2sad: this dense Jacobian needs more memory than the machine has; "
    "use jvp, vjp or hvp (one direction at a time) instead"
)


def check_dense(rows, cols, itemsize=8):
    """Refuse, before allocating, a dense ``rows x cols`` seed block that cannot fit."""
    need = rows * cols * itemsize
    if need > MEMORY_BYTES:
        raise MemoryError(
            f"{TOO_LARGE} (a {rows} x {cols} block is {need / 2**30:.1f} GiB, "
            f"the machine has {MEMORY_BYTES / 2**30:.1f} GiB)"
        )


@primitive
def basis(x):
    """The standard basis of x's space as a batch of seeds: shape ``(x.size,) + x.shape``."""
    n = np.size(x)
    check_dense(n, n)
    return np.eye(n, dtype=float_dtype(x)).reshape((n,) + np.shape(x))


@primitive
def seed(x, offset, total):
    """Rows ``offset .. offset + x.size`` of the identity of size ``total``, shaped as seeds
    for ``x``: shape ``(total,) + x.shape`` (several arguments share one sweep)."""
    n = np.size(x)
    check_dense(total, n)
    out = np.zeros((total, n), dtype=float_dtype(x))
    for k in range(n):
        out[offset + k, k] = 1.0
    return out.reshape((total,) + np.shape(x))


@primitive
def zeros_batch(like, x):
    """Zeros of shape ``like.shape[:1] + x.shape`` (a zero tangent made explicit). A scalar
    ``like`` means one seed with scalar derivatives of scalars (``one``): then zeros of shape
    ``(1,) + x.shape`` for an array ``x``, a zero scalar for a scalar."""
    if np.ndim(like) == 0:
        dtype = np.result_type(like)
        return np.zeros((1,) + np.shape(x), dtype=dtype) if np.ndim(x) else dtype.type(0)
    return np.zeros(np.shape(like)[:1] + np.shape(x), dtype=np.result_type(like))


@primitive
def new_tape(n, like):
    """A preallocated tape of ``n`` scalars of like's type: reverse mode stores a loop's
    per-trip scalars there when the trip count is known before the loop."""
    return np.full(n, like)


@primitive
def reserve(tape, n):
    """``tape`` (a 1-D float array) if it holds ``n`` values, else a copy twice as long:
    the growable tape that scalarized stacks share (scalarize.py)."""
    if n <= tape.shape[0]:
        return tape
    out = np.empty(max(2 * tape.shape[0], n), tape.dtype)
    out[: tape.shape[0]] = tape
    return out


@primitive
def check_diag(n):
    """Guard of structure.py: identity seeds are kept diagonal only for more than one seed
    (a 1 x 1 identity broadcasts like any other size-1 axis)."""
    if n == 1:
        raise StructureMiss(STRUCTURE_MISS)
    return 0


@primitive
def check_no_unit_dims(x):
    """Guard of structure.py: ``x`` has no axis of length 1, so ``sum_to``/``broadcast_like``
    against it (or of it) change nothing."""
    if 1 in np.shape(x):
        raise StructureMiss(STRUCTURE_MISS)
    return 0


@primitive
def require_size(size, n, message):
    """Guard of a composite whose result's rank would depend on a size (np.cross of
    2-vectors): ``size == n``, else the refusal ``message`` (a constant naming the user's
    file:line), raised by the generated code before it computes anything from the operand."""
    if size != n:
        raise SizeRefusal(message)
    return 0


@primitive
def require_at_least(size, n, message):
    """Guard of a composite whose slices need ``size >= n`` (np.pad mode='reflect'): else the
    refusal ``message``, before anything is computed from the operand."""
    if size < n:
        raise SizeRefusal(message)
    return 0


@primitive
def require_unit_axes(x, axes, message):
    """Guard of np.squeeze without axis (composite_rules.squeeze): the size-1 axes of ``x``
    are exactly ``axes``, those the code was built to squeeze; else the refusal ``message``."""
    if tuple(k for k, n in enumerate(np.shape(x)) if n == 1) != tuple(axes):
        raise SizeRefusal(message)
    return 0


STRUCTURE_MISS = "s2sad: a size-1 axis meets structured seeds; recompiling without them"
check_diag.abstract_eval = lambda n: 0
check_no_unit_dims.abstract_eval = lambda x: 0
require_size.abstract_eval = lambda size, n, message: 0
require_unit_axes.abstract_eval = lambda x, axes, message: 0
require_at_least.abstract_eval = lambda size, n, message: 0
GUARDS = (check_diag, check_no_unit_dims, require_size, require_at_least, require_unit_axes)


@primitive
def one(x):
    """1 in x's float dtype: the seed of a scalar output when there is one seed (grad, vjp,
    jvp, hvp). Then derivatives of scalars are scalars, not arrays of one element."""
    return float_dtype(x).type(1)


@primitive
def cumsum_rows(t):
    """Cumulative sum along the last axis, for every leading index."""
    return np.cumsum(t, axis=-1)


@primitive
def add_batch_axis(t):
    """``t`` with a leading seed axis of length 1."""
    return np.asarray(t)[None]


@primitive
def bmatmul(a, b):
    """``a @ b`` for stacks of matrices (both at least 2-D), broadcasting leading axes."""
    return np.matmul(a, b)


@primitive
def prod_others(x):
    """For each element, the product of all the *other* elements of ``x`` (no division)."""
    flat = np.ravel(x)
    left = np.concatenate((np.ones(1, flat.dtype), np.cumprod(flat)[:-1]))
    right = np.concatenate((np.cumprod(flat[::-1])[:-1][::-1], np.ones(1, flat.dtype)))
    return (left * right).reshape(np.shape(x))


@primitive
def linear_scan(a, b, reverse=False):
    """The first-order linear recurrence along the last axis, without division:
    ``z[..., k] = a[..., k] * z[..., k - 1] + b[..., k]`` from ``z[..., 0] = b[..., 0]``
    (``a[..., 0]`` is not read), or with ``reverse``
    ``z[..., k] = a[..., k + 1] * z[..., k + 1] + b[..., k]`` from the last element
    (``z[..., -1] = b[..., -1]``). ``a`` broadcasts against ``b``, whose shape is the result's.
    np.cumprod is ``linear_scan(x, x at 0 and 0 elsewhere)``; the recurrence's derivatives
    are recurrences of the same kind (rules/numpy_rules.py), so every order is division-free
    (a zero in the input gives no nan)."""
    b = np.asarray(b)
    a = np.broadcast_to(a, b.shape)
    out = np.empty(b.shape, np.result_type(a, b))
    n = b.shape[-1] if b.ndim else 0
    order = range(n - 1, -1, -1) if reverse else range(n)
    previous = None
    for k in order:
        if previous is None:
            out[..., k] = b[..., k]
        else:
            out[..., k] = a[..., previous if reverse else k] * out[..., previous] + b[..., k]
        previous = k
    return out


@primitive
def scale_nz(g, p):
    """``g * p`` with 0 where ``g`` is 0, even where ``p`` is inf or nan: the adjoint of an op
    whose derivative is singular somewhere (sqrt, log, divide ...). A cotangent that is
    exactly zero (the branch np.where did not select) contributes nothing."""
    with np.errstate(invalid="ignore"):
        out = np.where(np.equal(g, 0), 0, np.multiply(g, p))
    return out.astype(np.result_type(g, p), copy=False) if out.ndim else np.result_type(g, p).type(out[()])


def product_form(name, ra, rb):
    """How ``np.dot`` / ``np.inner`` / ``np.matmul`` (``name``) of operands of ranks ``ra``,
    ``rb`` (both >= 1) is one stacked matmul: ``bmatmul(a[pre_a], b[pre_b])[post]``, where
    ``pre`` inserts size-1 axes at the given positions and ``post`` takes element 0 of the
    result's size-1 axes at the given positions (all counted from the end, negative).
    Returns (positions for a, for b, for the result). Rules (derivatives) and the numba
    kernel (kernels.product) both read it."""
    if name == "matmul":
        if ra == 1 and rb == 1:
            return (-2,), (-1,), (-2, -1)
        if ra == 1:
            return (-2,), (), (-2,)
        if rb == 1:
            return (), (-1,), (-1,)
        return (), (), ()
    if rb == 1:  # np.dot and np.inner with a vector b: a sum over the last axes
        return ((-2,) if ra == 1 else ()), (-1,), ((-2, -1) if ra == 1 else (-1,))
    if name == "dot":
        if rb == 2 and ra >= 2:
            return (), (), ()  # matmul's stacks of a against the one matrix b
        # a[i..., n] b[j..., n, k]: a as (i..., 1 (one per j axis), 1, n)
        return tuple(range(-2 - (rb - 2), -1)), (), (-2,)
    # np.inner: a[i..., n] b[j..., n]: a as (i..., 1 (one per j axis), 1, n), b as (j..., n, 1)
    return tuple(range(-2 - (rb - 1), -1)), (-1,), (-2, -1)


def insert_index(ndim, positions):
    """The index of a rank-``ndim`` array that inserts new axes at ``positions`` (negative,
    counted from the end of the result), e.g. (-2,) gives ``x[:, None, :]`` for a 2-D x."""
    out_ndim = ndim + len(positions)
    new = {out_ndim + p for p in positions}
    return tuple(None if k in new else slice(None) for k in range(out_ndim))


def drop_index(ndim, positions):
    """The index of a rank-``ndim`` array taking element 0 of the axes at ``positions``."""
    dropped = {ndim + p for p in positions}
    return tuple(0 if k in dropped else slice(None) for k in range(ndim))


@primitive
def argpartition(x, kth):
    """``np.argpartition(x, kth)`` along the last axis: NumPy's own arrangement on every
    backend (Numba's partition orders each side differently, and the derivative of
    np.partition must follow the values NumPy puts where, composite np.partition)."""
    return np.argpartition(x, kth, axis=-1)


RUNTIME_PRIMITIVES = [
    astype,
    sum_to,
    broadcast_like,
    scatter,
    scatter_add,
    basis,
    seed,
    zeros_batch,
    one,
    new_tape,
    reserve,
    check_diag,
    check_no_unit_dims,
    require_size,
    require_at_least,
    require_unit_axes,
    cumsum_rows,
    add_batch_axis,
    bmatmul,
    prod_others,
    scale_nz,
    linear_scan,
    argpartition,
]


def _scatter_type(ct, x, *index):
    from .ad.trace import _getitem, dummy_array

    gathered = _getitem(x, *index) if index else x
    return dummy_array(np.ndim(ct) - np.ndim(gathered) + np.ndim(x), np.result_type(ct))


scatter.abstract_eval = _scatter_type
# the accumulator is the result (typing by running it on dummies would slice them by dummy
# indices: x[i:i + 2] of a dummy is not the dummy of a slice)
scatter_add.abstract_eval = lambda acc, ct, x, *index: acc
