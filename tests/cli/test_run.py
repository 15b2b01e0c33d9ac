"""`arena run`: verdicts for untouched, correct and wrong code, and a runner that survives whatever
the student's code does to the test process."""

from __future__ import annotations

import json
import os
import re
import time

import pytest


def run_json(arena, exercise_id: str, timeout: float = 120) -> tuple[int, dict]:
    code, verdict = arena.json("run", exercise_id, timeout=timeout)
    assert verdict["id"] == exercise_id
    return code, verdict


def first_failure(verdict: dict) -> dict:
    return next(c for c in verdict["checks"] if c["status"] in ("failed", "error"))


# --------------------------------------------------------------------------- verdicts


def test_untouched_exercise_fails_as_not_implemented(arena):
    code, out, err = arena("run", "add_numbers")
    assert code == 1, err
    assert "not implemented" in out
    assert "failed" in out
    assert "arena hint add_numbers" in out  # the next step

    code, verdict = run_json(arena, "add_numbers")
    assert code == 1
    assert verdict["status"] == "failed"
    assert [c["name"] for c in verdict["checks"]] == ["Adds small numbers", "Adds negative numbers"]
    assert all(c["status"] == "failed" for c in verdict["checks"])
    assert "not implemented" in verdict["checks"][0]["message"]
    entry = arena.entry("add_numbers")
    assert entry["status"] == "pending" and entry["attempts"] == 2


def test_correct_code_passes_and_is_recorded(arena):
    code, _ = run_json(arena, "add_numbers")  # a failed attempt first
    assert code == 1
    arena.write("add_numbers", arena.correct["add_numbers"])
    out = arena.ok("run", "add_numbers")
    assert "passed" in out
    assert "arena solution add_numbers" in out
    assert "Double a tensor" in out  # the next exercise
    assert "arena next" in out
    entry = arena.entry("add_numbers")
    assert entry["status"] == "done"
    assert entry["attempts"] == 2
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", entry["first_pass"]), entry

    # Passing again counts the attempt but keeps the first pass.
    code, verdict = run_json(arena, "add_numbers")
    assert code == 0 and verdict["status"] == "passed"
    assert all(c["status"] == "passed" for c in verdict["checks"])
    again = arena.entry("add_numbers")
    assert again["attempts"] == 3 and again["first_pass"] == entry["first_pass"]


def test_the_courses_own_pytest_options_do_not_reach_the_run(arena):
    """A course whose pyproject gives pytest options for its own test suite (here parallel workers and an
    option no plugin knows) still gets plain verdicts: the run sets its own options."""
    (arena.root / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\naddopts = "-n 2 --an-option-of-the-suite -x"\n'
    )
    code, verdict = run_json(arena, "add_numbers")
    assert code == 1 and verdict["status"] == "failed", verdict
    assert [c["status"] for c in verdict["checks"]] == ["failed", "failed"], verdict
    arena.write("add_numbers", arena.correct["add_numbers"])
    code, verdict = run_json(arena, "add_numbers")
    assert code == 0 and verdict["status"] == "passed", verdict


def test_run_without_id_runs_the_current_exercise(arena):
    arena.set_progress({}, current="say_hello")
    arena.write("say_hello", arena.correct["say_hello"])
    out = arena.ok("run")
    assert "03_say_hello.py" in out
    assert arena.entry("say_hello")["status"] == "done"


def test_tensor_value_mismatch_with_diagnosis(arena):
    arena.write("double_tensor", "import torch\n\n\ndef double(x):\n    return x + 2\n")
    code, verdict = run_json(arena, "double_tensor")
    assert code == 1
    assert verdict["status"] == "failed"
    check = first_failure(verdict)
    assert check["diagnosis"] == "You added 2 instead of multiplying by 2."
    m = check["mismatch"]
    assert m["kind"] == "value"
    # x = arange(12).reshape(3, 4): 2x and x + 2 differ most at x = 11, i.e. [2, 3], by 9.
    assert m["where"] == [2, 3]
    assert m["max_abs_err"] == pytest.approx(9.0)
    assert m["worst"] == [22.0, 13.0]
    assert m["n_mismatched"] == 11 and m["n_total"] == 12

    code, out, err = arena("run", "double_tensor")
    assert code == 1
    assert "You added 2 instead of multiplying by 2." in out
    for cell in ("expected", "yours", "max abs error", "(3, 4) float32", "worst at [2, 3]"):
        assert cell in out, cell
    assert re.search(r"max abs error\s+9\b", out), out
    assert arena.entry("double_tensor")["status"] == "pending"


def test_json_is_strict_when_the_output_is_nan(arena):
    """`--json` is read by other programs: NaN / Infinity are not JSON (RFC 8259)."""
    arena.write("double_tensor", "def double(x):\n    return x * float('nan')\n")
    code, out, err = arena("run", "double_tensor", "--json")
    assert code == 1, err

    def reject(constant: str):
        raise AssertionError(f"`arena run --json` printed {constant}, which is not JSON")

    verdict = json.loads(out, parse_constant=reject)
    m = first_failure(verdict)["mismatch"]
    assert m["kind"] == "value" and m["n_mismatched"] == 12


def test_wrong_shape_is_a_shape_mismatch(arena):
    arena.write("double_tensor", "def double(x):\n    return (2 * x).flatten()\n")
    code, verdict = run_json(arena, "double_tensor")
    assert code == 1
    m = first_failure(verdict)["mismatch"]
    assert m["kind"] == "shape"
    assert "(3, 4)" in m["expected"] and "(12,)" in m["actual"]


def test_returning_none_is_a_type_mismatch(arena):
    arena.write("double_tensor", "def double(x):\n    2 * x\n")
    code, verdict = run_json(arena, "double_tensor")
    assert code == 1
    check = first_failure(verdict)
    assert check["mismatch"]["kind"] == "type"
    assert "return" in check["message"]


# --------------------------------------------------------------------------- robustness


@pytest.fixture
def unchanged_but_attempts(arena):
    """Checks that a run changed nothing in progress.json but one more attempt of add_numbers."""
    arena.set_progress(
        {"add_numbers": {"attempts": 1, "hints": 1}, "say_hello": {"status": "done"}}, current="add_numbers"
    )
    before = arena.progress()

    def check() -> None:
        after = arena.progress()
        before["exercises"]["add_numbers"]["attempts"] += 1
        assert after == before

    return check


def test_infinite_loop_times_out(arena, unchanged_but_attempts):
    arena.set_timeout("add_numbers", 2)
    arena.write("add_numbers", "def add(a, b):\n    while True:\n        pass\n")
    start = time.monotonic()
    code, verdict = run_json(arena, "add_numbers")
    assert time.monotonic() - start < 15
    assert code == 1
    assert verdict["status"] == "timeout"
    assert "2 s time limit" in verdict["message"]
    unchanged_but_attempts()
    # What the student sees names the limit too.
    arena.set_timeout("add_numbers", 1)
    code, out, err = arena("run", "add_numbers")
    assert code == 1
    assert "1 s time limit" in out
    assert "Traceback" not in out + err


def test_the_time_limit_counts_the_tests_run_not_its_imports(arena):
    """A hidden test whose imports take longer than the limit (a slow machine loading torch) still
    passes a correct answer; the student's file, top-level code included, is inside the limit."""
    arena.set_timeout("add_numbers", 1)
    test_file = arena.root / "tests" / "exercises" / "1_basics" / "test_01_add_numbers.py"
    test_file.write_text("import time\ntime.sleep(2.5)  # slow imports\n" + test_file.read_text(encoding="utf-8"),
                         encoding="utf-8")
    arena.write("add_numbers", arena.correct["add_numbers"])
    code, verdict = run_json(arena, "add_numbers")
    assert (code, verdict["status"]) == (0, "passed"), verdict

    arena.write("add_numbers", "while True:\n    pass\n")  # an infinite loop at the file's top level
    start = time.monotonic()
    code, verdict = run_json(arena, "add_numbers")
    assert time.monotonic() - start < 15
    assert (code, verdict["status"]) == (1, "timeout"), verdict
    assert "1 s time limit" in verdict["message"]


def test_syntax_error_names_file_and_line(arena, unchanged_but_attempts):
    arena.write("add_numbers", "def add(a, b):\n    return a +\n")
    code, verdict = run_json(arena, "add_numbers")
    assert code == 1
    assert verdict["status"] == "error"
    assert re.search(r"01_add_numbers\.py:2\b", verdict["message"]), verdict["message"]
    assert "SyntaxError" in verdict["message"]
    unchanged_but_attempts()


@pytest.mark.parametrize(
    "source, words",
    [
        pytest.param("import sys\nsys.exit(1)\n\ndef add(a, b):\n    return a + b\n", ["sys.exit(1)", "import"],
                     id="sys.exit at import"),
        pytest.param("import sys\n\ndef add(a, b):\n    sys.exit(1)\n", ["sys.exit(1)"],
                     id="sys.exit in the function"),
        pytest.param("def add(a, b):\n    raise KeyboardInterrupt\n", ["KeyboardInterrupt"],
                     id="KeyboardInterrupt in the function"),
        pytest.param("import os\n\ndef add(a, b):\n    os._exit(0)\n", ["exited with code 0", "os._exit"],
                     id="os._exit in the function"),
        pytest.param("import ctypes\n\ndef add(a, b):\n    return ctypes.string_at(0)\n", ["segmentation fault"],
                     id="segfault"),
        pytest.param(b"def add(a, b):\n    return a + b  # caf\xe9 \xff\n", ["UTF-8"], id="not UTF-8"),
    ],
)
def test_student_code_that_breaks_the_process_is_an_error_verdict(arena, unchanged_but_attempts, source, words):
    arena.write("add_numbers", source)
    code, verdict = run_json(arena, "add_numbers")
    assert code == 1
    assert verdict["status"] == "error"
    failure = next((c for c in verdict["checks"] if c["status"] == "error"), None)
    message = verdict["message"] or (failure["message"] if failure else "")
    for word in words:
        assert word in message, (word, verdict)
    unchanged_but_attempts()


def test_error_verdict_text_shows_the_message(arena):
    arena.write("add_numbers", "import sys\n\ndef add(a, b):\n    sys.exit(1)\n")
    code, out, err = arena("run", "add_numbers")
    assert code == 1
    assert "sys.exit(1)" in out
    assert "error" in out
    assert "Traceback (most recent call last)" not in out + err


def test_deleted_exercise_file(arena, unchanged_but_attempts):
    arena.student_path("add_numbers").unlink()
    code, verdict = run_json(arena, "add_numbers")
    assert code == 1
    assert verdict["status"] == "error"
    assert "deleted" in first_failure(verdict)["message"] or "deleted" in verdict["message"]
    unchanged_but_attempts()


def test_printing_50_megabytes(arena):
    arena.write(
        "add_numbers",
        "import sys\n\ndef add(a, b):\n    sys.stdout.write('x' * 50_000_000)\n    return a + b\n",
    )
    start = time.monotonic()
    code, out, err = arena("run", "add_numbers", "--json", timeout=60)
    elapsed = time.monotonic() - start
    assert elapsed < 20, elapsed
    assert code == 0, err
    assert len(out) < 100_000  # the output is truncated, not relayed
    verdict = json.loads(out)
    assert verdict["status"] == "passed"
    printed = verdict["checks"][0]["output"]
    assert "omitted" in printed and printed.startswith("x")
    assert arena.entry("add_numbers")["status"] == "done"


def _state(pid: int) -> str | None:
    """A process's state letter (Z for a zombie), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def test_grandchild_process_is_killed_after_the_run(arena, tmp_path):
    pid_file = tmp_path / "sleep.pid"
    arena.write(
        "add_numbers",
        "import subprocess\n\n"
        "def add(a, b):\n"
        "    p = subprocess.Popen(['sleep', '60'])\n"
        f"    open({str(pid_file)!r}, 'a').write(f'{{p.pid}}\\n')\n"
        "    return a + b\n",
    )
    pids: list[int] = []
    try:
        code, verdict = run_json(arena, "add_numbers")
        assert code == 0 and verdict["status"] == "passed"
        pids = [int(p) for p in pid_file.read_text().split()]
        assert len(pids) == 2  # one per check
        arena.wait_for(
            lambda: all(_state(p) in (None, "Z") for p in pids), 10, "the `sleep` grandchildren to be killed"
        )
    finally:
        for pid in pids:
            if _state(pid) not in (None, "Z"):
                os.kill(pid, 9)
