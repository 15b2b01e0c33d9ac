"""Opening the current exercise in the editor (--edit, --edit-cmd, ARENA_EDIT_CMD): off by default, `code -g`
inside VSCode's terminal, never blocking, and a failing command is one line of warning."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest

from arena_cli.editor import Editor, command_line, editor_template

from .test_watch import watching

FAKE_EDITOR = f"""#!{sys.executable}
import json, os, sys, time
with open(os.environ["FAKE_EDITOR_LOG"], "a") as log:
    log.write(json.dumps({{"argv": sys.argv[1:], "pid": os.getpid(), "name": os.path.basename(sys.argv[0])}}) + "\\n")
if os.environ.get("FAKE_EDITOR_SLEEP"):
    time.sleep(float(os.environ["FAKE_EDITOR_SLEEP"]))
"""


@pytest.fixture
def editor(arena, tmp_path):
    """A fake editor (also installed as `code` on PATH) that records how it was called."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("fake-editor", "code"):
        (bin_dir / name).write_text(FAKE_EDITOR)
        (bin_dir / name).chmod(0o755)
    log = tmp_path / "editor.log"
    arena.env.update(FAKE_EDITOR_LOG=str(log), PATH=f"{bin_dir}{os.pathsep}{arena.env['PATH']}")
    arena.env.pop("TERM_PROGRAM", None)

    class Fake:
        command = str(bin_dir / "fake-editor")

        @staticmethod
        def calls() -> list[dict]:
            return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

        @staticmethod
        def wait_calls(n: int) -> list[dict]:
            return arena.wait_for(lambda: len(Fake.calls()) >= n and Fake.calls(), 30, f"{n} editor call(s)")

    return Fake


def test_next_opens_the_exercise_where_the_student_writes(arena, editor):
    code, out, err = arena("next", "--edit-cmd", f"{editor.command} --goto {{path}}:{{line}}:{{col}}")
    assert code == 0, err
    (call,) = editor.wait_calls(1)
    assert call["argv"] == ["--goto", f"{arena.student_path('add_numbers')}:6:5"]  # its raise NotImplementedError
    assert err == ""


def test_arena_edit_cmd_from_the_environment(arena, editor):
    arena.set_progress({"add_numbers": {"status": "done"}})
    arena.env["ARENA_EDIT_CMD"] = f"{editor.command} {{path}} +{{line}}"
    code, data = arena.json("next")
    assert data["id"] == "double_tensor"
    (call,) = editor.wait_calls(1)
    assert call["argv"] == [str(arena.student_path("double_tensor")), "+8"]


def test_off_by_default_even_inside_vscode_where_edit_alone_uses_code(arena, editor):
    arena.env["TERM_PROGRAM"] = "vscode"
    code, out, err = arena("next")
    assert code == 0 and err == ""
    code, out, err = arena("next", "--edit")  # `code` is on PATH, as in VSCode's terminal
    assert code == 0 and err == ""
    (call,) = editor.wait_calls(1)  # only the --edit one: the first `next` opened nothing
    assert call["name"] == "code"
    assert call["argv"] == ["-g", f"{arena.student_path('add_numbers')}:6:5"]


def test_edit_without_a_command_outside_vscode_is_one_warning(arena, editor):
    code, out, err = arena("next", "--edit")
    assert code == 0
    assert "Add two numbers" in out
    (line,) = err.strip().splitlines()
    assert line.startswith("warning: ") and "--edit-cmd" in line and "ARENA_EDIT_CMD" in line


@pytest.mark.parametrize(
    "command, says",
    [("no-such-editor-xyz {path}", "No such file"), ("{editor} {file}", "unknown placeholder"), ("", None)],
)
def test_a_command_that_cannot_start_is_one_line_of_warning(arena, editor, command, says):
    command = command.replace("{editor}", editor.command)
    code, out, err = arena("next", "--edit-cmd", command)
    assert code == 0 and "Add two numbers" in out
    assert "Traceback" not in err
    if says:
        (line,) = err.strip().splitlines()
        assert line.startswith("warning: ") and says in line
    assert arena.progress()["current"] == "add_numbers"


def test_a_command_that_fails_is_one_line_of_warning(tmp_path, wait_for):
    warnings: list[str] = []
    proc = Editor("sh -c 'echo cannot connect >&2; exit 3' {path}", warnings.append).open(tmp_path / "x.py")
    proc.wait(timeout=30)
    wait_for(lambda: warnings, 10, "the editor's warning")
    (line,) = warnings
    assert "exited with code 3" in line and "cannot connect" in line and "\n" not in line


def test_it_never_waits_for_the_editor(arena, editor):
    arena.env["FAKE_EDITOR_SLEEP"] = "120"
    start = time.monotonic()
    code, out, err = arena("next", "--edit-cmd", f"{editor.command} {{path}}")
    took = time.monotonic() - start
    (call,) = editor.wait_calls(1)
    try:
        assert code == 0 and took < 30  # the editor sleeps for two minutes
        os.kill(call["pid"], 0)  # still running after arena left: it has its own session
    finally:
        os.kill(call["pid"], signal.SIGTERM)


def test_watch_opens_the_exercise_when_it_starts(arena, editor):
    arena.env["ARENA_EDIT_CMD"] = f"{editor.command} {{path}}:{{line}}"
    with watching(arena, "say_hello") as w:
        (call,) = editor.wait_calls(1)
        w.wait_verdicts(arena, 1)
    assert call["argv"] == [f"{arena.student_path('say_hello')}:6"]


def test_command_template_words(tmp_path):
    path = tmp_path / "my exercises" / "01_a.py"
    assert command_line('emacsclient -n "+{line}:{col}" {path}', path, 3, 5) == ["emacsclient", "-n", "+3:5", str(path)]
    with pytest.raises(ValueError, match="placeholder"):
        command_line("vim {file}", path, 1, 1)
    with pytest.raises(ValueError):
        command_line("vim {path", path, 1, 1)
    env = {"TERM_PROGRAM": "vscode", "PATH": ""}
    assert editor_template(True, None, env) is None  # no `code` on PATH
    assert editor_template(False, "subl {path}", env) == "subl {path}"
    assert editor_template(False, None, {"ARENA_EDIT_CMD": "subl {path}"}) == "subl {path}"
    assert editor_template(False, None, {"TERM_PROGRAM": "vscode", "PATH": os.environ["PATH"]}) is None
