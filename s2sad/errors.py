"""The S2SADError family and the one place messages are formatted.

A message names where (the user's ``file:line``), what (the construct) and what to do.
"""


class S2SADError(Exception):
    """Base class of every error s2sad raises on purpose."""


class UnsupportedError(S2SADError):
    """A construct of the user's code that s2sad cannot differentiate (yet)."""


class SizeRefusal(UnsupportedError):
    """A guard of the generated code (``rt.require_size``, ``rt.require_unit_axes``) met a size
    the derivative code does not cover. Raised before anything is computed from the operand; where the user's own
    function raises on the same arguments, that error is raised instead (failures.py)."""


class UndefinedDerivativeError(S2SADError, ArithmeticError):
    """np.linalg failed inside the derivative code where the user's function did not (the rules
    of det and slogdet use the inverse, which a singular matrix does not have): raised, naming
    the user's line, instead of a number or an internal error."""


class MissingRuleError(UnsupportedError):
    """A function called by the user's code has no derivative rule."""


class UsageError(S2SADError, ValueError):
    """A bad call of the API: argnums out of range, grad of a non-scalar, bad tangents."""


class StructureMiss(S2SADError):
    """Internal: derivative code built on the identity structure of its seeds (structure.py)
    met a size-1 axis it does not cover. The caller runs the code built without that pass;
    a user never sees this error."""


class InternalError(S2SADError):
    """A bug of s2sad: an exception other than S2SADError escaped one of its passes or the code
    it generated. The message names where (the generated file and line, the user's line it
    came from) so that it can be reported."""


class SourceError(S2SADError):
    """The function's source cannot be retrieved (REPL, builtins, C functions, lambdas)."""


def where(filename: str | None, line: int | None) -> str:
    """``file.py:14`` (or ``<unknown>``) for messages."""
    if filename is None:
        return "<unknown>"
    return f"{filename}:{line}" if line else filename


def unsupported(filename, line, construct: str, advice: str, cls=UnsupportedError):
    """Build the error for an unsupported construct at ``filename:line``."""
    return cls(f"{where(filename, line)}: {construct}: {advice}")
