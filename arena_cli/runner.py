"""Runs one exercise's hidden test in a child process and returns a Verdict.

Owns isolation and time limits: the child is pytest with our plugin, in its own process group (so a
terminal Ctrl-C reaches only arena, and a child that spawns children is killed whole), with its output
sent to a file (so megabytes of prints cannot block it), offline Hugging Face settings, and a wall-clock
limit. Whatever the student's code does to the child, the runner returns a Verdict.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from dataclasses import dataclass

from arena_cli import protocol
from arena_cli.course import Exercise
from arena_cli.layout import tests_dir
from arena_cli.protocol import Checked, Event, Finished, LoadFailed, Started
from arena_cli.verdict import Check, Status, Verdict, truncate

_POLL_S = 0.02
_PAGE = os.sysconf("SC_PAGE_SIZE")


def child_env(target: Path, verdict_file: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        protocol.environment(target, verdict_file),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PYTHONDONTWRITEBYTECODE="1",  # no __pycache__ in the student's folders
        PYTHONFAULTHANDLER="1",  # a segfault prints where it happened
    )
    return env


def pytest_command(exercise: Exercise) -> list[str]:
    """The child's command line. It sets every option itself: the course's own pytest `addopts` (the
    project's test suite runs on several processes, with pytest-xdist) must not reach a student's run."""
    return [
        sys.executable,
        "-m",
        "pytest",
        str(exercise.test_path),
        "-o",
        "addopts=",
        "-p",
        "arena_cli.pytest_plugin",
        "-q",
        "--no-header",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        "--import-mode=importlib",
        "--rootdir",
        str(exercise.root),
    ]


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _crash_message(returncode: int, running: str | None) -> str:
    during = f" during check {running!r}" if running else ""
    if returncode < 0:
        sig = signal.Signals(-returncode)
        if sig == signal.SIGSEGV:
            what = "crashed the Python interpreter (segmentation fault)"
        elif sig == signal.SIGKILL:
            what = "was killed (SIGKILL; often the system running out of memory)"
        else:
            what = f"was killed by {sig.name}"
        return f"The test process {what}{during}."
    return (
        f"The test process exited with code {returncode}{during} before reporting a result: "
        "does your code call os._exit()?"
    )


@dataclass(frozen=True)
class Stopped:
    """A run arena ended itself (a limit): the verdict's status, and its message, in which `{during}`
    stands for the check that was running."""

    status: Status
    message: str


def verdict_from_events(
    exercise_id: str,
    events: list[Event],
    returncode: int | None,
    duration_s: float,
    output: str,
    *,
    stopped: Stopped | None = None,
    touched: list[str] | None = None,
) -> Verdict:
    """The one place a Verdict is made: from the child's events and how the run ended (arena stopped
    it; it changed course files, which were put back; else the child's own end)."""
    checks: dict[str, Check] = {}
    running: str | None = None  # started and not reported: the check a crash happened in
    last_started: str | None = None
    load_error: LoadFailed | None = None
    done = False
    for ev in events:
        if isinstance(ev, Started):
            running = last_started = ev.check_name
        elif isinstance(ev, LoadFailed) and load_error is None:
            load_error = ev
        elif isinstance(ev, Checked):
            previous = checks.get(ev.check.name)
            if previous is None or previous.status == "passed":
                checks[ev.check.name] = ev.check  # a failed teardown outranks a passed call
            running = None
        elif isinstance(ev, Finished):
            done = True
    check_list = list(checks.values())

    def error(message: str, output: str = "") -> Verdict:
        return Verdict(exercise_id, "error", duration_s, check_list, message, output)

    if stopped is not None:
        during = f" in check {last_started!r}" if last_started else ""
        return Verdict(exercise_id, stopped.status, duration_s, check_list, stopped.message.format(during=during))
    if touched:
        return error(
            f"Your code changed {', '.join(touched)}; arena put it back. Exercise code must not write to "
            "the course's tests or solutions."
        )
    if load_error is not None:
        location = load_error.location
        return error(f"{location}: {load_error.message}" if location else load_error.message, load_error.traceback)
    if not done:
        return error(_crash_message(returncode or 0, running), output)
    if not check_list:
        return error("The hidden test ran no checks.", output)
    if any(c.status == "error" for c in check_list):
        # The student's code crashed a check (an exception, sys.exit, KeyboardInterrupt) rather than
        # returning a wrong answer; the check carries the message and traceback.
        status: Status = "error"
    elif all(c.status in ("passed", "skipped") for c in check_list):
        status = "passed"
    else:
        status = "failed"
    return Verdict(exercise_id, status, duration_s, check_list)


def run_exercise(
    exercise: Exercise,
    *,
    target: Path | None = None,
    timeout_s: float | None = None,
    cancel: threading.Event | None = None,
    worker: Path | None = None,
) -> Verdict | None:
    """Run the hidden test of `exercise` against `target` (default: the student's file).

    With `worker` (a warm worker's socket) the child is forked from the warm worker; if the worker
    can't take it, the run is cold. Time limit, isolation and verdict are the same either way.
    Returns None only when `cancel` was set during the run (the child is killed at once).
    """
    target = target or exercise.exercise_path
    limit = timeout_s or exercise.timeout_s
    memory_limit = exercise.memory_mb * 2**20
    guarded = _Guard([exercise.test_path, exercise.solution_path, tests_dir(exercise.root) / "conftest.py"])
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="arena-run-") as tmp:
        verdict_file = Path(tmp) / "verdict.jsonl"
        output_file = Path(tmp) / "output.txt"
        proc = _launch(exercise, child_env(target, verdict_file), output_file, worker)
        stopped: Stopped | None = None
        try:
            while proc.poll() is None:
                if cancel is not None and cancel.is_set():
                    _kill_group(proc)
                    guarded.restore()
                    return None
                if time.monotonic() - start > limit:
                    stopped = Stopped("timeout", f"Stopped after the {limit:g} s time limit{{during}}: "
                                      "is there an infinite loop, or a much slower algorithm than needed?")
                elif _rss(proc.pid) > memory_limit:
                    stopped = Stopped("error", f"Stopped: the test process used more than {exercise.memory_mb:,} "
                                      "MB of memory (the limit per run){during}. Are you building a tensor far "
                                      "larger than needed, or keeping every step's tensors in a list?")
                if stopped:
                    _kill_group(proc)
                    break
                time.sleep(_POLL_S)
        finally:
            if proc.poll() is None:
                _kill_group(proc)
            else:
                # Reap anything the student's code left running in the child's group.
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        duration = time.monotonic() - start
        events = protocol.read_events(verdict_file)
        touched = guarded.restore()
        output = "" if stopped or touched else _crash_report(_tail(output_file), target)
        return verdict_from_events(
            exercise.id, events, proc.returncode, duration, output, stopped=stopped, touched=touched
        )


class _Guard:
    """Snapshots of course files the student's code must not change, restored after each run."""

    def __init__(self, paths: list[Path]):
        self.saved: dict[Path, bytes | None] = {}
        for path in paths:
            try:
                self.saved[path] = path.read_bytes()
            except FileNotFoundError:
                self.saved[path] = None
            except OSError:
                continue

    def restore(self) -> list[str]:
        """Put back any file that changed; return their names."""
        touched = []
        for path, content in self.saved.items():
            try:
                now = path.read_bytes()
            except (FileNotFoundError, IsADirectoryError):
                now = None
            except OSError:
                continue
            if now == content:
                continue
            touched.append(path.name)
            if path.is_dir():
                shutil.rmtree(path)
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
        return touched


def _rss(pid: int) -> int:
    """Resident memory of a process in bytes (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _launch(exercise: Exercise, env: dict[str, str], output_file: Path, worker: Path | None):
    """Start the test child: forked by the warm worker when there is one, else a fresh interpreter."""
    command = pytest_command(exercise)
    if worker is not None:
        from arena_cli.worker_client import WarmChild, WorkerUnavailable

        try:
            return WarmChild(worker, command[3:], exercise.root, env, output_file)
        except WorkerUnavailable:
            pass
    with open(output_file, "wb") as out:
        return subprocess.Popen(
            command,
            cwd=exercise.root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _crash_report(output: str, target: Path) -> str:
    """Of a fatal-error dump (faulthandler: every thread's stack, every extension module), keep the
    headline and the frames in the student's file; other output is kept as it is."""
    if "Fatal Python error" not in output:
        return output
    lines = output.splitlines()
    keep = [line for line in lines if line.startswith("Fatal Python error")]
    keep += [line.strip() for line in lines if f'/{target.name}"' in line and line.strip().startswith("File")]
    return "\n".join(keep)


def _tail(path: Path, limit: int = 64_000) -> str:
    """The start and end of a possibly huge output file, without reading all of it."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        if size <= limit:
            return truncate(f.read().decode("utf-8", errors="replace"))
        head = f.read(limit // 2)
        f.seek(size - limit // 2)
        tail = f.read()
    return truncate((head + b"\n...\n" + tail).decode("utf-8", errors="replace"))
