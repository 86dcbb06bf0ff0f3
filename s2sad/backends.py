"""Pass 9: source -> callable. The only module that imports numba.

``python`` runs the generated source with NumPy; ``numba`` writes it into a module file in
the cache folder (``$S2SAD_CACHE_DIR``, default ``~/.cache/s2sad``) and compiles it with
``numba.njit(cache=True)``, so machine code is reused across processes. Every file is
registered with ``linecache``, so tracebacks and pdb show the generated code.
"""

from __future__ import annotations

import hashlib
import importlib.util
import linecache
import os
import sys
import threading

import numpy as np

from . import runtime
from .codegen import HEADER
from .errors import S2SADError

_LOCK = threading.RLock()


def cache_dir() -> str:
    path = os.environ.get("S2SAD_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "s2sad")
    os.makedirs(path, exist_ok=True)
    return path


def _module_text(source: str) -> str:
    return HEADER + "\n\n" + source


def _write_module(text: str, name: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = os.path.join(cache_dir(), f"{name}_{digest}.py")
    if not os.path.exists(path) or open(path).read() != text:
        tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(tmp, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)  # atomic: two processes filling the cache never see half a file
    return path


def _import(path: str, name: str):
    module_name = "s2sad_generated_" + os.path.basename(path)[:-3]
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[module_name] = module
    return module


def compile_python(source: str, name: str):
    text = _module_text(source)
    path = _write_module(text, name)
    linecache.updatecache(path)
    return getattr(_import(path, name), name)


def compile_numba(source: str, name: str):
    import numba

    register_numba_runtime()
    text = _module_text(source)
    path = _write_module(text, name)
    module = _import(path, name)
    with _LOCK:
        jitted = getattr(module, "_s2sad_jitted_" + name, None)
        if jitted is None:
            jitted = numba.njit(cache=True)(getattr(module, name))
            setattr(module, "_s2sad_jitted_" + name, jitted)
    return jitted


BACKENDS = {"python": compile_python, "numba": compile_numba}


def compile_source(source: str, name: str, backend: str):
    try:
        compiler = BACKENDS[backend]
    except KeyError:
        raise S2SADError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}") from None
    return compiler(source, name)


# --- Numba implementations of the runtime helpers -------------------------------------------

_REGISTERED = False


def register_numba_runtime():
    """Give each runtime primitive a Numba implementation (once per process)."""
    global _REGISTERED
    with _LOCK:
        if _REGISTERED:
            return
        _REGISTERED = True
        _register()


def _register():
    from numba import types
    from numba.extending import overload

    def is_array(t):
        return isinstance(t, types.Array)

    @overload(runtime.astype)
    def astype_impl(x, dtype):
        if is_array(x):
            return lambda x, dtype: x.astype(dtype)
        return lambda x, dtype: dtype(x)

    @overload(runtime.zeros_batch)
    def zeros_batch_impl(like, x):
        if is_array(x):
            return lambda like, x: np.zeros((like.shape[0],) + x.shape, like.dtype)
        return lambda like, x: np.zeros(like.shape[0], like.dtype)

    @overload(runtime.basis)
    def basis_impl(x):
        if is_array(x):
            def impl(x):
                n = x.size
                return np.eye(n, dtype=x.dtype).reshape((n,) + x.shape)
            return impl
        return lambda x: np.ones((1,), dtype=np.float64)

    @overload(runtime.seed)
    def seed_impl(x, offset, total):
        if is_array(x):
            def impl(x, offset, total):
                n = x.size
                out = np.zeros((total, n), dtype=x.dtype)
                for k in range(n):
                    out[offset + k, k] = 1.0
                return out.reshape((total,) + x.shape)
            return impl

        def scalar_impl(x, offset, total):
            out = np.zeros(total, dtype=np.float64)
            out[offset] = 1.0
            return out
        return scalar_impl

    @overload(runtime.add_batch_axis)
    def add_batch_axis_impl(t):
        if is_array(t):
            return lambda t: np.ascontiguousarray(t).reshape((1,) + t.shape)
        return lambda t: np.full(1, t)

    @overload(runtime.broadcast_like)
    def broadcast_like_impl(t, g):
        lead = (t.ndim if is_array(t) else 0) - (g.ndim if is_array(g) else 0)
        if not is_array(g):
            return lambda t, g: t
        if not is_array(t):
            return lambda t, g: np.full(g.shape, t)

        def impl(t, g):
            return np.broadcast_to(t, t.shape[:lead] + g.shape)
        return impl

    @overload(runtime.sum_to)
    def sum_to_impl(g, x):
        if not is_array(x) or x.ndim == 0:
            return lambda g, x: g
        lead = g.ndim - x.ndim
        nd = g.ndim

        def impl(g, x):
            shape = g.shape[:lead] + x.shape
            same = True
            for k in range(x.ndim):
                if x.shape[k] != g.shape[lead + k]:
                    same = False
            if same:
                return np.ascontiguousarray(g)
            out = np.zeros(shape, g.dtype)
            flat_out = out.reshape(-1)
            gc = np.ascontiguousarray(g).reshape(-1)
            gshape = np.empty(nd, np.int64)
            oshape = np.empty(nd, np.int64)
            for k in range(nd):
                gshape[k] = g.shape[k]
                oshape[k] = shape[k]
            for i in range(gc.size):
                rem = i
                o = 0
                stride = 1
                for k in range(nd - 1, -1, -1):
                    idx = rem % gshape[k]
                    rem //= gshape[k]
                    if oshape[k] == 1:
                        idx = 0
                    o += idx * stride
                    stride *= oshape[k]
                flat_out[o] += gc[i]
            return out
        return impl

    @overload(runtime.bmatmul)
    def bmatmul_impl(a, b):
        if a.ndim == 2 and b.ndim == 2:
            return lambda a, b: a @ b
        return _bmatmul_source(a.ndim, b.ndim)

    @overload(runtime.cumsum_rows)
    def cumsum_rows_impl(t):
        def impl(t):
            c = np.ascontiguousarray(t)
            flat = c.reshape((-1, c.shape[-1])) if c.ndim > 1 else c.reshape((1, c.shape[0]))
            out = np.empty_like(flat)
            for r in range(flat.shape[0]):
                acc = 0.0
                for k in range(flat.shape[1]):
                    acc += flat[r, k]
                    out[r, k] = acc
            return out.reshape(c.shape)
        return impl

    @overload(runtime.prod_others)
    def prod_others_impl(x):
        def impl(x):
            flat = np.ascontiguousarray(x).reshape(-1)
            n = flat.size
            out = np.ones(n, flat.dtype)
            acc = 1.0
            for k in range(n):
                out[k] = acc
                acc *= flat[k]
            acc = 1.0
            for k in range(n - 1, -1, -1):
                out[k] *= acc
                acc *= flat[k]
            return out.reshape(x.shape)
        return impl

    _register_scatter(overload, types, is_array)


def _bmatmul_source(ra, rb):
    """Numba implementation of a stacked matmul for operand ranks (ra, rb), as generated code:
    stacks broadcast like NumPy's; each product is one 2-D BLAS call."""
    sa, sb = ra - 2, rb - 2
    s = max(sa, sb)
    dims = []
    for i in range(s):
        ia, ib = i - (s - sa), i - (s - sb)
        terms = [f"a.shape[{ia}]"] * (ia >= 0) + [f"b.shape[{ib}]"] * (ib >= 0)
        dims.append(terms[0] if len(terms) == 1 else f"max({terms[0]}, {terms[1]})")
    stack = "(" + "".join(d + ", " for d in dims) + ")"
    lines = [
        "def impl(a, b):",
        f"    stack = {stack}",
        f"    n, m, k = a.shape[{ra - 2}], a.shape[{ra - 1}], b.shape[{rb - 1}]",
    ]
    if sb == 0:  # b is one matrix: all rows of a in one product
        lines += [
            "    A = np.ascontiguousarray(np.broadcast_to(a, stack + (n, m))).reshape((-1, m))",
            "    return (A @ np.ascontiguousarray(b)).reshape(stack + (n, k))",
        ]
    else:
        a_part = "a2 = np.ascontiguousarray(a)" if sa == 0 else \
            "A = np.ascontiguousarray(np.broadcast_to(a, stack + (n, m))).reshape((-1, n, m))"
        lines += [
            f"    {a_part}",
            "    B = np.ascontiguousarray(np.broadcast_to(b, stack + (m, k))).reshape((-1, m, k))",
            "    out = np.empty((B.shape[0], n, k), a.dtype)",
            "    for i in range(B.shape[0]):",
            "        out[i] = " + ("a2" if sa == 0 else "A[i]") + " @ B[i]",
            "    return out.reshape(stack + (n, k))",
        ]
    namespace = {"np": np}
    exec("\n".join(lines), namespace)
    return namespace["impl"]


def _register_scatter(overload, types, is_array):
    """``rt.scatter(ct, x, *index)``: one generated implementation per index pattern."""

    @overload(runtime.scatter)
    def scatter_impl(ct, x, *index):
        if isinstance(index, tuple) and len(index) == 1 and isinstance(index[0], types.BaseTuple):
            index = tuple(index[0])
        kinds = []
        for t in index:
            if isinstance(t, types.NoneType) or t is types.none:
                kinds.append("none")
            elif isinstance(t, types.SliceType):
                kinds.append("slice")
            elif isinstance(t, types.Integer):
                kinds.append("int")
            elif is_array(t) and isinstance(t.dtype, types.Integer) and t.ndim == 1:
                kinds.append("array")
            else:
                raise S2SADError(f"rt.scatter: index of type {t} has no Numba implementation yet")
        x_ndim = x.ndim if is_array(x) else 0
        y_ndim = x_ndim - sum(k == "int" for k in kinds) + sum(k == "none" for k in kinds)
        if kinds.count("array") > 1:
            raise S2SADError("rt.scatter: more than one index array has no Numba implementation yet")
        lead = ct.ndim - y_ndim
        kept = [i for i, k in enumerate(kinds) if k != "none"]
        lines = ["def impl(ct, x, *index):"]
        lines += [f"    i{i} = index[{i}]" for i in range(len(kinds))]
        lines.append("    out = np.zeros(ct.shape[:LEAD] + x.shape, ct.dtype)")
        gathered_shape = []  # ct reshaped without the None axes
        lines.append("    c = np.ascontiguousarray(ct)")
        # shape of ct without None axes: drop the size-1 axes None inserted
        axis = lead
        dims = [f"c.shape[{k}]" for k in range(lead)]
        for k in kinds:
            if k == "none":
                axis += 1
            elif k in ("slice", "array"):
                dims.append(f"c.shape[{axis}]")
                axis += 1
        for k in range(axis, ct.ndim):
            dims.append(f"c.shape[{k}]")
        gathered_shape = "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"
        lines.append(f"    c = c.reshape({gathered_shape})")
        pre = ", ".join([":"] * lead)
        if "array" in kinds:
            a = kinds.index("array")
            # loop over the index array so repeated indices accumulate
            lines.append(f"    for j in range(i{a}.shape[0]):")
            parts = []
            ct_parts = []
            for i in kept:
                if i == a:
                    parts.append(f"i{a}[j]")
                    ct_parts.append("j")
                else:
                    parts.append(f"i{i}")
                    if kinds[i] == "slice":
                        ct_parts.append(":")
            index_out = ", ".join(([pre] if pre else []) + parts)
            index_ct = ", ".join(([pre] if pre else []) + ct_parts)
            lines.append(f"        out[{index_out}] += c[{index_ct}]")
        else:
            parts = [f"i{i}" for i in kept]
            index_out = ", ".join(([pre] if pre else []) + parts) or "..."
            lines.append(f"    out[{index_out}] += c")
        lines.append("    return out")
        namespace = {"np": np, "LEAD": lead}
        exec("\n".join(lines), namespace)
        return namespace["impl"]
