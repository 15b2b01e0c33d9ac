"""How much of an exercise's solution its own text gives away (`arena dev leaks`).

A text should teach the idea and leave the code to the student (and to the hint levels, where asking
for it is counted). For each exercise: the code lines of the master's SOLUTION blocks, and how many of
them appear verbatim or nearly in the text of the student's file as shipped (its docstrings, comments,
the stub's message, inline `code` in them; the given code is not text). Whitespace is ignored; "nearly" is a similarity of at least NEAR (difflib's ratio)
against a line of the text or an inline code span. Lines too short to be telling (`else:`, `return x`)
count on neither side.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from arena_cli.course import Course, Exercise
from arena_cli.markers import solution_lines, student_source

NEAR = 0.85
MIN_CHARS = 10  # a solution line shorter than this (without spaces) says too little to count
_CODE_SPAN = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Leak:
    exercise: Exercise
    lines: int  # the solution's telling code lines
    leaked: tuple[str, ...]  # those the text gives (stripped)

    @property
    def fraction(self) -> float:
        return len(self.leaked) / self.lines if self.lines else 0.0


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _code_lines(lines: list[str]) -> list[str]:
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def _text_pieces(student: str) -> list[str]:
    """What a student reads as text, squashed: each line of every comment and string (the docstrings,
    the stub's message) and every inline code span in them. Given code is not text: a line of it that
    resembles a solution line is a working example, not a leak."""
    import io
    import tokenize

    texts: list[str] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(student).readline):
            if tok.type == tokenize.COMMENT:
                texts.append(tok.string.lstrip("#"))
            elif tok.type == tokenize.STRING:
                texts.append(tok.string)
    except (tokenize.TokenError, SyntaxError):
        texts = student.splitlines()
    pieces = []
    for text in texts:
        for line in text.splitlines():
            body = line.strip().strip("\"'").strip()
            if body:
                pieces.append(_squash(body))
            pieces += [_squash(span) for span in _CODE_SPAN.findall(line)]
    return [p for p in pieces if p]


def _given(line: str, pieces: list[str], joined: str) -> bool:
    if line in joined:
        return True
    for piece in pieces:
        matcher = difflib.SequenceMatcher(None, line, piece, autojunk=False)
        if matcher.real_quick_ratio() >= NEAR and matcher.quick_ratio() >= NEAR and matcher.ratio() >= NEAR:
            return True
    return False


def leak_of(exercise: Exercise) -> Leak:
    master = exercise.read_master()
    wanted = [ln for ln in _code_lines(solution_lines(master, str(exercise.solution_path)))
              if len(_squash(ln)) >= MIN_CHARS]
    pieces = _text_pieces(student_source(master, str(exercise.solution_path)))
    joined = "\n".join(pieces)
    leaked = tuple(ln for ln in wanted if _given(_squash(ln), pieces, joined))
    return Leak(exercise, len(wanted), leaked)


def leaks(course: Course, exercises: tuple[Exercise, ...] | None = None) -> list[Leak]:
    return [leak_of(ex) for ex in (course.exercises if exercises is None else exercises)]


def report(found: list[Leak], console, limit: float | None) -> int:
    """Print each exercise's figure (the leaked lines under it with --verbose), then each chapter's
    worst and mean; 1 if an exercise is over `limit` (a fraction)."""
    from statistics import mean

    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column, justify in (("exercise", "left"), ("solution lines", "right"), ("in its text", "right"), ("", "right")):
        table.add_column(column, justify=justify)
    for leak in found:
        over = limit is not None and leak.fraction > limit
        table.add_row(f"{leak.exercise.chapter_dir}/{leak.exercise.stem}", str(leak.lines), str(len(leak.leaked)),
                      f"{leak.fraction:.0%}", style="red" if over else "")
    console.print(table)
    chapters: dict[str, list[Leak]] = {}
    for leak in found:
        chapters.setdefault(leak.exercise.chapter_dir, []).append(leak)
    for chapter, items in chapters.items():
        worst = max(items, key=lambda leak: leak.fraction)
        console.print(f"{chapter}: worst {worst.fraction:.0%} ({worst.exercise.id}), mean "
                      f"{mean(leak.fraction for leak in items):.0%}")
    over = [leak for leak in found if limit is not None and leak.fraction > limit]
    if over:
        console.print(f"[red]{len(over)} exercise(s) over {limit:.0%}[/]: their texts give away code the "
                      "student should write; move it to the hints.")
    return 1 if over else 0
