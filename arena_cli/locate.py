"""Where in the student's file to look when a check fails without a traceback of the student's code.

A wrong value (an `assert_close` mismatch, a failed `check`, a plain assert in the hidden test) comes
with no line of the student's code. We point at the function under test instead: the hidden test's
`student.NAME` nearest before the failing line names it; its first `raise NotImplementedError` is the
place while it is still there, else its `def` line. Read from the source files' syntax trees only, so
nothing here runs or imports student code.
"""

from __future__ import annotations

import ast
import functools
import os
from pathlib import Path

STUDENT_FIXTURE = "student"


def _parse(path: Path) -> ast.Module | None:
    """The file's syntax tree, parsed once per content (a run with several failing checks asks for the
    same two files each time). Nothing here changes a tree."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _parse_file(str(path), (st.st_mtime_ns, st.st_size, st.st_ino))


@functools.lru_cache(maxsize=8)
def _parse_file(path: str, key: tuple) -> ast.Module | None:
    try:
        return ast.parse(Path(path).read_bytes(), path)  # bytes: decoded as Python would (a BOM, a declaration)
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return None


def warm(test_files) -> None:
    """Parse hidden test files and index them ahead of a failing check: a spare does it while it waits,
    so a wrong answer's run parses only the student's file. Cached by content, so never stale."""
    for path in test_files:
        tree = _parse(Path(path))
        if tree is not None:
            _functions(tree)
            _student_names(tree)


def _is_not_implemented(node: ast.AST) -> bool:
    if not isinstance(node, ast.Raise) or node.exc is None:
        return False
    exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


def first_not_implemented(tree: ast.AST) -> tuple[int, int] | None:
    """(line, column), both 1-based, of the first `raise NotImplementedError` under `tree`."""
    raises = [n for n in ast.walk(tree) if _is_not_implemented(n)]
    if not raises:
        return None
    first = min(raises, key=lambda n: (n.lineno, n.col_offset))
    return first.lineno, first.col_offset + 1


def definition(tree: ast.Module, name: str) -> ast.AST | None:
    """The top-level function or class `name` of a module."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return node
    return None


@functools.lru_cache(maxsize=64)  # by the node itself: trees are kept by `_parse_file`
def _student_names(tree: ast.AST) -> list[tuple[int, int, str]]:
    """(line, column, NAME) of every `student.NAME` under `tree`, in source order."""
    found = [
        (n.lineno, n.col_offset, n.attr)
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == STUDENT_FIXTURE
    ]
    return sorted(found)


@functools.lru_cache(maxsize=8)
def _functions(tree: ast.Module) -> dict[str, list[ast.AST]]:
    found: dict[str, list[ast.AST]] = {}
    for n in ast.walk(tree):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.setdefault(n.name, []).append(n)
    return found


def _test_function(tree: ast.Module, name: str, first_line: int | None) -> ast.AST | None:
    candidates = _functions(tree).get(name, [])
    if first_line is not None:
        for n in candidates:
            start = min([n.lineno, *(d.lineno for d in n.decorator_list)])
            if start <= first_line <= (n.end_lineno or n.lineno):
                return n
    return candidates[0] if candidates else None


def _statement_end(function: ast.AST, line: int) -> int:
    """The last line of the innermost statement of `function` that spans `line` (a call spread over
    several lines fails on its first line)."""
    spanning = [
        n for n in ast.walk(function)
        if isinstance(n, ast.stmt) and n is not function and n.lineno <= line <= (n.end_lineno or n.lineno)
    ]
    if not spanning:
        return line
    innermost = min(spanning, key=lambda n: (n.end_lineno or n.lineno) - n.lineno)
    return innermost.end_lineno or innermost.lineno


def _test_context(
    test_file: Path, test_name: str, failing_line: int | None, test_first_line: int | None
) -> tuple[list[str], list[str]]:
    """(names of the student's functions and classes the test uses, the most likely culprit first;
    attribute names the test uses up to the failing statement, last first: a class's methods)."""
    tree = _parse(test_file)
    if tree is None:
        return [], []
    function = _test_function(tree, test_name, test_first_line)
    names: list[str] = []
    attributes: list[str] = []
    if function is not None:
        used = _student_names(function)
        bound = _statement_end(function, failing_line) if failing_line is not None else None
        if bound is not None:
            before = [name for line, _, name in used if line <= bound]
            if before:
                names.append(before[-1])
        names += [name for _, _, name in used]
        attributes = [
            n.attr
            for n in sorted(
                (n for n in ast.walk(function) if isinstance(n, ast.Attribute)),
                key=lambda n: (n.lineno, n.col_offset),
                reverse=True,
            )
            if bound is None or n.lineno <= bound
        ]
    names += [name for _, _, name in _student_names(tree)]  # e.g. used through a fixture
    return list(dict.fromkeys(names)), attributes


def _place(node: ast.AST, attributes: list[str]) -> tuple[int, int]:
    """Where to look in a function or class: a `raise NotImplementedError` in it; in a class, else
    the method the test called last (else `forward`, an nn.Module's code); else the `def` line."""
    pending = first_not_implemented(node)
    if pending is not None:
        return pending
    if isinstance(node, ast.ClassDef):
        methods = {
            m.name: m for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
        called = [methods[a] for a in attributes if a in methods and not a.startswith("__")]
        method = called[0] if called else methods.get("forward")
        if method is not None:
            return method.lineno, method.col_offset + 1
    return node.lineno, node.col_offset + 1


def where_to_look(
    student_file: Path,
    test_file: Path,
    test_name: str,
    failing_line: int | None = None,
    test_first_line: int | None = None,
) -> tuple[int, int] | None:
    """(line, column), 1-based, in the student's file for a failed check; None if nothing fits."""
    student = _parse(student_file)
    if student is None:
        return None
    names, attributes = _test_context(test_file, test_name, failing_line, test_first_line)
    for name in names:
        node = definition(student, name)
        if node is not None:
            return _place(node, attributes)
    return first_not_implemented(student)
