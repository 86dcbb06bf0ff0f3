"""Random NumPy programs (tests/fuzz.py): jacfwd == jacrev, both against finite differences,
hvp against hessian against finite differences of grad; and the fuzzer's finds as regressions.

Bounded for CI: derandomized Hypothesis, a few dozen programs on the python backend, a few
on numba. Long campaigns: `python -m tests.fuzz --n 500 --seed 1 [--backend numba]`.
"""


import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

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
@given(fuzz.programs(dead_values=0.0))
def test_random_programs_python(program):
    run_program(program, "python")


@settings(max_examples=1, **COMMON)
@given(fuzz.programs(allow_control=False, max_statements=3, dead_values=0.0))
def test_random_programs_numba(program):
    # first order only: every numba compile costs ~1-5 s
    try:
        fuzz.check_program(program, "numba", second_order=False)
    except fuzz.Skip:
        pass


CASES = [
    pytest.param(
        name,
        backend,
        id=f"{name}-{backend}",
    )
    for name, entry in fuzz_regressions.REGRESSIONS.items()
    for backend in entry["backends"]
]


@pytest.mark.parametrize("name, backend", CASES)
def test_fuzz_regression(name, backend):
    entry = fuzz_regressions.REGRESSIONS[name]
    args = fuzz_regressions.regression_inputs(entry["shapes"], entry["seed"])
    with np.errstate(all="ignore"):
        fuzz.check_function(entry["fn"], args, backend, entry["control"])


def test_fuzzer_generates_what_it_claims():
    """The generator's programs run under NumPy and produce the declared output shape."""
    from hypothesis import strategies as st

    @settings(max_examples=40, **COMMON)
    @given(fuzz.programs(), st.integers(0, 3))
    def inner(program, k):
        f, probe = fuzz.load(program)
        args = program.inputs(program.seed + k)
        with np.errstate(all="ignore"):
            out = f(*args)
            probe(*args, fuzz.Recorder())
        assert np.shape(out) == program.out_shape

    inner()
