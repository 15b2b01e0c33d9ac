"""`arena watch` without a terminal: reruns on saves (in place, by rename, in bursts), skips saves that
change nothing, and stops cleanly on Ctrl-C. Every test is bounded by deadlines and always stops the watcher."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each test drives a real `arena watch`

VERDICT = re.compile(r"— (passed|failed|error|timed out)\b")
DEADLINE_S = 30


class Watch:
    def __init__(self, proc, log: Path):
        self.proc = proc
        self.log = log

    @property
    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def verdicts(self) -> list[str]:
        return VERDICT.findall(self.text)

    def runs_started(self) -> int:
        return len(re.findall(r"^Running ", self.text, re.M))

    def wait_verdicts(self, arena, n: int) -> list[str]:
        return arena.wait_for(lambda: len(self.verdicts()) >= n and self.verdicts(), DEADLINE_S, f"{n} verdict(s)")

    def wait_quiet(self, arena, quiet_s: float = 1.0) -> None:
        """Wait until the output has not grown for `quiet_s`."""
        state = {"size": -1, "since": time.monotonic()}

        def quiet() -> bool:
            size = self.log.stat().st_size
            if size != state["size"]:
                state.update(size=size, since=time.monotonic())
            return time.monotonic() - state["since"] >= quiet_s

        arena.wait_for(quiet, DEADLINE_S, "the watcher to go quiet")


@contextmanager
def watching(arena, exercise_id: str | None) -> Iterator[Watch]:
    """`arena watch ID` (None: `arena watch`, which follows the student's saves)."""
    log = arena.root.parent / f"watch-{exercise_id or 'following'}.log"
    with open(log, "wb") as out:
        proc = arena.popen("watch", *([exercise_id] if exercise_id else []), stdout=out)
    try:
        yield Watch(proc, log)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # lets it stop what it started
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait(timeout=10)


def test_watch_records_a_pass_skips_unchanged_saves_and_stops_on_sigint(arena):
    with watching(arena, "add_numbers") as w:
        assert w.wait_verdicts(arena, 1) == ["failed"]
        assert "not implemented" in w.text
        assert arena.progress()["current"] == "add_numbers"

        arena.write("add_numbers", arena.correct["add_numbers"])  # saved in place
        arena.wait_for(lambda: arena.entry("add_numbers")["status"] == "done", DEADLINE_S, "a recorded pass")
        assert w.wait_verdicts(arena, 2) == ["failed", "passed"]
        assert arena.entry("add_numbers")["attempts"] == 2

        # A save that changes nothing runs nothing.
        w.wait_quiet(arena, 0.3)
        runs = w.runs_started()
        arena.write("add_numbers", arena.correct["add_numbers"])
        time.sleep(1.0)
        assert w.runs_started() == runs
        assert w.verdicts() == ["failed", "passed"]
        assert arena.entry("add_numbers")["attempts"] == 2

        w.proc.send_signal(signal.SIGINT)
        assert w.proc.wait(timeout=10) == 0
        assert "Stopped watching" in w.text
        assert "Traceback" not in w.text


def test_watch_sees_a_save_by_rename(arena):
    with watching(arena, "say_hello") as w:
        assert w.wait_verdicts(arena, 1) == ["failed"]
        path = arena.student_path("say_hello")
        tmp = path.with_name(path.name + ".arena-test-tmp")
        tmp.write_text(arena.correct["say_hello"], encoding="utf-8")
        os.replace(tmp, path)  # how many editors save
        assert w.wait_verdicts(arena, 2) == ["failed", "passed"]
        arena.wait_for(lambda: arena.entry("say_hello")["status"] == "done", DEADLINE_S, "a recorded pass")
        assert "Say hello" in w.text


def test_watch_rapid_saves_end_with_the_verdict_of_the_last_one(arena):
    with watching(arena, "add_numbers") as w:
        assert w.wait_verdicts(arena, 1) == ["failed"]
        # Ten saves in about a second: nine wrong versions, then the right one. Some pauses are longer
        # than the debounce, so runs start and are made stale by the next save.
        start = time.monotonic()
        for i, pause in enumerate([0.18, 0.02] * 4 + [0.18]):
            arena.write("add_numbers", f"def add(a, b):\n    return a - b  # try {i}\n")
            time.sleep(pause)
        arena.write("add_numbers", arena.correct["add_numbers"])
        assert time.monotonic() - start < 1.5
        arena.wait_for(lambda: arena.entry("add_numbers")["status"] == "done", DEADLINE_S, "a recorded pass")
        w.wait_quiet(arena, 1.0)
        assert w.verdicts()[-1] == "passed"
        last = w.text.rsplit("— passed", 1)[1]
        assert "Running" not in last and "— failed" not in last
        # Runs made stale by a newer save are dropped, not recorded.
        assert arena.entry("add_numbers")["attempts"] == len(w.verdicts())


def test_watch_a_hundred_saves_in_two_seconds_give_one_verdict_for_the_last(arena):
    with watching(arena, "add_numbers") as w:
        assert w.wait_verdicts(arena, 1) == ["failed"]
        w.wait_quiet(arena, 0.3)
        for i in range(99):
            arena.write("add_numbers", f"def add(a, b):\n    return a - b  # save {i}\n")
            time.sleep(0.02)  # faster than the debounce: nothing runs until the saves stop
        arena.write("add_numbers", arena.correct["add_numbers"])
        arena.wait_for(lambda: arena.entry("add_numbers")["status"] == "done", DEADLINE_S, "a recorded pass")
        w.wait_quiet(arena, 1.0)
        assert w.verdicts() == ["failed", "passed"]


def test_watch_never_shows_a_verdict_for_a_half_written_file(arena):
    """Editors that truncate, then write in chunks: only the complete content gets a verdict."""
    with watching(arena, "add_numbers") as w:
        assert w.wait_verdicts(arena, 1) == ["failed"]
        w.wait_quiet(arena, 0.3)
        path = arena.student_path("add_numbers")
        content = arena.correct["add_numbers"].encode()
        with open(path, "r+b") as f:
            f.truncate(0)
            f.flush()
            time.sleep(0.05)
            for start in range(0, len(content), 8):  # in chunks, a little apart
                f.write(content[start : start + 8])
                f.flush()
                time.sleep(0.03)
        arena.wait_for(lambda: arena.entry("add_numbers")["status"] == "done", DEADLINE_S, "a recorded pass")
        w.wait_quiet(arena, 1.0)
        assert w.verdicts() == ["failed", "passed"]
        assert "SyntaxError" not in w.text


def test_watch_survives_deletion_recreation_and_a_terminal_resize(arena):
    with watching(arena, "add_numbers") as w:
        assert w.wait_verdicts(arena, 1) == ["failed"]
        path = arena.student_path("add_numbers")
        path.unlink()
        arena.wait_for(lambda: "is gone" in w.text, DEADLINE_S, "the note that the file is gone")
        assert "arena reset add_numbers" in w.text
        w.proc.send_signal(signal.SIGWINCH)  # the terminal was resized
        path.write_text(arena.correct["add_numbers"], encoding="utf-8")
        assert w.wait_verdicts(arena, 2) == ["failed", "passed"]
        assert w.proc.poll() is None


def test_watch_answers_two_quick_saves_with_one_verdict_of_the_latest(arena):
    """No quiet period: the first save's run starts at once, the second cancels it; only the latest
    content gets a verdict."""
    with watching(arena, "add_numbers") as w:
        assert w.wait_verdicts(arena, 1) == ["failed"]
        w.wait_quiet(arena, 0.3)
        arena.write("add_numbers", "def add(a, b):\n    return a - b\n")
        time.sleep(0.01)
        arena.write("add_numbers", arena.correct["add_numbers"])
        arena.wait_for(lambda: arena.entry("add_numbers")["status"] == "done", DEADLINE_S, "a recorded pass")
        w.wait_quiet(arena, 1.0)
        assert w.verdicts() == ["failed", "passed"]


def test_watch_without_an_id_follows_the_exercise_the_student_saves(arena):
    with watching(arena, None) as w:
        assert w.wait_verdicts(arena, 1) == ["failed"]
        assert arena.progress()["current"] == "add_numbers"
        w.wait_quiet(arena, 0.3)
        path = arena.student_path("say_hello")  # another exercise, saved by rename
        tmp = path.with_name(path.name + ".arena-test-tmp")
        tmp.write_text(arena.correct["say_hello"], encoding="utf-8")
        os.replace(tmp, path)
        arena.wait_for(lambda: arena.entry("say_hello")["status"] == "done", DEADLINE_S, "a recorded pass")
        assert arena.progress()["current"] == "say_hello"
        assert len(re.findall(r"^Following say_hello: you saved .*03_say_hello\.py; it is now your current exercise\.$",
                              w.text, re.M)) == 1
        assert w.wait_verdicts(arena, 2) == ["failed", "passed"]
        assert arena.entry("add_numbers")["attempts"] == 1


def test_watch_with_an_id_does_not_follow_other_saves(arena):
    with watching(arena, "add_numbers") as w:
        assert w.wait_verdicts(arena, 1) == ["failed"]
        w.wait_quiet(arena, 0.3)
        arena.write("say_hello", arena.correct["say_hello"])
        time.sleep(1.0)
        assert "Following" not in w.text
        assert w.verdicts() == ["failed"]
        assert arena.progress()["current"] == "add_numbers"


def test_watch_starts_no_worker_with_arena_no_worker(arena):
    arena.env["ARENA_NO_WORKER"] = "1"
    with watching(arena, "add_numbers") as w:
        assert w.wait_verdicts(arena, 1) == ["failed"]
        time.sleep(0.5)
        children = Path(f"/proc/{w.proc.pid}/task/{w.proc.pid}/children").read_text().split()
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in children if Path(f"/proc/{pid}").exists()]
        assert not [c for c in commands if b"arena_cli.worker" in c]
