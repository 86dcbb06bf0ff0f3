"""The package's layout keeps its architecture visible (issue 20): only ``s2sad/backends``
imports numba, no module imports (even inside a function) a module that imports it back,
a class over 300 lines says why it is one class, and the README's pass table lists the
passes ``pipeline`` runs, in their order. Reads the sources; compiles nothing."""

import ast
import pathlib
import re

from s2sad import pipeline

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "s2sad"


def _modules():
    """module name -> (path, is_package)"""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_package)
    return out


def _imports(name, path, is_package, modules):
    """The s2sad modules ``name`` imports, at any depth (imports inside functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                full = f"{source}.{alias.name}"
                found.add(full if full in modules else source)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in modules and m != name}


def test_only_backends_import_numba():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.is_relative_to(PACKAGE / "backends"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            if any(n == "numba" or n.startswith("numba.") for n in names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, f"numba imported outside s2sad/backends: {offenders}"


def test_no_import_cycles():
    modules = _modules()
    graph = {name: _imports(name, path, is_package, modules) for name, (path, is_package) in modules.items()}
    # strongly connected components (Tarjan): any of more than one module is a cycle
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_the_cycle_check_sees_a_cycle(tmp_path):
    """The check itself: two modules that import each other inside functions are a cycle."""
    modules = {"p.a": (tmp_path / "a.py", False), "p.b": (tmp_path / "b.py", False)}
    (tmp_path / "a.py").write_text("def f():\n    from .b import g\n")
    (tmp_path / "b.py").write_text("from . import a\n")
    assert _imports("p.a", *modules["p.a"], modules) == {"p.b"}
    assert _imports("p.b", *modules["p.b"], modules) == {"p.a"}


def test_long_classes_say_why():
    unexplained = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno > 300:
                if "Why one class" not in (ast.get_docstring(node) or ""):
                    unexplained.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not unexplained, f"classes over 300 lines without a note on why: {unexplained}"


def test_readme_pass_table_lists_the_pipeline_passes_in_order():
    text = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| ([a-z_, ]+) \| (`[^|]+`) \|", text, flags=re.M)
    listed = [name.strip() for names, _ in rows for name in names.split(",")]
    missing = [name for name in pipeline.PASS_NAMES if name not in listed]
    assert not missing, f"passes missing from the README's table: {missing}"
    positions = [listed.index(name) for name in pipeline.PASS_NAMES]
    assert positions == sorted(positions), "the README's pass table is not in the pipeline's order"
    for _, files in rows:  # every module the table names exists
        for file in re.findall(r"`([^`]+\.py)`", files):
            assert (PACKAGE / file).exists(), f"README's pass table names s2sad/{file}, which does not exist"
