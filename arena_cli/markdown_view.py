"""The Markdown of hints and question explanations, drawn with rich's Text.

Hints use a small part of Markdown: paragraphs, `code`, *emphasis*, **bold**, list items, fenced code,
a rare table, heading or quote. rich's own Markdown renderer imports markdown-it and pygments, and
highlighting a first code block loads a lexer: 50-150 ms together, more than the rest of `arena hint`.
This draws that part directly: paragraphs and list items re-flowed to the width (items with a hanging
indent), code blocks as they are (indented, in one colour, a long line broken at a space and continued
further in), tables, headings and quotes line by line.
"""

from __future__ import annotations

import re

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

_INLINE = re.compile(r"(`+)(.+?)\1|\*\*(.+?)\*\*|(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")
LIST_ITEM = re.compile(r"^(\s*)([-*+]|\d+[.)])\s+")  # also rewrap.py's
CODE_STYLE = "bold cyan"


def inline(text: str, style: str = "") -> Text:
    """One paragraph's text with its `code`, **bold** and *emphasis* styled (the markers dropped)."""
    out = Text(style=style)
    at = 0
    for m in _INLINE.finditer(text):
        out.append(text[at:m.start()])
        if m.group(2) is not None:
            out.append(m.group(2).strip() or m.group(2), CODE_STYLE)
        elif m.group(3) is not None:
            out.append(m.group(3), "bold")
        else:
            out.append(m.group(4), "italic")
        at = m.end()
    out.append(text[at:])
    return out


class CodeBlock:
    """Code lines as written, indented by 2; a line longer than the width is broken at a space and goes on
    4 columns further in, so a continuation never reads as a line of its own."""

    def __init__(self, code: str):
        self.lines = code.splitlines()

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(options.max_width - 2, 20)
        out = Text(style=CODE_STYLE, no_wrap=True, overflow="fold")
        for line in self.lines:
            indent = " " * (len(line) - len(line.lstrip()) + 4)
            while len(line) > width:
                cut = line.rfind(" ", len(indent), width)
                cut = cut if cut > len(indent) else width
                out.append("  " + line[:cut].rstrip() + "\n")
                line = indent + line[cut:].lstrip()
            out.append("  " + line + "\n")
        out.rstrip()
        yield out


def _starts_block(line: str) -> bool:
    s = line.strip()
    return not s or bool(LIST_ITEM.match(line)) or s.startswith(("```", "|", ">", "#"))


def _item(marker: str, depth: int, words: str) -> RenderableType:
    grid = Table.grid(padding=(0, 1, 0, 0))
    grid.add_column(no_wrap=True)
    grid.add_column()
    grid.add_row("•" if marker in "-*+" else marker, inline(words))
    return Padding(grid, (0, 0, 0, depth))


def blocks(text: str) -> list[tuple[str, RenderableType]]:
    """(kind, renderable) for each block of `text`: "code", "lines", "quote", "item" or "paragraph"."""
    lines = text.strip("\n").splitlines()
    out: list[tuple[str, RenderableType]] = []
    i = 0
    while i < len(lines):
        s = lines[i].strip()
        if not s:
            i += 1
        elif s.startswith("```"):
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip().startswith("```")), len(lines))
            out.append(("code", CodeBlock("\n".join(lines[i + 1:end]))))
            i = end + 1
        elif s.startswith(("|", "#")):  # a table's rows, or a heading: as they are
            end = i + 1
            while end < len(lines) and s.startswith("|") and lines[end].strip().startswith("|"):
                end += 1
            style = "" if s.startswith("|") else "bold"
            out.append(("lines", Group(*(inline(ln.strip().lstrip("# "), style) for ln in lines[i:end]))))
            i = end
        else:
            end = i + 1
            while end < len(lines) and not _starts_block(lines[end]):
                end += 1
            words = " ".join(ln.strip() for ln in lines[i:end])
            item = LIST_ITEM.match(lines[i])
            if s.startswith(">"):
                out.append(("quote", Padding(inline(re.sub(r"(^|\s)>\s?", " ", words).strip(), "italic"), (0, 0, 0, 2))))
            elif item:
                out.append(("item", _item(item.group(2), len(item.group(1)), words[len(item.group(0).strip()) + 1:])))
            else:
                out.append(("paragraph", inline(words)))
            i = end
    return out


def markdown_view(text: str) -> RenderableType:
    """`text` (Markdown) as one renderable: its blocks one under the other, a blank line between two
    (not between two list items)."""
    parts: list[RenderableType] = []
    previous = ""
    for kind, block in blocks(text):
        if parts and not (kind == previous == "item"):
            parts.append(Text(""))
        parts.append(block)
        previous = kind
    return Group(*parts)
