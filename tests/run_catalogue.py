"""Runs the catalogue (tests/catalogue_functions.py) in every mode and reports what fails.

    python tests/run_catalogue.py [--backend python|numba] [--only NAME,NAME] [--modes jacfwd,vjp]
                                  [--isolate] [--json]

Every float argument is differentiated. Modes: jacfwd, jacrev, hessian (scalar output;
jacfwd(jacrev(f)) otherwise), grad and hvp (scalar output), jvp, vjp. Oracles are independent
of s2sad (tests/checks.py): central differences in random directions, the dot-product test, and
a second-order central difference for the bilinear form v·H·w.

Outcomes: "pass"; "refusal" (s2sad.S2SADError); "wrong number" (a check failed); "crash"
(any other exception: "crash in generated code" when the innermost frame is in a generated
module, "crash in compiler" when in s2sad/); on numba also "nondeterministic" (two calls with
the same inputs disagree). `--isolate` runs each function in a child process, so a segfault
is reported as "segfault" instead of ending the run.

The check functions are imported by tests/test_catalogue.py.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import traceback
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import catalogue_functions as cf  # noqa: E402
import checks  # noqa: E402
import s2sad  # noqa: E402

MODES = ("jacfwd", "jacrev", "hessian", "grad", "jvp", "vjp", "hvp")
FIRST_ORDER = ("jacfwd", "jacrev", "grad", "jvp", "vjp")
SECOND_RTOL, SECOND_ATOL = 1e-4, 1e-6

# --------------------------------------------------------------------------------------------
# Inputs by argument name (the table in catalogue_functions' docstring)
# --------------------------------------------------------------------------------------------

_VECTOR3 = set("xyzuwv")
_SHAPES = {"e": (4,), "A": (3, 3), "B": (3, 3), "M": (3, 4), "Q": (4, 2), "T": (2, 3, 4), "U": (2, 3, 4)}
_CONSTANTS = {"n": 3, "k": 2, "flag": True, "idx": np.array([2, 0, 1]), "rep": np.array([0, 0, 1])}


def _signed(rng, shape):
    return rng.uniform(0.3, 1.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def catalogue_functions():
    """The catalogue entries, in source order: {name: function}."""
    return {
        name: fn
        for name, fn in vars(cf).items()
        if inspect.isfunction(fn) and fn.__module__ == cf.__name__ and not name.startswith("_")
    }


def catalogue_inputs(fn):
    """(args, float_argnums) for a catalogue function, from its argument names."""
    rng = np.random.default_rng(zlib.crc32(fn.__name__.encode()))
    override = cf.INPUTS.get(fn.__name__, {})
    args, floats = [], []
    for k, name in enumerate(inspect.signature(fn).parameters):
        if name in _CONSTANTS:
            value = _CONSTANTS[name]
        elif name in _VECTOR3:
            value = _signed(rng, (3,))
        elif name in ("p", "q"):
            value = rng.uniform(0.5, 1.5, size=3)
        elif name in _SHAPES:
            value = _signed(rng, _SHAPES[name])
        elif name in ("a", "b", "c"):
            value = float(_signed(rng, ()))
        elif name == "r":
            value = float(rng.uniform(0.5, 1.5))
        elif name in ("s", "t"):
            value = np.asarray(float(_signed(rng, ())))
        else:
            raise KeyError(f"{fn.__name__}: no input convention for argument {name!r}")
        if name in override:
            value = override[name]
            value = value.copy() if isinstance(value, np.ndarray) else value
        args.append(value)
        if name not in _CONSTANTS:
            floats.append(k)
    return tuple(args), tuple(floats)


def _copy(value):
    return value.copy() if isinstance(value, np.ndarray) else value


def _copies(args):
    return tuple(_copy(a) for a in args)


def pure(fn):
    """`fn` on copies of its arguments: catalogue functions may write into them."""

    def call(*args):
        return fn(*_copies(args))

    call.__name__ = fn.__name__
    return call


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def scalar_output(fn, args):
    out = fn(*_copies(args))
    return not isinstance(out, tuple) and np.shape(out) == ()


def modes_for(fn, args):
    scalar = scalar_output(fn, args)
    return tuple(m for m in MODES if scalar or m not in ("grad", "hvp"))


# --------------------------------------------------------------------------------------------
# Second-order oracle
# --------------------------------------------------------------------------------------------


def numerical_bilinear(f, args, argnums, v, w, eps=1e-4, with_noise=False):
    """v·H·w of every output of `f` (float64, a tuple over outputs): central second
    differences at steps h and h/2, combined by Richardson extrapolation (error O(h**4)).
    `v`, `w`: one direction per entry of `argnums`. `with_noise`: also return the rounding
    error the differences can carry (20 ulps of the largest value, over the steps' product)."""
    size = max(1.0, max(float(np.max(np.abs(args[k]), initial=0.0)) for k in argnums))
    hv = eps * size / max(float(np.max(np.abs(t), initial=0.0)) for t in v)
    hw = eps * size / max(float(np.max(np.abs(t), initial=0.0)) for t in w)
    largest = [0.0]

    def at(sv, sw):
        moved = list(args)
        for k, a, b in zip(argnums, v, w):
            step = sv * np.asarray(a, np.float64) + sw * np.asarray(b, np.float64)
            moved[k] = checks._perturb(args[k], 1.0, step)
        outs = tuple(np.asarray(o, np.float64) for o in _as_tuple(f(*moved)))
        largest[0] = max([largest[0]] + [float(np.max(np.abs(o), initial=0.0)) for o in outs])
        return outs

    def second(hv, hw):
        pp, pm, mp, mm = at(hv, hw), at(hv, -hw), at(-hv, hw), at(-hv, -hw)
        return tuple((a - b - c + d) / (4.0 * hv * hw) for a, b, c, d in zip(pp, pm, mp, mm))

    coarse, fine = second(hv, hw), second(hv / 2, hw / 2)
    values = tuple((4.0 * b - a) / 3.0 for a, b in zip(coarse, fine))
    if with_noise:
        return values, 20.0 * np.finfo(np.float64).eps * largest[0] / (hv * hw)
    return values


def _assert_close(actual, expected, what, noise=0.0):
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    err = np.abs(actual - expected)
    bound = (
        SECOND_ATOL
        + noise
        + SECOND_RTOL * (np.abs(expected) + np.abs(actual))
        + 1e-4 * float(np.max(np.abs(expected), initial=0.0))
    )
    bad = ~(err <= bound)  # NaN counts as bad
    assert not np.any(bad), f"{what}: got {actual.ravel()[:6]}, expected {expected.ravel()[:6]}"


def check_second_order(f, args, argnums, H, multi_out, multi_arg, rng, n_directions=2):
    """H[o][j][k] (output o, arguments j, k), in the conventions of hessian / jacfwd(jacrev)."""
    H = H if multi_out else (H,)
    outs = _as_tuple(f(*args))
    assert len(H) == len(outs), f"second derivative has {len(H)} outputs, f has {len(outs)}"
    blocks = []
    for o, Ho in enumerate(H):
        if not multi_arg:
            Ho = ((Ho,),)
        assert len(Ho) == len(argnums), f"output {o}: {len(Ho)} blocks for {len(argnums)} arguments"
        row = []
        for j, Hj in enumerate(Ho):
            assert len(Hj) == len(argnums), f"output {o}, argument {j}: {len(Hj)} blocks"
            for k, Hjk in enumerate(Hj):
                shape = np.shape(outs[o]) + np.shape(args[argnums[j]]) + np.shape(args[argnums[k]])
                assert np.shape(Hjk) == shape, f"H[{o}][{j}][{k}] has shape {np.shape(Hjk)}, expected {shape}"
            row.append(Hj)
        blocks.append(row)
    for _ in range(n_directions):
        v = tuple(rng.standard_normal(np.shape(args[k])) for k in argnums)
        w = tuple(rng.standard_normal(np.shape(args[k])) for k in argnums)
        expected, noise = numerical_bilinear(f, args, argnums, v, w, with_noise=True)
        for o in range(len(outs)):
            actual = 0.0
            for j in range(len(argnums)):
                for k in range(len(argnums)):
                    Hw = np.tensordot(np.asarray(blocks[o][j][k], np.float64), w[k], axes=np.ndim(w[k]))
                    actual = actual + np.tensordot(Hw, v[j], axes=np.ndim(v[j]))
            _assert_close(actual, expected[o], f"v·H·w of output {o} vs second differences", noise)


def check_hvp(f, args, argnums, hv, tangents, rng, n_directions=2):
    hv = _as_tuple(hv)
    if len(hv) == len(args) and len(args) != len(argnums):
        hv = tuple(hv[k] for k in argnums)
    assert len(hv) == len(argnums), f"hvp returned {len(hv)} entries for {len(argnums)} float arguments"
    for j, k in enumerate(argnums):
        assert np.shape(hv[j]) == np.shape(args[k]), f"hvp entry {j}: shape {np.shape(hv[j])}"
    for _ in range(n_directions):
        w = tuple(rng.standard_normal(np.shape(args[k])) for k in argnums)
        (expected,), noise = numerical_bilinear(f, args, argnums, tangents, w, with_noise=True)
        actual = sum(float(np.sum(np.asarray(h, np.float64) * wj)) for h, wj in zip(hv, w))
        _assert_close(actual, expected, "<H v, w> vs second differences", noise)


# --------------------------------------------------------------------------------------------
# One (function, mode) check
# --------------------------------------------------------------------------------------------


def run_mode(fn, mode, backend="python", args=None, floats=None, repeat=False):
    """Computes `mode` of `fn` with s2sad and checks it; raises what the check raises
    (AssertionError: a wrong number; S2SADError: a refusal; anything else: a crash)."""
    if args is None:
        args, floats = catalogue_inputs(fn)
    f = pure(fn)
    argnums = floats if len(floats) > 1 else floats[0]
    multi_arg = isinstance(argnums, tuple)
    rng = np.random.default_rng(1)
    outs = f(*args)
    multi_out = isinstance(outs, tuple)

    def again(compute, result):
        if repeat:  # numba: uninitialised memory shows as results that change between calls
            second = compute()
            for a, b in zip(_flatten(result), _flatten(second)):
                if not np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True):
                    raise Nondeterministic(f"two calls disagree: {np.ravel(a)[:4]} vs {np.ravel(b)[:4]}")

    tangents_all = tuple(
        rng.standard_normal(np.shape(a)) if k in floats else np.zeros(np.shape(a)) for k, a in enumerate(args)
    )
    tangents_all = tuple(
        float(t)
        if k in floats and isinstance(args[k], float)
        else (0.0 if np.shape(t) == () and k not in floats else t)
        for k, t in enumerate(tangents_all)
    )
    tangents = tuple(tangents_all[k] for k in floats)

    if mode in ("jacfwd", "jacrev"):
        g = getattr(s2sad, mode)(fn, argnums, backend=backend)
        compute = lambda: g(*_copies(args))  # noqa: E731
        J = compute()
        again(compute, J)
        checks.check_jacobian(f, args, argnums, J, rng=rng)
    elif mode == "grad":
        g = s2sad.grad(fn, argnums, backend=backend)
        compute = lambda: g(*_copies(args))  # noqa: E731
        G = compute()
        again(compute, G)
        checks.check_jacobian(f, args, argnums, G, rng=rng)
    elif mode == "hessian":
        if not multi_out and np.shape(outs) == ():
            g = s2sad.hessian(fn, argnums, backend=backend)
        else:
            g = s2sad.jacfwd(s2sad.jacrev(fn, argnums, backend=backend), argnums, backend=backend)
        compute = lambda: g(*_copies(args))  # noqa: E731
        H = compute()
        again(compute, H)
        check_second_order(f, args, floats, H, multi_out, multi_arg, rng)
    elif mode == "jvp":
        passed = _copies(tangents_all)
        compute = lambda: s2sad.jvp(fn, _copies(args), _copies(tangents_all), backend=backend)  # noqa: E731
        result = s2sad.jvp(fn, _copies(args), passed, backend=backend)
        _untouched(passed, tangents_all, "jvp")
        again(compute, result)
        assert isinstance(result, tuple) and len(result) == 2, "jvp must return (out, tangent_out)"
        out, tangent_out = result
        for o, e in zip(_as_tuple(out), _as_tuple(outs)):
            _assert_close(o, e, "jvp's primal output")
        checks.check_jvp(f, args, floats, tangent_out, tangents)
    elif mode == "vjp":
        out, vjp_fn = s2sad.vjp(fn, *_copies(args), backend=backend)
        for o, e in zip(_as_tuple(out), _as_tuple(outs)):
            _assert_close(o, e, "vjp's primal output")
        cot = tuple(rng.standard_normal(np.shape(o)) for o in _as_tuple(outs))
        cot = cot if multi_out else cot[0]
        again(lambda: vjp_fn(cot), vjp_fn(cot))

        def pick(u):
            bars = _as_tuple(vjp_fn(u))
            assert len(bars) == len(args), f"vjp_fn returned {len(bars)} cotangents for {len(args)} primals"
            return tuple(bars[k] for k in floats)

        checks.dot_product_test(f, args, floats, pick, rng=rng)
    elif mode == "hvp":
        passed = _copies(tangents_all)
        compute = lambda: s2sad.hvp(fn, _copies(args), _copies(tangents_all), backend=backend)  # noqa: E731
        hv = s2sad.hvp(fn, _copies(args), passed, backend=backend)
        _untouched(passed, tangents_all, "hvp")
        again(compute, hv)
        check_hvp(f, args, floats, hv, tangents, rng)
    else:
        raise ValueError(mode)


def _untouched(passed, original, what):
    for k, (a, b) in enumerate(zip(passed, original)):
        assert np.array_equal(np.asarray(a), np.asarray(b)), f"{what} wrote into the caller's tangent {k}"


class Nondeterministic(AssertionError):
    pass


def _flatten(x):
    if isinstance(x, (tuple, list)):
        for item in x:
            yield from _flatten(item)
    else:
        yield x


# --------------------------------------------------------------------------------------------
# Outcomes
# --------------------------------------------------------------------------------------------


def classify(exc):
    """(kind, message) for an exception raised by run_mode."""
    if exc is None:
        return "pass", ""
    message = " ".join(str(exc).split())
    if isinstance(exc, Nondeterministic):
        return "nondeterministic", message
    if isinstance(exc, AssertionError):
        return "wrong number", message
    if isinstance(exc, s2sad.S2SADError):
        return "refusal", f"{type(exc).__name__}: {message}"
    frames = traceback.extract_tb(exc.__traceback__)
    where = "crash"
    for frame in reversed(frames):
        path = frame.filename
        if os.sep + "s2sad" + os.sep in path and "site-packages" not in path:
            where = "crash in compiler"
            break
        if "numba" in path or "numpy" in path:
            continue
        if path != __file__ and os.path.basename(path) != "checks.py":
            where = "crash in generated code"
            break
    return where, f"{type(exc).__name__}: {message}"


def run_function(name, backend="python", modes=MODES, repeat=None):
    """[(mode, kind, message)] for one catalogue function."""
    fn = catalogue_functions()[name]
    args, floats = catalogue_inputs(fn)
    repeat = backend == "numba" if repeat is None else repeat
    results = []
    with np.errstate(all="ignore"):
        try:
            applicable = modes_for(fn, args)
        except Exception as exc:  # noqa: BLE001
            return [("primal", "catalogue error", f"{type(exc).__name__}: {exc}")]
        for mode in modes:
            if mode not in applicable:
                continue
            try:
                run_mode(fn, mode, backend, args, floats, repeat=repeat)
                exc = None
            except Exception as e:  # noqa: BLE001 — every exception is an outcome
                exc = e
            kind, message = classify(exc)
            results.append((mode, kind, message))
    return results


def _isolated(name, backend, modes):
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--backend",
        backend,
        "--only",
        name,
        "--modes",
        ",".join(modes),
        "--json",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if proc.returncode < 0:
        return [("*", "segfault", f"the process died with signal {-proc.returncode}")]
    try:
        return [tuple(r) for r in json.loads(proc.stdout.strip().splitlines()[-1])[name]]
    except Exception:  # noqa: BLE001
        return [("*", "crash", f"child exited {proc.returncode}: {proc.stderr.strip()[-300:]}")]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["python", "numba"], default="python")
    parser.add_argument("--only", default="", help="comma-separated function names")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--isolate", action="store_true", help="one child process per function")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--width", type=int, default=150, help="message width in the table")
    opts = parser.parse_args(argv)
    names = list(catalogue_functions())
    if opts.only:
        wanted = opts.only.split(",")
        unknown = [n for n in wanted if n not in names]
        if unknown:
            parser.error(f"unknown functions: {unknown}")
        names = wanted
    modes = tuple(opts.modes.split(","))
    table = {}
    for name in names:
        if opts.isolate:
            table[name] = _isolated(name, opts.backend, modes)
        else:
            table[name] = run_function(name, opts.backend, modes)
        if not opts.json and opts.isolate:
            print(f"  {name}: {sum(k != 'pass' for _, k, _ in table[name])} not passing", file=sys.stderr)
    if opts.json:
        print(json.dumps(table))
        return 0
    checked = sum(len(r) for r in table.values())
    bad = [(n, m, k, msg) for n, rows in table.items() for m, k, msg in rows if k != "pass"]
    counts = {}
    for _, _, k, _ in bad:
        counts[k] = counts.get(k, 0) + 1
    print(
        f"{len(names)} functions, {checked} checks on {opts.backend}: {checked - len(bad)} pass, "
        + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    )
    print(f"functions passing every mode: {sum(all(k == 'pass' for _, k, _ in r) for r in table.values())}")
    print()
    print(f"{'function':36} {'mode':8} {'kind':24} message")
    for n, m, k, msg in bad:
        print(f"{n:36} {m:8} {k:24} {msg[: opts.width]}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
