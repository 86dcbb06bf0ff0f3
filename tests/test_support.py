"""The README's support matrix is generated from the rule tables and up to date."""

import pathlib

from s2sad import support


def test_readme_support_matrix_is_current():
    readme = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
    assert support.replace_block(readme) == readme, "run: python -m s2sad.support --write README.md"
