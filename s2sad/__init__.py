"""s2sad: source-to-source automatic differentiation of NumPy code, compiled with Numba."""

from .api import grad, hessian, hessp, hvp, jacfwd, jacrev, jvp, source, value_and_grad, vjp
from .errors import S2SADError
from .options import Options
from .version import __version__
from .vmap import vmap

__all__ = [
    "grad",
    "value_and_grad",
    "hessp",
    "jacfwd",
    "jacrev",
    "hessian",
    "jvp",
    "vjp",
    "hvp",
    "vmap",
    "source",
    "S2SADError",
    "Options",
    "__version__",
]
