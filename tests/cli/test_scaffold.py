"""`arena dev new`: a new exercise's manifest entry and four files, later exercises renumbered."""

from __future__ import annotations

from arena_cli.course import load_course


def names(arena, folder: str) -> list[str]:
    return sorted(p.name for p in (arena.root / folder / "1_basics").iterdir() if p.suffix in (".py", ".md")
                  and p.name not in ("conftest.py",))


def test_a_code_exercise_takes_its_place_and_later_ones_move_up(arena):
    before = arena.student_path("say_hello").read_text(encoding="utf-8")
    out = arena.ok("dev", "new", "sum_rows", "--after", "add_numbers", "--title", "Sum the rows")
    assert "renamed exercises/1_basics/03_say_hello.py -> exercises/1_basics/04_say_hello.py" in out
    course = load_course(arena.root)
    assert [e.id for e in course.exercises] == ["add_numbers", "sum_rows", "double_tensor", "say_hello"]
    assert course.get("sum_rows").title == "Sum the rows"
    assert course.section_of(course.get("sum_rows")) is course.section_of(course.get("add_numbers"))
    for folder in ("exercises", "solutions", "tests/exercises"):
        assert [n.removeprefix("test_") for n in names(arena, folder)] == [
            "01_add_numbers.py", "02_sum_rows.py", "03_double_tensor.py", "04_say_hello.py"]
    assert names(arena, "hints") == ["01_add_numbers.md", "02_sum_rows.md", "03_double_tensor.md", "04_say_hello.md"]
    assert arena.student_path("say_hello").read_text(encoding="utf-8") == before  # moved, not rewritten
    # The course is consistent; only the new exercise's reference is still to write.
    assert arena("dev", "check", "--no-tests")[0] == 0
    code, out, _ = arena("dev", "check", "sum_rows")
    assert code == 1 and "sum_rows" in out
    code, verdict = arena.json("run", "say_hello")  # the moved exercise still runs its own test
    assert verdict["status"] == "failed" and "not implemented" in verdict["checks"][0]["message"]


def test_a_question_renames_nothing(arena):
    out = arena.ok("dev", "new", "guess_the_sum", "--after", "add_numbers", "--question")
    assert "renamed" not in out
    q = load_course(arena.root).get("guess_the_sum")
    assert (q.kind, q.exercise_path.name) == ("question", "01q_guess_the_sum.py")
    assert "ANSWER = None" in q.exercise_path.read_text(encoding="utf-8")
    assert "## Explanation" in q.hint_path.read_text(encoding="utf-8")
    assert arena("dev", "check", "--no-tests")[0] == 0


def test_bad_requests_are_one_line_and_change_nothing(arena):
    manifest = arena.manifest.read_text(encoding="utf-8")
    for args, says in [
        (("add_numbers", "--after", "say_hello"), "already an exercise"),
        (("Bad-Id", "--after", "say_hello"), "lowercase"),
        (("fresh", "--after", "nope"), "Unknown exercise"),
    ]:
        code, out, err = arena("dev", "new", *args)
        assert code == 2 and says in err and len(err.strip().splitlines()) == 1, err
    assert arena.manifest.read_text(encoding="utf-8") == manifest
