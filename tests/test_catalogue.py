"""The catalogue (tests/catalogue_functions.py) in every mode, against independent oracles.

One test per (function, mode): every float argument differentiated; modes jacfwd, jacrev,
hessian (jacfwd(jacrev(f)) for non-scalar outputs), grad and hvp (scalar outputs), jvp, vjp.
Oracles (tests/run_catalogue.py, tests/checks.py) never call s2sad: central differences in
random directions, the dot-product test, second differences for v·H·w.

Outcomes: the right number passes. An `S2SADError` passes only for a function in REFUSED (an
unsupported construct, refused as the README says) and only if its message names the user's
file:line. Anything else fails: a wrong number, any other exception.

What fails today is listed in KNOWN_FAILURES, each with its cause: a number 1-15 is the root
cause of that number in issue 16, "N1"... a cause found by this catalogue (CAUSES below). Those
tests are `xfail(strict=True)`: when a fix makes one pass, it XPASSes, which fails the run, so
the entry must be removed. Python backend for everything; on numba a representative sample in
first-order modes (each numba compile costs seconds; Numba's on-disk cache makes reruns cheap).

The whole table, with messages: `python tests/run_catalogue.py [--backend numba --isolate]`.
"""

import re

import numpy as np
import pytest

import run_catalogue as rc
import s2sad

CAUSES = {
    1: "forward mode: a variable reassigned in a loop reads its pre-loop tangent",
    2: "forward mode: a variable updated in one branch reads an unassigned tangent",
    3: "second order through in-place writes: primal values / dropped terms in the Hessian",
    4: "a % b, np.mod, np.remainder: derivative 0",
    5: "np.dot / np.inner / @ with N-d or 0-d operands: refused without file:line, or crash / wrong",
    6: "mixed advanced indexing (advanced axes move first)",
    7: "lists and tuples of arrays: crash in the compiler",
    8: "reverse mode: a variable that starts as an int gets an integer tape",
    9: "numba: cause 2 reads uninitialised memory (results change between calls, segfaults)",
    10: "numba: arccos/arcsin at +-1 raise ZeroDivisionError",
    11: "writes through a view or an alias are ignored",
    12: "constructors and conversions of a differentiated value treated as constants",
    13: "fancy writes with repeated indices: reverse mode adds every write",
    14: "np.where: NaN of the unselected branch leaks through a multiplication by 0",
    "N1": "tuple swap inside a branch (`if a < b: a, b = b, a`) differentiated as two sequential assignments",
    "N2": "forward mode: a broadcast slice write `y[:] = x[0]` puts the tangent in one element only",
    "N3": "jvp writes into the caller's tangent arrays and vjp's reverse sweep reads arguments the "
    "primal run overwrote (functions that write into their argument)",
    "N4": "jvp of a function with a tuple output: ValueError in s2sad.api.jvp",
    "N5": "a list literal as an index (x[[0, 0, 2]]) is read as a tuple of indices",
    "N6": "second order of np.prod refused, naming the internal rt.prod_others",
    "N7": "a refusal that does not name the user's file:line",
    "N8": "a helper whose loop body reads the loop index: KeyError 'i2' in the compiler (inlining)",
    "N9": "numba: jvp/vjp with a scalar primal or output get a 0-d array where the compiled code "
    "expects a float (TypingError: zeros_batch(array(float64, 0d)), 'Cannot unify array(float64, 0d) and float64')",
    "N10": "numba: A[1:, [0, 2]] (a slice beside a list) does not compile; the refusal names no user file:line "
    "(run_catalogue --backend numba: mixed_advanced_slice_list)",
    "N11": "numba: jacrev w.r.t. a 0-d array argument read in a loop has shape (1,), not ()",
}

# Functions whose refusal (S2SADError naming file:line) is the right outcome, in any mode.
REFUSED = {
    # writes through a view or an alias that another name reads later (issue 16 cause 11)
    "view_slice_write": "a write through a view of y, read later through y: refused",
    "alias_write_argument": "a write through an alias of the argument, read later: refused",
    "alias_write_created": "a write through an alias, read later through the other name: refused",
    "view_reshape_write": "a write through a reshape view: refused",
    "view_transpose_write": "a write through a transposed view: refused",
    "view_row_write": "a write through a row view: refused",
    "view_of_argument_write": "v = x[1:]; v *= 2.0 writes into x through a view: refused",
    "tuple_indexed_in_loop": "a tuple indexed by a run-time value: refused",
    "polynomial_powers": "acc = 0.0 then acc = acc + array: one rank per variable",
    "list_append_loop": "expression statements (list.append)",
}

FWD = "jacfwd hessian jvp"
FWD_S = "jacfwd hessian jvp hvp"  # scalar output
ALL = "jacfwd jacrev hessian grad jvp vjp hvp"
FIRST = "jacfwd jacrev jvp vjp"

# Python backend: {function: [(cause, "modes"), ...]}, measured with tests/run_catalogue.py.
KNOWN_FAILURES = {}

# (function, mode) pairs whose oracle and AD legitimately differ: AD differentiates the code
# as written, at the branch it takes (JAX and autograd give the same).
NOT_COMPARABLE = {
    "where_division_by_zero": (
        "hessian",
        "np.where(x != 0, sin(x) / x, 1.0) at x == 0 takes the constant branch: "
        "its second derivative there is 0, the function's is -1/3 (first order agrees)",
    ),
}

# The numba sample: loops, branches, in-place writes, helpers, edges; first-order modes. Code
# that reads uninitialised memory on numba (cause 9: forward mode through a branch that updates
# a variable) is left to `python tests/run_catalogue.py --backend numba --isolate`: it can
# crash the process.
NUMBA_SAMPLE = [
    "loop_square_scalar",
    "int_start_product_loop",
    "loop_nested_break",
    "helper_early_return",
    "mod_operator",
    "write_scalar_broadcast",
    "where_sqrt_of_negative",
    "zero_d_accumulated_in_loop",
    "nested_tuple_rows",
]
NUMBA_MODES = ("jacfwd", "jacrev", "jvp", "vjp")
KNOWN_FAILURES_NUMBA = {}

FUNCTIONS = rc.catalogue_functions()
_INPUTS = {}


def _inputs(name):
    if name not in _INPUTS:
        _INPUTS[name] = rc.catalogue_inputs(FUNCTIONS[name])
    return _INPUTS[name]


def _known(table, name, mode):
    for cause, modes in table.get(name, ()):
        if mode in modes.split():
            return cause
    return None


def _params(names, modes_of, backend, known):
    params = []
    for name in names:
        for mode in modes_of(name):
            if name in NOT_COMPARABLE and mode == NOT_COMPARABLE[name][0]:
                continue
            marks = []
            cause = _known(known, name, mode)
            if cause is not None:
                marks.append(pytest.mark.xfail(strict=True, reason=f"issue 16 cause {cause}: {CAUSES[cause]}"))
            params.append(pytest.param(name, mode, backend, marks=marks, id=f"{name}-{mode}-{backend}"))
    return params


def _modes(name):
    args, _ = _inputs(name)
    with np.errstate(all="ignore"):
        return rc.modes_for(FUNCTIONS[name], args)


PARAMS = _params(FUNCTIONS, _modes, "python", KNOWN_FAILURES) + _params(
    NUMBA_SAMPLE, lambda name: [m for m in NUMBA_MODES if m in _modes(name)], "numba", KNOWN_FAILURES_NUMBA
)


@pytest.mark.parametrize("name, mode, backend", PARAMS)
def test_catalogue(name, mode, backend):
    fn = FUNCTIONS[name]
    args, floats = _inputs(name)
    try:
        with np.errstate(all="ignore"):
            rc.run_mode(fn, mode, backend, args, floats, repeat=backend == "numba")
    except s2sad.S2SADError as exc:
        if name not in REFUSED:
            raise
        assert re.search(r"catalogue_functions\.py:\d+", str(exc)), f"a refusal must name file:line: {exc}"
    else:
        assert name not in REFUSED, f"{name} now gives the right number: take it out of REFUSED"


def test_tables_name_catalogue_functions():
    """Every table entry names a catalogue function and a mode it is run in."""
    for name in list(REFUSED) + list(KNOWN_FAILURES) + NUMBA_SAMPLE + list(KNOWN_FAILURES_NUMBA) + list(NOT_COMPARABLE):
        assert name in FUNCTIONS, name
    for table in (KNOWN_FAILURES, KNOWN_FAILURES_NUMBA):
        for name, entries in table.items():
            for cause, modes in entries:
                assert cause in CAUSES, (name, cause)
                for mode in modes.split():
                    assert mode in rc.MODES, (name, mode)


def test_catalogue_size_and_inputs():
    """At least 150 functions, each runs as plain NumPy on the inputs its argument names choose."""
    assert len(FUNCTIONS) >= 150
    for name, fn in FUNCTIONS.items():
        args, floats = _inputs(name)
        assert floats, f"{name}: no float argument"
        with np.errstate(all="ignore"):
            out = rc.pure(fn)(*args)
        for o in out if isinstance(out, tuple) else (out,):
            assert np.all(np.isfinite(o)), name


EDGES = [
    pytest.param(
        edge,
        a,
        mode,
        backend,
        id=f"{edge}-{a}-{mode}-{backend}",
    )
    for edge in ("arccos", "arcsin")
    for a in (1.0, -1.0)
    for mode in ("grad", "jacfwd")
    for backend in ("python", "numba")
]


@pytest.mark.parametrize("edge, a, mode, backend", EDGES)
def test_arccos_arcsin_at_plus_minus_one(edge, a, mode, backend):
    """At a = +-1 the derivative is -+1/sqrt(1 - a*a): NumPy's floating-point semantics give
    -+inf, never an exception."""
    import catalogue_functions as cf

    fn = {"arccos": cf._edge_arccos, "arcsin": cf._edge_arcsin}[edge]
    with np.errstate(all="ignore"):
        expected = (-1.0 if edge == "arccos" else 1.0) / np.sqrt(np.float64(1.0) - a * a)
        got = getattr(s2sad, mode)(fn, backend=backend)(a)
    assert got == expected
