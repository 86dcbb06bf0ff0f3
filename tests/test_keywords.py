"""Keyword spellings of NumPy calls (issue 17): required parameters given by keyword are
moved to their positions; keywords that no rule handles are refused with file:line."""

import numpy as np
import pytest

import keyword_functions as kf
import s2sad
from checks import check_jacobian

X = np.random.default_rng(0).uniform(0.2, 1.0, (2, 3))


@pytest.mark.parametrize("fn", [kf.sum_a, kf.dot_ab, kf.transpose_axes, kf.norm_x, kf.mean_keep])
@pytest.mark.parametrize("mode", ["jacfwd", "jacrev"])
def test_keyword_spellings(fn, mode):
    J = getattr(s2sad, mode)(fn, backend="python")(X)
    check_jacobian(fn, (X,), 0, J)


def test_an_unsupported_keyword_is_refused_at_the_users_line():
    with pytest.raises(s2sad.S2SADError, match="where") as exc:
        s2sad.jacrev(kf.sum_where, backend="python")(X)
    assert "keyword_functions.py:" in str(exc.value)
