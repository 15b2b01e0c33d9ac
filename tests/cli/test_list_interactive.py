"""The interactive `arena list`: its key handling is a state machine driven here by simulated keys; its
screen fits 80 columns on the real course; in a pseudo-terminal, keys make an exercise current and reset
one; pipes, --json and --static still get the table."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from arena_cli.course import load_course
from arena_cli.cli import app
from arena_cli.keys import CONFIRM_KEYS, LIST_KEYS, SEARCH_KEYS, WATCH_KEYS, decode_keys
from arena_cli.picker import Choose, ListState, Quit, Reset, Row, rows_of
from arena_cli.progress import Progress
from arena_cli.list_screen import list_screen

REPO = Path(__file__).resolve().parents[2]


def rows(*statuses: str) -> list[Row]:
    names = ["add_numbers", "double_tensor", "say_hello", "sum_rows", "softmax"]
    return [
        Row(id=name, chapter="Basics" if i < 3 else "More", label=f"{i + 1:02d}", title=name.replace("_", " ").title(),
            status=status, path=f"exercises/1_basics/{i + 1:02d}_{name}.py")
        for i, (name, status) in enumerate(zip(names, statuses))
    ]


def press(state: ListState, *keys: str):
    """Press keys in order; the last action (or None)."""
    action = None
    for key in keys:
        action = state.press(key)
    return action


def ids(state: ListState) -> list[str]:
    return [r.id for r in state.visible()]


# --------------------------------------------------------------------------- keys


def test_decode_keys_names_arrows_enter_escape_and_backspace():
    assert decode_keys("jk") == ["j", "k"]
    assert decode_keys("\x1b[A\x1b[B\x1bOA") == ["up", "down", "up"]
    assert decode_keys("\x1b[5~\x1b[6~\x1b[H\x1b[F") == ["pgup", "pgdn", "home", "end"]
    assert decode_keys("\r\n\t\x7f\x08") == ["enter", "enter", "tab", "backspace", "backspace"]
    assert decode_keys("\x1b") == ["esc"]
    assert decode_keys("\x1bq") == ["esc", "q"]
    assert decode_keys("\x1b[1;5Cx") == ["x"]  # an unknown sequence (Ctrl-Right) is dropped whole


def test_one_key_table_gives_each_screen_its_footer_dispatch_and_help():
    assert WATCH_KEYS.footer() == "h hint · l list · r rerun · n next · q quit"
    assert LIST_KEYS.footer() == "↑↓/jk move · ⏎ make current · f filter · / search · r reset · q quit"
    for keymap in (WATCH_KEYS, LIST_KEYS, SEARCH_KEYS, CONFIRM_KEYS):
        for binding in keymap.bindings:
            assert [keymap.action(key) for key in binding.keys] == [binding.action] * len(binding.keys)
    helps = {c.name or c.callback.__name__: c.help for c in app.registered_commands}
    assert helps["watch"].endswith("(keys: h l r n q).")
    assert helps["list"].endswith("In a terminal: move with ↑↓/jk, Enter makes one current, f filters, / searches, r resets, q leaves.")


def test_the_cursor_starts_on_the_current_exercise_else_the_first_pending():
    assert ListState(rows("done", "pending", "current", "pending", "done")).selected == "say_hello"
    assert ListState(rows("done", "done", "pending", "pending", "done")).selected == "say_hello"
    assert ListState(rows("done", "done", "done", "done", "done")).selected == "add_numbers"


def test_moving_with_arrows_and_jk_stays_inside_the_list():
    state = ListState(rows("pending", "pending", "pending", "pending", "pending"))
    assert state.selected == "add_numbers"
    press(state, "j", "down")
    assert state.selected == "say_hello"
    press(state, "k")
    assert state.selected == "double_tensor"
    press(state, "up", "up", "up")
    assert state.selected == "add_numbers"
    press(state, "G")
    assert state.selected == "softmax"
    press(state, "j")
    assert state.selected == "softmax"
    press(state, "g")
    assert state.selected == "add_numbers"
    state.page = 3
    press(state, "pgdn")
    assert state.selected == "sum_rows"


def test_f_and_tab_cycle_all_pending_done_keeping_the_cursor_when_it_can():
    state = ListState(rows("done", "pending", "current", "done", "pending"))
    assert state.selected == "say_hello"
    press(state, "f")
    assert (state.filter, ids(state)) == ("pending", ["double_tensor", "say_hello", "softmax"])
    assert state.selected == "say_hello"
    press(state, "tab")
    assert (state.filter, ids(state)) == ("done", ["add_numbers", "sum_rows"])
    assert state.selected == "sum_rows"  # the next shown after the one that left
    press(state, "f")
    assert state.filter == "all" and len(ids(state)) == 5 and state.selected == "sum_rows"


def test_search_filters_as_you_type_enter_keeps_it_escape_clears_it():
    state = ListState(rows("pending", "pending", "pending", "pending", "pending"))
    assert press(state, "/", "s", "q", "x") is None  # typed letters are the query, not commands
    assert state.searching and state.query == "sqx" and ids(state) == []
    press(state, "backspace", "backspace", "o")
    assert ids(state) == ["double_tensor", "softmax"]  # "so" is in "tensor"
    press(state, "f")
    assert ids(state) == ["softmax"] and state.selected == "softmax"
    press(state, "enter")
    assert not state.searching and state.query == "sof" and ids(state) == ["softmax"]
    assert press(state, "enter") == Choose("softmax")
    press(state, "/", "h", "e", "l", "esc")
    assert not state.searching and state.query == "" and len(ids(state)) == 5
    press(state, "/", "0", "2", "_", "enter")  # the file name matches too
    assert ids(state) == ["double_tensor"]


def test_enter_makes_the_selected_exercise_current_and_q_or_escape_leave():
    state = ListState(rows("pending", "pending", "pending", "pending", "pending"))
    assert press(state, "j", "enter") == Choose("double_tensor")
    assert press(state, "q") == Quit()
    assert ListState(rows("pending")).press("esc") == Quit()


def test_reset_asks_first():
    state = ListState(rows("done", "done", "pending", "pending", "pending"))
    press(state, "g", "r")
    assert state.confirming == "add_numbers"
    assert press(state, "n") is None and state.confirming is None and state.message == "Nothing changed."
    assert press(state, "j", "r", "q") is None  # anything but y cancels, even q
    assert state.confirming is None
    assert press(state, "r", "y") == Reset("double_tensor")


def test_nothing_to_select_is_harmless():
    state = ListState(rows("pending", "pending"))
    press(state, "/", "z", "z", "enter")
    assert ids(state) == []
    assert press(state, "enter") is None and press(state, "r") is None and press(state, "j") is None


# --------------------------------------------------------------------------- the screen


def real_rows() -> list[Row]:
    course = load_course(REPO)
    progress = Progress(current=course.exercises[3].id)
    progress.entry_for(course.exercises[0].id).status = "done"
    progress.entry_for(course.exercises[1].id).hints = 3
    return rows_of(SimpleNamespace(course=course), progress)


@pytest.mark.parametrize("width, height", [(80, 24), (60, 12), (120, 40)])
def test_the_screen_fits_the_terminal_and_follows_the_cursor(width, height):
    state = ListState(real_rows())
    console = Console(width=width, height=height, file=open(os.devnull, "w"), force_terminal=True, color_system=None)

    def lines() -> list[str]:
        with console.capture() as capture:
            console.print(list_screen(state, width, height, REPO))
        return capture.get().splitlines()

    for keys in ([], ["G"], ["g"], ["f"], ["/", "i", "o", "i"], ["enter", "j", "j", "r"]):
        press(state, *keys)
        shown = lines()
        assert len(shown) == height and all(console.measure(line).maximum <= width for line in shown)
        selected = [line for line in shown if line.startswith("▸ ")]
        assert len(selected) == 1, shown  # the cursor is always on screen
        row = state.current_row
        assert row.title[:10] in selected[0]
        assert shown[-3].startswith(row.id) and row.path[:20] in shown[-3]  # its id and file
    assert "Reset" in shown[-2] and "y/n" in shown[-2]


# --------------------------------------------------------------------------- in a terminal


class Terminal:
    """`arena ARGS` on a pseudo-terminal: what it draws, and keys to send it."""

    def __init__(self, arena, *args: str):
        self.master, slave = pty.openpty()
        env = {k: v for k, v in arena.env.items() if k != "NO_COLOR"}
        env.update(TERM="xterm-256color", COLUMNS="80", LINES="24")
        self.proc = subprocess.Popen(
            arena.command(*args), cwd=arena.root, env=env, stdin=slave, stdout=slave, stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        self.output = b""

    def read(self, until: bytes, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while until not in self.output:
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {until!r}; got:\n{self.output.decode(errors='replace')}")
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:
                    break

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self) -> int:
        try:
            code = self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            os.close(self.master)
        return code


def test_in_a_terminal_keys_make_an_exercise_current_and_reset_one(arena):
    arena.write("add_numbers", arena.correct["add_numbers"])
    arena.set_progress({"add_numbers": {"status": "done", "attempts": 2}}, current="double_tensor")
    term = Terminal(arena, "list")
    try:
        term.read(b"q quit")
        term.send("j")  # double_tensor -> say_hello
        term.read(b"03_say_hello.py")
        term.send("\r")
        term.read(b"say_hello is current")
        assert arena.progress()["current"] == "say_hello"
        term.send("gr")  # to add_numbers, reset it
        term.read(b"y/n")
        term.send("y")
        term.read(b"pending again")
        term.send("q")
        term.read(b"reruns its hidden test")
    finally:
        code = term.close()
    assert code == 0
    assert arena.entry("add_numbers")["status"] == "pending"
    assert arena.read("add_numbers") == arena.original("add_numbers")
    assert arena.progress()["current"] == "say_hello"
    # Said again after the list's screen is gone.
    assert "Say hello is current" in re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", term.output.decode())


def test_static_table_for_static_pipes_and_json(arena):
    term = Terminal(arena, "list", "--static")
    try:
        term.read(b"say_hello")
    finally:
        assert term.close() == 0
    assert b"q quit" not in term.output and b"\x1b[?1049h" not in term.output  # no alternate screen
    code, out, err = arena("list")  # stdin and stdout are not a terminal
    assert code == 0 and "say_hello" in out and "q quit" not in out
    code, data = arena.json("list")
    assert [e["id"] for e in data] == list(arena.ids)
