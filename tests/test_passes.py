"""Pass tests: a snippet in, the expected source out, and it still computes the same."""

import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import s2sad
import sample_functions as sf
from s2sad import pipeline
from s2sad.api import Transformed
from s2sad.backends import codegen


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
        [
            sys.executable,
            "-m",
            "s2sad",
            "show",
            f"{sf.__file__}:predict",
            "--mode",
            "jacrev",
            "--argnums",
            "2",
            "--shapes",
            "weight=3x3",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.startswith("def predict_jacrev(weight, bias, x):")
    compile(out, "<cli>", "exec")


def neighbour_products(x):
    return np.sum(x[1:] * x[:-1])


def test_function_metadata_survives_replace(capsys):
    """What the passes record on a Function is in its fields, so every pass that returns
    ``fn.replace(...)`` keeps it (accumulate_scatters dropped second_order, and with it the
    glue compile of this Hessian)."""
    from s2sad.ad.trace import dummy_like
    from s2sad.ir import Function
    from s2sad.optimize import shapes

    fn = Function(
        "f",
        ["x", "c"],
        [],
        free_values=["c"],
        free_sources=[(None, "c")],
        def_line=3,
        mirror_stacks=True,
        second_order=True,
        split_stacks={"s": "t"},
    )
    assert fn.replace(body=[]) == fn
    x = np.linspace(0.1, 1.2, 6)
    h = s2sad.hessian(neighbour_products)
    ir = h.ir_for((dummy_like(x),))
    assert ir.second_order and not ir.mirror_stacks and ir.def_line is not None
    scattered = shapes.accumulate_scatters(ir)
    assert scattered is not ir  # the pass rewrote it (with replace)
    assert scattered.second_order and scattered.def_line == ir.def_line
    assert pipeline.is_glue(scattered)
    h.options = h.options.replace(dump_after={"glue"})  # the compile passes decide the same
    capsys.readouterr()
    H = h(x)
    assert "# compiled as glue: yes" in capsys.readouterr().err
    e, eps = np.eye(len(x)), 1e-4
    f = neighbour_products
    fd = np.array(
        [
            [
                (f(x + eps * (a + b)) - f(x + eps * (a - b)) - f(x - eps * (a - b)) + f(x - eps * (a + b)))
                / (4 * eps * eps)
                for b in e
            ]
            for a in e
        ]
    )
    np.testing.assert_allclose(H, fd, rtol=1e-6, atol=1e-6)


def test_pass_table_in_the_docstring_lists_the_passes_in_code():
    """pipeline's docstring table names every pass of PASSES and COMPILE_PASSES, once, in
    the order every list runs them."""
    import re

    table = [m.group(1) for m in re.finditer(r"^    ([a-z_]+)(?: {2,}|$)", pipeline.__doc__, re.MULTILINE)]
    assert table == list(pipeline.PASS_NAMES)
    for passes in (*pipeline.PASSES.values(), *pipeline.COMPILE_PASSES.values()):
        names = [name for name, _ in passes]
        assert names == sorted(names, key=table.index) and len(set(names)) == len(names)
    assert set(pipeline.PASSES) == {"primal", *pipeline.KINDS}


def test_dump_after_prints_after_every_pass(capsys):
    """Options.dump_after (S2SAD_DUMP_AFTER) names any pass; the source is printed after each,
    in the order they run (numba: the compile passes too)."""
    x = np.linspace(0.1, 1.2, 6)
    g = Transformed(neighbour_products, "grad", 0, "numba", dump_after=",".join(pipeline.PASS_NAMES))
    capsys.readouterr()
    np.testing.assert_allclose(g(x), np.r_[x[1:], 0] + np.r_[0, x[:-1]])
    err = capsys.readouterr().err
    headers = re.findall(r"^# --- after (\w+) ---$", err, re.MULTILINE)
    assert headers == list(pipeline.PASS_NAMES)
    assert "def neighbour_products(x):" in err  # after parse: the user's tree
    assert "# compiled as glue: no" in err and "from s2sad.backends.numba import kernels as nk" in err
    with pytest.raises(s2sad.S2SADError, match="'simplfy', not a pass"):
        s2sad.Options(dump_after="simplify,simplfy")
