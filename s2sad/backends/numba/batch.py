"""vmap on numba: one compiled ``prange`` loop over the per-sample njit function."""

from __future__ import annotations

import os

import numpy as np

from ... import backends, pipeline
from ...errors import StructureMiss
from ..batching import LOCK, detached, finish_leaf, flatten, sample_at, target_dtype, unflatten


def _sample_key(self, args, axes):
    from ...api import _arg_key

    sample = tuple(a if ax is None else a[0] for a, ax in zip(args, axes))
    return (axes, _arg_key(sample), self.inner.arg_shapes(sample))


def call_numba(self, args, axes, size):
    key = _sample_key(self, args, axes)
    entry = self._cache.get(key)
    if entry is None:
        with LOCK:
            entry = self._cache.get(key) or _build_numba(self, args, axes)
            self._cache[key] = entry
    free = pipeline.free_values(self.inner)
    sample0 = sample_at(args, axes, 0)
    layout = _layout_key(sample0 + free)
    outputs = self._outputs.get((key, layout)) if layout is not None else None
    if outputs is None:  # sample 0, run once, gives the output shapes and dtypes
        try:
            first = entry[0](*detached(sample0), *detached(free))
        except StructureMiss:  # every sample has sample 0's shapes: the loop would not raise
            with LOCK:
                entry = _build_numba(self, args, axes, plain=True)
                self._cache[key] = entry
            first = entry[0](*detached(sample0), *detached(free))
        outputs = _skeleton(first)
        if layout is not None:
            if len(self._outputs) >= 256:  # e.g. a scalar argument that changes every call
                self._outputs.clear()
            self._outputs[(key, layout)] = outputs
    inner_jit, loop, source = entry
    self._last_source = source
    # the batch's outputs, shaped from the memo: sample 0 runs once, in the loop
    outs = tuple(np.empty((size,) + leaf.shape, leaf.dtype) for _, leaf in flatten(outputs))
    loop(size, *args, *free, *outs)
    dtype = target_dtype(self.inner, sample0)
    return unflatten(outputs, [finish_leaf(o, dtype) for o in outs])


def _skeleton(value):
    """``value`` with each leaf replaced by a dummy of its shape and dtype."""
    if isinstance(value, tuple):
        return tuple(_skeleton(v) for v in value)
    value = np.asarray(value)
    return np.lib.stride_tricks.as_strided(np.zeros(1, value.dtype), value.shape, (0,) * value.ndim)


def _layout_key(values):
    """What the output shapes of a sample may depend on: the shapes and dtypes of arrays, the
    values of scalars (None for a value of another kind: no key)."""
    key = []
    for v in values:
        if isinstance(v, np.ndarray):
            key.append((v.shape, v.dtype.str))
        elif isinstance(v, tuple):
            inner = _layout_key(v)
            if inner is None:
                return None
            key.append(("tuple", inner))
        elif isinstance(v, (bool, int, float, complex, str, np.generic)) or v is None:
            key.append((type(v), v))
        else:
            return None
    return tuple(key)


def _build_numba(self, args, axes, plain=False):
    """(per-sample njit function, the prange loop, source); ``plain``: the per-sample code
    built without the structure pass (its guards raised for these shapes)."""
    import numba

    from ...ad.trace import dummy_like

    sample0 = sample_at(args, axes, 0)
    self.inner.check_args(sample0)
    dummies = tuple(dummy_like(a) for a in sample0)
    ir = self.inner.ir_for(dummies, plain, self.inner.arg_shapes(sample0))
    inner_source = pipeline.emit(ir, kernels=True)
    options = self.inner.options
    glue = pipeline.is_glue(ir, options=options)
    inner_jit = backends.compile_source(inner_source, ir.name, "numba", glue, options.typing_memo)
    inner_path = backends._write_module(backends.numba_module_text(inner_source, glue), ir.name)
    inner_module = "s2sad_generated_" + os.path.basename(inner_path)[:-3]
    free = pipeline.free_values(self.inner)
    try:
        first = inner_jit(*detached(sample0), *detached(free))
    except StructureMiss:
        if plain:
            raise
        return _build_numba(self, args, axes, plain=True)
    leaves = flatten(first)
    n = len(args)
    params = (
        [f"a{k}" for k in range(n)] + [f"free{k}" for k in range(len(free))] + [f"out{j}" for j in range(len(leaves))]
    )
    # a derivative leaves the arrays it writes into as they were (api.Transformed._detached)
    copied = set(self.inner._written_params()) if self.inner.kind != "primal" else set()
    call = ", ".join(
        [
            (f"np.copy({a})" if k in copied else a)
            for k, a in enumerate(f"a{k}" if ax is None else f"a{k}[i]" for k, ax in enumerate(axes))
        ]
        + [f"free{k}" for k in range(len(free))]
    )
    name = f"{ir.name}_vmap"
    lines = [
        f"from {inner_module} import _s2sad_jitted_{ir.name} as per_sample",
        "",
        "",
        f"def {name}(n, {', '.join(params)}):",
        f'    """vmap of {ir.name} (in_axes {axes!r}, batch axis moved first): one parallel loop."""',
        "    for i in numba.prange(n):",
        f"        r = per_sample({call})",
    ]
    for j, (path, leaf) in enumerate(leaves):
        value = f"r{''.join(f'[{p}]' for p in path)}"
        if np.ndim(leaf) == 0:
            lines.append(f"        out{j}[i] = {value}")
        else:  # a shared kernel: its loop is optimized where the loop here is glue
            lines.append(f"        nk.store(out{j}[i], {value})")
    source = "\n".join(lines) + "\n"
    text = "import numba\n" + backends._module_text(source, kernels=True)
    path = backends._write_module(text, name)
    module = backends._import(path, name)
    loop = getattr(module, "_s2sad_jitted_" + name, None)
    if loop is None:
        loop = numba.njit(cache=True, parallel=True)(getattr(module, name))
        setattr(module, "_s2sad_jitted_" + name, loop)
    # compiled now, as glue (backends.glue_loop): the per-sample code was optimized when it
    # was compiled, and the loop only calls it, so optimizing the linked copy again would only
    # lengthen the first call (measured: docs/PERFORMANCE.md)
    outs = [np.empty((1,) + np.shape(leaf), np.asarray(leaf).dtype) for _, leaf in leaves]  # their types
    with backends.glue_loop(name):
        loop.compile(tuple(numba.typeof(v) for v in (len(outs[0]), *args, *free, *outs)))
    return inner_jit, loop, inner_source + "\n\n" + source
