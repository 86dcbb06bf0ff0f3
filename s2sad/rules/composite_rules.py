"""NumPy functions defined by composition (``@composite``, expanded by expand.py).

Each definition is written once, in ops that have rules, and runs at trace time on symbolic
operands: it may branch on ranks and on constant keywords, never on data. Forward mode,
reverse mode, second order and the numba backend follow from the ops it emits.
"""

import math

import numpy as np

from .. import runtime as rt
from ..ad.trace import ABSTRACT_EVAL, Sym, call
from ..ad.trace import emit as _emit
from ..errors import UnsupportedError
from .numpy_rules import axes_of
from .tables import composite, constant_operands

REDUCTIONS = (np.sum, np.mean, np.max, np.min, np.amax, np.amin)  # (np.prod: below)


def constant(value, name):
    """A keyword that decides the code's shape must be known when the code is built."""
    if isinstance(value, Sym):
        raise UnsupportedError(f"{name} must be a constant (it decides the result's shape), not a variable")
    return value


def ndim(x):
    return x.ndim if isinstance(x, Sym) else np.ndim(x)


def symbolic(*values):
    """Is any of ``values`` (nested in tuples and lists) a value of the generated code?"""
    return any(isinstance(v, Sym) or (isinstance(v, (tuple, list)) and symbolic(*v)) for v in values)


def keep_axes(y, nd, axes):
    """The result ``y`` of a reduction over ``axes`` of a rank-``nd`` array, with the reduced
    axes kept as size-1 axes (NumPy's ``keepdims=True``)."""
    if len(axes) == nd:
        return call(np.full, (1,) * nd, y)  # (np.full does not dispatch on its fill value)
    return y[tuple(None if a in axes else slice(None) for a in range(nd))]


def reduce(op, x, axis):
    """``op(x, axis=axis)``, a tuple of axes as one reduction per axis (highest first, so the
    others keep their numbers): Numba's reductions take one axis."""
    if axis is None:
        return op(x)
    if not isinstance(axis, tuple):
        return op(x, axis=axis)
    axes = axes_of(axis, ndim(x))
    if len(axes) == ndim(x):
        return op(x)
    chained = np.sum if op is np.mean else op
    y = x
    for a in sorted(axes, reverse=True):
        y = chained(y, axis=a)
    return y / count(x, axes) if op is np.mean else y


def count(x, axes):
    """How many elements a reduction over ``axes`` of ``x`` combines (a runtime int)."""
    n = 1
    for a in axes:
        n = n * x.shape[a]
    return n


def _reduction_with_keepdims(op):
    def definition(a, axis=None, keepdims=False):
        keepdims, axis = constant(keepdims, "keepdims"), constant(axis, "axis")
        if not keepdims and not isinstance(axis, tuple):
            return NotImplemented
        nd = ndim(a)
        y = reduce(op, a, axis)
        return keep_axes(y, nd, axes_of(axis, nd)) if keepdims else y

    return definition


for _op in REDUCTIONS:
    composite(_op)(_reduction_with_keepdims(_op))


@composite(np.var)
def var(a, axis=None, ddof=0, keepdims=False):
    keepdims, axis = constant(keepdims, "keepdims"), constant(axis, "axis")
    nd = ndim(a)
    if nd == 0:
        return a - a  # the variance of one number: 0 (its derivative too)
    axes = axes_of(axis, nd)
    deviation = a - keep_axes(reduce(np.mean, a, axis), nd, axes)
    total = reduce(np.sum, deviation * deviation, axis)
    if keepdims:
        total = keep_axes(total, nd, axes)
    return total / (count(a, axes) - ddof)


@composite(np.std)
def std(a, axis=None, ddof=0, keepdims=False):
    return np.sqrt(var(a, axis=axis, ddof=ddof, keepdims=keepdims))


# --- elementwise functions written in ops with rules ----------------------------------------


@composite(np.fabs)
def fabs(x):
    return np.abs(x)


@composite(np.fmax)
def fmax(a, b):
    # np.maximum where neither is nan, else the operand that is not (NumPy's fmax); selected,
    # so the derivative is the selected operand's
    return np.where(np.isnan(a), b, np.where(np.isnan(b), a, np.maximum(a, b)))


@composite(np.fmin)
def fmin(a, b):
    return np.where(np.isnan(a), b, np.where(np.isnan(b), a, np.minimum(a, b)))


@composite(np.deg2rad, np.radians, math.radians)
def deg2rad(x):
    return x * (math.pi / 180.0)


@composite(np.rad2deg, np.degrees, math.degrees)
def rad2deg(x):
    return x * (180.0 / math.pi)


_LN2 = math.log(2.0)


@composite(np.logaddexp2)
def logaddexp2(a, b):
    return np.logaddexp(a * _LN2, b * _LN2) * (1.0 / _LN2)


# sin(pi x) / (pi x) where |pi x| >= 0.1; below, its Taylor series (six terms: the next is
# under 2e-22), so that every derivative is right at and near 0, where the quotient is 0/0
_SINC_SERIES = tuple((-1.0) ** k / math.factorial(2 * k + 1) for k in range(6))


@composite(np.sinc)
def sinc(x):
    y = x * math.pi
    small = np.less(np.abs(y), 0.1)
    z = y * y
    series = _SINC_SERIES[-1]
    for c in reversed(_SINC_SERIES[:-1]):
        series = series * z + c
    safe = np.where(small, 1.0, y)
    return np.where(small, series, np.sin(safe) / safe)


_NO_VALUE = getattr(np, "_NoValue", None)


@composite(np.clip)
def clip(a, *bounds, **keywords):
    """np.clip's keyword spellings (a_min=, a_max=, min=, max=) and one-sided clips (a bound
    None): np.maximum / np.minimum; both bounds given by position keep np.clip's rule."""
    if not keywords and len(bounds) == 2 and bounds[0] is not None and bounds[1] is not None:
        return NotImplemented
    if len(bounds) > 2 or set(keywords) - {"a_min", "a_max", "min", "max"}:
        raise TypeError("np.clip takes a, a_min, a_max (or min=, max=)")
    lo = bounds[0] if len(bounds) > 0 else keywords.get("a_min", keywords.get("min"))
    hi = bounds[1] if len(bounds) > 1 else keywords.get("a_max", keywords.get("max"))
    lo, hi = (None if v is _NO_VALUE else v for v in (lo, hi))
    if lo is None and hi is None:
        return np.copy(a) if ndim(a) else a + 0.0
    if lo is None:
        return np.minimum(a, hi)
    if hi is None:
        return np.maximum(a, lo)
    return np.clip(a, lo, hi)


# --- reductions and running reductions ------------------------------------------------------


def _axis(axis, nd, name):
    axis = constant(axis, "axis")
    if not isinstance(axis, int) or isinstance(axis, bool) or not -nd <= axis < nd:
        raise UnsupportedError(f"{name}: axis {axis!r} for an array of {nd} axes")
    return axis % nd


def _along_last(f, a, ax):
    """``f`` (an op along the last axis that keeps the shape) along axis ``ax`` of ``a``."""
    nd = ndim(a)
    if ax == nd - 1:
        return f(a)
    return np.swapaxes(f(np.swapaxes(a, ax, nd - 1)), ax, nd - 1)


def running_product(x):
    """np.cumprod along the last axis: the recurrence z[k] = x[k] z[k-1] from z[0] = x[0]
    (rt.linear_scan; no division anywhere, at any order)."""
    first = np.equal(call(np.arange, x.shape[-1]), 0)
    return rt.linear_scan(x, np.where(first, x, 0), False)


def _flat(a):
    nd = ndim(a)
    if nd == 0:
        return call(np.full, (1,), a)
    return a if nd == 1 else np.ravel(a)


@composite(np.cumsum)
def cumsum(a, axis=None, dtype=None):
    if dtype is not None:
        raise UnsupportedError("np.cumsum with dtype=: not supported; convert with .astype first")
    nd = ndim(a)
    if nd == 0:
        return _flat(a)  # a 1-element array (Numba has no np.cumsum of a float)
    if constant(axis, "axis") is None or nd <= 1:
        return NotImplemented  # (the rule: the flattened array, or one axis)
    return _along_last(rt.cumsum_rows, a, _axis(axis, nd, "np.cumsum"))


@composite(np.expand_dims)
def expand_dims(a, axis):
    """Several new axes (a tuple, NumPy >= 1.18) as one np.expand_dims per axis, in increasing
    order of their places in the result (Numba takes one axis only, of an array only)."""
    axes = constant(axis, "axis")
    several = isinstance(axes, (tuple, list))
    if not several and ndim(a) > 0:
        return NotImplemented
    axes = tuple(axes) if several else (axes,)
    nd = ndim(a) + len(axes)
    places = sorted(_axis(k, nd, "np.expand_dims") for k in axes)
    if len(set(places)) != len(places):
        raise UnsupportedError(f"np.expand_dims: repeated axis in {axes!r}")
    if ndim(a) == 0:  # a float: an array of ones' shape (Numba expands arrays only)
        flat = _flat(a)
        return flat if nd == 1 else np.reshape(flat, (1,) * nd)
    for k in places:
        a = np.expand_dims(a, k)
    return a


@composite(np.cumprod)
def cumprod(a, axis=None, dtype=None):
    if dtype is not None:
        raise UnsupportedError("np.cumprod with dtype=: not supported; convert with .astype first")
    if constant(axis, "axis") is None:
        return running_product(_flat(a))
    return _along_last(running_product, a, _axis(axis, ndim(a), "np.cumprod"))


@composite(np.prod)
def prod(a, axis=None, dtype=None, keepdims=False):
    """With an axis: the last element of the running product along it (Numba's np.prod takes
    no axis). The whole array: np.prod's rule."""
    keepdims, axis = constant(keepdims, "keepdims"), constant(axis, "axis")
    if dtype is not None:
        raise UnsupportedError("np.prod with dtype=: not supported; convert with .astype first")
    nd = ndim(a)
    if keepdims or isinstance(axis, tuple):
        y = reduce(np.prod, a, axis)
        return keep_axes(y, nd, axes_of(axis, nd)) if keepdims else y
    if axis is None:
        return NotImplemented
    ax = _axis(axis, nd, "np.prod")
    if nd == 1:
        return np.prod(a)
    perm = tuple(k for k in range(nd) if k != ax) + (ax,)
    moved = a if ax == nd - 1 else np.transpose(a, perm)
    return running_product(moved)[(slice(None),) * (nd - 1) + (-1,)]


@composite(np.diff)
def diff(a, n=1, axis=-1, prepend=_NO_VALUE, append=_NO_VALUE):
    n = constant(n, "n")
    nd = ndim(a)
    if nd == 0:
        raise UnsupportedError("np.diff of a 0-d value (NumPy needs one axis at least)")
    if not isinstance(n, int) or n < 0:
        raise UnsupportedError(f"np.diff with n={n!r}: n must be a non-negative int")
    ax = _axis(axis, nd, "np.diff")
    if prepend is not _NO_VALUE or append is not _NO_VALUE:  # joined along the axis first, as NumPy's
        parts = [_along(prepend, a, ax)] if prepend is not _NO_VALUE else []
        parts.append(a)
        if append is not _NO_VALUE:
            parts.append(_along(append, a, ax))
        a = np.concatenate(tuple(parts), axis=ax)
    upper = (slice(None),) * ax + (slice(1, None),)
    lower = (slice(None),) * ax + (slice(None, -1),)
    y = a
    for _ in range(n):
        y = y[upper] - y[lower]
    return y


def _along(value, a, ax):
    """np.diff's prepend/append value as a block to join to ``a`` along ``ax``: an array of
    ``a``'s rank as it is, anything else broadcast to ``a``'s shape with length 1 along ``ax``."""
    if isinstance(value, (list, tuple)):
        value = _emit(np.array, tuple(float(v) for v in value)) if not symbolic(value) else call(np.array, value)
    if ndim(value) == ndim(a):
        return value
    one = a[(slice(None),) * ax + (slice(0, 1),)]
    return np.ones_like(one) * value  # (np.ones_like: a constant)


@composite(np.ptp)
def ptp(a, axis=None, keepdims=False):
    keepdims, axis = constant(keepdims, "keepdims"), constant(axis, "axis")
    nd = ndim(a)
    if nd == 0:
        return a - a
    y = reduce(np.max, a, axis) - reduce(np.min, a, axis)
    return keep_axes(y, nd, axes_of(axis, nd)) if keepdims else y


@composite(np.average)
def average(a, axis=None, weights=None, returned=False, keepdims=False):
    """sum(a * w) / sum(w) along ``axis`` (np.mean without weights); 1-d weights along one
    axis broadcast along it, as NumPy's."""
    axis, returned, keepdims = constant(axis, "axis"), constant(returned, "returned"), constant(keepdims, "keepdims")
    if returned:  # (the average, the sum of the weights broadcast to its shape), as NumPy's
        y = average(a, axis=axis, weights=weights, keepdims=keepdims)
        if weights is None:
            total = np.ones_like(y) * count(a, axes_of(axis, ndim(a)))
        else:
            w = weights if not isinstance(weights, (tuple, list)) else _emit(np.array, tuple(float(v) for v in weights))
            if ndim(w) == ndim(a):
                total = reduce(np.sum, w, axis)
                total = keep_axes(total, ndim(a), axes_of(axis, ndim(a))) if keepdims and ndim(a) else total
            else:
                total = np.sum(w) * np.ones_like(y)
        return y, total
    if keepdims is _NO_VALUE:
        keepdims = False
    nd = ndim(a)
    axes = axes_of(axis, nd)
    if isinstance(weights, (tuple, list)):  # a literal: constants
        if any(isinstance(w, Sym) for w in weights):
            raise UnsupportedError("np.average with weights listed from variables: pass them as one array")
        weights = _emit(np.array, tuple(float(w) for w in weights))  # (an array is no constant of the code)
    if weights is None:
        y = reduce(np.mean, a, axis) if nd else a + 0.0
    else:
        wnd = ndim(weights)
        if wnd == nd:
            y = reduce(np.sum, a * weights, axis) / reduce(np.sum, weights, axis)
        elif wnd == 1 and isinstance(axis, int):
            ax = axes[0]
            w = weights[(None,) * ax + (slice(None),) + (None,) * (nd - ax - 1)] if nd > 1 else weights
            y = reduce(np.sum, a * w, axis) / np.sum(weights)
        else:
            raise UnsupportedError("np.average: weights must have a's shape, or be 1-d along one int axis")
    return keep_axes(y, nd, axes) if keepdims and nd else y


def _average_type(a, axis=None, weights=None, returned=False, **keywords):
    # the type of np.average's result does not depend on the weights (constant weights
    # would not match a dummy's length)
    return np.average(a, axis=axis, **keywords) if not returned else (np.average(a, axis=axis, **keywords),) * 2


ABSTRACT_EVAL[np.average] = _average_type


@composite(np.trace)
def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    """np.trace with an offset or other axes: the selected diagonal, summed (np.where with a
    mask from np.eye, so an inf or nan off the diagonal is not read)."""
    offset = constant(offset, "offset")
    axis1, axis2 = constant(axis1, "axis1"), constant(axis2, "axis2")
    if dtype is not None or out is not None:
        raise UnsupportedError("np.trace with dtype= or out=: not supported")
    nd = ndim(a)
    if nd < 2:
        raise UnsupportedError("np.trace of an array of fewer than 2 axes")
    ax1, ax2 = _axis(axis1, nd, "np.trace"), _axis(axis2, nd, "np.trace")
    if ax1 == ax2:
        raise UnsupportedError("np.trace: axis1 and axis2 must differ")
    if not isinstance(offset, int):
        raise UnsupportedError(f"np.trace: offset {offset!r} must be an int")
    if offset == 0 and (ax1, ax2) == (0, 1):
        return NotImplemented
    perm = (ax1, ax2) + tuple(k for k in range(nd) if k not in (ax1, ax2))
    t = a if perm == tuple(range(nd)) else np.transpose(a, perm)
    mask = np.greater(call(np.eye, t.shape[0], t.shape[1], offset), 0.5)
    if nd > 2:
        mask = mask[(slice(None), slice(None)) + (None,) * (nd - 2)]
    return reduce(np.sum, np.where(mask, t, 0), (0, 1))


# --- conversions ------------------------------------------------------------------------------


@composite(np.asarray)
@composite(np.asanyarray)
def asarray(a, dtype=None, order=None, *, copy=None, device=None, like=None):
    """``a`` itself where NumPy returns the same array (an array of that dtype: the result is
    bound as a copy of the name, so a write through either is one that semantics.py follows or
    refuses, as for ``b = a``); a new array from a list or tuple, or from another dtype; a
    number stays a number (NumPy's 0-d array holds the same value)."""
    dtype = constant(dtype, "dtype")
    if like is not None or device not in (None, "cpu") or constant(copy, "copy"):
        raise UnsupportedError("np.asarray with like=, device= or copy=True: not supported; use np.array")
    if constant(order, "order") not in (None, "C", "A", "K"):
        raise UnsupportedError(f"np.asarray with order={order!r}: not supported")
    if isinstance(a, Sym) and a.is_tuple or isinstance(a, (tuple, list)):
        return call(np.array, a) if dtype is None else call(np.array, a, dtype=dtype)
    if dtype is None or (isinstance(a, Sym) and ndim(a) > 0 and np.dtype(dtype) == a.dtype):
        return a
    return rt.astype(a, np.dtype(dtype).type)


@composite(np.squeeze)
def squeeze(a, axis=None):
    """Without ``axis``: the result's rank depends on which axes have size 1, which ranks do not
    tell. A function that calls it is built per shape of its arguments, and the call is
    rewritten for the size-1 axes known from them before this runs (sizes.py); what is left
    here is an operand whose sizes are not known there (vmap on CUDA): the code squeezes the
    size-1 axes the dummy has (``trace.unit_axes``: none) and checks when it runs that the
    operand has exactly those (``rt.require_unit_axes``), else raises the refusal naming the
    user's line: never a guess. With ``axis``: the rule of numpy_rules.py."""
    if axis is not None or not isinstance(a, Sym) or a.is_tuple:
        return NotImplemented
    from ..ad.trace import innermost, unit_axes
    from ..errors import where

    axes = unit_axes(a.dummy)
    builder = innermost()
    known = f"exactly the axes {axes}" if axes else "none"
    rt.require_unit_axes(
        a,
        axes,
        (
            f"{where(getattr(builder, 'filename', None), getattr(builder, 'line', None))}: np.squeeze without axis "
            f"of an operand with other size-1 axes than the code was built for ({known}: the code is built from "
            "ranks, not sizes): pass axis="
        ),
    )
    return call(np.squeeze, a, axis=axes) if axes else a


@composite(np.trapezoid)
def trapezoid(y, x=None, dx=1.0, axis=-1):
    """NumPy's trapezoidal rule, ``sum(d * (y[1:] + y[:-1]) / 2)`` along ``axis``: ``d`` is
    ``dx`` (a number) or the differences of the sample points ``x`` (1-d along ``axis``, or
    the shape of ``y``); derivatives flow to ``y``, ``x`` and ``dx``."""
    nd = ndim(y)
    if nd == 0:
        raise UnsupportedError("np.trapezoid of a 0-d value (NumPy needs one axis at least)")
    ax = _axis(axis, nd, "np.trapezoid")
    upper = (slice(None),) * ax + (slice(1, None),)
    lower = (slice(None),) * ax + (slice(None, -1),)
    if x is None:
        if ndim(dx) != 0:
            raise UnsupportedError("np.trapezoid with an array dx=: not supported; pass the sample points x=")
        d = dx
    elif ndim(x) == 1:
        d = x[1:] - x[:-1]
        if nd > 1:  # along axis, as NumPy reshapes it
            d = d[(None,) * ax + (slice(None),) + (None,) * (nd - ax - 1)]
    elif ndim(x) == nd:
        d = x[upper] - x[lower]
    else:
        raise UnsupportedError("np.trapezoid: x must be 1-d or of y's rank")
    return np.sum(d * (y[upper] + y[lower]) / 2.0, axis=ax)


@composite(np.polyval)
def polyval(p, x):
    """Horner's rule as a linear recurrence along the coefficients (``rt.linear_scan``:
    ``z[k] = x * z[k - 1] + p[k]``, no division, every order): derivatives flow to the
    coefficients and to the points. ``p`` is 1-d (highest power first), ``x`` any shape."""
    if isinstance(p, (list, tuple, np.ndarray)) and not symbolic(p):
        if np.ndim(p) != 1:
            raise UnsupportedError("np.polyval: the coefficients must be a 1-d array")
        p = _emit(np.array, tuple(float(v) for v in p))  # a constant array of the generated code
    if ndim(p) != 1:
        raise UnsupportedError("np.polyval: the coefficients must be a 1-d array (np.poly1d objects: pass .coeffs)")
    nx = ndim(x)
    if nx == 0:
        return rt.linear_scan(x, p)[-1]
    xe = x[(slice(None),) * nx + (None,)]  # (explicit slices: Numba's scatter takes no Ellipsis)
    b = p[(None,) * nx + (slice(None),)] * np.ones_like(xe)  # (np.ones_like: a constant)
    return rt.linear_scan(xe, b)[(slice(None),) * nx + (-1,)]


# --- NaN-ignoring reductions, products, grids -------------------------------------------------


def _finite_part(a):
    """``a`` with its NaNs replaced by 0 (selected, not multiplied: no NaN leaks into a
    derivative), and the mask of the values kept."""
    keep = np.logical_not(np.isnan(a))
    return np.where(keep, a, 0.0), keep


@composite(np.nansum)
def nansum(a, axis=None, dtype=None, out=None, keepdims=False):
    if constant(dtype, "dtype") is not None or out is not None:
        raise UnsupportedError("np.nansum with dtype= or out=: not supported")
    keepdims, axis = constant(keepdims, "keepdims"), constant(axis, "axis")
    if ndim(a) == 0:
        return _finite_part(a)[0]
    y = reduce(np.sum, _finite_part(a)[0], axis)
    return keep_axes(y, ndim(a), axes_of(axis, ndim(a))) if keepdims else y


@composite(np.nanmean)
def nanmean(a, axis=None, dtype=None, out=None, keepdims=False):
    """The mean of the values that are not NaN (NaN, as NumPy's, where all are NaN)."""
    if constant(dtype, "dtype") is not None or out is not None:
        raise UnsupportedError("np.nanmean with dtype= or out=: not supported")
    keepdims, axis = constant(keepdims, "keepdims"), constant(axis, "axis")
    if ndim(a) == 0:
        return a
    values, keep = _finite_part(a)
    total, n = reduce(np.sum, values, axis), reduce(np.sum, rt.astype(keep, np.float64), axis)
    y = total / n
    return keep_axes(y, ndim(a), axes_of(axis, ndim(a))) if keepdims else y


@composite(np.vdot)
def vdot(a, b):
    """The dot product of the flattened operands (real values: no conjugate)."""
    return np.sum(np.ravel(a) * np.ravel(b)) if ndim(a) and ndim(b) else a * b


@composite(np.linalg.multi_dot)
def multi_dot(arrays, *, out=None):
    """The chain of products, left to right (NumPy picks the cheapest order; the value is the
    same up to rounding)."""
    if out is not None:
        raise UnsupportedError("np.linalg.multi_dot with out=: not supported")
    items = list(arrays) if isinstance(arrays, (list, tuple)) or (isinstance(arrays, Sym) and arrays.is_tuple) else None
    if items is None or len(items) < 2:
        raise UnsupportedError("np.linalg.multi_dot needs a list of at least two arrays")
    y = items[0]
    for m in items[1:]:
        y = np.dot(y, m)
    return y


# typed before it is expanded: on the dummies (singular matrices) NumPy's own would raise
ABSTRACT_EVAL[np.linalg.matrix_power] = lambda a, n: a * 1.0


@composite(np.linalg.matrix_power)
def matrix_power(a, n):
    """Repeated squaring for a constant integer ``n`` (the inverse's powers for n < 0)."""
    n = constant(n, "n (the power)")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise UnsupportedError("np.linalg.matrix_power: the power must be an int")
    if ndim(a) < 2:
        raise UnsupportedError("np.linalg.matrix_power needs a matrix (or a stack of them)")
    if n == 0:
        return _identity_like(a)
    base = np.linalg.inv(a) if n < 0 else a
    n = abs(int(n))
    result = None
    while n:
        if n & 1:
            result = base if result is None else np.matmul(result, base)
        n >>= 1
        if n:
            base = np.matmul(base, base)
    return result


def _identity_like(a):
    """The identity of ``a``'s matrices, stacked as ``a`` (a constant)."""
    return call(np.eye, np.shape(a)[-1]) * np.ones_like(a)


@composite(np.logspace)
def logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    if constant(dtype, "dtype") is not None or constant(axis, "axis") != 0:
        raise UnsupportedError("np.logspace with dtype= or axis=: not supported")
    return np.power(base, np.linspace(start, stop, num, endpoint=endpoint))


@composite(np.meshgrid)
def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """Each 1-d coordinate broadcast along the other axes (copies; ``sparse=True``: the
    reshaped coordinates)."""
    indexing, sparse = constant(indexing, "indexing"), constant(sparse, "sparse")
    if indexing not in ("xy", "ij"):
        raise UnsupportedError(f"np.meshgrid with indexing={indexing!r}")
    if any(ndim(x) != 1 for x in xi):
        raise UnsupportedError("np.meshgrid of arrays that are not 1-d: not supported (np.ravel them)")
    n = len(xi)
    shaped = []
    for k, x in enumerate(xi):
        position = k if indexing == "ij" or n < 2 or k > 1 else 1 - k
        shaped.append(x[tuple(slice(None) if j == position else None for j in range(n))])
    if sparse:
        return tuple(shaped)
    ones = [np.ones_like(s) for s in shaped]
    full = []
    for k, s in enumerate(shaped):
        out = s
        for j, o in enumerate(ones):
            if j != k:
                out = out * o
        full.append(out)
    return tuple(full)


# np.searchsorted gives indices (piecewise constant): no derivative through it
constant_operands(np.searchsorted, 0)


@composite(np.interp)
def interp(x, xp, fp, left=None, right=None, period=None):
    """NumPy's piecewise-linear interpolation (``xp`` increasing): the segment of each point
    found with np.searchsorted, then ``fp[j] + (fp[j+1] - fp[j]) / (xp[j+1] - xp[j]) * (x - xp[j])``;
    ``left``/``right`` (default ``fp[0]``/``fp[-1]``) outside, selected (not multiplied).
    Derivatives flow to ``x``, ``xp`` and ``fp``; at a sample point, the one-sided derivative of
    the segment that starts there, as NumPy's formula picks it."""
    if period is not None:
        raise UnsupportedError("np.interp with period=: not supported")
    if ndim(xp) != 1 or ndim(fp) != 1:
        raise UnsupportedError("np.interp: xp and fp must be 1-d")
    n = np.shape(xp)[0]
    j = np.minimum(np.maximum(np.searchsorted(xp, x, side="right") - 1, 0), n - 2)  # (Numba: no int np.clip)
    x0, x1, f0, f1 = xp[j], xp[j + 1], fp[j], fp[j + 1]
    inside = f0 + (f1 - f0) / (x1 - x0) * (x - x0)
    below = fp[0] if left is None else left
    above = fp[-1] if right is None else right
    y = np.where(x < xp[0], below, np.where(x > xp[-1], above, inside))
    return y


@composite(np.reshape)
def reshape_fortran(a, shape=None, order="C", **kwargs):
    """``order='F'``: NumPy reads and writes the elements first index fastest: the C-order
    reshape of the reversed axes, reversed back."""
    if constant(order, "order") != "F" or kwargs:
        return NotImplemented
    shape = constant(shape, "shape") if not isinstance(shape, Sym) else shape
    if isinstance(shape, Sym):
        raise UnsupportedError("np.reshape with order='F' and a shape computed at run time: not supported")
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    reversed_a = np.transpose(a, tuple(range(ndim(a)))[::-1]) if ndim(a) > 1 else a
    y = np.reshape(reversed_a, shape[::-1])
    return np.transpose(y, tuple(range(len(shape)))[::-1]) if len(shape) > 1 else y
