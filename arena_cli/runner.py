"""Runs one exercise's hidden test in a child process and returns a Verdict.

Owns isolation and limits: the child (`child.py`: pytest with our plugin) runs in its own process group
(so a terminal Ctrl-C reaches only arena), every process it starts is ended with it (`processes.py`),
its output goes to a file (so megabytes of prints cannot block it), with offline Hugging Face settings,
a wall-clock limit and a memory limit over all its processes. The time limit counts the test's own run:
its clock starts at the child's first report (pytest has started and imported the hidden test, with
torch & co), so a slow or busy machine's imports never make a correct answer time out; the student's
file, top-level code included, is loaded after that, inside the limit. The imports have a bound of
their own (IMPORT_LIMIT_S). What the run changed in the course is
undone (`course_guard.py`). Whatever the student's code does, the runner returns a Verdict, and a
"passed" means every collected check reported a pass through the run's signed channel and pytest
exited 0.
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
from dataclasses import dataclass
from pathlib import Path

from arena_cli import processes, protocol
from arena_cli.course import Exercise
from arena_cli.course_guard import CourseGuard
from arena_cli.protocol import Channel, Checked, Collected, Event, Finished, LoadFailed, Started
from arena_cli.verdict import Check, Status, Verdict, truncate

_POLL_S = 0.02
IMPORT_LIMIT_S = 180.0  # interpreter start-up and the libraries' imports, before the time limit's clock starts
_guards: dict[Path, CourseGuard] = {}


def child_env(target: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        protocol.environment(target),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PYTHONDONTWRITEBYTECODE="1",  # no __pycache__ in the student's folders
        PYTHONFAULTHANDLER="1",  # a segfault prints where it happened
        # Only arena's plugin (named in pytest_args): finding the installed ones scans every package's
        # metadata (~15 ms a run), and none of them is a hidden test's business.
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
    )
    return env


def pytest_args(exercise: Exercise) -> list[str]:
    """pytest's arguments in the child. They set every option: the course's own pytest `addopts` (the
    project's test suite runs on several processes, with pytest-xdist) must not reach a student's run.
    `--tb=line`: the plugin makes each failure's report itself, and pytest's own (the source of every
    frame, parsed to find its statement: torch's and the test's) was most of a failing run's time.
    `no:logging`: pytest's log capture attaches a handler to every non-propagating logger (transformers
    has dozens) around each phase of each check, ~13 ms a run; the student's output is captured anyway."""
    return [
        str(exercise.test_path),
        "-o",
        "addopts=",
        "-p",
        "arena_cli.pytest_plugin",
        "-q",
        "--no-header",
        "--tb=line",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        "-p",
        "no:logging",
        "--import-mode=importlib",
        "--rootdir",
        str(exercise.root),
    ]


def _pause(proc, seconds: float) -> None:
    """Wait `seconds` between two looks at the child, or less: a warm child wakes the runner as soon as
    it reports its end, so a verdict never waits for the next look."""
    wait_for = getattr(proc, "wait_for", None)
    if wait_for is not None:
        wait_for(seconds)
    else:
        time.sleep(seconds)


def _kill(proc) -> None:
    """End the child and everything it started. Once the child has been reaped its pid may be reused,
    so then only its process group (an id the kernel doesn't reuse while any member lives) is killed."""
    if proc.poll() is None:
        processes.kill_tree(proc.pid)
        proc.wait()
    else:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


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


def _touched_message(touched: list[str]) -> str:
    shown = ", ".join(touched[:4]) + (f" and {len(touched) - 4} more" if len(touched) > 4 else "")
    return (
        f"Your code changed the course's own files ({shown}); arena undid it (what was there is in "
        ".arena/reverted/). Exercise code must not write to the course's tests, solutions, hints or arena itself."
    )


def verdict_from_events(
    exercise_id: str,
    events: list[Event],
    returncode: int | None,
    duration_s: float,
    output: str,
    *,
    stopped: Stopped | None = None,
    touched: list[str] | None = None,
    foreign: int = 0,
) -> Verdict:
    """The one place a Verdict is made: from the child's events and how the run ended (arena stopped
    it; it changed course files, which were put back; lines in its report that the plugin didn't
    write; else the child's own end). A pass needs every collected check to have passed, pytest's
    status and the process's exit code both 0."""
    checks: dict[str, Check] = {}
    running: str | None = None  # started and not reported: the check a crash happened in
    last_started: str | None = None
    load_error: LoadFailed | None = None
    collected: tuple[str, ...] | None = None
    called: set[str] = set()  # nodeids whose test body reported
    exitstatus: int | None = None
    for ev in events:
        if isinstance(ev, Collected) and collected is None:
            collected = ev.nodeids
        elif isinstance(ev, Started):
            running = last_started = ev.check_name
        elif isinstance(ev, LoadFailed) and load_error is None:
            load_error = ev
        elif isinstance(ev, Checked):
            previous = checks.get(ev.check.name)
            if previous is None or previous.status == "passed":
                checks[ev.check.name] = ev.check  # a failed teardown outranks a passed call
            if ev.phase in ("call", "setup"):
                called.add(ev.nodeid)
            running = None
        elif isinstance(ev, Finished):
            exitstatus = ev.exitstatus
    check_list = list(checks.values())

    def error(message: str, output: str = "") -> Verdict:
        return Verdict(exercise_id, "error", duration_s, check_list, truncate(message), output)

    if stopped is not None:
        during = f" in check {last_started!r}" if last_started else ""
        return Verdict(exercise_id, stopped.status, duration_s, check_list, stopped.message.format(during=during))
    if touched:
        return error(_touched_message(touched))
    if foreign:
        return error(
            f"Something other than the hidden test wrote {foreign} line(s) into arena's report of this run, "
            "so it doesn't count. Exercise code must not write to arena's files."
        )
    if load_error is not None:
        location = load_error.location
        return error(f"{location}: {load_error.message}" if location else load_error.message, load_error.traceback)
    if exitstatus is None:
        return error(_crash_message(returncode or 0, running), output)
    n_total = len(collected or ())
    n_reported = len(called & set(collected or ()))
    reported = f"{n_reported} of {n_total} checks reported"
    if exitstatus == 2:  # pytest.ExitCode.INTERRUPTED: pytest.exit(), a KeyboardInterrupt it caught
        return error(f"The test run was stopped early ({reported}): does your code call pytest.exit()?", output)
    if exitstatus == 3:  # INTERNAL_ERROR
        return error(f"pytest stopped with an internal error ({reported}), often an exception that can't be "
                     "printed (its __str__ or __repr__ raises).", output)
    if exitstatus not in (0, 1):
        return error(f"pytest ended with status {exitstatus} ({reported}).", output)
    if not check_list or not n_total:
        return error("The hidden test ran no checks.", output)
    if returncode not in (0, 1) or (returncode == 0) != (exitstatus == 0):
        return error(_crash_message(returncode or 0, None) if returncode else
                     f"The test process ended with code {returncode} after pytest's status {exitstatus}.", output)
    if any(c.status == "error" for c in check_list):
        # The student's code crashed a check (an exception, sys.exit, KeyboardInterrupt) rather than
        # returning a wrong answer; the check carries the message and traceback.
        return Verdict(exercise_id, "error", duration_s, check_list)
    if any(c.status == "failed" for c in check_list) or exitstatus == 1:
        return Verdict(exercise_id, "failed", duration_s, check_list)
    skipped = [c for c in check_list if c.status == "skipped"]
    if skipped:
        reason = f" ({skipped[0].message})" if skipped[0].message else ""
        return error(f"Check {skipped[0].name!r} was skipped{reason}: a skipped check is not a pass. Does your "
                     "code call pytest.skip()?")
    if n_reported < n_total:
        return error(f"Only {reported}: the others never said whether they passed.", output)
    return Verdict(exercise_id, "passed", duration_s, check_list)


def run_exercise(
    exercise: Exercise,
    *,
    target: Path | None = None,
    timeout_s: float | None = None,
    cancel: threading.Event | None = None,
    worker: Path | None = None,
    restore_course: bool = True,
    prepare: bool = False,
) -> Verdict | None:
    """Run the hidden test of `exercise` against `target` (default: the student's file).

    With `worker` (a warm worker's socket) the child is forked from the warm worker; if the worker
    can't take it, the run is cold. Time limit, isolation and verdict are the same either way.
    `prepare`: the same run will likely be asked for again (watch), so the worker readies it ahead.
    `restore_course=False` skips the course snapshot (an author's own code, in `arena dev check`, while
    the author may be editing masters: those edits are not the run's to undo).
    Returns None only when `cancel` was set during the run (the child is killed at once).
    """
    target = target or exercise.exercise_path
    limit = timeout_s or exercise.timeout_s
    memory_limit = exercise.memory_mb * 2**20
    guard = _guards.setdefault(exercise.root, CourseGuard(exercise.root)) if restore_course else _NoGuard()
    before = guard.snapshot()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="arena-run-") as tmp:
        channel = Channel.create(Path(tmp) / "report")
        output_file = Path(tmp) / "output.txt"
        proc = None
        stopped: Stopped | None = None
        try:
            proc = _launch(exercise, child_env(target), output_file, channel, worker, prepare)
            clock: float | None = None  # when the test's own run started (see the module docstring)
            while proc.poll() is None:
                if cancel is not None and cancel.is_set():
                    return None  # (the `finally` ends the child and restores the course)
                now = time.monotonic()
                if clock is None and channel.reported():
                    clock = now
                if clock is not None and now - clock > limit:
                    stopped = Stopped("timeout", f"Stopped after the {limit:g} s time limit{{during}}: "
                                      "is there an infinite loop, or a much slower algorithm than needed?")
                elif clock is None and now - start > IMPORT_LIMIT_S:
                    stopped = Stopped("timeout", f"Stopped: the test had not started after {IMPORT_LIMIT_S:g} s "
                                      "of loading its libraries (is the machine very busy, or out of memory?).")
                elif processes.tree_rss(proc.pid) > memory_limit:
                    stopped = Stopped("error", f"Stopped: the test process used more than {exercise.memory_mb:,} "
                                      "MB of memory (the limit per run, over all its processes){during}. Are you "
                                      "building a tensor far larger than needed, or keeping every step's tensors "
                                      "in a list?")
                if stopped:
                    break
                _pause(proc, _POLL_S)
        finally:
            # Whatever happened (the end of the run, a limit, a cancel, arena itself stopping on Ctrl-C,
            # SIGTERM or SIGHUP), nothing the run started lives on and the course is as it was.
            if proc is not None:
                _kill(proc)
            touched = guard.restore(before)
        duration = time.monotonic() - start
        events, foreign = channel.read()
        output_file = getattr(proc, "output", output_file)  # a warm worker's spare writes its own
        output = "" if stopped or touched else _crash_report(_tail(output_file), target)
        if output_file.parent != Path(tmp):
            output_file.unlink(missing_ok=True)
        return verdict_from_events(
            exercise.id, events, proc.returncode, duration, output, stopped=stopped, touched=touched, foreign=foreign
        )


class _NoGuard:
    """A CourseGuard that watches nothing (see run_exercise's `restore_course`)."""

    def snapshot(self) -> dict:
        return {}

    def restore(self, before: dict) -> list[str]:
        return []


def _launch(exercise: Exercise, env: dict[str, str], output_file: Path, channel: Channel, worker: Path | None,
            prepare: bool = False):
    """Start the test child: forked by the warm worker when there is one (`prepare`: it readies a spare
    for the same run, see worker.py), else a fresh interpreter (`python -m arena_cli.child`, which reads
    its channel from stdin)."""
    args = pytest_args(exercise)
    if worker is not None:
        from arena_cli.worker_client import WarmChild, WorkerUnavailable

        try:
            return WarmChild(worker, args, exercise.root, env, output_file, channel, prepare)
        except WorkerUnavailable:
            pass
    with open(output_file, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "arena_cli.child", *args],
            cwd=exercise.root,
            env=env,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        proc.stdin.write(json.dumps(channel.to_json()).encode() + b"\n")
        proc.stdin.close()
    except OSError:
        pass  # the child died at once; its return code says so
    return proc


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
    try:
        size = path.stat().st_size
    except OSError:
        return ""  # a child that died before it opened it
    with open(path, "rb") as f:
        if size <= limit:
            return truncate(f.read().decode("utf-8", errors="replace"))
        head = f.read(limit // 2)
        f.seek(size - limit // 2)
        tail = f.read()
    return truncate((head + b"\n...\n" + tail).decode("utf-8", errors="replace"))
