"""End to end in a real terminal: `arena watch` and the interactive `arena list` in tmux, on a copy of the
fixture course, driven with send-keys and read with capture-pane, as a student would use them.

Each test runs its own tmux server (a private socket), killed at the end. Waits poll the screen with
generous deadlines; on a quiet machine each test takes a few seconds."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

pytestmark = [
    pytest.mark.slow,  # drives arena in a real tmux
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)"),
]

DEADLINE_S = 30


class Tmux:
    def __init__(self, arena):
        self.arena = arena
        self.socket = f"arena-test-{uuid.uuid4().hex[:8]}"
        self.env = {k: v for k, v in arena.env.items() if k not in ("TMUX", "TMUX_PANE", "COLUMNS", "LINES")}
        self.env["ARENA_NO_WORKER"] = "1"  # cold runs: no 4 s warm-up competing for the cores

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, "-f", os.devnull, *args],
            env=self.env, capture_output=True, text=True, timeout=30, check=True,
        ).stdout

    def start(self, *arena_args: str) -> None:
        """Run `arena ARGS` in a new 80x30 window; the window stays after it exits, saying its code."""
        command = shlex.join([sys.executable, "-m", "arena_cli", *arena_args])
        script = f"{command}; echo \"EXITED $?\"; sleep 600"
        self.tmux("new-session", "-d", "-s", "arena", "-x", "80", "-y", "30", "-c", str(self.arena.root), script)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "arena")

    def wait(self, text: str, timeout: float = DEADLINE_S) -> str:
        """Wait until `text` is on the screen; the screen."""
        found = {}

        def on_screen() -> bool:
            found["screen"] = self.screen()
            return text in found["screen"]

        try:
            self.arena.wait_for(on_screen, timeout, f"{text!r} on the screen", interval=0.1)
        except BaseException:
            print(found.get("screen", ""))  # shown by pytest with the failure
            raise
        return found["screen"]

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "arena", *keys)


@contextmanager
def tmux(arena) -> Iterator[Tmux]:
    session = Tmux(arena)
    try:
        yield session
    finally:
        subprocess.run(["tmux", "-L", session.socket, "kill-server"], capture_output=True, timeout=30)


def test_watch_in_tmux_turns_to_passed_on_save_then_keys_move_on(arena):
    arena.set_progress({"double_tensor": {"status": "done"}})  # the next one is say_hello: no torch to import
    opened = arena.root.parent / "opened.txt"  # an "editor" that notes what it was asked to open
    arena.env["ARENA_EDIT_CMD"] = f"sh -c 'echo \"$0\" >> {shlex.quote(str(opened))}' {{path}}:{{line}}"
    with tmux(arena) as t:
        t.start("watch", "add_numbers")
        t.wait("— failed")
        screen = t.wait("watching for saves")  # the whole verdict drawn
        assert "01_add_numbers.py:6:5: error: not implemented yet" in screen  # the place to look, clickable
        assert max(len(line) for line in screen.splitlines()) <= 80

        arena.write("add_numbers", arena.correct["add_numbers"])  # the student saves the solution
        screen = t.wait("— passed")
        t.wait("watching for saves")
        screen = t.screen()
        (status,) = [line for line in screen.splitlines() if "watching for saves" in line]
        assert status.rstrip().endswith("q quit")  # the keys fit on the line at 80 columns
        assert "next exercise: Say hello" in screen
        assert arena.entry("add_numbers")["status"] == "done"

        t.keys("n")  # the next exercise: its card, then its first verdict
        screen = t.wait("Say hello — failed")
        assert "In this section you will:" in screen  # its card: a new section begins
        assert arena.progress()["current"] == "say_hello"
        arena.wait_for(lambda: opened.exists() and len(opened.read_text().splitlines()) == 2, DEADLINE_S, "2 opens")
        assert opened.read_text().splitlines() == [
            f"{arena.student_path('add_numbers')}:6",  # when watch started
            f"{arena.student_path('say_hello')}:6",  # when `n` made the next one current
        ]
        t.keys("h")
        t.wait("hint 1 of")
        t.keys("q")
        screen = t.wait("EXITED 0")
        assert "Stopped watching" in screen
    assert arena.entry("say_hello")["hints"] == 1


def test_interactive_list_in_tmux(arena):
    arena.set_progress({"add_numbers": {"status": "done", "attempts": 3}}, current="double_tensor")
    with tmux(arena) as t:
        t.start("list")
        screen = t.wait("q quit")
        assert "▸ 02 double_tensor Double a tensor" in screen and "✓ done" in screen
        assert max(len(line) for line in screen.splitlines()) <= 80
        t.keys("j")
        t.wait("▸ 03 say_hello")
        t.keys("Enter")
        t.wait("say_hello is current")
        assert arena.progress()["current"] == "say_hello"
        t.keys("f")  # pending only: add_numbers (done) leaves the list
        screen = t.wait("2 of 3")
        assert "Add two numbers" not in screen
        t.keys("/", "d", "o", "u", "Enter")
        screen = t.wait("1 of 3")
        assert "▸ 02 double_tensor Double a tensor" in screen
        t.keys("q")
        screen = t.wait("EXITED 0")
        assert "Say hello is current" in screen  # said again once the list's screen is gone


def test_l_in_watch_opens_the_interactive_list_and_comes_back(arena):
    arena.set_progress({"double_tensor": {"status": "done"}})  # say_hello: no torch to import
    with tmux(arena) as t:
        t.start("watch", "say_hello")
        t.wait("watching for saves")
        t.keys("h")  # a screen of its own: the keys are said again under it
        t.wait("─ hint 1 of")  # the hint's panel (the verdict's steps say "hint 1 of" too)
        screen = arena.wait_for(lambda: (s := t.screen()).rstrip().splitlines()[-1].rstrip().endswith("q quit")
                                and "─ hint 1 of" in s and s, 30, "the keys under the hint")
        assert "1/3 done" in screen  # the progress bar above the keys
        t.keys("l")
        screen = t.wait("make current")  # the interactive list's footer
        assert "say_hello" in screen and "add_numbers" in screen  # ids, even at 80 columns
        t.keys("q")
        t.wait("Say hello — failed")  # back to watching: the last verdict again, then the keys
        screen = t.wait("q quit")
        assert "exercises/1_basics/03_say_hello.py" in screen  # the header's path, whole
        t.keys("l")
        t.wait("make current")
        t.keys("g", "Enter", "q")  # the first exercise made current there: watch follows it
        t.wait("Add two numbers — failed")
        assert arena.progress()["current"] == "add_numbers"
        t.keys("q")
        t.wait("EXITED 0")
