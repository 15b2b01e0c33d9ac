"""Lines for machines: one line per problem of a verdict, `path:line:col: error: message`, as compilers
write them. VSCode's terminal makes the place clickable and the .vscode task's problem matcher puts the
message in the Problems panel. They are printed outside any panel and never wrapped by arena (the
terminal may fold a long one; its line stays one line in the output a matcher reads), whatever the width.
"""

from __future__ import annotations

import re

from arena_cli.verdict import Check, Verdict

# A frame of the student's file in a trimmed traceback (the course's files are under exercises/).
_FRAME = re.compile(r'File "(exercises/[^"]+\.py)", line (\d+)')
# A message that starts with its place, as a load error's does (`path:line:col: SyntaxError: ...`).
_PLACED = re.compile(r"^(exercises/[^\s:\"]+\.py:\d+:\d+): ")


def _last_frame(text: str | None) -> str:
    """`path:line:1` of the last frame of the student's file in a traceback, or ""."""
    frames = _FRAME.findall(text or "")
    return f"{frames[-1][0]}:{frames[-1][1]}:1" if frames else ""


def _one_line(text: str, first_only: bool) -> str:
    """The message on one line: an error's first line (what follows is its source excerpt), a failed
    check's lines joined."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return ""
    return lines[0] if first_only else " ".join(lines)


def split_place(message: str) -> tuple[str, str]:
    """(`path:line:col`, the rest) of a message that starts with its place; ("", message) otherwise."""
    m = _PLACED.match(message)
    return (m.group(1), message[m.end():]) if m else ("", message)


def check_problem(check: Check) -> tuple[str, str]:
    """(place, message) of a failing check; place "" when it has none in the student's file."""
    place = check.location or _last_frame(check.traceback)
    return place, _one_line(check.message or check.status, first_only=check.status == "error")


def problems(verdict: Verdict) -> list[tuple[str, str]]:
    """Every (place, message) of a verdict that has a place, one per place."""
    found: dict[str, str] = {}
    if verdict.status in ("error", "timeout") and verdict.message:
        place, rest = split_place(verdict.message)
        place = place or _last_frame(verdict.output)
        if place:
            found[place] = _one_line(rest, first_only=True)
    else:
        for check in verdict.checks:
            if check.status in ("failed", "error"):
                place, message = check_problem(check)
                if place and place not in found:
                    found[place] = message
    return list(found.items())


def problem_lines(verdict: Verdict) -> list[str]:
    """The lines a problem matcher reads: `path:line:col: error: message`."""
    return [f"{place}: error: {message}" for place, message in problems(verdict)]
