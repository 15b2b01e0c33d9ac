"""Course files wrapped at 100 columns: the check `arena dev check` makes, and `arena dev wrap`, which
re-wraps what is longer.

What it re-wraps, only where a line is too long: prose paragraphs (docstrings, comment blocks, a hint's
markdown paragraphs and list items) are re-flowed; a code line has its trailing comment moved above
it, then is split at its last bracket pair (one argument a line if need be; a long string into
adjacent pieces). A change to a Python master is kept only if the code means the same: its syntax
tree, and its student file's, are unchanged (strings compared with their whitespace collapsed).
What it can't wrap safely stays, and the check names it.
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

from arena_cli.course import Course, Exercise
from arena_cli.markdown_view import LIST_ITEM
from arena_cli.markers import END_EXERCISE, EXERCISE, MarkerError, student_source
from arena_cli.split_code import split_code

LIMIT = 100
_MARKERS = {"# SOLUTION", "# END SOLUTION", EXERCISE, END_EXERCISE}
_ENTRY = re.compile(r"^\s*[\w*]+( \([^)]*\))?: \S")  # a docstring's `x: ...` under Args: and the like


# --------------------------------------------------------------------------- the check


def long_lines(text: str, limit: int = LIMIT) -> list[int]:
    """Line numbers of the lines over `limit` columns that could be wrapped (not one long word: a URL)."""
    return [n for n, line in enumerate(text.splitlines(), 1)
            if len(line) > limit and len(max(line.split(), key=len, default="")) <= limit - 8]


def course_files(ex: Exercise) -> list[Path]:
    return [ex.exercise_path, ex.solution_path, ex.hint_path]


def wrap_problems(exercises: tuple[Exercise, ...]) -> list[str]:
    """One line per course file with lines over LIMIT columns."""
    problems = []
    for ex in exercises:
        for path in course_files(ex):
            try:
                found = long_lines(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                continue  # missing or unreadable: reported by the other checks
            if found:
                problems.append(f"{ex.rel(path)}:{found[0]}: {len(found)} line(s) over {LIMIT} columns "
                                "(`arena dev wrap` re-wraps them)")
    return problems


# --------------------------------------------------------------------------- prose


def _item(line: str, entries: int | None) -> int | None:
    """The indentation a list item's later lines take (or a docstring's `name: text` entry's, indented
    at least `entries`, as under `Args:`); None for a plain line."""
    bullet = LIST_ITEM.match(line)
    if bullet:
        return len(bullet.group(0))
    return _indent(line) + 4 if entries is not None and _indent(line) >= entries and _ENTRY.match(line) else None


def reflow(lines: list[str], width: int, entries: int | None = None) -> list[str]:
    """A paragraph (its first line may be a list item) re-flowed at `width`, its indentation kept."""
    first = lines[0]
    indent = first[: _indent(first)]
    hang = _item(first, entries)
    rest = indent if hang is None else " " * hang
    words = " ".join(line.strip() for line in lines)
    words = re.sub(r"`[^`]*`", lambda m: m.group(0).replace(" ", "\0") if len(m.group(0)) <= 60 else m.group(0),
                   words)  # a short `code` span stays whole
    words = re.sub(r" (?=(?:[-*+]|\d+[.)]|#+) )", "\0", words)  # no line may start like a list item
    wrapped = textwrap.wrap(words, width=width, initial_indent=indent, subsequent_indent=rest,
                            break_long_words=False, break_on_hyphens=False)
    return [line.replace("\0", " ") for line in wrapped] or [first]


def _special(line: str, entries: int | None = None) -> bool:
    """A line that starts a block of its own in prose: not to be joined to the paragraph above."""
    s = line.strip()
    return (not s or _item(line, entries) is not None or s in ('"""', "'''")
            or s.startswith(("```", "|", "#", ">>>", "<", ">", "...")) or bool(re.fullmatch(r"[A-Z]\w*( \w+)?:", s)))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def paragraph(lines: list[str], i: int, entries: int | None = None) -> tuple[int, int]:
    """[start, end) of the prose paragraph holding line i: its lines at one indentation (a list item's
    under its text), no blank or special line inside."""
    start = i
    if _item(lines[i], entries) is None:
        while start > 0 and lines[start - 1].strip() and not _special(lines[start - 1], entries) \
                and _indent(lines[start - 1]) == _indent(lines[i]):
            start -= 1
        above = _item(lines[start - 1], entries) if start > 0 else None
        if above is not None and above == _indent(lines[i]):
            start -= 1
    cont = _item(lines[start], entries)
    cont = _indent(lines[start]) if cont is None else cont
    end = i + 1
    while end < len(lines) and not _special(lines[end], entries) and _indent(lines[end]) == cont:
        end += 1
    return start, end


def rewrap_markdown(text: str, limit: int = LIMIT) -> str:
    """A hint file with its long paragraphs and list items re-flowed (code, tables, headings as they are)."""
    lines = text.splitlines()
    fenced, inside = [], False
    for line in lines:
        opens = line.strip().startswith("```")
        fenced.append(inside or opens)
        inside ^= opens
    _rewrap_code_blocks(lines, fenced, limit)
    fenced = [f or False for f in fenced]
    i = 0
    while i < len(lines):
        if fenced[i] or len(lines[i]) <= limit or lines[i].lstrip().startswith(("|", "#", "<")):
            i += 1
            continue
        start, end = paragraph(lines, i)
        new = reflow(lines[start:end], limit)
        lines[start:end] = new
        fenced[start:end] = [False] * len(new)
        i = start + len(new)
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def _rewrap_code_blocks(lines: list[str], fenced: list[bool], limit: int) -> None:
    """Split the long lines of a markdown file's code blocks, in place: a block is changed only if it
    parses (dedented) and still parses to the same code after."""
    k = 0
    while k < len(lines):
        if not (fenced[k] and lines[k].strip().startswith("```")):
            k += 1
            continue
        end = next((j for j in range(k + 1, len(lines)) if lines[j].strip().startswith("```")), len(lines))
        block = lines[k + 1 : end]
        before = _parsed(block)
        if before is not None and any(len(ln) > limit for ln in block):
            new = [piece for ln in block for piece in (split_code(ln, limit) if len(ln) > limit else [ln])]
            if _parsed(new) == before:
                lines[k + 1 : end] = new
                fenced[k + 1 : end] = [True] * len(new)
                end = k + 1 + len(new)
        k = end + 1


def _parsed(block: list[str]) -> str | None:
    try:
        return _normal(ast.parse(textwrap.dedent("\n".join(block))))
    except (SyntaxError, ValueError):
        return None


# --------------------------------------------------------------------------- python


def _normal(node: ast.AST) -> str:
    """The syntax tree with every string's whitespace collapsed (re-flowing prose changes only that)."""

    class Normal(ast.NodeTransformer):
        def visit_Constant(self, n: ast.Constant) -> ast.AST:
            return ast.Constant(" ".join(n.value.split())) if isinstance(n.value, str) else n

        def visit_JoinedStr(self, n: ast.JoinedStr) -> ast.AST:
            return ast.Constant(" ".join(ast.unparse(n).split()))

    return ast.dump(Normal().visit(node))


def _meaning(source: str) -> tuple[str, str] | None:
    """What a change must keep: the master's and its student file's normalised trees (None: no parse)."""
    try:
        return _normal(ast.parse(source)), _normal(ast.parse(student_source(source)))
    except (SyntaxError, MarkerError, ValueError):
        return None


def _docstring_lines(tree: ast.AST) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                found.update(range(first.lineno, first.end_lineno + 1))
    return found


def _in_exercise_block(lines: list[str], i: int) -> str | None:
    """The EXERCISE block's indentation if line i is inside one, else None."""
    block = None
    for line in lines[:i]:
        if line.strip() == EXERCISE:
            block = line[: len(line) - len(line.lstrip())]
        elif line.strip() == END_EXERCISE:
            block = None
    return block


def _proposal(lines: list[str], i: int, docstrings: set[int]) -> tuple[int, int, list[str]]:
    """(start, end, new lines) for lines[start:end] around the long line i."""
    line = lines[i]
    block = _in_exercise_block(lines, i)
    if block is not None and line.startswith(block + "#"):  # commented code: wrapped uncommented
        inner = block + line[len(block) + 1 :].removeprefix(" ")
        if inner.strip().startswith("#"):
            new = reflow([inner], LIMIT - 2)
        else:
            new = split_code(inner, LIMIT - 2)
        return i, i + 1, [block + "# " + n[len(block):] if n.strip() else block + "#" for n in new]
    if (i + 1) in docstrings:
        first = next(k for k in range(i, -1, -1) if k == 0 or k not in docstrings)
        entries = _indent(lines[first]) + 1  # an entry is indented under a header
        start, end = paragraph(lines, i, entries)
        start = max(start, first)  # the docstring starts at index `first` (its line number is first + 1)
        end = min(end, next(k for k in range(i, len(lines) + 1) if k + 1 not in docstrings))
        return start, end, reflow(lines[start:end], LIMIT, entries)
    stripped = line.strip()
    if stripped.startswith("#") and stripped not in _MARKERS:
        indent = line[: _indent(line)]
        text = [ln[len(indent):].removeprefix("#").removeprefix(" ") for ln in lines]
        start, end = i, i + 1
        while start > 0 and lines[start - 1].startswith(indent + "# ") and lines[start - 1].strip() not in _MARKERS \
                and len(lines[start - 1]) - len(lines[start - 1].lstrip()) == len(indent) and text[start - 1].strip():
            start -= 1
        while end < len(lines) and lines[end].startswith(indent + "# ") and lines[end].strip() not in _MARKERS \
                and len(lines[end]) - len(lines[end].lstrip()) == len(indent) and text[end].strip():
            end += 1
        body = reflow(text[start:end], LIMIT - len(indent) - 2)
        return start, end, [indent + "# " + b for b in body]
    return i, i + 1, split_code(line, LIMIT)


def rewrap_python(source: str) -> str:
    """A master re-wrapped at LIMIT where that keeps its meaning (see the module's docstring)."""
    meaning = _meaning(source)
    if meaning is None:
        return source
    lines = source.splitlines()
    for _ in range(3):
        changed = False
        i = 0
        while i < len(lines):
            if len(lines[i]) <= LIMIT:
                i += 1
                continue
            docstrings = _docstring_lines(ast.parse("\n".join(lines) + "\n"))
            start, end, new = _proposal(lines, i, docstrings)
            candidate = lines[:start] + new + lines[end:]
            if new != lines[start:end] and _meaning("\n".join(candidate) + "\n") == meaning:
                lines, changed = candidate, True
                i = start + len(new)
            else:
                i += 1
        if not changed:
            break
    return "\n".join(lines) + ("\n" if source.endswith("\n") else "")


# --------------------------------------------------------------------------- the command


def rewrap(course: Course, exercises: tuple[Exercise, ...]) -> list[Path]:
    """Re-wrap the masters and hint files of `exercises`; the files changed (student files are then
    regenerated by `arena dev build`)."""
    changed = []
    for ex in exercises:
        for path, wrap in ((ex.solution_path, rewrap_python), (ex.hint_path, rewrap_markdown)):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            new = wrap(text)
            if new != text:
                path.write_text(new, encoding="utf-8")
                changed.append(path)
    return changed
