"""The student commands that read the catalogue and progress: help, next, list, progress, hint,
reset, solution, and errors for unknown exercises."""

from __future__ import annotations

import re
import subprocess
import sys
import os
from pathlib import Path

import pytest

COMMANDS = ["next", "run", "watch", "hint", "list", "progress", "further", "reset", "solution", "verify", "results", "update", "dev"]
ARENA_SCRIPT = Path(sys.executable).with_name("arena")


def lines_with(text: str, word: str) -> list[str]:
    return [line for line in text.splitlines() if word in line]


# --------------------------------------------------------------------------- help


def test_help_lists_every_command(arena):
    out = arena.ok("--help")
    listed = re.search(r"Commands:\n(.*)", out, re.S)
    assert listed, out
    names = [line.split()[0] for line in listed.group(1).splitlines() if line.strip()]
    assert names == COMMANDS


@pytest.mark.parametrize("command", [*COMMANDS, "dev build", "dev check"])
def test_every_command_has_its_own_help(arena, command):
    out = arena.ok(*command.split(), "--help")  # no traceback either
    assert f" {command} [OPTIONS]" in out.splitlines()[0]  # the prog name: see the next test
    assert "--help" in out


def test_python_dash_m_help_is_the_entry_points_help(arena):
    assert ARENA_SCRIPT.is_file(), f"no `arena` entry point beside {sys.executable}"
    script = subprocess.run(
        [str(ARENA_SCRIPT), "--help"], cwd=arena.root, env=arena.env, capture_output=True, text=True, timeout=60
    )
    code, out, err = arena("--help")
    assert script.returncode == code == 0
    assert out == script.stdout


# --------------------------------------------------------------------------- next


def test_next_shows_the_first_exercise_and_makes_it_current(arena):
    out = arena.ok("next")
    assert re.search(r"Basics\s+›\s+Numbers", out), out
    assert "Add two numbers" in out
    assert "exercises/1_basics/01_add_numbers.py" in out
    # The first exercise of a section shows the section's objectives.
    assert "Add two numbers." in out and "Double a tensor." in out
    assert arena.progress()["current"] == "add_numbers"


def test_next_shows_no_objectives_for_the_second_exercise_of_a_section(arena):
    arena.set_progress({"add_numbers": {"status": "done"}})
    out = arena.ok("next")
    assert re.search(r"Basics\s+›\s+Numbers", out), out
    assert "Double a tensor" in out
    assert "exercises/1_basics/02_double_tensor.py" in out
    assert "Add two numbers." not in out  # an objective of the section
    assert "In this section" not in out
    assert arena.progress()["current"] == "double_tensor"


def test_next_json(arena):
    code, data = arena.json("next")
    assert code == 0
    assert data["id"] == "add_numbers"
    assert data["path"] == "exercises/1_basics/01_add_numbers.py"
    assert data["title"] == "Add two numbers"
    assert data["chapter"] == "Basics"
    assert data["section"] == "Numbers"
    assert data["number"] == 1
    assert (data["difficulty"], data["importance"], data["minutes"]) == (1, 2, 2)
    assert data["objectives"] == ["Add two numbers.", "Double a tensor."]
    assert data["status"] == "current"
    assert (data["attempts"], data["hints"]) == (0, 0)

    arena.set_progress({"add_numbers": {"status": "done"}, "double_tensor": {"status": "done"}})
    code, data = arena.json("next")
    assert data["id"] == "say_hello"
    assert data["section"] == "Wrapping up"
    assert data["objectives"] == ["Say hello."]  # first of its section


def test_next_keeps_a_chosen_current_exercise_and_continues_after_it(arena):
    arena.set_progress({}, current="say_hello")  # chosen in `arena list` (or `arena watch say_hello`)
    code, data = arena.json("next")
    assert data["id"] == "say_hello"
    arena.set_progress({"say_hello": {"status": "done"}, "add_numbers": {"status": "done"}}, current="add_numbers")
    code, data = arena.json("next")
    assert data["id"] == "double_tensor"  # the first pending one after the current one
    arena.set_progress({"say_hello": {"status": "done"}}, current="say_hello")
    code, data = arena.json("next")
    assert data["id"] == "add_numbers"  # none after it: the first pending one
    arena.set_progress({}, current="no_longer_in_the_course")
    code, data = arena.json("next")
    assert data["id"] == "add_numbers"


def test_next_when_everything_is_done(arena):
    arena.set_progress({i: {"status": "done"} for i in arena.ids}, current="say_hello")
    out = arena.ok("next")
    assert re.search(r"all 3 exercises are done|course (is )?complete", out, re.I), out
    code, data = arena.json("next")
    assert code == 0
    assert data == {"id": None, "done": True}


# --------------------------------------------------------------------------- list & progress


def test_list_shows_statuses(arena):
    arena.set_progress({"add_numbers": {"status": "done", "attempts": 4, "hints": 1}}, current="double_tensor")
    out = arena.ok("list")
    (add,) = lines_with(out, "add_numbers")
    (double,) = lines_with(out, "double_tensor")
    (hello,) = lines_with(out, "say_hello")
    assert re.search(r"\bdone\s+1\s+4\s*$", add), add  # status, hints, tries
    assert "current" in double
    assert "pending" in hello
    assert "Basics" in out


def test_list_pending_and_chapter_filters(arena):
    arena.set_progress({"add_numbers": {"status": "done"}})
    out = arena.ok("list", "--pending")
    assert "add_numbers" not in out
    assert "double_tensor" in out and "say_hello" in out

    out = arena.ok("list", "--chapter", "basics")
    assert all(i in out for i in arena.ids)

    code, out, err = arena("list", "--chapter", "nope")
    assert code == 2
    assert err.startswith("arena: ") and "basics" in err
    assert "Traceback" not in err


def test_list_json(arena):
    arena.set_progress({"add_numbers": {"status": "done", "attempts": 2, "hints": 3}}, current="double_tensor")
    code, data = arena.json("list")
    assert code == 0
    assert [e["id"] for e in data] == list(arena.ids)
    first, second, third = data
    assert first["status"] == "done" and first["attempts"] == 2 and first["hints"] == 3
    assert second["status"] == "current"
    assert third["status"] == "pending"
    assert third["path"] == "exercises/1_basics/03_say_hello.py"
    code, data = arena.json("list", "--pending")
    assert [e["id"] for e in data] == ["double_tensor", "say_hello"]


def test_progress_totals(arena):
    arena.set_progress({"add_numbers": {"status": "done", "hints": 2}, "say_hello": {"hints": 1}})
    out = arena.ok("progress")
    assert "1 of 3 exercises done" in out
    assert "3 hints used" in out
    assert re.search(r"Basics.*1/3", out), out

    code, data = arena.json("progress")
    assert code == 0
    assert data["done"] == 1 and data["total"] == 3
    assert data["chapters"] == [{"id": "basics", "title": "Basics", "done": 1, "total": 3}]


# --------------------------------------------------------------------------- hint


def test_hint_reveals_levels_in_order(arena):
    out = arena.ok("hint", "add_numbers")
    assert "hint 1 of 3" in out and "Think about it." in out
    assert "hint 2 of 3" not in out

    out = arena.ok("hint", "add_numbers")
    assert "hint 2 of 3" in out and "Almost there." in out
    # The earlier level in one line (its title and first line), not in a panel of its own.
    assert "hint 1 of 3  Think about it." in out and "╭─ hint 1" not in out
    assert "╭─ hint 2 of 3" in out and "--all" in out
    assert arena.entry("add_numbers")["hints"] == 2

    out = arena.ok("hint", "add_numbers", "--all")
    assert all(f"╭─ hint {n} of 3" in out for n in (1, 2, 3))


def test_hint_past_the_last_level(arena):
    arena.set_progress({"add_numbers": {"hints": 3}})
    out = arena.ok("hint", "add_numbers")
    assert "No more hints" in out
    assert "hint 3 of 3" in out and "It should not be." in out
    assert "hint 4" not in out
    assert arena.entry("add_numbers")["hints"] == 3


def test_hint_file_without_levels_is_a_one_line_error(arena):
    arena.hint_path("say_hello").write_text("Some text but no level headings.\n# Title\n", encoding="utf-8")
    code, out, err = arena("hint", "say_hello")
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("arena: ")
    assert "03_say_hello.md" in err
    assert "Traceback" not in out + err
    assert arena.entry("say_hello")["hints"] == 0


# --------------------------------------------------------------------------- reset


def test_reset_restores_the_file_and_marks_pending(arena):
    arena.write("add_numbers", arena.correct["add_numbers"])
    arena.set_progress({"add_numbers": {"status": "done", "attempts": 3}})
    out = arena.ok("reset", "add_numbers", "--yes")
    assert arena.read("add_numbers") == arena.original("add_numbers")
    entry = arena.entry("add_numbers")
    assert entry["status"] == "pending"
    assert entry["first_pass"] is None
    assert "pending" in out


def test_reset_without_yes_and_no_answer_changes_nothing(arena):
    arena.write("add_numbers", arena.correct["add_numbers"])
    arena.set_progress({"add_numbers": {"status": "done", "attempts": 3}})
    before = arena.progress_path.read_text()
    code, out, err = arena("reset", "add_numbers")  # stdin is empty
    assert code != 0
    assert arena.read("add_numbers") == arena.correct["add_numbers"]
    assert arena.progress_path.read_text() == before


def test_reset_never_writes_through_a_symlink(arena):
    mine = arena.root / "my_answer.py"
    mine.write_text(arena.correct["add_numbers"])
    arena.student_path("add_numbers").unlink()
    (arena.root / "exercises" / "1_basics" / "01_add_numbers.py").symlink_to(mine)
    code, out, err = arena("reset", "add_numbers", "--yes")
    assert code == 2
    assert err.startswith("arena: ") and "a symlink" in err and len(err.splitlines()) == 1
    assert mine.read_text() == arena.correct["add_numbers"]
    assert arena.student_path("add_numbers").is_symlink()


# --------------------------------------------------------------------------- solution


def test_solution_refuses_before_done(arena):
    code, out, err = arena("solution", "add_numbers")
    assert code == 1
    assert "--force" in out
    assert "return a + b" not in out


def test_solution_force_shows_reference_without_markers_and_a_diff(arena):
    out = arena.ok("solution", "add_numbers", "--force")
    assert "return a + b" in out
    for marker in ("# SOLUTION", "# END SOLUTION", "# EXERCISE", "# END EXERCISE"):
        assert marker not in out
    diff = [
        "--- exercises/1_basics/01_add_numbers.py",
        "+++ solutions/1_basics/01_add_numbers.py",
        '-    raise NotImplementedError("return the sum of a and b")',
        "+    return a + b",
    ]
    assert all(line in out for line in diff), out


def test_solution_shows_the_diff_first_then_the_code_without_the_text(arena):
    out = arena.ok("solution", "add_numbers", "--force")
    assert out.index("your file → reference") < out.index("reference code")
    code = out[out.index("reference code"):]
    assert "def add(a: int, b: int) -> int:" in code and "return a + b" in code
    assert '"""Return a + b."""' not in code and "Add two numbers." not in code


def test_solution_after_done_needs_no_force(arena):
    arena.set_progress({"add_numbers": {"status": "done"}})
    out = arena.ok("solution", "add_numbers")
    assert "return a + b" in out


# --------------------------------------------------------------------------- unknown exercises


@pytest.mark.parametrize("command", ["run", "hint", "reset", "solution"])
def test_unknown_exercise_is_a_one_line_error(arena, command):
    code, out, err = arena(command, "no_such_exercise")
    assert code == 2
    assert err.startswith("arena: Unknown exercise 'no_such_exercise'")
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in out + err
    assert not arena.progress_path.exists()


def test_unknown_exercise_suggests_close_ids(arena):
    code, out, err = arena("run", "numbers")
    assert code == 2
    assert "add_numbers" in err


def test_results_runs_the_sections_result_with_the_students_code_or_the_reference(arena):
    arena.give_result('print("RESULT", add(2, 3))\n', "a greeting")
    code, out, err = arena("results", "add_numbers")  # not passed yet: says so instead of running it
    assert code == 1
    assert "Not passed yet: 01 add_numbers." in out and "arena results --reference" in out
    assert "RESULT" not in out

    # Recorded as passed but broken since (a crash when run as a script): it stops, clearly.
    arena.solve("add_numbers")
    assert arena("run", "add_numbers")[0] == 0
    arena.write("add_numbers", arena.read("add_numbers").replace('print("RESULT"', 'raise SystemExit(3)  #'))
    code, out, err = arena("results", "add_numbers")
    assert code == 1
    assert "exit code 3" in out and "arena run add_numbers" in out

    arena.solve("add_numbers")
    out = arena.ok("results", "add_numbers")  # the student's own code
    assert "RESULT 5" in out
    out = arena.ok("results", "numbers", "--reference")  # by part of the section's title
    assert "python solutions/1_basics/01_add_numbers.py" in out
    code, out, err = arena("results", "no such section")
    assert code == 2 and "No section matches" in err


def test_results_lists_the_figures_it_wrote(arena):
    (arena.root / "results" / "basics").mkdir(parents=True)
    (arena.root / "results" / "basics" / "old.png").write_bytes(b"an older figure")
    arena.give_result('from pathlib import Path\nPath("results/basics/sum.png").write_bytes(b"png")\n', "a figure")
    out = arena.ok("results", "add_numbers", "--reference")
    written = out[out.index("Figures written:") :].split()[2:]
    assert written == ["results/basics/sum.png"]  # not the figure that was already there


def test_shell_completion_offers_exercise_ids(arena):
    env = dict(arena.env, _ARENA_COMPLETE="complete_bash", COMP_WORDS="arena reset d", COMP_CWORD="2")
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", "from arena_cli.entry import main; main()"],
        cwd=arena.root, env=env, capture_output=True, text=True, timeout=60,
    ).stdout
    assert out.split() == ["double_tensor"]


@pytest.mark.parametrize("missing, command", [("typer", "run"), ("rich", "list")])
def test_python_without_the_dependencies_gets_one_line_saying_how_to_set_up(tmp_path, missing, command):
    """`python -m arena_cli` from a Python that lacks arena's dependencies (e.g. not the project's .venv);
    `list` starts without Typer (see entry.py), so it is shown with rich missing."""
    import subprocess
    import sys

    blocker = tmp_path / f"{missing}.py"
    blocker.write_text(f"raise ModuleNotFoundError(\"No module named '{missing}'\", name='{missing}')\n")
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{Path(__file__).resolve().parents[2]}")
    result = subprocess.run([sys.executable, "-m", "arena_cli", command], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert f"{missing} is not installed" in result.stderr and "README" in result.stderr


def test_results_wait_for_every_exercise_the_result_uses(arena):
    """The fixture's second section ends in a result that runs say_hello's file, which loads add_numbers
    (load_sibling; declared in the manifest's `result_needs`): it names both until they pass, in course
    order."""
    code, out, err = arena("results", "say_hello")
    assert code == 1
    assert "Not passed yet: 01 add_numbers, 03 say_hello." in out
    arena.solve("say_hello")
    assert arena("run", "say_hello")[0] == 0
    code, out, err = arena("results", "say_hello")
    assert code == 1
    assert "Not passed yet: 01 add_numbers." in out
    arena.solve("add_numbers")
    assert arena("run", "add_numbers")[0] == 0
    out = arena.ok("results", "wrapping")
    assert "hello, arena and 5" in out
