"""Derivative code of a typed function: seeds, forward or reverse mode (forward.py,
reverse.py), and the Jacobian blocks assembled from the batched tangent or adjoint rows
(``out.shape + in.shape``), for every transformation kind (jacfwd, jacrev, grad, jvp, vjp,
value_and_grad)."""

from __future__ import annotations

import numpy as np

from .. import runtime as rt
from ..errors import UnsupportedError, UsageError, where
from ..ir import (
    COPY,
    NEW_STACK,
    TUPLE,
    Assign,
    Const,
    Function,
    NameGen,
    Return,
    Var,
    all_names,
    walk,
)
from .forward import differentiate_forward
from .reverse import differentiate_reverse
from .trace import Builder, Sym, building, call, copy_to, is_float


def differentiate(fn, g, second_order=False) -> Function:
    """The derivative code of transformation ``g`` (its kind and argnums) of the typed code
    ``fn``: forward mode for jacfwd and jvp, reverse mode for jacrev, grad and vjp, batched
    over seeds, and the Jacobian blocks assembled from the tangent or adjoint rows.
    ``second_order``: ``fn`` is itself derivative code."""
    nargs = len(fn.params) - len(fn.free_values)
    user_params = fn.params[:nargs]
    builder = Builder({p: fn.types[p] for p in fn.params}, NameGen(all_names(fn)))
    builder.declared, builder.filename = fn.types, fn.filename
    name = builder.names.fresh(f"{fn.name}_{g.kind}")
    kind = g.kind
    nums = g.argnums if isinstance(g.argnums, tuple) else (g.argnums,)
    nums = tuple(k % nargs for k in nums) if g.argnums is not None else ()
    wrt = [user_params[k] for k in nums]
    for p in wrt:
        if isinstance(fn.types[p], tuple):
            raise UnsupportedError(
                f"{where(fn.filename, fn.def_line)}: argument {p!r} is differentiated but is a "
                "tuple (or list) of values: pass its arrays as separate arguments (or np.stack them into one)"
            )
        if not is_float(fn.types[p]):
            raise UsageError(f"{g.kind}: argument {p!r} is differentiated but is not a float")
    extra_params = []
    if kind in ("jacfwd", "jvp", "jvp_tangents"):
        seeds = {}
        with building(builder, "seed"):
            if kind == "jacfwd":
                # one sweep for all arguments: each gets its rows of one identity
                sizes = [_size(builder, p) for p in wrt]
                offsets = [0]
                for size in sizes:
                    offsets.append(size if isinstance(offsets[-1], int) and offsets[-1] == 0 else offsets[-1] + size)
                total = offsets.pop()
                for p, offset in zip(wrt, offsets):
                    with building(builder, p + "_dot"):
                        seeds[p] = _bind(builder, p + "_dot", rt.seed(builder.sym(p), offset, total))
            else:
                for p in wrt:
                    t = builder.names.fresh(p + "_tangent")
                    builder.types[t] = fn.types[p]
                    extra_params.append(t)
                    seeds[p] = _bind(builder, p + "_dot", _one_seed(builder, t))
        fwd, ret = differentiate_forward(fn, builder, seeds, unit=kind != "jacfwd")
        structure = _structure(fn, ret)
        with building(builder, "jac"):
            if kind in ("jvp", "jvp_tangents"):
                dots = [
                    _regroup(builder, _structure_of(fn, o), lambda leaf: _first(builder, fwd.dot(leaf), leaf))
                    for o in ret.values
                ]
                values = (list(ret.values) if kind == "jvp" else []) + dots
            else:

                def block(leaf):
                    row = [
                        _jac_forward(builder, fwd.dot(leaf), leaf, p, offset, size, len(wrt) > 1)
                        for p, offset, size in zip(wrt, offsets, sizes)
                    ]
                    return _group(builder, row, isinstance(g.argnums, tuple))

                values = [_regroup(builder, structure, block)]
    else:  # reverse: jacrev, grad, vjp
        ret = _probe_outputs(fn)
        structure = _structure(fn, ret)
        leaves = _leaves(structure)
        if kind in ("grad", "value_and_grad"):
            if len(leaves) != 1 or isinstance(structure, list) or not _is_scalar(fn, leaves[0]):
                raise UsageError(
                    f"{kind} requires a function returning a scalar, but {fn.name} returns "
                    f"{describe_output(fn, ret)}; use jacrev for the Jacobian of a non-scalar output"
                )
        if kind == "vjp":
            ct_params, seeds = [], []
            for k, o in enumerate(ret.values):
                if isinstance(_structure_of(fn, o), list):
                    raise UsageError(f"vjp of {fn.name}: output {k} is a nested tuple; not supported yet")
                t = builder.names.fresh(f"out{k}_cotangent")
                builder.types[t] = _dummy_of(fn, o)
                ct_params.append(t)
                seeds.append((o, lambda t=t: _one_seed(builder, t)))
            extra_params = ct_params
            rev = differentiate_reverse(fn, builder, wrt, seeds, unit=True)
            with building(builder, "grad"):
                values = [_first(builder, rev.bars.get(p), Var(p)) for p in wrt]
        else:
            results = {}
            for i, leaf in enumerate(leaves):
                shape = {}

                def seed(leaf=leaf, shape=shape):
                    # the output's shape (and for value_and_grad its value), read before the
                    # reverse sweep restores taped values
                    y = _sym(builder, leaf)
                    shape["y"] = y.shape if isinstance(y, Sym) else ()
                    if kind == "value_and_grad":
                        with building(builder, "value"):
                            shape["value"] = builder.emit(COPY, [Var(y.name) if isinstance(y, Sym) else y])
                    return rt.one(y) if unit else rt.basis(y)

                unit = _is_scalar(fn, leaf)  # one seed: scalar adjoints of scalars
                rev = differentiate_reverse(fn, builder, wrt, [(leaf, seed)], unit=unit)
                with building(builder, "jac" if kind == "jacrev" else "grad"):
                    row = [
                        _jac_reverse(builder, rev.bars.get(p), leaf, p, shape.get("y"))
                        if kind == "jacrev"
                        else _first(builder, rev.bars.get(p), Var(p))
                        for p in wrt
                    ]
                    results[i] = _group(builder, row, isinstance(g.argnums, tuple))
            order = iter(range(len(leaves)))
            values = [_regroup(builder, structure, lambda leaf: results[next(order)])]
            if kind == "value_and_grad":
                values.insert(0, shape["value"])
    builder.stmts.append(
        Return([_atom(v) for v in values], len(values) > 1 or kind in ("jvp", "vjp", "jvp_tangents", "value_and_grad"))
    )
    params = user_params + extra_params + list(fn.free_values)
    out = Function(
        name,
        params,
        builder.stmts,
        fn.filename,
        fn.source_lines,
        builder.types,
        free_values=fn.free_values,
        def_line=fn.def_line,
        # reverse mode of code without stacks pops every stack in the exact mirror order of its
        # pushes, across stacks too (what scalarize.shared_tape needs); code transformed again
        # (jacfwd of jacrev pushes x then x_dot and pops x then x_dot) has no such order
        mirror_stacks=kind in ("jacrev", "grad", "vjp", "value_and_grad")
        and not any(isinstance(s, Assign) and s.op is NEW_STACK for s in walk(fn.body)),
        second_order=second_order,
    )
    return out


def describe_output(fn, ret):
    parts = [codegen_describe(_dummy_of(fn, v)) for v in ret.values]
    return f"a tuple ({', '.join(parts)})" if ret.is_tuple else parts[0]


def codegen_describe(d):
    if isinstance(d, np.ndarray):
        return f"an array of {d.ndim} dimension{'s' if d.ndim != 1 else ''}"
    return type(d).__name__


# --- helpers --------------------------------------------------------------------------------


def _structure_of(fn, atom):
    """An output atom, or (for a value built by a tuple) the nested list of its parts."""
    defs = {s.target: s.args for s in fn.body if isinstance(s, Assign) and s.op is TUPLE}
    if isinstance(atom, Var) and atom.name in defs:
        return [_structure_of(fn, a) for a in defs[atom.name]]
    return atom


def _structure(fn, ret):
    if ret.is_tuple:
        return [_structure_of(fn, v) for v in ret.values]
    return _structure_of(fn, ret.values[0])


def _leaves(structure):
    if isinstance(structure, list):
        return [leaf for part in structure for leaf in _leaves(part)]
    return [structure]


def _regroup(builder, structure, make):
    """Build the value for every leaf with ``make`` and group them as ``structure``."""
    if isinstance(structure, list):
        return _group(builder, [_regroup(builder, part, make) for part in structure], True)
    return make(structure)


def _probe_outputs(fn) -> Return:
    ret = fn.body[-1]
    if not isinstance(ret, Return):
        raise UsageError(f"{fn.name}: the function must end with a return")
    return ret


def _dummy_of(fn, atom):
    return fn.types[atom.name] if isinstance(atom, Var) else atom.value


def _is_scalar(fn, atom):
    d = _dummy_of(fn, atom)
    return is_float(d) and np.ndim(d) == 0


def _sym(builder, atom):
    if isinstance(atom, Var):
        return builder.sym(atom.name)
    return atom.value


def _atom(v):
    if isinstance(v, Sym):
        return Var(v.name)
    if isinstance(v, (Var, Const)):
        return v
    return Const(v)


def _bind(builder, name, value):
    builder.mark = len(builder.stmts) - 1
    return copy_to(builder.names.fresh(name), value)


def _size(builder, p):
    """The number of seeds a parameter needs (1 for a scalar; x.size, emitted, for an array)."""
    return 1 if np.ndim(builder.types[p]) == 0 else np.size(builder.sym(p))


def _one_seed(builder, t):
    """The single seed of jvp/vjp from the user's tangent or cotangent ``t``: a scalar stays
    a scalar (unit mode), an array gets the seed axis of length 1."""
    sym = builder.sym(t)
    return sym if sym.ndim == 0 else rt.add_batch_axis(sym)


def _first(builder, d, atom):
    """Seed 0 of a batched derivative (the single direction of jvp/vjp/grad); zeros if none."""
    primal = _sym(builder, atom)
    if d is None:
        return call(np.zeros_like, primal) if np.ndim(getattr(primal, "dummy", primal)) else 0.0
    if d.ndim == np.ndim(getattr(primal, "dummy", primal)):  # unit mode: a scalar's own
        return d
    return d[0]


def _group(builder, items, as_tuple):
    if as_tuple:
        return builder.emit(TUPLE, list(items))
    return items[0]


def _jac_forward(builder, d, out_atom, p, offset, size, several):
    """Forward-mode tangent rows -> the Jacobian block ``out.shape + p.shape``."""
    y = _sym(builder, out_atom)
    x = builder.sym(p)
    y_ndim = np.ndim(getattr(y, "dummy", y))
    if d is None:
        if not y_ndim and not x.ndim:
            return 0.0
        return call(np.zeros, (y.shape if y_ndim else ()) + (x.shape if x.ndim else ()))
    if several:
        d = d[offset : offset + size]
    if y_ndim:
        d = np.transpose(d, tuple(range(1, y_ndim + 1)) + (0,))
    if x.ndim == 0:
        return d[..., 0] if y_ndim else d[0]
    return np.reshape(call(np.ascontiguousarray, d), (y.shape + x.shape) if y_ndim else x.shape)


def _jac_reverse(builder, bar, out_atom, p, y_shape):
    """Reverse-mode adjoint rows -> the Jacobian block ``out.shape + p.shape``."""
    y = _sym(builder, out_atom)
    x = builder.sym(p)
    y_ndim = np.ndim(getattr(y, "dummy", y))
    y_shape = y_shape if y_shape is not None else (y.shape if y_ndim else ())
    if bar is None:
        shape = (y_shape if y_ndim else ()) + (x.shape if x.ndim else ())
        return call(np.zeros, shape) if y_ndim or x.ndim else 0.0
    if y_ndim == 0:
        return bar if bar.ndim == (x.ndim or 0) else bar[0]
    return (
        np.reshape(call(np.ascontiguousarray, bar), y_shape + x.shape)
        if x.ndim
        else np.reshape(call(np.ascontiguousarray, bar), y_shape)
    )
