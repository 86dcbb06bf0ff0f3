"""Comments say why, not how fast: no timing in the comments and docstrings of s2sad/.

Measurements go to docs/PERFORMANCE.md (and the benchmark's to benchmarks/results); a comment
that quotes one goes stale with the next Numba or the next machine. Reads the source only:
no import of s2sad, no compile."""

import ast
import io
import pathlib
import re
import tokenize

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

# a number followed by a time unit (15 us, 1.8 s, 0.5-3 s, 29 ms, 10-20 ns, 49 seconds), a
# speed ratio (2.2x slower) or a share of a time (20-40 % per call)
TIMING = re.compile(
    r"\d(?:\.\d+)?\s*(?:µs|us|ms|ns)\b"
    r"|\d(?:\.\d+)?\s+(?:s|secs?|seconds?|minutes?)\b"
    r"|\d\.\d+s\b"
    r"|\d(?:\.\d+)?\s*[x×]\s+(?:faster|slower)\b"
    r"|\d\s*%\s*(?:per call|faster|slower|of (?:a|the|its) (?:call|compile|first call|time))",
    re.IGNORECASE,
)


def _comments_and_docstrings(path):
    """(line, text) of every comment and every module, class and function docstring."""
    source = path.read_text(encoding="utf-8")
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            yield tok.start[0], tok.string
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                for k, line in enumerate(first.value.value.splitlines()):
                    yield first.lineno + k, line


def test_no_timings_in_s2sad_comments():
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text.strip()}"
        for path in sorted((ROOT / "s2sad").rglob("*.py"))
        for line, text in _comments_and_docstrings(path)
        if TIMING.search(text)
    ]
    assert not found, (
        "comments and docstrings say why the code is so, not how fast it ran; move these "
        "measurements to docs/PERFORMANCE.md (what was measured, how):\n" + "\n".join(found)
    )


@pytest.mark.parametrize(
    "text",
    [
        "took 1.8 s to compile",
        "0.5-3 s of a first call",
        "15 us against 37 us",
        "(~15 µs here)",
        "29 ms against 7 ms",
        "costs Numba 10-20 ns",
        "took 49 seconds",
        "1.8s a call",
        "ran up to 2.2x slower",
        "2x faster",
        "cost 20-40 % per call",
        "about 10% per call",
    ],
)
def test_the_pattern_catches(text):
    assert TIMING.search(text)


@pytest.mark.parametrize(
    "text",
    [
        "the 0s and 1s of the seeds vanish",
        "tangents of 7 x 4",
        "a (2048, 1) * (1, 32) product",
        "takes seconds to compile",
        "a copy twice as long",
        "costs n times the closed form",
        "S2SAD_NO_GLUE=1 turns it off",
        "about 25 arrays of 800 kB",
        "users of 3 axes",
    ],
)
def test_the_pattern_lets_by(text):
    assert not TIMING.search(text)


def test_performance_doc_links_resolve():
    doc = ROOT / "docs" / "PERFORMANCE.md"
    for target in re.findall(r"\]\(([^)#]+)", doc.read_text(encoding="utf-8")):
        if "://" not in target:
            assert (doc.parent / target).exists(), f"docs/PERFORMANCE.md links {target}, which is not there"
