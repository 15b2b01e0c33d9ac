"""The master-file markers: turn a reference solution into the student's exercise file.

In a master (`solutions/...`), the code the student writes is marked, and what they get instead is
written commented out:

    # SOLUTION
    out = F.relu(h @ W + b)
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError("compute the output: ReLU(W^T W x + b)")
    # END EXERCISE

The student file drops SOLUTION blocks and uncomments EXERCISE blocks; everything else is kept as is.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

SOLUTION, END_SOLUTION = "# SOLUTION", "# END SOLUTION"
EXERCISE, END_EXERCISE = "# EXERCISE", "# END EXERCISE"
_OPENERS = {SOLUTION: END_SOLUTION, EXERCISE: END_EXERCISE}
_CLOSERS = {END_SOLUTION, END_EXERCISE}


class MarkerError(Exception):
    """A master file's markers are unbalanced or malformed; the message names file and line."""


def _uncomment(line: str, indent: str, where: str) -> str:
    if line.strip() == "" or line.strip() == "#":
        return ""
    if not line.startswith(indent + "#"):
        raise MarkerError(f"{where}: lines inside an EXERCISE block must be commented out")
    rest = line[len(indent) + 1 :]
    return indent + (rest[1:] if rest.startswith(" ") else rest)


def student_source(master: str, filename: str = "<master>") -> str:
    """The student file for a master's text."""
    out: list[str] = []
    block: str | None = None
    block_start = 0
    indent = ""
    n_blocks = 0
    for number, line in enumerate(master.splitlines(keepends=True), start=1):
        stripped = line.strip()
        where = f"{filename}:{number}"
        if stripped in _OPENERS:
            if block is not None:
                raise MarkerError(f"{where}: {stripped} inside the {block} block opened at line {block_start}")
            block, block_start = stripped, number
            indent = line[: len(line) - len(line.lstrip())]
            n_blocks += stripped == SOLUTION
            continue
        if stripped in _CLOSERS:
            if block is None or _OPENERS[block] != stripped:
                opened = f"the {block} block opened at line {block_start}" if block else "no open block"
                raise MarkerError(f"{where}: {stripped} does not close anything ({opened})")
            block = None
            continue
        if block == SOLUTION:
            continue
        if block == EXERCISE:
            newline = "\n" if line.endswith("\n") else ""
            out.append(_uncomment(line.rstrip("\n"), indent, where) + newline)
            continue
        out.append(line)
    if block is not None:
        raise MarkerError(f"{filename}:{block_start}: {block} block is never closed")
    if n_blocks == 0:
        raise MarkerError(f"{filename}: no `{SOLUTION}` block: there is nothing for the student to write")
    return "".join(out)


def student_source_for(master_path: Path) -> str:
    return student_source(master_path.read_text(encoding="utf-8"), str(master_path))


class StudentFileError(Exception):
    """arena won't write this student file (it is a symlink: writing would change what it points to)."""


def write_student_file(path: Path, master: str, filename: str = "<master>") -> bool:
    """Write the student file for a master's text at `path`, unless it holds that text already. True if
    it was written. The one place a student file is made from its master: `arena dev build`, `arena
    reset`, the untouched copies `arena dev check` runs."""
    text = student_source(master, filename)
    try:
        if not path.is_symlink() and path.read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass  # missing or unreadable: written afresh
    replace_file(path, text.replace("\n", os.linesep).encode("utf-8"))  # as text mode writes it
    return True


def replace_file(path: Path, data: bytes) -> None:
    """The one way arena writes a file of the student's: atomically (a temp file renamed over it, so an
    editor or a crash never sees half a file), and never where `path` is a symlink, since the link may
    lead to a master or to a file of the student's elsewhere (StudentFileError)."""
    if path.is_symlink():
        raise StudentFileError(f"{path}: a symlink (to {os.readlink(path)}); arena doesn't write through links")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.arena-tmp")
    tmp.write_bytes(data)
    if path.exists():
        os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))  # the file keeps its permissions
    os.replace(tmp, path)


def solution_source(master: str, filename: str = "<master>") -> str:
    """The reference as a student should read it: the master without markers or EXERCISE blocks."""
    student_source(master, filename)  # validates the markers
    out: list[str] = []
    in_exercise = False
    for line in master.splitlines(keepends=True):
        stripped = line.strip()
        if stripped == EXERCISE:
            in_exercise = True
        elif stripped == END_EXERCISE:
            in_exercise = False
        elif stripped not in (SOLUTION, END_SOLUTION) and not in_exercise:
            out.append(line)
    return "".join(out)


def solution_lines(master: str, filename: str = "<master>") -> list[str]:
    """The lines inside the master's SOLUTION blocks: the code the student is asked to write."""
    student_source(master, filename)  # validates the markers
    out: list[str] = []
    inside = False
    for line in master.splitlines():
        stripped = line.strip()
        if stripped == SOLUTION:
            inside = True
        elif stripped == END_SOLUTION:
            inside = False
        elif inside:
            out.append(line)
    return out


def without_docstrings(source: str) -> str:
    """Python source without its docstrings (module, class, function) and the blank lines they leave:
    the code of a reference, without the exercise text the student has read."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    drop: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                drop.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    kept = [line for n, line in enumerate(source.splitlines(), start=1) if n not in drop]
    out: list[str] = []
    for line in kept:
        if not line.strip() and (not out or not out[-1].strip()):
            continue  # no run of blank lines, none at the top
        out.append(line)
    return "\n".join(out).strip("\n") + "\n"
