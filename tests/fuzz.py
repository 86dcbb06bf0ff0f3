"""Random well-typed NumPy programs from s2sad's supported subset, and the checks run on them.

A program is drawn through Hypothesis strategies (so failures shrink), rendered as source text
into a real module file under a temporary folder (s2sad reads source with `inspect`), imported
under a unique module name, and checked:

* jacfwd == jacrev (rtol 1e-9), both against central differences (`checks.check_jacobian`);
* scalar outputs: grad == jacrev; hessian against central differences of grad; hvp against
  the Hessian contracted with the tangents. Second derivatives through loops, branches and
  in-place writes are refused by design: an `S2SADError` saying "not supported" is accepted
  there (and there jacfwd(jacfwd(f)) is checked instead).
* a program s2sad refuses by design (DESIGNED_REFUSALS: a write through a view that another
  name reads later, a tuple indexed at run time) must say so with an `S2SADError` naming the
  program's file:line; it is counted apart, never as checked.

Inputs are drawn away from points of non-differentiability: every `abs`, `maximum`/`minimum`,
`where`, `max` reduction and data-dependent `if` in a program is mirrored in a probe function
that records its margin (|arg|, |a - b|, the gap between the two largest entries, |test|);
inputs whose smallest margin is below MIN_MARGIN are redrawn.

Besides the original statements (elementwise, reductions, matmul, indexing, an accumulating
loop, a branch defining a fresh variable, writes into a fresh array), programs contain the
patterns people write (PATTERNS, issue 16): arguments and existing variables reassigned in for
and while loops, branches updating an existing variable in one or both arms (elif, nested),
nested loops with break/continue, module-level helpers with loops and early returns, in-place
writes into arguments and through views/aliases, Python-float and 0-d arguments, an int
argument n for range(n), arguments of 3 axes with N-d dot/inner/matmul, mixed advanced
indexing, lists and tuples of arrays, accumulators that start as ints. Every float argument is
differentiated, in every mode: jacfwd, jacrev, jvp, vjp, and for scalar outputs grad, hessian,
hvp (second derivatives against second differences of f).

Long campaigns:

    python -m tests.fuzz --n 300 --seed 0 [--backend python|numba] [--patterns all|ci|none|a,b]

prints a summary (failure classes, and per pattern how many programs failed) and appends each
(shrunk) failing program to tests/fuzz_regressions.py (`--no-write` not to).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import itertools
import os
import re
import sys
import tempfile
import time

import numpy as np
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s2sad  # noqa: E402
from checks import check_jacobian, check_jvp, dot_product_test  # noqa: E402

# Scalar arguments: Python floats by default; `--numpy-scalars` passes np.float64 instead
# (jacfwd on the python backend computes in float32 for Python-float arguments: a known bug).
SCALAR_TYPE = float
# Probability that a program leaves some values (and so maybe arguments) unused by its output
# (hessian w.r.t. an argument the output does not depend on fails: a known bug).
DEAD_VALUES = 0.1
MIN_MARGIN = 1e-3  # smallest |kink distance| accepted at the drawn inputs
MAX_MAGNITUDE = 1e4  # largest intermediate accepted (finite differences lose digits beyond)
FWD_REV_RTOL = 1e-9
HERE = os.path.dirname(os.path.abspath(__file__))
REGRESSIONS_PATH = os.path.join(HERE, "fuzz_regressions.py")


# --------------------------------------------------------------------------------------------
# Programs
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Program:
    params: list  # [(name, shape)]: float arguments (shape (): a Python float, or 0-d array)
    consts: list  # [(name, list of ints)]: module-level integer index arrays
    lines: list  # [(indent, text, kind)]; kind: "code", "probe" (probe-only line)
    out_shape: tuple
    control: bool  # loops, branches or in-place writes
    seed: int = 0  # of the numerical inputs
    int_params: list = dataclasses.field(default_factory=list)  # [(name, value)]: constants
    zero_d: frozenset = frozenset()  # names of float params passed as 0-d arrays
    helpers: list = dataclasses.field(default_factory=list)  # [(name, [(indent, text, kind)])]
    patterns: frozenset = frozenset()  # the new patterns this program contains

    def render(self, fname: str, probe: bool = True) -> str:
        """Module source: constants, helpers, `fname(...)`, and (probe) `fname_probe(..., _rec)`.

        A helper `h` is renamed `fname_h`; its probe twin `fname_h_probe(_rec, ...)` records the
        helper's kinks, and the probe function calls the twin."""
        rename = {c: f"{fname.upper()}_{c}" for c, _ in self.consts}
        rename.update({h: f"{fname}_{h}" for h, _ in self.helpers})
        out = []
        for c, values in self.consts:
            out.append(f"{rename[c]} = np.array({values!r})")
        if self.consts:
            out.append("")
        for h, lines in self.helpers:
            for twin in (False, True) if probe else (False,):
                head = lines[0][1].replace(f"def {h}(", f"def {rename[h]}{'_probe(_rec, ' if twin else '('}")
                out.append("")
                out.append(self._line(-1, head, {}))
                for i, t, k in lines[1:]:
                    if k == "code" or twin:
                        out.append(self._line(i, t, rename))
                out.append("")
        out.append("")
        sig = ", ".join([p for p, _ in self.params] + [n for n, _ in self.int_params])
        out.append(f"def {fname}({sig}):")
        out += [self._line(i, t, rename) for i, t, k in self.lines if k == "code"]
        if probe:
            probe_rename = dict(rename)
            probe_rename.update({f"{h}(": f"{fname}_{h}_probe(_rec, " for h, _ in self.helpers})
            out += ["", ""]
            out.append(f"def {fname}_probe({sig}, _rec):")
            out += [self._line(i, t, probe_rename) for i, t, k in self.lines if k in ("code", "probe")]
        return "\n".join(out) + "\n"

    @staticmethod
    def _line(indent, text, rename):
        for c, new in sorted(rename.items(), key=lambda item: -len(item[0])):
            if c.endswith("("):
                text = re.sub(r"(?<![\w.])" + re.escape(c), new, text)
            else:
                text = re.sub(r"\b" + re.escape(c) + r"\b", new, text)
        return "    " * (indent + 1) + text

    def source(self, fname="f"):
        return self.render(fname, probe=False)

    def inputs(self, seed=None):
        rng = np.random.default_rng(self.seed if seed is None else seed)
        floats = []
        for name, shape in self.params:
            if shape == ():
                value = rng.uniform(-1.0, 1.0)
                floats.append(np.asarray(value) if name in self.zero_d else SCALAR_TYPE(value))
            else:
                floats.append(rng.uniform(-1.0, 1.0, size=shape))
        return tuple(floats) + tuple(v for _, v in self.int_params)


class Recorder:
    """Receives the probe function's margins and magnitudes."""

    def __init__(self):
        self.margin = np.inf
        self.magnitude = 0.0

    def kink(self, value):  # distance of a kink argument from 0
        value = np.abs(np.asarray(value, dtype=np.float64))
        if value.size:
            self.margin = min(self.margin, float(np.min(value)))

    def gap(self, value, axis=None):  # distance between the two largest entries
        value = np.asarray(value, dtype=np.float64)
        if axis is None:
            value, axis = value.reshape(-1), 0
        if value.shape[axis] < 2:
            return
        s = np.sort(value, axis=axis)
        top = np.take(s, -1, axis=axis) - np.take(s, -2, axis=axis)
        self.margin = min(self.margin, float(np.min(top)))

    def mag(self, value):
        value = np.asarray(value, dtype=np.float64)
        if value.size:
            self.magnitude = max(self.magnitude, float(np.max(np.abs(value))))


class _Gen:
    """Bottom-up program builder: every statement defines a fresh variable from live ones."""

    def __init__(self, draw, allow_control, patterns=frozenset(), focus=False):
        self.draw = draw
        self.focus = focus
        self.allow_control = allow_control
        self.patterns = frozenset(patterns)  # the new patterns this program may use
        self.used = set()  # ... and those it does use
        self.env = {}  # name -> shape (live, in definition order)
        self.lines = []
        self.consts = []
        self.helpers = []  # [(name, lines)]
        self.int_params = []  # [(name, value)]
        self.counter = itertools.count(1)
        self.indent = 0
        self.control = False

    # --- helpers ---------------------------------------------------------------------------

    def fresh(self, prefix="v"):
        return f"{prefix}{next(self.counter)}"

    def emit(self, text, kind="code"):
        self.lines.append((self.indent, text, kind))

    def probe(self, text):
        self.emit(text, "probe")

    def assign(self, name, expr, shape, probes=()):
        for p in probes:
            self.probe(p)
        self.emit(f"{name} = {expr}")
        self.probe(f"_rec.mag({name})")
        self.env[name] = shape

    def pick(self, pred=lambda s: True, avoid=()):
        names = [n for n, s in self.env.items() if pred(s) and n not in avoid]
        if not names:
            return None
        # bias towards recent variables, so later statements depend on earlier ones
        k = self.draw(st.integers(0, len(names) - 1))
        return names[len(names) - 1 - k] if self.draw(st.booleans()) else names[k]

    def const(self):
        return self.draw(st.sampled_from(["0.5", "1.5", "2.0", "-0.7", "0.3", "3.0"]))

    # --- expressions (strings, fully parenthesized) ----------------------------------------

    def unary(self, e, probes):
        op = self.draw(
            st.sampled_from(
                [
                    "sin",
                    "cos",
                    "tanh",
                    "exp_tanh",
                    "exp",
                    "log",
                    "sqrt",
                    "square",
                    "abs",
                    "pow2",
                    "pow3",
                    "neg",
                    "scale",
                    "shift",
                ]
            )
        )
        if op in ("sin", "cos", "tanh", "square"):
            return f"np.{op}({e})"
        if op == "exp_tanh":
            return f"np.exp(np.tanh({e}))"
        if op == "exp":
            return f"np.exp({e})"  # bounded by the magnitude probe
        if op == "log":
            return f"np.log(1.0 + {e} * {e})"
        if op == "sqrt":
            return f"np.sqrt(1.0 + {e} * {e})"
        if op == "abs":
            probes.append(f"_rec.kink({e})")
            return f"np.abs({e})"
        if op == "pow2":
            return f"({e} ** 2)"
        if op == "pow3":
            return f"({e} ** 3)"
        if op == "neg":
            return f"(-{e})"
        if op == "shift":
            return f"({e} + {self.const()})"
        return f"({self.const()} * {e})"

    def binary(self, a, b, probes):
        op = self.draw(st.sampled_from(["+", "-", "*", "/", "max", "min", "where"]))
        if op in "+-*":
            return f"({a} {op} {b})"
        if op == "/":
            return f"({a} / (1.0 + {b} * {b}))"
        if op in ("max", "min"):
            probes.append(f"_rec.kink({a} - {b})")
            return f"np.{op}imum({a}, {b})"
        if op == "where":
            probes.append(f"_rec.kink({a} - {b})")
            return f"np.where({a} > {b}, {a} * {b}, {b})"

    def elementwise(self, probes, depth=0):
        """An elementwise expression over one or two broadcastable live variables."""
        a = self.pick()
        sa = self.env[a]
        if self.draw(st.booleans()):
            b = self.pick(lambda s: _broadcast(sa, s) is not None, avoid=(a,))
            if b is not None:
                shape = _broadcast(sa, self.env[b])
                ea, eb = a, b
                if self.draw(st.booleans()):
                    ea = self.unary(a, probes)
                return self.binary(ea, eb, probes), shape
        return self.unary(a, probes), sa

    # --- statements -------------------------------------------------------------------------

    def statement(self):
        kinds = ["elementwise", "elementwise", "reduce", "matmul", "transpose", "reshape", "index"]
        if self.allow_control:
            kinds += ["loop", "branch", "inplace"]
        mine = [
            k for k in self.patterns if k in STATEMENT_PATTERNS and (self.allow_control or k not in CONTROL_PATTERNS)
        ]
        if self.focus and mine:  # mostly the chosen patterns
            kinds = ["elementwise"] + mine * 3
        kinds += mine
        kind = self.draw(st.sampled_from(sorted(kinds)))
        if not getattr(self, "st_" + kind)():
            self.st_elementwise()
        elif kind in STATEMENT_PATTERNS:
            self.used.add(kind)

    def st_elementwise(self):
        probes = []
        expr, shape = self.elementwise(probes)
        self.assign(self.fresh(), expr, shape, probes)
        return True

    def st_reduce(self):
        a = self.pick(lambda s: s != ())
        if a is None:
            return False
        shape = self.env[a]
        fn = self.draw(st.sampled_from(["sum", "mean", "max"]))
        axes = [None] + list(range(len(shape)))
        axis = self.draw(st.sampled_from(axes))
        method = self.draw(st.booleans())
        if axis is None:
            expr = f"{a}.{fn}()" if method else f"np.{fn}({a})"
            out = ()
        else:
            expr = f"{a}.{fn}(axis={axis})" if method else f"np.{fn}({a}, axis={axis})"
            out = shape[:axis] + shape[axis + 1 :]
        probes = [f"_rec.gap({a}, {axis})"] if fn == "max" else []
        self.assign(self.fresh(), expr, out, probes)
        return True

    def st_matmul(self):
        pairs = []
        for a, sa in self.env.items():
            for b, sb in self.env.items():
                if len(sa) > 2 or len(sb) > 2:  # 3-d operands: st_nd_product
                    continue
                if len(sa) == 2 and len(sb) >= 1 and sa[1] == sb[0]:
                    pairs.append((a, b, sa[:1] + sb[1:]))
                if len(sa) == 2 and len(sb) >= 1 and sa[0] == sb[0]:  # A.T @ b
                    pairs.append((f"{a}.T", b, sa[1:] + sb[1:]))
                if len(sa) == 1 and len(sb) == 2 and sa[0] == sb[0]:
                    pairs.append((a, b, sb[1:]))
                if len(sa) == 1 and len(sb) == 1 and sa == sb and a != b:
                    pairs.append((a, b, ()))
        if not pairs:
            return False
        a, b, out = self.draw(st.sampled_from(pairs))
        self.assign(self.fresh(), f"{a} @ {b}", out)
        return True

    def st_transpose(self):
        a = self.pick(lambda s: len(s) == 2)
        if a is None:
            return False
        s = self.env[a]
        probes = []
        expr = self.unary(f"{a}.T", probes) if self.draw(st.booleans()) else f"{a}.T"
        self.assign(self.fresh(), expr, (s[1], s[0]), probes)
        return True

    def st_reshape(self):
        a = self.pick(lambda s: len(s) == 2 or (len(s) == 1 and _divisors(s[0])))
        if a is None:
            return False
        s = self.env[a]
        if len(s) == 2:
            arg = self.draw(st.sampled_from(["-1", str(s[0] * s[1])]))
            self.assign(self.fresh(), f"{a}.reshape({arg})", (s[0] * s[1],))
        else:
            p = self.draw(st.sampled_from(_divisors(s[0])))
            self.assign(self.fresh(), f"{a}.reshape({p}, {s[0] // p})", (p, s[0] // p))
        return True

    def st_index(self):
        a = self.pick(lambda s: s != () and s[0] >= 2)
        if a is None:
            return False
        s = self.env[a]
        options = ["head", "tail", "const", "fancy"]
        if len(s) == 2 and s[1] >= 2:
            options += ["col_tail", "col"]
        how = self.draw(st.sampled_from(options))
        if how == "head":
            expr, out = f"{a}[1:]", (s[0] - 1,) + s[1:]
        elif how == "tail":
            expr, out = f"{a}[:-1]", (s[0] - 1,) + s[1:]
        elif how == "const":
            i = self.draw(st.integers(-s[0], s[0] - 1))
            expr, out = f"{a}[{i}]", s[1:]
        elif how == "col_tail":
            expr, out = f"{a}[:, 1:]", (s[0], s[1] - 1)
        elif how == "col":
            j = self.draw(st.integers(0, s[1] - 1))
            expr, out = f"{a}[:, {j}]", (s[0],)
        else:
            idx = self.draw(st.lists(st.integers(0, s[0] - 1), min_size=1, max_size=5))
            name = f"IDX{len(self.consts)}"
            self.consts.append((name, idx))
            expr, out = f"{a}[{name}]", (len(idx),) + s[1:]
        self.assign(self.fresh(), expr, out)
        return True

    def st_loop(self):
        """acc = init; for i in range(k): acc = acc (+|recurrence) f(..., i)."""
        self.control = True
        probes = []
        term, shape = self.elementwise(probes)
        indexable = self.pick(lambda s: s != () and s[0] >= 2)
        acc = self.fresh("acc")
        k = self.draw(st.integers(1, 4))
        init = "0.0" if shape == () else f"np.zeros({shape!r})"
        variant = self.draw(st.sampled_from(["sum", "scaled", "recur", "indexed", "branch"]))
        if variant == "indexed" and indexable is not None:
            k = min(k, self.env[indexable][0])
            item_shape = self.env[indexable][1:]
            if _broadcast(item_shape, shape) is None:
                variant = "sum"
        self.assign(acc, init, shape)
        self.emit(f"for i in range({k}):" if variant == "indexed" else self.loop_header(k))
        self.indent += 1
        for p in probes:
            self.probe(p)
        if variant == "scaled":
            body = f"{acc} + {term} * (i + 1.0)"
        elif variant == "recur":
            body = f"np.tanh({acc}) * 0.9 + {term}"
        elif variant == "indexed" and indexable is not None:
            shape = _broadcast(self.env[indexable][1:], shape)
            body = f"{acc} + np.sin({indexable}[i] + 0.1 * i) * {term}"
        elif variant == "branch":
            test = self.pick()
            self.probe(f"_rec.kink(np.sum({test}) - 0.1 * i)")
            self.emit(f"if np.sum({test}) > 0.1 * i:")
            self.indent += 1
            self.emit(f"{acc} = {acc} + {term}")
            self.indent -= 1
            self.emit("else:")
            self.indent += 1
            self.emit(f"{acc} = {acc} * 0.5 - {term}")
            self.probe(f"_rec.mag({acc})")
            self.indent -= 2
            return True
        else:
            body = f"{acc} + {term}"
        self.emit(f"{acc} = {body}")
        self.probe(f"_rec.mag({acc})")
        self.indent -= 1
        self.env[acc] = shape
        return True

    def st_branch(self):
        """if np.sum(v) > c: w = e1 else: w = e2."""
        self.control = True
        test = self.pick()
        c = self.draw(st.sampled_from(["0.0", "0.5", "-0.5"]))
        probes1, probes2 = [], []
        e1, s1 = self.elementwise(probes1)
        for _ in range(5):
            e2, s2 = self.elementwise(probes2)
            if s2 == s1:
                break
        else:
            e2 = f"({e1} * 0.5)"
        w = self.fresh("w")
        self.probe(f"_rec.kink(np.sum({test}) - {c})")
        self.emit(f"if np.sum({test}) > {c}:")
        self.indent += 1
        for p in probes1:
            self.probe(p)
        self.emit(f"{w} = {e1}")
        self.indent -= 1
        self.emit("else:")
        self.indent += 1
        for p in probes2:
            self.probe(p)
        self.emit(f"{w} = {e2}")
        self.indent -= 1
        self.probe(f"_rec.mag({w})")
        self.env[w] = s1
        return True

    def st_inplace(self):
        """y = np.zeros(...); y[i] = ... (in a loop, or at constant positions)."""
        self.control = True
        src = self.pick(lambda s: s != () and s[0] >= 2)
        if src is None:
            return False
        s = self.env[src]
        y = self.fresh("y")
        scal = self.pick(lambda t: t == () or t == s[1:])
        extra = f" * {scal}" if scal is not None else ""
        self.assign(y, f"np.zeros({s!r})", s)
        variant = self.draw(st.sampled_from(["loop", "recurrence", "constant"]))
        if variant == "loop":
            self.emit(f"for i in range({s[0]}):")
            self.indent += 1
            self.emit(f"{y}[i] = np.sin({src}[i]){extra} + i")
            self.indent -= 1
        elif variant == "recurrence":
            self.emit(f"{y}[0] = {src}[0]")
            self.emit(f"for i in range({s[0] - 1}):")
            self.indent += 1
            self.emit(f"{y}[i + 1] = 0.5 * {y}[i]{extra} + {src}[i + 1]")
            self.indent -= 1
        else:
            i = self.draw(st.integers(0, s[0] - 1))
            j = self.draw(st.integers(0, s[0] - 1))
            self.emit(f"{y}[{i}] = np.cos({src}[{j}]){extra}")
            self.emit(f"{y}[{j}] = {y}[{j}] + {src}[{i}] * 2.0")
        self.probe(f"_rec.mag({y})")
        return True

    # --- the patterns people write (issue 16) ----------------------------------------------

    def shape_of(self, expr):
        """The shape NumPy gives `expr` over the live variables (ones), or None if it fails."""
        scope = {"np": np}
        scope.update({n: np.ones(s) if s != () else 1.0 for n, s in self.env.items()})
        scope.update({c: np.array(v) for c, v in self.consts})
        try:
            with np.errstate(all="ignore"):
                return tuple(np.shape(eval(expr, scope)))  # noqa: S307 — our own generated text
        except Exception:  # noqa: BLE001
            return None

    def term(self, shape, probes, avoid=()):
        """An elementwise expression over another live variable that broadcasts into `shape`."""
        b = self.pick(lambda s: _broadcast(shape, s) == shape, avoid=avoid)
        if b is None:
            return self.const()
        return self.unary(b, probes) if self.draw(st.booleans()) else b

    def loop_header(self, k=None):
        """`for i in range(k):` (k drawn if None), or over `range(n)`, an int argument."""
        if "range_arg" in self.patterns and self.draw(st.booleans()):
            if not self.int_params:
                self.int_params.append(("n", self.draw(st.integers(1, 3))))
            self.used.add("range_arg")
            return "for i in range(n):"
        return f"for i in range({self.draw(st.integers(1, 3)) if k is None else k}):"

    def update(self, v, probes, avoid=()):
        """A new value for the existing variable `v`, from `v` itself (same shape)."""
        shape = self.env[v]
        t = self.term(shape, probes, avoid=(v,) + tuple(avoid))
        how = self.draw(st.sampled_from(["square", "normalize", "tanh", "scale", "step", "sin"]))
        if how == "square":
            return f"{v} * {v} * 0.5 + 0.1 * {t}"
        if how == "normalize":
            return f"{v} / np.sqrt(1.0 + np.sum({v} * {v})) + 0.1 * {t}"
        if how == "tanh":
            return f"np.tanh({v}) * 0.9 + 0.2 * {t}"
        if how == "scale":
            return f"{v} * (0.5 + 0.25 * np.tanh({t}))"
        if how == "step":
            return f"{v} - 0.1 * {v} ** 3 + 0.1 * {t}"
        return f"np.sin({v}) + 0.5 * {v} * {t}"

    def st_reassign_loop(self):
        """v = g(v, ...) inside a for loop: an argument or an existing variable reassigned."""
        self.control = True
        v = self.pick()
        probes = []
        body = self.update(v, probes)
        self.emit(self.loop_header())
        self.indent += 1
        for p in probes:
            self.probe(p)
        self.emit(f"{v} = {body}")
        if self.draw(st.booleans()):  # a second variable, updated from the first in the same trip
            w = self.pick(lambda s: _broadcast(s, self.env[v]) == s, avoid=(v,))
            if w is not None:
                self.emit(f"{w} = {w} * 0.8 + 0.2 * np.tanh({v})")
                self.probe(f"_rec.mag({w})")
        self.probe(f"_rec.mag({v})")
        self.indent -= 1
        return True

    def st_while_loop(self):
        """while loops that reassign an existing variable: a counter, or a data-dependent stop."""
        self.control = True
        v = self.pick()
        j = self.fresh("j")
        if self.draw(st.booleans()):
            probes = []
            body = self.update(v, probes)
            self.emit(f"{j} = 0")
            self.emit(f"while {j} < {self.draw(st.integers(1, 3))}:")
            self.indent += 1
            for p in probes:
                self.probe(p)
            self.emit(f"{v} = {body}")
            self.emit(f"{j} = {j} + 1")
            self.probe(f"_rec.mag({v})")
            self.indent -= 1
            return True
        c = self.draw(st.sampled_from(["0.05", "0.2", "0.5"]))
        factor = self.draw(st.sampled_from(["0.5", "0.7", "0.9"]))
        cond = f"np.sum({v} * {v}) > {c}"
        self.emit(f"{j} = 0")
        self.emit(f"while {j} < 40 and {cond}:")
        self.indent += 1
        self.probe(f"_rec.kink(np.sum({v} * {v}) - {c})")
        self.emit(f"{v} = {v} * {factor}")
        self.emit(f"{j} = {j} + 1")
        self.indent -= 1
        self.probe(f"_rec.kink(np.sum({v} * {v}) - {c})")
        self.probe(f"_rec.mag({v})")
        return True

    def st_branch_update(self):
        """if ...: v = g(v) [else: v = h(v)]: an existing variable updated in one arm or both,
        possibly in a nested chain."""
        self.control = True
        v = self.pick()
        shape = self.env[v]

        def test():  # its probe goes before the whole chain: no arm has run when it is read
            t = self.pick()
            c = self.draw(st.sampled_from(["0.0", "0.5", "-0.5"]))
            self.probe(f"_rec.kink(np.sum({t}) - {c})")
            return f"np.sum({t}) > {c}"

        def arm():
            self.indent += 1
            probes = []
            body = self.update(v, probes)
            for p in probes:
                self.probe(p)
            self.emit(f"{v} = {body}")
            self.probe(f"_rec.mag({v})")
            self.indent -= 1

        form = self.draw(st.sampled_from(["one_arm", "both_arms", "elif", "nested"]))
        first = test()
        second = test() if form == "elif" else None
        self.emit(f"if {first}:")
        if form == "nested":
            self.indent += 1
            self.emit(f"if {test()}:")
            arm()
            if self.draw(st.booleans()):
                self.emit("else:")
                arm()
            self.indent -= 1
        else:
            arm()
        if form == "elif":
            self.emit(f"elif {second}:")
            arm()
        if form in ("both_arms", "elif", "nested") and self.draw(st.booleans()):
            self.emit("else:")
            arm()
        self.env[v] = shape
        return True

    def st_nested_break(self):
        """Nested loops with break / continue, accumulating into a fresh variable."""
        self.control = True
        probes = []
        term, shape = self.elementwise(probes)
        acc = self.fresh("acc")
        self.assign(acc, "0.0" if shape == () else f"np.zeros({shape!r})", shape)
        k1, k2 = self.draw(st.integers(1, 3)), self.draw(st.integers(1, 3))
        self.emit(f"for i in range({k1}):")
        self.indent += 1
        self.emit(f"for j in range({k2}):")
        self.indent += 1
        how = self.draw(st.sampled_from(["triangle", "parity", "value", "value_continue"]))
        if how == "triangle":
            self.emit("if j > i:")
            self.indent += 1
            self.emit("break")
            self.indent -= 1
        elif how == "parity":
            self.emit("if (i + j) % 2 == 1:")
            self.indent += 1
            self.emit("continue")
            self.indent -= 1
        else:
            c = self.draw(st.sampled_from(["0.5", "1.0", "-0.5"]))
            self.probe(f"_rec.kink(np.sum({acc}) - {c})")
            self.emit(f"if np.sum({acc}) > {c}:")
            self.indent += 1
            self.emit("break" if how == "value" else "continue")
            self.indent -= 1
        for p in probes:
            self.probe(p)
        self.emit(f"{acc} = {acc} + {term} * (1.0 + 0.5 * j - 0.25 * i)")
        self.probe(f"_rec.mag({acc})")
        self.indent -= 2
        return True

    def st_helper(self):
        """A call to a module-level helper with a loop and/or an early return."""
        self.control = True
        a = self.pick()
        shape = self.env[a]
        h = self.fresh("h")
        form = self.draw(st.sampled_from(["loop", "early_return", "loop_break_return", "reassign_arg"]))
        L = []

        def line(indent, text, kind="code"):
            L.append((indent, text, kind))

        if form == "loop":
            k = self.draw(st.integers(1, 3))
            line(0, f"def {h}(v):")
            line(0, "out = v")
            line(0, f"for _ in range({k}):")
            line(1, "out = np.tanh(out) * 0.8 + 0.2 * v")
            line(1, "_rec.mag(out)", "probe")
            line(0, "return out")
            call = f"{h}({a})"
        elif form == "early_return":
            c = self.draw(st.sampled_from(["0.0", "0.5"]))
            line(0, f"def {h}(v):")
            line(0, f"_rec.kink(np.sum(v) - {c})", "probe")
            line(0, f"if np.sum(v) > {c}:")
            line(1, "return v * 0.5 + 0.1")
            line(0, "return np.sin(v)")
            call = f"{h}({a})"
        elif form == "loop_break_return":
            w = self.pick(lambda s: _broadcast(shape, s) == shape)
            line(0, f"def {h}(v, w):")
            line(0, "acc = v * 0.0")
            line(0, "for i in range(3):")
            line(1, "acc = acc + np.sin(v + 0.1 * i) * w")
            line(1, "_rec.kink(np.sum(acc) - 1.0)", "probe")
            line(1, "if np.sum(acc) > 1.0:")
            line(2, "break")
            line(0, "_rec.kink(np.sum(w))", "probe")
            line(0, "if np.sum(w) > 0.0:")
            line(1, "return acc")
            line(0, "return acc * 0.5")
            call = f"{h}({a}, {w})"
        else:  # the helper reassigns its argument in a loop
            line(0, f"def {h}(v):")
            line(0, "for _ in range(2):")
            line(1, "v = v - 0.1 * v ** 3")
            line(1, "_rec.mag(v)", "probe")
            line(0, "return v")
            call = f"{h}({a})"
        self.helpers.append((h, L))
        self.assign(self.fresh("u"), call, shape)
        return True

    def st_inplace_arg(self):
        """In-place writes into an argument (or a variable) that the function then reads."""
        self.control = True
        p = self.pick(lambda s: s != () and s[0] >= 2)
        if p is None:
            return False
        n0 = self.env[p][0]
        i, j = self.draw(st.integers(0, n0 - 1)), self.draw(st.integers(0, n0 - 1))
        how = self.draw(st.sampled_from(["product", "augmented", "slice", "loop"]))
        if how == "product":
            self.emit(f"{p}[{i}] = {p}[{i}] * {p}[{j}]")
        elif how == "augmented":
            self.emit(f"{p}[{i}] += np.sin({p}[{j}])")
        elif how == "slice":
            self.emit(f"{p}[1:] = {p}[1:] * 0.5 + {p}[:-1]")
        else:
            self.emit(f"for i in range(1, {n0}):")
            self.indent += 1
            self.emit(f"{p}[i] = {p}[i] * 0.5 + {p}[i - 1]")
            self.indent -= 1
        self.probe(f"_rec.mag({p})")
        return True

    def st_view_write(self):
        """Writes through a view or an alias: NumPy writes into the base array."""
        self.control = True
        src = self.pick(lambda s: s != () and s[0] >= 2)
        if src is None:
            return False
        s = self.env[src]
        y = self.fresh("y")
        z = self.fresh("z")
        how = self.draw(st.sampled_from(["slice", "alias", "reshape", "row"]))
        self.assign(y, f"{src} * 1.0" if how in ("alias", "row") else f"np.zeros({s!r})", s)
        if how == "slice":
            self.emit(f"{z} = {y}[1:]")
            self.emit(f"{z}[0] = np.sin({src}[0]) * 3.0")
        elif how == "alias":
            self.emit(f"{z} = {y}")
            self.emit(f"{z}[0] = {z}[0] * {z}[1]")
        elif how == "reshape":
            self.emit(f"{z} = {y}.reshape(-1)")
            self.emit(f"{z}[1] = np.cos({src}.reshape(-1)[0])")
        else:
            self.emit(f"{z} = {y}[1]")
            self.emit(f"{z} *= 2.0")
        self.emit(y, "touch")  # y changed through z: its value is unread again
        self.probe(f"_rec.mag({y})")
        return True

    def st_nd_product(self):
        """np.dot / np.inner / @ / np.matmul with an operand of 3 axes, or a 0-d beside an N-d one."""
        names = list(self.env)
        options = []
        for a in names:
            for b in names:
                ra, rb = len(self.env[a]), len(self.env[b])
                if max(ra, rb) < 3 and not (min(ra, rb) == 0 and max(ra, rb) >= 1):
                    continue
                for form in ("np.dot({}, {})", "np.inner({}, {})", "{} @ {}", "np.matmul({}, {})"):
                    expr = form.format(a, b)
                    shape = self.shape_of(expr)
                    if shape is not None:
                        options.append((expr, shape))
        if not options:
            return False
        expr, shape = self.draw(st.sampled_from(options))
        self.assign(self.fresh(), expr, shape)
        return True

    def st_mixed_index(self):
        """Mixed basic and advanced indexing: x[1, 1:, [0, 2]] (NumPy moves advanced axes first)."""
        a = self.pick(lambda s: len(s) >= 2 and min(s) >= 2)
        if a is None:
            return False
        s = self.env[a]
        idx = self.draw(st.lists(st.integers(0, s[-1] - 1), min_size=1, max_size=3))
        name = f"IDX{len(self.consts)}"
        self.consts.append((name, idx))
        pair = f"[0, {s[-1] - 1}]"
        forms = [f"{a}[1:, {pair}]", f"{a}[{pair}, 1:]", f"{a}[:, {name}]", f"{a}[{name}, 0]", f"{a}[0, {name}]"]
        if len(s) == 3:
            forms += [f"{a}[1, 1:, {pair}]", f"{a}[:, {pair}, 1]", f"{a}[{pair}, :, 0]", f"{a}[1:, 0, {name}]"]
        options = [(e, self.shape_of(e)) for e in forms]
        options = [(e, sh) for e, sh in options if sh is not None]
        if not options:
            return False
        expr, shape = self.draw(st.sampled_from(options))
        self.assign(self.fresh(), expr, shape)
        return True

    def st_size_facts(self):
        """Calls whose result's rank depends on sizes: np.squeeze without axis of arrays with
        size-1 axes (made by None, keepdims, a [:1] slice, or none), np.cross of 2-vectors
        and of a 3-vector with a 2-vector (s2sad/analysis/sizes.py)."""
        a = self.pick(lambda s: len(s) >= 1)
        if a is None:
            return False
        s = self.env[a]
        forms = [
            f"np.squeeze({a})",
            f"np.squeeze({a}[None])",
            f"np.squeeze({a}[:1])",
            f"np.squeeze(np.sum({a}, axis=0, keepdims=True))",
            f"np.squeeze(np.sin({a})[..., None] * 2.0)",
        ]
        b = self.pick(lambda t: t == s, avoid=(a,))
        if b is not None and s[-1] >= 2:
            forms += [f"np.cross({a}[..., :2], {b}[..., :2])", f"np.cross({a}[..., :2] * {b}[..., :2], {b}[..., :2])"]
            if s[-1] >= 3:
                forms += [f"np.cross({a}[..., :3], {b}[..., :2])", f"np.cross({b}[..., 1:3], {a}[..., :3])"]
        options = [(e, self.shape_of(e)) for e in forms]
        options = [(e, sh) for e, sh in options if sh is not None]
        if not options:
            return False
        expr, shape = self.draw(st.sampled_from(options))
        self.assign(self.fresh(), expr, shape)
        return True

    def st_list_arrays(self):
        """Lists and tuples of arrays: indexed, summed, stacked, iterated over."""
        a = self.pick()
        sa = self.env[a]
        b = self.pick(lambda s: s == sa, avoid=(a,))
        if b is None:
            return False
        lst = self.fresh("lst")
        how = self.draw(
            st.sampled_from(["index", "np_sum", "stack", "loop", "tuple_loop", "concat", "nested", "nested_array"])
        )
        if how == "concat" and len(sa) != 1:
            how = "index"
        if how == "index":
            self.emit(f"{lst} = [{a}, {b}]")
            self.assign(self.fresh(), f"{lst}[0] * {lst}[1] + {lst}[1]", sa)
        elif how == "np_sum":
            self.assign(self.fresh(), f"np.sum([{a}, {b}])", ())
        elif how == "nested":  # a tuple of tuples, read two levels deep
            self.emit(f"{lst} = (({a}, {b}), ({b}, {a} * {b}))")
            self.assign(self.fresh(), f"{lst}[0][1] * {lst}[1][1] + np.sin({lst}[1][0])", sa)
        elif how == "nested_array":  # np.array of rows: shape (2, 2) + the items' shape
            self.assign(self.fresh(), f"np.array([[{a}, {b}], [{b} * {a}, np.cos({a})]])", (2, 2) + sa)
        elif how == "stack":
            self.assign(self.fresh(), f"np.stack([{a}, np.sin({b})])", (2,) + sa)
        elif how == "concat":
            self.assign(self.fresh(), f"np.concatenate([{a}, {b} * {b}])", (2 * sa[0],))
        else:
            acc = self.fresh("acc")
            self.assign(acc, "0.0" if sa == () else f"np.zeros({sa!r})", sa)
            if how == "loop":
                self.emit(f"for item in [{a}, {b}]:")
                self.indent += 1
                self.emit(f"{acc} = {acc} + np.sin(item)")
            else:
                self.emit(f"{lst} = ({a}, {b})")
                self.emit("for i in range(2):")
                self.indent += 1
                self.emit(f"{acc} = {acc} + np.sin({lst}[i])")
            self.indent -= 1
        return True

    def st_int_start(self):
        """A scalar accumulator that starts as a Python int: acc = 1; acc = acc * t in a loop."""
        self.control = True
        probes = []
        t = self.term((), probes)
        acc = self.fresh("acc")
        start = self.draw(st.sampled_from(["0", "1", "2"]))
        self.assign(acc, start, ())
        self.emit(f"for i in range({self.draw(st.integers(1, 3))}):")
        self.indent += 1
        for p in probes:
            self.probe(p)
        form = self.draw(st.sampled_from(["product", "sum", "squashed_product", "squashed_sum"]))
        if form == "product":
            self.emit(f"{acc} = {acc} * {t}")
        elif form == "sum":
            self.emit(f"{acc} = {acc} + {t} * {t}")
        else:
            op = "*" if form == "squashed_product" else "+"
            self.emit(f"{acc} = {acc} {op} (0.5 + 0.5 * np.tanh({t}))")
        self.probe(f"_rec.mag({acc})")
        self.indent -= 1
        return True


# The patterns of issue 16 the generator can write (`programs(patterns=...)`). Statement
# patterns are `_Gen.st_<name>`; "zero_d" passes some scalar arguments as 0-d arrays, "nd"
# adds arguments of 3 axes, "range_arg" an int argument n that loops run over.
STATEMENT_PATTERNS = (
    "reassign_loop",
    "while_loop",
    "branch_update",
    "nested_break",
    "helper",
    "inplace_arg",
    "view_write",
    "nd_product",
    "mixed_index",
    "list_arrays",
    "int_start",
    "size_facts",
)
CONTROL_PATTERNS = {
    "reassign_loop",
    "while_loop",
    "branch_update",
    "nested_break",
    "helper",
    "inplace_arg",
    "view_write",
    "int_start",
}
PATTERNS = STATEMENT_PATTERNS + ("zero_d", "nd", "range_arg")
# Patterns whose programs fail today, with the issue-16 causes (tests/test_catalogue.py's
# CAUSES): off in the CI slice, on in campaigns; tests/test_fuzz.py expects each to fail
# (strict xfail), so a fix that makes one pass shows, and its entry must go.
KNOWN_FAILING_PATTERNS = {}
CI_PATTERNS = frozenset(PATTERNS) - set(KNOWN_FAILING_PATTERNS)


_NAME = re.compile(r"\b(?:x|v|acc|w|y|u|z|lst)\d+\b")
_TARGET = re.compile(r"^([A-Za-z_]\w*)(\[.*\])? (=|\+=|-=|\*=|/=) (.*)$")


def _unread(g):
    """Live values whose last value no statement reads (in program order: a variable
    reassigned after its last read is unread again; "touch" lines mark a write through a view)."""
    pending = set(g.params)
    for _, text, kind in g.lines:
        if kind == "touch":
            pending.add(text)
            continue
        if kind != "code":
            continue
        m = _TARGET.match(text)
        if m and not text.startswith(("if ", "elif ", "for ", "while ", "return ")):
            target, sub, op, rhs = m.groups()
            reads = set(_NAME.findall(rhs)) | set(_NAME.findall(sub or ""))
            pending -= reads
            pending.add(target)
        else:
            pending -= set(_NAME.findall(text))
    return [v for v in g.env if v in pending]


def _broadcast(a, b):
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        return None


def _divisors(n):
    return [p for p in (2, 3) if n % p == 0 and 1 < p < n]


SHAPES = st.sampled_from([(), "n", "mn", "nm", "m"])
SHAPES_ND = st.sampled_from([(), "n", "mn", "nm", "m", "lmn"])


@st.composite
def programs(
    draw, allow_control=True, max_statements=6, scalar_output=None, dead_values=None, patterns=None, focus=False
):
    """A random program. `patterns`: the issue-16 patterns it may contain (PATTERNS);
    None: all of them; () gives the programs of the original generator. `focus`: statements
    are mostly those patterns (and elementwise ones), not the original statement kinds."""
    patterns = frozenset(PATTERNS if patterns is None else patterns)
    m = draw(st.integers(2, 4))
    n = draw(st.integers(2, 4))
    kinds = draw(st.lists(SHAPES_ND if "nd" in patterns else SHAPES, min_size=1, max_size=3))
    table = {(): (), "n": (n,), "m": (m,), "mn": (m, n), "nm": (n, m), "lmn": (2, m, n)}
    params = [(f"x{k}", table[kind]) for k, kind in enumerate(kinds)]
    g = _Gen(draw, allow_control, patterns, focus)
    g.params = [name for name, _ in params]
    zero_d = frozenset(name for name, shape in params if shape == () and "zero_d" in patterns and draw(st.booleans()))
    if zero_d:
        g.used.add("zero_d")
    if any(len(shape) == 3 for _, shape in params):
        g.used.add("nd")
    for name, shape in params:
        g.env[name] = shape
    for _ in range(draw(st.integers(1, max_statements))):
        g.statement()
    last = list(g.env)[-1]
    out_shape = g.env[last]
    leaves = [v for v in _unread(g) if v != last]
    dead_values = DEAD_VALUES if dead_values is None else dead_values
    keep_dead = dead_values > 0 and draw(st.floats(0.0, 1.0)) < dead_values
    if leaves and not keep_dead:  # usually: every value reaches the output
        terms = " + ".join(f"np.sum(np.tanh({v}))" for v in leaves)
        name = g.fresh()
        g.assign(name, f"{last} + 0.1 * ({terms})", out_shape)
        last = name
    scalar = draw(st.booleans()) if scalar_output is None else scalar_output
    if scalar and out_shape != ():
        g.emit(f"return np.sum({last})")
        out_shape = ()
    elif not scalar and out_shape == () and len(g.env) > 1:
        # an array output: the last value times a live array, if any
        arr = g.pick(lambda s: s != ())
        if arr is not None:
            g.emit(f"return {last} * {arr}")
            out_shape = g.env[arr]
        else:
            g.emit(f"return {last}")
    else:
        g.emit(f"return {last}")
    seed = draw(st.integers(0, 2**32 - 1))
    return Program(
        params,
        g.consts,
        g.lines,
        out_shape,
        g.control,
        seed,
        int_params=g.int_params,
        zero_d=zero_d,
        helpers=g.helpers,
        patterns=frozenset(g.used),
    )


# --------------------------------------------------------------------------------------------
# Loading and checking
# --------------------------------------------------------------------------------------------

_TMP = None
_COUNTER = itertools.count()


def load(program: Program):
    """Writes the program into a fresh module file and imports it: (f, f_probe)."""
    global _TMP
    if _TMP is None:
        _TMP = tempfile.mkdtemp(prefix="s2sad_fuzz_")
    name = f"fuzzprog_{os.getpid()}_{next(_COUNTER)}"
    path = os.path.join(_TMP, name + ".py")
    with open(path, "w") as fh:
        fh.write("import numpy as np\n\n")
        fh.write(program.render("f"))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module.f, module.f_probe


class Skip(Exception):
    """No smooth, moderate input was found for this program (structural tie, overflow)."""


class RefusedByDesign(Skip):
    """s2sad refused the program with an S2SADError naming its file:line, for a construct the
    README lists as refused (a write through a view another name reads later, a tuple indexed
    at run time): the promised outcome, counted apart."""


# what the README's subset refuses on purpose (s2sad/analysis/semantics.py), by message
DESIGNED_REFUSALS = (
    "shares memory with",
    "indexed by a value known only at run time",
)


def smooth_inputs(program, probe, tries=8):
    """Inputs at which every kink is at least MIN_MARGIN away and intermediates are moderate."""
    for t in range(tries):
        args = program.inputs(program.seed + t)
        program.seed_used = program.seed + t
        rec = Recorder()
        try:
            with np.errstate(all="ignore"):
                probe(*_copies(args), rec)  # programs may write into their arguments
        except Exception as exc:  # noqa: BLE001
            raise Failure(f"generator: {type(exc).__name__}", f"the program fails under NumPy: {_short(exc)}") from exc
        if rec.margin >= MIN_MARGIN and rec.magnitude <= MAX_MAGNITUDE:
            return args
    raise Skip(f"margin {rec.margin:.2e}, magnitude {rec.magnitude:.2e}")


class Failure(Exception):
    """A check failed. `key` names the failure class: the stage, and for an exception its type
    and the head of its message (digits elided); `others` are the failures of later modes."""

    def __init__(self, stage, message, detail=False):
        super().__init__(f"[{stage}] {message}")
        self.stage = stage
        self.message = message
        self.detail = detail
        self.others = []

    @property
    def key(self):
        if not self.detail:
            return self.stage
        head = re.sub(r"\d+", "#", self.message.splitlines()[0] if self.message else "")
        head = re.sub(r"/\S+\.py:#: ", "", head)
        return f"{self.stage}: {head[:70]}"

    @property
    def keys(self):
        return [self.key] + [f.key for f in self.others]


def _refusal(exc):
    return isinstance(exc, s2sad.S2SADError) and "not supported" in str(exc)


def _call(stage, thunk):
    try:
        return thunk()
    except Failure:
        raise
    except s2sad.S2SADError as exc:
        if "one rank and dtype" in str(exc):  # the generator let a variable change rank
            raise Skip("a variable changes rank between branches: refused by design") from exc
        if (
            any(m in str(exc) for m in DESIGNED_REFUSALS)
            and re.search(r"\.py:\d+: ", str(exc))
            and not isinstance(exc, s2sad.errors.InternalError)
        ):
            raise RefusedByDesign(_short(exc)) from exc
        raise Failure(f"{stage}: {type(exc).__name__}", _short(exc), detail=True) from exc
    except Exception as exc:  # noqa: BLE001 — every exception is a finding
        raise Failure(f"{stage}: {type(exc).__name__}", _short(exc), detail=True) from exc


def _assert(stage, thunk):
    try:
        thunk()
    except AssertionError as exc:
        raise Failure(stage, _short(exc)) from exc


def _short(exc):
    text = str(exc).strip()
    return text if len(text) < 1500 else text[:1500] + " ..."


def _close(a, b, rtol=FWD_REV_RTOL):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"shapes {a.shape} != {b.shape}"
    scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _copies(args):
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)


def _pure(f):
    """`f` on copies of its arguments (programs may write into them): the oracles' view."""

    def call(*args):
        return f(*_copies(args))

    return call


def _is_float_arg(a):
    return not isinstance(a, (bool, int, np.integer)) and np.asarray(a).dtype.kind == "f"


def check_function(f, args, backend="python", control=False, second_order=True, stats=None):
    """All checks on one function at one input; raises Failure. Returns notes (refusals).

    Every float argument is differentiated (int arguments are constants). Modes: jacfwd and
    jacrev (equal, and against central differences), jvp (against central differences), vjp
    (the dot-product test); for scalar outputs grad, hessian and hvp (against second
    differences of f, tests/run_catalogue.py's `numerical_bilinear`). Every mode is checked
    even when an earlier one fails; the first failure is raised, the others in its `others`."""

    stats = {} if stats is None else stats
    notes = []
    failures = []
    pure = _pure(f)
    argnums = tuple(k for k, a in enumerate(args) if _is_float_arg(a))
    out = _call("primal", lambda: pure(*args))
    if not all(np.all(np.isfinite(o)) for o in _as_tuple(out)):
        raise Skip("non-finite output")
    rng = np.random.default_rng(1)
    got = {}

    def mode(thunk):  # a failure of one mode does not hide those of the others
        try:
            thunk()
        except Failure as fail:
            failures.append(fail)

    def jacobian(kind):
        got[kind] = _call(kind, lambda: getattr(s2sad, kind)(f, argnums, backend=backend)(*_copies(args)))
        _assert(f"{kind} vs finite differences", lambda: check_jacobian(pure, args, argnums, got[kind], rng=rng))

    mode(lambda: jacobian("jacfwd"))
    mode(lambda: jacobian("jacrev"))
    if "jacfwd" in got and "jacrev" in got:
        for a, b in zip(got["jacfwd"], got["jacrev"]):
            mode(lambda: _assert("jacfwd != jacrev", lambda: _close(a, b)))

    tangents_all = tuple(
        (float(rng.standard_normal()) if np.shape(a) == () else rng.standard_normal(np.shape(a)))
        if k in argnums
        else 0.0
        for k, a in enumerate(args)
    )
    tangents = tuple(tangents_all[k] for k in argnums)

    def jvp():
        passed = _copies(tangents_all)
        result = _call("jvp", lambda: s2sad.jvp(f, _copies(args), passed, backend=backend))
        _assert("jvp primal", lambda: _close(result[0], out))
        _assert("jvp vs finite differences", lambda: check_jvp(pure, args, argnums, result[1], tangents))
        for a, b in zip(passed, tangents_all):
            _assert("jvp wrote into the caller's tangents", lambda: _close(a, b, rtol=0.0))

    def vjp():
        value, vjp_fn = _call("vjp", lambda: s2sad.vjp(f, *_copies(args), backend=backend))
        _assert("vjp primal", lambda: _close(value, out))

        def cotangents(u):
            bars = _call("vjp_fn", lambda: vjp_fn(u))
            return tuple(bars[k] for k in argnums)

        _assert("vjp dot-product test", lambda: dot_product_test(pure, args, argnums, cotangents, rng=rng))

    mode(jvp)
    mode(vjp)
    if np.shape(out) == () and second_order:
        mode(
            lambda: _second_order(
                f, pure, args, argnums, tangents, tangents_all, got, backend, control, stats, notes, rng
            )
        )
    if failures:
        failures[0].others = failures[1:]
        raise failures[0]
    return notes


def _second_order(f, pure, args, argnums, tangents, tangents_all, got, backend, control, stats, notes, rng):
    """grad, hessian and hvp of a scalar-valued `f` against second differences of `f`."""
    from run_catalogue import check_hvp, check_second_order  # noqa: PLC0415 — shares the oracles

    gr = _call("grad", lambda: s2sad.grad(f, argnums, backend=backend)(*_copies(args)))
    _assert("grad vs finite differences", lambda: check_jacobian(pure, args, argnums, gr, rng=rng))
    try:
        stage = "hessian"
        hess = s2sad.hessian(f, argnums, backend=backend)(*_copies(args))
        stage = "hvp"
        hv = s2sad.hvp(f, _copies(args), _copies(tangents_all), backend=backend)
    except Exception as exc:  # noqa: BLE001
        if not _refusal(exc):
            raise Failure(f"{stage}: {type(exc).__name__}", _short(exc), detail=True) from exc
        if not control:
            notes.append(f"second order refused on straight-line code: {_short(exc)}")
        stats["refused"] = stats.get("refused", 0) + 1
        # second derivatives through control flow: forward over forward
        hess = _call(
            "jacfwd(jacfwd)",
            lambda: s2sad.jacfwd(s2sad.jacfwd(f, argnums, backend=backend), argnums, backend=backend)(*_copies(args)),
        )
        _assert(
            "jacfwd(jacfwd) vs second differences",
            lambda: check_second_order(pure, args, argnums, hess, False, True, rng),
        )
        return
    _assert("hessian vs second differences", lambda: check_second_order(pure, args, argnums, hess, False, True, rng))
    _assert("hvp vs second differences", lambda: check_hvp(pure, args, argnums, hv, tangents, rng))
    n = len(argnums)
    hv = _as_tuple(hv)
    if len(hv) == len(args) and len(args) != n:
        hv = tuple(hv[k] for k in argnums)
    for i in range(n):
        expected = sum(
            np.tensordot(
                np.asarray(hess[i][j], np.float64), np.asarray(tangents[j], np.float64), axes=np.ndim(tangents[j])
            )
            for j in range(n)
        )
        _assert("hvp != hessian @ v", lambda: _close(hv[i], expected, rtol=1e-8))


def check_program(program: Program, backend="python", second_order=True, stats=None):
    f, probe = load(program)
    args = smooth_inputs(program, probe)
    with np.errstate(all="ignore"):
        return check_function(f, args, backend, program.control, second_order, stats)


# --------------------------------------------------------------------------------------------
# Regressions file
# --------------------------------------------------------------------------------------------

REGRESSIONS_HEADER = '''"""Programs found by the random-program fuzzer (tests/fuzz.py), kept as regression tests."""

import numpy as np

REGRESSIONS = {}


def regression_inputs(shapes, seed):
    rng = np.random.default_rng(seed)
    return tuple(
        float(rng.uniform(-1.0, 1.0)) if shape == () else rng.uniform(-1.0, 1.0, size=shape)
        for shape in shapes
    )
'''


def _literal(value):
    """Source text that rebuilds an input exactly (float reprs round-trip)."""
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return f"np.asarray({float(value)!r})"
        return f"np.array({value.tolist()!r})"
    return repr(value)


def write_regression(program: Program, backend: str, failure: str, args=None):
    if not os.path.exists(REGRESSIONS_PATH):
        with open(REGRESSIONS_PATH, "w") as fh:
            fh.write(REGRESSIONS_HEADER)
    with open(REGRESSIONS_PATH) as fh:
        text = fh.read()
    k = 1
    while f"def reg_{backend}_{k:03d}(" in text:
        k += 1
    name = f"reg_{backend}_{k:03d}"
    # the seed actually used (first smooth one)
    shapes = [s for _, s in program.params]
    comment = "\n".join("# " + line for line in failure.splitlines()[:12])
    seed = getattr(program, "seed_used", program.seed)
    extra = ""
    if program.int_params or program.zero_d:  # inputs regression_inputs cannot rebuild: literal
        extra = f"\n    args=({''.join(_literal(a) + ', ' for a in program.inputs(seed))}),"
    entry = (
        f"\n\n{comment}\n"
        + program.render(name, probe=False)
        + f"\n\nREGRESSIONS[{name!r}] = dict(\n    fn={name}, shapes={shapes!r}, seed={seed},{extra}"
        f"\n    control={program.control}, backends=({backend!r},),\n    failure={failure.splitlines()[0][:200]!r},\n)\n"
    )
    with open(REGRESSIONS_PATH, "a") as fh:
        fh.write(entry)
    return name


# --------------------------------------------------------------------------------------------
# Campaigns
# --------------------------------------------------------------------------------------------


def campaign(
    n,
    seed,
    backend="python",
    second_order=True,
    shrink=True,
    write=True,
    verbose=True,
    shrink_seconds=60,
    patterns=None,
    start=0,
    show=None,
    focus=False,
):
    """`patterns`: those programs may contain (None: all of PATTERNS); `focus`: their
    statements are mostly those patterns. `start`: programs before
    this index are generated (so the ones after are the same programs) but not checked: a long
    campaign resumes where it stopped. `show`: print that program's source and check nothing. Failures are counted per
    class (`Failure.key`, every failing mode of a program), and per pattern: how many programs
    containing it were checked and how many of those failed."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    stats = {"tried": 0, "checked": 0, "skipped": 0, "refused": 0, "failures": {}, "notes": [], "patterns": {}}
    first_index = {}

    def run_one(program, raise_for=None):
        try:
            notes = check_program(program, backend, second_order, stats)
            stats["notes"] += notes
            return None
        except RefusedByDesign:
            stats["refused_by_design"] = stats.get("refused_by_design", 0) + 1
            return "skip"
        except Skip:
            return "skip"
        except Failure as fail:
            if raise_for is not None:
                for one in [fail] + fail.others:
                    if one.key == raise_for:
                        raise one
            return fail

    common = dict(
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=False,
        print_blob=False,
    )

    @hseed(seed)
    @settings(max_examples=n, phases=[Phase.generate], **common)
    @given(programs(patterns=patterns, focus=focus))
    def explore(program):
        index = stats["tried"]
        stats["tried"] += 1
        if index < start or (show is not None and index != show):
            stats["not_run"] = stats.get("not_run", 0) + 1
            return
        if show is not None:
            stats["not_run"] = stats.get("not_run", 0) + 1
            print(program.source("f"), flush=True)
            return
        result = run_one(program)
        if result == "skip":
            stats["skipped"] += 1
            return
        for pattern in program.patterns or {"(none)"}:
            counts = stats["patterns"].setdefault(pattern, [0, 0])
            counts[0] += 1
            counts[1] += result is not None
        if result is None:
            stats["checked"] += 1
        else:
            stats["failed_programs"] = stats.get("failed_programs", 0) + 1
            for one in [result] + result.others:
                fails = stats["failures"].setdefault(one.key, [])
                if not fails or fails[-1][0] is not program:
                    fails.append((program, str(one)))
                first_index.setdefault(one.key, index)
            if verbose:
                print(f"  program {index}: FAIL {result}".splitlines()[0][:300], flush=True)
        if verbose and stats["tried"] % 25 == 0:
            print(f"  ... {stats['tried']} programs, {sum(map(len, stats['failures'].values()))} failures", flush=True)

    t0 = time.time()
    explore()
    elapsed = time.time() - t0

    shrunk = {}
    for key, index in first_index.items():
        program, message = stats["failures"][key][0]
        if shrink:
            found = []
            deadline = time.time() + shrink_seconds

            @hseed(seed)
            @settings(max_examples=index + 1, phases=[Phase.generate, Phase.shrink], **common)
            @given(programs(patterns=patterns, focus=focus))
            def reproduce(p):
                if found and time.time() > deadline:
                    return  # shrinking budget spent: keep the smallest so far
                try:
                    run_one(p, raise_for=key)
                except Failure as fail:
                    found.append((p, str(fail)))
                    raise

            try:
                reproduce()
            except Failure:
                pass
            except BaseException:  # noqa: BLE001 — hypothesis may group several failures
                pass
            if found:
                program, message = found[-1]
        shrunk[key] = (program, message)
        if write:
            name = write_regression(program, backend, message)
            message = f"(written as {name})\n" + message
        shrunk[key] = (program, message)

    if verbose:
        nfail = sum(map(len, stats["failures"].values()))
        print(
            f"\n{stats['tried'] - stats.get('not_run', 0)} programs tried ({backend}, seed {seed}"
            f"{f', programs {start} on' if start else ''}) in {elapsed:.1f} s: "
            f"{stats['checked']} checked, {stats['skipped']} skipped (no smooth input), "
            f"{stats['refused']} second-order refusals (accepted), "
            f"{stats.get('refused_by_design', 0)} refused by design with file:line (of the skipped), "
            f"{stats.get('failed_programs', 0)} failing programs: {nfail} failures in {len(shrunk)} kinds"
        )
        print("\nper pattern: programs checked, of which failing")
        for pattern, (tried, failed) in sorted(stats["patterns"].items()):
            print(f"  {pattern:15} {tried:5} {failed:5}")
        for note in sorted(set(stats["notes"])):
            print("  note:", note.splitlines()[0][:300])
        for key, (program, message) in shrunk.items():
            print(f"\n=== {key}: {len(stats['failures'][key])} programs; smallest:\n{message[:1500]}")
            print(program.source("f"))
    return stats, shrunk


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", choices=["python", "numba"], default="python")
    parser.add_argument("--no-second-order", action="store_true")
    parser.add_argument("--no-shrink", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="do not touch fuzz_regressions.py")
    parser.add_argument("--numpy-scalars", action="store_true", help="scalars as np.float64")
    parser.add_argument("--dead-values", type=float, default=0.1)
    parser.add_argument(
        "--patterns",
        default="all",
        help=f"comma-separated issue-16 patterns to write, 'all' (default), 'ci' or 'none': {', '.join(PATTERNS)}",
    )
    parser.add_argument("--focus", action="store_true", help="statements mostly of the chosen patterns")
    parser.add_argument("--exclude", default="", help="comma-separated patterns not to write")
    parser.add_argument("--start", type=int, default=0, help="generate but do not check programs before this index")
    parser.add_argument(
        "--show",
        type=int,
        default=None,
        help="print program K of the campaign (the same --n, --seed and --patterns: Hypothesis draws depend on them); check nothing",
    )
    parser.add_argument("--shrink-seconds", type=float, default=60.0, help="shrinking budget per failure class")
    opts = parser.parse_args(argv)
    chosen = {"all": set(PATTERNS), "ci": set(CI_PATTERNS), "none": set()}.get(opts.patterns)
    if chosen is None:
        chosen = set(opts.patterns.split(","))
    chosen -= set(filter(None, opts.exclude.split(",")))
    unknown = chosen - set(PATTERNS)
    if unknown:
        parser.error(f"unknown patterns {sorted(unknown)}; known: {', '.join(PATTERNS)}")
    global SCALAR_TYPE, DEAD_VALUES
    if opts.numpy_scalars:
        SCALAR_TYPE = np.float64
    DEAD_VALUES = opts.dead_values
    stats, shrunk = campaign(
        opts.n,
        opts.seed,
        opts.backend,
        second_order=not opts.no_second_order,
        shrink=not opts.no_shrink,
        write=not opts.no_write,
        patterns=frozenset(chosen),
        shrink_seconds=opts.shrink_seconds,
        start=opts.start,
        show=opts.show,
        focus=opts.focus,
    )
    return 1 if shrunk else 0


if __name__ == "__main__":
    sys.exit(main())
