"""arena_cli's rooms import each other without cycles (counting imports inside functions too), so each
module can be read, and changed, after the ones it uses."""

from __future__ import annotations

import ast
from pathlib import Path

import arena_cli

PACKAGE = Path(arena_cli.__file__).parent


def imports_of(path: Path) -> set[str]:
    """The arena_cli modules a module imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "arena_cli":
                found |= {f"arena_cli.{a.name}" for a in node.names}
            elif node.module.startswith("arena_cli."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("arena_cli.")}
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles (strongly connected components of more than one module, or a module that
    imports itself), by Tarjan's algorithm."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycles_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_arena_cli_has_no_import_cycles():
    graph = {f"arena_cli.{p.stem}": imports_of(p) for p in PACKAGE.glob("*.py")}
    assert len(graph) > 20 and graph["arena_cli.commands"]
    assert cycles(graph) == []


def test_no_module_of_arena_cli_over_400_lines():
    """One job per room: a module that grows past 400 lines is doing more than one."""
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in PACKAGE.glob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 400} == {}
