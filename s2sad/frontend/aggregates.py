"""Pass (after normalize): tuples that control flow carries become one variable per element.

A tuple built with ``TUPLE`` is followed by the derivative passes element by element: the
tangent or adjoint of ``p[k]`` is that of the k-th atom ``p`` was built from, looked up by
name. That is right in straight-line code (normalize gives every reassignment a new name)
but not across control flow, where a name keeps its spelling: after

    p = (a, b)
    for ...:
        a = a * b
        b = p[0] * a        # p[0] is the *first* a

the name ``a`` holds a later value than ``p[0]``, and a tuple assigned in both arms of an
``if`` has two sets of atoms. So every tuple variable that is assigned more than once, or
whose atoms are reassigned anywhere (which normalize leaves only across control flow), gets
one variable per element, assigned where the tuple is (``p_0 = a; p_1 = b; p = (p_0,
p_1)``), and its constant-index reads read them (``x = p_0``). The element variables are ordinary variables:
the joins of forward mode and the tape of reverse mode carry them as they carry any other.
"""

from __future__ import annotations

from ..ir import COPY, GETITEM, TUPLE, Assign, Const, For, NameGen, Var, all_names, map_statements, walk


def split_tuples(fn):
    fn = _copies_as_tuples(fn)
    counts = {}
    for s in walk(fn.body):
        if isinstance(s, (Assign, For)):
            counts[s.target] = counts.get(s.target, 0) + 1
    for p in fn.params:
        counts[p] = counts.get(p, 0) + 1
    sites = {}  # tuple name -> its TUPLE statements
    for s in walk(fn.body):
        if isinstance(s, Assign) and s.op is TUPLE:
            sites.setdefault(s.target, []).append(s)
    chosen = {}
    for name, stmts in sites.items():
        if counts.get(name) != len(stmts) or len({len(s.args) for s in stmts}) != 1:
            continue  # also assigned by something else (a helper's tuple result, ...)
        # a tuple built once from names assigned once (temporaries, as in a loop's
        # np.concatenate((s[2:], ...))) is right as it is
        moved = counts[name] > 1 or any(isinstance(a, Var) and counts.get(a.name, 0) > 1 for s in stmts for a in s.args)
        if moved:
            chosen[name] = len(stmts[0].args)
    if not chosen:
        return fn
    names = NameGen(all_names(fn))
    elements = {name: [names.fresh(f"{name}_{k}") for k in range(n)] for name, n in chosen.items()}

    def rewrite(s):
        if isinstance(s, Assign) and s.op is TUPLE and s.target in elements:
            parts = elements[s.target]
            return [
                *(Assign(part, COPY, [atom], line=s.line) for part, atom in zip(parts, s.args)),
                Assign(s.target, TUPLE, [Var(p) for p in parts], line=s.line),
            ]
        if (
            isinstance(s, Assign)
            and s.op is GETITEM
            and isinstance(s.args[0], Var)
            and s.args[0].name in elements
            and len(s.args) == 2
            and isinstance(s.args[1], Const)
            and isinstance(s.args[1].value, int)
            and not isinstance(s.args[1].value, bool)
            and -len(elements[s.args[0].name]) <= s.args[1].value < len(elements[s.args[0].name])
        ):
            return [Assign(s.target, COPY, [Var(elements[s.args[0].name][s.args[1].value])], line=s.line)]
        return [s]

    return _with_body(fn, map_statements(fn.body, rewrite))


def _with_body(fn, body):
    """``fn`` with ``body`` (and what normalize recorded in its fields: free_sources, ...)."""
    return fn.replace(body=body)


def _copies_as_tuples(fn):
    """``t = p`` where ``p`` is only ever built by ``TUPLE`` statements of one arity (``t = p if c
    else q``, or ``if c: t = p``): ``t_0 = p[0]; ...; t = (t_0, ...)``, so that ``t`` is a
    tuple built by ``TUPLE`` too, which split_tuples follows element by element."""
    built, sites, counts = {}, {}, {}
    other = set(fn.params)
    for s in walk(fn.body):
        if isinstance(s, (Assign, For)):
            counts[s.target] = counts.get(s.target, 0) + 1
        if isinstance(s, Assign) and s.op is TUPLE:
            built.setdefault(s.target, set()).add(len(s.args))
            sites.setdefault(s.target, []).append(s)
        elif isinstance(s, (Assign, For)):
            other.add(s.target)

    def fixed(name):
        """The atoms of ``name``'s one TUPLE statement, if each is bound once (or a constant)."""
        if len(sites[name]) != 1 or name in fn.params:
            return None
        atoms = sites[name][0].args
        if all(
            isinstance(a, Const)
            or isinstance(a, Var)
            and counts.get(a.name) == 1
            and a.name not in fn.params
            or isinstance(a, Var)
            and a.name in fn.params
            and not counts.get(a.name)
            for a in atoms
        ):
            return atoms
        return None

    arity = {name: next(iter(n)) for name, n in built.items() if len(n) == 1 and name not in other}
    copies = [
        s
        for s in walk(fn.body)
        if isinstance(s, Assign) and s.op is COPY and isinstance(s.args[0], Var) and s.args[0].name in arity
    ]
    if not copies:
        return fn
    names = NameGen(all_names(fn))

    def rewrite(s):
        if isinstance(s, Assign) and s.op is COPY and isinstance(s.args[0], Var) and s.args[0].name in arity:
            parts = [names.fresh(f"{s.target}_{k}") for k in range(arity[s.args[0].name])]
            atoms = fixed(s.args[0].name)
            if atoms is not None:  # the elements themselves (no read of the tuple in a branch)
                out = [Assign(part, COPY, [atom], line=s.line) for part, atom in zip(parts, atoms)]
            else:
                out = [Assign(part, GETITEM, [s.args[0], Const(k)], line=s.line) for k, part in enumerate(parts)]
            return out + [Assign(s.target, TUPLE, [Var(p) for p in parts], line=s.line)]
        return [s]

    return _copies_as_tuples(_with_body(fn, map_statements(fn.body, rewrite)))  # a copy of a copy
