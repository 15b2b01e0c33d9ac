"""The shipped .vscode/ task: its problem matchers find the student's file and line in real arena
output, and its background patterns match what `arena watch` prints around each run."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .test_watch import watching

VSCODE = Path(__file__).resolve().parents[2] / ".vscode"


def jsonc(path: Path) -> dict:
    """VSCode's JSON with // comments."""
    text = "\n".join(line for line in path.read_text().splitlines() if not line.strip().startswith("//"))
    return json.loads(text)


def matchers() -> list[dict]:
    (task,) = [t for t in jsonc(VSCODE / "tasks.json")["tasks"] if t["label"] == "arena watch"]
    return task["problemMatcher"]


def problems(output: str) -> list[tuple[str, int]]:
    """(file, line) of every problem the task's matchers would report in this output."""
    found = []
    for matcher in matchers():
        pattern = matcher["pattern"]
        for line in output.splitlines():
            m = re.search(pattern["regexp"], line)
            if m:
                found.append((m.group(pattern["file"]), int(m.group(pattern["line"]))))
    return found


def test_settings_hide_answers_and_hidden_tests():
    settings = jsonc(VSCODE / "settings.json")
    for key in ("files.exclude", "search.exclude"):
        assert settings[key]["solutions/"] and settings[key]["tests/"]
    assert "ms-python.vscode-pylance" in jsonc(VSCODE / "extensions.json")["recommendations"]


def test_the_task_keeps_paths_plain_for_vscode_to_link():
    from arena_cli.links import hyperlinks_wanted

    (task,) = [t for t in jsonc(VSCODE / "tasks.json")["tasks"] if t["label"] == "arena watch"]
    assert not hyperlinks_wanted(True, False, {"TERM": "xterm-256color", **task["options"]["env"]})


def test_a_syntax_error_is_a_problem_on_its_line(arena):
    arena.write("add_numbers", "def add(a, b):\n    return a +\n")
    code, out, err = arena("run", "add_numbers")
    assert ("exercises/1_basics/01_add_numbers.py", 2) in problems(out)


def test_an_exception_in_student_code_is_a_problem_on_the_raising_line(arena):
    arena.write("double_tensor", "import torch\n\n\ndef double(x):\n    return x @ torch.ones(5, 5)\n")
    code, out, err = arena("run", "double_tensor")
    assert ("exercises/1_basics/02_double_tensor.py", 5) in problems(out)


def test_a_function_not_written_yet_is_a_problem_on_its_raise_line(arena):
    arena.env["COLUMNS"] = "80"  # the message wraps inside the panel; the place stays on one line
    code, out, err = arena("run", "add_numbers")
    assert problems(out) == [("exercises/1_basics/01_add_numbers.py", 6)]  # once, though both checks fail
    (line,) = [line for line in out.splitlines() if "01_add_numbers.py:6:5: " in line]
    assert "not implemented yet" in line


def test_a_wrong_value_is_a_problem_on_the_def_line_of_the_function_under_test(arena):
    arena.write("double_tensor", "import torch\n\n\ndef double(x):\n    return x + 2\n")
    code, out, err = arena("run", "double_tensor")
    assert code == 1
    assert problems(out) == [("exercises/1_basics/02_double_tensor.py", 4)]
    (line,) = [line for line in out.splitlines() if "02_double_tensor.py:4:1: " in line]
    assert "double(x): 11 of 12 values differ" in line
    code, verdict = arena.json("run", "double_tensor")
    assert verdict["checks"][0]["location"] == "exercises/1_basics/02_double_tensor.py:4:1"


def test_an_exception_is_one_problem_not_two(arena):
    arena.write("double_tensor", "import torch\n\n\ndef double(x):\n    return x @ torch.ones(5, 5)\n")
    code, out, err = arena("run", "double_tensor")
    assert problems(out) == [("exercises/1_basics/02_double_tensor.py", 5)]


def test_no_problem_for_a_pass(arena):
    arena.write("add_numbers", arena.correct["add_numbers"])
    code, out, err = arena("run", "add_numbers")
    assert code == 0 and problems(out) == []


def test_background_patterns_bracket_each_watch_run(arena):
    with watching(arena, "add_numbers") as w:
        w.wait_verdicts(arena, 1)
        arena.wait_for(lambda: "watching for saves" in w.text, 30, "the end of the first run")
        lines = w.text.splitlines()
    for matcher in matchers():
        begins = [i for i, line in enumerate(lines) if re.search(matcher["background"]["beginsPattern"], line)]
        ends = [i for i, line in enumerate(lines) if re.search(matcher["background"]["endsPattern"], line)]
        assert begins and ends and begins[0] < ends[0]
    # The failed check's problem is printed inside the bracket of its run.
    (at,) = [i for i, line in enumerate(lines) if "exercises/1_basics/01_add_numbers.py:6:5: " in line]
    assert begins[0] < at < ends[0]
