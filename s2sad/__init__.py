"""s2sad: source-to-source automatic differentiation of NumPy code, compiled with Numba."""

from .api import grad, hessian, hvp, jacfwd, jacrev, jvp, source, vjp
from .errors import S2SADError
from .vmap import vmap

__version__ = "0.1.0"
__all__ = ["grad", "jacfwd", "jacrev", "hessian", "jvp", "vjp", "hvp", "vmap", "source", "S2SADError"]
