"""Every optional pass switched off, one at a time: derivatives still match finite differences.

The optional passes (structure, rename, fusion, glue, the typing memo) must change speed
only. Each is turned off here through ``passes_off``, the only place that knows how (today
the environment variables S2SAD_NO_*), and a few functions are differentiated without it and
checked against central differences (checks.py):

* python backend, in this process: where only ``structure`` changes the code (the others are
  numba's), every switch anyway;
* numba backend, one fresh process per switch with an empty cache folder: glue (LLVM's module
  passes) and the typing memo (installed once per process) act when Numba compiles, so a
  process that compiled, or a cache that holds, the same module would skip them. The child
  process is this file run as a script (``main``): it switches the pass off with the same
  ``passes_off`` before it builds anything.

Each numba check also asserts that the switch did something to that case (the module's text,
or its glue flag, differs from the one built with every pass on; no typing memo installed),
so a switch that stops working fails here instead of testing nothing.
"""

import contextlib
import os
import subprocess
import sys

import numpy as np
import pytest

import s2sad
import sample_functions as sf
from checks import check_jacobian

# pass -> the environment variable that turns it off (s2sad/structure.py, pipeline.py, backends.py)
SWITCHES = {
    "structure": "S2SAD_NO_STRUCTURE",
    "rename": "S2SAD_NO_RENAME",
    "fusion": "S2SAD_NO_FUSION",
    "glue": "S2SAD_NO_GLUE",
    "typing_memo": "S2SAD_NO_TYPING_MEMO",
}


@contextlib.contextmanager
def passes_off(*names):
    """Inside: the passes ``names`` (keys of SWITCHES) are off for what is built. The one
    place that knows how passes are switched: change it (and SWITCHES) when they change."""
    with pytest.MonkeyPatch.context() as mp:
        for name in names:
            mp.setenv(SWITCHES[name], "1")
        yield


# --- cases: (id, mode, function, argnums, args, the function the result is the Jacobian of) -


def _predict_args():
    rng = np.random.default_rng(1)
    return rng.standard_normal((5, 4)) / 2.0, rng.standard_normal(5), rng.standard_normal(4)


def predict_jacobian_x(weight, bias, x):
    """The closed-form Jacobian of predict w.r.t. x: the Hessian is checked as its derivative."""
    t = np.tanh(weight @ x + bias)
    return (1 - t**2)[:, None] * weight


def _case(name):
    rng = np.random.default_rng(2)
    return {
        "predict-jacrev": ("jacrev", sf.predict, (0, 1, 2), _predict_args(), sf.predict),
        "predict-hessian": ("hessian", sf.predict, 2, _predict_args(), predict_jacobian_x),
        "rosen-jacrev": ("jacrev", sf.rosen, 0, (rng.uniform(-1.0, 1.0, 12),), sf.rosen),
        "rosen-jacfwd": ("jacfwd", sf.rosen, 0, (rng.uniform(-1.0, 1.0, 12),), sf.rosen),
        "huber-jacrev": ("jacrev", sf.huber_loop, 0, (2.0 * rng.standard_normal(9), 1.0), sf.huber_loop),
        "rk4-jacfwd": ("jacfwd", sf.rk4, (0, 1), (rng.standard_normal(4), rng.uniform(0.2, 1.0, 3), 0.05, 4), sf.rk4),
        "recurrence-jacrev": ("jacrev", sf.recurrence, (0, 1), (rng.standard_normal(6), 0.7), sf.recurrence),
    }[name]


PYTHON_CASES = ["predict-jacrev", "predict-hessian", "rosen-jacfwd", "huber-jacrev", "recurrence-jacrev"]
# second order loop-free (glue, structure, fusion); arrays (structure, fusion); small arrays in
# a loop, scalarized (rename, typing memo)
NUMBA_CASES = ["predict-hessian", "rosen-jacrev", "rk4-jacfwd"]


def check_case(name, backend):
    mode, fn, argnums, args, oracle = _case(name)
    jac = getattr(s2sad, mode)(fn, argnums, backend=backend)(*args)
    check_jacobian(oracle, args, argnums, jac, rng=np.random.default_rng(3))


def module_text(name):
    """(text, glue) of the module the numba backend compiles for case ``name``, built now."""
    import golden

    mode, fn, argnums, args, _ = _case(name)
    text, glue, _ = golden.numba_module_source(getattr(s2sad, mode)(fn, argnums, backend="numba"), args)
    return text, glue


# --- python: in this process -------------------------------------------------------------------


@pytest.mark.parametrize("case", PYTHON_CASES)
@pytest.mark.parametrize("switch", [None, *SWITCHES])
def test_python_backend_with_a_pass_off(switch, case):
    with passes_off(*([switch] if switch else [])):
        check_case(case, "python")


# --- numba: one fresh process per switch ----------------------------------------------------------


# the cases whose module (its text, or its glue flag) each switch changes: what it is checked on
CHANGED_BY = {
    "structure": {"predict-hessian", "rosen-jacrev"},
    "rename": set(NUMBA_CASES),
    "fusion": {"predict-hessian", "rosen-jacrev"},
    "glue": {"predict-hessian"},
    "typing_memo": set(),  # the text stays: the memo must not be installed (checked after compiling)
}


def main(switch):
    """In a fresh process: build each numba case with every pass on (nothing compiled), then
    with ``switch`` off; check that the switch changed what CHANGED_BY says, compile, and check
    the derivatives. Prints one line per case; the exit status is the number of failures."""
    import traceback

    on = {name: module_text(name) for name in NUMBA_CASES}
    failures = 0
    with passes_off(switch):
        for name in NUMBA_CASES:
            try:
                if name in CHANGED_BY[switch]:
                    assert module_text(name) != on[name], f"{switch} off: the same module as with it on"
                check_case(name, "numba")
                print(f"ok {name}", flush=True)
            except Exception:  # noqa: BLE001 - reported, and counted in the exit status
                failures += 1
                print(f"FAILED {name}\n{traceback.format_exc()}", flush=True)
        if switch == "typing_memo":
            from numba.core.types.functions import BaseFunction

            if getattr(BaseFunction.get_call_type, "s2sad_memo", False):
                failures += 1
                print("FAILED: the typing memo was installed", flush=True)
    return failures


@pytest.mark.numba
@pytest.mark.parametrize("switch", list(SWITCHES))
def test_numba_backend_with_a_pass_off(switch, tmp_path):
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(os.path.abspath(s2sad.__file__)))  # the s2sad under test
    env = dict(
        os.environ,
        S2SAD_CACHE_DIR=str(tmp_path / "cache"),
        PYTHONPATH=os.pathsep.join([root, here, os.environ.get("PYTHONPATH", "")]),
    )
    for var in SWITCHES.values():
        env.pop(var, None)  # the child switches its pass off itself
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), switch],
        check=False,
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, f"{switch} off:\n{out.stdout}\n{out.stderr[-4000:]}"
    assert out.stdout.count("ok ") == len(NUMBA_CASES), out.stdout


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
