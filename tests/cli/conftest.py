"""Fixtures for arena's own tests: a fresh copy of the small fixture course, and arena run on it as a
student would run it (a subprocess, in the course folder, with its own progress file)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from arena_cli.markers import solution_source

FIXTURE_COURSE = Path(__file__).parent / "fixture_course"
CHAPTER_DIR = "1_basics"
IDS = ("add_numbers", "double_tensor", "say_hello")

# Student files that pass their hidden test.
CORRECT = {
    "add_numbers": "def add(a, b):\n    return a + b\n",
    "double_tensor": "import torch\n\n\ndef double(x: torch.Tensor) -> torch.Tensor:\n    return 2 * x\n",
    "say_hello": 'def hello(name):\n    return f"hello, {name}"\n',
}


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


class ArenaCourse:
    """A copy of the fixture course and helpers to use arena on it."""

    ids = IDS
    correct = CORRECT
    wait_for = staticmethod(wait_for)

    def __init__(self, root: Path, progress_path: Path):
        self.root = root
        self.progress_path = progress_path
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ARENA_", "FORCE_COLOR", "PYTEST_"))}
        env.update(
            ARENA_ROOT=str(root),
            ARENA_PROGRESS=str(progress_path),
            NO_COLOR="1",
            COLUMNS="100",
            PYTHONDONTWRITEBYTECODE="1",
        )
        self.env = env

    # ------------------------------------------------------------------ running arena

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "arena_cli", *args]

    def __call__(self, *args: str, input: str | None = None, timeout: float = 120) -> tuple[int, str, str]:
        """Run `arena ARGS` in the course folder; (exit code, stdout, stderr)."""
        proc = subprocess.run(
            self.command(*args),
            cwd=self.root,
            env=self.env,
            input=input,
            stdin=subprocess.DEVNULL if input is None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return proc.returncode, proc.stdout, proc.stderr

    def ok(self, *args: str, timeout: float = 120) -> str:
        """Run `arena ARGS`, which must succeed without a traceback; its stdout."""
        code, out, err = self(*args, timeout=timeout)
        assert code == 0, out + err
        assert "Traceback" not in out + err
        return out

    def json(self, *args: str, timeout: float = 120) -> tuple[int, Any]:
        """Run `arena ARGS --json`; (exit code, parsed stdout). Fails the test on a traceback."""
        code, out, err = self(*args, "--json", timeout=timeout)
        assert "Traceback" not in err, err
        try:
            return code, json.loads(out)
        except json.JSONDecodeError:
            pytest.fail(f"arena {' '.join(args)} --json printed no JSON:\nstdout: {out}\nstderr: {err}")

    @staticmethod
    def as_in_a_terminal() -> None:
        """In the child, before arena starts: SIGINT at its default and unblocked, as a shell starts a program.
        The test process may have it ignored (then Python never turns it into KeyboardInterrupt, and Ctrl-C
        would not stop arena)."""
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

    def popen(self, *args: str, stdout) -> subprocess.Popen:
        """Start `arena ARGS` in the background (SIGINT as in a terminal)."""
        return subprocess.Popen(
            self.command(*args),
            cwd=self.root,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            preexec_fn=self.as_in_a_terminal,
        )

    # ------------------------------------------------------------------ course files

    def student_path(self, exercise_id: str) -> Path:
        (path,) = (self.root / "exercises" / CHAPTER_DIR).glob(f"[0-9][0-9]_{exercise_id}.py")
        return path

    def master_path(self, exercise_id: str) -> Path:
        (path,) = (self.root / "solutions" / CHAPTER_DIR).glob(f"[0-9][0-9]_{exercise_id}.py")
        return path

    def hint_path(self, exercise_id: str) -> Path:
        (path,) = (self.root / "hints" / CHAPTER_DIR).glob(f"[0-9][0-9]_{exercise_id}.md")
        return path

    @property
    def manifest(self) -> Path:
        return self.root / "exercises" / CHAPTER_DIR / "chapter.toml"

    def write(self, exercise_id: str, content: str | bytes) -> Path:
        """Save the student's file with this content."""
        path = self.student_path(exercise_id)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    def read(self, exercise_id: str) -> str:
        return self.student_path(exercise_id).read_text(encoding="utf-8")

    def solve(self, exercise_id: str) -> Path:
        """Save the student's file as the reference solution (its master without markers)."""
        master = self.master_path(exercise_id)
        return self.write(exercise_id, solution_source(master.read_text(encoding="utf-8"), str(master)))

    def give_result(self, main: str, title: str = "a result") -> Path:
        """End the first section (add_numbers') in a result: its master gets `if __name__ == "__main__":`
        with the body `main` (unindented), its student file is rebuilt. Returns the master."""
        manifest = self.manifest.read_text(encoding="utf-8")
        self.manifest.write_text(
            manifest.replace('result = "nothing to see"', f'result = "{title}"\nresult_runs = ["add_numbers"]'),
            encoding="utf-8",
        )
        master = self.master_path("add_numbers")
        block = "".join(f"    {line}" if line.strip() else line for line in main.splitlines(keepends=True))
        master.write_text(master.read_text(encoding="utf-8") + f'\n\nif __name__ == "__main__":\n{block}', encoding="utf-8")
        # --force: this copy isn't a git checkout and dev build hasn't run in it, so dev build can't
        # tell on its own that the student file is the untouched one the old master generated.
        self.ok("dev", "build", "--force")
        return master

    def original(self, exercise_id: str) -> str:
        """The student file as shipped in the fixture course."""
        return (FIXTURE_COURSE / self.student_path(exercise_id).relative_to(self.root)).read_text(encoding="utf-8")

    def set_timeout(self, exercise_id: str, seconds: float) -> None:
        """Give one exercise another time limit in (this copy of) the chapter manifest."""
        lines = self.manifest.read_text(encoding="utf-8").splitlines(keepends=True)
        at = next(i for i, line in enumerate(lines) if line.strip() == f'id = "{exercise_id}"')
        end = next((i for i in range(at + 1, len(lines)) if lines[i].startswith("[")), len(lines))
        block = [line for line in lines[at:end] if not line.startswith("timeout")]
        block.insert(1, f"timeout = {seconds}\n")
        self.manifest.write_text("".join(lines[:at] + block + lines[end:]), encoding="utf-8")

    # ------------------------------------------------------------------ progress.json

    def progress(self) -> dict:
        """progress.json as written by arena ({} if there is none yet)."""
        if not self.progress_path.exists():
            return {}
        return json.loads(self.progress_path.read_text(encoding="utf-8"))

    def entry(self, exercise_id: str) -> dict:
        """One exercise's progress entry (the defaults if it has none)."""
        default = {"status": "pending", "attempts": 0, "first_pass": None, "hints": 0}
        return self.progress().get("exercises", {}).get(exercise_id, default)

    def set_progress(self, exercises: dict[str, dict], current: str | None = None) -> None:
        """Write a valid progress.json, e.g. set_progress({"add_numbers": {"status": "done"}})."""
        entries = {}
        for ex_id, fields in exercises.items():
            entry = {"status": "pending", "attempts": 0, "first_pass": None, "hints": 0, **fields}
            if entry["status"] == "done" and entry["first_pass"] is None:
                entry["first_pass"] = "2024-01-01T00:00:00+00:00"
            entries[ex_id] = entry
        data = {"schema": 1, "current": current, "exercises": entries}
        self.progress_path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def copy_course(root: Path) -> Path:
    """A fresh copy of the fixture course at `root`."""
    shutil.copytree(FIXTURE_COURSE, root, ignore=shutil.ignore_patterns("__pycache__", "progress.json*"))
    return root


@pytest.fixture
def arena(tmp_path: Path) -> ArenaCourse:
    """A fresh copy of the fixture course; call it like the `arena` command."""
    return ArenaCourse(copy_course(tmp_path / "course"), tmp_path / "progress.json")


@pytest.fixture
def git(tmp_path: Path, arena: ArenaCourse) -> Callable[..., str]:
    """`git(folder, *args)`: git run in `folder` with no system or global configuration and a fixed
    identity (and arena's own runs of git likewise); its stdout. Fails the test if git does, unless
    `check=False`."""
    (tmp_path / "gitconfig").write_text("", encoding="utf-8")
    hermetic = {
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig"),
        "GIT_AUTHOR_NAME": "A Student",
        "GIT_AUTHOR_EMAIL": "student@example.org",
        "GIT_COMMITTER_NAME": "A Student",
        "GIT_COMMITTER_EMAIL": "student@example.org",
    }
    arena.env.update(hermetic)
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")}
    env.update(hermetic)

    def run(folder: Path, *args: str, check: bool = True) -> str:
        proc = subprocess.run(["git", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 or not check, f"git {' '.join(args)}: {proc.stderr}"
        return proc.stdout

    return run


@pytest.fixture(name="copy_course", scope="session")
def copy_course_fixture() -> Callable[[Path], Path]:
    """`copy_course(root)`, for tests that need the course without `arena` (or once per module)."""
    return copy_course


@pytest.fixture(name="wait_for", scope="session")
def wait_for_fixture() -> Callable[..., Any]:
    """`wait_for(condition, timeout, what)`, for tests without `arena`."""
    return wait_for

