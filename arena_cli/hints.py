"""Hint files: `hints/<chapter>/<NN>_<id>.md`, one level per `## ` heading, revealed in order.

Levels go from a nudge (`## Hint 1`) to nearly the answer; symptom hints (`## Help: all my values are
the same`) are further levels. Text before the first heading is not a level. A section headed
`## Explanation` is not a level either: it is what a question's answer means, shown once it passes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_HEADING = re.compile(r"^##\s+(?P<title>\S.*?)\s*$")
EXPLANATION = "Explanation"


class HintError(Exception):
    """A hint file is missing or has no levels; the message names the file."""


@dataclass(frozen=True)
class Hint:
    level: int  # 1-based
    title: str
    body: str


def parse_hints(text: str) -> list[Hint]:
    """The levels of a hint file (the `## Explanation` section is not one)."""
    levels = [h for h in _sections(text) if h.title != EXPLANATION]
    return [Hint(n, h.title, h.body) for n, h in enumerate(levels, start=1)]


def parse_explanation(text: str) -> str:
    return next((h.body for h in _sections(text) if h.title == EXPLANATION), "")


def load_explanation(path: Path) -> str:
    """The file's `## Explanation` ("" when it has none or can't be read)."""
    try:
        return parse_explanation(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return ""


def _sections(text: str) -> list[Hint]:
    hints: list[Hint] = []
    title: str | None = None
    body: list[str] = []
    in_code = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        match = None if in_code else _HEADING.match(line)
        if match:
            if title is not None:
                hints.append(Hint(len(hints) + 1, title, "\n".join(body).strip()))
            title, body = match["title"], []
        elif title is not None:
            body.append(line)
    if title is not None:
        hints.append(Hint(len(hints) + 1, title, "\n".join(body).strip()))
    return hints


def load_hints(path: Path) -> list[Hint]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HintError(f"{path}: hint file is missing") from None
    except (OSError, UnicodeDecodeError) as e:
        raise HintError(f"{path}: cannot read hint file: {e}") from None
    hints = parse_hints(text)
    if not hints:
        raise HintError(f"{path}: no hint levels (expected `## Hint 1`, `## Hint 2`, ... headings)")
    empty = [h.level for h in hints if not h.body]
    if empty:
        raise HintError(f"{path}: hint level {empty[0]} ({hints[empty[0] - 1].title!r}) is empty")
    return hints
