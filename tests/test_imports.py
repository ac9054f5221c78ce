"""Imports flow one way: data -> models -> inference -> posterior_reports -> families -> faces.

Every module's imports are parsed, including those inside functions and under
``TYPE_CHECKING``; an import of a higher layer fails, and so does any import cycle between
modules. ``errors``, ``files`` and ``version`` are leaves that import nothing of the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"data": "bayescope.data", "models": "bayescope.models",
           "inference": "bayescope.inference",
           "posterior_reports": "bayescope.posterior_reports", "bayescope": "bayescope"}
LEAVES = ("bayescope.errors", "bayescope.files", "bayescope.version")
LAYERS = (("bayescope.data", 0), ("bayescope.models", 1), ("bayescope.inference", 2),
          ("bayescope.posterior_reports", 3), ("bayescope.families", 4),
          ("bayescope.console", 5), ("bayescope.cli", 5), ("bayescope.cli_checks", 5),
          ("bayescope.tickets_cli", 5),
          ("bayescope.api", 5), ("bayescope.demo", 5))


def modules() -> dict[str, Path]:
    """Every module of the package by its dotted name (through the package-dir mapping)."""
    found = {}
    for folder, package in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = [p for p in path.relative_to(ROOT / folder).with_suffix("").parts
                     if p != "__init__"]
            found[".".join([package, *parts])] = path
    return found


def layer(module: str) -> int:
    """The layer of a module: -1 for leaves, 6 for the package root (the public API)."""
    if module in LEAVES:
        return -1
    for prefix, number in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return number
    if module == "bayescope":
        return 6
    raise AssertionError(f"{module} has no layer: add it to LAYERS")


def imported(path: Path, known: set[str]) -> list[tuple[str, int]]:
    """The package modules a file imports (anywhere in it) with their line numbers."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not node.module.startswith("bayescope"):
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.append((sub if sub in known else node.module, node.lineno))
        elif isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.startswith("bayescope")]
    return out


def edges() -> dict[str, list[tuple[str, int]]]:
    found = modules()
    return {name: imported(path, set(found)) for name, path in found.items()}


def test_every_module_has_a_layer() -> None:
    for name in modules():
        layer(name)


def test_no_upward_imports() -> None:
    upward = [f"{name}:{line} imports {target}" for name, targets in edges().items()
              for target, line in targets
              if layer(target) > layer(name) and target != name]
    assert upward == [], "imports against the layering:\n" + "\n".join(upward)


def test_leaves_import_nothing_of_the_package() -> None:
    for leaf in LEAVES:
        assert edges()[leaf] == [], f"{leaf} must import nothing of the package"


def test_no_import_cycles() -> None:
    graph = {name: {t for t, _ in targets if t != name} for name, targets in edges().items()}
    for name in graph:  # a package imports what its modules import through it: skip that
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt):], nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_the_check_catches_an_upward_import(tmp_path: Path) -> None:
    """The parser sees imports inside functions (where cycles used to hide)."""
    sample = tmp_path / "m.py"
    sample.write_text("def f():\n    from bayescope.families.spend import Spend\n")
    assert ("bayescope.families.spend", 2) in imported(sample, {"bayescope.families.spend"})
    assert layer("bayescope.families.spend") > layer("bayescope.posterior_reports.report")
