"""The README's support matrix is generated from the rule tables and up to date."""

import math
import pathlib

import numpy as np
import pytest

import s2sad
from s2sad import rules, support


def test_readme_support_matrix_is_current():
    readme = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
    assert support.replace_block(readme) == readme, "run: python -m s2sad.support --write README.md"


def prod_all(x):
    return np.prod(x)


def sum_sin(x):
    return np.sum(np.sin(x))


def test_second_order_scan_follows_helpers(monkeypatch):
    """An op is 'first order only' when its rules, or the helpers they call, name a helper of
    FIRST_ORDER_ONLY: np.sum's adjoint reaches rt.broadcast_like through unreduce; sin's
    partial derivative does not."""
    from s2sad import runtime

    assert support.second_order(np.sum) and support.second_order(np.sin)
    monkeypatch.setattr(support, "FIRST_ORDER_ONLY", frozenset({runtime.broadcast_like}))
    assert not support.second_order(np.sum)
    assert support.second_order(np.sin)


def test_second_order_column_matches_what_s2sad_does():
    """np.prod: 'first order only' exactly when its Hessian is refused; sum(sin) gets one."""
    x = np.array([0.5, 1.5, -0.7])
    if support.second_order(np.prod):
        H = s2sad.hessian(prod_all, backend="python")(x)
        expected = np.prod(x) / np.outer(x, x) * (1.0 - np.eye(3))
        np.testing.assert_allclose(H, expected, rtol=1e-10)
    else:
        with pytest.raises(s2sad.S2SADError, match="second derivatives through np.prod"):
            s2sad.hessian(prod_all, backend="python")(x)
    H = s2sad.hessian(sum_sin, backend="python")(x)
    np.testing.assert_allclose(H, np.diag(-np.sin(x)), rtol=1e-12)


def test_numba_column():
    """kernel: codegen prints the call as an s2sad kernel (np.squeeze: an indexing with
    nk.unit_index); Numba: Numba implements it; no: it does not (math.fmod: the numba backend
    refuses a call of it)."""
    assert support.numba_support(np.sin) == "kernel"
    assert support.numba_support(np.matmul) == "kernel"
    assert support.numba_support(np.squeeze) == "kernel"
    assert support.numba_support(np.linalg.norm) == "Numba"
    assert support.numba_support(math.fmod) == "no"


def test_composites_are_listed(monkeypatch):
    """Ops defined by composition (rules.COMPOSITES, where it exists) get a row."""
    table = dict(getattr(rules, "COMPOSITES", {}))
    table[np.fmax] = lambda a, b: NotImplemented  # a stand-in definition
    monkeypatch.setattr(rules, "COMPOSITES", table, raising=False)
    row = next(line for line in support.support_matrix().splitlines() if line.startswith("| `np.fmax`"))
    assert "composite" in row
