"""Programs found by the random-program fuzzer (tests/fuzz.py), kept as regression tests.

Each entry of REGRESSIONS: name -> dict(fn, shapes, seed, control, backends, failure[,
numba_second_order: False where the find was first order, to save numba compiles in CI]). The
inputs are uniform draws on [-1, 1] from `seed` (`regression_inputs`; shape () gives a Python
float, as the fuzzer passes it). tests/test_fuzz.py runs `fuzz.check_function` on each, for
each backend listed. The fuzzer's raw finds were minimized by hand to these.
`python -m tests.fuzz` appends new (shrunk) finds below.
"""

import numpy as np

REGRESSIONS = {}


def regression_inputs(shapes, seed):
    rng = np.random.default_rng(seed)
    return tuple(
        float(rng.uniform(-1.0, 1.0)) if shape == () else rng.uniform(-1.0, 1.0, size=shape)
        for shape in shapes
    )


# hessian (jacfwd of jacrev) w.r.t. an argument the output does not depend on:
# S2SADError "a derivative rule branched on a runtime value" (fuzzer: 15 of 300 programs).
def reg_hessian_dead_argument(x0, x1):
    return np.sin(x0)


REGRESSIONS["reg_hessian_dead_argument"] = dict(
    fn=reg_hessian_dead_argument, shapes=[(), (2,)], seed=0, control=False,
    backends=("python",), failure="hessian: S2SADError",
)


# hessian of a function linear in an argument (its gradient block is constant):
# S2SADError "cannot infer the type of not_equal(tuple, tuple)".
def reg_hessian_linear(x0, x1):
    return np.sum(x0 + x1)


REGRESSIONS["reg_hessian_linear"] = dict(
    fn=reg_hessian_linear, shapes=[(3,), (3,)], seed=0, control=False,
    backends=("python",), failure="hessian: S2SADError",
)


# hvp of a gather with a global integer index array: S2SADError "cannot infer the type of
# GETITEM(float64[1d], float64[1d])" (hessian of the same function is right).
REG_HVP_FANCY_INDEX_IDX = np.array([0, 2, 2])


def reg_hvp_fancy_index(x0):
    return np.sum(np.sin(x0[REG_HVP_FANCY_INDEX_IDX]))


REGRESSIONS["reg_hvp_fancy_index"] = dict(
    fn=reg_hvp_fancy_index, shapes=[(3,)], seed=0, control=False,
    backends=("python",), failure="hvp: S2SADError",
)


# jacfwd, python backend, of a Python-float argument: the tangent seed is float32
# (rt.seed uses np.result_type(x, np.float32), and a Python float is a "weak" scalar under
# NEP 50), so the whole tangent sweep runs in float32: relative error ~2e-8 vs jacrev.
def reg_jacfwd_python_float(x0):
    return np.log(1.0 + x0 * x0)


REGRESSIONS["reg_jacfwd_python_float"] = dict(
    fn=reg_jacfwd_python_float, shapes=[()], seed=0, control=False,
    backends=("python",), failure="jacfwd != jacrev",
)


# hessian/hvp through an in-place write at a constant index outside a loop: silently wrong
# (H = [[0, 0], [0, 0]], expected [[2, 0], [0, 0]]); jacfwd(jacfwd(f)) is right. Both backends.
def reg_hessian_inplace_constant_index(x0):
    y = np.zeros(2)
    y[0] = x0[0]
    return np.sum(y * y)


REGRESSIONS["reg_hessian_inplace_constant_index"] = dict(
    fn=reg_hessian_inplace_constant_index, shapes=[(2,)], seed=0, control=True,
    backends=("python", "numba"), failure="hessian vs finite differences of grad",  # numba: same
)


# hessian/hvp of a loop filling y[i] followed by a nonlinear use of y: python backend
# ValueError "assignment destination is read-only", numba TypingError (setitem).
def reg_hessian_loop_fill_nonlinear(x0):
    y = np.zeros(2)
    for i in range(2):
        y[i] = np.sin(x0[i])
    return np.sum(np.tanh(y))


REGRESSIONS["reg_hessian_loop_fill_nonlinear"] = dict(
    fn=reg_hessian_loop_fill_nonlinear, shapes=[(2,)], seed=0, control=True,
    backends=("python", "numba"), failure="hessian: ValueError",  # numba: TypingError (setitem)
)


# Found by the numba campaign (seed 21): the adjoint of y1 had been a broadcast view once, so
# Numba typed the variable read-only and the in-place write of y1[0]'s adjoint did not compile.
def reg_numba_readonly_adjoint(x0, x1):
    y1 = np.zeros((3, 3))
    y1[0] = x1[0]
    for i in range(2):
        y1[i + 1] = 0.5 * y1[i] + x1[i + 1]
    v2 = y1 + 0.1 * (np.sum(np.tanh(x0)))
    return np.sum(v2)


REGRESSIONS["reg_numba_readonly_adjoint"] = dict(
    fn=reg_numba_readonly_adjoint, shapes=[(3,), (3, 3)], seed=0, control=True,
    backends=("python", "numba"), failure="jacrev: TypingError (numba)", numba_second_order=False,
)


# Found by the numba campaign (seed 808, programs 456-457): np.where of three numbers in one arm
# of a branch, a float in the other. Numba's np.where makes a 0-d array there, and the two did not
# unify ("Cannot unify float64 and array(float64, 0d, C)"): numbers now select with `a if c else b`.
def reg_numba_where_of_numbers(x0):
    v1 = np.exp(x0)
    if x0 > 0.2:
        w = v1 * x0
    else:
        w = np.where(np.exp(v1) > x0, np.exp(v1) * x0, x0)
    return np.tanh(w) + x0


REGRESSIONS["reg_numba_where_of_numbers"] = dict(
    fn=reg_numba_where_of_numbers, shapes=[()], seed=1, control=True,
    backends=("python", "numba"), failure="jacfwd: S2SADError (numba could not compile)", numba_second_order=False,
)


# Found by the generator once it wrote tuples of tuples (session 10): reverse mode had given a
# zero derivative for them, forward mode crashed; after that fix the Hessian still crashed
# ("cannot infer the type of transpose(float64[3d], tuple)"): forward mode did not follow a copy
# of a tuple read from a tuple.
def reg_nested_tuple_hessian(x0):
    v3 = np.sin(x0)
    lst6 = ((x0, v3), (v3, x0 * v3))
    v7 = lst6[0][1] * lst6[1][1] + np.sin(lst6[1][0])
    return np.sum(v7)


REGRESSIONS["reg_nested_tuple_hessian"] = dict(
    fn=reg_nested_tuple_hessian, shapes=[(3,)], seed=2, control=False,
    backends=("python", "numba"), failure="hessian: S2SADError (python); jacrev zero", numba_second_order=False,
)
