"""Pass 4: types.

``infer_types`` gives every variable its dummy (trace.py) by abstract evaluation from the
arguments of one call: the specialization key is the arguments' ranks and dtypes. It is
forward mode's walk over the code with nothing differentiated, so the types of user code
and of derivative code come from one interpreter.
"""

from __future__ import annotations

from ..ad.forward import Forward
from ..ad.trace import Builder
from ..ir import NameGen, all_names


def infer_types(fn, arg_dummies: dict, types=dict):
    """A copy of ``fn`` whose ``types`` give every variable's dummy for these arguments.
    ``types``: the mapping made from ``arg_dummies`` that the dummies are written into
    (sizes.py records every shape each name is given)."""
    builder = Builder(types(arg_dummies), NameGen(all_names(fn)))
    builder.check_types, builder.filename = True, fn.filename
    Forward(fn, builder, varied=set()).block(fn.body)
    return fn.replace(types=builder.types)
