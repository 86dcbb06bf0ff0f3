"""Which optional passes a transformation runs, and after which passes it prints the source.

``Options`` is frozen: a ``Transformed`` holds one (``g.options``), builds and compiles its
code with it, and keys its caches on it. ``Options()`` is every pass on and nothing printed;
``Options.from_env()`` is what a transformation gets when it is given none: the defaults as
the environment sets them, read when it is called:

    S2SAD_NO_STRUCTURE=1     structure=False    (identity seeds not followed, structure.py)
    S2SAD_NO_RENAME=1        rename=False       (rename.py)
    S2SAD_NO_FUSION=1        fusion=False       (fusion.py)
    S2SAD_NO_GLUE=1          glue=False         (no code compiled as glue, pipeline.is_glue)
    S2SAD_NO_TYPING_MEMO=1   typing_memo=False  (backends._install_scalar_typing_memo)
    S2SAD_DUMP_AFTER=a,b     dump_after={"a", "b"}: the source printed (to stderr) after
                             those passes (any of pipeline.PASS_NAMES)

``typing_memo`` decides whether a numba compile installs the memo, a patch of Numba's typing
for the whole process that changes no result: once installed, it serves every later compile.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

_PASS_NAMES: tuple = ()  # the names dump_after may give: pipeline.py declares them (declare_passes)


def declare_passes(names):
    """The passes' names, which ``dump_after`` is checked against (pipeline.py, when imported)."""
    global _PASS_NAMES
    _PASS_NAMES = tuple(names)


_SWITCHES = {  # field -> the environment variable that turns it off
    "structure": "S2SAD_NO_STRUCTURE",
    "rename": "S2SAD_NO_RENAME",
    "fusion": "S2SAD_NO_FUSION",
    "glue": "S2SAD_NO_GLUE",
    "typing_memo": "S2SAD_NO_TYPING_MEMO",
}


@dataclass(frozen=True)
class Options:
    structure: bool = True
    rename: bool = True
    fusion: bool = True
    glue: bool = True
    typing_memo: bool = True
    dump_after: frozenset = frozenset()  # pass names; a string "a,b" or any iterable is taken

    def __post_init__(self):
        wanted = self.dump_after
        if isinstance(wanted, str):
            wanted = [name.strip() for name in wanted.split(",")]
        wanted = frozenset(name for name in wanted if name)
        unknown = sorted(wanted - set(_PASS_NAMES)) if wanted and _PASS_NAMES else ()
        if unknown:
            from .errors import UsageError

            raise UsageError(
                f"dump_after names {', '.join(map(repr, unknown))}, not a pass; the passes: {', '.join(_PASS_NAMES)}"
            )
        object.__setattr__(self, "dump_after", wanted)
        # kept: the compiled-code cache of a Transformed hashes its options at every call
        object.__setattr__(self, "_hash", hash(tuple(getattr(self, f.name) for f in dataclasses.fields(self))))

    def __hash__(self):
        return self._hash

    def __reduce__(self):  # by its fields: the hash of strings differs between processes
        return (Options, tuple(getattr(self, f.name) for f in dataclasses.fields(self)))

    @classmethod
    def from_env(cls, **changes) -> Options:
        """The defaults as the environment sets them (see the module docstring), with ``changes``."""
        values = {name: not os.environ.get(variable) for name, variable in _SWITCHES.items()}
        values["dump_after"] = os.environ.get("S2SAD_DUMP_AFTER", "")
        values.update(changes)
        return cls(**values)

    def replace(self, **changes) -> Options:
        return dataclasses.replace(self, **changes)
