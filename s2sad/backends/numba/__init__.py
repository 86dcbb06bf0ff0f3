"""The numba backend: small arrays as scalars (scalarize), names Numba types well (rename),
fused elementwise loops (fusion), and the shared kernels the generated code calls.
"""
