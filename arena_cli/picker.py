"""The interactive `arena list` (in a terminal): move, filter, search, make an exercise current, reset it.

Two parts:
- `ListState`: a pure state machine. `press(key)` takes one decoded key ("up", "enter", "j", ...),
  looks it up in `keys.LIST_KEYS` and returns what to do (`Choose`, `Reset`, `Quit`) or None; it does
  no I/O, so it is tested with key sequences and no terminal.
- `run_picker`: the thin terminal loop. Reads keys in cbreak mode, draws the screen (list_screen.py)
  on the alternate screen with rich's Live, and carries out the actions with the session's functions
  the commands use (`session.set_current`, `session.reset_file`). Progress written by another arena (a pass
  in `arena watch`) shows up within a second.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Union

from arena_cli.keys import CONFIRM_KEYS, LIST_KEYS, SEARCH_KEYS, CbreakInput, decode_keys
from arena_cli.list_screen import list_screen
from arena_cli.markers import StudentFileError
from arena_cli.progress import Progress, ProgressFileError
from arena_cli.session import reset_file, set_current

FILTERS = ("all", "pending", "done")

@dataclass(frozen=True)
class Row:
    id: str
    chapter: str
    label: str  # "05", or "05q" for a question
    title: str
    status: str  # done | current | pending
    hints: int = 0
    attempts: int = 0
    path: str = ""  # relative to the course root


@dataclass(frozen=True)
class Choose:
    id: str


@dataclass(frozen=True)
class Reset:
    id: str


@dataclass(frozen=True)
class Quit:
    pass


Action = Union[Choose, Reset, Quit]


@dataclass
class ListState:
    rows: list[Row]
    filter: str = "all"
    query: str = ""
    searching: bool = False
    selected: str | None = None  # the id under the cursor
    confirming: str | None = None  # the id waiting for y/n before a reset
    message: str = ""
    page: int = 10  # rows moved by PgUp/PgDn (the loop sets it from the terminal's height)
    top: int = field(default=0, repr=False)  # first line shown (render keeps the cursor in view)

    def __post_init__(self) -> None:
        if self.selected is None or self.selected not in [r.id for r in self.visible()]:
            current = [r for r in self.visible() if r.status == "current"]
            pending = [r for r in self.visible() if r.status == "pending"]
            first = (current or pending or self.visible() or [None])[0]
            self.selected = first.id if first else None

    # ------------------------------------------------------------------ what is shown

    def visible(self) -> list[Row]:
        query = self.query.lower()
        return [
            r
            for r in self.rows
            if (self.filter == "all" or (r.status == "done") == (self.filter == "done"))
            and (not query or any(query in text.lower() for text in (r.id, r.title, r.chapter, r.path)))
        ]

    @property
    def cursor(self) -> int | None:
        """Index of the selected row among the visible ones (None when nothing is visible)."""
        ids = [r.id for r in self.visible()]
        return ids.index(self.selected) if self.selected in ids else None

    @property
    def current_row(self) -> Row | None:
        i = self.cursor
        return self.visible()[i] if i is not None else None

    def refresh(self, rows: list[Row]) -> None:
        """New statuses (after an action, or progress written by another arena); the cursor stays."""
        self.rows = rows
        self._keep_selection()

    # ------------------------------------------------------------------ keys

    def press(self, key: str) -> Action | None:
        """One key (as `keys.decode_keys` names it), dispatched through `keys.LIST_KEYS`."""
        if self.confirming is not None:
            return self._confirm(key)
        if self.searching:
            return self._search(key)
        self.message = ""
        action = LIST_KEYS.action(key)
        moves = {"down": 1, "up": -1, "page_down": self.page, "page_up": -self.page,
                 "first": -len(self.rows), "last": len(self.rows)}
        if action == "quit":
            return Quit()
        if action in moves:
            self._move(moves[action])
        elif action == "filter":
            self.filter = FILTERS[(FILTERS.index(self.filter) + 1) % len(FILTERS)]
            self._keep_selection()
        elif action == "search":
            self.searching = True
            self.query = ""
            self._keep_selection()
        elif action == "choose":
            row = self.current_row
            if row is not None:
                return Choose(row.id)
        elif action == "reset":
            row = self.current_row
            if row is not None:
                self.confirming = row.id
        return None

    def _confirm(self, key: str) -> Action | None:
        chosen, self.confirming = self.confirming, None
        if CONFIRM_KEYS.action(key) == "yes" and chosen is not None:
            return Reset(chosen)
        self.message = "Nothing changed."
        return None

    def _search(self, key: str) -> Action | None:
        action = SEARCH_KEYS.action(key)
        if action == "keep":
            self.searching = False
        elif action == "clear":
            self.searching = False
            self.query = ""
        elif action == "erase":
            self.query = self.query[:-1]
        elif len(key) == 1 and key.isprintable():
            self.query += key
        self._keep_selection()
        return None

    def _move(self, by: int) -> None:
        rows = self.visible()
        if not rows:
            return
        i = self.cursor if self.cursor is not None else 0
        self.selected = rows[max(0, min(len(rows) - 1, i + by))].id

    def _keep_selection(self) -> None:
        """After the visible rows changed: keep the selected row if it is still shown, else the
        nearest one after it in course order, else the last shown."""
        rows = self.visible()
        if not rows:
            return
        if self.selected in [r.id for r in rows]:
            return
        order = [r.id for r in self.rows]
        at = order.index(self.selected) if self.selected in order else 0
        after = [r for r in rows if order.index(r.id) >= at]
        self.selected = (after or rows[-1:])[0].id


# --------------------------------------------------------------------------- the terminal loop


def rows_of(ctx, progress, only: set[str] | None = None) -> list[Row]:
    """One row per exercise of the course (or of the ids in `only`), in course order."""
    return [
        Row(
            id=e.id,
            chapter=ctx.course.chapter_of(e).title,
            label=e.label,
            title=e.title,
            status=progress.status(e.id),
            hints=progress.find(e.id).hints,
            attempts=progress.find(e.id).attempts,
            path=e.rel(e.exercise_path),
        )
        for e in ctx.course.exercises
        if only is None or e.id in only
    ]


def interactive_possible(console) -> bool:
    """A terminal on both ends (keys in, screen out) that can draw."""
    return bool(
        sys.stdin
        and sys.stdin.isatty()
        and console.is_terminal
        and not console.is_dumb_terminal
    )


def pick(ctx, state: ListState, only: set[str] | None = None) -> str | None:
    """Show the list until the student leaves it; carry out what they choose. `only`: the ids listed
    (all of the course's by default). Returns the id made current last (None: none was)."""
    from rich.live import Live

    loop = _Loop(ctx, state, only)
    try:
        with CbreakInput() as terminal, Live(loop.screen(), console=ctx.console, screen=True, auto_refresh=False) as live:
            loop.run(terminal, live)
    except KeyboardInterrupt:
        pass
    return loop.chosen


def run_picker(ctx, state: ListState, only: set[str] | None = None) -> int:
    """`arena list` in a terminal: the list, then what was made current, said on the normal screen."""
    from rich.text import Text

    from arena_cli import render
    from arena_cli.links import link

    chosen = pick(ctx, state, only)
    if chosen is not None:  # said again on the normal screen, which the list's screen gave back
        ex = ctx.course.get(chosen)
        ctx.console.print(
            Text.assemble(("▶ ", "bold yellow"), (ex.title, "bold"), " is current: ", link(ex.exercise_path, root=ex.root))
        )
        ctx.console.print(render.next_steps([("arena watch", "reruns its hidden test every time you save the file")]))
    return 0


class _Loop:
    def __init__(self, ctx, state: ListState, only: set[str] | None):
        self.ctx = ctx
        self.state = state
        self.only = only
        self.chosen: str | None = None  # the id made current last
        self.warnings: list[str] = []
        if ctx.editor is not None:
            ctx.editor.warn = self.warnings.append  # shown in the status line, not across the screen
        self.stamp = self.progress_stamp()
        self.size = ctx.console.size

    def screen(self):
        from arena_cli import render

        width, height = self.ctx.console.size
        self.state.page = max(1, height - 8)
        return list_screen(self.state, width, height, self.ctx.course.root)

    def progress_stamp(self) -> int | None:
        try:
            return self.ctx.store.path.stat().st_mtime_ns
        except OSError:
            return None

    def reload(self, progress: Progress | None = None) -> None:
        """New rows from `progress` (as an action saved it), else from the file."""
        self.stamp = self.progress_stamp()
        self.state.refresh(rows_of(self.ctx, progress or self.ctx.load_progress(), self.only))

    def run(self, terminal: CbreakInput, live) -> None:
        while True:
            data = terminal.read(0.5)
            if data is None:  # idle: a resize, progress written by another arena, an editor's warning
                changed = self.progress_stamp() != self.stamp
                if changed:
                    self.reload_or_say()
                if self.warnings:
                    self.state.message = "warning: " + self.warnings[-1]
                    self.warnings.clear()
                    changed = True
                if changed or self.ctx.console.size != self.size:
                    self.size = self.ctx.console.size
                    live.update(self.screen(), refresh=True)
                continue
            if data == "":
                return  # end of input
            for key in decode_keys(data):
                action = self.state.press(key)
                if isinstance(action, Quit):
                    return
                if action is not None:
                    self.act_or_say(action)
            live.update(self.screen(), refresh=True)

    def reload_or_say(self) -> None:
        """Reload; progress that can't be read is said in the status line (the list stays)."""
        try:
            self.reload()
        except ProgressFileError as e:
            self.state.message = f"arena: {e}"

    def act_or_say(self, action: Action) -> None:
        """Carry out `action`; progress that can't be saved is said in the status line instead."""
        try:
            self.act(action)
        except ProgressFileError as e:
            self.state.message = f"arena: {e}"

    def act(self, action: Action) -> None:
        ex = self.ctx.course.get(action.id)
        if isinstance(action, Choose):
            progress = set_current(self.ctx, ex)
            self.chosen = ex.id
            self.state.message = f"▶ {ex.id} is current: `arena watch` (or `arena next`) starts it."
        else:
            try:
                progress = reset_file(self.ctx, ex)
            except StudentFileError as e:
                self.state.message = f"Not reset: {e}"
                return
            self.state.message = f"Reset {ex.rel(ex.exercise_path)}; {ex.id} is pending again."
        self.reload(progress)
