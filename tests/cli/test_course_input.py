"""Broken course files: each a one-line error naming the file (and line where there is one), exit 2
for the student commands and 1 for `arena dev check`, never a traceback. Student files that Python
accepts (a UTF-8 BOM) load; a syntax error is always located at a line number."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def assert_one_line_error(code: int, err: str, *needles: str, exit_code: int = 2) -> None:
    assert code == exit_code, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_invalid_toml_in_the_manifest_names_file_and_line(arena):
    arena.manifest.write_text(arena.manifest.read_text().replace('title = "Basics"', 'title = "Basics'))
    code, out, err = arena("list")
    assert_one_line_error(code, err, "chapter.toml", "invalid TOML", "line 1")
    code, out, err = arena("dev", "check")
    assert code == 1 and "chapter.toml" in out and "Traceback" not in err


def test_a_manifest_entry_without_a_field_is_named(arena):
    arena.manifest.write_text(arena.manifest.read_text().replace("difficulty = 2\n", "", 1))
    code, out, err = arena("next")
    assert_one_line_error(code, err, "chapter.toml", "double_tensor", "difficulty")


def test_a_difficulty_out_of_range_is_named(arena):
    arena.manifest.write_text(arena.manifest.read_text().replace("difficulty = 2\n", "difficulty = 9\n", 1))
    code, out, err = arena("list")
    assert_one_line_error(code, err, "double_tensor", "difficulty", "1-5")


def test_a_duplicate_id_is_named(arena):
    arena.manifest.write_text(arena.manifest.read_text().replace('"say_hello"', '"add_numbers"'))  # its id, its result
    code, out, err = arena("list")
    assert_one_line_error(code, err, "add_numbers", "already used")


def test_a_missing_hidden_test_is_a_clear_run_error_and_a_dev_check_problem(arena):
    (arena.root / "tests" / "exercises" / "1_basics" / "test_01_add_numbers.py").unlink()
    code, out, err = arena("dev", "check", "--no-tests")
    assert code == 1
    assert "tests/exercises/1_basics/test_01_add_numbers.py: hidden test missing" in out


def test_a_missing_master_makes_reset_a_one_line_error(arena):
    arena.master_path("add_numbers").unlink()
    code, out, err = arena("reset", "add_numbers", "--yes")
    assert_one_line_error(code, err, "01_add_numbers.py")


def test_a_master_with_unbalanced_markers_makes_reset_name_file_and_line(arena):
    master = arena.master_path("add_numbers")
    master.write_text(master.read_text().replace("    # END SOLUTION\n", ""))
    code, out, err = arena("reset", "add_numbers", "--yes")
    assert_one_line_error(code, err, "01_add_numbers.py:")


def test_no_chapters_at_all(arena, tmp_path):
    empty = tmp_path / "empty"
    (empty / "exercises").mkdir(parents=True)
    (empty / "solutions").mkdir()
    arena.env["ARENA_ROOT"] = str(empty)
    code, out, err = arena("list")
    assert_one_line_error(code, err, "No course in ARENA_ROOT=", "set it to the course folder")


def test_outside_a_course_folder_one_line_says_where_to_run(arena, tmp_path):
    """A non-editable install run from elsewhere: its package folder holds no course."""
    import shutil
    from pathlib import Path

    import arena_cli

    installed = tmp_path / "site"
    shutil.copytree(Path(arena_cli.__file__).parent, installed / "arena_cli")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in arena.env.items() if k != "ARENA_ROOT"}
    proc = subprocess.run([sys.executable, "-m", "arena_cli", "list"], cwd=elsewhere, capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(installed)}, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "arena: No course here: run arena from the course folder, or set ARENA_ROOT to it"


def test_result_needs_naming_an_unknown_exercise_is_named(arena):
    arena.manifest.write_text(arena.manifest.read_text().replace('result_needs = ["add_numbers"]', 'result_needs = ["add_numberz"]'))
    code, out, err = arena("results", "say_hello")
    assert_one_line_error(code, err, "chapter.toml", "Wrapping up", "result_needs", "add_numberz")


def test_dev_check_holds_result_needs_to_what_the_result_loads(arena):
    """The fixture's second section declares `result_needs = ["add_numbers"]`: say_hello's master loads it."""
    manifest = arena.manifest.read_text()
    arena.manifest.write_text(manifest.replace('result_needs = ["add_numbers"]', 'result_needs = ["double_tensor"]'))
    code, out, err = arena("dev", "check", "--no-tests")
    assert code == 1
    section = "exercises/1_basics/chapter.toml: section 'Wrapping up': `result_needs`"
    assert f"{section} leaves out add_numbers, which its result loads (load_sibling)" in out
    assert f"{section} names double_tensor, which its result doesn't load" in out

    arena.manifest.write_text(manifest)
    master = arena.master_path("say_hello")
    master.write_text(master.read_text().replace('load_sibling(__file__, "add_numbers")', 'load_sibling(__file__, name)'))
    code, out, err = arena("dev", "check", "--no-tests")
    assert code == 1
    assert "solutions/1_basics/03_say_hello.py:" in out and "can't be checked" in out


# --------------------------------------------------------------------------- every manifest value is checked

WHOLE = object()  # replace the whole manifest


@pytest.mark.parametrize(
    "old, new, needles",
    [
        pytest.param(WHOLE, 'title = "Basics"\nsections = [1, 2]\n', ["`sections`", "array of tables", "[1, 2]"],
                     id="sections not tables"),
        pytest.param(WHOLE, 'title = "Basics"\n', ["[[sections]]"], id="no sections"),
        pytest.param(
            WHOLE, 'title = "Basics"\n[[sections]]\ntitle = "Numbers"\nobjectives = []\nexercises = [1]\n',
            ["section 'Numbers'", "`exercises`", "array of tables"], id="exercises not tables",
        ),
        pytest.param('title = "Basics"', "title = 5", ["`title`", "a string", "5"], id="title"),
        pytest.param('summary = "A', 'papers = 5\nsummary = "A', ["`papers`", "list of strings", "5"], id="papers = 5"),
        pytest.param('summary = "A', 'papers = ["x", 1]\nsummary = "A', ["`papers`", "list of strings"], id="papers item"),
        pytest.param("summary = \"A tiny course for arena's own tests.\"", "summary = []", ["`summary`", "a string"],
                     id="summary"),
        pytest.param('title = "Basics"', 'title = "Basics"\nchapter = 1', ["unknown key `chapter`"], id="chapter key"),
        pytest.param('objectives = ["Add two numbers.", "Double a tensor."]', 'objectives = "Add"',
                     ["section 'Numbers'", "`objectives`", "list of strings"], id="objectives"),
        pytest.param('result = "nothing to see"', "result = 3", ["section 'Numbers'", "`result`", "a string"], id="result"),
        pytest.param('result_runs = ["say_hello"]', 'result_runs = "say_hello"',
                     ["section 'Wrapping up'", "`result_runs`", "list of exercise ids"], id="result_runs"),
        pytest.param('result_needs = ["add_numbers"]', "result_needs = [1]",
                     ["section 'Wrapping up'", "`result_needs`", "list of exercise ids"], id="result_needs"),
        pytest.param('result = "nothing to see"', 'result = "nothing to see"\nresults = "x"',
                     ["section 'Numbers'", "unknown key `results`"], id="section key"),
        pytest.param("minutes = 2\n", "minutes = 2.5\n", ["'add_numbers'", "`minutes`", "whole number"], id="minutes float"),
        pytest.param("minutes = 2\n", "minutes = 0\n", ["'add_numbers'", "`minutes`", "1-480"], id="minutes 0"),
        pytest.param("importance = 2\n", "importance = true\n", ["'add_numbers'", "`importance`", "whole number"],
                     id="importance bool"),
        pytest.param("difficulty = 1\n", "difficulty = 0\n", ["'add_numbers'", "`difficulty`", "1-5"], id="difficulty 0"),
        pytest.param("timeout = 10\n", "timeout = nan\n", ["'add_numbers'", "`timeout`", "nan"], id="timeout nan"),
        pytest.param("timeout = 10\n", "timeout = inf\n", ["'add_numbers'", "`timeout`", "inf"], id="timeout inf"),
        pytest.param("timeout = 10\n", "timeout = 99999\n", ["'add_numbers'", "`timeout`", "at most 600"],
                     id="timeout 99999"),
        pytest.param("timeout = 10\n", "timeout = 0\n", ["'add_numbers'", "`timeout`", "above 0"], id="timeout 0"),
        pytest.param("timeout = 10\n", 'timeout = "10"\n', ["'add_numbers'", "`timeout`", "a number"], id="timeout str"),
        pytest.param("timeout = 10\n", "memory_mb = 0\n", ["'add_numbers'", "`memory_mb`", "1-65536"], id="memory 0"),
        pytest.param("timeout = 10\n", "memory_mb = 9999999\n", ["'add_numbers'", "`memory_mb`", "1-65536"],
                     id="memory huge"),
        pytest.param("timeout = 10\n", "memory_mb = 512.5\n", ["'add_numbers'", "`memory_mb`", "whole number"],
                     id="memory float"),
        pytest.param("timeout = 10\n", "timout = 10\n", ["'add_numbers'", "unknown key `timout`", "timeout"],
                     id="misspelt key"),
    ],
)
def test_a_wrong_manifest_value_is_one_line_naming_file_table_and_key(arena, old, new, needles):
    text = arena.manifest.read_text(encoding="utf-8")
    if old is not WHOLE:
        assert old in text
    arena.manifest.write_text(new if old is WHOLE else text.replace(old, new, 1), encoding="utf-8")
    code, out, err = arena("list")
    assert_one_line_error(code, err, "chapter.toml", *needles)


def test_the_manifests_limits_are_the_runs_limits(arena):
    """A valid timeout and memory limit are the ones a run has (e.g. timeout = 1.5)."""
    arena.set_timeout("add_numbers", 1.5)
    arena.write("add_numbers", "def add(a, b):\n    while True:\n        pass\n")
    code, verdict = arena.json("run", "add_numbers")
    assert code == 1 and verdict["status"] == "timeout"
    assert "1.5 s time limit" in verdict["message"]


# --------------------------------------------------------------------------- student files Python accepts


def test_a_student_file_with_a_utf8_bom_loads_as_python_loads_it(arena):
    arena.write("add_numbers", b"\xef\xbb\xbf" + arena.correct["add_numbers"].encode())
    code, verdict = arena.json("run", "add_numbers")
    assert (code, verdict["status"]) == (0, "passed"), verdict
    assert arena.entry("add_numbers")["status"] == "done"

    arena.write("say_hello", b"\xef\xbb\xbfdef hello(name):\n    return name\n")  # wrong, but loads
    code, verdict = arena.json("run", "say_hello")
    assert (code, verdict["status"]) == (1, "failed"), verdict
    failure = next(c for c in verdict["checks"] if c["status"] == "failed")
    assert failure["location"] == "exercises/1_basics/03_say_hello.py:1:1"  # its def, found through the BOM


@pytest.mark.parametrize(
    "source, place",
    [
        pytest.param(b"def add(a, b):\n    return a + b\n# x\0y\n", "3:4", id="NUL byte"),
        pytest.param(b"\0def add(a, b):\n    return a + b\n", "1:1", id="NUL first"),
        pytest.param(b"# -*- coding: nonsense -*-\ndef add(a, b):\n    return a + b\n", "1:1", id="unknown encoding"),
    ],
)
def test_a_syntax_error_without_a_line_is_located_at_a_number(arena, source, place):
    arena.write("add_numbers", source)
    code, out, err = arena("run", "add_numbers", "--json")
    assert code == 1 and "Traceback" not in err
    assert "None" not in out
    verdict = json.loads(out)
    assert verdict["status"] == "error"
    assert verdict["message"].startswith(f"exercises/1_basics/01_add_numbers.py:{place}: SyntaxError"), verdict["message"]
