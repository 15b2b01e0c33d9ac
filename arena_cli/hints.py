"""Hint files: `hints/<chapter>/<NN>_<id>.md`, one level per `## ` heading, revealed in order.

Levels go from a nudge (`## Hint 1`) to nearly the answer; symptom hints (`## Help: all my values are
the same`) are further levels. Text before the first heading is not a level.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_HEADING = re.compile(r"^##\s+(?P<title>\S.*?)\s*$")


class HintError(Exception):
    """A hint file is missing or has no levels; the message names the file."""


@dataclass(frozen=True)
class Hint:
    level: int  # 1-based
    title: str
    body: str


def parse_hints(text: str) -> list[Hint]:
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
