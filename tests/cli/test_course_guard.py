"""The course guard (arena_cli/course_guard.py) on a course of its own: what a run changes in the
course's files, arena's code and the environment's start-up files is undone, nothing is lost, and an
author's edits between runs are kept. (Through real runs: tests/cli/test_reliability.py.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from arena_cli import course_guard
from arena_cli.course_guard import CourseGuard


@pytest.fixture
def guard(tmp_path, copy_course) -> CourseGuard:
    root = copy_course(tmp_path / "course")
    package = tmp_path / "arena_cli"  # stands for arena's own code, which a real run must not change
    package.mkdir()
    (package / "pytest_plugin.py").write_text("def plugin():\n    pass\n")
    site = tmp_path / "site-packages"
    site.mkdir()
    (site / "distutils-precedence.pth").write_text("import os\n")
    g = CourseGuard(root)
    g.trees = [t for t in g.trees if not t.endswith("arena_cli")] + [str(package)]
    g.site_dirs = [str(site)]
    return g


def reverted(guard: CourseGuard) -> list[str]:
    folder = guard.root / ".arena" / "reverted"
    return sorted(str(p.relative_to(folder).as_posix().split("/", 1)[1]) for p in folder.rglob("*") if p.is_file())


def test_a_line_appended_to_arenas_code_is_undone_and_kept_aside(guard, tmp_path):
    plugin = tmp_path / "arena_cli" / "pytest_plugin.py"
    before = guard.snapshot()
    with open(plugin, "a") as f:
        f.write("import os; os.environ['PASS'] = '1'\n")
    touched = guard.restore(before)
    assert touched and touched[0].endswith("pytest_plugin.py")
    assert plugin.read_text() == "def plugin():\n    pass\n"
    assert any("PASS" in p.read_text() for p in (guard.root / ".arena").rglob("pytest_plugin.py"))


def test_a_planted_pth_file_and_conftest_are_removed(guard, tmp_path):
    before = guard.snapshot()
    (tmp_path / "site-packages" / "zzz.pth").write_text("import evil\n")
    (guard.root / "tests" / "exercises" / "1_basics" / "conftest.py").write_text("x = 1\n")
    (guard.root / "conftest.py").write_text("x = 1\n")
    (guard.root / "notes.txt").write_text("a student's notes at the root are not the course's\n")
    touched = guard.restore(before)
    assert sorted(touched) == ["conftest.py", "site-packages/zzz.pth", "tests/exercises/1_basics/conftest.py"]
    assert not (tmp_path / "site-packages" / "zzz.pth").exists()
    assert not (guard.root / "conftest.py").exists()
    assert (guard.root / "notes.txt").exists()
    assert reverted(guard) == sorted(touched)


def test_bytecode_written_during_a_run_is_deleted_silently(guard):
    cache = guard.root / "tests" / "exercises" / "__pycache__"
    before = guard.snapshot()
    cache.mkdir()
    (cache / "conftest.cpython-311.pyc").write_bytes(b"planted")
    assert guard.restore(before) == []
    assert not (cache / "conftest.cpython-311.pyc").exists()


def test_a_deleted_chapter_comes_back_whole(guard):
    solutions = guard.root / "solutions" / "1_basics"
    shipped = {p.name: p.read_bytes() for p in solutions.iterdir()}
    before = guard.snapshot()
    for p in solutions.iterdir():
        p.unlink()
    solutions.rmdir()
    touched = guard.restore(before)
    assert len(touched) == len(shipped) and all(t.startswith("solutions/1_basics/") for t in touched)
    assert {p.name: p.read_bytes() for p in solutions.iterdir()} == shipped


def test_a_fifo_or_a_link_to_dev_zero_is_never_read_and_is_replaced(guard):
    test_file = guard.root / "tests" / "exercises" / "1_basics" / "test_01_add_numbers.py"
    other = guard.root / "tests" / "exercises" / "1_basics" / "test_02_double_tensor.py"
    shipped = test_file.read_bytes(), other.read_bytes()
    before = guard.snapshot()
    test_file.unlink()
    os.mkfifo(test_file)
    other.unlink()
    other.symlink_to("/dev/zero")
    assert sorted(guard.restore(before)) == sorted(
        ["tests/exercises/1_basics/test_01_add_numbers.py", "tests/exercises/1_basics/test_02_double_tensor.py"]
    )
    assert (test_file.read_bytes(), other.read_bytes()) == shipped
    assert not other.is_symlink()


def test_an_authors_edit_between_runs_is_the_new_before(guard):
    hint = guard.root / "hints" / "1_basics" / "01_add_numbers.md"
    guard.restore(guard.snapshot())
    hint.write_text(hint.read_text() + "\n## Hint 9\nA new hint by the author.\n")
    before = guard.snapshot()
    assert guard.restore(before) == []
    assert "Hint 9" in hint.read_text()


def test_touching_a_file_without_changing_it_is_no_change(guard):
    test_file = guard.root / "tests" / "exercises" / "1_basics" / "test_01_add_numbers.py"
    before = guard.snapshot()
    test_file.write_bytes(test_file.read_bytes())
    os.utime(test_file, (1, 1))
    assert guard.restore(before) == []


def test_a_file_too_large_to_keep_is_named_not_lost(guard, monkeypatch):
    monkeypatch.setattr(course_guard, "READ_CAP", 10)
    monkeypatch.setattr(course_guard, "_cache", {})
    test_file = guard.root / "tests" / "exercises" / "1_basics" / "test_01_add_numbers.py"
    before = guard.snapshot()
    test_file.write_text("changed\n" * 10)
    assert guard.restore(before) == ["tests/exercises/1_basics/test_01_add_numbers.py (arena could not restore it)"]
    assert test_file.read_text() == "changed\n" * 10  # left as it is: nothing to restore it from


def test_read_regular_never_blocks_or_floods(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "zero"
    link.symlink_to("/dev/zero")
    assert course_guard.read_regular(fifo) is None
    assert course_guard.read_regular(link) is None
    assert course_guard.read_regular(link, follow=True) is None  # a device, not a regular file
    (tmp_path / "f").write_bytes(b"abc")
    (tmp_path / "l").symlink_to(tmp_path / "f")
    assert course_guard.read_regular(tmp_path / "l") is None
    assert course_guard.read_regular(tmp_path / "l", follow=True) == b"abc"


def test_dev_checks_runs_leave_an_authors_edits_during_them_alone(tmp_path, copy_course):
    """`arena dev check` runs the author's own code while the author may be editing: what changes in the
    course meanwhile is not undone (student runs undo it: tests/cli/test_reliability.py)."""
    from arena_cli import runner
    from arena_cli.course import load_course

    root = copy_course(tmp_path / "course")
    exercise = load_course(root).get("add_numbers")
    target = tmp_path / "solution.py"
    # Stands for an editor saving a hint while the check runs.
    target.write_text("import subprocess\nsubprocess.run(['sh', '-c', 'echo edited >> hints/1_basics/01_add_numbers.md'])\n"
                      "def add(a, b):\n    return a + b\n")
    verdict = runner.run_exercise(exercise, target=target, restore_course=False)
    assert verdict is not None and verdict.status == "passed", verdict
    assert (root / "hints/1_basics/01_add_numbers.md").read_text().endswith("edited\n")
