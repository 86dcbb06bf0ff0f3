"""Random well-typed NumPy programs from s2sad's supported subset, and the checks run on them.

A program is drawn through Hypothesis strategies (so failures shrink), rendered as source text
into a real module file under a temporary folder (s2sad reads source with `inspect`), imported
under a unique module name, and checked:

* jacfwd == jacrev (rtol 1e-9), both against central differences (`checks.check_jacobian`);
* scalar outputs: grad == jacrev; hessian against central differences of grad; hvp against
  the Hessian contracted with the tangents. Second derivatives through loops, branches and
  in-place writes are refused by design: an `S2SADError` saying "not supported" is accepted
  there (and there jacfwd(jacfwd(f)) is checked instead).

Inputs are drawn away from points of non-differentiability: every `abs`, `maximum`/`minimum`,
`where`, `max` reduction and data-dependent `if` in a program is mirrored in a probe function
that records its margin (|arg|, |a - b|, the gap between the two largest entries, |test|);
inputs whose smallest margin is below MIN_MARGIN are redrawn.

Long campaigns:

    python -m tests.fuzz --n 300 --seed 0 [--backend python|numba]

prints a summary and appends each (shrunk) failing program to tests/fuzz_regressions.py.
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
from checks import check_jacobian  # noqa: E402

import s2sad  # noqa: E402

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
    params: list  # [(name, shape)]
    consts: list  # [(name, list of ints)]: module-level integer index arrays
    lines: list  # [(indent, text, kind)]; kind: "code", "probe" (probe-only line)
    out_shape: tuple
    control: bool  # loops, branches or in-place writes
    seed: int = 0  # of the numerical inputs

    def render(self, fname: str, probe: bool = True) -> str:
        """Module source: constants, `fname(...)`, and (probe) `fname_probe(..., _rec)`."""
        rename = {c: f"{fname.upper()}_{c}" for c, _ in self.consts}
        out = []
        for c, values in self.consts:
            out.append(f"{rename[c]} = np.array({values!r})")
        if self.consts:
            out.append("")
        out.append("")
        sig = ", ".join(p for p, _ in self.params)
        out.append(f"def {fname}({sig}):")
        out += [self._line(i, t, rename) for i, t, k in self.lines if k == "code"]
        if probe:
            out += ["", ""]
            out.append(f"def {fname}_probe({sig}, _rec):")
            out += [self._line(i, t, rename) for i, t, k in self.lines]
        return "\n".join(out) + "\n"

    @staticmethod
    def _line(indent, text, rename):
        for c, new in rename.items():
            text = text.replace(c, new)
        return "    " * (indent + 1) + text

    def source(self, fname="f"):
        return self.render(fname, probe=False)

    def inputs(self, seed=None):
        rng = np.random.default_rng(self.seed if seed is None else seed)
        return tuple(
            SCALAR_TYPE(rng.uniform(-1.0, 1.0)) if shape == () else rng.uniform(-1.0, 1.0, size=shape)
            for _, shape in self.params
        )


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

    def __init__(self, draw, allow_control):
        self.draw = draw
        self.allow_control = allow_control
        self.env = {}  # name -> shape (live, in definition order)
        self.lines = []
        self.consts = []
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
                ["sin", "cos", "tanh", "exp_tanh", "exp", "log", "sqrt", "square", "abs",
                 "pow2", "pow3", "neg", "scale", "shift"]
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
        kind = self.draw(st.sampled_from(kinds))
        if not getattr(self, "st_" + kind)():
            self.st_elementwise()

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
        self.emit(f"for i in range({k}):")
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


_NAME = re.compile(r"\b(?:x|v|acc|w|y)\d+\b")


def _unread(g):
    """Live values that no statement reads."""
    read = set()
    for _, text, kind in g.lines:
        if kind != "code":
            continue
        if " = " in text and not text.startswith(("if ", "for ")):
            lhs, rhs = text.split(" = ", 1)
            read |= set(_NAME.findall(rhs))
            if "[" in lhs:  # y[i] = ...: the index reads
                read |= set(_NAME.findall(lhs[lhs.index("["):]))
        else:
            read |= set(_NAME.findall(text))
    return [v for v in g.env if v not in read]


def _broadcast(a, b):
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        return None


def _divisors(n):
    return [p for p in (2, 3) if n % p == 0 and 1 < p < n]


SHAPES = st.sampled_from([(), "n", "mn", "nm", "m"])


@st.composite
def programs(draw, allow_control=True, max_statements=6, scalar_output=None, dead_values=None):
    m = draw(st.integers(2, 4))
    n = draw(st.integers(2, 4))
    kinds = draw(st.lists(SHAPES, min_size=1, max_size=3))
    table = {(): (), "n": (n,), "m": (m,), "mn": (m, n), "nm": (n, m)}
    params = [(f"x{k}", table[kind]) for k, kind in enumerate(kinds)]
    g = _Gen(draw, allow_control)
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
    return Program(params, g.consts, g.lines, out_shape, g.control, seed)


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


def smooth_inputs(program, probe, tries=8):
    """Inputs at which every kink is at least MIN_MARGIN away and intermediates are moderate."""
    for t in range(tries):
        args = program.inputs(program.seed + t)
        program.seed_used = program.seed + t
        rec = Recorder()
        with np.errstate(all="ignore"):
            probe(*args, rec)
        if rec.margin >= MIN_MARGIN and rec.magnitude <= MAX_MAGNITUDE:
            return args
    raise Skip(f"margin {rec.margin:.2e}, magnitude {rec.magnitude:.2e}")


class Failure(Exception):
    def __init__(self, stage, message):
        super().__init__(f"[{stage}] {message}")
        self.stage = stage
        self.message = message

    @property
    def key(self):
        return self.stage


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
        raise Failure(f"{stage}: {type(exc).__name__}", _short(exc)) from exc
    except Exception as exc:  # noqa: BLE001 — every exception is a finding
        raise Failure(f"{stage}: {type(exc).__name__}", _short(exc)) from exc


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


def check_function(f, args, backend="python", control=False, second_order=True, stats=None):
    """All checks on one function at one input; raises Failure. Returns notes (refusals)."""
    stats = {} if stats is None else stats
    notes = []
    nargs = len(args)
    argnums = tuple(range(nargs))
    out = _call("primal", lambda: f(*args))
    if not np.all(np.isfinite(out)):
        raise Skip("non-finite output")
    rng = np.random.default_rng(1)

    jf = _call("jacfwd", lambda: s2sad.jacfwd(f, argnums, backend=backend)(*args))
    jr = _call("jacrev", lambda: s2sad.jacrev(f, argnums, backend=backend)(*args))
    for j, (a, b) in enumerate(zip(jf, jr)):
        _assert("jacfwd != jacrev", lambda: _close(a, b))
    _assert("jacfwd vs finite differences", lambda: check_jacobian(f, args, argnums, jf, rng=rng))
    _assert("jacrev vs finite differences", lambda: check_jacobian(f, args, argnums, jr, rng=rng))

    if np.shape(out) != () or not second_order:
        return notes
    gr = _call("grad", lambda: s2sad.grad(f, argnums, backend=backend)(*args))
    for a, b in zip(gr, jr):
        _assert("grad != jacrev", lambda: _close(a, b))

    def grad_fn(*a):
        return s2sad.grad(f, argnums, backend=backend)(*a)

    tangents = tuple(rng.standard_normal(np.shape(a)) for a in args)
    tangents = tuple(float(t) if np.shape(t) == () else t for t in tangents)
    try:
        stage = "hessian"
        hess = s2sad.hessian(f, argnums, backend=backend)(*args)
        stage = "hvp"
        hv = s2sad.hvp(f, args, tangents, backend=backend)
    except Exception as exc:  # noqa: BLE001
        if not _refusal(exc):
            raise Failure(f"{stage}: {type(exc).__name__}", _short(exc)) from exc
        if not control:
            notes.append(f"second order refused on straight-line code: {_short(exc)}")
        stats["refused"] = stats.get("refused", 0) + 1
        # second derivatives through control flow: forward over forward
        hess = _call(
            "jacfwd(jacfwd)",
            lambda: s2sad.jacfwd(s2sad.jacfwd(f, argnums, backend=backend), argnums, backend=backend)(*args),
        )
        _assert(
            "jacfwd(jacfwd) vs finite differences of grad",
            lambda: check_jacobian(grad_fn, args, argnums, hess, rng=rng, rtol=1e-4, atol=1e-6),
        )
        return notes
    _assert(
        "hessian vs finite differences of grad",
        lambda: check_jacobian(grad_fn, args, argnums, hess, rng=rng, rtol=1e-4, atol=1e-6),
    )
    for i in range(nargs):
        expected = sum(
            np.tensordot(np.asarray(hess[i][j], np.float64), np.asarray(tangents[j], np.float64), axes=np.ndim(tangents[j]))
            for j in range(nargs)
        )
        _assert("hvp != hessian @ v", lambda: _close(hv[i], expected, rtol=1e-8))
    return notes


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
    entry = (
        f"\n\n{comment}\n"
        + program.render(name, probe=False)
        + f"\n\nREGRESSIONS[{name!r}] = dict(\n    fn={name}, shapes={shapes!r}, seed={getattr(program, 'seed_used', program.seed)},"
        f"\n    control={program.control}, backends=({backend!r},),\n    failure={failure.splitlines()[0][:200]!r},\n)\n"
    )
    with open(REGRESSIONS_PATH, "a") as fh:
        fh.write(entry)
    return name


# --------------------------------------------------------------------------------------------
# Campaigns
# --------------------------------------------------------------------------------------------


def campaign(
    n, seed, backend="python", second_order=True, shrink=True, write=True, verbose=True, shrink_seconds=60
):
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    stats = {"tried": 0, "checked": 0, "skipped": 0, "refused": 0, "failures": {}, "notes": []}
    first_index = {}

    def run_one(program, raise_for=None):
        try:
            notes = check_program(program, backend, second_order, stats)
            stats["notes"] += notes
            return None
        except Skip:
            return "skip"
        except Failure as fail:
            if raise_for is not None and fail.key == raise_for:
                raise
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
    @given(programs())
    def explore(program):
        index = stats["tried"]
        stats["tried"] += 1
        result = run_one(program)
        if result == "skip":
            stats["skipped"] += 1
        elif result is None:
            stats["checked"] += 1
        else:
            fails = stats["failures"].setdefault(result.key, [])
            fails.append((program, str(result)))
            first_index.setdefault(result.key, index)
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
            @given(programs())
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
            f"\n{stats['tried']} programs tried ({backend}, seed {seed}) in {elapsed:.1f} s: "
            f"{stats['checked']} checked, {stats['skipped']} skipped (no smooth input), "
            f"{stats['refused']} second-order refusals (accepted), {nfail} failures "
            f"in {len(shrunk)} kinds"
        )
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
    opts = parser.parse_args(argv)
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
    )
    return 1 if shrunk else 0


if __name__ == "__main__":
    sys.exit(main())
