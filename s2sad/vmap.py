"""``vmap``: a function (or any s2sad transformation) mapped over a batch axis.

Three backends, all from the same per-sample code (the inner transformation's IR for one
sample's argument types):

* ``python``: a Python loop calling the per-sample function (the reference);
* ``numba`` (backends/numba/batch.py): ONE generated ``numba.njit(parallel=True)`` function whose body calls the
  per-sample compiled function (its njit dispatcher, imported from its cache module) in a
  ``numba.prange`` loop, writing into output arrays allocated from sample 0's results;
* ``cuda`` (backends/cuda/batch.py): a generated ``numba.cuda`` kernel, one thread per sample. The per-sample IR is
  *scalarized* at specialization: every value is either a compile-time constant (shapes,
  seeds, tape lists) or a static-shaped array of scalar kernel variables, so the kernel body
  is straight-line scalar code (``t = a * b``, ``t = math.sin(a)``) that numba.cuda compiles.
  What cannot be scalarized (an op with no scalar form, data-dependent control flow, a
  per-sample array too large to unroll) raises ``S2SADError``; there is no CPU fallback.

Output shapes follow JAX: the batch axis first (``out_axes=0``), tuples stay tuples.
"""

from __future__ import annotations

import numbers

import numpy as np

from .backends.batching import finish_leaf, flatten, is_device, sample_at, target_dtype, unflatten
from .backends.cuda.batch import call_cuda
from .backends.numba.batch import call_numba
from .errors import S2SADError, UsageError


def vmap(f=None, in_axes=0, out_axes=0, *, backend="numba"):
    """``f`` mapped over a batch axis of its arguments (JAX's ``vmap``).

    Args:
        f: a Python function or any s2sad transformation (``jacrev(predict, argnums=2)``).
        in_axes: an int (every argument batched along that axis), ``None`` (broadcast), or
            a tuple with one entry per positional argument (``None`` or an int).
        out_axes: 0 (the batch axis leads every output); other values raise.
        backend: ``"numba"`` (one compiled ``prange`` loop), ``"python"`` (a Python loop,
            the reference) or ``"cuda"`` (a numba.cuda kernel, one thread per sample).

    Returns:
        A function returning what ``f`` returns, with a leading batch axis on every output
        (tuples stay tuples).
    """
    if f is None or isinstance(f, (int, tuple)):
        if f is not None:
            in_axes = f
        return lambda g: vmap(g, in_axes, out_axes, backend=backend)
    return Vmapped(f, in_axes, out_axes, backend)


class Vmapped:
    """A function mapped over a batch axis; compiled per argument signature."""

    def __init__(self, fn, in_axes=0, out_axes=0, backend="numba"):
        from .api import Transformed

        if backend not in ("numba", "python", "cuda"):
            raise S2SADError(f"vmap: unknown backend {backend!r}: use 'numba', 'python' or 'cuda'")
        if not (out_axes == 0 and isinstance(out_axes, numbers.Integral)) and not (
            isinstance(out_axes, tuple) and all(isinstance(a, numbers.Integral) and a == 0 for a in out_axes)
        ):
            raise S2SADError(f"vmap: out_axes={out_axes!r} is not supported yet; only out_axes=0 (batch axis first)")
        if not (in_axes is None or isinstance(in_axes, (numbers.Integral, tuple, list))):
            raise UsageError(f"vmap: in_axes must be an int, None or a tuple, got {in_axes!r}")
        if isinstance(fn, Vmapped):
            raise S2SADError("vmap of vmap is not supported yet")
        self.fn = fn
        self.in_axes = tuple(in_axes) if isinstance(in_axes, list) else in_axes
        self.out_axes = out_axes
        self.backend = backend
        self.inner = (
            fn
            if isinstance(fn, Transformed)
            else Transformed(fn, "primal", None, "python" if backend == "python" else "numba")
        )
        self._cache = {}
        self._outputs = {}  # (cache key, _layout_key of sample 0): _skeleton of its result
        self._last_source = None
        name = getattr(fn, "__name__", "f")
        self.__name__ = f"{name}_vmap"
        self.__doc__ = getattr(fn, "__doc__", None)

    def __repr__(self):
        return f"<s2sad.vmap of {getattr(self.fn, '__name__', self.fn)!r} in_axes={self.in_axes!r}>"

    def __reduce__(self):
        # by reference to the function and the options, as Transformed pickles (api.py)
        return (Vmapped, (self.fn, self.in_axes, self.out_axes, self.backend))

    @property
    def source(self) -> str:
        """The generated batched source (numba: the prange loop; cuda: the kernel) of the last call."""
        if self._last_source is None:
            raise UsageError(f"source({self.__name__}): call it once first (backend {self.backend!r})")
        return self._last_source

    # --- arguments ----------------------------------------------------------------------------

    def _axes(self, args):
        n = len(args)
        nargs = self.inner.nargs
        if n != nargs:
            raise TypeError(
                f"{self.__name__}() takes {nargs} positional argument{'s' if nargs != 1 else ''} but {n} were given"
            )
        if isinstance(self.in_axes, tuple):
            if len(self.in_axes) != n:
                raise UsageError(
                    f"vmap: in_axes has {len(self.in_axes)} entries but the function takes {n} arguments; give one entry per argument"
                )
            axes = self.in_axes
        else:
            axes = (self.in_axes,) * n
        out, size = [], None
        for k, (a, ax) in enumerate(zip(args, axes)):
            if ax is None:
                out.append(None)
                continue
            if not isinstance(ax, numbers.Integral):
                raise UsageError(f"vmap: in_axes entry {k} must be an int or None, got {ax!r}")
            if isinstance(a, tuple):
                raise S2SADError(
                    f"vmap: argument {k} is a tuple; only in_axes=None (broadcast) is supported for tuples yet"
                )
            nd = len(np.shape(a)) if not is_device(a) else len(a.shape)
            if not -nd <= ax < nd:
                raise UsageError(
                    f"vmap: in_axes={ax} for argument {k} of {nd} dimension{'s' if nd != 1 else ''}: the axis is out of range"
                )
            ax = int(ax) % nd
            m = a.shape[ax] if (is_device(a) or isinstance(a, np.ndarray)) else np.shape(a)[ax]
            if size is not None and m != size:
                raise UsageError(
                    f"vmap: batched arguments have different sizes along their mapped axes ({size} and {m}, argument {k})"
                )
            size = m
            out.append(ax)
        if size is None:
            raise UsageError("vmap: in_axes maps no argument; at least one argument must be batched (an int entry)")
        return tuple(out), size

    def __call__(self, *args):
        from .api import _as_value

        args = tuple(_as_value(a) for a in args)  # lists as arrays, 0-d arrays as scalars
        axes, size = self._axes(args)
        if self.backend == "cuda":
            return call_cuda(self, args, axes, size)
        if any(is_device(a) for a in args):
            raise S2SADError(
                f"vmap(backend={self.backend!r}): got a numba.cuda device array; use backend='cuda' or copy it to the host"
            )
        # batched axes first, contiguous: sample i of argument k is args[k][i]
        args = tuple(
            a if ax is None else np.ascontiguousarray(np.moveaxis(np.asarray(a), ax, 0)) for a, ax in zip(args, axes)
        )
        if size == 0:
            raise UsageError("vmap: the batch is empty (size 0 along the mapped axis)")
        if self.backend == "python":
            return _call_python(self, args, axes, size)
        return call_numba(self, args, axes, size)


# --- python: the reference loop -------------------------------------------------------------------


def _call_python(self, args, axes, size):
    results = [self.inner(*sample_at(args, axes, i)) for i in range(size)]
    dtype = target_dtype(self.inner, sample_at(args, axes, 0))
    leaves0 = flatten(results[0])
    stacked = []
    for j, (path, _) in enumerate(leaves0):
        parts = [np.asarray(flatten(r)[j][1]) for r in results]
        stacked.append(finish_leaf(np.stack(parts), dtype))
    return unflatten(results[0], stacked)
