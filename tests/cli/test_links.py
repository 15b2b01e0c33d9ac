"""Paths arena prints: relative `path:line:col` text everywhere; an OSC 8 hyperlink to the file only in a
terminal that likely supports it (not inside VSCode, not with NO_COLOR/--no-color, not dumb); never an
escape code in a pipe or in --json."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
from pathlib import Path

import pytest
from rich.text import Text

from arena_cli.links import LinkConsole, hyperlinks_wanted, link, link_location, linkify

OSC8 = re.compile(r"\x1b\]8;[^;]*;([^\x1b]*)\x1b\\(.*?)\x1b\]8;;\x1b\\")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


# --------------------------------------------------------------------------- the decision


@pytest.mark.parametrize(
    "is_terminal, no_color, env, wanted",
    [
        (True, False, {"TERM": "xterm-256color"}, True),
        (True, False, {"TERM": "xterm-256color", "TERM_PROGRAM": "iTerm.app"}, True),
        (True, False, {"TERM": "xterm-256color", "TERM_PROGRAM": "vscode"}, False),  # breaks VSCode's links
        (True, False, {"TERM": "xterm-256color", "NO_COLOR": "1"}, False),
        (True, False, {"TERM": "xterm-256color", "NO_COLOR": ""}, True),  # NO_COLOR counts only when set
        (True, True, {"TERM": "xterm-256color"}, False),  # --no-color
        (True, False, {"TERM": "dumb"}, False),
        (True, False, {"TERM": "linux"}, False),  # the Linux console prints the escape as text
        (False, False, {"TERM": "xterm-256color"}, False),  # a pipe
        # The override, both ways; a pipe stays plain whatever it says.
        (True, False, {"TERM_PROGRAM": "vscode", "ARENA_HYPERLINKS": "1"}, True),
        (True, True, {"ARENA_HYPERLINKS": "1"}, True),
        (True, False, {"TERM": "xterm-256color", "ARENA_HYPERLINKS": "0"}, False),
        (False, False, {"ARENA_HYPERLINKS": "1"}, False),
    ],
)
def test_when_hyperlinks_are_wanted(is_terminal, no_color, env, wanted):
    assert hyperlinks_wanted(is_terminal, no_color, env) is wanted


# --------------------------------------------------------------------------- the text


def test_link_is_relative_text_with_a_file_uri_to_the_absolute_path(tmp_path):
    path = tmp_path / "exercises" / "1 basics" / "01_add.py"
    text = link(path, 6, 5, root=tmp_path, style="cyan")
    assert text.plain == "exercises/1 basics/01_add.py:6:5"
    assert text.style.link == path.as_uri() and "%20" in text.style.link
    assert link(path, root=tmp_path).plain == "exercises/1 basics/01_add.py"
    assert link(path, 3, root=tmp_path).plain == "exercises/1 basics/01_add.py:3"
    # A path outside the root stays absolute; a relative one is taken relative to the root.
    assert link(Path("/elsewhere/x.py"), root=tmp_path).plain == "/elsewhere/x.py"
    assert link("results/a.png", root=tmp_path).style.link == (tmp_path / "results" / "a.png").as_uri()


def test_link_location_reads_what_the_test_process_writes(tmp_path):
    text = link_location("exercises/1_basics/01_add_numbers.py:6:5", tmp_path)
    assert text.plain == "exercises/1_basics/01_add_numbers.py:6:5"
    assert text.style.link == (tmp_path / "exercises/1_basics/01_add_numbers.py").as_uri()
    assert link_location("exercises/a.py:7", tmp_path).plain == "exercises/a.py:7"


def links_in(text: Text) -> list[tuple[str, str]]:
    """(linked text, uri) of every link span in a Text."""
    return [(text.plain[s.start : s.end], s.style.link) for s in text.spans if getattr(s.style, "link", None)]


def test_linkify_links_course_paths_and_traceback_frames(tmp_path):
    message = (
        'exercises/1_basics/01_add.py:2:15: SyntaxError\n'
        '  File "exercises/1_basics/02_double.py", line 5, in double\n'
        "see results/superposition/pentagon.png, not numpy/core.py"
    )
    found = links_in(linkify(message, tmp_path))
    assert found == [
        ("exercises/1_basics/02_double.py", (tmp_path / "exercises/1_basics/02_double.py").as_uri()),
        ("exercises/1_basics/01_add.py:2:15", (tmp_path / "exercises/1_basics/01_add.py").as_uri()),
        ("results/superposition/pentagon.png", (tmp_path / "results/superposition/pentagon.png").as_uri()),
    ]


def test_the_console_drops_links_unless_they_are_wanted(monkeypatch):
    def printed(**kwargs) -> str:
        console = LinkConsole(file=io.StringIO(), width=80, **kwargs)
        console.print(Text.assemble("see ", link("/c/exercises/a.py", 3, 1, root=Path("/c")), " now"))
        return console.file.getvalue()

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("ARENA_HYPERLINKS", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("TERM_PROGRAM", raising=False)
    linked = printed(force_terminal=True)
    assert OSC8.findall(linked) == [("file:///c/exercises/a.py", "exercises/a.py:3:1")]
    assert printed() == "see exercises/a.py:3:1 now\n"  # not a terminal: plain text
    assert "\x1b]8" not in printed(force_terminal=True, hyperlinks=False)
    assert "\x1b]8" not in printed(force_terminal=True, no_color=True)
    monkeypatch.setenv("TERM_PROGRAM", "vscode")
    inside_vscode = printed(force_terminal=True)
    assert "\x1b]8" not in inside_vscode and "exercises/a.py:3:1" in inside_vscode


# --------------------------------------------------------------------------- arena itself


def in_terminal(arena, *args: str, env: dict[str, str]) -> str:
    """Run `arena ARGS` with its output on a pseudo-terminal; what it wrote."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        arena.command(*args), cwd=arena.root, env=env, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave
    )
    os.close(slave)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 60)
            if not ready:
                pytest.fail(f"arena {' '.join(args)} wrote nothing for 60 s")
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        proc.wait(timeout=60)
    return b"".join(chunks).decode("utf-8", errors="replace")


def terminal_env(arena, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in arena.env.items() if k not in ("NO_COLOR", "TERM_PROGRAM")}
    return {**env, "TERM": "xterm-256color", "COLUMNS": "80", **extra}


def test_in_a_terminal_every_path_is_a_hyperlink_to_its_file(arena):
    exercise = arena.student_path("add_numbers")
    out = in_terminal(arena, "next", env=terminal_env(arena))
    assert (exercise.as_uri(), "exercises/1_basics/01_add_numbers.py") in [
        (uri, ANSI.sub("", text)) for uri, text in OSC8.findall(out)
    ]
    out = in_terminal(arena, "run", "add_numbers", env=terminal_env(arena))
    linked = {ANSI.sub("", text): uri for uri, text in OSC8.findall(out)}
    assert linked["exercises/1_basics/01_add_numbers.py:6:5"] == exercise.as_uri()  # the failing line
    assert linked["exercises/1_basics/01_add_numbers.py"] == exercise.as_uri()


def test_inside_vscode_and_without_colour_paths_are_plain_text(arena):
    for env in (
        terminal_env(arena, TERM_PROGRAM="vscode"),
        terminal_env(arena, NO_COLOR="1"),
        terminal_env(arena, TERM="dumb"),
    ):
        out = in_terminal(arena, "run", "add_numbers", env=env)
        assert "\x1b]8;" not in out
        assert "exercises/1_basics/01_add_numbers.py:6:5: " in ANSI.sub("", out)
    out = in_terminal(arena, "run", "add_numbers", "--no-color", env=terminal_env(arena))
    assert "\x1b]8;" not in out
    # ARENA_HYPERLINKS=1 turns them on even inside VSCode.
    out = in_terminal(arena, "next", env=terminal_env(arena, TERM_PROGRAM="vscode", ARENA_HYPERLINKS="1"))
    assert "\x1b]8;" in out


@pytest.mark.parametrize("args", [["next"], ["run", "add_numbers"], ["list"], ["hint", "add_numbers"]])
def test_no_escape_code_in_a_pipe_whatever_the_environment(arena, args):
    arena.env.pop("NO_COLOR")
    arena.env.update(ARENA_HYPERLINKS="1", TERM="xterm-256color")
    code, out, err = arena(*args)
    assert "\x1b" not in out + err, out
    assert ("add_numbers" if args == ["list"] else "exercises/1_basics/01_add_numbers.py") in out
    if args[0] != "hint":
        code, data = arena.json(*args)
        assert "\x1b" not in repr(data)
