"""The derivative rules: the tables and the decorators that fill them (tables.py), and the
modules whose import fills them (numpy_rules, composite_rules, linalg_rules, special_rules,
shape_rules). The passes read the tables here (``rules.TANGENT_RULES`` ...); a rule module
imports what it registers with from tables.py, so no rule module imports this package.
"""

from .tables import (
    ADJOINT_RULES,
    COMPOSITES,
    CONSTANT_FROM,
    ELEMENTWISE,
    INTERNAL,
    LINEAR,
    NONDIFFERENTIABLE,
    PACKED,
    Params,
    SINGULAR,
    TANGENT_RULES,
    UNIT_SAFE,
    adjoint_rule,
    composite,
    constant_operands,
    differentiable_args,
    differentiable_ops,
    elementwise,
    is_singular,
    linear,
    linear_ops,
    located,
    nondifferentiable,
    params_of,
    tangent_rule,
)

from . import numpy_rules  # noqa: F401  (fills the tables)
from . import composite_rules  # noqa: F401
from . import linalg_rules  # noqa: F401  (np.linalg, issue 17)
from . import special_rules  # noqa: F401  (scipy.special, issue 17)
from . import shape_rules  # noqa: F401
