"""Golden (exact-text) files of generated code, and how to make them.

One file per (function, transformation, text):

* ``<case>.<mode>.source.txt``: ``s2sad.source(g, *args)`` on the python backend (the
  readable derivative, before the numba-only passes);
* ``<case>.<mode>.numba.txt``: the module the numba backend compiles for the same
  arguments (after scalarize, accumulate_scatters, rename and fusion), taken where
  ``pipeline.compile`` hands the source to ``backends.compile_source``, without compiling,
  and wrapped as ``backends.numba_module_text`` wraps it, less its first line (s2sad's code
  hash and the NumPy/Numba versions); then the text of each fused kernel (fusion.py) it
  imports.

``tests/test_golden.py`` compares them; ``python -m tests.golden --write`` (from the
repository root) or ``S2SAD_WRITE_GOLDEN=1 python -m pytest tests/test_golden.py`` writes
them again. The texts carry line numbers of ``benchmarks/workloads.py`` and
``tests/sample_functions.py``: an edit there changes them too.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
for folder in (os.path.join(ROOT, "tests"), os.path.join(ROOT, "benchmarks")):
    if folder not in sys.path:
        sys.path.append(folder)  # appended: nothing already importable is shadowed

import workloads as w  # noqa: E402 - after the path set-up above

import s2sad  # noqa: E402 - after the path set-up above
import sample_functions as sf  # noqa: E402 - after the path set-up above

WRITE_ENV = "S2SAD_WRITE_GOLDEN"
REGENERATE = "python -m tests.golden --write"


@dataclass(frozen=True)
class Case:
    name: str  # file name stem
    fn: object  # the user's function (imported, never redefined here)
    argnums: object
    args: tuple
    modes: tuple = ("jacrev", "jacfwd")


def _rk4_args():
    y0, p = w.rk4_inputs()
    return y0, p, w.RK4_DT, 3


def _cases():
    rng = np.random.default_rng(0)
    return (
        # W1: a straight-line layer, tanh(W @ x + b), Jacobian w.r.t. x
        Case("layer", w.predict, 2, w.predict_inputs(3, 4)),
        # W9: RK4 of two coupled pendulums (small arrays in a loop: scalarized on numba)
        Case("rk4", w.rk4_pendulums, (0, 1), _rk4_args()),
        # W10: the Huber loss as a loop with a branch per element (n > scalarize.LIMIT)
        Case("huber", w.huber_loop, 0, (w.huber_inputs(100), w.HUBER_DELTA)),
        # W8: scipy's rosen, the sum form; and its Hessian (second order, glue on numba)
        Case("rosen", w.rosen, 0, (rng.uniform(-1.0, 1.0, 10),), ("jacrev", "jacfwd", "hessian")),
        # helpers returning tuples, called per element in a loop
        Case("calls_helpers", sf.calls_helpers, (0, 1), (rng.standard_normal(5), rng.standard_normal(5))),
        # a loop writing into an array it reads back (a recurrence)
        Case("recurrence", sf.recurrence, (0, 1), (rng.standard_normal(6), 0.7)),
    )


CASES = _cases()
KINDS = ("source", "numba")


def targets():
    """Every (case, mode, kind) with a golden file."""
    return [(case, mode, kind) for case in CASES for mode in case.modes for kind in KINDS]


def path(case, mode, kind):
    return os.path.join(HERE, f"{case.name}.{mode}.{kind}.txt")


def target_id(case, mode, kind):
    return f"{case.name}.{mode}.{kind}"


def _transform(case, mode, backend):
    return getattr(s2sad, mode)(case.fn, case.argnums, backend=backend)


def _describe(args):
    def one(a):
        if isinstance(a, np.ndarray):
            return f"{a.dtype}{list(a.shape)}"
        return type(a).__name__

    return ", ".join(one(a) for a in args)


def _header(case, mode, what):
    return (
        f"# golden: {what} of {mode}({case.fn.__module__}.{case.fn.__name__}, argnums={case.argnums!r})\n"
        f"# arguments: {_describe(case.args)}\n"
        f"# regenerate: {REGENERATE}\n"
    )


def numba_module_source(g, args):
    """(module text, glue) that the numba backend compiles for ``g`` called with ``args``,
    without compiling: the steps of ``Transformed._build`` with ``backends.compile_source``
    replaced, for the call, by one that keeps its arguments."""
    from s2sad import backends, pipeline
    from s2sad.ad.trace import dummy_like
    from s2sad.backends.numba import scalarize

    plain = bool(g._written_params())  # as Transformed._compiled_for decides
    ir = g.ir_for(tuple(dummy_like(a) for a in args), plain)
    spec = scalarize.spec_of(ir, args)
    seen = {}

    def capture(source, name, backend, glue=False, typing_memo=None):
        seen.update(source=source, name=name, backend=backend, glue=glue)

    original = backends.compile_source
    backends.compile_source = capture
    try:
        pipeline.compile(ir, "numba", spec, g.options)
    finally:
        backends.compile_source = original
    assert seen.get("backend") == "numba", "pipeline.compile no longer calls backends.compile_source"
    return backends.numba_module_text(seen["source"], seen["glue"]), seen["glue"], spec


def fused_kernels(text):
    """The modules of the fused kernels (fusion.py) that a numba module ``text`` imports, in
    its order: (name, text) read from the cache folder, where fusion wrote them."""
    from s2sad import backends

    names = re.findall(r"^from s2sad_generated_(fused_[0-9a-f]+) import ", text, re.MULTILINE)
    out = []
    for name in names:
        with open(os.path.join(backends.cache_dir(), name + ".py"), encoding="utf-8") as fh:
            out.append((name, fh.read()))
    return out


def render(case, mode, kind):
    """The text of one golden file, made now."""
    if kind == "source":
        text = s2sad.source(_transform(case, mode, "python"), *case.args)
        return _header(case, mode, "s2sad.source (python backend)") + text.rstrip("\n") + "\n"
    text, glue, spec = numba_module_source(_transform(case, mode, "numba"), case.args)
    first, _, rest = text.partition("\n")
    assert first.startswith("# generated by s2sad"), first
    kernels = "".join(f"\n\n# --- fused kernel {name}.py ---\n{body.rstrip()}\n" for name, body in fused_kernels(text))
    return (
        _header(case, mode, "the module the numba backend compiles")
        + f"# glue={glue}, scalarize spec={spec!r}\n"
        + rest.rstrip("\n")
        + "\n"
        + kernels
    )


def read(case, mode, kind):
    with open(path(case, mode, kind), encoding="utf-8") as fh:
        return fh.read()


def write(case, mode, kind, text=None):
    text = render(case, mode, kind) if text is None else text
    with open(path(case, mode, kind), "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def stray_files():
    """Golden files that no target makes any more."""
    wanted = {os.path.basename(path(*t)) for t in targets()}
    return sorted(f for f in os.listdir(HERE) if f.endswith(".txt") and f not in wanted)
