#!/usr/bin/env python3
"""Benchmark s2sad against JAX, torch.func, autograd, tangent and the closed forms (W1-W10).

    python benchmarks/run.py                 # everything (tens of minutes on 2 cores)
    python benchmarks/run.py --quick         # fewer sizes/variants/repeats: a few minutes
    python benchmarks/run.py --only W1,W7    # a subset of the workloads of shared/WORKLOADS.md

For each (workload, method): the result is first checked against the closed form in NumPy
(a wrong result is reported and never timed); then the median time per call over at least
5 measurements after a warm-up, the first-call time (transform + compile + one call), and the
peak resident memory of one call. Every method runs with the same thread count (default 1),
fixed by environment variables before NumPy, Numba, JAX or torch is imported.

Output: a Markdown table on stdout, JSON (benchmarks/results/latest.json) and a chart of each
method's time relative to the limit (benchmarks/results/latest.png). The limit of a workload
is the fastest of its closed forms compiled with Numba. A peer that is not installed or cannot
do a workload gets a row saying so; any exception becomes an "error: ..." row.

Last, the s2sad disk cache: the first jacrev call of ``predict`` (D=16, the forecast example)
in a fresh process with an empty S2SAD_CACHE_DIR, then in another fresh process with the
cache that the first one filled.
"""

import argparse
import os
import sys


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes, variants, repeats")
    parser.add_argument("--only", default="", help="comma-separated workloads, e.g. W1,W7")
    parser.add_argument("--threads", type=int, default=1, help="threads for every method")
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--json", default=os.path.join(here, "results", "latest.json"))
    parser.add_argument("--png", default=os.path.join(here, "results", "latest.png"))
    parser.add_argument("--no-cache-check", action="store_true", help="skip the cold/warm run")
    return parser.parse_args()


def thread_env(threads):
    """Environment variables that fix the thread count of every library used here."""
    n = str(threads)
    return {
        "NUMBA_NUM_THREADS": n,
        "OMP_NUM_THREADS": n,
        "MKL_NUM_THREADS": n,
        "OPENBLAS_NUM_THREADS": n,
        "VECLIB_MAXIMUM_THREADS": n,
        "XLA_FLAGS": (
            f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} "
            f"intra_op_parallelism_threads={n}"
        ),
        "JAX_PLATFORMS": "cpu",
    }


def fix_malloc_thresholds():
    """Make glibc return large blocks to the OS at once, so an RSS peak shows each call's arrays.

    By default glibc raises its mmap threshold after a large free and then serves later large
    arrays from memory that is already resident, which hides them from an RSS measurement.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 1 << 16)
        libc.mallopt(m_trim_threshold, 1 << 16)
        return True
    except (OSError, AttributeError):
        return False


# Before any import below: BLAS, Numba, XLA and OpenMP read their thread counts at import.
ARGS = parse_args()
os.environ.update(thread_env(ARGS.threads))
MALLOC_FIXED = fix_malloc_thresholds()

import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
import types  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [HERE, REPO]  # workloads.py, and the s2sad of this checkout before an installed one

import workloads as wl  # noqa: E402

# --- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    quick: bool
    repeats: int  # measurements per method; the median is reported (at least 5)
    measurement_s: float  # a measurement repeats the call until it lasts this long
    max_call_s: float  # a method slower than this per call is timed once, not repeated
    first_call_timeout_s: float  # a first call running longer is interrupted (Python code only)
    rk4_unrolled_steps: int  # RK4 steps for JAX's unrolled loop under jit (its compile time)
    hessian_d_in: int  # W5's input size: 512 as in WORKLOADS.md, smaller for --quick


QUICK = Config(
    quick=True,
    repeats=5,
    measurement_s=0.005,
    max_call_s=0.5,
    first_call_timeout_s=10.0,
    rk4_unrolled_steps=3,
    hessian_d_in=128,
)
FULL = Config(
    quick=False,
    repeats=7,
    measurement_s=0.05,
    max_call_s=5.0,
    first_call_timeout_s=120.0,
    rk4_unrolled_steps=10,
    hessian_d_in=512,
)

# Chart/legend label of each family of methods, and the package it needs.
FAMILIES = {
    "limit": "numba",  # the closed form compiled with numba
    "closed form": None,  # the closed form in NumPy / scipy
    "s2sad numba": "s2sad",
    "s2sad python": "s2sad",
    "JAX jit": "jax",
    "JAX no jit": "jax",
    "torch.func": "torch",
    "autograd": "autograd",
    "tangent": "tangent",
}


@dataclass
class Method:
    family: str  # a key of FAMILIES
    name: str  # how it is called, e.g. "jit(jacrev)"
    make: Callable[[], Callable[[], object]] | None = None  # builds the timed zero-arg call
    unavailable: str = ""  # why there is no `make`: the peer cannot do this workload
    note: str = ""
    quick_skip: str = ""  # why --quick leaves it out (a row says so); "" = kept


@dataclass
class Task:
    workload: str  # "W1"
    name: str
    expected: Callable[[], object]  # the closed form in NumPy: what every result must match
    methods: list = field(default_factory=list)
    note: str = ""
    full_only: bool = False  # a size left out by --quick


# --- peers -----------------------------------------------------------------------------------


def import_peers(threads):
    """name -> module, or the reason it could not be imported."""
    peers = {}

    def attempt(name, importer):
        try:
            peers[name] = importer()
        except Exception as error:  # noqa: BLE001 - any failure means "not available"
            peers[name] = f"{type(error).__name__}: {first_line(error)}"

    def import_jax():
        import jax

        jax.config.update("jax_enable_x64", True)  # float64 throughout, as for every method
        import jax.numpy  # noqa: F401

        return jax

    def import_torch():
        import torch
        import torch.func  # noqa: F401

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(threads)
        return torch

    def import_autograd():
        import autograd
        import autograd.numpy  # noqa: F401

        return autograd

    attempt("numba", lambda: __import__("numba"))
    attempt("s2sad", lambda: __import__("s2sad"))
    attempt("jax", import_jax)
    attempt("torch", import_torch)
    attempt("autograd", import_autograd)
    attempt("tangent", lambda: __import__("tangent"))
    return peers


def with_numpy(func, module):
    """``func`` with its global name ``np`` bound to ``module`` (jax.numpy, autograd.numpy, ...).

    The peers then run the very code object that s2sad differentiates.
    """
    namespace = dict(func.__globals__, np=module)
    return types.FunctionType(func.__code__, namespace, func.__name__, func.__defaults__)


def jax_call(peers, func, args, jit=True):
    jax = peers["jax"]
    func = jax.jit(func) if jit else func
    jax_args = tuple(jax.numpy.asarray(a) if isinstance(a, np.ndarray) else a for a in args)

    def call():
        result = func(*jax_args)
        # JAX dispatches asynchronously; the method on each array is cheaper than
        # jax.block_until_ready's tree walk (~15 µs here)
        for array in result if isinstance(result, tuple) else (result,):
            array.block_until_ready()
        return result

    return call


def torch_call(peers, func, args):
    torch = peers["torch"]
    torch_args = tuple(torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args)
    return lambda: func(*torch_args)


def njit(peers, func, **options):
    """A fresh numba dispatcher, so that its first call includes the compile."""
    return peers["numba"].njit(**options)(func)


def torch_pendulums_rhs(torch, s, p):
    # torch has no negative-step slices: flip(s[:2]) is NumPy's s[1::-1]
    coupling = torch.flip(s[:2], (0,)) - s[:2]
    return torch.cat((s[2:], -p[0] * torch.sin(s[:2]) - p[1] * s[2:] + p[2] * coupling))


def torch_rk4_pendulums(torch, y0, p, dt, n_steps):
    """W9 spelled for torch (same arithmetic as workloads.rk4_pendulums)."""
    y = y0
    for _ in range(n_steps):
        k1 = torch_pendulums_rhs(torch, y, p)
        k2 = torch_pendulums_rhs(torch, y + 0.5 * dt * k1, p)
        k3 = torch_pendulums_rhs(torch, y + 0.5 * dt * k2, p)
        k4 = torch_pendulums_rhs(torch, y + dt * k3, p)
        y = y + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return y


def jax_rk4_pendulums_scan(jax, y0, p, dt, n_steps):
    """W9 rewritten for JAX with lax.scan (a Python loop is unrolled by tracing)."""
    rhs = with_numpy(wl.pendulums_rhs, jax.numpy)

    def step(y, _):
        k1 = rhs(y, p)
        k2 = rhs(y + 0.5 * dt * k1, p)
        k3 = rhs(y + 0.5 * dt * k2, p)
        k4 = rhs(y + dt * k3, p)
        return y + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4), None

    y, _ = jax.lax.scan(step, y0, None, length=n_steps)
    return y


def huber_vectorized(x, delta):
    """W10 rewritten without the loop and the branch, as JAX's jit needs it."""
    a = np.abs(x)
    return np.sum(np.where(a <= delta, 0.5 * x * x, delta * (a - 0.5 * delta)))


# --- method builders shared by several workloads ---------------------------------------------


def limit_methods(peers, loops, args, allocate=None):
    """The closed form compiled with numba, with and without fastmath.

    ``allocate``: a function returning the output array, for closed forms that fill one.
    """
    methods = []
    for name, options in (("njit", {}), ("njit(fastmath=True)", {"fastmath": True})):

        def make(options=options):
            compiled = njit(peers, loops, **options)
            if allocate is None:
                return lambda: compiled(*args)
            return lambda: compiled(*args, allocate())

        methods.append(Method("limit", name, make))
    return methods


def closed_form_method(func, args, name="NumPy"):
    return Method("closed form", name, lambda: lambda: func(*args))


def s2sad_methods(peers, name, build, backends=("numba", "python"), **options):
    """One method per backend; ``build(s2sad, backend)`` returns the timed call."""
    return [
        Method(f"s2sad {backend}", name, lambda b=backend: build(peers["s2sad"], b), **options)
        for backend in backends
    ]


def jax_transform_methods(peers, func, args, argnums, transforms, jit_also=(), **options):
    """jit(T(f)) for each T in ``transforms``; T(f) without jit for each T in ``jit_also``."""
    methods = []
    for transform in transforms:

        def make(transform=transform):
            jax = peers["jax"]
            jax_func = with_numpy(func, jax.numpy)
            return jax_call(peers, getattr(jax, transform)(jax_func, argnums), args)

        methods.append(Method("JAX jit", f"jit({transform})", make, **options))
    for transform in jit_also:

        def make(transform=transform):
            jax = peers["jax"]
            jax_func = with_numpy(func, jax.numpy)
            return jax_call(peers, getattr(jax, transform)(jax_func, argnums), args, jit=False)

        methods.append(Method("JAX no jit", transform, make, **options))
    return methods


def torch_transform_methods(peers, func, args, argnums, transforms, **options):
    """torch.func.T(f) for each T in ``transforms``; ``func`` uses ``np``, rebound to torch."""
    methods = []
    for transform in transforms:

        def make(transform=transform):
            torch = peers["torch"]
            torch_func = with_numpy(func, torch)
            return torch_call(peers, getattr(torch.func, transform)(torch_func, argnums), args)

        methods.append(Method("torch.func", transform, make, **options))
    return methods


def autograd_jacobian_method(peers, func, args, argnums, transform="jacobian", **options):
    """autograd.jacobian (reverse mode only); one call per argument for a tuple of argnums."""

    def make():
        autograd = peers["autograd"]
        ag_func = with_numpy(func, autograd.numpy)
        if isinstance(argnums, int):
            jac = getattr(autograd, transform)(ag_func, argnums)
            return lambda: jac(*args)
        jacs = [getattr(autograd, transform)(ag_func, k) for k in argnums]
        return lambda: tuple(jac(*args) for jac in jacs)

    note = f"{len(argnums)} calls, one per argument" if isinstance(argnums, tuple) else ""
    return Method("autograd", transform, make, note=note, **options)


def tangent_rows_method(peers, func, args, argnum, n_rows):
    """tangent has no jacobian: a Python loop of vjp calls, one per output row."""

    def make():
        tangent = peers["tangent"]
        vjp = tangent.vjp(func, wrt=(argnum,))
        seeds = np.eye(n_rows)
        return lambda: np.stack([vjp(*args, seed) for seed in seeds])

    return Method("tangent", "vjp row loop", make)


def tangent_columns_method(peers, func, args, argnum, n_columns):
    """tangent has no jacobian: a Python loop of jvp calls, one per input column."""

    def make():
        tangent = peers["tangent"]
        jvp = tangent.jvp(func, wrt=(argnum,))
        seeds = np.eye(n_columns)
        return lambda: np.stack([jvp(*args, seed) for seed in seeds], axis=1)

    return Method("tangent", "jvp column loop", make)


def cannot(family, reason):
    return Method(family, "-", unavailable=reason)


# --- the workloads ----------------------------------------------------------------------------


def predict_jacobian_task(peers, workload, d_out, d_in, natural):
    """W1-W3: the Jacobian of predict w.r.t. x."""
    args = wl.predict_inputs(d_out, d_in)
    methods = limit_methods(peers, wl.predict_jac_x_loops, args)
    methods.append(closed_form_method(wl.predict_jac_x_numpy, args))
    for mode in ("jacrev", "jacfwd"):

        def build(s2sad, backend, mode=mode):
            jac = getattr(s2sad, mode)(wl.predict, argnums=2, backend=backend)
            return lambda: jac(*args)

        methods += s2sad_methods(peers, mode, build)
    methods += jax_transform_methods(
        peers, wl.predict, args, 2, ("jacrev", "jacfwd"), jit_also=("jacrev", "jacfwd")
    )
    methods += torch_transform_methods(peers, wl.predict, args, 2, ("jacrev", "jacfwd"))
    methods.append(autograd_jacobian_method(peers, wl.predict, args, 2))
    methods.append(cannot("autograd", "no forward-mode Jacobian in autograd"))
    if natural == "jacfwd":
        methods.append(tangent_columns_method(peers, wl.predict, args, 2, d_in))
    else:
        methods.append(tangent_rows_method(peers, wl.predict, args, 2, d_out))
    if workload == "W1":
        methods += predict_row_loop_methods(peers, args, d_out)
    return Task(
        workload,
        f"Jacobian of predict w.r.t. x, {d_out}x{d_in} ({natural} is natural)",
        lambda: wl.predict_jac_x_numpy(*args),
        methods,
    )


def predict_row_loop_methods(peers, args, d_out):
    """The tutorial's baseline: a Python loop of vjp calls, one per row of the Jacobian."""
    seeds = np.eye(d_out)

    def s2sad_build():
        s2sad = peers["s2sad"]

        def call():
            _, vjp_fn = s2sad.vjp(wl.predict, *args)
            return np.stack([vjp_fn(seed)[2] for seed in seeds])

        return call

    def torch_build():
        torch = peers["torch"]
        weight, bias, x = (torch.from_numpy(a) for a in args)
        torch_seeds = torch.from_numpy(seeds)
        predict = with_numpy(wl.predict, torch)

        def call():
            _, vjp_fn = torch.func.vjp(lambda x: predict(weight, bias, x), x)
            return torch.stack([vjp_fn(seed)[0] for seed in torch_seeds])

        return call

    return [
        Method("s2sad numba", "vjp row loop", s2sad_build),
        Method("torch.func", "vjp row loop", torch_build),
    ]


def w4_tasks(peers):
    args = wl.predict_inputs(16, 16)
    methods = limit_methods(peers, wl.predict_jac_weight_bias_loops, args)
    methods.append(closed_form_method(wl.predict_jac_weight_bias_numpy, args))
    for mode in ("jacrev", "jacfwd"):

        def build(s2sad, backend, mode=mode):
            jac = getattr(s2sad, mode)(wl.predict, argnums=(0, 1), backend=backend)
            return lambda: jac(*args)

        methods += s2sad_methods(peers, mode, build)
    methods += jax_transform_methods(
        peers, wl.predict, args, (0, 1), ("jacrev", "jacfwd"), jit_also=("jacrev",)
    )
    methods += torch_transform_methods(peers, wl.predict, args, (0, 1), ("jacrev", "jacfwd"))
    methods.append(autograd_jacobian_method(peers, wl.predict, args, (0, 1)))
    methods.append(cannot("tangent", "tangent has no Jacobian transform"))
    return [
        Task(
            "W4",
            "Jacobians of predict w.r.t. (weight, bias), D=16",
            lambda: wl.predict_jac_weight_bias_numpy(*args),
            methods,
        )
    ]


def w5_tasks(peers, cfg):
    d_in = cfg.hessian_d_in
    args = wl.predict_inputs(32, d_in)
    shape = (32, d_in, d_in)
    methods = limit_methods(peers, wl.predict_hess_x_fill, args, lambda: np.empty(shape))
    methods.append(closed_form_method(wl.predict_hess_x_numpy, args))

    def variant(outer):
        return "reverse-over-* compositions only in the full run" if outer == "jacrev" else ""

    compositions = {  # name -> (outer, inner)
        "hessian = jacfwd(jacrev)": ("jacfwd", "jacrev"),
        "jacfwd(jacfwd)": ("jacfwd", "jacfwd"),
        "jacrev(jacfwd)": ("jacrev", "jacfwd"),
        "jacrev(jacrev)": ("jacrev", "jacrev"),
    }
    for name, (outer, inner) in compositions.items():

        def build(s2sad, backend, outer=outer, inner=inner):
            inner_jac = getattr(s2sad, inner)(wl.predict, argnums=2, backend=backend)
            hess = getattr(s2sad, outer)(inner_jac, argnums=2, backend=backend)
            return lambda: hess(*args)

        backends = ("numba", "python") if inner == "jacrev" and outer == "jacfwd" else ("numba",)
        methods += s2sad_methods(peers, name, build, backends, quick_skip=variant(outer))
    for outer, inner in compositions.values():

        def make(outer=outer, inner=inner):
            jax = peers["jax"]
            f = with_numpy(wl.predict, jax.numpy)
            hess = getattr(jax, outer)(getattr(jax, inner)(f, 2), 2)
            return jax_call(peers, hess, args)

        methods.append(Method("JAX jit", f"jit({outer}({inner}))", make, quick_skip=variant(outer)))
    methods += jax_transform_methods(peers, wl.predict, args, 2, (), jit_also=("hessian",))
    methods += torch_transform_methods(peers, wl.predict, args, 2, ("hessian",))

    def torch_fwd_fwd():
        torch = peers["torch"]
        f = with_numpy(wl.predict, torch)
        return torch_call(peers, torch.func.jacfwd(torch.func.jacfwd(f, 2), 2), args)

    methods.append(Method("torch.func", "jacfwd(jacfwd)", torch_fwd_fwd, quick_skip="a variant"))
    methods.append(
        autograd_jacobian_method(
            peers, wl.predict, args, 2, transform="hessian", quick_skip="over 10 s per call"
        )
    )
    methods.append(cannot("tangent", "tangent has no Hessian transform"))
    return [
        Task(
            "W5",
            f"Hessian of predict w.r.t. x, 32x{d_in}x{d_in}",
            lambda: wl.predict_hess_x_numpy(*args),
            methods,
        )
    ]


def w6_tasks(peers):
    args = wl.predict_batch_inputs(64, 33, 31)
    weight, bias, xs = args
    tasks = []
    for order, shape in (("jacobian", (64, 33, 31)), ("hessian", (64, 33, 31, 31))):
        if order == "jacobian":
            loops, expected = wl.predict_batch_jac_x_fill, wl.predict_batch_jac_x_numpy
            transforms = ("jacrev", "jacfwd")
        else:
            loops, expected = wl.predict_batch_hess_x_fill, wl.predict_batch_hess_x_numpy
            transforms = ("hessian",)
        methods = limit_methods(peers, loops, args, lambda shape=shape: np.empty(shape))
        methods.append(closed_form_method(expected, args))
        for transform in transforms:

            def build(s2sad, backend, transform=transform):
                inner = getattr(s2sad, transform)(wl.predict, argnums=2, backend=backend)
                batched = s2sad.vmap(inner, in_axes=(None, None, 0), backend=backend)
                return lambda: batched(*args)

            backends = ("numba", "python") if transform != "jacfwd" else ("numba",)
            methods += s2sad_methods(peers, f"vmap({transform})", build, backends)
        for transform in transforms:
            for jit in (True, False):
                if not jit and transform == "jacfwd":
                    continue

                def make(transform=transform, jit=jit):
                    jax = peers["jax"]
                    f = getattr(jax, transform)(with_numpy(wl.predict, jax.numpy), 2)
                    return jax_call(peers, jax.vmap(f, in_axes=(None, None, 0)), args, jit=jit)

                family, name = (
                    ("JAX jit", f"jit(vmap({transform}))")
                    if jit
                    else ("JAX no jit", f"vmap({transform})")
                )
                methods.append(Method(family, name, make))
        for transform in transforms:

            def make(transform=transform):
                torch = peers["torch"]
                f = getattr(torch.func, transform)(with_numpy(wl.predict, torch), 2)
                return torch_call(peers, torch.func.vmap(f, in_dims=(None, None, 0)), args)

            methods.append(Method("torch.func", f"vmap({transform})", make))

        def autograd_loop(transform="jacobian" if order == "jacobian" else "hessian"):
            autograd = peers["autograd"]
            f = getattr(autograd, transform)(with_numpy(wl.predict, autograd.numpy), 2)
            return lambda: np.stack([f(weight, bias, x) for x in xs])

        methods.append(
            Method(
                "autograd",
                "Python loop over the batch",
                autograd_loop,
                note="autograd has no vmap",
                quick_skip="over 10 s per call" if order == "hessian" else "",
            )
        )
        methods.append(cannot("tangent", "tangent has no Jacobian, Hessian or vmap transform"))
        tasks.append(
            Task(
                "W6",
                f"batched {order} of predict, {'x'.join(map(str, shape))}",
                lambda expected=expected: expected(*args),
                methods,
            )
        )
    return tasks


def w7_tasks(peers):
    args = wl.vector_inputs(2048)
    x, v = args
    methods = limit_methods(peers, wl.sin_sum_hvp_loops, args)
    methods.append(closed_form_method(wl.sin_sum_hvp_numpy, args))

    def s2sad_hvp():
        return lambda: peers["s2sad"].hvp(wl.sin_sum, (x,), (v,))[0]

    def s2sad_rev_rev():
        s2sad = peers["s2sad"]
        grad = s2sad.grad(wl.sin_sum)
        return lambda: s2sad.vjp(grad, x)[1](v)[0]

    methods += [
        Method("s2sad numba", "hvp (jvp of grad)", s2sad_hvp),
        Method("s2sad numba", "vjp of grad (reverse over reverse)", s2sad_rev_rev),
    ]

    def s2sad_naive(s2sad, backend):
        hess = s2sad.hessian(wl.sin_sum, backend=backend)
        return lambda: hess(x) @ v

    methods += s2sad_methods(peers, "hessian(f)(x) @ v", s2sad_naive)
    methods += jax_hvp_methods(peers, wl.sin_sum, args, naive=True)
    methods += torch_hvp_methods(peers, wl.sin_sum, args, naive=True)
    methods += autograd_hvp_methods(peers, wl.sin_sum, args, naive=True)
    methods.append(tangent_hvp_method(peers, wl.sin_sum, args))
    return [Task("W7", "HVP of sum(sin(x)), n=2048", lambda: wl.sin_sum_hvp_numpy(x, v), methods)]


def jax_hvp_methods(peers, func, args, naive=False):
    def forward_over_reverse(jit):
        def make():
            jax = peers["jax"]
            f = with_numpy(func, jax.numpy)
            return jax_call(peers, lambda x, v: jax.jvp(jax.grad(f), (x,), (v,))[1], args, jit)

        return make

    def reverse_over_reverse():
        jax = peers["jax"]
        f = with_numpy(func, jax.numpy)
        hvp = jax.grad(lambda x, v: jax.numpy.vdot(jax.grad(f)(x), v))
        return jax_call(peers, hvp, args)

    def full_hessian():
        jax = peers["jax"]
        f = with_numpy(func, jax.numpy)
        return jax_call(peers, lambda x, v: jax.hessian(f)(x) @ v, args)

    methods = [
        Method("JAX jit", "jit(jvp of grad)", forward_over_reverse(True)),
        Method("JAX jit", "jit(grad of grad.v)", reverse_over_reverse),
        Method("JAX no jit", "jvp of grad", forward_over_reverse(False)),
    ]
    if naive:
        methods.append(Method("JAX jit", "jit(hessian(f)(x) @ v)", full_hessian))
    return methods


def torch_hvp_methods(peers, func, args, naive=False):
    def forward_over_reverse():
        torch = peers["torch"]
        grad = torch.func.grad(with_numpy(func, torch))
        return torch_call(peers, lambda x, v: torch.func.jvp(grad, (x,), (v,))[1], args)

    def reverse_over_reverse():
        torch = peers["torch"]
        grad = torch.func.grad(with_numpy(func, torch))
        return torch_call(peers, lambda x, v: torch.func.vjp(grad, x)[1](v)[0], args)

    def full_hessian():
        torch = peers["torch"]
        hess = torch.func.hessian(with_numpy(func, torch))
        return torch_call(peers, lambda x, v: hess(x) @ v, args)

    methods = [
        Method("torch.func", "jvp of grad", forward_over_reverse),
        Method("torch.func", "vjp of grad", reverse_over_reverse),
    ]
    if naive:
        methods.append(Method("torch.func", "hessian(f)(x) @ v", full_hessian))
    return methods


def autograd_hvp_methods(peers, func, args, naive=False):
    def reverse_over_reverse():
        autograd = peers["autograd"]
        hvp = autograd.hessian_vector_product(with_numpy(func, autograd.numpy))
        return lambda: hvp(*args)

    def full_hessian():
        autograd = peers["autograd"]
        hess = autograd.hessian(with_numpy(func, autograd.numpy))
        return lambda: hess(args[0]) @ args[1]

    methods = [Method("autograd", "hessian_vector_product", reverse_over_reverse)]
    if naive:
        methods.append(Method("autograd", "hessian(f)(x) @ v", full_hessian))
    return methods


def tangent_hvp_method(peers, func, args):
    def make():
        tangent = peers["tangent"]
        hvp = tangent.jvp(tangent.grad(func))  # arguments: x, the grad's seed, the tangent
        return lambda: hvp(args[0], 1.0, args[1])

    return Method("tangent", "jvp of grad", make)


def w8_tasks(peers, cfg):
    tasks = []
    for n in (1000, 100_000):
        x, v = wl.vector_inputs(n)
        methods = limit_methods(peers, wl.rosen_grad_loops, (x,))
        methods.append(closed_form_method(wl.rosen_grad_numpy, (x,), "scipy rosen_der"))

        def build(s2sad, backend, x=x):
            grad = s2sad.grad(wl.rosen, backend=backend)
            return lambda: grad(x)

        methods += s2sad_methods(peers, "grad", build)
        methods += jax_transform_methods(peers, wl.rosen, (x,), 0, ("grad",), jit_also=("grad",))
        methods += torch_transform_methods(peers, wl.rosen, (x,), 0, ("grad",))
        methods.append(autograd_jacobian_method(peers, wl.rosen, (x,), 0, transform="grad"))

        def tangent_grad(x=x):
            grad = peers["tangent"].grad(wl.rosen)
            return lambda: grad(x)

        methods.append(Method("tangent", "grad", tangent_grad))
        tasks.append(
            Task("W8", f"gradient of rosen, n={n}", lambda x=x: wl.rosen_grad_numpy(x), methods)
        )

    x, _ = wl.vector_inputs(1000)
    methods = limit_methods(peers, wl.rosen_hess_loops, (x,))
    methods.append(closed_form_method(wl.rosen_hess_numpy, (x,), "scipy rosen_hess"))

    def build_hessian(s2sad, backend):
        hess = s2sad.hessian(wl.rosen, backend=backend)
        return lambda: hess(x)

    methods += s2sad_methods(peers, "hessian", build_hessian)
    methods += jax_transform_methods(peers, wl.rosen, (x,), 0, ("hessian",), jit_also=("hessian",))
    methods += torch_transform_methods(peers, wl.rosen, (x,), 0, ("hessian",))
    methods.append(autograd_jacobian_method(peers, wl.rosen, (x,), 0, transform="hessian"))
    methods.append(cannot("tangent", "tangent has no Hessian transform"))
    tasks.append(Task("W8", "Hessian of rosen, n=1000", lambda: wl.rosen_hess_numpy(x), methods))

    for n in (1000, 100_000):
        args = wl.vector_inputs(n)
        methods = limit_methods(peers, wl.rosen_hvp_loops, args)
        methods.append(closed_form_method(wl.rosen_hvp_numpy, args, "scipy rosen_hess_prod"))

        def s2sad_hvp(args=args):
            return lambda: peers["s2sad"].hvp(wl.rosen, (args[0],), (args[1],))[0]

        methods.append(Method("s2sad numba", "hvp (jvp of grad)", s2sad_hvp))
        methods += jax_hvp_methods(peers, wl.rosen, args)
        methods += torch_hvp_methods(peers, wl.rosen, args)
        methods += autograd_hvp_methods(peers, wl.rosen, args)
        methods.append(tangent_hvp_method(peers, wl.rosen, args))
        tasks.append(
            Task(
                "W8",
                f"HVP of rosen, n={n}",
                lambda args=args: wl.rosen_hvp_numpy(*args),
                methods,
                full_only=n > 1000,
            )
        )
    return tasks


def w9_tasks(peers, cfg):
    """RK4 as written (1000 steps), and with few steps for JAX's jit of the unrolled loop."""
    return [rk4_task(peers, cfg, 1000), rk4_task(peers, cfg, cfg.rk4_unrolled_steps)]


def rk4_task(peers, cfg, n_steps):
    y0, p = wl.rk4_inputs()
    dt = wl.RK4_DT
    args = (y0, p, dt, n_steps)
    full = n_steps == 1000  # else: the short run for JAX's unrolled loop
    methods = limit_methods(peers, wl.rk4_pendulums_sensitivity, args)
    if full:
        methods.append(
            closed_form_method(wl.rk4_pendulums_sensitivity, args, "same loops in CPython")
        )
    primals = {"loop as written": wl.rk4_pendulums}
    if full:
        primals["rhs in a helper function"] = wl.rk4_pendulums_helper
    for variant, primal in primals.items():
        for mode in ("jacfwd", "jacrev"):

            def build(s2sad, backend, mode=mode, primal=primal):
                jac = getattr(s2sad, mode)(primal, argnums=(0, 1), backend=backend)
                return lambda: jac(*args)

            backends = ("numba", "python") if full and variant == "loop as written" else ("numba",)
            methods += s2sad_methods(peers, f"{mode} ({variant})", build, backends)

    def jax_unrolled(mode, jit):
        def make():
            jax = peers["jax"]
            rk4 = with_numpy(wl.rk4_pendulums, jax.numpy)
            jac = getattr(jax, mode)(lambda y0, p: rk4(y0, p, dt, n_steps), (0, 1))
            return jax_call(peers, jac, (y0, p), jit)

        return make

    if not full:
        for mode in ("jacfwd", "jacrev"):
            methods.append(
                Method(
                    "JAX jit",
                    f"jit({mode}) (loop as written, unrolled)",
                    jax_unrolled(mode, jit=True),
                )
            )
        note = (
            f"{n_steps} steps, not 1000: JAX unrolls the Python loop under jit and its "
            "compile time grows faster than the step count (jit(jacrev) of 10 steps took "
            "49 s to compile on the 2-core machine, 100 steps of jit(jacfwd) over 400 s)"
        )
        return Task(
            "W9",
            f"Jacobian of RK4 final state w.r.t. (y0, p), {n_steps} steps",
            lambda: wl.rk4_pendulums_sensitivity(*args),
            methods,
            note=note,
        )

    for mode in ("jacfwd", "jacrev"):

        def scan(mode=mode):
            jax = peers["jax"]
            f = lambda y0, p: jax_rk4_pendulums_scan(jax, y0, p, dt, n_steps)  # noqa: E731
            return jax_call(peers, getattr(jax, mode)(f, (0, 1)), (y0, p))

        methods.append(Method("JAX jit", f"jit({mode}), rewritten with lax.scan", scan))
    methods.append(
        Method(
            "JAX jit",
            "jit(jacfwd) (loop as written)",
            unavailable=(f"unrolled by tracing: see the {cfg.rk4_unrolled_steps}-step task"),
        )
    )
    methods.append(
        Method(
            "JAX no jit",
            "jacfwd (loop as written)",
            jax_unrolled("jacfwd", False),
            quick_skip="over 10 s per call",
        )
    )
    for mode in ("jacfwd", "jacrev"):

        def torch_jac(mode=mode):
            torch = peers["torch"]
            f = lambda y0, p: torch_rk4_pendulums(torch, y0, p, dt, n_steps)  # noqa: E731
            return torch_call(peers, getattr(torch.func, mode)(f, (0, 1)), (y0, p))

        slow = "over 2 s per call: only jacrev in --quick" if mode == "jacfwd" else ""
        methods.append(Method("torch.func", mode, torch_jac, quick_skip=slow))
    methods.append(
        autograd_jacobian_method(
            peers, wl.rk4_pendulums, args, (0, 1), quick_skip="over 10 s per call"
        )
    )

    def tangent_rows():
        vjp = peers["tangent"].vjp(wl.rk4_pendulums, wrt=(0, 1))
        seeds = np.eye(4)
        return lambda: tuple(
            np.stack(rows) for rows in zip(*(vjp(*args, s) for s in seeds), strict=True)
        )

    methods.append(Method("tangent", "vjp row loop", tangent_rows))
    return Task(
        "W9",
        f"Jacobian of RK4 final state w.r.t. (y0, p), {n_steps} steps",
        lambda: wl.rk4_pendulums_sensitivity(*args),
        methods,
    )


def w10_tasks(peers):
    x = wl.huber_inputs(1000)
    args = (x, wl.HUBER_DELTA)
    methods = limit_methods(peers, wl.huber_grad_loops, args)
    methods.append(closed_form_method(wl.huber_grad_numpy, args, "NumPy clip"))

    def build(s2sad, backend):
        grad = s2sad.grad(wl.huber_loop, backend=backend)
        return lambda: grad(*args)

    methods += s2sad_methods(peers, "grad", build)

    def jax_grad(func, jit):
        def make():
            jax = peers["jax"]
            return jax_call(peers, jax.grad(with_numpy(func, jax.numpy)), args, jit)

        return make

    methods += [
        Method("JAX jit", "jit(grad) (loop as written)", jax_grad(wl.huber_loop, True)),
        Method("JAX jit", "jit(grad), rewritten with where", jax_grad(huber_vectorized, True)),
        Method(
            "JAX no jit",
            "grad (loop as written)",
            jax_grad(wl.huber_loop, False),
            quick_skip="over 2 s per call",
        ),
    ]

    def torch_grad():
        torch = peers["torch"]
        return torch_call(peers, torch.func.grad(wl.huber_loop), args)  # runs on tensors as is

    methods.append(Method("torch.func", "grad", torch_grad))
    methods.append(autograd_jacobian_method(peers, wl.huber_loop, args, 0, transform="grad"))

    def tangent_grad():
        grad = peers["tangent"].grad(wl.huber_loop)
        return lambda: grad(*args)

    methods.append(Method("tangent", "grad", tangent_grad))
    return [
        Task(
            "W10", "gradient of the Huber loop, n=1000", lambda: wl.huber_grad_numpy(*args), methods
        )
    ]


def all_tasks(peers, cfg):
    """Every task, in the order of WORKLOADS.md."""
    return [
        predict_jacobian_task(peers, "W1", 16, 16, "jacrev"),
        predict_jacobian_task(peers, "W2", 2048, 32, "jacfwd"),
        predict_jacobian_task(peers, "W3", 32, 2048, "jacrev"),
        *w4_tasks(peers),
        *w5_tasks(peers, cfg),
        *w6_tasks(peers),
        *w7_tasks(peers),
        *w8_tasks(peers, cfg),
        *w9_tasks(peers, cfg),
        *w10_tasks(peers),
    ]


# --- measuring ---------------------------------------------------------------------------------


class CallTimeout(BaseException):
    """Raised by time_limit; a BaseException, so that libraries' ``except Exception`` let it by."""


class time_limit:
    """Interrupts the block after ``seconds`` (Python code only: a long C call ends first)."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __enter__(self):
        def interrupt(signum, frame):
            raise CallTimeout

        self.previous = signal.signal(signal.SIGALRM, interrupt)
        # repeats every 0.5 s: Python swallows an exception raised inside a garbage-collector
        # callback ("Exception ignored in ..."), as JAX's are, so one alarm may be lost
        signal.setitimer(signal.ITIMER_REAL, self.seconds, 0.5)

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous)
        return False


def first_line(error, limit=200):
    """A one-line message: the first lines that say something, without banners."""
    lines = [line.strip() for line in str(error).splitlines()]
    lines = [line for line in lines if line and line.strip("=-*_ ") and line != "Tangent Error"]
    lines = lines[: next((k for k, line in enumerate(lines) if "Suggestion" in line), len(lines))]
    text = " ".join(lines[:2]) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def to_numpy(value):
    if isinstance(value, (tuple, list)):
        return tuple(to_numpy(v) for v in value)
    if hasattr(value, "detach"):  # torch
        return value.detach().cpu().numpy()
    return np.asarray(value)


def compare(actual, expected, rtol=1e-6):
    """'' when ``actual`` matches the closed form, else what is wrong."""
    if isinstance(expected, tuple):
        if not isinstance(actual, tuple) or len(actual) != len(expected):
            return f"expected a tuple of {len(expected)} arrays, got {type(actual).__name__}"
        for k, (a, e) in enumerate(zip(actual, expected, strict=True)):
            problem = compare(a, e, rtol)
            if problem:
                return f"item {k}: {problem}"
        return ""
    if isinstance(actual, tuple):
        return f"got a tuple of {len(actual)}, expected one array"
    if actual.shape != expected.shape:
        return f"shape {actual.shape}, expected {expected.shape}"
    if actual.dtype != expected.dtype:
        return f"dtype {actual.dtype}, expected {expected.dtype}"
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    if not np.allclose(actual, expected, rtol=rtol, atol=1e-12 * max(scale, 1.0)):
        error = float(np.max(np.abs(actual - expected)))
        return f"max abs error {error:.3g} (largest entry {scale:.3g})"
    return ""


def rss_kib(field_name):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise OSError(f"{field_name} not in /proc/self/status")


def peak_rss_delta_mib(call):
    """Peak resident memory during one call, above the resident memory before it."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # resets VmHWM, the peak RSS, to the current RSS
        before = rss_kib("VmRSS")
        call()
        return max(rss_kib("VmHWM") - before, 0) / 1024
    except OSError:
        return None


def tracemalloc_peak_mib(call):
    """Peak of the memory Python and NumPy allocate during one call (not numba/JAX/torch's)."""
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def time_calls(call, number):
    start = time.perf_counter()
    for _ in range(number):
        call()
    return (time.perf_counter() - start) / number


def measure(task, method, cfg, expected, cache_root):
    row = {
        "workload": task.workload,
        "task": task.name,
        "family": method.family,
        "method": method.name,
        "note": method.note,
        "status": "ok",
    }
    if method.make is None:
        row["status"] = f"n/a: {method.unavailable}"
        return row
    if method.family.startswith("s2sad"):
        # an empty disk cache per method: its first call pays the whole transform and compile
        os.environ["S2SAD_CACHE_DIR"] = tempfile.mkdtemp(dir=cache_root)
    try:
        with time_limit(cfg.first_call_timeout_s):
            start = time.perf_counter()
            call = method.make()
            result = call()
            row["first_call_s"] = time.perf_counter() - start
        problem = compare(to_numpy(result), expected)
        if problem:
            row["status"] = f"wrong: {problem}"
            return row
    except CallTimeout:
        row["status"] = f"timeout: first call > {cfg.first_call_timeout_s:g} s, interrupted"
        return row
    except Exception as error:  # noqa: BLE001 - every failure becomes a row
        row["status"] = f"error: {type(error).__name__}: {first_line(error)}"
        return row
    try:
        with time_limit(cfg.first_call_timeout_s + row["first_call_s"]):
            warm = time_calls(call, 1)  # the warm-up call
    except CallTimeout:
        row["status"] = "timeout: second call interrupted"
        return row

    if warm > cfg.max_call_s:
        samples = [warm]
        row["note"] = "; ".join(filter(None, [row["note"], "slow: timed once, not repeated"]))
        row["calls_per_measurement"] = 1
    else:
        number = max(1, int(cfg.measurement_s / warm))
        samples = [time_calls(call, number) for _ in range(cfg.repeats)]
        row["calls_per_measurement"] = number
    row["measurements"] = len(samples)
    row["median_us"] = statistics.median(samples) * 1e6
    row["min_us"] = min(samples) * 1e6
    row["peak_rss_delta_mib"] = peak_rss_delta_mib(call)
    # tracemalloc slows Python-heavy calls severalfold: only for the quick ones
    fast = warm <= cfg.max_call_s / 10
    row["tracemalloc_peak_mib"] = tracemalloc_peak_mib(call) if fast else None
    return row


def run_tasks(tasks, peers, cfg, cache_root):
    rows = []
    for task in tasks:
        expected = to_numpy(task.expected())
        reported_missing = set()
        for method in task.methods:
            peer = FAMILIES[method.family]
            start = time.perf_counter()
            if cfg.quick and method.quick_skip:
                row = bare_row(task, method, f"skipped in --quick: {method.quick_skip}")
            elif peer == "s2sad" and isinstance(peers[peer], str):
                row = bare_row(task, method, f"error: import s2sad failed: {peers[peer]}")
            elif peer is not None and isinstance(peers[peer], str):
                if peer in reported_missing:  # one row per task for a missing peer
                    continue
                reported_missing.add(peer)
                row = bare_row(task, method, f"not installed: {peer}: {peers[peer]}", name="-")
            else:
                row = measure(task, method, cfg, expected, cache_root)
            row["wall_s"] = time.perf_counter() - start  # everything this row cost
            if task.note:
                row["task_note"] = task.note
            rows.append(row)
            print(
                f"  {task.workload:4} {task.name[:40]:40} {method.family:12} "
                f"{method.name[:36]:36} {format_us(row.get('median_us')):>10} us "
                f"{row['wall_s']:6.1f} s  {row['status'][:50]}",
                file=sys.stderr,
                flush=True,
            )
        add_limit_ratios([r for r in rows if r["task"] == task.name])
    return rows


def bare_row(task, method, status, name=None):
    return {
        "workload": task.workload,
        "task": task.name,
        "family": method.family,
        "method": method.name if name is None else name,
        "note": "",
        "status": status,
    }


def add_limit_ratios(rows):
    """vs_limit = median / the fastest closed form compiled with numba."""
    limits = [r["median_us"] for r in rows if r["family"] == "limit" and "median_us" in r]
    if not limits:
        return
    for row in rows:
        if "median_us" in row:
            row["vs_limit"] = row["median_us"] / min(limits)


# --- s2sad's disk cache: first call in a fresh process, cold and warm ---------------------------

COLD_WARM_SCRIPT = """
import json, time
start = time.perf_counter()
import numpy as np
import s2sad
import workloads as wl
imported = time.perf_counter()
args = wl.predict_inputs(16, 16)
jac = s2sad.jacrev(wl.predict, argnums=2)(*args)
done = time.perf_counter()
print(json.dumps({"import_s": imported - start, "first_call_s": done - imported,
                  "correct": bool(np.allclose(jac, wl.predict_jac_x_numpy(*args)))}))
"""


def cold_warm_cache(threads):
    """jacrev of predict (D=16) in two fresh processes sharing one new S2SAD_CACHE_DIR."""
    cache = tempfile.mkdtemp(prefix="s2sad-bench-coldwarm-")
    env = dict(
        os.environ,
        **thread_env(threads),
        S2SAD_CACHE_DIR=cache,
        PYTHONPATH=os.pathsep.join([HERE, REPO, os.environ.get("PYTHONPATH", "")]),
    )
    runs = []
    try:
        for state in ("cold", "warm"):
            start = time.perf_counter()
            try:
                done = subprocess.run(
                    [sys.executable, "-c", COLD_WARM_SCRIPT],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                wall = time.perf_counter() - start
                if done.returncode != 0:
                    runs.append(
                        {
                            "cache": state,
                            "status": "error: "
                            + first_line(
                                done.stderr.strip().splitlines()[-1]
                                if done.stderr.strip()
                                else f"exit {done.returncode}"
                            ),
                        }
                    )
                    continue
                run = json.loads(done.stdout.strip().splitlines()[-1])
                run.update(
                    cache=state,
                    process_s=wall,
                    status="ok" if run.pop("correct") else "wrong result",
                )
                runs.append(run)
            except subprocess.TimeoutExpired:
                runs.append({"cache": state, "status": "timeout: > 300 s"})
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return runs


# --- output ------------------------------------------------------------------------------------


def format_us(value):
    if value is None:
        return "-"
    if value >= 1e6:
        return f"{value / 1e6:.2f} s"
    if value >= 100:
        return f"{value:,.0f}".replace(",", " ")
    return f"{value:.3g}"


def format_number(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def format_ratio(value):
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 10 else f"{value:,.0f}".replace(",", " ")


def markdown(rows, meta, cache_runs):
    lines = [
        "# s2sad benchmark" + (" (--quick)" if meta["quick"] else ""),
        "",
        f"- threads: {meta['threads']} for every method ({meta['thread_env']})",
        f"- machine: {meta['machine']}; Python {meta['python']}",
        f"- versions: {', '.join(f'{k} {v}' for k, v in meta['versions'].items())}",
        f"- time: median per call over {meta['repeats']}+ measurements after a warm-up call "
        "(a measurement repeats the call until it lasts "
        f"{meta['measurement_s'] * 1e3:g} ms); methods slower than {meta['max_call_s']:g} s "
        "per call are timed once",
        "- x limit: median / the fastest closed form compiled with numba (the limit)",
        "- first call: transform + compile + one call; s2sad with an empty S2SAD_CACHE_DIR",
        "- peak MiB: peak RSS (VmHWM, reset before the call) minus RSS before, during one warm "
        "call; glibc mmap threshold fixed at 64 KiB"
        + ("" if meta["malloc_fixed"] else " (failed: may under-report)")
        + "; tracemalloc peak (NumPy/Python allocations only) is in the JSON",
        "- every result is checked against the closed form in NumPy (rtol 1e-6) before it is "
        "timed; a wrong result is never timed",
        "",
        "| workload | task | family | method | µs/call | x limit | first call s | peak MiB "
        "| status |",
        "|---|---|---|---|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        status = row["status"] + (f" ({row['note']})" if row.get("note") else "")
        lines.append(
            f"| {row['workload']} | {row['task']} | {row['family']} | {row['method']} "
            f"| {format_us(row.get('median_us'))} | {format_ratio(row.get('vs_limit'))} "
            f"| {format_number(row.get('first_call_s'), 3)} "
            f"| {format_number(row.get('peak_rss_delta_mib'))} | {status.replace('|', '/')} |"
        )
    task_notes = {(r["workload"], r["task"]): r["task_note"] for r in rows if r.get("task_note")}
    for (workload, task), note in task_notes.items():
        lines += ["", f"{workload} {task}: {note}"]
    if cache_runs is not None:
        lines += [
            "",
            "## s2sad first call in a fresh process: empty vs warm S2SAD_CACHE_DIR",
            "",
            "jacrev of predict w.r.t. x, D=16 (the forecast example's Jacobian)",
            "",
            "| cache | import numpy + s2sad, s | first call, s | whole process, s | status |",
            "|---|---:|---:|---:|---|",
        ]
        for run in cache_runs:
            lines.append(
                f"| {run['cache']} | {format_number(run.get('import_s'), 3)} "
                f"| {format_number(run.get('first_call_s'), 3)} "
                f"| {format_number(run.get('process_s'), 3)} | {run['status']} |"
            )
    return "\n".join(lines)


CHART_STYLE = {  # family -> (colour, marker)
    "limit": ("black", "|"),
    "closed form": ("grey", "s"),
    "s2sad numba": ("tab:red", "o"),
    "s2sad python": ("lightcoral", "o"),
    "JAX jit": ("tab:blue", "D"),
    "JAX no jit": ("lightblue", "D"),
    "torch.func": ("tab:orange", "^"),
    "autograd": ("tab:green", "v"),
    "tangent": ("tab:purple", "P"),
}


def chart(rows, meta, path):
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys((r["workload"], r["task"]) for r in rows))
    families = list(CHART_STYLE)
    fig, ax = plt.subplots(figsize=(12, 0.55 * len(tasks) + 2))
    labelled = set()
    for y, (_, task) in enumerate(tasks):
        task_rows = [r for r in rows if r["task"] == task]
        timed = [r["vs_limit"] for r in task_rows if "vs_limit" in r]
        for row in task_rows:
            # each family on its own line within the task's band
            offset = 0.6 * (families.index(row["family"]) / (len(families) - 1) - 0.5)
            if "vs_limit" in row:
                colour, marker = CHART_STYLE[row["family"]]
                label = row["family"]
                x = row["vs_limit"]
            elif row["family"].startswith("s2sad") and timed:
                # s2sad without a time (error, timeout, wrong): marked right of the task's points
                colour, marker, label = "tab:red", "x", "s2sad: no time (see table)"
                x = max(timed) * 3
            else:
                continue
            ax.scatter(
                x,
                y + offset,
                color=colour,
                marker=marker,
                s=30,
                label=None if label in labelled else label,
                zorder=3,
                alpha=0.85,
            )
            labelled.add(label)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.axvline(2.0, color="tab:red", linewidth=0.8, linestyle="--", label="2x the limit (target)")
    ax.set_xscale("log")
    ax.set_yticks(range(len(tasks)))
    labels = [textwrap.fill(f"{w} {t}", 38) for w, t in tasks]
    ax.set_yticklabels(labels, fontsize=7.5)
    ax.set_ylim(len(tasks) - 0.5, -0.5)
    for y in range(len(tasks) - 1):
        ax.axhline(y + 0.5, color="grey", linewidth=0.4, alpha=0.5)
    ax.grid(axis="x", which="both", alpha=0.3)
    ax.set_xlabel("time per call / the limit (closed form compiled with numba); log scale")
    ax.set_title(
        f"s2sad benchmark{' (--quick)' if meta['quick'] else ''}: "
        f"{meta['threads']} thread(s) for every method, {meta['machine']}",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def versions(peers):
    found = {"numpy": np.__version__}
    for name in ("numba", "s2sad", "jax", "torch", "autograd", "tangent"):
        module = peers.get(name)
        if isinstance(module, str):
            found[name] = "missing"
        else:
            found[name] = getattr(module, "__version__", "?")
    return found


def main(args):
    cfg = QUICK if args.quick else FULL
    wanted = {w.strip().upper() for w in args.only.split(",") if w.strip()}
    cache_root = tempfile.mkdtemp(prefix="s2sad-bench-cache-")
    os.environ["S2SAD_CACHE_DIR"] = cache_root  # before s2sad is imported
    started = time.perf_counter()
    try:
        peers = import_peers(args.threads)
        meta = {
            "quick": cfg.quick,
            "threads": args.threads,
            "thread_env": " ".join(f"{k}={v}" for k, v in thread_env(args.threads).items()),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
            "python": platform.python_version(),
            "versions": versions(peers),
            "repeats": cfg.repeats,
            "measurement_s": cfg.measurement_s,
            "max_call_s": cfg.max_call_s,
            "first_call_timeout_s": cfg.first_call_timeout_s,
            "malloc_fixed": MALLOC_FIXED,
            "memory": "peak RSS delta over one warm call (VmHWM reset via /proc/self/clear_refs)",
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        tasks = [
            t
            for t in all_tasks(peers, cfg)
            if (not wanted or t.workload in wanted) and not (cfg.quick and t.full_only)
        ]
        print(f"{len(tasks)} tasks, threads={args.threads}", file=sys.stderr)
        rows = run_tasks(tasks, peers, cfg, cache_root)
        cache_runs = None
        if not args.no_cache_check:
            print("  s2sad cold/warm cache ...", file=sys.stderr, flush=True)
            cache_runs = cold_warm_cache(args.threads)
    finally:
        shutil.rmtree(cache_root, ignore_errors=True)
    meta["total_s"] = time.perf_counter() - started
    print(markdown(rows, meta, cache_runs))
    print(f"\ntotal: {meta['total_s']:.1f} s")
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json, "w") as out:
        json.dump({"meta": meta, "rows": rows, "cold_warm_cache": cache_runs}, out, indent=1)
    chart(rows, meta, args.png)
    print(f"wrote {args.json} and {args.png}", file=sys.stderr)


if __name__ == "__main__":
    main(ARGS)
