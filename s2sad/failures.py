"""The safety net: exceptions other than S2SADError that escape a pass or generated code.

Such an exception is a bug of s2sad, with one exception: the user's own code may raise when
run (a NumPy shape error, an index out of bounds) and the generated code then raises too.
``from_generated_code`` tells the two apart by running the user's plain function on copies
of the same arguments: if it raises an exception of the same type, that is the user's
error, re-raised from their own code (its traceback shows their line); otherwise the error
becomes an ``InternalError`` naming the generated file and line and the user's line it
came from (each block of generated code starts with a ``# line N:`` comment).
"""

from __future__ import annotations

import copy
import linecache
import os
import re
import traceback

import numpy as np

from .errors import InternalError, S2SADError, SizeRefusal, StructureMiss, UndefinedDerivativeError, UsageError, where

_LINE_COMMENT = re.compile(r"^\s*# line (\d+):")


def _generated_frame(tb, folder):
    """(file, line) of the outermost frame of ``tb`` in a generated module, or None."""
    for frame, lineno in traceback.walk_tb(tb):
        name = frame.f_code.co_filename
        if os.path.dirname(os.path.abspath(name)) == folder:
            return name, lineno
    return None


def _user_line(path, lineno):
    """The user's line a line of generated code came from (its ``# line N:`` comment)."""
    for k in range(lineno, 0, -1):
        match = _LINE_COMMENT.match(linecache.getline(path, k))
        if match:
            return int(match.group(1))
    return None


# where Numba's message says which generated line it could not type
_NUMBA_AT = re.compile(r"During: typing of [^\n]* at (\S+\.py) \((\d+)\)")


def located_compile_failure(error, exc, code):
    """``error`` (a Numba compile failure of generated code) naming the user's file:line that
    the failing generated line came from (its ``# line N:`` comment), or the ``def`` line."""
    if code is None:
        return error
    line = None
    for path, lineno in _NUMBA_AT.findall(str(exc)):
        line = _user_line(path, int(lineno))
        if line is not None:
            break
    return type(error)(f"{where(code.co_filename, line or code.co_firstlineno)}: {error}")


def _same_error_from_user_code(fn, primals, exc, any_type=False):
    """Run the user's plain function; its exception if it raises one of ``exc``'s type (or
    any exception, with ``any_type``)."""
    try:
        args = [copy.deepcopy(a) for a in primals]
    except Exception:  # noqa: BLE001 - cannot copy: do not run it
        return None
    try:
        fn(*args)
    except Exception as user_exc:  # noqa: BLE001 - compared with what the generated code raised
        if any_type or isinstance(user_exc, type(exc)) or isinstance(exc, type(user_exc)):
            return user_exc
    return None


def from_generated_code(exc, name, fn, primals, user_filename):
    """What to raise for ``exc``, raised by the generated function ``name`` (of the user's
    function ``fn`` called with ``primals``)."""
    from .backends import cache_dir

    if isinstance(exc, S2SADError) and not re.search(r":\d+: ", str(exc)):
        # a refusal raised while Numba typed the generated code (a runtime helper with no Numba
        # form for these operands): name the user's function at least
        code = getattr(fn, "__code__", None)
        located = type(exc)(
            f"{where(user_filename, code.co_firstlineno if code is not None else None)}: {exc} "
            "(on the numba backend; backend='python' runs the same source with NumPy)"
        )
        return located
    if isinstance(exc, SizeRefusal) and fn is not None and hasattr(fn, "__code__"):
        # a size the code does not cover: the user's own error where NumPy raises one (np.cross
        # of 4-vectors), the refusal where NumPy returns a number (np.cross of 2-vectors)
        return _same_error_from_user_code(fn, primals, exc, any_type=True) or exc
    if isinstance(exc, (S2SADError, MemoryError)):
        return exc
    if fn is not None and hasattr(fn, "__code__"):
        user_exc = _same_error_from_user_code(fn, primals, exc)
        if user_exc is not None:
            return user_exc
    found = _generated_frame(exc.__traceback__, os.path.abspath(cache_dir()))
    if found is not None:
        path, lineno = found
        user = where(user_filename, _user_line(path, lineno))
        at = f"at {path}:{lineno}"
    else:
        code = getattr(fn, "__code__", None)
        user = where(user_filename, code.co_firstlineno if code is not None else None)
        at = "in compiled code; backend='python' names the generated line"
    if isinstance(exc, np.linalg.LinAlgError):
        # the user's function ran on these arguments; only the derivative factors the matrix
        # again or inverts it (det, slogdet: their rules use the inverse)
        return UndefinedDerivativeError(
            f"{user}: np.linalg failed in the derivative code of {name} at these arguments (LinAlgError: {exc}; "
            "the derivatives of det and slogdet use the inverse, which a singular matrix does not have): "
            "s2sad computes no derivative there"
        )
    return InternalError(
        f"{user}: internal error: the generated {name} raised {type(exc).__name__}: {exc} ({at}); your "
        "function does not raise this on the same arguments, so this is a bug in s2sad: please report it"
    )


def _pass_location(exc, fn):
    """``file:line`` of the user's statement a pass was processing when ``exc`` was raised (a
    frame's local ``stmt``), else of ``fn``'s ``def`` line."""
    line = None
    frames = [frame for frame, _ in traceback.walk_tb(exc.__traceback__)][::-1]  # innermost first
    for frame in frames:
        line = getattr(frame.f_locals.get("stmt"), "line", None)
        if isinstance(line, int):
            break
        line = None
    if line is None:  # a pass that keeps the current line on itself (normalize) or its builder
        for frame in frames:
            owner = frame.f_locals.get("self")
            for candidate in (owner, getattr(owner, "b", None)):
                value = getattr(candidate, "line", None)
                if isinstance(value, int) and not isinstance(value, bool):
                    line = value
                    break
            if line is not None:
                break
    code = getattr(fn, "__code__", None)
    filename = code.co_filename if code is not None else None
    if line is None and code is not None:
        line = code.co_firstlineno
    return filename, line


def from_pass(exc, fn, what):
    """What to raise for ``exc``, raised while s2sad transformed the user's function ``fn``:
    an S2SADError as it is (given the user's file:line if its message has none), anything
    else as an InternalError naming the user's line being processed."""
    if isinstance(exc, (UsageError, StructureMiss, MemoryError)):
        return exc
    filename, line = _pass_location(exc, fn)
    if isinstance(exc, S2SADError):
        if filename is None or filename in str(exc):
            return exc
        try:
            located = type(exc)(f"{where(filename, line)}: {exc}")
        except Exception:  # noqa: BLE001 - a class with another constructor: keep it
            return exc
        return located.with_traceback(exc.__traceback__)
    return InternalError(
        f"{where(filename, line)}: internal error while {what}: {type(exc).__name__}: {exc}; this is a bug "
        "in s2sad, not in your code: please report it (with this line)"
    )
