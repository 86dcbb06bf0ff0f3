"""The cuda backend (numba.cuda): vmap's kernels."""
