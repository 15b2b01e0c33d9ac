"""A chapter's "Go further" part: open-ended replications for after its exercises.

`exercises/<chapter>/go_further.md` holds 3-5 of them. They are not checked by tests, so each states
its own finish line. The file is Markdown a student can read as it is; arena reads it as:

    # Go further
    An introduction (one paragraph or two).

    ## <title>
    Paper: <what to replicate, with its section or figure>
    Do: <what to build, from which of the chapter's functions>
    Plot: <what to plot>
    Expect: <what the paper reports, that the plot should show>
    Done when: <the finish line>

A field runs until the next field or item. Torch-free: `arena further` and `arena next` read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from arena_cli.layout import go_further_file

FIELDS = ("Paper", "Do", "Plot", "Expect", "Done when")
MIN_ITEMS, MAX_ITEMS = 3, 5
_FIELD_RE = re.compile(rf"^({'|'.join(FIELDS)}):\s*(.*)$")


class FurtherError(Exception):
    """The file breaks the format; the message names the file and the line."""


@dataclass(frozen=True)
class Item:
    title: str
    fields: dict[str, str]  # FIELDS -> text (lines joined by spaces)


@dataclass(frozen=True)
class GoFurther:
    intro: str
    items: tuple[Item, ...]


def parse(path: Path) -> GoFurther:
    """The file's introduction and items, every item with every field; FurtherError otherwise."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise FurtherError(f"{path}: can't be read ({e})") from None
    intro: list[str] = []
    items: list[tuple[str, int, dict[str, list[str]]]] = []  # title, line, field -> lines
    field = None
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if line.startswith("# "):
            continue
        if line.startswith("## "):
            items.append((line[3:].strip(), number, {}))
            field = None
            continue
        match = _FIELD_RE.match(stripped)
        if items and match:
            field = match.group(1)
            if field in items[-1][2]:
                raise FurtherError(f"{path}:{number}: {field!r} twice in {items[-1][0]!r}")
            items[-1][2][field] = [match.group(2)]
        elif not items:
            intro.append(stripped)
        elif field is not None:
            items[-1][2][field].append(stripped)
        elif stripped:
            raise FurtherError(f"{path}:{number}: text before the first field of {items[-1][0]!r} (start with 'Paper:')")
    parsed = []
    for title, number, fields in items:
        missing = [f for f in FIELDS if not " ".join(fields.get(f, [])).strip()]
        if missing:
            raise FurtherError(f"{path}:{number}: {title!r} has no {', '.join(repr(f + ':') for f in missing)}")
        parsed.append(Item(title, {f: _paragraph(fields[f]) for f in FIELDS}))
    return GoFurther(_paragraph(intro), tuple(parsed))


def problems(root: Path, chapter_dir: str) -> list[str]:
    """What `arena dev check` reports about a chapter's go_further.md (nothing when it has none)."""
    path = go_further_file(root, chapter_dir)
    if not path.exists():
        return []
    try:
        part = parse(path)
    except FurtherError as e:
        return [str(e).replace(f"{root}/", "", 1)]
    if not MIN_ITEMS <= len(part.items) <= MAX_ITEMS:
        rel = path.relative_to(root)
        return [f"{rel}: {len(part.items)} items; a chapter's go-further part has {MIN_ITEMS} to {MAX_ITEMS}"]
    return []


def _paragraph(lines: list[str]) -> str:
    """Lines joined into one paragraph; blank lines between paragraphs kept as one."""
    text = "\n".join(lines).strip()
    return re.sub(r"\n{2,}", "\n\n", re.sub(r"(?<!\n)\n(?!\n)", " ", text))
