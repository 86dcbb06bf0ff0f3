"""NumPy's shape and construction functions, defined by composition (``@composite``).

Each definition runs at trace time on symbolic operands (ranks, dtypes and constant
keywords known; sizes NOT known: they are read at run time with ``x.shape``), and emits
only ops that have derivative rules and a Numba form: basic and integer-array indexing,
np.concatenate, np.stack, np.reshape, np.transpose, np.where with masks computed from
np.arange, np.matmul. Forward mode, reverse mode, second order and the numba backend follow.

Sizes that decide a result's RANK (np.squeeze without axis, np.cross of 2-vectors) cannot
be read at run time: the type of every variable is fixed when the code is built. A function
that calls those is built per shape of its arguments (s2sad/analysis/sizes.py), and the generated
code checks that the sizes it was built for hold.
"""

import numpy as np

from .. import runtime as rt
from ..ad.trace import ABSTRACT_EVAL, Sym, call, dummy_array, emit, exact_sizes_on, innermost
from ..errors import UnsupportedError
from ..ir import TUPLE
from .composite_rules import constant, ndim, symbolic
from .tables import INTERNAL, composite, constant_operands, linear_ops

# np.argsort reads its operand only for the order of its values: an integer index, constant
# almost everywhere (the gathers that use it carry the derivative)
constant_operands(np.argsort, 0)
constant_operands(rt.argpartition, 0)


def shape_composite(*ops):
    """``@composite`` for calls with a symbolic operand (calls on constants stay NumPy's)."""

    def register(definition):
        def run(*args, **kwargs):
            if not symbolic(*args, *kwargs.values()):
                return NotImplemented
            return definition(*args, **kwargs)

        run.__name__ = definition.__name__
        composite(*ops)(run)
        return definition

    return register


def lift(value):
    """An array operand as a value of the generated code: a literal sequence of numbers
    (``np.append(x, [1.0, 2.0])``) becomes ``np.array((1.0, 2.0))``; numbers stay numbers."""
    if isinstance(value, Sym):
        return emit(np.array, value) if value.is_tuple else value
    if isinstance(value, (tuple, list, np.ndarray)):
        return emit(np.array, _nested(np.asarray(value).tolist()))
    return value


def _nested(v):
    return tuple(_nested(x) for x in v) if isinstance(v, list) else v


def parts(seq):
    """The elements of a sequence operand (a tuple value, or a constant sequence)."""
    if isinstance(seq, Sym):
        if not seq.is_tuple:
            raise UnsupportedError("expected a sequence (tuple or list) of arrays")
    return [lift(p) for p in seq]


def as_tuple(values):
    """A tuple value of the generated code (a function that returns a list or tuple)."""
    return emit(TUPLE, *values)


def full(shape, value, dtype=None):
    """np.full emitted even for constant operands."""
    return emit(np.full, shape, value, dtype=dtype) if dtype is not None else emit(np.full, shape, value)


def arange(n):
    return call(np.arange, n) if isinstance(n, Sym) else emit(np.arange, n)


def contiguous(x):
    return call(np.ascontiguousarray, x)


def product(items):
    out = 1
    for s in items:
        out = s if isinstance(out, int) and out == 1 else out * s
    return out


def sizes(x):
    """The sizes of x's axes, read at run time (a list of int values)."""
    if ndim(x) == 0:
        return []
    s = np.shape(x) if isinstance(x, Sym) else None
    return [s[k] for k in range(ndim(x))]


def take(x, axis, index):
    """``x[..., index, ...]`` with ``index`` at ``axis``."""
    return x[(slice(None),) * axis + (index,)]


def transpose(x, perm):
    perm = tuple(perm)
    return x if perm == tuple(range(len(perm))) else np.transpose(x, perm)


def move_to(x, source, destination):
    n = ndim(x)
    order = [k for k in range(n) if k != source]
    order.insert(destination, source)
    return transpose(x, order)


def normalize_axis(axis, n, name="axis"):
    axis = constant(axis, name)
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise UnsupportedError(f"{name} must be an int")
    if not -n <= axis < n:
        raise UnsupportedError(f"{name} {axis} is out of bounds for an array of rank {n}")
    return int(axis) % n


def axis_list(axis, n, name="axis"):
    axis = constant(axis, name)
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = [normalize_axis(a, n, name) for a in items]
    if len(set(out)) != len(out):
        raise UnsupportedError(f"repeated {name} in {axis}")
    return out


# --- joining ------------------------------------------------------------------------------


def at_least(x, n):
    r = ndim(x)
    if r >= n:
        return x
    if r == 0:
        return full((1,) * n, x)
    if n == 2:
        return x[None, :]
    return x[None, :, None] if r == 1 else x[:, :, None]


def _at_least_definition(n):
    def definition(*arys):
        out = [at_least(a, n) for a in arys]
        return out[0] if len(out) == 1 else as_tuple(out)

    return definition


for _n, _op in ((1, np.atleast_1d), (2, np.atleast_2d), (3, np.atleast_3d)):
    shape_composite(_op)(_at_least_definition(_n))


def _joined(arrays, axis):
    items = parts(arrays)
    if not items:
        raise UnsupportedError("need at least one array to join")
    return np.concatenate(tuple(items), axis=axis)  # (a new array, for one item too)


@shape_composite(np.hstack)
def hstack(tup, dtype=None, casting="same_kind"):
    items = [at_least(a, 1) for a in parts(tup)]
    return _joined(tuple(items), 0 if all(ndim(a) == 1 for a in items) else 1)


@shape_composite(np.vstack, *((np.row_stack,) if hasattr(np, "row_stack") else ()))
def vstack(tup, dtype=None, casting="same_kind"):
    return _joined(tuple(at_least(a, 2) for a in parts(tup)), 0)


@shape_composite(np.dstack)
def dstack(tup):
    return _joined(tuple(at_least(a, 3) for a in parts(tup)), 2)


@shape_composite(np.column_stack)
def column_stack(tup):
    items = []
    for a in parts(tup):
        items.append(at_least(a, 1)[:, None] if ndim(a) < 2 else a)
    return _joined(tuple(items), 1)


@shape_composite(np.append)
def append(arr, values, axis=None):
    axis = constant(axis, "axis")
    arr, values = lift(arr), lift(values)
    if axis is None:
        flat = [full((1,), v) if ndim(v) == 0 else (np.ravel(v) if ndim(v) > 1 else v) for v in (arr, values)]
        return np.concatenate(tuple(flat))
    return np.concatenate((arr, values), axis=axis)


# --- axes -----------------------------------------------------------------------------------


@shape_composite(np.moveaxis)
def moveaxis(a, source, destination):
    n = ndim(a)
    src, dst = axis_list(source, n, "source"), axis_list(destination, n, "destination")
    if len(src) != len(dst):
        raise UnsupportedError("source and destination must have the same number of axes")
    order = [k for k in range(n) if k not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(a, order)


@shape_composite(np.rollaxis)
def rollaxis(a, axis, start=0):
    n = ndim(a)
    axis = normalize_axis(axis, n)
    start = constant(start, "start")
    if not -n <= start <= n:
        raise UnsupportedError(f"start {start} is out of bounds for an array of rank {n}")
    start = start + n if start < 0 else start
    if axis < start:
        start -= 1
    if axis == start:
        return a
    order = [k for k in range(n) if k != axis]
    order.insert(start, axis)
    return transpose(a, order)


# --- reversing and rotating --------------------------------------------------------------


def _flip(m, axes):
    if not axes:
        return m
    index = [slice(None)] * ndim(m)
    for a in axes:
        index[a] = slice(None, None, -1)
    return m[tuple(index)]


@shape_composite(np.flip)
def flip(m, axis=None):
    n = ndim(m)
    axes = list(range(n)) if constant(axis, "axis") is None else axis_list(axis, n)
    return _flip(m, axes)


@shape_composite(np.fliplr)
def fliplr(m):
    if ndim(m) < 2:
        raise UnsupportedError("np.fliplr needs an array of rank 2 or more")
    return _flip(m, [1])


@shape_composite(np.flipud)
def flipud(m):
    if ndim(m) < 1:
        raise UnsupportedError("np.flipud needs an array of rank 1 or more")
    return _flip(m, [0])


@shape_composite(np.rot90)
def rot90(m, k=1, axes=(0, 1)):
    n = ndim(m)
    k = constant(k, "k")
    if len(constant(axes, "axes")) != 2:
        raise UnsupportedError("np.rot90: axes must be two axes")
    a0, a1 = axis_list(axes, n, "axes")
    k %= 4
    if k == 0:
        return m
    if k == 2:
        return _flip(m, [a0, a1])
    perm = list(range(n))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    if k == 1:
        return transpose(_flip(m, [a1]), perm)
    return _flip(transpose(m, perm), [a1])


@shape_composite(np.roll)
def roll(a, shift, axis=None):
    n = ndim(a)
    if isinstance(shift, Sym) and shift.ndim != 0:
        raise UnsupportedError("np.roll: shift must be an int or a constant tuple of ints")
    if constant(axis, "axis") is None:
        if n == 0:
            return a  # (a number: nothing to alias)
        flat = np.ravel(a) if n > 1 else a
        shifts = shift if isinstance(shift, Sym) else int(np.sum(constant(shift, "shift")))
        rolled = _roll1(flat, shifts, 0)
        return np.reshape(rolled, np.shape(a)) if n > 1 else rolled
    axes = axis_list(axis, n)
    shifts = [shift] if isinstance(shift, Sym) else list(np.atleast_1d(constant(shift, "shift")))
    if len(shifts) == 1:
        shifts = shifts * len(axes)
    if len(axes) == 1 and len(shifts) > 1:
        axes = axes * len(shifts)
    if len(shifts) != len(axes):
        raise UnsupportedError("np.roll: shift and axis must have the same length")
    y = a
    for s, ax in zip(shifts, axes):
        y = _roll1(y, s if isinstance(s, Sym) else int(s), ax)
    return np.copy(y) if y is a else y


def _roll1(y, shift, axis):
    """``np.roll(y, shift, axis)``: the last ``shift % n`` entries first (n read at run time)."""
    if isinstance(shift, (int, np.integer)) and shift == 0:
        return y
    size = np.shape(y)[axis]
    cut = size - np.remainder(shift, size)
    return np.concatenate((take(y, axis, slice(cut, None)), take(y, axis, slice(None, cut))), axis=axis)


# --- repeating and padding ----------------------------------------------------------------


@shape_composite(np.repeat)
def repeat(a, repeats, axis=None):
    repeats = constant(repeats, "repeats")
    axis = constant(axis, "axis")
    if axis is None:
        a = full((1,), a) if ndim(a) == 0 else (np.ravel(a) if ndim(a) > 1 else a)
        axis = 0
    else:
        axis = normalize_axis(axis, ndim(a))
    if isinstance(repeats, (int, np.integer)) and not isinstance(repeats, bool):
        r = int(repeats)
        if r < 0:
            raise UnsupportedError("np.repeat: negative repeats")
        index = np.floor_divide(arange(np.shape(a)[axis] * r), r) if r else arange(0)
    else:
        counts = np.asarray(repeats)
        if counts.ndim != 1 or counts.dtype.kind not in "iu":
            raise UnsupportedError("np.repeat: repeats must be an int or a constant sequence of ints")
        index = emit(np.array, tuple(int(i) for i in np.repeat(np.arange(len(counts)), counts)))
        # one count per entry: read through a reshape that raises ValueError at run time, as
        # NumPy does, when the axis does not have len(repeats) entries
        index = exactly(np.shape(a)[axis], len(counts))[index]
    return take(a, axis, index)


def require_size(size, n, what):
    """The refusal of ``what`` unless ``size == n``."""
    _size_guard(size, n, what, exact=True)


def require_at_least(size, n, what):
    """The refusal of ``what`` unless ``size >= n``."""
    _size_guard(size, n, what, exact=False)


def _size_guard(size, n, what, exact):
    """Checked now for a constant size, else by the generated code (``rt.require_size`` /
    ``rt.require_at_least``: guards simplify keeps), before anything is computed from it; the
    refusal names the user's line."""
    from .. import runtime as rt
    from ..errors import where

    builder = innermost()
    message = f"{where(getattr(builder, 'filename', None), getattr(builder, 'line', None))}: {what}"
    if isinstance(size, Sym):
        (rt.require_size if exact else rt.require_at_least)(size, n, message)
    elif size != n if exact else size < n:
        raise UnsupportedError(message)


def exactly(size, n):
    """``np.arange(size)``, through a reshape to ``(n,)``: ValueError at run time (as NumPy
    raises for these functions) unless ``size == n``."""
    return np.reshape(arange(size), (n,))


@shape_composite(np.tile)
def tile(A, reps):
    reps = constant(reps, "reps")
    reps = (int(reps),) if isinstance(reps, (int, np.integer)) else tuple(int(r) for r in reps)
    n = ndim(A)
    d = len(reps)
    if n < d:
        A = full((1,) * d, A) if n == 0 else A[(None,) * (d - n)]
        n = d
    reps = (1,) * (n - d) + reps
    start = A
    for ax, r in enumerate(reps):
        if r == 0:
            A = take(A, ax, slice(0, 0))
        elif r != 1:
            A = np.concatenate((A,) * r, axis=ax)
    return np.copy(A) if A is start else A  # (np.tile returns a new array)


@shape_composite(np.pad)
def pad(array, pad_width, mode="constant", constant_values=0, **kwargs):
    mode = constant(mode, "mode")
    if mode not in ("constant", "edge", "reflect") or kwargs:
        raise UnsupportedError(
            f"np.pad with mode={mode!r}{' and ' + ', '.join(kwargs) if kwargs else ''}: only the modes 'constant', "
            "'edge' and 'reflect' with constant widths are supported; build other paddings with np.concatenate "
            "of slices"
        )
    n = ndim(array)
    if n == 0:
        return array  # (a number: nothing to alias)
    widths = np.asarray(constant(pad_width, "pad_width"))
    if widths.dtype.kind not in "iu" or (widths < 0).any():
        raise UnsupportedError("np.pad: pad_width must be non-negative constant ints")
    widths = np.broadcast_to(widths, (n, 2)).tolist()
    if isinstance(constant_values, Sym):
        if constant_values.ndim != 0:
            raise UnsupportedError("np.pad: a differentiated constant_values must be a scalar")
        values = [[constant_values, constant_values]] * n
    else:
        values = np.broadcast_to(np.asarray(constant_values, dtype=float), (n, 2)).tolist()
    y = array
    for ax in range(n):
        before, after = widths[ax]
        if not before and not after:
            continue
        s = sizes(y)
        pieces = []
        for width, value, edge in ((before, values[ax][0], slice(0, 1)), (after, values[ax][1], slice(-1, None))):
            if not width:
                pieces.append(None)
            elif mode == "edge":  # the first (last) slice along the axis, repeated
                pieces.append(np.concatenate((take(y, ax, edge),) * width, axis=ax) if width > 1 else take(y, ax, edge))
            elif mode == "reflect":  # the slices after the edge, mirrored; NumPy reflects again past the far end
                require_at_least(
                    s[ax],
                    width + 1,
                    f"np.pad mode='reflect' with a width of {width} on an axis "
                    f"shorter than {width + 1}: not supported (NumPy reflects again there)",
                )
                mirrored = slice(width, 0, -1) if edge.start == 0 else slice(-2, -width - 2, -1)
                pieces.append(take(y, ax, mirrored))
            else:
                shape = tuple(width if k == ax else s[k] for k in range(n))
                pieces.append(full(shape, value, dtype=array.dtype))
        joined = [p for p in (pieces[0], y, pieces[1]) if p is not None]
        y = np.concatenate(tuple(joined), axis=ax)
    return np.copy(y) if y is array else y


# --- diagonals and triangles ----------------------------------------------------------------


@shape_composite(np.diagonal)
def diagonal(a, offset=0, axis1=0, axis2=1):
    n = ndim(a)
    if n < 2:
        raise UnsupportedError("np.diagonal needs an array of rank 2 or more")
    offset = int(constant(offset, "offset"))
    a1, a2 = normalize_axis(axis1, n, "axis1"), normalize_axis(axis2, n, "axis2")
    if a1 == a2:
        raise UnsupportedError("np.diagonal: axis1 and axis2 must differ")
    t = transpose(a, [k for k in range(n) if k not in (a1, a2)] + [a1, a2])
    s = sizes(t)
    n1, n2 = s[-2], s[-1]
    if offset >= 0:
        count, start = np.maximum(np.minimum(n1, n2 - offset), 0), offset
    else:
        count, start = np.maximum(np.minimum(n1 + offset, n2), 0), -offset * n2
    # one integer index into the flattened last two axes (Numba takes one index array)
    index = arange(count) * (n2 + 1) + start
    flat = np.reshape(contiguous(t), tuple(s[:-2]) + (n1 * n2,))
    return take(flat, n - 2, index)


@shape_composite(np.diag)
def diag(v, k=0):
    k = int(constant(k, "k"))
    if ndim(v) == 2:
        return diagonal(v, k)
    if ndim(v) != 1:
        raise UnsupportedError("np.diag needs a 1-d or 2-d array")
    if k:
        v = np.concatenate((v, full((abs(k),), 0.0, dtype=v.dtype)))
    i = arange(np.shape(v)[0])
    mask = (i[None, :] - i[:, None]) == k  # column - row == k
    return np.where(mask, v[:, None] if k >= 0 else v[None, :], 0.0)


def _triangle(m, k, lower):
    n = ndim(m)
    if n < 1:
        raise UnsupportedError("np.tril/np.triu need an array of rank 1 or more")
    k = int(constant(k, "k"))
    s = sizes(m)
    rows = arange(s[-2] if n > 1 else s[0])
    cols = arange(s[-1])
    offset = cols[None, :] - rows[:, None]
    mask = offset <= k if lower else offset >= k
    return np.where(mask, m, 0.0)


@shape_composite(np.tril)
def tril(m, k=0):
    return _triangle(m, k, True)


@shape_composite(np.triu)
def triu(m, k=0):
    return _triangle(m, k, False)


# --- products --------------------------------------------------------------------------------


@shape_composite(np.kron)
def kron(a, b):
    a, b = lift(a), lift(b)
    na, nb = ndim(a), ndim(b)
    if na == 0 or nb == 0:
        return a * b
    r = max(na, nb)
    A = a[(None,) * (r - na)] if na < r else a
    B = b[(None,) * (r - nb)] if nb < r else b
    P = A[(slice(None), None) * r] * B[(None, slice(None)) * r]
    sa, sb = sizes(A), sizes(B)
    return np.reshape(contiguous(P), tuple(sa[k] * sb[k] for k in range(r)))


@shape_composite(np.tensordot)
def tensordot(a, b, axes=2):
    axes = constant(axes, "axes")
    a, b = lift(a), lift(b)
    na, nb = ndim(a), ndim(b)
    if isinstance(axes, (int, np.integer)):
        if axes < 0 or axes > min(na, nb):
            raise UnsupportedError(f"np.tensordot: axes={axes} for operands of ranks {na} and {nb}")
        ax_a, ax_b = list(range(na - axes, na)), list(range(axes))
    else:
        if len(axes) != 2:
            raise UnsupportedError("np.tensordot: axes must be an int or a pair of sequences")
        ax_a = [] if na == 0 else axis_list(axes[0], na, "axes")
        ax_b = [] if nb == 0 else axis_list(axes[1], nb, "axes")
        if len(ax_a) != len(ax_b):
            raise UnsupportedError("np.tensordot: the two axis sequences differ in length")
    free_a = [k for k in range(na) if k not in ax_a]
    free_b = [k for k in range(nb) if k not in ax_b]
    if not ax_a:  # an outer product
        return (a[(slice(None),) * na + (None,) * nb] if na and nb else a) * b
    sa, sb = sizes(a), sizes(b)
    At = contiguous(transpose(a, free_a + ax_a))
    Bt = contiguous(transpose(b, ax_b + free_b))
    K = product(sa[k] for k in ax_a)
    A2 = np.reshape(At, (product(sa[k] for k in free_a), K))
    B2 = np.reshape(Bt, (K, product(sb[k] for k in free_b)))
    C = A2 @ B2
    out = tuple(sa[k] for k in free_a) + tuple(sb[k] for k in free_b)
    return np.reshape(C, out) if out else C[0, 0]


@shape_composite(np.einsum)
def einsum(subscripts, *operands, optimize=False):
    if isinstance(subscripts, Sym) and isinstance(subscripts.dummy, str):
        raise UnsupportedError(
            "np.einsum: the subscripts must be a string literal in the call (a constant), not a variable"
        )
    if not isinstance(subscripts, str):
        raise UnsupportedError("np.einsum: only the subscripts-string form is supported (not interleaved sublists)")
    spec = subscripts.replace(" ", "")
    if "." in spec:
        raise UnsupportedError("np.einsum with an ellipsis ('...'): not supported; write the axes out")
    if "->" in spec:
        inputs, output = spec.split("->")
    else:  # implicit mode: the labels that appear once, in alphabetical order
        inputs = spec
        letters = inputs.replace(",", "")
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    inputs = inputs.split(",")
    operands = [lift(x) for x in operands]
    if len(inputs) != len(operands):
        raise UnsupportedError(f"np.einsum: {len(inputs)} operands in {subscripts!r}, {len(operands)} given")
    if not all(c.isalpha() for c in "".join(inputs) + output) or len(set(output)) != len(output):
        raise UnsupportedError(f"np.einsum subscripts {subscripts!r}: not supported")
    if any(c not in "".join(inputs) for c in output):
        raise UnsupportedError(f"np.einsum subscripts {subscripts!r}: an output label not among the inputs")
    terms = []
    for labels, x in zip(inputs, operands):
        if len(labels) != ndim(x):
            raise UnsupportedError(f"np.einsum: {labels!r} for an operand of rank {ndim(x)}")
        labels = list(labels)
        # a repeated label: the diagonal (its axis goes last)
        while len(set(labels)) != len(labels):
            c = next(c for c in labels if labels.count(c) > 1)
            p = labels.index(c)
            q = labels.index(c, p + 1)
            x = diagonal(x, 0, p, q)
            labels = [d for k, d in enumerate(labels) if k not in (p, q)] + [c]
        terms.append((labels, x))
    # labels summed over, in order of appearance
    summed = []
    for labels, _ in terms:
        summed += [c for c in labels if c not in output and c not in summed]
    # a label of one operand only, not in the output: summed before the product
    reduced = []
    for k, (labels, x) in enumerate(terms):
        others = "".join(l for j, (ls, _) in enumerate(terms) if j != k for l in ls)
        alone = [p for p, c in enumerate(labels) if c not in output and c not in others]
        if alone:
            x = _sum_axes(x, alone)
            labels = [c for p, c in enumerate(labels) if p not in alone]
        reduced.append((labels, x))
    if len(reduced) == 2 and all(labels for labels, _ in reduced):
        # two operands: one (stacked) matrix product, never the full broadcast product
        return _contract(reduced[0], reduced[1], list(output))
    order = list(output) + [c for c in summed if any(c in ls for ls, _ in reduced)]
    total = None
    for labels, x in reduced:
        mine = [c for c in order if c in labels]
        x = transpose(x, [labels.index(c) for c in mine]) if len(labels) > 1 else x
        if len(mine) < len(order) and labels:
            x = x[tuple(slice(None) if c in labels else None for c in order)]
        total = x if total is None else total * x
    rest = list(range(len(output), len(order)))
    return _sum_axes(total, rest) if rest else total


def _contract(left, right, output):
    """``einsum`` of two operands whose every label is in the output or in both: the labels
    in both and in the output index a stack, those in both only are contracted, the others
    are the rows and columns of one matrix product."""
    la, a = left
    lb, b = right
    batch = [c for c in output if c in la and c in lb]
    summed = [c for c in la if c in lb and c not in output]
    rows = [c for c in la if c not in lb]
    cols = [c for c in lb if c not in la]
    sa, sb = sizes(a), sizes(b)
    size = {c: sa[k] for k, c in enumerate(la)}
    size.update({c: sb[k] for k, c in enumerate(lb) if c not in size})

    def dims(labels):
        return [size[c] for c in labels]

    lead = (product(dims(batch)),) if batch else ()
    A = np.reshape(
        contiguous(transpose(a, [la.index(c) for c in batch + rows + summed])),
        lead + (product(dims(rows)), product(dims(summed))),
    )
    B = np.reshape(
        contiguous(transpose(b, [lb.index(c) for c in batch + summed + cols])),
        lead + (product(dims(summed)), product(dims(cols))),
    )
    C = A @ B
    labels = batch + rows + cols
    if not labels:
        return C[0, 0]
    C = np.reshape(C, tuple(dims(labels)))
    return transpose(C, [labels.index(c) for c in output])


def _sum_axes(x, axes):
    if len(axes) == ndim(x):
        return np.sum(x)
    for a in sorted(axes, reverse=True):
        x = np.sum(x, axis=a)
    return x


@shape_composite(np.cross)
def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """3-vectors. For 2-vectors (deprecated since NumPy 2.0) NumPy returns the z component,
    a result of another rank, which the arguments' ranks cannot tell: a function that calls
    np.cross is built for its arguments' shapes, and where those show 2-vectors the call is
    ``cross_sized`` (sizes.py). Where they do not, the generated code checks for 3 components
    (``rt.require_size``) and raises the refusal, naming the user's line, for any other
    length before it computes anything. Never a number."""
    return cross_sized(a, b, axisa, axisb, axisc, axis)


def cross_sized(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None, na=3, nb=3):
    """np.cross of vectors with ``na`` and ``nb`` components (2 or 3, checked when the code
    runs): a 2-vector is (x, y, 0), and two 2-vectors give the z component, as NumPy does.
    On symbolic operands (the composite below) it emits the products; on arrays (type
    inference) it is NumPy's result for those lengths."""
    if constant(axis, "axis") is not None:
        axisa = axisb = axisc = axis
    a, b = (lift(a), lift(b)) if symbolic(a, b) else (np.asarray(a), np.asarray(b))
    if ndim(a) < 1 or ndim(b) < 1:
        raise UnsupportedError("np.cross needs arrays of rank 1 or more")
    A = move_to(a, normalize_axis(axisa, ndim(a), "axisa"), ndim(a) - 1)
    B = move_to(b, normalize_axis(axisb, ndim(b), "axisb"), ndim(b) - 1)
    for operand, n in ((A, na), (B, nb)):
        if isinstance(operand, Sym):
            require_size(
                np.shape(operand)[-1],
                n,
                f"np.cross of vectors of length other than {n} (the length the "
                "code was built for; 2-vectors give a result of another rank, deprecated by NumPy 2.0)",
            )
    ca = [take(A, ndim(a) - 1, k) for k in range(na)] + [None] * (3 - na)
    cb = [take(B, ndim(b) - 1, k) for k in range(nb)] + [None] * (3 - nb)

    def times(x, y):
        return None if x is None or y is None else x * y

    def minus(p, q):
        return p if q is None else -q if p is None else p - q

    z = minus(times(ca[0], cb[1]), times(ca[1], cb[0]))
    if na == nb == 2:
        return z
    comps = (minus(times(ca[1], cb[2]), times(ca[2], cb[1])), minus(times(ca[2], cb[0]), times(ca[0], cb[2])), z)
    rank = max(ndim(a), ndim(b))
    if not symbolic(a, b):
        c = np.stack(np.broadcast_arrays(*comps), axis=-1)
    elif rank == 1:
        return emit(np.array, comps)
    else:
        c = np.stack(comps, axis=-1)
    return move_to(c, rank - 1, normalize_axis(axisc, rank, "axisc"))


shape_composite(cross_sized)(cross_sized)
INTERNAL.add(cross_sized)


# --- sorting and selecting --------------------------------------------------------------------


@shape_composite(np.sort)
def sort(a, axis=-1, kind=None, order=None, stable=None):
    if constant(order, "order") is not None:
        raise UnsupportedError("np.sort with order= (structured arrays): not supported")
    axis = constant(axis, "axis")
    if axis is None:
        a = full((1,), a) if ndim(a) == 0 else (np.ravel(a) if ndim(a) > 1 else a)
        axis = 0
    n = ndim(a)
    if n == 0:
        raise UnsupportedError("np.sort of a 0-d value along an axis")
    axis = normalize_axis(axis, n)
    t = move_to(a, axis, n - 1)
    if n == 1:
        return t[np.argsort(t)]
    s = sizes(t)
    rows, length = product(s[:-1]), s[-1]
    flat = np.reshape(contiguous(t), (rows * length,))
    # every row sorted with two 1-d stable sorts (Numba's argsort takes 1-d arrays): by
    # value, then by row; the second keeps the first's order within a row
    by_value = np.argsort(flat, kind="mergesort")
    row_of = np.floor_divide(arange(rows * length), length)
    index = by_value[np.argsort(row_of[by_value], kind="mergesort")]
    y = np.reshape(flat[index], tuple(s))
    return move_to(y, n - 1, axis)


@shape_composite(np.partition)
def partition(a, kth, axis=-1, kind="introselect", order=None):
    """The values where NumPy's np.partition puts them: gathered through NumPy's own
    np.argpartition (``rt.argpartition``, on every backend), so the derivative moves each
    entry's derivative with it, as for np.sort."""
    from .. import runtime as rt

    if constant(order, "order") is not None:
        raise UnsupportedError("np.partition with order= (structured arrays): not supported")
    kth = constant(kth, "kth")
    axis = constant(axis, "axis")
    if axis is None:
        a = full((1,), a) if ndim(a) == 0 else (np.ravel(a) if ndim(a) > 1 else a)
        axis = 0
    n = ndim(a)
    if n == 0:
        raise UnsupportedError("np.partition of a 0-d value along an axis")
    axis = normalize_axis(axis, n)
    kth = tuple(int(k) for k in kth) if isinstance(kth, (tuple, list)) else int(kth)
    t = move_to(a, axis, n - 1)
    index = rt.argpartition(t, kth)
    if n == 1:
        return t[index]
    s = sizes(t)
    rows, length = product(s[:-1]), s[-1]
    flat = np.reshape(contiguous(t), (rows * length,))
    start = np.floor_divide(arange(rows * length), length) * length  # each entry's row start
    y = np.reshape(flat[np.reshape(index, (rows * length,)) + start], tuple(s))
    return move_to(y, n - 1, axis)


@shape_composite(np.select)
def select(condlist, choicelist, default=0):
    conds = parts(condlist)
    if isinstance(choicelist, Sym) and not choicelist.is_tuple:  # a list stacked into an array
        choices = [choicelist[k] for k in range(len(conds))]
    else:
        choices = parts(choicelist)
    if len(conds) != len(choices):
        raise UnsupportedError("np.select: condlist and choicelist differ in length")
    if not conds:
        raise UnsupportedError("np.select of empty lists")
    y = default
    for c, v in reversed(list(zip(conds, choices))):
        if isinstance(c, Sym) and c.dtype.kind != "b":
            raise UnsupportedError("np.select: conditions must be boolean arrays")
        y = np.where(c, v, y)
    return y


@shape_composite(np.take)
def take_(a, indices, axis=None, out=None, mode="raise"):
    if out is not None or constant(mode, "mode") != "raise":
        raise UnsupportedError("np.take with out= or mode= other than 'raise': not supported; index with x[...]")
    indices = lift(indices)
    if isinstance(indices, Sym) and indices.dtype.kind not in "iu":
        raise UnsupportedError("np.take: indices must be integers")
    axis = constant(axis, "axis")
    if axis is None:
        a = full((1,), a) if ndim(a) == 0 else (np.ravel(a) if ndim(a) > 1 else a)
        axis = 0
    return take(a, normalize_axis(axis, ndim(a)), indices)


# --- constructors -----------------------------------------------------------------------------


@shape_composite(np.linspace)
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    num = constant(num, "num")
    if constant(retstep, "retstep"):
        raise UnsupportedError("np.linspace with retstep=True: not supported")
    if dtype is not None and np.dtype(dtype).kind != "f":
        raise UnsupportedError("np.linspace with a differentiated endpoint and a non-float dtype: not supported")
    if ndim(start) or ndim(stop):
        return _linspace_arrays(start, stop, int(num), bool(constant(endpoint, "endpoint")), constant(axis, "axis"))
    if constant(axis, "axis") not in (0, -1):
        raise UnsupportedError(f"np.linspace: axis {axis} is out of bounds for scalar endpoints")
    num = int(num)
    if num < 0:
        raise UnsupportedError("np.linspace: num must be non-negative")
    endpoint = bool(constant(endpoint, "endpoint"))
    if num == 0:
        return full((0,), start * 1.0)
    if num == 1:
        return full((1,), start * 1.0)
    div = num - 1 if endpoint else num
    step = (stop - start) / div
    if not endpoint:
        return emit(np.arange, num) * step + start
    first = emit(np.arange, num - 1) * step + start  # as NumPy: k * step + start, the last one stop
    return np.concatenate((first, full((1,), stop * 1.0)))


def _linspace_arrays(start, stop, num, endpoint, axis):
    """Array endpoints: ``num`` samples along a new axis 0 (``k * step + start``, the last
    one ``stop``, as NumPy's), then moved to ``axis``."""
    start, stop = lift(start), lift(stop)
    rank = max(ndim(start), ndim(stop))
    if num < 2:
        raise UnsupportedError("np.linspace of array endpoints with num < 2: not supported")
    div = num - 1 if endpoint else num
    step = (stop - start) / div
    k = emit(np.arange, num - 1 if endpoint else num)[(slice(None),) + (None,) * rank]
    y = k * step + start
    if endpoint:
        last = stop * np.ones_like(start + stop)  # stop, broadcast as the samples (np.ones_like: a constant)
        y = np.concatenate((y, last[None]), axis=0)
    return move_to(y, 0, normalize_axis(axis, rank + 1))


# --- splitting --------------------------------------------------------------------------------


def _bounds(a, sections, axis, equal):
    size = np.shape(a)[axis]
    if isinstance(sections, (int, np.integer)) and not isinstance(sections, bool):
        count = int(sections)
        if count <= 0:
            raise UnsupportedError("the number of sections must be larger than 0")
        if equal:
            # NumPy raises ValueError for an unequal division: so does this reshape, at run time
            length = np.shape(np.reshape(arange(size), (count, -1)))[1]
            return [k * length if k else 0 for k in range(count)] + [size]
        each, extra = np.floor_divide(size, count), np.remainder(size, count)
        return [0] + [each * k + np.minimum(k, extra) for k in range(1, count)] + [size]
    indices = [int(i) for i in sections]
    return [0] + indices + [None]


def _split(a, sections, axis, equal):
    sections = constant(sections, "indices_or_sections")
    n = ndim(a)
    axis = normalize_axis(axis, n)
    b = _bounds(a, sections, axis, equal)
    return as_tuple([take(a, axis, slice(lo, hi)) for lo, hi in zip(b[:-1], b[1:])])


def _count(sections):
    if isinstance(sections, (int, np.integer)) and not isinstance(sections, bool):
        return int(sections)
    return len(sections) + 1


def _split_type(axis_of):
    def infer(a, indices_or_sections, axis=None):
        n = np.ndim(a)
        axis_of(n, axis)
        return tuple(dummy_array(n, np.asarray(a).dtype) for _ in range(_count(indices_or_sections)))

    return infer


def _need(rank, name):
    def check(n, axis):
        if n < rank:
            raise UnsupportedError(f"{name} needs an array of rank {rank} or more")

    return check


@shape_composite(np.split)
def split(ary, indices_or_sections, axis=0):
    return _split(ary, indices_or_sections, axis, True)


@shape_composite(np.array_split)
def array_split(ary, indices_or_sections, axis=0):
    return _split(ary, indices_or_sections, axis, False)


@shape_composite(np.hsplit)
def hsplit(ary, indices_or_sections):
    return _split(ary, indices_or_sections, 1 if ndim(ary) > 1 else 0, True)


@shape_composite(np.vsplit)
def vsplit(ary, indices_or_sections):
    if ndim(ary) < 2:
        raise UnsupportedError("np.vsplit needs an array of rank 2 or more")
    return _split(ary, indices_or_sections, 0, True)


@shape_composite(np.dsplit)
def dsplit(ary, indices_or_sections):
    if ndim(ary) < 3:
        raise UnsupportedError("np.dsplit needs an array of rank 3 or more")
    return _split(ary, indices_or_sections, 2, True)


ABSTRACT_EVAL[np.split] = _split_type(_need(1, "np.split"))
ABSTRACT_EVAL[np.array_split] = _split_type(_need(1, "np.array_split"))
ABSTRACT_EVAL[np.hsplit] = _split_type(_need(1, "np.hsplit"))
ABSTRACT_EVAL[np.vsplit] = _split_type(_need(2, "np.vsplit"))
ABSTRACT_EVAL[np.dsplit] = _split_type(_need(3, "np.dsplit"))


def _cross_type(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if exact_sizes_on():  # sizes.py types with real sizes: 2-vectors give NumPy's z component
        ax, bx = (axis, axis) if axis is not None else (axisa, axisb)
        try:
            na, nb = np.shape(a)[ax], np.shape(b)[bx]
        except (IndexError, TypeError):
            na = nb = None
        if na in (2, 3) and nb in (2, 3):
            return cross_sized(a, b, axisa, axisb, axisc, axis, na=na, nb=nb)
    # typed on 3-vectors (the dummies' axes have 4 entries, which np.cross refuses)
    return np.cross(
        np.full((3,) * np.ndim(a), 0.5),
        np.full((3,) * np.ndim(b), 0.5),
        axisa=axisa,
        axisb=axisb,
        axisc=axisc,
        axis=axis,
    )


def _repeat_type(a, repeats, axis=None):
    return dummy_array(1 if axis is None else np.ndim(a), np.asarray(a).dtype)


ABSTRACT_EVAL[np.cross] = _cross_type
ABSTRACT_EVAL[np.repeat] = _repeat_type


# composites linear in their differentiable operands, made of linear ops (the ops with rules
# are recorded by @linear; kron, tensordot, einsum, cross are bilinear; sort and select
# piecewise linear; linspace affine)
linear_ops(
    np.atleast_1d,
    np.atleast_2d,
    np.atleast_3d,
    np.hstack,
    np.vstack,
    getattr(np, "row_stack", None),
    np.dstack,
    np.column_stack,
    np.append,
    np.moveaxis,
    np.rollaxis,
    np.flip,
    np.fliplr,
    np.flipud,
    np.rot90,
    np.roll,
    np.repeat,
    np.tile,
    np.pad,
    np.take,
    np.diagonal,
    np.diag,
    np.tril,
    np.triu,
    np.split,
    np.array_split,
    np.hsplit,
    np.vsplit,
    np.dsplit,
)

if hasattr(np, "row_stack"):  # (typed as vstack: NumPy 2's deprecation warning is for the user's call)
    ABSTRACT_EVAL[np.row_stack] = np.vstack
