"""`arena verify` (every exercise, for the student) and `arena dev build` / `arena dev check` (for
course authors)."""

from __future__ import annotations

import re

import pytest

from arena_cli.markers import solution_source

pytestmark = pytest.mark.slow  # dev check and verify run every exercise of a course


def problem_lines(out: str) -> list[str]:
    return [line.strip().removeprefix("• ").strip() for line in out.splitlines() if "•" in line]


# --------------------------------------------------------------------------- verify


def test_verify_fails_while_exercises_are_pending_then_passes(arena):
    code, out, err = arena("verify")
    assert code == 1, err
    assert "0 of 3 exercises pass" in out
    assert all(arena.entry(i)["status"] == "pending" for i in arena.ids)
    assert all(arena.entry(i)["attempts"] == 1 for i in arena.ids)

    for ex_id in arena.ids:
        master = arena.master_path(ex_id)
        arena.write(ex_id, solution_source(master.read_text(encoding="utf-8"), str(master)))
    code, data = arena.json("verify")
    assert code == 0
    assert data["passed"] == data["total"] == 3
    assert [v["status"] for v in data["verdicts"]] == ["passed"] * 3
    assert all(arena.entry(i)["status"] == "done" for i in arena.ids)
    code, data = arena.json("progress")
    assert (data["done"], data["total"]) == (3, 3)


def test_verify_sets_a_done_exercise_that_fails_now_back_to_pending(arena):
    arena.set_progress({"add_numbers": {"status": "done", "attempts": 3, "hints": 1}, "say_hello": {"status": "done"}})
    arena.solve("say_hello")  # still passes; add_numbers' file is the untouched one: it fails now
    code, out, err = arena("verify")
    assert code == 1, err
    assert "add_numbers was done but fails now: it is pending again." in out
    assert "say_hello was done" not in out
    assert arena.entry("add_numbers") == {"status": "pending", "attempts": 4, "first_pass": None, "hints": 1}
    assert arena.entry("say_hello")["status"] == "done"

    arena.set_progress({"add_numbers": {"status": "done"}})
    code, data = arena.json("verify")
    assert code == 1
    assert data["set_back_to_pending"] == ["add_numbers"]
    assert arena.entry("add_numbers")["status"] == "pending"
    code, data = arena.json("verify")  # pending already: nothing set back
    assert data["set_back_to_pending"] == []


def test_verify_shows_its_verdicts_when_progress_cannot_be_saved(arena):
    arena.set_progress({"say_hello": {"status": "done"}})
    saved = arena.progress_path.with_name("saved.json")
    arena.progress_path.rename(saved)
    arena.progress_path.mkdir()
    code, out, err = arena("verify")
    assert code == 2
    assert "0 of 3 exercises pass" in out and "add_numbers" in out  # the table, then the line
    (line,) = [line for line in err.splitlines() if line.strip()]
    assert line == f"arena: cannot read {arena.progress_path}: it is a directory; move it out of the way and run again"
    arena.progress_path.rmdir()
    saved.rename(arena.progress_path)
    assert arena.entry("say_hello")["status"] == "done"


# --------------------------------------------------------------------------- dev build


def test_dev_build_is_green_on_the_fixture(arena):
    out = arena.ok("dev", "build")
    assert "0 written, 3 unchanged" in out
    assert arena.read("add_numbers") == arena.original("add_numbers")


def test_dev_build_regenerates_a_changed_master(arena):
    arena.ok("dev", "build")  # what it leaves in each student file is recorded in .arena/
    master = arena.master_path("say_hello")
    master.write_text(master.read_text().replace('"greet name"', '"say hello to name"'))
    out = arena.ok("dev", "build")
    assert "wrote exercises/1_basics/03_say_hello.py" in out
    assert 'raise NotImplementedError("say hello to name")' in arena.read("say_hello")
    assert "# EXERCISE" not in arena.read("say_hello")


def test_dev_build_regenerates_a_file_that_heads_master_generated(arena, git):
    """In a git checkout, a student file that the master as committed generates is untouched work."""
    git(arena.root, "init", "-q", "-b", "main")
    git(arena.root, "add", "-A")
    git(arena.root, "commit", "-qm", "the course")
    master = arena.master_path("say_hello")
    master.write_text(master.read_text().replace('"greet name"', '"say hello to name"'))
    out = arena.ok("dev", "build")
    assert "wrote exercises/1_basics/03_say_hello.py" in out
    assert 'raise NotImplementedError("say hello to name")' in arena.read("say_hello")


def test_dev_build_keeps_a_student_file_with_edits_of_its_own(arena, git):
    git(arena.root, "init", "-q", "-b", "main")
    git(arena.root, "add", "-A")
    git(arena.root, "commit", "-qm", "the course")
    mine = "def add(a, b):\n    return a + b  # my answer\n"
    arena.write("add_numbers", mine)
    master = arena.master_path("add_numbers")
    master.write_text(master.read_text().replace('"return the sum of a and b"', '"add them"'))
    code, out, err = arena("dev", "build")
    assert code == 1, out + err
    assert arena.read("add_numbers") == mine
    (line,) = [line for line in out.splitlines() if "01_add_numbers.py" in line]
    assert line.startswith("kept exercises/1_basics/01_add_numbers.py: ") and "--force" in line
    assert "0 written, 2 unchanged, 1 kept" in out
    assert not (arena.root / ".arena" / "backups").exists()
    # dev check says so too, instead of sending the student to a build that would keep it anyway
    code, out, err = arena("dev", "check", "--no-tests")
    (problem,) = problem_lines(out)
    assert problem.startswith("exercises/1_basics/01_add_numbers.py: out of date with its master, and not what")
    assert "--force" in problem


def test_dev_build_force_backs_the_edited_file_up_then_rewrites_it(arena):
    mine = "def add(a, b):\n    return a + b  # my answer\n"
    arena.write("add_numbers", mine)
    code, out, err = arena("dev", "build", "--force")
    assert code == 0, out + err
    assert arena.read("add_numbers") == arena.original("add_numbers")
    (backups,) = (arena.root / ".arena" / "backups").iterdir()
    assert (backups / "exercises" / "1_basics" / "01_add_numbers.py").read_text() == mine
    assert f".arena/backups/{backups.name}" in out
    assert (arena.root / ".arena" / ".gitignore").read_text() == "*\n"  # never committed


def test_dev_build_never_writes_through_a_symlink(arena):
    # A student file that links to its master: refused, even with --force; the master keeps its solution.
    master = arena.master_path("say_hello")
    solution = master.read_text()
    link = arena.student_path("say_hello")
    link.unlink()
    link.symlink_to(master)
    # A master that links to the student file (the other way round): the student file isn't written,
    # since writing it would replace the master's SOLUTION block.
    student = arena.student_path("add_numbers")
    master_link = arena.master_path("add_numbers")
    student.write_text(master_link.read_text())
    master_link.unlink()
    master_link.symlink_to(student)
    for args in (("dev", "build"), ("dev", "build", "--force")):
        code, out, err = arena(*args)
        assert code == 1, out + err
        kept = sorted(line for line in out.splitlines() if line.startswith("kept "))
        assert kept[0].startswith("kept exercises/1_basics/01_add_numbers.py: the same file as its master"), out
        assert kept[1].startswith("kept exercises/1_basics/03_say_hello.py: a symlink"), out
        assert link.is_symlink() and master.read_text() == solution
        assert "# SOLUTION" in student.read_text()


def test_dev_build_reports_an_unbalanced_marker(arena):
    master = arena.master_path("add_numbers")
    master.write_text(master.read_text().replace("    # END SOLUTION\n", ""))
    before = arena.read("add_numbers")
    code, out, err = arena("dev", "build")
    assert code == 1
    assert re.search(r"01_add_numbers\.py:\d+: ", out), out
    assert arena.read("add_numbers") == before
    assert "Traceback" not in out + err


# --------------------------------------------------------------------------- dev check


def test_dev_check_is_green_on_the_fixture(arena):
    out = arena.ok("dev", "check")
    assert "✓" in out and "consistent" in out
    assert not arena.progress_path.exists()  # checking the course is no student's attempt


def test_dev_check_reports_a_missing_hint_file(arena):
    arena.hint_path("say_hello").unlink()
    code, out, err = arena("dev", "check", "--no-tests")
    assert code == 1
    assert problem_lines(out) == ["hints/1_basics/03_say_hello.md: hint file missing for exercise 'say_hello'"]


def test_dev_check_reports_a_hint_file_with_one_level(arena):
    arena.hint_path("double_tensor").write_text("## Hint 1\nMultiply.\n", encoding="utf-8")
    code, out, err = arena("dev", "check", "--no-tests")
    assert code == 1
    (problem,) = problem_lines(out)
    assert problem.startswith("hints/1_basics/02_double_tensor.md: 1 hint level")


def test_dev_check_reports_an_out_of_date_student_file(arena):
    arena.write("add_numbers", arena.read("add_numbers") + "# a stray edit\n")
    code, out, err = arena("dev", "check", "--no-tests")
    assert code == 1
    (problem,) = problem_lines(out)
    assert problem.startswith("exercises/1_basics/01_add_numbers.py: out of date")
    assert "arena dev build" in problem


def test_dev_check_reports_an_orphan_file(arena):
    (arena.root / "solutions" / "1_basics" / "04_orphan.py").write_text("x = 1\n")
    code, out, err = arena("dev", "check", "--no-tests")
    assert code == 1
    assert problem_lines(out) == ["solutions/1_basics/04_orphan.py: not an exercise in the manifest"]


def test_dev_check_reports_an_unbalanced_marker_with_file_and_line(arena):
    master = arena.master_path("add_numbers")
    lines = master.read_text().splitlines(keepends=True)
    end = next(i for i, line in enumerate(lines) if line.strip() == "# END EXERCISE")
    del lines[end]
    master.write_text("".join(lines))
    opened = next(i for i, line in enumerate(lines) if line.strip() == "# EXERCISE") + 1
    code, out, err = arena("dev", "check", "--no-tests")
    assert code == 1
    (problem,) = problem_lines(out)
    assert re.search(rf"solutions/1_basics/01_add_numbers\.py:{opened}: # EXERCISE block is never closed", problem)


def test_dev_check_reports_a_solution_that_fails_its_test(arena):
    master = arena.master_path("add_numbers")
    master.write_text(master.read_text().replace("return a + b", "return a - b"))
    code, out, err = arena("dev", "check")
    assert code == 1
    (problem,) = problem_lines(out)
    assert problem.startswith("solutions/1_basics/01_add_numbers.py: reference does not pass its hidden test")
    assert "Adds small numbers" in problem


def test_dev_check_of_named_exercises_looks_only_at_them(arena):
    """An author checks the exercise they are writing: other exercises' problems and orphans are not theirs."""
    arena.hint_path("say_hello").unlink()
    (arena.root / "solutions" / "1_basics" / "04_orphan.py").write_text("x = 1\n")
    master = arena.master_path("add_numbers")
    master.write_text(master.read_text().replace("return a + b", "return a - b"))

    out = arena.ok("dev", "check", "double_tensor")
    assert "every solution passes" in out

    code, out, err = arena("dev", "check", "01_add_numbers", "say_hello")
    assert code == 1
    problems = problem_lines(out)
    assert len(problems) == 2, problems
    assert problems[0] == "hints/1_basics/03_say_hello.md: hint file missing for exercise 'say_hello'"
    assert problems[1].startswith("solutions/1_basics/01_add_numbers.py: reference does not pass")


def test_dev_check_of_a_chapter_by_folder_or_number(arena):
    arena.hint_path("say_hello").unlink()
    for name in ("1_basics", "1"):
        code, out, err = arena("dev", "check", name, "--no-tests")
        assert code == 1
        assert problem_lines(out) == ["hints/1_basics/03_say_hello.md: hint file missing for exercise 'say_hello'"]
    code, out, err = arena("dev", "check", "no_such_exercise", "--no-tests")
    assert code == 1
    assert problem_lines(out)[0].startswith("Unknown exercise 'no_such_exercise'")
