"""Random NumPy programs (tests/fuzz.py): jacfwd == jacrev, both against finite differences,
jvp against finite differences, vjp by the dot-product test, grad/hessian/hvp against second
differences; and the fuzzer's finds as regressions.

Bounded for CI: derandomized Hypothesis, a few dozen programs on the python backend, a few
on numba. The CI slice writes the issue-16 patterns that pass today (fuzz.CI_PATTERNS); each
pattern that fails today (fuzz.KNOWN_FAILING_PATTERNS) has a strict xfail test, which XPASSes
(and fails the run) once a fix makes its programs pass: then move it to the CI slice.
Long campaigns, every pattern: `python -m tests.fuzz --n 500 --seed 1 [--backend numba]`.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hseed

import fuzz
import fuzz_regressions


def run_program(program, backend):
    try:
        fuzz.check_program(program, backend)
    except fuzz.Skip:
        pass  # no smooth input for this program (a structural kink tie)
    except fuzz.Failure:
        print(program.source())
        raise


COMMON = dict(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


@settings(max_examples=60, **COMMON)
@given(fuzz.programs(dead_values=0.0, patterns=fuzz.CI_PATTERNS))
def test_random_programs_python(program):
    run_program(program, "python")


@pytest.mark.numba
@settings(max_examples=1, **COMMON)
@given(fuzz.programs(allow_control=False, max_statements=3, dead_values=0.0, patterns=()))
def test_random_programs_numba(program):
    # first order only: every numba compile costs ~1-5 s
    try:
        fuzz.check_program(program, "numba", second_order=False)
    except fuzz.Skip:
        pass


# A known-failing pattern alone (3-d arrays with the N-d products and indexing they feed).
PATTERN_SETS = {"nd": {"nd", "nd_product", "mixed_index"}, "range_arg": {"range_arg", "reassign_loop"}}


@pytest.mark.parametrize(
    "pattern",
    [
        pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=f"issue 16 cause {cause}"))
        for p, cause in sorted(fuzz.KNOWN_FAILING_PATTERNS.items())
    ],
)
def test_known_failing_pattern(pattern):
    """Programs made mostly of one known-failing pattern: one of 150 fails (in a few programs,
    as it stops at the first failure); once none does, the XPASS says to move the pattern."""
    settings_ = {**COMMON, "derandomize": False}

    @hseed(0)
    @settings(max_examples=150, phases=[Phase.generate], **settings_)
    @given(fuzz.programs(max_statements=3, dead_values=0.0, patterns=PATTERN_SETS.get(pattern, {pattern}), focus=True))
    def inner(program):
        run_program(program, "python")

    inner()


SLOW = {("reg_numba_readonly_adjoint", "numba")}  # > 10 s, cache cold
CASES = [
    pytest.param(
        name,
        backend,
        id=f"{name}-{backend}",
        marks=[pytest.mark.slow] if (name, backend) in SLOW else [],
    )
    for name, entry in fuzz_regressions.REGRESSIONS.items()
    for backend in entry["backends"]
]


# Regressions that fail since the checks cover jvp and vjp too: {(name, backend): cause}.
KNOWN_REGRESSION_FAILURES = {}
CASES = [
    pytest.param(
        *c.values,
        marks=[
            *c.marks,
            pytest.mark.xfail(strict=True, reason=f"issue 16 cause {KNOWN_REGRESSION_FAILURES[c.values]}"),
        ],
        id=c.id,
    )
    if c.values in KNOWN_REGRESSION_FAILURES
    else c
    for c in CASES
]


@pytest.mark.parametrize("name, backend", CASES)
def test_fuzz_regression(name, backend):
    entry = fuzz_regressions.REGRESSIONS[name]
    if "args" in entry:  # int or 0-d arguments: written out literally
        args = entry["args"]
    else:
        args = fuzz_regressions.regression_inputs(entry["shapes"], entry["seed"])
    with np.errstate(all="ignore"):
        # (numba: second order only where the find was; each compile costs seconds in CI)
        second = backend == "python" or entry.get("numba_second_order", True)
        fuzz.check_function(entry["fn"], args, backend, entry["control"], second_order=second)


@pytest.mark.parametrize("pattern", fuzz.PATTERNS)
def test_fuzzer_generates_what_it_claims(pattern):
    """The generator's programs run under NumPy and produce the declared output shape; asked
    for one pattern, it writes it."""
    from hypothesis import strategies as st

    seen = set()

    # zero_d needs a scalar parameter among the drawn ones, and a coin toss: more draws
    @settings(max_examples=100 if pattern == "zero_d" else 30, **COMMON)
    @given(fuzz.programs(patterns=PATTERN_SETS.get(pattern, {pattern})), st.integers(0, 3))
    def inner(program, k):
        f, probe = fuzz.load(program)
        args = program.inputs(program.seed + k)
        with np.errstate(all="ignore"):
            out = f(*fuzz._copies(args))
            probe(*fuzz._copies(args), fuzz.Recorder())
        assert np.shape(out) == program.out_shape
        seen.update(program.patterns)

    inner()
    assert pattern in seen, f"programs asked for {pattern!r}, none has it"
