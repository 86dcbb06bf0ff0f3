"""What the backends print an op as, in one table each: the Python operator that computes it
(codegen's source, the CUDA kernels' scalar code, fusion's kernels) and the ``math`` function
that computes a ufunc on one float (codegen's scalar code on numba, the CUDA kernels)."""

import operator

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

# ufunc -> the math function that gives, on a float64, the float NumPy gives, bit for bit, inf
# and nan included (checked on both backends): typing a math call is much cheaper for Numba
# than typing a ufunc call
MATH = {
    np.sin: "sin",
    np.cos: "cos",
    np.tan: "tan",
    np.arcsin: "asin",
    np.arccos: "acos",
    np.arctan: "atan",
    np.sinh: "sinh",
    np.cosh: "cosh",
    np.tanh: "tanh",
    np.arcsinh: "asinh",
    np.arccosh: "acosh",
    np.arctanh: "atanh",
    np.exp: "exp",
    np.expm1: "expm1",
    np.log: "log",
    np.log2: "log2",
    np.log10: "log10",
    np.log1p: "log1p",
    np.sqrt: "sqrt",
}
