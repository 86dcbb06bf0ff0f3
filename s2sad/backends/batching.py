"""What the batched backends of vmap share: one sample of the arguments, the leaves of
(nested) tuple outputs, their dtype."""

from __future__ import annotations

import threading

import numpy as np

LOCK = threading.RLock()


def sample_at(args, axes, i):
    return tuple(a if ax is None else a[i] for a, ax in zip(args, axes))


def detached(values):
    """``values`` with every array copied: a trial run (for the output shapes) must not write
    into the batch's arrays when the function writes into its arguments."""
    return tuple(
        np.copy(v) if isinstance(v, np.ndarray) else detached(v) if isinstance(v, tuple) else v for v in values
    )


def is_device(a):
    return hasattr(a, "copy_to_host") and hasattr(a, "shape") and not isinstance(a, np.ndarray)


def target_dtype(inner, sample):
    from ..api import _check_argnums, _float_dtype

    nums = _check_argnums(inner.argnums, len(sample), inner.kind) if inner.argnums is not None else ()
    return _float_dtype(sample, nums or range(len(sample)))


def flatten(value, path=()):
    """Leaves of a (nested) tuple with their index paths."""
    if isinstance(value, tuple):
        out = []
        for k, v in enumerate(value):
            out += flatten(v, path + (k,))
        return out
    return [(path, value)]


def unflatten(template, leaves):
    """``template``'s (nested) tuples with ``leaves`` in order. No closure: a recursive inner
    function is a reference cycle, which kept the unfinished iterator's list of outputs alive
    until the cyclic collector ran (the heap grew by W6's 0.5 MB output at every call)."""
    return rebuild(template, iter(leaves))


def rebuild(template, leaves):
    if isinstance(template, tuple):
        return tuple(rebuild(t, leaves) for t in template)
    return next(leaves)


def finish_leaf(a, dtype):
    if a.dtype.kind == "f" and a.dtype != dtype:
        return a.astype(dtype)
    return a
