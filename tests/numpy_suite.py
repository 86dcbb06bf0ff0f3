"""A systematic gradient suite for NumPy (and scipy.special): issue 17's measurement instrument.

In the style of the suite autograd keeps for itself: every function x argument shapes x keyword
combinations, at first and second order. Each entry is a small user-style function calling one
NumPy function in the keyword form under test (``def f(x): return np.var(x, axis=1, ddof=1)``),
written into a real module file, so s2sad reads its source as it reads a user's.

    cd tests && python -m numpy_suite [--backend python|numba] [--only SUBSTR] [--list-failing]
                                      [--slice K/N] [--modes jacfwd,jacrev,hessian] [--seed N] [--json FILE]

Checks per entry: ``jacfwd`` and ``jacrev`` of the function itself, and ``hessian`` of a
scalar-output wrapper (the function itself when its output is a scalar, else
``np.sum(np.sin(out))`` summed over its outputs, so linear functions get a curved second order).
Every float argument is differentiated. Oracles never call s2sad (tests/checks.py and
tests/run_catalogue.py): central differences in random directions, second differences
(Richardson) for v·H·w.

Outcomes:
  PASS     the derivative agrees with the oracle;
  REFUSED  an s2sad.S2SADError whose message names the generated function's file:line (a line of
           that function): the documented way to say "not supported";
  WRONG    a number (or a shape) that disagrees with the oracle: the worst outcome;
  CRASH    any other exception, an s2sad InternalError (a bug, whatever line it names), or an
           S2SADError that names no file:line of the function.

Inputs respect domains (positive for log, |x| < 1 for arctanh, diagonally dominant matrices for
inv/solve/det, symmetrized or x @ x.T inside the function for eigh/cholesky, points away from the
jumps of mod/fmod, kinks of clip/maximum/max/sort kept out of a finite difference's reach);
outputs with a sign ambiguity (eigenvectors, singular vectors) are returned squared, as a user who
wants a derivative would. Shapes: 0-d (a Python float), 1-d, 2-d, 3-d where NumPy accepts them; a
few float32 entries (array results must be float32). ``--seed N`` draws other inputs from the same
domains. tests/test_numpy_suite.py runs all of it on the python backend in CI (10-15 s); on numba
each derivative is compiled (seconds each): use ``--only`` or ``--slice``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
import tempfile
import time
import traceback
import zlib
from dataclasses import dataclass, field

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import checks  # noqa: E402
import run_catalogue as rc  # noqa: E402  (the oracles: checks.py and second differences)
import s2sad  # noqa: E402
from s2sad.errors import InternalError  # noqa: E402

MODES = ("jacfwd", "jacrev", "hessian")
OUTCOMES = ("PASS", "REFUSED", "WRONG", "CRASH")
SH = {0: (), 1: (4,), 2: (2, 3), 3: (2, 3, 4)}


# --------------------------------------------------------------------------------------------
# Entries
# --------------------------------------------------------------------------------------------


@dataclass
class Entry:
    family: str  # the function under test, as a user writes it: "np.var"
    call: str  # the expression returned (or the last line): "np.var(x, axis=1, ddof=1)"
    shapes: tuple  # one shape per argument x, y, z, w
    domains: tuple  # one domain name per argument (DOMAINS)
    pre: tuple = ()  # statements before the return (unpacking tuple results)
    dtype: str = "float64"
    name: str = ""
    lines: tuple = field(default=(0, 0))  # first and last line of the function in the file
    scalar_lines: tuple = field(default=(0, 0))

    @property
    def argnames(self):
        return ("x", "y", "z", "w")[: len(self.shapes)]

    @property
    def label(self):
        body = "; ".join(self.pre + (self.call,))
        kind = "" if self.dtype == "float64" else f" {self.dtype}"
        return f"{body}  [{', '.join(_shape_text(s) for s in self.shapes)}{kind}]"


def _shape_text(shape):
    return "float" if shape == () else "x".join(map(str, shape))


ENTRIES: list[Entry] = []


def add(family, call, *shapes, dom="u", pre=(), dtype="float64", into=None):
    """One entry: ``call`` on arguments x, y, ... of these shapes and domains."""
    into = ENTRIES if into is None else into
    domains = dom if isinstance(dom, tuple) else (dom,) * len(shapes)
    assert len(domains) == len(shapes), call
    entry = Entry(family, call, tuple(tuple(s) for s in shapes), domains, tuple(pre), dtype)
    entry.name = _name(entry, {e.name for e in into})
    into.append(entry)
    return entry


def _name(entry, taken):
    base = re.sub(r"\W+", "_", entry.family.replace("np.", "").replace("scipy.special.", "sp_")).strip("_")
    k = 0
    while f"{base}_{k}" in taken:
        k += 1
    return f"{base}_{k}"


# --- reductions and statistics ---

for fn in ("sum", "mean", "prod", "max", "min", "var", "std"):
    dom = "nz" if fn == "prod" else "distinct" if fn in ("max", "min") else "u"
    fam = f"np.{fn}"
    if fn != "std":  # std of one value is sqrt(0): no derivative there
        add(fam, f"np.{fn}(x)", (), dom=dom)
    for r in (1, 2, 3):
        add(fam, f"np.{fn}(x)", SH[r], dom=dom)
        add(fam, f"np.{fn}(x, axis=0)", SH[r], dom=dom)
        add(fam, f"np.{fn}(x, axis=-1, keepdims=True)", SH[r], dom=dom)
        if r >= 2:
            add(fam, f"np.{fn}(x, axis=(0, 1))", SH[r], dom=dom)
    if fn in ("var", "std"):
        add(fam, f"np.{fn}(x, ddof=1)", SH[1])
        add(fam, f"np.{fn}(x, axis=1, ddof=1, keepdims=True)", SH[2])
        add(fam, f"np.{fn}(x, axis=1, ddof=1, keepdims=True)", SH[3])
        add(fam, f"np.{fn}(x, axis=-1, ddof=2)", SH[3])
        add(fam, f"np.sum(np.{fn}(x, axis=1, keepdims=True) ** 2)", SH[2])
add("np.amax", "np.amax(x, axis=1)", SH[2], dom="distinct")
add("np.amin", "np.amin(x, axis=0)", SH[2], dom="distinct")
add("ndarray.sum", "x.sum(axis=1)", SH[2])
add("ndarray.mean", "x.mean(axis=0, keepdims=True)", SH[3])
add("ndarray.var", "x.var(axis=1)", SH[2])
add("ndarray.std", "x.std()", SH[2])

for fn in ("cumsum", "cumprod"):
    dom = "nz" if fn == "cumprod" else "u"
    add(f"np.{fn}", f"np.{fn}(x)", (), dom=dom)
    for r in (1, 2, 3):
        add(f"np.{fn}", f"np.{fn}(x)", SH[r], dom=dom)
        add(f"np.{fn}", f"np.{fn}(x, axis=0)", SH[r], dom=dom)
        add(f"np.{fn}", f"np.{fn}(x, axis=-1)", SH[r], dom=dom)
    add(f"np.{fn}", f"np.{fn}(x, axis=1)", SH[3], dom=dom)

add("np.diff", "np.diff(x)", SH[1])
add("np.diff", "np.diff(x, n=2)", SH[1])
add("np.diff", "np.diff(x, axis=0)", SH[2])
add("np.diff", "np.diff(x, n=2, axis=-1)", SH[3])
add("np.diff", "np.diff(x, axis=1)", SH[3])
add("np.diff", "np.diff(x, prepend=0.0)", SH[1])
add("np.diff", "np.diff(x, append=y)", SH[1], ())

add("np.nansum", "np.nansum(x)", SH[1])
add("np.nansum", "np.nansum(np.where(x > 0.9, np.nan, x), axis=0)", SH[2])
add("np.nansum", "np.nansum(x, axis=-1, keepdims=True)", SH[3])
add("np.nanmean", "np.nanmean(x)", SH[1])
add("np.nanmean", "np.nanmean(np.where(x > 0.9, np.nan, x), axis=1)", SH[2])
add("np.nanmean", "np.nanmean(x, axis=0, keepdims=True)", SH[3])
add("np.vdot", "np.vdot(x, y)", SH[1], SH[1])
add("np.vdot", "np.vdot(x, y)", SH[2], SH[2])
add("np.linalg.multi_dot", "np.linalg.multi_dot([x, y, x.T])", SH[2], (3, 3))
add("np.linalg.matrix_power", "np.linalg.matrix_power(x, 2)", (3, 3))
add("np.linalg.matrix_power", "np.linalg.matrix_power(x, 5)", (2, 3, 3))
add("np.linalg.matrix_power", "np.linalg.matrix_power(x + 3.0 * np.eye(3), -2)", (3, 3))
add("np.logspace", "np.logspace(x, y, 4)", (), ())
add("np.meshgrid", "np.meshgrid(x, y)[0] * np.meshgrid(x, y)[1]", SH[1], (3,))
add("np.meshgrid", "np.sum(np.meshgrid(x, y, indexing='ij')[1] ** 2, axis=0)", SH[1], (3,))
add("np.interp", "np.interp(x + 1.5, np.cumsum(np.abs(y) + 0.2), z)", SH[1], (5,), (5,))
add("np.interp", "np.interp(x + 1.5, np.cumsum(np.abs(y) + 0.2), z)", SH[2], (5,), (5,))
add("np.interp", "np.interp(x + 1.0, np.cumsum(np.abs(y) + 0.2), z, left=0.0, right=1.0)", (), (5,), (5,))
add("np.polyval", "np.polyval(x, y)", (4,), ())
add("np.polyval", "np.polyval(x, y)", (4,), SH[1])
add("np.polyval", "np.polyval(x, y)", (3,), SH[2])
add("np.polyval", "np.polyval([1.0, -2.0, 0.5], x)", SH[3])
add("np.trapezoid", "np.trapezoid(x)", SH[1])
add("np.trapezoid", "np.trapezoid(x, dx=y)", SH[1], ())
add("np.trapezoid", "np.trapezoid(x, y)", SH[1], SH[1])
add("np.trapezoid", "np.trapezoid(x, y, axis=0)", SH[2], (SH[2][0],))
add("np.trapezoid", "np.trapezoid(x, y, axis=-1)", SH[3], SH[3])
add("np.trapezoid", "np.trapezoid(x, dx=0.5, axis=1)", SH[3])

add("np.average", "np.average(x)", SH[1])
add("np.average", "np.average(x, axis=0)", SH[2])
add("np.average", "np.average(x, weights=y)", SH[1], SH[1], dom=("u", "p"))
add("np.average", "np.average(x, weights=y)", SH[2], SH[2], dom=("u", "p"))
add("np.average", "np.average(x, axis=1, weights=y)", SH[2], (3,), dom=("u", "p"))
add("np.average", "np.average(x, axis=0, weights=y, keepdims=True)", SH[3], (2,), dom=("u", "p"))
add("np.average", "np.average(x, axis=-1, weights=[1.0, 2.0, 3.0, 4.0])", SH[3])
add(
    "np.average", "a * b", SH[2], SH[2], dom=("u", "p"), pre=("a, b = np.average(x, axis=0, weights=y, returned=True)",)
)

PAIRS = (((), ()), ((4,), ()), ((2, 3), (3,)), ((2, 1, 3), (4, 1)))
for fn in ("logaddexp", "logaddexp2"):
    for sa, sb in PAIRS:
        add(f"np.{fn}", f"np.{fn}(x, y)", sa, sb)

# --- elementwise ---

UNARY = (
    ("sin", "u"),
    ("cos", "u"),
    ("tan", "unit"),
    ("exp", "u"),
    ("exp2", "u"),
    ("expm1", "u"),
    ("log", "p"),
    ("log2", "p"),
    ("log10", "p"),
    ("log1p", "l1p"),
    ("sqrt", "p"),
    ("cbrt", "p"),
    ("square", "u"),
    ("abs", "u"),
    ("absolute", "u"),
    ("fabs", "u"),
    ("negative", "u"),
    ("positive", "u"),
    ("reciprocal", "p"),
    ("tanh", "u"),
    ("sinh", "u"),
    ("cosh", "u"),
    ("arcsin", "unit"),
    ("arccos", "unit"),
    ("arctan", "u"),
    ("arcsinh", "u"),
    ("arccosh", "gt1"),
    ("arctanh", "unit"),
    ("deg2rad", "u"),
    ("radians", "u"),
    ("rad2deg", "u"),
    ("degrees", "u"),
    ("sinc", "u"),
)
for fn, dom in UNARY:
    for r in (0, 1, 2, 3):
        add(f"np.{fn}", f"np.{fn}(x)", SH[r], dom=dom)

BINARY = (
    ("add", "u", "u"),
    ("subtract", "u", "u"),
    ("multiply", "u", "u"),
    ("divide", "u", "p"),
    ("true_divide", "u", "p"),
    ("power", "p", "u"),
    ("hypot", "u", "u"),
    ("arctan2", "u", "u"),
    ("maximum", "q", "qs"),
    ("minimum", "q", "qs"),
    ("fmax", "q", "qs"),
    ("fmin", "q", "qs"),
    ("mod", "moda", "modb"),
    ("remainder", "moda", "modb"),
    ("fmod", "moda", "modb"),
)
for fn, da, db in BINARY:
    for sa, sb in PAIRS:
        add(f"np.{fn}", f"np.{fn}(x, y)", sa, sb, dom=(da, db))
for op, fam, da, db in (("%", "np.mod", "moda", "modb"), ("**", "np.power", "p", "u"), ("/", "np.divide", "u", "p")):
    add(fam, f"x {op} y", (2, 3), (3,), dom=(da, db))
add("np.power", "np.power(x, 3)", SH[2])
add("np.power", "x ** 0.5", SH[1], dom="p")
add("np.power", "np.power(2.0, x)", SH[1])

add("np.where", "np.where(x > 0.0, x, y)", (), ())
add("np.where", "np.where(x > 0.0, x, y)", SH[1], SH[1])
add("np.where", "np.where(x > y, x * y, 0.0)", SH[2], (3,), dom=("q", "qs"))
add("np.where", "np.where(x < 0.0, np.sin(x), x * x)", SH[3])
add("np.clip", "np.clip(x, -0.5, 0.5)", (), dom="q")
add("np.clip", "np.clip(x, -0.5, 0.5)", SH[1], dom="q")
add("np.clip", "np.clip(x, -0.5, 0.5)", SH[3], dom="q")
add("np.clip", "np.clip(x, y, 0.6)", SH[2], (), dom=("q", "qneg"))
add("np.clip", "np.clip(x, y, z)", SH[2], (3,), (), dom=("q", "qneg", "qpos"))
add("np.clip", "np.clip(x, None, 0.3)", SH[2], dom="q")
add("np.clip", "np.clip(x, -0.3, None)", SH[1], dom="q")
add("np.clip", "np.clip(x, a_min=-0.2, a_max=0.4)", SH[2], dom="q")
add("np.clip", "np.clip(x, min=-0.2, max=0.4)", SH[2], dom="q")
add("ndarray.clip", "x.clip(-0.5, 0.5)", SH[2], dom="q")

# --- shape and construction ---

add("np.stack", "np.stack([x, y])", (), ())
add("np.stack", "np.stack([x, y])", (3,), (3,))
add("np.stack", "np.stack([x, y], axis=1)", (2, 3), (2, 3))
add("np.stack", "np.stack((x, y, x), axis=-1)", (2, 3), (2, 3))
add("np.hstack", "np.hstack([x, y])", (3,), (2,))
add("np.hstack", "np.hstack((x, y))", (2, 3), (2, 2))
add("np.hstack", "np.hstack([x, y])", (), ())
add("np.vstack", "np.vstack([x, y])", (3,), (3,))
add("np.vstack", "np.vstack((x, y))", (2, 3), (1, 3))
add("np.column_stack", "np.column_stack([x, y])", (3,), (3,))
add("np.column_stack", "np.column_stack((x, y))", (3, 2), (3,))
add("np.concatenate", "np.concatenate([x, y])", (3,), (2,))
add("np.concatenate", "np.concatenate([x, y], axis=1)", (2, 3), (2, 1))
add("np.concatenate", "np.concatenate((x, y), axis=-1)", (2, 3, 4), (2, 3, 1))
add("np.concatenate", "np.concatenate([x, y], axis=None)", (2, 3), (4,))
add("np.split", "a, b", (4,), pre=("a, b = np.split(x, 2)",))
add("np.split", "a, b, c", (2, 4), pre=("a, b, c = np.split(x, [1, 3], axis=1)",))
add("np.array_split", "a, b, c", (4,), pre=("a, b, c = np.array_split(x, 3)",))
add("np.array_split", "a * 2.0, b", (3, 2), pre=("a, b = np.array_split(x, 2, axis=0)",))
add("np.hsplit", "a, b", (2, 4), pre=("a, b = np.hsplit(x, 2)",))
add("np.vsplit", "a, b", (2, 3), pre=("a, b = np.vsplit(x, 2)",))
add("np.dsplit", "a, b", (2, 3, 4), pre=("a, b = np.dsplit(x, 2)",))
add("np.dsplit", "a * b", (2, 1, 4), pre=("a, b = np.dsplit(x, [2])",))
add("np.squeeze", "np.squeeze(x) * 2.0", (1, 3, 1))
add("np.cross", "np.cross(x, y)", (2,), (2,))
add("np.cross", "np.cross(x, y)", (4, 2), (3,))
add("np.repeat", "np.repeat(x, 3)", ())
add("np.repeat", "np.repeat(x, 2)", (3,))
add("np.repeat", "np.repeat(x, 2, axis=0)", (2, 3))
add("np.repeat", "np.repeat(x, [1, 2], axis=0)", (2, 3))
add("np.tile", "np.tile(x, 3)", ())
add("np.tile", "np.tile(x, 2)", (3,))
add("np.tile", "np.tile(x, (2, 1))", (2, 3))
add("np.roll", "np.roll(x, 1)", (4,))
add("np.roll", "np.roll(x, 1)", (2, 3))
add("np.roll", "np.roll(x, -1, axis=1)", (2, 3))
add("np.roll", "np.roll(x, (1, 2), axis=(0, 2))", (2, 3, 4))
add("np.flip", "np.flip(x)", (4,))
add("np.flip", "np.flip(x, axis=0)", (2, 3))
add("np.flip", "np.flip(x, axis=(0, 2))", (2, 3, 4))
add("np.fliplr", "np.fliplr(x)", (2, 3))
add("np.flipud", "np.flipud(x)", (4,))
add("np.flipud", "np.flipud(x)", (2, 3))
add("np.rot90", "np.rot90(x)", (2, 3))
add("np.rot90", "np.rot90(x, k=2)", (2, 3))
add("np.rot90", "np.rot90(x, 1, axes=(1, 2))", (2, 3, 4))
add("np.moveaxis", "np.moveaxis(x, 0, -1)", (2, 3, 4))
add("np.moveaxis", "np.moveaxis(x, [0, 1], [-1, -2])", (2, 3, 4))
add("np.rollaxis", "np.rollaxis(x, 2)", (2, 3, 4))
add("np.rollaxis", "np.rollaxis(x, 0, 2)", (2, 3, 4))
add("np.rollaxis", "np.rollaxis(x, 1)", (2, 3))
add("np.swapaxes", "np.swapaxes(x, 0, 1)", (2, 3))
add("np.swapaxes", "np.swapaxes(x, 0, 2)", (2, 3, 4))
add("np.transpose", "np.transpose(x)", (4,))
add("np.transpose", "np.transpose(x)", (2, 3))
add("np.transpose", "np.transpose(x, (2, 0, 1))", (2, 3, 4))
add("np.transpose", "np.transpose(x, axes=(1, 0, 2))", (2, 3, 4))
add("ndarray.T", "x.T", (2, 3))
add("np.reshape", "np.reshape(x, (3, 2))", (2, 3))
add("np.reshape", "np.reshape(x, -1)", (2, 3, 4))
add("np.reshape", "np.reshape(x, (3, 2), order='F')", (2, 3))
add("ndarray.reshape", "x.reshape(4, -1)", (2, 3, 4))
add("np.ravel", "np.ravel(x)", (2, 3))
add("np.atleast_1d", "np.atleast_1d(x)", ())
add("np.atleast_1d", "np.atleast_1d(x)", (3,))
add("np.atleast_2d", "np.atleast_2d(x)", ())
add("np.atleast_2d", "np.atleast_2d(x)", (3,))
add("np.atleast_2d", "np.atleast_2d(x)", (2, 3))
add("np.atleast_3d", "np.atleast_3d(x)", (3,))
add("np.atleast_3d", "np.atleast_3d(x)", (2, 3))
add("np.pad", "np.pad(x, 1)", (3,))
add("np.pad", "np.pad(x, ((1, 0), (0, 2)))", (2, 3))
add("np.pad", "np.pad(x, 1, mode='edge')", (2, 3))
add("np.pad", "np.pad(x, 2, mode='reflect')", (4,))
add("np.pad", "np.pad(x, 1, constant_values=0.5)", (3,))
add("np.append", "np.append(x, y)", (3,), (2,))
add("np.append", "np.append(x, y)", (2, 3), ())
add("np.append", "np.append(x, y, axis=0)", (2, 3), (1, 3))
add("np.diag", "np.diag(x)", (3,))
add("np.diag", "np.diag(x)", (3, 3))
add("np.diag", "np.diag(x, k=1)", (3,))
add("np.diag", "np.diag(x, k=-1)", (3, 4))
add("np.diagonal", "np.diagonal(x)", (3, 3))
add("np.diagonal", "np.diagonal(x, offset=1)", (3, 4))
add("np.diagonal", "np.diagonal(x, axis1=1, axis2=2)", (2, 3, 3))
add("ndarray.diagonal", "x.diagonal()", (3, 3))
add("np.trace", "np.trace(x)", (3, 3))
add("np.trace", "np.trace(x, offset=1)", (3, 4))
add("np.trace", "np.trace(x, axis1=1, axis2=2)", (2, 3, 3))
for fn in ("tril", "triu"):
    add(f"np.{fn}", f"np.{fn}(x)", (3, 3))
    add(f"np.{fn}", f"np.{fn}(x, k=-1)", (3, 4))
    add(f"np.{fn}", f"np.{fn}(x, k=1)", (2, 3, 3))
add("np.kron", "np.kron(x, y)", (2,), (3,))
add("np.kron", "np.kron(x, y)", (2, 2), (2, 3))
add("np.tensordot", "np.tensordot(x, y, axes=1)", (2, 3), (3, 4))
add("np.tensordot", "np.tensordot(x, y)", (2, 3, 4), (3, 4))
add("np.tensordot", "np.tensordot(x, y, axes=([0], [1]))", (3, 2), (4, 3))
add("np.tensordot", "np.tensordot(x, y, axes=0)", (2,), (3,))
add("np.einsum", "np.einsum('ij,jk->ik', x, y)", (2, 3), (3, 4))
add("np.einsum", "np.einsum('ii->', x)", (3, 3))
add("np.einsum", "np.einsum('ij->ji', x)", (2, 3))
add("np.einsum", "np.einsum('i,i->', x, y)", (3,), (3,))
add("np.einsum", "np.einsum('bij,bjk->bik', x, y)", (2, 2, 3), (2, 3, 4))
add("np.einsum", "np.einsum('ij,ij->i', x, y)", (2, 3), (2, 3))
add("np.einsum", "np.einsum('i,j->ij', x, y)", (3,), (2,))
add("np.einsum", "np.einsum('ijk->k', x)", (2, 3, 4))
add("np.einsum", "np.einsum('ij,jk,k->i', x, y, z, optimize=True)", (2, 3), (3, 4), (4,))
add("np.cross", "np.cross(x, y)", (3,), (3,))
add("np.cross", "np.cross(x, y)", (2, 3), (3,))
add("np.cross", "np.cross(x, y, axis=0)", (3, 2), (3, 2))
add("np.outer", "np.outer(x, y)", (3,), (4,))
add("np.outer", "np.outer(x, y)", (2, 2), (3,))
add("np.dot", "np.dot(x, y)", (3,), (3,))
add("np.dot", "np.dot(x, y)", (2, 3), (3,))
add("np.dot", "np.dot(x, y)", (2, 3), (3, 4))
add("np.dot", "np.dot(x, y)", (), (3,))
add("np.dot", "np.dot(x, y)", (2, 3, 4), (4, 2))
add("ndarray.dot", "x.dot(y)", (2, 3), (3,))
add("np.inner", "np.inner(x, y)", (3,), (3,))
add("np.inner", "np.inner(x, y)", (2, 3), (4, 3))
add("np.matmul", "np.matmul(x, y)", (2, 3), (3, 4))
add("np.matmul", "np.matmul(x, y)", (3,), (3, 2))
add("np.matmul", "np.matmul(x, y)", (2, 2, 3), (3, 4))
add("np.matmul", "x @ y", (2, 3), (3,))
add("np.squeeze", "np.squeeze(x)", (1, 3))
add("np.squeeze", "np.squeeze(x, axis=1)", (2, 1, 3))
add("np.expand_dims", "np.expand_dims(x, 0)", (3,))
add("np.expand_dims", "np.expand_dims(x, axis=-1)", (2, 3))
add("np.expand_dims", "np.expand_dims(x, axis=(0, 2))", (3,))
add("np.sort", "np.sort(x)", (4,), dom="distinct")
add("np.sort", "np.sort(x, axis=0)", (2, 3), dom="distinct")
add("np.sort", "np.sort(x, axis=None)", (2, 3), dom="distinct")
add("np.sort", "-np.sort(-x, axis=-1)", (2, 3, 4), dom="distinct")
add("np.partition", "np.partition(x, 1)", (4,), dom="distinct")
add("np.partition", "np.partition(x, (0, 2), axis=0)", (3, 2), dom="distinct")
add("np.partition", "np.partition(x, -1, axis=None)", (2, 3), dom="distinct")
add("np.partition", "np.partition(x, 2, axis=1)", (2, 3, 2), dom="distinct")
add("np.select", "np.select([x > 0.5, x < -0.5], [x * x, y], default=0.0)", (4,), (4,), dom=("q", "u"))
add("np.select", "np.select([x > 0.0], [np.sin(x)], default=x)", (2, 3))
add("np.linspace", "np.linspace(x, y, 5)", (), ())
add("np.linspace", "np.linspace(x, y, 4, endpoint=False)", (), ())
add("np.linspace", "np.linspace(0.0, x, 5)", ())
add("np.linspace", "np.linspace(x, y, 3)", (3,), (3,))
add("np.linspace", "np.linspace(x, y, 3, axis=1)", (2,), (2,))

# --- np.linalg ---

add("np.linalg.inv", "np.linalg.inv(x)", (3, 3), dom="dd")
add("np.linalg.inv", "np.linalg.inv(x)", (2, 3, 3), dom="dd")
add("np.linalg.solve", "np.linalg.solve(x, y)", (3, 3), (3,), dom=("dd", "u"))
add("np.linalg.solve", "np.linalg.solve(x, y)", (3, 3), (3, 2), dom=("dd", "u"))
add("np.linalg.solve", "np.linalg.solve(x, y)", (2, 3, 3), (2, 3, 1), dom=("dd", "u"))
add("np.linalg.det", "np.linalg.det(x)", (2, 2), dom="dd")
add("np.linalg.det", "np.linalg.det(x)", (3, 3), dom="dd")
add("np.linalg.det", "np.linalg.det(x)", (2, 3, 3), dom="dd")
add("np.linalg.slogdet", "logdet", (3, 3), dom="dd", pre=("sign, logdet = np.linalg.slogdet(x)",))
add("np.linalg.slogdet", "sign * np.exp(logdet)", (2, 3, 3), dom="dd", pre=("sign, logdet = np.linalg.slogdet(x)",))
add("np.linalg.cholesky", "np.linalg.cholesky(x @ x.T)", (3, 3), dom="dd")
add("np.linalg.cholesky", "np.linalg.cholesky(x @ np.swapaxes(x, -1, -2))", (2, 3, 3), dom="dd")
add("np.linalg.cholesky", "np.linalg.cholesky(x @ x.T, upper=True)", (3, 3), dom="dd")
add("np.linalg.eigh", "w", (3, 3), pre=("w, v = np.linalg.eigh(x + x.T)",))
add("np.linalg.eigh", "w, v * v", (3, 3), pre=("w, v = np.linalg.eigh(x + x.T)",))
add("np.linalg.eigh", "w, v * v", (2, 3, 3), pre=("w, v = np.linalg.eigh(x + np.swapaxes(x, -1, -2))",))
add("np.linalg.eigh", "w", (3, 3), pre=("w, v = np.linalg.eigh(x + x.T, UPLO='U')",))
add("np.linalg.eigvalsh", "np.linalg.eigvalsh(x + x.T)", (3, 3))
add("np.linalg.svd", "np.linalg.svd(x, compute_uv=False)", (3, 3))
add("np.linalg.svd", "np.linalg.svd(x, compute_uv=False)", (4, 3))
add("np.linalg.svd", "np.linalg.svd(x, compute_uv=False)", (2, 3, 4))
add("np.linalg.svd", "u * u, s, vt * vt", (4, 3), pre=("u, s, vt = np.linalg.svd(x, full_matrices=False)",))
add("np.linalg.svd", "(u * s) @ vt", (3, 4), pre=("u, s, vt = np.linalg.svd(x, full_matrices=False)",))
add("np.linalg.pinv", "np.linalg.pinv(x)", (3, 3), dom="dd")
add("np.linalg.pinv", "np.linalg.pinv(x)", (4, 3))
add("np.linalg.pinv", "np.linalg.pinv(x)", (2, 3))
add("np.linalg.qr", "q, r", (3, 3), pre=("q, r = np.linalg.qr(x)",))
add("np.linalg.qr", "q, r", (4, 3), pre=("q, r = np.linalg.qr(x)",))
add("np.linalg.qr", "np.linalg.qr(x, mode='r')", (4, 3))
add("np.linalg.norm", "np.linalg.norm(x)", ())
for call in (
    "np.linalg.norm(x)",
    "np.linalg.norm(x, 1)",
    "np.linalg.norm(x, ord=2)",
    "np.linalg.norm(x, ord=np.inf)",
    "np.linalg.norm(x, ord=3)",
    "np.linalg.norm(x, ord=-np.inf)",
):
    add("np.linalg.norm", call, (4,), dom="distinct")
for call in (
    "np.linalg.norm(x)",
    "np.linalg.norm(x, 'fro')",
    "np.linalg.norm(x, ord=1)",
    "np.linalg.norm(x, ord=np.inf)",
    "np.linalg.norm(x, ord=2)",
    "np.linalg.norm(x, ord='nuc')",
    "np.linalg.norm(x, axis=0)",
    "np.linalg.norm(x, axis=1, keepdims=True)",
    "np.linalg.norm(x, ord=1, axis=1)",
    "np.linalg.norm(x, axis=(0, 1))",
):
    add("np.linalg.norm", call, (2, 3))
add("np.linalg.norm", "np.linalg.norm(x)", (2, 3, 4))
add("np.linalg.norm", "np.linalg.norm(x, axis=-1)", (2, 3, 4))
add("np.linalg.norm", "np.linalg.norm(x, axis=(1, 2))", (2, 3, 4))

# --- scipy.special ---

for fn, dom in (("expit", "u"), ("logit", "prob"), ("erf", "u"), ("erfc", "u"), ("gammaln", "p"), ("digamma", "p")):
    for r in (0, 1, 2, 3):
        add(f"scipy.special.{fn}", f"scipy.special.{fn}(x)", SH[r], dom=dom)
for sa, sb in PAIRS:
    add("scipy.special.xlogy", "scipy.special.xlogy(x, y)", sa, sb, dom=("u", "p"))
add("scipy.special.logsumexp", "scipy.special.logsumexp(x)", (4,))
add("scipy.special.logsumexp", "scipy.special.logsumexp(x)", (2, 3))
add("scipy.special.logsumexp", "scipy.special.logsumexp(x, axis=0)", (2, 3))
add("scipy.special.logsumexp", "scipy.special.logsumexp(x, axis=-1, keepdims=True)", (2, 3, 4))
add("scipy.special.logsumexp", "scipy.special.logsumexp(x, b=y)", (4,), (4,), dom=("u", "p"))
add("scipy.special.logsumexp", "scipy.special.logsumexp(x, axis=1, b=y)", (2, 3), (2, 3), dom=("u", "p"))
for fn in ("softmax", "log_softmax"):
    add(f"scipy.special.{fn}", f"scipy.special.{fn}(x)", (4,))
    add(f"scipy.special.{fn}", f"scipy.special.{fn}(x, axis=0)", (2, 3))
    add(f"scipy.special.{fn}", f"scipy.special.{fn}(x, axis=-1)", (2, 3, 4))
    add(f"scipy.special.{fn}", f"scipy.special.{fn}(x, axis=None)", (2, 3))


# --- more forms of functions with rules (edge ranks, broadcasting, tuple axes) ---

add("np.sum", "np.sum(x, axis=(0, 2))", SH[3])
add("np.mean", "np.mean(x, axis=(0, 2))", SH[3])
add("np.max", "np.max(x, axis=(0, 2))", SH[3], dom="distinct")
add("np.min", "np.min(x, axis=(-1, 0))", SH[3], dom="distinct")
add("np.sum", "np.sum(x, 0)", SH[2])
add("np.dot", "np.dot(x, y)", (), ())
add("np.matmul", "x @ y", (2, 3, 4), (4,))
add("np.matmul", "x @ y", (4,), (2, 4, 3))
add("np.concatenate", "np.concatenate([x, y, x], axis=0)", (2, 3), (1, 3))
add("np.stack", "np.stack([x, y], axis=2)", (2, 3), (2, 3))
add("np.array", "np.array([x, y])", (3,), (3,))
add("np.array", "np.array([[x, y], [y, x]])", (), ())
add("np.where", "np.where(x > 0.0, x, 0.0)", SH[2])
add("np.where", "np.where(y > 0.0, x, -x)", (2, 3), (3,))
add("np.maximum", "np.maximum(x, 0.0)", SH[3])
add("np.minimum", "np.minimum(1.0 - x, x)", SH[1], dom="q")
add("np.clip", "np.clip(x, y, z)", (2, 3), (2, 3), (2, 3), dom=("q", "qneg", "qpos"))
add("np.trace", "np.trace(x)", (3, 3, 2))
add("np.swapaxes", "np.swapaxes(x, -1, -2)", (2, 3, 4))
add("np.reshape", "np.reshape(x, (2, -1))", (2, 3, 4))
add("ndarray.reshape", "x.reshape((6,))", (2, 3))
add("np.squeeze", "np.squeeze(x, axis=(0, 2))", (1, 3, 1))
add("np.squeeze", "np.squeeze(x, axis=-1)", (3, 1))
add("np.expand_dims", "np.expand_dims(x, 0)", ())
add("np.transpose", "np.transpose(x, (1, 0))", (2, 3))
add("np.linalg.norm", "np.linalg.norm(x, ord=None, axis=None)", (2, 3))
add("np.outer", "np.outer(x, y)", (), (3,))
add("np.inner", "np.inner(x, y)", (), (2, 3))
add("np.cumsum", "np.cumsum(x, axis=0)", (4,))
add("np.prod", "np.prod(x)", (2, 3), dom="nz")
# results larger than an operand (the operand's adjoint sums over the broadcast axes)
add("np.clip", "np.clip(x, y, 0.6)", (3,), (2, 3), dom=("q", "qneg"))
add("np.where", "np.where(z > 0.0, x, y)", (3,), (2, 1), (2, 3))
add("np.maximum", "np.maximum(x, y)", (3,), (2, 1), dom=("q", "qs"))
add("np.arctan2", "np.arctan2(x, y)", (), (2, 3))
add("np.power", "x ** y", (2, 1), (3,), dom=("p", "u"))
add("np.dot", "np.dot(x, y)", (2, 3, 4), (3, 4, 2))
add("np.inner", "np.inner(x, y)", (2, 3), (2, 2, 3))
add("np.matmul", "x @ y", (2, 1, 3, 4), (3, 4, 2))
add("np.outer", "np.outer(x, y)", (2, 3), (2, 2))
add("np.stack", "np.stack([x, y, z], axis=-1)", (2, 3, 4), (2, 3, 4), (2, 3, 4))
add("np.concatenate", "np.concatenate([x, y], axis=-2)", (2, 3, 4), (2, 1, 4))
add("np.mean", "np.mean(x, axis=-1)", (4,))
add("np.cumsum", "np.cumsum(x * y)", (2, 3), (3,))
add("np.linalg.norm", "np.linalg.norm(x - y)", (3,), (2, 3))
add("np.broadcast_to", "np.broadcast_to(x, (2, 3))", (3,))
add("np.broadcast_to", "np.broadcast_to(x, (2, 3))", ())
add("np.trace", "np.trace(x @ y)", (3, 4), (4, 3))
# a result multiplied by itself (forward over reverse sees the same tangent twice)
for fam, call, shapes, dom in (
    ("np.prod", "np.prod(x, axis=0)", [(2, 3)], "nz"),
    ("np.cumsum", "np.cumsum(x)", [(4,)], "u"),
    ("np.max", "np.max(x, axis=1)", [(2, 3)], "distinct"),
    ("np.linalg.norm", "np.linalg.norm(x)", [(2, 3)], "u"),
    ("np.clip", "np.clip(x, -0.5, 0.5)", [(2, 3)], "q"),
    ("np.where", "np.where(x > 0.0, x, y)", [(4,), (4,)], "u"),
    ("np.dot", "np.dot(x, y)", [(2, 3), (3,)], "u"),
    ("np.matmul", "x @ y", [(2, 3), (3, 2)], "u"),
    ("np.concatenate", "np.concatenate([x, y])", [(3,), (2,)], "u"),
    ("np.stack", "np.stack([x, y])", [(3,), (3,)], "u"),
    ("np.transpose", "np.transpose(x)", [(2, 3)], "u"),
    ("np.reshape", "np.reshape(x, (3, 2))", [(2, 3)], "u"),
    ("np.mean", "np.mean(x, axis=0)", [(2, 3)], "u"),
    ("np.sum", "np.sum(x)", [(2, 3)], "u"),
    ("np.sqrt", "np.sqrt(x)", [(4,)], "p"),
    ("np.tanh", "np.tanh(x)", [(2, 3)], "u"),
    ("np.maximum", "np.maximum(x, y)", [(4,), (4,)], ("q", "qs")),
    ("np.outer", "np.outer(x, y)", [(3,), (2,)], "u"),
    ("np.trace", "np.trace(x)", [(3, 3)], "u"),
    ("np.inner", "np.inner(x, y)", [(3,), (3,)], "u"),
    ("np.linalg.det", "np.linalg.det(x)", [(3, 3)], "dd"),
    ("np.linalg.inv", "np.linalg.inv(x)", [(3, 3)], "dd"),
    ("np.var", "np.var(x, axis=1)", [(2, 3)], "u"),
    ("np.cumprod", "np.cumprod(x)", [(4,)], "nz"),
):
    add(fam, "a * a", *shapes, dom=dom, pre=(f"a = {call}",))
for call in ("w, v = np.linalg.eigh(x + x.T)", "v, w = np.linalg.qr(x)"):
    add("np.linalg." + call.split("linalg.")[1].split("(")[0], "w * w", (3, 3), pre=(call,))
    add("np.linalg." + call.split("linalg.")[1].split("(")[0], "v * v", (3, 3), pre=(call,))

# float32 arguments (results in float32; the oracle's steps and tolerances are float32's)
for call, shapes, dom in (
    ("np.sin(x)", [(2, 3)], "u"),
    ("np.exp(x)", [()], "u"),
    ("np.log(x)", [(4,)], "p"),
    ("np.tanh(x @ y + z)", [(3, 3), (3,), (3,)], "u"),
    ("np.sum(x, axis=0)", [(2, 3)], "u"),
    ("np.mean(x)", [(2, 3, 4)], "u"),
    ("np.max(x, axis=-1)", [(2, 3)], "distinct"),
    ("np.dot(x, y)", [(2, 3), (3,)], "u"),
    ("np.where(x > 0.0, x, y)", [(4,), (4,)], "u"),
    ("np.clip(x, -0.5, 0.5)", [(2, 3)], "q"),
    ("np.linalg.norm(x)", [(4,)], "u"),
    ("np.concatenate([x, y])", [(3,), (2,)], "u"),
    ("np.stack([x, y], axis=1)", [(3,), (3,)], "u"),
    ("np.transpose(x)", [(2, 3)], "u"),
    ("x ** y", [(3,), ()], ("p", "u")),
    ("np.maximum(x, y)", [(2, 3), (3,)], ("q", "qs")),
):
    fam = "np.matmul" if "@" in call else "np.power" if "**" in call else call.split("(")[0]
    add(fam, call, *shapes, dom=dom, dtype="float32")


# --------------------------------------------------------------------------------------------
# The module file
# --------------------------------------------------------------------------------------------

HEADER = (
    '"""Generated by tests/numpy_suite.py: one user-style function per entry (do not edit)."""\n\n'
    "import numpy as np\nimport scipy.special\n"
)


def _scalar_body(entry, n_out):
    """Lines of the scalar wrapper: the entry's body, its result(s) summed through sin."""
    lines = list(entry.pre)
    if n_out == 1:
        lines.append(f"out = {entry.call}")
        lines.append("return np.sum(np.sin(out))")
    else:
        outs = [f"out{k}" for k in range(n_out)]
        lines.append(f"{', '.join(outs)} = {entry.call}")
        lines.append("return " + " + ".join(f"np.sum(np.sin({o}))" for o in outs))
    return lines


def module_text(entries):
    """The generated module (deterministic), recording each function's line range."""
    text = [HEADER]
    line = HEADER.count("\n") + 1
    for e in entries:
        sig = ", ".join(e.argnames)
        body = list(e.pre) + [f"return {e.call}"]
        chunk = [f"\n\ndef {e.name}({sig}):"] + [f"    {b}" for b in body]
        first = line + 2  # two blank lines, then the def
        e.lines = (first, first + len(body))
        text.append("\n".join(chunk) + "\n")
        line = e.lines[1] + 1
        n_out = _n_out(e)
        if n_out == 1 and _scalar_output(e):
            e.scalar_lines = None  # the function itself is scalar-valued
            continue
        body = _scalar_body(e, n_out)
        chunk = [f"\n\ndef {e.name}__scalar({sig}):"] + [f"    {b}" for b in body]
        first = line + 2
        e.scalar_lines = (first, first + len(body))
        text.append("\n".join(chunk) + "\n")
        line = e.scalar_lines[1] + 1
    return "".join(text)


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def _signed(rng, shape, low, high):
    return rng.uniform(low, high, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def _grid(rng, shape, offset, ks, jitter, signed):
    """Values offset + 0.1 k (k drawn from ks) plus a jitter: kept away from the kinks that the
    entries put at multiples of 0.1 (clip bounds, maximum of "q" and "qs" values)."""
    v = offset + 0.1 * rng.choice(ks, size=shape) + rng.uniform(-jitter, jitter, size=shape)
    return v * rng.choice([-1.0, 1.0], size=shape) if signed else v


def _distinct(rng, shape):
    """Signed values whose magnitudes are at least 1/(n-1) apart: no near-ties for max, sort, the
    inf-norm (a finite difference must not cross a kink)."""
    n = int(np.prod(shape))
    mags = np.linspace(0.3, 1.3, max(n, 2))[:n] + rng.uniform(-0.005, 0.005, size=n)
    return (rng.permutation(mags) * rng.choice([-1.0, 1.0], size=n)).reshape(shape)


def _dd(rng, shape):
    x = rng.uniform(-1.0, 1.0, size=shape)
    return x + 3.0 * np.eye(shape[-2], shape[-1])


DOMAINS = {
    "u": lambda rng, s: _signed(rng, s, 0.3, 1.0),  # signed, away from 0 (abs, sign changes)
    "nz": lambda rng, s: _signed(rng, s, 0.5, 1.5),
    "p": lambda rng, s: rng.uniform(0.5, 2.0, size=s),
    "unit": lambda rng, s: rng.uniform(-0.8, 0.8, size=s),
    "l1p": lambda rng, s: rng.uniform(-0.5, 1.0, size=s),
    "gt1": lambda rng, s: rng.uniform(1.2, 3.0, size=s),
    "prob": lambda rng, s: rng.uniform(0.1, 0.9, size=s),
    "moda": lambda rng, s: rng.uniform(2.1, 2.4, size=s),  # a / b in (2.1, 2.67): no jump near
    "modb": lambda rng, s: rng.uniform(0.9, 1.0, size=s),
    "q": lambda rng, s: _grid(rng, s, 0.05, np.arange(2, 10), 0.02, True),  # |x| in (0.23, 0.97), 0.03 off k/10
    "qs": lambda rng, s: _grid(rng, s, 0.0, np.arange(-9, 10), 0.01, False),  # 0.02 off the "q" values
    "qneg": lambda rng, s: _grid(rng, s, 0.0, -np.arange(1, 7), 0.01, False),
    "qpos": lambda rng, s: _grid(rng, s, 0.0, np.arange(1, 7), 0.01, False),
    "distinct": _distinct,
    "dd": _dd,  # diagonally dominant: well conditioned
}


SEED = 0  # --seed: other inputs from the same domains (0: those CI checks)


def inputs(entry):
    rng = np.random.default_rng([zlib.crc32(entry.label.encode()), SEED] if SEED else zlib.crc32(entry.label.encode()))
    args = []
    for shape, dom in zip(entry.shapes, entry.domains):
        value = DOMAINS[dom](rng, shape)
        if entry.dtype == "float64":
            args.append(float(value) if shape == () else np.asarray(value, dtype=np.float64))
        else:  # a 0-d argument is a NumPy scalar of that dtype
            args.append(np.dtype(entry.dtype).type(value) if shape == () else np.asarray(value, dtype=entry.dtype))
    return tuple(args)


def _n_out(entry):
    out = _primal(entry)
    return len(out) if isinstance(out, tuple) else 1


def _scalar_output(entry):
    out = _primal(entry)
    return not isinstance(out, tuple) and np.shape(out) == ()


def _primal(entry):
    """The entry's value computed by NumPy alone (from the entry's text, not the module)."""
    import scipy.special  # noqa: F401

    scope = {"np": np, "scipy": sys.modules["scipy"]}
    scope.update(zip(entry.argnames, inputs(entry)))
    for stmt in entry.pre:
        exec(stmt, scope)  # noqa: S102
    return eval(entry.call, scope)  # noqa: S307


def load(entries=None):
    """Writes the generated module of ``entries`` (default: all) if its text changed, imports it
    and returns it (the same module object for the same text)."""
    entries = ENTRIES if entries is None else entries
    text = module_text(entries)
    folder = os.environ.get("S2SAD_NUMPY_SUITE_DIR") or os.path.join(
        tempfile.gettempdir(), f"s2sad_numpy_suite_{os.getuid()}"
    )
    os.makedirs(folder, exist_ok=True)
    digest = zlib.crc32(text.encode())
    path = os.path.join(folder, f"numpy_suite_entries_{digest:08x}.py")
    if not os.path.exists(path) or open(path).read() != text:
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    name = f"numpy_suite_entries_{digest:08x}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


@dataclass
class Result:
    entry: Entry
    mode: str
    outcome: str
    message: str
    seconds: float


def classify(exc, fn, lines):
    """(outcome, message) for what a check raised (None: it passed)."""
    if exc is None:
        return "PASS", ""
    message = " ".join(str(exc).split())
    if isinstance(exc, AssertionError):
        return "WRONG", message
    if isinstance(exc, InternalError):
        return "CRASH", f"InternalError: {message}"  # a bug of s2sad, whatever line it names
    if isinstance(exc, s2sad.S2SADError):
        path = fn.__code__.co_filename
        named = [int(k) for k in re.findall(re.escape(path) + r":(\d+)", str(exc))]
        if any(lines[0] <= k <= lines[1] for k in named):
            return "REFUSED", f"{type(exc).__name__}: {message.replace(path, os.path.basename(path))}"
        return "CRASH", f"{type(exc).__name__} without the user's file:line: {message}"
    frames = traceback.extract_tb(exc.__traceback__)
    where = next(
        (
            f"{os.path.basename(fr.filename)}:{fr.lineno}"
            for fr in reversed(frames)
            if os.sep + "s2sad" + os.sep in fr.filename or "s2sad_" in os.path.basename(fr.filename)
        ),
        "",
    )
    return "CRASH", f"{type(exc).__name__}: {message}" + (f" (at {where})" if where else "")


def run_check(entry, mode, module, backend="python"):
    args = inputs(entry)
    floats = tuple(range(len(args)))
    if mode == "hessian" and entry.scalar_lines is not None:
        fn, lines = getattr(module, entry.name + "__scalar"), entry.scalar_lines
    else:
        fn, lines = getattr(module, entry.name), entry.lines
    start = time.perf_counter()
    with np.errstate(all="ignore"):
        try:
            if entry.dtype == "float64":
                rc.run_mode(fn, mode, backend, args, floats, repeat=backend == "numba")
            else:
                _run_low_precision(fn, mode, args, floats, backend)
            exc = None
        except Exception as e:  # noqa: BLE001 — every exception is an outcome
            exc = e
    outcome, message = classify(exc, fn, lines)
    return Result(entry, mode, outcome, message, time.perf_counter() - start)


def _blocks(x):
    if isinstance(x, (tuple, list)):
        for item in x:
            yield from _blocks(item)
    else:
        yield x


def _run_low_precision(fn, mode, args, floats, backend):
    """``mode`` of ``fn`` at float32 arguments: an array result must be float32 (API.md); the
    Jacobian is checked by float32 central differences (checks.py picks float32 steps and
    tolerances), v·H·w by second differences of ``fn`` at the same point in float64 (float32
    second differences are mostly rounding), within float32 accuracy."""
    argnums = floats if len(floats) > 1 else floats[0]
    rng = np.random.default_rng(1)
    if mode in ("jacfwd", "jacrev"):
        result = getattr(s2sad, mode)(fn, argnums, backend=backend)(*args)
    else:
        result = s2sad.hessian(fn, argnums, backend=backend)(*args)
    for block in _blocks(result):  # (scalars come back as Python floats, API.md)
        assert isinstance(block, float) or np.asarray(block).dtype == np.float32, (
            f"{mode} of float32 arguments returned {type(block).__name__} of {np.asarray(block).dtype}"
        )
    if mode != "hessian":
        checks.check_jacobian(fn, args, argnums, result, rng=rng)
        return
    wide = tuple(float(a) if np.ndim(a) == 0 else np.asarray(a, np.float64) for a in args)
    H = result if isinstance(argnums, tuple) else ((result,),)
    for _ in range(2):
        v = tuple(rng.standard_normal(np.shape(args[k])) for k in floats)
        w = tuple(rng.standard_normal(np.shape(args[k])) for k in floats)
        expected = float(rc.numerical_bilinear(fn, wide, floats, v, w)[0])
        actual, scale = 0.0, 0.0
        for j in range(len(floats)):
            for k in range(len(floats)):
                block = np.asarray(H[j][k], np.float64)
                actual += float(np.tensordot(np.tensordot(block, w[k], axes=w[k].ndim), v[j], axes=v[j].ndim))
                scale += float(
                    np.tensordot(
                        np.tensordot(np.abs(block), np.abs(w[k]), axes=w[k].ndim), np.abs(v[j]), axes=v[j].ndim
                    )
                )
        assert abs(actual - expected) <= 1e-3 * scale + 1e-2 * abs(expected) + 1e-4, (
            f"v·H·w (float32) vs float64 second differences: got {actual}, expected {expected}"
        )


def select(only="", slice_=None, entries=None):
    """The entries whose family, label or name contains ``only``; ``slice_ = (k, n)``: those whose
    position in the list is k modulo n (deterministic)."""
    entries = ENTRIES if entries is None else entries
    chosen = [
        (i, e) for i, e in enumerate(entries) if not only or only in e.family or only in e.label or only in e.name
    ]
    if slice_ is not None:
        k, n = slice_
        chosen = [(i, e) for i, e in chosen if i % n == k]
    return [e for _, e in chosen]


def run(entries, backend="python", modes=MODES, progress=None, module=None):
    """Every check of ``entries``; ``module``: the generated module that defines them (default:
    the module of all ENTRIES)."""
    module = load() if module is None else module
    results = []
    for e in entries:
        for mode in modes:
            r = run_check(e, mode, module, backend)
            results.append(r)
            if progress:
                progress(r)
    return results


def totals(results):
    counts = {o: 0 for o in OUTCOMES}
    for r in results:
        counts[r.outcome] += 1
    return counts


def report(results, seconds, backend, list_failing=False, width=160, out=sys.stdout):
    by_family = {}
    for r in results:
        by_family.setdefault(r.entry.family, []).append(r)
    print(f"{'function':34} {'checks':>6} {'pass':>5} {'refused':>8} {'wrong':>6} {'crash':>6}", file=out)
    for fam, rows in by_family.items():
        c = totals(rows)
        print(f"{fam:34} {len(rows):6d} {c['PASS']:5d} {c['REFUSED']:8d} {c['WRONG']:6d} {c['CRASH']:6d}", file=out)
    c = totals(results)
    n = len(results)
    print(file=out)
    print(
        f"{n} checks ({len({r.entry.name for r in results})} entries, {len(by_family)} functions; every check "
        f"real-valued) on {backend}: {c['PASS']} pass ({100.0 * c['PASS'] / max(n, 1):.1f}%), "
        f"{c['REFUSED']} refused, {c['WRONG']} wrong, {c['CRASH']} crash; {seconds:.0f} s",
        file=out,
    )
    if list_failing:
        print(file=out)
        for r in results:
            if r.outcome != "PASS":
                print(f"{r.outcome:8} {r.mode:8} {r.entry.name:22} {r.entry.label}", file=out)
                print(f"         {r.message[:width]}", file=out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["python", "numba"], default="python")
    parser.add_argument("--only", default="", help="entries whose function, call or name contains this")
    parser.add_argument("--slice", default="", help="K/N: every N-th entry from the K-th (deterministic)")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--list-failing", action="store_true", help="each check that does not pass, with its message")
    parser.add_argument("--json", default="", help="write every outcome to this file")
    parser.add_argument("--list", action="store_true", help="print the entries and exit")
    parser.add_argument("--seed", type=int, default=0, help="draw other inputs (0: the inputs CI checks)")
    parser.add_argument("--width", type=int, default=220)
    opts = parser.parse_args(argv)
    global SEED
    SEED = opts.seed
    slice_ = tuple(int(v) for v in opts.slice.split("/")) if opts.slice else None
    entries = select(opts.only, slice_)
    if opts.list:
        for e in entries:
            print(f"{e.name:24} {e.label}")
        return 0
    start = time.perf_counter()

    def progress(r):
        if r.outcome in ("WRONG", "CRASH"):
            print(f"  {r.outcome} {r.mode} {r.entry.name}: {r.entry.label}: {r.message[:200]}", file=sys.stderr)

    results = run(entries, opts.backend, tuple(opts.modes.split(",")), progress)
    seconds = time.perf_counter() - start
    report(results, seconds, opts.backend, opts.list_failing, opts.width)
    if opts.json:
        with open(opts.json, "w") as fh:
            json.dump(
                [
                    {
                        "name": r.entry.name,
                        "family": r.entry.family,
                        "label": r.entry.label,
                        "mode": r.mode,
                        "outcome": r.outcome,
                        "message": r.message,
                        "seconds": round(r.seconds, 3),
                    }
                    for r in results
                ],
                fh,
                indent=0,
            )
    c = totals(results)
    return 1 if c["WRONG"] or c["CRASH"] else 0


if __name__ == "__main__":
    sys.exit(main())
