"""The on-disk cache never runs stale code; threads share compiled functions safely."""

import glob
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import s2sad
import sample_functions as sf

pytestmark = pytest.mark.numba  # numba code, cached on disk (in the subprocesses too)

MODULE = """
import numpy as np
def helper(x):
    return np.sin(x)
def f(x):
    return helper(x) * x
"""
RUN = """
import numpy as np, s2sad, mod
x = np.linspace(0.1, 1.0, 4)
print(repr(np.diag(s2sad.jacrev(mod.f)(x)).tolist()))
"""


def run(tmp_path):
    env = dict(os.environ, S2SAD_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", RUN], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return np.array(eval(out.stdout.strip().splitlines()[-1]))


def test_cache_survives_corruption_and_edits(tmp_path):
    (tmp_path / "mod.py").write_text(textwrap.dedent(MODULE))
    x = np.linspace(0.1, 1.0, 4)
    expected = np.cos(x) * x + np.sin(x)
    np.testing.assert_allclose(run(tmp_path), expected, rtol=1e-14)  # cold cache
    cache = tmp_path / "cache"
    for path in glob.glob(str(cache / "__pycache__" / "*.nbi")):
        open(path, "w").write("garbage")  # a corrupted Numba index
    for path in glob.glob(str(cache / "*.py")):
        text = open(path).read()
        open(path, "w").write(text[: len(text) // 2])  # a truncated generated module
    np.testing.assert_allclose(run(tmp_path), expected, rtol=1e-14)
    # editing a helper invalidates the derivative
    (tmp_path / "mod.py").write_text(textwrap.dedent(MODULE).replace("np.sin(x)", "np.cos(x)"))
    np.testing.assert_allclose(run(tmp_path), -np.sin(x) * x + np.cos(x), rtol=1e-14)


SLICED = """
import numpy as np
def f(x):
    return np.sum((x[1:] - x[:-1] ** 2) ** 2)
"""
RUN_SLICED = """
import numpy as np, s2sad, sliced
print(repr(s2sad.grad(sliced.f)(np.linspace(0.1, 1.0, 5)).tolist()))
"""


def test_a_new_process_loads_cached_code_that_calls_generated_helpers(tmp_path):
    # the gradient calls rt.scatter, whose implementation Numba compiles from a module in the
    # cache folder; the cached machine code names that module, and a new process must be
    # able to import it to load the code instead of compiling again
    (tmp_path / "sliced.py").write_text(textwrap.dedent(SLICED))
    env = dict(os.environ, S2SAD_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(tmp_path), NUMBA_DEBUG_CACHE="1")
    outs = [
        subprocess.run([sys.executable, "-c", RUN_SLICED], env=env, capture_output=True, text=True, cwd=tmp_path)
        for _ in range(2)
    ]
    assert all(o.returncode == 0 for o in outs), outs[-1].stderr
    x = np.linspace(0.1, 1.0, 5)
    d = x[1:] - x[:-1] ** 2
    expected = np.zeros(5)
    expected[1:] += 2 * d
    expected[:-1] += -4 * x[:-1] * d
    for o in outs:
        np.testing.assert_allclose(eval(o.stdout.strip().splitlines()[-1]), expected, rtol=1e-13)
    generated = [
        line
        for line in outs[1].stdout.splitlines() + outs[1].stderr.splitlines()
        if "saved" in line and str(tmp_path) in line
    ]
    assert generated == [], generated  # nothing compiled again


def test_two_processes_fill_the_cache_at_once(tmp_path):
    (tmp_path / "mod.py").write_text(textwrap.dedent(MODULE))
    env = dict(os.environ, S2SAD_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(tmp_path))
    procs = [
        subprocess.Popen([sys.executable, "-c", RUN], env=env, stdout=subprocess.PIPE, text=True, cwd=tmp_path)
        for _ in range(2)
    ]
    x = np.linspace(0.1, 1.0, 4)
    for p in procs:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0
        np.testing.assert_allclose(np.array(eval(out.strip().splitlines()[-1])), np.cos(x) * x + np.sin(x), rtol=1e-14)


def test_threads_call_one_new_transformation_at_once():
    rng = np.random.default_rng(0)
    W, b = rng.standard_normal((5, 5)), rng.standard_normal(5)
    xs = [rng.standard_normal(5) for _ in range(8)]
    g = s2sad.jacfwd(sf.predict, argnums=2)  # first call (compilation) happens in the threads
    results = [None] * len(xs)

    def work(k):
        results[k] = g(W, b, xs[k])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for x, J in zip(xs, results):
        t = np.tanh(W @ x + b)
        np.testing.assert_allclose(J, (1 - t**2)[:, None] * W, rtol=1e-13, atol=1e-14)


def test_nan_and_inf_propagate_as_numpy_does():
    x = np.array([0.5, np.nan, np.inf])
    J = s2sad.jacrev(sf.non_scalar, backend="python")(x)
    np.testing.assert_array_equal(np.diag(J), [2.0, 2.0, 2.0])
    g = s2sad.grad(sf.sum_sin, backend="python")(x)
    assert np.isnan(g[1]) and np.isnan(g[2]) and g[0] == np.cos(0.5)


RUN_GLUE = """
import numpy as np, s2sad, sample_functions as sf
from numba.core import codegen
from s2sad import backends
x = np.linspace(-0.4, 0.9, 6)
H = s2sad.hessian(sf.rosen)(x)
print(sorted(backends._GLUE), getattr(codegen.CPUCodeLibrary._optimize_final_module, "s2sad_glue", False))
print(repr(H.tolist()))
"""


def test_long_loop_free_code_compiles_as_glue_and_stays_exact(tmp_path):
    """rosen's Hessian (81 statements, no loop) is compiled without module-level
    optimization of the kernels linked into it (a fresh cache, so it really compiles);
    the result equals scipy's rosen_hess."""
    from scipy.optimize import rosen_hess

    tests = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, S2SAD_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=tests)
    out = subprocess.run([sys.executable, "-c", RUN_GLUE], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    glue, result = out.stdout.strip().splitlines()[-2:]
    assert glue == "['rosen_jacrev_jacfwd'] True"
    np.testing.assert_allclose(np.array(eval(result)), rosen_hess(np.linspace(-0.4, 0.9, 6)), rtol=1e-12)
