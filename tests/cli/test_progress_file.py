"""progress.json: corrupt files are moved aside and reported, invalid fields are dropped without
losing completed exercises, concurrent updates are not lost, and a kill mid-write never leaves an
unreadable file."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from arena_cli.progress import ProgressStore, parse_progress


def corrupt_files(arena) -> list[Path]:
    return sorted(arena.progress_path.parent.glob("progress.json.corrupt-*"))


def notes(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


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


def test_wrong_schema_version_is_moved_aside(arena):
    arena.progress_path.write_text('{"schema": 99, "exercises": {}}', encoding="utf-8")
    code, out, err = arena("next")
    assert code == 0
    (aside,) = corrupt_files(arena)
    assert json.loads(aside.read_text())["schema"] == 99
    (note,) = notes(err)
    assert aside.name in note and "99" in note
    assert arena.progress()["schema"] == 1
    assert arena.progress()["current"] == "add_numbers"


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
