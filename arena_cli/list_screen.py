"""The interactive list's screen (`arena list` in a terminal; the loop is `picker.py`): every line cut
to the terminal's width, the cursor kept in view."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group, RenderableType
from rich.text import Text

from arena_cli.keys import LIST_KEYS, SEARCH_KEYS
from arena_cli.links import link


_LIST_STATUS = {"done": ("✓ done", "green"), "current": ("▶ current", "bold yellow"), "pending": ("pending", "dim")}


def _cell(text: str, width: int, style: str = "", justify: str = "left") -> Text:
    """Exactly `width` cells: cut with … when longer, padded when shorter."""
    if justify == "right":
        text = text.rjust(width)
    cell = Text(text, style=style, no_wrap=True, overflow="ellipsis")
    cell.truncate(width, overflow="ellipsis", pad=True)
    return cell


def list_screen(state, width: int, height: int, root: Path | None = None) -> RenderableType:
    """The interactive list's whole screen, `height` lines of at most `width` cells. Keeps the cursor in
    view (updates `state.top`)."""
    rows = state.visible()
    # The id is what the commands take: always shown; the title is cut instead.
    show_counts = width >= 90  # hints and tries: left out of narrow terminals
    label_width = max((len(r.label) for r in state.rows), default=2)  # 2, or 3 with a question (05q)
    fixed = 2 + label_width + 1 + 9 + (12 if show_counts else 0)
    # Whole ids from 80 columns up (the course's longest is 35); in narrower terminals a title keeps 16.
    id_width = min(40, max((len(r.id) for r in state.rows), default=2), max(12, width - fixed - 1 - 17))
    fixed += id_width + 1
    title_width = max(10, width - fixed - 1)

    head = Text(no_wrap=True, overflow="ellipsis")
    head.append("Exercises ", style="bold")
    head.append(f"{len(rows)} of {len(state.rows)}  ", style="dim")
    for name in ("all", "pending", "done"):
        head.append(f" {name} ", style="reverse" if state.filter == name else "dim")
    if state.query or state.searching:
        head.append(f"  /{state.query}", style="bold cyan")
    columns = Text.assemble(
        "  ", _cell("#", label_width), " ",
        _cell("id", id_width), " ",
        _cell("title", title_width), " ", _cell("status", 9),
        *([" ", _cell("hints", 5, justify="right"), " ", _cell("tries", 5, justify="right")] if show_counts else []),
        style="dim",
    )

    body: list[Text] = []
    headers: set[int] = set()  # lines that are a chapter's title
    cursor_line = None
    chapter = None
    for row in rows:
        if row.chapter != chapter:
            chapter = row.chapter
            headers.add(len(body))
            body.append(_cell(f" {chapter}", width, style="bold"))
        selected = row.id == state.selected
        if selected:
            cursor_line = len(body)
        label, style = _LIST_STATUS[row.status]
        line = Text.assemble(
            ("▸ " if selected else "  ", "bold cyan"),
            _cell(row.label, label_width, style="dim"), " ",
            _cell(row.id, id_width), " ",
            _cell(row.title, title_width), " ",
            _cell(label, 9, style=style),
            *([" ", _cell(str(row.hints or ""), 5, justify="right"), " ",
               _cell(str(row.attempts or ""), 5, justify="right")] if show_counts else []),
        )
        if selected:
            line.stylize("reverse")
        body.append(line)
    if not rows:
        body.append(Text("  No exercises match." + ("  Esc clears the search." if state.query else ""), style="dim"))

    room = max(1, height - 5)
    if cursor_line is not None:
        if cursor_line < state.top:
            state.top = cursor_line - 1 if cursor_line - 1 in headers else cursor_line  # with its chapter
        elif cursor_line >= state.top + room:
            state.top = cursor_line - room + 1
    state.top = max(0, min(state.top, max(0, len(body) - room)))
    shown = body[state.top : state.top + room]
    shown += [Text("")] * (room - len(shown))

    selected_row = state.current_row
    detail = Text(no_wrap=True, overflow="ellipsis")
    if selected_row is not None:
        detail.append(f"{selected_row.id}  ", style="bold")
        detail.append_text(link(selected_row.path, root=root, style="cyan") if root else Text(selected_row.path, style="cyan"))
    if state.confirming is not None:
        prompt = Text.assemble(
            (f"Reset {state.confirming}? y/n", "bold yellow"), ("  a fresh copy of its file, marked pending", "yellow")
        )
    elif state.searching:
        prompt = Text.assemble(("/", "bold cyan"), state.query, ("█", "cyan"), (f"   {SEARCH_KEYS.footer()}", "dim"))
    else:
        prompt = Text(state.message, style="green" if state.message.startswith(("▶", "Reset")) else "")
    keys = Text(LIST_KEYS.footer(), style="dim")
    lines = [head, columns, *shown, detail, prompt, keys]
    for line in lines:
        line.no_wrap, line.overflow = True, "ellipsis"
        line.truncate(width, overflow="ellipsis")
    return Group(*lines)
