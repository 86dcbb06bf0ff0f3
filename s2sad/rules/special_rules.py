"""Derivative rules for ``scipy.special`` (issue 17).

Elementwise functions are runtime primitives (``rt.erf``, ``rt.digamma`` ...: generated code
names those, and backends.py gives them Numba implementations): each SciPy function is a
composite that calls its primitive, and each primitive has ``@elementwise`` partials written
in primitives again, so every order works: ``gammaln' = digamma``, ``digamma' =
polygamma(1, .)``, ``polygamma(n, .)' = polygamma(n + 1, .)``.

``logsumexp`` (``axis``, ``b``, ``keepdims``), ``softmax`` and ``log_softmax`` (``axis``) are
composites in NumPy ops: the maximum is subtracted first, as SciPy does, so large arguments
do not overflow (its derivative terms cancel: the result does not depend on it).
``logsumexp(..., return_sign=True)`` is refused. As in SciPy, ``axis=None`` is every axis.
"""

import math

import numpy as np
import scipy.special as sc

from ..errors import UnsupportedError
from .composite_rules import constant, keep_axes, ndim, reduce
from .linalg_rules import runtime_primitive
from .numpy_rules import axes_of
from .tables import SINGULAR, composite, elementwise

# --- the primitives (their Python implementation is SciPy's) -----------------------------------


@runtime_primitive
def erf(x):
    return sc.erf(x)


@runtime_primitive
def erfc(x):
    return sc.erfc(x)


@runtime_primitive
def expit(x):
    return sc.expit(x)


@runtime_primitive
def logit(x):
    return sc.logit(x)


@runtime_primitive
def gammaln(x):
    return sc.gammaln(x)


@runtime_primitive
def digamma(x):
    return sc.digamma(x)


@runtime_primitive
def polygamma(n, x):
    """The n-th derivative of digamma (n >= 1: trigamma for n = 1)."""
    return sc.polygamma(n, x)


@runtime_primitive
def xlogy(x, y):
    """x * log(y), 0 where x == 0 (and y is not nan)."""
    return sc.xlogy(x, y)


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


@elementwise(erf)
def erf_partials(x):
    return _TWO_OVER_SQRT_PI * np.exp(-(x * x))


@elementwise(erfc)
def erfc_partials(x):
    return -_TWO_OVER_SQRT_PI * np.exp(-(x * x))


@elementwise(expit)
def expit_partials(x, y):
    return y * (1.0 - y)


@elementwise(logit)
def logit_partials(x):
    return 1.0 / (x * (1.0 - x))


@elementwise(gammaln)
def gammaln_partials(x):
    return digamma(x)


@elementwise(digamma)
def digamma_partials(x):
    return polygamma(1, x)


@elementwise(polygamma)
def polygamma_partials(n, x):
    return None, (lambda: polygamma(n + 1, x))


@elementwise(xlogy)
def xlogy_partials(a, b):
    # a * log(b) for b > 0, where it is smooth: the partials hold at a == 0 too
    # (the parameters are not named x, y: ``y`` is the result in a rule's signature)
    return (lambda: np.log(b)), (lambda: a / b)


SINGULAR.update({logit, gammaln, digamma, polygamma, xlogy})


# --- SciPy's functions: each its primitive ----------------------------------------------------


def _unary(primitive):
    def definition(x):
        return primitive(x)

    return definition


for _scipy, _primitive in (
    (sc.erf, erf),
    (sc.erfc, erfc),
    (sc.expit, expit),
    (sc.logit, logit),
    (sc.gammaln, gammaln),
    (sc.digamma, digamma),
    (sc.psi, digamma),
):
    composite(_scipy)(_unary(_primitive))


@composite(sc.polygamma)
def polygamma_(n, x):
    return polygamma(n, x)


@composite(sc.xlogy)
def xlogy_(x, y):
    return xlogy(x, y)


# --- reductions: logsumexp, softmax, log_softmax ------------------------------------------------


def _shifted(a, axis):
    """(a - max(a) along axis, kept broadcastable; the max itself, reduced; the axes)."""
    nd = ndim(a)
    axes = axes_of(axis, nd)
    m = reduce(np.max, a, axis)
    return a - keep_axes(m, nd, axes), m, axes


@composite(sc.logsumexp)
def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    axis, keepdims = constant(axis, "axis"), constant(keepdims, "keepdims")
    if constant(return_sign, "return_sign"):
        raise UnsupportedError(
            "scipy.special.logsumexp(..., return_sign=True): not supported; the sign is "
            "piecewise constant, compute it separately"
        )
    nd = ndim(a)
    if nd == 0:
        return a if b is None else a + np.log(b)
    shifted, m, axes = _shifted(a, axis)
    e = np.exp(shifted)
    if b is not None:
        e = b * e
    y = np.log(reduce(np.sum, e, axis)) + m
    return keep_axes(y, nd, axes) if keepdims else y


@composite(sc.softmax)
def softmax(x, axis=None):
    axis = constant(axis, "axis")
    nd = ndim(x)
    if nd == 0:
        return x - x + 1.0  # one number: 1 (its derivative 0)
    shifted, _, axes = _shifted(x, axis)
    e = np.exp(shifted)
    return e / keep_axes(reduce(np.sum, e, axis), nd, axes)


@composite(sc.log_softmax)
def log_softmax(x, axis=None):
    axis = constant(axis, "axis")
    nd = ndim(x)
    if nd == 0:
        return x - x
    shifted, _, axes = _shifted(x, axis)
    return shifted - keep_axes(np.log(reduce(np.sum, np.exp(shifted), axis)), nd, axes)
