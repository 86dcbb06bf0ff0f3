"""Golden files: the exact text s2sad generates for six representative functions.

A safety net for refactorings that must change no generated code: the cases (a straight-line
layer, RK4, the Huber loop and rosen from benchmarks/workloads.py; calls_helpers and
recurrence from tests/sample_functions.py) are in ``tests/golden/__init__.py``, one file per
(function, transformation) for ``s2sad.source`` (python backend) and one for the module the
numba backend compiles (built, not compiled). A mismatch fails with a unified diff.

When a change of the generated code is intended, write the files again and review their diff:

    python -m tests.golden --write                                   # from the repository root
    S2SAD_WRITE_GOLDEN=1 python -m pytest -q tests/test_golden.py   # the same, through pytest

``python -m tests.golden`` (without ``--write``) lists the files that differ.
"""

import difflib
import os

import pytest

import golden

MAX_DIFF_LINES = 400


def _id(target):
    return golden.target_id(*target)


@pytest.mark.parametrize("target", golden.targets(), ids=_id)
def test_golden(target):
    text = golden.render(*target)
    if os.environ.get(golden.WRITE_ENV):
        golden.write(*target, text)
        return
    file = golden.path(*target)
    if not os.path.exists(file):
        pytest.fail(f"no golden file {os.path.relpath(file)}: write it with `{golden.REGENERATE}`", pytrace=False)
    expected = golden.read(*target)
    if text == expected:
        return
    diff = list(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            text.splitlines(keepends=True),
            fromfile=f"golden/{os.path.basename(file)}",
            tofile="generated now",
        )
    )
    shown = "".join(diff[:MAX_DIFF_LINES])
    if len(diff) > MAX_DIFF_LINES:
        shown += f"\n... {len(diff) - MAX_DIFF_LINES} more diff lines\n"
    pytest.fail(
        f"{_id(target)}: the generated text differs from the golden file (if intended: `{golden.REGENERATE}`, "
        f"then review the files' diff)\n{shown}",
        pytrace=False,
    )


def test_no_stray_golden_files():
    if os.environ.get(golden.WRITE_ENV):
        for name in golden.stray_files():
            os.remove(os.path.join(golden.HERE, name))
    assert golden.stray_files() == [], f"golden files no case makes (remove them, or `{golden.REGENERATE}`)"
