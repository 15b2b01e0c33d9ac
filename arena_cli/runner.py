"""Runs one exercise's hidden test in a child process and returns a Verdict.

Owns isolation and time limits: the child is pytest with our plugin, in its own process group (so a
terminal Ctrl-C reaches only arena, and a child that spawns children is killed whole), with its output
sent to a file (so megabytes of prints cannot block it), offline Hugging Face settings, and a wall-clock
limit. Whatever the student's code does to the child, the runner returns a Verdict.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from arena_cli.course import Exercise
from arena_cli.verdict import Check, Verdict, truncate

_POLL_S = 0.02


def child_env(target: Path, verdict_file: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ARENA_TARGET=str(target),
        ARENA_VERDICT_FILE=str(verdict_file),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PYTHONDONTWRITEBYTECODE="1",  # no __pycache__ in the student's folders
        PYTHONFAULTHANDLER="1",  # a segfault prints where it happened
    )
    return env


def pytest_command(exercise: Exercise) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        str(exercise.test_path),
        "-p",
        "arena_cli.pytest_plugin",
        "-q",
        "--no-header",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(exercise.root),
    ]


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _read_events(path: Path) -> list[dict]:
    events = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return events
    for line in text.splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
    return events


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


def verdict_from_events(
    exercise_id: str, events: list[dict], returncode: int, duration_s: float, output: str
) -> Verdict:
    """Build the verdict from the plugin's event lines and how the child process ended."""
    checks: dict[str, Check] = {}
    running: str | None = None
    load_error: dict | None = None
    done = False
    for ev in events:
        kind = ev.get("event")
        if kind == "start":
            running = ev.get("name") or ev.get("nodeid", "").split("::")[-1]
        elif kind == "load_error" and load_error is None:
            load_error = ev
        elif kind == "check":
            check = Check.from_dict(ev)
            previous = checks.get(check.name)
            if previous is None or previous.status == "passed":
                checks[check.name] = check
            running = None
        elif kind == "done":
            done = True
    check_list = list(checks.values())
    if load_error is not None:
        location = load_error.get("location") or ""
        message = f"{location}: {load_error['message']}" if location else load_error["message"]
        return Verdict(
            exercise_id,
            "error",
            duration_s,
            check_list,
            message=message,
            output=load_error.get("traceback") or "",
        )
    if not done:
        return Verdict(
            exercise_id, "error", duration_s, check_list, _crash_message(returncode, running), output
        )
    if not check_list:
        return Verdict(
            exercise_id, "error", duration_s, [], "The hidden test ran no checks.", output
        )
    if any(c.status == "error" for c in check_list):
        # The student's code crashed a check (an exception, sys.exit, KeyboardInterrupt) rather than
        # returning a wrong answer; the check carries the message and traceback.
        status = "error"
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
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="arena-run-") as tmp:
        verdict_file = Path(tmp) / "verdict.jsonl"
        output_file = Path(tmp) / "output.txt"
        proc = _launch(exercise, child_env(target, verdict_file), output_file, worker)
        try:
            while proc.poll() is None:
                if cancel is not None and cancel.is_set():
                    _kill_group(proc)
                    return None
                if time.monotonic() - start > limit:
                    _kill_group(proc)
                    events = _read_events(verdict_file)
                    running = next(
                        (e.get("name") for e in reversed(events) if e.get("event") == "start"),
                        None,
                    )
                    during = f" in check {running!r}" if running else ""
                    checks = [Check.from_dict(e) for e in events if e.get("event") == "check"]
                    return Verdict(
                        exercise.id,
                        "timeout",
                        time.monotonic() - start,
                        checks,
                        message=f"Stopped after the {limit:g} s time limit{during}: "
                        "is there an infinite loop, or a much slower algorithm than needed?",
                    )
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
        output = _tail(output_file)
        return verdict_from_events(
            exercise.id, _read_events(verdict_file), proc.returncode, duration, output
        )


def _launch(exercise: Exercise, env: dict[str, str], output_file: Path, worker: Path | None):
    """Start the test child: forked by the warm worker when there is one, else a fresh interpreter."""
    command = pytest_command(exercise)
    if worker is not None:
        from arena_cli.worker import WarmChild, WorkerUnavailable

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
