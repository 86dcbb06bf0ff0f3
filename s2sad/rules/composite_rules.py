"""NumPy functions defined by composition (``@composite``, expanded by expand.py).

Each definition is written once, in ops that have rules, and runs at trace time on symbolic
operands: it may branch on ranks and on constant keywords, never on data. Forward mode,
reverse mode, second order and the numba backend follow from the ops it emits.
"""

import numpy as np

from ..errors import UnsupportedError
from ..trace import Sym, call
from . import composite
from .numpy_rules import axes_of

REDUCTIONS = (np.sum, np.mean, np.prod, np.max, np.min, np.amax, np.amin)


def constant(value, name):
    """A keyword that decides the code's shape must be known when the code is built."""
    if isinstance(value, Sym):
        raise UnsupportedError(f"{name} must be a constant (it decides the result's shape), not a variable")
    return value


def ndim(x):
    return x.ndim if isinstance(x, Sym) else np.ndim(x)


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
