"""progress.json: corrupt files are moved aside and reported, invalid fields are dropped without
losing completed exercises, concurrent updates are not lost, and a kill mid-write never leaves an
unreadable file. A file from a newer arena is refused and left alone; a file that can't be read or saved
(a directory in its way, a full disk, a lock held too long) is one line after the verdict, exit 2."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from arena_cli.progress import LOCK_TIMEOUT_S, ProgressFileError, ProgressStore, parse_progress


def corrupt_files(arena) -> list[Path]:
    return sorted(arena.progress_path.parent.glob("progress.json.corrupt-*"))


def notes(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


def one_line(code: int, err: str) -> str:
    """The command's one line about the progress file (exit 2, nothing else on stderr)."""
    assert code == 2, err
    assert "Traceback" not in err
    (line,) = notes(err)
    assert line.startswith("arena: "), line
    return line


@pytest.mark.parametrize("command", [["list"], ["next"], ["progress"], ["hint", "add_numbers"]])
def test_garbage_progress_is_moved_aside_with_a_note(arena, command):
    arena.progress_path.write_text("this is {not json", encoding="utf-8")
    code, out, err = arena(*command)
    assert code == 0, err
    (aside,) = corrupt_files(arena)
    assert aside.read_text(encoding="utf-8") == "this is {not json"  # kept, not emptied
    (note,) = notes(err)  # one line
    assert aside.name in note
    assert "Traceback" not in out + err
    # The problem is reported once: the next command is quiet.
    code, out, err = arena("list")
    assert code == 0 and err == ""
    assert corrupt_files(arena) == [aside]


def test_binary_progress_is_moved_aside(arena):
    arena.progress_path.write_bytes(b"\xff\xfe\x00garbage")
    code, out, err = arena("list", "--json")
    assert code == 0
    (aside,) = corrupt_files(arena)
    assert aside.read_bytes() == b"\xff\xfe\x00garbage"
    (note,) = notes(err)
    assert aside.name in note
    assert [e["status"] for e in json.loads(out)] == ["pending"] * 3


def test_one_invalid_field_keeps_done_exercises(arena):
    arena.progress_path.write_text(
        json.dumps(
            {
                "schema": 1,
                "current": "double_tensor",
                "exercises": {
                    "add_numbers": {"status": "done", "attempts": "x", "first_pass": "2024-05-01T10:00:00+00:00", "hints": 2},
                    "say_hello": {"status": "done", "attempts": 3, "first_pass": "2024-05-02T10:00:00+00:00", "hints": 0},
                },
            }
        ),
        encoding="utf-8",
    )
    code, data = arena.json("list")
    assert code == 0
    assert [e["status"] for e in data] == ["done", "current", "done"]
    assert data[0]["hints"] == 2
    assert corrupt_files(arena) == []
    code, out, err = arena("list")
    assert code == 0 and err == ""  # reported once, by the first command
    progress = arena.progress()
    assert progress["exercises"]["add_numbers"] == {
        "status": "done",
        "attempts": 0,
        "first_pass": "2024-05-01T10:00:00+00:00",
        "hints": 2,
    }
    assert progress["exercises"]["say_hello"]["attempts"] == 3
    assert progress["current"] == "double_tensor"


def test_invalid_field_note_is_one_line_naming_the_field(arena):
    arena.set_progress({"add_numbers": {"status": "done"}})
    data = arena.progress()
    data["exercises"]["add_numbers"]["attempts"] = "x"
    arena.progress_path.write_text(json.dumps(data), encoding="utf-8")
    code, out, err = arena("progress")
    assert code == 0
    (note,) = notes(err)
    assert "attempts" in note and "add_numbers" in note
    assert "1 of 3 exercises done" in out


def test_an_unknown_older_schema_is_moved_aside(arena):
    arena.progress_path.write_text('{"schema": 0, "exercises": {}}', encoding="utf-8")
    code, out, err = arena("next")
    assert code == 0
    (aside,) = corrupt_files(arena)
    assert json.loads(aside.read_text())["schema"] == 0
    (note,) = notes(err)
    assert aside.name in note and "schema version 0" in note
    assert arena.progress()["schema"] == 1
    assert arena.progress()["current"] == "add_numbers"


NEWER = '{"schema": 2, "exercises": {"add_numbers": {"status": "done", "stars": 3}}}'


@pytest.mark.parametrize("command", [["next"], ["list"], ["progress"], ["hint", "add_numbers"], ["run", "add_numbers"]])
def test_a_progress_file_from_a_newer_arena_is_refused_and_left_as_it_is(arena, command):
    arena.progress_path.write_text(NEWER, encoding="utf-8")
    code, out, err = arena(*command)
    line = one_line(code, err)
    assert str(arena.progress_path) in line
    assert "newer arena" in line and "upgrade arena" in line
    assert arena.progress_path.read_text(encoding="utf-8") == NEWER  # never moved aside or overwritten
    assert corrupt_files(arena) == [] and not arena.progress_path.with_name("progress.json.bak").exists()
    if command[0] == "run":
        assert "not implemented" in out  # the verdict is still shown


def test_a_corrupt_file_whose_last_good_copy_is_from_a_newer_arena_is_left_alone(tmp_path):
    path = tmp_path / "progress.json"
    path.write_text("{ oops", encoding="utf-8")
    backup = tmp_path / "progress.json.bak"
    backup.write_text(NEWER, encoding="utf-8")
    with pytest.raises(ProgressFileError, match=f"{backup} was written by a newer arena"):
        ProgressStore(path).load()
    assert path.read_text() == "{ oops" and backup.read_text() == NEWER
    assert list(tmp_path.glob("progress.json.corrupt-*")) == []


def _increment(path: str, n: int) -> None:
    store = ProgressStore(Path(path))

    def change(p) -> None:
        p.entry_for("add_numbers").attempts += 1

    for _ in range(n):
        store.update(change)


def test_concurrent_updates_are_not_lost(tmp_path):
    path = tmp_path / "progress.json"
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_increment, args=(str(path), 50)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert [w.exitcode for w in workers] == [0, 0]
    assert ProgressStore(path).load().find("add_numbers").attempts == 100
    assert json.loads(path.read_text())["exercises"]["add_numbers"]["attempts"] == 100


_LOOP = """
import sys
from pathlib import Path
from arena_cli.progress import ProgressStore

store = ProgressStore(Path(sys.argv[1]))

def change(p):
    p.entry_for("add_numbers").attempts += 1
    p.entry_for("say_hello").hints = p.entry_for("add_numbers").attempts % 7
    p.current = "add_numbers"

while True:
    store.update(change)
"""


def test_sigkill_mid_write_never_leaves_an_unreadable_file(tmp_path):
    path = tmp_path / "progress.json"
    rng = random.Random(0)
    last = 0
    for _ in range(8):
        proc = subprocess.Popen([sys.executable, "-c", _LOOP, str(path)])
        try:
            deadline = time.monotonic() + 20
            # Let it write for a while (it starts by reading what the killed one left).
            while time.monotonic() < deadline:
                if path.exists() and json.loads(path.read_text())["exercises"]["add_numbers"]["attempts"] > last:
                    break
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.1))
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        progress, problems = parse_progress(path.read_text(encoding="utf-8"))
        assert problems == []
        attempts = progress.find("add_numbers").attempts
        assert attempts > last  # the killed process had written, and nothing went backwards
        last = attempts
    # Nothing was moved aside as corrupt, and the store still works.
    assert list(tmp_path.glob("progress.json.corrupt-*")) == []
    store = ProgressStore(path)
    assert store.load().find("add_numbers").attempts == last
    assert store.notices == []
    # The next write clears the temp files that killed writers left behind.
    store.update(lambda p: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["progress.json", "progress.json.bak", "progress.json.lock"]


def test_update_clears_temp_files_left_by_a_killed_writer(tmp_path):
    path = tmp_path / "progress.json"
    stale = tmp_path / ".progress.json.abc123.tmp"
    stale.write_text('{"schema": 1, "exer')  # half-written when its writer was killed
    other = tmp_path / ".other.json.abc123.tmp"
    other.write_text("not ours")
    ProgressStore(path).update(lambda p: setattr(p, "current", "add_numbers"))
    assert not stale.exists()
    assert other.exists()
    assert json.loads(path.read_text())["current"] == "add_numbers"


def test_a_corrupted_file_is_restored_from_the_last_good_copy(tmp_path):
    """Student code (or an editor) that overwrites progress.json in place loses no completed exercise."""
    path = tmp_path / "progress.json"
    store = ProgressStore(path)

    def finish(p):
        p.entry_for("add_numbers").status = "done"
        p.entry_for("add_numbers").first_pass = "2026-01-01T00:00:00+00:00"

    store.update(finish)
    with open(path, "w") as f:  # in place, same inode: what a careless `open(..., "w")` does
        f.write("{ oops")
    again = ProgressStore(path)
    progress = again.load()
    assert progress.find("add_numbers").done
    assert len(again.notices) == 1
    assert "restored the last good copy (progress.json.bak)" in again.notices[0]
    assert len(list(tmp_path.glob("progress.json.corrupt-*"))) == 1
    assert parse_progress(path.read_text())[0].find("add_numbers").done


# --------------------------------------------------------------------------- trouble with the file itself
# A directory in its place, a full disk, no permission, a lock held too long: the command still shows
# what it did (a verdict), then one line naming the file and what to do, and exits 2; progress saved
# before is kept, and once the trouble is gone the next run is recorded.


def save_some_progress(arena) -> dict:
    arena.set_progress({"say_hello": {"status": "done", "attempts": 2}}, current="add_numbers")
    return arena.progress()


@pytest.mark.parametrize("in_the_way", ["progress.json", "progress.json.lock"])
def test_a_directory_in_place_of_the_progress_file_or_its_lock(arena, in_the_way):
    saved = save_some_progress(arena)
    aside = arena.progress_path.with_name("saved.json")
    arena.progress_path.rename(aside)  # the student's progress, out of the way while the directory is there
    blocker = arena.progress_path.with_name(in_the_way)
    blocker.mkdir()
    arena.write("add_numbers", arena.correct["add_numbers"])

    code, out, err = arena("run", "add_numbers", "--json")
    line = one_line(code, err)
    assert json.loads(out)["status"] == "passed"  # the verdict is still emitted
    assert f"{blocker}: it is a directory" in line and "move it out of the way" in line

    code, out, err = arena("run", "add_numbers")
    one_line(code, err)
    assert "passed" in out and "recorded in your progress" not in out

    failing = ["next", "list", "progress", "hint"] if in_the_way == "progress.json" else ["next", "hint"]
    for command in failing:
        code, out, err = arena(command)
        assert f"{blocker}: it is a directory" in one_line(code, err), command

    blocker.rmdir()
    aside.rename(arena.progress_path)
    out = arena.ok("run", "add_numbers")
    assert "recorded in your progress" in out
    assert arena.entry("add_numbers")["status"] == "done"
    assert arena.entry("say_hello") == saved["exercises"]["say_hello"]


# Student code can't fill the disk on cue: this makes every fsync in arena's process fail as the disk would.
FAILING_FSYNC = """
import errno, os

def fsync(fd, _code=getattr(errno, os.environ["ARENA_TEST_FSYNC_ERROR"])):
    raise OSError(_code, os.strerror(_code))

os.fsync = fsync
"""


@pytest.mark.parametrize(
    "error, advice",
    [
        ("ENOSPC", "the disk is full"),
        ("EDQUOT", "the disk is full"),
        ("EACCES", "permission denied"),
        ("EROFS", "the file system is read-only"),
    ],
)
def test_progress_that_cannot_be_saved_is_one_line_after_the_verdict(arena, tmp_path, error, advice):
    saved = save_some_progress(arena)
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(FAILING_FSYNC, encoding="utf-8")
    arena.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(inject), arena.env.get("PYTHONPATH")]))
    arena.env["ARENA_TEST_FSYNC_ERROR"] = error
    arena.write("add_numbers", arena.correct["add_numbers"])

    code, out, err = arena("run", "add_numbers")
    line = one_line(code, err)
    assert "passed" in out  # the verdict first
    assert line.startswith(f"arena: cannot save {arena.progress_path}: {advice}"), line
    assert "ARENA_PROGRESS" in line or "free some space" in line  # what to do

    code, verdicts = arena.json("verify")
    assert code == 2 and verdicts["passed"] == 1
    assert arena.progress() == saved  # nothing half-written, nothing lost
    assert sorted(p.name for p in arena.progress_path.parent.glob(".progress.json.*")) == []


HOLD_LOCK = """
import fcntl, sys, time
with open(sys.argv[1], "a") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    print("held", flush=True)
    time.sleep(120)
"""


def hold_lock(arena) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(arena.progress_path.with_name("progress.json.lock"))],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline() == "held\n"
    return holder


def test_a_lock_held_too_long_is_given_up_on_with_one_line(arena):
    saved = save_some_progress(arena)
    arena.write("add_numbers", arena.correct["add_numbers"])
    holder = hold_lock(arena)
    try:
        assert "say_hello" in arena.ok("list")  # reading a sound file needs no lock
        start = time.monotonic()
        code, out, err = arena("run", "add_numbers")
        took = time.monotonic() - start
        line = one_line(code, err)
        assert "passed" in out
        assert f"cannot lock {arena.progress_path}.lock: another process has held it for over {LOCK_TIMEOUT_S:g} s" in line
        assert LOCK_TIMEOUT_S <= took < LOCK_TIMEOUT_S + 30, took  # waited for the lock, then gave up
        assert arena.progress() == saved
    finally:
        holder.kill()
        holder.wait()
    arena.ok("run", "add_numbers")
    assert arena.entry("add_numbers")["status"] == "done"


@pytest.mark.slow
@pytest.mark.parametrize("trouble", ["directory", "held lock"])
def test_watch_says_progress_trouble_under_the_verdict_and_keeps_watching(arena, trouble):
    log = arena.root.parent / "watch.log"
    text = lambda: log.read_text(encoding="utf-8", errors="replace")  # noqa: E731
    verdicts = lambda: re.findall(r"— (passed|failed|error|timed out)\b", text())  # noqa: E731
    with open(log, "wb") as out:
        proc = arena.popen("watch", "add_numbers", stdout=out)
    holder = None
    try:
        arena.wait_for(lambda: verdicts() == ["failed"], 60, "the first verdict")
        aside = arena.progress_path.with_name("saved.json")
        if trouble == "directory":
            arena.progress_path.rename(aside)
            arena.progress_path.mkdir()
        else:
            holder = hold_lock(arena)
        arena.write("add_numbers", arena.correct["add_numbers"])
        line = arena.wait_for(lambda: re.search(r"^arena: cannot .*$", text(), re.M), 60, "the progress line").group()
        assert verdicts() == ["failed", "passed"]
        assert text().rindex("— passed") < text().index(line)  # under the verdict
        assert ("it is a directory" if trouble == "directory" else "progress.json.lock") in line
        assert proc.poll() is None  # still watching

        if trouble == "directory":
            arena.progress_path.rmdir()
            aside.rename(arena.progress_path)
        else:
            holder.kill()
            holder.wait()
        arena.write("add_numbers", arena.correct["add_numbers"] + "# saved again\n")
        arena.wait_for(lambda: arena.entry("add_numbers")["status"] == "done", 60, "the next save's pass recorded")
        assert arena.entry("add_numbers")["attempts"] == 2  # the first run's and this one: nothing lost
        assert proc.poll() is None and "Traceback" not in text()
    finally:
        if holder is not None and holder.poll() is None:
            holder.kill()
            holder.wait()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait(timeout=10)
