"""What is measured for each workload: the methods of s2sad, its peers and the closed forms.

A ``Task`` is one workload at one size, with the closed form in NumPy that every result must
match; a ``Method`` builds the zero-argument call that ``run.py`` times. Peers' modules come
from ``import_peers`` and are only touched inside a method's ``make``, so a missing peer never
stops the others. JAX, torch and autograd run the very functions of ``workloads.py`` with
``np`` rebound (``with_numpy``); what they cannot run as written is spelled here for them.
"""

import types
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import workloads as wl

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
            message = str(error).strip().splitlines()[0] if str(error).strip() else ""
            peers[name] = f"{type(error).__name__}: {message}"[:200]

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
        # jax.block_until_ready, which walks the result as a pytree at every call and would be
        # timed with it (measured: docs/PERFORMANCE.md)
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


def limit_methods(peers, loops, args, allocate=None, fastmath=True):
    """The closed form compiled with numba, without and (``fastmath``) with fastmath.

    ``allocate``: a function returning the output array, for closed forms that fill one.
    """
    variants = [("njit", {})] + [("njit(fastmath=True)", {"fastmath": True})] * fastmath
    methods = []
    for name, options in variants:

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
        Method(f"s2sad {backend}", name, lambda b=backend: build(peers["s2sad"], b), **options) for backend in backends
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
    methods += jax_transform_methods(peers, wl.predict, args, 2, ("jacrev", "jacfwd"), jit_also=("jacrev", "jacfwd"))
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
    methods += jax_transform_methods(peers, wl.predict, args, (0, 1), ("jacrev", "jacfwd"), jit_also=("jacrev",))
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
        autograd_jacobian_method(peers, wl.predict, args, 2, transform="hessian", quick_skip="about 10 s per call")
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
            skip = "a variant" if transform == "jacfwd" else ""
            methods += s2sad_methods(peers, f"vmap({transform})", build, backends, quick_skip=skip)
        for transform in transforms:
            for jit in (True, False):
                if not jit and transform == "jacfwd":
                    continue

                def make(transform=transform, jit=jit):
                    jax = peers["jax"]
                    f = getattr(jax, transform)(with_numpy(wl.predict, jax.numpy), 2)
                    return jax_call(peers, jax.vmap(f, in_axes=(None, None, 0)), args, jit=jit)

                family, name = ("JAX jit", f"jit(vmap({transform}))") if jit else ("JAX no jit", f"vmap({transform})")
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


def w8_tasks(peers):
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
        tasks.append(Task("W8", f"gradient of rosen, n={n}", lambda x=x: wl.rosen_grad_numpy(x), methods))

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
    methods = limit_methods(peers, wl.rk4_pendulums_sensitivity, args, fastmath=full)
    if full:
        methods.append(closed_form_method(wl.rk4_pendulums_sensitivity, args, "same loops in CPython"))
    primals = {"loop as written": wl.rk4_pendulums}
    if full:
        primals["rhs in a helper function"] = wl.rk4_pendulums_helper
    for variant, primal in primals.items():
        for mode in ("jacfwd", "jacrev"):

            def build(s2sad, backend, mode=mode, primal=primal):
                jac = getattr(s2sad, mode)(primal, argnums=(0, 1), backend=backend)
                return lambda: jac(*args)

            backends = ("numba", "python") if full and variant == "loop as written" else ("numba",)
            if not full:
                skip = "s2sad's rows are in the 1000-step task"
            else:
                skip = "a variant" if variant != "loop as written" else ""
            methods += s2sad_methods(peers, f"{mode} ({variant})", build, backends, quick_skip=skip)

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

        slow = "over 1 s per call"
        methods.append(Method("torch.func", mode, torch_jac, quick_skip=slow))
    methods.append(autograd_jacobian_method(peers, wl.rk4_pendulums, args, (0, 1), quick_skip="over 10 s per call"))

    def tangent_rows():
        vjp = peers["tangent"].vjp(wl.rk4_pendulums, wrt=(0, 1))
        seeds = np.eye(4)
        return lambda: tuple(np.stack(rows) for rows in zip(*(vjp(*args, s) for s in seeds), strict=True))

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
    return [Task("W10", "gradient of the Huber loop, n=1000", lambda: wl.huber_grad_numpy(*args), methods)]


def all_tasks(peers, cfg):
    """Every task, in the order of WORKLOADS.md; for --quick, trimmed by ``trim_for_quick``."""
    tasks = [
        predict_jacobian_task(peers, "W1", 16, 16, "jacrev"),
        predict_jacobian_task(peers, "W2", 2048, 32, "jacfwd"),
        predict_jacobian_task(peers, "W3", 32, 2048, "jacrev"),
        *w4_tasks(peers),
        *w5_tasks(peers, cfg),
        *w6_tasks(peers),
        *w7_tasks(peers),
        *w8_tasks(peers),
        *w9_tasks(peers, cfg),
        *w10_tasks(peers),
    ]
    if cfg.quick:
        trim_for_quick(tasks)
    return tasks


def trim_for_quick(tasks):
    """Besides the variants marked where they are made: two families measured less often.

    JAX without jit only on W1 (elsewhere it is far from the limit and its timings would take
    much of a quick run; docs/PERFORMANCE.md), and
    the limit without its fastmath variant (the limit is then numba's plain njit).
    """
    for task in tasks:
        for method in task.methods:
            if method.quick_skip:
                continue
            if method.family == "JAX no jit" and task.workload != "W1":
                method.quick_skip = "JAX without jit only on W1"
            elif method.family == "limit" and "fastmath" in method.name:
                method.quick_skip = "the fastmath variant of the limit"
