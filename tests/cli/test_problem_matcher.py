"""The .vscode task's problem matcher against what a task terminal shows: `arena run` and `arena watch`
in a pseudo-terminal of 80 and of 120 columns, colours on, the escape sequences interpreted, and the
task's pattern applied to each line. Every problem is found, with its whole message."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time

import pytest

from .test_vscode import VSCODE, jsonc, matchers

pytestmark = pytest.mark.slow  # runs arena end to end in a terminal

DEADLINE_S = 60
LONG = "the shapes disagree because the reshape keeps the batch axis last " * 2  # longer than 80 columns

_CSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
_OSC = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_ESC = re.compile(r"\x1b[@-Z\\-_]")


def terminal_lines(raw: bytes) -> list[str]:
    """The lines as a terminal shows them, escape sequences interpreted (colours, links and screen
    clears dropped; a carriage return starts its line over), each line whole as the program wrote it
    (a terminal folds a long line on screen; the task's matcher reads the line)."""
    text = raw.decode("utf-8", errors="replace")
    text = _ESC.sub("", _CSI.sub("", _OSC.sub("", text)))
    lines = []
    for line in text.replace("\r\n", "\n").split("\n"):
        lines.append(line.rsplit("\r", 1)[-1])
    return lines


def in_terminal(arena, args: list[str], columns: int, until: str | None = None, task: bool = True) -> bytes:
    """Run `arena ARGS` in a pseudo-terminal `columns` wide, as VSCode's task runs it (its env, colours
    on; `task=False`: a terminal of the student's own); all it wrote. With `until`, stop it (Ctrl-C) once
    that text has appeared."""
    (vscode_task,) = jsonc(VSCODE / "tasks.json")["tasks"]
    env = {k: v for k, v in arena.env.items() if k not in ("NO_COLOR", "COLUMNS", "LINES")}
    env.update(vscode_task["options"]["env"] if task else {}, TERM="xterm-256color", ARENA_NO_WORKER="1")
    if task:
        env["TERM_PROGRAM"] = "vscode"
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    proc = subprocess.Popen(arena.command(*args), cwd=arena.root, env=env, stdin=follower, stdout=follower,
                            stderr=follower, start_new_session=True, preexec_fn=arena.as_in_a_terminal)
    os.close(follower)
    out = b""
    deadline = time.monotonic() + DEADLINE_S
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.1)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError:  # the terminal closed: arena ended
                    break
                if not data:
                    break
                out += data
            if until is not None and until.encode() in out:
                time.sleep(0.3)
                os.killpg(proc.pid, signal.SIGINT)
                until = None
            if proc.poll() is not None and not ready:
                break
        else:
            pytest.fail(f"arena {' '.join(args)} did not finish in {DEADLINE_S} s:\n{out.decode(errors='replace')}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        os.close(leader)
    return out


def matched(lines: list[str]) -> list[tuple[str, int, str]]:
    """(file, line, message) of each problem the task's matchers find."""
    found = []
    for matcher in matchers():
        p = matcher["pattern"]
        for line in lines:
            m = re.search(p["regexp"], line)
            if m:
                found.append((m.group(p["file"]), int(m.group(p["line"])), m.group(p["message"])))
    return found


CASES = {
    "syntax error": ("add_numbers", "def add(a, b):\n    return a +\n", 2, "SyntaxError: invalid syntax"),
    "import error": ("add_numbers", "import not_a_module_of_arena\n\n\ndef add(a, b):\n    return a + b\n", 1,
                     "raised ModuleNotFoundError: No module named 'not_a_module_of_arena'"),
    "exception": ("add_numbers", f"def add(a, b):\n    raise RuntimeError({LONG!r})\n", 2, f"RuntimeError: {LONG}"),
    "value mismatch": ("double_tensor", "import torch\n\n\ndef double(x):\n    return x + 2\n", 4,
                       "double(x): 11 of 12 values differ (max abs error 9)"),
    "not implemented": ("add_numbers", None, 6, "not implemented yet"),
}


@pytest.mark.parametrize("columns", [80, 120])
def test_every_problem_reaches_the_problems_panel_whole(arena, columns):
    for case, (exercise, content, line, message) in CASES.items():
        if content is not None:
            arena.write(exercise, content)
        lines = terminal_lines(in_terminal(arena, ["run", exercise], columns))
        found = matched(lines)
        assert len(found) == 1, (case, found, "\n".join(lines))
        path, at, said = found[0]
        assert path == arena.student_path(exercise).relative_to(arena.root).as_posix() and at == line, case
        assert said.endswith(message.strip()) or message.strip() in said, (case, said)
        arena.write(exercise, arena.original(exercise))


def test_watch_output_brackets_its_problem_at_80_columns(arena):
    arena.write("add_numbers", f"def add(a, b):\n    raise RuntimeError({LONG!r})\n")
    lines = terminal_lines(in_terminal(arena, ["watch", "add_numbers"], 80, until="watching for saves"))
    (matcher,) = matchers()
    begins = [i for i, ln in enumerate(lines) if re.search(matcher["background"]["beginsPattern"], ln)]
    ends = [i for i, ln in enumerate(lines) if re.search(matcher["background"]["endsPattern"], ln)]
    found = [(i, m) for i, ln in enumerate(lines) for m in matched([ln])]
    assert len(found) == 1, "\n".join(lines)
    at, (_, line, message) = found[0]
    assert begins and ends and begins[0] < at < ends[0]
    assert line == 2 and message == f"RuntimeError: {LONG.strip()}"


def test_in_a_terminal_of_ones_own_a_problem_wraps_at_words_its_place_whole(arena):
    arena.write("add_numbers", f"def add(a, b):\n    raise RuntimeError({LONG!r})\n")
    lines = terminal_lines(in_terminal(arena, ["run", "add_numbers"], 80, task=False))
    (at,) = [i for i, ln in enumerate(lines) if ln.startswith("exercises/1_basics/01_add_numbers.py:2:")]
    assert all(len(ln) <= 80 for ln in lines), "\n".join(lines)
    said = " ".join(ln.strip() for ln in lines[at:at + 4])
    assert f"RuntimeError: {LONG.strip()}" in said  # whole, in words
