"""Pass tests: a snippet in, the expected source out, and it still computes the same."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import s2sad
import sample_functions as sf
from s2sad import codegen, pipeline
from s2sad.api import Transformed


def test_normalize_to_a_normal_form():
    ir = pipeline.user_ir(sf.anf_example)
    text = codegen.emit_source(ir)
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert body == textwrap.dedent("""\
        def anf_example(W, b, x):
            y2 = W @ x
            y3 = y2 + b
            y = np.tanh(y3)
            y_v2 = y + 1.0
            tup = W.shape
            n = tup[0]
            m = tup[1]
            out = np.sum(y_v2, axis=0)
            out2 = out * n
            return out2""")


@pytest.mark.numba
def test_normalized_code_computes_the_same():
    rng = np.random.default_rng(1)
    W, b, x = rng.standard_normal((3, 3)), rng.standard_normal(3), rng.standard_normal(3)
    for backend in ("python", "numba"):
        primal = Transformed(sf.anf_example, "primal", None, backend)
        assert primal(W, b, x) == pytest.approx(sf.anf_example(W, b, x), rel=1e-15)


def test_forward_source_keeps_user_names_and_line_comments():
    rng = np.random.default_rng(2)
    g = s2sad.jacfwd(sf.anf_example, argnums=2, backend="python")
    g(rng.standard_normal((3, 3)), rng.standard_normal(3), rng.standard_normal(3))
    text = g.source
    assert "# line" in text and "y = np.tanh(W @ x + b)" in text
    assert "y_dot" in text and "x_dot" in text
    assert "W_dot" not in text  # constants get no tangents (activity)


def test_cli_show(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "s2sad", "show", f"{sf.__file__}:predict", "--mode", "jacrev",
         "--argnums", "2", "--shapes", "weight=3x3"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert out.startswith("def predict_jacrev(weight, bias, x):")
    compile(out, "<cli>", "exec")
