"""Open the current exercise in the student's editor when it becomes current (`--edit`, `--edit-cmd`,
ARENA_EDIT_CMD). Off unless asked for.

The command is a template: `code -g {path}:{line}:{col}`, `subl {path}:{line}`, `emacsclient -n +{line}
{path}`... It is split like a shell line first and each word filled in afterwards, so a path with spaces
stays one argument. `{path}` is absolute; `{line}`/`{col}` are where the student writes: the exercise's
first `raise NotImplementedError`, else the top of the file.

It never blocks: the editor is started in its own session (Ctrl-C in `arena watch` doesn't reach it)
and reaped by a daemon thread; a command that can't start, or exits with an error, is one line of
warning on stderr, never a traceback.
"""

from __future__ import annotations

import ast
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from arena_cli.locate import first_not_implemented

EDIT_CMD_ENV = "ARENA_EDIT_CMD"
VSCODE_TEMPLATE = "code -g {path}:{line}:{col}"


def editor_template(edit: bool, edit_cmd: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """The command template to use, or None (off): --edit-cmd, else $ARENA_EDIT_CMD, else with --edit
    inside VSCode's terminal (and `code` on PATH) VSCode's `code -g`."""
    env = os.environ if env is None else env
    if edit_cmd:
        return edit_cmd
    if env.get(EDIT_CMD_ENV, "").strip():
        return env[EDIT_CMD_ENV]
    if edit and env.get("TERM_PROGRAM") == "vscode" and shutil.which("code", path=env.get("PATH")):
        return VSCODE_TEMPLATE
    return None


def where_to_write(path: Path) -> tuple[int, int]:
    """(line, column) of the exercise's first `raise NotImplementedError`, else (1, 1)."""
    try:
        return first_not_implemented(ast.parse(path.read_bytes())) or (1, 1)  # bytes: a BOM is fine
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return 1, 1


def command_line(template: str, path: Path, line: int, col: int) -> list[str]:
    """The template's words with {path}, {line}, {col} filled in. Raises ValueError on a bad template."""
    words = shlex.split(template)
    if not words:
        raise ValueError("the command is empty")
    try:
        return [w.format(path=str(path), line=line, col=col) for w in words]
    except (KeyError, IndexError) as e:
        raise ValueError(f"unknown placeholder {e}; use {{path}}, {{line}} and {{col}}") from None
    except ValueError as e:
        raise ValueError(f"{e} (write a literal brace as {{{{ or }}}})") from None


class Editor:
    """Opens files with one command template; `warn` prints a one-line warning."""

    def __init__(self, template: str, warn: Callable[[str], None]):
        self.template = template
        self.warn = warn

    def open(self, path: Path) -> subprocess.Popen | None:
        line, col = where_to_write(path)
        try:
            argv = command_line(self.template, path, line, col)
        except ValueError as e:
            self.warn(f"could not open the editor: {self.template!r}: {e}")
            return None
        # Its stderr goes to a file, not a pipe: an editor that outlives arena must not die of SIGPIPE
        # when it writes a warning after `arena next` has exited.
        err = tempfile.TemporaryFile()
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
            )
        except OSError as e:
            err.close()
            self.warn(f"could not open the editor: `{shlex.join(argv)}`: {e.strerror or e}")
            return None
        threading.Thread(target=self._reap, args=(proc, argv, err), daemon=True).start()
        return proc

    def _reap(self, proc: subprocess.Popen, argv: list[str], err) -> None:
        with err:
            proc.wait()
            if proc.returncode:
                err.seek(0)
                last = err.read().decode(errors="replace").strip().splitlines()
                why = f": {last[-1]}" if last else ""
                self.warn(f"the editor command `{shlex.join(argv)}` exited with code {proc.returncode}{why}")
