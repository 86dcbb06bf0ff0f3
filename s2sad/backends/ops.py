"""What the backends know of each op, stated once: the Python operator that computes it
(``INFIX``: codegen's source, the CUDA kernels' scalar code, fusion's kernels) and, for each
ufunc the numba backend has a shared kernel for, its facts (``UFUNCS``): the ``math``
function that computes it on one float, whether its results are bools, whether fusion takes
it. The name sets the backends read (``KERNEL_UFUNCS``, ``LOOP_KERNELS``, ``FUSABLE``, ...)
and ``MATH`` are derived from that table."""

import operator
from dataclasses import dataclass

import numpy as np

# op -> the infix operator that computes it on two operands, arrays or numbers, as NumPy does
INFIX = {
    operator.add: "+",
    np.add: "+",
    operator.sub: "-",
    np.subtract: "-",
    operator.mul: "*",
    np.multiply: "*",
    operator.truediv: "/",
    np.true_divide: "/",
    operator.pow: "**",
    np.power: "**",
    np.matmul: "@",
    np.floor_divide: "//",
    np.remainder: "%",
    np.less: "<",
    np.less_equal: "<=",
    np.greater: ">",
    np.greater_equal: ">=",
    np.equal: "==",
    np.not_equal: "!=",
}


@dataclass(frozen=True)
class Ufunc:
    """The facts of one ufunc of ``UFUNCS``. Every one has a shared kernel ``nk.<name>`` in
    numba/kernels.py (codegen calls it where an operand may be an array); a binary one
    (``ufunc.nin == 2``) also ``nk.<name>_loops``, for results of 3 or more axes."""

    # the math function that gives, on a float64, the float NumPy gives, bit for bit, inf and
    # nan included (checked on both backends, tests/test_kernels.py): typing a math call is
    # much cheaper for Numba than typing a ufunc call
    math: str | None = None
    # its results are bools (comparisons and tests), not floats
    boolean: bool = False
    # fusion.py computes it inside a fused kernel (float64 elements to float64); the rest of
    # the float ones (floor_divide, remainder, sign and the rounding functions) were left out
    # when fusion was written
    fuse: bool = False


_FUSED = Ufunc(fuse=True)
_FLOAT = Ufunc()
_BOOL = Ufunc(boolean=True)


def _math(name):
    return Ufunc(math=name, fuse=True)


UFUNCS = {
    np.add: _FUSED,
    np.subtract: _FUSED,
    np.multiply: _FUSED,
    np.divide: _FUSED,
    np.power: _FUSED,
    np.floor_divide: _FLOAT,
    np.remainder: _FLOAT,
    np.less: _BOOL,
    np.less_equal: _BOOL,
    np.greater: _BOOL,
    np.greater_equal: _BOOL,
    np.equal: _BOOL,
    np.not_equal: _BOOL,
    np.maximum: _FUSED,
    np.minimum: _FUSED,
    np.arctan2: _FUSED,
    np.hypot: _FUSED,
    np.logaddexp: _FUSED,
    np.negative: _FUSED,
    np.sin: _math("sin"),
    np.cos: _math("cos"),
    np.tan: _math("tan"),
    np.arcsin: _math("asin"),
    np.arccos: _math("acos"),
    np.arctan: _math("atan"),
    np.sinh: _math("sinh"),
    np.cosh: _math("cosh"),
    np.tanh: _math("tanh"),
    np.arcsinh: _math("asinh"),
    np.arccosh: _math("acosh"),
    np.arctanh: _math("atanh"),
    np.exp: _math("exp"),
    np.exp2: _FUSED,
    np.expm1: _math("expm1"),
    np.log: _math("log"),
    np.log2: _math("log2"),
    np.log10: _math("log10"),
    np.log1p: _math("log1p"),
    np.sqrt: _math("sqrt"),
    np.cbrt: _FUSED,
    np.absolute: _FUSED,
    np.sign: _FLOAT,
    np.square: _FUSED,
    np.reciprocal: _FUSED,
    np.floor: _FLOAT,
    np.ceil: _FLOAT,
    np.trunc: _FLOAT,
    np.rint: _FLOAT,
    np.isfinite: _BOOL,
    np.isnan: _BOOL,
    np.isinf: _BOOL,
    np.logical_not: _BOOL,
}

# derived: ufunc -> its math function
MATH = {op: facts.math for op, facts in UFUNCS.items() if facts.math}
# derived, by name (``op.__name__``, how generated code and fusion's trees name them): those
# with a kernel nk.<name>, those also with nk.<name>_loops, those with bool results, those
# fusion takes
KERNEL_UFUNCS = frozenset(op.__name__ for op in UFUNCS)
LOOP_KERNELS = frozenset(op.__name__ for op in UFUNCS if op.nin == 2)
BOOLEAN = frozenset(op.__name__ for op, facts in UFUNCS.items() if facts.boolean)
FUSABLE = frozenset(op.__name__ for op, facts in UFUNCS.items() if facts.fuse)
