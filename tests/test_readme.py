"""Every ```python block of the README runs as written, in a fresh interpreter (listings of
generated code are ```text blocks). The API reference the README links is in the repository."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")


def _blocks():
    with open(README) as fh:
        text = fh.read()
    starts = [m.start() for m in re.finditer(r"^```python\n", text, re.M)]
    return [
        (text.count("\n", 0, at) + 1, re.match(r"```python\n(.*?)^```", text[at:], re.S | re.M).group(1))
        for at in starts
    ]


@pytest.mark.numba
@pytest.mark.parametrize("line,code", [pytest.param(*b, id=f"README.md:{b[0]}") for b in _blocks()])
def test_readme_block_runs(line, code, tmp_path):
    script = tmp_path / f"readme_{line}.py"
    script.write_text(code)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"README.md:{line}: the block fails as written:\n{done.stderr[-3000:]}"


def test_readme_links_resolve():
    with open(README) as fh:
        text = fh.read()
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if "://" in target:
            continue
        assert os.path.exists(os.path.join(ROOT, target)), f"README links {target}, which is not in the repository"
    assert "../shared" not in text
